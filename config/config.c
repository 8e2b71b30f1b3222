/* config.c — loads horizon's YAML configuration (docs/ARCHITECTURE.md) with libyaml's
 * document API and walks the key table of config_schema.c to parse values, fill defaults,
 * validate, free, serialise (for SIGHUP comparisons) and document every key. Nothing here
 * knows a particular key: adding a setting is one table row in config_schema.c. */
#include "config/config.h"
#include "config/config_read.h"
#include "config/config_schema.h"

#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/hz.h"

#define PATHLEN 256

struct hz_loader {
    const char *file; /* name used in messages */
    const char *dir;  /* directory relative paths resolve against; NULL = as given */
    yaml_document_t *doc;
    hz_config *cfg;
    int kind;       /* model kind for per-kind keys; -1 outside a model section */
    int in_default; /* parsing a default from the table: errors are programmer errors */
    char *err;
    size_t errlen;
};

/* ---- small helpers ---- */

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

static void *at(void *base, size_t off)
{
    return (char *)base + off;
}

static const char *sval(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

static int is_null(const yaml_node_t *n)
{
    if (!n || n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *s = sval(n);
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

static void join(char *dst, const char *path, const char *key)
{
    if (!path || !*path)
        snprintf(dst, PATHLEN, "%s", key ? key : "");
    else if (!key)
        snprintf(dst, PATHLEN, "%s", path);
    else
        snprintf(dst, PATHLEN, "%s.%s", path, key);
}

/* "a mapping", "a sequence", or the scalar in quotes (shortened). */
static const char *describe(const yaml_node_t *n, char *buf, size_t len)
{
    if (!n)
        return "nothing";
    if (n->type == YAML_MAPPING_NODE)
        return "a mapping";
    if (n->type == YAML_SEQUENCE_NODE)
        return "a sequence";
    if (is_null(n) && !*sval(n))
        return "nothing";
    const char *s = sval(n);
    if (strlen(s) > 60)
        snprintf(buf, len, "\"%.57s...\"", s);
    else
        snprintf(buf, len, "\"%s\"", s);
    return buf;
}

int hz_loader_err(hz_loader *L, yaml_node_t *node, const char *path, const char *key,
                  const char *fmt, ...)
{
    if (L->in_default) {
        /* A default in the table that does not parse is a bug in config_schema.c. */
        char msg[HZ_ERRLEN];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        fprintf(stderr, "config_schema.c: bad default for %s.%s: %s\n", path, key ? key : "", msg);
        abort();
    }
    char full[PATHLEN], msg[HZ_ERRLEN];
    join(full, path, key);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t line = node ? node->start_mark.line + 1 : 1;
    size_t col = node ? node->start_mark.column + 1 : 1;
    if (*full)
        return hz_err(L->err, L->errlen, HZ_EINVAL, "%s:%zu:%zu: %s: %s", L->file, line, col, full,
                      msg);
    return hz_err(L->err, L->errlen, HZ_EINVAL, "%s:%zu:%zu: %s", L->file, line, col, msg);
}

static int oom(hz_loader *L)
{
    return hz_err(L->err, L->errlen, HZ_ENOMEM, "%s: out of memory", L->file);
}

static yaml_node_t *node_at(hz_loader *L, int id)
{
    return yaml_document_get_node(L->doc, id);
}

yaml_node_t *hz_loader_find(hz_loader *L, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = node_at(L, p->key);
        if (k && k->type == YAML_SCALAR_NODE && !strcmp(sval(k), key))
            return node_at(L, p->value);
    }
    return NULL;
}

yaml_node_t *hz_loader_item(hz_loader *L, yaml_node_t *seq, size_t i)
{
    if (!seq || seq->type != YAML_SEQUENCE_NODE ||
        i >= (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start))
        return NULL;
    return node_at(L, seq->data.sequence.items.start[i]);
}

int hz_loader_kind(const hz_loader *L)
{
    return L->kind;
}

const hz_config *hz_loader_config(hz_loader *L)
{
    return L->cfg;
}

static const char *kind_name(int k)
{
    static const char *const names[] = {"informer", "itransformer", "nilmformer"};
    return k >= 0 && k < HZ_CFG_MODEL_NKINDS ? names[k] : "unknown";
}

const char *hz_config_model_kind_name(int kind)
{
    return kind_name(kind);
}

/* ---- scalar parsers ---- */

static int parse_int(const char *s, long long *v)
{
    char *end;
    errno = 0;
    if (!*s || strchr(" \t", *s))
        return -1;
    *v = strtoll(s, &end, 10);
    return errno || *end ? -1 : 0;
}

static int parse_double(const char *s, double *v)
{
    char *end;
    errno = 0;
    if (!*s || strchr(" \t", *s))
        return -1;
    /* strtod also reads "inf", "nan" and hex floats; YAML's .inf/.nan are rejected too. */
    for (const char *p = s; *p; p++)
        if (!strchr("0123456789+-.eE", *p))
            return -1;
    *v = strtod(s, &end);
    return errno || *end || !isfinite(*v) ? -1 : 0;
}

static int parse_bool(const char *s, int *v)
{
    if (!strcasecmp(s, "true") || !strcasecmp(s, "yes")) {
        *v = 1;
        return 0;
    }
    if (!strcasecmp(s, "false") || !strcasecmp(s, "no")) {
        *v = 0;
        return 0;
    }
    return -1;
}

/* "200ms", "1s", "15m", "1h", "7d" or a bare integer of seconds -> ms. */
static int parse_duration(const char *s, int64_t *ms)
{
    const char *p = s;
    if (*p < '0' || *p > '9')
        return -1;
    int64_t n = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (n > (INT64_MAX - 9) / 10)
            return -1;
        n = n * 10 + (*p - '0');
    }
    int64_t unit;
    if (!strcmp(p, "ms"))
        unit = 1;
    else if (!*p || !strcmp(p, "s"))
        unit = 1000;
    else if (!strcmp(p, "m"))
        unit = 60000;
    else if (!strcmp(p, "h"))
        unit = 3600000;
    else if (!strcmp(p, "d"))
        unit = 86400000;
    else
        return -1;
    if (n > INT64_MAX / unit)
        return -1;
    *ms = n * unit;
    return 0;
}

static void fmt_duration(int64_t ms, char *buf, size_t len)
{
    static const struct {
        int64_t ms;
        const char *unit;
    } u[] = {{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}};
    if (ms == 0) {
        snprintf(buf, len, "0");
        return;
    }
    for (size_t i = 0; i < sizeof u / sizeof u[0]; i++)
        if (ms % u[i].ms == 0) {
            snprintf(buf, len, "%lld%s", (long long)(ms / u[i].ms), u[i].unit);
            return;
        }
    snprintf(buf, len, "%lldms", (long long)ms);
}

static int is_ident(const char *s)
{
    if (!*s || (*s >= '0' && *s <= '9') || strlen(s) > 64)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return 0;
    return 1;
}

static int is_name(const char *s)
{
    if (!*s || strlen(s) > 64)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
            return 0;
    return 1;
}

/* host:port with port 1..65535; IPv6 hosts in brackets. */
static int is_hostport(const char *s)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s)
        return 0;
    if (s[0] == '[' && colon[-1] != ']')
        return 0;
    if (s[0] != '[' && memchr(s, ':', (size_t)(colon - s)))
        return 0;
    long long port;
    return !parse_int(colon + 1, &port) && colon[1] != '+' && colon[1] != '-' && port >= 1 &&
           port <= 65535;
}

