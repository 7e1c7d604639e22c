import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { checksumView } from '../../../src/tcpip/checksum.ts';
import { ParsedPacket } from '../../../src/tcpip/parse.ts';
import {
  FORWARD_REASON_COUNT, ForwardAction, ForwardCache, ForwardReason, ForwardResult, forwardPacket, type ForwardTables,
} from '../../../src/tcpip/stack/forward.ts';
import { Icmp } from '../../../src/tcpip/stack/icmp.ts';
import { NEIGHBOR_SOLICITED, NeighborState, NeighborTable, type NeighborOptions } from '../../../src/tcpip/stack/neighbor-table.ts';
import { NicTable } from '../../../src/tcpip/stack/nic.ts';
import { RouteTable } from '../../../src/tcpip/stack/route-table.ts';
import type { TokenBucketOptions } from '../../../src/tcpip/stack/rate-limiter.ts';
import { hex, toHex, viewOf } from '../../helpers/hex.ts';
import { ETH_ARP_REQUEST } from '../header/vectors.ts';
import { MAC_B, MAC_US0, MAC_US1, icmpv4ChecksumsOk, icmpv6ChecksumOk, ip4, ip6, mac, parse, udp4Frame, udp6Frame } from './fixtures.ts';

const Forward = suite('tcpip/stack/forward');

interface Setup extends ForwardTables {
  counters: Float64Array;
  result: ForwardResult;
  out: Uint8Array;
}

function setup(o: { queueUnresolved?: boolean; mtu1?: number; neighbors?: NeighborOptions; rate?: TokenBucketOptions } = {}): Setup {
  const nics = new NicTable();
  nics.add({ name: 'eth0', linkAddress: MAC_US0 });
  nics.add({ name: 'eth1', linkAddress: MAC_US1, mtu: o.mtu1 ?? 1500 });
  nics.addAddress(1, '198.18.0.2/24');
  nics.addAddress(1, '2001:2::2/64');
  nics.addAddress(2, '198.18.1.1/24');
  nics.addAddress(2, '2001:2:0:1::1/64');
  const routes = new RouteTable();
  routes.add({ destination: '198.18.0.0/24', nic: 1 });
  routes.add({ destination: '198.18.1.0/24', nic: 2 });
  routes.add({ destination: '198.19.0.0/16', gateway: '198.18.1.2', nic: 2 });
  routes.add({ destination: '2001:2::/64', nic: 1 });
  routes.add({ destination: '2001:2:0:1::/64', nic: 2 });
  routes.add({ destination: '2001:2:1::/48', gateway: '2001:2:0:1::2', nic: 2 });
  const arp = new NeighborTable(4, o.neighbors);
  const ndp = new NeighborTable(6, o.neighbors);
  arp.setStaticIpv4(2, ip4('198.18.1.2'), mac(MAC_B));
  ndp.setStaticIpv6(2, ip6('2001:2:0:1::2'), mac(MAC_B));
  return {
    nics, routes, arp, ndp, icmp: new Icmp(o.rate), queueUnresolved: o.queueUnresolved ?? true,
    counters: new Float64Array(FORWARD_REASON_COUNT), result: new ForwardResult(), out: new Uint8Array(1600),
  };
}

function run(s: Setup, frame: Uint8Array, packet = 1, now = 0, nicId = 1): ForwardAction {
  return forwardPacket(s, nicId, viewOf(frame), parse(frame), packet, now, viewOf(s.out), 0, s.result, s.counters);
}

/** udp4Frame() to 198.19.0.5 (via the gateway 198.18.1.2), TTL 64, forwarded: the exact frame that leaves eth1. */
const FORWARDED_V4 = hex(`
  0200 0000 0101                   # destination: the gateway's MAC (from the neighbor table)
  0200 0000 0102                   # source: eth1's MAC
  0800
  4500 0020 1234 4000
  3f11 9d6d                        # TTL 63 (was 64), checksum 9c6d + 0100 (RFC 1624)
  c612 0001 c613 0005              # 198.18.0.1 -> 198.19.0.5, unchanged
  3039 0035 000c a59e dead beef    # UDP, unchanged
`);

