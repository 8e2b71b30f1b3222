/* web_query.c — the SQLite reads behind the web view's pages (service/web_int.h), each one
 * bounded whatever the file holds: lookups through the schema's indexes
 * (connectors/sqlite_schema.c: readings' UNIQUE(series, variable, ts), forecasts' UNIQUE key
 * starting (pipeline, series), anomalies_by_ts and anomalies_by_series_ts), distinct values
 * found by one index seek each ("skip scan"), and LIMITs on every row count.  "+pipeline"
 * keeps SQLite off the anomalies' UNIQUE index (which starts with pipeline: every row of the
 * pipeline, then sorted) and on the time index, read newest first up to the LIMIT; the plans
 * are in docs/WEB.md.  The answers are JSON objects (jansson), served as they are under /api/
 * and drawn by web_html.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "connectors/sqlite_schema.h"
#include "service/web_int.h"

#define DAY_MS 86400000LL

static int db_err(sqlite3 *db, const char *what, char *err, size_t errlen)
{
    return hz_err(err, errlen, HZ_EDB, "%s: %s", what, sqlite3_errmsg(db));
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, char *err, size_t errlen)
{
    if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK)
        return db_err(db, "prepare", err, errlen);
    return 0;
}

static double col_num(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

static const char *col_str(sqlite3_stmt *st, int i)
{
    const char *s = (const char *)sqlite3_column_text(st, i);
    return s ? s : "";
}

/* The table p's series are listed from: the latest-forecast table when the sink writes one
 * (one row per series), else forecasts.  0, or HZ_EINVAL for a name that is not an
 * identifier (never pasted). */
static int fc_table(const hz_web_pipeline *p, char *out, size_t cap, char *err, size_t errlen)
{
    if (!hz_sqlite_ident_ok(p->forecasts) || !hz_sqlite_ident_ok(p->anomalies))
        return hz_err(err, errlen, HZ_EINVAL, "pipeline %s: bad table names", p->name);
    if (p->fc_mode == HZ_CFG_FC_HISTORY)
        snprintf(out, cap, "%s", p->forecasts);
    else
        snprintf(out, cap, "latest_%s", p->forecasts);
    return 0;
}

/* ---- the overview */

static void put_state(json_t *o, const hz_web_pipeline *p)
{
    int64_t now = hz_now_ms();
    json_object_set_new(o, "name", web_jstr(p->name));
    json_object_set_new(o, "running", json_boolean(p->running));
    json_object_set_new(o, "model_id", p->model_id[0] ? web_jstr(p->model_id) : json_null());
    json_object_set_new(o, "model_age_s",
                        p->model_time_ms ? json_integer((now - p->model_time_ms) / 1000)
                                         : json_null());
    json_object_set_new(o, "readings_per_s", web_jnum(p->readings_per_s));
    json_object_set_new(o, "lag", web_jnum(p->lag));
    json_object_set_new(o, "readings", json_integer((json_int_t)p->readings));
    json_object_set_new(o, "forecasts", json_integer((json_int_t)p->forecasts_n));
    json_object_set_new(o, "anomalies", json_integer((json_int_t)p->anomalies_n));
    json_object_set_new(o, "series_in_memory", json_integer((json_int_t)p->series));
    json_object_set_new(o, "last_error", p->last_error[0] ? web_jstr(p->last_error) : json_null());
}

/* Runs one grouped count over the newest HZ_WEB_DAY_SCAN flags since `since`, into an array
 * of [name, count] pairs or an object name -> count. */
static int day_counts(sqlite3 *db, const hz_web_pipeline *p, int64_t since, const char *col,
                      int limit, json_t *into, char *err, size_t errlen)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "WITH f AS (SELECT series, kind FROM %s WHERE ts > ?1 AND +pipeline = ?2 AND "
             "+flag = 1 ORDER BY ts DESC LIMIT %d) SELECT %s, count(*) FROM f GROUP BY 1 "
             "ORDER BY 2 DESC, 1 LIMIT %d",
             p->anomalies, HZ_WEB_DAY_SCAN, col, limit);
    sqlite3_stmt *st;
    int rc = prepare(db, sql, &st, err, errlen);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, since);
    sqlite3_bind_text(st, 2, p->name, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *n = json_integer(sqlite3_column_int64(st, 1));
        if (json_is_object(into)) {
            json_object_set_new(into, col_str(st, 0), n);
        } else {
            json_t *e = json_object();
            json_object_set_new(e, "series", web_jstr(col_str(st, 0)));
            json_object_set_new(e, "flags", n);
            json_array_append_new(into, e);
        }
    }
    rc = rc == SQLITE_DONE ? 0 : db_err(db, "flags of the day", err, errlen);
    sqlite3_finalize(st);
    return rc;
}

