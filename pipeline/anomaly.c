/* anomaly.c — the data-quality rules range / flatline / spike (MAD of one-period
 * differences, Hampel-style robust z, confirmed by the return) / gap, and the two-sided
 * CUSUM shift detector (anomaly.h). */
#include "pipeline/anomaly.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- data-quality rules */

void hz_anomaly_rules_conf_default(hz_rules_conf *conf)
{
    memset(conf, 0, sizeof *conf);
    conf->range_min = NAN;
    conf->range_max = NAN;
    conf->spike_window = HZ_RULES_SPIKE_MAX;
}

int hz_anomaly_rules_conf_check(const hz_rules_conf *c, char *err, size_t errlen)
{
    if (!isnan(c->range_min) && !isnan(c->range_max) && !(c->range_min <= c->range_max))
        return hz_err(err, errlen, HZ_EINVAL,
                      "anomaly.rules.range: expected [min, max] with min <= max, got [%g, %g]",
                      c->range_min, c->range_max);
    if (c->flatline < 0 || c->flatline == 1)
        return hz_err(err, errlen, HZ_EINVAL,
                      "anomaly.rules.flatline: expected 0 (off) or a count >= 2, got %d",
                      c->flatline);
    if (!(c->flatline_tol >= 0))
        return hz_err(err, errlen, HZ_EINVAL,
                      "anomaly.rules.flatline_tol: expected a number >= 0, got %g",
                      c->flatline_tol);
    if (!(c->spike_k >= 0) || !isfinite(c->spike_k))
        return hz_err(err, errlen, HZ_EINVAL,
                      "anomaly.rules.spike: expected 0 (off) or k > 0 robust deviations, got %g",
                      c->spike_k);
    if (c->spike_k > 0 && (c->spike_window < 8 || c->spike_window > HZ_RULES_SPIKE_MAX))
        return hz_err(err, errlen, HZ_EINVAL,
                      "anomaly.rules.spike_window: expected 8..%d differences, got %d",
                      HZ_RULES_SPIKE_MAX, c->spike_window);
    if (c->gap < 0)
        return hz_err(err, errlen, HZ_EINVAL,
                      "anomaly.rules.gap: expected 0 (off) or a number of periods >= 1, got %d",
                      c->gap);
    if ((c->gap > 0 || c->spike_k > 0) && c->period_ms <= 0)
        return hz_err(err, errlen, HZ_EINVAL,
                      "window.period: the gap and spike rules need a period > 0");
    return 0;
}

void hz_anomaly_rules_init(hz_rules_state *s)
{
    memset(s, 0, sizeof *s);
    s->last_ts = INT64_MIN;
    s->prev_ts = INT64_MIN;
    s->prev = NAN;
    s->last_d = NAN;
    s->run_value = NAN;
}

/* Periods between two timestamps, rounded (readings a little off the grid still count as
 * one period apart). */
static int64_t periods(int64_t from, int64_t to, int64_t period)
{
    return (to - from + period / 2) / period;
}

static double median_inplace(float *a, int n)
{
    /* insertion sort: n <= HZ_RULES_SPIKE_MAX */
    for (int i = 1; i < n; i++) {
        float v = a[i];
        int j = i - 1;
        while (j >= 0 && a[j] > v) {
            a[j + 1] = a[j];
            j--;
        }
        a[j + 1] = v;
    }
    return n % 2 ? (double)a[n / 2] : 0.5 * ((double)a[n / 2 - 1] + (double)a[n / 2]);
}

static void push_diff(const hz_rules_conf *c, hz_rules_state *s, double d)
{
    s->diffs[s->dpos] = (float)d;
    s->dpos = (uint8_t)((s->dpos + 1) % c->spike_window);
    if (s->ndiff < c->spike_window)
        s->ndiff++;
}

