/* test_kafka.c — kafka_source and kafka_sink against librdkafka's mock cluster, run
 * in-process on 127.0.0.1, with kcat as an independent client producing the input and
 * reading the output back:
 *  - a pipeline pass: good readings interleaved with 25 malformed messages; every good one
 *    comes through as a forecast, every bad one as a dead letter with its reason;
 *  - offsets: only acknowledged positions are committed (checked with rd_kafka_committed);
 *  - rebalances: acknowledged offsets are committed before a revoke, and a consumer given a
 *    partition reads its recent past again as history to rebuild windows (eager and
 *    cooperative assignors);
 *  - fault injection: Produce requests fail with retriable errors, the idempotent sink
 *    retries and flush delivers everything exactly once; a permanent error fails flush;
 *  - configuration: unknown properties and overridden must-have properties are refused, also
 *    by the checks that do not connect (an unsupported SASL mechanism included).
 * The SIGKILL restart test is tests/e2e/kafka_offsets.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/kafka_sink.h"
#include "connectors/kafka_source.h"

/* Dead letters are logged at info; keep test output to warnings. */
static const hz_logger QUIET = {NULL, NULL, HZ_LOG_WARN};

#define API_PRODUCE         0 /* Kafka protocol ApiKey of ProduceRequest */
#define REQUEST_TIMEOUT_MS  300
#define REQUEST_TIMEOUT_STR "300"

typedef struct fixture {
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc;
    char boot[256];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    char es[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", es, sizeof es);
    f->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, es, sizeof es);
    assert_non_null(f->rk);
    f->mc = rd_kafka_mock_cluster_new(f->rk, 3);
    assert_non_null(f->mc);
    snprintf(f->boot, sizeof f->boot, "%s", rd_kafka_mock_cluster_bootstraps(f->mc));
    assert_int_equal(rd_kafka_mock_topic_create(f->mc, "readings", 3, 3), 0);
    assert_int_equal(rd_kafka_mock_topic_create(f->mc, "single", 1, 3), 0);
    assert_int_equal(rd_kafka_mock_topic_create(f->mc, "forecasts", 2, 3), 0);
    assert_int_equal(rd_kafka_mock_topic_create(f->mc, "dead", 1, 3), 0);
    assert_int_equal(rd_kafka_mock_topic_create(f->mc, "faulty", 2, 3), 0);
    assert_int_equal(rd_kafka_mock_topic_create(f->mc, "denied", 1, 3), 0);
    assert_int_equal(rd_kafka_mock_topic_create(f->mc, "rebal-eager", 4, 3), 0);
    assert_int_equal(rd_kafka_mock_topic_create(f->mc, "rebal-coop", 4, 3), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    rd_kafka_mock_cluster_destroy(f->mc);
    rd_kafka_destroy(f->rk);
    free(f);
    return 0;
}

/* Produces lines "key:value" with kcat (key optional). */
static void kcat_produce(const fixture *f, const char *topic, const char *data, size_t n)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "kcat -b %s -P -t %s -K: -X message.max.bytes=4000000 -X log_level=3",
             f->boot, topic);
    FILE *p = popen(cmd, "w");
    assert_non_null(p);
    assert_int_equal(fwrite(data, 1, n, p), n);
    assert_int_equal(pclose(p), 0);
}

/* Reads a whole topic with kcat as "key\tvalue" lines; returns a malloc'd buffer. */
static char *kcat_consume(const fixture *f, const char *topic)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "kcat -b %s -C -t %s -e -o beginning -q -f '%%k\\t%%s\\n' -X log_level=3", f->boot,
             topic);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += got;
        if (cap - len < 4096)
            buf = realloc(buf, cap *= 2);
    }
    buf[len] = 0;
    assert_int_equal(pclose(p), 0);
    return buf;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static const hz_kv *consumer_props(const fixture *f, const char *group, size_t *n)
{
    static hz_kv p[6];
    static char boot[256];
    snprintf(boot, sizeof boot, "%s", f->boot);
    p[0] = (hz_kv){"bootstrap.servers", boot};
    p[1] = (hz_kv){"group.id", group};
    p[2] = (hz_kv){"session.timeout.ms", "3000"};
    p[3] = (hz_kv){"heartbeat.interval.ms", "300"};
    p[4] = (hz_kv){"fetch.wait.max.ms", "50"};
    p[5] = (hz_kv){"log_level", "4"};
    *n = 6;
    return p;
}

static const char *const VARS[] = {"power"};

