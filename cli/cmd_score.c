/* cmd_score.c — `horizon score`: scores a whole univariate CSV (timestamp,value, any regular
 * period) as horizond would score it as a stream.  A pipeline is written for the file into
 * a temporary directory (score_yaml below): an iTransformer trained on the first
 * --train-fraction of the rows (no labels), then every row streamed through the daemon's own
 * pipeline (pipeline/pipeline.h: window store, forecaster with its intervals and residual
 * checks, rules) into a temporary SQLite file, whose `anomalies` rows (every residual score,
 * anomaly.record_scores) give each row its score.  The training rows score 0, as does any
 * row before the first forecast (a probation period, as streaming benchmarks use).  With
 * -c, a copy of that file's pipeline settings runs instead (stream_with_config).
 * Output: every input record as it was, then anomaly_score (the largest score of the
 * reading, in [0, 1]), flag (0/1), kind (of the largest flagged record, empty if none) and
 * kinds (every kind flagged, joined by '+'). */
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/hz.h"
#include "connectors/csv.h"
#include "pipeline/pipeline.h"
#include "training/trainer.h"

#define CMD "score"

static const char *const KINDS[] = {"residual", "shift", "spike", "flatline", "gap", "range"};
#define N_KINDS (sizeof KINDS / sizeof KINDS[0])

typedef struct score_args {
    const char *input, *output, *time_column, *fraction_text;
    hz_cli_model_args m; /* -c, -p: score with that pipeline's settings */
    double fraction;
    int date_order;
} score_args;

/* What one scoring works with; owned here (job_free). */
typedef struct score_job {
    const score_args *a;
    hz_csv_table *t;
    char dir[64], yaml[128], db[128];
    char tcol[256]; /* the time column's name */
    char delim;     /* the file's separator */
    int64_t period;
    size_t ntrain;
    double *score; /* [rows] */
    int *flag;     /* [rows] */
    char (*kind)[16];
    unsigned *kinds; /* [rows] bit i: KINDS[i] flagged */
} score_job;

static void usage(FILE *f)
{
    fprintf(f, "usage: horizon score --input FILE.csv [options]\n"
               "\n"
               "Scores every row of a univariate CSV (a time column, then one value column,\n"
               "any regular period) as horizond would as a stream: a model is trained on the\n"
               "first --train-fraction of the rows (no labels), then each later row is scored\n"
               "from the rows before it by the residual check and the rules.  Output: each\n"
               "input row, then anomaly_score (in [0, 1]; 0.5 at a flag's threshold), flag\n"
               "(0 or 1), kind (residual, spike, shift, flatline, gap or range: the one of\n"
               "the largest score) and kinds (every kind flagged, joined by '+').  The\n"
               "training rows, and rows before the first forecast, score 0.  Empty values\n"
               "are missing readings (scored 0); a non-numeric value is an error naming\n"
               "file:line:column.  Too few rows to train a model: every row scores 0.\n"
               "\n"
               "options:\n"
               "  -i, --input FILE         the CSV to score (required)\n"
               "  -o, --output FILE        write the scored CSV here (default: standard output)\n"
               "  -c, --config FILE.yaml   score with that pipeline's settings (window, model,\n"
               "                           training, variables, anomaly levels and rules)\n"
               "                           instead of the built-in ones; its one value\n"
               "                           field must be the file's value column\n"
               "  -p, --pipeline NAME      with -c: the pipeline (default: the first)\n"
               "  --train-fraction F       share of the rows trained on, in (0, 1) (0.15)\n"
               "  --time-column C          timestamp column (default: the first)\n"
               "  --date-order ORDER       slashed dates: ymd (default), mdy, dmy\n"
               "  -h, --help               this text\n");
}

