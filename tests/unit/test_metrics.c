/* test_metrics.c — the metrics registry, its Prometheus text rendering (checked by a small
 * parser of the exposition format), lock-free updates from threads, and the HTTP server
 * (fetched with a raw HTTP/1.0 GET over a socket). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common/metrics.h"
#include "service/metrics_http.h"

/* ---- a parser for the text format: every line is a comment or `name{labels} value` */

typedef struct sample {
    char name[128];
    char labels[512]; /* raw text between the braces, unescaped back */
    double value;
} sample;

/* Parses one sample line; returns 1 when well formed. */
static int parse_sample(const char *line, sample *s)
{
    const char *p = line;
    size_t n = 0;
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' || *p == ':'))
        return 0;
    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
           *p == '_' || *p == ':') {
        if (n + 1 >= sizeof s->name)
            return 0;
        s->name[n++] = *p++;
    }
    s->name[n] = '\0';
    n = 0;
    s->labels[0] = '\0';
    if (*p == '{') {
        p++;
        while (*p != '}') {
            /* label name */
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_'))
                return 0;
            while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                   (*p >= '0' && *p <= '9') || *p == '_')
                s->labels[n++] = *p++;
            if (p[0] != '=' || p[1] != '"')
                return 0;
            s->labels[n++] = '=';
            p += 2;
            while (*p != '"') {
                if (*p == '\0' || *p == '\n')
                    return 0;
                if (*p == '\\') {
                    p++;
                    if (*p == 'n')
                        s->labels[n++] = '\n';
                    else if (*p == '\\' || *p == '"')
                        s->labels[n++] = *p;
                    else
                        return 0;
                    p++;
                } else {
                    s->labels[n++] = *p++;
                }
                if (n + 4 >= sizeof s->labels)
                    return 0;
            }
            p++;
            if (*p == ',') {
                s->labels[n++] = ',';
                p++;
            } else if (*p != '}') {
                return 0;
            }
        }
        p++;
        s->labels[n] = '\0';
    }
    if (*p != ' ')
        return 0;
    p++;
    if (strcmp(p, "+Inf") == 0)
        s->value = INFINITY;
    else if (strcmp(p, "-Inf") == 0)
        s->value = -INFINITY;
    else if (strcmp(p, "NaN") == 0)
        s->value = NAN;
    else {
        char *end;
        s->value = strtod(p, &end);
        if (end == p || *end != '\0')
            return 0;
    }
    return 1;
}

/* Checks every line of an exposition; returns the number of samples, -1 on a bad line. */
static int check_exposition(const char *text)
{
    int nsamples = 0;
    char line[1024];
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        if (!nl)
            return -1; /* every line ends in \n */
        size_t len = (size_t)(nl - p);
        if (len >= sizeof line)
            return -1;
        memcpy(line, p, len);
        line[len] = '\0';
        p = nl + 1;
        if (strncmp(line, "# HELP ", 7) == 0)
            continue;
        if (strncmp(line, "# TYPE ", 7) == 0) {
            const char *t = strrchr(line, ' ') + 1;
            if (strcmp(t, "counter") && strcmp(t, "gauge") && strcmp(t, "histogram"))
                return -1;
            continue;
        }
        sample s;
        if (!parse_sample(line, &s)) {
            fprintf(stderr, "bad sample line: %s\n", line);
            return -1;
        }
        nsamples++;
    }
    return nsamples;
}

/* Value of the sample with this name and exact (unescaped) label text; NAN when absent. */
static double find_value(const char *text, const char *name, const char *labels)
{
    char line[1024];
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = (size_t)(nl - p);
        memcpy(line, p, len);
        line[len] = '\0';
        p = nl + 1;
        sample s;
        if (line[0] != '#' && parse_sample(line, &s) && strcmp(s.name, name) == 0 &&
            strcmp(s.labels, labels) == 0)
            return s.value;
    }
    return NAN;
}

static char *render(hz_metrics *m)
{
    char *out = NULL, err[HZ_ERRLEN];
    size_t len = 0;
    assert_int_equal(hz_metrics_render(m, &out, &len, err, sizeof err), 0);
    assert_int_equal(strlen(out), len);
    return out;
}

/* ---- registry and rendering */

