/**
 * The L2 bridge forwarder (`{ kind: 'bridge' }`): first its decision over frames in memory (every parsed
 * frame to the other link, from its link header to the end of the network packet, bytes untouched; too
 * big for the egress MTU: dropped and counted; the config checks at the door), then the real thing:
 * an engine whose two Ethernet links are socketpairs with two fds each, frames written into either
 * link's fds come out of the other link's `fds[hash % 2]` exactly as written, every one forwarded by the
 * worker that received it and none handed to the coordinator. Bounded in packets and time; no timing
 * assertions.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { closeFds, openSocketPair, syscalls as sys } from '../../src/fdbased/index.ts';
import { FORWARD_REASON_COUNT, ForwardReason, ParseReason, ParsedPacket, flowHashIpv4, flowHashIpv6, parsePacket } from '../../src/tcpip/index.ts';
import {
  BridgeForwarder,
  Engine,
  ForwardDecision,
  ForwardVerdict,
  createForwarder,
  validateForwardingConfig,
  type ForwardLink,
  type InboundPacket,
} from '../../src/workers/index.ts';
import { hex, toHex } from '../helpers/hex.ts';
import { throwsNetshard } from '../ring/fixtures/throws.ts';
import { ARP, TCP6, drain, send, udp4, until } from './fixtures/packets.ts';

const Bridge = suite('workers/bridge-forwarder');

const ETHERNET: ForwardLink[] = [
  { ethernetHeader: true, linkAddress: '', mtu: 1500 },
  { ethernetHeader: true, linkAddress: '', mtu: 1500 },
];
const BARE: ForwardLink[] = [
  { ethernetHeader: false, linkAddress: '', mtu: 1500 },
  { ethernetHeader: false, linkAddress: '', mtu: 1500 },
];

/** Ethernet header: destination 02:00:00:00:00:0b (a host behind the bridge, not the bridge), source …:0a. */
const ETH_IPV4 = hex('0200 0000 000b  0200 0000 000a  0800');
const ETH_IPV6 = hex('0200 0000 000b  0200 0000 000a  86dd');
/** The same with an 802.1Q tag: VLAN 7, then IPv4. */
const ETH_VLAN_IPV4 = hex('0200 0000 000b  0200 0000 000a  8100 0007  0800');

const concat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) (out.set(p, at), (at += p.length));
  return out;
};

/** `bytes` placed 14 bytes into a buffer (the loop's receive headroom for bare IP), parsed. */
function received(bytes: Uint8Array, ethernet: boolean): { view: DataView; parsed: ParsedPacket; start: number } {
  const buffer = new Uint8Array(bytes.length + 14);
  buffer.set(bytes, 14);
  const view = new DataView(buffer.buffer);
  const parsed = new ParsedPacket();
  const reason = parsePacket(view, 14, 14 + bytes.length, ethernet, parsed);
  assert.is(reason, ParseReason.Ok, 'the test frame parses');
  return { view, parsed, start: 14 };
}

for (const c of [
  { name: 'IPv4/UDP on Ethernet, link 0 → 1', links: ETHERNET, ingress: 0, bytes: concat(ETH_IPV4, udp4()), sent: 14 + 36 },
  { name: 'IPv6/TCP on Ethernet, link 1 → 0', links: ETHERNET, ingress: 1, bytes: concat(ETH_IPV6, TCP6), sent: 14 + 60 },
  { name: 'ARP broadcast, link 0 → 1 (flooded: the one other port)', links: ETHERNET, ingress: 0, bytes: ARP, sent: 42 },
  { name: 'VLAN-tagged, tag kept', links: ETHERNET, ingress: 1, bytes: concat(ETH_VLAN_IPV4, udp4()), sent: 18 + 36 },
  { name: 'padded to 60 bytes: the padding is left for the sender to add', links: ETHERNET, ingress: 0, bytes: concat(ETH_IPV4, udp4(), new Uint8Array(10)), sent: 14 + 36 },
  { name: 'bare IPv4 (TUN), link 0 → 1', links: BARE, ingress: 0, bytes: udp4({ ttl: 1 }), sent: 36 },
  { name: 'bare IPv6 (TUN), link 1 → 0', links: BARE, ingress: 1, bytes: TCP6, sent: 60 },
]) {
  Bridge(`decide: ${c.name}`, () => {
    const counters = new Float64Array(FORWARD_REASON_COUNT);
    const f = createForwarder({ kind: 'bridge' }, c.links, counters)!;
    assert.instance(f, BridgeForwarder);
    const { view, parsed, start } = received(c.bytes, c.links[0]!.ethernetHeader);
    const before = toHex(new Uint8Array(view.buffer));
    const d = new ForwardDecision();
    assert.is(f.decide(view, c.ingress, parsed, 0, d), ForwardVerdict.Forward);
    assert.is(d.link, c.ingress ^ 1, 'out on the other link');
    assert.is(d.start, start, 'from the first byte received');
    assert.is(d.end - d.start, c.sent, 'to the end of the network packet');
    assert.is(d.extraLength, 0, 'no frame of its own');
    assert.is(toHex(new Uint8Array(view.buffer)), before, 'not a byte changed (TTL 1 too)');
    assert.is(counters[ForwardReason.Forwarded], 1);
  });
}

