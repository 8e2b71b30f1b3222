/* safetensors.c — safetensors reader (whole file in memory, validated fully at open) and an
 * atomic writer. Format: huggingface/safetensors README ("Format"); the same checks as its
 * reference reader (header length limit, no duplicate keys, offsets covering the data section
 * exactly), with messages naming the file and tensor. JSON goes through jansson. */
#include "models/safetensors.h"

#include "common/hz.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Tensor bytes are passed through unswapped, so the host must share the file's byte order. */
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian and is used in place: a little-endian host is required"
#endif

/* The data section is placed at this alignment in memory, so that a tensor at an offset that
 * is a multiple of its element size is aligned for its type. */
#define DATA_ALIGN 64

static const struct {
    const char *name;
    size_t size;
} dtypes[HZ_ST_NDTYPES] = {
    [HZ_ST_F32] = {"F32", 4}, [HZ_ST_F64] = {"F64", 8},   [HZ_ST_I64] = {"I64", 8},
    [HZ_ST_I32] = {"I32", 4}, [HZ_ST_U8] = {"U8", 1},     [HZ_ST_BOOL] = {"BOOL", 1},
    [HZ_ST_F16] = {"F16", 2}, [HZ_ST_BF16] = {"BF16", 2}, [HZ_ST_I16] = {"I16", 2},
    [HZ_ST_I8] = {"I8", 1},
};

const char *hz_st_dtype_name(hz_st_dtype dt)
{
    return (unsigned)dt < HZ_ST_NDTYPES ? dtypes[dt].name : NULL;
}

size_t hz_st_dtype_size(hz_st_dtype dt)
{
    return (unsigned)dt < HZ_ST_NDTYPES ? dtypes[dt].size : 0;
}

static int dtype_from_name(const char *s)
{
    for (int i = 0; i < HZ_ST_NDTYPES; i++)
        if (strcmp(s, dtypes[i].name) == 0)
            return i;
    return -1;
}

/* "[2,3]" (or "[]" for a scalar) into buf. */
static const char *fmt_shape(char *buf, size_t n, int ndim, const int64_t *shape)
{
    size_t k = 0;
    k += (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? "," : "", (long long)shape[i]);
    if (k < n)
        snprintf(buf + k, n - k, "]");
    return buf;
}

