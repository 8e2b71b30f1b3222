/* test_codec_json.c — JSON codec: every refusal reason, ISO 8601 and epoch timestamps,
 * series from the key, and encoders checked by parsing their output back with jansson. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/codec_json.h"

static const char *const VARS[] = {"power", "voltage"};

static hz_json_mapping mapping(hz_time_format f)
{
    hz_json_mapping m = {"series", "ts", f, VARS, 2, 0, 0};
    return m;
}

static int dec(const hz_json_mapping *m, const char *key, const char *v, size_t n, hz_reading *r,
               char *why)
{
    static char series[HZ_SERIES_MAX + 1];
    return hz_codec_json_decode(m, key, key ? strlen(key) : 0, v, n, r, series, why, 256);
}

static void test_decodes_good_message(void **state)
{
    hz_json_mapping m = mapping(HZ_TIME_AUTO);
    hz_reading r;
    char why[256] = "";
    const char *v = "{\"series\":\"meter-17\",\"ts\":\"2026-11-22T10:15:00Z\",\"power\":1.23}";
    assert_int_equal(dec(&m, NULL, v, strlen(v), &r, why), 0);
    assert_string_equal(r.series, "meter-17");
    assert_int_equal(r.ts_ms, 1795342500000LL); /* date -d 2026-11-22T10:15:00Z +%s */
    assert_int_equal(r.nvars, 2);
    assert_true(r.values[0] == 1.23);
    assert_true(isnan(r.values[1])); /* absent variable */

    v = "{\"ts\":1795342500,\"power\":null,\"voltage\":230}";
    assert_int_equal(dec(&m, "from-key", v, strlen(v), &r, why), 0);
    assert_string_equal(r.series, "from-key");
    assert_int_equal(r.ts_ms, 1795342500000LL);
    assert_true(isnan(r.values[0]));
    assert_true(r.values[1] == 230.0);

    /* series field wins over the key */
    v = "{\"series\":\"s\",\"ts\":1795342500123,\"power\":-0.5}";
    assert_int_equal(dec(&m, "k", v, strlen(v), &r, why), 0);
    assert_string_equal(r.series, "s");
    assert_int_equal(r.ts_ms, 1795342500123LL);

    /* mapping without a series field: the key is the series */
    hz_json_mapping mk = {NULL, "ts", HZ_TIME_EPOCH_MS, VARS, 1, 0, 0};
    v = "{\"ts\":5000,\"power\":1}";
    assert_int_equal(dec(&mk, "k1", v, strlen(v), &r, why), 0);
    assert_int_equal(r.ts_ms, 5000);
    assert_int_equal(dec(&mk, NULL, v, strlen(v), &r, why), HZ_EFORMAT);
    assert_non_null(strstr(why, "no key"));
}

