/* test_sqlite.c — SQLite sink, source and window rebuild on real files in a temp dir: schema,
 * identifier checks, idempotent replay, a writer killed mid-transaction, cursor resume. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "connectors/sqlite_schema.h"
#include "connectors/sqlite_sink.h"
#include "connectors/sqlite_source.h"
#include "pipeline/window_store.h"
#include "tmpdir.h"

static int setup(void **state)
{
    return tmpdir_make("sqlite");
}

static int teardown(void **state)
{
    return tmpdir_remove();
}

static const char *db_path(const char *name)
{
    static char path[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(path[k], sizeof path[k], "%s/%s", tmpdir, name);
    return path[k];
}

static int64_t query_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static hz_sink *open_opts(const hz_sqlite_sink_opts *o)
{
    hz_sink *k = NULL;
    char err[HZ_ERRLEN] = "";
    int rc = hz_sqlite_sink_new(o, &k, err, sizeof err);
    if (rc)
        fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, 0);
    return k;
}

static hz_sink *open_sink(const char *path)
{
    return open_opts(&(hz_sqlite_sink_opts){.path = path});
}

static const char *const VARS[2] = {"power", "voltage"};

/* n readings of series s every 60 s from t0, power = i, voltage = 230 + i. */
static void write_readings(hz_sink *k, const char *s, int64_t t0, int n, double bias)
{
    char err[HZ_ERRLEN];
    for (int i = 0; i < n; i++) {
        hz_reading r = {
            .series = s, .ts_ms = t0 + i * 60000LL, .nvars = 2, .values = {i + bias, 230 + i}};
        assert_int_equal(k->ops->write_readings(k, "p", VARS, &r, 1, err, sizeof err), 0);
    }
}

static void test_identifiers(void **state)
{
    assert_true(hz_sqlite_ident_ok("readings"));
    assert_true(hz_sqlite_ident_ok("_r2"));
    assert_false(hz_sqlite_ident_ok("x; DROP TABLE readings"));
    assert_false(hz_sqlite_ident_ok("1abc"));
    assert_false(hz_sqlite_ident_ok(""));
    assert_false(hz_sqlite_ident_ok(NULL));
    assert_false(hz_sqlite_ident_ok("select"));
    assert_false(hz_sqlite_ident_ok("a-b"));
    assert_false(hz_sqlite_ident_ok("r\"x"));
    char longname[70];
    memset(longname, 'a', 63);
    longname[63] = 0;
    assert_true(hz_sqlite_ident_ok(longname));
    longname[63] = 'a';
    longname[64] = 0;
    assert_false(hz_sqlite_ident_ok(longname));

    /* a sink refuses the name before touching the database */
    const char *path = db_path("ident.sqlite");
    hz_sink *k = open_sink(path);
    write_readings(k, "m", 0, 3, 0);
    char err[HZ_ERRLEN];
    assert_int_equal(k->ops->flush(k, 1000, err, sizeof err), 0);
    k->ops->free(k);
    hz_sqlite_sink_opts o = {.path = path, .tables = {.readings = "x; DROP TABLE readings"}};
    assert_int_equal(hz_sqlite_sink_new(&o, &k, err, sizeof err), HZ_EINVAL);
    assert_null(k);
    assert_non_null(strstr(err, "readings table: \"x; DROP TABLE readings\" is not a valid"));
    hz_sqlite_source_opts so = {.path = path,
                                .cursor = "c",
                                .variables = VARS,
                                .nvars = 2,
                                .table = "readings; DELETE FROM readings"};
    hz_source *src = NULL;
    assert_int_equal(hz_sqlite_source_new(&so, &src, err, sizeof err), HZ_EINVAL);
    k = open_sink(path);
    assert_int_equal(query_int(hz_sqlite_sink_db(k), "SELECT count(*) FROM readings"), 6);
    k->ops->free(k);
}

static void test_schema_created(void **state)
{
    const char *path = db_path("schema.sqlite");
    hz_sink *k = open_sink(path);
    sqlite3 *db = hz_sqlite_sink_db(k);
    const char *tables[] = {"readings",     "forecasts", "anomalies",     "models",
                            "dead_letters", "cursors",   "reading_flags", "appliances"};
    char sql[256];
    for (int i = 0; i < 8; i++) {
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='%s'", tables[i]);
        assert_int_equal(query_int(db, sql), 1);
    }
    assert_int_equal(query_int(db, "SELECT count(*) FROM sqlite_master WHERE type='index' AND "
                                   "name IN ('forecasts_latest','anomalies_by_ts')"),
                     2);
    assert_int_equal(
        query_int(db, "SELECT count(*) FROM sqlite_master WHERE type='view' AND name LIKE '%_iso'"),
        4);
    assert_int_equal(query_int(db, "SELECT journal_mode = 'wal' FROM pragma_journal_mode"), 1);
    assert_int_equal(query_int(db, "SELECT synchronous FROM pragma_synchronous"), 2); /* FULL */
    /* the latest-forecast query uses the index */
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "EXPLAIN QUERY PLAN SELECT * FROM forecasts WHERE "
                                        "series='a' AND variable='v' ORDER BY issued_ts DESC",
                                        -1, &st, NULL),
                     SQLITE_OK);
    int uses_index = 0;
    while (sqlite3_step(st) == SQLITE_ROW)
        uses_index |= strstr((const char *)sqlite3_column_text(st, 3), "INDEX") != NULL;
    sqlite3_finalize(st);
    assert_true(uses_index);

    /* forecasts, anomalies, dead letters and the ISO view */
    char err[HZ_ERRLEN];
    hz_forecast f = {.pipeline = "p",
                     .series = "m",
                     .variable = "power",
                     .issued_ts = 1467331200000LL,
                     .target_ts = 1467334800000LL,
                     .step = 1,
                     .value = 1.5,
                     .lower = NAN,
                     .upper = NAN,
                     .model_id = "x"};
    hz_anomaly a = {.pipeline = "p",
                    .series = "m",
                    .variable = "power",
                    .ts = 1,
                    .value = 9,
                    .expected = 1,
                    .lower = 0,
                    .upper = 2,
                    .score = 0.99,
                    .flag = 1,
                    .kind = "residual"};
    hz_dead_letter d = {
        .origin = "t/0/5", .reason = "bad", .payload = "{", .payload_len = 1, .ts_ms = 5};
    for (int rep = 0; rep < 2; rep++) { /* replayed: still one row each */
        assert_int_equal(k->ops->write_forecasts(k, &f, 1, err, sizeof err), 0);
        assert_int_equal(k->ops->write_anomalies(k, &a, 1, err, sizeof err), 0);
        assert_int_equal(k->ops->write_dead(k, "p", &d, 1, err, sizeof err), 0);
        assert_int_equal(k->ops->flush(k, 1000, err, sizeof err), 0);
    }
    assert_int_equal(query_int(db, "SELECT count(*) FROM forecasts WHERE lower IS NULL"), 1);
    assert_int_equal(query_int(db, "SELECT count(*) FROM anomalies"), 1);
    assert_int_equal(query_int(db, "SELECT count(*) FROM dead_letters"), 1);
    assert_int_equal(query_int(db, "SELECT issued = '2016-07-01T00:00:00.000Z' FROM forecasts_iso"),
                     1);
    const hz_sink_ops *ops = k->ops;
    ops->free(k);
    ops->free(NULL); /* a no-op */
}

