/* cmd_eval.c — `horizon eval`: backtests a checkpoint on the pipeline's held-out test split
 * (the papers' protocol, docs/MODELS.md): per series and variable, MSE and MAE on scaled data
 * and in original units, NSE and KGE, for the model and for the persistence and window-mean
 * forecasts of the same windows, and the model's skill against each (training/skill.h);
 * --per-step the same by horizon step; with train.repeats N > 1 every repeat is scored and
 * the last line is their mean.  Coverage: the share of test points inside the 90% and 99% intervals
 * that the checkpoint's validation residuals give (training/trainer.c stores their quantiles
 * per step and variable; horizond starts from the same intervals and adapts them online).
 * --plot draws forecasts against actuals for a few test windows. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/hz.h"
#include "models/checkpoint.h"
#include "training/calibrate.h"
#include "training/pool.h"
#include "training/prepare.h"
#include "training/skill.h"
#include "training/train.h"
#include "training/trainer.h"

#define CMD "eval"

typedef struct eval_args {
    hz_cli_model_args m;
    const char *plot;      /* NULL: no plot */
    int per_step;          /* --per-step: errors and NSE by horizon step */
    const char *appliance; /* task disaggregate: the one appliance to score; NULL: each */
} eval_args;

static void usage(FILE *f)
{
    fprintf(f, "usage: horizon eval -c FILE.yaml [options]\n"
               "\n"
               "Backtests the checkpoint on the held-out test split (papers' protocol).\n"
               "Per series and variable: MSE and MAE on scaled data and in original units,\n"
               "NSE and KGE in original units (the mean over the horizon steps of each\n"
               "step's value), for the model and for two naive forecasts of the same\n"
               "windows: persistence (the input's last value) and window mean (the input's\n"
               "mean), with the model's skill against each (1 - mse / mse_naive, and the\n"
               "NSE difference).  Then the coverage and width of the 90%% and 99%%\n"
               "intervals calibrated on the validation split, replayed window by window\n"
               "with the online adaptation horizond applies (docs/ANOMALIES.md).  The last\n"
               "line is `test mse=X mae=Y cov90=A cov99=B nse=C persistence_nse=D` (MSE,\n"
               "MAE on scaled data; A, B the shares of test points inside the intervals,\n"
               "nan for a checkpoint without calibration; C, D the model's and\n"
               "persistence's NSE, means over variables and series); with train.repeats\n"
               "N > 1 every repeat is scored and the line is their mean.\n"
               "With model.task disaggregate, each appliance's checkpoint is scored in watts\n"
               "on the test windows after its on_threshold (MAE, RMSE, NDE, SAE, matching\n"
               "ratio, TECA, ON/OFF accuracy, balanced accuracy, precision, recall, F1) beside\n"
               "the appliance's training mean as a constant estimate and, when its\n"
               "checkpoint exists (`horizon train --plain`), the plain-transformer baseline\n"
               "of the same parameter count; the last line is `test mae=X f1=Y\n"
               "baseline_mean_mae=Z`, means over the appliances scored, followed by\n"
               "` baseline_plain_mae=P plain_f1=Q` when every one has the baseline.\n"
               "\n"
               "options:\n"
               "  -c, --config FILE    the configuration (required)\n"
               "  -p, --pipeline NAME  the pipeline to evaluate (default: the file's first)\n"
               "  -s, --series S       SQLite source: the series to test on (default: the\n"
               "                       one with the most readings)\n"
               "  --checkpoint PATH    the checkpoint to test (default: model.checkpoint; with\n"
               "                       it, repeats are not scored)\n"
               "  --per-step           MSE, MAE and NSE of each forecast by horizon step\n"
               "  --plot FILE.svg      draw forecast against actual for three test windows\n"
               "  --appliance NAME     task disaggregate: score this appliance only\n"
               "  -h, --help           this text\n");
}

static int parse(int argc, char **argv, eval_args *a, char *err, size_t errlen)
{
    *a = (eval_args){0};
    const hz_cli_opt opts[] = {HZ_CLI_MODEL_OPTS(&a->m),
                               {"plot", 0, HZ_CLI_STR, &a->plot, 0, 0},
                               {"per-step", 0, HZ_CLI_FLAG, &a->per_step, 0, 0},
                               {"appliance", 0, HZ_CLI_STR, &a->appliance, 0, 0},
                               {NULL, 0, 0, NULL, 0, 0}};
    int rc = hz_cli_parse(argc, argv, opts, NULL, err, errlen);
    if (!rc && !a->m.config)
        rc = hz_err(err, errlen, HZ_EINVAL, "-c FILE.yaml is required");
    return rc;
}