static void test_timestamps(void **state)
{
    struct {
        const char *s;
        int64_t ms;
    } ok[] = {
        {"2026-11-22T10:15:00Z", 1795342500000LL},
        {"2026-11-22T10:15:00.5Z", 1795342500500LL},
        {"2026-11-22T10:15:00.123456789Z", 1795342500123LL},
        {"2026-11-22T11:15:00+01:00", 1795342500000LL},
        {"2026-11-22T04:45:00-0530", 1795342500000LL},
        {"2026-11-22T12:15:00+02", 1795342500000LL},
        {"2026-11-22 10:15:00", 1795342500000LL}, /* no zone: UTC */
        {"2026-11-22t10:15z", 1795342500000LL},
        {"2026-11-22", 1795305600000LL},
        {"1970-01-01T00:00:00Z", 0},
        {"2024-02-29T00:00:00Z", 1709164800000LL},
        {"2200-12-31T23:59:59.999Z", 7289654399999LL},
    };
    char why[256];
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t ms = -1;
        int rc = hz_codec_json_parse_iso8601(ok[i].s, strlen(ok[i].s), &ms, why, sizeof why);
        if (rc)
            fail_msg("%s: %s", ok[i].s, why);
        assert_int_equal(ms, ok[i].ms);
    }
    const char *bad[] = {"2026-13-01T00:00:00Z",
                         "2026-02-29T00:00:00Z",
                         "2026-11-22T24:00:00Z",
                         "2026-11-22T10:15:00+25:00",
                         "2026-11-22T10:15:00Q",
                         "22/11/2026",
                         "1969-12-31T23:59:59Z",
                         "2201-01-01T00:00:00Z",
                         "1970-01-01T00:30:00+01:00",
                         "2026-11-22T10:15:00.Z",
                         ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms;
        assert_int_not_equal(
            hz_codec_json_parse_iso8601(bad[i], strlen(bad[i]), &ms, why, sizeof why), 0);
        assert_true(strlen(why) > 10);
    }
    char iso[32];
    hz_codec_json_format_iso8601(1795342500123LL, iso);
    assert_string_equal(iso, "2026-11-22T10:15:00.123Z");
    hz_codec_json_format_iso8601(0, iso);
    assert_string_equal(iso, "1970-01-01T00:00:00.000Z");
    /* every day 1970..2200 round-trips through format and parse */
    for (int64_t d = 0; d < 84000; d += 37) {
        int64_t ms = d * 86400000LL + 12345, back;
        hz_codec_json_format_iso8601(ms, iso);
        assert_int_equal(hz_codec_json_parse_iso8601(iso, strlen(iso), &back, why, sizeof why), 0);
        assert_int_equal(back, ms);
    }
}

static void test_epoch_formats(void **state)
{
    hz_reading r;
    char why[256];
    hz_json_mapping s = mapping(HZ_TIME_EPOCH_S), ms = mapping(HZ_TIME_EPOCH_MS),
                    iso = mapping(HZ_TIME_ISO8601);
    const char *v = "{\"series\":\"a\",\"ts\":1795342500.25,\"power\":1}";
    assert_int_equal(dec(&s, NULL, v, strlen(v), &r, why), 0);
    assert_int_equal(r.ts_ms, 1795342500250LL);
    v = "{\"series\":\"a\",\"ts\":\"1795342500250\",\"power\":1}";
    assert_int_equal(dec(&ms, NULL, v, strlen(v), &r, why), 0);
    assert_int_equal(r.ts_ms, 1795342500250LL);
    v = "{\"series\":\"a\",\"ts\":1795342500,\"power\":1}";
    assert_int_equal(dec(&iso, NULL, v, strlen(v), &r, why), HZ_EFORMAT);
    assert_non_null(strstr(why, "expected an ISO 8601 string, got a number"));
    v = "{\"series\":\"a\",\"ts\":\"2026-11-22T10:15:00Z\",\"power\":1}";
    assert_int_equal(dec(&s, NULL, v, strlen(v), &r, why), HZ_EFORMAT);
    assert_non_null(strstr(why, "is not an epoch number"));
    v = "{\"series\":\"a\",\"ts\":7289654400,\"power\":1}"; /* 2201-01-01 */
    assert_int_equal(dec(&s, NULL, v, strlen(v), &r, why), HZ_ERANGE);
}

/* The malformed messages the Kafka test also sends: each must be refused with its reason. */
typedef struct bad_case {
    const char *name, *key, *value;
    size_t len; /* 0: strlen(value) */
    const char *want;
} bad_case;

