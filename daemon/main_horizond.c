/* main_horizond.c — the daemon (DESIGN.md, "Programs").  Until the daemon issue lands it
 * only validates its configuration (`--check`) and prints the configuration reference
 * (`--dump-schema`, the text of docs/CONFIG.md). */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "blas_env.h"
#include "hz.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: horizond -c FILE.yaml [--check]\n"
               "       horizond --dump-schema\n"
               "\n"
               "  -c FILE        configuration file (see docs/CONFIG.md)\n"
               "  --check        validate the configuration and exit\n"
               "  --dump-schema  print the configuration reference (markdown) and exit\n");
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
    if (hz_config_load(file, &cfg, err, sizeof err)) {
        fprintf(stderr, "horizond: %s\n", err);
        return 1;
    }
    size_t n = cfg->n_pipelines;
    hz_config_free(cfg);
    if (check) {
        printf("%s: ok (%zu pipeline%s)\n", file, n, n == 1 ? "" : "s");
        return 0;
    }
    fprintf(stderr, "horizond: %s is valid, but the daemon runtime is not built yet\n", file);
    return 2;
}