/* The flags of the last day of data (the day before the pipeline's newest flag): counts by
 * kind and the series with the most, over the newest HZ_WEB_DAY_SCAN of them. */
static int day_flags(sqlite3 *db, const hz_web_pipeline *p, json_t *o, char *err, size_t errlen)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT ts FROM %s WHERE +pipeline = ?1 AND +flag = 1 ORDER BY ts DESC LIMIT 1",
             p->anomalies);
    sqlite3_stmt *st;
    int rc = prepare(db, sql, &st, err, errlen);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, p->name, -1, SQLITE_STATIC);
    int has = sqlite3_step(st) == SQLITE_ROW;
    int64_t newest = has ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    json_t *kinds = json_object(), *top = json_array();
    json_object_set_new(o, "flags_by_kind", kinds);
    json_object_set_new(o, "top_series", top);
    json_object_set_new(o, "flags_until_ms", has ? json_integer(newest) : json_null());
    if (!has)
        return 0;
    rc = day_counts(db, p, newest - DAY_MS, "kind", 16, kinds, err, errlen);
    if (!rc)
        rc = day_counts(db, p, newest - DAY_MS, "series", HZ_WEB_TOP_SERIES, top, err, errlen);
    json_int_t total = 0;
    const char *k;
    json_t *v;
    json_object_foreach(kinds, k, v) total += json_integer_value(v);
    json_object_set_new(o, "flags_counted", json_integer(total));
    json_object_set_new(o, "flags_capped", json_boolean(total >= HZ_WEB_DAY_SCAN));
    return rc;
}

json_t *web_q_state(const hz_web_pipeline *p)
{
    json_t *o = json_object();
    if (o)
        put_state(o, p);
    return o;
}

int web_q_day(sqlite3 *db, const hz_web_pipeline *p, json_t **out, char *err, size_t errlen)
{
    char t[80];
    json_t *o = json_object();
    *out = o;
    if (!o)
        return hz_err(err, errlen, HZ_ENOMEM, "out of memory");
    int rc = fc_table(p, t, sizeof t, err, errlen);
    return rc ? rc : day_flags(db, p, o, err, errlen);
}

/* ---- a pipeline's series */

/* The first byte string after every string starting with prefix: prefix with its last byte
 * below 0xff incremented and what follows dropped; 0 when there is none (no upper bound). */
static size_t prefix_end(const char *prefix, char *out, size_t cap)
{
    size_t n = strlen(prefix);
    if (n >= cap)
        return 0;
    memcpy(out, prefix, n);
    while (n > 0 && (unsigned char)out[n - 1] == 0xff)
        n--;
    if (n == 0)
        return 0;
    out[n - 1] = (char)((unsigned char)out[n - 1] + 1);
    return n;
}

