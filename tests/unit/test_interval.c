/* test_interval.c — training/interval.c: quantiles of the calibration grid, intervals nested
 * and inside the physical bounds with a log1p transform (asymmetric around the forecast),
 * the residual score at a bound, and the online adaptation reaching nominal coverage on
 * heteroscedastic noise that the calibration got wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "training/checkpoint_meta.h"
#include "training/dataset.h"
#include "training/interval.h"

static uint64_t rng = 88172645463325252ULL;

static double uniform(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return ((rng >> 11) + 0.5) / 9007199254740992.0;
}

static double gauss(void)
{
    return sqrt(-2 * log(uniform())) * cos(6.283185307179586 * uniform());
}

static void test_grid_quantiles(void **state)
{
    enum { N = 200000 };
    float *r = malloc(N * sizeof *r), g[HZ_IV_GRID];
    for (int i = 0; i < N; i++)
        r[i] = (float)gauss();
    hz_iv_grid_fill(r, N, g);
    assert_true(fabs(hz_iv_grid_at(g, 0.95) - 1.645) < 0.03);
    assert_true(fabs(hz_iv_grid_at(g, 0.005) + 2.576) < 0.05);
    assert_true(fabs(hz_iv_grid_at(g, 0.5)) < 0.02);
    free(r);
}

/* Past the grid's ends (tails below 0.0005) the tail is exponential from the 5% quantile:
 * exact for the default grid (a Laplace), continuous at the last grid point, and for a
 * gaussian sample further out than the last point but short of an exponential's. */
static void test_grid_tail_beyond(void **state)
{
    float g[HZ_IV_GRID];
    hz_iv_grid_default(g);
    assert_true(fabs(hz_iv_grid_at(g, 0.99995) + log(2 * 0.00005)) < 1e-4);
    assert_true(fabs(hz_iv_grid_at(g, 0.00005) - log(2 * 0.00005)) < 1e-4);
    assert_true(fabs(hz_iv_grid_at(g, 0.9995 + 1e-12) - g[HZ_IV_GRID - 1]) < 1e-6);
    enum { N = 200000 };
    float *r = malloc(N * sizeof *r);
    for (int i = 0; i < N; i++)
        r[i] = (float)gauss();
    hz_iv_grid_fill(r, N, g);
    double q = hz_iv_grid_at(g, 0.99995); /* a gaussian's is 3.89 */
    assert_true(q > g[HZ_IV_GRID - 1] && q < 3.89 * 1.25);
    assert_true(hz_iv_grid_at(g, 0.00005) < g[0]);
    free(r);
}

static hz_iv_var plain(void)
{
    return (hz_iv_var){
        .transform = HZ_TF_NONE, .mean = 0, .std = 1, .lo = NAN, .hi = NAN, .scale_med = 1};
}

/* A longer step's own offset learns faster at a rarer tail: 0.01 per miss at 90%, 1.8 times
 * that at 99% (hz_iv_gamma_step); the shared offset 0.05 at every level. */
static void test_gamma_step_by_tail(void **state)
{
    assert_true(fabs(hz_iv_gamma_step(0.05) - HZ_IV_GAMMA_STEP) < 1e-12);
    assert_true(fabs(hz_iv_gamma_step(0.005) - 0.01 * pow(10, 0.25)) < 1e-9);
    assert_true(hz_iv_gamma_step(1e-9) == HZ_IV_GAMMA);
    hz_iv_var v = plain();
    const double levels[2] = {0.9, 0.99};
    hz_iv iv;
    char err[200];
    assert_int_equal(hz_iv_init(&iv, 2, 1, levels, 2, &v, NULL, err, sizeof err), 0);
    hz_iv_adapt a[2];
    memset(a, 0, sizeof a);
    const double lo[2] = {-1, -2}, hi[2] = {1, 2};
    hz_iv_learn(&iv, a, 2, 5, lo, hi); /* step 2 misses above at both levels */
    assert_true(fabs(a[1].d[0][1] - 0.01 * 0.95) < 1e-6);
    assert_true(fabs(a[1].d[1][1] - 0.01 * pow(10, 0.25) * 0.995) < 1e-6);
    assert_true(a[0].d[1][1] == 0);
    hz_iv_learn(&iv, a, 1, 5, lo, hi); /* step 1: the shared offset */
    assert_true(fabs(a[0].d[1][1] - 0.05 * 0.995) < 1e-6);
    hz_iv_free(&iv);
}

