/* hz.h — result codes, error buffers and logging shared by every module.
 *
 * Library code returns 0 or a negative HZ_E* code and, when it fails, writes a message a
 * person can act on into a caller-supplied buffer (librdkafka's errstr habit). Messages start
 * lower-case and name the input (`file.yaml:12:5: ...`). Only main() exits. */
#ifndef HZ_H
#define HZ_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

enum {
    HZ_OK = 0,
    HZ_EINVAL = -1,    /* bad input: config, file, message */
    HZ_ENOMEM = -2,    /* allocation failed */
    HZ_EIO = -3,       /* read/write/syscall failed */
    HZ_ENOTFOUND = -4, /* named thing does not exist */
    HZ_EFORMAT = -5,   /* malformed file or message */
    HZ_ERANGE = -6,    /* number out of range */
    HZ_EAGAIN = -7,    /* nothing yet; try again */
    HZ_EDB = -8,       /* SQLite error */
    HZ_EKAFKA = -9,    /* Kafka error */
    HZ_ESTATE = -10,   /* called in the wrong state */
};

/* Size callers use for error buffers. */
#define HZ_ERRLEN 512

/* Writes a formatted message into err (size errlen, may be NULL) and returns code, so that
 * `return hz_err(err, errlen, HZ_EINVAL, "...", ...)` reads as one statement. */
int hz_err(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Short name of a result code ("invalid input", ...); never NULL. */
const char *hz_strerror(int code);

/* Logging: levels follow syslog numbering so journald shows them (sd-daemon <N> prefixes). */
enum { HZ_LOG_ERR = 3, HZ_LOG_WARN = 4, HZ_LOG_NOTICE = 5, HZ_LOG_INFO = 6, HZ_LOG_DEBUG = 7 };

/* Log sink; the default writes "<N>message\n" to stderr when stderr is not a terminal
 * (journald parses the prefix) and "level: message\n" otherwise. */
typedef void (*hz_log_fn)(void *opaque, int level, const char *msg);

typedef struct hz_logger {
    hz_log_fn fn; /* NULL: default stderr sink */
    void *opaque;
    int max_level; /* messages above this level are dropped */
} hz_logger;

/* Logs through lg (NULL: default stderr sink at HZ_LOG_INFO). */
void hz_log(const hz_logger *lg, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Days since 1970-01-01 of a proleptic Gregorian date, and back (H. Hinnant's algorithms). */
int64_t hz_days_from_civil(int64_t y, int m, int d);
void hz_civil_from_days(int64_t z, int64_t *y, int *m, int *d);

/* Grows *p (an array of elem-sized items, capacity *cap) to hold at least need items,
 * doubling from 64.  Returns 0 or HZ_ENOMEM (then *p is unchanged). */
int hz_grow(void **p, size_t *cap, size_t need, size_t elem);

/* a / b rounded towards minus infinity (a time's slot, day or period before 1970 too). */
static inline int64_t hz_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0) && ((a < 0) != (b < 0)) ? q - 1 : q;
}

/* x (finite) as a decimal number of 7 significant digits, trailing zeros dropped, an
 * exponent when |x| >= 1e9 or < 1e-5 ("1.234568e+12"); valid JSON and SQL.  Writes at most
 * HZ_FMT7_MAX bytes with the NUL; returns the length.  For float values at rates where
 * snprintf("%.7g") (multi-precision in glibc) dominates: connectors/sqlite_latest.c. */
#define HZ_FMT7_MAX 20
int hz_fmt7(double x, char *buf);

/* Wall-clock time in ms since the epoch, and a monotonic clock in ns. */
int64_t hz_now_ms(void);
int64_t hz_mono_ns(void);

/* Installs handler for sig with sigaction (no flags, nothing blocked); SIG_IGN / SIG_DFL
 * too. */
void hz_on_signal(int sig, void (*handler)(int));

#endif