static void test_render_counter_gauge_and_escaping(void **state)
{
    hz_metrics *m = hz_metrics_new();
    char err[HZ_ERRLEN];
    assert_int_equal(hz_metrics_declare_std(m, err, sizeof err), 0);
    hz_metric *r = hz_metrics_get(m, "horizon_readings_total", (const char *[]){"feeder", NULL},
                                  err, sizeof err);
    assert_non_null(r);
    /* same labels: same child */
    assert_ptr_equal(r, hz_metrics_get(m, "horizon_readings_total",
                                       (const char *[]){"feeder", NULL}, err, sizeof err));
    hz_metric *weird = hz_metrics_get(m, "horizon_readings_total",
                                      (const char *[]){"a\"b\\c\nd", NULL}, err, sizeof err);
    hz_metric *an = hz_metrics_get(m, "horizon_anomalies_total",
                                   (const char *[]){"gauges", "spike", NULL}, err, sizeof err);
    hz_metric *lag = hz_metrics_get(m, "horizon_consumer_lag", (const char *[]){"feeder", NULL},
                                    err, sizeof err);
    assert_non_null(weird);
    assert_non_null(an);
    for (int i = 0; i < 41; i++)
        hz_metrics_inc(r);
    hz_metrics_add(r, 0.5);
    hz_metrics_add(r, -3); /* counters never go down */
    hz_metrics_add(r, NAN);
    hz_metrics_inc(weird);
    hz_metrics_add(an, 3);
    hz_metrics_set(lag, 1234);
    hz_metrics_set(lag, 17);
    hz_metrics_inc(NULL); /* no-op */

    char *text = render(m);
    assert_true(check_exposition(text) > 0);
    assert_non_null(strstr(text, "# TYPE horizon_readings_total counter\n"));
    assert_non_null(strstr(text, "# TYPE horizon_inference_seconds histogram\n"));
    assert_non_null(strstr(text, "# HELP horizon_consumer_lag "));
    assert_non_null(strstr(text, "horizon_readings_total{pipeline=\"a\\\"b\\\\c\\nd\"} 1\n"));
    assert_true(find_value(text, "horizon_readings_total", "pipeline=feeder") == 41.5);
    assert_true(find_value(text, "horizon_readings_total", "pipeline=a\"b\\c\nd") == 1);
    assert_true(find_value(text, "horizon_anomalies_total", "pipeline=gauges,kind=spike") == 3);
    assert_true(find_value(text, "horizon_consumer_lag", "pipeline=feeder") == 17);
    assert_true(hz_metrics_value(r) == 41.5);
    free(text);

    /* counters increase between scrapes */
    hz_metrics_inc(r);
    text = render(m);
    assert_true(find_value(text, "horizon_readings_total", "pipeline=feeder") == 42.5);
    free(text);
    hz_metrics_free(m);
}

static void test_histogram_buckets_cumulative(void **state)
{
    hz_metrics *m = hz_metrics_new();
    char err[HZ_ERRLEN];
    const double b[] = {0.01, 0.1, 1};
    assert_int_equal(hz_metrics_declare(m, "lat_seconds", HZ_METRIC_HISTOGRAM, "latency",
                                        (const char *[]){"pipeline", NULL}, b, 3, err, sizeof err),
                     0);
    hz_metric *h = hz_metrics_get(m, "lat_seconds", (const char *[]){"p", NULL}, err, sizeof err);
    const double obs[] = {0.005, 0.01, 0.02, 0.5, 0.7, 3, 100, NAN};
    double sum = 0;
    for (size_t i = 0; i < sizeof obs / sizeof *obs; i++) {
        hz_metrics_observe(h, obs[i]);
        if (!isnan(obs[i]))
            sum += obs[i];
    }
    char *text = render(m);
    assert_true(check_exposition(text) == 6);
    /* le is inclusive: 0.01 falls in the 0.01 bucket */
    assert_true(find_value(text, "lat_seconds_bucket", "pipeline=p,le=0.01") == 2);
    assert_true(find_value(text, "lat_seconds_bucket", "pipeline=p,le=0.1") == 3);
    assert_true(find_value(text, "lat_seconds_bucket", "pipeline=p,le=1") == 5);
    assert_true(find_value(text, "lat_seconds_bucket", "pipeline=p,le=+Inf") == 7);
    assert_true(find_value(text, "lat_seconds_count", "pipeline=p") == 7);
    assert_true(fabs(find_value(text, "lat_seconds_sum", "pipeline=p") - sum) < 1e-12);
    /* cumulative: each bucket line is >= the one before, in order */
    double prev = -1;
    int nb = 0;
    for (const char *p = strstr(text, "lat_seconds_bucket"); p;
         p = strstr(p + 1, "lat_seconds_bucket")) {
        double v = strtod(strchr(p, '}') + 2, NULL);
        assert_true(v >= prev);
        prev = v;
        nb++;
    }
    assert_int_equal(nb, 4);
    free(text);
    hz_metrics_free(m);
}

