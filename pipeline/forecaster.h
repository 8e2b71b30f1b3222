/* forecaster.h — a pipeline's model at run time (docs/ARCHITECTURE.md): the
 * checkpoint loaded (or trained first when absent and train_on_start), ready windows of a
 * window store batched into one forward of up to batch.max windows, forecasts in original
 * units within the variables' bounds with an interval at every configured level, and the
 * residual check of each arriving point against the forecast made just before it.
 *
 * Preprocessing follows the models' data protocol (docs/MODELS.md), as `horizon forecast`:
 * the window scaled with the checkpoint's scaler, timeF calendar marks of each slot's time,
 * Informer's decoder input = the last label_len scaled points then zeros.  Intervals are
 * those of training/interval.h: calibrated by the checkpoint per (step, variable), scaled by
 * each window's local spread, with online offsets per (series, variable).
 *
 * A pipeline with model.task disaggregate has no forecasts: its calls go to its appliance
 * models (disagg_rt.h), whose estimates go to hz_forecaster_out.estimates and count as
 * forecasts in the stats; it has no residual check, intervals or state to hand over.
 *
 * Memory: batch buffers and the model's arena are sized once; per-series state (latest
 * forecast P × C floats, scales, offsets 8 floats per variable) grows with the number of
 * series. */
#ifndef HZ_FORECASTER_H
#define HZ_FORECASTER_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "connectors/connector.h"
#include "common/hz.h"
#include "common/metrics.h"
#include "training/interval.h"
#include "training/trainer.h"
#include "pipeline/disagg_rt.h"
#include "pipeline/window_store.h"

typedef struct hz_forecaster hz_forecaster;

/* Receives the forecasts of one forward (n records, valid for the call); returns 0 or HZ_E*
 * (which the forecaster passes back). */
typedef int (*hz_forecast_fn)(void *opaque, const hz_forecast *fc, size_t n, char *err,
                              size_t errlen);
/* Receives flagged residual records (n, valid for the call; series strings are the window
 * store's); returns 0 or HZ_ENOMEM. */
typedef int (*hz_anomaly_fn)(void *opaque, const hz_anomaly *a, size_t n);

/* Where a forecaster's results go (estimates: a disaggregation pipeline's, disagg_rt.h). */
typedef struct hz_forecaster_out {
    hz_forecast_fn forecasts;
    hz_anomaly_fn anomalies;
    void *opaque;
    hz_estimate_fn estimates;
} hz_forecaster_out;

typedef struct hz_forecaster_stats {
    uint64_t windows, batches, skipped, forecasts;
} hz_forecaster_stats;

/* Loads pc's model (training it first with train_on_start and no checkpoint, with hooks:
 * NULL, or used during this call only; see hz_train_hooks); vars (nvars names, the source's
 * variables in reading order) must list every variable the checkpoint forecasts.
 * inference/batch_size (may be NULL) are histogram children observed per forward.  cfg, pc, vars,
 * log and the metrics must outlive the forecaster.  Returns 0 and *out (hz_forecaster_free), or
 * HZ_E* with a message. */
int hz_forecaster_new(const hz_config *cfg, const hz_pipeline_conf *pc, const char *const *vars,
                      int nvars, const hz_logger *log, const hz_train_hooks *hooks,
                      hz_metric *inference, hz_metric *batch_size, hz_forecaster **out, char *err,
                      size_t errlen);
void hz_forecaster_free(hz_forecaster *f);

/* What hz_forecaster_new checks of pc's checkpoint, without training or buffers: it exists
 * (or model.train.train_on_start will train it), loads (hz_ckpt_load: finite weights,
 * shapes bounded by the file), and matches the pipeline (lookback, horizon, variables of
 * source.fields.values, features).  Returns 0 or HZ_E* with hz_forecaster_new's message. */
int hz_forecaster_check_model(const hz_config *cfg, const hz_pipeline_conf *pc,
                              const char *const *vars, int nvars, char *err, size_t errlen);

/* Pops every ready series of ws and copies its window, as it is now, into the batch; a full
 * batch is forecast at once and handed to emit.  Windows with a missing value (fill: none)
 * or not yet full are skipped (counted).  Returns 0 or HZ_E*. */
int hz_forecaster_stage(hz_forecaster *f, hz_window_store *ws, const hz_forecaster_out *o,
                        char *err, size_t errlen);
/* Forecasts what is staged (a partial batch), then runs the residual checks that waited for
 * those forecasts.  Returns 0 or HZ_E*. */
int hz_forecaster_run(hz_forecaster *f, hz_window_store *ws, const hz_forecaster_out *o, char *err,
                      size_t errlen);

/* After the windows were rebuilt from stored history (a restart): forecasts every ready
 * window again without writing anything, so each series has the forecast it had before the
 * restart (the model is deterministic) and its next reading is checked against it.  The
 * online interval offsets and shift state start afresh.  Returns 0 or HZ_E*. */
int hz_forecaster_prime(hz_forecaster *f, hz_window_store *ws, char *err, size_t errlen);

/* After a rebuild (windows replayed from SQLite at start, or from Kafka when partitions were
 * assigned, pipeline.c): forecasts the latest window of each series idx[0..n) that is
 * complete (lookback slots held, no missing value; others are skipped, not counted).  What is
 * staged already is run first, to o.  Then the series with write[i] == 0 are forecast
 * without writing (as hz_forecaster_prime: each gets the latest forecast its next reading is
 * checked against), and those with write[i] != 0 are forecast and handed to o like any ready
 * window (counted).  *written (may be NULL) gets how many series' forecasts went to o.
 * Returns 0 or HZ_E*. */
int hz_forecaster_resume(hz_forecaster *f, hz_window_store *ws, const uint32_t *idx,
                         const uint8_t *write, size_t n, const hz_forecaster_out *o,
                         size_t *written, char *err, size_t errlen);

/* Residual check of reading r (series index s in the store, sid its id there) against the
 * forecast of its series' newest window before it (the earliest step available): each
 * forecast variable is scored against its interval (training/interval.h), the series'
 * online offsets move, and a kind "residual" record goes to o->anomalies for each point
 * outside the highest level's interval.  When that window is staged but not run yet, the
 * check waits for hz_forecaster_run, so the checks, flags and offsets do not depend on how
 * readings were batched (a burst replay and a paced stream agree).  Call it after pushing r
 * and before staging: hz_forecaster_stage.  Returns 0 or HZ_ENOMEM. */
int hz_forecaster_check(hz_forecaster *f, uint32_t s, const char *sid, const hz_reading *r,
                        const hz_forecaster_out *o);

/* Hands the per-series latest forecasts of `from` (the model being replaced) to f, so the
 * residual check goes on without a gap after a model swap; nothing is copied when the two
 * forecast different variables.  Returns 0 or HZ_ENOMEM (f then simply starts empty). */
int hz_forecaster_take_state(hz_forecaster *f, const hz_forecaster *from);

/* "name-<sha256 prefix>" of the checkpoint (hz_forecast.model_id). */
const char *hz_forecaster_model_id(const hz_forecaster *f);
/* One line for the log: kind, lookback, horizon, variables. */
void hz_forecaster_describe(const hz_forecaster *f, char *buf, size_t len);
hz_forecaster_stats hz_forecaster_stats_get(const hz_forecaster *f);

/* The anomaly levels (*n of them, owned by f) and, per level, the share of the readings
 * checked so far that were inside its interval (NaN before the first check). */
const double *hz_forecaster_levels(const hz_forecaster *f, int *n);
double hz_forecaster_coverage(const hz_forecaster *f, int level);

#endif
