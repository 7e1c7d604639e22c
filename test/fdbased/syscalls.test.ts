/**
 * The koffi syscall layer over real fds: socketpairs, pipes, eventfd + poll, iovec/mmsghdr tables in a
 * SharedArrayBuffer passed by cached address, and -errno returns.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as sys from '../../src/fdbased/syscalls.ts';
import { NetshardError } from '../../src/errors.ts';
import { hex, toHex } from '../helpers/hex.ts';

const Syscalls = suite('fdbased/syscalls');

/** Opens a CLOEXEC socketpair of `type`, returns [a, b]; the caller closes both. */
function pair(type: number): [number, number] {
  const sv = new Int32Array(2);
  const r = sys.socketpair(sys.AF_UNIX, type | sys.SOCK_CLOEXEC, 0, sv);
  assert.is(r, 0, `socketpair: ${r}`);
  return [sv[0] as number, sv[1] as number];
}

const PACKET = hex(`
  4500 001c 0001 0000 4011 0000   # IPv4 header start: length 28, TTL 64, UDP
  c612 0001 c612 0002             # 198.18.0.1 -> 198.18.0.2
  3039 0035 0008 0000             # UDP 12345 -> 53, length 8
`);

Syscalls('socketpair: write then read round trip, into SharedArrayBuffer memory', () => {
  const [a, b] = pair(sys.SOCK_SEQPACKET);
  try {
    const sab = new SharedArrayBuffer(4096);
    const out = new Uint8Array(sab, 64, PACKET.length);
    out.set(PACKET);
    assert.is(sys.write(a, out, out.length), PACKET.length);
    const into = new Uint8Array(sab, 2048, 2048);
    assert.is(sys.read(b, into, into.length), PACKET.length);
    assert.is(toHex(into.subarray(0, PACKET.length)), toHex(PACKET));
  } finally {
    sys.close(a);
    sys.close(b);
  }
});

Syscalls('readv/writev over an iovec table passed by cached address', () => {
  const [a, b] = pair(sys.SOCK_DGRAM);
  try {
    const frames = new Uint8Array(new SharedArrayBuffer(4096));
    const table = new Uint32Array(new SharedArrayBuffer(2 * sys.SIZEOF_IOVEC));
    const tableAddr = sys.pointerOf(table);
    const base = sys.addressOf(frames);
    frames.set(hex('0102 0304'), 0); // first half of the datagram
    frames.set(hex('0506'), 100); // second half
    sys.writeAddress(table, 0, base);
    sys.writeAddress(table, 2, 4);
    sys.writeAddress(table, 4, base + 100);
    sys.writeAddress(table, 6, 2);
    assert.is(sys.writev(a, tableAddr, 2), 6);
    // Read back into two other places: 3 bytes then the rest.
    sys.writeAddress(table, 0, base + 1000);
    sys.writeAddress(table, 2, 3);
    sys.writeAddress(table, 4, base + 2000);
    sys.writeAddress(table, 6, 100);
    assert.is(sys.readv(b, tableAddr, 2), 6);
    assert.is(toHex(frames.subarray(1000, 1003)), '010203');
    assert.is(toHex(frames.subarray(2000, 2003)), '040506');
  } finally {
    sys.close(a);
    sys.close(b);
  }
});

Syscalls('sendmmsg/recvmmsg: mmsghdr tables in a SharedArrayBuffer, msg_len and MSG_TRUNC', () => {
  const [a, b] = pair(sys.SOCK_DGRAM | sys.SOCK_NONBLOCK);
  try {
    const N = 3;
    const frames = new Uint8Array(new SharedArrayBuffer(N * 256));
    const iov = new Uint32Array(new SharedArrayBuffer(N * sys.SIZEOF_IOVEC));
    const mm = new SharedArrayBuffer(N * sys.SIZEOF_MMSGHDR);
    const mmWords = new Uint32Array(mm);
    const mmAddr = sys.pointerOf(mmWords);
    const base = sys.addressOf(frames);
    const iovBase = sys.addressOf(iov);
    const lengths = [1, 17, 200];
    for (let i = 0; i < N; i++) {
      const len = lengths[i] as number;
      for (let j = 0; j < len; j++) frames[i * 256 + j] = (i * 31 + j) & 0xff;
      sys.writeAddress(iov, i * 4, base + i * 256);
      sys.writeAddress(iov, i * 4 + 2, len);
      sys.writeAddress(mmWords, (i * sys.SIZEOF_MMSGHDR + sys.MMSGHDR_IOV) / 4, iovBase + i * sys.SIZEOF_IOVEC);
      sys.writeAddress(mmWords, (i * sys.SIZEOF_MMSGHDR + sys.MMSGHDR_IOVLEN) / 4, 1);
    }
    assert.is(sys.sendmmsg(a, mmAddr, N, sys.MSG_DONTWAIT), N);
    // Receive into fresh space with 100-byte buffers: the 200-byte datagram comes back truncated.
    const into = new Uint8Array(new SharedArrayBuffer(N * 256));
    const intoBase = sys.addressOf(into);
    for (let i = 0; i < N; i++) {
      sys.writeAddress(iov, i * 4, intoBase + i * 256);
      sys.writeAddress(iov, i * 4 + 2, 100);
    }
    assert.is(sys.recvmmsg(b, mmAddr, N, sys.MSG_DONTWAIT), N);
    for (let i = 0; i < N; i++) {
      const got = mmWords[(i * sys.SIZEOF_MMSGHDR + sys.MMSGHDR_LEN) / 4] as number;
      const flags = mmWords[(i * sys.SIZEOF_MMSGHDR + sys.MMSGHDR_FLAGS) / 4] as number;
      const want = Math.min(lengths[i] as number, 100);
      assert.is(got, want, `message ${i} msg_len`);
      assert.is((flags & sys.MSG_TRUNC) !== 0, (lengths[i] as number) > 100, `message ${i} MSG_TRUNC`);
      for (let j = 0; j < want; j++) assert.is(into[i * 256 + j], (i * 31 + j) & 0xff);
    }
    assert.is(sys.recvmmsg(b, mmAddr, N, sys.MSG_DONTWAIT), -sys.EAGAIN, 'empty non-blocking socket');
  } finally {
    sys.close(a);
    sys.close(b);
  }
});

