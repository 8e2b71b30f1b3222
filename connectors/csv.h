/* csv.h — a streaming reader of delimited text (CSV with RFC 4180 quoting, or fields split
 * at runs of whitespace), a whole-file column loader for training, and an hz_source of kind
 * "csv" (docs/ARCHITECTURE.md, docs/IMPORT.md).
 *
 * Layout: optional preamble lines (skip_lines), then a header row or caller-given names, then
 * data rows.  Separators: ',' ';' '\t' or HZ_CSV_WHITESPACE (runs of spaces and tabs are one
 * separator, leading and trailing whitespace ignored); 0 detects one from the first lines.
 *
 * Timestamps (hz_csv_parse_time): ISO 8601 dates "2016-07-01", "2016-07-01 00:00:00",
 * "2016-07-01T00:00:00.250Z", "…+02:00"; slashed dates "10/1/1999" or "16/12/2006" (order
 * chosen by date_order) with an optional time; epoch numbers (s or ms).  A time without a
 * zone is in the source's fixed UTC offset (utc_offset_min, default 0 = UTC); one with Z or
 * an offset keeps it; epoch numbers are absolute.  Or built from date parts in separate
 * columns (date_columns: year, month, day[, hour[, minute]]).  Results are ms since the
 * epoch, UTC.
 *
 * Missing values: an empty field, or one equal to an na_values token (a token that is a
 * number matches numerically, so "-999" matches "-999.00"), reads as NaN when allow_empty.
 * Every other value field is parsed whole (however long) and must be a number that is
 * finite and fits float32, and every timestamp must lie in 1970-01-01..2200-12-31 (the
 * rules of every source, connectors/reading_check.h): "nan", "inf", "1e39" and 1969 are
 * bad rows unless na_values lists the token.  A record holding a NUL byte is a bad row
 * naming the byte's line:column.
 *
 * Errors name file:line:column (1-based; column = byte column where the field starts on its
 * line) and the column's name. */
#ifndef HZ_CSV_H
#define HZ_CSV_H

#include <stddef.h>
#include <stdint.h>

#include "connectors/connector.h"
#include "common/hz.h"

enum { HZ_CSV_YMD = 0, HZ_CSV_MDY = 1, HZ_CSV_DMY = 2 };                 /* slashed dates */
enum { HZ_CSV_EPOCH_AUTO = 0, HZ_CSV_EPOCH_S = 1, HZ_CSV_EPOCH_MS = 2 }; /* numeric times */
#define HZ_CSV_WHITESPACE     ' ' /* delimiter: runs of spaces and tabs */
#define HZ_CSV_MAX_DATE_PARTS 5

typedef struct hz_csv_opts {
    char delimiter;           /* 0: detect (csv.c detect_delim); HZ_CSV_WHITESPACE */
    const char *time_column;  /* NULL: the first column not series or flag (unless date_columns) */
    const char *time_column2; /* optional time-of-day column joined to time_column with a
                                 space (UCI household power has Date;Time) */
    const char *const *columns; /* value columns by name; NULL: every column not used else */
    int ncolumns;               /* entries in columns (<= HZ_MAX_VARS for the source) */
    int date_order;             /* HZ_CSV_* for slashed dates; default YMD */
    int epoch_unit;             /* HZ_CSV_EPOCH_*; AUTO: |x| < 1e11 is seconds, else ms */
    int allow_empty;            /* 1: empty value (or an na_values token) is NaN; 0: error */
    const char *na_values;      /* comma-separated tokens read as missing, e.g. "?,NA,-999" */
    int skip_lines;             /* lines before the header (or the first row, with names) */
    const char *const *names;   /* column names of a file without a header line; NULL: the
                                   first line (after skip_lines) is the header */
    int nnames;
    const char *const *date_columns; /* year, month, day[, hour[, minute]] columns: the
                                        timestamp is built from them instead of time_column */
    int ndate_columns;               /* 0, or 3 to HZ_CSV_MAX_DATE_PARTS */
    int utc_offset_min;        /* minutes east of UTC of times that carry no zone (-300 = -05:00) */
    const char *series_column; /* each row's series name (hz_csv_series); an empty one is a
                                  bad row */
    const char *flag_column;   /* each row's quality code (hz_csv_flag), kept as text */
    int glob; /* 1: hz_csv_open's path may be a glob(3) pattern (unless a file has that very
                 name): the files it matches are read in byte order of their names as one
                 stream, each with its own preamble and header; every header must be the
                 first file's.  No match is an error. */
} hz_csv_opts;

/* Parses a timestamp as described above, a time without a zone being UTC; 0 or HZ_EFORMAT. */
int hz_csv_parse_time(const char *s, int date_order, int epoch_unit, int64_t *ms);
/* The same with a time without a zone taken at offset_min minutes east of UTC. */
int hz_csv_parse_time_at(const char *s, int date_order, int epoch_unit, int offset_min,
                         int64_t *ms);
/* A fixed UTC offset "+HH:MM", "-HH:MM", "+HHMM", "-HH", "Z" or "UTC" in minutes east of
 * UTC; 0 or HZ_EFORMAT. */
