/* notify_listen.c — a stand-in for systemd's notification socket in script tests: binds an
 * AF_UNIX datagram socket at PATH and prints every message received (newlines inside a
 * message become spaces), one per line, until SIGTERM/SIGINT or SECONDS have passed.
 *
 *   notify_listen PATH [SECONDS]
 */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: notify_listen PATH [SECONDS]\n");
        return 2;
    }
    int secs = argc > 2 ? atoi(argv[2]) : 60;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    if (strlen(argv[1]) >= sizeof addr.sun_path) {
        fprintf(stderr, "notify_listen: path too long\n");
        return 2;
    }
    strcpy(addr.sun_path, argv[1]);
    unlink(argv[1]);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        perror("notify_listen: bind");
        return 1;
    }
    time_t end = time(NULL) + secs;
    char buf[4096];
    while (!stop && time(NULL) < end) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
        if (n <= 0)
            continue;
        buf[n] = 0;
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] == '\n')
                buf[i] = ' ';
        printf("%s\n", buf);
        fflush(stdout);
    }
    close(fd);
    unlink(argv[1]);
    return 0;
}