static void fmt_num(double v, char *buf, size_t len)
{
    snprintf(buf, len, "%.15g", v);
}

/* What a key accepts, for messages and docs. */
static const char *expect_text(const hz_ckey *k, char *buf, size_t len)
{
    char a[40], b[40];
    switch (k->type) {
    case HZ_CT_STR:
        return "a string";
    case HZ_CT_PATH:
        return "a file path";
    case HZ_CT_IDENT:
        return "an SQL identifier (letters, digits, _; not starting with a digit)";
    case HZ_CT_NAME:
        return "a name of lower-case letters, digits, _ and -";
    case HZ_CT_HOSTPORT:
        return "host:port, or \"\" to disable";
    case HZ_CT_BOOL:
        return "true or false";
    case HZ_CT_MAP:
        return "a mapping of names to values";
    case HZ_CT_SECTION:
        return "a mapping";
    case HZ_CT_SECLIST:
        return "a sequence of mappings";
    case HZ_CT_INT:
    case HZ_CT_INTLIST:
        fmt_num(k->min, a, sizeof a);
        fmt_num(k->max, b, sizeof b);
        snprintf(buf, len, "%s in [%s, %s]",
                 k->type == HZ_CT_INT ? "an integer" : "a sequence of integers", a, b);
        return buf;
    case HZ_CT_DOUBLE:
    case HZ_CT_DBLLIST:
        fmt_num(k->min, a, sizeof a);
        fmt_num(k->max, b, sizeof b);
        if (k->max >= HZ_CONF_UNBOUNDED) {
            snprintf(buf, len, "%s%s%s", k->type == HZ_CT_DOUBLE ? "a number" : "numbers",
                     k->min > -HZ_CONF_UNBOUNDED ? " >= " : "",
                     k->min > -HZ_CONF_UNBOUNDED ? a : "");
            return buf;
        }
        snprintf(buf, len, "%s in %c%s, %s%c",
                 k->type == HZ_CT_DOUBLE ? "a number" : "a sequence of numbers",
                 k->flags & HZ_CF_OPEN ? '(' : '[', a, b, k->flags & HZ_CF_OPEN ? ')' : ']');
        return buf;
    case HZ_CT_STRLIST:
        return "a sequence of strings";
    case HZ_CT_DURATION:
        fmt_duration((int64_t)k->min, a, sizeof a);
        fmt_duration((int64_t)k->max, b, sizeof b);
        snprintf(buf, len, "a duration in [%s, %s] (e.g. 200ms, 30s, 15m, 1h, 7d)", a, b);
        return buf;
    case HZ_CT_ENUM: {
        size_t o = (size_t)snprintf(buf, len, "one of ");
        for (int i = 0; k->enums[i] && o < len; i++)
            o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? "|" : "", k->enums[i]);
        return buf;
    }
    }
    return "?";
}

static int in_bounds(const hz_ckey *k, double v)
{
    if (k->flags & HZ_CF_OPEN)
        return v > k->min && v < k->max;
    return v >= k->min && v <= k->max;
}

/* ---- the walker ---- */

static int parse_section(hz_loader *L, const hz_csec *sec, void *base, yaml_node_t *map,
                         yaml_node_t *parent, const char *path);