/* ---- the plot */

#define PLOT_W 900
#define PLOT_H 220

/* The inputs and target of one test window (batch 1), in scaled units. */
typedef struct window_bufs {
    hz_real *x, *xm, *xd, *xmd, *y;
} window_bufs;

/* One panel of the plot, at height row: the model's last output variable in test window pick,
 * actual (input and target) against the model's forecast, in original units. */
static void plot_window(FILE *f, hz_model *m, hz_ctx *c, const hz_prepared *d, const window_bufs *b,
                        int pick, int row)
{
    const hz_windows *w = &d->win[2];
    int L = w->seq_len, P = w->pred_len, I = hz_windows_in_cols(w), O = hz_windows_out_cols(w);
    int j = O - 1, k = hz_windows_out_col(w, j); /* output column j is table column k */
    hz_real *xm = w->n_marks ? b->xm : NULL, *xmd = w->n_marks ? b->xmd : NULL;
    hz_windows_batch(w, &pick, 1, b->x, xm, b->xd, xmd, b->y);
    hz_model_input in = {1, b->x, xm, b->xd, xmd};
    hz_ctx_reset(c);
    hz_tensor *out = hz_model_forward(m, c, &in);
    double lo = INFINITY, hi = -INFINITY, v[2][4096];
    int n = L + P;
    if (n > 4096)
        n = 4096;
    for (int t = 0; t < n; t++) {
        double a = t < L ? b->x[t * I + k] : b->y[(t - L) * O + j];
        double fc = t < L ? NAN : out->data[(t - L) * O + j];
        v[0][t] = hz_scaler_inv(&d->scaler, k, a);
        v[1][t] = hz_scaler_inv(&d->scaler, k, fc);
        for (int s = 0; s < 2; s++)
            if (!isnan(v[s][t])) {
                lo = fmin(lo, v[s][t]);
                hi = fmax(hi, v[s][t]);
            }
    }
    if (hi <= lo)
        hi = lo + 1;
    int y0 = row * PLOT_H + 20;
    fprintf(f, "<text x=\"10\" y=\"%d\">%s, test window %d (blue: actual, red: forecast)</text>\n",
            y0 + 12, d->names[k], pick);
    for (int s = 0; s < 2; s++) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"",
                s ? "#d62728" : "#1f77b4");
        for (int t = 0; t < n; t++)
            if (!isnan(v[s][t]))
                fprintf(f, "%.1f,%.1f ", 40 + (double)t / (n - 1) * (PLOT_W - 60),
                        y0 + 25 + (1 - (v[s][t] - lo) / (hi - lo)) * (PLOT_H - 45));
        fprintf(f, "\"/>\n");
    }
    double xs = 40 + (double)L / (n - 1) * (PLOT_W - 60);
    fprintf(f,
            "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#999\" "
            "stroke-dasharray=\"4\"/>\n",
            xs, y0 + 20, xs, y0 + PLOT_H - 15);
}

/* Forecast vs actual of the last output variable for three test windows, as an SVG. */
static int write_plot(const char *path, hz_model *m, const hz_prepared *d, char *err, size_t errlen)
{
    const hz_windows *w = &d->win[2];
    if (w->count < 1)
        return hz_err(err, errlen, HZ_EINVAL, "no test windows to plot");
    FILE *f = fopen(path, "w");
    if (!f)
        return hz_err(err, errlen, HZ_EIO, "%s: cannot write", path);
    int L = w->seq_len, P = w->pred_len, C = w->cols, lab = w->label_len;
    int picks[3] = {0, w->count / 2, w->count - 1};
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%%\" "
            "height=\"100%%\" fill=\"white\"/>\n",
            PLOT_W, 3 * PLOT_H + 20);
    size_t nm = w->n_marks ? (size_t)w->n_marks : 1;
    size_t I = (size_t)hz_windows_in_cols(w), O = (size_t)hz_windows_out_cols(w);
    window_bufs b = {.x = malloc(L * I * sizeof *b.x),
                     .xm = malloc(L * nm * sizeof *b.xm),
                     .xd = malloc((size_t)(lab + P) * C * sizeof *b.xd),
                     .xmd = malloc((lab + P) * nm * sizeof *b.xmd),
                     .y = malloc(P * O * sizeof *b.y)};
    hz_ctx c;
    hz_ctx_init(&c, 1 << 20, 0);
    int rc = !b.x || !b.xd || !b.xm || !b.xmd || !b.y
                 ? hz_err(err, errlen, HZ_ENOMEM, "plot: out of memory")
                 : 0;
    for (int i = 0; i < 3 && !rc; i++)
        plot_window(f, m, &c, d, &b, picks[i], i);
    fprintf(f, "</svg>\n");
    hz_ctx_free(&c);
    free(b.x);
    free(b.xd);
    free(b.xm);
    free(b.xmd);
    free(b.y);
    if (fclose(f) && !rc)
        rc = hz_err(err, errlen, HZ_EIO, "%s: write failed", path);
    return rc;
}

