/* test_checkpoint.c — what a checkpoint must be before it serves (models/checkpoint.c,
 * training/checkpoint_meta.c): a NaN weight (neither saved nor loaded), a "config" claiming a
 * window of 10^9 steps (refused before anything that size is allocated) and a scaler with a zero or
 * NaN std are refused on load with a message naming the file and what is wrong; a sound file loads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/hz.h"
#include "models/checkpoint.h"
#include "training/checkpoint_meta.h"
#include "tests/unit/tmpdir.h"

/* A tiny iTransformer (24 steps in, 4 out, one variable). */
static hz_model *tiny(void)
{
    hz_model_conf mc;
    hz_model_conf_defaults(&mc, HZ_MODEL_ITRANSFORMER);
    mc.seq_len = 24;
    mc.label_len = 12;
    mc.pred_len = 4;
    mc.enc_in = mc.c_out = 1;
    mc.n_marks = 4;
    mc.d_model = 16;
    mc.n_heads = 2;
    mc.e_layers = 1;
    mc.d_ff = 32;
    hz_model *m = NULL;
    char err[HZ_ERRLEN];
    assert_int_equal(hz_model_create(&mc, &m, err, sizeof err), 0);
    return m;
}

/* Saves m as NAME in the scratch directory with the scaler JSON given; returns the path. */
static const char *save(hz_model *m, const char *name, const char *scaler)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    const char *meta[2][2] = {{"variables", "[\"power\"]"}, {"scaler", scaler}};
    char err[HZ_ERRLEN];
    assert_int_equal(hz_ckpt_save(m, path, meta, 2, NULL, 0, err, sizeof err), 0);
    return path;
}

static void test_sound_file_loads(void **state)
{
    hz_model *m = tiny();
    const char *p = save(m, "ok.safetensors", "{\"mean\":[10.0],\"std\":[2.0]}");
    hz_model_free(m);
    hz_model *m2 = NULL;
    hz_st_file *f = NULL;
    char err[HZ_ERRLEN];
    assert_int_equal(hz_ckpt_load(p, &m2, &f, err, sizeof err), 0);
    hz_scaler sc;
    char **names;
    int n;
    assert_int_equal(hz_meta_scaler_parse(f, &sc, &names, &n, err, sizeof err), 0);
    hz_names_free(names, n);
    hz_st_close(f);
    hz_model_free(m2);
}

/* m written as hz_ckpt_save would, without its refusal of non-finite weights: a file from
 * elsewhere (another tool, a corrupted copy). */
static const char *save_raw(const hz_model *m, const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    char err[HZ_ERRLEN];
    hz_st_writer *w = hz_st_writer_new();
    assert_non_null(w);
    for (size_t i = 0; i < m->params.len; i++) {
        const hz_tensor *t = m->params.t[i];
        int64_t shape[HZ_MAXDIM];
        for (int d = 0; d < t->ndim; d++)
            shape[d] = t->shape[d];
        assert_int_equal(
            hz_st_writer_add(w, t->name, HZ_ST_F32, t->ndim, shape, t->data, err, sizeof err), 0);
    }
    char *conf = hz_model_conf_to_json(&m->conf);
    assert_int_equal(hz_st_writer_meta(w, "config", conf, err, sizeof err), 0);
    free(conf);
    assert_int_equal(hz_st_writer_save(w, path, err, sizeof err), 0);
    hz_st_writer_free(w);
    return path;
}

static void test_nan_weight_refused(void **state)
{
    hz_model *m = tiny();
    m->params.t[1]->data[3] = NAN;
    char err[HZ_ERRLEN];
    char path[512];
    snprintf(path, sizeof path, "%s/never.safetensors", tmpdir);
    const char *meta[1][2] = {{"variables", "[\"power\"]"}};
    /* not written: a diverged training leaves no file that forecasts NaN */
    assert_int_equal(hz_ckpt_save(m, path, meta, 1, NULL, 0, err, sizeof err), HZ_EFORMAT);
    assert_non_null(strstr(err, "non-finite weight"));
    assert_int_equal(access(path, F_OK), -1);
    /* not loaded: a file with one from elsewhere */
    const char *p = save_raw(m, "nan.safetensors");
    hz_model_free(m);
    hz_model *m2 = NULL;
    assert_int_equal(hz_ckpt_load(p, &m2, NULL, err, sizeof err), HZ_EFORMAT);
    assert_null(m2);
    assert_non_null(strstr(err, "non-finite weight"));
    assert_non_null(strstr(err, "nan.safetensors"));
}

static void test_huge_config_refused_before_allocating(void **state)
{
    hz_model *m = tiny();
    m->conf.seq_len = 1000000000; /* the weights stay those of 24 steps */
    const char *p = save(m, "huge.safetensors", "{\"mean\":[10.0],\"std\":[2.0]}");
    m->conf.seq_len = 24;
    hz_model_free(m);
    hz_model *m2 = NULL;
    char err[HZ_ERRLEN];
    assert_int_equal(hz_ckpt_load(p, &m2, NULL, err, sizeof err), HZ_EFORMAT);
    assert_null(m2);
    assert_non_null(strstr(err, "seq_len 1000000000"));
    assert_non_null(strstr(err, "before allocating"));

    m = tiny();
    m->conf.d_model = 1 << 20; /* wider than any tensor of the file */
    p = save(m, "wide.safetensors", "{\"mean\":[10.0],\"std\":[2.0]}");
    m->conf.d_model = 16;
    hz_model_free(m);
    assert_int_equal(hz_ckpt_load(p, &m2, NULL, err, sizeof err), HZ_EFORMAT);
    assert_non_null(strstr(err, "d_model 1048576"));
}

static void test_bad_scaler_refused(void **state)
{
    const char *bad[] = {"{\"mean\":[10.0],\"std\":[0.0]}", "{\"mean\":[10.0],\"std\":[-1.0]}",
                         "{\"mean\":[1e999],\"std\":[1.0]}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        hz_model *m = tiny();
        const char *p = save(m, "sc.safetensors", bad[i]);
        hz_model_free(m);
        hz_st_file *f = NULL;
        char err[HZ_ERRLEN];
        assert_int_equal(hz_st_open(p, &f, err, sizeof err), 0);
        hz_scaler sc;
        char **names = NULL;
        int n = 0;
        int rc = hz_meta_scaler_parse(f, &sc, &names, &n, err, sizeof err);
        hz_st_close(f);
        assert_int_equal(rc, HZ_EFORMAT);
        assert_null(names);
        assert_non_null(strstr(err, i < 2 ? "variable power" : "\"scaler\""));
    }
}

static int setup(void **state)
{
    return tmpdir_make("ckpt");
}

static int teardown(void **state)
{
    return tmpdir_remove();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sound_file_loads),
        cmocka_unit_test(test_nan_weight_refused),
        cmocka_unit_test(test_huge_config_refused_before_allocating),
        cmocka_unit_test(test_bad_scaler_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
