/* test_itransformer.c — parity with the PyTorch reference (docs/MODELS.md §6):
 * tests/fixtures/itransformer_small, exported from the PyTorch reference implementation
 * (outside the repository, at $HZ_TORCH_REF) by `export_fixture.py itransformer --seed 0`:
 * the eval forward matches to 1e-4 relative, and one training step's loss and every
 * parameter gradient to 1e-3 (compare.py's rule); timeF marks computed in C from the
 * fixture's timestamps equal the reference's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <unistd.h>

#include "models/checkpoint.h"
#include "training/dataset.h"
#include "common/hz.h"
#include "models/layers.h"
#include "engine/ops.h"
#include "parity.h"

#define FIX "tests/fixtures/itransformer_small"

static hz_model *model_from_fixture_ms(fixture *fx, double dropout, int out_col);

static hz_model *model_from_fixture(fixture *fx, double dropout)
{
    return model_from_fixture_ms(fx, dropout, -1);
}

/* out_col >= 0: the same weights forecasting variate out_col alone (features MS). */
static hz_model *model_from_fixture_ms(fixture *fx, double dropout, int out_col)
{
    json_error_t je;
    json_t *cfg = json_loads(fx->config, 0, &je);
    assert_non_null(cfg);
    json_t *k = json_object_get(cfg, "constructor"), *fxc = json_object_get(cfg, "fixture");
    hz_model_conf c;
    hz_model_conf_defaults(&c, HZ_MODEL_ITRANSFORMER);
    c.seq_len = (int)json_integer_value(json_object_get(k, "seq_len"));
    c.pred_len = (int)json_integer_value(json_object_get(k, "pred_len"));
    c.d_model = (int)json_integer_value(json_object_get(k, "d_model"));
    c.n_heads = (int)json_integer_value(json_object_get(k, "n_heads"));
    c.e_layers = (int)json_integer_value(json_object_get(k, "e_layers"));
    c.d_ff = (int)json_integer_value(json_object_get(k, "d_ff"));
    c.use_norm = json_is_true(json_object_get(k, "use_norm")) ||
                 json_integer_value(json_object_get(k, "use_norm")) == 1;
    c.enc_in = c.c_out = (int)json_integer_value(json_object_get(fxc, "n_vars"));
    c.n_marks = 4;
    c.dropout = dropout;
    if (out_col >= 0) {
        c.c_out = 1;
        c.out_col = out_col;
    }
    json_decref(cfg);
    hz_model *m;
    char err[HZ_ERRLEN];
    int rc = hz_model_create(&c, &m, err, sizeof err);
    if (rc)
        fail_msg("%s", err);
    rc = hz_ckpt_load_weights(m, fx->weights, err, sizeof err);
    if (rc)
        fail_msg("%s", err);
    return m;
}

static void test_forward_matches_reference(void **state)
{
    fixture fx;
    assert_int_equal(fixture_open(&fx, FIX), 0);
    hz_model *m = model_from_fixture(&fx, 0.1);
    size_t nx = 0;
    const float *x = fx_f32(fx.inputs, "x_enc", &nx);
    const float *xm = fx_f32(fx.inputs, "x_mark_enc", NULL);
    assert_non_null(x);
    hz_model_input in = {.batch = 3, .x = x, .x_mark = xm};
    hz_ctx c;
    hz_ctx_init(&c, 1 << 20, 0);
    hz_tensor *y = hz_model_forward(m, &c, &in);
    size_t ne = 0;
    const float *e = fx_f32(fx.expected, "output", &ne);
    assert_int_equal((size_t)y->n, ne);
    assert_true(fx_compare("output", y->data, e, ne, 1e-4, 0) <= 1);
    /* a second forward after reset allocates nothing new */
    uint64_t before = c.arena.n_mallocs;
    hz_ctx_reset(&c);
    y = hz_model_forward(m, &c, &in);
    assert_int_equal(c.arena.n_mallocs, before);
    assert_true(fx_compare("output (2nd)", y->data, e, ne, 1e-4, 0) <= 1);
    hz_ctx_free(&c);
    hz_model_free(m);
    fixture_close(&fx);
}

