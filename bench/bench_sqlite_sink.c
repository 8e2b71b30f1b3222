/* bench_sqlite_sink.c — rows/s through the SQLite sink, batched: readings (1 variable per
 * reading = 1 row) in transactions of various sizes, synchronous FULL (the default) and
 * NORMAL, on a fresh file in /tmp; then forecasts.  Prints a table; never fails. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "connectors/sqlite_sink.h"

#define ROWS 400000

static char dir[64];

static void readings(int normal, int batch)
{
    char path[128];
    snprintf(path, sizeof path, "%s/r_%d_%d.sqlite", dir, normal, batch);
    hz_sqlite_sink_opts o = {.path = path, .synchronous_normal = normal};
    hz_sink *k;
    char err[HZ_ERRLEN];
    if (hz_sqlite_sink_new(&o, &k, err, sizeof err)) {
        printf("%s\n", err);
        return;
    }
    static const char *const vars[1] = {"power"};
    char ids[1000][16];
    for (int i = 0; i < 1000; i++)
        snprintf(ids[i], sizeof ids[i], "meter-%d", i);
    hz_reading *r = calloc((size_t)batch, sizeof *r);
    int64_t t0 = hz_mono_ns();
    int commits = 0;
    for (int done = 0; done < ROWS; done += batch) {
        for (int j = 0; j < batch; j++) {
            int n = done + j;
            r[j].series = ids[n % 1000];
            r[j].ts_ms = 1700000000000LL + (int64_t)(n / 1000) * 60000;
            r[j].nvars = 1;
            r[j].values[0] = n * 0.5;
        }
        if (k->ops->write_readings(k, "bench", vars, r, (size_t)batch, err, sizeof err) ||
            k->ops->flush(k, -1, err, sizeof err)) {
            printf("%s\n", err);
            break;
        }
        commits++;
    }
    double secs = (hz_mono_ns() - t0) / 1e9;
    printf("| readings  | %-6s | %7d | %8d | %7.2f | %10.0f |\n", normal ? "NORMAL" : "FULL", batch,
           ROWS, secs, ROWS / secs);
    free(r);
    k->ops->free(k);
}

static void forecasts(int batch)
{
    char path[128];
    snprintf(path, sizeof path, "%s/f_%d.sqlite", dir, batch);
    hz_sqlite_sink_opts o = {.path = path};
    hz_sink *k;
    char err[HZ_ERRLEN];
    if (hz_sqlite_sink_new(&o, &k, err, sizeof err)) {
        printf("%s\n", err);
        return;
    }
    hz_forecast *f = calloc((size_t)batch, sizeof *f);
    char ids[1000][16];
    for (int i = 0; i < 1000; i++)
        snprintf(ids[i], sizeof ids[i], "meter-%d", i);
    int64_t t0 = hz_mono_ns();
    for (int done = 0; done < ROWS; done += batch) {
        for (int j = 0; j < batch; j++) {
            int n = done + j;
            f[j] = (hz_forecast){.pipeline = "bench",
                                 .series = ids[(n / 96) % 1000],
                                 .variable = "power",
                                 .issued_ts = 1700000000000LL + (int64_t)(n / 96000) * 900000,
                                 .step = n % 96 + 1,
                                 .value = n,
                                 .lower = n - 1.0,
                                 .upper = n + 1.0,
                                 .model_id = "m1"};
            f[j].target_ts = f[j].issued_ts + f[j].step * 900000LL;
        }
        if (k->ops->write_forecasts(k, f, (size_t)batch, err, sizeof err) ||
            k->ops->flush(k, -1, err, sizeof err)) {
            printf("%s\n", err);
            break;
        }
    }
    double secs = (hz_mono_ns() - t0) / 1e9;
    printf("| forecasts | %-6s | %7d | %8d | %7.2f | %10.0f |\n", "FULL", batch, ROWS, secs,
           ROWS / secs);
    free(f);
    k->ops->free(k);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/hz_bench_sink_XXXXXX");
    if (!mkdtemp(dir)) {
        printf("bench_sqlite_sink: cannot make a temp dir\n");
        return 0;
    }
    printf("sqlite sink: WAL, upserts, one transaction per batch, files in %s (goal >= 200k "
           "rows/s)\n",
           dir);
    printf("| table     | sync   | batch   | rows     | seconds | rows/s     |\n");
    printf("|-----------|--------|---------|----------|---------|------------|\n");
    readings(0, 1000);
    readings(0, 10000);
    readings(0, 50000);
    readings(1, 1000);
    readings(1, 10000);
    readings(1, 50000);
    forecasts(9600);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        printf("(could not remove %s)\n", dir);
    return 0;
}
