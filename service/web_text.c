/* web_text.c — text for the web view (service/web_int.h): a growing buffer, the HTML and URL
 * escapes every name from the data goes through, percent-decoding of request paths and
 * queries, and JSON values that jansson accepts whatever the bytes. */
#include "service/web_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int sb_reserve(web_sb *b, size_t more)
{
    if (b->oom || (b->oom = hz_grow((void **)&b->p, &b->cap, b->len + more + 1, 1) != 0))
        return -1;
    return 0;
}

void sb_put(web_sb *b, const char *s, size_t n)
{
    if (sb_reserve(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void sb_puts(web_sb *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

void sb_printf(web_sb *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[512];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof tmp) {
        sb_put(b, tmp, (size_t)n);
        return;
    }
    if (sb_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void sb_html(web_sb *b, const char *s)
{
    for (const char *c = s; *c; c++) {
        switch (*c) {
        case '&':
            sb_puts(b, "&amp;");
            break;
        case '<':
            sb_puts(b, "&lt;");
            break;
        case '>':
            sb_puts(b, "&gt;");
            break;
        case '"':
            sb_puts(b, "&quot;");
            break;
        case '\'':
            sb_puts(b, "&#39;");
            break;
        default:
            sb_put(b, c, 1);
        }
    }
}

void sb_url(web_sb *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
            *c == '-' || *c == '.' || *c == '_' || *c == '~') {
            sb_put(b, (const char *)c, 1);
        } else {
            char e[3] = {'%', hex[*c >> 4], hex[*c & 15]};
            sb_put(b, e, 3);
        }
    }
}

void sb_time(web_sb *b, int64_t ms)
{
    int64_t s = hz_floor_div(ms, 1000), days = hz_floor_div(s, 86400), y;
    int mo, d;
    hz_civil_from_days(days, &y, &mo, &d);
    int64_t sod = s - days * 86400;
    sb_printf(b, "%04lld-%02d-%02d %02d:%02d", (long long)y, mo, d, (int)(sod / 3600),
              (int)(sod / 60 % 60));
}

void sb_date(web_sb *b, int64_t ms)
{
    int64_t y;
    int mo, d;
    hz_civil_from_days(hz_floor_div(ms, 86400000), &y, &mo, &d);
    sb_printf(b, "%04lld-%02d-%02d", (long long)y, mo, d);
}

void sb_num(web_sb *b, double x)
{
    if (isnan(x))
        sb_puts(b, "\xe2\x80\x93");
    else
        sb_printf(b, "%.4g", x);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

long web_unescape(const char *s, size_t n, int plus_space, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            int hi = i + 1 < n ? hexval(s[i + 1]) : -1;
            int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return -1;
            c = (char)(hi << 4 | lo);
            i += 2;
        } else if (c == '+' && plus_space) {
            c = ' ';
        } else if (c == '\0') {
            return -1;
        }
        if (o + 1 >= cap)
            return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return (long)o;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    size_t n = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    if (s[0] >= 0xf8)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if (n == 3 && ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0)))
        return 0; /* overlong, surrogate */
    if (n == 4 && ((s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90)))
        return 0;
    return n;
}

json_t *web_jstr(const char *s)
{
    json_t *j = json_string(s);
    if (j)
        return j;
    web_sb b = {0};
    for (const unsigned char *c = (const unsigned char *)s; *c;) {
        size_t n = utf8_len(c);
        if (n) {
            sb_put(&b, (const char *)c, n);
            c += n;
        } else {
            sb_puts(&b, "\xef\xbf\xbd");
            c++;
        }
    }
    j = json_string(b.p ? b.p : "");
    free(b.p);
    return j;
}

json_t *web_jnum(double x)
{
    return isfinite(x) ? json_real(x) : json_null();
}

double web_getnum(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

const char *web_getstr(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "";
}
