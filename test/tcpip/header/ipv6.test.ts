import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  IPV6_FIXED_HEADER_SIZE,
  IPV6_FRAGMENT_HEADER,
  IPV6_MAXIMUM_EXTENSION_HEADERS,
  IPV6_NO_NEXT_HEADER,
  Ipv6Chain,
  Ipv6Header,
  Ipv6Reason,
  copyIpv6Address,
  encodeIpv6,
  encodeIpv6Fragment,
  ipv6AddressEquals,
  validateIpv6,
  walkIpv6,
} from '../../../src/tcpip/header/ipv6.ts';
import { checksumView, combineChecksums, pseudoHeaderChecksumV6View } from '../../../src/tcpip/checksum.ts';
import { formatIpv6, parseIpv6 } from '../../../src/tcpip/address.ts';
import { hex, toHex, viewOf } from '../../helpers/hex.ts';
import { fuzz } from './fuzz.ts';
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