static hz_anomaly *emit(hz_anomaly *out, int max_out, int *n, const char *kind, int64_t ts,
                        double value, double score)
{
    if (*n >= max_out)
        return NULL;
    hz_anomaly *a = &out[(*n)++];
    memset(a, 0, sizeof *a);
    a->ts = ts;
    a->value = value;
    a->expected = a->lower = a->upper = NAN;
    a->score = score;
    a->flag = 1;
    a->kind = kind;
    return a;
}

/* A value in the spike rule's space. */
static double spike_space(const hz_rules_conf *c, double v)
{
    return c->log1p ? log1p(v > 0 ? v : 0) : v;
}

/* Back from the spike rule's space. */
static double spike_orig(const hz_rules_conf *c, double x)
{
    return c->log1p ? expm1(x) : x;
}

/* Median and robust sigma (1.4826 MAD) of the recent differences; 0 while too few. */
static int diff_scale(const hz_rules_conf *c, const hz_rules_state *s, double *med, double *sigma)
{
    int need = c->spike_window / 2 > 8 ? c->spike_window / 2 : 8;
    if (s->ndiff < need)
        return 0;
    float tmp[HZ_RULES_SPIKE_MAX];
    memcpy(tmp, s->diffs, (size_t)s->ndiff * sizeof *tmp);
    *med = median_inplace(tmp, s->ndiff);
    for (int i = 0; i < s->ndiff; i++)
        tmp[i] = fabsf(tmp[i] - (float)*med);
    *sigma = 1.4826 * median_inplace(tmp, s->ndiff);
    return *sigma > 0;
}

/* A candidate from the previous reading becomes a spike when x (spike space, one period
 * later) undoes at least three quarters of its jump, falling past where it started by at most
 * half of it (a spike on a storm's recession, 7 -> 38 -> 2.8 m3/s). */
static void confirm_spike(const hz_rules_conf *c, hz_rules_state *s, int consecutive, double x,
                          hz_anomaly *out, int max_out, int *n)
{
    if (!s->cand)
        return;
    s->cand = 0;
    double back = (x - s->before) * (s->cand_jump > 0 ? 1 : -1), j = fabs(s->cand_jump);
    if (!consecutive || back > 0.25 * j || back < -0.5 * j)
        return;
    hz_anomaly *a = emit(out, max_out, n, "spike", s->cand_ts, s->cand_value, s->cand_score);
    if (a) {
        a->expected = s->cand_expected;
        a->lower = s->cand_lower;
        a->upper = s->cand_upper;
    }
}

/* Whether jump d (spike space) from prev is a candidate: beyond k sigma of the recent
 * differences, and prev had not already moved that way by more than a quarter of d (a rise
 * over two readings is a pulse, e.g. a storm's 7 -> 18 -> 39 -> 19 m3/s; a spike starts from
 * where the series was). */
static int spike_jump(const hz_rules_conf *c, const hz_rules_state *s, double d, double med,
                      double sigma)
{
    if (!(fabs(d - med) > c->spike_k * sigma))
        return 0;
    return !(s->last_d * (d > 0 ? 1 : -1) > 0.25 * fabs(d));
}

/* The spike rule on an in-range value: confirms or drops the previous reading's candidate,
 * makes this reading one when it jumps, updates prev and the difference ring.  Every
 * one-period difference enters the ring, jumps too: the median and MAD shrug off a few
 * outliers, and a ring that refused them could lock onto a scale too small forever.
 * Zero differences (repeats within flatline_tol) stay out: a stuck stretch would otherwise
 * collapse the MAD and make every later movement a spike. */