static void test_refuses_malformed_with_reason(void **state)
{
    char *huge = malloc(1 << 20), *longs = malloc(400);
    memset(huge, ' ', 1 << 20);
    memcpy(huge, "{\"series\":\"a\",\"ts\":0,\"power\":1}", 31);
    memset(longs, 0, 400);
    strcpy(longs, "{\"series\":\"");
    memset(longs + 11, 'x', 300);
    strcpy(longs + 311, "\",\"ts\":0,\"power\":1}");
    const bad_case cases[] = {
        {"truncated", NULL, "{\"series\":\"a\",", 0, "bad JSON at line 1"},
        {"garbage", NULL, "hello", 0, "bad JSON"},
        {"trailing", NULL, "{\"series\":\"a\",\"ts\":0,\"power\":1} x", 0, "bad JSON"},
        {"array", NULL, "[1,2]", 0, "expected a JSON object, got an array"},
        {"string root", NULL, "\"x\"", 0, "expected a JSON object, got a string"},
        {"no ts", NULL, "{\"series\":\"a\",\"power\":1}", 0, "missing field \"ts\""},
        {"no series", NULL, "{\"ts\":0,\"power\":1}", 0, "missing field \"series\""},
        {"series number", NULL, "{\"series\":17,\"ts\":0,\"power\":1}", 0,
         "field \"series\": expected a string, got a number"},
        {"ts bool", NULL, "{\"series\":\"a\",\"ts\":true,\"power\":1}", 0,
         "field \"ts\": expected an ISO 8601 string or epoch number, got a boolean"},
        {"power string", NULL, "{\"series\":\"a\",\"ts\":0,\"power\":\"1.2\"}", 0,
         "field \"power\": expected a number, got a string"},
        {"power object", NULL, "{\"series\":\"a\",\"ts\":0,\"power\":{}}", 0,
         "expected a number, got an object"},
        {"huge", NULL, "{\"series\":\"a\",\"ts\":0,\"power\":1e301}", 0, "does not fit float32"},
        {"float32", NULL, "{\"series\":\"a\",\"ts\":0,\"power\":1e39}", 0,
         "field \"power\": value 1e+39 does not fit float32"},
        {"-float32", NULL, "{\"series\":\"a\",\"ts\":0,\"power\":-3.5e38}", 0,
         "does not fit float32"},
        {"overflow", NULL, "{\"series\":\"a\",\"ts\":0,\"power\":1e400}", 0, "number out of range"},
        {"big int", NULL, "{\"series\":\"a\",\"ts\":0,\"power\":123456789012345678901234567890}", 0,
         "number out of range"},
        {"NaN", NULL, "{\"series\":\"a\",\"ts\":0,\"power\":NaN}", 0, "NaN/Infinity"},
        {"Infinity", NULL, "{\"series\":\"a\",\"ts\":0,\"power\":Infinity}", 0, "NaN/Infinity"},
        {"-Infinity", NULL, "{\"series\":\"a\",\"ts\":0,\"power\":-Infinity}", 0, "NaN/Infinity"},
        {"bare word", NULL, "{\"series\":\"a\",\"ts\":0,\"power\":info}", 0, "bad JSON at line 1"},
        {"-inf", NULL, "{\"series\":\"a\",\"ts\":0,\"power\":-inf}", 0, "NaN/Infinity"},
        {"nan", NULL, "{\"series\":\"a\",\"ts\":0,\"power\":nan}", 0, "NaN/Infinity"},
        {"1969", NULL, "{\"series\":\"a\",\"ts\":\"1969-12-31T23:00:00Z\",\"power\":1}", 0,
         "year 1969 is outside 1970..2200"},
        {"2300", NULL, "{\"series\":\"a\",\"ts\":\"2300-01-01T00:00:00Z\",\"power\":1}", 0,
         "outside 1970..2200"},
        {"negative epoch", NULL, "{\"series\":\"a\",\"ts\":-5,\"power\":1}", 0,
         "outside 1970-01-01..2200-12-31"},
        {"epoch far", NULL, "{\"series\":\"a\",\"ts\":1e16,\"power\":1}", 0,
         "outside 1970-01-01..2200-12-31"},
        {"ts words", NULL, "{\"series\":\"a\",\"ts\":\"yesterday\",\"power\":1}", 0,
         "is not an ISO 8601 date-time"},
        {"feb 30", NULL, "{\"series\":\"a\",\"ts\":\"2026-02-30T00:00:00Z\",\"power\":1}", 0,
         "does not exist"},
        {"bad utf8", NULL, "{\"series\":\"a\xff\",\"ts\":0,\"power\":1}", 0, "invalid UTF-8"},
        {"bad utf8 key", "k\xc3", "{\"ts\":0,\"power\":1}", 0, "not valid UTF-8"},
        {"1 MB", NULL, huge, 1 << 20, "exceeds the 65536-byte limit (not parsed)"},
        {"empty", NULL, "", 0, "empty message"},
        {"empty series", NULL, "{\"series\":\"\",\"ts\":0,\"power\":1}", 0, "series id is empty"},
        {"long series", NULL, longs, 0, "series id of 300 bytes is longer than 256"},
        {"control series", NULL, "{\"series\":\"a\\u0001b\",\"ts\":0,\"power\":1}", 0,
         "control character 0x01"},
        {"NUL in string", NULL, "{\"series\":\"a\\u0000b\",\"ts\":0,\"power\":1}", 0, "bad JSON"},
        {"no values", NULL, "{\"series\":\"a\",\"ts\":0,\"other\":1}", 0,
         "none of the 2 value fields is present"},
        {"duplicate", NULL, "{\"series\":\"a\",\"ts\":0,\"power\":1,\"power\":2}", 0,
         "duplicate key"},
    };
    hz_json_mapping m = mapping(HZ_TIME_AUTO);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hz_reading r;
        char why[256] = "";
        size_t n = cases[i].len ? cases[i].len : strlen(cases[i].value);
        int rc = dec(&m, cases[i].key, cases[i].value, n, &r, why);
        if (rc == 0)
            fail_msg("case %s: accepted", cases[i].name);
        if (!strstr(why, cases[i].want))
            fail_msg("case %s: reason \"%s\" lacks \"%s\"", cases[i].name, why, cases[i].want);
    }
    free(huge);
    free(longs);
}

