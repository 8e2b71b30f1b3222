/* disagg_rt.c — a disaggregation pipeline's appliance models at run time: checkpoints,
 * batched windows of the aggregate, estimates in watts (disagg_rt.h; the data protocol of
 * training/disagg.c). */
#include "pipeline/disagg_rt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models/checkpoint.h"
#include "training/checkpoint_meta.h"
#include "training/dataset.h"
#include "training/disagg.h"

typedef struct appliance {
    const hz_cfg_appliance *conf;
    hz_model *m;
    hz_scaler sc; /* [aggregate, appliance]: both divided by the checkpoint's power */
    char model_id[192];
} appliance;

struct hz_disagg_rt {
    const hz_pipeline_conf *pc;
    const hz_logger *log;
    int nvars, agg; /* the source's variables; the aggregate's index among them */
    int na;
    appliance *a;
    int L, F, E; /* window, marks per slot, slots estimated per window */
    int64_t period;
    int bmax, nb;
    float *win;      /* [L, nvars] one window as copied */
    uint8_t *wmask;  /* [L] its slots' realness (window_store.h) */
    float *raw;      /* [B, L] each row's aggregate, watts */
    hz_real *x, *xm; /* [B, L] scaled, [B, L, F] marks */
    float *pw;       /* [B, L] one appliance's estimate, watts */
    uint32_t *bidx;  /* [B] series of each row */
    int64_t *blast;  /* [B] last slot time of each row */
    hz_estimate *est;
    hz_ctx ctx;
    int ctx_on;
    hz_metric *m_inf, *m_bs;
    hz_disagg_stats st;
};

/* Appliance i's checkpoint, checked to be a disaggregation model of the pipeline's aggregate
 * for that appliance, at the window's length, with marks the model reads. */
static int load_appliance(hz_disagg_rt *d, int i, char *err, size_t errlen)
{
    const hz_pipeline_conf *pc = d->pc;
    appliance *ap = &d->a[i];
    ap->conf = &pc->model.data.appliances[i];
    char path[1100], sha[65], **names = NULL;
    int n = 0;
    hz_disagg_checkpoint(pc->model.checkpoint, ap->conf->name, path, sizeof path);
    if (access(path, F_OK) != 0)
        return hz_err(err, errlen, HZ_ENOTFOUND,
                      "pipeline %s: no checkpoint at %s for appliance %s (`horizon train -c "
                      "CONFIG -p %s --appliance %s` makes it)",
                      pc->name, path, ap->conf->name, pc->name, ap->conf->name);
    hz_st_file *f = NULL;
    int rc = hz_ckpt_load(path, &ap->m, &f, err, errlen);
    if (!rc)
        rc = hz_meta_scaler_parse(f, &ap->sc, &names, &n, err, errlen);
    const char *aggn = pc->source.fields.values[0];
    if (!rc && (!hz_st_meta(f, "disaggregate") || ap->m->conf.forecast))
        rc = hz_err(err, errlen, HZ_EINVAL,
                    "pipeline %s: %s is not a disaggregation checkpoint (`horizon train -c "
                    "... --appliance %s` makes it)",
                    pc->name, path, ap->conf->name);
    else if (!rc && (n != 2 || strcmp(names[0], aggn) || strcmp(names[1], ap->conf->name)))
        rc = hz_err(err, errlen, HZ_EINVAL, "pipeline %s: %s estimates %s from %s, not %s from %s",
                    pc->name, path, n == 2 ? names[1] : "?", n == 2 ? names[0] : "?",
                    ap->conf->name, aggn);
    else if (!rc && (ap->m->conf.seq_len != pc->window.lookback ||
                     ap->m->conf.n_marks > HZ_TIMEF_MAX_FEATURES ||
                     (i > 0 && ap->m->conf.n_marks != d->a[0].m->conf.n_marks)))
        rc = hz_err(err, errlen, HZ_EINVAL,
                    "pipeline %s: %s has windows of %d steps and %d marks a step (the window "
                    "section: lookback %d; every appliance the same marks, at most %d)",
                    pc->name, path, ap->m->conf.seq_len, ap->m->conf.n_marks, pc->window.lookback,
                    HZ_TIMEF_MAX_FEATURES);
    hz_names_free(names, n);
    hz_st_close(f);
    if (!rc) {
        char e2[HZ_ERRLEN];
        int ok = hz_file_sha256(path, sha, e2, sizeof e2) == 0;
        snprintf(ap->model_id, sizeof ap->model_id, "%s.%s-%.12s", pc->name, ap->conf->name,
                 ok ? sha : "unhashed");
    }
    return rc;
}

