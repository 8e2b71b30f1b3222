/* test_safetensors.c — safetensors round trips, crafted bad files (each refusal names its
 * problem), hz_st_read_f32 refusals, and a file written by the Python reference writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/hz.h"
#include "models/safetensors.h"

/* ---- helpers */

typedef struct {
    char dir[64];
} tmpdir;

static void tmp_make(tmpdir *t)
{
    snprintf(t->dir, sizeof t->dir, "/tmp/hz_st_XXXXXX");
    assert_non_null(mkdtemp(t->dir));
}

static void tmp_path(const tmpdir *t, const char *name, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", t->dir, name);
}

/* Removes every file in the directory, then the directory. */
static void tmp_remove(tmpdir *t)
{
    DIR *d = opendir(t->dir);
    assert_non_null(d);
    struct dirent *e;
    char p[512];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", t->dir, e->d_name);
            unlink(p);
        }
    closedir(d);
    assert_int_equal(rmdir(t->dir), 0);
}

static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(p, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

static unsigned char *read_bytes(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long sz = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *p = malloc((size_t)sz + 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)sz, fp), (size_t)sz);
    fclose(fp);
    *n = (size_t)sz;
    return p;
}

static void put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* 8-byte length + header (not padded: the reader must not insist on padding) + data_len
 * bytes of a pattern. */
static unsigned char *craft(const char *header, size_t data_len, size_t *n)
{
    size_t h = strlen(header);
    *n = 8 + h + data_len;
    unsigned char *p = malloc(*n);
    assert_non_null(p);
    put_le64(p, h);
    memcpy(p + 8, header, h);
    for (size_t i = 0; i < data_len; i++)
        p[8 + h + i] = (unsigned char)(i * 37 + 1);
    return p;
}

/* ---- round trips */

