/* test_csv.c — CSV reader, timestamp parsing, the column loader on real data bundled in
 * data/ (ETTh1, the Choptank river flow, UCI household power; run from the repository root)
 * and the "csv" source's dead letters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_time_formats),
        cmocka_unit_test(test_etth1_columns),
        cmocka_unit_test(test_hydrology_tab_mdy),
        cmocka_unit_test(test_uci_semicolon_date_time_na),
        cmocka_unit_test(test_quotes_and_bad_rows),
        cmocka_unit_test(test_source_readings_and_dead_letters),
    };
    return cmocka_run_group_tests_name("csv", tests, setup, teardown);
}
