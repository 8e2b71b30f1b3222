/* mock_cluster.c — runs librdkafka's built-in mock Kafka cluster (rdkafka_mock.h) on
 * 127.0.0.1 for script tests: prints the bootstrap servers as one line on stdout, creates
 * the topics named on the command line, and serves until SIGTERM or SIGINT.
 *
 *   mock_cluster [-b BROKERS] [-p PARTITIONS] [-c FIFO] [TOPIC[:PARTITIONS] ...]
 *
 * A partition keeps at most about 5 MB (librdkafka's mock deletes its oldest messages past
 * that: about 77k readings or 11k forecast messages), so a test whose output topic grows
 * larger gives it more partitions (TOPIC:PARTITIONS).
 *
 * With -c, faults are injected by lines written to the named pipe FIFO (the fault tests,
 * tests/e2e/fault_kafka.sh), each acknowledged on stderr as "mock_cluster: ok LINE":
 *   down ID | up ID                   broker ID stops / starts answering (connections closed)
 *   leader TOPIC PARTITION ID         partition's leader (-1 for every partition)
 *   coordinator GROUP ID              the group coordinator of consumer group GROUP
 *   errors ID APIKEY COUNT CODE       the next COUNT requests of Kafka API APIKEY (0 Produce,
 *                                     1 Fetch, 8 OffsetCommit, ...) to broker ID (-1: any
 *                                     broker) answer error CODE
 *   rtt ID MS                         broker ID answers MS late
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* partition PART of TOPIC led by broker ID; PART -1: every partition (until one is unknown) */
static rd_kafka_resp_err_t set_leader(rd_kafka_mock_cluster_t *mc, const char *topic, int part,
                                      int id)
{
    if (part >= 0)
        return rd_kafka_mock_partition_set_leader(mc, topic, part, id);
    rd_kafka_resp_err_t e = rd_kafka_mock_partition_set_leader(mc, topic, 0, id);
    for (int p = 1; !e && p < 100000; p++)
        if (rd_kafka_mock_partition_set_leader(mc, topic, p, id))
            break;
    return e;
}

/* the next COUNT requests of API APIKEY to broker ID (-1: any) fail with CODE */
static rd_kafka_resp_err_t push_errors(rd_kafka_mock_cluster_t *mc, int id, int16_t apikey,
                                       int count, rd_kafka_resp_err_t code)
{
    if (id < 0) {
        rd_kafka_resp_err_t codes[1000];
        for (int i = 0; i < count; i++)
            codes[i] = code;
        rd_kafka_mock_push_request_errors_array(mc, apikey, (size_t)count, codes);
        return RD_KAFKA_RESP_ERR_NO_ERROR;
    }
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (int i = 0; !e && i < count; i++)
        e = rd_kafka_mock_broker_push_request_error_rtts(mc, id, apikey, 1, code, 0);
    return e;
}

/* one control line: 0 when understood and applied */
static int control(rd_kafka_mock_cluster_t *mc, const char *line)
{
    char name[256];
    int a, b, c, id;
    rd_kafka_resp_err_t e;
    if (sscanf(line, "down %d", &a) == 1)
        e = rd_kafka_mock_broker_set_down(mc, a);
    else if (sscanf(line, "up %d", &a) == 1)
        e = rd_kafka_mock_broker_set_up(mc, a);
    else if (sscanf(line, "leader %255s %d %d", name, &a, &b) == 3)
        e = set_leader(mc, name, a, b);
    else if (sscanf(line, "coordinator %255s %d", name, &a) == 2)
        e = rd_kafka_mock_coordinator_set(mc, "group", name, a);
    else if (sscanf(line, "rtt %d %d", &a, &b) == 2)
        e = rd_kafka_mock_broker_set_rtt(mc, a, b);
    else if (sscanf(line, "errors %d %d %d %d", &id, &a, &b, &c) == 4 && b > 0 && b <= 1000)
        e = push_errors(mc, id, (int16_t)a, b, (rd_kafka_resp_err_t)c);
    else {
        fprintf(stderr, "mock_cluster: not understood: %s\n", line);
        return -1;
    }
    fprintf(stderr, "mock_cluster: %s %s\n", e ? rd_kafka_err2str(e) : "ok", line);
    return e ? -1 : 0;
}

/* reads whatever complete lines the control pipe holds; BUF keeps a partial line */
static void poll_control(rd_kafka_mock_cluster_t *mc, int fd, char *buf, size_t cap, size_t *len)
{
    ssize_t got = read(fd, buf + *len, cap - 1 - *len);
    if (got <= 0)
        return;
    *len += (size_t)got;
    buf[*len] = '\0';
    char *start = buf, *nl;
    while ((nl = strchr(start, '\n'))) {
        *nl = '\0';
        if (*start)
            control(mc, start);
        start = nl + 1;
    }
    *len = strlen(start);
    memmove(buf, start, *len + 1);
    if (*len == cap - 1)
        *len = 0; /* a line longer than the buffer: dropped */
}

int main(int argc, char **argv)
{
    int brokers = 1, partitions = 1, opt;
    const char *fifo = NULL;
    while ((opt = getopt(argc, argv, "b:p:c:h")) != -1) {
        switch (opt) {
        case 'b':
            brokers = atoi(optarg);
            break;
        case 'p':
            partitions = atoi(optarg);
            break;
        case 'c':
            fifo = optarg;
            break;
        default:
            fprintf(stderr, "usage: %s [-b BROKERS] [-p PARTITIONS] [-c FIFO] [TOPIC ...]\n",
                    argv[0]);
            return opt == 'h' ? 0 : 2;
        }
    }
    if (brokers < 1 || partitions < 1) {
        fprintf(stderr, "mock_cluster: -b and -p must be positive\n");
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    char es[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", es, sizeof es); /* no "no bootstrap" warning */
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, es, sizeof es);
    if (!rk) {
        fprintf(stderr, "mock_cluster: %s\n", es);
        return 1;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
    if (!mc) {
        fprintf(stderr, "mock_cluster: could not start the mock cluster\n");
        rd_kafka_destroy(rk);
        return 1;
    }
    int rf = brokers < 3 ? brokers : 3;
    for (int i = optind; i < argc; i++) {
        char *colon = strchr(argv[i], ':');
        int np = colon ? atoi(colon + 1) : partitions;
        if (colon)
            *colon = '\0';
        rd_kafka_resp_err_t e = np < 1 ? RD_KAFKA_RESP_ERR__INVALID_ARG
                                       : rd_kafka_mock_topic_create(mc, argv[i], np, rf);
        if (e) {
            fprintf(stderr, "mock_cluster: topic %s: %s\n", argv[i], rd_kafka_err2str(e));
            rd_kafka_mock_cluster_destroy(mc);
            rd_kafka_destroy(rk);
            return 1;
        }
    }
    /* O_RDWR: the pipe never reports end-of-file between two writers */
    int fd = -1;
    if (fifo && (fd = open(fifo, O_RDWR | O_NONBLOCK)) < 0) {
        perror(fifo);
        rd_kafka_mock_cluster_destroy(mc);
        rd_kafka_destroy(rk);
        return 1;
    }
    printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);
    char buf[4096];
    size_t len = 0;
    while (!stop) {
        if (fd >= 0)
            poll_control(mc, fd, buf, sizeof buf, &len);
        usleep(50000);
    }
    if (fd >= 0)
        close(fd);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
