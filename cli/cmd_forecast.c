/* cmd_forecast.c — `horizon forecast`: a one-off forecast from the last seq_len rows of any
 * CSV with a checkpoint, in original units.  No YAML: the model, scaler, variable names,
 * period and time column come from the checkpoint's metadata (docs/MODELS.md); the output
 * is a CSV of pred_len rows whose timestamps continue the input's period, with each
 * variable's 90% and 99% intervals from the checkpoint's calibration (training/calibrate.h:
 * the validation split's normalised residuals, scaled by the input window's local spread and
 * clipped to the bounds the model was trained with; the intervals horizond starts from). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "common/hz.h"
#include "connectors/csv.h"
#include "models/checkpoint.h"
#include "training/calibrate.h"
#include "training/checkpoint_meta.h"
#include "training/dataset.h"

#define CMD "forecast"

typedef struct forecast_args {
    const char *checkpoint, *input; /* required */
    const char *output;             /* NULL: stdout */
    const char *time_column;        /* NULL: the checkpoint's, else the first column */
    const char *series;             /* a pooled checkpoint: the series the CSV is */
    int date_order;                 /* HZ_CSV_* */
} forecast_args;

/* What one forecast works with; every pointer is owned here (job_free). */
typedef struct forecast_job {
    hz_model *m;
    hz_st_file *f; /* the checkpoint, for its metadata */
    char **names;  /* the model's variables, n_names of them */
    int n_names;
    hz_scaler sc;
    hz_csv_table *t;  /* the input's time column and the model's variables */
    const char *tcol; /* the time column read, NULL for the first column */
    int64_t period;   /* ms between rows: the checkpoint's, else the input's last step */
    hz_real *x, *xm, *xd, *xmd;
} forecast_job;

static void usage(FILE *f)
{
    fprintf(f, "usage: horizon forecast --checkpoint C --input FILE.csv [options]\n"
               "\n"
               "Reads the last seq_len rows of FILE.csv (its time column and the model's\n"
               "variables, by name) and writes pred_len rows: timestamp (continuing the\n"
               "input's period), one column per variable, in original units, then for\n"
               "each variable V the 90%% and 99%% intervals: V_lower90, V_upper90, V_lower99,\n"
               "V_upper99 (calibrated on the validation split; absent for a checkpoint\n"
               "without calibration).\n"
               "\n"
               "options:\n"
               "  -k, --checkpoint C   the model (required)\n"
               "  -i, --input FILE     the CSV of recent readings (required)\n"
               "  -o, --output FILE    write the forecast CSV here (default: standard output)\n"
               "  --time-column C      timestamp column (default: the one the model was\n"
               "                       trained with when the CSV has it, else the first)\n"
               "  --date-order ORDER   slashed dates: ymd (default), mdy (10/1/1999), dmy\n"
               "  -s, --series NAME    a pooled checkpoint (model.data.pool): scale the input\n"
               "                       as series NAME was in training; without it, or for a\n"
               "                       series it has not seen, by the input's first seq_len\n"
               "                       rows (as horizond scales a new series)\n"
               "  -h, --help           this text\n");
}

static int parse(int argc, char **argv, forecast_args *a, char *err, size_t errlen)
{
    *a = (forecast_args){.date_order = HZ_CSV_YMD};
    const hz_cli_opt opts[] = {{"checkpoint", 'k', HZ_CLI_STR, &a->checkpoint, 0, 0},
                               {"input", 'i', HZ_CLI_STR, &a->input, 0, 0},
                               {"output", 'o', HZ_CLI_STR, &a->output, 0, 0},
                               {"time-column", 0, HZ_CLI_STR, &a->time_column, 0, 0},
                               {"date-order", 0, HZ_CLI_DATE_ORDER, &a->date_order, 0, 0},
                               {"series", 's', HZ_CLI_STR, &a->series, 0, 0},
                               {NULL, 0, 0, NULL, 0, 0}};
    int rc = hz_cli_parse(argc, argv, opts, NULL, err, errlen);
    if (!rc && (!a->checkpoint || !a->input))
        rc = hz_err(err, errlen, HZ_EINVAL, "--checkpoint and --input are required");
    return rc;
}

