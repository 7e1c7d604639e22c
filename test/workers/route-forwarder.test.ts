/**
 * The worker-side forwarding decision, table-driven over packets in memory (no threads): local and
 * multicast destinations to the stack, martians dropped, link-local not forwarded, longest prefix wins,
 * MTU, TTL / hop limit (decremented, IPv4 checksum patched), Ethernet header rewritten from static
 * neighbors, and the config checks at the door. Then what it finishes itself: no route dropped and
 * counted; TTL / hop limit 1 dropped, counted, and answered with an ICMP time exceeded in its scratch
 * (bytes pinned in hex, checksums checked, the original quoted), rate limited by the token bucket; longer
 * than the egress MTU dropped and counted as TooBig, answered with fragmentation needed (IPv4 with DF) or
 * packet too big (IPv6) carrying the MTU, through the same bucket, and IPv4 without DF dropped unanswered.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  FORWARD_REASON_COUNT,
  ForwardReason,
  IcmpReason,
  ParseReason,
  ParsedPacket,
  checksum,
  combineChecksums,
  parsePacket,
  pseudoHeaderChecksumV6View,
} from '../../src/tcpip/index.ts';
import {
  ForwardVerdict,
  ForwardDecision,
  HandoffReason,
  RouteForwarder,
  createForwarder,
  validateForwardingConfig,
  type ForwardingConfig,
  type ForwardLink,
} from '../../src/workers/index.ts';
import { hex, toHex } from '../helpers/hex.ts';
import { throwsNetshard } from '../ring/fixtures/throws.ts';
import { ARP, TCP6, fixIpv4Checksum, ipv4ChecksumOk, udp4 } from './fixtures/packets.ts';

const Forward = suite('workers/route-forwarder');

const LINKS: ForwardLink[] = [
  { ethernetHeader: false, linkAddress: '', mtu: 1500 }, // 0: bare IP
  { ethernetHeader: false, linkAddress: '', mtu: 1500 }, // 1: bare IP
  { ethernetHeader: true, linkAddress: '02:00:00:00:00:aa', mtu: 1500 }, // 2: Ethernet
  { ethernetHeader: false, linkAddress: '', mtu: 30 }, // 3: tiny MTU
];
const forwarder = createForwarder(
  {
    addresses: [
      { link: 0, address: '198.18.0.1' },
      { link: 0, address: '2001:2::1' },
      { link: 1, address: '198.18.5.1/24' }, // with a prefix: also the on-link route 198.18.5.0/24 → link 1
    ],
    routes: [
      { destination: '198.18.1.0/24', link: 1 },
      { destination: '198.18.1.128/25', link: 0 },
      { destination: '198.18.2.0/24', link: 2 },
      { destination: '198.18.3.0/24', link: 2, gateway: '198.18.2.254' },
      { destination: '198.18.9.0/24', link: 2 },
      { destination: '198.18.4.0/24', link: 3 },
      { destination: '2001:2:0:1::/64', link: 1 },
      { destination: '2001:2:0:2::/64', link: 2 },
    ],
    neighbors: [
      { address: '198.18.2.7', linkAddress: '02:00:00:00:00:07', link: 2 },
      { address: '198.18.2.254', linkAddress: '02:00:00:00:00:fe', link: 2 },
      { address: '2001:2:0:2::2', linkAddress: '02:00:00:00:00:62', link: 2 },
    ],
  },
  LINKS,
)!;

const ip = (a: number, b: number, c: number, d: number): number => ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;

/** IPv6 TCP6 with its source and/or destination replaced (16 bytes of hex each). */
function tcp6(source?: string, destination?: string): Uint8Array {
  const b = TCP6.slice();
  if (source !== undefined) b.set(hex(source), 8);
  if (destination !== undefined) b.set(hex(destination), 24);
  return b;
}

/** An Ethernet frame around `ip` to `destination` MAC (hex). */
function ether(destination: string, ip: Uint8Array): Uint8Array {
  return new Uint8Array([...hex(destination), ...hex('0200 0000 0002'), ...hex('0800'), ...ip]);
}

const HEADROOM = 16;

interface Case {
  name: string;
  packet: Uint8Array;
  ethernet?: boolean;
  want: ForwardVerdict;
  link?: number;
  reason?: HandoffReason;
  /** Bytes expected at the send start: Ethernet header (hex) when forwarded to an Ethernet link. */
  header?: string;
  ttl?: number;
}