static void test_round_trip_dtypes_scalars_empty_metadata(void **state)
{
    tmpdir td;
    tmp_make(&td);
    char path[512], err[HZ_ERRLEN];
    tmp_path(&td, "rt.safetensors", path, sizeof path);

    uint8_t u8[3] = {0, 200, 255};
    float f32[2][3] = {{1.5f, -2.0f, 3.25f}, {0.0f, -0.0f, 1e-38f}};
    double f64 = -3.141592653589793; /* 0-d */
    int64_t i64[4] = {INT64_MIN, -1, 0, INT64_MAX};
    int32_t i32[2][1][2] = {{{-7, 7}}, {{INT32_MIN, INT32_MAX}}};
    uint8_t bools[5] = {1, 0, 0, 1, 1};
    uint16_t f16[2] = {0x3c00, 0xc000}; /* 1.0, -2.0 */
    uint16_t bf16[3] = {0x3f80, 0x4049, 0xff80};
    int16_t i16[2] = {-32768, 123};
    int8_t i8[1] = {-5};

    hz_st_writer *w = hz_st_writer_new();
    assert_non_null(w);
    /* U8 first: the writer must still place the wider tensors aligned */
    assert_int_equal(hz_st_writer_add(w, "u8", HZ_ST_U8, 1, (int64_t[]){3}, u8, err, sizeof err),
                     0);
    assert_int_equal(
        hz_st_writer_add(w, "f32", HZ_ST_F32, 2, (int64_t[]){2, 3}, f32, err, sizeof err), 0);
    assert_int_equal(hz_st_writer_add(w, "scalar", HZ_ST_F64, 0, NULL, &f64, err, sizeof err), 0);
    assert_int_equal(hz_st_writer_add(w, "i64", HZ_ST_I64, 1, (int64_t[]){4}, i64, err, sizeof err),
                     0);
    assert_int_equal(
        hz_st_writer_add(w, "i32", HZ_ST_I32, 3, (int64_t[]){2, 1, 2}, i32, err, sizeof err), 0);
    assert_int_equal(
        hz_st_writer_add(w, "empty", HZ_ST_F32, 2, (int64_t[]){0, 5}, NULL, err, sizeof err), 0);
    assert_int_equal(
        hz_st_writer_add(w, "bool", HZ_ST_BOOL, 1, (int64_t[]){5}, bools, err, sizeof err), 0);
    assert_int_equal(hz_st_writer_add(w, "f16", HZ_ST_F16, 1, (int64_t[]){2}, f16, err, sizeof err),
                     0);
    assert_int_equal(
        hz_st_writer_add(w, "bf16", HZ_ST_BF16, 1, (int64_t[]){3}, bf16, err, sizeof err), 0);
    assert_int_equal(hz_st_writer_add(w, "i16", HZ_ST_I16, 1, (int64_t[]){2}, i16, err, sizeof err),
                     0);
    assert_int_equal(hz_st_writer_add(w, "i8", HZ_ST_I8, 1, (int64_t[]){1}, i8, err, sizeof err),
                     0);
    assert_int_equal(hz_st_writer_meta(w, "format", "pt", err, sizeof err), 0);
    assert_int_equal(
        hz_st_writer_meta(w, "config", "{\"d\": 32, \"name\": \"ünï\"}", err, sizeof err), 0);
    assert_int_equal(hz_st_writer_meta(w, "format", "horizon", err, sizeof err), 0); /* replaces */
    assert_int_equal(hz_st_writer_save(w, path, err, sizeof err), 0);
    hz_st_writer_free(w);

    /* atomic write leaves no temporary behind */
    char tmp[600];
    struct stat st;
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_not_equal(stat(tmp, &st), 0);

    hz_st_file *f = NULL;
    assert_int_equal(hz_st_open(path, &f, err, sizeof err), 0);
    assert_string_equal(hz_st_path(f), path);
    const char *names[] = {"u8",   "f32", "scalar", "i64", "i32", "empty",
                           "bool", "f16", "bf16",   "i16", "i8"};
    const void *datas[] = {u8, f32, &f64, i64, i32, NULL, bools, f16, bf16, i16, i8};
    const size_t sizes[] = {3, 24, 8, 32, 16, 0, 5, 4, 6, 4, 1};
    assert_int_equal(hz_st_count(f), 11);
    for (size_t i = 0; i < 11; i++) {
        const hz_st_tensor *t = hz_st_at(f, i);
        assert_non_null(t);
        assert_string_equal(t->name, names[i]); /* header order = add order */
        assert_ptr_equal(hz_st_find(f, names[i]), t);
        assert_int_equal(t->nbytes, sizes[i]);
        if (sizes[i])
            assert_memory_equal(t->data, datas[i], sizes[i]);
        /* aligned in place for its type */
        assert_int_equal((uintptr_t)t->data % hz_st_dtype_size(t->dtype), 0);
    }
    assert_null(hz_st_at(f, 11));
    const hz_st_tensor *t = hz_st_find(f, "i32");
    assert_int_equal(t->dtype, HZ_ST_I32);
    assert_int_equal(t->ndim, 3);
    assert_int_equal(t->shape[0], 2);
    assert_int_equal(t->shape[1], 1);
    assert_int_equal(t->shape[2], 2);
    t = hz_st_find(f, "scalar");
    assert_int_equal(t->ndim, 0);
    assert_int_equal(t->dtype, HZ_ST_F64);
    t = hz_st_find(f, "empty");
    assert_int_equal(t->ndim, 2);
    assert_int_equal(t->shape[0], 0);
    assert_int_equal(t->shape[1], 5);
    assert_int_equal(hz_st_find(f, "bf16")->dtype, HZ_ST_BF16);
    assert_int_equal(hz_st_find(f, "bool")->dtype, HZ_ST_BOOL);
    assert_null(hz_st_find(f, "absent"));
    assert_null(hz_st_find(f, "__metadata__"));
    assert_string_equal(hz_st_meta(f, "format"), "horizon");
    assert_string_equal(hz_st_meta(f, "config"), "{\"d\": 32, \"name\": \"ünï\"}");
    assert_null(hz_st_meta(f, "absent"));

    double back;
    assert_int_equal(hz_st_read(f, "scalar", HZ_ST_F64, 0, NULL, &back, err, sizeof err), 0);
    assert_true(back == f64);
    assert_int_equal(hz_st_read(f, "empty", HZ_ST_F32, 2, (int64_t[]){0, 5}, NULL, err, sizeof err),
                     0);
    hz_st_close(f);

    /* the bytes: LE header length, 8 + N a multiple of 8, space padding, data sized exactly */
    size_t n;
    unsigned char *raw = read_bytes(path, &n);
    uint64_t hl = get_le64(raw);
    assert_int_equal((8 + hl) % 8, 0);
    assert_int_equal(n, 8 + hl + 3 + 24 + 8 + 32 + 16 + 5 + 4 + 6 + 4 + 1);
    assert_int_equal(raw[8], '{');
    size_t last = 8 + hl - 1;
    while (raw[last] == ' ')
        last--;
    assert_int_equal(raw[last], '}');
    free(raw);

    /* saving again replaces the file atomically */
    w = hz_st_writer_new();
    assert_int_equal(hz_st_writer_add(w, "only", HZ_ST_I8, 1, (int64_t[]){1}, i8, err, sizeof err),
                     0);
    assert_int_equal(hz_st_writer_save(w, path, err, sizeof err), 0);
    hz_st_writer_free(w);
    assert_int_equal(hz_st_open(path, &f, err, sizeof err), 0);
    assert_int_equal(hz_st_count(f), 1);
    assert_null(hz_st_meta(f, "format"));
    hz_st_close(f);
    tmp_remove(&td);
}

