/* pipeline.c — one horizond pipeline: source → window store → batched model forward →
 * sinks, with the residual and data-quality anomaly checks and at-least-once delivery
 * (pipeline.h; DESIGN.md "Windows", "Anomalies", "Delivery and scale").
 *
 * Forecasting follows the models' data protocol (MODELS.md §1): the window is scaled with
 * the checkpoint's scaler, calendar marks are timeF of each slot's time, Informer's decoder
 * input is the last label_len scaled points followed by zeros; outputs are unscaled.  The
 * interval beside each forecast is split conformal (anomaly.h) at the highest configured
 * level, seeded from the checkpoint's validation residual quantiles. */
#include "pipeline.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "anomaly.h"
#include "checkpoint.h"
#include "csv.h"
#include "kafka_sink.h"
#include "kafka_source.h"
#include "modeldata.h"
#include "sqlite_sink.h"
#include "sqlite_source.h"
#include "trainer.h"
#include "window_store.h"

#define MAX_ACKS 256 /* partitions tracked per cycle */
#define CALIB_Q  99
#define N_KINDS  5
#define FLUSH_MS 30000

static const char *const KINDS[N_KINDS] = {"residual", "range", "flatline", "spike", "gap"};

struct hz_pipeline {
    const hz_config *cfg;
    const hz_pipeline_conf *pc;
    const hz_logger *log;
    /* source and sinks */
    hz_source *src;
    hz_kv *src_props;
    hz_sink **sinks;
    hz_kv **sink_props;
    int *skip_readings; /* per sink: the source is this sink's readings table */
    size_t n_sinks;
    const char *const *vars; /* source variables (pc->source.fields.values) */
    int nvars;
    /* windows */
    hz_window_store *ws;
    /* model */
    hz_model *model;
    hz_ctx ctx;
    hz_scaler sc;
    char **mnames;
    int n_mnames, ctx_on;
    int C, L, P, lab, F;
    int mvar[HZ_MAX_VARS]; /* model variable k = source variable mvar[k] */
    int64_t period;
    char model_id[128];
    hz_conformal_set *cset;
    double level_hi;
    hz_rules_conf rules;
    int rules_on;
    /* batch buffers, sized once for batch.max windows */
    int bmax, nb;               /* batch capacity, rows staged */
    float *win;                 /* [L, nvars] one window as copied */
    hz_real *x, *xm, *xd, *xmd; /* [B, L, C], [B, L, F], [B, lab+P, C], [B, lab+P, F] */
    uint32_t *bidx;             /* [B] series of each row */
    int64_t *blast;             /* [B] last slot time of each row */
    hz_forecast *fc;            /* [B * P * C] */
    /* anomalies of the cycle (grows to the largest cycle) */
    hz_anomaly *an;
    size_t n_an, cap_an;
    /* per series (by window-store index) */
    size_t scap;
    float *last_fc;         /* [scap, P, C] latest forecast, original units */
    int64_t *last_issued;   /* [scap] its issue slot time; INT64_MIN: none */
    hz_rules_state *rstate; /* [scap, nvars] */
    /* positions to acknowledge after the next flush */
    hz_pos acks[MAX_ACKS];
    size_t n_acks;
    int dirty; /* something written since the last flush */
    /* arrival of the cycle's polls, for the latency histogram */
    int64_t arr_ns[64];
    uint64_t arr_n[64];
    int n_arr;
    sqlite3 *lagdb; /* sqlite source: how far the table is ahead of the cursor */
    /* metrics */
    hz_metric *m_read, *m_fc, *m_dead, *m_lag, *m_inf, *m_bs, *m_series, *m_late, *m_fill;
    hz_metric *m_kind[N_KINDS];
    uint64_t seen_late, seen_fill;
    hz_pipeline_stats st;
};

/* ---- helpers */

static int grow_series(hz_pipeline *p, size_t need)
{
    if (need <= p->scap)
        return 0;
    size_t cap = p->scap ? p->scap : 1024;
    while (cap < need)
        cap *= 2;
    size_t pc = (size_t)p->P * p->C;
    float *f = realloc(p->last_fc, cap * pc * sizeof *f);
    if (!f)
        return HZ_ENOMEM;
    p->last_fc = f;
    int64_t *t = realloc(p->last_issued, cap * sizeof *t);
    if (!t)
        return HZ_ENOMEM;
    p->last_issued = t;
    hz_rules_state *r = realloc(p->rstate, cap * (size_t)p->nvars * sizeof *r);
    if (!r)
        return HZ_ENOMEM;
    p->rstate = r;
    for (size_t i = p->scap; i < cap; i++) {
        t[i] = INT64_MIN;
        for (int v = 0; v < p->nvars; v++)
            hz_anomaly_rules_init(&r[i * p->nvars + v]);
    }
    p->scap = cap;
    return 0;
}

