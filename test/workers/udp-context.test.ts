/**
 * The coordinator's UDP send path (`EngineUdpContext`) and the app host, over an Ethernet socketpair link
 * (no root needed): the exact frames a socket's datagrams become (Ethernet, IPv4/IPv6, UDP checksum),
 * a datagram to an unresolved neighbor waiting for ARP and leaving with the learned MAC, the same with
 * queueing off (dropped and counted), errors a socket reports (no route, too long), and an app host's
 * edge cases (a payload larger than a slot, a reply larger than a slot, a throwing handler, no reply).
 * Bounded in packets and time; no timing assertions.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { once } from 'node:events';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closeFds, openSocketPair, syscalls as sys } from '../../src/fdbased/index.ts';
import { Stack, checksum, createSocket, type UdpEndpoint } from '../../src/tcpip/index.ts';
import { AppHost, EngineUdpContext, Engine, StackAdapter, UdpSendCounter } from '../../src/workers/index.ts';
import { hex, toHex } from '../helpers/hex.ts';
import { drain, fixIpv4Checksum, ipv4ChecksumOk, send, until } from './fixtures/packets.ts';

const Udp = suite('workers/udp-context');

const OUR_MAC = '02:00:00:00:07:02';
const PEER_MAC = '02:00:00:00:07:01';

/** An engine on one Ethernet socketpair link whose stack owns 198.18.7.2/24 and 2001:2:0:7::2/64. */
async function start(queueUnresolved = true): Promise<{ peer: number; pair: [number, number]; engine: Engine; udp: EngineUdpContext; stack: Stack }> {
  const pair = openSocketPair();
  sys.setNonBlocking(pair[0]);
  const stack = new Stack({ queueUnresolved });
  stack.addNic({ name: 'a', linkAddress: OUR_MAC });
  stack.addAddress(1, '198.18.7.2/24');
  stack.addAddress(1, '2001:2:0:7::2/64');
  stack.addStaticNeighbor(1, '198.18.7.1', PEER_MAC);
  stack.addStaticNeighbor(1, '2001:2:0:7::1', PEER_MAC);
  const adapter = new StackAdapter(stack);
  const engine = new Engine({
    links: [{ fds: [pair[1]], ethernetHeader: true, linkAddress: OUR_MAC }],
    frameCount: 64, txFrameCount: 64, ringCapacity: 64, batchSize: 16, stack: adapter,
  });
  const udp = new EngineUdpContext(adapter, engine.ports);
  await engine.start();
  return { peer: pair[0], pair, engine, udp, stack };
}

async function stop(t: { pair: [number, number]; engine: Engine }): Promise<void> {
  await t.engine.stop();
  closeFds(t.pair);
  for (const p of t.engine.framePools()) assert.is(p.available, p.frameCount, `pool of slot ${p.slot} is full again`);
}

/** Reads frames from `fd` until `n` arrived (bounded). */
async function frames(fd: number, n: number, what: string): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  await until(() => (drain(fd, out), out.length >= n), 5000, what);
  return out;
}

/** True when the UDP checksum of the IPv4 (or IPv6) packet at `ip` in `frame` verifies (an independent sum). */
function udpChecksumOk(frame: Uint8Array, ip: number, v6: boolean): boolean {
  const udp = ip + (v6 ? 40 : 20);
  const length = (frame[udp + 4]! << 8) | frame[udp + 5]!;
  let pseudo = 17 + length;
  pseudo = checksum(frame, ip + (v6 ? 8 : 12), v6 ? 32 : 8, pseudo);
  return checksum(frame, udp, length, pseudo) === 0xffff;
}

/** An Ethernet + IPv4 + UDP frame from the peer (198.18.7.1:`sourcePort`) to us (198.18.7.2:`port`), checksum 0 (none). */
function request(sourcePort: number, port: number, payload: Uint8Array): Uint8Array {
  const udpLength = 8 + payload.length;
  const frame = new Uint8Array([
    ...hex('0200 0000 0702  0200 0000 0701  0800'), // to us, from the peer, IPv4
    ...hex('4500 0000  0000 4000  4011 0000  c612 0701  c612 0702'), // IPv4, DF, TTL 64, UDP, 198.18.7.1 → .2
    sourcePort >> 8, sourcePort & 0xff, port >> 8, port & 0xff, udpLength >> 8, udpLength & 0xff, 0, 0,
    ...payload,
  ]);
  frame[16] = (20 + udpLength) >> 8;
  frame[17] = (20 + udpLength) & 0xff;
  fixIpv4Checksum(frame, 14);
  return frame;
}

