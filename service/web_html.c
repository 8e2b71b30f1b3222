/* web_html.c — the web view's HTML pages and SVG charts (service/web_int.h), drawn from the
 * JSON web_query.c reads.  No script and nothing fetched: one document with its style inline
 * (the server's Content-Security-Policy forbids the rest, service/web.c).  Every name from
 * the data goes through sb_html in text and attributes and sb_url in links. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service/web_int.h"

static const char style[] =
    "body{font:14px/1.4 sans-serif;margin:0;color:#222;background:#fafafa}"
    "header{background:#1f3b57;color:#fff;padding:8px 16px}header a{color:#fff;"
    "text-decoration:none;font-weight:bold}main{padding:8px 16px;max-width:1000px}"
    "table{border-collapse:collapse;margin:6px 0}td,th{border:1px solid #ccc;padding:3px 8px;"
    "text-align:left;vertical-align:top}th{background:#eee}.num{text-align:right}"
    ".failed{color:#b00;font-weight:bold}.ok{color:#070}.err{color:#b00}"
    "section.pipeline{background:#fff;border:1px solid #ddd;padding:4px 12px;margin:10px 0}"
    "svg.chart{background:#fff;border:1px solid #ddd}.band{stroke:none}"
    ".band-0{fill:#c6dbef;background:#c6dbef}.band-1{fill:#9ecae1;background:#9ecae1}"
    ".band-2{fill:#6baed6;background:#6baed6}.band-3{fill:#4292c6;background:#4292c6}"
    ".forecast{fill:none;stroke:#08519c;stroke-width:2;stroke-dasharray:5 3}"
    ".readings{fill:none;stroke:#333;stroke-width:1.3}.axis{stroke:#bbb}.grid{stroke:#eee}"
    ".now{stroke:#999;stroke-dasharray:3 3}.flag{stroke:#000;stroke-width:.8}"
    ".k-residual{fill:#e31a1c;background:#e31a1c}.k-spike{fill:#ff7f00;background:#ff7f00}"
    ".k-range{fill:#6a3d9a;background:#6a3d9a}.k-flatline{fill:#1f78b4;background:#1f78b4}"
    ".k-gap{fill:#b15928;background:#b15928}.k-shift{fill:#33a02c;background:#33a02c}"
    ".k-other{fill:#999;background:#999}"
    "ul.series li{font-family:monospace}.key>span{display:inline-block;margin-right:12px}"
    ".dot{display:inline-block;width:10px;height:10px;border-radius:5px;margin-right:4px}"
    ".appliance{fill:none;stroke-width:1.5}.a-0{stroke:#e31a1c;background:#e31a1c}"
    ".a-1{stroke:#1f78b4;background:#1f78b4}.a-2{stroke:#33a02c;background:#33a02c}"
    ".a-3{stroke:#ff7f00;background:#ff7f00}.a-4{stroke:#6a3d9a;background:#6a3d9a}"
    ".a-5{stroke:#b15928;background:#b15928}";

static void page_start(web_sb *b, const char *title)
{
    sb_puts(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
               "<meta name=\"viewport\" content=\"width=device-width\"><title>");
    sb_html(b, title);
    sb_puts(b, " \xe2\x80\x94 horizon</title><style>");
    sb_puts(b, style);
    sb_puts(b, "</style></head><body><header><a href=\"/\">horizon</a></header><main>\n");
}

static void page_end(web_sb *b)
{
    sb_puts(b, "</main></body></html>\n");
}

/* href of a pipeline page, a series page (hours > 0: with its range) */
static void href_pipeline(web_sb *b, const char *p)
{
    sb_puts(b, "/pipeline/");
    sb_url(b, p);
}

static void href_series(web_sb *b, const char *p, const char *s, int hours)
{
    sb_puts(b, "/series/");
    sb_url(b, p);
    sb_puts(b, "/");
    sb_url(b, s);
    if (hours > 0)
        sb_printf(b, "?hours=%d", hours);
}

/* A kind as a class suffix: the known kinds, else "other" (data never reaches a class). */
static const char *kind_class(const char *kind)
{
    static const char *const known[] = {"residual", "spike", "range", "flatline", "gap", "shift"};
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (!strcmp(kind, known[i]))
            return known[i];
    return "other";
}

