/* anomaly.h — anomaly scoring: (a) forecast residuals against split-conformal intervals
 * updated online, (b) the data-quality rules hydrology and metering people use (range,
 * flatline, spike, gap).  docs/ARCHITECTURE.md.  Both produce hz_anomaly records
 * (connector.h) with pipeline/series/variable left NULL for the caller to fill.
 *
 * (a) Split conformal (Vovk et al., "Algorithmic Learning in a Random World"; Lei et al. 2018,
 * "Distribution-free predictive inference for regression", §2.2).  A calibration set holds
 * the last `capacity` absolute residuals |actual - forecast|.  For a level a the interval is
 * forecast ± q_a, q_a = the ceil((n+1)a)-th smallest of the n residuals (+Inf when that rank
 * exceeds n: too few residuals to promise the level).  A point's score is the fraction of
 * calibration residuals strictly below its residual, in [0,1] (1 - its conformal p-value, up
 * to the +1 terms).  It is flagged when it lies outside the interval at the highest configured
 * level; hz_conformal_result says the highest level it exceeded.
 *
 * Keying (the caller's, the daemon's choice): one calibration set per (pipeline, variable,
 * horizon step), shared by every series of the pipeline — hz_conformal_set holds them.  Per
 * series would cost capacity×horizon×16 bytes per series (1.5 MB at 1000×96), which does
 * not fit a million meters; the checkpoint's validation residuals are per step too.  When
 * series differ in scale, feed residuals in the model's scaled units (the checkpoint's
 * scaler) so one set fits all series.
 *
 * Steady state allocates nothing: a set is allocated once; scoring is a binary search,
 * updating is one ring-buffer write and two memmoves in a sorted copy (O(capacity)). */
#ifndef HZ_ANOMALY_H
#define HZ_ANOMALY_H

#include <stddef.h>
#include <stdint.h>

#include "connectors/connector.h"
#include "common/hz.h"

/* ---- (a) split-conformal residual intervals */

#define HZ_CONFORMAL_MAX_LEVELS 4

typedef struct hz_conformal_conf {
    int capacity;                           /* residuals kept per set, 1..100000 (default 1000) */
    int nlevels;                            /* 1..HZ_CONFORMAL_MAX_LEVELS */
    double levels[HZ_CONFORMAL_MAX_LEVELS]; /* strictly increasing, in (0,1): 0.90, 0.99 */
    int skip_flagged; /* 1: flagged residuals are not added to the calibration set (keeps
                         outliers out, but a lasting shift then stays flagged); default 0 */
} hz_conformal_conf;

/* Fills the defaults: capacity 1000, levels {0.90, 0.99}, skip_flagged 0. */
void hz_conformal_conf_default(hz_conformal_conf *conf);
/* Returns 0 or HZ_EINVAL naming the bad field ("anomaly.levels[1]: ..."). */
int hz_conformal_conf_check(const hz_conformal_conf *conf, char *err, size_t errlen);

typedef struct hz_conformal hz_conformal;

typedef struct hz_conformal_result {
    double residual; /* |actual - forecast| */
    double score;    /* fraction of calibration residuals below it, [0,1]; 0 when empty */
    double lower[HZ_CONFORMAL_MAX_LEVELS], upper[HZ_CONFORMAL_MAX_LEVELS]; /* per level */
    int exceeded; /* how many levels' intervals exclude the point (intervals nest, so the
                     highest level exceeded is levels[exceeded - 1]); 0: inside all */
    int flagged;  /* outside the highest level's interval */
} hz_conformal_result;

/* A set of nvars × horizon calibration sets (one allocation).  Returns NULL and fills err on
 * a bad conf or no memory.  Free with hz_conformal_set_free. */
typedef struct hz_conformal_set hz_conformal_set;
hz_conformal_set *hz_conformal_set_new(const hz_conformal_conf *conf, int nvars, int horizon,
                                       char *err, size_t errlen);
void hz_conformal_set_free(hz_conformal_set *s);
/* The calibration set of variable var (0-based) at horizon step (1-based, as in
 * hz_forecast.step); owned by s.  Out-of-range indices are programmer errors (asserted). */
hz_conformal *hz_conformal_set_at(hz_conformal_set *s, int var, int step);