/** TTL 1 version of the same packet: the time exceeded that goes back out of eth0 (python-computed checksums). */
const TIME_EXCEEDED_V4 = hex(`
  0200 0000 0001 0200 0000 0002 0800   # back to the sender's MAC, from eth0's
  45c0 003c 0000 4000 4001 add9        # TOS c0, total 60, DF, TTL 64, ICMP
  c612 0002 c612 0001                  # from eth0's address facing the sender
  0b00 8149 0000 0000                  # type 11 code 0 (TTL exceeded in transit)
  4500 0020 1234 4000 0111 db6d        # the offending header as received (TTL 1)
  c612 0001 c613 0005
  3039 0035 000c a59e dead beef
`);

Forward('TTL decrement with incremental checksum and MAC rewrite: exact bytes', () => {
  const s = setup();
  const frame = udp4Frame({ dst: '198.19.0.5' });
  assert.is(run(s, frame), ForwardAction.Forward);
  assert.is(s.result.egressNic, 2);
  assert.is(s.result.frameOffset, 0);
  assert.is(s.result.frameLength, FORWARDED_V4.length);
  assert.is(s.result.outLength, 0);
  assert.is(toHex(frame), toHex(FORWARDED_V4));
  assert.is(checksumView(viewOf(frame), 14, 20), 0xffff);
  assert.is(s.counters[ForwardReason.Forwarded], 1);
});

/** Forwards `frame` with `cache` (or none) on a fresh setup warmed with one packet to 198.19.0.5. */
function warmRun(frame: Uint8Array, cache: ForwardCache | null, mtu1?: number) {
  const s = setup(mtu1 === undefined ? {} : { mtu1 });
  const warm = udp4Frame({ dst: '198.19.0.5' });
  forwardPacket(s, 1, viewOf(warm), parse(warm), -1, 0, viewOf(s.out), 0, s.result, s.counters, cache);
  const action = forwardPacket(s, 1, viewOf(frame), parse(frame), -1, 0, viewOf(s.out), 0, s.result, s.counters, cache);
  return { action, reason: s.result.reason, egress: s.result.egressNic, frame: toHex(frame), out: toHex(s.out.subarray(0, s.result.outLength)) };
}

// Each frame after the destination is cached must get exactly what the full path gives it.
const CACHED_CASES: { name: string; frame: () => Uint8Array; mtu1?: number; want: ForwardReason; hit: boolean }[] = [
  { name: 'plain (a hit)', frame: () => udp4Frame({ dst: '198.19.0.5' }), want: ForwardReason.Forwarded, hit: true },
  { name: 'other port, same destination (a hit)', frame: () => udp4Frame({ dst: '198.19.0.5', sourcePort: 7 }), want: ForwardReason.Forwarded, hit: true },
  { name: 'TTL 1: time exceeded', frame: () => udp4Frame({ dst: '198.19.0.5', ttl: 1 }), want: ForwardReason.TtlExceeded, hit: false },
  { name: 'loopback source', frame: () => udp4Frame({ dst: '198.19.0.5', src: '127.0.0.1' }), want: ForwardReason.MartianSource, hit: false },
  { name: 'ingress broadcast source', frame: () => udp4Frame({ dst: '198.19.0.5', src: '198.18.0.255' }), want: ForwardReason.MartianSource, hit: false },
  { name: 'link-local source', frame: () => udp4Frame({ dst: '198.19.0.5', src: '169.254.1.1' }), want: ForwardReason.LinkLocal, hit: false },
  { name: 'larger than the egress MTU: frag needed', frame: () => udp4Frame({ dst: '198.19.0.5', payload: new Uint8Array(1300) }), mtu1: 1280, want: ForwardReason.TooBig, hit: false },
  { name: 'another MAC', frame: () => udp4Frame({ dst: '198.19.0.5', dstMac: '02:00:00:00:00:99' }), want: ForwardReason.OtherHost, hit: false },
  { name: 'another destination (a miss)', frame: () => udp4Frame({ dst: '198.19.0.6' }), want: ForwardReason.Forwarded, hit: false },
];

for (const c of CACHED_CASES) {
  Forward(`ForwardCache: ${c.name} — same result as without the cache`, () => {
    const cache = new ForwardCache();
    const cached = warmRun(c.frame(), cache, c.mtu1);
    const plain = warmRun(c.frame(), null, c.mtu1);
    assert.equal(cached, plain);
    assert.is(cached.reason, c.want);
    assert.is(cache.hits, c.hit ? 1 : 0);
  });
}

