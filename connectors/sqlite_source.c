/* sqlite_source.c — polls a readings table in time order from a persisted cursor and groups
 * the rows of one (series, ts) next to each other into one reading (docs/ARCHITECTURE.md §5;
 * see sqlite_source.h).
 *
 * Cursor: the rows with rowid <= lo are delivered; the rows of the *epoch* (lo, hi] — hi was
 * max(rowid) when the epoch began — are delivered in (k, rowid) order, k = ts (rows whose ts
 * is not an integer, dead letters, first: k = INT64_MIN), up to and including (ts, rowid).
 * When an epoch is read to its end, lo = hi and the next poll begins the next epoch with
 * the rows appended since.  So rows present at start are read in time order whatever order
 * they were imported in (a variable imported after another joins it by time), rows
 * appended later are still read (in the next epoch: a late import of old times then
 * reaches windows that moved on, and is counted late there), and the cursor is four
 * integers, saved in `cursors` (position = lo, epoch_hi, at_ts, at_rowid) when the batch
 * that reached it is acknowledged (positions are batch numbers: `pend` maps them to
 * cursors).
 *
 * Plans: an epoch of more than EPOCH_SCAN_BATCHES polls' rows walks the index TABLE_by_ts
 * (ts; created here if absent, with TABLE_odd_ts of the rows whose ts is not an integer)
 * from the cursor — a seek on (ts = at_ts, rowid > at_rowid) merged with ts > at_ts, so a
 * poll costs its own rows, not the rows before the cursor; a smaller one (the steady tail
 * of appends) scans its rowid range and sorts it, so a late row with an old ts does not
 * send the poll through the index from that time on. */
#include "connectors/sqlite_source.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "connectors/reading_check.h"

#define KEY_MIN            INT64_MIN
#define EPOCH_SCAN_BATCHES 8 /* epochs up to this many polls' rows: rowid scan + sort */

/* Where the source stands: rowid <= lo delivered; (lo, hi] delivered up to key (ts, rowid).
 * taken: rows of the epoch taken by this process (for the lag; not saved). */
typedef struct sq_cursor {
    int64_t lo, hi, ts, rowid, taken;
} sq_cursor;

/* A polled batch's cursor, saved when the batch (its number seq) is acknowledged. */
typedef struct sq_pending {
    int64_t seq;
    sq_cursor at;
} sq_pending;

typedef struct dead_ref {
    size_t origin, reason, payload, payload_len; /* offsets into the pool */
    int64_t rowid;
} dead_ref;

typedef struct sqlite_source {
    hz_source base;
    sqlite3 *db;
    sqlite3_stmt *sel_idx, *sel_scan, *top, *ack, *get;
    char *path, *cursor, *table;
    char **vars;
    int nvars;
    int interval_ms;
    int64_t max_future_ms; /* hz_sqlite_source_opts */
    sq_cursor cur;         /* the next poll reads after this */
    sq_cursor acked;       /* what `cursors` holds */
    int64_t seq;           /* batches polled */
    hz_pos bpos;           /* {-1, the batch's number} */
    sq_pending *pend;      /* batches polled, not acknowledged yet, oldest first */
    size_t npend, pend_cap;
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
    int64_t group_rows;     /* rows taken since it opened */
    int64_t ts, rowid;      /* key of the last row taken */
    int64_t taken;          /* rows taken */
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
static const char *row_problem(const sqlite_source *s, sqlite3_stmt *st, const char *ser,
                               const char *var, int64_t *ts, double *v, char *reason,
                               size_t reasonlen)
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
    char why[200]; /* the rules of every source (connectors/reading_check.h) */
    const char *col = "ts";
    if (hz_check_ts(*ts, s->max_future_ms, hz_now_ms(), why, sizeof why) == 0) {
        col = "value";
        if (hz_check_value(*v, why, sizeof why) == 0)
            return NULL;
    }
    snprintf(reason, reasonlen, "column %s: %s", col, why);
    return reason;
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
    ps->group_rows = 0;
    return g;
}

