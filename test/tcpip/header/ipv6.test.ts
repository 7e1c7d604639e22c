import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  IPV6_DESTINATION_OPTIONS_HEADER,
  IPV6_FIXED_HEADER_SIZE,
  IPV6_FRAGMENT_HEADER,
  IPV6_HOP_BY_HOP_OPTIONS_HEADER,
  IPV6_MAXIMUM_EXTENSION_HEADER_SIZE,
  IPV6_MAXIMUM_EXTENSION_HEADERS,
  IPV6_NO_NEXT_HEADER,
  IPV6_OPTION_PAD1,
  IPV6_OPTION_PADN,
  IPV6_ROUTING_HEADER,
  Ipv6Chain,
  Ipv6Header,
  type Ipv6OptionFields,
  Ipv6Reason,
  copyIpv6Address,
  encodeIpv6,
  encodeIpv6Fragment,
  encodeIpv6Options,
  encodeIpv6Routing,
  ipv6AddressEquals,
  validateIpv6,
  walkIpv6,
} from '../../../src/tcpip/header/ipv6.ts';
import { checksumView, combineChecksums, pseudoHeaderChecksumV6View } from '../../../src/tcpip/checksum.ts';
import { formatIpv6, parseIpv6 } from '../../../src/tcpip/address.ts';
import { hex, toHex, viewOf } from '../../helpers/hex.ts';
import { fuzz, mulberry32 } from './fuzz.ts';
import {
  ETH_IPV6_HBH_DSTOPTS_UDP,
  ETH_IPV6_ICMPV6_ECHO,
  ETH_IPV6_NEIGHBOR_SOLICIT,
  IPV6_ROUTING_TCP,
  IPV6_UDP_ATOMIC_FRAGMENT,
  IPV6_UDP_FIRST_FRAGMENT,
  IPV6_UDP_LAST_FRAGMENT,
  cut,
  patched,
} from './vectors.ts';

const Ipv6 = suite('tcpip/header/ipv6');

/** An IPv6 packet 2001:2::1 -> 2001:2::2 with `nextHeader` and `rest` (hex) as its whole payload. */
function ipv6With(nextHeader: number, rest: string): Uint8Array {
  const payload = hex(rest);
  const bytes = new Uint8Array(IPV6_FIXED_HEADER_SIZE + payload.length);
  bytes.set(IPV6_ROUTING_TCP.subarray(0, IPV6_FIXED_HEADER_SIZE));
  bytes.set(payload, IPV6_FIXED_HEADER_SIZE);
  viewOf(bytes).setUint16(4, payload.length);
  bytes[6] = nextHeader;
  return bytes;
}
/** An 8-byte options header (hop-by-hop or destination options) naming `next`, with PadN. */
const opts8 = (next: number): string => `${next.toString(16).padStart(2, '0')} 00 0104 00000000`;

const fresh = (): Ipv6Chain => new Ipv6Chain();

