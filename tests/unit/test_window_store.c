/* test_window_store.c — grid placement, fills, late and duplicate points, ready events,
 * variables joined by slot (awaited, merged, filled after `wait`), many series and the memory
 * bound of pipeline/window_store.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipeline/window_store.h"

#define P 1000 /* period, ms */

static hz_window_store *mkw(int lookback, int nvars, int stride, int fill, int wait)
{
    hz_window_opts o = {.period_ms = P,
                        .lookback = lookback,
                        .nvars = nvars,
                        .stride = stride,
                        .fill = fill,
                        .wait = wait};
    char err[HZ_ERRLEN];
    hz_window_store *ws = hz_window_store_new(&o, err, sizeof err);
    assert_non_null(ws);
    return ws;
}

static hz_window_store *mk(int lookback, int nvars, int stride, int fill)
{
    return mkw(lookback, nvars, stride, fill, 0);
}

static void push2(hz_window_store *ws, const char *s, int64_t ts, double a, double b)
{
    double v[2] = {a, b};
    assert_int_equal(hz_window_store_push(ws, s, ts, v), 0);
}

static void push1(hz_window_store *ws, const char *s, int64_t ts, double v)
{
    assert_int_equal(hz_window_store_push(ws, s, ts, &v), 0);
}

/* Copies the window of series s (1 var) into w/m; returns slots held. */
static int window(hz_window_store *ws, const char *s, float *w, uint8_t *m, int64_t *last)
{
    int64_t idx = hz_window_store_find(ws, s);
    assert_true(idx >= 0);
    return hz_window_store_copy(ws, (uint32_t)idx, w, m, last);
}

/* Pushes points t = from..to of series "a" (value t), popping after each; the slot time of
 * each ready event into ends (at most n).  Returns the count. */
static int push_ends(hz_window_store *ws, int from, int to, int64_t *ends, int n)
{
    uint32_t idx;
    int k = 0;
    float w[64];
    for (int t = from; t <= to; t++) {
        push1(ws, "a", (int64_t)t * P, t);
        while (hz_window_store_pop_ready(ws, &idx)) {
            assert_true(k < n);
            assert_true(hz_window_store_copy(ws, idx, w, NULL, &ends[k]) > 0);
            k++;
        }
    }
    return k;
}

/* align: windows end on slots k with (k + 1) % stride == 0, whatever slot the series
 * started on (so a restart that replays the newest slots gets the same windows), and one
 * passed over by a gap still raises its window at the point after the gap. */
static void test_aligned_windows(void **state)
{
    (void)state;
    hz_window_opts o = {.period_ms = P, .lookback = 4, .nvars = 1, .stride = 4, .align = 1};
    char err[HZ_ERRLEN];
    hz_window_store *ws = hz_window_store_new(&o, err, sizeof err);
    assert_non_null(ws);
    int64_t ends[8];
    assert_int_equal(push_ends(ws, 2, 14, ends, 8), 2); /* not at 5, the first full slot */
    assert_int_equal(ends[0], 7 * P);
    assert_int_equal(ends[1], 11 * P);
    assert_int_equal(push_ends(ws, 17, 17, ends, 8), 1); /* 15 and 16 filled over */
    assert_int_equal(ends[0], 17 * P);
    assert_int_equal(push_ends(ws, 18, 19, ends, 8), 1);
    assert_int_equal(ends[0], 19 * P);
    hz_window_store_free(ws);
    /* a restart replaying slots 9..13: nothing until 15, as before it */
    ws = hz_window_store_new(&o, err, sizeof err);
    assert_int_equal(push_ends(ws, 9, 15, ends, 8), 1);
    assert_int_equal(ends[0], 15 * P);
    hz_window_store_free(ws);
}

/* offset_ms: slots start 300 ms into each period (a gauge's local day); a point at 1299
 * belongs to the slot stamped 300, one at 1300 to the next, and the window's last time is
 * a slot's own; an offset of a whole period is refused. */
