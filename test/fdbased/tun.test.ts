/**
 * openTun and the endpoint over TUN/TAP queues, inside test namespaces (TUN/TAP fds are not sockets: the
 * endpoint reads them with readv and writes them with writev).
 * - TUN, 2 queues: UDP flows routed to the device's subnet arrive through `Endpoint.receive`, each flow on
 *   one queue, byte for byte; ICMP echo requests (IPv4, IPv6) written with `writePacket` are answered; UDP
 *   datagrams written with `writePackets` on both queues reach a socket in the namespace.
 * - TUN with IFF_VNET_HDR: the endpoint learns it from the fd (TUNGETIFF), drops the 10-byte header on
 *   receive and adds one on write; hardware GSO is refused on a queue without it.
 * - TAP, 2 queues, `ethernetHeader: true`: the kernel's ARP request for an address behind the TAP arrives as
 *   an Ethernet frame, the endpoint's ARP reply is learned by the kernel, which then sends the datagram it
 *   held; UDP flows spread over both queues; Ethernet frames written on both queues reach a kernel socket.
 * One file for TUN and TAP (they share the device code and the packet builders); argument checks run
 * without root, the rest needs root and is skipped without it.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { addNetns, deleteNetns, inNetns, ip, netnsUnavailableReason, uniqueName } from '../helpers/netns.ts';
import { hex, toHex } from '../helpers/hex.ts';
import { NetshardError } from '../../src/errors.ts';
import { FramePool } from '../../src/ring/index.ts';
import { createEndpoint, type Endpoint } from '../../src/fdbased/endpoint.ts';
import { TxCounter, type TxBatch } from '../../src/fdbased/write.ts';
import { closeTun, openTun, type TunDevice } from '../../src/fdbased/open-tun.ts';
import { IFF_MULTI_QUEUE, IFF_NO_PI, IFF_TAP, IFF_TUN, IFF_VNET_HDR, tunFlags } from '../../src/fdbased/syscalls.ts';
import { expectError } from './fixtures/expect-error.ts';

const Tun = suite('fdbased/open-tun');

for (const c of [
  { name: 'empty name', call: () => openTun(''), code: 'ERR_INVALID_ARG_VALUE' },
  { name: '16-byte name', call: () => openTun('abcdefghijklmnop'), code: 'ERR_INVALID_ARG_VALUE' },
  { name: "name with '/'", call: () => openTun('a/b'), code: 'ERR_INVALID_ARG_VALUE' },
  { name: 'queues 0', call: () => openTun('t0', { queues: 0 }), code: 'ERR_OUT_OF_RANGE' },
  { name: 'queues 257', call: () => openTun('t0', { queues: 257 }), code: 'ERR_OUT_OF_RANGE' },
  { name: 'tap not boolean', call: () => openTun('t0', { tap: 'yes' } as never), code: 'ERR_INVALID_ARG_TYPE' },
  { name: 'vnetHeader not boolean', call: () => openTun('t0', { vnetHeader: 1 } as never), code: 'ERR_INVALID_ARG_TYPE' },
  { name: 'unknown option', call: () => openTun('t0', { mtu: 1500 } as never), code: 'ERR_INVALID_ARG_VALUE' },
]) {
  Tun(`rejects ${c.name}`, () => expectError(c.call, c.code));
}

// ---- packets, built by hand (the test must not lean on the code under test elsewhere) ----

/** Internet checksum (RFC 1071) of `bytes`, plus `initial` (a pseudo-header sum). */
function checksum(bytes: Uint8Array, initial = 0): number {
  let sum = initial;
  for (let i = 0; i + 1 < bytes.length; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!;
  if (bytes.length % 2 === 1) sum += bytes[bytes.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function setChecksum(packet: Uint8Array, at: number, value: number): void {
  packet[at] = value >>> 8;
  packet[at + 1] = value & 0xff;
}

/** The 4 bytes of dotted IPv4 address `a`. */
function ipv4(a: string): number[] {
  return a.split('.').map(Number);
}

/** ICMP echo request `src` → `dst`, id 0x1234, seq 1, payload "netshard". */
function ipv4Icmp(src = '198.18.1.2', dst = '198.18.1.1'): Uint8Array {
  const payload = new TextEncoder().encode('netshard');
  const p = new Uint8Array(28 + payload.length);
  p.set(hex(`
    45 00 0000 0000 4000 40 01 0000   # IPv4, length (filled), DF, TTL 64, ICMP, checksum (filled)
    00000000 00000000                 # addresses (filled)
    08 00 0000 1234 0001              # echo request, checksum (filled), id 0x1234, seq 1
  `));
  p.set(ipv4(src), 12);
  p.set(ipv4(dst), 16);
  p.set(payload, 28);
  p[3] = p.length; // total length
  setChecksum(p, 10, checksum(p.subarray(0, 20)));
  setChecksum(p, 22, checksum(p.subarray(20)));
  return p;
}

/** ICMPv6 echo request 2001:2::2 → 2001:2::1, id 0x1234, seq 1, payload "netshard". */
const ICMP6_ECHO = hex(`
  60000000 0010 3a 40               # IPv6, payload 16, next header ICMPv6, hop limit 64
  20010002000000000000000000000002  # 2001:2::2
  20010002000000000000000000000001  # 2001:2::1
  80 00 0000 1234 0001              # echo request, checksum (filled), id 0x1234, seq 1
`);

function ipv6Icmp(): Uint8Array {
  const payload = new TextEncoder().encode('netshard');
  const p = new Uint8Array(ICMP6_ECHO.length + payload.length);
  p.set(ICMP6_ECHO);
  p.set(payload, ICMP6_ECHO.length);
  const upper = p.subarray(40);
  // Pseudo-header: source, destination, upper-layer length, next header 58.
  let sum = 0;
  for (let i = 8; i < 40; i += 2) sum += (p[i]! << 8) | p[i + 1]!;
  sum += upper.length + 58;
  setChecksum(p, 42, checksum(upper, sum));
  return p;
}

/** UDP `src`:4000 → `dst`:`port`, payload `text`, UDP checksum 0 (none; allowed over IPv4). */
function ipv4Udp(port: number, text: string, src = '198.18.1.2', dst = '198.18.1.1'): Uint8Array {
  const body = new TextEncoder().encode(text);
  const p = new Uint8Array(28 + body.length);
  p.set(hex(`45 00 0000 0000 4000 40 11 0000   00000000 00000000   0fa0 0000 0000 0000`));
  p.set(ipv4(src), 12);
  p.set(ipv4(dst), 16);
  p.set(body, 28);
  p[2] = p.length >>> 8;
  p[3] = p.length & 0xff;
  p[22] = port >>> 8;
  p[23] = port & 0xff;
  p[24] = (8 + body.length) >>> 8;
  p[25] = (8 + body.length) & 0xff;
  setChecksum(p, 10, checksum(p.subarray(0, 20)));
  return p;
}

/** The 6 bytes of "aa:bb:…". */
function mac(text: string): Uint8Array {
  return Uint8Array.from(text.split(':'), (b) => parseInt(b, 16));
}

// ---- the endpoint side: every queue attached, packets copied out as they arrive ----

/** An endpoint over a device's queues, each attached with frames from one pool, and a scratch memory to write from. */
class Queues {
  readonly ep: Endpoint;
  readonly pool = FramePool.create({ frameSize: 2048, frameCount: 64 });
  readonly memory = new Uint8Array(new SharedArrayBuffer(4096));
  readonly memoryId: number;
  readonly batch: TxBatch;
  private readonly slots = new Int32Array(8);
  private readonly lengths = new Int32Array(8);

  constructor(device: TunDevice, options: { ethernetHeader?: boolean; linkAddress?: string } = {}) {
    this.ep = createEndpoint({ fds: device.fds, ...options });
    for (let q = 0; q < device.fds.length; q++) this.ep.attach(q, this.pool);
    this.memoryId = this.ep.registerMemory(this.memory);
    this.batch = this.ep.createTxBatch(8);
  }

  /**
   * Receives from every queue until `want` packets matched `pick` (others are ignored: the kernel sends
   * its own, e.g. IPv6 router solicitations) or 3 s passed. Returns [queue, bytes] per match: from the
   * network header, or from the Ethernet header with `ethernetHeader`.
   */
  read(want: number, pick: (p: Uint8Array) => boolean): Array<[number, Uint8Array]> {
    const out: Array<[number, Uint8Array]> = [];
    const link = this.ep.maxHeaderLength;
    const deadline = Date.now() + 3000;
    while (out.length < want && Date.now() < deadline) {
      let any = false;
      for (let q = 0; q < this.ep.fds.length; q++) {
        const k = this.pool.allocBatch(this.slots, 8);
        const n = this.ep.receive(q, this.slots, this.lengths, k);
        assert.ok(n >= 0, `queue ${q}: receive returned ${n}`);
        for (let i = 0; i < n; i++) {
          const at = this.pool.offsetOf(this.slots[i]!) + this.ep.networkOffset(q);
          const packet = this.pool.bytes.slice(at - link, at + this.lengths[i]!);
          if (pick(packet)) out.push([q, packet]);
        }
        this.pool.freeBatch(this.slots, k);
        any ||= n > 0;
      }
      if (!any) this.ep.wait(0, 10);
    }
    return out;
  }

  /**
   * Adds `packet` (network header on) to the batch, sent on queue `hash % queues`; with an Ethernet
   * header, to `destination` as `type`. Returns its index.
   */
  add(packet: Uint8Array, hash: number, at: number, destination?: Uint8Array, type = 0x0800): number {
    this.memory.set(packet, at);
    const i = this.batch.add(hash, this.memoryId, at, packet.length);
    if (destination !== undefined) this.batch.setLink(i, destination, 0, type);
    return i;
  }

  close(): void {
    this.ep.close();
    assert.is(this.pool.available, this.pool.frameCount, 'every frame back in the pool');
  }
}

/**
 * Starts a UDP listener on `address`:`port` in `ns` that prints "ready", then one line per datagram
 * ("<source address> <source port> <text>") until it has `count` (or 5 s passed: "timeout").
 */
async function listenUdp(ns: string, address: string, port: number, count: number): Promise<{ done: Promise<string> }> {
  const listener = spawn(
    'ip',
    [
      'netns', 'exec', ns, 'python3', '-c',
      `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('${address}', ${port}))
s.settimeout(5)
print('ready', flush=True)
try:
    for _ in range(${count}):
        data, addr = s.recvfrom(2048)
        print(addr[0], addr[1], data.decode(), flush=True)
except socket.timeout:
    print('timeout', flush=True)
`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'], timeout: 10_000 },
  );
  let out = '';
  const done = new Promise<string>((resolve) => listener.on('close', () => resolve(out)));
  await new Promise<void>((resolve) =>
    listener.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) resolve();
    }),
  );
  return { done }; // wrapped: an async function returning a bare promise would wait for it
}

const reason = netnsUnavailableReason();
if (process.getuid?.() !== 0) {
  Tun('without CAP_NET_ADMIN: EPERM naming the capability', () => {
    try {
      const d = openTun(`np${process.pid}`);
      closeTun(d);
      assert.unreachable('created a TUN device without privilege');
    } catch (err) {
      assert.instance(err, NetshardError);
      // EPERM from TUNSETIFF; ENOENT/EACCES if this machine has no /dev/net/tun or closes it to us.
      assert.ok(['EPERM', 'ENOENT', 'EACCES'].includes((err as NetshardError).code), (err as Error).message);
    }
  });
}
if (reason !== '') {
  console.log(`fdbased/open-tun: skipping the TUN/TAP tests: ${reason}`);
} else {
  // ---- TUN: one namespace, a 2-queue device (198.18.1.1/24, 2001:2::1/64) and one with IFF_VNET_HDR (198.18.4.1/24) ----
  const ns = uniqueName('ns-vnt-tun');
  const name = `vtun${process.pid}`;
  const vnetName = `vtv${process.pid}`;
  let device: TunDevice | undefined;
  let vnetDevice: TunDevice | undefined;
  let queues: Queues | undefined;
  let vnetQueues: Queues | undefined;

  Tun.before(() => {
    addNetns(ns);
    device = openTun(name, { queues: 2, netns: ns });
    ip('-n', ns, 'link', 'set', name, 'up');
    ip('-n', ns, 'addr', 'add', '198.18.1.1/24', 'dev', name);
    ip('-n', ns, 'addr', 'add', '2001:2::1/64', 'dev', name, 'nodad');
    queues = new Queues(device);
    vnetDevice = openTun(vnetName, { queues: 2, vnetHeader: true, netns: ns });
    ip('-n', ns, 'link', 'set', vnetName, 'up');
    ip('-n', ns, 'addr', 'add', '198.18.4.1/24', 'dev', vnetName);
    vnetQueues = new Queues(vnetDevice);
  });
  Tun.after(() => {
    try {
      queues?.close();
      vnetQueues?.close();
    } finally {
      if (device !== undefined) closeTun(device);
      if (vnetDevice !== undefined) closeTun(vnetDevice);
      deleteNetns(ns);
    }
  });

  Tun('the device is multi-queue TUN without PI, named as asked, one fd per queue; the endpoint reads it with readv, no virtio-net header', () => {
    assert.is(device!.name, name);
    assert.is(device!.fds.length, 2);
    assert.ok(device!.interfaceIndex > 0);
    for (const fd of device!.fds) {
      const flags = tunFlags(fd);
      assert.is(flags & (IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE | IFF_VNET_HDR), IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE, `flags 0x${flags.toString(16)}`);
    }
    const shown = inNetns(ns, 'ip', '-d', 'link', 'show', name);
    assert.match(shown, /tun type tun/);
    assert.match(shown, /multi_queue/);
    assert.equal(queues!.ep.isSocket, [false, false]);
    assert.equal(queues!.ep.dispatchModes, ['readv', 'readv']);
    assert.equal(queues!.ep.vnetHeaders, [false, false]);
  });

  Tun('kernel → tun: 32 UDP flows to the subnet arrive on the queues, each flow on one queue, byte for byte', () => {
    const flows = 32;
    const perFlow = 4;
    const out = inNetns(
      ns,
      'python3',
      '-c',
      `
import socket, json
socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(${flows})]
for i in range(${perFlow}):
    for f, s in enumerate(socks):
        s.sendto(bytes([f, i]) * 10, ('198.18.1.2', 7777))
print(json.dumps([s.getsockname()[1] for s in socks]))
`,
    );
    const ports = JSON.parse(out) as number[];
    const isOurs = (p: Uint8Array): boolean => p.length === 48 && p[0] === 0x45 && p[9] === 17 && p[22] === 0x1e && p[23] === 0x61; // dst port 7777
    const got = queues!.read(flows * perFlow, isOurs);
    assert.is(got.length, flows * perFlow, 'every datagram arrived on some queue');
    const queueOf = new Map<number, number>();
    const perQueue = [0, 0];
    for (const [q, p] of got) {
      const flow = p[28]!;
      const seq = p[29]!;
      const view = new DataView(p.buffer);
      assert.is(view.getUint32(12), 0xc6120101, 'from 198.18.1.1');
      assert.is(view.getUint32(16), 0xc6120102, 'to 198.18.1.2');
      assert.is(view.getUint16(20), ports[flow], `flow ${flow} source port`);
      for (let i = 28; i < 48; i += 2) assert.ok(p[i] === flow && p[i + 1] === seq, `flow ${flow} datagram ${seq} payload`);
      const first = queueOf.get(flow);
      if (first === undefined) queueOf.set(flow, q);
      else assert.is(q, first, `flow ${flow} moved from queue ${first} to ${q}`);
      perQueue[q]!++;
    }
    assert.ok(perQueue[0]! > 0 && perQueue[1]! > 0, `flows spread over both queues: ${perQueue.join(' / ')}`);
  });

  for (const c of [
    { name: 'ICMPv4 echo request', packet: () => ipv4Icmp(), isReply: (p: Uint8Array) => p[0] === 0x45 && p[9] === 1 && p[20] === 0 },
    { name: 'ICMPv6 echo request', packet: ipv6Icmp, isReply: (p: Uint8Array) => p[0]! >> 4 === 6 && p[6] === 58 && p[40] === 129 },
  ]) {
    Tun(`tun → kernel: an ${c.name} written with writePacket on queue 1 is answered by the kernel`, () => {
      const q = queues!;
      const request = c.packet();
      q.batch.clear();
      const i = q.add(request, 1, 0);
      const writes = q.ep.writer.counters[TxCounter.txWrites]!;
      assert.is(q.ep.writePacket(q.batch, i), request.length);
      assert.is(q.ep.writer.counters[TxCounter.txWrites], writes + 1);
      const [reply] = q.read(1, c.isReply);
      assert.ok(reply !== undefined, 'an echo reply came back');
      const p = reply[1];
      const v4 = p[0]! >> 4 === 4;
      const icmp = v4 ? 20 : 40;
      // The reply swaps the addresses and keeps id, seq and payload.
      if (v4) assert.equal(Array.from(p.subarray(12, 20)), [...request.subarray(16, 20), ...request.subarray(12, 16)]);
      else assert.equal(Array.from(p.subarray(8, 40)), [...request.subarray(24, 40), ...request.subarray(8, 24)]);
      assert.equal(Array.from(p.subarray(icmp + 4)), Array.from(request.subarray(icmp + 4)), 'id, seq, payload');
    });
  }

  Tun('tun → kernel: UDP datagrams written with writePackets on both queues reach a socket in the namespace', async () => {
    const q = queues!;
    const port = 7000 + (process.pid % 1000);
    const { done } = await listenUdp(ns, '198.18.1.1', port, 2);
    q.batch.clear();
    q.add(ipv4Udp(port, 'hello from queue 0'), 0, 0);
    q.add(ipv4Udp(port, 'hello from queue 1'), 1, 1024);
    const before = Array.from(q.ep.writer.counters);
    assert.is(q.ep.writePackets(q.batch), 2);
    const c = q.ep.writer.counters;
    assert.is(c[TxCounter.txPackets]! - before[TxCounter.txPackets]!, 2);
    assert.is(c[TxCounter.txWrites]! - before[TxCounter.txWrites]!, 2, 'a TUN queue is not a socket: one writev per packet');
    assert.is(c[TxCounter.txBatches]! - before[TxCounter.txBatches]!, 0, 'no sendmmsg');
    const out = await done;
    assert.match(out, /198\.18\.1\.2 4000 hello from queue 0/);
    assert.match(out, /198\.18\.1\.2 4000 hello from queue 1/);
  });

  Tun('the endpoint checks a TUN queue against its options: no Ethernet header, no hardware GSO without IFF_VNET_HDR', () => {
    const fd = device!.fds[0]!;
    for (const c of [
      { options: { ethernetHeader: true }, message: `options.fds[0] (fd ${fd}) is a TUN queue, which carries IP packets: leave options.ethernetHeader off` },
      {
        options: { gsoKind: 'hardware' as const },
        message: `options.gsoKind 'hardware' needs a virtio-net header on every fd; options.fds[0] (fd ${fd}, a TUN queue) has none: open the device with openTun(…, { vnetHeader: true }) (IFF_VNET_HDR), or use gsoKind 'software' or 'none'`,
      },
    ]) {
      try {
        createEndpoint({ fds: device!.fds, ...c.options });
        assert.unreachable('should throw');
      } catch (err) {
        assert.is((err as NetshardError).code, 'ERR_INVALID_ARG_VALUE');
        assert.is((err as Error).message, c.message);
      }
    }
  });

  Tun('IFF_VNET_HDR: the endpoint learns it from the fd (TUNGETIFF) and allows hardware GSO', () => {
    for (const fd of vnetDevice!.fds) assert.is(tunFlags(fd) & IFF_VNET_HDR, IFF_VNET_HDR);
    assert.equal(vnetQueues!.ep.vnetHeaders, [true, true]);
    assert.is(vnetQueues!.ep.gsoKind, 'none');
    const hardware = createEndpoint({ fds: vnetDevice!.fds, gsoKind: 'hardware' });
    assert.is(hardware.gsoKind, 'hardware');
    assert.equal(hardware.vnetHeaders, [true, true]);
    hardware.close();
  });

  Tun('IFF_VNET_HDR: kernel → tun arrives without the 10-byte header, byte for byte', () => {
    inNetns(ns, 'python3', '-c', `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('198.18.4.1', 4001))
for i in range(8):
    s.sendto(bytes([i]) * 40, ('198.18.4.2', 7778))
`);
    const got = vnetQueues!.read(8, (p) => p.length === 68 && p[9] === 17 && p[22] === 0x1e && p[23] === 0x62); // to port 7778
    assert.is(got.length, 8);
    const seqs = got.map(([, p]) => p[28]!).sort((a, b) => a - b);
    assert.equal(seqs, [0, 1, 2, 3, 4, 5, 6, 7]);
    for (const [, p] of got) {
      assert.equal(Array.from(p.subarray(0, 4)), [0x45, 0, 0, 68], 'the IPv4 header first, not a virtio-net header');
      assert.equal(Array.from(p.subarray(12, 24)), [198, 18, 4, 1, 198, 18, 4, 2, 0x0f, 0xa1, 0x1e, 0x62]);
      assert.ok(p.subarray(28).every((b) => b === p[28]), 'payload');
    }
  });

  Tun('IFF_VNET_HDR: tun → kernel, writePacket and writePackets put the header first: echo answered, datagrams delivered', async () => {
    const q = vnetQueues!;
    q.batch.clear();
    const request = ipv4Icmp('198.18.4.2', '198.18.4.1');
    const i = q.add(request, 1, 0);
    assert.is(q.ep.writePacket(q.batch, i), 10 + request.length, 'writev counts the header too');
    const [reply] = q.read(1, (p) => p[0] === 0x45 && p[9] === 1 && p[20] === 0);
    assert.ok(reply !== undefined, 'an echo reply came back');
    assert.equal(Array.from(reply[1].subarray(24)), Array.from(request.subarray(24)), 'id, seq, payload');

    const port = 8000 + (process.pid % 1000);
    const { done } = await listenUdp(ns, '198.18.4.1', port, 2);
    q.batch.clear();
    q.add(ipv4Udp(port, 'vnet queue 0', '198.18.4.2', '198.18.4.1'), 0, 0);
    q.add(ipv4Udp(port, 'vnet queue 1', '198.18.4.2', '198.18.4.1'), 1, 1024);
    assert.is(q.ep.writePackets(q.batch), 2);
    const out = await done;
    assert.match(out, /198\.18\.4\.2 4000 vnet queue 0/);
    assert.match(out, /198\.18\.4\.2 4000 vnet queue 1/);
  });

  Tun('opening the same name as TAP fails with EINVAL, leaving no fd behind', () => {
    const before = readdirSync('/proc/self/fd').length;
    expectError(() => openTun(name, { tap: true, queues: 2, netns: ns }), 'EINVAL');
    expectError(() => openTun(name, { queues: 1, netns: ns }), 'EINVAL'); // not multi-queue
    assert.is(readdirSync('/proc/self/fd').length, before, 'open fds');
  });

  Tun('a name pattern is expanded by the kernel; closing the fds removes the device', () => {
    const d = openTun('vntp%d', { queues: 3, netns: ns });
    try {
      assert.match(d.name, /^vntp\d+$/);
      assert.is(d.fds.length, 3);
      assert.match(inNetns(ns, 'ip', 'link', 'show', d.name), new RegExp(d.name));
    } finally {
      closeTun(d);
    }
    assert.is(d.fds.length, 0);
    assert.not.match(inNetns(ns, 'ip', 'link', 'show'), new RegExp(d.name));
  });
}

Tun.run();

// ---------------------------------------------------------------------------------------------------------
// TAP: Ethernet frames both ways

const Tap = suite('fdbased/open-tun (TAP)');

if (reason === '') {
  // Namespace ns-vnt-tap-<pid>: TAP vtap<pid>, 2 queues, kernel side 198.18.3.1/24 with MAC KERNEL_MAC; the
  // endpoint plays 198.18.3.2 with ENGINE_MAC. IPv6 off: no router solicitations or MLD to filter.
  const ns = uniqueName('ns-vnt-tap');
  const name = `vtap${process.pid}`;
  const KERNEL_MAC = '02:00:00:00:03:01';
  const ENGINE_MAC = '02:00:00:00:03:02';
  let device: TunDevice | undefined;
  let queues: Queues | undefined;

  Tap.before(() => {
    addNetns(ns);
    inNetns(ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
    device = openTun(name, { tap: true, queues: 2, netns: ns });
    ip('-n', ns, 'link', 'set', name, 'address', KERNEL_MAC);
    ip('-n', ns, 'link', 'set', name, 'up');
    ip('-n', ns, 'addr', 'add', '198.18.3.1/24', 'dev', name);
    queues = new Queues(device, { ethernetHeader: true, linkAddress: ENGINE_MAC });
  });
  Tap.after(() => {
    try {
      queues?.close();
    } finally {
      if (device !== undefined) closeTun(device);
      deleteNetns(ns);
    }
  });

  /** Ethernet header fields of frame `p`. */
  const eth = (p: Uint8Array) => ({ destination: toHex(p.subarray(0, 6)), source: toHex(p.subarray(6, 12)), type: (p[12]! << 8) | p[13]! });

  Tap('the device is a 2-queue TAP without PI; the endpoint takes Ethernet frames, and refuses it without ethernetHeader', () => {
    for (const fd of device!.fds) assert.is(tunFlags(fd) & (IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE), IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE);
    assert.match(inNetns(ns, 'ip', '-d', 'link', 'show', name), /tun type tap/);
    assert.is(queues!.ep.maxHeaderLength, 14);
    assert.equal(queues!.ep.vnetHeaders, [false, false]);
    try {
      createEndpoint({ fds: device!.fds });
      assert.unreachable('should throw');
    } catch (err) {
      assert.is((err as Error).message, `options.fds[0] (fd ${device!.fds[0]}) is a TAP queue, which carries Ethernet frames: set options.ethernetHeader`);
    }
  });

  Tap('kernel ⇄ tap: the kernel ARPs for 198.18.3.2, learns the endpoint\'s ARP reply, then sends the datagram it held to our MAC', () => {
    const q = queues!;
    // The kernel holds the datagram until 198.18.3.2 resolves (the neighbour's unresolved queue).
    inNetns(ns, 'python3', '-c', `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('198.18.3.1', 4002))
s.sendto(b'held until ARP resolves', ('198.18.3.2', 9999))
`);
    const isRequest = (p: Uint8Array): boolean => eth(p).type === 0x0806 && p[21] === 1 && toHex(p.subarray(38, 42)) === 'c6120302';
    const [request] = q.read(1, isRequest);
    assert.ok(request !== undefined, 'an ARP request for 198.18.3.2 arrived');
    const r = request[1];
    assert.equal(eth(r), { destination: 'ffffffffffff', source: toHex(mac(KERNEL_MAC)), type: 0x0806 });
    assert.is(toHex(r.subarray(14, 22)), '0001080006040001', 'Ethernet/IPv4, request');
    assert.is(toHex(r.subarray(22, 28)), toHex(mac(KERNEL_MAC)), 'sender hardware address');
    assert.is(toHex(r.subarray(28, 32)), 'c6120301', 'sender 198.18.3.1');

    const reply = hex(`
      0001 0800 06 04 0002        # Ethernet, IPv4, sizes 6 and 4, reply
      020000000302 c6120302       # sender: ENGINE_MAC, 198.18.3.2
      020000000301 c6120301       # target: KERNEL_MAC, 198.18.3.1
    `);
    q.batch.clear();
    const i = q.add(reply, 0, 0, mac(KERNEL_MAC), 0x0806);
    assert.is(q.ep.writePacket(q.batch, i), 14 + reply.length);
    assert.match(inNetns(ns, 'ip', 'neigh', 'show', '198.18.3.2', 'dev', name), new RegExp(`lladdr ${ENGINE_MAC}`), 'the kernel learned the reply');

    const isHeld = (p: Uint8Array): boolean => eth(p).type === 0x0800 && p[23] === 17 && p[36] === 0x27 && p[37] === 0x0f; // UDP to 9999
    const [held] = q.read(1, isHeld);
    assert.ok(held !== undefined, 'the held datagram came after the reply');
    const d = held[1];
    assert.equal(eth(d), { destination: toHex(mac(ENGINE_MAC)), source: toHex(mac(KERNEL_MAC)), type: 0x0800 });
    assert.is(new TextDecoder().decode(d.subarray(42)), 'held until ARP resolves');
  });

  Tap('kernel → tap: 32 UDP flows arrive as Ethernet frames to our MAC, spread over both queues, each flow on one queue', () => {
    ip('-n', ns, 'neigh', 'replace', '198.18.3.2', 'lladdr', ENGINE_MAC, 'nud', 'permanent', 'dev', name);
    const flows = 32;
    const perFlow = 4;
    const ports = JSON.parse(inNetns(ns, 'python3', '-c', `
import socket, json
socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(${flows})]
for i in range(${perFlow}):
    for f, s in enumerate(socks):
        s.sendto(bytes([f, i]) * 10, ('198.18.3.2', 7779))
print(json.dumps([s.getsockname()[1] for s in socks]))
`)) as number[];
    const isOurs = (p: Uint8Array): boolean => p.length === 62 && eth(p).type === 0x0800 && p[23] === 17 && p[36] === 0x1e && p[37] === 0x63; // to 7779
    const got = queues!.read(flows * perFlow, isOurs);
    assert.is(got.length, flows * perFlow, 'every datagram arrived on some queue');
    const queueOf = new Map<number, number>();
    const perQueue = [0, 0];
    for (const [q, p] of got) {
      assert.equal(eth(p), { destination: toHex(mac(ENGINE_MAC)), source: toHex(mac(KERNEL_MAC)), type: 0x0800 });
      const flow = p[42]!;
      const seq = p[43]!;
      assert.is((p[34]! << 8) | p[35]!, ports[flow], `flow ${flow} source port`);
      for (let i = 42; i < 62; i += 2) assert.ok(p[i] === flow && p[i + 1] === seq, `flow ${flow} datagram ${seq} payload`);
      const first = queueOf.get(flow);
      if (first === undefined) queueOf.set(flow, q);
      else assert.is(q, first, `flow ${flow} moved from queue ${first} to ${q}`);
      perQueue[q]!++;
    }
    assert.ok(perQueue[0]! > 0 && perQueue[1]! > 0, `flows spread over both queues: ${perQueue.join(' / ')}`);
  });

  Tap('tap → kernel: Ethernet frames written with writePackets on both queues reach a kernel UDP socket', async () => {
    const q = queues!;
    const port = 9000 + (process.pid % 1000);
    const { done } = await listenUdp(ns, '198.18.3.1', port, 2);
    q.batch.clear();
    q.add(ipv4Udp(port, 'tap queue 0', '198.18.3.2', '198.18.3.1'), 0, 0, mac(KERNEL_MAC));
    q.add(ipv4Udp(port, 'tap queue 1', '198.18.3.2', '198.18.3.1'), 1, 1024, mac(KERNEL_MAC));
    const before = Array.from(q.ep.writer.counters);
    assert.is(q.ep.writePackets(q.batch), 2);
    const c = q.ep.writer.counters;
    assert.is(c[TxCounter.txWrites]! - before[TxCounter.txWrites]!, 2, 'one writev per packet');
    assert.is(c[TxCounter.txBytes]! - before[TxCounter.txBytes]!, 2 * (14 + 28 + 11), 'bytes include the Ethernet headers');
    const out = await done;
    assert.match(out, /198\.18\.3\.2 4000 tap queue 0/);
    assert.match(out, /198\.18\.3\.2 4000 tap queue 1/);
  });
}

Tap.run();
