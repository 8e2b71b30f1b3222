/* notify.h — the daemon's side of systemd's notification protocol (sd_notify(3)):
 * READY=1, STATUS=..., WATCHDOG=1, STOPPING=1 and RELOADING=1 with MONOTONIC_USEC, for
 * horizond's Type=notify unit (when they are sent: service/runtime.c).
 *
 * Every call is a no-op returning 0 when NOTIFY_SOCKET is unset (run from a terminal, in
 * tests, under another supervisor).  The environment is never modified, so the daemon can
 * keep notifying across reloads.  No global state: the watchdog interval lives in the
 * hz_notify value the caller keeps. */
#ifndef HZ_NOTIFY_H
#define HZ_NOTIFY_H

#include <stdint.h>

#include "common/hz.h"

typedef struct hz_notify {
    int enabled;            /* NOTIFY_SOCKET was set at init */
    uint64_t watchdog_usec; /* WatchdogSec= in µs for this process, 0 when off */
} hz_notify;

/* Reads NOTIFY_SOCKET and sd_watchdog_enabled() (WATCHDOG_USEC/WATCHDOG_PID) into n.
 * Returns 0, or HZ_EINVAL when WATCHDOG_USEC is malformed (message names it). */
int hz_notify_init(hz_notify *n, char *err, size_t errlen);

/* How often to call hz_notify_watchdog, in µs: half of WatchdogSec=, as sd_watchdog_enabled(3)
 * recommends.  0 when the watchdog is off. */
uint64_t hz_notify_watchdog_interval_usec(const hz_notify *n);

/* Each returns 0 (also when disabled) or HZ_EIO with the socket error in err. */
int hz_notify_ready(const hz_notify *n, char *err, size_t errlen);
/* STATUS=<formatted text>; newlines in the text are replaced by spaces. */
int hz_notify_status(const hz_notify *n, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* WATCHDOG=1; a no-op when the watchdog is off. */
int hz_notify_watchdog(const hz_notify *n, char *err, size_t errlen);
int hz_notify_stopping(const hz_notify *n, char *err, size_t errlen);
/* EXTEND_TIMEOUT_USEC=usec: the current state's timeout (start-up, while a train_on_start
 * training runs) is extended to usec from now (systemd >= 236). */
int hz_notify_extend_timeout(const hz_notify *n, uint64_t usec, char *err, size_t errlen);
/* RELOADING=1 and MONOTONIC_USEC=<CLOCK_MONOTONIC now> (systemd >= 253 requires the latter for
 * Type=notify-reload; older versions ignore it).  Send hz_notify_ready when the reload is
 * done. */
int hz_notify_reloading(const hz_notify *n, char *err, size_t errlen);

#endif
