/* cmd_model.c — `horizon train`, `horizon eval` and `horizon forecast` (DESIGN.md,
 * "Programs"; issue "iTransformer in C").  train: the pipeline's data, split and scaled as in
 * the papers (MODELS.md §1), trained with early stopping, written as a safetensors
 * checkpoint (config, scaler, variables, period, metrics, validation residual quantiles) and
 * registered in the SQLite `models` table.  eval: the test split, scaled and original units,
 * per horizon step.  forecast: the last seq_len rows of any CSV, in original units. */
#include "cmd_model.h"

#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
#include "config.h"
#include "csv.h"
#include "hz.h"
#include "modeldata.h"
#include "train.h"

#define CALIB_Q 99 /* quantiles 0.01 .. 0.99 of |residual| per step and variable */

typedef struct progress {
    int tty;
    int epochs;
    int64_t t0;
} progress;

static void on_progress(void *opaque, int epoch, int phase, int batch, int n_batches, double loss,
                        double val_loss)
{
    progress *pr = opaque;
    if (phase == 0) {
        if (!pr->tty || (batch % 4 && batch != n_batches))
            return;
        int w = 30, done = (int)((double)batch / n_batches * w);
        char bar[32];
        for (int i = 0; i < w; i++)
            bar[i] = i < done ? '#' : '.';
        bar[w] = 0;
        fprintf(stderr, "\repoch %d/%d [%s] %d/%d loss %.4f", epoch, pr->epochs, bar, batch,
                n_batches, loss);
        fflush(stderr);
        return;
    }
    double secs = (hz_mono_ns() - pr->t0) / 1e9;
    if (pr->tty)
        fprintf(stderr, "\r\033[K");
    fprintf(stderr, "epoch %d/%d: train loss %.5f, val loss %.5f (%.1f s)\n", epoch, pr->epochs,
            loss, val_loss, secs);
}

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

/* Quantiles of |residual| per (step, variable) over n windows: out [P, C, CALIB_Q]. */
static void residual_quantiles(const float *abs_err, int n, int P, int C, float *out)
{
    float *col = malloc((size_t)n * sizeof *col);
    for (int t = 0; t < P; t++)
        for (int k = 0; k < C; k++) {
            for (int i = 0; i < n; i++)
                col[i] = abs_err[((size_t)i * P + t) * C + k];
            for (int i = 1; i < n; i++) { /* insertion sort is fine for a few thousand */
                float v = col[i];
                int j = i - 1;
                while (j >= 0 && col[j] > v) {
                    col[j + 1] = col[j];
                    j--;
                }
                col[j + 1] = v;
            }
            for (int q = 0; q < CALIB_Q; q++) {
                int idx = (int)ceil((q + 1) / 100.0 * (n + 1)) - 1;
                if (idx >= n)
                    idx = n - 1;
                if (idx < 0)
                    idx = 0;
                out[((size_t)t * C + k) * CALIB_Q + q] = col[idx];
            }
        }
    free(col);
}

