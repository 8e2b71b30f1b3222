/* cmd_import.c — `horizon import`: streams a CSV (connectors/csv.c) into the SQLite readings
 * table (connectors/sqlite_sink.c), one row per variable per timestamp, committing every
 * --batch rows so an interrupted import keeps what it committed and a re-run is idempotent
 * (upserts).  Bad rows are reported, skipped and kept as dead letters (exit status 1).
 * Progress bar on a terminal, plain log lines otherwise. */
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/hz.h"
#include "connectors/csv.h"
#include "connectors/sqlite_sink.h"

#define CMD "import"

typedef struct import_args {
    const char *file;   /* the CSV */
    const char *db;     /* the SQLite file */
    const char *series; /* --series, else the file name without extension (in sname) */
    hz_csv_opts co;     /* its columns point into cols, cols into argv */
    const char *cols[HZ_MAX_VARS];
    char sname[256];
    int batch; /* rows per transaction */
    int quiet;
} import_args;

/* What an import did, for the summary. */
typedef struct import_stats {
    size_t rows, values, bad;
    double secs;
} import_stats;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: horizon import FILE.csv --db FILE.sqlite [options]\n"
            "\n"
            "Loads a CSV into the readings table (series, variable, ts, value), one row per\n"
            "variable per timestamp.  Re-running is idempotent.  Bad rows are reported with\n"
            "file:line:column, skipped and kept in dead_letters; the exit status is then 1.\n"
            "\n"
            "options:\n"
            "  --db FILE            SQLite database (created with horizon's schema if absent)\n"
            "  --series NAME        series id (default: the file name without extension)\n"
            "  --time-column C      timestamp column (default: the first column)\n"
            "  --time-column2 C     a separate time-of-day column joined to the date\n"
            "  --columns a,b,c      value columns (default: every other column, at most %d)\n"
            "  --delimiter X        field separator: , ; tab (default: detected)\n"
            "  --date-order ORDER   slashed dates: ymd (default), mdy (10/1/1999), dmy\n"
            "  --na TOKENS          comma-separated tokens read as missing (e.g. \"?,NA\");\n"
            "                       missing and empty values are then skipped, not errors\n"
            "  --batch N            rows per transaction, at least 1 (default 50000)\n"
            "  --quiet              no progress output\n"
            "  -h, --help           this text\n",
            HZ_MAX_VARS);
}

static int split_columns(char *list, const char **cols, int max)
{
    int n = 0;
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (n == max)
            return -1;
        cols[n++] = t;
    }
    return n;
}

/* The options that need more than hz_cli_parse: --delimiter, --columns, --na, the default
 * series. */
static int finish_args(import_args *a, const char *delim, char *columns, char *err, size_t errlen)
{
    if (delim) {
        int tab = !strcmp(delim, "tab") || !strcmp(delim, "\\t");
        if (!tab && strlen(delim) != 1)
            return hz_err(err, errlen, HZ_EFORMAT,
                          "--delimiter: expected one character or 'tab', got '%s'", delim);
        a->co.delimiter = tab ? '\t' : delim[0];
    }
    if (columns) {
        a->co.ncolumns = split_columns(columns, a->cols, HZ_MAX_VARS);
        if (a->co.ncolumns <= 0)
            return hz_err(err, errlen, HZ_ERANGE,
                          "--columns: expected 1 to %d names separated by commas", HZ_MAX_VARS);
        a->co.columns = a->cols;
    }
    a->co.allow_empty = a->co.na_values != NULL;
    if (!a->series) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s", a->file);
        snprintf(a->sname, sizeof a->sname, "%s", basename(tmp));
        char *dot = strrchr(a->sname, '.');
        if (dot && dot != a->sname)
            *dot = 0;
        a->series = a->sname;
    }
    return 0;
}

static int parse(int argc, char **argv, import_args *a, char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    a->batch = 50000;
    a->co.date_order = HZ_CSV_YMD;
    const char *delim = NULL;
    char *columns = NULL; /* split in place by finish_args */
    const hz_cli_opt opts[] = {{"db", 0, HZ_CLI_STR, &a->db, 0, 0},
                               {"series", 0, HZ_CLI_STR, &a->series, 0, 0},
                               {"time-column", 0, HZ_CLI_STR, &a->co.time_column, 0, 0},
                               {"time-column2", 0, HZ_CLI_STR, &a->co.time_column2, 0, 0},
                               {"columns", 0, HZ_CLI_STR, &columns, 0, 0},
                               {"delimiter", 0, HZ_CLI_STR, &delim, 0, 0},
                               {"date-order", 0, HZ_CLI_DATE_ORDER, &a->co.date_order, 0, 0},
                               {"na", 0, HZ_CLI_STR, &a->co.na_values, 0, 0},
                               {"batch", 0, HZ_CLI_INT, &a->batch, 1, INT_MAX},
                               {"quiet", 0, HZ_CLI_FLAG, &a->quiet, 0, 0},
                               {NULL, 0, 0, NULL, 0, 0}};
    int first, rc = hz_cli_parse(argc, argv, opts, &first, err, errlen);
    if (rc)
        return rc;
    /* GNU getopt permutes argv, so the file may come before, among or after the options */
    if (first != argc - 1 || !a->db)
        return hz_err(err, errlen, HZ_EINVAL, "need one CSV file and --db");
    a->file = argv[first];
    return finish_args(a, delim, columns, err, errlen);
}

