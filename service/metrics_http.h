/* metrics_http.h — the HTTP endpoint that serves a metrics registry (common/metrics.h), a
 * health check and, when given one, the read-only web view (service/web.h); the service layer
 * owns it, the pipeline only updates counters. */
#ifndef HZ_METRICS_HTTP_H
#define HZ_METRICS_HTTP_H

#include <stddef.h>

#include "common/hz.h"
#include "common/metrics.h"

/* ---- HTTP server */

/* Health callback, called from the server's thread on GET /healthz: returns nonzero when
 * healthy; otherwise writes a short reason (shown in the 503 body).  Must be thread-safe. */
typedef int (*hz_health_fn)(void *opaque, char *reason, size_t reasonlen);

/* The answer to one request, before it is sent. */
typedef struct hz_http_answer {
    unsigned status;   /* 200, 404, 405, 500, 503 */
    const char *ctype; /* Content-Type */
    char *body;        /* len bytes: buf, or (owned) a malloc'd body the caller frees */
    size_t len;
    int owned;
    const char *allow; /* Allow header, or NULL */
    const char *csp;   /* Content-Security-Policy header (the web view's pages), or NULL */
    char buf[256];
} hz_http_answer;

typedef struct hz_web hz_web; /* service/web.h */

/* Routes one request (method, and the URI as sent: path and query, percent-encoded, any
 * bytes) to its answer, as the server below does; the request handler itself, callable
 * without a server.  /metrics and /healthz here (their query ignored), every other path to
 * web (hz_web_answer) or, when web is NULL, 404. */
void hz_http_route(hz_metrics *m, hz_health_fn health, void *opaque, hz_web *web,
                   const char *method, const char *uri, hz_http_answer *a);

/* hz_http_route without a web view. */
void hz_metrics_answer(hz_metrics *m, hz_health_fn health, void *opaque, const char *method,
                       const char *url, hz_http_answer *a);

typedef struct hz_metrics_server hz_metrics_server;

/* Serves m on `listen` ("127.0.0.1:9464", "[::1]:9464", "localhost:9464"; NULL means
 * 127.0.0.1:9464; "" — the config's "metrics disabled" — is HZ_EINVAL: don't call; port 0
 * picks a free port, see hz_metrics_server_port) with
 *   GET /metrics  200 text/plain; version=0.0.4
 *   GET /healthz  200 "ok" or 503 with the callback's reason (no callback: always ok)
 *   other paths   404;  methods other than GET/HEAD  405 with Allow: GET, HEAD
 * One polling thread serves up to 512 connections and closes one idle for 5 s, so idle
 * clients cannot starve /healthz.  The address is bound exactly as given; a non-loopback address is
 * refused (HZ_EINVAL) unless allow_public is nonzero, since the endpoint has no authentication. The
 * server runs in libmicrohttpd's own thread; m and opaque must outlive it.  On success *out owns
 * the server (free with hz_metrics_server_free).  Returns 0, HZ_EINVAL (bad address),
 * HZ_EIO (bind/listen/start failed: the message names the address and errno) or HZ_ENOMEM. */
int hz_metrics_serve(hz_metrics *m, const char *listen, int allow_public, hz_health_fn health,
                     void *opaque, hz_metrics_server **out, char *err, size_t errlen);

/* hz_metrics_serve with the web view's pages on every other path (web NULL: 404 there).  web
 * is borrowed and must outlive the server; its pages are answered by the server's one
 * thread, one at a time. */
int hz_metrics_serve_web(hz_metrics *m, hz_web *web, const char *listen, int allow_public,
                         hz_health_fn health, void *opaque, hz_metrics_server **out, char *err,
                         size_t errlen);

/* The address check of hz_metrics_serve without binding (`horizond --check`, start and
 * SIGHUP, service/runtime.c): the address parses, resolves and is loopback unless
 * allow_public.  NULL or "" (default, disabled) pass.  Returns 0 or HZ_EINVAL. */
int hz_metrics_listen_check(const char *listen, int allow_public, char *err, size_t errlen);

/* The TCP port actually bound (useful after port 0). */
int hz_metrics_server_port(const hz_metrics_server *s);

/* Stops the server thread, closes the socket, frees.  NULL is a no-op. */
void hz_metrics_server_free(hz_metrics_server *s);

#endif
