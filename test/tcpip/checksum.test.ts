import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  checksum,
  checksumView,
  ipv4HeaderChecksumOk,
  combineChecksums,
  decrementHopLimit,
  decrementTtl,
  finishChecksum,
  pseudoHeaderChecksumV4,
  pseudoHeaderChecksumV6,
  pseudoHeaderChecksumV6View,
  rewriteIpv4Destination,
  rewriteIpv4Source,
  rewriteIpv6Address,
  rewritePort,
  transportChecksumOffset,
  updateChecksum16,
  updateChecksum32,
} from '../../src/tcpip/checksum.ts';
import { ICMPV4_PROTOCOL_NUMBER, ICMPV6_PROTOCOL_NUMBER, TCP_PROTOCOL_NUMBER, UDP_PROTOCOL_NUMBER } from '../../src/tcpip/protocols.ts';
import { mulberry32 as prng } from './header/fuzz.ts';
import { hex, toHex, viewOf } from '../helpers/hex.ts';

const Checksum = suite('tcpip/checksum');

const randInt = (rand: () => number, n: number): number => Math.floor(rand() * n);
function randomBytes(rand: () => number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = randInt(rand, 256);
  return out;
}

/** The textbook definition, written differently from the product: byte at an even distance is high. */
function referenceSum(bytes: Uint8Array, offset: number, length: number): number {
  let sum = 0;
  for (let k = 0; k < length; k++) sum += k % 2 === 0 ? bytes[offset + k]! * 256 : bytes[offset + k]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 65536);
  return sum;
}

// RFC 1071 §3 worked example: 00 01 f2 03 f4 f5 f6 f7 sums to 2ddf0, folded ddf2, checksum 220d.
Checksum('RFC 1071 §3 example', () => {
  const bytes = hex('0001 f203 f4f5 f6f7');
  assert.is(checksum(bytes, 0, 8), 0xddf2);
  assert.is(checksumView(viewOf(bytes), 0, 8), 0xddf2);
  assert.is(finishChecksum(0xddf2), 0x220d);
  // The same words split at an even boundary combine to the whole, in either order (commutative).
  assert.is(combineChecksums(checksum(bytes, 0, 4), checksum(bytes, 4, 4)), 0xddf2);
  assert.is(combineChecksums(checksum(bytes, 4, 4), checksum(bytes, 0, 4)), 0xddf2);
  // An odd length pads with a zero byte on the right (RFC 1071 §4.1): 00 01 f2 03 f4 = 0001+f203+f400.
  assert.is(checksum(bytes, 0, 5), 0x0001 + 0xf203 + 0xf400 - 0xffff);
  assert.is(checksumView(viewOf(bytes), 0, 5), 0x0001 + 0xf203 + 0xf400 - 0xffff);
  // All zero bytes sum to +0; nothing at all sums to 0.
  assert.is(checksum(new Uint8Array(6), 0, 6), 0);
  assert.is(checksum(bytes, 3, 0), 0);
});

Checksum('RFC 1624 §3 example: eqn. 3 gives 0x0000 where eqn. 2 would give 0xffff', () => {
  // Sum of the other words 0xcd7a; m = 0x5555 so HC = ~(cd7a + 5555) = 0xdd2f; m' = 0x3285 gives
  // ~(cd7a + 3285) = ~ffff = 0x0000 on a full recompute.
  assert.is(updateChecksum16(0xdd2f, 0x5555, 0x3285), 0x0000);
  assert.is(updateChecksum16(0x0000, 0x3285, 0x5555), 0xdd2f);
  assert.is(updateChecksum32(0xdd2f, 0x00005555, 0x00003285), 0x0000);
});

