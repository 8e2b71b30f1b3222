/* config_schema.h — the table that drives config parsing, defaults, validation and docs
 * (redis's config-table habit). Internal to config/: config_schema.c holds the tables,
 * config.c walks them. */
#ifndef HZ_CONFIG_SCHEMA_H
#define HZ_CONFIG_SCHEMA_H

#include <stddef.h>
#include <yaml.h>

#include "config/config.h"

typedef enum {
    HZ_CT_STR,      /* char *, any scalar */
    HZ_CT_PATH,     /* char *, relative paths resolved against the file's directory */
    HZ_CT_IDENT,    /* char *, SQL identifier [A-Za-z_][A-Za-z0-9_]* */
    HZ_CT_NAME,     /* char *, [a-z0-9_-]+ */
    HZ_CT_HOSTPORT, /* char *, host:port or "" */
    HZ_CT_INT,      /* int, bounds min..max */
    HZ_CT_DOUBLE,   /* double, finite, bounds min..max (exclusive when HZ_CF_OPEN) */
    HZ_CT_BOOL,     /* int 0/1: true/false/yes/no */
    HZ_CT_ENUM,     /* int index into enums[] (or enum_vals[] when given) */
    HZ_CT_DURATION, /* int64_t ms: 200ms, 1s, 15m, 1h, 7d or bare seconds; bounds in ms */
    HZ_CT_MAP,      /* hz_conf_map: free-form string map */
    HZ_CT_STRLIST,  /* char ** + size_t count (noff) */
    HZ_CT_INTLIST,  /* int * + size_t count */
    HZ_CT_DBLLIST,  /* double * + size_t count */
    HZ_CT_SECTION,  /* nested struct at off, keys in sec */
    HZ_CT_SECLIST,  /* array of elem_size structs + size_t count, keys in sec */
} hz_ctype;

enum {
    HZ_CF_REQUIRED = 1u << 0, /* no default: must be given */
    HZ_CF_ONEOF = 1u << 1,    /* exactly one HZ_CF_ONEOF key of the section; index -> kind */
    HZ_CF_OPEN = 1u << 2,     /* double bounds are exclusive */
    HZ_CF_DERIVED = 1u << 3,  /* default computed from other settings (def_doc says how) */
    HZ_CF_KIND = 1u << 4,     /* this enum is the model kind: selects kdef/kinds below it */
    HZ_CF_NULLS = 1u << 5,    /* a number list whose items may be null (stored as NaN) */
};

/* Bound meaning "no bound" for doubles. */
#define HZ_CONF_UNBOUNDED 1e300

typedef struct hz_csec hz_csec;
typedef struct hz_loader hz_loader;

typedef struct hz_ckey {
    const char *name;
    hz_ctype type;
    size_t off;      /* offset of the field in the section's struct */
    size_t noff;     /* lists: offset of the size_t count */
    const char *def; /* default as YAML text (parsed like input); NULL: none / derived */
    const char *kdef[HZ_CFG_MODEL_NKINDS]; /* per-model-kind defaults (model sections only) */
    unsigned kinds; /* model sections: bit per HZ_MODEL_* accepting the key; 0 = all */
    unsigned flags;
    double min, max;          /* numbers, durations (ms), element bounds for lists */
    int nmin, nmax;           /* lists: item count bounds */
    const char *const *enums; /* NULL-terminated */
    const int *enum_vals;     /* optional value for each enum name */
    const hz_csec *sec;
    size_t elem_size;
    const char *doc;
    const char *def_doc; /* how a derived default is computed */
} hz_ckey;

/* Cross-field check of a section after its keys are set; map is the section's mapping node
 * (NULL when the section was absent) for locating errors. Returns 0 or hz_loader_err(). */
typedef int (*hz_ccheck)(hz_loader *L, void *base, yaml_node_t *map, const char *path);

struct hz_csec {
    const char *name;
    const hz_ckey *keys;
    size_t nkeys;
    size_t kind_off; /* where the HZ_CF_ONEOF index goes */
    hz_ccheck check;
    const char *doc;
};

extern const hz_csec hz_conf_root;

/* Used by checks: an error at node (or the document start) naming path.key. */
int hz_loader_err(hz_loader *L, yaml_node_t *node, const char *path, const char *key,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* The value node of key in map, or NULL. */
yaml_node_t *hz_loader_find(hz_loader *L, yaml_node_t *map, const char *key);
/* Item i of a sequence node, or NULL. */
yaml_node_t *hz_loader_item(hz_loader *L, yaml_node_t *seq, size_t i);
/* The model kind (HZ_MODEL_*) of the model section being loaded, or -1 outside one. */
int hz_loader_kind(const hz_loader *L);
/* The configuration being loaded (keys earlier in the table are already set). */
const hz_config *hz_loader_config(hz_loader *L);

#endif
