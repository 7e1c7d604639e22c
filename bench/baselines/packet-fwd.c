/*
 * packet-fwd: the C forwarder `netshard bench` compares the engine with (src/workers/perf): the same L3
 * work netshard's forward path does, over AF_PACKET, in the engine's dispatch modes, so every engine figure
 * has a native yardstick with the same threads and the same way of reading the socket.
 *
 *   packet-fwd IN_IF OUT_IF DST_MAC SECONDS THREADS MODE BATCH
 *     THREADS  1..64; with more than one, the receive sockets share a PACKET_FANOUT_HASH group (as the
 *              engine's --workers N sockets do), one thread per socket
 *     MODE     readv:    recv() one frame at a time (non-blocking), up to BATCH per round, like the engine's
 *                        readv dispatcher (one syscall per frame)
 *              recvmmsg: recvmmsg() of up to BATCH frames
 *              mmap:     PACKET_RX_RING (TPACKET_V2, FRAME_NR slots of FRAME_SIZE), up to BATCH slots per round
 *     BATCH    1..1024: frames per round; the bench passes the engine's batch size
 *
 * Per frame, in place: keep only frames addressed to IN_IF's MAC carrying IPv4 (header validated,
 * checksum verified) or IPv6; drop TTL/hop limit <= 1; decrement the TTL with an incremental checksum update
 * (RFC 1624 eqn. 3); rewrite the MACs (destination DST_MAC, source OUT_IF's MAC). A round's frames go out
 * with sendmmsg on the thread's own send socket bound to OUT_IF (straight from the ring memory in mmap mode),
 * which has PACKET_QDISC_BYPASS set as `netshard forward`'s sockets do (no qdisc, no taps on transmit).
 * Sleeps in poll() when the socket is empty.
 *
 * Prints "ready" once every socket is bound, runs until SECONDS passed or stdin closes or says "stop", then
 * prints one JSON line: {"threads":T,"mode":"..","batch":B,"seconds":S,"received":R,"forwarded":F,
 * "txErrors":E,"ringDrops":D,"notForUs":..,"notIp":..,"badHeader":..,"ttlExpired":..,"perThread":[..]}
 * (ringDrops: the kernel's PACKET_STATISTICS drops, socket queue or ring full). Bounded in seconds; run it
 * only inside a test netns.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_BATCH 1024
#define FRAME_SIZE 2048   /* one 1514-byte frame plus the tpacket2 header fits */
#define FRAME_NR 1024     /* power of two: the slot index wraps with a mask */
#define BLOCK_SIZE 65536
#define MAX_THREADS 64

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif
#ifndef PACKET_QDISC_BYPASS
#define PACKET_QDISC_BYPASS 20
#endif

enum mode { MODE_READV, MODE_RECVMMSG, MODE_MMAP };

struct worker {
  int rx, tx;
  unsigned char *ring;
  unsigned char *bufs; /* readv / recvmmsg: BATCH buffers of FRAME_SIZE */
  pthread_t thread;
  /* Written only by the worker's thread; read by main after the join. */
  unsigned long long received, forwarded, tx_errors, not_for_us, not_ip, bad_header, ttl_expired;
} __attribute__((aligned(64)));

static struct worker workers[MAX_THREADS];
static unsigned char in_mac[6], out_mac[6], dst_mac[6];
static int stop_flag;
static enum mode mode;
static unsigned batch;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int mac_of(const char *ifname, unsigned char mac[6]) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
  int r = s < 0 ? -1 : ioctl(s, SIOCGIFHWADDR, &ifr);
  if (s >= 0) close(s);
  if (r < 0) return -1;
  memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
  return 0;
}

/* Ones' complement sum of `len` bytes (even), folded to 16 bits. */
static uint16_t csum_fold(const unsigned char *p, unsigned len) {
  uint32_t sum = 0;
  for (unsigned i = 0; i < len; i += 2) sum += (uint32_t)p[i] << 8 | p[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)sum;
}

