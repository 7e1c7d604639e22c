/*
 * udp-flood: a bounded UDP sender for netshard's benches; the kernel generates the frames.
 *
 *   udp-flood DST_IPV4 DST_PORT PAYLOAD_BYTES COUNT FLOWS [SECONDS]
 *
 * Opens FLOWS UDP sockets, each connected to DST_IPV4:DST_PORT from its own source port, and sends
 * COUNT datagrams of PAYLOAD_BYTES in total with sendmmsg (batches of 64), round-robin over the
 * sockets, then prints one JSON line {"sent":N,"seconds":S}. Stops early after SECONDS (default 10).
 * Bounded in packets and seconds (netshard's network safety rules); run it only inside a test netns
 * towards an address from 198.18.0.0/15.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define MAX_FLOWS 1024

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: %s DST_IPV4 DST_PORT PAYLOAD_BYTES COUNT FLOWS [SECONDS]\n", argv[0]);
    return 2;
  }
  struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
  if (inet_pton(AF_INET, argv[1], &dst.sin_addr) != 1) { fprintf(stderr, "bad address %s\n", argv[1]); return 2; }
  /* Refuse anything outside the benchmarking range 198.18.0.0/15. */
  if ((ntohl(dst.sin_addr.s_addr) & 0xfffe0000u) != 0xc6120000u) { fprintf(stderr, "%s is not in 198.18.0.0/15\n", argv[1]); return 2; }
  int payload = atoi(argv[3]);
  long count = atol(argv[4]);
  int flows = atoi(argv[5]);
  double seconds = argc > 6 ? atof(argv[6]) : 10;
  if (payload < 1 || payload > 9000 || count < 1 || flows < 1 || flows > MAX_FLOWS || seconds <= 0) { fprintf(stderr, "argument out of range\n"); return 2; }

  static int fds[MAX_FLOWS];
  for (int i = 0; i < flows; i++) {
    fds[i] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&dst, sizeof dst) < 0) { perror("socket/connect"); return 1; }
  }
  static char buf[9000];
  memset(buf, 0xa5, sizeof buf);
  struct iovec iov[BATCH];
  struct mmsghdr msgs[BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) {
    iov[i].iov_base = buf;
    iov[i].iov_len = payload;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  double start = now(), deadline = start + seconds;
  long sent = 0;
  int flow = 0;
  for (unsigned long round = 0; sent < count; round++) {
    int want = count - sent < BATCH ? (int)(count - sent) : BATCH;
    int n = sendmmsg(fds[flow], msgs, want, 0);
    if (n < 0) {
      if (errno != ENOBUFS && errno != EAGAIN && errno != EINTR && errno != ECONNREFUSED) { perror("sendmmsg"); return 1; }
      n = 0;
    }
    sent += n;
    flow = (flow + 1) % flows;
    if ((round & 255) == 0 && now() > deadline) break;
  }
  printf("{\"sent\":%ld,\"seconds\":%.6f}\n", sent, now() - start);
  return 0;
}
