/**
 * openPacketSockets: AF_PACKET sockets bound to one veth end inside a test namespace, joined in a
 * PACKET_FANOUT_HASH group; the kernel on the other end sends many UDP flows. Every flow must stay on one
 * socket, the flows must spread over both, and the counts must add up exactly (no frame seen twice, none
 * from the other end). Argument checks run without root; the rest needs root and is skipped without it.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync } from 'node:fs';
import { netnsUnavailableReason } from '../helpers/netns.ts';
import { NetshardError } from '../../src/errors.ts';
import { openPacketSockets } from '../../src/fdbased/open-packet.ts';
import { closeFds } from '../../src/fdbased/socketpair.ts';
import {
  MSG_DONTWAIT,
  PACKET_FANOUT,
  PACKET_FANOUT_HASH,
  PACKET_QDISC_BYPASS,
  POLLIN,
  SIZEOF_POLLFD,
  SOL_PACKET,
  getsockoptInt,
  poll,
  recv,
} from '../../src/fdbased/syscalls.ts';
import { SINK_IPV4, createVethNetns, destroyVethNetns, sendUdpFlows, type VethNetns } from './veth-netns.ts';

const Fanout = suite('fdbased/open-packet');

const DESTINATION_PORT = 9999;
const SINK = SINK_IPV4.split('.').reduce((a, b) => a * 256 + Number(b), 0);

// Argument checks: no root needed, nothing is opened.
for (const c of [
  { name: 'empty ifname', call: () => openPacketSockets('', 1), code: 'ERR_INVALID_ARG_VALUE' },
  { name: '16-character ifname', call: () => openPacketSockets('abcdefghijklmnop', 1), code: 'ERR_INVALID_ARG_VALUE' },
  { name: 'count 0', call: () => openPacketSockets('lo', 0), code: 'ERR_OUT_OF_RANGE' },
  { name: 'count 257', call: () => openPacketSockets('lo', 257), code: 'ERR_OUT_OF_RANGE' },
  { name: 'fanoutId 65536', call: () => openPacketSockets('lo', 2, { fanoutId: 65536 }), code: 'ERR_OUT_OF_RANGE' },
  { name: 'unknown option', call: () => openPacketSockets('lo', 1, { mtu: 1500 } as never), code: 'ERR_INVALID_ARG_VALUE' },
  { name: 'vnetHeader not boolean', call: () => openPacketSockets('lo', 1, { vnetHeader: 1 } as never), code: 'ERR_INVALID_ARG_TYPE' },
  { name: 'qdiscBypass not boolean', call: () => openPacketSockets('lo', 1, { qdiscBypass: 'yes' } as never), code: 'ERR_INVALID_ARG_TYPE' },
]) {
  Fanout(`rejects ${c.name}`, () => {
    try {
      c.call();
      assert.unreachable(`${c.name} was accepted`);
    } catch (err) {
      assert.instance(err, NetshardError);
      assert.is((err as NetshardError).code, c.code, (err as Error).message);
    }
  });
}

/** Per received frame: which socket, which flow (UDP source port), which sequence number. */
interface Seen {
  socket: number;
  sourcePort: number;
  flow: number;
  seq: number;
}

/**
 * Reads every frame queued on `fds` until `want` UDP frames to SINK:DESTINATION_PORT arrived or 3 s passed
 * without one; other frames (none expected: IPv6 is off, the neighbour is static) are counted apart.
 */
