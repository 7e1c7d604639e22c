import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { FragmentKind, PARSE_REASON_COUNT, ParseReason, ParsedPacket, parsePacket, parseReasonName } from '../../src/tcpip/parse.ts';
import {
  ARP_SIZE,
  ArpReason,
  EthernetHeader,
  EthernetReason,
  ICMPV4_MINIMUM_SIZE,
  ICMPV6_MINIMUM_SIZE,
  Icmpv4Reason,
  Icmpv6Reason,
  Ipv4Header,
  Ipv4Reason,
  Ipv6Chain,
  Ipv6Reason,
  TcpHeader,
  TcpReason,
  UdpReason,
  validateArp,
  validateEthernet,
  validateIcmpv4,
  validateIcmpv6,
  validateIpv4,
  validateTcpHeader,
  validateUdp,
  walkIpv6,
} from '../../src/tcpip/header/index.ts';
import {
  checksumView,
  combineChecksums,
  finishChecksum,
  pseudoHeaderChecksumV4,
  pseudoHeaderChecksumV6View,
} from '../../src/tcpip/checksum.ts';
import { hex, toHex, viewOf } from '../helpers/hex.ts';
import { fuzz } from './header/fuzz.ts';
import {
  ETH_ARP_REQUEST,
  ETH_IPV4_ICMP_ECHO,
  ETH_IPV4_UDP,
  ETH_IPV6_HBH_DSTOPTS_UDP,
  ETH_IPV6_ICMPV6_ECHO,
  ETH_IPV6_NEIGHBOR_SOLICIT,
  ETH_VLAN_IPV4_TCP_SYN,
  FRAMES,
  IPV4_UDP_FIRST_FRAGMENT,
  IPV4_UDP_LAST_FRAGMENT,
  IPV6_ROUTING_TCP,
  IPV6_UDP_ATOMIC_FRAGMENT,
  IPV6_UDP_FIRST_FRAGMENT,
  IPV6_UDP_LAST_FRAGMENT,
  cut,
  patched,
} from './header/vectors.ts';

const Parse = suite('tcpip/parse');

/** A copy of `bytes` with `patch` at `offset` and the IPv4 header checksum at `ip` recomputed, so the variant is a real packet. */
function ipv4Variant(bytes: Uint8Array, ip: number, offset: number, patch: Uint8Array): Uint8Array {
  const copy = patched(bytes, offset, patch);
  const view = viewOf(copy);
  view.setUint16(ip + 10, 0);
  view.setUint16(ip + 10, finishChecksum(checksumView(view, ip, (copy[ip]! & 0xf) * 4)));
  return copy;
}

type Want = Omit<ParsedPacket, 'reset'>;
const NONE = { linkOffset: -1, vlanId: -1, fragment: FragmentKind.None, sourcePort: -1, destinationPort: -1 };

/** Ethernet, 802.1Q tag, the IPv4/UDP packet of ETH_IPV4_UDP (no IP options: the parser's fast path). */
const ETH_VLAN_IPV4_UDP = hex(`
  0200 0000 0002 0200 0000 0001            # destination, source
  8100 0007                                # 802.1Q tag: TPID 8100, TCI: PCP 0, VID 7
  0800                                     # EtherType 0800
  4500 0020 1234 4000 4011 9c71            # IPv4: IHL 5, total length 32, DF, TTL 64, UDP, checksum
  c612 0001 c612 0002                      # 198.18.0.1 -> 198.18.0.2
  3039 0035 000c a5a2                      # UDP 12345 -> 53, length 12, checksum
  dead beef                                # payload
`);

/** Ethernet, IPv6 straight to TCP (IPV6_ROUTING_TCP without its routing header: the parser's fast path). */
const ETH_IPV6_TCP = hex(`
  0200 0000 0002 0200 0000 0001 86dd       # destination, source, EtherType 86dd
  6000 0000                                # version 6, traffic class 0, flow label 0
  0018 063f                                # payload length 24, next header 6 (TCP), hop limit 63
  2001 0002 0000 0000 0000 0000 0000 0001  # source 2001:2::1
  2001 0002 0000 0000 0000 0000 0000 0002  # destination 2001:2::2
  01bb c350 0000 03e8 0000 07d0            # TCP 443 -> 50000, sequence 1000, acknowledgment 2000
  5018 0200 be2b 0000                      # data offset 5 words, PSH|ACK, window 512, checksum
  7069 6e67                                # payload "ping"
`);

