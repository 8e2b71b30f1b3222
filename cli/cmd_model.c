/* cmd_model.c — `horizon train`, `horizon eval` and `horizon forecast` (DESIGN.md,
 * "Programs"; issue "iTransformer in C").  train: the pipeline's data, split and scaled as in
 * the papers (MODELS.md §1), trained with early stopping, written as a safetensors
 * checkpoint (config, scaler, variables, period, metrics, validation residual quantiles) and
 * registered in the SQLite `models` table.  eval: the test split, scaled and original units,
 * per horizon step.  forecast: the last seq_len rows of any CSV, in original units. */
#include "cli/cmd_model.h"

#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "models/checkpoint.h"
#include "config/config.h"
#include "connectors/csv.h"
#include "common/hz.h"
#include "training/prepare.h"
#include "training/train.h"
#include "training/trainer.h"

static const hz_pipeline_conf *pick_pipeline(const hz_config *cfg, const char *name)
{
    if (name) {
        const hz_pipeline_conf *p = hz_config_pipeline(cfg, name);
        if (!p)
            fprintf(stderr, "horizon: %s: no pipeline named '%s'\n", cfg->path, name);
        return p;
    }
    return cfg->n_pipelines ? &cfg->pipelines[0] : NULL;
}

static void print_eval(const char *split, const hz_eval_result *r, int per_step)
{
    if (per_step) {
        printf("step  mse       mae\n");
        for (int t = 0; r->mse_step && t < per_step; t++)
            printf("%4d  %.6f  %.6f\n", t + 1, r->mse_step[t], r->mae_step[t]);
    }
    printf("%s windows=%d mse_orig=%.6g mae_orig=%.6g\n", split, r->windows, r->mse_orig,
           r->mae_orig);
}

/* The -c file of train / eval: -1 with *cfg loaded, else the exit code (2 usage, 1 error). */
static int load_config(const char *path, void (*usage)(FILE *), hz_config **cfg)
{
    if (!path) {
        usage(stderr);
        return 2;
    }
    char err[HZ_ERRLEN];
    if (hz_config_load(path, cfg, err, sizeof err)) {
        fprintf(stderr, "horizon: %s\n", err);
        return 1;
    }
    return -1;
}

/* The options train and eval share: -c, -p, --series, --checkpoint.  1 when ch was one. */
static int common_opt(int ch, const char **conf, const char **pname, const char **series,
                      const char **ckpt)
{
    const char **dst = ch == 'c'   ? conf
                       : ch == 'p' ? pname
                       : ch == 's' ? series
                       : ch == 'k' ? ckpt
                                   : NULL;
    if (dst)
        *dst = optarg;
    return dst != NULL;
}

/* SIGINT / SIGTERM during `horizon train`: the first ends training after the running epoch
 * as an early stop would (best weights calibrated, written and registered; the run's state
 * kept for --resume), the second aborts without a checkpoint (the state of the last
 * finished epoch stays), a third kills. */
static atomic_int g_train_stop, g_train_cancel;

#define SAY_RAW(lit) say_raw(lit, sizeof lit - 1)
static void say_raw(const char *msg, size_t len)
{
    ssize_t n = write(STDERR_FILENO, msg, len); /* async-signal-safe */
    (void)n;
}

static void on_train_signal(int sig)
{
    if (!atomic_exchange(&g_train_stop, 1)) {
        SAY_RAW("\nhorizon: stopping after this epoch, best weights kept (again to abort)\n");
        return;
    }
    atomic_store(&g_train_cancel, 1);
    SAY_RAW("\nhorizon: aborting, no checkpoint written\n");
    signal(sig == SIGINT ? SIGTERM : SIGINT, SIG_DFL);
    signal(sig, SIG_DFL);
}