static int set_scalar(hz_loader *L, const hz_ckey *k, void *dst, yaml_node_t *n, const char *path,
                      const char *key)
{
    char ebuf[200], gbuf[80];
    if (n->type != YAML_SCALAR_NODE)
        return hz_loader_err(L, n, path, key, "expected %s, got %s",
                             expect_text(k, ebuf, sizeof ebuf), describe(n, gbuf, sizeof gbuf));
    const char *s = sval(n);
    int bad = 0;
    switch (k->type) {
    case HZ_CT_STR:
    case HZ_CT_PATH:
    case HZ_CT_IDENT:
    case HZ_CT_NAME:
    case HZ_CT_HOSTPORT: {
        if (k->type == HZ_CT_IDENT && !is_ident(s))
            bad = 1;
        else if (k->type == HZ_CT_NAME && !is_name(s))
            bad = 1;
        else if (k->type == HZ_CT_HOSTPORT && *s && !is_hostport(s))
            bad = 1;
        else if (k->type == HZ_CT_PATH && !*s)
            bad = 1;
        if (bad)
            break;
        char *v;
        if (k->type == HZ_CT_PATH && s[0] != '/' && L->dir) {
            size_t len = strlen(L->dir) + strlen(s) + 2;
            v = malloc(len);
            if (v)
                snprintf(v, len, "%s/%s", L->dir, s);
        } else {
            v = xstrdup(s);
        }
        if (!v)
            return oom(L);
        free(*(char **)dst);
        *(char **)dst = v;
        return 0;
    }
    case HZ_CT_INT: {
        long long v;
        if (parse_int(s, &v) || !in_bounds(k, (double)v))
            bad = 1;
        else
            *(int *)dst = (int)v;
        break;
    }
    case HZ_CT_DOUBLE: {
        double v;
        if (parse_double(s, &v) || !in_bounds(k, v))
            bad = 1;
        else
            *(double *)dst = v;
        break;
    }
    case HZ_CT_BOOL:
        bad = parse_bool(s, (int *)dst) != 0;
        break;
    case HZ_CT_DURATION: {
        int64_t v;
        if (parse_duration(s, &v) || !in_bounds(k, (double)v))
            bad = 1;
        else
            *(int64_t *)dst = v;
        break;
    }
    case HZ_CT_ENUM:
        bad = 1;
        for (int i = 0; k->enums[i]; i++)
            if (!strcmp(s, k->enums[i])) {
                *(int *)dst = k->enum_vals ? k->enum_vals[i] : i;
                bad = 0;
            }
        break;
    default:
        bad = 1;
    }
    if (bad)
        return hz_loader_err(L, n, path, key, "expected %s, got %s",
                             expect_text(k, ebuf, sizeof ebuf), describe(n, gbuf, sizeof gbuf));
    return 0;
}

static int set_map(hz_loader *L, const hz_ckey *k, hz_conf_map *m, yaml_node_t *n, const char *path)
{
    char gbuf[80];
    if (is_null(n))
        return 0;
    if (n->type != YAML_MAPPING_NODE)
        return hz_loader_err(L, n, path, k->name, "expected a mapping of names to values, got %s",
                             describe(n, gbuf, sizeof gbuf));
    size_t cnt = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    m->items = calloc(cnt ? cnt : 1, sizeof *m->items);
    if (!m->items)
        return oom(L);
    char sub[PATHLEN];
    join(sub, path, k->name);
    for (size_t i = 0; i < cnt; i++) {
        yaml_node_pair_t *p = n->data.mapping.pairs.start + i;
        yaml_node_t *kn = node_at(L, p->key), *vn = node_at(L, p->value);
        if (kn->type != YAML_SCALAR_NODE)
            return hz_loader_err(L, kn, sub, NULL, "expected a property name, got %s",
                                 describe(kn, gbuf, sizeof gbuf));
        for (size_t j = 0; j < m->n; j++)
            if (!strcmp(m->items[j].key, sval(kn)))
                return hz_loader_err(L, kn, sub, sval(kn), "duplicate key (first at %d:%d)",
                                     m->items[j].line, m->items[j].col);
        if (vn->type != YAML_SCALAR_NODE)
            return hz_loader_err(L, vn, sub, sval(kn),
                                 "expected a string, number or boolean, got %s",
                                 describe(vn, gbuf, sizeof gbuf));
        hz_conf_kv *kv = &m->items[m->n];
        kv->key = xstrdup(sval(kn));
        kv->value = xstrdup(sval(vn));
        kv->line = (int)kn->start_mark.line + 1;
        kv->col = (int)kn->start_mark.column + 1;
        m->n++;
        if (!kv->key || !kv->value)
            return oom(L);
    }
    return 0;
}

static size_t elem_size(hz_ctype t)
{
    switch (t) {
    case HZ_CT_STRLIST:
        return sizeof(char *);
    case HZ_CT_INTLIST:
        return sizeof(int);
    default:
        return sizeof(double);
    }
}

static int set_list(hz_loader *L, const hz_ckey *k, void *base, yaml_node_t *n, const char *path)
{
    char ebuf[200], gbuf[80], sub[PATHLEN];
    size_t cnt = 0;
    yaml_node_t *where = n;
    if (is_null(n))
        n = NULL;
    else if (n->type != YAML_SEQUENCE_NODE)
        return hz_loader_err(L, n, path, k->name, "expected %s, got %s",
                             expect_text(k, ebuf, sizeof ebuf), describe(n, gbuf, sizeof gbuf));
    else
        cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if ((int)cnt < k->nmin || (int)cnt > k->nmax) {
        if (k->nmin == k->nmax)
            return hz_loader_err(L, where, path, k->name, "expected exactly %d items, got %zu",
                                 k->nmin, cnt);
        return hz_loader_err(L, where, path, k->name, "expected %d to %d items, got %zu", k->nmin,
                             k->nmax, cnt);
    }
    size_t es = k->type == HZ_CT_SECLIST ? k->elem_size : elem_size(k->type);
    void *arr = calloc(cnt ? cnt : 1, es);
    if (!arr)
        return oom(L);
    *(void **)at(base, k->off) = arr;
    *(size_t *)at(base, k->noff) = cnt;
    for (size_t i = 0; i < cnt; i++) {
        yaml_node_t *item = node_at(L, n->data.sequence.items.start[i]);
        char idx[PATHLEN + 24];
        join(sub, path, k->name);
        snprintf(idx, sizeof idx, "%s[%zu]", sub, i);
        int rc;
        if (k->type == HZ_CT_SECLIST) {
            rc = parse_section(L, k->sec, (char *)arr + i * es, item, item, idx);
        } else if ((k->flags & HZ_CF_NULLS) && is_null(item)) {
            ((double *)arr)[i] = NAN;
            rc = 0;
        } else {
            hz_ckey ek = *k;
            ek.type = k->type == HZ_CT_STRLIST   ? HZ_CT_STR
                      : k->type == HZ_CT_INTLIST ? HZ_CT_INT
                                                 : HZ_CT_DOUBLE;
            rc = set_scalar(L, &ek, (char *)arr + i * es, item, idx, NULL);
        }
        if (rc)
            return rc;
    }
    return 0;
}