/* A file written before anomalies had model_id and rule, and forecasts their per-level
 * columns: opening a sink adds them, and the rows written carry them. */
/* Quality codes beside readings: one per variable, joinable on (series, variable, ts), an
 * upsert on re-import, committed with the readings. */
static void test_reading_flags(void **state)
{
    const char *path = db_path("flags.sqlite");
    hz_sink *k = open_sink(path);
    char err[HZ_ERRLEN] = "";
    const char *vars[] = {"discharge", "stage"};
    hz_reading r = {.series = "g1", .ts_ms = 86400000, .nvars = 2, .values = {5, NAN}};
    assert_int_equal(k->ops->write_readings(k, "import", vars, &r, 1, err, sizeof err), 0);
    assert_int_equal(hz_sqlite_sink_write_flag(k, "g1", vars, 2, 86400000, "A:e", err, sizeof err),
                     0);
    assert_int_equal(hz_sqlite_sink_write_flag(k, "g1", vars, 1, 86400000, "A", err, sizeof err),
                     0);
    assert_int_equal(k->ops->flush(k, -1, err, sizeof err), 0);
    sqlite3 *db = hz_sqlite_sink_db(k);
    assert_int_equal(query_int(db, "SELECT count(*) FROM reading_flags"), 2);
    assert_int_equal(query_int(db,
                               "SELECT count(*) FROM readings r JOIN reading_flags f "
                               "USING (series, variable, ts) WHERE f.code = 'A' AND r.value = 5"),
                     1);
    /* the stage value was missing: its code is kept, with no reading */
    assert_int_equal(query_int(db, "SELECT count(*) FROM reading_flags f LEFT JOIN readings r "
                                   "USING (series, variable, ts) WHERE r.value IS NULL AND "
                                   "f.code = 'A:e' AND f.variable = 'stage'"),
                     1);
    k->ops->free(k);
}

static void test_migrates_older_files(void **state)
{
    const char *path = db_path("old.sqlite");
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db,
                     "CREATE TABLE anomalies(pipeline TEXT NOT NULL, series TEXT NOT NULL,"
                     " variable TEXT NOT NULL, ts INTEGER NOT NULL, value REAL, expected REAL,"
                     " lower REAL, upper REAL, score REAL, flag INTEGER NOT NULL,"
                     " kind TEXT NOT NULL, UNIQUE(pipeline, series, variable, ts, kind));"
                     "CREATE VIEW anomalies_iso AS SELECT pipeline, series, ts FROM anomalies;",
                     NULL, NULL, NULL),
        SQLITE_OK);
    hz_sink *k = open_sink(path);
    char err[HZ_ERRLEN];
    static const double levels[2] = {0.9, 0.995};
    hz_forecast f = {.pipeline = "p",
                     .series = "m",
                     .variable = "power",
                     .issued_ts = 0,
                     .target_ts = 1,
                     .step = 1,
                     .value = 1.5,
                     .lower = 1,
                     .upper = 2,
                     .model_id = "x",
                     .nlevels = 2,
                     .levels = levels,
                     .lo = {1.2, 1},
                     .hi = {1.8, 2}};
    hz_anomaly a = {.pipeline = "p",
                    .series = "m",
                    .variable = "power",
                    .ts = 1,
                    .value = 9,
                    .expected = 1,
                    .lower = 0,
                    .upper = 2,
                    .score = 0.9,
                    .flag = 1,
                    .kind = "spike",
                    .rule = "spike k=8 window=32"};
    assert_int_equal(k->ops->write_forecasts(k, &f, 1, err, sizeof err), 0);
    assert_int_equal(k->ops->write_anomalies(k, &a, 1, err, sizeof err), 0);
    assert_int_equal(k->ops->flush(k, 1000, err, sizeof err), 0);
    assert_int_equal(query_int(db, "SELECT count(*) FROM anomalies WHERE rule = "
                                   "'spike k=8 window=32' AND model_id IS NULL"),
                     1);
    assert_int_equal(query_int(db, "SELECT lower90 = 1.2 AND upper99_5 = 2 FROM forecasts"), 1);
    /* the views show every column, those added later and the old view replaced */
    assert_int_equal(query_int(db, "SELECT lower90 = 1.2 AND target = '1970-01-01T00:00:00.001Z'"
                                   " FROM forecasts_iso"),
                     1);
    assert_int_equal(query_int(db, "SELECT rule = 'spike k=8 window=32' AND time LIKE '1970%'"
                                   " FROM anomalies_iso"),
                     1);
    k->ops->free(k);
    sqlite3_close(db);
}