static void usage_train(FILE *f)
{
    fprintf(f, "usage: horizon train -c FILE.yaml [-p PIPELINE] [--series S] [--epochs N]\n"
               "                     [--checkpoint PATH] [--threads N] [--repeat K] [--resume]\n"
               "Trains the pipeline's model on its source (CSV, or one series of an SQLite\n"
               "readings table) with the papers' split and scaling, writes the checkpoint\n"
               "and registers it in the database's models table.  With train.repeats N > 1\n"
               "it trains N runs (seeds seed..seed+N-1) and serves the one with the lowest\n"
               "validation loss; --repeat K trains run K only.\n"
               "Ctrl-C (SIGINT or SIGTERM) ends training after the running epoch and keeps the\n"
               "best weights so far; a second one aborts without writing a checkpoint.\n"
               "After every epoch the run's state (weights, optimiser, random generators) is\n"
               "saved to CHECKPOINT.state; --resume continues a run that was stopped, aborted\n"
               "or killed from its last finished epoch, to the same result as a run never\n"
               "interrupted.  The state is removed once the run has written its checkpoint.\n");
}

int hz_cmd_train(int argc, char **argv)
{
    const char *conf_path = NULL, *pname = NULL, *series = NULL, *ckpt = NULL;
    int epochs = -1, max_batches = 0, repeat = -1, threads = 0, resume = 0;
    static const struct option lo[] = {{"config", 1, 0, 'c'},
                                       {"pipeline", 1, 0, 'p'},
                                       {"series", 1, 0, 's'},
                                       {"epochs", 1, 0, 'e'},
                                       {"checkpoint", 1, 0, 'k'},
                                       {"max-batches", 1, 0, 'm'},
                                       {"threads", 1, 0, 't'},
                                       {"repeat", 1, 0, 'r'},
                                       {"resume", 0, 0, 'R'},
                                       {"help", 0, 0, 'h'},
                                       {0, 0, 0, 0}};
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:p:s:h", lo, NULL)) != -1) {
        if (common_opt(ch, &conf_path, &pname, &series, &ckpt))
            continue;
        switch (ch) {
        case 'e':
            epochs = atoi(optarg);
            break;
        case 'm':
            max_batches = atoi(optarg);
            break;
        case 't': /* overrides model.train.threads */
            threads = atoi(optarg);
            if (threads < 1) {
                fprintf(stderr, "horizon: --threads expects a positive number, got %s\n", optarg);
                return 2;
            }
            break;
        case 'r':
            repeat = atoi(optarg);
            break;
        case 'R':
            resume = 1;
            break;
        case 'h':
            usage_train(stdout);
            return 0;
        default:
            usage_train(stderr);
            return 2;
        }
    }
    char err[HZ_ERRLEN];
    hz_config *cfg;
    int early = load_config(conf_path, usage_train, &cfg);
    if (early >= 0)
        return early;
    int rc = 1;
    const hz_pipeline_conf *p = pick_pipeline(cfg, pname);
    hz_pipeline_conf with_threads;
    if (p && threads > 0) {
        with_threads = *p;
        with_threads.model.train.threads = threads;
        p = &with_threads;
    }
    hz_on_signal(SIGINT, on_train_signal);
    hz_on_signal(SIGTERM, on_train_signal);
    hz_train_opts o = {.series = series,
                       .checkpoint = ckpt,
                       .epochs = epochs,
                       .max_batches = max_batches,
                       .cancel = &g_train_cancel,
                       .repeat = repeat >= 0 ? &repeat : NULL,
                       .stop = &g_train_stop,
                       .keep_state = 1,
                       .resume = resume ? HZ_RESUME : 0};
    hz_train_summary sum;
    if (p && hz_trainer_run(cfg, p, &o, &sum, err, sizeof err)) {
        fprintf(stderr, "horizon: %s\n", err);
    } else if (p) {
        const char *path = ckpt ? ckpt : p->model.checkpoint;
        char rpath[1100];
        if (repeat >= 0 && p->model.train.repeats > 1) {
            hz_repeat_path(path, repeat, rpath, sizeof rpath);
            path = rpath;
        }
        printf("checkpoint %s\n", path);
        if (sum.stopped)
            printf("stopped on request after epoch %d\n"
                   "`horizon train --resume` with the same options continues the run\n",
                   sum.epochs_run);
        if (p->model.train.repeats > 1 && repeat < 0) {
            printf("best val mse=%.6f\n", sum.val_mse);
            printf("test (mean of %d repeats) mse=%.6f mae=%.6f\n", p->model.train.repeats,
                   sum.test_mse, sum.test_mae);
        } else {
            printf("val mse=%.6f mae=%.6f\n", sum.val_mse, sum.val_mae);
            printf("test mse=%.6f mae=%.6f\n", sum.test_mse, sum.test_mae);
        }
        rc = 0;
    }
    hz_config_free(cfg);
    return rc;
}

