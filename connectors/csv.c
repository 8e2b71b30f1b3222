/* csv.c — streaming CSV reader (RFC 4180: quoted fields, "" escapes, line breaks inside
 * quotes, CRLF or LF), timestamp parsing, a column loader and the "csv" source
 * (docs/ARCHITECTURE.md; see csv.h). */
#include "connectors/csv.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "connectors/reading_check.h"

#define CSV_BUF 65536

typedef struct csv_field {
    size_t off, len; /* into r->fbuf (NUL-terminated copy of the unquoted text) */
    long line, col;  /* where the field starts */
} csv_field;

struct hz_csv_reader {
    FILE *f;
    char *path;     /* the file being read */
    char **files;   /* the files of a pattern (hz_csv_opts.glob), in order; NULL: path alone */
    size_t nfiles;  /* entries in files */
    size_t fidx;    /* files[fidx] is being read */
    long line_base; /* lines of the files before files[fidx] (hz_csv_line) */
    int stuck;      /* a later file refused: hz_csv_next returns it again, with stuck_msg */
    char stuck_msg[HZ_ERRLEN];
    hz_csv_opts o;
    char delim;
    unsigned char buf[CSV_BUF];
    size_t blen, bpos;
    uint64_t consumed, size;
    int eof;
    long line, col;         /* position of the next byte */
    long rec_line;          /* line where the last record starts */
    long nul_line, nul_col; /* the record's first NUL byte (0: none) */
    char *raw;              /* raw record bytes */
    size_t raw_len, raw_cap;
    char *fbuf; /* unquoted field text, each NUL-terminated */
    size_t fbuf_len, fbuf_cap;
    csv_field *fields;
    size_t nfields, fields_cap;
    size_t nheader;  /* fields in the header */
    char **header;   /* header names */
    int tcol, tcol2; /* field index of time columns (tcol2 -1: none) */
    int ncols;       /* value columns */
    int *vcol;       /* field index of each value column */
    char **na;       /* missing-value tokens */
    double *na_num;  /* each token's number (NaN: the token is text only) */
    int nna;
    int ws;                                 /* fields split at runs of spaces and tabs */
    long header_line;                       /* line of the header (0: names given) */
    int dcol[HZ_CSV_MAX_DATE_PARTS], ndcol; /* date-part columns (ndcol 0: none) */
    int scol, fcol;                         /* series and flag columns (-1: none) */
    char series[256], flag[256];            /* the last row's (csv.h hz_csv_series) */
    char e_origin[600], e_reason[400];
};

/* ---------------------------------------------------------------- timestamps */

static int days_in_month(int64_t y, int m)
{
    static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 ? 28 + leap : dm[m - 1];
}

/* Reads 1..maxd digits; returns count or 0. */
static int digits(const char **p, int maxd, int64_t *v)
{
    int n = 0;
    *v = 0;
    while (n < maxd && isdigit((unsigned char)**p)) {
        *v = *v * 10 + (**p - '0');
        (*p)++;
        n++;
    }
    return n;
}

/* Whether s is an epoch: optional sign, a digit, then only digits, points, spaces. */
static int is_plain_number(const char *s)
{
    const char *q = s + (*s == '-' || *s == '+');
    int plain = isdigit((unsigned char)*q);
    for (const char *c = q; *c && plain; c++)
        if (!isdigit((unsigned char)*c) && *c != '.' && *c != ' ')
            plain = 0;
    return plain;
}

/* Epoch seconds or ms (epoch_unit, or auto by magnitude) to ms. */
static int parse_epoch(const char *s, int epoch_unit, int64_t *ms)
{
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    while (*end == ' ')
        end++;
    if (*end || errno || !isfinite(x))
        return HZ_EFORMAT;
    int secs = epoch_unit == HZ_CSV_EPOCH_S || (epoch_unit == HZ_CSV_EPOCH_AUTO && fabs(x) < 1e11);
    double v = secs ? x * 1000.0 : x;
    if (fabs(v) > 9.2e18)
        return HZ_EFORMAT;
    *ms = (int64_t)llround(v);
    return 0;
}

/* The date at *p: YYYY-MM-DD, or three numbers split by '/' in date_order; checks the day. */
static int parse_date(const char **pp, int date_order, int64_t *y, int64_t *mo, int64_t *d)
{
    const char *p = *pp;
    int64_t a, b, c;
    int na = digits(&p, 4, &a);
    if (!na)
        return HZ_EFORMAT;
    if (*p == '-' && na == 4) {
        p++;
        *y = a;
        if (digits(&p, 2, mo) != 2 || *p++ != '-' || digits(&p, 2, d) != 2)
            return HZ_EFORMAT;
    } else if (*p == '/') {
        p++;
        if (!digits(&p, 4, &b) || *p++ != '/' || !digits(&p, 4, &c))
            return HZ_EFORMAT;
        if (date_order == HZ_CSV_MDY) {
            *mo = a, *d = b, *y = c;
        } else if (date_order == HZ_CSV_DMY) {
            *d = a, *mo = b, *y = c;
        } else {
            *y = a, *mo = b, *d = c;
        }
    } else {
        return HZ_EFORMAT;
    }
    if (*mo < 1 || *mo > 12 || *d < 1 || *d > days_in_month(*y, (int)*mo))
        return HZ_EFORMAT;
    *pp = p;
    return 0;
}

/* A fraction of a second after the '.' or ',' at *p, to ms (digits past the third ignored). */
static int parse_fraction(const char **pp, int64_t *frac_ms)
{
    const char *p = *pp + 1;
    int64_t f = 0, scale = 1;
    int nd = 0;
    while (isdigit((unsigned char)*p)) {
        if (nd < 3) {
            f = f * 10 + (*p - '0');
            scale *= 10;
        }
        nd++;
        p++;
    }
    if (!nd)
        return HZ_EFORMAT;
    *frac_ms = f * 1000 / scale;
    *pp = p;
    return 0;
}

/* The time of day at *p: H:MM, optionally :SS and a fraction; checks the ranges. */
static int parse_clock(const char **pp, int64_t *h, int64_t *mi, int64_t *sec, int64_t *frac_ms)
{
    const char *p = *pp;
    if (digits(&p, 2, h) < 1 || *p++ != ':' || digits(&p, 2, mi) != 2)
        return HZ_EFORMAT;
    if (*p == ':') {
        p++;
        if (digits(&p, 2, sec) != 2)
            return HZ_EFORMAT;
        if ((*p == '.' || *p == ',') && parse_fraction(&p, frac_ms))
            return HZ_EFORMAT;
    }
    if (*h > 23 || *mi > 59 || *sec > 60)
        return HZ_EFORMAT;
    *pp = p;
    return 0;
}

/* An optional zone at *p: Z, or +HH[:][MM] / -HH[:][MM] as minutes east of UTC; *tz_min is
 * left as it is when there is none. */
static int parse_zone(const char **pp, int64_t *tz_min)
{
    const char *p = *pp;
    if (*p == 'Z' || *p == 'z') {
        p++;
        *tz_min = 0;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1;
        int64_t th, tm = 0;
        if (digits(&p, 2, &th) != 2)
            return HZ_EFORMAT;
        if (*p == ':')
            p++;
        if (isdigit((unsigned char)*p) && digits(&p, 2, &tm) != 2)
            return HZ_EFORMAT;
        if (th > 23 || tm > 59)
            return HZ_EFORMAT;
        *tz_min = sign * (th * 60 + tm);
    }
    *pp = p;
    return 0;
}

