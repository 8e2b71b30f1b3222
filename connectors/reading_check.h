/* reading_check.h — the rules every source (Kafka's codec_json.c, sqlite_source.c, the CSV
 * reader in csv.c) and `horizon import` apply to a reading's time and values before it is
 * stored: a reading that breaks one is refused into dead letters with the reason, never
 * altered (docs/MESSAGES.md "What every source refuses").
 *
 * Time: [1970-01-01T00:00:00Z, 2201-01-01T00:00:00Z).  Any ts in it plus horizon × period
 * (at most 100000 × 30 days, config/config_schema.c) stays far inside int64 ms, so the
 * forecaster's target times cannot overflow.  With a max_future > 0, a ts more than that
 * ahead of the wall clock is refused too (a replay of history is never ahead of it).
 *
 * Values: a present value must be finite and fit float32 (|x| <= FLT_MAX): windows and
 * models hold float32. */
#ifndef HZ_READING_CHECK_H
#define HZ_READING_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "common/hz.h"

#define HZ_TS_MIN_MS 0LL             /* 1970-01-01T00:00:00Z */
#define HZ_TS_END_MS 7289654400000LL /* 2201-01-01T00:00:00Z, excluded */
#define HZ_TS_RANGE  "1970-01-01..2200-12-31"

/* 0, or HZ_ERANGE with reason "timestamp 2300-01-01T00:00:00Z is outside 1970-01-01..
 * 2200-12-31" or "timestamp 2100-01-01T00:00:00Z is 657432.0 h ahead of the clock (more
 * than source.max_future, 24.0 h)".  max_future_ms 0: no limit; now_ms: the wall clock. */
int hz_check_ts(int64_t ts_ms, int64_t max_future_ms, int64_t now_ms, char *reason,
                size_t reasonlen);

/* 0 for a finite x with |x| <= FLT_MAX, else HZ_ERANGE with reason "value nan is not a
 * number", "value inf is not finite" or "value 1e+39 does not fit float32 (|x| <=
 * 3.40282e+38)".  NaN is refused too:
 * a missing value is the caller's to recognise (JSON null, an --na token) before this. */
int hz_check_value(double x, char *reason, size_t reasonlen);

#endif
