import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DELIVER_INVALID, TransportDemuxer, type TransportRegistration } from '../../../src/tcpip/stack/transport-demuxer.ts';
import { TransportPacket, type TransportEndpoint } from '../../../src/tcpip/stack/transport-packet.ts';
import {
  REUSE_FLAG_LOAD_BALANCED as LB, REUSE_FLAG_MOST_RECENT as MR, REUSE_FLAG_TUPLE_ONLY as TO,
} from '../../../src/tcpip/stack/transport-ports.ts';
import { demuxHashIpv4, demuxHashIpv6, reciprocalScale } from '../../../src/tcpip/flow-hash.ts';
import { parseIpv4, parseIpv6 } from '../../../src/tcpip/address.ts';
import {
  IPV4_PROTOCOL_NUMBER as IPV4, IPV6_PROTOCOL_NUMBER as IPV6, TCP_PROTOCOL_NUMBER as TCP, UDP_PROTOCOL_NUMBER as UDP,
} from '../../../src/tcpip/protocols.ts';
import { NetshardError } from '../../../src/errors.ts';
import { hex } from '../../helpers/hex.ts';

const Demux = suite('tcpip/stack/transport-demuxer');

/** A receiving endpoint that counts what reaches it (a real TransportEndpoint, not a stand-in for one). */
class Sink implements TransportEndpoint {
  readonly name: string;
  received = 0;
  constructor(name: string) { this.name = name; }
  handlePacket(_pkt: TransportPacket): void { this.received++; }
}
const sinks = (n: number, prefix = 'ep'): Sink[] => Array.from({ length: n }, (_, i) => new Sink(`${prefix}${i}`));

type Net = typeof IPV4 | typeof IPV6;
const families: { name: string; net: Net; local: string; remote: string; any: string }[] = [
  { name: 'IPv4', net: IPV4, local: '198.18.0.1', remote: '198.18.0.2', any: '0.0.0.0' },
  { name: 'IPv6', net: IPV6, local: '2001:2::1', remote: '2001:2::2', any: '::' },
];

function reg(net: Net, localPort: number, localAddress = '', flags = 0, extra: Partial<TransportRegistration> = {}): TransportRegistration {
  return { networks: [net], transport: UDP, id: { localPort, localAddress, remotePort: 0, remoteAddress: '' }, flags, ...extra };
}
function connected(net: Net, localPort: number, localAddress: string, remotePort: number, remoteAddress: string, flags = 0): TransportRegistration {
  return { networks: [net], transport: UDP, id: { localPort, localAddress, remotePort, remoteAddress }, flags };
}

// Scratch for lookups: local address at 0, remote at 16 (4 bytes of each for IPv4).
const scratch = new Uint8Array(32);
const scratchView = new DataView(scratch.buffer);
function find(d: TransportDemuxer, net: Net, nic: number, la: string, lp: number, ra: string, rp: number, transport = UDP): TransportEndpoint | null {
  if (net === IPV4) {
    scratchView.setUint32(0, parseIpv4(la));
    scratchView.setUint32(16, parseIpv4(ra));
  } else {
    assert.ok(parseIpv6(la, scratch, 0) && parseIpv6(ra, scratch, 16));
  }
  return d.findEndpoint(net, transport, nic, scratchView, 0, lp, 16, rp);
}

/** Builds a minimal IP header + UDP/TCP ports frame for deliverPacket (only addresses and ports are read). */
function packet(net: Net, transport: number, src: string, sport: number, dst: string, dport: number, nic: number, broadcast = false): TransportPacket {
  const bytes = new Uint8Array(net === IPV4 ? 28 : 48);
  const view = new DataView(bytes.buffer);
  let at: number;
  if (net === IPV4) {
    bytes[0] = 0x45;
    view.setUint32(12, parseIpv4(src));
    view.setUint32(16, parseIpv4(dst));
    at = 20;
  } else {
    bytes[0] = 0x60;
    assert.ok(parseIpv6(src, bytes, 8) && parseIpv6(dst, bytes, 24));
    at = 40;
  }
  view.setUint16(at, sport);
  view.setUint16(at + 2, dport);
  view.setUint16(at + 4, 8);
  return new TransportPacket().set(bytes, view, net, 0, transport, at, bytes.length, nic, broadcast, true);
}

