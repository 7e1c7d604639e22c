/**
 * The Linux syscall layer: libc bound through koffi. The ONLY file in netshard that imports koffi.
 *
 * Exported functions (each returns its result, or `-errno` on failure; none throws on a failed syscall):
 *   fds:      socket(domain, type, protocol) · socketpair(domain, type, protocol, sv: Int32Array(2))
 *             pipe2(fds: Int32Array(2), flags) · open(path, flags, mode?) · close(fd) · eventfd(initval, flags)
 *             shutdown(fd, how) · getpid()
 *   i/o:      read(fd, buf, len) · write(fd, buf, len) · readv(fd, iov, iovcnt) · writev(fd, iov, iovcnt)
 *             recv(fd, buf, len, flags) · sendto(fd, buf, len, flags, addr, addrlen)
 *             recvmmsg(fd, msgvec, vlen, flags) · sendmmsg(fd, msgvec, vlen, flags)
 *   sockets:  bind(fd, addr, addrlen) · setsockopt(fd, level, name, val, len) · getsockopt(fd, level, name, val, lenp)
 *             setsockoptInt(fd, level, name, value) · getsockoptInt(fd, level, name) (value >= 0 or -errno)
 *             getsockname(fd, addr, lenp) · socketDomain(fd) (SO_DOMAIN: AF_* or -errno)
 *   files:    fcntl(fd, cmd, arg) · setNonBlocking(fd) · fileType(fd) (S_IFMT bits of fstat, via statx)
 *             ioctl(fd, request, arg) · if_nametoindex(name) (0 when unknown, as libc)
 *   waiting:  poll(fds, nfds, timeoutMs)
 *   memory:   mmap(addr, len, prot, flags, fd, offset) -> bigint address or -errno as a negative bigint
 *             munmap(addr, len) · viewMemory(addr, len) -> ArrayBuffer over native memory (no copy)
 *   addresses (setup only): pointerOf(view) -> bigint · addressOf(view) -> number
 *             writeAddress(words: Uint32Array, index, address: number) (two u32 halves, Number math)
 *   errors:   errnoName(errno) · errnoError(syscall, errno) -> NetshardError with the errno name as code
 *   (added for AF_PACKET/TUN at the end of the file) setns(fd, nstype) · memcpy(dst, src, len) (Number addresses)
 *   (virtio-net headers, at the end) tunFlags(fd) (TUNGETIFF) · tunVnetHeaderSize(fd) (TUNGETVNETHDRSZ)
 *   layouts:  SIZEOF_IOVEC, SIZEOF_MMSGHDR, MMSGHDR_* offsets, SIZEOF_CMSGHDR, CMSG_*, SIZEOF_TPACKET_AUXDATA,
 *             SIZEOF_POLLFD, POLLFD_*, SOCKADDR_LL_* …
 *   constants: Linux names (AF_*, SOCK_*, SOL_*, SO_*, PACKET_*, TPACKET_*, TP_STATUS_*, ETH_P_*, MSG_*,
 *             POLL*, E*, O_*, F_*, EFD_*, PROT_*, MAP_*, S_IF*, TUN*, IFF_*, SIOC*, …)
 *
 * Memory: a `Pointer` is a TypedArray (its bytes reach C by address, no copy; over a SharedArrayBuffer they
 * never move) or a BigInt address cached at setup (`pointerOf`), or null. Tables (iovec, mmsghdr, pollfd) are
 * built once in a SharedArrayBuffer and passed by their cached BigInt address: per call, no allocation.
 * Keep a JS reference to every buffer whose address you stored.
 *
 * Layouts are the LP64 ones of x86-64 and arm64 (the only architectures accepted at load).
 * Thread: any; each thread that imports this module binds libc for itself. Calls block only their thread.
 */
import koffi from 'koffi';
import { NetshardError, type ErrorCode } from '../errors.ts';

if (process.platform !== 'linux' || (process.arch !== 'x64' && process.arch !== 'arm64')) {
  throw new NetshardError('ERR_NETSHARD_UNSUPPORTED_PLATFORM', `fdbased needs Linux on x64 or arm64, running ${process.platform}/${process.arch}`);
}

/** Memory handed to C: a TypedArray (by address, no copy), a BigInt address cached at setup, or null. */
export type Pointer = ArrayBufferView | bigint | null;

const libc = koffi.load('libc.so.6');