/* ---- the backtest */

/* One checkpoint's test scores: scaled MSE and MAE, interval coverage at 90% and 99%, and
 * the NSE of the model and of persistence (means over the variables and series). */
typedef struct eval_scores {
    double mse, mae, cov90, cov99, nse, pnse;
} eval_scores;

/* The 90% and 99% intervals replayed over the test split as horizond computes them
 * (training/calibrate.h): coverage and width printed, coverage kept in s.  NaN when the
 * checkpoint has no calibration. */
static void coverage(const hz_pipeline_conf *p, const hz_st_file *f, const hz_prepared *d,
                     const hz_scaler *sc, const float *pred, int n, int P, int verbose,
                     eval_scores *s)
{
    s->cov90 = s->cov99 = NAN;
    const double levels[2] = {0.90, 0.99};
    hz_iv iv;
    hz_calib_cov cv;
    char err[HZ_ERRLEN];
    static const char *none = "test coverage: the checkpoint has no interval calibration "
                              "(retrain it)\n";
    int calibrated = 0;
    if (n < 1) {
        if (verbose)
            printf("%s", none);
        return;
    }
    const hz_windows *w = &d->win[2];
    hz_scaler osc; /* the forecast variables' (features MS: the target's) */
    hz_scaler_out(sc, w, &osc);
    if (hz_calib_intervals(f, p, d->names + (w->target >= 0 ? w->target : 0), P,
                           hz_windows_out_cols(w), &osc, levels, 2, 0, &iv, &calibrated, err,
                           sizeof err)) {
        hz_cli_error(CMD, "%s", err);
        return;
    }
    int rc = calibrated ? hz_calib_backtest(&iv, &d->win[2], pred, n, &cv, err, sizeof err) : 0;
    hz_iv_free(&iv);
    if (!calibrated && verbose)
        printf("%s", none);
    else if (rc)
        hz_cli_error(CMD, "%s", err);
    if (!calibrated || rc)
        return;
    s->cov90 = cv.cover[0];
    s->cov99 = cv.cover[1];
    if (!verbose)
        return;
    printf("test intervals: level coverage mean_width width_lowest_quartile (original units, "
           "%zu points)\n",
           cv.points);
    for (int l = 0; l < 2; l++)
        printf("  %.2f %.4f %.4g %.4g\n", levels[l], cv.cover[l], cv.width[l], cv.width_low[l]);
}

/* What every series' backtest of one checkpoint shares. */
typedef struct eval_ctx {
    const hz_config *cfg;
    const hz_pipeline_conf *p;
    const char *ckpt, *plot;
    hz_model *m;
    hz_st_file *f;
    hz_scaler sc; /* the checkpoint's "scaler" (its log1p flags serve every series) */
    char **names;
    int n_names;
    hz_series_stats ss; /* a pooled checkpoint's per-series scalers; n = 0: not pooled */
    int per_step;       /* --per-step */
} eval_ctx;

/* One series' test scores: scaled errors; original-unit errors for a model of one variable
 * only (never averaged across variables, whose units differ); each forecast's NSE and KGE,
 * means over the variables; interval coverage. */
typedef struct series_scores {
    int windows, vars;
    double mse, mae, mse_orig, mae_orig; /* mse_orig, mae_orig: NaN unless vars == 1 */
    double nse[HZ_FC_N], kge[HZ_FC_N];   /* by forecast (training/skill.h) */
    eval_scores iv;                      /* cov90, cov99 */
    size_t points;                       /* windows x steps x variables */
} series_scores;

