/* cli.h — the `horizon` subcommands and what they share: one option parser for every
 * subcommand (numbers through strtol, with the option and the bad text in the message), the
 * options of the subcommands that read a YAML file (-c, -p, --series, --checkpoint), loading
 * that file and picking its pipeline, and the message prefix "horizon SUBCOMMAND: ".
 *
 * Every hz_cmd_* takes main's argc/argv shifted so that argv[0] is the subcommand name,
 * prints its own usage and errors, and returns the process exit status: HZ_EXIT_OK,
 * HZ_EXIT_FAIL or HZ_EXIT_USAGE.  Nothing here keeps argv's strings beyond the call; the
 * parsed options point into argv (borrowed). */
#ifndef HZ_CLI_H
#define HZ_CLI_H

#include <stddef.h>
#include <stdio.h>

#include "config/config.h"

enum { HZ_EXIT_OK = 0, HZ_EXIT_FAIL = 1, HZ_EXIT_USAGE = 2 };

/* `horizon import FILE --db FILE.sqlite ...` (cli/cmd_import.c, docs/IMPORT.md): HZ_EXIT_FAIL
 * also when some rows were refused (bad or duplicate: reported and kept as dead letters). */
int hz_cmd_import(int argc, char **argv);
/* `horizon train -c FILE.yaml ...` (cli/cmd_train.c) */
int hz_cmd_train(int argc, char **argv);
/* `horizon eval -c FILE.yaml ...` (cli/cmd_eval.c) */
int hz_cmd_eval(int argc, char **argv);
/* `horizon eval` of a pipeline with model.task disaggregate (cli/eval_disagg.c): every
 * appliance (or the one named) scored on the test split, printed, with its plain-transformer
 * baseline when that checkpoint exists (training/disagg.h hz_disagg_plain_checkpoint).
 * checkpoint (NULL: each appliance's own) needs appliance when p has several.  *r: the means
 * over the appliances scored.  HZ_EXIT_OK or HZ_EXIT_FAIL (message printed). */
typedef struct hz_disagg_means {
    double mae, f1;  /* the model's MAE (W) and F1 */
    double base_mae; /* the training-mean estimate's MAE */
    int plain;       /* 1: every appliance scored had a plain baseline, and: */
    double plain_mae, plain_f1;
} hz_disagg_means;
int hz_eval_disagg(const hz_config *cfg, const hz_pipeline_conf *p, const char *series,
                   const char *checkpoint, const char *appliance, hz_disagg_means *r);
/* `horizon forecast --checkpoint C --input FILE.csv ...` (cli/cmd_forecast.c) */
int hz_cmd_forecast(int argc, char **argv);
/* `horizon score --input FILE.csv ...` (cli/cmd_score.c) */
int hz_cmd_score(int argc, char **argv);

/* ---- option parsing */

/* What an option's value is and where it goes. */
typedef enum hz_cli_kind {
    HZ_CLI_FLAG,       /* no value; *(int *)dst = 1 */
    HZ_CLI_STR,        /* *(const char **)dst = the value (points into argv) */
    HZ_CLI_INT,        /* *(int *)dst = the value, an integer in [min, max] */
    HZ_CLI_DATE_ORDER, /* *(int *)dst = HZ_CSV_YMD, _MDY or _DMY for "ymd", "mdy", "dmy" */
} hz_cli_kind;

/* One option of a subcommand.  A table of them ends with an entry whose name is NULL;
 * --help and -h are always accepted. */
typedef struct hz_cli_opt {
    const char *name; /* long name without "--" */
    char key;         /* short option letter, or 0 for none */
    hz_cli_kind kind;
    void *dst;    /* borrowed; written only when the option is given */
    int min, max; /* HZ_CLI_INT: the accepted range */
} hz_cli_opt;

/* The result of hz_cli_parse when --help or -h was given (the rest is not parsed). */
#define HZ_CLI_HELP 1

/* Parses argv[1..argc-1] against opts (GNU getopt_long, so options and other arguments may
 * come in any order and argv is permuted; --name=value and abbreviations work).  Returns 0
 * with the other arguments in argv[*first_arg..argc-1] (first_arg may be NULL), HZ_CLI_HELP,
 * or an error with a message in err that names the option and the bad text:
 *   HZ_EINVAL  the command line's shape (unknown option, missing value, value given to a
 *              flag): worth showing the usage after the message;
 *   HZ_EFORMAT a value that is not a number or not one of the choices;
 *   HZ_ERANGE  a number outside [min, max] or outside int. */
int hz_cli_parse(int argc, char **argv, const hz_cli_opt *opts, int *first_arg, char *err,
                 size_t errlen);

/* text as an integer in [min, max] into *out (unchanged on error); the message names opt
 * ("--epochs: 'abc' is not an integer").  0, HZ_EFORMAT or HZ_ERANGE. */
int hz_cli_int(const char *opt, const char *text, int min, int max, int *out, char *err,
               size_t errlen);

/* "ymd", "mdy" or "dmy" into *out as HZ_CSV_YMD, _MDY, _DMY.  0 or HZ_EFORMAT. */
int hz_cli_date_order(const char *opt, const char *text, int *out, char *err, size_t errlen);

/* The end of a subcommand's parsing: for HZ_CLI_HELP prints usage to stdout and returns
 * HZ_EXIT_OK; for an error prints "horizon CMD: err" (when err is not empty) and, for
 * HZ_EINVAL, the usage, to stderr, and returns HZ_EXIT_USAGE; for 0 returns -1 (go on). */
int hz_cli_parse_exit(const char *cmd, int rc, const char *err, void (*usage)(FILE *f));

/* Prints "horizon CMD: " and the message, and a newline, to stderr. */
void hz_cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- the subcommands that read a YAML file (train, eval) */

/* -c/--config, -p/--pipeline, --series, --checkpoint: NULL when not given */
typedef struct hz_cli_model_args {
    const char *config;     /* the YAML file (required) */
    const char *pipeline;   /* NULL: the file's first pipeline */
    const char *series;     /* SQLite sources: one series; NULL: the one with most readings */
    const char *checkpoint; /* NULL: the pipeline's model.checkpoint */
} hz_cli_model_args;

/* The hz_cli_opt entries of hz_cli_model_args a, for an option table's initialiser. */
/* clang-format off */
#define HZ_CLI_MODEL_OPTS(a)                                                                       \
    {"config", 'c', HZ_CLI_STR, &(a)->config, 0, 0},                                               \
    {"pipeline", 'p', HZ_CLI_STR, &(a)->pipeline, 0, 0},                                           \
    {"series", 's', HZ_CLI_STR, &(a)->series, 0, 0},                                               \
    {"checkpoint", 0, HZ_CLI_STR, &(a)->checkpoint, 0, 0}
/* clang-format on */

/* Loads a->config and picks a->pipeline (or the first pipeline).  Returns 0 with *cfg (the
 * caller frees it with hz_config_free) and *p (owned by *cfg); else prints the error as
 * "horizon CMD: ..." and returns HZ_EXIT_FAIL with *cfg = NULL. */
int hz_cli_load(const char *cmd, const hz_cli_model_args *a, hz_config **cfg,
                const hz_pipeline_conf **p);

#endif