static hz_anomaly *new_anomaly(hz_pipeline *p)
{
    if (p->n_an == p->cap_an) {
        size_t cap = p->cap_an ? p->cap_an * 2 : 256;
        hz_anomaly *a = realloc(p->an, cap * sizeof *a);
        if (!a)
            return NULL;
        p->an = a;
        p->cap_an = cap;
    }
    return &p->an[p->n_an++];
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

/* kafka properties: the top-level map, then the section's own (later wins), then extra */
static hz_kv *kafka_props(const hz_conf_map *top, const hz_conf_map *own, const hz_kv *extra,
                          size_t n_extra, size_t *n)
{
    hz_kv *kv = calloc(top->n + own->n + n_extra + 1, sizeof *kv);
    if (!kv)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < top->n; i++)
        if (!hz_conf_map_get(own, top->items[i].key))
            kv[k++] = (hz_kv){top->items[i].key, top->items[i].value};
    for (size_t i = 0; i < own->n; i++)
        kv[k++] = (hz_kv){own->items[i].key, own->items[i].value};
    for (size_t i = 0; i < n_extra; i++)
        kv[k++] = extra[i];
    *n = k;
    return kv;
}

/* ---- opening */

static int open_source(hz_pipeline *p, char *err, size_t errlen)
{
    const hz_pipeline_conf *pc = p->pc;
    const hz_cfg_source *s = &pc->source;
    if (s->kind == HZ_CFG_SOURCE_KAFKA) {
        hz_kv gid = {"group.id", s->kafka.group_id};
        size_t n;
        p->src_props = kafka_props(&p->cfg->kafka, &s->kafka.properties, &gid, 1, &n);
        if (!p->src_props)
            return hz_err(err, errlen, HZ_ENOMEM, "out of memory");
        hz_kafka_source_opts o = {0};
        o.topic = s->kafka.topic;
        o.props = p->src_props;
        o.nprops = n;
        o.map.series_field = s->fields.series && *s->fields.series ? s->fields.series : NULL;
        o.map.time_field = s->fields.time;
        o.map.time_format = (hz_time_format)s->fields.time_format;
        o.map.var_fields = p->vars;
        o.map.nvars = p->nvars;
        o.log = p->log;
        return hz_kafka_source_new(&o, &p->src, err, errlen);
    }
    if (s->kind == HZ_CFG_SOURCE_SQLITE) {
        hz_sqlite_source_opts o = {0};
        o.path = s->sqlite.path;
        o.table = s->sqlite.table;
        o.cursor = pc->name;
        o.variables = p->vars;
        o.nvars = p->nvars;
        o.poll_interval_ms = (int)(s->sqlite.poll_ms < 10 ? 10 : s->sqlite.poll_ms);
        return hz_sqlite_source_new(&o, &p->src, err, errlen);
    }
    hz_csv_source_opts o = {0};
    o.path = s->csv.path;
    o.series = s->csv.series && *s->csv.series ? s->csv.series : pc->name;
    o.csv.time_column = s->fields.time;
    o.csv.columns = p->vars;
    o.csv.ncolumns = p->nvars;
    if (s->csv.delimiter && *s->csv.delimiter)
        o.csv.delimiter = s->csv.delimiter[0];
    o.csv.allow_empty = 1;
    return hz_csv_source_new(&o, &p->src, err, errlen);
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
    p->sink_props = calloc(pc->n_sinks + 1, sizeof *p->sink_props);
    p->skip_readings = calloc(pc->n_sinks + 1, sizeof *p->skip_readings);
    if (!p->sinks || !p->sink_props || !p->skip_readings)
        return hz_err(err, errlen, HZ_ENOMEM, "out of memory");
    for (size_t i = 0; i < pc->n_sinks; i++) {
        const hz_cfg_sink *k = &pc->sinks[i];
        int rc;
        if (k->kind == HZ_CFG_SINK_SQLITE) {
            hz_sqlite_sink_opts o = {0};
            o.path = k->sqlite.path;
            o.tables.forecasts = k->sqlite.forecasts_table;
            o.tables.anomalies = k->sqlite.anomalies_table;
            o.tables.dead = k->sqlite.dead_letters_table;
            rc = hz_sqlite_sink_new(&o, &p->sinks[i], err, errlen);
            p->skip_readings[i] = pc->source.kind == HZ_CFG_SOURCE_SQLITE &&
                                  !strcmp(pc->source.sqlite.table, "readings") &&
                                  same_file(pc->source.sqlite.path, k->sqlite.path);
        } else {
            size_t n;
            p->sink_props[i] = kafka_props(&p->cfg->kafka, &k->kafka.properties, NULL, 0, &n);
            if (!p->sink_props[i])
                return hz_err(err, errlen, HZ_ENOMEM, "out of memory");
            hz_kafka_sink_opts o = {0};
            o.props = p->sink_props[i];
            o.nprops = n;
            o.forecasts_topic = *k->kafka.forecasts ? k->kafka.forecasts : NULL;
            o.anomalies_topic = *k->kafka.anomalies ? k->kafka.anomalies : NULL;
            o.dead_topic = *k->kafka.dead_letters ? k->kafka.dead_letters : NULL;
            o.log = p->log;
            rc = hz_kafka_sink_new(&o, &p->sinks[i], err, errlen);
        }
        if (rc)
            return rc;
    }
    return 0;
}