int web_q_series_list(sqlite3 *db, const hz_web_pipeline *p, const char *prefix, const char *after,
                      int limit, json_t **out, char *err, size_t errlen)
{
    char t[80], sql[320], hi[HZ_WEB_MAX_QUERY + 1];
    json_t *o = json_object(), *list = json_array();
    *out = o;
    json_object_set_new(o, "pipeline", web_jstr(p->name));
    json_object_set_new(o, "prefix", web_jstr(prefix));
    json_object_set_new(o, "series", list);
    json_object_set_new(o, "next", json_null());
    int rc = fc_table(p, t, sizeof t, err, errlen);
    if (rc || !db)
        return rc;
    size_t nhi = prefix_end(prefix, hi, sizeof hi);
    /* one seek per series: the next name at or after ?2 */
    snprintf(sql, sizeof sql,
             "SELECT series FROM %s WHERE pipeline = ?1 AND series >= ?2%s ORDER BY series "
             "LIMIT 1",
             t, nhi ? " AND series < ?3" : "");
    sqlite3_stmt *st;
    if ((rc = prepare(db, sql, &st, err, errlen)))
        return rc;
    /* the first bound: the prefix, or just after `after` ("name" + NUL sorts right after
     * "name" and before every longer name: series names hold no NUL) */
    char lo[HZ_WEB_MAX_QUERY + 2];
    int from_after = strcmp(after, prefix) >= 0;
    const char *first = from_after ? after : prefix;
    size_t nlo = strlen(first) + (size_t)from_after;
    if (nlo > sizeof lo || strlen(prefix) >= sizeof hi) {
        sqlite3_finalize(st);
        return hz_err(err, errlen, HZ_EINVAL, "prefix or after too long");
    }
    memcpy(lo, first, nlo); /* with after's NUL */
    for (int i = 0; i <= limit && !rc; i++) {
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, p->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, lo, (int)nlo, SQLITE_TRANSIENT);
        if (nhi)
            sqlite3_bind_text(st, 3, hi, (int)nhi, SQLITE_STATIC);
        int s = sqlite3_step(st);
        if (s == SQLITE_DONE)
            break;
        if (s != SQLITE_ROW) {
            rc = db_err(db, "series", err, errlen);
            break;
        }
        const char *name = col_str(st, 0);
        size_t n = strlen(name);
        if (i == limit) { /* one more: there is a next page, after the last one listed */
            json_object_set(o, "next", json_array_get(list, (size_t)limit - 1));
            break;
        }
        json_array_append_new(list, web_jstr(name));
        if (n + 1 > sizeof lo)
            break; /* a name longer than any query could ask for: the list stops there */
        memcpy(lo, name, n + 1);
        nlo = n + 1;
    }
    sqlite3_finalize(st);
    return rc;
}

/* ---- one series */

/* The variables of series in readings, in order, one seek each (at most HZ_WEB_MAX_VARS). */
static int series_vars(sqlite3 *db, const char *series, json_t *vars, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc = prepare(db,
                     "SELECT variable, max(ts) FROM readings WHERE series = ?1 AND variable = "
                     "(SELECT variable FROM readings WHERE series = ?1 AND variable >= ?2 "
                     "ORDER BY variable LIMIT 1)",
                     &st, err, errlen);
    char lo[256 + 1] = "";
    size_t nlo = 0;
    for (int i = 0; !rc && i < HZ_WEB_MAX_VARS; i++) {
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, series, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, lo, (int)nlo, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_ROW) {
            rc = db_err(db, "variables", err, errlen);
            break;
        }
        if (sqlite3_column_type(st, 0) == SQLITE_NULL)
            break;
        const char *v = col_str(st, 0);
        json_t *o = json_object();
        json_object_set_new(o, "name", web_jstr(v));
        json_object_set_new(o, "last_ms", json_integer(sqlite3_column_int64(st, 1)));
        json_array_append_new(vars, o);
        size_t n = strlen(v);
        if (n + 1 > sizeof lo)
            break;
        memcpy(lo, v, n + 1); /* with its NUL: the next name after v */
        nlo = n + 1;
    }
    sqlite3_finalize(st);
    return rc;
}

/* The newest HZ_WEB_MAX_POINTS readings of (series, var) in [from, to], oldest first, as
 * [[ts, value], ...]. */
static int var_readings(sqlite3 *db, const char *series, const char *var, int64_t from, int64_t to,
                        json_t *o, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc = prepare(db,
                     "SELECT ts, value FROM readings WHERE series = ?1 AND variable = ?2 AND "
                     "ts >= ?3 AND ts <= ?4 ORDER BY ts DESC LIMIT ?5",
                     &st, err, errlen);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, series, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, var, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, from);
    sqlite3_bind_int64(st, 4, to);
    sqlite3_bind_int(st, 5, HZ_WEB_MAX_POINTS);
    json_t *pts = json_array();
    json_object_set_new(o, "readings", pts);
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *pt = json_array();
        json_array_append_new(pt, json_integer(sqlite3_column_int64(st, 0)));
        json_array_append_new(pt, web_jnum(col_num(st, 1)));
        json_array_insert_new(pts, 0, pt);
    }
    rc = s == SQLITE_DONE ? 0 : db_err(db, "readings", err, errlen);
    sqlite3_finalize(st);
    return rc;
}

/* The level suffixes of table's lowerNN/upperNN columns ("90", "99", "99_9"), ascending by
 * level, at most HZ_WEB_MAX_LEVELS. */