// ssize_t is intptr_t on LP64; every pointer parameter is `void *` so both TypedArrays and BigInts pass.
const c = {
  socket: libc.func('int socket(int, int, int)'),
  socketpair: libc.func('int socketpair(int, int, int, void *)'),
  pipe2: libc.func('int pipe2(void *, int)'),
  open: libc.func('int open(const char *, int, ...)'),
  close: libc.func('int close(int)'),
  shutdown: libc.func('int shutdown(int, int)'),
  eventfd: libc.func('int eventfd(unsigned int, int)'),
  getpid: libc.func('int getpid()'),
  read: libc.func('intptr_t read(int, void *, size_t)'),
  write: libc.func('intptr_t write(int, void *, size_t)'),
  readv: libc.func('intptr_t readv(int, void *, int)'),
  writev: libc.func('intptr_t writev(int, void *, int)'),
  recv: libc.func('intptr_t recv(int, void *, size_t, int)'),
  sendto: libc.func('intptr_t sendto(int, void *, size_t, int, void *, unsigned int)'),
  recvmmsg: libc.func('int recvmmsg(int, void *, unsigned int, int, void *)'),
  sendmmsg: libc.func('int sendmmsg(int, void *, unsigned int, int)'),
  bind: libc.func('int bind(int, void *, unsigned int)'),
  setsockopt: libc.func('int setsockopt(int, int, int, void *, unsigned int)'),
  getsockopt: libc.func('int getsockopt(int, int, int, void *, void *)'),
  getsockname: libc.func('int getsockname(int, void *, void *)'),
  fcntl: libc.func('int fcntl(int, int, ...)'),
  ioctl: libc.func('int ioctl(int, unsigned long, ...)'),
  statx: libc.func('int statx(int, const char *, int, unsigned int, void *)'),
  poll: libc.func('int poll(void *, unsigned long, int)'),
  mmap: libc.func('void *mmap(void *, size_t, int, int, int, intptr_t)'),
  munmap: libc.func('int munmap(void *, size_t)'),
  if_nametoindex: libc.func('unsigned int if_nametoindex(const char *)'),
  strerror: libc.func('const char *strerror(int)'),
};

// ---------------------------------------------------------------------------------------------------------
// Constants (Linux UAPI values shared by x86-64 and arm64)

export const AF_UNSPEC = 0, AF_UNIX = 1, AF_INET = 2, AF_INET6 = 10, AF_PACKET = 17;
export const SOCK_STREAM = 1, SOCK_DGRAM = 2, SOCK_RAW = 3, SOCK_SEQPACKET = 5;
export const SOCK_NONBLOCK = 0o4000, SOCK_CLOEXEC = 0o2000000;
export const SHUT_RD = 0, SHUT_WR = 1, SHUT_RDWR = 2;

export const SOL_SOCKET = 1, SOL_PACKET = 263;
export const SO_REUSEADDR = 2, SO_TYPE = 3, SO_ERROR = 4, SO_SNDBUF = 7, SO_RCVBUF = 8, SO_REUSEPORT = 15;
export const SO_BINDTODEVICE = 25, SO_SNDBUFFORCE = 32, SO_RCVBUFFORCE = 33, SO_PROTOCOL = 38, SO_DOMAIN = 39;
export const SO_BUSY_POLL = 46;

