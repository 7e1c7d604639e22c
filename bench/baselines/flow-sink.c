/*
 * flow-sink: the counting end of `netshard bench` (src/workers/perf): receives what flow-gen.c sent through
 * the forwarder under test and measures each datagram's latency from the send time it carries.
 *
 *   flow-sink BIND_IPV4 PORT SECONDS SAMPLES_FILE MAX_SAMPLES
 *
 * Binds a UDP socket to BIND_IPV4:PORT (198.18.0.0/15 only), prints "ready", then receives with recvmmsg
 * (batches of BATCH) until SECONDS passed or stdin closes or says "stop" (then drains what is queued).
 * Latency of a datagram = CLOCK_MONOTONIC read once after the recvmmsg that returned it minus the send time
 * in its first 8 bytes (flow-gen.c's layout, checked by the MAGIC word at bytes 8..11; others count as
 * badMagic). A uniform sample of at most MAX_SAMPLES latencies (reservoir sampling, Vitter's algorithm R,
 * xorshift64 with a fixed seed) is written to SAMPLES_FILE as little-endian uint32 nanoseconds (clamped at
 * 2^32 - 1) when it ends. Prints one JSON line:
 *   {"received":N,"bytes":B,"seconds":S,"timed":T,"badMagic":M,"samples":K,"rcvbufErrors":R,"inCsumErrors":C,
 *    "ipInHdrErrors":H}
 * S runs from the first to the last datagram; the error counts are /proc/self/net/snmp deltas of this
 * namespace (RcvbufErrors: the sink itself overflowed; InCsumErrors / InHdrErrors: a forwarder broke a
 * checksum). Run it only inside a test netns, as the namespace's only UDP receiver.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define BUF_SIZE 2048
#define MAGIC 0x6e736862u

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Counter `name` of protocol line `proto` ("Udp:", "Ip:") in /proc/self/net/snmp; -1 when absent. */
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

static unsigned char bufs[BATCH][BUF_SIZE];
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t xorshift64(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: %s BIND_IPV4 PORT SECONDS SAMPLES_FILE MAX_SAMPLES\n", argv[0]);
    return 2;
  }
  int port = atoi(argv[2]);
  double seconds = atof(argv[3]);
  long max_samples = atol(argv[5]);
  if (port < 1 || port > 65535 || seconds <= 0 || seconds > 3600 || max_samples < 1 || max_samples > (1L << 26)) {
    fprintf(stderr, "argument out of range\n");
    return 2;
  }
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
  if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1) { fprintf(stderr, "bad address %s\n", argv[1]); return 2; }
  if ((ntohl(addr.sin_addr.s_addr) & 0xfffe0000u) != 0xc6120000u) { fprintf(stderr, "%s is not in 198.18.0.0/15\n", argv[1]); return 2; }
  uint32_t *samples = malloc((size_t)max_samples * sizeof *samples);
  FILE *out = fopen(argv[4], "wb");
  if (!samples || !out) { perror("samples"); return 1; }
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) { perror("socket"); return 1; }
  int rcvbuf = 8 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) { perror("bind"); return 1; }

  struct iovec iov[BATCH];
  struct mmsghdr msgs[BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) {
    iov[i].iov_base = bufs[i];
    iov[i].iov_len = BUF_SIZE;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  long long rcvbuf0 = snmp("Udp:", "RcvbufErrors"), csum0 = snmp("Udp:", "InCsumErrors"), hdr0 = snmp("Ip:", "InHdrErrors");
  printf("ready\n");
  fflush(stdout);

  long long received = 0, bytes = 0, timed = 0, bad_magic = 0, kept = 0;
  uint64_t first = 0, last = 0, deadline = now_ns() + (uint64_t)(seconds * 1e9);
  int stopping = 0, stdin_open = 1;
  struct pollfd pfd[2] = {{.fd = fd, .events = POLLIN}, {.fd = 0, .events = POLLIN}};
  for (;;) {
    int n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
    if (n > 0) {
      uint64_t t = now_ns();
      if (received == 0) first = t;
      last = t;
      received += n;
      for (int i = 0; i < n; i++) {
        bytes += msgs[i].msg_len;
        uint64_t sent_at;
        uint32_t magic;
        if (msgs[i].msg_len < 12) { bad_magic++; continue; }
        memcpy(&sent_at, bufs[i], 8);
        memcpy(&magic, bufs[i] + 8, 4);
        if (magic != MAGIC || sent_at > t) { bad_magic++; continue; }
        uint64_t d = t - sent_at;
        uint32_t v = d > 0xffffffffull ? 0xffffffffu : (uint32_t)d;
        if (timed < max_samples) samples[kept++] = v;
        else {
          uint64_t j = xorshift64() % (uint64_t)(timed + 1);
          if (j < (uint64_t)max_samples) samples[j] = v;
        }
        timed++;
      }
      if (n == BATCH && t < deadline) continue;
    } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
      perror("recvmmsg");
      return 1;
    }
    if (stopping) {
      if (n <= 0) break;
      continue;
    }
    uint64_t t = now_ns();
    if (t >= deadline) break;
    int timeout = (int)((deadline - t) / 1000000) + 1;
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
  /* Little-endian on every machine this runs on (x86-64, arm64); the JS side reads it as such. */
  if (fwrite(samples, sizeof *samples, (size_t)kept, out) != (size_t)kept || fclose(out) != 0) { perror("write samples"); return 1; }
  double span = (last - first) / 1e9;
  printf("{\"received\":%lld,\"bytes\":%lld,\"seconds\":%.6f,\"timed\":%lld,\"badMagic\":%lld,\"samples\":%lld,\"rcvbufErrors\":%lld,"
         "\"inCsumErrors\":%lld,\"ipInHdrErrors\":%lld}\n",
         received, bytes, span, timed, bad_magic, kept, snmp("Udp:", "RcvbufErrors") - rcvbuf0, snmp("Udp:", "InCsumErrors") - csum0,
         snmp("Ip:", "InHdrErrors") - hdr0);
  return 0;
}