/* ---- the skill tables (training/skill.h) */

/* v with prec decimals, "nan" for NaN, a "+" on positive values with sign; a buffer per use. */
#define FMT(v, prec, sign) hz_skill_fmt((char[32]){0}, 32, (v), (prec), (sign))

/* One forecast's row after prefix: errors scaled and in original units, NSE and KGE; with
 * skill, on a naive forecast's row the model's skill against it and its NSE gain. */
static void print_row(const char *prefix, int fc, const hz_skill_scores *r,
                      const hz_skill_scores *model, int skill)
{
    printf("%s%-12s %10.6f %10.6f %12.6g %12.6g %7s %7s", prefix, hz_fc_name[fc], r->mse_z,
           r->mae_z, r->mse, r->mae, FMT(r->nse, 3, 0), FMT(r->kge, 3, 0));
    if (skill && fc != HZ_FC_MODEL)
        printf(" %7s %7s", FMT(hz_skill_score(model->mse, r->mse), 3, 0),
               FMT(model->nse - r->nse, 3, 1));
    printf("\n");
}

/* The columns of print_row after a prefix of heads. */
static void print_head(const char *heads, int skill)
{
    printf("%s%-12s %10s %10s %12s %12s %7s %7s%s\n", heads, "forecast", "mse_z", "mae_z", "mse",
           "mae", "nse", "kge", skill ? "   skill    dnse" : "");
}

/* Variable k of the only series evaluated: a row per forecast and a line of skill. */
static void print_block(const char *series, const char *var, const hz_skill *sk, int k)
{
    hz_skill_scores r[HZ_FC_N];
    for (int fc = 0; fc < HZ_FC_N; fc++)
        hz_skill_get(sk, fc, k, -1, &r[fc]);
    printf("test  series %s  variable %s  (mse_z, mae_z scaled; mse, mae original units; nse, "
           "kge mean over steps 1-%d)\n",
           series, var, sk->pred_len);
    print_head("  ", 0);
    for (int fc = 0; fc < HZ_FC_N; fc++)
        print_row("  ", fc, &r[fc], &r[0], 0);
    printf("  skill vs persistence: mse %s nse %s; vs window mean: mse %s nse %s\n",
           FMT(hz_skill_score(r[0].mse, r[1].mse), 3, 0), FMT(r[0].nse - r[1].nse, 3, 1),
           FMT(hz_skill_score(r[0].mse, r[2].mse), 3, 0), FMT(r[0].nse - r[2].nse, 3, 1));
}

/* Variable k of one of many series: a row per forecast. */
static void print_compact(const char *series, const char *var, const hz_skill *sk, int k)
{
    hz_skill_scores r[HZ_FC_N];
    char prefix[128];
    snprintf(prefix, sizeof prefix, "  %-12s %-12s ", series, var);
    for (int fc = 0; fc < HZ_FC_N; fc++)
        hz_skill_get(sk, fc, k, -1, &r[fc]);
    for (int fc = 0; fc < HZ_FC_N; fc++)
        print_row(prefix, fc, &r[fc], &r[0], 1);
}

/* The heading of the many-series table. */
static void print_compact_head(int pred_len)
{
    printf("test per series and variable (mse_z, mae_z scaled; mse, mae original units; nse, kge "
           "mean over steps 1-%d; skill = 1 - mse / that forecast's mse, dnse = model nse - its "
           "nse)\n",
           pred_len);
    char heads[128];
    snprintf(heads, sizeof heads, "  %-12s %-12s ", "series", "variable");
    print_head(heads, 1);
}

/* --per-step: each forecast's MSE, MAE (original units) and NSE at every step, variable k. */
static void print_steps(const char *series, const char *var, const hz_skill *sk, int k)
{
    printf("per step  series %s  variable %s  (original units)\n  %4s", series, var, "");
    for (int fc = 0; fc < HZ_FC_N; fc++)
        printf(fc < HZ_FC_N - 1 ? "  %-28s" : "  %s", hz_fc_name[fc]);
    printf("\n  %4s", "step");
    for (int fc = 0; fc < HZ_FC_N; fc++)
        printf("  %10s %10s %6s", "mse", "mae", "nse");
    printf("\n");
    for (int t = 0; t < sk->pred_len; t++) {
        printf("  %4d", t + 1);
        for (int fc = 0; fc < HZ_FC_N; fc++) {
            hz_skill_scores r;
            hz_skill_get(sk, fc, k, t, &r);
            printf("  %10.4g %10.4g %6s", r.mse, r.mae, FMT(r.nse, 3, 0));
        }
        printf("\n");
    }
}

