/**
 * The endpoint over real socketpairs, after gVisor's endpoint_test.go (REFERENCE-gvisor.md §2.10): its
 * options and properties, receive with the Ethernet header stripped (and frames for other hosts dropped,
 * not ending the loop), the closed callback once per fd on stop, EOF and peer close, and a loop blocked in
 * poll in a worker that ends after stop().
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { once } from 'node:events';
import { spawnWorker } from '../../src/spawn-worker.ts';
import { FramePool } from '../../src/ring/index.ts';
import {
  LINK_COUNTER_COUNT,
  LinkCounter,
  RECEIVE_EOF,
  RECEIVE_STOPPED,
  WaitResult,
  closeFds,
  createEndpoint,
  openSocketPair,
  runDispatchLoop,
  stopHandle,
  syscalls as sys,
  PacketWriter,
  TxBatch,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_TCPV4,
  type EndpointOptions,
  type StopHandle,
} from '../../src/fdbased/index.ts';
import type { NetshardError } from '../../src/errors.ts';
import { hex, toHex } from '../helpers/hex.ts';

const Endpoint = suite('fdbased/endpoint');

// ---------------------------------------------------------------------------------------------------------
// Options at the door

for (const c of [
  { name: 'no fds', options: { fds: [] }, code: 'ERR_OUT_OF_RANGE', message: 'options.fds must be an array of at least 1 element(s), received 0' },
  { name: 'fds missing', options: {}, code: 'ERR_INVALID_ARG_TYPE', message: 'options.fds must be an array, received undefined' },
  { name: 'an unknown key', options: { fds: [0], mtus: 1 }, code: 'ERR_INVALID_ARG_VALUE', message: /^options\.mtus is not a known option/ },
  { name: 'a repeated fd', options: { fds: [0, 0] }, code: 'ERR_INVALID_ARG_VALUE', message: 'options.fds[1] repeats fd 0' },
  { name: 'a negative fd', options: { fds: [-1] }, code: 'ERR_OUT_OF_RANGE', message: /^options\.fds\[0\] must be an integer >= 0/ },
  { name: 'mtu too small', options: { fds: [0], mtu: 67 }, code: 'ERR_OUT_OF_RANGE', message: 'options.mtu must be an integer >= 68 and <= 65535, received 67' },
  { name: 'a bad link address', options: { fds: [0], linkAddress: '11:22:33' }, code: 'ERR_INVALID_ARG_VALUE', message: `options.linkAddress must be a link address like "02:00:00:00:00:01", received '11:22:33'` },
  { name: 'a bad dispatch mode', options: { fds: [0], dispatchMode: 'xdp' }, code: 'ERR_INVALID_ARG_VALUE', message: /^options\.dispatchMode must be one of "readv", "recvmmsg", "mmap"/ },
  { name: 'gsoMaxSize without gsoKind', options: { fds: [0], gsoMaxSize: 32768 }, code: 'ERR_INVALID_ARG_VALUE', message: /^options\.gsoMaxSize must be 0 exactly when options\.gsoKind is 'none'/ },
  { name: 'closed not a function', options: { fds: [0], closed: 1 }, code: 'ERR_INVALID_ARG_TYPE', message: 'options.closed must be a function' },
  { name: 'a batch of 0', options: { fds: [0], batchSize: 0 }, code: 'ERR_OUT_OF_RANGE', message: /^options\.batchSize must be an integer >= 1/ },
  { name: 'a closed fd', options: { fds: [1_000_000] }, code: 'EBADF', message: /^fcntl \(fd 1000000, O_NONBLOCK\) failed: EBADF/ },
]) {
  Endpoint(`createEndpoint throws ${c.code} for ${c.name}`, () => {
    try {
      createEndpoint(c.options as unknown as EndpointOptions);
      assert.unreachable('should throw');
    } catch (err) {
      const e = err as NetshardError;
      assert.is(e.code, c.code, String(err));
      if (typeof c.message === 'string') assert.is(e.message, c.message);
      else assert.match(e.message, c.message);
    }
  });
}

// ---------------------------------------------------------------------------------------------------------
// Properties (TestNoEthernetProperties, TestEthernetProperties, TestAddress, TestSetAddress, TestMTU)

Endpoint('properties: header length, MTU, link address; fds become non-blocking', () => {
  const [a, b] = openSocketPair();
  try {
    const plain = createEndpoint({ fds: [b] });
    assert.is(plain.maxHeaderLength, 0);
    assert.is(plain.mtu, 1500);
    assert.is(plain.linkAddress, '');
    assert.equal(plain.isSocket, [true]);
    assert.equal(plain.dispatchModes, ['recvmmsg']);
    assert.is(plain.gsoKind, 'none');
    assert.is(sys.fcntl(b, sys.F_GETFL) & sys.O_NONBLOCK, sys.O_NONBLOCK);
    const eth = createEndpoint({ fds: [b], ethernetHeader: true, linkAddress: '11:22:33:44:55:66', mtu: 9000, dispatchMode: 'readv' });
    assert.is(eth.maxHeaderLength, 14);
    assert.is(eth.mtu, 9000);
    assert.is(eth.linkAddress, '11:22:33:44:55:66');
    assert.equal(eth.dispatchModes, ['readv']);
    eth.setLinkAddress(hex('02 00 00 00 00 2a'));
    assert.is(eth.linkAddress, '02:00:00:00:00:2a');
    eth.setLinkAddress('');
    assert.is(eth.linkAddress, '');
    for (const mtu of [200, 300]) {
      eth.setMtu(mtu);
      assert.is(eth.mtu, mtu);
    }
    assert.throws(() => eth.setMtu(70000), (e: NetshardError) => e.code === 'ERR_OUT_OF_RANGE');
    const gso = createEndpoint({ fds: [b], gsoKind: 'software' });
    assert.is(gso.gsoMaxSize, 65536);
    assert.equal(gso.vnetHeaders, [false]);
  } finally {
    closeFds([a, b]);
  }
});

Endpoint('a pipe is not a socket: readv whatever the mode, no software GSO (gVisor: GSO only on sockets), no virtio-net header', () => {
  const p = new Int32Array(2);
  assert.is(sys.pipe2(p, sys.O_CLOEXEC), 0);
  try {
    const ep = createEndpoint({ fds: [p[0] as number], dispatchMode: 'recvmmsg', gsoKind: 'software' });
    assert.equal(ep.isSocket, [false]);
    assert.equal(ep.dispatchModes, ['readv']);
    assert.is(ep.gsoKind, 'none');
    assert.equal(ep.vnetHeaders, [false]);
    const pool = FramePool.create({ frameSize: 2048, frameCount: 4 });
    assert.is(ep.attach(0, pool).mode, 'readv');
    ep.close();
  } finally {
    closeFds([p[0] as number, p[1] as number]);
  }
});

// ---------------------------------------------------------------------------------------------------------
// Virtio-net headers (what an fd carries is learned from the fd; AF_PACKET and TUN/TAP: gso-veth and tun tests)

Endpoint("hardware GSO on an fd that cannot carry a virtio-net header (a pipe) throws, naming the fd", () => {
  const p = new Int32Array(2);
  assert.is(sys.pipe2(p, sys.O_CLOEXEC), 0);
  const [a, b] = openSocketPair();
  try {
    for (const fds of [[p[0] as number], [b, p[0] as number]]) {
      const at = fds.indexOf(p[0] as number);
      try {
        createEndpoint({ fds, gsoKind: 'hardware' });
        assert.unreachable('should throw');
      } catch (err) {
        const e = err as NetshardError;
        assert.is(e.code, 'ERR_INVALID_ARG_VALUE', String(err));
        assert.is(e.message, `options.gsoKind 'hardware' needs a virtio-net header on every fd; options.fds[${at}] (fd ${p[0]}, neither a socket nor a TUN/TAP queue) has none: such an fd cannot carry one: use gsoKind 'software' or 'none'`);
      }
    }
  } finally {
    closeFds([p[0] as number, p[1] as number, a, b]);
  }
});

for (const dispatchMode of ['readv', 'recvmmsg'] as const) {
  Endpoint(`${dispatchMode}: a socket under hardware GSO carries a virtio-net header: dropped on receive before the Ethernet strip`, () => {
    const [peer, fd] = openSocketPair({ type: 'dgram' });
    const ep = createEndpoint({ fds: [fd], gsoKind: 'hardware', ethernetHeader: true, linkAddress: LOCAL, dispatchMode });
    const pool = FramePool.create({ frameSize: 2048, frameCount: 8 });
    try {
      assert.equal(ep.vnetHeaders, [true]);
      assert.is(ep.gsoKind, 'hardware');
      ep.attach(0, pool, { rxOffset: 32 });
      const frames = [
        hex('00 00 0000 0000 0000 0000   022233445566 768899aabbcc 0800  45000014'), // GSO none, to us
        hex('01 00 0000 0000 2200 1000   ffffffffffff 768899aabbcc 0806  00010800'), // NEEDS_CSUM, broadcast
        hex('00 00 0000 0000 0000 0000   022233445567 768899aabbcc 0800  45000014'), // another host: dropped
        hex('00 00 0000 0000 0000 00'), // 9 bytes: shorter than the virtio-net header, dropped
      ];
      for (const f of frames) assert.is(sys.write(peer, f, f.length), f.length);
      const got: string[] = [];
      const slots = new Int32Array(8);
      const lengths = new Int32Array(8);
      for (let round = 0; round < 20 && got.length < 2; round++) {
        const k = pool.allocBatch(slots, 8);
        const n = ep.receive(0, slots, lengths, k);
        assert.ok(n >= 0, `receive: ${n}`);
        for (let i = 0; i < n; i++) {
          const at = pool.offsetOf(slots[i] as number) + ep.networkOffset(0);
          got.push(toHex(pool.bytes.subarray(at - 14, at + (lengths[i] as number))));
        }
        pool.freeBatch(slots, k);
        if (n === 0) ep.wait(0, 100);
      }
      assert.equal(got, [frames[0]!, frames[1]!].map((f) => toHex(f.subarray(10))));
      assert.is(ep.networkOffset(0), 32 + 14, 'the header is read into scratch, not into the frame');
      assert.is(ep.linkCounters[LinkCounter.rxOtherHost], 1);
      assert.is(ep.dispatcher(0)!.counters.rxEmpty, 1, 'the 9-byte datagram');
    } finally {
      ep.close();
      closeFds([peer, fd]);
    }
  });
}

Endpoint('per-fd virtio-net headers: the writer puts one only before packets to fds that carry one; addFrame clears a stale one', () => {
  const pairs = [openSocketPair({ type: 'seqpacket' }), openSocketPair({ type: 'seqpacket' })];
  for (const [reader] of pairs) sys.setNonBlocking(reader);
  const writer = new PacketWriter({ fds: pairs.map((p) => p[1]), isSocket: [true, true], ethernetHeader: false, vnetHeader: [true, false] });
  try {
    const memory = new Uint8Array(new SharedArrayBuffer(64));
    memory.set(hex('45 00 00 14'), 0);
    const id = writer.registerMemory(memory);
    const batch = new TxBatch(4);
    for (const hash of [0, 1]) {
      const i = batch.add(hash, id, 0, 4);
      batch.setVirtioNet(i, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 54, 1448, 34, 16);
    }
    assert.is(writer.writePackets(batch), 2);
    assert.is(writer.writePacket(batch, 1), 4, 'no header before a packet to fd 1');
    batch.clear();
    batch.addFrame(0, id, 0, 4); // reuses slot 0, whose GSO header must not leak into this frame
    assert.is(writer.writePacket(batch, 0), 10 + 4);
    const read = (fd: number): string[] => {
      const out: string[] = [];
      const buf = new Uint8Array(256);
      for (let r = sys.read(fd, buf, buf.length); r > 0; r = sys.read(fd, buf, buf.length)) out.push(toHex(buf.subarray(0, r)));
      return out;
    };
    assert.equal(read(pairs[0]![0]), [
      toHex(hex('01 01 3600 a805 2200 1000  45000014')), // NEEDS_CSUM, TCPV4, hdr_len 54, gso_size 1448, csum 34 + 16
      toHex(hex('00 00 0000 0000 0000 0000  45000014')), // the frame added with addFrame: GSO none
    ]);
    assert.equal(read(pairs[1]![0]), [toHex(hex('45000014')), toHex(hex('45000014'))]);
    assert.throws(
      () => new PacketWriter({ fds: [3, 4], isSocket: [true, true], ethernetHeader: false, vnetHeader: [true] }),
      (e: NetshardError) => e.code === 'ERR_INVALID_ARG_VALUE' && e.message === 'options.vnetHeader must be a boolean or have one entry per fd (2), received 1',
    );
  } finally {
    closeFds(pairs.flat());
  }
});

Endpoint("dispatch mode 'mmap' needs an AF_PACKET socket: attach on an AF_UNIX socket throws", () => {
  const [a, b] = openSocketPair();
  try {
    const ep = createEndpoint({ fds: [b], dispatchMode: 'mmap' });
    const pool = FramePool.create({ frameSize: 2048, frameCount: 4 });
    assert.throws(() => ep.attach(0, pool), (e: NetshardError) => e.code === 'ERR_INVALID_ARG_VALUE');
    ep.close();
  } finally {
    closeFds([a, b]);
  }
});

Endpoint('attach twice, or with an option of another mode, throws', () => {
  const [a, b] = openSocketPair();
  try {
    const ep = createEndpoint({ fds: [b] });
    const pool = FramePool.create({ frameSize: 2048, frameCount: 4 });
    assert.throws(() => ep.attach(0, pool, { ringFrames: 64 }), (e: NetshardError) => e.code === 'ERR_INVALID_ARG_VALUE');
    assert.throws(() => ep.attach(1, pool), (e: NetshardError) => e.code === 'ERR_OUT_OF_RANGE');
    ep.attach(0, pool);
    assert.throws(() => ep.attach(0, pool), (e: NetshardError) => e.code === 'ERR_NETSHARD_ATTACHED');
    ep.close();
  } finally {
    closeFds([a, b]);
  }
});

// ---------------------------------------------------------------------------------------------------------
// Receive (TestDeliverPacket, TestDispatchPacketFormat, plus the inbound MAC filter)

// A unicast address (the low bit of the first byte clear; gVisor's test address 11:… is a group address).
const LOCAL = '02:22:33:44:55:66';
const FRAMES = [
  { name: 'to us', bytes: hex('022233445566 768899aabbcc 0800  4000 0000'), deliver: true },
  { name: 'broadcast', bytes: hex('ffffffffffff 768899aabbcc 0806  0001 0800'), deliver: true },
  { name: 'to another host', bytes: hex('022233445567 768899aabbcc 0800  4000 0000'), deliver: false },
  { name: 'IPv6 multicast', bytes: hex('333300000001 768899aabbcc 86dd  6000 0000'), deliver: true },
  { name: 'shorter than a header', bytes: hex('022233445566 7688'), deliver: false },
  { name: 'a bare header', bytes: hex('022233445566 768899aabbcc 0800'), deliver: true },
];

for (const dispatchMode of ['readv', 'recvmmsg'] as const) {
  for (const withAddress of [true, false]) {
    Endpoint(`${dispatchMode}: Ethernet stripped by offset; ${withAddress ? 'other hosts dropped and counted' : 'no address: every frame accepted'}`, () => {
      const [peer, fd] = openSocketPair({ type: 'dgram' });
      let closedCalls = 0;
      const ep = createEndpoint({ fds: [fd], ethernetHeader: true, linkAddress: withAddress ? LOCAL : '', dispatchMode, closed: () => closedCalls++ });
      const pool = FramePool.create({ frameSize: 2048, frameCount: 16 });
      ep.attach(0, pool, { rxOffset: 64 });
      try {
        for (const f of FRAMES) assert.is(sys.write(peer, f.bytes, f.bytes.length), f.bytes.length);
        const want = FRAMES.filter((f) => f.bytes.length >= 14 && (f.deliver || !withAddress));
        const frames = new Int32Array(16);
        const lengths = new Int32Array(16);
        const got: string[] = [];
        for (let round = 0; round < 20 && got.length < want.length; round++) {
          const k = pool.allocBatch(frames, 16);
          const n = ep.receive(0, frames, lengths, k);
          assert.ok(n >= 0, `receive: ${n}`);
          for (let i = 0; i < n; i++) {
            const at = pool.offsetOf(frames[i] as number) + ep.networkOffset(0);
            assert.is(ep.networkOffset(0), 64 + 14);
            // The network bytes, and the link header still readable in front of them.
            got.push(toHex(pool.bytes.subarray(at - 14, at + (lengths[i] as number))));
          }
          pool.freeBatch(frames, k);
          if (n === 0) ep.wait(0, 100);
        }
        assert.equal(got, want.map((f) => toHex(f.bytes)));
        const base = 0 * LINK_COUNTER_COUNT;
        assert.is(ep.linkCounters[base + LinkCounter.rxShort], 1);
        assert.is(ep.linkCounters[base + LinkCounter.rxOtherHost], withAddress ? 1 : 0);
        assert.is(ep.ended(0), false, 'a frame for another host does not end the loop (unlike gVisor readv)');
        assert.is(closedCalls, 0);
      } finally {
        ep.close();
        closeFds([peer, fd]);
      }
    });
  }
}

// ---------------------------------------------------------------------------------------------------------
// The end of a loop: closed runs exactly once per fd

Endpoint('peer close: the loop delivers what was sent, ends with EOF, closed runs once', () => {
  for (const dispatchMode of ['readv', 'recvmmsg'] as const) {
    const [peer, fd] = openSocketPair({ type: 'seqpacket' });
    const calls: (string | null)[] = [];
    const ep = createEndpoint({ fds: [fd], dispatchMode, closed: (i, err) => calls.push(`${i}:${err === null ? 'null' : err.code}`) });
    const pool = FramePool.create({ frameSize: 2048, frameCount: 8 });
    ep.attach(0, pool);
    try {
      for (let p = 0; p < 20; p++) sys.write(peer, Uint8Array.of(p, 1, 2, 3), 4);
      sys.close(peer);
      const seen: number[] = [];
      const code = runDispatchLoop(ep, 0, pool, (frames, lengths, n) => {
        for (let i = 0; i < n; i++) {
          assert.is(lengths[i], 4);
          seen.push(pool.bytes[pool.offsetOf(frames[i] as number)] as number);
        }
        pool.freeBatch(frames, n);
      }, { batchSize: 4 });
      assert.is(code, RECEIVE_EOF, dispatchMode);
      assert.equal(seen, Array.from({ length: 20 }, (_, p) => p));
      assert.equal(calls, ['0:ERR_NETSHARD_EOF']);
      // Later calls report the end again but never call back twice.
      assert.is(ep.receive(0, new Int32Array(1), new Int32Array(1), 1), RECEIVE_EOF);
      assert.is(ep.wait(0, 0), WaitResult.Stopped);
      assert.equal(calls.length, 1);
      assert.is(pool.available, 8, 'the loop gave back every frame');
    } finally {
      ep.close();
      sys.close(fd);
    }
  }
});

Endpoint('stop before the loop: it ends at once, even with packets waiting, with RECEIVE_STOPPED and closed(null), once per fd', () => {
  const pairs = [openSocketPair(), openSocketPair()];
  const calls: string[] = [];
  const ep = createEndpoint({ fds: pairs.map((p) => p[1]), closed: (i, err) => calls.push(`${i}:${err === null ? 'null' : err.code}`) });
  const pool = FramePool.create({ frameSize: 2048, frameCount: 8 });
  try {
    ep.attach(0, pool);
    ep.attach(1, pool);
    // Packets waiting do not hide the stop: receive checks it before reading (gVisor sees it only in poll).
    for (const [peer] of pairs) for (let p = 0; p < 5; p++) sys.write(peer, Uint8Array.of(p), 1);
    ep.stop();
    assert.is(runDispatchLoop(ep, 0, pool, () => assert.unreachable('no packets')), RECEIVE_STOPPED);
    assert.is(runDispatchLoop(ep, 1, pool, () => assert.unreachable('no packets')), RECEIVE_STOPPED);
    assert.is(runDispatchLoop(ep, 1, pool, () => assert.unreachable('no packets')), RECEIVE_STOPPED);
    assert.equal(calls, ['0:null', '1:null']);
    assert.is(pool.available, 8);
  } finally {
    ep.close();
    closeFds(pairs.flat());
  }
});

Endpoint('a deliver that throws keeps the frames it was handed: the loop frees only its own, then rethrows', () => {
  const [peer, fd] = openSocketPair({ type: 'seqpacket' });
  const ep = createEndpoint({ fds: [fd], dispatchMode: 'recvmmsg' });
  const pool = FramePool.create({ frameSize: 2048, frameCount: 8 });
  try {
    ep.attach(0, pool);
    for (let p = 0; p < 3; p++) sys.write(peer, Uint8Array.of(p), 1);
    const queued: number[] = []; // stands in for a ring the frames went into before deliver failed
    assert.throws(() => runDispatchLoop(ep, 0, pool, (frames, _lengths, n) => {
      for (let i = 0; i < n; i++) queued.push(frames[i] as number);
      throw new Error('consumer failed');
    }, { batchSize: 4 }), /consumer failed/);
    assert.is(queued.length, 3);
    assert.is(pool.available, 8 - 3, 'the delivered frames are still out (in the "ring"), the rest came back');
    for (const f of queued) assert.ok(pool.free(f), `frame ${f} was still out`);
    assert.is(pool.available, 8);
    assert.is(pool.doubleFrees, 0);
  } finally {
    ep.close();
    closeFds([peer, fd]);
  }
});

for (const c of [
  { name: 'a pool without allocBatch', pool: {}, deliver: () => {}, message: 'pool must have allocBatch() and free() (a FramePool), received an instance of Object' },
  { name: 'a null pool', pool: null, deliver: () => {}, message: 'pool must have allocBatch() and free() (a FramePool), received null' },
  { name: 'a deliver that is not a function', pool: undefined, deliver: 7, message: 'deliver must be a function (frames, lengths, count) => void, received type number (7)' },
]) {
  Endpoint(`runDispatchLoop throws ERR_INVALID_ARG_TYPE for ${c.name}`, () => {
    const [peer, fd] = openSocketPair();
    const ep = createEndpoint({ fds: [fd] });
    const pool = FramePool.create({ frameSize: 2048, frameCount: 4 });
    try {
      ep.attach(0, pool);
      runDispatchLoop(ep, 0, (c.pool === undefined ? pool : c.pool) as FramePool, c.deliver as never);
      assert.unreachable('should throw');
    } catch (err) {
      assert.is((err as NetshardError).code, 'ERR_INVALID_ARG_TYPE', String(err));
      assert.is((err as NetshardError).message, c.message);
    } finally {
      ep.close();
      closeFds([peer, fd]);
    }
  });
}

Endpoint('a hang-up seen by wait ends the fd with ECONNRESET', () => {
  const [peer, fd] = openSocketPair({ type: 'seqpacket' });
  const calls: string[] = [];
  const ep = createEndpoint({ fds: [fd], closed: (_i, err) => calls.push(err?.code ?? 'null') });
  const pool = FramePool.create({ frameSize: 2048, frameCount: 4 });
  try {
    ep.attach(0, pool);
    sys.close(peer);
    // Waiting on POLLPRI only: the hang-up arrives without readable data on the events asked for.
    const d = ep.dispatcher(0)!;
    assert.is(d.stopFd.wait(fd, 1000, sys.POLLPRI), WaitResult.Hangup);
    assert.equal(calls, []);
  } finally {
    ep.close();
    sys.close(fd);
  }
});

/** Starts the loop worker over `fd`; resolves its stop handle and a promise of how it ended. */
async function startLoopWorker(fd: number, dispatchMode: 'readv' | 'recvmmsg', extra: { pollTimeoutMs?: number; deliveredWord?: Int32Array } = {}) {
  const worker = spawnWorker(new URL('./fixtures/loop-worker.ts', import.meta.url), { workerData: { fd, dispatchMode, ...extra } });
  const exited = once(worker, 'exit');
  let resolveHandle!: (h: StopHandle) => void;
  let resolveEnd!: (e: { code: number; closedCalls: { fdIndex: number; code: string | null }[]; delivered: number; poolFull: boolean }) => void;
  const handle = new Promise<StopHandle>((r) => { resolveHandle = r; });
  const ended = new Promise<Parameters<typeof resolveEnd>[0]>((r) => { resolveEnd = r; });
  worker.on('message', (m) => (m.kind === 'handle' ? resolveHandle(m.handle) : resolveEnd(m)));
  worker.on('error', (err) => { throw err; });
  return { worker, exited, handle, ended };
}