Forward('ForwardCache: a cached next hop stays until clear(); after it the new MAC is used', () => {
  const s = setup();
  const cache = new ForwardCache();
  const send = () => {
    const frame = udp4Frame({ dst: '198.19.0.5' });
    assert.is(forwardPacket(s, 1, viewOf(frame), parse(frame), -1, 0, viewOf(s.out), 0, s.result, s.counters, cache), ForwardAction.Forward);
    return toHex(frame.subarray(0, 6));
  };
  assert.is(send(), '020000000101');
  assert.is(send(), '020000000101');
  assert.is(cache.hits, 1);
  s.arp.setStaticIpv4(2, ip4('198.18.1.2'), mac('02:00:00:00:01:77'));
  assert.is(send(), '020000000101', 'stale until cleared (the owner clears on every table change)');
  cache.clear();
  assert.is(send(), '020000000177');
  assert.is(send(), '020000000177');
  assert.is(cache.hits, 3);
  assert.is(s.counters[ForwardReason.Forwarded], 5);
});

Forward('ForwardCache: a next hop still being resolved is never cached', () => {
  const s = setup();
  const cache = new ForwardCache();
  for (let i = 0; i < 3; i++) {
    const frame = udp4Frame({ dst: '198.18.1.9' }); // on-link, no neighbor entry
    forwardPacket(s, 1, viewOf(frame), parse(frame), -1, i, viewOf(s.out), 0, s.result, s.counters, cache);
    assert.is(s.result.reason, ForwardReason.Unresolved);
  }
  assert.is(cache.hits, 0);
  assert.ok(cache.entries.every((w) => w === 0), 'nothing stored');
});

Forward('link padding is not forwarded', () => {
  const s = setup();
  const frame = new Uint8Array(60);
  frame.set(udp4Frame({ dst: '198.19.0.5' }));
  const parsed = parse(frame);
  assert.is(forwardPacket(s, 1, viewOf(frame), parsed, 1, 0, viewOf(s.out), 0, s.result, s.counters), ForwardAction.Forward);
  assert.is(s.result.frameLength, 46);
});

Forward('IPv6: hop limit decremented, MACs rewritten, nothing else changes', () => {
  const s = setup();
  const frame = udp6Frame({ dst: '2001:2:1::5', hopLimit: 2 });
  const before = frame.slice();
  assert.is(run(s, frame), ForwardAction.Forward);
  const want = before.slice();
  want.set(mac(MAC_B), 0);
  want.set(mac(MAC_US1), 6);
  want[21] = 1;
  assert.is(toHex(frame), toHex(want));
});

Forward('TTL 1: time exceeded back to the sender (exact bytes), frame dropped', () => {
  const s = setup();
  const frame = udp4Frame({ dst: '198.19.0.5', ttl: 1 });
  const before = frame.slice();
  assert.is(run(s, frame), ForwardAction.Drop);
  assert.is(s.result.reason, ForwardReason.TtlExceeded);
  assert.is(s.result.outNic, 1);
  assert.is(toHex(s.out.subarray(0, s.result.outLength)), toHex(TIME_EXCEEDED_V4));
  assert.ok(icmpv4ChecksumsOk(s.out, 14));
  assert.is(toHex(frame), toHex(before), 'the dropped frame is untouched');
});

Forward('TTL 1: the ICMP limiter decides, the drop is counted either way', () => {
  const s = setup({ rate: { ratePerSecond: 1, burst: 1 } });
  run(s, udp4Frame({ dst: '198.19.0.5', ttl: 1 }), 1, 0);
  assert.ok(s.result.outLength > 0);
  run(s, udp4Frame({ dst: '198.19.0.5', ttl: 0 }), 1, 10);
  assert.is(s.result.outLength, 0, 'rate limited');
  assert.is(s.counters[ForwardReason.TtlExceeded], 2);
  assert.is(s.icmp.limiter.drops, 1);
});

Forward('IPv6 hop limit 1: time exceeded (type 3) from eth0\'s address', () => {
  const s = setup();
  const frame = udp6Frame({ dst: '2001:2:1::5', hopLimit: 1 });
  assert.is(run(s, frame), ForwardAction.Drop);
  assert.is(s.result.reason, ForwardReason.TtlExceeded);
  assert.is(s.result.outLength, 14 + 40 + 8 + frame.length - 14);
  assert.is(toHex(s.out.subarray(54, 56)), '0300');
  assert.is(toHex(s.out.subarray(22, 38)), toHex(ip6('2001:2::2')));
  assert.is(toHex(s.out.subarray(38, 54)), toHex(ip6('2001:2::1')));
  assert.ok(icmpv6ChecksumOk(s.out, 14));
});

