/**
 * The readv and recvmmsg dispatchers over real socketpairs (and a pipe for readv): every packet arrives
 * whole, in order, at every length 1..MTU; oversize packets are dropped and counted; the virtio-net header
 * is skipped; EOF, bad frame indices and non-sockets behave as documented.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { FramePool } from '../../src/ring/index.ts';
import {
  DispatcherCounters,
  RECEIVE_EOF,
  WaitResult,
  createReadvDispatcher,
  createRecvmmsgDispatcher,
  openSocketPair,
  closeFds,
  syscalls as sys,
  type Dispatcher,
  type DispatcherOptions,
} from '../../src/fdbased/index.ts';
import { hex, toHex } from '../helpers/hex.ts';

const Dispatch = suite('fdbased/dispatch');

type Make = (o: DispatcherOptions) => Dispatcher;
const MODES: { name: string; make: Make; batch: number }[] = [
  { name: 'readv', make: createReadvDispatcher, batch: 8 },
  { name: 'recvmmsg batch 8', make: (o) => createRecvmmsgDispatcher({ ...o, batchSize: 8 }), batch: 8 },
  { name: 'recvmmsg batch 64', make: (o) => createRecvmmsgDispatcher({ ...o, batchSize: 64 }), batch: 64 },
];

/** Fills `len` bytes with a pattern that names the packet: seq in the first two bytes, then a seeded walk. */
function fillPacket(out: Uint8Array, seq: number, len: number): void {
  let x = (seq * 2654435761) >>> 0;
  for (let i = 0; i < len; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = i === 0 ? seq & 0xff : i === 1 ? (seq >>> 8) & 0xff : x >>> 24;
  }
}

/** Writes one packet of `len` bytes (`seq`'s pattern) on `fd`; asserts the kernel took it. */
function send(fd: number, seq: number, len: number, scratch: Uint8Array): void {
  fillPacket(scratch, seq, len);
  const r = sys.write(fd, scratch, len);
  assert.is(r, len, `write seq ${seq} len ${len}: ${r}`);
}

/**
 * Receives `want` packets with `d` into frames of `pool`, checking each against the pattern of the next
 * expected sequence number and length; frees every frame; returns the number received.
 */
function receiveAndCheck(d: Dispatcher, pool: FramePool, rxOffset: number, expect: { seq: number; len: number }[]): number {
  const frames = new Int32Array(64);
  const lengths = new Int32Array(64);
  const want = new Uint8Array(70000);
  let got = 0;
  for (let rounds = 0; got < expect.length && rounds < 10_000; rounds++) {
    const k = pool.allocBatch(frames, 64);
    const n = d.receive(frames, lengths, k);
    assert.ok(n >= 0, `receive returned ${n}`);
    for (let i = 0; i < n; i++) {
      const e = expect[got + i];
      assert.ok(e !== undefined, 'more packets than sent');
      assert.is(lengths[i], e.len, `packet ${got + i} length`);
      fillPacket(want, e.seq, e.len);
      const at = pool.offsetOf(frames[i] as number) + rxOffset;
      const bytes = pool.bytes.subarray(at, at + e.len);
      if (toHex(bytes) !== toHex(want.subarray(0, e.len))) assert.unreachable(`packet ${got + i} (seq ${e.seq}, len ${e.len}) content differs`);
    }
    got += n;
    pool.freeBatch(frames, k);
    if (n === 0 && got < expect.length) assert.is(d.wait(1000), WaitResult.Ready, 'the peer sent more');
  }
  return got;
}

