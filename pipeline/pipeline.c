/* pipeline.c — one horizond pipeline: source → window store → batched model forward
 * (forecaster.h) → sinks, with the data-quality rules and the residual check, and
 * at-least-once delivery: flush every sink, then acknowledge (pipeline.h; docs/ARCHITECTURE.md). */
#include "pipeline/pipeline.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/anomaly.h"
#include "pipeline/forecaster.h"
#include "connectors/factory.h"
#include "connectors/kafka_source.h"
#include "connectors/reading_check.h"
#include "connectors/sqlite_schema.h"
#include "connectors/sqlite_source.h"
#include "training/trainer.h"
#include "pipeline/window_store.h"

#define MAX_ACKS 256 /* partitions tracked per cycle */
/* A Kafka source reads this many messages of a partition again to rebuild its windows after
 * a rebalance when the lookup by message time gives nothing (kafka_source.h;
 * docs/ARCHITECTURE.md §9). */
#define REBUILD_MAX_MESSAGES 1000000
#define SW_WAIT              1 /* took history: waits for its partition's history to end */
#define SW_WARNED            2 /* seen on two partitions: warned */
#define N_KINDS              6
#define FLUSH_MS             30000
/* the kinds a variable's rules flag, in rule_txt: range, flatline, spike, gap, shift */
#define RULE_KINDS 5
static const char *const RULE_NAMES[RULE_KINDS] = {"range", "flatline", "spike", "gap", "shift"};

/* One variable's rules as resolved for a series (make_rules, resolve_rules). */
typedef struct var_rules {
    hz_rules_conf c;
    int on;      /* any of range, flatline, spike, gap */
    int exclude; /* keep range/spike readings out of the windows */
    int season;  /* > 0: the seasonal level detector (anomaly.h), periods in a season */
    char txt[RULE_KINDS][64]; /* hz_anomaly.rule per kind */
} var_rules;

static const char *const KINDS[N_KINDS] = {"residual", "range", "flatline",
                                           "spike",    "gap",   "shift"};

/* Scheduled retraining (model.train.retrain_every): one background thread at a time trains
 * a new model object from the pipeline's history into `<checkpoint>.next`, renames it over
 * the checkpoint and registers it; the loop thread joins it at a cycle boundary and swaps
 * in a forecaster loaded from the new checkpoint.  The thread reads only cfg, pc, log (all
 * immutable while the pipeline lives) and writes only rc, err, sum before setting done. */
typedef struct retrain {
    pthread_t th;
    int running;       /* started, not joined yet (loop thread only) */
    atomic_int cancel; /* set by the loop: stop training, publish nothing */
    atomic_int done;   /* set by the thread after rc, err, sum */
    int rc;
    char err[HZ_ERRLEN];
    hz_train_summary sum;
    char next_path[4096];
    int64_t due_ns, t0_ns;
    hz_forecaster_stats base; /* counts of the forecasters swapped out */
    hz_metric *m_ok, *m_failed;
} retrain;

struct hz_pipeline {
    const hz_config *cfg;
    const hz_pipeline_conf *pc;
    const hz_logger *log;
    /* source and sinks */
    hz_source *src;
    hz_sink **sinks;
    int *skip_readings; /* per sink: readings not written (the source is its readings table,
                           or sqlite.readings: false) */
    size_t n_sinks;
    const char *const *vars; /* source variables (pc->source.fields.values) */
    int nvars;
    /* windows */
    hz_window_store *ws;
    hz_forecaster *fcst;
    hz_forecaster_out out; /* emit_forecasts, collect_anomalies */
    /* the rules as resolved: vr[v] for variable v of every series; with series patterns
     * (variables[].series) more entries, one per distinct resolution, found through vr_of */
    var_rules **vr; /* each allocated once: hz_anomaly.rule points into them */
    size_t n_vr, cap_vr;
    uint32_t *vr_of; /* [scap, nvars] index into vr; UINT32_MAX: not resolved yet */
    int patterns;    /* some variables[] item names a series pattern */
    /* anomalies of the cycle (grows to the largest cycle), written before its commit */
    hz_anomaly *an;
    size_t n_an, cap_an;
    /* rule state per series (by window-store index) and variable */
    size_t scap;
    hz_rules_state *rstate;  /* [scap, nvars] */
    hz_season_state *sstate; /* [scap, nvars] seasonal shift detectors */
    /* positions to acknowledge after the next flush */
    hz_pos acks[MAX_ACKS];
    size_t n_acks;
    int dirty; /* something written since the last flush */
    /* rebuilds ("rebuilds" below): per series (window-store index), the partition of its
     * last Kafka reading (-1: none) and SW_* flags */
    int32_t *spart;
    uint8_t *swait;
    size_t spcap;
    uint32_t *rb_idx; /* series of one rebuild, and whether to write their forecast */
    uint8_t *rb_write;
    size_t rb_cap, rb_wcap;
    sqlite3 *fcdb;        /* the first SQLite sink's file, read-only */
    sqlite3_stmt *fc_has; /* is a forecast of (series, variable, issued_ts) stored there? */
    /* arrival of the cycle's polls, for the latency histogram */
    int64_t first_ns; /* arrival of the oldest reading whose results are not committed; 0 */
    int64_t arr_ns[64];
    uint64_t arr_n[64];
    int n_arr;
    /* the generation whose SQLite commits are begun, not yet confirmed (flush_begin): its
     * positions and arrivals, acknowledged and timed once flush_end returns */
    int inflight;
    hz_pos fl_acks[MAX_ACKS];
    size_t n_fl_acks;
    int64_t fl_arr_ns[64];
    uint64_t fl_arr_n[64];
    int n_fl_arr;
    sqlite3 *lagdb; /* sqlite source: how far the table is ahead of the cursor */
    /* metrics */
    hz_metric *m_read, *m_fc, *m_est, *m_dead, *m_lag, *m_inf, *m_bs, *m_series, *m_late, *m_fill;
    hz_metric *m_await, *m_merge, *m_wfill; /* variables joined by slot (window_store.h) */
    hz_metric *m_kind[N_KINDS];
    hz_metric *m_cov[HZ_IV_MAX_LEVELS]; /* horizon_interval_coverage per level */
    hz_window_counters seen;            /* window counters already in the metrics */
    hz_window_counters said;            /* ... and already in the log (window_log) */
    int64_t said_ns;                    /* when window_log last wrote */
    hz_pipeline_stats st;
    retrain rt;
};

/* ---- helpers */

static int emit_forecasts(void *opaque, const hz_forecast *fc, size_t n, char *err, size_t errlen);
static int collect_anomalies(void *opaque, const hz_anomaly *a, size_t n);
static int routine(const hz_pipeline *p, uint32_t s, int v, const var_rules *vr,
                   const hz_anomaly *a);
static int emit_estimates(void *opaque, const hz_estimate *e, size_t n, char *err, size_t errlen);
static int commit(hz_pipeline *p, int timeout_ms, int wait, char *err, size_t errlen);

static int grow_series(hz_pipeline *p, size_t need)
{
    size_t old = p->scap, c2 = p->scap, c3 = p->scap; /* all grow alike */
    if (hz_grow((void **)&p->sstate, &c2, need, (size_t)p->nvars * sizeof *p->sstate) ||
        hz_grow((void **)&p->vr_of, &c3, need, (size_t)p->nvars * sizeof *p->vr_of) ||
        hz_grow((void **)&p->rstate, &p->scap, need, (size_t)p->nvars * sizeof *p->rstate))
        return HZ_ENOMEM;
    for (size_t i = old * p->nvars; i < p->scap * p->nvars; i++) {
        hz_anomaly_rules_init(&p->rstate[i]);
        hz_season_init(&p->sstate[i]);
        p->vr_of[i] = p->patterns ? UINT32_MAX : (uint32_t)(i % (size_t)p->nvars);
    }
    return 0;
}

/* Room for `more` anomaly records of the cycle; 0 or HZ_ENOMEM. */
static int reserve_anomalies(hz_pipeline *p, size_t more)
{
    return hz_grow((void **)&p->an, &p->cap_an, p->n_an + more, sizeof *p->an);
}

