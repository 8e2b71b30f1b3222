/* anomaly.c — split-conformal residual scoring updated online (Lei et al. 2018, §2.2; the
 * calibration set is a sliding window of the last `capacity` residuals) and the data-quality
 * rules range / flatline / spike (MAD of one-period differences, Hampel-style robust z) /
 * gap.  docs/ARCHITECTURE.md.
 *
 * A calibration set keeps its residuals twice: in arrival order (a ring, to know which one
 * to drop) and sorted (for quantiles and ranks by binary search).  An update removes the
 * oldest value from the sorted copy and inserts the new one, two memmoves of at most
 * `capacity` doubles, with no allocation. */
#include "pipeline/anomaly.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct hz_conformal {
    const hz_conformal_conf *conf; /* the owning set's copy */
    double *ring;                  /* (capacity) arrival order */
    double *sorted;                /* (capacity) ascending, first n valid */
    size_t n, head;                /* count; ring index of the oldest */
};

struct hz_conformal_set {
    hz_conformal_conf conf;
    int nvars, horizon;
    hz_conformal *sets; /* (nvars * horizon) */
    double *data;       /* (nvars * horizon * 2 * capacity) */
};

void hz_conformal_conf_default(hz_conformal_conf *conf)
{
    memset(conf, 0, sizeof *conf);
    conf->capacity = 1000;
    conf->nlevels = 2;
    conf->levels[0] = 0.90;
    conf->levels[1] = 0.99;
}

int hz_conformal_conf_check(const hz_conformal_conf *conf, char *err, size_t errlen)
{
    if (conf->capacity < 1 || conf->capacity > 100000)
        return hz_err(err, errlen, HZ_EINVAL,
                      "anomaly.calibration: capacity must be 1..100000, got %d", conf->capacity);
    if (conf->nlevels < 1 || conf->nlevels > HZ_CONFORMAL_MAX_LEVELS)
        return hz_err(err, errlen, HZ_EINVAL, "anomaly.levels: expected 1..%d levels, got %d",
                      HZ_CONFORMAL_MAX_LEVELS, conf->nlevels);
    for (int i = 0; i < conf->nlevels; i++) {
        double a = conf->levels[i];
        if (!(a > 0 && a < 1))
            return hz_err(err, errlen, HZ_EINVAL,
                          "anomaly.levels[%d]: expected a number in (0, 1), got %g", i, a);
        if (i > 0 && !(a > conf->levels[i - 1]))
            return hz_err(err, errlen, HZ_EINVAL,
                          "anomaly.levels[%d]: levels must be strictly increasing (%g after %g)", i,
                          a, conf->levels[i - 1]);
    }
    return 0;
}

hz_conformal_set *hz_conformal_set_new(const hz_conformal_conf *conf, int nvars, int horizon,
                                       char *err, size_t errlen)
{
    if (hz_conformal_conf_check(conf, err, errlen))
        return NULL;
    if (nvars < 1 || nvars > HZ_MAX_VARS || horizon < 1 || horizon > 100000) {
        hz_err(err, errlen, HZ_EINVAL,
               "conformal set: need 1..%d variables and a horizon >= 1, got %d and %d", HZ_MAX_VARS,
               nvars, horizon);
        return NULL;
    }
    size_t k = (size_t)nvars * (size_t)horizon, cap = (size_t)conf->capacity;
    hz_conformal_set *s = calloc(1, sizeof *s);
    if (s) {
        s->sets = calloc(k, sizeof *s->sets);
        s->data = malloc(k * 2 * cap * sizeof *s->data);
    }
    if (!s || !s->sets || !s->data) {
        hz_conformal_set_free(s);
        hz_err(err, errlen, HZ_ENOMEM, "conformal set: out of memory for %zu x %zu residuals", k,
               cap);
        return NULL;
    }
    s->conf = *conf;
    s->nvars = nvars;
    s->horizon = horizon;
    for (size_t i = 0; i < k; i++) {
        s->sets[i].conf = &s->conf;
        s->sets[i].ring = s->data + 2 * cap * i;
        s->sets[i].sorted = s->data + 2 * cap * i + cap;
    }
    return s;
}

void hz_conformal_set_free(hz_conformal_set *s)
{
    if (!s)
        return;
    free(s->sets);
    free(s->data);
    free(s);
}

hz_conformal *hz_conformal_set_at(hz_conformal_set *s, int var, int step)
{
    assert(s && var >= 0 && var < s->nvars && step >= 1 && step <= s->horizon);
    return &s->sets[(size_t)var * (size_t)s->horizon + (size_t)(step - 1)];
}

/* First index i in a[0..n) with a[i] >= v (lower bound). */
static size_t lower_bound(const double *a, size_t n, double v)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void hz_conformal_update(hz_conformal *c, double r)
{
    if (!isfinite(r))
        return;
    r = fabs(r);
    size_t cap = (size_t)c->conf->capacity;
    if (c->n == cap) {
        double old = c->ring[c->head];
        size_t i = lower_bound(c->sorted, c->n, old);
        assert(i < c->n && c->sorted[i] == old);
        memmove(c->sorted + i, c->sorted + i + 1, (c->n - i - 1) * sizeof *c->sorted);
        c->n--;
        c->ring[c->head] = r;
        c->head = (c->head + 1) % cap;
    } else {
        c->ring[(c->head + c->n) % cap] = r;
    }
    size_t j = lower_bound(c->sorted, c->n, r);
    memmove(c->sorted + j + 1, c->sorted + j, (c->n - j) * sizeof *c->sorted);
    c->sorted[j] = r;
    c->n++;
}