// Packets assembled by hand; each want value was computed independently with a python3 one-liner
// (sum of struct.unpack('!nH') words, end-around carry, complement) over the pseudo-header and bytes.
const V4_SRC = 0xc6120001; // 198.18.0.1
const V4_DST = 0xc6120002; // 198.18.0.2
const V6_ADDRS = hex(`
  2001 0002 0000 0000 0000 0000 0000 0001   # 2001:2::1
  2001 0002 0000 0000 0000 0000 0000 0002   # 2001:2::2
`);
for (const c of [
  {
    name: 'IPv4 header (the Wikipedia example)',
    bytes: hex(`
      4500 0073   # version 4, IHL 5, TOS 0, total length 115
      0000 4000   # id 0, don't fragment
      4011 b861   # TTL 64, UDP, checksum b861
      c0a8 0001   # 192.168.0.1
      c0a8 00c7   # 192.168.0.199
    `),
    field: 10, want: 0xb861, pseudo: 0,
  },
  {
    name: 'IPv4 header of the UDP datagram below',
    bytes: hex('4500 0021  1c46 4000  4011 925e  c612 0001  c612 0002'),
    field: 10, want: 0x925e, pseudo: 0,
  },
  {
    name: 'UDP over IPv4: 198.18.0.1:12345 → 198.18.0.2:53 "hello"',
    bytes: hex(`
      3039 0035   # source port 12345, destination port 53
      000d ff6b   # length 13, checksum ff6b
      68656c6c6f  # "hello" (odd length: padded for the sum)
    `),
    field: 6, want: 0xff6b, pseudo: pseudoHeaderChecksumV4(UDP_PROTOCOL_NUMBER, V4_SRC, V4_DST, 13),
  },
  {
    name: 'UDP over IPv6: [2001:2::1]:54321 → [2001:2::2]:1234 "netshard!"',
    bytes: hex(`
      d431 04d2   # source port 54321, destination port 1234
      0011 0821   # length 17, checksum 0821
      6e6574736861726421   # "netshard!"
    `),
    field: 6, want: 0x0821, pseudo: pseudoHeaderChecksumV6(V6_ADDRS, 0, 16, UDP_PROTOCOL_NUMBER, 17),
  },
  {
    name: 'TCP SYN over IPv4 with options: 198.18.0.1:40000 → 198.18.0.2:80',
    bytes: hex(`
      9c40 0050   # source port 40000, destination port 80
      1234 5678   # sequence number
      0000 0000   # acknowledgment number
      a002 faf0   # data offset 10 (40 bytes), SYN, window 64240
      d968 0000   # checksum d968, urgent pointer 0
      0204 05b4   # MSS 1460
      0402        # SACK permitted
      080a 0001e240 00000000   # timestamps: TSval 123456, TSecr 0
      01          # NOP
      0303 07     # window scale 7
    `),
    field: 16, want: 0xd968, pseudo: pseudoHeaderChecksumV4(TCP_PROTOCOL_NUMBER, V4_SRC, V4_DST, 40),
  },
  {
    name: 'ICMPv6 echo request 2001:2::1 → 2001:2::2 "ping"',
    bytes: hex(`
      80 00 4eaa   # type 128 (echo request), code 0, checksum 4eaa
      1234 0001    # identifier 0x1234, sequence 1
      70696e67     # "ping"
    `),
    field: 2, want: 0x4eaa, pseudo: pseudoHeaderChecksumV6(V6_ADDRS, 0, 16, ICMPV6_PROTOCOL_NUMBER, 12),
  },
  {
    name: 'ICMPv4 echo request (no pseudo-header)',
    bytes: hex(`
      08 00 6668   # type 8 (echo request), code 0, checksum 6668
      0001 0001    # identifier 1, sequence 1
      6162636465666768   # "abcdefgh"
    `),
    field: 2, want: 0x6668, pseudo: 0,
  },
]) {
  Checksum(`known packet: ${c.name}`, () => {
    const view = viewOf(c.bytes);
    const n = c.bytes.byteLength;
    // Verifying: the sum over everything, checksum included, is 0xffff.
    assert.is(combineChecksums(c.pseudo, checksum(c.bytes, 0, n)), 0xffff, 'verifies as received');
    assert.is(checksumView(view, 0, n, c.pseudo), 0xffff, 'verifies through the DataView');
    // Computing: with the field zeroed, the finished sum is the value on the wire.
    const copy = c.bytes.slice();
    copy[c.field] = 0;
    copy[c.field + 1] = 0;
    const got = finishChecksum(combineChecksums(c.pseudo, checksum(copy, 0, n)));
    assert.is(got, c.want, `computed ${got.toString(16)}, want ${c.want.toString(16)}`);
    assert.is(finishChecksum(checksumView(viewOf(copy), 0, n, c.pseudo)), c.want);
  });
}

