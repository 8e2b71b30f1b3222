/* test_web.c — the web view's handler (service/web.h) on a SQLite file written here: names
 * that are markup or hold / ? % quotes and non-ASCII come out escaped in HTML and
 * percent-encoded in links that lead back to them; pages, JSON, paging by prefix, the chart's
 * bands and flag marks; the bounds (414, 400, 404, 405). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "connectors/sqlite_schema.h"
#include "service/metrics_http.h"
#include "service/web.h"
#include "tmpdir.h"

static const char XSS[] = "<script>alert(1)</script>";
static const char ODD[] = "a/b?c%d\"e'f \xc3\xbc\xe6\xb0\xb4"; /* a/b?c%d"e'f ü水 */
#define DAY 86400000LL
#define T0  1700000000000LL

static char dbpath[300];

static void exec(sqlite3 *db, const char *sql)
{
    char err[HZ_ERRLEN];
    assert_int_equal(hz_sqlite_exec(db, sql, err, sizeof err), 0);
}

/* 30 daily readings of series s, a 3-step forecast after them with 90/99 bands, and a
 * residual flag on day 20. */
static void add_series(sqlite3 *db, const char *s)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "INSERT INTO readings(series, variable, ts, value) "
                                        "VALUES(?1, 'flow', ?2, ?3)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    for (int d = 0; d < 30; d++) {
        sqlite3_bind_text(st, 1, s, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, T0 + d * DAY);
        sqlite3_bind_double(st, 3, 10 + d % 5);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "INSERT INTO forecasts(pipeline, series, variable, "
                                        "issued_ts, target_ts, step, value, lower, upper, "
                                        "model_id, lower90, upper90, lower99, upper99) "
                                        "VALUES('p', ?1, 'flow', ?2, ?3, ?4, 12, 8, 16, 'm-1', "
                                        "10, 14, 8, 16)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    for (int k = 1; k <= 3; k++) {
        sqlite3_bind_text(st, 1, s, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, T0 + 29 * DAY);
        sqlite3_bind_int64(st, 3, T0 + (29 + k) * DAY);
        sqlite3_bind_int(st, 4, k);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "INSERT INTO anomalies(pipeline, series, variable, ts, "
                                        "value, expected, lower, upper, score, flag, kind, rule) "
                                        "VALUES('p', ?1, 'flow', ?2, 40, 12, 8, 16, 0.9, 1, "
                                        "'residual', 'residual level=0.99')",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, s, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, T0 + 20 * DAY);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
}

