/* trainer.c — a pipeline's model trained and checkpointed (trainer.h): the papers' split
 * and scaling (docs/MODELS.md), training with early stopping (training/train.c), validation
 * calibration of the forecast intervals (training/calibrate.h), the
 * checkpoint and its row in the `models` registry.  Used by `horizon train` and horizond. */
#include "training/trainer.h"

#include <cblas.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "models/checkpoint.h"
#include "training/calibrate.h"
#include "training/pool.h"
#include "training/prepare.h"
#include "engine/par.h"
#include "connectors/sqlite_schema.h"
#include "training/disagg.h"
#include "training/train.h"

/* One line to log, or to stderr when log is NULL. */
static void say(const hz_logger *log, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const hz_logger *log, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (log)
        hz_log(log, HZ_LOG_INFO, "%s", buf);
    else
        fprintf(stderr, "%s\n", buf);
}

/* What on_progress needs: where lines go and when the last went out. */
typedef struct progress {
    const hz_logger *log;
    int tty;
    int epochs;
    int64_t t0;
    int64_t last; /* when the last progress line went out (no tty: at most one a minute) */
    void (*alive)(void *arg);
    void *alive_arg;
} progress;

/* hz_train's progress callback: a bar on a tty, else a line a minute; one line an epoch. */
static void on_progress(void *opaque, int epoch, int phase, int batch, int n_batches, double loss,
                        double val_loss)
{
    progress *pr = opaque;
    if (pr->alive)
        pr->alive(pr->alive_arg);
    if (phase == 0 && !pr->tty) {
        /* under systemd, nohup or a pipe: a line at most once a minute, so an hour-long epoch
           is not silent */
        int64_t now = hz_mono_ns();
        if (now - pr->last < 60 * (int64_t)1000000000 || batch == n_batches)
            return;
        pr->last = now;
        say(pr->log, "epoch %d/%d: batch %d/%d, loss %.4f (%.1f s)", epoch, pr->epochs, batch,
            n_batches, loss, (now - pr->t0) / 1e9);
        return;
    }
    if (phase == 0) {
        if (batch % 4 && batch != n_batches)
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
    say(pr->log, "epoch %d/%d: train loss %.5f, val loss %.5f (%.1f s)", epoch, pr->epochs, loss,
        val_loss, secs);
}

/* Adds (or replaces) the checkpoint at path as a row of the database's `models` table; no
 * database configured: nothing to do. */
static int register_model(const hz_config *cfg, const hz_pipeline_conf *p, const char *path,
                          const char *sha, const char *conf_json, const char *metrics,
                          const hz_logger *log, char *err, size_t errlen)
{
    if (!cfg->database || !*cfg->database)
        return 0;
    int rc = 0;
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
            say(log, "registered model %s in %s", id, cfg->database);
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

/* The spacing of the table's last two timestamps (ms): the series' period. */
static int64_t table_period(const hz_table *t)
{
    return t->rows > 1 ? t->ts_ms[t->rows - 1] - t->ts_ms[t->rows - 2] : 0;
}

/* The series of table with the most readings, into out. */
static int busiest_series(const char *path, const char *table, char *out, size_t outlen, char *err,
                          size_t errlen)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char sql[256];
    int rc = 0;
    if (!hz_sqlite_ident_ok(table))
        return hz_err(err, errlen, HZ_EINVAL, "%s: bad table name %s", path, table);
    snprintf(sql, sizeof sql,
             "SELECT series FROM %s GROUP BY series ORDER BY count(*) DESC, series LIMIT 1", table);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = hz_err(err, errlen, HZ_EDB, "%s: %s", path, sqlite3_errmsg(db));
    } else if (sqlite3_step(st) != SQLITE_ROW) {
        rc = hz_err(err, errlen, HZ_ENOTFOUND, "%s: table %s holds no readings to train on", path,
                    table);
    } else {
        snprintf(out, outlen, "%s", (const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

/* Logs that the run's state file stays, so `--resume` can continue after epoch. */
static void say_state_kept(const hz_logger *log, int epoch, const char *state)
{
    say(log, "the state after epoch %d stays in %s: the run can continue from there", epoch, state);
}

/* One training run of a pipeline, from its data to its written checkpoint.  Zeroed, it holds
 * nothing to free; run_free frees what the steps allocated. */
typedef struct run {
    const hz_config *cfg;
    const hz_train_opts *o;
    const hz_pipeline_conf *p; /* the pipeline trained: pc, or hist for a Kafka pipeline */
    hz_pipeline_conf hist;     /* a Kafka pipeline reading its stored history (history_conf) */
    const char *ckpt;          /* the checkpoint written; o->publish once renamed there */
    const char *series;        /* o->series, busiest, or NULL (a CSV source) */
    char busiest[512];
    char state[1200]; /* hz_train_state_path(ckpt): a path of up to 1100 and ".state" */
    hz_prepared d;    /* one series (not pooled) */
    int pooled;       /* model.data.pool and no o->series: every series, in pool */
    hz_pool pool;
    /* what training reads, from d or the pool: windows, variable names and count, a table */
    const hz_windows *wtr, *wva;
    char *const *names;
    int cols;
    /* the forecast variables (features MS: the target alone): count and names */
    int ocols;
    char *const *onames;
    const hz_table *t0;
    hz_model_conf mc;
    hz_model *m;
    hz_train_conf tc;
    hz_train_result tr;
    hz_eval_result ev, et; /* validation and test scores */
    float *calib;          /* [pred_len, C, HZ_IV_GRID] normalised validation residuals */
    char *conf_json, *vars, *scal, *metrics, *cal; /* the checkpoint's JSON metadata */
    char *sers;                                    /* pooled: "series_scaler" */
    char *disagg; /* disaggregation: "disaggregate" (training/disagg.h) */
    char sha[65]; /* of the written checkpoint */
} run;

static void out_vars(run *r)
{
    r->ocols = hz_windows_out_cols(r->wtr);
    r->onames = r->names + (r->wtr->target >= 0 ? r->wtr->target : 0);
}

/* The pipeline whose data trains pc's model: pc itself, or, for a Kafka pipeline, hist set
 * to read the `readings` its SQLite sink (else the top-level database) stored. */
static const hz_pipeline_conf *history_conf(const hz_config *cfg, const hz_pipeline_conf *pc,
                                            hz_pipeline_conf *hist)
{
    if (pc->source.kind != HZ_CFG_SOURCE_KAFKA)
        return pc;
    *hist = *pc;
    hist->source.kind = HZ_CFG_SOURCE_SQLITE;
    hist->source.sqlite.path = cfg->database;
    hist->source.sqlite.table = "readings";
    for (size_t i = 0; i < pc->n_sinks; i++)
        if (pc->sinks[i].kind == HZ_CFG_SINK_SQLITE) {
            hist->source.sqlite.path = pc->sinks[i].sqlite.path;
            break;
        }
    return hist;
}

/* The training loop's settings for p under o (o->epochs, when >= 0, overrides the file's). */
static hz_train_conf train_conf_of(const hz_pipeline_conf *p, const hz_train_opts *o)
{
    hz_train_conf tc = {
        .epochs = o->epochs >= 0 ? o->epochs : p->model.train.epochs,
        .batch = p->model.train.batch,
        .patience = p->model.train.patience,
        .lr = p->model.train.lr,
        .weight_decay = p->model.train.weight_decay,
        .clip = p->model.train.clip,
        .adamw = p->model.train.optimizer == HZ_CFG_OPT_ADAMW,
        .lradj = p->model.train.lradj == HZ_CFG_LRADJ_TYPE1     ? HZ_LRADJ_TYPE1
                 : p->model.train.lradj == HZ_CFG_LRADJ_COSINE  ? HZ_LRADJ_COSINE
                 : p->model.train.lradj == HZ_CFG_LRADJ_PLATEAU ? HZ_LRADJ_PLATEAU
                                                                : HZ_LRADJ_NONE,
        .seed = (uint64_t)p->model.train.seed,
        .max_train_batches = o->max_batches,
        .series_windows = p->model.data.series_windows,
        .cancel = o->cancel,
        .stop = o->stop,
        .resume = o->keep_state ? o->resume : 0,
    };
    return tc;
}

/* Loads and splits one series (a SQLite source's busiest unless o->series names one). */
static int prepare_one(run *r, char *err, size_t errlen)
{
    const hz_pipeline_conf *p = r->p;
    int rc;
    r->series = r->o->series;
    if (!r->series && p->source.kind == HZ_CFG_SOURCE_SQLITE) {
        if ((rc = busiest_series(p->source.sqlite.path, p->source.sqlite.table, r->busiest,
                                 sizeof r->busiest, err, errlen)))
            return rc;
        r->series = r->busiest;
    }
    if ((rc = hz_prepared_load(r->cfg, p, r->series, &r->d, err, errlen)) ||
        (rc = hz_pipeline_model_conf(p, r->d.table.cols, &r->mc, err, errlen)) ||
        (rc = hz_prepared_split(p, &r->mc, NULL, &r->d, err, errlen)))
        return rc;
    r->wtr = &r->d.win[0];
    r->wva = &r->d.win[1];
    r->names = r->d.names;
    r->cols = r->d.table.cols;
    out_vars(r);
    r->t0 = &r->d.table;
    return 0;
}

/* Loads, splits and scales every series of the table, each on its own (training/pool.h). */
static int prepare_pooled(run *r, char *err, size_t errlen)
{
    int rc;
    if ((rc = hz_pool_load(r->cfg, r->p, &r->pool, err, errlen)) ||
        (rc = hz_pipeline_model_conf(r->p, r->pool.cols, &r->mc, err, errlen)) ||
        (rc = hz_pool_split(r->p, &r->mc, r->o->log, &r->pool, err, errlen)))
        return rc;
    r->wtr = &r->pool.win[0];
    r->wva = &r->pool.win[1];
    r->names = r->pool.d[0].names;
    r->cols = r->pool.cols;
    out_vars(r);
    r->t0 = &r->pool.d[0].table;
    return 0;
}

/* Loads and splits the data (one series, or with model.data.pool and no o->series every
 * series), creates the model, sets the thread counts and the training settings with the
 * state file. */
static int run_prepare(run *r, char *err, size_t errlen)
{
    const hz_pipeline_conf *p = r->p;
    const hz_train_opts *o = r->o;
    int rc;
    r->pooled = p->model.data.pool && !o->series;
    if ((rc = r->pooled ? prepare_pooled(r, err, errlen) : prepare_one(r, err, errlen)) ||
        (rc = hz_model_create(&r->mc, &r->m, err, errlen)))
        return rc;
    if (p->model.train.threads > 0) { /* OpenBLAS is loaded: its environment is read already */
        openblas_set_num_threads(p->model.train.threads);
        hz_par_set_threads(p->model.train.threads); /* and the engine's own loops */
    }
    r->tc = train_conf_of(p, o);
    hz_train_state_path(o->base ? o->base : r->ckpt, r->state, sizeof r->state);
    if (o->keep_state) {
        make_parent_dirs(r->ckpt);
        r->tc.state_path = r->state;
        if (!o->resume && access(r->state, F_OK) == 0)
            say(o->log, "%s holds an interrupted run: starting over (--resume continues it)",
                r->state);
    }
    return 0;
}

/* Logs how a finished training went where it differs from a plain run: not resumed,
 * nothing left to train, stopped on request. */
static void say_training_end(const run *r)
{
    const hz_logger *log = r->o->log;
    const hz_train_result *tr = &r->tr;
    if (tr->resume_note[0])
        say(log, "not resumed: %s; trained from the first epoch", tr->resume_note);
    if (tr->resumed_from && tr->epochs_run == tr->resumed_from)
        say(log, "the saved run had ended after epoch %d: nothing left to train", tr->resumed_from);
    if (tr->stopped)
        say(log,
            "stopped on request after epoch %d of %d: the weights of epoch %d (val loss %.5f) "
            "are kept",
            tr->epochs_run, r->tc.epochs, tr->best_epoch, tr->best_val);
}

/* Trains the model (when there are epochs to run or a run to resume), logging progress. */
static int run_train(run *r, char *err, size_t errlen)
{
    const hz_logger *log = r->o->log;
    const hz_pipeline_conf *p = r->p;
    const hz_train_conf *tc = &r->tc;
    if (r->pooled)
        say(log,
            "train: pipeline %s, pooled over %d series, %s, %d variables, %d rows; windows "
            "train %d val %d, %d per series an epoch; %lld parameters",
            p->name, r->pool.n, hz_model_kind_name(r->mc.kind), r->cols, r->pool.rows,
            r->wtr->count, r->wva->count, hz_train_epoch_windows(r->wtr, tc) / r->pool.n,
            (long long)r->m->params.n_trainable);
    else
        say(log,
            "train: pipeline %s%s%s, %s, %d variables, %d rows; windows train %d val %d test "
            "%d; %lld parameters",
            p->name, r->series ? ", series " : "", r->series ? r->series : "",
            hz_model_kind_name(r->mc.kind), r->d.table.cols, r->d.table.rows, r->d.win[0].count,
            r->d.win[1].count, r->d.win[2].count, (long long)r->m->params.n_trainable);
    if (p->model.task == HZ_CFG_TASK_DISAGGREGATE) {
        char zeros[80] = "";
        if (p->model.data.zero_is_gap)
            snprintf(zeros, sizeof zeros, "; %d rows with an aggregate of 0 taken as gaps",
                     r->d.zero_rows);
        say(log,
            "train: appliance %s from %s, windows of %d steps that do not overlap (%d, %d, "
            "%d left out for gaps%s), both divided by %g",
            p->source.fields.values[1], p->source.fields.values[0], r->mc.seq_len,
            r->d.gap_windows[0], r->d.gap_windows[1], r->d.gap_windows[2], zeros,
            r->d.scaler.std[0]);
    }
    if (!r->pooled && (r->d.edge_rows || r->d.carried))
        say(log,
            "train: %d timestamps before the first or after the last with every variable "
            "left out; %d values missing in between carried from the timestamp before",
            r->d.edge_rows, r->d.carried);
    if (!r->pooled && r->d.refused)
        say(log, "train: %d rows of the table left out, as every source refuses them (first: %s)",
            r->d.refused, r->d.refused_why);
    if (!r->pooled && (r->d.filled || r->d.holes))
        say(log,
            "train: the history's gaps: %d slots filled (window.fill, holes of at most %d); "
            "%d longer holes (%lld slots) end stretches, no window spans them",
            r->d.filled, r->p->window.max_gap, r->d.holes, (long long)r->d.hole_slots);
    progress pr = {.log = log,
                   .tty = !log && isatty(STDERR_FILENO),
                   .epochs = tc->epochs,
                   .t0 = hz_mono_ns(),
                   .last = hz_mono_ns(),
                   .alive = r->o->alive,
                   .alive_arg = r->o->alive_arg};
    int trained = tc->epochs > 0 || tc->resume;
    int have_state = tc->state_path && access(r->state, F_OK) == 0;
    if (tc->resume == HZ_RESUME || (tc->resume && have_state))
        say(log, "resuming the run saved in %s%s", r->state,
            tc->resume == HZ_RESUME ? "" : " if this run made it");
    int rc = 0;
    if (trained)
        rc = hz_train(r->m, r->wtr, r->wva, tc, on_progress, &pr, &r->tr, err, errlen);
    if (r->tr.state_err[0])
        say(log, "warning: training state not saved: %s", r->tr.state_err);
    if (rc == HZ_EAGAIN && tc->state_path && r->tr.epochs_run > 0)
        say_state_kept(log, r->tr.epochs_run, r->state);
    if (!rc)
        say_training_end(r);
    return rc;
}

/* The pooled test score: each series' test split with its own scaler, summed over the
 * series (windows, and errors weighted by their windows; original units mixed). */
static int pooled_test(run *r, int drop_last)
{
    hz_eval_result *et = &r->et;
    memset(et, 0, sizeof *et);
    for (int i = 0; i < r->pool.n; i++) {
        hz_eval_result e;
        const hz_prepared *d = &r->pool.d[i];
        if (d->win[2].count < 1)
            continue;
        if (hz_evaluate(r->m, &d->win[2], r->tc.batch, drop_last, &d->scaler, NULL, &e))
            return HZ_ENOMEM;
        et->mse += e.mse * e.windows;
        et->mae += e.mae * e.windows;
        et->mse_orig += e.mse_orig * e.windows;
        et->mae_orig += e.mae_orig * e.windows;
        et->windows += e.windows;
        hz_eval_free(&e);
    }
    double n = et->windows > 0 ? et->windows : NAN;
    et->mse /= n;
    et->mae /= n;
    et->mse_orig /= n;
    et->mae_orig /= n;
    return 0;
}

/* Pooled: the validation windows of every series calibrate the intervals in the model's
 * scaled space (HZ_TF_SCALED), which each series maps back with its own statistics; the
 * bounds recorded are the pipeline's. */
static int pooled_calibrate(run *r, char *err, size_t errlen)
{
    int P = r->mc.pred_len, C = r->ocols;
    float *pred = malloc((size_t)r->wva->count * P * C * sizeof(float) + 1);
    r->calib = malloc((size_t)P * C * HZ_IV_GRID * sizeof(float));
    int drop_last = r->mc.kind == HZ_MODEL_INFORMER, rc = 0;
    hz_iv_var iv[HZ_IV_MAX_VARS], named[HZ_IV_MAX_VARS];
    hz_scaler osc;
    hz_scaler_out(&r->pool.d[0].scaler, r->wva, &osc);
    hz_calib_vars(r->p, r->onames, C, &osc, named);
    for (int k = 0; k < C; k++)
        iv[k] = (hz_iv_var){.transform = HZ_TF_SCALED, .mean = 0, .std = 1, .lo = NAN, .hi = NAN};
    if (!pred || !r->calib || hz_evaluate(r->m, r->wva, r->tc.batch, 0, NULL, pred, &r->ev) ||
        pooled_test(r, drop_last))
        rc = hz_err(err, errlen, HZ_ENOMEM, "pipeline %s: out of memory evaluating", r->p->name);
    else if (!(rc = hz_calib_fit(r->wva, pred, r->ev.windows, iv, r->calib, err, errlen))) {
        for (int k = 0; k < C; k++) {
            iv[k].lo = named[k].lo;
            iv[k].hi = named[k].hi;
        }
        r->cal = hz_calib_meta_json(iv, C);
    }
    free(pred);
    return rc;
}

/* Disaggregation: the validation and test scores on scaled data (the NILM scores in watts
 * are `horizon eval`'s) and the "disaggregate" metadata; no intervals. */
static int disagg_scores(run *r, char *err, size_t errlen)
{
    if (hz_evaluate(r->m, &r->d.win[1], r->tc.batch, 0, &r->d.scaler, NULL, &r->ev) ||
        hz_evaluate(r->m, &r->d.win[2], r->tc.batch, 0, &r->d.scaler, NULL, &r->et) ||
        !(r->disagg = hz_disagg_meta_json(r->p, &r->d)))
        return hz_err(err, errlen, HZ_ENOMEM, "pipeline %s: out of memory evaluating", r->p->name);
    return 0;
}

/* Scores the validation and test splits; the validation forecasts calibrate the anomaly
 * intervals (training/calibrate.h: r->calib and the "calib" metadata). */
static int run_calibrate(run *r, char *err, size_t errlen)
{
    if (r->pooled)
        return pooled_calibrate(r, err, errlen);
    if (r->p->model.task == HZ_CFG_TASK_DISAGGREGATE)
        return disagg_scores(r, err, errlen);
    int P = r->mc.pred_len, C = r->ocols;
    float *pred = malloc((size_t)r->d.win[1].count * P * C * sizeof(float) + 1);
    r->calib = malloc((size_t)P * C * HZ_IV_GRID * sizeof(float));
    int drop_last = r->mc.kind == HZ_MODEL_INFORMER;
    int rc = 0;
    hz_iv_var iv[HZ_IV_MAX_VARS];
    hz_scaler osc;
    hz_scaler_out(&r->d.scaler, &r->d.win[1], &osc);
    hz_calib_vars(r->p, r->onames, C, &osc, iv);
    if (!pred || !r->calib ||
        hz_evaluate(r->m, &r->d.win[1], r->tc.batch, 0, &r->d.scaler, pred, &r->ev) ||
        hz_evaluate(r->m, &r->d.win[2], r->tc.batch, drop_last, &r->d.scaler, NULL, &r->et))
        rc = hz_err(err, errlen, HZ_ENOMEM, "pipeline %s: out of memory evaluating", r->p->name);
    else if (!(rc = hz_calib_fit(&r->d.win[1], pred, r->ev.windows, iv, r->calib, err, errlen)))
        r->cal = hz_calib_meta_json(iv, C);
    free(pred);
    return rc;
}

/* Pooled: every series' scaler as "series_scaler", and as "scaler" the log1p flags with
 * the series' mean statistics (read only by programs that predate pooled checkpoints). */
static void pooled_scalers(run *r)
{
    int n = r->pool.n;
    hz_scaler *sc = malloc((size_t)n * sizeof *sc), avg = r->pool.d[0].scaler;
    for (int c = 0; c < avg.cols; c++) {
        avg.mean[c] = avg.std[c] = 0;
        for (int i = 0; i < n; i++) {
            avg.mean[c] += r->pool.d[i].scaler.mean[c] / n;
            avg.std[c] += r->pool.d[i].scaler.std[c] / n;
        }
    }
    for (int i = 0; sc && i < n; i++)
        sc[i] = r->pool.d[i].scaler;
    r->sers = sc ? hz_meta_series_json(r->pool.ids, sc, n) : NULL;
    r->scal = hz_meta_scaler_json(&avg);
    free(sc);
}

/* The checkpoint's JSON metadata: model configuration, variables, scaler and metrics. */
static void run_metadata(run *r)
{
    r->conf_json = hz_model_conf_to_json(&r->mc);
    r->vars = hz_meta_variables_json(r->names, r->cols);
    if (r->pooled)
        pooled_scalers(r);
    else
        r->scal = hz_meta_scaler_json(&r->d.scaler);
    /* original units only for one variable of one series: never an average of cfs² and
     * (mm/day)², or of two gauges' units */
    char mo[32] = "null", ao[32] = "null", buf[512];
    if (r->ocols == 1 && !r->pooled && isfinite(r->et.mse_orig)) {
        snprintf(mo, sizeof mo, "%.6g", r->et.mse_orig);
        snprintf(ao, sizeof ao, "%.6g", r->et.mae_orig);
    }
    snprintf(buf, sizeof buf,
             "{\"val_mse\":%.6g,\"test_mse\":%.6g,\"test_mae\":%.6g,\"test_mse_orig\":%s,"
             "\"test_mae_orig\":%s,\"test_windows\":%d,\"epochs\":%d,\"best_epoch\":%d,"
             "\"max_epochs\":%d,\"stopped_on_request\":%s}",
             r->ev.mse, r->et.mse, r->et.mae, mo, ao, r->et.windows, r->tr.epochs_run,
             r->tr.best_epoch, r->tc.epochs, r->tr.stopped ? "true" : "false");
    r->metrics = strdup(buf);
}

/* Writes the checkpoint with its metadata and calibration (parent directories created, and
 * the database's unless o->no_register) and hashes it; HZ_EAGAIN when o->cancel is set. */
static int run_save(run *r, char *err, size_t errlen)
{
    const hz_pipeline_conf *p = r->p;
    const hz_config *cfg = r->cfg;
    run_metadata(r);
    char period[32], nm[16];
    snprintf(period, sizeof period, "%lld", (long long)table_period(r->t0));
    snprintf(nm, sizeof nm, "%d", r->mc.n_marks);
    const char *meta[9][2] = {{"calib", r->cal},
                              {"variables", r->vars},
                              {"scaler", r->scal},
                              {"period_ms", period},
                              {"n_marks", nm},
                              {"metrics", r->metrics},
                              {"pipeline", p->name},
                              {"time_column", p->source.fields.time ? p->source.fields.time : ""},
                              {"series_scaler", r->sers}};
    if (r->disagg) { /* no intervals: the appliance's scaling and threshold instead */
        meta[0][0] = "disaggregate";
        meta[0][1] = r->disagg;
    }
    hz_ckpt_extra ex = {HZ_IV_TENSOR, 3, {r->mc.pred_len, r->ocols, HZ_IV_GRID}, r->calib};
    make_parent_dirs(r->ckpt);
    if (!r->o->no_register && cfg->database && *cfg->database)
        make_parent_dirs(cfg->database);
    if (r->o->cancel && atomic_load(r->o->cancel))
        return hz_err(err, errlen, HZ_EAGAIN, "pipeline %s: training cancelled", p->name);
    int rc;
    if (!r->vars || !r->scal || (r->pooled && !r->sers))
        return hz_err(err, errlen, HZ_ENOMEM, "pipeline %s: out of memory", p->name);
    if ((rc = hz_ckpt_save(r->m, r->ckpt, meta, r->pooled ? 9 : 8, &ex, r->calib ? 1 : 0, err,
                           errlen)) ||
        (rc = hz_file_sha256(r->ckpt, r->sha, err, errlen)))
        return rc;
    return 0;
}

/* With o->publish: the written checkpoint renamed over it (removed instead when o->cancel is
 * set by now), which r->ckpt then names. */
static int run_publish(run *r, char *err, size_t errlen)
{
    const hz_train_opts *o = r->o;
    if (!o->publish)
        return 0;
    if (o->cancel && atomic_load(o->cancel)) {
        unlink(r->ckpt);
        return hz_err(err, errlen, HZ_EAGAIN, "pipeline %s: training cancelled", r->p->name);
    }
    if (rename(r->ckpt, o->publish) != 0) {
        int rc = hz_err(err, errlen, HZ_EIO, "rename %s to %s: %s", r->ckpt, o->publish,
                        strerror(errno));
        unlink(r->ckpt);
        return rc;
    }
    r->ckpt = o->publish;
    return 0;
}

/* Logs the written checkpoint; the state file stays after a stop on request, else goes. */
static void run_written(const run *r)
{
    const hz_logger *log = r->o->log;
    say(log, "checkpoint %s written", r->ckpt);
    if (r->tc.state_path && r->tr.stopped)
        say_state_kept(log, r->tr.epochs_run, r->state);
    else if (r->tc.state_path && unlink(r->state) && errno != ENOENT)
        say(log, "warning: %s not removed: %s", r->state, strerror(errno));
}

/* The run's scores and model id, for the caller. */
static void run_summary(const run *r, hz_train_summary *out)
{
    *out = (hz_train_summary){.val_mse = r->ev.mse,
                              .val_mae = r->ev.mae,
                              .test_mse = r->et.mse,
                              .test_mae = r->et.mae,
                              .test_windows = r->et.windows,
                              .epochs_run = r->tr.epochs_run,
                              .stopped = r->tr.stopped};
    snprintf(out->model_id, sizeof out->model_id, "%s-%.12s", r->p->name, r->sha);
}

/* Frees what the run's steps allocated (also after a failure at any of them). */
static void run_free(run *r)
{
    hz_eval_free(&r->ev);
    hz_eval_free(&r->et);
    free(r->calib);
    free(r->cal);
    free(r->conf_json);
    free(r->vars);
    free(r->scal);
    free(r->metrics);
    free(r->sers);
    free(r->disagg);
    hz_model_free(r->m);
    hz_prepared_free(&r->d);
    hz_pool_free(&r->pool);
}

/* A Kafka pipeline trains on what its SQLite sink stored, not on the topic: says which file,
 * table and rows, so a training on a daemon's configuration is never a silent surprise. */
static void say_history(const run *r, const hz_pipeline_conf *pc)
{
    if (pc->source.kind != HZ_CFG_SOURCE_KAFKA)
        return;
    const hz_table *t = r->t0;
    if (r->pooled)
        say(r->o->log,
            "pipeline %s reads Kafka topic %s: training on the readings stored in %s, table "
            "readings, every series (%d of them)",
            pc->name, pc->source.kafka.topic, r->p->source.sqlite.path, r->pool.n);
    else
        say(r->o->log,
            "pipeline %s reads Kafka topic %s: training on the readings stored in %s, table "
            "readings, series %s (%d rows)",
            pc->name, pc->source.kafka.topic, r->p->source.sqlite.path,
            r->series ? r->series : "(every row)", t ? t->rows : 0);
}

/* One training run of pc (its own seed) to o->checkpoint; registered when do_register. */
static int train_one(const hz_config *cfg, const hz_pipeline_conf *pc, const hz_train_opts *o,
                     int do_register, hz_train_summary *out, char *err, size_t errlen)
{
    run r;
    memset(&r, 0, sizeof r);
    r.cfg = cfg;
    r.o = o;
    r.p = history_conf(cfg, pc, &r.hist);
    r.ckpt = o->checkpoint ? o->checkpoint : pc->model.checkpoint;
    int rc;
    if ((rc = run_prepare(&r, err, errlen)))
        goto out;
    say_history(&r, pc);
    if ((rc = run_train(&r, err, errlen)) || (rc = run_calibrate(&r, err, errlen)) ||
        (rc = run_save(&r, err, errlen)) || (rc = run_publish(&r, err, errlen)))
        goto out;
    run_written(&r);
    char rerr[HZ_ERRLEN];
    if (do_register &&
        register_model(cfg, r.p, r.ckpt, r.sha, r.conf_json, r.metrics, o->log, rerr, sizeof rerr))
        say(o->log, "warning: model not registered: %s", rerr);
    if (out)
        run_summary(&r, out);
out:
    run_free(&r);
    return rc;
}

void hz_train_state_path(const char *checkpoint, char *out, size_t n)
{
    snprintf(out, n, "%s.state", checkpoint);
}

void hz_repeat_path(const char *checkpoint, int r, char *out, size_t n)
{
    size_t stem = hz_ckpt_stem(checkpoint);
    snprintf(out, n, "%.*s.r%d%s", (int)stem, checkpoint, r, checkpoint + stem);
}

int hz_repeat_metrics(const char *path, double *val_mse, double *test_mse, double *test_mae,
                      char *err, size_t errlen)
{
    hz_st_file *f;
    int rc = hz_st_open(path, &f, err, errlen);
    if (rc)
        return rc;
    const char *m = hz_st_meta(f, "metrics");
    json_error_t je;
    json_t *o = m ? json_loads(m, 0, &je) : NULL;
    json_t *v = json_object_get(o, "val_mse"), *t = json_object_get(o, "test_mse"),
           *a = json_object_get(o, "test_mae");
    if (!json_is_number(v) || !json_is_number(t) || !json_is_number(a)) {
        rc = hz_err(err, errlen, HZ_EFORMAT, "%s: no val_mse/test_mse/test_mae in its metrics",
                    path);
    } else {
        *val_mse = json_number_value(v);
        *test_mse = json_number_value(t);
        *test_mae = json_number_value(a);
    }
    json_decref(o);
    hz_st_close(f);
    return rc;
}

/* src copied to dst through dst.tmp and a rename, so a reader never sees half a file. */
static int copy_file(const char *src, const char *dst, char *err, size_t errlen)
{
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", dst);
    FILE *in = fopen(src, "rb"), *out = in ? fopen(tmp, "wb") : NULL;
    int rc = 0;
    if (!in || !out) {
        rc = hz_err(err, errlen, HZ_EIO, "%s: %s", in ? tmp : src, strerror(errno));
    } else {
        char buf[1 << 16];
        size_t k;
        while ((k = fread(buf, 1, sizeof buf, in)) > 0)
            if (fwrite(buf, 1, k, out) != k)
                break;
        if (ferror(in) || ferror(out) || fflush(out) || fsync(fileno(out)))
            rc = hz_err(err, errlen, HZ_EIO, "copy %s to %s: %s", src, tmp, strerror(errno));
    }
    if (out && fclose(out) && !rc)
        rc = hz_err(err, errlen, HZ_EIO, "%s: %s", tmp, strerror(errno));
    if (in)
        fclose(in);
    if (!rc && rename(tmp, dst))
        rc = hz_err(err, errlen, HZ_EIO, "rename %s to %s: %s", tmp, dst, strerror(errno));
    if (rc && out)
        unlink(tmp);
    return rc;
}

int hz_checkpoint_copy(const char *src, const char *dst, char *err, size_t errlen)
{
    return copy_file(src, dst, err, errlen);
}

/* The repeat with the lowest validation loss becomes the served checkpoint (o->publish, else
 * o->checkpoint, else the configured path) and is registered (unless o->no_register).  HZ_ENOTFOUND
 * while some repeat is missing. */
static int select_repeat(const hz_config *cfg, const hz_pipeline_conf *pc, const hz_train_opts *o,
                         hz_train_summary *out, char *err, size_t errlen)
{
    const char *ckpt = o->base ? o->base : o->checkpoint ? o->checkpoint : pc->model.checkpoint;
    const char *dst = o->publish ? o->publish : o->checkpoint ? o->checkpoint : ckpt;
    int n = pc->model.train.repeats, best = -1;
    double best_val = 0, sum_mse = 0, sum_mae = 0;
    char path[1100];
    for (int r = 0; r < n; r++) {
        double v, t, a;
        hz_repeat_path(ckpt, r, path, sizeof path);
        if (access(path, R_OK))
            return hz_err(err, errlen, HZ_ENOTFOUND,
                          "pipeline %s: repeat %d of %d not trained yet (%s)", pc->name, r, n,
                          path);
        int rc = hz_repeat_metrics(path, &v, &t, &a, err, errlen);
        if (rc)
            return rc;
        say(o->log, "repeat %d (seed %d): val mse %.6f, test mse %.6f mae %.6f", r,
            pc->model.train.seed + r, v, t, a);
        sum_mse += t;
        sum_mae += a;
        if (best < 0 || v < best_val) {
            best = r;
            best_val = v;
        }
    }
    hz_repeat_path(ckpt, best, path, sizeof path);
    char sha[65];
    int rc;
    hz_st_file *f = NULL;
    if ((rc = copy_file(path, dst, err, errlen)) || (rc = hz_file_sha256(dst, sha, err, errlen)) ||
        (rc = hz_st_open(dst, &f, err, errlen)))
        return rc;
    say(o->log,
        "repeats: mean test mse %.6f mae %.6f over %d; serving repeat %d (val mse %.6f) "
        "as %s",
        sum_mse / n, sum_mae / n, n, best, best_val, dst);
    char rerr[HZ_ERRLEN];
    if (!o->no_register && register_model(cfg, pc, dst, sha, hz_st_meta(f, "config"),
                                          hz_st_meta(f, "metrics"), o->log, rerr, sizeof rerr))
        say(o->log, "warning: model not registered: %s", rerr);
    hz_st_close(f);
    if (out) {
        out->val_mse = best_val;
        out->test_mse = sum_mse / n;
        out->test_mae = sum_mae / n;
        snprintf(out->model_id, sizeof out->model_id, "%s-%.12s", pc->name, sha);
    }
    return 0;
}

int hz_trainer_run(const hz_config *cfg, const hz_pipeline_conf *pc, const hz_train_opts *o,
                   hz_train_summary *out, char *err, size_t errlen)
{
    int n = pc->model.train.repeats;
    if (n <= 1)
        return train_one(cfg, pc, o, !o->no_register, out, err, errlen);
    if (o->repeat && (*o->repeat < 0 || *o->repeat >= n))
        return hz_err(err, errlen, HZ_EINVAL, "pipeline %s: repeat %d is not in 0..%d", pc->name,
                      *o->repeat, n - 1);
    const char *ckpt = o->base ? o->base : o->checkpoint ? o->checkpoint : pc->model.checkpoint;
    char path[1100];
    for (int r = 0; r < n; r++) {
        if (o->repeat && r != *o->repeat)
            continue;
        hz_pipeline_conf rp = *pc;
        rp.model.train.seed = pc->model.train.seed + r;
        hz_train_opts ro = *o;
        hz_repeat_path(ckpt, r, path, sizeof path);
        ro.checkpoint = path;
        ro.publish = NULL;
        ro.base = NULL;
        if (o->keep_state && o->resume == HZ_RESUME) {
            char state[1200]; /* a path of up to 1100 and ".state" */
            hz_train_state_path(path, state, sizeof state);
            int have_state = access(state, F_OK) == 0;
            if (!have_state && access(path, F_OK) == 0) {
                say(o->log, "repeat %d of %d: %s is trained, kept", r, n, path);
                continue;
            }
            ro.resume = have_state ? HZ_RESUME : 0; /* a repeat not started yet starts */
        }
        say(o->log, "repeat %d of %d: seed %d", r, n, rp.model.train.seed);
        int rc = train_one(cfg, &rp, &ro, 0, out, err, errlen);
        if (rc)
            return rc;
        if (o->stop && atomic_load(o->stop) && r + 1 < n && !o->repeat) {
            say(o->log, "stopped on request after repeat %d of 0..%d; --resume trains the others",
                r, n - 1);
            break;
        }
    }
    int rc = select_repeat(cfg, pc, o, out, err, errlen);
    if (rc == HZ_ENOTFOUND && (o->repeat || (o->stop && atomic_load(o->stop)))) {
        say(o->log, "%s; the served checkpoint is chosen once every repeat is trained", err);
        return 0;
    }
    return rc;
}
