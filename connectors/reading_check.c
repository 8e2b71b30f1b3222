/* reading_check.c — the time and value rules every source and `horizon import` apply
 * (reading_check.h). */
#include "connectors/reading_check.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>

/* The last time accepted plus the largest horizon × period the configuration allows
 * (window.horizon <= 100000, window.period <= 30 days: config/config_schema.c) stays far
 * inside int64 ms, so a forecast's target time cannot overflow. */
_Static_assert(HZ_TS_END_MS + 100000LL * 30 * 86400000LL < INT64_MAX / 4,
               "target times of accepted readings fit int64");

/* ms as "YYYY-MM-DDThh:mm:ssZ" (years outside 0..9999 as the raw ms). */
static void fmt_ts(int64_t ms, char *buf, size_t len)
{
    int64_t days = hz_floor_div(ms, 86400000), rem = ms - days * 86400000, y;
    int m, d;
    hz_civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999) {
        snprintf(buf, len, "%" PRId64 " ms", ms);
        return;
    }
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02dZ", (int)y, m, d, (int)(rem / 3600000),
             (int)(rem / 60000 % 60), (int)(rem / 1000 % 60));
}

int hz_check_ts(int64_t ts_ms, int64_t max_future_ms, int64_t now_ms, char *reason,
                size_t reasonlen)
{
    char when[40];
    if (ts_ms < HZ_TS_MIN_MS || ts_ms >= HZ_TS_END_MS) {
        fmt_ts(ts_ms, when, sizeof when);
        return hz_err(reason, reasonlen, HZ_ERANGE, "timestamp %s is outside " HZ_TS_RANGE, when);
    }
    if (max_future_ms <= 0 || ts_ms <= now_ms || ts_ms - now_ms <= max_future_ms)
        return 0;
    fmt_ts(ts_ms, when, sizeof when);
    return hz_err(reason, reasonlen, HZ_ERANGE,
                  "timestamp %s is %.1f h ahead of the clock (more than source.max_future, "
                  "%.1f h)",
                  when, (double)(ts_ms - now_ms) / 3.6e6, (double)max_future_ms / 3.6e6);
}

int hz_check_value(double x, char *reason, size_t reasonlen)
{
    if (isnan(x))
        return hz_err(reason, reasonlen, HZ_ERANGE, "value nan is not a number");
    if (!isfinite(x))
        return hz_err(reason, reasonlen, HZ_ERANGE, "value %g is not finite", x);
    if (fabs(x) > FLT_MAX)
        return hz_err(reason, reasonlen, HZ_ERANGE, "value %g does not fit float32 (|x| <= %g)", x,
                      (double)FLT_MAX);
    return 0;
}