for (const c of [
  { name: 'IPv4 to a routed /24: forward, TTL 64 → 63', packet: udp4({ destination: ip(198, 18, 1, 1) }), want: ForwardVerdict.Forward, link: 1, ttl: 63 },
  { name: 'IPv4: the longer prefix (/25) wins', packet: udp4({ destination: ip(198, 18, 1, 200) }), want: ForwardVerdict.Forward, link: 0, ttl: 63 },
  { name: 'IPv4 to a local address: the stack', packet: udp4({ destination: ip(198, 18, 0, 1) }), want: ForwardVerdict.ToStack, reason: HandoffReason.Local, ttl: 64 },
  { name: 'IPv4 to a local address with a prefix: the stack', packet: udp4({ destination: ip(198, 18, 5, 1) }), want: ForwardVerdict.ToStack, reason: HandoffReason.Local, ttl: 64 },
  { name: 'IPv4 to the subnet of a local address: on-link route', packet: udp4({ destination: ip(198, 18, 5, 9) }), want: ForwardVerdict.Forward, link: 1, ttl: 63 },
  { name: 'IPv4 multicast destination: the stack', packet: udp4({ destination: ip(224, 0, 0, 5) }), want: ForwardVerdict.ToStack, reason: HandoffReason.Local },
  { name: 'IPv4 limited broadcast: the stack', packet: udp4({ destination: 0xffffffff }), want: ForwardVerdict.ToStack, reason: HandoffReason.Local },
  { name: 'IPv4 loopback source: dropped (martian)', packet: udp4({ source: ip(127, 0, 0, 1) }), want: ForwardVerdict.Drop },
  { name: 'IPv4 link-local destination: not forwardable', packet: udp4({ destination: ip(169, 254, 1, 1) }), want: ForwardVerdict.ToStack, reason: HandoffReason.NotForwardable },
  { name: 'IPv4 without a route: dropped', packet: udp4({ destination: ip(198, 19, 0, 1) }), want: ForwardVerdict.Drop },
  { name: 'IPv4 TTL 1: dropped (time exceeded), unchanged', packet: udp4({ destination: ip(198, 18, 1, 1), ttl: 1 }), want: ForwardVerdict.Drop, ttl: 1 },
  { name: 'IPv4 (DF) over the egress MTU: dropped (too big), unchanged', packet: udp4({ destination: ip(198, 18, 4, 1) }), want: ForwardVerdict.Drop, ttl: 64 },
  { name: 'IPv4 to an Ethernet link, no neighbor: the stack', packet: udp4({ destination: ip(198, 18, 9, 1) }), want: ForwardVerdict.ToStack, reason: HandoffReason.NoNeighbor },
  {
    name: 'IPv4 on-link to an Ethernet link: header written in front',
    packet: udp4({ destination: ip(198, 18, 2, 7) }), want: ForwardVerdict.Forward, link: 2, ttl: 63,
    header: '020000000007 0200000000aa 0800', // neighbor's MAC, the link's MAC, IPv4
  },
  {
    name: 'IPv4 via a gateway: the gateway\'s MAC',
    packet: udp4({ destination: ip(198, 18, 3, 5) }), want: ForwardVerdict.Forward, link: 2, ttl: 63,
    header: '0200000000fe 0200000000aa 0800',
  },
  {
    name: 'Ethernet in, Ethernet out: the header is rewritten in place',
    packet: ether('0200 0000 0001', udp4({ destination: ip(198, 18, 2, 7) })), ethernet: true, want: ForwardVerdict.Forward, link: 2, ttl: 63,
    header: '020000000007 0200000000aa 0800',
  },
  { name: 'ARP: the stack', packet: ARP, ethernet: true, want: ForwardVerdict.ToStack, reason: HandoffReason.Arp },
  { name: 'Ethernet broadcast: the stack', packet: ether('ffff ffff ffff', udp4({ destination: ip(198, 18, 1, 1) })), ethernet: true, want: ForwardVerdict.ToStack, reason: HandoffReason.LinkMulticast },
  { name: 'IPv6 to a routed /64: forward, hop limit 64 → 63', packet: tcp6(), want: ForwardVerdict.Forward, link: 1, ttl: 63 },
  { name: 'IPv6 to a local address: the stack', packet: tcp6(undefined, '2001 0002 0000 0000 0000 0000 0000 0001'), want: ForwardVerdict.ToStack, reason: HandoffReason.Local },
  { name: 'IPv6 multicast destination: the stack', packet: tcp6(undefined, 'ff02 0000 0000 0000 0000 0000 0000 0001'), want: ForwardVerdict.ToStack, reason: HandoffReason.Local },
  { name: 'IPv6 link-local source: not forwardable', packet: tcp6('fe80 0000 0000 0000 0000 0000 0000 0001'), want: ForwardVerdict.ToStack, reason: HandoffReason.NotForwardable },
  { name: 'IPv6 unspecified source: dropped', packet: tcp6('0000 0000 0000 0000 0000 0000 0000 0000'), want: ForwardVerdict.Drop },
  {
    name: 'IPv6 to an Ethernet link: neighbor\'s MAC, EtherType 86dd',
    packet: tcp6(undefined, '2001 0002 0000 0002 0000 0000 0000 0002'), want: ForwardVerdict.Forward, link: 2, ttl: 63,
    header: '020000000062 0200000000aa 86dd',
  },
] satisfies Case[]) {
  Forward(`decide: ${c.name}`, () => {
    const memory = new Uint8Array(HEADROOM + c.packet.length);
    memory.set(c.packet, HEADROOM);
    const view = new DataView(memory.buffer);
    const parsed = new ParsedPacket();
    const ethernet = 'ethernet' in c && c.ethernet === true;
    assert.is(parsePacket(view, HEADROOM, memory.length, ethernet, parsed), ParseReason.Ok);
    const before = memory.slice();
    const out = new ForwardDecision();
    const got = forwarder.decide(view, 0, parsed, 0, out);
    assert.is(got, c.want, `action ${got}, want ${c.want}`);
    const net = parsed.networkOffset;
    if (c.want === ForwardVerdict.Forward) {
      assert.is(out.link, c.link);
      assert.is(out.end, parsed.end);
      const header = 'header' in c ? c.header : undefined;
      if (header !== undefined) {
        assert.is(out.start, net - 14);
        assert.is(toHex(memory.subarray(out.start, net)), toHex(hex(header)));
      } else {
        assert.is(out.start, net, 'bare IP leaves from the IP header');
      }
    } else {
      if ('reason' in c) assert.is(out.reason, c.reason);
      // The headroom may hold the placeholder link header of an ICMP error; the packet itself is untouched.
      assert.equal(memory.subarray(HEADROOM), before.subarray(HEADROOM), 'not forwarded: the packet is unchanged');
    }
    if ('ttl' in c) assert.is(memory[net + (parsed.networkProtocol === 0x0800 ? 8 : 7)], c.ttl);
    if (parsed.networkProtocol === 0x0800) assert.ok(ipv4ChecksumOk(memory, net), 'IPv4 header checksum still valid');
  });
}

