/* sqlite_latest.c — the latest-forecast table: one row per (pipeline, series, variable) with
 * the steps as JSON arrays, overwritten in place (sqlite_latest.h). */
#include "connectors/sqlite_latest.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hz.h"
#include "connectors/sqlite_schema.h"

#define CH_MAX  (3 + 2 * HZ_FC_MAX_LEVELS) /* value, lower, upper, then lowerNN, upperNN */
#define NUM_MAX 24                         /* "%.7g" of a float, a comma */

struct hz_sqlite_latest {
    sqlite3 *db;
    sqlite3_stmt *st;
    char table[96], view[112];
    int nlv; /* levels the statement and the view have columns for */
    double lv[HZ_FC_MAX_LEVELS];
    double *val;      /* [CH_MAX, cap_steps] one variable's steps, by channel */
    size_t cap_steps; /* of val */
    char *txt;        /* [CH_MAX, cap_txt] the JSON arrays */
    size_t cap_txt;
};

static int db_err(hz_sqlite_latest *l, char *err, size_t errlen, const char *what)
{
    return hz_err(err, errlen, HZ_EDB, "%s: %s: %s", l->table, what, sqlite3_errmsg(l->db));
}

/* The level columns' suffixes: "90", "99", ... */
static void suffixes(const double *lv, int nl, char sfx[][24])
{
    for (int i = 0; i < nl; i++)
        hz_level_suffix(lv[i], sfx[i], 24);
}

/* The per-step view: the table's arrays unnested with json_each over `value`. */
static int make_view(hz_sqlite_latest *l, char *err, size_t errlen)
{
    char sfx[HZ_FC_MAX_LEVELS][24], cols[1024] = "", sql[2048];
    suffixes(l->lv, l->nlv, sfx);
    size_t c = 0;
    for (int i = 0; i < l->nlv; i++)
        c += (size_t)snprintf(cols + c, sizeof cols - c,
                              ", json_extract(l.lower%1$s, '$[' || j.key || ']') AS lower%1$s"
                              ", json_extract(l.upper%1$s, '$[' || j.key || ']') AS upper%1$s",
                              sfx[i]);
    char top[200] = "NULL AS lower, NULL AS upper"; /* the highest level's, as in forecasts */
    if (l->nlv)
        snprintf(top, sizeof top,
                 "json_extract(l.lower%1$s, '$[' || j.key || ']') AS lower, "
                 "json_extract(l.upper%1$s, '$[' || j.key || ']') AS upper",
                 sfx[l->nlv - 1]);
    snprintf(sql, sizeof sql,
             "DROP VIEW IF EXISTS %1$s; CREATE VIEW %1$s AS SELECT l.pipeline, l.series, "
             "l.variable, l.issued_ts, j.key + 1 AS step, l.issued_ts + (j.key + 1) * "
             "l.period_ms AS target_ts, j.value AS value, %2$s%3$s, l.model_id "
             "FROM %4$s l, json_each(l.value) j;",
             l->view, top, cols, l->table);
    return hz_sqlite_exec(l->db, sql, err, errlen);
}

/* The upsert for nl levels; a forecast older than the stored one (a late window) keeps it. */
static int prepare(hz_sqlite_latest *l, char *err, size_t errlen)
{
    char sfx[HZ_FC_MAX_LEVELS][24], cols[512] = "", vals[256] = "", upd[1024] = "", sql[4096];
    suffixes(l->lv, l->nlv, sfx);
    size_t c = 0, v = 0, u = 0;
    for (int i = 0; i < l->nlv; i++) {
        c += (size_t)snprintf(cols + c, sizeof cols - c, ", lower%1$s, upper%1$s", sfx[i]);
        v += (size_t)snprintf(vals + v, sizeof vals - v, ", ?%d, ?%d", 9 + 2 * i, 10 + 2 * i);
        u += (size_t)snprintf(upd + u, sizeof upd - u,
                              ", lower%1$s = excluded.lower%1$s, upper%1$s = excluded.upper%1$s",
                              sfx[i]);
    }
    snprintf(sql, sizeof sql,
             "INSERT INTO %1$s(pipeline, series, variable, issued_ts, period_ms, steps, model_id, "
             "value%2$s) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8%3$s) "
             "ON CONFLICT(pipeline, series, variable) DO UPDATE SET issued_ts = "
             "excluded.issued_ts, period_ms = excluded.period_ms, steps = excluded.steps, "
             "model_id = excluded.model_id, value = excluded.value%4$s "
             "WHERE excluded.issued_ts >= %1$s.issued_ts",
             l->table, cols, vals, upd);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v3(l->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK)
        return db_err(l, err, errlen, "preparing the upsert");
    sqlite3_finalize(l->st);
    l->st = st;
    return 0;
}

