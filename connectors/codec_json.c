/* codec_json.c — JSON messages in and out of horizon (docs/ARCHITECTURE.md; the schemas
 * are in docs/MESSAGES.md).
 *
 * Decoding parses with jansson and maps fields into an hz_reading; every refusal comes back
 * as a reason a person can act on, which becomes the dead letter's reason.  Encoding is
 * snprintf into a caller buffer with our own string escaper (jansson has no public escaper
 * that works without building a tree), so the hot path does not allocate. */
#include "connectors/codec_json.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "connectors/reading_check.h"

/* ---- calendar (days since 1970-01-01 for a proleptic Gregorian date, and back) */

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
    static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dm[m - 1];
}

/* Valid timestamps: [1970-01-01T00:00:00Z, 2201-01-01T00:00:00Z). */
#define MS_PER_DAY 86400000LL
static int64_t max_ms(void)
{
    return hz_days_from_civil(2201, 1, 1) * MS_PER_DAY;
}

static int ts_range_error(int64_t ms, char *reason, size_t reasonlen, const char *what)
{
    return hz_err(reason, reasonlen, HZ_ERANGE,
                  "%s: timestamp %lld ms is outside 1970-01-01..2200-12-31", what, (long long)ms);
}

/* ---- ISO 8601 */

/* Reads exactly k digits at s[*i]; returns -1 when they are not there. */
static int read_digits(const char *s, size_t n, size_t *i, int k)
{
    int v = 0;
    for (int j = 0; j < k; j++) {
        if (*i >= n || s[*i] < '0' || s[*i] > '9')
            return -1;
        v = v * 10 + (s[*i] - '0');
        (*i)++;
    }
    return v;
}

int hz_codec_json_parse_iso8601(const char *s, size_t n, int64_t *ms, char *reason,
                                size_t reasonlen)
{
    size_t i = 0;
    int hh = 0, mi = 0, ss = 0, frac_ms = 0;
    int year = read_digits(s, n, &i, 4);
    if (year < 0 || i >= n || s[i++] != '-')
        goto bad;
    int mon = read_digits(s, n, &i, 2);
    if (mon < 0 || i >= n || s[i++] != '-')
        goto bad;
    int day = read_digits(s, n, &i, 2);
    if (day < 0)
        goto bad;
    if (year < 1970 || year > 2200)
        return hz_err(reason, reasonlen, HZ_ERANGE, "year %d is outside 1970..2200", year);
    if (mon < 1 || mon > 12)
        return hz_err(reason, reasonlen, HZ_EFORMAT, "month %02d does not exist", mon);
    if (day < 1 || day > days_in_month(year, mon))
        return hz_err(reason, reasonlen, HZ_EFORMAT, "day %04d-%02d-%02d does not exist", year, mon,
                      day);
    int64_t off_min = 0;
    if (i < n && (s[i] == 'T' || s[i] == 't' || s[i] == ' ')) {
        i++;
        hh = read_digits(s, n, &i, 2);
        if (hh < 0 || i >= n || s[i++] != ':')
            goto bad;
        mi = read_digits(s, n, &i, 2);
        if (mi < 0)
            goto bad;
        if (i < n && s[i] == ':') {
            i++;
            ss = read_digits(s, n, &i, 2);
            if (ss < 0)
                goto bad;
            if (i < n && (s[i] == '.' || s[i] == ',')) {
                i++;
                int nd = 0, scale = 100;
                while (i < n && s[i] >= '0' && s[i] <= '9') {
                    if (nd < 3) {
                        frac_ms += (s[i] - '0') * scale;
                        scale /= 10;
                    }
                    nd++, i++;
                }
                if (nd == 0 || nd > 9)
                    goto bad;
            }
        }
        /* 24:00 is not accepted; 60 seconds is (a leap second rolls into the next minute) */
        if (hh > 23 || mi > 59 || ss > 60)
            return hz_err(reason, reasonlen, HZ_EFORMAT, "time %02d:%02d:%02d does not exist", hh,
                          mi, ss);
        if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
            i++;
        } else if (i < n && (s[i] == '+' || s[i] == '-')) {
            int sign = s[i++] == '-' ? -1 : 1;
            int oh = read_digits(s, n, &i, 2), om = 0;
            if (oh < 0)
                goto bad;
            if (i < n && s[i] == ':')
                i++;
            if (i < n) {
                om = read_digits(s, n, &i, 2);
                if (om < 0)
                    goto bad;
            }
            if (oh > 23 || om > 59)
                return hz_err(reason, reasonlen, HZ_EFORMAT, "zone offset %02d:%02d is invalid", oh,
                              om);
            off_min = sign * (oh * 60 + om);
        }
    }
    if (i != n)
        goto bad;
    int64_t t = hz_days_from_civil(year, mon, day) * MS_PER_DAY +
                ((int64_t)hh * 3600 + mi * 60 + ss - off_min * 60) * 1000 + frac_ms;
    if (t < 0 || t >= max_ms())
        return ts_range_error(t, reason, reasonlen, "after applying the zone offset");
    *ms = t;
    return 0;
