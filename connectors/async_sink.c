/* async_sink.c — another sink's writes on a thread of its own (async_sink.h).
 *
 * Two queues: the caller fills one while the writer thread empties the other; they swap
 * when the writer is idle.  A queue is a list of operations (one per write call) over record
 * arrays copied whole, whose strings and arrays live in an arena of fixed blocks (never
 * moved, so the copied pointers stay valid until the queue is reused). */
#include "connectors/async_sink.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/hz.h"

#define BLOCK (64 * 1024)

typedef struct block {
    struct block *next;
    size_t used, cap;
    char data[];
} block;

enum { OP_READINGS, OP_FORECASTS, OP_ANOMALIES, OP_DEAD, OP_ESTIMATES, OP_COMMIT };

typedef struct op {
    int kind;
    size_t n;
    void *recs;                /* in the arena: hz_reading / hz_forecast / ... [n] */
    const char *pipeline;      /* readings, dead letters */
    const char *const *vnames; /* readings */
} op;

typedef struct queue {
    op *ops;
    size_t n_ops, cap_ops;
    block *head, *cur;                /* arena blocks; cur the one being filled */
    const char *last_src, *last_copy; /* the last string copied (repeated series ids) */
} queue;

typedef struct async_sink {
    hz_sink base;
    hz_sink *inner;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t work, idle;
    queue q[2];
    int fill; /* the queue the caller writes into; the other is the writer's */
    int busy; /* the writer holds its queue */
    int stop;
    int err_rc; /* first failure of a queued write or commit */
    char err[HZ_ERRLEN];
    uint64_t begun, done; /* commits queued and completed */
    int64_t done_ns;      /* when the last one completed */
} async_sink;

/* ---- the arena */

static void *arena(queue *q, size_t len, size_t align)
{
    block *b = q->cur;
    size_t at = b ? (b->used + align - 1) / align * align : 0;
    if (!b || at + len > b->cap) {
        block *nb = b && b->next && b->next->cap >= len ? b->next : NULL;
        if (!nb) {
            size_t cap = len > BLOCK ? len : BLOCK;
            if (!(nb = malloc(sizeof *nb + cap)))
                return NULL;
            nb->cap = cap;
            nb->next = b ? b->next : NULL;
            if (b)
                b->next = nb;
            else
                q->head = nb;
        }
        nb->used = 0;
        q->cur = b = nb;
        at = 0;
    }
    b->used = at + len;
    return b->data + at;
}

static const char *copy_str(queue *q, const char *s, int *oom)
{
    if (!s)
        return NULL;
    if (s == q->last_src)
        return q->last_copy;
    size_t n = strlen(s) + 1;
    char *c = arena(q, n, 1);
    if (!c) {
        *oom = 1;
        return NULL;
    }
    memcpy(c, s, n);
    q->last_src = s;
    q->last_copy = c;
    return c;
}

static void *copy_mem(queue *q, const void *p, size_t n, int *oom)
{
    if (!p || !n)
        return NULL;
    void *c = arena(q, n, 16);
    if (!c) {
        *oom = 1;
        return NULL;
    }
    return memcpy(c, p, n);
}

static void queue_reset(queue *q)
{
    q->n_ops = 0;
    q->cur = q->head;
    if (q->cur)
        q->cur->used = 0;
    q->last_src = q->last_copy = NULL;
}

static void queue_free(queue *q)
{
    for (block *b = q->head, *nx; b; b = nx) {
        nx = b->next;
        free(b);
    }
    free(q->ops);
}

/* ---- copies of each record kind */

static int copy_readings(queue *q, op *o, const hz_reading *r, int *oom)
{
    hz_reading *c = copy_mem(q, r, o->n * sizeof *r, oom);
    for (size_t i = 0; c && i < o->n; i++)
        c[i].series = copy_str(q, r[i].series, oom);
    o->recs = c;
    return *oom;
}

static int copy_forecasts(queue *q, op *o, const hz_forecast *f, int *oom)
{
    hz_forecast *c = copy_mem(q, f, o->n * sizeof *f, oom);
    const double *lv_src = NULL, *lv = NULL;
    for (size_t i = 0; c && i < o->n; i++) {
        c[i].pipeline = copy_str(q, f[i].pipeline, oom);
        c[i].series = copy_str(q, f[i].series, oom);
        c[i].variable = copy_str(q, f[i].variable, oom);
        c[i].model_id = copy_str(q, f[i].model_id, oom);
        if (f[i].levels != lv_src) {
            lv_src = f[i].levels;
            lv = copy_mem(q, lv_src, (size_t)f[i].nlevels * sizeof *lv, oom);
        }
        c[i].levels = lv;
    }
    o->recs = c;
    return *oom;
}

static int copy_anomalies(queue *q, op *o, const hz_anomaly *a, int *oom)
{
    hz_anomaly *c = copy_mem(q, a, o->n * sizeof *a, oom);
    for (size_t i = 0; c && i < o->n; i++) {
        c[i].pipeline = copy_str(q, a[i].pipeline, oom);
        c[i].series = copy_str(q, a[i].series, oom);
        c[i].variable = copy_str(q, a[i].variable, oom);
        c[i].kind = copy_str(q, a[i].kind, oom);
        c[i].model_id = copy_str(q, a[i].model_id, oom);
        c[i].rule = copy_str(q, a[i].rule, oom);
    }
    o->recs = c;
    return *oom;
}