Forward('createForwarder: null config means no forwarder', () => {
  assert.is(createForwarder(null, LINKS), null);
});

for (const c of [
  { name: 'unknown key', config: { routes: [], via: 1 }, code: 'ERR_INVALID_ARG_VALUE', message: 'forwarding.via is not a known option (known: kind, addresses, routes, neighbors)' },
  { name: 'routes not an array', config: { routes: 1 }, code: 'ERR_INVALID_ARG_TYPE', message: 'forwarding.routes must be an array, received type number (1)' },
  { name: 'address on a missing link', config: { addresses: [{ link: 9, address: '198.18.0.1' }] }, code: 'ERR_OUT_OF_RANGE', message: 'forwarding.addresses[0].link must be an integer >= 0 and <= 3, received 9' },
  { name: 'not a CIDR', config: { routes: [{ destination: '198.18.0.0', link: 0 }] }, code: 'ERR_INVALID_ARG_VALUE', message: `forwarding.routes[0].destination must be a CIDR prefix like "198.18.0.0/15", received '198.18.0.0'` },
  { name: 'prefix too long', config: { routes: [{ destination: '198.18.0.0/33', link: 0 }] }, code: 'ERR_OUT_OF_RANGE', message: `forwarding.routes[0].destination prefix length must be 0..32, received '198.18.0.0/33'` },
  { name: 'link out of range', config: { routes: [{ destination: '198.18.0.0/16', link: 4 }] }, code: 'ERR_OUT_OF_RANGE', message: 'forwarding.routes[0].link must be an integer >= 0 and <= 3, received 4' },
  { name: 'gateway of the other family', config: { routes: [{ destination: '198.18.0.0/16', link: 0, gateway: '2001:2::1' }] }, code: 'ERR_INVALID_ARG_VALUE', message: 'forwarding.routes[0].gateway must be an IPv4 address like its destination' },
  { name: 'bad neighbor MAC', config: { routes: [], neighbors: [{ address: '198.18.0.2', linkAddress: '02:00', link: 0 }] }, code: 'ERR_INVALID_ARG_VALUE', message: `forwarding.neighbors[0].linkAddress must be a MAC like "02:00:00:00:00:01", received '02:00'` },
  { name: 'bad local address', config: { addresses: [{ link: 0, address: '198.18.0.300' }] }, code: 'ERR_INVALID_ARG_VALUE', message: `forwarding.addresses[0].address must be an IPv4 or IPv6 address, received '198.18.0.300'` },
]) {
  Forward(`validateForwardingConfig: ${c.name}`, () => {
    throwsNetshard(() => validateForwardingConfig(c.config, LINKS.length), c.code, c.message);
  });
}

Forward('createForwarder: host bits in a route are refused', () => {
  throwsNetshard(() => createForwarder({ routes: [{ destination: '198.18.1.1/24', link: 0 }] }, LINKS), 'ERR_INVALID_ARG_VALUE', 'route 198.18.1.1/24 has host bits set');
});

