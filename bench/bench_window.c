/* bench_window.c — readings/s into the window store on one core: 100k series, lookback 720,
 * 1 variable, round-robin arrival (each series advances one slot per round), in order and
 * with 1% late / 1% gapped points; then the cost of popping ready windows and copying them
 * out.  Prints a table; never fails. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "pipeline/window_store.h"

#define NS     100000
#define L      720
#define PERIOD 60000

static void run(const char *name, int late_pct, int gap_pct, int rounds)
{
    hz_window_opts o = {
        .period_ms = PERIOD, .lookback = L, .nvars = 1, .stride = 24, .fill = HZ_FILL_LINEAR};
    char err[HZ_ERRLEN];
    hz_window_store *ws = hz_window_store_new(&o, err, sizeof err);
    if (!ws) {
        printf("%s: %s\n", name, err);
        return;
    }
    char(*ids)[16] = malloc((size_t)NS * sizeof *ids);
    for (int i = 0; i < NS; i++)
        snprintf(ids[i], sizeof ids[i], "meter-%d", i);
    /* warm up: create every series (allocates the slabs) */
    for (int i = 0; i < NS; i++) {
        double v = 0;
        hz_window_store_push(ws, ids[i], 0, &v);
    }
    unsigned rng = 12345;
    int64_t t0 = hz_mono_ns();
    uint64_t n = 0;
    for (int r = 1; r <= rounds; r++)
        for (int i = 0; i < NS; i++) {
            rng = rng * 1103515245u + 12345u;
            unsigned p = (rng >> 8) % 100;
            int64_t slot = r;
            if ((int)p < late_pct)
                slot = r - 1 - (int)((rng >> 20) % 5); /* a little late */
            else if ((int)p < late_pct + gap_pct)
                continue; /* missing: the next point fills it */
            double v = sin(r * 0.01 + i);
            hz_window_store_push(ws, ids[i], slot * PERIOD, &v);
            n++;
        }
    double secs = (hz_mono_ns() - t0) / 1e9;
    hz_window_counters c = hz_window_store_counters(ws);
    /* pop every ready series and copy its window out */
    float *w = malloc(L * sizeof *w);
    int64_t t1 = hz_mono_ns();
    uint32_t idx;
    uint64_t popped = 0;
    int64_t last;
    while (hz_window_store_pop_ready(ws, &idx)) {
        hz_window_store_copy(ws, idx, w, NULL, &last);
        popped++;
    }
    double csecs = (hz_mono_ns() - t1) / 1e9;
    printf("| %-22s | %10llu | %8.2f | %12.0f | %9llu | %9llu | %8llu | %8.1f | %10.0f |\n", name,
           (unsigned long long)n, secs, n / secs, (unsigned long long)c.filled,
           (unsigned long long)c.late_placed, (unsigned long long)popped,
           hz_window_store_bytes(ws) / 1048576.0, popped ? popped / csecs : 0.0);
    free(w);
    free(ids);
    hz_window_store_free(ws);
}

int main(void)
{
    printf("window store: %d series, lookback %d, 1 variable, stride 24, fill linear, 1 core\n", NS,
           L);
    printf("| %-22s | %10s | %8s | %12s | %9s | %9s | %8s | %8s | %10s |\n", "case", "readings",
           "seconds", "readings/s", "filled", "late", "ready", "MiB", "copies/s");
    printf("|------------------------|------------|----------|--------------|-----------|------"
           "-----|----------|----------|------------|\n");
    run("in order", 0, 0, 760); /* past lookback: ready windows to copy */
    run("1% late, 1% gaps", 1, 1, 200);
    return 0;
}