static void check_spike(const hz_rules_conf *c, hz_rules_state *s, int64_t ts, double value,
                        hz_anomaly *out, int max_out, int *n)
{
    int consecutive = s->prev_ts != INT64_MIN && periods(s->prev_ts, ts, c->period_ms) == 1;
    double x = spike_space(c, value);
    confirm_spike(c, s, consecutive, x, out, max_out, n);
    if (consecutive) {
        double px = spike_space(c, s->prev), d = x - px, med, sigma;
        if (diff_scale(c, s, &med, &sigma) && spike_jump(c, s, d, med, sigma)) {
            double z = fabs(d - med) / sigma;
            s->cand = 1;
            s->before = px;
            s->cand_jump = d;
            s->cand_ts = ts;
            s->cand_value = value;
            s->cand_score = z / (z + c->spike_k);
            s->cand_expected = spike_orig(c, px + med);
            s->cand_lower = spike_orig(c, px + med - c->spike_k * sigma);
            s->cand_upper = spike_orig(c, px + med + c->spike_k * sigma);
        }
        if (fabs(d) > c->flatline_tol)
            push_diff(c, s, d);
        s->last_d = d;
    } else {
        s->last_d = NAN;
    }
    s->prev = value;
    s->prev_ts = ts;
}

int hz_anomaly_rules_check(const hz_rules_conf *c, hz_rules_state *s, int64_t ts, double value,
                           hz_anomaly *out, int max_out)
{
    int n = 0;
    if (!isfinite(value) || (s->last_ts != INT64_MIN && ts <= s->last_ts))
        return 0;

    if (c->gap > 0 && s->last_ts != INT64_MIN) {
        int64_t missing = periods(s->last_ts, ts, c->period_ms) - 1;
        if (missing > c->gap)
            emit(out, max_out, &n, "gap", ts, value, (double)missing / (double)(missing + c->gap));
    }
    s->last_ts = ts;

    if ((!isnan(c->range_min) && value < c->range_min) ||
        (!isnan(c->range_max) && value > c->range_max) || (c->zero && value == 0)) {
        hz_anomaly *a = emit(out, max_out, &n, "range", ts, value, 1.0);
        if (a) {
            a->lower = c->range_min;
            a->upper = c->range_max;
        }
        s->cand = 0; /* no return to confirm a spike before it */
        return n;    /* kept out of the flatline and spike state */
    }

    if (c->flatline > 0) {
        if (s->run_len > 0 && fabs(value - s->run_value) <= c->flatline_tol) {
            if (s->run_len < INT32_MAX)
                s->run_len++;
        } else {
            s->run_value = value;
            s->run_len = 1;
            s->run_flagged = 0;
        }
        if (s->run_len >= c->flatline && !s->run_flagged) {
            emit(out, max_out, &n, "flatline", ts, value, 1.0);
            s->run_flagged = 1;
        }
    }

    if (c->spike_k > 0)
        check_spike(c, s, ts, value, out, max_out, &n);
    return n;
}

/* ---- level and ratio shifts */

void hz_shift_init(hz_shift_state *s)
{
    memset(s, 0, sizeof *s);
}

int hz_shift_update(double h, int hold, hz_shift_state *s, int64_t ts, double u, double value,
                    double expected, hz_anomaly *out)
{
    if (!isfinite(u))
        return 0;
    int fired = -1;
    for (int d = 0; d < 2; d++) {
        double x = d ? -u : u, before = s->sum[d], now = before + x - HZ_SHIFT_K;
        if (s->hold[d] > 0) { /* just flagged this way: the model is catching up */
            s->hold[d]--;
            s->sum[d] = 0;
            continue;
        }
        if (now <= 0) {
            s->sum[d] = 0;
            continue;
        }
        if (before == 0 || x > s->top[d]) {
            s->from[d] = ts;
            s->value[d] = value;
            s->expected[d] = expected;
            s->top[d] = (float)x;
        }
        s->sum[d] = (float)now;
        if (now > h && fired < 0)
            fired = d;
    }
    if (fired < 0)
        return 0;
    memset(out, 0, sizeof *out);
    out->ts = s->from[fired];
    out->value = s->value[fired];
    out->expected = s->expected[fired];
    out->lower = out->upper = NAN;
    out->score = s->sum[fired] / (s->sum[fired] + h);
    out->flag = 1;
    out->kind = "shift";
    s->sum[0] = s->sum[1] = 0;
    s->hold[fired] = hold;
    s->hold[!fired] = 0;
    return 1;
}

