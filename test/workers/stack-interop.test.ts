/**
 * The coordinator's stack against a real kernel: a client namespace joined by a veth to an interface the
 * engine owns through AF_PACKET sockets (no kernel address on it), the engine's `Stack` holding
 * 198.18.5.2/24 and 2001:2:0:5::2/64.
 * (a) the client kernel's ARP for the engine's address is answered (its neighbour table shows the
 *     engine's MAC) and ICMP / ICMPv6 echo gets replies;
 * (b) a kernel UDP socket and an engine UDP socket (`createSocket(…, engine.udp)`) talk both ways, over
 *     IPv4 and IPv6; the engine's first datagram to a neighbour it never met waits for ARP and then goes;
 * (f) malformed ARP / ICMP / UDP frames written raw from the client are dropped and counted, and the
 *     engine keeps answering.
 * Root only (network namespaces); bounded in packets and seconds; no timing assertions.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { once } from 'node:events';
import {
  ArpResult, IcmpReason, StackReason, createSocket, type UdpEndpoint, type UdpRemoteInfo,
} from '../../src/tcpip/index.ts';
import { UdpSendCounter, startStackEngine, type StackEngine } from '../../src/workers/index.ts';
import { netnsUnavailableReason } from '../helpers/netns.ts';
import { createStackTopology, type StackTopology } from './fixtures/stack-topology.ts';
import { ipv4ChecksumOk } from './fixtures/packets.ts';

const Interop = suite('workers/stack-interop');
const reason = netnsUnavailableReason();

/** Sums one parse-drop reason over every dispatch worker. */
function parseDrops(engine: StackEngine, name: string): number {
  return engine.engine.workerStats().reduce((n, s) => n + (s.rxDropsByReason[name] ?? 0), 0);
}

/** Replies `engine:<msg>` to every datagram. */
function echoSocket(socket: UdpEndpoint): void {
  socket.on('message', (msg: Buffer, rinfo: UdpRemoteInfo) => socket.send(`engine:${msg.toString()}`, rinfo.port, rinfo.address));
}