static void test_idempotent_replay(void **state)
{
    const char *path = db_path("replay.sqlite");
    hz_sink *k = open_sink(path);
    char err[HZ_ERRLEN];
    write_readings(k, "m1", 0, 50, 0);
    assert_int_equal(k->ops->flush(k, 1000, err, sizeof err), 0);
    write_readings(k, "m1", 0, 50, 0.5); /* the same batch again, values corrected */
    assert_int_equal(k->ops->flush(k, 1000, err, sizeof err), 0);
    sqlite3 *db = hz_sqlite_sink_db(k);
    assert_int_equal(query_int(db, "SELECT count(*) FROM readings"), 100);
    assert_int_equal(query_int(db, "SELECT value * 10 FROM readings WHERE variable='power' AND "
                                   "ts = 60000"),
                     15);
    /* NaN values are not stored */
    hz_reading r = {.series = "m2", .ts_ms = 0, .nvars = 2, .values = {NAN, 1}};
    assert_int_equal(k->ops->write_readings(k, "p", VARS, &r, 1, err, sizeof err), 0);
    assert_int_equal(k->ops->flush(k, 1000, err, sizeof err), 0);
    assert_int_equal(query_int(db, "SELECT count(*) FROM readings WHERE series='m2'"), 1);
    /* not flushed: rolled back by free */
    write_readings(k, "m3", 0, 10, 0);
    k->ops->free(k);
    k = open_sink(path);
    assert_int_equal(query_int(hz_sqlite_sink_db(k), "SELECT count(*) FROM readings"), 101);
    k->ops->free(k);
}

/* The forecasts of series s (variables VARS) issued at t (minutes), horizon P, levels 0.9
 * and 0.99: value = t + step + v, bounds value -/+ level. */
static void write_forecasts(hz_sink *k, const char *s, int64_t t, int P)
{
    static const double lv[2] = {0.9, 0.99};
    hz_forecast f[2 * 48];
    int n = 0;
    for (int h = 1; h <= P; h++)
        for (int v = 0; v < 2; v++) {
            hz_forecast *x = &f[n++];
            memset(x, 0, sizeof *x);
            x->pipeline = "p";
            x->series = s;
            x->variable = VARS[v];
            x->issued_ts = t * 60000;
            x->target_ts = (t + h) * 60000;
            x->step = h;
            x->value = (double)t + h + v;
            x->nlevels = 2;
            x->levels = lv;
            for (int l = 0; l < 2; l++) {
                x->lo[l] = x->value - 1 - l;
                x->hi[l] = x->value + 1 + l;
            }
            x->lower = x->lo[1];
            x->upper = x->hi[1];
            x->model_id = "p-abc";
        }
    char err[HZ_ERRLEN];
    assert_int_equal(k->ops->write_forecasts(k, f, (size_t)n, err, sizeof err), 0);
}

/* forecasts: latest keeps one row per (series, variable) with the steps as JSON arrays; a
 * late issue does not replace a newer one; the view unnests them to a row per step. */
static void test_latest_forecasts(void **state)
{
    hz_sqlite_sink_opts o = {.path = db_path("latest.sqlite"), .forecasts = HZ_SQLITE_FC_LATEST};
    hz_sink *k = NULL;
    char err[HZ_ERRLEN];
    assert_int_equal(hz_sqlite_sink_new(&o, &k, err, sizeof err), 0);
    for (int t = 0; t < 30; t++)
        for (int s = 0; s < 3; s++)
            write_forecasts(k, s ? "m2" : "m1", t, 4);
    write_forecasts(k, "m1", 10, 4); /* late */
    assert_int_equal(k->ops->flush(k, 1000, err, sizeof err), 0);
    sqlite3 *db = hz_sqlite_sink_db(k);
    assert_int_equal(query_int(db, "SELECT count(*) FROM latest_forecasts"), 4);
    assert_int_equal(query_int(db, "SELECT count(*) FROM forecasts"), 0);
    assert_int_equal(query_int(db, "SELECT max(issued_ts) / 60000 FROM latest_forecasts WHERE "
                                   "series = 'm1'"),
                     29);
    assert_int_equal(query_int(db, "SELECT count(*) FROM latest_forecasts_steps"), 16);
    assert_int_equal(query_int(db, "SELECT target_ts / 60000 FROM latest_forecasts_steps WHERE "
                                   "series = 'm2' AND variable = 'voltage' AND step = 3"),
                     32);
    assert_int_equal(query_int(db, "SELECT value * 10 + upper90 * 100 + lower99 * 1000 FROM "
                                   "latest_forecasts_steps WHERE series = 'm1' AND variable = "
                                   "'voltage' AND step = 2"),
                     32 * 10 + 33 * 100 + 30 * 1000);
    k->ops->free(k);
}

/* A file whose latest table was made WITHOUT ROWID (as before sqlite_latest.c's rowid
 * table) is copied into the rowid table at open: rows, level columns and the retention
 * index kept; the view shows the levels before the first forecast. */
static void test_latest_without_rowid(void **state)
{
    hz_sqlite_sink_opts o = {.path = db_path("latest_wr.sqlite"),
                             .forecasts = HZ_SQLITE_FC_LATEST,
                             .keep_forecasts_ms = 3600000};
    hz_sink *k = open_opts(&o);
    write_forecasts(k, "m1", 5, 4);
    char err[HZ_ERRLEN];
    assert_int_equal(k->ops->flush(k, 1000, err, sizeof err), 0);
    sqlite3 *db = hz_sqlite_sink_db(k);
    assert_int_equal(
        sqlite3_exec(db,
                     "DROP VIEW latest_forecasts_steps; ALTER TABLE latest_forecasts RENAME TO x; "
                     "CREATE TABLE latest_forecasts(pipeline TEXT NOT NULL, series TEXT NOT NULL, "
                     "variable TEXT NOT NULL, issued_ts INTEGER NOT NULL, period_ms INTEGER NOT "
                     "NULL, steps INTEGER NOT NULL, model_id TEXT, value TEXT, lower90 TEXT, "
                     "upper90 TEXT, lower99 TEXT, upper99 TEXT, PRIMARY KEY(pipeline, series, "
                     "variable)) WITHOUT ROWID; INSERT INTO latest_forecasts SELECT * FROM x; "
                     "DROP TABLE x;",
                     NULL, NULL, NULL),
        SQLITE_OK);
    k->ops->free(k);
    k = open_opts(&o);
    db = hz_sqlite_sink_db(k);
    assert_int_equal(query_int(db, "SELECT count(*) FROM sqlite_master WHERE name = "
                                   "'latest_forecasts' AND sql LIKE '%WITHOUT ROWID%'"),
                     0);
    assert_int_equal(query_int(db, "SELECT count(*) FROM sqlite_master WHERE name LIKE "
                                   "'%without_rowid%'"),
                     0);
    assert_int_equal(query_int(db, "SELECT count(*) FROM latest_forecasts"), 2);
    assert_int_equal(query_int(db, "SELECT json_extract(upper99, '$[1]') * 10 FROM "
                                   "latest_forecasts WHERE series = 'm1' AND variable = 'voltage'"),
                     (5 + 2 + 1 + 2) * 10);
    assert_int_equal(query_int(db, "SELECT count(*) FROM sqlite_master WHERE name = "
                                   "'latest_forecasts_by_issued_ts'"),
                     1);
    assert_int_equal(query_int(db, "SELECT lower90 * 10 + upper * 100 FROM "
                                   "latest_forecasts_steps WHERE series = 'm1' AND variable = "
                                   "'voltage' AND step = 2"),
                     (5 + 2 + 1 - 1) * 10 + (5 + 2 + 1 + 2) * 100);
    write_forecasts(k, "m1", 6, 4);
    assert_int_equal(k->ops->flush(k, 1000, err, sizeof err), 0);
    assert_int_equal(query_int(db, "SELECT max(issued_ts) / 60000 FROM latest_forecasts"), 6);
    assert_int_equal(query_int(db, "SELECT count(*) FROM latest_forecasts_steps WHERE "
                                   "upper99 IS NOT NULL"),
                     8);
    k->ops->free(k);
}

