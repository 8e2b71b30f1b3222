/* fuzz_safetensors.c — fuzz targets "safetensors" and "meta": a checkpoint file through the
 * reader (models/safetensors.c hz_st_open_mem) and every tensor it lists; then, as
 * `horizon eval / forecast` and horizond do with a checkpoint, its metadata: the scaler and
 * variables (training/checkpoint_meta.c hz_meta_scaler_parse), a pooled model's per-series
 * scalers (hz_meta_series_parse) and the model configuration (models/checkpoint.c
 * hz_model_conf_from_json), and with a small configuration the model it describes loaded
 * from the file's tensors (hz_model_create, hz_ckpt_load_weights) and run once on a window
 * of zeros, as the daemon would.  "meta" feeds lines of JSON straight into those metadata
 * fields. */
#include <jansson.h>
#include <string.h>

#include "common/hz.h"
#include "fuzz/fuzz.h"
#include "models/checkpoint.h"
#include "models/safetensors.h"
#include "training/checkpoint_meta.h"

/* Tensors larger than this are not copied out (the reader validated their extent). */
#define MAX_READ (1u << 20)

/* A configuration small enough to build the model in a fuzzing loop; fields outside the
 * model's own checks (zero, negative) are let through on purpose. */
static int small_conf(const hz_model_conf *c)
{
    const int v[] = {c->seq_len,  c->label_len, c->pred_len, c->enc_in,    c->c_out,
                     c->out_col,  c->n_marks,   c->d_model,  c->n_heads,   c->e_layers,
                     c->d_layers, c->d_ff,      c->factor,   c->activation};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        if (v[i] < -2 || v[i] > 32)
            return 0;
    return 1;
}

/* One forward of a batch of one window (zeros) through m, as the daemon runs a model it
 * loaded: a configuration hz_model_create accepted must give [1, pred_len, c_out]. */
static void forward_once(hz_model *m)
{
    const hz_model_conf *c = &m->conf;
    int L = c->seq_len, D = c->label_len + c->pred_len, C = c->enc_in, F = c->n_marks;
    size_t nx = (size_t)L * (size_t)C, nd = D > 0 ? (size_t)D * (size_t)C : 0;
    size_t nm = F > 0 ? (size_t)L * (size_t)F : 0, nmd = F > 0 && D > 0 ? (size_t)D * (size_t)F : 0;
    hz_real *buf = calloc(nx + nd + nm + nmd + 1, sizeof *buf);
    HZ_FUZZ_CHECK(buf != NULL);
    hz_model_input in = {
        .batch = 1,
        .x = buf,
        .x_mark = F > 0 ? buf + nx + nd : NULL,
        .x_dec = buf + nx,
        .x_mark_dec = F > 0 ? buf + nx + nd + nm : NULL,
    };
    hz_ctx ctx;
    hz_ctx_init(&ctx, 1 << 20, 0);
    hz_tensor *y = hz_model_forward(m, &ctx, &in);
    HZ_FUZZ_CHECK(y != NULL);
    HZ_FUZZ_CHECK(y->n == (int64_t)c->pred_len * c->c_out);
    hz_ctx_free(&ctx);
    free(buf);
}

void hz_fuzz_checkpoint_meta(const struct hz_st_file *f)
{
    char err[HZ_ERRLEN];
    hz_scaler sc;
    memset(&sc, 0, sizeof sc);
    char **names = NULL;
    int n_names = 0;
    int cols = 1;
    if (hz_meta_scaler_parse(f, &sc, &names, &n_names, err, sizeof err) == 0) {
        HZ_FUZZ_CHECK(n_names == sc.cols && sc.cols >= 1 && sc.cols <= HZ_DS_MAXVARS);
        for (int i = 0; i < n_names; i++)
            HZ_FUZZ_CHECK(names[i] != NULL);
        cols = sc.cols;
        hz_names_free(names, n_names);
    }
    hz_series_stats ss;
    if (hz_meta_series_parse(f, cols, &ss, err, sizeof err) == 0) {
        for (int i = 0; i < ss.n; i++) {
            HZ_FUZZ_CHECK(hz_series_stats_find(&ss, ss.ids[i]) >= 0);
            if (i)
                HZ_FUZZ_CHECK(strcmp(ss.ids[i - 1], ss.ids[i]) <= 0);
        }
        if (ss.n > 0) {
            sc.cols = cols;
            hz_series_stats_apply(&ss, ss.n - 1, &sc);
        }
        HZ_FUZZ_CHECK(hz_series_stats_find(&ss, "\x01no such series") < 0);
        hz_series_stats_free(&ss);
    }
    const char *json = hz_st_meta(f, "config");
    hz_model_conf conf;
    if (json && hz_model_conf_from_json(json, &conf, err, sizeof err) == 0 && small_conf(&conf)) {
        hz_model *m = NULL;
        if (hz_model_create(&conf, &m, err, sizeof err) == 0) {
            (void)hz_ckpt_load_weights(m, f, err, sizeof err);
            forward_once(m);
            hz_model_free(m);
        }
    }
}

