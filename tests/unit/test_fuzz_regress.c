/* test_fuzz_regress.c — the fuzz targets' entry points (fuzz/fuzz.h) over every committed
 * input, with the normal compiler: fuzz/regress/<target>/ holds inputs that once crashed a
 * parser (each fixed; the file name says where), fuzz/corpus/<target>/ the seed corpora
 * `make fuzz` starts from.  A crash, a sanitizer report (the ASan build of this suite) or a
 * failed HZ_FUZZ_CHECK fails the suite.  Run from the repository root.  docs/RELIABILITY.md,
 * "Fuzzing". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz/fuzz.h"

/* Reads path whole into a malloc'd buffer (one spare byte so an empty file is not NULL). */
static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("%s: cannot open", path);
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = (n + 4096 + 1) * 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        size_t got = fread(buf + n, 1, 4096, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    *len = n;
    return buf;
}

static int is_file(const struct dirent *e)
{
    return e->d_name[0] != '.';
}

/* Feeds every file of dir to fn (in name order); the count, or -1 when dir does not exist. */
static int run_dir(const hz_fuzz_target *t, const char *dir)
{
    struct dirent **list;
    int n = scandir(dir, &list, is_file, alphasort);
    if (n < 0)
        return -1;
    for (int i = 0; i < n; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, list[i]->d_name);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            size_t len;
            uint8_t *data = slurp(path, &len);
            /* libFuzzer hands over exactly len bytes: a copy of that size lets ASan see an
             * overread of the input itself */
            uint8_t *exact = malloc(len ? len : 1);
            assert_non_null(exact);
            memcpy(exact, data, len);
            free(data);
            assert_int_equal(t->fn(exact, len), 0);
            free(exact);
        }
        free(list[i]);
    }
    free(list);
    return n;
}

static void test_target(void **state)
{
    const hz_fuzz_target *t = *state;
    char dir[256];
    snprintf(dir, sizeof dir, "fuzz/corpus/%s", t->name);
    int seeds = run_dir(t, dir);
    if (seeds <= 0)
        fail_msg("%s: no seed corpus (run from the repository root)", dir);
    snprintf(dir, sizeof dir, "fuzz/regress/%s", t->name);
    int crashes = run_dir(t, dir);
    print_message("%s: %d seeds, %d crash reproducers\n", t->name, seeds,
                  crashes < 0 ? 0 : crashes);
}

/* Every folder of fuzz/corpus and fuzz/regress is a target of the table (a renamed target
 * would otherwise silently lose its inputs). */
static void test_folders_are_targets(void **state)
{
    static const char *const roots[] = {"fuzz/corpus", "fuzz/regress"};
    for (int r = 0; r < 2; r++) {
        struct dirent **list;
        int n = scandir(roots[r], &list, is_file, alphasort);
        if (n < 0 && r == 1)
            continue; /* no reproducers yet */
        assert_true(n > 0);
        for (int i = 0; i < n; i++) {
            int known = 0;
            for (const hz_fuzz_target *t = hz_fuzz_targets; t->name; t++)
                known |= !strcmp(t->name, list[i]->d_name);
            if (!known)
                fail_msg("%s/%s: no fuzz target of that name (fuzz/targets.c)", roots[r],
                         list[i]->d_name);
            free(list[i]);
        }
        free(list);
    }
}

int main(void)
{
    struct CMUnitTest tests[32];
    size_t n = 0;
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_folders_are_targets);
    for (const hz_fuzz_target *t = hz_fuzz_targets; t->name && n < 32; t++) {
        tests[n] = (struct CMUnitTest)cmocka_unit_test_prestate(test_target, (void *)t);
        tests[n].name = t->name;
        n++;
    }
    return _cmocka_run_group_tests("test_fuzz_regress", tests, n, NULL, NULL);
}
