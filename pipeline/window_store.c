/* window_store.c — per-series ring buffers on a regular grid (docs/ARCHITECTURE.md).  See
 * window_store.h for the placement, join, wait, fill and ready rules.
 *
 * Layout: a series record is one fixed-size block — header, one bit per slot and variable
 * (1 = real value), then (lookback + wait) × nvars floats — carved from slabs of WS_SLAB
 * records, so a store of 100k series × 720 × 1 var costs ~2.9 KB per series and no
 * allocation happens per reading.  An awaited value is the float NaN with payload
 * WS_AWAITED, told apart from a filled NaN by its bits.  Series ids are copied into an arena
 * of 64 KiB chunks.  Lookup is an open-addressing hash table (linear probing, FNV-1a, load
 * <= 0.5) of record indices. */
#include "pipeline/window_store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/sqlite_schema.h"

#define WS_SLAB     1024u
#define WS_ID_CHUNK 65536u
#define WS_AWAITED  0x7fc0a5a5u /* bits of the NaN an awaited value holds */

typedef struct ws_series {
    const char *id;
    int64_t head; /* newest slot held (holds a real value) */
    int64_t done; /* newest slot up to which every slot held is settled (>= head - wait) */
    uint64_t hash;
    int32_t n;      /* slots held, <= ring */
    int32_t since;  /* newly settled slots since the last ready event */
    uint8_t queued; /* in the ready queue */
    uint8_t full;   /* has held lookback slots at least once */
} ws_series;

typedef struct ws_chunk {
    struct ws_chunk *next;
    size_t used, cap;
    char data[];
} ws_chunk;

struct hz_window_store {
    hz_window_opts o;
    int64_t ring; /* slots per series: lookback + wait */
    size_t mask_bytes, rec_size, vals_off;
    unsigned char **slabs; /* each WS_SLAB records */
    size_t nslabs, slabs_cap;
    uint32_t nseries;
    uint32_t *table; /* record index + 1; 0 = empty */
    size_t table_cap;
    uint32_t *queue; /* ring of record indices */
    size_t q_cap, q_head, q_len;
    ws_chunk *ids;
    size_t id_bytes;
    hz_window_counters c;
};

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static size_t ring_pos(const hz_window_store *ws, int64_t slot)
{
    int64_t m = slot % ws->ring;
    return (size_t)(m < 0 ? m + ws->ring : m);
}

static ws_series *rec(const hz_window_store *ws, uint32_t idx)
{
    return (ws_series *)(ws->slabs[idx / WS_SLAB] + (size_t)(idx % WS_SLAB) * ws->rec_size);
}

static uint8_t *rec_mask(const hz_window_store *ws, ws_series *s)
{
    return (uint8_t *)s + sizeof(ws_series);
}

static float *rec_vals(const hz_window_store *ws, ws_series *s)
{
    return (float *)((unsigned char *)s + ws->vals_off);
}

hz_window_store *hz_window_store_new(const hz_window_opts *o, char *err, size_t errlen)
{
    if (!o || o->period_ms <= 0 || o->lookback <= 0 || o->nvars <= 0 || o->nvars > HZ_MAX_VARS ||
        o->stride <= 0 || o->fill < HZ_FILL_PREVIOUS || o->fill > HZ_FILL_NONE || o->wait < 0 ||
        o->wait > INT32_MAX - o->lookback || o->offset_ms < 0 || o->offset_ms >= o->period_ms) {
        hz_err(err, errlen, HZ_EINVAL,
               "window store: need period_ms > 0, lookback > 0, 1 <= nvars <= %d, stride > 0, "
               "wait >= 0, 0 <= offset_ms < period_ms and a fill policy",
               HZ_MAX_VARS);
        return NULL;
    }
    hz_window_store *ws = calloc(1, sizeof *ws);
    if (!ws) {
        hz_err(err, errlen, HZ_ENOMEM, "window store: out of memory");
        return NULL;
    }
    ws->o = *o;
    ws->ring = (int64_t)o->lookback + o->wait;
    ws->mask_bytes = ((size_t)ws->ring * (size_t)o->nvars + 7) / 8;
    ws->vals_off = (sizeof(ws_series) + ws->mask_bytes + 7) & ~(size_t)7;
    ws->rec_size =
        (ws->vals_off + (size_t)ws->ring * (size_t)o->nvars * sizeof(float) + 7) & ~(size_t)7;
    return ws;
}

