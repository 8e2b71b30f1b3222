/* disagg_rt.h — a disaggregation pipeline's models at run time (model.task disaggregate,
 * docs/MODELS.md section 8.9; docs/ARCHITECTURE.md): the checkpoint of each appliance of
 * model.data.appliances (`<checkpoint stem>.<appliance>.safetensors`, made by `horizon
 * train`), and the ready windows of a window store's aggregate power batched through each
 * of them.
 *
 * A window is window.lookback slots of the aggregate, divided by the checkpoint's power
 * (max-scaling), with TimeRPE marks of each slot's time, as training/disagg.c prepares them;
 * a window with a slot missing or filled (or of 0 W with model.data.zero_is_gap) is skipped
 * (counted), as training skips windows with gaps.
 * Each appliance's estimate is in watts, 0 under its on_threshold (and never negative), and
 * covers the window's newest min(stride, lookback) slots: with stride = lookback (windows
 * that do not overlap, as in training) each slot is estimated once.  hz_forecaster
 * (forecaster.h) hands its calls here for such a pipeline.
 *
 * Memory: batch buffers sized once for batch.max windows; no per-series state. */
#ifndef HZ_DISAGG_RT_H
#define HZ_DISAGG_RT_H

#include <stddef.h>
#include <stdint.h>

#include "common/hz.h"
#include "common/metrics.h"
#include "config/config.h"
#include "connectors/connector.h"
#include "pipeline/window_store.h"

typedef struct hz_disagg_rt hz_disagg_rt;

/* Receives the estimates of one appliance over one batch (n records, valid for the call);
 * returns 0 or HZ_E* with a message. */
typedef int (*hz_estimate_fn)(void *opaque, const hz_estimate *e, size_t n, char *err,
                              size_t errlen);

typedef struct hz_disagg_stats {
    uint64_t windows, batches, skipped, estimates;
} hz_disagg_stats;

/* Loads pc's appliance checkpoints and checks each is a disaggregation model of
 * source.fields.values[0] (vars[agg], vars the source's variables) for its appliance, with
 * seq_len window.lookback.  buffers 0: checks only (no batch buffers; hz_disagg_rt_free at
 * once).  inference/batch_size (may be NULL) are observed per forward.  pc, vars, log and the
 * metrics must outlive the result.  Returns 0 and *out, or HZ_E* naming the file. */
int hz_disagg_rt_new(const hz_pipeline_conf *pc, const char *const *vars, int nvars,
                     const hz_logger *log, hz_metric *inference, hz_metric *batch_size, int buffers,
                     hz_disagg_rt **out, char *err, size_t errlen);
void hz_disagg_rt_free(hz_disagg_rt *d);

/* Pops every ready series of ws into the batch; a full batch is run and handed to emit.
 * Returns 0 or HZ_E*. */
int hz_disagg_rt_stage(hz_disagg_rt *d, hz_window_store *ws, hz_estimate_fn emit, void *opaque,
                       char *err, size_t errlen);
/* Runs what is staged through every appliance's model, to emit.  Returns 0 or HZ_E*. */
int hz_disagg_rt_run(hz_disagg_rt *d, hz_window_store *ws, hz_estimate_fn emit, void *opaque,
                     char *err, size_t errlen);
/* After a rebuild: runs the latest window of each series idx[i] with write[i] != 0 (those
 * complete; the others need nothing, there is no residual check) to emit; *written (may be
 * NULL) the number run.  Returns 0 or HZ_E*. */
int hz_disagg_rt_resume(hz_disagg_rt *d, hz_window_store *ws, const uint32_t *idx,
                        const uint8_t *write, size_t n, hz_estimate_fn emit, void *opaque,
                        size_t *written, char *err, size_t errlen);

/* The first appliance's model id ("pipeline.appliance-<sha256 prefix>"); each estimate
 * carries its own appliance's. */
const char *hz_disagg_rt_model_id(const hz_disagg_rt *d);
void hz_disagg_rt_describe(const hz_disagg_rt *d, char *buf, size_t len);
hz_disagg_stats hz_disagg_rt_stats(const hz_disagg_rt *d);

#endif