/* Takes one fetched row (ps->full: it starts the next batch instead); 0 or HZ_ENOMEM. */
static int take_row(sqlite_source *s, sqlite3_stmt *st, size_t max, poll_state *ps)
{
    int64_t rowid = sqlite3_column_int64(st, 0), key = sqlite3_column_int64(st, 5);
    const char *ser = (const char *)sqlite3_column_text(st, 1);
    const char *var = (const char *)sqlite3_column_text(st, 2);
    int k = var_index(s, var);
    if (k < 0 && var) { /* a variable this source does not read */
        ps->ts = key;
        ps->rowid = rowid;
        ps->taken++;
        ps->group_rows++;
        return 0;
    }
    char reason[256];
    double v = NAN;
    int64_t ts = 0;
    const char *why = row_problem(s, st, ser, var, &ts, &v, reason, sizeof reason);
    hz_reading *g = ps->open_group ? &s->readings[ps->nr - 1] : NULL;
    int same = g && !why && g->ts_ms == ts && !strcmp(s->pool + s->series_off[ps->nr - 1], ser);
    if (!same && ps->nr + ps->nd >= max) {
        ps->full = 1; /* this row starts the next batch, so the last group is whole */
        return 0;
    }
    ps->ts = key;
    ps->rowid = rowid;
    ps->taken++;
    ps->group_rows++;
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
    ps->group_rows += !same; /* this row, counted before the group opened */
    g->values[k] = v;
    g->pos.offset = rowid;
    return 0;
}

/* Keeps the batch's cursor under a new batch number until it is acknowledged. */
static int note_pending(sqlite_source *s)
{
    if (hz_grow((void **)&s->pend, &s->pend_cap, s->npend + 1, sizeof *s->pend))
        return HZ_ENOMEM;
    s->pend[s->npend++] = (sq_pending){++s->seq, s->cur};
    return 0;
}

/* Points the batch's readings and dead letters into the pool and fills out. */
static int publish_batch(sqlite_source *s, hz_batch *out, size_t nr, size_t nd)
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
    s->bpos = (hz_pos){-1, s->seq};
    out->readings = s->readings;
    out->n_readings = nr;
    out->dead = s->dead;
    out->n_dead = nd;
    out->positions = &s->bpos;
    out->n_positions = nr + nd ? 1 : 0;
    return (int)(nr + nd);
}

/* Begins the next epoch when the last one was read to its end: 1 when there is one to read,
 * 0 when no row was appended, or a negative HZ_E*. */
static int epoch_ready(sqlite_source *s, char *err, size_t errlen)
{
    if (s->cur.hi > s->cur.lo)
        return 1;
    int rc = sqlite3_step(s->top);
    int64_t top = rc == SQLITE_ROW ? sqlite3_column_int64(s->top, 0) : 0;
    sqlite3_reset(s->top);
    if (rc != SQLITE_ROW)
        return hz_err(err, errlen, HZ_EDB, "%s: reading %s: %s", s->path, s->table,
                      sqlite3_errmsg(s->db));
    if (top <= s->cur.lo)
        return 0;
    s->cur = (sq_cursor){s->cur.lo, top, KEY_MIN, KEY_MIN, 0};
    return 1;
}

/* The query for the epoch from the cursor: the index walk or the scan (opening comment). */
static sqlite3_stmt *epoch_stmt(sqlite_source *s, size_t limit)
{
    sqlite3_stmt *st =
        (uint64_t)(s->cur.hi - s->cur.lo) > limit * EPOCH_SCAN_BATCHES ? s->sel_idx : s->sel_scan;
    sqlite3_bind_int64(st, 1, s->cur.ts);
    sqlite3_bind_int64(st, 2, s->cur.rowid);
    sqlite3_bind_int64(st, 3, s->cur.lo);
    sqlite3_bind_int64(st, 4, s->cur.hi);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)limit);
    return st;
}

/* Steps st through the epoch's next rows into ps; 0 or HZ_E*. */
static int fetch_rows(sqlite_source *s, sqlite3_stmt *st, size_t max, size_t limit, poll_state *ps,
                      int *done, char *err, size_t errlen)
{
    *done = 0;
    for (;;) {
        int src = sqlite3_step(st);
        if (src == SQLITE_DONE) {
            *done = 1;
            return 0;
        }
        if (src != SQLITE_ROW)
            return hz_err(err, errlen, HZ_EDB, "%s: reading %s: %s", s->path, s->table,
                          sqlite3_errmsg(s->db));
        ps->fetched++;
        int rc = take_row(s, st, max, ps);
        if (rc == HZ_ENOMEM)
            return hz_err(err, errlen, HZ_ENOMEM, "sqlite source: out of memory");
        if (ps->full || ps->fetched >= limit)
            return 0;
    }
}

