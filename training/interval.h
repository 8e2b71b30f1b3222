/* interval.h — forecast intervals that are calibrated, asymmetric and locally adaptive, per
 * (series, variable, step); the residual score of a reading; the calibration `horizon train`
 * stores in a checkpoint.  docs/ANOMALIES.md explains the method for operators.
 *
 * Space.  Each variable is looked at in its interval space z: z = log1p(max(x, 0)) with
 * `transform: log1p` (flows, loads: errors grow with the level), else the checkpoint's
 * z-score (x - mean) / std.  Forecasts and bounds go back through the inverse and are clipped
 * to the variable's physical bounds (`bounds: [0, null]`: never negative).
 *
 * Local scale.  s = mean |z[t] - z[t-1]| over the window's last HZ_IV_SCALE_W differences,
 * at least HZ_IV_FLOOR_FRAC of the typical s the calibration saw: bands widen in a storm and
 * narrow at base flow (Lei et al. 2018, "Distribution-free predictive inference for
 * regression", §5.2: locally weighted conformal).
 *
 * Calibration.  On the validation split, the normalised signed residual
 * u = (z(actual) - z(forecast)) / s is collected per (step, variable); the checkpoint keeps
 * its quantiles at the HZ_IV_GRID probabilities hz_iv_grid_p (conformal ranks: ceil((n+1)p)
 * above the median, floor((n+1)p) below).  A level a takes the lower quantile at (1-a)/2 and
 * the upper at (1+a)/2 (linear between grid points): separate tails for skewed series.
 *
 * Online adaptation.  Per (series, variable) and level, offsets per side in units of the
 * step's half-width w = (q_hi - q_lo) / 2: upper = z(fc) + s (q_hi + d_hi w).  A checked
 * interval moves its offset by gamma (miss - (1-a)/2), the quantile tracker of Angelopoulos,
 * Candès and Tibshirani 2023 ("Conformal PID control", §2.1): whatever the data, the
 * long-run share of misses on each side tends to (1-a)/2.  Two offsets add up:
 *  - a shared one, moved (HZ_IV_GAMMA) by step 1's readings: it follows a storm at once;
 *  - with steps == P, each longer step's own (hz_iv_gamma_step), moved by that step's
 *    misses, judged against its interval as issued, which a ring of issued intervals per
 *    series keeps (hz_iv_ring_*): the validation split's error growth over the horizon need
 *    not be the test's (ETTh1: 0.93 coverage at 90% with the shared offset alone, 0.90 with
 *    both).  Judged against today's offsets instead, step h learns h readings late from a
 *    band that has moved since, and lags a drifting error.
 * Without the ring (steps == 1, a large fleet's memory) every step uses the shared offset,
 * moved by whichever step was checked.
 *
 * Nothing here allocates after hz_iv_init; state per series is `steps` hz_iv_adapt per
 * variable and, with steps > 1, a ring of hz_iv_ring_len floats and P tags (no pointers). */
#ifndef HZ_INTERVAL_H
#define HZ_INTERVAL_H

#include <stddef.h>
#include <stdint.h>

#define HZ_IV_MAX_LEVELS 4
#define HZ_IV_MAX_VARS   32 /* as HZ_DS_MAXVARS, training/dataset.h */
#define HZ_IV_GRID       25
#define HZ_IV_TENSOR     "calib.norm_residual_grid" /* F32 [pred_len, variables, HZ_IV_GRID] */
#define HZ_IV_SCALE_W    8                          /* differences in the local scale */
#define HZ_IV_FLOOR_FRAC 1.0  /* floor of s, as a share of the calibration's median s */
#define HZ_IV_CAP_FRAC   1.0  /* cap of s, as a multiple of the calibration's median s */
#define HZ_IV_GAMMA      0.05 /* adaptation step, in half-widths */
#define HZ_IV_GAMMA_STEP 0.01 /* adaptation step of a longer step's own offset at 90% */
#define HZ_IV_D_MIN      4.0  /* least offset: a side may move this many half-widths inward */
#define HZ_IV_MIN_HALF                                                                             \
    0.5 /* least half-width, in local scales: below the series' own                                \
           movement nothing is an anomaly (a constant series) */

