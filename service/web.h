/* web.h — horizond's read-only web view (docs/WEB.md): HTML pages and their JSON twins under
 * /api/, served on the metrics listener (service/metrics_http.c routes every path other than
 * /metrics and /healthz here).
 *
 *   /                          pipelines: state, flags by kind over the last day, top series
 *   /pipeline/NAME             its series, searched by prefix, paged (?prefix=, ?after=)
 *   /series/PIPELINE/SERIES    SVG chart: readings, latest forecast and its bands, flags
 *                              (?hours= the time range); the recent flags below
 *   /api/pipelines, /api/pipeline/NAME, /api/series/PIPELINE/SERIES   the same as JSON
 *
 * Two threads meet here: the daemon's loop publishes each pipeline's state
 * (hz_web_publish, copied under a mutex), and the HTTP server's one polling thread answers
 * requests (hz_web_answer), reading the pipelines' SQLite files through read-only
 * connections of its own (WAL: readers never block the writer).  Path segments are
 * percent-decoded by the handler itself from the raw request URI, so a series name holding
 * "/" (sent as %2F) stays one segment. */
#ifndef HZ_WEB_H
#define HZ_WEB_H

#include <stddef.h>
#include <stdint.h>

#include "common/hz.h"
#include "service/metrics_http.h"

/* Bounds on requests and answers (docs/WEB.md "Bounds"). */
#define HZ_WEB_MAX_URI    2048 /* raw path and query, bytes: longer is 414 */
#define HZ_WEB_MAX_QUERY  1024 /* query string, bytes: longer is 414 */
#define HZ_WEB_PAGE_MAX   200  /* series per page (?limit=; default HZ_WEB_PAGE_DEF) */
#define HZ_WEB_PAGE_DEF   50
#define HZ_WEB_MAX_POINTS 2000  /* readings drawn per variable (the newest in the range) */
#define HZ_WEB_MAX_FLAGS  100   /* flags listed on a series page */
#define HZ_WEB_DAY_SCAN   20000 /* flags of the last day counted on / (the newest) */
#define HZ_WEB_DAY_TTL_S  10    /* those counts are kept this long between two reads */
#define HZ_WEB_TOP_SERIES 10
#define HZ_WEB_MAX_VARS   16
#define HZ_WEB_MAX_HOURS  87600 /* ?hours= at most ten years */
#define HZ_WEB_MAX_LEVELS 4

/* One pipeline as the loop last saw it; strings are copied, truncated to their arrays. */
typedef struct hz_web_pipeline {
    char name[256];
    int running;   /* 0: failed, waiting for its restart */
    char db[1024]; /* its first SQLite sink's file; "" when it has none */
    char forecasts[64] /* that sink's tables */, anomalies[64];
    char appliances[64]; /* a disaggregation pipeline's estimates table; "" for the others */
    int fc_mode;         /* HZ_CFG_FC_* (config/config.h): which forecast tables it writes */
    int64_t period_ms;   /* window.period */
    int lookback;
    char model_id[128];    /* "" when not running */
    int64_t model_time_ms; /* the checkpoint file's mtime (written when trained); 0 unknown */
    double readings_per_s; /* since the previous publish */
    double lag;            /* horizon_consumer_lag; NaN when unknown */
    uint64_t readings, forecasts_n, anomalies_n, series;
    char last_error[HZ_ERRLEN]; /* the latest failure to start or to step; "" none */
} hz_web_pipeline;

typedef struct hz_web hz_web;

/* A view with no pipeline yet; NULL when out of memory.  Owned by the caller
 * (hz_web_free, after the server that answers with it is stopped). */
hz_web *hz_web_new(void);
void hz_web_free(hz_web *w);

/* Replaces the pipelines shown by a copy of ps[0..n).  Any thread.  0 or HZ_ENOMEM (the
 * previous list stays). */
int hz_web_publish(hz_web *w, const hz_web_pipeline *ps, size_t n);

/* Answers GET/HEAD `uri` (raw: path and query as sent, percent-encoded): a page, JSON, or
 * 400/404/414/500 in a->buf.  Not thread-safe: one thread answers (the server's), the
 * publisher may run meanwhile.  The caller frees a->body when a->owned. */
void hz_web_answer(hz_web *w, const char *uri, hz_http_answer *a);

#endif
