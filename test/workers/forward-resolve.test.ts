/**
 * `ForwardResolver` over AF_UNIX socketpairs (no root): the coordinator's `Stack` resolves the next hops
 * the workers do not know, and what it learns reaches the workers' tables (`Engine.updateNeighbors`).
 *
 * Two Ethernet links: link 0 ("in", 198.18.1.2/24, 2001:2:0:1::2/64) where the test plays the generator,
 * link 1 ("out", 198.19.1.2/24, 2001:2:0:2::2/64) where it plays the sink, answering ARP / NS itself.
 * - a packet to the sink, unknown to the worker, goes to the coordinator, waits in its neighbor queue
 *   while an ARP request (IPv4) / NS (IPv6) goes out on link 1, and is sent (MACs rewritten, TTL 63) when
 *   the test answers; the answer reaches the worker, whose next packets forward without the coordinator
 *   (its handoff count stops; its forwarded count grows);
 * - a worker restarted after that starts with the learned entry (the engine merges every update into the
 *   configuration new workers get);
 * - an entry whose probes go unanswered leaves the workers: packets come back to the coordinator, which
 *   resolves afresh; an unanswered resolution fails and its queued packets are freed and counted.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { closeFds, openSocketPair, syscalls as sys } from '../../src/fdbased/index.ts';
import { NeighborState, checksum, finishChecksum } from '../../src/tcpip/index.ts';
import { Engine, ForwardResolver, forwardingConfigFromKernel, type ForwardResolverOptions, type KernelLink } from '../../src/workers/index.ts';
import { hex, toHex } from '../helpers/hex.ts';
import { drain, ipv4ChecksumOk, send, udp4, until } from './fixtures/packets.ts';

const Resolve = suite('workers/forward-resolve');

const GEN_MAC = '0200 0000 0101', IN_MAC = '0200 0000 0102', OUT_MAC = '0200 0000 0202', SINK_MAC = '0200 0000 0201';
const mac = (h: string): string => toHex(hex(h)).match(/../g)!.join(':');
const KERNEL: KernelLink[] = [
  { name: 'in', mac: mac(IN_MAC), mtu: 1500, addresses: ['198.18.1.2/24', '2001:2:0:1::2/64'], neighbors: [{ address: '198.18.1.1', mac: mac(GEN_MAC), permanent: true }] },
  { name: 'out', mac: mac(OUT_MAC), mtu: 1500, addresses: ['198.19.1.2/24', '2001:2:0:2::2/64'], neighbors: [] },
];

const ip4 = (a: number, b: number, c: number, d: number): number => ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
/** gen → sink, IPv4 UDP in an Ethernet frame addressed to link 0. */
const v4ToSink = (seq: number): Uint8Array =>
  new Uint8Array([...hex(`${IN_MAC} ${GEN_MAC} 0800`), ...udp4({ source: ip4(198, 18, 1, 1), destination: ip4(198, 19, 1, 1), sourcePort: 40_000, seq })]);

/** gen → sink, IPv6 UDP (checksum left 0: forwarding does not read it). */
const v6ToSink = (seq: number): Uint8Array => {
  const f = hex(`
    ${IN_MAC} ${GEN_MAC} 86dd
    6000 0000 0010 11 40                          # payload 16, next header UDP, hop limit 64
    2001 0002 0000 0001 0000 0000 0000 0001       # source 2001:2:0:1::1
    2001 0002 0000 0002 0000 0000 0000 0001       # destination 2001:2:0:2::1
    9c40 2328 0010 0000                           # ports 40000 → 9000, length 16, checksum 0
    0000 0000 0000 0000                           # payload: sequence number (patched)
  `);
  new DataView(f.buffer).setUint32(14 + 40 + 8, seq);
  return f;
};

/** The sink's ARP reply to the engine's request. */
const ARP_REPLY = hex(`
  ${OUT_MAC} ${SINK_MAC} 0806
  0001 0800 06 04 0002                            # Ethernet/IPv4, reply
  ${SINK_MAC} c613 0101                           # sender: the sink, 198.19.1.1
  ${OUT_MAC} c613 0102                            # target: the engine, 198.19.1.2
`);