for (const mode of MODES) {
  for (const type of ['seqpacket', 'dgram'] as const) {
    Dispatch(`${mode.name} over ${type}: every length 1..1500 arrives whole and in order`, () => {
      const [peer, fd] = openSocketPair({ type });
      const pool = FramePool.create({ frameSize: 2048, frameCount: 128 });
      const d = mode.make({ fd, frames: pool });
      try {
        const scratch = new Uint8Array(2048);
        let seq = 0;
        for (let start = 1; start <= 1500; start += 40) {
          const expect: { seq: number; len: number }[] = [];
          for (let len = start; len < start + 40 && len <= 1500; len++) {
            send(peer, seq, len, scratch);
            expect.push({ seq: seq++, len });
          }
          assert.is(receiveAndCheck(d, pool, 0, expect), expect.length);
        }
        const c = d.counters;
        assert.is(c.rxPackets, 1500);
        assert.is(c.rxBytes, (1500 * 1501) / 2);
        assert.is(c.rxTruncated, 0);
        assert.ok(c.rxBatches >= Math.ceil(1500 / mode.batch), `rxBatches ${c.rxBatches}`);
        assert.is(pool.available, 128, 'every frame back in the pool');
      } finally {
        d.close();
        closeFds([peer, fd]);
      }
    });
  }

  Dispatch(`${mode.name}: oversize packets are dropped and counted, the rest delivered in order`, () => {
    const [peer, fd] = openSocketPair({ type: 'dgram' });
    const pool = FramePool.create({ frameSize: 2048, frameCount: 64 });
    // rxOffset 548 leaves 1500 bytes per frame: 1501 does not fit.
    const d = mode.make({ fd, frames: pool, rxOffset: 548 });
    try {
      const scratch = new Uint8Array(4096);
      const lengths = [60, 1501, 1500, 2048, 4000, 1, 1502, 999];
      const expect: { seq: number; len: number }[] = [];
      lengths.forEach((len, seq) => {
        send(peer, seq, len, scratch);
        if (len <= 1500) expect.push({ seq, len });
      });
      assert.is(receiveAndCheck(d, pool, 548, expect), expect.length);
      assert.is(d.counters.rxTruncated, 4);
      assert.is(d.counters.rxPackets, 4);
      assert.is(d.capacity, 1500);
      assert.is(pool.available, 64);
    } finally {
      d.close();
      closeFds([peer, fd]);
    }
  });

  Dispatch(`${mode.name}: a virtio-net header in front is read and dropped`, () => {
    const [peer, fd] = openSocketPair({ type: 'seqpacket' });
    const pool = FramePool.create({ frameSize: 2048, frameCount: 16 });
    const d = mode.make({ fd, frames: pool, vnetHeader: true });
    try {
      const PACKET = hex(`
        01 04 3600 f401 2200 1000   # virtio-net: NEEDS_CSUM, GSO_TCPV6, hdr_len 54, gso_size 500, csum 34+16
        4500 0014 0000 0000 4006 0000 c6120001 c6120002   # an IPv4 header
      `);
      assert.is(sys.write(peer, PACKET, PACKET.length), PACKET.length);
      assert.is(sys.write(peer, PACKET, 7), 7); // shorter than the header: empty
      const frames = new Int32Array(4);
      const lengths = new Int32Array(4);
      pool.allocBatch(frames, 4);
      let n = 0;
      for (let i = 0; i < 10 && n === 0; i++) {
        n = d.receive(frames, lengths, 4);
        if (n === 0) d.wait(1000);
      }
      assert.is(n, 1);
      assert.is(lengths[0], 20);
      const at = pool.offsetOf(frames[0] as number);
      assert.is(toHex(pool.bytes.subarray(at, at + 20)), toHex(PACKET.subarray(10)));
      // The short one may come in the same batch or the next.
      if (d.counters.rxEmpty === 0) d.receive(frames.subarray(1), lengths, 3);
      assert.is(d.counters.rxEmpty, 1);
    } finally {
      d.close();
      closeFds([peer, fd]);
    }
  });

  Dispatch(`${mode.name}: EOF after the peer closes a seqpacket pair, data first`, () => {
    const [peer, fd] = openSocketPair({ type: 'seqpacket' });
    const pool = FramePool.create({ frameSize: 2048, frameCount: 16 });
    const d = mode.make({ fd, frames: pool });
    try {
      const scratch = new Uint8Array(100);
      send(peer, 1, 100, scratch);
      send(peer, 2, 50, scratch);
      sys.close(peer);
      assert.is(receiveAndCheck(d, pool, 0, [{ seq: 1, len: 100 }, { seq: 2, len: 50 }]), 2);
      const frames = new Int32Array(8);
      const lengths = new Int32Array(8);
      pool.allocBatch(frames, 8);
      assert.is(d.receive(frames, lengths, 8), RECEIVE_EOF);
      assert.is(d.receive(frames, lengths, 8), RECEIVE_EOF, 'the end stays the end');
      pool.freeBatch(frames, 8);
    } finally {
      d.close();
      sys.close(fd);
    }
  });

  Dispatch(`${mode.name}: would block returns 0; a frame index outside the pool returns -EINVAL`, () => {
    const [peer, fd] = openSocketPair({ type: 'dgram' });
    const pool = FramePool.create({ frameSize: 2048, frameCount: 4 });
    const counters = new DispatcherCounters();
    const d = mode.make({ fd, frames: pool, counters });
    try {
      const lengths = new Int32Array(2);
      assert.is(d.receive(Int32Array.of(0, 1), lengths, 2), 0);
      assert.is(d.wait(0), WaitResult.Timeout);
      send(peer, 0, 10, new Uint8Array(10));
      assert.is(d.receive(Int32Array.of(4, 1), lengths, 2), -sys.EINVAL);
      assert.is(d.receive(Int32Array.of(-1, 1), lengths, 2), -sys.EINVAL);
      assert.is(d.receive(Int32Array.of(3, 1), lengths, 2), 1, 'the packet waited');
      assert.is(counters.rxPackets, 1, 'counters given at construction are the ones written');
    } finally {
      d.close();
      closeFds([peer, fd]);
    }
  });
}

