/* kafka_source.c — consumer-group source of JSON readings with commits of acknowledged
 * offsets only (docs/ARCHITECTURE.md; behaviour documented in kafka_source.h).
 *
 * Messages from one poll stay alive until the next poll, so dead letters point at their
 * payloads without copying; series ids are copied into a per-batch arena because jansson's
 * tree is freed after each decode.  The rebalance callback runs inside consumer_poll on the
 * caller's thread, so the partition table needs no lock. */
#include "connectors/kafka_source.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

typedef struct part {
    int assigned;
    int64_t acked;     /* next offset to commit (last acked + 1), -1: none */
    int64_t committed; /* last committed by us, -1: none */
    int64_t resume;    /* rebuilding: messages below this offset are history; -1: not */
    int64_t held;      /* highest offset handed out here (kept across revokes), -1: none */
} part;

/* A partition's state when it is (re)assigned: what it held is kept. */
#define PART_ASSIGNED(held) ((part){1, -1, -1, -1, (held)})
#define PART_REVOKED(held)  ((part){0, -1, -1, -1, (held)})
/* Broker round trips of a rebuild plan (committed offsets, times, watermarks). */
#define REBUILD_TIMEOUT_MS 10000

typedef struct kafka_source {
    hz_source base;
    const hz_logger *log; /* rd_kafka opaque points here (kafka_conf.h) */
    rd_kafka_t *rk;
    char *topic;
    hz_json_mapping map;
    int commit_interval_ms;
    int64_t last_commit_ns;
    part *parts; /* indexed by partition id */
    int nparts;
    /* the last batch */
    size_t cap;
    rd_kafka_message_t **msgs;
    size_t nmsgs;
    hz_reading *readings;
    hz_dead_letter *dead;
    char *series;  /* cap * (HZ_SERIES_MAX + 1) */
    char *reasons; /* cap * REASON_LEN */
    char *origins; /* cap * origin_len */
    size_t origin_len;
    hz_pos *bpos;
    size_t nbpos, bpos_cap;
    hz_reading *hist; /* history of the last batch (kafka_source.h) */
    char *hseries;    /* cap * (HZ_SERIES_MAX + 1) */
    int32_t *rebuilt; /* partitions whose history ended in the last batch */
    size_t nrebuilt, rebuilt_cap;
    hz_kafka_rebuild rb;
    rd_kafka_resp_err_t commit_err; /* of the last commit, 0: none */
    hz_kafka_source_stats stats;
} kafka_source;

#define REASON_LEN 256

static kafka_source *from_opaque(void *opaque)
{
    return (kafka_source *)((char *)opaque - offsetof(kafka_source, log));
}

static part *part_get(kafka_source *s, int32_t p)
{
    if (p < 0)
        return NULL;
    if (p >= s->nparts) {
        int n = p + 1 > 2 * s->nparts ? p + 1 : 2 * s->nparts;
        part *np = realloc(s->parts, (size_t)n * sizeof *np);
        if (!np)
            return NULL;
        for (int i = s->nparts; i < n; i++)
            np[i] = PART_REVOKED(-1);
        s->parts = np;
        s->nparts = n;
    }
    return &s->parts[p];
}

/* Commits acked offsets not yet committed; only (when only >= 0) that partition, else all
 * assigned partitions.  Synchronous. */
static int commit_dirty(kafka_source *s, const rd_kafka_topic_partition_list_t *only, char *err,
                        size_t errlen)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(4);
    for (int p = 0; p < s->nparts; p++) {
        part *e = &s->parts[p];
        if (!e->assigned || e->acked < 0 || e->acked <= e->committed)
            continue;
        if (only && !rd_kafka_topic_partition_list_find(only, s->topic, p))
            continue;
        rd_kafka_topic_partition_list_add(l, s->topic, p)->offset = e->acked;
    }
    int rc = 0;
    s->commit_err = 0;
    if (l->cnt > 0) {
        rd_kafka_resp_err_t ke = rd_kafka_commit(s->rk, l, 0);
        s->commit_err = ke;
        if (ke) {
            rc = hz_err(err, errlen, HZ_EKAFKA, "kafka topic %s: offset commit failed: %s",
                        s->topic, rd_kafka_err2str(ke));
        } else {
            for (int i = 0; i < l->cnt; i++) {
                part *e = &s->parts[l->elems[i].partition];
                if (l->elems[i].err && (s->commit_err = l->elems[i].err))
                    rc = hz_err(err, errlen, HZ_EKAFKA,
                                "kafka topic %s partition %d: offset commit failed: %s", s->topic,
                                (int)l->elems[i].partition, rd_kafka_err2str(l->elems[i].err));
                else
                    e->committed = l->elems[i].offset;
            }
            s->stats.commits++;
            hz_log(s->log, HZ_LOG_DEBUG, "kafka topic %s: committed %d partition(s)", s->topic,
                   l->cnt);
        }
        s->last_commit_ns = hz_mono_ns();
    }
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