function drain(fds: number[], want: number): { seen: Seen[]; others: number } {
  const buf = new Uint8Array(2048);
  const view = new DataView(buf.buffer);
  const pollfds = new Uint8Array(SIZEOF_POLLFD * fds.length);
  const pv = new DataView(pollfds.buffer);
  fds.forEach((fd, i) => {
    pv.setInt32(i * SIZEOF_POLLFD, fd, true);
    pv.setInt16(i * SIZEOF_POLLFD + 4, POLLIN, true);
  });
  const seen: Seen[] = [];
  let others = 0;
  let idleSince = Date.now();
  while (seen.length < want && Date.now() - idleSince < 3000) {
    let got = 0;
    for (let s = 0; s < fds.length; s++) {
      for (;;) {
        const n = recv(fds[s]!, buf, buf.length, MSG_DONTWAIT);
        if (n < 0) break;
        got++;
        // Ethernet (14) + IPv4 without options (20) + UDP (8) + u16 flow + u16 seq.
        const isOurs =
          n >= 46 &&
          view.getUint16(12) === 0x0800 &&
          buf[14] === 0x45 &&
          buf[23] === 17 &&
          view.getUint32(30) === SINK &&
          view.getUint16(36) === DESTINATION_PORT;
        if (!isOurs) {
          others++;
          continue;
        }
        seen.push({ socket: s, sourcePort: view.getUint16(34), flow: view.getUint16(42), seq: view.getUint16(44) });
      }
    }
    if (got > 0) idleSince = Date.now();
    else poll(pollfds, fds.length, 100);
  }
  return { seen, others };
}

function checkSpread(seen: Seen[], sourcePorts: number[], perFlow: number, sockets: number): void {
  assert.is(seen.length, sourcePorts.length * perFlow, `received ${seen.length} frames, sent ${sourcePorts.length * perFlow}`);
  const socketOfFlow = new Map<number, number>();
  const nextSeq = new Map<number, number>();
  const perSocket = new Array<number>(sockets).fill(0);
  for (const s of seen) {
    assert.is(s.sourcePort, sourcePorts[s.flow], `flow ${s.flow} came from port ${s.sourcePort}, sent from ${sourcePorts[s.flow]}`);
    const first = socketOfFlow.get(s.flow);
    if (first === undefined) socketOfFlow.set(s.flow, s.socket);
    else assert.is(s.socket, first, `flow ${s.flow} (port ${s.sourcePort}) reached socket ${s.socket} after socket ${first}`);
    // One socket's queue keeps a flow's order: datagram i arrives as the flow's i-th.
    assert.is(s.seq, nextSeq.get(s.flow) ?? 0, `flow ${s.flow}: got datagram ${s.seq} out of order`);
    nextSeq.set(s.flow, s.seq + 1);
    perSocket[s.socket]!++;
  }
  assert.is(socketOfFlow.size, sourcePorts.length, 'every flow arrived');
  for (let i = 0; i < sockets; i++) {
    // 32 flows on 2 sockets all landing on one: probability 2^-31 with a fair hash.
    assert.ok(perSocket[i]! > 0, `socket ${i} received no flow; per socket: ${perSocket.join(', ')}`);
  }
  assert.is(
    perSocket.reduce((a, b) => a + b, 0),
    seen.length,
    'per-socket counts add up',
  );
}

