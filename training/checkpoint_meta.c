/* checkpoint_meta.c — the JSON metadata `horizon train` writes beside a checkpoint's tensors
 * (variables, scaler) and the file hash that names a model version (checkpoint_meta.h). */
#include "training/checkpoint_meta.h"

#include <jansson.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hz.h"

void hz_names_free(char **names, int n)
{
    if (!names)
        return;
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

char *hz_meta_variables_json(char *const *names, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_string(names[i]));
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

char *hz_meta_scaler_json(const hz_scaler *s)
{
    json_t *o = json_object(), *m = json_array(), *sd = json_array();
    for (int c = 0; c < s->cols; c++) {
        json_array_append_new(m, json_real(s->mean[c]));
        json_array_append_new(sd, json_real(s->std[c]));
    }
    json_object_set_new(o, "mean", m);
    json_object_set_new(o, "std", sd);
    int any = 0;
    for (int c = 0; c < s->cols; c++)
        any |= s->log1p[c];
    if (any) { /* absent in checkpoints that model every column as it is */
        json_t *l = json_array();
        for (int c = 0; c < s->cols; c++)
            json_array_append_new(l, json_integer(s->log1p[c]));
        json_object_set_new(o, "log1p", l);
    }
    char *r = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(o);
    return r;
}

/* A scaler divides by std: each must be finite and positive, each mean finite (training
 * writes std 1 for a constant variable, training/dataset.c). */
static int check_scaler(const hz_scaler *s, char *const *names, const char *path, char *err,
                        size_t errlen)
{
    for (int i = 0; i < s->cols; i++)
        if (!isfinite(s->mean[i]) || !isfinite(s->std[i]) || s->std[i] <= 0)
            return hz_err(err, errlen, HZ_EFORMAT,
                          "%s: metadata \"scaler\" of variable %s has mean %g and std %g (the "
                          "mean must be finite, the std finite and positive)",
                          path, names[i], s->mean[i], s->std[i]);
    return 0;
}

int hz_meta_scaler_parse(const hz_st_file *f, hz_scaler *s, char ***names, int *n_names, char *err,
                         size_t errlen)
{
    const char *vj = hz_st_meta(f, "variables"), *sj = hz_st_meta(f, "scaler");
    if (!vj || !sj)
        return hz_err(err, errlen, HZ_EFORMAT,
                      "%s: metadata lacks \"variables\" or \"scaler\"; was it written by "
                      "`horizon train`?",
                      hz_st_path(f));
    json_t *v = json_loads(vj, 0, NULL), *sc = json_loads(sj, 0, NULL);
    json_t *mean = json_object_get(sc, "mean"), *sd = json_object_get(sc, "std"),
           *lg = json_object_get(sc, "log1p");
    int n = json_is_array(v) ? (int)json_array_size(v) : -1;
    int rc = 0;
    if (n < 1 || n > HZ_DS_MAXVARS || !json_is_array(mean) || !json_is_array(sd) ||
        (int)json_array_size(mean) != n || (int)json_array_size(sd) != n ||
        (lg && (!json_is_array(lg) || (int)json_array_size(lg) != n))) {
        rc = hz_err(err, errlen, HZ_EFORMAT,
                    "%s: metadata \"variables\" / \"scaler\" are malformed", hz_st_path(f));
    } else {
        s->cols = n;
        *names = calloc((size_t)n, sizeof(char *));
        for (int i = 0; i < n; i++) {
            s->mean[i] = json_number_value(json_array_get(mean, (size_t)i));
            s->std[i] = json_number_value(json_array_get(sd, (size_t)i));
            s->log1p[i] = lg && json_integer_value(json_array_get(lg, (size_t)i)) == 1;
            const char *nm = json_string_value(json_array_get(v, (size_t)i));
            (*names)[i] = strdup(nm ? nm : "?");
        }
        *n_names = n;
        rc = check_scaler(s, *names, hz_st_path(f), err, errlen);
        if (rc) {
            hz_names_free(*names, n);
            *names = NULL;
            *n_names = 0;
        }
    }
    json_decref(v);
    json_decref(sc);
    return rc;
}

char *hz_meta_series_json(char *const *ids, const hz_scaler *sc, int n)
{
    json_t *o = json_object(), *a = json_array(), *m = json_array(), *sd = json_array();
    for (int i = 0; i < n; i++) {
        json_t *mi = json_array(), *si = json_array();
        for (int c = 0; c < sc[i].cols; c++) {
            json_array_append_new(mi, json_real(sc[i].mean[c]));
            json_array_append_new(si, json_real(sc[i].std[c]));
        }
        json_array_append_new(a, json_string(ids[i]));
        json_array_append_new(m, mi);
        json_array_append_new(sd, si);
    }
    json_object_set_new(o, "series", a);
    json_object_set_new(o, "mean", m);
    json_object_set_new(o, "std", sd);
    json_object_set_new(o, "unseen", json_string("first_window"));
    char *r = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(o);
    return r;
}

void hz_series_stats_free(hz_series_stats *s)
{
    if (!s)
        return;
    hz_names_free(s->ids, s->n);
    free(s->mean);
    free(s->std);
    memset(s, 0, sizeof *s);
}

/* Row i of a [n][cols] JSON array of numbers into out; 0 or -1 when malformed. */
/* Row i of a, cols finite numbers (positive ones when positive: a std). */
static int num_row(json_t *a, size_t i, int cols, double *out, int positive)
{
    json_t *r = json_array_get(a, i);
    if (!json_is_array(r) || (int)json_array_size(r) != cols)
        return -1;
    for (int c = 0; c < cols; c++) {
        json_t *v = json_array_get(r, (size_t)c);
        if (!json_is_number(v))
            return -1;
        out[c] = json_number_value(v);
        if (!isfinite(out[c]) || (positive && out[c] <= 0))
            return -1;
    }
    return 0;
}

/* Sorts s's series by id (insertion of an index order; ids are few thousand at most). */
static void sort_series(hz_series_stats *s)
{
    size_t C = (size_t)s->cols;
    double tm[HZ_DS_MAXVARS], ts[HZ_DS_MAXVARS];
    for (int i = 1; i < s->n; i++) {
        char *id = s->ids[i];
        memcpy(tm, s->mean + i * C, C * sizeof *tm);
        memcpy(ts, s->std + i * C, C * sizeof *ts);
        int j = i - 1;
        for (; j >= 0 && strcmp(s->ids[j], id) > 0; j--) {
            s->ids[j + 1] = s->ids[j];
            memcpy(s->mean + (j + 1) * C, s->mean + j * C, C * sizeof *tm);
            memcpy(s->std + (j + 1) * C, s->std + j * C, C * sizeof *ts);
        }
        s->ids[j + 1] = id;
        memcpy(s->mean + (j + 1) * C, tm, C * sizeof *tm);
        memcpy(s->std + (j + 1) * C, ts, C * sizeof *ts);
    }
}

int hz_meta_series_parse(const hz_st_file *f, int cols, hz_series_stats *s, char *err,
                         size_t errlen)
{
    memset(s, 0, sizeof *s);
    const char *js = hz_st_meta(f, "series_scaler");
    if (!js)
        return 0;
    json_t *o = json_loads(js, 0, NULL);
    json_t *a = json_object_get(o, "series"), *m = json_object_get(o, "mean"),
           *sd = json_object_get(o, "std");
    size_t n = json_array_size(a);
    int rc = 0;
    if (!json_is_array(a) || !json_is_array(m) || !json_is_array(sd) || json_array_size(m) != n ||
        json_array_size(sd) != n || cols < 1 || cols > HZ_DS_MAXVARS)
        rc = HZ_EFORMAT;
    s->n = (int)n;
    s->cols = cols;
    s->ids = rc ? NULL : calloc(n + 1, sizeof *s->ids);
    s->mean = rc ? NULL : malloc((n * cols + 1) * sizeof *s->mean);
    s->std = rc ? NULL : malloc((n * cols + 1) * sizeof *s->std);
    if (!rc && (!s->ids || !s->mean || !s->std))
        rc = HZ_ENOMEM;
    for (size_t i = 0; i < n && !rc; i++) {
        const char *id = json_string_value(json_array_get(a, i));
        if (!id || num_row(m, i, cols, s->mean + i * cols, 0) ||
            num_row(sd, i, cols, s->std + i * cols, 1))
            rc = HZ_EFORMAT;
        else if (!(s->ids[i] = strdup(id)))
            rc = HZ_ENOMEM;
    }
    json_decref(o);
    if (rc) {
        hz_series_stats_free(s);
        return hz_err(err, errlen, rc, "%s: metadata \"series_scaler\" is %s", hz_st_path(f),
                      rc == HZ_ENOMEM ? "too large for memory" : "malformed");
    }
    sort_series(s);
    return 0;
}

int hz_series_stats_find(const hz_series_stats *s, const char *id)
{
    int lo = 0, hi = s->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(s->ids[mid], id);
        if (!c)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

void hz_series_stats_apply(const hz_series_stats *s, int i, hz_scaler *sc)
{
    for (int c = 0; c < s->cols && c < sc->cols; c++) {
        sc->mean[c] = s->mean[(size_t)i * s->cols + c];
        sc->std[c] = s->std[(size_t)i * s->cols + c];
    }
}

int hz_file_sha256(const char *path, char hex[65], char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return hz_err(err, errlen, HZ_EIO, "%s: cannot open to hash", path);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    unsigned char buf[65536], md[32];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        EVP_DigestUpdate(ctx, buf, n);
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx, md, &len);
    EVP_MD_CTX_free(ctx);
    fclose(f);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return 0;
}