static void test_empty_file_round_trip(void **state)
{
    tmpdir td;
    tmp_make(&td);
    char path[512], err[HZ_ERRLEN];
    tmp_path(&td, "empty.safetensors", path, sizeof path);
    hz_st_writer *w = hz_st_writer_new();
    assert_int_equal(hz_st_writer_save(w, path, err, sizeof err), 0);
    hz_st_writer_free(w);
    hz_st_file *f;
    assert_int_equal(hz_st_open(path, &f, err, sizeof err), 0);
    assert_int_equal(hz_st_count(f), 0);
    assert_null(hz_st_find(f, "x"));
    assert_null(hz_st_meta(f, "x"));
    hz_st_close(f);
    hz_st_close(NULL);
    hz_st_writer_free(NULL);
    tmp_remove(&td);
}

static void test_writer_refusals(void **state)
{
    char err[HZ_ERRLEN];
    float x[2] = {1, 2};
    hz_st_writer *w = hz_st_writer_new();
    assert_int_equal(hz_st_writer_add(w, "a", HZ_ST_F32, 1, (int64_t[]){2}, x, err, sizeof err), 0);
    assert_int_equal(hz_st_writer_add(w, "a", HZ_ST_F32, 1, (int64_t[]){2}, x, err, sizeof err),
                     HZ_EINVAL);
    assert_non_null(strstr(err, "'a' added twice"));
    assert_int_equal(
        hz_st_writer_add(w, "__metadata__", HZ_ST_F32, 1, (int64_t[]){2}, x, err, sizeof err),
        HZ_EINVAL);
    assert_non_null(strstr(err, "reserved"));
    assert_int_equal(hz_st_writer_add(w, "", HZ_ST_F32, 1, (int64_t[]){2}, x, err, sizeof err),
                     HZ_EINVAL);
    assert_non_null(strstr(err, "empty tensor name"));
    assert_int_equal(hz_st_writer_add(w, "b", HZ_ST_F32, 1, (int64_t[]){-2}, x, err, sizeof err),
                     HZ_EINVAL);
    assert_non_null(strstr(err, "negative"));
    int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    assert_int_equal(hz_st_writer_add(w, "b", HZ_ST_F32, 9, nine, x, err, sizeof err), HZ_EINVAL);
    assert_non_null(strstr(err, "9 dimensions"));
    assert_int_equal(
        hz_st_writer_add(w, "b", (hz_st_dtype)99, 1, (int64_t[]){2}, x, err, sizeof err),
        HZ_EINVAL);
    assert_non_null(strstr(err, "bad dtype"));
    assert_int_equal(hz_st_writer_add(w, "b", HZ_ST_F32, 3, (int64_t[]){1LL << 40, 1LL << 40, 64},
                                      x, err, sizeof err),
                     HZ_EINVAL);
    assert_non_null(strstr(err, "overflows"));
    assert_int_equal(hz_st_writer_add(w, "b", HZ_ST_F32, 1, (int64_t[]){2}, NULL, err, sizeof err),
                     HZ_EINVAL);
    assert_non_null(strstr(err, "data is NULL"));
    assert_int_equal(
        hz_st_writer_add(w, "bad\xff", HZ_ST_F32, 1, (int64_t[]){2}, x, err, sizeof err),
        HZ_EINVAL);
    assert_non_null(strstr(err, "UTF-8"));
    assert_int_equal(hz_st_writer_meta(w, "k", "\xc3", err, sizeof err), HZ_EINVAL);

    /* save into a directory that does not exist: clean error naming the path */
    assert_int_equal(hz_st_writer_save(w, "/nonexistent-hz-dir/x.safetensors", err, sizeof err),
                     HZ_EIO);
    assert_non_null(strstr(err, "/nonexistent-hz-dir/x.safetensors.tmp: cannot create"));
    hz_st_writer_free(w);
}