Checksum('IPv6 pseudo-header: Uint8Array and DataView agree; the length is 32 bits', () => {
  const rand = prng(6);
  for (let round = 0; round < 200; round++) {
    const bytes = randomBytes(rand, 48);
    const s = randInt(rand, 16);
    const d = 16 + randInt(rand, 16);
    const length = randInt(rand, 0x100000);
    const nh = randInt(rand, 256);
    const want = referenceSum(
      Uint8Array.from([...bytes.subarray(s, s + 16), ...bytes.subarray(d, d + 16), length >>> 24, (length >>> 16) & 0xff, (length >>> 8) & 0xff, length & 0xff, 0, 0, 0, nh]),
      0, 40,
    );
    assert.is(pseudoHeaderChecksumV6(bytes, s, d, nh, length), want);
    assert.is(pseudoHeaderChecksumV6View(viewOf(bytes), s, d, nh, length), want);
  }
});

Checksum('property: any offset and length (odd ones too) match the textbook sum; split and combine', () => {
  const rand = prng(1071);
  for (let round = 0; round < 500; round++) {
    const bytes = randomBytes(rand, 1 + randInt(rand, 300));
    const offset = randInt(rand, bytes.length);
    const length = randInt(rand, bytes.length - offset + 1);
    const want = referenceSum(bytes, offset, length);
    assert.is(checksum(bytes, offset, length), want, `checksum(${offset}, ${length})`);
    assert.is(checksumView(viewOf(bytes), offset, length), want, `checksumView(${offset}, ${length})`);
    // The words count from `offset`, so a copy at offset 0 sums the same.
    assert.is(checksum(bytes.slice(offset, offset + length), 0, length), want);
    const split = 2 * randInt(rand, Math.floor(length / 2) + 1);
    assert.is(combineChecksums(checksum(bytes, offset, split), checksum(bytes, offset + split, length - split)), want);
    assert.is(checksum(bytes, offset + split, length - split, checksum(bytes, offset, split)), want, 'initial');
  }
});

Checksum('checksumView folds often enough for buffers beyond 2^18 words', () => {
  const bytes = new Uint8Array(3 * 0x40000 + 3).fill(0xff);
  // Odd length: the last 0xff is padded to 0xff00, and 0xffff words add nothing modulo 0xffff.
  assert.is(checksumView(viewOf(bytes), 0, bytes.length), 0xff00);
  assert.is(checksum(bytes, 0, bytes.length), 0xff00);
  assert.is(checksumView(viewOf(bytes), 0, bytes.length - 1), 0xffff);
  bytes.fill(0x01);
  assert.is(checksumView(viewOf(bytes), 1, bytes.length - 1), referenceSum(bytes, 1, bytes.length - 1));
});

/** Builds a random IPv4 header (IHL 5..7) into `bytes` at `at` with a correct checksum; returns its length. */
function randomIpv4(rand: () => number, bytes: Uint8Array, at: number, totalLength: number, protocol: number, ihl = 5): void {
  const view = viewOf(bytes);
  for (let i = 0; i < ihl * 4; i++) bytes[at + i] = randInt(rand, 256);
  bytes[at] = 0x40 | ihl;
  view.setUint16(at + 2, totalLength);
  view.setUint16(at + 6, 0x4000); // don't fragment
  bytes[at + 9] = protocol;
  view.setUint16(at + 10, 0);
  view.setUint16(at + 10, finishChecksum(referenceSum(bytes, at, ihl * 4)));
}
const headerVerifies = (bytes: Uint8Array, at: number): boolean => referenceSum(bytes, at, (bytes[at]! & 0xf) * 4) === 0xffff;
const ipv4HeaderChecksum = (bytes: Uint8Array, at: number): number => {
  const copy = bytes.slice(at, at + (bytes[at]! & 0xf) * 4);
  copy[10] = 0;
  copy[11] = 0;
  return finishChecksum(referenceSum(copy, 0, copy.length));
};