const reason = netnsUnavailableReason();
if (process.getuid?.() !== 0) {
  // Without privilege the refusal itself is testable: it must be a clear EPERM, not a raw errno.
  Fanout('without CAP_NET_RAW: EPERM naming the capability', () => {
    try {
      openPacketSockets('lo', 1);
      assert.unreachable('opened an AF_PACKET socket without privilege');
    } catch (err) {
      assert.instance(err, NetshardError);
      assert.is((err as NetshardError).code, 'EPERM', (err as Error).message);
      assert.match((err as Error).message, /CAP_NET_RAW/);
    }
  });
}
if (reason !== '') {
  console.log(`fdbased/open-packet: skipping the veth tests: ${reason}`);
} else {
  let topo: VethNetns | undefined;
  Fanout.before(() => {
    topo = createVethNetns('fo');
  });
  Fanout.after(() => {
    destroyVethNetns(topo);
  });

  for (const c of [
    { name: 'kernel-assigned group (UNIQUEID)', options: {}, fromKernel: true },
    { name: 'given group id (the old-kernel path)', options: { fanoutId: 0x4242 }, fromKernel: false },
  ]) {
    Fanout(`fanout over 2 sockets, ${c.name}: each flow on one socket, flows on both, counts add up`, () => {
      const t = topo!;
      const opened = openPacketSockets(t.b, 2, { netns: t.ns, ...c.options });
      try {
        assert.is(opened.fds.length, 2);
        assert.ok(opened.interfaceIndex > 0, 'interface index');
        assert.is(opened.fanoutIdFromKernel, c.fromKernel);
        if ('fanoutId' in c.options) assert.is(opened.fanoutId, c.options.fanoutId);
        for (const fd of opened.fds) {
          const arg = getsockoptInt(fd, SOL_PACKET, PACKET_FANOUT);
          assert.ok(arg >= 0, `getsockopt(PACKET_FANOUT) = ${arg}`);
          assert.is(arg & 0xffff, opened.fanoutId, 'both sockets in the reported group');
          assert.is((arg >>> 16) & 0xff, PACKET_FANOUT_HASH, 'hash fanout');
          assert.is((arg >>> 24) & 0x80, 0, 'PACKET_FANOUT_FLAG_DEFRAG is not set');
        }
        const perFlow = 8;
        const sent = sendUdpFlows(t.ns, { flows: 32, perFlow, payloadBytes: 32, destinationPort: DESTINATION_PORT });
        const { seen, others } = drain(opened.fds, 32 * perFlow);
        checkSpread(seen, sent.sourcePorts, perFlow, 2);
        assert.is(others, 0, 'no other frames on the wire');
      } finally {
        closeFds(opened.fds);
      }
    });
  }

  Fanout('qdiscBypass: every socket has PACKET_QDISC_BYPASS set; by default none has', () => {
    const t = topo!;
    for (const [options, want] of [[{ qdiscBypass: true }, 1], [{}, 0]] as const) {
      const opened = openPacketSockets(t.b, 2, { netns: t.ns, ...options });
      try {
        for (const fd of opened.fds) assert.is(getsockoptInt(fd, SOL_PACKET, PACKET_QDISC_BYPASS), want, JSON.stringify(options));
      } finally {
        closeFds(opened.fds);
      }
    }
  });

  Fanout('one socket: no fanout group, receives every flow', () => {
    const t = topo!;
    const opened = openPacketSockets(t.b, 1, { netns: t.ns });
    try {
      assert.is(opened.fanoutId, -1);
      assert.is(getsockoptInt(opened.fds[0]!, SOL_PACKET, PACKET_FANOUT), 0, 'not in a group');
      const sent = sendUdpFlows(t.ns, { flows: 4, perFlow: 4, payloadBytes: 16, destinationPort: DESTINATION_PORT });
      const { seen } = drain(opened.fds, 16);
      checkSpread(seen, sent.sourcePorts, 4, 1);
    } finally {
      closeFds(opened.fds);
    }
  });

  Fanout('a missing interface is ENODEV, and nothing stays open', () => {
    const t = topo!;
    const before = readdirSync('/proc/self/fd').length;
    try {
      openPacketSockets(`zz${process.pid}`, 2, { netns: t.ns });
      assert.unreachable('opened a missing interface');
    } catch (err) {
      assert.instance(err, NetshardError);
      assert.is((err as NetshardError).code, 'ENODEV', (err as Error).message);
    }
    assert.is(readdirSync('/proc/self/fd').length, before, 'open fds');
  });

  Fanout('an unknown namespace is ENOENT', () => {
    try {
      openPacketSockets('lo', 1, { netns: `ns-none-${process.pid}` });
      assert.unreachable('entered a missing namespace');
    } catch (err) {
      assert.instance(err, NetshardError);
      assert.is((err as NetshardError).code, 'ENOENT', (err as Error).message);
    }
  });
}

Fanout.run();