static int register_model(const hz_config *cfg, const hz_pipeline_conf *p, const char *path,
                          const char *conf_json, const char *metrics, char *err, size_t errlen)
{
    if (!cfg->database || !*cfg->database)
        return 0;
    char sha[65];
    int rc = hz_file_sha256(path, sha, err, errlen);
    if (rc)
        return rc;
    sqlite3 *db;
    if (sqlite3_open(cfg->database, &db) != SQLITE_OK) {
        rc = hz_err(err, errlen, HZ_EDB, "%s: %s", cfg->database, sqlite3_errmsg(db));
        sqlite3_close(db);
        return rc;
    }
    sqlite3_busy_timeout(db, 5000);
    const char *ddl = "CREATE TABLE IF NOT EXISTS models(id TEXT PRIMARY KEY, pipeline TEXT "
                      "NOT NULL, kind TEXT NOT NULL, created INTEGER NOT NULL, config TEXT, "
                      "metrics TEXT, path TEXT NOT NULL, sha256 TEXT NOT NULL)";
    sqlite3_stmt *st = NULL;
    char id[96];
    snprintf(id, sizeof id, "%s-%.12s", p->name, sha);
    if (sqlite3_exec(db, ddl, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "INSERT OR REPLACE INTO models(id, pipeline, kind, created, config, "
                           "metrics, path, sha256) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = hz_err(err, errlen, HZ_EDB, "%s: %s", cfg->database, sqlite3_errmsg(db));
    } else {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, p->name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, hz_config_model_kind_name(p->model.kind), -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 4, hz_now_ms());
        sqlite3_bind_text(st, 5, conf_json, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 6, metrics, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 7, path, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 8, sha, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = hz_err(err, errlen, HZ_EDB, "%s: %s", cfg->database, sqlite3_errmsg(db));
        else
            fprintf(stderr, "registered model %s in %s\n", id, cfg->database);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

/* mkdir -p of path's directory, so a checkpoint or database can be written there. */
static void make_parent_dirs(const char *path)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *q = buf + 1; *q; q++)
        if (*q == '/') {
            *q = 0;
            mkdir(buf, 0755);
            *q = '/';
        }
}

static int64_t table_period(const hz_table *t)
{
    return t->rows > 1 ? t->ts_ms[t->rows - 1] - t->ts_ms[t->rows - 2] : 0;
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

static void usage_train(FILE *f)
{
    fprintf(f, "usage: horizon train -c FILE.yaml [-p PIPELINE] [--series S] [--epochs N]\n"
               "                     [--checkpoint PATH] [--threads N]\n"
               "Trains the pipeline's model on its source (CSV, or one series of an SQLite\n"
               "readings table) with the papers' split and scaling, writes the checkpoint\n"
               "and registers it in the database's models table.\n");
}

int hz_cmd_train(int argc, char **argv)
{
    const char *conf_path = NULL, *pname = NULL, *series = NULL, *ckpt = NULL;
    int epochs = -1, max_batches = 0;
    static const struct option lo[] = {
        {"config", 1, 0, 'c'},  {"pipeline", 1, 0, 'p'},   {"series", 1, 0, 's'},
        {"epochs", 1, 0, 'e'},  {"checkpoint", 1, 0, 'k'}, {"max-batches", 1, 0, 'm'},
        {"threads", 1, 0, 't'}, {"help", 0, 0, 'h'},       {0, 0, 0, 0}};
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:p:s:h", lo, NULL)) != -1) {
        switch (ch) {
        case 'c':
            conf_path = optarg;
            break;
        case 'p':
            pname = optarg;
            break;
        case 's':
            series = optarg;
            break;
        case 'e':
            epochs = atoi(optarg);
            break;
        case 'k':
            ckpt = optarg;
            break;
        case 'm':
            max_batches = atoi(optarg);
            break;
        case 't':
            setenv("OPENBLAS_NUM_THREADS", optarg, 1);
            break;
        case 'h':
            usage_train(stdout);
            return 0;
        default:
            usage_train(stderr);
            return 2;
        }
    }
    if (!conf_path) {
        usage_train(stderr);
        return 2;
    }
    char err[HZ_ERRLEN];
    hz_config *cfg;
    if (hz_config_load(conf_path, &cfg, err, sizeof err)) {
        fprintf(stderr, "horizon: %s\n", err);
        return 1;
    }
    int rc = 1;
    hz_prepared d;
    memset(&d, 0, sizeof d);
    hz_model *m = NULL;
    float *abs_err = NULL, *calib = NULL;
    char *conf_json = NULL, *vars = NULL, *scal = NULL, *metrics = NULL;
    hz_eval_result ev = {0}, et = {0};
    const hz_pipeline_conf *p = pick_pipeline(cfg, pname);
    if (!p)
        goto out;
    if (!ckpt)
        ckpt = p->model.checkpoint;
    if (hz_prepared_load(cfg, p, series, &d, err, sizeof err)) {
        fprintf(stderr, "horizon: %s\n", err);
        goto out;
    }
    hz_model_conf mc;
    if (hz_pipeline_model_conf(p, d.table.cols, &mc, err, sizeof err) ||
        hz_prepared_split(p, &mc, NULL, &d, err, sizeof err) ||
        hz_model_create(&mc, &m, err, sizeof err)) {
        fprintf(stderr, "horizon: %s\n", err);
        goto out;
    }
    hz_train_conf tc = {
        .epochs = epochs >= 0 ? epochs : p->model.train.epochs,
        .batch = p->model.train.batch,
        .patience = p->model.train.patience,
        .lr = p->model.train.lr,
        .weight_decay = p->model.train.weight_decay,
        .clip = p->model.train.clip,
        .adamw = p->model.train.optimizer == HZ_CFG_OPT_ADAMW,
        .lradj = p->model.train.lradj == HZ_CFG_LRADJ_TYPE1    ? HZ_LRADJ_TYPE1
                 : p->model.train.lradj == HZ_CFG_LRADJ_COSINE ? HZ_LRADJ_COSINE
                                                               : HZ_LRADJ_NONE,
        .seed = (uint64_t)p->model.train.seed,
        .max_train_batches = max_batches,
    };
    fprintf(stderr,
            "train: pipeline %s, %s, %d variables, %d rows; windows train %d val %d test %d; "
            "%lld parameters\n",
            p->name, hz_model_kind_name(mc.kind), d.table.cols, d.table.rows, d.win[0].count,
            d.win[1].count, d.win[2].count, (long long)m->params.n_trainable);
    progress pr = {isatty(STDERR_FILENO), tc.epochs, hz_mono_ns()};
    hz_train_result tr;
    if (tc.epochs > 0 &&
        hz_train(m, &d.win[0], &d.win[1], &tc, on_progress, &pr, &tr, err, sizeof err)) {
        fprintf(stderr, "horizon: %s\n", err);
        goto out;
    }
    /* validation residuals (original units) calibrate the anomaly intervals */
    int P = mc.pred_len, C = d.table.cols;
    abs_err = malloc((size_t)d.win[1].count * P * C * sizeof(float));
    calib = malloc((size_t)P * C * CALIB_Q * sizeof(float));
    int drop_last = mc.kind == HZ_MODEL_INFORMER;
    if (!abs_err || !calib || hz_evaluate(m, &d.win[1], tc.batch, 0, &d.scaler, abs_err, &ev) ||
        hz_evaluate(m, &d.win[2], tc.batch, drop_last, &d.scaler, NULL, &et)) {
        fprintf(stderr, "horizon: out of memory evaluating\n");
        goto out;
    }
    residual_quantiles(abs_err, ev.windows, P, C, calib);
    conf_json = hz_model_conf_to_json(&mc);
    vars = hz_meta_variables_json(d.names, C);
    scal = hz_meta_scaler_json(&d.scaler);
    char period[32], nm[16], buf[512];
    snprintf(period, sizeof period, "%lld", (long long)table_period(&d.table));
    snprintf(nm, sizeof nm, "%d", mc.n_marks);
    snprintf(buf, sizeof buf,
             "{\"val_mse\":%.6g,\"test_mse\":%.6g,\"test_mae\":%.6g,\"test_mse_orig\":%.6g,"
             "\"test_mae_orig\":%.6g,\"test_windows\":%d,\"epochs\":%d,\"best_epoch\":%d}",
             ev.mse, et.mse, et.mae, et.mse_orig, et.mae_orig, et.windows,
             tc.epochs > 0 ? tr.epochs_run : 0, tc.epochs > 0 ? tr.best_epoch : 0);
    metrics = strdup(buf);
    const char *meta[7][2] = {{"variables", vars},
                              {"scaler", scal},
                              {"period_ms", period},
                              {"n_marks", nm},
                              {"metrics", metrics},
                              {"pipeline", p->name},
                              {"time_column", p->source.fields.time ? p->source.fields.time : ""}};
    hz_ckpt_extra ex = {"calib.abs_residual_quantiles", 3, {P, C, CALIB_Q}, calib};
    make_parent_dirs(ckpt);
    if (cfg->database && *cfg->database)
        make_parent_dirs(cfg->database);
    if (hz_ckpt_save(m, ckpt, meta, 7, &ex, 1, err, sizeof err)) {
        fprintf(stderr, "horizon: %s\n", err);
        goto out;
    }
    printf("checkpoint %s\n", ckpt);
    if (register_model(cfg, p, ckpt, conf_json, metrics, err, sizeof err))
        fprintf(stderr, "horizon: warning: model not registered: %s\n", err);
    printf("val mse=%.6f mae=%.6f\n", ev.mse, ev.mae);
    printf("test mse=%.6f mae=%.6f\n", et.mse, et.mae);
    rc = 0;
out:
    hz_eval_free(&ev);
    hz_eval_free(&et);
    free(abs_err);
    free(calib);
    free(conf_json);
    free(vars);
    free(scal);
    free(metrics);
    hz_model_free(m);
    hz_prepared_free(&d);
    hz_config_free(cfg);
    return rc;
}

/* ---- eval */

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
    hz_real *xm = malloc((size_t)L * 4 * sizeof *xm), *xmd = malloc((size_t)(lab + P) * 4 * 4);
    hz_real *y = malloc((size_t)P * C * sizeof *y);
    hz_ctx c;
    hz_ctx_init(&c, 1 << 20, 0);
    for (int i = 0; i < 3; i++) {
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
    return fclose(f) ? hz_err(err, errlen, HZ_EIO, "%s: write failed", path) : 0;
}

static void usage_eval(FILE *f)
{
    fprintf(f, "usage: horizon eval -c FILE.yaml [-p PIPELINE] [--series S]\n"
               "                    [--checkpoint PATH] [--plot FILE.svg]\n"
               "Backtests the checkpoint on the held-out test split (papers' protocol):\n"
               "MSE and MAE per horizon step and overall, on scaled data and in original\n"
               "units.  The last line is `test mse=X mae=Y` (scaled data).\n");
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
        switch (ch) {
        case 'c':
            conf_path = optarg;
            break;
        case 'p':
            pname = optarg;
            break;
        case 's':
            series = optarg;
            break;
        case 'k':
            ckpt = optarg;
            break;
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
    if (!conf_path) {
        usage_eval(stderr);
        return 2;
    }
    char err[HZ_ERRLEN];
    hz_config *cfg;
    if (hz_config_load(conf_path, &cfg, err, sizeof err)) {
        fprintf(stderr, "horizon: %s\n", err);
        return 1;
    }
    int rc = 1, n_names = 0;
    char **names = NULL;
    hz_prepared d;
    memset(&d, 0, sizeof d);
    hz_model *m = NULL;
    hz_st_file *f = NULL;
    hz_eval_result et = {0};
    hz_scaler sc;
    const hz_pipeline_conf *p = pick_pipeline(cfg, pname);
    if (!p)
        goto out;
    if (!ckpt)
        ckpt = p->model.checkpoint;
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
    printf("test mse=%.6f mae=%.6f\n", et.mse, et.mae);
    rc = 0;
out:
    hz_eval_free(&et);
    hz_names_free(names, n_names);
    hz_st_close(f);
    hz_model_free(m);
    hz_prepared_free(&d);
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
