/**
 * The write path over real socketpairs: packets go out on fds[hash % n], consecutive packets for one fd
 * leave in one sendmmsg (47 at most), the Ethernet and virtio-net headers are added from the batch,
 * EAGAIN drops and counts the rest of a run, non-sockets get one writev per packet.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  PacketWriter,
  SEND_BATCH_SIZE,
  TxBatch,
  TxCounter,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_TCPV6,
  closeFds,
  createEndpoint,
  openSocketPair,
  syscalls as sys,
} from '../../src/fdbased/index.ts';
import { hex, toHex } from '../helpers/hex.ts';

const Write = suite('fdbased/write');

/** Reads every datagram waiting on non-blocking `fd`; returns their bytes. */
function drain(fd: number): Uint8Array[] {
  const buf = new Uint8Array(70000);
  const out: Uint8Array[] = [];
  for (;;) {
    const r = sys.recv(fd, buf, buf.length, sys.MSG_DONTWAIT);
    if (r === -sys.EAGAIN) return out;
    assert.ok(r >= 0, `recv: ${r}`);
    out.push(buf.slice(0, r));
  }
}

/** A registered memory with packet `p` at offset p * 256: byte 0 = p, then `p`'s length - 1 bytes of p ^ 0x5a. */
function packetMemory(count: number): Uint8Array {
  const bytes = new Uint8Array(new SharedArrayBuffer(count * 256));
  for (let p = 0; p < count; p++) {
    bytes[p * 256] = p;
    bytes.fill(p ^ 0x5a, p * 256 + 1, p * 256 + 256);
  }
  return bytes;
}

Write('writePackets: each packet on fds[hash % 3]; one sendmmsg per run of consecutive same-fd packets', () => {
  const pairs = [openSocketPair({ type: 'seqpacket' }), openSocketPair({ type: 'seqpacket' }), openSocketPair({ type: 'seqpacket' })];
  const readers = pairs.map((p) => p[0]);
  for (const fd of readers) sys.setNonBlocking(fd);
  const ep = createEndpoint({ fds: pairs.map((p) => p[1]) });
  try {
    // hash % 3: 0 0 0 | 1 1 | 2 | 0 0 | 2 2 2 | 1  -> 6 runs
    const hashes = [0, 3, 6, 1, 4, 5, 9, 12, 2, 8, 11, 7];
    const memory = packetMemory(hashes.length);
    const id = ep.registerMemory(memory);
    const batch = ep.createTxBatch(64);
    hashes.forEach((h, p) => batch.add(h, id, p * 256, 10 + p));
    assert.is(ep.writePackets(batch), hashes.length);
    const c = ep.writer.counters;
    assert.is(c[TxCounter.txBatches], 6, 'one sendmmsg per run');
    assert.is(c[TxCounter.txPackets], hashes.length);
    assert.is(c[TxCounter.txBytes], hashes.reduce((sum, _h, p) => sum + 10 + p, 0));
    assert.is(c[TxCounter.txDrops], 0);
    for (let f = 0; f < 3; f++) {
      const got = drain(readers[f] as number);
      const want = hashes.flatMap((h, p) => (h % 3 === f ? [p] : []));
      assert.equal(got.map((b) => b[0]), want, `packets on fd index ${f}, in order`);
      for (const b of got) {
        const p = b[0] as number;
        assert.is(b.length, 10 + p);
        assert.is(toHex(b), toHex(memory.subarray(p * 256, p * 256 + 10 + p)));
      }
    }
  } finally {
    ep.close();
    closeFds(pairs.flat());
  }
});

Write('writePackets: a run longer than 47 is split; a payload view is gathered after the header view', () => {
  const [reader, fd] = openSocketPair({ type: 'seqpacket', sendBuffer: 1 << 20, receiveBuffer: 1 << 20 });
  sys.setNonBlocking(reader);
  const ep = createEndpoint({ fds: [fd] });
  try {
    const memory = packetMemory(100);
    const id = ep.registerMemory(memory);
    const payload = new Uint8Array(new SharedArrayBuffer(64)).fill(0xee);
    const payloadId = ep.registerMemory(payload);
    const batch = ep.createTxBatch(100);
    for (let p = 0; p < 100; p++) {
      const i = batch.add(7, id, p * 256, 4);
      batch.setPayload(i, payloadId, 0, p % 3 === 0 ? 0 : 16);
    }
    assert.is(ep.writePackets(batch), 100);
    assert.is(ep.writer.counters[TxCounter.txBatches], Math.ceil(100 / SEND_BATCH_SIZE), '47 + 47 + 6');
    const got = drain(reader);
    assert.is(got.length, 100);
    got.forEach((b, p) => {
      const want = toHex(memory.subarray(p * 256, p * 256 + 4)) + (p % 3 === 0 ? '' : 'ee'.repeat(16));
      assert.is(toHex(b), want, `packet ${p}`);
    });
  } finally {
    ep.close();
    closeFds([reader, fd]);
  }
});