static int setup(void **state)
{
    if (tmpdir_make("web"))
        return -1;
    snprintf(dbpath, sizeof dbpath, "%s/w.sqlite", tmpdir);
    char err[HZ_ERRLEN];
    sqlite3 *db;
    hz_sqlite_tables t;
    if (hz_sqlite_open(dbpath, 0, 0, &db, err, sizeof err) ||
        hz_sqlite_tables_resolve(NULL, &t, err, sizeof err) ||
        hz_sqlite_schema_create(db, &t, err, sizeof err))
        return -1;
    exec(db, "ALTER TABLE forecasts ADD COLUMN lower90 REAL; ALTER TABLE forecasts ADD COLUMN "
             "upper90 REAL; ALTER TABLE forecasts ADD COLUMN lower99 REAL; ALTER TABLE "
             "forecasts ADD COLUMN upper99 REAL;");
    add_series(db, XSS);
    add_series(db, ODD);
    for (int i = 0; i < 7; i++) {
        char s[16];
        snprintf(s, sizeof s, "m%d", i);
        add_series(db, s);
    }
    /* pipeline "pl" writes forecasts: latest (connectors/sqlite_latest.h) */
    exec(db, "CREATE TABLE latest_forecasts(pipeline TEXT NOT NULL, series TEXT NOT NULL, "
             "variable TEXT NOT NULL, issued_ts INTEGER NOT NULL, period_ms INTEGER NOT NULL, "
             "steps INTEGER NOT NULL, model_id TEXT, value TEXT, lower90 TEXT, upper90 TEXT, "
             "lower99_9 TEXT, upper99_9 TEXT, PRIMARY KEY(pipeline, series, variable)) "
             "WITHOUT ROWID;"
             "INSERT INTO latest_forecasts VALUES('pl', 'm1', 'flow', 1702505600000, 86400000, "
             "2, 'm-2', '[12,13]', '[10,null]', '[14,15]', '[1,2]', '[30,31]');");
    /* pipeline "nilm" disaggregates: two appliances' estimates of m2 over its last 3 days */
    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO appliances VALUES('nilm', 'm2', 'Kettle', %lld, 0, 0, %lld, 'k'), "
             "('nilm', 'm2', 'Kettle', %lld, 2500, 1, %lld, 'k'), "
             "('nilm', 'm2', '%s', %lld, 40, 0, %lld, 'x');",
             T0 + 27 * DAY, T0 + 28 * DAY, T0 + 28 * DAY, T0 + 28 * DAY, XSS, T0 + 28 * DAY,
             T0 + 28 * DAY);
    exec(db, sql);
    sqlite3_close_v2(db);
    hz_web *w = hz_web_new();
    hz_web_pipeline p = {.running = 1,
                         .fc_mode = HZ_CFG_FC_HISTORY,
                         .period_ms = DAY,
                         .lookback = 10,
                         .lag = 0,
                         .readings = 270};
    snprintf(p.name, sizeof p.name, "p");
    snprintf(p.db, sizeof p.db, "%s", dbpath);
    snprintf(p.forecasts, sizeof p.forecasts, "forecasts");
    snprintf(p.anomalies, sizeof p.anomalies, "anomalies");
    snprintf(p.model_id, sizeof p.model_id, "m-1");
    snprintf(p.last_error, sizeof p.last_error, "%s", XSS);
    hz_web_pipeline ps[3] = {p, p, p};
    snprintf(ps[1].name, sizeof ps[1].name, "pl");
    ps[1].fc_mode = HZ_CFG_FC_LATEST;
    snprintf(ps[2].name, sizeof ps[2].name, "nilm");
    snprintf(ps[2].appliances, sizeof ps[2].appliances, "appliances");
    if (!w || hz_web_publish(w, ps, 3))
        return -1;
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    hz_web_free(*state);
    return tmpdir_remove();
}

/* GETs uri; the body as a NUL-terminated string the caller frees. */
static char *get(hz_web *w, const char *uri, unsigned want)
{
    hz_http_answer a;
    hz_http_route(NULL, NULL, NULL, w, "GET", uri, &a);
    char *s = strndup(a.body, a.len);
    if (a.status != want)
        fail_msg("%s: status %u, want %u: %.300s", uri, a.status, want, s);
    if (a.owned)
        free(a.body);
    return s;
}

/* The href of the first link whose text is `text` (escaped as in HTML). */
static char *href_of(const char *html, const char *text)
{
    char pat[256];
    snprintf(pat, sizeof pat, "\">%s</a>", text);
    const char *e = strstr(html, pat);
    assert_non_null(e);
    const char *b = e;
    while (b > html && strncmp(b, "href=\"", 6))
        b--;
    return strndup(b + 6, (size_t)(e - b - 6));
}

static void test_names_escaped(void **state)
{
    hz_web *w = *state;
    char *html = get(w, "/", 200);
    assert_null(strstr(html, "<script>"));
    assert_non_null(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt;")); /* last error */
    free(html);
    html = get(w, "/pipeline/p", 200);
    assert_null(strstr(html, "<script>"));
    assert_null(strstr(html, "c%d\"e'f")); /* the raw quotes never */
    char *x = href_of(html, "&lt;script&gt;alert(1)&lt;/script&gt;");
    assert_string_equal(x, "/series/p/%3Cscript%3Ealert%281%29%3C%2Fscript%3E");
    char *o = href_of(html, "a/b?c%d&quot;e&#39;f \xc3\xbc\xe6\xb0\xb4");
    assert_string_equal(o, "/series/p/a%2Fb%3Fc%25d%22e%27f%20%C3%BC%E6%B0%B4");
    free(html);
    /* the links lead to their series */
    html = get(w, x, 200);
    assert_null(strstr(html, "<script>"));
    assert_non_null(
        strstr(html, "<h1 class=\"series-name\">&lt;script&gt;alert(1)&lt;/script&gt;"));
    free(html);
    html = get(w, o, 200);
    assert_non_null(
        strstr(html, "<h1 class=\"series-name\">a/b?c%d&quot;e&#39;f \xc3\xbc\xe6\xb0\xb4</h1>"));
    assert_non_null(strstr(html, "aria-label=\"a/b?c%d&quot;e&#39;f"));
    free(html);
    /* the JSON holds the names as they are */
    char api[300];
    snprintf(api, sizeof api, "/api%s", o);
    char *js = get(w, api, 200);
    json_t *j = json_loads(js, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "series")), ODD);
    json_decref(j);
    free(js);
    free(x);
    free(o);
}