int hz_csv_parse_offset(const char *s, int *minutes)
{
    int64_t tz = 0;
    if (!strcmp(s, "UTC") || !strcmp(s, "utc") || !strcmp(s, "0"))
        s = "Z";
    if (*s != 'Z' && *s != 'z' && *s != '+' && *s != '-')
        return HZ_EFORMAT;
    const char *p = s;
    if (parse_zone(&p, &tz) || *p)
        return HZ_EFORMAT;
    *minutes = (int)tz;
    return 0;
}

int hz_csv_parse_time(const char *s, int date_order, int epoch_unit, int64_t *ms)
{
    return hz_csv_parse_time_at(s, date_order, epoch_unit, 0, ms);
}

int hz_csv_parse_time_at(const char *s, int date_order, int epoch_unit, int offset_min, int64_t *ms)
{
    while (*s == ' ' || *s == '\t')
        s++;
    if (!*s)
        return HZ_EFORMAT;
    /* epoch: a plain number */
    if (is_plain_number(s))
        return parse_epoch(s, epoch_unit, ms);
    const char *p = s;
    int64_t y, mo, d;
    if (parse_date(&p, date_order, &y, &mo, &d))
        return HZ_EFORMAT;
    int64_t h = 0, mi = 0, sec = 0, frac_ms = 0, tz_min = offset_min;
    if (*p == 'T' || *p == ' ') {
        p++;
        while (*p == ' ')
            p++;
        if (parse_clock(&p, &h, &mi, &sec, &frac_ms) || parse_zone(&p, &tz_min))
            return HZ_EFORMAT;
    }
    while (*p == ' ')
        p++;
    if (*p)
        return HZ_EFORMAT;
    int64_t secs =
        hz_days_from_civil(y, (int)mo, (int)d) * 86400 + h * 3600 + mi * 60 + sec - tz_min * 60;
    *ms = secs * 1000 + frac_ms;
    return 0;
}

/* ---------------------------------------------------------------- reader */

/* Next byte or -1 at end of file / error (r->eof tells). */
static int getb(hz_csv_reader *r)
{
    if (r->bpos == r->blen) {
        if (r->eof)
            return -1;
        r->blen = fread(r->buf, 1, sizeof r->buf, r->f);
        r->bpos = 0;
        if (r->blen == 0) {
            r->eof = ferror(r->f) ? 2 : 1;
            return -1;
        }
    }
    r->consumed++;
    return r->buf[r->bpos++];
}

static int peekb(hz_csv_reader *r)
{
    int c = getb(r);
    if (c >= 0) {
        r->bpos--;
        r->consumed--;
    }
    return c;
}

/* Appends byte c (at r->line:r->col) to the raw record, noting the first NUL byte. */
static int raw_put(hz_csv_reader *r, int c)
{
    if (c == 0 && !r->nul_line) {
        r->nul_line = r->line;
        r->nul_col = r->col;
    }
    if (hz_grow((void **)&r->raw, &r->raw_cap, r->raw_len + 2, 1))
        return HZ_ENOMEM;
    r->raw[r->raw_len++] = (char)c;
    r->raw[r->raw_len] = 0;
    return 0;
}

static int fbuf_put(hz_csv_reader *r, int c)
{
    if (hz_grow((void **)&r->fbuf, &r->fbuf_cap, r->fbuf_len + 1, 1))
        return HZ_ENOMEM;
    r->fbuf[r->fbuf_len++] = (char)c;
    return 0;
}

static int field_start(hz_csv_reader *r)
{
    if (hz_grow((void **)&r->fields, &r->fields_cap, r->nfields + 1, sizeof(csv_field)))
        return HZ_ENOMEM;
    csv_field *f = &r->fields[r->nfields++];
    f->off = r->fbuf_len;
    f->len = 0;
    f->line = r->line;
    f->col = r->col;
    return 0;
}

static int field_end(hz_csv_reader *r)
{
    csv_field *f = &r->fields[r->nfields - 1];
    f->len = r->fbuf_len - f->off;
    return fbuf_put(r, 0);
}

/* Clears the record, skips blank lines: 1 at a record, 0 at end of file, or HZ_EIO. */
static inline int skip_blank_lines(hz_csv_reader *r)
{
    for (;;) {
        r->nfields = 0;
        r->fbuf_len = 0;
        r->raw_len = 0;
        r->nul_line = r->nul_col = 0;
        if (r->raw)
            r->raw[0] = 0;
        int c = peekb(r);
        if (c < 0)
            return r->eof == 2 ? HZ_EIO : 0;
        if (c != '\n' && c != '\r')
            return 1;
        /* blank line */
        getb(r);
        if (c == '\r' && peekb(r) == '\n')
            getb(r);
        r->line++;
        r->col = 1;
    }
}

/* Sets origin/reason for a quoted field still open at the end of the file; HZ_EFORMAT. */
static int unclosed_quote(hz_csv_reader *r, long qline, long qcol)
{
    snprintf(r->e_origin, sizeof r->e_origin, "%s:%ld:%ld", r->path, qline, qcol);
    snprintf(r->e_reason, sizeof r->e_reason,
             "quoted field is not closed before the end of the file");
    field_end(r);
    return HZ_EFORMAT;
}

/* A record holding a NUL byte (a text field would end there, a number be cut short) is
 * refused, naming where the byte is.  HZ_EFORMAT. */
static int nul_error(hz_csv_reader *r, char *err, size_t errlen)
{
    snprintf(r->e_origin, sizeof r->e_origin, "%s:%ld:%ld", r->path, r->nul_line, r->nul_col);
    snprintf(r->e_reason, sizeof r->e_reason, "NUL byte (0x00) in a field");
    return hz_err(err, errlen, HZ_EFORMAT, "%s: %s", r->e_origin, r->e_reason);
}

/* Takes byte c inside quotes ("" is one quote, a lone " ends them); 0 or HZ_ENOMEM. */
static inline int quoted_byte(hz_csv_reader *r, int c, int *in_quotes)
{
    if (raw_put(r, c))
        return HZ_ENOMEM;
    if (c == '"') {
        if (peekb(r) == '"') {
            getb(r);
            raw_put(r, '"');
            fbuf_put(r, '"');
            r->col += 2;
            return 0;
        }
        *in_quotes = 0;
        r->col++;
        return 0;
    }
    if (c == '\n') {
        r->line++;
        r->col = 1;
    } else {
        r->col++;
    }
    return fbuf_put(r, c) ? HZ_ENOMEM : 0;
}

/* The next byte of a record outside quotes, in *c (kept in raw): 1; 0 at the record's end
 * (a newline, CRLF, or the end of the file); HZ_EFORMAT for a quote opened at qline:qcol and
 * left open at the end of the file, or HZ_ENOMEM.  Bytes inside quotes go to the field as
 * they come (quoted_byte). */
static int record_byte(hz_csv_reader *r, int *in_quotes, long qline, long qcol, int *c)
{
    for (;;) {
        *c = getb(r);
        if (*c < 0)
            return *in_quotes ? unclosed_quote(r, qline, qcol) : 0;
        if (*in_quotes) {
            if (quoted_byte(r, *c, in_quotes))
                return HZ_ENOMEM;
            continue;
        }
        if (*c == '\r' && peekb(r) == '\n')
            continue; /* CRLF: the LF ends the record */
        if (*c == '\n') {
            r->line++;
            r->col = 1;
            return 0;
        }
        return raw_put(r, *c) ? HZ_ENOMEM : 1;
    }
}

/* One line of a whitespace-separated file into fields/raw: runs of spaces and tabs split
 * fields, leading and trailing ones are ignored, a field may be quoted as in CSV.  Returns 1,
 * HZ_EFORMAT (unterminated quote) or HZ_ENOMEM; nfields 0 for a line of whitespace only. */