void hz_window_store_free(hz_window_store *ws)
{
    if (!ws)
        return;
    for (size_t i = 0; i < ws->nslabs; i++)
        free(ws->slabs[i]);
    free(ws->slabs);
    free(ws->table);
    free(ws->queue);
    for (ws_chunk *c = ws->ids, *nx; c; c = nx) {
        nx = c->next;
        free(c);
    }
    free(ws);
}

static const char *id_copy(hz_window_store *ws, const char *s)
{
    size_t n = strlen(s) + 1;
    ws_chunk *c = ws->ids;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > WS_ID_CHUNK ? n : WS_ID_CHUNK;
        ws_chunk *nc = malloc(sizeof *nc + cap);
        if (!nc)
            return NULL;
        nc->used = 0;
        nc->cap = cap;
        /* keep the partly used chunk at the head when the new one is a one-off big id */
        if (c && n > WS_ID_CHUNK) {
            nc->next = c->next;
            c->next = nc;
        } else {
            nc->next = c;
            ws->ids = nc;
        }
        ws->id_bytes += sizeof *nc + cap;
        c = nc;
    }
    char *p = c->data + c->used;
    memcpy(p, s, n);
    c->used += n;
    return p;
}

static int table_grow(hz_window_store *ws)
{
    size_t cap = ws->table_cap ? ws->table_cap * 2 : 1024;
    uint32_t *t = calloc(cap, sizeof *t);
    if (!t)
        return HZ_ENOMEM;
    for (uint32_t i = 0; i < ws->nseries; i++) {
        size_t j = rec(ws, i)->hash & (cap - 1);
        while (t[j])
            j = (j + 1) & (cap - 1);
        t[j] = i + 1;
    }
    free(ws->table);
    ws->table = t;
    ws->table_cap = cap;
    return 0;
}

static int queue_grow(hz_window_store *ws, size_t need)
{
    if (need <= ws->q_cap)
        return 0;
    size_t cap = ws->q_cap ? ws->q_cap * 2 : 1024;
    while (cap < need)
        cap *= 2;
    uint32_t *q = malloc(cap * sizeof *q);
    if (!q)
        return HZ_ENOMEM;
    for (size_t i = 0; i < ws->q_len; i++)
        q[i] = ws->queue[(ws->q_head + i) % ws->q_cap];
    free(ws->queue);
    ws->queue = q;
    ws->q_cap = cap;
    ws->q_head = 0;
    return 0;
}

int64_t hz_window_store_find(const hz_window_store *ws, const char *series)
{
    if (!ws->table_cap || !series)
        return HZ_ENOTFOUND;
    uint64_t h = fnv1a(series);
    for (size_t j = h & (ws->table_cap - 1);; j = (j + 1) & (ws->table_cap - 1)) {
        uint32_t e = ws->table[j];
        if (!e)
            return HZ_ENOTFOUND;
        ws_series *s = rec(ws, e - 1);
        if (s->hash == h && !strcmp(s->id, series))
            return e - 1;
    }
}

/* Finds or creates series; NULL on no memory.  *created tells which. */
static ws_series *series_get(hz_window_store *ws, const char *series, int *created,
                             uint32_t *idx_out)
{
    *created = 0;
    uint64_t h = fnv1a(series);
    if (ws->table_cap) {
        for (size_t j = h & (ws->table_cap - 1);; j = (j + 1) & (ws->table_cap - 1)) {
            uint32_t e = ws->table[j];
            if (!e)
                break;
            ws_series *s = rec(ws, e - 1);
            if (s->hash == h && !strcmp(s->id, series)) {
                *idx_out = e - 1;
                return s;
            }
        }
    }
    if (ws->nseries == UINT32_MAX - 1)
        return NULL;
    if ((size_t)(ws->nseries + 1) * 2 > ws->table_cap && table_grow(ws))
        return NULL;
    if (queue_grow(ws, (size_t)ws->nseries + 1))
        return NULL;
    uint32_t idx = ws->nseries;
    if (idx / WS_SLAB >= ws->nslabs) {
        if (ws->nslabs == ws->slabs_cap) {
            size_t cap = ws->slabs_cap ? ws->slabs_cap * 2 : 16;
            unsigned char **sl = realloc(ws->slabs, cap * sizeof *sl);
            if (!sl)
                return NULL;
            ws->slabs = sl;
            ws->slabs_cap = cap;
        }
        unsigned char *slab = malloc(WS_SLAB * ws->rec_size);
        if (!slab)
            return NULL;
        ws->slabs[ws->nslabs++] = slab;
    }
    const char *id = id_copy(ws, series);
    if (!id)
        return NULL;
    ws_series *s = rec(ws, idx);
    memset(s, 0, ws->vals_off);
    s->id = id;
    s->hash = h;
    float *v = rec_vals(ws, s);
    for (size_t i = 0; i < (size_t)ws->ring * (size_t)ws->o.nvars; i++)
        v[i] = NAN;
    size_t j = h & (ws->table_cap - 1);
    while (ws->table[j])
        j = (j + 1) & (ws->table_cap - 1);
    ws->table[j] = idx + 1;
    ws->nseries++;
    ws->c.series = ws->nseries;
    *created = 1;
    *idx_out = idx;
    return s;
}