Dispatch('recvmmsg: compaction keeps every frame index when packets in the middle are dropped', () => {
  const [peer, fd] = openSocketPair({ type: 'dgram' });
  const pool = FramePool.create({ frameSize: 2048, frameCount: 8 });
  const d = createRecvmmsgDispatcher({ fd, frames: pool, batchSize: 8 });
  try {
    const scratch = new Uint8Array(3000);
    for (const [seq, len] of [[0, 10], [1, 3000], [2, 20], [3, 2500], [4, 30]] as const) send(peer, seq, len, scratch);
    const frames = Int32Array.of(7, 6, 5, 4, 3, 2, 1, 0);
    const lengths = new Int32Array(8);
    const n = d.receive(frames, lengths, 8);
    assert.is(n, 3);
    assert.equal([...lengths.subarray(0, 3)], [10, 20, 30]);
    assert.equal([...frames].sort(), [0, 1, 2, 3, 4, 5, 6, 7], 'the same indices, reordered');
    assert.equal([...frames.subarray(0, 3)], [7, 5, 3], 'the filled frames first, in arrival order');
  } finally {
    d.close();
    closeFds([peer, fd]);
  }
});

Dispatch('recvmmsg refuses a non-socket (ENOTSOCK); readv reads a pipe', () => {
  const p = new Int32Array(2);
  assert.is(sys.pipe2(p, sys.O_CLOEXEC), 0);
  const [r, w] = [p[0] as number, p[1] as number];
  const pool = FramePool.create({ frameSize: 2048, frameCount: 4 });
  try {
    try {
      createRecvmmsgDispatcher({ fd: r, frames: pool });
      assert.unreachable('recvmmsg on a pipe');
    } catch (err) {
      assert.is((err as { code?: string }).code, 'ENOTSOCK');
    }
    const d = createReadvDispatcher({ fd: r, frames: pool });
    try {
      assert.is(sys.write(w, hex('deadbeef'), 4), 4);
      const frames = Int32Array.of(2);
      const lengths = new Int32Array(1);
      assert.is(d.receive(frames, lengths, 1), 1);
      assert.is(lengths[0], 4);
      assert.is(toHex(pool.bytes.subarray(pool.offsetOf(2), pool.offsetOf(2) + 4)), 'deadbeef');
      sys.close(w);
      assert.is(d.receive(frames, lengths, 1), RECEIVE_EOF, 'a pipe whose writer closed ends');
    } finally {
      d.close();
    }
  } finally {
    sys.close(r);
    sys.close(w);
  }
});

for (const c of [
  { name: 'unknown key', options: { fd: 0, frames: null, extra: 1 }, code: 'ERR_INVALID_ARG_VALUE' },
  { name: 'frames not over a SharedArrayBuffer', options: { fd: 0, frames: { bytes: new Uint8Array(4096), frameSize: 2048 } }, code: 'ERR_INVALID_ARG_TYPE' },
  { name: 'rxOffset past the frame', options: { fd: 0, frames: { bytes: new Uint8Array(new SharedArrayBuffer(4096)), frameSize: 2048 }, rxOffset: 2048 }, code: 'ERR_OUT_OF_RANGE' },
  { name: 'batch of 0', options: { fd: 0, frames: { bytes: new Uint8Array(new SharedArrayBuffer(4096)), frameSize: 2048 }, batchSize: 0 }, code: 'ERR_OUT_OF_RANGE' },
  { name: 'a closed fd', options: { fd: 1_000_000, frames: { bytes: new Uint8Array(new SharedArrayBuffer(4096)), frameSize: 2048 } }, code: 'EBADF' },
  {
    name: 'a stopFd that is not a StopFd', options: { fd: 0, frames: { bytes: new Uint8Array(new SharedArrayBuffer(4096)), frameSize: 2048 }, stopFd: { eventFd: 5 } },
    code: 'ERR_INVALID_ARG_TYPE', message: 'options.stopFd must be a StopFd (StopFd.create()), received an instance of Object',
  },
  {
    name: 'counters that are not DispatcherCounters', options: { fd: 0, frames: { bytes: new Uint8Array(new SharedArrayBuffer(4096)), frameSize: 2048 }, counters: new Float64Array(8) },
    code: 'ERR_INVALID_ARG_TYPE', message: 'options.counters must be a DispatcherCounters, received an instance of Float64Array',
  },
  {
    name: 'frames smaller than one frame', options: { fd: 0, frames: { bytes: new Uint8Array(new SharedArrayBuffer(1024)), frameSize: 2048 } },
    code: 'ERR_OUT_OF_RANGE', message: 'options.frames.bytes (1024 bytes) holds no whole frame of 2048 bytes',
  },
]) {
  Dispatch(`options: ${c.name} throws ${c.code}`, () => {
    for (const make of [createReadvDispatcher, createRecvmmsgDispatcher]) {
      try {
        make(c.options as unknown as DispatcherOptions);
        assert.unreachable('should throw');
      } catch (err) {
        assert.is((err as { code?: string }).code, c.code, String(err));
        if ('message' in c) assert.is((err as Error).message, c.message);
      }
    }
  });
}

Dispatch.run();
