/* runtime.c — horizond's single-threaded event loop over its pipelines, with SIGHUP reload,
 * SIGTERM drain, systemd notifications and the metrics server (runtime.h; the loop's timers
 * are listed in docs/ARCHITECTURE.md).  The loop has redis' serverCron shape: each turn
 * polls the pipelines, then cron() runs the periodic jobs whose period has elapsed. */
#include "service/runtime.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/metrics.h"
#include "service/metrics_http.h"
#include "service/notify.h"
#include "service/web.h"
#include "pipeline/pipeline.h"

#define RETRY_NS  (5LL * 1000000000) /* failed pipeline restart back-off */
#define STATUS_NS (5LL * 1000000000) /* systemd STATUS= line */
#define METRIC_NS (1LL * 1000000000) /* metrics registry refresh */
/* The loop's tick, one turn: each running pipeline is polled for up to POLL_ONE_MS (the
 * only pipeline) or POLL_MANY_MS (one of several), or, when none runs, the loop sleeps
 * TICK_NS; then cron() runs.  So cron runs about every 100 ms when idle (n pipelines:
 * n * 20 ms), more often when records arrive. */
#define TICK_NS      (100LL * 1000000)
#define POLL_ONE_MS  100
#define POLL_MANY_MS 20

typedef struct rt rt;

/* A periodic job of cron(): fn runs on the first turn after period_ns has passed since
 * last_run. */
typedef struct cron_job {
    const char *name;               /* what it is, for the reader of the table */
    int64_t period_ns;              /* 0: every turn; < 0: off */
    int64_t last_run;               /* hz_mono_ns() of its last run (cron_init: a start value) */
    void (*fn)(rt *r, int64_t now); /* now: hz_mono_ns() when cron found it due */
} cron_job;

enum { N_CRON = 4 }; /* restart, metrics, status, watchdog (cron_init) */

typedef struct slot {
    const hz_pipeline_conf *pc; /* owned by one of rt.cfgs */
    hz_pipeline *p;             /* NULL while failed */
    int64_t retry_ns;
    char last_err[HZ_ERRLEN]; /* its latest failure to start or step, for the web view */
    uint64_t web_readings;    /* readings and time at the last publish (readings/s) */
    int64_t web_ns;
} slot;

struct rt {
    hz_config *cfg;   /* current */
    hz_config **cfgs; /* every loaded config still referenced (cfg included) */
    size_t n_cfgs;
    slot *slots;
    size_t n_slots;
    hz_logger log;
    hz_metrics *metrics;
    hz_metrics_server *srv;
    hz_web *web; /* the pages on the metrics listener (service/web.h) */
    hz_notify notify;
    atomic_int unhealthy;   /* pipelines not running; read by the /healthz thread */
    const atomic_int *stop; /* the daemon's stop flag (signal handler) */
    int64_t last_extend;    /* last EXTEND_TIMEOUT_USEC sent (a train_on_start training) */
    int64_t last_status;    /* when the last STATUS= line went out (the loop's start at first) */
    uint64_t last_readings, last_forecasts;
    /* what the STATUS= line says of the last SIGHUP when it was not applied whole ("last
     * reload refused: why", or that a pipeline kept its previous settings); "" otherwise */
    char reload_note[HZ_ERRLEN];
    hz_metric *m_reload_ok, *m_reload_refused; /* horizon_config_reloads_total{result} */
    cron_job cron[N_CRON];
};

/* The /healthz callback (HTTP thread): healthy while every pipeline runs. */
static int health(void *opaque, char *reason, size_t reasonlen)
{
    rt *r = opaque;
    int n = atomic_load(&r->unhealthy);
    if (n)
        snprintf(reason, reasonlen, "%d pipeline%s not running (see the log)", n,
                 n == 1 ? "" : "s");
    return n == 0;
}

/* Publishes the number of pipelines not running, for health(). */
static void count_unhealthy(rt *r)
{
    int n = 0;
    for (size_t i = 0; i < r->n_slots; i++)
        n += r->slots[i].p == NULL;
    atomic_store(&r->unhealthy, n);
}

/* The loaded configuration pc belongs to (the current one when none). */
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