/* Columns, statement and view for the levels of f (a file written before, other levels). */
static int use_levels(hz_sqlite_latest *l, const hz_forecast *f, char *err, size_t errlen)
{
    int nl = f->nlevels > HZ_FC_MAX_LEVELS ? HZ_FC_MAX_LEVELS : f->nlevels;
    if (l->st && nl == l->nlv && (nl == 0 || !memcmp(f->levels, l->lv, (size_t)nl * sizeof *l->lv)))
        return 0;
    l->nlv = nl;
    if (nl)
        memcpy(l->lv, f->levels, (size_t)nl * sizeof *l->lv);
    char sfx[HZ_FC_MAX_LEVELS][24];
    suffixes(l->lv, nl, sfx);
    for (int i = 0; i < nl; i++)
        for (int side = 0; side < 2; side++) {
            char col[40];
            snprintf(col, sizeof col, "%s%s", side ? "upper" : "lower", sfx[i]);
            if (hz_sqlite_add_column(l->db, l->table, col, "TEXT", err, errlen))
                return HZ_EDB;
        }
    int rc = prepare(l, err, errlen);
    return rc ? rc : make_view(l, err, errlen);
}

/* The table when absent.  A rowid table, not WITHOUT ROWID: a row of 24 steps and two levels
 * is about 1.1 KB, past the ~1 KB a WITHOUT ROWID (index b-tree) cell keeps on a 4 KB page,
 * so each overwrite there also wrote an overflow page (10 KB of I/O a forecast; a rowid
 * table keeps rows up to ~4 KB on the page). */
static int create(hz_sqlite_latest *l, char *err, size_t errlen)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "CREATE TABLE IF NOT EXISTS %s(pipeline TEXT NOT NULL, series TEXT NOT NULL, "
             "variable TEXT NOT NULL, issued_ts INTEGER NOT NULL, period_ms INTEGER NOT NULL, "
             "steps INTEGER NOT NULL, model_id TEXT, value TEXT, "
             "PRIMARY KEY(pipeline, series, variable))",
             l->table);
    return hz_sqlite_exec(l->db, sql, err, errlen);
}

/* A file written when the table was WITHOUT ROWID: its rows copied into the rowid table, in
 * one savepoint (the view is made again by use_levels, the retention index by the sink). */
