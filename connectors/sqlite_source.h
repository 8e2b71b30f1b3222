/* sqlite_source.h — readings from a SQLite table (docs/ARCHITECTURE.md): polls
 * `readings(series, variable, ts, value)` (or a table with the same columns) in rowid order
 * from a cursor kept in the same file (`cursors(name PRIMARY KEY, position)`), so a new
 * source on the same file continues after the last acknowledged row.
 *
 * Rows next to each other (in rowid order) with the same (series, ts) become one hz_reading
 * holding one value per configured variable (NaN for a variable not present); its position
 * is {-1, highest rowid of the group}.  Rows of variables not configured are skipped.  A row
 * with a NULL series, a ts that is not an integer (ms) or a value that is NULL or not a
 * number becomes a dead letter with origin "table/rowid".  A batch that fills `max` ends on
 * a whole group when it can (the tail group is re-read by the next poll). */
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
} hz_sqlite_source_opts;

/* Opens path (which must exist), creates the cursors table if absent and reads this source's
 * cursor.  On success *out is owned by the caller (out->ops->free).  0, HZ_EINVAL, HZ_EDB. */
int hz_sqlite_source_new(const hz_sqlite_source_opts *o, hz_source **out, char *err, size_t errlen);

/* Last acknowledged rowid (what a restart resumes after). */
int64_t hz_sqlite_source_position(const hz_source *s);

#endif
