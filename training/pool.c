/* pool.c — a fleet's series split, scaled each by its own statistics and laid end to end for
 * one model (pool.h). */
#include "training/pool.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/sqlite_schema.h"

void hz_pool_free(hz_pool *pool)
{
    if (!pool)
        return;
    for (int i = 0; pool->d && i < pool->n; i++) {
        if (pool->data) { /* laid out: their rows are the pool's */
            pool->d[i].scaled = NULL;
            pool->d[i].marks = NULL;
        }
        hz_prepared_free(&pool->d[i]);
    }
    free(pool->d);
    hz_names_free(pool->ids, pool->n);
    free(pool->data);
    free(pool->marks);
    for (int s = 0; s < 2; s++) {
        free(pool->starts[s]);
        free(pool->group_end[s]);
    }
    memset(pool, 0, sizeof *pool);
}

int hz_pool_list(const char *path, const char *table, char ***ids, int *n, char *err, size_t errlen)
{
    *ids = NULL;
    *n = 0;
    if (!hz_sqlite_ident_ok(table))
        return hz_err(err, errlen, HZ_EINVAL, "%s: bad table name %s", path, table);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT DISTINCT series FROM %s ORDER BY series", table);
    int rc = 0, cap = 0;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = hz_err(err, errlen, HZ_EDB, "%s: %s", path, sqlite3_errmsg(db));
        goto out;
    }
    sqlite3_busy_timeout(db, 5000);
    while (!rc && sqlite3_step(st) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            char **g = realloc(*ids, (size_t)cap * sizeof *g);
            if (!g) {
                rc = hz_err(err, errlen, HZ_ENOMEM, "%s: out of memory listing series", path);
                break;
            }
            *ids = g;
        }
        if (!((*ids)[*n] = strdup(id ? id : "")))
            rc = hz_err(err, errlen, HZ_ENOMEM, "%s: out of memory listing series", path);
        else
            (*n)++;
    }
    if (!rc && *n == 0)
        rc = hz_err(err, errlen, HZ_ENOTFOUND, "%s: table %s holds no readings to train on", path,
                    table);
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    if (rc) {
        hz_names_free(*ids, *n);
        *ids = NULL;
        *n = 0;
    }
    return rc;
}

int hz_pool_load(const hz_config *cfg, const hz_pipeline_conf *p, hz_pool *pool, char *err,
                 size_t errlen)
{
    if (p->source.kind != HZ_CFG_SOURCE_SQLITE)
        return hz_err(err, errlen, HZ_EINVAL,
                      "pipeline %s: model.data.pool trains on the series of a SQLite table "
                      "(or a Kafka pipeline's stored readings); this source is one CSV file",
                      p->name);
    int rc = hz_pool_list(p->source.sqlite.path, p->source.sqlite.table, &pool->ids, &pool->n, err,
                          errlen);
    if (rc)
        return rc;
    pool->d = calloc((size_t)pool->n, sizeof *pool->d);
    if (!pool->d)
        return hz_err(err, errlen, HZ_ENOMEM, "pipeline %s: out of memory for %d series", p->name,
                      pool->n);
    for (int i = 0; i < pool->n && !rc; i++)
        rc = hz_prepared_load(cfg, p, pool->ids[i], &pool->d[i], err, errlen);
    if (!rc)
        pool->cols = pool->d[0].table.cols;
    return rc;
}

/* Line to the log, or to stderr without one. */
static void note(const hz_logger *log, const char *msg)
{
    if (log)
        hz_log(log, HZ_LOG_WARN, "%s", msg);
    else
        fprintf(stderr, "%s\n", msg);
}

/* Drops series i (its data freed; the later ones move down). */
static void drop(hz_pool *pool, int i)
{
    hz_prepared_free(&pool->d[i]);
    free(pool->ids[i]);
    memmove(pool->d + i, pool->d + i + 1, (size_t)(pool->n - i - 1) * sizeof *pool->d);
    memmove(pool->ids + i, pool->ids + i + 1, (size_t)(pool->n - i - 1) * sizeof *pool->ids);
    pool->n--;
}

/* Copies every series' scaled rows and marks into the pool's arrays and points their
 * windows there. */
