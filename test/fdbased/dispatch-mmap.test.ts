/**
 * The PACKET_MMAP dispatcher on a real TPACKET_V2 ring: an AF_PACKET socket on one veth end in a test
 * namespace, the kernel sending UDP flows from the other end. It must deliver exactly what was sent (each
 * frame byte for byte, none twice, in order per flow, received + kernel drops = sent), keep returning slots
 * to the kernel (more packets than the ring has slots), and the kernel must respect the status words we
 * write from JS (a slot not handed back is never overwritten). Option and fd checks run without root.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { netnsUnavailableReason } from '../helpers/netns.ts';
import { WaitResult } from '../../src/fdbased/stop-fd.ts';
import { openPacketSockets } from '../../src/fdbased/open-packet.ts';
import { closeFds } from '../../src/fdbased/socketpair.ts';
import { MmapCounter, createMmapDispatcher, ringGeometry, type MmapDispatcher } from '../../src/fdbased/dispatch-mmap.ts';
import { AF_UNIX, SOCK_CLOEXEC, SOCK_DGRAM, close, socketpair } from '../../src/fdbased/syscalls.ts';
import { createVethNetns, destroyVethNetns, parseTestFrame, sendUdpFlows, startUdpFlows, type TestDatagram, type VethNetns } from './veth-netns.ts';
import { expectError } from './fixtures/expect-error.ts';

const Mmap = suite('fdbased/dispatch-mmap');
const PORT = 9998;

function frameArea(frameCount: number, frameSize = 2048): { bytes: Uint8Array; frameSize: number } {
  return { bytes: new Uint8Array(new SharedArrayBuffer(frameCount * frameSize)), frameSize };
}

// Geometry: whole 64 KiB blocks, slots never straddle a block.
for (const c of [
  { frameSize: 2048, frames: 1024, want: { blockSize: 65536, blockCount: 32, frameSize: 2048, frameCount: 1024 } },
  { frameSize: 2048, frames: 8, want: { blockSize: 65536, blockCount: 1, frameSize: 2048, frameCount: 32 } },
  { frameSize: 8192, frames: 8, want: { blockSize: 65536, blockCount: 1, frameSize: 8192, frameCount: 8 } },
  { frameSize: 2128, frames: 31, want: { blockSize: 65536, blockCount: 2, frameSize: 2128, frameCount: 60 } }, // 30 per block
  { frameSize: 65664, frames: 32, want: { blockSize: 131072, blockCount: 32, frameSize: 65664, frameCount: 32 } }, // gVisor's slot
]) {
  Mmap(`ringGeometry(${c.frameSize}, ${c.frames})`, () => {
    assert.equal(ringGeometry(c.frameSize, c.frames), c.want);
  });
}

Mmap('rejects a socket that is not AF_PACKET, and bad ring options', () => {
  const sv = new Int32Array(2);
  assert.is(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
  try {
    const frames = frameArea(4);
    expectError(() => createMmapDispatcher({ fd: sv[0]!, frames }), 'ERR_INVALID_ARG_VALUE');
    expectError(() => createMmapDispatcher({ fd: sv[0]!, frames, ringFrameSize: 2050 }), 'ERR_INVALID_ARG_VALUE');
    expectError(() => createMmapDispatcher({ fd: sv[0]!, frames, ringFrameSize: 64 }), 'ERR_OUT_OF_RANGE');
    expectError(() => createMmapDispatcher({ fd: sv[0]!, frames, ringFrames: 4 }), 'ERR_OUT_OF_RANGE');
    expectError(() => createMmapDispatcher({ fd: sv[0]!, frames, ringSlots: 4 } as never), 'ERR_INVALID_ARG_VALUE');
  } finally {
    close(sv[0]!);
    close(sv[1]!);
  }
});

/**
 * Drains `d` into a pool of `poolFrames` frames (recycled after each batch, as a worker would once it
 * passed the packets on) until `want` datagrams arrived, `idleMs` passed without one, or 15 s.
 */
