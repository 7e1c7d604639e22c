import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { once } from 'node:events';
import { Buffer } from 'node:buffer';
import { Flags, PortManager } from '../../../src/ports/index.ts';
import { TransportDemuxer } from '../../../src/tcpip/stack/transport-demuxer.ts';
import { TransportPacket, type TransportEndpoint } from '../../../src/tcpip/stack/transport-packet.ts';
import {
  REUSE_FLAG_LOAD_BALANCED, REUSE_FLAG_MOST_RECENT, REUSE_FLAG_TUPLE_ONLY, type PortReserver,
} from '../../../src/tcpip/stack/transport-ports.ts';
import { createSocket, UdpEndpoint, type UdpRemoteInfo } from '../../../src/tcpip/stack/udp-endpoint.ts';
import { UdpDatagram, UdpSendResult, UdpStats, type UdpStackContext } from '../../../src/tcpip/stack/udp-context.ts';
import { fillUdpChecksum, verifyUdpChecksum } from '../../../src/tcpip/stack/udp-checksum.ts';
import { parseIpv4, parseIpv6 } from '../../../src/tcpip/address.ts';
import { IPV4_PROTOCOL_NUMBER as IPV4, IPV6_PROTOCOL_NUMBER as IPV6, UDP_PROTOCOL_NUMBER as UDP } from '../../../src/tcpip/protocols.ts';
import { NetshardError } from '../../../src/errors.ts';
import { hex } from '../../helpers/hex.ts';

const Udp = suite('tcpip/stack/udp-endpoint');

const HOST4 = '198.18.0.1';
const HOST6 = '2001:2::1';

/**
 * The smallest stack that closes the loop: `send` wraps each datagram in an IPv4/IPv6 header and feeds
 * it straight back into the demuxer, as a stack receiving its own traffic on NIC 1 would. The port
 * manager is the real one from src/ports.
 */
class LoopStack implements UdpStackContext {
  readonly demuxer = new TransportDemuxer({ seed: 7 });
  readonly pm = PortManager.create({ capacity: 256 });
  readonly ports: PortReserver = this.pm;
  readonly stats = new UdpStats();
  /** What the next sends return; Ok = loop back. */
  sendResult: UdpSendResult = UdpSendResult.Ok;
  routeResult: UdpSendResult = UdpSendResult.Ok;
  /** Flip a payload bit in flight (checksum failures). */
  corrupt = false;
  /** Mark delivered packets as checksum-validated by the NIC. */
  offload = false;
  readonly frames: Uint8Array[] = [];
  readonly #pkt = new TransportPacket();

  selectSourceAddress(dg: UdpDatagram): UdpSendResult {
    if (this.routeResult !== UdpSendResult.Ok) return this.routeResult;
    if (dg.networkProtocol === IPV4) new DataView(dg.sourceAddress.buffer).setUint32(0, parseIpv4(HOST4));
    else parseIpv6(HOST6, dg.sourceAddress, 0);
    return UdpSendResult.Ok;
  }

  send(dg: UdpDatagram): UdpSendResult {
    if (this.sendResult !== UdpSendResult.Ok) return this.sendResult;
    const v4 = dg.networkProtocol === IPV4;
    const ipLength = v4 ? 20 : 40;
    const frame = new Uint8Array(ipLength + dg.length);
    const view = new DataView(frame.buffer);
    if (v4) {
      view.setUint8(0, 0x45);
      view.setUint16(2, frame.length);
      view.setUint8(8, 64);
      view.setUint8(9, UDP);
      frame.set(dg.sourceAddress.subarray(0, 4), 12);
      frame.set(dg.destinationAddress.subarray(0, 4), 16);
    } else {
      view.setUint8(0, 0x60);
      view.setUint16(4, dg.length);
      view.setUint8(6, UDP);
      view.setUint8(7, 64);
      frame.set(dg.sourceAddress, 8);
      frame.set(dg.destinationAddress, 24);
    }
    frame.set(dg.bytes.subarray(dg.offset, dg.offset + dg.length), ipLength);
    if (this.corrupt) frame[frame.length - 1]! ^= 0x01;
    this.frames.push(frame);
    this.deliver(frame, v4 ? IPV4 : IPV6);
    return UdpSendResult.Ok;
  }