static hz_sink *open_staged(const char *path, int64_t every_ms)
{
    return open_opts(&(hz_sqlite_sink_opts){
        .path = path, .synchronous_normal = 1, .stage_readings_ms = every_ms});
}

static void copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    assert_non_null(a);
    assert_non_null(b);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, a)) > 0)
        assert_int_equal(fwrite(buf, 1, n, b), n);
    fclose(a);
    fclose(b);
}

/* Staged readings (connectors/sqlite_stage.h): appended to readings_staged, moved into
 * readings by the flushes after the interval in chunks of the key order, a re-sent reading
 * ending as its last value; a file left with staged rows (a crash) has them moved at the
 * next open, even with staging since turned off. */
static void test_staged_readings(void **state)
{
    const char *path = db_path("staged.sqlite");
    hz_sink *k = open_staged(path, 1);
    sqlite3 *db = hz_sqlite_sink_db(k);
    char err[HZ_ERRLEN], ids[20][16];
    for (int s = 0; s < 20; s++) { /* 40,000 rows: three chunks */
        snprintf(ids[s], sizeof ids[s], "m%d", s);
        write_readings(k, ids[s], 0, 1000, 0);
    }
    write_readings(k, "m0", 0, 10, 0.5); /* re-sent twice before the move: the last counts */
    write_readings(k, "m0", 0, 10, 0.25);
    assert_int_equal(k->ops->flush(k, 1000, err, sizeof err), 0);
    assert_true(query_int(db, "SELECT count(*) FROM readings_staged") == 40040);
    assert_int_equal(query_int(db, "SELECT count(*) FROM readings_live"),
                     query_int(db, "SELECT count(*) FROM readings") + 40040);
    for (int i = 0; i < 20 && query_int(db, "SELECT count(*) FROM readings_staged"); i++) {
        usleep(2000);
        assert_int_equal(k->ops->flush(k, 1000, err, sizeof err), 0);
    }
    assert_int_equal(query_int(db, "SELECT count(*) FROM readings_staged"), 0);
    assert_int_equal(query_int(db, "SELECT count(*) FROM readings"), 40000);
    assert_int_equal(query_int(db, "SELECT value * 100 FROM readings WHERE series = 'm0' AND "
                                   "variable = 'power' AND ts = 60000"),
                     125);
    /* a crash with rows staged: the file as it was, opened with staging off */
    write_readings(k, "m99", 0, 50, 0);
    assert_int_equal(k->ops->flush(k, 1000, err, sizeof err), 0);
    char crash[600], wal[700], cwal[700];
    snprintf(crash, sizeof crash, "%s/crashed.sqlite", tmpdir);
    snprintf(wal, sizeof wal, "%s-wal", path);
    snprintf(cwal, sizeof cwal, "%s-wal", crash);
    copy_file(path, crash);
    copy_file(wal, cwal);
    k->ops->free(k);
    hz_sink *c = open_sink(crash);
    assert_int_equal(query_int(hz_sqlite_sink_db(c), "SELECT count(*) FROM readings_staged"), 0);
    assert_int_equal(query_int(hz_sqlite_sink_db(c), "SELECT count(*) FROM readings WHERE "
                                                     "series = 'm99'"),
                     100);
    c->ops->free(c);
}

/* A day of a 50-meter fleet at one reading a minute, with a one-hour retention of readings,
 * forecasts (history and latest) and anomalies: at the end no row is older than an hour
 * behind the newest, and the file holds about an hour of it. */
static void test_retention_day(void **state)
{
    hz_sqlite_sink_opts o = {.path = db_path("retention.sqlite"),
                             .forecasts = HZ_SQLITE_FC_LATEST | HZ_SQLITE_FC_HISTORY,
                             .synchronous_normal = 1,
                             .keep_readings_ms = 3600000,
                             .keep_forecasts_ms = 3600000,
                             .keep_anomalies_ms = 3600000};
    hz_sink *k = NULL;
    char err[HZ_ERRLEN];
    assert_int_equal(hz_sqlite_sink_new(&o, &k, err, sizeof err), 0);
    char ids[50][16];
    for (int s = 0; s < 50; s++)
        snprintf(ids[s], sizeof ids[s], "m%d", s);
    for (int t = 0; t < 1440; t++) {
        for (int s = 0; s < 50; s++) {
            hz_reading r = {.series = ids[s], .ts_ms = t * 60000LL, .nvars = 2, .values = {t, 1}};
            assert_int_equal(k->ops->write_readings(k, "p", VARS, &r, 1, err, sizeof err), 0);
            write_forecasts(k, ids[s], t, 2);
            hz_anomaly a = {.pipeline = "p",
                            .series = ids[s],
                            .variable = "power",
                            .ts = t * 60000LL,
                            .value = t,
                            .score = 0.9,
                            .flag = 1,
                            .kind = "spike"};
            if ((t + s) % 7 == 0)
                assert_int_equal(k->ops->write_anomalies(k, &a, 1, err, sizeof err), 0);
        }
        if (t % 10 == 9 || t == 1439)
            assert_int_equal(k->ops->flush(k, 1000, err, sizeof err), 0);
    }
    sqlite3 *db = hz_sqlite_sink_db(k);
    const int64_t cut = 1439 * 60000LL - 3600000;
    assert_int_equal(query_int(db, "SELECT min(ts) FROM readings"), cut);
    assert_int_equal(query_int(db, "SELECT min(issued_ts) FROM forecasts"), cut);
    assert_int_equal(query_int(db, "SELECT min(ts) FROM anomalies"), cut);
    assert_int_equal(query_int(db, "SELECT count(*) FROM readings"), 61 * 50 * 2);
    assert_int_equal(query_int(db, "SELECT count(*) FROM latest_forecasts"), 100);
    k->ops->free(k);
}

