/**
 * The stack's `Stack` plugged into the engine through `StackAdapter`, over Ethernet socketpair links: an
 * ARP request for our address and an ICMP echo request are answered through the tx path; a packet whose
 * next hop the workers do not know takes the slow path through the coordinator's stack, which knows it,
 * and leaves on the egress link.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { closeFds, openSocketPair, syscalls as sys } from '../../src/fdbased/index.ts';
import { Stack } from '../../src/tcpip/index.ts';
import { Engine, StackAdapter } from '../../src/workers/index.ts';
import { hex, toHex } from '../helpers/hex.ts';
import { ARP, ICMP4, drain, fixIpv4Checksum, send, udp4, until } from './fixtures/packets.ts';

const Adapter = suite('workers/stack-adapter');
const ip = (a: number, b: number, c: number, d: number): number => ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
/** An Ethernet frame from 02:00:00:00:00:02 to link A's MAC carrying IPv4 `payload`. */
const toA = (payload: Uint8Array): Uint8Array => new Uint8Array([...hex('0200 0000 000a  0200 0000 0002  0800'), ...payload]);

Adapter('ARP and echo answered by the coordinator\'s Stack; an unknown next hop forwarded on the slow path', async () => {
  const a = openSocketPair(), b = openSocketPair();
  sys.setNonBlocking(a[0]);
  sys.setNonBlocking(b[0]);
  const stack = new Stack({ forwarding: true });
  stack.addNic({ name: 'a', linkAddress: '02:00:00:00:00:0a' });
  stack.addNic({ name: 'b', linkAddress: '02:00:00:00:00:0b' });
  stack.addAddress(1, '198.18.0.1/24');
  stack.addAddress(2, '198.18.1.1/24');
  stack.addStaticNeighbor(2, '198.18.1.77', '02:00:00:00:00:77'); // as if learned by ARP on this thread
  const adapter = new StackAdapter(stack);
  const engine = new Engine({
    links: [
      { fds: [a[1]], ethernetHeader: true, linkAddress: '02:00:00:00:00:0a' },
      { fds: [b[1]], ethernetHeader: true, linkAddress: '02:00:00:00:00:0b' },
    ],
    frameCount: 64,
    txFrameCount: 32,
    ringCapacity: 32,
    batchSize: 16,
    // The workers forward to static neighbors only; 198.18.1.77 is not one.
    forwarding: { addresses: [{ link: 0, address: '198.18.0.1/24' }, { link: 1, address: '198.18.1.1/24' }] },
    stack: adapter,
  });
  await engine.start();
  const backOnA: Uint8Array[] = [];
  const outOnB: Uint8Array[] = [];
  try {
    send(a[0], ARP);
    const echo = ICMP4.slice();
    fixIpv4Checksum(echo);
    send(a[0], toA(echo));
    send(a[0], toA(udp4({ source: ip(198, 18, 0, 2), destination: ip(198, 18, 1, 77), flow: 5 })));
    await until(() => (drain(a[0], backOnA), drain(b[0], outOnB), backOnA.length === 2 && outOnB.length === 1), 5000, 'two answers and one forwarded');
  } finally {
    await engine.stop();
    closeFds([...a, ...b]);
  }
  const arpReply = backOnA.find((f) => f[12] === 0x08 && f[13] === 0x06)!;
  assert.ok(arpReply, 'an ARP reply');
  assert.is(toHex(arpReply.subarray(0, 14)), '020000000002' + '02000000000a' + '0806');
  assert.is(toHex(arpReply.subarray(14 + 6, 14 + 8)), '0002', 'op: reply');
  assert.is(toHex(arpReply.subarray(14 + 8, 14 + 18)), '02000000000a' + 'c6120001', 'sender: our MAC and 198.18.0.1');
  const echoReply = backOnA.find((f) => f[12] === 0x08 && f[13] === 0x00)!;
  assert.ok(echoReply, 'an echo reply');
  assert.is(echoReply[14 + 20], 0, 'ICMP echo reply');
  assert.is(new DataView(echoReply.buffer).getUint32(14 + 16), ip(198, 18, 0, 2), 'to the requester');
  const forwarded = outOnB[0]!;
  assert.is(toHex(forwarded.subarray(0, 14)), '020000000077' + '02000000000b' + '0800', 'rewritten by the coordinator\'s stack');
  assert.is(forwarded[14 + 8], 63);
  assert.is(adapter.sendFailures, 0);
  assert.is(engine.workerStats()[0]!.forwardReasons['Unresolved'], 1, 'the worker handed it up');
  for (const p of engine.framePools()) assert.is(p.available, p.frameCount, `pool of slot ${p.slot} is full`);
});

Adapter.run();