for (const c of [
  {
    name: 'hop-by-hop, destination options, UDP', bytes: ETH_IPV6_HBH_DSTOPTS_UDP, at: 14,
    want: { transportProtocol: 17, transportOffset: 70, end: 86, extensionHeaders: 2, fragmentHeaderOffset: -1, isFragment: false, atomicFragment: false, fragmentOffset: 0, moreFragments: false, fragmentId: 0 },
  },
  {
    name: 'routing, TCP', bytes: IPV6_ROUTING_TCP, at: 0,
    want: { transportProtocol: 6, transportOffset: 64, end: 88, extensionHeaders: 1, fragmentHeaderOffset: -1, isFragment: false, atomicFragment: false, fragmentOffset: 0, moreFragments: false, fragmentId: 0 },
  },
  {
    name: 'first fragment', bytes: IPV6_UDP_FIRST_FRAGMENT, at: 0,
    want: { transportProtocol: 17, transportOffset: 48, end: 64, extensionHeaders: 1, fragmentHeaderOffset: 40, isFragment: true, atomicFragment: false, fragmentOffset: 0, moreFragments: true, fragmentId: 0xcafe0001 },
  },
  {
    name: 'last fragment', bytes: IPV6_UDP_LAST_FRAGMENT, at: 0,
    want: { transportProtocol: 17, transportOffset: 48, end: 64, extensionHeaders: 1, fragmentHeaderOffset: 40, isFragment: true, atomicFragment: false, fragmentOffset: 16, moreFragments: false, fragmentId: 0xcafe0001 },
  },
  {
    name: 'atomic fragment', bytes: IPV6_UDP_ATOMIC_FRAGMENT, at: 0,
    want: { transportProtocol: 17, transportOffset: 48, end: 80, extensionHeaders: 1, fragmentHeaderOffset: 40, isFragment: false, atomicFragment: true, fragmentOffset: 0, moreFragments: false, fragmentId: 0xcafe0002 },
  },
  {
    name: 'ICMPv6 echo', bytes: ETH_IPV6_ICMPV6_ECHO, at: 14,
    want: { transportProtocol: 58, transportOffset: 54, end: 70, extensionHeaders: 0, fragmentHeaderOffset: -1, isFragment: false, atomicFragment: false, fragmentOffset: 0, moreFragments: false, fragmentId: 0 },
  },
]) {
  Ipv6(`walkIpv6: ${c.name}`, () => {
    const out = fresh();
    assert.is(walkIpv6(viewOf(c.bytes), c.at, c.bytes.length, out), Ipv6Reason.Ok);
    assert.equal({ ...out }, c.want);
  });
}

Ipv6('reads the fixed header', () => {
  const ip = new Ipv6Header().reset(viewOf(ETH_IPV6_HBH_DSTOPTS_UDP), 14);
  assert.is(ip.version, 6);
  assert.is(ip.trafficClass, 0x12);
  assert.is(ip.flowLabel, 0xabcde);
  assert.is(ip.payloadLength, 32);
  assert.is(ip.nextHeader, 0);
  assert.is(ip.hopLimit, 64);
  assert.is(ip.sourceAddressOffset, 22);
  assert.is(ip.destinationAddressOffset, 38);
  assert.is(ip.payloadOffset, 54);
  assert.is(formatIpv6(ETH_IPV6_HBH_DSTOPTS_UDP, ip.sourceAddressOffset), '2001:2::1');
  assert.is(formatIpv6(ETH_IPV6_HBH_DSTOPTS_UDP, ip.destinationAddressOffset), '2001:2::2');
});

Ipv6('setters keep their neighbours', () => {
  const bytes = cut(ETH_IPV6_HBH_DSTOPTS_UDP, 14, 54);
  const ip = new Ipv6Header().reset(viewOf(bytes), 0);
  ip.trafficClass = 0xff;
  assert.is(ip.flowLabel, 0xabcde);
  ip.flowLabel = 0xfffff;
  assert.is(ip.trafficClass, 0xff);
  assert.is(ip.version, 6);
  ip.trafficClass = 0;
  ip.flowLabel = 1;
  ip.payloadLength = 1280;
  ip.nextHeader = IPV6_FRAGMENT_HEADER;
  ip.hopLimit = 1;
  assert.is(toHex(bytes.subarray(0, 8)), toHex(hex('6000 0001  0500 2c 01'))); // version 6, TC 0, flow 1; length, next, hop
});

