/* trainer.c — a pipeline's model trained and checkpointed (trainer.h): the papers' split
 * and scaling (MODELS.md §1), training with early stopping (training/train.c), validation
 * residual quantiles for the split-conformal anomaly intervals (anomaly.h), the checkpoint
 * and its row in the `models` registry.  Used by `horizon train` and horizond. */
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
#include "training/prepare.h"
#include "engine/par.h"
#include "connectors/sqlite_schema.h"
#include "training/train.h"

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

#define CALIB_Q 99 /* quantiles 0.01 .. 0.99 of |residual| per step and variable */

typedef struct progress {
    const hz_logger *log;
    int tty;
    int epochs;
    int64_t t0;
    int64_t last; /* when the last progress line went out (no tty: at most one a minute) */
    void (*alive)(void *arg);
    void *alive_arg;
} progress;

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

static void say_state_kept(const hz_logger *log, int epoch, const char *state)
{
    say(log, "the state after epoch %d stays in %s: the run can continue from there", epoch, state);
}

/* One training run of pc (its own seed) to o->checkpoint; registered when do_register. */
static int train_one(const hz_config *cfg, const hz_pipeline_conf *pc, const hz_train_opts *o,
                     int do_register, hz_train_summary *out, char *err, size_t errlen)
{
    const hz_logger *log = o->log;
    const char *ckpt = o->checkpoint ? o->checkpoint : pc->model.checkpoint;
    const char *series = o->series;
    char busiest[512];
    /* a Kafka pipeline learns from what its SQLite sink stored */
    hz_pipeline_conf hist = *pc;
    const hz_pipeline_conf *p = pc;
    if (pc->source.kind == HZ_CFG_SOURCE_KAFKA) {
        hist.source.kind = HZ_CFG_SOURCE_SQLITE;
        hist.source.sqlite.path = cfg->database;
        hist.source.sqlite.table = "readings";
        for (size_t i = 0; i < pc->n_sinks; i++)
            if (pc->sinks[i].kind == HZ_CFG_SINK_SQLITE) {
                hist.source.sqlite.path = pc->sinks[i].sqlite.path;
                break;
            }
        p = &hist;
    }
    if (!series && p->source.kind == HZ_CFG_SOURCE_SQLITE) {
        int brc = busiest_series(p->source.sqlite.path, p->source.sqlite.table, busiest,
                                 sizeof busiest, err, errlen);
        if (brc)
            return brc;
        series = busiest;
    }
    int rc = 0;
    hz_prepared d;
    memset(&d, 0, sizeof d);
    hz_model *m = NULL;
    float *abs_err = NULL, *calib = NULL;
    char *conf_json = NULL, *vars = NULL, *scal = NULL, *metrics = NULL;
    hz_eval_result ev = {0}, et = {0};
    hz_model_conf mc;
    if ((rc = hz_prepared_load(cfg, p, series, &d, err, errlen)) ||
        (rc = hz_pipeline_model_conf(p, d.table.cols, &mc, err, errlen)) ||
        (rc = hz_prepared_split(p, &mc, NULL, &d, err, errlen)) ||
        (rc = hz_model_create(&mc, &m, err, errlen)))
        goto out;
    if (p->model.train.threads > 0) { /* OpenBLAS is loaded: its environment is read already */
        openblas_set_num_threads(p->model.train.threads);
        hz_par_set_threads(p->model.train.threads); /* and the engine's own loops */
    }
    hz_train_conf tc = {
        .epochs = o->epochs >= 0 ? o->epochs : p->model.train.epochs,
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
        .max_train_batches = o->max_batches,
        .cancel = o->cancel,
        .stop = o->stop,
        .resume = o->keep_state ? o->resume : 0,
    };
    char state[1200]; /* a path of up to 1100 and ".state" */
    hz_train_state_path(ckpt, state, sizeof state);
    if (o->keep_state) {
        make_parent_dirs(ckpt);
        tc.state_path = state;
        if (!o->resume && access(state, F_OK) == 0)
            say(log, "%s holds an interrupted run: starting over (--resume continues it)", state);
    }
    say(log,
        "train: pipeline %s%s%s, %s, %d variables, %d rows; windows train %d val %d test %d; "
        "%lld parameters",
        p->name, series ? ", series " : "", series ? series : "", hz_model_kind_name(mc.kind),
        d.table.cols, d.table.rows, d.win[0].count, d.win[1].count, d.win[2].count,
        (long long)m->params.n_trainable);
    progress pr = {.log = log,
                   .tty = !log && isatty(STDERR_FILENO),
                   .epochs = tc.epochs,
                   .t0 = hz_mono_ns(),
                   .last = hz_mono_ns(),
                   .alive = o->alive,
                   .alive_arg = o->alive_arg};
    hz_train_result tr = {0};
    int trained = tc.epochs > 0 || tc.resume;
    int have_state = tc.state_path && access(state, F_OK) == 0;
    if (tc.resume == HZ_RESUME || (tc.resume && have_state))
        say(log, "resuming the run saved in %s%s", state,
            tc.resume == HZ_RESUME ? "" : " if this run made it");
    if (trained)
        rc = hz_train(m, &d.win[0], &d.win[1], &tc, on_progress, &pr, &tr, err, errlen);
    if (tr.state_err[0])
        say(log, "warning: training state not saved: %s", tr.state_err);
    if (rc == HZ_EAGAIN && tc.state_path && tr.epochs_run > 0)
        say_state_kept(log, tr.epochs_run, state);
    if (rc)
        goto out;
    if (tr.resume_note[0])
        say(log, "not resumed: %s; trained from the first epoch", tr.resume_note);
    if (tr.resumed_from && tr.epochs_run == tr.resumed_from)
        say(log, "the saved run had ended after epoch %d: nothing left to train", tr.resumed_from);
    if (tr.stopped)
        say(log,
            "stopped on request after epoch %d of %d: the weights of epoch %d (val loss %.5f) "
            "are kept",
            tr.epochs_run, tc.epochs, tr.best_epoch, tr.best_val);
    /* validation residuals (original units) calibrate the anomaly intervals */
    int P = mc.pred_len, C = d.table.cols;
    abs_err = malloc((size_t)d.win[1].count * P * C * sizeof(float) + 1);
    calib = malloc((size_t)P * C * CALIB_Q * sizeof(float));
    int drop_last = mc.kind == HZ_MODEL_INFORMER;
    if (!abs_err || !calib || hz_evaluate(m, &d.win[1], tc.batch, 0, &d.scaler, abs_err, &ev) ||
        hz_evaluate(m, &d.win[2], tc.batch, drop_last, &d.scaler, NULL, &et)) {
        rc = hz_err(err, errlen, HZ_ENOMEM, "pipeline %s: out of memory evaluating", p->name);
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
             "\"test_mae_orig\":%.6g,\"test_windows\":%d,\"epochs\":%d,\"best_epoch\":%d,"
             "\"max_epochs\":%d,\"stopped_on_request\":%s}",
             ev.mse, et.mse, et.mae, et.mse_orig, et.mae_orig, et.windows, tr.epochs_run,
             tr.best_epoch, tc.epochs, tr.stopped ? "true" : "false");
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
    if (o->cancel && atomic_load(o->cancel)) {
        rc = hz_err(err, errlen, HZ_EAGAIN, "pipeline %s: training cancelled", p->name);
        goto out;
    }
    if ((rc = hz_ckpt_save(m, ckpt, meta, 7, &ex, 1, err, errlen)))
        goto out;
    char sha[65];
    if ((rc = hz_file_sha256(ckpt, sha, err, errlen)))
        goto out;
    if (o->publish) {
        if (o->cancel && atomic_load(o->cancel)) {
            unlink(ckpt);
            rc = hz_err(err, errlen, HZ_EAGAIN, "pipeline %s: training cancelled", p->name);
            goto out;
        }
        if (rename(ckpt, o->publish) != 0) {
            rc = hz_err(err, errlen, HZ_EIO, "rename %s to %s: %s", ckpt, o->publish,
                        strerror(errno));
            unlink(ckpt);
            goto out;
        }
        ckpt = o->publish;
    }
    say(log, "checkpoint %s written", ckpt);
    if (tc.state_path && tr.stopped)
        say_state_kept(log, tr.epochs_run, state);
    else if (tc.state_path && unlink(state) && errno != ENOENT)
        say(log, "warning: %s not removed: %s", state, strerror(errno));
    char rerr[HZ_ERRLEN];
    if (do_register &&
        register_model(cfg, p, ckpt, sha, conf_json, metrics, log, rerr, sizeof rerr))
        say(log, "warning: model not registered: %s", rerr);
    if (out) {
        *out = (hz_train_summary){.val_mse = ev.mse,
                                  .val_mae = ev.mae,
                                  .test_mse = et.mse,
                                  .test_mae = et.mae,
                                  .test_windows = et.windows,
                                  .epochs_run = tr.epochs_run,
                                  .stopped = tr.stopped};
        snprintf(out->model_id, sizeof out->model_id, "%s-%.12s", p->name, sha);
    }
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
    return rc;
}