static int parse(int argc, char **argv, score_args *a, char *err, size_t errlen)
{
    *a = (score_args){.date_order = HZ_CSV_YMD, .fraction = 0.15};
    const hz_cli_opt opts[] = {{"input", 'i', HZ_CLI_STR, &a->input, 0, 0},
                               {"config", 'c', HZ_CLI_STR, &a->m.config, 0, 0},
                               {"pipeline", 'p', HZ_CLI_STR, &a->m.pipeline, 0, 0},
                               {"output", 'o', HZ_CLI_STR, &a->output, 0, 0},
                               {"train-fraction", 0, HZ_CLI_STR, &a->fraction_text, 0, 0},
                               {"time-column", 0, HZ_CLI_STR, &a->time_column, 0, 0},
                               {"date-order", 0, HZ_CLI_DATE_ORDER, &a->date_order, 0, 0},
                               {NULL, 0, 0, NULL, 0, 0}};
    int rc = hz_cli_parse(argc, argv, opts, NULL, err, errlen);
    if (!rc && !a->input)
        rc = hz_err(err, errlen, HZ_EINVAL, "--input is required");
    if (!rc && a->fraction_text) {
        char *end;
        a->fraction = strtod(a->fraction_text, &end);
        if (end == a->fraction_text || *end || !(a->fraction > 0 && a->fraction < 1))
            rc = hz_err(err, errlen, HZ_EFORMAT, "--train-fraction: '%s' is not a number in (0, 1)",
                        a->fraction_text);
    }
    return rc;
}

static int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

/* The file's period: the median of its positive steps (0 with fewer than two rows). */
static int64_t median_step(const hz_csv_table *t)
{
    int64_t *d = malloc((t->rows + 1) * sizeof *d);
    size_t n = 0;
    for (size_t i = 1; d && i < t->rows; i++)
        if (t->ts_ms[i] > t->ts_ms[i - 1])
            d[n++] = t->ts_ms[i] - t->ts_ms[i - 1];
    int64_t m = 0;
    if (n) {
        qsort(d, n, sizeof *d, cmp_i64);
        m = d[n / 2];
    }
    free(d);
    return m;
}

/* Lookback for ntrain training rows: a few windows of it must fit the 80/20 split. */
static int lookback_for(size_t ntrain)
{
    size_t l = ntrain / 10;
    return l > 96 ? 96 : (int)l;
}

/* The flatline rule's length: twice the longest run of identical values in the training
 * rows, at least 3 and at most 12 (a river at low flow repeats a value for days; a
 * household's load never does). */
static int flatline_for(const hz_csv_table *t, size_t ntrain)
{
    size_t longest = 1;
    for (size_t i = 0, j; i < ntrain; i = j) {
        double v = t->values[i * t->cols];
        for (j = i + 1; j < ntrain && t->values[j * t->cols] == v; j++)
            ;
        if (j - i > longest)
            longest = j - i;
    }
    return longest >= 6 ? 12 : longest < 2 ? 3 : (int)(2 * longest);
}

/* Whether every value of the file is >= 0 (flows, loads: scored in log1p space). */
static int nonnegative(const hz_csv_table *t)
{
    for (size_t i = 0; i < t->rows; i++)
        if (t->values[i * t->cols] < 0)
            return 0;
    return 1;
}

/* Whether a reading of exactly 0 is a fault (rules.zero): the file is never negative and its
 * training rows never read 0, a river that has not run dry or a meter that has not been off:
 * a 0 is then a gauge or meter that stopped (a perennial river does not go from 0.5 m3/s to
 * nothing in a day; UK-DALE writes 0 for no reading).  A file whose training rows hold a 0
 * (an intermittent stream, an appliance) keeps its zeros as readings. */
static int zero_is_fault(const hz_csv_table *t, size_t ntrain)
{
    if (!nonnegative(t))
        return 0;
    for (size_t i = 0; i < ntrain && i < t->rows; i++)
        if (t->values[i * t->cols] == 0)
            return 0;
    return 1;
}

/* The seasonal level detector's season for the file: a day, for a series never below 0 (a
 * load, a flow) read more often than daily in a period that divides a day; else 0 (off:
 * a temperature's day before is weather, not a reference). */
static int season_for(const score_job *j)
{
    const int64_t day = 86400000;
    if (!nonnegative(j->t) || j->period <= 0 || j->period >= day || day % j->period)
        return 0;
    return (int)(day / j->period);
}