/* The tables of one series: a block per variable (one series evaluated) or rows (many);
 * with --per-step, each variable's steps. */
static void print_skill(const eval_ctx *e, const char *series, const hz_prepared *d,
                        const hz_skill *sk, int block)
{
    for (int k = 0; k < sk->vars; k++) {
        const char *var = d->names[hz_windows_out_col(&d->win[2], k)];
        if (block)
            print_block(series, var, sk, k);
        else
            print_compact(series, var, sk, k);
        if (e->per_step)
            print_steps(series, var, sk, k);
    }
}

/* s's NSE and KGE of each forecast, means over the variables, and for one variable the
 * model's errors in original units. */
static void summarise(const hz_skill *sk, series_scores *s)
{
    hz_skill_scores r;
    s->vars = sk->vars;
    for (int fc = 0; fc < HZ_FC_N; fc++)
        for (int k = 0; k < sk->vars; k++) {
            hz_skill_get(sk, fc, k, -1, &r);
            s->nse[fc] += r.nse / sk->vars;
            s->kge[fc] += r.kge / sk->vars;
        }
    hz_skill_get(sk, HZ_FC_MODEL, 0, -1, &r);
    s->mse_orig = sk->vars == 1 ? r.mse : NAN;
    s->mae_orig = sk->vars == 1 ? r.mae : NAN;
}

/* The series' line that scripts read (tests/e2e/pooled.sh, bench/pooled.sh). */
static void print_series_line(const char *series, const series_scores *s, const char *rule)
{
    printf("series %s windows=%d mse=%.6f mae=%.6f", series, s->windows, s->mse, s->mae);
    if (s->vars == 1)
        printf(" mse_orig=%.6g mae_orig=%.6g", s->mse_orig, s->mae_orig);
    printf(" nse=%s kge=%s persistence_nse=%s window_mean_nse=%s cov90=%.4f cov99=%.4f "
           "scaler=%s\n",
           FMT(s->nse[HZ_FC_MODEL], 4, 0), FMT(s->kge[HZ_FC_MODEL], 4, 0),
           FMT(s->nse[HZ_FC_PERSIST], 4, 0), FMT(s->nse[HZ_FC_MEAN], 4, 0), s->iv.cov90,
           s->iv.cov99, rule);
}

/* ---- series by series */

/* The scaler of series (NULL: the source's one series) for e's checkpoint: its own from a
 * pooled checkpoint that was trained on it; fitted on the first seq_len rows of table for a
 * series a pooled checkpoint has not seen (as horizond does with its first full window,
 * pipeline/forecaster.c); otherwise the checkpoint's.  Returns the rule's name. */
static const char *series_scaler(const eval_ctx *e, const char *series, const hz_table *t,
                                 hz_scaler *out)
{
    *out = e->sc;
    if (e->ss.n == 0)
        return "checkpoint";
    int i = series ? hz_series_stats_find(&e->ss, series) : -1;
    if (i >= 0) {
        hz_series_stats_apply(&e->ss, i, out);
        return "trained";
    }
    int L = e->m->conf.seq_len < t->rows ? e->m->conf.seq_len : t->rows;
    for (int c = 0; c < t->cols && c < out->cols; c++)
        hz_scaler_fit_col(out, c, t->values + c, (size_t)t->cols, L);
    return "first_window";
}

/* The name series is shown by: its own, a CSV source's fixed series id, else "-". */
static const char *series_label(const hz_pipeline_conf *p, const char *series)
{
    const char *csv = p->source.kind == HZ_CFG_SOURCE_CSV ? p->source.csv.series : NULL;
    return series ? series : csv && *csv ? csv : "-";
}

/* series' data (NULL: the source's only one) split and scaled for e's checkpoint, *rule
 * the scaler's (series_scaler).  HZ_EXIT_OK or HZ_EXIT_FAIL (message printed). */