Syscalls('eventfd + poll: timeout, then readable after a write, then drained', () => {
  const efd = sys.eventfd(0, sys.EFD_NONBLOCK | sys.EFD_CLOEXEC);
  assert.ok(efd >= 0, `eventfd: ${efd}`);
  try {
    const pfd = new DataView(new SharedArrayBuffer(sys.SIZEOF_POLLFD));
    pfd.setInt32(sys.POLLFD_FD, efd, true);
    pfd.setInt16(sys.POLLFD_EVENTS, sys.POLLIN, true);
    const addr = sys.pointerOf(new Uint8Array(pfd.buffer));
    assert.is(sys.poll(addr, 1, 0), 0, 'nothing written yet: timeout');
    const one = new BigUint64Array([1n]);
    assert.is(sys.write(efd, one, 8), 8);
    assert.is(sys.poll(addr, 1, 1000), 1);
    assert.is(pfd.getInt16(sys.POLLFD_REVENTS, true) & sys.POLLIN, sys.POLLIN);
    const value = new BigUint64Array(1);
    assert.is(sys.read(efd, value, 8), 8);
    assert.is(value[0], 1n);
    assert.is(sys.read(efd, value, 8), -sys.EAGAIN, 'drained eventfd would block');
  } finally {
    sys.close(efd);
  }
});

Syscalls('poll reports POLLHUP when a SEQPACKET peer closes', () => {
  const [a, b] = pair(sys.SOCK_SEQPACKET);
  sys.close(a);
  try {
    const pfd = new DataView(new ArrayBuffer(sys.SIZEOF_POLLFD));
    pfd.setInt32(sys.POLLFD_FD, b, true);
    pfd.setInt16(sys.POLLFD_EVENTS, sys.POLLIN, true);
    assert.is(sys.poll(pfd, 1, 1000), 1);
    assert.ok((pfd.getInt16(sys.POLLFD_REVENTS, true) & sys.POLLHUP) !== 0, 'POLLHUP');
  } finally {
    sys.close(b);
  }
});

Syscalls('fileType: socket vs pipe vs eventfd; socketDomain', () => {
  const [a, b] = pair(sys.SOCK_DGRAM);
  const p = new Int32Array(2);
  assert.is(sys.pipe2(p, sys.O_CLOEXEC), 0);
  const efd = sys.eventfd(0, sys.EFD_CLOEXEC);
  try {
    assert.is(sys.fileType(a), sys.S_IFSOCK);
    assert.is(sys.fileType(p[0] as number), sys.S_IFIFO);
    assert.is(sys.fileType(p[1] as number), sys.S_IFIFO);
    assert.not.equal(sys.fileType(efd), sys.S_IFSOCK);
    assert.is(sys.socketDomain(a), sys.AF_UNIX);
    assert.is(sys.socketDomain(p[0] as number), -sys.ENOTSOCK);
    assert.is(sys.getsockoptInt(a, sys.SOL_SOCKET, sys.SO_TYPE), sys.SOCK_DGRAM);
  } finally {
    for (const fd of [a, b, p[0] as number, p[1] as number, efd]) sys.close(fd);
  }
});

Syscalls('setNonBlocking sets O_NONBLOCK; fcntl reads it back', () => {
  const [a, b] = pair(sys.SOCK_DGRAM);
  try {
    assert.is(sys.fcntl(a, sys.F_GETFL) & sys.O_NONBLOCK, 0);
    assert.is(sys.setNonBlocking(a), 0);
    assert.is(sys.fcntl(a, sys.F_GETFL) & sys.O_NONBLOCK, sys.O_NONBLOCK);
    const buf = new Uint8Array(16);
    assert.is(sys.read(a, buf, 16), -sys.EAGAIN);
    assert.is(sys.fcntl(a, sys.F_GETFD) & sys.FD_CLOEXEC, sys.FD_CLOEXEC, 'created with SOCK_CLOEXEC');
  } finally {
    sys.close(a);
    sys.close(b);
  }
});