/** Resolves `p`, or rejects after `ms` so a hung loop fails the test instead of hanging the run. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<T>((_r, reject) => { timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms); })]).finally(() => clearTimeout(timer));
}

for (const dispatchMode of ['readv', 'recvmmsg'] as const) {
  Endpoint(`${dispatchMode}: a loop sleeping in poll in a worker ends after stop() from the main thread`, async () => {
    const [peer, fd] = openSocketPair({ type: 'dgram' });
    try {
      const w = await startLoopWorker(fd, dispatchMode);
      const handle = await within(w.handle, 10_000, 'the worker start');
      for (let p = 0; p < 5; p++) sys.write(peer, Uint8Array.of(p), 1);
      assert.is(stopHandle(handle), 0);
      const end = await within(w.ended, 10_000, 'the loop end');
      assert.is(end.code, RECEIVE_STOPPED);
      assert.equal(end.closedCalls, [{ fdIndex: 0, code: null }]);
      assert.ok(end.poolFull, 'the worker pool is full again');
      await w.exited;
    } finally {
      closeFds([peer, fd]);
    }
  });

  Endpoint(`${dispatchMode}: a loop asleep in an hour-long poll with no traffic ends promptly after stop() (the stop eventfd wakes it)`, async () => {
    const [peer, fd] = openSocketPair({ type: 'dgram' });
    try {
      const deliveredWord = new Int32Array(new SharedArrayBuffer(4));
      const w = await startLoopWorker(fd, dispatchMode, { pollTimeoutMs: 3_600_000, deliveredWord });
      const handle = await within(w.handle, 10_000, 'the worker start');
      // One packet proves the loop runs; once it is delivered the loop finds the fd empty and goes to
      // sleep in poll, where a timeout of an hour leaves only the stop eventfd to end the sleep.
      sys.write(peer, Uint8Array.of(7), 1);
      const seen = Atomics.waitAsync(deliveredWord, 0, 0, 10_000);
      if (seen.async) await seen.value;
      assert.is(Atomics.load(deliveredWord, 0), 1, 'the loop delivered the packet');
      await new Promise((r) => setTimeout(r, 100)); // let it reach poll (were it not there yet, it still must end)
      assert.is(stopHandle(handle), 0);
      const end = await within(w.ended, 10_000, 'the loop end after stop');
      assert.is(end.code, RECEIVE_STOPPED);
      assert.is(end.delivered, 1);
      assert.equal(end.closedCalls, [{ fdIndex: 0, code: null }]);
      assert.ok(end.poolFull, 'the worker pool is full again');
      await w.exited;
    } finally {
      closeFds([peer, fd]);
    }
  });

  if (dispatchMode === 'recvmmsg') Endpoint(`${dispatchMode}: closing the peer ends a loop sleeping in a worker; closed runs once`, async () => {
    const [peer, fd] = openSocketPair({ type: 'seqpacket' });
    try {
      const w = await startLoopWorker(fd, dispatchMode);
      await within(w.handle, 10_000, 'the worker start');
      for (let p = 0; p < 3; p++) sys.write(peer, Uint8Array.of(p, p), 2);
      sys.close(peer);
      const end = await within(w.ended, 10_000, 'the loop end');
      assert.is(end.code, RECEIVE_EOF);
      assert.is(end.delivered, 3);
      assert.equal(end.closedCalls, [{ fdIndex: 0, code: 'ERR_NETSHARD_EOF' }]);
      await w.exited;
    } finally {
      sys.close(fd);
    }
  });
}

Endpoint.run();
