/* sqlite_schema.c — horizon's SQLite schema (docs/ARCHITECTURE.md), connection pragmas and
 * checks on table names taken from options.
 *
 * Durability choice: WAL with synchronous=FULL by default.  In WAL mode NORMAL survives a
 * process crash but a power cut may lose the last commits; since a Kafka offset is committed
 * once the SQLite COMMIT returns (at-least-once, docs/ARCHITECTURE.md), a lost
 * commit would be a lost reading, so FULL (one fsync of the WAL per commit) is the default.
 * Commits are batched, so the fsync cost is paid per batch, not per row. */
#include "connectors/sqlite_schema.h"

#include <stdio.h>
#include <string.h>

int hz_sqlite_ident_ok(const char *name)
{
    if (!name || !name[0])
        return 0;
    size_t n = strlen(name);
    if (n >= HZ_SQLITE_IDENT_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        int alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
        int digit = c >= '0' && c <= '9';
        if (!(alpha || (i > 0 && digit)))
            return 0;
    }
    if (sqlite3_keyword_check(name, (int)n))
        return 0;
    return 1;
}

int hz_sqlite_ident_check(const char *name, const char *what, char *err, size_t errlen)
{
    if (hz_sqlite_ident_ok(name))
        return 0;
    return hz_err(err, errlen, HZ_EINVAL,
                  "%s: \"%.80s\" is not a valid table name (expected [A-Za-z_][A-Za-z0-9_]*, "
                  "at most 63 characters, not an SQL keyword)",
                  what, name ? name : "(null)");
}

int hz_sqlite_tables_resolve(const hz_sqlite_tables *t, hz_sqlite_tables *out, char *err,
                             size_t errlen)
{
    hz_sqlite_tables z = {0};
    if (!t)
        t = &z;
    out->readings = t->readings ? t->readings : "readings";
    out->forecasts = t->forecasts ? t->forecasts : "forecasts";
    out->anomalies = t->anomalies ? t->anomalies : "anomalies";
    out->models = t->models ? t->models : "models";
    out->dead = t->dead ? t->dead : "dead_letters";
    out->cursors = t->cursors ? t->cursors : "cursors";
    out->flags = t->flags ? t->flags : "reading_flags";
    out->appliances = t->appliances ? t->appliances : "appliances";
    const char *names[] = {out->readings, out->forecasts, out->anomalies, out->models,
                           out->dead,     out->cursors,   out->flags,     out->appliances};
    const char *what[] = {"readings table",      "forecasts table",    "anomalies table",
                          "models table",        "dead letters table", "cursors table",
                          "reading flags table", "appliances table"};
    for (int i = 0; i < 8; i++) {
        int rc = hz_sqlite_ident_check(names[i], what[i], err, errlen);
        if (rc)
            return rc;
    }
    return 0;
}

int hz_sqlite_exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        hz_err(err, errlen, HZ_EDB, "sqlite: %s", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return HZ_EDB;
    }
    return 0;
}

