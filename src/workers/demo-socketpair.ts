/**
 * The demo without root: the same engine over AF_UNIX socketpairs, no namespace. The demo itself plays the
 * client and the sink on the far ends of the pairs, writing Ethernet frames as a host on the link would:
 *
 * ```
 *   demo (client 198.18.1.1) ── pair 0 ──► worker 0 ┐ link 0: 198.18.1.2       link 1: 198.19.1.2
 *   (flows spread by port)   ── pair 1 ──► worker 1 ┴─ forward ─► pair 2 ─► worker 2 ─► demo (sink 198.19.1.1)
 * ```
 * (1) forwarding: 64 UDP flows written into pairs 0 and 1 (a flow always into the same pair, as a NIC's
 * receive-side scaling would), read back at the sink end, bounded (200k datagrams or 5 s); (2) the stack:
 * an ARP request for the engine's address and ICMP echo requests, answered by the coordinator's stack;
 * (3) reuseport: UDP echo servers in app workers sharing one port on the engine's stack, 32 flows written
 * by the demo, each answered by one instance.
 *
 * Thread: main. The write loop yields to the event loop between bursts (the engine's stack runs there).
 */
import { NetshardError } from '../errors.ts';
import { closeFds, openSocketPair, syscalls as sys } from '../fdbased/index.ts';
import type { Engine } from './coordinator.ts';
import type { AppHost } from './app-host.ts';
import { DEMO_SERVERS, createDemoEngine, slotsOf, stackAnswers, startDemoServers, type DemoPlan } from './demo-engine.ts';
import {
  arpReplyFrom, isEchoReply, macsOf, setSourcePort, sourcePortOf, ttlOf, udpFrom, writeArpRequestFrame, writeEchoRequestFrame, writeUdpFrame,
  writeUdpRequestFrame,
} from './demo-frames.ts';
import { count, diffStats, dropsByReason, forwardedSince, percent, rate, reportReuseport, workerShares, type DemoOutput, type TourResult } from './demo-report.ts';
import { FORWARD_TOPOLOGY_PLAN } from './lab.ts';

/** The hosts: the lab's address plan, without the lab. */
export const SOCKETPAIR_PLAN: DemoPlan = {
  client: FORWARD_TOPOLOGY_PLAN.gen,
  engineIn: FORWARD_TOPOLOGY_PLAN.fwdIn,
  engineOut: FORWARD_TOPOLOGY_PLAN.fwdOut,
  sink: FORWARD_TOPOLOGY_PLAN.sink,
};
/**
 * The forwarding step's default bounds (`count` datagrams, `seconds`) and shape. `window`: datagrams the demo keeps in flight (written, not yet
 * read at the sink). The demo is both client and sink on one thread; without a window it would write
 * faster than it reads, and the engine's sends into the sink's pair would be refused once the sending
 * end's SO_SNDBUF is full (AF_UNIX counts a datagram against its sender until it is read: ~200 small
 * ones with the default 208 KiB): a drop the demo caused, not the engine.
 */
export const SOCKETPAIR_FLOOD = { count: 200_000, seconds: 5, flows: 64, basePort: 40_000, port: 9_000, payloadBytes: 18, burst: 256, window: 128 } as const;
/** The stack step: echo requests, and how long each answer may take. */
export const SOCKETPAIR_PING = { count: 5, timeoutMs: 1000 } as const;

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Runs the socketpair tour, printing through `out`, the forwarding step bounded by `packets` datagrams and
 * `SOCKETPAIR_FLOOD.seconds`; resolves with what it measured. Needs no privilege.
 * Closes every fd and stops every thread it made before it settles. Rejects with `signal.reason` when
 * aborted, with ERR_NETSHARD_DEMO_* when the engine does not answer.
 */