static void job_free(forecast_job *j)
{
    free(j->x);
    free(j->xd);
    free(j->xm);
    free(j->xmd);
    hz_csv_table_free(j->t);
    hz_names_free(j->names, j->n_names);
    hz_st_close(j->f);
    hz_model_free(j->m);
}

/* The checkpoint, then the input's columns the model needs.  The time column: --time-column,
 * else the one the model was trained with when the CSV has it, else the first column. */
static int load(const forecast_args *a, forecast_job *j, char *err, size_t errlen)
{
    int rc;
    if ((rc = hz_ckpt_load(a->checkpoint, &j->m, &j->f, err, errlen)) ||
        (rc = hz_meta_scaler_parse(j->f, &j->sc, &j->names, &j->n_names, err, errlen)))
        return rc;
    const char *tcol = a->time_column ? a->time_column : hz_st_meta(j->f, "time_column");
    hz_csv_opts o = {.time_column = tcol && *tcol ? tcol : NULL,
                     .columns = (const char *const *)j->names,
                     .ncolumns = j->n_names,
                     .date_order = a->date_order};
    rc = hz_csv_load(a->input, &o, &j->t, err, errlen);
    if (rc && !a->time_column && o.time_column) {
        o.time_column = NULL;
        rc = hz_csv_load(a->input, &o, &j->t, err, errlen);
    }
    if (rc)
        return rc;
    j->tcol = o.time_column;
    int L = j->m->conf.seq_len;
    if ((int)j->t->rows < L)
        return hz_err(err, errlen, HZ_EINVAL, "%s: %zu rows, the model needs the last %d", a->input,
                      j->t->rows, L);
    const char *pm = hz_st_meta(j->f, "period_ms");
    j->period = pm ? atoll(pm) : 0;
    if (j->period <= 0)
        j->period = j->t->ts_ms[j->t->rows - 1] - j->t->ts_ms[j->t->rows - 2];
    return 0;
}

/* A pooled checkpoint (training/pool.h): the scaler of --series as trained, else the input's
 * first seq_len rows' (a series the checkpoint has not seen, as horizond does).  A
 * checkpoint with one scaler keeps it. */
static int series_scaler(const forecast_args *a, forecast_job *j, char *err, size_t errlen)
{
    hz_series_stats ss;
    int rc = hz_meta_series_parse(j->f, j->n_names, &ss, err, errlen), i = -1;
    if (rc || ss.n == 0)
        return rc;
    if (a->series && (i = hz_series_stats_find(&ss, a->series)) >= 0)
        hz_series_stats_apply(&ss, i, &j->sc);
    hz_series_stats_free(&ss);
    if (i >= 0)
        return 0;
    int L = j->m->conf.seq_len, C = j->n_names;
    float *x = malloc((size_t)L * sizeof *x);
    if (!x)
        return hz_err(err, errlen, HZ_ENOMEM, "out of memory");
    for (int k = 0; k < C; k++) {
        for (int r = 0; r < L; r++)
            x[r] = (float)j->t->values[(size_t)r * C + k];
        hz_scaler_fit_col(&j->sc, k, x, 1, L);
    }
    free(x);
    fprintf(stderr, "forecast: %s is pooled; %s scaled by the input's first %d rows\n",
            a->checkpoint, a->series ? a->series : "the input (no --series)", L);
    return 0;
}

/* The model's input: the last seq_len rows scaled, the decoder's known label_len rows, and
 * the calendar marks of both (the decoder's continuing the period past the last row). */
