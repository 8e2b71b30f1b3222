/* sqlite_stage.h — staged readings for fleets (docs/ARCHITECTURE.md, "Readings of a large
 * fleet"): the SQLite sink appends readings to <readings>_staged, a table with no index,
 * and moves them into <readings> in key order every few seconds.
 *
 * Why: readings arrive time-major across a fleet, so each one written straight into
 * <readings> dirties a leaf page of its (series, variable, ts) index, one page per reading
 * once the fleet has more series than a commit has readings (100k series: bench/RESULTS.md,
 * "Daemon for fleets").  Moved in key order, a series' readings of the whole interval share
 * their page.  A staged reading is as durable as one in <readings> (the same commit), and
 * the move is an upsert on the same key, so duplicates and replays still end as one row.
 *
 *   <readings>_staged(series, variable, ts, value)   (rowid order = arrival order)
 *   <readings>_live: view of both tables (a reading re-sent before its move shows twice)
 *
 * Readers that need the newest readings (the web view) read the view; <readings> lags by
 * at most the interval, and is complete after the sink is closed. */
#ifndef HZ_SQLITE_STAGE_H
#define HZ_SQLITE_STAGE_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hz_sqlite_stage hz_sqlite_stage;

/* Creates <readings>_staged and its view when absent and moves any rows left there (a
 * crash, or a stage interval since turned off) into readings, then prepares the move.
 * Outside any transaction.  every_ms > 0: the sink stages its readings and moves them each
 * every_ms (hz_sqlite_stage_due); 0: it writes readings directly and *out is only the
 * clean-up done.  *out is owned by the caller (hz_sqlite_stage_free before db).
 * Returns 0, HZ_ENOMEM or HZ_EDB. */
int hz_sqlite_stage_open(sqlite3 *db, const char *readings, int64_t every_ms, hz_sqlite_stage **out,
                         char *err, size_t errlen);
void hz_sqlite_stage_free(hz_sqlite_stage *g);

/* The staged table's name (for the sink's insert statement). */
const char *hz_sqlite_stage_table(const hz_sqlite_stage *g);

/* 1 when staging is on and a move is under way or every_ms has passed since the last one
 * began (monotonic clock). */
int hz_sqlite_stage_due(const hz_sqlite_stage *g);

/* The next transaction of a move (none may be open): it orders the staged readings by key,
 * or moves the next few thousand of them into readings (and with the last, deletes them from
 * the staged table).  A move so spreads over the flushes that follow its start, each
 * delayed by one bounded step.  Returns 0 or HZ_EDB (rolled back: the move starts over). */
int hz_sqlite_stage_step(hz_sqlite_stage *g, char *err, size_t errlen);

/* Ends the move under way and moves every staged reading left into readings, every step at
 * once; nothing when the file has no staged table.  Returns 0 or HZ_EDB. */
int hz_sqlite_stage_move(hz_sqlite_stage *g, char *err, size_t errlen);

#endif