/* ---- eval */

static double min_of(const double *v, int n)
{
    double m = v[0];
    for (int i = 1; i < n; i++)
        m = v[i] < m ? v[i] : m;
    return m;
}

/* Forecast vs actual of the last variable for a few test windows, as an SVG. */
static int write_plot(const char *path, hz_model *m, const hz_prepared *d, char *err, size_t errlen)
{
    const hz_windows *w = &d->win[2];
    if (w->count < 1)
        return hz_err(err, errlen, HZ_EINVAL, "no test windows to plot");
    FILE *f = fopen(path, "w");
    if (!f)
        return hz_err(err, errlen, HZ_EIO, "%s: cannot write", path);
    int L = w->seq_len, P = w->pred_len, C = w->cols, k = C - 1, lab = w->label_len;
    int picks[3] = {0, w->count / 2, w->count - 1};
    int W = 900, H = 220;
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%%\" "
            "height=\"100%%\" fill=\"white\"/>\n",
            W, 3 * H + 20);
    size_t in_n = (size_t)L * C, dec_n = (size_t)(lab + P) * C;
    hz_real *x = malloc(in_n * sizeof *x), *xd = malloc(dec_n * sizeof *xd);
    size_t nm = w->n_marks ? (size_t)w->n_marks : 1;
    hz_real *xm = malloc(L * nm * sizeof *xm), *xmd = malloc((lab + P) * nm * sizeof *xmd);
    hz_real *y = malloc((size_t)P * C * sizeof *y);
    hz_ctx c;
    hz_ctx_init(&c, 1 << 20, 0);
    int rc =
        !x || !xd || !xm || !xmd || !y ? hz_err(err, errlen, HZ_ENOMEM, "plot: out of memory") : 0;
    for (int i = 0; i < 3 && !rc; i++) {
        hz_windows_batch(w, &picks[i], 1, x, w->n_marks ? xm : NULL, xd, w->n_marks ? xmd : NULL,
                         y);
        hz_model_input in = {1, x, w->n_marks ? xm : NULL, xd, w->n_marks ? xmd : NULL};
        hz_ctx_reset(&c);
        hz_tensor *out = hz_model_forward(m, &c, &in);
        double lo = INFINITY, hi = -INFINITY, v[2][4096];
        int n = L + P;
        if (n > 4096)
            n = 4096;
        for (int t = 0; t < n; t++) {
            double a = t < L ? x[t * C + k] : y[(t - L) * C + k];
            double b = t < L ? NAN : out->data[(t - L) * C + k];
            v[0][t] = a * d->scaler.std[k] + d->scaler.mean[k];
            v[1][t] = b * d->scaler.std[k] + d->scaler.mean[k];
            for (int s = 0; s < 2; s++)
                if (!isnan(v[s][t])) {
                    lo = fmin(lo, v[s][t]);
                    hi = fmax(hi, v[s][t]);
                }
        }
        if (hi <= lo)
            hi = lo + 1;
        int y0 = i * H + 20;
        fprintf(f,
                "<text x=\"10\" y=\"%d\">%s, test window %d (blue: actual, red: forecast)</text>\n",
                y0 + 12, d->names[k], picks[i]);
        for (int s = 0; s < 2; s++) {
            fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"",
                    s ? "#d62728" : "#1f77b4");
            for (int t = 0; t < n; t++)
                if (!isnan(v[s][t]))
                    fprintf(f, "%.1f,%.1f ", 40 + (double)t / (n - 1) * (W - 60),
                            y0 + 25 + (1 - (v[s][t] - lo) / (hi - lo)) * (H - 45));
            fprintf(f, "\"/>\n");
        }
        double xs = 40 + (double)L / (n - 1) * (W - 60);
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#999\" "
                "stroke-dasharray=\"4\"/>\n",
                xs, y0 + 20, xs, y0 + H - 15);
    }
    fprintf(f, "</svg>\n");
    hz_ctx_free(&c);
    free(x);
    free(xd);
    free(xm);
    free(xmd);
    free(y);
    if (fclose(f) && !rc)
        rc = hz_err(err, errlen, HZ_EIO, "%s: write failed", path);
    return rc;
}

