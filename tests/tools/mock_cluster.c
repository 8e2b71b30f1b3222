/* mock_cluster.c — runs librdkafka's built-in mock Kafka cluster (rdkafka_mock.h) on
 * 127.0.0.1 for script tests: prints the bootstrap servers as one line on stdout, creates
 * the topics named on the command line, and serves until SIGTERM or SIGINT.
 *
 *   mock_cluster [-b BROKERS] [-p PARTITIONS] [TOPIC ...]
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
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

int main(int argc, char **argv)
{
    int brokers = 1, partitions = 1, opt;
    while ((opt = getopt(argc, argv, "b:p:h")) != -1) {
        switch (opt) {
        case 'b':
            brokers = atoi(optarg);
            break;
        case 'p':
            partitions = atoi(optarg);
            break;
        default:
            fprintf(stderr, "usage: %s [-b BROKERS] [-p PARTITIONS] [TOPIC ...]\n", argv[0]);
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
        rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(mc, argv[i], partitions, rf);
        if (e) {
            fprintf(stderr, "mock_cluster: topic %s: %s\n", argv[i], rd_kafka_err2str(e));
            rd_kafka_mock_cluster_destroy(mc);
            rd_kafka_destroy(rk);
            return 1;
        }
    }
    printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);
    while (!stop)
        usleep(50000);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