static int set_value(hz_loader *L, const hz_ckey *k, void *base, yaml_node_t *n,
                     yaml_node_t *parent, const char *path)
{
    char sub[PATHLEN];
    switch (k->type) {
    case HZ_CT_SECTION:
        join(sub, path, k->name);
        return parse_section(L, k->sec, at(base, k->off), is_null(n) ? NULL : n, n ? n : parent,
                             sub);
    case HZ_CT_SECLIST:
    case HZ_CT_STRLIST:
    case HZ_CT_INTLIST:
    case HZ_CT_DBLLIST:
        return set_list(L, k, base, n, path);
    case HZ_CT_MAP:
        return set_map(L, k, at(base, k->off), n, path);
    default:
        return set_scalar(L, k, at(base, k->off), n, path, k->name);
    }
}

static const char *key_default(const hz_loader *L, const hz_ckey *k)
{
    if (L->kind >= 0 && k->kdef[L->kind])
        return k->kdef[L->kind];
    return k->def;
}

/* Parses a default from the table through the same code as input. */
static int apply_default(hz_loader *L, const hz_ckey *k, void *base, const char *text,
                         const char *path)
{
    yaml_parser_t p;
    yaml_document_t d;
    if (!yaml_parser_initialize(&p))
        return oom(L);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, strlen(text));
    if (!yaml_parser_load(&p, &d)) {
        yaml_parser_delete(&p);
        return hz_loader_err(L, NULL, path, k->name, "default does not parse");
    }
    yaml_document_t *saved = L->doc;
    int saved_def = L->in_default;
    L->doc = &d;
    L->in_default = 1;
    yaml_node_t *root = yaml_document_get_root_node(&d);
    int rc = root ? set_value(L, k, base, root, NULL, path) : 0;
    L->doc = saved;
    L->in_default = saved_def;
    yaml_document_delete(&d);
    yaml_parser_delete(&p);
    return rc;
}

static int key_accepts_kind(const hz_ckey *k, int kind)
{
    return kind < 0 || !k->kinds || (k->kinds & (1u << kind));
}

static void kinds_text(unsigned kinds, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = 0;
    for (int i = 0; i < HZ_CFG_MODEL_NKINDS && o < len; i++)
        if (kinds & (1u << i))
            o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? ", " : "", kind_name(i));
}

/* Levenshtein distance, for "did you mean"; keys are short. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return 64;
    size_t row[64];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static const char *nearest_key(const hz_csec *sec, const char *name, int kind)
{
    const char *best = NULL;
    size_t best_d = 3; /* suggest only close misspellings */
    for (size_t i = 0; i < sec->nkeys; i++) {
        size_t d = edit_distance(name, sec->keys[i].name);
        if (d < best_d && key_accepts_kind(&sec->keys[i], kind)) {
            best = sec->keys[i].name;
            best_d = d;
        }
    }
    return best;
}

/* Fails on key kn, unknown in sec: lists the keys that fit, suggests a near spelling. */
static int unknown_key(hz_loader *L, const hz_csec *sec, yaml_node_t *kn, const char *path)
{
    char sub[PATHLEN];
    char known[400];
    size_t o = 0;
    known[0] = 0;
    for (size_t i = 0; i < sec->nkeys && o < sizeof known; i++)
        if (key_accepts_kind(&sec->keys[i], L->kind))
            o += (size_t)snprintf(known + o, sizeof known - o, "%s%s", o ? ", " : "",
                                  sec->keys[i].name);
    char hint[120] = "";
    const char *near = nearest_key(sec, sval(kn), L->kind);
    if (near)
        snprintf(hint, sizeof hint, " (did you mean \"%s\"?)", near);
    join(sub, path, NULL);
    return hz_loader_err(L, kn, NULL, NULL, "unknown key \"%s\"%s%s%s; expected one of: %s",
                         sval(kn), *sub ? " in " : "", sub, hint, known);
}

/* Checks map's key at p: a scalar, not repeated, a key of sec for this model kind. */
static int check_key(hz_loader *L, const hz_csec *sec, yaml_node_t *map, yaml_node_pair_t *p,
                     const char *path)
{
    char gbuf[80];
    yaml_node_t *kn = node_at(L, p->key);
    if (kn->type != YAML_SCALAR_NODE)
        return hz_loader_err(L, kn, path, NULL, "expected a key name, got %s",
                             describe(kn, gbuf, sizeof gbuf));
    for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
        yaml_node_t *prev = node_at(L, q->key);
        if (prev->type == YAML_SCALAR_NODE && !strcmp(sval(prev), sval(kn)))
            return hz_loader_err(L, kn, path, sval(kn), "duplicate key (first at %zu:%zu)",
                                 prev->start_mark.line + 1, prev->start_mark.column + 1);
    }
    const hz_ckey *k = NULL;
    for (size_t i = 0; i < sec->nkeys; i++)
        if (!strcmp(sec->keys[i].name, sval(kn)))
            k = &sec->keys[i];
    if (!k)
        return unknown_key(L, sec, kn, path);
    if (!key_accepts_kind(k, L->kind)) {
        char ks[100];
        kinds_text(k->kinds, ks, sizeof ks);
        return hz_loader_err(L, kn, path, k->name, "not a setting of %s models (only of %s)",
                             kind_name(L->kind), ks);
    }
    return 0;
}

/* Sets *oneof to the one HZ_CF_ONEOF key of sec in map (-1: sec has none), or fails. */
static int pick_oneof(hz_loader *L, const hz_csec *sec, yaml_node_t *map, yaml_node_t *parent,
                      const char *path, int *oneof)
{
    int n_oneof = 0, any_oneof = 0;
    char names[200] = "";
    *oneof = -1;
    for (size_t i = 0; i < sec->nkeys; i++) {
        const hz_ckey *k = &sec->keys[i];
        if (!(k->flags & HZ_CF_ONEOF))
            continue;
        size_t o = strlen(names);
        snprintf(names + o, sizeof names - o, "%s%s", any_oneof ? ", " : "", k->name);
        any_oneof++;
        if (hz_loader_find(L, map, k->name)) {
            if (n_oneof++)
                return hz_loader_err(L, map ? hz_loader_find(L, map, k->name) : parent, path, NULL,
                                     "expected exactly one of %s, got both %s and %s", names,
                                     sec->keys[*oneof].name, k->name);
            *oneof = (int)i;
        }
    }
    if (any_oneof && *oneof < 0)
        return hz_loader_err(L, map ? map : parent, path, NULL, "expected one of %s, got none",
                             names);
    return 0;
}