static void test_declare_errors(void **state)
{
    hz_metrics *m = hz_metrics_new();
    char err[HZ_ERRLEN];
    const double b[] = {1, 2};
    const double bad[] = {2, 1};
    assert_int_equal(
        hz_metrics_declare(m, "9bad", HZ_METRIC_COUNTER, "", NULL, NULL, 0, err, sizeof err),
        HZ_EINVAL);
    assert_non_null(strstr(err, "9bad"));
    assert_int_equal(hz_metrics_declare(m, "h", HZ_METRIC_HISTOGRAM, "",
                                        (const char *[]){"le", NULL}, b, 2, err, sizeof err),
                     HZ_EINVAL);
    assert_int_equal(
        hz_metrics_declare(m, "h", HZ_METRIC_HISTOGRAM, "", NULL, bad, 2, err, sizeof err),
        HZ_EINVAL);
    assert_int_equal(
        hz_metrics_declare(m, "c", HZ_METRIC_COUNTER, "", NULL, NULL, 0, err, sizeof err), 0);
    /* same shape again: fine; different type: refused */
    assert_int_equal(
        hz_metrics_declare(m, "c", HZ_METRIC_COUNTER, "", NULL, NULL, 0, err, sizeof err), 0);
    assert_int_equal(
        hz_metrics_declare(m, "c", HZ_METRIC_GAUGE, "", NULL, NULL, 0, err, sizeof err), HZ_EINVAL);
    assert_null(hz_metrics_get(m, "nope", NULL, err, sizeof err));
    assert_non_null(strstr(err, "nope"));
    assert_null(hz_metrics_get(m, "c", (const char *[]){"x", NULL}, err, sizeof err));
    assert_non_null(hz_metrics_get(m, "c", NULL, err, sizeof err));
    char *text = render(m);
    assert_non_null(strstr(text, "\nc 0\n"));
    free(text);
    hz_metrics_free(m);
    hz_metrics_free(NULL);
}

#define NTHREADS 4
#define NINC     50000

static void *incr_thread(void *arg)
{
    hz_metric **c = arg;
    for (int i = 0; i < NINC; i++) {
        hz_metrics_inc(c[0]);
        hz_metrics_observe(c[1], (double)(i % 10));
    }
    return NULL;
}

static void test_threads_lose_no_increment(void **state)
{
    hz_metrics *m = hz_metrics_new();
    char err[HZ_ERRLEN];
    assert_int_equal(hz_metrics_declare_std(m, err, sizeof err), 0);
    hz_metric *c[2] = {
        hz_metrics_get(m, "horizon_readings_total", (const char *[]){"p", NULL}, err, sizeof err),
        hz_metrics_get(m, "horizon_batch_size", (const char *[]){"p", NULL}, err, sizeof err)};
    pthread_t t[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, incr_thread, c), 0);
    /* render concurrently with the writers */
    for (int i = 0; i < 20; i++) {
        char *text = render(m);
        assert_true(check_exposition(text) > 0);
        free(text);
    }
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(t[i], NULL);
    assert_true(hz_metrics_value(c[0]) == (double)NTHREADS * NINC);
    assert_true(hz_metrics_value(c[1]) == (double)NTHREADS * NINC);
    char *text = render(m);
    /* sum of 0..9 repeated: 45 per 10 observations */
    assert_true(find_value(text, "horizon_batch_size_sum", "pipeline=p") ==
                45.0 * NTHREADS * NINC / 10);
    free(text);
    hz_metrics_free(m);
}

/* ---- HTTP */

typedef struct http_reply {
    int status;
    char *headers; /* raw header block */
    char *body;
} http_reply;