/* The malformed messages (key:value lines), and a word each reason must contain. */
static const struct {
    const char *line, *want;
} BAD[] = {
    {"a:{\"series\":\"a\",", "bad JSON"},
    {"a:hello", "bad JSON"},
    {"a:[1,2]", "expected a JSON object"},
    {"a:{\"series\":\"a\",\"power\":1}", "missing field \"ts\""},
    {":{\"ts\":0,\"power\":1}", "missing field \"series\""},
    {"a:{\"series\":17,\"ts\":0,\"power\":1}", "expected a string"},
    {"a:{\"series\":\"a\",\"ts\":true,\"power\":1}", "got a boolean"},
    {"a:{\"series\":\"a\",\"ts\":0,\"power\":\"1.2\"}", "expected a number"},
    {"a:{\"series\":\"a\",\"ts\":0,\"power\":1e301}", "does not fit float32"},
    {"a:{\"series\":\"a\",\"ts\":0,\"power\":1e39}", "value 1e+39 does not fit float32"},
    {"a:{\"series\":\"a\",\"ts\":0,\"power\":1e400}", "number out of range"},
    {"a:{\"series\":\"a\",\"ts\":0,\"power\":NaN}", "NaN/Infinity"},
    {"a:{\"series\":\"a\",\"ts\":0,\"power\":-Infinity}", "NaN/Infinity"},
    {"a:{\"series\":\"a\",\"ts\":\"1969-12-31T23:00:00Z\",\"power\":1}", "year 1969"},
    {"a:{\"series\":\"a\",\"ts\":\"2300-01-01T00:00:00Z\",\"power\":1}", "outside 1970..2200"},
    {"a:{\"series\":\"a\",\"ts\":-5,\"power\":1}", "outside 1970-01-01..2200-12-31"},
    {"a:{\"series\":\"a\",\"ts\":\"yesterday\",\"power\":1}", "not an ISO 8601"},
    {"a:{\"series\":\"a\",\"ts\":\"2026-02-30T00:00:00Z\",\"power\":1}", "does not exist"},
    {"a:{\"series\":\"a\xff\",\"ts\":0,\"power\":1}", "invalid UTF-8"},
    {"a:", "empty message"},
    {"a:{\"series\":\"\",\"ts\":0,\"power\":1}", "series id is empty"},
    {"a:{\"series\":\"a\\u0007\",\"ts\":0,\"power\":1}", "control character"},
    {"a:{\"series\":\"a\",\"ts\":0,\"volts\":1}", "none of the 1 value fields"},
    {"a:{\"series\":\"a\",\"ts\":0,\"power\":1,\"power\":2}", "duplicate key"},
    {"a:{\"series\":\"a\",\"ts\":0,\"power\":123456789012345678901234567890}", "out of range"},
};
#define NBAD  (sizeof BAD / sizeof BAD[0])
#define NGOOD 60