bad:
    return hz_err(reason, reasonlen, HZ_EFORMAT,
                  "\"%.*s\" is not an ISO 8601 date-time (expected e.g. 2026-11-22T10:15:00Z)",
                  (int)(n > 64 ? 64 : n), s);
}

static char *digits(char *p, int64_t v, int width)
{
    for (int i = width - 1; i >= 0; i--, v /= 10)
        p[i] = (char)('0' + v % 10);
    return p + width;
}

void hz_codec_json_format_iso8601(int64_t ms, char *buf)
{
    int64_t days = ms >= 0 ? ms / MS_PER_DAY : -((-ms + MS_PER_DAY - 1) / MS_PER_DAY);
    int64_t rem = ms - days * MS_PER_DAY, y;
    int m, d;
    hz_civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999)
        y = 0; /* not reachable for timestamps the decoder accepts */
    char *p = digits(buf, y, 4);
    *p++ = '-';
    p = digits(p, m, 2);
    *p++ = '-';
    p = digits(p, d, 2);
    *p++ = 'T';
    p = digits(p, rem / 3600000, 2);
    *p++ = ':';
    p = digits(p, rem / 60000 % 60, 2);
    *p++ = ':';
    p = digits(p, rem / 1000 % 60, 2);
    *p++ = '.';
    p = digits(p, rem % 1000, 3);
    *p++ = 'Z';
    *p = 0;
}

/* ---- UTF-8 */

/* Length of the valid UTF-8 sequence at p[0..n), or 0 when it is invalid. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    if (c < 0x80)
        return 1;
    size_t k;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        k = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        k = 3;
        if (c == 0xE0)
            lo = 0xA0;
        if (c == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        k = 4;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (n < k || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t j = 2; j < k; j++)
        if (p[j] < 0x80 || p[j] > 0xBF)
            return 0;
    return k;
}

int hz_codec_json_utf8_valid(const void *v, size_t n)
{
    const unsigned char *p = v;
    for (size_t i = 0; i < n;) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = utf8_seq(p + i, n - i);
        if (!k)
            return 0;
        i += k;
    }
    return 1;
}

/* ---- decoding */

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

