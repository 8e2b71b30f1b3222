/* metrics.c — labelled counters, gauges and histograms with lock-free updates, rendered in
 * the Prometheus text exposition format 0.0.4 (HELP/TYPE lines, escaped label values,
 * cumulative `le` buckets ending in +Inf, _sum and _count); served over HTTP by
 * service/metrics_http.c.
 *
 * Values are doubles stored as their bit patterns in _Atomic uint64_t so that a worker
 * thread can add without a lock while the server thread renders.  Histogram buckets are
 * kept non-cumulative (one increment per observation) and summed at render time; _count is
 * the sum of the same snapshot, so buckets and count always agree in one scrape. */
#include "common/metrics.h"

#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hz_metric {
    struct hz_family *fam;
    char *values[HZ_METRICS_MAX_LABELS];
    _Atomic uint64_t val;                                /* double bits: counter/gauge */
    _Atomic uint64_t sum;                                /* double bits: histogram */
    _Atomic uint64_t counts[HZ_METRICS_MAX_BUCKETS + 1]; /* histogram, last = +Inf */
};

typedef struct hz_family {
    char *name, *help;
    hz_metric_type type;
    int nlabels;
    char *labels[HZ_METRICS_MAX_LABELS];
    int nbuckets;
    double buckets[HZ_METRICS_MAX_BUCKETS];
    hz_metric **children;
    size_t nchildren, cap;
} hz_family;

struct hz_metrics {
    pthread_mutex_t mu;
    hz_family **fams;
    size_t nfams, cap;
};