static void test_pipeline_readings_to_forecasts_and_dead_letters(void **state)
{
    fixture *f = *state;
    /* input: good readings interleaved with the malformed ones, plus a 1 MB value */
    size_t cap = 4 << 20, len = 0;
    char *in = malloc(cap);
    size_t nbad = 0;
    for (int i = 0; i < NGOOD; i++) {
        len += (size_t)snprintf(in + len, cap - len,
                                "m%d:{\"series\":\"m%d\",\"ts\":\"2026-11-22T10:%02d:00Z\","
                                "\"power\":%d.5}\n",
                                i % 7, i % 7, i % 60, i);
        if (i % 2 == 0 && nbad < NBAD)
            len += (size_t)snprintf(in + len, cap - len, "%s\n", BAD[nbad++].line);
    }
    assert_int_equal(nbad, NBAD);
    len += (size_t)snprintf(in + len, cap - len, "big:{\"series\":\"big\",\"pad\":\"");
    memset(in + len, 'x', 1 << 20);
    len += 1 << 20;
    len += (size_t)snprintf(in + len, cap - len, "\",\"ts\":0,\"power\":1}\n");
    kcat_produce(f, "readings", in, len);
    free(in);
    const size_t total = NGOOD + NBAD + 1;

    size_t np;
    const hz_kv *props = consumer_props(f, "pipe", &np);
    hz_kafka_source_opts so = {"readings", props, np, {"series", "ts", HZ_TIME_AUTO, VARS, 1, 0, 0},
                               0,          &QUIET};
    hz_kv sp[] = {{"bootstrap.servers", f->boot}, {"linger.ms", "5"}, {"log_level", "4"}};
    hz_kafka_sink_opts ko = {sp, 3, "forecasts", NULL, "dead", NULL, 0, &QUIET, NULL};
    char err[HZ_ERRLEN];
    hz_source *src;
    hz_sink *sink;
    if (hz_kafka_source_new(&so, &src, err, sizeof err))
        fail_msg("%s", err);
    if (hz_kafka_sink_new(&ko, &sink, err, sizeof err))
        fail_msg("%s", err);

    size_t seen = 0, nread = 0, ndead = 0;
    double sum = 0;
    int64_t max_lag = -1;
    int64_t deadline = hz_mono_ns() + 30LL * 1000000000;
    while (seen < total && hz_mono_ns() < deadline) {
        hz_batch b;
        int got = src->ops->poll(src, &b, 16, 200, err, sizeof err);
        assert_true(got >= 0);
        if (got == 0)
            continue;
        int64_t lag = hz_kafka_source_lag(src); /* what this consumer has yet to read */
        assert_true(lag <= (int64_t)(total - seen - (size_t)got));
        if (lag > max_lag)
            max_lag = lag;
        assert_int_equal((size_t)got, b.n_readings + b.n_dead);
        hz_forecast fc[16];
        for (size_t i = 0; i < b.n_readings; i++) {
            const hz_reading *r = &b.readings[i];
            assert_int_equal(r->series[0], 'm');
            sum += r->values[0];
            fc[i] = (hz_forecast){"p",
                                  r->series,
                                  "power",
                                  r->ts_ms,
                                  r->ts_ms + 900000,
                                  1,
                                  r->values[0] * 2,
                                  NAN,
                                  NAN,
                                  "echo",
                                  0,
                                  NULL,
                                  {0},
                                  {0}};
        }
        for (size_t i = 0; i < b.n_dead; i++) {
            assert_non_null(strstr(b.dead[i].origin, "readings/"));
            assert_true(strlen(b.dead[i].reason) > 5);
            assert_true(b.dead[i].payload_len <= HZ_JSON_MAX_MESSAGE_DEFAULT);
        }
        assert_int_equal(sink->ops->write_forecasts(sink, fc, b.n_readings, err, sizeof err), 0);
        assert_int_equal(sink->ops->write_dead(sink, "p", b.dead, b.n_dead, err, sizeof err), 0);
        if (sink->ops->flush(sink, 10000, err, sizeof err))
            fail_msg("flush: %s", err);
        const hz_pos *pos;
        size_t npos = hz_kafka_source_batch_positions(src, &pos);
        assert_true(npos >= 1 && npos <= 3);
        assert_int_equal(b.n_positions, npos); /* the batch reports the same positions */
        assert_ptr_equal(b.positions, pos);
        for (size_t i = 0; i < b.n_dead; i++) { /* origin and position name the same offset */
            char o[128];
            snprintf(o, sizeof o, "/%d/%lld", (int)b.dead[i].pos.partition,
                     (long long)b.dead[i].pos.offset);
            assert_non_null(strstr(b.dead[i].origin, o));
        }
        for (size_t i = 0; i < npos; i++)
            if (src->ops->ack(src, &pos[i], err, sizeof err))
                fail_msg("ack: %s", err);
        seen += (size_t)got;
        nread += b.n_readings;
        ndead += b.n_dead;
    }
    assert_int_equal(nread, NGOOD);
    assert_int_equal(ndead, NBAD + 1);
    assert_true(max_lag > 0);                      /* polled 16 at a time: it was behind */
    assert_int_equal(hz_kafka_source_lag(src), 0); /* and caught up */
    double want = 0;
    for (int i = 0; i < NGOOD; i++)
        want += i + 0.5;
    assert_true(sum == want);
    hz_kafka_sink_stats ks;
    hz_kafka_sink_stats_get(sink, &ks);
    assert_int_equal(ks.delivered, total);
    assert_int_equal(ks.failed, 0);
    sink->ops->free(sink);
    src->ops->free(src);

    /* read the results back with kcat */
    char *fcs = kcat_consume(f, "forecasts");
    assert_int_equal(count_lines(fcs), NGOOD);
    double fsum = 0;
    for (char *line = strtok(fcs, "\n"); line; line = strtok(NULL, "\n")) {
        char *tab = strchr(line, '\t');
        assert_non_null(tab);
        *tab = 0;
        json_error_t je;
        json_t *j = json_loads(tab + 1, 0, &je);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(j, "series")), line); /* key */
        assert_string_equal(json_string_value(json_object_get(j, "type")), "forecast");
        fsum += json_number_value(json_object_get(j, "value"));
        json_decref(j);
    }
    assert_true(fsum == 2 * want);
    free(fcs);

    char *dls = kcat_consume(f, "dead");
    assert_int_equal(count_lines(dls), NBAD + 1);
    size_t matched[NBAD + 1] = {0};
    for (char *line = strtok(dls, "\n"); line; line = strtok(NULL, "\n")) {
        char *tab = strchr(line, '\t');
        assert_non_null(tab);
        json_error_t je;
        json_t *j = json_loads(tab + 1, 0, &je);
        if (!j)
            fail_msg("dead letter is not JSON: %s", je.text);
        const char *reason = json_string_value(json_object_get(j, "reason"));
        assert_non_null(reason);
        assert_non_null(strstr(json_string_value(json_object_get(j, "origin")), "readings/"));
        assert_non_null(json_object_get(j, "payload"));
        for (size_t i = 0; i < NBAD; i++)
            if (strstr(reason, BAD[i].want))
                matched[i]++;
        if (strstr(reason, "exceeds the 65536-byte limit"))
            matched[NBAD]++;
        json_decref(j);
    }
    for (size_t i = 0; i <= NBAD; i++)
        if (!matched[i])
            fail_msg("no dead letter with reason \"%s\"", i < NBAD ? BAD[i].want : "1 MB");
    free(dls);
}

static int64_t committed(const fixture *f, const char *group, const char *topic, int32_t part)
{
    char es[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", f->boot, es, sizeof es);
    rd_kafka_conf_set(c, "group.id", group, es, sizeof es);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, es, sizeof es);
    assert_non_null(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, part);
    assert_int_equal(rd_kafka_committed(rk, l, 10000), 0);
    int64_t off = l->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    return off;
}