static int open_model(hz_pipeline *p, char *err, size_t errlen)
{
    const hz_pipeline_conf *pc = p->pc;
    const char *path = pc->model.checkpoint;
    if (access(path, F_OK) != 0) {
        if (!pc->model.train.train_on_start)
            return hz_err(err, errlen, HZ_ENOTFOUND,
                          "pipeline %s: no checkpoint at %s (run `horizon train -c %s -p %s` "
                          "or set model.train.train_on_start)",
                          pc->name, path, p->cfg->path, pc->name);
        hz_log(p->log, HZ_LOG_NOTICE, "pipeline %s: no checkpoint at %s; training one", pc->name,
               path);
        hz_train_opts o = {NULL, NULL, -1, 0, p->log};
        int rc = hz_trainer_run(p->cfg, pc, &o, NULL, err, errlen);
        if (rc)
            return rc;
    }
    hz_st_file *f = NULL;
    int n_names = 0;
    int rc = hz_ckpt_load(path, &p->model, &f, err, errlen);
    if (!rc)
        rc = hz_meta_scaler_parse(f, &p->sc, &p->mnames, &n_names, err, errlen);
    if (rc)
        goto out;
    p->n_mnames = n_names;
    const hz_model_conf *mc = &p->model->conf;
    p->C = mc->c_out;
    p->L = mc->seq_len;
    p->P = mc->pred_len;
    p->lab = mc->label_len;
    p->F = mc->n_marks;
    if (n_names != p->C || mc->enc_in != p->C) {
        rc = hz_err(err, errlen, HZ_EFORMAT, "%s: %d variable names for a model of %d inputs", path,
                    n_names, mc->enc_in);
        goto out;
    }
    if (p->L != pc->window.lookback || p->P != pc->window.horizon) {
        rc = hz_err(err, errlen, HZ_EINVAL,
                    "pipeline %s: checkpoint %s has lookback %d and horizon %d, the window "
                    "section %d and %d (retrain, or fix the window)",
                    pc->name, path, p->L, p->P, pc->window.lookback, pc->window.horizon);
        goto out;
    }
    for (int k = 0; k < p->C; k++) {
        p->mvar[k] = -1;
        for (int v = 0; v < p->nvars; v++)
            if (!strcmp(p->mnames[k], p->vars[v]))
                p->mvar[k] = v;
        if (p->mvar[k] < 0) {
            rc = hz_err(err, errlen, HZ_EINVAL,
                        "pipeline %s: checkpoint %s forecasts variable %s, which "
                        "source.fields.values does not list",
                        pc->name, path, p->mnames[k]);
            goto out;
        }
    }
    char sha[65];
    if (hz_file_sha256(path, sha, err, errlen) == 0)
        snprintf(p->model_id, sizeof p->model_id, "%s-%.12s", pc->name, sha);
    else
        snprintf(p->model_id, sizeof p->model_id, "%s", path);
    /* conformal sets seeded from the validation residual quantiles */
    hz_conformal_conf cc;
    hz_conformal_conf_default(&cc);
    cc.nlevels = 0;
    for (size_t i = 0; i < pc->anomaly.n_levels && i < HZ_CONFORMAL_MAX_LEVELS; i++)
        cc.levels[cc.nlevels++] = pc->anomaly.levels[i];
    if (cc.nlevels == 0) {
        cc.levels[0] = 0.99;
        cc.nlevels = 1;
    }
    p->level_hi = cc.levels[cc.nlevels - 1];
    p->cset = hz_conformal_set_new(&cc, p->C, p->P, err, errlen);
    if (!p->cset) {
        rc = HZ_EINVAL;
        goto out;
    }
    const hz_st_tensor *q = hz_st_find(f, "calib.abs_residual_quantiles");
    if (q && q->dtype == HZ_ST_F32 && q->ndim == 3 && q->shape[0] == p->P && q->shape[1] == p->C &&
        q->shape[2] == CALIB_Q) {
        float qs[CALIB_Q];
        for (int s = 0; s < p->P; s++)
            for (int k = 0; k < p->C; k++) {
                memcpy(qs, (const char *)q->data + ((size_t)s * p->C + k) * CALIB_Q * 4, sizeof qs);
                hz_conformal_seed_f32(hz_conformal_set_at(p->cset, k, s + 1), qs, CALIB_Q);
            }
    } else {
        hz_log(p->log, HZ_LOG_WARN,
               "pipeline %s: %s has no validation residuals; intervals start empty (+inf) and "
               "fill as forecasts meet readings",
               pc->name, path);
    }
    const char *pm = hz_st_meta(f, "period_ms");
    if (pm && atoll(pm) > 0 && atoll(pm) != pc->window.period_ms)
        hz_log(p->log, HZ_LOG_WARN,
               "pipeline %s: checkpoint trained at a period of %s ms, window.period is %lld ms",
               pc->name, pm, (long long)pc->window.period_ms);
out:
    hz_st_close(f);
    return rc;
}

