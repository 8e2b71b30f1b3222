/* web.c — the web view's state and request handling (service/web.h): the pipelines the loop
 * published, the read-only SQLite connections (one per file, opened on first use by the
 * server's thread), and the routing of a raw request URI to a page or its JSON
 * (web_query.c reads, web_html.c draws).  Bounds in web.h; docs/WEB.md. */
#include "service/web.h"

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service/web_int.h"

#define MAX_DBS  16 /* distinct SQLite files kept open (more: opened per request) */
#define MAX_DAYS 16 /* pipelines whose counts of the day are kept (HZ_WEB_DAY_TTL_S) */

typedef struct web_db {
    char path[sizeof((hz_web_pipeline *)0)->db];
    sqlite3 *db;
} web_db;

/* A pipeline's counts of the day on /, kept HZ_WEB_DAY_TTL_S: the page's one costly read
 * (up to HZ_WEB_DAY_SCAN rows) runs at most that often, however often / is asked for. */
typedef struct web_day {
    char name[sizeof((hz_web_pipeline *)0)->name];
    json_t *day;
    int64_t at_ns; /* hz_mono_ns() when read */
} web_day;

struct hz_web {
    pthread_mutex_t mu; /* guards ps, n */
    hz_web_pipeline *ps;
    size_t n;
    /* the server thread's alone */
    web_db dbs[MAX_DBS];
    size_t n_dbs;
    web_day days[MAX_DAYS];
    size_t n_days;
};

hz_web *hz_web_new(void)
{
    hz_web *w = calloc(1, sizeof *w);
    if (w && pthread_mutex_init(&w->mu, NULL) != 0) {
        free(w);
        return NULL;
    }
    return w;
}

void hz_web_free(hz_web *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n_dbs; i++)
        sqlite3_close_v2(w->dbs[i].db);
    for (size_t i = 0; i < w->n_days; i++)
        json_decref(w->days[i].day);
    pthread_mutex_destroy(&w->mu);
    free(w->ps);
    free(w);
}

int hz_web_publish(hz_web *w, const hz_web_pipeline *ps, size_t n)
{
    hz_web_pipeline *c = malloc((n ? n : 1) * sizeof *c);
    if (!c)
        return HZ_ENOMEM;
    if (n)
        memcpy(c, ps, n * sizeof *c);
    pthread_mutex_lock(&w->mu);
    hz_web_pipeline *old = w->ps;
    w->ps = c;
    w->n = n;
    pthread_mutex_unlock(&w->mu);
    free(old);
    return 0;
}

/* A copy of the published pipelines (free it), *n of them; NULL when out of memory. */
static hz_web_pipeline *snapshot(hz_web *w, size_t *n)
{
    pthread_mutex_lock(&w->mu);
    hz_web_pipeline *c = malloc((w->n ? w->n : 1) * sizeof *c);
    *n = c ? w->n : 0;
    if (c && w->n)
        memcpy(c, w->ps, w->n * sizeof *c);
    pthread_mutex_unlock(&w->mu);
    return c;
}

/* The read-only connection to path, opened on first use: WAL readers see the last commit
 * and never block the pipeline's writer.  NULL when path is "" or does not open. */
static sqlite3 *db_for(hz_web *w, const char *path, char *err, size_t errlen)
{
    if (!path[0])
        return NULL;
    for (size_t i = 0; i < w->n_dbs; i++)
        if (!strcmp(w->dbs[i].path, path))
            return w->dbs[i].db;
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        hz_err(err, errlen, HZ_EDB, "%s: %s", path, db ? sqlite3_errmsg(db) : "cannot open");
        sqlite3_close_v2(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 1000);
    if (w->n_dbs == MAX_DBS) { /* full: the oldest goes */
        sqlite3_close_v2(w->dbs[0].db);
        memmove(w->dbs, w->dbs + 1, (MAX_DBS - 1) * sizeof *w->dbs);
        w->n_dbs--;
    }
    snprintf(w->dbs[w->n_dbs].path, sizeof w->dbs[0].path, "%s", path);
    w->dbs[w->n_dbs++].db = db;
    return db;
}