int hz_codec_json_time_format(const char *name, hz_time_format *out)
{
    static const struct {
        const char *name;
        hz_time_format f;
    } t[] = {{"auto", HZ_TIME_AUTO},
             {"iso8601", HZ_TIME_ISO8601},
             {"epoch_s", HZ_TIME_EPOCH_S},
             {"epoch_ms", HZ_TIME_EPOCH_MS}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (name && strcmp(name, t[i].name) == 0) {
            *out = t[i].f;
            return 0;
        }
    return HZ_EINVAL;
}

int hz_codec_json_check_mapping(const hz_json_mapping *m, char *err, size_t errlen)
{
    if (!m->time_field || !*m->time_field)
        return hz_err(err, errlen, HZ_EINVAL, "field mapping: the time field is not set");
    if (m->series_field && !*m->series_field)
        return hz_err(err, errlen, HZ_EINVAL, "field mapping: the series field is empty");
    if (m->nvars < 1 || m->nvars > HZ_MAX_VARS)
        return hz_err(err, errlen, HZ_EINVAL,
                      "field mapping: %d value fields given, expected 1..%d", m->nvars,
                      HZ_MAX_VARS);
    for (int i = 0; i < m->nvars; i++)
        if (!m->var_fields[i] || !*m->var_fields[i])
            return hz_err(err, errlen, HZ_EINVAL, "field mapping: value field %d is empty", i + 1);
    if (m->time_format < HZ_TIME_AUTO || m->time_format > HZ_TIME_EPOCH_MS)
        return hz_err(err, errlen, HZ_EINVAL, "field mapping: unknown time format %d",
                      (int)m->time_format);
    return 0;
}

/* field: the series field's name, or NULL when the id came from the message key. */
static int check_series(const char *s, size_t n, const char *field, char *reason, size_t reasonlen)
{
    const char *pre = field ? "field \"" : "message key", *f = field ? field : "",
               *post = field ? "\"" : "";
    if (n == 0)
        return hz_err(reason, reasonlen, HZ_EFORMAT, "%s%s%s: series id is empty", pre, f, post);
    if (n > HZ_SERIES_MAX)
        return hz_err(reason, reasonlen, HZ_EFORMAT,
                      "%s%s%s: series id of %zu bytes is longer than %d", pre, f, post, n,
                      HZ_SERIES_MAX);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return hz_err(reason, reasonlen, HZ_EFORMAT,
                          "%s%s%s: series id contains control character 0x%02x at byte %zu", pre, f,
                          post, c, i);
    }
    if (!hz_codec_json_utf8_valid(s, n))
        return hz_err(reason, reasonlen, HZ_EFORMAT, "%s%s%s: series id is not valid UTF-8", pre, f,
                      post);
    return 0;
}

/* Epoch number (seconds or ms) to ms with range checks. */
static int epoch_to_ms(double x, int is_ms, const char *field, int64_t *out, char *reason,
                       size_t reasonlen)
{
    if (!isfinite(x))
        return hz_err(reason, reasonlen, HZ_ERANGE, "field \"%s\": epoch is not finite", field);
    double msd = is_ms ? x : x * 1000.0;
    if (msd < 0 || msd >= (double)max_ms())
        return hz_err(reason, reasonlen, HZ_ERANGE,
                      "field \"%s\": epoch %s %.17g is outside 1970-01-01..2200-12-31", field,
                      is_ms ? "ms" : "seconds", x);
    *out = (int64_t)llround(msd);
    if (*out >= max_ms())
        *out = max_ms() - 1;
    return 0;
}

static int decode_time(const hz_json_mapping *m, const json_t *t, int64_t *ms, char *reason,
                       size_t reasonlen)
{
    const char *f = m->time_field;
    hz_time_format fmt = m->time_format;
    if (json_is_string(t)) {
        const char *s = json_string_value(t);
        size_t n = json_string_length(t);
        if (fmt == HZ_TIME_AUTO || fmt == HZ_TIME_ISO8601) {
            char why[200];
            int rc = hz_codec_json_parse_iso8601(s, n, ms, why, sizeof why);
            if (rc)
                return hz_err(reason, reasonlen, rc, "field \"%s\": %s", f, why);
            return 0;
        }
        /* epoch given as a decimal string */
        char tmp[64], *end;
        if (n == 0 || n >= sizeof tmp)
            return hz_err(reason, reasonlen, HZ_EFORMAT,
                          "field \"%s\": expected an epoch number, got a string of %zu bytes", f,
                          n);
        memcpy(tmp, s, n);
        tmp[n] = 0;
        double x = strtod(tmp, &end);
        if (*end || end == tmp)
            return hz_err(reason, reasonlen, HZ_EFORMAT,
                          "field \"%s\": \"%s\" is not an epoch number", f, tmp);
        return epoch_to_ms(x, fmt == HZ_TIME_EPOCH_MS, f, ms, reason, reasonlen);
    }
    if (json_is_integer(t) || json_is_real(t)) {
        if (fmt == HZ_TIME_ISO8601)
            return hz_err(reason, reasonlen, HZ_EFORMAT,
                          "field \"%s\": expected an ISO 8601 string, got a number", f);
        double x = json_number_value(t);
        int is_ms = fmt == HZ_TIME_EPOCH_MS || (fmt == HZ_TIME_AUTO && fabs(x) >= 1e11);
        if (json_is_integer(t)) { /* exact path: no rounding through double */
            json_int_t v = json_integer_value(t);
            int64_t lim = is_ms ? max_ms() : max_ms() / 1000;
            if (v < 0 || v >= lim)
                return hz_err(reason, reasonlen, HZ_ERANGE,
                              "field \"%s\": epoch %s %lld is outside 1970-01-01..2200-12-31", f,
                              is_ms ? "ms" : "seconds", (long long)v);
            *ms = is_ms ? v : v * 1000;
            return 0;
        }
        return epoch_to_ms(x, is_ms, f, ms, reason, reasonlen);
    }
    return hz_err(reason, reasonlen, HZ_EFORMAT, "field \"%s\": expected %s, got %s", f,
                  fmt == HZ_TIME_ISO8601 ? "an ISO 8601 string"
                  : fmt == HZ_TIME_AUTO  ? "an ISO 8601 string or epoch number"
                                         : "an epoch number",
                  type_name(t));
}

