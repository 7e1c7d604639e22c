import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { PacketBuffer } from '../../src/tcpip/packet-buffer.ts';
import { checksum, checksumView, combineChecksums, finishChecksum, pseudoHeaderChecksumV4 } from '../../src/tcpip/checksum.ts';
import { IPV4_PROTOCOL_NUMBER, UDP_PROTOCOL_NUMBER } from '../../src/tcpip/protocols.ts';
import { hex, toHex } from '../helpers/hex.ts';

const Pkt = suite('tcpip/packet-buffer');

// The frame the outbound test must produce; the checksums were computed independently with python3.
const FRAME = hex(`
  0200 c612 0002  0200 c612 0001  0800   # Ethernet: destination, source, IPv4
  4500 0021   # IPv4: version 4, IHL 5, total length 33
  1c46 4000   # id 0x1c46, don't fragment
  4011 925e   # TTL 64, UDP, header checksum 925e
  c612 0001   # 198.18.0.1
  c612 0002   # 198.18.0.2
  3039 0035   # UDP: source port 12345, destination port 53
  000d ff6b   # length 13, checksum ff6b
  68656c6c6f  # "hello"
`);

/** A frame pool's shape: one SharedArrayBuffer, one Uint8Array and one DataView over all of it. */
function pool(): { bytes: Uint8Array; view: DataView } {
  const sab = new SharedArrayBuffer(4096);
  return { bytes: new Uint8Array(sab), view: new DataView(sab) };
}

Pkt('outbound UDP/IPv4/Ethernet: push headers into the headroom, no copies', () => {
  const { bytes, view } = pool();
  const pkt = new PacketBuffer();
  const FRAME_AT = 2048; // the second 2 KiB chunk
  assert.ok(pkt.reset(bytes, view, FRAME_AT, 64, 5));
  assert.is(pkt.headroom, 64);
  assert.is(pkt.dataOffset, FRAME_AT + 64);
  assert.is(pkt.size, 5);
  bytes.set(new TextEncoder().encode('hello'), pkt.dataOffset);

  assert.ok(pkt.pushTransport(8));
  const udp = pkt.transportHeaderOffset;
  assert.is(udp, FRAME_AT + 64 - 8);
  view.setUint16(udp, 12345);
  view.setUint16(udp + 2, 53);
  view.setUint16(udp + 4, 8 + pkt.dataSize);
  view.setUint16(udp + 6, 0);
  const pseudo = pseudoHeaderChecksumV4(UDP_PROTOCOL_NUMBER, 0xc6120001, 0xc6120002, 8 + pkt.dataSize);
  view.setUint16(udp + 6, finishChecksum(checksumView(view, udp, 8 + pkt.dataSize, pseudo)));

  assert.ok(pkt.pushNetwork(20));
  const ip = pkt.networkHeaderOffset;
  assert.is(ip, udp - 20);
  view.setUint32(ip, 0x45000000 | (20 + 8 + pkt.dataSize));
  view.setUint32(ip + 4, 0x1c464000);
  view.setUint32(ip + 8, 0x40110000);
  view.setUint32(ip + 12, 0xc6120001);
  view.setUint32(ip + 16, 0xc6120002);
  view.setUint16(ip + 10, finishChecksum(checksum(bytes, ip, 20)));

  assert.ok(pkt.pushLink(14));
  const eth = pkt.linkHeaderOffset;
  assert.is(eth, ip - 14);
  bytes.set([2, 0, 0xc6, 0x12, 0, 2, 2, 0, 0xc6, 0x12, 0, 1], eth);
  view.setUint16(eth + 12, IPV4_PROTOCOL_NUMBER);

  assert.is(pkt.offset, eth);
  assert.is(pkt.headerSize, 42);
  assert.is(pkt.size, FRAME.length);
  assert.is(pkt.headroom, 64 - 42);
  assert.is(pkt.dataOffset, FRAME_AT + 64, 'the payload never moved');
  assert.is(toHex(bytes.subarray(pkt.offset, pkt.offset + pkt.size)), toHex(FRAME));

  // Inbound over the same memory: a second buffer parses what the first one built.
  const rx = new PacketBuffer();
  assert.ok(rx.reset(bytes, view, pkt.offset, 0, pkt.size));
  assert.ok(rx.consumeLink(14));
  assert.is(view.getUint16(rx.linkHeaderOffset + 12), IPV4_PROTOCOL_NUMBER);
  const ihl = (view.getUint8(rx.dataOffset) & 0x0f) * 4;
  assert.ok(rx.consumeNetwork(ihl));
  assert.is(checksum(bytes, rx.networkHeaderOffset, rx.networkHeaderSize), 0xffff, 'IPv4 header verifies');
  assert.ok(rx.consumeTransport(8));
  const l4 = rx.transportHeaderOffset;
  const udpLength = view.getUint16(l4 + 4);
  assert.is(
    combineChecksums(pseudoHeaderChecksumV4(view.getUint8(rx.networkHeaderOffset + 9), view.getUint32(rx.networkHeaderOffset + 12), view.getUint32(rx.networkHeaderOffset + 16), udpLength), checksum(bytes, l4, udpLength)),
    0xffff,
    'UDP verifies',
  );
  assert.equal(
    [rx.linkHeaderOffset, rx.linkHeaderSize, rx.networkHeaderOffset, rx.networkHeaderSize, rx.transportHeaderOffset, rx.transportHeaderSize],
    [pkt.linkHeaderOffset, pkt.linkHeaderSize, pkt.networkHeaderOffset, pkt.networkHeaderSize, pkt.transportHeaderOffset, pkt.transportHeaderSize],
  );
  assert.is(rx.dataOffset, pkt.dataOffset);
  assert.is(rx.dataSize, 5);
  assert.is(rx.size, FRAME.length);
  assert.is(rx.headerSize, 42);
  assert.is(new TextDecoder().decode(bytes.subarray(rx.dataOffset, rx.dataOffset + rx.dataSize)), 'hello');
});