/* Where partition p (part e, committed offset `committed`) starts reading again so that
 * its series' windows hold a lookback before `committed`: by message time when by_time
 * (offsets_for_times' answer, may be NULL) names an offset before `committed`, else
 * max_messages back; never before the log start, and only from what this consumer does not
 * hold already.  Returns `committed` when there is nothing to read again. */
static int64_t rebuild_start(kafka_source *s, const part *e, int32_t p, int64_t committed,
                             const rd_kafka_topic_partition_t *by_time)
{
    if (e->held >= committed - 1)
        return committed; /* this consumer's windows are up to date */
    int64_t start = committed - s->rb.max_messages;
    if (by_time && !by_time->err && by_time->offset >= 0 && by_time->offset < committed)
        start = by_time->offset;
    if (e->held + 1 > start)
        start = e->held + 1;
    int64_t lo, hi;
    if (rd_kafka_query_watermark_offsets(s->rk, s->topic, p, &lo, &hi, REBUILD_TIMEOUT_MS) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        start < lo)
        start = lo; /* retention took the rest: the windows start short */
    return start < 0 ? 0 : start;
}

/* Assigned partitions with a committed offset start reading `rebuild_start` instead, and
 * the messages before the committed offset become history (kafka_source.h). */
static void plan_rebuild(kafka_source *s, rd_kafka_topic_partition_list_t *parts)
{
    if (s->rb.max_messages <= 0 || parts->cnt == 0)
        return;
    rd_kafka_topic_partition_list_t *c = rd_kafka_topic_partition_list_copy(parts), *t = NULL;
    rd_kafka_resp_err_t ke = rd_kafka_committed(s->rk, c, REBUILD_TIMEOUT_MS);
    if (ke) {
        hz_log(s->log, HZ_LOG_WARN,
               "kafka topic %s: committed offsets unknown (%s): %d partition(s) start without "
               "their history",
               s->topic, rd_kafka_err2str(ke), parts->cnt);
        rd_kafka_topic_partition_list_destroy(c);
        return;
    }
    if (s->rb.span_ms > 0) {
        t = rd_kafka_topic_partition_list_copy(c);
        for (int i = 0; i < t->cnt; i++)
            t->elems[i].offset = hz_now_ms() - s->rb.span_ms;
        if (rd_kafka_offsets_for_times(s->rk, t, REBUILD_TIMEOUT_MS)) {
            rd_kafka_topic_partition_list_destroy(t);
            t = NULL; /* by count only */
        }
    }
    for (int i = 0; i < c->cnt; i++) {
        int32_t p = c->elems[i].partition;
        int64_t committed = c->elems[i].offset;
        part *e = part_get(s, p);
        if (!e || c->elems[i].err || committed <= 0)
            continue; /* nothing committed: the group reads it for the first time */
        int64_t start = rebuild_start(s, e, p, committed, t ? &t->elems[i] : NULL);
        rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_find(parts, s->topic, p);
        if (start >= committed || !tp)
            continue;
        tp->offset = start;
        e->resume = committed;
        hz_log(s->log, HZ_LOG_INFO,
               "kafka topic %s partition %d: rebuilding windows from offsets %lld..%lld "
               "(committed %lld)",
               s->topic, (int)p, (long long)start, (long long)committed - 1, (long long)committed);
    }
    if (t)
        rd_kafka_topic_partition_list_destroy(t);
    rd_kafka_topic_partition_list_destroy(c);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t why,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    kafka_source *s = from_opaque(opaque);
    int coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    rd_kafka_error_t *kerr = NULL;
    rd_kafka_resp_err_t ke = 0;
    s->stats.rebalances++;
    if (why == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        for (int i = 0; i < parts->cnt; i++) {
            part *e = part_get(s, parts->elems[i].partition);
            if (e)
                *e = PART_ASSIGNED(e->held);
        }
        plan_rebuild(s, parts);
        if (parts->cnt > 0)
            hz_log(s->log, HZ_LOG_INFO, "kafka topic %s: assigned %d partition(s)", s->topic,
                   parts->cnt);
        if (coop)
            kerr = rd_kafka_incremental_assign(rk, parts);
        else
            ke = rd_kafka_assign(rk, parts);
    } else {
        if (!rd_kafka_assignment_lost(rk)) {
            char err[HZ_ERRLEN];
            if (commit_dirty(s, parts, err, sizeof err))
                hz_log(s->log, HZ_LOG_WARN,
                       "%s (before revoke; those messages will be "
                       "delivered again)",
                       err);
        }
        for (int i = 0; i < parts->cnt; i++) {
            int32_t p = parts->elems[i].partition;
            if (p >= 0 && p < s->nparts)
                s->parts[p] = PART_REVOKED(s->parts[p].held);
        }
        hz_log(s->log, HZ_LOG_INFO, "kafka topic %s: revoked %d partition(s)%s", s->topic,
               parts->cnt, rd_kafka_assignment_lost(rk) ? " (assignment lost)" : "");
        if (coop)
            kerr = rd_kafka_incremental_unassign(rk, parts);
        else
            ke = rd_kafka_assign(rk, NULL);
    }
    if (kerr) {
        hz_log(s->log, HZ_LOG_ERR, "kafka topic %s: rebalance: %s", s->topic,
               rd_kafka_error_string(kerr));
        rd_kafka_error_destroy(kerr);
    } else if (ke) {
        hz_log(s->log, HZ_LOG_ERR, "kafka topic %s: rebalance: %s", s->topic, rd_kafka_err2str(ke));
    }
}