/* ---- requests */

enum { MAX_SEGS = 5 };

/* One request, parsed: the path's segments decoded, the known query parameters. */
typedef struct web_req {
    int api;
    int nseg;
    char seg[MAX_SEGS][HZ_WEB_MAX_URI + 1];
    char prefix[HZ_WEB_MAX_QUERY + 1], after[HZ_WEB_MAX_QUERY + 1];
    int limit, hours;
} web_req;

/* A whole number in 1..max from a query value; 0 when it is not one. */
static int small_int(const char *s, int max)
{
    char *end;
    long v = strtol(s, &end, 10);
    return *s && !*end && v >= 1 && v <= max ? (int)v : 0;
}

/* Query "k=v&k=v": prefix, after, limit, hours; others ignored.  400 for a bad escape or
 * number. */
static unsigned parse_query(const char *q, web_req *r, char *msg, size_t msglen)
{
    while (*q) {
        size_t n = strcspn(q, "&"), k = strcspn(q, "=");
        char val[HZ_WEB_MAX_QUERY + 1];
        if (k > n)
            k = n;
        const char *v = q + k + (k < n);
        long vl = web_unescape(v, n - (size_t)(v - q), 1, val, sizeof val);
        if (vl < 0) {
            snprintf(msg, msglen, "bad escape in the query");
            return 400;
        }
        int bad = 0;
        if (k == 6 && !memcmp(q, "prefix", 6))
            memcpy(r->prefix, val, (size_t)vl + 1);
        else if (k == 5 && !memcmp(q, "after", 5))
            memcpy(r->after, val, (size_t)vl + 1);
        else if (k == 5 && !memcmp(q, "limit", 5))
            bad = !(r->limit = small_int(val, HZ_WEB_PAGE_MAX));
        else if (k == 5 && !memcmp(q, "hours", 5))
            bad = !(r->hours = small_int(val, HZ_WEB_MAX_HOURS));
        if (bad) {
            snprintf(msg, msglen, "limit must be 1..%d and hours 1..%d", HZ_WEB_PAGE_MAX,
                     HZ_WEB_MAX_HOURS);
            return 400;
        }
        q += n + (q[n] == '&');
    }
    return 0;
}

/* Splits and decodes uri into r: 0, or 400/404/414 with a message. */
static unsigned parse(const char *uri, web_req *r, char *msg, size_t msglen)
{
    memset(r, 0, offsetof(web_req, seg));
    r->seg[0][0] = r->prefix[0] = r->after[0] = '\0';
    r->limit = HZ_WEB_PAGE_DEF;
    r->hours = 0;
    size_t len = strnlen(uri, HZ_WEB_MAX_URI + 1), plen = strcspn(uri, "?");
    if (len > HZ_WEB_MAX_URI || (plen < len && len - plen - 1 > HZ_WEB_MAX_QUERY)) {
        snprintf(msg, msglen, "request too long (path at most %d bytes, query %d)", HZ_WEB_MAX_URI,
                 HZ_WEB_MAX_QUERY);
        return 414;
    }
    if (uri[0] != '/') {
        snprintf(msg, msglen, "the path must start with /");
        return 400;
    }
    for (const char *p = uri + 1; p < uri + plen;) {
        size_t n = strcspn(p, "/?");
        if (r->nseg == MAX_SEGS) {
            snprintf(msg, msglen, "no such page");
            return 404;
        }
        if (web_unescape(p, n, 0, r->seg[r->nseg++], sizeof r->seg[0]) < 0) {
            snprintf(msg, msglen, "bad escape in the path");
            return 400;
        }
        p += n + (p[n] == '/');
    }
    if (r->nseg > 0 && !strcmp(r->seg[0], "api")) {
        r->api = 1;
        memmove(r->seg[0], r->seg[1], (size_t)(r->nseg - 1) * sizeof r->seg[0]);
        r->nseg--;
    }
    return plen < len ? parse_query(uri + plen + 1, r, msg, msglen) : 0;
}

