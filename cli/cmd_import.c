/* cmd_import.c — `horizon import`: streams a delimited file (connectors/csv.c: CSV, or fields
 * split at whitespace; optional preamble, header or given names) into the SQLite readings
 * table (connectors/sqlite_sink.c), one row per variable per timestamp, committing every
 * --batch rows so an interrupted import keeps what it committed and a re-run is idempotent
 * (upserts).  Bad rows, and rows repeating a (series, timestamp) of the file, are reported,
 * skipped and kept as dead letters (exit status 1).  Quality codes of a flag column go to
 * the reading_flags table.  Progress bar on a terminal, plain log lines otherwise.
 * docs/IMPORT.md. */
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/import_seen.h"
#include "common/hz.h"
#include "connectors/csv.h"
#include "connectors/sqlite_sink.h"

#define CMD       "import"
#define MAX_NAMES 256 /* --names */

typedef struct import_args {
    const char *file;   /* the input file */
    const char *db;     /* the SQLite file */
    const char *series; /* --series, else the file name without extension (in sname) */
    hz_csv_opts co;     /* its lists point into the arrays below, those into argv */
    const char *cols[HZ_MAX_VARS];
    const char *names[MAX_NAMES];
    const char *dates[HZ_CSV_MAX_DATE_PARTS];
    char sname[256];
    int batch; /* rows per transaction */
    int quiet;
} import_args;

/* What an import did, for the summary: every data row read is imported or refused. */
typedef struct import_stats {
    size_t read;    /* data rows read */
    size_t rows;    /* rows imported */
    size_t values;  /* values stored */
    size_t missing; /* values missing (empty or --na): not stored */
    size_t flags;   /* quality codes stored (one per variable of a row) */
    size_t bad;     /* rows refused into dead_letters, duplicates included */
    size_t dups;    /* rows refused for repeating a (series, timestamp) of the file */
    size_t series;  /* different series among the rows imported */
    double secs;
} import_stats;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: horizon import FILE --db FILE.sqlite [options]\n"
            "\n"
            "Loads a delimited text file into the readings table (series, variable, ts, value),\n"
            "one row per variable per timestamp.  Re-running is idempotent.  Bad rows, and rows\n"
            "repeating a series and timestamp of the file, are reported with file:line:column,\n"
            "skipped and kept in dead_letters; the exit status is then 1.  docs/IMPORT.md.\n"
            "\n"
            "options:\n"
            "  --db FILE            SQLite database (created with horizon's schema if absent)\n"
            "  --series NAME        series id (default: the file name without extension)\n"
            "  --series-column C    each row's series id is column C's value (many series in\n"
            "                       one file; an empty one is a bad row); not with --series\n"
            "  --time-column C      timestamp column (default: the first column that is not\n"
            "                       the series or flag column)\n"
            "  --time-column2 C     a separate time-of-day column joined to the date\n"
            "  --date-columns Y,M,D[,H[,MIN]]\n"
            "                       build the timestamp from year, month, day, hour and minute\n"
            "                       columns (whole numbers, checked) instead of --time-column\n"
            "  --utc-offset +HH:MM  UTC offset of timestamps that carry none, e.g. -05:00\n"
            "                       (default: UTC); ones with Z or an offset keep theirs\n"
            "  --columns a,b,c      value columns (default: every column not used otherwise,\n"
            "                       at most %d)\n"
            "  --flag-column C      keep column C (a quality code such as A, A:e, M) with each\n"
            "                       value of the row in table reading_flags\n"
            "  --delimiter X        field separator: , ; tab, or space (runs of spaces and\n"
            "                       tabs; default: detected)\n"
            "  --skip N             lines to skip before the header (a preamble)\n"
            "  --names a,b,c        column names of a file without a header line\n"
            "  --date-order ORDER   slashed dates: ymd (default), mdy (10/1/1999), dmy\n"
            "  --na TOKENS          comma-separated tokens read as missing (e.g. \"?,NA,-999\";\n"
            "                       a number matches numerically: -999 matches -999.00);\n"
            "                       missing and empty values are then skipped and counted\n"
            "  --batch N            rows per transaction, at least 1 (default 50000)\n"
            "  --quiet              no progress output\n"
            "  -h, --help           this text\n",
            HZ_MAX_VARS);
}

/* Splits a comma-separated list in place into out[max]; the count, or -1 when there are
 * more than max items or one is empty. */
static int split_list(char *list, const char **out, int max)
{
    int n = 0;
    for (char *s = list;;) {
        char *e = strchr(s, ',');
        if (e)
            *e = 0;
        if (!*s || n == max)
            return -1;
        out[n++] = s;
        if (!e)
            return n;
        s = e + 1;
    }
}