static int to_rowid(hz_sqlite_latest *l, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int old = 0;
    if (sqlite3_prepare_v2(l->db,
                           "SELECT sql LIKE '%WITHOUT ROWID%' FROM sqlite_master WHERE "
                           "type = 'table' AND name = ?1",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, l->table, -1, SQLITE_STATIC);
        old = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0);
    }
    sqlite3_finalize(st);
    if (!old)
        return 0;
    char sql[2048], cols[768] = "";
    snprintf(sql, sizeof sql,
             "SAVEPOINT latest_rowid; DROP VIEW IF EXISTS %1$s; "
             "ALTER TABLE %2$s RENAME TO %2$s_without_rowid;",
             l->view, l->table);
    int rc = hz_sqlite_exec(l->db, sql, err, errlen);
    if (!rc)
        rc = create(l, err, errlen);
    snprintf(sql, sizeof sql, "SELECT name FROM pragma_table_info('%s_without_rowid')", l->table);
    if (!rc && sqlite3_prepare_v2(l->db, sql, -1, &st, NULL) != SQLITE_OK)
        rc = db_err(l, err, errlen, "reading the old table's columns");
    for (size_t c = 0; !rc && sqlite3_step(st) == SQLITE_ROW;) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        rc = hz_sqlite_add_column(l->db, l->table, name, "TEXT", err, errlen);
        c += (size_t)snprintf(cols + c, sizeof cols - c, "%s%s", c ? ", " : "", name);
        if (c >= sizeof cols)
            rc = hz_err(err, errlen, HZ_EDB, "%s: too many columns to copy", l->table);
    }
    sqlite3_finalize(st);
    snprintf(sql, sizeof sql,
             "INSERT INTO %1$s(%2$s) SELECT %2$s FROM %1$s_without_rowid; "
             "DROP TABLE %1$s_without_rowid; RELEASE latest_rowid;",
             l->table, cols);
    if (!rc)
        rc = hz_sqlite_exec(l->db, sql, err, errlen);
    if (rc)
        sqlite3_exec(l->db, "ROLLBACK TO latest_rowid; RELEASE latest_rowid;", NULL, NULL, NULL);
    return rc;
}

/* The levels the table has columns for (lower90 -> 0.9, lower99_5 -> 0.995), ascending, so
 * the view a restart makes shows them before the first forecast.  Returns how many. */
static int table_levels(hz_sqlite_latest *l, double *lv)
{
    char sfx[HZ_FC_MAX_LEVELS][16];
    int n = hz_sqlite_level_columns(l->db, l->table, sfx, HZ_FC_MAX_LEVELS);
    for (int i = 0; i < n; i++) {
        for (char *c = sfx[i]; *c; c++)
            *c = *c == '_' ? '.' : *c;
        lv[i] = strtod(sfx[i], NULL) / 100;
    }
    return n > 0 ? n : 0;
}

int hz_sqlite_latest_open(sqlite3 *db, const char *forecasts_table, hz_sqlite_latest **out,
                          char *err, size_t errlen)
{
    *out = NULL;
    hz_sqlite_latest *l = calloc(1, sizeof *l);
    if (!l)
        return hz_err(err, errlen, HZ_ENOMEM, "out of memory");
    l->db = db;
    snprintf(l->table, sizeof l->table, "latest_%s", forecasts_table);
    snprintf(l->view, sizeof l->view, "latest_%s_steps", forecasts_table);
    double lv[HZ_FC_MAX_LEVELS];
    hz_forecast known = {.levels = lv};
    int rc = to_rowid(l, err, errlen);
    if (!rc)
        rc = create(l, err, errlen);
    if (!rc)
        known.nlevels = table_levels(l, lv);
    if (!rc)
        rc = use_levels(l, &known, err, errlen);
    if (rc) {
        hz_sqlite_latest_free(l);
        return rc;
    }
    *out = l;
    return 0;
}

void hz_sqlite_latest_free(hz_sqlite_latest *l)
{
    if (!l)
        return;
    sqlite3_finalize(l->st);
    free(l->val);
    free(l->txt);
    free(l);
}

/* A JSON array of x[n] into buf ("null" for NaN); returns its length. */
static size_t json_array(const double *x, int n, char *buf)
{
    size_t o = 0;
    buf[o++] = '[';
    for (int i = 0; i < n; i++) {
        if (i)
            buf[o++] = ',';
        if (isfinite(x[i]))
            o += (size_t)hz_fmt7(x[i], buf + o);
        else {
            memcpy(buf + o, "null", 4);
            o += 4;
        }
    }
    buf[o++] = ']';
    buf[o] = 0;
    return o;
}

