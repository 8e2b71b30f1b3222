/* codec_json.h — JSON message codec: Kafka message values to readings, and forecasts,
 * anomalies, readings and dead letters to JSON messages.  The formats are documented in
 * docs/MESSAGES.md.
 *
 * Decoding uses jansson; it never allocates beyond jansson's own tree for one message and
 * copies the series id into a caller buffer.  Encoding writes into a caller buffer with
 * snprintf semantics and allocates nothing. */
#ifndef HZ_CODEC_JSON_H
#define HZ_CODEC_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "connectors/connector.h"

/* Largest series id, in bytes (no terminating NUL). */
#define HZ_SERIES_MAX 256
/* Default largest message value accepted by the decoder. */
#define HZ_JSON_MAX_MESSAGE_DEFAULT (64 * 1024)

typedef enum hz_time_format {
    HZ_TIME_AUTO = 0, /* string: ISO 8601; number: epoch ms if |x| >= 1e11, else seconds */
    HZ_TIME_ISO8601,
    HZ_TIME_EPOCH_S, /* number (may be fractional) or decimal string */
    HZ_TIME_EPOCH_MS,
} hz_time_format;

/* Which fields of the JSON object hold what.  Strings are borrowed for the decoder's life. */
typedef struct hz_json_mapping {
    const char *series_field; /* NULL: series always from the message key */
    const char *time_field;   /* required */
    hz_time_format time_format;
    const char *const *var_fields; /* nvars names, 1..HZ_MAX_VARS */
    int nvars;
    size_t max_message;    /* bytes; 0: HZ_JSON_MAX_MESSAGE_DEFAULT */
    int64_t max_future_ms; /* a time more than this ahead of the wall clock is refused
                              (connectors/reading_check.h); 0: no limit */
} hz_json_mapping;

/* Parses "auto", "iso8601", "epoch_s", "epoch_ms" into *out.  Returns 0 or HZ_EINVAL. */
int hz_codec_json_time_format(const char *name, hz_time_format *out);

/* Checks a mapping (time field set, 1..HZ_MAX_VARS variables, no empty names).
 * Returns 0 or HZ_EINVAL with err filled. */
int hz_codec_json_check_mapping(const hz_json_mapping *m, char *err, size_t errlen);

/* Decodes one message into *out (series, ts_ms, nvars, values; pos is left untouched).
 * The series id comes from the series field when the mapping names one and the object has
 * it (it must then be a string); otherwise from the message key (key may be NULL).  It is
 * copied NUL-terminated into series_buf (at least HZ_SERIES_MAX + 1 bytes) and out->series
 * points there.  A variable that is absent or null is NaN, but at least one must be present.
 * Returns 0, or HZ_EFORMAT / HZ_ERANGE with reason filled (the dead letter's reason). */
int hz_codec_json_decode(const hz_json_mapping *m, const void *key, size_t keylen,
                         const void *value, size_t len, hz_reading *out, char *series_buf,
                         char *reason, size_t reasonlen);

/* Parses an ISO 8601 date-time (YYYY-MM-DD[Thh:mm[:ss[.fff]]][Z|+hh:mm|+hhmm|+hh], 'T' or
 * ' ' between date and time, no zone = UTC) into ms since the epoch.  Years 1970..2200 only
 * and the result must lie in [1970-01-01, 2201-01-01) UTC.  Returns 0, HZ_EFORMAT or
 * HZ_ERANGE with reason filled. */
int hz_codec_json_parse_iso8601(const char *s, size_t n, int64_t *ms, char *reason,
                                size_t reasonlen);

/* Writes ms as "YYYY-MM-DDThh:mm:ss.sssZ" (24 chars + NUL) into buf (>= 25 bytes). */
void hz_codec_json_format_iso8601(int64_t ms, char *buf);

/* 1 when p[0..n) is valid UTF-8 (no overlongs, no surrogates), else 0. */
int hz_codec_json_utf8_valid(const void *p, size_t n);

/* Encoders: write one JSON object (no newline) into buf of size cap and return the length
 * it needs (excluding the NUL), like snprintf: when the return value >= cap the output was
 * truncated and the caller retries with a larger buffer.  Never allocate.
 * Strings that are not valid UTF-8 have the bad bytes replaced by U+FFFD. */
size_t hz_codec_json_encode_forecast(const hz_forecast *f, char *buf, size_t cap);
size_t hz_codec_json_encode_anomaly(const hz_anomaly *a, char *buf, size_t cap);
/* An appliance estimate: its window's slots as arrays "power" (watts, 6 significant digits)
 * and "on" (1 at or above on_threshold), start_ts/end_ts its first and last slot. */
size_t hz_codec_json_encode_estimate(const hz_estimate *e, char *buf, size_t cap);
size_t hz_codec_json_encode_reading(const char *pipeline, const char *const *var_names,
                                    const hz_reading *r, char *buf, size_t cap);
/* The payload is a JSON string when it is valid UTF-8 ("payload_encoding":"utf-8"), else
 * base64 ("payload_encoding":"base64").  pipeline may be NULL. */
size_t hz_codec_json_encode_dead(const char *pipeline, const hz_dead_letter *d, char *buf,
                                 size_t cap);

#endif