static int fill_inputs(const forecast_args *a, forecast_job *j, char *err, size_t errlen)
{
    const hz_model_conf *mc = &j->m->conf;
    int L = mc->seq_len, P = mc->pred_len, lab = mc->label_len, C = j->n_names, F = mc->n_marks;
    const hz_csv_table *t = j->t;
    size_t r0 = t->rows - (size_t)L;
    j->x = malloc((size_t)L * C * sizeof *j->x);
    j->xd = calloc((size_t)(lab + P) * C, sizeof *j->xd);
    j->xm = malloc((size_t)L * HZ_TIMEF_MAX_FEATURES * sizeof *j->xm);
    j->xmd = malloc((size_t)(lab + P) * HZ_TIMEF_MAX_FEATURES * sizeof *j->xmd);
    if (!j->x || !j->xd || !j->xm || !j->xmd)
        return hz_err(err, errlen, HZ_ENOMEM, "out of memory");
    for (int i = 0; i < L; i++)
        for (int k = 0; k < C; k++) {
            double v = t->values[(r0 + i) * C + k];
            if (isnan(v))
                return hz_err(err, errlen, HZ_EINVAL, "%s: empty %s in the input window (row %zu)",
                              a->input, j->names[k], r0 + i + 2);
            j->x[i * C + k] = (hz_real)hz_scaler_fwd(&j->sc, k, v);
        }
    for (int i = 0; i < lab; i++)
        memcpy(j->xd + (size_t)i * C, j->x + (size_t)(L - lab + i) * C, (size_t)C * sizeof *j->x);
    for (int i = 0; i < L && F; i++)
        hz_timef(F, t->ts_ms[r0 + i], j->xm + (size_t)i * F);
    int64_t last = t->ts_ms[t->rows - 1];
    for (int i = 0; i < lab + P && F; i++)
        hz_timef(F, last + (int64_t)(i - lab + 1) * j->period, j->xmd + (size_t)i * F);
    return 0;
}

static void fmt_time(int64_t ms, char *buf, size_t n)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm);
}

/* The checkpoint's intervals at 90% and 99% (iv) and each variable's local scale over the
 * input's last rows (s).  Returns 1, or 0 when the checkpoint has no calibration. */
static int intervals(const forecast_job *j, hz_iv *iv, double *s)
{
    static const double levels[2] = {0.90, 0.99};
    int C = j->n_names, P = j->m->conf.pred_len;
    char err[HZ_ERRLEN];
    int calibrated = 0;
    if (hz_calib_intervals(j->f, NULL, j->names, P, C, &j->sc, levels, 2, 1, iv, &calibrated, err,
                           sizeof err))
        return 0;
    if (!calibrated) {
        hz_iv_free(iv);
        return 0;
    }
    size_t rows = j->t->rows, n = rows < HZ_IV_SCALE_W + 1 ? rows : HZ_IV_SCALE_W + 1;
    float x[HZ_IV_SCALE_W + 1];
    for (int k = 0; k < C; k++) {
        for (size_t i = 0; i < n; i++)
            x[i] = (float)j->t->values[(rows - n + i) * C + k];
        s[k] = hz_iv_scale(&iv->var[k], x, 1, (int)n);
    }
    return 1;
}

/* The header and pred_len rows of y [pred_len, C] in original units (clipped to the
 * variables' bounds), with the intervals. */
static void write_rows(FILE *out, const forecast_job *j, const hz_tensor *y)
{
    static const int levels[2] = {90, 99};
    int C = j->n_names;
    hz_iv iv;
    double sc[HZ_IV_MAX_VARS];
    int cal = intervals(j, &iv, sc);
    int64_t last = j->t->ts_ms[j->t->rows - 1];
    fprintf(out, "%s", j->tcol ? j->tcol : "time");
    for (int k = 0; k < C; k++)
        fprintf(out, ",%s", j->names[k]);
    for (int k = 0; cal && k < C; k++)
        for (int l = 0; l < 2; l++)
            fprintf(out, ",%s_lower%d,%s_upper%d", j->names[k], levels[l], j->names[k], levels[l]);
    fprintf(out, "\n");
    for (int s = 0; s < j->m->conf.pred_len; s++) {
        char tb[32];
        fmt_time(last + (int64_t)(s + 1) * j->period, tb, sizeof tb);
        fprintf(out, "%s", tb);
        for (int k = 0; k < C; k++) {
            double v = hz_scaler_inv(&j->sc, k, y->data[s * C + k]);
            fprintf(out, ",%.6g", cal ? hz_iv_clip(&iv.var[k], v) : v);
        }
        for (int k = 0; cal && k < C; k++) {
            double v = hz_scaler_inv(&j->sc, k, y->data[s * C + k]), lo[2], hi[2];
            hz_iv_interval(&iv, NULL, k, s + 1, v, sc[k], lo, hi);
            for (int l = 0; l < 2; l++)
                fprintf(out, ",%.6g,%.6g", lo[l], hi[l]);
        }
        fprintf(out, "\n");
    }
    if (cal)
        hz_iv_free(&iv);
}