static int load_series(const eval_ctx *e, const char *series, hz_prepared *d, hz_scaler *sc,
                       const char **rule)
{
    char err[HZ_ERRLEN];
    if (hz_prepared_load(e->cfg, e->p, series, d, err, sizeof err) ||
        !(*rule = series_scaler(e, series, &d->table, sc)) ||
        hz_prepared_split(e->p, &e->m->conf, sc, d, err, sizeof err)) {
        hz_cli_error(CMD, "%s", err);
        return HZ_EXIT_FAIL;
    }
    for (int i = 0; i < e->n_names && i < d->table.cols; i++)
        if (strcmp(e->names[i], d->names[i])) {
            hz_cli_error(CMD, "%s: variable %d is %s in the checkpoint, %s in the data", e->ckpt,
                         i + 1, e->names[i], d->names[i]);
            return HZ_EXIT_FAIL;
        }
    return HZ_EXIT_OK;
}

/* Backtest of e's checkpoint on one series' test split (series NULL: the source's only
 * one), with the naive forecasts of the same windows; with verbose (one series) a block per
 * variable and the intervals are printed, else rows of the many-series table; then the
 * series' line.  HZ_EXIT_OK or HZ_EXIT_FAIL (message printed). */
static int eval_series(const eval_ctx *e, const char *series, int verbose, series_scores *s)
{
    char err[HZ_ERRLEN];
    hz_prepared d;
    memset(&d, 0, sizeof d);
    hz_eval_result et = {0};
    hz_skill sk = {0};
    hz_scaler sc;
    float *pred = NULL;
    hz_model *m = e->m;
    const char *rule = NULL, *name = series_label(e->p, series);
    int rc = load_series(e, series, &d, &sc, &rule);
    if (rc)
        goto out;
    /* iTransformer scores every test window (batch 1 in its repo); Informer's loader
     * drops the last partial batch of 32 (docs/MODELS.md) */
    int informer = m->conf.kind == HZ_MODEL_INFORMER;
    const hz_windows *w = &d.win[2];
    int P = m->conf.pred_len, O = hz_windows_out_cols(w);
    pred = malloc((size_t)w->count * P * O * sizeof *pred + 1);
    if (!pred || hz_evaluate(m, w, 32, informer, &d.scaler, pred, &et) ||
        hz_skill_init(&sk, P, O, err, sizeof err)) {
        hz_cli_error(CMD, "out of memory");
        rc = HZ_EXIT_FAIL;
        goto out;
    }
    hz_skill_add(&sk, w, &d.scaler, pred, et.windows);
    *s = (series_scores){
        .windows = et.windows, .mse = et.mse, .mae = et.mae, .points = (size_t)et.windows * P * O};
    summarise(&sk, s);
    if (verbose)
        printf("eval: %s on %s, %s, test windows %d%s\n", e->ckpt, e->p->name,
               hz_model_kind_name(m->conf.kind), et.windows,
               informer ? " (drop_last, batch 32)" : "");
    print_skill(e, name, &d, &sk, verbose);
    if (e->plot) {
        if (write_plot(e->plot, m, &d, err, sizeof err))
            hz_cli_error(CMD, "%s", err);
        else
            printf("plot %s\n", e->plot);
    }
    coverage(e->p, e->f, &d, &sc, pred, et.windows, P, verbose, &s->iv);
    print_series_line(name, s, rule);
out:
    free(pred);
    hz_skill_free(&sk);
    hz_eval_free(&et);
    hz_prepared_free(&d);
    return rc;
}

/* The series to score: --series; with model.data.pool every series of the SQLite table;
 * else the source's only one (by name when the SQLite table holds one; otherwise NULL, and
 * hz_prepared_load says why).  *ids owned by the caller (hz_names_free). */
static int series_list(const hz_pipeline_conf *p, const char *series, char ***ids, int *n)
{
    char err[HZ_ERRLEN], **all = NULL;
    int m = 0;
    *n = 1;
    *ids = calloc(1, sizeof **ids);
    if (!*ids) {
        hz_cli_error(CMD, "out of memory");
        return HZ_EXIT_FAIL;
    }
    if (series)
        (*ids)[0] = strdup(series);
    if (series || p->source.kind != HZ_CFG_SOURCE_SQLITE)
        return HZ_EXIT_OK;
    int rc = hz_pool_list(p->source.sqlite.path, p->source.sqlite.table, &all, &m, err, sizeof err);
    if (!p->model.data.pool) {
        if (!rc && m == 1) {
            (*ids)[0] = all[0];
            all[0] = NULL;
        }
        hz_names_free(all, m);
        return HZ_EXIT_OK;
    }
    if (rc) {
        hz_cli_error(CMD, "%s", err);
        return HZ_EXIT_FAIL;
    }
    hz_names_free(*ids, 1);
    *ids = all;
    *n = m;
    return HZ_EXIT_OK;
}