static int level_cols(sqlite3 *db, const char *table, char lv[][16], char *err, size_t errlen)
{
    int n = hz_sqlite_level_columns(db, table, lv, HZ_WEB_MAX_LEVELS);
    return n < 0 ? db_err(db, "prepare", err, errlen) : n;
}

/* "value, lower90, upper90, ..." for the levels. */
static void level_select(char lv[][16], int nl, char *out, size_t cap)
{
    size_t c = (size_t)snprintf(out, cap, "value");
    for (int l = 0; l < nl && c < cap; l++)
        c += (size_t)snprintf(out + c, cap - c, ", lower%s, upper%s", lv[l], lv[l]);
}

/* A forecast's arrays in o: "value", and "bands": [{"level", "lower", "upper"}] (created). */
static json_t *fc_arrays(json_t *o, char lv[][16], int nl)
{
    json_t *bands = json_array();
    json_object_set_new(o, "ts", json_array());
    json_object_set_new(o, "value", json_array());
    json_object_set_new(o, "bands", bands);
    for (int l = 0; l < nl; l++) {
        json_t *b = json_object();
        json_object_set_new(b, "level", json_string(lv[l]));
        json_object_set_new(b, "lower", json_array());
        json_object_set_new(b, "upper", json_array());
        json_array_append_new(bands, b);
    }
    return bands;
}

/* Appends column i of st to array key of o, as a number or null. */
static void push_col(json_t *o, const char *key, sqlite3_stmt *st, int i)
{
    json_array_append_new(json_object_get(o, key), web_jnum(col_num(st, i)));
}

/* Prepares sql and binds the forecast key: ?1 pipeline, ?2 series, ?3 variable. */
static int prepare_key(sqlite3 *db, const char *sql, const char *pipeline, const char *series,
                       const char *var, sqlite3_stmt **st, char *err, size_t errlen)
{
    int rc = prepare(db, sql, st, err, errlen);
    if (rc)
        return rc;
    sqlite3_bind_text(*st, 1, pipeline, -1, SQLITE_STATIC);
    sqlite3_bind_text(*st, 2, series, -1, SQLITE_STATIC);
    sqlite3_bind_text(*st, 3, var, -1, SQLITE_STATIC);
    return 0;
}

/* The latest forecast of (series, var) from the history table. */
static int fc_history(sqlite3 *db, const hz_web_pipeline *p, const char *series, const char *var,
                      json_t **out, char *err, size_t errlen)
{
    char lv[HZ_WEB_MAX_LEVELS][16], cols[256], sql[640];
    int nl = level_cols(db, p->forecasts, lv, err, errlen);
    if (nl < 0)
        return nl;
    level_select(lv, nl, cols, sizeof cols);
    snprintf(sql, sizeof sql,
             "SELECT target_ts, model_id, issued_ts, %s FROM %s WHERE pipeline = ?1 AND "
             "series = ?2 AND variable = ?3 AND issued_ts = (SELECT issued_ts FROM %s WHERE "
             "series = ?2 AND variable = ?3 AND pipeline = ?1 ORDER BY issued_ts DESC LIMIT 1) "
             "ORDER BY step LIMIT 1000",
             cols, p->forecasts, p->forecasts);
    sqlite3_stmt *st;
    int rc = prepare_key(db, sql, p->name, series, var, &st, err, errlen), s;
    if (rc)
        return rc;
    json_t *o = NULL, *bands = NULL;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if (!o) {
            o = json_object();
            json_object_set_new(o, "model_id", web_jstr(col_str(st, 1)));
            json_object_set_new(o, "issued_ms", json_integer(sqlite3_column_int64(st, 2)));
            bands = fc_arrays(o, lv, nl);
        }
        json_array_append_new(json_object_get(o, "ts"), json_integer(sqlite3_column_int64(st, 0)));
        push_col(o, "value", st, 3);
        for (int l = 0; l < nl; l++) {
            push_col(json_array_get(bands, (size_t)l), "lower", st, 4 + 2 * l);
            push_col(json_array_get(bands, (size_t)l), "upper", st, 5 + 2 * l);
        }
    }
    rc = s == SQLITE_DONE ? 0 : db_err(db, "forecast", err, errlen);
    sqlite3_finalize(st);
    *out = o;
    return rc;
}