const OK_CASES: { name: string; bytes: Uint8Array; ethernet: boolean; want: Want }[] = [
  {
    name: 'Ethernet, IPv4, UDP', bytes: ETH_IPV4_UDP, ethernet: true,
    want: { ...NONE, linkOffset: 0, networkOffset: 14, networkProtocol: 0x0800, end: 46, transportOffset: 34, transportProtocol: 17, payloadOffset: 42, sourcePort: 12345, destinationPort: 53 },
  },
  {
    name: 'Ethernet padded to 60 bytes: end is the IP end', bytes: new Uint8Array([...ETH_IPV4_UDP, ...new Uint8Array(14)]), ethernet: true,
    want: { ...NONE, linkOffset: 0, networkOffset: 14, networkProtocol: 0x0800, end: 46, transportOffset: 34, transportProtocol: 17, payloadOffset: 42, sourcePort: 12345, destinationPort: 53 },
  },
  {
    name: 'VLAN 100, IPv4 with options, TCP SYN with options', bytes: ETH_VLAN_IPV4_TCP_SYN, ethernet: true,
    want: { ...NONE, linkOffset: 0, vlanId: 100, networkOffset: 18, networkProtocol: 0x0800, end: 82, transportOffset: 42, transportProtocol: 6, payloadOffset: 82, sourcePort: 40000, destinationPort: 80 },
  },
  {
    name: 'VLAN 7, IPv4 without options, UDP', bytes: ETH_VLAN_IPV4_UDP, ethernet: true,
    want: { ...NONE, linkOffset: 0, vlanId: 7, networkOffset: 18, networkProtocol: 0x0800, end: 50, transportOffset: 38, transportProtocol: 17, payloadOffset: 46, sourcePort: 12345, destinationPort: 53 },
  },
  {
    name: 'Ethernet, IPv6 without extension headers, TCP', bytes: ETH_IPV6_TCP, ethernet: true,
    want: { ...NONE, linkOffset: 0, networkOffset: 14, networkProtocol: 0x86dd, end: 78, transportOffset: 54, transportProtocol: 6, payloadOffset: 74, sourcePort: 443, destinationPort: 50000 },
  },
  {
    name: 'Ethernet, IPv4, ICMP echo', bytes: ETH_IPV4_ICMP_ECHO, ethernet: true,
    want: { ...NONE, linkOffset: 0, networkOffset: 14, networkProtocol: 0x0800, end: 50, transportOffset: 34, transportProtocol: 1, payloadOffset: 42 },
  },
  {
    name: 'IPv4 first fragment: ports present', bytes: IPV4_UDP_FIRST_FRAGMENT, ethernet: false,
    want: { ...NONE, networkOffset: 0, networkProtocol: 0x0800, end: 36, transportOffset: 20, transportProtocol: 17, payloadOffset: 28, fragment: FragmentKind.First, sourcePort: 5000, destinationPort: 6000 },
  },
  {
    name: 'IPv4 last fragment: no ports', bytes: IPV4_UDP_LAST_FRAGMENT, ethernet: false,
    want: { ...NONE, networkOffset: 0, networkProtocol: 0x0800, end: 36, transportOffset: 20, transportProtocol: 17, payloadOffset: 20, fragment: FragmentKind.NonFirst },
  },
  {
    name: 'Ethernet, IPv6, hop-by-hop, destination options, UDP', bytes: ETH_IPV6_HBH_DSTOPTS_UDP, ethernet: true,
    want: { ...NONE, linkOffset: 0, networkOffset: 14, networkProtocol: 0x86dd, end: 86, transportOffset: 70, transportProtocol: 17, payloadOffset: 78, sourcePort: 5353, destinationPort: 5353 },
  },
  {
    name: 'IPv6, routing, TCP', bytes: IPV6_ROUTING_TCP, ethernet: false,
    want: { ...NONE, networkOffset: 0, networkProtocol: 0x86dd, end: 88, transportOffset: 64, transportProtocol: 6, payloadOffset: 84, sourcePort: 443, destinationPort: 50000 },
  },
  {
    name: 'IPv6 first fragment: ports present', bytes: IPV6_UDP_FIRST_FRAGMENT, ethernet: false,
    want: { ...NONE, networkOffset: 0, networkProtocol: 0x86dd, end: 64, transportOffset: 48, transportProtocol: 17, payloadOffset: 56, fragment: FragmentKind.First, sourcePort: 7000, destinationPort: 8000 },
  },
  {
    name: 'IPv6 last fragment: no ports', bytes: IPV6_UDP_LAST_FRAGMENT, ethernet: false,
    want: { ...NONE, networkOffset: 0, networkProtocol: 0x86dd, end: 64, transportOffset: 48, transportProtocol: 17, payloadOffset: 48, fragment: FragmentKind.NonFirst },
  },
  {
    name: 'IPv6 atomic fragment: not a fragment', bytes: IPV6_UDP_ATOMIC_FRAGMENT, ethernet: false,
    want: { ...NONE, networkOffset: 0, networkProtocol: 0x86dd, end: 80, transportOffset: 48, transportProtocol: 17, payloadOffset: 56, sourcePort: 7000, destinationPort: 8000 },
  },
  {
    name: 'Ethernet, IPv6, ICMPv6 echo', bytes: ETH_IPV6_ICMPV6_ECHO, ethernet: true,
    want: { ...NONE, linkOffset: 0, networkOffset: 14, networkProtocol: 0x86dd, end: 70, transportOffset: 54, transportProtocol: 58, payloadOffset: 62 },
  },
  {
    name: 'Ethernet, IPv6, neighbor solicitation', bytes: ETH_IPV6_NEIGHBOR_SOLICIT, ethernet: true,
    want: { ...NONE, linkOffset: 0, networkOffset: 14, networkProtocol: 0x86dd, end: 86, transportOffset: 54, transportProtocol: 58, payloadOffset: 62 },
  },
  {
    name: 'ARP request: no transport', bytes: ETH_ARP_REQUEST, ethernet: true,
    want: { ...NONE, linkOffset: 0, networkOffset: 14, networkProtocol: 0x0806, end: 42, transportOffset: -1, transportProtocol: -1, payloadOffset: -1 },
  },
  {
    name: 'IPv4 SCTP (132): ports read, payload opaque', bytes: ipv4Variant(ETH_IPV4_UDP, 14, 23, hex('84')), ethernet: true,
    want: { ...NONE, linkOffset: 0, networkOffset: 14, networkProtocol: 0x0800, end: 46, transportOffset: 34, transportProtocol: 132, payloadOffset: 34, sourcePort: 12345, destinationPort: 53 },
  },
  {
    name: 'IPv4 GRE (47): no ports, payload opaque', bytes: ipv4Variant(ETH_IPV4_UDP, 14, 23, hex('2f')), ethernet: true,
    want: { ...NONE, linkOffset: 0, networkOffset: 14, networkProtocol: 0x0800, end: 46, transportOffset: 34, transportProtocol: 47, payloadOffset: 34 },
  },
  {
    name: 'IPv6 next header 1 (ICMPv4) is opaque, not checked as ICMP', bytes: patched(cut(ETH_IPV6_ICMPV6_ECHO, 0, 58), 18, hex('0004 01')), ethernet: true,
    want: { ...NONE, linkOffset: 0, networkOffset: 14, networkProtocol: 0x86dd, end: 58, transportOffset: 54, transportProtocol: 1, payloadOffset: 54 },
  },
  {
    name: 'IPv6 no next header', bytes: patched(cut(ETH_IPV6_ICMPV6_ECHO, 0, 54), 18, hex('0000 3b')), ethernet: true,
    want: { ...NONE, linkOffset: 0, networkOffset: 14, networkProtocol: 0x86dd, end: 54, transportOffset: 54, transportProtocol: 59, payloadOffset: 54 },
  },
];