for (const c of [
  { name: 'no route (IPv4)', frame: () => udp4Frame({ dst: '203.0.113.1' }), want: ForwardReason.NoRoute, action: ForwardAction.Drop },
  { name: 'no route (IPv6)', frame: () => udp6Frame({ dst: '2001:db8::1' }), want: ForwardReason.NoRoute, action: ForwardAction.Drop },
  { name: 'for us', frame: () => udp4Frame({ dst: '198.18.0.2' }), want: ForwardReason.Local, action: ForwardAction.Local },
  { name: 'for our address on the other NIC (weak host)', frame: () => udp4Frame({ dst: '198.18.1.1' }), want: ForwardReason.Local, action: ForwardAction.Local },
  { name: 'for our IPv6 address', frame: () => udp6Frame({ dst: '2001:2:0:1::1' }), want: ForwardReason.Local, action: ForwardAction.Local },
  { name: 'to the ingress subnet broadcast', frame: () => udp4Frame({ dst: '198.18.0.255' }), want: ForwardReason.Local, action: ForwardAction.Local },
  { name: 'IPv6 multicast', frame: () => udp6Frame({ dst: 'ff02::1', dstMac: '33:33:00:00:00:01' }), want: ForwardReason.Local, action: ForwardAction.Local },
  { name: 'ARP', frame: () => ETH_ARP_REQUEST, want: ForwardReason.Local, action: ForwardAction.Local },
  { name: 'a frame for another MAC', frame: () => udp4Frame({ dst: '198.19.0.5', dstMac: '02:00:00:00:00:99' }), want: ForwardReason.OtherHost, action: ForwardAction.Drop },
  { name: 'a loopback source', frame: () => udp4Frame({ src: '127.0.0.1', dst: '198.19.0.5' }), want: ForwardReason.MartianSource, action: ForwardAction.Drop },
  { name: 'a multicast source', frame: () => udp4Frame({ src: '224.0.0.5', dst: '198.19.0.5' }), want: ForwardReason.MartianSource, action: ForwardAction.Drop },
  { name: 'a 0/8 destination', frame: () => udp4Frame({ dst: '0.1.2.3' }), want: ForwardReason.MartianDestination, action: ForwardAction.Drop },
  { name: 'a directed broadcast of the egress subnet', frame: () => udp4Frame({ dst: '198.18.1.255' }), want: ForwardReason.MartianDestination, action: ForwardAction.Drop },
  { name: 'a link-local destination (RFC 3927)', frame: () => udp4Frame({ dst: '169.254.1.1' }), want: ForwardReason.LinkLocal, action: ForwardAction.Drop },
  { name: 'an IPv6 link-local source', frame: () => udp6Frame({ src: 'fe80::1', dst: '2001:2:1::5' }), want: ForwardReason.LinkLocal, action: ForwardAction.Drop },
  { name: 'an IPv6 unspecified source', frame: () => udp6Frame({ src: '::', dst: '2001:2:1::5' }), want: ForwardReason.MartianSource, action: ForwardAction.Drop },
]) {
  Forward(`decision: ${c.name}`, () => {
    const s = setup();
    const frame = c.frame().slice();
    assert.is(run(s, frame), c.action);
    assert.is(s.result.reason, c.want);
    assert.is(s.counters[c.want], 1);
    assert.is(s.counters.reduce((a, b) => a + b), 1, 'exactly one counter moved');
  });
}

Forward('a bad IPv4 header checksum is dropped before anything else', () => {
  const s = setup();
  const frame = udp4Frame({ dst: '198.19.0.5' });
  frame[24]! ^= 0x10;
  assert.is(run(s, frame), ForwardAction.Drop);
  assert.is(s.result.reason, ForwardReason.BadChecksum);
});

/**
 * A frame to 198.19.0.5 whose IPv4 header is 60 bytes (IHL 15): an unknown option (type 0x9e, length 40)
 * of 0xff bytes, so the 16-bit sum of the header is as large as a header's gets; checksum from checksum.ts.
 */
function optionsFrame(): Uint8Array {
  const frame = new Uint8Array(14 + 60 + 8);
  frame.set(hex('0200 0000 0002  0200 0000 0001  0800'), 0); // eth0's MAC <- host A, IPv4
  frame.set(hex('4f00 0044 ffff 4000 4011 0000 c612 0001 c613 0005'), 14); // IHL 15, total 68, id ffff, DF, TTL 64, UDP
  frame.set(hex('9e28'), 34);                                     // option 0x9e, 40 bytes
  frame.fill(0xff, 36, 74);
  frame.set(hex('3039 0035 0008 0000'), 74);                      // UDP, no checksum
  const sum = checksumView(viewOf(frame), 14, 60);
  frame[24] = (~sum >>> 8) & 0xff;
  frame[25] = ~sum & 0xff;
  return frame;
}

