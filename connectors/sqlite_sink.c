/* sqlite_sink.c — the SQLite sink (docs/ARCHITECTURE.md): one
 * open transaction per batch, prepared upserts, COMMIT on flush.  See sqlite_sink.h. */
#include "connectors/sqlite_sink.h"

#include "connectors/sqlite_latest.h"
#include "connectors/sqlite_stage.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ST_READING, ST_FORECAST, ST_ANOMALY, ST_DEAD, ST_FLAG, ST_ESTIMATE, ST_N };
enum { PURGE_READINGS, PURGE_FORECASTS, PURGE_LATEST, PURGE_ANOMALIES, PURGE_APPLIANCES, PURGE_N };

typedef struct sqlite_sink {
    hz_sink base;
    sqlite3 *db;
    sqlite3_stmt *st[ST_N];
    char *path;
    char forecasts[128]; /* the forecasts table's name */
    int nlv;             /* levels the forecast statement writes columns for */
    double lv[HZ_FC_MAX_LEVELS];
    uint64_t rows;
    int fc_mode;              /* HZ_SQLITE_FC_* bits */
    hz_sqlite_latest *latest; /* the latest-forecast table, with HZ_SQLITE_FC_LATEST */
    hz_sqlite_stage *stage;   /* staged readings (sqlite_stage.h) */
    /* retention (sqlite_sink.h): per purge statement its keep, the newest time written and
     * the newest already purged behind */
    sqlite3_stmt *purge[PURGE_N];
    int64_t keep[PURGE_N], newest[PURGE_N], purged[PURGE_N];
    char pipeline[128]; /* the pipeline whose rows this sink writes (from its records) */
    /* WAL checkpoints run on their own connection and thread (ckpt_loop), not at commit */
    pthread_t ckpt;
    int ckpt_on;
    int ckpt_truncate_frames; /* WAL frames past which wal_hook empties the WAL */
    int ckpt_backoff;         /* commits not to try after a truncation that gave up */
    pthread_mutex_t ckpt_mu;
    pthread_cond_t ckpt_cv;
    int ckpt_stop;
} sqlite_sink;

#define CKPT_EVERY_MS 500 /* how often the checkpoint thread copies the WAL into the file */
/* WAL frames past which the writer empties the WAL after a commit (64 MiB of 4 KiB pages) */
#define CKPT_TRUNCATE_FRAMES 16384

