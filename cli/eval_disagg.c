/* eval_disagg.c — `horizon eval` of a disaggregation pipeline (model.task disaggregate,
 * training/disagg.h): each appliance's checkpoint on the test split's windows, scored in
 * watts after the appliance's ON threshold (training/nilm_eval.h: MAE, RMSE, NDE, SAE,
 * matching ratio, TECA, ON/OFF accuracy, balanced accuracy, precision, recall, F1), beside
 * the same scores of a constant estimate, the appliance's mean over the training rows, and
 * of the plain-transformer baseline when its checkpoint exists (docs/MODELS.md section
 * 8.10).  Called by cli/cmd_eval.c, which prints the last line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/hz.h"
#include "models/checkpoint.h"
#include "training/disagg.h"
#include "training/prepare.h"

#define CMD "eval"

/* "YYYY-MM-DD HH:MM" of ts_ms (UTC) into out. */
static void fmt_time(int64_t ts_ms, char *out, size_t n)
{
    time_t t = (time_t)(ts_ms / 1000);
    struct tm tm;
    strftime(out, n, "%Y-%m-%d %H:%M", gmtime_r(&t, &tm));
}

static void print_scores(const char *label, const hz_nilm_scores *s)
{
    printf("  %-11s %8.2f %8.2f %7.3f %7.3f %6.3f %6.3f %6.3f %6.3f %6.3f %6.3f %6.3f\n", label,
           s->mae, s->rmse, s->nde, s->sae, s->mr, s->teca, s->accuracy, s->balanced_accuracy,
           s->precision, s->recall, s->f1);
}

/* The checkpoint at path, with its scaler, checked to be view v's: a disaggregation model
 * of the same aggregate and appliance.  HZ_EXIT_OK or HZ_EXIT_FAIL (message printed). */
static int load_model(const hz_disagg_view *v, const char *path, hz_model **m, hz_scaler *sc)
{
    char err[HZ_ERRLEN], **names = NULL;
    int n = 0, rc = HZ_EXIT_FAIL;
    hz_st_file *f = NULL;
    if (hz_ckpt_load(path, m, &f, err, sizeof err) ||
        hz_meta_scaler_parse(f, sc, &names, &n, err, sizeof err))
        hz_cli_error(CMD, "%s", err);
    else if (!hz_st_meta(f, "disaggregate") || (*m)->conf.forecast)
        hz_cli_error(CMD, "%s: not a disaggregation checkpoint (train it with task disaggregate)",
                     path);
    else if (n != 2 || strcmp(names[0], v->values[0]) || strcmp(names[1], v->values[1]))
        hz_cli_error(CMD, "%s: trained for %s from %s, the pipeline asks %s from %s", path,
                     n == 2 ? names[1] : "?", n == 2 ? names[0] : "?", v->values[1], v->values[0]);
    else
        rc = HZ_EXIT_OK;
    hz_names_free(names, n);
    hz_st_close(f);
    return rc;
}

/* The checkpoint at path (view v's appliance) scored on the test split of its own
 * preparation of the data into *res; *m and *d are the caller's to free.  HZ_EXIT_OK or
 * HZ_EXIT_FAIL (message printed). */
static int score_checkpoint(const hz_config *cfg, const hz_disagg_view *v, const char *series,
                            const char *path, double thr, hz_model **m, hz_prepared *d,
                            hz_disagg_result *res)
{
    char err[HZ_ERRLEN];
    hz_scaler sc;
    memset(d, 0, sizeof *d);
    *m = NULL;
    if (load_model(v, path, m, &sc))
        return HZ_EXIT_FAIL;
    if (hz_prepared_load(cfg, &v->p, series, d, err, sizeof err) ||
        hz_prepared_split(&v->p, &(*m)->conf, &sc, d, err, sizeof err)) {
        hz_cli_error(CMD, "%s", err);
        return HZ_EXIT_FAIL;
    }
    if (d->win[2].count < 1) {
        hz_cli_error(CMD, "pipeline %s: no test window of %d steps without a gap", v->p.name,
                     (*m)->conf.seq_len);
        return HZ_EXIT_FAIL;
    }
    if (hz_disagg_backtest(*m, &d->win[2], &sc, 32, thr, d->train_mean, res)) {
        hz_cli_error(CMD, "out of memory");
        return HZ_EXIT_FAIL;
    }
    return HZ_EXIT_OK;
}

/* The plain-transformer baseline of appliance i (view v), when its checkpoint exists and p
 * is not itself the baseline: scored into *res, its path and parameters printed.  Returns
 * 1 scored, 0 none, -1 failed (message printed). */
static int score_plain(const hz_config *cfg, const hz_pipeline_conf *p, const hz_disagg_view *v,
                       const char *series, double thr, const hz_model *model,
                       const hz_windows *model_test, hz_disagg_result *res)
{
    char stem[1100], path[1100];
    if (p->model.params.plain)
        return 0;
    hz_disagg_plain_checkpoint(p->model.checkpoint, stem, sizeof stem);
    hz_disagg_checkpoint(stem, v->values[1], path, sizeof path);
    if (access(path, F_OK) != 0)
        return 0;
    hz_model *m;
    hz_prepared d;
    int rc = score_checkpoint(cfg, v, series, path, thr, &m, &d, res);
    if (!rc && (!m->conf.plain || d.win[2].count != model_test->count ||
                d.win[2].seq_len != model_test->seq_len)) {
        hz_cli_error(CMD, "%s: %s", path,
                     m->conf.plain ? "its test windows are not the model's (another window length "
                                     "or max_power)"
                                   : "not a plain transformer (train it with --plain)");
        rc = HZ_EXIT_FAIL;
    }
    if (!rc)
        printf("eval: plain transformer %s, %lld parameters (the model: %lld)\n", path,
               (long long)m->params.n_trainable, (long long)model->params.n_trainable);
    hz_prepared_free(&d);
    hz_model_free(m);
    return rc ? -1 : 1;
}

