/**
 * The worker-side forwarding decision, table-driven over packets in memory (no threads): local and
 * multicast destinations to the stack, martians dropped, link-local not forwarded, longest prefix wins,
 * MTU, TTL / hop limit (decremented, IPv4 checksum patched), Ethernet header rewritten from static
 * neighbors, and the config checks at the door.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ParseReason, ParsedPacket, parsePacket } from '../../src/tcpip/index.ts';
import {
  ForwardVerdict,
  ForwardDecision,
  HandoffReason,
  createForwarder,
  validateForwardingConfig,
  type ForwardLink,
} from '../../src/workers/index.ts';
import { hex, toHex } from '../helpers/hex.ts';
import { throwsNetshard } from '../ring/fixtures/throws.ts';
import { ARP, TCP6, ipv4ChecksumOk, udp4 } from './fixtures/packets.ts';

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
  { name: 'IPv4 without a route: the stack', packet: udp4({ destination: ip(198, 19, 0, 1) }), want: ForwardVerdict.ToStack, reason: HandoffReason.NoRoute },
  { name: 'IPv4 TTL 1: time exceeded, unchanged', packet: udp4({ destination: ip(198, 18, 1, 1), ttl: 1 }), want: ForwardVerdict.ToStack, reason: HandoffReason.TtlExceeded, ttl: 1 },
  { name: 'IPv4 over the egress MTU: too big', packet: udp4({ destination: ip(198, 18, 4, 1) }), want: ForwardVerdict.ToStack, reason: HandoffReason.TooBig },
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
      assert.equal(memory, before, 'not forwarded: nothing changed');
    }
    if ('ttl' in c) assert.is(memory[net + (parsed.networkProtocol === 0x0800 ? 8 : 7)], c.ttl);
    if (parsed.networkProtocol === 0x0800) assert.ok(ipv4ChecksumOk(memory, net), 'IPv4 header checksum still valid');
  });
}

Forward('createForwarder: null config means no forwarder', () => {
  assert.is(createForwarder(null, LINKS), null);
});

for (const c of [
  { name: 'unknown key', config: { routes: [], via: 1 }, code: 'ERR_INVALID_ARG_VALUE', message: 'forwarding.via is not a known option (known: addresses, routes, neighbors)' },
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

Forward.run();
