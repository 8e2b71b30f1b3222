/* interval.c — calibrated, asymmetric, locally adaptive forecast intervals with online
 * quantile tracking (interval.h; docs/ANOMALIES.md). */
#include "training/interval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/hz.h"
#include "training/dataset.h"

const double hz_iv_grid_p[HZ_IV_GRID] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,  0.1,  0.15,  0.2,    0.25,  0.35,  0.5,
    0.65,   0.75,  0.8,    0.85,  0.9,  0.95,  0.975, 0.99, 0.995, 0.9975, 0.999, 0.9995};

int hz_iv_transform_parse(const char *s)
{
    if (!strcmp(s, "none"))
        return HZ_TF_NONE;
    if (!strcmp(s, "log1p"))
        return HZ_TF_LOG1P;
    if (!strcmp(s, "scaled"))
        return HZ_TF_SCALED;
    return -1;
}

const char *hz_iv_transform_name(int tf)
{
    return tf == HZ_TF_LOG1P ? "log1p" : tf == HZ_TF_SCALED ? "scaled" : "none";
}

double hz_iv_z(const hz_iv_var *v, double x)
{
    if (v->transform == HZ_TF_LOG1P)
        return hz_log1p0(x);
    if (v->transform == HZ_TF_SCALED)
        return ((v->scaled_log1p ? hz_log1p0(x) : x) - v->mean) / v->std;
    return (x - v->mean) / v->std;
}

double hz_iv_unscale(const hz_iv_var *v, double zs)
{
    return hz_unscale(zs, v->mean, v->std, v->scaled_log1p);
}

double hz_iv_clip(const hz_iv_var *v, double x)
{
    if (!isnan(v->lo) && x < v->lo)
        x = v->lo;
    if (!isnan(v->hi) && x > v->hi)
        x = v->hi;
    return x;
}

double hz_iv_x(const hz_iv_var *v, double z)
{
    double x = v->transform == HZ_TF_LOG1P    ? expm1(z)
               : v->transform == HZ_TF_SCALED ? hz_unscale(z, v->mean, v->std, v->scaled_log1p)
                                              : z * v->std + v->mean;
    return hz_iv_clip(v, x);
}

double hz_iv_scale_raw(const hz_iv_var *v, const float *x, size_t stride, int n)
{
    double sum = 0;
    int cnt = 0;
    for (int i = n - 1; i > 0 && cnt < HZ_IV_SCALE_W; i--) {
        double a = x[(size_t)i * stride], b = x[(size_t)(i - 1) * stride];
        if (!isfinite(a) || !isfinite(b))
            continue;
        sum += fabs(hz_iv_z(v, a) - hz_iv_z(v, b));
        cnt++;
    }
    return cnt ? sum / cnt : 0;
}