static void progress(int tty, uint64_t done, uint64_t total, size_t rows, double secs)
{
    double frac = total ? (double)done / (double)total : 0;
    if (frac > 1)
        frac = 1;
    double rate = secs > 0 ? rows / secs : 0;
    if (tty) {
        char bar[41];
        int fill = (int)(frac * 40);
        for (int i = 0; i < 40; i++)
            bar[i] = i < fill ? '#' : ' ';
        bar[40] = 0;
        fprintf(stderr, "\r[%s] %3d%% %zu rows %.0f rows/s", bar, (int)(frac * 100), rows, rate);
    } else {
        fprintf(stderr, "import: %d%% %zu rows %.0f rows/s\n", (int)(frac * 100), rows, rate);
    }
}

/* A bad row: reported (the first ten), counted and kept as a dead letter. */
static int dead_letter(hz_csv_reader *r, hz_sink *k, int tty, import_stats *st, char *err,
                       size_t errlen)
{
    if (st->bad < 10) /* err holds the row's error until write_dead reuses it */
        fprintf(stderr, "%shorizon " CMD ": %s\n", tty ? "\n" : "", err);
    else if (st->bad == 10)
        hz_cli_error(CMD, "more bad rows; see the dead_letters table");
    st->bad++;
    size_t len;
    const char *raw = hz_csv_record(r, &len);
    hz_dead_letter d = {.origin = hz_csv_error_origin(r),
                        .reason = hz_csv_error_reason(r),
                        .payload = raw,
                        .payload_len = len,
                        .ts_ms = hz_now_ms()};
    return k->ops->write_dead(k, "import", &d, 1, err, errlen);
}

/* Every row of r into k, committed every a->batch rows and at the end.  0 or HZ_E* with a
 * message in err; st counts what was done either way. */
static int import_rows(const import_args *a, hz_csv_reader *r, hz_sink *k, int tty,
                       import_stats *st, char *err, size_t errlen)
{
    int nv = hz_csv_ncols(r);
    const char *names[HZ_MAX_VARS];
    for (int j = 0; j < nv; j++)
        names[j] = hz_csv_colname(r, j);
    int64_t t0 = hz_mono_ns(), last_report = t0;
    size_t in_batch = 0;
    int rc = 0;
    hz_reading rd = {.series = a->series, .nvars = nv, .pos = {-1, 0}};
    while (!rc) {
        int got = hz_csv_next(r, &rd.ts_ms, rd.values, err, errlen);
        if (got == 0)
            break;
        if (got == HZ_EFORMAT) {
            rc = dead_letter(r, k, tty, st, err, errlen);
            continue;
        }
        if (got < 0) {
            rc = got;
            break;
        }
        rd.pos.offset = hz_csv_line(r);
        if ((rc = k->ops->write_readings(k, "import", names, &rd, 1, err, errlen)))
            break;
        st->rows++;
        for (int j = 0; j < nv; j++)
            st->values += rd.values[j] == rd.values[j]; /* NaN (missing) is not stored */
        if (++in_batch >= (size_t)a->batch) {
            if ((rc = k->ops->flush(k, -1, err, errlen)))
                break;
            in_batch = 0;
        }
        int64_t now = hz_mono_ns();
        if (!a->quiet && now - last_report > (tty ? 100000000LL : 1000000000LL)) {
            progress(tty, hz_csv_bytes_read(r), hz_csv_file_size(r), st->rows, (now - t0) / 1e9);
            last_report = now;
        }
    }
    if (!rc)
        rc = k->ops->flush(k, -1, err, errlen);
    st->secs = (hz_mono_ns() - t0) / 1e9;
    return rc;
}

static int run(const import_args *a)
{
    char err[HZ_ERRLEN];
    hz_csv_reader *r = hz_csv_open(a->file, &a->co, err, sizeof err);
    if (!r) {
        hz_cli_error(CMD, "%s", err);
        return HZ_EXIT_FAIL;
    }
    int nv = hz_csv_ncols(r);
    if (nv > HZ_MAX_VARS) {
        hz_cli_error(CMD, "%s has %d value columns; choose at most %d with --columns", a->file, nv,
                     HZ_MAX_VARS);
        hz_csv_close(r);
        return HZ_EXIT_FAIL;
    }
    hz_sqlite_sink_opts so = {.path = a->db};
    hz_sink *k = NULL;
    if (hz_sqlite_sink_new(&so, &k, err, sizeof err)) {
        hz_cli_error(CMD, "%s", err);
        hz_csv_close(r);
        return HZ_EXIT_FAIL;
    }
    int tty = !a->quiet && isatty(STDERR_FILENO);
    import_stats st = {0};
    int rc = import_rows(a, r, k, tty, &st, err, sizeof err);
    if (!a->quiet && !rc)
        progress(tty, hz_csv_bytes_read(r), hz_csv_file_size(r), st.rows, st.secs);
    if (tty)
        fputc('\n', stderr);
    if (rc) {
        hz_cli_error(CMD, "%s (rows committed before this are kept)", err);
    } else {
        printf("imported %zu rows (%zu values) of series \"%s\" from %s into %s in %.2f s "
               "(%.0f rows/s)\n",
               st.rows, st.values, a->series, a->file, a->db, st.secs,
               st.secs > 0 ? st.rows / st.secs : 0.0);
        if (st.bad)
            printf("%zu bad rows skipped (kept in dead_letters)\n", st.bad);
    }
    k->ops->free(k);
    hz_csv_close(r);
    return rc || st.bad ? HZ_EXIT_FAIL : HZ_EXIT_OK;
}

int hz_cmd_import(int argc, char **argv)
{
    import_args a;
    char err[HZ_ERRLEN] = "";
    int rc = hz_cli_parse_exit(CMD, parse(argc, argv, &a, err, sizeof err), err, usage);
    return rc >= 0 ? rc : run(&a);
}