static void note_ack(hz_pipeline *p, const hz_pos *pos)
{
    for (size_t i = 0; i < p->n_acks; i++)
        if (p->acks[i].partition == pos->partition) {
            if (pos->offset > p->acks[i].offset)
                p->acks[i].offset = pos->offset;
            return;
        }
    if (p->n_acks < MAX_ACKS)
        p->acks[p->n_acks++] = *pos;
}

static void count_kind(hz_pipeline *p, const char *kind)
{
    for (int i = 0; i < N_KINDS; i++)
        if (!strcmp(kind, KINDS[i]))
            hz_metrics_inc(p->m_kind[i]);
}

/* ---- opening */

/* The rule text of each kind (what hz_anomaly.rule shows). */
static void rule_texts(var_rules *r)
{
    const hz_rules_conf *c = &r->c;
    if (c->zero && isnan(c->range_min) && isnan(c->range_max))
        snprintf(r->txt[0], 64, "range zero");
    else
        snprintf(r->txt[0], 64, "range [%g, %g]%s", c->range_min, c->range_max,
                 c->zero ? " zero" : "");
    snprintf(r->txt[1], 64, "flatline n=%d", c->flatline);
    snprintf(r->txt[2], 64, "spike k=%g window=%d%s", c->spike_k, c->spike_window,
             c->log1p ? " log1p" : "");
    snprintf(r->txt[3], 64, "gap n=%d", c->gap);
    snprintf(r->txt[4], 64, "shift season=%d%s", r->season, c->log1p ? " log1p" : "");
}

/* The rule text of a record of kind `kind`. */
static const char *rule_of(const var_rules *r, const char *kind)
{
    for (int k = 0; k < RULE_KINDS; k++)
        if (!strcmp(kind, RULE_NAMES[k]))
            return r->txt[k];
    return NULL;
}

/* Variable v's rules for series sid (NULL: without series patterns) into *out. */
static int build_rules(const hz_pipeline *p, int v, const char *sid, var_rules *out, char *err,
                       size_t errlen)
{
    const hz_pipeline_conf *pc = p->pc;
    hz_cfg_rules r;
    int tf;
    memset(out, 0, sizeof *out);
    hz_config_rules_for(pc, p->vars[v], sid, &r, &tf, &out->exclude);
    hz_rules_conf *c = &out->c;
    hz_anomaly_rules_conf_default(c);
    if (r.n_range == 2) {
        c->range_min = r.range[0];
        c->range_max = r.range[1];
    }
    c->zero = r.zero > 0;
    c->flatline = r.flatline;
    c->spike_k = r.spike;
    c->gap = r.gap;
    c->period_ms = pc->window.period_ms;
    c->log1p = tf == HZ_CFG_TF_LOG1P;
    out->season = r.season > 0 ? r.season : 0;
    out->on = !isnan(c->range_min) || !isnan(c->range_max) || c->zero || c->flatline ||
              c->spike_k > 0 || c->gap;
    rule_texts(out);
    return hz_anomaly_rules_conf_check(c, err, errlen);
}

/* The rules of every variable without series patterns: vr[0..nvars). */
static int make_rules(hz_pipeline *p, char *err, size_t errlen)
{
    p->patterns = hz_config_has_series_rules(p->pc);
    if (hz_grow((void **)&p->vr, &p->cap_vr, (size_t)p->nvars, sizeof *p->vr))
        return hz_err(err, errlen, HZ_ENOMEM, "out of memory");
    for (int v = 0; v < p->nvars; v++) {
        if (!(p->vr[v] = malloc(sizeof **p->vr)))
            return hz_err(err, errlen, HZ_ENOMEM, "out of memory");
        p->n_vr++;
        int rc = build_rules(p, v, NULL, p->vr[v], err, errlen);
        if (rc)
            return rc;
    }
    return 0;
}

/* Variable v's rules for series s (sid): with series patterns, resolved at the series' first
 * reading and shared with every series resolved alike.  NULL when out of memory or the
 * resolution is refused (logged; the series then runs without rules for v). */
static const var_rules *rules_of(hz_pipeline *p, uint32_t s, const char *sid, int v)
{
    uint32_t *at = &p->vr_of[(size_t)s * p->nvars + v];
    if (*at != UINT32_MAX)
        return p->vr[*at];
    var_rules r;
    char err[HZ_ERRLEN];
    if (build_rules(p, v, sid, &r, err, sizeof err)) {
        hz_log(p->log, HZ_LOG_ERR, "pipeline %s: series %s: %s", p->pc->name, sid, err);
        memset(&r, 0, sizeof r); /* no rules */
    }
    for (size_t i = 0; i < p->n_vr; i++)
        if (!memcmp(p->vr[i], &r, sizeof r)) {
            *at = (uint32_t)i;
            return p->vr[i];
        }
    var_rules *nr = malloc(sizeof *nr);
    if (!nr || hz_grow((void **)&p->vr, &p->cap_vr, p->n_vr + 1, sizeof *p->vr)) {
        free(nr);
        return NULL;
    }
    *nr = r;
    p->vr[p->n_vr] = nr;
    *at = (uint32_t)p->n_vr++;
    return nr;
}

static int open_source(hz_pipeline *p, char *err, size_t errlen)
{
    return hz_source_from_config(p->cfg, p->pc, p->vars, p->nvars, p->log, &p->src, err, errlen);
}

static int same_file(const char *a, const char *b)
{
    char ra[4096], rb[4096];
    if (!a || !b)
        return 0;
    if (!realpath(a, ra) || !realpath(b, rb))
        return !strcmp(a, b);
    return !strcmp(ra, rb);
}

static int open_sinks(hz_pipeline *p, char *err, size_t errlen)
{
    const hz_pipeline_conf *pc = p->pc;
    p->n_sinks = pc->n_sinks;
    p->sinks = calloc(pc->n_sinks + 1, sizeof *p->sinks);
    p->skip_readings = calloc(pc->n_sinks + 1, sizeof *p->skip_readings);
    if (!p->sinks || !p->skip_readings)
        return hz_err(err, errlen, HZ_ENOMEM, "out of memory");
    for (size_t i = 0; i < pc->n_sinks; i++) {
        const hz_cfg_sink *k = &pc->sinks[i];
        int rc = hz_sink_from_config(p->cfg, k, p->log, &p->sinks[i], err, errlen);
        if (rc)
            return rc;
        p->skip_readings[i] =
            k->kind == HZ_CFG_SINK_SQLITE &&
            (!k->sqlite.readings || (pc->source.kind == HZ_CFG_SOURCE_SQLITE &&
                                     !strcmp(pc->source.sqlite.table, "readings") &&
                                     same_file(pc->source.sqlite.path, k->sqlite.path)));
    }
    return 0;
}

/* ---- rebuilds: windows replayed from history (SQLite at start, Kafka on assignment), then
 * each series' latest complete window forecast once (docs/ARCHITECTURE.md §9) */

/* Opens the first SQLite sink's file read-only for forecast_stored.  No SQLite sink: 0. */
static int open_fc_lookup(hz_pipeline *p, char *err, size_t errlen)
{
    const hz_cfg_sink *k = NULL;
    for (size_t i = 0; i < p->pc->n_sinks && !k; i++)
        if (p->pc->sinks[i].kind == HZ_CFG_SINK_SQLITE)
            k = &p->pc->sinks[i];
    if (!k)
        return 0;
    const char *table = k->sqlite.forecasts_table && *k->sqlite.forecasts_table
                            ? k->sqlite.forecasts_table
                            : "forecasts";
    int rc = hz_sqlite_ident_check(table, "forecasts table", err, errlen);
    if (rc || (rc = hz_sqlite_open(k->sqlite.path, 0, 5000, &p->fcdb, err, errlen)))
        return rc;
    /* forecasts: latest keeps the newest forecast only (a late window never replaces it) */
    int latest = k->sqlite.forecasts == HZ_CFG_FC_LATEST;
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT 1 FROM %s%s WHERE pipeline = ?1 AND series = ?2 AND variable = ?3 AND "
             "issued_ts %s ?4 LIMIT 1",
             latest ? "latest_" : "", table, latest ? ">=" : "=");
    if (p->pc->model.task == HZ_CFG_TASK_DISAGGREGATE) { /* a window's estimates instead */
        table = k->sqlite.appliances_table && *k->sqlite.appliances_table
                    ? k->sqlite.appliances_table
                    : "appliances";
        if ((rc = hz_sqlite_ident_check(table, "appliances table", err, errlen)))
            return rc;
        snprintf(sql, sizeof sql,
                 "SELECT 1 FROM %s WHERE pipeline = ?1 AND series = ?2 AND window_end = ?4 "
                 "AND ?3 IS NOT NULL LIMIT 1",
                 table);
    }
    if (sqlite3_prepare_v2(p->fcdb, sql, -1, &p->fc_has, NULL) != SQLITE_OK)
        return hz_err(err, errlen, HZ_EDB, "%s: %s", k->sqlite.path, sqlite3_errmsg(p->fcdb));
    return 0;
}

