/* sqlite_source.c — polls a readings table by rowid from a persisted cursor and groups the
 * rows of one (series, ts) into one reading (docs/ARCHITECTURE.md;
 * see sqlite_source.h). */
#include "connectors/sqlite_source.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct dead_ref {
    size_t origin, reason, payload, payload_len; /* offsets into the pool */
    int64_t rowid;
} dead_ref;

typedef struct sqlite_source {
    hz_source base;
    sqlite3 *db;
    sqlite3_stmt *sel, *ack, *get;
    char *path, *cursor, *table;
    char **vars;
    int nvars;
    int interval_ms;
    int64_t next_rowid; /* fetch after this rowid */
    hz_pos bpos;        /* the batch's last consumed rowid */
    int64_t acked;
    hz_reading *readings;
    size_t *series_off; /* pool offset of each reading's series */
    size_t readings_cap;
    hz_dead_letter *dead;
    dead_ref *dref;
    size_t dead_cap;
    char *pool;
    size_t pool_len, pool_cap;
} sqlite_source;

/* Appends bytes (plus NUL) to the pool; returns the offset or (size_t)-1. */
static size_t pool_add(sqlite_source *s, const void *b, size_t n)
{
    if (hz_grow((void **)&s->pool, &s->pool_cap, s->pool_len + n + 1, 1))
        return (size_t)-1;
    size_t off = s->pool_len;
    if (n)
        memcpy(s->pool + off, b, n);
    s->pool[off + n] = 0;
    s->pool_len += n + 1;
    return off;
}

static size_t pool_printf(sqlite_source *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static size_t pool_printf(sqlite_source *s, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof buf)
        n = sizeof buf - 1;
    return pool_add(s, buf, (size_t)n);
}

/* Reads a numeric column: 0 and *v, or -1 with why. */
static int col_number(sqlite3_stmt *st, int i, double *v, const char **why)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER:
    case SQLITE_FLOAT:
        *v = sqlite3_column_double(st, i);
        return 0;
    case SQLITE_NULL:
        *why = "is NULL";
        return -1;
    case SQLITE_TEXT: {
        const char *t = (const char *)sqlite3_column_text(st, i);
        char *end;
        errno = 0;
        *v = strtod(t, &end);
        while (*end == ' ')
            end++;
        if (end != t && !*end && !errno)
            return 0;
        *why = "is text that is not a number";
        return -1;
    }
    default:
        *why = "is a blob";
        return -1;
    }
}

