/* test_skill.c — training/skill.c on hand-computed cases: NSE of a perfect forecast (1) and
 * of the observed mean (0), KGE on small series whose r, alpha and beta are known, the naive
 * forecasts of a window (its last value, its mean; in original units, also for the target
 * column of features MS), the three forecasts scored on a ramp and on the target column of
 * features MS, and a constant observation whose NSE is NaN and prints as "nan". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "training/skill.h"

static hz_moments moments_of(const double *obs, const double *sim, int n)
{
    hz_moments m = {0};
    for (int i = 0; i < n; i++)
        hz_moments_add(&m, obs[i], sim[i], obs[i], sim[i]);
    return m;
}

static void test_nse_perfect_and_mean(void **state)
{
    const double obs[5] = {3, 1, 4, 1, 5}, mean[5] = {2.8, 2.8, 2.8, 2.8, 2.8};
    hz_moments m = moments_of(obs, obs, 5);
    assert_float_equal(hz_moments_nse(&m), 1.0, 1e-12);
    assert_float_equal(hz_moments_kge(&m), 1.0, 1e-12);
    m = moments_of(obs, mean, 5);
    assert_float_equal(hz_moments_nse(&m), 0.0, 1e-12);
    assert_true(isnan(hz_moments_kge(&m))); /* a constant forecast has no correlation */
    /* sim = obs + 1: NSE = 1 - 5 / sum (o - 2.8)^2 = 1 - 5 / 12.8 */
    const double shifted[5] = {4, 2, 5, 2, 6};
    m = moments_of(obs, shifted, 5);
    assert_float_equal(hz_moments_nse(&m), 1 - 5 / 12.8, 1e-12);
    assert_float_equal(m.se / m.n, 1.0, 1e-12);
    assert_float_equal(m.ae / m.n, 1.0, 1e-12);
}

static void test_kge_known(void **state)
{
    const double obs[4] = {1, 2, 3, 4};
    /* r 1, alpha 2, beta 5 / 2.5 = 2: 1 - sqrt(0 + 1 + 1) */
    const double twice[4] = {2, 4, 6, 8};
    hz_moments m = moments_of(obs, twice, 4);
    assert_float_equal(hz_moments_kge(&m), 1 - sqrt(2.0), 1e-12);
    /* r 1, alpha 1, beta 3 / 2.5 = 1.2: 1 - 0.2 */
    const double half_up[4] = {1.5, 2.5, 3.5, 4.5};
    m = moments_of(obs, half_up, 4);
    assert_float_equal(hz_moments_kge(&m), 0.8, 1e-12);
    /* obs 1 2 3, sim 1 3 2: r = 1 / 2, alpha 1, beta 1: KGE 0.5; NSE 1 - 2 / 2 = 0 */
    const double o3[3] = {1, 2, 3}, s3[3] = {1, 3, 2};
    m = moments_of(o3, s3, 3);
    assert_float_equal(hz_moments_kge(&m), 0.5, 1e-12);
    assert_float_equal(hz_moments_nse(&m), 0.0, 1e-12);
}

/* A one-column ramp 1, 2, ..., 8 in original units, scaled by mean 10 and std 2. */
static void ramp(float *data, int rows, hz_scaler *sc)
{
    *sc = (hz_scaler){.cols = 1, .mean = {10}, .std = {2}};
    for (int r = 0; r < rows; r++)
        data[r] = (float)hz_scaler_fwd(sc, 0, r + 1);
}

static void test_naive_forecasts(void **state)
{
    float data[8];
    hz_scaler sc;
    ramp(data, 8, &sc);
    hz_windows w;
    hz_windows_init(&w, data, NULL, 1, 0, 0, 8, 3, 0, 2);
    assert_int_equal(w.count, 4);
    for (int i = 0; i < w.count; i++) {
        /* window i reads rows i..i+2, values i+1..i+3 */
        assert_float_equal(hz_naive_persistence(&w, &sc, i, 0), i + 3, 1e-5);
        assert_float_equal(hz_naive_mean(&w, &sc, i, 0), i + 2, 1e-5);
    }
    /* features MS: two columns, the model predicts column 1 alone */
    float two[8 * 2];
    hz_scaler sc2 = {.cols = 2, .mean = {0, 0}, .std = {1, 1}};
    for (int r = 0; r < 8; r++) {
        two[2 * r] = (float)(100 + r);
        two[2 * r + 1] = (float)(r * r);
    }
    hz_windows_init(&w, two, NULL, 2, 0, 0, 8, 3, 0, 2);
    w.target = 1;
    assert_int_equal(hz_windows_out_cols(&w), 1);
    assert_float_equal(hz_naive_persistence(&w, &sc2, 1, hz_windows_out_col(&w, 0)), 9, 1e-6);
    assert_float_equal(hz_naive_mean(&w, &sc2, 1, hz_windows_out_col(&w, 0)), 14 / 3.0, 1e-6);
}