/* Copies the JSON array text at column i (numbers or null) into array key of o. */
static void push_json(json_t *o, const char *key, sqlite3_stmt *st, int i)
{
    json_t *a = json_loads(col_str(st, i), 0, NULL), *v;
    size_t k;
    json_array_foreach(a, k, v) json_array_append_new(
        json_object_get(o, key), web_jnum(json_is_number(v) ? json_number_value(v) : NAN));
    json_decref(a);
}

/* The latest forecast of (series, var) from latest_<forecasts> (JSON arrays). */
static int fc_latest(sqlite3 *db, const hz_web_pipeline *p, const char *table, const char *series,
                     const char *var, json_t **out, char *err, size_t errlen)
{
    char lv[HZ_WEB_MAX_LEVELS][16], cols[256], sql[512];
    int nl = level_cols(db, table, lv, err, errlen);
    if (nl < 0)
        return nl;
    level_select(lv, nl, cols, sizeof cols);
    snprintf(sql, sizeof sql,
             "SELECT issued_ts, period_ms, steps, model_id, %s FROM %s WHERE pipeline = ?1 AND "
             "series = ?2 AND variable = ?3",
             cols, table);
    sqlite3_stmt *st;
    int rc = prepare_key(db, sql, p->name, series, var, &st, err, errlen), s;
    if (rc)
        return rc;
    json_t *o = NULL;
    if ((s = sqlite3_step(st)) == SQLITE_ROW) {
        o = json_object();
        int64_t issued = sqlite3_column_int64(st, 0), period = sqlite3_column_int64(st, 1);
        int steps = sqlite3_column_int(st, 2);
        json_object_set_new(o, "model_id", web_jstr(col_str(st, 3)));
        json_object_set_new(o, "issued_ms", json_integer(issued));
        json_t *bands = fc_arrays(o, lv, nl);
        for (int k = 1; k <= steps && k <= 1000; k++)
            json_array_append_new(json_object_get(o, "ts"), json_integer(issued + k * period));
        push_json(o, "value", st, 4);
        for (int l = 0; l < nl; l++) {
            push_json(json_array_get(bands, (size_t)l), "lower", st, 5 + 2 * l);
            push_json(json_array_get(bands, (size_t)l), "upper", st, 6 + 2 * l);
        }
    }
    rc = s == SQLITE_DONE || s == SQLITE_ROW ? 0 : db_err(db, "latest forecast", err, errlen);
    sqlite3_finalize(st);
    *out = o;
    return rc;
}

/* The flags of series since `from`, newest first, at most HZ_WEB_MAX_FLAGS. */
static int series_flags(sqlite3 *db, const hz_web_pipeline *p, const char *series, int64_t from,
                        json_t *flags, char *err, size_t errlen)
{
    char sql[400];
    snprintf(sql, sizeof sql,
             "SELECT ts, variable, kind, value, expected, lower, upper, score, rule FROM %s "
             "WHERE series = ?1 AND ts >= ?2 AND +pipeline = ?3 AND +flag = 1 ORDER BY ts DESC "
             "LIMIT %d",
             p->anomalies, HZ_WEB_MAX_FLAGS);
    sqlite3_stmt *st;
    int rc = prepare(db, sql, &st, err, errlen), s;
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, series, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, from);
    sqlite3_bind_text(st, 3, p->name, -1, SQLITE_STATIC);
    static const char *const num[] = {"value", "expected", "lower", "upper", "score"};
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *f = json_object();
        json_object_set_new(f, "ts", json_integer(sqlite3_column_int64(st, 0)));
        json_object_set_new(f, "variable", web_jstr(col_str(st, 1)));
        json_object_set_new(f, "kind", web_jstr(col_str(st, 2)));
        for (int i = 0; i < 5; i++)
            json_object_set_new(f, num[i], web_jnum(col_num(st, 3 + i)));
        json_object_set_new(f, "rule", web_jstr(col_str(st, 8)));
        json_array_append_new(flags, f);
    }
    rc = s == SQLITE_DONE ? 0 : db_err(db, "flags", err, errlen);
    sqlite3_finalize(st);
    return rc;
}

/* Fills variable object v (name, last_ms) with its readings in [from, to] and forecast. */
static int one_var(sqlite3 *db, const hz_web_pipeline *p, const char *series, json_t *v,
                   int64_t from, int64_t to, char *err, size_t errlen)
{
    const char *var = web_getstr(v, "name");
    char t[80];
    json_t *fc = NULL;
    int rc = var_readings(db, series, var, from, to, v, err, errlen);
    if (!rc && (rc = fc_table(p, t, sizeof t, err, errlen)) == 0)
        rc = p->fc_mode == HZ_CFG_FC_HISTORY ? fc_history(db, p, series, var, &fc, err, errlen)
                                             : fc_latest(db, p, t, series, var, &fc, err, errlen);
    json_object_set_new(v, "forecast", fc ? fc : json_null());
    return rc;
}