for (const c of OK_CASES) {
  Parse(`parsePacket: ${c.name}`, () => {
    const out = new ParsedPacket();
    const got = parsePacket(viewOf(c.bytes), 0, c.bytes.length, c.ethernet, out);
    assert.is(got, ParseReason.Ok, `parsePacket(${c.name}) = ${parseReasonName(got)}`);
    assert.equal({ ...out }, c.want);
  });
  if (c.ethernet && c.want.networkProtocol !== 0x0806) {
    // The same packet without its link header (TUN): protocol from the version nibble, offsets shifted.
    Parse(`parsePacket without Ethernet: ${c.name}`, () => {
      const at = c.want.networkOffset;
      const bare = cut(c.bytes, at);
      const out = new ParsedPacket();
      assert.is(parsePacket(viewOf(bare), 0, bare.length, false, out), ParseReason.Ok);
      const shift = (n: number): number => (n < 0 ? n : n - at);
      assert.equal({ ...out }, {
        ...c.want, linkOffset: -1, vlanId: -1, networkOffset: 0, end: shift(c.want.end),
        transportOffset: shift(c.want.transportOffset), payloadOffset: shift(c.want.payloadOffset),
      });
    });
  }
}

Parse('every vector is a real packet: its checksums verify where parsePacket says its headers are', () => {
  const out = new ParsedPacket();
  let verified = 0;
  for (const f of FRAMES) {
    const view = viewOf(f.bytes);
    assert.is(parsePacket(view, 0, f.bytes.length, f.ethernet, out), ParseReason.Ok, f.name);
    const ip = out.networkOffset;
    if (out.networkProtocol === 0x0806) continue;
    const isIpv4 = out.networkProtocol === 0x0800;
    if (isIpv4) assert.is(checksumView(view, ip, out.transportOffset - ip), 0xffff, `${f.name}: IPv4 header`);
    if (out.fragment !== FragmentKind.None) continue; // a fragment's transport checksum covers the whole datagram
    const length = out.end - out.transportOffset;
    const sum = checksumView(view, out.transportOffset, length);
    const pseudo = out.transportProtocol === 1
      ? 0 // ICMPv4 covers its own bytes only
      : isIpv4
        ? pseudoHeaderChecksumV4(out.transportProtocol, view.getUint32(ip + 12), view.getUint32(ip + 16), length)
        : pseudoHeaderChecksumV6View(view, ip + 8, ip + 24, out.transportProtocol, length);
    assert.is(combineChecksums(pseudo, sum), 0xffff, `${f.name}: transport checksum`);
    verified++;
  }
  assert.is(verified, 8);
});

