/* blas_env.h — make OpenBLAS use the kernels the CPU supports.
 *
 * Debian's OpenBLAS picks its kernels from the CPU model; virtual CPUs that report a generic
 * model ("Intel(R) Xeon(R) Processor") get the generic "Prescott" kernels, 3-4x slower than
 * the AVX2/AVX-512 ones the CPU actually has.  OpenBLAS reads OPENBLAS_CORETYPE only when it
 * is loaded, so the programs call this first thing in main(): when the choice was generic
 * and the CPU has AVX-512 (SkylakeX) or AVX2 (Haswell), it sets OPENBLAS_CORETYPE and
 * re-executes the program once.  An explicit OPENBLAS_CORETYPE is always respected. */
#ifndef HZ_BLAS_ENV_H
#define HZ_BLAS_ENV_H

/* Returns normally when nothing needs doing (or the re-exec failed); otherwise does not
 * return. argv must be main's argv. */
void hz_blas_select_kernels(char **argv);

/* The kernel set OpenBLAS is using ("SkylakeX", "Haswell", "Prescott", ...). */
const char *hz_blas_corename(void);

#endif