Checksum('ipv4HeaderChecksumOk agrees with the textbook sum: valid headers (IHL 5..15, all-0xff options), one flipped bit', () => {
  const rand = prng(791);
  for (let round = 0; round < 300; round++) {
    const ihl = 5 + (round % 11);
    const bytes = new Uint8Array(3 + ihl * 4);
    randomIpv4(rand, bytes, 3, 100, UDP_PROTOCOL_NUMBER, ihl);
    if (round % 7 === 0) { // the largest sum there is: every option byte 0xff
      bytes.fill(0xff, 3 + 20, 3 + ihl * 4);
      viewOf(bytes).setUint16(3 + 10, 0);
      viewOf(bytes).setUint16(3 + 10, finishChecksum(referenceSum(bytes, 3, ihl * 4)));
    }
    assert.ok(headerVerifies(bytes, 3));
    assert.is(ipv4HeaderChecksumOk(viewOf(bytes), 3, ihl * 4), true, `round ${round}: valid`);
    const bit = randInt(rand, ihl * 32);
    bytes[3 + (bit >>> 3)]! ^= 0x80 >>> (bit & 7);
    assert.is(ipv4HeaderChecksumOk(viewOf(bytes), 3, ihl * 4), headerVerifies(bytes, 3), `round ${round}: bit ${bit} flipped`);
  }
});

Checksum('property: decrementTtl equals a full recompute for every TTL', () => {
  const rand = prng(1624);
  for (let ttl = 0; ttl < 256; ttl++) {
    for (let k = 0; k < 8; k++) {
      const at = randInt(rand, 5);
      const bytes = new Uint8Array(at + 28);
      randomIpv4(rand, bytes, at, 28, randInt(rand, 256));
      bytes[at + 8] = ttl;
      viewOf(bytes).setUint16(at + 10, ipv4HeaderChecksum(bytes, at));
      const before = bytes.slice();
      const ok = decrementTtl(viewOf(bytes), at);
      if (ttl <= 1) {
        assert.not.ok(ok, `TTL ${ttl} must not be forwarded`);
        assert.is(toHex(bytes), toHex(before), 'nothing written');
        continue;
      }
      assert.ok(ok);
      assert.is(bytes[at + 8], ttl - 1);
      assert.is(viewOf(bytes).getUint16(at + 10), ipv4HeaderChecksum(bytes, at), `TTL ${ttl}`);
      assert.ok(headerVerifies(bytes, at));
    }
  }
});

Checksum('decrementTtl: the 0x0000 / 0xffff corner of RFC 1624 (checksum becomes and starts at 0x0000)', () => {
  const rand = prng(0xffff);
  for (let round = 0; round < 50; round++) {
    const bytes = new Uint8Array(20);
    const view = viewOf(bytes);
    randomIpv4(rand, bytes, 0, 20, UDP_PROTOCOL_NUMBER);
    bytes[8] = 2 + randInt(rand, 254);
    // Choose the identification so that after the decrement the header sums to 0xffff: new checksum 0x0000.
    view.setUint16(4, 0);
    view.setUint16(10, 0);
    bytes[8]!--;
    view.setUint16(4, finishChecksum(referenceSum(bytes, 0, 20)));
    bytes[8]!++;
    view.setUint16(10, ipv4HeaderChecksum(bytes, 0));
    assert.ok(decrementTtl(view, 0));
    assert.is(view.getUint16(10), 0x0000, 'becomes 0x0000 as a full recompute does');
    assert.is(ipv4HeaderChecksum(bytes, 0), 0x0000);
    // And from a checksum of 0x0000 the next decrement is still right.
    assert.ok(decrementTtl(view, 0));
    assert.is(view.getUint16(10), ipv4HeaderChecksum(bytes, 0));
    assert.ok(headerVerifies(bytes, 0));
  }
});

Checksum('decrementHopLimit: no checksum, refuses 0 and 1', () => {
  const bytes = new Uint8Array(41);
  const view = viewOf(bytes);
  for (const [hop, ok] of [[0, false], [1, false], [2, true], [64, true], [255, true]] as const) {
    bytes[1 + 7] = hop;
    assert.is(decrementHopLimit(view, 1), ok, `hop limit ${hop}`);
    assert.is(bytes[8], ok ? hop - 1 : hop);
  }
});