static void test_offset_grid(void **state)
{
    (void)state;
    hz_window_opts o = {.period_ms = P, .lookback = 2, .nvars = 1, .stride = 1, .offset_ms = 300};
    char err[HZ_ERRLEN];
    hz_window_store *ws = hz_window_store_new(&o, err, sizeof err);
    assert_non_null(ws);
    push1(ws, "g", 300, 1);
    push1(ws, "g", 1299, 2); /* the same slot: last write wins */
    push1(ws, "g", 1300, 3);
    float w[2];
    int64_t last;
    assert_int_equal(window(ws, "g", w, NULL, &last), 2);
    assert_true(w[0] == 2 && w[1] == 3);
    assert_int_equal(last, 1300);
    assert_int_equal(hz_window_slot(&o, 299), -1);
    assert_int_equal(hz_window_slot_ts(&o, -1), -700);
    hz_window_store_free(ws);
    o.offset_ms = P;
    assert_null(hz_window_store_new(&o, err, sizeof err));
}

static void test_rejects_bad_options(void **state)
{
    char err[HZ_ERRLEN] = "";
    hz_window_opts o = {.period_ms = 0, .lookback = 4, .nvars = 1, .stride = 1};
    assert_null(hz_window_store_new(&o, err, sizeof err));
    assert_non_null(strstr(err, "period_ms"));
    o.period_ms = 10;
    o.nvars = HZ_MAX_VARS + 1;
    assert_null(hz_window_store_new(&o, err, sizeof err));
    hz_window_store_free(NULL);
}

static void test_in_order_and_ready_every_stride(void **state)
{
    hz_window_store *ws = mk(4, 1, 2, HZ_FILL_PREVIOUS);
    uint32_t idx;
    for (int t = 0; t < 3; t++)
        push1(ws, "a", t * P, t);
    assert_int_equal(hz_window_store_pop_ready(ws, &idx), 0);
    push1(ws, "a", 3 * P, 3); /* window full: ready */
    assert_int_equal(hz_window_store_pop_ready(ws, &idx), 1);
    assert_string_equal(hz_window_store_series_id(ws, idx), "a");
    assert_int_equal(hz_window_store_pop_ready(ws, &idx), 0);
    push1(ws, "a", 4 * P, 4); /* 1 new slot: not yet */
    assert_int_equal(hz_window_store_pop_ready(ws, &idx), 0);
    push1(ws, "a", 5 * P, 5); /* 2 new slots: ready */
    assert_int_equal(hz_window_store_pop_ready(ws, &idx), 1);
    float w[4];
    uint8_t m[4];
    int64_t last;
    assert_int_equal(window(ws, "a", w, m, &last), 4);
    for (int i = 0; i < 4; i++) {
        assert_float_equal(w[i], 2 + i, 0);
        assert_int_equal(m[i], 1);
    }
    assert_int_equal(last, 5 * P);
    hz_window_counters c = hz_window_store_counters(ws);
    assert_int_equal(c.accepted, 6);
    assert_int_equal(c.ready, 2);
    assert_int_equal(c.queued, 0);
    assert_int_equal(c.series, 1);
    /* a series stays in the queue once even if ready twice before a pop */
    push1(ws, "a", 7 * P, 7);
    push1(ws, "a", 9 * P, 9);
    c = hz_window_store_counters(ws);
    assert_int_equal(c.ready, 4);
    assert_int_equal(c.queued, 1);
    hz_window_store_free(ws);
}

static void test_off_grid_points_snap_to_slot(void **state)
{
    hz_window_store *ws = mk(3, 1, 1, HZ_FILL_NONE);
    push1(ws, "s", 1500, 1.0); /* slot 1 */
    push1(ws, "s", 2999, 2.0); /* slot 2 */
    push1(ws, "s", 2000, 3.0); /* slot 2 again: duplicate, last write wins */
    push1(ws, "s", -1, 9.0);   /* slot -1: floor, not truncation */
    float w[3];
    uint8_t m[3];
    int64_t last;
    assert_int_equal(window(ws, "s", w, m, &last), 2);
    assert_int_equal(last, 2000);
    assert_float_equal(w[1], 1.0, 0);
    assert_float_equal(w[2], 3.0, 0);
    /* slot -1 is outside the window (slots 0..2); slot 0 was never seen */
    assert_true(isnan(w[0]));
    assert_int_equal(m[0], 0);
    hz_window_counters c = hz_window_store_counters(ws);
    assert_int_equal(c.duplicates, 1);
    assert_int_equal(c.dropped_late, 1);
    hz_window_store_free(ws);
}

