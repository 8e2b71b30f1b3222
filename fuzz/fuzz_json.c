/* fuzz_json.c — fuzz target "json": a Kafka message value through the reading decoder
 * (connectors/codec_json.c hz_codec_json_decode), the first byte choosing the field mapping
 * (time format, series from a field or the key, which may come from the input too); then the
 * encoders, whose output must be JSON that jansson reads back: the reading decoded, and the raw
 * bytes as a dead letter. */
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "common/hz.h"
#include "connectors/codec_json.h"
#include "fuzz/fuzz.h"

static const char *const vars[] = {"power", "temp", "v3"};

/* The two encoders behind one signature. */
typedef size_t (*encode_fn)(const void *what, char *buf, size_t cap);

static size_t enc_reading(const void *what, char *buf, size_t cap)
{
    return hz_codec_json_encode_reading("fuzz", vars, what, buf, cap);
}

static size_t enc_dead(const void *what, char *buf, size_t cap)
{
    return hz_codec_json_encode_dead("fuzz", what, buf, cap);
}

/* Encodes what: the output must parse as one JSON object, and the same call into a buffer
 * one byte too small must return the same length and a NUL-terminated prefix (snprintf). */
static void check_encoder(encode_fn enc, const void *what)
{
    static char buf[1 << 18];
    size_t need = enc(what, buf, sizeof buf);
    if (need >= sizeof buf)
        return; /* a dead letter of a huge payload: only the length is known */
    HZ_FUZZ_CHECK(strlen(buf) == need);
    json_error_t je;
    json_t *o = json_loadb(buf, need, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!o)
        fprintf(stderr, "encoder output is not JSON (%s): %s\n", je.text, buf);
    HZ_FUZZ_CHECK(json_is_object(o));
    json_decref(o);
    if (need == 0)
        return;
    char *small = malloc(need);
    HZ_FUZZ_CHECK(small != NULL);
    HZ_FUZZ_CHECK(enc(what, small, need) == need);
    HZ_FUZZ_CHECK(strlen(small) == need - 1 && memcmp(small, buf, need - 1) == 0);
    free(small);
}

int hz_fuzz_json(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const uint8_t sel = data[0];
    hz_json_mapping m = {
        .series_field = (sel & 4) ? NULL : "series",
        .time_field = (sel & 8) ? "time" : "ts",
        .time_format = (hz_time_format)(sel & 3),
        .var_fields = vars,
        .nvars = 1 + (sel >> 4) % 3,
        .max_message = (sel & 0x80) ? 64 : 0,
    };
    char reason[HZ_ERRLEN];
    HZ_FUZZ_CHECK(hz_codec_json_check_mapping(&m, reason, sizeof reason) == 0);
    /* the message key: fixed, or (0x40) the input's bytes up to a NUL, none without one */
    const char *key = "meter-17";
    size_t keylen = strlen(key);
    const uint8_t *value = data + 1;
    size_t len = size - 1;
    if (sel & 0x40) {
        const uint8_t *nul = memchr(value, 0, len);
        key = nul ? (const char *)value : NULL;
        keylen = nul ? (size_t)(nul - value) : 0;
        if (nul) {
            len -= keylen + 1;
            value = nul + 1;
        }
    }

    hz_reading r;
    memset(&r, 0, sizeof r);
    char series[HZ_SERIES_MAX + 1];
    reason[0] = 0;
    int rc = hz_codec_json_decode(&m, key, keylen, value, len, &r, series, reason, sizeof reason);
    if (rc == 0) {
        HZ_FUZZ_CHECK(r.series == series);
        size_t sl = strlen(series);
        HZ_FUZZ_CHECK(sl >= 1 && sl <= HZ_SERIES_MAX);
        HZ_FUZZ_CHECK(hz_codec_json_utf8_valid(series, sl));
        HZ_FUZZ_CHECK(r.nvars == m.nvars);
        int present = 0;
        for (int i = 0; i < r.nvars; i++) {
            HZ_FUZZ_CHECK(isnan(r.values[i]) || fabs(r.values[i]) <= FLT_MAX); /* reading_check.h */
            present += !isnan(r.values[i]);
        }
        HZ_FUZZ_CHECK(present >= 1);
        char iso[32];
        hz_codec_json_format_iso8601(r.ts_ms, iso);
        int64_t back;
        HZ_FUZZ_CHECK(hz_codec_json_parse_iso8601(iso, strlen(iso), &back, reason, sizeof reason) ==
                      0);
        HZ_FUZZ_CHECK(back == r.ts_ms);
        check_encoder(enc_reading, &r);
    } else {
        HZ_FUZZ_CHECK(rc == HZ_EFORMAT || rc == HZ_ERANGE);
        HZ_FUZZ_CHECK(reason[0] != 0);
    }
    /* What a source does with a refused message: a dead letter carrying the raw bytes. */
    hz_dead_letter d = {
        .origin = "fuzz/0/1",
        .reason = rc ? reason : "fuzz",
        .payload = value,
        .payload_len = len,
        .ts_ms = 1764000000000,
    };
    check_encoder(enc_dead, &d);
    return 0;
}
