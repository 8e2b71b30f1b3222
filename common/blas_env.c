/* blas_env.c — OpenBLAS kernel selection on generically-reported CPUs (blas_env.h). */
#include "common/blas_env.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *openblas_get_corename(void); /* OpenBLAS extension, not in cblas.h */

const char *hz_blas_corename(void)
{
    const char *n = openblas_get_corename();
    return n ? n : "unknown";
}

void hz_blas_select_kernels(char **argv)
{
    if (getenv("OPENBLAS_CORETYPE") || getenv("HZ_BLAS_REEXEC"))
        return;
    if (strcmp(hz_blas_corename(), "Prescott") != 0)
        return; /* OpenBLAS recognised the CPU */
    const char *core = NULL;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        core = "SkylakeX";
    else if (__builtin_cpu_supports("avx2"))
        core = "Haswell";
    if (!core)
        return;
    setenv("OPENBLAS_CORETYPE", core, 1);
    setenv("HZ_BLAS_REEXEC", "1", 1);
    execv("/proc/self/exe", argv);
    /* exec failed: carry on with the generic kernels */
}
