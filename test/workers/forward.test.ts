/**
 * Run-to-completion forwarding between socketpair "links": packets written into link A's fds are
 * forwarded by A's workers straight out of link B's `fds[hash % n]` (and out of an Ethernet link C, with
 * the link header written in front): every packet arrives, TTL decremented with a valid header checksum,
 * each flow on one egress fd and in order. A packet for the engine goes to the stack with its reason; TTL 1
 * is dropped and answered with an ICMP time exceeded sent back on its ingress link; no route is dropped and
 * counted. Bounded in packets and time; no timing assertions.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { closeFds, openSocketPair, syscalls as sys } from '../../src/fdbased/index.ts';
import { checksum, flowHashIpv4 } from '../../src/tcpip/index.ts';
import { Engine, HandoffReason, type InboundPacket } from '../../src/workers/index.ts';
import { toHex } from '../helpers/hex.ts';
import { drain, ipv4ChecksumOk, send, udp4, until } from './fixtures/packets.ts';

const Forward = suite('workers/forward');
const SEED = 0x2545f491;
const FLOWS = 16;
const PACKETS = 2048;
const ROUND = 64; // packets written before reading: far below the socket buffers

const ip = (a: number, b: number, c: number, d: number): number => ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
const B_HOST = ip(198, 18, 1, 1);
const C_HOST = ip(198, 18, 2, 9);

Forward('link A → link B and Ethernet link C: every packet, TTL - 1, per-flow order, fds[hash % n]', async () => {
  const a = [openSocketPair(), openSocketPair()];
  const b = [openSocketPair(), openSocketPair()];
  const c = [openSocketPair()];
  for (const p of [...a, ...b, ...c]) sys.setNonBlocking(p[0]);
  const toStack: { reason: number; bytes: string }[] = [];
  const engine = new Engine({
    links: [
      { fds: a.map((p) => p[1]) },
      { fds: b.map((p) => p[1]) },
      { fds: c.map((p) => p[1]), ethernetHeader: true, linkAddress: '02:00:00:00:00:0c' },
    ],
    frameCount: 256,
    txFrameCount: 64,
    ringCapacity: 256,
    hashSeed: SEED,
    forwarding: {
      addresses: [{ link: 0, address: '198.18.0.1' }],
      routes: [
        { destination: '198.18.1.0/24', link: 1 },
        { destination: '198.18.2.0/24', link: 2 },
      ],
      neighbors: [{ address: '198.18.2.9', linkAddress: '02:00:00:00:00:99', link: 2 }],
    },
    stack: {
      deliverNetworkPacket(p: InboundPacket) {
        toStack.push({ reason: p.reason, bytes: toHex(p.bytes.subarray(p.offset, p.offset + p.length)) });
      },
    },
  });
  await engine.start();
  const outB: Uint8Array[][] = [[], []];
  const outC: Uint8Array[] = [];
  const errors: Uint8Array[] = []; // what came back out of link A: the ICMP time exceeded
  try {
    let sent = 0;
    while (sent < PACKETS) {
      for (let k = 0; k < ROUND; k++, sent++) {
        const flow = sent % FLOWS;
        // Odd flows go to link C, even ones to link B; a flow always enters on the same A fd.
        const destination = flow % 2 === 0 ? B_HOST : C_HOST;
        send(a[(flow >> 1) % 2]![0], udp4({ destination, sourcePort: 10_000 + flow, flow, seq: sent }));
      }
      const want = sent;
      await until(() => {
        drain(b[0]![0], outB[0]!);
        drain(b[1]![0], outB[1]!);
        drain(c[0]![0], outC);
        return outB[0]!.length + outB[1]!.length + outC.length === want;
      }, 5000, `${want} packets forwarded`);
    }
    // Not forwarded: to us (the stack), TTL 1 (time exceeded back out of link A), no route (counted).
    send(a[0]![0], udp4({ destination: ip(198, 18, 0, 1), flow: 100 }));
    send(a[0]![0], udp4({ source: ip(198, 18, 0, 2), destination: B_HOST, ttl: 1, flow: 101 }));
    send(a[1]![0], udp4({ destination: ip(198, 19, 0, 1), flow: 102 }));
    await until(() => {
      drain(a[0]![0], errors);
      drain(a[1]![0], errors);
      return toStack.length === 1 && errors.length === 1;
    }, 5000, 'one packet at the stack, one ICMP error back');
    await until(() => engine.workerStats().reduce((n, s) => n + s.forwardDrops, 0) === 2, 5000, 'two drops counted');
    await until(() => engine.workerStats()[0]!.forwarded + engine.workerStats()[1]!.forwarded === PACKETS, 5000, 'forwarded counted');
  } finally {
    await engine.stop();
    closeFds([...a, ...b, ...c].flat());
  }

  const lastSeq = new Map<number, number>();
  const egress = new Map<number, number>();
  let total = 0;
  const check = (bytes: Uint8Array, out: number, at: number) => {
    const v = new DataView(bytes.buffer, bytes.byteOffset);
    assert.is(bytes[at + 8], 63, 'TTL 64 → 63');
    assert.ok(ipv4ChecksumOk(bytes, at), 'header checksum patched');
    const flow = v.getUint32(at + 28), seq = v.getUint32(at + 32);
    assert.ok(seq > (lastSeq.get(flow) ?? -1), `flow ${flow}: ${seq} after ${lastSeq.get(flow)}: in order`);
    lastSeq.set(flow, seq);
    if (egress.has(flow)) assert.is(egress.get(flow), out, `flow ${flow} stays on one egress fd`);
    egress.set(flow, out);
    total++;
    return v;
  };
  outB.forEach((packets, fdIndex) => {
    for (const bytes of packets) {
      const v = check(bytes, fdIndex, 0);
      // The hash the worker used is the engine's 5-tuple hash of the packet as received (TTL is not in it).
      assert.is(flowHashIpv4(v, 0, 17, 20, SEED) % 2, fdIndex, 'egress fd = fds[hash % 2]');
      assert.is(v.getUint32(16), B_HOST);
    }
  });
  for (const frame of outC) {
    assert.is(toHex(frame.subarray(0, 14)), '020000000099' + '02000000000c' + '0800', 'Ethernet header: neighbor, link C, IPv4');
    check(frame, 10, 14);
  }
  assert.is(total, PACKETS, 'every packet arrived');
  assert.is(lastSeq.size, FLOWS);
  assert.equal(toStack.map((s) => s.reason), [HandoffReason.Local]);
  const error = errors[0]!;
  assert.is(error.length, 20 + 8 + 36, 'IPv4 + ICMP header + the whole 36-byte packet');
  assert.is(toHex(error.subarray(12, 20)), 'c6120001' + 'c6120002', 'from link A\'s 198.18.0.1 to the sender');
  assert.ok(ipv4ChecksumOk(error), 'IP header checksum');
  assert.is(toHex(error.subarray(20, 22)), '0b00', 'ICMP time exceeded, TTL exceeded in transit');
  assert.is(checksum(error, 20, error.length - 20), 0xffff, 'ICMP checksum');
  assert.is(error[28 + 8], 1, 'the quote shows TTL 1, unchanged');
  const reasons = engine.workerStats().map((s) => s.forwardReasons);
  assert.equal(Object.assign({}, ...reasons), { TtlExceeded: 1, NoRoute: 1 }, 'drops by reason');
  for (const p of engine.framePools()) assert.is(p.available, p.frameCount, `pool of slot ${p.slot} is full`);
});

Forward.run();