static uint64_t dbits(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

static double bitsd(uint64_t u)
{
    double v;
    memcpy(&v, &u, sizeof v);
    return v;
}

static void atomic_add_double(_Atomic uint64_t *a, double v)
{
    uint64_t old = atomic_load_explicit(a, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(a, &old, dbits(bitsd(old) + v),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

hz_metrics *hz_metrics_new(void)
{
    hz_metrics *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    if (pthread_mutex_init(&m->mu, NULL) != 0) {
        free(m);
        return NULL;
    }
    return m;
}

static void metric_free(hz_metric *c)
{
    if (!c)
        return;
    for (int i = 0; i < HZ_METRICS_MAX_LABELS; i++)
        free(c->values[i]);
    free(c);
}

static void family_free(hz_family *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->nchildren; i++)
        metric_free(f->children[i]);
    free(f->children);
    for (int i = 0; i < f->nlabels; i++)
        free(f->labels[i]);
    free(f->name);
    free(f->help);
    free(f);
}

void hz_metrics_free(hz_metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nfams; i++)
        family_free(m->fams[i]);
    free(m->fams);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static int valid_name(const char *s, int allow_colon)
{
    if (!s || !*s)
        return 0;
    for (const char *p = s; *p; p++) {
        int c = (unsigned char)*p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 (allow_colon && c == ':') || (p != s && c >= '0' && c <= '9');
        if (!ok)
            return 0;
    }
    return 1;
}

static hz_family *find_family(hz_metrics *m, const char *name)
{
    for (size_t i = 0; i < m->nfams; i++)
        if (strcmp(m->fams[i]->name, name) == 0)
            return m->fams[i];
    return NULL;
}

static int same_shape(const hz_family *f, hz_metric_type type, const char *const *labels, int nl,
                      const double *buckets, int nb)
{
    if (f->type != type || f->nlabels != nl)
        return 0;
    for (int i = 0; i < nl; i++)
        if (strcmp(f->labels[i], labels[i]) != 0)
            return 0;
    if (type == HZ_METRIC_HISTOGRAM) {
        if (f->nbuckets != nb)
            return 0;
        for (int i = 0; i < nb; i++)
            if (f->buckets[i] != buckets[i])
                return 0;
    }
    return 1;
}

int hz_metrics_declare(hz_metrics *m, const char *name, hz_metric_type type, const char *help,
                       const char *const *labels, const double *buckets, int nbuckets, char *err,
                       size_t errlen)
{
    assert(m);
    if (!valid_name(name, 1))
        return hz_err(err, errlen, HZ_EINVAL, "metric name \"%s\" is not a valid Prometheus name",
                      name ? name : "(null)");
    int nl = 0;
    while (labels && labels[nl]) {
        const char *l = labels[nl];
        if (nl == HZ_METRICS_MAX_LABELS)
            return hz_err(err, errlen, HZ_EINVAL, "metric %s: more than %d labels", name,
                          HZ_METRICS_MAX_LABELS);
        if (!valid_name(l, 0) || strncmp(l, "__", 2) == 0 ||
            (type == HZ_METRIC_HISTOGRAM && strcmp(l, "le") == 0))
            return hz_err(err, errlen, HZ_EINVAL, "metric %s: label name \"%s\" is not allowed",
                          name, l);
        for (int j = 0; j < nl; j++)
            if (strcmp(labels[j], l) == 0)
                return hz_err(err, errlen, HZ_EINVAL, "metric %s: label \"%s\" repeated", name, l);
        nl++;
    }
    if (type == HZ_METRIC_HISTOGRAM) {
        if (!buckets || nbuckets < 1 || nbuckets > HZ_METRICS_MAX_BUCKETS)
            return hz_err(err, errlen, HZ_EINVAL, "histogram %s: needs 1..%d buckets, got %d", name,
                          HZ_METRICS_MAX_BUCKETS, nbuckets);
        for (int i = 0; i < nbuckets; i++)
            if (!isfinite(buckets[i]) || (i > 0 && !(buckets[i] > buckets[i - 1])))
                return hz_err(err, errlen, HZ_EINVAL,
                              "histogram %s: bucket bounds must be finite and strictly "
                              "increasing (bound %d)",
                              name, i + 1);
    } else {
        nbuckets = 0;
    }

    pthread_mutex_lock(&m->mu);
    int rc = 0;
    hz_family *f = find_family(m, name);
    if (f) {
        if (!same_shape(f, type, labels, nl, buckets, nbuckets))
            rc = hz_err(err, errlen, HZ_EINVAL,
                        "metric %s: already declared with another type, labels or buckets", name);
        goto out;
    }
    if (m->nfams == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 16;
        hz_family **nf = realloc(m->fams, cap * sizeof *nf);
        if (!nf) {
            rc = hz_err(err, errlen, HZ_ENOMEM, "metric %s: out of memory", name);
            goto out;
        }
        m->fams = nf;
        m->cap = cap;
    }
    f = calloc(1, sizeof *f);
    if (!f) {
        rc = hz_err(err, errlen, HZ_ENOMEM, "metric %s: out of memory", name);
        goto out;
    }
    f->type = type;
    f->name = strdup(name);
    f->help = strdup(help ? help : "");
    int ok = f->name && f->help;
    for (int i = 0; i < nl && ok; i++) {
        f->labels[i] = strdup(labels[i]);
        ok = f->labels[i] != NULL;
        f->nlabels = i + 1;
    }
    f->nbuckets = nbuckets;
    for (int i = 0; i < nbuckets; i++)
        f->buckets[i] = buckets[i];
    if (!ok) {
        family_free(f);
        rc = hz_err(err, errlen, HZ_ENOMEM, "metric %s: out of memory", name);
        goto out;
    }
    m->fams[m->nfams++] = f;
out:
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int hz_metrics_declare_std(hz_metrics *m, char *err, size_t errlen)
{
    static const char *const P[] = {"pipeline", NULL};
    static const char *const PK[] = {"pipeline", "kind", NULL};
    static const char *const PR[] = {"pipeline", "result", NULL};
    static const char *const PL[] = {"pipeline", "level", NULL};
    /* Inference latency of one batched forward pass: 1 ms .. 30 s. */
    static const double lat[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                 0.25,  0.5,    1,     2.5,  5,     10,   30};
    /* Windows per forward pass (powers of two up to the largest sensible batch). */
    static const double bsz[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
    static const struct {
        const char *name;
        hz_metric_type type;
        const char *const *labels;
        const double *b;
        int nb;
        const char *help;
    } std[] = {
        {"horizon_readings_total", HZ_METRIC_COUNTER, P, NULL, 0,
         "Readings accepted from the pipeline's source."},
        {"horizon_forecasts_total", HZ_METRIC_COUNTER, P, NULL, 0,
         "Forecast points written (one per series, variable and horizon step)."},
        {"horizon_estimates_total", HZ_METRIC_COUNTER, P, NULL, 0,
         "Appliance estimates written by a disaggregation pipeline (one per window and "
         "appliance, each covering the window's slots)."},
        {"horizon_anomalies_total", HZ_METRIC_COUNTER, PK, NULL, 0,
         "Anomalies flagged, by kind (residual, range, flatline, spike, gap, shift)."},
        {"horizon_interval_coverage", HZ_METRIC_GAUGE, PL, NULL, 0,
         "Share of the readings checked since start that fell inside the forecast's interval "
         "at each anomaly level (nominal: the level)."},
        {"horizon_dead_letters_total", HZ_METRIC_COUNTER, P, NULL, 0,
         "Messages or rows that could not be decoded and went to the dead-letter sink."},
        {"horizon_consumer_lag", HZ_METRIC_GAUGE, P, NULL, 0,
         "Messages behind the end of the source (Kafka: sum over assigned partitions)."},
        {"horizon_inference_seconds", HZ_METRIC_HISTOGRAM, P, lat, (int)(sizeof lat / sizeof *lat),
         "Wall time of one batched model forward pass."},
        {"horizon_batch_size", HZ_METRIC_HISTOGRAM, P, bsz, (int)(sizeof bsz / sizeof *bsz),
         "Windows per batched forward pass."},
        {"horizon_window_series", HZ_METRIC_GAUGE, P, NULL, 0,
         "Series with a window held in memory."},
        {"horizon_late_dropped_total", HZ_METRIC_COUNTER, P, NULL, 0,
         "Readings older than the window, counted and dropped."},
        {"horizon_gaps_filled_total", HZ_METRIC_COUNTER, P, NULL, 0,
         "Missing grid points filled in windows."},
        {"horizon_values_awaited_total", HZ_METRIC_COUNTER, P, NULL, 0,
         "Variable values a reading lacked, awaited in their slot (window.wait)."},
        {"horizon_values_joined_total", HZ_METRIC_COUNTER, P, NULL, 0,
         "Awaited variable values that came in a later reading and joined their slot."},
        {"horizon_wait_filled_total", HZ_METRIC_COUNTER, P, NULL, 0,
         "Awaited variable values still absent window.wait slots later, filled by window.fill."},
        {"horizon_retrains_total", HZ_METRIC_COUNTER, PR, NULL, 0,
         "Scheduled retrainings (model.train.retrain_every), by result (ok, failed)."},
    };
    for (size_t i = 0; i < sizeof std / sizeof *std; i++) {
        int rc = hz_metrics_declare(m, std[i].name, std[i].type, std[i].help, std[i].labels,
                                    std[i].b, std[i].nb, err, errlen);
        if (rc)
            return rc;
    }
    return 0;
}

hz_metric *hz_metrics_get(hz_metrics *m, const char *name, const char *const *values, char *err,
                          size_t errlen)
{
    assert(m && name);
    pthread_mutex_lock(&m->mu);
    hz_metric *c = NULL;
    hz_family *f = find_family(m, name);
    if (!f) {
        hz_err(err, errlen, HZ_ENOTFOUND, "metric %s is not declared", name);
        goto out;
    }
    int nv = 0;
    while (values && nv <= f->nlabels && values[nv])
        nv++;
    if (nv != f->nlabels) {
        hz_err(err, errlen, HZ_EINVAL, "metric %s: expected %d label values, got %d%s", name,
               f->nlabels, nv, nv > f->nlabels ? " or more" : "");
        goto out;
    }
    for (size_t i = 0; i < f->nchildren; i++) {
        int same = 1;
        for (int j = 0; j < nv && same; j++)
            same = strcmp(f->children[i]->values[j], values[j]) == 0;
        if (same) {
            c = f->children[i];
            goto out;
        }
    }
    if (f->nchildren == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 8;
        hz_metric **nc = realloc(f->children, cap * sizeof *nc);
        if (!nc) {
            hz_err(err, errlen, HZ_ENOMEM, "metric %s: out of memory", name);
            goto out;
        }
        f->children = nc;
        f->cap = cap;
    }
    c = calloc(1, sizeof *c);
    int ok = c != NULL;
    for (int j = 0; j < nv && ok; j++)
        ok = (c->values[j] = strdup(values[j])) != NULL;
    if (!ok) {
        metric_free(c);
        c = NULL;
        hz_err(err, errlen, HZ_ENOMEM, "metric %s: out of memory", name);
        goto out;
    }
    c->fam = f;
    atomic_init(&c->val, dbits(0.0));
    atomic_init(&c->sum, dbits(0.0));
    for (int i = 0; i <= HZ_METRICS_MAX_BUCKETS; i++)
        atomic_init(&c->counts[i], 0);
    f->children[f->nchildren++] = c;
out:
    pthread_mutex_unlock(&m->mu);
    return c;
}

void hz_metrics_inc(hz_metric *c)
{
    hz_metrics_add(c, 1.0);
}

void hz_metrics_add(hz_metric *c, double v)
{
    if (!c)
        return;
    assert(c->fam->type != HZ_METRIC_HISTOGRAM);
    if (c->fam->type == HZ_METRIC_COUNTER && !(v >= 0))
        return; /* counters only go up; NaN is dropped too */
    atomic_add_double(&c->val, v);
}

void hz_metrics_set(hz_metric *c, double v)
{
    if (!c)
        return;
    assert(c->fam->type == HZ_METRIC_GAUGE);
    atomic_store_explicit(&c->val, dbits(v), memory_order_relaxed);
}

void hz_metrics_observe(hz_metric *c, double v)
{
    if (!c)
        return;
    assert(c->fam->type == HZ_METRIC_HISTOGRAM);
    if (isnan(v))
        return;
    const hz_family *f = c->fam;
    int i = 0;
    while (i < f->nbuckets && v > f->buckets[i]) /* le: bucket holds v <= bound */
        i++;
    atomic_fetch_add_explicit(&c->counts[i], 1, memory_order_relaxed);
    atomic_add_double(&c->sum, v);
}

double hz_metrics_value(const hz_metric *c)
{
    if (!c)
        return 0;
    if (c->fam->type != HZ_METRIC_HISTOGRAM)
        return bitsd(atomic_load_explicit(&c->val, memory_order_relaxed));
    uint64_t n = 0;
    for (int i = 0; i <= c->fam->nbuckets; i++)
        n += atomic_load_explicit(&c->counts[i], memory_order_relaxed);
    return (double)n;
}

/* ---- rendering */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_putn(sbuf *b, const char *s, size_t n)
{
    if (b->oom || (b->oom = hz_grow((void **)&b->p, &b->cap, b->len + n + 1, 1) != 0))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_puts(sbuf *b, const char *s)
{
    sb_putn(b, s, strlen(s));
}

/* Shortest of %.15g/%.17g that reads back to the same double; Prometheus spellings for
 * the non-finite values. */
static void fmt_double(char *buf, size_t n, double v)
{
    if (isnan(v))
        snprintf(buf, n, "NaN");
    else if (isinf(v))
        snprintf(buf, n, v > 0 ? "+Inf" : "-Inf");
    else {
        snprintf(buf, n, "%.15g", v);
        if (strtod(buf, NULL) != v)
            snprintf(buf, n, "%.17g", v);
    }
}

static void sb_double(sbuf *b, double v)
{
    char buf[40];
    fmt_double(buf, sizeof buf, v);
    sb_puts(b, buf);
}

/* Escapes for HELP text (\\ and \n) or label values (also \"). */
static void sb_escaped(sbuf *b, const char *s, int quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            sb_puts(b, "\\\\");
        else if (*s == '\n')
            sb_puts(b, "\\n");
        else if (quote && *s == '"')
            sb_puts(b, "\\\"");
        else
            sb_putn(b, s, 1);
    }
}

/* `name{l1="v1",...,le="x"}` — le is NULL except for histogram buckets. */
static void sb_series(sbuf *b, const hz_family *f, const hz_metric *c, const char *suffix,
                      const char *le)
{
    sb_puts(b, f->name);
    sb_puts(b, suffix);
    if (f->nlabels == 0 && !le)
        return;
    sb_puts(b, "{");
    for (int i = 0; i < f->nlabels; i++) {
        if (i)
            sb_puts(b, ",");
        sb_puts(b, f->labels[i]);
        sb_puts(b, "=\"");
        sb_escaped(b, c->values[i], 1);
        sb_puts(b, "\"");
    }
    if (le) {
        if (f->nlabels)
            sb_puts(b, ",");
        sb_puts(b, "le=\"");
        sb_puts(b, le);
        sb_puts(b, "\"");
    }
    sb_puts(b, "}");
}

static void render_child(sbuf *b, const hz_family *f, const hz_metric *c)
{
    if (f->type != HZ_METRIC_HISTOGRAM) {
        sb_series(b, f, c, "", NULL);
        sb_puts(b, " ");
        sb_double(b, bitsd(atomic_load_explicit(&c->val, memory_order_relaxed)));
        sb_puts(b, "\n");
        return;
    }
    uint64_t snap[HZ_METRICS_MAX_BUCKETS + 1], cum = 0;
    for (int i = 0; i <= f->nbuckets; i++)
        snap[i] = atomic_load_explicit(&c->counts[i], memory_order_relaxed);
    double sum = bitsd(atomic_load_explicit(&c->sum, memory_order_relaxed));
    char le[40], num[32];
    for (int i = 0; i <= f->nbuckets; i++) {
        cum += snap[i];
        if (i < f->nbuckets)
            fmt_double(le, sizeof le, f->buckets[i]);
        else
            snprintf(le, sizeof le, "+Inf");
        sb_series(b, f, c, "_bucket", le);
        snprintf(num, sizeof num, " %llu\n", (unsigned long long)cum);
        sb_puts(b, num);
    }
    sb_series(b, f, c, "_sum", NULL);
    sb_puts(b, " ");
    sb_double(b, sum);
    sb_puts(b, "\n");
    sb_series(b, f, c, "_count", NULL);
    snprintf(num, sizeof num, " %llu\n", (unsigned long long)cum);
    sb_puts(b, num);
}

int hz_metrics_render(hz_metrics *m, char **out, size_t *len, char *err, size_t errlen)
{
    static const char *const tname[] = {"counter", "gauge", "histogram"};
    assert(m && out);
    sbuf b = {0};
    sb_puts(&b, ""); /* an empty registry still renders as "" */
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->nfams; i++) {
        const hz_family *f = m->fams[i];
        sb_puts(&b, "# HELP ");
        sb_puts(&b, f->name);
        sb_puts(&b, " ");
        sb_escaped(&b, f->help, 0);
        sb_puts(&b, "\n# TYPE ");
        sb_puts(&b, f->name);
        sb_puts(&b, " ");
        sb_puts(&b, tname[f->type]);
        sb_puts(&b, "\n");
        for (size_t j = 0; j < f->nchildren; j++)
            render_child(&b, f, f->children[j]);
    }
    pthread_mutex_unlock(&m->mu);
    if (b.oom) {
        free(b.p);
        *out = NULL;
        return hz_err(err, errlen, HZ_ENOMEM, "metrics: out of memory rendering");
    }
    *out = b.p;
    if (len)
        *len = b.len;
    return 0;
}
