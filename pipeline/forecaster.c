/* forecaster.c — a pipeline's model at run time: checkpoint, batched forward over ready
 * windows, forecasts with split-conformal intervals, residual checks (forecaster.h;
 * docs/ARCHITECTURE.md; preprocessing as docs/MODELS.md). */
#include "pipeline/forecaster.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipeline/anomaly.h"
#include "models/checkpoint.h"
#include "training/prepare.h"
#include "training/trainer.h"

struct hz_forecaster {
    const hz_config *cfg;
    const hz_pipeline_conf *pc;
    const hz_logger *log;
    const char *const *vars; /* source variables, in reading order */
    int nvars;
    hz_model *model;
    hz_ctx ctx;
    hz_scaler sc;
    char **mnames; /* the checkpoint's variables */
    int n_mnames, ctx_on;
    int C, L, P, lab, F;
    int mvar[HZ_MAX_VARS]; /* model variable k = source variable mvar[k] */
    int64_t period;
    char model_id[128];
    hz_conformal_set *cset;
    double level_hi;
    /* batch buffers, sized once for batch.max windows */
    int bmax, nb;               /* capacity, rows staged */
    float *win;                 /* [L, nvars] one window as copied */
    hz_real *x, *xm, *xd, *xmd; /* [B, L, C], [B, L, F], [B, lab+P, C], [B, lab+P, F] */
    uint32_t *bidx;             /* [B] series of each row */
    int64_t *blast;             /* [B] last slot time of each row */
    hz_forecast *fc;            /* [B * P * C] */
    /* per series (by window-store index) */
    size_t scap;
    float *last_fc;       /* [scap, P, C] latest forecast, original units */
    int64_t *last_issued; /* [scap] its issue slot time; INT64_MIN: none */
    hz_metric *m_inf, *m_bs;
    hz_forecaster_stats st;
};

static int grow_series(hz_forecaster *p, size_t need)
{
    size_t cap_fc = p->scap, cap = p->scap; /* both grow alike, from the same capacity */
    if (hz_grow((void **)&p->last_fc, &cap_fc, need, (size_t)p->P * p->C * sizeof *p->last_fc) ||
        hz_grow((void **)&p->last_issued, &cap, need, sizeof *p->last_issued))
        return HZ_ENOMEM;
    for (size_t i = p->scap; i < cap; i++)
        p->last_issued[i] = INT64_MIN;
    p->scap = cap;
    return 0;
}

/* With no checkpoint file: trains one when model.train.train_on_start allows, else fails. */
static int train_if_missing(hz_forecaster *p, const hz_train_hooks *hooks, char *err, size_t errlen)
{
    const hz_pipeline_conf *pc = p->pc;
    const char *path = pc->model.checkpoint;
    if (access(path, F_OK) == 0)
        return 0;
    if (!pc->model.train.train_on_start)
        return hz_err(err, errlen, HZ_ENOTFOUND,
                      "pipeline %s: no checkpoint at %s (run `horizon train -c %s -p %s` "
                      "or set model.train.train_on_start)",
                      pc->name, path, p->cfg->path, pc->name);
    hz_log(p->log, HZ_LOG_NOTICE, "pipeline %s: no checkpoint at %s; training one", pc->name, path);
    /* a start that was stopped or killed mid-training continues that run */
    hz_train_opts o = {.epochs = -1, .log = p->log, .keep_state = 1, .resume = HZ_RESUME_IF_USABLE};
    if (hooks) {
        o.cancel = hooks->cancel;
        o.alive = hooks->alive;
        o.alive_arg = hooks->alive_arg;
    }
    return hz_trainer_run(p->cfg, pc, &o, NULL, err, errlen);
}

/* Takes the model's sizes; checks them against its variable names and the window. */
static int check_model_shape(hz_forecaster *p, int n_names, char *err, size_t errlen)
{
    const hz_pipeline_conf *pc = p->pc;
    const char *path = pc->model.checkpoint;
    const hz_model_conf *mc = &p->model->conf;
    p->C = mc->c_out;
    p->L = mc->seq_len;
    p->P = mc->pred_len;
    p->lab = mc->label_len;
    p->F = mc->n_marks;
    if (n_names != p->C || mc->enc_in != p->C)
        return hz_err(err, errlen, HZ_EFORMAT, "%s: %d variable names for a model of %d inputs",
                      path, n_names, mc->enc_in);
    if (p->L != pc->window.lookback || p->P != pc->window.horizon)
        return hz_err(err, errlen, HZ_EINVAL,
                      "pipeline %s: checkpoint %s has lookback %d and horizon %d, the window "
                      "section %d and %d (retrain, or fix the window)",
                      pc->name, path, p->L, p->P, pc->window.lookback, pc->window.horizon);
    return 0;
}

