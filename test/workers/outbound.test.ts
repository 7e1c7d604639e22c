/**
 * The coordinator's send path over 3 socketpairs: each packet leaves on `fds[hash % 3]` through the
 * owning worker's tx ring, consecutive packets for one fd go in one ring publish (gVisor's WritePackets),
 * UDP flows spread over the fds by their hash (gVisor would put them all on fds[0]), a reply built by the
 * stack leaves on its request's fd, a full tx ring drops and counts without losing a frame, and every
 * tx frame comes home.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { closeFds, openSocketPair, syscalls as sys } from '../../src/fdbased/index.ts';
import { Engine, OutboundBatch, type InboundPacket, type PacketSender } from '../../src/workers/index.ts';
import { drain, send, udp4, until } from './fixtures/packets.ts';

const Outbound = suite('workers/outbound');

Outbound('writePackets over 3 fds: fds[hash % 3], one publish per run, replies on the request fd, full ring drops', async () => {
  const pairs = [openSocketPair(), openSocketPair(), openSocketPair()];
  for (const p of pairs) sys.setNonBlocking(p[0]);
  const peers = pairs.map((p) => p[0]);
  const replies = new OutboundBatch(16);
  let sender: PacketSender | null = null;
  const requestHashes: number[] = [];
  const engine = new Engine({
    links: [{ fds: pairs.map((p) => p[1]) }],
    frameCount: 64,
    txFrameCount: 64,
    ringCapacity: 16,
    stack: {
      start(engine) {
        sender = engine;
      },
      // Echo each UDP datagram back with addresses and ports swapped, in a tx frame, keeping its flow hash.
      deliverNetworkPacket(p: InboundPacket) {
        const s = sender!;
        const frame = s.allocTxFrame();
        if (frame < 0) return;
        const at = s.txPool.offsetOf(frame);
        const out = s.txPool.bytes;
        out.set(p.bytes.subarray(p.offset, p.offset + p.length), at);
        out.copyWithin(at + 12, p.offset + 16, p.offset + 20); // source ← destination
        out.set(p.bytes.subarray(p.offset + 12, p.offset + 16), at + 16); // destination ← source
        out.copyWithin(at + 20, p.offset + 22, p.offset + 24);
        out.set(p.bytes.subarray(p.offset + 20, p.offset + 22), at + 22);
        requestHashes.push(p.hash >>> 0);
        replies.add(frame, 0, p.length, p.hash);
      },
      flush() {
        if (replies.count > 0) sender!.writePackets(0, replies);
      },
    },
  });
  await engine.start();
  const got: Uint8Array[][] = [[], [], []];
  const readAll = () => peers.forEach((fd, i) => drain(fd, got[i]!));
  try {
    // 1. Hash % 3: 0 0 0 | 1 1 | 2 | 0 0 | 2 2 2 | 1  → 6 runs.
    const hashes = [0, 3, 6, 1, 4, 5, 9, 12, 2, 8, 11, 7];
    const batch = new OutboundBatch(hashes.length);
    hashes.forEach((hash, seq) => {
      const frame = engine.allocTxFrame();
      engine.txPool.bytes.set(udp4({ flow: hash, seq }), engine.txPool.offsetOf(frame));
      batch.add(frame, 0, 36, hash);
    });
    assert.is(engine.writePackets(0, batch), hashes.length);
    assert.is(batch.count, 0, 'the batch is cleared');
    assert.is(engine.coordinatorStats().txRuns, 6, 'one tx ring publish per run of consecutive same-fd packets');
    await until(() => (readAll(), got.flat().length === hashes.length), 5000, 'all sent');
    for (let fd = 0; fd < 3; fd++) {
      const seqs = got[fd]!.map((b) => new DataView(b.buffer).getUint32(32));
      const want = hashes.map((h, seq) => ({ h, seq })).filter((x) => x.h % 3 === fd).map((x) => x.seq);
      assert.equal(seqs, want, `fd ${fd}: its packets, in order`);
    }
    // A peer can read a packet before the worker's completion for it reaches the coordinator: wait for it.
    await until(() => engine.framePools()[0]!.available === 64, 5000, 'tx frames came home');

    // 2. UDP flows spread by their 5-tuple hash; each reply leaves on fds[request hash % 3].
    for (const g of got) g.length = 0;
    const FLOWS = 12;
    for (let flow = 0; flow < FLOWS; flow++) send(peers[flow % 3]!, udp4({ sourcePort: 20_000 + flow, flow }));
    await until(() => (readAll(), got.flat().length === FLOWS), 5000, 'all replies');
    const replyFd = new Map<number, number>();
    got.forEach((packets, fd) => packets.forEach((b) => {
      const v = new DataView(b.buffer);
      assert.is(v.getUint16(22), 20_000 + v.getUint32(28), 'reply: ports swapped');
      replyFd.set(v.getUint32(28), fd);
    }));
    assert.is(replyFd.size, FLOWS);
    const used = new Set(replyFd.values());
    assert.ok(used.size > 1, `UDP flows spread over ${used.size} fds, not all on fds[0]`);
    assert.equal([...replyFd.values()].sort(), requestHashes.map((h) => h % 3).sort(), 'each reply on fds[hash % 3] of its request');

    // 3. A run longer than the tx ring (16): the rest is dropped, counted, and its frames freed.
    for (const g of got) g.length = 0;
    const big = new OutboundBatch(40);
    for (let seq = 0; seq < 40; seq++) {
      const frame = engine.allocTxFrame();
      engine.txPool.bytes.set(udp4({ flow: 7, seq }), engine.txPool.offsetOf(frame));
      big.add(frame, 0, 36, 3); // all to fd 0
    }
    const before = engine.coordinatorStats().txRingDrops;
    assert.is(engine.writePackets(0, big), 16);
    assert.is(engine.coordinatorStats().txRingDrops - before, 24);
    await until(() => (readAll(), got[0]!.length === 16), 5000, 'the 16 queued packets');
    await until(() => engine.framePools()[0]!.available === 64, 5000, 'every tx frame home');
  } finally {
    await engine.stop();
    closeFds(pairs.flat());
  }
  for (const p of engine.framePools()) assert.is(p.available, p.frameCount, `pool of slot ${p.slot} is full`);
  assert.is(engine.writePackets(0, new OutboundBatch(1)), 0, 'after stop: nothing queued');
});

Outbound.run();