Ipv6('encodeIpv6 and encodeIpv6Fragment reproduce the vectors', () => {
  const sourceAddress = new Uint8Array(16);
  const destinationAddress = new Uint8Array(16);
  assert.ok(parseIpv6('2001:2::1', sourceAddress));
  assert.ok(parseIpv6('2001:2::2', destinationAddress));
  const out = new Uint8Array(IPV6_UDP_FIRST_FRAGMENT.length);
  const view = viewOf(out);
  assert.is(encodeIpv6(view, 0, { trafficClass: 0, flowLabel: 0, payloadLength: 24, nextHeader: 44, hopLimit: 64, sourceAddress, destinationAddress }), 40);
  assert.is(encodeIpv6Fragment(view, 40, { nextHeader: 17, fragmentOffset: 0, moreFragments: true, id: 0xcafe0001 }), 8);
  out.set(IPV6_UDP_FIRST_FRAGMENT.subarray(48), 48);
  assert.is(toHex(out), toHex(IPV6_UDP_FIRST_FRAGMENT));
  assert.is(validateIpv6(view, 0, out.length), Ipv6Reason.Ok);
  encodeIpv6Fragment(view, 40, { nextHeader: 17, fragmentOffset: 16, moreFragments: false, id: 0xcafe0001 });
  assert.is(toHex(out.subarray(40, 48)), toHex(IPV6_UDP_LAST_FRAGMENT.subarray(40, 48)));
  const tc = new Uint8Array(40);
  encodeIpv6(viewOf(tc), 0, { trafficClass: 0x12, flowLabel: 0xabcde, payloadLength: 32, nextHeader: 0, hopLimit: 64, sourceAddress, destinationAddress });
  assert.is(toHex(tc), toHex(ETH_IPV6_HBH_DSTOPTS_UDP.subarray(14, 54)));
});

/**
 * Reads an options header at `at` the way RFC 8200 §4.2 describes it, independently of the encoder:
 * its next header, its length, the options that are not padding (type, data, offset in the header),
 * and whether all padding is Pad1 or a PadN of zeros, never more than 7 bytes in a row (as Linux's
 * `ip6_parse_tlv()` demands).
 */
function readOptionsHeader(bytes: Uint8Array, at: number): { next: number; length: number; options: { type: number; data: string; at: number }[]; paddingOk: boolean } {
  const length = ((bytes[at + 1] ?? 0) + 1) * 8;
  const options: { type: number; data: string; at: number }[] = [];
  let paddingOk = true;
  let padRun = 0;
  for (let i = 2; i < length;) {
    const type = bytes[at + i] ?? -1;
    if (type === IPV6_OPTION_PAD1) { i++; padRun++; continue; }
    const n = bytes[at + i + 1] ?? 0;
    const data = bytes.subarray(at + i + 2, at + i + 2 + n);
    if (type === IPV6_OPTION_PADN) {
      padRun += n + 2;
      if (data.some((b) => b !== 0)) paddingOk = false;
    } else {
      padRun = 0;
      options.push({ type, data: toHex(data), at: i });
    }
    if (padRun > 7) paddingOk = false;
    i += n + 2;
  }
  return { next: bytes[at] ?? -1, length, options, paddingOk };
}

Ipv6('encodeIpv6Options and encodeIpv6Routing reproduce the hand-made vectors', () => {
  // The hop-by-hop and destination-options headers of ETH_IPV6_HBH_DSTOPTS_UDP: no options, PadN 4.
  const out = new Uint8Array(16).fill(0xaa);
  const view = viewOf(out);
  assert.is(encodeIpv6Options(view, 0, { nextHeader: IPV6_DESTINATION_OPTIONS_HEADER, options: [] }), 8);
  assert.is(encodeIpv6Options(view, 8, { nextHeader: 17, options: [] }), 8);
  assert.is(toHex(out), toHex(ETH_IPV6_HBH_DSTOPTS_UDP.subarray(54, 70)));
  // The routing header of IPV6_ROUTING_TCP: type 0, segments left 0, four reserved bytes, 2001:2::3.
  const routing = new Uint8Array(24).fill(0xaa);
  const data = new Uint8Array(20);
  assert.ok(parseIpv6('2001:2::3', data.subarray(4)));
  assert.is(encodeIpv6Routing(viewOf(routing), 0, { nextHeader: 6, routingType: 0, segmentsLeft: 0, data }), 24);
  assert.is(toHex(routing), toHex(IPV6_ROUTING_TCP.subarray(40, 64)));
});

