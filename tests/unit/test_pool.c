/* test_pool.c — pooled training's data (training/pool.c, training/train.c): each series of an
 * SQLite table split on its own rows and scaled by its own train-split statistics (after
 * log1p), a series too short for the split left out, windows that never cross from one
 * series into the next, and every epoch drawing the same number of windows from each
 * series, deterministically from the seed and the epoch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "training/pool.h"
#include "training/train.h"

/* ---- balanced sampling */

static void test_draw_epoch_balanced(void **state)
{
    (void)state;
    const int ends[3] = {3, 53, 60}; /* series of 3, 50 and 7 windows */
    hz_windows w = {.count = 60, .group_end = ends, .n_groups = 3};
    hz_train_conf tc = {.seed = 5, .series_windows = 10};
    assert_int_equal(hz_train_epoch_windows(&w, &tc), 30);
    int order[30], again[30], next[30], perm[60];
    hz_train_draw_epoch(&w, &tc, 1, order, perm);
    int per[3] = {0}, seen[60] = {0};
    for (int i = 0; i < 30; i++) {
        int g = order[i] < 3 ? 0 : order[i] < 53 ? 1 : 2;
        per[g]++;
        seen[order[i]]++;
    }
    for (int g = 0; g < 3; g++)
        assert_int_equal(per[g], 10);
    for (int i = 0; i < 3; i++) /* the short series goes round whole passes: 3 or 4 each */
        assert_true(seen[i] == 3 || seen[i] == 4);
    for (int i = 3; i < 53; i++) /* the long one: a sample without repeats */
        assert_true(seen[i] <= 1);
    hz_train_draw_epoch(&w, &tc, 1, again, perm);
    assert_memory_equal(order, again, sizeof order); /* a resumed run draws the same */
    hz_train_draw_epoch(&w, &tc, 2, next, perm);
    assert_true(memcmp(order, next, sizeof order) != 0);
    tc.series_windows = 0; /* the mean count: 20 each */
    assert_int_equal(hz_train_epoch_windows(&w, &tc), 60);
    hz_windows one = {.count = 60};
    assert_int_equal(hz_train_epoch_windows(&one, &tc), 60);
}

/* ---- per-series split and scaling */

typedef struct fixture {
    char dir[64], db[128], yaml[128];
    hz_config *cfg;
} fixture;

static double big(int t)
{
    return 1000 + 100 * sin(t * 0.3);
}

static double small(int t)
{
    return 0.5 + 0.1 * cos(t * 0.2);
}

/* series big (300 rows), small (200) and short (20: too few for the split) */
static void make_db(const fixture *fx)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(fx->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "CREATE TABLE readings(series TEXT, variable TEXT, ts INTEGER, "
                                  "value REAL); BEGIN",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    char sql[256];
    for (int t = 0; t < 300; t++) {
        snprintf(sql, sizeof sql, "INSERT INTO readings VALUES ('big', 'q', %d, %.9f)", t * 60000,
                 big(t));
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
        if (t < 200) {
            snprintf(sql, sizeof sql, "INSERT INTO readings VALUES ('small', 'q', %d, %.9f)",
                     t * 60000, small(t));
            assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
        }
        if (t < 20) {
            snprintf(sql, sizeof sql, "INSERT INTO readings VALUES ('short', 'q', %d, 1)",
                     t * 60000);
            assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
        }
    }
    assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/hz_pool_XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->db, sizeof fx->db, "%s/r.sqlite", fx->dir);
    snprintf(fx->yaml, sizeof fx->yaml, "%s/c.yaml", fx->dir);
    make_db(fx);
    FILE *f = fopen(fx->yaml, "w");
    assert_non_null(f);
    fprintf(f,
            "database: %s\nmetrics: {listen: \"\"}\npipelines:\n"
            "  - name: p\n"
            "    source: {sqlite: {table: readings}, fields: {series: series, time: ts, "
            "values: [q]}}\n"
            "    window: {period: 1m, lookback: 24, horizon: 4, stride: 1}\n"
            "    model: {kind: itransformer, checkpoint: %s/m.safetensors,\n"
            "            data: {split: ratio, ratios: [0.7, 0.1, 0.2], pool: true}}\n"
            "    variables: [{name: q, transform: log1p}]\n"
            "    sinks: [{sqlite: {}}]\n",
            fx->db, fx->dir);
    fclose(f);
    char err[HZ_ERRLEN];
    assert_int_equal(hz_config_load(fx->yaml, &fx->cfg, err, sizeof err), 0);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    hz_config_free(fx->cfg);
    unlink(fx->db);
    unlink(fx->yaml);
    rmdir(fx->dir);
    free(fx);
    return 0;
}

/* Mean and population std of log1p(f(t)) over t in [0, n). */
static void stats(double (*f)(int), int n, double *mean, double *sd)
{
    double s = 0, ss = 0;
    for (int t = 0; t < n; t++)
        s += log1p(f(t));
    *mean = s / n;
    for (int t = 0; t < n; t++)
        ss += (log1p(f(t)) - *mean) * (log1p(f(t)) - *mean);
    *sd = sqrt(ss / n);
}