Forward('IPv4 header checksum over a 60-byte header of 0xff options: valid forwards, any flipped bit drops', () => {
  const good = optionsFrame();
  assert.is(checksumView(viewOf(good), 14, 60), 0xffff, 'fixture is valid');
  const s = setup();
  const frame = good.slice();
  assert.is(run(s, frame), ForwardAction.Forward);
  assert.is(checksumView(viewOf(frame), 14, 60), 0xffff, 'still valid after the TTL decrement');
  for (const [at, bit] of [[14 + 10, 0x01], [14 + 59, 0x80], [14 + 30, 0x10], [14 + 0, 0x00]] as const) {
    const bad = good.slice();
    bad[at]! ^= bit;
    const st = setup();
    assert.is(run(st, bad), bit === 0 ? ForwardAction.Forward : ForwardAction.Drop, `byte ${at} ^ ${bit}`);
    assert.is(st.result.reason, bit === 0 ? ForwardReason.Forwarded : ForwardReason.BadChecksum);
  }
});

Forward('VLAN-tagged and non-Ethernet frames are dropped', () => {
  const s = setup();
  const tagged = hex(`
    0200 0000 0002 0200 0000 0001 8100 0064 0800
    4500 0014 0000 4000 40fd 0000 c612 0001 c613 0005   # protocol 253 (experimental)
  `);
  assert.is(run(s, tagged), ForwardAction.Drop);
  assert.is(s.result.reason, ForwardReason.VlanTagged);
  const parsed = new ParsedPacket();
  assert.is(forwardPacket(s, 1, viewOf(tagged), parsed, 1, 0, viewOf(s.out), 0, s.result, s.counters), ForwardAction.Drop);
  assert.is(s.result.reason, ForwardReason.NotIp);
  assert.is(forwardPacket(s, 9, viewOf(tagged), parsed, 1, 0, viewOf(s.out), 0, s.result, s.counters), ForwardAction.Drop);
  assert.is(s.result.reason, ForwardReason.UnknownNic);
});

Forward('unresolved next hop: queued with TTL and source MAC done, ARP request in out; resolution hands it back', () => {
  const s = setup();
  const frame = udp4Frame({ dst: '198.18.1.9' });
  assert.is(run(s, frame, 17), ForwardAction.Queued);
  assert.is(s.result.egressNic, 2);
  assert.is(s.result.outNic, 2);
  assert.is(toHex(s.out.subarray(0, s.result.outLength)), toHex(hex(`
    ffff ffff ffff 0200 0000 0102 0806     # broadcast from eth1
    0001 0800 0604 0001                    # request
    0200 0000 0102 c612 0101               # sender eth1, 198.18.1.1
    0000 0000 0000 c612 0109               # who has 198.18.1.9?
  `)));
  assert.is(frame[22], 63, 'TTL already decremented');
  assert.is(toHex(frame.subarray(6, 12)), '020000000102', 'source MAC already eth1');
  assert.is(checksumView(viewOf(frame), 14, 20), 0xffff);
  assert.is(s.arp.updateIpv4(2, ip4('198.18.1.9'), viewOf(mac('02:00:00:00:01:09')), 0, NEIGHBOR_SOLICITED, 5), 3 /* Resolved */);
  assert.is(s.arp.dequeue(s.arp.entry), 17);
  // The next packet to it is forwarded at once.
  assert.is(run(s, udp4Frame({ dst: '198.18.1.9' })), ForwardAction.Forward);
});

Forward('unresolved with queueing off, or without a packet handle: dropped, the request still goes out', () => {
  for (const [s, packet] of [[setup({ queueUnresolved: false }), 1], [setup(), -1]] as const) {
    assert.is(run(s, udp4Frame({ dst: '198.18.1.9' }), packet), ForwardAction.Drop);
    assert.is(s.result.reason, ForwardReason.Unresolved);
    assert.is(s.result.outLength, 42);
  }
});

