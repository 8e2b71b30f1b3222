/* metrics_http.c — horizond's HTTP endpoint: GET /metrics renders the registry of
 * common/metrics.c in the Prometheus text format, GET /healthz asks the runtime's health
 * callback, every other path goes to the web view (service/web.c); served by libmicrohttpd
 * on a loopback address unless explicitly allowed.  Names and answers in docs/METRICS.md
 * and docs/WEB.md. */
#include "service/metrics_http.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "service/web.h"

/* ---- HTTP */

/* Connections served at once, and the seconds an idle one is kept: a scraper or probe
 * needs one for milliseconds, so a few hundred idle sockets (a hung client, a scan) leave
 * room, and each is closed after CONN_IDLE_S (test_metrics.c, test_idle_connections). */
#define CONN_LIMIT  512
#define CONN_IDLE_S 5
#define BACKLOG     128

#if MHD_VERSION >= 0x00097002
typedef enum MHD_Result mhd_ret;
#else
typedef int mhd_ret;
#endif

struct hz_metrics_server {
    struct MHD_Daemon *d;
    hz_metrics *m;
    hz_web *web;
    hz_health_fn health;
    void *opaque;
    int port;
};

static mhd_ret reply(struct MHD_Connection *conn, const hz_http_answer *a)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        a->len, a->body, a->owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_MUST_COPY);
    if (!r) {
        if (a->owned)
            free(a->body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, a->ctype);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (a->allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, a->allow);
    if (a->csp)
        MHD_add_response_header(r, "Content-Security-Policy", a->csp);
    mhd_ret ret = MHD_queue_response(conn, a->status, r);
    MHD_destroy_response(r);
    return ret;
}

/* The web view's pages: no script, nothing from elsewhere, styles inline, forms to itself. */
static const char web_csp[] = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
                              "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

void hz_metrics_answer(hz_metrics *m, hz_health_fn health, void *opaque, const char *method,
                       const char *url, hz_http_answer *a)
{
    hz_http_route(m, health, opaque, NULL, method, url, a);
}

void hz_http_route(hz_metrics *m, hz_health_fn health, void *opaque, hz_web *web,
                   const char *method, const char *uri, hz_http_answer *a)
{
    static const char text[] = "text/plain; charset=utf-8";
    size_t plen = strcspn(uri, "?");
    memset(a, 0, sizeof *a);
    a->ctype = text;
    a->body = a->buf;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        a->status = MHD_HTTP_METHOD_NOT_ALLOWED;
        a->allow = "GET, HEAD";
        a->len = (size_t)snprintf(a->buf, sizeof a->buf, "method %s not allowed\n", method);
    } else if (plen == 8 && !memcmp(uri, "/metrics", 8)) {
        char *body = NULL;
        size_t len = 0;
        if (hz_metrics_render(m, &body, &len, a->buf, sizeof a->buf) != 0) {
            a->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
            a->len = strlen(a->buf);
        } else {
            a->status = MHD_HTTP_OK;
            a->ctype = "text/plain; version=0.0.4; charset=utf-8";
            a->body = body;
            a->len = len;
            a->owned = 1;
        }
    } else if (plen == 8 && !memcmp(uri, "/healthz", 8)) {
        char reason[200] = "";
        if (!health || health(opaque, reason, sizeof reason)) {
            a->status = MHD_HTTP_OK;
            a->len = (size_t)snprintf(a->buf, sizeof a->buf, "ok\n");
        } else {
            a->status = MHD_HTTP_SERVICE_UNAVAILABLE;
            a->len = (size_t)snprintf(a->buf, sizeof a->buf, "unhealthy: %s\n",
                                      reason[0] ? reason : "no reason given");
        }
    } else if (web) {
        hz_web_answer(web, uri, a);
        a->csp = web_csp;
    } else {
        a->status = MHD_HTTP_NOT_FOUND;
        a->len = (size_t)snprintf(a->buf, sizeof a->buf, "not found; try /metrics or /healthz\n");
    }
    /* snprintf's length is what it wanted: the body is what it wrote */
    if (!a->owned && a->len >= sizeof a->buf)
        a->len = sizeof a->buf - 1;
}

static mhd_ret handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                      const char *version, const char *upload_data, size_t *upload_data_size,
                      void **con_cls)
{
    hz_metrics_server *s = cls;
    hz_http_answer a;
    /* the URI as sent (uri_start): libmicrohttpd's url is decoded, and a series name's "%2F"
     * must stay inside its path segment */
    hz_http_route(s->m, s->health, s->opaque, s->web, method, *con_cls ? *con_cls : url, &a);
    return reply(conn, &a);
}

/* Keeps the raw request URI (at most HZ_WEB_MAX_URI + 1 bytes: longer is refused anyway)
 * as the request's context, freed by uri_done. */
static void *uri_start(void *cls, const char *uri, struct MHD_Connection *conn)
{
    return strndup(uri, HZ_WEB_MAX_URI + 1);
}

static void uri_done(void *cls, struct MHD_Connection *conn, void **con_cls,
                     enum MHD_RequestTerminationCode toe)
{
    free(*con_cls);
    *con_cls = NULL;
}

static int is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        if (IN6_IS_ADDR_LOOPBACK(&a->sin6_addr))
            return 1;
        if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr))
            return a->sin6_addr.s6_addr[12] == 127;
    }
    return 0;
}