export const PACKET_ADD_MEMBERSHIP = 1, PACKET_DROP_MEMBERSHIP = 2, PACKET_RX_RING = 5, PACKET_STATISTICS = 6;
export const PACKET_VERSION = 10, PACKET_HDRLEN = 11, PACKET_RESERVE = 12, PACKET_TX_RING = 13, PACKET_LOSS = 14;
export const PACKET_VNET_HDR = 15, PACKET_TIMESTAMP = 17, PACKET_FANOUT = 18, PACKET_QDISC_BYPASS = 20;
export const PACKET_IGNORE_OUTGOING = 23;
/** Asks for a `tpacket_auxdata` control message (cmsg SOL_PACKET / PACKET_AUXDATA) with every recvmsg. */
export const PACKET_AUXDATA = 8;
export const PACKET_MR_MULTICAST = 0, PACKET_MR_PROMISC = 1, PACKET_MR_ALLMULTI = 2;
export const PACKET_HOST = 0, PACKET_BROADCAST = 1, PACKET_MULTICAST = 2, PACKET_OTHERHOST = 3, PACKET_OUTGOING = 4;
export const PACKET_FANOUT_HASH = 0, PACKET_FANOUT_LB = 1, PACKET_FANOUT_CPU = 2, PACKET_FANOUT_ROLLOVER = 3;
export const PACKET_FANOUT_RND = 4, PACKET_FANOUT_QM = 5, PACKET_FANOUT_CBPF = 6, PACKET_FANOUT_EBPF = 7;
export const PACKET_FANOUT_FLAG_ROLLOVER = 0x1000, PACKET_FANOUT_FLAG_UNIQUEID = 0x2000;
export const PACKET_FANOUT_FLAG_IGNORE_OUTGOING = 0x4000, PACKET_FANOUT_FLAG_DEFRAG = 0x8000;
export const TPACKET_V1 = 0, TPACKET_V2 = 1, TPACKET_V3 = 2;
export const TP_STATUS_KERNEL = 0, TP_STATUS_USER = 1, TP_STATUS_COPY = 2, TP_STATUS_LOSING = 4;
export const TP_STATUS_CSUMNOTREADY = 8, TP_STATUS_VLAN_VALID = 0x10, TP_STATUS_BLK_TMO = 0x20;
export const TP_STATUS_CSUM_VALID = 0x80;
export const TP_STATUS_AVAILABLE = 0, TP_STATUS_SEND_REQUEST = 1, TP_STATUS_SENDING = 2, TP_STATUS_WRONG_FORMAT = 4;
export const TPACKET_ALIGNMENT = 16;

export const ETH_P_ALL = 0x0003, ETH_P_IP = 0x0800, ETH_P_ARP = 0x0806, ETH_P_IPV6 = 0x86dd;

export const MSG_PEEK = 0x2, MSG_CTRUNC = 0x8, MSG_TRUNC = 0x20, MSG_DONTWAIT = 0x40, MSG_EOR = 0x80, MSG_WAITALL = 0x100;
export const MSG_NOSIGNAL = 0x4000, MSG_WAITFORONE = 0x10000;

export const POLLIN = 0x1, POLLPRI = 0x2, POLLOUT = 0x4, POLLERR = 0x8, POLLHUP = 0x10, POLLNVAL = 0x20;
export const POLLRDHUP = 0x2000;

export const EPERM = 1, ENOENT = 2, EINTR = 4, EIO = 5, ENXIO = 6, E2BIG = 7, EBADF = 9, EAGAIN = 11;
export const EWOULDBLOCK = EAGAIN, ENOMEM = 12, EACCES = 13, EFAULT = 14, EBUSY = 16, EEXIST = 17, ENODEV = 19;
export const EINVAL = 22, EMFILE = 24, ENOTTY = 25, ENOSPC = 28, EPIPE = 32, ENOSYS = 38, ENOTSOCK = 88;
export const EMSGSIZE = 90, EPROTONOSUPPORT = 93, EOPNOTSUPP = 95, EAFNOSUPPORT = 97, EADDRINUSE = 98;
export const EADDRNOTAVAIL = 99, ENETDOWN = 100, ECONNRESET = 104, ENOBUFS = 105, ENOTCONN = 107;
export const ETIMEDOUT = 110, ECONNREFUSED = 111;

export const O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_NONBLOCK = 0o4000, O_CLOEXEC = 0o2000000;
export const F_GETFD = 1, F_SETFD = 2, F_GETFL = 3, F_SETFL = 4, FD_CLOEXEC = 1;
export const EFD_SEMAPHORE = 1, EFD_NONBLOCK = 0o4000, EFD_CLOEXEC = 0o2000000;

export const PROT_NONE = 0, PROT_READ = 1, PROT_WRITE = 2;
export const MAP_SHARED = 0x1, MAP_PRIVATE = 0x2, MAP_ANONYMOUS = 0x20, MAP_LOCKED = 0x2000, MAP_POPULATE = 0x8000;

export const S_IFMT = 0o170000, S_IFSOCK = 0o140000, S_IFLNK = 0o120000, S_IFREG = 0o100000;
export const S_IFBLK = 0o060000, S_IFDIR = 0o040000, S_IFCHR = 0o020000, S_IFIFO = 0o010000;
export const AT_EMPTY_PATH = 0x1000, STATX_TYPE = 0x1;