static int ws_line(hz_csv_reader *r)
{
    int in_quotes = 0, in_field = 0;
    long qline = 0, qcol = 0;
    for (;;) {
        int c, rc = record_byte(r, &in_quotes, qline, qcol, &c);
        if (rc < 0)
            return rc;
        if (rc == 0)
            break;
        if (c == ' ' || c == '\t') {
            if (in_field && field_end(r))
                return HZ_ENOMEM;
            in_field = 0;
            r->col++;
            continue;
        }
        if (!in_field) {
            if (field_start(r))
                return HZ_ENOMEM;
            in_field = 1;
            if (c == '"') {
                in_quotes = 1;
                qline = r->line;
                qcol = r->col++;
                continue;
            }
        }
        r->col++;
        if (fbuf_put(r, c))
            return HZ_ENOMEM;
    }
    return in_field && field_end(r) ? HZ_ENOMEM : 1;
}

/* read_record for whitespace-separated files: lines of whitespace only count as blank. */
static int read_record_ws(hz_csv_reader *r)
{
    for (;;) {
        int rc = skip_blank_lines(r);
        if (rc != 1)
            return rc;
        r->rec_line = r->line;
        rc = ws_line(r);
        if (rc != 1 || r->nfields > 0)
            return rc;
    }
}

/* Reads one record into fields/raw.  Returns 1, 0 at end of file, HZ_EFORMAT for an
 * unterminated quote (origin/reason set), HZ_EIO or HZ_ENOMEM.  Skips blank lines. */
static int read_record(hz_csv_reader *r)
{
    if (r->ws)
        return read_record_ws(r);
    int rc = skip_blank_lines(r);
    if (rc != 1)
        return rc;
    r->rec_line = r->line;
    if (field_start(r))
        return HZ_ENOMEM;
    int in_quotes = 0, at_start = 1;
    long qline = 0, qcol = 0;
    for (;;) {
        int c;
        rc = record_byte(r, &in_quotes, qline, qcol, &c);
        if (rc < 0)
            return rc;
        if (rc == 0)
            break;
        if (c == r->delim) {
            r->col++;
            if (field_end(r) || field_start(r))
                return HZ_ENOMEM;
            at_start = 1;
            continue;
        }
        if (c == '"' && at_start) {
            in_quotes = 1;
            qline = r->line;
            qcol = r->col;
            r->col++;
            at_start = 0;
            continue;
        }
        at_start = 0;
        r->col++;
        if (fbuf_put(r, c))
            return HZ_ENOMEM;
    }
    if (field_end(r))
        return HZ_ENOMEM;
    return 1;
}

static const char *field(const hz_csv_reader *r, size_t i)
{
    return r->fbuf + r->fields[i].off;
}

static void trim_copy(char *dst, size_t cap, const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, s, n);
    dst[n] = 0;
}

static int find_col(hz_csv_reader *r, const char *name)
{
    for (size_t i = 0; i < r->nheader; i++)
        if (!strcmp(r->header[i], name))
            return (int)i;
    return -1;
}

/* Where the column names come from, for messages: "file:LINE" of the header, or "file". */
static const char *names_where(const hz_csv_reader *r, char *buf, size_t len)
{
    if (r->header_line > 0)
        snprintf(buf, len, "%s:%ld", r->path, r->header_line);
    else
        snprintf(buf, len, "%s", r->path);
    return buf;
}

static int missing_col(hz_csv_reader *r, const char *name, char *err, size_t errlen)
{
    char have[256] = "", where[600];
    size_t off = 0;
    for (size_t i = 0; i < r->nheader && off < sizeof have - 1; i++)
        off += (size_t)snprintf(have + off, sizeof have - off, "%s%s", i ? ", " : "", r->header[i]);
    return hz_err(err, errlen, HZ_EINVAL, "%s: no column \"%s\" in the %s (columns: %s)",
                  names_where(r, where, sizeof where), name,
                  r->header_line > 0 ? "header" : "given names", have);
}

void hz_csv_close(hz_csv_reader *r)
{
    if (!r)
        return;
    if (r->f)
        fclose(r->f);
    for (size_t i = 0; i < r->nheader; i++)
        free(r->header[i]);
    for (int i = 0; i < r->nna; i++)
        free(r->na[i]);
    free(r->na);
    free(r->na_num);
    free(r->header);
    free(r->vcol);
    free(r->raw);
    free(r->fbuf);
    free(r->fields);
    free(r->path);
    for (size_t i = 0; i < r->nfiles; i++)
        free(r->files[i]);
    free(r->files);
    free(r);
}

/* Writes "path: out of memory" and returns HZ_ENOMEM. */
static int open_oom(const hz_csv_reader *r, char *err, size_t errlen)
{
    return hz_err(err, errlen, HZ_ENOMEM, "%s: out of memory", r->path);
}

/* Opens the file (unless r->f is already open: hz_csv_open_mem), notes its size and skips a
 * UTF-8 byte order mark. */
static int open_file(hz_csv_reader *r, char *err, size_t errlen)
{
    if (!r->f) {
        r->f = fopen(r->path, "rb");
        if (!r->f)
            return hz_err(err, errlen, HZ_EIO, "%s: cannot open: %s", r->path, strerror(errno));
        struct stat st;
        if (!r->files && fstat(fileno(r->f), &st) == 0)
            r->size = (uint64_t)st.st_size; /* a pattern's total: expand_glob */
    }
    /* UTF-8 byte order mark */
    if (peekb(r) == 0xEF) {
        getb(r);
        if (getb(r) != 0xBB || getb(r) != 0xBF)
            return hz_err(err, errlen, HZ_EFORMAT, "%s:1:1: bad byte order mark", r->path);
    }
    return 0;
}

/* Skips the skip_lines lines of preamble, whatever they hold. */
static int skip_preamble(hz_csv_reader *r, char *err, size_t errlen)
{
    for (int i = 0; i < r->o.skip_lines; i++) {
        int c, n = 0;
        while ((c = getb(r)) >= 0 && c != '\n')
            n++;
        if (c < 0 && r->eof == 2)
            return hz_err(err, errlen, HZ_EIO, "%s:%ld: read error", r->path, r->line);
        if (c < 0)
            return hz_err(err, errlen, HZ_EFORMAT,
                          "%s: the file has %d lines, not more than the %d to skip", r->path,
                          i + (n > 0), r->o.skip_lines);
        r->line++;
    }
    return 0;
}

/* Moves the unread bytes to the front of the buffer and reads more behind them, so the
 * delimiter is detected on whole lines after a preamble. */
static void fill_buffer(hz_csv_reader *r)
{
    if (r->eof || r->bpos == 0)
        return;
    memmove(r->buf, r->buf + r->bpos, r->blen - r->bpos);
    r->blen -= r->bpos;
    r->bpos = 0;
    r->blen += fread(r->buf + r->blen, 1, sizeof r->buf - r->blen, r->f);
}

/* The shape of the buffered line at *i (moved past it): its fields split at runs of spaces
 * and tabs, its tabs, and whether it has a comma, semicolon or quote. */
static void line_shape(const hz_csv_reader *r, size_t *i, size_t *ws_fields, size_t *tabs,
                       int *marks)
{
    int in_field = 0;
    *ws_fields = *tabs = 0;
    *marks = 0;
    for (; *i < r->blen && r->buf[*i] != '\n'; (*i)++) {
        unsigned char c = r->buf[*i];
        int space = c == ' ' || c == '\t' || c == '\r';
        *ws_fields += !space && !in_field;
        in_field = !space;
        *tabs += c == '\t';
        *marks |= c == ',' || c == ';' || c == '"';
    }
    if (*i < r->blen)
        (*i)++;
}

/* Whitespace when the first line has no comma, semicolon or quote, splits into more fields
 * at runs of whitespace than at tabs, and the next line (if any) splits into as many; else
 * the most frequent of , \t ; outside quotes on the first line (',' on a tie). */
