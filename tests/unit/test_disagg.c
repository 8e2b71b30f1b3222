/* test_disagg.c — the disaggregation data path (training/disagg.h): an appliance's view of a
 * pipeline and its checkpoint name, max-scaling, non-overlapping windows that skip gaps,
 * batches whose target is the input's own rows, the backtest against the training mean,
 * and ReduceLROnPlateau (engine/optim.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/hz.h"
#include "engine/optim.h"
#include "training/disagg.h"

/* A pipeline of 2 appliances over aggregate "agg". */
typedef struct fixture {
    hz_pipeline_conf p;
    char *values[1];
    hz_cfg_appliance app[2];
    double ratios[3];
} fixture;

static void fixture_init(fixture *f)
{
    memset(f, 0, sizeof *f);
    f->values[0] = "agg";
    f->app[0] = (hz_cfg_appliance){"kettle", 100};
    f->app[1] = (hz_cfg_appliance){"washer", 10};
    f->ratios[0] = 0.5;
    f->ratios[1] = 0.25;
    f->ratios[2] = 0.25;
    f->p.name = "home";
    f->p.source.fields.values = f->values;
    f->p.source.fields.n_values = 1;
    f->p.window.lookback = 4;
    f->p.model.task = HZ_CFG_TASK_DISAGGREGATE;
    f->p.model.kind = HZ_CFG_MODEL_NILMFORMER;
    f->p.model.checkpoint = "/m/home.safetensors";
    f->p.model.data.split = HZ_CFG_SPLIT_RATIO;
    f->p.model.data.ratios = f->ratios;
    f->p.model.data.n_ratios = 3;
    f->p.model.data.appliances = f->app;
    f->p.model.data.n_appliances = 2;
}

static void test_view(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f);
    hz_disagg_view v;
    char err[256];
    assert_int_equal(hz_disagg_view_init(&f.p, 1, &v, err, sizeof err), 0);
    assert_int_equal(v.p.source.fields.n_values, 2);
    assert_string_equal(v.p.source.fields.values[0], "agg");
    assert_string_equal(v.p.source.fields.values[1], "washer");
    assert_string_equal(v.p.model.data.target, "washer");
    assert_int_equal(v.p.model.data.n_appliances, 1);
    assert_true(v.p.model.data.appliances[0].on_threshold == 10);
    assert_string_equal(v.p.model.checkpoint, "/m/home.washer.safetensors");
    assert_int_equal(hz_disagg_find(&f.p, "kettle"), 0);
    assert_int_equal(hz_disagg_find(&f.p, "fridge"), -1);
    assert_int_equal(hz_disagg_view_init(&f.p, 2, &v, err, sizeof err), HZ_EINVAL);
    char out[64];
    hz_disagg_checkpoint("model.bin", "k", out, sizeof out);
    assert_string_equal(out, "model.bin.k");
    /* the plain baseline's (docs/MODELS.md section 8.10): beside the model's */
    char plain[64];
    hz_disagg_plain_checkpoint("/m/home.safetensors", plain, sizeof plain);
    assert_string_equal(plain, "/m/home.plain.safetensors");
    hz_disagg_checkpoint(plain, "washer", out, sizeof out);
    assert_string_equal(out, "/m/home.plain.washer.safetensors");
}

/* 32 rows: agg = 100 + r (row 13's agg NaN), appliance = r; one hole before row 22. */
static void table_init(hz_prepared *d)
{
    memset(d, 0, sizeof *d);
    d->table.rows = 32;
    d->table.cols = 2;
    d->table.ts_ms = malloc(32 * sizeof(int64_t));
    d->table.values = malloc(64 * sizeof(float));
    d->names = calloc(2, sizeof(char *));
    d->names[0] = strdup("agg");
    d->names[1] = strdup("kettle");
    for (int r = 0; r < 32; r++) {
        d->table.ts_ms[r] = 1370000000000LL + r * 60000LL + (r >= 22 ? 3600000 : 0);
        d->table.values[2 * r] = r == 13 ? NAN : 100.0f + r;
        d->table.values[2 * r + 1] = (float)r;
    }
    d->stretch = malloc(sizeof(int));
    d->stretch[0] = 22;
    d->n_stretch = 1;
}