static void gap_case(int fill, const float *expect, int expect_real)
{
    hz_window_store *ws = mk(4, 1, 1, fill);
    push1(ws, "g", 0, 0.0);
    push1(ws, "g", 3 * P, 30.0);
    float w[4];
    uint8_t m[4];
    assert_int_equal(window(ws, "g", w, m, NULL), 4);
    for (int i = 0; i < 4; i++) {
        if (isnan(expect[i]))
            assert_true(isnan(w[i]));
        else
            assert_float_equal(w[i], expect[i], 1e-5);
    }
    assert_int_equal(m[0], 1);
    assert_int_equal(m[1], expect_real);
    assert_int_equal(m[2], expect_real);
    assert_int_equal(m[3], 1);
    assert_int_equal(hz_window_store_counters(ws).filled, 2);
    hz_window_store_free(ws);
}

static void test_gap_fill_policies(void **state)
{
    const float prev[4] = {0, 0, 0, 30};
    const float lin[4] = {0, 10, 20, 30};
    const float none[4] = {0, NAN, NAN, 30};
    gap_case(HZ_FILL_PREVIOUS, prev, 0);
    gap_case(HZ_FILL_LINEAR, lin, 0);
    gap_case(HZ_FILL_NONE, none, 0);
}

static void test_out_of_order_replaces_fill(void **state)
{
    hz_window_store *ws = mk(4, 1, 1, HZ_FILL_PREVIOUS);
    push1(ws, "o", 0, 0);
    push1(ws, "o", 1 * P, 1);
    push1(ws, "o", 3 * P, 3); /* slot 2 filled with 1 */
    float w[4];
    uint8_t m[4];
    window(ws, "o", w, m, NULL);
    assert_float_equal(w[2], 1, 0);
    assert_int_equal(m[2], 0);
    push1(ws, "o", 2 * P, 2); /* late real point replaces the fill */
    window(ws, "o", w, m, NULL);
    for (int i = 0; i < 4; i++) {
        assert_float_equal(w[i], i, 0);
        assert_int_equal(m[i], 1);
    }
    push1(ws, "o", 1 * P, 11); /* late duplicate of a real slot */
    window(ws, "o", w, m, NULL);
    assert_float_equal(w[1], 11, 0);
    hz_window_counters c = hz_window_store_counters(ws);
    assert_int_equal(c.late_placed, 1);
    assert_int_equal(c.duplicates, 1);
    assert_int_equal(c.filled, 1);
    assert_int_equal(c.accepted, 5);
    hz_window_store_free(ws);
}

static void test_late_beyond_window_dropped(void **state)
{
    hz_window_store *ws = mk(4, 1, 1, HZ_FILL_NONE);
    for (int t = 0; t <= 10; t++)
        push1(ws, "l", t * P, t);
    push1(ws, "l", 6 * P, 66); /* 10 - 4: out */
    push1(ws, "l", 7 * P, 77); /* oldest slot in the window: placed (duplicate) */
    float w[4];
    window(ws, "l", w, NULL, NULL);
    assert_float_equal(w[0], 77, 0);
    assert_float_equal(w[3], 10, 0);
    hz_window_counters c = hz_window_store_counters(ws);
    assert_int_equal(c.dropped_late, 1);
    assert_int_equal(c.duplicates, 1);
    hz_window_store_free(ws);
}

static void test_young_series_extends_backwards(void **state)
{
    hz_window_store *ws = mk(4, 1, 1, HZ_FILL_LINEAR);
    push1(ws, "y", 5 * P, 50);
    push1(ws, "y", 2 * P, 20); /* before the first point, inside lookback: 2,3,4,5 */
    float w[4];
    uint8_t m[4];
    assert_int_equal(window(ws, "y", w, m, NULL), 4);
    const float e[4] = {20, 30, 40, 50};
    for (int i = 0; i < 4; i++)
        assert_float_equal(w[i], e[i], 1e-5);
    assert_int_equal(m[0] + m[1] + m[2] + m[3], 2);
    uint32_t idx;
    assert_int_equal(hz_window_store_pop_ready(ws, &idx), 1);
    hz_window_store_free(ws);
}