/* Maps each model variable to the source variable of the same name (p->mvar). */
static int map_variables(hz_forecaster *p, char *err, size_t errlen)
{
    for (int k = 0; k < p->C; k++) {
        p->mvar[k] = -1;
        for (int v = 0; v < p->nvars; v++)
            if (!strcmp(p->mnames[k], p->vars[v]))
                p->mvar[k] = v;
        if (p->mvar[k] < 0)
            return hz_err(err, errlen, HZ_EINVAL,
                          "pipeline %s: checkpoint %s forecasts variable %s, which "
                          "source.fields.values does not list",
                          p->pc->name, p->pc->model.checkpoint, p->mnames[k]);
    }
    return 0;
}

/* Names the model "pipeline-<sha256 prefix>", or by its path when the file cannot be hashed. */
static void set_model_id(hz_forecaster *p, char *err, size_t errlen)
{
    const char *path = p->pc->model.checkpoint;
    char sha[65];
    if (hz_file_sha256(path, sha, err, errlen) == 0)
        snprintf(p->model_id, sizeof p->model_id, "%s-%.12s", p->pc->name, sha);
    else
        snprintf(p->model_id, sizeof p->model_id, "%s", path);
}

/* Makes the conformal sets (anomaly levels) seeded from the checkpoint's residuals. */
static int seed_conformal(hz_forecaster *p, const hz_st_file *f, char *err, size_t errlen)
{
    const hz_pipeline_conf *pc = p->pc;
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
    if (!p->cset)
        return HZ_EINVAL;
    const hz_st_tensor *q = hz_calib_find(f, p->P, p->C);
    if (q) {
        float qs[HZ_CALIB_Q];
        for (int s = 0; s < p->P; s++)
            for (int k = 0; k < p->C; k++) {
                hz_calib_row(q, p->C, s, k, qs);
                hz_conformal_seed_f32(hz_conformal_set_at(p->cset, k, s + 1), qs, HZ_CALIB_Q);
            }
    } else {
        hz_log(p->log, HZ_LOG_WARN,
               "pipeline %s: %s has no validation residuals; intervals start empty (+inf) and "
               "fill as forecasts meet readings",
               pc->name, pc->model.checkpoint);
    }
    return 0;
}

/* hooks: only for a train_on_start training, only during this call (not kept) */
static int open_model(hz_forecaster *p, const hz_train_hooks *hooks, char *err, size_t errlen)
{
    const hz_pipeline_conf *pc = p->pc;
    const char *path = pc->model.checkpoint;
    int rc = train_if_missing(p, hooks, err, errlen);
    if (rc)
        return rc;
    hz_st_file *f = NULL;
    int n_names = 0;
    rc = hz_ckpt_load(path, &p->model, &f, err, errlen);
    if (!rc)
        rc = hz_meta_scaler_parse(f, &p->sc, &p->mnames, &n_names, err, errlen);
    if (rc)
        goto out;
    p->n_mnames = n_names;
    if ((rc = check_model_shape(p, n_names, err, errlen)) || (rc = map_variables(p, err, errlen)))
        goto out;
    set_model_id(p, err, errlen);
    if ((rc = seed_conformal(p, f, err, errlen)))
        goto out;
    const char *pm = hz_st_meta(f, "period_ms");
    if (pm && atoll(pm) > 0 && atoll(pm) != pc->window.period_ms)
        hz_log(p->log, HZ_LOG_WARN,
               "pipeline %s: checkpoint trained at a period of %s ms, window.period is %lld ms",
               pc->name, pm, (long long)pc->window.period_ms);
out:
    hz_st_close(f);
    return rc;
}

static int alloc_buffers(hz_forecaster *p, char *err, size_t errlen)
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

int hz_forecaster_stage(hz_forecaster *p, hz_window_store *ws, hz_forecast_fn emit, void *opaque,
                        char *err, size_t errlen)
{
    int L = p->L, C = p->C, F = p->F, P = p->P, lab = p->lab, D = lab + P, nv = p->nvars;
    uint32_t idx;
    while (hz_window_store_pop_ready(ws, &idx)) {
        int B = p->nb;
        int64_t last;
        int held = hz_window_store_copy(ws, idx, p->win, NULL, &last);
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
            int rc = hz_forecaster_run(p, ws, emit, opaque, err, errlen);
            if (rc)
                return rc;
        }
    }
    return 0;
}