static void release_batch(kafka_source *s)
{
    for (size_t i = 0; i < s->nmsgs; i++)
        rd_kafka_message_destroy(s->msgs[i]);
    s->nmsgs = 0;
    s->nbpos = 0;
    s->nrebuilt = 0;
}

static int ensure_cap(kafka_source *s, size_t max)
{
    if (max <= s->cap)
        return 0;
#define GROW(p, n)                                                                                 \
    do {                                                                                           \
        void *np_ = realloc((p), (n));                                                             \
        if (!np_)                                                                                  \
            return HZ_ENOMEM;                                                                      \
        (p) = np_;                                                                                 \
    } while (0)
    GROW(s->msgs, max * sizeof *s->msgs);
    GROW(s->readings, max * sizeof *s->readings);
    GROW(s->dead, max * sizeof *s->dead);
    GROW(s->series, max * (HZ_SERIES_MAX + 1));
    GROW(s->reasons, max * REASON_LEN);
    GROW(s->origins, max * s->origin_len);
    GROW(s->hist, max * sizeof *s->hist);
    GROW(s->hseries, max * (HZ_SERIES_MAX + 1));
#undef GROW
    s->cap = max;
    return 0;
}

static void note_pos(kafka_source *s, int32_t p, int64_t off)
{
    for (size_t i = 0; i < s->nbpos; i++)
        if (s->bpos[i].partition == p) {
            if (off > s->bpos[i].offset)
                s->bpos[i].offset = off;
            return;
        }
    if (s->nbpos == s->bpos_cap) {
        size_t n = s->bpos_cap ? 2 * s->bpos_cap : 8;
        hz_pos *np = realloc(s->bpos, n * sizeof *np);
        if (!np)
            return; /* the caller acks less: messages come again, nothing is lost */
        s->bpos = np;
        s->bpos_cap = n;
    }
    s->bpos[s->nbpos++] = (hz_pos){p, off};
}

/* Partition p's history ended: the windows of its series are whole. */
static void note_rebuilt(kafka_source *s, int32_t p)
{
    if (s->nrebuilt == s->rebuilt_cap) {
        size_t n = s->rebuilt_cap ? 2 * s->rebuilt_cap : 8;
        int32_t *np = realloc(s->rebuilt, n * sizeof *np);
        if (!np)
            return; /* the windows are whole all the same; only the first forecast waits */
        s->rebuilt = np;
        s->rebuilt_cap = n;
    }
    s->rebuilt[s->nrebuilt++] = p;
}

/* Takes message m when it is history of a partition being rebuilt: decoded into the
 * history (a message that does not decode was dead-lettered by its first reader: skipped).
 * Returns 1 when m was history, 0 when it is to be handled as usual. */
