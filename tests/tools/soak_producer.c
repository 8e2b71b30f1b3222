/* soak_producer.c — a steady producer of meter readings for the soak (bench/soak.sh): JSON
 * readings of SERIES series, time-major (every series' point t, then t + 1), at RATE
 * messages a second for SECONDS seconds, to TOPIC, keyed by series.  Point t is dated
 * T0_MS + t * PERIOD_MS; its value is a daily-ish sine per series with a little noise.
 * Every 10 s it prints the messages produced so far and the rate of the last 10 s on
 * stderr; at the end, after a flush, one line on stdout:
 *   produced=N seconds=S rate=R points=P failed=F
 *
 *   soak_producer -b BOOT -t TOPIC -s SERIES -r RATE -d SECONDS -0 T0_MS [-p PERIOD_MS]
 */
#include <librdkafka/rdkafka.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct soak_args {
    const char *boot, *topic;
    long series, rate, seconds;
    long long t0_ms, period_ms;
} soak_args;

static long failed;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err)
        failed++;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_args(int argc, char **argv, soak_args *a)
{
    memset(a, 0, sizeof *a);
    a->period_ms = 60000;
    int opt;
    while ((opt = getopt(argc, argv, "b:t:s:r:d:0:p:")) != -1) {
        switch (opt) {
        case 'b':
            a->boot = optarg;
            break;
        case 't':
            a->topic = optarg;
            break;
        case 's':
            a->series = atol(optarg);
            break;
        case 'r':
            a->rate = atol(optarg);
            break;
        case 'd':
            a->seconds = atol(optarg);
            break;
        case '0':
            a->t0_ms = atoll(optarg);
            break;
        case 'p':
            a->period_ms = atoll(optarg);
            break;
        default:
            return -1;
        }
    }
    if (!a->boot || !a->topic || a->series < 1 || a->rate < 1 || a->seconds < 1 || a->period_ms < 1)
        return -1;
    return 0;
}

static rd_kafka_t *producer(const char *boot)
{
    char es[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", boot, es, sizeof es) ||
        rd_kafka_conf_set(conf, "linger.ms", "5", es, sizeof es) ||
        rd_kafka_conf_set(conf, "queue.buffering.max.messages", "1000000", es, sizeof es)) {
        fprintf(stderr, "soak_producer: %s\n", es);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, es, sizeof es);
    if (!rk)
        fprintf(stderr, "soak_producer: %s\n", es);
    return rk;
}

/* message number i: series i % series at point i / series */
static int produce_one(rd_kafka_t *rk, const soak_args *a, long long i)
{
    long s = (long)(i % a->series);
    long long t = i / a->series;
    double v = 10 + 5 * sin(6.2831853 * (double)t / 96 + (double)s / 100) +
               0.3 * sin((double)t * 1.7 + (double)s);
    char key[32], val[160];
    int kl = snprintf(key, sizeof key, "m%ld", s);
    int vl = snprintf(val, sizeof val, "{\"series\":\"m%ld\",\"ts\":%lld,\"power\":%.4f}", s,
                      a->t0_ms + t * a->period_ms, v);
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(a->topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY(key, (size_t)kl), RD_KAFKA_V_VALUE(val, (size_t)vl), RD_KAFKA_V_END);
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            return e ? -1 : 0;
        rd_kafka_poll(rk, 10);
    }
}

int main(int argc, char **argv)
{
    soak_args a;
    if (parse_args(argc, argv, &a)) {
        fprintf(stderr,
                "usage: %s -b BOOT -t TOPIC -s SERIES -r RATE -d SECONDS -0 T0_MS "
                "[-p PERIOD_MS]\n",
                argv[0]);
        return 2;
    }
    rd_kafka_t *rk = producer(a.boot);
    if (!rk)
        return 1;
    double start = now_s(), last_report = start;
    long long sent = 0, at_report = 0;
    for (;;) {
        double el = now_s() - start;
        if (el >= (double)a.seconds)
            break;
        long long due = (long long)(el * (double)a.rate);
        for (; sent < due; sent++)
            if (produce_one(rk, &a, sent)) {
                fprintf(stderr, "soak_producer: %s\n", rd_kafka_err2str(rd_kafka_last_error()));
                rd_kafka_destroy(rk);
                return 1;
            }
        rd_kafka_poll(rk, 0);
        if (now_s() - last_report >= 10) {
            double t = now_s();
            fprintf(stderr, "soak_producer: %lld produced, %.0f/s over the last %.0f s\n", sent,
                    (double)(sent - at_report) / (t - last_report), t - last_report);
            last_report = t;
            at_report = sent;
        }
        usleep(5000);
    }
    rd_kafka_flush(rk, 60000);
    double el = now_s() - start;
    printf("produced=%lld seconds=%.1f rate=%.0f points=%lld failed=%ld\n", sent, el,
           (double)sent / el, (sent + a.series - 1) / a.series, failed);
    rd_kafka_destroy(rk);
    return failed ? 1 : 0;
}