/** An Ethernet + IPv6 + UDP frame from the peer (2001:2:0:7::1:`sourcePort`) to us (2001:2:0:7::2:`port`), checksum filled in. */
function request6(sourcePort: number, port: number, payload: Uint8Array): Uint8Array {
  const udpLength = 8 + payload.length;
  const frame = new Uint8Array([
    ...hex('0200 0000 0702  0200 0000 0701  86dd'), // to us, from the peer, IPv6
    ...hex('6000 0000  0000 11 40'), // version 6, payload length (below), UDP, hop limit 64
    ...hex('2001 0002 0000 0007 0000 0000 0000 0001  2001 0002 0000 0007 0000 0000 0000 0002'),
    sourcePort >> 8, sourcePort & 0xff, port >> 8, port & 0xff, udpLength >> 8, udpLength & 0xff, 0, 0,
    ...payload,
  ]);
  frame[18] = udpLength >> 8;
  frame[19] = udpLength & 0xff;
  const sum = ~checksum(frame, 54, udpLength, checksum(frame, 22, 32, 17 + udpLength)) & 0xffff;
  frame[60] = sum >> 8;
  frame[61] = sum & 0xff;
  return frame;
}

Udp('a socket\'s datagrams as frames: IPv4 and IPv6 to static neighbors, checksums, errors reported', async () => {
  const t = await start();
  const sockets: UdpEndpoint[] = [];
  try {
    const s4 = createSocket({ type: 'udp4' }, t.udp);
    const s6 = createSocket({ type: 'udp6' }, t.udp);
    sockets.push(s4, s6);
    s4.bind(5000);
    s6.bind(5000, '2001:2:0:7::2');
    await Promise.all([once(s4, 'listening'), once(s6, 'listening')]);
    s4.send('hi!', 6000, '198.18.7.1');
    const [f4] = await frames(t.peer, 1, 'the IPv4 datagram');
    assert.is(toHex(f4!), toHex(new Uint8Array([
      ...hex(`0200 0000 0701  0200 0000 0702  0800   # to the peer, from us, IPv4
              4500 001f                             # version 4, IHL 5, total length 31
              0001 4000                             # id 1 (the context's first), DF
              4011 ${toHex(f4!.subarray(24, 26))}   # TTL 64, UDP, header checksum (checked below)
              c612 0702  c612 0701                  # 198.18.7.2 → 198.18.7.1 (the route's source)
              1388 1770 000b ${toHex(f4!.subarray(40, 42))}  # 5000 → 6000, length 11, checksum (checked below)
              686921                                # "hi!"`),
    ])));
    assert.ok(ipv4ChecksumOk(f4!, 14), 'IPv4 header checksum');
    assert.ok(udpChecksumOk(f4!, 14, false), 'UDP checksum');
    s6.send('v6', 6000, '2001:2:0:7::1');
    const [f6] = await frames(t.peer, 1, 'the IPv6 datagram');
    assert.is(toHex(f6!.subarray(0, 54)), toHex(hex(`
      0200 0000 0701  0200 0000 0702  86dd   # to the peer, from us, IPv6
      6000 0000  000a 11 40                   # version 6, payload length 10, UDP, hop limit 64
      2001 0002 0000 0007 0000 0000 0000 0002 # source 2001:2:0:7::2
      2001 0002 0000 0007 0000 0000 0000 0001 # destination 2001:2:0:7::1
    `)));
    assert.ok(udpChecksumOk(f6!, 14, true), 'UDP checksum over the IPv6 pseudo-header');
    assert.is(toHex(f6!.subarray(54)), toHex(hex(`1388 1770 000a ${toHex(f6!.subarray(60, 62))} 7636`)), "5000 → 6000, length 10, \"v6\"");

    const noRoute: unknown = await new Promise((resolve) => s4.send('x', 6000, '198.19.200.1', resolve));
    assert.is((noRoute as { code?: string }).code, 'ENETUNREACH');
    const tooLong: unknown = await new Promise((resolve) => s4.send(new Uint8Array(1473), 6000, '198.18.7.1', resolve));
    assert.is((tooLong as { code?: string }).code, 'EMSGSIZE', '20 + 8 + 1473 bytes exceed the 1500-byte MTU');
    const fits: unknown = await new Promise((resolve) => s4.send(new Uint8Array(1472), 6000, '198.18.7.1', resolve));
    assert.is(fits, null, '1472 bytes fit');
    const [big] = await frames(t.peer, 1, 'the 1500-byte datagram');
    assert.is(big!.length, 14 + 1500);
    assert.equal(t.udp.sendStats(), { ...zeroCounters(), sent: 3, noRoute: 1, tooLong: 1 });
  } finally {
    for (const s of sockets) s.close();
    await stop(t);
  }
});