static int take_history(kafka_source *s, const rd_kafka_message_t *m, size_t *nh)
{
    part *e = m->partition >= 0 && m->partition < s->nparts ? &s->parts[m->partition] : NULL;
    if (!e)
        return 0;
    if (m->offset > e->held)
        e->held = m->offset;
    int64_t resume = e->resume;
    if (resume < 0)
        return 0;
    if (m->offset >= resume - 1) {
        e->resume = -1;
        note_rebuilt(s, m->partition);
    }
    if (m->offset >= resume)
        return 0;
    char reason[REASON_LEN];
    hz_reading *r = &s->hist[*nh];
    if (hz_codec_json_decode(&s->map, m->key, m->key_len, m->payload, m->len, r,
                             s->hseries + *nh * (HZ_SERIES_MAX + 1), reason, sizeof reason)) {
        s->stats.history_dead++;
        return 1;
    }
    r->pos = (hz_pos){m->partition, m->offset};
    (*nh)++;
    s->stats.history++;
    return 1;
}

static int src_poll(hz_source *base, hz_batch *out, size_t max, int timeout_ms, char *err,
                    size_t errlen)
{
    kafka_source *s = (kafka_source *)base;
    release_batch(s);
    *out = (hz_batch){0};
    if (max == 0)
        return 0;
    if (ensure_cap(s, max))
        return hz_err(err, errlen, HZ_ENOMEM, "kafka topic %s: out of memory for a batch of %zu",
                      s->topic, max);
    size_t nr = 0, nd = 0, nh = 0;
    int64_t deadline = hz_mono_ns() + (int64_t)timeout_ms * 1000000;
    while (s->nmsgs < max) { /* a skipped history message holds a slot too */
        int wait = 0;
        if (nr + nd + nh == 0) {
            int64_t left = (deadline - hz_mono_ns()) / 1000000;
            wait = left > 0 ? (int)left : 0;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(s->rk, wait);
        if (!m) {
            if (nr + nd + nh == 0 && wait > 0)
                continue; /* woken early (e.g. by a rebalance) with time left */
            break;
        }
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                s->stats.errors++;
                hz_log(s->log, HZ_LOG_WARN, "kafka topic %s: consumer error: %s",
                       m->rkt ? rd_kafka_topic_name(m->rkt) : s->topic, rd_kafka_message_errstr(m));
            }
            rd_kafka_message_destroy(m);
            char fe[256];
            rd_kafka_resp_err_t fatal = rd_kafka_fatal_error(s->rk, fe, sizeof fe);
            if (fatal)
                return hz_err(err, errlen, HZ_EKAFKA, "kafka topic %s: fatal error: %s", s->topic,
                              fe);
            continue;
        }
        size_t slot = s->nmsgs++;
        s->msgs[slot] = m;
        s->stats.messages++;
        if (take_history(s, m, &nh))
            continue;
        note_pos(s, m->partition, m->offset);
        hz_reading *r = &s->readings[nr];
        char *reason = s->reasons + nd * REASON_LEN;
        int rc = hz_codec_json_decode(&s->map, m->key, m->key_len, m->payload, m->len, r,
                                      s->series + nr * (HZ_SERIES_MAX + 1), reason, REASON_LEN);
        if (rc == 0) {
            r->pos = (hz_pos){m->partition, m->offset};
            nr++;
            s->stats.readings++;
            continue;
        }
        char *origin = s->origins + nd * s->origin_len;
        snprintf(origin, s->origin_len, "%s/%" PRId32 "/%" PRId64, s->topic, m->partition,
                 m->offset);
        size_t maxlen = s->map.max_message ? s->map.max_message : HZ_JSON_MAX_MESSAGE_DEFAULT;
        s->dead[nd] = (hz_dead_letter){origin,      reason,
                                       m->payload,  m->len > maxlen ? maxlen : m->len,
                                       hz_now_ms(), (hz_pos){m->partition, m->offset}};
        /* logged once, with its pipeline, where it is written (pipeline/pipeline.c) */
        nd++;
        s->stats.dead++;
    }
    out->readings = s->readings;
    out->n_readings = nr;
    out->dead = s->dead;
    out->n_dead = nd;
    out->positions = s->bpos;
    out->n_positions = s->nbpos;
    out->history = s->hist;
    out->n_history = nh;
    out->rebuilt = s->rebuilt;
    out->n_rebuilt = s->nrebuilt;
    return (int)(nr + nd + nh);
}

/* A commit refused because the group is rebalancing or this member's generation is over:
 * the offsets stay pending and go with the next ack or the revoke; if the partitions are
 * gone, their new owner reads from the last commit (duplicates, never loss). */