/* ---- one value: a cell is (ring position of a slot) × nvars + variable */

static size_t cell(const hz_window_store *ws, int64_t slot)
{
    return ring_pos(ws, slot) * (size_t)ws->o.nvars;
}

static float *val(const hz_window_store *ws, ws_series *s, size_t c)
{
    return rec_vals(ws, s) + c;
}

static int is_real(const hz_window_store *ws, ws_series *s, size_t c)
{
    return (rec_mask(ws, s)[c >> 3] >> (c & 7)) & 1;
}

static void set_real(const hz_window_store *ws, ws_series *s, size_t c, int real)
{
    uint8_t *m = rec_mask(ws, s);
    if (real)
        m[c >> 3] |= (uint8_t)(1u << (c & 7));
    else
        m[c >> 3] &= (uint8_t) ~(1u << (c & 7));
}

static int is_awaited(const float *v)
{
    uint32_t u;
    memcpy(&u, v, sizeof u);
    return u == WS_AWAITED;
}

/* Stores v (real or a fill); a NaN is stored as the plain NaN, never the awaited one. */
static void put(hz_window_store *ws, ws_series *s, size_t c, double v, int real)
{
    *val(ws, s, c) = isnan(v) ? NAN : (float)v;
    set_real(ws, s, c, real);
}

/* Every variable of the slot at cell c0 awaited, none real: a slot entering the ring. */
static void clear_slot(hz_window_store *ws, ws_series *s, size_t c0)
{
    uint32_t u = WS_AWAITED;
    for (int k = 0; k < ws->o.nvars; k++) {
        memcpy(val(ws, s, c0 + (size_t)k), &u, sizeof u);
        set_real(ws, s, c0 + (size_t)k, 0);
    }
}

static int slot_settled(const hz_window_store *ws, ws_series *s, int64_t slot)
{
    const float *v = val(ws, s, cell(ws, slot));
    for (int k = 0; k < ws->o.nvars; k++)
        if (is_awaited(v + k))
            return 0;
    return 1;
}

static int64_t earliest_of(const ws_series *s)
{
    return s->head - s->n + 1;
}

/* What a point's values landed on (place). */
enum { WS_LATE = 1, WS_DUP = 2 };

/* Writes the variables values carries into the slot at cell c0 as real values; fresh: the slot just
 * entered the ring (its other variables start waiting), else an awaited value written is merged.
 * Returns WS_* bits; *absent gets the number of variables the point lacks. */
static int place(hz_window_store *ws, ws_series *s, size_t c0, const double *values, int fresh,
                 int *absent)
{
    int what = 0;
    *absent = 0;
    for (int k = 0; k < ws->o.nvars; k++) {
        size_t c = c0 + (size_t)k;
        if (isnan(values[k])) {
            ++*absent;
            continue;
        }
        if (is_real(ws, s, c))
            what |= WS_DUP;
        else if (!is_awaited(val(ws, s, c)))
            what |= WS_LATE;
        else if (!fresh)
            ws->c.merged++;
        put(ws, s, c, values[k], 1);
    }
    if (fresh)
        ws->c.waited += (uint64_t)*absent;
    return what;
}

/* The policy's value for the awaited variable k of slot j, whose previous slot is settled:
 * previous: that slot's value; linear: towards the variable's next real value held, else
 * the previous value; none: NaN. */
