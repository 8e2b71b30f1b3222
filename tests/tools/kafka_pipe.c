/* kafka_pipe.c — drives kafka_source (and optionally kafka_sink) from the command line for
 * the Kafka script tests: consumes N records from a topic, prints one line per record,
 * writes a forecast per reading and the dead letters to output topics, flushes, acks the
 * first A records, then exits — or kills itself with SIGKILL, as a crash would.
 *
 *   kafka_pipe -b BOOT -t TOPIC -g GROUP -n N [-a A] [-k] [-o FORECAST_TOPIC]
 *              [-d DEAD_TOPIC] [-T TIMEOUT_MS] [-X key=value ...]
 *
 * Output lines: "R <partition> <offset> <series> <ts_ms> <value>" for a reading and
 * "D <origin> <reason>" for a dead letter.  Exit 0 when N records were seen, 3 on timeout. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "connectors/kafka_sink.h"
#include "connectors/kafka_source.h"

#define MAXX 32

int main(int argc, char **argv)
{
    const char *boot = NULL, *topic = NULL, *group = NULL, *fc_topic = NULL, *dead_topic = NULL;
    long n = 0, acks = -1, timeout_ms = 20000;
    int kill_self = 0, opt;
    hz_kv extra[MAXX];
    size_t nextra = 0;
    while ((opt = getopt(argc, argv, "b:t:g:n:a:ko:d:T:X:")) != -1) {
        switch (opt) {
        case 'b':
            boot = optarg;
            break;
        case 't':
            topic = optarg;
            break;
        case 'g':
            group = optarg;
            break;
        case 'n':
            n = atol(optarg);
            break;
        case 'a':
            acks = atol(optarg);
            break;
        case 'k':
            kill_self = 1;
            break;
        case 'o':
            fc_topic = optarg;
            break;
        case 'd':
            dead_topic = optarg;
            break;
        case 'T':
            timeout_ms = atol(optarg);
            break;
        case 'X': {
            char *eq = strchr(optarg, '=');
            if (!eq || nextra + 1 >= MAXX) {
                fprintf(stderr, "kafka_pipe: -X expects key=value\n");
                return 2;
            }
            *eq = 0;
            extra[nextra++] = (hz_kv){optarg, eq + 1};
            break;
        }
        default:
            fprintf(stderr, "kafka_pipe: bad arguments\n");
            return 2;
        }
    }
    if (!boot || !topic || !group || n <= 0) {
        fprintf(stderr, "usage: kafka_pipe -b BOOT -t TOPIC -g GROUP -n N [-a A] [-k] ...\n");
        return 2;
    }
    hz_kv props[MAXX + 8];
    size_t np = 0;
    props[np++] = (hz_kv){"bootstrap.servers", boot};
    props[np++] = (hz_kv){"group.id", group};
    props[np++] = (hz_kv){"session.timeout.ms", "3000"};
    props[np++] = (hz_kv){"heartbeat.interval.ms", "300"};
    props[np++] = (hz_kv){"max.poll.interval.ms", "3000"};
    props[np++] = (hz_kv){"fetch.wait.max.ms", "50"};
    props[np++] = (hz_kv){"topic.metadata.refresh.interval.ms", "1000"};
    for (size_t i = 0; i < nextra; i++)
        props[np++] = extra[i];
    static const char *const vars[] = {"power"};
    hz_kafka_source_opts so = {topic, props, np, {"series", "ts", HZ_TIME_AUTO, vars, 1, 0, 0},
                               0,     NULL};
    char err[HZ_ERRLEN];
    hz_source *src;
    if (hz_kafka_source_new(&so, &src, err, sizeof err)) {
        fprintf(stderr, "kafka_pipe: %s\n", err);
        return 1;
    }
    hz_sink *sink = NULL;
    if (fc_topic || dead_topic) {
        hz_kv sp[] = {{"bootstrap.servers", boot}, {"linger.ms", "5"}};
        hz_kafka_sink_opts ko = {sp, 2, fc_topic, NULL, dead_topic, NULL, 0, NULL, NULL};
        if (hz_kafka_sink_new(&ko, &sink, err, sizeof err)) {
            fprintf(stderr, "kafka_pipe: %s\n", err);
            src->ops->free(src);
            return 1;
        }
    }
    long seen = 0, acked = 0;
    int rc = 0;
    int64_t deadline = hz_mono_ns() + (int64_t)timeout_ms * 1000000;
    while (seen < n) {
        if (hz_mono_ns() > deadline) {
            fprintf(stderr, "kafka_pipe: timeout after %ld of %ld records\n", seen, n);
            rc = 3;
            break;
        }
        hz_batch b;
        int got = src->ops->poll(src, &b, (size_t)(n - seen), 200, err, sizeof err);
        if (got < 0) {
            fprintf(stderr, "kafka_pipe: %s\n", err);
            rc = 1;
            break;
        }
        if (got == 0)
            continue;
        /* records in offset order per partition: readings and dead letters merged */
        for (size_t i = 0; i < b.n_readings; i++)
            printf("R %d %lld %s %lld %.17g\n", (int)b.readings[i].pos.partition,
                   (long long)b.readings[i].pos.offset, b.readings[i].series,
                   (long long)b.readings[i].ts_ms, b.readings[i].values[0]);
        for (size_t i = 0; i < b.n_dead; i++)
            printf("D %s %s\n", b.dead[i].origin, b.dead[i].reason);
        fflush(stdout);
        if (sink) {
            for (size_t i = 0; i < b.n_readings; i++) {
                const hz_reading *r = &b.readings[i];
                hz_forecast f = {.pipeline = "test",
                                 .series = r->series,
                                 .variable = "power",
                                 .issued_ts = r->ts_ms,
                                 .target_ts = r->ts_ms + 900000,
                                 .step = 1,
                                 .value = r->values[0] * 2,
                                 .lower = r->values[0],
                                 .upper = r->values[0] * 3,
                                 .model_id = "echo"};
                if (sink->ops->write_forecasts(sink, &f, 1, err, sizeof err))
                    goto sink_fail;
            }
            if (sink->ops->write_dead(sink, "test", b.dead, b.n_dead, err, sizeof err) ||
                sink->ops->flush(sink, 10000, err, sizeof err))
                goto sink_fail;
        }
        /* ack the positions of the first `acks` records overall (one partition: offsets) */
        hz_pos best[64];
        int nbest = 0;
        for (int pass = 0; pass < 2; pass++) {
            size_t cnt = pass ? b.n_dead : b.n_readings;
            for (size_t i = 0; i < cnt; i++) {
                hz_pos p;
                if (pass) {
                    const char *o = b.dead[i].origin, *s2 = strrchr(o, '/'), *s1 = s2;
                    while (s1 > o && s1[-1] != '/')
                        s1--;
                    p = (hz_pos){atoi(s1), atoll(s2 + 1)};
                } else
                    p = b.readings[i].pos;
                if (acks >= 0 && p.offset >= acks)
                    continue;
                int j = 0;
                while (j < nbest && best[j].partition != p.partition)
                    j++;
                if (j == nbest && nbest < 64)
                    best[nbest++] = p;
                else if (j < nbest && p.offset > best[j].offset)
                    best[j] = p;
            }
        }
        for (int j = 0; j < nbest; j++) {
            if (src->ops->ack(src, &best[j], err, sizeof err)) {
                fprintf(stderr, "kafka_pipe: ack: %s\n", err);
                rc = 1;
            }
            acked++;
        }
        seen += got;
        continue;
    sink_fail:
        fprintf(stderr, "kafka_pipe: sink: %s\n", err);
        rc = 1;
        break;
    }
    if (kill_self) {
        fflush(stdout);
        raise(SIGKILL);
    }
    if (sink)
        sink->ops->free(sink);
    src->ops->free(src);
    return rc;
}