/* source.max_future: a time more than the skew ahead of the wall clock is refused with the
 * reason; one within it, and any past time, decodes (connectors/reading_check.h). */
static void test_refuses_future_beyond_skew(void **state)
{
    (void)state;
    hz_json_mapping m = mapping(HZ_TIME_AUTO);
    m.max_future_ms = 86400000;
    hz_reading r;
    char why[256] = "", v[160];
    assert_int_equal(dec(&m, NULL, "{\"series\":\"a\",\"ts\":\"2100-01-01T00:00:00Z\",\"power\":1}",
                         strlen("{\"series\":\"a\",\"ts\":\"2100-01-01T00:00:00Z\",\"power\":1}"),
                         &r, why),
                     HZ_ERANGE);
    assert_non_null(strstr(why, "field \"ts\": timestamp 2100-01-01T00:00:00Z is "));
    assert_non_null(strstr(why, "ahead of the clock (more than source.max_future"));
    snprintf(v, sizeof v, "{\"series\":\"a\",\"ts\":%lld,\"power\":1}",
             (long long)(hz_now_ms() + 3600000));
    assert_int_equal(dec(&m, NULL, v, strlen(v), &r, why), 0);
    snprintf(v, sizeof v, "{\"series\":\"a\",\"ts\":%lld,\"power\":1}",
             (long long)(hz_now_ms() + 2 * 86400000LL));
    assert_int_equal(dec(&m, NULL, v, strlen(v), &r, why), HZ_ERANGE);
    const char *old = "{\"series\":\"a\",\"ts\":\"1999-01-01T00:00:00Z\",\"power\":1}";
    assert_int_equal(dec(&m, NULL, old, strlen(old), &r, why), 0);
    m.max_future_ms = 0; /* no limit */
    const char *far = "{\"series\":\"a\",\"ts\":\"2100-01-01T00:00:00Z\",\"power\":1}";
    assert_int_equal(dec(&m, NULL, far, strlen(far), &r, why), 0);
}

