/* cmd_import.c — `horizon import`: streams a CSV (connectors/csv) into the SQLite readings
 * table (connectors/sqlite_sink), one row per variable per timestamp, committing every
 * --batch rows so an interrupted import keeps what it committed and a re-run is idempotent
 * (upserts).  Progress bar on a terminal, plain log lines otherwise (DESIGN.md, "Programs"). */
#include "cli/cmd_import.h"

#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "connectors/csv.h"
#include "common/hz.h"
#include "connectors/sqlite_sink.h"

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
            "  --batch N            rows per transaction (default 50000)\n"
            "  --quiet              no progress output\n",
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

int hz_cmd_import(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'},
        {"series", required_argument, NULL, 's'},
        {"time-column", required_argument, NULL, 't'},
        {"time-column2", required_argument, NULL, 'T'},
        {"columns", required_argument, NULL, 'c'},
        {"delimiter", required_argument, NULL, 'D'},
        {"date-order", required_argument, NULL, 'o'},
        {"na", required_argument, NULL, 'n'},
        {"batch", required_argument, NULL, 'b'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL, *series = NULL;
    char *columns = NULL;
    const char *cols[HZ_MAX_VARS];
    hz_csv_opts co = {0};
    long batch = 50000;
    int quiet = 0;
    optind = 0; /* GNU getopt: full re-initialisation, so a second call works */
    opterr = 0;
    int c;
    /* GNU getopt permutes argv, so the file may come before, among or after the options */
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 's':
            series = optarg;
            break;
        case 't':
            co.time_column = optarg;
            break;
        case 'T':
            co.time_column2 = optarg;
            break;
        case 'c':
            columns = optarg;
            break;
        case 'D':
            co.delimiter = !strcmp(optarg, "tab") || !strcmp(optarg, "\\t") ? '\t' : optarg[0];
            if (strlen(optarg) != 1 && co.delimiter != '\t') {
                fprintf(stderr,
                        "horizon import: --delimiter: expected one character or "
                        "\"tab\", got \"%s\"\n",
                        optarg);
                return 2;
            }
            break;
        case 'o':
            if (!strcmp(optarg, "ymd"))
                co.date_order = HZ_CSV_YMD;
            else if (!strcmp(optarg, "mdy"))
                co.date_order = HZ_CSV_MDY;
            else if (!strcmp(optarg, "dmy"))
                co.date_order = HZ_CSV_DMY;
            else {
                fprintf(stderr,
                        "horizon import: --date-order: expected ymd, mdy or dmy, got \"%s\"\n",
                        optarg);
                return 2;
            }
            break;
        case 'n':
            co.na_values = optarg;
            co.allow_empty = 1;
            break;
        case 'b': {
            char *end;
            batch = strtol(optarg, &end, 10);
            if (*end || batch < 1) {
                fprintf(stderr,
                        "horizon import: --batch: expected a positive integer, got "
                        "\"%s\"\n",
                        optarg);
                return 2;
            }
            break;
        }
        case 'q':
            quiet = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case ':':
        case '?':
        default:
            fprintf(stderr, "horizon import: bad option or missing value: '%s'\n",
                    argv[optind - 1]);
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1 || !db) {
        fprintf(stderr, "horizon import: need one CSV file and --db\n");
        usage(stderr);
        return 2;
    }
    const char *file = argv[optind];
    if (columns) {
        co.ncolumns = split_columns(columns, cols, HZ_MAX_VARS);
        if (co.ncolumns <= 0) {
            fprintf(stderr,
                    "horizon import: --columns: expected 1 to %d names separated by "
                    "commas\n",
                    HZ_MAX_VARS);
            return 2;
        }
        co.columns = cols;
    }
    char sname[256];
    if (!series) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s", file);
        snprintf(sname, sizeof sname, "%s", basename(tmp));
        char *dot = strrchr(sname, '.');
        if (dot && dot != sname)
            *dot = 0;
        series = sname;
    }

    char err[HZ_ERRLEN];
    hz_csv_reader *r = hz_csv_open(file, &co, err, sizeof err);
    if (!r) {
        fprintf(stderr, "horizon import: %s\n", err);
        return 1;
    }
    int nv = hz_csv_ncols(r);
    if (nv > HZ_MAX_VARS) {
        fprintf(stderr,
                "horizon import: %s has %d value columns; choose at most %d with "
                "--columns\n",
                file, nv, HZ_MAX_VARS);
        hz_csv_close(r);
        return 1;
    }
    const char *names[HZ_MAX_VARS];
    for (int j = 0; j < nv; j++)
        names[j] = hz_csv_colname(r, j);
    hz_sqlite_sink_opts so = {.path = db};
    hz_sink *k = NULL;
    if (hz_sqlite_sink_new(&so, &k, err, sizeof err)) {
        fprintf(stderr, "horizon import: %s\n", err);
        hz_csv_close(r);
        return 1;
    }
    int tty = !quiet && isatty(STDERR_FILENO);
    int64_t t0 = hz_mono_ns(), last_report = t0;
    size_t rows = 0, values = 0, bad = 0, in_batch = 0;
    int rc = 0;
    hz_reading rd = {.series = series, .nvars = nv, .pos = {-1, 0}};
    for (;;) {
        int got = hz_csv_next(r, &rd.ts_ms, rd.values, err, sizeof err);
        if (got == 0)
            break;
        if (got == HZ_EFORMAT) {
            if (bad < 10)
                fprintf(stderr, "%shorizon import: %s\n", tty ? "\n" : "", err);
            else if (bad == 10)
                fprintf(stderr, "horizon import: more bad rows; see the dead_letters table\n");
            bad++;
            size_t len;
            const char *raw = hz_csv_record(r, &len);
            hz_dead_letter d = {.origin = hz_csv_error_origin(r),
                                .reason = hz_csv_error_reason(r),
                                .payload = raw,
                                .payload_len = len,
                                .ts_ms = hz_now_ms()};
            if ((rc = k->ops->write_dead(k, "import", &d, 1, err, sizeof err)))
                break;
            continue;
        }
        if (got < 0) {
            rc = got;
            break;
        }
        rd.pos.offset = hz_csv_line(r);
        if ((rc = k->ops->write_readings(k, "import", names, &rd, 1, err, sizeof err)))
            break;
        rows++;
        for (int j = 0; j < nv; j++)
            values += rd.values[j] == rd.values[j]; /* NaN (missing) is not stored */
        if (++in_batch >= (size_t)batch) {
            if ((rc = k->ops->flush(k, -1, err, sizeof err)))
                break;
            in_batch = 0;
        }
        int64_t now = hz_mono_ns();
        if (!quiet && now - last_report > (tty ? 100000000LL : 1000000000LL)) {
            progress(tty, hz_csv_bytes_read(r), hz_csv_file_size(r), rows, (now - t0) / 1e9);
            last_report = now;
        }
    }
    if (!rc)
        rc = k->ops->flush(k, -1, err, sizeof err);
    double secs = (hz_mono_ns() - t0) / 1e9;
    if (!quiet && !rc)
        progress(tty, hz_csv_bytes_read(r), hz_csv_file_size(r), rows, secs);
    if (tty)
        fputc('\n', stderr);
    if (rc) {
        fprintf(stderr, "horizon import: %s (rows committed before this are kept)\n", err);
    } else {
        printf("imported %zu rows (%zu values) of series \"%s\" from %s into %s in %.2f s "
               "(%.0f rows/s)\n",
               rows, values, series, file, db, secs, secs > 0 ? rows / secs : 0.0);
        if (bad)
            printf("%zu bad rows skipped (kept in dead_letters)\n", bad);
    }
    k->ops->free(k);
    hz_csv_close(r);
    return rc || bad ? 1 : 0;
}