static int http_request(int port, const char *method, const char *path, http_reply *r)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    char req[256];
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", method, path);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (len + 4096 > cap)
            buf = realloc(buf, cap *= 2);
        ssize_t k = read(fd, buf + len, cap - len - 1);
        if (k <= 0)
            break;
        len += (size_t)k;
    }
    close(fd);
    buf[len] = '\0';
    char *sep = strstr(buf, "\r\n\r\n");
    if (!sep || sscanf(buf, "HTTP/1.%*d %d", &r->status) != 1) {
        free(buf);
        return -1;
    }
    *sep = '\0';
    r->headers = buf;
    r->body = sep + 4;
    return 0;
}

typedef struct health_state {
    atomic_int healthy;
} health_state;

static int health_cb(void *opaque, char *reason, size_t reasonlen)
{
    health_state *h = opaque;
    if (atomic_load(&h->healthy))
        return 1;
    snprintf(reason, reasonlen, "pipeline gauges: kafka broker down");
    return 0;
}

static void test_http_server(void **state)
{
    hz_metrics *m = hz_metrics_new();
    char err[HZ_ERRLEN];
    assert_int_equal(hz_metrics_declare_std(m, err, sizeof err), 0);
    hz_metric *r =
        hz_metrics_get(m, "horizon_readings_total", (const char *[]){"meters", NULL}, err, 64);
    hz_metric *lat = hz_metrics_get(m, "horizon_inference_seconds",
                                    (const char *[]){"meters", NULL}, err, sizeof err);
    hz_metrics_add(r, 10);
    hz_metrics_observe(lat, 0.003);
    health_state hs;
    atomic_init(&hs.healthy, 1);
    hz_metrics_server *s = NULL;
    int rc = hz_metrics_serve(m, "127.0.0.1:0", 0, health_cb, &hs, &s, err, sizeof err);
    assert_int_equal(rc, 0);
    int port = hz_metrics_server_port(s);
    assert_true(port > 0);

    http_reply rep;
    assert_int_equal(http_request(port, "GET", "/metrics", &rep), 0);
    assert_int_equal(rep.status, 200);
    assert_non_null(strstr(rep.headers, "text/plain; version=0.0.4"));
    assert_true(check_exposition(rep.body) > 0);
    double v1 = find_value(rep.body, "horizon_readings_total", "pipeline=meters");
    assert_true(v1 == 10);
    assert_true(
        find_value(rep.body, "horizon_inference_seconds_bucket", "pipeline=meters,le=0.005") == 1);
    free(rep.headers);

    hz_metrics_add(r, 5);
    assert_int_equal(http_request(port, "GET", "/metrics", &rep), 0);
    assert_true(find_value(rep.body, "horizon_readings_total", "pipeline=meters") == 15);
    free(rep.headers);

    assert_int_equal(http_request(port, "GET", "/healthz", &rep), 0);
    assert_int_equal(rep.status, 200);
    assert_string_equal(rep.body, "ok\n");
    free(rep.headers);
    atomic_store(&hs.healthy, 0);
    assert_int_equal(http_request(port, "GET", "/healthz", &rep), 0);
    assert_int_equal(rep.status, 503);
    assert_non_null(strstr(rep.body, "kafka broker down"));
    free(rep.headers);

    assert_int_equal(http_request(port, "GET", "/nope", &rep), 0);
    assert_int_equal(rep.status, 404);
    free(rep.headers);
    assert_int_equal(http_request(port, "POST", "/metrics", &rep), 0);
    assert_int_equal(rep.status, 405);
    assert_non_null(strstr(rep.headers, "Allow: GET, HEAD"));
    free(rep.headers);
    assert_int_equal(http_request(port, "DELETE", "/healthz", &rep), 0);
    assert_int_equal(rep.status, 405);
    free(rep.headers);
    assert_int_equal(http_request(port, "HEAD", "/metrics", &rep), 0);
    assert_int_equal(rep.status, 200);
    assert_string_equal(rep.body, "");
    free(rep.headers);

    /* the same port again: bind fails with a message naming the address */
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    hz_metrics_server *s2 = NULL;
    assert_int_equal(hz_metrics_serve(m, addr, 0, NULL, NULL, &s2, err, sizeof err), HZ_EIO);
    assert_non_null(strstr(err, addr));
    assert_null(s2);

    hz_metrics_server_free(s);
    hz_metrics_server_free(NULL);
    /* after free the port is closed */
    assert_int_equal(http_request(port, "GET", "/metrics", &rep), -1);
    hz_metrics_free(m);
}