int hz_sqlite_open(const char *path, int full, int busy_timeout_ms, sqlite3 **out, char *err,
                   size_t errlen)
{
    *out = NULL;
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(
        path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        hz_err(err, errlen, HZ_EDB, "%s: cannot open database: %s", path,
               db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close_v2(db);
        return HZ_EDB;
    }
    sqlite3_busy_timeout(db, busy_timeout_ms > 0 ? busy_timeout_ms : 5000);
    char sql[160];
    snprintf(sql, sizeof sql,
             "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s; PRAGMA cache_size=-65536;",
             full ? "FULL" : "NORMAL");
    char e2[HZ_ERRLEN];
    if (hz_sqlite_exec(db, sql, e2, sizeof e2)) {
        hz_err(err, errlen, HZ_EDB, "%s: %s", path, e2);
        sqlite3_close_v2(db);
        return HZ_EDB;
    }
    *out = db;
    return 0;
}

#define ISO(col) "strftime('%Y-%m-%dT%H:%M:%fZ', " col " / 1000.0, 'unixepoch')"

/* View TABLE_iso: the times as text, then every column of the table ("t.*", expanded when
 * the view is used, so the per-level columns added later show too).  A view from before
 * (a fixed column list) is replaced; a view holds no data. */
static int iso_view(sqlite3 *db, const char *table, const char *times, char *err, size_t errlen)
{
    char sql[1024], view[160];
    snprintf(view, sizeof view, "%s_iso", table);
    sqlite3_stmt *st = NULL;
    int fresh = 0;
    if (sqlite3_prepare_v2(db, "SELECT sql FROM sqlite_master WHERE type = 'view' AND name = ?1",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, view, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) {
            const char *old = (const char *)sqlite3_column_text(st, 0);
            fresh = old && strstr(old, " t.* FROM ");
        }
    }
    sqlite3_finalize(st);
    if (fresh)
        return 0;
    snprintf(sql, sizeof sql,
             "BEGIN; DROP VIEW IF EXISTS %s; CREATE VIEW %s AS SELECT %s, t.* FROM %s t; COMMIT;",
             view, view, times, table);
    int rc = hz_sqlite_exec(db, sql, err, errlen);
    if (rc)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

int hz_sqlite_schema_create(sqlite3 *db, const hz_sqlite_tables *t, char *err, size_t errlen)
{
    /* Table names are checked identifiers (hz_sqlite_tables_resolve), so pasting is safe. */
    char sql[6144];
    int n = snprintf(
        sql, sizeof sql,
        "BEGIN;"
        "CREATE TABLE IF NOT EXISTS %1$s(series TEXT NOT NULL, variable TEXT NOT NULL,"
        " ts INTEGER NOT NULL, value REAL, UNIQUE(series, variable, ts));"
        "CREATE VIEW IF NOT EXISTS %1$s_iso AS SELECT rowid AS id, series, variable,"
        " strftime('%%Y-%%m-%%dT%%H:%%M:%%fZ', ts / 1000.0, 'unixepoch') AS time, value"
        " FROM %1$s;"
        "CREATE TABLE IF NOT EXISTS %2$s(pipeline TEXT NOT NULL, series TEXT NOT NULL,"
        " variable TEXT NOT NULL, issued_ts INTEGER NOT NULL, target_ts INTEGER NOT NULL,"
        " step INTEGER NOT NULL, value REAL, lower REAL, upper REAL, model_id TEXT,"
        " UNIQUE(pipeline, series, variable, issued_ts, step));"
        "CREATE INDEX IF NOT EXISTS %2$s_latest ON %2$s(series, variable, issued_ts);"
        "CREATE TABLE IF NOT EXISTS %3$s(pipeline TEXT NOT NULL, series TEXT NOT NULL,"
        " variable TEXT NOT NULL, ts INTEGER NOT NULL, value REAL, expected REAL, lower REAL,"
        " upper REAL, score REAL, flag INTEGER NOT NULL, kind TEXT NOT NULL, model_id TEXT,"
        " rule TEXT, UNIQUE(pipeline, series, variable, ts, kind));"
        "CREATE INDEX IF NOT EXISTS %3$s_by_ts ON %3$s(ts);"
        "CREATE INDEX IF NOT EXISTS %3$s_by_series_ts ON %3$s(series, ts);"
        "CREATE TABLE IF NOT EXISTS %4$s(id TEXT PRIMARY KEY, pipeline TEXT NOT NULL,"
        " kind TEXT NOT NULL, created INTEGER NOT NULL, config TEXT, metrics TEXT,"
        " path TEXT, sha256 TEXT);"
        "CREATE INDEX IF NOT EXISTS %4$s_by_pipeline ON %4$s(pipeline, created);"
        "CREATE TABLE IF NOT EXISTS %5$s(pipeline TEXT NOT NULL, origin TEXT NOT NULL,"
        " reason TEXT NOT NULL, payload BLOB, ts INTEGER NOT NULL,"
        " UNIQUE(pipeline, origin, reason));"
        "CREATE INDEX IF NOT EXISTS %5$s_by_ts ON %5$s(ts);"
        "CREATE TABLE IF NOT EXISTS %6$s(name TEXT PRIMARY KEY, position INTEGER NOT NULL);"
        "CREATE TABLE IF NOT EXISTS %7$s(series TEXT NOT NULL, variable TEXT NOT NULL,"
        " ts INTEGER NOT NULL, code TEXT NOT NULL, UNIQUE(series, variable, ts));"
        "CREATE TABLE IF NOT EXISTS %8$s(pipeline TEXT NOT NULL, series TEXT NOT NULL,"
        " appliance TEXT NOT NULL, ts INTEGER NOT NULL, power REAL NOT NULL,"
        " state INTEGER NOT NULL, window_end INTEGER NOT NULL, model_id TEXT,"
        " UNIQUE(pipeline, series, appliance, ts));"
        "CREATE INDEX IF NOT EXISTS %8$s_by_window ON %8$s(series, window_end);"
        "COMMIT;",
        t->readings, t->forecasts, t->anomalies, t->models, t->dead, t->cursors, t->flags,
        t->appliances);
    if (n < 0 || (size_t)n >= sizeof sql)
        return hz_err(err, errlen, HZ_EINVAL, "schema text too long");
    int rc = hz_sqlite_exec(db, sql, err, errlen);
    if (rc)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    if (!rc) /* anomalies tables written before these columns existed */
        rc = hz_sqlite_add_column(db, t->anomalies, "model_id", "TEXT", err, errlen);
    if (!rc)
        rc = hz_sqlite_add_column(db, t->anomalies, "rule", "TEXT", err, errlen);
    if (!rc)
        rc = iso_view(db, t->forecasts,
                      ISO("issued_ts") " AS issued, " ISO("target_ts") " AS target", err, errlen);
    if (!rc)
        rc = iso_view(db, t->anomalies, ISO("ts") " AS time", err, errlen);
    if (!rc)
        rc = iso_view(db, t->appliances, ISO("ts") " AS time", err, errlen);
    return rc;
}

int hz_sqlite_level_columns(sqlite3 *db, const char *table, char sfx[][16], int max)
{
    char sql[200];
    snprintf(sql, sizeof sql,
             "SELECT substr(name, 6) FROM pragma_table_info('%s') WHERE name GLOB "
             "'lower[0-9]*' AND length(name) < 20 ORDER BY CAST(replace(substr(name, 6), '_', "
             "'.') AS REAL)",
             table);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    int n = 0;
    while (n < max && sqlite3_step(st) == SQLITE_ROW) {
        const char *s = (const char *)sqlite3_column_text(st, 0);
        if (s && strspn(s, "0123456789_") == strlen(s))
            snprintf(sfx[n++], 16, "%s", s);
    }
    sqlite3_finalize(st);
    return n;
}

int hz_sqlite_has_column(sqlite3 *db, const char *table, const char *col)
{
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT 1 FROM pragma_table_info('%s') WHERE name = ?1", table);
    sqlite3_stmt *st = NULL;
    int found = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, col, -1, SQLITE_STATIC);
        found = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    return found;
}

int hz_sqlite_add_column(sqlite3 *db, const char *table, const char *col, const char *type,
                         char *err, size_t errlen)
{
    if (hz_sqlite_has_column(db, table, col))
        return 0;
    char sql[256];
    snprintf(sql, sizeof sql, "ALTER TABLE %s ADD COLUMN %s %s", table, col, type);
    return hz_sqlite_exec(db, sql, err, errlen);
}
