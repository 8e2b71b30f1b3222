/* test_anomaly.c — the data-quality rules and the shift detectors (pipeline/anomaly.h), one
 * behaviour at a time, then with the residual check of training/interval.h on a synthetic
 * 15-minute household load with injected faults, and on a real USGS river gauge (Choptank
 * River, daily discharge, CC0: data/choptank/ChoptankRiverFlow.txt in the repository, read
 * from the repository root). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hz.h"
#include "pipeline/anomaly.h"
#include "training/interval.h"

/* ---- a seeded RNG (xorshift64*) with Box-Muller normals */
typedef struct rng {
    uint64_t s;
} rng;

static double uniform(rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return (double)((r->s * 2685821657736338717ULL) >> 11) * 0x1.0p-53;
}

static double normal(rng *r)
{
    double u = uniform(r), v = uniform(r);
    if (u < 1e-300)
        u = 1e-300;
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

/* A plain interval space: z = x, default grid, typical scale 1. */
static void plain_intervals(hz_iv *iv, const float *grid)
{
    hz_iv_var v = {.transform = HZ_TF_NONE, .std = 1, .lo = NAN, .hi = NAN, .scale_med = 1};
    const double levels[2] = {0.90, 0.99};
    char err[HZ_ERRLEN];
    assert_int_equal(hz_iv_init(iv, 1, 1, levels, 2, &v, grid, err, sizeof err), 0);
}

/* Steady state allocates nothing: heap in use is the same before and after 20k points
 * through the residual check with its online offsets, the rules and the shift detector.
 * (Under ASan mallinfo2 reports zeros and this holds trivially; the normal build is the
 * one that checks.) */
static void test_no_allocation_per_point(void **state)
{
    hz_iv iv;
    plain_intervals(&iv, NULL);
    hz_iv_adapt ad;
    memset(&ad, 0, sizeof ad);
    hz_shift_state sh;
    hz_shift_init(&sh);
    rng g = {3};
    hz_rules_conf rc;
    hz_anomaly_rules_conf_default(&rc);
    rc.range_min = -3;
    rc.range_max = 3;
    rc.flatline = 4;
    rc.spike_k = 4;
    rc.gap = 2;
    rc.period_ms = 1000;
    hz_rules_state st;
    hz_anomaly_rules_init(&st);
    hz_anomaly out[HZ_RULES_MAX_OUT];
    struct mallinfo2 before = mallinfo2();
    int flagged = 0;
    for (int i = 0; i < 20000; i++) {
        double x = normal(&g);
        hz_iv_result r;
        hz_iv_observe(&iv, &ad, 0, 1, x, 0, 1, &r);
        hz_iv_learn(&iv, &ad, 1, x, r.lo, r.hi);
        hz_anomaly a;
        flagged += hz_shift_update(8, 100, &sh, i, r.u, x, 0, &a);
        flagged += hz_anomaly_rules_check(&rc, &st, i * 1000LL + (i % 500 == 0) * 5000, x, out,
                                          HZ_RULES_MAX_OUT);
    }
    struct mallinfo2 after = mallinfo2();
    assert_true(after.uordblks == before.uordblks);
    assert_true(after.hblkhd == before.hblkhd);
    assert_true(flagged > 0);
    hz_iv_free(&iv);
}

/* ---- rules on single behaviours */

static hz_rules_conf rules_all(void)
{
    hz_rules_conf c;
    hz_anomaly_rules_conf_default(&c);
    c.range_min = 0;
    c.range_max = 100;
    c.flatline = 4;
    c.spike_k = 6;
    c.spike_window = 16;
    c.gap = 2;
    c.period_ms = 60000;
    return c;
}

static void test_rules_conf_check(void **state)
{
    char err[HZ_ERRLEN];
    hz_rules_conf c = rules_all();
    assert_int_equal(hz_anomaly_rules_conf_check(&c, err, sizeof err), 0);
    c.range_min = 200;
    assert_int_equal(hz_anomaly_rules_conf_check(&c, err, sizeof err), HZ_EINVAL);
    assert_non_null(strstr(err, "range"));
    c = rules_all();
    c.flatline = 1;
    assert_int_equal(hz_anomaly_rules_conf_check(&c, err, sizeof err), HZ_EINVAL);
    assert_non_null(strstr(err, "flatline"));
    c = rules_all();
    c.spike_window = 64;
    assert_int_equal(hz_anomaly_rules_conf_check(&c, err, sizeof err), HZ_EINVAL);
    c = rules_all();
    c.period_ms = 0;
    assert_int_equal(hz_anomaly_rules_conf_check(&c, err, sizeof err), HZ_EINVAL);
    assert_non_null(strstr(err, "period"));
    hz_anomaly_rules_conf_default(&c); /* all off: valid without a period */
    assert_int_equal(hz_anomaly_rules_conf_check(&c, err, sizeof err), 0);
}

/* rules.zero: a reading of exactly 0 is a range fault, each one (a dead meter or gauge), kept
 * out of the flatline state, so a run of zeros is not also a flatline; a small positive
 * reading is not one; without zero, a 0 inside the range is a reading like any other. */
static void test_rules_zero(void **state)
{
    hz_rules_conf c;
    hz_anomaly_rules_conf_default(&c);
    c.range_min = 0;
    c.flatline = 3;
    c.period_ms = 86400000;
    hz_rules_state s;
    hz_anomaly out[HZ_RULES_MAX_OUT];
    const double q[] = {0.74, 0.6, 0.0099, 0, 0, 0, 0, 0.5};
    for (int zero = 0; zero <= 1; zero++) {
        c.zero = zero;
        hz_anomaly_rules_init(&s);
        int range = 0, flat = 0;
        for (int i = 0; i < 8; i++) {
            int n = hz_anomaly_rules_check(&c, &s, i * c.period_ms, q[i], out, HZ_RULES_MAX_OUT);
            for (int j = 0; j < n; j++) {
                range += !strcmp(out[j].kind, "range");
                flat += !strcmp(out[j].kind, "flatline");
                if (!strcmp(out[j].kind, "range"))
                    assert_true(out[j].value == 0 && out[j].lower == 0 && isnan(out[j].upper));
            }
        }
        assert_int_equal(range, zero ? 4 : 0);
        assert_int_equal(flat, zero ? 0 : 1);
    }
}

static void test_rules_flatline_once_per_stretch(void **state)
{
    hz_rules_conf c = rules_all();
    c.spike_k = 0;
    hz_rules_state s;
    hz_anomaly_rules_init(&s);
    hz_anomaly out[HZ_RULES_MAX_OUT];
    /* 3 equal (short of 4), change, 10 equal, change, 4 equal within tol */
    const double v[] = {5, 5, 5, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 9, 9, 9, 9};
    int flagged_at[32], nf = 0;
    c.flatline_tol = 0;
    for (int i = 0; i < (int)(sizeof v / sizeof *v); i++) {
        int n = hz_anomaly_rules_check(&c, &s, i * 60000LL, v[i], out, HZ_RULES_MAX_OUT);
        for (int j = 0; j < n; j++) {
            assert_string_equal(out[j].kind, "flatline");
            assert_true(isnan(out[j].expected));
            flagged_at[nf++] = i;
        }
    }
    assert_int_equal(nf, 2);
    assert_int_equal(flagged_at[0], 7);  /* 4th of the stretch of 7s */
    assert_int_equal(flagged_at[1], 18); /* 4th 9 */
    /* tolerance: a stuck sensor with jitter in the last digit */
    c.flatline_tol = 0.01;
    hz_anomaly_rules_init(&s);
    int n = 0;
    for (int i = 0; i < 6; i++)
        n += hz_anomaly_rules_check(&c, &s, i * 60000LL, 3.0 + (i % 2) * 0.005, out, 4);
    assert_int_equal(n, 1);
}

static void test_rules_gap_range_order(void **state)
{
    hz_rules_conf c = rules_all();
    c.spike_k = 0;
    c.flatline = 0;
    hz_rules_state s;
    hz_anomaly_rules_init(&s);
    hz_anomaly out[HZ_RULES_MAX_OUT];
    const int64_t P = 60000;
    assert_int_equal(hz_anomaly_rules_check(&c, &s, 0, 10, out, 4), 0);
    /* 2 missing periods: not more than gap=2 */
    assert_int_equal(hz_anomaly_rules_check(&c, &s, 3 * P, 10, out, 4), 0);
    /* readings a little off the grid count as one period */
    assert_int_equal(hz_anomaly_rules_check(&c, &s, 4 * P + 2000, 10, out, 4), 0);
    /* 3 missing: flagged, with the value out of range too: gap first, then range */
    assert_int_equal(hz_anomaly_rules_check(&c, &s, 8 * P, 150, out, 4), 2);
    assert_string_equal(out[0].kind, "gap");
    assert_true(fabs(out[0].score - 3.0 / 5) < 1e-12);
    assert_true(out[0].value == 150 && out[0].ts == 8 * P);
    assert_string_equal(out[1].kind, "range");
    assert_true(out[1].lower == 0 && out[1].upper == 100 && out[1].score == 1);
    /* out of order and duplicates are ignored; NaN is a missing reading */
    assert_int_equal(hz_anomaly_rules_check(&c, &s, 7 * P, -5, out, 4), 0);
    assert_int_equal(hz_anomaly_rules_check(&c, &s, 8 * P, -5, out, 4), 0);
    for (int i = 9; i < 14; i++)
        assert_int_equal(hz_anomaly_rules_check(&c, &s, i * P, NAN, out, 4), 0);
    assert_int_equal(hz_anomaly_rules_check(&c, &s, 14 * P, 50, out, 4), 1);
    assert_string_equal(out[0].kind, "gap");
    /* max_out bounds the output */
    assert_int_equal(hz_anomaly_rules_check(&c, &s, 30 * P, -1, out, 1), 1);
    assert_string_equal(out[0].kind, "gap");
}

static void test_rules_spike_needs_return(void **state)
{
    hz_rules_conf c = rules_all();
    c.flatline = 0;
    c.range_min = c.range_max = NAN;
    hz_rules_state s;
    hz_anomaly_rules_init(&s);
    hz_anomaly out[HZ_RULES_MAX_OUT];
    rng g = {42};
    const int64_t P = 60000;
    int i = 0, nspike = 0;
    for (; i < 40; i++) /* noisy baseline */
        nspike += hz_anomaly_rules_check(&c, &s, i * P, 20 + normal(&g), out, 4);
    assert_int_equal(nspike, 0);
    /* a one-point spike, then back: reported when the next reading returns, at the spike */
    int64_t spike_ts = i * P;
    assert_int_equal(hz_anomaly_rules_check(&c, &s, i++ * P, 40, out, 4), 0);
    assert_int_equal(hz_anomaly_rules_check(&c, &s, i++ * P, 20, out, 4), 1);
    assert_string_equal(out[0].kind, "spike");
    assert_int_equal(out[0].ts, spike_ts);
    assert_true(out[0].value == 40);
    assert_true(out[0].score > 0.5 && out[0].score < 1);
    assert_true(fabs(out[0].expected - 20) < 3);
    assert_true(out[0].lower < out[0].expected && out[0].expected < out[0].upper);
    assert_true(out[0].upper < 40);
    for (int k = 0; k < 10; k++, i++)
        assert_int_equal(hz_anomaly_rules_check(&c, &s, i * P, 20 + normal(&g), out, 4), 0);
    /* a jump that stays (a level shift, a storm's rise) is not a spike */
    nspike = 0;
    for (int k = 0; k < 30; k++, i++)
        nspike += hz_anomaly_rules_check(&c, &s, i * P, 60 + normal(&g), out, 4);
    assert_int_equal(nspike, 0);
    /* a jump, then a gap: nothing to confirm it */
    assert_int_equal(hz_anomaly_rules_check(&c, &s, i++ * P, 90, out, 4), 0);
    i++;
    assert_int_equal(hz_anomaly_rules_check(&c, &s, i++ * P, 60, out, 4), 0);
    /* a dip and back is a spike too */
    for (int k = 0; k < 20; k++, i++)
        hz_anomaly_rules_check(&c, &s, i * P, 60 + normal(&g), out, 4);
    assert_int_equal(hz_anomaly_rules_check(&c, &s, i++ * P, 30, out, 4), 0);
    assert_int_equal(hz_anomaly_rules_check(&c, &s, i++ * P, 60, out, 4), 1);
    assert_true(out[0].value == 30);
}

/* A pulse that rises over two readings and falls back (a storm's 7 -> 18 -> 39 -> 19 m3/s)
 * is not a spike: the reading before the jump had already moved that way by more than a
 * quarter of it.  The same jump from where the series was is one. */
static void test_rules_spike_from_calm(void **state)
{
    hz_rules_conf c = rules_all();
    c.flatline = 0;
    c.range_min = c.range_max = NAN;
    const int64_t P = 60000;
    for (int rise = 0; rise < 2; rise++) {
        hz_rules_state s;
        hz_anomaly_rules_init(&s);
        hz_anomaly out[HZ_RULES_MAX_OUT];
        rng g = {7};
        int i = 0, n = 0;
        for (; i < 40; i++)
            n += hz_anomaly_rules_check(&c, &s, i * P, 20 + normal(&g), out, 4);
        assert_int_equal(n, 0);
        /* 20 -> (30 or 20) -> 60 -> back near the reading before the jump */
        double before = rise ? 30 : 20;
        n += hz_anomaly_rules_check(&c, &s, i++ * P, before, out, 4);
        n += hz_anomaly_rules_check(&c, &s, i++ * P, before + 30, out, 4);
        n += hz_anomaly_rules_check(&c, &s, i++ * P, before + 1, out, 4);
        assert_int_equal(n, !rise);
    }
}

/* The return may fall past where the jump started (a spike on a storm's recession: 7 -> 38
 * -> 2.8 m3/s) by up to half the jump; further, it is a jump up and a drop, not a spike. */
static void test_rules_spike_return_overshoot(void **state)
{
    hz_rules_conf c = rules_all();
    c.flatline = 0;
    c.range_min = c.range_max = NAN;
    const int64_t P = 60000;
    const double after[2] = {12, 2}; /* 8 (0.27 of the jump) and 18 (0.6) below the start */
    for (int k = 0; k < 2; k++) {
        hz_rules_state s;
        hz_anomaly_rules_init(&s);
        hz_anomaly out[HZ_RULES_MAX_OUT];
        rng g = {9};
        int i = 0, n = 0;
        for (; i < 40; i++)
            n += hz_anomaly_rules_check(&c, &s, i * P, 20 + normal(&g), out, 4);
        assert_int_equal(n, 0);
        n += hz_anomaly_rules_check(&c, &s, i++ * P, 20, out, 4);
        n += hz_anomaly_rules_check(&c, &s, i++ * P, 50, out, 4);
        n += hz_anomaly_rules_check(&c, &s, i++ * P, after[k], out, 4);
        assert_int_equal(n, k == 0);
    }
}

/* With log1p a jump is judged relative to the level: +10 is a spike on 2, not on 200. */
static void test_rules_spike_log1p(void **state)
{
    hz_rules_conf c = rules_all();
    c.flatline = 0;
    c.range_min = c.range_max = NAN;
    c.log1p = 1;
    const int64_t P = 60000;
    const double level[2] = {2, 200};
    for (int l = 0; l < 2; l++) {
        hz_rules_state s;
        hz_anomaly_rules_init(&s);
        hz_anomaly out[HZ_RULES_MAX_OUT];
        rng g = {5};
        int i = 0, n = 0;
        for (; i < 40; i++)
            n += hz_anomaly_rules_check(&c, &s, i * P, level[l] * (1 + 0.02 * normal(&g)), out, 4);
        assert_int_equal(n, 0);
        n += hz_anomaly_rules_check(&c, &s, i * P, level[l] + 10, out, 4);
        i++;
        n += hz_anomaly_rules_check(&c, &s, i * P, level[l], out, 4);
        assert_int_equal(n, l == 0);
    }
}

/* The shift detector on residuals in half-widths: quiet on N(0, 0.6) noise; a stretch where
 * the readings run above the forecast (until the model catches up) and then below (when
 * the level returns) is flagged at its start and at its end, once each. */
static void test_shift_start_and_end(void **state)
{
    hz_shift_state s;
    hz_shift_init(&s);
    hz_anomaly a;
    rng g = {11};
    int t = 0, n = 0;
    for (; t < 2000; t++)
        n += hz_shift_update(4, 96, &s, t, 0.6 * normal(&g), 1, 1, &a);
    assert_int_equal(n, 0);
    int64_t start = t, end = 0, got[2] = {-1, -1};
    double dir[2] = {0, 0};
    for (int k = 0; k < 96 + 300; k++, t++) {
        /* x3 for 96 readings: the residual is large, then fades as the model follows */
        double u = k < 96 ? 3.0 * exp(-k / 20.0) : 0;
        if (k >= 96 && k < 96 + 40)
            u = -3.0 * exp(-(k - 96) / 20.0);
        if (k == 96)
            end = t;
        u += 0.6 * normal(&g);
        if (hz_shift_update(4, 96, &s, t, u, 1 + u, 1, &a)) {
            assert_true(n < 2);
            assert_string_equal(a.kind, "shift");
            assert_true(a.score > 0.5 && a.score < 1 && a.flag == 1);
            got[n] = a.ts;
            dir[n] = a.value - a.expected;
            n++;
        }
    }
    assert_int_equal(n, 2);
    assert_true(got[0] >= start && got[0] <= start + 2 && dir[0] > 0);
    assert_true(got[1] >= end && got[1] <= end + 2 && dir[1] < 0);
    assert_true(isnan(a.lower) && isnan(a.upper));
}

/* A sum already growing on small residuals before a step: the flag goes to the step's first
 * reading (the largest residual), not to where the sum left 0. */
static void test_shift_start_at_step(void **state)
{
    (void)state;
    hz_shift_state s;
    hz_shift_init(&s);
    hz_anomaly a;
    int n = 0;
    for (int t = 100; t < 105; t++)
        n += hz_shift_update(12, 96, &s, t, 0.9, 1, 1, &a);
    assert_int_equal(n, 0);
    assert_int_equal(hz_shift_update(12, 96, &s, 105, 20, 3, 1, &a), 1);
    assert_int_equal(a.ts, 105);
    assert_true(a.value == 3 && a.expected == 1);
}

/* The seasonal level detector: a daily load cycle (96 readings a day, noise 5%), then a day
 * at three times the load: flagged at its first reading (or a noisy one before, that opened
 * the run) and at its end, the first reading of the day after, nothing on the clean days;
 * late readings are not judged. */
static void test_season_shift(void **state)
{
    hz_season_state s;
    hz_season_init(&s);
    hz_anomaly a;
    rng g = {13};
    const int D = 96;
    int flags = 0, at[4] = {0};
    for (int t = 0; t < 20 * D; t++) {
        double x = (300 + 200 * sin(6.2831853 * t / D)) * (1 + 0.05 * normal(&g));
        if (t >= 12 * D && t < 13 * D)
            x *= 3;
        int rc = hz_season_update(D, 1, &s, t, t * 1000LL, x, &a);
        assert_true(rc == 0 || rc == 1);
        if (rc) {
            assert_string_equal(a.kind, "shift");
            assert_int_equal(a.flag, 1); /* the start and the end */
            if (flags < 4)
                at[flags] = (int)(a.ts / 1000);
            flags++;
        }
        assert_int_equal(hz_season_update(D, 1, &s, t - 1, 0, 1e6, &a), 0); /* late */
    }
    assert_int_equal(flags, 2);
    assert_true(at[0] >= 12 * D - 2 && at[0] <= 12 * D); /* a high reading may open the run */
    assert_int_equal(at[1], 13 * D);
    hz_season_free(&s);
}

/* A load (log1p) that falls to its usual nightly level at a busy hour is an empty house: no
 * flag; below the lowest reading of the last days (its standby) it is a fault, flagged where
 * it starts and where it ends. */
static void test_season_down_below_floor(void **state)
{
    hz_season_state s;
    hz_season_init(&s);
    hz_anomaly a;
    rng g = {17};
    const int D = 96;
    int flags = 0, at[4] = {0};
    for (int t = 0; t < 20 * D; t++) {
        double x = (300 + 200 * sin(6.2831853 * t / D)) * (1 + 0.02 * normal(&g));
        if (t >= 10 * D && t < 11 * D) /* the day at the night's level */
            x = 110 * (1 + 0.02 * normal(&g));
        if (t >= 16 * D && t < 17 * D) /* the day at a third of the standby */
            x = 30 * (1 + 0.02 * normal(&g));
        if (hz_season_update(D, 1, &s, t, t * 1000LL, x, &a) == 1) {
            assert_string_equal(a.kind, "shift");
            assert_int_equal(a.flag, 1);
            if (flags < 4)
                at[flags] = (int)(a.ts / 1000);
            flags++;
        }
    }
    assert_int_equal(flags, 2);
    assert_int_equal(at[0], 16 * D);
    assert_int_equal(at[1], 17 * D);
    hz_season_free(&s);
}

/* A household's routine bursts (a 15-minute reading at 2.5 times the load every hour, the
 * same slots every day) do not hold a stretch open: a day at four times the load is flagged
 * at its first reading and at the first reading of the day after, though a burst comes
 * within every two hours after it (the bursts are within the references' range, not beyond
 * every one of them as the stretch's readings were). */
static void test_season_end_despite_routine_bursts(void **state)
{
    hz_season_state s;
    hz_season_init(&s);
    hz_anomaly a;
    rng g = {23};
    const int D = 96;
    int flags = 0, at[4] = {0};
    for (int t = 0; t < 20 * D; t++) {
        double x = (300 + 200 * sin(6.2831853 * t / D)) * (1 + 0.03 * normal(&g));
        if (t % 6 == 3)
            x *= 2.5;
        if (t >= 12 * D && t < 13 * D)
            x *= 4;
        if (hz_season_update(D, 1, &s, t, t * 1000LL, x, &a) == 1) {
            assert_int_equal(a.flag, 1);
            if (flags < 4)
                at[flags] = (int)(a.ts / 1000);
            flags++;
        }
    }
    assert_int_equal(flags, 2);
    assert_true(at[0] >= 12 * D - 2 && at[0] <= 12 * D);
    assert_int_equal(at[1], 13 * D);
    hz_season_free(&s);
}

/* A lasting new level (a new appliance on for good) is flagged where it starts; once half the
 * references' seasons hold it their median has moved and the stretch "ends": recorded with
 * flag 0, not an alarm, since the readings did not come back. */
static void test_season_lasting_level(void **state)
{
    hz_season_state s;
    hz_season_init(&s);
    hz_anomaly a;
    rng g = {29};
    const int D = 96;
    int flags = 0, ends = 0, at[4] = {0};
    for (int t = 0; t < 24 * D; t++) {
        double x = (300 + 200 * sin(6.2831853 * t / D)) * (1 + 0.05 * normal(&g));
        if (t >= 10 * D)
            x *= 3;
        if (hz_season_update(D, 1, &s, t, t * 1000LL, x, &a) == 1) {
            if (flags + ends < 4)
                at[flags + ends] = (int)(a.ts / 1000);
            flags += a.flag;
            ends += !a.flag;
        }
    }
    assert_int_equal(flags, 1);
    assert_int_equal(ends, 1);
    assert_true(at[0] >= 10 * D - 2 && at[0] <= 10 * D);
    assert_true(at[1] > 13 * D && at[1] < 15 * D); /* the median moves on the 4th day */
    hz_season_free(&s);
}

/* The spike rule's routine check: how many of the last days reached a value at the same
 * time of day, give or take a slot. */
static void test_season_routine(void **state)
{
    hz_season_state s;
    hz_season_init(&s);
    hz_anomaly a;
    const int D = 96;
    assert_int_equal(hz_season_routine(D, 1, &s, 5, 1000, 1), 0); /* no history */
    for (int t = 0; t < 10 * D; t++) {
        double x = 200;
        if (t % D == 28 && t / D >= 7) /* a kettle at 07:00 on days 7, 8, 9 */
            x = 2000;
        if (t == 8 * D + 60) /* one low reading at 15:00 on day 8 */
            x = 50;
        hz_season_update(D, 1, &s, t, t * 1000LL, x, &a);
    }
    const int64_t t = 10 * D;
    assert_int_equal(hz_season_routine(D, 1, &s, t + 29, 1900, 1), 3); /* a slot off */
    assert_int_equal(hz_season_routine(D, 1, &s, t + 28, 2500, 1), 0); /* higher than ever */
    assert_int_equal(hz_season_routine(D, 1, &s, t + 40, 1900, 1), 0); /* not at 10:00 */
    assert_int_equal(hz_season_routine(D, 1, &s, t + 60, 60, -1), 1);
    assert_int_equal(hz_season_routine(D, 1, &s, t + 60, 40, -1), 0);
    assert_int_equal(hz_season_routine(D, 1, &s, t + 60, 100, 1), 7); /* 200 every day */
    hz_season_free(&s);
}

/* ---- a smart-meter day cycle with injected faults, scored end to end */

#define DAY   96 /* 15-minute periods per day */
#define NDAYS 28

static double load_at(int t, rng *g)
{
    double h = (t % DAY) / 4.0;
    return 1.0 + 0.6 * sin(2 * M_PI * (h - 6) / 24) + 0.4 * exp(-(h - 19) * (h - 19) / 2) +
           0.05 * normal(g);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void test_daily_load_with_faults(void **state)
{
    const int T = NDAYS * DAY;
    const int64_t P = 15 * 60000;
    const int64_t t0 = 1795000000000LL;
    double *x = malloc((size_t)T * sizeof *x);
    int *present = malloc((size_t)T * sizeof *present);
    rng g = {7};
    for (int t = 0; t < T; t++) {
        x[t] = load_at(t, &g);
        present[t] = 1;
    }
    const int spike_t = 20 * DAY + 72; /* day 20, 18:00: +1.5 kW for one reading */
    x[spike_t] += 1.5;
    const int stuck_t = 22 * DAY + 40; /* day 22, 10:00-13:45: the meter repeats itself */
    for (int t = stuck_t; t < stuck_t + 16; t++)
        x[t] = x[stuck_t];
    const int range_t = 24 * DAY + 12; /* day 24, 03:00: a negative reading */
    x[range_t] = -1;
    const int gap_t = 25 * DAY + 32; /* day 25, 08:00-10:45 lost: 12 periods */
    for (int t = gap_t; t < gap_t + 12; t++)
        present[t] = 0;

    hz_rules_conf rc;
    hz_anomaly_rules_conf_default(&rc);
    rc.range_min = 0;
    rc.range_max = 5;
    rc.flatline = 8;
    rc.spike_k = 6;
    rc.spike_window = 32;
    rc.gap = 4;
    rc.period_ms = P;
    char err[HZ_ERRLEN];
    assert_int_equal(hz_anomaly_rules_conf_check(&rc, err, sizeof err), 0);
    hz_rules_state st;
    hz_anomaly_rules_init(&st);

    float *cal = malloc(7 * DAY * sizeof *cal), grid[HZ_IV_GRID];
    size_t ncal = 0;
    hz_iv iv;
    hz_iv_adapt ad;
    memset(&ad, 0, sizeof ad);

    /* forecast: median of the same slot over the previous 7 days (robust seasonal naive);
     * days 7..13 are the held-out split that calibrates the intervals */
    int n_by_kind[5] = {0}; /* residual range flatline spike gap */
    const char *kinds[5] = {"residual", "range", "flatline", "spike", "gap"};
    int spike_kinds = 0, flat_at = -1, range_at = -1, gap_at = -1, spike_at = -1;
    for (int t = 7 * DAY; t < T; t++) {
        double past[7];
        int np = 0;
        for (int d = 1; d <= 7; d++)
            if (present[t - d * DAY] && x[t - d * DAY] >= 0)
                past[np++] = x[t - d * DAY];
        qsort(past, (size_t)np, sizeof *past, cmp_double);
        double forecast = np % 2 ? past[np / 2] : 0.5 * (past[np / 2 - 1] + past[np / 2]);
        if (t < 14 * DAY) {
            cal[ncal++] = (float)(x[t] - forecast);
            hz_anomaly_rules_check(&rc, &st, t0 + t * P, x[t], NULL, 0);
            if (t == 14 * DAY - 1) {
                hz_iv_grid_fill(cal, ncal, grid);
                plain_intervals(&iv, grid);
            }
            continue;
        }
        if (!present[t])
            continue;
        hz_anomaly out[HZ_RULES_MAX_OUT + 1];
        int n = hz_anomaly_rules_check(&rc, &st, t0 + t * P, x[t], out, HZ_RULES_MAX_OUT);
        hz_iv_result r;
        assert_int_equal(hz_iv_observe(&iv, &ad, 0, 1, x[t], forecast, 1, &r), 0);
        hz_iv_learn(&iv, &ad, 1, x[t], r.lo, r.hi);
        if (r.flagged)
            out[n++] = (hz_anomaly){.ts = t0 + t * P,
                                    .value = x[t],
                                    .expected = forecast,
                                    .lower = r.lo[1],
                                    .upper = r.hi[1],
                                    .score = r.score,
                                    .flag = 1,
                                    .kind = "residual"};
        int has_res = 0;
        for (int j = 0; j < n; j++) {
            for (int k = 0; k < 5; k++)
                n_by_kind[k] += strcmp(out[j].kind, kinds[k]) == 0;
            assert_true(out[j].score >= 0 && out[j].score <= 1);
            int spike = strcmp(out[j].kind, "spike") == 0;
            /* a spike is reported with the next reading, at its own time */
            assert_int_equal(out[j].ts, t0 + (t - spike) * P);
            has_res |= strcmp(out[j].kind, "residual") == 0;
            if (strcmp(out[j].kind, "flatline") == 0)
                flat_at = t;
            if (strcmp(out[j].kind, "range") == 0)
                range_at = t;
            if (strcmp(out[j].kind, "gap") == 0)
                gap_at = t;
            if (spike)
                spike_at = t - 1;
        }
        if (t == spike_t)
            spike_kinds += has_res;
        if (t == spike_t + 1)
            spike_kinds += spike_at == spike_t;
    }
    int scored = 14 * DAY - 12;
    printf("  daily load, %d points scored: residual %d, range %d, flatline %d, spike %d, "
           "gap %d\n",
           scored, n_by_kind[0], n_by_kind[1], n_by_kind[2], n_by_kind[3], n_by_kind[4]);
    /* the injected spike is both a spike and a residual outlier at 0.99 */
    assert_int_equal(spike_kinds, 2);
    assert_int_equal(n_by_kind[3], 1);
    assert_int_equal(spike_at, spike_t);
    /* the stuck stretch: once, at its 8th reading */
    assert_int_equal(n_by_kind[2], 1);
    assert_int_equal(flat_at, stuck_t + 7);
    assert_int_equal(n_by_kind[1], 1);
    assert_int_equal(range_at, range_t);
    assert_int_equal(n_by_kind[4], 1);
    assert_int_equal(gap_at, gap_t + 12);
    /* residual flags at 0.99: the faults plus about 1% of the clean points */
    assert_true(n_by_kind[0] >= 2 && n_by_kind[0] <= 2 + 4 + scored / 40);
    hz_iv_free(&iv);
    free(cal);
    free(x);
    free(present);
}

/* ---- a real river gauge: USGS 01491000, Choptank River near Greensboro MD, daily mean
 * discharge (m3/s) 1999-10-01 .. 2011-09-30, CC0 (data/choptank/SOURCE.md) */

typedef struct gauge_counts {
    int flat, spike, gap, range;
    int irene, jun2001, drought2005;
} gauge_counts;

/* Runs the rules a hydrologist would set on a daily discharge series (the spike rule on q,
 * or with log1p on log1p q). */
static gauge_counts run_gauge(const int64_t *ts, const int *ymd, const double *q, int n, int logq)
{
    hz_rules_conf rc;
    hz_anomaly_rules_conf_default(&rc);
    rc.range_min = 0;
    rc.range_max = 1000;
    rc.log1p = logq;
    rc.flatline = 5;
    rc.spike_k = 6;
    rc.spike_window = 32;
    rc.gap = 1;
    rc.period_ms = 86400000LL;
    char err[HZ_ERRLEN];
    assert_int_equal(hz_anomaly_rules_conf_check(&rc, err, sizeof err), 0);
    hz_rules_state st;
    hz_anomaly_rules_init(&st);
    gauge_counts g = {0};
    for (int i = 0; i < n; i++) {
        hz_anomaly out[HZ_RULES_MAX_OUT];
        int k = hz_anomaly_rules_check(&rc, &st, ts[i], q[i], out, HZ_RULES_MAX_OUT);
        for (int j = 0; j < k; j++) {
            const char *kind = out[j].kind;
            if (strcmp(kind, "flatline") == 0) {
                g.flat++;
                if (!logq)
                    printf("  flatline %d at %.4f m3/s\n", ymd[i], q[i]);
                g.drought2005 += ymd[i] == 20050926;
            } else if (strcmp(kind, "spike") == 0) { /* reported a day later */
                g.spike++;
                g.irene += ymd[i - 1] == 20110828;
                g.jun2001 += ymd[i - 1] == 20010617;
                if (logq)
                    printf("  spike %d %.2f -> %.2f -> %.2f m3/s\n", ymd[i - 1], q[i - 2], q[i - 1],
                           q[i]);
            } else if (strcmp(kind, "gap") == 0) {
                g.gap++;
            } else {
                g.range++;
            }
        }
    }
    printf("  Choptank %d days, %s: flatline %d, spike %d (%.1f/yr), gap %d, range %d\n", n,
           logq ? "log1p q" : "q", g.flat, g.spike, g.spike / (n / 365.25), g.gap, g.range);
    return g;
}

static void test_choptank_river_gauge(void **state)
{
    const char *path = "data/choptank/ChoptankRiverFlow.txt";
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("%s not readable: run the suite from the repository root", path);
    enum { MAXROWS = 5000 };
    int64_t *ts = malloc(MAXROWS * sizeof *ts);
    int *ymd = malloc(MAXROWS * sizeof *ymd);
    double *q = malloc(MAXROWS * sizeof *q);
    char line[256];
    int n = 0;
    assert_non_null(fgets(line, sizeof line, f)); /* header */
    while (n < MAXROWS && fgets(line, sizeof line, f)) {
        int m, d, y;
        if (sscanf(line, "%d/%d/%d\t%lf", &m, &d, &y, &q[n]) != 4)
            continue;
        ts[n] = hz_days_from_civil(y, m, d) * 86400000LL;
        ymd[n] = y * 10000 + m * 100 + d;
        n++;
    }
    fclose(f);
    assert_int_equal(n, 4383);
    gauge_counts g = run_gauge(ts, ymd, q, n, 0);
    /* data/choptank/SOURCE.md: every step is one day, no empty values: no gap, nothing out
     * of range */
    assert_int_equal(g.gap, 0);
    assert_int_equal(g.range, 0);
    /* the stretches of 5+ identical daily values (low flow reported in whole ft3/s):
     * 6 days from 2001-10-09, 6 from 2001-10-20, 5 from 2002-02-20, 9 from 2005-09-22 */
    assert_int_equal(g.flat, 4);
    assert_int_equal(g.drought2005, 1);
    /* the two largest one-day rises, Hurricane Irene (14.7 -> 246 m3/s on 2011-08-28) and
     * 2.3 -> 88.9 on 2001-06-17, are floods that stay up for days: not spikes (the residual
     * check reports them).  Nor are storm pulses that rise over two days and fall back
     * (32 in 12 years counted before they had to start from where the river was; 13 on log1p
     * flow); what remains is a one-day blip at low flow (0.45 -> 1.13 -> 0.57 on 2005-08-29). */
    assert_int_equal(g.irene, 0);
    assert_int_equal(g.jun2001, 0);
    assert_true(g.spike / (n / 365.25) < 0.5); /* 2 in 12 years; 40 a year before */
    gauge_counts gl = run_gauge(ts, ymd, q, n, 1);
    assert_int_equal(gl.irene, 0);
    assert_int_equal(gl.jun2001, 0);
    assert_true(gl.spike < g.spike); /* 1: the 2005-08-29 blip */
    assert_int_equal(gl.flat, 4);
    free(ts);
    free(ymd);
    free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_allocation_per_point),
        cmocka_unit_test(test_rules_conf_check),
        cmocka_unit_test(test_rules_zero),
        cmocka_unit_test(test_rules_flatline_once_per_stretch),
        cmocka_unit_test(test_rules_gap_range_order),
        cmocka_unit_test(test_rules_spike_needs_return),
        cmocka_unit_test(test_rules_spike_log1p),
        cmocka_unit_test(test_rules_spike_from_calm),
        cmocka_unit_test(test_rules_spike_return_overshoot),
        cmocka_unit_test(test_shift_start_and_end),
        cmocka_unit_test(test_shift_start_at_step),
        cmocka_unit_test(test_season_shift),
        cmocka_unit_test(test_season_down_below_floor),
        cmocka_unit_test(test_season_end_despite_routine_bursts),
        cmocka_unit_test(test_season_lasting_level),
        cmocka_unit_test(test_season_routine),
        cmocka_unit_test(test_daily_load_with_faults),
        cmocka_unit_test(test_choptank_river_gauge),
    };
    return cmocka_run_group_tests_name("anomaly", tests, NULL, NULL);
}
