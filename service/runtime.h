/* runtime.h — horizond's event loop: every pipeline of the configuration
 * (pipeline/pipeline.h), one thread, redis-style: each turn polls every pipeline's source
 * with a short timeout, then cron runs the periodic jobs that are due (restart of failed
 * pipelines, metrics refresh, systemd STATUS= line, watchdog ping).  Signals are seen
 * through flags the caller's handlers set:
 *   *reload (SIGHUP): the file is read again and checked whole (hz_runtime_load) before
 *     anything running changes; a refused file is logged, shown on the STATUS= line and
 *     counted (horizon_config_reloads_total{result="refused"}), and every pipeline keeps
 *     running as it was (a changed pipeline that passed the check but does not start runs
 *     its previous settings again).  Then pipelines whose effective settings changed
 *     (hz_config_pipeline_equal) are drained and restarted, new ones started, removed ones
 *     drained and stopped, unchanged ones keep running with their windows.  A file that
 *     does not load is logged and the running configuration kept.
 *   *stop (SIGTERM/SIGINT): every pipeline forecasts what is pending, flushes its sinks and
 *     acknowledges its source, within shutdown_timeout; then the loop returns.
 * A pipeline that fails (at start or later) is logged, reported unhealthy on /healthz and
 * restarted after a back-off; the others go on.  docs/ARCHITECTURE.md lists the timers. */
#ifndef HZ_RUNTIME_H
#define HZ_RUNTIME_H

#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>

#include "config/config.h"
#include "common/hz.h"

typedef struct hz_runtime_flags {
    atomic_int *stop; /* also ends a train_on_start training in progress */
    volatile sig_atomic_t *reload;
} hz_runtime_flags;

/* Everything a configuration needs to run, beyond what hz_config_load checks: the metrics
 * address is allowed (loopback unless metrics.allow_public) and every pipeline passes
 * hz_pipeline_check (Kafka properties accepted by librdkafka, checkpoint present or trained
 * at start, loading and matching its window and variables).  Returns 0 or HZ_E*. */
int hz_runtime_check(const hz_config *cfg, char *err, size_t errlen);

/* The one validation of `horizond --check`, start and SIGHUP: hz_config_load, then
 * hz_runtime_check.  Returns 0 and *out (hz_config_free), or HZ_E* with *out = NULL. */
int hz_runtime_load(const char *path, hz_config **out, char *err, size_t errlen);

/* Runs cfg (ownership passes to the runtime, which frees it) until *flags->stop.  Returns 0
 * after a clean drain, or HZ_E* (message in err) when the daemon could not start (metrics
 * address in use) or a drain failed. */
int hz_runtime_run(hz_config *cfg, const hz_runtime_flags *flags, char *err, size_t errlen);

#endif