/* Starts s's pipeline; a failure is logged and retried after RETRY_NS (job_restart). */
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
        snprintf(s->last_err, sizeof s->last_err, "%s", err);
        s->p = NULL;
        s->retry_ns = hz_mono_ns() + RETRY_NS;
    }
}

/* Drains, logs the totals of and frees s's pipeline; HZ_E* when the drain failed. */
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

int hz_runtime_check(const hz_config *cfg, char *err, size_t errlen)
{
    int rc = hz_metrics_listen_check(cfg->metrics.listen, cfg->metrics.allow_public, err, errlen);
    /* every pipeline's connectors first: a missing checkpoint does not hide a bad property */
    for (size_t i = 0; !rc && i < cfg->n_pipelines; i++)
        rc = hz_pipeline_check(cfg, &cfg->pipelines[i], HZ_CHECK_CONNECTORS, err, errlen);
    for (size_t i = 0; !rc && i < cfg->n_pipelines; i++)
        rc = hz_pipeline_check(cfg, &cfg->pipelines[i], HZ_CHECK_MODEL, err, errlen);
    return rc;
}

int hz_runtime_load(const char *path, hz_config **out, char *err, size_t errlen)
{
    int rc = hz_config_load(path, out, err, errlen);
    if (!rc && (rc = hz_runtime_check(*out, err, errlen))) {
        hz_config_free(*out);
        *out = NULL;
    }
    return rc;
}

/* A SIGHUP whose file is refused: logged, kept for the STATUS= line (job_status) and
 * counted in horizon_config_reloads_total{result="refused"}; nothing running changes. */
static void reload_refused(rt *r, const char *why)
{
    hz_log(&r->log, HZ_LOG_ERR, "reload refused, keeping the running configuration: %s", why);
    snprintf(r->reload_note, sizeof r->reload_note, "last reload refused: %.480s", why);
    hz_metrics_inc(r->m_reload_refused);
    r->cron[2].last_run = hz_mono_ns() - STATUS_NS; /* the STATUS= line says so at once */
}

/* A changed pipeline whose new settings passed the check but did not start (a reason outside
 * the file: its database locked, a disk full): its previous settings prev start again, so a
 * reload never leaves less running, and the STATUS= line says so.  When those do not start
 * either, the new settings stay in the slot, retried every RETRY_NS. */
static void keep_previous(rt *r, slot *s, const hz_pipeline_conf *prev)
{
    const hz_pipeline_conf *npc = s->pc;
    s->pc = prev;
    start_slot(r, s);
    if (!s->p) {
        s->pc = npc;
        return;
    }
    hz_log(&r->log, HZ_LOG_ERR,
           "reload: pipeline %s did not start on its new settings; running its previous ones "
           "(the next SIGHUP tries the file again)",
           npc->name);
    snprintf(r->reload_note, sizeof r->reload_note,
             "last reload: pipeline %.200s kept its previous settings (see the log)", npc->name);
}

/* SIGHUP: loads and checks the file again (hz_runtime_load: every pipeline's checkpoint
 * loads and matches, Kafka properties, listener), and only then restarts, starts or stops
 * the pipelines it changed.  A refused file leaves everything running as it was. */