static void duration(web_sb *b, double s)
{
    if (isnan(s))
        sb_puts(b, "\xe2\x80\x93");
    else if (s < 120)
        sb_printf(b, "%.0f s", s);
    else if (s < 7200)
        sb_printf(b, "%.0f min", s / 60);
    else if (s < 172800)
        sb_printf(b, "%.1f h", s / 3600);
    else
        sb_printf(b, "%.1f d", s / 86400);
}

/* ---- / */

/* A row "k | ..." of a two-column table; the previous row (first: 0) is closed first. */
static void row(web_sb *b, const char *k, int first)
{
    sb_printf(b, "%s<tr><th>%s</th><td>", first ? "" : "</td></tr>", k);
}

static void state_table(web_sb *b, const json_t *p)
{
    int running = json_is_true(json_object_get(p, "running"));
    sb_puts(b, "<table class=\"state\">");
    row(b, "state", 1);
    sb_puts(b,
            running ? "<span class=\"ok\">running</span>" : "<span class=\"failed\">failed</span>");
    row(b, "model", 0);
    sb_html(b, web_getstr(p, "model_id"));
    sb_puts(b, ", age ");
    duration(b, web_getnum(p, "model_age_s"));
    row(b, "readings/s", 0);
    sb_num(b, web_getnum(p, "readings_per_s"));
    row(b, "lag", 0);
    sb_num(b, web_getnum(p, "lag"));
    row(b, "totals", 0);
    sb_printf(b, "%.0f readings, %.0f forecasts, %.0f flags; %.0f series in memory",
              web_getnum(p, "readings"), web_getnum(p, "forecasts"), web_getnum(p, "anomalies"),
              web_getnum(p, "series_in_memory"));
    row(b, "last error", 0);
    sb_puts(b, "<span class=\"err\">");
    sb_html(b, web_getstr(p, "last_error"));
    if (*web_getstr(p, "read_error")) {
        sb_puts(b, "</span>");
        row(b, "reading its file", 0);
        sb_puts(b, "<span class=\"err\">");
        sb_html(b, web_getstr(p, "read_error"));
    }
    sb_puts(b, "</span></td></tr></table>\n");
}

static void day_tables(web_sb *b, const json_t *p)
{
    const char *name = web_getstr(p, "name");
    double until = web_getnum(p, "flags_until_ms");
    if (isnan(until)) {
        sb_puts(b, "<p>No flags yet.</p>\n");
        return;
    }
    sb_puts(b, "<h3>Flags in the day up to ");
    sb_time(b, (int64_t)until);
    sb_printf(b, " UTC%s</h3><table class=\"kinds\"><tr><th>kind</th><th>flags</th></tr>",
              json_is_true(json_object_get(p, "flags_capped")) ? " (the newest only)" : "");
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(p, "flags_by_kind"), k, v)
    {
        sb_printf(b, "<tr><td><span class=\"dot k-%s\"></span>", kind_class(k));
        sb_html(b, k);
        sb_printf(b, "</td><td class=\"num\">%lld</td></tr>", (long long)json_integer_value(v));
    }
    sb_puts(b, "</table><h3>Series with the most flags</h3><table class=\"top\">"
               "<tr><th>series</th><th>flags</th></tr>");
    size_t i;
    json_array_foreach(json_object_get(p, "top_series"), i, v)
    {
        sb_puts(b, "<tr><td><a href=\"");
        href_series(b, name, web_getstr(v, "series"), 0);
        sb_puts(b, "\">");
        sb_html(b, web_getstr(v, "series"));
        sb_printf(b, "</a></td><td class=\"num\">%.0f</td></tr>", web_getnum(v, "flags"));
    }
    sb_puts(b, "</table>\n");
}

void web_html_index(web_sb *b, const json_t *pipelines)
{
    page_start(b, "pipelines");
    sb_printf(b, "<h1>Pipelines</h1><p>%zu configured.</p>\n", json_array_size(pipelines));
    size_t i;
    json_t *p;
    json_array_foreach(pipelines, i, p)
    {
        sb_puts(b, "<section class=\"pipeline\"><h2><a href=\"");
        href_pipeline(b, web_getstr(p, "name"));
        sb_puts(b, "\">");
        sb_html(b, web_getstr(p, "name"));
        sb_puts(b, "</a></h2>\n");
        state_table(b, p);
        day_tables(b, p);
        sb_puts(b, "</section>\n");
    }
    page_end(b);
}