/* A disaggregation pipeline's estimates of series in [from, to]: an array of {name, on_min,
 * points: [[ts, watts], ...]}, one per appliance, by name.  At most the page's span of
 * minutes per appliance (the rows are a minute apart). */
static int series_appliances(sqlite3 *db, const hz_web_pipeline *p, const char *series,
                             int64_t from, int64_t to, json_t *out, char *err, size_t errlen)
{
    if (!hz_sqlite_ident_ok(p->appliances))
        return hz_err(err, errlen, HZ_EINVAL, "pipeline %s: bad table names", p->name);
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT appliance, ts, power, state FROM %s WHERE pipeline = ?1 AND series = ?2 AND "
             "ts BETWEEN ?3 AND ?4 ORDER BY appliance, ts",
             p->appliances);
    sqlite3_stmt *st;
    int rc = prepare_key(db, sql, p->name, series, NULL, &st, err, errlen);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 3, from);
    sqlite3_bind_int64(st, 4, to);
    json_t *cur = NULL, *pts = NULL;
    int on = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = col_str(st, 0);
        if (!cur || strcmp(web_getstr(cur, "name"), name)) {
            if (cur)
                json_object_set_new(cur, "on_min", json_integer(on));
            cur = json_object();
            pts = json_array();
            on = 0;
            json_object_set_new(cur, "name", web_jstr(name));
            json_object_set_new(cur, "points", pts);
            json_array_append_new(out, cur);
        }
        json_t *pt = json_array();
        json_array_append_new(pt, json_integer(sqlite3_column_int64(st, 1)));
        json_array_append_new(pt, web_jnum(col_num(st, 2)));
        json_array_append_new(pts, pt);
        on += sqlite3_column_int(st, 3) != 0;
    }
    if (cur)
        json_object_set_new(cur, "on_min", json_integer(on));
    rc = rc == SQLITE_DONE ? 0 : db_err(db, "appliances", err, errlen);
    sqlite3_finalize(st);
    return rc;
}

int web_q_series(sqlite3 *db, const hz_web_pipeline *p, const web_series_req *rq, json_t **out,
                 char *err, size_t errlen)
{
    json_t *o = json_object(), *vars = json_array(), *flags = json_array();
    *out = o;
    json_object_set_new(o, "pipeline", web_jstr(p->name));
    json_object_set_new(o, "series", web_jstr(rq->series));
    json_object_set_new(o, "variables", vars);
    json_object_set_new(o, "flags", flags);
    if (!db)
        return hz_err(err, errlen, HZ_ENOTFOUND, "pipeline %s writes no SQLite file", p->name);
    int rc = series_vars(db, rq->series, vars, err, errlen);
    if (rc)
        return rc;
    if (json_array_size(vars) == 0)
        return hz_err(err, errlen, HZ_ENOTFOUND, "no readings of this series");
    int64_t to = INT64_MIN;
    size_t i;
    json_t *v;
    json_array_foreach(vars, i, v) if (web_getnum(v, "last_ms") > (double)to) to =
        (int64_t)web_getnum(v, "last_ms");
    int64_t span = rq->hours > 0 ? rq->hours * 3600000LL
                                 : 2 * (int64_t)(p->lookback > 0 ? p->lookback : 60) *
                                       (p->period_ms > 0 ? p->period_ms : 60000);
    int64_t from = to - span;
    json_object_set_new(o, "from_ms", json_integer(from));
    json_object_set_new(o, "to_ms", json_integer(to));
    json_object_set_new(o, "hours", json_integer(span / 3600000));
    json_array_foreach(vars, i, v) if (!rc) rc =
        one_var(db, p, rq->series, v, from, to, err, errlen);
    if (!rc && p->appliances[0]) {
        json_t *ap = json_array();
        json_object_set_new(o, "appliances", ap);
        rc = series_appliances(db, p, rq->series, from, to, ap, err, errlen);
    }
    return rc ? rc : series_flags(db, p, rq->series, from, flags, err, errlen);
}