static void reload(rt *r)
{
    char err[HZ_ERRLEN];
    hz_config *nc;
    hz_log(&r->log, HZ_LOG_NOTICE, "SIGHUP: reloading %s", r->cfg->path);
    if (hz_runtime_load(r->cfg->path, &nc, err, sizeof err)) {
        reload_refused(r, err);
        return;
    }
    r->reload_note[0] = '\0';
    hz_metrics_inc(r->m_reload_ok);
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
        const hz_pipeline_conf *prev = NULL;
        if (old) {
            hz_log(&r->log, HZ_LOG_INFO, "reload: pipeline %s changed; restarting it", npc->name);
            stop_slot(r, old, nc->shutdown_timeout_ms);
            prev = old->pc;
            old->pc = NULL;
        } else {
            hz_log(&r->log, HZ_LOG_INFO, "reload: pipeline %s added", npc->name);
        }
        ns[i].pc = npc;
        r->cfg = nc; /* so cfg_of finds the new config for npc */
        start_slot(r, &ns[i]);
        if (!ns[i].p && prev && !atomic_load(r->stop))
            keep_previous(r, &ns[i], prev);
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

/* ---- the periodic jobs (cron) */

/* Restarts each failed pipeline whose back-off has passed. */
static void job_restart(rt *r, int64_t now)
{
    (void)now; /* a restart may block (train_on_start): each slot reads the clock itself */
    for (size_t i = 0; i < r->n_slots && !atomic_load(r->stop); i++) {
        slot *s = &r->slots[i];
        if (!s->p && hz_mono_ns() >= s->retry_ns) {
            start_slot(r, s);
            count_unhealthy(r);
        }
    }
}

/* What the web view shows of slot s at now (hz_mono_ns): its configuration, its first
 * SQLite sink, its state and rates. */
static void web_entry(rt *r, slot *s, int64_t now, hz_web_pipeline *e)
{
    const hz_pipeline_conf *pc = s->pc;
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", pc->name);
    for (size_t k = 0; k < pc->n_sinks && !e->db[0]; k++) {
        const hz_cfg_sink *k_ = &pc->sinks[k];
        if (k_->kind != HZ_CFG_SINK_SQLITE || !k_->sqlite.path)
            continue;
        snprintf(e->db, sizeof e->db, "%s", k_->sqlite.path);
        snprintf(e->forecasts, sizeof e->forecasts, "%s",
                 k_->sqlite.forecasts_table ? k_->sqlite.forecasts_table : "forecasts");
        snprintf(e->anomalies, sizeof e->anomalies, "%s",
                 k_->sqlite.anomalies_table ? k_->sqlite.anomalies_table : "anomalies");
        e->fc_mode = k_->sqlite.forecasts;
        if (pc->model.task == HZ_CFG_TASK_DISAGGREGATE)
            snprintf(e->appliances, sizeof e->appliances, "%s",
                     k_->sqlite.appliances_table ? k_->sqlite.appliances_table : "appliances");
    }
    e->period_ms = pc->window.period_ms;
    e->lookback = pc->window.lookback;
    snprintf(e->last_error, sizeof e->last_error, "%s", s->last_err);
    const char *lv[] = {pc->name, NULL};
    hz_metric *lag = hz_metrics_get(r->metrics, "horizon_consumer_lag", lv, NULL, 0);
    e->lag = lag ? hz_metrics_value(lag) : NAN;
    e->running = s->p != NULL;
    if (!s->p)
        return;
    struct stat sb;
    if (pc->model.checkpoint && stat(pc->model.checkpoint, &sb) == 0)
        e->model_time_ms = (int64_t)sb.st_mtim.tv_sec * 1000 + sb.st_mtim.tv_nsec / 1000000;
    snprintf(e->model_id, sizeof e->model_id, "%s", hz_pipeline_model_id(s->p));
    const hz_pipeline_stats *st = hz_pipeline_stats_get(s->p);
    e->readings_per_s =
        s->web_ns && now > s->web_ns && st->readings >= s->web_readings
            ? (double)(st->readings - s->web_readings) * 1e9 / (double)(now - s->web_ns)
            : 0;
    s->web_readings = st->readings;
    s->web_ns = now;
    e->readings = st->readings;
    e->forecasts_n = st->forecasts;
    e->anomalies_n = st->anomalies;
    e->series = st->series;
}

/* Publishes every pipeline's state to the web view. */
static void web_publish(rt *r, int64_t now)
{
    if (!r->web)
        return;
    hz_web_pipeline *e = calloc(r->n_slots + 1, sizeof *e);
    if (!e)
        return; /* the pages show the previous state */
    size_t n = 0;
    for (size_t i = 0; i < r->n_slots; i++)
        if (r->slots[i].pc)
            web_entry(r, &r->slots[i], now, &e[n++]);
    hz_web_publish(r->web, e, n);
    free(e);
}

/* Refreshes every running pipeline's gauges and counters in the metrics registry, and the
 * web view's state. */
static void job_metrics(rt *r, int64_t now)
{
    for (size_t i = 0; i < r->n_slots; i++)
        if (r->slots[i].p)
            hz_pipeline_update_metrics(r->slots[i].p);
    web_publish(r, now);
}

/* Sends systemd a STATUS= line: pipelines running, rates since the last line, totals. */
static void job_status(rt *r, int64_t now)
{
    double secs = now > r->last_status ? (now - r->last_status) / 1e9 : 1;
    r->last_status = now;
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
                     "forecasts, %llu anomalies%s%.300s",
                     running, r->n_slots, rps, fps, (unsigned long long)series,
                     (unsigned long long)fc, (unsigned long long)an, r->reload_note[0] ? "; " : "",
                     r->reload_note);
}