/* A failed save leaves the destination alone and removes its temporary file. */
static void test_failed_save_cleans_up(void **state)
{
    tmpdir td;
    tmp_make(&td);
    char path[512], tmp[600], err[HZ_ERRLEN];
    struct stat st;
    tmp_path(&td, "isdir", path, sizeof path);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    float x[2] = {1, 2};
    hz_st_writer *w = hz_st_writer_new();
    assert_int_equal(hz_st_writer_add(w, "x", HZ_ST_F32, 1, (int64_t[]){2}, x, err, sizeof err), 0);
    /* rename over a directory fails after the temporary file was fully written */
    assert_int_equal(hz_st_writer_save(w, path, err, sizeof err), HZ_EIO);
    assert_non_null(strstr(err, "cannot rename"));
    assert_non_null(strstr(err, path));
    assert_int_not_equal(stat(tmp, &st), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    hz_st_writer_free(w);
    assert_int_equal(rmdir(path), 0);
    tmp_remove(&td);
}

/* ---- crafted bad files: each must be refused with a message naming the problem */

typedef struct {
    const char *name;
    const char *header; /* NULL: use raw */
    size_t data_len;
    const unsigned char *raw;
    size_t raw_len;
    const char *expect; /* substring of the message */
} bad_case;

#define F32A(off) "{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":" off "}"

static const unsigned char short5[] = {1, 0, 0, 0, 0};
static const unsigned char past_end[] = {100, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' '};
static const unsigned char absurd[] = {0, 0, 0, 0, 0, 1, 0, 0, '{', '}'};
static const unsigned char max_u64[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, '{'};
static const unsigned char nul_in_header[] = {4, 0, 0, 0, 0, 0, 0, 0, '{', 0, '}', ' '};

static const bad_case bad_cases[] = {
    {"empty file", NULL, 0, short5, 0, "file is 0 bytes, shorter than the 8-byte header length"},
    {"file shorter than 8 bytes", NULL, 0, short5, 5, "shorter than the 8-byte header length"},
    {"header length past end of file", NULL, 0, past_end, sizeof past_end,
     "header length 100 runs past the end of the file (12 bytes)"},
    {"header length absurd", NULL, 0, absurd, sizeof absurd,
     "header length 1099511627776 is absurd"},
    {"header length 2^64-1", NULL, 0, max_u64, sizeof max_u64, "is absurd"},
    {"header NUL byte", NULL, 0, nul_in_header, sizeof nul_in_header,
     "header has a NUL byte at header byte 1"},
    {"header not JSON", "{\"a\": {\"dtype\": ", 0, NULL, 0, "header is not valid JSON"},
    {"header trailing garbage", "{} x", 0, NULL, 0, "header is not valid JSON"},
    {"header is an array", "[1, 2]", 0, NULL, 0, "header is not a JSON object"},
    {"header is a string", "\"abc\"", 0, NULL, 0, "header is not a JSON object"},
    {"entry not an object", "{\"a\": 3}", 0, NULL, 0, "tensor 'a': entry is not a JSON object"},
    {"missing dtype", "{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, NULL, 0,
     "tensor 'a': missing \"dtype\""},
    {"missing shape", "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, NULL, 0,
     "tensor 'a': missing \"shape\""},
    {"missing data_offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, NULL, 0,
     "tensor 'a': missing \"data_offsets\""},
    {"dtype not a string", "{\"a\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, NULL, 0,
     "tensor 'a': \"dtype\" is not a string"},
    {"unknown dtype", "{\"a\":{\"dtype\":\"F8\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, NULL, 0,
     "tensor 'a': unknown dtype \"F8\""},
    {"dtype lower case", "{\"a\":{\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
     NULL, 0, "unknown dtype \"f32\""},
    {"shape not an array", "{\"a\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", 8,
     NULL, 0, "tensor 'a': \"shape\" is not an array"},
    {"shape negative", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,-1],\"data_offsets\":[0,8]}}", 8,
     NULL, 0, "tensor 'a': shape[1] is negative (-1)"},
    {"shape non-integer", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 8,
     NULL, 0, "tensor 'a': shape[0] is not an integer"},
    {"shape integral real", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8,
     NULL, 0, "tensor 'a': shape[0] is not an integer"},
    {"shape string", "{\"a\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8,
     NULL, 0, "shape[0] is not an integer"},
    {"shape 9 dims",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,2],\"data_offsets\":[0,8]}}", 8, NULL, 0,
     "shape has 9 dimensions, at most 8"},
    {"offsets not a pair", "{\"a\":" F32A("[0]") "}", 8, NULL, 0,
     "tensor 'a': \"data_offsets\" is not an array of 2 integers"},
    {"offsets three", "{\"a\":" F32A("[0,8,8]") "}", 8, NULL, 0, "is not an array of 2 integers"},
    {"offsets string", "{\"a\":" F32A("[0,\"8\"]") "}", 8, NULL, 0,
     "is not an array of 2 integers"},
    {"offsets end before begin", "{\"a\":" F32A("[8,0]") "}", 8, NULL, 0,
     "tensor 'a': data_offsets end 0 is before begin 8"},
    {"offsets negative", "{\"a\":" F32A("[-8,0]") "}", 8, NULL, 0, "are negative"},
    {"offsets past end of file", "{\"a\":" F32A("[0,8]") "}", 4, NULL, 0,
     "tensor 'a': data_offsets [0,8] run past the end of the file (data section is 4 bytes"},
    {"offsets huge", "{\"a\":" F32A("[9223372036854775800,9223372036854775807]") "}", 8, NULL, 0,
     "run past the end of the file"},
    {"offsets overlap", "{\"a\":" F32A("[0,8]") ",\"b\":" F32A("[4,12]") "}", 12, NULL, 0,
     "tensor 'b': data_offsets [4,12] overlap tensor 'a' [0,8]"},
    {"offsets identical", "{\"a\":" F32A("[0,8]") ",\"b\":" F32A("[0,8]") "}", 16, NULL, 0,
     "overlap tensor 'a'"},
    {"offsets gap", "{\"a\":" F32A("[0,8]") ",\"b\":" F32A("[12,20]") "}", 20, NULL, 0,
     "bytes [8,12) of the data section belong to no tensor"},
    {"trailing bytes", "{\"a\":" F32A("[0,8]") "}", 11, NULL, 0,
     "3 trailing bytes after the last tensor"},
    {"nbytes mismatch", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, NULL,
     0, "tensor 'a': data_offsets [0,8] hold 8 bytes, but F32 shape [3] needs 12"},
    {"nbytes dtype mismatch", "{\"a\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
     NULL, 0, "but F64 shape [2] needs 16"},
    {"shape product overflow",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}", 0,
     NULL, 0, "tensor 'a': size of F32 shape [4294967296,4294967296] overflows"},
    {"nbytes overflow",
     "{\"a\":{\"dtype\":\"F64\",\"shape\":[2305843009213693952],\"data_offsets\":[0,0]}}", 0, NULL,
     0, "overflows"},
    {"metadata not an object", "{\"__metadata__\": [\"a\"]}", 0, NULL, 0,
     "__metadata__ is not a JSON object"},
    {"metadata value not a string", "{\"__metadata__\": {\"ok\": \"x\", \"n\": 3}}", 0, NULL, 0,
     "__metadata__ value for 'n' is not a string"},
    {"duplicate names", "{\"a\":" F32A("[0,8]") ",\"a\":" F32A("[8,16]") "}", 16, NULL, 0,
     "duplicate object key"},
    {"integer too big for JSON",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,0]}}", 0, NULL,
     0, "header is not valid JSON"},
};