/* 1 when this host's SQLite sink holds a forecast of series sid issued at ts (of any
 * variable: a forward writes all of them together), or with `forecasts: latest` one issued
 * at ts or later, or for a disaggregation pipeline estimates of the window ending at ts; 0
 * when not, or without a SQLite sink. */
static int forecast_stored(hz_pipeline *p, const char *sid, int64_t ts)
{
    int found = 0;
    for (int v = 0; p->fc_has && v < p->nvars && !found; v++) {
        sqlite3_bind_text(p->fc_has, 1, p->pc->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(p->fc_has, 2, sid, -1, SQLITE_STATIC);
        sqlite3_bind_text(p->fc_has, 3, p->vars[v], -1, SQLITE_STATIC);
        sqlite3_bind_int64(p->fc_has, 4, ts);
        found = sqlite3_step(p->fc_has) == SQLITE_ROW;
        sqlite3_reset(p->fc_has);
    }
    return found;
}

/* Room for n series in rb_idx/rb_write and for series index `need` - 1 in spart/swait. */
static int grow_rebuild(hz_pipeline *p, size_t n, size_t need)
{
    size_t old = p->spcap, c = p->spcap; /* spart and swait grow alike */
    if (hz_grow((void **)&p->rb_idx, &p->rb_cap, n, sizeof *p->rb_idx) ||
        hz_grow((void **)&p->rb_write, &p->rb_wcap, n, sizeof *p->rb_write) ||
        hz_grow((void **)&p->spart, &c, need, sizeof *p->spart) ||
        hz_grow((void **)&p->swait, &p->spcap, need, sizeof *p->swait))
        return HZ_ENOMEM;
    for (size_t i = old; i < p->spcap; i++) {
        p->spart[i] = -1;
        p->swait[i] = 0;
    }
    return 0;
}

/* Reading r of series s came from Kafka partition r->pos.partition: a series seen on two
 * partitions was not keyed by its id (docs/MESSAGES.md), so its readings are split between
 * hosts and its windows between partitions' orders; warned once per series. */
static void note_partition(hz_pipeline *p, uint32_t s, const hz_reading *r)
{
    if (r->pos.partition < 0 || grow_rebuild(p, 0, (size_t)s + 1))
        return;
    int32_t was = p->spart[s];
    p->spart[s] = r->pos.partition;
    if (was < 0 || was == r->pos.partition || (p->swait[s] & SW_WARNED))
        return;
    p->swait[s] |= SW_WARNED;
    hz_log(p->log, HZ_LOG_WARN,
           "pipeline %s: series %s arrived on partition %d after partition %d: producers must "
           "key messages by series id (docs/MESSAGES.md), else a series is split between hosts",
           p->pc->name, r->series, (int)r->pos.partition, (int)was);
}

/* Whether a window ending at slot time ts is on the aligned grid of a disaggregation
 * pipeline (hz_window_opts.align). */
static int aligned_end(const hz_pipeline *p, int64_t ts)
{
    const hz_cfg_window *w = &p->pc->window;
    return hz_window_aligned_end(hz_floor_div(ts - w->offset_ms, w->period_ms), w->stride);
}

/* Forecasts the latest window of the n series in rb_idx once their history is in.  Its
 * forecast is written unless it was made already: at a restart (`restart`) when this host's
 * SQLite holds it; after a Kafka rebuild also when the replay ended on a ready event of the
 * series (since == 0: whoever read that reading forecast that window, as this host would
 * have).  The others are forecast without writing, for the residual checks. */
static int resume_series(hz_pipeline *p, size_t n, int restart, size_t *written, char *err,
                         size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        int held = 0, since = 0;
        int64_t head = 0;
        hz_window_store_progress(p->ws, p->rb_idx[i], &held, &since, &head);
        const char *sid = hz_window_store_series_id(p->ws, p->rb_idx[i]);
        int reach = p->pc->model.data.n_known ? p->pc->window.horizon : 0;
        p->rb_write[i] = held >= p->pc->window.lookback + reach && (restart || since > 0) &&
                         !forecast_stored(p, sid, head);
        /* disaggregation: windows on the aligned grid only (window_store.h), and after a
           Kafka rebuild never (whoever read the reading ending one estimated it) */
        if (p->pc->model.task == HZ_CFG_TASK_DISAGGREGATE)
            p->rb_write[i] &= restart && aligned_end(p, head);
    }
    return hz_forecaster_resume(p->fcst, p->ws, p->rb_idx, p->rb_write, n, &p->out, written, err,
                                errlen);
}