static void test_log1p_bounds_asymmetric(void **state)
{
    hz_iv_var v = plain();
    v.transform = HZ_TF_LOG1P;
    v.lo = 0;
    const double levels[2] = {0.9, 0.99};
    hz_iv iv;
    char err[200];
    assert_int_equal(hz_iv_init(&iv, 3, 1, levels, 2, &v, NULL, err, sizeof err), 0);
    double lo[2], hi[2];
    for (double fc = -5; fc < 1000; fc = fc * 1.7 + 6) {
        hz_iv_interval(&iv, NULL, 0, 2, fc, 0.3, lo, hi);
        double f = fc > 0 ? fc : 0;
        assert_true(lo[1] >= 0 && lo[1] <= lo[0] && lo[0] <= f);
        assert_true(f <= hi[0] && hi[0] <= hi[1]);
        if (f > 10) /* multiplicative: further up than down */
            assert_true(hi[1] - f > f - lo[1]);
    }
    /* a band proportional to the level: ten times the flow, about ten times the width */
    hz_iv_interval(&iv, NULL, 0, 1, 100, 0.3, lo, hi);
    double w100 = hi[1] - lo[1];
    hz_iv_interval(&iv, NULL, 0, 1, 1000, 0.3, lo, hi);
    assert_true((hi[1] - lo[1]) / w100 > 9 && (hi[1] - lo[1]) / w100 < 11);
    hz_iv_free(&iv);
}

static void test_score_and_flag(void **state)
{
    hz_iv_var v = plain();
    const double levels[2] = {0.9, 0.99};
    hz_iv iv;
    char err[200];
    assert_int_equal(hz_iv_init(&iv, 1, 1, levels, 2, &v, NULL, err, sizeof err), 0);
    double lo[2], hi[2];
    hz_iv_interval(&iv, NULL, 0, 1, 5, 1, lo, hi);
    hz_iv_result r;
    assert_int_equal(hz_iv_observe(&iv, NULL, 0, 1, 5, 5, 1, &r), 0);
    assert_true(r.score == 0 && !r.flagged && r.exceeded == 0);
    assert_int_equal(hz_iv_observe(&iv, NULL, 0, 1, hi[1] - 1e-9, 5, 1, &r), 0);
    assert_true(fabs(r.score - 0.5) < 1e-6 && r.exceeded == 1 && !r.flagged);
    assert_int_equal(hz_iv_observe(&iv, NULL, 0, 1, hi[1] + 10, 5, 1, &r), 0);
    assert_true(r.score > 0.5 && r.flagged && r.exceeded == 2);
    assert_true(r.hi[1] == hi[1] && r.lo[0] == lo[0]);
    assert_int_equal(hz_iv_observe(&iv, NULL, 0, 1, NAN, 5, 1, &r), -1);
    hz_iv_free(&iv);
}

/* Noise whose spread switches between 0.3 and 3 every 2000 points, against a calibration
 * (the default unit Laplace grid) fitted to neither: the offsets bring the long-run share of
 * points inside each interval to the nominal level. */
/* A log1p column is fitted, scaled and restored in log1p space; the other stays linear; the
 * flag travels in the checkpoint's scaler metadata. */
static void test_scaler_log1p(void **state)
{
    (void)state;
    float v[8] = {0, 10, 1, 20, 9, 30, 99, 40};
    hz_table t = {.rows = 4, .cols = 2, .values = v};
    hz_scaler s = {.log1p = {1, 0}};
    hz_scaler_fit(&s, &t, 0, 4);
    double m = (log1p(0) + log1p(1) + log1p(9) + log1p(99)) / 4;
    assert_true(fabs(s.mean[0] - m) < 1e-9);
    assert_true(fabs(s.mean[1] - 25) < 1e-9);
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 2; c++) {
            double x = v[r * 2 + c];
            assert_true(fabs(hz_scaler_inv(&s, c, hz_scaler_fwd(&s, c, x)) - x) < 1e-6 * (1 + x));
        }
    assert_true(fabs(hz_scaler_fwd(&s, 0, -5) - hz_scaler_fwd(&s, 0, 0)) < 1e-12);
    assert_true(isnan(hz_scaler_fwd(&s, 0, NAN)));
    hz_iv_var iv = {.mean = s.mean[0], .std = s.std[0], .scaled_log1p = 1};
    assert_true(fabs(hz_iv_unscale(&iv, hz_scaler_fwd(&s, 0, 9)) - 9) < 1e-9);
    char *j = hz_meta_scaler_json(&s);
    assert_non_null(strstr(j, "\"log1p\":[1,0]"));
    free(j);
    s.log1p[0] = 0;
    j = hz_meta_scaler_json(&s);
    assert_null(strstr(j, "log1p"));
    free(j);
}

static void test_online_coverage(void **state)
{
    hz_iv_var v = plain();
    const double levels[2] = {0.9, 0.99};
    hz_iv iv;
    char err[200];
    assert_int_equal(hz_iv_init(&iv, 1, 1, levels, 2, &v, NULL, err, sizeof err), 0);
    hz_iv_adapt a;
    memset(&a, 0, sizeof a);
    enum { N = 60000 };
    int in[2] = {0, 0}, in_fixed[2] = {0, 0};
    for (int t = 0; t < N; t++) {
        double sd = (t / 2000) % 2 ? 3.0 : 0.3, y = sd * gauss();
        hz_iv_result r, f;
        hz_iv_observe(&iv, NULL, 0, 1, y, 0, 1, &f);
        hz_iv_observe(&iv, &a, 0, 1, y, 0, 1, &r);
        hz_iv_learn(&iv, &a, 1, y, r.lo, r.hi);
        for (int l = 0; l < 2; l++) {
            in[l] += y >= r.lo[l] && y <= r.hi[l];
            in_fixed[l] += y >= f.lo[l] && y <= f.hi[l];
        }
    }
    double c90 = (double)in[0] / N, c99 = (double)in[1] / N;
    assert_true(fabs(c90 - 0.90) < 0.01);
    assert_true(fabs(c99 - 0.99) < 0.005);
    /* without the offsets the same intervals are far off */
    assert_true(fabs((double)in_fixed[0] / N - 0.90) > 0.03);
    hz_iv_free(&iv);
}

