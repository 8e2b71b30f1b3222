/* bench_ingest.c — the daemon's ingest path on one core: Kafka-style JSON messages decoded
 * by the codec (jansson) and pushed into the window store, 10k series, 15-minute readings,
 * lookback 672.  Prints readings/s for the whole path and for each half.  Goal:
 * >= 500k readings/s through decode -> window store on one core. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/codec_json.h"
#include "common/hz.h"
#include "pipeline/window_store.h"

enum { SERIES = 10000, ROUNDS = 100 };

int main(void)
{
    size_t n = (size_t)SERIES * ROUNDS;
    char *msgs = malloc(n * 96);
    size_t *len = malloc(n * sizeof *len);
    int64_t t0 = 1790000000000LL;
    for (size_t i = 0; i < n; i++) {
        int s = (int)(i % SERIES), r = (int)(i / SERIES);
        char ts[32];
        hz_codec_json_format_iso8601(t0 + (int64_t)r * 900000, ts);
        len[i] = (size_t)snprintf(msgs + i * 96, 96,
                                  "{\"series\":\"meter-%d\",\"ts\":\"%s\",\"power\":%.3f}", s, ts,
                                  1.0 + (i % 97) * 0.01);
    }
    const char *vars[1] = {"power"};
    hz_json_mapping map = {"series", "ts", HZ_TIME_AUTO, vars, 1, 0, 0};
    char err[HZ_ERRLEN], reason[256], sbuf[HZ_SERIES_MAX + 1];
    hz_window_opts wo = {900000, 672, 1, 4, HZ_FILL_PREVIOUS, 0, 0, 0};
    hz_window_store *ws = hz_window_store_new(&wo, err, sizeof err);
    if (!ws) {
        fprintf(stderr, "%s\n", err);
        return 0;
    }
    hz_reading *rd = malloc(n * sizeof *rd);
    char *series = malloc(n * 16);
    /* decode alone */
    int64_t a = hz_mono_ns();
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        if (hz_codec_json_decode(&map, NULL, 0, msgs + i * 96, len[i], &rd[i], sbuf, reason,
                                 sizeof reason))
            bad++;
        memcpy(series + i * 16, sbuf, 16);
        rd[i].series = series + i * 16;
    }
    double t_dec = (hz_mono_ns() - a) / 1e9;
    /* window store alone */
    a = hz_mono_ns();
    for (size_t i = 0; i < n; i++)
        hz_window_store_push_reading(ws, &rd[i]);
    double t_ws = (hz_mono_ns() - a) / 1e9;
    hz_window_store_free(ws);
    ws = hz_window_store_new(&wo, err, sizeof err);
    /* the whole path */
    a = hz_mono_ns();
    hz_reading r;
    for (size_t i = 0; i < n; i++) {
        if (hz_codec_json_decode(&map, NULL, 0, msgs + i * 96, len[i], &r, sbuf, reason,
                                 sizeof reason) == 0)
            hz_window_store_push_reading(ws, &r);
    }
    double t_all = (hz_mono_ns() - a) / 1e9;
    printf("ingest on one core, %d series x %d readings (%zu bad)\n\n", SERIES, ROUNDS, bad);
    printf("| path | readings/s |\n|---|---|\n");
    printf("| JSON decode (jansson + mapping) | %.0f |\n", n / t_dec);
    printf("| window store push | %.0f |\n", n / t_ws);
    printf("| decode -> window store | %.0f |\n", n / t_all);
    hz_window_store_free(ws);
    free(msgs);
    free(len);
    free(rd);
    free(series);
    return 0;
}
