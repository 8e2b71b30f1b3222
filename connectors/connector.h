/* connector.h — the records that flow through horizon and the two small interfaces every
 * connector implements: a source (poll a batch of readings, report positions, acknowledge
 * a position once everything derived from it is durable) and a sink (write forecasts,
 * anomalies, readings and dead letters; flush durably).  docs/ARCHITECTURE.md.
 *
 * Ownership: strings inside records handed to a sink are borrowed for the call only.
 * Records returned by a source's poll are owned by the source and stay valid until the
 * next poll (or free) on that source. */
#ifndef HZ_CONNECTOR_H
#define HZ_CONNECTOR_H

#include <stddef.h>
#include <stdint.h>

#include "common/hz.h"

/* Most variables one reading can carry (a pipeline's `values` list). */
#define HZ_MAX_VARS 32

/* Where a record came from, so it can be acknowledged and named in errors.
 * Kafka: partition and offset.  SQLite: partition -1, offset = rowid/cursor.  CSV:
 * partition -1, offset = 1-based line number. */
typedef struct hz_pos {
    int32_t partition;
    int64_t offset;
} hz_pos;

/* One reading: a series at one time, with one value per configured variable.  A variable
 * absent from the message is NaN. */
typedef struct hz_reading {
    const char *series;
    int64_t ts_ms; /* UTC, milliseconds since the epoch */
    int nvars;
    double values[HZ_MAX_VARS];
    hz_pos pos;
} hz_reading;

/* Something that could not be decoded: kept with its reason and origin, never dropped. */
typedef struct hz_dead_letter {
    const char *origin;  /* "topic/partition/offset", "file:line:column" or "table/rowid" */
    const char *reason;  /* what was wrong, e.g. "field \"ts\": expected ISO 8601 or epoch" */
    const void *payload; /* the raw bytes (may be truncated by the source, see payload_len) */
    size_t payload_len;
    int64_t ts_ms; /* when it was rejected */
    hz_pos pos;    /* where it was, so a batch of only dead letters can be acknowledged */
} hz_dead_letter;

#define HZ_FC_MAX_LEVELS 4

typedef struct hz_forecast {
    const char *pipeline, *series, *variable;
    int64_t issued_ts, target_ts; /* ms */
    int step;                     /* 1..horizon */
    double value, lower, upper;   /* the highest level's interval; NaN when none is known */
    const char *model_id;
    /* every level's interval (ascending levels, borrowed from the producer): stored as
     * columns lowerNN/upperNN and JSON keys of the same names (docs/MESSAGES.md) */
    int nlevels;                                       /* 0..HZ_FC_MAX_LEVELS */
    const double *levels;                              /* [nlevels] in (0, 1) */
    double lo[HZ_FC_MAX_LEVELS], hi[HZ_FC_MAX_LEVELS]; /* [nlevels] */
} hz_forecast;

/* The column / key suffix of a level: 0.9 -> "90", 0.99 -> "99", 0.995 -> "99_5". */
void hz_level_suffix(double level, char *buf, size_t len);

typedef struct hz_anomaly {
    const char *pipeline, *series, *variable;
    int64_t ts;                           /* ms */
    double value, expected, lower, upper; /* NaN where not applicable */
    double score;                         /* [0, 1] */
    int flag;                             /* 1 flagged, 0 scored only */
    const char *kind;     /* "residual", "range", "flatline", "spike", "gap", "shift" */
    const char *model_id; /* the model whose forecast judged it; NULL for data rules */
    const char *rule;     /* the rule and its settings ("spike k=8 window=32 log1p") */
} hz_anomaly;

/* A disaggregation window's estimate of one appliance (docs/MODELS.md section 8.9): its power
 * at each of n slots, period_ms apart from start_ts, 0 where under the appliance's ON
 * threshold; a slot is "on" when its power is at least on_threshold.  Stored as a row per
 * slot (docs/ARCHITECTURE.md) and published as one message (docs/MESSAGES.md). */
