/* forecaster.c — a pipeline's model at run time: checkpoint, batched forward over ready
 * windows, forecasts with calibrated intervals, residual checks (forecaster.h;
 * docs/ARCHITECTURE.md; preprocessing as docs/MODELS.md). */
#include "pipeline/forecaster.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models/checkpoint.h"
#include "pipeline/anomaly.h"
#include "training/calibrate.h"
#include "training/prepare.h"
#include "training/trainer.h"

/* A reading that arrived while the forecast it is checked against (its series' newest
 * window before it) was staged but not run: checked when that row runs, so a burst and a
 * paced delivery give the same checks in the same order. */
typedef struct pending {
    uint32_t series;
    int32_t row;
    int64_t ts;
    const char *sid;
    double values[HZ_MAX_VARS]; /* the model variables' values, in model order */
} pending;

struct hz_forecaster {
    const hz_config *cfg;
    const hz_pipeline_conf *pc;
    const hz_logger *log;
    const char *const *vars; /* source variables, in reading order */
    int nvars;
    hz_model *model;
    hz_ctx ctx;
    hz_scaler sc;       /* the scaling in use: the checkpoint's, or the series' (use_series) */
    hz_series_stats ss; /* a pooled checkpoint's per-series scalers; n = 0: one scaler */
    char **mnames;      /* the checkpoint's variables, the model's inputs */
    int n_mnames, ctx_on;
    /* C: variables forecast; CI: model input variables (= n_mnames); EI: the model's
     * enc_in (CI, plus one token per known variable for iTransformer) */
    int C, CI, EI, L, P, lab, F;
    int mvar[HZ_MAX_VARS];     /* model variable k = source variable mvar[k] */
    int ocol[HZ_MAX_VARS];     /* forecast variable k = model variable ocol[k] */
    char *onames[HZ_MAX_VARS]; /* forecast variable k's name (in mnames) */
    hz_scaler osc;             /* the forecast variables' part of sc */
    /* model.data.known: NK model variables kvar[] known over the horizon; windows then
     * reach KL = P slots past the forecast's issue (docs/MODELS.md) */
    int NK, KL, ktok;
    int kvar[HZ_MAX_VARS];
    unsigned char known[HZ_MAX_VARS]; /* 1 for the model variables among kvar[] */
    int64_t period;
    char model_id[128];
    hz_iv iv; /* intervals (training/interval.h); all-zero until made */
    /* batch buffers, sized once for batch.max windows */
    int bmax, nb;               /* capacity, rows staged */
    float *win;                 /* [L + KL, nvars] one window as copied */
    uint8_t *wmask;             /* [L + KL] its slots' realness (window_store.h) */
    hz_real *x, *xm, *xd, *xmd; /* [B, L, EI], [B, L, F], [B, lab+P, CI], [B, lab+P, F] */
    uint32_t *bidx;             /* [B] series of each row */
    int64_t *blast;             /* [B] last slot time of each row */
    float *bscale;              /* [B, C] local scale of each row's variables */
    double *bnext;              /* [B, C] with KL: each row's reading one slot after issue */
    float *bfc;                 /* [B, P, C] each row's forecast, original units */
    hz_forecast *fc;            /* [B * P * C] */
    /* readings whose forecast is staged, not run yet: checked right after it (pending.c) */
    pending *pend;
    size_t npend, cap_pend, cap_order;
    uint32_t *order;  /* [cap_order >= cap_pend] pend sorted by row */
    uint32_t *pcount; /* [bmax + 1] sort_pending's counts */
    hz_anomaly *an;   /* [HZ_MAX_VARS] records of one check */
    /* per series (by window-store index) */
    size_t scap;
    float *last_fc;                   /* [scap, P, C] latest forecast, original units */
    float *last_scale;                /* [scap, C] its local scales */
    int64_t *last_issued;             /* [scap] its issue slot time; INT64_MIN: none */
    int32_t *staged;                  /* [scap] batch row of its newest staged window; -1: none */
    hz_iv_adapt *adapt;               /* [scap, C, iv.steps] online interval offsets */
    float *ring;                      /* [scap, hz_iv_ring_len] issued intervals (steps > 1) */
    int64_t *ring_tags;               /* [scap, P] their target slots */
    hz_shift_state *shift;            /* [scap, C] shift detectors */
    double *smean, *sstd;             /* [scap, CI] pooled: each series' scaler, once known */
    unsigned char *sknown;            /* [scap] pooled: 1 once smean/sstd are set */
    double shift_h[HZ_MAX_VARS];      /* per model variable: its rules.shift (0: off) */
    char rule_res[48];                /* hz_anomaly.rule of residual flags */
    char rule_shift[HZ_MAX_VARS][48]; /* and of shift flags, per model variable */
    hz_metric *m_inf, *m_bs;
    hz_forecaster_stats st;
    uint64_t checked, inside[HZ_IV_MAX_LEVELS]; /* residual checks; inside each level */
    hz_disagg_rt *dg;                           /* model.task disaggregate: every call goes there */
};

