/* notify.c — thin wrapper over libsystemd's sd_notify(3) and sd_watchdog_enabled(3) for a
 * Type=notify service (notify.h; the unit is deploy/'s). */
#include "service/notify.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>

int hz_notify_init(hz_notify *n, char *err, size_t errlen)
{
    n->enabled = getenv("NOTIFY_SOCKET") != NULL && getenv("NOTIFY_SOCKET")[0] != '\0';
    n->watchdog_usec = 0;
    uint64_t usec = 0;
    int r = sd_watchdog_enabled(0, &usec);
    if (r < 0)
        return hz_err(err, errlen, HZ_EINVAL,
                      "environment: WATCHDOG_USEC/WATCHDOG_PID malformed (%s)", strerror(-r));
    if (r > 0)
        n->watchdog_usec = usec;
    return 0;
}

uint64_t hz_notify_watchdog_interval_usec(const hz_notify *n)
{
    return n->watchdog_usec / 2;
}

static int notify_send(const hz_notify *n, const char *state, char *err, size_t errlen)
{
    if (!n->enabled)
        return 0;
    int r = sd_notify(0, state);
    if (r < 0)
        return hz_err(err, errlen, HZ_EIO, "sd_notify to $NOTIFY_SOCKET failed: %s", strerror(-r));
    return 0;
}

int hz_notify_ready(const hz_notify *n, char *err, size_t errlen)
{
    return notify_send(n, "READY=1", err, errlen);
}

int hz_notify_status(const hz_notify *n, char *err, size_t errlen, const char *fmt, ...)
{
    if (!n->enabled)
        return 0;
    char buf[512];
    int k = snprintf(buf, sizeof buf, "STATUS=");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + k, sizeof buf - (size_t)k, fmt, ap);
    va_end(ap);
    for (char *p = buf; *p; p++) /* one STATUS= line: a newline would start a new field */
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    return notify_send(n, buf, err, errlen);
}

int hz_notify_watchdog(const hz_notify *n, char *err, size_t errlen)
{
    if (!n->watchdog_usec)
        return 0;
    return notify_send(n, "WATCHDOG=1", err, errlen);
}

int hz_notify_stopping(const hz_notify *n, char *err, size_t errlen)
{
    return notify_send(n, "STOPPING=1", err, errlen);
}

int hz_notify_extend_timeout(const hz_notify *n, uint64_t usec, char *err, size_t errlen)
{
    char buf[64];
    snprintf(buf, sizeof buf, "EXTEND_TIMEOUT_USEC=%llu", (unsigned long long)usec);
    return notify_send(n, buf, err, errlen);
}

int hz_notify_reloading(const hz_notify *n, char *err, size_t errlen)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char buf[96];
    snprintf(buf, sizeof buf, "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
    return notify_send(n, buf, err, errlen);
}