typedef struct hz_estimate {
    const char *pipeline, *series, *appliance;
    int64_t start_ts, period_ms; /* ms; the window's last slot: start_ts + (n-1) period */
    int n;
    const float *power; /* [n] watts (borrowed from the producer) */
    double on_threshold;
    const char *model_id;
} hz_estimate;

/* What one poll returns.  Arrays are owned by the source. */
typedef struct hz_batch {
    const hz_reading *readings;
    size_t n_readings;
    const hz_dead_letter *dead;
    size_t n_dead;
    /* The highest position covered by this batch on each partition: what to acknowledge
     * once everything derived from the batch is durable.  Owned by the source. */
    const hz_pos *positions;
    size_t n_positions;
    /* History: readings a source reads again only to rebuild windows (a Kafka source after
     * a rebalance hands it the partitions' messages before their committed offsets,
     * connectors/kafka_source.h).  Another owner already handled and acknowledged them, so
     * they go into the windows only: never to a sink, never checked, never acknowledged
     * (positions do not cover them).  Owned by the source like readings.  A source without
     * history leaves these 0 (the caller zeroes the batch before each poll). */
    const hz_reading *history;
    size_t n_history;
    /* Partitions whose history ended in this batch: their windows now hold everything up
     * to the committed offset, and every later message of theirs is a reading. */
    const int32_t *rebuilt;
    size_t n_rebuilt;
} hz_batch;

typedef struct hz_source hz_source;
typedef struct hz_source_ops {
    const char *kind; /* "kafka", "sqlite", "csv" */
    /* Fills out with up to max records, waiting at most timeout_ms.  Returns the number of
     * records (readings + dead letters + history), 0 when nothing arrived, HZ_EAGAIN never; a
     * negative HZ_E* on a failure that stops the source (a bad record is not such a failure). */
    int (*poll)(hz_source *s, hz_batch *out, size_t max, int timeout_ms, char *err, size_t errlen);
    /* Everything up to and including pos (on its partition) is durable: commit it. */
    int (*ack)(hz_source *s, const hz_pos *pos, char *err, size_t errlen);
    void (*free)(hz_source *s);
} hz_source_ops;

struct hz_source {
    const hz_source_ops *ops;
};

typedef struct hz_sink hz_sink;
typedef struct hz_sink_ops {
    const char *kind;
    /* Each write queues records; they are durable only after flush returns 0.  n may be 0. */
    int (*write_readings)(hz_sink *k, const char *pipeline, const char *const *var_names,
                          const hz_reading *r, size_t n, char *err, size_t errlen);
    int (*write_forecasts)(hz_sink *k, const hz_forecast *f, size_t n, char *err, size_t errlen);
    int (*write_anomalies)(hz_sink *k, const hz_anomaly *a, size_t n, char *err, size_t errlen);
    int (*write_dead)(hz_sink *k, const char *pipeline, const hz_dead_letter *d, size_t n,
                      char *err, size_t errlen);
    /* Makes every record written so far durable (SQLite COMMIT; Kafka delivery reports
     * received for all of them), waiting at most timeout_ms.  Returns 0 or HZ_E*. */
    int (*flush)(hz_sink *k, int timeout_ms, char *err, size_t errlen);
    void (*free)(hz_sink *k);
    /* Optional (NULL: use flush), a flush in two halves so the caller works meanwhile:
     * flush_begin makes everything written so far part of one commit and returns at once
     * (0 or an error of earlier writes); flush_end waits until every commit begun is durable
     * and returns 0 or HZ_E*, with *done_ns (hz_mono_ns) when the last one completed. */
    int (*flush_begin)(hz_sink *k, int timeout_ms, char *err, size_t errlen);
    int (*flush_end)(hz_sink *k, int64_t *done_ns, char *err, size_t errlen);
    /* Optional (NULL: the sink keeps no estimates), queues appliance estimates like the
     * other writes. */
    int (*write_estimates)(hz_sink *k, const hz_estimate *e, size_t n, char *err, size_t errlen);
} hz_sink_ops;

struct hz_sink {
    const hz_sink_ops *ops;
};

#endif