/* Pings systemd's watchdog (WATCHDOG=1). */
static void job_watchdog(rt *r, int64_t now)
{
    (void)now;
    hz_notify_watchdog(&r->notify, NULL, 0);
}

/* The job table, from the loop's start at now: restarts every turn; the metrics refresh
 * after METRIC_NS; a STATUS= line and a watchdog ping (when WatchdogSec= is set, every half
 * of it) at once, then every STATUS_NS and every watchdog interval. */
static void cron_init(rt *r, int64_t now)
{
    int64_t wd_ns = (int64_t)(hz_notify_watchdog_interval_usec(&r->notify) * 1000);
    r->last_status = now;
    r->cron[0] = (cron_job){"restart", 0, now, job_restart};
    r->cron[1] = (cron_job){"metrics", METRIC_NS, now, job_metrics};
    r->cron[2] = (cron_job){"status", STATUS_NS, now - STATUS_NS, job_status};
    r->cron[3] = (cron_job){"watchdog", wd_ns ? wd_ns : -1, now - wd_ns, job_watchdog};
}

/* Runs, in table order, each job whose period has elapsed; called once a turn of the loop. */
static void cron(rt *r)
{
    for (int i = 0; i < N_CRON; i++) {
        cron_job *j = &r->cron[i];
        int64_t now = hz_mono_ns();
        if (j->period_ns < 0 || now - j->last_run < j->period_ns)
            continue;
        j->last_run = now;
        j->fn(r, now);
    }
}

/* ---- the loop */

/* Steps every running pipeline once; one that fails is freed and restarted by cron after
 * RETRY_NS.  Returns the number of pipelines that were running. */
static int poll_pipelines(rt *r)
{
    char err[HZ_ERRLEN];
    int running = 0;
    for (size_t i = 0; i < r->n_slots && !atomic_load(r->stop); i++) {
        slot *s = &r->slots[i];
        if (!s->p)
            continue;
        running++;
        int n =
            hz_pipeline_step(s->p, r->n_slots == 1 ? POLL_ONE_MS : POLL_MANY_MS, err, sizeof err);
        if (n < 0) {
            hz_log(&r->log, HZ_LOG_ERR, "%s; restarting the pipeline in %lld s", err,
                   RETRY_NS / 1000000000);
            snprintf(s->last_err, sizeof s->last_err, "%s", err);
            hz_pipeline_free(s->p);
            s->p = NULL;
            s->retry_ns = hz_mono_ns() + RETRY_NS;
            count_unhealthy(r);
        }
    }
    return running;
}

/* Frees the server, pipelines, configurations and registry. */
static void rt_free(rt *r)
{
    hz_metrics_server_free(r->srv);
    hz_web_free(r->web);
    for (size_t i = 0; i < r->n_slots; i++)
        hz_pipeline_free(r->slots[i].p);
    free(r->slots);
    for (size_t i = 0; i < r->n_cfgs; i++)
        hz_config_free(r->cfgs[i]);
    free(r->cfgs);
    hz_metrics_free(r->metrics);
}

/* Sets up r for cfg (owned from here): registry, notifications, metrics server, slots.
 * On failure r holds only what rt_free frees, cfg included. */