/* Series i's start state of the intervals and the shift detectors. */
static void reset_series(hz_forecaster *p, size_t i)
{
    size_t C = (size_t)p->C, A = C * (size_t)p->iv.steps;
    p->last_issued[i] = INT64_MIN;
    p->staged[i] = -1;
    memset(p->adapt + i * A, 0, A * sizeof *p->adapt);
    if (p->iv.steps > 1)
        hz_iv_ring_reset(&p->iv, p->ring + i * hz_iv_ring_len(&p->iv),
                         p->ring_tags + i * (size_t)p->P);
    for (size_t k = 0; k < C; k++)
        hz_shift_init(&p->shift[i * C + k]);
    p->sknown[i] = 0;
}

static int grow_series(hz_forecaster *p, size_t need)
{
    size_t c1 = p->scap, c2 = p->scap, c3 = p->scap, c4 = p->scap, c5 = p->scap, c6 = p->scap,
           c7 = p->scap, c8 = p->scap, c9 = p->scap, c10 = p->scap, cap = p->scap;
    size_t C = (size_t)p->C, CI = (size_t)p->CI;
    size_t ring = p->iv.steps > 1 ? hz_iv_ring_len(&p->iv) : 0;
    size_t tags = p->iv.steps > 1 ? (size_t)p->P : 0; /* every array grows alike */
    if (hz_grow((void **)&p->last_fc, &c1, need, (size_t)p->P * C * sizeof *p->last_fc) ||
        hz_grow((void **)&p->last_scale, &c2, need, C * sizeof *p->last_scale) ||
        hz_grow((void **)&p->staged, &c3, need, sizeof *p->staged) ||
        hz_grow((void **)&p->adapt, &c4, need, C * (size_t)p->iv.steps * sizeof *p->adapt) ||
        hz_grow((void **)&p->shift, &c5, need, C * sizeof *p->shift) ||
        hz_grow((void **)&p->smean, &c8, need, CI * sizeof *p->smean) ||
        hz_grow((void **)&p->sstd, &c9, need, CI * sizeof *p->sstd) ||
        hz_grow((void **)&p->sknown, &c10, need, sizeof *p->sknown) ||
        (ring && hz_grow((void **)&p->ring, &c6, need, ring * sizeof *p->ring)) ||
        (tags && hz_grow((void **)&p->ring_tags, &c7, need, tags * sizeof *p->ring_tags)) ||
        hz_grow((void **)&p->last_issued, &cap, need, sizeof *p->last_issued))
        return HZ_ENOMEM;
    for (size_t i = p->scap; i < cap; i++)
        reset_series(p, i);
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
    p->CI = n_names;
    p->EI = mc->enc_in;
    p->L = mc->seq_len;
    p->P = mc->pred_len;
    p->lab = mc->label_len;
    p->F = mc->n_marks;
    hz_windows roles;
    hz_windows_roles(pc, &roles);
    p->NK = roles.n_known;
    p->KL = p->NK ? p->P : 0;
    p->ktok = roles.known_tokens && p->NK;
    memcpy(p->kvar, roles.known, (size_t)p->NK * sizeof *p->kvar);
    for (int j = 0; j < p->NK; j++)
        if (p->kvar[j] >= 0 && p->kvar[j] < HZ_MAX_VARS)
            p->known[p->kvar[j]] = 1;
    /* c_out comes from the checkpoint: checked (C is CI, at most HZ_MAX_VARS, or 1) before it
     * sizes ocol[] */
    int ocol0 = p->C == p->CI ? 0 : mc->out_col;
    if (p->EI != p->CI + (p->ktok ? p->NK : 0) || (p->C != p->CI && p->C != 1) || ocol0 < 0 ||
        ocol0 >= p->CI || (p->C == 1 && p->CI > 1 && roles.target < 0))
        return hz_err(err, errlen, HZ_EFORMAT,
                      "%s: %d variable names for a model of %d inputs and %d outputs (and "
                      "model.data says features %s with %d known)",
                      path, n_names, mc->enc_in, mc->c_out, roles.target < 0 ? "M/S" : "MS", p->NK);
    for (int k = 0; k < p->C; k++)
        p->ocol[k] = p->C == p->CI ? k : mc->out_col;
    /* the decoder's known steps are the window's last label_len (stage_inputs); the calendar
     * marks of a step are built in arrays of HZ_TIMEF_MAX_FEATURES (stage_marks) */
    if (p->lab < 0 || p->lab > p->L || p->F < 0 || p->F > HZ_TIMEF_MAX_FEATURES)
        return hz_err(err, errlen, HZ_EFORMAT,
                      "%s: label_len %d (0..seq_len %d) and %d calendar features per step (at "
                      "most %d)",
                      path, p->lab, p->L, p->F, HZ_TIMEF_MAX_FEATURES);
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
    for (int k = 0; k < p->CI; k++) {
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
    for (int k = 0; k < p->C; k++)
        p->onames[k] = p->mnames[p->ocol[k]];
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

/* The intervals at the pipeline's anomaly levels, calibrated by the checkpoint; transforms
 * come from the checkpoint (they were calibrated with them), bounds from the pipeline. */
static int make_intervals(hz_forecaster *p, const hz_st_file *f, char *err, size_t errlen)
{
    const hz_pipeline_conf *pc = p->pc;
    double levels[HZ_IV_MAX_LEVELS] = {0.99};
    int nl = 0;
    for (size_t i = 0; i < pc->anomaly.n_levels && i < HZ_IV_MAX_LEVELS; i++)
        levels[nl++] = pc->anomaly.levels[i];
    int calibrated = 0;
    p->osc = p->sc;
    p->osc.cols = p->C;
    for (int k = 0; k < p->C; k++) {
        p->osc.mean[k] = p->sc.mean[p->ocol[k]];
        p->osc.std[k] = p->sc.std[p->ocol[k]];
        p->osc.log1p[k] = p->sc.log1p[p->ocol[k]];
    }
    int rc = hz_calib_intervals(f, pc, p->onames, p->P, p->C, &p->osc, levels, nl ? nl : 1, 0,
                                &p->iv, &calibrated, err, errlen);
    if (rc)
        return rc;
    for (int k = 0; k < p->C; k++) {
        hz_cfg_rules r;
        int tf, ex;
        hz_config_rules_for(pc, p->onames[k], NULL, &r, &tf, &ex);
        p->shift_h[k] = r.shift;
        snprintf(p->rule_shift[k], sizeof p->rule_shift[k], "shift h=%g", r.shift);
    }
    if (!pc->anomaly.adapt_steps)
        p->iv.steps = 1;
    snprintf(p->rule_res, sizeof p->rule_res, "residual level=%g", p->iv.levels[p->iv.nl - 1]);
    if (!calibrated)
        hz_log(p->log, HZ_LOG_WARN,
               "pipeline %s: %s has no interval calibration (retrain it); intervals start "
               "wide and adapt as forecasts meet readings",
               pc->name, pc->model.checkpoint);
    for (size_t i = 0; calibrated && i < pc->n_variables; i++)
        for (int k = 0; k < p->C; k++)
            if (!strcmp(pc->variables[i].name, p->onames[k]) && !*pc->variables[i].series &&
                p->iv.var[k].transform != HZ_TF_SCALED && /* pooled: the model's space */
                pc->variables[i].transform != p->iv.var[k].transform)
                hz_log(p->log, HZ_LOG_WARN,
                       "pipeline %s: variable %s has transform %s, the checkpoint was "
                       "calibrated with %s, which the intervals keep (retrain to change it)",
                       pc->name, p->onames[k], pc->variables[i].transform ? "log1p" : "none",
                       hz_iv_transform_name(p->iv.var[k].transform));
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
    if (!rc)
        rc = hz_meta_series_parse(f, n_names, &p->ss, err, errlen);
    if (rc)
        goto out;
    p->n_mnames = n_names;
    if ((rc = check_model_shape(p, n_names, err, errlen)) || (rc = map_variables(p, err, errlen)))
        goto out;
    set_model_id(p, err, errlen);
    if ((rc = make_intervals(p, f, err, errlen)))
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
    p->win = malloc((L + (size_t)p->KL) * p->nvars * sizeof *p->win);
    p->wmask = malloc(L + (size_t)p->KL);
    p->x = malloc(B * L * (size_t)p->EI * sizeof *p->x);
    p->xd = calloc(B * D * (size_t)p->CI, sizeof *p->xd);
    p->xm = F ? malloc(B * L * F * sizeof *p->xm) : NULL;
    p->xmd = F ? malloc(B * D * F * sizeof *p->xmd) : NULL;
    p->bidx = malloc(B * sizeof *p->bidx);
    p->blast = malloc(B * sizeof *p->blast);
    p->bscale = malloc(B * C * sizeof *p->bscale);
    p->bnext = malloc(B * C * sizeof *p->bnext);
    p->bfc = malloc(B * p->P * C * sizeof *p->bfc);
    p->fc = malloc(B * p->P * C * sizeof *p->fc);
    p->an = malloc(2 * HZ_MAX_VARS * sizeof *p->an);
    p->pcount = malloc((B + 1) * sizeof *p->pcount);
    if (!p->win || !p->wmask || !p->x || !p->xd || (F && (!p->xm || !p->xmd)) || !p->bidx ||
        !p->blast || !p->bscale || !p->bnext || !p->bfc || !p->fc || !p->an || !p->pcount)
        return hz_err(err, errlen, HZ_ENOMEM, "pipeline %s: out of memory for batch buffers",
                      p->pc->name);
    hz_ctx_init(&p->ctx, (size_t)16 << 20, 0);
    p->ctx_on = 1;
    return 0;
}

/* A pooled checkpoint: series s's scaler (by window-store index) becomes the one in use,
 * for the model's inputs (p->sc), its outputs (p->osc) and the intervals' scaled space
 * (p->iv.var). */
static void use_series(hz_forecaster *p, uint32_t s)
{
    if (!p->ss.n)
        return;
    const double *m = p->smean + (size_t)s * p->CI, *d = p->sstd + (size_t)s * p->CI;
    for (int k = 0; k < p->CI; k++) {
        p->sc.mean[k] = m[k];
        p->sc.std[k] = d[k];
    }
    for (int k = 0; k < p->C; k++) {
        p->osc.mean[k] = p->iv.var[k].mean = m[p->ocol[k]];
        p->osc.std[k] = p->iv.var[k].std = d[p->ocol[k]];
    }
}

/* A pooled checkpoint: series s takes the scaler it was trained with, when the checkpoint
 * has series sid; returns 1 then, else 0 (nothing set). */
static int know_trained(hz_forecaster *p, uint32_t s, const char *sid)
{
    int i = sid ? hz_series_stats_find(&p->ss, sid) : -1;
    if (i < 0)
        return 0;
    for (int k = 0; k < p->CI; k++) {
        p->smean[(size_t)s * p->CI + k] = p->ss.mean[(size_t)i * p->CI + k];
        p->sstd[(size_t)s * p->CI + k] = p->ss.std[(size_t)i * p->CI + k];
    }
    p->sknown[s] = 1;
    return 1;
}

/* A pooled checkpoint meets series s (id sid) in a window for the first time: the scaler it
 * was trained with, or, for a series it has not seen, the mean and std of this window (its
 * first full window since the model was loaded), kept from then on (docs/MODELS.md). */
static void know_series(hz_forecaster *p, uint32_t s, const char *sid)
{
    if (know_trained(p, s, sid))
        return;
    hz_scaler own = p->sc; /* the log1p flags */
    for (int k = 0; k < p->CI; k++) {
        hz_scaler_fit_col(&own, k, p->win + p->mvar[k], (size_t)p->nvars, p->L);
        p->smean[(size_t)s * p->CI + k] = own.mean[k];
        p->sstd[(size_t)s * p->CI + k] = own.std[k];
    }
    p->sknown[s] = 1;
    hz_log(p->log, HZ_LOG_INFO,
           "pipeline %s: series %s scaled by its first full window (unseen in training)",
           p->pc->name, sid ? sid : "?");
}

/* Whether series idx's window (win, L + KL slots) has every value the model reads: the
 * observed variables over the lookback, the known ones up to KL slots further. */
static int window_complete(const hz_forecaster *p)
{
    int L = p->L, nv = p->nvars;
    for (int t = 0; t < L + p->KL; t++)
        for (int k = 0; k < p->CI; k++)
            if ((t < L || p->known[k]) && !isfinite(p->win[t * nv + p->mvar[k]]))
                return 0; /* a gap left missing (fill: none) */
    return 1;
}

/* Batch row B's model inputs from p->win: x (observed lookback, then for iTransformer each
 * known variable KL slots ahead) and the decoder block (Informer: known values over the
 * horizon). */
static void stage_inputs(hz_forecaster *p, int B)
{
    int L = p->L, CI = p->CI, EI = p->EI, P = p->P, lab = p->lab, D = lab + P, nv = p->nvars;
    hz_real *x = p->x + (size_t)B * L * EI, *xd = p->xd + (size_t)B * D * CI;
    for (int t = 0; t < L; t++) {
        for (int k = 0; k < CI; k++)
            x[t * EI + k] = (hz_real)hz_scaler_fwd(&p->sc, k, p->win[t * nv + p->mvar[k]]);
        for (int j = 0; p->ktok && j < p->NK; j++) {
            int k = p->kvar[j];
            x[t * EI + CI + j] =
                (hz_real)hz_scaler_fwd(&p->sc, k, p->win[(t + p->KL) * nv + p->mvar[k]]);
        }
    }
    for (int t = 0; t < lab; t++)
        for (int k = 0; k < CI; k++)
            xd[t * CI + k] = x[(L - lab + t) * EI + k];
    memset(xd + (size_t)lab * CI, 0, (size_t)P * CI * sizeof *xd);
    for (int j = 0; !p->ktok && j < p->NK; j++)
        for (int t = 0; t < P; t++) {
            int k = p->kvar[j];
            xd[(lab + t) * CI + k] =
                (hz_real)hz_scaler_fwd(&p->sc, k, p->win[(L + t) * nv + p->mvar[k]]);
        }
}

/* Batch row B's calendar marks for a forecast issued at slot time `last`. */
static void stage_marks(hz_forecaster *p, int B, int64_t last)
{
    int L = p->L, F = p->F, D = p->lab + p->P;
    if (B > 0 && p->blast[B - 1] == last) { /* a fleet's windows end together: the row before */
        memcpy(p->xm + (size_t)B * L * F, p->xm + (size_t)(B - 1) * L * F,
               (size_t)L * F * sizeof *p->xm);
        memcpy(p->xmd + (size_t)B * D * F, p->xmd + (size_t)(B - 1) * D * F,
               (size_t)D * F * sizeof *p->xmd);
        return;
    }
    float mk[HZ_TIMEF_MAX_FEATURES];
    for (int t = 0; t < L; t++) {
        hz_timef(F, last - (int64_t)(L - 1 - t) * p->period, mk);
        memcpy(p->xm + ((size_t)B * L + t) * F, mk, (size_t)F * sizeof *mk);
    }
    for (int t = 0; t < D; t++) {
        hz_timef(F, last + (int64_t)(t - p->lab + 1) * p->period, mk);
        memcpy(p->xmd + ((size_t)B * D + t) * F, mk, (size_t)F * sizeof *mk);
    }
}

/* Copies series idx's window into batch row p->nb (scaled inputs, calendar marks, local
 * scales).  Returns 1 when staged, 0 when skipped (not full, or a value missing).  With
 * known variables the forecast is issued KL slots before the window's newest. */
static int stage_row(hz_forecaster *p, hz_window_store *ws, uint32_t idx)
{
    int L = p->L, C = p->C, nv = p->nvars, B = p->nb;
    int64_t last;
    if (hz_window_store_copy(ws, idx, p->win, p->wmask, &last) < L + p->KL || !window_complete(p))
        return 0;
    last -= (int64_t)p->KL * p->period;
    if (p->ss.n && !p->sknown[idx])
        know_series(p, idx, hz_window_store_series_id(ws, idx));
    use_series(p, idx);
    stage_inputs(p, B);
    int n = L < HZ_IV_SCALE_W + 1 ? L : HZ_IV_SCALE_W + 1;
    for (int k = 0; k < C; k++)
        p->bscale[(size_t)B * C + k] = (float)hz_iv_scale(
            &p->iv.var[k], p->win + (size_t)(L - n) * nv + p->mvar[p->ocol[k]], (size_t)nv, n);
    for (int k = 0; k < C && p->KL; k++) /* checked at step 1 once forecast; not a fill */
        p->bnext[(size_t)B * C + k] =
            p->wmask[L] ? p->win[(size_t)L * nv + p->mvar[p->ocol[k]]] : NAN;
    if (p->F)
        stage_marks(p, B, last);
    p->bidx[B] = idx;
    p->blast[B] = last;
    p->staged[idx] = B;
    p->nb = B + 1;
    return 1;
}

int hz_forecaster_stage(hz_forecaster *p, hz_window_store *ws, const hz_forecaster_out *o,
                        char *err, size_t errlen)
{
    if (p->dg)
        return hz_disagg_rt_stage(p->dg, ws, o->estimates, o->opaque, err, errlen);
    uint32_t idx;
    while (hz_window_store_pop_ready(ws, &idx)) {
        if (grow_series(p, (size_t)idx + 1))
            return hz_err(err, errlen, HZ_ENOMEM, "out of memory for %u series", idx + 1);
        if (!stage_row(p, ws, idx)) {
            p->st.skipped++;
            continue;
        }
        if (p->nb == p->bmax) {
            int rc = hz_forecaster_run(p, ws, o, err, errlen);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* The slot number of time ts (floor of ts / period). */
static int64_t slot_of(const hz_forecaster *p, int64_t ts)
{
    return hz_floor_div(ts - p->pc->window.offset_ms, p->period);
}

/* Series s's offsets of model variable k (iv.steps of them). */
static hz_iv_adapt *series_adapt(hz_forecaster *p, uint32_t s, int k)
{
    return p->adapt + ((size_t)s * p->C + (size_t)k) * p->iv.steps;
}

/* Checks values (model order) of series s at ts against forecast fc [P, C] issued at
 * `issued` with local scales sc [C]; flagged points go to o.  Returns 0 or what o returns. */
static int check_against(hz_forecaster *p, uint32_t s, const char *sid, int64_t ts,
                         const double *values, int64_t issued, const float *fc, const float *sc,
                         const hz_forecaster_out *o)
{
    int64_t slot = slot_of(p, ts), step = slot - slot_of(p, issued);
    if (step < 1 || step > p->P)
        return 0;
    /* a forecast taken over from the model this one replaced, for a series this model has
       not scaled yet: checked once it has (a series it was not trained on: its next window) */
    if (p->ss.n && !p->sknown[s] && !know_trained(p, s, sid))
        return 0;
    use_series(p, s);
    int n = 0;
    for (int k = 0; k < p->C; k++) {
        double f = fc[(size_t)(step - 1) * p->C + k];
        hz_iv_result res;
        hz_iv_adapt *ad = series_adapt(p, s, k);
        if (hz_iv_observe(&p->iv, ad, k, (int)step, values[k], f, sc[k], &res))
            continue;
        if (p->iv.steps > 1) /* every step issued for this slot learns (interval.h) */
            hz_iv_ring_learn(&p->iv, ad, p->ring + s * hz_iv_ring_len(&p->iv),
                             p->ring_tags + (size_t)s * p->P, slot, k, values[k]);
        else
            hz_iv_learn(&p->iv, ad, (int)step, values[k], res.lo, res.hi);
        p->checked++;
        for (int l = res.exceeded; l < p->iv.nl; l++) /* outside the first `exceeded` */
            p->inside[l]++;
        hz_shift_state *sh = &p->shift[(size_t)s * p->C + k];
        if (p->shift_h[k] > 0 && hz_shift_update(p->shift_h[k], p->L, sh, ts, res.u, values[k],
                                                 hz_iv_clip(&p->iv.var[k], f), &p->an[n])) {
            p->an[n].pipeline = p->pc->name;
            p->an[n].series = sid;
            p->an[n].variable = p->onames[k];
            p->an[n].model_id = p->model_id;
            p->an[n].rule = p->rule_shift[k];
            n++;
        }
        /* after a shift flag, for a lookback, the window straddles two levels: the shift
         * flag stands for the stretch, its readings are scored but not flagged one by one */
        if (sh->hold[0] > 0 || sh->hold[1] > 0)
            res.flagged = 0;
        if (!res.flagged && !p->pc->anomaly.record_scores)
            continue;
        hz_anomaly *a = &p->an[n++];
        memset(a, 0, sizeof *a);
        a->pipeline = p->pc->name;
        a->series = sid;
        a->variable = p->onames[k];
        a->ts = ts;
        a->value = values[k];
        a->expected = hz_iv_clip(&p->iv.var[k], f);
        a->lower = res.lo[p->iv.nl - 1];
        a->upper = res.hi[p->iv.nl - 1];
        a->score = res.score;
        a->flag = res.flagged;
        a->kind = "residual";
        a->model_id = p->model_id;
        a->rule = p->rule_res;
    }
    return n ? o->anomalies(o->opaque, p->an, (size_t)n) : 0;
}

/* Row b's forecasts in original units (clipped to the bounds) with every level's interval,
 * into p->fc from *n; the series' latest forecast when b is not a late window. */
static void row_forecasts(hz_forecaster *p, hz_window_store *ws, const hz_tensor *y, int b,
                          size_t *n)
{
    int P = p->P, C = p->C, nl = p->iv.nl;
    uint32_t s = p->bidx[b];
    const char *sid = hz_window_store_series_id(ws, s);
    const float *sc = p->bscale + (size_t)b * C;
    float *bf = p->bfc + (size_t)b * P * C;
    use_series(p, s);
    for (int t = 0; t < P; t++)
        for (int k = 0; k < C; k++) {
            double v = hz_scaler_inv(&p->osc, k, y->data[((size_t)b * P + t) * C + k]);
            bf[t * C + k] = (float)v;
            hz_forecast *f = &p->fc[(*n)++];
            f->pipeline = p->pc->name;
            f->series = sid;
            f->variable = p->onames[k];
            f->issued_ts = p->blast[b];
            f->target_ts = p->blast[b] + (int64_t)(t + 1) * p->period;
            f->step = t + 1;
            f->model_id = p->model_id;
            f->value = hz_iv_clip(&p->iv.var[k], v);
            f->nlevels = nl;
            f->levels = p->iv.levels;
            hz_iv_interval(&p->iv, series_adapt(p, s, k), k, t + 1, v, sc[k], f->lo, f->hi);
            if (p->iv.steps > 1)
                hz_iv_ring_put(&p->iv, p->ring + s * hz_iv_ring_len(&p->iv),
                               p->ring_tags + (size_t)s * P, slot_of(p, f->target_ts), t + 1, k,
                               f->lo, f->hi);
            f->lower = f->lo[nl - 1];
            f->upper = f->hi[nl - 1];
        }
    if (p->last_issued[s] == INT64_MIN || p->blast[b] >= p->last_issued[s]) {
        p->last_issued[s] = p->blast[b]; /* a late window keeps the newer forecast */
        memcpy(p->last_fc + (size_t)s * P * C, bf, (size_t)P * C * sizeof *bf);
        memcpy(p->last_scale + (size_t)s * C, sc, (size_t)C * sizeof *sc);
    }
}

/* p->order = the pending readings sorted by row, arrival order kept within a row. */
static void sort_pending(hz_forecaster *p, int B)
{
    uint32_t *cnt = p->pcount; /* [bmax + 1]: a counting sort */
    memset(cnt, 0, ((size_t)B + 1) * sizeof *cnt);
    for (size_t i = 0; i < p->npend; i++)
        cnt[p->pend[i].row + 1]++;
    for (int r = 0; r < B; r++)
        cnt[r + 1] += cnt[r];
    for (size_t i = 0; i < p->npend; i++)
        p->order[cnt[p->pend[i].row]++] = (uint32_t)i;
}

int hz_forecaster_run(hz_forecaster *p, hz_window_store *ws, const hz_forecaster_out *o, char *err,
                      size_t errlen)
{
    if (p->dg)
        return hz_disagg_rt_run(p->dg, ws, o->estimates, o->opaque, err, errlen);
    int F = p->F, P = p->P, C = p->C, B = p->nb;
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
    sort_pending(p, B);
    size_t n = 0, j = 0;
    int rc = 0;
    for (int b = 0; b < B; b++) {
        row_forecasts(p, ws, y, b, &n);
        if (p->KL && !rc) /* known variables: the window held the reading after the issue */
            rc = check_against(p, p->bidx[b], hz_window_store_series_id(ws, p->bidx[b]),
                               p->blast[b] + p->period, p->bnext + (size_t)b * C, p->blast[b],
                               p->bfc + (size_t)b * P * C, p->bscale + (size_t)b * C, o);
        for (; j < p->npend && p->pend[p->order[j]].row == b && !rc; j++) {
            const pending *q = &p->pend[p->order[j]];
            rc = check_against(p, q->series, q->sid, q->ts, q->values, p->blast[b],
                               p->bfc + (size_t)b * P * C, p->bscale + (size_t)b * C, o);
        }
    }
    for (int b = 0; b < B; b++)
        p->staged[p->bidx[b]] = -1;
    p->npend = 0;
    if (rc || (rc = o->forecasts(o->opaque, p->fc, n, err, errlen)))
        return rc == HZ_ENOMEM ? hz_err(err, errlen, rc, "out of memory for anomalies") : rc;
    p->st.forecasts += n;
    return 0;
}

static int discard_forecasts(void *opaque, const hz_forecast *fc, size_t n, char *err,
                             size_t errlen)
{
    (void)opaque, (void)fc, (void)n, (void)err, (void)errlen;
    return 0;
}

static int discard_anomalies(void *opaque, const hz_anomaly *a, size_t n)
{
    (void)opaque, (void)a, (void)n;
    return 0;
}

static int discard_estimates(void *opaque, const hz_estimate *e, size_t n, char *err, size_t errlen)
{
    (void)opaque, (void)e, (void)n, (void)err, (void)errlen;
    return 0;
}

int hz_forecaster_prime(hz_forecaster *p, hz_window_store *ws, char *err, size_t errlen)
{
    if (p->dg) { /* nothing to check readings against: the ready windows are dropped */
        uint32_t idx;
        while (hz_window_store_pop_ready(ws, &idx))
            ;
        return 0;
    }
    hz_forecaster_out quiet = {discard_forecasts, discard_anomalies, NULL, discard_estimates};
    hz_forecaster_stats st = p->st; /* what was written, not this */
    int rc = hz_forecaster_stage(p, ws, &quiet, err, errlen);
    if (!rc)
        rc = hz_forecaster_run(p, ws, &quiet, err, errlen);
    p->st = st;
    return rc;
}

/* Stages the series idx[i] whose write flag is `pass` and runs them, forecasts to o; the
 * number staged into *staged. */
static int resume_pass(hz_forecaster *p, hz_window_store *ws, const uint32_t *idx,
                       const uint8_t *write, size_t n, int pass, const hz_forecaster_out *o,
                       size_t *staged, char *err, size_t errlen)
{
    *staged = 0;
    for (size_t i = 0; i < n; i++) {
        if ((write[i] != 0) != pass)
            continue;
        if (grow_series(p, (size_t)idx[i] + 1))
            return hz_err(err, errlen, HZ_ENOMEM, "out of memory for %u series", idx[i] + 1);
        if (!stage_row(p, ws, idx[i]))
            continue;
        (*staged)++;
        int rc = p->nb == p->bmax ? hz_forecaster_run(p, ws, o, err, errlen) : 0;
        if (rc)
            return rc;
    }
    return hz_forecaster_run(p, ws, o, err, errlen);
}

int hz_forecaster_resume(hz_forecaster *p, hz_window_store *ws, const uint32_t *idx,
                         const uint8_t *write, size_t n, const hz_forecaster_out *o,
                         size_t *written, char *err, size_t errlen)
{
    if (p->dg)
        return hz_disagg_rt_resume(p->dg, ws, idx, write, n, o->estimates, o->opaque, written, err,
                                   errlen);
    hz_forecaster_out quiet = {discard_forecasts, discard_anomalies, NULL, discard_estimates};
    size_t nq, nw = 0;
    int rc = hz_forecaster_run(p, ws, o, err, errlen);
    if (rc)
        return rc;
    hz_forecaster_stats st = p->st; /* what was written, not the quiet pass */
    rc = resume_pass(p, ws, idx, write, n, 0, &quiet, &nq, err, errlen);
    p->st = st;
    if (!rc)
        rc = resume_pass(p, ws, idx, write, n, 1, o, &nw, err, errlen);
    if (written)
        *written = nw;
    return rc;
}

int hz_forecaster_check(hz_forecaster *p, uint32_t s, const char *sid, const hz_reading *r,
                        const hz_forecaster_out *o)
{
    if (p->dg || s >= p->scap || p->KL) /* with known variables, checked as forecasts run */
        return 0;
    double v[HZ_MAX_VARS];
    for (int k = 0; k < p->C; k++)
        v[k] = r->values[p->mvar[p->ocol[k]]];
    if (p->staged[s] >= 0) { /* its forecast is in the batch: checked when it runs */
        if (hz_grow((void **)&p->pend, &p->cap_pend, p->npend + 1, sizeof *p->pend) ||
            hz_grow((void **)&p->order, &p->cap_order, p->cap_pend, sizeof *p->order))
            return HZ_ENOMEM;
        pending *q = &p->pend[p->npend++];
        q->series = s;
        q->row = p->staged[s];
        q->ts = r->ts_ms;
        q->sid = sid;
        memcpy(q->values, v, (size_t)p->C * sizeof *v);
        return 0;
    }
    if (p->last_issued[s] == INT64_MIN)
        return 0;
    return check_against(p, s, sid, r->ts_ms, v, p->last_issued[s],
                         p->last_fc + (size_t)s * p->P * p->C, p->last_scale + (size_t)s * p->C, o);
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
    if (pc->model.task == HZ_CFG_TASK_DISAGGREGATE) { /* docs/MODELS.md section 8.9 */
        if ((rc = hz_disagg_rt_new(pc, vars, nvars, log, inference, batch_size, 1, &p->dg, err,
                                   errlen))) {
            free(p);
            return rc;
        }
        *out = p;
        return 0;
    }
    if ((rc = open_model(p, hooks, err, errlen)) || (rc = alloc_buffers(p, err, errlen)) ||
        (rc = grow_series(p, 1))) {
        hz_forecaster_free(p);
        return rc == HZ_ENOMEM ? hz_err(err, errlen, rc, "out of memory") : rc;
    }
    *out = p;
    return 0;
}

int hz_forecaster_check_model(const hz_config *cfg, const hz_pipeline_conf *pc,
                              const char *const *vars, int nvars, char *err, size_t errlen)
{
    if (pc->model.task == HZ_CFG_TASK_DISAGGREGATE) {
        hz_disagg_rt *d = NULL;
        int rc = hz_disagg_rt_new(pc, vars, nvars, NULL, NULL, NULL, 0, &d, err, errlen);
        hz_disagg_rt_free(d);
        return rc;
    }
    if (pc->model.train.train_on_start && access(pc->model.checkpoint, F_OK) != 0)
        return 0; /* trained when the pipeline starts */
    hz_forecaster *p = calloc(1, sizeof *p);
    if (!p)
        return hz_err(err, errlen, HZ_ENOMEM, "out of memory");
    /* the warnings of open_model are the start's to log, not the check's */
    static const hz_logger quiet = {NULL, NULL, HZ_LOG_ERR};
    p->cfg = cfg;
    p->pc = pc;
    p->log = &quiet;
    p->vars = vars;
    p->nvars = nvars;
    p->period = pc->window.period_ms;
    int rc = open_model(p, NULL, err, errlen);
    hz_forecaster_free(p);
    return rc;
}

void hz_forecaster_free(hz_forecaster *p)
{
    if (!p)
        return;
    hz_disagg_rt_free(p->dg);
    hz_model_free(p->model);
    if (p->ctx_on)
        hz_ctx_free(&p->ctx);
    hz_names_free(p->mnames, p->n_mnames);
    hz_iv_free(&p->iv);
    free(p->bscale);
    free(p->bnext);
    free(p->bfc);
    free(p->pend);
    free(p->order);
    free(p->pcount);
    free(p->an);
    free(p->last_scale);
    free(p->staged);
    free(p->adapt);
    free(p->ring);
    free(p->ring_tags);
    free(p->shift);
    free(p->smean);
    free(p->sstd);
    free(p->sknown);
    hz_series_stats_free(&p->ss);
    free(p->win);
    free(p->wmask);
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
    if (p->dg || from->dg || from->P != p->P || from->C != p->C || from->period != p->period)
        return 0;
    for (int k = 0; k < p->C; k++)
        if (strcmp(from->onames[k], p->onames[k]))
            return 0;
    if (grow_series(p, from->scap))
        return HZ_ENOMEM;
    size_t n = from->scap, C = (size_t)p->C;
    memcpy(p->last_fc, from->last_fc, n * (size_t)p->P * C * sizeof *p->last_fc);
    memcpy(p->last_scale, from->last_scale, n * C * sizeof *p->last_scale);
    if (from->iv.steps == p->iv.steps && from->iv.nl == p->iv.nl) {
        memcpy(p->adapt, from->adapt, n * C * (size_t)p->iv.steps * sizeof *p->adapt);
        if (p->iv.steps > 1) {
            memcpy(p->ring, from->ring, n * hz_iv_ring_len(&p->iv) * sizeof *p->ring);
            memcpy(p->ring_tags, from->ring_tags, n * (size_t)p->P * sizeof *p->ring_tags);
        }
    }
    memcpy(p->shift, from->shift, n * C * sizeof *p->shift);
    memcpy(p->last_issued, from->last_issued, n * sizeof *p->last_issued);
    return 0;
}

const char *hz_forecaster_model_id(const hz_forecaster *p)
{
    return p->dg ? hz_disagg_rt_model_id(p->dg) : p->model_id;
}

void hz_forecaster_describe(const hz_forecaster *p, char *buf, size_t len)
{
    if (p->dg) {
        hz_disagg_rt_describe(p->dg, buf, len);
        return;
    }
    snprintf(buf, len, "%s (%s, lookback %d, horizon %d, %d variable%s)", p->model_id,
             hz_model_kind_name(p->model->conf.kind), p->L, p->P, p->C, p->C == 1 ? "" : "s");
}

const double *hz_forecaster_levels(const hz_forecaster *p, int *n)
{
    *n = p->iv.nl;
    return p->iv.levels;
}

double hz_forecaster_coverage(const hz_forecaster *p, int level)
{
    return p->checked && level >= 0 && level < p->iv.nl
               ? (double)p->inside[level] / (double)p->checked
               : NAN;
}

hz_forecaster_stats hz_forecaster_stats_get(const hz_forecaster *p)
{
    if (p->dg) {
        hz_disagg_stats d = hz_disagg_rt_stats(p->dg);
        return (hz_forecaster_stats){d.windows, d.batches, d.skipped, d.estimates};
    }
    return p->st;
}