const RA = { type: 5, data: hex('0000'), alignment: 2 }; // router alert, MLD (RFC 2711): alignment 2n+0
for (const c of [
  {
    name: 'router alert for MLD, PadN 0 to the end (what Linux sends before an MLD report)',
    next: 58, options: [RA],
    want: '3a 00  0502 0000  0100', // next header 58, length 0 | router alert, value 0 | PadN of 0 bytes
  },
  {
    name: 'one Pad1 at the end',
    next: 17, options: [{ type: 0x1e, data: hex('aabbcc') }],
    want: '11 00  1e 03 aabbcc  00', // 2 + 5 bytes, one byte short of 8: Pad1
  },
  {
    name: 'PadN of 3 before an option aligned 8n+2, none at the end',
    next: 6, options: [{ type: 0x1e, data: hex('aa') }, { type: 0x3e, data: hex('01020304'), alignment: 8, alignmentOffset: 2 }],
    want: '06 01  1e 01 aa  01 03 000000  3e 04 01020304', // option at 2..5; PadN 5..10; option 10..16
  },
  {
    name: 'Pad1 before an option aligned 4n+3, PadN 5 at the end',
    next: 59, options: [{ type: 0x1e, data: hex('aabb') }, { type: 0x5e, data: new Uint8Array(0), alignment: 4, alignmentOffset: 3 }],
    want: '3b 01  1e 02 aabb  00  5e 00  01 05 0000000000', // 2..6 | Pad1 at 6 | 7..9 | PadN 9..16
  },
  {
    name: 'an explicit Pad1 and a PadN carried as options',
    next: 17, options: [{ type: IPV6_OPTION_PAD1, data: new Uint8Array(0) }, { type: IPV6_OPTION_PADN, data: hex('0000') }],
    want: '11 00  00  01 02 0000  00', // Pad1 | PadN 2 | Pad1 to 8
  },
]) {
  Ipv6(`encodeIpv6Options: ${c.name}`, () => {
    const want = hex(c.want);
    const out = new Uint8Array(want.length + 4).fill(0xaa);
    assert.is(encodeIpv6Options(viewOf(out), 2, { nextHeader: c.next, options: c.options }), want.length);
    assert.is(toHex(out.subarray(2, 2 + want.length)), toHex(want));
    assert.is(toHex(out.subarray(0, 2)) + toHex(out.subarray(2 + want.length)), 'aaaaaaaa', 'nothing written outside');
  });
}

Ipv6('encodeIpv6Routing: a type 2 header with one address, segments left 1 (RFC 6275 §6.4)', () => {
  const data = new Uint8Array(20);
  assert.ok(parseIpv6('2001:2::9', data.subarray(4)));
  const out = new Uint8Array(24);
  assert.is(encodeIpv6Routing(viewOf(out), 0, { nextHeader: 17, routingType: 2, segmentsLeft: 1, data }), 24);
  assert.is(toHex(out), toHex(hex(`
    11 02 02 01                          # next header 17, length 2 (24 bytes), type 2, segments left 1
    00000000                             # reserved
    2001 0002 0000 0000 0000 0000 0000 0009
  `)));
  const short = new Uint8Array(8).fill(0xaa);
  assert.is(encodeIpv6Routing(viewOf(short), 0, { nextHeader: 59, routingType: 4, segmentsLeft: 0, data: hex('01') }), 8);
  assert.is(toHex(short), '3b00040001000000', 'data zero-filled to 8 bytes');
  assert.is(encodeIpv6Routing(viewOf(short), 0, { nextHeader: 59, routingType: 4, segmentsLeft: 0 }), 8);
  assert.is(toHex(short), '3b00040000000000');
});

