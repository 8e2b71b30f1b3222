/* test_async_sink.c — connectors/async_sink.c: records reach the inner sink whole and in
 * order although the caller reuses its buffers at once; flush returns only once the inner
 * sink has everything and has flushed; a failed queued write is returned by the next call;
 * a real SQLite sink behind it holds every row after flush. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "connectors/async_sink.h"
#include "connectors/sqlite_sink.h"
#include "tmpdir.h"

/* A sink that records what reaches it: a checksum of every field, in order. */
typedef struct fake {
    hz_sink base;
    uint64_t sum; /* order-sensitive hash of the records seen */
    size_t readings, forecasts, anomalies, dead, flushes;
    int fail_at; /* the write number that fails (0: none) */
    int writes;
} fake;

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 1099511628211ULL;
    return h;
}

static uint64_t mix_str(uint64_t h, const char *s)
{
    return s ? mix(h, s, strlen(s) + 1) : mix(h, "", 1);
}

static int fk_fail(fake *f, char *err, size_t errlen)
{
    return ++f->writes == f->fail_at ? hz_err(err, errlen, HZ_EDB, "injected failure") : 0;
}

static int fk_readings(hz_sink *k, const char *pipeline, const char *const *vn, const hz_reading *r,
                       size_t n, char *err, size_t errlen)
{
    fake *f = (fake *)k;
    f->sum = mix_str(f->sum, pipeline);
    for (size_t i = 0; i < n; i++) {
        f->sum = mix_str(mix_str(f->sum, r[i].series), vn[0]);
        f->sum = mix(f->sum, &r[i].ts_ms, sizeof r[i].ts_ms);
        f->sum = mix(f->sum, r[i].values, (size_t)r[i].nvars * sizeof(double));
    }
    f->readings += n;
    usleep(200); /* slower than the caller: the queue fills */
    return fk_fail(f, err, errlen);
}

static int fk_forecasts(hz_sink *k, const hz_forecast *x, size_t n, char *err, size_t errlen)
{
    fake *f = (fake *)k;
    for (size_t i = 0; i < n; i++) {
        f->sum = mix_str(mix_str(mix_str(f->sum, x[i].series), x[i].variable), x[i].model_id);
        f->sum = mix(f->sum, &x[i].value, sizeof x[i].value);
        f->sum = mix(f->sum, x[i].levels, (size_t)x[i].nlevels * sizeof(double));
    }
    f->forecasts += n;
    return fk_fail(f, err, errlen);
}

static int fk_anomalies(hz_sink *k, const hz_anomaly *a, size_t n, char *err, size_t errlen)
{
    fake *f = (fake *)k;
    for (size_t i = 0; i < n; i++)
        f->sum = mix_str(mix_str(mix_str(f->sum, a[i].series), a[i].kind), a[i].rule);
    f->anomalies += n;
    return fk_fail(f, err, errlen);
}

static int fk_dead(hz_sink *k, const char *pipeline, const hz_dead_letter *d, size_t n, char *err,
                   size_t errlen)
{
    fake *f = (fake *)k;
    for (size_t i = 0; i < n; i++)
        f->sum =
            mix(mix_str(mix_str(f->sum, d[i].reason), pipeline), d[i].payload, d[i].payload_len);
    f->dead += n;
    return fk_fail(f, err, errlen);
}

static int fk_flush(hz_sink *k, int timeout_ms, char *err, size_t errlen)
{
    (void)timeout_ms, (void)err, (void)errlen;
    ((fake *)k)->flushes++;
    return 0;
}

static void fk_free(hz_sink *k)
{
    (void)k; /* owned by the test */
}

static const hz_sink_ops fake_ops = {.kind = "fake",
                                     .write_readings = fk_readings,
                                     .write_forecasts = fk_forecasts,
                                     .write_anomalies = fk_anomalies,
                                     .write_dead = fk_dead,
                                     .flush = fk_flush,
                                     .free = fk_free};

