/* test_forecaster.c — pipeline/forecaster.c: one forecast per ready event (also inside a burst
 * of one series' points), issue/target times, steps, every level's interval and model id;
 * batching does not change the numbers; the residual check flags a point far outside its
 * interval and not one on its forecast; the same stream checked in a burst (batches of 64)
 * and paced (a forward after every reading) gives identical flags and intervals; a checkpoint
 * with more outputs than variable names is refused.  A small iTransformer checkpoint is
 * written for the test. */
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

#include "models/checkpoint.h"
#include "config/config.h"
#include "pipeline/forecaster.h"
#include "training/calibrate.h"
#include "training/prepare.h"

#define L   24
#define H   4
#define PER 60000

typedef struct fixture {
    char dir[64], yaml[128], ckpt[128];
    hz_config *cfg;
} fixture;

/* Writes a tiny checkpoint (fresh weights, scaler mean 10 std 2, the default interval grid
 * with a typical local scale of 0.5 z-units) and a config whose batch.max is bmax. */
static void setup_files(fixture *fx, int bmax)
{
    snprintf(fx->dir, sizeof fx->dir, "/tmp/hz_fc_XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->ckpt, sizeof fx->ckpt, "%s/m.safetensors", fx->dir);
    snprintf(fx->yaml, sizeof fx->yaml, "%s/c.yaml", fx->dir);
    hz_model_conf mc;
    hz_model_conf_defaults(&mc, HZ_MODEL_ITRANSFORMER);
    mc.seq_len = L;
    mc.label_len = L / 2;
    mc.pred_len = H;
    mc.enc_in = mc.c_out = 1;
    mc.n_marks = 4;
    mc.d_model = 16;
    mc.n_heads = 2;
    mc.e_layers = 1;
    mc.d_ff = 32;
    mc.dropout = 0;
    hz_model *m;
    char err[HZ_ERRLEN];
    assert_int_equal(hz_model_create(&mc, &m, err, sizeof err), 0);
    float calib[H * HZ_IV_GRID];
    for (int s = 0; s < H; s++)
        hz_iv_grid_default(calib + s * HZ_IV_GRID);
    hz_iv_var v = {.std = 1, .lo = NAN, .hi = NAN, .scale_med = 0.5};
    char *cal = hz_calib_meta_json(&v, 1);
    hz_ckpt_extra ex = {HZ_IV_TENSOR, 3, {H, 1, HZ_IV_GRID}, calib};
    const char *meta[5][2] = {{"variables", "[\"power\"]"},
                              {"scaler", "{\"mean\":[10.0],\"std\":[2.0]}"},
                              {"period_ms", "60000"},
                              {"n_marks", "4"},
                              {"calib", cal}};
    assert_int_equal(hz_ckpt_save(m, fx->ckpt, meta, 5, &ex, 1, err, sizeof err), 0);
    free(cal);
    hz_model_free(m);
    FILE *f = fopen(fx->yaml, "w");
    assert_non_null(f);
    fprintf(f,
            "database: %s/hz.sqlite\nmetrics: {listen: \"\"}\npipelines:\n"
            "  - name: p\n"
            "    source: {csv: {path: %s/none.csv}, fields: {time: ts, values: [power]}}\n"
            "    window: {period: 1m, lookback: %d, horizon: %d, stride: 1}\n"
            "    batch: {max: %d}\n"
            "    model: {kind: itransformer, checkpoint: %s}\n"
            "    anomaly: {levels: [0.9, 0.99]}\n"
            "    sinks: [{sqlite: {}}]\n",
            fx->dir, fx->dir, L, H, bmax, fx->ckpt);
    fclose(f);
    assert_int_equal(hz_config_load(fx->yaml, &fx->cfg, err, sizeof err), 0);
}

static void teardown_files(fixture *fx)
{
    hz_config_free(fx->cfg);
    unlink(fx->ckpt);
    unlink(fx->yaml);
    rmdir(fx->dir);
}

typedef struct sink {
    hz_forecast fc[4096];
    size_t n;
    int calls;
    hz_anomaly an[256];
    char sid[256][8]; /* copies of an[].series (the store's strings die with it) */
    size_t n_an;
} sink;

static int collect(void *opaque, const hz_forecast *fc, size_t n, char *err, size_t errlen)
{
    sink *k = opaque;
    assert_true(k->n + n <= 4096);
    memcpy(k->fc + k->n, fc, n * sizeof *fc);
    k->n += n;
    k->calls++;
    return 0;
}

static int collect_an(void *opaque, const hz_anomaly *a, size_t n)
{
    sink *k = opaque;
    assert_true(k->n_an + n <= 256);
    for (size_t i = 0; i < n; i++) {
        k->an[k->n_an] = a[i];
        snprintf(k->sid[k->n_an], sizeof k->sid[0], "%s", a[i].series);
        k->an[k->n_an].series = k->sid[k->n_an];
        k->n_an++;
    }
    return 0;
}

static hz_forecaster_out out_of(sink *k)
{
    return (hz_forecaster_out){collect, collect_an, k, NULL};
}

static double value_at(int t, int s)
{
    return 10 + 3 * sin(6.2831853 * t / 24 + s);
}

/* Pushes n points of series "a" and "b" interleaved one by one, staging after each push as
 * the pipeline does, then runs the partial batch. */
static hz_window_store *stream(hz_forecaster *f, int n, sink *k)
{
    hz_window_opts wo = {PER, L, 1, 1, 0, 0, 0, 0};
    char err[HZ_ERRLEN];
    hz_window_store *ws = hz_window_store_new(&wo, err, sizeof err);
    assert_non_null(ws);
    hz_forecaster_out o = out_of(k);
    for (int t = 0; t < n; t++)
        for (int s = 0; s < 2; s++) {
            double v = value_at(t, s);
            assert_int_equal(hz_window_store_push(ws, s ? "b" : "a", (int64_t)t * PER, &v), 0);
            assert_int_equal(hz_forecaster_stage(f, ws, &o, err, sizeof err), 0);
        }
    assert_int_equal(hz_forecaster_run(f, ws, &o, err, sizeof err), 0);
    return ws;
}

static hz_forecaster *open_fc(fixture *fx)
{
    static const char *const vars[] = {"power"};
    hz_forecaster *f;
    char err[HZ_ERRLEN];
    int rc = hz_forecaster_new(fx->cfg, &fx->cfg->pipelines[0], vars, 1, NULL, NULL, NULL, NULL, &f,
                               err, sizeof err);
    if (rc)
        fail_msg("%s", err);
    return f;
}

static void test_every_ready_window(void **state)
{
    fixture fx;
    setup_files(&fx, 4);
    hz_forecaster *f = open_fc(&fx);
    sink *k = calloc(1, sizeof *k);
    hz_window_store *ws = stream(f, 30, k);
    /* 7 windows per series (points 24..30), H steps each */
    assert_int_equal(k->n, 2 * 7 * H);
    hz_forecaster_stats st = hz_forecaster_stats_get(f);
    assert_int_equal(st.windows, 14);
    assert_int_equal(st.batches, 4); /* 14 windows in batches of 4: 4, 4, 4, 2 */
    int seen[2][7] = {{0}};
    for (size_t i = 0; i < k->n; i++) {
        const hz_forecast *fc = &k->fc[i];
        int s = !strcmp(fc->series, "b");
        int w = (int)(fc->issued_ts / PER) - (L - 1);
        assert_true(w >= 0 && w < 7);
        assert_true(fc->step >= 1 && fc->step <= H);
        assert_int_equal(fc->target_ts, fc->issued_ts + (int64_t)fc->step * PER);
        assert_true(fc->lower < fc->value && fc->value < fc->upper);
        assert_int_equal(fc->nlevels, 2);
        assert_true(fc->levels[0] == 0.9 && fc->levels[1] == 0.99);
        assert_true(fc->lo[1] < fc->lo[0] && fc->lo[0] < fc->value); /* nested */
        assert_true(fc->value < fc->hi[0] && fc->hi[0] < fc->hi[1]);
        assert_true(fc->upper == fc->hi[1] && fc->lower == fc->lo[1]);
        assert_string_equal(fc->variable, "power");
        assert_string_equal(fc->pipeline, "p");
        assert_true(!strncmp(fc->model_id, "p-", 2) && strlen(fc->model_id) == 14);
        seen[s][w]++;
    }
    for (int s = 0; s < 2; s++)
        for (int w = 0; w < 7; w++)
            assert_int_equal(seen[s][w], H);
    hz_window_store_free(ws);
    free(k);
    hz_forecaster_free(f);
    teardown_files(&fx);
}

static void test_batching_invariant(void **state)
{
    sink *k[2];
    for (int b = 0; b < 2; b++) {
        fixture fx;
        setup_files(&fx, b ? 1 : 64);
        hz_forecaster *f = open_fc(&fx);
        k[b] = calloc(1, sizeof *k[b]);
        hz_window_store *ws = stream(f, 30, k[b]);
        hz_window_store_free(ws);
        hz_forecaster_free(f);
        teardown_files(&fx);
    }
    assert_int_equal(k[0]->n, k[1]->n);
    for (size_t i = 0; i < k[0]->n; i++) { /* same order: staging order */
        assert_int_equal(k[0]->fc[i].issued_ts, k[1]->fc[i].issued_ts);
        assert_true(fabs(k[0]->fc[i].value - k[1]->fc[i].value) < 1e-4);
    }
    free(k[0]);
    free(k[1]);
}

static void test_residual_check(void **state)
{
    fixture fx;
    setup_files(&fx, 8);
    hz_forecaster *f = open_fc(&fx);
    sink *k = calloc(1, sizeof *k);
    hz_window_store *ws = stream(f, 26, k);
    /* the latest forecast of "a" was issued at point 25; its step 1 is point 26 */
    double expected = NAN;
    for (size_t i = 0; i < k->n; i++)
        if (!strcmp(k->fc[i].series, "a") && k->fc[i].issued_ts == 25 * PER && k->fc[i].step == 1)
            expected = k->fc[i].value;
    assert_true(isfinite(expected));
    uint32_t a = (uint32_t)hz_window_store_find(ws, "a");
    const char *sid = hz_window_store_series_id(ws, a);
    hz_reading r = {.series = "a", .ts_ms = 26 * PER, .nvars = 1};
    hz_forecaster_out o = out_of(k);
    r.values[0] = expected; /* on the forecast: inside every interval */
    assert_int_equal(hz_forecaster_check(f, a, sid, &r, &o), 0);
    assert_int_equal(k->n_an, 0);
    r.values[0] = expected + 50; /* far outside the 0.99 interval */
    assert_int_equal(hz_forecaster_check(f, a, sid, &r, &o), 0);
    assert_int_equal(k->n_an, 1);
    hz_anomaly *an = &k->an[0];
    assert_string_equal(an->kind, "residual");
    assert_string_equal(an->series, "a");
    assert_int_equal(an->flag, 1);
    assert_true(fabs(an->expected - expected) < 1e-4); /* kept as float */
    assert_true(an->upper < r.values[0]);
    assert_true(an->score > 0.9);
    /* a point no forecast covers (before the issue slot) is not scored */
    r.ts_ms = 10 * PER;
    assert_int_equal(hz_forecaster_check(f, a, sid, &r, &o), 0);
    assert_int_equal(k->n_an, 1);
    hz_window_store_free(ws);
    free(k);
    hz_forecaster_free(f);
    teardown_files(&fx);
}

/* A restart: windows rebuilt without forecasting, then hz_forecaster_prime; the next reading
 * is checked against the same forecast as without the restart, and nothing is written. */
static void test_prime_after_restart(void **state)
{
    fixture fx;
    setup_files(&fx, 8);
    hz_forecaster *f1 = open_fc(&fx), *f2 = open_fc(&fx);
    sink *k1 = calloc(1, sizeof *k1), *k2 = calloc(1, sizeof *k2);
    hz_window_store *ws1 = stream(f1, 30, k1);
    hz_window_opts wo = {PER, L, 1, 1, 0, 0, 0, 0};
    char err[HZ_ERRLEN];
    hz_window_store *ws2 = hz_window_store_new(&wo, err, sizeof err);
    for (int t = 0; t < 30; t++)
        for (int s = 0; s < 2; s++) {
            double v = value_at(t, s);
            assert_int_equal(hz_window_store_push(ws2, s ? "b" : "a", (int64_t)t * PER, &v), 0);
        }
    assert_int_equal(hz_forecaster_prime(f2, ws2, err, sizeof err), 0);
    assert_int_equal(k2->n, 0);
    assert_int_equal(hz_forecaster_stats_get(f2).forecasts, 0);
    hz_reading r = {.series = "a", .ts_ms = 30 * PER, .nvars = 1};
    r.values[0] = 100; /* far outside */
    hz_forecaster_out o1 = out_of(k1), o2 = out_of(k2);
    uint32_t a1 = (uint32_t)hz_window_store_find(ws1, "a"),
             a2 = (uint32_t)hz_window_store_find(ws2, "a");
    assert_int_equal(hz_forecaster_check(f1, a1, "a", &r, &o1), 0);
    assert_int_equal(hz_forecaster_check(f2, a2, "a", &r, &o2), 0);
    assert_int_equal(k1->n_an, 1);
    assert_int_equal(k2->n_an, 1);
    assert_true(fabs(k1->an[0].expected - k2->an[0].expected) < 1e-4);
    hz_window_store_free(ws1);
    hz_window_store_free(ws2);
    free(k1);
    free(k2);
    hz_forecaster_free(f1);
    hz_forecaster_free(f2);
    teardown_files(&fx);
}

/* After a rebuild, hz_forecaster_resume forecasts each listed series' latest window: written
 * for a (write set; the same forecast as an uninterrupted stream issued for that window),
 * quiet for b (nothing written, but its next reading is checked against it), nothing for c
 * (too short for a window). */
static void test_resume_after_rebuild(void **state)
{
    fixture fx;
    setup_files(&fx, 8);
    hz_forecaster *f1 = open_fc(&fx), *f2 = open_fc(&fx);
    sink *k1 = calloc(1, sizeof *k1), *k2 = calloc(1, sizeof *k2);
    hz_window_store *ws1 = stream(f1, 30, k1);
    hz_window_opts wo = {PER, L, 1, 1, 0, 0, 0, 0};
    char err[HZ_ERRLEN];
    hz_window_store *ws2 = hz_window_store_new(&wo, err, sizeof err);
    for (int t = 0; t < 30; t++)
        for (int s = 0; s < 3; s++) {
            double v = value_at(t, s % 2);
            if (s < 2 || t >= 25)
                assert_int_equal(hz_window_store_push(ws2,
                                                      s == 2 ? "c"
                                                      : s    ? "b"
                                                             : "a",
                                                      (int64_t)t * PER, &v),
                                 0);
        }
    hz_window_store_clear_ready(ws2);
    uint32_t idx[3] = {(uint32_t)hz_window_store_find(ws2, "a"),
                       (uint32_t)hz_window_store_find(ws2, "b"),
                       (uint32_t)hz_window_store_find(ws2, "c")};
    uint8_t write[3] = {1, 0, 1};
    hz_forecaster_out o1 = out_of(k1), o2 = out_of(k2);
    size_t written = 99;
    assert_int_equal(hz_forecaster_resume(f2, ws2, idx, write, 3, &o2, &written, err, sizeof err),
                     0);
    assert_int_equal(written, 1);
    assert_int_equal(k2->n, H);
    assert_int_equal(hz_forecaster_stats_get(f2).forecasts, H);
    for (size_t i = 0; i < k2->n; i++) {
        assert_string_equal(k2->fc[i].series, "a");
        assert_int_equal(k2->fc[i].issued_ts, 29 * PER);
        for (size_t j = 0; j < k1->n; j++)
            if (!strcmp(k1->fc[j].series, "a") && k1->fc[j].issued_ts == 29 * PER &&
                k1->fc[j].step == k2->fc[i].step)
                assert_true(fabs(k1->fc[j].value - k2->fc[i].value) < 1e-4);
    }
    hz_reading r = {.series = "b", .ts_ms = 30 * PER, .nvars = 1};
    r.values[0] = 100; /* far outside */
    assert_int_equal(
        hz_forecaster_check(f1, (uint32_t)hz_window_store_find(ws1, "b"), "b", &r, &o1), 0);
    assert_int_equal(hz_forecaster_check(f2, idx[1], "b", &r, &o2), 0);
    assert_int_equal(k1->n_an, 1);
    assert_int_equal(k2->n_an, 1);
    assert_true(fabs(k1->an[0].expected - k2->an[0].expected) < 1e-4);
    hz_window_store_free(ws1);
    hz_window_store_free(ws2);
    free(k1);
    free(k2);
    hz_forecaster_free(f1);
    hz_forecaster_free(f2);
    teardown_files(&fx);
}

/* The value of series s at t in the timing test: a sine with a spike every 23 points and a
 * shifted stretch, so there are flags to compare. */
static double timing_value(int t, int s)
{
    double v = value_at(t, s);
    if (t > 30 && t % 23 == s)
        v += 8;
    if (t >= 70 && t < 80)
        v -= 5;
    return v;
}

/* Streams 3 series x 120 points, checking each reading before staging (as the pipeline);
 * paced: a forward after every reading; else only full batches and the end. */
static void timing_run(int bmax, int paced, sink *k)
{
    fixture fx;
    setup_files(&fx, bmax);
    hz_forecaster *f = open_fc(&fx);
    hz_window_opts wo = {PER, L, 1, 1, 0, 0, 0, 0};
    char err[HZ_ERRLEN];
    hz_window_store *ws = hz_window_store_new(&wo, err, sizeof err);
    hz_forecaster_out o = out_of(k);
    for (int t = 0; t < 120; t++)
        for (int s = 0; s < 3; s++) {
            char id[2] = {(char)('a' + s), 0};
            hz_reading r = {.series = id, .ts_ms = (int64_t)t * PER, .nvars = 1};
            r.values[0] = timing_value(t, s);
            assert_int_equal(hz_window_store_push_reading(ws, &r), 0);
            uint32_t idx = (uint32_t)hz_window_store_find(ws, id);
            assert_int_equal(
                hz_forecaster_check(f, idx, hz_window_store_series_id(ws, idx), &r, &o), 0);
            assert_int_equal(hz_forecaster_stage(f, ws, &o, err, sizeof err), 0);
            if (paced)
                assert_int_equal(hz_forecaster_run(f, ws, &o, err, sizeof err), 0);
        }
    assert_int_equal(hz_forecaster_run(f, ws, &o, err, sizeof err), 0);
    hz_window_store_free(ws);
    hz_forecaster_free(f);
    teardown_files(&fx);
}

static int cmp_anomaly(const void *x, const void *y)
{
    const hz_anomaly *a = x, *b = y;
    int c = strcmp(a->series, b->series);
    return c ? c : (a->ts > b->ts) - (a->ts < b->ts);
}

static void test_timing_independent(void **state)
{
    sink *k[3];
    const int bmax[3] = {1, 64, 64}, paced[3] = {1, 1, 0};
    for (int i = 0; i < 3; i++) {
        k[i] = calloc(1, sizeof *k[i]);
        timing_run(bmax[i], paced[i], k[i]);
        qsort(k[i]->an, k[i]->n_an, sizeof *k[i]->an, cmp_anomaly);
    }
    assert_true(k[0]->n_an >= 6); /* the spikes and the shifted stretch are seen */
    for (int i = 1; i < 3; i++) {
        assert_int_equal(k[i]->n_an, k[0]->n_an);
        for (size_t j = 0; j < k[0]->n_an; j++) {
            assert_string_equal(k[i]->an[j].series, k[0]->an[j].series);
            assert_int_equal(k[i]->an[j].ts, k[0]->an[j].ts);
            /* a forward of 1 and of 64 windows round differently (float32 GEMM blocking) */
            assert_true(fabs(k[i]->an[j].score - k[0]->an[j].score) < 1e-4);
            assert_true(fabs(k[i]->an[j].upper - k[0]->an[j].upper) < 1e-3);
        }
        /* the intervals written with the forecasts agree too (same windows, same offsets) */
        assert_int_equal(k[i]->n, k[0]->n);
    }
    for (int i = 0; i < 3; i++)
        free(k[i]);
}

/* Saves a checkpoint of configuration mc (one variable, "power") at fx's path and expects
 * hz_forecaster_new to refuse it with a message holding `needle`. */
static void expect_refused(const fixture *fx, const hz_model_conf *mc, const char *needle)
{
    hz_model *m;
    char err[HZ_ERRLEN];
    assert_int_equal(hz_model_create(mc, &m, err, sizeof err), 0);
    const char *meta[2][2] = {{"variables", "[\"power\"]"},
                              {"scaler", "{\"mean\":[10.0],\"std\":[2.0]}"}};
    assert_int_equal(hz_ckpt_save(m, fx->ckpt, meta, 2, NULL, 0, err, sizeof err), 0);
    hz_model_free(m);
    static const char *const vars[] = {"power"};
    hz_forecaster *f = NULL;
    assert_int_not_equal(hz_forecaster_new(fx->cfg, &fx->cfg->pipelines[0], vars, 1, NULL, NULL,
                                           NULL, NULL, &f, err, sizeof err),
                         0);
    assert_null(f);
    assert_non_null(strstr(err, needle));
}

/* A checkpoint whose configuration claims far more outputs than it has variable names (c_out
 * 2000 for 1 name) is refused before c_out sizes anything (pipeline/forecaster.c
 * check_model_shape wrote one column index per output first, past its HZ_MAX_VARS array); so
 * are one with more calendar features than stage_marks builds and one whose decoder takes more
 * known steps than the window has (stage_inputs read before the window). */
static void test_checkpoint_outputs_beyond_names(void **state)
{
    (void)state;
    fixture fx;
    setup_files(&fx, 4);
    hz_model_conf mc;
    hz_model_conf_defaults(&mc, HZ_MODEL_INFORMER);
    mc.seq_len = L;
    mc.label_len = L / 2;
    mc.pred_len = H;
    mc.enc_in = 1;
    mc.c_out = 2000;
    mc.n_marks = 4;
    mc.d_model = 8;
    mc.n_heads = 2;
    mc.e_layers = mc.d_layers = 1;
    mc.d_ff = 8;
    expect_refused(&fx, &mc, "2000 outputs");
    /* and one with more calendar features per step than a window's marks hold */
    mc.c_out = 1;
    mc.n_marks = 9;
    expect_refused(&fx, &mc, "9 calendar features");
    /* or a decoder that takes more known steps than the window has */
    mc.n_marks = 4;
    mc.label_len = 2 * L;
    expect_refused(&fx, &mc, "label_len 48");
    teardown_files(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timing_independent),
        cmocka_unit_test(test_prime_after_restart),
        cmocka_unit_test(test_resume_after_rebuild),
        cmocka_unit_test(test_every_ready_window),
        cmocka_unit_test(test_batching_invariant),
        cmocka_unit_test(test_residual_check),
        cmocka_unit_test(test_checkpoint_outputs_beyond_names),
    };
    return cmocka_run_group_tests_name("forecaster", tests, NULL, NULL);
}