/* Splits "host:port" / "[v6]:port" into its parts. */
static int split_addr(const char *listen, char *host, size_t hostlen, char *port, size_t portlen,
                      char *err, size_t errlen)
{
    const char *colon;
    size_t hl;
    const char *h = listen;
    if (listen[0] == '[') {
        const char *rb = strchr(listen, ']');
        if (!rb || rb[1] != ':')
            return hz_err(err, errlen, HZ_EINVAL, "metrics.listen \"%s\": expected \"[ipv6]:port\"",
                          listen);
        h = listen + 1;
        hl = (size_t)(rb - h);
        colon = rb + 1;
    } else {
        colon = strrchr(listen, ':');
        if (!colon || strchr(listen, ':') != colon)
            return hz_err(err, errlen, HZ_EINVAL,
                          "metrics.listen \"%s\": expected \"host:port\" (IPv6 as \"[::1]:port\")",
                          listen);
        hl = (size_t)(colon - listen);
    }
    const char *p = colon + 1;
    char *end;
    errno = 0;
    long pv = strtol(p, &end, 10);
    if (hl == 0 || hl >= hostlen || !*p || *end || errno || pv < 0 || pv > 65535)
        return hz_err(err, errlen, HZ_EINVAL,
                      "metrics.listen \"%s\": expected a host and a port 0..65535", listen);
    memcpy(host, h, hl);
    host[hl] = '\0';
    snprintf(port, portlen, "%ld", pv);
    return 0;
}

/* Resolves listen_addr into *ai (freeaddrinfo) and refuses a non-loopback address unless
 * allow_public. */
static int resolve(const char *listen_addr, int allow_public, struct addrinfo **ai, char *err,
                   size_t errlen)
{
    char host[256], port[8];
    int rc = split_addr(listen_addr, host, sizeof host, port, sizeof port, err, errlen);
    if (rc)
        return rc;
    struct addrinfo hints = {0};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    *ai = NULL;
    int g = getaddrinfo(host, port, &hints, ai);
    if (g != 0 || !*ai)
        return hz_err(err, errlen, HZ_EINVAL, "metrics.listen \"%s\": cannot resolve \"%s\": %s",
                      listen_addr, host, gai_strerror(g));
    if (!allow_public && !is_loopback((*ai)->ai_addr)) {
        freeaddrinfo(*ai);
        *ai = NULL;
        return hz_err(err, errlen, HZ_EINVAL,
                      "metrics.listen \"%s\": not a loopback address; the metrics endpoint has "
                      "no authentication (put a proxy in front, or set metrics.allow_public: "
                      "true)",
                      listen_addr);
    }
    return 0;
}

int hz_metrics_listen_check(const char *listen_addr, int allow_public, char *err, size_t errlen)
{
    struct addrinfo *ai = NULL;
    if (!listen_addr || !*listen_addr)
        return 0; /* the default, or disabled */
    int rc = resolve(listen_addr, allow_public, &ai, err, errlen);
    if (ai)
        freeaddrinfo(ai);
    return rc;
}

int hz_metrics_serve(hz_metrics *m, const char *listen_addr, int allow_public, hz_health_fn health,
                     void *opaque, hz_metrics_server **out, char *err, size_t errlen)
{
    return hz_metrics_serve_web(m, NULL, listen_addr, allow_public, health, opaque, out, err,
                                errlen);
}

int hz_metrics_serve_web(hz_metrics *m, hz_web *web, const char *listen_addr, int allow_public,
                         hz_health_fn health, void *opaque, hz_metrics_server **out, char *err,
                         size_t errlen)
{
    assert(m && out);
    *out = NULL;
    if (!listen_addr)
        listen_addr = "127.0.0.1:9464";
    if (!*listen_addr)
        return hz_err(err, errlen, HZ_EINVAL,
                      "metrics.listen is empty (metrics disabled): no server to start");
    struct addrinfo *ai = NULL;
    int rc = resolve(listen_addr, allow_public, &ai, err, errlen);
    if (rc)
        return rc;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = hz_err(err, errlen, HZ_EIO, "metrics.listen \"%s\": socket: %s", listen_addr,
                    strerror(errno));
        freeaddrinfo(ai);
        return rc;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ai->ai_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, BACKLOG) != 0) {
        rc = hz_err(err, errlen, HZ_EIO, "metrics.listen \"%s\": bind: %s", listen_addr,
                    strerror(errno));
        freeaddrinfo(ai);
        close(fd);
        return rc;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int bound_port = 0;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        bound_port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                              : ntohs(((struct sockaddr_in *)&ss)->sin_port);

    hz_metrics_server *s = calloc(1, sizeof *s);
    if (!s) {
        close(fd);
        return hz_err(err, errlen, HZ_ENOMEM, "metrics server: out of memory");
    }
    s->m = m;
    s->web = web;
    s->health = health;
    s->opaque = opaque;
    s->port = bound_port;
    /* The listen socket is handed over: MHD closes it in MHD_stop_daemon.  One polling
     * thread (epoll) serves every connection; idle ones cannot starve /healthz: room for
     * CONN_LIMIT of them, each closed after CONN_IDLE_S without a byte. */
    s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, 0, NULL, NULL, handle,
                            s, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
                            (unsigned)CONN_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned)CONN_IDLE_S, MHD_OPTION_URI_LOG_CALLBACK, uri_start, NULL,
                            MHD_OPTION_NOTIFY_COMPLETED, uri_done, NULL, MHD_OPTION_END);
    if (!s->d) {
        close(fd);
        free(s);
        return hz_err(err, errlen, HZ_EIO, "metrics.listen \"%s\": libmicrohttpd did not start",
                      listen_addr);
    }
    *out = s;
    return 0;
}

int hz_metrics_server_port(const hz_metrics_server *s)
{
    return s ? s->port : 0;
}

void hz_metrics_server_free(hz_metrics_server *s)
{
    if (!s)
        return;
    MHD_stop_daemon(s->d);
    free(s);
}