if (reason !== '') {
  console.log(`workers/stack-interop: skipped: ${reason}`);
} else {
  Interop('kernel ↔ engine stack: ARP, ICMP echo, UDP both ways (IPv4, IPv6), malformed frames dropped and counted', async () => {
    let topo: StackTopology | null = null;
    let engine: StackEngine | null = null;
    const sockets: UdpEndpoint[] = [];
    try {
      topo = createStackTopology('si', 5);
      engine = await startStackEngine({
        interface: topo.engine.name, netns: topo.engine.ns, fds: 2,
        addresses: [`${topo.engine.ipv4}/24`, `${topo.engine.ipv6}/64`], frameCount: 256, txFrameCount: 256,
      });
      assert.is(engine.interface.linkAddress, topo.engine.mac, 'the NIC takes the interface\'s MAC');
      const { stack, udp } = engine;

      // (a) ARP and ICMP echo, then the client kernel's neighbour entry for us.
      const ping4 = await topo.peer<{ sent: number; received: number }>(['ping', topo.engine.ipv4, 3, 8]);
      assert.equal(ping4, { sent: 3, received: 3 }, 'every ICMP echo answered');
      const neighbour = topo.clientNeighbour(topo.engine.ipv4);
      assert.is(neighbour?.lladdr, topo.engine.mac, 'the client kernel learned the engine\'s MAC');
      assert.ok(['REACHABLE', 'STALE', 'DELAY', 'PROBE'].includes(neighbour?.state?.[0] ?? ''), `neighbour state ${neighbour?.state}`);
      assert.ok(stack.arpCounters[ArpResult.Replied]! + stack.arpCounters[ArpResult.RepliedResolved]! >= 1, 'an ARP reply was sent');
      const ping6 = await topo.peer<{ sent: number; received: number }>(['ping', topo.engine.ipv6, 3, 8]);
      assert.equal(ping6, { sent: 3, received: 3 }, 'every ICMPv6 echo answered (after NDP)');
      assert.is(topo.clientNeighbour(topo.engine.ipv6)?.lladdr, topo.engine.mac, 'NDP answered');

      // (b) The kernel asks, the engine answers: IPv4 and IPv6 sockets on the engine's stack.
      const s4 = createSocket({ type: 'udp4' }, udp);
      const s6 = createSocket({ type: 'udp6', ipv6Only: true }, udp);
      sockets.push(s4, s6);
      echoSocket(s4);
      echoSocket(s6);
      s4.bind(7000);
      s6.bind(7000);
      await Promise.all([once(s4, 'listening'), once(s6, 'listening')]);
      const ask4 = await topo.peer<{ reply: string | null; from: [string, number] }>(['ask', topo.engine.ipv4, 7000, 'hello', 5]);
      assert.equal(ask4, { reply: 'engine:hello', from: [topo.engine.ipv4, 7000] });
      const ask6 = await topo.peer<{ reply: string | null; from: [string, number] }>(['ask', topo.engine.ipv6, 7000, 'hello6', 5]);
      assert.equal(ask6, { reply: 'engine:hello6', from: [topo.engine.ipv6, 7000] });

      // The engine asks a kernel server at an address it has never resolved: the datagram waits for ARP.
      const server = await topo.peerServer(['server', topo.clientIpv4b, 7100, 2, 10]);
      const client = createSocket({ type: 'udp4' }, udp);
      sockets.push(client);
      const replies: string[] = [];
      client.on('message', (msg: Buffer) => replies.push(msg.toString()));
      const queuedBefore = udp.counters[UdpSendCounter.queued]!;
      client.send('first', 7100, topo.clientIpv4b);
      const [first] = await once(client, 'message');
      assert.is((first as Buffer).toString(), 'kernel:first');
      client.send('second', 7100, topo.clientIpv4b);
      const served = (await server.result) as { received: { from: [string, number]; data: string }[] };
      assert.equal(served.received.map((r) => r.data), ['first', 'second']);
      assert.is(served.received[0]!.from[0], topo.engine.ipv4, 'sent from the route\'s source address');
      assert.is(served.received[0]!.from[1], client.address().port, 'from the socket\'s ephemeral port');
      assert.is(udp.counters[UdpSendCounter.queued]! - queuedBefore, 1, 'the first datagram waited for ARP, the second did not');
      assert.ok(udp.counters[UdpSendCounter.solicits]! >= 1, 'an ARP request went out');

      // (f) Malformed frames from the client, raw. Each hex string is one Ethernet frame to the engine.
      const dst = topo.engine.mac.replaceAll(':', ''), src = topo.client.mac.replaceAll(':', '');
      const ipHex = (a: string): string => a.split('.').map((x) => Number(x).toString(16).padStart(2, '0')).join('');
      const me = ipHex(topo.client.ipv4), it = ipHex(topo.engine.ipv4);
      const withIpChecksum = (header: string): string => {
        const bytes = Buffer.from(header, 'hex');
        let sum = 0;
        for (let i = 0; i < 20; i += 2) sum += bytes.readUInt16BE(i);
        while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
        bytes.writeUInt16BE(~sum & 0xffff, 10);
        assert.ok(ipv4ChecksumOk(bytes), 'test frame has a valid IPv4 header checksum');
        return bytes.toString('hex');
      };
      const frames = {
        // ARP, hardware type 6 (IEEE 802), otherwise a request for the engine's address.
        arpBadHardware: `ffffffffffff${src}0806` + `0006 0800 06 04 0001 ${src}${me} 000000000000${it}`.replaceAll(' ', ''),
        // ARP cut after the sender MAC (14 bytes of ARP).
        arpTruncated: `ffffffffffff${src}0806` + `0001 0800 06 04 0001 ${src}`.replaceAll(' ', ''),
        // ARP request from a multicast sender MAC.
        arpBadSender: `ffffffffffff${src}0806` + `0001 0800 06 04 0001 010000000001${me} 000000000000${it}`.replaceAll(' ', ''),
        // IPv4 + ICMP echo with a wrong ICMP checksum.
        icmpBadChecksum: `${dst}${src}0800` + withIpChecksum(`4500 001c 0001 0000 4001 0000 ${me}${it}`.replaceAll(' ', '')) + '0800dead00010001',
        // IPv4 + ICMP of 4 bytes (shorter than an ICMP header).
        icmpTruncated: `${dst}${src}0800` + withIpChecksum(`4500 0018 0002 0000 4001 0000 ${me}${it}`.replaceAll(' ', '')) + '08000000',
        // IPv4 header checksum wrong (ICMP echo otherwise fine).
        ipv4BadChecksum: `${dst}${src}0800` + `4500 001c 0003 0000 4001 bad0 ${me}${it}`.replaceAll(' ', '') + '0800f7fe00010000',
        // IPv4 total length past the frame's end.
        ipv4BadLength: `${dst}${src}0800` + withIpChecksum(`4500 0100 0004 0000 4011 0000 ${me}${it}`.replaceAll(' ', '')) + '1b581b580010000068656c6c6f212121',
        // UDP length field 0x40, past the IP payload.
        udpBadLength: `${dst}${src}0800` + withIpChecksum(`4500 0024 0005 0000 4011 0000 ${me}${it}`.replaceAll(' ', '')) + '1b581b580040000068656c6c6f212121',
        // UDP to the engine's socket on 7000 with a wrong checksum.
        udpBadChecksum: `${dst}${src}0800` + withIpChecksum(`4500 0024 0006 0000 4011 0000 ${me}${it}`.replaceAll(' ', '')) + '1b581b580010beef68656c6c6f212121',
      };
      const before = {
        parse: ['ArpUnsupportedHardwareType', 'ArpTruncated', 'Icmpv4Truncated', 'Ipv4BadTotalLength', 'UdpBadLength'].map((n) => parseDrops(engine!, n)),
        arpBadSender: stack.arpCounters[ArpResult.BadSender]!,
        icmpBadChecksum: stack.icmp.counters[IcmpReason.BadChecksum]!,
        ipBadChecksum: stack.counters[StackReason.BadChecksum]!,
        udpChecksum: udp.stats.checksumErrors,
        received: s4.stats.packetsReceived,
      };
      const sent = await topo.peer<{ sent: number }>(['raw', topo.client.name, ...Object.values(frames)]);
      assert.is(sent.sent, Object.keys(frames).length);
      // A valid exchange after them: once it is answered, the malformed ones (sent first, same path) were handled.
      const after = await topo.peer<{ reply: string | null }>(['ask', topo.engine.ipv4, 7000, 'still-here', 5]);
      assert.is(after.reply, 'engine:still-here', 'the engine still answers');
      const parse = ['ArpUnsupportedHardwareType', 'ArpTruncated', 'Icmpv4Truncated', 'Ipv4BadTotalLength', 'UdpBadLength'].map((n) => parseDrops(engine!, n));
      assert.equal(parse.map((n, i) => n - before.parse[i]!), [1, 1, 1, 1, 1], 'each parse failure counted once, by reason');
      assert.is(stack.arpCounters[ArpResult.BadSender]! - before.arpBadSender, 1, 'ARP from a multicast MAC counted');
      assert.is(stack.icmp.counters[IcmpReason.BadChecksum]! - before.icmpBadChecksum, 1, 'ICMP checksum failure counted');
      assert.is(stack.counters[StackReason.BadChecksum]! - before.ipBadChecksum, 1, 'IPv4 header checksum failure counted');
      assert.is(udp.stats.checksumErrors - before.udpChecksum, 1, 'UDP checksum failure counted by the socket');
      assert.is(s4.stats.packetsReceived - before.received, 1, 'only the good datagram reached the socket');
      const ping4b = await topo.peer<{ sent: number; received: number }>(['ping', topo.engine.ipv4, 1, 5]);
      assert.is(ping4b.received, 1, 'and still answers ping');
      const c = engine.engine.coordinatorStats();
      assert.is(c.handlerErrors, 0, `the stack never threw (${String(engine.engine.lastHandlerError)})`);
      assert.is(c.deaths, 0, 'no worker died');
    } finally {
      for (const s of sockets) s.close();
      await engine?.close();
      topo?.destroy();
    }
    for (const p of engine!.engine.framePools()) assert.is(p.available, p.frameCount, `pool of slot ${p.slot} is full again`);
  });
}

Interop.run();