function collect(d: MmapDispatcher, area: { bytes: Uint8Array; frameSize: number }, rxOffset: number, want: number, idleMs: number): { got: TestDatagram[]; others: number } {
  const poolFrames = area.bytes.byteLength / area.frameSize;
  const frames = new Int32Array(poolFrames);
  const lengths = new Int32Array(poolFrames);
  const got: TestDatagram[] = [];
  let others = 0;
  const deadline = Date.now() + 15_000;
  let last = Date.now();
  while (got.length < want && Date.now() < deadline && Date.now() - last < idleMs) {
    // Hand out the frames in a shuffled order so a dispatcher writing to the wrong frame shows.
    for (let i = 0; i < poolFrames; i++) frames[i] = (i * 7 + got.length) % poolFrames;
    const n = d.receive(frames, lengths, poolFrames);
    assert.ok(n >= 0, `receive returned ${n}`);
    if (n === 0) {
      const w = d.wait(20);
      assert.ok(w === WaitResult.Ready || w === WaitResult.Timeout, `wait returned ${w}`);
      continue;
    }
    last = Date.now();
    for (let i = 0; i < n; i++) {
      const p = parseTestFrame(area.bytes, frames[i]! * area.frameSize + rxOffset, lengths[i]!, PORT);
      if (p === null) others++;
      else got.push(p);
    }
  }
  return { got, others };
}

/**
 * `collect` through the in-place API: peeks ring frames (at most `max` a call), parses them where they
 * lie in the ring, then hands the slots back.
 */
function collectInPlace(d: MmapDispatcher, want: number, idleMs: number, max = 64): { got: TestDatagram[]; others: number } {
  const offsets = new Int32Array(max);
  const lengths = new Int32Array(max);
  const got: TestDatagram[] = [];
  let others = 0;
  const deadline = Date.now() + 15_000;
  let last = Date.now();
  while (got.length < want && Date.now() < deadline && Date.now() - last < idleMs) {
    const n = d.peekInPlace(offsets, lengths, max);
    assert.ok(n >= 0, `peekInPlace returned ${n}`);
    if (n === 0) {
      d.releaseInPlace();
      const w = d.wait(20);
      assert.ok(w === WaitResult.Ready || w === WaitResult.Timeout, `wait returned ${w}`);
      continue;
    }
    last = Date.now();
    for (let i = 0; i < n; i++) {
      const p = parseTestFrame(d.ringMemory, offsets[i]!, lengths[i]!, PORT);
      if (p === null) others++;
      else got.push(p);
    }
    assert.ok(d.releaseInPlace() >= n, 'every peeked slot goes back');
    assert.is(d.releaseInPlace(), 0, 'idempotent');
  }
  return { got, others };
}

function checkExact(got: TestDatagram[], sourcePorts: number[], perFlow: number, payloadBytes: number, drops: number): void {
  const sent = sourcePorts.length * perFlow;
  assert.is(got.length + drops, sent, `received ${got.length} + kernel drops ${drops} != sent ${sent}`);
  const next = new Array<number>(sourcePorts.length).fill(0);
  for (const p of got) {
    assert.ok(p.flow < sourcePorts.length, `flow ${p.flow}`);
    assert.is(p.sourcePort, sourcePorts[p.flow], `flow ${p.flow} source port`);
    assert.is(p.payloadBytes, payloadBytes, 'payload length');
    assert.ok(p.intact, `flow ${p.flow} datagram ${p.seq}: bytes differ from what was sent`);
    // In order per flow, none twice (with drops, a flow may skip ahead but never go back).
    assert.ok(p.seq >= next[p.flow]!, `flow ${p.flow}: datagram ${p.seq} after ${next[p.flow]! - 1}`);
    next[p.flow] = p.seq + 1;
  }
}

