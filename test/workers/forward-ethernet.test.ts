/**
 * Forwarding between Ethernet socketpair links through the stack's own `forwardPacket()` in each worker
 * (`StackForwarder`): every packet to a static neighbor arrives with its MACs rewritten, TTL - 1 and in
 * flow order on `fds[hash % 2]`; a TTL-1 packet is answered by the worker itself with an ICMP time
 * exceeded on the ingress link; a next hop the workers do not know goes to the coordinator's stack; the
 * outcomes are counted by `ForwardReason` in the worker's stats.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { closeFds, openSocketPair, syscalls as sys } from '../../src/fdbased/index.ts';
import { Engine, HandoffReason, type InboundPacket } from '../../src/workers/index.ts';
import { hex, toHex } from '../helpers/hex.ts';
import { drain, ipv4ChecksumOk, send, udp4, until } from './fixtures/packets.ts';

const Forward = suite('workers/forward-ethernet');
const PACKETS = 512;
const FLOWS = 8;

const ip = (a: number, b: number, c: number, d: number): number => ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
/** An Ethernet frame from 02:00:00:00:00:02 to link A (02:00:00:00:00:0a) carrying `payload`. */
const toA = (payload: Uint8Array): Uint8Array => new Uint8Array([...hex('0200 0000 000a  0200 0000 0002  0800'), ...payload]);

Forward('Ethernet link A → link B through the stack forwarder: MACs, TTL, order, ICMP from the worker', async () => {
  const a = [openSocketPair()];
  const b = [openSocketPair(), openSocketPair()];
  for (const p of [...a, ...b]) sys.setNonBlocking(p[0]);
  const atStack: { reason: number; destination: number }[] = [];
  const engine = new Engine({
    links: [
      { fds: a.map((p) => p[1]), ethernetHeader: true, linkAddress: '02:00:00:00:00:0a' },
      { fds: b.map((p) => p[1]), ethernetHeader: true, linkAddress: '02:00:00:00:00:0b' },
    ],
    frameCount: 256,
    txFrameCount: 16,
    ringCapacity: 128,
    forwarding: {
      addresses: [
        { link: 0, address: '198.18.0.1/24' },
        { link: 1, address: '198.18.1.1/24' },
      ],
      neighbors: [{ link: 1, address: '198.18.1.9', linkAddress: '02:00:00:00:00:99' }],
    },
    stack: {
      deliverNetworkPacket(p: InboundPacket) {
        atStack.push({ reason: p.reason, destination: p.view.getUint32(p.networkOffset + 16) });
      },
    },
  });
  await engine.start();
  const out: Uint8Array[] = [];
  const back: Uint8Array[] = [];
  try {
    for (let seq = 0; seq < PACKETS; seq++) {
      const flow = seq % FLOWS;
      send(a[0]![0], toA(udp4({ source: ip(198, 18, 0, 2), destination: ip(198, 18, 1, 9), sourcePort: 30_000 + flow, flow, seq })));
      if (seq % 64 === 63) {
        await until(() => (b.forEach((p) => drain(p[0], out)), out.length === seq + 1), 5000, `${seq + 1} forwarded`);
      }
    }
    send(a[0]![0], toA(udp4({ source: ip(198, 18, 0, 2), destination: ip(198, 18, 1, 9), ttl: 1, flow: 99 })));
    send(a[0]![0], toA(udp4({ source: ip(198, 18, 0, 2), destination: ip(198, 18, 1, 77), flow: 98 })));
    await until(() => (drain(a[0]![0], back), back.length === 1), 5000, 'the ICMP time exceeded');
    await until(() => atStack.length === 1, 5000, 'the unknown next hop at the stack');
    await until(() => (engine.workerStats()[0]!.forwardReasons['Unresolved'] ?? 0) === 1, 5000, 'outcomes counted');
  } finally {
    await engine.stop();
    closeFds([...a, ...b].flat());
  }
  const last = new Map<number, number>();
  for (const f of out) {
    const v = new DataView(f.buffer);
    assert.is(toHex(f.subarray(0, 14)), '020000000099' + '02000000000b' + '0800', 'next hop\'s MAC, link B\'s MAC, IPv4');
    assert.is(f[14 + 8], 63);
    assert.ok(ipv4ChecksumOk(f, 14));
    const flow = v.getUint32(14 + 28), seq = v.getUint32(14 + 32);
    assert.ok(seq > (last.get(flow) ?? -1), `flow ${flow} in order`);
    last.set(flow, seq);
  }
  assert.is(out.length, PACKETS);
  const icmp = back[0]!;
  assert.is(toHex(icmp.subarray(0, 14)), '020000000002' + '02000000000a' + '0800', 'back to the sender, from link A');
  assert.equal([icmp[14 + 9], icmp[14 + 20], icmp[14 + 21]], [1, 11, 0], 'ICMP time exceeded in transit');
  assert.is(new DataView(icmp.buffer).getUint32(14 + 12), ip(198, 18, 0, 1), 'from link A\'s address');
  assert.equal(atStack, [{ reason: HandoffReason.NoNeighbor, destination: ip(198, 18, 1, 77) }]);
  const s = engine.workerStats()[0]!;
  assert.equal(s.forwardReasons, { Forwarded: PACKETS, TtlExceeded: 1, Unresolved: 1 });
  assert.is(s.forwarded, PACKETS);
  for (const p of engine.framePools()) assert.is(p.available, p.frameCount, `pool of slot ${p.slot} is full`);
});

Forward.run();