static void test_commits_only_acknowledged_offsets(void **state)
{
    fixture *f = *state;
    char in[100 * 80];
    size_t len = 0;
    for (int i = 0; i < 100; i++)
        len += (size_t)snprintf(in + len, sizeof in - len,
                                "s:{\"series\":\"s\",\"ts\":%d,\"power\":%d}\n", 1800000000 + i, i);
    kcat_produce(f, "single", in, len);
    size_t np;
    const hz_kv *props = consumer_props(f, "acks", &np);
    hz_kafka_source_opts so = {
        "single", props, np, {"series", "ts", HZ_TIME_EPOCH_S, VARS, 1, 0, 0}, 0, &QUIET};
    char err[HZ_ERRLEN];
    hz_source *src;
    if (hz_kafka_source_new(&so, &src, err, sizeof err))
        fail_msg("%s", err);
    size_t seen = 0;
    int64_t deadline = hz_mono_ns() + 20LL * 1000000000;
    while (seen < 100 && hz_mono_ns() < deadline) {
        hz_batch b;
        int got = src->ops->poll(src, &b, 100, 200, err, sizeof err);
        assert_true(got >= 0);
        for (size_t i = 0; i < b.n_readings; i++) {
            assert_int_equal(b.readings[i].pos.offset, (int64_t)(seen + i));
            if (b.readings[i].pos.offset == 39)
                assert_int_equal(src->ops->ack(src, &b.readings[i].pos, err, sizeof err), 0);
        }
        seen += (size_t)got;
    }
    assert_int_equal(seen, 100);
    assert_int_equal(committed(f, "acks", "single", 0), 40);
    /* an older position never moves the offset back; an unassigned partition is ignored */
    hz_pos old = {0, 10}, other = {7, 99};
    assert_int_equal(src->ops->ack(src, &old, err, sizeof err), 0);
    assert_int_equal(src->ops->ack(src, &other, err, sizeof err), 0);
    assert_int_equal(committed(f, "acks", "single", 0), 40);
    hz_kafka_source_stats st;
    hz_kafka_source_stats_get(src, &st);
    assert_int_equal(st.readings, 100);
    assert_int_equal(st.dead, 0);
    src->ops->free(src); /* closing commits nothing beyond what was acknowledged */
    assert_int_equal(committed(f, "acks", "single", 0), 40);
}

/* A reads everything and acknowledges it, but its commits are deferred (long commit
 * interval).  When B joins the group, the revoke callback on A commits what A acknowledged
 * for the partitions it gives up.  Always checked (at-least-once): on every partition B
 * reads, it starts exactly at the committed offset and reads to the end.  With the
 * cooperative assignor the revoke commit must succeed, so B reads nothing again.  With the
 * eager assignor librdkafka's mock broker refuses commits while the group is joining
 * (REBALANCE_IN_PROGRESS; a real broker accepts them from the current generation), so
 * there B may read again what A had acknowledged — duplicates, never loss. */
/* Returns 1 when the commit before revoke went through (then, in strict mode, nothing may
 * be read again), 0 when the mock refused it (rebalance in progress, seen under load). */
static int rebalance_commits_before_revoke(fixture *f, const char *topic, const char *strategy,
                                           int strict)
{
    char in[200 * 80];
    size_t len = 0;
    for (int i = 0; i < 200; i++)
        len += (size_t)snprintf(in + len, sizeof in - len,
                                "s%d:{\"series\":\"s%d\",\"ts\":%d,\"power\":%d}\n", i % 20, i % 20,
                                1800000000 + i, i);
    kcat_produce(f, topic, in, len);
    size_t np;
    const hz_kv *base = consumer_props(f, topic, &np);
    hz_kv props[8];
    memcpy(props, base, np * sizeof *props);
    props[np++] = (hz_kv){"partition.assignment.strategy", strategy};
    hz_kafka_source_opts so = {topic,  props, np, {"series", "ts", HZ_TIME_EPOCH_S, VARS, 1, 0, 0},
                               600000, &QUIET};
    char err[HZ_ERRLEN];
    hz_source *a, *b;
    if (hz_kafka_source_new(&so, &a, err, sizeof err))
        fail_msg("%s", err);
    size_t seen = 0;
    int64_t hwm[4] = {0, 0, 0, 0};
    int64_t deadline = hz_mono_ns() + 20LL * 1000000000;
    while (seen < 200 && hz_mono_ns() < deadline) {
        hz_batch bt;
        int got = a->ops->poll(a, &bt, 64, 100, err, sizeof err);
        assert_true(got >= 0);
        for (size_t i = 0; i < bt.n_readings; i++)
            hwm[bt.readings[i].pos.partition] = bt.readings[i].pos.offset + 1;
        const hz_pos *pos;
        size_t npos = hz_kafka_source_batch_positions(a, &pos);
        for (size_t i = 0; i < npos; i++)
            assert_int_equal(a->ops->ack(a, &pos[i], err, sizeof err), 0);
        seen += (size_t)got;
    }
    assert_int_equal(seen, 200);
    assert_int_equal(hwm[0] + hwm[1] + hwm[2] + hwm[3], 200);
    hz_kafka_source_stats sa, sb;
    hz_kafka_source_stats_get(a, &sa);
    assert_int_equal(sa.assigned, 4);
    uint64_t commits_before = sa.commits;

    if (hz_kafka_source_new(&so, &b, err, sizeof err))
        fail_msg("%s", err);
    /* after B joins: who reads what again, per partition */
    size_t b_read = 0, a_read = 0;
    /* distinct offsets read again per partition: an eager rebalance may run in more than one
     * round under load, and then both consumers can re-read the same uncommitted range */
    int64_t first[4] = {-1, -1, -1, -1}, count[4] = {0, 0, 0, 0}, last[4] = {-1, -1, -1, -1};
    int64_t settled = 0;
    static unsigned char again[4][1024];
    memset(again, 0, sizeof again);
    deadline = hz_mono_ns() + 20LL * 1000000000;
    while (hz_mono_ns() < deadline) {
        for (int who = 0; who < 2; who++) {
            hz_source *c = who ? b : a;
            hz_batch bt;
            int got = c->ops->poll(c, &bt, 64, 50, err, sizeof err);
            assert_true(got >= 0);
            for (size_t i = 0; i < bt.n_readings; i++) {
                int32_t p = bt.readings[i].pos.partition;
                int64_t o = bt.readings[i].pos.offset;
                if (first[p] < 0 || o < first[p])
                    first[p] = o;
                if (o > last[p])
                    last[p] = o;
                if (o >= 0 && o < 1024 && !again[p][o]) {
                    again[p][o] = 1;
                    count[p]++;
                }
            }
            *(who ? &b_read : &a_read) += (size_t)got;
        }
        hz_kafka_source_stats_get(a, &sa);
        hz_kafka_source_stats_get(b, &sb);
        if (!settled && sb.assigned > 0 && sa.assigned + sb.assigned == 4)
            settled = hz_mono_ns();
        if (settled && hz_mono_ns() - settled > 1000000000LL) /* then 1 s of quiet */
            break;
    }
    assert_true(settled != 0);
    /* nothing acks after the rebalance, so the committed offsets are final here: whatever
     * is read again starts exactly at the committed offset and runs to the end */
    for (int32_t p = 0; p < 4; p++) {
        if (first[p] < 0)
            continue;
        int64_t c = committed(f, topic, topic, p), start = c < 0 ? 0 : c;
        if (first[p] != start || first[p] + count[p] != hwm[p] || last[p] != hwm[p] - 1)
            fail_msg("partition %d: read again [%lld, %lld), committed %lld, end %lld", (int)p,
                     (long long)first[p], (long long)(first[p] + count[p]), (long long)c,
                     (long long)hwm[p]);
    }
    int committed_before_revoke = sa.commits > commits_before;
    if (strict && committed_before_revoke)
        assert_int_equal(a_read + b_read, 0);
    b->ops->free(b);
    a->ops->free(a);
    return committed_before_revoke;
}

