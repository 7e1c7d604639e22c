/*
 * packet-recv: the C baseline for bench/veth-receive.ts, an AF_PACKET receiver in three modes.
 *
 *   packet-recv [-b BATCH] [-r RCVBUF] [-n RING_FRAMES] [-w] IFNAME MODE FRAME_BYTES COUNT [IDLE_MS] [SECONDS]
 *     MODE: recv      one recv() per frame (what netshard's readv dispatcher does per syscall), up to
 *                     BATCH frames per turn of the loop
 *           recvmmsg  recvmmsg() batches of BATCH frames, each into its own 2 KiB slot
 *           mmap      PACKET_RX_RING, TPACKET_V2, 2 KiB slots in 64 KiB blocks as src/fdbased/dispatch-mmap.ts,
 *                     up to BATCH slots copied and handed back per turn
 *     -b BATCH        frames per call (recvmmsg) or per turn (recv, mmap), 1..1024; default 32
 *     -r RCVBUF       SO_RCVBUFFORCE in bytes (the kernel doubles it); default 4 MiB, as netshard's opener
 *     -n RING_FRAMES  mmap ring slots, rounded up to a multiple of 32 (one block); default 1024 (2 MiB,
 *                     DEFAULT_RING_BYTES of dispatch-mmap.ts), at most 65536
 *     -w              after "ready", wait for a line on stdin before receiving: the bench fills the socket
 *                     (or ring) first and then times only the drain ("queued" phase)
 *
 * Binds socket(AF_PACKET, SOCK_RAW, ETH_P_ALL) to IFNAME, prints "ready" on a line of its own, then
 * counts frames of exactly FRAME_BYTES (other frames are noise) until COUNT arrived, or no frame came
 * for IDLE_MS (default 300) after the first, or SECONDS (default 10) passed. Each received frame is
 * copied once into a 2 KiB buffer, as netshard copies into its pool. Prints one JSON line:
 * {"received":N,"seconds":S,"pps":P,"drops":D} where S runs from the first to the last counted frame
 * and D is the kernel's PACKET_STATISTICS drop count since the socket was opened. S starts before the
 * call that returned the first frame and ends after the one that returned the last. Run it only inside
 * a test netns.
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

#define MAX_BATCH 1024
#define FRAME_SIZE 2048
#define BLOCK_SIZE 65536
#define FRAMES_PER_BLOCK (BLOCK_SIZE / FRAME_SIZE)
#define MAX_RING_FRAMES 65536 /* the mmap dispatcher's limit too */

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static char pool[MAX_BATCH][FRAME_SIZE];
static struct iovec iov[MAX_BATCH];
static struct mmsghdr msgs[MAX_BATCH];
static volatile char sink;

static int usage(const char *self) {
  fprintf(stderr, "usage: %s [-b BATCH] [-r RCVBUF] [-n RING_FRAMES] [-w] IFNAME recv|recvmmsg|mmap FRAME_BYTES COUNT [IDLE_MS] [SECONDS]\n", self);
  return 2;
}

int main(int argc, char **argv) {
  int batch = 32;
  long rcvbuf_arg = 4 << 20;
  long ring_frames = 1024;
  int wait_go = 0;
  for (int opt; (opt = getopt(argc, argv, "b:r:n:w")) != -1;) {
    if (opt == 'b') batch = atoi(optarg);
    else if (opt == 'r') rcvbuf_arg = atol(optarg);
    else if (opt == 'n') ring_frames = atol(optarg);
    else if (opt == 'w') wait_go = 1;
    else return usage(argv[0]);
  }
  if (argc - optind < 4) return usage(argv[0]);
  if (batch < 1 || batch > MAX_BATCH || rcvbuf_arg < 0 || rcvbuf_arg > 0x7fffffff || ring_frames < 1 || ring_frames > MAX_RING_FRAMES) {
    fprintf(stderr, "argument out of range\n");
    return 2;
  }
  char **arg = argv + optind;
  const char *mode = arg[1];
  unsigned frame_bytes = atoi(arg[2]);
  long count = atol(arg[3]);
  int idle_ms = argc - optind > 4 ? atoi(arg[4]) : 300;
  double seconds = argc - optind > 5 ? atof(arg[5]) : 10;
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
  if (fd < 0) { perror("socket"); return 1; }
  struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = if_nametoindex(arg[0])};
  if (sll.sll_ifindex == 0 || bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) { perror("bind"); return 1; }
  int rcvbuf = (int)rcvbuf_arg;
  if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0) { perror("SO_RCVBUFFORCE"); return 1; }

  unsigned char *ring = NULL;
  unsigned frame_nr = (unsigned)(ring_frames + FRAMES_PER_BLOCK - 1) / FRAMES_PER_BLOCK * FRAMES_PER_BLOCK;
  size_t ring_bytes = (size_t)frame_nr * FRAME_SIZE;
  int is_mmap = strcmp(mode, "mmap") == 0;
  if (is_mmap) {
    int version = TPACKET_V2;
    struct tpacket_req req = {.tp_block_size = BLOCK_SIZE, .tp_block_nr = frame_nr / FRAMES_PER_BLOCK,
                              .tp_frame_size = FRAME_SIZE, .tp_frame_nr = frame_nr};
    if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &version, sizeof version) < 0 ||
        setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) < 0) { perror("PACKET_RX_RING"); return 1; }
    ring = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (ring == MAP_FAILED) { perror("mmap"); return 1; }
    /* Fault the ring in by writing, as dispatch-mmap.ts does (an atomic add of 0 keeps every value). */
    for (size_t i = 0; i < ring_bytes; i += 4096) __atomic_fetch_add((unsigned *)(ring + i), 0, __ATOMIC_RELAXED);
  } else if (strcmp(mode, "recv") != 0 && strcmp(mode, "recvmmsg") != 0) {
    fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
  }
  for (int i = 0; i < batch; i++) {
    iov[i].iov_base = pool[i];
    iov[i].iov_len = FRAME_SIZE;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  printf("ready\n");
  fflush(stdout);
  if (wait_go) {
    char line[64];
    if (fgets(line, sizeof line, stdin) == NULL) { fprintf(stderr, "packet-recv: stdin closed before the go line\n"); return 1; }
  }

  long received = 0;
  double first = 0, last = 0, deadline = now() + seconds;
  unsigned slot = 0;
  struct pollfd pfd = {.fd = fd, .events = POLLIN};
  while (received < count) {
    int got = 0;
    double before = now(); /* a batch is timed from before the call that found it, as in veth-receive.ts */
    if (is_mmap) {
      /* Slots in block order: FRAME_SIZE divides BLOCK_SIZE, so slot s is at s * FRAME_SIZE. */
      for (int i = 0; i < batch; i++) {
        struct tpacket2_hdr *h = (struct tpacket2_hdr *)(ring + (size_t)slot * FRAME_SIZE);
        if (!(__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER)) break;
        memcpy(pool[0], (unsigned char *)h + h->tp_mac, h->tp_snaplen);
        if (h->tp_len == frame_bytes) got++;
        __atomic_store_n(&h->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
        slot = (slot + 1) % frame_nr;
      }
    } else if (mode[4] == 'm') {
      int n = recvmmsg(fd, msgs, batch, MSG_DONTWAIT, NULL);
      for (int i = 0; i < n; i++) got += msgs[i].msg_len == frame_bytes;
    } else {
      for (int i = 0; i < batch; i++) {
        ssize_t n = recv(fd, pool[0], FRAME_SIZE, MSG_DONTWAIT);
        if (n < 0) break;
        got += (size_t)n == frame_bytes;
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