/** The sink's solicited NA (S and O set, target link-layer address option), ICMPv6 checksum computed. */
function neighborAdvert(): Uint8Array {
  const f = hex(`
    ${OUT_MAC} ${SINK_MAC} 86dd
    6000 0000 0020 3a ff                          # payload 32, ICMPv6, hop limit 255
    2001 0002 0000 0002 0000 0000 0000 0001       # source 2001:2:0:2::1 (the sink)
    2001 0002 0000 0002 0000 0000 0000 0002       # destination 2001:2:0:2::2 (the engine)
    88 00 0000 6000 0000                          # NA, checksum (computed), flags S|O
    2001 0002 0000 0002 0000 0000 0000 0001       # target 2001:2:0:2::1
    02 01 ${SINK_MAC}                             # option: target link-layer address
  `);
  const pseudo = new Uint8Array(40 + 32);
  pseudo.set(f.subarray(22, 54), 0); // source, destination
  new DataView(pseudo.buffer).setUint32(32, 32); // upper-layer length
  pseudo[39] = 58;
  pseudo.set(f.subarray(54), 40);
  new DataView(f.buffer).setUint16(56, finishChecksum(checksum(pseudo, 0, pseudo.length)));
  return f;
}

/** The frames seen on link 1, sorted. */
interface SinkSide {
  arpRequests: Uint8Array[];
  solicits: Uint8Array[];
  udp4: Uint8Array[];
  udp6: Uint8Array[];
}

function readSinkSide(fd: number, into: SinkSide): void {
  const frames: Uint8Array[] = [];
  drain(fd, frames);
  for (const f of frames) {
    const type = (f[12]! << 8) | f[13]!;
    if (type === 0x0806 && f[21] === 1) into.arpRequests.push(f);
    else if (type === 0x0800 && f[23] === 17) into.udp4.push(f);
    else if (type === 0x86dd && f[20] === 17) into.udp6.push(f);
    else if (type === 0x86dd && f[20] === 58 && f[54] === 135) into.solicits.push(f);
  }
}

interface Rig {
  engine: Engine;
  resolver: ForwardResolver;
  gen: number;
  sink: number;
  seen: SinkSide;
  /** Link 0's worker: what it forwarded and handed up. */
  worker(): { forwarded: number; toCoordinator: number };
  close(): Promise<void>;
}

async function rig(options: ForwardResolverOptions = {}): Promise<Rig> {
  const a = openSocketPair(), b = openSocketPair();
  sys.setNonBlocking(a[0]);
  sys.setNonBlocking(b[0]);
  const resolver = new ForwardResolver(KERNEL, [], [], options);
  const engine = new Engine({
    links: KERNEL.map((k, i) => ({ fds: [(i === 0 ? a : b)[1]], ethernetHeader: true, linkAddress: k.mac, mtu: k.mtu })),
    forwarding: forwardingConfigFromKernel(KERNEL),
    stack: resolver,
    frameCount: 256,
    txFrameCount: 64,
    ringCapacity: 128,
  });
  await engine.start();
  const seen: SinkSide = { arpRequests: [], solicits: [], udp4: [], udp6: [] };
  return {
    engine, resolver, gen: a[0], sink: b[0], seen,
    worker: () => engine.workerStats()[0]!,
    async close() {
      await engine.stop();
      closeFds([...a, ...b]);
    },
  };
}

for (const c of [
  { name: 'a PERMANENT kernel entry: static in the coordinator', neighbor: { address: '198.19.1.1', mac: mac(SINK_MAC), permanent: true }, state: NeighborState.Static },
  { name: 'another resolved kernel entry: learned (STALE), verified before long use', neighbor: { address: '198.19.1.1', mac: mac(SINK_MAC) }, state: NeighborState.Stale },
  { name: 'an IPv6 one likewise', neighbor: { address: '2001:2:0:2::1', mac: mac(SINK_MAC) }, state: NeighborState.Stale },
]) {
  Resolve(`seed: ${c.name}`, () => {
    const kernel: KernelLink[] = [KERNEL[0]!, { ...KERNEL[1]!, neighbors: [c.neighbor] }];
    const resolver = new ForwardResolver(kernel);
    const v6 = c.neighbor.address.includes(':');
    const table = v6 ? resolver.stack.ndp : resolver.stack.arp;
    const e = v6 ? table.findIpv6(2, new DataView(hex('2001 0002 0000 0002 0000 0000 0000 0001').buffer), 0) : table.findIpv4(2, ip4(198, 19, 1, 1));
    assert.ok(e >= 0, 'in the coordinator\'s table');
    assert.is(table.stateOf(e), c.state);
    assert.is(resolver.stats().published, 2, 'and in the workers\' initial config, beside the static gen');
  });
}