/* Seeds a calibration set from held-out residuals (signed or absolute, e.g. the checkpoint's
 * validation residuals for this variable and step): |r| of each finite value is added in
 * order, so only the last `capacity` remain.  Returns the number added. */
size_t hz_conformal_seed(hz_conformal *c, const double *residuals, size_t n);
/* Same, from float32 (as stored in a safetensors checkpoint). */
size_t hz_conformal_seed_f32(hz_conformal *c, const float *residuals, size_t n);

/* Residuals currently held. */
size_t hz_conformal_count(const hz_conformal *c);
/* q for a level in (0,1): the ceil((n+1)level)-th smallest residual; +Inf when n is too
 * small (or empty). */
double hz_conformal_quantile(const hz_conformal *c, double level);
/* forecast ∓ q(level): the interval to write beside a forecast. */
void hz_conformal_interval(const hz_conformal *c, double forecast, double level, double *lower,
                           double *upper);

/* Scores actual against forecast without changing c.  Returns 0, or HZ_EINVAL when either
 * is not finite (r untouched). */
int hz_conformal_score(const hz_conformal *c, double actual, double forecast,
                       hz_conformal_result *r);
/* Adds one absolute residual (drops the oldest when full).  Non-finite values are ignored. */
void hz_conformal_update(hz_conformal *c, double abs_residual);
/* Online step: score from the past, then update (unless flagged and skip_flagged).
 * Returns as hz_conformal_score. */
int hz_conformal_observe(hz_conformal *c, double actual, double forecast, hz_conformal_result *r);

/* Fills a kind "residual" record: value = actual, expected = forecast, lower/upper = the
 * interval at the highest configured level, score, flag = r->flagged. */
void hz_conformal_to_anomaly(const hz_conformal_result *r, int64_t ts, double actual,
                             double forecast, hz_anomaly *out);

/* ---- (b) data-quality rules, per series and variable */

/* Most recent differences the spike rule keeps. */
#define HZ_RULES_SPIKE_MAX 32
/* Most records one hz_anomaly_rules_check call emits (gap, range, flatline, spike). */
#define HZ_RULES_MAX_OUT 4

typedef struct hz_rules_conf {
    double range_min, range_max; /* NaN: no bound on that side ("range") */
    int flatline;                /* N >= 2: flag when the same value arrives N times in a row,
                                    once per stretch, at its Nth point ("flatline"); 0 off */
    double flatline_tol;         /* values within tol of the stretch's first count as same */
    double spike_k;              /* k > 0: flag |d - median(d)| > k * 1.4826 * MAD(d), d the
                                    one-period differences of the last spike_window points
                                    ("spike"); 0 off */
    int spike_window;            /* 8..HZ_RULES_SPIKE_MAX differences (default 32) */
    int gap;                     /* N >= 1: flag when more than N periods are missing between
                                    consecutive readings ("gap"); 0 off */
    int64_t period_ms;           /* the grid period; required (> 0) by gap and spike */
    int log1p;                   /* 1: the spike rule works on log1p(max(value, 0)) */
} hz_rules_conf;

/* Every rule off, range bounds NaN, spike_window 32, period 0. */
void hz_anomaly_rules_conf_default(hz_rules_conf *conf);
/* Returns 0 or HZ_EINVAL naming the field ("anomaly.rules.flatline: ..."). */
int hz_anomaly_rules_conf_check(const hz_rules_conf *conf, char *err, size_t errlen);

/* Per series-and-variable state: ~190 bytes, no pointers, so an array of them can be
 * allocated with the window store and copied freely. */
typedef struct hz_rules_state {
    int64_t last_ts;  /* last reading with a finite value; INT64_MIN: none yet */
    int64_t prev_ts;  /* time of prev */
    double prev;      /* last in-range value (the spike rule's reference) */
    double run_value; /* flatline stretch: its first value, length, flagged yet */
    int32_t run_len;
    uint8_t run_flagged;
    uint8_t cand;        /* the previous point jumped: a spike if the next one comes back */
    uint8_t ndiff, dpos; /* ring of recent differences */
    float diffs[HZ_RULES_SPIKE_MAX];
    double before, cand_jump; /* candidate: the value before the jump, the jump (spike space) */
    double cand_value, cand_expected, cand_lower, cand_upper, cand_score; /* its record */
    int64_t cand_ts;
} hz_rules_state;

