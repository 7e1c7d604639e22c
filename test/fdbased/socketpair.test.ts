/** openSocketPair: types, flags, buffer sizes, and its option checks. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { closeFds, openSocketPair, syscalls as sys, type SocketPairOptions } from '../../src/fdbased/index.ts';

const Pair = suite('fdbased/socketpair');

for (const c of [
  { options: {}, type: sys.SOCK_SEQPACKET, nonBlocking: false },
  { options: { type: 'dgram' }, type: sys.SOCK_DGRAM, nonBlocking: false },
  { options: { type: 'seqpacket', nonBlocking: true }, type: sys.SOCK_SEQPACKET, nonBlocking: true },
] as { options: SocketPairOptions; type: number; nonBlocking: boolean }[]) {
  Pair(`openSocketPair(${JSON.stringify(c.options)})`, () => {
    const fds = openSocketPair(c.options);
    try {
      for (const fd of fds) {
        assert.is(sys.getsockoptInt(fd, sys.SOL_SOCKET, sys.SO_TYPE), c.type);
        assert.is(sys.socketDomain(fd), sys.AF_UNIX);
        assert.is(sys.fcntl(fd, sys.F_GETFD) & sys.FD_CLOEXEC, sys.FD_CLOEXEC);
        assert.is((sys.fcntl(fd, sys.F_GETFL) & sys.O_NONBLOCK) !== 0, c.nonBlocking);
      }
      assert.is(sys.write(fds[0], Uint8Array.of(1, 2, 3), 3), 3);
      const buf = new Uint8Array(8);
      assert.is(sys.read(fds[1], buf, 8), 3, 'message boundaries kept');
    } finally {
      closeFds(fds);
    }
  });
}

Pair('receiveBuffer / sendBuffer set SO_RCVBUF / SO_SNDBUF (the kernel doubles them)', () => {
  const fds = openSocketPair({ receiveBuffer: 32768, sendBuffer: 16384 });
  try {
    assert.is(sys.getsockoptInt(fds[0], sys.SOL_SOCKET, sys.SO_RCVBUF), 65536);
    assert.is(sys.getsockoptInt(fds[1], sys.SOL_SOCKET, sys.SO_SNDBUF), 32768);
  } finally {
    closeFds(fds);
  }
});

for (const c of [
  { options: { type: 'stream' }, code: 'ERR_INVALID_ARG_VALUE' },
  { options: { nonblocking: true }, code: 'ERR_INVALID_ARG_VALUE' },
  { options: { receiveBuffer: 0 }, code: 'ERR_OUT_OF_RANGE' },
  { options: { nonBlocking: 1 }, code: 'ERR_INVALID_ARG_TYPE' },
]) {
  Pair(`bad options ${JSON.stringify(c.options)} throw ${c.code}`, () => {
    assert.throws(() => openSocketPair(c.options as SocketPairOptions), (e: { code?: string }) => e.code === c.code);
  });
}

Pair.run();
