/**
 * openTun: a multi-queue TUN device inside a test namespace, read with the readv dispatcher (TUN fds are
 * not sockets). Kernel → tun: UDP flows routed to the device's subnet arrive on the queue fds, each flow on
 * one queue, byte for byte. Tun → kernel: an ICMP echo request (IPv4 and IPv6) written to a queue fd is
 * answered by the kernel, and a UDP datagram written to it reaches a socket in the namespace.
 * Argument checks run without root; the rest needs root and is skipped without it.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { addNetns, deleteNetns, inNetns, ip, netnsUnavailableReason, uniqueName } from '../helpers/netns.ts';
import { hex } from '../helpers/hex.ts';
import { NetshardError } from '../../src/errors.ts';
import { createReadvDispatcher, type ReadvDispatcher } from '../../src/fdbased/dispatch-readv.ts';
import { closeTun, openTun, type TunDevice } from '../../src/fdbased/open-tun.ts';
import { IFF_MULTI_QUEUE, IFF_NO_PI, IFF_TUN, IFREQ_UNION, SIZEOF_IFREQ, TUNGETIFF, ioctl, write } from '../../src/fdbased/syscalls.ts';
import { expectError } from './fixtures/expect-error.ts';

const Tun = suite('fdbased/open-tun');

for (const c of [
  { name: 'empty name', call: () => openTun(''), code: 'ERR_INVALID_ARG_VALUE' },
  { name: '16-byte name', call: () => openTun('abcdefghijklmnop'), code: 'ERR_INVALID_ARG_VALUE' },
  { name: "name with '/'", call: () => openTun('a/b'), code: 'ERR_INVALID_ARG_VALUE' },
  { name: 'queues 0', call: () => openTun('t0', { queues: 0 }), code: 'ERR_OUT_OF_RANGE' },
  { name: 'queues 257', call: () => openTun('t0', { queues: 257 }), code: 'ERR_OUT_OF_RANGE' },
  { name: 'tap not boolean', call: () => openTun('t0', { tap: 'yes' } as never), code: 'ERR_INVALID_ARG_TYPE' },
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

/** ICMP echo request 198.18.1.2 → 198.18.1.1, id 0x1234, seq 1, payload "netshard". Checksums filled below. */
const ICMP4_ECHO = hex(`
  45 00 001c 0000 4000 40 01 0000   # IPv4, 28 bytes, DF, TTL 64, ICMP, checksum (filled)
  c6120102 c6120101                 # 198.18.1.2 -> 198.18.1.1
  08 00 0000 1234 0001              # echo request, checksum (filled), id 0x1234, seq 1
`);
const ICMP_PAYLOAD = new TextEncoder().encode('netshard');

function ipv4Icmp(): Uint8Array {
  const p = new Uint8Array(ICMP4_ECHO.length + ICMP_PAYLOAD.length);
  p.set(ICMP4_ECHO);
  p.set(ICMP_PAYLOAD, ICMP4_ECHO.length);
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
  const p = new Uint8Array(ICMP6_ECHO.length + ICMP_PAYLOAD.length);
  p.set(ICMP6_ECHO);
  p.set(ICMP_PAYLOAD, ICMP6_ECHO.length);
  const upper = p.subarray(40);
  // Pseudo-header: source, destination, upper-layer length, next header 58.
  let sum = 0;
  for (let i = 8; i < 40; i += 2) sum += (p[i]! << 8) | p[i + 1]!;
  sum += upper.length + 58;
  setChecksum(p, 42, checksum(upper, sum));
  return p;
}

