/* cli.c — what the `horizon` subcommands share (cli.h): the option parser over GNU
 * getopt_long, number and choice parsing with messages that name the option and the bad
 * text, the "horizon SUBCOMMAND: " message prefix, and the YAML file and pipeline of train
 * and eval. */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/hz.h"
#include "connectors/csv.h"

/* getopt_long's value for opts[i] when it has no short letter (above every char) */
#define LONG_VAL 256
#define MAX_OPTS 32

void hz_cli_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "horizon %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int hz_cli_int(const char *opt, const char *text, int min, int max, int *out, char *err,
               size_t errlen)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (end == text || *end)
        return hz_err(err, errlen, HZ_EFORMAT, "%s: '%s' is not an integer", opt, text);
    int outside = errno == ERANGE || v < min || v > max;
    if (outside && max != INT_MAX)
        return hz_err(err, errlen, HZ_ERANGE, "%s: '%s' is out of range (%d to %d)", opt, text, min,
                      max);
    if (outside && v > 0)
        return hz_err(err, errlen, HZ_ERANGE, "%s: '%s' is too large", opt, text);
    if (outside)
        return hz_err(err, errlen, HZ_ERANGE, "%s: '%s' is out of range (at least %d)", opt, text,
                      min);
    *out = (int)v;
    return 0;
}

int hz_cli_date_order(const char *opt, const char *text, int *out, char *err, size_t errlen)
{
    static const char *const names[] = {"ymd", "mdy", "dmy"};
    static const int orders[] = {HZ_CSV_YMD, HZ_CSV_MDY, HZ_CSV_DMY};
    for (int i = 0; i < 3; i++)
        if (!strcmp(text, names[i])) {
            *out = orders[i];
            return 0;
        }
    return hz_err(err, errlen, HZ_EFORMAT, "%s: expected ymd, mdy or dmy, got '%s'", opt, text);
}

/* The option getopt_long reported as val (a short letter or LONG_VAL + index), or NULL. */
static const hz_cli_opt *find_opt(const hz_cli_opt *opts, int val)
{
    for (int i = 0; opts[i].name; i++)
        if (opts[i].key ? opts[i].key == val : LONG_VAL + i == val)
            return &opts[i];
    return NULL;
}

/* The message for getopt_long's '?' (unknown option, or a value given to a flag) and ':'
 * (missing value); argv[optind - 1] is the argument it was reading. */
static int getopt_error(int ch, int argc, char **argv, const hz_cli_opt *opts, char *err,
                        size_t errlen)
{
    const hz_cli_opt *o = optopt ? find_opt(opts, optopt) : NULL;
    const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
    if (ch == ':' && o)
        return hz_err(err, errlen, HZ_EINVAL, "--%s needs a value", o->name);
    if (o)
        return hz_err(err, errlen, HZ_EINVAL, "--%s takes no value", o->name);
    if (optopt > 0 && optopt < LONG_VAL)
        return hz_err(err, errlen, HZ_EINVAL, "unknown option '-%c'", optopt);
    return hz_err(err, errlen, HZ_EINVAL, "unknown option '%s'", arg);
}

/* Stores val (getopt's optarg) where o says; a message names the option by its long name. */
static int store(const hz_cli_opt *o, const char *val, char *err, size_t errlen)
{
    char name[64];
    snprintf(name, sizeof name, "--%s", o->name);
    switch (o->kind) {
    case HZ_CLI_FLAG:
        *(int *)o->dst = 1;
        return 0;
    case HZ_CLI_STR:
        *(const char **)o->dst = val;
        return 0;
    case HZ_CLI_INT:
        return hz_cli_int(name, val, o->min, o->max, o->dst, err, errlen);
    case HZ_CLI_DATE_ORDER:
        return hz_cli_date_order(name, val, o->dst, err, errlen);
    }
    return hz_err(err, errlen, HZ_EINVAL, "--%s: unknown option kind", o->name);
}

int hz_cli_parse(int argc, char **argv, const hz_cli_opt *opts, int *first_arg, char *err,
                 size_t errlen)
{
    struct option lo[MAX_OPTS + 2];
    char so[2 * MAX_OPTS + 3] = ":h"; /* ':' first: a missing value is ':', not '?' */
    size_t n = 0, sl = 2;
    for (; opts[n].name; n++) {
        if (n == MAX_OPTS)
            return hz_err(err, errlen, HZ_EINVAL, "more than %d options", MAX_OPTS);
        int has_arg = opts[n].kind == HZ_CLI_FLAG ? no_argument : required_argument;
        lo[n] = (struct option){opts[n].name, has_arg, NULL,
                                opts[n].key ? opts[n].key : LONG_VAL + (int)n};
        if (opts[n].key) {
            so[sl++] = opts[n].key;
            if (has_arg)
                so[sl++] = ':';
        }
    }
    so[sl] = 0;
    lo[n] = (struct option){"help", no_argument, NULL, 'h'};
    lo[n + 1] = (struct option){NULL, 0, NULL, 0};
    optind = 0; /* GNU getopt: full re-initialisation, so a second call works */
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, so, lo, NULL)) != -1) {
        if (ch == 'h')
            return HZ_CLI_HELP;
        if (ch == '?' || ch == ':')
            return getopt_error(ch, argc, argv, opts, err, errlen);
        const hz_cli_opt *o = find_opt(opts, ch);
        int rc = o ? store(o, optarg, err, errlen)
                   : hz_err(err, errlen, HZ_EINVAL, "unknown option '%s'", argv[optind - 1]);
        if (rc)
            return rc;
    }
    if (first_arg)
        *first_arg = optind;
    return 0;
}

int hz_cli_parse_exit(const char *cmd, int rc, const char *err, void (*usage)(FILE *f))
{
    if (rc == 0)
        return -1;
    if (rc == HZ_CLI_HELP) {
        usage(stdout);
        return HZ_EXIT_OK;
    }
    if (err && *err)
        hz_cli_error(cmd, "%s", err);
    if (rc == HZ_EINVAL)
        usage(stderr);
    return HZ_EXIT_USAGE;
}

int hz_cli_load(const char *cmd, const hz_cli_model_args *a, hz_config **cfg,
                const hz_pipeline_conf **p)
{
    char err[HZ_ERRLEN];
    *p = NULL;
    if (hz_config_load(a->config, cfg, err, sizeof err)) {
        hz_cli_error(cmd, "%s", err);
        return HZ_EXIT_FAIL;
    }
    if (a->pipeline) {
        *p = hz_config_pipeline(*cfg, a->pipeline);
        if (!*p)
            hz_cli_error(cmd, "%s: no pipeline named '%s'", (*cfg)->path, a->pipeline);
    } else if ((*cfg)->n_pipelines) {
        *p = &(*cfg)->pipelines[0];
    } else {
        hz_cli_error(cmd, "%s: no pipelines", (*cfg)->path);
    }
    if (!*p) {
        hz_config_free(*cfg);
        *cfg = NULL;
        return HZ_EXIT_FAIL;
    }
    return 0;
}