static char detect_delim(const hz_csv_reader *r)
{
    size_t i = r->bpos, ws1, tabs1, ws2, tabs2;
    int marks1, marks2;
    line_shape(r, &i, &ws1, &tabs1, &marks1);
    if (!marks1 && ws1 > tabs1 + 1) {
        line_shape(r, &i, &ws2, &tabs2, &marks2);
        if (ws2 == 0 || ws2 == ws1)
            return HZ_CSV_WHITESPACE;
    }
    size_t cnt[3] = {0, 0, 0};
    const char cand[3] = {',', '\t', ';'};
    int inq = 0;
    for (size_t k = r->bpos; k < r->blen && (inq || r->buf[k] != '\n'); k++) {
        if (r->buf[k] == '"')
            inq = !inq;
        for (int c = 0; c < 3 && !inq; c++)
            cnt[c] += r->buf[k] == (unsigned char)cand[c];
    }
    int best = 0;
    for (int c = 1; c < 3; c++)
        if (cnt[c] > cnt[best])
            best = c;
    return cand[best];
}

/* Reads the header row into r->header (names trimmed). */
static int read_header(hz_csv_reader *r, char *err, size_t errlen)
{
    r->header_line = r->line;
    int rc = read_record(r);
    if (rc == HZ_EFORMAT)
        return hz_err(err, errlen, rc, "%s: %s (in the header)", r->e_origin, r->e_reason);
    if (rc != 1)
        return hz_err(err, errlen, rc == 0 ? HZ_EFORMAT : rc, "%s:%ld: %s", r->path, r->header_line,
                      rc == 0 ? "no header row (empty file?)" : "cannot read the header");
    r->header_line = r->rec_line;
    if (r->nul_line)
        return nul_error(r, err, errlen);
    r->nheader = r->nfields;
    r->header = calloc(r->nheader, sizeof *r->header);
    if (!r->header)
        return open_oom(r, err, errlen);
    for (size_t i = 0; i < r->nheader; i++) {
        char name[256];
        trim_copy(name, sizeof name, field(r, i));
        if (!(r->header[i] = strdup(name)))
            return open_oom(r, err, errlen);
    }
    return 0;
}

/* The given names as the header of a file without one. */
static int names_header(hz_csv_reader *r, char *err, size_t errlen)
{
    if (r->o.nnames <= 0)
        return hz_err(err, errlen, HZ_EINVAL, "%s: no column names given", r->path);
    r->header = calloc((size_t)r->o.nnames, sizeof *r->header);
    if (!r->header)
        return open_oom(r, err, errlen);
    r->nheader = (size_t)r->o.nnames;
    for (size_t i = 0; i < r->nheader; i++) {
        char name[256];
        trim_copy(name, sizeof name, r->o.names[i]);
        if (!name[0])
            return hz_err(err, errlen, HZ_EINVAL, "%s: column name %zu is empty", r->path, i + 1);
        if (!(r->header[i] = strdup(name)))
            return open_oom(r, err, errlen);
    }
    return 0;
}

/* The timestamp's column(s): date parts, or the time column (default the first column that is
 * not the series or the flag) and an optional time-of-day column. */
static int pick_time(hz_csv_reader *r, char *err, size_t errlen)
{
    int nd = r->o.ndate_columns;
    if (nd == 0) {
        r->tcol = 0; /* default: the first column that is not the series or the flag */
        while (r->tcol == r->scol || r->tcol == r->fcol)
            r->tcol++;
        if (r->o.time_column)
            r->tcol = find_col(r, r->o.time_column);
        if (r->tcol >= (int)r->nheader)
            return hz_err(err, errlen, HZ_EINVAL, "%s: no column left for the time", r->path);
        if (r->tcol < 0)
            return missing_col(r, r->o.time_column, err, errlen);
        if (r->o.time_column2 && (r->tcol2 = find_col(r, r->o.time_column2)) < 0)
            return missing_col(r, r->o.time_column2, err, errlen);
        return 0;
    }
    if (r->o.time_column || r->o.time_column2)
        return hz_err(err, errlen, HZ_EINVAL,
                      "%s: date columns and a time column exclude each other", r->path);
    if (nd < 3 || nd > HZ_CSV_MAX_DATE_PARTS)
        return hz_err(err, errlen, HZ_EINVAL,
                      "%s: date columns are year, month, day[, hour[, minute]]: 3 to %d names, "
                      "got %d",
                      r->path, HZ_CSV_MAX_DATE_PARTS, nd);
    r->tcol = -1;
    for (int k = 0; k < nd; k++)
        if ((r->dcol[k] = find_col(r, r->o.date_columns[k])) < 0)
            return missing_col(r, r->o.date_columns[k], err, errlen);
    r->ndcol = nd;
    return 0;
}

/* Whether field i holds the time, a date part, the series or the flag. */
static int col_used(const hz_csv_reader *r, int i)
{
    int used = i == r->tcol || i == r->tcol2 || i == r->scol || i == r->fcol;
    for (int k = 0; k < r->ndcol; k++)
        used |= i == r->dcol[k];
    return used;
}

/* Finds the time, series and flag columns and the value columns (the listed ones, else all
 * the others). */
static int pick_columns(hz_csv_reader *r, char *err, size_t errlen)
{
    if (r->o.series_column && (r->scol = find_col(r, r->o.series_column)) < 0)
        return missing_col(r, r->o.series_column, err, errlen);
    if (r->o.flag_column && (r->fcol = find_col(r, r->o.flag_column)) < 0)
        return missing_col(r, r->o.flag_column, err, errlen);
    int rc = pick_time(r, err, errlen);
    if (rc)
        return rc;
    if (r->o.columns && r->o.ncolumns > 0) {
        r->ncols = r->o.ncolumns;
        if (!(r->vcol = calloc((size_t)r->ncols, sizeof *r->vcol)))
            return open_oom(r, err, errlen);
        for (int j = 0; j < r->ncols; j++)
            if ((r->vcol[j] = find_col(r, r->o.columns[j])) < 0)
                return missing_col(r, r->o.columns[j], err, errlen);
    } else {
        if (!(r->vcol = calloc(r->nheader, sizeof *r->vcol)))
            return open_oom(r, err, errlen);
        for (size_t i = 0; i < r->nheader; i++)
            if (!col_used(r, (int)i))
                r->vcol[r->ncols++] = (int)i;
    }
    char where[600];
    if (r->ncols == 0)
        return hz_err(err, errlen, HZ_EINVAL, "%s: no value columns besides the time column",
                      names_where(r, where, sizeof where));
    return 0;
}

/* The number a missing-value token stands for, or NaN when it is not a number. */
static double token_number(const char *s)
{
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    return end != s && !*end && !errno && isfinite(x) ? x : NAN;
}

/* Splits the comma-separated na_values option into r->na (and their numbers, r->na_num). */
static int split_na_values(hz_csv_reader *r, char *err, size_t errlen)
{
    if (!r->o.na_values || !r->o.na_values[0])
        return 0;
    const char *s = r->o.na_values;
    for (;;) {
        const char *e = strchr(s, ',');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        char **na = realloc(r->na, (size_t)(r->nna + 1) * sizeof *na);
        if (!na)
            return open_oom(r, err, errlen);
        r->na = na;
        double *num = realloc(r->na_num, (size_t)(r->nna + 1) * sizeof *num);
        if (!num)
            return open_oom(r, err, errlen);
        r->na_num = num;
        if (!(r->na[r->nna] = strndup(s, n)))
            return open_oom(r, err, errlen);
        r->na_num[r->nna] = token_number(r->na[r->nna]);
        r->nna++;
        if (!e)
            return 0;
        s = e + 1;
    }
}