/* After a restart's replay of SQLite: every series held is resumed. */
static int resume_all(hz_pipeline *p, size_t *written, char *err, size_t errlen)
{
    size_t n = hz_window_store_counters(p->ws).series;
    hz_window_store_clear_ready(p->ws);
    if (grow_rebuild(p, n, n))
        return hz_err(err, errlen, HZ_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        p->rb_idx[i] = (uint32_t)i;
    return resume_series(p, n, 1, written, err, errlen);
}

/* Series s moved here: its rules start afresh, as at a restart (the readings between were
 * judged by another host). */
static void reset_rules(hz_pipeline *p, uint32_t s)
{
    for (int v = 0; v < p->nvars; v++) {
        hz_anomaly_rules_init(&p->rstate[(size_t)s * p->nvars + v]);
        hz_season_free(&p->sstate[(size_t)s * p->nvars + v]);
        hz_season_init(&p->sstate[(size_t)s * p->nvars + v]);
    }
}

static int in_list(const int32_t *l, size_t n, int32_t x)
{
    for (size_t i = 0; i < n; i++)
        if (l[i] == x)
            return 1;
    return 0;
}

/* The partitions `parts` finished their history: their series are resumed. */
static int finish_rebuild(hz_pipeline *p, const int32_t *parts, size_t nparts, char *err,
                          size_t errlen)
{
    size_t n = 0, ns = hz_window_store_counters(p->ws).series, written = 0;
    for (size_t s = 0; s < ns && s < p->spcap; s++) {
        if (!(p->swait[s] & SW_WAIT) || !in_list(parts, nparts, p->spart[s]))
            continue;
        if (grow_rebuild(p, n + 1, p->spcap))
            return hz_err(err, errlen, HZ_ENOMEM, "out of memory");
        p->swait[s] &= (uint8_t)~SW_WAIT;
        p->rb_idx[n++] = (uint32_t)s;
        reset_rules(p, (uint32_t)s);
    }
    int rc = resume_series(p, n, 0, &written, err, errlen);
    if (!rc)
        hz_log(p->log, HZ_LOG_INFO,
               "pipeline %s: %zu partition(s) rebuilt from Kafka: %zu series, %zu latest "
               "window(s) forecast",
               p->pc->name, nparts, n, written);
    return rc;
}

/* What a replay did to the window counters (from a to b) is not news: added to the
 * baselines the metrics and the late-readings warning count from. */
static void discount_replay(hz_pipeline *p, const hz_window_counters *a,
                            const hz_window_counters *b)
{
    hz_window_counters *base[2] = {&p->seen, &p->said};
    for (int i = 0; i < 2; i++) {
        base[i]->dropped_late += b->dropped_late - a->dropped_late;
        base[i]->filled += b->filled - a->filled;
        base[i]->waited += b->waited - a->waited;
        base[i]->merged += b->merged - a->merged;
        base[i]->wait_filled += b->wait_filled - a->wait_filled;
    }
}

/* A batch's history (connector.h) goes into the windows only; the ready events it raises
 * are dropped (whoever first read those readings forecast them), and so are the counts it
 * moves (a restart's Kafka replay repeats readings the SQLite rebuild placed: not late).
 * Its series wait for their partition's history to end (b->rebuilt), and are resumed then. */
static int take_history(hz_pipeline *p, const hz_batch *b, char *err, size_t errlen)
{
    hz_window_counters before = hz_window_store_counters(p->ws);
    for (size_t i = 0; i < b->n_history; i++) {
        const hz_reading *r = &b->history[i];
        if (hz_window_store_push_reading(p->ws, r))
            continue; /* empty series id: nothing to key it on */
        int64_t s = hz_window_store_find(p->ws, r->series);
        if (s < 0 || grow_series(p, (size_t)s + 1) || grow_rebuild(p, 0, (size_t)s + 1))
            return hz_err(err, errlen, HZ_ENOMEM, "out of memory rebuilding windows");
        note_partition(p, (uint32_t)s, r);
        p->swait[s] |= SW_WAIT;
    }
    if (b->n_history) {
        hz_window_store_clear_ready(p->ws);
        hz_window_counters after = hz_window_store_counters(p->ws);
        discount_replay(p, &before, &after);
    }
    return b->n_rebuilt ? finish_rebuild(p, b->rebuilt, b->n_rebuilt, err, errlen) : 0;
}

/* A Kafka source rebuilds the windows of the partitions it is assigned: back a lookback
 * and a stride (plus two periods of producer delay, and window.wait with several variables)
 * in message time, else REBUILD_MAX_MESSAGES messages. */
static void plan_kafka_rebuild(hz_pipeline *p)
{
    const hz_cfg_window *w = &p->pc->window;
    int64_t slots = (int64_t)w->lookback + w->stride + 2 + (p->nvars > 1 ? w->wait : 0) +
                    (p->pc->model.data.n_known ? w->horizon : 0); /* known drivers' reach */
    hz_kafka_rebuild rb = {slots * w->period_ms, REBUILD_MAX_MESSAGES};
    if (p->pc->source.kind == HZ_CFG_SOURCE_KAFKA)
        hz_kafka_source_set_rebuild(p->src, &rb);
}

/* The rules every source applies (connectors/reading_check.h) as SQL conditions on the
 * readings a restart replays: a table its source read holds the rows refused as dead
 * letters too (a 2100 time would move its series' window ahead again, an INT64_MAX one
 * overflow the target times), and an older import may hold values beyond float32. */
static void rebuild_rules(const hz_pipeline_conf *pc, char *buf, size_t len)
{
    int64_t last = HZ_TS_END_MS - 1;
    if (pc->source.max_future_ms > 0 && hz_now_ms() + pc->source.max_future_ms < last)
        last = hz_now_ms() + pc->source.max_future_ms;
    snprintf(buf, len, " AND ts >= %lld AND ts <= %lld AND (value IS NULL OR abs(value) <= %.17g)",
             (long long)HZ_TS_MIN_MS, (long long)last, (double)FLT_MAX);
}

/* Replays the SQLite history into the windows.  When the source is the readings table of
 * the same file, only rows up to its acknowledged cursor count (the rest it will deliver). */
static int rebuild_windows(hz_pipeline *p, char *err, size_t errlen)
{
    const hz_pipeline_conf *pc = p->pc;
    const char *path = NULL;
    int limited = 0;
    for (size_t i = 0; i < pc->n_sinks; i++)
        if (pc->sinks[i].kind == HZ_CFG_SINK_SQLITE) {
            path = pc->sinks[i].sqlite.readings ? pc->sinks[i].sqlite.path : NULL;
            limited = p->skip_readings[i];
            break;
        }
    if (!path) /* none kept (sqlite.readings: false): the Kafka source rebuilds them */
        return 0;
    char delivered[256];
    if (limited && !hz_sqlite_source_delivered(p->src, delivered, sizeof delivered))
        return 0;
    sqlite3 *db = NULL;
    int rc = hz_sqlite_open(path, 1, 5000, &db, err, errlen);
    if (rc)
        return rc;
    char sql[768];
    snprintf(sql, sizeof sql,
             "CREATE TEMP VIEW hz_rebuild AS SELECT series, variable, ts, value FROM readings "
             "WHERE (%s)",
             limited ? delivered : "1");
    size_t n = strlen(sql);
    rebuild_rules(pc, sql + n, sizeof sql - n);
    rc = hz_sqlite_exec(db, sql, err, errlen);
    uint64_t pts = 0;
    if (!rc)
        rc = hz_window_store_load_sqlite(p->ws, db, "hz_rebuild", p->vars, NULL, &pts, err, errlen);
    sqlite3_close_v2(db);
    if (rc)
        return rc;
    /* the latest window of each series is forecast again; written only when this file
     * does not hold its forecast yet (an import, a stride not ended), else kept for the
     * next readings' residual checks */
    size_t written = 0;
    if ((rc = grow_series(p, hz_window_store_counters(p->ws).series + 1)) ||
        (rc = resume_all(p, &written, err, errlen)))
        return rc == HZ_ENOMEM ? hz_err(err, errlen, rc, "out of memory") : rc;
    p->st.rebuilt_points = pts;
    hz_window_counters wc = hz_window_store_counters(p->ws);
    p->seen = p->said = wc; /* the replay's placements are not news */
    if (pts)
        hz_log(p->log, HZ_LOG_INFO,
               "pipeline %s: windows rebuilt from %s: %llu series, %llu points; %zu latest "
               "window(s) forecast",
               pc->name, path, (unsigned long long)wc.series, (unsigned long long)pts, written);
    /* what was written now is made durable now, not at the first cycle's commit */
    return written ? commit(p, FLUSH_MS, 1, err, errlen) : 0;
}

static void get_metrics(hz_pipeline *p, hz_metrics *m)
{
    if (!m)
        return;
    const char *lv[] = {p->pc->name, NULL};
    p->m_read = hz_metrics_get(m, "horizon_readings_total", lv, NULL, 0);
    p->m_fc = hz_metrics_get(m, "horizon_forecasts_total", lv, NULL, 0);
    p->m_est = hz_metrics_get(m, "horizon_estimates_total", lv, NULL, 0);
    p->m_dead = hz_metrics_get(m, "horizon_dead_letters_total", lv, NULL, 0);
    p->m_lag = hz_metrics_get(m, "horizon_consumer_lag", lv, NULL, 0);
    p->m_inf = hz_metrics_get(m, "horizon_inference_seconds", lv, NULL, 0);
    p->m_bs = hz_metrics_get(m, "horizon_batch_size", lv, NULL, 0);
    p->m_series = hz_metrics_get(m, "horizon_window_series", lv, NULL, 0);
    p->m_late = hz_metrics_get(m, "horizon_late_dropped_total", lv, NULL, 0);
    p->m_fill = hz_metrics_get(m, "horizon_gaps_filled_total", lv, NULL, 0);
    p->m_await = hz_metrics_get(m, "horizon_values_awaited_total", lv, NULL, 0);
    p->m_merge = hz_metrics_get(m, "horizon_values_joined_total", lv, NULL, 0);
    p->m_wfill = hz_metrics_get(m, "horizon_wait_filled_total", lv, NULL, 0);
    for (int i = 0; i < N_KINDS; i++) {
        const char *kv[] = {p->pc->name, KINDS[i], NULL};
        p->m_kind[i] = hz_metrics_get(m, "horizon_anomalies_total", kv, NULL, 0);
    }
    const char *ok[] = {p->pc->name, "ok", NULL}, *failed[] = {p->pc->name, "failed", NULL};
    p->rt.m_ok = hz_metrics_get(m, "horizon_retrains_total", ok, NULL, 0);
    p->rt.m_failed = hz_metrics_get(m, "horizon_retrains_total", failed, NULL, 0);
}

/* horizon_interval_coverage{pipeline, level} for each of the forecaster's levels. */
static void get_coverage_metrics(hz_pipeline *p, hz_metrics *m)
{
    int nl;
    const double *levels = hz_forecaster_levels(p->fcst, &nl);
    for (int l = 0; m && l < nl; l++) {
        char level[32];
        snprintf(level, sizeof level, "%g", levels[l]);
        const char *cv[] = {p->pc->name, level, NULL};
        p->m_cov[l] = hz_metrics_get(m, "horizon_interval_coverage", cv, NULL, 0);
    }
}

/* "pipeline NAME: msg", unless msg already names the pipeline. */
static void prefixed(char *err, size_t errlen, const char *name, const char *msg)
{
    size_t n = strlen(name);
    if (!strncmp(msg, "pipeline ", 9) && !strncmp(msg + 9, name, n) && msg[9 + n] == ':')
        snprintf(err, errlen, "%s", msg);
    else
        snprintf(err, errlen, "pipeline %s: %s", name, msg);
}

int hz_pipeline_new(const hz_config *cfg, const hz_pipeline_conf *pc, hz_metrics *metrics,
                    const hz_logger *log, const hz_train_hooks *hooks, hz_pipeline **out, char *err,
                    size_t errlen)
{
    *out = NULL;
    hz_pipeline *p = calloc(1, sizeof *p);
    if (!p)
        return hz_err(err, errlen, HZ_ENOMEM, "out of memory");
    p->cfg = cfg;
    p->pc = pc;
    p->log = log;
    p->vars = (const char *const *)pc->source.fields.values;
    p->nvars = (int)pc->source.fields.n_values;
    char e2[HZ_ERRLEN];
    int rc;
    /* known variables (model.data.known) reach a horizon past the forecast's issue; one
     * variable cannot be absent from a reading: nothing to await, no slots kept for it */
    int reach = pc->model.data.n_known ? pc->window.horizon : 0;
    hz_window_opts wo = {pc->window.period_ms,
                         pc->window.lookback + reach,
                         p->nvars,
                         pc->window.stride,
                         pc->window.fill,
                         p->nvars > 1 ? pc->window.wait : 0,
                         pc->window.offset_ms,
                         pc->model.task == HZ_CFG_TASK_DISAGGREGATE};
    p->ws = hz_window_store_new(&wo, e2, sizeof e2);
    if (!p->ws) {
        rc = hz_err(err, errlen, HZ_EINVAL, "pipeline %s: %s", pc->name, e2);
        goto fail;
    }
    if ((rc = make_rules(p, e2, sizeof e2))) {
        prefixed(err, errlen, pc->name, e2);
        goto fail;
    }
    get_metrics(p, metrics);
    p->out = (hz_forecaster_out){emit_forecasts, collect_anomalies, p, emit_estimates};
    if ((rc = hz_forecaster_new(cfg, pc, p->vars, p->nvars, log, hooks, p->m_inf, p->m_bs, &p->fcst,
                                e2, sizeof e2))) {
        prefixed(err, errlen, pc->name, e2);
        goto fail;
    }
    get_coverage_metrics(p, metrics);
    if ((rc = open_sinks(p, e2, sizeof e2)) || (rc = open_fc_lookup(p, e2, sizeof e2)) ||
        (rc = open_source(p, e2, sizeof e2)) || (rc = rebuild_windows(p, e2, sizeof e2)) ||
        (rc = grow_series(p, hz_window_store_counters(p->ws).series + 1))) {
        prefixed(err, errlen, pc->name, e2);
        goto fail;
    }
    plan_kafka_rebuild(p);
    if (pc->source.kind == HZ_CFG_SOURCE_SQLITE &&
        sqlite3_open_v2(pc->source.sqlite.path, &p->lagdb, SQLITE_OPEN_READONLY, NULL) !=
            SQLITE_OK) {
        sqlite3_close(p->lagdb);
        p->lagdb = NULL;
    }
    if (pc->model.train.retrain_every_ms > 0) {
        p->rt.due_ns = hz_mono_ns() + pc->model.train.retrain_every_ms * 1000000;
        snprintf(p->rt.next_path, sizeof p->rt.next_path, "%s.next", pc->model.checkpoint);
    }
    char desc[256];
    hz_forecaster_describe(p->fcst, desc, sizeof desc);
    hz_log(log, HZ_LOG_INFO, "pipeline %s: %s source, %zu sink%s, model %s, batch %d / %lld ms",
           pc->name, p->src->ops->kind, p->n_sinks, p->n_sinks == 1 ? "" : "s", desc, pc->batch.max,
           (long long)pc->batch.max_wait_ms);
    *out = p;
    return 0;
fail:
    hz_pipeline_free(p);
    return rc;
}

int hz_pipeline_check(const hz_config *cfg, const hz_pipeline_conf *pc, int what, char *err,
                      size_t errlen)
{
    char e2[HZ_ERRLEN];
    int rc = 0;
    if (what & HZ_CHECK_CONNECTORS)
        rc = hz_connectors_check(cfg, pc, e2, sizeof e2);
    if (!rc && (what & HZ_CHECK_MODEL))
        rc = hz_forecaster_check_model(cfg, pc, (const char *const *)pc->source.fields.values,
                                       (int)pc->source.fields.n_values, e2, sizeof e2);
    if (rc)
        prefixed(err, errlen, pc->name, e2);
    return rc;
}

/* ---- scheduled retraining */

static void *retrain_main(void *arg)
{
    hz_pipeline *p = arg;
    hz_train_opts o = {0};
    o.checkpoint = p->rt.next_path;
    o.publish = p->pc->model.checkpoint;
    o.epochs = -1;
    o.log = p->log;
    o.cancel = &p->rt.cancel;
    p->rt.rc = hz_trainer_run(p->cfg, p->pc, &o, &p->rt.sum, p->rt.err, sizeof p->rt.err);
    atomic_store(&p->rt.done, 1);
    return NULL;
}

static void retrain_start(hz_pipeline *p)
{
    atomic_store(&p->rt.cancel, 0);
    atomic_store(&p->rt.done, 0);
    p->rt.rc = 0;
    p->rt.err[0] = 0;
    p->rt.t0_ns = hz_mono_ns();
    hz_log(p->log, HZ_LOG_NOTICE, "pipeline %s: retraining in the background (model %s serves)",
           p->pc->name, hz_forecaster_model_id(p->fcst));
    /* signals stay with the loop thread: the handlers only set flags it polls */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&p->rt.th, NULL, retrain_main, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc) {
        hz_log(p->log, HZ_LOG_ERR, "pipeline %s: retrain not started: pthread_create: %s",
               p->pc->name, strerror(rc));
        hz_metrics_inc(p->rt.m_failed);
        p->rt.due_ns = hz_mono_ns() + p->pc->model.train.retrain_every_ms * 1000000;
        return;
    }
    p->rt.running = 1;
}