Forward('queue overflow: the oldest waiting packet comes back in releasedPacket', () => {
  const s = setup({ neighbors: { maxQueuePerNeighbor: 2 } });
  assert.is(run(s, udp4Frame({ dst: '198.18.1.9' }), 1), ForwardAction.Queued);
  assert.is(run(s, udp4Frame({ dst: '198.18.1.9' }), 2), ForwardAction.Queued);
  assert.is(s.result.outLength, 0, 'no second request within the retransmit time');
  assert.is(run(s, udp4Frame({ dst: '198.18.1.9' }), 3), ForwardAction.Queued);
  assert.is(s.result.releasedPacket, 1);
  assert.is(s.counters[ForwardReason.QueueOverflow], 1);
  assert.is(s.counters[ForwardReason.Queued], 3);
});

Forward('resolution failure: host unreachable back, queued packets handed over for freeing', () => {
  const s = setup({ neighbors: { retransmitMs: 1000, maxMulticastSolicit: 2 } });
  run(s, udp4Frame({ dst: '198.18.1.9' }), 5, 0);
  run(s, udp4Frame({ dst: '198.18.1.9' }), 6, 1000); // second solicit
  assert.is(s.result.outLength, 42);
  assert.is(run(s, udp4Frame({ dst: '198.18.1.9' }), 7, 2000), ForwardAction.Drop);
  assert.is(s.result.reason, ForwardReason.NeighborFailed);
  assert.is(s.result.failedTable, s.arp);
  const freed: number[] = [];
  for (let p = s.arp.dequeue(s.result.failedEntry); p >= 0; p = s.arp.dequeue(s.result.failedEntry)) freed.push(p);
  assert.equal(freed, [5, 6]);
  assert.is(toHex(s.out.subarray(34, 36)), '0301', 'ICMP destination unreachable, host unreachable');
  assert.ok(icmpv4ChecksumsOk(s.out, 14));
});

Forward('IPv6 unresolved: NS to the solicited-node address out of eth1', () => {
  const s = setup();
  assert.is(run(s, udp6Frame({ dst: '2001:2:0:1::9' }), 4), ForwardAction.Queued);
  assert.is(toHex(s.out.subarray(0, 6)), '3333ff000009');
  assert.is(toHex(s.out.subarray(22, 38)), toHex(ip6('2001:2:0:1::1')));
  assert.is(toHex(s.out.subarray(62, 78)), toHex(ip6('2001:2:0:1::9')));
  assert.ok(icmpv6ChecksumOk(s.out, 14));
});

Forward('a stale next hop is used and probed with a unicast request', () => {
  const s = setup({ neighbors: { delayFirstProbeMs: 100 } });
  s.arp.updateIpv4(2, ip4('198.18.1.9'), viewOf(mac('02:00:00:00:01:09')), 0, 1 /* CREATE: STALE */, 0);
  assert.is(run(s, udp4Frame({ dst: '198.18.1.9' }), 1, 0), ForwardAction.Forward);
  assert.is(s.result.outLength, 0);
  assert.is(run(s, udp4Frame({ dst: '198.18.1.9' }), 1, 100), ForwardAction.Forward);
  assert.is(s.result.outLength, 42);
  assert.is(toHex(s.out.subarray(0, 6)), '020000000109', 'unicast probe');
  assert.is(s.arp.stateOf(s.arp.entry), NeighborState.Stale);
});

Forward('too big for the egress MTU: DF gets frag needed with the MTU, no DF is dropped, IPv6 gets packet too big', () => {
  const s = setup({ mtu1: 1280 });
  const payload = new Uint8Array(1300);
  assert.is(run(s, udp4Frame({ dst: '198.19.0.5', payload })), ForwardAction.Drop);
  assert.is(s.result.reason, ForwardReason.TooBig);
  assert.is(toHex(s.out.subarray(34, 42)), '0304' + toHex(s.out.subarray(36, 38)) + '00000500', 'type 3 code 4, next-hop MTU 1280');
  assert.ok(icmpv4ChecksumsOk(s.out, 14));
  assert.is(run(s, udp4Frame({ dst: '198.19.0.5', payload, flags: 0 })), ForwardAction.Drop);
  assert.is(s.result.outLength, 0);
  assert.is(run(s, udp6Frame({ dst: '2001:2:1::5', payload })), ForwardAction.Drop);
  assert.is(toHex(s.out.subarray(54, 56)), '0200');
  assert.is(toHex(s.out.subarray(58, 62)), '00000500', 'MTU 1280');
  assert.ok(icmpv6ChecksumOk(s.out, 14));
  assert.is(s.counters[ForwardReason.TooBig], 3);
});

Forward.run();