/* Bytes of file path, 0 when absent. */
static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) ? 0 : (long)st.st_size;
}

/* Commits of 2,000 readings each without a pause until about 12 MB are written: the WAL of
 * a sink that empties it past `frames` frames.  Returns the largest WAL size seen after each
 * commit, and the bytes committed in *written. */
static long steady_writer_wal(const char *name, int frames, long *written)
{
    const char *path = db_path(name);
    hz_sqlite_sink_opts o = {.path = path, .synchronous_normal = 1, .wal_truncate_frames = frames};
    hz_sink *k = NULL;
    char err[HZ_ERRLEN], wal[600], id[16];
    assert_int_equal(hz_sqlite_sink_new(&o, &k, err, sizeof err), 0);
    snprintf(wal, sizeof wal, "%s-wal", path);
    long most = 0;
    *written = 0;
    for (int64_t step = 0;; step++) {
        for (int i = 0; i < 2000; i++) {
            snprintf(id, sizeof id, "m%d", i);
            hz_reading r = {.series = id, .ts_ms = step * 60000, .nvars = 2, .values = {i, 1}};
            assert_int_equal(k->ops->write_readings(k, "p", VARS, &r, 1, err, sizeof err), 0);
        }
        assert_int_equal(k->ops->flush(k, 1000, err, sizeof err), 0);
        *written += 2000 * 2 * 40; /* about 40 bytes a row and its index entry */
        long w = file_size(wal);
        most = w > most ? w : most;
        if (*written >= 12L << 20)
            break;
    }
    k->ops->free(k);
    return most;
}

/* Under commits that never pause, passive checkpoints never start the WAL over: the sink's
 * checkpoint thread must truncate it (connectors/sqlite_sink.c ckpt_round), else it grows
 * without end (46 GB in the 10-minute soak, bench/soak.sh). */
static void test_wal_bounded_under_steady_commits(void **state)
{
    long written = 0;
    long most = steady_writer_wal("steady.sqlite", 256, &written);
    /* 256 frames of 4 KiB, plus the commits made while the thread waits its 500 ms */
    assert_true(written > 8L << 20);
    assert_true(most < 6L << 20);
}

/* A writer killed with SIGKILL after writing (but before committing) a batch leaves the
 * committed batch and nothing of the other. */
static void test_killed_writer_leaves_no_partial_batch(void **state)
{
    const char *path = db_path("kill.sqlite");
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fd[0]);
        hz_sqlite_sink_opts o = {.path = path};
        hz_sink *k = NULL;
        char err[HZ_ERRLEN];
        if (hz_sqlite_sink_new(&o, &k, err, sizeof err))
            _exit(3);
        for (int i = 0; i < 200; i++) {
            hz_reading r = {.series = "m", .ts_ms = i * 1000LL, .nvars = 2, .values = {i, i}};
            k->ops->write_readings(k, "p", VARS, &r, 1, err, sizeof err);
        }
        if (k->ops->flush(k, 1000, err, sizeof err))
            _exit(4);
        struct stat wst;
        char wal[600];
        snprintf(wal, sizeof wal, "%s-wal", path);
        int64_t committed_wal = stat(wal, &wst) == 0 ? (int64_t)wst.st_size : -1;
        for (int i = 200; i < 5200; i++) { /* second batch: never committed */
            hz_reading r = {.series = "m", .ts_ms = i * 1000LL, .nvars = 2, .values = {i, i}};
            k->ops->write_readings(k, "p", VARS, &r, 1, err, sizeof err);
        }
        /* force part of the open transaction's pages out of the cache into the WAL */
        sqlite3_db_cacheflush(hz_sqlite_sink_db(k));
        if (write(fd[1], &committed_wal, sizeof committed_wal) != sizeof committed_wal)
            _exit(5);
        for (;;)
            pause();
    }
    close(fd[1]);
    int64_t committed_wal = 0;
    assert_int_equal(read(fd[0], &committed_wal, sizeof committed_wal), sizeof committed_wal);
    close(fd[0]);
    assert_int_equal(kill(pid, SIGKILL), 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    /* the uncommitted batch really reached the file: the WAL grew past the first commit */
    struct stat wst;
    char wal[600];
    snprintf(wal, sizeof wal, "%s-wal", path);
    assert_int_equal(stat(wal, &wst), 0);
    assert_true(committed_wal > 0);
    assert_true((int64_t)wst.st_size > committed_wal);
    hz_sink *k = open_sink(path);
    sqlite3 *db = hz_sqlite_sink_db(k);
    assert_int_equal(query_int(db, "SELECT count(*) FROM readings"), 400);
    assert_int_equal(query_int(db, "SELECT max(ts) FROM readings"), 199000);
    assert_int_equal(query_int(db, "SELECT count(*) FROM pragma_integrity_check WHERE "
                                   "integrity_check = 'ok'"),
                     1);
    k->ops->free(k);
}