// ─── what it finishes itself: drops by reason, ICMP time exceeded ──────────────────────────────────────

/** A fresh forwarder over `LINKS` and `config` with its own counters (and token bucket). */
function fresh(config: ForwardingConfig = CONFIG, burst?: number): RouteForwarder {
  return new RouteForwarder(config, LINKS, new Float64Array(FORWARD_REASON_COUNT), burst === undefined ? {} : { burst });
}

/** Places `packet` after HEADROOM bytes (garbage there: the forwarder must not trust it), parses and decides it. */
function decideOn(f: RouteForwarder, packet: Uint8Array, o: { ethernet?: boolean; link?: number; now?: number } = {}) {
  const memory = new Uint8Array(HEADROOM + packet.length).fill(0xff);
  memory.set(packet, HEADROOM);
  const view = new DataView(memory.buffer);
  const parsed = new ParsedPacket();
  assert.is(parsePacket(view, HEADROOM, memory.length, o.ethernet === true, parsed), ParseReason.Ok);
  const out = new ForwardDecision();
  const verdict = f.decide(view, o.link ?? 0, parsed, o.now ?? 0, out);
  return { memory, out, verdict, error: f.scratch.slice(out.extraOffset, out.extraOffset + out.extraLength) };
}

/** Only the non-zero counters, by name. */
function named(counters: Float64Array, names: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, i] of Object.entries(names)) if (counters[i]! !== 0) out[name] = counters[i]!;
  return out;
}

const CONFIG: ForwardingConfig = {
  addresses: [
    { link: 0, address: '198.18.0.1' },
    { link: 0, address: '2001:2::1' },
    { link: 1, address: '198.18.5.1/24' },
  ],
  routes: [
    { destination: '198.18.1.0/24', link: 1 },
    { destination: '2001:2:0:1::/64', link: 1 },
    { destination: '198.18.4.0/24', link: 3 }, // link 3: MTU 30
    { destination: '2001:2:0:4::/64', link: 3 },
  ],
};

/** UDP from 198.18.0.9 to 198.18.1.1 with TTL 1: what the kernel sends for IP_TTL 1. */
const TTL1_UDP4 = hex(`
  4500 0024          # version 4, IHL 5, total length 36
  0000 4000          # id 0, DF
  01 11 ec9a         # TTL 1, UDP, header checksum
  c612 0009          # source 198.18.0.9
  c612 0101          # destination 198.18.1.1
  3039 0035 0010 0000 0000 0000 0000 0000  # UDP 12345 → 53, length 16, no checksum, 8 bytes of payload
`);

/** The time exceeded it answers with, from link 0's address: IP header, ICMP header, then TTL1_UDP4 whole. */
const TIME_EXCEEDED4 = hex(`
  45c0 0040          # version 4, IHL 5, TOS 0xc0 (internetwork control), total length 64
  0000 4000          # id 0, DF
  40 01 adce         # TTL 64, ICMP, header checksum
  c612 0001          # source 198.18.0.1 (link 0's address)
  c612 0009          # destination 198.18.0.9 (the sender)
  0b 00 c481         # type 11 (time exceeded), code 0 (TTL exceeded in transit), checksum
  0000 0000          # unused
`);

/** TCP SYN from 2001:2::9 to 2001:2:0:1::2 with hop limit 1. */
const HOP1_TCP6 = hex(`
  6000 0000 0014 06 01                     # version 6, payload 20, TCP, hop limit 1
  2001 0002 0000 0000 0000 0000 0000 0009  # source 2001:2::9
  2001 0002 0000 0001 0000 0000 0000 0002  # destination 2001:2:0:1::2
  c350 0050 0000 0001 0000 0000 5002 ffff 0000 0000  # TCP 50000 → 80, SYN
`);

const TIME_EXCEEDED6 = hex(`
  6000 0000 0044 3a 40                     # version 6, payload 68, ICMPv6, hop limit 64
  2001 0002 0000 0000 0000 0000 0000 0001  # source 2001:2::1 (link 0's address)
  2001 0002 0000 0000 0000 0000 0000 0009  # destination 2001:2::9 (the sender)
  03 00 02a6                               # type 3 (time exceeded), code 0 (hop limit exceeded), checksum
  0000 0000                                # unused
`);

Forward('TTL 1 (IPv4, bare IP): dropped, counted, ICMP time exceeded back on the ingress link quoting the packet', () => {
  const f = fresh();
  const { verdict, out, error, memory } = decideOn(f, TTL1_UDP4);
  assert.is(verdict, ForwardVerdict.Drop);
  assert.equal(named(f.counters, ForwardReason), { TtlExceeded: 1 });
  assert.is(out.extraLink, 0, 'back where it came from');
  assert.is(out.extraOffset, 14, 'bare IP: the ICMP writer\'s link header is not sent');
  assert.is(toHex(error), toHex(new Uint8Array([...TIME_EXCEEDED4, ...TTL1_UDP4])));
  assert.ok(ipv4ChecksumOk(error), 'IP header checksum');
  assert.is(checksum(error, 20, error.length - 20), 0xffff, 'ICMP checksum');
  assert.equal(memory.subarray(HEADROOM), TTL1_UDP4, 'the packet itself is unchanged');
  assert.is(f.icmp.counters[IcmpReason.Ok], 1);
});

