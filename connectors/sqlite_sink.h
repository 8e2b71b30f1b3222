/* sqlite_sink.h — the embedded default sink: readings, forecasts, anomalies and dead letters
 * into one SQLite file (docs/ARCHITECTURE.md; schema in sqlite_schema.h).
 *
 * Writes accumulate in one open transaction (BEGIN IMMEDIATE on the first write after a
 * flush); flush is COMMIT, so a batch is all there or not at all.  Every insert is an upsert
 * on the table's natural key, so replaying a batch after a crash changes nothing:
 *   readings (series, variable, ts) — value updated; NaN values are not stored;
 *   forecasts (pipeline, series, variable, issued_ts, step) — updated;
 *   latest_forecasts (pipeline, series, variable) — replaced by a newer issue only;
 *   anomalies (pipeline, series, variable, ts, kind) — updated;
 *   dead letters (pipeline, origin, reason) — kept once;
 *   reading flags (series, variable, ts) — code updated (hz_sqlite_sink_write_flag);
 *   appliances (pipeline, series, appliance, ts) — updated (a newer window's estimate).
 * A failed write rolls back everything since the last flush and returns HZ_EDB, so the
 * caller replays from its last acknowledged position. */
#ifndef HZ_SQLITE_SINK_H
#define HZ_SQLITE_SINK_H

#include <sqlite3.h>

#include "connectors/connector.h"
#include "connectors/sqlite_schema.h"

enum { HZ_SQLITE_FC_HISTORY = 1, HZ_SQLITE_FC_LATEST = 2 }; /* bits of opts.forecasts */

typedef struct hz_sqlite_sink_opts {
    const char *path; /* database file, created when absent */
    int forecasts;    /* HZ_SQLITE_FC_* bits; 0: HISTORY (sqlite_latest.h for LATEST) */
    /* retention in data time: rows older than the newest written minus this are deleted at
     * each flush; 0 = kept.  Readings: the whole table; forecasts (history and latest, and
     * appliance estimates) and anomalies: this sink's pipeline's rows */
    int64_t keep_readings_ms, keep_forecasts_ms, keep_anomalies_ms;
    hz_sqlite_tables tables;   /* NULL names: defaults; every name is validated */
    int synchronous_normal;    /* 0 (default): synchronous=FULL; 1: NORMAL (see schema.c) */
    int busy_timeout_ms;       /* <= 0: 5000 */
    int max_size_mb;           /* > 0: the file grows to at most this (PRAGMA max_page_count) */
    int wal_truncate_frames;   /* > 0: WAL frames past which it is emptied (default 16384) */
    int64_t stage_readings_ms; /* > 0: readings staged and moved this often (sqlite_stage.h) */
} hz_sqlite_sink_opts;

/* Opens the database, creates the schema if absent and prepares the statements.  On success
 * *out is owned by the caller (out->ops->free, which rolls back anything not flushed).
 * Returns 0, HZ_EINVAL (bad table name) or HZ_EDB. */
int hz_sqlite_sink_new(const hz_sqlite_sink_opts *o, hz_sink **out, char *err, size_t errlen);

/* Writes quality code `code` for each of var_names[0..nvars) of series at ts_ms into the
 * reading flags table (sqlite_schema.h), an upsert in the sink's open transaction like the
 * readings.  Returns 0 or HZ_EDB. */
int hz_sqlite_sink_write_flag(hz_sink *k, const char *series, const char *const *var_names,
                              int nvars, int64_t ts_ms, const char *code, char *err, size_t errlen);

/* The sink's connection (owned by the sink), for queries in tests and tools. */
sqlite3 *hz_sqlite_sink_db(hz_sink *k);

/* Rows written since the sink was opened (all tables). */
uint64_t hz_sqlite_sink_rows(const hz_sink *k);

#endif