/* The pooled line over n series' scores: errors weighted by windows (in original units only
 * for a model of one variable), coverage by points, NSE and KGE the means over the series;
 * left in *s as the checkpoint's overall scores. */
static void pool_scores(const series_scores *sc, int n, eval_scores *s)
{
    double w = 0, pts = 0, mo = 0, ao = 0, kge = 0, nse[HZ_FC_N] = {0};
    *s = (eval_scores){0};
    for (int i = 0; i < n; i++) {
        w += sc[i].windows;
        pts += (double)sc[i].points;
        s->mse += sc[i].mse * sc[i].windows;
        s->mae += sc[i].mae * sc[i].windows;
        mo += sc[i].mse_orig * sc[i].windows;
        ao += sc[i].mae_orig * sc[i].windows;
        s->cov90 += sc[i].iv.cov90 * (double)sc[i].points;
        s->cov99 += sc[i].iv.cov99 * (double)sc[i].points;
        for (int fc = 0; fc < HZ_FC_N; fc++)
            nse[fc] += sc[i].nse[fc] / n;
        kge += sc[i].kge[HZ_FC_MODEL] / n;
    }
    s->mse /= w;
    s->mae /= w;
    s->cov90 /= pts;
    s->cov99 /= pts;
    s->nse = nse[HZ_FC_MODEL];
    s->pnse = nse[HZ_FC_PERSIST];
    printf("pooled series=%d windows=%.0f mse=%.6f mae=%.6f", n, w, s->mse, s->mae);
    if (sc[0].vars == 1)
        printf(" mse_orig=%.6g mae_orig=%.6g", mo / w, ao / w);
    printf(" mean_nse=%s mean_kge=%s persistence_nse=%s window_mean_nse=%s cov90=%.4f "
           "cov99=%.4f\n",
           FMT(s->nse, 4, 0), FMT(kge, 4, 0), FMT(s->pnse, 4, 0), FMT(nse[HZ_FC_MEAN], 4, 0),
           s->cov90, s->cov99);
}

/* Backtest of one checkpoint on the pipeline's test split, series by series; leaves the
 * overall (pooled) scores in *s.  HZ_EXIT_OK or HZ_EXIT_FAIL (message printed). */
static int eval_checkpoint(const hz_config *cfg, const hz_pipeline_conf *p, const eval_args *a,
                           const char *ckpt, const char *plot, eval_scores *s)
{
    char err[HZ_ERRLEN];
    eval_ctx e = {.cfg = cfg, .p = p, .ckpt = ckpt, .plot = plot, .per_step = a->per_step};
    char **ids = NULL;
    int n = 0, rc = HZ_EXIT_FAIL;
    series_scores *sc = NULL;
    if (hz_ckpt_load(ckpt, &e.m, &e.f, err, sizeof err) ||
        hz_meta_scaler_parse(e.f, &e.sc, &e.names, &e.n_names, err, sizeof err) ||
        hz_meta_series_parse(e.f, e.n_names, &e.ss, err, sizeof err)) {
        hz_cli_error(CMD, "%s", err);
        goto out;
    }
    if (series_list(p, a->m.series, &ids, &n) || !(sc = calloc((size_t)n, sizeof *sc)))
        goto out;
    if (n > 1)
        print_compact_head(e.m->conf.pred_len);
    for (int i = 0; i < n; i++) {
        if (eval_series(&e, ids[i], n == 1, &sc[i]))
            goto out;
        e.plot = NULL; /* the first series only */
    }
    if (n > 1)
        pool_scores(sc, n, s);
    else
        *s = (eval_scores){.mse = sc[0].mse,
                           .mae = sc[0].mae,
                           .cov90 = sc[0].iv.cov90,
                           .cov99 = sc[0].iv.cov99,
                           .nse = sc[0].nse[HZ_FC_MODEL],
                           .pnse = sc[0].nse[HZ_FC_PERSIST]};
    rc = HZ_EXIT_OK;
out:
    free(sc);
    hz_names_free(ids, n);
    hz_names_free(e.names, e.n_names);
    hz_series_stats_free(&e.ss);
    hz_st_close(e.f);
    hz_model_free(e.m);
    return rc;
}