/* One pass over the epoch's rows after the cursor.  Returns records or a negative HZ_E*. */
static int poll_once(sqlite_source *s, hz_batch *out, size_t max, char *err, size_t errlen)
{
    size_t limit = max * (size_t)s->nvars + 1;
    int rc = reserve_batch(s, max, err, errlen);
    if (rc || (rc = epoch_ready(s, err, errlen)) <= 0)
        return rc;
    s->pool_len = 0;
    sqlite3_stmt *st = epoch_stmt(s, limit);
    poll_state ps = {.ts = s->cur.ts, .rowid = s->cur.rowid};
    int done;
    rc = fetch_rows(s, st, max, limit, &ps, &done, err, errlen);
    sqlite3_reset(st);
    if (rc)
        return rc;
    /* the last group may continue in rows not fetched yet: re-read it next time */
    if (!done && !ps.full && ps.open_group && ps.nr > 1 && !ps.dead_in_group) {
        ps.nr--; /* rows skipped after it may have later keys: the key is the group's */
        ps.ts = s->readings[ps.nr].ts_ms;
        ps.rowid = ps.group_first - 1;
        ps.taken -= ps.group_rows;
    }
    s->cur.ts = ps.ts;
    s->cur.rowid = ps.rowid;
    s->cur.taken += ps.taken;
    if (done) /* the epoch is read: the next poll begins the next one */
        s->cur = (sq_cursor){s->cur.hi, s->cur.hi, KEY_MIN, KEY_MIN, 0};
    if (ps.nr + ps.nd && note_pending(s))
        return hz_err(err, errlen, HZ_ENOMEM, "sqlite source: out of memory");
    return publish_batch(s, out, ps.nr, ps.nd);
}

static int same_cursor(const sq_cursor *a, const sq_cursor *b)
{
    return a->lo == b->lo && a->hi == b->hi && a->ts == b->ts && a->rowid == b->rowid;
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
        sq_cursor before = s->cur;
        int n = poll_once(s, out, max, err, errlen);
        if (n != 0)
            return n;
        if (!same_cursor(&s->cur, &before))
            continue; /* only skipped rows, or an epoch's end, so far: keep reading */
        int64_t left = (deadline - hz_mono_ns()) / 1000000;
        if (left <= 0)
            return 0;
        sleep_ms(left < s->interval_ms ? (int)left : s->interval_ms);
    }
}

/* Saves cursor c as this source's row of `cursors`. */
static int save_cursor(sqlite_source *s, const sq_cursor *c, char *err, size_t errlen)
{
    sqlite3_bind_text(s->ack, 1, s->cursor, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s->ack, 2, c->lo);
    sqlite3_bind_int64(s->ack, 3, c->hi);
    sqlite3_bind_int64(s->ack, 4, c->ts);
    sqlite3_bind_int64(s->ack, 5, c->rowid);
    int rc = sqlite3_step(s->ack);
    sqlite3_reset(s->ack);
    if (rc != SQLITE_DONE)
        return hz_err(err, errlen, HZ_EDB, "%s: saving cursor \"%s\": %s", s->path, s->cursor,
                      sqlite3_errmsg(s->db));
    s->acked = *c;
    return 0;
}

/* pos->offset is a batch number: its cursor, and those of the batches before, are done. */
static int src_ack(hz_source *src, const hz_pos *pos, char *err, size_t errlen)
{
    sqlite_source *s = (sqlite_source *)src;
    size_t n = 0;
    while (n < s->npend && s->pend[n].seq <= pos->offset)
        n++;
    if (!n)
        return 0;
    int rc = save_cursor(s, &s->pend[n - 1].at, err, errlen);
    if (rc)
        return rc;
    memmove(s->pend, s->pend + n, (s->npend - n) * sizeof *s->pend);
    s->npend -= n;
    return 0;
}

static void src_free(hz_source *src)
{
    sqlite_source *s = (sqlite_source *)src;
    if (!s)
        return;
    sqlite3_finalize(s->sel_idx);
    sqlite3_finalize(s->sel_scan);
    sqlite3_finalize(s->top);
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
    free(s->pend);
    free(s);
}

