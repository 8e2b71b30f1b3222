/* kafka_sink.c — idempotent JSON producer for horizon's results (docs/ARCHITECTURE.md; behaviour
 * documented in kafka_sink.h).
 *
 * Each record is encoded into one reusable buffer and handed to librdkafka with
 * RD_KAFKA_MSG_F_COPY, so the write path allocates only when a record outgrows the buffer.
 * Delivery reports are served by rd_kafka_poll/rd_kafka_flush on the caller's thread, so
 * the counters need no lock. */
#include "connectors/kafka_sink.h"

#include <stdlib.h>
#include <string.h>

#include "connectors/codec_json.h"

typedef struct kafka_sink {
    hz_sink base;
    const hz_logger *log; /* rd_kafka opaque points here (kafka_conf.h) */
    rd_kafka_t *rk;
    rd_kafka_topic_t *t_fc, *t_an, *t_dead, *t_rd, *t_ap;
    int queue_full_timeout_ms;
    char *buf;
    size_t cap;
    hz_kafka_sink_stats stats;
    uint64_t failed_since_flush;
    rd_kafka_resp_err_t first_err;
    char first_err_topic[128];
} kafka_sink;

static kafka_sink *from_opaque(void *opaque)
{
    return (kafka_sink *)((char *)opaque - offsetof(kafka_sink, log));
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    kafka_sink *k = from_opaque(opaque);
    if (!m->err) {
        k->stats.delivered++;
        return;
    }
    k->stats.failed++;
    if (k->failed_since_flush++ == 0) {
        k->first_err = m->err;
        snprintf(k->first_err_topic, sizeof k->first_err_topic, "%s", rd_kafka_topic_name(m->rkt));
    }
    hz_log(k->log, HZ_LOG_WARN, "kafka topic %s: delivery failed: %s", rd_kafka_topic_name(m->rkt),
           rd_kafka_err2str(m->err));
}

/* Grows the encode buffer to hold need + 1 bytes. */
static int reserve(kafka_sink *k, size_t need, char *err, size_t errlen)
{
    if (need < k->cap)
        return 0;
    size_t n = k->cap;
    while (n <= need)
        n *= 2;
    char *nb = realloc(k->buf, n);
    if (!nb)
        return hz_err(err, errlen, HZ_ENOMEM, "kafka sink: out of memory for a %zu-byte message",
                      need);
    k->buf = nb;
    k->cap = n;
    return 0;
}

static int produce(kafka_sink *k, rd_kafka_topic_t *t, const char *key, size_t len, char *err,
                   size_t errlen)
{
    int64_t deadline = hz_mono_ns() + (int64_t)k->queue_full_timeout_ms * 1000000;
    for (;;) {
        rd_kafka_resp_err_t ke =
            rd_kafka_producev(k->rk, RD_KAFKA_V_RKT(t), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
                              RD_KAFKA_V_VALUE(k->buf, len), RD_KAFKA_V_END);
        if (!ke) {
            k->stats.queued++;
            return 0;
        }
        if (ke != RD_KAFKA_RESP_ERR__QUEUE_FULL || hz_mono_ns() > deadline)
            return hz_err(err, errlen, HZ_EKAFKA, "kafka topic %s: produce: %s",
                          rd_kafka_topic_name(t), rd_kafka_err2str(ke));
        k->stats.queue_full_retries++;
        rd_kafka_poll(k->rk, 100); /* serve delivery reports to make room */
    }
}

/* Encodes with enc into the buffer (growing it once if needed) and produces. */
#define ENCODE_AND_PRODUCE(k, t, key, expr)                                                        \
    do {                                                                                           \
        size_t need_ = (expr);                                                                     \
        if (need_ >= (k)->cap) {                                                                   \
            int rc_ = reserve((k), need_, err, errlen);                                            \
            if (rc_)                                                                               \
                return rc_;                                                                        \
            need_ = (expr);                                                                        \
        }                                                                                          \
        int rc2_ = produce((k), (t), (key), need_, err, errlen);                                   \
        if (rc2_)                                                                                  \
            return rc2_;                                                                           \
    } while (0)

