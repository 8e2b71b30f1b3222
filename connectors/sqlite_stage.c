/* sqlite_stage.c — staged readings moved into the readings table in key order.  See
 * sqlite_stage.h. */
#include "connectors/sqlite_stage.h"

#include "common/hz.h"
#include "connectors/sqlite_schema.h"

#include <stdio.h>
#include <stdlib.h>

enum { CHUNK = 16384 }; /* readings moved per transaction: bounds what one flush adds */

enum { Q_ORDER, Q_CHUNK, Q_DROP, Q_N };

struct hz_sqlite_stage {
    sqlite3 *db;
    char staged[HZ_SQLITE_IDENT_MAX + 8];
    char readings[HZ_SQLITE_IDENT_MAX];
    char q[Q_N][640];
    int64_t every_ns, last_ns;
    int exists;          /* the staged table is in the file */
    int64_t hi;          /* a move under way: the staged rows up to this rowid; 0: none */
    int64_t done, total; /* of those, how many are in readings, of how many */
};

static int table_exists(sqlite3 *db, const char *name)
{
    sqlite3_stmt *st = NULL;
    int found = 0;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", -1,
                           &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        found = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    return found;
}

static int create(hz_sqlite_stage *g, char *err, size_t errlen)
{
    char sql[768];
    snprintf(sql, sizeof sql,
             "CREATE TABLE IF NOT EXISTS %1$s(series TEXT NOT NULL, variable TEXT NOT NULL,"
             " ts INTEGER NOT NULL, value REAL);"
             "CREATE VIEW IF NOT EXISTS %2$s_live AS SELECT series, variable, ts, value FROM %2$s"
             " UNION ALL SELECT series, variable, ts, value FROM %1$s;",
             g->staged, g->readings);
    return hz_sqlite_exec(g->db, sql, err, errlen);
}

/* The move's statements.  A move orders the staged rowids by key once, into a temporary
 * table (k = 1, 2, ... in key order; the rowid breaks ties, so of two stagings of one key
 * the later is applied last), then upserts CHUNK of them per transaction and deletes the
 * staged rows with the last chunk.  The staged rows stay until then: after a crash the next
 * start moves them all again, which ends in the same rows. */
static void queries(hz_sqlite_stage *g)
{
    snprintf(g->q[Q_ORDER], sizeof g->q[0],
             "DROP TABLE IF EXISTS temp.hz_stage_order;"
             "CREATE TEMP TABLE hz_stage_order(k INTEGER PRIMARY KEY, rid INTEGER NOT NULL);"
             "INSERT INTO temp.hz_stage_order(rid) SELECT rowid FROM %s WHERE rowid <= ?1"
             " ORDER BY series, variable, ts, rowid",
             g->staged);
    snprintf(g->q[Q_CHUNK], sizeof g->q[0],
             "INSERT INTO %1$s(series, variable, ts, value) SELECT s.series, s.variable, s.ts,"
             " s.value FROM temp.hz_stage_order o JOIN %2$s s ON s.rowid = o.rid"
             " WHERE o.k > ?1 AND o.k <= ?2 ORDER BY o.k"
             " ON CONFLICT(series, variable, ts) DO UPDATE SET value = excluded.value",
             g->readings, g->staged);
    snprintf(g->q[Q_DROP], sizeof g->q[0], "DELETE FROM %s WHERE rowid <= ?1", g->staged);
}

int hz_sqlite_stage_open(sqlite3 *db, const char *readings, int64_t every_ms, hz_sqlite_stage **out,
                         char *err, size_t errlen)
{
    *out = NULL;
    hz_sqlite_stage *g = calloc(1, sizeof *g);
    if (!g)
        return hz_err(err, errlen, HZ_ENOMEM, "staged readings: out of memory");
    g->db = db;
    snprintf(g->readings, sizeof g->readings, "%s", readings);
    snprintf(g->staged, sizeof g->staged, "%s_staged", readings);
    queries(g);
    g->every_ns = every_ms * 1000000;
    g->last_ns = hz_mono_ns();
    int rc = 0;
    if (every_ms > 0)
        rc = create(g, err, errlen);
    g->exists = !rc && table_exists(db, g->staged);
    if (g->exists)
        rc = hz_sqlite_stage_move(g, err, errlen);
    if (rc) {
        free(g);
        return rc;
    }
    *out = g;
    return 0;
}

