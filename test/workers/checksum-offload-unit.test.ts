/**
 * Checksum offload without privileges:
 * - `completeTransportChecksum` turns a partial UDP/TCP checksum (the field holding the pseudo-header sum,
 *   as a CHECKSUM_PARTIAL skb carries it) into the whole one; UDP's computed 0 goes out as 0xffff; other
 *   protocols are left alone;
 * - socketpair links report no checksum status: descriptors carry no checksum flag, the counters stay 0;
 * - the coordinator (`StackAdapter`): a packet delivered with `DESC_FLAG_CHECKSUM_OK` reaches an engine
 *   UDP socket although its checksum is partial, the same packet without the flag is dropped as a checksum
 *   error; a partial packet the stack forwards leaves with a whole checksum (`DESC_FLAG_CHECKSUM_PARTIAL`).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { closeFds, openSocketPair, syscalls as sys } from '../../src/fdbased/index.ts';
import { DESC_FLAG_CHECKSUM_OK } from '../../src/ring/index.ts';
import { IPV4_PROTOCOL_NUMBER, Stack, createSocket, verifyUdpChecksum, type UdpEndpoint } from '../../src/tcpip/index.ts';
import { Engine, EngineUdpContext, InboundPacket, StackAdapter } from '../../src/workers/index.ts';
import { DESC_FLAG_CHECKSUM_PARTIAL } from '../../src/ring/index.ts';
import { completeTransportChecksum } from '../../src/tcpip/index.ts';
import { hex, toHex } from '../helpers/hex.ts';
import { drain, fixIpv4Checksum, send, udp4, until } from './fixtures/packets.ts';

const Unit = suite('workers/checksum-offload-unit');

// 198.18.0.2 → 198.18.1.9; each transport checksum field holds the pseudo-header sum (a partial checksum).
const UDP_PARTIAL = hex(`
  4500 0024  0000 4000  4011 0000   # IPv4: total length 36, DF, TTL 64, UDP, header checksum (unused here)
  c612 0002  c612 0109              # 198.18.0.2 → 198.18.1.9
  9c40 238e  0010 8d51              # UDP 40000 → 9102, length 16, checksum field = pseudo-header sum 0x8d51
  6e65 7473  6861 7264              # "netshard"
`);
const TCP_PARTIAL = hex(`
  4500 002a  0000 4000  4006 0000   # IPv4: total length 42, DF, TTL 64, TCP
  c612 0002  c612 0109              # 198.18.0.2 → 198.18.1.9
  9c40 0050  0000 0001  0000 0000   # TCP 40000 → 80, seq 1, ack 0
  5018 ffff  8d4c 0000              # data offset 5, ACK|PSH, window 65535, checksum field = pseudo sum 0x8d4c, urgent 0
  6869                              # "hi"
`);
const UDP_ZERO = hex(`
  4500 001e  0000 4000  4011 0000   # IPv4: total length 30, UDP
  c612 0002  c612 0109              # 198.18.0.2 → 198.18.1.9
  9c40 238e  000a 8d4b              # UDP 40000 → 9102, length 10, pseudo sum 0x8d4b
  b2db                              # payload chosen so the whole checksum computes to 0
`);
const ICMP_ECHO = hex(`
  4500 001c  0000 4000  4001 0000   # IPv4: total length 28, ICMP
  c612 0002  c612 0109              # 198.18.0.2 → 198.18.1.9
  0800 1234  0001 0000              # echo request, checksum field 0x1234 (left alone)
`);

for (const c of [
  { name: 'UDP', bytes: UDP_PARTIAL, protocol: 17, field: 26, want: 0xf530, wrote: true },
  { name: 'TCP', bytes: TCP_PARTIAL, protocol: 6, field: 36, want: 0x1da0, wrote: true },
  { name: 'UDP computing to 0 is sent as 0xffff', bytes: UDP_ZERO, protocol: 17, field: 26, want: 0xffff, wrote: true },
  { name: 'ICMP: not a pseudo-header checksum, untouched', bytes: ICMP_ECHO, protocol: 1, field: 22, want: 0x1234, wrote: false },
]) {
  Unit(`completeTransportChecksum: ${c.name}`, () => {
    const bytes = c.bytes.slice();
    const view = new DataView(bytes.buffer);
    const wrote = completeTransportChecksum(view, c.protocol, 20, bytes.length);
    assert.is(wrote, c.wrote);
    const got = view.getUint16(c.field);
    assert.is(got, c.want, `field 0x${got.toString(16)}, want 0x${c.want.toString(16)}`);
    if (c.protocol === 17) assert.ok(verifyUdpChecksum(view, IPV4_PROTOCOL_NUMBER, 0, 20, bytes.length - 20), 'verifies in software now');
    assert.is(toHex(bytes.subarray(0, c.field)), toHex(c.bytes.subarray(0, c.field)), 'nothing else changed');
  });
}

Unit('completeTransportChecksum: a UDP segment cut before its checksum field is left alone', () => {
  const bytes = UDP_PARTIAL.slice();
  assert.is(completeTransportChecksum(new DataView(bytes.buffer), 17, 20, 26), false);
  assert.is(toHex(bytes), toHex(UDP_PARTIAL));
});

Unit('socketpair links: no checksum status, so no checksum flag on descriptors and no counts', async () => {
  const a = openSocketPair();
  sys.setNonBlocking(a[0]);
  const flags: number[] = [];
  const engine = new Engine({
    links: [{ fds: [a[1]] }],
    frameCount: 64, txFrameCount: 16, ringCapacity: 32, batchSize: 16,
    stack: { deliverNetworkPacket: (p: InboundPacket) => void flags.push(p.flags) },
  });
  await engine.start();
  try {
    for (let seq = 0; seq < 5; seq++) send(a[0], udp4({ seq }));
    await until(() => flags.length === 5, 5000, '5 packets at the stack');
  } finally {
    await engine.stop();
    closeFds(a);
  }
  assert.equal(flags.map((f) => f & (DESC_FLAG_CHECKSUM_OK | DESC_FLAG_CHECKSUM_PARTIAL)), [0, 0, 0, 0, 0]);
  const s = engine.workerStats()[0]!;
  assert.equal([s.rxChecksumNotReady, s.rxChecksumValid, s.checksumsCompleted], [0, 0, 0]);
});

/** An Ethernet frame from 02:00:00:00:00:02 to link A (02:00:00:00:00:0a) around IPv4 `packet` (its header checksum fixed). */
function frameToA(packet: Uint8Array): Uint8Array {
  const frame = new Uint8Array([...hex('0200 0000 000a  0200 0000 0002  0800'), ...packet]);
  fixIpv4Checksum(frame, 14);
  return frame;
}

