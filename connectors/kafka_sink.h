/* kafka_sink.h — forecasts, anomalies, appliance estimates, readings and dead letters to Kafka
 * topics as JSON (docs/MESSAGES.md) through an idempotent producer.  docs/ARCHITECTURE.md.
 *
 * enable.idempotence=true and acks=all are forced (a user pair setting another value is
 * refused).  Message key = series id (dead letters: their origin), so a series stays on one
 * partition.  A topic left NULL discards that kind of record (write returns 0).  When
 * librdkafka's queue is full a write serves delivery reports (rd_kafka_poll) and retries;
 * it gives up with HZ_EKAFKA after the queue stays full for queue_full_timeout_ms.
 *
 * flush(timeout) returns 0 only when every message written so far has a successful
 * delivery report; if any delivery failed since the previous flush it returns HZ_EKAFKA
 * naming the first error and the count (the failure count then restarts, the caller must
 * not acknowledge the inputs of that batch); on timeout it returns HZ_EKAFKA too. */
#ifndef HZ_KAFKA_SINK_H
#define HZ_KAFKA_SINK_H

#include "connectors/connector.h"
#include "connectors/kafka_conf.h"

typedef struct hz_kafka_sink_opts {
    const hz_kv *props; /* librdkafka properties; bootstrap.servers required */
    size_t nprops;
    const char *forecasts_topic, *anomalies_topic, *dead_topic, *readings_topic; /* or NULL */
    int queue_full_timeout_ms;                                                   /* 0: 30000 */
    const hz_logger *log;         /* NULL: default stderr sink; borrowed */
    const char *appliances_topic; /* appliance estimates (hz_estimate), or NULL */
} hz_kafka_sink_opts;

/* Returns 0 and *out (free with out->ops->free; free flushes for up to 10 s first), or
 * HZ_EINVAL (bad property, naming it) / HZ_EKAFKA. */
int hz_kafka_sink_new(const hz_kafka_sink_opts *o, hz_sink **out, char *err, size_t errlen);

/* The properties hz_kafka_sink_new would use, through librdkafka without a producer that
 * connects (hz_kafka_conf_try).  Returns 0 or HZ_EINVAL. */
int hz_kafka_sink_check(const hz_kafka_sink_opts *o, char *err, size_t errlen);

typedef struct hz_kafka_sink_stats {
    uint64_t queued, delivered, failed, queue_full_retries;
} hz_kafka_sink_stats;

void hz_kafka_sink_stats_get(hz_sink *k, hz_kafka_sink_stats *out);

#endif
