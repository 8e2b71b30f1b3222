/* main_horizond.c — the daemon (DESIGN.md, "Programs").  Until the daemon issue lands it
 * only validates its configuration. */
#include <stdio.h>
#include <string.h>

#include "hz.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: horizond -c FILE.yaml [--check]\n");
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        }
    }
    usage(stderr);
    fprintf(stderr, "horizond: the daemon runtime is not built yet\n");
    return 2;
}