/* The residual check's level for n scored rows: 1 - 1/n, about one false flag in the whole
 * file from a well-calibrated series (0.9997 for 12 years of daily flow, 0.99993 for two
 * years of hourly readings), within [0.999, 0.99999]. */
static double flag_level(size_t n)
{
    double a = 1 - 1 / (double)(n > 1 ? n : 1);
    return a < 0.999 ? 0.999 : a > 0.99999 ? 0.99999 : a;
}

/* The pipeline for the file.  Flags outside flag_level's interval (at 99.9% ETTh1's oil
 * temperature raised 4-8 false events in 725 days, its real load steps; training/interval.h
 * extends the tail past the calibration grid); the rules: spikes that come back (k 10, log1p
 * for a series never below 0), level shifts (CUSUM 12, and season_for's seasonal detector
 * with its routine check), gaps of more than 2 periods, runs of identical values
 * (flatline_for), readings of exactly 0 (zero_is_fault).  Chosen on bench/anomaly.sh's
 * seeds 1-3; seeds 4-6 score alike (bench/RESULTS.md). */
static int score_yaml(score_job *j, char *err, size_t errlen)
{
    const hz_csv_table *t = j->t;
    char path[4096];
    if (!realpath(j->a->input, path))
        return hz_err(err, errlen, HZ_EIO, "%s: cannot resolve the path", j->a->input);
    double f = (double)j->ntrain / (double)t->rows;
    FILE *y = fopen(j->yaml, "w");
    if (!y)
        return hz_err(err, errlen, HZ_EIO, "%s: cannot write", j->yaml);
    /* names and paths are quoted as YAML double-quoted scalars; a quote or backslash in
     * them would need escaping, so they are refused before (run) */
    fprintf(y,
            "database: \"%s\"\nmetrics: {listen: \"\"}\nlog_level: warning\npipelines:\n"
            "  - name: score\n"
            "    source:\n"
            "      csv: {path: \"%s\", series: score, delimiter: \"%s\", date_order: %s}\n"
            "      fields: {time: \"%s\", values: [\"%s\"]}\n"
            "    window: {period: %lldms, lookback: %d, horizon: 1, stride: 1, fill: linear}\n"
            "    batch: {max: 64, max_wait: 0ms}\n"
            "    model:\n"
            "      kind: itransformer\n"
            "      checkpoint: \"%s/score.safetensors\"\n"
            "      params: {d_model: 32, n_heads: 2, e_layers: 1, d_ff: 64, dropout: 0.1}\n"
            "      train: {epochs: 10, batch: 32, lr: 1.0e-3, patience: 3, seed: 1}\n"
            "      data: {split: ratio, ratios: [%.6f, %.6f, %.6f], features: M}\n"
            "    variables: [{name: \"%s\", transform: %s}]\n"
            "    anomaly:\n"
            "      levels: [0.9, 0.99, %.6f]\n"
            "      record_scores: true\n"
            "      rules: {spike: 10, shift: 12, gap: 2, flatline: %d, season: %d, zero: %s}\n"
            "    sinks: [{sqlite: {}}]\n",
            j->db, path, j->delim == '\t' ? "\\t" : (char[]){j->delim, 0},
            j->a->date_order == HZ_CSV_MDY   ? "mdy"
            : j->a->date_order == HZ_CSV_DMY ? "dmy"
                                             : "ymd",
            j->tcol, t->names[0], (long long)j->period, lookback_for(j->ntrain), j->dir, 0.8 * f,
            0.2 * f, 1 - f, t->names[0], nonnegative(t) ? "log1p" : "none",
            flag_level(t->rows - j->ntrain), flatline_for(t, j->ntrain), season_for(j),
            zero_is_fault(t, j->ntrain) ? "true" : "false");
    return fclose(y) ? hz_err(err, errlen, HZ_EIO, "%s: cannot write", j->yaml) : 0;
}

/* A row's time and index, sorted by time to find rows by time. */
typedef struct row_at {
    int64_t ts;
    size_t row;
} row_at;

static int cmp_row(const void *x, const void *y)
{
    int64_t a = ((const row_at *)x)->ts, b = ((const row_at *)y)->ts;
    return (a > b) - (a < b);
}

