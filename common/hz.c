/* hz.c — result codes, error buffers, logging and clocks (see hz.h). */
#include "common/hz.h"

#include <signal.h>
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