/* Probabilities of the calibration grid, ascending, symmetric around 0.5. */
extern const double hz_iv_grid_p[HZ_IV_GRID];

/* HZ_TF_SCALED: z is the model's own scaled value, (x or log1p(x) - mean) / std with the
 * series' statistics (hz_iv_var.mean, std, scaled_log1p): a pooled checkpoint's intervals,
 * calibrated over every series at once (training/pool.h), so each series needs its own. */
enum { HZ_TF_NONE = 0, HZ_TF_LOG1P = 1, HZ_TF_SCALED = 2 };

/* Parses "none" / "log1p" / "scaled"; returns HZ_TF_* or -1. */
int hz_iv_transform_parse(const char *s);
const char *hz_iv_transform_name(int tf);

/* One variable's interval space. */
typedef struct hz_iv_var {
    int transform;    /* HZ_TF_* */
    double mean, std; /* the checkpoint's scaler (z-score space when no transform) */
    double lo, hi;    /* physical bounds in original units; NaN: none */
    double scale_med; /* typical local scale on the calibration split; <= 0: unknown */
    int scaled_log1p; /* the model works on (log1p(x) - mean) / std (the scaler's flag) */
} hz_iv_var;

/* A model-space value of v back in original units. */
double hz_iv_unscale(const hz_iv_var *v, double zs);

double hz_iv_z(const hz_iv_var *v, double x);
/* The inverse of hz_iv_z, clipped to the bounds. */
double hz_iv_x(const hz_iv_var *v, double z);
/* x clipped to the bounds (NaN stays NaN). */
double hz_iv_clip(const hz_iv_var *v, double x);
/* Local scale of n window values x[0], x[stride], ... (original units, oldest first) with the
 * floor applied; non-finite values are skipped.  Without a floor (scale_med <= 0) and with
 * no movement, returns 1e-6. */
double hz_iv_scale(const hz_iv_var *v, const float *x, size_t stride, int n);
/* The raw local scale (no floor); 0 when there are no two consecutive finite values. */
double hz_iv_scale_raw(const hz_iv_var *v, const float *x, size_t stride, int n);

/* Quantiles of r[0..n) (sorted in place) at the grid probabilities; n >= 1. */
void hz_iv_grid_fill(float *r, size_t n, float out[HZ_IV_GRID]);
/* A grid for an uncalibrated model: a Laplace distribution of unit scale, wide on purpose
 * (the online adaptation narrows it). */
void hz_iv_grid_default(float out[HZ_IV_GRID]);
/* The grid's quantile at probability p: linear between grid points; past its ends (a level
 * above 0.999) an exponential tail from the 5% quantile through the end point, linear in
 * log(tail probability): the 0.9999 level of a Laplace is 1.33 times the 0.999's. */
double hz_iv_grid_at(const float g[HZ_IV_GRID], double p);

/* The intervals of one model: levels, variables and per (step, variable, level) quantiles. */
typedef struct hz_iv {
    int P, C, nl;
    double levels[HZ_IV_MAX_LEVELS]; /* ascending, in (0, 1) */
    hz_iv_var var[HZ_IV_MAX_VARS];
    float *qlo, *qhi; /* [P, C, nl] normalised lower / upper quantiles */
    int steps;        /* offsets per variable: P (hz_iv_init), or 1 = every step shares one */
} hz_iv;

/* grid: [P, C, HZ_IV_GRID] (a checkpoint's HZ_IV_TENSOR, any alignment) or NULL for the
 * default grid.  vars: C entries.  Returns 0, HZ_EINVAL (bad levels, named) or HZ_ENOMEM. */