int hz_csv_parse_offset(const char *s, int *minutes);

typedef struct hz_csv_reader hz_csv_reader;

/* Opens path (or the first file of the pattern, with o->glob), reads the header and resolves
 * the columns.  NULL on failure (err says which column is missing, with the columns the
 * header has). Free with hz_csv_close. */
hz_csv_reader *hz_csv_open(const char *path, const hz_csv_opts *o, char *err, size_t errlen);
/* The same over len bytes at buf (read in place: buf must outlive the reader), named name
 * in messages (NULL: "<memory>"). */
hz_csv_reader *hz_csv_open_mem(const void *buf, size_t len, const char *name, const hz_csv_opts *o,
                               char *err, size_t errlen);
void hz_csv_close(hz_csv_reader *r);

/* Number of value columns and the name of value column i (owned by the reader). */
int hz_csv_ncols(const hz_csv_reader *r);
const char *hz_csv_colname(const hz_csv_reader *r, int i);
/* Name of the time column, or of the first date part (owned by the reader). */
const char *hz_csv_time_colname(const hz_csv_reader *r);
/* The last row's series (series_column) and quality code (flag_column, "" when the field is
 * empty), trimmed; NULL without such a column.  Owned by the reader until the next read. */
const char *hz_csv_series(const hz_csv_reader *r);
const char *hz_csv_flag(const hz_csv_reader *r);
/* The field separator (given, or detected from the header). */
char hz_csv_delimiter(const hz_csv_reader *r);

/* Reads the next data row: *ts_ms and values[ncols] (NaN = missing, with allow_empty).  Returns 1
 * for a row, 0 at end of file (of the last file, with a pattern), HZ_EFORMAT for a bad row
 * (err = "file:line:column: column \"X\": ..." naming the file the row is in; the reader moves
 * on, so calling again reads the next row), HZ_EIO, or HZ_EINVAL for a later file of a pattern
 * whose header is not the first file's (err = "file:line: ..."; every later call returns it
 * again). */
int hz_csv_next(hz_csv_reader *r, int64_t *ts_ms, double *values, char *err, size_t errlen);

/* Refuses the last row read for a reason found by the caller (a duplicate timestamp): sets
 * the error origin (file:line:column of `column`'s field, or of the row's start when column
 * is NULL or unknown) and reason as for a bad row.  Returns HZ_EFORMAT. */
int hz_csv_row_error(hz_csv_reader *r, const char *column, char *err, size_t errlen,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Line where the last record read starts (1 = the first line of the file).  With a pattern,
 * counted over its files as if they were one file (a newline added after a last line that
 * has none), so it only grows; error origins name each file's own lines. */
long hz_csv_line(const hz_csv_reader *r);
/* Raw bytes of the last record read (no line end), owned by the reader until the next read. */
const char *hz_csv_record(const hz_csv_reader *r, size_t *len);
/* After HZ_EFORMAT: "file:line:column" and the reason without it. */
const char *hz_csv_error_origin(const hz_csv_reader *r);
const char *hz_csv_error_reason(const hz_csv_reader *r);
/* Bytes consumed so far and the file's size (for progress bars); with a pattern, over all
 * its files. */
uint64_t hz_csv_bytes_read(const hz_csv_reader *r);
uint64_t hz_csv_file_size(const hz_csv_reader *r);

/* A whole file in columns: row r's timestamp is ts_ms[r] and its value j is
 * values[r * cols + j]. */
typedef struct hz_csv_table {
    size_t rows;
    int cols;
    char **names;   /* cols names */
    int64_t *ts_ms; /* rows */
    double *values; /* rows × cols, row-major; NaN = empty where allowed */
} hz_csv_table;

/* Loads path; the first bad row stops the load with its file:line:column error.  On success
 * *out is owned by the caller (hz_csv_table_free). */
int hz_csv_load(const char *path, const hz_csv_opts *o, hz_csv_table **out, char *err,
                size_t errlen);
void hz_csv_table_free(hz_csv_table *t);

/* The "csv" source: every data row becomes one reading with pos = {-1, line number}, of
 * series `series` (one id for every row) or, when that is NULL, of the row's own series
 * from column csv.series_column (exactly one of the two; an empty id would put every row
 * into one series, so it is refused).  Bad rows, and rows timestamped more than
 * max_future_ms ahead of the wall clock (0: no limit; connectors/reading_check.h), become
 * dead letters with origin "file:line:column".  Rows on lines <= start_after_line are
 * skipped (resume).  ack() records the position only (a file has nothing to commit).  At
 * the end of the file poll waits timeout_ms and returns 0. */
typedef struct hz_csv_source_opts {
    const char *path;
    const char *series; /* NULL: csv.series_column names each row's */
    hz_csv_opts csv;
    long start_after_line;
    int64_t max_future_ms;
} hz_csv_source_opts;

/* On success *out is owned by the caller (out->ops->free). */
int hz_csv_source_new(const hz_csv_source_opts *o, hz_source **out, char *err, size_t errlen);

#endif