static int copy_dead(queue *q, op *o, const hz_dead_letter *d, int *oom)
{
    hz_dead_letter *c = copy_mem(q, d, o->n * sizeof *d, oom);
    for (size_t i = 0; c && i < o->n; i++) {
        c[i].origin = copy_str(q, d[i].origin, oom);
        c[i].reason = copy_str(q, d[i].reason, oom);
        c[i].payload = copy_mem(q, d[i].payload, d[i].payload_len, oom);
    }
    o->recs = c;
    return *oom;
}

static int copy_estimates(queue *q, op *o, const hz_estimate *e, int *oom)
{
    hz_estimate *c = copy_mem(q, e, o->n * sizeof *e, oom);
    for (size_t i = 0; c && i < o->n; i++) {
        c[i].pipeline = copy_str(q, e[i].pipeline, oom);
        c[i].series = copy_str(q, e[i].series, oom);
        c[i].appliance = copy_str(q, e[i].appliance, oom);
        c[i].model_id = copy_str(q, e[i].model_id, oom);
        c[i].power = copy_mem(q, e[i].power, (size_t)e[i].n * sizeof *e[i].power, oom);
    }
    o->recs = c;
    return *oom;
}

/* ---- the writer thread */

static int run_op(hz_sink *in, const op *o, char *err, size_t errlen)
{
    switch (o->kind) {
    case OP_READINGS:
        return in->ops->write_readings(in, o->pipeline, o->vnames, o->recs, o->n, err, errlen);
    case OP_FORECASTS:
        return in->ops->write_forecasts(in, o->recs, o->n, err, errlen);
    case OP_ANOMALIES:
        return in->ops->write_anomalies(in, o->recs, o->n, err, errlen);
    case OP_ESTIMATES:
        return in->ops->write_estimates(in, o->recs, o->n, err, errlen);
    case OP_COMMIT:
        return in->ops->flush(in, (int)o->n, err, errlen);
    default:
        return in->ops->write_dead(in, o->pipeline, o->recs, o->n, err, errlen);
    }
}

static void *writer(void *arg)
{
    async_sink *s = arg;
    pthread_setname_np(pthread_self(), "hz-sink-writer"); /* as top and perf show it */
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->stop && s->q[s->fill].n_ops == 0)
            pthread_cond_wait(&s->work, &s->mu);
        if (s->q[s->fill].n_ops == 0) /* stopping, nothing left */
            break;
        queue *q = &s->q[s->fill];
        s->fill ^= 1;
        s->busy = 1;
        int failed = s->err_rc;
        pthread_mutex_unlock(&s->mu);
        char err[HZ_ERRLEN] = "";
        int rc = 0;
        uint64_t commits = 0;
        for (size_t i = 0; i < q->n_ops; i++) {
            if (!failed && !rc)
                rc = run_op(s->inner, &q->ops[i], err, sizeof err);
            commits += q->ops[i].kind == OP_COMMIT; /* done, or failed: err_rc tells */
        }
        queue_reset(q);
        int64_t now = hz_mono_ns();
        pthread_mutex_lock(&s->mu);
        if (rc && !s->err_rc) {
            s->err_rc = rc;
            memcpy(s->err, err, sizeof err);
        }
        s->done += commits;
        if (commits)
            s->done_ns = now;
        s->busy = 0;
        pthread_cond_broadcast(&s->idle);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- the sink interface */

/* Queues one operation of n records (copied by `copy`); wakes the writer. */
static int enqueue(async_sink *s, int kind, const char *pipeline, const char *const *vnames, int nv,
                   const void *recs, size_t n, char *err, size_t errlen)
{
    if (n == 0)
        return 0;
    pthread_mutex_lock(&s->mu);
    int rc = s->err_rc;
    if (rc) {
        hz_err(err, errlen, rc, "%s", s->err);
        pthread_mutex_unlock(&s->mu);
        return rc;
    }
    queue *q = &s->q[s->fill];
    q->last_src = NULL; /* repeated strings are shared within one call only */
    int oom = hz_grow((void **)&q->ops, &q->cap_ops, q->n_ops + 1, sizeof *q->ops);
    op *o = oom ? NULL : &q->ops[q->n_ops];
    if (o) {
        memset(o, 0, sizeof *o);
        o->kind = kind;
        o->n = n;
        o->pipeline = copy_str(q, pipeline, &oom);
        if (vnames) {
            const char **v = arena(q, (size_t)nv * sizeof *v, sizeof *v);
            for (int i = 0; v && i < nv; i++)
                v[i] = copy_str(q, vnames[i], &oom);
            oom |= !v;
            o->vnames = v;
        }
        if (kind == OP_READINGS)
            copy_readings(q, o, recs, &oom);
        else if (kind == OP_FORECASTS)
            copy_forecasts(q, o, recs, &oom);
        else if (kind == OP_ANOMALIES)
            copy_anomalies(q, o, recs, &oom);
        else if (kind == OP_ESTIMATES)
            copy_estimates(q, o, recs, &oom);
        else
            copy_dead(q, o, recs, &oom);
    }
    if (!oom) {
        q->n_ops++;
        pthread_cond_signal(&s->work);
    }
    pthread_mutex_unlock(&s->mu);
    return oom ? hz_err(err, errlen, HZ_ENOMEM, "out of memory for queued records") : 0;
}