/* Routes the frame in place; returns 1 to send it, 0 after counting why not. */
static int route(struct worker *w, unsigned char *f, unsigned len) {
  if (len < 14) { w->bad_header++; return 0; }
  if (memcmp(f, in_mac, 6) != 0) { w->not_for_us++; return 0; }
  unsigned type = (unsigned)f[12] << 8 | f[13];
  unsigned char *ip = f + 14;
  if (type == ETHERTYPE_IP) {
    if (len < 34 || ip[0] >> 4 != 4) { w->bad_header++; return 0; }
    unsigned ihl = (ip[0] & 15) * 4u, total = (unsigned)ip[2] << 8 | ip[3];
    if (ihl < 20 || total < ihl || 14 + total > len || csum_fold(ip, ihl) != 0xffff) { w->bad_header++; return 0; }
    if (ip[8] <= 1) { w->ttl_expired++; return 0; }
    /* TTL is the high byte of the 16-bit word at offset 8: HC' = ~(~HC + ~m + m') (RFC 1624). */
    uint32_t old_word = (uint32_t)ip[8] << 8 | ip[9];
    ip[8]--;
    uint32_t new_word = (uint32_t)ip[8] << 8 | ip[9];
    uint32_t sum = (~((uint32_t)ip[10] << 8 | ip[11]) & 0xffff) + (~old_word & 0xffff) + new_word;
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    uint16_t hc = ~sum & 0xffff;
    ip[10] = hc >> 8;
    ip[11] = hc & 0xff;
  } else if (type == ETHERTYPE_IPV6) {
    if (len < 54 || ip[0] >> 4 != 6 || 54 + ((unsigned)ip[4] << 8 | ip[5]) > len) { w->bad_header++; return 0; }
    if (ip[7] <= 1) { w->ttl_expired++; return 0; }
    ip[7]--;
  } else {
    w->not_ip++;
    return 0;
  }
  memcpy(f, dst_mac, 6);
  memcpy(f + 6, out_mac, 6);
  return 1;
}

/* Sends iov[0..k) with sendmmsg, continuing after partial sends; a failing frame is counted and skipped. */
static void send_all(struct worker *w, struct mmsghdr *msgs, unsigned k) {
  for (unsigned i = 0; i < k;) {
    int r = sendmmsg(w->tx, msgs + i, k - i, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      w->tx_errors++; /* ENOBUFS and friends: this frame is lost, go on with the next */
      i++;
    } else {
      w->forwarded += r;
      i += r;
    }
  }
}