/* Appliance i of p: its checkpoint (path, else the view's) scored on the test split into
 * *res, its plain baseline into *plain (when *has_plain), printed.  HZ_EXIT_OK or
 * HZ_EXIT_FAIL (message printed). */
static int eval_appliance(const hz_config *cfg, const hz_pipeline_conf *p, int i,
                          const char *series, const char *path, hz_disagg_result *res,
                          hz_disagg_result *plain, int *has_plain)
{
    char err[HZ_ERRLEN];
    hz_disagg_view v;
    hz_model *m = NULL;
    hz_prepared d;
    memset(&d, 0, sizeof d);
    *has_plain = 0;
    if (hz_disagg_view_init(p, i, &v, err, sizeof err)) {
        hz_cli_error(CMD, "%s", err);
        return HZ_EXIT_FAIL;
    }
    path = path ? path : v.checkpoint;
    double thr = p->model.data.appliances[i].on_threshold;
    int rc = score_checkpoint(cfg, &v, series, path, thr, &m, &d, res);
    const hz_windows *w = &d.win[2];
    if (!rc) {
        char t0[32], t1[32];
        fmt_time(d.table.ts_ms[w->starts[0]], t0, sizeof t0);
        fmt_time(d.table.ts_ms[w->starts[w->count - 1] + w->seq_len - 1], t1, sizeof t1);
        char zeros[80] = "";
        if (p->model.data.zero_is_gap)
            snprintf(zeros, sizeof zeros, "; %d rows with an aggregate of 0 taken as gaps",
                     d.zero_rows);
        printf("eval: %s on %s, appliance %s (on above %g W), %s, test windows %d of %d steps "
               "(%d left out for gaps%s), %s … %s\n",
               path, p->name, v.values[1], thr,
               m->conf.plain ? "plain transformer" : hz_model_kind_name(m->conf.kind), w->count,
               w->seq_len, d.gap_windows[2], zeros, t0, t1);
        int k = score_plain(cfg, p, &v, series, thr, m, w, plain);
        rc = k < 0 ? HZ_EXIT_FAIL : HZ_EXIT_OK;
        *has_plain = k > 0;
    }
    if (!rc) {
        printf("  %-11s %8s %8s %7s %7s %6s %6s %6s %6s %6s %6s %6s\n", "", "MAE W", "RMSE W",
               "NDE", "SAE", "MR", "TECA", "Acc", "BAcc", "Prec", "Rec", "F1");
        print_scores("model", &res->model);
        char base[32];
        snprintf(base, sizeof base, "mean %.1f W", d.train_mean);
        print_scores(base, &res->base);
        if (*has_plain)
            print_scores("plain", &plain->model);
        if (*has_plain)
            printf("appliance %s test mae=%.4f f1=%.4f baseline_mean_mae=%.4f "
                   "baseline_plain_mae=%.4f plain_f1=%.4f\n",
                   v.values[1], res->model.mae, res->model.f1, res->base.mae, plain->model.mae,
                   plain->model.f1);
        else
            printf("appliance %s test mae=%.4f f1=%.4f baseline_mean_mae=%.4f\n", v.values[1],
                   res->model.mae, res->model.f1, res->base.mae);
    }
    hz_prepared_free(&d);
    hz_model_free(m);
    return rc;
}

int hz_eval_disagg(const hz_config *cfg, const hz_pipeline_conf *p, const char *series,
                   const char *checkpoint, const char *appliance, hz_disagg_means *r)
{
    int n = (int)p->model.data.n_appliances, one = -1, done = 0, plains = 0;
    if (appliance && (one = hz_disagg_find(p, appliance)) < 0) {
        hz_cli_error(CMD, "pipeline %s has no appliance %s in model.data.appliances", p->name,
                     appliance);
        return HZ_EXIT_FAIL;
    }
    if (checkpoint && one < 0 && n > 1) {
        hz_cli_error(CMD, "--checkpoint names one file: give --appliance too");
        return HZ_EXIT_FAIL;
    }
    memset(r, 0, sizeof *r);
    for (int i = 0; i < n; i++) {
        hz_disagg_result m, pl;
        int has_plain;
        if (one >= 0 && i != one)
            continue;
        if (eval_appliance(cfg, p, i, series, checkpoint, &m, &pl, &has_plain))
            return HZ_EXIT_FAIL;
        r->mae += m.model.mae;
        r->f1 += m.model.f1;
        r->base_mae += m.base.mae;
        if (has_plain) {
            r->plain_mae += pl.model.mae;
            r->plain_f1 += pl.model.f1;
            plains++;
        }
        done++;
    }
    r->mae /= done;
    r->f1 /= done;
    r->base_mae /= done;
    r->plain = done > 0 && plains == done;
    r->plain_mae /= done;
    r->plain_f1 /= done;
    return HZ_EXIT_OK;
}