static void test_each_series_own_scaler(void **state)
{
    fixture *fx = *state;
    const hz_pipeline_conf *p = &fx->cfg->pipelines[0];
    hz_model_conf mc;
    char err[HZ_ERRLEN];
    hz_pool pool = {0};
    assert_int_equal(hz_pipeline_model_conf(p, 1, &mc, err, sizeof err), 0);
    assert_int_equal(hz_pool_load(fx->cfg, p, &pool, err, sizeof err), 0);
    assert_int_equal(pool.n, 3);
    hz_logger quiet = {.max_level = -1};
    assert_int_equal(hz_pool_split(p, &mc, &quiet, &pool, err, sizeof err), 0);
    assert_int_equal(pool.n, 2); /* short is left out */
    assert_string_equal(pool.ids[0], "big");
    assert_string_equal(pool.ids[1], "small");
    double m, sd;
    stats(big, 210, &m, &sd); /* 70% of 300 rows */
    assert_true(pool.d[0].scaler.log1p[0]);
    assert_true(fabs(pool.d[0].scaler.mean[0] - m) < 1e-6);
    assert_true(fabs(pool.d[0].scaler.std[0] - sd) < 1e-6);
    stats(small, 140, &m, &sd);
    assert_true(fabs(pool.d[1].scaler.mean[0] - m) < 1e-6);
    assert_true(fabs(pool.d[1].scaler.std[0] - sd) < 1e-6);
    /* windows: 210 - 24 - 4 + 1 = 183 of big's train rows, 113 of small's */
    const hz_windows *w = &pool.win[0];
    assert_int_equal(w->n_groups, 2);
    assert_int_equal(w->group_end[0], 183);
    assert_int_equal(w->count, 183 + 113);
    for (int i = 0; i < w->count; i++) { /* inside its own series' train rows */
        int s0 = hz_windows_start(w, i), g = i >= w->group_end[0];
        int lo = g ? 300 : 0, hi = g ? 300 + 140 : 210;
        assert_true(s0 >= lo && s0 + 24 + 4 <= hi);
    }
    /* small's first window, as the model sees it: its own scaling, its own values */
    int idx = 183;
    hz_real y[4];
    hz_windows_batch(w, &idx, 1, NULL, NULL, NULL, NULL, y);
    for (int t = 0; t < 4; t++)
        assert_true(fabs(y[t] - (log1p(small(24 + t)) - m) / sd) < 1e-4);
    /* validation windows start 24 rows before each series' border */
    assert_int_equal(hz_windows_start(&pool.win[1], 0), 210 - 24);
    assert_int_equal(pool.win[1].group_end[1] - pool.win[1].group_end[0],
                     160 - 140 + 24 - 24 - 4 + 1);
    hz_pool_free(&pool);
}

/* Training windows respect timestamps (training/prepare.c): series big with slots 100-101
 * missing (a hole of 2 <= window.max_gap 4: filled by repeating) and 150-159 (10: a new
 * stretch); no window spans the long hole. */
static void test_holes_filled_or_stretches(void **state)
{
    fixture *fx = *state;
    const hz_pipeline_conf *p = &fx->cfg->pipelines[0];
    sqlite3 *db;
    assert_int_equal(sqlite3_open(fx->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "DELETE FROM readings WHERE series = 'big' AND (ts / 60000 "
                                  "BETWEEN 100 AND 101 OR ts / 60000 BETWEEN 150 AND 159)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    hz_model_conf mc;
    char err[HZ_ERRLEN];
    hz_prepared d;
    assert_int_equal(hz_pipeline_model_conf(p, 1, &mc, err, sizeof err), 0);
    assert_int_equal(hz_prepared_load(fx->cfg, p, "big", &d, err, sizeof err), 0);
    assert_int_equal(d.filled, 2);
    assert_int_equal(d.holes, 1);
    assert_int_equal(d.hole_slots, 10);
    assert_int_equal(d.table.rows, 290);
    assert_int_equal(d.table.ts_ms[100], 100 * 60000);      /* a filled slot */
    assert_true(d.table.values[100] == d.table.values[99]); /* fill: previous */
    /* a configuration (a checkpoint's, in eval) whose decoder reaches before the window */
    hz_model_conf bad = mc;
    bad.label_len = bad.seq_len + 1;
    assert_int_equal(hz_prepared_split(p, &bad, NULL, &d, err, sizeof err), HZ_EINVAL);
    assert_int_equal(hz_prepared_split(p, &mc, NULL, &d, err, sizeof err), 0);
    const hz_windows *w = &d.win[0]; /* train rows [0, 203): stretch 2 starts at row 150 */
    assert_non_null(w->starts);
    assert_int_equal(w->count, (150 - 28 + 1) + (203 - 150 - 28 + 1));
    for (int i = 0; i < w->count; i++) {
        int s0 = hz_windows_start(w, i);
        assert_true(s0 + 28 <= 150 || s0 >= 150);
        assert_int_equal(d.table.ts_ms[s0 + 27] - d.table.ts_ms[s0], 27 * 60000);
    }
    hz_prepared_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_draw_epoch_balanced),
        cmocka_unit_test_setup_teardown(test_each_series_own_scaler, setup, teardown),
        cmocka_unit_test_setup_teardown(test_holes_filled_or_stretches, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