/* ---- /pipeline/NAME */

void web_html_pipeline(web_sb *b, const json_t *list)
{
    const char *name = web_getstr(list, "pipeline"), *prefix = web_getstr(list, "prefix");
    page_start(b, name);
    sb_puts(b, "<h1>Pipeline ");
    sb_html(b, name);
    sb_puts(b, "</h1><form method=\"get\" action=\"");
    href_pipeline(b, name);
    sb_puts(b, "\"><label>Series starting with <input name=\"prefix\" value=\"");
    sb_html(b, prefix);
    sb_puts(b, "\"></label> <button>Search</button></form>\n<ul class=\"series\">\n");
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(list, "series"), i, s)
    {
        sb_puts(b, "<li><a href=\"");
        href_series(b, name, json_string_value(s), 0);
        sb_puts(b, "\">");
        sb_html(b, json_string_value(s));
        sb_puts(b, "</a></li>\n");
    }
    sb_puts(b, "</ul>\n");
    if (json_array_size(json_object_get(list, "series")) == 0)
        sb_puts(b, "<p>No series with a forecast matches.</p>\n");
    const char *next = json_string_value(json_object_get(list, "next"));
    if (next) {
        sb_puts(b, "<p><a class=\"next\" href=\"");
        href_pipeline(b, name);
        sb_puts(b, "?prefix=");
        sb_url(b, prefix);
        sb_puts(b, "&amp;after=");
        sb_url(b, next);
        sb_puts(b, "\">next page</a></p>\n");
    }
    page_end(b);
}

/* ---- /series/PIPELINE/SERIES: the chart */

enum { CW = 900, CH = 320, ML = 60, MR = 16, MT = 12, MB = 34 };

typedef struct scale {
    double x0, x1, y0, y1;
} scale;

static double sx(const scale *s, double t)
{
    return ML + (t - s->x0) / (s->x1 - s->x0) * (CW - ML - MR);
}

static double sy(const scale *s, double v)
{
    return MT + (s->y1 - v) / (s->y1 - s->y0) * (CH - MT - MB);
}

static void grow(scale *s, double t, double v)
{
    if (!isnan(t)) {
        s->x0 = fmin(s->x0, t);
        s->x1 = fmax(s->x1, t);
    }
    if (!isnan(v)) {
        s->y0 = fmin(s->y0, v);
        s->y1 = fmax(s->y1, v);
    }
}

static void grow_array(scale *s, const json_t *ts, const json_t *vs)
{
    size_t i;
    json_t *v;
    json_array_foreach(vs, i, v) grow(s, json_number_value(json_array_get(ts, i)),
                                      json_is_number(v) ? json_number_value(v) : NAN);
}

/* A level suffix ("99_9") as a percentage (99.9). */
static double level_pct(const char *lv)
{
    char t[16];
    snprintf(t, sizeof t, "%s", lv);
    for (char *c = t; *c; c++)
        if (*c == '_')
            *c = '.';
    return atof(t);
}

/* How many of fc's bands (ascending) are drawn: those up to 99% (a 99.9% band would flatten
 * the rest), at least the narrowest. */
static size_t drawn_bands(const json_t *fc)
{
    const json_t *bands = json_object_get(fc, "bands");
    size_t k = 0;
    while (k < json_array_size(bands) &&
           level_pct(web_getstr(json_array_get(bands, k), "level")) <= 99.0 + 1e-9)
        k++;
    return k ? k : json_array_size(bands) > 0;
}

/* The domain: the range asked for, every reading, the forecast with its bands, the flags. */
static scale domain(const json_t *series, const json_t *var, const json_t *fc)
{
    scale s = {web_getnum(series, "from_ms"), web_getnum(series, "to_ms"), INFINITY, -INFINITY};
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(var, "readings"), i, p)
        grow(&s, NAN,
             json_is_number(json_array_get(p, 1)) ? json_number_value(json_array_get(p, 1)) : NAN);
    const json_t *ts = json_object_get(fc, "ts");
    grow_array(&s, ts, json_object_get(fc, "value"));
    for (i = 0; i < drawn_bands(fc); i++) {
        p = json_array_get(json_object_get(fc, "bands"), i);
        grow_array(&s, ts, json_object_get(p, "lower"));
        grow_array(&s, ts, json_object_get(p, "upper"));
    }
    if (!isfinite(s.y0)) {
        s.y0 = 0;
        s.y1 = 1;
    }
    double pad = (s.y1 - s.y0) * 0.05 + (s.y1 == s.y0 ? 1 : 0);
    s.y0 -= pad;
    s.y1 += pad;
    if (s.x1 <= s.x0)
        s.x1 = s.x0 + 1;
    return s;
}

