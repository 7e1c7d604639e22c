/*
 * recv-baseline: the sender and the C receiver baseline of bench/fdbased-receive.ts, over an AF_UNIX
 * socket inherited as fd 3 (one end of a SOCK_DGRAM socketpair the bench made).
 *
 *   recv-baseline send  COUNT BYTES [fill]   sends COUNT datagrams of BYTES bytes with sendmmsg batches
 *                                            of 64, blocking when the socket is full (no loss). With
 *                                            "fill": non-blocking, stops at the first EAGAIN. Prints
 *                                            {"sent":N}.
 *   recv-baseline recv  COUNT BATCH FRAME    receives COUNT datagrams with non-blocking recvmmsg of BATCH
 *                                            (BATCH 1: recv), each into its own FRAME-byte slot of a
 *                                            buffer, sleeping in poll() on EAGAIN, as netshard's recvmmsg
 *                                            dispatcher does. Prints one line
 *                                            {"received":N,"seconds":S,"pps":P} where S runs from just
 *                                            before the call that returned the first datagram to just
 *                                            after the one that returned the last. Gives up after 5 s
 *                                            without data.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FD 3
#define MAX_BATCH 1024

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int do_send(long count, int bytes, int fill) {
  static char data[65536];
  struct mmsghdr msgs[64];
  struct iovec iovs[64];
  memset(data, 0x5a, sizeof data);
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < 64; i++) {
    iovs[i].iov_base = data;
    iovs[i].iov_len = (size_t)bytes;
    msgs[i].msg_hdr.msg_iov = &iovs[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  long sent = 0;
  while (sent < count) {
    unsigned n = count - sent < 64 ? (unsigned)(count - sent) : 64;
    int r = sendmmsg(FD, msgs, n, fill ? MSG_DONTWAIT : 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (fill && errno == EAGAIN) break;
      perror("sendmmsg");
      return 1;
    }
    sent += r;
  }
  printf("{\"sent\":%ld}\n", sent);
  return 0;
}

static int do_recv(long count, int batch, int frame) {
  if (batch < 1 || batch > MAX_BATCH) return 2;
  char *frames = malloc((size_t)batch * (size_t)frame);
  static struct mmsghdr msgs[MAX_BATCH];
  static struct iovec iovs[MAX_BATCH];
  for (int i = 0; i < batch; i++) {
    iovs[i].iov_base = frames + (size_t)i * (size_t)frame;
    iovs[i].iov_len = (size_t)frame;
    msgs[i].msg_hdr.msg_iov = &iovs[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  struct pollfd pfd = { .fd = FD, .events = POLLIN };
  long received = 0;
  double first = 0, last = 0;
  while (received < count) {
    double before = now();
    int r;
    if (batch == 1) {
      ssize_t n = recv(FD, frames, (size_t)frame, MSG_DONTWAIT);
      r = n < 0 ? -1 : 1;
    } else {
      r = recvmmsg(FD, msgs, (unsigned)batch, MSG_DONTWAIT, NULL);
    }
    if (r < 0) {
      if (errno == EAGAIN || errno == EINTR) {
        int p = poll(&pfd, 1, 5000);
        if (p == 0) break; /* the sender is gone */
        continue;
      }
      perror("recv");
      return 1;
    }
    if (received == 0) first = before;
    received += r;
    last = now();
  }
  double seconds = last - first;
  printf("{\"received\":%ld,\"seconds\":%.9f,\"pps\":%.1f}\n", received, seconds, seconds > 0 ? (double)received / seconds : 0.0);
  free(frames);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 4 && strcmp(argv[1], "send") == 0) return do_send(atol(argv[2]), atoi(argv[3]), argc >= 5 && strcmp(argv[4], "fill") == 0);
  if (argc >= 5 && strcmp(argv[1], "recv") == 0) return do_recv(atol(argv[2]), atoi(argv[3]), atoi(argv[4]));
  fprintf(stderr, "usage: recv-baseline send COUNT BYTES [fill] | recv COUNT BATCH FRAME\n");
  return 2;
}