Resolve('a link without a MAC is refused', () => {
  try {
    new ForwardResolver([KERNEL[0]!, { ...KERNEL[1]!, mac: '' }]);
    assert.unreachable('should throw');
  } catch (err) {
    assert.is((err as { code?: string }).code, 'ERR_INVALID_ARG_VALUE');
  }
});

Resolve('IPv4: queued while ARP resolves, sent when answered; then the worker forwards by itself', async () => {
  const r = await rig();
  try {
    for (let seq = 0; seq < 3; seq++) send(r.gen, v4ToSink(seq));
    await until(() => (readSinkSide(r.sink, r.seen), r.seen.arpRequests.length >= 1 && r.resolver.stats().queued === 3), 5000, 'an ARP request, 3 queued');
    const request = r.seen.arpRequests[0]!;
    assert.is(toHex(request.subarray(0, 14)), toHex(hex(`ffff ffff ffff ${OUT_MAC} 0806`)), 'broadcast from link 1');
    assert.is(toHex(request.subarray(28, 32)), 'c6130102', 'sender 198.19.1.2 (our address on link 1)');
    assert.is(toHex(request.subarray(38, 42)), 'c6130101', 'who has 198.19.1.1');
    assert.is(r.seen.udp4.length, 0, 'nothing sent before resolution');
    send(r.sink, ARP_REPLY);
    await until(() => (readSinkSide(r.sink, r.seen), r.seen.udp4.length === 3), 5000, 'the 3 queued datagrams');
    for (const [i, f] of r.seen.udp4.entries()) {
      assert.is(toHex(f.subarray(0, 12)), toHex(hex(`${SINK_MAC} ${OUT_MAC}`)), 'to the resolved MAC');
      assert.is(f[14 + 8], 63, 'TTL 64 - 1');
      assert.ok(ipv4ChecksumOk(f, 14));
      assert.is(new DataView(f.buffer).getUint32(14 + 32), i, 'in order');
    }
    let s = r.resolver.stats();
    assert.is(s.handoffs, 3);
    assert.is(s.sentAfterResolution, 3);
    assert.is(s.resolutions, 1);
    // The learned entry reaches the worker: from then on it forwards, and nothing more is handed up.
    await until(() => r.resolver.stats().updates >= 1, 5000, 'the neighbor update to the workers');
    const before = r.worker();
    for (let seq = 3; seq < 23; seq++) send(r.gen, v4ToSink(seq));
    await until(() => (readSinkSide(r.sink, r.seen), r.seen.udp4.length === 23), 5000, '20 more datagrams');
    const after = r.worker();
    assert.is(after.forwarded - before.forwarded, 20, 'forwarded in the worker');
    assert.is(after.toCoordinator, before.toCoordinator, 'no handoff after resolution');
    s = r.resolver.stats();
    assert.is(s.handoffs, 3, 'the coordinator saw only the first 3');
    assert.is(s.unresolved + s.dropped, 0);
  } finally {
    await r.close();
  }
});

Resolve('IPv6: queued while NDP resolves (NS to the solicited-node group), sent on the NA; then the worker forwards', async () => {
  const r = await rig();
  try {
    for (let seq = 0; seq < 2; seq++) send(r.gen, v6ToSink(seq));
    await until(() => (readSinkSide(r.sink, r.seen), r.seen.solicits.length >= 1 && r.resolver.stats().queued === 2), 5000, 'an NS, 2 queued');
    const ns = r.seen.solicits[0]!;
    assert.is(toHex(ns.subarray(0, 6)), '3333ff000001', 'to 33:33:ff:00:00:01 (solicited-node of ::1)');
    assert.is(toHex(ns.subarray(62, 78)), '20010002000000020000000000000001', 'target 2001:2:0:2::1');
    send(r.sink, neighborAdvert());
    await until(() => (readSinkSide(r.sink, r.seen), r.seen.udp6.length === 2), 5000, 'the 2 queued datagrams');
    for (const f of r.seen.udp6) {
      assert.is(toHex(f.subarray(0, 12)), toHex(hex(`${SINK_MAC} ${OUT_MAC}`)));
      assert.is(f[14 + 7], 63, 'hop limit 64 - 1');
    }
    await until(() => r.resolver.stats().updates >= 1, 5000, 'the neighbor update to the workers');
    const before = r.worker();
    for (let seq = 2; seq < 12; seq++) send(r.gen, v6ToSink(seq));
    await until(() => (readSinkSide(r.sink, r.seen), r.seen.udp6.length === 12), 5000, '10 more datagrams');
    const after = r.worker();
    assert.is(after.forwarded - before.forwarded, 10, 'forwarded in the worker');
    assert.is(after.toCoordinator, before.toCoordinator, 'no handoff after resolution');
    assert.is(r.resolver.stats().handoffs, 2);
  } finally {
    await r.close();
  }
});