static int db_error(sqlite_sink *s, char *err, size_t errlen, const char *what)
{
    hz_err(err, errlen, HZ_EDB, "%s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return HZ_EDB;
}

static int begin(sqlite_sink *s, char *err, size_t errlen)
{
    if (!sqlite3_get_autocommit(s->db))
        return 0;
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return db_error(s, err, errlen, "begin");
    return 0;
}

static int step(sqlite_sink *s, sqlite3_stmt *st, char *err, size_t errlen, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return db_error(s, err, errlen, what);
    s->rows++;
    return 0;
}

static void bind_real(sqlite3_stmt *st, int i, double v)
{
    if (isnan(v))
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_double(st, i, v);
}

static void bind_text(sqlite3_stmt *st, int i, const char *t)
{
    if (t)
        sqlite3_bind_text(st, i, t, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static int sink_write_readings(hz_sink *k, const char *pipeline, const char *const *var_names,
                               const hz_reading *r, size_t n, char *err, size_t errlen)
{
    sqlite_sink *s = (sqlite_sink *)k;
    if (n == 0)
        return 0;
    int rc = begin(s, err, errlen);
    if (rc)
        return rc;
    sqlite3_stmt *st = s->st[ST_READING];
    for (size_t i = 0; i < n; i++) {
        for (int v = 0; v < r[i].nvars; v++) {
            if (isnan(r[i].values[v]))
                continue;
            sqlite3_bind_text(st, 1, r[i].series, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, var_names[v], -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 3, r[i].ts_ms);
            sqlite3_bind_double(st, 4, r[i].values[v]);
            if (r[i].ts_ms > s->newest[PURGE_READINGS])
                s->newest[PURGE_READINGS] = r[i].ts_ms;
            if ((rc = step(s, st, err, errlen, "insert reading")))
                return rc;
        }
    }
    return 0;
}

/* The forecast upsert for nl levels: columns lowerNN/upperNN after the first ten. */
static void forecast_sql(const char *table, int nl, const double *lv, char *sql, size_t len)
{
    char cols[256] = "", vals[128] = "", upd[512] = "";
    size_t c = 0, v = 0, u = 0;
    for (int l = 0; l < nl; l++) {
        char x[24];
        hz_level_suffix(lv[l], x, sizeof x);
        c += (size_t)snprintf(cols + c, sizeof cols - c, ", lower%s, upper%s", x, x);
        v += (size_t)snprintf(vals + v, sizeof vals - v, ", ?%d, ?%d", 11 + 2 * l, 12 + 2 * l);
        u += (size_t)snprintf(upd + u, sizeof upd - u,
                              ", lower%s = excluded.lower%s, upper%s = excluded.upper%s", x, x, x,
                              x);
    }
    snprintf(sql, len,
             "INSERT INTO %s(pipeline, series, variable, issued_ts, target_ts, step, value, "
             "lower, upper, model_id%s) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10%s) "
             "ON CONFLICT(pipeline, series, variable, issued_ts, step) DO UPDATE SET "
             "target_ts = excluded.target_ts, value = excluded.value, lower = excluded.lower, "
             "upper = excluded.upper, model_id = excluded.model_id%s",
             table, cols, vals, upd);
}

/* Makes the forecast statement write the columns of f's levels, adding them to the table
 * (a file written before, or for other levels) inside the open transaction. */
static int prepare_levels(sqlite_sink *s, const hz_forecast *f, char *err, size_t errlen)
{
    int nl = f->nlevels;
    if (nl == s->nlv && (nl == 0 || !memcmp(f->levels, s->lv, (size_t)nl * sizeof *s->lv)))
        return 0;
    for (int l = 0; l < nl; l++)
        for (int side = 0; side < 2; side++) {
            char col[40];
            hz_level_suffix(f->levels[l], col + 5, sizeof col - 5);
            memcpy(col, side ? "upper" : "lower", 5);
            if (hz_sqlite_add_column(s->db, s->forecasts, col, "REAL", err, errlen))
                return db_error(s, err, errlen, "adding interval columns");
        }
    char sql[1536];
    forecast_sql(s->forecasts, nl, f->levels, sql, sizeof sql);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK)
        return db_error(s, err, errlen, "preparing the forecast statement");
    sqlite3_finalize(s->st[ST_FORECAST]);
    s->st[ST_FORECAST] = st;
    s->nlv = nl;
    if (nl)
        memcpy(s->lv, f->levels, (size_t)nl * sizeof *s->lv);
    return 0;
}

/* Remembers the pipeline of the records (for the purges) and the newest time of kind k. */
static void note_newest(sqlite_sink *s, const char *pipeline, int k, int64_t ts)
{
    if (!s->pipeline[0] && pipeline)
        snprintf(s->pipeline, sizeof s->pipeline, "%s", pipeline);
    if (ts > s->newest[k])
        s->newest[k] = ts;
}

static int write_history(sqlite_sink *s, const hz_forecast *f, size_t n, char *err, size_t errlen)
{
    int rc = prepare_levels(s, &f[0], err, errlen);
    if (rc)
        return rc;
    sqlite3_stmt *st = s->st[ST_FORECAST];
    for (size_t i = 0; i < n; i++) {
        bind_text(st, 1, f[i].pipeline ? f[i].pipeline : "");
        bind_text(st, 2, f[i].series);
        bind_text(st, 3, f[i].variable);
        sqlite3_bind_int64(st, 4, f[i].issued_ts);
        sqlite3_bind_int64(st, 5, f[i].target_ts);
        sqlite3_bind_int(st, 6, f[i].step);
        bind_real(st, 7, f[i].value);
        bind_real(st, 8, f[i].lower);
        bind_real(st, 9, f[i].upper);
        bind_text(st, 10, f[i].model_id);
        for (int l = 0; l < s->nlv; l++) {
            int same = l < f[i].nlevels; /* one pipeline's forecasts share their levels */
            bind_real(st, 11 + 2 * l, same ? f[i].lo[l] : NAN);
            bind_real(st, 12 + 2 * l, same ? f[i].hi[l] : NAN);
        }
        if ((rc = step(s, st, err, errlen, "insert forecast")))
            return rc;
    }
    return 0;
}

static int sink_write_forecasts(hz_sink *k, const hz_forecast *f, size_t n, char *err,
                                size_t errlen)
{
    sqlite_sink *s = (sqlite_sink *)k;
    if (n == 0)
        return 0;
    int rc = begin(s, err, errlen);
    if (!rc && (s->fc_mode & HZ_SQLITE_FC_HISTORY))
        rc = write_history(s, f, n, err, errlen);
    if (!rc && (s->fc_mode & HZ_SQLITE_FC_LATEST) &&
        (rc = hz_sqlite_latest_write(s->latest, f, n, &s->rows, err, errlen)) == HZ_EDB)
        return db_error(s, err, errlen, "latest forecasts");
    for (size_t i = 0; !rc && i < n; i++) {
        note_newest(s, f[i].pipeline, PURGE_FORECASTS, f[i].issued_ts);
        note_newest(s, f[i].pipeline, PURGE_LATEST, f[i].issued_ts);
    }
    return rc;
}

static int sink_write_anomalies(hz_sink *k, const hz_anomaly *a, size_t n, char *err, size_t errlen)
{
    sqlite_sink *s = (sqlite_sink *)k;
    if (n == 0)
        return 0;
    int rc = begin(s, err, errlen);
    if (rc)
        return rc;
    sqlite3_stmt *st = s->st[ST_ANOMALY];
    for (size_t i = 0; i < n; i++) {
        bind_text(st, 1, a[i].pipeline ? a[i].pipeline : "");
        bind_text(st, 2, a[i].series);
        bind_text(st, 3, a[i].variable);
        sqlite3_bind_int64(st, 4, a[i].ts);
        bind_real(st, 5, a[i].value);
        bind_real(st, 6, a[i].expected);
        bind_real(st, 7, a[i].lower);
        bind_real(st, 8, a[i].upper);
        bind_real(st, 9, a[i].score);
        sqlite3_bind_int(st, 10, a[i].flag);
        bind_text(st, 11, a[i].kind ? a[i].kind : "");
        bind_text(st, 12, a[i].model_id);
        bind_text(st, 13, a[i].rule);
        if ((rc = step(s, st, err, errlen, "insert anomaly")))
            return rc;
        note_newest(s, a[i].pipeline, PURGE_ANOMALIES, a[i].ts);
    }
    return 0;
}

static int sink_write_dead(hz_sink *k, const char *pipeline, const hz_dead_letter *d, size_t n,
                           char *err, size_t errlen)
{
    sqlite_sink *s = (sqlite_sink *)k;
    if (n == 0)
        return 0;
    int rc = begin(s, err, errlen);
    if (rc)
        return rc;
    sqlite3_stmt *st = s->st[ST_DEAD];
    for (size_t i = 0; i < n; i++) {
        bind_text(st, 1, pipeline ? pipeline : "");
        bind_text(st, 2, d[i].origin ? d[i].origin : "");
        bind_text(st, 3, d[i].reason ? d[i].reason : "");
        if (d[i].payload)
            sqlite3_bind_blob(st, 4, d[i].payload, (int)d[i].payload_len, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 4);
        sqlite3_bind_int64(st, 5, d[i].ts_ms);
        if ((rc = step(s, st, err, errlen, "insert dead letter")))
            return rc;
    }
    return 0;
}

/* A row per slot of each estimate: its power and state, keyed by the slot (a later window
 * covering the same minute replaces it), with the window's last slot for the restart check
 * of pipeline/pipeline.c. */
static int sink_write_estimates(hz_sink *k, const hz_estimate *e, size_t n, char *err,
                                size_t errlen)
{
    sqlite_sink *s = (sqlite_sink *)k;
    if (n == 0)
        return 0;
    int rc = begin(s, err, errlen);
    sqlite3_stmt *st = s->st[ST_ESTIMATE];
    for (size_t i = 0; i < n && !rc; i++) {
        int64_t end = e[i].start_ts + (int64_t)(e[i].n - 1) * e[i].period_ms;
        for (int t = 0; t < e[i].n && !rc; t++) {
            bind_text(st, 1, e[i].pipeline ? e[i].pipeline : "");
            bind_text(st, 2, e[i].series);
            bind_text(st, 3, e[i].appliance);
            sqlite3_bind_int64(st, 4, e[i].start_ts + (int64_t)t * e[i].period_ms);
            sqlite3_bind_double(st, 5, e[i].power[t]);
            sqlite3_bind_int(st, 6, e[i].power[t] >= e[i].on_threshold && e[i].power[t] > 0);
            sqlite3_bind_int64(st, 7, end);
            bind_text(st, 8, e[i].model_id);
            rc = step(s, st, err, errlen, "insert appliance estimate");
        }
        note_newest(s, e[i].pipeline, PURGE_APPLIANCES, end);
    }
    return rc;
}

int hz_sqlite_sink_write_flag(hz_sink *k, const char *series, const char *const *var_names,
                              int nvars, int64_t ts_ms, const char *code, char *err, size_t errlen)
{
    sqlite_sink *s = (sqlite_sink *)k;
    int rc = begin(s, err, errlen);
    sqlite3_stmt *st = s->st[ST_FLAG];
    for (int v = 0; v < nvars && !rc; v++) {
        sqlite3_bind_text(st, 1, series, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, var_names[v], -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, ts_ms);
        sqlite3_bind_text(st, 4, code, -1, SQLITE_STATIC);
        rc = step(s, st, err, errlen, "insert reading flag");
    }
    return rc;
}

/* Deletes the rows older than each retention behind the newest written (inside the open
 * transaction, so they go with the batch's commit). */
static int purge(sqlite_sink *s, char *err, size_t errlen)
{
    for (int k = 0; k < PURGE_N; k++) {
        sqlite3_stmt *st = s->purge[k];
        if (!st || s->newest[k] == INT64_MIN || s->newest[k] == s->purged[k])
            continue;
        int i = 1;
        if (k != PURGE_READINGS)
            sqlite3_bind_text(st, i++, s->pipeline, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, i, s->newest[k] - s->keep[k]);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            return db_error(s, err, errlen, "deleting rows past their retention");
        s->purged[k] = s->newest[k];
    }
    return 0;
}

static int sink_flush(hz_sink *k, int timeout_ms, char *err, size_t errlen)
{
    sqlite_sink *s = (sqlite_sink *)k;
    (void)timeout_ms;
    if (!sqlite3_get_autocommit(s->db)) {
        int rc = purge(s, err, errlen);
        if (rc)
            return rc;
        if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
            return db_error(s, err, errlen, "commit");
    } /* then a step of the staged readings' move, if one is due (sqlite_stage.h) */
    return hz_sqlite_stage_due(s->stage) ? hz_sqlite_stage_step(s->stage, err, errlen) : 0;
}

/* After each commit of the writer (sqlite3_wal_hook), with `pages` frames in the WAL: past
 * ckpt_truncate_frames, a TRUNCATE checkpoint on the writer's own connection.  The
 * checkpoint thread's PASSIVE checkpoints copy frames into the file but never start the WAL
 * over, and under a steady stream of commits they are never done before the next one: the
 * WAL then grows without end (46 GB in the 10-minute soak, bench/soak.sh, its index mapped
 * in memory with it).  The thread cannot truncate it either: the writer takes its lock
 * again at once.  Here, between two of its own transactions, the writer copies what the
 * thread left (its last half second) and empties the WAL; a reader on an older snapshot
 * makes it wait up to the busy timeout and give up, and the next 50 commits do not try. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    sqlite_sink *s = arg;
    (void)name;
    if (pages <= s->ckpt_truncate_frames)
        return SQLITE_OK;
    if (s->ckpt_backoff > 0) {
        s->ckpt_backoff--;
        return SQLITE_OK;
    }
    if (sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL) != SQLITE_OK)
        s->ckpt_backoff = 50;
    return SQLITE_OK;
}

/* The checkpoint thread: a PASSIVE checkpoint (never waits for the writer) every
 * CKPT_EVERY_MS on its own connection, so commits only append to the WAL (wal_hook empties
 * it when it grows). */
static void *ckpt_loop(void *arg)
{
    sqlite_sink *s = arg;
    sqlite3 *db = NULL;
    pthread_setname_np(pthread_self(), "hz-checkpoint");
    if (sqlite3_open_v2(s->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        sqlite3_close_v2(db);
        return NULL;
    }
    pthread_mutex_lock(&s->ckpt_mu);
    while (!s->ckpt_stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += CKPT_EVERY_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&s->ckpt_cv, &s->ckpt_mu, &until);
        if (s->ckpt_stop)
            break;
        pthread_mutex_unlock(&s->ckpt_mu);
        sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        pthread_mutex_lock(&s->ckpt_mu);
    }
    pthread_mutex_unlock(&s->ckpt_mu);
    sqlite3_close_v2(db);
    return NULL;
}

/* Turns the writer's automatic checkpoints off and starts ckpt_loop (or keeps them on when
 * the thread cannot start). */
static void ckpt_start(sqlite_sink *s)
{
    pthread_mutex_init(&s->ckpt_mu, NULL);
    pthread_cond_init(&s->ckpt_cv, NULL);
    if (pthread_create(&s->ckpt, NULL, ckpt_loop, s) == 0) {
        s->ckpt_on = 1;
        sqlite3_wal_autocheckpoint(s->db, 0); /* (it replaces the hook: first) */
        sqlite3_wal_hook(s->db, wal_hook, s);
    }
}

static void ckpt_end(sqlite_sink *s)
{
    if (!s->ckpt_on)
        return;
    pthread_mutex_lock(&s->ckpt_mu);
    s->ckpt_stop = 1;
    pthread_cond_signal(&s->ckpt_cv);
    pthread_mutex_unlock(&s->ckpt_mu);
    pthread_join(s->ckpt, NULL);
    s->ckpt_on = 0;
}

static void sink_free(hz_sink *k)
{
    sqlite_sink *s = (sqlite_sink *)k;
    if (!s)
        return;
    ckpt_end(s);
    if (s->db && !sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    char e[HZ_ERRLEN]; /* a move that fails now is done at the next open */
    if (s->stage)
        hz_sqlite_stage_move(s->stage, e, sizeof e);
    hz_sqlite_stage_free(s->stage);
    for (int i = 0; i < ST_N; i++)
        sqlite3_finalize(s->st[i]);
    for (int i = 0; i < PURGE_N; i++)
        sqlite3_finalize(s->purge[i]);
    hz_sqlite_latest_free(s->latest);
    sqlite3_close_v2(s->db);
    free(s->path);
    free(s);
}

/* The purge statements of the retentions set, with the indexes they need. */
static int retention_setup(sqlite_sink *s, const hz_sqlite_sink_opts *o, const hz_sqlite_tables *t,
                           char *err, size_t errlen)
{
    const int64_t keep[PURGE_N] = {o->keep_readings_ms, o->keep_forecasts_ms, o->keep_forecasts_ms,
                                   o->keep_anomalies_ms, o->keep_forecasts_ms};
    const int on[PURGE_N] = {1, s->fc_mode & HZ_SQLITE_FC_HISTORY, s->fc_mode & HZ_SQLITE_FC_LATEST,
                             1, 1};
    char latest[96];
    snprintf(latest, sizeof latest, "latest_%s", t->forecasts);
    const char *table[PURGE_N] = {t->readings, t->forecasts, latest, t->anomalies, t->appliances};
    const char *col[PURGE_N] = {"ts", "issued_ts", "issued_ts", "ts", "ts"};
    for (int k = 0; k < PURGE_N; k++) {
        s->newest[k] = s->purged[k] = INT64_MIN;
        s->keep[k] = keep[k];
        if (keep[k] <= 0 || !on[k])
            continue;
        char sql[512];
        const char *by = k == PURGE_READINGS ? "" : "pipeline, ";
        snprintf(sql, sizeof sql, "CREATE INDEX IF NOT EXISTS %1$s_by_%2$s ON %1$s(%3$s%2$s)",
                 table[k], col[k], by);
        if (hz_sqlite_exec(s->db, sql, err, errlen))
            return HZ_EDB;
        snprintf(sql, sizeof sql, "DELETE FROM %s WHERE %s%s < ?%d", table[k],
                 k == PURGE_READINGS ? "" : "pipeline = ?1 AND ", col[k],
                 k == PURGE_READINGS ? 1 : 2);
        if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->purge[k], NULL) !=
            SQLITE_OK)
            return hz_err(err, errlen, HZ_EDB, "%s: preparing the retention of %s: %s", o->path,
                          table[k], sqlite3_errmsg(s->db));
    }
    return 0;
}

static const hz_sink_ops sqlite_sink_ops = {
    .kind = "sqlite",
    .write_readings = sink_write_readings,
    .write_forecasts = sink_write_forecasts,
    .write_anomalies = sink_write_anomalies,
    .write_dead = sink_write_dead,
    .flush = sink_flush,
    .free = sink_free,
    .write_estimates = sink_write_estimates,
};

/* PRAGMA max_page_count from a size in MiB (no limit when mb <= 0); a file already larger
 * keeps its size as the limit (SQLite never sets it below the page count) */
static int limit_size(sqlite3 *db, int mb, char *err, size_t errlen)
{
    if (mb <= 0)
        return 0;
    sqlite3_stmt *st = NULL;
    int64_t page = 4096;
    if (sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) > 0)
        page = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA max_page_count = %lld",
             (long long)((int64_t)mb * 1048576 / page));
    return hz_sqlite_exec(db, sql, err, errlen);
}