static double wait_fill_value(const hz_window_store *ws, ws_series *s, int64_t j, int k)
{
    if (ws->o.fill == HZ_FILL_NONE)
        return NAN;
    double left = j > earliest_of(s) ? *val(ws, s, cell(ws, j - 1) + (size_t)k) : NAN;
    if (ws->o.fill == HZ_FILL_LINEAR)
        for (int64_t r = j + 1; r <= s->head; r++) {
            size_t c = cell(ws, r) + (size_t)k;
            if (is_real(ws, s, c))
                return left + (*val(ws, s, c) - left) / (double)(r - j + 1);
        }
    return left;
}

/* Fills the values still awaited in slots (done, upto] by the policy, oldest slot first. */
static void fill_waiting(hz_window_store *ws, ws_series *s, int64_t upto)
{
    int64_t from = s->done + 1 > earliest_of(s) ? s->done + 1 : earliest_of(s);
    for (int64_t j = from; j <= upto; j++) {
        size_t c0 = cell(ws, j);
        for (int k = 0; k < ws->o.nvars; k++)
            if (is_awaited(val(ws, s, c0 + (size_t)k))) {
                put(ws, s, c0 + (size_t)k, wait_fill_value(ws, s, j, k), 0);
                ws->c.wait_filled++;
            }
    }
}

static void add_since(ws_series *s, int64_t k)
{
    int64_t since = s->since + k;
    s->since = (int32_t)(since > INT32_MAX ? INT32_MAX : since);
}

static void maybe_ready(hz_window_store *ws, ws_series *s, uint32_t idx)
{
    if (s->done - earliest_of(s) + 1 < ws->o.lookback)
        return;
    int64_t phase = s->done + 1 - hz_floor_div(s->done + 1, ws->o.stride) * ws->o.stride;
    /* aligned: the boundary slot itself, or, once full, any passed since the last event
       (several slots settled at once) */
    if (ws->o.align &&
        (s->full ? phase >= s->since : !hz_window_aligned_end(s->done, ws->o.stride)))
        return;
    if (!ws->o.align && s->full && s->since < ws->o.stride)
        return;
    s->full = 1;
    s->since = 0;
    ws->c.ready++;
    if (s->queued)
        return;
    s->queued = 1;
    ws->queue[(ws->q_head + ws->q_len) % ws->q_cap] = idx;
    ws->q_len++;
}

/* Fills what waited `wait` slots, moves `done` over the settled slots, queues a ready event
 * when due. */
static void settle(hz_window_store *ws, ws_series *s, uint32_t idx)
{
    if (s->done < s->head) {
        fill_waiting(ws, s, s->head - ws->o.wait);
        int64_t d = s->done;
        while (d < s->head && slot_settled(ws, s, d + 1))
            d++;
        add_since(s, d - s->done);
        s->done = d;
    }
    maybe_ready(ws, s, idx);
}

/* Skipped slots [from, hi) after slot lo (values left) before the point right at hi: each
 * variable filled by the policy; with left_ok (settled flags; NULL: fill all), a variable
 * is awaited instead when its left value is (or, for linear, when the point lacks it). */
static void fill_gap(hz_window_store *ws, ws_series *s, int64_t lo, const double *left,
                     const int *left_ok, int64_t hi, const double *right, int64_t from)
{
    int fill = ws->o.fill;
    for (int64_t j = from; j < hi; j++) {
        size_t c0 = cell(ws, j);
        clear_slot(ws, s, c0);
        int any = 0;
        for (int k = 0; k < ws->o.nvars; k++) {
            if (left_ok && (!left_ok[k] || (fill == HZ_FILL_LINEAR && isnan(right[k])))) {
                ws->c.waited++;
                continue;
            }
            double v = fill == HZ_FILL_PREVIOUS ? left[k]
                       : fill == HZ_FILL_LINEAR
                           ? left[k] + (right[k] - left[k]) * (double)(j - lo) / (double)(hi - lo)
                           : NAN;
            put(ws, s, c0 + (size_t)k, v, 0);
            any = 1;
        }
        ws->c.filled += (uint64_t)any;
    }
}