static int sink_write_readings(hz_sink *base, const char *pipeline, const char *const *var_names,
                               const hz_reading *r, size_t n, char *err, size_t errlen)
{
    kafka_sink *k = (kafka_sink *)base;
    if (!k->t_rd)
        return 0;
    for (size_t i = 0; i < n; i++)
        ENCODE_AND_PRODUCE(
            k, k->t_rd, r[i].series,
            hz_codec_json_encode_reading(pipeline, var_names, &r[i], k->buf, k->cap));
    rd_kafka_poll(k->rk, 0);
    return 0;
}

static int sink_write_forecasts(hz_sink *base, const hz_forecast *f, size_t n, char *err,
                                size_t errlen)
{
    kafka_sink *k = (kafka_sink *)base;
    if (!k->t_fc)
        return 0;
    for (size_t i = 0; i < n; i++)
        ENCODE_AND_PRODUCE(k, k->t_fc, f[i].series,
                           hz_codec_json_encode_forecast(&f[i], k->buf, k->cap));
    rd_kafka_poll(k->rk, 0);
    return 0;
}

static int sink_write_anomalies(hz_sink *base, const hz_anomaly *a, size_t n, char *err,
                                size_t errlen)
{
    kafka_sink *k = (kafka_sink *)base;
    if (!k->t_an)
        return 0;
    for (size_t i = 0; i < n; i++)
        ENCODE_AND_PRODUCE(k, k->t_an, a[i].series,
                           hz_codec_json_encode_anomaly(&a[i], k->buf, k->cap));
    rd_kafka_poll(k->rk, 0);
    return 0;
}

static int sink_write_estimates(hz_sink *base, const hz_estimate *e, size_t n, char *err,
                                size_t errlen)
{
    kafka_sink *k = (kafka_sink *)base;
    if (!k->t_ap)
        return 0;
    for (size_t i = 0; i < n; i++)
        ENCODE_AND_PRODUCE(k, k->t_ap, e[i].series,
                           hz_codec_json_encode_estimate(&e[i], k->buf, k->cap));
    rd_kafka_poll(k->rk, 0);
    return 0;
}

static int sink_write_dead(hz_sink *base, const char *pipeline, const hz_dead_letter *d, size_t n,
                           char *err, size_t errlen)
{
    kafka_sink *k = (kafka_sink *)base;
    if (!k->t_dead)
        return 0;
    for (size_t i = 0; i < n; i++)
        ENCODE_AND_PRODUCE(k, k->t_dead, d[i].origin,
                           hz_codec_json_encode_dead(pipeline, &d[i], k->buf, k->cap));
    rd_kafka_poll(k->rk, 0);
    return 0;
}

static int sink_flush(hz_sink *base, int timeout_ms, char *err, size_t errlen)
{
    kafka_sink *k = (kafka_sink *)base;
    rd_kafka_resp_err_t ke = rd_kafka_flush(k->rk, timeout_ms);
    if (k->failed_since_flush) {
        uint64_t nf = k->failed_since_flush;
        k->failed_since_flush = 0;
        return hz_err(err, errlen, HZ_EKAFKA,
                      "kafka topic %s: %llu message(s) not delivered since the last flush: %s",
                      k->first_err_topic, (unsigned long long)nf, rd_kafka_err2str(k->first_err));
    }
    if (ke)
        return hz_err(err, errlen, HZ_EKAFKA,
                      "kafka sink: %d message(s) still undelivered after %d ms: %s",
                      rd_kafka_outq_len(k->rk), timeout_ms, rd_kafka_err2str(ke));
    char fe[256];
    if (rd_kafka_fatal_error(k->rk, fe, sizeof fe))
        return hz_err(err, errlen, HZ_EKAFKA, "kafka sink: fatal error: %s", fe);
    return 0;
}