/* Element count and byte size of a shape; -1 on overflow. */
static int shape_bytes(int ndim, const int64_t *shape, size_t elsize, uint64_t *nbytes)
{
    uint64_t count = 1;
    for (int i = 0; i < ndim; i++)
        if (__builtin_mul_overflow(count, (uint64_t)shape[i], &count))
            return -1;
    if (__builtin_mul_overflow(count, (uint64_t)elsize, nbytes) || *nbytes > SIZE_MAX)
        return -1;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* reading */

struct hz_st_file {
    char *path;                 /* for messages */
    unsigned char *mem;         /* allocation holding the file image */
    const unsigned char *bytes; /* file image: len bytes inside mem */
    size_t len;
    json_t *root;    /* parsed header; tensor names point into it */
    json_t *meta;    /* root["__metadata__"] or NULL (borrowed) */
    hz_st_tensor *t; /* n tensors in header order */
    size_t n;
    const hz_st_tensor **by_name; /* sorted by name, for hz_st_find */
    const hz_st_tensor **by_off;  /* sorted by data offset, for the coverage check */
};

/* hz_err with "path: " in front. */
static int ferr(const hz_st_file *f, char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int ferr(const hz_st_file *f, char *err, size_t errlen, int code, const char *fmt, ...)
{
    char msg[HZ_ERRLEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return hz_err(err, errlen, code, "%s: %s", f->path, msg);
}

static uint64_t le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* Allocates f->mem for a file image of len bytes whose first 8 bytes are head (or fewer when
 * len < 8), positioned so that the data section lands on a DATA_ALIGN boundary. */
static int alloc_image(hz_st_file *f, const unsigned char *head, size_t len)
{
    size_t pad = 0;
    if (len >= 8) {
        uint64_t n = le64(head);
        if (n <= HZ_ST_MAX_HEADER)
            pad = (DATA_ALIGN - (size_t)((8 + n) % DATA_ALIGN)) % DATA_ALIGN;
    }
    void *p = NULL;
    if (posix_memalign(&p, DATA_ALIGN, pad + len + 1) != 0)
        return HZ_ENOMEM;
    f->mem = p;
    f->bytes = f->mem + pad;
    f->len = len;
    return 0;
}

static int cmp_name(const void *a, const void *b)
{
    const hz_st_tensor *x = *(const hz_st_tensor *const *)a, *y = *(const hz_st_tensor *const *)b;
    return strcmp(x->name, y->name);
}

static int cmp_off(const void *a, const void *b)
{
    const hz_st_tensor *x = *(const hz_st_tensor *const *)a, *y = *(const hz_st_tensor *const *)b;
    const char *xb = x->data, *yb = y->data;
    if (xb != yb)
        return xb < yb ? -1 : 1;
    if (x->nbytes != y->nbytes)
        return x->nbytes < y->nbytes ? -1 : 1;
    return x < y ? -1 : x > y; /* header order among equal spans: deterministic */
}

/* Reads one integer field of a JSON array, or fails. */
static int get_int(json_t *arr, size_t i, json_int_t *v)
{
    json_t *x = json_array_get(arr, i);
    if (!json_is_integer(x))
        return -1;
    *v = json_integer_value(x);
    return 0;
}

static int parse_entry(hz_st_file *f, const char *name, json_t *e, const unsigned char *data,
                       size_t dlen, hz_st_tensor *t, char *err, size_t errlen)
{
    if (!json_is_object(e))
        return ferr(f, err, errlen, HZ_EFORMAT, "tensor '%s': entry is not a JSON object", name);
    static const char *const fields[] = {"dtype", "shape", "data_offsets"};
    for (int i = 0; i < 3; i++)
        if (!json_object_get(e, fields[i]))
            return ferr(f, err, errlen, HZ_EFORMAT, "tensor '%s': missing \"%s\"", name, fields[i]);
    t->name = name;

    json_t *jd = json_object_get(e, "dtype");
    if (!json_is_string(jd))
        return ferr(f, err, errlen, HZ_EFORMAT, "tensor '%s': \"dtype\" is not a string", name);
    int dt = dtype_from_name(json_string_value(jd));
    if (dt < 0)
        return ferr(f, err, errlen, HZ_EFORMAT, "tensor '%s': unknown dtype \"%s\"", name,
                    json_string_value(jd));
    t->dtype = (hz_st_dtype)dt;

    json_t *js = json_object_get(e, "shape");
    if (!json_is_array(js))
        return ferr(f, err, errlen, HZ_EFORMAT, "tensor '%s': \"shape\" is not an array", name);
    if (json_array_size(js) > HZ_ST_MAX_DIMS)
        return ferr(f, err, errlen, HZ_EFORMAT, "tensor '%s': shape has %zu dimensions, at most %d",
                    name, json_array_size(js), HZ_ST_MAX_DIMS);
    t->ndim = (int)json_array_size(js);
    for (int i = 0; i < t->ndim; i++) {
        json_int_t v;
        if (get_int(js, (size_t)i, &v) < 0)
            return ferr(f, err, errlen, HZ_EFORMAT, "tensor '%s': shape[%d] is not an integer",
                        name, i);
        if (v < 0)
            return ferr(f, err, errlen, HZ_EFORMAT, "tensor '%s': shape[%d] is negative (%lld)",
                        name, i, (long long)v);
        t->shape[i] = v;
    }
    char sh[128];
    fmt_shape(sh, sizeof sh, t->ndim, t->shape);

    json_t *jo = json_object_get(e, "data_offsets");
    json_int_t b, en;
    if (!json_is_array(jo) || json_array_size(jo) != 2 || get_int(jo, 0, &b) < 0 ||
        get_int(jo, 1, &en) < 0)
        return ferr(f, err, errlen, HZ_EFORMAT,
                    "tensor '%s': \"data_offsets\" is not an array of 2 integers", name);
    if (b < 0 || en < 0)
        return ferr(f, err, errlen, HZ_EFORMAT,
                    "tensor '%s': data_offsets [%lld,%lld] are negative", name, (long long)b,
                    (long long)en);
    if (en < b)
        return ferr(f, err, errlen, HZ_EFORMAT,
                    "tensor '%s': data_offsets end %lld is before begin %lld", name, (long long)en,
                    (long long)b);
    if ((uint64_t)en > dlen)
        return ferr(f, err, errlen, HZ_EFORMAT,
                    "tensor '%s': data_offsets [%lld,%lld] run past the end of the file (data "
                    "section is %zu bytes; truncated file?)",
                    name, (long long)b, (long long)en, dlen);
    uint64_t need;
    if (shape_bytes(t->ndim, t->shape, dtypes[dt].size, &need) < 0)
        return ferr(f, err, errlen, HZ_EFORMAT, "tensor '%s': size of %s shape %s overflows", name,
                    dtypes[dt].name, sh);
    if (need != (uint64_t)(en - b))
        return ferr(f, err, errlen, HZ_EFORMAT,
                    "tensor '%s': data_offsets [%lld,%lld] hold %lld bytes, but %s shape %s needs "
                    "%llu",
                    name, (long long)b, (long long)en, (long long)(en - b), dtypes[dt].name, sh,
                    (unsigned long long)need);
    t->data = data + b;
    t->nbytes = (size_t)need;
    return 0;
}

/* Checks the header length (*hlen) and parses the JSON header into f->root. */
static int parse_header(hz_st_file *f, uint64_t *hlen, char *err, size_t errlen)
{
    const unsigned char *b = f->bytes;
    size_t len = f->len;
    if (len < 8)
        return ferr(f, err, errlen, HZ_EFORMAT,
                    "file is %zu bytes, shorter than the 8-byte header length", len);
    uint64_t n = le64(b);
    if (n > HZ_ST_MAX_HEADER)
        return ferr(f, err, errlen, HZ_EFORMAT, "header length %llu is absurd (limit %u bytes)",
                    (unsigned long long)n, HZ_ST_MAX_HEADER);
    if (n > len - 8)
        return ferr(f, err, errlen, HZ_EFORMAT,
                    "header length %llu runs past the end of the file (%zu bytes)",
                    (unsigned long long)n, len);
    const void *nul = memchr(b + 8, 0, (size_t)n);
    if (nul)
        return ferr(f, err, errlen, HZ_EFORMAT, "header has a NUL byte at header byte %zu",
                    (size_t)((const unsigned char *)nul - (b + 8)));
    json_error_t je;
    f->root =
        json_loadb((const char *)b + 8, (size_t)n, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!f->root)
        return ferr(f, err, errlen, HZ_EFORMAT, "header is not valid JSON: %s (header byte %d)",
                    je.text, je.position);
    if (!json_is_object(f->root))
        return ferr(f, err, errlen, HZ_EFORMAT, "header is not a JSON object");
    *hlen = n;
    return 0;
}

/* Checks __metadata__ (an object of strings) and keeps it as f->meta. */
static int take_metadata(hz_st_file *f, json_t *val, char *err, size_t errlen)
{
    if (!json_is_object(val))
        return ferr(f, err, errlen, HZ_EFORMAT, "__metadata__ is not a JSON object");
    const char *mk;
    json_t *mv;
    json_object_foreach(val, mk, mv)
    {
        if (!json_is_string(mv))
            return ferr(f, err, errlen, HZ_EFORMAT, "__metadata__ value for '%s' is not a string",
                        mk);
    }
    f->meta = val;
    return 0;
}

/* Fills the tensor table from the header's entries, in header order. */
static int read_entries(hz_st_file *f, const unsigned char *data, size_t dlen, char *err,
                        size_t errlen)
{
    size_t cap = json_object_size(f->root);
    f->t = calloc(cap ? cap : 1, sizeof *f->t);
    f->by_name = calloc(cap ? cap : 1, sizeof *f->by_name);
    f->by_off = calloc(cap ? cap : 1, sizeof *f->by_off);
    if (!f->t || !f->by_name || !f->by_off)
        return ferr(f, err, errlen, HZ_ENOMEM, "out of memory for %zu tensors", cap);
    const char *key;
    json_t *val;
    json_object_foreach(f->root, key, val)
    {
        if (strcmp(key, "__metadata__") == 0) {
            int rc = take_metadata(f, val, err, errlen);
            if (rc)
                return rc;
            continue;
        }
        int rc = parse_entry(f, key, val, data, dlen, &f->t[f->n], err, errlen);
        if (rc < 0)
            return rc;
        f->by_name[f->n] = f->by_off[f->n] = &f->t[f->n];
        f->n++;
    }
    return 0;
}

/* Checks that the tensors, sorted by offset, tile the data section exactly. */
static int check_tiling(hz_st_file *f, const unsigned char *data, size_t dlen, char *err,
                        size_t errlen)
{
    qsort(f->by_off, f->n, sizeof *f->by_off, cmp_off);
    size_t pos = 0;
    const hz_st_tensor *prev = NULL;
    for (size_t i = 0; i < f->n; i++) {
        const hz_st_tensor *t = f->by_off[i];
        size_t tb = (size_t)((const unsigned char *)t->data - data);
        if (tb < pos)
            return ferr(f, err, errlen, HZ_EFORMAT,
                        "tensor '%s': data_offsets [%zu,%zu] overlap tensor '%s' [%zu,%zu]",
                        t->name, tb, tb + t->nbytes, prev->name,
                        (size_t)((const unsigned char *)prev->data - data),
                        (size_t)((const unsigned char *)prev->data - data) + prev->nbytes);
        if (tb > pos)
            return ferr(f, err, errlen, HZ_EFORMAT,
                        "bytes [%zu,%zu) of the data section belong to no tensor (gap before "
                        "tensor '%s')",
                        pos, tb, t->name);
        pos = tb + t->nbytes;
        prev = t;
    }
    if (pos != dlen)
        return ferr(f, err, errlen, HZ_EFORMAT,
                    "%zu trailing bytes after the last tensor (data section is %zu bytes, tensors "
                    "cover %zu)",
                    dlen - pos, dlen, pos);
    return 0;
}

/* Validates f->bytes[0..len) and fills the tensor table. */
static int parse(hz_st_file *f, char *err, size_t errlen)
{
    uint64_t n;
    int rc = parse_header(f, &n, err, errlen);
    if (rc)
        return rc;
    const unsigned char *data = f->bytes + 8 + n;
    size_t dlen = f->len - 8 - (size_t)n;
    if ((rc = read_entries(f, data, dlen, err, errlen)) ||
        (rc = check_tiling(f, data, dlen, err, errlen)))
        return rc;
    qsort(f->by_name, f->n, sizeof *f->by_name, cmp_name);
    return 0;
}

static hz_st_file *file_new(const char *name)
{
    hz_st_file *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->path = strdup(name);
    if (!f->path) {
        free(f);
        return NULL;
    }
    return f;
}

void hz_st_close(hz_st_file *f)
{
    if (!f)
        return;
    json_decref(f->root);
    free(f->t);
    free(f->by_name);
    free(f->by_off);
    free(f->mem);
    free(f->path);
    free(f);
}

int hz_st_open_mem(const void *buf, size_t len, const char *name, hz_st_file **out, char *err,
                   size_t errlen)
{
    *out = NULL;
    hz_st_file *f = file_new(name ? name : "<memory>");
    if (!f)
        return hz_err(err, errlen, HZ_ENOMEM, "%s: out of memory", name ? name : "<memory>");
    if (alloc_image(f, buf, len) < 0) {
        int rc = ferr(f, err, errlen, HZ_ENOMEM, "out of memory for %zu bytes", len);
        hz_st_close(f);
        return rc;
    }
    if (len)
        memcpy((unsigned char *)f->bytes, buf, len);
    int rc = parse(f, err, errlen);
    if (rc < 0) {
        hz_st_close(f);
        return rc;
    }
    *out = f;
    return 0;
}

/* Reads up to n bytes; returns the count read (short only at end of file) or -1. */
static ssize_t read_full(int fd, unsigned char *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

int hz_st_open(const char *path, hz_st_file **out, char *err, size_t errlen)
{
    *out = NULL;
    hz_st_file *f = file_new(path);
    if (!f)
        return hz_err(err, errlen, HZ_ENOMEM, "%s: out of memory", path);
    int rc = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    unsigned char head[8] = {0};
    ssize_t nhead;
    if (fd < 0) {
        rc = ferr(f, err, errlen, errno == ENOENT ? HZ_ENOTFOUND : HZ_EIO, "cannot open: %s",
                  strerror(errno));
    } else if (fstat(fd, &st) < 0) {
        rc = ferr(f, err, errlen, HZ_EIO, "cannot stat: %s", strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        rc = ferr(f, err, errlen, HZ_EIO, "not a regular file");
    } else if ((uint64_t)st.st_size > SIZE_MAX - 2 * DATA_ALIGN) {
        rc = ferr(f, err, errlen, HZ_ENOMEM, "file too large (%lld bytes)", (long long)st.st_size);
    } else if ((nhead = read_full(fd, head, sizeof head)) < 0) {
        rc = ferr(f, err, errlen, HZ_EIO, "cannot read: %s", strerror(errno));
    } else if (alloc_image(f, head, (size_t)st.st_size) < 0) {
        rc = ferr(f, err, errlen, HZ_ENOMEM, "out of memory for %lld bytes", (long long)st.st_size);
    } else {
        size_t len = (size_t)st.st_size;
        unsigned char *img = (unsigned char *)f->bytes;
        size_t h = len < sizeof head ? len : sizeof head;
        ssize_t r = (size_t)nhead < h ? 0 : len > h ? read_full(fd, img + h, len - h) : 0;
        if (r < 0)
            rc = ferr(f, err, errlen, HZ_EIO, "cannot read: %s", strerror(errno));
        else if ((size_t)nhead < h || (size_t)r != len - h)
            rc = ferr(f, err, errlen, HZ_EIO, "file shrank while being read");
        else
            memcpy(img, head, h);
        if (rc == 0)
            rc = parse(f, err, errlen);
    }
    if (fd >= 0)
        close(fd);
    if (rc < 0) {
        hz_st_close(f);
        return rc;
    }
    *out = f;
    return 0;
}

const char *hz_st_path(const hz_st_file *f)
{
    return f->path;
}

size_t hz_st_count(const hz_st_file *f)
{
    return f->n;
}

const hz_st_tensor *hz_st_at(const hz_st_file *f, size_t i)
{
    return i < f->n ? &f->t[i] : NULL;
}

const hz_st_tensor *hz_st_find(const hz_st_file *f, const char *name)
{
    hz_st_tensor key = {.name = name};
    const hz_st_tensor *kp = &key;
    const hz_st_tensor **hit = bsearch(&kp, f->by_name, f->n, sizeof *f->by_name, cmp_name);
    return hit ? *hit : NULL;
}

const char *hz_st_meta(const hz_st_file *f, const char *key)
{
    return f->meta ? json_string_value(json_object_get(f->meta, key)) : NULL;
}

int hz_st_read(const hz_st_file *f, const char *name, hz_st_dtype dtype, int ndim,
               const int64_t *shape, void *dst, char *err, size_t errlen)
{
    const hz_st_tensor *t = hz_st_find(f, name);
    if (!t)
        return ferr(f, err, errlen, HZ_ENOTFOUND, "no tensor named '%s'", name);
    if (t->dtype != dtype)
        return ferr(f, err, errlen, HZ_EFORMAT, "tensor '%s': dtype %s, expected %s", name,
                    dtypes[t->dtype].name, hz_st_dtype_name(dtype) ? hz_st_dtype_name(dtype) : "?");
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++)
        same = t->shape[i] == shape[i];
    if (!same) {
        char a[128], b[128];
        return ferr(f, err, errlen, HZ_EFORMAT, "tensor '%s': shape %s, expected %s", name,
                    fmt_shape(a, sizeof a, t->ndim, t->shape),
                    fmt_shape(b, sizeof b, ndim > 0 ? ndim : 0, shape));
    }
    if (t->nbytes)
        memcpy(dst, t->data, t->nbytes);
    return 0;
}

int hz_st_read_f32(const hz_st_file *f, const char *name, int ndim, const int64_t *shape,
                   float *dst, char *err, size_t errlen)
{
    return hz_st_read(f, name, HZ_ST_F32, ndim, shape, dst, err, errlen);
}

/* ------------------------------------------------------------------------------------------ */
/* writing */

typedef struct {
    char *name;
    hz_st_dtype dtype;
    int ndim;
    int64_t shape[HZ_ST_MAX_DIMS];
    const void *data; /* borrowed */
    size_t nbytes;
} wentry;

struct hz_st_writer {
    wentry *e;
    size_t n, cap;
    json_t *meta; /* object of strings */
};

hz_st_writer *hz_st_writer_new(void)
{
    hz_st_writer *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->meta = json_object();
    if (!w->meta) {
        free(w);
        return NULL;
    }
    return w;
}

void hz_st_writer_free(hz_st_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n; i++)
        free(w->e[i].name);
    free(w->e);
    json_decref(w->meta);
    free(w);
}

int hz_st_writer_add(hz_st_writer *w, const char *name, hz_st_dtype dtype, int ndim,
                     const int64_t *shape, const void *data, char *err, size_t errlen)
{
    if (!name || !*name)
        return hz_err(err, errlen, HZ_EINVAL, "safetensors writer: empty tensor name");
    if (strcmp(name, "__metadata__") == 0)
        return hz_err(err, errlen, HZ_EINVAL,
                      "safetensors writer: '__metadata__' is reserved, not a tensor name");
    json_t *probe = json_string(name);
    if (!probe)
        return hz_err(err, errlen, HZ_EINVAL, "safetensors writer: tensor name is not valid UTF-8");
    json_decref(probe);
    if (!hz_st_dtype_name(dtype))
        return hz_err(err, errlen, HZ_EINVAL, "safetensors writer: tensor '%s': bad dtype %d", name,
                      (int)dtype);
    if (ndim < 0 || ndim > HZ_ST_MAX_DIMS)
        return hz_err(err, errlen, HZ_EINVAL,
                      "safetensors writer: tensor '%s': %d dimensions, expected 0..%d", name, ndim,
                      HZ_ST_MAX_DIMS);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0)
            return hz_err(err, errlen, HZ_EINVAL,
                          "safetensors writer: tensor '%s': shape[%d] is negative (%lld)", name, i,
                          (long long)shape[i]);
    uint64_t nbytes;
    if (shape_bytes(ndim, shape, dtypes[dtype].size, &nbytes) < 0)
        return hz_err(err, errlen, HZ_EINVAL, "safetensors writer: tensor '%s': size overflows",
                      name);
    if (nbytes && !data)
        return hz_err(err, errlen, HZ_EINVAL, "safetensors writer: tensor '%s': data is NULL",
                      name);
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->e[i].name, name) == 0)
            return hz_err(err, errlen, HZ_EINVAL, "safetensors writer: tensor '%s' added twice",
                          name);
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 16;
        wentry *e = realloc(w->e, cap * sizeof *e);
        if (!e)
            return hz_err(err, errlen, HZ_ENOMEM, "safetensors writer: out of memory");
        w->e = e;
        w->cap = cap;
    }
    wentry *e = &w->e[w->n];
    memset(e, 0, sizeof *e);
    e->name = strdup(name);
    if (!e->name)
        return hz_err(err, errlen, HZ_ENOMEM, "safetensors writer: out of memory");
    e->dtype = dtype;
    e->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        e->shape[i] = shape[i];
    e->data = data;
    e->nbytes = (size_t)nbytes;
    w->n++;
    return 0;
}