static void test_mapping_checks(void **state)
{
    char err[256];
    hz_json_mapping m = mapping(HZ_TIME_AUTO);
    assert_int_equal(hz_codec_json_check_mapping(&m, err, sizeof err), 0);
    m.time_field = NULL;
    assert_int_equal(hz_codec_json_check_mapping(&m, err, sizeof err), HZ_EINVAL);
    m = mapping(HZ_TIME_AUTO);
    m.nvars = 0;
    assert_int_equal(hz_codec_json_check_mapping(&m, err, sizeof err), HZ_EINVAL);
    hz_time_format f;
    assert_int_equal(hz_codec_json_time_format("epoch_ms", &f), 0);
    assert_int_equal(f, HZ_TIME_EPOCH_MS);
    assert_int_equal(hz_codec_json_time_format("unix", &f), HZ_EINVAL);
}

static json_t *parse(const char *buf)
{
    json_error_t e;
    json_t *j = json_loads(buf, 0, &e);
    if (!j)
        fail_msg("output is not JSON: %s (%s)", e.text, buf);
    return j;
}

static void test_encodes_forecast_and_anomaly(void **state)
{
    char buf[1024];
    static const double levels[2] = {0.9, 0.995};
    hz_forecast f = {.pipeline = "feeder",
                     .series = "meter \"17\"\n",
                     .variable = "power",
                     .issued_ts = 1795342500000LL,
                     .target_ts = 1795343400000LL,
                     .step = 1,
                     .value = 1.25,
                     .lower = NAN,
                     .upper = 2.5,
                     .model_id = "m1",
                     .nlevels = 2,
                     .levels = levels,
                     .lo = {1.0, NAN},
                     .hi = {1.5, 2.5}};
    size_t n = hz_codec_json_encode_forecast(&f, buf, sizeof buf);
    assert_int_equal(n, strlen(buf));
    json_t *j = parse(buf);
    assert_string_equal(json_string_value(json_object_get(j, "series")), "meter \"17\"\n");
    assert_int_equal(json_integer_value(json_object_get(j, "target_ts")), 1795343400000LL);
    assert_string_equal(json_string_value(json_object_get(j, "target_ts_iso")),
                        "2026-11-22T10:30:00.000Z");
    assert_true(json_real_value(json_object_get(j, "value")) == 1.25);
    assert_true(json_is_null(json_object_get(j, "lower")));
    assert_int_equal(json_integer_value(json_object_get(j, "step")), 1);
    /* every level's interval, named as the SQLite columns */
    assert_true(json_number_value(json_object_get(j, "lower90")) == 1.0);
    assert_true(json_number_value(json_object_get(j, "upper90")) == 1.5);
    assert_true(json_is_null(json_object_get(j, "lower99_5")));
    assert_true(json_number_value(json_object_get(j, "upper99_5")) == 2.5);
    json_decref(j);

    /* snprintf semantics: too small a buffer reports the size needed */
    char small[16];
    assert_int_equal(hz_codec_json_encode_forecast(&f, small, sizeof small), n);
    assert_int_equal(strlen(small), sizeof small - 1);

    hz_anomaly a = {.pipeline = "feeder",
                    .series = "m",
                    .variable = "power",
                    .ts = 1795342500000LL,
                    .value = 0.1 + 0.2,
                    .expected = 0.3,
                    .lower = 0.2,
                    .upper = 0.4,
                    .score = 0.97,
                    .flag = 1,
                    .kind = "residual",
                    .model_id = "m1",
                    .rule = "residual level=0.99"};
    hz_codec_json_encode_anomaly(&a, buf, sizeof buf);
    j = parse(buf);
    assert_true(json_real_value(json_object_get(j, "value")) == 0.1 + 0.2); /* exact */
    assert_true(json_is_true(json_object_get(j, "flag")));
    assert_string_equal(json_string_value(json_object_get(j, "kind")), "residual");
    assert_string_equal(json_string_value(json_object_get(j, "model_id")), "m1");
    assert_string_equal(json_string_value(json_object_get(j, "rule")), "residual level=0.99");
    json_decref(j);

    hz_reading r = {"m", 0, 2, {1.5, NAN}, {0, 0}};
    const char *names[] = {"power", "voltage"};
    hz_codec_json_encode_reading("p", names, &r, buf, sizeof buf);
    j = parse(buf);
    json_t *vals = json_object_get(j, "values");
    assert_true(json_real_value(json_object_get(vals, "power")) == 1.5);
    assert_true(json_is_null(json_object_get(vals, "voltage")));
    json_decref(j);
}