static int parse_error(const json_error_t *e, const void *value, size_t len, char *reason,
                       size_t reasonlen)
{
    switch (json_error_code(e)) {
    case json_error_invalid_utf8:
        return hz_err(reason, reasonlen, HZ_EFORMAT,
                      "invalid UTF-8 at byte %d (line %d column %d): %s", e->position, e->line,
                      e->column, e->text);
    case json_error_numeric_overflow:
        return hz_err(reason, reasonlen, HZ_ERANGE, "number out of range at line %d column %d: %s",
                      e->line, e->column, e->text);
    case json_error_duplicate_key:
        return hz_err(reason, reasonlen, HZ_EFORMAT, "duplicate key at line %d column %d: %s",
                      e->line, e->column, e->text);
    default:
        break;
    }
    /* jansson reports these as an invalid token ("invalid token near 'NaN'"; for
     * -Infinity it stops at the '-'); name them, since producers do emit them */
    const char *tok = strstr(e->text, "invalid token near '");
    if (tok) {
        tok += strlen("invalid token near '");
        const char *v = value;
        size_t at = e->position > 0 ? (size_t)e->position : 0;
        const char *q = strchr(tok, '\'');
        size_t tn = q ? (size_t)(q - tok) : strlen(tok);
        int nonfinite =
            (tn == 3 && (strncasecmp(tok, "nan", 3) == 0 || strncasecmp(tok, "inf", 3) == 0)) ||
            (tn == 8 && strncasecmp(tok, "infinity", 8) == 0) ||
            (tn == 1 && tok[0] == '-' && at >= 1 && at + 3 <= len && v[at - 1] == '-' &&
             strncasecmp(v + at, "inf", 3) == 0);
        if (nonfinite)
            return hz_err(reason, reasonlen, HZ_EFORMAT,
                          "NaN/Infinity are not JSON numbers (line %d column %d: %s)", e->line,
                          e->column, e->text);
    }
    return hz_err(reason, reasonlen, HZ_EFORMAT, "bad JSON at line %d column %d (byte %d): %s",
                  e->line, e->column, e->position, e->text);
}

/* The series id (*s, *sn; not NUL-terminated): the mapped field, else the key. */
static int decode_series(const hz_json_mapping *m, json_t *root, const void *key, size_t keylen,
                         const char **s, size_t *sn, char *reason, size_t reasonlen)
{
    json_t *sv = m->series_field ? json_object_get(root, m->series_field) : NULL;
    const char *from;
    if (sv) {
        if (!json_is_string(sv))
            return hz_err(reason, reasonlen, HZ_EFORMAT, "field \"%s\": expected a string, got %s",
                          m->series_field, type_name(sv));
        *s = json_string_value(sv);
        *sn = json_string_length(sv);
        from = m->series_field;
    } else if (key && keylen) {
        *s = key;
        *sn = keylen;
        from = NULL;
    } else {
        if (m->series_field)
            return hz_err(reason, reasonlen, HZ_EFORMAT,
                          "missing field \"%s\" and the message has no key", m->series_field);
        return hz_err(reason, reasonlen, HZ_EFORMAT,
                      "the message has no key (the series id comes from the key)");
    }
    return check_series(*s, *sn, from, reason, reasonlen);
}