Forward('hop limit 1 (IPv6, bare IP): ICMPv6 time exceeded (hop limit), checksum over the pseudo-header', () => {
  const f = fresh();
  const { verdict, out, error } = decideOn(f, HOP1_TCP6);
  assert.is(verdict, ForwardVerdict.Drop);
  assert.equal(named(f.counters, ForwardReason), { TtlExceeded: 1 });
  assert.is(out.extraLink, 0);
  assert.is(toHex(error), toHex(new Uint8Array([...TIME_EXCEEDED6, ...HOP1_TCP6])));
  const v = new DataView(error.buffer);
  const sum = combineChecksums(pseudoHeaderChecksumV6View(v, 8, 24, 58, error.length - 40), checksum(error, 40, error.length - 40));
  assert.is(sum, 0xffff, 'ICMPv6 checksum');
});

Forward('TTL 1 arriving with an Ethernet header: a whole frame back to the previous hop, from the first address of any link', () => {
  // Link 2 has no address of its own: the source is link 0's, as Linux's inet_select_addr() falls back.
  const f = fresh();
  const frame = new Uint8Array([...hex('0200 0000 00aa  0200 0000 0002  0800'), ...TTL1_UDP4]);
  const { verdict, out, error } = decideOn(f, frame, { ethernet: true, link: 2 });
  assert.is(verdict, ForwardVerdict.Drop);
  assert.is(out.extraLink, 2);
  assert.is(out.extraOffset, 0, 'Ethernet: the link header is sent');
  assert.is(toHex(error.subarray(0, 14)), '020000000002' + '0200000000aa' + '0800', 'to the sender\'s MAC, from the link\'s');
  assert.is(toHex(error.subarray(14)), toHex(new Uint8Array([...TIME_EXCEEDED4, ...TTL1_UDP4])));
});

Forward('TTL 1 with an address on the sender\'s subnet: that one is the source', () => {
  const f = fresh();
  const packet = TTL1_UDP4.slice();
  packet.set(hex('c612 0509'), 12); // source 198.18.5.9, on link 1's 198.18.5.0/24
  fixIpv4Checksum(packet);
  const { out, error } = decideOn(f, packet, { link: 1 });
  assert.is(out.extraLink, 1);
  assert.is(toHex(error.subarray(12, 20)), 'c6120501' + 'c6120509', 'from 198.18.5.1 to 198.18.5.9');
  assert.ok(ipv4ChecksumOk(error));
});

Forward('TTL 1 with no address anywhere: dropped and counted, no ICMP (no source)', () => {
  const f = fresh({ routes: [{ destination: '198.18.1.0/24', link: 1 }, { destination: '2001:2:0:1::/64', link: 1 }] });
  for (const packet of [TTL1_UDP4, HOP1_TCP6]) {
    const { verdict, out } = decideOn(f, packet);
    assert.is(verdict, ForwardVerdict.Drop);
    assert.is(out.extraLength, 0, 'nothing to send');
  }
  assert.equal(named(f.counters, ForwardReason), { TtlExceeded: 2 });
  assert.equal(named(f.icmp.counters, IcmpReason), { NoSource: 2 });
});

Forward('TTL 1 on an ICMP error: dropped, no error about an error (RFC 1812 §4.3.2.7)', () => {
  const f = fresh();
  const packet = new Uint8Array([...hex('4500 0040 0000 4000 01 01 0000 c612 0009 c612 0101'), ...TIME_EXCEEDED4.subarray(20), ...TTL1_UDP4]);
  fixIpv4Checksum(packet);
  const { verdict, out } = decideOn(f, packet);
  assert.is(verdict, ForwardVerdict.Drop);
  assert.is(out.extraLength, 0);
  assert.equal(named(f.icmp.counters, IcmpReason), { IcmpError: 1 });
});

Forward('the token bucket holds: a burst of errors, then one per refilled token', () => {
  // burst 5 at 1000/s (Linux's rate): 8 packets at t = 0 ms get 5 errors; at t = 1 ms one token is back.
  const f = fresh(CONFIG, 5);
  const sent = (now: number): boolean => decideOn(f, TTL1_UDP4, { now }).out.extraLength > 0;
  const burst = Array.from({ length: 8 }, () => sent(0));
  assert.equal(burst, [true, true, true, true, true, false, false, false]);
  assert.equal([sent(1), sent(1)], [true, false], 'one token a millisecond');
  assert.is(f.counters[ForwardReason.TtlExceeded], 10, 'every packet dropped and counted, answered or not');
  assert.equal(named(f.icmp.counters, IcmpReason), { Ok: 6, RateLimited: 4 });
  assert.is(f.icmp.limiter.drops, 4);
});