static int alloc_buffers(hz_pipeline *p, char *err, size_t errlen)
{
    size_t B = (size_t)p->bmax, L = (size_t)p->L, C = (size_t)p->C, F = (size_t)p->F;
    size_t D = (size_t)(p->lab + p->P);
    p->win = malloc(L * p->nvars * sizeof *p->win);
    p->x = malloc(B * L * C * sizeof *p->x);
    p->xd = calloc(B * D * C, sizeof *p->xd);
    p->xm = F ? malloc(B * L * F * sizeof *p->xm) : NULL;
    p->xmd = F ? malloc(B * D * F * sizeof *p->xmd) : NULL;
    p->bidx = malloc(B * sizeof *p->bidx);
    p->blast = malloc(B * sizeof *p->blast);
    p->fc = malloc(B * p->P * C * sizeof *p->fc);
    if (!p->win || !p->x || !p->xd || (F && (!p->xm || !p->xmd)) || !p->bidx || !p->blast || !p->fc)
        return hz_err(err, errlen, HZ_ENOMEM, "pipeline %s: out of memory for batch buffers",
                      p->pc->name);
    hz_ctx_init(&p->ctx, (size_t)16 << 20, 0);
    p->ctx_on = 1;
    return 0;
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
            path = pc->sinks[i].sqlite.path;
            limited = p->skip_readings[i];
            break;
        }
    if (!path)
        return 0;
    int64_t cursor = limited ? hz_sqlite_source_position(p->src) : 0;
    if (limited && cursor <= 0)
        return 0;
    sqlite3 *db = NULL;
    int rc = hz_sqlite_open(path, 1, 5000, &db, err, errlen);
    if (rc)
        return rc;
    const char *table = "readings";
    if (limited) {
        char sql[256];
        snprintf(sql, sizeof sql,
                 "CREATE TEMP VIEW hz_rebuild AS SELECT series, variable, ts, value FROM "
                 "readings WHERE rowid <= %lld",
                 (long long)cursor);
        rc = hz_sqlite_exec(db, sql, err, errlen);
        table = "hz_rebuild";
    }
    uint64_t pts = 0;
    if (!rc)
        rc = hz_window_store_load_sqlite(p->ws, db, table, p->vars, NULL, &pts, err, errlen);
    sqlite3_close_v2(db);
    if (rc)
        return rc;
    uint32_t idx; /* those windows were forecast before the restart */
    while (hz_window_store_pop_ready(p->ws, &idx))
        ;
    p->st.rebuilt_points = pts;
    hz_window_counters wc = hz_window_store_counters(p->ws);
    p->seen_late = wc.dropped_late;
    p->seen_fill = wc.filled;
    if (pts)
        hz_log(p->log, HZ_LOG_INFO,
               "pipeline %s: windows rebuilt from %s: %llu series, %llu points", pc->name, path,
               (unsigned long long)wc.series, (unsigned long long)pts);
    return 0;
}

static void get_metrics(hz_pipeline *p, hz_metrics *m)
{
    if (!m)
        return;
    const char *lv[] = {p->pc->name, NULL};
    p->m_read = hz_metrics_get(m, "horizon_readings_total", lv, NULL, 0);
    p->m_fc = hz_metrics_get(m, "horizon_forecasts_total", lv, NULL, 0);
    p->m_dead = hz_metrics_get(m, "horizon_dead_letters_total", lv, NULL, 0);
    p->m_lag = hz_metrics_get(m, "horizon_consumer_lag", lv, NULL, 0);
    p->m_inf = hz_metrics_get(m, "horizon_inference_seconds", lv, NULL, 0);
    p->m_bs = hz_metrics_get(m, "horizon_batch_size", lv, NULL, 0);
    p->m_series = hz_metrics_get(m, "horizon_window_series", lv, NULL, 0);
    p->m_late = hz_metrics_get(m, "horizon_late_dropped_total", lv, NULL, 0);
    p->m_fill = hz_metrics_get(m, "horizon_gaps_filled_total", lv, NULL, 0);
    for (int i = 0; i < N_KINDS; i++) {
        const char *kv[] = {p->pc->name, KINDS[i], NULL};
        p->m_kind[i] = hz_metrics_get(m, "horizon_anomalies_total", kv, NULL, 0);
    }
}