/* The list options: --columns, --names, --date-columns (each may be NULL). */
static int finish_lists(import_args *a, char *columns, char *names, char *dates, char *err,
                        size_t errlen)
{
    if (columns) {
        a->co.ncolumns = split_list(columns, a->cols, HZ_MAX_VARS);
        if (a->co.ncolumns <= 0)
            return hz_err(err, errlen, HZ_ERANGE,
                          "--columns: expected 1 to %d names separated by commas", HZ_MAX_VARS);
        a->co.columns = a->cols;
    }
    if (names) {
        a->co.nnames = split_list(names, a->names, MAX_NAMES);
        if (a->co.nnames <= 0)
            return hz_err(err, errlen, HZ_ERANGE,
                          "--names: expected 1 to %d names separated by commas, none empty",
                          MAX_NAMES);
        a->co.names = a->names;
    }
    if (dates) {
        a->co.ndate_columns = split_list(dates, a->dates, HZ_CSV_MAX_DATE_PARTS);
        if (a->co.ndate_columns < 3)
            return hz_err(err, errlen, HZ_ERANGE,
                          "--date-columns: expected year,month,day[,hour[,minute]] column names");
        a->co.date_columns = a->dates;
    }
    return 0;
}

/* --delimiter: one character, "tab", or "space"/"whitespace". */
static int parse_delimiter(const char *delim, char *out, char *err, size_t errlen)
{
    if (!strcmp(delim, "tab") || !strcmp(delim, "\\t"))
        *out = '\t';
    else if (!strcmp(delim, "space") || !strcmp(delim, "whitespace"))
        *out = HZ_CSV_WHITESPACE;
    else if (strlen(delim) == 1)
        *out = delim[0];
    else
        return hz_err(err, errlen, HZ_EFORMAT,
                      "--delimiter: expected one character, 'tab' or 'space', got '%s'", delim);
    return 0;
}

