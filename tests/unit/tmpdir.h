/* tmpdir.h — one scratch directory per suite, /tmp/hz_TAG_XXXXXX: made by the suite's group
 * setup (tmpdir_make), removed with everything in it by its group teardown (tmpdir_remove).
 * Both return 0 or -1, as cmocka's group fixtures do. */
#ifndef HZ_TEST_TMPDIR_H
#define HZ_TEST_TMPDIR_H

#include <stdio.h>
#include <stdlib.h>

static char tmpdir[256];

static inline int tmpdir_make(const char *tag)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/hz_%s_XXXXXX", tag);
    return mkdtemp(tmpdir) ? 0 : -1;
}

static inline int tmpdir_remove(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

#endif