static void test_encodes_dead_letters(void **state)
{
    char buf[1024];
    hz_dead_letter d = {"readings/0/17", "bad JSON near 'x\xff'", "{\"a\":1\x01}", 8, 12345,
                        {0, 17}};
    hz_codec_json_encode_dead("p", &d, buf, sizeof buf);
    json_t *j = parse(buf);
    assert_string_equal(json_string_value(json_object_get(j, "payload_encoding")), "utf-8");
    assert_string_equal(json_string_value(json_object_get(j, "payload")), "{\"a\":1\x01}");
    assert_string_equal(json_string_value(json_object_get(j, "reason")),
                        "bad JSON near 'x\xef\xbf\xbd'");
    assert_string_equal(json_string_value(json_object_get(j, "origin")), "readings/0/17");
    json_decref(j);

    const unsigned char bin[] = {0xff, 0x00, 'a', 0xc3};
    d.payload = bin;
    d.payload_len = sizeof bin;
    hz_codec_json_encode_dead(NULL, &d, buf, sizeof buf);
    j = parse(buf);
    assert_string_equal(json_string_value(json_object_get(j, "payload_encoding")), "base64");
    assert_string_equal(json_string_value(json_object_get(j, "payload")), "/wBhww==");
    assert_true(json_is_null(json_object_get(j, "pipeline")));
    json_decref(j);
}

/* An appliance estimate: one message per window, its slots as arrays, "on" from the
 * threshold (an estimate is 0 or at least it), first and last slot times. */
static void test_encodes_estimate(void **state)
{
    (void)state;
    const float power[3] = {0, 2100.5f, 500};
    hz_estimate e = {.pipeline = "house",
                     .series = "h\"1",
                     .appliance = "Kettle",
                     .start_ts = 1795342500000LL,
                     .period_ms = 60000,
                     .n = 3,
                     .power = power,
                     .on_threshold = 500,
                     .model_id = "house.Kettle-abc"};
    char buf[1024];
    size_t n = hz_codec_json_encode_estimate(&e, buf, sizeof buf);
    assert_int_equal(n, strlen(buf));
    json_t *j = parse(buf);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "appliance");
    assert_string_equal(json_string_value(json_object_get(j, "series")), "h\"1");
    assert_string_equal(json_string_value(json_object_get(j, "appliance")), "Kettle");
    assert_int_equal(json_integer_value(json_object_get(j, "end_ts")), 1795342620000LL);
    assert_int_equal(json_integer_value(json_object_get(j, "period_ms")), 60000);
    json_t *pw = json_object_get(j, "power"), *on = json_object_get(j, "on");
    assert_int_equal(json_array_size(pw), 3);
    assert_true(json_number_value(json_array_get(pw, 1)) == 2100.5);
    assert_int_equal(json_integer_value(json_array_get(on, 0)), 0);
    assert_int_equal(json_integer_value(json_array_get(on, 1)), 1);
    assert_int_equal(json_integer_value(json_array_get(on, 2)), 1);
    json_decref(j);
    char small[16];
    assert_int_equal(hz_codec_json_encode_estimate(&e, small, sizeof small), n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decodes_good_message),
        cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_epoch_formats),
        cmocka_unit_test(test_refuses_malformed_with_reason),
        cmocka_unit_test(test_refuses_future_beyond_skew),
        cmocka_unit_test(test_mapping_checks),
        cmocka_unit_test(test_encodes_forecast_and_anomaly),
        cmocka_unit_test(test_encodes_dead_letters),
        cmocka_unit_test(test_encodes_estimate),
    };
    return cmocka_run_group_tests_name("codec_json", tests, NULL, NULL);
}
