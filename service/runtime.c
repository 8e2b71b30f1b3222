/* runtime.c — horizond's single-threaded event loop over its pipelines, with SIGHUP reload,
 * SIGTERM drain, systemd notifications and the metrics server (runtime.h; DESIGN.md
 * "Programs", "Delivery and scale").  The loop is redis' serverCron shape: poll, then the
 * timers that are due. */
#include "service/runtime.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/metrics.h"
#include "service/metrics_http.h"
#include "service/notify.h"
#include "pipeline/pipeline.h"

#define RETRY_NS  (5LL * 1000000000) /* failed pipeline restart back-off */
#define STATUS_NS (5LL * 1000000000)
#define METRIC_NS (1LL * 1000000000)

typedef struct slot {
    const hz_pipeline_conf *pc; /* owned by one of rt.cfgs */
    hz_pipeline *p;             /* NULL while failed */
    int64_t retry_ns;
} slot;

typedef struct rt {
    hz_config *cfg;   /* current */
    hz_config **cfgs; /* every loaded config still referenced (cfg included) */
    size_t n_cfgs;
    slot *slots;
    size_t n_slots;
    hz_logger log;
    hz_metrics *metrics;
    hz_metrics_server *srv;
    hz_notify notify;
    atomic_int unhealthy;   /* pipelines not running; read by the /healthz thread */
    const atomic_int *stop; /* the daemon's stop flag (signal handler) */
    int64_t last_extend;    /* last EXTEND_TIMEOUT_USEC sent (a train_on_start training) */
    uint64_t last_readings, last_forecasts;
} rt;

static int health(void *opaque, char *reason, size_t reasonlen)
{
    rt *r = opaque;
    int n = atomic_load(&r->unhealthy);
    if (n)
        snprintf(reason, reasonlen, "%d pipeline%s not running (see the log)", n,
                 n == 1 ? "" : "s");
    return n == 0;
}

static void count_unhealthy(rt *r)
{
    int n = 0;
    for (size_t i = 0; i < r->n_slots; i++)
        n += r->slots[i].p == NULL;
    atomic_store(&r->unhealthy, n);
}

static hz_config *cfg_of(rt *r, const hz_pipeline_conf *pc)
{
    for (size_t i = 0; i < r->n_cfgs; i++) {
        hz_config *c = r->cfgs[i];
        if (pc >= c->pipelines && pc < c->pipelines + c->n_pipelines)
            return c;
    }
    return r->cfg;
}

/* After every batch of a train_on_start training (which runs before READY=1 at start-up, and
 * blocks the loop on a reload): at most once a second, tell systemd to wait START_EXTEND_US
 * more, so TimeoutStartSec= bounds a stalled start, not a long training; and ping the
 * watchdog (on after READY=1), which the blocked loop cannot. */
#define START_EXTEND_US (60 * 1000000ULL)
static void training_alive(void *arg)
{
    rt *r = arg;
    int64_t now = hz_mono_ns();
    if (now - r->last_extend < 1000000000)
        return;
    r->last_extend = now;
    char err[HZ_ERRLEN];
    if (hz_notify_extend_timeout(&r->notify, START_EXTEND_US, err, sizeof err) ||
        hz_notify_watchdog(&r->notify, err, sizeof err))
        hz_log(&r->log, HZ_LOG_WARN, "%s", err);
}

static void start_slot(rt *r, slot *s)
{
    char err[HZ_ERRLEN];
    hz_train_hooks hooks = {r->stop, training_alive, r};
    if (hz_pipeline_new(cfg_of(r, s->pc), s->pc, r->metrics, &r->log, &hooks, &s->p, err,
                        sizeof err)) {
        if (atomic_load(r->stop)) /* a train_on_start training ended by the stop */
            hz_log(&r->log, HZ_LOG_NOTICE, "%s: stopping", err);
        else
            hz_log(&r->log, HZ_LOG_ERR, "%s; retrying in %lld s", err, RETRY_NS / 1000000000);
        s->p = NULL;
        s->retry_ns = hz_mono_ns() + RETRY_NS;
    }
}

static int stop_slot(rt *r, slot *s, int64_t timeout_ms)
{
    int rc = 0;
    if (!s->p)
        return 0;
    char err[HZ_ERRLEN];
    if ((rc = hz_pipeline_drain(s->p, (int)timeout_ms, err, sizeof err)))
        hz_log(&r->log, HZ_LOG_ERR, "%s (not acknowledged: it will be read again)", err);
    const hz_pipeline_stats *st = hz_pipeline_stats_get(s->p);
    hz_log(&r->log, HZ_LOG_INFO,
           "pipeline %s stopped: %llu readings, %llu forecasts, %llu anomalies, %llu dead "
           "letters, %llu windows in %llu batches, %llu series; busy %.2f s, latency p50 %.1f ms "
           "p99 %.1f ms",
           s->pc->name, (unsigned long long)st->readings, (unsigned long long)st->forecasts,
           (unsigned long long)st->anomalies, (unsigned long long)st->dead,
           (unsigned long long)st->windows, (unsigned long long)st->batches,
           (unsigned long long)st->series, st->busy_ns / 1e9,
           hz_pipeline_latency_quantile(st, 0.5) * 1e3,
           hz_pipeline_latency_quantile(st, 0.99) * 1e3);
    hz_pipeline_free(s->p);
    s->p = NULL;
    return rc;
}