static void test_source_groups_and_resumes(void **state)
{
    const char *path = db_path("source.sqlite");
    hz_sink *k = open_sink(path);
    char err[HZ_ERRLEN];
    write_readings(k, "a", 0, 3, 0);   /* rowids 1..6: (a,0),(a,60k),(a,120k) */
    write_readings(k, "b", 0, 2, 100); /* 7..10 */
    sqlite3 *db = hz_sqlite_sink_db(k);
    assert_int_equal(k->ops->flush(k, 1000, err, sizeof err), 0);
    assert_int_equal(
        hz_sqlite_exec(db,
                       "INSERT INTO readings VALUES('c','power',0,NULL);"       /* 11 */
                       "INSERT INTO readings VALUES('c','power','x',1);"        /* 12 */
                       "INSERT INTO readings VALUES('c','other',0,1);"          /* 13 */
                       "INSERT INTO readings VALUES('c','power',60000,'2.5');", /* 14 */
                       err, sizeof err),
        0);

    /* time order (ts, rowid), rows whose ts is not an integer first:
     * 12 | ts 0: 1 2 (a) 7 8 (b) 11 13 | 60000: 3 4 (a) 9 10 (b) 14 (c) | 120000: 5 6 (a) */
    hz_sqlite_source_opts so = {.path = path, .cursor = "pipe1", .variables = VARS, .nvars = 2};
    hz_source *s = NULL;
    assert_int_equal(hz_sqlite_source_new(&so, &s, err, sizeof err), 0);
    assert_string_equal(s->ops->kind, "sqlite");
    hz_batch b;
    assert_int_equal(s->ops->poll(s, &b, 2, 0, err, sizeof err), 2);
    assert_int_equal(b.n_readings, 1);
    assert_int_equal(b.n_dead, 1);
    assert_string_equal(b.dead[0].origin, "readings/12");
    assert_non_null(strstr(b.dead[0].reason, "column ts: expected an integer"));
    assert_non_null(strstr((const char *)b.dead[0].payload, "ts=x"));
    assert_int_equal(b.dead[0].pos.offset, 12); /* dead letters carry their rowid */
    assert_string_equal(b.readings[0].series, "a");
    assert_int_equal(b.readings[0].ts_ms, 0);
    assert_float_equal(b.readings[0].values[0], 0, 0);
    assert_float_equal(b.readings[0].values[1], 230, 0);
    assert_int_equal(b.readings[0].pos.offset, 2);
    assert_int_equal(b.n_positions, 1); /* the batch's number */
    assert_int_equal(b.positions[0].partition, -1);
    assert_int_equal(s->ops->ack(s, &b.positions[0], err, sizeof err), 0);
    assert_int_equal(s->ops->poll(s, &b, 2, 0, err, sizeof err), 2);
    assert_string_equal(b.readings[0].series, "b");
    assert_string_equal(b.dead[0].origin, "readings/11");
    /* not acknowledged: a restart reads these again */
    s->ops->free(s);

    assert_int_equal(hz_sqlite_source_new(&so, &s, err, sizeof err), 0);
    char where[256];
    assert_int_equal(hz_sqlite_source_delivered(s, where, sizeof where), 1);
    char sql[400];
    snprintf(sql, sizeof sql, "SELECT group_concat(rowid) FROM readings WHERE %s", where);
    assert_int_equal(query_int(db, sql), 1); /* "1,2": a's first minute */
    snprintf(sql, sizeof sql, "SELECT count(*) FROM readings WHERE %s", where);
    assert_int_equal(query_int(db, sql), 2);
    assert_int_equal(s->ops->poll(s, &b, 100, 0, err, sizeof err), 6);
    assert_int_equal(b.n_readings, 5);
    assert_int_equal(b.n_dead, 1);
    assert_string_equal(b.readings[0].series, "b");
    assert_int_equal(b.readings[0].ts_ms, 0);
    assert_string_equal(b.readings[1].series, "a");
    assert_int_equal(b.readings[1].ts_ms, 60000);
    assert_float_equal(b.readings[2].values[0], 101, 0);
    assert_string_equal(b.readings[3].series, "c");
    assert_float_equal(b.readings[3].values[0], 2.5, 0);
    assert_true(isnan(b.readings[3].values[1]));
    assert_int_equal(b.readings[3].pos.offset, 14);
    assert_string_equal(b.readings[4].series, "a");
    assert_int_equal(b.readings[4].ts_ms, 120000);
    assert_string_equal(b.dead[0].reason, "column value is NULL");
    assert_int_equal(s->ops->ack(s, &b.positions[0], err, sizeof err), 0);
    assert_int_equal(query_int(db, "SELECT position FROM cursors WHERE name = 'pipe1'"), 14);
    assert_int_equal(hz_sqlite_source_behind(s, 14), 0);
    assert_int_equal(s->ops->poll(s, &b, 100, 50, err, sizeof err), 0);
    s->ops->free(s);

    /* new rows after a restart: only those */
    write_readings(k, "d", 0, 1, 0);
    assert_int_equal(k->ops->flush(k, 1000, err, sizeof err), 0);
    assert_int_equal(hz_sqlite_source_new(&so, &s, err, sizeof err), 0);
    assert_int_equal(s->ops->poll(s, &b, 100, 0, err, sizeof err), 1);
    assert_string_equal(b.readings[0].series, "d");
    s->ops->free(s);
    /* another cursor name starts from the beginning */
    so.cursor = "pipe2";
    assert_int_equal(hz_sqlite_source_new(&so, &s, err, sizeof err), 0);
    assert_int_equal(s->ops->poll(s, &b, 1, 0, err, sizeof err), 1);
    assert_string_equal(b.dead[0].origin, "readings/12");
    s->ops->free(s);
    k->ops->free(k);

    so.path = db_path("missing.sqlite");
    assert_int_equal(hz_sqlite_source_new(&so, &s, err, sizeof err), HZ_EDB);
    assert_non_null(strstr(err, "missing.sqlite: cannot open"));
}

/* The rules of every source (connectors/reading_check.h): a ts outside 1970..2200 (INT64_MAX
 * overflowed the forecaster's target times), one further ahead of the clock than
 * max_future, and a value that is infinite or does not fit float32 are dead letters with
 * the reason; the rows around them are readings. */