export async function runSocketpairTour(out: DemoOutput, signal: AbortSignal | undefined, packets: number = SOCKETPAIR_FLOOD.count): Promise<TourResult> {
  const plan = SOCKETPAIR_PLAN;
  const pairs: [number, number][] = [];
  let engine: Engine | null = null;
  let host: AppHost | null = null;
  try {
    for (let i = 0; i < 3; i++) pairs.push(openSocketPair({ type: 'seqpacket' }));
    const ends = pairs.map((p) => p[0]);
    for (const fd of ends) sys.setNonBlocking(fd);
    const clientEnds = [ends[0]!, ends[1]!], sinkEnd = ends[2]!;
    const built = createDemoEngine(plan, [pairs[0]![1], pairs[1]![1]], [pairs[2]![1]]);
    engine = built.engine;
    await engine.start();
    out.line(`engine: ${engine.slotCount} dispatch workers over AF_UNIX socketpairs: 2 on link 0 (${plan.engineIn.ipv4}, ${plan.engineIn.mac}), 1 on link 1 (${plan.engineOut.ipv4}); its stack on the main thread`);
    const ingressSlots = slotsOf(engine, 0);
    signal?.throwIfAborted();

    // (1) forwarding
    const f = SOCKETPAIR_FLOOD;
    out.line('');
    out.line(`(1) forwarding: ${f.flows} UDP flows written by the demo as ${plan.client.ipv4} into link 0, read back as the sink ${plan.sink.ipv4} on link 1 (at most ${count(packets)} datagrams or ${f.seconds} s)`);
    const frame = new Uint8Array(128);
    const length = writeUdpFrame(frame, plan.client, plan.engineIn.mac, plan.sink.ipv4, f.basePort, f.port, f.payloadBytes);
    const rx = new Uint8Array(2048);
    const flowsSeen = new Uint8Array(f.flows);
    let sent = 0, received = 0, wrong = 0, checked = false, writtenOff = 0, progressAt = performance.now();
    const drainSink = (): void => {
      for (let had = received; ; ) {
        const r = sys.recv(sinkEnd, rx, rx.byteLength, sys.MSG_DONTWAIT);
        if (r < 0) {
          if (received !== had) progressAt = performance.now();
          return;
        }
        received++;
        const flow = sourcePortOf(rx) - f.basePort;
        if (flow >= 0 && flow < f.flows) flowsSeen[flow] = 1;
        if (!checked) {
          // The first one, checked as the sink would: the engine's MAC as source, the sink's as destination, TTL 63.
          checked = true;
          const macs = macsOf(rx.subarray(0, r));
          if (macs.source !== plan.engineOut.mac || macs.destination !== plan.sink.mac || ttlOf(rx) !== 63) wrong++;
          out.line(`    first datagram at the sink: ${macs.source} → ${macs.destination}, TTL ${ttlOf(rx)} (sent with 64)`);
        }
      }
    };
    const before = engine.workerStats();
    let last = before, lastAt = performance.now();
    const e = engine;
    const stopLive = out.every(1000, () => {
      const now = e.workerStats(), at = performance.now();
      const delta = forwardedSince(last, now), total = forwardedSince(before, now);
      const shares = ingressSlots.map((s) => percent(now[s]!.forwarded - before[s]!.forwarded, total)).join(' / ');
      const line = total === 0 ? '    … waiting for the first packets' : `    … ${count(total)} forwarded, ${rate((1000 * delta) / (at - lastAt))} now, workers ${shares}`;
      last = now;
      lastAt = at;
      return line;
    });
    const t0 = performance.now();
    const deadline = t0 + f.seconds * 1000;
    let t1 = t0;
    try {
      while (sent < packets && performance.now() < deadline) {
        for (let i = 0; i < f.burst && sent < packets; i++) {
          if (writtenOff > sent - received) writtenOff = sent - received; // late arrivals were not lost after all
          if (sent - received - writtenOff >= f.window) {
            // Window full. Nothing arrived for 300 ms: count what is missing as lost and go on.
            if (performance.now() - progressAt > 300) writtenOff = sent - received;
            break;
          }
          const flow = sent % f.flows;
          setSourcePort(frame, f.basePort + flow);
          const r = sys.write(clientEnds[flow & 1]!, frame, length);
          if (r === -sys.EAGAIN) break; // that pair is full: let the workers catch up
          if (r < 0) throw sys.errnoError('write', r, '(the demo client)');
          sent++;
        }
        drainSink();
        await nextTurn();
        signal?.throwIfAborted();
      }
      t1 = performance.now();
      // What is still in flight arrives within a moment: wait until the sink has been quiet 200 ms (at most 2 s).
      let quietSince = performance.now();
      while (performance.now() - quietSince < 200 && performance.now() - t1 < 2000) {
        const had = received;
        drainSink();
        if (received !== had) quietSince = performance.now();
        await new Promise((resolve) => setTimeout(resolve, 5));
        signal?.throwIfAborted();
      }
    } finally {
      stopLive();
    }
    const after = engine.workerStats();
    const forwarded = forwardedSince(before, after);
    const seconds = (t1 - t0) / 1000;
    const pps = seconds > 0 ? forwarded / seconds : 0;
    out.line(`    the demo wrote ${count(sent)} frames in ${seconds.toFixed(2)} s; netshard forwarded ${count(forwarded)} (${percent(forwarded, sent)}), ${rate(pps)}; the sink read ${count(received)} from ${flowsSeen.reduce((a, b) => a + b, 0)} flows`);
    const drops = dropsByReason(ingressSlots.map((s) => diffStats(before[s]!, after[s]!)));
    out.line(`    drops by reason: ${drops.length === 0 ? 'none' : drops.map(([name, n]) => `${name} ${count(n)}`).join(', ')}`);
    for (const line of workerShares(ingressSlots.map((slot) => ({ slot, stats: diffStats(before[slot]!, after[slot]!) })))) out.line(`    ${line}`);
    if (wrong > 0) throw new NetshardError('ERR_NETSHARD_DEMO_FORWARD', 'the first forwarded frame did not carry the expected MACs and TTL');

    // (2) the stack: ARP and ICMP echo, written into link 0
    out.line('');
    out.line(`(2) the stack: an ARP request and ${SOCKETPAIR_PING.count} ICMP echo requests from ${plan.client.ipv4} to netshard's address ${plan.engineIn.ipv4}, written into link 0`);
    const request = new Uint8Array(128);
    const answers: Uint8Array[] = [];
    const collect = (): void => {
      for (const fd of clientEnds) {
        for (;;) {
          const r = sys.recv(fd, rx, rx.byteLength, sys.MSG_DONTWAIT);
          if (r < 0) break;
          answers.push(rx.slice(0, r));
        }
      }
    };
    /** Polls the client ends until `match` finds an answer or `timeoutMs` passes; returns it with the wait in ms. */
    const await1 = async <T>(match: (frame: Uint8Array) => T | null, sentAt: number): Promise<{ value: T; ms: number } | null> => {
      while (performance.now() - sentAt < SOCKETPAIR_PING.timeoutMs) {
        collect();
        for (let i = 0; i < answers.length; i++) {
          const value = match(answers[i]!);
          if (value !== null) {
            const ms = performance.now() - sentAt;
            answers.splice(i, 1);
            return { value, ms };
          }
        }
        await nextTurn();
        signal?.throwIfAborted();
      }
      return null;
    };
    const send = (bytes: Uint8Array, n: number): number => {
      const r = sys.write(clientEnds[0]!, bytes, n);
      if (r < 0) throw sys.errnoError('write', r, '(the demo client)');
      return performance.now();
    };
    const arp = await await1((frame) => arpReplyFrom(frame, plan.engineIn.ipv4), send(request, writeArpRequestFrame(request, plan.client, plan.engineIn.ipv4)));
    if (arp === null) throw new NetshardError('ERR_NETSHARD_DEMO_ARP', `no ARP reply for ${plan.engineIn.ipv4} within ${SOCKETPAIR_PING.timeoutMs} ms`);
    out.line(`    ARP: who has ${plan.engineIn.ipv4}? tell ${plan.client.ipv4} → ${plan.engineIn.ipv4} is at ${arp.value} (${arp.ms.toFixed(2)} ms)`);
    let replies = 0;
    const ident = process.pid & 0xffff;
    for (let seq = 1; seq <= SOCKETPAIR_PING.count; seq++) {
      const at = send(request, writeEchoRequestFrame(request, plan.client, arp.value, plan.engineIn.ipv4, ident, seq));
      const echo = await await1((frame) => (isEchoReply(frame, plan.engineIn.ipv4, ident, seq) ? true : null), at);
      if (echo === null) out.line(`    seq ${seq}: no reply within ${SOCKETPAIR_PING.timeoutMs} ms`);
      else {
        replies++;
        out.line(`    reply from ${plan.engineIn.ipv4}: seq ${seq} time ${echo.ms.toFixed(2)} ms`);
      }
    }
    const answered = stackAnswers(built.stack);
    out.line(`    ${replies}/${SOCKETPAIR_PING.count} replies; netshard's stack wrote ARP replies: ${answered.arpReplies}, ICMP messages: ${answered.icmpWritten}`);
    signal?.throwIfAborted();

    // (3) reuseport servers on the engine's stack
    const d = DEMO_SERVERS;
    out.line('');
    out.line(`(3) reuseport: ${d.instances} UDP echo servers (app workers) share port ${d.port} on netshard's stack (SO_REUSEPORT); the demo sends ${d.rounds} datagrams on each of ${d.flows} flows to ${plan.engineIn.ipv4}:${d.port}`);
    host = await startDemoServers(built);
    const client = { sent: 0, received: 0, bad: 0, flows: Array.from({ length: d.flows }, () => [] as number[]) };
    const payload = new Uint8Array(12); // flow (u16), round (u16), "netshard"
    payload.set(new TextEncoder().encode('netshard'), 4);
    for (let round = 0; round < d.rounds; round++) {
      for (let flow = 0; flow < d.flows; flow++) {
        payload[0] = flow >>> 8;
        payload[1] = flow & 0xff;
        payload[2] = round >>> 8;
        payload[3] = round & 0xff;
        const n = writeUdpRequestFrame(request, plan.client, arp.value, plan.engineIn.ipv4, d.basePort + flow, d.port, payload);
        const r = sys.write(clientEnds[flow & 1]!, request, n);
        if (r < 0) throw sys.errnoError('write', r, '(the demo client)');
        client.sent++;
      }
      await nextTurn(); // 64 frames at a time: the pairs hold them, the engine takes them meanwhile
    }
    const waitedFrom = performance.now();
    while (client.received + client.bad < client.sent && performance.now() - waitedFrom < d.timeoutMs) {
      collect();
      for (const frame of answers.splice(0)) {
        const udp = udpFrom(frame, plan.engineIn.ipv4, d.port);
        if (udp === null) continue; // not for this step
        const flow = udp.destinationPort - d.basePort, p = udp.payload;
        const intact = flow >= 0 && flow < d.flows && p.byteLength === 13 && ((p[1]! << 8) | p[2]!) === flow &&
          new TextDecoder().decode(p.subarray(5)) === 'netshard';
        if (!intact) {
          client.bad++;
          continue;
        }
        client.received++;
        const seen = client.flows[flow]!;
        if (!seen.includes(p[0]!)) seen.push(p[0]!);
      }
      await nextTurn();
      signal?.throwIfAborted();
    }
    const reuseport = reportReuseport(out, client, host.readStats());

    return {
      sent, forwarded, delivered: received, forwardPps: pps, arpReplies: answered.arpReplies, echoRequests: SOCKETPAIR_PING.count, echoReplies: replies,
      reuseport, skipped: [],
    };
  } finally {
    try {
      try {
        if (host !== null) await host.close(); // servers first: their ports, then the engine they run on
      } finally {
        if (engine !== null) await engine.stop();
      }
    } finally {
      closeFds(pairs.flat());
    }
  }
}