static int lay_out(hz_pool *pool, int F)
{
    int C = pool->cols;
    pool->rows = 0;
    for (int i = 0; i < pool->n; i++)
        pool->rows += pool->d[i].table.rows;
    pool->data = malloc((size_t)pool->rows * C * sizeof *pool->data + 1);
    pool->marks = F ? malloc((size_t)pool->rows * F * sizeof *pool->marks + 1) : NULL;
    if (!pool->data || (F && !pool->marks))
        return HZ_ENOMEM;
    size_t off = 0;
    for (int i = 0; i < pool->n; i++) {
        hz_prepared *d = &pool->d[i];
        size_t r = (size_t)d->table.rows;
        memcpy(pool->data + off * C, d->scaled, r * C * sizeof *pool->data);
        if (F)
            memcpy(pool->marks + off * F, d->marks, r * F * sizeof *pool->marks);
        free(d->scaled);
        free(d->marks);
        d->scaled = pool->data + off * C;
        d->marks = F ? pool->marks + off * F : NULL;
        for (int s = 0; s < 3; s++) {
            d->win[s].data = d->scaled;
            d->win[s].marks = d->marks;
        }
        off += r;
    }
    return 0;
}

/* The pool's windows of split s (0 train, 1 validation): every series' in turn. */
static int pool_windows(hz_pool *pool, int s, const hz_model_conf *mc, int F)
{
    int total = 0, off = 0;
    for (int i = 0; i < pool->n; i++)
        total += pool->d[i].win[s].count;
    pool->starts[s] = malloc((size_t)total * sizeof(int) + 1);
    pool->group_end[s] = malloc((size_t)pool->n * sizeof(int));
    if (!pool->starts[s] || !pool->group_end[s])
        return HZ_ENOMEM;
    int j = 0;
    for (int i = 0; i < pool->n; i++) {
        const hz_windows *w = &pool->d[i].win[s];
        for (int k = 0; k < w->count; k++)
            pool->starts[s][j++] = off + hz_windows_start(w, k);
        pool->group_end[s][i] = j;
        off += pool->d[i].table.rows;
    }
    hz_windows *w = &pool->win[s];
    hz_windows_init(w, pool->data, pool->marks, pool->cols, F, 0, pool->rows, mc->seq_len,
                    mc->label_len, mc->pred_len);
    const hz_windows *w0 = &pool->d[0].win[s]; /* roles as hz_prepared_split set them */
    w->target = w0->target;
    w->n_known = w0->n_known;
    w->known_tokens = w0->known_tokens;
    memcpy(w->known, w0->known, sizeof w->known);
    w->count = total;
    w->starts = pool->starts[s];
    w->group_end = pool->group_end[s];
    w->n_groups = pool->n;
    return 0;
}

int hz_pool_split(const hz_pipeline_conf *p, const hz_model_conf *mc, const hz_logger *log,
                  hz_pool *pool, char *err, size_t errlen)
{
    char e2[HZ_ERRLEN], msg[HZ_ERRLEN + 600];
    for (int i = 0; i < pool->n;) {
        int rc = hz_prepared_split(p, mc, NULL, &pool->d[i], e2, sizeof e2);
        if (rc == HZ_ENOMEM)
            return hz_err(err, errlen, rc, "pipeline %s: %s", p->name, e2);
        if (!rc && pool->d[i].win[0].count > 0) {
            i++;
            continue;
        }
        snprintf(msg, sizeof msg, "pipeline %s: series %s left out of pooled training: %s", p->name,
                 pool->ids[i], rc ? e2 : "no training window");
        note(log, msg);
        drop(pool, i);
    }
    if (pool->n == 0)
        return hz_err(err, errlen, HZ_EINVAL,
                      "pipeline %s: no series is long enough for the split and a window of %d + "
                      "%d rows",
                      p->name, mc->seq_len, mc->pred_len);
    int F = pool->d[0].n_marks;
    if (lay_out(pool, F) || pool_windows(pool, 0, mc, F) || pool_windows(pool, 1, mc, F))
        return hz_err(err, errlen, HZ_ENOMEM, "pipeline %s: out of memory pooling %d series",
                      p->name, pool->n);
    return 0;
}