static void test_rebalance_commits_acked_offsets_eager(void **state)
{
    rebalance_commits_before_revoke(*state, "rebal-eager", "range", 0);
}

static void test_rebalance_commits_acked_offsets_cooperative(void **state)
{
    /* librdkafka's mock refuses commits while a group rebalances; with the cooperative
     * assignor the commit before revoke normally lands, but on a loaded machine the timing
     * can still hit the window.  Up to three fresh topics; at least one must commit. */
    const char *topics[3] = {"rebal-coop", "rebal-coop2", "rebal-coop3"};
    int ok = 0;
    for (int i = 0; i < 3 && !ok; i++)
        ok = rebalance_commits_before_revoke(*state, topics[i], "cooperative-sticky", 1);
    assert_true(ok);
}

/* Per partition, what one consumer saw after the rebalance: history offsets (distinct),
 * rebuilt events and readings. */
typedef struct seen_part {
    int64_t first, last, count, rebuilt, readings;
    unsigned char off[256];
} seen_part;

static void note_batch(hz_source *c, const hz_batch *bt, seen_part *sp)
{
    for (size_t i = 0; i < bt->n_history; i++) {
        seen_part *e = &sp[bt->history[i].pos.partition];
        int64_t o = bt->history[i].pos.offset;
        assert_true(o >= 0 && o < 256);
        if (e->first < 0 || o < e->first)
            e->first = o;
        if (o > e->last)
            e->last = o;
        e->count += !e->off[o];
        e->off[o] = 1;
    }
    for (size_t i = 0; i < bt->n_rebuilt; i++)
        sp[bt->rebuilt[i]].rebuilt++;
    for (size_t i = 0; i < bt->n_readings; i++)
        sp[bt->readings[i].pos.partition].readings++;
    /* positions cover readings and dead letters only, never history */
    const hz_pos *pos;
    size_t npos = hz_kafka_source_batch_positions(c, &pos);
    assert_true(npos <= bt->n_readings + bt->n_dead);
}

/* A reads 200 readings of 20 series over 4 partitions and acknowledges them (committed at
 * once).  B joins with the rebuild on (at most 30 messages per partition, by count): for
 * each partition B is given it reads offsets [max(0, end - 30), end) again as history
 * (never as readings, never in positions), then reports the partition rebuilt once; A
 * reads nothing again (it holds its partitions up to their committed offsets).  Messages
 * produced afterwards are readings. */