static int add_dead(sqlite_source *s, size_t nd, sqlite3_stmt *st, int64_t rowid,
                    const char *reason)
{
    if (hz_grow((void **)&s->dead, &s->dead_cap, nd + 1, sizeof *s->dead))
        return HZ_ENOMEM;
    dead_ref *nr = realloc(s->dref, s->dead_cap * sizeof *nr);
    if (!nr)
        return HZ_ENOMEM;
    s->dref = nr;
    dead_ref *d = &s->dref[nd];
    d->rowid = rowid;
    d->origin = pool_printf(s, "%s/%lld", s->table, (long long)rowid);
    d->reason = pool_add(s, reason, strlen(reason));
    const char *ser = (const char *)sqlite3_column_text(st, 1);
    const char *var = (const char *)sqlite3_column_text(st, 2);
    const char *ts = (const char *)sqlite3_column_text(st, 3);
    const char *val = (const char *)sqlite3_column_text(st, 4);
    size_t before = s->pool_len;
    d->payload = pool_printf(s, "series=%s variable=%s ts=%s value=%s", ser ? ser : "NULL",
                             var ? var : "NULL", ts ? ts : "NULL", val ? val : "NULL");
    d->payload_len = s->pool_len - before - 1;
    if (d->origin == (size_t)-1 || d->reason == (size_t)-1 || d->payload == (size_t)-1)
        return HZ_ENOMEM;
    return 0;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* One poll's progress through the fetched rows. */
typedef struct poll_state {
    size_t nr, nd, fetched; /* readings, dead letters, rows fetched */
    int open_group;         /* the last reading may still take rows */
    int dead_in_group;      /* a dead letter came after the last reading opened */
    int full;               /* a row was left for the next batch */
    int64_t group_first;    /* first rowid of the last reading */
    int64_t consumed;       /* last rowid taken */
} poll_state;

/* Sizes the readings and their series offsets for max readings. */
static int reserve_batch(sqlite_source *s, size_t max, char *err, size_t errlen)
{
    if (hz_grow((void **)&s->readings, &s->readings_cap, max, sizeof *s->readings))
        return hz_err(err, errlen, HZ_ENOMEM, "sqlite source: out of memory");
    size_t *so = realloc(s->series_off, s->readings_cap * sizeof *so);
    if (!so)
        return hz_err(err, errlen, HZ_ENOMEM, "sqlite source: out of memory");
    s->series_off = so;
    return 0;
}

/* Index of var among the source's variables (the last match), or -1. */
static int var_index(const sqlite_source *s, const char *var)
{
    int k = -1;
    for (int j = 0; var && j < s->nvars; j++)
        if (!strcmp(var, s->vars[j]))
            k = j;
    return k;
}

/* Reads the row's ts and value; returns why the row is a dead letter (in reason), or NULL. */
static const char *row_problem(sqlite3_stmt *st, const char *ser, const char *var, int64_t *ts,
                               double *v, char *reason, size_t reasonlen)
{
    if (!ser) {
        snprintf(reason, reasonlen, "column series is NULL");
        return reason;
    }
    if (!var) {
        snprintf(reason, reasonlen, "column variable is NULL");
        return reason;
    }
    if (sqlite3_column_type(st, 3) != SQLITE_INTEGER) {
        snprintf(reason, reasonlen, "column ts: expected an integer (ms since the epoch), got %s",
                 sqlite3_column_type(st, 3) == SQLITE_NULL ? "NULL" : "another type");
        return reason;
    }
    *ts = sqlite3_column_int64(st, 3);
    const char *w;
    if (col_number(st, 4, v, &w)) {
        snprintf(reason, reasonlen, "column value %s", w);
        return reason;
    }
    return NULL;
}

/* Opens the next reading for (ser, ts) starting at rowid, values NaN; NULL when out of memory. */
static hz_reading *open_reading(sqlite_source *s, poll_state *ps, const char *ser, int64_t ts,
                                int64_t rowid)
{
    hz_reading *g = &s->readings[ps->nr];
    size_t off = pool_add(s, ser, strlen(ser));
    if (off == (size_t)-1)
        return NULL;
    s->series_off[ps->nr] = off;
    g->ts_ms = ts;
    g->nvars = s->nvars;
    for (int j = 0; j < s->nvars; j++)
        g->values[j] = NAN;
    g->pos.partition = -1;
    ps->nr++;
    ps->open_group = 1;
    ps->dead_in_group = 0;
    ps->group_first = rowid;
    return g;
}

/* Takes one fetched row (ps->full: it starts the next batch instead); 0 or HZ_ENOMEM. */
static int take_row(sqlite_source *s, sqlite3_stmt *st, size_t max, poll_state *ps)
{
    int64_t rowid = sqlite3_column_int64(st, 0);
    const char *ser = (const char *)sqlite3_column_text(st, 1);
    const char *var = (const char *)sqlite3_column_text(st, 2);
    int k = var_index(s, var);
    if (k < 0 && var) { /* a variable this source does not read */
        ps->consumed = rowid;
        return 0;
    }
    char reason[160];
    double v = NAN;
    int64_t ts = 0;
    const char *why = row_problem(st, ser, var, &ts, &v, reason, sizeof reason);
    hz_reading *g = ps->open_group ? &s->readings[ps->nr - 1] : NULL;
    int same = g && !why && g->ts_ms == ts && !strcmp(s->pool + s->series_off[ps->nr - 1], ser);
    if (!same && ps->nr + ps->nd >= max) {
        ps->full = 1; /* this row starts the next batch, so the last group is whole */
        return 0;
    }
    ps->consumed = rowid;
    if (why) {
        int rc = add_dead(s, ps->nd, st, rowid, why);
        if (rc)
            return rc;
        ps->nd++;
        if (ps->open_group)
            ps->dead_in_group = 1;
        return 0;
    }
    if (!same && !(g = open_reading(s, ps, ser, ts, rowid)))
        return HZ_ENOMEM;
    g->values[k] = v;
    g->pos.offset = rowid;
    return 0;
}

/* Points the batch's readings and dead letters into the pool and fills out. */
static int publish_batch(sqlite_source *s, hz_batch *out, size_t nr, size_t nd, int64_t consumed)
{
    for (size_t i = 0; i < nr; i++)
        s->readings[i].series = s->pool + s->series_off[i];
    int64_t now = hz_now_ms();
    for (size_t i = 0; i < nd; i++) {
        s->dead[i].origin = s->pool + s->dref[i].origin;
        s->dead[i].reason = s->pool + s->dref[i].reason;
        s->dead[i].payload = s->pool + s->dref[i].payload;
        s->dead[i].payload_len = s->dref[i].payload_len;
        s->dead[i].ts_ms = now;
        s->dead[i].pos = (hz_pos){-1, s->dref[i].rowid};
    }
    s->bpos = (hz_pos){-1, consumed};
    out->readings = s->readings;
    out->n_readings = nr;
    out->dead = s->dead;
    out->n_dead = nd;
    out->positions = &s->bpos;
    out->n_positions = nr + nd ? 1 : 0;
    return (int)(nr + nd);
}

/* One pass over the rows after next_rowid.  Returns records or a negative HZ_E*. */
static int poll_once(sqlite_source *s, hz_batch *out, size_t max, char *err, size_t errlen)
{
    size_t limit = max * (size_t)s->nvars + 1;
    int rc = reserve_batch(s, max, err, errlen);
    if (rc)
        return rc;
    s->pool_len = 0;
    sqlite3_stmt *st = s->sel;
    sqlite3_bind_int64(st, 1, s->next_rowid);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)limit);
    poll_state ps = {.consumed = s->next_rowid};
    for (;;) {
        int src = sqlite3_step(st);
        if (src == SQLITE_DONE)
            break;
        if (src != SQLITE_ROW) {
            rc = hz_err(err, errlen, HZ_EDB, "%s: reading %s: %s", s->path, s->table,
                        sqlite3_errmsg(s->db));
            break;
        }
        ps.fetched++;
        if ((rc = take_row(s, st, max, &ps)) || ps.full)
            break;
    }
    int hit_limit = !ps.full && ps.fetched >= limit;
    sqlite3_reset(st);
    if (rc == HZ_ENOMEM)
        return hz_err(err, errlen, HZ_ENOMEM, "sqlite source: out of memory");
    if (rc)
        return rc;
    /* the last group may continue in rows not fetched yet: re-read it next time */
    if (hit_limit && ps.open_group && ps.nr > 1 && !ps.dead_in_group) {
        ps.nr--;
        ps.consumed = ps.group_first - 1;
    }
    s->next_rowid = ps.consumed;
    return publish_batch(s, out, ps.nr, ps.nd, ps.consumed);
}