Write('sendBatchSize: a run is cut at the writer\'s size (64: 64 + 36; 100: one call); out-of-range sizes refused', () => {
  for (const [size, calls] of [[64, 2], [100, 1], [1, 100]] as const) {
    const [reader, fd] = openSocketPair({ type: 'seqpacket', sendBuffer: 1 << 20, receiveBuffer: 1 << 20 });
    sys.setNonBlocking(reader);
    const writer = new PacketWriter({ fds: [fd], isSocket: [true], ethernetHeader: false, vnetHeader: false, sendBatchSize: size });
    try {
      assert.is(writer.sendBatchSize, size);
      const memory = packetMemory(100);
      const id = writer.registerMemory(memory);
      const batch = new TxBatch(100);
      for (let p = 0; p < 100; p++) batch.addFrame(5, id, p * 256, 8);
      assert.is(writer.writePackets(batch), 100);
      assert.is(writer.counters[TxCounter.txBatches], calls, `size ${size}`);
      assert.equal(drain(reader).map((b) => b[0]), Array.from({ length: 100 }, (_v, p) => p), 'all, in order');
    } finally {
      closeFds([reader, fd]);
    }
  }
  for (const bad of [0, 1025, 1.5]) {
    assert.throws(() => new PacketWriter({ fds: [3], isSocket: [true], ethernetHeader: false, vnetHeader: false, sendBatchSize: bad }), (e: Error & { code?: string }) => e.code === 'ERR_OUT_OF_RANGE', `size ${bad}`);
  }
  assert.is(new PacketWriter({ fds: [3], isSocket: [true], ethernetHeader: false, vnetHeader: false }).sendBatchSize, SEND_BATCH_SIZE);
});

Write('addFrame: one view, no header columns touched; a slot reused after setPayload sends no stale payload', () => {
  const [reader, fd] = openSocketPair({ type: 'seqpacket' });
  sys.setNonBlocking(reader);
  const writer = new PacketWriter({ fds: [fd], isSocket: [true], ethernetHeader: false, vnetHeader: false });
  try {
    const memory = packetMemory(4);
    const id = writer.registerMemory(memory);
    const batch = new TxBatch(4);
    // First fill: packet 0 with a 16-byte second view; then clear and reuse slot 0 with addFrame.
    batch.setPayload(batch.add(0, id, 0, 4), id, 256, 16);
    batch.link.fill(0xab); // addFrame leaves the header columns alone (this writer never reads them)
    batch.clear();
    assert.is(batch.addFrame(0, id, 2 * 256, 6), 0);
    assert.is(batch.addFrame(0, id, 3 * 256, 9), 1);
    assert.is(batch.link[0], 0xab, 'link column untouched');
    assert.is(writer.writePackets(batch), 2);
    const got = drain(reader);
    assert.equal(got.map((b) => toHex(b)), [toHex(memory.subarray(512, 518)), toHex(memory.subarray(768, 777))]);
    assert.is(writer.counters[TxCounter.txBytes], 15);
    // Full: -1, count unchanged.
    batch.addFrame(0, id, 0, 1);
    batch.addFrame(0, id, 0, 1);
    assert.is(batch.addFrame(0, id, 0, 1), -1);
    assert.is(batch.count, 4);
  } finally {
    closeFds([reader, fd]);
  }
});

Write('Ethernet header added on write: destination and type from the batch, source = link address', () => {
  const [reader, fd] = openSocketPair({ type: 'seqpacket' });
  sys.setNonBlocking(reader);
  const ep = createEndpoint({ fds: [fd], ethernetHeader: true, linkAddress: '11:22:33:44:55:66' });
  try {
    const memory = new Uint8Array(new SharedArrayBuffer(64));
    memory.set(hex('4500 0014'), 8);
    const id = ep.registerMemory(memory);
    const batch = ep.createTxBatch(4);
    const remote = hex('77 88 99 aa bb cc');
    let i = batch.add(0, id, 8, 4);
    batch.setLink(i, remote, 0, 0x0800);
    i = batch.add(0, id, 8, 4);
    batch.setLink(i, remote, 0, 0x86dd);
    batch.setLinkSource(i, hex('cc bb aa 77 88 99'), 0); // the route's local address wins (TestPreserveSrcAddress)
    ep.setLinkAddress('02:00:00:00:00:01'); // read at add(): only later packets see it
    i = batch.add(0, id, 8, 4);
    batch.setLink(i, remote, 0, 0x0806);
    assert.is(ep.writePackets(batch), 3);
    assert.equal(drain(reader).map(toHex), [
      toHex(hex('778899aabbcc 112233445566 0800  45000014')),
      toHex(hex('778899aabbcc ccbbaa778899 86dd  45000014')),
      toHex(hex('778899aabbcc 020000000001 0806  45000014')),
    ]);
    assert.is(ep.writer.counters[TxCounter.txBytes], 3 * 18, 'bytes include the Ethernet header');
  } finally {
    ep.close();
    closeFds([reader, fd]);
  }
});