const reason = netnsUnavailableReason();
if (reason !== '') {
  console.log(`fdbased/dispatch-mmap: skipping the veth tests: ${reason}`);
} else {
  let topo: VethNetns | undefined;
  Mmap.before(() => {
    topo = createVethNetns('mm');
  });
  Mmap.after(() => {
    destroyVethNetns(topo);
  });

  for (const c of [
    { name: '64-byte frames', payloadBytes: 22, rxOffset: 0 },
    { name: '1500-byte frames, 128 bytes of headroom', payloadBytes: 1458, rxOffset: 128 },
    // Either side of JS_COPY_MAX (256: copied in JS below, by memcpy above), odd lengths, an odd headroom.
    { name: '255-byte frames (JS copy, 3 tail bytes), 3 bytes of headroom', payloadBytes: 213, rxOffset: 3 },
    { name: '257-byte frames (memcpy), 3 bytes of headroom', payloadBytes: 215, rxOffset: 3 },
  ]) {
    Mmap(`${c.name}: delivers exactly what the kernel sent, through a ring 10× smaller than the traffic`, async () => {
      const t = topo!;
      const { fds } = openPacketSockets(t.b, 1, { netns: t.ns });
      const area = frameArea(16);
      let d: MmapDispatcher | undefined;
      try {
        d = createMmapDispatcher({ fd: fds[0]!, frames: area, rxOffset: c.rxOffset, ringFrames: 32 });
        assert.is(d.geometry.frameCount, 32);
        const flows = 4;
        const perFlow = 80; // 320 packets through 32 slots
        // Paced (16 datagrams, then 2 ms) so the reader, running meanwhile, normally keeps up.
        const sender = startUdpFlows(t.ns, { flows, perFlow, payloadBytes: c.payloadBytes, destinationPort: PORT, burst: 16, pauseMs: 2 });
        const { got, others } = collect(d, area, c.rxOffset, flows * perFlow, 3000);
        const sent = await sender.done;
        d.readKernelStatistics();
        const drops = d.ringCounters[MmapCounter.kernelDrops]!;
        if (drops > 0) console.log(`  (${c.name}: the kernel dropped ${drops} of ${flows * perFlow} on this busy machine; accounted for)`);
        checkExact(got, sent.sourcePorts, perFlow, c.payloadBytes, drops);
        assert.ok(got.length > d.geometry.frameCount, `${got.length} packets through ${d.geometry.frameCount} slots: slots were handed back`);
        assert.is(others, 0, 'no other frames');
        assert.is(d.counters.rxPackets, got.length);
        assert.is(d.counters.rxBytes, got.length * (c.payloadBytes + 42));
        assert.is(d.counters.rxTruncated, 0);
      } finally {
        d?.close();
        closeFds(fds);
      }
    });
  }

  Mmap('the kernel respects status words written from JS: a full ring drops, never overwrites; handed-back slots refill', () => {
    const t = topo!;
    const { fds } = openPacketSockets(t.b, 1, { netns: t.ns });
    const area = frameArea(16);
    let d: MmapDispatcher | undefined;
    try {
      d = createMmapDispatcher({ fd: fds[0]!, frames: area, ringFrameSize: 8192, ringFrames: 8 });
      assert.is(d.geometry.frameCount, 8);
      // 12 datagrams into 8 slots, nobody reading: slots 0..7 hold datagrams 0..7, 4 are dropped.
      const first = sendUdpFlows(t.ns, { flows: 1, perFlow: 12, payloadBytes: 100, destinationPort: PORT });
      const a = collect(d, area, 0, 12, 300);
      assert.equal(a.got.map((p) => p.seq), [0, 1, 2, 3, 4, 5, 6, 7], 'the first 8, untouched by the 4 that came later');
      assert.ok(a.got.every((p) => p.intact && p.sourcePort === first.sourcePorts[0]));
      assert.ok(d.counters.rxPackets === 8);
      d.readKernelStatistics();
      assert.is(d.ringCounters[MmapCounter.kernelDrops], 4, 'drops counted by the kernel');
      assert.ok(d.ringCounters[MmapCounter.losingFrames]! >= 0);
      // receive() wrote TP_STATUS_KERNEL into all 8 status words: the kernel fills them again.
      sendUdpFlows(t.ns, { flows: 1, perFlow: 8, payloadBytes: 100, destinationPort: PORT });
      const b = collect(d, area, 0, 8, 300);
      assert.equal(b.got.map((p) => p.seq), [0, 1, 2, 3, 4, 5, 6, 7], 'a second full ring after handing every slot back');
      d.readKernelStatistics();
      assert.is(d.ringCounters[MmapCounter.kernelDrops], 4, 'no new drops');
    } finally {
      d?.close();
      closeFds(fds);
    }
  });

  for (const c of [
    { name: '64-byte frames', payloadBytes: 22 },
    { name: '1500-byte frames', payloadBytes: 1458 },
  ]) {
    Mmap(`in place, ${c.name}: peekInPlace shows exactly what the kernel sent, releaseInPlace returns the slots`, async () => {
      const t = topo!;
      const { fds } = openPacketSockets(t.b, 1, { netns: t.ns });
      let d: MmapDispatcher | undefined;
      try {
        d = createMmapDispatcher({ fd: fds[0]!, frames: frameArea(16), ringFrames: 32 });
        const flows = 4;
        const perFlow = 80; // 320 packets through 32 slots
        const sender = startUdpFlows(t.ns, { flows, perFlow, payloadBytes: c.payloadBytes, destinationPort: PORT, burst: 16, pauseMs: 2 });
        const { got, others } = collectInPlace(d, flows * perFlow, 3000, 16);
        const sent = await sender.done;
        d.readKernelStatistics();
        const drops = d.ringCounters[MmapCounter.kernelDrops]!;
        if (drops > 0) console.log(`  (in place, ${c.name}: the kernel dropped ${drops} of ${flows * perFlow} on this busy machine; accounted for)`);
        checkExact(got, sent.sourcePorts, perFlow, c.payloadBytes, drops);
        assert.ok(got.length > d.geometry.frameCount, `${got.length} packets through ${d.geometry.frameCount} slots: slots were handed back`);
        assert.is(others, 0, 'no other frames');
        assert.is(d.counters.rxPackets, got.length);
        assert.is(d.counters.rxBytes, got.length * (c.payloadBytes + 42));
        assert.is(d.counters.rxTruncated, 0);
      } finally {
        d?.close();
        closeFds(fds);
      }
    });
  }

  Mmap('in place: peeked slots stay ours until releaseInPlace (the kernel drops meanwhile), then a second lap fills them', () => {
    const t = topo!;
    const { fds } = openPacketSockets(t.b, 1, { netns: t.ns });
    let d: MmapDispatcher | undefined;
    try {
      const area = frameArea(16);
      d = createMmapDispatcher({ fd: fds[0]!, frames: area, ringFrameSize: 8192, ringFrames: 8 });
      assert.is(d.geometry.frameCount, 8);
      const offsets = new Int32Array(8), lengths = new Int32Array(8);
      const first = sendUdpFlows(t.ns, { flows: 1, perFlow: 8, payloadBytes: 100, destinationPort: PORT });
      assert.is(d.wait(1000), WaitResult.Ready);
      assert.is(d.peekInPlace(offsets, lengths, 8), 8);
      const seqs = [];
      for (let i = 0; i < 8; i++) {
        const p = parseTestFrame(d.ringMemory, offsets[i]!, lengths[i]!, PORT)!;
        assert.ok(p !== null && p.intact && p.sourcePort === first.sourcePorts[0], `frame ${i} as sent`);
        assert.is(d.ringDataView.getUint16(offsets[i]! + 12), 0x0800, 'the DataView sees the same memory');
        seqs.push(p.seq);
      }
      assert.equal(seqs, [0, 1, 2, 3, 4, 5, 6, 7]);
      // Not released: the kernel must drop what comes now, and leave the frames we hold untouched.
      sendUdpFlows(t.ns, { flows: 1, perFlow: 4, payloadBytes: 100, destinationPort: PORT });
      d.readKernelStatistics();
      assert.is(d.ringCounters[MmapCounter.kernelDrops], 4, 'held slots are not overwritten: the kernel drops');
      for (let i = 0; i < 8; i++) assert.is(parseTestFrame(d.ringMemory, offsets[i]!, lengths[i]!, PORT)!.seq, i, `frame ${i} untouched`);
      assert.is(d.releaseInPlace(), 8);
      // Every status word is KERNEL again: a second full lap.
      sendUdpFlows(t.ns, { flows: 1, perFlow: 8, payloadBytes: 100, destinationPort: PORT });
      const b = collectInPlace(d, 8, 300, 3); // 3 at a time: peeks that end mid-ring and wrap
      assert.equal(b.got.map((p) => p.seq), [0, 1, 2, 3, 4, 5, 6, 7], 'a second lap after releaseInPlace');
      // receive() picks up where the in-place reads left off.
      sendUdpFlows(t.ns, { flows: 1, perFlow: 3, payloadBytes: 100, destinationPort: PORT });
      assert.equal(collect(d, area, 0, 3, 300).got.map((p) => p.seq), [0, 1, 2]);
      assert.is(d.counters.rxPackets, 19);
    } finally {
      d?.close();
      closeFds(fds);
    }
  });

  Mmap('in place: truncated frames are counted and skipped, their slots handed back with the rest', async () => {
    const t = topo!;
    const { fds } = openPacketSockets(t.b, 1, { netns: t.ns });
    let d: MmapDispatcher | undefined;
    try {
      // 128-byte slots, the frame at tp_mac 66: 62 bytes of frame room. 58-byte frames fit, 142-byte ones are cut.
      d = createMmapDispatcher({ fd: fds[0]!, frames: frameArea(16), ringFrameSize: 128, ringFrames: 8 });
      const slots = d.geometry.frameCount;
      sendUdpFlows(t.ns, { flows: 1, perFlow: 3, payloadBytes: 100, destinationPort: PORT });
      sendUdpFlows(t.ns, { flows: 1, perFlow: 3, payloadBytes: 16, destinationPort: PORT });
      const a = collectInPlace(d, 3, 300);
      assert.equal(a.got.map((p) => p.seq), [0, 1, 2], 'the small ones');
      assert.ok(a.got.every((p) => p.intact && p.payloadBytes === 16));
      assert.is(d.counters.rxTruncated, 3);
      assert.is(d.counters.rxPackets, 3);
      // More than a lap: every slot went back, the truncated frames' too.
      const more = slots + 8;
      const sender = startUdpFlows(t.ns, { flows: 1, perFlow: more, payloadBytes: 16, destinationPort: PORT, burst: 16, pauseMs: 2 });
      const b = collectInPlace(d, more, 3000);
      await sender.done;
      d.readKernelStatistics();
      assert.is(b.got.length + d.ringCounters[MmapCounter.kernelDrops]!, more, 'a full lap and more after the truncated frames');
      assert.ok(b.got.length > slots, `${b.got.length} through ${slots} slots`);
      assert.is(d.counters.rxTruncated, 3);
    } finally {
      d?.close();
      closeFds(fds);
    }
  });

  Mmap('packets queued before the ring are purged by the kernel when the ring is set; wait() then sleeps, not spins', () => {
    const t = topo!;
    const { fds } = openPacketSockets(t.b, 1, { netns: t.ns });
    let d: MmapDispatcher | undefined;
    try {
      sendUdpFlows(t.ns, { flows: 1, perFlow: 5, payloadBytes: 16, destinationPort: PORT }); // into the socket queue
      d = createMmapDispatcher({ fd: fds[0]!, frames: frameArea(8), ringFrames: 32 });
      assert.is(d.wait(50), WaitResult.Timeout, 'nothing in the ring, nothing on the queue');
      assert.is(d.receive(new Int32Array([0, 1]), new Int32Array(2), 2), 0);
    } finally {
      d?.close();
      closeFds(fds);
    }
  });

  Mmap('stop() ends wait(); close() gives the ring back so the socket takes a new one', () => {
    const t = topo!;
    const { fds } = openPacketSockets(t.b, 1, { netns: t.ns });
    try {
      const d = createMmapDispatcher({ fd: fds[0]!, frames: frameArea(4), ringFrames: 32 });
      expectError(() => createMmapDispatcher({ fd: fds[0]!, frames: frameArea(4), ringFrames: 32 }), 'EBUSY');
      d.stop();
      assert.is(d.wait(1000), WaitResult.Stopped);
      d.close();
      d.close(); // idempotent
      assert.is(d.receive(new Int32Array(1), new Int32Array(1), 1), -9, 'receive after close: -EBADF, no touch of unmapped memory');
      const area = frameArea(4);
      const again = createMmapDispatcher({ fd: fds[0]!, frames: area, ringFrames: 64 });
      try {
        sendUdpFlows(t.ns, { flows: 1, perFlow: 3, payloadBytes: 16, destinationPort: PORT });
        assert.equal(collect(again, area, 0, 3, 300).got.map((p) => p.seq), [0, 1, 2]);
      } finally {
        again.close();
      }
    } finally {
      closeFds(fds);
    }
  });
}

Mmap.run();