static void axes(web_sb *b, const scale *s)
{
    for (int k = 0; k <= 4; k++) {
        double v = s->y0 + (s->y1 - s->y0) * k / 4, y = sy(s, v);
        sb_printf(b, "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>", ML, y,
                  CW - MR, y);
        sb_printf(b, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" font-size=\"11\">", ML - 4,
                  y + 4);
        sb_num(b, v);
        sb_puts(b, "</text>");
    }
    for (int k = 0; k <= 4; k++) {
        double t = s->x0 + (s->x1 - s->x0) * k / 4;
        sb_printf(b, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"%s\" font-size=\"11\">", sx(s, t),
                  CH - 12,
                  k == 0   ? "start"
                  : k == 4 ? "end"
                           : "middle");
        if (s->x1 - s->x0 >= 3 * 86400000.0) /* days apart: the date says enough */
            sb_date(b, (int64_t)t);
        else
            sb_time(b, (int64_t)t);
        sb_puts(b, "</text>");
    }
    sb_printf(b, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>", ML, CH - MB,
              CW - MR, CH - MB);
}

/* One band as a closed path: the upper edge forwards, the lower edge back. */
static void band(web_sb *b, const scale *s, const json_t *ts, const json_t *bd, int idx)
{
    const json_t *lo = json_object_get(bd, "lower"), *hi = json_object_get(bd, "upper");
    size_t n = json_array_size(ts);
    sb_printf(b, "<path class=\"band band-%d\" data-level=\"%g\" d=\"", idx,
              level_pct(web_getstr(bd, "level")));
    int first = 1;
    for (size_t k = 0; k < 2 * n; k++) {
        size_t i = k < n ? k : 2 * n - 1 - k;
        const json_t *e = json_array_get(k < n ? hi : lo, i);
        if (!json_is_number(e))
            continue;
        sb_printf(b, "%c%.1f,%.1f", first ? 'M' : 'L',
                  sx(s, json_number_value(json_array_get(ts, i))), sy(s, json_number_value(e)));
        first = 0;
    }
    sb_puts(b, "Z\"/>");
}

/* A line through (ts[i], vs[i]), broken where a value is null, as a path of class cls. */
static void line(web_sb *b, const scale *s, const char *cls, const json_t *ts, const json_t *vs,
                 const json_t *pairs)
{
    sb_printf(b, "<path class=\"%s\" d=\"", cls);
    size_t n = pairs ? json_array_size(pairs) : json_array_size(vs);
    int pen = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *t =
            pairs ? json_array_get(json_array_get(pairs, i), 0) : json_array_get(ts, i);
        const json_t *v =
            pairs ? json_array_get(json_array_get(pairs, i), 1) : json_array_get(vs, i);
        if (!json_is_number(v) || !json_is_number(t)) {
            pen = 0;
            continue;
        }
        sb_printf(b, "%c%.1f,%.1f", pen ? 'L' : 'M', sx(s, json_number_value(t)),
                  sy(s, json_number_value(v)));
        pen = 1;
    }
    sb_puts(b, "\"/>");
}