Write('hardware GSO: a 10-byte little-endian virtio-net header before every packet (writev and sendmmsg)', () => {
  const [reader, fd] = openSocketPair({ type: 'seqpacket' });
  sys.setNonBlocking(reader);
  const ep = createEndpoint({ fds: [fd], gsoKind: 'hardware', ethernetHeader: true, linkAddress: '11:22:33:44:55:66' });
  try {
    assert.is(ep.vnetHeader, true);
    const memory = new Uint8Array(new SharedArrayBuffer(16)).fill(0xab);
    const id = ep.registerMemory(memory);
    const batch = ep.createTxBatch(2);
    let i = batch.add(1, id, 0, 2);
    batch.setLink(i, hex('778899aabbcc'), 0, 0x86dd);
    batch.setVirtioNet(i, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV6, 114, 500, 54, 16);
    i = batch.add(1, id, 0, 1); // GSO none: all zeros
    batch.setLink(i, hex('778899aabbcc'), 0, 0x86dd);
    assert.is(ep.writePacket(batch, 0), 10 + 14 + 2);
    assert.is(ep.writePackets(batch), 2);
    const want0 = toHex(hex(`
      01 04        # flags NEEDS_CSUM, gso_type TCPV6
      7200 f401    # hdr_len 114, gso_size 500 (little-endian)
      3600 1000    # csum_start 54 (14 + 40), csum_offset 16
      778899aabbcc 112233445566 86dd abab
    `));
    const want1 = toHex(hex('00 00 0000 0000 0000 0000  778899aabbcc 112233445566 86dd ab'));
    assert.equal(drain(reader).map(toHex), [want0, want0, want1]);
    assert.is(ep.writer.counters[TxCounter.txWrites], 1);
    assert.is(ep.writer.counters[TxCounter.txBatches], 1);
  } finally {
    ep.close();
    closeFds([reader, fd]);
  }
});

Write('EAGAIN: a full socket buffer drops and counts the rest of the run; what was sent arrives intact', () => {
  const [reader, fd] = openSocketPair({ type: 'dgram', sendBuffer: 4096, receiveBuffer: 4096 });
  sys.setNonBlocking(reader);
  const [reader2, fd2] = openSocketPair({ type: 'dgram' });
  sys.setNonBlocking(reader2);
  const ep = createEndpoint({ fds: [fd, fd2] });
  try {
    const memory = packetMemory(200);
    const id = ep.registerMemory(memory);
    const batch = ep.createTxBatch(201);
    for (let p = 0; p < 200; p++) batch.add(0, id, p * 256, 256); // 200 × 256 B cannot fit in 8 KiB
    batch.add(1, id, 0, 5); // the next run, on the other fd, still goes out
    const sent = ep.writePackets(batch);
    const c = ep.writer.counters;
    assert.ok(sent > 1 && sent < 201, `sent ${sent}`);
    assert.is(c[TxCounter.txPackets], sent);
    assert.is(c[TxCounter.txPackets]! + c[TxCounter.txDrops]!, 201);
    assert.is(c[TxCounter.txErrors], 0, 'EAGAIN is a drop, not an error');
    assert.is(ep.writer.lastErrno, -sys.EAGAIN);
    // 200 packets for fd 0 are runs of 47, 47, 47, 47, 12. The first: a partial sendmmsg, then one that
    // hit EAGAIN (rest dropped). Each later run: one sendmmsg, EAGAIN at once. Then fd 1's run.
    assert.is(c[TxCounter.txBatches], 2 + 4 + 1, 'partial send continued once, then dropped the rest');
    const got = drain(reader);
    assert.is(got.length, sent - 1);
    got.forEach((b, p) => assert.is(toHex(b), toHex(memory.subarray(p * 256, p * 256 + 256)), `packet ${p}`));
    assert.equal(drain(reader2).map((b) => b.length), [5]);
  } finally {
    ep.close();
    closeFds([reader, fd, reader2, fd2]);
  }
});