/* The loop's side, at a cycle boundary (nothing staged in the forecaster): starts a retrain
 * when one is due, or swaps in the model of a finished one. */
static void retrain_tick(hz_pipeline *p)
{
    int64_t every = p->pc->model.train.retrain_every_ms, now = hz_mono_ns();
    if (every <= 0 || (!p->rt.running && now < p->rt.due_ns))
        return;
    if (!p->rt.running) {
        retrain_start(p);
        return;
    }
    if (!atomic_load(&p->rt.done))
        return;
    pthread_join(p->rt.th, NULL);
    p->rt.running = 0;
    p->rt.due_ns = now + every * 1000000;
    double secs = (now - p->rt.t0_ns) / 1e9;
    const char *name = p->pc->name;
    if (p->rt.rc) {
        hz_log(p->log, HZ_LOG_ERR,
               "pipeline %s: retrain failed after %.1f s; model %s keeps "
               "serving: %s",
               name, secs, hz_forecaster_model_id(p->fcst), p->rt.err);
        hz_metrics_inc(p->rt.m_failed);
        return;
    }
    char e2[HZ_ERRLEN];
    hz_forecaster *nf = NULL;
    if (hz_forecaster_new(p->cfg, p->pc, p->vars, p->nvars, p->log, NULL, p->m_inf, p->m_bs, &nf,
                          e2, sizeof e2)) {
        hz_log(p->log, HZ_LOG_ERR,
               "pipeline %s: retrained model not loaded; model %s keeps "
               "serving: %s",
               name, hz_forecaster_model_id(p->fcst), e2);
        hz_metrics_inc(p->rt.m_failed);
        return;
    }
    if (hz_forecaster_take_state(nf, p->fcst))
        hz_log(p->log, HZ_LOG_WARN,
               "pipeline %s: out of memory keeping the latest forecasts; "
               "residual checks resume with the next forecast of each series",
               name);
    const hz_train_summary *sm = &p->rt.sum;
    hz_log(p->log, HZ_LOG_NOTICE,
           "pipeline %s: retrained in %.1f s (val mse %.4g mae %.4g; test mse %.4g mae %.4g on "
           "%d windows); model %s replaces %s",
           name, secs, sm->val_mse, sm->val_mae, sm->test_mse, sm->test_mae, sm->test_windows,
           hz_forecaster_model_id(nf), hz_forecaster_model_id(p->fcst));
    hz_forecaster_stats os = hz_forecaster_stats_get(p->fcst);
    p->rt.base.windows += os.windows;
    p->rt.base.batches += os.batches;
    p->rt.base.skipped += os.skipped;
    p->rt.base.forecasts += os.forecasts;
    hz_forecaster_free(p->fcst);
    p->fcst = nf;
    hz_metrics_inc(p->rt.m_ok);
}