static int rebalancing(rd_kafka_resp_err_t e)
{
    return e == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS ||
           e == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION || e == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID;
}

static int src_ack(hz_source *base, const hz_pos *pos, char *err, size_t errlen)
{
    kafka_source *s = (kafka_source *)base;
    if (pos->partition < 0 || pos->partition >= s->nparts || !s->parts[pos->partition].assigned) {
        hz_log(s->log, HZ_LOG_DEBUG,
               "kafka topic %s: ack of %d/%lld ignored: partition not assigned here", s->topic,
               (int)pos->partition, (long long)pos->offset);
        return 0;
    }
    part *e = &s->parts[pos->partition];
    if (pos->offset + 1 > e->acked)
        e->acked = pos->offset + 1;
    if (s->commit_interval_ms > 0 &&
        hz_mono_ns() - s->last_commit_ns < (int64_t)s->commit_interval_ms * 1000000)
        return 0;
    int rc = commit_dirty(s, NULL, err, errlen);
    if (rc && rebalancing(s->commit_err)) {
        hz_log(s->log, HZ_LOG_NOTICE, "%s (kept for the next commit)", err);
        return 0;
    }
    return rc;
}

/* rd_kafka_consumer_close can wait forever inside the rebalance callback's assign during a
 * rebalance (a known librdkafka fault, seen here with the mock cluster in
 * tests/e2e/scaleout_kafka.sh): the close runs on a thread of its own and is given
 * CLOSE_WAIT_S.  Past that the handle and the source are left behind (logged, not freed:
 * the callback may still run on them): the group takes the partitions back at the session
 * timeout, as after a crash; the offsets were committed before. */
#define CLOSE_WAIT_S 10

typedef struct closer {
    rd_kafka_t *rk;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, abandoned;
} closer;

static void closer_free(closer *c)
{
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}

static void *close_thread(void *arg)
{
    closer *c = arg;
    rd_kafka_consumer_close(c->rk); /* leaves the group; revokes through rebalance_cb */
    pthread_mutex_lock(&c->mu);
    c->done = 1;
    int left = c->abandoned;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (left) { /* the caller gave up waiting: this thread cleans up */
        rd_kafka_destroy(c->rk);
        closer_free(c);
    }
    return NULL;
}

/* Closes and destroys rk, waiting at most CLOSE_WAIT_S; returns 0, or -1 when left behind. */
static int close_bounded(rd_kafka_t *rk)
{
    closer *c = calloc(1, sizeof *c);
    pthread_t th;
    if (!c) {
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        return 0;
    }
    c->rk = rk;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    if (pthread_create(&th, NULL, close_thread, c)) {
        closer_free(c);
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        return 0;
    }
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += CLOSE_WAIT_S;
    pthread_mutex_lock(&c->mu);
    while (!c->done && pthread_cond_timedwait(&c->cv, &c->mu, &until) == 0)
        ;
    int done = c->done;
    c->abandoned = !done;
    pthread_mutex_unlock(&c->mu);
    if (!done) {
        pthread_detach(th);
        return -1;
    }
    pthread_join(th, NULL);
    rd_kafka_destroy(rk);
    closer_free(c);
    return 0;
}

static void src_free(hz_source *base)
{
    kafka_source *s = (kafka_source *)base;
    if (!s)
        return;
    release_batch(s);
    if (s->rk) {
        char err[HZ_ERRLEN];
        if (commit_dirty(s, NULL, err, sizeof err))
            hz_log(s->log, HZ_LOG_WARN, "%s (at close)", err);
        if (close_bounded(s->rk)) {
            hz_log(s->log, HZ_LOG_WARN,
                   "kafka topic %s: the consumer did not close within %d s (a rebalance in "
                   "progress); left behind, the group reassigns its partitions at the session "
                   "timeout",
                   s->topic, CLOSE_WAIT_S);
            return; /* its rebalance callback may still run on s: s is left behind too */
        }
    }
    free(s->topic);
    free(s->parts);
    free(s->msgs);
    free(s->readings);
    free(s->dead);
    free(s->series);
    free(s->reasons);
    free(s->origins);
    free(s->bpos);
    free(s->hist);
    free(s->hseries);
    free(s->rebuilt);
    free(s);
}

static const hz_source_ops kafka_source_ops = {"kafka", src_poll, src_ack, src_free};

size_t hz_kafka_source_batch_positions(hz_source *base, const hz_pos **out)
{
    kafka_source *s = (kafka_source *)base;
    *out = s->bpos;
    return s->nbpos;
}

