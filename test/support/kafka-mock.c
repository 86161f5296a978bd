/* A librdkafka mock cluster (3 brokers) for tests: prints its bootstrap servers, then serves until
 * stdin closes or SIGTERM. Lines `topic <name> <partitions>` on stdin create a topic ("ok" back). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

/* Brokers set TCP_NODELAY on their connections (Kafka's socket server does); the mock cluster does
 * not, so small responses wait for Nagle and delayed ACKs (~40 ms). The launcher is linked with
 * -rdynamic, so librdkafka's accept() calls land here. */
int accept(int fd, struct sockaddr *addr, socklen_t *len) {
  static int (*real_accept)(int, struct sockaddr *, socklen_t *);
  if (!real_accept) real_accept = (int (*)(int, struct sockaddr *, socklen_t *))dlsym(RTLD_NEXT, "accept");
  int s = real_accept(fd, addr, len);
  if (s >= 0) {
    int one = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  return s;
}

int main(void) {
  char err[512], line[512], name[256];
  int partitions;
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  if (!rk) { fprintf(stderr, "rd_kafka_new: %s\n", err); return 1; }
  rd_kafka_mock_cluster_t *mcluster = rd_kafka_mock_cluster_new(rk, 3);
  if (!mcluster) { fprintf(stderr, "rd_kafka_mock_cluster_new failed\n"); return 1; }
  signal(SIGPIPE, SIG_IGN);
  printf("%s\n", rd_kafka_mock_cluster_bootstraps(mcluster));
  fflush(stdout);
  while (fgets(line, sizeof(line), stdin)) {
    if (sscanf(line, "topic %255s %d", name, &partitions) == 2) {
      rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(mcluster, name, partitions, 1);
      printf(e ? "error %s\n" : "ok\n", rd_kafka_err2str(e));
      fflush(stdout);
    }
  }
  rd_kafka_mock_cluster_destroy(mcluster);
  rd_kafka_destroy(rk);
  return 0;
}