/* Room for `steps` steps in the scratch arrays (grown, never per forecast once warm). */
static int reserve(hz_sqlite_latest *l, int steps)
{
    size_t need = (size_t)steps;
    if (need <= l->cap_steps)
        return 0;
    double *v = realloc(l->val, CH_MAX * need * sizeof *v);
    char *t = realloc(l->txt, CH_MAX * (need * NUM_MAX + 4));
    if (v)
        l->val = v;
    if (t)
        l->txt = t;
    if (!v || !t)
        return HZ_ENOMEM;
    l->cap_steps = need;
    l->cap_txt = need * NUM_MAX + 4;
    return 0;
}

/* Whether a and b are the same forecast issue (pipeline, series, issued time). */
static int same_issue(const hz_forecast *a, const hz_forecast *b)
{
    return a->issued_ts == b->issued_ts &&
           (a->series == b->series || !strcmp(a->series, b->series)) &&
           (a->pipeline == b->pipeline ||
            !strcmp(a->pipeline ? a->pipeline : "", b->pipeline ? b->pipeline : ""));
}

static int same_var(const char *a, const char *b)
{
    return a == b || !strcmp(a, b);
}

/* Upserts variable var of the issue g[n] (records of one window). */
static int write_var(hz_sqlite_latest *l, const hz_forecast *g, size_t n, const char *var,
                     char *err, size_t errlen)
{
    int steps = 0, nch = 1 + 2 * l->nlv;
    for (size_t i = 0; i < n; i++)
        if (same_var(g[i].variable, var) && g[i].step > steps)
            steps = g[i].step;
    if (steps < 1)
        return 0;
    if (reserve(l, steps))
        return hz_err(err, errlen, HZ_ENOMEM, "out of memory");
    size_t cap = l->cap_steps;
    for (size_t i = 0; i < (size_t)nch * cap; i++)
        l->val[i] = NAN;
    int64_t period = 0;
    const hz_forecast *first = NULL;
    for (size_t i = 0; i < n; i++) {
        const hz_forecast *f = &g[i];
        if (!same_var(f->variable, var) || f->step < 1)
            continue;
        size_t s = (size_t)f->step - 1;
        first = first ? first : f;
        period = (f->target_ts - f->issued_ts) / f->step;
        l->val[s] = f->value;
        for (int k = 0; k < l->nlv && k < f->nlevels; k++) {
            l->val[(1 + 2 * (size_t)k) * cap + s] = f->lo[k];
            l->val[(2 + 2 * (size_t)k) * cap + s] = f->hi[k];
        }
    }
    sqlite3_stmt *st = l->st;
    sqlite3_bind_text(st, 1, first->pipeline ? first->pipeline : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, first->series, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, var, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, first->issued_ts);
    sqlite3_bind_int64(st, 5, period);
    sqlite3_bind_int(st, 6, steps);
    if (first->model_id)
        sqlite3_bind_text(st, 7, first->model_id, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 7);
    for (int c = 0; c < nch; c++) {
        char *t = l->txt + (size_t)c * l->cap_txt;
        size_t len = json_array(l->val + (size_t)c * cap, steps, t);
        sqlite3_bind_text(st, 8 + c, t, (int)len, SQLITE_STATIC);
    }
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : db_err(l, err, errlen, "upsert");
}

int hz_sqlite_latest_write(hz_sqlite_latest *l, const hz_forecast *f, size_t n, uint64_t *rows,
                           char *err, size_t errlen)
{
    if (n == 0)
        return 0;
    int rc = use_levels(l, &f[0], err, errlen);
    for (size_t i = 0, j; !rc && i < n; i = j) {
        const char *vars[HZ_MAX_VARS];
        int nv = 0;
        for (j = i; j < n && same_issue(&f[j], &f[i]); j++) {
            int v = 0;
            while (v < nv && !same_var(vars[v], f[j].variable))
                v++;
            if (v == nv && nv < HZ_MAX_VARS)
                vars[nv++] = f[j].variable;
        }
        for (int v = 0; !rc && v < nv; v++) {
            rc = write_var(l, f + i, j - i, vars[v], err, errlen);
            *rows += !rc;
        }
    }
    return rc;
}
