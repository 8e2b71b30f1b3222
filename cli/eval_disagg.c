/* eval_disagg.c — `horizon eval` of a disaggregation pipeline (model.task disaggregate,
 * training/disagg.h): each appliance's checkpoint on the test split's windows, scored in
 * watts after the appliance's ON threshold (training/nilm_eval.h: MAE, RMSE, NDE, SAE,
 * matching ratio, TECA, ON/OFF accuracy, balanced accuracy, precision, recall, F1), beside
 * the same scores of a constant estimate, the appliance's mean over the training rows.
 * Called by cli/cmd_eval.c, which prints the last line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* Appliance i of p: its checkpoint (path, else the view's) scored on the test split into
 * *res, printed.  HZ_EXIT_OK or HZ_EXIT_FAIL (message printed). */
static int eval_appliance(const hz_config *cfg, const hz_pipeline_conf *p, int i,
                          const char *series, const char *path, hz_disagg_result *res)
{
    char err[HZ_ERRLEN];
    hz_disagg_view v;
    hz_model *m = NULL;
    hz_scaler sc;
    hz_prepared d;
    memset(&d, 0, sizeof d);
    if (hz_disagg_view_init(p, i, &v, err, sizeof err)) {
        hz_cli_error(CMD, "%s", err);
        return HZ_EXIT_FAIL;
    }
    path = path ? path : v.checkpoint;
    int rc = load_model(&v, path, &m, &sc);
    if (!rc && (hz_prepared_load(cfg, &v.p, series, &d, err, sizeof err) ||
                hz_prepared_split(&v.p, &m->conf, &sc, &d, err, sizeof err))) {
        hz_cli_error(CMD, "%s", err);
        rc = HZ_EXIT_FAIL;
    }
    const hz_windows *w = &d.win[2];
    double thr = p->model.data.appliances[i].on_threshold;
    if (!rc && w->count < 1) {
        hz_cli_error(CMD, "pipeline %s: no test window of %d steps without a gap", p->name,
                     m->conf.seq_len);
        rc = HZ_EXIT_FAIL;
    }
    if (!rc && hz_disagg_backtest(m, w, &sc, 32, thr, d.train_mean, res)) {
        hz_cli_error(CMD, "out of memory");
        rc = HZ_EXIT_FAIL;
    }
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
               path, p->name, v.values[1], thr, hz_model_kind_name(m->conf.kind), w->count,
               w->seq_len, d.gap_windows[2], zeros, t0, t1);
        printf("  %-11s %8s %8s %7s %7s %6s %6s %6s %6s %6s %6s %6s\n", "", "MAE W", "RMSE W",
               "NDE", "SAE", "MR", "TECA", "Acc", "BAcc", "Prec", "Rec", "F1");
        print_scores("model", &res->model);
        char base[32];
        snprintf(base, sizeof base, "mean %.1f W", d.train_mean);
        print_scores(base, &res->base);
        printf("appliance %s test mae=%.4f f1=%.4f baseline_mean_mae=%.4f\n", v.values[1],
               res->model.mae, res->model.f1, res->base.mae);
    }
    hz_prepared_free(&d);
    hz_model_free(m);
    return rc;
}

int hz_eval_disagg(const hz_config *cfg, const hz_pipeline_conf *p, const char *series,
                   const char *checkpoint, const char *appliance, double *mae, double *f1,
                   double *base_mae)
{
    int n = (int)p->model.data.n_appliances, one = -1, done = 0;
    if (appliance && (one = hz_disagg_find(p, appliance)) < 0) {
        hz_cli_error(CMD, "pipeline %s has no appliance %s in model.data.appliances", p->name,
                     appliance);
        return HZ_EXIT_FAIL;
    }
    if (checkpoint && one < 0 && n > 1) {
        hz_cli_error(CMD, "--checkpoint names one file: give --appliance too");
        return HZ_EXIT_FAIL;
    }
    *mae = *f1 = *base_mae = 0;
    for (int i = 0; i < n; i++) {
        hz_disagg_result r;
        if (one >= 0 && i != one)
            continue;
        if (eval_appliance(cfg, p, i, series, checkpoint, &r))
            return HZ_EXIT_FAIL;
        *mae += r.model.mae;
        *f1 += r.model.f1;
        *base_mae += r.base.mae;
        done++;
    }
    *mae /= done;
    *f1 /= done;
    *base_mae /= done;
    return HZ_EXIT_OK;
}