const big = (n: number): Uint8Array => new Uint8Array(n).fill(0x5a);
for (const c of [
  { name: 'options: view one byte short', run: (v: DataView) => encodeIpv6Options(v, 1, { nextHeader: 17, options: [RA] }), size: 8 },
  { name: 'options: negative offset', run: (v: DataView) => encodeIpv6Options(v, -1, { nextHeader: 17, options: [] }), size: 16 },
  { name: 'options: data of 256 bytes', run: (v: DataView) => encodeIpv6Options(v, 0, { nextHeader: 17, options: [{ type: 0x1e, data: big(256) }] }), size: 4096 },
  { name: 'options: Pad1 with data', run: (v: DataView) => encodeIpv6Options(v, 0, { nextHeader: 17, options: [{ type: 0, data: big(1) }] }), size: 16 },
  { name: 'options: alignment 3', run: (v: DataView) => encodeIpv6Options(v, 0, { nextHeader: 17, options: [{ ...RA, alignment: 3 }] }), size: 16 },
  { name: 'options: alignment offset not below the alignment', run: (v: DataView) => encodeIpv6Options(v, 0, { nextHeader: 17, options: [{ ...RA, alignmentOffset: 2 }] }), size: 16 },
  {
    name: 'options: 8 options of 255 bytes exceed 2048 bytes',
    run: (v: DataView) => encodeIpv6Options(v, 0, { nextHeader: 17, options: Array.from({ length: 8 }, () => ({ type: 0x1e, data: big(255) })) }), size: 4096,
  },
  {
    name: 'options: 2048 Pad1 options',
    run: (v: DataView) => encodeIpv6Options(v, 0, { nextHeader: 17, options: Array.from({ length: 2048 }, () => ({ type: 0, data: big(0) })) }), size: 4096,
  },
  { name: 'routing: view one byte short', run: (v: DataView) => encodeIpv6Routing(v, 0, { nextHeader: 17, routingType: 2, segmentsLeft: 1, data: big(20) }), size: 23 },
  { name: 'routing: data past 2048 bytes', run: (v: DataView) => encodeIpv6Routing(v, 0, { nextHeader: 17, routingType: 4, segmentsLeft: 1, data: big(2045) }), size: 4096 },
]) {
  Ipv6(`encoders return -1 and write nothing: ${c.name}`, () => {
    const bytes = new Uint8Array(c.size).fill(0xee);
    assert.is(c.run(viewOf(bytes)), -1);
    assert.ok(bytes.every((b) => b === 0xee), 'untouched');
  });
}

Ipv6('the largest headers fit exactly: 2048 bytes of options, 2048 bytes of routing header', () => {
  const out = new Uint8Array(IPV6_MAXIMUM_EXTENSION_HEADER_SIZE);
  // 2 + 7 * 257 + 247 = 2048: seven options of 255 bytes and one of 245.
  const options = [...Array.from({ length: 7 }, () => ({ type: 0x1e, data: big(255) })), { type: 0x3e, data: big(245) }];
  assert.is(encodeIpv6Options(viewOf(out), 0, { nextHeader: 17, options }), 2048);
  assert.is(out[1], 255);
  assert.is(readOptionsHeader(out, 0).options.length, 8);
  assert.is(encodeIpv6Routing(viewOf(out), 0, { nextHeader: 17, routingType: 4, segmentsLeft: 1, data: big(2044) }), 2048);
  assert.is(out[1], 255);
});

Ipv6('encoded chain walks: hop-by-hop, routing, destination options, fragment, UDP', () => {
  const bytes = new Uint8Array(200);
  const view = viewOf(bytes);
  const sourceAddress = new Uint8Array(16);
  const destinationAddress = new Uint8Array(16);
  parseIpv6('2001:2::1', sourceAddress);
  parseIpv6('2001:2::2', destinationAddress);
  const address = new Uint8Array(20);
  parseIpv6('2001:2::3', address.subarray(4));
  let at = 40;
  at += encodeIpv6Options(view, at, { nextHeader: IPV6_ROUTING_HEADER, options: [RA] });
  at += encodeIpv6Routing(view, at, { nextHeader: IPV6_DESTINATION_OPTIONS_HEADER, routingType: 2, segmentsLeft: 1, data: address });
  const dst = at;
  at += encodeIpv6Options(view, at, { nextHeader: IPV6_FRAGMENT_HEADER, options: [{ type: 0x1e, data: hex('6e657473686172642121') }] });
  const fragment = at;
  at += encodeIpv6Fragment(view, at, { nextHeader: 17, fragmentOffset: 0, moreFragments: false, id: 7 });
  const udp = at;
  at += 8;
  encodeIpv6(view, 0, { trafficClass: 0, flowLabel: 0, payloadLength: at - 40, nextHeader: IPV6_HOP_BY_HOP_OPTIONS_HEADER, hopLimit: 64, sourceAddress, destinationAddress });
  assert.equal([dst, fragment, udp], [40 + 8 + 24, 40 + 8 + 24 + 16, 40 + 8 + 24 + 16 + 8]);
  const out = fresh();
  assert.is(walkIpv6(view, 0, at, out), Ipv6Reason.Ok);
  assert.is(out.transportProtocol, 17);
  assert.is(out.transportOffset, udp);
  assert.is(out.extensionHeaders, 4);
  assert.is(out.fragmentHeaderOffset, fragment);
  assert.is(out.atomicFragment, true);
  assert.equal(readOptionsHeader(bytes, dst).options, [{ type: 0x1e, data: '6e657473686172642121', at: 2 }]);
});