/* After the file is open: the preamble, the separator, the header or names. */
static int read_layout(hz_csv_reader *r, char *err, size_t errlen)
{
    int rc = skip_preamble(r, err, errlen);
    if (rc)
        return rc;
    r->delim = r->o.delimiter;
    if (!r->delim) { /* detect from the first lines */
        fill_buffer(r);
        if (r->bpos == r->blen)
            peekb(r);
        r->delim = detect_delim(r);
    }
    r->ws = r->delim == HZ_CSV_WHITESPACE;
    return r->o.names ? names_header(r, err, errlen) : read_header(r, err, errlen);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* With hz_csv_opts.glob: the regular files pattern matches (glob(3); directories left out)
 * into r->files, sorted by name in byte order whatever the locale, r->path the first and
 * r->size their total.  A pattern without a wildcard, or naming a file as it is, is read
 * alone (r->files stays NULL). */
static int expand_glob(hz_csv_reader *r, const char *pattern, char *err, size_t errlen)
{
    struct stat st;
    if (!strpbrk(pattern, "*?[") || stat(pattern, &st) == 0)
        return 0;
    glob_t g;
    int grc = glob(pattern, GLOB_ERR | GLOB_MARK, NULL, &g);
    if (grc && grc != GLOB_NOMATCH) {
        globfree(&g);
        return hz_err(err, errlen, grc == GLOB_NOSPACE ? HZ_ENOMEM : HZ_EIO,
                      "%s: cannot expand the pattern: %s", pattern,
                      grc == GLOB_NOSPACE ? "out of memory" : "a directory could not be read");
    }
    size_t n = grc ? 0 : g.gl_pathc;
    if (n && !(r->files = calloc(n, sizeof *r->files))) {
        globfree(&g);
        return open_oom(r, err, errlen);
    }
    for (size_t i = 0; i < n; i++) {
        const char *f = g.gl_pathv[i];
        if (f[strlen(f) - 1] == '/') /* GLOB_MARK: a directory */
            continue;
        if (!(r->files[r->nfiles] = strdup(f))) {
            globfree(&g);
            return open_oom(r, err, errlen);
        }
        r->nfiles++;
        if (stat(f, &st) == 0)
            r->size += (uint64_t)st.st_size;
    }
    globfree(&g);
    if (!r->nfiles)
        return hz_err(err, errlen, HZ_EIO, "%s: no file matches the pattern", pattern);
    qsort(r->files, r->nfiles, sizeof *r->files, cmp_names);
    char *first = strdup(r->files[0]);
    if (!first)
        return open_oom(r, err, errlen);
    free(r->path);
    r->path = first;
    return 0;
}

/* The header of a later file of a pattern, which must be the first file's; HZ_EINVAL
 * naming the file and line where it is not. */
static int same_header(hz_csv_reader *r, char *err, size_t errlen)
{
    long line = r->line;
    int rc = read_record(r);
    if (rc == HZ_EFORMAT)
        return hz_err(err, errlen, HZ_EINVAL, "%s: %s (in the header)", r->e_origin, r->e_reason);
    if (rc != 1)
        return hz_err(err, errlen, rc == 0 ? HZ_EINVAL : rc, "%s:%ld: %s", r->path, line,
                      rc == 0 ? "no header row (empty file?)" : "cannot read the header");
    if (r->nul_line) {
        nul_error(r, err, errlen);
        return HZ_EINVAL;
    }
    for (size_t i = 0; i < r->nfields || i < r->nheader; i++) {
        char name[256] = "";
        if (i < r->nfields)
            trim_copy(name, sizeof name, field(r, i));
        if (i < r->nfields && i < r->nheader && !strcmp(name, r->header[i]))
            continue;
        long col = i < r->nfields ? r->fields[i].col : 1;
        return hz_err(err, errlen, HZ_EINVAL,
                      "%s:%ld:%ld: the header differs from %s:%ld's at column %zu: %s%s%s "
                      "instead of %s%s%s (the files of a pattern share one header)",
                      r->path, r->rec_line, col, r->files[0], r->header_line, i + 1,
                      i < r->nfields ? "\"" : "", i < r->nfields ? name : "nothing",
                      i < r->nfields ? "\"" : "", i < r->nheader ? "\"" : "",
                      i < r->nheader ? r->header[i] : "nothing", i < r->nheader ? "\"" : "");
    }
    return 0;
}

/* At the end of files[fidx]: opens the next file of the pattern (its line numbers from 1,
 * hz_csv_line's going on), skips its preamble and checks its header.  1 when there is
 * one, 0 after the last file, or an error (HZ_EIO, HZ_EINVAL, HZ_EFORMAT, HZ_ENOMEM). */
static int next_file(hz_csv_reader *r, char *err, size_t errlen)
{
    if (!r->files || r->fidx + 1 >= r->nfiles)
        return 0;
    char *path = strdup(r->files[r->fidx + 1]);
    if (!path)
        return open_oom(r, err, errlen);
    fclose(r->f);
    r->f = NULL;
    free(r->path);
    r->path = path;
    r->fidx++;
    r->line_base += r->line - (r->col == 1); /* as if a newline ended every file */
    r->line = r->col = 1;
    r->blen = r->bpos = 0;
    r->eof = 0;
    int rc = open_file(r, err, errlen);
    if (!rc)
        rc = skip_preamble(r, err, errlen);
    if (!rc && !r->o.names)
        rc = same_header(r, err, errlen);
    return rc ? rc : 1;
}

/* hz_csv_open and hz_csv_open_mem: f NULL opens path, else reads f (size bytes) under the
 * name path. */
static hz_csv_reader *open_reader(const char *path, FILE *f, uint64_t size, const hz_csv_opts *o,
                                  char *err, size_t errlen)
{
    hz_csv_opts z = {0};
    hz_csv_reader *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path))) {
        free(r);
        if (f)
            fclose(f);
        hz_err(err, errlen, HZ_ENOMEM, "%s: out of memory", path);
        return NULL;
    }
    r->f = f;
    r->size = size;
    r->o = o ? *o : z;
    r->tcol2 = r->scol = r->fcol = -1;
    r->line = 1;
    r->col = 1;
    if ((!f && r->o.glob && expand_glob(r, path, err, errlen)) || open_file(r, err, errlen) ||
        read_layout(r, err, errlen) || pick_columns(r, err, errlen) ||
        split_na_values(r, err, errlen))
        goto fail;
    return r;
fail:
    hz_csv_close(r);
    return NULL;
}

hz_csv_reader *hz_csv_open(const char *path, const hz_csv_opts *o, char *err, size_t errlen)
{
    return open_reader(path, NULL, 0, o, err, errlen);
}

hz_csv_reader *hz_csv_open_mem(const void *buf, size_t len, const char *name, const hz_csv_opts *o,
                               char *err, size_t errlen)
{
    if (!name)
        name = "<memory>";
    /* fmemopen wants a buffer of at least one byte; an empty one reads as end of file. */
    static char empty[1];
    FILE *f = fmemopen(len ? (void *)buf : empty, len ? len : 1, "rb");
    if (!f) {
        hz_err(err, errlen, HZ_EIO, "%s: cannot open: %s", name, strerror(errno));
        return NULL;
    }
    if (!len)
        fgetc(f); /* at end of file from the start */
    return open_reader(name, f, len, o, err, errlen);
}

int hz_csv_ncols(const hz_csv_reader *r)
{
    return r->ncols;
}

const char *hz_csv_colname(const hz_csv_reader *r, int i)
{
    return i >= 0 && i < r->ncols ? r->header[r->vcol[i]] : NULL;
}

const char *hz_csv_time_colname(const hz_csv_reader *r)
{
    return r->header[r->tcol >= 0 ? r->tcol : r->dcol[0]];
}

