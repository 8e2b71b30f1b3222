/* window_store.h — per-series sliding windows on a regular time grid (docs/ARCHITECTURE.md).  One
 * store per pipeline.
 *
 * Grid: a point at ts belongs to slot floor(ts / period_ms); points not on the grid snap to
 * their slot and the slot's timestamp is slot * period_ms.  Each series keeps the newest
 * `lookback + wait` slots of `nvars` float32 values in a ring, plus one bit per slot and
 * variable saying whether that value is real (sent) or not (filled, or still awaited).
 *
 * Variables join by slot: a NaN in a point means "this variable is not in this point".  A
 * point writes only the variables it carries; the others keep what the slot holds, so the
 * variables of one series may come in separate points (two CSV files imported one after the
 * other, one Kafka message per variable) and meet in their slot.  A variable a point lacks
 * is *awaited* in that slot (counted `waited`); a later point carrying it fills it (counted
 * `merged`); when the series is `wait` slots past it and it is still absent, the fill policy
 * fills it (counted `wait_filled`: previous: the variable's value in the slot before;
 * linear: interpolated between the slot before and the variable's next real value held,
 * else the previous value; none: NaN, missing).  A slot is *settled* when none of its
 * variables is awaited; `done` is the newest slot up to which every slot held is settled —
 * at most `wait` slots behind the newest slot, equal to it when points are complete.
 *   - newer slot: the window advances; skipped slots (no point at all) are filled at once by
 *     the policy (previous: the newest slot's values; linear: interpolated between the newest
 *     slot and the new point, per variable; none: NaN, marked missing) and counted in
 *     `filled` — a variable whose neighbour is still awaited (or, for linear, absent from the
 *     new point) is awaited in the skipped slots too.
 *   - older slot still inside the window (done - lookback < slot): placed, per variable.  A
 *     late value landing on a filled value is counted `late_placed` and replaces the fill;
 *     on a real value it is a duplicate (last write wins, counted `duplicates`); on an awaited
 *     value it is merged.  Only that value changes: neighbours filled earlier are not
 *     re-interpolated.  A late point older than every slot held so far (a young series)
 *     extends the window backwards; the slots between are filled by the policy, and the
 *     variables the point lacks are filled at once (the point is behind `done`).
 *   - older than the window: counted `dropped_late`, dropped.
 * Ready: the window a forecast sees ends at `done`.  A series is queued as ready the first
 * time `lookback` settled slots are held and then every `stride` newly settled slots (a
 * jump of many slots at once queues it once).  A series is in the queue at most once.
 *
 * Memory: series records are carved from slabs of 1024 (header + real bits + (lookback +
 * wait) × nvars floats; an awaited value is a NaN with a payload of its own); ids live in a
 * string arena; series are found through an open-addressing hash table.  Pushing a reading
 * of a known series allocates nothing. */
#ifndef HZ_WINDOW_STORE_H
#define HZ_WINDOW_STORE_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "connectors/connector.h"
#include "common/hz.h"

enum { HZ_FILL_PREVIOUS = 0, HZ_FILL_LINEAR = 1, HZ_FILL_NONE = 2 };

typedef struct hz_window_opts {
    int64_t period_ms; /* > 0 */
    int lookback;      /* slots per window, > 0 */
    int nvars;         /* 1..HZ_MAX_VARS */
    int stride;        /* > 0: new slots between two ready events */
    int fill;          /* HZ_FILL_* */
    int wait;          /* >= 0: slots an absent variable is awaited before the policy fills it */
    int64_t offset_ms; /* [0, period_ms): slot k covers [k period + offset, (k+1) period +
                          offset) and is stamped k period + offset (0: epoch-aligned) */
    int align;         /* 1: windows end on slots k with (k + 1) a multiple of stride (so the
                          same windows whatever the restarts; pipeline/disagg_rt.h), the
                          first such slot once lookback slots are held; 0: every stride
                          slots from the first full window */
} hz_window_opts;

/* The slot of time ts on grid o, and a slot's time. */
static inline int64_t hz_window_slot(const hz_window_opts *o, int64_t ts_ms)
{
    return hz_floor_div(ts_ms - o->offset_ms, o->period_ms);
}
static inline int64_t hz_window_slot_ts(const hz_window_opts *o, int64_t slot)
{
    return slot * o->period_ms + o->offset_ms;
}

/* Whether an aligned window (hz_window_opts.align) ends on slot: slot + 1 a multiple of
 * stride. */
static inline int hz_window_aligned_end(int64_t slot, int stride)
{
    return slot + 1 - hz_floor_div(slot + 1, stride) * stride == 0;
}