static int rt_init(rt *r, hz_config *cfg, const atomic_int *stop, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    r->cfg = cfg;
    r->stop = stop;
    r->last_extend = INT64_MIN / 2;
    r->cfgs = malloc(sizeof *r->cfgs);
    r->metrics = hz_metrics_new();
    if (!r->cfgs || !r->metrics) {
        hz_config_free(cfg);
        return hz_err(err, errlen, HZ_ENOMEM, "out of memory");
    }
    r->cfgs[r->n_cfgs++] = cfg;
    r->log.max_level = cfg->log_level;
    int rc;
    static const char *const result[] = {"result", NULL};
    static const char *const ok[] = {"ok", NULL}, *const refused[] = {"refused", NULL};
    if ((rc = hz_notify_init(&r->notify, err, errlen)) ||
        (rc = hz_metrics_declare_std(r->metrics, err, errlen)) ||
        (rc = hz_metrics_declare(r->metrics, "horizon_config_reloads_total", HZ_METRIC_COUNTER,
                                 "SIGHUP reloads by result: ok (applied), refused (the running "
                                 "configuration kept).",
                                 result, NULL, 0, err, errlen)))
        return rc;
    r->m_reload_ok = hz_metrics_get(r->metrics, "horizon_config_reloads_total", ok, NULL, 0);
    r->m_reload_refused =
        hz_metrics_get(r->metrics, "horizon_config_reloads_total", refused, NULL, 0);
    if (cfg->metrics.listen && *cfg->metrics.listen) {
        if (!(r->web = hz_web_new()))
            return hz_err(err, errlen, HZ_ENOMEM, "out of memory");
        if ((rc = hz_metrics_serve_web(r->metrics, r->web, cfg->metrics.listen,
                                       cfg->metrics.allow_public, health, r, &r->srv, err, errlen)))
            return rc;
        hz_log(&r->log, HZ_LOG_INFO, "metrics on http://%s/metrics, pages on http://%s/ (port %d)",
               cfg->metrics.listen, cfg->metrics.listen, hz_metrics_server_port(r->srv));
    }
    r->slots = calloc(cfg->n_pipelines + 1, sizeof *r->slots);
    if (!r->slots)
        return hz_err(err, errlen, HZ_ENOMEM, "out of memory");
    r->n_slots = cfg->n_pipelines;
    return 0;
}

/* Starts every pipeline (until a stop), then tells systemd READY=1 unless stopped. */
static void start_pipelines(rt *r)
{
    for (size_t i = 0; i < r->n_slots && !atomic_load(r->stop); i++) {
        r->slots[i].pc = &r->cfg->pipelines[i];
        start_slot(r, &r->slots[i]);
    }
    count_unhealthy(r);
    if (!atomic_load(r->stop)) { /* else stopped during start (a train_on_start training) */
        hz_notify_ready(&r->notify, NULL, 0);
        hz_log(&r->log, HZ_LOG_NOTICE, "horizond ready: %zu pipeline%s from %s", r->n_slots,
               r->n_slots == 1 ? "" : "s", r->cfg->path);
    }
}

/* Drains and stops every pipeline (STOPPING=1 first); HZ_EIO when one did not drain. */
static int drain_pipelines(rt *r, char *err, size_t errlen)
{
    int rc = 0;
    hz_log(&r->log, HZ_LOG_NOTICE, "stopping: draining %zu pipeline%s", r->n_slots,
           r->n_slots == 1 ? "" : "s");
    hz_notify_stopping(&r->notify, NULL, 0);
    for (size_t i = 0; i < r->n_slots; i++)
        if (stop_slot(r, &r->slots[i], r->cfg->shutdown_timeout_ms))
            rc = hz_err(err, errlen, HZ_EIO, "a pipeline did not drain cleanly (see the log)");
    return rc;
}

int hz_runtime_run(hz_config *cfg, const hz_runtime_flags *flags, char *err, size_t errlen)
{
    rt r;
    int rc = rt_init(&r, cfg, flags->stop, err, errlen);
    if (rc)
        goto out;
    start_pipelines(&r);
    web_publish(&r, hz_mono_ns());
    cron_init(&r, hz_mono_ns());
    while (!atomic_load(flags->stop)) {
        if (*flags->reload) {
            *flags->reload = 0;
            reload(&r);
        }
        if (!poll_pipelines(&r)) { /* nothing to poll: wait one tick */
            struct timespec ts = {0, TICK_NS};
            nanosleep(&ts, NULL);
        }
        cron(&r);
    }
    rc = drain_pipelines(&r, err, errlen);
out:
    rt_free(&r);
    return rc;
}
