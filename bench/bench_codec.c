/* bench_codec.c — JSON codec throughput on one core: readings decoded per second for the
 * message shapes horizon expects (ISO 8601 or epoch time, 1 or 4 variables, series in the
 * body or in the key), and forecasts / dead letters encoded per second.  Prints a table;
 * goal: >= 500k readings/s decoded.  Never fails on a number. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "connectors/codec_json.h"

#define NMSG 4096

typedef struct shape {
    const char *name;
    const char *fmt; /* snprintf format: series index, minute, value */
    hz_json_mapping map;
    int key;
} shape;

static double now_s(void)
{
    return (double)hz_mono_ns() * 1e-9;
}

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? atol(argv[1]) : 250; /* NMSG messages per round */
    static const char *const v1[] = {"power"};
    static const char *const v4[] = {"power", "voltage", "current", "pf"};
    shape shapes[] = {
        {"iso8601, 1 var",
         "{\"series\":\"meter-%d\",\"ts\":\"2026-11-22T10:%02d:00Z\","
         "\"power\":%d.25}",
         {"series", "ts", HZ_TIME_AUTO, v1, 1, 0, 0},
         0},
        {"epoch_ms, 1 var",
         "{\"series\":\"meter-%d\",\"ts\":17953425%02d000,\"power\":%d.25}",
         {"series", "ts", HZ_TIME_EPOCH_MS, v1, 1, 0, 0},
         0},
        {"iso8601, 4 vars",
         "{\"series\":\"meter-%d\",\"ts\":\"2026-11-22T10:%02d:00.123+01:00\","
         "\"power\":%d.25,\"voltage\":230.1,\"current\":4.75,\"pf\":0.98}",
         {"series", "ts", HZ_TIME_AUTO, v4, 4, 0, 0},
         0},
        {"key series, epoch_s",
         "{\"ts\":17953425%02d,\"power\":%d.25}",
         {NULL, "ts", HZ_TIME_EPOCH_S, v1, 1, 0, 0},
         1},
    };
    char *msgs = malloc((size_t)NMSG * 256);
    size_t lens[NMSG];
    char keys[NMSG][24];
    char series[HZ_SERIES_MAX + 1], why[256];
    printf("%-24s %10s %14s %10s\n", "decode shape", "messages", "readings/s", "ns/msg");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        for (int i = 0; i < NMSG; i++) {
            char *m = msgs + (size_t)i * 256;
            if (shapes[s].key)
                lens[i] = (size_t)snprintf(m, 256, shapes[s].fmt, i % 60, i);
            else
                lens[i] = (size_t)snprintf(m, 256, shapes[s].fmt, i % 1000, i % 60, i);
            snprintf(keys[i], sizeof keys[i], "meter-%d", i % 1000);
        }
        hz_reading r;
        long bad = 0;
        double t0 = now_s();
        for (long k = 0; k < rounds; k++)
            for (int i = 0; i < NMSG; i++)
                bad += hz_codec_json_decode(&shapes[s].map, keys[i], strlen(keys[i]),
                                            msgs + (size_t)i * 256, lens[i], &r, series, why,
                                            sizeof why) != 0;
        double dt = now_s() - t0, n = (double)rounds * NMSG;
        printf("%-24s %10.0f %14.0f %10.1f%s\n", shapes[s].name, n, n / dt, dt / n * 1e9,
               bad ? "  (some refused!)" : "");
        /* the floor: jansson's parse alone, same messages and flags */
        json_error_t e;
        t0 = now_s();
        for (long k = 0; k < rounds; k++)
            for (int i = 0; i < NMSG; i++)
                json_decref(json_loadb(msgs + (size_t)i * 256, lens[i],
                                       JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &e));
        dt = now_s() - t0;
        printf("%-24s %10.0f %14.0f %10.1f\n", "  (json_loadb alone)", n, n / dt, dt / n * 1e9);
    }
    free(msgs);

    char buf[4096];
    hz_forecast f = {.pipeline = "feeder-load",
                     .series = "meter-17",
                     .variable = "power",
                     .issued_ts = 1795342500000LL,
                     .target_ts = 1795343400000LL,
                     .step = 1,
                     .value = 1.2345678,
                     .lower = 1.1,
                     .upper = 1.4,
                     .model_id = "informer-20261122"};
    hz_anomaly a = {"feeder-load", "meter-17", "power",    1795342500000LL,     9.5, 1.2, 1.0, 1.5,
                    0.997,         1,          "residual", "informer-20261122", NULL};
    const char payload[] = "{\"series\":\"a\",\"ts\":\"yesterday\",\"power\":1}";
    hz_dead_letter d = {"readings/3/1234567",
                        "field \"ts\": \"yesterday\" is not ISO 8601",
                        payload,
                        sizeof payload - 1,
                        1795342500000LL,
                        {3, 1234567}};
    long n = (long)rounds * NMSG / 4;
    size_t sink = 0;
    printf("\n%-24s %10s %14s %10s\n", "encode", "records", "records/s", "ns/rec");
    const char *names[] = {"forecast", "anomaly", "dead letter"};
    for (int kind = 0; kind < 3; kind++) {
        double t0 = now_s();
        for (long i = 0; i < n; i++) {
            f.step = (int)(i & 127);
            sink += kind == 0   ? hz_codec_json_encode_forecast(&f, buf, sizeof buf)
                    : kind == 1 ? hz_codec_json_encode_anomaly(&a, buf, sizeof buf)
                                : hz_codec_json_encode_dead("feeder-load", &d, buf, sizeof buf);
        }
        double dt = now_s() - t0;
        printf("%-24s %10ld %14.0f %10.1f\n", names[kind], n, n / dt, dt / n * 1e9);
    }
    return sink == 0;
}