void hz_kafka_source_set_rebuild(hz_source *base, const hz_kafka_rebuild *rb)
{
    ((kafka_source *)base)->rb = *rb;
}

int hz_kafka_source_commit(hz_source *base, char *err, size_t errlen)
{
    return commit_dirty((kafka_source *)base, NULL, err, errlen);
}

void hz_kafka_source_stats_get(hz_source *base, hz_kafka_source_stats *out)
{
    kafka_source *s = (kafka_source *)base;
    *out = s->stats;
    out->assigned = 0;
    for (int p = 0; p < s->nparts; p++)
        out->assigned += s->parts[p].assigned;
}

/* The options' checks and the consumer's librdkafka configuration (*conf, the caller's). */
static int source_conf(const hz_kafka_source_opts *o, rd_kafka_conf_t **conf, char *err,
                       size_t errlen)
{
    if (!o->topic || !*o->topic)
        return hz_err(err, errlen, HZ_EINVAL, "kafka source: no topic given");
    if (!hz_kafka_conf_get(o->props, o->nprops, "group.id"))
        return hz_err(err, errlen, HZ_EINVAL, "kafka source %s: group.id is required", o->topic);
    int rc = hz_codec_json_check_mapping(&o->map, err, errlen);
    if (rc)
        return rc;
    static const hz_kv defaults[] = {{"auto.offset.reset", "earliest"}};
    static const hz_kv forced[] = {{"enable.auto.commit", "false"},
                                   {"enable.auto.offset.store", "false"}};
    return hz_kafka_conf_new(defaults, 1, o->props, o->nprops, forced, 2, conf, err, errlen);
}

int hz_kafka_source_check(const hz_kafka_source_opts *o, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf;
    int rc = source_conf(o, &conf, err, errlen);
    if (rc)
        return rc;
    char what[300];
    snprintf(what, sizeof what, "kafka source %s", o->topic);
    return hz_kafka_conf_try(conf, RD_KAFKA_CONSUMER, what, err, errlen);
}

int hz_kafka_source_new(const hz_kafka_source_opts *o, hz_source **out, char *err, size_t errlen)
{
    *out = NULL;
    rd_kafka_conf_t *conf;
    int rc = source_conf(o, &conf, err, errlen);
    if (rc)
        return rc;
    kafka_source *s = calloc(1, sizeof *s);
    if (!s || !(s->topic = strdup(o->topic))) {
        rd_kafka_conf_destroy(conf);
        free(s);
        return hz_err(err, errlen, HZ_ENOMEM, "kafka source %s: out of memory", o->topic);
    }
    s->base.ops = &kafka_source_ops;
    s->log = o->log;
    s->map = o->map;
    s->commit_interval_ms = o->commit_interval_ms;
    s->origin_len = strlen(o->topic) + 48;
    rd_kafka_conf_set_opaque(conf, &s->log);
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    hz_kafka_conf_route_logs(conf);
    char es[512];
    s->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, es, sizeof es);
    if (!s->rk) {
        rd_kafka_conf_destroy(conf);
        src_free(&s->base);
        return hz_err(err, errlen, HZ_EKAFKA, "kafka source %s: %s", o->topic, es);
    }
    rd_kafka_poll_set_consumer(s->rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, o->topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t ke = rd_kafka_subscribe(s->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (ke) {
        src_free(&s->base);
        return hz_err(err, errlen, HZ_EKAFKA, "kafka source %s: subscribe: %s", o->topic,
                      rd_kafka_err2str(ke));
    }
    *out = &s->base;
    return 0;
}

int64_t hz_kafka_source_lag(hz_source *base)
{
    kafka_source *s = (kafka_source *)base;
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(s->rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR || !parts)
        return -1;
    int64_t lag = -1;
    if (parts->cnt > 0 && rd_kafka_position(s->rk, parts) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        for (int i = 0; i < parts->cnt; i++) {
            rd_kafka_topic_partition_t *tp = &parts->elems[i];
            int64_t lo, hi;
            if (tp->offset < 0 ||
                rd_kafka_get_watermark_offsets(s->rk, tp->topic, tp->partition, &lo, &hi) !=
                    RD_KAFKA_RESP_ERR_NO_ERROR ||
                hi < 0)
                continue;
            lag = (lag < 0 ? 0 : lag) + (hi > tp->offset ? hi - tp->offset : 0);
        }
    }
    rd_kafka_topic_partition_list_destroy(parts);
    return lag;
}