Write('a non-socket fd (pipe) gets one writev per packet, no sendmmsg', () => {
  const p = new Int32Array(2);
  assert.is(sys.pipe2(p, sys.O_CLOEXEC), 0);
  const ep = createEndpoint({ fds: [p[1] as number] });
  try {
    assert.equal(ep.isSocket, [false]);
    assert.equal(ep.dispatchModes, ['readv']);
    const memory = packetMemory(3);
    const id = ep.registerMemory(memory);
    const batch = ep.createTxBatch(3);
    for (let q = 0; q < 3; q++) batch.add(q, id, q * 256, 2);
    assert.is(ep.writePackets(batch), 3);
    assert.is(ep.writer.counters[TxCounter.txWrites], 3);
    assert.is(ep.writer.counters[TxCounter.txBatches], 0);
    const buf = new Uint8Array(16);
    assert.is(sys.read(p[0] as number, buf, 16), 6);
    assert.is(toHex(buf.subarray(0, 6)), '005a015b0258');
  } finally {
    ep.close();
    closeFds([p[0] as number, p[1] as number]);
  }
});

Write('views outside their memory are dropped and counted, never sent', () => {
  const [reader, fd] = openSocketPair({ type: 'seqpacket' });
  sys.setNonBlocking(reader);
  const ep = createEndpoint({ fds: [fd] });
  try {
    const id = ep.registerMemory(new Uint8Array(new SharedArrayBuffer(100)));
    const batch = ep.createTxBatch(4);
    batch.add(0, id, 90, 20); // past the end
    batch.add(0, id + 1, 0, 1); // unknown memory
    batch.add(0, id, 0, 3); // fine
    assert.is(ep.writePackets(batch), 1);
    assert.is(ep.writer.counters[TxCounter.txDrops], 2);
    assert.is(ep.writer.counters[TxCounter.txErrors], 2);
    assert.equal(drain(reader).map((b) => b.length), [3]);
    assert.is(ep.writePacket(batch, 0), -sys.EINVAL);
  } finally {
    ep.close();
    closeFds([reader, fd]);
  }
});

Write('TxBatch: add returns -1 when full; clear empties it', () => {
  const batch = new TxBatch(2);
  assert.is(batch.add(0, 0, 0, 1), 0);
  assert.is(batch.add(0, 0, 0, 1), 1);
  assert.is(batch.add(0, 0, 0, 1), -1);
  batch.clear();
  assert.is(batch.count, 0);
  assert.is(batch.add(5, 0, 0, 1), 0);
  assert.is(batch.hashes[0], 5);
});

for (const c of [
  { name: 'isSocket shorter than fds', options: { fds: [3, 4], isSocket: [true], ethernetHeader: false, vnetHeader: false }, code: 'ERR_INVALID_ARG_VALUE', message: 'options.isSocket must have one entry per fd (2), received 1' },
  { name: 'no fds', options: { fds: [], isSocket: [], ethernetHeader: false, vnetHeader: false }, code: 'ERR_OUT_OF_RANGE', message: 'options.fds must be an array of at least 1 element(s), received 0' },
  { name: 'a negative fd', options: { fds: [-1], isSocket: [true], ethernetHeader: false, vnetHeader: false }, code: 'ERR_OUT_OF_RANGE', message: 'options.fds[0] must be an integer >= 0 and <= 2147483647, received -1' },
  { name: 'isSocket not booleans', options: { fds: [3], isSocket: [1], ethernetHeader: false, vnetHeader: false }, code: 'ERR_INVALID_ARG_TYPE', message: 'options.isSocket[0] must be of type boolean, received type number (1)' },
  { name: 'ethernetHeader missing', options: { fds: [3], isSocket: [true], vnetHeader: false }, code: 'ERR_INVALID_ARG_TYPE', message: 'options.ethernetHeader must be of type boolean, received undefined' },
  { name: 'counters too short', options: { fds: [3], isSocket: [true], ethernetHeader: false, vnetHeader: false, counters: new Float64Array(3) }, code: 'ERR_INVALID_ARG_TYPE', message: 'options.counters must be a Float64Array of at least 6 slots, received an instance of Float64Array of 3' },
]) {
  Write(`PacketWriter throws ${c.code} for ${c.name}`, () => {
    try {
      new PacketWriter(c.options as never);
      assert.unreachable('should throw');
    } catch (err) {
      assert.is((err as { code?: string }).code, c.code, String(err));
      assert.is((err as Error).message, c.message);
    }
  });
}

Write('TxBatch: a source link address of the wrong size names its size', () => {
  assert.throws(() => new TxBatch(1, new Uint8Array(4)), (err: Error) => err.message === 'sourceLinkAddress must be a Uint8Array of 6 bytes, received 4 bytes');
});

Write.run();