/* features MS as the official code computes it (every variate forecast, the target's
 * kept): each variate's column of the reference output, from a model forecasting it alone. */
static void test_ms_output_is_the_reference_column(void **state)
{
    (void)state;
    fixture fx;
    assert_int_equal(fixture_open(&fx, FIX), 0);
    const float *x = fx_f32(fx.inputs, "x_enc", NULL);
    const float *xm = fx_f32(fx.inputs, "x_mark_enc", NULL);
    size_t ne = 0;
    const float *e = fx_f32(fx.expected, "output", &ne);
    hz_model *full = model_from_fixture(&fx, 0.1);
    int N = full->conf.enc_in, P = full->conf.pred_len;
    hz_model_free(full);
    for (int k = 0; k < N; k += N - 1) { /* the first and the last (the papers' target) */
        hz_model *m = model_from_fixture_ms(&fx, 0.1, k);
        hz_model_input in = {.batch = 3, .x = x, .x_mark = xm};
        hz_ctx c;
        hz_ctx_init(&c, 1 << 20, 0);
        hz_tensor *y = hz_model_forward(m, &c, &in);
        assert_int_equal(y->n, 3 * P);
        float col[3 * 1024];
        assert_true(3 * P <= 3 * 1024);
        for (int i = 0; i < 3 * P; i++)
            col[i] = e[(size_t)i * N + k];
        assert_true(fx_compare("MS output", y->data, col, (size_t)(3 * P), 1e-4, 0) <= 1);
        hz_ctx_free(&c);
        hz_model_free(m);
    }
    (void)ne;
    fixture_close(&fx);
}

static void test_train_step_gradients_match_reference(void **state)
{
    fixture fx;
    assert_int_equal(fixture_open(&fx, FIX), 0);
    hz_model *m = model_from_fixture(&fx, 0.0); /* the reference step runs without dropout */
    const float *x = fx_f32(fx.inputs, "x_enc", NULL);
    const float *xm = fx_f32(fx.inputs, "x_mark_enc", NULL);
    size_t nt;
    const float *target = fx_f32(fx.inputs, "target", &nt);
    hz_model_input in = {.batch = 3, .x = x, .x_mark = xm};
    hz_ctx c;
    hz_ctx_init(&c, 1 << 20, 0);
    c.grad_on = 1;
    c.training = 1;
    hz_tensor *y = hz_model_forward(m, &c, &in);
    hz_tensor *t = hz_tensor_wrap(&c, (float *)target, y->ndim, y->shape);
    hz_tensor *loss = hz_mse_loss(&c, y, t);
    hz_params_zero_grad(&m->params);
    hz_backward(&c, loss);
    const float *eloss = fx_f32(fx.expected, "train.loss", NULL);
    assert_true(fx_compare("train.loss", loss->data, eloss, 1, 1e-4, 0) <= 1);
    /* G: largest max|e| over all expected gradients */
    double G = 0;
    for (size_t i = 0; i < m->params.len; i++) {
        char name[300];
        snprintf(name, sizeof name, "grad.%s", m->params.t[i]->name);
        size_t n = 0;
        const float *e = fx_f32(fx.expected, name, &n);
        if (!e)
            continue;
        for (size_t j = 0; j < n; j++)
            if (fabs(e[j]) > G)
                G = fabs(e[j]);
    }
    int compared = 0, bad = 0;
    for (size_t i = 0; i < m->params.len; i++) {
        hz_tensor *p = m->params.t[i];
        char name[300];
        snprintf(name, sizeof name, "grad.%s", p->name);
        size_t n = 0;
        const float *e = fx_f32(fx.expected, name, &n);
        assert_non_null(e);
        assert_int_equal((size_t)p->n, n);
        if (fx_compare(name, p->grad, e, n, 1e-3, 1e-3 * G) > 1)
            bad++;
        compared++;
    }
    printf("  %d gradients compared, %d mismatched (G = %.3g)\n", compared, bad, G);
    assert_int_equal(bad, 0);
    assert_int_equal(compared, 38);
    hz_ctx_free(&c);
    hz_model_free(m);
    fixture_close(&fx);
}