/* Forecast errors whose spread grows over the steps (0.3, 1, 3, 6) against a calibration
 * that says the same spread at every step: each step's own offset, learnt through the ring
 * of issued intervals, brings that step's coverage to the level; steps == 1 cannot. */
static double ring_run(int steps, double cover[4])
{
    hz_iv_var v = plain();
    const double levels[1] = {0.9};
    enum { P = 4, N = 40000 };
    static const double sd[P] = {0.3, 1, 3, 6};
    hz_iv iv;
    char err[200];
    assert_int_equal(hz_iv_init(&iv, P, 1, levels, 1, &v, NULL, err, sizeof err), 0);
    iv.steps = steps;
    hz_iv_adapt a[P];
    memset(a, 0, sizeof a);
    float ring[P * P * 2];
    int64_t tags[P];
    assert_int_equal(hz_iv_ring_len(&iv), P * P * 2);
    hz_iv_ring_reset(&iv, ring, tags);
    static double fc[N + P][P + 1]; /* fc[target][h]: the forecast issued h before */
    static double lo[N + P][P + 1], hi[N + P][P + 1];
    int in[P] = {0}, cnt[P] = {0};
    for (int t = 0; t < N; t++) {
        double y = gauss();
        if (t >= P && steps > 1) /* the reading of slot t meets what was issued for it */
            hz_iv_ring_learn(&iv, a, ring, tags, t, 0, y);
        else if (t >= P) /* as the daemon without the ring: step 1 only */
            hz_iv_learn(&iv, a, 1, y, &lo[t][1], &hi[t][1]);
        for (int h = 1; h <= P && t >= P; h++)
            if (t > N / 2) {
                in[h - 1] += y >= lo[t][h] && y <= hi[t][h];
                cnt[h - 1]++;
            }
        for (int h = 1; h <= P; h++) { /* issue the forecast of slot t for t + h */
            fc[t + h][h] = 0 + sd[h - 1] * gauss();
            hz_iv_interval(&iv, a, 0, h, fc[t + h][h], 1, &lo[t + h][h], &hi[t + h][h]);
            hz_iv_ring_put(&iv, ring, tags, t + h, h, 0, &lo[t + h][h], &hi[t + h][h]);
        }
    }
    double worst = 0;
    for (int h = 0; h < P; h++) {
        cover[h] = (double)in[h] / cnt[h];
        if (fabs(cover[h] - 0.9) > worst)
            worst = fabs(cover[h] - 0.9);
    }
    hz_iv_free(&iv);
    return worst;
}

static void test_ring_step_coverage(void **state)
{
    (void)state;
    double c[4];
    assert_true(ring_run(4, c) < 0.015);
    assert_true(ring_run(1, c) > 0.1); /* one shared offset fits step 1 only */
    assert_true(c[0] > 0.88 && c[0] < 0.92);
}

/* The calendar marks by integer arithmetic equal gmtime_r's over 200k random instants from
 * 1900 to 2200 (negative times included) and at day and year edges. */
static void test_timef_matches_gmtime(void **state)
{
    (void)state;
    srand(11);
    for (int i = 0; i < 200000; i++) {
        int64_t ts =
            i < 4 ? (int64_t[]){0, -1, 946684799999LL, 951782400000LL}[i]
                  : ((int64_t)rand() * RAND_MAX + rand()) % 9467280000000LL - 2208988800000LL;
        float a[4], b[4];
        hz_timef_hour(ts, a);
        time_t t = (time_t)(ts >= 0 ? ts / 1000 : (ts - 999) / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        b[0] = (float)(tm.tm_hour / 23.0 - 0.5);
        b[1] = (float)(((tm.tm_wday + 6) % 7) / 6.0 - 0.5);
        b[2] = (float)((tm.tm_mday - 1) / 30.0 - 0.5);
        b[3] = (float)(tm.tm_yday / 365.0 - 0.5);
        assert_memory_equal(a, b, sizeof a);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grid_quantiles),     cmocka_unit_test(test_grid_tail_beyond),
        cmocka_unit_test(test_gamma_step_by_tail), cmocka_unit_test(test_log1p_bounds_asymmetric),
        cmocka_unit_test(test_score_and_flag),     cmocka_unit_test(test_online_coverage),
        cmocka_unit_test(test_ring_step_coverage), cmocka_unit_test(test_timef_matches_gmtime),
        cmocka_unit_test(test_scaler_log1p),
    };
    return cmocka_run_group_tests_name("interval", tests, NULL, NULL);
}
