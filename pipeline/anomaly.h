/* anomaly.h — the data-quality rules hydrology and metering people use (range, flatline,
 * spike, gap) and the level/ratio shift detector (a CUSUM), as hz_anomaly records
 * (connector.h) with pipeline/series/variable left NULL for the caller to fill.  The
 * residual check against forecast intervals is training/interval.h's, run by
 * pipeline/forecaster.c.  docs/ANOMALIES.md says what each flag means.
 *
 * Steady state allocates nothing: state is a fixed struct per series and variable (the
 * seasonal detector's history is allocated once, at a series' first reading). */
#ifndef HZ_ANOMALY_H
#define HZ_ANOMALY_H

#include <stddef.h>
#include <stdint.h>

#include "connectors/connector.h"
#include "common/hz.h"

/* ---- data-quality rules, per series and variable */

/* Most recent differences the spike rule keeps. */
#define HZ_RULES_SPIKE_MAX 32
/* Most records one hz_anomaly_rules_check call emits (gap, range, flatline, spike). */
#define HZ_RULES_MAX_OUT 4

typedef struct hz_rules_conf {
    double range_min, range_max; /* NaN: no bound on that side ("range") */
    int zero;                    /* 1: a reading of exactly 0 is out of range too ("range"):
                                    the code of a meter or gauge that is off or cut off */
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

/* Every rule off (zero 0), range bounds NaN, spike_window 32, period 0. */
void hz_anomaly_rules_conf_default(hz_rules_conf *conf);
/* Returns 0 or HZ_EINVAL naming the field ("anomaly.rules.flatline: ..."). */
int hz_anomaly_rules_conf_check(const hz_rules_conf *conf, char *err, size_t errlen);

/* Per series-and-variable state: ~200 bytes, no pointers, so an array of them can be
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
    double last_d; /* the difference into prev (spike space); NaN: not one period apart */
    double before, cand_jump; /* candidate: the value before the jump, the jump (spike space) */
    double cand_value, cand_expected, cand_lower, cand_upper, cand_score; /* its record */
    int64_t cand_ts;
} hz_rules_state;

void hz_anomaly_rules_init(hz_rules_state *s);

/* Runs the enabled rules on one reading (readings in time order; a ts not after the last
 * one is ignored, returns 0; a non-finite value is a missing reading: ignored, so a run of
 * them shows up as a gap at the next real value).  Writes up to max_out flagged records
 * (flag 1) to out, in the order gap, range, flatline, spike (of the previous reading), and
 * returns how many (HZ_RULES_MAX_OUT is always enough).  An out-of-range value (with zero,
 * also exactly 0) is flagged "range" and kept out of the flatline and spike state.
 * A spike is a reading that jumps away from the one before by more than k robust deviations
 * of the recent one-period differences and comes back with the next reading (undoing at
 * least three quarters of the jump, and falling past the start by at most half), after a reading
 * that had not already moved that way by more than a quarter of the jump (a pulse that rises over
 * two readings, a storm's, is not one). It is reported when that next reading arrives, with the
 * spike's own ts.  A jump that stays (a level shift, a storm's rise and slow recession) is not a
 * spike.  With log1p, differences are those of log1p(max(value, 0)): a jump is judged relative to
 * the level. The spike scale ignores zero differences (repeats within flatline_tol), so a stuck
 * stretch does not make every later movement a spike; with fewer than max(8, window/2) nonzero
 * differences, or a MAD of 0, no spike is flagged.  Differences are taken only between readings one
 * period apart. Scores: range and flatline 1; gap missing/(missing+N); spike z/(z+k) with z the
 * robust z-score of the jump, so 0.5 at the threshold.  expected/lower/upper: range — NaN, min,
 * max; spike — previous value + median difference ∓ k·sigma (original units); flatline and gap —
 * NaN. */
int hz_anomaly_rules_check(const hz_rules_conf *conf, hz_rules_state *s, int64_t ts, double value,
                           hz_anomaly *out, int max_out);

/* ---- level and ratio shifts: a two-sided CUSUM (Page 1954) of the residuals
 *
 * u is a reading's residual in half-widths of its forecast's lowest-level interval on that
 * side (training/interval.h: hz_iv_result.u), about N(0, 0.6) at 0.90 when all is well.
 * S+ = max(0, S+ + u - HZ_SHIFT_K), S- likewise for -u; when one passes the threshold h
 * a "shift" is flagged at the shift's start: the reading, since that sum last left 0, whose
 * residual was the largest that way (a step's first reading, before the model follows it);
 * both sums then restart.  The flagged direction's sum then stays at 0 for `hold`
 * readings (the model catches up with the new level meanwhile), while the other direction
 * is watched: a stretch at three times the load is flagged where it starts and where it
 * ends.  While either direction holds, the forecaster scores residuals without flagging
 * them (pipeline/forecaster.c): the window then straddles two levels.  Record: value and expected
 * of the first reading, lower/upper NaN, score S/(S+h) (0.5 at the threshold), kind "shift". */