static void test_skill_on_ramp(void **state)
{
    float data[6], pred[3];
    hz_scaler sc;
    ramp(data, 6, &sc);
    hz_windows w; /* L 2, P 1: windows 0..3 read rows i, i+1 and target row i+2 */
    hz_windows_init(&w, data, NULL, 1, 0, 0, 5, 2, 0, 1);
    assert_int_equal(w.count, 3);
    for (int i = 0; i < 3; i++)
        pred[i] = data[i + 2]; /* a perfect model */
    hz_skill s;
    char err[128];
    assert_int_equal(hz_skill_init(&s, 1, 1, err, sizeof err), 0);
    hz_skill_add(&s, &w, &sc, pred, 3);
    assert_int_equal(s.windows, 3);
    hz_skill_scores m, p, a;
    hz_skill_get(&s, HZ_FC_MODEL, 0, -1, &m);
    hz_skill_get(&s, HZ_FC_PERSIST, 0, -1, &p);
    hz_skill_get(&s, HZ_FC_MEAN, 0, 0, &a);
    assert_float_equal(m.mse, 0, 1e-9);
    assert_float_equal(m.nse, 1, 1e-9);
    assert_float_equal(m.kge, 1, 1e-6);
    /* targets 3 4 5 (mean 4, sum of squares 2); persistence 2 3 4: errors 1 */
    assert_float_equal(p.mse, 1, 1e-6);
    assert_float_equal(p.mae, 1, 1e-6);
    assert_float_equal(p.mse_z, 0.25, 1e-6); /* std 2 */
    assert_float_equal(p.nse, 1 - 3 / 2.0, 1e-6);
    /* window mean 1.5 2.5 3.5: errors 1.5 */
    assert_float_equal(a.mse, 2.25, 1e-6);
    assert_float_equal(a.nse, 1 - 6.75 / 2, 1e-6);
    assert_float_equal(hz_skill_score(m.mse, p.mse), 1, 1e-9);
    assert_float_equal(hz_skill_score(1.5, 2.0), 0.25, 1e-12);
    hz_skill_free(&s);
}

/* features MS: the model's one output column is table column 1; the other is never read */
static void test_skill_of_target_column(void **state)
{
    float data[6 * 2], pred[3];
    hz_scaler sc = {.cols = 2, .mean = {0, 0}, .std = {1, 1}};
    for (int r = 0; r < 6; r++) {
        data[2 * r] = NAN; /* an input the model reads, not a target */
        data[2 * r + 1] = (float)(r * r);
    }
    hz_windows w;
    hz_windows_init(&w, data, NULL, 2, 0, 0, 5, 2, 0, 1);
    w.target = 1;
    for (int i = 0; i < 3; i++)
        pred[i] = data[2 * (i + 2) + 1];
    hz_skill s;
    char err[128];
    assert_int_equal(hz_skill_init(&s, 1, hz_windows_out_cols(&w), err, sizeof err), 0);
    hz_skill_add(&s, &w, &sc, pred, 3);
    hz_skill_scores m, p;
    hz_skill_get(&s, HZ_FC_MODEL, 0, -1, &m);
    hz_skill_get(&s, HZ_FC_PERSIST, 0, -1, &p);
    assert_float_equal(m.nse, 1, 1e-9);
    /* targets 4 9 16, persistence 1 4 9: errors 3 5 7 */
    assert_float_equal(p.mse, (9 + 25 + 49) / 3.0, 1e-6);
    assert_float_equal(p.mae, 5, 1e-6);
    hz_skill_free(&s);
}

static void test_constant_observations(void **state)
{
    float data[6] = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f}, pred[3] = {0.4f, 0.5f, 0.6f};
    hz_scaler sc = {.cols = 1, .mean = {0}, .std = {1}};
    hz_windows w;
    hz_windows_init(&w, data, NULL, 1, 0, 0, 5, 2, 0, 1);
    hz_skill s;
    char err[128], buf[16];
    assert_int_equal(hz_skill_init(&s, 1, 1, err, sizeof err), 0);
    hz_skill_add(&s, &w, &sc, pred, 3);
    hz_skill_scores m, p;
    hz_skill_get(&s, HZ_FC_MODEL, 0, -1, &m);
    hz_skill_get(&s, HZ_FC_PERSIST, 0, -1, &p);
    assert_true(isnan(m.nse));
    assert_true(isnan(m.kge));
    assert_true(isnan(p.nse));
    assert_float_equal(p.mse, 0, 1e-12);
    assert_true(isnan(hz_skill_score(m.mse, p.mse)));
    assert_float_equal(m.mse, 0.02 / 3, 1e-7);
    assert_string_equal(hz_skill_fmt(buf, sizeof buf, m.nse, 3, 0), "nan");
    assert_string_equal(hz_skill_fmt(buf, sizeof buf, -m.nse, 3, 1), "nan");
    assert_string_equal(hz_skill_fmt(buf, sizeof buf, 0.05, 2, 1), "+0.05");
    assert_string_equal(hz_skill_fmt(buf, sizeof buf, -0.25, 3, 0), "-0.250");
    assert_string_equal(hz_skill_fmt(buf, sizeof buf, -0.0001, 3, 0), "0.000");
    assert_string_equal(hz_skill_fmt(buf, sizeof buf, -0.0004, 3, 1), "+0.000");
    hz_skill_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nse_perfect_and_mean),   cmocka_unit_test(test_kge_known),
        cmocka_unit_test(test_naive_forecasts),        cmocka_unit_test(test_skill_on_ramp),
        cmocka_unit_test(test_skill_of_target_column), cmocka_unit_test(test_constant_observations),
    };
    return cmocka_run_group_tests_name("skill", tests, NULL, NULL);
}