/* Stops a running retrain (shutdown, restart): it returns within one training batch. */
static void retrain_cancel(hz_pipeline *p)
{
    if (!p->rt.running)
        return;
    atomic_store(&p->rt.cancel, 1);
    pthread_join(p->rt.th, NULL);
    p->rt.running = 0;
    if (p->rt.rc == HZ_EAGAIN)
        hz_log(p->log, HZ_LOG_NOTICE, "pipeline %s: retrain cancelled", p->pc->name);
    else if (p->rt.rc)
        hz_log(p->log, HZ_LOG_ERR, "pipeline %s: retrain failed: %s", p->pc->name, p->rt.err);
    else
        hz_log(p->log, HZ_LOG_NOTICE,
               "pipeline %s: retrain finished at stop; the new checkpoint "
               "serves from the next start",
               p->pc->name);
}

/* ---- the cycle */

/* hz_forecast_fn: a forward's forecasts to every sink. */
static int emit_forecasts(void *opaque, const hz_forecast *fc, size_t n, char *err, size_t errlen)
{
    hz_pipeline *p = opaque;
    for (size_t i = 0; i < p->n_sinks; i++) {
        int rc = p->sinks[i]->ops->write_forecasts(p->sinks[i], fc, n, err, errlen);
        if (rc)
            return rc;
    }
    p->dirty = 1;
    hz_metrics_add(p->m_fc, (double)n);
    return 0;
}

/* hz_estimate_fn: a batch's estimates of one appliance to every sink that keeps them. */
static int emit_estimates(void *opaque, const hz_estimate *e, size_t n, char *err, size_t errlen)
{
    hz_pipeline *p = opaque;
    for (size_t i = 0; i < p->n_sinks; i++) {
        hz_sink *k = p->sinks[i];
        int rc = k->ops->write_estimates ? k->ops->write_estimates(k, e, n, err, errlen) : 0;
        if (rc)
            return rc;
    }
    p->dirty = 1;
    hz_metrics_add(p->m_est, (double)n);
    return 0;
}

/* Whether residual flag a is routine (routine above): its series and variable found by
 * name; the rules were resolved at the reading. */
static int routine_residual(hz_pipeline *p, const hz_anomaly *a)
{
    int64_t s = hz_window_store_find(p->ws, a->series);
    if (s < 0 || (size_t)s >= p->scap)
        return 0;
    for (int v = 0; v < p->nvars; v++) {
        uint32_t at = p->vr_of[(size_t)s * p->nvars + v];
        if (!strcmp(p->vars[v], a->variable))
            return at != UINT32_MAX && routine(p, (uint32_t)s, v, p->vr[at], a);
    }
    return 0;
}

/* hz_anomaly_fn: the forecaster's records join the cycle's anomalies, a routine residual
 * flag unflagged (kept as a score only with record_scores). */
static int collect_anomalies(void *opaque, const hz_anomaly *a, size_t n)
{
    hz_pipeline *p = opaque;
    if (reserve_anomalies(p, n))
        return HZ_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        hz_anomaly *d = &p->an[p->n_an];
        *d = a[i];
        if (d->flag && !strcmp(d->kind, "residual") && routine_residual(p, d)) {
            d->flag = 0;
            if (!p->pc->anomaly.record_scores)
                continue;
        }
        p->n_an++;
    }
    return 0;
}

/* Forecasts what is staged, then writes the cycle's anomalies to every sink. */
static int forecast_pending(hz_pipeline *p, char *err, size_t errlen)
{
    int rc = hz_forecaster_stage(p->fcst, p->ws, &p->out, err, errlen);
    if (rc || (rc = hz_forecaster_run(p->fcst, p->ws, &p->out, err, errlen)))
        return rc;
    size_t flagged = 0;
    for (size_t i = 0; i < p->n_an; i++)
        if (p->an[i].flag) {
            count_kind(p, p->an[i].kind);
            flagged++;
        }
    for (size_t i = 0; p->n_an && i < p->n_sinks; i++)
        if ((rc = p->sinks[i]->ops->write_anomalies(p->sinks[i], p->an, p->n_an, err, errlen)))
            return rc;
    if (p->n_an)
        p->dirty = 1;
    p->st.anomalies += flagged;
    p->n_an = 0;
    return 0;
}

/* Keeps a fault out of the model's window: a spike's slot gets the rule's expected value, an
 * out-of-range reading the last in-range one.  The reading stays stored as sent. */
static void exclude_fault(hz_pipeline *p, uint32_t s, int v, const hz_anomaly *a)
{
    double repl = NAN;
    if (!strcmp(a->kind, "spike"))
        repl = a->expected;
    else if (!strcmp(a->kind, "range"))
        repl = p->rstate[(size_t)s * p->nvars + v].prev;
    if (isfinite(repl))
        hz_window_store_patch(p->ws, s, a->ts, v, repl);
}

/* Whether flag a (a spike or a residual) of series s, variable v is routine: the same time
 * of day went halfway (in the rule's space) from the expected value to a's on one of the
 * last seasons (rules.season on; anomaly.h hz_season_routine). */
static int routine(const hz_pipeline *p, uint32_t s, int v, const var_rules *vr,
                   const hz_anomaly *a)
{
    if (vr->season <= 0 || (strcmp(a->kind, "spike") && strcmp(a->kind, "residual")) ||
        !isfinite(a->expected))
        return 0;
    int64_t slot = hz_floor_div(a->ts, p->pc->window.period_ms);
    double half = vr->c.log1p ? expm1((log1p(fmax(a->value, 0)) + log1p(fmax(a->expected, 0))) / 2)
                              : (a->value + a->expected) / 2;
    return hz_season_routine(vr->season, vr->c.log1p, &p->sstate[(size_t)s * p->nvars + v], slot,
                             half, a->value > a->expected ? 1 : -1) > 0;
}

/* The rules on reading r of series s (room reserved in p->an): flags into p->an; with
 * exclude_faults, faults patched out of the window, and in *checked the value after a
 * confirmed spike (forecast from a window that held it) and an out-of-range value set NaN,
 * so the residual check does not judge them. */
