/* test_csv.c — CSV reader, timestamp parsing, the column loader on real data bundled in
 * data/ (ETTh1, the Choptank river flow, UCI household power; run from the repository root)
 * and the "csv" source's dead letters; whitespace files, preambles, given names, date parts,
 * UTC offsets, series and flag columns, numeric missing-value tokens (CAMELS files in data/). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "connectors/csv.h"
#include "tmpdir.h"

#define ETTH1    "data/ett/ETTh1.csv"
#define CHOPTANK "data/choptank/ChoptankRiverFlow.txt"
#define UCI      "data/nilm/uci_household_power/household_power_consumption_first48424rows.txt"

static int setup(void **state)
{
    return tmpdir_make("csv");
}

static int teardown(void **state)
{
    return tmpdir_remove();
}

static const char *write_file(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* The data is part of the repository: a missing file fails the test (wrong directory?). */
static void need(const char *path)
{
    if (access(path, R_OK) != 0)
        fail_msg("%s not readable: run the suite from the repository root", path);
}

static void test_parse_time_formats(void **state)
{
    int64_t ms;
    assert_int_equal(hz_csv_parse_time("2016-07-01 00:00:00", 0, 0, &ms), 0);
    assert_int_equal(ms, 1467331200000LL);
    assert_int_equal(hz_csv_parse_time("2016-07-01T00:00:00Z", 0, 0, &ms), 0);
    assert_int_equal(ms, 1467331200000LL);
    assert_int_equal(hz_csv_parse_time("2016-07-01T02:00:00+02:00", 0, 0, &ms), 0);
    assert_int_equal(ms, 1467331200000LL);
    assert_int_equal(hz_csv_parse_time("2016-07-01T00:00:00.250Z", 0, 0, &ms), 0);
    assert_int_equal(ms, 1467331200250LL);
    assert_int_equal(hz_csv_parse_time("2016-07-01", 0, 0, &ms), 0);
    assert_int_equal(ms, 1467331200000LL);
    assert_int_equal(hz_csv_parse_time("1467331200", 0, HZ_CSV_EPOCH_AUTO, &ms), 0);
    assert_int_equal(ms, 1467331200000LL);
    assert_int_equal(hz_csv_parse_time("1467331200000", 0, HZ_CSV_EPOCH_AUTO, &ms), 0);
    assert_int_equal(ms, 1467331200000LL);
    assert_int_equal(hz_csv_parse_time("1467331200", 0, HZ_CSV_EPOCH_MS, &ms), 0);
    assert_int_equal(ms, 1467331200LL);
    assert_int_equal(hz_csv_parse_time("9/30/2011", HZ_CSV_MDY, 0, &ms), 0);
    assert_int_equal(ms, 1317340800000LL);
    assert_int_equal(hz_csv_parse_time("16/12/2006 17:24:00", HZ_CSV_DMY, 0, &ms), 0);
    assert_int_equal(ms, 1166289840000LL);
    assert_int_equal(hz_csv_parse_time("1969-12-31T23:59:59Z", 0, 0, &ms), 0);
    assert_int_equal(ms, -1000);
    assert_int_equal(hz_csv_parse_time("2016-02-30", 0, 0, &ms), HZ_EFORMAT);
    assert_int_equal(hz_csv_parse_time("2016-07-01 25:00", 0, 0, &ms), HZ_EFORMAT);
    assert_int_equal(hz_csv_parse_time("yesterday", 0, 0, &ms), HZ_EFORMAT);
    assert_int_equal(hz_csv_parse_time("2016-07-01 00:00:00x", 0, 0, &ms), HZ_EFORMAT);
    assert_int_equal(hz_csv_parse_time("", 0, 0, &ms), HZ_EFORMAT);
}

static void test_etth1_columns(void **state)
{
    need(ETTH1);
    hz_csv_table *t = NULL;
    char err[HZ_ERRLEN] = "";
    int rc = hz_csv_load(ETTH1, NULL, &t, err, sizeof err);
    assert_int_equal(rc, 0);
    assert_int_equal(t->rows, 17420);
    assert_int_equal(t->cols, 7);
    const char *names[7] = {"HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"};
    for (int j = 0; j < 7; j++)
        assert_string_equal(t->names[j], names[j]);
    assert_int_equal(t->ts_ms[0], 1467331200000LL);
    assert_int_equal(t->ts_ms[t->rows - 1], 1530039600000LL);
    assert_int_equal(t->ts_ms[1] - t->ts_ms[0], 3600000);
    assert_float_equal(t->values[0], 5.827000141143799, 1e-12);
    assert_float_equal(t->values[6], 30.5310001373291, 1e-12);
    const double *last = &t->values[(t->rows - 1) * 7];
    assert_float_equal(last[0], 10.11400032043457, 1e-12);
    assert_float_equal(last[6], 9.56700038909912, 1e-12);
    hz_csv_table_free(t);

    /* a subset of columns by name, in the order asked */
    const char *cols[2] = {"OT", "HUFL"};
    hz_csv_opts o = {.time_column = "date", .columns = cols, .ncolumns = 2};
    assert_int_equal(hz_csv_load(ETTH1, &o, &t, err, sizeof err), 0);
    assert_int_equal(t->cols, 2);
    assert_float_equal(t->values[0], 30.5310001373291, 1e-12);
    assert_float_equal(t->values[1], 5.827000141143799, 1e-12);
    hz_csv_table_free(t);

    const char *bad[1] = {"oil"};
    o.columns = bad;
    o.ncolumns = 1;
    assert_int_equal(hz_csv_load(ETTH1, &o, &t, err, sizeof err), HZ_EINVAL);
    assert_null(t);
    assert_non_null(strstr(err, "no column \"oil\""));
    assert_non_null(strstr(err, "ETTh1.csv:1"));
}

