/* kafka_source.h — readings from one Kafka topic through a consumer group (librdkafka's
 * high-level consumer), JSON-decoded with codec_json; at-least-once by committing only
 * acknowledged offsets.  docs/ARCHITECTURE.md.
 *
 * Offsets: enable.auto.commit and enable.auto.offset.store are forced off.  ack(pos) records
 * pos.offset + 1 as the partition's commit point (never moving backwards) and commits it
 * synchronously with rd_kafka_commit for that partition (when commit_interval_ms is 0, the
 * default) or, with commit_interval_ms > 0, at the first ack after the interval has passed,
 * on hz_kafka_source_commit, before partitions are revoked in a rebalance and on free.  A
 * position on a partition this consumer no longer owns is ignored (logged at debug), so a
 * stale ack can never move another member's offset.  When a rebalance takes partitions
 * away, their acknowledged offsets are committed first (unless the assignment was lost).
 * Both eager and cooperative assignors are handled (rd_kafka_assign / incremental_*).
 * A failed commit (ack returns HZ_EKAFKA) leaves the offsets pending; the next ack, commit,
 * revoke or free tries again.  A commit refused because the group is rebalancing
 * (REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID) is not an ack failure: ack
 * logs it and returns 0, the offsets stay pending (a pipeline that stopped on it would
 * leave the group and make the rebalance last longer).  If a revoke's commit fails (e.g. the broker
 * answers REBALANCE_IN_PROGRESS), the new owner reads those messages again: duplicates, never loss.
 * (librdkafka 2.0's mock broker refuses every commit while an eager rebalance is joining,
 * so on it the eager revoke commit always fails; real brokers accept commits from the
 * current generation then.)
 *
 * Rebuilding windows after a rebalance (off until hz_kafka_source_set_rebuild): a series
 * lives on one partition (producers key messages by series id, docs/MESSAGES.md), so the
 * consumer that is assigned a partition needs that partition's recent past for its
 * windows.  For each assigned partition with a committed offset C, the rebalance callback
 * looks for a start S < C: the first offset whose message time is at most span_ms old
 * (rd_kafka_offsets_for_times; the message time is the producer's CreateTime unless the
 * topic uses LogAppendTime); when the time lookup fails or gives no offset before C (a
 * backlog older than the span, producer clocks far off), max_messages before C instead;
 * never before the partition's log start (retention: the windows then start short),
 * and never before what this consumer already handed out (its windows hold that: after an
 * eager rebalance gives a partition back, or when it returns, only the gap is read).  The
 * partition is assigned at S.  Messages S..C-1 come back as the batch's `history`
 * (connector.h): decoded readings only, never acknowledged, not in `positions`; one that
 * does not decode is skipped (its first reader dead-lettered it).  When the message at C-1
 * (or any later one) arrives, the partition is listed in the batch's `rebuilt` and its
 * messages from C on are readings as usual.  Without a committed offset a partition is read
 * from auto.offset.reset with no history.  The plan costs a few blocking broker round trips
 * (committed offsets, time lookup, watermarks; at most REBUILD_TIMEOUT_MS each) inside the
 * rebalance callback.
 *
 * Messages that fail to decode become dead letters with origin "topic/partition/offset"; a
 * payload longer than the mapping's max_message is truncated to it in the dead letter.
 * Consumer errors are logged and polling goes on (partition EOF is not an error); only a
 * fatal librdkafka error makes poll fail. */
#ifndef HZ_KAFKA_SOURCE_H
#define HZ_KAFKA_SOURCE_H

#include "connectors/codec_json.h"
#include "connectors/connector.h"
#include "connectors/kafka_conf.h"

typedef struct hz_kafka_source_opts {
    const char *topic;  /* one topic (hz_pos has no topic field) */
    const hz_kv *props; /* librdkafka properties; bootstrap.servers and group.id required */
    size_t nprops;
    hz_json_mapping map;    /* strings borrowed for the source's life */
    int commit_interval_ms; /* 0: commit on every ack */
    const hz_logger *log;   /* NULL: default stderr sink; borrowed */
} hz_kafka_source_opts;

/* How far back an assigned partition is read again to rebuild windows (above). */
typedef struct hz_kafka_rebuild {
    int64_t span_ms;      /* message time a window needs; 0: by count only */
    int64_t max_messages; /* by count, when the time lookup gives nothing; 0: no rebuild */
} hz_kafka_rebuild;

/* Creates the consumer and subscribes.  Defaults the user may override:
 * auto.offset.reset=earliest (a new group reads the topic from its start, losing nothing).
 * Returns 0 and *out (free with out->ops->free), or HZ_EINVAL (bad property: librdkafka's
 * message naming it; missing group.id; bad mapping) / HZ_EKAFKA. */
int hz_kafka_source_new(const hz_kafka_source_opts *o, hz_source **out, char *err, size_t errlen);

/* What hz_kafka_source_new checks of o, without a consumer that connects: the mapping, the
 * properties through librdkafka (hz_kafka_conf_try).  Returns 0 or HZ_EINVAL. */
int hz_kafka_source_check(const hz_kafka_source_opts *o, char *err, size_t errlen);

/* The highest position per partition covered by the last poll, readings and dead letters
 * alike: what to ack once everything derived from that batch is durable.  *out is owned by
 * the source and valid until the next poll.  Returns the count. */
size_t hz_kafka_source_batch_positions(hz_source *s, const hz_pos **out);

/* Turns the rebuild on (or off with max_messages 0); call before the first poll. */
void hz_kafka_source_set_rebuild(hz_source *s, const hz_kafka_rebuild *rb);

/* Commits every acknowledged offset not yet committed (synchronously).  Returns 0 or
 * HZ_EKAFKA. */
int hz_kafka_source_commit(hz_source *s, char *err, size_t errlen);

/* Consumer lag: over the partitions assigned to this consumer, the sum of (high watermark -
 * next offset to consume), from librdkafka's cached watermarks (no broker round trip; the
 * cache is refreshed by fetches).  Partitions without a known position or watermark are
 * left out.  Returns -1 when nothing is known yet. */
int64_t hz_kafka_source_lag(hz_source *s);

typedef struct hz_kafka_source_stats {
    uint64_t messages, readings, dead, errors, commits, rebalances;
    uint64_t history, history_dead; /* history readings handed out; skipped (not decoded) */
    int assigned;                   /* partitions currently assigned */
} hz_kafka_source_stats;

void hz_kafka_source_stats_get(hz_source *s, hz_kafka_source_stats *out);

#endif