int hz_fuzz_safetensors(const uint8_t *data, size_t size)
{
    hz_st_file *f = NULL;
    char err[HZ_ERRLEN];
    err[0] = 0;
    int rc = hz_st_open_mem(data, size, "fuzz.safetensors", &f, err, sizeof err);
    if (rc) {
        HZ_FUZZ_CHECK(f == NULL && err[0]);
        return 0;
    }
    static unsigned char buf[MAX_READ];
    for (size_t i = 0; i < hz_st_count(f); i++) {
        const hz_st_tensor *t = hz_st_at(f, i);
        HZ_FUZZ_CHECK(t != NULL && t->name != NULL);
        HZ_FUZZ_CHECK(hz_st_find(f, t->name) == t);
        HZ_FUZZ_CHECK(t->ndim >= 0 && t->ndim <= HZ_ST_MAX_DIMS);
        size_t count = 1;
        for (int d = 0; d < t->ndim; d++) {
            HZ_FUZZ_CHECK(t->shape[d] >= 0);
            count *= (size_t)t->shape[d];
        }
        HZ_FUZZ_CHECK(count * hz_st_dtype_size(t->dtype) == t->nbytes);
        if (t->nbytes <= sizeof buf) {
            HZ_FUZZ_CHECK(
                hz_st_read(f, t->name, t->dtype, t->ndim, t->shape, buf, err, sizeof err) == 0);
            HZ_FUZZ_CHECK(t->nbytes == 0 || memcmp(buf, t->data, t->nbytes) == 0);
        }
        /* a read with another shape is refused, never copied */
        int64_t wrong[1] = {t->ndim ? t->shape[0] ^ 1 : 1};
        HZ_FUZZ_CHECK(hz_st_read(f, t->name, t->dtype, 1, wrong, buf, err, sizeof err) != 0);
    }
    HZ_FUZZ_CHECK(hz_st_at(f, hz_st_count(f)) == NULL);
    (void)hz_st_meta(f, "format");
    hz_fuzz_checkpoint_meta(f);
    hz_st_close(f);
    return 0;
}

/* "meta": up to four lines of text become __metadata__ "variables", "scaler",
 * "series_scaler" and "config" of an otherwise empty checkpoint (an empty line: absent). */
int hz_fuzz_meta(const uint8_t *data, size_t size)
{
    static const char *const keys[] = {"variables", "scaler", "series_scaler", "config"};
    json_t *meta = json_object();
    size_t start = 0;
    for (int k = 0; k < 4 && start < size; k++) {
        const uint8_t *nl = memchr(data + start, '\n', size - start);
        size_t end = nl ? (size_t)(nl - data) : size;
        if (end > start) {
            /* text that is not UTF-8 or holds a NUL: the reader refuses such a header */
            json_t *s = memchr(data + start, 0, end - start)
                            ? NULL
                            : json_stringn((const char *)data + start, end - start);
            if (!s) {
                json_decref(meta);
                return 0;
            }
            json_object_set_new(meta, keys[k], s);
        }
        start = end + 1;
    }
    json_t *root = json_object();
    json_object_set_new(root, "__metadata__", meta);
    char *head = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    HZ_FUZZ_CHECK(head != NULL);
    size_t hlen = strlen(head);
    unsigned char *file = malloc(8 + hlen);
    HZ_FUZZ_CHECK(file != NULL);
    for (int i = 0; i < 8; i++)
        file[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    memcpy(file + 8, head, hlen);
    free(head);
    hz_st_file *f = NULL;
    char err[HZ_ERRLEN];
    int rc = hz_st_open_mem(file, 8 + hlen, "fuzz-meta.safetensors", &f, err, sizeof err);
    free(file);
    if (rc != 0)
        fprintf(stderr, "meta: %s\n", err);
    HZ_FUZZ_CHECK(rc == 0);
    hz_fuzz_checkpoint_meta(f);
    hz_st_close(f);
    return 0;
}