/* The flags of variable var as circles (a flag without a value sits on the time axis). */
static void flag_marks(web_sb *b, const scale *s, const json_t *flags, const char *var)
{
    sb_puts(b, "<g class=\"flags\">");
    size_t i;
    json_t *f;
    json_array_foreach(flags, i, f)
    {
        double t = web_getnum(f, "ts"), v = web_getnum(f, "value");
        if (strcmp(web_getstr(f, "variable"), var) || t < s->x0 || t > s->x1)
            continue;
        const char *kind = web_getstr(f, "kind");
        sb_printf(b, "<circle class=\"flag k-%s\" data-kind=\"", kind_class(kind));
        sb_html(b, kind);
        sb_printf(b, "\" cx=\"%.1f\" cy=\"%.1f\" r=\"5\"><title>", sx(s, t),
                  isnan(v) ? (double)(CH - MB) : sy(s, fmax(s->y0, fmin(s->y1, v))));
        sb_html(b, kind);
        sb_puts(b, " at ");
        sb_time(b, (int64_t)t);
        sb_puts(b, ": ");
        sb_num(b, v);
        sb_puts(b, "</title></circle>");
    }
    sb_puts(b, "</g>");
}

static void chart(web_sb *b, const json_t *series, const json_t *var)
{
    const json_t *fc = json_object_get(var, "forecast");
    const char *vname = web_getstr(var, "name");
    scale s = domain(series, var, fc);
    sb_printf(b,
              "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
              "height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"",
              CW, CH, CW, CH);
    sb_html(b, web_getstr(series, "series"));
    sb_puts(b, " ");
    sb_html(b, vname);
    sb_puts(b, "\"><title>");
    sb_html(b, vname);
    sb_puts(b, "</title>");
    axes(b, &s);
    const json_t *ts = json_object_get(fc, "ts"), *bands = json_object_get(fc, "bands");
    for (size_t l = drawn_bands(fc); l-- > 0;) /* the widest first, under the others */
        band(b, &s, ts, json_array_get(bands, l), (int)l);
    double last = web_getnum(series, "to_ms");
    sb_printf(b, "<line class=\"now\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>", sx(&s, last),
              MT, sx(&s, last), CH - MB);
    line(b, &s, "readings", NULL, NULL, json_object_get(var, "readings"));
    if (fc)
        line(b, &s, "forecast", ts, json_object_get(fc, "value"), NULL);
    flag_marks(b, &s, json_object_get(series, "flags"), vname);
    sb_puts(b, "</svg>\n");
}

static void legend(web_sb *b, const json_t *fc)
{
    sb_puts(b, "<p class=\"key\"><span>\xe2\x80\x94 readings</span>");
    if (json_is_object(fc) && isfinite(web_getnum(fc, "issued_ms"))) {
        sb_puts(b, "<span>- - forecast issued ");
        sb_time(b, (int64_t)web_getnum(fc, "issued_ms"));
        sb_puts(b, " by ");
        sb_html(b, web_getstr(fc, "model_id"));
        sb_puts(b, "</span>");
    }
    for (size_t i = 0; i < drawn_bands(fc); i++) {
        const json_t *bd = json_array_get(json_object_get(fc, "bands"), i);
        sb_printf(b, "<span><span class=\"dot band-%zu\"></span>%g%% interval</span>", i,
                  level_pct(web_getstr(bd, "level")));
    }
    static const char *const kinds[] = {"residual", "spike", "range", "flatline", "gap", "shift"};
    for (size_t k = 0; k < 6; k++)
        sb_printf(b, "<span><span class=\"dot k-%s\"></span>%s</span>", kinds[k], kinds[k]);
    sb_puts(b, "</p>\n");
}

/* A disaggregation pipeline's appliances (web_query.c series_appliances): one chart of each
 * appliance's estimated power on the page's time axis, and a key with its minutes on. */
static void appliances_chart(web_sb *b, const json_t *series, const json_t *aps)
{
    scale s = {web_getnum(series, "from_ms"), web_getnum(series, "to_ms"), 0, 1};
    size_t i, j;
    json_t *a, *pt;
    json_array_foreach(aps, i, a) json_array_foreach(json_object_get(a, "points"), j, pt)
        grow(&s, NAN, json_number_value(json_array_get(pt, 1)));
    s.y1 *= 1.05;
    if (s.x1 <= s.x0)
        s.x1 = s.x0 + 1;
    sb_printf(b,
              "<h2>Appliances (estimated watts)</h2>\n<svg class=\"chart appliances\" "
              "xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
              "viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"appliances\">",
              CW, CH, CW, CH);
    axes(b, &s);
    json_array_foreach(aps, i, a)
    {
        char cls[32];
        snprintf(cls, sizeof cls, "appliance a-%zu", i % 6);
        line(b, &s, cls, NULL, NULL, json_object_get(a, "points"));
    }
    sb_puts(b, "</svg>\n<p class=\"key\">");
    json_array_foreach(aps, i, a)
    {
        sb_printf(b, "<span><span class=\"dot a-%zu\"></span>", i % 6);
        sb_html(b, web_getstr(a, "name"));
        sb_printf(b, ": on %d min</span>", (int)web_getnum(a, "on_min"));
    }
    sb_puts(b, "</p>\n");
}