// _IOW('T', n, int) and friends from <linux/if_tun.h>.
export const TUNSETIFF = 0x400454ca, TUNSETPERSIST = 0x400454cb, TUNGETFEATURES = 0x800454cf;
export const TUNSETOFFLOAD = 0x400454d0, TUNGETIFF = 0x800454d2, TUNSETVNETHDRSZ = 0x400454d8;
export const TUNSETQUEUE = 0x400454d9;
export const IFF_TUN = 0x0001, IFF_TAP = 0x0002, IFF_NAPI = 0x0010, IFF_MULTI_QUEUE = 0x0100;
export const IFF_ATTACH_QUEUE = 0x0200, IFF_DETACH_QUEUE = 0x0400, IFF_NO_PI = 0x1000, IFF_ONE_QUEUE = 0x2000;
export const IFF_VNET_HDR = 0x4000, IFF_TUN_EXCL = 0x8000;
export const TUN_F_CSUM = 0x01, TUN_F_TSO4 = 0x02, TUN_F_TSO6 = 0x04, TUN_F_TSO_ECN = 0x08, TUN_F_UFO = 0x10;
/** Interface flags in `ifreq.ifr_flags` (SIOCGIFFLAGS), not the TUN ones above. */
export const IFF_UP = 0x1, IFF_BROADCAST = 0x2, IFF_LOOPBACK = 0x8, IFF_RUNNING = 0x40, IFF_PROMISC = 0x100;
export const SIOCGIFFLAGS = 0x8913, SIOCSIFFLAGS = 0x8914, SIOCGIFMTU = 0x8921, SIOCGIFHWADDR = 0x8927;
export const SIOCGIFINDEX = 0x8933;
export const IFNAMSIZ = 16;
/** `struct ifreq`: name[16] then a 24-byte union (flags s16, mtu/ifindex s32, hwaddr sockaddr) at 16. */
export const SIZEOF_IFREQ = 40, IFREQ_NAME = 0, IFREQ_UNION = 16;

// ---------------------------------------------------------------------------------------------------------
// Layouts (LP64)

/** `struct iovec { void *iov_base; size_t iov_len; }`: 16 bytes. */
export const SIZEOF_IOVEC = 16, IOVEC_BASE = 0, IOVEC_LEN = 8;
/**
 * `struct mmsghdr { struct msghdr msg_hdr; unsigned msg_len; }`: 64 bytes.
 * ```
 *  0 msg_name     8 msg_namelen(u32)  16 msg_iov   24 msg_iovlen
 * 32 msg_control 40 msg_controllen    48 msg_flags(i32)  56 msg_len(u32)  60 pad
 * ```
 */
export const SIZEOF_MMSGHDR = 64, MMSGHDR_NAME = 0, MMSGHDR_NAMELEN = 8, MMSGHDR_IOV = 16, MMSGHDR_IOVLEN = 24;
export const MMSGHDR_CONTROL = 32, MMSGHDR_CONTROLLEN = 40, MMSGHDR_FLAGS = 48, MMSGHDR_LEN = 56;
/**
 * `struct cmsghdr { size_t cmsg_len; int cmsg_level; int cmsg_type; }`: 16 bytes, data at 16 (CMSG_DATA).
 * CMSG_SPACE(n) = 16 + n rounded up to 8.
 */
export const SIZEOF_CMSGHDR = 16, CMSG_LEN_OFFSET = 0, CMSG_LEVEL = 8, CMSG_TYPE = 12, CMSG_DATA = 16;
/**
 * `struct tpacket_auxdata` (<linux/if_packet.h>): 20 bytes. tp_status u32 at 0 (TP_STATUS_CSUMNOTREADY,
 * TP_STATUS_CSUM_VALID, TP_STATUS_VLAN_VALID …), tp_len u32 at 4, tp_snaplen u32 at 8, tp_mac u16 at 12,
 * tp_net u16 at 14, tp_vlan_tci u16 at 16, tp_vlan_tpid u16 at 18.
 */
export const SIZEOF_TPACKET_AUXDATA = 20, TPACKET_AUXDATA_STATUS = 0;
/** `struct pollfd { int fd; short events; short revents; }`: 8 bytes. */
export const SIZEOF_POLLFD = 8, POLLFD_FD = 0, POLLFD_EVENTS = 4, POLLFD_REVENTS = 6;
/**
 * `struct sockaddr_ll`: 20 bytes. family u16 at 0, protocol u16 (network order) at 2, ifindex i32 at 4,
 * hatype u16 at 8, pkttype u8 at 10, halen u8 at 11, addr[8] at 12.
 */