void hz_season_init(hz_season_state *s)
{
    memset(s, 0, sizeof *s);
    s->last = INT64_MIN;
}

void hz_season_free(hz_season_state *s)
{
    free(s->hist);
    hz_season_init(s);
}

static int cmp_f(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* The references of slot t in hist (ring of n = K * season slots, t - n .. t - 1 held):
 * sorted into ref; returns their count, *seasons the seasons that gave one. */
static int season_refs(const float *hist, int season, int64_t t, float *ref, int *seasons)
{
    int64_t n = (int64_t)HZ_SEASON_K * season;
    int cnt = 0;
    *seasons = 0;
    for (int k = 1; k <= HZ_SEASON_K; k++) {
        int before = cnt;
        for (int j = -HZ_SEASON_W; j <= HZ_SEASON_W; j++) {
            int64_t u = t - (int64_t)k * season + j;
            if (u < t - n || u >= t)
                continue;
            float v = hist[((u % n) + n) % n];
            if (!isnan(v))
                ref[cnt++] = v;
        }
        *seasons += cnt > before;
    }
    qsort(ref, (size_t)cnt, sizeof *ref, cmp_f);
    return cnt;
}

/* Stores x at slot t, clearing the slots skipped since the last one. */
static void season_store(hz_season_state *s, int season, int64_t t, float x)
{
    int64_t n = (int64_t)HZ_SEASON_K * season;
    int64_t from = s->last == INT64_MIN || t - s->last > n ? t - n + 1 : s->last + 1;
    for (int64_t u = from; u < t; u++)
        s->hist[((u % n) + n) % n] = NAN;
    s->hist[((t % n) + n) % n] = x;
    s->last = t;
}

/* The least value held for the slots more than a season before slot (the current run's
 * readings left out); NaN: none.  Called before slot is stored. */
static double season_floor(const hz_season_state *s, int season, int64_t slot)
{
    int64_t n = (int64_t)HZ_SEASON_K * season;
    double lo = NAN;
    for (int64_t u = slot - n + 1; u <= slot - season; u++) {
        float v = u > s->last - n ? s->hist[((u % n) + n) % n] : NAN;
        if (!isnan(v) && !(v >= lo))
            lo = v;
    }
    return lo;
}

/* The direction of a run x would open against the references ref[m] (sorted); with in_log
 * a run down must be below the history's floor too (anomaly.h).  Before slot is stored. */
static int season_way(const hz_season_state *s, int season, int in_log, int64_t slot, double x,
                      const float *ref, int m)
{
    if (m < 1 || s->state)
        return 0;
    if (x > ref[m - 1])
        return 1;
    if (!(x < ref[0]))
        return 0;
    return !in_log || x < season_floor(s, season, slot) ? -1 : 0;
}

int hz_season_routine(int season, int in_log, const hz_season_state *s, int64_t slot, double value,
                      int way)
{
    if (!s->hist || season < 1 || s->last == INT64_MIN || !isfinite(value))
        return 0;
    int64_t n = (int64_t)HZ_SEASON_K * season;
    double x = in_log ? log1p(value > 0 ? value : 0) : value;
    int days = 0;
    for (int k = 1; k <= HZ_SEASON_K; k++) {
        int hit = 0;
        for (int j = -HZ_SEASON_W; j <= HZ_SEASON_W; j++) {
            int64_t u = slot - (int64_t)k * season + j;
            if (u <= s->last - n || u >= slot)
                continue; /* not held, or overwritten since */
            float v = s->hist[((u % n) + n) % n];
            hit |= !isnan(v) && (way > 0 ? v >= x : v <= x);
        }
        days += hit;
    }
    return days;
}

/* The record of the run that just completed: the start of a stretch (flag 1) or its end
 * (flag 1 when the readings came back, 0 when the history caught up: anomaly.h). */
static int season_flag(hz_season_state *s, double unit, int in_log, int flag, hz_anomaly *out)
{
    double e = s->run ? s->excess / s->run : 0;
    memset(out, 0, sizeof *out);
    out->ts = s->from;
    out->value = s->value;
    out->expected = in_log ? expm1(s->expected) : s->expected;
    out->lower = out->upper = NAN;
    out->score = e > 0 ? e / (e + unit) : 0.5;
    out->flag = flag;
    out->kind = "shift";
    s->run = s->strong = 0;
    s->sign = 0;
    s->excess = 0;
    return 1;
}

/* While a stretch stands (s->state): reading x (median med of its references ref[m], sorted)
 * in the run that ends it (anomaly.h).  A run opens at a reading back within unit of the
 * median and breaks at one still shifted: beyond every reference that way and past unit, as
 * the readings that opened the stretch were.  A reading in between (an appliance's burst that
 * the same hour reached on one of the last days) counts towards R but neither opens nor breaks
 * the run. */
static int season_end(hz_season_state *s, int season, int in_log, int64_t slot, int64_t ts,
                      double value, double x, double med, double unit, const float *ref, int m,
                      int R, hz_anomaly *out)
{
    double past = (x - med) * s->state;
    int back = past < unit;
    int beyond = s->state > 0 ? x > ref[m - 1] : x < ref[0];
    if (!back && beyond) {
        s->run = s->strong = 0;
        s->excess = 0;
        return 0;
    }
    if (!s->run) {
        if (!back)
            return 0;
        s->from = ts;
        s->value = value;
        s->expected = med;
    }
    s->run++;
    s->excess += fabs(past);
    if (s->run < R)
        return 0;
    s->state = 0;
    /* a stretch longer than half the references' seasons has moved their median: it "ends"
     * because the history holds the new level, not because the readings came back */
    int returned = 2 * (slot - (s->run - 1) - s->since) < (int64_t)HZ_SEASON_K * season;
    return season_flag(s, unit > 0 ? unit : 1, in_log, returned, out);
}

int hz_season_update(int season, int in_log, hz_season_state *s, int64_t slot, int64_t ts,
                     double value, hz_anomaly *out)
{
    if (!isfinite(value) || season < 1 || (s->last != INT64_MIN && slot <= s->last))
        return 0;
    size_t n = (size_t)HZ_SEASON_K * (size_t)season;
    if (!s->hist) {
        if (!(s->hist = malloc(n * sizeof *s->hist)))
            return HZ_ENOMEM;
        for (size_t i = 0; i < n; i++)
            s->hist[i] = NAN;
    }
    double x = in_log ? log1p(value > 0 ? value : 0) : value;
    float ref[HZ_SEASON_K * (2 * HZ_SEASON_W + 1)];
    int seasons, m = season_refs(s->hist, season, slot, ref, &seasons);
    int way = season_way(s, season, in_log, slot, x, ref, m);
    season_store(s, season, slot, (float)x);
    if (seasons < 3)
        return 0;
    double med = m % 2 ? ref[m / 2] : (ref[m / 2 - 1] + ref[m / 2]) / 2.0;
    double unit = in_log ? HZ_SEASON_MIN_LOG : (ref[m - 1] - ref[0]) / 2;
    int R = season / 12 > 4 ? season / 12 : 4;
    if (s->state)
        return season_end(s, season, in_log, slot, ts, value, x, med, unit, ref, m, R, out);
    if (!way || way != s->sign) {
        s->run = s->strong = 0;
        s->excess = 0;
        s->sign = (int8_t)way;
        if (!way)
            return 0;
        s->from = ts;
        s->value = value;
        s->expected = med;
    }
    double past = (x - med) * way;
    s->run++;
    s->excess += past > 0 ? past : -past;
    s->strong += past >= unit;
    if (s->run < R || 2 * s->strong < s->run)
        return 0;
    s->state = (int8_t)way;
    s->since = slot - (s->run - 1);
    return season_flag(s, unit > 0 ? unit : 1, in_log, 1, out);
}
