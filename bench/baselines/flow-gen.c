/*
 * flow-gen: the generator of `netshard bench` (src/workers/perf): a bounded UDP flood whose every datagram
 * carries the CLOCK_MONOTONIC time it was handed to the kernel, so the sink can tell its latency.
 *
 *   flow-gen DST_IPV4 DST_PORT PAYLOAD_BYTES COUNT FLOWS SECONDS [RATE]
 *
 * Opens FLOWS UDP sockets, each connected to DST_IPV4:DST_PORT from its own source port (one flow each),
 * and sends COUNT datagrams of PAYLOAD_BYTES (>= 12) in total with sendmmsg, batches of BATCH, round-robin
 * over the sockets, stopping early after SECONDS. RATE (datagrams per second, default 0: as fast as it
 * can) paces it: batches of RATE/1000 (1..BATCH) datagrams, each sent at its due time (clock_nanosleep on an
 * absolute CLOCK_MONOTONIC deadline), so latency can be measured below saturation. Payload: bytes 0..7 the send time in ns (CLOCK_MONOTONIC,
 * host byte order: sink and generator share the machine), bytes 8..11 the MAGIC word, the rest 0xa5. The
 * time is written once per batch just before its sendmmsg, so a datagram late in a batch counts the
 * kernel's time to send the ones before it (at most BATCH - 1 datagrams' worth).
 * Prints "ready", then, when done, one JSON line {"sent":N,"seconds":S,"errors":E}.
 * Refuses any destination outside 198.18.0.0/15; bounded in packets and seconds (run it only in a test netns).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define MAX_FLOWS 4096
#define MAGIC 0x6e736862u /* "nshb" */

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc < 7) {
    fprintf(stderr, "usage: %s DST_IPV4 DST_PORT PAYLOAD_BYTES COUNT FLOWS SECONDS\n", argv[0]);
    return 2;
  }
  struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
  if (inet_pton(AF_INET, argv[1], &dst.sin_addr) != 1) { fprintf(stderr, "bad address %s\n", argv[1]); return 2; }
  if ((ntohl(dst.sin_addr.s_addr) & 0xfffe0000u) != 0xc6120000u) { fprintf(stderr, "%s is not in 198.18.0.0/15\n", argv[1]); return 2; }
  int payload = atoi(argv[3]);
  long count = atol(argv[4]);
  int flows = atoi(argv[5]);
  double seconds = atof(argv[6]);
  double rate = argc > 7 ? atof(argv[7]) : 0;
  if (payload < 12 || payload > 9000 || count < 1 || flows < 1 || flows > MAX_FLOWS || seconds <= 0 || seconds > 600 || rate < 0 || rate > 1e8) {
    fprintf(stderr, "argument out of range\n");
    return 2;
  }
  static int fds[MAX_FLOWS];
  for (int i = 0; i < flows; i++) {
    fds[i] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int sndbuf = 1 << 20;
    if (fds[i] >= 0) setsockopt(fds[i], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&dst, sizeof dst) < 0) { perror("socket/connect"); return 1; }
  }
  static unsigned char buf[9000];
  memset(buf, 0xa5, sizeof buf);
  uint32_t magic = MAGIC;
  memcpy(buf + 8, &magic, 4);
  struct iovec iov[BATCH];
  struct mmsghdr msgs[BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) {
    iov[i].iov_base = buf;
    iov[i].iov_len = payload;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  printf("ready\n");
  fflush(stdout);
  uint64_t start = now_ns(), deadline = start + (uint64_t)(seconds * 1e9);
  long sent = 0, errors = 0;
  int flow = 0;
  int paced_batch = rate <= 0 ? BATCH : rate / 1000 < 1 ? 1 : rate / 1000 > BATCH ? BATCH : (int)(rate / 1000);
  long attempted = 0;
  for (;;) {
    if (sent >= count) break;
    if (rate > 0) {
      /* The next batch is due when `attempted` datagrams would have gone at RATE. */
      uint64_t due = start + (uint64_t)(attempted / rate * 1e9);
      if (due >= deadline) break;
      struct timespec ts = {.tv_sec = (time_t)(due / 1000000000u), .tv_nsec = (long)(due % 1000000000u)};
      while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {}
    }
    uint64_t t = now_ns();
    if (t >= deadline) break;
    memcpy(buf, &t, 8);
    int want = count - sent < paced_batch ? (int)(count - sent) : paced_batch;
    attempted += want;
    int n = sendmmsg(fds[flow], msgs, want, 0);
    if (n < 0) {
      if (errno != ENOBUFS && errno != EAGAIN && errno != EINTR && errno != ECONNREFUSED) { perror("sendmmsg"); return 1; }
      errors++;
      n = 0;
    }
    sent += n;
    flow = flow + 1 == flows ? 0 : flow + 1;
  }
  printf("{\"sent\":%ld,\"seconds\":%.6f,\"errors\":%ld}\n", sent, (now_ns() - start) / 1e9, errors);
  return 0;
}