// ─── too big for the egress link: fragmentation needed / packet too big ─────────────────────────────────

/** UDP from 198.18.0.9 to 198.18.4.1 (link 3, MTU 30), DF set: 36 bytes, too big. */
const BIG_DF_UDP4 = hex(`
  4500 0024          # version 4, IHL 5, total length 36
  0000 4000          # id 0, DF
  40 11 aa9a         # TTL 64, UDP, header checksum
  c612 0009          # source 198.18.0.9
  c612 0401          # destination 198.18.4.1
  3039 0035 0010 0000 0000 0000 0000 0000  # UDP 12345 → 53, length 16, no checksum, 8 bytes of payload
`);

/** The same without DF (flags 0): a router would fragment it. */
const BIG_UDP4 = hex(`
  4500 0024 0000 0000  # id 0, no flags
  40 11 ea9a           # TTL 64, UDP, header checksum
  c612 0009 c612 0401  # 198.18.0.9 → 198.18.4.1
  3039 0035 0010 0000 0000 0000 0000 0000
`);

/** Fragmentation needed about BIG_DF_UDP4 (then quoted whole, TTL still 64: quoted as it arrived). */
const FRAG_NEEDED4 = hex(`
  45c0 0040          # version 4, IHL 5, TOS 0xc0, total length 64
  0000 4000          # id 0, DF
  40 01 adce         # TTL 64, ICMP, header checksum
  c612 0001          # source 198.18.0.1 (link 0's address)
  c612 0009          # destination 198.18.0.9 (the sender)
  03 04 cc5f         # type 3 (destination unreachable), code 4 (fragmentation needed and DF set), checksum
  0000 001e          # unused, next-hop MTU 30 (RFC 1191 §4)
`);

/** TCP SYN from 2001:2::9 to 2001:2:0:4::2 (link 3, MTU 30), hop limit 64: 60 bytes, too big. */
const BIG_TCP6 = hex(`
  6000 0000 0014 06 40                     # version 6, payload 20, TCP, hop limit 64
  2001 0002 0000 0000 0000 0000 0000 0009  # source 2001:2::9
  2001 0002 0000 0004 0000 0000 0000 0002  # destination 2001:2:0:4::2
  c350 0050 0000 0001 0000 0000 5002 ffff 0000 0000  # TCP 50000 → 80, SYN
`);

const PACKET_TOO_BIG6 = hex(`
  6000 0000 0044 3a 40                     # version 6, payload 68, ICMPv6, hop limit 64
  2001 0002 0000 0000 0000 0000 0000 0001  # source 2001:2::1 (link 0's address)
  2001 0002 0000 0000 0000 0000 0000 0009  # destination 2001:2::9 (the sender)
  02 00 0346                               # type 2 (packet too big), code 0, checksum
  0000 001e                                # MTU 30 (RFC 4443 §3.2)
`);

/** Checks the ICMPv6 checksum of the IPv6 packet `b` (fixed header, then the ICMPv6 message). */
function icmpv6ChecksumOk(b: Uint8Array): boolean {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return combineChecksums(pseudoHeaderChecksumV6View(v, 8, 24, 58, b.length - 40), checksum(b, 40, b.length - 40)) === 0xffff;
}

Forward('too big, IPv4 with DF: dropped (TooBig), fragmentation needed with the egress MTU, quoting the packet as it came', () => {
  const f = fresh();
  const { verdict, out, error, memory } = decideOn(f, BIG_DF_UDP4);
  assert.is(verdict, ForwardVerdict.Drop);
  assert.equal(named(f.counters, ForwardReason), { TooBig: 1 });
  assert.is(out.extraLink, 0, 'back on the ingress link');
  assert.is(out.extraOffset, 14, 'bare IP: the placeholder link header is not sent');
  assert.is(toHex(error), toHex(new Uint8Array([...FRAG_NEEDED4, ...BIG_DF_UDP4])));
  assert.ok(ipv4ChecksumOk(error), 'IP header checksum');
  assert.is(checksum(error, 20, error.length - 20), 0xffff, 'ICMP checksum');
  assert.is(new DataView(error.buffer).getUint16(26), 30, 'next-hop MTU: link 3\'s');
  assert.equal(memory.subarray(HEADROOM), BIG_DF_UDP4, 'the packet itself is unchanged (TTL not decremented)');
  assert.equal(named(f.icmp.counters, IcmpReason), { Ok: 1 });
});

