/* config_read.c — reads a configuration file within bounds and checks its nesting and
 * scalars before the document is used (config_read.h). */
#include "config/config_read.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hz.h"

int hz_config_read_file(const char *path, char **buf, size_t *len, char *err, size_t errlen)
{
    *buf = NULL;
    *len = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return hz_err(err, errlen, HZ_EIO, "%s: cannot open: %s", path, strerror(errno));
    char *b = malloc(HZ_CONFIG_MAX_BYTES + 2);
    if (!b) {
        fclose(fp);
        return hz_err(err, errlen, HZ_ENOMEM, "%s: out of memory", path);
    }
    /* one byte past the bound tells a file that is too large (also a pipe or a device) */
    size_t n = fread(b, 1, HZ_CONFIG_MAX_BYTES + 1, fp);
    int rc = 0;
    if (ferror(fp))
        rc = hz_err(err, errlen, HZ_EIO, "%s: cannot read: %s", path, strerror(errno));
    else if (n > HZ_CONFIG_MAX_BYTES)
        rc = hz_err(err, errlen, HZ_EINVAL,
                    "%s:1:1: larger than %d bytes; a configuration file is refused beyond that",
                    path, HZ_CONFIG_MAX_BYTES);
    fclose(fp);
    if (rc) {
        free(b);
        return rc;
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return 0;
}

int hz_config_check_depth(const char *path, const char *buf, size_t len, char *err, size_t errlen)
{
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        return hz_err(err, errlen, HZ_ENOMEM, "%s: out of memory", path);
    yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
    int depth = 0, rc = 0, done = 0;
    while (!done && !rc) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev))
            break; /* the loader reports the syntax error */
        if (ev.type == YAML_MAPPING_START_EVENT || ev.type == YAML_SEQUENCE_START_EVENT) {
            if (++depth > HZ_CONFIG_MAX_DEPTH)
                rc = hz_err(err, errlen, HZ_EINVAL,
                            "%s:%zu:%zu: mappings and sequences nested deeper than %d levels; "
                            "a configuration file is refused beyond that",
                            path, ev.start_mark.line + 1, ev.start_mark.column + 1,
                            HZ_CONFIG_MAX_DEPTH);
        } else if (ev.type == YAML_MAPPING_END_EVENT || ev.type == YAML_SEQUENCE_END_EVENT) {
            depth--;
        } else if (ev.type == YAML_STREAM_END_EVENT) {
            done = 1;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    return rc;
}

int hz_config_check_nul(const char *path, yaml_document_t *doc, char *err, size_t errlen)
{
    for (yaml_node_t *n = doc->nodes.start; n < doc->nodes.top; n++) {
        if (n->type != YAML_SCALAR_NODE)
            continue;
        if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length)
            return hz_err(err, errlen, HZ_EINVAL,
                          "%s:%zu:%zu: a NUL character (\\0) in \"%s...\"; names, paths and "
                          "values cannot hold one",
                          path, n->start_mark.line + 1, n->start_mark.column + 1,
                          (const char *)n->data.scalar.value);
    }
    return 0;
}