static void test_series_page(void **state)
{
    char *html = get(*state, "/series/p/m3?hours=720", 200);
    assert_non_null(strstr(html, "class=\"band band-0\" data-level=\"90\""));
    assert_non_null(strstr(html, "class=\"band band-1\" data-level=\"99\""));
    assert_non_null(strstr(html, "class=\"forecast\""));
    assert_non_null(strstr(html, "class=\"readings\" d=\"M"));
    assert_non_null(strstr(html, "<circle class=\"flag k-residual\" data-kind=\"residual\""));
    assert_non_null(strstr(html, "residual level=0.99"));
    free(html);
    /* a range of one day leaves the flag of day 20 out */
    html = get(*state, "/series/p/m3?hours=24", 200);
    assert_null(strstr(html, "<circle class=\"flag"));
    free(html);
    char *js = get(*state, "/api/series/p/m3", 200);
    json_t *j = json_loads(js, 0, NULL);
    json_t *v = json_array_get(json_object_get(j, "variables"), 0);
    assert_string_equal(json_string_value(json_object_get(v, "name")), "flow");
    json_t *fc = json_object_get(v, "forecast");
    assert_int_equal(json_array_size(json_object_get(fc, "value")), 3);
    assert_int_equal(json_array_size(json_object_get(fc, "bands")), 2);
    assert_int_equal(json_array_size(json_object_get(j, "flags")), 1);
    json_decref(j);
    free(js);
    free(get(*state, "/series/p/nosuch", 404));
    free(get(*state, "/api/series/nosuch/m3", 404));
}

/* A disaggregation pipeline's series page: the appliances chart, a line each, names escaped;
 * the JSON has each appliance's points and minutes on. */
static void test_appliances(void **state)
{
    char *html = get(*state, "/series/nilm/m2?hours=240", 200);
    assert_non_null(strstr(html, "Appliances (estimated watts)"));
    assert_non_null(strstr(html, "class=\"appliance a-0\" d=\"M"));
    assert_non_null(strstr(html, "class=\"appliance a-1\" d=\"M"));
    assert_non_null(strstr(html, "Kettle: on 1 min"));
    assert_null(strstr(html, XSS));
    assert_null(strstr(html, "- - forecast issued")); /* nothing forecast */
    free(html);
    char *js = get(*state, "/api/series/nilm/m2?hours=240", 200);
    json_t *j = json_loads(js, 0, NULL);
    json_t *aps = json_object_get(j, "appliances");
    assert_int_equal(json_array_size(aps), 2);
    json_t *k = json_array_get(aps, 1); /* by name: "<script>..." sorts first */
    assert_string_equal(json_string_value(json_object_get(k, "name")), "Kettle");
    assert_int_equal(json_integer_value(json_object_get(k, "on_min")), 1);
    assert_int_equal(json_array_size(json_object_get(k, "points")), 2);
    json_decref(j);
    free(js);
    /* a forecasting pipeline has no appliances key */
    js = get(*state, "/api/series/p/m2", 200);
    j = json_loads(js, 0, NULL);
    assert_null(json_object_get(j, "appliances"));
    json_decref(j);
    free(js);
}

/* forecasts: latest, the steps as JSON arrays; a 99.9% band is in the JSON, not drawn */
static void test_latest(void **state)
{
    char *js = get(*state, "/api/series/pl/m1", 200);
    json_t *j = json_loads(js, 0, NULL);
    json_t *fc = json_object_get(json_array_get(json_object_get(j, "variables"), 0), "forecast");
    assert_string_equal(json_string_value(json_object_get(fc, "model_id")), "m-2");
    json_t *ts = json_object_get(fc, "ts");
    assert_int_equal(json_array_size(ts), 2);
    assert_int_equal(json_integer_value(json_array_get(ts, 1)), 1702505600000LL + 2 * DAY);
    json_t *b90 = json_array_get(json_object_get(fc, "bands"), 0);
    assert_string_equal(json_string_value(json_object_get(b90, "level")), "90");
    assert_true(json_is_null(json_array_get(json_object_get(b90, "lower"), 1)));
    assert_int_equal(json_array_size(json_object_get(fc, "bands")), 2);
    json_decref(j);
    free(js);
    char *html = get(*state, "/series/pl/m1", 200);
    assert_non_null(strstr(html, "class=\"band band-0\" data-level=\"90\""));
    assert_null(strstr(html, "data-level=\"99.9\""));
    free(html);
    js = get(*state, "/api/pipeline/pl", 200);
    j = json_loads(js, 0, NULL);
    assert_int_equal(json_array_size(json_object_get(j, "series")), 1);
    json_decref(j);
    free(js);
}