const char *hz_csv_series(const hz_csv_reader *r)
{
    return r->scol >= 0 ? r->series : NULL;
}

const char *hz_csv_flag(const hz_csv_reader *r)
{
    return r->fcol >= 0 ? r->flag : NULL;
}

char hz_csv_delimiter(const hz_csv_reader *r)
{
    return r->delim;
}

long hz_csv_line(const hz_csv_reader *r)
{
    return r->line_base + r->rec_line;
}

const char *hz_csv_record(const hz_csv_reader *r, size_t *len)
{
    if (len)
        *len = r->raw_len;
    return r->raw ? r->raw : "";
}

const char *hz_csv_error_origin(const hz_csv_reader *r)
{
    return r->e_origin;
}

const char *hz_csv_error_reason(const hz_csv_reader *r)
{
    return r->e_reason;
}

uint64_t hz_csv_bytes_read(const hz_csv_reader *r)
{
    return r->consumed;
}

uint64_t hz_csv_file_size(const hz_csv_reader *r)
{
    return r->size;
}

/* Sets the error of field fi (or the record start when fi < 0) and returns HZ_EFORMAT. */
static int row_error(hz_csv_reader *r, int fi, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int row_error(hz_csv_reader *r, int fi, char *err, size_t errlen, const char *fmt, ...)
{
    long line = fi >= 0 ? r->fields[fi].line : r->rec_line;
    long col = fi >= 0 ? r->fields[fi].col : 1;
    snprintf(r->e_origin, sizeof r->e_origin, "%s:%ld:%ld", r->path, line, col);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->e_reason, sizeof r->e_reason, fmt, ap);
    va_end(ap);
    return hz_err(err, errlen, HZ_EFORMAT, "%s: %s", r->e_origin, r->e_reason);
}

int hz_csv_row_error(hz_csv_reader *r, const char *column, char *err, size_t errlen,
                     const char *fmt, ...)
{
    int fi = column ? find_col(r, column) : -1;
    if (fi >= (int)r->nfields)
        fi = -1;
    char reason[sizeof r->e_reason];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    return row_error(r, fi, err, errlen, "%s", reason);
}

/* Field fi trimmed into dst; 0, or -1 when it does not fit (never cut short). */
static int field_text(const hz_csv_reader *r, int fi, char *dst, size_t cap)
{
    const char *s = field(r, (size_t)fi);
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n >= cap)
        return -1;
    memcpy(dst, s, n);
    dst[n] = 0;
    return 0;
}

/* Field fi without its leading and trailing spaces and tabs: its start, length in *n. */
static const char *field_trimmed(const hz_csv_reader *r, int fi, size_t *n)
{
    const char *s = field(r, (size_t)fi);
    while (*s == ' ' || *s == '\t')
        s++;
    size_t k = strlen(s);
    while (k && (s[k - 1] == ' ' || s[k - 1] == '\t'))
        k--;
    *n = k;
    return s;
}

/* Whether the n bytes at v are missing: empty, or an na token as text. */
static int na_text(const hz_csv_reader *r, const char *v, size_t n)
{
    int na = n == 0;
    for (int i = 0; i < r->nna && !na; i++)
        na = strlen(r->na[i]) == n && !memcmp(v, r->na[i], n);
    return na;
}

/* The number in the n bytes at v (the whole field, however long) into *x: 0, or -1 when it
 * is not one.  A number too large for a double reads as +-DBL_MAX, so the rules of
 * reading_check.h refuse it as too large for float32 rather than as infinite. */
static int field_number(const char *v, size_t n, double *x)
{
    char *end;
    errno = 0;
    *x = strtod(v, &end);
    if (end == v || end != v + n || (errno == ERANGE && fabs(*x) < 1))
        return -1; /* not a number, trailing text, or below the smallest double */
    if (errno == ERANGE)
        *x = copysign(DBL_MAX, *x);
    return 0;
}

/* Field fi (a value column) into *x: 0, 1 when missing (empty, an na token as text, or a
 * number equal to a numeric na token), or HZ_EFORMAT.  A value that is not finite (nan,
 * inf) or does not fit float32 is refused (connectors/reading_check.h). */
static int parse_value(hz_csv_reader *r, int fi, double *x, char *err, size_t errlen)
{
    size_t n;
    const char *v = field_trimmed(r, fi, &n);
    int na = na_text(r, v, n);
    if (!na) {
        if (field_number(v, n, x))
            return row_error(r, fi, err, errlen, "column \"%s\": expected a number, got \"%.60s\"",
                             r->header[fi], field(r, (size_t)fi));
        for (int i = 0; i < r->nna && !na; i++)
            na = *x == r->na_num[i]; /* NaN (a text token) equals nothing */
    }
    char why[200];
    if (!na && hz_check_value(*x, why, sizeof why))
        return row_error(r, fi, err, errlen, "column \"%s\": \"%.40s%s\": %s", r->header[fi], v,
                         n > 40 ? "..." : "", why);
    if (na && !r->o.allow_empty)
        return row_error(r, fi, err, errlen,
                         "column \"%s\": missing value (\"%.*s\") and empty values are not allowed",
                         r->header[fi], (int)(n > 60 ? 60 : n), v);
    if (na)
        *x = NAN;
    return na;
}

/* The timestamp from the time column(s), times without a zone at the source's offset. */
static int parse_time_field(hz_csv_reader *r, int64_t *ts_ms, char *err, size_t errlen)
{
    char tbuf[256];
    size_t n1, n2 = 0;
    const char *t1 = field_trimmed(r, r->tcol, &n1), *t2 = "";
    if (r->tcol2 >= 0)
        t2 = field_trimmed(r, r->tcol2, &n2);
    if (n1 + n2 + 2 > sizeof tbuf) /* never parsed cut short */
        return row_error(r, r->tcol, err, errlen, "column \"%s\": timestamp longer than %zu bytes",
                         r->header[r->tcol], sizeof tbuf - 2);
    snprintf(tbuf, sizeof tbuf, "%.*s%s%.*s", (int)n1, t1, r->tcol2 >= 0 ? " " : "", (int)n2, t2);
    if (hz_csv_parse_time_at(tbuf, r->o.date_order, r->o.epoch_unit, r->o.utc_offset_min, ts_ms))
        return row_error(r, r->tcol, err, errlen,
                         "column \"%s\": expected a timestamp (ISO 8601, %s or epoch), got "
                         "\"%.60s\"",
                         r->header[r->tcol],
                         r->o.date_order == HZ_CSV_MDY   ? "M/D/YYYY"
                         : r->o.date_order == HZ_CSV_DMY ? "D/M/YYYY"
                                                         : "YYYY/MM/DD",
                         tbuf);
    return 0;
}

/* The timestamp from date parts: year, month, day[, hour[, minute]] as whole numbers in
 * range (the day within its month), at the source's offset. */
static int parse_date_parts(hz_csv_reader *r, int64_t *ts_ms, char *err, size_t errlen)
{
    static const char *what[HZ_CSV_MAX_DATE_PARTS] = {"year", "month", "day", "hour", "minute"};
    static const int lo[HZ_CSV_MAX_DATE_PARTS] = {1, 1, 1, 0, 0};
    static const int hi[HZ_CSV_MAX_DATE_PARTS] = {9999, 12, 31, 23, 59};
    int64_t v[HZ_CSV_MAX_DATE_PARTS] = {0, 1, 1, 0, 0};
    for (int k = 0; k < r->ndcol; k++) {
        int fi = r->dcol[k];
        char t[64];
        int64_t x = 0;
        const char *p = t;
        if (field_text(r, fi, t, sizeof t) || !digits(&p, 9, &x) || *p)
            return row_error(r, fi, err, errlen,
                             "column \"%s\": expected the %s as a whole number, got \"%.60s\"",
                             r->header[fi], what[k], field(r, (size_t)fi));
        int top = k == 2 ? days_in_month(v[0], (int)v[1]) : hi[k];
        if (x < lo[k] || x > top)
            return row_error(r, fi, err, errlen, "column \"%s\": %s %lld is out of range %d..%d",
                             r->header[fi], what[k], (long long)x, lo[k], top);
        v[k] = x;
    }
    int64_t secs = hz_days_from_civil(v[0], (int)v[1], (int)v[2]) * 86400 + v[3] * 3600 +
                   v[4] * 60 - (int64_t)r->o.utc_offset_min * 60;
    *ts_ms = secs * 1000;
    return 0;
}