static void run_bad_case(void **state)
{
    const bad_case *c = *state;
    size_t n;
    unsigned char *p;
    if (c->header) {
        p = craft(c->header, c->data_len, &n);
    } else {
        n = c->raw_len;
        p = malloc(n ? n : 1);
        assert_non_null(p);
        memcpy(p, c->raw, n);
    }
    char err[HZ_ERRLEN] = "";
    hz_st_file *f = (hz_st_file *)1;
    int rc = hz_st_open_mem(p, n, "bad.safetensors", &f, err, sizeof err);
    if (rc != HZ_EFORMAT || !strstr(err, c->expect) || strncmp(err, "bad.safetensors: ", 17))
        print_error("case '%s': rc %d, message \"%s\", expected one containing \"%s\"\n", c->name,
                    rc, err, c->expect);
    assert_int_equal(rc, HZ_EFORMAT);
    assert_null(f);
    assert_non_null(strstr(err, c->expect));
    assert_memory_equal(err, "bad.safetensors: ", 17);
    free(p);
}

/* The same header layouts are accepted when they are right (so each bad case differs from a
 * good file only in the problem it names). */
static void test_crafted_good_files_accepted(void **state)
{
    const char *good[] = {
        "{}",
        "{\"a\":" F32A("[0,8]") "}",
        "{\"a\":" F32A("[0,8]") ",\"b\":" F32A("[8,16]") ",\"__metadata__\":{\"k\":\"v\"}}  ",
        "{\"b\":" F32A("[8,16]") ",\"a\":" F32A("[0,8]") "}", /* header order != data order */
        "{\"s\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]}}",
        "{\"e\":{\"dtype\":\"F32\",\"shape\":[0,4294967296],\"data_offsets\":[0,0]},\"z\":{"
        "\"dtype\":"
        "\"U8\",\"shape\":[8],\"data_offsets\":[0,8]}}",
    };
    const size_t dlen[] = {0, 8, 16, 16, 8, 8};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        size_t n;
        unsigned char *p = craft(good[i], dlen[i], &n);
        char err[HZ_ERRLEN] = "";
        hz_st_file *f;
        int rc = hz_st_open_mem(p, n, NULL, &f, err, sizeof err);
        if (rc)
            print_error("good case %zu: %s\n", i, err);
        assert_int_equal(rc, 0);
        if (i == 3) {
            assert_string_equal(hz_st_at(f, 0)->name, "b");
            assert_memory_equal(hz_st_find(f, "b")->data, p + n - 8, 8);
            assert_memory_equal(hz_st_find(f, "a")->data, p + n - 16, 8);
        }
        hz_st_close(f);
        free(p);
    }
}