export const SIZEOF_SOCKADDR_LL = 20, SOCKADDR_LL_FAMILY = 0, SOCKADDR_LL_PROTOCOL = 2, SOCKADDR_LL_IFINDEX = 4;
export const SOCKADDR_LL_HATYPE = 8, SOCKADDR_LL_PKTTYPE = 10, SOCKADDR_LL_HALEN = 11, SOCKADDR_LL_ADDR = 12;
/** `struct statx`: 256 bytes, stx_mode u16 at 28. */
const SIZEOF_STATX = 256, STATX_MODE_OFFSET = 28;
/** `MAP_FAILED`, `(void *) -1`, as koffi returns it. */
const MAP_FAILED = 0xffff_ffff_ffff_ffffn;

// ---------------------------------------------------------------------------------------------------------
// Errors

const ERRNO_NAMES: string[] = [];
{
  // Prefer the names Node uses when two share a number.
  const preferred = new Set(['EAGAIN', 'EDEADLK', 'EOPNOTSUPP']);
  for (const [name, value] of Object.entries(koffi.os.errno)) {
    if (ERRNO_NAMES[value] === undefined || preferred.has(name)) ERRNO_NAMES[value] = name;
  }
}

/** Returns the C name of a positive `errno` ("EAGAIN"), or `"E<n>"` when unknown. Thread: any. */
export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `E${errno}`;
}

/**
 * Makes the `NetshardError` a failed `syscall` reports: code = the errno name, with `errno` and `syscall` set.
 * Accepts `errno` or `-errno` (a wrapper's return value). Control path only. Thread: any.
 */
export function errnoError(syscall: string, errno: number, detail?: string): NetshardError {
  const n = Math.abs(errno);
  const name = errnoName(n);
  const text = String(c.strerror(n));
  const where = detail === undefined ? syscall : `${syscall} ${detail}`;
  return new NetshardError(name as ErrorCode, `${where} failed: ${name} (${text})`, { errno: n, syscall });
}

// Each wrapper: one libc call; on failure `-errno`, read right after the call. No throw, no allocation.
function neg(): number {
  return -koffi.errno();
}

// ---------------------------------------------------------------------------------------------------------
// File descriptors

/** Opens a socket; returns the fd or -errno. Pass SOCK_CLOEXEC in `type`. Thread: any. */
export function socket(domain: number, type: number, protocol: number): number {
  const r = c.socket(domain, type, protocol);
  return r < 0 ? neg() : r;
}

/** Opens a connected pair into `sv[0]`, `sv[1]`; returns 0 or -errno. Pass SOCK_CLOEXEC in `type`. Thread: any. */
export function socketpair(domain: number, type: number, protocol: number, sv: Int32Array): number {
  const r = c.socketpair(domain, type, protocol, sv);
  return r < 0 ? neg() : r;
}

/** Opens a pipe into `fds[0]` (read end), `fds[1]` (write end); returns 0 or -errno. Thread: any. */
export function pipe2(fds: Int32Array, flags: number): number {
  const r = c.pipe2(fds, flags);
  return r < 0 ? neg() : r;
}

/** Opens `path`; returns the fd or -errno. Pass O_CLOEXEC in `flags`. Thread: any. */
export function open(path: string, flags: number, mode = 0): number {
  const r = c.open(path, flags, 'int', mode);
  return r < 0 ? neg() : r;
}

/** Closes `fd`; returns 0 or -errno. Thread: any. */
export function close(fd: number): number {
  const r = c.close(fd);
  return r < 0 ? neg() : r;
}

/** Shuts down part of a socket (SHUT_RD/WR/RDWR); returns 0 or -errno. Thread: any. */
export function shutdown(fd: number, how: number): number {
  const r = c.shutdown(fd, how);
  return r < 0 ? neg() : r;
}

/** Opens an eventfd; returns the fd or -errno. Pass EFD_CLOEXEC (and EFD_NONBLOCK) in `flags`. Thread: any. */
export function eventfd(initval: number, flags: number): number {
  const r = c.eventfd(initval, flags);
  return r < 0 ? neg() : r;
}

/** Returns the process id. Thread: any. */
export function getpid(): number {
  return c.getpid() as number;
}

// ---------------------------------------------------------------------------------------------------------
// I/O (hot path: pass TypedArrays over SharedArrayBuffers or cached BigInt addresses)