static void test_timef_marks_match_reference(void **state)
{
    fixture fx;
    assert_int_equal(fixture_open(&fx, FIX), 0);
    const hz_st_tensor *ts = hz_st_find(fx.inputs, "ts_enc");
    assert_non_null(ts);
    size_t n = ts->nbytes / 8, nm;
    const float *marks = fx_f32(fx.inputs, "x_mark_enc", &nm);
    assert_int_equal(nm, n * 4);
    for (size_t i = 0; i < n; i++) {
        int64_t s;
        memcpy(&s, (const char *)ts->data + 8 * i, 8);
        float f[4];
        hz_timef_hour(s * 1000, f);
        for (int k = 0; k < 4; k++)
            assert_float_equal(f[k], marks[i * 4 + k], 1e-6);
    }
    fixture_close(&fx);
}

static void test_checkpoint_round_trip(void **state)
{
    fixture fx;
    assert_int_equal(fixture_open(&fx, FIX), 0);
    hz_model *m = model_from_fixture(&fx, 0.1);
    char dir[] = "/tmp/hz_ckpt_XXXXXX", path[300], err[HZ_ERRLEN];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    const char *meta[1][2] = {{"variables", "[\"a\",\"b\",\"c\",\"d\",\"e\"]"}};
    assert_int_equal(hz_ckpt_save(m, path, meta, 1, NULL, 0, err, sizeof err), 0);
    hz_model *m2;
    hz_st_file *f;
    int rc = hz_ckpt_load(path, &m2, &f, err, sizeof err);
    if (rc)
        fail_msg("%s", err);
    assert_string_equal(hz_st_meta(f, "variables"), "[\"a\",\"b\",\"c\",\"d\",\"e\"]");
    assert_int_equal(m2->params.numel, m->params.numel);
    assert_memory_equal(m2->params.data, m->params.data, (size_t)m->params.numel * 4);
    assert_int_equal(m2->conf.d_model, m->conf.d_model);
    hz_st_close(f);
    hz_model_free(m2);
    /* a shape that does not match is refused with the tensor's name */
    m->conf.d_ff = 48;
    hz_model *m3;
    assert_int_equal(hz_model_create(&m->conf, &m3, err, sizeof err), 0);
    rc = hz_ckpt_load_weights(m3, fx.weights, err, sizeof err);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(err, "conv1.weight"));
    hz_model_free(m3);
    /* a configuration from a file: an integer beyond int is refused, not truncated (2^32 + 4
     * would have read as 4), and so are a negative d_ff and a dropout above 1 */
    hz_model_conf c;
    assert_int_equal(hz_model_conf_from_json("{\"kind\":\"itransformer\",\"d_model\":4294967300}",
                                             &c, err, sizeof err),
                     HZ_EFORMAT);
    assert_non_null(strstr(err, "d_model"));
    assert_int_equal(
        hz_model_conf_from_json("{\"kind\":\"itransformer\",\"d_ff\":-1}", &c, err, sizeof err), 0);
    assert_int_equal(hz_model_create(&c, &m3, err, sizeof err), HZ_EINVAL);
    /* a dropout that is no probability (hz_dropout asserts it in every forward) */
    assert_int_equal(
        hz_model_conf_from_json("{\"kind\":\"itransformer\",\"dropout\":5.1}", &c, err, sizeof err),
        HZ_EFORMAT);
    unlink(path);
    rmdir(dir);
    hz_model_free(m);
    fixture_close(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_matches_reference),
        cmocka_unit_test(test_ms_output_is_the_reference_column),
        cmocka_unit_test(test_train_step_gradients_match_reference),
        cmocka_unit_test(test_timef_marks_match_reference),
        cmocka_unit_test(test_checkpoint_round_trip),
    };
    return cmocka_run_group_tests_name("itransformer", tests, NULL, NULL);
}
