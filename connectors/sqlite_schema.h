/* sqlite_schema.h — opening horizon's SQLite database and creating its tables
 * (docs/ARCHITECTURE.md): identifier checks for table names taken from options, connection pragmas,
 * and the schema shared by the SQLite sink, the SQLite source and the window-store rebuild.
 *
 * Timestamps are stored as INTEGER milliseconds since the epoch (UTC) in every table; the
 * views <table>_iso show them as ISO 8601 text for people using the sqlite3 shell. */
#ifndef HZ_SQLITE_SCHEMA_H
#define HZ_SQLITE_SCHEMA_H

#include <sqlite3.h>

#include "common/hz.h"

/* Longest table name accepted (63 characters plus NUL). */
#define HZ_SQLITE_IDENT_MAX 64

/* Table names; NULL fields take the defaults in brackets. */
typedef struct hz_sqlite_tables {
    const char *readings;   /* [readings]     (series, variable, ts, value) */
    const char *forecasts;  /* [forecasts] */
    const char *anomalies;  /* [anomalies] */
    const char *models;     /* [models] */
    const char *dead;       /* [dead_letters] */
    const char *cursors;    /* [cursors]      (name PRIMARY KEY, position) */
    const char *flags;      /* [reading_flags] (series, variable, ts, code): quality codes kept
                               with readings by horizon import (docs/IMPORT.md) */
    const char *appliances; /* [appliances]  disaggregation estimates, a row per slot */
} hz_sqlite_tables;

/* 1 when name matches [A-Za-z_][A-Za-z0-9_]{0,62} and is not an SQL keyword, else 0.  Only
 * names that pass are ever pasted into SQL text. */
int hz_sqlite_ident_ok(const char *name);

/* Checks name (what = option name for the message, e.g. "readings table"); 0 or HZ_EINVAL. */
int hz_sqlite_ident_check(const char *name, const char *what, char *err, size_t errlen);

/* Fills out with t's names, defaults where NULL, and validates each; 0 or HZ_EINVAL. */
int hz_sqlite_tables_resolve(const hz_sqlite_tables *t, hz_sqlite_tables *out, char *err,
                             size_t errlen);

/* Opens (creating) path with journal_mode=WAL, synchronous=FULL (full != 0) or NORMAL,
 * busy_timeout (ms, <= 0: 5000) and foreign_keys off.  On success *db is owned by the caller
 * (sqlite3_close_v2).  Returns 0 or HZ_EDB with the path in err. */
int hz_sqlite_open(const char *path, int full, int busy_timeout_ms, sqlite3 **db, char *err,
                   size_t errlen);

/* Creates every table, index and view of the schema that does not exist yet, in one
 * transaction.  t must be resolved (hz_sqlite_tables_resolve).  0 or HZ_EDB. */
int hz_sqlite_schema_create(sqlite3 *db, const hz_sqlite_tables *t, char *err, size_t errlen);

/* Runs sql (no results); 0 or HZ_EDB with SQLite's message. */
int hz_sqlite_exec(sqlite3 *db, const char *sql, char *err, size_t errlen);

/* The level suffixes of table's lowerNN / upperNN interval columns ("90", "99", "99_9": the
 * level x 100, '.' as '_'; hz_level_suffix), ascending by level, at most max of them into
 * sfx.  Returns how many, or -1 when the table's columns cannot be read (sqlite3_errmsg). */
int hz_sqlite_level_columns(sqlite3 *db, const char *table, char sfx[][16], int max);

/* Whether table (a checked identifier) has column col. */
int hz_sqlite_has_column(sqlite3 *db, const char *table, const char *col);
/* Adds column `col type` to table unless it has it (files written by older versions).
 * Returns 0 or HZ_EDB. */
int hz_sqlite_add_column(sqlite3 *db, const char *table, const char *col, const char *type,
                         char *err, size_t errlen);

#endif