Parse('parsePacket: offsets are absolute in a frame pool', () => {
  const pool = new Uint8Array(4096);
  pool.set(ETH_VLAN_IPV4_TCP_SYN, 2048);
  const out = new ParsedPacket();
  assert.is(parsePacket(viewOf(pool), 2048, 2048 + ETH_VLAN_IPV4_TCP_SYN.length, true, out), ParseReason.Ok);
  assert.equal([out.linkOffset, out.networkOffset, out.transportOffset, out.payloadOffset, out.end], [2048, 2066, 2090, 2130, 2130]);
});

Parse('parsePacket: a reused result is reset; after a drop the layers before it are filled', () => {
  const out = new ParsedPacket();
  assert.is(parsePacket(viewOf(ETH_IPV4_UDP), 0, ETH_IPV4_UDP.length, true, out), ParseReason.Ok);
  const broken = patched(ETH_VLAN_IPV4_TCP_SYN, 18, hex('44')); // IHL 4
  assert.is(parsePacket(viewOf(broken), 0, broken.length, true, out), ParseReason.Ipv4BadIhl);
  assert.equal([out.linkOffset, out.vlanId, out.networkOffset, out.networkProtocol], [0, 100, 18, 0x0800]);
  assert.equal([out.transportOffset, out.transportProtocol, out.sourcePort, out.destinationPort], [-1, -1, -1, -1]);
});

/** The IPv6 fixed header of IPV6_ROUTING_TCP with `nextHeader` and `rest` (hex) as its whole payload. */
function ipv6With(nextHeader: number, rest: string): Uint8Array {
  const payload = hex(rest);
  const bytes = new Uint8Array(40 + payload.length);
  bytes.set(IPV6_ROUTING_TCP.subarray(0, 40));
  bytes.set(payload, 40);
  viewOf(bytes).setUint16(4, payload.length);
  bytes[6] = nextHeader;
  return bytes;
}
const ETH = (type: string): string => `020000000002 020000000001 ${type}`;

