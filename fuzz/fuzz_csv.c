/* fuzz_csv.c — fuzz target "csv": a CSV file through the streaming reader
 * (connectors/csv.c hz_csv_open_mem, hz_csv_next).  The first two bytes choose the reader's
 * options — delimiter, date order, epoch unit, missing values, preamble, given names, date
 * parts, series and flag columns, UTC offset — so one corpus covers the layouts of
 * docs/IMPORT.md; the rest is the file. */
#include <string.h>

#include "common/hz.h"
#include "connectors/csv.h"
#include "fuzz/fuzz.h"

/* Most rows read from one input (a large input is mostly rows; enough to reach every state). */
#define MAX_ROWS 4096

int hz_fuzz_csv(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    static const char delims[] = {0, ',', ';', '\t', HZ_CSV_WHITESPACE};
    static const char *const value_cols[] = {"value", "b"};
    static const char *const names[] = {"date", "value", "b"};
    static const char *const parts[] = {"year", "month", "day", "hour", "minute"};
    const unsigned a = data[0], b = data[1];
    hz_csv_opts o = {
        .delimiter = delims[a % 5],
        .date_order = (int)(a / 5 % 3),
        .epoch_unit = (int)(a / 15 % 3),
        .allow_empty = (int)(a / 45 % 2),
        .na_values = (a / 90 % 2) ? "?,NA,-999" : NULL,
        .skip_lines = (int)(b & 3),
        .utc_offset_min = (b & 4) ? -300 : 0,
    };
    switch (b >> 3 & 7) {
    case 1: /* a file without a header line */
        o.names = names;
        o.nnames = 3;
        break;
    case 2: /* named value columns */
        o.columns = value_cols;
        o.ncolumns = 2;
        break;
    case 3: /* the timestamp from date parts */
        o.date_columns = parts;
        o.ndate_columns = 3 + (int)((b >> 6) % 3);
        break;
    case 4: /* series and quality-code columns */
        o.series_column = "series";
        o.flag_column = "flag";
        break;
    case 5: /* a date and a time-of-day column */
        o.time_column = "Date";
        o.time_column2 = "Time";
        break;
    default: /* the first column is the time, the others are values */
        break;
    }
    char err[HZ_ERRLEN];
    err[0] = 0;
    hz_csv_reader *r = hz_csv_open_mem(data + 2, size - 2, "fuzz.csv", &o, err, sizeof err);
    if (!r) {
        HZ_FUZZ_CHECK(err[0] != 0);
        return 0;
    }
    int ncols = hz_csv_ncols(r);
    HZ_FUZZ_CHECK(ncols >= 0);
    for (int i = 0; i < ncols; i++)
        HZ_FUZZ_CHECK(hz_csv_colname(r, i) != NULL);
    (void)hz_csv_time_colname(r);
    (void)hz_csv_delimiter(r);
    double *values = calloc((size_t)ncols + 1, sizeof *values);
    HZ_FUZZ_CHECK(values != NULL);
    for (int n = 0; n < MAX_ROWS; n++) {
        int64_t ts;
        err[0] = 0;
        int rc = hz_csv_next(r, &ts, values, err, sizeof err);
        if (rc == 0)
            break;
        size_t len;
        const char *rec = hz_csv_record(r, &len);
        HZ_FUZZ_CHECK(rec != NULL && strlen(rec) <= len);
        HZ_FUZZ_CHECK(hz_csv_line(r) >= 1);
        if (rc == 1) {
            const char *s = hz_csv_series(r), *f = hz_csv_flag(r);
            HZ_FUZZ_CHECK(!o.series_column || (s && s[0]));
            HZ_FUZZ_CHECK(!o.flag_column || f);
            continue;
        }
        HZ_FUZZ_CHECK(rc == HZ_EFORMAT || rc == HZ_EIO || rc == HZ_ENOMEM);
        HZ_FUZZ_CHECK(err[0] != 0);
        if (rc != HZ_EFORMAT)
            break;
        HZ_FUZZ_CHECK(hz_csv_error_origin(r) != NULL && hz_csv_error_reason(r) != NULL);
        /* what the import does with a row it refuses for its own reasons */
        HZ_FUZZ_CHECK(hz_csv_row_error(r, "value", err, sizeof err, "fuzz") == HZ_EFORMAT);
    }
    HZ_FUZZ_CHECK(hz_csv_bytes_read(r) <= size - 2);
    free(values);
    hz_csv_close(r);
    return 0;
}