/* A features-MS checkpoint (one variable forecast from several, known drivers) is served by
 * horizond and scored by `horizon eval`; this command forecasts every input variable. */
static int ms_refused(const forecast_args *a, const forecast_job *j, char *err, size_t errlen)
{
    const hz_model_conf *mc = &j->m->conf;
    if (mc->kind == HZ_MODEL_NILMFORMER && !mc->forecast) /* training/disagg.h */
        return hz_err(err, errlen, HZ_EINVAL,
                      "%s disaggregates (model.task disaggregate), it does not forecast: "
                      "horizon eval scores it",
                      a->checkpoint);
    if (mc->c_out == mc->enc_in)
        return 0;
    return hz_err(err, errlen, HZ_EINVAL,
                  "%s forecasts %d of its %d inputs (features MS); this command forecasts "
                  "every input: use horizond, or horizon eval for a backtest",
                  a->checkpoint, mc->c_out, mc->enc_in);
}

/* The checkpoint's sizes against what this command builds (fill_inputs): one input per
 * variable name, the decoder's known steps among the window's, at most HZ_TIMEF_MAX_FEATURES
 * calendar features. */
static int shape_refused(const forecast_args *a, const forecast_job *j, char *err, size_t errlen)
{
    const hz_model_conf *mc = &j->m->conf;
    if (mc->enc_in == j->n_names && mc->label_len >= 0 && mc->label_len <= mc->seq_len &&
        mc->n_marks >= 0 && mc->n_marks <= HZ_TIMEF_MAX_FEATURES)
        return 0;
    return hz_err(err, errlen, HZ_EFORMAT,
                  "%s: %d variable names for a model of %d inputs, label_len %d (0..seq_len %d), "
                  "%d calendar features (at most %d)",
                  a->checkpoint, j->n_names, mc->enc_in, mc->label_len, mc->seq_len, mc->n_marks,
                  HZ_TIMEF_MAX_FEATURES);
}

static int run(const forecast_args *a)
{
    char err[HZ_ERRLEN];
    forecast_job j = {0};
    hz_ctx c;
    hz_ctx_init(&c, 1 << 20, 0);
    int rc = HZ_EXIT_FAIL;
    if (load(a, &j, err, sizeof err) || ms_refused(a, &j, err, sizeof err) ||
        shape_refused(a, &j, err, sizeof err) || series_scaler(a, &j, err, sizeof err) ||
        fill_inputs(a, &j, err, sizeof err)) {
        hz_cli_error(CMD, "%s", err);
        goto out;
    }
    int F = j.m->conf.n_marks;
    hz_model_input in = {1, j.x, F ? j.xm : NULL, j.xd, F ? j.xmd : NULL};
    hz_tensor *y = hz_model_forward(j.m, &c, &in);
    FILE *out = a->output ? fopen(a->output, "w") : stdout;
    if (!out) {
        hz_cli_error(CMD, "%s: cannot write", a->output);
        goto out;
    }
    write_rows(out, &j, y);
    if (out != stdout)
        fclose(out);
    rc = HZ_EXIT_OK;
out:
    job_free(&j);
    hz_ctx_free(&c);
    return rc;
}

int hz_cmd_forecast(int argc, char **argv)
{
    forecast_args a;
    char err[HZ_ERRLEN] = "";
    int rc = hz_cli_parse_exit(CMD, parse(argc, argv, &a, err, sizeof err), err, usage);
    return rc >= 0 ? rc : run(&a);
}