const DROP_CASES: { name: string; bytes: Uint8Array; ethernet: boolean; want: ParseReason }[] = [
  { name: 'LLDP EtherType', bytes: hex(`${ETH('88cc')} 0000`), ethernet: true, want: ParseReason.UnknownNetworkProtocol },
  { name: 'version nibble 5 without Ethernet', bytes: patched(cut(ETH_IPV4_UDP, 14), 0, hex('55')), ethernet: false, want: ParseReason.UnknownNetworkProtocol },
  { name: 'empty without Ethernet', bytes: new Uint8Array(0), ethernet: false, want: ParseReason.UnknownNetworkProtocol },
  { name: '13-byte frame', bytes: cut(ETH_IPV4_UDP, 0, 13), ethernet: true, want: ParseReason.EthernetTruncated },
  { name: 'two VLAN tags', bytes: hex(`${ETH('8100 0064 8100 0065 0800')}`), ethernet: true, want: ParseReason.EthernetNestedVlan },
  { name: '802.3 length field', bytes: hex(ETH('0040')), ethernet: true, want: ParseReason.EthernetNotEthernetII },
  { name: 'ARP cut to 27 bytes', bytes: cut(ETH_ARP_REQUEST, 0, 41), ethernet: true, want: ParseReason.ArpTruncated },
  { name: 'ARP over IEEE 802 hardware', bytes: patched(ETH_ARP_REQUEST, 14, hex('0006')), ethernet: true, want: ParseReason.ArpUnsupportedHardwareType },
  { name: 'ARP for IPv6 addresses', bytes: patched(ETH_ARP_REQUEST, 16, hex('86dd')), ethernet: true, want: ParseReason.ArpUnsupportedProtocolType },
  { name: 'RARP op', bytes: patched(ETH_ARP_REQUEST, 20, hex('0003')), ethernet: true, want: ParseReason.ArpUnsupportedOp },
  { name: 'IPv4 cut to 19 bytes', bytes: cut(ETH_IPV4_UDP, 0, 33), ethernet: true, want: ParseReason.Ipv4Truncated },
  { name: 'EtherType IPv4, version 6', bytes: patched(ETH_IPV4_UDP, 14, hex('65')), ethernet: true, want: ParseReason.Ipv4BadVersion },
  { name: 'IPv4 IHL 4', bytes: patched(ETH_IPV4_UDP, 14, hex('44')), ethernet: true, want: ParseReason.Ipv4BadIhl },
  { name: 'IPv4 total length past the frame', bytes: patched(ETH_IPV4_UDP, 16, hex('0100')), ethernet: true, want: ParseReason.Ipv4BadTotalLength },
  { name: 'IPv4 option of length 0', bytes: patched(ETH_VLAN_IPV4_TCP_SYN, 39, hex('00')), ethernet: true, want: ParseReason.Ipv4BadOptions },
  { name: 'IPv6 cut to 39 bytes', bytes: cut(IPV6_ROUTING_TCP, 0, 39), ethernet: false, want: ParseReason.Ipv6Truncated },
  { name: 'EtherType IPv6, version 4', bytes: patched(ETH_IPV6_ICMPV6_ECHO, 14, hex('45')), ethernet: true, want: ParseReason.Ipv6BadVersion },
  { name: 'IPv6 payload length past the frame', bytes: patched(IPV6_ROUTING_TCP, 4, hex('0100')), ethernet: false, want: ParseReason.Ipv6BadPayloadLength },
  { name: 'IPv6 routing header cut short', bytes: patched(IPV6_ROUTING_TCP, 4, hex('0010')), ethernet: false, want: ParseReason.Ipv6BadExtensionHeader },
  {
    name: 'IPv6 with 9 destination options headers',
    bytes: ipv6With(60, Array.from({ length: 9 }, (_, i) => `${i === 8 ? '3b' : '3c'} 00 0104 00000000`).join(' ')),
    ethernet: false, want: ParseReason.Ipv6TooManyExtensionHeaders,
  },
  { name: 'IPv6 hop-by-hop after destination options', bytes: ipv6With(60, '00 00 0104 00000000  3b 00 0104 00000000'), ethernet: false, want: ParseReason.Ipv6HopByHopNotFirst },
  { name: 'TCP of 19 bytes (IPv6 payload length)', bytes: patched(IPV6_ROUTING_TCP, 4, hex('002b')), ethernet: false, want: ParseReason.TcpTruncated },
  { name: 'TCP data offset 4 words', bytes: patched(IPV6_ROUTING_TCP, 76, hex('40')), ethernet: false, want: ParseReason.TcpBadDataOffset },
  { name: 'TCP options past the IP end', bytes: patched(IPV6_ROUTING_TCP, 76, hex('70')), ethernet: false, want: ParseReason.TcpBadDataOffset },
  { name: 'UDP of 7 bytes (IPv4 total length)', bytes: patched(ETH_IPV4_UDP, 16, hex('001b')), ethernet: true, want: ParseReason.UdpTruncated },
  { name: 'UDP length past the IP end', bytes: patched(ETH_IPV4_UDP, 38, hex('000d')), ethernet: true, want: ParseReason.UdpBadLength },
  { name: 'UDP length 7', bytes: patched(ETH_IPV4_UDP, 38, hex('0007')), ethernet: true, want: ParseReason.UdpBadLength },
  { name: 'first fragment with 4 bytes of UDP', bytes: patched(cut(IPV4_UDP_FIRST_FRAGMENT, 0, 24), 2, hex('0018')), ethernet: false, want: ParseReason.UdpTruncated },
  { name: 'IPv6 first fragment with 4 bytes of UDP', bytes: patched(cut(IPV6_UDP_FIRST_FRAGMENT, 0, 52), 4, hex('000c')), ethernet: false, want: ParseReason.UdpTruncated },
  {
    name: 'first fragment with a tiny TCP header (RFC 1858)',
    bytes: patched(cut(IPV4_UDP_FIRST_FRAGMENT, 0, 36), 9, hex('06')), ethernet: false, want: ParseReason.TcpTruncated,
  },
  { name: 'ICMPv4 of 7 bytes', bytes: patched(ETH_IPV4_ICMP_ECHO, 16, hex('001b')), ethernet: true, want: ParseReason.Icmpv4Truncated },
  { name: 'neighbor solicitation of 23 bytes', bytes: patched(ETH_IPV6_NEIGHBOR_SOLICIT, 18, hex('0017')), ethernet: true, want: ParseReason.Icmpv6Truncated },
];