static void test_source_refuses_times_and_values(void **state)
{
    const char *path = db_path("refuse.sqlite");
    hz_sink *k = open_sink(path);
    char err[HZ_ERRLEN], sql[600];
    sqlite3 *db = hz_sqlite_sink_db(k);
    long long future = (long long)hz_now_ms() + 2 * 86400000LL;
    snprintf(sql, sizeof sql,
             "INSERT INTO readings VALUES('a','power',9223372036854775807,1);" /* 1 */
             "INSERT INTO readings VALUES('a','power',-5,1);"                  /* 2 */
             "INSERT INTO readings VALUES('a','power',%lld,1);"                /* 3 */
             "INSERT INTO readings VALUES('a','power',60000,1e39);"            /* 4 */
             "INSERT INTO readings VALUES('a','power',120000,9e999);"          /* 5: inf */
             "INSERT INTO readings VALUES('a','power',180000,'-1e39');"        /* 6 */
             "INSERT INTO readings VALUES('a','power',240000,3.4e38);",        /* 7 */
             future);
    assert_int_equal(hz_sqlite_exec(db, sql, err, sizeof err), 0);
    hz_sqlite_source_opts so = {
        .path = path, .cursor = "p", .variables = VARS, .nvars = 2, .max_future_ms = 86400000};
    hz_source *s = NULL;
    assert_int_equal(hz_sqlite_source_new(&so, &s, err, sizeof err), 0);
    hz_batch b;
    assert_int_equal(s->ops->poll(s, &b, 100, 0, err, sizeof err), 7);
    assert_int_equal(b.n_readings, 1);
    assert_float_equal(b.readings[0].values[0], 3.4e38, 1e30);
    assert_int_equal(b.n_dead, 6);
    const char *want[][2] = {
        {"readings/2", "column ts: timestamp 1969-12-31T23:59:59Z is outside 1970-01-01..2200"},
        {"readings/4", "column value: value 1e+39 does not fit float32"},
        {"readings/5", "column value: value inf is not finite"},
        {"readings/6", "column value: value -1e+39 does not fit float32"},
        {"readings/3", "ahead of the clock (more than source.max_future, 24.0 h)"},
        {"readings/1", "column ts: timestamp 9223372036854775807 ms is outside 1970-01-01"}};
    for (size_t i = 0; i < 6; i++) {
        int found = 0;
        for (size_t j = 0; j < b.n_dead; j++)
            found |= !strcmp(b.dead[j].origin, want[i][0]) && strstr(b.dead[j].reason, want[i][1]);
        if (!found)
            fail_msg("no dead letter %s \"%s\"", want[i][0], want[i][1]);
    }
    s->ops->free(s);
    k->ops->free(k);
}

/* Polls s to its end (acknowledging each batch when ack), appending each reading's slot
 * (ts / 60 s) to seen and checking both variables are there; returns readings polled. */
static int drain(hz_source *s, int max, int batches, int ack, int *seen, int *nseen)
{
    char err[HZ_ERRLEN];
    hz_batch b;
    int total = 0, n;
    for (int i = 0; (batches < 0 || i < batches) &&
                    (n = s->ops->poll(s, &b, (size_t)max, 0, err, sizeof err)) > 0;
         i++) {
        for (size_t j = 0; j < b.n_readings; j++) {
            assert_false(isnan(b.readings[j].values[0]));
            assert_false(isnan(b.readings[j].values[1]));
            seen[(*nseen)++] = (int)(b.readings[j].ts_ms / 60000);
        }
        total += (int)b.n_readings;
        if (ack)
            assert_int_equal(s->ops->ack(s, &b.positions[0], err, sizeof err), 0);
    }
    return total;
}

/* Power imported for 40 minutes, then voltage for the same 40: read in time order, each
 * minute's two rows make one reading; a restart inside the pass re-reads only what was not
 * acknowledged; rows appended during the pass come after it. */
static void test_source_joins_separate_imports(void **state)
{
    const char *path = db_path("join.sqlite");
    hz_sink *k = open_sink(path);
    sqlite3 *db = hz_sqlite_sink_db(k);
    char err[HZ_ERRLEN];
    assert_int_equal(
        hz_sqlite_exec(db,
                       "WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < "
                       "39) INSERT INTO readings SELECT 'g', 'power', i * 60000, i FROM c;"
                       "WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < "
                       "39) INSERT INTO readings SELECT 'g', 'voltage', i * 60000, 200 + i FROM c;",
                       err, sizeof err),
        0);
    hz_sqlite_source_opts so = {.path = path, .cursor = "j", .variables = VARS, .nvars = 2};
    hz_source *s = NULL;
    assert_int_equal(hz_sqlite_source_new(&so, &s, err, sizeof err), 0);
    int seen[200], nseen = 0;
    /* max 2: 80 rows are more than 8 polls' worth, so the pass walks the ts index */
    assert_int_equal(drain(s, 2, 5, 1, seen, &nseen), 10);
    assert_int_equal(hz_sqlite_source_behind(s, 80), 60); /* 20 of the pass's 80 rows taken */
    assert_int_equal(drain(s, 2, 1, 0, seen, &nseen), 2); /* not acknowledged */
    nseen -= 2;
    assert_int_equal(hz_sqlite_exec(db,
                                    "INSERT INTO readings VALUES('g', 'power', 0, 7);"
                                    "INSERT INTO readings VALUES('g', 'voltage', 0, 8);",
                                    err, sizeof err),
                     HZ_EDB); /* already there */
    assert_int_equal(hz_sqlite_exec(db,
                                    "INSERT INTO readings VALUES('h', 'power', 0, 7);"
                                    "INSERT INTO readings VALUES('h', 'voltage', 0, 8);",
                                    err, sizeof err),
                     0);
    s->ops->free(s);
    assert_int_equal(hz_sqlite_source_new(&so, &s, err, sizeof err), 0);
    assert_int_equal(drain(s, 2, -1, 1, seen, &nseen), 31); /* 30 left, then h's */
    for (int i = 0; i < 40; i++)
        assert_int_equal(seen[i], i); /* in time order, each minute once */
    assert_int_equal(seen[40], 0);    /* h, appended during the pass: after it */
    assert_int_equal(query_int(db, "SELECT position FROM cursors WHERE name = 'j'"), 82);
    assert_int_equal(query_int(db, "SELECT count(*) FROM sqlite_master WHERE name = "
                                   "'readings_by_ts'"),
                     1);
    s->ops->free(s);
    k->ops->free(k);
}

/* A poll that stops at its row limit inside a group re-reads the group from its own key,
 * even when rows of other variables with later times were skipped after it. */