/* The row's series and flag fields into r->series and r->flag; an empty series is refused. */
static int parse_labels(hz_csv_reader *r, char *err, size_t errlen)
{
    if (r->scol >= 0 && field_text(r, r->scol, r->series, sizeof r->series))
        return row_error(r, r->scol, err, errlen,
                         "column \"%s\": series name longer than %zu bytes", r->header[r->scol],
                         sizeof r->series - 1);
    if (r->scol >= 0 && !r->series[0])
        return row_error(r, r->scol, err, errlen, "column \"%s\": empty series name",
                         r->header[r->scol]);
    if (r->fcol >= 0 && field_text(r, r->fcol, r->flag, sizeof r->flag))
        return row_error(r, r->fcol, err, errlen, "column \"%s\": flag longer than %zu bytes",
                         r->header[r->fcol], sizeof r->flag - 1);
    return 0;
}

/* The row's time within the range every source accepts (connectors/reading_check.h). */
static int check_time(hz_csv_reader *r, int64_t ts_ms, char *err, size_t errlen)
{
    char why[200];
    if (!hz_check_ts(ts_ms, 0, 0, why, sizeof why))
        return 0;
    int fi = r->ndcol ? r->dcol[0] : r->tcol;
    return row_error(r, fi, err, errlen, "column \"%s\": %s", r->header[fi], why);
}

int hz_csv_next(hz_csv_reader *r, int64_t *ts_ms, double *values, char *err, size_t errlen)
{
    r->series[0] = r->flag[0] = 0;
    if (r->stuck)
        return hz_err(err, errlen, r->stuck, "%s", r->stuck_msg);
    int rc = read_record(r);
    while (rc == 0) { /* at the end of a file: the pattern's next one */
        int nx = next_file(r, r->stuck_msg, sizeof r->stuck_msg);
        if (nx < 0) {
            r->stuck = nx == HZ_EFORMAT ? HZ_EINVAL : nx; /* not a bad row: no moving on */
            return hz_err(err, errlen, r->stuck, "%s", r->stuck_msg);
        }
        if (nx == 0)
            break;
        rc = read_record(r);
    }
    if (rc == HZ_EFORMAT)
        return hz_err(err, errlen, HZ_EFORMAT, "%s: %s", r->e_origin, r->e_reason);
    if (rc == HZ_EIO)
        return hz_err(err, errlen, HZ_EIO, "%s:%ld: read error", r->path, r->line);
    if (rc == HZ_ENOMEM)
        return hz_err(err, errlen, HZ_ENOMEM, "%s: out of memory", r->path);
    if (rc == 0)
        return 0;
    if (r->nul_line)
        return nul_error(r, err, errlen);
    if (r->nfields != r->nheader) {
        int fi = r->nfields > r->nheader ? (int)r->nheader : -1;
        return row_error(r, fi, err, errlen, "expected %zu fields as in the %s, got %zu",
                         r->nheader, r->header_line > 0 ? "header" : "given names", r->nfields);
    }
    rc = r->ndcol ? parse_date_parts(r, ts_ms, err, errlen)
                  : parse_time_field(r, ts_ms, err, errlen);
    if (!rc)
        rc = check_time(r, *ts_ms, err, errlen);
    if (!rc)
        rc = parse_labels(r, err, errlen);
    for (int j = 0; j < r->ncols && !rc; j++) {
        int got = parse_value(r, r->vcol[j], &values[j], err, errlen);
        rc = got < 0 ? got : 0;
    }
    if (rc) {
        r->series[0] = r->flag[0] = 0;
        return rc;
    }
    return 1;
}

/* ---------------------------------------------------------------- loader */

void hz_csv_table_free(hz_csv_table *t)
{
    if (!t)
        return;
    for (int j = 0; t->names && j < t->cols; j++)
        free(t->names[j]);
    free(t->names);
    free(t->ts_ms);
    free(t->values);
    free(t);
}