Udp('an unresolved neighbor: ARP request, the datagram waits, leaves with the learned MAC; queueing off drops it', async () => {
  for (const queueUnresolved of [true, false]) {
    const t = await start(queueUnresolved);
    const s = createSocket({ type: 'udp4' }, t.udp);
    try {
      s.bind(5001);
      await once(s, 'listening');
      s.send('wait', 6000, '198.18.7.9');
      const [arp] = await frames(t.peer, 1, 'the ARP request');
      assert.is(toHex(arp!), toHex(hex(`
        ffff ffff ffff  0200 0000 0702  0806   # broadcast, from us, ARP
        0001 0800 06 04 0001                   # Ethernet, IPv4, request
        0200 0000 0702  c612 0702              # sender: us, 198.18.7.2
        0000 0000 0000  c612 0709              # target: 198.18.7.9
      `)));
      send(t.peer, hex(`
        0200 0000 0702  0200 0000 0709  0806   # to us, from 02:00:00:00:07:09
        0001 0800 06 04 0002                   # reply
        0200 0000 0709  c612 0709              # sender: 198.18.7.9 is at 02:00:00:00:07:09
        0200 0000 0702  c612 0702              # target: us
      `));
      if (queueUnresolved) {
        const [datagram] = await frames(t.peer, 1, 'the datagram that waited');
        assert.is(toHex(datagram!.subarray(0, 12)), '020000000709' + '020000000702', 'sent to the MAC the reply named');
        assert.is(Buffer.from(datagram!.subarray(42)).toString(), 'wait');
        assert.ok(udpChecksumOk(datagram!, 14, false));
        assert.equal(t.udp.sendStats(), { ...zeroCounters(), queued: 1, solicits: 1 });
      } else {
        await until(() => t.stack.arpCounters[0]! + t.stack.arpCounters[2]! > 0, 5000, 'the reply learned');
        assert.equal(t.udp.sendStats(), { ...zeroCounters(), unresolvedDrops: 1, solicits: 1 });
        s.send('now', 6000, '198.18.7.9');
        const [datagram] = await frames(t.peer, 1, 'a datagram after the reply');
        assert.is(toHex(datagram!.subarray(0, 6)), '020000000709');
        assert.is(Buffer.from(datagram!.subarray(42)).toString(), 'now');
      }
    } finally {
      s.close();
      await stop(t);
    }
  }
});