Ipv6('seeded random option lists: aligned, padded with zero Pad1/PadN, read back in order, walked', () => {
  const random = mulberry32(0x0e46);
  const int = (n: number): number => Math.floor(random() * n);
  const out = fresh();
  for (let round = 0; round < 500; round++) {
    const options: Ipv6OptionFields[] = Array.from({ length: int(6) }, () => {
      const alignment = [1, 2, 4, 8][int(4)] ?? 1;
      return { type: 2 + int(254), data: Uint8Array.from({ length: int(24) }, () => int(256)), alignment, alignmentOffset: int(alignment) };
    });
    const next = [6, 17, 58, 59][int(4)] ?? 59;
    const bytes = new Uint8Array(40 + 256);
    const view = viewOf(bytes);
    const length = encodeIpv6Options(view, 40, { nextHeader: next, options });
    assert.ok(length >= 8 && length % 8 === 0, `length ${length}`);
    const got = readOptionsHeader(bytes, 40);
    assert.is(got.next, next);
    assert.is(got.length, length, 'length byte');
    assert.ok(got.paddingOk, `padding in ${toHex(bytes.subarray(40, 40 + length))}`);
    assert.equal(got.options.map((o) => [o.type, o.data]), options.map((o) => [o.type, toHex(o.data)]));
    got.options.forEach((o, i) => {
      const want = options[i];
      assert.is(o.at % (want?.alignment ?? 1), want?.alignmentOffset ?? 0, `option ${i} alignment`);
    });
    bytes[0] = 0x60;
    view.setUint16(4, length);
    bytes[6] = round % 2 === 0 ? IPV6_HOP_BY_HOP_OPTIONS_HEADER : IPV6_DESTINATION_OPTIONS_HEADER;
    assert.is(walkIpv6(view, 0, 40 + length, out), Ipv6Reason.Ok);
    assert.is(out.transportProtocol, next);
    assert.is(out.transportOffset, 40 + length);
  }
});

Ipv6('address helpers compare and copy 16 bytes', () => {
  const view = viewOf(IPV6_ROUTING_TCP);
  assert.ok(ipv6AddressEquals(view, 8, viewOf(ETH_IPV6_ICMPV6_ECHO), 22));
  assert.not.ok(ipv6AddressEquals(view, 8, view, 24)); // differ in the last byte only
  assert.not.ok(ipv6AddressEquals(view, 24, view, 48)); // 2001:2::2 vs the routing header's 2001:2::3
  const copy = new Uint8Array(18);
  copyIpv6Address(view, 48, viewOf(copy), 1);
  assert.is(formatIpv6(copy, 1), '2001:2::3');
  assert.is(copy[0], 0);
  assert.is(copy[17], 0);
});

for (const c of [
  { name: 'UDP after hop-by-hop and destination options', bytes: ETH_IPV6_HBH_DSTOPTS_UDP, ip: 14, next: 17 },
  { name: 'TCP after a routing header', bytes: IPV6_ROUTING_TCP, ip: 0, next: 6 },
  { name: 'ICMPv6 echo', bytes: ETH_IPV6_ICMPV6_ECHO, ip: 14, next: 58 },
  { name: 'ICMPv6 neighbor solicitation', bytes: ETH_IPV6_NEIGHBOR_SOLICIT, ip: 14, next: 58 },
  { name: 'UDP in an atomic fragment', bytes: IPV6_UDP_ATOMIC_FRAGMENT, ip: 0, next: 17 },
]) {
  Ipv6(`vector checksum verifies with the pseudo-header: ${c.name}`, () => {
    const view = viewOf(c.bytes);
    const out = fresh();
    assert.is(walkIpv6(view, c.ip, c.bytes.length, out), Ipv6Reason.Ok);
    const length = out.end - out.transportOffset;
    const pseudo = pseudoHeaderChecksumV6View(view, c.ip + 8, c.ip + 24, c.next, length);
    assert.is(combineChecksums(pseudo, checksumView(view, out.transportOffset, length)), 0xffff);
  });
}