static void test_overview(void **state)
{
    char *js = get(*state, "/api/pipelines", 200);
    json_t *j = json_loads(js, 0, NULL);
    json_t *p = json_array_get(json_object_get(j, "pipelines"), 0);
    assert_string_equal(json_string_value(json_object_get(p, "name")), "p");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(p, "flags_by_kind"), "residual")), 9);
    assert_int_equal(json_array_size(json_object_get(p, "top_series")), 9);
    json_decref(j);
    free(js);
}

/* ?prefix= and ?after= page through the series in byte order. */
static void test_paging(void **state)
{
    char *js = get(*state, "/api/pipeline/p?prefix=m&limit=3", 200);
    json_t *j = json_loads(js, 0, NULL);
    assert_int_equal(json_array_size(json_object_get(j, "series")), 3);
    assert_string_equal(json_string_value(json_object_get(j, "next")), "m2");
    json_decref(j);
    free(js);
    js = get(*state, "/api/pipeline/p?prefix=m&limit=3&after=m5", 200);
    j = json_loads(js, 0, NULL);
    assert_int_equal(json_array_size(json_object_get(j, "series")), 1);
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "series"), 0)), "m6");
    assert_true(json_is_null(json_object_get(j, "next")));
    json_decref(j);
    free(js);
    char *html = get(*state, "/pipeline/p?prefix=m&limit=3", 200);
    assert_non_null(strstr(html, "href=\"/pipeline/p?prefix=m&amp;after=m2\">next page"));
    free(html);
    js = get(*state, "/api/pipeline/p?prefix=%3C", 200); /* "<" */
    j = json_loads(js, 0, NULL);
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "series"), 0)), XSS);
    json_decref(j);
    free(js);
    js = get(*state, "/api/pipeline/p?prefix=a%2F", 200);
    j = json_loads(js, 0, NULL);
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "series"), 0)), ODD);
    json_decref(j);
    free(js);
}

static void test_bounds(void **state)
{
    hz_web *w = *state;
    char *big = malloc(HZ_WEB_MAX_URI + 10);
    memset(big, 'a', HZ_WEB_MAX_URI + 9);
    big[0] = '/';
    big[HZ_WEB_MAX_URI + 9] = '\0';
    free(get(w, big, 414));
    snprintf(big, HZ_WEB_MAX_URI, "/pipeline/p?prefix=");
    memset(big + strlen(big), 'x', HZ_WEB_MAX_QUERY);
    big[19 + HZ_WEB_MAX_QUERY] = '\0';
    free(get(w, big, 414));
    free(big);
    free(get(w, "/series/p/%zz", 400));
    free(get(w, "/series/p/a%00b", 400));
    free(get(w, "/series/p/a%4", 400));
    free(get(w, "/pipeline/p?limit=0", 400));
    free(get(w, "/pipeline/p?limit=201", 400));
    free(get(w, "/series/p/m1?hours=-5", 400));
    free(get(w, "/nosuch", 404));
    free(get(w, "/pipeline/p/extra/more/segments/still", 404));
    free(get(w, "/pipeline/q", 404));
    free(get(w, "/api/nosuch", 404));
    hz_http_answer a;
    hz_http_route(NULL, NULL, NULL, w, "POST", "/pipeline/p", &a);
    assert_int_equal(a.status, 405);
    assert_string_equal(a.allow, "GET, HEAD");
    /* the pages are sent with a policy that forbids scripts */
    hz_http_route(NULL, NULL, NULL, w, "GET", "/", &a);
    assert_non_null(a.csp);
    assert_non_null(strstr(a.csp, "default-src 'none'"));
    free(a.body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_escaped), cmocka_unit_test(test_series_page),
        cmocka_unit_test(test_latest),        cmocka_unit_test(test_overview),
        cmocka_unit_test(test_paging),        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_appliances),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