Bridge('decide: longer than the egress MTU: dropped and counted TooBig, as Linux bridges do', () => {
  const counters = new Float64Array(FORWARD_REASON_COUNT);
  const links: ForwardLink[] = [{ ...ETHERNET[0]! }, { ...ETHERNET[1]!, mtu: 35 }]; // the IPv4 packet is 36 bytes
  const f = createForwarder({ kind: 'bridge' }, links, counters)!;
  const d = new ForwardDecision();
  const into1 = received(concat(ETH_IPV4, udp4()), true);
  assert.is(f.decide(into1.view, 0, into1.parsed, 0, d), ForwardVerdict.Drop, 'to link 1 (MTU 35)');
  const into0 = received(concat(ETH_IPV4, udp4()), true);
  assert.is(f.decide(into0.view, 1, into0.parsed, 0, d), ForwardVerdict.Forward, 'to link 0 (MTU 1500)');
  assert.is(counters[ForwardReason.TooBig], 1);
  assert.is(counters[ForwardReason.Forwarded], 1);
});

for (const c of [
  { name: 'unknown kind', config: { kind: 'switch' }, links: ETHERNET, code: 'ERR_INVALID_ARG_VALUE', message: 'forwarding.kind must be one of "route", "bridge", received type string (\'switch\')' },
  {
    name: 'bridge with routes', config: { kind: 'bridge', routes: [] }, links: ETHERNET, code: 'ERR_INVALID_ARG_VALUE',
    message: 'forwarding: a bridge sends every frame unchanged: addresses, routes and neighbors do not apply',
  },
  { name: 'three links', config: { kind: 'bridge' }, links: [...ETHERNET, ETHERNET[0]!], code: 'ERR_INVALID_ARG_VALUE', message: 'forwarding: a bridge joins exactly 2 links, the engine has 3' },
  {
    name: 'Ethernet and bare IP', config: { kind: 'bridge' }, links: [ETHERNET[0]!, BARE[1]!], code: 'ERR_INVALID_ARG_VALUE',
    message: 'a bridge joins two links of one kind: both with an Ethernet header or both bare IP',
  },
  {
    name: 'a link with a MAC', config: { kind: 'bridge' }, links: [ETHERNET[0]!, { ...ETHERNET[1]!, linkAddress: '02:00:00:00:00:01' }], code: 'ERR_INVALID_ARG_VALUE',
    message: 'a bridge takes frames for any MAC: link 1 must have no link address, it has 02:00:00:00:00:01',
  },
] as const) {
  Bridge(`createForwarder: ${c.name}`, () => {
    throwsNetshard(() => createForwarder(c.config as never, c.links), c.code, c.message);
  });
}

Bridge('validateForwardingConfig: kind route is the L3 default, kind bridge takes nothing else', () => {
  assert.equal(validateForwardingConfig({ kind: 'route', routes: [{ destination: '198.18.1.0/24', link: 1 }] }, 2).kind, 'route');
  assert.equal(validateForwardingConfig({ kind: 'bridge' }, 2), { kind: 'bridge' });
  assert.not.instance(createForwarder({ kind: 'route' }, BARE), BridgeForwarder);
});

// ─── through the engine ─────────────────────────────────────────────────────────────────────────────────

const SEED = 0x1b873593;
const FLOWS = 16;
const ROUNDS = 8;
const PER_ROUND = 64; // frames written per direction before reading: far below the socket buffers