/* Sets each applicable key of sec from map or its default; HZ_CF_KIND sets L->kind. */
static int set_keys(hz_loader *L, const hz_csec *sec, void *base, yaml_node_t *map,
                    yaml_node_t *parent, const char *path, int oneof)
{
    int rc = 0;
    for (size_t i = 0; i < sec->nkeys && !rc; i++) {
        const hz_ckey *k = &sec->keys[i];
        if (!key_accepts_kind(k, L->kind))
            continue;
        if ((k->flags & HZ_CF_ONEOF) && (int)i != oneof)
            continue;
        yaml_node_t *v = hz_loader_find(L, map, k->name);
        if (v) {
            rc = set_value(L, k, base, v, map, path);
        } else if (k->flags & HZ_CF_REQUIRED) {
            rc = hz_loader_err(L, map ? map : parent, path, k->name, "missing required key");
        } else if (key_default(L, k)) {
            rc = apply_default(L, k, base, key_default(L, k), path);
        } else if (k->type == HZ_CT_SECTION) {
            rc = set_value(L, k, base, NULL, map ? map : parent, path);
        }
        /* A kind-selecting enum (model.kind) picks the per-kind defaults below it. */
        if (!rc && (k->flags & HZ_CF_KIND))
            L->kind = *(int *)at(base, k->off);
    }
    return rc;
}

static int parse_section(hz_loader *L, const hz_csec *sec, void *base, yaml_node_t *map,
                         yaml_node_t *parent, const char *path)
{
    char gbuf[80];
    if (map && is_null(map))
        map = NULL;
    if (map && map->type != YAML_MAPPING_NODE)
        return hz_loader_err(L, map, path, NULL, "expected a mapping, got %s",
                             describe(map, gbuf, sizeof gbuf));
    /* Every key known, once. */
    if (map)
        for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
             p++) {
            int rc = check_key(L, sec, map, p, path);
            if (rc)
                return rc;
        }
    /* Exactly one of the HZ_CF_ONEOF keys. */
    int oneof;
    int rc = pick_oneof(L, sec, map, parent, path, &oneof);
    if (rc)
        return rc;
    int saved_kind = L->kind;
    rc = set_keys(L, sec, base, map, parent, path, oneof);
    if (!rc && oneof >= 0) {
        int idx = 0;
        for (int i = 0; i < oneof; i++)
            if (sec->keys[i].flags & HZ_CF_ONEOF)
                idx++;
        *(int *)at(base, sec->kind_off) = idx;
    }
    if (!rc && sec->check && !L->in_default)
        rc = sec->check(L, base, map ? map : parent, path);
    L->kind = saved_kind;
    return rc;
}

/* ---- freeing ---- */

static void free_section(const hz_csec *sec, void *base);

static void free_key(const hz_ckey *k, void *base)
{
    switch (k->type) {
    case HZ_CT_STR:
    case HZ_CT_PATH:
    case HZ_CT_IDENT:
    case HZ_CT_NAME:
    case HZ_CT_HOSTPORT:
        free(*(char **)at(base, k->off));
        break;
    case HZ_CT_MAP: {
        hz_conf_map *m = at(base, k->off);
        for (size_t i = 0; i < m->n; i++) {
            free(m->items[i].key);
            free(m->items[i].value);
        }
        free(m->items);
        break;
    }
    case HZ_CT_STRLIST: {
        char **v = *(char ***)at(base, k->off);
        size_t n = *(size_t *)at(base, k->noff);
        for (size_t i = 0; v && i < n; i++)
            free(v[i]);
        free(v);
        break;
    }
    case HZ_CT_INTLIST:
    case HZ_CT_DBLLIST:
        free(*(void **)at(base, k->off));
        break;
    case HZ_CT_SECTION:
        free_section(k->sec, at(base, k->off));
        break;
    case HZ_CT_SECLIST: {
        char *arr = *(char **)at(base, k->off);
        size_t n = *(size_t *)at(base, k->noff);
        for (size_t i = 0; arr && i < n; i++)
            free_section(k->sec, arr + i * k->elem_size);
        free(arr);
        break;
    }
    default:
        break;
    }
}

static void free_section(const hz_csec *sec, void *base)
{
    for (size_t i = 0; i < sec->nkeys; i++)
        free_key(&sec->keys[i], base);
}

void hz_config_free(hz_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; cfg->pipelines && i < cfg->n_pipelines; i++)
        free(cfg->pipelines[i].canonical);
    free_section(&hz_conf_root, cfg);
    free(cfg->path);
    free(cfg->dir);
    free(cfg);
}

/* ---- canonical text (what SIGHUP compares) ---- */

static void write_canonical(FILE *f, const hz_csec *sec, const void *base, const char *path,
                            int kind);