/* Index of the row with time ts in by[n] (sorted by time), or -1. */
static long find_row(const row_at *by, size_t n, int64_t ts)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (by[mid].ts < ts)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && by[lo].ts == ts ? (long)by[lo].row : -1;
}

/* Each row's largest score, any flag and the largest flagged kind, from the anomalies table;
 * rows of the training part and their times keep 0. */
static int read_scores(score_job *j, char *err, size_t errlen)
{
    size_t n = j->t->rows;
    row_at *by = malloc(n * sizeof *by);
    if (!by)
        return hz_err(err, errlen, HZ_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        by[i] = (row_at){j->t->ts_ms[i], i};
    qsort(by, n, sizeof *by, cmp_row);
    int64_t train_end = j->t->ts_ms[j->ntrain - 1];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = 0;
    if (sqlite3_open_v2(j->db, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT ts, score, flag, kind FROM anomalies", -1, &st, NULL) !=
            SQLITE_OK)
        rc = hz_err(err, errlen, HZ_EDB, "%s: %s", j->db, sqlite3_errmsg(db));
    while (!rc && sqlite3_step(st) == SQLITE_ROW) {
        int64_t ts = sqlite3_column_int64(st, 0);
        double sc = sqlite3_column_double(st, 1);
        int flag = sqlite3_column_int(st, 2);
        long r = ts > train_end ? find_row(by, n, ts) : -1;
        if (r < 0)
            continue;
        if (sc > j->score[r])
            j->score[r] = sc;
        const char *kind = (const char *)sqlite3_column_text(st, 3);
        if (flag && (!j->flag[r] || sc >= j->score[r]))
            snprintf(j->kind[r], sizeof j->kind[r], "%s", kind);
        for (size_t k = 0; flag && kind && k < N_KINDS; k++)
            if (!strcmp(kind, KINDS[k]))
                j->kinds[r] |= 1u << k;
        j->flag[r] |= flag;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    free(by);
    return rc;
}

/* Trains pc's model on the file's first rows and streams the file through the pipeline into
 * j->db. */
static int run_pipeline(const hz_config *cfg, const hz_pipeline_conf *pc, char *err, size_t errlen)
{
    hz_pipeline *p = NULL;
    hz_logger quiet = {NULL, NULL, HZ_LOG_WARN};
    hz_train_opts o = {.epochs = -1, .log = &quiet, .no_register = 1};
    int rc = hz_trainer_run(cfg, pc, &o, NULL, err, errlen);
    if (!rc && !(rc = hz_pipeline_new(cfg, pc, NULL, &quiet, NULL, &p, err, errlen))) {
        int k;
        while ((k = hz_pipeline_step(p, 0, err, errlen)) > 0)
            ;
        rc = k < 0 ? k : hz_pipeline_drain(p, 30000, err, errlen);
    }
    hz_pipeline_free(p);
    return rc;
}

/* The built-in pipeline (score_yaml) run over the file. */
static int train_and_stream(score_job *j, char *err, size_t errlen)
{
    hz_config *cfg = NULL;
    int rc = hz_config_load(j->yaml, &cfg, err, errlen);
    if (!rc)
        rc = run_pipeline(cfg, &cfg->pipelines[0], err, errlen);
    hz_config_free(cfg);
    return rc;
}

/* The pipeline of -c run over the file: a copy of its settings whose source is the file,
 * whose model is trained afresh into the temporary directory on the first rows, and whose
 * one sink is the temporary database (the file given is not changed, nor its checkpoint). */
static int stream_with_config(score_job *j, const hz_config *cfg, const hz_pipeline_conf *user,
                              char *err, size_t errlen)
{
    const hz_csv_table *t = j->t;
    if (user->source.fields.n_values != 1 || strcmp(user->source.fields.values[0], t->names[0]))
        return hz_err(err, errlen, HZ_EINVAL,
                      "pipeline %s: expected one value field named %s (the file's value "
                      "column), got %zu starting with %s",
                      user->name, t->names[0], user->source.fields.n_values,
                      user->source.fields.values[0]);
    char path[4096], ckpt[160], delim[2] = {j->delim, 0};
    if (!realpath(j->a->input, path))
        return hz_err(err, errlen, HZ_EIO, "%s: cannot resolve the path", j->a->input);
    snprintf(ckpt, sizeof ckpt, "%s/score.safetensors", j->dir);
    double f = (double)j->ntrain / (double)t->rows, ratios[3] = {0.8 * f, 0.2 * f, 1 - f};
    hz_pipeline_conf pc = *user;
    pc.source.kind = HZ_CFG_SOURCE_CSV;
    pc.source.csv.path = path;
    pc.source.csv.series = "score";
    pc.source.csv.delimiter = delim;
    pc.source.csv.date_order = j->a->date_order;
    pc.source.fields.time = j->tcol;
    pc.model.checkpoint = ckpt;
    pc.model.data.split = HZ_CFG_SPLIT_RATIO;
    pc.model.data.ratios = ratios;
    pc.model.data.n_ratios = 3;
    pc.model.train.train_on_start = 0;
    pc.model.train.retrain_every_ms = 0;
    pc.anomaly.record_scores = 1;
    hz_cfg_sink sink = {.kind = HZ_CFG_SINK_SQLITE};
    sink.sqlite.path = j->db;
    sink.sqlite.forecasts_table = "forecasts";
    sink.sqlite.anomalies_table = "anomalies";
    sink.sqlite.dead_letters_table = "dead_letters";
    pc.sinks = &sink;
    pc.n_sinks = 1;
    return run_pipeline(cfg, &pc, err, errlen);
}

/* Every input record as it was, with the three columns. */
static int write_output(const score_job *j, char *err, size_t errlen)
{
    hz_csv_opts o = {
        .time_column = j->a->time_column, .date_order = j->a->date_order, .allow_empty = 1};
    hz_csv_reader *r = hz_csv_open(j->a->input, &o, err, errlen);
    if (!r)
        return HZ_EIO;
    FILE *out = j->a->output ? fopen(j->a->output, "w") : stdout;
    if (!out) {
        hz_csv_close(r);
        return hz_err(err, errlen, HZ_EIO, "%s: cannot write", j->a->output);
    }
    FILE *in = fopen(j->a->input, "r");
    char head[65536];
    if (in && fgets(head, sizeof head, in)) {
        head[strcspn(head, "\r\n")] = 0;
        fprintf(out, "%s%canomaly_score%cflag%ckind%ckinds\n", head, j->delim, j->delim, j->delim,
                j->delim);
    }
    if (in)
        fclose(in);
    int64_t ts;
    double v[HZ_MAX_VARS];
    size_t i = 0, len;
    int rc;
    while ((rc = hz_csv_next(r, &ts, v, err, errlen)) == 1 && i < j->t->rows) {
        const char *rec = hz_csv_record(r, &len);
        char all[80] = "";
        for (size_t k = 0, at = 0; k < N_KINDS; k++)
            if (j->kinds[i] >> k & 1)
                at += (size_t)snprintf(all + at, sizeof all - at, "%s%s", at ? "+" : "", KINDS[k]);
        fprintf(out, "%.*s%c%.4f%c%d%c%s%c%s\n", (int)len, rec, j->delim, j->score[i], j->delim,
                j->flag[i], j->delim, j->kind[i], j->delim, all);
        i++;
    }
    hz_csv_close(r);
    if (out != stdout && fclose(out))
        return hz_err(err, errlen, HZ_EIO, "%s: cannot write", j->a->output);
    return rc < 0 ? rc : 0;
}

static void job_free(score_job *j)
{
    if (j->dir[0]) {
        char p[256];
        const char *files[] = {"score.yaml",          "score.sqlite",
                               "score.sqlite-wal",    "score.sqlite-shm",
                               "score.safetensors",   "score.safetensors.state",
                               "score.sqlite-journal"};
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
            snprintf(p, sizeof p, "%s/%s", j->dir, files[i]);
            unlink(p);
        }
        rmdir(j->dir);
    }
    hz_csv_table_free(j->t);
    free(j->score);
    free(j->flag);
    free(j->kind);
    free(j->kinds);
}

/* The checks before any work: one value column, names YAML can quote. */
static int check_input(score_job *j, char *err, size_t errlen)
{
    const hz_csv_table *t = j->t;
    if (t->cols != 1)
        return hz_err(err, errlen, HZ_EINVAL,
                      "%s: expected one value column after the time column, got %d", j->a->input,
                      t->cols);
    hz_csv_opts o = {.time_column = j->a->time_column, .date_order = j->a->date_order};
    hz_csv_reader *r = hz_csv_open(j->a->input, &o, err, errlen);
    if (!r)
        return HZ_EIO;
    snprintf(j->tcol, sizeof j->tcol, "%s", hz_csv_time_colname(r));
    j->delim = hz_csv_delimiter(r);
    hz_csv_close(r);
    const char *names[2] = {t->names[0], j->tcol};
    for (int i = 0; i < 2; i++)
        if (strpbrk(names[i], "\"\\\n"))
            return hz_err(err, errlen, HZ_EINVAL, "%s: column name %s has a quote or backslash",
                          j->a->input, names[i]);
    j->period = median_step(t);
    j->ntrain = (size_t)(j->a->fraction * (double)t->rows);
    return 0;
}

static int run(const score_args *a)
{
    char err[HZ_ERRLEN];
    score_job j = {.a = a};
    hz_config *cfg = NULL;
    const hz_pipeline_conf *upc = NULL;
    if (a->m.config && hz_cli_load(CMD, &a->m, &cfg, &upc))
        return HZ_EXIT_FAIL;
    hz_csv_opts o = {.time_column = a->time_column, .date_order = a->date_order, .allow_empty = 1};
    int rc = hz_csv_load(a->input, &o, &j.t, err, sizeof err);
    if (!rc)
        rc = check_input(&j, err, sizeof err);
    size_t n = j.t ? j.t->rows : 0;
    if (!rc) {
        j.score = calloc(n + 1, sizeof *j.score);
        j.flag = calloc(n + 1, sizeof *j.flag);
        j.kind = calloc(n + 1, sizeof *j.kind);
        j.kinds = calloc(n + 1, sizeof *j.kinds);
        if (!j.score || !j.flag || !j.kind || !j.kinds)
            rc = hz_err(err, sizeof err, HZ_ENOMEM, "out of memory");
    }
    /* a model needs a few windows of lookback in the training rows */
    int trainable = !rc && j.period > 0 && lookback_for(j.ntrain) >= 8;
    if (!rc && !trainable)
        hz_cli_error(CMD,
                     "%s: %zu rows, too few to train a model on %.0f%% of them; every row "
                     "scores 0",
                     a->input, n, a->fraction * 100);
    if (trainable) {
        const char *tmp = getenv("TMPDIR");
        snprintf(j.dir, sizeof j.dir, "%.40s/hz-score-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(j.dir)) {
            j.dir[0] = 0;
            rc = hz_err(err, sizeof err, HZ_EIO, "cannot make a temporary directory");
        } else {
            snprintf(j.yaml, sizeof j.yaml, "%s/score.yaml", j.dir);
            snprintf(j.db, sizeof j.db, "%s/score.sqlite", j.dir);
            if (a->m.config)
                rc = stream_with_config(&j, cfg, upc, err, sizeof err);
            else if (!(rc = score_yaml(&j, err, sizeof err)))
                rc = train_and_stream(&j, err, sizeof err);
            if (!rc)
                rc = read_scores(&j, err, sizeof err);
        }
    }
    if (!rc)
        rc = write_output(&j, err, sizeof err);
    if (rc)
        hz_cli_error(CMD, "%s", err);
    job_free(&j);
    hz_config_free(cfg);
    return rc ? HZ_EXIT_FAIL : HZ_EXIT_OK;
}

int hz_cmd_score(int argc, char **argv)
{
    score_args a;
    char err[HZ_ERRLEN] = "";
    int rc = hz_cli_parse_exit(CMD, parse(argc, argv, &a, err, sizeof err), err, usage);
    return rc >= 0 ? rc : run(&a);
}