/* Frees every config no slot points into, except the current one. */
static void collect_cfgs(rt *r)
{
    size_t k = 0;
    for (size_t i = 0; i < r->n_cfgs; i++) {
        hz_config *c = r->cfgs[i];
        int used = c == r->cfg;
        for (size_t j = 0; j < r->n_slots && !used; j++)
            used = cfg_of(r, r->slots[j].pc) == c;
        if (used)
            r->cfgs[k++] = c;
        else
            hz_config_free(c);
    }
    r->n_cfgs = k;
}

static void reload(rt *r)
{
    char err[HZ_ERRLEN];
    hz_config *nc;
    hz_log(&r->log, HZ_LOG_NOTICE, "SIGHUP: reloading %s", r->cfg->path);
    if (hz_config_load(r->cfg->path, &nc, err, sizeof err)) {
        hz_log(&r->log, HZ_LOG_ERR, "reload refused, keeping the running configuration: %s", err);
        return;
    }
    hz_notify_reloading(&r->notify, NULL, 0);
    hz_config **cf = realloc(r->cfgs, (r->n_cfgs + 1) * sizeof *cf);
    slot *ns = calloc(nc->n_pipelines + 1, sizeof *ns);
    if (!cf || !ns) {
        free(ns);
        if (cf)
            r->cfgs = cf;
        hz_config_free(nc);
        hz_log(&r->log, HZ_LOG_ERR, "reload: out of memory; keeping the running configuration");
        return;
    }
    r->cfgs = cf;
    r->cfgs[r->n_cfgs++] = nc;
    if (strcmp(nc->metrics.listen, r->cfg->metrics.listen))
        hz_log(&r->log, HZ_LOG_WARN, "reload: metrics.listen changed; it takes effect at restart");
    r->log.max_level = nc->log_level;
    for (size_t i = 0; i < nc->n_pipelines; i++) {
        const hz_pipeline_conf *npc = &nc->pipelines[i];
        slot *old = NULL;
        for (size_t j = 0; j < r->n_slots; j++)
            if (r->slots[j].pc && !strcmp(r->slots[j].pc->name, npc->name))
                old = &r->slots[j];
        if (old && old->p && hz_config_pipeline_equal(old->pc, npc)) {
            const hz_pipeline_stats *st = hz_pipeline_stats_get(old->p);
            hz_log(&r->log, HZ_LOG_INFO,
                   "reload: pipeline %s unchanged; keeps its windows (%llu series)", npc->name,
                   (unsigned long long)st->series);
            ns[i] = *old;
            old->pc = NULL; /* moved */
            continue;
        }
        if (old) {
            hz_log(&r->log, HZ_LOG_INFO, "reload: pipeline %s changed; restarting it", npc->name);
            stop_slot(r, old, nc->shutdown_timeout_ms);
            old->pc = NULL;
        } else {
            hz_log(&r->log, HZ_LOG_INFO, "reload: pipeline %s added", npc->name);
        }
        ns[i].pc = npc;
        r->cfg = nc; /* so cfg_of finds the new config for npc */
        start_slot(r, &ns[i]);
    }
    for (size_t j = 0; j < r->n_slots; j++)
        if (r->slots[j].pc) {
            hz_log(&r->log, HZ_LOG_INFO, "reload: pipeline %s removed", r->slots[j].pc->name);
            stop_slot(r, &r->slots[j], nc->shutdown_timeout_ms);
        }
    free(r->slots);
    r->slots = ns;
    r->n_slots = nc->n_pipelines;
    r->cfg = nc;
    collect_cfgs(r);
    count_unhealthy(r);
    hz_notify_ready(&r->notify, NULL, 0);
    hz_log(&r->log, HZ_LOG_NOTICE, "reload done: %zu pipelines", r->n_slots);
}

static void status(rt *r, double secs)
{
    uint64_t rd = 0, fc = 0, an = 0, series = 0;
    int running = 0;
    for (size_t i = 0; i < r->n_slots; i++) {
        if (!r->slots[i].p)
            continue;
        const hz_pipeline_stats *st = hz_pipeline_stats_get(r->slots[i].p);
        rd += st->readings;
        fc += st->forecasts;
        an += st->anomalies;
        series += st->series;
        running++;
    }
    /* counters restart with a restarted pipeline: rates never go negative */
    double rps = rd >= r->last_readings ? (rd - r->last_readings) / secs : 0;
    double fps = fc >= r->last_forecasts ? (fc - r->last_forecasts) / secs : 0;
    r->last_readings = rd;
    r->last_forecasts = fc;
    hz_notify_status(&r->notify, NULL, 0,
                     "%d/%zu pipelines; %.0f readings/s, %.0f forecasts/s; %llu series, %llu "
                     "forecasts, %llu anomalies",
                     running, r->n_slots, rps, fps, (unsigned long long)series,
                     (unsigned long long)fc, (unsigned long long)an);
}

