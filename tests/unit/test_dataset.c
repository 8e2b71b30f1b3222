/* test_dataset.c — the windows a model trains on (training/dataset.c): features MS (y holds
 * the target alone), variables known over the horizon (Informer: in the decoder's horizon
 * rows; iTransformer: extra x columns shifted a horizon ahead), the output scaler, and the
 * calendar features of the papers' freq d / h / t. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "training/dataset.h"

enum { ROWS = 20, COLS = 3, L = 4, LAB = 2, P = 3 };

/* value of row r, column c: 100 c + r */
static void table(float *data)
{
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < COLS; c++)
            data[r * COLS + c] = (float)(100 * c + r);
}

static void ms_windows(hz_windows *w, const float *data, int tokens)
{
    hz_windows_init(w, data, NULL, COLS, 0, 0, ROWS, L, LAB, P);
    w->target = 2;
    w->n_known = 1;
    w->known[0] = 0;
    w->known_tokens = tokens;
}

static void test_ms_known_tokens(void **state)
{
    (void)state;
    float data[ROWS * COLS];
    table(data);
    hz_windows w;
    ms_windows(&w, data, 1);
    assert_int_equal(hz_windows_in_cols(&w), COLS + 1);
    assert_int_equal(hz_windows_out_cols(&w), 1);
    int idx = 5;
    hz_real x[L * (COLS + 1)], y[P];
    hz_windows_batch(&w, &idx, 1, x, NULL, NULL, NULL, y);
    for (int t = 0; t < L; t++) {
        for (int c = 0; c < COLS; c++)
            assert_true(x[t * 4 + c] == 100 * c + 5 + t);
        assert_true(x[t * 4 + 3] == 5 + t + P); /* column 0, a horizon later */
    }
    for (int t = 0; t < P; t++)
        assert_true(y[t] == 200 + 5 + L + t); /* the target alone */
}

static void test_ms_known_decoder(void **state)
{
    (void)state;
    float data[ROWS * COLS];
    table(data);
    hz_windows w;
    ms_windows(&w, data, 0);
    assert_int_equal(hz_windows_in_cols(&w), COLS);
    int idx = 2;
    hz_real x[L * COLS], xd[(LAB + P) * COLS], y[P];
    hz_windows_batch(&w, &idx, 1, x, NULL, xd, NULL, y);
    for (int t = 0; t < LAB + P; t++)
        for (int c = 0; c < COLS; c++) {
            float row = (float)(2 + L - LAB + t);
            float want = t < LAB || c == 0 ? 100 * c + row : 0; /* known: its real values */
            assert_true(xd[t * COLS + c] == want);
        }
}

static void test_scaler_out(void **state)
{
    (void)state;
    hz_scaler s = {.cols = 3, .mean = {1, 2, 3}, .std = {4, 5, 6}, .log1p = {0, 0, 1}};
    float data[ROWS * COLS];
    table(data);
    hz_windows w;
    ms_windows(&w, data, 1);
    hz_scaler o;
    hz_scaler_out(&s, &w, &o);
    assert_int_equal(o.cols, 1);
    assert_true(o.mean[0] == 3 && o.std[0] == 6 && o.log1p[0] == 1);
    w.target = -1;
    hz_scaler_out(&s, &w, &o);
    assert_int_equal(o.cols, 3);
}

static void test_timef_follows_period(void **state)
{
    (void)state;
    assert_int_equal(hz_timef_features(86400000), 3);
    assert_int_equal(hz_timef_features(3600000), 4);
    assert_int_equal(hz_timef_features(900000), 5);
    int64_t ts = 1472783400000; /* 2016-09-02 02:30 UTC, a Friday */
    float h[4], d[3], t[5];
    hz_timef_hour(ts, h);
    hz_timef(3, ts, d);
    hz_timef(5, ts, t);
    assert_true(memcmp(d, h + 1, sizeof d) == 0); /* day: no hour */
    assert_true(memcmp(t + 1, h, sizeof h) == 0);
    assert_true(t[0] == (float)(30 / 59.0 - 0.5));
    assert_true(h[1] == (float)(4 / 6.0 - 0.5)); /* Friday, Monday = 0 */
    /* a count from a checkpoint that is none of 3, 4, 5 writes exactly that many values */
    float o[8] = {9, 9, 9, 9, 9, 9, 9, 9};
    hz_timef(1, ts, o);
    assert_true(o[0] == h[0] && o[1] == 9);
    hz_timef(7, ts, o);
    assert_true(memcmp(o, h, sizeof h) == 0 && o[4] == 0 && o[6] == 0 && o[7] == 9);
    /* 8: TimeRPE, sin/cos of minute 30/60, hour 2/24, Friday 4/7, September 9/12 */
    hz_timef(8, ts, o);
    const double a[4] = {30 / 60.0, 2 / 24.0, 4 / 7.0, 9 / 12.0};
    for (int i = 0; i < 4; i++) {
        assert_float_equal(o[2 * i], sin(2 * M_PI * a[i]), 1e-6);
        assert_float_equal(o[2 * i + 1], cos(2 * M_PI * a[i]), 1e-6);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ms_known_tokens),
        cmocka_unit_test(test_ms_known_decoder),
        cmocka_unit_test(test_scaler_out),
        cmocka_unit_test(test_timef_follows_period),
    };
    return cmocka_run_group_tests_name("dataset", tests, NULL, NULL);
}