static void test_hydrology_tab_mdy(void **state)
{
    need(CHOPTANK);
    hz_csv_table *t = NULL;
    char err[HZ_ERRLEN] = "";
    hz_csv_opts o = {.date_order = HZ_CSV_MDY}; /* tab delimiter detected */
    assert_int_equal(hz_csv_load(CHOPTANK, &o, &t, err, sizeof err), 0);
    assert_int_equal(t->rows, 4383);
    assert_int_equal(t->cols, 1);
    assert_string_equal(t->names[0], "Qdaily");
    assert_float_equal(t->values[0], 3.029902561, 1e-12);
    assert_float_equal(t->values[t->rows - 1], 9.457826687, 1e-12);
    assert_int_equal(t->ts_ms[t->rows - 1], 1317340800000LL);
    for (size_t i = 1; i < t->rows; i++)
        assert_int_equal(t->ts_ms[i] - t->ts_ms[i - 1], 86400000);
    hz_csv_table_free(t);
}

static void test_uci_semicolon_date_time_na(void **state)
{
    need(UCI);
    hz_csv_table *t = NULL;
    char err[HZ_ERRLEN] = "";
    const char *cols[1] = {"Global_active_power"};
    hz_csv_opts o = {.time_column = "Date",
                     .time_column2 = "Time",
                     .columns = cols,
                     .ncolumns = 1,
                     .date_order = HZ_CSV_DMY};
    /* '?' is not a number: without na_values the load stops at line 6841 */
    assert_int_equal(hz_csv_load(UCI, &o, &t, err, sizeof err), HZ_EFORMAT);
    assert_non_null(strstr(err, ":6841:21: column \"Global_active_power\""));
    o.allow_empty = 1;
    o.na_values = "?";
    assert_int_equal(hz_csv_load(UCI, &o, &t, err, sizeof err), 0);
    assert_int_equal(t->rows, 48424);
    assert_int_equal(t->ts_ms[0], 1166289840000LL);
    assert_float_equal(t->values[0], 4.216, 1e-12);
    assert_true(isnan(t->values[6839]));
    hz_csv_table_free(t);
}