for (const c of DROP_CASES) {
  Parse(`parsePacket drops: ${c.name} → ${parseReasonName(c.want)}`, () => {
    const got = parsePacket(viewOf(c.bytes), 0, c.bytes.length, c.ethernet, new ParsedPacket());
    assert.is(got, c.want, `parsePacket(${c.name}) = ${parseReasonName(got)}, want ${parseReasonName(c.want)}`);
  });
}

Parse('every drop reason has a test above', () => {
  const tested = new Set<number>(DROP_CASES.map((c) => c.want));
  for (const [name, value] of Object.entries(ParseReason)) {
    if (value !== ParseReason.Ok) assert.ok(tested.has(value), `no drop case for ${name}`);
  }
});

Parse('reason codes: dense, counted, named, and each layer code maps by name', () => {
  const values = Object.values(ParseReason);
  assert.equal(values, Array.from({ length: PARSE_REASON_COUNT }, (_, i) => i));
  assert.is(parseReasonName(ParseReason.Ipv6HopByHopNotFirst), 'Ipv6HopByHopNotFirst');
  assert.is(parseReasonName(PARSE_REASON_COUNT), 'Unknown');
  const layers: [string, Record<string, number>][] = [
    ['Ethernet', EthernetReason], ['Arp', ArpReason], ['Ipv4', Ipv4Reason], ['Ipv6', Ipv6Reason],
    ['Tcp', { Truncated: TcpReason.Truncated, BadDataOffset: TcpReason.BadDataOffset }], // options are not parsed here
    ['Udp', UdpReason], ['Icmpv4', Icmpv4Reason], ['Icmpv6', Icmpv6Reason],
  ];
  let mapped = 0;
  for (const [layer, reasons] of layers) {
    const first = (ParseReason as Record<string, number>)[`${layer}Truncated`];
    for (const [name, value] of Object.entries(reasons)) {
      if (value === 0) continue;
      const code = (ParseReason as Record<string, number>)[`${layer}${name}`];
      assert.is(code, (first ?? NaN) + value - 1, `${layer}${name}`);
      mapped++;
    }
  }
  assert.is(mapped + 2, PARSE_REASON_COUNT); // plus Ok and UnknownNetworkProtocol
});

