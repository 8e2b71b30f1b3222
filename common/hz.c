/* hz.c — result codes, error buffers, logging and clocks (see hz.h). */
#include "common/hz.h"

#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int hz_err(char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

const char *hz_strerror(int code)
{
    switch (code) {
    case HZ_OK:
        return "success";
    case HZ_EINVAL:
        return "invalid input";
    case HZ_ENOMEM:
        return "out of memory";
    case HZ_EIO:
        return "i/o error";
    case HZ_ENOTFOUND:
        return "not found";
    case HZ_EFORMAT:
        return "malformed data";
    case HZ_ERANGE:
        return "out of range";
    case HZ_EAGAIN:
        return "try again";
    case HZ_EDB:
        return "database error";
    case HZ_EKAFKA:
        return "kafka error";
    case HZ_ESTATE:
        return "wrong state";
    default:
        return "unknown error";
    }
}

static const char *level_name(int level)
{
    switch (level) {
    case HZ_LOG_ERR:
        return "error";
    case HZ_LOG_WARN:
        return "warning";
    case HZ_LOG_NOTICE:
        return "notice";
    case HZ_LOG_INFO:
        return "info";
    default:
        return "debug";
    }
}

void hz_log(const hz_logger *lg, int level, const char *fmt, ...)
{
    int max = lg ? lg->max_level : HZ_LOG_INFO;
    if (level > max)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (lg && lg->fn) {
        lg->fn(lg->opaque, level, msg);
        return;
    }
    if (isatty(STDERR_FILENO))
        fprintf(stderr, "%s: %s\n", level_name(level), msg);
    else
        fprintf(stderr, "<%d>%s\n", level, msg);
}

int64_t hz_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t hz_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t hz_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void hz_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

int hz_grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *np = realloc(*p, c * elem);
    if (!np)
        return HZ_ENOMEM;
    *p = np;
    *cap = c;
    return 0;
}

void hz_on_signal(int sig, void (*handler)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = handler;
    sigaction(sig, &sa, NULL);
}

/* The digits of n (< 10^9) into buf, most significant first; returns how many. */
static int put_digits(uint32_t n, char *buf)
{
    char tmp[10];
    int k = 0;
    do {
        tmp[k++] = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    for (int i = 0; i < k; i++)
        buf[i] = tmp[k - 1 - i];
    return k;
}

static const double P10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                               1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                               1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* floor(log10(x)) for finite x > 0, without log10 where the table reaches (a forecast row's
 * 120 numbers are formatted on the SQLite writer's thread: connectors/sqlite_latest.c). */
static int dec_exp(double x)
{
    int k;
    frexp(x, &k); /* x in [2^(k-1), 2^k) */
    int e = (int)floor((k - 1) * 0.30102999566398120);
    if (e < -22 || e > 21)
        return (int)floor(log10(x));
    /* e or e + 1 (the octave spans 0.30 decades); hz_fmt7 mends an ulp's miss at 10^n */
    return (e >= 0 ? x >= P10[e + 1] : x * P10[-e] >= 10) ? e + 1 : e;
}

int hz_fmt7(double x, char *buf)
{
    int o = 0;
    if (x < 0) {
        buf[o++] = '-';
        x = -x;
    }
    if (x == 0 || !isfinite(x)) {
        buf[o++] = '0';
        buf[o] = 0;
        return o;
    }
    int e = dec_exp(x);
    /* [1e6, 1e7) but for rounding at the edges; powers of ten to 1e22 are exact doubles */
    double m = e - 6 > 22 || 6 - e > 22 ? x / pow(10, e - 6)
               : e >= 6                 ? x / P10[e - 6]
                                        : x * P10[6 - e];
    uint32_t d = (uint32_t)llround(m);
    if (d >= 10000000u) {
        d /= 10;
        e++;
    } else if (d < 1000000u) {
        d = (uint32_t)llround(m * 10);
        e--;
    }
    char dig[8];
    put_digits(d, dig); /* exactly 7 */
    int last = 6;
    while (last > 0 && dig[last] == '0')
        last--;
    if (e >= 9 || e < -5) { /* d.dddddde+XX */
        buf[o++] = dig[0];
        if (last > 0) {
            buf[o++] = '.';
            for (int i = 1; i <= last; i++)
                buf[o++] = dig[i];
        }
        buf[o++] = 'e';
        buf[o++] = e < 0 ? '-' : '+';
        int ae = e < 0 ? -e : e;
        if (ae < 10)
            buf[o++] = '0';
        o += put_digits((uint32_t)ae, buf + o);
    } else if (e >= 0) { /* integer part e + 1 digits */
        for (int i = 0; i <= e; i++)
            buf[o++] = i < 7 ? dig[i] : '0';
        if (last > e) {
            buf[o++] = '.';
            for (int i = e + 1; i <= last; i++)
                buf[o++] = dig[i];
        }
    } else { /* 0.000ddd */
        buf[o++] = '0';
        buf[o++] = '.';
        for (int i = 0; i < -e - 1; i++)
            buf[o++] = '0';
        for (int i = 0; i <= last; i++)
            buf[o++] = dig[i];
    }
    buf[o] = 0;
    return o;
}
