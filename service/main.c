/* main.c — horizond, the daemon (docs/ARCHITECTURE.md): `horizond -c FILE` runs every
 * pipeline of the file (service/runtime.h) until SIGTERM/SIGINT, reloading it on SIGHUP;
 * `--check` validates the file as start and SIGHUP do (hz_runtime_load: the file, and what
 * its pipelines need to run — checkpoints, Kafka properties, the metrics address); `--dump-schema`
 * prints the configuration reference (docs/CONFIG.md).  The signal handlers only set flags; the
 * event loop acts on them. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "common/blas_env.h"
#include "config/config.h"
#include "common/hz.h"
#include "service/runtime.h"

static atomic_int g_stop;              /* set by the handlers only (lock-free: signal-safe) */
static volatile sig_atomic_t g_reload; /* set by the handler only */

static void on_stop(int sig)
{
    (void)sig;
    atomic_store(&g_stop, 1);
}

static void on_hup(int sig)
{
    (void)sig;
    g_reload = 1;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: horizond -c FILE.yaml [--check]\n"
               "       horizond --dump-schema\n"
               "\n"
               "  -c FILE        configuration file (see docs/CONFIG.md); runs its pipelines\n"
               "  --check        validate the configuration as start and SIGHUP do (the file,\n"
               "                 metrics address, Kafka properties, every checkpoint) and exit\n"
               "  --dump-schema  print the configuration reference (markdown) and exit\n"
               "\n"
               "Signals: SIGHUP reloads FILE (changed pipelines restart), SIGTERM/SIGINT drain\n"
               "and exit.  Logs go to stderr (journald levels when not a terminal).\n");
}

int main(int argc, char **argv)
{
    hz_blas_select_kernels(argv);
    const char *file = NULL;
    int check = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--dump-schema")) {
            return hz_config_write_doc(stdout) || fflush(stdout) ? 1 : 0;
        } else if (!strcmp(argv[i], "--check")) {
            check = 1;
        } else if (!strcmp(argv[i], "-c")) {
            if (i + 1 == argc) {
                fprintf(stderr, "horizond: -c needs a FILE\n");
                return 2;
            }
            file = argv[++i];
        } else {
            fprintf(stderr, "horizond: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!file) {
        usage(stderr);
        return 2;
    }
    char err[HZ_ERRLEN];
    hz_config *cfg = NULL;
    if (hz_runtime_load(file, &cfg, err, sizeof err)) {
        fprintf(stderr, "horizond: %s\n", err);
        return 1;
    }
    if (check) {
        size_t n = cfg->n_pipelines;
        hz_config_free(cfg);
        printf("%s: ok (%zu pipeline%s)\n", file, n, n == 1 ? "" : "s");
        return 0;
    }
    hz_on_signal(SIGTERM, on_stop);
    hz_on_signal(SIGINT, on_stop);
    hz_on_signal(SIGHUP, on_hup);
    hz_on_signal(SIGPIPE, SIG_IGN);
    hz_runtime_flags flags = {&g_stop, &g_reload};
    if (hz_runtime_run(cfg, &flags, err, sizeof err)) {
        hz_log(NULL, HZ_LOG_ERR, "horizond: %s", err);
        return 1;
    }
    return 0;
}