static void rebuild_after_rebalance(fixture *f, const char *topic, const char *strategy)
{
    assert_int_equal(rd_kafka_mock_topic_create(f->mc, topic, 4, 3), 0);
    char in[200 * 80];
    size_t len = 0;
    for (int i = 0; i < 200; i++)
        len += (size_t)snprintf(in + len, sizeof in - len,
                                "s%d:{\"series\":\"s%d\",\"ts\":%d,\"power\":%d}\n", i % 20, i % 20,
                                1800000000 + i, i);
    kcat_produce(f, topic, in, len);
    size_t np;
    const hz_kv *base = consumer_props(f, topic, &np);
    hz_kv props[8];
    memcpy(props, base, np * sizeof *props);
    props[np++] = (hz_kv){"partition.assignment.strategy", strategy};
    hz_kafka_source_opts so = {topic, props, np, {"series", "ts", HZ_TIME_EPOCH_S, VARS, 1, 0, 0},
                               0,     &QUIET};
    hz_kafka_rebuild rb = {0, 30};
    char err[HZ_ERRLEN];
    hz_source *a, *b;
    assert_int_equal(hz_kafka_source_new(&so, &a, err, sizeof err), 0);
    hz_kafka_source_set_rebuild(a, &rb);
    size_t seen = 0;
    int64_t end[4] = {0, 0, 0, 0};
    int64_t deadline = hz_mono_ns() + 20LL * 1000000000;
    while (seen < 200 && hz_mono_ns() < deadline) {
        hz_batch bt;
        int got = a->ops->poll(a, &bt, 64, 100, err, sizeof err);
        assert_true(got >= 0);
        assert_int_equal(bt.n_history, 0); /* nothing committed yet: nothing to rebuild */
        for (size_t i = 0; i < bt.n_readings; i++)
            end[bt.readings[i].pos.partition] = bt.readings[i].pos.offset + 1;
        const hz_pos *pos;
        size_t npos = hz_kafka_source_batch_positions(a, &pos);
        for (size_t i = 0; i < npos; i++)
            assert_int_equal(a->ops->ack(a, &pos[i], err, sizeof err), 0);
        seen += (size_t)got;
    }
    assert_int_equal(seen, 200);
    for (int32_t p = 0; p < 4; p++)
        assert_int_equal(committed(f, topic, topic, p), end[p]);

    assert_int_equal(hz_kafka_source_new(&so, &b, err, sizeof err), 0);
    hz_kafka_source_set_rebuild(b, &rb);
    static seen_part sp[2][4];
    memset(sp, 0, sizeof sp);
    for (int w = 0; w < 2; w++)
        for (int p = 0; p < 4; p++)
            sp[w][p].first = sp[w][p].last = -1;
    hz_kafka_source_stats sa, sb;
    int64_t settled = 0;
    deadline =
        hz_mono_ns() +
        45LL * 1000000000; /* a cooperative rebalance with a rebuild can take long on a busy host */
    while (hz_mono_ns() < deadline) {
        for (int who = 0; who < 2; who++) {
            hz_source *c = who ? b : a;
            hz_batch bt;
            assert_true(c->ops->poll(c, &bt, 64, 50, err, sizeof err) >= 0);
            note_batch(c, &bt, sp[who]);
        }
        hz_kafka_source_stats_get(a, &sa);
        hz_kafka_source_stats_get(b, &sb);
        int64_t rebuilt = 0;
        for (int p = 0; p < 4; p++)
            rebuilt += sp[1][p].rebuilt;
        if (!settled && sb.assigned > 0 && sa.assigned + sb.assigned == 4 && rebuilt >= sb.assigned)
            settled = hz_mono_ns();
        if (settled && hz_mono_ns() - settled > 1000000000LL) /* then 1 s of quiet */
            break;
    }
    assert_true(settled != 0);
    int moved = 0;
    for (int p = 0; p < 4; p++) {
        const seen_part *e = &sp[1][p];
        assert_int_equal(sp[0][p].count + sp[0][p].readings + e->readings, 0);
        if (!e->rebuilt)
            continue;
        moved++;
        int64_t want = end[p] < 30 ? end[p] : 30;
        if (e->rebuilt != 1 || e->count != want || e->first != end[p] - want ||
            e->last != end[p] - 1)
            fail_msg("partition %d: history [%lld, %lld] (%lld), rebuilt %lld; end %lld", p,
                     (long long)e->first, (long long)e->last, (long long)e->count,
                     (long long)e->rebuilt, (long long)end[p]);
    }
    assert_int_equal(moved, sb.assigned);
    int64_t hist = 0;
    for (int p = 0; p < 4; p++)
        hist += sp[1][p].count;
    assert_int_equal(sb.history, hist);
    assert_int_equal(sb.history_dead, 0);

    /* new messages are readings wherever they land */
    len = 0;
    for (int i = 0; i < 20; i++)
        len += (size_t)snprintf(in + len, sizeof in - len,
                                "s%d:{\"series\":\"s%d\",\"ts\":%d,\"power\":%d}\n", i, i,
                                1800000200 + i, i);
    kcat_produce(f, topic, in, len);
    size_t fresh = 0;
    deadline = hz_mono_ns() + 20LL * 1000000000;
    while (fresh < 20 && hz_mono_ns() < deadline)
        for (int who = 0; who < 2; who++) {
            hz_source *c = who ? b : a;
            hz_batch bt;
            assert_true(c->ops->poll(c, &bt, 64, 50, err, sizeof err) >= 0);
            assert_int_equal(bt.n_history, 0);
            fresh += bt.n_readings;
        }
    assert_int_equal(fresh, 20);
    b->ops->free(b);
    a->ops->free(a);
}

static void test_rebuild_after_rebalance_eager(void **state)
{
    rebuild_after_rebalance(*state, "rebuild-eager", "range");
}

static void test_rebuild_after_rebalance_cooperative(void **state)
{
    rebuild_after_rebalance(*state, "rebuild-coop", "cooperative-sticky");
}

static void write_numbered(hz_sink *sink, int from, int to)
{
    char err[HZ_ERRLEN], series[32];
    for (int i = from; i < to; i++) {
        snprintf(series, sizeof series, "s%d", i % 5);
        hz_forecast fc = {"p", series, "power", 0, 1000LL * i, i,   (double)i,
                          NAN, NAN,    "m",     0, NULL,       {0}, {0}};
        if (sink->ops->write_forecasts(sink, &fc, 1, err, sizeof err))
            fail_msg("%s", err);
    }
}