/* Truncating a valid file anywhere, or corrupting its bytes, gives an error (never a crash or
 * overread: this runs under ASan too). */
static void test_truncation_and_corruption_never_crash(void **state)
{
    const char *hdr = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                      "\"i\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[24,40]},"
                      "\"__metadata__\":{\"k\":\"v\"}}";
    size_t n;
    unsigned char *good = craft(hdr, 40, &n);
    char err[HZ_ERRLEN];
    hz_st_file *f;
    assert_int_equal(hz_st_open_mem(good, n, "t", &f, err, sizeof err), 0);
    hz_st_close(f);
    for (size_t len = 0; len < n; len++) {
        unsigned char *p = malloc(len ? len : 1); /* exact size: ASan catches any overread */
        memcpy(p, good, len);
        err[0] = 0;
        assert_int_equal(hz_st_open_mem(p, len, "t", &f, err, sizeof err), HZ_EFORMAT);
        assert_true(strlen(err) > 3);
        free(p);
    }
    uint32_t rng = 12345;
    int accepted = 0;
    for (int it = 0; it < 4000; it++) {
        unsigned char *p = malloc(n);
        memcpy(p, good, n);
        for (int k = 0; k < 1 + it % 3; k++) {
            rng = rng * 1664525u + 1013904223u;
            size_t pos = (rng >> 8) % n;
            rng = rng * 1664525u + 1013904223u;
            p[pos] = (unsigned char)(rng >> 24);
        }
        int rc = hz_st_open_mem(p, n, "t", &f, err, sizeof err);
        if (rc == 0) {
            accepted++;
            for (size_t i = 0; i < hz_st_count(f); i++) {
                const hz_st_tensor *t = hz_st_at(f, i);
                uint64_t want = hz_st_dtype_size(t->dtype);
                for (int d = 0; d < t->ndim; d++)
                    want *= (uint64_t)t->shape[d];
                assert_int_equal(want, t->nbytes);
            }
            hz_st_close(f);
        } else {
            assert_int_equal(rc, HZ_EFORMAT);
        }
        free(p);
    }
    assert_true(accepted > 0); /* changes inside the data section are valid files */
    free(good);
}