Parse('fuzz: parsePacket never throws, returns known reasons, and Ok offsets are ordered', () => {
  const out = new ParsedPacket();
  const counts = new Map<number, number>();
  const check = (ethernet: boolean) => (view: DataView, offset: number, end: number): void => {
    const reason = parsePacket(view, offset, end, ethernet, out);
    assert.ok(Number.isInteger(reason) && reason >= 0 && reason < PARSE_REASON_COUNT, `unknown reason ${reason}`);
    counts.set(reason, (counts.get(reason) ?? 0) + 1);
    if (reason !== ParseReason.Ok) return;
    assert.ok(out.networkOffset >= offset && out.end <= end, 'network inside the frame');
    if (out.networkProtocol === 0x0806) return;
    assert.ok(out.networkOffset < out.transportOffset && out.transportOffset <= out.payloadOffset && out.payloadOffset <= out.end, 'layers in order');
    if (out.fragment === FragmentKind.NonFirst) assert.is(out.sourcePort, -1);
    assert.ok(out.sourcePort >= -1 && out.sourcePort <= 0xffff && out.destinationPort >= -1 && out.destinationPort <= 0xffff);
  };
  fuzz(0x9a25e, 10_000, FRAMES.filter((f) => f.ethernet).map((f) => f.bytes), check(true));
  fuzz(0x9a25f, 10_000, FRAMES.map((f) => (f.ethernet ? f.bytes.subarray(f.bytes[12] === 0x81 ? 18 : 14) : f.bytes)), check(false));
  assert.ok((counts.get(ParseReason.Ok) ?? 0) > 1000, 'many inputs still parse');
  assert.ok(counts.size >= 20, `reasons seen: ${[...counts.keys()].map(parseReasonName).join(' ')}`);
});

// ---------------------------------------------------------------------------------------------------------
// The reference: parsePacket's rules spelled out layer by layer with the header views and validators, as
// the parser first did it. parsePacket's fast path must agree with it on every input, fields included.

const refEthernet = new EthernetHeader();
const refIpv4 = new Ipv4Header();
const refChain = new Ipv6Chain();
const refTcp = new TcpHeader();