static void write_key(FILE *f, const hz_ckey *k, const void *base, const char *path, int kind)
{
    char sub[PATHLEN], buf[64];
    const void *p = (const char *)base + k->off;
    join(sub, path, k->name);
    size_t n = k->noff ? *(const size_t *)((const char *)base + k->noff) : 0;
    switch (k->type) {
    case HZ_CT_STR:
    case HZ_CT_PATH:
    case HZ_CT_IDENT:
    case HZ_CT_NAME:
    case HZ_CT_HOSTPORT: {
        const char *s = *(char *const *)p;
        fprintf(f, "%s=%zu:%s\n", sub, s ? strlen(s) : 0, s ? s : "");
        break;
    }
    case HZ_CT_INT:
    case HZ_CT_BOOL:
    case HZ_CT_ENUM:
        fprintf(f, "%s=%d\n", sub, *(const int *)p);
        break;
    case HZ_CT_DOUBLE:
        fprintf(f, "%s=%.17g\n", sub, *(const double *)p);
        break;
    case HZ_CT_DURATION:
        fmt_duration(*(const int64_t *)p, buf, sizeof buf);
        fprintf(f, "%s=%s\n", sub, buf);
        break;
    case HZ_CT_MAP: {
        const hz_conf_map *m = p;
        for (size_t i = 0; i < m->n; i++)
            fprintf(f, "%s[%zu:%s]=%zu:%s\n", sub, strlen(m->items[i].key), m->items[i].key,
                    strlen(m->items[i].value), m->items[i].value);
        break;
    }
    case HZ_CT_STRLIST:
        for (size_t i = 0; i < n; i++)
            fprintf(f, "%s[%zu]=%zu:%s\n", sub, i, strlen((*(char **const *)p)[i]),
                    (*(char **const *)p)[i]);
        break;
    case HZ_CT_INTLIST:
        for (size_t i = 0; i < n; i++)
            fprintf(f, "%s[%zu]=%d\n", sub, i, (*(int *const *)p)[i]);
        break;
    case HZ_CT_DBLLIST:
        for (size_t i = 0; i < n; i++)
            fprintf(f, "%s[%zu]=%.17g\n", sub, i, (*(double *const *)p)[i]);
        break;
    case HZ_CT_SECTION:
        write_canonical(f, k->sec, p, sub, kind);
        break;
    case HZ_CT_SECLIST:
        for (size_t i = 0; i < n; i++) {
            char idx[PATHLEN + 24];
            snprintf(idx, sizeof idx, "%s[%zu]", sub, i);
            write_canonical(f, k->sec, *(const char *const *)p + i * k->elem_size, idx, kind);
        }
        break;
    }
}

static void write_canonical(FILE *f, const hz_csec *sec, const void *base, const char *path,
                            int kind)
{
    int chosen = -1, idx = 0;
    for (size_t i = 0; i < sec->nkeys; i++)
        if (sec->keys[i].flags & HZ_CF_ONEOF) {
            if (idx++ == *(const int *)((const char *)base + sec->kind_off))
                chosen = (int)i;
        }
    for (size_t i = 0; i < sec->nkeys; i++) {
        const hz_ckey *k = &sec->keys[i];
        if ((k->flags & HZ_CF_ONEOF) && (int)i != chosen)
            continue;
        if (!key_accepts_kind(k, kind))
            continue;
        write_key(f, k, base, path, kind);
        if (k->flags & HZ_CF_KIND)
            kind = *(const int *)((const char *)base + k->off);
    }
}

static const hz_ckey *root_key(const char *name)
{
    for (size_t i = 0; i < hz_conf_root.nkeys; i++)
        if (!strcmp(hz_conf_root.keys[i].name, name))
            return &hz_conf_root.keys[i];
    return NULL;
}

static int make_canonical(hz_loader *L, hz_pipeline_conf *pc)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return oom(L);
    write_canonical(f, root_key("pipelines")->sec, pc, "pipeline", -1);
    int uses_kafka = pc->source.kind == HZ_CFG_SOURCE_KAFKA;
    for (size_t i = 0; i < pc->n_sinks; i++)
        uses_kafka |= pc->sinks[i].kind == HZ_CFG_SINK_KAFKA;
    if (uses_kafka) /* inherited librdkafka properties */
        write_key(f, root_key("kafka"), L->cfg, "", -1);
    if (fclose(f) || !buf) {
        free(buf);
        return oom(L);
    }
    pc->canonical = buf;
    return 0;
}

const char *hz_conf_map_get(const hz_conf_map *m, const char *key)
{
    for (size_t i = m ? m->n : 0; i-- > 0;)
        if (!strcmp(m->items[i].key, key))
            return m->items[i].value;
    return NULL;
}

int hz_config_pipeline_equal(const hz_pipeline_conf *a, const hz_pipeline_conf *b)
{
    return a && b && a->canonical && b->canonical && !strcmp(a->canonical, b->canonical);
}

int hz_config_has_series_rules(const hz_pipeline_conf *pc)
{
    for (size_t i = 0; i < pc->n_variables; i++)
        if (pc->variables[i].series && *pc->variables[i].series)
            return 1;
    return 0;
}

void hz_config_rules_for(const hz_pipeline_conf *pc, const char *name, const char *series,
                         hz_cfg_rules *out, int *transform, int *exclude_faults)
{
    *out = pc->anomaly.rules;
    *transform = HZ_CFG_TF_NONE;
    *exclude_faults = 1;
    for (size_t i = 0; i < pc->n_variables; i++) {
        const hz_cfg_variable *v = &pc->variables[i];
        int pattern = v->series && *v->series;
        if (strcmp(v->name, name) || (pattern && (!series || fnmatch(v->series, series, 0))))
            continue;
        if (!pattern) {
            *transform = v->transform;
            *exclude_faults = v->exclude_faults;
        }
        if (v->rules.n_range == 2) {
            out->range = v->rules.range;
            out->n_range = 2;
        }
        if (v->rules.flatline >= 0)
            out->flatline = v->rules.flatline;
        if (v->rules.spike >= 0)
            out->spike = v->rules.spike;
        if (v->rules.gap >= 0)
            out->gap = v->rules.gap;
        if (v->rules.shift >= 0)
            out->shift = v->rules.shift;
        if (v->rules.season >= 0)
            out->season = v->rules.season;
        if (v->rules.zero >= 0)
            out->zero = v->rules.zero;
    }
}

const hz_pipeline_conf *hz_config_pipeline(const hz_config *cfg, const char *name)
{
    for (size_t i = 0; cfg && name && i < cfg->n_pipelines; i++)
        if (!strcmp(cfg->pipelines[i].name, name))
            return &cfg->pipelines[i];
    return NULL;
}