static int alloc_buffers(hz_disagg_rt *d)
{
    size_t B = (size_t)d->bmax, L = (size_t)d->L, F = (size_t)d->F;
    d->win = malloc(L * (size_t)d->nvars * sizeof *d->win);
    d->wmask = malloc(L);
    d->raw = malloc(B * L * sizeof *d->raw);
    d->x = malloc(B * L * sizeof *d->x);
    d->xm = F ? malloc(B * L * F * sizeof *d->xm) : NULL;
    d->pw = malloc(B * L * sizeof *d->pw);
    d->bidx = malloc(B * sizeof *d->bidx);
    d->blast = malloc(B * sizeof *d->blast);
    d->est = malloc(B * sizeof *d->est);
    if (!d->win || !d->wmask || !d->raw || !d->x || (F && !d->xm) || !d->pw || !d->bidx ||
        !d->blast || !d->est)
        return HZ_ENOMEM;
    hz_ctx_init(&d->ctx, (size_t)16 << 20, 0);
    d->ctx_on = 1;
    return 0;
}

int hz_disagg_rt_new(const hz_pipeline_conf *pc, const char *const *vars, int nvars,
                     const hz_logger *log, hz_metric *inference, hz_metric *batch_size, int buffers,
                     hz_disagg_rt **out, char *err, size_t errlen)
{
    *out = NULL;
    hz_disagg_rt *d = calloc(1, sizeof *d);
    size_t na = pc->model.data.n_appliances;
    if (!d || !(d->a = calloc(na ? na : 1, sizeof *d->a))) {
        free(d);
        return hz_err(err, errlen, HZ_ENOMEM, "out of memory");
    }
    d->pc = pc;
    d->log = log;
    d->nvars = nvars;
    d->agg = -1;
    for (int v = 0; v < nvars && pc->source.fields.n_values; v++)
        if (!strcmp(vars[v], pc->source.fields.values[0]))
            d->agg = v;
    int rc = d->agg < 0 ? hz_err(err, errlen, HZ_EINVAL,
                                 "pipeline %s: the source has no aggregate variable", pc->name)
                        : 0;
    for (size_t i = 0; !rc && i < na; i++)
        if (!(rc = load_appliance(d, (int)i, err, errlen)))
            d->na++;
    d->L = pc->window.lookback;
    d->F = d->na ? d->a[0].m->conf.n_marks : 0;
    d->E = pc->window.stride > 0 && pc->window.stride < d->L ? pc->window.stride : d->L;
    d->period = pc->window.period_ms;
    d->bmax = pc->batch.max > 0 ? pc->batch.max : 1;
    d->m_inf = inference;
    d->m_bs = batch_size;
    if (!rc && buffers && alloc_buffers(d))
        rc = hz_err(err, errlen, HZ_ENOMEM, "pipeline %s: out of memory for batch buffers",
                    pc->name);
    if (rc) {
        hz_disagg_rt_free(d);
        return rc;
    }
    *out = d;
    return 0;
}

void hz_disagg_rt_free(hz_disagg_rt *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->pc->model.data.n_appliances; i++)
        hz_model_free(d->a[i].m); /* one that failed to load may hold a model */
    if (d->ctx_on)
        hz_ctx_free(&d->ctx);
    free(d->a);
    free(d->win);
    free(d->wmask);
    free(d->raw);
    free(d->x);
    free(d->xm);
    free(d->pw);
    free(d->bidx);
    free(d->blast);
    free(d->est);
    free(d);
}

/* Copies series idx's window into batch row d->nb (the aggregate in watts, the marks of each
 * slot's time).  Returns 1 when staged, 0 when skipped: not full, or a slot missing, filled
 * or (model.data.zero_is_gap) 0 W (training leaves windows with a gap out:
 * training/disagg.c). */
static int stage_row(hz_disagg_rt *d, hz_window_store *ws, uint32_t idx)
{
    int L = d->L, F = d->F, B = d->nb;
    int64_t last;
    if (hz_window_store_copy(ws, idx, d->win, d->wmask, &last) < L)
        return 0;
    float *raw = d->raw + (size_t)B * L;
    for (int t = 0; t < L; t++) {
        raw[t] = d->win[(size_t)t * d->nvars + d->agg];
        if (!isfinite(raw[t]) || !d->wmask[t] || (raw[t] == 0 && d->pc->model.data.zero_is_gap))
            return 0;
    }
    float mk[HZ_TIMEF_MAX_FEATURES];
    for (int t = 0; t < L && F; t++) {
        hz_timef(F, last - (int64_t)(L - 1 - t) * d->period, mk);
        for (int j = 0; j < F; j++)
            d->xm[((size_t)B * L + t) * F + j] = (hz_real)mk[j];
    }
    d->bidx[B] = idx;
    d->blast[B] = last;
    d->nb = B + 1;
    return 1;
}