static void test_split(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f);
    hz_disagg_view v;
    char err[256];
    assert_int_equal(hz_disagg_view_init(&f.p, 0, &v, err, sizeof err), 0);
    hz_prepared d;
    table_init(&d);
    hz_model_conf mc = {.seq_len = 4, .pred_len = 4, .n_marks = 8};
    if (hz_disagg_split(&v.p, &mc, NULL, &d, err, sizeof err))
        fail_msg("%s", err);
    /* rows: train [0, 16), val [16, 24), test [24, 32); max of the training aggregate 115
     * (row 13 is NaN); training mean of the appliance 7.5 */
    assert_int_equal(d.begin[1], 16);
    assert_int_equal(d.end[1], 24);
    assert_true(d.scaler.std[0] == 115 && d.scaler.std[1] == 115 && d.scaler.mean[1] == 0);
    assert_true(fabs(d.train_mean - 7.5) < 1e-12);
    /* train: windows at 0, 4, 8, 12 -> 12 holds the NaN; val: 16, 20 -> 20 spans the hole */
    assert_int_equal(d.win[0].count, 3);
    assert_int_equal(d.gap_windows[0], 1);
    assert_int_equal(d.win[0].starts[2], 8);
    assert_int_equal(d.win[1].count, 1);
    assert_int_equal(d.gap_windows[1], 1);
    assert_int_equal(d.win[2].count, 2);
    assert_int_equal(d.win[2].starts[1], 28);
    /* a batch: x the aggregate, y the appliance, over the same rows */
    hz_real x[4], y[4], mk[32];
    int idx = 1;
    hz_windows_batch(&d.win[2], &idx, 1, x, mk, NULL, NULL, y);
    for (int t = 0; t < 4; t++) {
        assert_true(fabs(x[t] - (128.0 + t) / 115) < 1e-6);
        assert_true(fabs(y[t] - (28.0 + t) / 115) < 1e-6);
    }
    assert_int_equal(hz_windows_in_cols(&d.win[2]), 1);
    assert_int_equal(hz_windows_out_cols(&d.win[2]), 1);
    hz_prepared_free(&d);

    /* a fixed max_power, and the checkpoint's scaler in evaluation */
    f.p.model.data.max_power = 1000;
    assert_int_equal(hz_disagg_view_init(&f.p, 0, &v, err, sizeof err), 0);
    table_init(&d);
    assert_int_equal(hz_disagg_split(&v.p, &mc, NULL, &d, err, sizeof err), 0);
    assert_true(d.scaler.std[0] == 1000);
    hz_scaler sc = d.scaler;
    hz_prepared_free(&d);
    table_init(&d);
    sc.std[0] = sc.std[1] = 50;
    assert_int_equal(hz_disagg_split(&v.p, &mc, &sc, &d, err, sizeof err), 0);
    assert_true(d.scaler.std[1] == 50);
    hz_prepared_free(&d);

    /* zero_is_gap: an aggregate of 0 (row 25, in the test split's first window; row 5 in
     * training) is a gap; off, it is a reading */
    table_init(&d);
    d.table.values[2 * 5] = d.table.values[2 * 25] = 0;
    assert_int_equal(hz_disagg_split(&v.p, &mc, NULL, &d, err, sizeof err), 0);
    assert_int_equal(d.win[0].count, 3);
    assert_int_equal(d.win[2].count, 2);
    assert_int_equal(d.zero_rows, 0);
    hz_prepared_free(&d);
    f.p.model.data.max_power = 0;
    f.p.model.data.zero_is_gap = 1;
    assert_int_equal(hz_disagg_view_init(&f.p, 0, &v, err, sizeof err), 0);
    table_init(&d);
    d.table.values[2 * 5] = d.table.values[2 * 25] = 0;
    assert_int_equal(hz_disagg_split(&v.p, &mc, NULL, &d, err, sizeof err), 0);
    assert_int_equal(d.zero_rows, 2);
    assert_int_equal(d.win[0].count, 2); /* 4 (row 5) and 12 (row 13's NaN) left out */
    assert_int_equal(d.gap_windows[0], 2);
    assert_int_equal(d.win[2].count, 1);
    assert_int_equal(d.win[2].starts[0], 28);
    assert_int_equal(d.gap_windows[2], 1);
    assert_true(d.scaler.std[0] == 115);
    hz_prepared_free(&d);
}

/* A tiny model's backtest: finite scores; the constant training mean (7.5 W, under the
 * threshold of 100) scores as all zeros. */
static void test_backtest(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f);
    hz_disagg_view v;
    char err[256];
    assert_int_equal(hz_disagg_view_init(&f.p, 0, &v, err, sizeof err), 0);
    hz_prepared d;
    table_init(&d);
    hz_model_conf mc;
    hz_model_conf_defaults(&mc, HZ_MODEL_NILMFORMER);
    mc.seq_len = mc.pred_len = 4;
    mc.d_model = 8;
    mc.n_heads = 2;
    mc.e_layers = 1;
    mc.d_ff = 16;
    hz_model *m = NULL;
    if (hz_model_create(&mc, &m, err, sizeof err))
        fail_msg("%s", err);
    assert_int_equal(hz_disagg_split(&v.p, &mc, NULL, &d, err, sizeof err), 0);
    hz_disagg_result r;
    assert_int_equal(hz_disagg_backtest(m, &d.win[2], &d.scaler, 1, 100, d.train_mean, &r), 0);
    assert_int_equal(r.windows, 2);
    assert_int_equal(r.model.n, 8);
    assert_true(isfinite(r.model.mae));
    /* truth 24..27 and 28..31, all off at 100: the mean estimate is 0 everywhere */
    assert_true(fabs(r.base.mae - (24 + 31) / 2.0) < 1e-4); /* float round trip */
    assert_true(r.base.f1 == 0 && r.base.accuracy == 1);
    hz_model_free(m);
    hz_prepared_free(&d);
}

/* ReduceLROnPlateau(patience 3, factor 0.1): the 4th epoch in a row without a relative
 * improvement of 1e-4 cuts the rate, and the count starts again. */
static void test_plateau(void **state)
{
    (void)state;
    hz_plateau p;
    hz_plateau_init(&p, 3, 0.1, 1e-7);
    double lr = 1e-4;
    lr = hz_plateau_step(&p, 1.0, lr);
    lr = hz_plateau_step(&p, 0.99995, lr); /* under 1e-4 relative: not better */
    lr = hz_plateau_step(&p, 1.0, lr);
    lr = hz_plateau_step(&p, 1.0, lr);
    assert_true(lr == 1e-4);
    lr = hz_plateau_step(&p, 1.0, lr);
    assert_true(fabs(lr - 1e-5) < 1e-20);
    assert_int_equal(p.bad_epochs, 0);
    lr = hz_plateau_step(&p, 0.5, lr); /* better: kept */
    assert_true(fabs(lr - 1e-5) < 1e-20);
    /* a cut smaller than eps is not made */
    hz_plateau_init(&p, 0, 0.1, 1e-7);
    lr = hz_plateau_step(&p, 1.0, 1e-7);
    lr = hz_plateau_step(&p, 1.0, lr);
    assert_true(lr == 1e-7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_view),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_backtest),
        cmocka_unit_test(test_plateau),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