static void usage_eval(FILE *f)
{
    fprintf(f, "usage: horizon eval -c FILE.yaml [-p PIPELINE] [--series S]\n"
               "                    [--checkpoint PATH] [--plot FILE.svg]\n"
               "Backtests the checkpoint on the held-out test split (papers' protocol):\n"
               "MSE and MAE per horizon step and overall, on scaled data and in original\n"
               "units.  The last line is `test mse=X mae=Y` (scaled data); with\n"
               "train.repeats N > 1 every repeat is scored and the line is their mean.\n");
}

/* Backtest of one checkpoint on the pipeline's test split; prints the per-step table and
 * leaves the overall scaled MSE/MAE in *mse, *mae. */
static int eval_checkpoint(const hz_config *cfg, const hz_pipeline_conf *p, const char *series,
                           const char *ckpt, const char *plot, double *mse, double *mae)
{
    char err[HZ_ERRLEN];
    int rc = 1, n_names = 0;
    char **names = NULL;
    hz_prepared d;
    memset(&d, 0, sizeof d);
    hz_model *m = NULL;
    hz_st_file *f = NULL;
    hz_eval_result et = {0};
    hz_scaler sc;
    if (hz_ckpt_load(ckpt, &m, &f, err, sizeof err) ||
        hz_meta_scaler_parse(f, &sc, &names, &n_names, err, sizeof err) ||
        hz_prepared_load(cfg, p, series, &d, err, sizeof err) ||
        hz_prepared_split(p, &m->conf, &sc, &d, err, sizeof err)) {
        fprintf(stderr, "horizon: %s\n", err);
        goto out;
    }
    for (int i = 0; i < n_names && i < d.table.cols; i++)
        if (strcmp(names[i], d.names[i])) {
            fprintf(stderr, "horizon: %s: variable %d is %s in the checkpoint, %s in the data\n",
                    ckpt, i + 1, names[i], d.names[i]);
            goto out;
        }
    /* iTransformer scores every test window (batch 1 in its repo); Informer's loader
     * drops the last partial batch of 32 (MODELS.md §2.9) */
    int informer = m->conf.kind == HZ_MODEL_INFORMER;
    if (hz_evaluate(m, &d.win[2], 32, informer, &d.scaler, NULL, &et)) {
        fprintf(stderr, "horizon: out of memory\n");
        goto out;
    }
    printf("eval: %s on %s, %s, test windows %d%s\n", ckpt, p->name,
           hz_model_kind_name(m->conf.kind), et.windows, informer ? " (drop_last, batch 32)" : "");
    print_eval("test", &et, m->conf.pred_len);
    if (plot) {
        if (write_plot(plot, m, &d, err, sizeof err))
            fprintf(stderr, "horizon: %s\n", err);
        else
            printf("plot %s\n", plot);
    }
    *mse = et.mse;
    *mae = et.mae;
    rc = 0;
out:
    hz_eval_free(&et);
    hz_names_free(names, n_names);
    hz_st_close(f);
    hz_model_free(m);
    hz_prepared_free(&d);
    return rc;
}