/* Counters for metrics; monotonic except `series` and `queued`. */
typedef struct hz_window_counters {
    uint64_t accepted;     /* points stored (new, late, duplicate) */
    uint64_t late_placed;  /* out-of-order points placed inside the window */
    uint64_t dropped_late; /* points older than the window, dropped */
    uint64_t duplicates;   /* points for a slot that already held a real point */
    uint64_t filled;       /* skipped slots filled by the policy */
    uint64_t waited;       /* values a point lacked, awaited in their slot */
    uint64_t merged;       /* awaited values a later point carried */
    uint64_t wait_filled;  /* awaited values filled by the policy after `wait` slots */
    uint64_t ready;        /* ready events queued */
    uint64_t rejected;     /* points refused (bad arguments) */
    uint64_t series;       /* series held */
    uint64_t queued;       /* series waiting in the ready queue */
} hz_window_counters;

typedef struct hz_window_store hz_window_store;

/* Creates an empty store; NULL on bad options (message in err) or no memory.  Free with
 * hz_window_store_free. */
hz_window_store *hz_window_store_new(const hz_window_opts *o, char *err, size_t errlen);
void hz_window_store_free(hz_window_store *ws);

/* Adds one point (values: nvars doubles, NaN = variable absent) of series (copied on first
 * sight).  Returns 0 (also when the point was dropped as too late — see the counters),
 * HZ_EINVAL on an empty series id, or HZ_ENOMEM. */
int hz_window_store_push(hz_window_store *ws, const char *series, int64_t ts_ms,
                         const double *values);

/* Same for an hz_reading (r->nvars must equal the store's nvars). */
int hz_window_store_push_reading(hz_window_store *ws, const hz_reading *r);

/* Pops the oldest ready series into *idx.  Returns 1 when one was popped, 0 when the queue is
 * empty. */
int hz_window_store_pop_ready(hz_window_store *ws, uint32_t *idx);

/* Index of series, or HZ_ENOTFOUND. */
int64_t hz_window_store_find(const hz_window_store *ws, const char *series);

/* Id of series idx (owned by the store, valid until free); NULL when idx is out of range. */
const char *hz_window_store_series_id(const hz_window_store *ws, uint32_t idx);

/* Copies series idx's window (the lookback slots ending at `done`, the newest settled slot),
 * oldest slot first, into out[lookback][nvars] (time-major); mask (may be NULL) gets lookback
 * bytes, 1 = every variable real, 0 = some filled or missing; *last_ts (may be NULL) gets
 * `done`'s timestamp.  Slots not yet seen are NaN and 0.  Returns the number of settled
 * slots held (<= lookback) or HZ_ENOTFOUND. */
int hz_window_store_copy(const hz_window_store *ws, uint32_t idx, float *out, uint8_t *mask,
                         int64_t *last_ts);

/* Variable var of series idx at the slot holding ts_ms into *out (NaN when that value is
 * missing or awaited).  Returns 0, or HZ_ENOTFOUND when the slot is not in the window. */
int hz_window_store_value(const hz_window_store *ws, uint32_t idx, int64_t ts_ms, int var,
                          double *out);

/* Replaces variable var of series idx's slot holding ts_ms with value (a fault kept out of
 * the model's input: pipeline.c); the slot keeps its real-point bit.  Returns 0, or
 * HZ_ENOTFOUND when the slot is not in the window (or idx, var out of range). */
int hz_window_store_patch(hz_window_store *ws, uint32_t idx, int64_t ts_ms, int var, double value);

/* Series idx's progress towards its next ready event: *held gets the settled slots held
 * (<= lookback), *since the newly settled slots since its last ready event (0 right after
 * one), *head_ts the time of `done`, the end of the window a forecast sees (each may be
 * NULL).  Returns 0 or HZ_ENOTFOUND. */
int hz_window_store_progress(const hz_window_store *ws, uint32_t idx, int *held, int *since,
                             int64_t *head_ts);

/* Empties the ready queue: the events a replay of history raised (those windows were
 * forecast by whoever first read them).  Returns how many were dropped. */
size_t hz_window_store_clear_ready(hz_window_store *ws);

hz_window_counters hz_window_store_counters(const hz_window_store *ws);

/* Bytes allocated by the store (slabs, mask bits, ids, hash table, queue). */
size_t hz_window_store_bytes(const hz_window_store *ws);

/* Rebuilds windows from a readings table (series, variable, ts, value; ts in ms): for every
 * series (or only `series` when not NULL) replays, in time order, the rows of the newest
 * `lookback + wait` slots, grouping the rows of one (series, ts) into one point; variables[i]
 * (nvars names) is the name of value i.  table NULL = "readings" (must be a valid
 * identifier).  Ready events raised by the replay are left in the queue.  *points (may be
 * NULL) gets the number of points replayed.  Returns 0, HZ_EINVAL or HZ_EDB. */
int hz_window_store_load_sqlite(hz_window_store *ws, sqlite3 *db, const char *table,
                                const char *const *variables, const char *series, uint64_t *points,
                                char *err, size_t errlen);

#endif