Pkt('inbound: Ethernet padding is capped off after the IP total length', () => {
  const { bytes, view } = pool();
  bytes.set(FRAME, 10);
  const rx = new PacketBuffer();
  assert.ok(rx.reset(bytes, view, 10, 0, 60)); // a minimum Ethernet frame: 13 bytes of zero padding
  assert.ok(rx.consumeLink(14));
  const totalLength = view.getUint16(rx.dataOffset + 2);
  assert.not.ok(rx.capData(rx.dataSize + 1));
  assert.ok(rx.capData(totalLength));
  assert.ok(rx.consumeNetwork(20));
  assert.ok(rx.consumeTransport(8));
  assert.is(rx.dataSize, 5);
  assert.is(rx.size, FRAME.length);
});

for (const c of [
  { name: 'transport after network', steps: ['n20', 't8'], ok: [true, false] },
  { name: 'network after link', steps: ['l14', 'n20'], ok: [true, false] },
  { name: 'transport twice', steps: ['t8', 't8'], ok: [true, false] },
  { name: 'headroom exactly used', steps: ['t8', 'n20', 'l14'], ok: [true, true, true] },
  { name: 'headroom one short', steps: ['t8', 'n20', 'l15'], ok: [true, true, false] },
  { name: 'negative size', steps: ['t-1'], ok: [false] },
  { name: 'ARP: network and link only', steps: ['n28', 'l14'], ok: [true, true] },
]) {
  Pkt(`push: ${c.name}`, () => {
    const { bytes, view } = pool();
    const pkt = new PacketBuffer();
    assert.ok(pkt.reset(bytes, view, 100, 42, 10));
    c.steps.forEach((step, i) => {
      const n = Number(step.slice(1));
      const before = [pkt.offset, pkt.headroom, pkt.size, pkt.transportHeaderOffset, pkt.networkHeaderOffset, pkt.linkHeaderOffset];
      const got = step[0] === 't' ? pkt.pushTransport(n) : step[0] === 'n' ? pkt.pushNetwork(n) : pkt.pushLink(n);
      assert.is(got, c.ok[i], `step ${step}`);
      if (!got) {
        assert.equal([pkt.offset, pkt.headroom, pkt.size, pkt.transportHeaderOffset, pkt.networkHeaderOffset, pkt.linkHeaderOffset], before, 'unchanged');
      }
    });
    assert.is(pkt.dataOffset, 142);
    assert.is(pkt.dataSize, 10);
    assert.is(pkt.size, pkt.headerSize + 10);
  });
}

for (const c of [
  { name: 'truncated link header', size: 13, steps: ['l14'], ok: [false] },
  { name: 'truncated network header', size: 30, steps: ['l14', 'n20'], ok: [true, false] },
  { name: 'exactly the headers', size: 42, steps: ['l14', 'n20', 't8'], ok: [true, true, true] },
  { name: 'link after network', size: 60, steps: ['n20', 'l14'], ok: [true, false] },
  { name: 'network after transport', size: 60, steps: ['t8', 'n20'], ok: [true, false] },
  { name: 'network twice', size: 60, steps: ['l14', 'n20', 'n20'], ok: [true, true, false] },
]) {
  Pkt(`consume: ${c.name}`, () => {
    const { bytes, view } = pool();
    const rx = new PacketBuffer();
    assert.ok(rx.reset(bytes, view, 7, 0, c.size));
    let consumed = 0;
    c.steps.forEach((step, i) => {
      const n = Number(step.slice(1));
      const got = step[0] === 'l' ? rx.consumeLink(n) : step[0] === 'n' ? rx.consumeNetwork(n) : rx.consumeTransport(n);
      assert.is(got, c.ok[i], `step ${step}`);
      if (got) consumed += n;
      assert.is(rx.dataOffset, 7 + consumed);
      assert.is(rx.dataSize, c.size - consumed);
      assert.is(rx.size, c.size, 'the packet size never changes by consuming');
    });
  });
}

Pkt('reset: reuses one buffer with no leftovers; refuses ranges outside the view', () => {
  const { bytes, view } = pool();
  const pkt = new PacketBuffer();
  assert.is(pkt.size, 0);
  assert.is(pkt.linkHeaderOffset, -1);
  assert.ok(pkt.reset(bytes, view, 0, 0, 100));
  assert.ok(pkt.consumeLink(14) && pkt.consumeNetwork(20) && pkt.consumeTransport(20));
  assert.ok(pkt.reset(bytes, view, 2048, 64, 1000));
  for (const [got, want] of [
    [pkt.linkHeaderOffset, -1], [pkt.linkHeaderSize, 0], [pkt.networkHeaderOffset, -1], [pkt.networkHeaderSize, 0],
    [pkt.transportHeaderOffset, -1], [pkt.transportHeaderSize, 0], [pkt.offset, 2112], [pkt.dataOffset, 2112],
    [pkt.dataSize, 1000], [pkt.headroom, 64], [pkt.headerSize, 0],
  ]) assert.is(got, want);
  assert.ok(pkt.consumeLink(14), 'consuming works again after reset');
  assert.not.ok(pkt.reset(bytes, view, 4000, 64, 33));
  assert.not.ok(pkt.reset(bytes, view, -1, 0, 10));
  assert.is(pkt.linkHeaderOffset, 2112, 'a refused reset changes nothing');
  assert.ok(pkt.reset(bytes, view, 4000, 64, 32), 'ends exactly at the end of the view');
});

Pkt.run();