Syscalls('setsockoptInt / getsockoptInt: SO_RCVBUF (the kernel doubles it)', () => {
  const [a, b] = pair(sys.SOCK_DGRAM);
  try {
    assert.is(sys.setsockoptInt(a, sys.SOL_SOCKET, sys.SO_RCVBUF, 65536), 0);
    assert.is(sys.getsockoptInt(a, sys.SOL_SOCKET, sys.SO_RCVBUF), 131072);
  } finally {
    sys.close(a);
    sys.close(b);
  }
});

Syscalls('mmap / viewMemory / munmap of anonymous memory', () => {
  const len = 8192;
  const addr = sys.mmap(null, len, sys.PROT_READ | sys.PROT_WRITE, sys.MAP_PRIVATE | sys.MAP_ANONYMOUS, -1, 0);
  assert.ok(addr > 0n, `mmap: ${addr}`);
  const bytes = new Uint8Array(sys.viewMemory(addr, len));
  bytes[len - 1] = 0xab;
  // Write through the kernel into the mapping and read it through the view.
  const [a, b] = pair(sys.SOCK_DGRAM);
  try {
    assert.is(sys.write(a, hex('cafe'), 2), 2);
    assert.is(sys.read(b, addr + 10n, 2), 2);
    assert.is(toHex(bytes.subarray(10, 12)), 'cafe');
    assert.is(bytes[len - 1], 0xab);
  } finally {
    sys.close(a);
    sys.close(b);
  }
  assert.is(sys.munmap(addr, len), 0);
  assert.is(sys.mmap(null, 0, sys.PROT_READ, sys.MAP_PRIVATE | sys.MAP_ANONYMOUS, -1, 0), -BigInt(sys.EINVAL));
});

for (const c of [
  { name: 'read on a closed fd', call: () => sys.read(1_000_000, new Uint8Array(1), 1), want: -sys.EBADF },
  { name: 'close of a closed fd', call: () => sys.close(1_000_000), want: -sys.EBADF },
  { name: 'poll on an invalid table size', call: () => sys.poll(null, -1, 0), want: -sys.EINVAL },
  { name: 'socket of an unknown family', call: () => sys.socket(9999, sys.SOCK_DGRAM | sys.SOCK_CLOEXEC, 0), want: -sys.EAFNOSUPPORT },
  { name: 'fileType of a closed fd', call: () => sys.fileType(1_000_000), want: -sys.EBADF },
  { name: 'ioctl TUNSETIFF on a socket', call: () => {
      const [a, b] = pair(sys.SOCK_DGRAM);
      const r = sys.ioctl(a, sys.TUNSETIFF, new Uint8Array(sys.SIZEOF_IFREQ));
      sys.close(a); sys.close(b);
      return r;
    }, want: -sys.ENOTTY },
  { name: 'open of a missing file', call: () => sys.open('/nonexistent/netshard', sys.O_RDONLY | sys.O_CLOEXEC), want: -sys.ENOENT },
]) {
  Syscalls(`error return: ${c.name}`, () => {
    assert.is(c.call(), c.want);
  });
}

Syscalls('if_nametoindex: lo has an index, a missing name gives 0', () => {
  assert.ok(sys.if_nametoindex('lo') > 0);
  assert.is(sys.if_nametoindex('nsnone' + sys.getpid()), 0);
});

Syscalls('errnoName and errnoError', () => {
  assert.is(sys.errnoName(sys.EAGAIN), 'EAGAIN');
  assert.is(sys.errnoName(sys.EOPNOTSUPP), 'EOPNOTSUPP');
  assert.is(sys.errnoName(sys.ECONNRESET), 'ECONNRESET');
  assert.is(sys.errnoName(4095), 'E4095');
  const err = sys.errnoError('read', -sys.EBADF);
  assert.ok(err instanceof NetshardError);
  assert.is(err.code, 'EBADF');
  assert.is(err.errno, sys.EBADF);
  assert.is(err.syscall, 'read');
  assert.is(err.message, 'read failed: EBADF (Bad file descriptor)');
  assert.is(sys.errnoError('bind', sys.EADDRINUSE, 'eth0').message, 'bind eth0 failed: EADDRINUSE (Address already in use)');
});

Syscalls('writeAddress: two u32 halves with Number math', () => {
  const w = new Uint32Array(4);
  sys.writeAddress(w, 0, 0x7fff_1234_5678);
  assert.is(w[0], 0x1234_5678);
  assert.is(w[1], 0x7fff);
  sys.writeAddress(w, 2, 2 ** 53 - 1);
  assert.is(w[2], 0xffff_ffff);
  assert.is(w[3], 0x1f_ffff);
  const big = new BigUint64Array(w.buffer);
  assert.is(big[0], 0x7fff_1234_5678n);
});

Syscalls.run();
