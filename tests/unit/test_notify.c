/* test_notify.c — sd_notify wrapper against a fake NOTIFY_SOCKET: an AF_UNIX datagram socket
 * in a temp dir, read back after each call. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "service/notify.h"

typedef struct fake {
    char dir[64];
    char path[100];
    int fd;
} fake;

static int setup(void **state)
{
    fake *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/hz_notify_XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof f->path, "%s/notify.sock", f->dir);
    f->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {0};
    a.sun_family = AF_UNIX;
    memcpy(a.sun_path, f->path, strlen(f->path) + 1);
    if (f->fd < 0 || bind(f->fd, (struct sockaddr *)&a, sizeof a) != 0)
        return -1;
    struct timeval tv = {2, 0};
    setsockopt(f->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setenv("NOTIFY_SOCKET", f->path, 1);
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fake *f = *state;
    close(f->fd);
    unlink(f->path);
    rmdir(f->dir);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    free(f);
    return 0;
}

/* Next datagram, NUL-terminated; "" when none arrives within the timeout. */
static void recv_msg(fake *f, char *buf, size_t n)
{
    ssize_t k = recv(f->fd, buf, n - 1, 0);
    buf[k > 0 ? k : 0] = '\0';
}

static int pending(fake *f)
{
    char c;
    return recv(f->fd, &c, 1, MSG_DONTWAIT | MSG_PEEK) >= 0;
}

static void test_ready_status_stopping(void **state)
{
    fake *f = *state;
    hz_notify n;
    char err[HZ_ERRLEN], buf[512];
    assert_int_equal(hz_notify_init(&n, err, sizeof err), 0);
    assert_true(n.enabled);
    assert_int_equal(hz_notify_ready(&n, err, sizeof err), 0);
    recv_msg(f, buf, sizeof buf);
    assert_string_equal(buf, "READY=1");
    assert_int_equal(hz_notify_status(&n, err, sizeof err, "%d pipelines, %s", 2, "lag 0\nok"), 0);
    recv_msg(f, buf, sizeof buf);
    assert_string_equal(buf, "STATUS=2 pipelines, lag 0 ok");
    assert_int_equal(hz_notify_stopping(&n, err, sizeof err), 0);
    recv_msg(f, buf, sizeof buf);
    assert_string_equal(buf, "STOPPING=1");
    /* watchdog off: nothing is sent */
    assert_int_equal(hz_notify_watchdog_interval_usec(&n), 0);
    assert_int_equal(hz_notify_watchdog(&n, err, sizeof err), 0);
    assert_false(pending(f));
    /* the environment is left alone */
    assert_string_equal(getenv("NOTIFY_SOCKET"), f->path);
}

static void test_reloading_has_monotonic_usec(void **state)
{
    fake *f = *state;
    hz_notify n;
    char err[HZ_ERRLEN], buf[512];
    assert_int_equal(hz_notify_init(&n, err, sizeof err), 0);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    unsigned long long before = (unsigned long long)ts.tv_sec * 1000000ULL + ts.tv_nsec / 1000;
    assert_int_equal(hz_notify_reloading(&n, err, sizeof err), 0);
    recv_msg(f, buf, sizeof buf);
    unsigned long long usec = 0;
    assert_int_equal(sscanf(buf, "RELOADING=1\nMONOTONIC_USEC=%llu", &usec), 1);
    assert_true(usec >= before && usec < before + 5000000ULL);
}

static void test_watchdog(void **state)
{
    fake *f = *state;
    char err[HZ_ERRLEN], buf[512], pid[32];
    setenv("WATCHDOG_USEC", "4000000", 1);
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    setenv("WATCHDOG_PID", pid, 1);
    hz_notify n;
    assert_int_equal(hz_notify_init(&n, err, sizeof err), 0);
    assert_int_equal(n.watchdog_usec, 4000000);
    assert_int_equal(hz_notify_watchdog_interval_usec(&n), 2000000);
    assert_int_equal(hz_notify_watchdog(&n, err, sizeof err), 0);
    recv_msg(f, buf, sizeof buf);
    assert_string_equal(buf, "WATCHDOG=1");
    /* meant for another process: off */
    setenv("WATCHDOG_PID", "1", 1);
    assert_int_equal(hz_notify_init(&n, err, sizeof err), 0);
    assert_int_equal(hz_notify_watchdog_interval_usec(&n), 0);
    /* malformed */
    setenv("WATCHDOG_PID", pid, 1);
    setenv("WATCHDOG_USEC", "soon", 1);
    assert_int_equal(hz_notify_init(&n, err, sizeof err), HZ_EINVAL);
    assert_non_null(strstr(err, "WATCHDOG_USEC"));
}

static void test_noop_without_socket(void **state)
{
    fake *f = *state;
    unsetenv("NOTIFY_SOCKET");
    hz_notify n;
    char err[HZ_ERRLEN];
    assert_int_equal(hz_notify_init(&n, err, sizeof err), 0);
    assert_false(n.enabled);
    assert_int_equal(hz_notify_ready(&n, err, sizeof err), 0);
    assert_int_equal(hz_notify_status(&n, err, sizeof err, "x"), 0);
    assert_int_equal(hz_notify_reloading(&n, err, sizeof err), 0);
    assert_false(pending(f));
}

static void test_socket_gone_is_an_error(void **state)
{
    fake *f = *state;
    hz_notify n;
    char err[HZ_ERRLEN];
    assert_int_equal(hz_notify_init(&n, err, sizeof err), 0);
    setenv("NOTIFY_SOCKET", "/nonexistent/dir/notify.sock", 1);
    assert_int_equal(hz_notify_ready(&n, err, sizeof err), HZ_EIO);
    assert_non_null(strstr(err, "sd_notify"));
    (void)f;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ready_status_stopping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reloading_has_monotonic_usec, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watchdog, setup, teardown),
        cmocka_unit_test_setup_teardown(test_noop_without_socket, setup, teardown),
        cmocka_unit_test_setup_teardown(test_socket_gone_is_an_error, setup, teardown),
    };
    return cmocka_run_group_tests_name("notify", tests, NULL, NULL);
}