static void flags_table(web_sb *b, const json_t *flags)
{
    sb_printf(b, "<h2>Recent flags</h2><p>%zu in the range (the newest %d at most).</p>",
              json_array_size(flags), HZ_WEB_MAX_FLAGS);
    sb_puts(b, "<table class=\"flags\"><tr><th>time (UTC)</th><th>variable</th><th>kind</th>"
               "<th>value</th><th>expected</th><th>interval</th><th>score</th><th>rule</th></tr>");
    size_t i;
    json_t *f;
    json_array_foreach(flags, i, f)
    {
        sb_puts(b, "<tr><td>");
        sb_time(b, (int64_t)web_getnum(f, "ts"));
        sb_puts(b, "</td><td>");
        sb_html(b, web_getstr(f, "variable"));
        sb_printf(b, "</td><td><span class=\"dot k-%s\"></span>",
                  kind_class(web_getstr(f, "kind")));
        sb_html(b, web_getstr(f, "kind"));
        /* value, expected, interval "lower … upper", score */
        static const char *const cols[] = {"value", "expected", "lower", "upper", "score"};
        for (int c = 0; c < 5; c++) {
            sb_puts(b, c == 3 ? " \xe2\x80\xa6 " : "</td><td class=\"num\">");
            sb_num(b, web_getnum(f, cols[c]));
        }
        sb_puts(b, "</td><td>");
        sb_html(b, web_getstr(f, "rule"));
        sb_puts(b, "</td></tr>\n");
    }
    sb_puts(b, "</table>\n");
}

/* Links to other ranges, and a form for any. */
static void ranges(web_sb *b, const char *p, const char *series, int hours)
{
    static const int choices[] = {24, 168, 720, 2160, 8760};
    static const char *const label[] = {"day", "week", "30 days", "90 days", "year"};
    sb_printf(b, "<p class=\"ranges\">Showing %d hours up to the newest reading. Range:", hours);
    for (int i = 0; i < 5; i++) {
        sb_puts(b, " <a href=\"");
        href_series(b, p, series, choices[i]);
        sb_printf(b, "\">%s</a>", label[i]);
    }
    sb_puts(b, "</p><form method=\"get\" action=\"");
    href_series(b, p, series, 0);
    sb_printf(b,
              "\"><label>hours <input name=\"hours\" type=\"number\" min=\"1\" max=\"%d\" "
              "value=\"%d\"></label> <button>Show</button></form>\n",
              HZ_WEB_MAX_HOURS, hours);
}

void web_html_series(web_sb *b, const json_t *series)
{
    const char *p = web_getstr(series, "pipeline"), *name = web_getstr(series, "series");
    page_start(b, name);
    sb_puts(b, "<p><a href=\"");
    href_pipeline(b, p);
    sb_puts(b, "\">");
    sb_html(b, p);
    sb_puts(b, "</a></p><h1 class=\"series-name\">");
    sb_html(b, name);
    sb_puts(b, "</h1>\n");
    ranges(b, p, name, (int)web_getnum(series, "hours"));
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(series, "variables"), i, v)
    {
        sb_puts(b, "<h2>");
        sb_html(b, web_getstr(v, "name"));
        sb_puts(b, "</h2>\n");
        chart(b, series, v);
        legend(b, json_object_get(v, "forecast"));
    }
    const json_t *aps = json_object_get(series, "appliances");
    if (json_array_size(aps))
        appliances_chart(b, series, aps);
    flags_table(b, json_object_get(series, "flags"));
    page_end(b);
}

void web_html_error(web_sb *b, unsigned status, const char *msg)
{
    char t[16];
    snprintf(t, sizeof t, "%u", status);
    page_start(b, t);
    sb_printf(b, "<h1>%u</h1><p>", status);
    sb_html(b, msg);
    sb_puts(b, "</p>");
    page_end(b);
}