/* A connected socket that never sends a request (-1 on failure). */
static int idle_socket(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Idle connections (a scraper that hangs, a port scan) do not starve /healthz: with 64 of
 * them open, the probe still answers within a second (service/metrics_http.c's limits). */
static void test_idle_connections(void **state)
{
    hz_metrics *m = hz_metrics_new();
    char err[HZ_ERRLEN];
    hz_metrics_server *s = NULL;
    assert_int_equal(hz_metrics_serve(m, "127.0.0.1:0", 0, NULL, NULL, &s, err, sizeof err), 0);
    int port = hz_metrics_server_port(s);
    int idle[64];
    for (int i = 0; i < 64; i++)
        assert_true((idle[i] = idle_socket(port)) >= 0);
    struct timespec ts = {0, 100 * 1000000}; /* the server has accepted them */
    nanosleep(&ts, NULL);
    int64_t t0 = hz_mono_ns();
    http_reply r;
    assert_int_equal(http_request(port, "GET", "/healthz", &r), 0);
    assert_int_equal(r.status, 200);
    free(r.headers);
    assert_true(hz_mono_ns() - t0 < 1000000000);
    for (int i = 0; i < 64; i++)
        close(idle[i]);
    hz_metrics_server_free(s);
    hz_metrics_free(m);
}

static void test_listen_addresses(void **state)
{
    hz_metrics *m = hz_metrics_new();
    char err[HZ_ERRLEN];
    hz_metrics_server *s = NULL;
    const char *bad[] = {"127.0.0.1",    "127.0.0.1:", ":9464",     "127.0.0.1:70000",
                         "127.0.0.1:9x", "::1:9464",   "[::1]9464", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(hz_metrics_serve(m, bad[i], 0, NULL, NULL, &s, err, sizeof err),
                         HZ_EINVAL);
        assert_non_null(strstr(err, bad[i]));
        assert_null(s);
    }
    /* non-loopback refused unless allowed */
    assert_int_equal(hz_metrics_serve(m, "0.0.0.0:0", 0, NULL, NULL, &s, err, sizeof err),
                     HZ_EINVAL);
    assert_non_null(strstr(err, "loopback"));
    assert_int_equal(hz_metrics_serve(m, "10.11.12.13:0", 0, NULL, NULL, &s, err, sizeof err),
                     HZ_EINVAL);
    /* the same check without binding (horizond --check, start, SIGHUP) */
    assert_int_equal(hz_metrics_listen_check("0.0.0.0:9464", 0, err, sizeof err), HZ_EINVAL);
    assert_non_null(strstr(err, "allow_public"));
    assert_int_equal(hz_metrics_listen_check("0.0.0.0:9464", 1, err, sizeof err), 0);
    assert_int_equal(hz_metrics_listen_check("127.0.0.1:9464", 0, err, sizeof err), 0);
    assert_int_equal(hz_metrics_listen_check("", 0, err, sizeof err), 0);
    assert_int_equal(hz_metrics_listen_check("127.0.0.1", 0, err, sizeof err), HZ_EINVAL);
    /* allowed: 0.0.0.0 binds */
    assert_int_equal(hz_metrics_serve(m, "0.0.0.0:0", 1, NULL, NULL, &s, err, sizeof err), 0);
    hz_metrics_server_free(s);
    s = NULL;
    /* the whole 127/8 is loopback */
    assert_int_equal(hz_metrics_serve(m, "127.0.0.2:0", 0, NULL, NULL, &s, err, sizeof err), 0);
    hz_metrics_server_free(s);
    s = NULL;
    /* IPv6 loopback, when the host has it */
    int rc = hz_metrics_serve(m, "[::1]:0", 0, NULL, NULL, &s, err, sizeof err);
    if (rc == 0)
        assert_true(hz_metrics_server_port(s) > 0);
    else
        assert_int_equal(rc, HZ_EIO);
    hz_metrics_server_free(s);
    hz_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_counter_gauge_and_escaping),
        cmocka_unit_test(test_histogram_buckets_cumulative),
        cmocka_unit_test(test_declare_errors),
        cmocka_unit_test(test_threads_lose_no_increment),
        cmocka_unit_test(test_http_server),
        cmocka_unit_test(test_listen_addresses),
        cmocka_unit_test(test_idle_connections),
    };
    return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