/* ---- loading ---- */

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return NULL; /* relative to the current directory: keep paths as written */
    if (slash == path)
        return xstrdup("/");
    char *d = malloc((size_t)(slash - path) + 1);
    if (d) {
        memcpy(d, path, (size_t)(slash - path));
        d[slash - path] = 0;
    }
    return d;
}

/* hz_config_load and hz_config_load_mem: parses len bytes at buf (checked for size and
 * nesting depth first, config/config_read.h); path names them in messages. */
static int load(const char *path, const void *buf, size_t len, hz_config **out, char *err,
                size_t errlen)
{
    *out = NULL;
    if (len > HZ_CONFIG_MAX_BYTES)
        return hz_err(err, errlen, HZ_EINVAL, "%s: %zu bytes, more than a configuration's %d", path,
                      len, HZ_CONFIG_MAX_BYTES);
    int rc = hz_config_check_depth(path, buf, len, err, errlen);
    if (rc)
        return rc;
    hz_config *cfg = calloc(1, sizeof *cfg);
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!cfg || !yaml_parser_initialize(&parser)) {
        free(cfg);
        return hz_err(err, errlen, HZ_ENOMEM, "%s: out of memory", path);
    }
    yaml_parser_set_input_string(&parser, buf, len);
    if (!yaml_parser_load(&parser, &doc)) {
        yaml_mark_t m = parser.problem_mark;
        if (parser.context)
            rc = hz_err(err, errlen, HZ_EFORMAT, "%s:%zu:%zu: invalid YAML: %s (%s at %zu:%zu)",
                        path, m.line + 1, m.column + 1,
                        parser.problem ? parser.problem : "syntax error", parser.context,
                        parser.context_mark.line + 1, parser.context_mark.column + 1);
        else
            rc = hz_err(err, errlen, HZ_EFORMAT, "%s:%zu:%zu: invalid YAML: %s", path, m.line + 1,
                        m.column + 1, parser.problem ? parser.problem : "syntax error");
        yaml_parser_delete(&parser);
        free(cfg);
        return rc;
    }
    hz_loader L = {.file = path, .doc = &doc, .cfg = cfg, .kind = -1, .err = err, .errlen = errlen};
    cfg->path = xstrdup(path);
    cfg->dir = dir_of(path);
    L.dir = cfg->dir; /* NULL: the file is in the working directory; paths stay as written */
    if (!cfg->dir && !strchr(path, '/'))
        cfg->dir = xstrdup(".");
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!cfg->path || !cfg->dir) {
        rc = oom(&L);
    } else if ((rc = hz_config_check_nul(path, &doc, err, errlen))) {
        /* refused with the scalar's line:column */
    } else if (!root) {
        rc = hz_err(err, errlen, HZ_EINVAL,
                    "%s:1:1: expected a mapping of settings (database, pipelines, ...), got an "
                    "empty document",
                    path);
    } else if (root->type != YAML_MAPPING_NODE) {
        char gbuf[80];
        rc = hz_loader_err(&L, root, NULL, NULL,
                           "expected a mapping of settings (database, pipelines, ...), got %s",
                           describe(root, gbuf, sizeof gbuf));
    } else {
        rc = parse_section(&L, &hz_conf_root, cfg, root, root, "");
    }
    /* A second document in the file would be silently ignored: refuse it. */
    if (!rc) {
        yaml_document_t next;
        if (yaml_parser_load(&parser, &next)) {
            yaml_node_t *r2 = yaml_document_get_root_node(&next);
            if (r2)
                rc = hz_err(err, errlen, HZ_EINVAL,
                            "%s:%zu:%zu: expected one YAML document, got a second one", path,
                            r2->start_mark.line + 1, r2->start_mark.column + 1);
            yaml_document_delete(&next);
        } else {
            yaml_mark_t m = parser.problem_mark;
            rc = hz_err(err, errlen, HZ_EFORMAT, "%s:%zu:%zu: invalid YAML: %s", path, m.line + 1,
                        m.column + 1, parser.problem ? parser.problem : "syntax error");
        }
    }
    for (size_t i = 0; !rc && i < cfg->n_pipelines; i++)
        rc = make_canonical(&L, &cfg->pipelines[i]);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (rc) {
        hz_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return 0;
}

int hz_config_load(const char *path, hz_config **out, char *err, size_t errlen)
{
    *out = NULL;
    char *text;
    size_t len;
    int rc = hz_config_read_file(path, &text, &len, err, errlen);
    if (rc)
        return rc;
    rc = load(path, text, len, out, err, errlen);
    free(text);
    return rc;
}

int hz_config_load_mem(const void *buf, size_t len, const char *path, hz_config **out, char *err,
                       size_t errlen)
{
    return load(path, buf, len, out, err, errlen);
}

/* ---- documentation (docs/CONFIG.md) ---- */

static const char *type_name(const hz_ckey *k)
{
    switch (k->type) {
    case HZ_CT_STR:
        return "string";
    case HZ_CT_PATH:
        return "path";
    case HZ_CT_IDENT:
        return "SQL identifier";
    case HZ_CT_NAME:
        return "name `[a-z0-9_-]+`";
    case HZ_CT_HOSTPORT:
        return "host:port";
    case HZ_CT_INT:
        return "integer";
    case HZ_CT_DOUBLE:
        return "number";
    case HZ_CT_BOOL:
        return "boolean";
    case HZ_CT_ENUM:
        return "enum";
    case HZ_CT_DURATION:
        return "duration";
    case HZ_CT_MAP:
        return "map of strings";
    case HZ_CT_STRLIST:
        return "list of strings";
    case HZ_CT_INTLIST:
        return "list of integers";
    case HZ_CT_DBLLIST:
        return "list of numbers";
    case HZ_CT_SECTION:
        return "section";
    case HZ_CT_SECLIST:
        return "list of sections";
    }
    return "?";
}