static void test_sink_retries_injected_produce_errors(void **state)
{
    fixture *f = *state;
    hz_kv sp[] = {{"bootstrap.servers", f->boot}, {"linger.ms", "2"},
                  {"retry.backoff.ms", "20"},     {"request.timeout.ms", REQUEST_TIMEOUT_STR},
                  {"batch.num.messages", "10"},   {"log_level", "3"}};
    hz_kafka_sink_opts ko = {sp, 6, "faulty", NULL, NULL, NULL, 0, &QUIET, NULL};
    char err[HZ_ERRLEN];
    hz_sink *sink;
    if (hz_kafka_sink_new(&ko, &sink, err, sizeof err))
        fail_msg("%s", err);
    write_numbered(sink, 0, 20); /* warm up: producer id, metadata */
    assert_int_equal(sink->ops->flush(sink, 10000, err, sizeof err), 0);
    /* cluster-wide retriable errors, then per broker: more errors and one Produce that is
     * appended but answered after the request timeout (the client retries it; idempotence
     * must drop the duplicate) */
    rd_kafka_mock_push_request_errors(
        f->mc, API_PRODUCE, 4, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
        RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
        RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE);
    for (int32_t b = 1; b <= 3; b++)
        assert_int_equal(rd_kafka_mock_broker_push_request_error_rtts(
                             f->mc, b, API_PRODUCE, 3,
                             RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND, 0,
                             RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, 0, RD_KAFKA_RESP_ERR_NO_ERROR,
                             REQUEST_TIMEOUT_MS * 3),
                         0);
    write_numbered(sink, 20, 200);
    if (sink->ops->flush(sink, 15000, err, sizeof err))
        fail_msg("flush: %s", err);
    size_t left = 0;
    for (int32_t b = 1; b <= 3; b++) {
        size_t cnt;
        assert_int_equal(rd_kafka_mock_broker_error_stack_cnt(f->mc, b, API_PRODUCE, &cnt), 0);
        left += cnt;
    }
    assert_true(left <= 6); /* the partition leaders' stacks were consumed: faults happened */
    hz_kafka_sink_stats ks;
    hz_kafka_sink_stats_get(sink, &ks);
    assert_int_equal(ks.queued, 200);
    assert_int_equal(ks.delivered, 200);
    assert_int_equal(ks.failed, 0);
    sink->ops->free(sink);

    /* every forecast exactly once */
    char *out = kcat_consume(f, "faulty");
    assert_int_equal(count_lines(out), 200);
    int seen[200] = {0};
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        json_error_t je;
        json_t *j = json_loads(strchr(line, '\t') + 1, 0, &je);
        assert_non_null(j);
        json_int_t step = json_integer_value(json_object_get(j, "step"));
        assert_true(step >= 0 && step < 200);
        seen[step]++;
        json_decref(j);
    }
    for (int i = 0; i < 200; i++)
        if (seen[i] != 1)
            fail_msg("forecast %d delivered %d times", i, seen[i]);
    free(out);
}

static void test_sink_waits_out_a_full_queue(void **state)
{
    fixture *f = *state;
    hz_kv sp[] = {{"bootstrap.servers", f->boot},
                  {"queue.buffering.max.messages", "5"},
                  {"linger.ms", "1"},
                  {"log_level", "3"}};
    hz_kafka_sink_opts ko = {sp, 4, "faulty", NULL, NULL, NULL, 0, &QUIET, NULL};
    char err[HZ_ERRLEN];
    hz_sink *sink;
    if (hz_kafka_sink_new(&ko, &sink, err, sizeof err))
        fail_msg("%s", err);
    hz_forecast fc[300];
    for (int i = 0; i < 300; i++)
        fc[i] =
            (hz_forecast){"p", "q", "power", 0, i, i, (double)i, NAN, NAN, "m", 0, NULL, {0}, {0}};
    if (sink->ops->write_forecasts(sink, fc, 300, err, sizeof err))
        fail_msg("%s", err);
    assert_int_equal(sink->ops->flush(sink, 10000, err, sizeof err), 0);
    hz_kafka_sink_stats ks;
    hz_kafka_sink_stats_get(sink, &ks);
    assert_int_equal(ks.delivered, 300);
    assert_true(ks.queue_full_retries > 0);
    sink->ops->free(sink);
}