int hz_st_writer_meta(hz_st_writer *w, const char *key, const char *value, char *err, size_t errlen)
{
    json_t *v = json_string(value);
    if (!v || json_object_set_new(w->meta, key, v) < 0)
        return hz_err(err, errlen, HZ_EINVAL,
                      "safetensors writer: metadata '%s' is not valid UTF-8 (or out of memory)",
                      key);
    return 0;
}

/* Layout order: decreasing element size, stable, so that each tensor starts aligned. */
static int cmp_layout(const void *a, const void *b)
{
    const wentry *x = *(const wentry *const *)a, *y = *(const wentry *const *)b;
    size_t sx = dtypes[x->dtype].size, sy = dtypes[y->dtype].size;
    if (sx != sy)
        return sx > sy ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* The header JSON (offsets per the layout), padded with spaces so that 8 + length is a
 * multiple of 8. Returns a malloc'd buffer or NULL. */
static char *build_header(const hz_st_writer *w, const wentry **order, size_t *hlen)
{
    uint64_t *off = calloc(w->n ? w->n : 1, sizeof *off);
    json_t *root = json_object();
    char *out = NULL;
    if (!off || !root)
        goto done;
    uint64_t pos = 0;
    for (size_t i = 0; i < w->n; i++) {
        off[order[i] - w->e] = pos;
        pos += order[i]->nbytes;
    }
    for (size_t i = 0; i < w->n; i++) {
        const wentry *e = &w->e[i];
        json_t *shape = json_array();
        if (!shape)
            goto done;
        for (int d = 0; d < e->ndim; d++)
            json_array_append_new(shape, json_integer(e->shape[d]));
        json_t *ent =
            json_pack("{s:s, s:o, s:[I,I]}", "dtype", dtypes[e->dtype].name, "shape", shape,
                      "data_offsets", (json_int_t)off[i], (json_int_t)(off[i] + e->nbytes));
        if (!ent || json_array_size(shape) != (size_t)e->ndim ||
            json_object_set_new(root, e->name, ent) < 0)
            goto done;
    }
    if (json_object_size(w->meta) && json_object_set(root, "__metadata__", w->meta) < 0)
        goto done;
    char *js = json_dumps(root, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (!js)
        goto done;
    size_t n = strlen(js), padded = n + (8 - (8 + n) % 8) % 8;
    out = malloc(padded);
    if (out) {
        memcpy(out, js, n);
        memset(out + n, ' ', padded - n);
        *hlen = padded;
    }
    free(js);
done:
    json_decref(root);
    free(off);
    return out;
}

static int write_all(int fd, const void *p, size_t n)
{
    const unsigned char *c = p;
    while (n) {
        ssize_t r = write(fd, c, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

/* fsync the directory holding path, so that the rename itself is durable. */
static int sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int hz_st_writer_save(hz_st_writer *w, const char *path, char *err, size_t errlen)
{
    int rc = 0;
    const wentry **order = calloc(w->n ? w->n : 1, sizeof *order);
    char *header = NULL, *tmp = NULL;
    size_t hlen = 0;
    int fd = -1, created = 0;
    if (!order || !(tmp = malloc(strlen(path) + 5))) {
        rc = hz_err(err, errlen, HZ_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    for (size_t i = 0; i < w->n; i++)
        order[i] = &w->e[i];
    qsort(order, w->n, sizeof *order, cmp_layout);
    if (!(header = build_header(w, order, &hlen))) {
        rc = hz_err(err, errlen, HZ_ENOMEM, "%s: out of memory building the header", path);
        goto done;
    }
    sprintf(tmp, "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = hz_err(err, errlen, HZ_EIO, "%s: cannot create: %s", tmp, strerror(errno));
        goto done;
    }
    created = 1;
    unsigned char lenbuf[8];
    put_le64(lenbuf, hlen);
    int bad = write_all(fd, lenbuf, 8) < 0 || write_all(fd, header, hlen) < 0;
    for (size_t i = 0; !bad && i < w->n; i++)
        if (order[i]->nbytes)
            bad = write_all(fd, order[i]->data, order[i]->nbytes) < 0;
    if (bad || fsync(fd) < 0) {
        rc = hz_err(err, errlen, HZ_EIO, "%s: cannot write: %s", tmp, strerror(errno));
        goto done;
    }
    int c = close(fd);
    fd = -1;
    if (c < 0) {
        rc = hz_err(err, errlen, HZ_EIO, "%s: cannot write: %s", tmp, strerror(errno));
        goto done;
    }
    if (rename(tmp, path) < 0) {
        rc = hz_err(err, errlen, HZ_EIO, "%s: cannot rename %s into place: %s", path, tmp,
                    strerror(errno));
        goto done;
    }
    created = 0;
    if (sync_dir(path) < 0)
        rc = hz_err(err, errlen, HZ_EIO, "%s: written, but cannot sync its directory: %s", path,
                    strerror(errno));
done:
    if (fd >= 0)
        close(fd);
    if (created)
        unlink(tmp);
    free(tmp);
    free(header);
    free(order);
    return rc;
}