static void rt_free(rt *r)
{
    hz_metrics_server_free(r->srv);
    for (size_t i = 0; i < r->n_slots; i++)
        hz_pipeline_free(r->slots[i].p);
    free(r->slots);
    for (size_t i = 0; i < r->n_cfgs; i++)
        hz_config_free(r->cfgs[i]);
    free(r->cfgs);
    hz_metrics_free(r->metrics);
}

int hz_runtime_run(hz_config *cfg, const hz_runtime_flags *flags, char *err, size_t errlen)
{
    rt r;
    memset(&r, 0, sizeof r);
    r.cfg = cfg;
    r.stop = flags->stop;
    r.last_extend = INT64_MIN / 2;
    r.cfgs = malloc(sizeof *r.cfgs);
    r.metrics = hz_metrics_new();
    if (!r.cfgs || !r.metrics) {
        free(r.cfgs);
        hz_metrics_free(r.metrics);
        hz_config_free(cfg);
        return hz_err(err, errlen, HZ_ENOMEM, "out of memory");
    }
    r.cfgs[r.n_cfgs++] = cfg;
    r.log.max_level = cfg->log_level;
    int rc;
    if ((rc = hz_notify_init(&r.notify, err, errlen)) ||
        (rc = hz_metrics_declare_std(r.metrics, err, errlen)))
        goto out;
    if (cfg->metrics.listen && *cfg->metrics.listen) {
        if ((rc = hz_metrics_serve(r.metrics, cfg->metrics.listen, 0, health, &r, &r.srv, err,
                                   errlen)))
            goto out;
        hz_log(&r.log, HZ_LOG_INFO, "metrics on http://%s/metrics (port %d)", cfg->metrics.listen,
               hz_metrics_server_port(r.srv));
    }
    r.slots = calloc(cfg->n_pipelines + 1, sizeof *r.slots);
    if (!r.slots) {
        rc = hz_err(err, errlen, HZ_ENOMEM, "out of memory");
        goto out;
    }
    r.n_slots = cfg->n_pipelines;
    for (size_t i = 0; i < r.n_slots && !*flags->stop; i++) {
        r.slots[i].pc = &cfg->pipelines[i];
        start_slot(&r, &r.slots[i]);
    }
    count_unhealthy(&r);
    if (!*flags->stop) { /* else stopped during start (a train_on_start training) */
        hz_notify_ready(&r.notify, NULL, 0);
        hz_log(&r.log, HZ_LOG_NOTICE, "horizond ready: %zu pipeline%s from %s", r.n_slots,
               r.n_slots == 1 ? "" : "s", cfg->path);
    }
    uint64_t wd_ns = hz_notify_watchdog_interval_usec(&r.notify) * 1000;
    int64_t now = hz_mono_ns(), next_metrics = now + METRIC_NS, next_status = now, next_wd = now,
            last_status = now;
    while (!*flags->stop) {
        if (*flags->reload) {
            *flags->reload = 0;
            reload(&r);
        }
        int running = 0;
        for (size_t i = 0; i < r.n_slots && !*flags->stop; i++) {
            slot *s = &r.slots[i];
            if (!s->p) {
                if (hz_mono_ns() >= s->retry_ns) {
                    start_slot(&r, s);
                    count_unhealthy(&r);
                }
                continue;
            }
            running++;
            int n = hz_pipeline_step(s->p, r.n_slots == 1 ? 100 : 20, err, errlen);
            if (n < 0) {
                hz_log(&r.log, HZ_LOG_ERR, "%s; restarting the pipeline in %lld s", err,
                       RETRY_NS / 1000000000);
                hz_pipeline_free(s->p);
                s->p = NULL;
                s->retry_ns = hz_mono_ns() + RETRY_NS;
                count_unhealthy(&r);
            }
        }
        if (!running) {
            struct timespec ts = {0, 100 * 1000000};
            nanosleep(&ts, NULL);
        }
        now = hz_mono_ns();
        if (now >= next_metrics) {
            for (size_t i = 0; i < r.n_slots; i++)
                if (r.slots[i].p)
                    hz_pipeline_update_metrics(r.slots[i].p);
            next_metrics = now + METRIC_NS;
        }
        if (now >= next_status) {
            status(&r, now > last_status ? (now - last_status) / 1e9 : 1);
            last_status = now;
            next_status = now + STATUS_NS;
        }
        if (wd_ns && now >= next_wd) {
            hz_notify_watchdog(&r.notify, NULL, 0);
            next_wd = now + (int64_t)wd_ns;
        }
    }
    hz_log(&r.log, HZ_LOG_NOTICE, "stopping: draining %zu pipeline%s", r.n_slots,
           r.n_slots == 1 ? "" : "s");
    hz_notify_stopping(&r.notify, NULL, 0);
    for (size_t i = 0; i < r.n_slots; i++)
        if (stop_slot(&r, &r.slots[i], r.cfg->shutdown_timeout_ms))
            rc = hz_err(err, errlen, HZ_EIO, "a pipeline did not drain cleanly (see the log)");
out:
    rt_free(&r);
    return rc;
}