static void sink_free(hz_sink *base)
{
    kafka_sink *k = (kafka_sink *)base;
    if (!k)
        return;
    if (k->rk) {
        char err[HZ_ERRLEN];
        if (sink_flush(base, 10000, err, sizeof err))
            hz_log(k->log, HZ_LOG_WARN, "%s (at close)", err);
    }
    rd_kafka_topic_t *ts[] = {k->t_fc, k->t_an, k->t_dead, k->t_rd, k->t_ap};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++)
        if (ts[i])
            rd_kafka_topic_destroy(ts[i]);
    if (k->rk)
        rd_kafka_destroy(k->rk);
    free(k->buf);
    free(k);
}

static const hz_sink_ops kafka_sink_ops = {
    .kind = "kafka",
    .write_readings = sink_write_readings,
    .write_forecasts = sink_write_forecasts,
    .write_anomalies = sink_write_anomalies,
    .write_dead = sink_write_dead,
    .flush = sink_flush,
    .free = sink_free,
    .write_estimates = sink_write_estimates,
};

void hz_kafka_sink_stats_get(hz_sink *base, hz_kafka_sink_stats *out)
{
    *out = ((kafka_sink *)base)->stats;
}

static const hz_kv sink_forced[] = {{"enable.idempotence", "true"}, {"acks", "all"}};

int hz_kafka_sink_check(const hz_kafka_sink_opts *o, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf;
    int rc = hz_kafka_conf_new(NULL, 0, o->props, o->nprops, sink_forced, 2, &conf, err, errlen);
    return rc ? rc : hz_kafka_conf_try(conf, RD_KAFKA_PRODUCER, "kafka sink", err, errlen);
}

int hz_kafka_sink_new(const hz_kafka_sink_opts *o, hz_sink **out, char *err, size_t errlen)
{
    *out = NULL;
    rd_kafka_conf_t *conf;
    int rc = hz_kafka_conf_new(NULL, 0, o->props, o->nprops, sink_forced, 2, &conf, err, errlen);
    if (rc)
        return rc;
    kafka_sink *k = calloc(1, sizeof *k);
    if (!k || !(k->buf = malloc(4096))) {
        rd_kafka_conf_destroy(conf);
        free(k);
        return hz_err(err, errlen, HZ_ENOMEM, "kafka sink: out of memory");
    }
    k->cap = 4096;
    k->base.ops = &kafka_sink_ops;
    k->log = o->log;
    k->queue_full_timeout_ms = o->queue_full_timeout_ms > 0 ? o->queue_full_timeout_ms : 30000;
    rd_kafka_conf_set_opaque(conf, &k->log);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    hz_kafka_conf_route_logs(conf);
    char es[512];
    k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, es, sizeof es);
    if (!k->rk) {
        rd_kafka_conf_destroy(conf);
        sink_free(&k->base);
        return hz_err(err, errlen, HZ_EKAFKA, "kafka sink: %s", es);
    }
    struct {
        const char *name;
        rd_kafka_topic_t **t;
    } topics[] = {{o->forecasts_topic, &k->t_fc},
                  {o->anomalies_topic, &k->t_an},
                  {o->dead_topic, &k->t_dead},
                  {o->readings_topic, &k->t_rd},
                  {o->appliances_topic, &k->t_ap}};
    for (size_t i = 0; i < sizeof topics / sizeof *topics; i++) {
        if (!topics[i].name || !*topics[i].name)
            continue;
        *topics[i].t = rd_kafka_topic_new(k->rk, topics[i].name, NULL);
        if (!*topics[i].t) {
            rc = hz_err(err, errlen, HZ_EKAFKA, "kafka sink: topic %s: %s", topics[i].name,
                        rd_kafka_err2str(rd_kafka_last_error()));
            sink_free(&k->base);
            return rc;
        }
    }
    *out = &k->base;
    return 0;
}