Ipv6('fragment vectors reassemble into a datagram whose UDP checksum verifies', () => {
  const datagram = new Uint8Array(32);
  datagram.set(IPV6_UDP_FIRST_FRAGMENT.subarray(48, 64), 0);
  datagram.set(IPV6_UDP_LAST_FRAGMENT.subarray(48, 64), 16);
  const pseudo = pseudoHeaderChecksumV6View(viewOf(IPV6_UDP_FIRST_FRAGMENT), 8, 24, 17, 32);
  assert.is(combineChecksums(pseudo, checksumView(viewOf(datagram), 0, 32)), 0xffff);
});

for (const c of [
  { name: 'no next header right away', bytes: ipv6With(IPV6_NO_NEXT_HEADER, ''), want: Ipv6Reason.Ok, protocol: 59, offset: 40 },
  { name: 'no next header after destination options', bytes: ipv6With(60, opts8(59)), want: Ipv6Reason.Ok, protocol: 59, offset: 48 },
  { name: 'payload length 0 with UDP next', bytes: ipv6With(17, ''), want: Ipv6Reason.Ok, protocol: 17, offset: 40 },
  {
    name: `exactly ${IPV6_MAXIMUM_EXTENSION_HEADERS} extension headers`,
    bytes: ipv6With(0, [opts8(60), ...Array.from({ length: 7 }, (_, i) => opts8(i === 6 ? 59 : 60))].join(' ')),
    want: Ipv6Reason.Ok, protocol: 59, offset: 40 + 64,
  },
  {
    name: 'a non-first fragment ends the walk (what follows is data)',
    bytes: ipv6With(44, '00 00 0010 00000001  ffff ffff ffff ffff'), // next header 0 would be HopByHopNotFirst
    want: Ipv6Reason.Ok, protocol: 0, offset: 48,
  },
  { name: 'link padding after the payload', bytes: new Uint8Array([...ipv6With(59, ''), 0, 0]), want: Ipv6Reason.Ok, protocol: 59, offset: 40 },
  { name: '39 bytes', bytes: cut(IPV6_ROUTING_TCP, 0, 39), want: Ipv6Reason.Truncated, protocol: -1, offset: -1 },
  { name: 'version 4', bytes: patched(IPV6_ROUTING_TCP, 0, hex('45')), want: Ipv6Reason.BadVersion, protocol: -1, offset: -1 },
  { name: 'payload length one past the end', bytes: patched(IPV6_ROUTING_TCP, 4, hex('0031')), want: Ipv6Reason.BadPayloadLength, protocol: -1, offset: -1 },
  { name: 'payload length past a truncated frame', bytes: cut(IPV6_ROUTING_TCP, 0, 87), want: Ipv6Reason.BadPayloadLength, protocol: -1, offset: -1 },
  { name: 'options header of 16 bytes with 8 present', bytes: ipv6With(60, '11 01 0104 00000000'), want: Ipv6Reason.BadExtensionHeader, protocol: -1, offset: -1 },
  { name: 'options header with 4 bytes left', bytes: ipv6With(60, '11 00 0102'), want: Ipv6Reason.BadExtensionHeader, protocol: -1, offset: -1 },
  { name: 'routing header cut by the payload length', bytes: patched(IPV6_ROUTING_TCP, 4, hex('0010')), want: Ipv6Reason.BadExtensionHeader, protocol: -1, offset: -1 },
  { name: 'fragment header with 4 bytes left', bytes: ipv6With(44, '11 00 0001'), want: Ipv6Reason.BadExtensionHeader, protocol: -1, offset: -1 },
  { name: 'two fragment headers', bytes: ipv6With(44, '2c 00 0001 00000001  11 00 0001 00000002'), want: Ipv6Reason.BadExtensionHeader, protocol: -1, offset: -1 },
  { name: 'first fragment with a truncated header after it', bytes: ipv6With(44, '3c 00 0001 00000001  11 00 01'), want: Ipv6Reason.BadExtensionHeader, protocol: -1, offset: -1 },
  {
    name: `${IPV6_MAXIMUM_EXTENSION_HEADERS + 1} extension headers`,
    bytes: ipv6With(60, Array.from({ length: 9 }, (_, i) => opts8(i === 8 ? 59 : 60)).join(' ')),
    want: Ipv6Reason.TooManyExtensionHeaders, protocol: -1, offset: -1,
  },
  {
    name: `${IPV6_MAXIMUM_EXTENSION_HEADERS} options headers, then a fragment header`,
    bytes: ipv6With(60, [...Array.from({ length: 8 }, (_, i) => opts8(i === 7 ? 44 : 60)), '11 00 0001 00000001'].join(' ')),
    want: Ipv6Reason.TooManyExtensionHeaders, protocol: -1, offset: -1,
  },
  { name: 'hop-by-hop after destination options', bytes: ipv6With(60, `${opts8(0)} ${opts8(59)}`), want: Ipv6Reason.HopByHopNotFirst, protocol: -1, offset: -1 },
  { name: 'hop-by-hop twice', bytes: ipv6With(0, `${opts8(0)} ${opts8(59)}`), want: Ipv6Reason.HopByHopNotFirst, protocol: -1, offset: -1 },
]) {
  Ipv6(`walkIpv6: ${c.name}`, () => {
    const out = fresh();
    const got = walkIpv6(viewOf(c.bytes), 0, c.bytes.length, out);
    assert.is(got, c.want, `walkIpv6(${c.name}) = ${got}, want ${c.want}`);
    assert.is(validateIpv6(viewOf(c.bytes), 0, c.bytes.length), c.want);
    assert.is(out.transportProtocol, c.protocol);
    assert.is(out.transportOffset, c.offset);
  });
}