size_t hz_conformal_seed(hz_conformal *c, const double *residuals, size_t n)
{
    size_t added = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(residuals[i])) {
            hz_conformal_update(c, residuals[i]);
            added++;
        }
    return added;
}

size_t hz_conformal_seed_f32(hz_conformal *c, const float *residuals, size_t n)
{
    size_t added = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(residuals[i])) {
            hz_conformal_update(c, (double)residuals[i]);
            added++;
        }
    return added;
}

size_t hz_conformal_count(const hz_conformal *c)
{
    return c->n;
}

double hz_conformal_quantile(const hz_conformal *c, double level)
{
    /* rank k = ceil((n+1) a), 1-based; the small epsilon keeps e.g. (9+1)*0.9 = 9 from
     * rounding up to 10 through floating-point error */
    double k = ceil((double)(c->n + 1) * level - 1e-9);
    if (c->n == 0 || k > (double)c->n)
        return INFINITY;
    if (k < 1)
        k = 1;
    return c->sorted[(size_t)k - 1];
}

void hz_conformal_interval(const hz_conformal *c, double forecast, double level, double *lower,
                           double *upper)
{
    double q = hz_conformal_quantile(c, level);
    *lower = forecast - q;
    *upper = forecast + q;
}

int hz_conformal_score(const hz_conformal *c, double actual, double forecast,
                       hz_conformal_result *r)
{
    if (!isfinite(actual) || !isfinite(forecast))
        return HZ_EINVAL;
    const hz_conformal_conf *conf = c->conf;
    double res = fabs(actual - forecast);
    r->residual = res;
    r->score = c->n ? (double)lower_bound(c->sorted, c->n, res) / (double)c->n : 0.0;
    r->exceeded = 0;
    for (int i = 0; i < conf->nlevels; i++) {
        double q = hz_conformal_quantile(c, conf->levels[i]);
        r->lower[i] = forecast - q;
        r->upper[i] = forecast + q;
        if (res > q)
            r->exceeded = i + 1;
    }
    for (int i = conf->nlevels; i < HZ_CONFORMAL_MAX_LEVELS; i++)
        r->lower[i] = r->upper[i] = NAN;
    r->flagged = r->exceeded == conf->nlevels;
    return 0;
}

int hz_conformal_observe(hz_conformal *c, double actual, double forecast, hz_conformal_result *r)
{
    int rc = hz_conformal_score(c, actual, forecast, r);
    if (rc)
        return rc;
    if (!(r->flagged && c->conf->skip_flagged))
        hz_conformal_update(c, r->residual);
    return 0;
}

void hz_conformal_to_anomaly(const hz_conformal_result *r, int64_t ts, double actual,
                             double forecast, hz_anomaly *out)
{
    int top = 0;
    while (top + 1 < HZ_CONFORMAL_MAX_LEVELS && !isnan(r->lower[top + 1]))
        top++;
    memset(out, 0, sizeof *out);
    out->ts = ts;
    out->value = actual;
    out->expected = forecast;
    out->lower = r->lower[top];
    out->upper = r->upper[top];
    out->score = r->score;
    out->flag = r->flagged;
    out->kind = "residual";
}

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
 * later) undoes at least three quarters of its jump. */
static void confirm_spike(const hz_rules_conf *c, hz_rules_state *s, int consecutive, double x,
                          hz_anomaly *out, int max_out, int *n)
{
    if (!s->cand)
        return;
    s->cand = 0;
    if (!consecutive || fabs(x - s->before) > 0.25 * fabs(s->cand_jump))
        return;
    hz_anomaly *a = emit(out, max_out, n, "spike", s->cand_ts, s->cand_value, s->cand_score);
    if (a) {
        a->expected = s->cand_expected;
        a->lower = s->cand_lower;
        a->upper = s->cand_upper;
    }
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
        if (diff_scale(c, s, &med, &sigma) && fabs(d - med) > c->spike_k * sigma) {
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
        (!isnan(c->range_max) && value > c->range_max)) {
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
        if (before == 0) {
            s->from[d] = ts;
            s->value[d] = value;
            s->expected[d] = expected;
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
}

int hz_season_update(double h, int season, int in_log, hz_season_state *s, int64_t ts, double value,
                     double ref, hz_anomaly *out)
{
    if (!isfinite(value) || !isfinite(ref) || season < 1)
        return 0;
    double r = in_log ? log1p(value > 0 ? value : 0) - log1p(ref > 0 ? ref : 0) : value - ref;
    double a = 1.0 / (10.0 * season);
    int warm = s->seen >= 2 * season;
    double scale = 1.25 * s->mean_abs;
    s->mean_abs = s->seen ? (float)((1 - a) * s->mean_abs + a * fabs(r)) : (float)fabs(r);
    if (s->seen < INT32_MAX)
        s->seen++;
    if (!warm || !(scale > 0))
        return 0;
    return hz_shift_update(h, season, &s->shift, ts, r / scale, value, ref, out);
}