static void *run(void *arg) {
  struct worker *w = arg;
  static __thread struct iovec iov[MAX_BATCH], rx_iov[MAX_BATCH];
  static __thread struct mmsghdr msgs[MAX_BATCH], rx_msgs[MAX_BATCH];
  memset(msgs, 0, sizeof msgs);
  memset(rx_msgs, 0, sizeof rx_msgs);
  for (unsigned i = 0; i < batch; i++) {
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    if (w->bufs != NULL) {
      rx_iov[i].iov_base = w->bufs + (size_t)i * FRAME_SIZE;
      rx_iov[i].iov_len = FRAME_SIZE;
      rx_msgs[i].msg_hdr.msg_iov = &rx_iov[i];
      rx_msgs[i].msg_hdr.msg_iovlen = 1;
    }
  }
  struct pollfd pfd = {.fd = w->rx, .events = POLLIN};
  unsigned slot = 0;
  while (!__atomic_load_n(&stop_flag, __ATOMIC_RELAXED)) {
    unsigned n = 0, k = 0;
    if (mode == MODE_MMAP) {
      unsigned first = slot;
      while (n < batch) {
        struct tpacket2_hdr *h = (struct tpacket2_hdr *)(w->ring + (size_t)slot * FRAME_SIZE);
        unsigned status = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
        if (!(status & TP_STATUS_USER)) break;
        unsigned char *f = (unsigned char *)h + h->tp_mac;
        if (h->tp_snaplen != h->tp_len) w->bad_header++; /* truncated by the ring: never with 2 KiB slots */
        else if (route(w, f, h->tp_snaplen)) {
          iov[k].iov_base = f;
          iov[k].iov_len = h->tp_snaplen;
          k++;
        }
        n++;
        slot = (slot + 1) & (FRAME_NR - 1);
      }
      if (n > 0) {
        w->received += n;
        send_all(w, msgs, k);
        for (unsigned j = 0; j < n; j++) {
          struct tpacket2_hdr *h = (struct tpacket2_hdr *)(w->ring + (size_t)((first + j) & (FRAME_NR - 1)) * FRAME_SIZE);
          __atomic_store_n(&h->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
        }
      }
    } else if (mode == MODE_RECVMMSG) {
      int r = recvmmsg(w->rx, rx_msgs, batch, MSG_DONTWAIT, NULL);
      if (r > 0) {
        n = (unsigned)r;
        for (unsigned j = 0; j < n; j++) {
          unsigned char *f = rx_iov[j].iov_base;
          if (route(w, f, rx_msgs[j].msg_len)) {
            iov[k].iov_base = f;
            iov[k].iov_len = rx_msgs[j].msg_len;
            k++;
          }
        }
      }
    } else {
      while (n < batch) {
        unsigned char *f = w->bufs + (size_t)n * FRAME_SIZE;
        ssize_t r = recv(w->rx, f, FRAME_SIZE, MSG_DONTWAIT);
        if (r <= 0) break;
        n++;
        if (route(w, f, (unsigned)r)) {
          iov[k].iov_base = f;
          iov[k].iov_len = (size_t)r;
          k++;
        }
      }
    }
    if (n == 0) {
      poll(&pfd, 1, 50);
      continue;
    }
    if (mode != MODE_MMAP) {
      w->received += n;
      send_all(w, msgs, k);
    }
  }
  return NULL;
}

static int open_worker(struct worker *w, int in_index, int out_index, int fanout_arg) {
  /* Protocol 0 first: nothing is received until bind() names ETH_P_ALL and the interface. */
  w->rx = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (w->rx < 0) { perror("socket"); return -1; }
  int one = 1;
  if (mode == MODE_MMAP) {
    int version = TPACKET_V2;
    struct tpacket_req req = {.tp_block_size = BLOCK_SIZE, .tp_block_nr = FRAME_NR * FRAME_SIZE / BLOCK_SIZE,
                              .tp_frame_size = FRAME_SIZE, .tp_frame_nr = FRAME_NR};
    if (setsockopt(w->rx, SOL_PACKET, PACKET_VERSION, &version, sizeof version) < 0 ||
        setsockopt(w->rx, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) < 0) { perror("PACKET_RX_RING"); return -1; }
    w->ring = mmap(NULL, (size_t)FRAME_NR * FRAME_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, w->rx, 0);
    if (w->ring == MAP_FAILED) { perror("mmap"); return -1; }
  } else {
    /* The engine's sockets get 4 MiB receive buffers (fdbased/open-packet.ts); so do these. */
    int rcvbuf = 4 << 20;
    if (setsockopt(w->rx, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0) setsockopt(w->rx, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    w->bufs = malloc((size_t)batch * FRAME_SIZE);
    if (w->bufs == NULL) { perror("malloc"); return -1; }
  }
  setsockopt(w->rx, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one); /* Linux >= 4.20; the MAC check covers older */
  struct sockaddr_ll in = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = in_index};
  if (bind(w->rx, (struct sockaddr *)&in, sizeof in) < 0) { perror("bind IN_IF"); return -1; }
  if (fanout_arg >= 0 && setsockopt(w->rx, SOL_PACKET, PACKET_FANOUT, &fanout_arg, sizeof fanout_arg) < 0) { perror("PACKET_FANOUT"); return -1; }
  /* Protocol 0 on the send socket: it never receives. The kernel takes skb->protocol from each frame. */
  w->tx = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (w->tx < 0) { perror("socket"); return -1; }
  int sndbuf = 4 << 20;
  if (setsockopt(w->tx, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf) < 0) setsockopt(w->tx, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  struct sockaddr_ll out = {.sll_family = AF_PACKET, .sll_protocol = 0, .sll_ifindex = out_index};
  if (bind(w->tx, (struct sockaddr *)&out, sizeof out) < 0) { perror("bind OUT_IF"); return -1; }
  if (setsockopt(w->tx, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one) < 0) { perror("PACKET_QDISC_BYPASS"); return -1; }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 8) {
    fprintf(stderr, "usage: %s IN_IF OUT_IF DST_MAC SECONDS THREADS readv|recvmmsg|mmap BATCH\n", argv[0]);
    return 2;
  }
  double seconds = atof(argv[4]);
  int threads = atoi(argv[5]);
  const char *mode_name = argv[6];
  int batch_arg = atoi(argv[7]);
  if (seconds <= 0 || seconds > 3600 || threads < 1 || threads > MAX_THREADS || batch_arg < 1 || batch_arg > MAX_BATCH) {
    fprintf(stderr, "argument out of range\n");
    return 2;
  }
  batch = (unsigned)batch_arg;
  if (strcmp(mode_name, "readv") == 0) mode = MODE_READV;
  else if (strcmp(mode_name, "recvmmsg") == 0) mode = MODE_RECVMMSG;
  else if (strcmp(mode_name, "mmap") == 0) mode = MODE_MMAP;
  else { fprintf(stderr, "unknown mode %s\n", mode_name); return 2; }
  if (sscanf(argv[3], "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &dst_mac[0], &dst_mac[1], &dst_mac[2], &dst_mac[3], &dst_mac[4], &dst_mac[5]) != 6) {
    fprintf(stderr, "bad MAC %s\n", argv[3]);
    return 2;
  }
  int in_index = if_nametoindex(argv[1]), out_index = if_nametoindex(argv[2]);
  if (in_index == 0 || out_index == 0 || mac_of(argv[1], in_mac) < 0 || mac_of(argv[2], out_mac) < 0) { perror("interface"); return 1; }
  /* One fanout group per process; its id only has to be unique within the namespace. */
  int fanout_arg = threads > 1 ? (int)((getpid() & 0xffff) | (PACKET_FANOUT_HASH << 16)) : -1;
  for (int i = 0; i < threads; i++) {
    if (open_worker(&workers[i], in_index, out_index, fanout_arg) < 0) return 1;
  }
  for (int i = 0; i < threads; i++) {
    if (pthread_create(&workers[i].thread, NULL, run, &workers[i]) != 0) { fprintf(stderr, "pthread_create failed\n"); return 1; }
  }
  printf("ready\n");
  fflush(stdout);

  double start = now(), deadline = start + seconds;
  struct pollfd pfd = {.fd = 0, .events = POLLIN};
  for (;;) {
    double t = now();
    if (t >= deadline) break;
    int timeout = (int)((deadline - t) * 1000) + 1;
    int r = poll(&pfd, 1, timeout > 200 ? 200 : timeout);
    if (r > 0) {
      char line[64];
      ssize_t got = read(0, line, sizeof line);
      if (got <= 0 || memmem(line, got, "stop", 4) != NULL) break;
    }
  }
  __atomic_store_n(&stop_flag, 1, __ATOMIC_RELAXED);
  double elapsed = now() - start;
  struct worker sum = {0};
  unsigned long long ring_drops = 0;
  for (int i = 0; i < threads; i++) {
    struct worker *w = &workers[i];
    pthread_join(w->thread, NULL);
    struct tpacket_stats st = {0};
    socklen_t len = sizeof st;
    getsockopt(w->rx, SOL_PACKET, PACKET_STATISTICS, &st, &len);
    ring_drops += st.tp_drops;
    sum.received += w->received;
    sum.forwarded += w->forwarded;
    sum.tx_errors += w->tx_errors;
    sum.not_for_us += w->not_for_us;
    sum.not_ip += w->not_ip;
    sum.bad_header += w->bad_header;
    sum.ttl_expired += w->ttl_expired;
  }
  printf("{\"threads\":%d,\"mode\":\"%s\",\"batch\":%u,\"seconds\":%.6f,\"received\":%llu,\"forwarded\":%llu,\"txErrors\":%llu,\"ringDrops\":%llu,"
         "\"notForUs\":%llu,\"notIp\":%llu,\"badHeader\":%llu,\"ttlExpired\":%llu,\"perThread\":[",
         threads, mode_name, batch, elapsed, sum.received, sum.forwarded, sum.tx_errors, ring_drops, sum.not_for_us, sum.not_ip,
         sum.bad_header, sum.ttl_expired);
  for (int i = 0; i < threads; i++) printf("%s{\"received\":%llu,\"forwarded\":%llu}", i ? "," : "", workers[i].received, workers[i].forwarded);
  printf("]}\n");
  return 0;
}
