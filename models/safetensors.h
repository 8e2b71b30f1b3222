/* safetensors.h — read and write safetensors files (model checkpoints, PyTorch parity fixtures).
 *
 * Format: 8-byte little-endian header length N, N bytes of UTF-8 JSON
 *   {"<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
 *    "__metadata__": {"<key>": "<string>", ...}}
 * (padded with spaces so that 8 + N is a multiple of 8), then the data section: each tensor
 * row-major, little-endian, at [begin, end) relative to the end of the header, tensors covering
 * the data section exactly (no gaps, no overlap, nothing after the last one).
 *
 * This module deals in named raw arrays; it knows nothing about the tensor engine. */
#ifndef HZ_SAFETENSORS_H
#define HZ_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define HZ_ST_MAX_DIMS 8
/* Headers longer than this are refused as absurd (the reference Rust reader's limit). */
#define HZ_ST_MAX_HEADER 100000000u

typedef enum {
    HZ_ST_F32,
    HZ_ST_F64,
    HZ_ST_I64,
    HZ_ST_I32,
    HZ_ST_U8,
    HZ_ST_BOOL,
    HZ_ST_F16,  /* raw IEEE half bits (uint16_t) */
    HZ_ST_BF16, /* raw bfloat16 bits (uint16_t) */
    HZ_ST_I16,
    HZ_ST_I8,
    HZ_ST_NDTYPES
} hz_st_dtype;

/* A tensor of an open file. Everything points into the file's memory and lives until
 * hz_st_close. `data` is aligned for the dtype whenever the file puts the tensor at an offset
 * that is a multiple of the element size (files from hz_st_writer always do); read through
 * memcpy or hz_st_read otherwise. */
typedef struct {
    const char *name;
    hz_st_dtype dtype;
    int ndim;                      /* 0 for a scalar */
    int64_t shape[HZ_ST_MAX_DIMS]; /* shape[0..ndim) */
    const void *data;              /* nbytes raw little-endian bytes */
    size_t nbytes;                 /* = product(shape) * hz_st_dtype_size(dtype) */
} hz_st_tensor;

typedef struct hz_st_file hz_st_file;
typedef struct hz_st_writer hz_st_writer;

/* "F32", "I64", ...; NULL for a value outside the enum. */
const char *hz_st_dtype_name(hz_st_dtype dt);
/* Bytes per element; 0 for a value outside the enum. */
size_t hz_st_dtype_size(hz_st_dtype dt);

/* ---- reading */

/* Reads the whole file at path into memory and validates it fully (header JSON, dtypes,
 * shapes, offsets against the data section). On success *out owns everything; free it with
 * hz_st_close. Returns 0, or HZ_ENOTFOUND (no such file), HZ_EIO (cannot open/read, not a
 * regular file), HZ_EFORMAT (malformed file) or HZ_ENOMEM, with a message naming path in err;
 * *out is NULL on failure. Unknown fields inside a tensor entry are ignored. */
int hz_st_open(const char *path, hz_st_file **out, char *err, size_t errlen);

/* Same for a byte buffer; the bytes are copied (buf may be freed afterwards). name is used in
 * messages in place of a path (NULL: "<memory>"). */
int hz_st_open_mem(const void *buf, size_t len, const char *name, hz_st_file **out, char *err,
                   size_t errlen);

/* Frees the file and every pointer obtained from it. NULL is a no-op. */
void hz_st_close(hz_st_file *f);

/* The path or name given at open; owned by f. */
const char *hz_st_path(const hz_st_file *f);

/* Tensors in header order: hz_st_at(f, i) for i < hz_st_count(f); NULL if i is out of range. */
size_t hz_st_count(const hz_st_file *f);
const hz_st_tensor *hz_st_at(const hz_st_file *f, size_t i);

/* The tensor called name, or NULL if absent. */
const hz_st_tensor *hz_st_find(const hz_st_file *f, const char *name);

/* The __metadata__ value for key, or NULL if absent; owned by f. */
const char *hz_st_meta(const hz_st_file *f, const char *key);

/* Copies tensor name into dst (nbytes of the tensor, i.e. product(shape) elements of dtype)
 * after checking that it exists, has this dtype and exactly this shape. Returns 0, or
 * HZ_ENOTFOUND (no such tensor) / HZ_EFORMAT (other dtype or shape) with a message naming the
 * file and tensor: "ckpt.safetensors: tensor 'w': shape [3,4], expected [4,3]". */
int hz_st_read(const hz_st_file *f, const char *name, hz_st_dtype dtype, int ndim,
               const int64_t *shape, void *dst, char *err, size_t errlen);

/* hz_st_read for F32 tensors: the checkpoint loader's call. */
int hz_st_read_f32(const hz_st_file *f, const char *name, int ndim, const int64_t *shape,
                   float *dst, char *err, size_t errlen);

/* ---- writing */

/* A builder: add tensors and metadata, then save. NULL when out of memory. */
hz_st_writer *hz_st_writer_new(void);

/* Adds a tensor. name is copied; data (product(shape) elements of dtype, row-major, native =
 * little-endian) is BORROWED: it must stay valid and unchanged until hz_st_writer_save returns.
 * data may be NULL only when the tensor is empty. Tensors are listed in the header in the order
 * added (the data section is laid out by decreasing element size so that every tensor is
 * aligned). Returns 0, or HZ_EINVAL (empty or reserved or duplicate name, ndim outside
 * 0..HZ_ST_MAX_DIMS, negative dimension, size overflow, bad dtype) / HZ_ENOMEM, with a
 * message in err. */
int hz_st_writer_add(hz_st_writer *w, const char *name, hz_st_dtype dtype, int ndim,
                     const int64_t *shape, const void *data, char *err, size_t errlen);

/* Sets __metadata__[key] = value (both copied; a second call with the same key replaces the
 * value). Returns 0 or HZ_ENOMEM / HZ_EINVAL (invalid UTF-8). */
int hz_st_writer_meta(hz_st_writer *w, const char *key, const char *value, char *err,
                      size_t errlen);

/* Writes the file atomically: to "<path>.tmp", fsync, rename over path, fsync the directory.
 * On failure path is untouched and the temporary file removed. Returns 0 or HZ_EIO /
 * HZ_ENOMEM with a message naming the path. The writer may be saved again or freed. */
int hz_st_writer_save(hz_st_writer *w, const char *path, char *err, size_t errlen);

/* Frees the builder (not the borrowed tensor data). NULL is a no-op. */
void hz_st_writer_free(hz_st_writer *w);

#endif