int hz_disagg_rt_stage(hz_disagg_rt *d, hz_window_store *ws, hz_estimate_fn emit, void *opaque,
                       char *err, size_t errlen)
{
    uint32_t idx;
    while (hz_window_store_pop_ready(ws, &idx)) {
        if (!stage_row(d, ws, idx)) {
            d->st.skipped++;
            continue;
        }
        int rc = d->nb == d->bmax ? hz_disagg_rt_run(d, ws, emit, opaque, err, errlen) : 0;
        if (rc)
            return rc;
    }
    return 0;
}

/* Appliance ap over the B staged rows: its estimates in watts into d->pw. */
static void estimate(hz_disagg_rt *d, const appliance *ap, int B)
{
    size_t n = (size_t)B * d->L;
    for (size_t i = 0; i < n; i++)
        d->x[i] = (hz_real)hz_scaler_fwd(&ap->sc, 0, d->raw[i]);
    hz_model_input in = {B, d->x, d->F ? d->xm : NULL, NULL, NULL};
    int64_t t0 = hz_mono_ns();
    hz_ctx_reset(&d->ctx);
    hz_tensor *y = hz_model_forward(ap->m, &d->ctx, &in); /* [B, L, 1] scaled */
    hz_metrics_observe(d->m_inf, (hz_mono_ns() - t0) / 1e9);
    double thr = ap->conf->on_threshold;
    for (size_t i = 0; i < n; i++) {
        double w = hz_scaler_inv(&ap->sc, 1, y->data[i]);
        d->pw[i] = (float)(w >= thr && w > 0 ? w : 0);
    }
}

int hz_disagg_rt_run(hz_disagg_rt *d, hz_window_store *ws, hz_estimate_fn emit, void *opaque,
                     char *err, size_t errlen)
{
    int B = d->nb, L = d->L, E = d->E;
    if (B == 0)
        return 0;
    d->nb = 0;
    hz_metrics_observe(d->m_bs, B);
    for (int i = 0; i < d->na; i++) {
        const appliance *ap = &d->a[i];
        estimate(d, ap, B);
        for (int b = 0; b < B; b++)
            d->est[b] = (hz_estimate){
                .pipeline = d->pc->name,
                .series = hz_window_store_series_id(ws, d->bidx[b]),
                .appliance = ap->conf->name,
                .start_ts = d->blast[b] - (int64_t)(E - 1) * d->period,
                .period_ms = d->period,
                .n = E,
                .power = d->pw + (size_t)b * L + (L - E),
                .on_threshold = ap->conf->on_threshold,
                .model_id = ap->model_id,
            };
        int rc = emit(opaque, d->est, (size_t)B, err, errlen);
        if (rc)
            return rc;
        d->st.estimates += (uint64_t)B;
    }
    d->st.batches++;
    d->st.windows += (uint64_t)B;
    return 0;
}

int hz_disagg_rt_resume(hz_disagg_rt *d, hz_window_store *ws, const uint32_t *idx,
                        const uint8_t *write, size_t n, hz_estimate_fn emit, void *opaque,
                        size_t *written, char *err, size_t errlen)
{
    size_t nw = 0;
    int rc = hz_disagg_rt_run(d, ws, emit, opaque, err, errlen);
    for (size_t i = 0; !rc && i < n; i++) {
        if (!write[i] || !stage_row(d, ws, idx[i]))
            continue;
        nw++;
        rc = d->nb == d->bmax ? hz_disagg_rt_run(d, ws, emit, opaque, err, errlen) : 0;
    }
    if (!rc)
        rc = hz_disagg_rt_run(d, ws, emit, opaque, err, errlen);
    if (written)
        *written = nw;
    return rc;
}

const char *hz_disagg_rt_model_id(const hz_disagg_rt *d)
{
    return d->na ? d->a[0].model_id : "";
}

void hz_disagg_rt_describe(const hz_disagg_rt *d, char *buf, size_t len)
{
    size_t k = (size_t)snprintf(buf, len, "disaggregation (nilmformer, window %d):", d->L);
    for (int i = 0; i < d->na && k < len; i++)
        k += (size_t)snprintf(buf + k, len - k, " %s", d->a[i].model_id);
}

hz_disagg_stats hz_disagg_rt_stats(const hz_disagg_rt *d)
{
    return d->st;
}
