/**
 * Packets written into real socketpairs reach the coordinator's stack handler with the worker's parse
 * results: protocols, header offsets, the engine's flow hash (seeded, UDP/TCP with ports, ICMP without),
 * the link and fd they came in on, and why they were not forwarded. Malformed packets are counted by
 * parse reason and never delivered; frames for another MAC are dropped by the endpoint.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { closeFds, openSocketPair } from '../../src/fdbased/index.ts';
import { flowHashIpv4, flowHashIpv6 } from '../../src/tcpip/index.ts';
import { Engine, HandoffReason, type InboundPacket } from '../../src/workers/index.ts';
import { hex, toHex } from '../helpers/hex.ts';
import { ARP, ICMP4, TCP6, send, udp4, until } from './fixtures/packets.ts';

const Inbound = suite('workers/inbound');
const SEED = 0x9e3779b9;

interface Seen {
  bytes: string;
  link: number;
  fdIndex: number;
  networkProtocol: number;
  transportProtocol: number;
  l3: number;
  l4: number;
  hash: number;
  reason: number;
  sourcePort: number;
}

/** An Ethernet frame carrying `payload` to `destination` (hex MAC), type `type` (hex). */
function ether(destination: string, type: string, payload: Uint8Array): Uint8Array {
  return new Uint8Array([...hex(destination), ...hex('0200 0000 0002'), ...hex(type), ...payload]);
}

const OUR_MAC = '02:00:00:00:00:01';
const BAD_IHL = udp4({ flow: 99 });
BAD_IHL[0] = 0x44; // IHL 4 (16 bytes): below the minimum of 5

const cases = [
  { name: 'IPv4 UDP on link 0, fd 0', link: 0, fdIndex: 0, bytes: udp4({ sourcePort: 4000, flow: 1 }), protocol: 0x0800, transport: 17, l3: 0, l4: 20, sourcePort: 4000 },
  { name: 'IPv6 TCP on link 0, fd 1', link: 0, fdIndex: 1, bytes: TCP6, protocol: 0x86dd, transport: 6, l3: 0, l4: 40, sourcePort: 50000 },
  { name: 'IPv4 ICMP (no ports) on link 0, fd 1', link: 0, fdIndex: 1, bytes: ICMP4, protocol: 0x0800, transport: 1, l3: 0, l4: 20, sourcePort: -1 },
  { name: 'Ethernet + IPv4 UDP to our MAC on link 1', link: 1, fdIndex: 0, bytes: ether('0200 0000 0001', '0800', udp4({ sourcePort: 4001, flow: 2 })), protocol: 0x0800, transport: 17, l3: 14, l4: 34, sourcePort: 4001 },
  { name: 'Ethernet broadcast ARP on link 1', link: 1, fdIndex: 0, bytes: ARP, protocol: 0x0806, transport: 0, l3: 14, l4: -1, sourcePort: -1 },
];

Inbound('packets from 3 socketpairs on 2 links reach the stack handler with their parse results', async () => {
  const pairs = [openSocketPair(), openSocketPair(), openSocketPair()];
  const seen: Seen[] = [];
  const engine = new Engine({
    links: [{ fds: [pairs[0]![1], pairs[1]![1]] }, { fds: [pairs[2]![1]], ethernetHeader: true, linkAddress: OUR_MAC }],
    frameCount: 64,
    txFrameCount: 64,
    ringCapacity: 64,
    hashSeed: SEED,
    stack: {
      deliverNetworkPacket(p: InboundPacket) {
        const view = p.view;
        seen.push({
          bytes: toHex(p.bytes.subarray(p.offset, p.offset + p.length)),
          link: p.link,
          fdIndex: p.fdIndex,
          networkProtocol: p.networkProtocol,
          transportProtocol: p.transportProtocol,
          l3: p.networkOffset - p.offset,
          l4: p.transportOffset < 0 ? -1 : p.transportOffset - p.offset,
          hash: p.hash >>> 0,
          reason: p.reason,
          sourcePort: p.transportOffset >= 0 && p.transportProtocol !== 1 ? view.getUint16(p.transportOffset) : -1,
        });
      },
    },
  });
  await engine.start();
  try {
    const peer = (link: number, fdIndex: number): number => (link === 0 ? pairs[fdIndex]![0] : pairs[2]![0]);
    send(peer(0, 0), BAD_IHL); // dropped by the parser: Ipv4BadIhl
    send(peer(1, 0), ether('0200 0000 0099', '0800', udp4({ flow: 98 }))); // another host's MAC: dropped by the endpoint
    for (const c of cases) send(peer(c.link, c.fdIndex), c.bytes);
    await until(() => seen.length >= cases.length, 5000, 'every packet at the stack');
    await until(() => engine.workerStats()[0]!.rxDrops === 1, 5000, 'the malformed packet counted');
    assert.is(seen.length, cases.length, 'nothing else was delivered');
    for (const c of cases) {
      const got = seen.find((s) => s.bytes === toHex(c.bytes));
      assert.ok(got, `${c.name}: delivered`);
      const view = new DataView(c.bytes.buffer, c.bytes.byteOffset, c.bytes.byteLength);
      const hash =
        c.protocol === 0x0800 ? flowHashIpv4(view, c.l3, c.transport, c.l4, SEED)
        : c.protocol === 0x86dd ? flowHashIpv6(view, c.l3, c.transport, c.l4, SEED)
        : 0;
      assert.equal(
        { link: got!.link, fdIndex: got!.fdIndex, networkProtocol: got!.networkProtocol, transportProtocol: got!.transportProtocol, l3: got!.l3, l4: got!.l4, hash: got!.hash, reason: got!.reason, sourcePort: got!.sourcePort },
        { link: c.link, fdIndex: c.fdIndex, networkProtocol: c.protocol, transportProtocol: c.transport, l3: c.l3, l4: c.l4, hash, reason: HandoffReason.NoForwarding, sourcePort: c.sourcePort },
        c.name,
      );
    }
    const stats = engine.workerStats();
    assert.equal(stats[0]!.rxDropsByReason, { Ipv4BadIhl: 1 });
    assert.is(stats[0]!.toCoordinator + stats[1]!.toCoordinator + stats[2]!.toCoordinator, cases.length);
    assert.is(engine.coordinatorStats().stackPackets, cases.length);
  } finally {
    await engine.stop();
    closeFds(pairs.flat());
  }
  for (const p of engine.framePools()) assert.is(p.available, p.frameCount, `pool of slot ${p.slot} is full`);
});

Inbound.run();