int hz_cmd_eval(int argc, char **argv)
{
    const char *conf_path = NULL, *pname = NULL, *series = NULL, *ckpt = NULL, *plot = NULL;
    static const struct option lo[] = {{"config", 1, 0, 'c'}, {"pipeline", 1, 0, 'p'},
                                       {"series", 1, 0, 's'}, {"checkpoint", 1, 0, 'k'},
                                       {"plot", 1, 0, 'g'},   {"help", 0, 0, 'h'},
                                       {0, 0, 0, 0}};
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:p:s:h", lo, NULL)) != -1) {
        if (common_opt(ch, &conf_path, &pname, &series, &ckpt))
            continue;
        switch (ch) {
        case 'g':
            plot = optarg;
            break;
        case 'h':
            usage_eval(stdout);
            return 0;
        default:
            usage_eval(stderr);
            return 2;
        }
    }
    hz_config *cfg;
    int early = load_config(conf_path, usage_eval, &cfg);
    if (early >= 0)
        return early;
    int rc = 1;
    double mse = 0, mae = 0;
    const hz_pipeline_conf *p = pick_pipeline(cfg, pname);
    if (!p)
        goto out;
    int n = ckpt ? 1 : p->model.train.repeats;
    if (n <= 1) {
        rc = eval_checkpoint(cfg, p, series, ckpt ? ckpt : p->model.checkpoint, plot, &mse, &mae);
    } else { /* the scripts' itr: every repeat scored, their mean reported */
        double sm = 0, sa = 0, m2 = 0, r_mse[100], r_mae[100];
        char path[1100];
        rc = 0;
        for (int r = 0; r < n && !rc; r++) {
            hz_repeat_path(p->model.checkpoint, r, path, sizeof path);
            rc = eval_checkpoint(cfg, p, series, path, r == 0 ? plot : NULL, &r_mse[r], &r_mae[r]);
            sm += r_mse[r];
            sa += r_mae[r];
        }
        if (rc)
            goto out;
        mse = sm / n;
        mae = sa / n;
        for (int r = 0; r < n; r++) {
            printf("repeat %d (seed %d): test mse=%.6f mae=%.6f\n", r, p->model.train.seed + r,
                   r_mse[r], r_mae[r]);
            m2 += (r_mse[r] - mse) * (r_mse[r] - mse);
        }
        printf("repeats %d: mean test mse %.6f (sd %.6f, min %.6f) mae %.6f\n", n, mse,
               sqrt(m2 / (n - 1)), min_of(r_mse, n), mae);
    }
    if (!rc)
        printf("test mse=%.6f mae=%.6f\n", mse, mae);
out:
    hz_config_free(cfg);
    return rc;
}

/* ---- forecast */

static void usage_forecast(FILE *f)
{
    fprintf(f, "usage: horizon forecast --checkpoint C --input FILE.csv [--output OUT.csv]\n"
               "                        [--time-column C] [--date-order ymd|mdy|dmy]\n"
               "Reads the last seq_len rows of FILE.csv (its time column and the model's\n"
               "variables, by name) and writes pred_len rows: timestamp (continuing the\n"
               "input's period) and one column per variable, in original units.\n");
}

static void fmt_time(int64_t ms, char *buf, size_t n)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm);
}