int hz_forecaster_run(hz_forecaster *p, hz_window_store *ws, hz_forecast_fn emit, void *opaque,
                      char *err, size_t errlen)
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
    int rc = grow_series(p, hz_window_store_counters(ws).series + 1);
    if (rc)
        return hz_err(err, errlen, rc, "out of memory for %llu series",
                      (unsigned long long)hz_window_store_counters(ws).series);
    size_t n = 0;
    for (int b = 0; b < B; b++) {
        uint32_t s = p->bidx[b];
        const char *sid = hz_window_store_series_id(ws, s);
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
    rc = emit(opaque, p->fc, n, err, errlen);
    if (rc)
        return rc;
    p->st.forecasts += n;
    return 0;
}

int hz_forecaster_check(hz_forecaster *p, uint32_t s, const hz_reading *r, hz_anomaly *out,
                        int max_out)
{
    if (s >= p->scap)
        return 0;
    int64_t issued = p->last_issued[s];
    if (issued == INT64_MIN)
        return 0;
    int64_t slot_ts = (r->ts_ms / p->period) * p->period;
    if (r->ts_ms < 0 && slot_ts != r->ts_ms)
        slot_ts -= p->period;
    int64_t step = (slot_ts - issued) / p->period;
    if (step < 1 || step > p->P)
        return 0;
    const float *fc = p->last_fc + (size_t)s * p->P * p->C + (size_t)(step - 1) * p->C;
    int n = 0;
    for (int k = 0; k < p->C && n < max_out; k++) {
        double actual = r->values[p->mvar[k]];
        if (!isfinite(actual))
            continue;
        hz_conformal_result res;
        if (hz_conformal_observe(hz_conformal_set_at(p->cset, k, (int)step), actual, fc[k], &res) ||
            !res.flagged)
            continue;
        hz_anomaly *a = &out[n++];
        hz_conformal_to_anomaly(&res, r->ts_ms, actual, fc[k], a);
        a->pipeline = p->pc->name;
        a->series = r->series;
        a->variable = p->mnames[k];
    }
    return n;
}

int hz_forecaster_new(const hz_config *cfg, const hz_pipeline_conf *pc, const char *const *vars,
                      int nvars, const hz_logger *log, const hz_train_hooks *hooks,
                      hz_metric *inference, hz_metric *batch_size, hz_forecaster **out, char *err,
                      size_t errlen)
{
    *out = NULL;
    hz_forecaster *p = calloc(1, sizeof *p);
    if (!p)
        return hz_err(err, errlen, HZ_ENOMEM, "out of memory");
    p->cfg = cfg;
    p->pc = pc;
    p->log = log;
    p->vars = vars;
    p->nvars = nvars;
    p->period = pc->window.period_ms;
    p->bmax = pc->batch.max > 0 ? pc->batch.max : 1;
    p->m_inf = inference;
    p->m_bs = batch_size;
    int rc;
    if ((rc = open_model(p, hooks, err, errlen)) || (rc = alloc_buffers(p, err, errlen)) ||
        (rc = grow_series(p, 1))) {
        hz_forecaster_free(p);
        return rc == HZ_ENOMEM ? hz_err(err, errlen, rc, "out of memory") : rc;
    }
    *out = p;
    return 0;
}

void hz_forecaster_free(hz_forecaster *p)
{
    if (!p)
        return;
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
    free(p->last_fc);
    free(p->last_issued);
    free(p);
}

int hz_forecaster_take_state(hz_forecaster *p, const hz_forecaster *from)
{
    if (from->P != p->P || from->C != p->C || from->period != p->period)
        return 0;
    for (int k = 0; k < p->C; k++)
        if (strcmp(from->mnames[k], p->mnames[k]))
            return 0;
    if (grow_series(p, from->scap))
        return HZ_ENOMEM;
    memcpy(p->last_fc, from->last_fc, from->scap * (size_t)p->P * p->C * sizeof *p->last_fc);
    memcpy(p->last_issued, from->last_issued, from->scap * sizeof *p->last_issued);
    return 0;
}

const char *hz_forecaster_model_id(const hz_forecaster *p)
{
    return p->model_id;
}

void hz_forecaster_describe(const hz_forecaster *p, char *buf, size_t len)
{
    snprintf(buf, len, "%s (%s, lookback %d, horizon %d, %d variable%s)", p->model_id,
             hz_model_kind_name(p->model->conf.kind), p->L, p->P, p->C, p->C == 1 ? "" : "s");
}

hz_forecaster_stats hz_forecaster_stats_get(const hz_forecaster *p)
{
    return p->st;
}