static void test_multivariate_time_major(void **state)
{
    hz_window_store *ws = mk(3, 2, 1, HZ_FILL_LINEAR);
    double a[2] = {1, 100}, b[2] = {3, NAN};
    assert_int_equal(hz_window_store_push(ws, "m", 0, a), 0);
    assert_int_equal(hz_window_store_push(ws, "m", 2 * P, b), 0);
    float w[6];
    window(ws, "m", w, NULL, NULL);
    assert_float_equal(w[0], 1, 0);
    assert_float_equal(w[1], 100, 0);
    assert_float_equal(w[2], 2, 1e-6); /* interpolated */
    /* variable 1 absent from the second point: awaited, with wait 0 filled at once; linear
     * with no later value held takes the previous value */
    assert_float_equal(w[3], 100, 0);
    assert_float_equal(w[4], 3, 0);
    assert_float_equal(w[5], 100, 0);
    hz_window_counters c = hz_window_store_counters(ws);
    assert_int_equal(c.waited, 2);
    assert_int_equal(c.wait_filled, 2);
    assert_int_equal(c.filled, 1);
    hz_reading r = {.series = "m", .ts_ms = 3 * P, .nvars = 1};
    assert_int_equal(hz_window_store_push_reading(ws, &r), HZ_EINVAL);
    assert_int_equal(hz_window_store_push(ws, "", 0, a), HZ_EINVAL);
    assert_int_equal(hz_window_store_counters(ws).rejected, 2);
    hz_window_store_free(ws);
}

/* Two variables imported one after the other (all of the first, then all of the second):
 * they meet in their slots, and the series is ready only once both are there. */
static void test_variables_join_by_slot(void **state)
{
    hz_window_store *ws = mkw(3, 2, 1, HZ_FILL_PREVIOUS, 3);
    uint32_t idx;
    for (int t = 0; t < 3; t++)
        push2(ws, "g1", t * P, t, NAN);
    assert_int_equal(hz_window_store_pop_ready(ws, &idx), 0); /* precip awaited */
    float w[6];
    uint8_t m[3];
    int64_t last;
    assert_int_equal(window(ws, "g1", w, m, &last), 0);
    for (int t = 0; t < 2; t++)
        push2(ws, "g1", t * P, NAN, 10 + t);
    assert_int_equal(hz_window_store_pop_ready(ws, &idx), 0); /* slot 2 still waits */
    push2(ws, "g1", 2 * P, NAN, 12);
    assert_int_equal(hz_window_store_pop_ready(ws, &idx), 1);
    assert_int_equal(window(ws, "g1", w, m, &last), 3);
    assert_int_equal(last, 2 * P);
    for (int t = 0; t < 3; t++) {
        assert_float_equal(w[2 * t], t, 0);
        assert_float_equal(w[2 * t + 1], 10 + t, 0);
        assert_int_equal(m[t], 1);
    }
    hz_window_counters c = hz_window_store_counters(ws);
    assert_int_equal(c.waited, 3);
    assert_int_equal(c.merged, 3);
    assert_int_equal(c.wait_filled, 0);
    assert_int_equal(c.late_placed + c.duplicates + c.dropped_late + c.filled, 0);
    assert_int_equal(c.accepted, 6);
    hz_window_store_free(ws);
}

/* A variable that does not come is awaited `wait` slots, then filled by the policy and
 * counted; the window ends at the newest settled slot; a late value replaces the fill. */