Udp('app host over a socketpair, bound to ::: replies per instance over IPv4 and IPv6, a payload or reply past a slot, a throwing handler, no reply', async () => {
  const t = await start();
  const dir = mkdtempSync(join(tmpdir(), 'netshard-app-'));
  const handler = join(dir, 'handler.mjs');
  writeFileSync(handler, `
    export default function (message, rinfo, context) {
      const text = message.toString();
      if (text === 'throw') throw new Error('handler failed');
      if (text === 'silent') return undefined;
      if (text === 'big') return new Uint8Array(300);
      if (text === 'later') return Promise.resolve(context.instance + '|later|' + rinfo.address + ':' + rinfo.port);
      return context.instance + '|' + text;
    }
  `);
  let host: AppHost | null = null;
  try {
    host = await AppHost.start(t.udp, { port: 7000, address: '::', instances: 2, handler, slotBytes: 256 });
    const ports = [40000, 40001, 40002, 40003, 40004, 40005, 40006, 40007];
    for (const p of ports) send(t.peer, request(p, 7000, Buffer.from(`ping${p}`)));
    const replies = await frames(t.peer, ports.length, 'one reply per request');
    const byPort = new Map(replies.map((f) => [(f[36]! << 8) | f[37]!, Buffer.from(f.subarray(42)).toString()]));
    for (const p of ports) assert.match(byPort.get(p) ?? '', new RegExp(`^[01]\\|ping${p}$`), `port ${p} answered`);
    for (const f of replies) {
      assert.is(toHex(f.subarray(26, 38)), 'c6120702' + 'c6120701' + '1b58' + toHex(f.subarray(36, 38)), 'from 198.18.7.2:7000 back to the sender');
      assert.ok(udpChecksumOk(f, 14, false), 'reply UDP checksum');
    }
    send(t.peer, request6(42000, 7000, Buffer.from('six')));
    const [six] = await frames(t.peer, 1, 'the IPv6 reply');
    assert.is(toHex(six!.subarray(12, 14)), '86dd');
    assert.is(toHex(six!.subarray(22, 60)), toHex(hex(`
      2001 0002 0000 0007 0000 0000 0000 0002  # from us
      2001 0002 0000 0007 0000 0000 0000 0001  # back to the peer
      1b58 a410 000d                           # 7000 → 42000, length 13 ("k|six")
    `)));
    assert.ok(udpChecksumOk(six!, 14, true), 'IPv6 reply UDP checksum');
    assert.match(Buffer.from(six!.subarray(62)).toString(), /^[01]\|six$/);
    send(t.peer, request(41000, 7000, Buffer.from('later')));
    const [later] = await frames(t.peer, 1, 'the promised reply');
    assert.match(Buffer.from(later!.subarray(42)).toString(), /^[01]\|later\|198\.18\.7\.1:41000$/);
    for (const text of ['throw', 'silent', 'big']) send(t.peer, request(41001, 7000, Buffer.from(text)));
    send(t.peer, request(41002, 7000, new Uint8Array(256 - 32 + 1))); // one byte past a 256-byte slot
    send(t.peer, request(41003, 7000, Buffer.from('after')));
    const [after] = await frames(t.peer, 1, 'an answer after the bad ones');
    assert.match(Buffer.from(after!.subarray(42)).toString(), /^[01]\|after$/);
    const total = (name: 'datagramsIn' | 'datagramsOut' | 'handlerErrors' | 'noReply' | 'replyDrops' | 'rxTooBig' | 'sent') =>
      host!.readStats().reduce((n, s) => n + s[name], 0);
    await until(() => total('datagramsIn') === ports.length + 6, 5000, 'every request seen');
    assert.equal(
      { in: total('datagramsIn'), out: total('datagramsOut'), sent: total('sent'), errors: total('handlerErrors'), none: total('noReply'), replyDrops: total('replyDrops'), tooBig: total('rxTooBig') },
      { in: ports.length + 6, out: ports.length + 3, sent: ports.length + 3, errors: 1, none: 1, replyDrops: 1, tooBig: 1 },
    );
    const final = await host.close();
    assert.equal(final.map((s) => s.pendingHandlers), [0, 0]);
    assert.equal(t.engine.ports.snapshot().filter((row) => row.port === 7000), [], 'port released');
  } finally {
    await host?.close();
    rmSync(dir, { recursive: true, force: true });
    await stop(t);
  }
});

function zeroCounters(): Record<keyof typeof UdpSendCounter, number> {
  const out = {} as Record<keyof typeof UdpSendCounter, number>;
  for (const name of Object.keys(UdpSendCounter) as (keyof typeof UdpSendCounter)[]) out[name] = 0;
  return out;
}

Udp.run();