static const hz_source_ops sqlite_source_ops = {
    .kind = "sqlite", .poll = src_poll, .ack = src_ack, .free = src_free};

/* The key of a row: its ts when an integer, else KEY_MIN (read first: a dead letter). */
#define KEY_SQL "CASE WHEN typeof(ts) = 'integer' THEN ts ELSE -9223372036854775808 END"

/* Creates the cursors table (with the epoch columns, added to an older one) and the indexes
 * of the readings table when absent: by ts, and of the rows whose ts is not an integer (a
 * partial index, empty unless something wrote such rows: they are found without a scan). */
static int prepare_tables(sqlite_source *s, const char *cursors, char *err, size_t errlen)
{
    char sql[512], e2[HZ_ERRLEN];
    snprintf(sql, sizeof sql,
             "CREATE TABLE IF NOT EXISTS %s(name TEXT PRIMARY KEY, position INTEGER NOT NULL, "
             "epoch_hi INTEGER, at_ts INTEGER, at_rowid INTEGER);"
             "CREATE INDEX IF NOT EXISTS %s_by_ts ON %s(ts);"
             "CREATE INDEX IF NOT EXISTS %s_odd_ts ON %s(ts) WHERE typeof(ts) != 'integer';",
             cursors, s->table, s->table, s->table, s->table);
    int rc = hz_sqlite_exec(s->db, sql, e2, sizeof e2);
    const char *cols[] = {"epoch_hi", "at_ts", "at_rowid"};
    for (int i = 0; !rc && i < 3; i++)
        rc = hz_sqlite_add_column(s->db, cursors, cols[i], "INTEGER", e2, sizeof e2);
    return rc ? hz_err(err, errlen, rc, "%s: %s", s->path, e2) : 0;
}

static int prepare(sqlite_source *s, const char *sql, sqlite3_stmt **st)
{
    return sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK;
}

/* The statements: the two epoch plans, max(rowid), save and load of the cursor. */
static int prepare_statements(sqlite_source *s, const char *cursors)
{
    const char *t = s->table;
    char sql[1600];
    snprintf(sql, sizeof sql,
             "SELECT rowid AS rid, series, variable, ts, value, -9223372036854775808 AS k "
             "FROM %1$s INDEXED BY %1$s_odd_ts WHERE ?1 = -9223372036854775808 AND "
             "rowid > max(?2, ?3) "
             "AND rowid <= ?4 AND typeof(ts) != 'integer' "
             "UNION ALL SELECT rowid, series, variable, ts, value, ts FROM %1$s INDEXED BY "
             "%1$s_by_ts WHERE ts = ?1 AND rowid > max(?2, ?3) AND rowid <= ?4 AND "
             "typeof(ts) = 'integer' "
             "UNION ALL SELECT rowid, series, variable, ts, value, ts FROM %1$s INDEXED BY "
             "%1$s_by_ts WHERE ts > ?1 AND rowid > ?3 AND rowid <= ?4 AND "
             "typeof(ts) = 'integer' ORDER BY 6, 1 LIMIT ?5",
             t);
    if (prepare(s, sql, &s->sel_idx))
        return 1;
    snprintf(sql, sizeof sql,
             "SELECT rid, series, variable, ts, value, k FROM (SELECT rowid AS rid, series, "
             "variable, ts, value, " KEY_SQL " AS k FROM %s NOT INDEXED WHERE rowid > ?3 AND "
             "rowid <= ?4) WHERE (k, rid) > (?1, ?2) ORDER BY k, rid LIMIT ?5",
             t);
    if (prepare(s, sql, &s->sel_scan))
        return 1;
    snprintf(sql, sizeof sql, "SELECT coalesce(max(rowid), 0) FROM %s", t);
    if (prepare(s, sql, &s->top))
        return 1;
    snprintf(sql, sizeof sql,
             "INSERT INTO %s(name, position, epoch_hi, at_ts, at_rowid) VALUES(?1, ?2, ?3, ?4, "
             "?5) ON CONFLICT(name) DO UPDATE SET position = excluded.position, epoch_hi = "
             "excluded.epoch_hi, at_ts = excluded.at_ts, at_rowid = excluded.at_rowid",
             cursors);
    if (prepare(s, sql, &s->ack))
        return 1;
    snprintf(sql, sizeof sql, "SELECT position, epoch_hi, at_ts, at_rowid FROM %s WHERE name = ?1",
             cursors);
    return sqlite3_prepare_v2(s->db, sql, -1, &s->get, NULL) != SQLITE_OK;
}