int hz_csv_load(const char *path, const hz_csv_opts *o, hz_csv_table **out, char *err,
                size_t errlen)
{
    *out = NULL;
    hz_csv_reader *r = hz_csv_open(path, o, err, errlen);
    if (!r)
        return HZ_EINVAL;
    hz_csv_table *t = calloc(1, sizeof *t);
    int rc = HZ_ENOMEM;
    if (!t)
        goto done;
    t->cols = r->ncols;
    if (!(t->names = calloc((size_t)t->cols, sizeof *t->names)))
        goto done;
    for (int j = 0; j < t->cols; j++)
        if (!(t->names[j] = strdup(hz_csv_colname(r, j))))
            goto done;
    size_t cap = 0;
    for (;;) {
        if (t->rows == cap) {
            size_t nc = cap ? cap * 2 : 4096;
            int64_t *ts = realloc(t->ts_ms, nc * sizeof *ts);
            if (!ts)
                goto done;
            t->ts_ms = ts;
            double *v = realloc(t->values, nc * (size_t)t->cols * sizeof *v);
            if (!v)
                goto done;
            t->values = v;
            cap = nc;
        }
        rc = hz_csv_next(r, &t->ts_ms[t->rows], &t->values[t->rows * (size_t)t->cols], err, errlen);
        if (rc < 0)
            goto done;
        if (rc == 0)
            break;
        t->rows++;
    }
    rc = 0;
done:
    if (rc == HZ_ENOMEM)
        hz_err(err, errlen, HZ_ENOMEM, "%s: out of memory", path);
    hz_csv_close(r);
    if (rc) {
        hz_csv_table_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

/* ---------------------------------------------------------------- source */

#define CSV_PAYLOAD_MAX 1024
#define CSV_SERIES_CAP  sizeof(((hz_csv_reader *)0)->series) /* a row's series id, with NUL */

typedef struct csv_dead {
    char origin[600];
    char reason[400];
    char payload[CSV_PAYLOAD_MAX];
    size_t payload_len;
    long line;
} csv_dead;

typedef struct csv_source {
    hz_source base;
    hz_csv_reader *r;
    char *series; /* the one series id; NULL: each row's, from the series column */
    char *sbuf;   /* with a series column: reading i's id at i * CSV_SERIES_CAP */
    size_t sbuf_cap;
    int64_t max_future_ms;
    long start_after;
    long acked;
    hz_reading *readings;
    size_t readings_cap;
    csv_dead *dstore;
    hz_dead_letter *dead;
    size_t dead_cap;
    hz_pos bpos; /* the batch's last line */
} csv_source;

/* Room for max readings (and their series ids with a series column); 0 or HZ_ENOMEM. */
static int reserve(csv_source *cs, size_t max)
{
    if (hz_grow((void **)&cs->readings, &cs->readings_cap, max, sizeof(hz_reading)))
        return HZ_ENOMEM;
    if (!cs->series && hz_grow((void **)&cs->sbuf, &cs->sbuf_cap, max, CSV_SERIES_CAP))
        return HZ_ENOMEM;
    return 0;
}

/* Row nr just read into rd: its series, variables and position; HZ_EFORMAT (the row refused,
 * origin and reason set) when its time is further ahead of the clock than max_future. */
static int take_reading(csv_source *cs, hz_reading *rd, size_t nr)
{
    char why[200], e[HZ_ERRLEN];
    if (hz_check_ts(rd->ts_ms, cs->max_future_ms, hz_now_ms(), why, sizeof why))
        return hz_csv_row_error(cs->r, hz_csv_time_colname(cs->r), e, sizeof e, "column \"%s\": %s",
                                hz_csv_time_colname(cs->r), why);
    if (cs->series) {
        rd->series = cs->series;
    } else {
        char *id = cs->sbuf + nr * CSV_SERIES_CAP;
        snprintf(id, CSV_SERIES_CAP, "%s", hz_csv_series(cs->r));
        rd->series = id;
    }
    rd->nvars = hz_csv_ncols(cs->r);
    rd->pos.partition = -1;
    rd->pos.offset = hz_csv_line(cs->r);
    return 0;
}

/* The row just refused as dead letter nd (origin, reason, raw bytes); 0 or HZ_ENOMEM. */
static int take_dead(csv_source *cs, size_t nd)
{
    size_t cap_before = cs->dead_cap;
    if (hz_grow((void **)&cs->dead, &cs->dead_cap, nd + 1, sizeof(hz_dead_letter)))
        return HZ_ENOMEM;
    if (cs->dead_cap != cap_before) {
        csv_dead *ds = realloc(cs->dstore, cs->dead_cap * sizeof *ds);
        if (!ds)
            return HZ_ENOMEM;
        cs->dstore = ds;
    }
    csv_dead *d = &cs->dstore[nd];
    snprintf(d->origin, sizeof d->origin, "%s", hz_csv_error_origin(cs->r));
    snprintf(d->reason, sizeof d->reason, "%s", hz_csv_error_reason(cs->r));
    size_t len;
    const char *raw = hz_csv_record(cs->r, &len);
    d->payload_len = len < CSV_PAYLOAD_MAX ? len : CSV_PAYLOAD_MAX;
    memcpy(d->payload, raw, d->payload_len);
    d->line = hz_csv_line(cs->r);
    return 0;
}

/* Points the batch's dead letters at their store and fills out; returns the record count. */
static int fill_batch(csv_source *cs, hz_batch *out, size_t nr, size_t nd)
{
    for (size_t i = 0; i < nd; i++) {
        hz_dead_letter *dl = &cs->dead[i];
        dl->origin = cs->dstore[i].origin;
        dl->reason = cs->dstore[i].reason;
        dl->payload = cs->dstore[i].payload;
        dl->payload_len = cs->dstore[i].payload_len;
        dl->ts_ms = hz_now_ms();
        dl->pos = (hz_pos){-1, cs->dstore[i].line};
    }
    cs->bpos = (hz_pos){-1, 0};
    for (size_t i = 0; i < nr; i++)
        if (cs->readings[i].pos.offset > cs->bpos.offset)
            cs->bpos.offset = cs->readings[i].pos.offset;
    for (size_t i = 0; i < nd; i++)
        if (cs->dead[i].pos.offset > cs->bpos.offset)
            cs->bpos.offset = cs->dead[i].pos.offset;
    out->readings = cs->readings;
    out->n_readings = nr;
    out->dead = cs->dead;
    out->n_dead = nd;
    out->positions = &cs->bpos;
    out->n_positions = nr + nd ? 1 : 0;
    return (int)(nr + nd);
}

/* At the end of the file with nothing to return: waits timeout_ms, as a poll that found
 * nothing new does, so an idle pipeline does not spin. */
static void idle_wait(int timeout_ms)
{
    if (timeout_ms <= 0)
        return;
    struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) && errno == EINTR)
        ;
}

static int csv_poll(hz_source *s, hz_batch *out, size_t max, int timeout_ms, char *err,
                    size_t errlen)
{
    csv_source *cs = (csv_source *)s;
    memset(out, 0, sizeof *out);
    if (max == 0)
        return 0;
    if (reserve(cs, max))
        return hz_err(err, errlen, HZ_ENOMEM, "csv source: out of memory");
    size_t nr = 0, nd = 0;
    int rc = 1;
    while (nr + nd < max) {
        hz_reading *rd = &cs->readings[nr];
        char e[HZ_ERRLEN];
        rc = hz_csv_next(cs->r, &rd->ts_ms, rd->values, e, sizeof e);
        if (rc == 0)
            break;
        if (hz_csv_line(cs->r) <= cs->start_after)
            continue;
        if (rc == 1 && (rc = take_reading(cs, rd, nr)) == 0) {
            nr++;
            continue;
        }
        if (rc != HZ_EFORMAT)
            return hz_err(err, errlen, rc, "%s", e);
        if (take_dead(cs, nd))
            return hz_err(err, errlen, HZ_ENOMEM, "csv source: out of memory");
        nd++;
    }
    if (rc == 0 && nr + nd == 0)
        idle_wait(timeout_ms);
    return fill_batch(cs, out, nr, nd);
}

static int csv_ack(hz_source *s, const hz_pos *pos, char *err, size_t errlen)
{
    csv_source *cs = (csv_source *)s;
    (void)err;
    (void)errlen;
    if (pos->offset > cs->acked)
        cs->acked = (long)pos->offset;
    return 0;
}

static void csv_free(hz_source *s)
{
    csv_source *cs = (csv_source *)s;
    if (!cs)
        return;
    hz_csv_close(cs->r);
    free(cs->series);
    free(cs->sbuf);
    free(cs->readings);
    free(cs->dead);
    free(cs->dstore);
    free(cs);
}

static const hz_source_ops csv_ops = {
    .kind = "csv", .poll = csv_poll, .ack = csv_ack, .free = csv_free};

/* The source's series: one id (series), or each row's (csv.series_column); exactly one. */
static int check_series(const hz_csv_source_opts *o, char *err, size_t errlen)
{
    int fixed = o->series && o->series[0], column = o->csv.series_column != NULL;
    if (fixed == column)
        return hz_err(err, errlen, HZ_EINVAL,
                      "csv source %s: give either one series id or a series column%s",
                      o->path ? o->path : "",
                      fixed ? ", not both"
                            : " (an empty id would put "
                              "every row into one series)");
    if (column && !o->csv.series_column[0])
        return hz_err(err, errlen, HZ_EINVAL, "csv source %s: the series column name is empty",
                      o->path ? o->path : "");
    return 0;
}

int hz_csv_source_new(const hz_csv_source_opts *o, hz_source **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!o || !o->path)
        return hz_err(err, errlen, HZ_EINVAL, "csv source: path is required");
    int rc = check_series(o, err, errlen);
    if (rc)
        return rc;
    csv_source *cs = calloc(1, sizeof *cs);
    if (!cs || (o->series && !(cs->series = strdup(o->series)))) {
        free(cs);
        return hz_err(err, errlen, HZ_ENOMEM, "csv source: out of memory");
    }
    cs->base.ops = &csv_ops;
    cs->start_after = o->start_after_line;
    cs->max_future_ms = o->max_future_ms;
    cs->r = hz_csv_open(o->path, &o->csv, err, errlen);
    if (!cs->r) {
        csv_free(&cs->base);
        return HZ_EINVAL;
    }
    if (hz_csv_ncols(cs->r) > HZ_MAX_VARS) {
        csv_free(&cs->base);
        return hz_err(err, errlen, HZ_EINVAL,
                      "%s: %d value columns, a reading holds at most %d (choose columns)", o->path,
                      hz_csv_ncols(cs->r), HZ_MAX_VARS);
    }
    *out = &cs->base;
    return 0;
}