Forward('too big, IPv4 without DF: dropped and counted (TooBig), no ICMP (nothing here fragments)', () => {
  const f = fresh();
  const { verdict, out, memory } = decideOn(f, BIG_UDP4);
  assert.is(verdict, ForwardVerdict.Drop, 'not handed to the coordinator, where nothing would take it');
  assert.is(out.extraLength, 0, 'no ICMP: a router would fragment it, not refuse it');
  assert.equal(named(f.counters, ForwardReason), { TooBig: 1 });
  assert.equal(named(f.icmp.counters, IcmpReason), {}, 'not even asked');
  assert.equal(f.icmp.limiter.drops, 0);
  assert.equal(memory.subarray(HEADROOM), BIG_UDP4);
});

Forward('too big, IPv6: dropped (TooBig), ICMPv6 packet too big with the MTU, checksum over the pseudo-header', () => {
  const f = fresh();
  const { verdict, out, error, memory } = decideOn(f, BIG_TCP6);
  assert.is(verdict, ForwardVerdict.Drop);
  assert.equal(named(f.counters, ForwardReason), { TooBig: 1 });
  assert.is(out.extraLink, 0);
  assert.is(out.extraOffset, 14);
  assert.is(toHex(error), toHex(new Uint8Array([...PACKET_TOO_BIG6, ...BIG_TCP6])));
  assert.ok(icmpv6ChecksumOk(error), 'ICMPv6 checksum');
  assert.is(new DataView(error.buffer).getUint32(44), 30, 'MTU field');
  assert.equal(memory.subarray(HEADROOM), BIG_TCP6, 'hop limit not decremented');
});

Forward('too big arriving with an Ethernet header: the whole frame goes back to the previous hop', () => {
  const f = fresh();
  const frame = new Uint8Array([...hex('0200 0000 00aa  0200 0000 0002  0800'), ...BIG_DF_UDP4]);
  const { verdict, out, error } = decideOn(f, frame, { ethernet: true, link: 2 });
  assert.is(verdict, ForwardVerdict.Drop);
  assert.is(out.extraLink, 2);
  assert.is(out.extraOffset, 0);
  assert.is(toHex(error.subarray(0, 14)), '020000000002' + '0200000000aa' + '0800', 'to the sender\'s MAC, from the link\'s');
  assert.is(toHex(error.subarray(14)), toHex(new Uint8Array([...FRAG_NEEDED4, ...BIG_DF_UDP4])));
});

Forward('TTL 1 and too big: time exceeded (TTL is checked first, as Linux ip_forward), counted once as TtlExceeded', () => {
  const f = fresh();
  const packet = BIG_DF_UDP4.slice();
  packet[8] = 1;
  fixIpv4Checksum(packet);
  const { verdict, error } = decideOn(f, packet);
  assert.is(verdict, ForwardVerdict.Drop);
  assert.equal(named(f.counters, ForwardReason), { TtlExceeded: 1 });
  assert.is(toHex(error.subarray(20, 22)), '0b00', 'type 11 code 0');
});

/** IPv4/UDP (DF) or IPv6/UDP of `total` bytes from the sender to `destination` (4 or 16 bytes of hex), payload bytes i & 0xff. */
function bigUdp(family: 4 | 6, total: number, destination: string): Uint8Array {
  const b = new Uint8Array(total);
  for (let i = 0; i < total; i++) b[i] = i & 0xff;
  const v = new DataView(b.buffer);
  if (family === 4) {
    b.set(hex(`4500 ${total.toString(16).padStart(4, '0')}  0000 4000  40 11 0000  c612 0009  ${destination}`), 0);
    v.setUint32(20, 0x30390035); // UDP 12345 → 53
    v.setUint32(24, (total - 20) << 16); // length, no checksum
    fixIpv4Checksum(b);
  } else {
    b.set(hex(`6000 0000 ${(total - 40).toString(16).padStart(4, '0')} 11 40  2001 0002 0000 0000 0000 0000 0000 0009  ${destination}`), 0);
    v.setUint32(40, 0x30390035);
    v.setUint32(44, (total - 40) << 16); // length, checksum 0 (not checked on the way)
  }
  return b;
}