int hz_pipeline_new(const hz_config *cfg, const hz_pipeline_conf *pc, hz_metrics *metrics,
                    const hz_logger *log, hz_pipeline **out, char *err, size_t errlen)
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
    p->period = pc->window.period_ms;
    p->bmax = pc->batch.max > 0 ? pc->batch.max : 1;
    char e2[HZ_ERRLEN];
    int rc;
    hz_window_opts wo = {pc->window.period_ms, pc->window.lookback, p->nvars, pc->window.stride,
                         pc->window.fill};
    p->ws = hz_window_store_new(&wo, e2, sizeof e2);
    if (!p->ws) {
        rc = hz_err(err, errlen, HZ_EINVAL, "pipeline %s: %s", pc->name, e2);
        goto fail;
    }
    hz_anomaly_rules_conf_default(&p->rules);
    const hz_cfg_anomaly *an = &pc->anomaly;
    if (an->rules.n_range == 2) {
        p->rules.range_min = an->rules.range[0];
        p->rules.range_max = an->rules.range[1];
    }
    p->rules.flatline = an->rules.flatline;
    p->rules.spike_k = an->rules.spike;
    p->rules.gap = an->rules.gap;
    p->rules.period_ms = pc->window.period_ms;
    p->rules_on =
        an->rules.n_range == 2 || an->rules.flatline || an->rules.spike > 0 || an->rules.gap;
    if ((rc = hz_anomaly_rules_conf_check(&p->rules, e2, sizeof e2))) {
        hz_err(err, errlen, rc, "pipeline %s: %s", pc->name, e2);
        goto fail;
    }
    if ((rc = open_model(p, e2, sizeof e2)) || (rc = alloc_buffers(p, e2, sizeof e2)) ||
        (rc = open_sinks(p, e2, sizeof e2)) || (rc = open_source(p, e2, sizeof e2)) ||
        (rc = rebuild_windows(p, e2, sizeof e2)) ||
        (rc = grow_series(p, hz_window_store_counters(p->ws).series + 1))) {
        hz_err(err, errlen, rc, "pipeline %s: %s", pc->name, e2);
        goto fail;
    }
    get_metrics(p, metrics);
    if (pc->source.kind == HZ_CFG_SOURCE_SQLITE &&
        sqlite3_open_v2(pc->source.sqlite.path, &p->lagdb, SQLITE_OPEN_READONLY, NULL) !=
            SQLITE_OK) {
        sqlite3_close(p->lagdb);
        p->lagdb = NULL;
    }
    if (pc->model.train.retrain_every_ms > 0)
        hz_log(log, HZ_LOG_WARN,
               "pipeline %s: model.train.retrain_every is not implemented yet; the model is "
               "not retrained while the daemon runs (run `horizon train` and SIGHUP)",
               pc->name);
    hz_log(log, HZ_LOG_INFO,
           "pipeline %s: %s source, %zu sink%s, model %s (%s, lookback %d, horizon %d, %d "
           "variable%s), batch %d / %lld ms",
           pc->name, p->src->ops->kind, p->n_sinks, p->n_sinks == 1 ? "" : "s", p->model_id,
           hz_model_kind_name(p->model->conf.kind), p->L, p->P, p->C, p->C == 1 ? "" : "s", p->bmax,
           (long long)pc->batch.max_wait_ms);
    *out = p;
    return 0;
fail:
    hz_pipeline_free(p);
    return rc;
}

/* ---- the cycle */

static int write_all_forecasts(hz_pipeline *p, size_t n, char *err, size_t errlen)
{
    for (size_t i = 0; i < p->n_sinks; i++) {
        int rc = p->sinks[i]->ops->write_forecasts(p->sinks[i], p->fc, n, err, errlen);
        if (rc)
            return rc;
    }
    p->dirty = 1;
    return 0;
}

/* Copies every ready window into the next rows of the batch, so each ready event is
 * forecast from the window as it was then (a burst of one series' points gives one
 * forecast per point, not one per burst).  Runs the forward whenever the batch is full. */
static int run_batch(hz_pipeline *p, char *err, size_t errlen);

