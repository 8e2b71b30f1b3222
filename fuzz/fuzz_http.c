/* fuzz_http.c — fuzz target "http": one request to horizond's metrics endpoint, "METHOD\nPATH"
 * (a missing line: GET, /metrics), routed by service/metrics_http.c hz_metrics_answer as the
 * libmicrohttpd handler does, against a registry holding every standard family (with a child
 * labelled by the third line) and a health callback that reports the path
 * as its reason; then again by hz_http_route with the web view (service/web.h) showing one
 * pipeline named by the third line, without a database (the parsing, routing and escaping). */
#include <string.h>

#include "common/hz.h"
#include "common/metrics.h"
#include "fuzz/fuzz.h"
#include "service/metrics_http.h"
#include "service/web.h"

static int unhealthy(void *opaque, char *reason, size_t reasonlen)
{
    snprintf(reason, reasonlen, "%s", (const char *)opaque);
    return 0;
}

/* The next line of data[*at..size) as a NUL-terminated copy (libmicrohttpd hands over C
 * strings, so a NUL ends the text early), or def when there is none. */
static char *next_line(const uint8_t *data, size_t size, size_t *at, const char *def)
{
    if (*at >= size)
        return strdup(def);
    const uint8_t *nl = memchr(data + *at, '\n', size - *at);
    size_t end = nl ? (size_t)(nl - data) : size;
    char *s = strndup((const char *)data + *at, end - *at);
    *at = end + 1;
    return s;
}

int hz_fuzz_http(const uint8_t *data, size_t size)
{
    size_t at = 0;
    char *method = next_line(data, size, &at, "GET");
    char *url = next_line(data, size, &at, "/metrics");
    char *label = next_line(data, size, &at, "meter-17");
    HZ_FUZZ_CHECK(method && url && label);
    char err[HZ_ERRLEN];
    hz_metrics *m = hz_metrics_new();
    HZ_FUZZ_CHECK(m && hz_metrics_declare_std(m, err, sizeof err) == 0);
    static const char *const labels[] = {"series", NULL};
    HZ_FUZZ_CHECK(hz_metrics_declare(m, "fuzz_requests_total", HZ_METRIC_COUNTER,
                                     "Requests seen by the fuzz target.", labels, NULL, 0, err,
                                     sizeof err) == 0);
    const char *values[] = {label, NULL};
    hz_metrics_inc(hz_metrics_get(m, "fuzz_requests_total", values, err, sizeof err));
    hz_web *web = hz_web_new();
    HZ_FUZZ_CHECK(web);
    hz_web_pipeline *p = calloc(1, sizeof *p);
    HZ_FUZZ_CHECK(p);
    snprintf(p->name, sizeof p->name, "%s", label);
    snprintf(p->forecasts, sizeof p->forecasts, "forecasts");
    snprintf(p->anomalies, sizeof p->anomalies, "anomalies");
    HZ_FUZZ_CHECK(hz_web_publish(web, p, 1) == 0);
    for (int h = 0; h < 3; h++) {
        hz_http_answer a;
        if (h < 2)
            hz_metrics_answer(m, h ? unhealthy : NULL, url, method, url, &a);
        else
            hz_http_route(m, NULL, NULL, web, method, url, &a);
        HZ_FUZZ_CHECK(a.status == 200 || a.status == 400 || a.status == 404 || a.status == 405 ||
                      a.status == 414 || a.status == 500 || a.status == 503);
        HZ_FUZZ_CHECK(a.ctype != NULL && a.body != NULL);
        HZ_FUZZ_CHECK(a.owned || (a.len < sizeof a.buf && a.len == strlen(a.body)));
        HZ_FUZZ_CHECK((a.status == 405) == (a.allow != NULL));
        if (a.owned)
            free(a.body);
    }
    hz_web_free(web);
    free(p);
    hz_metrics_free(m);
    free(method);
    free(url);
    free(label);
    return 0;
}
