/* config_read.h — the guards a configuration file passes before libyaml builds its document
 * (config.c): a bounded size and a bounded nesting depth, so a hostile or broken file is
 * refused in milliseconds instead of stalling `--check` or a SIGHUP reload (libyaml's flow
 * parsing is quadratic in the nesting depth), and no scalar with an embedded NUL. */
#ifndef HZ_CONFIG_READ_H
#define HZ_CONFIG_READ_H

#include <stddef.h>
#include <yaml.h>

#define HZ_CONFIG_MAX_BYTES (1024 * 1024) /* a configuration file is at most 1 MiB */
#define HZ_CONFIG_MAX_DEPTH 64            /* mappings and sequences nest at most this deep */

/* Reads path whole into *buf (NUL-terminated, caller frees) and *len.  HZ_EIO when it cannot
 * be read, HZ_EINVAL when it is larger than HZ_CONFIG_MAX_BYTES, HZ_ENOMEM. */
int hz_config_read_file(const char *path, char **buf, size_t *len, char *err, size_t errlen);

/* Walks buf's YAML events and refuses ("path:LINE:COL: ...", HZ_EINVAL) the first mapping or
 * sequence nested deeper than HZ_CONFIG_MAX_DEPTH.  A YAML syntax error is left to the
 * document loader, which reports it (returns 0). */
int hz_config_check_depth(const char *path, const char *buf, size_t len, char *err, size_t errlen);

/* Refuses ("path:LINE:COL: ...", HZ_EINVAL) the first scalar of doc holding a NUL character
 * (a "\0" escape): C strings would silently cut it short. */
int hz_config_check_nul(const char *path, yaml_document_t *doc, char *err, size_t errlen);

#endif