/* The value fields into out->values (NaN when absent or null); one must be present. */
static int decode_values(const hz_json_mapping *m, json_t *root, hz_reading *out, char *reason,
                         size_t reasonlen)
{
    int present = 0;
    for (int i = 0; i < m->nvars; i++) {
        const char *f = m->var_fields[i];
        json_t *v = json_object_get(root, f);
        double x = NAN;
        if (v && !json_is_null(v)) {
            if (!json_is_number(v))
                return hz_err(reason, reasonlen, HZ_EFORMAT,
                              "field \"%s\": expected a number, got %s", f, type_name(v));
            x = json_number_value(v);
            char why[160];
            if (hz_check_value(x, why, sizeof why))
                return hz_err(reason, reasonlen, HZ_ERANGE, "field \"%s\": %s", f, why);
            present++;
        }
        out->values[i] = x;
    }
    if (!present)
        return hz_err(reason, reasonlen, HZ_EFORMAT,
                      "none of the %d value fields is present (first: \"%s\")", m->nvars,
                      m->var_fields[0]);
    return 0;
}

/* Maps a parsed message (root, owned by the caller) into out: series, time, values. */
static int decode_object(const hz_json_mapping *m, json_t *root, const void *key, size_t keylen,
                         hz_reading *out, char *series_buf, char *reason, size_t reasonlen)
{
    if (!json_is_object(root))
        return hz_err(reason, reasonlen, HZ_EFORMAT, "expected a JSON object, got %s",
                      type_name(root));
    const char *s = NULL;
    size_t sn = 0;
    int rc = decode_series(m, root, key, keylen, &s, &sn, reason, reasonlen);
    if (rc)
        return rc;
    json_t *tv = json_object_get(root, m->time_field);
    if (!tv)
        return hz_err(reason, reasonlen, HZ_EFORMAT, "missing field \"%s\"", m->time_field);
    int64_t ts;
    if ((rc = decode_time(m, tv, &ts, reason, reasonlen)))
        return rc;
    char why[200];
    if (m->max_future_ms > 0 && hz_check_ts(ts, m->max_future_ms, hz_now_ms(), why, sizeof why))
        return hz_err(reason, reasonlen, HZ_ERANGE, "field \"%s\": %s", m->time_field, why);
    if ((rc = decode_values(m, root, out, reason, reasonlen)))
        return rc;
    memcpy(series_buf, s, sn);
    series_buf[sn] = 0;
    out->series = series_buf;
    out->ts_ms = ts;
    out->nvars = m->nvars;
    return 0;
}

int hz_codec_json_decode(const hz_json_mapping *m, const void *key, size_t keylen,
                         const void *value, size_t len, hz_reading *out, char *series_buf,
                         char *reason, size_t reasonlen)
{
    size_t maxlen = m->max_message ? m->max_message : HZ_JSON_MAX_MESSAGE_DEFAULT;
    if (!value || len == 0)
        return hz_err(reason, reasonlen, HZ_EFORMAT, "empty message");
    if (len > maxlen)
        return hz_err(reason, reasonlen, HZ_EFORMAT,
                      "message of %zu bytes exceeds the %zu-byte limit (not parsed)", len, maxlen);
    json_error_t e;
    json_t *root = json_loadb(value, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &e);
    if (!root)
        return parse_error(&e, value, len, reason, reasonlen);
    int rc = decode_object(m, root, key, keylen, out, series_buf, reason, reasonlen);
    json_decref(root);
    return rc;
}

/* ---- encoding: a writer that counts what it would need beyond cap */

typedef struct wr {
    char *p;
    size_t cap, len;
} wr;

static void put(wr *w, const char *s, size_t n)
{
    if (n == 0)
        return;
    if (w->len < w->cap) {
        size_t k = w->cap - w->len;
        memcpy(w->p + w->len, s, n < k ? n : k);
    }
    w->len += n;
}

static void puts_(wr *w, const char *s)
{
    put(w, s, strlen(s));
}

static void put_key(wr *w, const char *key)
{
    put(w, ",\"", 2);
    puts_(w, key);
    put(w, "\":", 2);
}

static void put_i64(wr *w, int64_t v)
{
    char tmp[24], *p = tmp + sizeof tmp;
    uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    put(w, p, (size_t)(tmp + sizeof tmp - p));
}