Resolve('a worker started after the coordinator learned a next hop starts with it (restart)', async () => {
  const r = await rig();
  try {
    send(r.gen, v4ToSink(0));
    await until(() => (readSinkSide(r.sink, r.seen), r.seen.arpRequests.length >= 1), 5000, 'an ARP request');
    send(r.sink, ARP_REPLY);
    await until(() => r.resolver.stats().updates >= 1, 5000, 'the neighbor update to the workers');
    const online = new Promise<void>((resolve) => r.engine.once('workerOnline', () => resolve()));
    await r.engine.worker(0).worker.terminate();
    await online;
    for (let seq = 1; seq < 11; seq++) send(r.gen, v4ToSink(seq));
    await until(() => (readSinkSide(r.sink, r.seen), r.seen.udp4.length === 11), 5000, '10 datagrams through the new worker');
    assert.is(r.worker().forwarded, 10, 'the new generation forwarded them itself');
    assert.is(r.resolver.stats().handoffs, 1, 'only the very first went to the coordinator');
  } finally {
    await r.close();
  }
});

Resolve('an entry whose probes go unanswered leaves the workers; an unanswered resolution fails, its queue freed', async () => {
  // Short timers: REACHABLE 300 ms, first probe 20 ms after use, one probe, requests 50 ms apart, two of them.
  const timers = { reachableMs: 300, delayFirstProbeMs: 20, retransmitMs: 50, maxUnicastSolicit: 1, maxMulticastSolicit: 2, failedHoldMs: 5000 };
  const r = await rig({ arp: timers, tickMs: 10 });
  try {
    send(r.gen, v4ToSink(0));
    await until(() => (readSinkSide(r.sink, r.seen), r.seen.arpRequests.length >= 1), 5000, 'an ARP request');
    send(r.sink, ARP_REPLY);
    await until(() => r.resolver.stats().published === 2, 5000, 'the sink in the workers (beside the static gen)');
    // Nobody answers from now on: the coordinator probes the entry it published (unicast), then asks again
    // (broadcast), and takes it back from the workers.
    await until(() => r.resolver.stats().published === 1, 5000, 'the sink taken back from the workers');
    readSinkSide(r.sink, r.seen);
    assert.ok(r.seen.arpRequests.some((f) => toHex(f.subarray(0, 6)) === toHex(hex(SINK_MAC))), 'a unicast probe to the sink went out first');
    const handoffs = r.resolver.stats().handoffs;
    for (let seq = 1; seq < 4; seq++) send(r.gen, v4ToSink(seq));
    await until(() => r.resolver.stats().handoffs === handoffs + 3, 5000, 'packets back at the coordinator');
    // Each of the 3 waited in the queue and was freed when the resolution failed, or (arriving after the
    // failure) was dropped with an ICMP host unreachable: none was sent.
    await until(() => r.resolver.stats().failures >= 1 && r.resolver.stats().unresolved + r.resolver.stats().dropped >= 3, 5000, 'the resolution failed');
    readSinkSide(r.sink, r.seen);
    assert.is(r.seen.udp4.length, 1, 'only the datagram sent while the sink answered reached it');
    const s = r.resolver.stats();
    assert.is(s.sentAfterResolution, 1);
    assert.is(s.unresolved + s.dropped, 3);
    for (const p of r.engine.framePools()) assert.ok(p.slot !== -1 || p.available === p.frameCount, 'every tx frame back in the pool');
  } finally {
    await r.close();
  }
});

Resolve.run();