/* A point at slot, newer than the head: the window moves on. */
static void advance(hz_window_store *ws, ws_series *s, int64_t slot, const double *values)
{
    int64_t k = slot - s->head, gone = slot - ws->ring; /* slots <= gone leave the ring */
    if (s->done < gone) { /* what waits there is filled before it leaves */
        fill_waiting(ws, s, gone < s->head ? gone : s->head);
        add_since(s, gone - s->done);
        s->done = gone;
    }
    int64_t old = s->head;
    uint64_t waited = ws->c.waited;
    double left[HZ_MAX_VARS];
    int left_ok[HZ_MAX_VARS];
    if (k > 1) { /* skipped slots */
        const float *hv = val(ws, s, cell(ws, s->head));
        for (int j = 0; j < ws->o.nvars; j++) {
            left_ok[j] = !is_awaited(hv + j);
            left[j] = hv[j];
        }
        fill_gap(ws, s, s->head, left, left_ok, slot, values,
                 s->head + 1 > gone ? s->head + 1 : gone + 1);
    }
    int absent;
    size_t c0 = cell(ws, slot);
    clear_slot(ws, s, c0);
    place(ws, s, c0, values, 1, &absent);
    s->head = slot;
    s->n = (int32_t)(s->n + k > ws->ring ? ws->ring : s->n + k);
    if (s->done >= old && ws->c.waited == waited) { /* nothing awaited: all settled */
        add_since(s, slot - s->done);
        s->done = slot;
    }
}

/* A point at slot older than every slot held (a young series): the window extends back;
 * the slots between are filled by the policy, the variables the point lacks at once with
 * NaN (they are behind `done`, and nothing precedes them). */
static void extend_back(hz_window_store *ws, ws_series *s, int64_t slot, const double *values)
{
    int64_t earliest = earliest_of(s);
    double right[HZ_MAX_VARS];
    const float *ev = val(ws, s, cell(ws, earliest));
    for (int k = 0; k < ws->o.nvars; k++)
        right[k] = is_awaited(ev + k) ? NAN : ev[k];
    fill_gap(ws, s, slot, values, NULL, earliest, right, slot + 1);
    int absent;
    size_t c0 = cell(ws, slot);
    clear_slot(ws, s, c0);
    place(ws, s, c0, values, 1, &absent);
    for (int k = 0; k < ws->o.nvars; k++)
        if (isnan(values[k])) {
            put(ws, s, c0 + (size_t)k, NAN, 0);
            ws->c.wait_filled++;
        }
    s->n = (int32_t)(s->head - slot + 1);
    ws->c.late_placed++;
}

int hz_window_store_push(hz_window_store *ws, const char *series, int64_t ts_ms,
                         const double *values)
{
    if (!series || !series[0]) {
        ws->c.rejected++;
        return HZ_EINVAL;
    }
    int created, absent;
    uint32_t idx;
    ws_series *s = series_get(ws, series, &created, &idx);
    if (!s)
        return HZ_ENOMEM;
    int64_t slot = hz_window_slot(&ws->o, ts_ms);
    if (created) {
        s->head = slot;
        s->done = slot - 1;
        s->n = 1;
        size_t c0 = cell(ws, slot);
        clear_slot(ws, s, c0);
        place(ws, s, c0, values, 1, &absent);
    } else if (slot > s->head) {
        advance(ws, s, slot, values);
    } else if (slot <= s->done - ws->o.lookback) {
        ws->c.dropped_late++;
        return 0;
    } else if (slot >= earliest_of(s)) {
        int what = place(ws, s, cell(ws, slot), values, 0, &absent);
        if (what & WS_DUP)
            ws->c.duplicates++;
        else if (what & WS_LATE)
            ws->c.late_placed++;
    } else {
        extend_back(ws, s, slot, values);
    }
    ws->c.accepted++;
    settle(ws, s, idx);
    return 0;
}

int hz_window_store_push_reading(hz_window_store *ws, const hz_reading *r)
{
    if (r->nvars != ws->o.nvars) {
        ws->c.rejected++;
        return HZ_EINVAL;
    }
    return hz_window_store_push(ws, r->series, r->ts_ms, r->values);
}

int hz_window_store_pop_ready(hz_window_store *ws, uint32_t *idx)
{
    if (!ws->q_len)
        return 0;
    *idx = ws->queue[ws->q_head];
    ws->q_head = (ws->q_head + 1) % ws->q_cap;
    ws->q_len--;
    rec(ws, *idx)->queued = 0;
    return 1;
}

/* Settled slots held, at most lookback: the slots of the window ending at `done`. */
static int settled_held(const hz_window_store *ws, const ws_series *s)
{
    int64_t n = s->done - earliest_of(s) + 1;
    return (int)(n < 0 ? 0 : n > ws->o.lookback ? ws->o.lookback : n);
}