/** Reads up to `len` bytes into `buf`; returns the count (0 = EOF) or -errno. Thread: any. */
export function read(fd: number, buf: Pointer, len: number): number {
  const r = c.read(fd, buf, len);
  return r < 0 ? neg() : r;
}

/** Writes `len` bytes from `buf`; returns the count or -errno. Thread: any. */
export function write(fd: number, buf: Pointer, len: number): number {
  const r = c.write(fd, buf, len);
  return r < 0 ? neg() : r;
}

/** Reads into `iovcnt` iovecs at `iov`; returns the byte count (0 = EOF) or -errno. Thread: any. */
export function readv(fd: number, iov: Pointer, iovcnt: number): number {
  const r = c.readv(fd, iov, iovcnt);
  return r < 0 ? neg() : r;
}

/** Writes `iovcnt` iovecs at `iov` as one packet/stream chunk; returns the byte count or -errno. Thread: any. */
export function writev(fd: number, iov: Pointer, iovcnt: number): number {
  const r = c.writev(fd, iov, iovcnt);
  return r < 0 ? neg() : r;
}

/** Receives into `buf`; returns the count (the full datagram length with MSG_TRUNC) or -errno. Thread: any. */
export function recv(fd: number, buf: Pointer, len: number, flags: number): number {
  const r = c.recv(fd, buf, len, flags);
  return r < 0 ? neg() : r;
}

/** Sends `len` bytes from `buf` (to `addr` when not null); returns the count or -errno. Thread: any. */
export function sendto(fd: number, buf: Pointer, len: number, flags: number, addr: Pointer = null, addrlen = 0): number {
  const r = c.sendto(fd, buf, len, flags, addr, addrlen);
  return r < 0 ? neg() : r;
}

/**
 * Receives up to `vlen` datagrams into the mmsghdr table at `msgvec` (no timeout); returns the count of
 * messages filled (each `msg_len` set) or -errno. Thread: any.
 */
export function recvmmsg(fd: number, msgvec: Pointer, vlen: number, flags: number): number {
  const r = c.recvmmsg(fd, msgvec, vlen, flags, null);
  return r < 0 ? neg() : r;
}

/** Sends up to `vlen` datagrams from the mmsghdr table at `msgvec`; returns the count sent or -errno. Thread: any. */
export function sendmmsg(fd: number, msgvec: Pointer, vlen: number, flags: number): number {
  const r = c.sendmmsg(fd, msgvec, vlen, flags);
  return r < 0 ? neg() : r;
}

// ---------------------------------------------------------------------------------------------------------
// Sockets (control path)

/** Binds `fd` to the sockaddr at `addr`; returns 0 or -errno. Thread: any. */
export function bind(fd: number, addr: Pointer, addrlen: number): number {
  const r = c.bind(fd, addr, addrlen);
  return r < 0 ? neg() : r;
}

/** Sets a socket option from `len` bytes at `val`; returns 0 or -errno. Thread: any. */
export function setsockopt(fd: number, level: number, name: number, val: Pointer, len: number): number {
  const r = c.setsockopt(fd, level, name, val, len);
  return r < 0 ? neg() : r;
}

/** Reads a socket option into `val`; `lenp` (an Int32Array(1)) holds its size in and the length out. 0 or -errno. */
export function getsockopt(fd: number, level: number, name: number, val: Pointer, lenp: Int32Array): number {
  const r = c.getsockopt(fd, level, name, val, lenp);
  return r < 0 ? neg() : r;
}

// Scratch for int options; per thread (each thread loads this module).
const intScratch = new Int32Array(1);
const lenScratch = new Int32Array(1);

/** Sets an `int` socket option; returns 0 or -errno. Thread: any. */
export function setsockoptInt(fd: number, level: number, name: number, value: number): number {
  intScratch[0] = value;
  const r = c.setsockopt(fd, level, name, intScratch, 4);
  return r < 0 ? neg() : r;
}

/** Returns an `int` socket option's value, or -errno. Only for options whose values are >= 0. Thread: any. */
export function getsockoptInt(fd: number, level: number, name: number): number {
  intScratch[0] = 0;
  lenScratch[0] = 4;
  const r = c.getsockopt(fd, level, name, intScratch, lenScratch);
  return r < 0 ? neg() : (intScratch[0] as number);
}