static void test_source_rereads_cut_group(void **state)
{
    const char *path = db_path("cut.sqlite");
    hz_sink *k = open_sink(path);
    sqlite3 *db = hz_sqlite_sink_db(k);
    char err[HZ_ERRLEN];
    assert_int_equal(hz_sqlite_exec(db,
                                    "INSERT INTO readings VALUES('a', 'power', 0, 1);"
                                    "INSERT INTO readings VALUES('a', 'voltage', 0, 2);"
                                    "INSERT INTO readings VALUES('b', 'power', 0, 3);"
                                    "INSERT INTO readings VALUES('z1', 'other', 60000, 0);"
                                    "INSERT INTO readings VALUES('z2', 'other', 60000, 0);"
                                    "INSERT INTO readings VALUES('b', 'voltage', 0, 4);",
                                    err, sizeof err),
                     0);
    hz_sqlite_source_opts so = {.path = path, .cursor = "c", .variables = VARS, .nvars = 2};
    hz_source *s = NULL;
    assert_int_equal(hz_sqlite_source_new(&so, &s, err, sizeof err), 0);
    hz_batch b;
    /* max 2: 5 rows fetched (a, a, b, b, z1): b's group is cut at the limit, re-read */
    assert_int_equal(s->ops->poll(s, &b, 2, 0, err, sizeof err), 1);
    assert_string_equal(b.readings[0].series, "a");
    assert_int_equal(s->ops->poll(s, &b, 2, 0, err, sizeof err), 1);
    assert_string_equal(b.readings[0].series, "b");
    assert_float_equal(b.readings[0].values[0], 3, 0);
    assert_float_equal(b.readings[0].values[1], 4, 0);
    assert_int_equal(s->ops->poll(s, &b, 2, 0, err, sizeof err), 0);
    s->ops->free(s);
    k->ops->free(k);
}

static void test_window_rebuild(void **state)
{
    const char *path = db_path("rebuild.sqlite");
    hz_sink *k = open_sink(path);
    char err[HZ_ERRLEN];
    write_readings(k, "a", 0, 10, 0);
    write_readings(k, "b", 60000, 3, 100);
    assert_int_equal(k->ops->flush(k, 1000, err, sizeof err), 0);
    hz_window_opts o = {
        .period_ms = 60000, .lookback = 4, .nvars = 2, .stride = 1, .fill = HZ_FILL_NONE};
    hz_window_store *ws = hz_window_store_new(&o, err, sizeof err);
    uint64_t pts;
    assert_int_equal(hz_window_store_load_sqlite(ws, hz_sqlite_sink_db(k), NULL, VARS, NULL, &pts,
                                                 err, sizeof err),
                     0);
    assert_int_equal(pts, 4 + 3);
    float w[8];
    uint8_t m[4];
    int64_t last;
    int64_t ia = hz_window_store_find(ws, "a");
    assert_int_equal(hz_window_store_copy(ws, (uint32_t)ia, w, m, &last), 4);
    assert_int_equal(last, 9 * 60000);
    for (int i = 0; i < 4; i++) {
        assert_float_equal(w[2 * i], 6 + i, 0);
        assert_float_equal(w[2 * i + 1], 236 + i, 0);
    }
    int64_t ib = hz_window_store_find(ws, "b");
    assert_int_equal(hz_window_store_copy(ws, (uint32_t)ib, w, m, &last), 3);
    assert_float_equal(w[2], 100, 0);
    uint32_t idx;
    assert_int_equal(hz_window_store_pop_ready(ws, &idx), 1);
    assert_int_equal(idx, ia);
    hz_window_store_free(ws);

    ws = hz_window_store_new(&o, err, sizeof err);
    assert_int_equal(hz_window_store_load_sqlite(ws, hz_sqlite_sink_db(k), "readings", VARS, "b",
                                                 &pts, err, sizeof err),
                     0);
    assert_int_equal(pts, 3);
    assert_int_equal(hz_window_store_find(ws, "a"), HZ_ENOTFOUND);
    assert_int_equal(hz_window_store_load_sqlite(ws, hz_sqlite_sink_db(k), "r;x", VARS, NULL, &pts,
                                                 err, sizeof err),
                     HZ_EINVAL);
    hz_window_store_free(ws);
    k->ops->free(k);
}

/* Appliance estimates: a row per slot with its state and window end; a later window over
 * the same minutes replaces them (a replay changes nothing). */
static void test_estimates(void **state)
{
    (void)state;
    hz_sink *k = open_sink(db_path("estimates.sqlite"));
    sqlite3 *db = hz_sqlite_sink_db(k);
    const float p1[3] = {0, 2500, 0}, p2[3] = {600, 0, 0};
    hz_estimate e = {"house", "h1", "Kettle", 60000, 60000, 3, p1, 500, "m1"};
    char err[HZ_ERRLEN];
    assert_int_equal(k->ops->write_estimates(k, &e, 1, err, sizeof err), 0);
    assert_int_equal(k->ops->write_estimates(k, &e, 1, err, sizeof err), 0);
    assert_int_equal(k->ops->flush(k, 1000, err, sizeof err), 0);
    assert_int_equal(query_int(db, "SELECT count(*) FROM appliances"), 3);
    assert_int_equal(query_int(db, "SELECT sum(state) FROM appliances"), 1);
    assert_int_equal(query_int(db, "SELECT ts FROM appliances WHERE state = 1"), 120000);
    assert_int_equal(query_int(db, "SELECT count(*) FROM appliances WHERE window_end = 180000"), 3);
    hz_estimate later = {"house", "h1", "Kettle", 120000, 60000, 3, p2, 500, "m2"};
    assert_int_equal(k->ops->write_estimates(k, &later, 1, err, sizeof err), 0);
    assert_int_equal(k->ops->flush(k, 1000, err, sizeof err), 0);
    assert_int_equal(query_int(db, "SELECT count(*) FROM appliances"), 4);
    assert_int_equal(query_int(db, "SELECT power FROM appliances WHERE ts = 120000"), 600);
    assert_int_equal(query_int(db, "SELECT count(*) FROM appliances WHERE model_id = 'm2'"), 3);
    k->ops->free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identifiers),
        cmocka_unit_test(test_schema_created),
        cmocka_unit_test(test_estimates),
        cmocka_unit_test(test_reading_flags),
        cmocka_unit_test(test_migrates_older_files),
        cmocka_unit_test(test_idempotent_replay),
        cmocka_unit_test(test_staged_readings),
        cmocka_unit_test(test_latest_forecasts),
        cmocka_unit_test(test_latest_without_rowid),
        cmocka_unit_test(test_wal_bounded_under_steady_commits),
        cmocka_unit_test(test_retention_day),
        cmocka_unit_test(test_killed_writer_leaves_no_partial_batch),
        cmocka_unit_test(test_source_groups_and_resumes),
        cmocka_unit_test(test_source_refuses_times_and_values),
        cmocka_unit_test(test_source_joins_separate_imports),
        cmocka_unit_test(test_source_rereads_cut_group),
        cmocka_unit_test(test_window_rebuild),
    };
    return cmocka_run_group_tests_name("sqlite", tests, setup, teardown);
}
