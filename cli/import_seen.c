/* import_seen.c — the (series, timestamp) set of one import (see import_seen.h): series
 * names interned to small ids, then (id, ts) pairs in an open-addressing table (linear
 * probing, at most half full). */
#include "cli/import_seen.h"

#include <stdlib.h>
#include <string.h>

#include "common/hz.h"

typedef struct seen_slot {
    int64_t ts;
    int32_t sid;
    uint32_t line; /* 0: empty; lines past UINT32_MAX are kept as UINT32_MAX (16-byte slots) */
} seen_slot;

struct hz_import_seen {
    char **names; /* series by id */
    size_t nnames, names_cap;
    int32_t *by_name; /* id + 1 by name hash, 0: empty; name_slots entries */
    size_t name_slots;
    int32_t last_sid; /* the previous row's series (rows of one series come together) */
    seen_slot *slots;
    size_t nslots, used;
};

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

static uint64_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

hz_import_seen *hz_import_seen_new(void)
{
    hz_import_seen *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->last_sid = -1;
    s->nslots = 1024;
    s->name_slots = 64;
    s->slots = calloc(s->nslots, sizeof *s->slots);
    s->by_name = calloc(s->name_slots, sizeof *s->by_name);
    if (!s->slots || !s->by_name) {
        hz_import_seen_free(s);
        return NULL;
    }
    return s;
}

void hz_import_seen_free(hz_import_seen *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nnames; i++)
        free(s->names[i]);
    free(s->names);
    free(s->by_name);
    free(s->slots);
    free(s);
}

/* Doubles the name table (ids stay). */
static int grow_names(hz_import_seen *s)
{
    size_t n = s->name_slots * 2;
    int32_t *t = calloc(n, sizeof *t);
    if (!t)
        return HZ_ENOMEM;
    for (size_t id = 0; id < s->nnames; id++) {
        size_t i = name_hash(s->names[id]) & (n - 1);
        while (t[i])
            i = (i + 1) & (n - 1);
        t[i] = (int32_t)id + 1;
    }
    free(s->by_name);
    s->by_name = t;
    s->name_slots = n;
    return 0;
}

/* The id of series (added when new); HZ_ENOMEM. */
static int32_t series_id(hz_import_seen *s, const char *series)
{
    if (s->last_sid >= 0 && !strcmp(s->names[s->last_sid], series))
        return s->last_sid;
    if ((s->nnames + 1) * 2 > s->name_slots && grow_names(s))
        return HZ_ENOMEM;
    size_t mask = s->name_slots - 1, i = name_hash(series) & mask;
    for (; s->by_name[i]; i = (i + 1) & mask)
        if (!strcmp(s->names[s->by_name[i] - 1], series))
            return s->last_sid = s->by_name[i] - 1;
    if (hz_grow((void **)&s->names, &s->names_cap, s->nnames + 1, sizeof *s->names))
        return HZ_ENOMEM;
    if (!(s->names[s->nnames] = strdup(series)))
        return HZ_ENOMEM;
    s->by_name[i] = (int32_t)++s->nnames;
    return s->last_sid = (int32_t)s->nnames - 1;
}

static size_t slot_of(const seen_slot *t, size_t n, int32_t sid, int64_t ts)
{
    size_t i = mix((uint64_t)ts ^ ((uint64_t)sid * 0x9e3779b97f4a7c15ULL)) & (n - 1);
    while (t[i].line && !(t[i].ts == ts && t[i].sid == sid))
        i = (i + 1) & (n - 1);
    return i;
}

/* Doubles the pair table. */
static int grow_slots(hz_import_seen *s)
{
    size_t n = s->nslots * 2;
    seen_slot *t = calloc(n, sizeof *t);
    if (!t)
        return HZ_ENOMEM;
    for (size_t i = 0; i < s->nslots; i++)
        if (s->slots[i].line)
            t[slot_of(t, n, s->slots[i].sid, s->slots[i].ts)] = s->slots[i];
    free(s->slots);
    s->slots = t;
    s->nslots = n;
    return 0;
}

long hz_import_seen_add(hz_import_seen *s, const char *series, int64_t ts_ms, long line)
{
    int32_t sid = series_id(s, series);
    if (sid < 0)
        return HZ_ENOMEM;
    if ((s->used + 1) * 2 > s->nslots && grow_slots(s))
        return HZ_ENOMEM;
    seen_slot *e = &s->slots[slot_of(s->slots, s->nslots, sid, ts_ms)];
    if (e->line)
        return (long)e->line;
    *e = (seen_slot){ts_ms, sid, line < (long)UINT32_MAX ? (uint32_t)line : UINT32_MAX};
    s->used++;
    return 0;
}

size_t hz_import_seen_series(const hz_import_seen *s)
{
    return s->nnames;
}
