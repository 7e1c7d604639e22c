/*
 * packet-recv: the C baseline for bench/veth-receive.ts, an AF_PACKET receiver in three modes.
 *
 *   packet-recv IFNAME MODE FRAME_BYTES COUNT [IDLE_MS] [SECONDS]
 *     MODE: recv      one recv() per frame (what netshard's readv dispatcher does per syscall)
 *           recvmmsg  recvmmsg() batches of BATCH frames
 *           mmap      PACKET_RX_RING, TPACKET_V2, same geometry as src/fdbased/dispatch-mmap.ts, BATCH slots per turn
 *
 * Binds socket(AF_PACKET, SOCK_RAW, ETH_P_ALL) to IFNAME, prints "ready" on a line of its own, then
 * counts frames of exactly FRAME_BYTES (other frames are noise) until COUNT arrived, or no frame came
 * for IDLE_MS (default 300) after the first, or SECONDS (default 10) passed. Each received frame is
 * copied once into a 2 KiB buffer, as netshard copies into its pool. Prints one JSON line:
 * {"received":N,"seconds":S,"pps":P,"drops":D} where S runs from the first to the last counted frame
 * and D is the kernel's PACKET_STATISTICS drop count. S starts before the call that returned the first
 * frame and ends after the one that returned the last. Run it only inside a test netns.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 32
#define FRAME_SIZE 2048
#define FRAME_NR 1024 /* 2 MiB, as DEFAULT_RING_BYTES in src/fdbased/dispatch-mmap.ts */
#define BLOCK_SIZE 65536

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static char pool[BATCH][FRAME_SIZE];
static volatile char sink;

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: %s IFNAME recv|recvmmsg|mmap FRAME_BYTES COUNT [IDLE_MS] [SECONDS]\n", argv[0]);
    return 2;
  }
  const char *mode = argv[2];
  unsigned frame_bytes = atoi(argv[3]);
  long count = atol(argv[4]);
  int idle_ms = argc > 5 ? atoi(argv[5]) : 300;
  double seconds = argc > 6 ? atof(argv[6]) : 10;
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
  if (fd < 0) { perror("socket"); return 1; }
  struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = if_nametoindex(argv[1])};
  if (sll.sll_ifindex == 0 || bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) { perror("bind"); return 1; }
  int rcvbuf = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);

  unsigned char *ring = NULL;
  int is_mmap = strcmp(mode, "mmap") == 0;
  if (is_mmap) {
    int version = TPACKET_V2;
    struct tpacket_req req = {.tp_block_size = BLOCK_SIZE, .tp_block_nr = FRAME_NR * FRAME_SIZE / BLOCK_SIZE,
                              .tp_frame_size = FRAME_SIZE, .tp_frame_nr = FRAME_NR};
    if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &version, sizeof version) < 0 ||
        setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) < 0) { perror("PACKET_RX_RING"); return 1; }
    ring = mmap(NULL, (size_t)FRAME_NR * FRAME_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (ring == MAP_FAILED) { perror("mmap"); return 1; }
    /* Fault the ring in by writing, as dispatch-mmap.ts does (an atomic add of 0 keeps every value). */
    for (size_t i = 0; i < (size_t)FRAME_NR * FRAME_SIZE; i += 4096) __atomic_fetch_add((unsigned *)(ring + i), 0, __ATOMIC_RELAXED);
  } else if (strcmp(mode, "recv") != 0 && strcmp(mode, "recvmmsg") != 0) {
    fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
  }
  struct iovec iov[BATCH];
  struct mmsghdr msgs[BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) {
    iov[i].iov_base = pool[i];
    iov[i].iov_len = FRAME_SIZE;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  printf("ready\n");
  fflush(stdout);

  long received = 0;
  double first = 0, last = 0, deadline = now() + seconds;
  unsigned slot = 0;
  struct pollfd pfd = {.fd = fd, .events = POLLIN};
  while (received < count) {
    int got = 0;
    double before = now(); /* a batch is timed from before the call that found it, as in veth-receive.ts */
    if (is_mmap) {
      for (int i = 0; i < BATCH; i++) {
        struct tpacket2_hdr *h = (struct tpacket2_hdr *)(ring + (size_t)slot * FRAME_SIZE);
        if (!(__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER)) break;
        memcpy(pool[0], (unsigned char *)h + h->tp_mac, h->tp_snaplen);
        if (h->tp_len == frame_bytes) got++;
        __atomic_store_n(&h->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
        slot = (slot + 1) % FRAME_NR;
      }
    } else if (mode[4] == 'm') {
      int n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
      for (int i = 0; i < n; i++) got += msgs[i].msg_len == frame_bytes;
    } else {
      for (;;) {
        ssize_t n = recv(fd, pool[0], FRAME_SIZE, MSG_DONTWAIT);
        if (n < 0) break;
        got += (size_t)n == frame_bytes;
        if (got >= BATCH) break;
      }
    }
    sink = pool[0][0];
    if (got > 0) {
      if (received == 0) first = before;
      last = now();
      received += got;
      continue;
    }
    double t = now();
    if (t > deadline || (received > 0 && (t - last) * 1000 > idle_ms)) break;
    poll(&pfd, 1, 50);
  }
  struct tpacket_stats st = {0};
  socklen_t len = sizeof st;
  getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &len);
  double span = last - first;
  printf("{\"received\":%ld,\"seconds\":%.6f,\"pps\":%.0f,\"drops\":%u}\n", received, span, span > 0 ? received / span : 0, st.tp_drops);
  return 0;
}