double hz_iv_scale(const hz_iv_var *v, const float *x, size_t stride, int n)
{
    double s = hz_iv_scale_raw(v, x, stride, n);
    if (!(v->scale_med > 0))
        return s > 1e-6 ? s : 1e-6;
    double lo = HZ_IV_FLOOR_FRAC * v->scale_med, hi = HZ_IV_CAP_FRAC * v->scale_med;
    return s < lo ? lo : s > hi ? hi : s;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

void hz_iv_grid_fill(float *r, size_t n, float out[HZ_IV_GRID])
{
    qsort(r, n, sizeof *r, cmp_float);
    for (int g = 0; g < HZ_IV_GRID; g++) {
        double p = hz_iv_grid_p[g],
               k = p >= 0.5 ? ceil((double)(n + 1) * p - 1e-9) : floor((double)(n + 1) * p + 1e-9);
        if (k < 1)
            k = 1;
        if (k > (double)n)
            k = (double)n;
        out[g] = r[(size_t)k - 1];
    }
}

void hz_iv_grid_default(float out[HZ_IV_GRID])
{
    for (int g = 0; g < HZ_IV_GRID; g++) {
        double p = hz_iv_grid_p[g];
        out[g] = (float)(p < 0.5 ? log(2 * p) : -log(2 * (1 - p)));
    }
}

/* Beyond the grid's ends (a tail probability below 0.0005) the tail is taken as exponential
 * from the 5% quantile (grid point a, tail probability ta) through the end point b (tb):
 * linear in log(tail probability); the default grid's Laplace is exactly that. */
#define HZ_IV_TAIL_FROM 6 /* hz_iv_grid_p[6] = 0.05 */

static double tail_beyond(const float g[HZ_IV_GRID], int a, int b, double ta, double tb,
                          double tail)
{
    double t = log(ta / tail) / log(ta / tb);
    return g[a] + t * (g[b] - g[a]);
}

double hz_iv_grid_at(const float g[HZ_IV_GRID], double p)
{
    const int n = HZ_IV_GRID, a = HZ_IV_TAIL_FROM;
    if (p < hz_iv_grid_p[0])
        return tail_beyond(g, a, 0, hz_iv_grid_p[a], hz_iv_grid_p[0], p);
    if (p > hz_iv_grid_p[n - 1]) /* the grid is symmetric: grid_p[n-1-i] = 1 - grid_p[i] */
        return tail_beyond(g, n - 1 - a, n - 1, hz_iv_grid_p[a], hz_iv_grid_p[0], 1 - p);
    for (int i = 1; i < HZ_IV_GRID; i++)
        if (p <= hz_iv_grid_p[i]) {
            double t = (p - hz_iv_grid_p[i - 1]) / (hz_iv_grid_p[i] - hz_iv_grid_p[i - 1]);
            return g[i - 1] + t * (g[i] - g[i - 1]);
        }
    return g[HZ_IV_GRID - 1];
}

int hz_iv_init(hz_iv *iv, int P, int C, const double *levels, int nl, const hz_iv_var *vars,
               const void *grid, char *err, size_t errlen)
{
    memset(iv, 0, sizeof *iv);
    if (nl < 1 || nl > HZ_IV_MAX_LEVELS || C < 1 || C > HZ_IV_MAX_VARS || P < 1)
        return hz_err(err, errlen, HZ_EINVAL,
                      "intervals: need 1..%d levels and 1..%d variables, got %d and %d",
                      HZ_IV_MAX_LEVELS, HZ_IV_MAX_VARS, nl, C);
    for (int l = 0; l < nl; l++)
        if (!(levels[l] > 0 && levels[l] < 1) || (l > 0 && !(levels[l] > levels[l - 1])))
            return hz_err(err, errlen, HZ_EINVAL,
                          "anomaly.levels[%d]: expected ascending levels in (0, 1), got %g", l,
                          levels[l]);
    size_t n = (size_t)P * C * nl;
    iv->qlo = malloc(n * sizeof *iv->qlo);
    iv->qhi = malloc(n * sizeof *iv->qhi);
    if (!iv->qlo || !iv->qhi) {
        hz_iv_free(iv);
        return hz_err(err, errlen, HZ_ENOMEM, "intervals: out of memory");
    }
    iv->P = P;
    iv->C = C;
    iv->nl = nl;
    iv->steps = P;
    memcpy(iv->levels, levels, (size_t)nl * sizeof *levels);
    memcpy(iv->var, vars, (size_t)C * sizeof *vars);
    float g[HZ_IV_GRID];
    hz_iv_grid_default(g);
    for (int h = 0; h < P; h++)
        for (int k = 0; k < C; k++) {
            if (grid)
                memcpy(g, (const char *)grid + ((size_t)h * C + k) * sizeof g, sizeof g);
            for (int l = 0; l < nl; l++) {
                size_t i = ((size_t)h * C + k) * nl + l;
                double lo = hz_iv_grid_at(g, (1 - levels[l]) / 2);
                double hi = hz_iv_grid_at(g, (1 + levels[l]) / 2);
                iv->qlo[i] = (float)(lo < -HZ_IV_MIN_HALF ? lo : -HZ_IV_MIN_HALF);
                iv->qhi[i] = (float)(hi > HZ_IV_MIN_HALF ? hi : HZ_IV_MIN_HALF);
            }
        }
    return 0;
}

void hz_iv_free(hz_iv *iv)
{
    free(iv->qlo);
    free(iv->qhi);
    iv->qlo = iv->qhi = NULL;
}

/* Bounds in z space of every level; nested (each level at least as wide as the one below). */
static void z_bounds(const hz_iv *iv, const hz_iv_adapt *a, int k, int h, double zf, double s,
                     double *zlo, double *zhi)
{
    size_t base = ((size_t)(h - 1) * iv->C + k) * iv->nl;
    const hz_iv_adapt *own = a && h > 1 && h <= iv->steps ? a + h - 1 : NULL;
    for (int l = 0; l < iv->nl; l++) {
        double ql = iv->qlo[base + l], qh = iv->qhi[base + l], w = (qh - ql) / 2;
        if (!(w > 0))
            w = 0;
        double dl = a ? a->d[l][0] : 0, dh = a ? a->d[l][1] : 0;
        if (own) {
            dl += own->d[l][0];
            dh += own->d[l][1];
        }
        zlo[l] = zf + s * (ql - dl * w);
        zhi[l] = zf + s * (qh + dh * w);
        if (zlo[l] > zhi[l]) /* both sides moved in past each other: a point */
            zlo[l] = zhi[l] = (zlo[l] + zhi[l]) / 2;
        if (l > 0 && zlo[l] > zlo[l - 1])
            zlo[l] = zlo[l - 1];
        if (l > 0 && zhi[l] < zhi[l - 1])
            zhi[l] = zhi[l - 1];
    }
}

void hz_iv_interval(const hz_iv *iv, const hz_iv_adapt *a, int k, int h, double fc, double s,
                    double *lo, double *hi)
{
    const hz_iv_var *v = &iv->var[k];
    double zlo[HZ_IV_MAX_LEVELS], zhi[HZ_IV_MAX_LEVELS];
    z_bounds(iv, a, k, h, hz_iv_z(v, hz_iv_clip(v, fc)), s, zlo, zhi);
    for (int l = 0; l < iv->nl; l++) {
        lo[l] = hz_iv_x(v, zlo[l]);
        hi[l] = hz_iv_x(v, zhi[l]);
    }
}

double hz_iv_gamma_step(double tail)
{
    double g = HZ_IV_GAMMA_STEP * pow(0.05 / tail, 0.25);
    return g < HZ_IV_GAMMA ? g : HZ_IV_GAMMA;
}

/* Keeps an offset within limits: down to -HZ_IV_D_MIN half-widths, so a biased forecast's
 * band can move past it to one side; up to 50, so no band grows without limit.  z_bounds
 * keeps the two sides from crossing. */
static float clamp_d(double d)
{
    return (float)(d < -HZ_IV_D_MIN ? -HZ_IV_D_MIN : d > 50 ? 50 : d);
}

int hz_iv_observe(const hz_iv *iv, const hz_iv_adapt *a, int k, int h, double actual, double fc,
                  double s, hz_iv_result *r)
{
    if (!isfinite(actual) || !isfinite(fc))
        return -1;
    const hz_iv_var *v = &iv->var[k];
    double zf = hz_iv_z(v, hz_iv_clip(v, fc)), za = hz_iv_z(v, actual);
    double zlo[HZ_IV_MAX_LEVELS], zhi[HZ_IV_MAX_LEVELS];
    z_bounds(iv, a, k, h, zf, s, zlo, zhi);
    int top = iv->nl - 1;
    r->exceeded = 0;
    for (int l = 0; l < HZ_IV_MAX_LEVELS; l++) {
        r->lo[l] = l < iv->nl ? hz_iv_x(v, zlo[l]) : NAN;
        r->hi[l] = l < iv->nl ? hz_iv_x(v, zhi[l]) : NAN;
    }
    for (int l = 0; l < iv->nl; l++)
        if (za < zlo[l] || za > zhi[l])
            r->exceeded = l + 1;
    r->flagged = r->exceeded == iv->nl;
    double half0 = za >= zf ? zhi[0] - zf : zf - zlo[0];
    r->u = half0 > 0 ? (za - zf) / half0 : 0;
    double half = za >= zf ? zhi[top] - zf : zf - zlo[top], dist = fabs(za - zf);
    double z = half > 0 ? dist / half : (dist > 0 ? INFINITY : 0);
    r->score = isinf(z) ? 1.0 : z / (1 + z);
    return 0;
}

void hz_iv_learn(const hz_iv *iv, hz_iv_adapt *a, int h, double actual, const double *lo,
                 const double *hi)
{
    if (!isfinite(actual))
        return;
    a += (h <= iv->steps ? h : 1) - 1;
    int own = h > 1 && h <= iv->steps;
    for (int l = 0; l < iv->nl; l++) {
        if (isnan(lo[l]) || isnan(hi[l]))
            continue;
        double tail = (1 - iv->levels[l]) / 2;
        double g = own ? hz_iv_gamma_step(tail) : HZ_IV_GAMMA;
        a->d[l][0] = clamp_d(a->d[l][0] + g * ((actual < lo[l]) - tail));
        a->d[l][1] = clamp_d(a->d[l][1] + g * ((actual > hi[l]) - tail));
    }
}

size_t hz_iv_ring_len(const hz_iv *iv)
{
    return (size_t)iv->P * iv->P * iv->C * iv->nl * 2;
}

/* The ring row of target slot t (a non-negative remainder for slots before 1970). */
static size_t ring_row(const hz_iv *iv, int64_t t)
{
    int64_t r = t % iv->P;
    return (size_t)(r < 0 ? r + iv->P : r);
}

static void row_clear(const hz_iv *iv, float *row)
{
    size_t n = hz_iv_ring_len(iv) / (size_t)iv->P;
    for (size_t i = 0; i < n; i++)
        row[i] = NAN;
}

void hz_iv_ring_reset(const hz_iv *iv, float *ring, int64_t *tags)
{
    for (int r = 0; r < iv->P; r++) {
        tags[r] = INT64_MIN;
        row_clear(iv, ring + (size_t)r * (hz_iv_ring_len(iv) / (size_t)iv->P));
    }
}

void hz_iv_ring_put(const hz_iv *iv, float *ring, int64_t *tags, int64_t target, int h, int k,
                    const double *lo, const double *hi)
{
    size_t r = ring_row(iv, target), per = hz_iv_ring_len(iv) / (size_t)iv->P;
    float *row = ring + r * per;
    if (tags[r] > target || h < 1 || h > iv->P)
        return;
    if (tags[r] < target) {
        tags[r] = target;
        row_clear(iv, row);
    }
    float *e = row + ((size_t)(h - 1) * iv->C + k) * iv->nl * 2;
    for (int l = 0; l < iv->nl; l++) {
        e[2 * l] = (float)lo[l];
        e[2 * l + 1] = (float)hi[l];
    }
}

void hz_iv_ring_learn(const hz_iv *iv, hz_iv_adapt *a, const float *ring, const int64_t *tags,
                      int64_t slot, int k, double actual)
{
    size_t r = ring_row(iv, slot), per = hz_iv_ring_len(iv) / (size_t)iv->P;
    if (tags[r] != slot)
        return;
    for (int h = 1; h <= iv->P; h++) {
        const float *e = ring + r * per + ((size_t)(h - 1) * iv->C + k) * iv->nl * 2;
        double lo[HZ_IV_MAX_LEVELS], hi[HZ_IV_MAX_LEVELS];
        for (int l = 0; l < iv->nl; l++) {
            lo[l] = e[2 * l];
            hi[l] = e[2 * l + 1];
        }
        hz_iv_learn(iv, a, h, actual, lo, hi);
    }
}