/* ---- answers */

static void answer_text(hz_http_answer *a, unsigned status, const char *msg)
{
    a->status = status;
    a->ctype = "text/plain; charset=utf-8";
    a->body = a->buf;
    a->len = (size_t)snprintf(a->buf, sizeof a->buf, "%s\n", msg);
    if (a->len >= sizeof a->buf)
        a->len = sizeof a->buf - 1;
}

/* The JSON answer o (consumed). */
static void answer_json(hz_http_answer *a, unsigned status, json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(7)) : NULL;
    json_decref(o);
    if (!s) {
        answer_text(a, 500, "out of memory");
        return;
    }
    a->status = status;
    a->ctype = "application/json";
    a->body = s;
    a->len = strlen(s);
    a->owned = 1;
}

/* The HTML page in b (taken over). */
static void answer_html(hz_http_answer *a, unsigned status, web_sb *b)
{
    if (b->oom || !b->p) {
        free(b->p);
        answer_text(a, 500, "out of memory");
        return;
    }
    a->status = status;
    a->ctype = "text/html; charset=utf-8";
    a->body = b->p;
    a->len = b->len;
    a->owned = 1;
}

static void answer_error(hz_http_answer *a, const web_req *r, unsigned status, const char *msg)
{
    if (r->api) {
        json_t *o = json_object();
        json_object_set_new(o, "error", web_jstr(msg));
        answer_json(a, status, o);
        return;
    }
    web_sb b = {0};
    web_html_error(&b, status, msg);
    answer_html(a, status, &b);
}

static unsigned status_of(int rc)
{
    return rc == HZ_ENOTFOUND ? 404 : rc == HZ_EINVAL ? 400 : 500;
}

/* Ends the page: o drawn by draw (or as JSON), or the error rc with its message. */
static void finish(hz_http_answer *a, const web_req *r, int rc, const char *err, json_t *o,
                   void (*draw)(web_sb *, const json_t *))
{
    if (rc) {
        json_decref(o);
        answer_error(a, r, status_of(rc), err);
    } else if (r->api) {
        answer_json(a, 200, o);
    } else {
        web_sb b = {0};
        draw(&b, o);
        json_decref(o);
        answer_html(a, 200, &b);
    }
}

/* A read of the pipeline's file inside one read transaction (one snapshot of the file). */
static sqlite3 *begin(hz_web *w, const hz_web_pipeline *p, char *err, size_t errlen)
{
    sqlite3 *db = db_for(w, p->db, err, errlen);
    if (db && sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        hz_err(err, errlen, HZ_EDB, "%s: %s", p->db, sqlite3_errmsg(db));
        return NULL;
    }
    return db;
}

static void end(sqlite3 *db)
{
    if (db)
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
}

/* p's counts of the day (borrowed from the cache), read again when older than
 * HZ_WEB_DAY_TTL_S; NULL with a message in err when they cannot be read. */
static json_t *day_of(hz_web *w, const hz_web_pipeline *p, char *err, size_t errlen)
{
    int64_t now = hz_mono_ns();
    web_day *d = NULL;
    for (size_t i = 0; i < w->n_days && !d; i++)
        if (!strcmp(w->days[i].name, p->name))
            d = &w->days[i];
    if (d && now - d->at_ns < HZ_WEB_DAY_TTL_S * 1000000000LL)
        return d->day;
    json_t *day = NULL;
    sqlite3 *db = begin(w, p, err, errlen);
    int rc = db ? web_q_day(db, p, &day, err, errlen) : HZ_EDB;
    end(db);
    if (rc) {
        json_decref(day);
        return NULL;
    }
    if (!d) {
        if (w->n_days == MAX_DAYS) { /* full: the first goes */
            json_decref(w->days[0].day);
            memmove(w->days, w->days + 1, (MAX_DAYS - 1) * sizeof *w->days);
            w->n_days--;
        }
        d = &w->days[w->n_days++];
        snprintf(d->name, sizeof d->name, "%s", p->name);
        d->day = NULL;
    }
    json_decref(d->day);
    d->day = day;
    d->at_ns = now;
    return day;
}