  /** Delivers a whole IP packet on NIC 1, counting an unknown port as a stack does. */
  deliver(frame: Uint8Array, net: typeof IPV4 | typeof IPV6): number {
    const at = net === IPV4 ? 20 : 40;
    this.#pkt.set(frame, new DataView(frame.buffer, frame.byteOffset, frame.byteLength), net, 0, UDP, at, frame.length, 1, false, this.offload);
    const n = this.demuxer.deliverPacket(this.#pkt);
    if (n === 0) this.stats.unknownPortErrors++;
    return n;
  }
}

/** Collects 'message' events. */
function inbox(socket: UdpEndpoint): { msg: string; rinfo: UdpRemoteInfo }[] {
  const got: { msg: string; rinfo: UdpRemoteInfo }[] = [];
  socket.on('message', (msg: Buffer, rinfo: UdpRemoteInfo) => got.push({ msg: msg.toString(), rinfo }));
  return got;
}
/** Waits until queued 'message' events (emitted from setImmediate) and next-tick events have run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(() => setImmediate(resolve)));

async function bound(stack: LoopStack, options: Parameters<typeof createSocket>[0], port?: number, address?: string): Promise<UdpEndpoint> {
  const socket = createSocket(options, stack);
  socket.bind(port, address);
  await once(socket, 'listening');
  return socket;
}

function expectThrow(fn: () => unknown, code: string, message: string | RegExp): void {
  try {
    fn();
  } catch (err) {
    assert.instance(err, NetshardError);
    assert.is((err as NetshardError).code, code, (err as Error).message);
    if (typeof message === 'string') assert.is((err as Error).message, message);
    else assert.match((err as Error).message, message);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

// ----- the tcpip copy of the port contract matches src/ports

Udp('reuse flags equal src/ports Flags, and a PortManager is a PortReserver', () => {
  assert.is(REUSE_FLAG_MOST_RECENT, Flags.MostRecent);
  assert.is(REUSE_FLAG_LOAD_BALANCED, Flags.LoadBalanced);
  assert.is(REUSE_FLAG_TUPLE_ONLY, Flags.TupleOnly);
  const reserver: PortReserver = PortManager.create({ capacity: 16 }); // type-checks structurally
  const res = { networks: [IPV4] as const, transport: UDP, address: HOST4, port: 0, flags: 0 };
  const port = reserver.reservePort(res);
  assert.ok(port >= 16000 && port <= 65535);
  reserver.releasePort({ ...res, port });
});

// ----- bind, close, reservations

Udp('bind: explicit port, listening event and callback, address()', async () => {
  const stack = new LoopStack();
  const socket = createSocket('udp4', stack);
  let called = false;
  socket.bind(5300, HOST4, () => { called = true; });
  await once(socket, 'listening');
  assert.ok(called);
  assert.equal(socket.address(), { address: HOST4, family: 'IPv4', port: 5300 });
  const six = await bound(stack, { type: 'udp6' }, 5310);
  assert.equal(six.address(), { address: '::', family: 'IPv6', port: 5310 });
  const clash = createSocket('udp6', stack);
  clash.bind(5300); // dual-stack wildcard vs the IPv4 address bound above, no reuse flags
  assert.is((await once(clash, 'error'))[0].message, 'bind EADDRINUSE :::5300');
  const opts = createSocket('udp4', stack);
  opts.bind({ port: 5301, address: HOST4, exclusive: true });
  await once(opts, 'listening');
  assert.is(opts.address().port, 5301);
});

Udp('bind: a taken port emits EADDRINUSE with Node\'s message; close releases it and a second bind succeeds', async () => {
  const stack = new LoopStack();
  const first = await bound(stack, 'udp4', 5300);
  const second = createSocket('udp4', stack);
  second.bind(5300);
  const [err] = await once(second, 'error');
  assert.instance(err, NetshardError);
  assert.is(err.code, 'EADDRINUSE');
  assert.is(err.message, 'bind EADDRINUSE 0.0.0.0:5300');
  assert.is(err.syscall, 'bind');
  assert.is(err.errno, 98);
  assert.throws(() => second.address(), /getsockname EBADF/, 'a failed bind leaves the socket unbound');
  first.close();
  await once(first, 'close');
  assert.is(stack.pm.entryCount(), 0, 'reservation released');
  second.bind(5300);
  await once(second, 'listening');
  assert.is(second.address().port, 5300);
});

Udp('bind: ephemeral port from the PortManager; close releases it', async () => {
  const stack = new LoopStack();
  const [first, last] = stack.pm.portRange();
  const socket = await bound(stack, 'udp4');
  const { port } = socket.address();
  assert.ok(port >= first && port <= last, `port ${port} in ${first}..${last}`);
  assert.is(stack.pm.entryCount(), 1);
  assert.is(stack.demuxer.idCount(IPV4, UDP), 1);
  socket.close();
  assert.is(stack.pm.entryCount(), 0);
  assert.is(stack.demuxer.idCount(IPV4, UDP), 0);
  const again = await bound(stack, 'udp4', port);
  assert.is(again.address().port, port);
});

Udp('bind failing in the demuxer after the reservation succeeded releases the port (owner rule)', async () => {
  const stack = new LoopStack();
  const a = await bound(stack, { type: 'udp4', reusePort: true, owner: 1000 }, 5353);
  const b = await bound(stack, { type: 'udp4', reusePort: true, owner: 1000 }, 5353);
  const rows = stack.pm.snapshot();
  const intruder = createSocket({ type: 'udp4', reusePort: true, owner: 1001 }, stack);
  intruder.bind(5353);
  const [err] = await once(intruder, 'error');
  assert.is(err.code, 'EADDRINUSE');
  assert.match(err.cause.message, /another owner/);
  assert.equal(stack.pm.snapshot(), rows, 'the port manager holds exactly what it held before');
  a.close();
  b.close();
  assert.is(stack.pm.entryCount(), 0);
  const plain = await bound(stack, 'udp4', 5353); // no reuse flag: only possible if nothing is left
  assert.is(plain.address().port, 5353);
});

Udp('bind failing in the demuxer (an endpoint the port manager does not know) releases the port', async () => {
  const stack = new LoopStack();
  const squatter: TransportEndpoint = { handlePacket: () => {} };
  stack.demuxer.register({ networks: [IPV4], transport: UDP, id: { localPort: 6000, localAddress: '', remotePort: 0, remoteAddress: '' } }, squatter);
  const socket = createSocket('udp4', stack);
  socket.bind(6000);
  const [err] = await once(socket, 'error');
  assert.is(err.code, 'EADDRINUSE');
  assert.is(stack.pm.entryCount(), 0);
});

Udp('bind: bad addresses are reported as errors', async () => {
  const stack = new LoopStack();
  for (const [type, address, message] of [
    ['udp4', '::1', 'bind EINVAL ::1:0'],
    ['udp6', HOST4, `bind EINVAL ${HOST4}:0`],
    ['udp4', 'host.example', 'getaddrinfo ENOTFOUND host.example'],
  ] as const) {
    const socket = createSocket(type, stack);
    socket.bind(0, address);
    const [err] = await once(socket, 'error');
    assert.is(err.message, message);
  }
  const v6only = createSocket({ type: 'udp6', ipv6Only: true }, stack);
  v6only.bind(0, `::ffff:${HOST4}`);
  assert.is((await once(v6only, 'error'))[0].code, 'EINVAL');
  assert.is(stack.pm.entryCount(), 0);
});

// ----- connect, send, message

Udp('round trip over IPv4: connect, send, message, reply; a connected socket hears only its peer', async () => {
  const stack = new LoopStack();
  const server = await bound(stack, 'udp4', 5300, HOST4);
  const serverIn = inbox(server);
  const client = createSocket('udp4', stack);
  const clientIn = inbox(client);
  let connected = false;
  client.connect(5300, HOST4, () => { connected = true; });
  await once(client, 'connect');
  assert.ok(connected);
  assert.equal(client.remoteAddress(), { address: HOST4, family: 'IPv4', port: 5300 });
  const clientPort = client.address().port;
  let sent = -1;
  client.send('ping', (err, bytes) => { assert.is(err, null); sent = bytes ?? -1; });
  await settle();
  assert.is(sent, 4);
  assert.equal(serverIn, [{ msg: 'ping', rinfo: { address: HOST4, family: 'IPv4', port: clientPort, size: 4 } }]);
  server.send(Buffer.from('pong'), clientPort, HOST4);
  await settle();
  assert.equal(clientIn, [{ msg: 'pong', rinfo: { address: HOST4, family: 'IPv4', port: 5300, size: 4 } }]);
  // A third socket is not the peer: the client's 4-tuple registration does not match, nobody else holds the port.
  const stranger = await bound(stack, 'udp4', 5400);
  stranger.send('hi', clientPort, HOST4);
  await settle();
  assert.is(clientIn.length, 1);
  assert.is(stack.stats.unknownPortErrors, 1);
  client.disconnect();
  stranger.send('hi again', clientPort, HOST4);
  await settle();
  assert.is(clientIn.length, 2, 'after disconnect the bound registration hears everyone');
  assert.is(clientIn[1]!.msg, 'hi again');
  assert.is(server.stats.packetsReceived, 1);
  assert.is(stack.stats.packetsSent, 4);
  assert.is(stack.stats.packetsReceived, 3);
  // The UDP header and checksum on the wire.
  const frame = stack.frames[0]!;
  const view = new DataView(frame.buffer);
  assert.equal([view.getUint16(20), view.getUint16(22), view.getUint16(24)], [clientPort, 5300, 12]);
  assert.ok(verifyUdpChecksum(view, IPV4, 0, 20, 12));
});

Udp('round trip over IPv6, and a dual-stack udp6 socket hears IPv4 as ::ffff: addresses', async () => {
  const stack = new LoopStack();
  const server = await bound(stack, 'udp6', 5301);
  const serverIn = inbox(server);
  const c6 = await bound(stack, 'udp6', 0, HOST6);
  const c4 = await bound(stack, 'udp4', 0);
  const c4In = inbox(c4);
  c6.send(['two ', Buffer.from('pieces')], 5301, HOST6);
  c4.send(new Uint8Array([0x76, 0x34]), 5301, HOST4);
  await settle();
  assert.equal(serverIn, [
    { msg: 'two pieces', rinfo: { address: HOST6, family: 'IPv6', port: c6.address().port, size: 10 } },
    { msg: 'v4', rinfo: { address: `::ffff:${HOST4}`, family: 'IPv6', port: c4.address().port, size: 2 } },
  ]);
  server.send('back', c4.address().port, `::ffff:${HOST4}`);
  await settle();
  assert.equal(c4In.map((m) => m.msg), ['back']);
  const only6 = await bound(stack, { type: 'udp6', ipv6Only: true }, 5302);
  const only6In = inbox(only6);
  c4.send('x', 5302, HOST4);
  await settle();
  assert.is(only6In.length, 0, 'an IPv6-only socket does not hear IPv4');
});

Udp('reuseAddr: the newest socket gets unicast; reusePort: flows spread over the group', async () => {
  const stack = new LoopStack();
  const older = await bound(stack, { type: 'udp4', reuseAddr: true }, 7000);
  const newer = await bound(stack, { type: 'udp4', reuseAddr: true }, 7000);
  const olderIn = inbox(older);
  const newerIn = inbox(newer);
  const lbA = await bound(stack, { type: 'udp4', reusePort: true }, 7001);
  const lbB = await bound(stack, { type: 'udp4', reusePort: true }, 7001);
  const aIn = inbox(lbA);
  const bIn = inbox(lbB);
  for (let i = 0; i < 40; i++) {
    const client = await bound(stack, 'udp4');
    client.send('m', 7000, HOST4);
    client.send('m', 7001, HOST4);
    client.close();
  }
  await settle();
  assert.is(olderIn.length, 0);
  assert.is(newerIn.length, 40);
  assert.is(aIn.length + bIn.length, 40);
  assert.ok(aIn.length > 0 && bIn.length > 0, `both members of the group receive (${aIn.length}/${bIn.length})`);
});

Udp('connect failing in the demuxer leaves the socket bound; the callback gets the error', async () => {
  const stack = new LoopStack();
  const a = await bound(stack, { type: 'udp4', reusePort: true }, 7100);
  const b = await bound(stack, { type: 'udp4', reusePort: true }, 7100);
  a.connect(9, HOST4);
  await once(a, 'connect');
  const [err] = await new Promise<[NetshardError | undefined]>((resolve) => b.connect(9, HOST4, (e) => resolve([e])));
  assert.is(err?.code, 'EADDRINUSE', 'a connected 4-tuple is never load-balanced: LB-only sockets cannot share it');
  assert.is(err?.message, `connect EADDRINUSE ${HOST4}:9`);
  assert.throws(() => b.remoteAddress(), /Not connected/);
  const bIn = inbox(b);
  const client = await bound(stack, 'udp4');
  client.send('still bound', 7100, HOST4);
  await settle();
  assert.equal(bIn.map((m) => m.msg), ['still bound']);
});

// ----- send failures

Udp('send failures go to the callback, else to error: ENOBUFS, ENETUNREACH, EMSGSIZE, EINVAL', async () => {
  const stack = new LoopStack();
  const socket = await bound(stack, 'udp4');
  const result = (...args: unknown[]): Promise<NetshardError | null> =>
    new Promise((resolve) => (socket.send as (...a: unknown[]) => void)(...args, (err: NetshardError | null) => resolve(err)));
  stack.sendResult = UdpSendResult.NoBufferSpace;
  assert.is((await result('x', 53, HOST4))?.message, `send ENOBUFS ${HOST4}:53`);
  stack.sendResult = UdpSendResult.Ok;
  stack.routeResult = UdpSendResult.NoRoute;
  assert.is((await result('x', 53, HOST4))?.code, 'ENETUNREACH');
  stack.routeResult = UdpSendResult.Ok;
  assert.is((await result(Buffer.alloc(65508), 53, HOST4))?.code, 'EMSGSIZE');
  assert.is(await result(Buffer.alloc(65507), 53, HOST4), null, 'the largest IPv4 payload');
  assert.is((await result('x', 53, '::1'))?.code, 'EINVAL');
  assert.is(socket.stats.packetSendErrors, 4);
  assert.is(stack.stats.packetSendErrors, 4);
  stack.sendResult = UdpSendResult.NoBufferSpace;
  socket.send('x', 53, HOST4);
  const [err] = await once(socket, 'error');
  assert.is(err.code, 'ENOBUFS');
});

// ----- receive checks

// UDP checksums from an independent implementation (Python, RFC 768 / RFC 8200 pseudo-headers).
const UDP_V4 = hex(`
  4500 0021 0000 0000 4011 0000   # IPv4, total length 33, UDP
  c612 0002 c612 0001             # 198.18.0.2 → 198.18.0.1
  9c40 0035 000d 9364             # 40000 → 53, length 13, checksum 0x9364
  6865 6c6c 6f                    # "hello"
`);
const UDP_V6 = hex(`
  6000 0000 000d 1140                     # IPv6, payload length 13, UDP, hop limit 64
  2001 0002 0000 0000 0000 0000 0000 0002 # 2001:2::2
  2001 0002 0000 0000 0000 0000 0000 0001 # 2001:2::1
  9c40 0035 000d df83                     # 40000 → 53, length 13, checksum 0xdf83
  6865 6c6c 6f                            # "hello"
`);

for (const c of [
  { name: 'IPv4', frame: UDP_V4, net: IPV4, ip: 20, want: 0x9364, src: '198.18.0.2', dst: '198.18.0.1' },
  { name: 'IPv6', frame: UDP_V6, net: IPV6, ip: 40, want: 0xdf83, src: '2001:2::2', dst: '2001:2::1' },
] as const) {
  Udp(`checksum ${c.name}: verify and fill agree with the reference value`, () => {
    const frame = c.frame.slice();
    const view = new DataView(frame.buffer);
    assert.ok(verifyUdpChecksum(view, c.net, 0, c.ip, 13));
    const src = new Uint8Array(16);
    const dst = new Uint8Array(16);
    if (c.net === IPV4) {
      new DataView(src.buffer).setUint32(0, parseIpv4(c.src));
      new DataView(dst.buffer).setUint32(0, parseIpv4(c.dst));
    } else {
      parseIpv6(c.src, src, 0);
      parseIpv6(c.dst, dst, 0);
    }
    view.setUint16(c.ip + 6, 0x1234);
    fillUdpChecksum(view, c.ip, 13, c.net, src, dst);
    assert.is(view.getUint16(c.ip + 6), c.want);
    frame[frame.length - 1]! ^= 0x20;
    assert.not.ok(verifyUdpChecksum(view, c.net, 0, c.ip, 13));
    view.setUint16(c.ip + 6, 0);
    assert.is(verifyUdpChecksum(view, c.net, 0, c.ip, 13), c.net === IPV4, 'zero: "none" over IPv4, invalid over IPv6');
  });

  Udp(`receive ${c.name}: bad checksum and bad length are dropped and counted; offload skips the check`, async () => {
    const stack = new LoopStack();
    const server = await bound(stack, c.net === IPV4 ? 'udp4' : 'udp6', 53);
    const got = inbox(server);
    assert.is(stack.deliver(c.frame.slice(), c.net), 1);
    const bad = c.frame.slice();
    bad[bad.length - 1]! ^= 0x20;
    stack.deliver(bad, c.net);
    const long = c.frame.slice();
    new DataView(long.buffer).setUint16(c.ip + 4, 14); // UDP length past the IP payload
    stack.deliver(long, c.net);
    await settle();
    assert.equal(got.map((m) => m.msg), ['hello']);
    assert.equal([server.stats.checksumErrors, server.stats.malformedPacketsReceived], [1, 1]);
    assert.equal([stack.stats.checksumErrors, stack.stats.malformedPacketsReceived], [1, 1]);
    stack.offload = true;
    stack.deliver(bad, c.net);
    await settle();
    assert.equal(got.map((m) => m.msg), ['hello', 'hellO'], 'checksum-validated by the NIC: delivered as is');
  });
}

Udp('receive: corrupted in flight is counted, never thrown; a full receive queue drops and counts', async () => {
  const stack = new LoopStack();
  const server = await bound(stack, { type: 'udp4', recvBufferSize: 10 }, 5300);
  const got = inbox(server);
  const client = await bound(stack, 'udp4');
  stack.corrupt = true;
  client.send('garbled', 5300, HOST4);
  stack.corrupt = false;
  client.send('0123456789', 5300, HOST4); // fills the 10-byte queue
  client.send('dropped', 5300, HOST4);
  await settle();
  client.send('after drain', 5300, HOST4);
  await settle();
  assert.equal(got.map((m) => m.msg), ['0123456789', 'after drain']);
  assert.equal([server.stats.checksumErrors, server.stats.receiveBufferErrors, server.stats.packetsReceived], [1, 1, 2]);
  assert.equal([stack.stats.checksumErrors, stack.stats.receiveBufferErrors], [1, 1]);
});

Udp('close drops queued datagrams, emits close, and later operations throw ERR_SOCKET_DGRAM_NOT_RUNNING', async () => {
  const stack = new LoopStack();
  const server = await bound(stack, 'udp4', 5300);
  const got = inbox(server);
  const client = await bound(stack, 'udp4');
  client.send('late', 5300, HOST4);
  let closed = false;
  server.close(() => { closed = true; });
  await settle();
  assert.ok(closed);
  assert.is(got.length, 0);
  for (const fn of [() => server.send('x', 1, HOST4), () => server.address(), () => server.close(), () => server.bind(1), () => server.connect(1, HOST4), () => server.disconnect()]) {
    expectThrow(fn, 'ERR_SOCKET_DGRAM_NOT_RUNNING', 'Not running');
  }
});

// ----- argument errors: Node's codes and messages (checked against node:dgram v20)

Udp('argument errors throw with node:dgram\'s codes and messages', async () => {
  const stack = new LoopStack();
  const s = createSocket('udp4', stack);
  for (const [fn, code, message] of [
    [() => s.send(5 as never, 1000, HOST4), 'ERR_INVALID_ARG_TYPE', 'The "buffer" argument must be of type string or an instance of Buffer, TypedArray, or DataView. Received type number (5)'],
    [() => s.send({} as never, 1000, HOST4), 'ERR_INVALID_ARG_TYPE', 'The "buffer" argument must be of type string or an instance of Buffer, TypedArray, or DataView. Received an instance of Object'],
    [() => s.send([5] as never, 1000, HOST4), 'ERR_INVALID_ARG_TYPE', 'The "buffer list arguments" argument must be of type string or an instance of Buffer, TypedArray, or DataView. Received an instance of Array'],
    [() => s.send('x', 70000, HOST4), 'ERR_SOCKET_BAD_PORT', 'Port should be > 0 and < 65536. Received type number (70000).'],
    [() => s.send('x'), 'ERR_SOCKET_BAD_PORT', 'Port should be > 0 and < 65536. Received undefined.'],
    [() => s.send('x', 0, HOST4), 'ERR_SOCKET_BAD_PORT', 'Port should be > 0 and < 65536. Received type number (0).'],
    [() => s.send('x', 10, 5 as never), 'ERR_INVALID_ARG_TYPE', 'The "address" argument must be of type string. Received type number (5)'],
    [() => s.connect(0, HOST4), 'ERR_SOCKET_BAD_PORT', 'Port should be > 0 and < 65536. Received type number (0).'],
    [() => s.connect('abc' as never, HOST4), 'ERR_SOCKET_BAD_PORT', "Port should be > 0 and < 65536. Received type string ('abc')."],
    [() => s.disconnect(), 'ERR_SOCKET_DGRAM_NOT_CONNECTED', 'Not connected'],
    [() => s.remoteAddress(), 'ERR_SOCKET_DGRAM_NOT_CONNECTED', 'Not connected'],
    [() => s.address(), 'EBADF', 'getsockname EBADF'],
    [() => s.bind(-1), 'ERR_SOCKET_BAD_PORT', 'Port should be >= 0 and < 65536. Received type number (-1).'],
    [() => createSocket('udp5' as never, stack), 'ERR_SOCKET_BAD_TYPE', 'Bad socket type specified. Valid types are: udp4, udp6'],
    [() => createSocket({ type: 'udp4', recvBufferSize: -1 }, stack), 'ERR_OUT_OF_RANGE', /options\.recvBufferSize/],
    [() => createSocket({ type: 'udp4', lookup: 1 } as never, stack), 'ERR_INVALID_ARG_VALUE', /options\.lookup is not a known option/],
    [() => createSocket('udp4', {} as never), 'ERR_INVALID_ARG_TYPE', /UdpStackContext/],
  ] as const) {
    expectThrow(fn, code, message);
  }
  s.bind(0);
  expectThrow(() => s.bind(0), 'ERR_SOCKET_ALREADY_BOUND', 'Socket is already bound');
  s.connect(53, HOST4);
  expectThrow(() => s.connect(53, HOST4), 'ERR_SOCKET_DGRAM_IS_CONNECTED', 'Already connected');
  expectThrow(() => s.send('x', 53, HOST4), 'ERR_SOCKET_DGRAM_IS_CONNECTED', 'Already connected');
  await settle();
});

Udp.run();
