/* sqlite_source.h — readings from a SQLite table (docs/ARCHITECTURE.md §5): polls
 * `readings(series, variable, ts, value)` (or a table with the same columns) in time order —
 * (ts, rowid) — from a cursor kept in the same file (`cursors(name PRIMARY KEY, position,
 * epoch_hi, at_ts, at_rowid)`), so a new source on the same file continues after the last
 * acknowledged row.  The rows present when a pass (an epoch) begins are read in time order
 * whatever order they were written in — a variable imported after another meets it by
 * time — and the rows appended meanwhile are read by the next pass (sqlite_source.c).
 * Creates the index TABLE_by_ts on (ts) when absent.
 *
 * Rows next to each other (in that order) with the same (series, ts) become one hz_reading
 * holding one value per configured variable (NaN for a variable not present: the window
 * store joins the variables of a slot that came in separate readings); its position is
 * {-1, highest rowid of the group}.  Rows of variables not configured are skipped.  A row
 * with a NULL series, a ts that is not an integer (ms) or a value that is NULL or not a
 * number, or that breaks the rules of every source (a ts outside 1970..2200 or further
 * ahead of the clock than max_future_ms, a value not finite or beyond float32:
 * connectors/reading_check.h), becomes a dead letter with origin "table/rowid".  A batch that fills
 * `max` ends on a whole group when it can (the tail group is re-read by the next poll).  A batch's
 * position is {-1, its number}: acknowledging it saves the cursor it reached. */
#ifndef HZ_SQLITE_SOURCE_H
#define HZ_SQLITE_SOURCE_H

#include "connectors/connector.h"
#include "connectors/sqlite_schema.h"

typedef struct hz_sqlite_source_opts {
    const char *path;
    const char *table;            /* NULL: "readings" (validated identifier) */
    const char *cursors;          /* NULL: "cursors" (validated identifier) */
    const char *cursor;           /* this source's cursor name, e.g. the pipeline's; required */
    const char *const *variables; /* nvars names, in hz_reading.values order */
    int nvars;                    /* 1..HZ_MAX_VARS */
    int busy_timeout_ms;          /* <= 0: 5000 */
    int poll_interval_ms;         /* wait between checks while nothing is new; <= 0: 100 */
    int64_t max_future_ms;        /* rows timestamped further ahead of the wall clock are
                                     dead letters (connectors/reading_check.h); 0: no limit */
} hz_sqlite_source_opts;

/* Opens path (which must exist), creates the cursors table if absent and reads this source's
 * cursor.  On success *out is owned by the caller (out->ops->free).  0, HZ_EINVAL, HZ_EDB. */
int hz_sqlite_source_new(const hz_sqlite_source_opts *o, hz_source **out, char *err, size_t errlen);

/* Rows of the table (max_rowid: its max(rowid)) not acknowledged yet: exact between passes;
 * during one, its rowid span less the rows this process took (an upper bound). */
int64_t hz_sqlite_source_behind(const hz_source *s, int64_t max_rowid);

/* The acknowledged rows as an SQL condition on the table's rowid and ts, into where (len
 * bytes; 200 suffice).  Returns 0 (where untouched) when none is acknowledged, else 1. */
int hz_sqlite_source_delivered(const hz_source *s, char *where, size_t len);

#endif
