/* main.c — the `horizon` tool: one binary, one subcommand per job (docs/ARCHITECTURE.md).
 * main looks the subcommand up in cmds[] and calls hz_cmd_<name> (cli/cli.h) with argv
 * shifted so that argv[0] is the subcommand; a usage error exits HZ_EXIT_USAGE (2). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "common/blas_env.h"
#include "common/hz.h"

#define HZ_VERSION "0.1.0"

static void usage(FILE *f)
{
    fprintf(f, "usage: horizon SUBCOMMAND [options]\n"
               "\n"
               "subcommands:\n"
               "  import     load a CSV into the SQLite readings table\n"
               "  train      train a pipeline's model on its data (-c FILE.yaml)\n"
               "  eval       backtest a checkpoint on the held-out test split\n"
               "  forecast   forecast from the last rows of a CSV with a checkpoint\n"
               "  score      score every row of a CSV for anomalies, as a stream\n"
               "  version    print the version\n"
               "\n"
               "`horizon SUBCOMMAND --help` describes each.\n");
}

int main(int argc, char **argv)
{
    hz_blas_select_kernels(argv);
    if (argc < 2) {
        usage(stderr);
        return HZ_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return HZ_EXIT_OK;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("horizon %s\n", HZ_VERSION);
        return HZ_EXIT_OK;
    }
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {{"import", hz_cmd_import},
                {"train", hz_cmd_train},
                {"eval", hz_cmd_eval},
                {"forecast", hz_cmd_forecast},
                {"score", hz_cmd_score}};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(cmd, cmds[i].name))
            return cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "horizon: unknown subcommand '%s'\n", cmd);
    usage(stderr);
    return HZ_EXIT_USAGE;
}