Ipv6('walkIpv6 resets a reused result', () => {
  const out = fresh();
  walkIpv6(viewOf(IPV6_UDP_LAST_FRAGMENT), 0, IPV6_UDP_LAST_FRAGMENT.length, out);
  assert.is(out.isFragment, true);
  assert.is(walkIpv6(viewOf(IPV6_ROUTING_TCP), 0, IPV6_ROUTING_TCP.length, out), Ipv6Reason.Ok);
  assert.is(out.isFragment, false);
  assert.is(out.fragmentHeaderOffset, -1);
  assert.is(out.fragmentId, 0);
});

Ipv6('fuzz: walkIpv6 never throws and returns known reasons', () => {
  const known = new Set<number>(Object.values(Ipv6Reason));
  const out = fresh();
  const seeds = [
    cut(ETH_IPV6_HBH_DSTOPTS_UDP, 14), IPV6_ROUTING_TCP, IPV6_UDP_FIRST_FRAGMENT, IPV6_UDP_LAST_FRAGMENT,
    IPV6_UDP_ATOMIC_FRAGMENT, cut(ETH_IPV6_ICMPV6_ECHO, 14),
    ipv6With(60, Array.from({ length: 9 }, (_, i) => opts8(i === 8 ? 59 : 60)).join(' ')),
    ipv6With(60, `${opts8(0)} ${opts8(59)}`),
  ];
  const counts = new Map<number, number>();
  fuzz(0x1606, 20_000, seeds, (view, offset, end) => {
    const reason = walkIpv6(view, offset, end, out);
    assert.ok(known.has(reason), `unknown reason ${reason}`);
    counts.set(reason, (counts.get(reason) ?? 0) + 1);
    if (reason === Ipv6Reason.Ok) {
      assert.ok(out.transportOffset >= offset + 40 && out.transportOffset <= out.end && out.end <= end);
      assert.ok(out.extensionHeaders <= IPV6_MAXIMUM_EXTENSION_HEADERS);
    }
  });
  assert.is(counts.size, known.size, `every reason seen: ${[...counts.entries()].join(' ')}`);
});

Ipv6.run();