/* Reads this source's saved cursor (none: the table's start). */
static int load_cursor(sqlite_source *s)
{
    sqlite3_bind_text(s->get, 1, s->cursor, -1, SQLITE_STATIC);
    int st = sqlite3_step(s->get);
    sq_cursor c = {0, 0, KEY_MIN, KEY_MIN, 0};
    if (st == SQLITE_ROW) {
        c.lo = c.hi = sqlite3_column_int64(s->get, 0);
        int64_t hi = sqlite3_column_int64(s->get, 1);
        if (sqlite3_column_type(s->get, 1) != SQLITE_NULL && hi > c.lo) { /* inside an epoch */
            c.hi = hi;
            c.ts = sqlite3_column_int64(s->get, 2);
            c.rowid = sqlite3_column_int64(s->get, 3);
        }
    }
    sqlite3_reset(s->get);
    if (st != SQLITE_ROW && st != SQLITE_DONE)
        return 1;
    s->cur = s->acked = c;
    return 0;
}

/* Copies the options into s; 0 or HZ_ENOMEM. */
static int copy_opts(sqlite_source *s, const hz_sqlite_source_opts *o, const char *table)
{
    s->base.ops = &sqlite_source_ops;
    s->interval_ms = o->poll_interval_ms > 0 ? o->poll_interval_ms : 100;
    s->nvars = o->nvars;
    s->max_future_ms = o->max_future_ms;
    s->path = strdup(o->path);
    s->cursor = strdup(o->cursor);
    s->table = strdup(table);
    s->vars = calloc((size_t)o->nvars, sizeof *s->vars);
    if (!s->path || !s->cursor || !s->table || !s->vars)
        return HZ_ENOMEM;
    for (int i = 0; i < o->nvars; i++)
        if (!(s->vars[i] = strdup(o->variables[i])))
            return HZ_ENOMEM;
    return 0;
}

/* The file must exist: a typo in a path should not create an empty database. */
static int probe_file(const char *path, char *err, size_t errlen)
{
    sqlite3 *probe = NULL;
    int rc = 0;
    if (sqlite3_open_v2(path, &probe, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        rc = hz_err(err, errlen, HZ_EDB, "%s: cannot open database: %s", path,
                    probe ? sqlite3_errmsg(probe) : "out of memory");
    sqlite3_close_v2(probe);
    return rc;
}

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
    if (copy_opts(s, o, table)) {
        rc = hz_err(err, errlen, HZ_ENOMEM, "sqlite source: out of memory");
        goto fail;
    }
    if ((rc = probe_file(o->path, err, errlen)) ||
        (rc = hz_sqlite_open(o->path, 1, o->busy_timeout_ms, &s->db, err, errlen)) ||
        (rc = prepare_tables(s, cursors, err, errlen)))
        goto fail;
    if (prepare_statements(s, cursors) || load_cursor(s)) {
        rc = hz_err(err, errlen, HZ_EDB, "%s: %s", o->path, sqlite3_errmsg(s->db));
        goto fail;
    }
    *out = &s->base;
    return 0;
fail:
    src_free(&s->base);
    return rc;
}

int64_t hz_sqlite_source_behind(const hz_source *src, int64_t max_rowid)
{
    const sq_cursor *c = &((const sqlite_source *)src)->acked;
    int64_t after = max_rowid - c->hi, left = c->hi - c->lo - c->taken;
    return (after > 0 ? after : 0) + (left > 0 ? left : 0);
}

int hz_sqlite_source_delivered(const hz_source *src, char *where, size_t len)
{
    const sq_cursor *c = &((const sqlite_source *)src)->acked;
    if (c->lo <= 0 && (c->hi == c->lo || c->ts == KEY_MIN))
        return 0;
    snprintf(where, len,
             "(rowid <= %lld OR (rowid <= %lld AND (ts < %lld OR (ts = %lld AND rowid <= "
             "%lld))))",
             (long long)c->lo, (long long)c->hi, (long long)c->ts, (long long)c->ts,
             (long long)c->rowid);
    return 1;
}
