/* web_int.h — the parts of the web view (service/web.h) shared by its files: a growing text
 * buffer with the escapes every data name goes through (web_text.c), the SQLite reads that
 * build each page's JSON (web_query.c) and the HTML/SVG rendering of that JSON (web_html.c).
 * Internal to service/web*.c. */
#ifndef HZ_WEB_INT_H
#define HZ_WEB_INT_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "service/web.h"

/* ---- text (web_text.c) */

/* A growing NUL-terminated buffer; an allocation failure sets oom and drops what follows. */
typedef struct web_sb {
    char *p;
    size_t len, cap;
    int oom;
} web_sb;

void sb_put(web_sb *b, const char *s, size_t n);
void sb_puts(web_sb *b, const char *s);
void sb_printf(web_sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s with & < > " ' as character references: safe in HTML text, attributes and SVG. */
void sb_html(web_sb *b, const char *s);
/* s percent-encoded except A-Z a-z 0-9 - . _ ~: one URL path segment or query value. */
void sb_url(web_sb *b, const char *s);
/* ms since the epoch as "YYYY-MM-DD HH:MM" (UTC). */
void sb_time(web_sb *b, int64_t ms);
/* the same as "YYYY-MM-DD" */
void sb_date(web_sb *b, int64_t ms);
/* x with 4 significant digits, or "–" when NaN. */
void sb_num(web_sb *b, double x);

/* Percent-decodes s[0..n) into out (cap bytes with the NUL); plus_space: '+' is a space (a
 * query value from a form).  Returns the length, or -1 for a bad escape, an encoded NUL or
 * no room. */
long web_unescape(const char *s, size_t n, int plus_space, char *out, size_t cap);

/* A JSON string of s; bytes that are not UTF-8 become U+FFFD (jansson takes only UTF-8). */
json_t *web_jstr(const char *s);
/* A JSON number, or null for NaN / infinite. */
json_t *web_jnum(double x);
/* obj[key] as a number (NaN when null or absent) or a string ("" when absent). */
double web_getnum(const json_t *obj, const char *key);
const char *web_getstr(const json_t *obj, const char *key);

/* ---- SQLite reads (web_query.c); each returns 0 or HZ_E* with a message in err */

/* One series page's request. */
typedef struct web_series_req {
    const char *series;
    int hours; /* 0: twice the lookback */
} web_series_req;

/* p's state as the loop published it: a new object. */
json_t *web_q_state(const hz_web_pipeline *p);
/* From db: the flags of the last day of data (the day before the pipeline's newest flag) by
 * kind and the series with the most, over the newest HZ_WEB_DAY_SCAN of them; a new object
 * in *out (flags_by_kind, top_series, flags_until_ms, flags_counted, flags_capped). */
int web_q_day(sqlite3 *db, const hz_web_pipeline *p, json_t **out, char *err, size_t errlen);
/* p's series with a forecast, in byte order, that start with prefix and come after `after`
 * (""), at most limit; {"pipeline","prefix","series":[..],"next":after-of-next-page|null}. */
int web_q_series_list(sqlite3 *db, const hz_web_pipeline *p, const char *prefix, const char *after,
                      int limit, json_t **out, char *err, size_t errlen);
/* One series: per variable its readings in the range, its latest forecast and bands; the
 * flags in the range.  HZ_ENOTFOUND when it has no reading. */
int web_q_series(sqlite3 *db, const hz_web_pipeline *p, const web_series_req *rq, json_t **out,
                 char *err, size_t errlen);

/* ---- HTML (web_html.c): the pages drawn from the JSON above, into b */

void web_html_index(web_sb *b, const json_t *pipelines);
void web_html_pipeline(web_sb *b, const json_t *list);
void web_html_series(web_sb *b, const json_t *series);
/* An error page: status and a message (escaped). */
void web_html_error(web_sb *b, unsigned status, const char *msg);

#endif