int hz_iv_init(hz_iv *iv, int P, int C, const double *levels, int nl, const hz_iv_var *vars,
               const void *grid, char *err, size_t errlen);
void hz_iv_free(hz_iv *iv);

/* Online offsets; all-zero is the start state.  Functions below take a variable's iv->steps
 * of them: entry 0 the shared offset, entry h - 1 step h's own (h > 1, steps == P). */
typedef struct hz_iv_adapt {
    float d[HZ_IV_MAX_LEVELS][2]; /* [level][0 lower, 1 upper] */
} hz_iv_adapt;

/* The interval at every level of forecast fc (original units) of variable k at step h
 * (1-based) with local scale s: lo[nl], hi[nl] in original units, nested, within the
 * bounds.  a may be NULL (no adaptation). */
void hz_iv_interval(const hz_iv *iv, const hz_iv_adapt *a, int k, int h, double fc, double s,
                    double *lo, double *hi);

typedef struct hz_iv_result {
    double lo[HZ_IV_MAX_LEVELS], hi[HZ_IV_MAX_LEVELS]; /* the intervals it was scored against */
    int exceeded; /* levels whose interval excludes the actual value (0: inside all) */
    int flagged;  /* outside the highest level's interval */
    double score; /* z / (1 + z), z = distance from the forecast in half-widths of the
                     highest level on that side: 0.5 at its bound, -> 1 far outside */
    double u;     /* signed distance from the forecast in half-widths of the lowest level on
                     that side (the shift detector's input, pipeline/anomaly.h) */
} hz_iv_result;

/* Scores actual against fc (variable k, step h, scale s) with a's offsets (NULL: none).
 * Returns 0, or -1 when actual or fc is not finite. */
int hz_iv_observe(const hz_iv *iv, const hz_iv_adapt *a, int k, int h, double actual, double fc,
                  double s, hz_iv_result *r);

/* The adaptation step of a longer step's own offset for a tail probability (1 - a)/2:
 * HZ_IV_GAMMA_STEP at 90%, times (0.05 / tail)^(1/4) (1.8x at 99%, 3.2x at 99.9%), at most
 * HZ_IV_GAMMA.  A rarer tail sees fewer misses to learn from: the Choptank's 99% band
 * covered 0.974 of its test split at 0.01, 0.975 at this step (base-flow width 15.6 ->
 * 15.9 m3/s); a step growing as the square root gave 0.977 at 16.5 m3/s, linearly 0.979 at
 * 17.3 (bench/RESULTS.md). */
double hz_iv_gamma_step(double tail);

/* Moves the offsets of step h (a: the variable's iv->steps entries) by whether actual fell
 * below lo[l] or above hi[l], the interval of each level it was issued with. */
void hz_iv_learn(const hz_iv *iv, hz_iv_adapt *a, int h, double actual, const double *lo,
                 const double *hi);

/* The ring of one series' issued intervals: row = target slot mod P, tags[row] = its slot;
 * per row [P steps][C][nl][2 lower, upper] in original units, NaN where none was issued. */
size_t hz_iv_ring_len(const hz_iv *iv); /* floats per series */
void hz_iv_ring_reset(const hz_iv *iv, float *ring, int64_t *tags);
/* Keeps the interval lo/hi[nl] issued for target slot `target` at step h of variable k;
 * nothing when the ring already holds a later target in that row (a late window). */
void hz_iv_ring_put(const hz_iv *iv, float *ring, int64_t *tags, int64_t target, int h, int k,
                    const double *lo, const double *hi);
/* The reading of slot `slot` (variable k, actual) meets every interval issued for it: each
 * step's offsets in a (the variable's iv->steps entries) learn from it. */
void hz_iv_ring_learn(const hz_iv *iv, hz_iv_adapt *a, const float *ring, const int64_t *tags,
                      int64_t slot, int k, double actual);

#endif