/** Builds a random IPv4 + TCP/UDP packet at `at` with correct checksums (UDP maybe with checksum 0). */
function randomIpv4Transport(rand: () => number, protocol: number, zeroUdp: boolean): { bytes: Uint8Array; at: number; l4: number; end: number } {
  const at = randInt(rand, 4);
  const ihl = 5 + randInt(rand, 3);
  const l4Size = (protocol === TCP_PROTOCOL_NUMBER ? 20 : 8) + randInt(rand, 40);
  const total = ihl * 4 + l4Size;
  const bytes = randomBytes(rand, at + total + randInt(rand, 3));
  randomIpv4(rand, bytes, at, total, protocol, ihl);
  const l4 = at + ihl * 4;
  fillTransport(bytes, l4, l4Size, protocol, zeroUdp, pseudoV4(bytes, at, protocol, l4Size));
  return { bytes, at, l4, end: at + total };
}
const pseudoV4 = (bytes: Uint8Array, at: number, protocol: number, length: number): number => {
  const view = viewOf(bytes);
  return pseudoHeaderChecksumV4(protocol, view.getUint32(at + 12), view.getUint32(at + 16), length);
};
function fillTransport(bytes: Uint8Array, l4: number, size: number, protocol: number, zeroUdp: boolean, pseudo: number): void {
  const view = viewOf(bytes);
  const field = transportChecksumOffset(protocol, l4);
  if (protocol === UDP_PROTOCOL_NUMBER) view.setUint16(l4 + 4, size);
  if (protocol === TCP_PROTOCOL_NUMBER) bytes[l4 + 12] = 0x50;
  view.setUint16(field, 0);
  if (zeroUdp) return;
  const value = finishChecksum(combineChecksums(pseudo, referenceSum(bytes, l4, size)));
  view.setUint16(field, protocol === UDP_PROTOCOL_NUMBER && value === 0 ? 0xffff : value);
}
/** The transport checksum a full recompute would write (UDP: 0 sent as 0xffff). */
function recomputeTransport(bytes: Uint8Array, l4: number, size: number, protocol: number, pseudo: number): number {
  const copy = bytes.slice(l4, l4 + size);
  const field = transportChecksumOffset(protocol, 0);
  copy[field] = 0;
  copy[field + 1] = 0;
  const value = finishChecksum(combineChecksums(pseudo, referenceSum(copy, 0, size)));
  return protocol === UDP_PROTOCOL_NUMBER && value === 0 ? 0xffff : value;
}

for (const protocol of [UDP_PROTOCOL_NUMBER, TCP_PROTOCOL_NUMBER]) {
  Checksum(`property: IPv4 address and port rewrites equal a full recompute (protocol ${protocol})`, () => {
    const rand = prng(3022 + protocol);
    for (let round = 0; round < 400; round++) {
      const { bytes, at, l4, end } = randomIpv4Transport(rand, protocol, false);
      const view = viewOf(bytes);
      const size = end - l4;
      // Random addresses, with the all-zero / all-one corners now and then.
      const pick = (): number => [0, 0xffffffff, 0xc6120001][randInt(rand, 6)] ?? (rand() * 2 ** 32) >>> 0;
      const what = randInt(rand, 4);
      if (what === 0) rewriteIpv4Source(view, at, pick());
      else if (what === 1) rewriteIpv4Destination(view, at, pick());
      else assert.ok(rewritePort(view, protocol, l4, what === 2 ? 0 : 2, [0, 0xffff][randInt(rand, 3)] ?? randInt(rand, 65536)));
      assert.is(view.getUint16(at + 10), ipv4HeaderChecksum(bytes, at), `IPv4 header checksum, round ${round}`);
      const field = transportChecksumOffset(protocol, l4);
      assert.is(view.getUint16(field), recomputeTransport(bytes, l4, size, protocol, pseudoV4(bytes, at, protocol, size)), `transport, round ${round}`);
      assert.is(combineChecksums(pseudoV4(bytes, at, protocol, size), checksum(bytes, l4, size)), 0xffff, 'verifies');
    }
  });
}