Bridge('engine: both directions, each frame unchanged on the other link\'s fds[hash % 2], all in the workers', async () => {
  const a = [openSocketPair(), openSocketPair()];
  const b = [openSocketPair(), openSocketPair()];
  for (const p of [...a, ...b]) sys.setNonBlocking(p[0]);
  const toStack: InboundPacket[] = [];
  const engine = new Engine({
    links: [
      { fds: a.map((p) => p[1]), ethernetHeader: true },
      { fds: b.map((p) => p[1]), ethernetHeader: true },
    ],
    frameCount: 256,
    txFrameCount: 64,
    ringCapacity: 256,
    hashSeed: SEED,
    forwarding: { kind: 'bridge' },
    stack: { deliverNetworkPacket: (p: InboundPacket) => void toStack.push(p) },
  });
  await engine.start();
  const sentAB: string[] = [], sentBA: string[] = [];
  const outB: Uint8Array[][] = [[], []], outA: Uint8Array[][] = [[], []];
  let arps = 0;
  try {
    let seq = 0;
    for (let round = 0; round < ROUNDS; round++) {
      for (let k = 0; k < PER_ROUND; k++, seq++) {
        const flow = seq % FLOWS;
        // A → B: IPv4/UDP, flow k from source port 20000 + k, entering on A's fd flow % 2.
        const ab = concat(ETH_IPV4, udp4({ sourcePort: 20_000 + flow, flow, seq }));
        send(a[flow % 2]![0], ab);
        sentAB.push(toHex(ab));
        // B → A: IPv6/TCP, flow k from source port 30000 + k, with its sequence number in the TCP header.
        const ba = concat(ETH_IPV6, TCP6);
        const v = new DataView(ba.buffer);
        v.setUint16(14 + 40, 30_000 + flow);
        v.setUint32(14 + 44, seq);
        send(b[flow % 2]![0], ba);
        sentBA.push(toHex(ba));
      }
      send(a[round % 2]![0], ARP); // broadcast: flooded to B, on fds[0] (ARP hashes to 0)
      sentAB.push(toHex(ARP));
      arps++;
      const want = sentAB.length + sentBA.length;
      await until(() => {
        for (let i = 0; i < 2; i++) (drain(b[i]![0], outB[i]!), drain(a[i]![0], outA[i]!));
        return outA[0]!.length + outA[1]!.length + outB[0]!.length + outB[1]!.length === want;
      }, 5000, `${want} frames bridged`);
    }
    await until(() => engine.workerStats().reduce((n, w) => n + w.forwarded, 0) === sentAB.length + sentBA.length, 5000, 'forwarded counted');
  } finally {
    await engine.stop();
    closeFds([...a, ...b].flat());
  }

  // Every frame arrived once, unchanged; each flow on one egress fd, in order (it entered on one fd,
  // so one worker carried it).
  const arrivedAB = [...outB[0]!, ...outB[1]!].map(toHex), arrivedBA = [...outA[0]!, ...outA[1]!].map(toHex);
  assert.equal([...arrivedAB].sort(), [...sentAB].sort(), 'A → B: every frame, byte for byte');
  assert.equal([...arrivedBA].sort(), [...sentBA].sort(), 'B → A: every frame, byte for byte');
  const lastSeq = new Map<string, number>(), egress = new Map<string, string>();
  for (const [name, out] of [['A', outA], ['B', outB]] as const) {
    out.forEach((frames, fd) => {
      for (const f of frames) {
        const v = new DataView(f.buffer, f.byteOffset);
        if (v.getUint16(12) === 0x0806) continue; // ARP: no flow
        // IPv4/UDP: flow id and sequence number in the payload; IPv6/TCP: source port and TCP sequence number.
        const ipv4 = v.getUint16(12) === 0x0800;
        const flow = ipv4 ? `4/${v.getUint32(14 + 28)}` : `6/${v.getUint16(14 + 40)}`;
        const seq = ipv4 ? v.getUint32(14 + 32) : v.getUint32(14 + 44);
        assert.ok(seq > (lastSeq.get(flow) ?? -1), `flow ${flow}: ${seq} after ${lastSeq.get(flow)}: in order`);
        lastSeq.set(flow, seq);
        const at = `${name}#${fd}`;
        assert.is(egress.get(flow) ?? at, at, `flow ${flow} leaves on one fd`);
        egress.set(flow, at);
      }
    });
  }
  assert.is(lastSeq.size, 2 * FLOWS);
  // The egress fd is the flow hash of the frame as received, modulo the link's fd count.
  outB.forEach((frames, fd) => {
    for (const f of frames) {
      const v = new DataView(f.buffer, f.byteOffset);
      const want = v.getUint16(12) === 0x0806 ? 0 : flowHashIpv4(v, 14, 17, 34, SEED) % 2;
      assert.is(fd, want, `A → B frame on B's fd ${fd}, want fds[hash % 2] = ${want}`);
    }
  });
  outA.forEach((frames, fd) => {
    for (const f of frames) assert.is(fd, flowHashIpv6(new DataView(f.buffer, f.byteOffset), 14, 6, 54, SEED) % 2, `B → A frame on A's fd ${fd}`);
  });
  assert.ok(outB[0]!.length > arps && outB[1]!.length > 0 && outA[0]!.length > 0 && outA[1]!.length > 0, 'the flows spread over both fds of each link');

  // Run to completion: each worker forwarded all it received, nothing went to the coordinator.
  const stats = engine.workerStats();
  for (const [slot, w] of stats.entries()) {
    assert.ok(w.rxPackets > 0, `worker ${slot} carried traffic`);
    assert.is(w.forwarded, w.rxPackets, `worker ${slot} forwarded what it received`);
    assert.is(w.toCoordinator, 0, `worker ${slot} handed nothing to the coordinator`);
    assert.is(w.forwardReasons.Forwarded, w.rxPackets, `worker ${slot} counted each one Forwarded`);
    assert.is(w.forwardDrops + w.ringDrops + w.txDrops + w.rxDrops, 0, `worker ${slot} dropped nothing`);
  }
  assert.is(toStack.length, 0, 'the stack saw nothing');
  for (const p of engine.framePools()) assert.is(p.available, p.frameCount, `pool of slot ${p.slot} is full`);
});

Bridge.run();