static void test_wait_then_fill_then_late(void **state)
{
    hz_window_store *ws = mkw(3, 2, 1, HZ_FILL_PREVIOUS, 2);
    uint32_t idx;
    push2(ws, "r", 0, 1, 10);
    push2(ws, "r", 1 * P, 2, NAN);
    push2(ws, "r", 2 * P, 3, NAN);
    float w[6];
    uint8_t m[3];
    int64_t last;
    assert_int_equal(window(ws, "r", w, m, &last), 1); /* only slot 0 settled */
    assert_int_equal(last, 0);
    assert_int_equal(hz_window_store_counters(ws).wait_filled, 0);
    push2(ws, "r", 3 * P, 4, NAN); /* slot 1 is 2 slots behind: filled */
    assert_int_equal(hz_window_store_counters(ws).wait_filled, 1);
    assert_int_equal(hz_window_store_pop_ready(ws, &idx), 0);
    push2(ws, "r", 4 * P, 5, NAN); /* slot 2 filled: 0..2 settled, ready */
    assert_int_equal(hz_window_store_pop_ready(ws, &idx), 1);
    assert_int_equal(window(ws, "r", w, m, &last), 3);
    assert_int_equal(last, 2 * P);
    const float e[6] = {1, 10, 2, 10, 3, 10};
    for (int i = 0; i < 6; i++)
        assert_float_equal(w[i], e[i], 0);
    assert_int_equal(m[0], 1);
    assert_int_equal(m[1], 0);
    assert_int_equal(m[2], 0);
    int held, since;
    int64_t head;
    assert_int_equal(hz_window_store_progress(ws, idx, &held, &since, &head), 0);
    assert_int_equal(held, 3);
    assert_int_equal(head, 2 * P);
    hz_window_counters c = hz_window_store_counters(ws);
    assert_int_equal(c.waited, 4);
    assert_int_equal(c.wait_filled, 2);
    /* the late precipitation of slot 1 replaces the fill */
    push2(ws, "r", 1 * P, NAN, 20);
    window(ws, "r", w, m, NULL);
    assert_float_equal(w[3], 20, 0);
    assert_int_equal(m[1], 1);
    assert_int_equal(hz_window_store_counters(ws).late_placed, 1);
    assert_int_equal(hz_window_store_pop_ready(ws, &idx), 0); /* a late value: no forecast */
    /* slot 3's, still awaited, is merged: slot 3 settles, the window moves on */
    push2(ws, "r", 3 * P, NAN, 30);
    assert_int_equal(hz_window_store_pop_ready(ws, &idx), 1);
    assert_int_equal(window(ws, "r", w, m, &last), 3);
    assert_int_equal(last, 3 * P);
    assert_float_equal(w[5], 30, 0);
    c = hz_window_store_counters(ws);
    assert_int_equal(c.merged, 1);
    assert_int_equal(c.late_placed, 1);
    assert_int_equal(c.waited, c.merged + c.wait_filled + 1); /* slot 4's still awaited */
    hz_window_store_free(ws);
}

/* One message per variable, the second variable a slot or two behind the first (Kafka):
 * each slot is forecast once both are in, its window ending at that slot. */
static void test_skewed_messages(void **state)
{
    hz_window_store *ws = mkw(2, 2, 1, HZ_FILL_PREVIOUS, 3);
    uint32_t idx;
    int64_t last;
    float w[4];
    push2(ws, "k", 0, 1, NAN);
    push2(ws, "k", 0, NAN, 10);
    push2(ws, "k", 1 * P, 2, NAN);
    push2(ws, "k", 2 * P, 3, NAN);
    assert_int_equal(hz_window_store_pop_ready(ws, &idx), 0); /* slot 1 waits for its second */
    push2(ws, "k", 1 * P, NAN, 20);
    assert_int_equal(hz_window_store_pop_ready(ws, &idx), 1);
    assert_int_equal(window(ws, "k", w, NULL, &last), 2);
    assert_int_equal(last, 1 * P);
    push2(ws, "k", 3 * P, 4, NAN);
    push2(ws, "k", 2 * P, NAN, 30);
    assert_int_equal(hz_window_store_pop_ready(ws, &idx), 1);
    assert_int_equal(window(ws, "k", w, NULL, &last), 2);
    assert_int_equal(last, 2 * P);
    const float e[4] = {2, 20, 3, 30};
    for (int i = 0; i < 4; i++)
        assert_float_equal(w[i], e[i], 0);
    hz_window_counters c = hz_window_store_counters(ws);
    assert_int_equal(c.ready, 2);
    assert_int_equal(c.merged, 3);
    assert_int_equal(c.wait_filled, 0);
    assert_int_equal(c.waited, 4); /* slot 3's second is still awaited */
    hz_window_store_free(ws);
}