static int src_poll(hz_source *src, hz_batch *out, size_t max, int timeout_ms, char *err,
                    size_t errlen)
{
    sqlite_source *s = (sqlite_source *)src;
    memset(out, 0, sizeof *out);
    if (max == 0)
        return 0;
    int64_t deadline = hz_mono_ns() + (int64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000000;
    for (;;) {
        int64_t before = s->next_rowid;
        int n = poll_once(s, out, max, err, errlen);
        if (n != 0)
            return n;
        if (s->next_rowid != before)
            continue; /* only skipped rows so far: keep reading */
        int64_t left = (deadline - hz_mono_ns()) / 1000000;
        if (left <= 0)
            return 0;
        sleep_ms(left < s->interval_ms ? (int)left : s->interval_ms);
    }
}

static int src_ack(hz_source *src, const hz_pos *pos, char *err, size_t errlen)
{
    sqlite_source *s = (sqlite_source *)src;
    if (pos->offset <= s->acked)
        return 0;
    sqlite3_bind_text(s->ack, 1, s->cursor, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s->ack, 2, pos->offset);
    int rc = sqlite3_step(s->ack);
    sqlite3_reset(s->ack);
    if (rc != SQLITE_DONE)
        return hz_err(err, errlen, HZ_EDB, "%s: saving cursor \"%s\": %s", s->path, s->cursor,
                      sqlite3_errmsg(s->db));
    s->acked = pos->offset;
    return 0;
}

static void src_free(hz_source *src)
{
    sqlite_source *s = (sqlite_source *)src;
    if (!s)
        return;
    sqlite3_finalize(s->sel);
    sqlite3_finalize(s->ack);
    sqlite3_finalize(s->get);
    sqlite3_close_v2(s->db);
    for (int i = 0; s->vars && i < s->nvars; i++)
        free(s->vars[i]);
    free(s->vars);
    free(s->path);
    free(s->cursor);
    free(s->table);
    free(s->readings);
    free(s->series_off);
    free(s->dead);
    free(s->dref);
    free(s->pool);
    free(s);
}

static const hz_source_ops sqlite_source_ops = {
    .kind = "sqlite", .poll = src_poll, .ack = src_ack, .free = src_free};

int hz_sqlite_source_new(const hz_sqlite_source_opts *o, hz_source **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!o || !o->path || !o->cursor || !o->cursor[0] || !o->variables || o->nvars < 1 ||
        o->nvars > HZ_MAX_VARS)
        return hz_err(err, errlen, HZ_EINVAL,
                      "sqlite source: path, cursor and 1..%d variables are required", HZ_MAX_VARS);
    const char *table = o->table ? o->table : "readings";
    const char *cursors = o->cursors ? o->cursors : "cursors";
    int rc = hz_sqlite_ident_check(table, "sqlite source table", err, errlen);
    if (rc || (rc = hz_sqlite_ident_check(cursors, "sqlite source cursors table", err, errlen)))
        return rc;
    sqlite_source *s = calloc(1, sizeof *s);
    if (!s)
        return hz_err(err, errlen, HZ_ENOMEM, "sqlite source: out of memory");
    s->base.ops = &sqlite_source_ops;
    s->interval_ms = o->poll_interval_ms > 0 ? o->poll_interval_ms : 100;
    s->nvars = o->nvars;
    s->path = strdup(o->path);
    s->cursor = strdup(o->cursor);
    s->table = strdup(table);
    s->vars = calloc((size_t)o->nvars, sizeof *s->vars);
    if (!s->path || !s->cursor || !s->table || !s->vars)
        goto nomem;
    for (int i = 0; i < o->nvars; i++)
        if (!(s->vars[i] = strdup(o->variables[i])))
            goto nomem;
    /* the file must exist: a typo in a path should not create an empty database */
    sqlite3 *probe = NULL;
    if (sqlite3_open_v2(o->path, &probe, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        rc = hz_err(err, errlen, HZ_EDB, "%s: cannot open database: %s", o->path,
                    probe ? sqlite3_errmsg(probe) : "out of memory");
        sqlite3_close_v2(probe);
        goto fail;
    }
    sqlite3_close_v2(probe);
    if ((rc = hz_sqlite_open(o->path, 1, o->busy_timeout_ms, &s->db, err, errlen)))
        goto fail;
    char sql[512];
    snprintf(sql, sizeof sql,
             "CREATE TABLE IF NOT EXISTS %s(name TEXT PRIMARY KEY, position INTEGER NOT NULL)",
             cursors);
    char e2[HZ_ERRLEN];
    if ((rc = hz_sqlite_exec(s->db, sql, e2, sizeof e2))) {
        hz_err(err, errlen, rc, "%s: %s", o->path, e2);
        goto fail;
    }
    snprintf(sql, sizeof sql,
             "SELECT rowid, series, variable, ts, value FROM %s WHERE rowid > ?1 "
             "ORDER BY rowid LIMIT ?2",
             table);
    if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->sel, NULL))
        goto dberr;
    snprintf(sql, sizeof sql,
             "INSERT INTO %s(name, position) VALUES(?1, ?2) ON CONFLICT(name) DO UPDATE SET "
             "position = max(position, excluded.position)",
             cursors);
    if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->ack, NULL))
        goto dberr;
    snprintf(sql, sizeof sql, "SELECT position FROM %s WHERE name = ?1", cursors);
    if (sqlite3_prepare_v2(s->db, sql, -1, &s->get, NULL))
        goto dberr;
    sqlite3_bind_text(s->get, 1, s->cursor, -1, SQLITE_STATIC);
    int st = sqlite3_step(s->get);
    if (st == SQLITE_ROW)
        s->acked = sqlite3_column_int64(s->get, 0);
    else if (st != SQLITE_DONE)
        goto dberr;
    sqlite3_reset(s->get);
    s->next_rowid = s->acked;
    *out = &s->base;
    return 0;
dberr:
    rc = hz_err(err, errlen, HZ_EDB, "%s: %s", o->path, sqlite3_errmsg(s->db));
    goto fail;
nomem:
    rc = hz_err(err, errlen, HZ_ENOMEM, "sqlite source: out of memory");
fail:
    src_free(&s->base);
    return rc;
}

int64_t hz_sqlite_source_position(const hz_source *src)
{
    return ((const sqlite_source *)src)->acked;
}