static void putf(wr *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(wr *w, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    put(w, tmp, n < (int)sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* A JSON string literal: escapes quotes, backslash and control characters; bytes that are
 * not valid UTF-8 become U+FFFD. */
static void put_str(wr *w, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    put(w, "\"", 1);
    size_t run = 0; /* start of the pending run of bytes copied verbatim */
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        const char *esc = NULL;
        char u[6];
        size_t k = 1;
        if (c == '"')
            esc = "\\\"";
        else if (c == '\\')
            esc = "\\\\";
        else if (c == '\n')
            esc = "\\n";
        else if (c == '\t')
            esc = "\\t";
        else if (c == '\r')
            esc = "\\r";
        else if (c < 0x20 || c == 0x7f) {
            u[0] = '\\', u[1] = 'u', u[2] = '0', u[3] = '0', u[4] = hex[c >> 4], u[5] = hex[c & 15];
        } else if (c >= 0x80) {
            k = utf8_seq(p + i, n - i);
            if (k) {
                i += k;
                continue;
            }
            esc = "\xef\xbf\xbd";
            k = 1;
        } else {
            i++;
            continue;
        }
        put(w, s + run, i - run);
        if (esc)
            puts_(w, esc);
        else
            put(w, u, 6);
        i += k;
        run = i;
    }
    put(w, s + run, n - run);
    put(w, "\"", 1);
}

static void put_key_str(wr *w, const char *key, const char *s)
{
    put_key(w, key);
    if (s)
        put_str(w, s, strlen(s));
    else
        puts_(w, "null");
}

/* Shortest of %.15g / %.17g that reads back exactly; NaN and infinities as null. */
static void put_num(wr *w, const char *key, double x)
{
    put_key(w, key);
    if (!isfinite(x)) {
        puts_(w, "null");
        return;
    }
    char tmp[40];
    snprintf(tmp, sizeof tmp, "%.15g", x);
    if (strtod(tmp, NULL) != x)
        snprintf(tmp, sizeof tmp, "%.17g", x);
    puts_(w, tmp);
}

static void put_time(wr *w, const char *key, int64_t ms)
{
    char iso[32];
    hz_codec_json_format_iso8601(ms, iso);
    put_key(w, key);
    put_i64(w, ms);
    put(w, ",\"", 2);
    puts_(w, key);
    put(w, "_iso\":\"", 7);
    put(w, iso, 24);
    put(w, "\"", 1);
}

static size_t finish(wr *w)
{
    put(w, "}", 1);
    if (w->cap)
        w->p[w->len < w->cap ? w->len : w->cap - 1] = 0;
    return w->len;
}

void hz_level_suffix(double level, char *buf, size_t len)
{
    snprintf(buf, len, "%.10g", level * 100);
    for (char *c = buf; *c; c++)
        if (*c == '.')
            *c = '_';
}

size_t hz_codec_json_encode_forecast(const hz_forecast *f, char *buf, size_t cap)
{
    wr w = {buf, cap, 0};
    puts_(&w, "{\"type\":\"forecast\"");
    put_key_str(&w, "pipeline", f->pipeline);
    put_key_str(&w, "series", f->series);
    put_key_str(&w, "variable", f->variable);
    put_time(&w, "issued_ts", f->issued_ts);
    put_time(&w, "target_ts", f->target_ts);
    put_key(&w, "step");
    put_i64(&w, f->step);
    put_num(&w, "value", f->value);
    put_num(&w, "lower", f->lower);
    put_num(&w, "upper", f->upper);
    for (int l = 0; l < f->nlevels; l++) {
        char sfx[24], key[32];
        hz_level_suffix(f->levels[l], sfx, sizeof sfx);
        snprintf(key, sizeof key, "lower%s", sfx);
        put_num(&w, key, f->lo[l]);
        snprintf(key, sizeof key, "upper%s", sfx);
        put_num(&w, key, f->hi[l]);
    }
    put_key_str(&w, "model_id", f->model_id);
    return finish(&w);
}

size_t hz_codec_json_encode_anomaly(const hz_anomaly *a, char *buf, size_t cap)
{
    wr w = {buf, cap, 0};
    puts_(&w, "{\"type\":\"anomaly\"");
    put_key_str(&w, "pipeline", a->pipeline);
    put_key_str(&w, "series", a->series);
    put_key_str(&w, "variable", a->variable);
    put_time(&w, "ts", a->ts);
    put_num(&w, "value", a->value);
    put_num(&w, "expected", a->expected);
    put_num(&w, "lower", a->lower);
    put_num(&w, "upper", a->upper);
    put_num(&w, "score", a->score);
    put_key(&w, "flag");
    puts_(&w, a->flag ? "true" : "false");
    put_key_str(&w, "kind", a->kind);
    put_key_str(&w, "model_id", a->model_id);
    put_key_str(&w, "rule", a->rule);
    return finish(&w);
}

size_t hz_codec_json_encode_estimate(const hz_estimate *e, char *buf, size_t cap)
{
    wr w = {buf, cap, 0};
    puts_(&w, "{\"type\":\"appliance\"");
    put_key_str(&w, "pipeline", e->pipeline);
    put_key_str(&w, "series", e->series);
    put_key_str(&w, "appliance", e->appliance);
    put_time(&w, "start_ts", e->start_ts);
    put_time(&w, "end_ts", e->start_ts + (int64_t)(e->n - 1) * e->period_ms);
    put_key(&w, "period_ms");
    put_i64(&w, e->period_ms);
    put_num(&w, "on_threshold", e->on_threshold);
    put_key(&w, "power");
    put(&w, "[", 1);
    for (int t = 0; t < e->n; t++) {
        char tmp[24];
        int k = snprintf(tmp, sizeof tmp, "%s%.6g", t ? "," : "", (double)e->power[t]);
        put(&w, tmp, (size_t)k);
    }
    put(&w, "]", 1);
    put_key(&w, "on");
    put(&w, "[", 1);
    for (int t = 0; t < e->n; t++) {
        int on = e->power[t] >= e->on_threshold && e->power[t] > 0;
        put(&w, t ? (on ? ",1" : ",0") : (on ? "1" : "0"), t ? 2 : 1);
    }
    put(&w, "]", 1);
    put_key_str(&w, "model_id", e->model_id);
    return finish(&w);
}

size_t hz_codec_json_encode_reading(const char *pipeline, const char *const *var_names,
                                    const hz_reading *r, char *buf, size_t cap)
{
    wr w = {buf, cap, 0};
    puts_(&w, "{\"type\":\"reading\"");
    put_key_str(&w, "pipeline", pipeline);
    put_key_str(&w, "series", r->series);
    put_time(&w, "ts", r->ts_ms);
    puts_(&w, ",\"values\":{");
    for (int i = 0; i < r->nvars; i++) {
        if (i)
            put(&w, ",", 1);
        char name[16];
        const char *nm = var_names ? var_names[i] : NULL;
        if (!nm) {
            snprintf(name, sizeof name, "v%d", i);
            nm = name;
        }
        put_str(&w, nm, strlen(nm));
        put(&w, ":", 1);
        if (isfinite(r->values[i])) {
            char tmp[40];
            snprintf(tmp, sizeof tmp, "%.15g", r->values[i]);
            if (strtod(tmp, NULL) != r->values[i])
                snprintf(tmp, sizeof tmp, "%.17g", r->values[i]);
            puts_(&w, tmp);
        } else
            puts_(&w, "null");
    }
    put(&w, "}", 1);
    return finish(&w);
}

static void put_base64(wr *w, const unsigned char *p, size_t n)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char q[4];
    put(w, "\"", 1);
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        q[0] = b64[v >> 18 & 63];
        q[1] = b64[v >> 12 & 63];
        q[2] = i + 1 < n ? b64[v >> 6 & 63] : '=';
        q[3] = i + 2 < n ? b64[v & 63] : '=';
        put(w, q, 4);
    }
    put(w, "\"", 1);
}

size_t hz_codec_json_encode_dead(const char *pipeline, const hz_dead_letter *d, char *buf,
                                 size_t cap)
{
    wr w = {buf, cap, 0};
    puts_(&w, "{\"type\":\"dead_letter\"");
    put_key_str(&w, "pipeline", pipeline);
    put_key_str(&w, "origin", d->origin);
    put_key_str(&w, "reason", d->reason);
    put_time(&w, "ts", d->ts_ms);
    const unsigned char *p = d->payload;
    size_t n = p ? d->payload_len : 0;
    int utf8 = hz_codec_json_utf8_valid(p, n);
    putf(&w, ",\"payload_bytes\":%zu,\"payload_encoding\":\"%s\",\"payload\":", n,
         utf8 ? "utf-8" : "base64");
    if (utf8)
        put_str(&w, (const char *)p, n);
    else
        put_base64(&w, p, n);
    return finish(&w);
}