Checksum('IPv4 rewrites: UDP checksum 0 stays 0; later fragments and ICMP touch only the IP header', () => {
  const rand = prng(768);
  for (let round = 0; round < 50; round++) {
    const { bytes, at, l4 } = randomIpv4Transport(rand, UDP_PROTOCOL_NUMBER, true);
    const view = viewOf(bytes);
    rewriteIpv4Source(view, at, 0xc6130001);
    assert.ok(rewritePort(view, UDP_PROTOCOL_NUMBER, l4, 2, 4242));
    assert.is(view.getUint16(l4 + 6), 0, 'no checksum stays no checksum');
    assert.is(view.getUint16(at + 10), ipv4HeaderChecksum(bytes, at));
  }
  for (const [protocol, fragment] of [[TCP_PROTOCOL_NUMBER, 0x00b9], [UDP_PROTOCOL_NUMBER, 0x2001], [ICMPV4_PROTOCOL_NUMBER, 0]] as const) {
    const { bytes, at, l4, end } = randomIpv4Transport(rand, protocol === ICMPV4_PROTOCOL_NUMBER ? UDP_PROTOCOL_NUMBER : protocol, false);
    const view = viewOf(bytes);
    view.setUint16(at + 6, fragment);
    bytes[at + 9] = protocol;
    view.setUint16(at + 10, ipv4HeaderChecksum(bytes, at));
    const transportBefore = toHex(bytes.subarray(l4, end));
    rewriteIpv4Destination(view, at, 0xc6130002);
    assert.is(toHex(bytes.subarray(l4, end)), transportBefore, `protocol ${protocol} fragment ${fragment}`);
    assert.is(view.getUint16(at + 10), ipv4HeaderChecksum(bytes, at));
    assert.is(view.getUint32(at + 16), 0xc6130002);
  }
  assert.not.ok(rewritePort(viewOf(new Uint8Array(8)), ICMPV4_PROTOCOL_NUMBER, 0, 0, 1));
  // A first fragment (MF, offset 0) carries the transport header: its checksum is patched.
  const { bytes, at, l4, end } = randomIpv4Transport(rand, UDP_PROTOCOL_NUMBER, false);
  const view = viewOf(bytes);
  view.setUint16(at + 6, 0x2000);
  view.setUint16(at + 10, ipv4HeaderChecksum(bytes, at));
  rewriteIpv4Source(view, at, 0xc6130003);
  assert.is(view.getUint16(at + 10), ipv4HeaderChecksum(bytes, at));
  assert.is(view.getUint16(l4 + 6), recomputeTransport(bytes, l4, end - l4, UDP_PROTOCOL_NUMBER, pseudoV4(bytes, at, UDP_PROTOCOL_NUMBER, end - l4)));
});

for (const protocol of [UDP_PROTOCOL_NUMBER, TCP_PROTOCOL_NUMBER, ICMPV6_PROTOCOL_NUMBER]) {
  Checksum(`property: IPv6 address rewrites equal a full recompute (protocol ${protocol})`, () => {
    const rand = prng(8200 + protocol);
    for (let round = 0; round < 300; round++) {
      const at = randInt(rand, 3);
      const extra = 8 * randInt(rand, 2); // an extension header before the transport header, or none
      const size = (protocol === TCP_PROTOCOL_NUMBER ? 20 : 8) + randInt(rand, 30);
      const bytes = randomBytes(rand, at + 40 + extra + size);
      const l4 = at + 40 + extra;
      const pseudo = (): number => pseudoHeaderChecksumV6(bytes, at + 8, at + 24, protocol, size);
      fillTransport(bytes, l4, size, protocol, false, pseudo());
      const address = randomBytes(rand, 20);
      if (round % 7 === 0) address.fill(round % 2 === 0 ? 0 : 0xff);
      const field = at + (round % 2 === 0 ? 8 : 24);
      rewriteIpv6Address(viewOf(bytes), field, address, 2, protocol, l4);
      assert.is(toHex(bytes.subarray(field, field + 16)), toHex(address.subarray(2, 18)));
      const got = viewOf(bytes).getUint16(transportChecksumOffset(protocol, l4));
      assert.is(got, recomputeTransport(bytes, l4, size, protocol, pseudo()), `round ${round}`);
    }
  });
}

Checksum('IPv6 rewrite without a transport header or with UDP checksum 0 leaves the transport alone', () => {
  const rand = prng(2460);
  const bytes = randomBytes(rand, 48);
  const view = viewOf(bytes);
  view.setUint16(40 + 6, 0);
  const address = randomBytes(rand, 16);
  rewriteIpv6Address(view, 8, address, 0, UDP_PROTOCOL_NUMBER, 40);
  assert.is(view.getUint16(46), 0);
  const before = toHex(bytes.subarray(40));
  rewriteIpv6Address(view, 24, address, 0, TCP_PROTOCOL_NUMBER, -1);
  assert.is(toHex(bytes.subarray(40)), before);
  assert.is(toHex(bytes.subarray(24, 40)), toHex(address));
});

Checksum.run();
