/* checkpoint_meta.c — the JSON metadata `horizon train` writes beside a checkpoint's tensors
 * (variables, scaler) and the file hash that names a model version (checkpoint_meta.h). */
#include "training/checkpoint_meta.h"

#include <jansson.h>
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
    }
    json_decref(v);
    json_decref(sc);
    return rc;
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