static void page_index(hz_web *w, const web_req *r, const hz_web_pipeline *ps, size_t n,
                       hz_http_answer *a)
{
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        char err[HZ_ERRLEN] = "";
        json_t *o = web_q_state(&ps[i]),
               *day = ps[i].db[0] ? day_of(w, &ps[i], err, sizeof err) : NULL;
        if (day)
            json_object_update(o, day);
        else if (ps[i].db[0])
            json_object_set_new(o, "read_error", web_jstr(err));
        json_array_append_new(list, o);
    }
    if (r->api) {
        json_t *o = json_object();
        json_object_set_new(o, "pipelines", list);
        answer_json(a, 200, o);
        return;
    }
    finish(a, r, 0, "", list, web_html_index);
}

static void page_pipeline(hz_web *w, const web_req *r, const hz_web_pipeline *p, hz_http_answer *a)
{
    char err[HZ_ERRLEN] = "";
    json_t *o = NULL;
    sqlite3 *db = begin(w, p, err, sizeof err);
    int rc = p->db[0] && !db
                 ? HZ_EDB
                 : web_q_series_list(db, p, r->prefix, r->after, r->limit, &o, err, sizeof err);
    end(db);
    finish(a, r, rc, err, o, web_html_pipeline);
}

static void page_series(hz_web *w, const web_req *r, const hz_web_pipeline *p, hz_http_answer *a)
{
    char err[HZ_ERRLEN] = "";
    json_t *o = NULL;
    web_series_req rq = {r->seg[2], r->hours};
    sqlite3 *db = begin(w, p, err, sizeof err);
    int rc = p->db[0] && !db ? HZ_EDB : web_q_series(db, p, &rq, &o, err, sizeof err);
    end(db);
    finish(a, r, rc, err, o, web_html_series);
}

static const hz_web_pipeline *find(const hz_web_pipeline *ps, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(ps[i].name, name))
            return &ps[i];
    return NULL;
}

void hz_web_answer(hz_web *w, const char *uri, hz_http_answer *a)
{
    char msg[256];
    web_req *r = malloc(sizeof *r);
    if (!r) {
        answer_text(a, 500, "out of memory");
        return;
    }
    unsigned st = parse(uri, r, msg, sizeof msg);
    size_t n = 0;
    hz_web_pipeline *ps = st ? NULL : snapshot(w, &n);
    const hz_web_pipeline *p = ps && r->nseg >= 2 ? find(ps, n, r->seg[1]) : NULL;
    int page = !strcmp(r->seg[0], "pipeline") ? 2 : !strcmp(r->seg[0], "series") ? 3 : 0;
    if (st) {
        answer_error(a, r, st, msg);
    } else if (!ps) {
        answer_text(a, 500, "out of memory");
    } else if ((r->nseg == 0 && !r->api) ||
               (r->api && r->nseg == 1 && !strcmp(r->seg[0], "pipelines"))) {
        page_index(w, r, ps, n, a);
    } else if (!page || r->nseg != page) {
        answer_error(a, r, 404, "no such page; try / or /api/pipelines");
    } else if (!p) {
        answer_error(a, r, 404, "no such pipeline");
    } else if (page == 2) {
        page_pipeline(w, r, p, a);
    } else {
        page_series(w, r, p, a);
    }
    free(ps);
    free(r);
}
