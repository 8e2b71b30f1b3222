/* import_seen.h — the (series, timestamp) pairs one `horizon import` has stored, so a second
 * row with the same pair in the file is refused as a duplicate instead of overwriting the
 * first (cli/cmd_import.c).  An in-memory hash set: 32 to 64 bytes per row. */
#ifndef HZ_IMPORT_SEEN_H
#define HZ_IMPORT_SEEN_H

#include <stddef.h>
#include <stdint.h>

typedef struct hz_import_seen hz_import_seen;

/* NULL when out of memory.  Free with hz_import_seen_free. */
hz_import_seen *hz_import_seen_new(void);
void hz_import_seen_free(hz_import_seen *s);

/* Records (series, ts_ms) as first seen on line `line` (> 0).  Returns 0 when the pair is
 * new, the line it was first seen on when it is not (at most UINT32_MAX: a later line is
 * kept as that), or HZ_ENOMEM. */
long hz_import_seen_add(hz_import_seen *s, const char *series, int64_t ts_ms, long line);

/* How many different series were added. */
size_t hz_import_seen_series(const hz_import_seen *s);

#endif