int hz_sqlite_sink_new(const hz_sqlite_sink_opts *o, hz_sink **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!o || !o->path)
        return hz_err(err, errlen, HZ_EINVAL, "sqlite sink: a database path is required");
    hz_sqlite_tables t;
    int rc = hz_sqlite_tables_resolve(&o->tables, &t, err, errlen);
    if (rc)
        return rc;
    sqlite_sink *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(o->path))) {
        free(s);
        return hz_err(err, errlen, HZ_ENOMEM, "sqlite sink: out of memory");
    }
    s->base.ops = &sqlite_sink_ops;
    rc = hz_sqlite_open(o->path, !o->synchronous_normal, o->busy_timeout_ms, &s->db, err, errlen);
    if (rc)
        goto fail;
    char e2[HZ_ERRLEN];
    if ((rc = limit_size(s->db, o->max_size_mb, e2, sizeof e2)) ||
        (rc = hz_sqlite_schema_create(s->db, &t, e2, sizeof e2))) {
        hz_err(err, errlen, rc, "%s: creating the schema: %s", o->path, e2);
        goto fail;
    }
    if ((rc =
             hz_sqlite_stage_open(s->db, t.readings, o->stage_readings_ms, &s->stage, err, errlen)))
        goto fail;
    char sql[ST_N][768];
    if (o->stage_readings_ms > 0)
        snprintf(sql[ST_READING], sizeof sql[0],
                 "INSERT INTO %s(series, variable, ts, value) VALUES(?1, ?2, ?3, ?4)",
                 hz_sqlite_stage_table(s->stage));
    else
        snprintf(sql[ST_READING], sizeof sql[0],
                 "INSERT INTO %s(series, variable, ts, value) VALUES(?1, ?2, ?3, ?4) "
                 "ON CONFLICT(series, variable, ts) DO UPDATE SET value = excluded.value",
                 t.readings);
    snprintf(s->forecasts, sizeof s->forecasts, "%s", t.forecasts);
    forecast_sql(t.forecasts, 0, NULL, sql[ST_FORECAST], sizeof sql[0]);
    snprintf(sql[ST_ANOMALY], sizeof sql[0],
             "INSERT INTO %s(pipeline, series, variable, ts, value, expected, lower, upper, "
             "score, flag, kind, model_id, rule) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
             "?10, ?11, ?12, ?13) ON CONFLICT(pipeline, series, variable, ts, kind) DO UPDATE SET "
             "value = excluded.value, expected = excluded.expected, lower = excluded.lower, "
             "upper = excluded.upper, score = excluded.score, flag = excluded.flag, "
             "model_id = excluded.model_id, rule = excluded.rule",
             t.anomalies);
    snprintf(sql[ST_DEAD], sizeof sql[0],
             "INSERT INTO %s(pipeline, origin, reason, payload, ts) VALUES(?1, ?2, ?3, ?4, ?5) "
             "ON CONFLICT(pipeline, origin, reason) DO NOTHING",
             t.dead);
    snprintf(sql[ST_FLAG], sizeof sql[0],
             "INSERT INTO %s(series, variable, ts, code) VALUES(?1, ?2, ?3, ?4) "
             "ON CONFLICT(series, variable, ts) DO UPDATE SET code = excluded.code",
             t.flags);
    snprintf(sql[ST_ESTIMATE], sizeof sql[0],
             "INSERT INTO %s(pipeline, series, appliance, ts, power, state, window_end, model_id) "
             "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(pipeline, series, appliance, ts) "
             "DO UPDATE SET power = excluded.power, state = excluded.state, "
             "window_end = excluded.window_end, model_id = excluded.model_id",
             t.appliances);
    for (int i = 0; i < ST_N; i++)
        if (sqlite3_prepare_v3(s->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL) !=
            SQLITE_OK) {
            rc = hz_err(err, errlen, HZ_EDB, "%s: preparing statements: %s", o->path,
                        sqlite3_errmsg(s->db));
            goto fail;
        }
    s->fc_mode = o->forecasts ? o->forecasts : HZ_SQLITE_FC_HISTORY;
    if ((s->fc_mode & HZ_SQLITE_FC_LATEST) &&
        (rc = hz_sqlite_latest_open(s->db, t.forecasts, &s->latest, e2, sizeof e2))) {
        hz_err(err, errlen, rc, "%s: %s", o->path, e2);
        goto fail;
    }
    if ((rc = retention_setup(s, o, &t, err, errlen)))
        goto fail;
    s->ckpt_truncate_frames =
        o->wal_truncate_frames > 0 ? o->wal_truncate_frames : CKPT_TRUNCATE_FRAMES;
    ckpt_start(s);
    *out = &s->base;
    return 0;
fail:
    sink_free(&s->base);
    return rc;
}

sqlite3 *hz_sqlite_sink_db(hz_sink *k)
{
    return ((sqlite_sink *)k)->db;
}

uint64_t hz_sqlite_sink_rows(const hz_sink *k)
{
    return ((const sqlite_sink *)k)->rows;
}