static int apply_rules(hz_pipeline *p, uint32_t s, const char *sid, const hz_reading *r,
                       hz_reading *checked)
{
    hz_anomaly out[HZ_RULES_MAX_OUT];
    for (int v = 0; v < p->nvars; v++) {
        const var_rules *vr = rules_of(p, s, sid, v);
        if (!vr)
            continue;
        int64_t slot = hz_floor_div(r->ts_ms, p->pc->window.period_ms);
        int rc = vr->season > 0 ? hz_season_update(vr->season, vr->c.log1p,
                                                   &p->sstate[(size_t)s * p->nvars + v], slot,
                                                   r->ts_ms, r->values[v], &p->an[p->n_an])
                                : 0;
        if (rc == HZ_ENOMEM)
            return rc;
        if (rc == 1) {
            hz_anomaly *a = &p->an[p->n_an++];
            a->pipeline = p->pc->name;
            a->series = sid;
            a->variable = p->vars[v];
            a->rule = rule_of(vr, "shift");
        }
        if (!vr->on)
            continue;
        int n = hz_anomaly_rules_check(&vr->c, &p->rstate[(size_t)s * p->nvars + v], r->ts_ms,
                                       r->values[v], out, HZ_RULES_MAX_OUT);
        for (int j = 0; j < n; j++) {
            if (routine(p, s, v, vr, &out[j]))
                continue;
            hz_anomaly *a = &p->an[p->n_an++];
            *a = out[j];
            a->pipeline = p->pc->name;
            a->series = sid;
            a->variable = p->vars[v];
            a->rule = rule_of(vr, a->kind);
            if (!vr->exclude || (strcmp(a->kind, "spike") && strcmp(a->kind, "range")))
                continue;
            exclude_fault(p, s, v, a);
            checked->values[v] = NAN;
        }
    }
    return 0;
}

static int handle_batch(hz_pipeline *p, const hz_batch *b, char *err, size_t errlen)
{
    int rc = take_history(p, b, err, errlen);
    if (rc)
        return rc;
    if (b->n_readings) {
        for (size_t i = 0; i < p->n_sinks; i++)
            if (!p->skip_readings[i] &&
                (rc = p->sinks[i]->ops->write_readings(p->sinks[i], p->pc->name, p->vars,
                                                       b->readings, b->n_readings, err, errlen)))
                return rc;
        p->dirty = 1;
    }
    for (size_t i = 0; i < b->n_readings; i++) {
        const hz_reading *r = &b->readings[i];
        if ((rc = hz_window_store_push_reading(p->ws, r)))
            continue; /* empty series id: nothing to key it on */
        int64_t s = hz_window_store_find(p->ws, r->series);
        if (s < 0 || grow_series(p, (size_t)s + 1))
            continue;
        const char *sid = hz_window_store_series_id(p->ws, (uint32_t)s);
        note_partition(p, (uint32_t)s, r);
        if ((rc = reserve_anomalies(p, (size_t)p->nvars * (HZ_RULES_MAX_OUT + 1))))
            return hz_err(err, errlen, rc, "out of memory for anomalies");
        hz_reading checked = *r; /* values a fault made unfit to check: NaN */
        if ((rc = apply_rules(p, (uint32_t)s, sid, r, &checked)) ||
            (rc = hz_forecaster_check(p->fcst, (uint32_t)s, sid, &checked, &p->out)))
            return hz_err(err, errlen, rc, "out of memory for anomalies");
        if ((rc = hz_forecaster_stage(p->fcst, p->ws, &p->out, err, errlen)))
            return rc;
    }
    for (size_t i = 0; i < p->n_sinks; i++)
        if (b->n_dead && (rc = p->sinks[i]->ops->write_dead(p->sinks[i], p->pc->name, b->dead,
                                                            b->n_dead, err, errlen)))
            return rc;
    for (size_t i = 0; i < b->n_dead; i++)
        hz_log(p->log, HZ_LOG_WARN, "pipeline %s: dead letter %s: %s", p->pc->name,
               b->dead[i].origin, b->dead[i].reason);
    if (b->n_dead)
        p->dirty = 1;
    p->st.readings += b->n_readings;
    p->st.dead += b->n_dead;
    hz_metrics_add(p->m_read, (double)b->n_readings);
    hz_metrics_add(p->m_dead, (double)b->n_dead);
    for (size_t i = 0; i < b->n_positions; i++)
        note_ack(p, &b->positions[i]);
    return 0;
}

/* Flushes every sink, then acknowledges the cycle's positions.  Kafka sinks are flushed
 * before the SQLite ones: if a delivery fails, the SQLite transaction is not committed
 * either, so the restarted pipeline replays the cycle (its windows rebuilt from SQLite
 * without it) and produces everything again; the reverse order would leave the readings
 * in SQLite, make the replayed points duplicates in the windows, and never resend the
 * forecasts Kafka missed. */
static int ack_all(hz_pipeline *p, const hz_pos *acks, size_t n, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        int rc = p->src->ops->ack(p->src, &acks[i], err, errlen);
        if (rc)
            return rc;
    }
    return 0;
}

/* Each arrival's wait until its results were durable at done (the latency histogram). */
static void record_latency(hz_pipeline *p, const int64_t *arr_ns, uint64_t *arr_n, int n,
                           int64_t done)
{
    for (int i = 0; i < n; i++) {
        double us = (done - arr_ns[i]) / 1e3;
        int k = us > 1 ? (int)(4 * log2(us)) : 0;
        p->st.latency[k < HZ_LAT_BUCKETS ? k : HZ_LAT_BUCKETS - 1] += arr_n[i];
        arr_n[i] = 0;
    }
}

/* Waits for the generation in flight to be durable in every SQLite sink, then acknowledges
 * its positions. */
static int finish_inflight(hz_pipeline *p, char *err, size_t errlen)
{
    if (!p->inflight)
        return 0;
    int64_t done = 0;
    for (size_t i = 0; i < p->n_sinks; i++) {
        const hz_sink_ops *o = p->sinks[i]->ops;
        int64_t t = 0;
        int rc = o->flush_end ? o->flush_end(p->sinks[i], &t, err, errlen) : 0;
        if (rc)
            return rc;
        done = t > done ? t : done;
    }
    p->inflight = 0;
    record_latency(p, p->fl_arr_ns, p->fl_arr_n, p->n_fl_arr, done ? done : hz_mono_ns());
    p->n_fl_arr = 0;
    int rc = ack_all(p, p->fl_acks, p->n_fl_acks, err, errlen);
    p->n_fl_acks = 0;
    return rc;
}

/* Flushes every sink, then acknowledges the cycle's positions.  Kafka sinks are flushed
 * before the SQLite ones: if a delivery fails, the SQLite transaction is not committed
 * either, so the restarted pipeline replays the cycle (its windows rebuilt from SQLite
 * without it) and produces everything again; the reverse order would leave the readings
 * in SQLite, make the replayed points duplicates in the windows, and never resend the
 * forecasts Kafka missed.  An SQLite sink with flush_begin (connectors/async_sink.h) commits
 * on its writer thread while the next cycle runs: this generation's positions wait in
 * flight and are acknowledged by the next commit (finish_inflight), or at once with wait. */
static int commit(hz_pipeline *p, int timeout_ms, int wait, char *err, size_t errlen)
{
    int rc = finish_inflight(p, err, errlen);
    if (rc)
        return rc;
    /* an SQLite source saves its cursor in the file the sinks write: it acknowledges
     * between commits, with no transaction of the writer thread open */
    int pipelined = p->pc->source.kind != HZ_CFG_SOURCE_SQLITE, begun = 0;
    if (p->dirty) {
        for (int sqlite = 0; sqlite < 2; sqlite++)
            for (size_t i = 0; i < p->n_sinks; i++) {
                const hz_sink_ops *o = p->sinks[i]->ops;
                if ((p->pc->sinks[i].kind == HZ_CFG_SINK_SQLITE) != sqlite)
                    continue;
                int half = sqlite && pipelined && o->flush_begin;
                rc = half ? o->flush_begin(p->sinks[i], timeout_ms, err, errlen)
                          : o->flush(p->sinks[i], timeout_ms, err, errlen);
                if (rc)
                    return rc;
                begun |= half;
            }
        p->dirty = 0;
    }
    if (begun) {
        memcpy(p->fl_acks, p->acks, p->n_acks * sizeof *p->acks);
        p->n_fl_acks = p->n_acks;
        memcpy(p->fl_arr_ns, p->arr_ns, (size_t)p->n_arr * sizeof *p->arr_ns);
        memcpy(p->fl_arr_n, p->arr_n, (size_t)p->n_arr * sizeof *p->arr_n);
        p->n_fl_arr = p->n_arr;
        p->n_acks = 0;
        p->n_arr = 0;
        p->inflight = 1;
        return wait ? finish_inflight(p, err, errlen) : 0;
    }
    record_latency(p, p->arr_ns, p->arr_n, p->n_arr, hz_mono_ns());
    p->n_arr = 0;
    rc = ack_all(p, p->acks, p->n_acks, err, errlen);
    p->n_acks = 0;
    return rc;
}