Forward('too big at real sizes: 1400 bytes into MTU 1280, the quotes cut at 576 (IPv4) and 1280 (IPv6) bytes', () => {
  const links: ForwardLink[] = [{ ethernetHeader: false, linkAddress: '', mtu: 1500 }, { ethernetHeader: false, linkAddress: '', mtu: 1280 }];
  const f = new RouteForwarder({
    addresses: [{ link: 0, address: '198.18.0.1/24' }, { link: 0, address: '2001:2::1/64' }],
    routes: [{ destination: '198.18.8.0/24', link: 1 }, { destination: '2001:2:0:8::/64', link: 1 }],
  }, links);
  for (const c of [
    // IPv4: 20 + 8 + 548 quoted = 576; IPv6: 40 + 8 + 1232 quoted = 1280.
    { family: 4 as const, packet: bigUdp(4, 1400, 'c612 0805'), size: 576, header: 28, typeCode: '0304' },
    { family: 6 as const, packet: bigUdp(6, 1400, '2001 0002 0000 0008 0000 0000 0000 0005'), size: 1280, header: 48, typeCode: '0200' },
  ]) {
    const { verdict, error } = decideOn(f, c.packet);
    assert.is(verdict, ForwardVerdict.Drop);
    assert.is(error.length, c.size, `IPv${c.family}: the error fills its limit`);
    assert.is(toHex(error.subarray(c.header - 8, c.header - 6)), c.typeCode, `IPv${c.family}: type, code`);
    assert.is(toHex(error.subarray(c.header - 4, c.header)), '00000500', `IPv${c.family}: MTU 1280 (IPv4: unused 0, next-hop MTU)`);
    assert.equal(error.subarray(c.header), c.packet.subarray(0, c.size - c.header), `IPv${c.family}: the first ${c.size - c.header} bytes quoted`);
    if (c.family === 4) {
      assert.ok(ipv4ChecksumOk(error));
      assert.is(new DataView(error.buffer).getUint16(2), 576, 'IPv4 total length');
      assert.is(checksum(error, 20, error.length - 20), 0xffff);
    } else {
      assert.is(new DataView(error.buffer).getUint16(4), 1240, 'IPv6 payload length');
      assert.ok(icmpv6ChecksumOk(error));
    }
  }
  assert.equal(named(f.counters, ForwardReason), { TooBig: 2 });
});

Forward('one token bucket for time exceeded, fragmentation needed and packet too big (Linux: one global limit)', () => {
  // burst 3 at 1000/s: six errors due at t = 0 ms, the first three sent; at t = 1 ms one token is back for
  // whichever kind comes first; the drops are counted by their own reason whether answered or not.
  const f = fresh(CONFIG, 3);
  const kinds = [TTL1_UDP4, BIG_DF_UDP4, BIG_TCP6, HOP1_TCP6, BIG_DF_UDP4, BIG_TCP6];
  const sent = (packet: Uint8Array, now: number): string => {
    const { error } = decideOn(f, packet, { now });
    return error.length === 0 ? '-' : toHex(error.subarray(error[0]! >> 4 === 4 ? 20 : 40).subarray(0, 2));
  };
  assert.equal(kinds.map((p) => sent(p, 0)), ['0b00', '0304', '0200', '-', '-', '-'], 'type|code per packet; - is none');
  assert.equal([sent(BIG_TCP6, 1), sent(TTL1_UDP4, 1), sent(BIG_DF_UDP4, 1)], ['0200', '-', '-']);
  assert.equal(named(f.counters, ForwardReason), { TtlExceeded: 3, TooBig: 6 });
  assert.equal(named(f.icmp.counters, IcmpReason), { Ok: 4, RateLimited: 5 });
  assert.is(f.icmp.limiter.drops, 5);
});

Forward('no route (IPv4 and IPv6): dropped and counted as NoRoute, no ICMP, packet unchanged', () => {
  const f = fresh();
  const v4 = udp4({ source: ip(198, 18, 0, 9), destination: ip(198, 19, 0, 1) });
  const v6 = tcp6(undefined, '2001 0002 0000 0009 0000 0000 0000 0001');
  for (const packet of [v4, v6, v4]) {
    const { verdict, out, memory } = decideOn(f, packet);
    assert.is(verdict, ForwardVerdict.Drop);
    assert.is(out.extraLength, 0);
    assert.equal(memory.subarray(HEADROOM), packet);
  }
  assert.equal(named(f.counters, ForwardReason), { NoRoute: 3 });
  assert.is(f.icmp.counters[IcmpReason.Ok], 0);
});

Forward('the counters hold only drops: forwarded and handed-up packets are not counted there', () => {
  const f = fresh();
  const cases = [
    udp4({ destination: ip(198, 18, 1, 1) }), // forwarded
    udp4({ destination: ip(198, 18, 0, 1) }), // local: the stack
    udp4({ source: ip(127, 0, 0, 1) }), // martian source
  ];
  assert.equal(cases.map((p) => decideOn(f, p).verdict), [ForwardVerdict.Forward, ForwardVerdict.ToStack, ForwardVerdict.Drop]);
  assert.equal(named(f.counters, ForwardReason), { MartianSource: 1 });
});

Forward('createForwarder: a bare-IP engine counts its drops in the counters it is given', () => {
  const counters = new Float64Array(FORWARD_REASON_COUNT);
  const f = createForwarder(CONFIG, LINKS, counters)!;
  assert.instance(f, RouteForwarder);
  assert.is(decideOn(f as RouteForwarder, TTL1_UDP4).verdict, ForwardVerdict.Drop);
  assert.equal(named(counters, ForwardReason), { TtlExceeded: 1 });
});

Forward.run();