void hz_sqlite_stage_free(hz_sqlite_stage *g)
{
    free(g);
}

const char *hz_sqlite_stage_table(const hz_sqlite_stage *g)
{
    return g->staged;
}

int hz_sqlite_stage_due(const hz_sqlite_stage *g)
{
    return g && g->every_ns > 0 && (g->hi > 0 || hz_mono_ns() - g->last_ns >= g->every_ns);
}

/* Runs sql with ?1 = a and ?2 = b (when it has them); *changes gets the rows changed. */
static int run(sqlite3 *db, const char *sql, int64_t a, int64_t b, int64_t *changes)
{
    const char *tail = sql;
    int rc = SQLITE_OK;
    while (rc == SQLITE_OK && tail && *tail) {
        sqlite3_stmt *st = NULL;
        rc = sqlite3_prepare_v2(db, tail, -1, &st, &tail);
        if (rc != SQLITE_OK || !st)
            break;
        if (sqlite3_bind_parameter_count(st) >= 1)
            sqlite3_bind_int64(st, 1, a);
        if (sqlite3_bind_parameter_count(st) >= 2)
            sqlite3_bind_int64(st, 2, b);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
        sqlite3_finalize(st);
    }
    if (changes)
        *changes = sqlite3_changes64(db);
    return rc;
}

static int max_rowid(hz_sqlite_stage *g, int64_t *hi)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT coalesce(max(rowid), 0) FROM %s", g->staged);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(g->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st) == SQLITE_ROW ? SQLITE_OK : SQLITE_ERROR;
    *hi = rc == SQLITE_OK ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return rc;
}

/* One transaction of a move: the ordering when none is under way, else the next chunk (and
 * with the last, the staged rows' deletion). */
static int step(hz_sqlite_stage *g)
{
    if (sqlite3_exec(g->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return SQLITE_ERROR;
    int rc = SQLITE_OK;
    if (!g->hi) {
        g->last_ns = hz_mono_ns();
        rc = max_rowid(g, &g->hi);
        if (rc == SQLITE_OK && g->hi)
            rc = run(g->db, g->q[Q_ORDER], g->hi, 0, &g->total);
        g->done = 0;
    } else {
        int64_t to = g->done + CHUNK;
        rc = run(g->db, g->q[Q_CHUNK], g->done, to, NULL);
        if (rc == SQLITE_OK && to >= g->total)
            rc = run(g->db, g->q[Q_DROP], g->hi, 0, NULL);
        if (rc == SQLITE_OK)
            g->done = to;
    }
    if (rc == SQLITE_OK && sqlite3_exec(g->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK) {
        if (g->hi && g->done >= g->total)
            g->hi = 0; /* moved */
        return SQLITE_OK;
    }
    sqlite3_exec(g->db, "ROLLBACK", NULL, NULL, NULL);
    g->hi = 0; /* the next move starts over */
    return SQLITE_ERROR;
}

static int failed(hz_sqlite_stage *g, char *err, size_t errlen)
{
    return hz_err(err, errlen, HZ_EDB, "moving the staged readings of %s: %s", g->staged,
                  sqlite3_errmsg(g->db));
}

int hz_sqlite_stage_step(hz_sqlite_stage *g, char *err, size_t errlen)
{
    if (!g->exists)
        return 0;
    return step(g) == SQLITE_OK ? 0 : failed(g, err, errlen);
}

int hz_sqlite_stage_move(hz_sqlite_stage *g, char *err, size_t errlen)
{
    if (!g->exists)
        return 0;
    for (int started = 0;;) { /* the move under way, if any, then one of every row */
        if (!g->hi && started++)
            return 0;
        if (step(g) != SQLITE_OK)
            return failed(g, err, errlen);
    }
}