int hz_window_store_progress(const hz_window_store *ws, uint32_t idx, int *held, int *since,
                             int64_t *head_ts)
{
    if (idx >= ws->nseries)
        return HZ_ENOTFOUND;
    const ws_series *s = rec(ws, idx);
    if (held)
        *held = settled_held(ws, s);
    if (since)
        *since = s->since;
    if (head_ts)
        *head_ts = hz_window_slot_ts(&ws->o, s->done);
    return 0;
}

size_t hz_window_store_clear_ready(hz_window_store *ws)
{
    size_t n = 0;
    uint32_t idx;
    while (hz_window_store_pop_ready(ws, &idx))
        n++;
    return n;
}

const char *hz_window_store_series_id(const hz_window_store *ws, uint32_t idx)
{
    return idx < ws->nseries ? rec(ws, idx)->id : NULL;
}

int hz_window_store_copy(const hz_window_store *ws, uint32_t idx, float *out, uint8_t *mask,
                         int64_t *last_ts)
{
    if (idx >= ws->nseries)
        return HZ_ENOTFOUND;
    ws_series *s = rec(ws, idx);
    int64_t L = ws->o.lookback, nv = ws->o.nvars;
    int64_t first = s->done - L + 1, earliest = earliest_of(s);
    for (int64_t i = 0; i < L; i++) {
        int64_t slot = first + i;
        float *o = out + i * nv;
        if (slot < earliest) {
            for (int64_t k = 0; k < nv; k++)
                o[k] = NAN;
            if (mask)
                mask[i] = 0;
            continue;
        }
        size_t c0 = cell(ws, slot);
        memcpy(o, val(ws, s, c0), (size_t)nv * sizeof(float));
        if (!mask)
            continue;
        mask[i] = 1;
        for (int k = 0; k < nv; k++)
            mask[i] &= (uint8_t)is_real(ws, s, c0 + (size_t)k);
    }
    if (last_ts)
        *last_ts = hz_window_slot_ts(&ws->o, s->done);
    return settled_held(ws, s);
}

int hz_window_store_value(const hz_window_store *ws, uint32_t idx, int64_t ts_ms, int var,
                          double *out)
{
    if (idx >= ws->nseries || var < 0 || var >= ws->o.nvars)
        return HZ_ENOTFOUND;
    ws_series *s = rec(ws, idx);
    int64_t slot = hz_window_slot(&ws->o, ts_ms);
    if (slot > s->head || slot < s->head - s->n + 1)
        return HZ_ENOTFOUND;
    *out = rec_vals(ws, s)[ring_pos(ws, slot) * (size_t)ws->o.nvars + (size_t)var];
    return 0;
}

int hz_window_store_patch(hz_window_store *ws, uint32_t idx, int64_t ts_ms, int var, double value)
{
    if (idx >= ws->nseries || var < 0 || var >= ws->o.nvars)
        return HZ_ENOTFOUND;
    ws_series *s = rec(ws, idx);
    int64_t slot = hz_window_slot(&ws->o, ts_ms);
    if (slot > s->head || slot < s->head - s->n + 1)
        return HZ_ENOTFOUND;
    rec_vals(ws, s)[ring_pos(ws, slot) * (size_t)ws->o.nvars + (size_t)var] = (float)value;
    return 0;
}

hz_window_counters hz_window_store_counters(const hz_window_store *ws)
{
    hz_window_counters c = ws->c;
    c.queued = ws->q_len;
    return c;
}

size_t hz_window_store_bytes(const hz_window_store *ws)
{
    return sizeof *ws + ws->nslabs * WS_SLAB * ws->rec_size + ws->slabs_cap * sizeof(void *) +
           ws->table_cap * sizeof(uint32_t) + ws->q_cap * sizeof(uint32_t) + ws->id_bytes;
}

