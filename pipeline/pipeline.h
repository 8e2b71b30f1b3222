/* pipeline.h — one running pipeline of horizond (docs/ARCHITECTURE.md): its source, window store,
 * model and sinks, stepped by the daemon's event loop (runtime.h).
 *
 * A step is one delivery cycle: poll the source (waiting at most timeout_ms for the first
 * record, then collecting more for up to batch.max_wait or until batch.max windows are
 * ready); for the readings, write them to the sinks, push them into the windows, run the
 * data-quality rules and the residual check against the forecast each series received last;
 * forecast every ready window in batches of batch.max (one forward each); write anomalies
 * and dead letters; flush every sink (SQLite COMMIT, Kafka delivery reports) and only then
 * acknowledge the source positions of the cycle.  Readings, their forecasts and anomalies
 * are committed together, so a crash loses nothing and a replay only repeats work.
 *
 * Readings are not written back to a SQLite sink when the source is that very table (same
 * file, table `readings`): the rows are already there.
 *
 * At start the windows are rebuilt from the SQLite sink's `readings` (when the source reads
 * that table itself, only rows up to its acknowledged cursor), so a restart does not re-warm
 * from scratch; each series' latest complete window is forecast again (hz_forecaster_resume)
 * and written only when the file holds no forecast issued at its time (after an import, or a
 * stride not ended), for the next readings' checks.  A Kafka source also rebuilds the windows
 * of the partitions it is assigned from the topic (history, connectors/kafka_source.h): into
 * the windows only, then the same latest-window rule (docs/ARCHITECTURE.md §9).  The model
 * comes from model.checkpoint; when the file is absent and model.train.train_on_start is set, it is
 * trained first (trainer.h).
 *
 * With model.train.retrain_every > 0, every that long after the pipeline started (and after
 * the previous attempt ended) one background thread trains a new model on the same data
 * train_on_start uses (its own model, arena and read-only database connection), writes
 * `<checkpoint>.next`, renames it over the checkpoint and registers it in `models`.
 * Ingestion goes on with the old model meanwhile.  At the start of the next step (a cycle
 * boundary: nothing staged) the new checkpoint is loaded into a new forecaster, which takes
 * over the window store and the latest forecast of each series, and replaces the old one;
 * forecasts from then on carry the new model_id.  A failed retrain is logged (and counted
 * in horizon_retrains_total{result="failed"}) and the old model keeps serving.
 * hz_pipeline_free cancels a running retrain (within one training batch) and joins it. */
#ifndef HZ_PIPELINE_H
#define HZ_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "common/hz.h"
#include "common/metrics.h"
#include "training/trainer.h"

typedef struct hz_pipeline hz_pipeline;

/* Latency histogram: bucket i counts readings whose arrival-to-commit time t (µs) has
 * floor(4 log2 t) == i (quarter octaves, about ±10%). */
#define HZ_LAT_BUCKETS 160

typedef struct hz_pipeline_stats {
    uint64_t readings, dead, forecasts, anomalies, windows, skipped, batches, cycles;
    uint64_t rebuilt_points; /* points replayed from SQLite at start */
    uint64_t series;
    int64_t busy_ns; /* summed from each cycle's first record to its commit */
    /* from a reading's arrival (its poll returned) to the commit of everything derived from
     * it (its forecasts and flags durable, its position acknowledged) */
    uint64_t latency[HZ_LAT_BUCKETS];
} hz_pipeline_stats;

/* The q-quantile (0..1) of the arrival-to-commit latency in seconds (upper bucket edge);
 * 0 when nothing was committed yet. */
double hz_pipeline_latency_quantile(const hz_pipeline_stats *st, double q);

/* Opens everything pc needs.  cfg and pc must outlive the pipeline; metrics (may be NULL),
 * log (NULL: default) and hooks (NULL, or what a train_on_start training is given:
 * hz_train_hooks; used during this call only) are borrowed.  On success *out is owned by the caller
 * (hz_pipeline_free).  Returns 0 or HZ_E* with a message naming the pipeline. */
int hz_pipeline_new(const hz_config *cfg, const hz_pipeline_conf *pc, hz_metrics *metrics,
                    const hz_logger *log, const hz_train_hooks *hooks, hz_pipeline **out, char *err,
                    size_t errlen);

/* Checks, without opening anything that lasts, what hz_pipeline_new would refuse for a
 * reason in the file: the Kafka properties through librdkafka (hz_connectors_check; what &
 * HZ_CHECK_CONNECTORS) and the checkpoint (what & HZ_CHECK_MODEL) (hz_forecaster_check: present or
 * trained at start, loads, matches the window and variables).  `horizond --check`, start and SIGHUP
 * run it before a pipeline is replaced (service/runtime.h).  Returns 0 or HZ_E* with a message
 * naming the pipeline. */
enum { HZ_CHECK_CONNECTORS = 1, HZ_CHECK_MODEL = 2 }; /* what: either or both */
int hz_pipeline_check(const hz_config *cfg, const hz_pipeline_conf *pc, int what, char *err,
                      size_t errlen);

/* One delivery cycle (see above).  Returns the number of records handled (0: idle) or a
 * negative HZ_E* when the pipeline cannot go on (source failure, a sink that would not
 * flush: nothing of the cycle was acknowledged; restart the pipeline to replay it). */
int hz_pipeline_step(hz_pipeline *p, int timeout_ms, char *err, size_t errlen);

/* Forecasts what is still pending, flushes and acknowledges (shutdown, reload).  flush
 * waits at most timeout_ms.  Returns 0 or HZ_E*. */
int hz_pipeline_drain(hz_pipeline *p, int timeout_ms, char *err, size_t errlen);

/* Refreshes the gauges and the window-store counters in the metrics registry. */
void hz_pipeline_update_metrics(hz_pipeline *p);

const hz_pipeline_stats *hz_pipeline_stats_get(hz_pipeline *p);
const hz_pipeline_conf *hz_pipeline_conf_of(const hz_pipeline *p);
/* The id of the model serving now ("name-<sha256 prefix>"; changes after a retrain), owned by
 * the pipeline. */
const char *hz_pipeline_model_id(const hz_pipeline *p);

/* Frees everything; a Kafka source commits what was acknowledged.  NULL is a no-op. */
void hz_pipeline_free(hz_pipeline *p);

#endif