/* wait 1 with linear: the hole is interpolated towards the variable's next real value. */
static void test_wait_linear_interpolates(void **state)
{
    hz_window_store *ws = mkw(4, 2, 1, HZ_FILL_LINEAR, 1);
    push2(ws, "i", 0, 0, 0);
    push2(ws, "i", 1 * P, 1, NAN);
    push2(ws, "i", 2 * P, 2, 20); /* slot 1 filled now: between 0 and 20 */
    push2(ws, "i", 3 * P, 3, 30);
    float w[8];
    uint8_t m[4];
    assert_int_equal(window(ws, "i", w, m, NULL), 4);
    assert_float_equal(w[3], 10, 1e-6);
    assert_int_equal(m[1], 0);
    assert_int_equal(hz_window_store_counters(ws).wait_filled, 1);
    hz_window_store_free(ws);
}

static long rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &res) != 2)
            res = 0;
        fclose(f);
    }
    return res * sysconf(_SC_PAGESIZE);
}

/* 100k series × 720 slots × 1 var: every series found again, windows right, memory bounded
 * (< 400 MiB by the store's own account and by resident set growth). */
static void test_many_series_memory_bound(void **state)
{
    const int NS = 100000, L = 720;
    long rss0 = rss_bytes();
    hz_window_store *ws = mk(L, 1, 24, HZ_FILL_PREVIOUS);
    char id[32];
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < NS; i++) {
            snprintf(id, sizeof id, "meter-%d", i);
            push1(ws, id, (int64_t)round * P, i + round * 0.5);
        }
    hz_window_counters c = hz_window_store_counters(ws);
    assert_int_equal(c.series, NS);
    assert_int_equal(c.accepted, 2 * NS);
    size_t bytes = hz_window_store_bytes(ws);
    long rss = rss_bytes() - rss0;
    printf("window store: %d series x %d slots: %.1f MiB allocated, rss +%.1f MiB\n", NS, L,
           bytes / 1048576.0, rss / 1048576.0);
    assert_true(bytes < 400u * 1048576u);
    assert_true(rss < 400L * 1048576L);
    assert_true(bytes / NS < (size_t)L * 4 + 200);
    float *w = malloc(L * sizeof *w);
    int64_t last;
    for (int i = 0; i < NS; i += 9973) {
        snprintf(id, sizeof id, "meter-%d", i);
        assert_int_equal(window(ws, id, w, NULL, &last), 2);
        assert_float_equal(w[L - 2], i, 0);
        assert_float_equal(w[L - 1], i + 0.5, 0);
        assert_int_equal(last, P);
    }
    assert_int_equal(hz_window_store_find(ws, "meter-100000"), HZ_ENOTFOUND);
    free(w);
    hz_window_store_free(ws);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rejects_bad_options),
        cmocka_unit_test(test_in_order_and_ready_every_stride),
        cmocka_unit_test(test_off_grid_points_snap_to_slot),
        cmocka_unit_test(test_gap_fill_policies),
        cmocka_unit_test(test_out_of_order_replaces_fill),
        cmocka_unit_test(test_late_beyond_window_dropped),
        cmocka_unit_test(test_young_series_extends_backwards),
        cmocka_unit_test(test_multivariate_time_major),
        cmocka_unit_test(test_variables_join_by_slot),
        cmocka_unit_test(test_wait_then_fill_then_late),
        cmocka_unit_test(test_wait_linear_interpolates),
        cmocka_unit_test(test_skewed_messages),
        cmocka_unit_test(test_many_series_memory_bound),
        cmocka_unit_test(test_offset_grid),
        cmocka_unit_test(test_aligned_windows),
    };
    return cmocka_run_group_tests_name("window_store", tests, NULL, NULL);
}