static void test_open_refuses_missing_and_truncated_files(void **state)
{
    tmpdir td;
    tmp_make(&td);
    char path[512], err[HZ_ERRLEN];
    hz_st_file *f;
    tmp_path(&td, "absent.safetensors", path, sizeof path);
    assert_int_equal(hz_st_open(path, &f, err, sizeof err), HZ_ENOTFOUND);
    assert_null(f);
    assert_non_null(strstr(err, "absent.safetensors: cannot open"));

    assert_int_equal(hz_st_open(td.dir, &f, err, sizeof err), HZ_EIO);
    assert_non_null(strstr(err, "not a regular file"));

    /* a written file cut short on disk */
    float x[16] = {0};
    hz_st_writer *w = hz_st_writer_new();
    tmp_path(&td, "cut.safetensors", path, sizeof path);
    assert_int_equal(hz_st_writer_add(w, "x", HZ_ST_F32, 1, (int64_t[]){16}, x, err, sizeof err),
                     0);
    assert_int_equal(hz_st_writer_save(w, path, err, sizeof err), 0);
    hz_st_writer_free(w);
    size_t n;
    unsigned char *raw = read_bytes(path, &n);
    write_bytes(path, raw, n - 4);
    assert_int_equal(hz_st_open(path, &f, err, sizeof err), HZ_EFORMAT);
    assert_non_null(strstr(err, "cut.safetensors: tensor 'x': data_offsets [0,64] run past the "
                                "end of the file (data section is 60 bytes; truncated file?)"));
    write_bytes(path, raw, 6);
    assert_int_equal(hz_st_open(path, &f, err, sizeof err), HZ_EFORMAT);
    assert_non_null(strstr(err, "file is 6 bytes, shorter than the 8-byte header length"));
    write_bytes(path, raw, 20);
    assert_int_equal(hz_st_open(path, &f, err, sizeof err), HZ_EFORMAT);
    assert_non_null(strstr(err, "runs past the end of the file (20 bytes)"));
    free(raw);
    tmp_remove(&td);
}

/* ---- hz_st_read_f32: the checkpoint loader's call */

static void test_read_f32_checks_name_dtype_shape(void **state)
{
    tmpdir td;
    tmp_make(&td);
    char path[512], err[HZ_ERRLEN];
    tmp_path(&td, "ckpt.safetensors", path, sizeof path);
    float wdat[12];
    for (int i = 0; i < 12; i++)
        wdat[i] = (float)i * 0.5f - 1.0f;
    uint16_t h[2] = {0x3c00, 0};
    hz_st_writer *w = hz_st_writer_new();
    assert_int_equal(
        hz_st_writer_add(w, "w", HZ_ST_F32, 2, (int64_t[]){4, 3}, wdat, err, sizeof err), 0);
    assert_int_equal(hz_st_writer_add(w, "h", HZ_ST_F16, 1, (int64_t[]){2}, h, err, sizeof err), 0);
    assert_int_equal(hz_st_writer_save(w, path, err, sizeof err), 0);
    hz_st_writer_free(w);

    hz_st_file *f;
    assert_int_equal(hz_st_open(path, &f, err, sizeof err), 0);
    float dst[12] = {0};
    assert_int_equal(hz_st_read_f32(f, "w", 2, (int64_t[]){4, 3}, dst, err, sizeof err), 0);
    assert_memory_equal(dst, wdat, sizeof wdat);

    char want[700];
    assert_int_equal(hz_st_read_f32(f, "nope", 2, (int64_t[]){4, 3}, dst, err, sizeof err),
                     HZ_ENOTFOUND);
    snprintf(want, sizeof want, "%s: no tensor named 'nope'", path);
    assert_string_equal(err, want);

    assert_int_equal(hz_st_read_f32(f, "h", 1, (int64_t[]){2}, dst, err, sizeof err), HZ_EFORMAT);
    snprintf(want, sizeof want, "%s: tensor 'h': dtype F16, expected F32", path);
    assert_string_equal(err, want);

    assert_int_equal(hz_st_read_f32(f, "w", 2, (int64_t[]){3, 4}, dst, err, sizeof err),
                     HZ_EFORMAT);
    snprintf(want, sizeof want, "%s: tensor 'w': shape [4,3], expected [3,4]", path);
    assert_string_equal(err, want);

    assert_int_equal(hz_st_read_f32(f, "w", 1, (int64_t[]){12}, dst, err, sizeof err), HZ_EFORMAT);
    assert_non_null(strstr(err, "tensor 'w': shape [4,3], expected [12]"));
    assert_int_equal(hz_st_read_f32(f, "w", 3, (int64_t[]){4, 3, 1}, dst, err, sizeof err),
                     HZ_EFORMAT);
    assert_non_null(strstr(err, "shape [4,3], expected [4,3,1]"));
    assert_int_equal(hz_st_read_f32(f, "w", 0, NULL, dst, err, sizeof err), HZ_EFORMAT);
    assert_non_null(strstr(err, "shape [4,3], expected []"));
    hz_st_close(f);
    tmp_remove(&td);
}

