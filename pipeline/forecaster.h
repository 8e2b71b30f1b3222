/* forecaster.h — a pipeline's model at run time (docs/ARCHITECTURE.md): the
 * checkpoint loaded (or trained first when absent and train_on_start), ready windows of a
 * window store batched into one forward of up to batch.max windows, forecasts in original
 * units with the split-conformal interval at the highest configured level, and the residual
 * check of each arriving point against the latest forecast of its series.
 *
 * Preprocessing follows the models' data protocol (docs/MODELS.md), as `horizon forecast`:
 * the window scaled with the checkpoint's scaler, timeF calendar marks of each slot's time,
 * Informer's decoder input = the last label_len scaled points then zeros.  The conformal
 * sets — one per (variable, step), shared by every series — are seeded from the
 * checkpoint's "calib.abs_residual_quantiles" and updated online (anomaly.h).
 *
 * Memory: batch buffers and the model's arena are sized once; per-series state (latest
 * forecast, P × C floats) grows with the number of series. */
#ifndef HZ_FORECASTER_H
#define HZ_FORECASTER_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "connectors/connector.h"
#include "common/hz.h"
#include "common/metrics.h"
#include "training/trainer.h"
#include "pipeline/window_store.h"

typedef struct hz_forecaster hz_forecaster;

/* Receives the forecasts of one forward (n records, valid for the call); returns 0 or HZ_E*
 * (which the forecaster passes back). */
typedef int (*hz_forecast_fn)(void *opaque, const hz_forecast *fc, size_t n, char *err,
                              size_t errlen);

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

/* Pops every ready series of ws and copies its window, as it is now, into the batch; a full
 * batch is forecast at once and handed to emit.  Windows with a missing value (fill: none)
 * or not yet full are skipped (counted).  Returns 0 or HZ_E*. */
int hz_forecaster_stage(hz_forecaster *f, hz_window_store *ws, hz_forecast_fn emit, void *opaque,
                        char *err, size_t errlen);
/* Forecasts what is staged (a partial batch).  Returns 0 or HZ_E*. */
int hz_forecaster_run(hz_forecaster *f, hz_window_store *ws, hz_forecast_fn emit, void *opaque,
                      char *err, size_t errlen);

/* Residual check of reading r (series index s in the store) against the latest forecast of
 * s covering r's slot: scores each forecast variable with its (variable, step) conformal set,
 * updates the set, and writes a kind "residual" record (pipeline/series/variable filled,
 * series = r->series) to out for each point outside the highest level's interval.  Returns
 * how many (at most the number of forecast variables, <= HZ_MAX_VARS). */
int hz_forecaster_check(hz_forecaster *f, uint32_t s, const hz_reading *r, hz_anomaly *out,
                        int max_out);

/* Hands the per-series latest forecasts of `from` (the model being replaced) to f, so the
 * residual check goes on without a gap after a model swap; nothing is copied when the two
 * forecast different variables.  Returns 0 or HZ_ENOMEM (f then simply starts empty). */
int hz_forecaster_take_state(hz_forecaster *f, const hz_forecaster *from);

/* "name-<sha256 prefix>" of the checkpoint (hz_forecast.model_id). */
const char *hz_forecaster_model_id(const hz_forecaster *f);
/* One line for the log: kind, lookback, horizon, variables. */
void hz_forecaster_describe(const hz_forecaster *f, char *buf, size_t len);
hz_forecaster_stats hz_forecaster_stats_get(const hz_forecaster *f);

#endif