static void test_quotes_and_bad_rows(void **state)
{
    const char *path = write_file("q.csv", "time,\"a, quoted\",b\r\n"
                                           "2020-01-01T00:00:00Z,\"1.5\",2\r\n"
                                           "2020-01-01T01:00:00Z,abc,2\n"
                                           "\n"
                                           "2020-01-01T02:00:00Z,3,\n"
                                           "not-a-time,3,4\n"
                                           "2020-01-01T04:00:00Z,3\n"
                                           "2020-01-01T05:00:00Z,\"multi\nline\",1\n"
                                           "2020-01-01T06:00:00Z,\"say \"\"hi\"\"\",1\n"
                                           "2020-01-01T07:00:00Z,7,8\n");
    char err[HZ_ERRLEN];
    hz_csv_reader *r = hz_csv_open(path, NULL, err, sizeof err);
    assert_non_null(r);
    assert_int_equal(hz_csv_ncols(r), 2);
    assert_string_equal(hz_csv_colname(r, 0), "a, quoted");
    int64_t ts;
    double v[2];
    char want[600];
    assert_int_equal(hz_csv_next(r, &ts, v, err, sizeof err), 1);
    assert_float_equal(v[0], 1.5, 0);
    assert_int_equal(hz_csv_line(r), 2);

    assert_int_equal(hz_csv_next(r, &ts, v, err, sizeof err), HZ_EFORMAT);
    snprintf(want, sizeof want, "%s:3:22: column \"a, quoted\": expected a number, got \"abc\"",
             path);
    assert_string_equal(err, want);

    assert_int_equal(hz_csv_next(r, &ts, v, err, sizeof err), HZ_EFORMAT); /* blank skipped */
    snprintf(want, sizeof want, "%s:5:24: column \"b\": missing value", path);
    assert_memory_equal(err, want, strlen(want));

    assert_int_equal(hz_csv_next(r, &ts, v, err, sizeof err), HZ_EFORMAT);
    snprintf(want, sizeof want, "%s:6:1: column \"time\": expected a timestamp", path);
    assert_memory_equal(err, want, strlen(want));
    snprintf(want, sizeof want, "%s:6:1", path);
    assert_string_equal(hz_csv_error_origin(r), want);
    assert_memory_equal(hz_csv_error_reason(r), "column \"time\"", 13);

    assert_int_equal(hz_csv_next(r, &ts, v, err, sizeof err), HZ_EFORMAT);
    assert_non_null(strstr(err, ":7:1: expected 3 fields as in the header, got 2"));

    assert_int_equal(hz_csv_next(r, &ts, v, err, sizeof err), HZ_EFORMAT);
    assert_non_null(
        strstr(err, ":8:22: column \"a, quoted\": expected a number, got \"multi\nline\""));

    assert_int_equal(hz_csv_next(r, &ts, v, err, sizeof err), HZ_EFORMAT);
    assert_non_null(strstr(err, ":10:22:"));
    assert_non_null(strstr(err, "say \"hi\""));

    assert_int_equal(hz_csv_next(r, &ts, v, err, sizeof err), 1);
    assert_int_equal(hz_csv_line(r), 11);
    assert_float_equal(v[1], 8, 0);
    assert_int_equal(ts, 1577862000000LL);
    assert_int_equal(hz_csv_next(r, &ts, v, err, sizeof err), 0);
    assert_int_equal(hz_csv_bytes_read(r), hz_csv_file_size(r));
    hz_csv_close(r);
    hz_csv_close(NULL);

    path = write_file("open.csv", "t,x\n2020-01-01,\"open\n");
    r = hz_csv_open(path, NULL, err, sizeof err);
    assert_non_null(r);
    assert_int_equal(hz_csv_next(r, &ts, v, err, sizeof err), HZ_EFORMAT);
    assert_non_null(strstr(err, ":2:12: quoted field is not closed"));
    hz_csv_close(r);

    assert_null(hz_csv_open("/nonexistent/x.csv", NULL, err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/x.csv: cannot open"));
}

static void test_source_readings_and_dead_letters(void **state)
{
    const char *path = write_file("s.csv", "ts,power\n"
                                           "1600000000,1\n"
                                           "1600000060,bad\n"
                                           "1600000120,3\n"
                                           "1600000180,4\n");
    hz_csv_source_opts o = {.path = path, .series = "meter-1"};
    hz_source *s = NULL;
    char err[HZ_ERRLEN];
    assert_int_equal(hz_csv_source_new(&o, &s, err, sizeof err), 0);
    assert_string_equal(s->ops->kind, "csv");
    hz_batch b;
    assert_int_equal(s->ops->poll(s, &b, 3, 0, err, sizeof err), 3);
    assert_int_equal(b.n_readings, 2);
    assert_int_equal(b.n_dead, 1);
    assert_string_equal(b.readings[0].series, "meter-1");
    assert_int_equal(b.readings[0].ts_ms, 1600000000000LL);
    assert_int_equal(b.readings[0].pos.offset, 2);
    assert_int_equal(b.readings[1].pos.offset, 4);
    assert_int_equal(b.readings[1].pos.partition, -1);
    assert_float_equal(b.readings[1].values[0], 3, 0);
    char want[600];
    snprintf(want, sizeof want, "%s:3:12", path);
    assert_string_equal(b.dead[0].origin, want);
    assert_non_null(strstr(b.dead[0].reason, "column \"power\""));
    assert_int_equal(b.dead[0].payload_len, strlen("1600000060,bad"));
    assert_memory_equal(b.dead[0].payload, "1600000060,bad", b.dead[0].payload_len);
    assert_int_equal(b.dead[0].pos.offset, 3); /* the bad row's line */
    assert_int_equal(b.n_positions, 1);
    assert_int_equal(b.positions[0].offset, 4); /* the batch's last line */
    assert_int_equal(s->ops->ack(s, &b.readings[1].pos, err, sizeof err), 0);
    assert_int_equal(s->ops->poll(s, &b, 10, 0, err, sizeof err), 1);
    assert_int_equal(b.readings[0].pos.offset, 5);
    assert_int_equal(s->ops->poll(s, &b, 10, 0, err, sizeof err), 0);
    s->ops->free(s);

    /* resume after line 3 */
    o.start_after_line = 3;
    assert_int_equal(hz_csv_source_new(&o, &s, err, sizeof err), 0);
    assert_int_equal(s->ops->poll(s, &b, 10, 0, err, sizeof err), 2);
    assert_int_equal(b.n_dead, 0);
    assert_int_equal(b.readings[0].pos.offset, 4);
    s->ops->free(s);

    o.series = NULL;
    assert_int_equal(hz_csv_source_new(&o, &s, err, sizeof err), HZ_EINVAL);
}

#define CAMELS_Q "data/camels/usgs_streamflow/01013500_streamflow_qc.txt"
#define CAMELS_F "data/camels/basin_mean_forcing_nldas/01013500_lump_nldas_forcing_leap.txt"

/* Times without a zone at a fixed offset; those with one keep it; epochs are absolute. */
static void test_utc_offset(void **state)
{
    int64_t ms;
    assert_int_equal(hz_csv_parse_time_at("1993-09-29", 0, 0, -300, &ms), 0);
    assert_int_equal(ms, 749278800000LL); /* 1993-09-29T05:00Z */
    assert_int_equal(hz_csv_parse_time_at("1993-09-29 07:00", 0, 0, -300, &ms), 0);
    assert_int_equal(ms, 749278800000LL + 7 * 3600000LL);
    assert_int_equal(hz_csv_parse_time_at("1993-09-29T05:00:00Z", 0, 0, -300, &ms), 0);
    assert_int_equal(ms, 749278800000LL);
    assert_int_equal(hz_csv_parse_time_at("1993-09-29T07:00:00+02:00", 0, 0, -300, &ms), 0);
    assert_int_equal(ms, 749278800000LL);
    assert_int_equal(hz_csv_parse_time_at("749278800", 0, 0, -300, &ms), 0);
    assert_int_equal(ms, 749278800000LL);
    int off = 1;
    assert_int_equal(hz_csv_parse_offset("-05:00", &off), 0);
    assert_int_equal(off, -300);
    assert_int_equal(hz_csv_parse_offset("+0530", &off), 0);
    assert_int_equal(off, 330);
    assert_int_equal(hz_csv_parse_offset("-05", &off), 0);
    assert_int_equal(off, -300);
    assert_int_equal(hz_csv_parse_offset("Z", &off), 0);
    assert_int_equal(off, 0);
    assert_int_equal(hz_csv_parse_offset("UTC", &off), 0);
    assert_int_equal(hz_csv_parse_offset("05:00", &off), HZ_EFORMAT);
    assert_int_equal(hz_csv_parse_offset("-25:00", &off), HZ_EFORMAT);
    assert_int_equal(hz_csv_parse_offset("-05:00x", &off), HZ_EFORMAT);
    assert_int_equal(hz_csv_parse_offset("America/New_York", &off), HZ_EFORMAT);
}

/* A headerless whitespace file (the CAMELS streamflow layout): names given, the separator
 * detected, date parts, numeric -999, the flag column kept as text. */
static void test_whitespace_names_date_parts(void **state)
{
    const char *path = write_file("q.txt", "01013500 1993 09 29   514.00 A\n"
                                           "  01013500 1993 09 30\t501.00 A:e\n"
                                           "   \n"
                                           "01013500 1993 10 01  -999.00 M\n"
                                           "01013500 1993 10 02  -999 M\n"
                                           "01013500 1993 10 03  -9990 A");
    const char *names[] = {"gauge", "year", "month", "day", "q", "qc"};
    const char *dates[] = {"year", "month", "day"};
    const char *cols[] = {"q"};
    hz_csv_opts o = {.names = names,
                     .nnames = 6,
                     .date_columns = dates,
                     .ndate_columns = 3,
                     .columns = cols,
                     .ncolumns = 1,
                     .na_values = "-999",
                     .allow_empty = 1,
                     .utc_offset_min = -300,
                     .flag_column = "qc"};
    char err[HZ_ERRLEN] = "";
    hz_csv_reader *r = hz_csv_open(path, &o, err, sizeof err);
    assert_non_null(r);
    assert_int_equal(hz_csv_delimiter(r), HZ_CSV_WHITESPACE);
    assert_string_equal(hz_csv_time_colname(r), "year");
    assert_null(hz_csv_series(r));
    int64_t ts;
    double v[1];
    assert_int_equal(hz_csv_next(r, &ts, v, err, sizeof err), 1);
    assert_int_equal(hz_csv_line(r), 1);
    assert_int_equal(ts, 749278800000LL);
    assert_float_equal(v[0], 514, 0);
    assert_string_equal(hz_csv_flag(r), "A");
    assert_int_equal(hz_csv_next(r, &ts, v, err, sizeof err), 1);
    assert_int_equal(ts, 749365200000LL);
    assert_string_equal(hz_csv_flag(r), "A:e");
    size_t len;
    assert_string_equal(hz_csv_record(r, &len), "  01013500 1993 09 30\t501.00 A:e");
    assert_int_equal(hz_csv_next(r, &ts, v, err, sizeof err), 1); /* line 3: whitespace only */
    assert_int_equal(hz_csv_line(r), 4);
    assert_true(isnan(v[0])); /* -999.00 matches -999 as a number */
    assert_string_equal(hz_csv_flag(r), "M");
    assert_int_equal(hz_csv_next(r, &ts, v, err, sizeof err), 1);
    assert_true(isnan(v[0]));
    assert_int_equal(hz_csv_next(r, &ts, v, err, sizeof err), 1); /* no final newline */
    assert_float_equal(v[0], -9990, 0);
    assert_int_equal(hz_csv_next(r, &ts, v, err, sizeof err), 0);
    hz_csv_close(r);
}

/* Whitespace mode keeps quoted blanks, ignores trailing blanks and CRLF, and counts fields
 * against the header. */
static void test_whitespace_quotes(void **state)
{
    const char *path = write_file("wq.txt", "time name v\r\n"
                                            "2020-01-01T00:00:00Z \"a b\" 1 \t\r\n"
                                            "2020-01-01T01:00:00Z  c  2 3\n");
    const char *cols[] = {"v"};
    hz_csv_opts o = {.delimiter = HZ_CSV_WHITESPACE, .columns = cols, .ncolumns = 1};
    char err[HZ_ERRLEN] = "";
    hz_csv_reader *r = hz_csv_open(path, &o, err, sizeof err);
    assert_non_null(r);
    int64_t ts;
    double v[1];
    assert_int_equal(hz_csv_next(r, &ts, v, err, sizeof err), 1);
    assert_float_equal(v[0], 1, 0);
    assert_int_equal(hz_csv_next(r, &ts, v, err, sizeof err), HZ_EFORMAT);
    assert_non_null(strstr(err, "wq.txt:3:28: expected 3 fields as in the header, got 4"));
    hz_csv_close(r);
}

/* A preamble, then a header mixing spaces and tabs (the CAMELS forcing layout). */
static void test_skip_preamble_mixed_header(void **state)
{
    const char *path = write_file("f.txt", "  46.84\n 353.00\n2260093113\n"
                                           "Year Mnth Day Hr\tDayl(s)\tPRCP(mm/day)\n"
                                           "2020 02 29 13\t41472.00\t0.89\n");
    const char *dates[] = {"Year", "Mnth", "Day", "Hr"};
    hz_csv_opts o = {.skip_lines = 3, .date_columns = dates, .ndate_columns = 4};
    char err[HZ_ERRLEN] = "";
    hz_csv_reader *r = hz_csv_open(path, &o, err, sizeof err);
    assert_non_null(r);
    assert_int_equal(hz_csv_delimiter(r), HZ_CSV_WHITESPACE);
    assert_int_equal(hz_csv_ncols(r), 2); /* the date parts are not values */
    assert_string_equal(hz_csv_colname(r, 1), "PRCP(mm/day)");
    int64_t ts;
    double v[2];
    assert_int_equal(hz_csv_next(r, &ts, v, err, sizeof err), 1);
    assert_int_equal(hz_csv_line(r), 5);
    assert_int_equal(ts, 1582981200000LL); /* 2020-02-29T13:00Z */
    assert_float_equal(v[1], 0.89, 0);
    hz_csv_close(r);

    /* a header name that is not there names the header's line */
    const char *bad[] = {"Year", "Month", "Day"};
    o.date_columns = bad;
    o.ndate_columns = 3;
    assert_null(hz_csv_open(path, &o, err, sizeof err));
    assert_non_null(strstr(err, "f.txt:4: no column \"Month\" in the header"));
    /* more lines to skip than the file has */
    o.skip_lines = 9;
    assert_null(hz_csv_open(path, &o, err, sizeof err));
    assert_non_null(strstr(err, "f.txt: the file has 5 lines, not more than the 9 to skip"));
}

/* Bad date parts are bad rows naming the column; a date part and a time column exclude each
 * other. */
static void test_date_parts_checked(void **state)
{
    const char *path = write_file("d.csv", "y,m,d,h,v\n"
                                           "2021,13,1,0,1\n"
                                           "2021,2,29,0,1\n"
                                           "2024,2,29,24,1\n"
                                           "2024,2,x9,0,1\n"
                                           "2024,2,29,23,1\n");
    const char *dates[] = {"y", "m", "d", "h"};
    hz_csv_opts o = {.date_columns = dates, .ndate_columns = 4};
    char err[HZ_ERRLEN] = "";
    hz_csv_reader *r = hz_csv_open(path, &o, err, sizeof err);
    assert_non_null(r);
    int64_t ts;
    double v[1];
    assert_int_equal(hz_csv_next(r, &ts, v, err, sizeof err), HZ_EFORMAT);
    assert_non_null(strstr(err, "d.csv:2:6: column \"m\": month 13 is out of range 1..12"));
    assert_int_equal(hz_csv_next(r, &ts, v, err, sizeof err), HZ_EFORMAT);
    assert_non_null(strstr(err, "d.csv:3:8: column \"d\": day 29 is out of range 1..28"));
    assert_int_equal(hz_csv_next(r, &ts, v, err, sizeof err), HZ_EFORMAT);
    assert_non_null(strstr(err, "d.csv:4:11: column \"h\": hour 24 is out of range 0..23"));
    assert_int_equal(hz_csv_next(r, &ts, v, err, sizeof err), HZ_EFORMAT);
    assert_non_null(strstr(err, ":5:8: column \"d\": expected the day as a whole number"));
    assert_int_equal(hz_csv_next(r, &ts, v, err, sizeof err), 1);
    assert_int_equal(ts, 1709247600000LL); /* 2024-02-29T23:00Z */
    hz_csv_close(r);
    o.time_column = "y";
    assert_null(hz_csv_open(path, &o, err, sizeof err));
    assert_non_null(strstr(err, "exclude each other"));
}

/* Long format: the series of each row from a column; an empty one is a bad row. */
static void test_series_column(void **state)
{
    const char *path = write_file("long.csv", "meter,time,kw\n"
                                              "m1,2020-01-01T00:00:00Z,1\n"
                                              "m2,2020-01-01T00:00:00Z,2\n"
                                              " ,2020-01-01T01:00:00Z,3\n");
    hz_csv_opts o = {.series_column = "meter", .time_column = "time"};
    char err[HZ_ERRLEN] = "";
    hz_csv_reader *r = hz_csv_open(path, &o, err, sizeof err);
    assert_non_null(r);
    assert_int_equal(hz_csv_ncols(r), 1);
    assert_string_equal(hz_csv_colname(r, 0), "kw");
    int64_t ts;
    double v[1];
    assert_int_equal(hz_csv_next(r, &ts, v, err, sizeof err), 1);
    assert_string_equal(hz_csv_series(r), "m1");
    assert_int_equal(hz_csv_next(r, &ts, v, err, sizeof err), 1);
    assert_string_equal(hz_csv_series(r), "m2");
    assert_int_equal(hz_csv_next(r, &ts, v, err, sizeof err), HZ_EFORMAT);
    assert_non_null(strstr(err, "long.csv:4:1: column \"meter\": empty series name"));
    assert_int_equal(hz_csv_row_error(r, "kw", err, sizeof err, "refused %d", 7), HZ_EFORMAT);
    assert_non_null(strstr(hz_csv_error_origin(r), "long.csv:4:24"));
    assert_string_equal(hz_csv_error_reason(r), "refused 7");
    hz_csv_close(r);

    hz_csv_source_opts so = {.path = path, .series = "x", .csv = o};
    hz_source *s = NULL;
    assert_int_equal(hz_csv_source_new(&so, &s, err, sizeof err), HZ_EINVAL);
}

/* The rules of every source (connectors/reading_check.h) on a CSV row: values that are not
 * finite or do not fit float32 are bad rows, parsed whole however long (a 130-digit number
 * was cut to 127 bytes); nan is one unless an na token lists it; a time outside
 * 1970..2200 is one; a NUL byte in a field is one naming its line:column. */
static void test_values_and_times_refused(void **state)
{
    char digits130[131];
    memset(digits130, '1', 130);
    digits130[130] = 0;
    char text[1024];
    snprintf(text, sizeof text,
             "t,v\n"
             "2020-01-01,%s\n"       /* 2 */
             "2020-01-02,inf\n"      /* 3 */
             "2020-01-03,nan\n"      /* 4 */
             "2020-01-04,1e39\n"     /* 5 */
             "2020-01-05,-1e400\n"   /* 6 */
             "1969-12-31,1\n"        /* 7 */
             "2201-01-01,1\n"        /* 8 */
             "2020-01-06, 3.4e38 \n" /* 9: fits */
             "2020-01-07,NA\n",      /* 10: missing */
             digits130);
    const char *path = write_file("vals.csv", text);
    hz_csv_opts o = {.allow_empty = 1, .na_values = "NA"};
    char err[HZ_ERRLEN] = "";
    hz_csv_reader *r = hz_csv_open(path, &o, err, sizeof err);
    assert_non_null(r);
    static const char *const want[] = {
        "vals.csv:2:12: column \"v\": \"1111111111111111111111111111111111111111...\": value "
        "1.11111e+129 does not fit float32",
        "vals.csv:3:12: column \"v\": \"inf\": value inf is not finite",
        "vals.csv:4:12: column \"v\": \"nan\": value nan is not a number",
        "vals.csv:5:12: column \"v\": \"1e39\": value 1e+39 does not fit float32 (|x| <= "
        "3.40282e+38)",
        "vals.csv:6:12: column \"v\": \"-1e400\": value -1.79769e+308 does not fit float32",
        "vals.csv:7:1: column \"t\": timestamp 1969-12-31T00:00:00Z is outside "
        "1970-01-01..2200-12-31",
        "vals.csv:8:1: column \"t\": timestamp 2201-01-01T00:00:00Z is outside"};
    int64_t ts;
    double v[1];
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_int_equal(hz_csv_next(r, &ts, v, err, sizeof err), HZ_EFORMAT);
        if (!strstr(err, want[i]))
            fail_msg("row %zu: \"%s\" lacks \"%s\"", i + 2, err, want[i]);
    }
    assert_int_equal(hz_csv_next(r, &ts, v, err, sizeof err), 1);
    assert_float_equal(v[0], 3.4e38, 1e30);
    assert_int_equal(hz_csv_next(r, &ts, v, err, sizeof err), 1);
    assert_true(isnan(v[0]));
    hz_csv_close(r);

    /* nan listed as missing reads as missing */
    path = write_file("nan.csv", "t,v\n2020-01-01,nan\n");
    o.na_values = "NA,nan";
    r = hz_csv_open(path, &o, err, sizeof err);
    assert_int_equal(hz_csv_next(r, &ts, v, err, sizeof err), 1);
    assert_true(isnan(v[0]));
    hz_csv_close(r);

    /* a NUL byte: the row is refused at the byte, the next one read */
    static const char nul[] = "t,v\n2020-01-01,1\0002\n2020-01-02,3\n";
    snprintf(text, sizeof text, "%s/nul.csv", tmpdir);
    FILE *f = fopen(text, "wb");
    assert_non_null(f);
    fwrite(nul, 1, sizeof nul - 1, f);
    fclose(f);
    r = hz_csv_open(text, &o, err, sizeof err);
    assert_non_null(r);
    assert_int_equal(hz_csv_next(r, &ts, v, err, sizeof err), HZ_EFORMAT);
    assert_non_null(strstr(err, "nul.csv:2:13: NUL byte (0x00) in a field"));
    assert_int_equal(hz_csv_next(r, &ts, v, err, sizeof err), 1);
    assert_float_equal(v[0], 3, 0);
    hz_csv_close(r);
}

/* The source reads each row's series from a column (many series in one file, none merged);
 * a row further ahead of the clock than max_future is a dead letter naming its time field;
 * at the end of the file a poll waits its timeout instead of returning at once (a daemon
 * idling on a finished file spun at 100% CPU). */
static void test_source_series_column_future_and_idle(void **state)
{
    const char *path = write_file("many.csv", "meter,ts,kw\n"
                                              "m1,2020-01-01T00:00:00Z,1\n"
                                              "m2,2020-01-01T00:00:00Z,2\n"
                                              "m1,2100-01-01T00:00:00Z,3\n"
                                              "m3,2020-01-01T00:01:00Z,4\n");
    hz_csv_source_opts so = {.path = path, .max_future_ms = 86400000};
    so.csv.series_column = "meter";
    hz_source *s = NULL;
    char err[HZ_ERRLEN] = "";
    assert_int_equal(hz_csv_source_new(&so, &s, err, sizeof err), 0);
    hz_batch b;
    assert_int_equal(s->ops->poll(s, &b, 10, 0, err, sizeof err), 4);
    assert_int_equal(b.n_readings, 3);
    assert_string_equal(b.readings[0].series, "m1");
    assert_string_equal(b.readings[1].series, "m2");
    assert_string_equal(b.readings[2].series, "m3");
    assert_float_equal(b.readings[2].values[0], 4, 0);
    assert_int_equal(b.n_dead, 1);
    assert_non_null(strstr(b.dead[0].origin, "many.csv:4:4"));
    assert_non_null(strstr(b.dead[0].reason, "column \"ts\": timestamp 2100-01-01T00:00:00Z is "));
    assert_non_null(strstr(b.dead[0].reason, "ahead of the clock"));
    int64_t t0 = hz_mono_ns();
    assert_int_equal(s->ops->poll(s, &b, 10, 200, err, sizeof err), 0);
    assert_true(hz_mono_ns() - t0 >= 150000000LL);
    s->ops->free(s);

    so.csv.series_column = "";
    assert_int_equal(hz_csv_source_new(&so, &s, err, sizeof err), HZ_EINVAL);
    assert_non_null(strstr(err, "series column name is empty"));
    so.csv.series_column = NULL;
    so.series = "";
    assert_int_equal(hz_csv_source_new(&so, &s, err, sizeof err), HZ_EINVAL);
    assert_non_null(strstr(err, "would put every row into one series"));
}

/* hz_csv_opts.glob: the files a pattern matches, read in name order as one stream (each with
 * its own header, errors naming the file's own line:column, hz_csv_line running on); a later
 * header that differs is refused naming file:line:column; no match is an error; the source
 * resumes after a line of the stream. */
static void test_glob_files(void **state)
{
    char pat[600], want[2048], b_path[600], a_path[600];
    snprintf(b_path, sizeof b_path, "%s",
             write_file("g-b.csv", "t,x\n2020-01-02,2\n2020-01-03,bad\n"));
    /* no newline at the end; the header's names are trimmed as usual */
    snprintf(a_path, sizeof a_path, "%s", write_file("g-a.csv", "t , x\n2020-01-01,1"));
    write_file("g-c.csv", "t,y\n2020-01-04,4\n");
    snprintf(pat, sizeof pat, "%s/g-dir.csv", tmpdir);
    assert_int_equal(mkdir(pat, 0700), 0);
    snprintf(pat, sizeof pat, "%s/g-[ab].csv", tmpdir);
    char err[HZ_ERRLEN] = "";
    assert_null(hz_csv_open(pat, NULL, err, sizeof err)); /* without glob: the name as it is */
    assert_non_null(strstr(err, "g-[ab].csv: cannot open"));
    hz_csv_opts o = {.glob = 1};
    hz_csv_reader *r = hz_csv_open(pat, &o, err, sizeof err);
    assert_non_null(r);
    int64_t ts;
    double v[1];
    assert_int_equal(hz_csv_next(r, &ts, v, err, sizeof err), 1);
    assert_true(v[0] == 1 && ts == 1577836800000LL);
    assert_int_equal(hz_csv_line(r), 2);
    assert_int_equal(hz_csv_next(r, &ts, v, err, sizeof err), 1); /* g-b.csv line 2 */
    assert_true(v[0] == 2);
    assert_int_equal(hz_csv_line(r), 4); /* as if a newline ended g-a.csv */
    assert_int_equal(hz_csv_next(r, &ts, v, err, sizeof err), HZ_EFORMAT);
    snprintf(want, sizeof want, "%s:3:12: column \"x\": expected a number", b_path);
    assert_memory_equal(err, want, strlen(want));
    assert_int_equal(hz_csv_line(r), 5);
    assert_int_equal(hz_csv_next(r, &ts, v, err, sizeof err), 0);
    assert_int_equal(hz_csv_bytes_read(r), hz_csv_file_size(r));
    assert_int_equal(hz_csv_file_size(r), 18 + 32);
    hz_csv_close(r);

    /* g-c.csv's header is not g-a.csv's (the directory g-dir.csv is left out) */
    snprintf(pat, sizeof pat, "%s/g-*.csv", tmpdir);
    assert_non_null(r = hz_csv_open(pat, &o, err, sizeof err));
    int rc, rows = 0;
    while ((rc = hz_csv_next(r, &ts, v, err, sizeof err)) == 1 || rc == HZ_EFORMAT)
        rows += rc == 1;
    assert_int_equal(rows, 2);
    assert_int_equal(rc, HZ_EINVAL);
    snprintf(want, sizeof want,
             "%s/g-c.csv:1:3: the header differs from %s:1's at column 2: \"y\" instead of "
             "\"x\"",
             tmpdir, a_path);
    assert_memory_equal(err, want, strlen(want));
    err[0] = 0;
    assert_int_equal(hz_csv_next(r, &ts, v, err, sizeof err), HZ_EINVAL); /* and stays so */
    assert_memory_equal(err, want, strlen(want));
    hz_csv_close(r);
    hz_csv_table *t = NULL;
    assert_int_equal(hz_csv_load(pat, &o, &t, err, sizeof err), HZ_EFORMAT); /* b's bad row */
    assert_non_null(strstr(err, "g-b.csv:3:12:"));

    snprintf(pat, sizeof pat, "%s/nothing-*.csv", tmpdir);
    assert_null(hz_csv_open(pat, &o, err, sizeof err));
    snprintf(want, sizeof want, "%s: no file matches the pattern", pat);
    assert_string_equal(err, want);

    /* the source: lines of the stream, resumed after g-a.csv's row */
    snprintf(pat, sizeof pat, "%s/g-[ab].csv", tmpdir);
    hz_csv_source_opts so = {.path = pat, .series = "s", .start_after_line = 2};
    so.csv.glob = 1;
    hz_source *s = NULL;
    assert_int_equal(hz_csv_source_new(&so, &s, err, sizeof err), 0);
    hz_batch b;
    assert_int_equal(s->ops->poll(s, &b, 10, 0, err, sizeof err), 2);
    assert_int_equal(b.n_readings, 1);
    assert_true(b.readings[0].values[0] == 2 && b.readings[0].pos.offset == 4);
    assert_int_equal(b.n_dead, 1);
    snprintf(want, sizeof want, "%s:3:12", b_path);
    assert_string_equal(b.dead[0].origin, want);
    assert_int_equal(b.dead[0].pos.offset, 5);
    s->ops->free(s);
}

/* --na tokens: text tokens match as text, number tokens numerically. */
static void test_na_numeric(void **state)
{
    const char *path = write_file("na.csv", "t,v\n1,-999\n2,-999.0\n3,-999.00\n4,NA\n5,-9990\n"
                                            "6,\n7,-999x\n");
    hz_csv_opts o = {.na_values = "NA,-999", .allow_empty = 1};
    char err[HZ_ERRLEN] = "";
    hz_csv_reader *r = hz_csv_open(path, &o, err, sizeof err);
    assert_non_null(r);
    int64_t ts;
    double v[1];
    for (int i = 0; i < 4; i++) {
        assert_int_equal(hz_csv_next(r, &ts, v, err, sizeof err), 1);
        assert_true(isnan(v[0]));
    }
    assert_int_equal(hz_csv_next(r, &ts, v, err, sizeof err), 1);
    assert_float_equal(v[0], -9990, 0);
    assert_int_equal(hz_csv_next(r, &ts, v, err, sizeof err), 1);
    assert_true(isnan(v[0]));
    assert_int_equal(hz_csv_next(r, &ts, v, err, sizeof err), HZ_EFORMAT);
    assert_non_null(strstr(err, "expected a number, got \"-999x\""));
    hz_csv_close(r);
}

/* The bundled CAMELS files: streamflow (headerless, whitespace) and forcing (preamble,
 * mixed header) give the same days at the same offset. */
static void test_camels_files(void **state)
{
    need(CAMELS_Q);
    need(CAMELS_F);
    const char *names[] = {"gauge", "year", "month", "day", "discharge", "qc"};
    const char *dq[] = {"year", "month", "day"}, *cq[] = {"discharge"};
    hz_csv_opts o = {.names = names,
                     .nnames = 6,
                     .date_columns = dq,
                     .ndate_columns = 3,
                     .columns = cq,
                     .ncolumns = 1,
                     .utc_offset_min = -300};
    hz_csv_table *q = NULL, *f = NULL;
    char err[HZ_ERRLEN] = "";
    assert_int_equal(hz_csv_load(CAMELS_Q, &o, &q, err, sizeof err), 0);
    const char *df[] = {"Year", "Mnth", "Day"}, *cf[] = {"PRCP(mm/day)"};
    hz_csv_opts of = {.skip_lines = 3,
                      .date_columns = df,
                      .ndate_columns = 3,
                      .columns = cf,
                      .ncolumns = 1,
                      .utc_offset_min = -300};
    assert_int_equal(hz_csv_load(CAMELS_F, &of, &f, err, sizeof err), 0);
    assert_int_equal(q->rows, 7308);
    assert_int_equal(f->rows, 7310);
    assert_int_equal(q->ts_ms[0], 749278800000LL);
    assert_int_equal(q->ts_ms[q->rows - 1], 1380603600000LL);
    assert_int_equal(f->ts_ms[f->rows - 1], 1380776400000LL);
    for (size_t i = 0; i < q->rows; i++)
        assert_int_equal(q->ts_ms[i], f->ts_ms[i]);
    assert_float_equal(q->values[0], 514, 0);
    assert_float_equal(f->values[0], 0.89, 0);
    hz_csv_table_free(q);
    hz_csv_table_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_time_formats),
        cmocka_unit_test(test_etth1_columns),
        cmocka_unit_test(test_hydrology_tab_mdy),
        cmocka_unit_test(test_uci_semicolon_date_time_na),
        cmocka_unit_test(test_quotes_and_bad_rows),
        cmocka_unit_test(test_source_readings_and_dead_letters),
        cmocka_unit_test(test_utc_offset),
        cmocka_unit_test(test_whitespace_names_date_parts),
        cmocka_unit_test(test_whitespace_quotes),
        cmocka_unit_test(test_skip_preamble_mixed_header),
        cmocka_unit_test(test_date_parts_checked),
        cmocka_unit_test(test_series_column),
        cmocka_unit_test(test_na_numeric),
        cmocka_unit_test(test_values_and_times_refused),
        cmocka_unit_test(test_source_series_column_future_and_idle),
        cmocka_unit_test(test_camels_files),
        cmocka_unit_test(test_glob_files),
    };
    return cmocka_run_group_tests_name("csv", tests, setup, teardown);
}