/* The scripts' itr: every repeat's checkpoint scored, their mean left in *mean. */
static int eval_repeats(const hz_config *cfg, const hz_pipeline_conf *p, const eval_args *a,
                        eval_scores *mean)
{
    int n = p->model.train.repeats;
    double m2 = 0;
    eval_scores r_s[100];
    char path[1100];
    *mean = (eval_scores){0};
    for (int r = 0; r < n; r++) {
        hz_repeat_path(p->model.checkpoint, r, path, sizeof path);
        int rc = eval_checkpoint(cfg, p, a, path, r == 0 ? a->plot : NULL, &r_s[r]);
        if (rc)
            return rc;
        mean->mse += r_s[r].mse / n;
        mean->mae += r_s[r].mae / n;
        mean->cov90 += r_s[r].cov90 / n;
        mean->cov99 += r_s[r].cov99 / n;
        mean->nse += r_s[r].nse / n;
        mean->pnse += r_s[r].pnse / n;
    }
    double min = r_s[0].mse;
    for (int r = 0; r < n; r++) {
        printf("repeat %d (seed %d): test mse=%.6f mae=%.6f cov90=%.4f cov99=%.4f nse=%s\n", r,
               p->model.train.seed + r, r_s[r].mse, r_s[r].mae, r_s[r].cov90, r_s[r].cov99,
               FMT(r_s[r].nse, 4, 0));
        m2 += (r_s[r].mse - mean->mse) * (r_s[r].mse - mean->mse);
        min = r_s[r].mse < min ? r_s[r].mse : min;
    }
    printf("repeats %d: mean test mse %.6f (sd %.6f, min %.6f) mae %.6f\n", n, mean->mse,
           sqrt(m2 / (n - 1)), min, mean->mae);
    return HZ_EXIT_OK;
}

/* Task disaggregate (cli/eval_disagg.c); the last line is read by scripts
 * (tests/e2e/nilm.sh, bench/nilm.sh). */
static int eval_disagg(const eval_args *a, const hz_config *cfg, const hz_pipeline_conf *p)
{
    hz_disagg_means r;
    int rc = hz_eval_disagg(cfg, p, a->m.series, a->m.checkpoint, a->appliance, &r);
    if (!rc && r.plain)
        printf("test mae=%.4f f1=%.4f baseline_mean_mae=%.4f baseline_plain_mae=%.4f "
               "plain_f1=%.4f\n",
               r.mae, r.f1, r.base_mae, r.plain_mae, r.plain_f1);
    else if (!rc)
        printf("test mae=%.4f f1=%.4f baseline_mean_mae=%.4f\n", r.mae, r.f1, r.base_mae);
    return rc;
}

static int run(const eval_args *a)
{
    hz_config *cfg;
    const hz_pipeline_conf *p;
    if (hz_cli_load(CMD, &a->m, &cfg, &p))
        return HZ_EXIT_FAIL;
    eval_scores s = {0};
    int rc;
    if (p->model.task == HZ_CFG_TASK_DISAGGREGATE) {
        rc = eval_disagg(a, cfg, p);
        hz_config_free(cfg);
        return rc;
    }
    if (a->m.checkpoint || p->model.train.repeats <= 1)
        rc = eval_checkpoint(cfg, p, a, a->m.checkpoint ? a->m.checkpoint : p->model.checkpoint,
                             a->plot, &s);
    else
        rc = eval_repeats(cfg, p, a, &s);
    /* scripts read the first fields (tests/e2e/model_cli.sh, bench/accuracy.sh) */
    if (!rc)
        printf("test mse=%.6f mae=%.6f cov90=%.4f cov99=%.4f nse=%s persistence_nse=%s\n", s.mse,
               s.mae, s.cov90, s.cov99, FMT(s.nse, 4, 0), FMT(s.pnse, 4, 0));
    hz_config_free(cfg);
    return rc;
}

int hz_cmd_eval(int argc, char **argv)
{
    eval_args a;
    char err[HZ_ERRLEN] = "";
    int rc = hz_cli_parse_exit(CMD, parse(argc, argv, &a, err, sizeof err), err, usage);
    return rc >= 0 ? rc : run(&a);
}