/** Points a reusable InboundPacket at `frame`, copied into shared memory, as a worker's descriptor would. */
function inbound(frame: Uint8Array, flags: number): InboundPacket {
  const bytes = new Uint8Array(new SharedArrayBuffer(2048));
  bytes.set(frame);
  const p = new InboundPacket();
  p.link = 0; p.fdIndex = 0; p.slot = 0; p.frame = 0; p.poolId = 0;
  p.bytes = bytes; p.view = new DataView(bytes.buffer);
  p.offset = 0; p.length = frame.length;
  p.networkOffset = 14; p.transportOffset = 34; p.networkProtocol = 0x0800; p.transportProtocol = 17;
  p.flags = flags; p.hash = 7;
  return p;
}

Unit('StackAdapter: CHECKSUM_OK reaches a socket despite a partial checksum; PARTIAL is completed when the stack forwards', async () => {
  const a = openSocketPair(), b = openSocketPair();
  sys.setNonBlocking(a[0]);
  sys.setNonBlocking(b[0]);
  const stack = new Stack({ forwarding: true });
  stack.addNic({ name: 'a', linkAddress: '02:00:00:00:00:0a' });
  stack.addNic({ name: 'b', linkAddress: '02:00:00:00:00:0b' });
  stack.addAddress(1, '198.18.0.1/24');
  stack.addAddress(2, '198.18.1.1/24');
  stack.addStaticNeighbor(2, '198.18.1.9', '02:00:00:00:00:99');
  const adapter = new StackAdapter(stack);
  const engine = new Engine({
    links: [
      { fds: [a[1]], ethernetHeader: true, linkAddress: '02:00:00:00:00:0a' },
      { fds: [b[1]], ethernetHeader: true, linkAddress: '02:00:00:00:00:0b' },
    ],
    frameCount: 64, txFrameCount: 32, ringCapacity: 32, batchSize: 16,
    stack: adapter,
  });
  const udp = new EngineUdpContext(adapter, engine.ports);
  await engine.start();
  let socket: UdpEndpoint | null = null;
  const messages: string[] = [];
  const out: Uint8Array[] = [];
  try {
    // To our own address 198.18.0.1:9102: a socket there; the checksum field holds the pseudo-header sum.
    const local = UDP_PARTIAL.slice();
    local.set([0xc6, 0x12, 0x00, 0x01], 16); // destination 198.18.0.1
    new DataView(local.buffer).setUint16(26, 0x8c49); // the pseudo-header sum for that destination
    socket = createSocket({ type: 'udp4' }, udp);
    const s = socket;
    s.on('message', (msg: Buffer) => messages.push(msg.toString()));
    await new Promise<void>((resolve, reject) => { s.once('listening', resolve); s.once('error', reject); s.bind(9102); });
    adapter.deliverNetworkPacket(inbound(frameToA(local), 0));
    adapter.deliverNetworkPacket(inbound(frameToA(local), DESC_FLAG_CHECKSUM_OK | DESC_FLAG_CHECKSUM_PARTIAL));
    await until(() => messages.length === 1, 5000, 'the offloaded datagram at the socket');
    assert.equal(messages, ['netshard'], 'only the flagged copy was taken');
    assert.is(udp.stats.checksumErrors, 1, 'the unflagged copy failed the software check');

    // To 198.18.1.9 (forwarded by the coordinator's stack onto link B): completed only when flagged PARTIAL.
    adapter.deliverNetworkPacket(inbound(frameToA(UDP_PARTIAL), DESC_FLAG_CHECKSUM_OK | DESC_FLAG_CHECKSUM_PARTIAL));
    adapter.deliverNetworkPacket(inbound(frameToA(UDP_PARTIAL), 0));
    await until(() => (drain(b[0], out), out.length === 2), 5000, 'two forwarded');
  } finally {
    try { socket?.close(); } catch { /* closed */ }
    await engine.stop();
    closeFds([...a, ...b]);
  }
  const [completed, untouched] = out as [Uint8Array, Uint8Array];
  assert.is(toHex(completed.subarray(0, 14)), '020000000099' + '02000000000b' + '0800', 'forwarded by the stack');
  const v = new DataView(completed.buffer);
  assert.is(v.getUint16(14 + 26), 0xf530, 'the whole UDP checksum');
  assert.ok(verifyUdpChecksum(v, IPV4_PROTOCOL_NUMBER, 14, 34, 16));
  assert.is(new DataView(untouched.buffer).getUint16(14 + 26), 0x8d51, 'without the flag the field is sent as it came');
  assert.is(adapter.checksumsCompleted, 1);
  for (const p of engine.framePools()) assert.is(p.available, p.frameCount, `pool of slot ${p.slot} is full`);
});

Unit.run();