static int as_write_readings(hz_sink *k, const char *pipeline, const char *const *var_names,
                             const hz_reading *r, size_t n, char *err, size_t errlen)
{
    int nv = 0;
    for (size_t i = 0; i < n; i++)
        nv = r[i].nvars > nv ? r[i].nvars : nv;
    return enqueue((async_sink *)k, OP_READINGS, pipeline, var_names, nv, r, n, err, errlen);
}

static int as_write_forecasts(hz_sink *k, const hz_forecast *f, size_t n, char *err, size_t errlen)
{
    return enqueue((async_sink *)k, OP_FORECASTS, NULL, NULL, 0, f, n, err, errlen);
}

static int as_write_anomalies(hz_sink *k, const hz_anomaly *a, size_t n, char *err, size_t errlen)
{
    return enqueue((async_sink *)k, OP_ANOMALIES, NULL, NULL, 0, a, n, err, errlen);
}

static int as_write_estimates(hz_sink *k, const hz_estimate *e, size_t n, char *err, size_t errlen)
{
    async_sink *s = (async_sink *)k;
    if (!s->inner->ops->write_estimates) /* the inner sink keeps none */
        return 0;
    return enqueue(s, OP_ESTIMATES, NULL, NULL, 0, e, n, err, errlen);
}

static int as_write_dead(hz_sink *k, const char *pipeline, const hz_dead_letter *d, size_t n,
                         char *err, size_t errlen)
{
    return enqueue((async_sink *)k, OP_DEAD, pipeline, NULL, 0, d, n, err, errlen);
}

static int as_flush_begin(hz_sink *k, int timeout_ms, char *err, size_t errlen)
{
    async_sink *s = (async_sink *)k;
    pthread_mutex_lock(&s->mu);
    int rc = s->err_rc;
    queue *q = &s->q[s->fill];
    if (!rc && hz_grow((void **)&q->ops, &q->cap_ops, q->n_ops + 1, sizeof *q->ops))
        rc = HZ_ENOMEM;
    if (!rc) {
        q->ops[q->n_ops++] =
            (op){.kind = OP_COMMIT, .n = (size_t)(timeout_ms > 0 ? timeout_ms : 0)};
        s->begun++;
        pthread_cond_signal(&s->work);
    }
    if (rc)
        hz_err(err, errlen, rc, "%s", rc == HZ_ENOMEM ? "out of memory" : s->err);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static int as_flush_end(hz_sink *k, int64_t *done_ns, char *err, size_t errlen)
{
    async_sink *s = (async_sink *)k;
    pthread_mutex_lock(&s->mu);
    uint64_t want = s->begun;
    while (s->done < want && !s->err_rc)
        pthread_cond_wait(&s->idle, &s->mu);
    int rc = s->err_rc;
    if (rc)
        hz_err(err, errlen, rc, "%s", s->err);
    if (done_ns)
        *done_ns = s->done_ns;
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static int as_flush(hz_sink *k, int timeout_ms, char *err, size_t errlen)
{
    int rc = as_flush_begin(k, timeout_ms, err, errlen);
    return rc ? rc : as_flush_end(k, NULL, err, errlen);
}

static void as_free(hz_sink *k)
{
    async_sink *s = (async_sink *)k;
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->th, NULL);
    s->inner->ops->free(s->inner);
    queue_free(&s->q[0]);
    queue_free(&s->q[1]);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->work);
    pthread_cond_destroy(&s->idle);
    free(s);
}

static const hz_sink_ops async_ops = {
    .kind = "async",
    .write_readings = as_write_readings,
    .write_forecasts = as_write_forecasts,
    .write_anomalies = as_write_anomalies,
    .write_dead = as_write_dead,
    .flush = as_flush,
    .free = as_free,
    .flush_begin = as_flush_begin,
    .flush_end = as_flush_end,
    .write_estimates = as_write_estimates,
};

int hz_async_sink_new(hz_sink *inner, hz_sink **out, char *err, size_t errlen)
{
    *out = NULL;
    async_sink *s = calloc(1, sizeof *s);
    if (!s) {
        inner->ops->free(inner);
        return hz_err(err, errlen, HZ_ENOMEM, "out of memory");
    }
    s->base.ops = &async_ops;
    s->inner = inner;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->work, NULL);
    pthread_cond_init(&s->idle, NULL);
    if (pthread_create(&s->th, NULL, writer, s)) {
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->work);
        pthread_cond_destroy(&s->idle);
        free(s);
        inner->ops->free(inner);
        return hz_err(err, errlen, HZ_ENOMEM, "cannot start the sink's writer thread");
    }
    *out = &s->base;
    return 0;
}