int hz_pipeline_step(hz_pipeline *p, int timeout_ms, char *err, size_t errlen)
{
    char e2[HZ_ERRLEN];
    int64_t t0 = 0, max_wait = p->pc->batch.max_wait_ms;
    int total = 0, rc = 0;
    retrain_tick(p); /* between cycles: nothing is staged, so a swap is whole */
    for (;;) {
        int wait = timeout_ms;
        if (total) {
            int64_t left = max_wait - (hz_mono_ns() - t0) / 1000000;
            if (left <= 0)
                break;
            wait = (int)left;
        }
        hz_batch b = {0};
        /* a few batches' worth per poll: the cycle ends at max_wait, so a smaller poll
         * bounds how long a reading waits behind the work of its own cycle */
        size_t max = (size_t)p->pc->batch.max * 4;
        max = max < 64 ? 64 : max > 4096 ? 4096 : max;
        int n = p->src->ops->poll(p->src, &b, max, wait, e2, sizeof e2);
        if (n < 0) {
            rc = n;
            goto fail;
        }
        if (n == 0)
            break;
        int64_t now = hz_mono_ns();
        if (!total)
            t0 = now;
        total += n;
        if (p->n_arr < 64)
            p->arr_ns[p->n_arr++] = now;
        p->arr_n[p->n_arr - 1] += b.n_readings;
        if ((rc = handle_batch(p, &b, e2, sizeof e2)))
            goto fail;
    }
    if (!total && !p->first_ns) { /* idle: what is in flight is acknowledged now */
        if ((rc = finish_inflight(p, e2, sizeof e2)))
            goto fail;
        return 0;
    }
    if (total && (rc = forecast_pending(p, e2, sizeof e2)) < 0)
        goto fail;
    if (total) {
        p->st.cycles++;
        p->st.busy_ns += hz_mono_ns() - t0;
        if (!p->first_ns)
            p->first_ns = t0;
    }
    int64_t now = hz_mono_ns(), after = p->pc->batch.commit_after_ms * 1000000;
    if (total && now - p->first_ns < after) /* group commit: later, with more */
        return total;
    if ((rc = commit(p, FLUSH_MS, !total, e2, sizeof e2)))
        goto fail;
    p->st.busy_ns += hz_mono_ns() - now;
    p->first_ns = 0;
    return total;
fail:
    return hz_err(err, errlen, rc, "pipeline %s: %s", p->pc->name, e2);
}

int hz_pipeline_drain(hz_pipeline *p, int timeout_ms, char *err, size_t errlen)
{
    char e2[HZ_ERRLEN];
    int rc;
    if ((rc = forecast_pending(p, e2, sizeof e2)) < 0 ||
        (rc = commit(p, timeout_ms, 1, e2, sizeof e2)))
        return hz_err(err, errlen, rc, "pipeline %s: %s", p->pc->name, e2);
    return 0;
}

/* At most once a minute, a warning when readings came too late for their window or awaited
 * variables did not come within window.wait slots (both counted in the metrics too). */
static void window_log(hz_pipeline *p, const hz_window_counters *wc)
{
    int64_t now = hz_mono_ns();
    uint64_t late = wc->dropped_late - p->said.dropped_late;
    uint64_t filled = wc->wait_filled - p->said.wait_filled;
    if ((!late && !filled) || (p->said_ns && now - p->said_ns < 60 * (int64_t)1000000000))
        return;
    hz_log(p->log, HZ_LOG_WARN,
           "pipeline %s: %llu reading(s) older than their series' window dropped "
           "(horizon_late_dropped_total); %llu variable value(s) absent for window.wait = %d "
           "slots filled by window.fill (horizon_wait_filled_total)",
           p->pc->name, (unsigned long long)late, (unsigned long long)filled, p->pc->window.wait);
    p->said = *wc;
    p->said_ns = now;
}

void hz_pipeline_update_metrics(hz_pipeline *p)
{
    hz_window_counters wc = hz_window_store_counters(p->ws);
    hz_metrics_set(p->m_series, (double)wc.series);
    int nl;
    hz_forecaster_levels(p->fcst, &nl);
    for (int l = 0; l < nl; l++) {
        double c = hz_forecaster_coverage(p->fcst, l);
        if (!isnan(c))
            hz_metrics_set(p->m_cov[l], c);
    }
    hz_metrics_add(p->m_late, (double)(wc.dropped_late - p->seen.dropped_late));
    hz_metrics_add(p->m_fill, (double)(wc.filled - p->seen.filled));
    hz_metrics_add(p->m_await, (double)(wc.waited - p->seen.waited));
    hz_metrics_add(p->m_merge, (double)(wc.merged - p->seen.merged));
    hz_metrics_add(p->m_wfill, (double)(wc.wait_filled - p->seen.wait_filled));
    p->seen = wc;
    window_log(p, &wc);
    p->st.series = wc.series;
    if (p->pc->source.kind == HZ_CFG_SOURCE_KAFKA) {
        int64_t lag = hz_kafka_source_lag(p->src);
        if (lag >= 0)
            hz_metrics_set(p->m_lag, (double)lag);
    }
    if (p->lagdb) {
        char sql[128];
        sqlite3_stmt *st = NULL;
        snprintf(sql, sizeof sql, "SELECT max(rowid) FROM %s", p->pc->source.sqlite.table);
        if (sqlite3_prepare_v2(p->lagdb, sql, -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW) {
            int64_t behind = hz_sqlite_source_behind(p->src, sqlite3_column_int64(st, 0));
            hz_metrics_set(p->m_lag, (double)behind);
        }
        sqlite3_finalize(st);
    }
}

const hz_pipeline_stats *hz_pipeline_stats_get(hz_pipeline *p)
{
    hz_forecaster_stats fs = hz_forecaster_stats_get(p->fcst);
    p->st.windows = p->rt.base.windows + fs.windows;
    p->st.batches = p->rt.base.batches + fs.batches;
    p->st.skipped = p->rt.base.skipped + fs.skipped;
    p->st.forecasts = p->rt.base.forecasts + fs.forecasts;
    p->st.series = hz_window_store_counters(p->ws).series;
    return &p->st;
}

double hz_pipeline_latency_quantile(const hz_pipeline_stats *st, double q)
{
    uint64_t n = 0, c = 0;
    for (int i = 0; i < HZ_LAT_BUCKETS; i++)
        n += st->latency[i];
    if (!n)
        return 0;
    for (int i = 0; i < HZ_LAT_BUCKETS; i++) {
        c += st->latency[i];
        if ((double)c >= q * (double)n)
            return exp2((i + 1) / 4.0) / 1e6;
    }
    return exp2(HZ_LAT_BUCKETS / 4.0) / 1e6;
}

const hz_pipeline_conf *hz_pipeline_conf_of(const hz_pipeline *p)
{
    return p->pc;
}

const char *hz_pipeline_model_id(const hz_pipeline *p)
{
    return hz_forecaster_model_id(p->fcst);
}

void hz_pipeline_free(hz_pipeline *p)
{
    if (!p)
        return;
    retrain_cancel(p);
    if (p->src)
        p->src->ops->free(p->src);
    sqlite3_close(p->lagdb);
    for (size_t i = 0; p->sinks && i < p->n_sinks; i++) {
        if (p->sinks[i])
            p->sinks[i]->ops->free(p->sinks[i]);
    }
    free(p->sinks);
    free(p->skip_readings);
    hz_window_store_free(p->ws);
    hz_forecaster_free(p->fcst);
    free(p->an);
    free(p->rstate);
    for (size_t i = 0; p->sstate && i < p->scap * (size_t)p->nvars; i++)
        hz_season_free(&p->sstate[i]);
    free(p->sstate);
    for (size_t i = 0; i < p->n_vr; i++)
        free(p->vr[i]);
    free(p->vr);
    free(p->vr_of);
    free(p->spart);
    free(p->swait);
    free(p->rb_idx);
    free(p->rb_write);
    sqlite3_finalize(p->fc_has);
    sqlite3_close(p->fcdb);
    free(p);
}