static void test_sink_flush_reports_permanent_failure(void **state)
{
    fixture *f = *state;
    hz_kv sp[] = {{"bootstrap.servers", f->boot},
                  {"linger.ms", "2"},
                  {"message.timeout.ms", "1500"},
                  {"log_level", "0"}};
    hz_kafka_sink_opts ko = {sp, 4, "denied", NULL, NULL, NULL, 0, &QUIET, NULL};
    char err[HZ_ERRLEN];
    hz_sink *sink;
    /* set before the producer exists, so no metadata it caches predates the error */
    rd_kafka_mock_topic_set_error(f->mc, "denied", RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    if (hz_kafka_sink_new(&ko, &sink, err, sizeof err))
        fail_msg("%s", err);
    write_numbered(sink, 0, 5);
    int rc = sink->ops->flush(sink, 5000, err, sizeof err);
    assert_int_equal(rc, HZ_EKAFKA);
    assert_true(strlen(err) > 10);
    hz_kafka_sink_stats ks;
    hz_kafka_sink_stats_get(sink, &ks);
    assert_int_equal(ks.delivered, 0);
    rd_kafka_mock_topic_set_error(f->mc, "denied", RD_KAFKA_RESP_ERR_NO_ERROR);
    sink->ops->free(sink);
}

static void test_config_errors_name_the_property(void **state)
{
    fixture *f = *state;
    char err[HZ_ERRLEN];
    hz_sink *sink;
    hz_kv bad[] = {{"bootstrap.servers", f->boot}, {"no.such.property", "1"}};
    hz_kafka_sink_opts ko = {bad, 2, "x", NULL, NULL, NULL, 0, &QUIET, NULL};
    assert_int_equal(hz_kafka_sink_new(&ko, &sink, err, sizeof err), HZ_EINVAL);
    assert_non_null(strstr(err, "no.such.property"));
    assert_null(sink);
    hz_kv weak[] = {{"bootstrap.servers", f->boot}, {"acks", "1"}};
    ko.props = weak;
    assert_int_equal(hz_kafka_sink_new(&ko, &sink, err, sizeof err), HZ_EINVAL);
    assert_non_null(strstr(err, "\"acks\" must be \"all\""));

    hz_source *src;
    hz_kv nogroup[] = {{"bootstrap.servers", f->boot}};
    hz_kafka_source_opts so = {
        "readings", nogroup, 1, {"series", "ts", HZ_TIME_AUTO, VARS, 1, 0, 0}, 0, &QUIET};
    assert_int_equal(hz_kafka_source_new(&so, &src, err, sizeof err), HZ_EINVAL);
    assert_non_null(strstr(err, "group.id"));
    hz_kv autoc[] = {
        {"bootstrap.servers", f->boot}, {"group.id", "g"}, {"enable.auto.commit", "true"}};
    so.props = autoc;
    so.nprops = 3;
    assert_int_equal(hz_kafka_source_new(&so, &src, err, sizeof err), HZ_EINVAL);
    assert_non_null(strstr(err, "enable.auto.commit"));
    hz_kv badval[] = {
        {"bootstrap.servers", f->boot}, {"group.id", "g"}, {"session.timeout.ms", "soon"}};
    so.props = badval;
    assert_int_equal(hz_kafka_source_new(&so, &src, err, sizeof err), HZ_EINVAL);
    assert_non_null(strstr(err, "session.timeout.ms"));
}

/* The checks horizond --check, start and SIGHUP run (connectors/factory.c): what
 * rd_kafka_conf_set lets through but rd_kafka_new refuses (an unsupported SASL mechanism)
 * is caught without connecting; sound properties pass. */
static void test_check_without_connecting(void **state)
{
    fixture *f = *state;
    char err[HZ_ERRLEN];
    hz_kv ok[] = {{"bootstrap.servers", f->boot}, {"group.id", "g"}};
    hz_kafka_source_opts so = {"readings", ok,    2, {"series", "ts", HZ_TIME_AUTO, VARS, 1, 0, 0},
                               0,          &QUIET};
    assert_int_equal(hz_kafka_source_check(&so, err, sizeof err), 0);
    hz_kv sasl[] = {{"bootstrap.servers", f->boot},
                    {"group.id", "g"},
                    {"security.protocol", "SASL_PLAINTEXT"},
                    {"sasl.mechanisms", "NOPE"}};
    so.props = sasl;
    so.nprops = 4;
    assert_int_equal(hz_kafka_source_check(&so, err, sizeof err), HZ_EINVAL);
    assert_non_null(strstr(err, "kafka source readings: "));
    assert_non_null(strstr(err, "NOPE"));
    hz_kafka_sink_opts ko = {sasl, 4, "x", NULL, NULL, NULL, 0, &QUIET, NULL};
    assert_int_equal(hz_kafka_sink_check(&ko, err, sizeof err), HZ_EINVAL);
    assert_non_null(strstr(err, "NOPE"));
    hz_kv unknown[] = {{"bootstrap.servers", f->boot}, {"no.such.property", "1"}};
    ko.props = unknown;
    ko.nprops = 2;
    assert_int_equal(hz_kafka_sink_check(&ko, err, sizeof err), HZ_EINVAL);
    assert_non_null(strstr(err, "no.such.property"));
    ko.props = ok;
    ko.nprops = 1;
    assert_int_equal(hz_kafka_sink_check(&ko, err, sizeof err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_errors_name_the_property),
        cmocka_unit_test(test_check_without_connecting),
        cmocka_unit_test(test_pipeline_readings_to_forecasts_and_dead_letters),
        cmocka_unit_test(test_commits_only_acknowledged_offsets),
        cmocka_unit_test(test_rebalance_commits_acked_offsets_eager),
        cmocka_unit_test(test_rebalance_commits_acked_offsets_cooperative),
        cmocka_unit_test(test_rebuild_after_rebalance_eager),
        cmocka_unit_test(test_rebuild_after_rebalance_cooperative),
        cmocka_unit_test(test_sink_retries_injected_produce_errors),
        cmocka_unit_test(test_sink_waits_out_a_full_queue),
        cmocka_unit_test(test_sink_flush_reports_permanent_failure),
    };
    return cmocka_run_group_tests_name("kafka", tests, setup, teardown);
}