void hz_anomaly_rules_init(hz_rules_state *s);

/* Runs the enabled rules on one reading (readings in time order; a ts not after the last
 * one is ignored, returns 0; a non-finite value is a missing reading: ignored, so a run of
 * them shows up as a gap at the next real value).  Writes up to max_out flagged records
 * (flag 1) to out, in the order gap, range, flatline, spike (of the previous reading), and
 * returns how many (HZ_RULES_MAX_OUT is always enough).  An out-of-range value is flagged
 * "range" and kept out of the flatline and spike state.
 * A spike is a reading that jumps away from the one before by more than k robust deviations
 * of the recent one-period differences and comes back with the next reading (undoing at
 * least three quarters of the jump). It is reported when that next reading arrives, with the
 * spike's own ts.  A jump that stays (a level shift, a storm's rise and slow recession) is
 * not a spike.  With log1p, differences are those of log1p(max(value, 0)): a jump is judged
 * relative to the level.
 * The spike scale ignores zero differences (repeats within flatline_tol), so a stuck
 * stretch does not make every later movement a spike; with fewer than max(8, window/2)
 * nonzero differences, or a MAD of 0, no spike is flagged.  Differences are taken only
 * between readings one period apart.
 * Scores: range and flatline 1; gap missing/(missing+N); spike z/(z+k) with z the robust
 * z-score of the jump, so 0.5 at the threshold.  expected/lower/upper: range — NaN, min,
 * max; spike — previous value + median difference ∓ k·sigma (original units);
 * flatline and gap — NaN. */
int hz_anomaly_rules_check(const hz_rules_conf *conf, hz_rules_state *s, int64_t ts, double value,
                           hz_anomaly *out, int max_out);

/* ---- (c) level and ratio shifts: a two-sided CUSUM (Page 1954) of the residuals
 *
 * u is a reading's residual in half-widths of its forecast's lowest-level interval on that
 * side (training/interval.h: hz_iv_result.u), about N(0, 0.6) at 0.90 when all is well.
 * S+ = max(0, S+ + u - HZ_SHIFT_K), S- likewise for -u; when one passes the threshold h
 * a "shift" is flagged at the reading where that sum last started to grow (the shift's
 * start), and both sums restart.  The flagged direction's sum then stays at 0 for `hold`
 * readings (the model catches up with the new level meanwhile), while the other direction
 * is watched: a stretch at three times the load is flagged where it starts and where it
 * ends.  While either direction holds, the forecaster scores residuals without flagging
 * them (pipeline/forecaster.c): the window then straddles two levels.  Record: value and expected
 * of the first reading, lower/upper NaN, score S/(S+h) (0.5 at the threshold), kind "shift". */

#define HZ_SHIFT_K 0.5

typedef struct hz_shift_state {
    float sum[2];    /* [0] upward, [1] downward */
    int64_t from[2]; /* ts where each sum last left 0 */
    double value[2], expected[2];
    int32_t hold[2]; /* readings during which that direction is not flagged again */
} hz_shift_state;

void hz_shift_init(hz_shift_state *s);

/* One reading (ts, value, expected) with residual u; h > 0 the threshold, hold as above.
 * Returns 1 with a flag in *out, else 0.  A non-finite u is ignored. */
int hz_shift_update(double h, int hold, hz_shift_state *s, int64_t ts, double u, double value,
                    double expected, hz_anomaly *out);

/* The same detector on the change from one season before (rules.season): r = x - x_season
 * (log1p values with log1p), u = r / (1.25 mean |r|), the mean an exponential one over about
 * 10 seasons; nothing is flagged during the first 2 seasons of a series.  expected = the
 * reading one season before. */
typedef struct hz_season_state {
    hz_shift_state shift;
    float mean_abs; /* of r */
    int32_t seen;   /* readings with a reference */
} hz_season_state;

void hz_season_init(hz_season_state *s);
/* One reading (ts, value) and the value one season before (ref; NaN: none); in_log: on
 * log1p values.  Returns 1 with
 * a "shift" flag in *out, else 0. */
int hz_season_update(double h, int season, int in_log, hz_season_state *s, int64_t ts, double value,
                     double ref, hz_anomaly *out);

#endif