static int stage_ready(hz_pipeline *p, char *err, size_t errlen)
{
    int L = p->L, C = p->C, F = p->F, P = p->P, lab = p->lab, D = lab + P, nv = p->nvars;
    uint32_t idx;
    while (hz_window_store_pop_ready(p->ws, &idx)) {
        int B = p->nb;
        int64_t last;
        int held = hz_window_store_copy(p->ws, idx, p->win, NULL, &last);
        if (held < L) {
            p->st.skipped++;
            continue;
        }
        hz_real *x = p->x + (size_t)B * L * C;
        int bad = 0;
        for (int t = 0; t < L && !bad; t++)
            for (int k = 0; k < C; k++) {
                float v = p->win[t * nv + p->mvar[k]];
                if (!isfinite(v)) {
                    bad = 1;
                    break;
                }
                x[t * C + k] = (hz_real)((v - p->sc.mean[k]) / p->sc.std[k]);
            }
        if (bad) { /* a gap left missing (fill: none): no forecast from this window */
            p->st.skipped++;
            continue;
        }
        hz_real *xd = p->xd + (size_t)B * D * C;
        memcpy(xd, x + (size_t)(L - lab) * C, (size_t)lab * C * sizeof *xd);
        memset(xd + (size_t)lab * C, 0, (size_t)P * C * sizeof *xd);
        if (F) {
            float mk[4];
            for (int t = 0; t < L; t++) {
                hz_timef_hour(last - (int64_t)(L - 1 - t) * p->period, mk);
                for (int j = 0; j < F && j < 4; j++)
                    p->xm[((size_t)B * L + t) * F + j] = mk[j];
            }
            for (int t = 0; t < D; t++) {
                hz_timef_hour(last + (int64_t)(t - lab + 1) * p->period, mk);
                for (int j = 0; j < F && j < 4; j++)
                    p->xmd[((size_t)B * D + t) * F + j] = mk[j];
            }
        }
        p->bidx[B] = idx;
        p->blast[B] = last;
        p->nb = B + 1;
        if (p->nb == p->bmax) {
            int rc = run_batch(p, err, errlen);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* One forward over the staged rows; forecasts to every sink.  Returns 0 or HZ_E*. */
static int run_batch(hz_pipeline *p, char *err, size_t errlen)
{
    int C = p->C, F = p->F, P = p->P, B = p->nb;
    if (B == 0)
        return 0;
    p->nb = 0;
    int64_t t0 = hz_mono_ns();
    hz_model_input in = {B, p->x, F ? p->xm : NULL, p->xd, F ? p->xmd : NULL};
    hz_ctx_reset(&p->ctx);
    hz_tensor *y = hz_model_forward(p->model, &p->ctx, &in); /* [B, P, C] scaled */
    hz_metrics_observe(p->m_inf, (hz_mono_ns() - t0) / 1e9);
    hz_metrics_observe(p->m_bs, B);
    p->st.batches++;
    p->st.windows += (uint64_t)B;
    int rc = grow_series(p, hz_window_store_counters(p->ws).series + 1);
    if (rc)
        return hz_err(err, errlen, rc, "out of memory");
    size_t n = 0;
    for (int b = 0; b < B; b++) {
        uint32_t s = p->bidx[b];
        const char *sid = hz_window_store_series_id(p->ws, s);
        float *keep = p->last_fc + (size_t)s * P * C;
        if (p->blast[b] >= p->last_issued[s] || p->last_issued[s] == INT64_MIN)
            p->last_issued[s] = p->blast[b];
        else
            keep = NULL; /* a late window: keep the newer forecast for residuals */
        for (int t = 0; t < P; t++)
            for (int k = 0; k < C; k++) {
                double v = y->data[((size_t)b * P + t) * C + k] * p->sc.std[k] + p->sc.mean[k];
                if (keep)
                    keep[t * C + k] = (float)v;
                hz_forecast *f = &p->fc[n++];
                f->pipeline = p->pc->name;
                f->series = sid;
                f->variable = p->mnames[k];
                f->issued_ts = p->blast[b];
                f->target_ts = p->blast[b] + (int64_t)(t + 1) * p->period;
                f->step = t + 1;
                f->model_id = p->model_id;
                f->value = v;
                hz_conformal_interval(hz_conformal_set_at(p->cset, k, t + 1), v, p->level_hi,
                                      &f->lower, &f->upper);
                if (!isfinite(f->lower) || !isfinite(f->upper))
                    f->lower = f->upper = NAN;
            }
    }
    rc = write_all_forecasts(p, n, err, errlen);
    if (rc)
        return rc;
    p->st.forecasts += n;
    hz_metrics_add(p->m_fc, (double)n);
    return 0;
}

static int forecast_pending(hz_pipeline *p, char *err, size_t errlen)
{
    int rc = stage_ready(p, err, errlen);
    return rc ? rc : run_batch(p, err, errlen);
}

/* Residual check of reading r of series s against its latest forecast. */
static void check_residual(hz_pipeline *p, uint32_t s, const hz_reading *r)
{
    int64_t issued = p->last_issued[s];
    if (issued == INT64_MIN)
        return;
    int64_t slot_ts = (r->ts_ms / p->period) * p->period;
    if (r->ts_ms < 0 && slot_ts != r->ts_ms)
        slot_ts -= p->period;
    int64_t step = (slot_ts - issued) / p->period;
    if (step < 1 || step > p->P)
        return;
    const float *fc = p->last_fc + (size_t)s * p->P * p->C + (size_t)(step - 1) * p->C;
    for (int k = 0; k < p->C; k++) {
        double actual = r->values[p->mvar[k]];
        if (!isfinite(actual))
            continue;
        hz_conformal_result res;
        if (hz_conformal_observe(hz_conformal_set_at(p->cset, k, (int)step), actual, fc[k], &res) ||
            !res.flagged)
            continue;
        hz_anomaly *a = new_anomaly(p);
        if (!a)
            return;
        hz_conformal_to_anomaly(&res, r->ts_ms, actual, fc[k], a);
        a->pipeline = p->pc->name;
        a->series = r->series;
        a->variable = p->mnames[k];
    }
}

static int handle_batch(hz_pipeline *p, const hz_batch *b, char *err, size_t errlen)
{
    int rc;
    if (b->n_readings) {
        for (size_t i = 0; i < p->n_sinks; i++)
            if (!p->skip_readings[i] &&
                (rc = p->sinks[i]->ops->write_readings(p->sinks[i], p->pc->name, p->vars,
                                                       b->readings, b->n_readings, err, errlen)))
                return rc;
        p->dirty = 1;
    }
    p->n_an = 0;
    hz_anomaly out[HZ_RULES_MAX_OUT];
    for (size_t i = 0; i < b->n_readings; i++) {
        const hz_reading *r = &b->readings[i];
        if ((rc = hz_window_store_push_reading(p->ws, r)))
            continue; /* empty series id: nothing to key it on */
        int64_t s = hz_window_store_find(p->ws, r->series);
        if (s < 0 || grow_series(p, (size_t)s + 1))
            continue;
        const char *sid = hz_window_store_series_id(p->ws, (uint32_t)s);
        check_residual(p, (uint32_t)s, r);
        if ((rc = stage_ready(p, err, errlen)))
            return rc;
        for (int v = 0; p->rules_on && v < p->nvars; v++) {
            int n = hz_anomaly_rules_check(&p->rules, &p->rstate[(size_t)s * p->nvars + v],
                                           r->ts_ms, r->values[v], out, HZ_RULES_MAX_OUT);
            for (int j = 0; j < n; j++) {
                hz_anomaly *a = new_anomaly(p);
                if (!a)
                    break;
                *a = out[j];
                a->pipeline = p->pc->name;
                a->series = sid;
                a->variable = p->vars[v];
            }
        }
    }
    for (size_t i = 0; i < p->n_an; i++) {
        /* series ids must outlive the source's batch: use the store's copies */
        int64_t s = hz_window_store_find(p->ws, p->an[i].series);
        if (s >= 0)
            p->an[i].series = hz_window_store_series_id(p->ws, (uint32_t)s);
        count_kind(p, p->an[i].kind);
    }
    for (size_t i = 0; i < p->n_sinks; i++) {
        if (p->n_an &&
            (rc = p->sinks[i]->ops->write_anomalies(p->sinks[i], p->an, p->n_an, err, errlen)))
            return rc;
        if (b->n_dead && (rc = p->sinks[i]->ops->write_dead(p->sinks[i], p->pc->name, b->dead,
                                                            b->n_dead, err, errlen)))
            return rc;
    }
    for (size_t i = 0; i < b->n_dead; i++)
        hz_log(p->log, HZ_LOG_WARN, "pipeline %s: dead letter %s: %s", p->pc->name,
               b->dead[i].origin, b->dead[i].reason);
    if (p->n_an || b->n_dead)
        p->dirty = 1;
    p->st.readings += b->n_readings;
    p->st.dead += b->n_dead;
    p->st.anomalies += p->n_an;
    hz_metrics_add(p->m_read, (double)b->n_readings);
    hz_metrics_add(p->m_dead, (double)b->n_dead);
    for (size_t i = 0; i < b->n_positions; i++)
        note_ack(p, &b->positions[i]);
    return 0;
}

/* Flushes every sink, then acknowledges the cycle's positions. */
static int commit(hz_pipeline *p, int timeout_ms, char *err, size_t errlen)
{
    int rc;
    if (p->dirty) {
        for (size_t i = 0; i < p->n_sinks; i++)
            if ((rc = p->sinks[i]->ops->flush(p->sinks[i], timeout_ms, err, errlen)))
                return rc;
        p->dirty = 0;
    }
    for (size_t i = 0; i < p->n_acks; i++)
        if ((rc = p->src->ops->ack(p->src, &p->acks[i], err, errlen)))
            return rc;
    p->n_acks = 0;
    return 0;
}

int hz_pipeline_step(hz_pipeline *p, int timeout_ms, char *err, size_t errlen)
{
    char e2[HZ_ERRLEN];
    int64_t t0 = 0, max_wait = p->pc->batch.max_wait_ms;
    int total = 0, rc = 0;
    for (;;) {
        int wait = timeout_ms;
        if (total) {
            int64_t left = max_wait - (hz_mono_ns() - t0) / 1000000;
            if (left <= 0)
                break;
            wait = (int)left;
        }
        hz_batch b;
        /* a few batches' worth per poll: the cycle ends at max_wait, so a smaller poll
         * bounds how long a reading waits behind the work of its own cycle */
        size_t max = (size_t)p->bmax * 4;
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
    if (!total)
        return 0;
    if ((rc = forecast_pending(p, e2, sizeof e2)) < 0 || (rc = commit(p, FLUSH_MS, e2, sizeof e2)))
        goto fail;
    p->st.cycles++;
    int64_t done = hz_mono_ns();
    p->st.busy_ns += done - t0;
    for (int i = 0; i < p->n_arr; i++) {
        double us = (done - p->arr_ns[i]) / 1e3;
        int k = us > 1 ? (int)(4 * log2(us)) : 0;
        p->st.latency[k < HZ_LAT_BUCKETS ? k : HZ_LAT_BUCKETS - 1] += p->arr_n[i];
        p->arr_n[i] = 0;
    }
    p->n_arr = 0;
    return total;
fail:
    return hz_err(err, errlen, rc, "pipeline %s: %s", p->pc->name, e2);
}

int hz_pipeline_drain(hz_pipeline *p, int timeout_ms, char *err, size_t errlen)
{
    char e2[HZ_ERRLEN];
    int rc;
    if ((rc = forecast_pending(p, e2, sizeof e2)) < 0 ||
        (rc = commit(p, timeout_ms, e2, sizeof e2)))
        return hz_err(err, errlen, rc, "pipeline %s: %s", p->pc->name, e2);
    return 0;
}

void hz_pipeline_update_metrics(hz_pipeline *p)
{
    hz_window_counters wc = hz_window_store_counters(p->ws);
    hz_metrics_set(p->m_series, (double)wc.series);
    hz_metrics_add(p->m_late, (double)(wc.dropped_late - p->seen_late));
    hz_metrics_add(p->m_fill, (double)(wc.filled - p->seen_fill));
    p->seen_late = wc.dropped_late;
    p->seen_fill = wc.filled;
    p->st.series = wc.series;
    if (p->lagdb) {
        char sql[128];
        sqlite3_stmt *st = NULL;
        snprintf(sql, sizeof sql, "SELECT max(rowid) FROM %s", p->pc->source.sqlite.table);
        if (sqlite3_prepare_v2(p->lagdb, sql, -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW) {
            int64_t ahead = sqlite3_column_int64(st, 0) - hz_sqlite_source_position(p->src);
            hz_metrics_set(p->m_lag, (double)(ahead > 0 ? ahead : 0));
        }
        sqlite3_finalize(st);
    }
}

const hz_pipeline_stats *hz_pipeline_stats_get(hz_pipeline *p)
{
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

void hz_pipeline_free(hz_pipeline *p)
{
    if (!p)
        return;
    if (p->src)
        p->src->ops->free(p->src);
    sqlite3_close(p->lagdb);
    for (size_t i = 0; p->sinks && i < p->n_sinks; i++) {
        if (p->sinks[i])
            p->sinks[i]->ops->free(p->sinks[i]);
        if (p->sink_props)
            free(p->sink_props[i]);
    }
    free(p->sinks);
    free(p->sink_props);
    free(p->skip_readings);
    free(p->src_props);
    hz_window_store_free(p->ws);
    hz_model_free(p->model);
    if (p->ctx_on)
        hz_ctx_free(&p->ctx);
    hz_names_free(p->mnames, p->n_mnames);
    hz_conformal_set_free(p->cset);
    free(p->win);
    free(p->x);
    free(p->xm);
    free(p->xd);
    free(p->xmd);
    free(p->bidx);
    free(p->blast);
    free(p->fc);
    free(p->an);
    free(p->last_fc);
    free(p->last_issued);
    free(p->rstate);
    free(p);
}