/** Reads the socket's local address into `addr`; `lenp` holds its size in and the length out. 0 or -errno. */
export function getsockname(fd: number, addr: Pointer, lenp: Int32Array): number {
  const r = c.getsockname(fd, addr, lenp);
  return r < 0 ? neg() : r;
}

/** Returns the socket's address family (AF_PACKET, AF_UNIX, …) via SO_DOMAIN, or -errno (-ENOTSOCK). */
export function socketDomain(fd: number): number {
  return getsockoptInt(fd, SOL_SOCKET, SO_DOMAIN);
}

// ---------------------------------------------------------------------------------------------------------
// Files

/** Calls fcntl with an `int` argument; returns its result or -errno. Thread: any. */
export function fcntl(fd: number, cmd: number, arg = 0): number {
  const r = c.fcntl(fd, cmd, 'int', arg);
  return r < 0 ? neg() : r;
}

/** Sets O_NONBLOCK on `fd`; returns 0 or -errno. Thread: any. */
export function setNonBlocking(fd: number): number {
  const flags = fcntl(fd, F_GETFL);
  if (flags < 0) return flags;
  if ((flags & O_NONBLOCK) !== 0) return 0;
  return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

const statxScratch = new Uint8Array(SIZEOF_STATX);
const statxView = new DataView(statxScratch.buffer);

/**
 * Returns the file type bits (`st_mode & S_IFMT`: S_IFSOCK, S_IFIFO, S_IFCHR, …) of `fd`, as fstat reports
 * them, or -errno. Uses statx(fd, "", AT_EMPTY_PATH), whose layout is the same on every architecture.
 */
export function fileType(fd: number): number {
  const r = c.statx(fd, '', AT_EMPTY_PATH, STATX_TYPE, statxScratch);
  if (r < 0) return neg();
  return statxView.getUint16(STATX_MODE_OFFSET, true) & S_IFMT;
}

/** Calls ioctl with a pointer argument (a struct such as `ifreq`); returns its result or -errno. */
export function ioctl(fd: number, request: number, arg: Pointer): number {
  const r = c.ioctl(fd, request, 'void *', arg);
  return r < 0 ? neg() : r;
}

/** Calls ioctl with an `int` argument (TUNSETPERSIST, TUNSETOFFLOAD); returns its result or -errno. */
export function ioctlInt(fd: number, request: number, arg: number): number {
  const r = c.ioctl(fd, request, 'int', arg);
  return r < 0 ? neg() : r;
}

/** Returns the index of interface `name`, or 0 when there is none (as libc; no errno). Thread: any. */
export function if_nametoindex(name: string): number {
  return c.if_nametoindex(name) as number;
}

// ---------------------------------------------------------------------------------------------------------
// Waiting

/**
 * Waits for events on `nfds` pollfd records at `fds` (a table built once; pass its cached address) for up to
 * `timeoutMs` (-1 = forever); returns how many records have `revents`, 0 on timeout, or -errno (-EINTR).
 * Blocks only the calling thread.
 */
export function poll(fds: Pointer, nfds: number, timeoutMs: number): number {
  const r = c.poll(fds, nfds, timeoutMs);
  return r < 0 ? neg() : r;
}

// ---------------------------------------------------------------------------------------------------------
// Memory

/**
 * Maps memory; returns its address as a BigInt, or `-errno` as a negative BigInt. Check `addr < 0n`.
 * Control path. Thread: any (the mapping is process-wide).
 */
export function mmap(addr: bigint | null, len: number, prot: number, flags: number, fd: number, offset: number): bigint {
  const p = c.mmap(addr, len, prot, flags, fd, offset) as bigint | null;
  if (p === null || p === MAP_FAILED) return -BigInt(koffi.errno());
  return p;
}

/** Unmaps `len` bytes at `addr`; returns 0 or -errno. Views made by `viewMemory` over it become invalid. */
export function munmap(addr: bigint, len: number): number {
  const r = c.munmap(addr, len);
  return r < 0 ? neg() : r;
}

/**
 * Returns an ArrayBuffer over `len` bytes of native memory at `addr` (an mmap'd ring), with no copy.
 * The caller keeps the mapping alive while the buffer is in use. Thread: any.
 */
export function viewMemory(addr: bigint, len: number): ArrayBuffer {
  return koffi.view(addr, len);
}

// ---------------------------------------------------------------------------------------------------------
// Addresses (setup only: a BigInt per call)

/** Returns the address of `view`'s first byte (byteOffset included) as a BigInt to pass as a `Pointer`. */
export function pointerOf(view: ArrayBufferView): bigint {
  return koffi.address(view);
}

/** Returns the address of `view`'s first byte as a Number (user-space addresses are < 2^53). */
export function addressOf(view: ArrayBufferView): number {
  return Number(koffi.address(view));
}

const TWO_32 = 0x1_0000_0000;

/**
 * Writes a 64-bit little-endian address or size as two u32 halves at `words[index]`, `words[index + 1]`
 * (`index` counts u32 words), with Number math: no BigInt. Precondition: 0 <= value < 2^53. Hot-path safe.
 */
export function writeAddress(words: Uint32Array, index: number, value: number): void {
  words[index] = value >>> 0;
  words[index + 1] = Math.floor(value / TWO_32);
}

// --- added for packet sockets / tun ---
// setns (open-packet.ts / open-tun.ts enter a test namespace for one call) and memcpy with Number addresses
// (dispatch-mmap.ts copies a ring frame into a pool frame: measured 44 ns for 64 B and 72 ns for 1500 B,
// against 31 ns / 488 ns for a JS Int32 loop, so large frames go through libc).

const packetC = {
  setns: libc.func('int setns(int, int)'),
  // Addresses as int64_t Numbers: no BigInt per call (RUNTIME-FACTS.md: +234 ns, but no allocation).
  memcpy: libc.func('void memcpy(int64_t, int64_t, size_t)'),
};

/** `setns` nstype for a network namespace (<linux/sched.h>). */
export const CLONE_NEWNET = 0x40000000;

/**
 * Moves the calling thread into the namespace open at `fd` (`nstype` CLONE_NEWNET: only this thread moves);
 * returns 0 or -errno. Sockets opened afterwards belong to that namespace for their whole life. Thread: any.
 */
export function setns(fd: number, nstype: number): number {
  const r = packetC.setns(fd, nstype);
  return r < 0 ? neg() : r;
}

/**
 * Copies `len` bytes from address `src` to address `dst` (Numbers from `addressOf`, plus offsets). No bounds
 * checks at all: the caller proves both ranges lie inside memory it holds. Hot-path safe: no allocation.
 */
export function memcpy(dst: number, src: number, len: number): void {
  packetC.memcpy(dst, src, len);
}

// ---------------------------------------------------------------------------------------------------------
// Virtio-net headers: asking an fd whether it carries one (the endpoint's setup, REFERENCE-gvisor.md §2.8)

/** `_IOR('T', 215, int)` (<linux/if_tun.h>): the virtio-net header size of a TUN/TAP device (10 unless TUNSETVNETHDRSZ changed it). */
export const TUNGETVNETHDRSZ = 0x800454d7;
/**
 * PACKET_VNET_HDR_SZ (<linux/if_packet.h>, Linux >= 6.2): an AF_PACKET socket's virtio-net header size, 0
 * when it has none (PACKET_VNET_HDR reads back only 0 or 1). Older kernels reject it with ENOPROTOOPT.
 */
export const PACKET_VNET_HDR_SZ = 24;
export const EBADFD = 77, ENOPROTOOPT = 92;

const tunIfreq = new Uint8Array(SIZEOF_IFREQ);
const tunIfreqView = new DataView(tunIfreq.buffer);

/**
 * Returns the TUN/TAP flags (IFF_TUN or IFF_TAP, IFF_NO_PI, IFF_VNET_HDR, IFF_MULTI_QUEUE, …) of the device
 * the queue open at `fd` is attached to (ioctl TUNGETIFF), or -errno: -ENOTTY (or -EINVAL) when `fd` is not
 * a TUN/TAP file, -EBADFD when it is one attached to no device. Thread: any. Control path.
 */
export function tunFlags(fd: number): number {
  tunIfreq.fill(0);
  const r = c.ioctl(fd, TUNGETIFF, 'void *', tunIfreq);
  if (r < 0) return neg();
  return tunIfreqView.getUint16(IFREQ_UNION, true);
}

/** Returns the virtio-net header size of TUN/TAP `fd`'s device (ioctl TUNGETVNETHDRSZ), or -errno. Thread: any. Control path. */
export function tunVnetHeaderSize(fd: number): number {
  intScratch[0] = 0;
  const r = c.ioctl(fd, TUNGETVNETHDRSZ, 'void *', intScratch);
  return r < 0 ? neg() : (intScratch[0] as number);
}