int hz_cmd_forecast(int argc, char **argv)
{
    const char *ckpt = NULL, *input = NULL, *output = NULL, *time_col = NULL;
    int date_order = HZ_CSV_YMD;
    static const struct option lo[] = {{"checkpoint", 1, 0, 'k'},
                                       {"input", 1, 0, 'i'},
                                       {"output", 1, 0, 'o'},
                                       {"time-column", 1, 0, 'T'},
                                       {"date-order", 1, 0, 'D'},
                                       {"help", 0, 0, 'h'},
                                       {0, 0, 0, 0}};
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "k:i:o:h", lo, NULL)) != -1) {
        switch (ch) {
        case 'k':
            ckpt = optarg;
            break;
        case 'i':
            input = optarg;
            break;
        case 'o':
            output = optarg;
            break;
        case 'T':
            time_col = optarg;
            break;
        case 'D':
            date_order = !strcmp(optarg, "mdy")   ? HZ_CSV_MDY
                         : !strcmp(optarg, "dmy") ? HZ_CSV_DMY
                                                  : HZ_CSV_YMD;
            break;
        case 'h':
            usage_forecast(stdout);
            return 0;
        default:
            usage_forecast(stderr);
            return 2;
        }
    }
    if (!ckpt || !input) {
        usage_forecast(stderr);
        return 2;
    }
    char err[HZ_ERRLEN];
    int rc = 1, n_names = 0;
    char **names = NULL;
    hz_model *m = NULL;
    hz_st_file *f = NULL;
    hz_csv_table *t = NULL;
    hz_real *x = NULL, *xm = NULL, *xd = NULL, *xmd = NULL;
    FILE *out = stdout;
    hz_scaler sc;
    hz_ctx c;
    hz_ctx_init(&c, 1 << 20, 0);
    if (hz_ckpt_load(ckpt, &m, &f, err, sizeof err) ||
        hz_meta_scaler_parse(f, &sc, &names, &n_names, err, sizeof err)) {
        fprintf(stderr, "horizon: %s\n", err);
        goto out;
    }
    const hz_model_conf *mc = &m->conf;
    /* the time column: --time-column, else the one the model was trained with when the
     * CSV has it, else the first column */
    const char *tcol = time_col ? time_col : hz_st_meta(f, "time_column");
    hz_csv_opts o = {0};
    o.time_column = tcol && *tcol ? tcol : NULL;
    o.columns = (const char *const *)names;
    o.ncolumns = n_names;
    o.date_order = date_order;
    int lrc = hz_csv_load(input, &o, &t, err, sizeof err);
    if (lrc && !time_col && o.time_column) {
        o.time_column = tcol = NULL;
        lrc = hz_csv_load(input, &o, &t, err, sizeof err);
    }
    if (lrc) {
        fprintf(stderr, "horizon: %s\n", err);
        goto out;
    }
    int L = mc->seq_len, P = mc->pred_len, lab = mc->label_len, C = n_names, F = mc->n_marks;
    if ((int)t->rows < L) {
        fprintf(stderr, "horizon: %s: %zu rows, the model needs the last %d\n", input, t->rows, L);
        goto out;
    }
    const char *pm = hz_st_meta(f, "period_ms");
    int64_t period = pm ? atoll(pm) : 0;
    size_t r0 = t->rows - (size_t)L;
    if (period <= 0)
        period = t->ts_ms[t->rows - 1] - t->ts_ms[t->rows - 2];
    x = malloc((size_t)L * C * sizeof *x);
    xd = calloc((size_t)(lab + P) * C, sizeof *xd);
    xm = malloc((size_t)L * 4 * sizeof *xm);
    xmd = malloc((size_t)(lab + P) * 4 * sizeof *xmd);
    for (int i = 0; i < L; i++)
        for (int k = 0; k < C; k++) {
            double v = t->values[(r0 + i) * C + k];
            if (isnan(v)) {
                fprintf(stderr, "horizon: %s: empty %s in the input window (row %zu)\n", input,
                        names[k], r0 + i + 2);
                goto out;
            }
            x[i * C + k] = (hz_real)((v - sc.mean[k]) / sc.std[k]);
        }
    for (int i = 0; i < lab; i++)
        memcpy(xd + (size_t)i * C, x + (size_t)(L - lab + i) * C, (size_t)C * sizeof *x);
    float mk[4];
    for (int i = 0; i < L && F; i++) {
        hz_timef_hour(t->ts_ms[r0 + i], mk);
        for (int j = 0; j < 4; j++)
            xm[i * 4 + j] = mk[j];
    }
    int64_t last = t->ts_ms[t->rows - 1];
    for (int i = 0; i < lab + P && F; i++) {
        hz_timef_hour(last + (int64_t)(i - lab + 1) * period, mk);
        for (int j = 0; j < 4; j++)
            xmd[i * 4 + j] = mk[j];
    }
    hz_model_input in = {1, x, F ? xm : NULL, xd, F ? xmd : NULL};
    hz_tensor *y = hz_model_forward(m, &c, &in);
    if (output && !(out = fopen(output, "w"))) {
        fprintf(stderr, "horizon: %s: cannot write\n", output);
        out = stdout;
        goto out;
    }
    fprintf(out, "%s", tcol && *tcol ? tcol : "time");
    for (int k = 0; k < C; k++)
        fprintf(out, ",%s", names[k]);
    fprintf(out, "\n");
    for (int s = 0; s < P; s++) {
        char tb[32];
        fmt_time(last + (int64_t)(s + 1) * period, tb, sizeof tb);
        fprintf(out, "%s", tb);
        for (int k = 0; k < C; k++)
            fprintf(out, ",%.6g", y->data[s * C + k] * sc.std[k] + sc.mean[k]);
        fprintf(out, "\n");
    }
    rc = 0;
out:
    if (out != stdout)
        fclose(out);
    free(x);
    free(xd);
    free(xm);
    free(xmd);
    hz_csv_table_free(t);
    hz_names_free(names, n_names);
    hz_st_close(f);
    hz_model_free(m);
    hz_ctx_free(&c);
    return rc;
}