/* The single-value options that need more than hz_cli_parse, and the default series. */
static int finish_args(import_args *a, const char *delim, const char *offset, char *err,
                       size_t errlen)
{
    if (delim && parse_delimiter(delim, &a->co.delimiter, err, errlen))
        return HZ_EFORMAT;
    if (offset && hz_csv_parse_offset(offset, &a->co.utc_offset_min))
        return hz_err(err, errlen, HZ_EFORMAT,
                      "--utc-offset: expected +HH:MM or -HH:MM (e.g. -05:00) or Z, got '%s'",
                      offset);
    if (a->co.date_columns && (a->co.time_column || a->co.time_column2))
        return hz_err(err, errlen, HZ_EINVAL,
                      "--date-columns and --time-column exclude each other");
    a->co.allow_empty = a->co.na_values != NULL;
    if (a->co.series_column) {
        if (a->series)
            return hz_err(err, errlen, HZ_EINVAL,
                          "--series and --series-column exclude each other");
        return 0;
    }
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
    const char *delim = NULL, *offset = NULL;
    char *columns = NULL, *names = NULL, *dates = NULL; /* split in place by finish_lists */
    const hz_cli_opt opts[] = {{"db", 0, HZ_CLI_STR, &a->db, 0, 0},
                               {"series", 0, HZ_CLI_STR, &a->series, 0, 0},
                               {"series-column", 0, HZ_CLI_STR, &a->co.series_column, 0, 0},
                               {"time-column", 0, HZ_CLI_STR, &a->co.time_column, 0, 0},
                               {"time-column2", 0, HZ_CLI_STR, &a->co.time_column2, 0, 0},
                               {"date-columns", 0, HZ_CLI_STR, &dates, 0, 0},
                               {"utc-offset", 0, HZ_CLI_STR, &offset, 0, 0},
                               {"columns", 0, HZ_CLI_STR, &columns, 0, 0},
                               {"flag-column", 0, HZ_CLI_STR, &a->co.flag_column, 0, 0},
                               {"delimiter", 0, HZ_CLI_STR, &delim, 0, 0},
                               {"skip", 0, HZ_CLI_INT, &a->co.skip_lines, 0, INT_MAX},
                               {"names", 0, HZ_CLI_STR, &names, 0, 0},
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
        return hz_err(err, errlen, HZ_EINVAL, "need one input file and --db");
    a->file = argv[first];
    rc = finish_lists(a, columns, names, dates, err, errlen);
    return rc ? rc : finish_args(a, delim, offset, err, errlen);
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

/* A refused row (bad, or a duplicate): reported (the first ten), counted and kept as a dead
 * letter with the reader's origin and reason. */
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

/* HZ_EFORMAT (the row refused, err and the reader's origin set) when the file already had
 * a row of rd's series at rd's time, else 0 (the pair noted) or HZ_ENOMEM. */
static int check_duplicate(hz_csv_reader *r, hz_import_seen *seen, const hz_reading *rd, char *err,
                           size_t errlen)
{
    long first = hz_import_seen_add(seen, rd->series, rd->ts_ms, rd->pos.offset);
    if (first < 0)
        return hz_err(err, errlen, HZ_ENOMEM, "out of memory");
    if (first == 0)
        return 0;
    char when[64];
    time_t secs = (time_t)hz_floor_div(rd->ts_ms, 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return hz_csv_row_error(r, hz_csv_time_colname(r), err, errlen,
                            "duplicate timestamp: series \"%s\" at %s is already on line %ld "
                            "(that row is kept)",
                            rd->series, when, first);
}

/* Stores one good row: its values (missing ones counted, not stored) and its quality code
 * for every value column. */
static int store_row(hz_csv_reader *r, hz_sink *k, const char *const *names, hz_reading *rd,
                     import_stats *st, char *err, size_t errlen)
{
    int rc = k->ops->write_readings(k, "import", names, rd, 1, err, errlen);
    const char *flag = hz_csv_flag(r);
    if (!rc && flag && flag[0]) {
        rc = hz_sqlite_sink_write_flag(k, rd->series, names, rd->nvars, rd->ts_ms, flag, err,
                                       errlen);
        st->flags += rc ? 0 : (size_t)rd->nvars;
    }
    if (rc)
        return rc;
    st->rows++;
    for (int j = 0; j < rd->nvars; j++) {
        int present = rd->values[j] == rd->values[j]; /* NaN (missing) is not stored */
        st->values += present;
        st->missing += !present;
    }
    return 0;
}

/* Reads one data row and stores it or refuses it: 1 for a row handled, 0 at the end of the
 * file, or HZ_E* (a failure that stops the import). */
static int import_one(const import_args *a, hz_csv_reader *r, hz_sink *k, hz_import_seen *seen,
                      const char *const *names, hz_reading *rd, int tty, import_stats *st,
                      char *err, size_t errlen)
{
    int got = hz_csv_next(r, &rd->ts_ms, rd->values, err, errlen);
    if (got == 0 || (got < 0 && got != HZ_EFORMAT))
        return got;
    st->read++;
    rd->pos.offset = hz_csv_line(r);
    rd->series = hz_csv_series(r) ? hz_csv_series(r) : a->series;
    if (got == 1 && (got = check_duplicate(r, seen, rd, err, errlen)) == HZ_EFORMAT)
        st->dups++;
    if (got == HZ_EFORMAT)
        got = dead_letter(r, k, tty, st, err, errlen);
    else if (got == 0)
        got = store_row(r, k, names, rd, st, err, errlen);
    return got < 0 ? got : 1;
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
    hz_import_seen *seen = hz_import_seen_new();
    if (!seen)
        return hz_err(err, errlen, HZ_ENOMEM, "out of memory");
    int64_t t0 = hz_mono_ns(), last_report = t0;
    size_t in_batch = 0;
    int rc;
    hz_reading rd = {.series = a->series, .nvars = nv, .pos = {-1, 0}};
    while ((rc = import_one(a, r, k, seen, names, &rd, tty, st, err, errlen)) == 1) {
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
    st->series = hz_import_seen_series(seen);
    hz_import_seen_free(seen);
    if (!rc)
        rc = k->ops->flush(k, -1, err, errlen);
    st->secs = (hz_mono_ns() - t0) / 1e9;
    return rc;
}

static void summary(const import_args *a, const import_stats *st)
{
    char what[320];
    if (a->co.series_column)
        snprintf(what, sizeof what, "of %zu series (column \"%s\")", st->series,
                 a->co.series_column);
    else
        snprintf(what, sizeof what, "of series \"%s\"", a->series);
    printf("imported %zu rows (%zu values) %s from %s into %s in %.2f s (%.0f rows/s)\n", st->rows,
           st->values, what, a->file, a->db, st->secs, st->secs > 0 ? st->rows / st->secs : 0.0);
    printf("read %zu data rows: %zu imported, %zu refused into dead_letters (%zu bad, %zu "
           "duplicate timestamps); %zu missing values skipped; %zu quality codes stored\n",
           st->read, st->rows, st->bad, st->bad - st->dups, st->dups, st->missing, st->flags);
}

/* The reader and the sink; 0, or HZ_EXIT_FAIL after reporting why. */
static int open_both(const import_args *a, hz_csv_reader **r, hz_sink **k)
{
    char err[HZ_ERRLEN];
    *k = NULL;
    if (!(*r = hz_csv_open(a->file, &a->co, err, sizeof err))) {
        hz_cli_error(CMD, "%s", err);
        return HZ_EXIT_FAIL;
    }
    int nv = hz_csv_ncols(*r);
    if (nv > HZ_MAX_VARS) {
        hz_cli_error(CMD, "%s has %d value columns; choose at most %d with --columns", a->file, nv,
                     HZ_MAX_VARS);
        return HZ_EXIT_FAIL;
    }
    hz_sqlite_sink_opts so = {.path = a->db};
    if (hz_sqlite_sink_new(&so, k, err, sizeof err)) {
        hz_cli_error(CMD, "%s", err);
        return HZ_EXIT_FAIL;
    }
    return 0;
}

static int run(const import_args *a)
{
    char err[HZ_ERRLEN];
    hz_csv_reader *r = NULL;
    hz_sink *k = NULL;
    if (open_both(a, &r, &k)) {
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
    if (rc)
        hz_cli_error(CMD, "%s (rows committed before this are kept)", err);
    else
        summary(a, &st);
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