#define HZ_SHIFT_K 0.5

typedef struct hz_shift_state {
    float sum[2];    /* [0] upward, [1] downward */
    int64_t from[2]; /* ts of each direction's start (above) */
    double value[2], expected[2];
    float top[2];    /* the largest residual that way since the sum left 0 */
    int32_t hold[2]; /* readings during which that direction is not flagged again */
} hz_shift_state;

void hz_shift_init(hz_shift_state *s);

/* One reading (ts, value, expected) with residual u; h > 0 the threshold, hold as above.
 * Returns 1 with a flag in *out, else 0.  A non-finite u is ignored. */
int hz_shift_update(double h, int hold, hz_shift_state *s, int64_t ts, double u, double value,
                    double expected, hz_anomaly *out);

/* ---- the seasonal level detector (rules.season = S periods: 96 for a day of 15-minute
 * readings), for loads and flows whose model follows a new level at once.  Each reading
 * (log1p with in_log) is compared with the readings of the same slot, and the slots either
 * side, on each of the last HZ_SEASON_K seasons.  A run of R = max(4, S/12) readings beyond
 * every one of them, one way, with at least half of them HZ_SEASON_MIN_LOG (log1p; else half
 * the references' range) past the references' median, flags the start of a shifted stretch
 * at the run's first reading.  Its end is flagged at the first reading back within that
 * distance of the median that opens a run of R readings none of which is still shifted
 * (beyond every reference that way and past that distance, as the stretch's were): a reading
 * in between, such as an appliance's burst the same hour reached on one of the last days,
 * does not hold the stretch open.  A stretch that lasted HZ_SEASON_K / 2 seasons or more
 * has moved the references' median, so its end is recorded with flag 0: the history caught
 * up with a lasting new level, the readings did not come back.  With in_log (a load, a flow:
 * never below 0) a run down must also lie below every value of the history, whatever its slot: a
 * load falling to its standby at an hour that is usually busy is an empty house; below the standby
 * of the last HZ_SEASON_K seasons it is a fault.  Judged only with references from at least 3
 * seasons; a reading at or before the latest one stored is ignored. */
#define HZ_SEASON_K       7
#define HZ_SEASON_W       1
#define HZ_SEASON_MIN_LOG 0.4 /* a factor of e^0.4 = 1.5 */

typedef struct hz_season_state {
    float *hist;         /* [HZ_SEASON_K * season] values by slot mod its length, NaN: none;
                            owned, allocated at the first reading (hz_season_free) */
    int64_t last;        /* slot of the latest reading stored */
    int32_t run, strong; /* readings in the current run; those far enough past the median */
    int8_t sign, state;  /* the run's direction; +1 / -1 while a shift up / down stands */
    double excess;       /* sum over the run of (x - median) in the run's direction */
    int64_t from;        /* the run's first reading: ts, value, references' median */
    int64_t since;       /* slot of the standing stretch's first reading */
    double value, expected;
} hz_season_state;

void hz_season_init(hz_season_state *s);
void hz_season_free(hz_season_state *s);
/* One reading (slot number, ts, value) of a variable with rules.season = season.  Returns 1
 * with a "shift" record in *out (flag 1 at a start and at an end, 0 at the end of a lasting
 * level, as above), 0, or HZ_ENOMEM (history not allocated; nothing judged). */
int hz_season_update(int season, int in_log, hz_season_state *s, int64_t slot, int64_t ts,
                     double value, hz_anomaly *out);

/* How many of the last HZ_SEASON_K seasons, before slot, reached value (log1p with in_log)
 * at slot's time of day give or take HZ_SEASON_W slots: at or above it for way > 0, at or
 * below for way < 0.  0 without a history.  The spike rule's routine check
 * (pipeline/pipeline.c): a one-reading jump that the same hour saw on one of the last days
 * (a kettle at breakfast) is routine, not a spike. */
int hz_season_routine(int season, int in_log, const hz_season_state *s, int64_t slot, double value,
                      int way);

#endif
