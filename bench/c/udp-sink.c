/*
 * udp-sink: the counting end of netshard's forwarding benches (bench/forward.ts); the kernel receives.
 *
 *   udp-sink BIND_ADDRESS PORT SECONDS
 *
 * Binds a UDP socket to BIND_ADDRESS:PORT (IPv4 or IPv6; only 198.18.0.0/15 and 2001:2::/48 are accepted),
 * prints "ready" on a line of its own, then receives with recvmmsg (batches of BATCH) and counts datagrams
 * and bytes until SECONDS passed or its stdin closes or says "stop" (it then drains what is already queued).
 * Prints one JSON line:
 *   {"received":N,"bytes":B,"seconds":S,"pps":P,"rcvbufErrors":R,"inCsumErrors":C,"inErrors":E,"ipInHdrErrors":H}
 * S runs from the first to the last datagram; the error counts are the namespace's /proc/net/snmp deltas
 * over the run (UDP RcvbufErrors: this socket overflowed, the sink was the bottleneck; InCsumErrors and
 * Ip InHdrErrors: a forwarder broke a checksum). Run it only inside a test netns: the counters are the
 * namespace's, so the sink must be the namespace's only UDP receiver.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define BUF_SIZE 2048

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Reads counter `name` of protocol line `proto` ("Udp:", "Ip:") from this namespace's /proc/self/net/snmp;
 * -1 when absent. The file has a header line of names, then a line of values, per protocol. */
static long long snmp(const char *proto, const char *name) {
  FILE *f = fopen("/proc/self/net/snmp", "r");
  if (!f) return -1;
  char head[2048], vals[2048];
  long long result = -1;
  while (fgets(head, sizeof head, f) && fgets(vals, sizeof vals, f)) {
    if (strncmp(head, proto, strlen(proto)) != 0) continue;
    char *hs, *vs;
    char *h = strtok_r(head, " \n", &hs);
    char *v = strtok_r(vals, " \n", &vs);
    while (h && v) {
      if (strcmp(h, name) == 0) { result = atoll(v); break; }
      h = strtok_r(NULL, " \n", &hs);
      v = strtok_r(NULL, " \n", &vs);
    }
    break;
  }
  fclose(f);
  return result;
}

static char bufs[BATCH][BUF_SIZE];

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s BIND_ADDRESS PORT SECONDS\n", argv[0]);
    return 2;
  }
  int port = atoi(argv[2]);
  double seconds = atof(argv[3]);
  if (port < 1 || port > 65535 || seconds <= 0 || seconds > 600) { fprintf(stderr, "argument out of range\n"); return 2; }
  struct sockaddr_storage addr;
  memset(&addr, 0, sizeof addr);
  socklen_t addrlen;
  int family;
  struct sockaddr_in *a4 = (struct sockaddr_in *)&addr;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&addr;
  if (inet_pton(AF_INET, argv[1], &a4->sin_addr) == 1) {
    /* Only the benchmarking range 198.18.0.0/15. */
    if ((ntohl(a4->sin_addr.s_addr) & 0xfffe0000u) != 0xc6120000u) { fprintf(stderr, "%s is not in 198.18.0.0/15\n", argv[1]); return 2; }
    family = AF_INET;
    a4->sin_family = AF_INET;
    a4->sin_port = htons(port);
    addrlen = sizeof *a4;
  } else if (inet_pton(AF_INET6, argv[1], &a6->sin6_addr) == 1) {
    /* Only the benchmarking range 2001:2::/48: 2001:0002:0000::. */
    const unsigned char *b = a6->sin6_addr.s6_addr;
    if (b[0] != 0x20 || b[1] != 0x01 || b[2] != 0x00 || b[3] != 0x02 || b[4] != 0 || b[5] != 0) { fprintf(stderr, "%s is not in 2001:2::/48\n", argv[1]); return 2; }
    family = AF_INET6;
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(port);
    addrlen = sizeof *a6;
  } else {
    fprintf(stderr, "bad address %s\n", argv[1]);
    return 2;
  }
  int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) { perror("socket"); return 1; }
  int rcvbuf = 8 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  if (bind(fd, (struct sockaddr *)&addr, addrlen) < 0) { perror("bind"); return 1; }

  struct iovec iov[BATCH];
  struct mmsghdr msgs[BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) {
    iov[i].iov_base = bufs[i];
    iov[i].iov_len = BUF_SIZE;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  long long rcvbuf0 = snmp("Udp:", "RcvbufErrors"), csum0 = snmp("Udp:", "InCsumErrors");
  long long inerr0 = snmp("Udp:", "InErrors"), hdr0 = snmp("Ip:", "InHdrErrors");
  printf("ready\n");
  fflush(stdout);

  long long received = 0, bytes = 0;
  double first = 0, last = 0, deadline = now() + seconds;
  int stopping = 0, stdin_open = 1;
  struct pollfd pfd[2] = {{.fd = fd, .events = POLLIN}, {.fd = 0, .events = POLLIN}};
  for (;;) {
    int n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
    if (n > 0) {
      double t = now();
      if (received == 0) first = t;
      last = t;
      received += n;
      for (int i = 0; i < n; i++) bytes += msgs[i].msg_len;
      if (n == BATCH && t < deadline) continue;
    } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
      perror("recvmmsg");
      return 1;
    }
    if (stopping) {
      if (n <= 0) break; /* drained */
      continue;
    }
    double t = now();
    if (t >= deadline) break;
    int timeout = (int)((deadline - t) * 1000) + 1;
    if (timeout > 100) timeout = 100;
    if (poll(pfd, stdin_open ? 2 : 1, timeout) < 0 && errno != EINTR) { perror("poll"); return 1; }
    if (stdin_open && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      char line[64];
      ssize_t r = read(0, line, sizeof line);
      if (r <= 0 || memmem(line, r, "stop", 4) != NULL) {
        stdin_open = 0;
        stopping = 1;
      }
    }
  }
  double span = last - first;
  printf("{\"received\":%lld,\"bytes\":%lld,\"seconds\":%.6f,\"pps\":%.0f,\"rcvbufErrors\":%lld,\"inCsumErrors\":%lld,\"inErrors\":%lld,\"ipInHdrErrors\":%lld}\n",
         received, bytes, span, span > 0 ? received / span : 0, snmp("Udp:", "RcvbufErrors") - rcvbuf0,
         snmp("Udp:", "InCsumErrors") - csum0, snmp("Udp:", "InErrors") - inerr0, snmp("Ip:", "InHdrErrors") - hdr0);
  return 0;
}
