/* calibrate.h — fitting and backtesting the forecast intervals of training/interval.h on a
 * split of windows: `horizon train` fits the calibration on the validation split and stores
 * it in the checkpoint (HZ_IV_TENSOR and the "calib" metadata); `horizon eval` replays the
 * test split through the intervals exactly as horizond does (window by window, each interval
 * from the offsets so far, then the offsets moved by the window's step-1 reading) and reports
 * the coverage and width per level. */
#ifndef HZ_CALIBRATE_H
#define HZ_CALIBRATE_H

#include <stddef.h>

#include "config/config.h"
#include "models/safetensors.h"
#include "training/dataset.h"
#include "training/interval.h"

/* The interval space of the C variables `names` of a pipeline (transform and bounds from
 * pc's `variables`, NULL: none) under scaler sc; scale_med unknown (0). */
void hz_calib_vars(const hz_pipeline_conf *pc, char *const *names, int C, const hz_scaler *sc,
                   hz_iv_var *vars);

/* Fits the calibration on windows w with the model's scaled forecasts pred [n, P, C]:
 * vars[k].scale_med is set, grid [P, C, HZ_IV_GRID] filled.  Returns 0 or HZ_ENOMEM. */
int hz_calib_fit(const hz_windows *w, const float *pred, int n, hz_iv_var *vars, float *grid,
                 char *err, size_t errlen);

/* The "calib" metadata (JSON: transform, scale_med, bounds per variable); caller frees. */
char *hz_calib_meta_json(const hz_iv_var *vars, int C);
/* Reads a checkpoint's calibration into vars (transform, scale_med, and with take_bounds
 * the bounds it was trained with; the caller sets mean and std first) and *grid (the
 * tensor's bytes, owned by f; NULL when f has none of shape [P, C, HZ_IV_GRID]).  Returns 1
 * when calibrated, 0 when not (vars untouched). */
int hz_calib_load(const hz_st_file *f, int P, int C, hz_iv_var *vars, const void **grid,
                  int take_bounds);

/* The intervals of checkpoint f (P steps, C variables `names` under scaler sc) at levels
 * [nl]: hz_calib_vars (pc may be NULL), then hz_calib_load, then hz_iv_init (the default
 * grid when f has no calibration).  *calibrated says whether f had one.  Returns 0 (free iv
 * with hz_iv_free) or HZ_E* with a message. */
int hz_calib_intervals(const hz_st_file *f, const hz_pipeline_conf *pc, char *const *names, int P,
                       int C, const hz_scaler *sc, const double *levels, int nl, int take_bounds,
                       hz_iv *iv, int *calibrated, char *err, size_t errlen);

typedef struct hz_calib_cov {
    size_t points;                      /* test points scored (windows x steps x variables) */
    double cover[HZ_IV_MAX_LEVELS];     /* share inside each level's interval */
    double width[HZ_IV_MAX_LEVELS];     /* mean width, original units */
    double width_low[HZ_IV_MAX_LEVELS]; /* mean width where the actual value is in its
                                           variable's lowest quartile (base flow) */
} hz_calib_cov;

/* Replays windows w (forecasts pred [n, P, C], scaled) through iv as horizond would.
 * Returns 0 or HZ_ENOMEM. */
int hz_calib_backtest(const hz_iv *iv, const hz_windows *w, const float *pred, int n,
                      hz_calib_cov *out, char *err, size_t errlen);

#endif