function expectCode(fn: () => unknown, code: string, message?: RegExp): void {
  try {
    fn();
  } catch (err) {
    assert.instance(err, NetshardError);
    assert.is((err as NetshardError).code, code, (err as Error).message);
    if (message) assert.match((err as Error).message, message);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

// ----- gVisor TestBindToDeviceDistribution (transport_demuxer_test.go): 10,000 packets over 1,000 source ports, ±0.05.

const NPACKETS = 10000;
const NPORTS = 1000;
const LISTEN_PORT = 8000;

/** Sends NPACKETS from NPORTS source ports to the listen port on `nic`; returns each endpoint's share, and checks flow stickiness. */
function distribution(d: TransportDemuxer, net: Net, local: string, remote: string, nic: number, eps: Sink[]): number[] {
  const counts = new Map<TransportEndpoint, number>();
  const byPort = new Map<number, TransportEndpoint | null>();
  for (let i = 0; i < NPACKETS; i++) {
    const sport = 10000 + (i % NPORTS);
    const got = find(d, net, nic, local, LISTEN_PORT, remote, sport);
    if (byPort.has(sport)) assert.is(got, byPort.get(sport), `source port ${sport} moved between endpoints`);
    byPort.set(sport, got);
    if (got !== null) counts.set(got, (counts.get(got) ?? 0) + 1);
  }
  return eps.map((ep) => (counts.get(ep) ?? 0) / NPACKETS);
}

for (const fam of families) {
  for (const seed of [1, 0xdeadbeef]) {
    const cases: { name: string; devices: number[]; reuse: boolean; want: Record<number, number[]> }[] = [
      { name: '5 LB sockets on dev0', devices: [0, 0, 0, 0, 0], reuse: true, want: { 1: [0.2, 0.2, 0.2, 0.2, 0.2] } },
      { name: 'bound to NICs 1,2,3 without reuse', devices: [1, 2, 3], reuse: false, want: { 1: [1, 0, 0], 2: [0, 1, 0], 3: [0, 0, 1] } },
      {
        name: 'LB on NICs {1,1,2,2,2,0}', devices: [1, 1, 2, 2, 2, 0], reuse: true,
        want: { 1: [0.5, 0.5, 0, 0, 0, 0], 2: [0, 0, 1 / 3, 1 / 3, 1 / 3, 0], 1000: [0, 0, 0, 0, 0, 1] },
      },
    ];
    for (const c of cases) {
      Demux(`TestBindToDeviceDistribution ${fam.name} seed ${seed}: ${c.name}`, () => {
        const d = new TransportDemuxer({ seed });
        const eps = sinks(c.devices.length);
        c.devices.forEach((device, i) => d.register(reg(fam.net, LISTEN_PORT, '', c.reuse ? LB : 0, { bindToDevice: device }), eps[i]!));
        for (const [nic, want] of Object.entries(c.want)) {
          const got = distribution(d, fam.net, fam.local, fam.remote, Number(nic), eps);
          want.forEach((w, i) => {
            assert.ok(Math.abs(got[i]! - w) <= 0.05, `NIC ${nic}, endpoint ${i}: share ${got[i]}, want ${w} ± 0.05 (all: ${got.join(', ')})`);
          });
        }
      });
    }
  }
}

Demux('same 4-tuple always reaches the same endpoint; different tuples spread over all members', () => {
  const d = new TransportDemuxer({ seed: 42 });
  const eps = sinks(4);
  for (const ep of eps) d.register(reg(IPV4, 53, '', LB), ep);
  const seen = new Set<TransportEndpoint>();
  for (let rp = 1024; rp < 1124; rp++) {
    const first = find(d, IPV4, 1, '198.18.0.1', 53, '198.18.7.7', rp);
    assert.ok(first !== null);
    seen.add(first);
    for (let k = 0; k < 20; k++) assert.is(find(d, IPV4, 1, '198.18.0.1', 53, '198.18.7.7', rp), first);
  }
  assert.is(seen.size, 4, 'every member gets some flows');
});

// ----- gVisor TestTransportDemuxerRegisterMultiple

for (const c of [
  { name: 'no flags twice', flags: [0, 0], want: ['ok', 'EADDRINUSE'] },
  { name: 'LB|MR, LB|MR, then TupleOnly', flags: [LB | MR, LB | MR, TO], want: ['ok', 'ok', 'EADDRINUSE'] },
  { name: 'TupleOnly twice (TupleOnly plays no role in the demuxer)', flags: [TO, TO], want: ['ok', 'EADDRINUSE'] },
  { name: 'MR then LB share nothing', flags: [MR, LB], want: ['ok', 'EADDRINUSE'] },
  { name: 'LB, LB, LB', flags: [LB, LB, LB], want: ['ok', 'ok', 'ok'] },
]) {
  Demux(`TestTransportDemuxerRegisterMultiple: ${c.name}`, () => {
    const d = new TransportDemuxer({ seed: 0 });
    c.flags.forEach((flags, i) => {
      const r = reg(IPV4, 80, '198.18.0.1', flags);
      if (c.want[i] === 'ok') {
        assert.ok(d.checkEndpoint(r), `checkEndpoint #${i}`);
        d.register(r, new Sink(`e${i}`));
      } else {
        assert.not.ok(d.checkEndpoint(r), `checkEndpoint #${i}`);
        expectCode(() => d.register(r, new Sink(`e${i}`)), 'EADDRINUSE', /198\.18\.0\.1:80 is in use/);
      }
    });
  });
}

Demux('TestTransportDemuxerRegister: an IPv6 ID on an IPv4-only stack is EAFNOSUPPORT; an unknown transport EPROTONOSUPPORT', () => {
  const d = new TransportDemuxer({ networkProtocols: [IPV4], seed: 0 });
  expectCode(() => d.register(reg(IPV6, 80), new Sink('x')), 'EAFNOSUPPORT', /does not run IPv6/);
  expectCode(() => d.register({ ...reg(IPV4, 80), transport: 132 }, new Sink('x')), 'EPROTONOSUPPORT', /transport protocol 132/);
  assert.is(find(d, IPV6, 1, '2001:2::1', 80, '2001:2::2', 1), null);
});

// ----- REFERENCE-gvisor.md §3.4 derived selectEndpoint vectors

for (const c of [
  { seed: 0, lp: 80, rp: 12345, la: '10.0.0.1', ra: '10.0.0.2', hash: 3565891216, n: 3, idx: 2 },
  { seed: 0x12345678, lp: 53, rp: 40000, la: '192.168.1.1', ra: '192.168.1.2', hash: 4047155624, n: 5, idx: 4 },
]) {
  Demux(`selectEndpoint vector: seed ${c.seed}, ${c.la}:${c.lp} ← ${c.ra}:${c.rp}, n=${c.n} → ${c.idx}`, () => {
    assert.is(demuxHashIpv4(c.seed, c.lp, c.rp, parseIpv4(c.la), parseIpv4(c.ra)), c.hash);
    for (const bound of ['', c.la]) {
      const d = new TransportDemuxer({ seed: c.seed });
      const eps = sinks(c.n);
      for (const ep of eps) d.register(reg(IPV4, c.lp, bound, LB), ep);
      assert.is(find(d, IPV4, 1, c.la, c.lp, c.ra, c.rp), eps[c.idx], `bound to '${bound}'`);
    }
  });
}

Demux('selectEndpoint over IPv6 hashes the same bytes as demuxHashIpv6', () => {
  const d = new TransportDemuxer({ seed: 0x9e3779b9 });
  const eps = sinks(7);
  for (const ep of eps) d.register(reg(IPV6, 443, '', LB), ep);
  const addrs = new Uint8Array(32);
  parseIpv6('2001:2::1', addrs, 0);
  parseIpv6('2001:2:0:1::99', addrs, 16);
  for (let rp = 30000; rp < 30200; rp++) {
    const want = reciprocalScale(demuxHashIpv6(0x9e3779b9, 443, rp, addrs, 0, 16), 7);
    assert.is(find(d, IPV6, 1, '2001:2::1', 443, '2001:2:0:1::99', rp), eps[want], `remote port ${rp}`);
  }
});

Demux('selectEndpoint over IPv4 equals reciprocalScale(demuxHashIpv4) for random tuples, seeds and group sizes', () => {
  let x = 0x2545f491;
  const next = (): number => (x = (Math.imul(x, 1103515245) + 12345) >>> 0);
  for (const seed of [0, 1, 0x7fffffff, 0x80000000, 0xffffffff]) {
    for (const n of [2, 3, 5, 8, 13]) {
      const d = new TransportDemuxer({ seed });
      const eps = sinks(n);
      for (const ep of eps) d.register(reg(IPV4, 53, '', LB), ep);
      for (let k = 0; k < 50; k++) {
        const la = next();
        const ra = next();
        const rp = next() & 0xffff;
        const want = reciprocalScale(demuxHashIpv4(seed, 53, rp, la, ra), n);
        scratchView.setUint32(0, la);
        scratchView.setUint32(16, ra);
        assert.is(d.findEndpoint(IPV4, UDP, 1, scratchView, 0, 53, 16, rp), eps[want], `seed ${seed} n ${n} rp ${rp}`);
      }
    }
  }
});

Demux('MostRecent: the newest member gets unicast; after it leaves, the one before', () => {
  const d = new TransportDemuxer({ seed: 3 });
  const eps = sinks(3);
  for (const ep of eps) d.register(reg(IPV4, 5000, '', MR), ep);
  for (let rp = 1; rp < 50; rp++) assert.is(find(d, IPV4, 1, '198.18.0.1', 5000, '198.18.0.9', rp), eps[2]);
  d.unregister(reg(IPV4, 5000, '', MR), eps[2]!);
  assert.is(find(d, IPV4, 1, '198.18.0.1', 5000, '198.18.0.9', 7), eps[1]);
});

Demux('MostRecent|LoadBalanced on every member hashes (Effective drops MostRecent); one MR-only member makes it MostRecent', () => {
  const d = new TransportDemuxer({ seed: 5 });
  const eps = sinks(2);
  for (const ep of eps) d.register(reg(IPV4, 5001, '', MR | LB), ep);
  const hit = new Set<TransportEndpoint | null>();
  for (let rp = 1; rp < 200; rp++) hit.add(find(d, IPV4, 1, '198.18.0.1', 5001, '198.18.0.9', rp));
  assert.is(hit.size, 2, 'both members receive');
  const newest = new Sink('mr-only');
  d.register(reg(IPV4, 5001, '', MR), newest); // shares MR with both
  for (let rp = 1; rp < 50; rp++) assert.is(find(d, IPV4, 1, '198.18.0.1', 5001, '198.18.0.9', rp), newest);
});

// ----- lookup levels

for (const fam of families) {
  Demux(`${fam.name}: lookup order connected > {ANY,rp,ra} > {la} > {port}, first match only`, () => {
    const d = new TransportDemuxer({ seed: 9 });
    const [exact, anyLocal, boundAddr, boundPort] = sinks(4);
    d.register(reg(fam.net, 7000, '', LB), boundPort!);
    d.register(reg(fam.net, 7000, fam.local, LB), boundAddr!);
    d.register(connected(fam.net, 7000, '', 4000, fam.remote), anyLocal!);
    d.register(connected(fam.net, 7000, fam.local, 4000, fam.remote), exact!);
    const other = fam.net === IPV4 ? '198.18.0.77' : '2001:2::77';
    assert.is(find(d, fam.net, 1, fam.local, 7000, fam.remote, 4000), exact);
    assert.is(find(d, fam.net, 1, other, 7000, fam.remote, 4000), anyLocal, 'other local address: level 2');
    assert.is(find(d, fam.net, 1, fam.local, 7000, fam.remote, 4001), boundAddr, 'other remote port: level 3');
    assert.is(find(d, fam.net, 1, other, 7000, other, 4001), boundPort, 'level 4');
    assert.is(find(d, fam.net, 1, fam.local, 7001, fam.remote, 4000), null, 'other port');
    d.unregister(connected(fam.net, 7000, fam.local, 4000, fam.remote), exact!);
    assert.is(find(d, fam.net, 1, fam.local, 7000, fam.remote, 4000), anyLocal, 'exact gone: level 2');
  });

  Demux(`${fam.name}: a device-bound group shadows NIC 0 and a lower ID is never a fallback`, () => {
    const d = new TransportDemuxer({ seed: 11 });
    const [onNic1, unbound, wildcard] = sinks(3);
    d.register(reg(fam.net, 9000, fam.local, 0, { bindToDevice: 1 }), onNic1!);
    d.register(reg(fam.net, 9000, '', 0), wildcard!);
    assert.is(find(d, fam.net, 1, fam.local, 9000, fam.remote, 1), onNic1);
    assert.is(find(d, fam.net, 2, fam.local, 9000, fam.remote, 1), null, 'the {la} ID exists, has no group for NIC 2 or 0: no fallback to {port}');
    d.register(reg(fam.net, 9000, fam.local, 0), unbound!);
    assert.is(find(d, fam.net, 2, fam.local, 9000, fam.remote, 1), unbound, 'NIC 0 group of the same ID');
    assert.is(find(d, fam.net, 1, fam.local, 9000, fam.remote, 1), onNic1, 'the NIC group still wins on NIC 1');
  });
}

Demux('connected endpoint wins over a bound LB group; connected IDs never load-balance', () => {
  const d = new TransportDemuxer({ seed: 13 });
  const group = sinks(3, 'lb');
  for (const ep of group) d.register(reg(IPV4, 53, '', LB), ep);
  const conn = new Sink('conn');
  d.register(connected(IPV4, 53, '', 5353, '198.18.1.1', LB), conn);
  for (let k = 0; k < 10; k++) assert.is(find(d, IPV4, 1, '198.18.0.1', 53, '198.18.1.1', 5353), conn);
  assert.ok(group.includes(find(d, IPV4, 1, '198.18.0.1', 53, '198.18.1.1', 5354) as Sink));
  // LoadBalanced is forced off for a remote port != 0, so a second LB-only endpoint shares no flag.
  expectCode(() => d.register(connected(IPV4, 53, '', 5353, '198.18.1.1', LB), new Sink('conn2')), 'EADDRINUSE');
  // With MR|LB both are admitted (MR shared) and the newest wins even where the hash would pick the first.
  let seed = 0;
  while (reciprocalScale(demuxHashIpv4(seed, 53, 5353, parseIpv4('198.18.0.1'), parseIpv4('198.18.1.1')), 2) !== 0) seed++;
  const d2 = new TransportDemuxer({ seed });
  const [first, second] = sinks(2);
  d2.register(connected(IPV4, 53, '', 5353, '198.18.1.1', MR | LB), first!);
  d2.register(connected(IPV4, 53, '', 5353, '198.18.1.1', MR | LB), second!);
  assert.is(find(d2, IPV4, 1, '198.18.0.1', 53, '198.18.1.1', 5353), second);
});

// ----- broadcast and multicast

for (const c of [
  { name: 'subnet broadcast (flagged by the network layer)', net: IPV4, dst: '198.18.255.255', flag: true },
  { name: 'limited broadcast 255.255.255.255', net: IPV4, dst: '255.255.255.255', flag: false },
  { name: 'IPv4 multicast 224.0.0.251', net: IPV4, dst: '224.0.0.251', flag: false },
  { name: 'IPv6 multicast ff02::fb', net: IPV6, dst: 'ff02::fb', flag: false },
] as const) {
  Demux(`deliverPacket: ${c.name} reaches every member of every matching ID on the NIC`, () => {
    const d = new TransportDemuxer({ seed: 17 });
    const src = c.net === IPV4 ? '198.18.0.2' : '2001:2::2';
    const group = sinks(3, 'lb');
    for (const ep of group) d.register(reg(c.net, 5353, '', LB), ep);
    const byAddress = new Sink('bound-to-group-address');
    d.register(reg(c.net, 5353, c.dst, MR), byAddress);
    const conn = new Sink('connected-to-src');
    d.register(connected(c.net, 5353, '', 6000, src), conn);
    const otherNic = new Sink('nic2');
    d.register(reg(c.net, 5353, c.dst, 0, { bindToDevice: 2 }), otherNic);
    const unicastTo = new Sink('other-port');
    d.register(reg(c.net, 5354, '', 0), unicastTo);
    const n = d.deliverPacket(packet(c.net, UDP, src, 6000, c.dst, 5353, 1, c.flag));
    assert.is(n, 5);
    assert.equal([...group, byAddress, conn, otherNic, unicastTo].map((e) => e.received), [1, 1, 1, 1, 1, 0, 0]);
    assert.is(d.deliverPacket(packet(c.net, UDP, src, 6000, c.dst, 5353, 2, c.flag)), 5, 'on NIC 2 its own group replaces the NIC 0 one of that ID');
    assert.is(otherNic.received, 1);
    assert.is(byAddress.received, 1);
  });
}

Demux('deliverPacket: unicast goes to one endpoint; no endpoint returns 0', () => {
  const d = new TransportDemuxer({ seed: 19 });
  const eps = sinks(3);
  for (const ep of eps) d.register(reg(IPV4, 4242, '', LB), ep);
  assert.is(d.deliverPacket(packet(IPV4, UDP, '198.18.0.2', 1000, '198.18.0.1', 4242, 1)), 1);
  assert.is(eps.reduce((n, e) => n + e.received, 0), 1);
  assert.is(d.deliverPacket(packet(IPV4, UDP, '198.18.0.2', 1000, '198.18.0.1', 4243, 1)), 0);
  const v6 = new TransportPacket().set(new Uint8Array(48), new DataView(new ArrayBuffer(48)), IPV6, 0, 99, 40, 48, 1, false, false);
  assert.is(d.deliverPacket(v6), 0, 'a transport with no table');
});

Demux('deliverPacket: TCP to or from an unspecified, broadcast or multicast address is DELIVER_INVALID', () => {
  const d = new TransportDemuxer({ seed: 23 });
  const listener = new Sink('listener');
  d.register({ ...reg(IPV4, 80), transport: TCP }, listener);
  for (const [src, dst, flag] of [
    ['0.0.0.0', '198.18.0.1', false], ['198.18.0.2', '0.0.0.0', false], ['198.18.0.2', '224.0.0.1', false],
    ['198.18.0.2', '255.255.255.255', false], ['198.18.0.2', '198.18.255.255', true],
  ] as const) {
    assert.is(d.deliverPacket(packet(IPV4, TCP, src, 1234, dst, 80, 1, flag)), DELIVER_INVALID, `${src} → ${dst}`);
  }
  assert.is(d.deliverPacket(packet(IPV4, TCP, '198.18.0.2', 1234, '198.18.0.1', 80, 1)), 1);
  assert.is(listener.received, 1);
});

// ----- owner rule (beyond gVisor: Linux's same-UID rule for SO_REUSEPORT)

Demux('owner rule: a LoadBalanced group admits only its owner', () => {
  const d = new TransportDemuxer({ seed: 29 });
  d.register(reg(IPV4, 53, '', LB, { owner: 1000 }), new Sink('a'));
  d.register(reg(IPV4, 53, '', LB, { owner: 1000 }), new Sink('b'));
  expectCode(() => d.register(reg(IPV4, 53, '', LB, { owner: 1001 }), new Sink('intruder')), 'EADDRINUSE', /another owner/);
  assert.not.ok(d.checkEndpoint(reg(IPV4, 53, '', LB, { owner: 1001 })));
  assert.is(d.endpointsOf(IPV4, UDP, { localPort: 53, localAddress: '', remotePort: 0, remoteAddress: '' }).length, 2);
  // Another ID or another device is another group.
  d.register(reg(IPV4, 53, '198.18.0.1', LB, { owner: 1001 }), new Sink('own-address'));
  d.register(reg(IPV4, 53, '', LB, { owner: 1001, bindToDevice: 3 }), new Sink('own-device'));
});

Demux('owner rule holds when an MR-only member of another owner leaves a mixed group', () => {
  const d = new TransportDemuxer({ seed: 31 });
  const a = new Sink('a');
  const b = new Sink('b');
  d.register(reg(IPV4, 53, '', MR | LB, { owner: 1 }), a);
  d.register(reg(IPV4, 53, '', MR, { owner: 2 }), b); // joins through the shared MR flag (SO_REUSEADDR)
  // Shared flags are MR now, but a's LoadBalanced membership still belongs to owner 1.
  expectCode(() => d.register(reg(IPV4, 53, '', MR | LB, { owner: 2 }), new Sink('c')), 'EADDRINUSE', /another owner/);
  d.register(reg(IPV4, 53, '', MR | LB, { owner: 1 }), new Sink('d'));
});

// ----- unregister

Demux('unregister keeps bind order, prunes empty groups and IDs, and frees IPv6 address ids', () => {
  const d = new TransportDemuxer({ seed: 37 });
  const id = { localPort: 443, localAddress: '2001:2::1', remotePort: 0, remoteAddress: '' };
  const eps = sinks(4);
  for (const ep of eps) d.register({ networks: [IPV6], transport: UDP, id, flags: LB }, ep);
  const conn = new Sink('conn');
  const connReg = connected(IPV6, 443, '2001:2::1', 999, '2001:2::2');
  d.register(connReg, conn);
  assert.is(d.ipv6AddressCount, 2);
  assert.is(d.idCount(IPV6, UDP), 2);
  assert.ok(d.unregister({ networks: [IPV6], transport: UDP, id, flags: LB }, eps[1]!));
  assert.equal(d.endpointsOf(IPV6, UDP, id).map((e) => (e as Sink).name), ['ep0', 'ep2', 'ep3']);
  assert.not.ok(d.unregister({ networks: [IPV6], transport: UDP, id }, eps[1]!), 'already gone');
  assert.not.ok(d.unregister({ networks: [IPV6], transport: UDP, id, bindToDevice: 4 }, eps[0]!), 'wrong device');
  for (const i of [0, 2, 3]) d.unregister({ networks: [IPV6], transport: UDP, id }, eps[i]!);
  assert.equal(d.endpointsOf(IPV6, UDP, id), []);
  assert.is(d.idCount(IPV6, UDP), 1);
  assert.is(find(d, IPV6, 1, '2001:2::1', 443, '2001:2::3', 1), null);
  d.unregister(connReg, conn);
  assert.is(d.idCount(IPV6, UDP), 0);
  assert.is(d.ipv6AddressCount, 0, 'address ids freed');
  assert.is(find(d, IPV6, 1, '2001:2::1', 443, '2001:2::2', 999), null);
});

Demux('dual-stack: one wildcard registration in IPv6 and IPv4; one IPv4-only conflict blocks both, changing nothing', () => {
  const d = new TransportDemuxer({ seed: 41 });
  const v4only = new Sink('v4');
  d.register(reg(IPV4, 5000), v4only);
  const dual = new Sink('dual');
  const dualReg: TransportRegistration = { networks: [IPV6, IPV4], transport: UDP, id: { localPort: 5000, localAddress: '::', remotePort: 0, remoteAddress: '' } };
  expectCode(() => d.register(dualReg, dual), 'EADDRINUSE');
  assert.is(d.idCount(IPV6, UDP), 0, 'nothing registered in IPv6');
  d.unregister(reg(IPV4, 5000), v4only);
  d.register(dualReg, dual);
  assert.is(find(d, IPV4, 1, '198.18.0.1', 5000, '198.18.0.2', 1), dual);
  assert.is(find(d, IPV6, 1, '2001:2::1', 5000, '2001:2::2', 1), dual);
});

// ----- validation at the door

for (const c of [
  { name: 'not an object', reg: 5, code: 'ERR_INVALID_ARG_TYPE', msg: /registration must be an object/ },
  { name: 'unknown key', reg: { ...reg(IPV4, 1), extra: 1 }, code: 'ERR_INVALID_ARG_VALUE', msg: /registration\.extra is not a known option/ },
  { name: 'empty networks', reg: { ...reg(IPV4, 1), networks: [] }, code: 'ERR_OUT_OF_RANGE', msg: /registration\.networks/ },
  { name: 'network twice', reg: { ...reg(IPV4, 1), networks: [IPV4, IPV4] }, code: 'ERR_INVALID_ARG_VALUE', msg: /twice/ },
  { name: 'port out of range', reg: reg(IPV4, 70000), code: 'ERR_OUT_OF_RANGE', msg: /registration\.id\.localPort/ },
  { name: 'bad address', reg: reg(IPV4, 1, 'host.example'), code: 'ERR_INVALID_ARG_VALUE', msg: /localAddress must be an IPv4 or IPv6 address/ },
  { name: 'family mismatch', reg: reg(IPV4, 1, '2001:2::1'), code: 'ERR_INVALID_ARG_VALUE', msg: /is not an IPv4 address/ },
  { name: 'flags out of range', reg: reg(IPV4, 1, '', 8), code: 'ERR_OUT_OF_RANGE', msg: /registration\.flags/ },
  { name: 'negative owner', reg: reg(IPV4, 1, '', 0, { owner: -1 }), code: 'ERR_OUT_OF_RANGE', msg: /registration\.owner/ },
]) {
  Demux(`register validates: ${c.name}`, () => {
    const d = new TransportDemuxer({ seed: 0 });
    expectCode(() => d.register(c.reg as TransportRegistration, new Sink('x')), c.code, c.msg);
  });
}

Demux('register rejects an endpoint without handlePacket; the constructor validates its options', () => {
  const d = new TransportDemuxer();
  assert.ok(d.seed >= 0 && d.seed <= 0xffffffff);
  expectCode(() => d.register(reg(IPV4, 1), {} as TransportEndpoint), 'ERR_INVALID_ARG_TYPE', /handlePacket/);
  expectCode(() => new TransportDemuxer({ seed: -1 }), 'ERR_OUT_OF_RANGE', /options\.seed/);
  expectCode(() => new TransportDemuxer({ networkProtocols: [0x1234 as typeof IPV4] }), 'ERR_INVALID_ARG_VALUE');
  expectCode(() => new TransportDemuxer({ transportProtocols: [] }), 'ERR_OUT_OF_RANGE');
  expectCode(() => new TransportDemuxer({ bogus: 1 } as never), 'ERR_INVALID_ARG_VALUE');
});

// A real UDP/IPv4 frame (header fields as a receiver sees them) still demuxes by its own bytes.
Demux('deliverPacket reads the 4-tuple from the frame', () => {
  const frame = hex(`
    4500 0021 0001 0000 4011 0000   # IPv4, total length 33, TTL 64, UDP, checksum not checked here
    c612 0002                       # source 198.18.0.2
    c612 0001                       # destination 198.18.0.1
    d431 0035 000d 0000             # source port 54321, destination port 53, length 13, no checksum
    6869 210a 00                    # payload
  `);
  const d = new TransportDemuxer({ seed: 0 });
  const dns = new Sink('dns');
  d.register(connected(IPV4, 53, '198.18.0.1', 54321, '198.18.0.2'), dns);
  const pkt = new TransportPacket().set(frame, new DataView(frame.buffer), IPV4, 0, UDP, 20, 33, 1, false, false);
  assert.is(d.deliverPacket(pkt), 1);
  assert.is(dns.received, 1);
});

Demux.run();