/* Prepares the query for the last lookback + wait periods of each series (or of series). */
static int rebuild_stmt(const hz_window_store *ws, sqlite3 *db, const char *table,
                        const char *const *variables, const char *series, sqlite3_stmt **st,
                        char *err, size_t errlen)
{
    int nv = ws->o.nvars;
    char sql[1024];
    int off = snprintf(sql, sizeof sql,
                       "SELECT series, ts, variable, value FROM (SELECT series, variable, ts, "
                       "value, max(ts) OVER (PARTITION BY series) AS mx FROM %s WHERE "
                       "variable IN (",
                       table);
    for (int k = 0; k < nv; k++)
        off += snprintf(sql + off, sizeof sql - (size_t)off, "%s?", k ? "," : "");
    snprintf(sql + off, sizeof sql - (size_t)off,
             ")%s) WHERE ts >= (mx - ((mx - ?1003) %% ?1000 + ?1000) %% ?1000) - ?1001 "
             "ORDER BY series, ts",
             series ? " AND series = ?1002" : "");
    if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK)
        return hz_err(err, errlen, HZ_EDB, "window rebuild from %s: %s", table, sqlite3_errmsg(db));
    for (int k = 0; k < nv; k++)
        sqlite3_bind_text(*st, k + 1, variables[k], -1, SQLITE_STATIC);
    sqlite3_bind_int64(*st, 1000, ws->o.period_ms);
    sqlite3_bind_int64(*st, 1001, (ws->ring - 1) * ws->o.period_ms);
    sqlite3_bind_int64(*st, 1003, ws->o.offset_ms);
    if (series)
        sqlite3_bind_text(*st, 1002, series, -1, SQLITE_STATIC);
    return 0;
}

/* The reading being gathered from the consecutive rows of one (series, ts). */
typedef struct rebuild_point {
    char *cur; /* its series (owned) */
    size_t cur_cap;
    int have; /* a reading is being gathered */
    int64_t cur_ts;
    double vals[HZ_MAX_VARS];
    uint64_t npts; /* readings pushed */
} rebuild_point;

/* Takes one query row, pushing the gathered point when (series, ts) changes; 0/HZ_E*. */
static int rebuild_row(hz_window_store *ws, sqlite3_stmt *st, const char *const *variables,
                       rebuild_point *g, char *err, size_t errlen)
{
    int nv = ws->o.nvars;
    const char *ser = (const char *)sqlite3_column_text(st, 0);
    int64_t ts = sqlite3_column_int64(st, 1);
    const char *var = (const char *)sqlite3_column_text(st, 2);
    if (!ser || !var)
        return 0;
    if (g->have && (ts != g->cur_ts || strcmp(ser, g->cur))) {
        int rc = hz_window_store_push(ws, g->cur, g->cur_ts, g->vals);
        if (rc)
            return rc;
        g->npts++;
        g->have = 0;
    }
    if (!g->have) {
        size_t n = strlen(ser) + 1;
        if (n > g->cur_cap) {
            char *nc = realloc(g->cur, n);
            if (!nc)
                return hz_err(err, errlen, HZ_ENOMEM, "window rebuild: out of memory");
            g->cur = nc;
            g->cur_cap = n;
        }
        memcpy(g->cur, ser, n);
        g->cur_ts = ts;
        for (int k = 0; k < nv; k++)
            g->vals[k] = NAN;
        g->have = 1;
    }
    for (int k = 0; k < nv; k++)
        if (!strcmp(var, variables[k]))
            g->vals[k] =
                sqlite3_column_type(st, 3) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 3);
    return 0;
}

int hz_window_store_load_sqlite(hz_window_store *ws, sqlite3 *db, const char *table,
                                const char *const *variables, const char *series, uint64_t *points,
                                char *err, size_t errlen)
{
    if (points)
        *points = 0;
    if (!table)
        table = "readings";
    int rc = hz_sqlite_ident_check(table, "window rebuild: readings table", err, errlen);
    if (rc)
        return rc;
    sqlite3_stmt *st = NULL;
    if ((rc = rebuild_stmt(ws, db, table, variables, series, &st, err, errlen)))
        return rc;
    rebuild_point g = {.cur = NULL};
    for (;;) {
        int s = sqlite3_step(st);
        if (s == SQLITE_DONE)
            break;
        if (s != SQLITE_ROW) {
            rc = hz_err(err, errlen, HZ_EDB, "window rebuild from %s: %s", table,
                        sqlite3_errmsg(db));
            break;
        }
        if ((rc = rebuild_row(ws, st, variables, &g, err, errlen)))
            break;
    }
    if (!rc && g.have) {
        rc = hz_window_store_push(ws, g.cur, g.cur_ts, g.vals);
        if (!rc)
            g.npts++;
    }
    if (rc == HZ_ENOMEM)
        hz_err(err, errlen, HZ_ENOMEM, "window rebuild: out of memory");
    free(g.cur);
    sqlite3_finalize(st);
    if (points)
        *points = g.npts;
    return rc;
}