/* ---- interop: a file written by the PyTorch reference's pure-Python writer
 * ($HZ_TORCH_REF/safetensors.py, numpy arrays), committed.  Made by
 * tests/fixtures/safetensors/make_py_written.py (see there for the values). */

static void test_reads_python_written_file_exactly(void **state)
{
    const char *path = "tests/fixtures/safetensors/py_written.safetensors";
    char err[HZ_ERRLEN];
    hz_st_file *f;
    int rc = hz_st_open(path, &f, err, sizeof err);
    if (rc)
        print_error("%s\n", err);
    assert_int_equal(rc, 0);
    assert_int_equal(hz_st_count(f), 5);
    const char *order[] = {"layer.weight", "layer.bias", "scale", "index", "empty"};
    for (int i = 0; i < 5; i++)
        assert_string_equal(hz_st_at(f, (size_t)i)->name, order[i]);

    float w[12], want[12];
    for (int i = 0; i < 12; i++)
        want[i] = ((float)i - 5.5f) / 4;
    uint32_t pi_bits = 1078530011u, tiny_bits = 2376221280u; /* numpy's float32 bit patterns */
    memcpy(&want[0], &pi_bits, 4);
    memcpy(&want[11], &tiny_bits, 4);
    assert_int_equal(hz_st_read_f32(f, "layer.weight", 2, (int64_t[]){3, 4}, w, err, sizeof err),
                     0);
    assert_memory_equal(w, want, sizeof w);

    float b[3], bwant[3] = {1.5f, -2.25f, 0.0f};
    assert_int_equal(hz_st_read_f32(f, "layer.bias", 1, (int64_t[]){3}, b, err, sizeof err), 0);
    assert_memory_equal(b, bwant, sizeof b);

    float s;
    assert_int_equal(hz_st_read_f32(f, "scale", 0, NULL, &s, err, sizeof err), 0);
    assert_true(s == 0.125f);

    int64_t idx[6], iwant[6] = {0, -1, 1LL << 40, 1700000000, 7, -(1LL << 62)};
    assert_int_equal(hz_st_read(f, "index", HZ_ST_I64, 2, (int64_t[]){2, 3}, idx, err, sizeof err),
                     0);
    assert_memory_equal(idx, iwant, sizeof idx);
    assert_int_equal(hz_st_read_f32(f, "index", 2, (int64_t[]){2, 3}, w, err, sizeof err),
                     HZ_EFORMAT);
    assert_non_null(strstr(err, "dtype I64, expected F32"));

    const hz_st_tensor *e = hz_st_find(f, "empty");
    assert_non_null(e);
    assert_int_equal(e->nbytes, 0);
    assert_int_equal(e->shape[0], 0);
    assert_int_equal(e->shape[1], 4);

    assert_string_equal(hz_st_meta(f, "format"), "pt");
    assert_string_equal(hz_st_meta(f, "model"), "unit-test");
    assert_non_null(hz_st_meta(f, "note"));
    hz_st_close(f);
}

static void test_dtype_names(void **state)
{
    assert_string_equal(hz_st_dtype_name(HZ_ST_BF16), "BF16");
    assert_int_equal(hz_st_dtype_size(HZ_ST_F64), 8);
    assert_int_equal(hz_st_dtype_size(HZ_ST_BOOL), 1);
    assert_null(hz_st_dtype_name(HZ_ST_NDTYPES));
    assert_int_equal(hz_st_dtype_size((hz_st_dtype)-1), 0);
}

int main(void)
{
    enum { NBAD = sizeof bad_cases / sizeof *bad_cases };
    static struct CMUnitTest tests[NBAD + 16];
    size_t n = 0;
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_round_trip_dtypes_scalars_empty_metadata);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_empty_file_round_trip);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_writer_refusals);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_failed_save_cleans_up);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_crafted_good_files_accepted);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_truncation_and_corruption_never_crash);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_open_refuses_missing_and_truncated_files);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_read_f32_checks_name_dtype_shape);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_reads_python_written_file_exactly);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_dtype_names);
    for (size_t i = 0; i < NBAD; i++) {
        tests[n] = (struct CMUnitTest)cmocka_unit_test(run_bad_case);
        tests[n].name = bad_cases[i].name;
        tests[n].initial_state = (void *)&bad_cases[i];
        n++;
    }
    return _cmocka_run_group_tests("safetensors", tests, n, NULL, NULL);
}