/* The same stream of writes into sink k; returns the hash a direct sink would compute. */
static void write_stream(hz_sink *k, int rounds)
{
    static const char *const vn[1] = {"power"};
    static const double lv[2] = {0.9, 0.99};
    char err[HZ_ERRLEN];
    for (int t = 0; t < rounds; t++) {
        char series[3][32], payload[32];
        hz_reading r[3];
        hz_forecast fc[3];
        for (int i = 0; i < 3; i++) { /* buffers the caller reuses at once */
            snprintf(series[i], sizeof series[i], "meter-%d-%d", i, t);
            r[i] = (hz_reading){
                .series = series[i], .ts_ms = t * 1000LL, .nvars = 1, .values = {t + i * 0.5}};
            fc[i] = (hz_forecast){.pipeline = "p",
                                  .series = series[i],
                                  .variable = "power",
                                  .value = t * 2.0 + i,
                                  .model_id = "m",
                                  .nlevels = 2,
                                  .levels = lv};
        }
        hz_anomaly a = {.pipeline = "p",
                        .series = series[t % 3],
                        .variable = "power",
                        .ts = t,
                        .kind = "spike",
                        .rule = "k=8"};
        snprintf(payload, sizeof payload, "bad %d", t);
        hz_dead_letter d = {
            .origin = "t/0/1", .reason = "why", .payload = payload, .payload_len = strlen(payload)};
        assert_int_equal(k->ops->write_readings(k, "p", vn, r, 3, err, sizeof err), 0);
        assert_int_equal(k->ops->write_forecasts(k, fc, 3, err, sizeof err), 0);
        assert_int_equal(k->ops->write_anomalies(k, &a, 1, err, sizeof err), 0);
        assert_int_equal(k->ops->write_dead(k, "p", &d, 1, err, sizeof err), 0);
        memset(series, 'x', sizeof series);
        memset(payload, 'y', sizeof payload);
    }
}

static void test_order_and_copies(void **state)
{
    (void)state;
    fake direct = {.base.ops = &fake_ops}, behind = {.base.ops = &fake_ops};
    write_stream(&direct.base, 300);
    hz_sink *k = NULL;
    char err[HZ_ERRLEN];
    assert_int_equal(hz_async_sink_new(&behind.base, &k, err, sizeof err), 0);
    write_stream(k, 300);
    assert_int_equal(k->ops->flush(k, 1000, err, sizeof err), 0);
    assert_int_equal(behind.flushes, 1);
    assert_int_equal(behind.readings, 900);
    assert_int_equal(behind.forecasts, 900);
    assert_int_equal(behind.anomalies, 300);
    assert_int_equal(behind.dead, 300);
    assert_true(behind.sum == direct.sum);
    k->ops->free(k);
}

static void test_failure_is_returned(void **state)
{
    (void)state;
    fake behind = {.base.ops = &fake_ops, .fail_at = 5};
    hz_sink *k = NULL;
    char err[HZ_ERRLEN] = "";
    assert_int_equal(hz_async_sink_new(&behind.base, &k, err, sizeof err), 0);
    write_stream(k, 1);
    write_stream(k, 1); /* the 5th write fails in the writer */
    assert_int_equal(k->ops->flush(k, 1000, err, sizeof err), HZ_EDB);
    assert_non_null(strstr(err, "injected failure"));
    assert_int_equal(behind.flushes, 0);
    hz_reading r = {.series = "m", .nvars = 0};
    static const char *const vn[1] = {"power"};
    assert_int_equal(k->ops->write_readings(k, "p", vn, &r, 1, err, sizeof err), HZ_EDB);
    k->ops->free(k);
}

static void test_sqlite_behind(void **state)
{
    (void)state;
    char path[600];
    snprintf(path, sizeof path, "%s/async.sqlite", tmpdir);
    hz_sqlite_sink_opts o = {.path = path, .synchronous_normal = 1};
    hz_sink *inner = NULL, *k = NULL;
    char err[HZ_ERRLEN];
    assert_int_equal(hz_sqlite_sink_new(&o, &inner, err, sizeof err), 0);
    sqlite3 *db = hz_sqlite_sink_db(inner);
    assert_int_equal(hz_async_sink_new(inner, &k, err, sizeof err), 0);
    write_stream(k, 50);
    int frc = k->ops->flush(k, 1000, err, sizeof err);
    if (frc)
        print_message("%s\n", err);
    assert_int_equal(frc, 0);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT (SELECT count(*) FROM readings) * 10000 + "
                                        "(SELECT count(*) FROM forecasts)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(st, 0), 150 * 10000 + 150);
    sqlite3_finalize(st);
    k->ops->free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_copies),
        cmocka_unit_test(test_failure_is_returned),
        cmocka_unit_test_setup_teardown(test_sqlite_behind, NULL, NULL),
    };
    if (tmpdir_make("async"))
        return 1;
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tmpdir_remove();
    return rc;
}