/** UDP 198.18.1.2:4000 → 198.18.1.1:`port`, payload `text`, UDP checksum 0 (none; allowed over IPv4). */
function ipv4Udp(port: number, text: string): Uint8Array {
  const body = new TextEncoder().encode(text);
  const p = new Uint8Array(28 + body.length);
  p.set(hex(`45 00 0000 0000 4000 40 11 0000   c6120102 c6120101   0fa0 0000 0000 0000`));
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

// ---- the namespace: one TUN device with 2 queues, 198.18.1.1/24 and 2001:2::1/64 on it ----

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
  console.log(`fdbased/open-tun: skipping the TUN tests: ${reason}`);
} else {
  const ns = uniqueName('ns-tun');
  const name = `nt${process.pid}`;
  let device: TunDevice | undefined;
  const dispatchers: ReadvDispatcher[] = [];
  const frames = { bytes: new Uint8Array(new SharedArrayBuffer(32 * 2048)), frameSize: 2048 };

  Tun.before(() => {
    addNetns(ns);
    device = openTun(name, { queues: 2, netns: ns });
    ip('-n', ns, 'link', 'set', name, 'up');
    ip('-n', ns, 'addr', 'add', '198.18.1.1/24', 'dev', name);
    ip('-n', ns, 'addr', 'add', '2001:2::1/64', 'dev', name, 'nodad');
    for (const fd of device.fds) dispatchers.push(createReadvDispatcher({ fd, frames }));
  });
  Tun.after(() => {
    for (const d of dispatchers) d.close();
    if (device !== undefined) closeTun(device);
    deleteNetns(ns);
  });

  /**
   * Reads from every queue until `want` packets matched `pick` (others are ignored: the kernel may send
   * its own, e.g. IPv6 router solicitations) or 3 s passed. Returns [queue, packet bytes] per match.
   */
  function readQueues(want: number, pick: (p: Uint8Array) => boolean): Array<[number, Uint8Array]> {
    const out: Array<[number, Uint8Array]> = [];
    const slots = new Int32Array([0, 1, 2, 3, 4, 5, 6, 7]);
    const lengths = new Int32Array(8);
    const deadline = Date.now() + 3000;
    while (out.length < want && Date.now() < deadline) {
      let any = false;
      for (let q = 0; q < dispatchers.length; q++) {
        const n = dispatchers[q]!.receive(slots, lengths, 8);
        assert.ok(n >= 0, `queue ${q}: receive returned ${n}`);
        for (let i = 0; i < n; i++) {
          const at = slots[i]! * frames.frameSize;
          const packet = frames.bytes.slice(at, at + lengths[i]!);
          if (pick(packet)) out.push([q, packet]);
        }
        any ||= n > 0;
      }
      if (!any) dispatchers[0]!.wait(10);
    }
    return out;
  }

  Tun('the device is multi-queue TUN without PI, named as asked, one fd per queue', () => {
    assert.is(device!.name, name);
    assert.is(device!.fds.length, 2);
    assert.ok(device!.interfaceIndex > 0);
    const ifreq = new Uint8Array(SIZEOF_IFREQ);
    for (const fd of device!.fds) {
      assert.is(ioctl(fd, TUNGETIFF, ifreq), 0);
      const flags = new DataView(ifreq.buffer).getUint16(IFREQ_UNION, true);
      assert.is(flags & (IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE), IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE, `flags 0x${flags.toString(16)}`);
    }
    const shown = inNetns(ns, 'ip', '-d', 'link', 'show', name);
    assert.match(shown, /tun type tun/);
    assert.match(shown, /multi_queue/);
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
    const got = readQueues(flows * perFlow, isOurs);
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
    { name: 'ICMPv4 echo request', packet: ipv4Icmp, isReply: (p: Uint8Array) => p[0] === 0x45 && p[9] === 1 && p[20] === 0 },
    { name: 'ICMPv6 echo request', packet: ipv6Icmp, isReply: (p: Uint8Array) => p[0]! >> 4 === 6 && p[6] === 58 && p[40] === 129 },
  ]) {
    Tun(`tun → kernel: an ${c.name} written to queue 1 is answered by the kernel`, () => {
      const request = c.packet();
      assert.is(write(device!.fds[1]!, request, request.length), request.length);
      const [reply] = readQueues(1, c.isReply);
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

  Tun('tun → kernel: a UDP datagram written to queue 0 reaches a socket in the namespace', async () => {
    const port = 7000 + (process.pid % 1000);
    // A listener in the namespace: prints "ready", then the first datagram it gets (or "timeout" after 5 s).
    const listener = spawn(
      'ip',
      [
        'netns', 'exec', ns, 'python3', '-c',
        `
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('198.18.1.1', ${port}))
s.settimeout(5)
print('ready', flush=True)
try:
    data, addr = s.recvfrom(2048)
    print(addr[0], addr[1], data.decode(), flush=True)
except socket.timeout:
    print('timeout', flush=True)
`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'], timeout: 10_000 },
    );
    let out = '';
    const done = new Promise<void>((resolve) => listener.on('close', () => resolve()));
    await new Promise<void>((resolve) =>
      listener.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('ready')) resolve();
      }),
    );
    const datagram = ipv4Udp(port, 'hello from the tun side');
    assert.is(write(device!.fds[0]!, datagram, datagram.length), datagram.length);
    await done;
    assert.match(out, /198\.18\.1\.2 4000 hello from the tun side/);
  });

  Tun('opening the same name as TAP fails with EINVAL, leaving no fd behind', () => {
    const before = readdirSync('/proc/self/fd').length;
    expectError(() => openTun(name, { tap: true, queues: 2, netns: ns }), 'EINVAL');
    expectError(() => openTun(name, { queues: 1, netns: ns }), 'EINVAL'); // not multi-queue
    assert.is(readdirSync('/proc/self/fd').length, before, 'open fds');
  });

  Tun('a name pattern is expanded by the kernel; closing the fds removes the device', () => {
    const d = openTun('ntp%d', { queues: 3, netns: ns });
    try {
      assert.match(d.name, /^ntp\d+$/);
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