function referenceParse(view: DataView, offset: number, end: number, hasEthernetHeader: boolean, out: ParsedPacket): number {
  out.reset();
  let at = offset;
  let protocol: number;
  if (hasEthernetHeader) {
    const reason = validateEthernet(view, offset, end);
    if (reason !== EthernetReason.Ok) return ParseReason.EthernetTruncated - 1 + reason;
    refEthernet.reset(view, offset);
    out.linkOffset = offset;
    out.vlanId = refEthernet.vlanId;
    protocol = refEthernet.type;
    at = refEthernet.payloadOffset;
  } else {
    if (end - offset < 1) return ParseReason.UnknownNetworkProtocol;
    const version = view.getUint8(offset) >>> 4;
    if (version !== 4 && version !== 6) return ParseReason.UnknownNetworkProtocol;
    protocol = version === 4 ? 0x0800 : 0x86dd;
  }
  out.networkOffset = at;
  out.networkProtocol = protocol;
  let transportOffset: number, packetEnd: number, transportProtocol: number, fragmentOffset: number, isIpv6: boolean;
  if (protocol === 0x0806) {
    const reason = validateArp(view, at, end);
    if (reason !== ArpReason.Ok) return ParseReason.ArpTruncated - 1 + reason;
    out.end = at + ARP_SIZE;
    return ParseReason.Ok;
  } else if (protocol === 0x0800) {
    const reason = validateIpv4(view, at, end);
    if (reason !== Ipv4Reason.Ok) return ParseReason.Ipv4Truncated - 1 + reason;
    refIpv4.reset(view, at);
    [transportOffset, packetEnd, transportProtocol, isIpv6] = [refIpv4.payloadOffset, at + refIpv4.totalLength, refIpv4.protocol, false];
    fragmentOffset = refIpv4.isFragment ? refIpv4.fragmentOffset : -1;
  } else if (protocol === 0x86dd) {
    const reason = walkIpv6(view, at, end, refChain);
    if (reason !== Ipv6Reason.Ok) return ParseReason.Ipv6Truncated - 1 + reason;
    [transportOffset, packetEnd, transportProtocol, isIpv6] = [refChain.transportOffset, refChain.end, refChain.transportProtocol, true];
    fragmentOffset = refChain.isFragment ? refChain.fragmentOffset : -1;
  } else {
    return ParseReason.UnknownNetworkProtocol;
  }
  out.end = packetEnd;
  out.transportOffset = transportOffset;
  out.transportProtocol = transportProtocol;
  if (fragmentOffset > 0) {
    out.fragment = FragmentKind.NonFirst;
    out.payloadOffset = transportOffset;
    return ParseReason.Ok;
  }
  if (fragmentOffset === 0) out.fragment = FragmentKind.First;
  const room = packetEnd - transportOffset;
  let reason: number;
  if (transportProtocol === 6) {
    reason = validateTcpHeader(view, transportOffset, packetEnd);
    if (reason !== TcpReason.Ok) return ParseReason.TcpTruncated - 1 + reason;
    out.payloadOffset = refTcp.reset(view, transportOffset).payloadOffset;
  } else if (transportProtocol === 17) {
    reason = fragmentOffset === 0 ? (room < 8 ? UdpReason.Truncated : UdpReason.Ok) : validateUdp(view, transportOffset, packetEnd);
    if (reason !== UdpReason.Ok) return ParseReason.UdpTruncated - 1 + reason;
    out.payloadOffset = transportOffset + 8;
  } else if (transportProtocol === 1 && !isIpv6) {
    reason = validateIcmpv4(view, transportOffset, packetEnd);
    if (reason !== Icmpv4Reason.Ok) return ParseReason.Icmpv4Truncated - 1 + reason;
    out.payloadOffset = transportOffset + ICMPV4_MINIMUM_SIZE;
    return ParseReason.Ok;
  } else if (transportProtocol === 58 && isIpv6) {
    reason = validateIcmpv6(view, transportOffset, packetEnd);
    if (reason !== Icmpv6Reason.Ok) return ParseReason.Icmpv6Truncated - 1 + reason;
    out.payloadOffset = transportOffset + ICMPV6_MINIMUM_SIZE;
    return ParseReason.Ok;
  } else {
    out.payloadOffset = transportOffset;
    if (![33, 132, 136].includes(transportProtocol) || room < 4) return ParseReason.Ok;
  }
  out.sourcePort = view.getUint16(transportOffset);
  out.destinationPort = view.getUint16(transportOffset + 2);
  return ParseReason.Ok;
}

Parse('fuzz: parsePacket agrees with the layer-by-layer reference on reason and every field', () => {
  const got = new ParsedPacket();
  const want = new ParsedPacket();
  let fastShaped = 0;
  const check = (ethernet: boolean) => (view: DataView, offset: number, end: number): void => {
    got.reset();
    got.sourcePort = 0x1234; // stale values from an earlier packet must not survive
    const reason = parsePacket(view, offset, end, ethernet, got);
    const expected = referenceParse(view, offset, end, ethernet, want);
    if (reason !== expected || JSON.stringify({ ...got }) !== JSON.stringify({ ...want })) {
      const bytes = new Uint8Array(view.buffer, offset, end - offset);
      assert.unreachable(`${toHex(bytes)} (ethernet ${ethernet}): got ${parseReasonName(reason)} ${JSON.stringify({ ...got })}, want ${parseReasonName(expected)} ${JSON.stringify({ ...want })}`);
    }
    if (reason === ParseReason.Ok && got.fragment === FragmentKind.None && (got.transportProtocol === 6 || got.transportProtocol === 17)) fastShaped++;
  };
  // Seeds: every vector, plus the two fast-path shapes, each with and without its link header.
  const withLink = [...FRAMES.filter((f) => f.ethernet).map((f) => f.bytes), ETH_VLAN_IPV4_UDP, ETH_IPV6_TCP];
  const bare = [...FRAMES.filter((f) => !f.ethernet).map((f) => f.bytes), cut(ETH_VLAN_IPV4_UDP, 18), cut(ETH_IPV6_TCP, 14)];
  fuzz(0x5a11, 20_000, withLink, check(true));
  fuzz(0x5a12, 20_000, bare, check(false));
  for (const f of [...withLink]) check(true)(viewOf(f), 0, f.length);
  assert.ok(fastShaped > 2000, `only ${fastShaped} inputs took the UDP/TCP shapes`);
});

Parse.run();