static void doc_type(FILE *f, const hz_ckey *k)
{
    char a[40], b[40];
    fputs(type_name(k), f);
    switch (k->type) {
    case HZ_CT_ENUM:
        for (int i = 0; k->enums[i]; i++)
            fprintf(f, "%s`%s`", i ? " \\| " : ": ", k->enums[i]);
        break;
    case HZ_CT_INT:
    case HZ_CT_INTLIST:
    case HZ_CT_DOUBLE:
    case HZ_CT_DBLLIST:
        fmt_num(k->min, a, sizeof a);
        fmt_num(k->max, b, sizeof b);
        if (k->max >= HZ_CONF_UNBOUNDED) {
            if (k->min > -HZ_CONF_UNBOUNDED)
                fprintf(f, " >= %s", a);
            break;
        }
        fprintf(f, " %c%s, %s%c", k->flags & HZ_CF_OPEN ? '(' : '[', a, b,
                k->flags & HZ_CF_OPEN ? ')' : ']');
        break;
    case HZ_CT_DURATION:
        fmt_duration((int64_t)k->min, a, sizeof a);
        fmt_duration((int64_t)k->max, b, sizeof b);
        fprintf(f, " [%s, %s]", a, b);
        break;
    default:
        break;
    }
    if (k->type == HZ_CT_STRLIST || k->type == HZ_CT_INTLIST || k->type == HZ_CT_DBLLIST ||
        k->type == HZ_CT_SECLIST) {
        if (k->nmin == k->nmax)
            fprintf(f, ", exactly %d items", k->nmin);
        else
            fprintf(f, ", %d..%d items", k->nmin, k->nmax);
    }
}

static void doc_default(FILE *f, const hz_ckey *k)
{
    if (k->flags & HZ_CF_REQUIRED) {
        fputs("**required**", f);
        return;
    }
    if (k->flags & HZ_CF_ONEOF) {
        fputs("one of the group", f);
        return;
    }
    if (k->def_doc) {
        fputs(k->def_doc, f);
        return;
    }
    int per_kind = 0;
    for (int i = 0; i < HZ_CFG_MODEL_NKINDS; i++)
        per_kind |= k->kdef[i] != NULL;
    if (per_kind) {
        int first = 1;
        for (int i = 0; i < HZ_CFG_MODEL_NKINDS; i++) {
            if (k->kinds && !(k->kinds & (1u << i)))
                continue;
            const char *d = k->kdef[i] ? k->kdef[i] : k->def;
            fprintf(f, "%s%s: `%s`", first ? "" : "; ", kind_name(i), d ? d : "none");
            first = 0;
        }
        return;
    }
    if (k->type == HZ_CT_SECTION) {
        fputs("see below", f);
        return;
    }
    if (k->def)
        fprintf(f, "`%s`", *k->def ? k->def : "\"\"");
    else
        fputs("empty", f);
}

static void doc_section(FILE *f, const hz_csec *sec, const char *path)
{
    fprintf(f, "\n### `%s`\n\n%s\n\n", *path ? path : "(top level)", sec->doc);
    fputs("| key | type | default | meaning |\n| --- | --- | --- | --- |\n", f);
    for (size_t i = 0; i < sec->nkeys; i++) {
        const hz_ckey *k = &sec->keys[i];
        char sub[PATHLEN];
        join(sub, path, k->name);
        fprintf(f, "| `%s`%s | ", sub, k->type == HZ_CT_SECLIST ? "[]" : "");
        doc_type(f, k);
        fputs(" | ", f);
        doc_default(f, k);
        fputs(" | ", f);
        fputs(k->doc, f);
        if (k->kinds) {
            char ks[100];
            kinds_text(k->kinds, ks, sizeof ks);
            fprintf(f, " *(%s only)*", ks);
        }
        fputs(" |\n", f);
    }
    for (size_t i = 0; i < sec->nkeys; i++) {
        const hz_ckey *k = &sec->keys[i];
        if (k->type != HZ_CT_SECTION && k->type != HZ_CT_SECLIST)
            continue;
        char sub[PATHLEN];
        join(sub, path, k->name);
        if (k->type == HZ_CT_SECLIST)
            strncat(sub, "[]", sizeof sub - strlen(sub) - 1);
        doc_section(f, k->sec, sub);
    }
}

int hz_config_write_doc(FILE *f)
{
    fputs("# horizon configuration reference\n\n"
          "<!-- Generated from config/config_schema.c by `horizond --dump-schema`; do not edit "
          "by hand.\n     tests/unit/test_config.c fails when this file and the table disagree. "
          "-->\n\n"
          "One YAML file configures both `horizond` and `horizon`. `horizond -c FILE --check` "
          "validates it.\nEvery key below is optional unless marked **required**; unknown keys, "
          "duplicate keys, wrong types and\nout-of-range values are refused with "
          "`file.yaml:LINE:COLUMN: key.path: what was expected, got ...`.\n\n"
          "Value syntax:\n\n"
          "- **duration**: an integer with a unit, `200ms`, `30s`, `15m`, `1h`, `7d`, or a bare "
          "integer of seconds.\n"
          "- **boolean**: `true`/`false` or `yes`/`no`.\n"
          "- **number**: decimal or exponent form (`1e-4`); NaN and infinities are refused.\n"
          "- **path**: a relative path is resolved against the directory of the YAML file.\n"
          "- **SQL identifier**: letters, digits and `_`, not starting with a digit, at most 64 "
          "characters.\n"
          "- **map of strings**: free-form `name: value` pairs handed to librdkafka as they "
          "are, in file order.\n"
          "- Model settings marked *(kind only)* are refused for other model kinds; where the "
          "default differs by\n  `model.kind`, each kind's default (the paper's) is listed.\n"
          "- Exactly one key of a *one of the group* set must be given (e.g. the source "
          "kind).\n",
          f);
    fputs("\nEvery file in `config/examples/` is a complete, valid example.\n", f);
    fputs("\n## Keys\n", f);
    doc_section(f, &hz_conf_root, "");
    return ferror(f) ? HZ_EIO : 0;
}