void hz_train_state_path(const char *checkpoint, char *out, size_t n)
{
    snprintf(out, n, "%s.state", checkpoint);
}

void hz_repeat_path(const char *checkpoint, int r, char *out, size_t n)
{
    static const char ext[] = ".safetensors";
    size_t len = strlen(checkpoint), el = sizeof ext - 1;
    if (len > el && !strcmp(checkpoint + len - el, ext))
        snprintf(out, n, "%.*s.r%d%s", (int)(len - el), checkpoint, r, ext);
    else
        snprintf(out, n, "%s.r%d", checkpoint, r);
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

/* The repeat with the lowest validation loss becomes the served checkpoint (o->publish or
 * the configured path) and is registered.  HZ_ENOTFOUND while some repeat is missing. */
static int select_repeat(const hz_config *cfg, const hz_pipeline_conf *pc, const hz_train_opts *o,
                         hz_train_summary *out, char *err, size_t errlen)
{
    const char *ckpt = o->checkpoint ? o->checkpoint : pc->model.checkpoint;
    const char *dst = o->publish ? o->publish : ckpt;
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
    if (register_model(cfg, pc, dst, sha, hz_st_meta(f, "config"), hz_st_meta(f, "metrics"), o->log,
                       rerr, sizeof rerr))
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
        return train_one(cfg, pc, o, 1, out, err, errlen);
    if (o->repeat && (*o->repeat < 0 || *o->repeat >= n))
        return hz_err(err, errlen, HZ_EINVAL, "pipeline %s: repeat %d is not in 0..%d", pc->name,
                      *o->repeat, n - 1);
    const char *ckpt = o->checkpoint ? o->checkpoint : pc->model.checkpoint;
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
