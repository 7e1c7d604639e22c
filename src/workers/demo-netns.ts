/**
 * The demo as root: a lab of three namespaces (client, engine, sink; names with the pid), AF_PACKET fanout
 * sockets opened inside the engine's namespace, the engine on them, and the kernel's own sockets as client
 * and sink (python3, `demo-python.ts`):
 *
 * ```
 *   ns-dcli-<pid>                 ns-deng-<pid> (no address in the kernel)          ns-dsnk-<pid>
 *   client 198.18.1.1 ══veth══ dein ─ 2 fanout sockets ─ workers 0,1 ┐            sink 198.19.1.1
 *   (kernel UDP, ping)          198.18.1.2 is the engine's stack     ├─ deout ══veth══ (kernel UDP)
 *                                                        worker 2 ───┘  198.19.1.2
 * ```
 * (1) forwarding: 64 flows of UDP from the client to the sink through the engine, bounded (200k datagrams
 * or 5 s); (2) interop: ICMP echo from the client's kernel to the engine's own address, after the client's
 * kernel resolved that address by ARP, which the engine's stack answered (ns-deng's kernel holds no address,
 * so nothing else could); (3) reuseport: UDP echo servers in app workers sharing one port on the engine's
 * stack, a kernel client on many source ports, each flow answered by one instance. Everything is deleted
 * at the end, also on an error or an abort.
 *
 * Thread: main. Control path; the traffic runs in child processes and in the engine's workers.
 */
import { NetshardError } from '../errors.ts';
import { closeFds, openPacketSockets, syscalls as sys } from '../fdbased/index.ts';
import type { AppHost } from './app-host.ts';
import { DEMO_SERVERS, createDemoEngine, slotsOf, stackAnswers, startDemoServers, type DemoPlan } from './demo-engine.ts';
import { FLOOD_PY, PING_PY, REUSEPORT_PY, runPython, type FloodResult, type PingResult, type ReuseportClientResult } from './demo-python.ts';
import { count, diffStats, dropsByReason, forwardedSince, percent, rate, reportReuseport, workerShares, type DemoOutput, type TourResult } from './demo-report.ts';
import type { Engine } from './coordinator.ts';
import { createLab, startNamespaceReaper, type ForwardTopology, type LabNames } from './lab.ts';

/** Name stems of the demo's lab (`-<pid>` appended). */
export const DEMO_LAB_NAMES: Readonly<LabNames> = { genNs: 'ns-dcli', fwdNs: 'ns-deng', sinkNs: 'ns-dsnk', gen: 'dcli', fwdIn: 'dein', fwdOut: 'deout', sink: 'dsnk' };

/** The forwarding step's default bounds (`count` datagrams, `seconds`) and shape. */
export const NETNS_FLOOD = { count: 200_000, seconds: 5, flows: 64, basePort: 40_000, port: 9_000, payloadBytes: 18 } as const;
/** The interop step: echo requests, their spacing and how long each waits. */
export const NETNS_PING = { count: 5, intervalMs: 100, timeoutMs: 1000 } as const;

/** Reads and resets the kernel's counters of an AF_PACKET socket (PACKET_STATISTICS): packets and drops. */
function packetStatistics(fd: number): { packets: number; drops: number } {
  const stats = new Uint32Array(2); // struct tpacket_stats { unsigned tp_packets, tp_drops; }
  const length = new Int32Array([8]);
  if (sys.getsockopt(fd, sys.SOL_PACKET, sys.PACKET_STATISTICS, stats, length) < 0) return { packets: 0, drops: 0 };
  return { packets: stats[0]!, drops: stats[1]! };
}

function planOf(lab: ForwardTopology): DemoPlan {
  return { client: lab.gen, engineIn: lab.fwdIn, engineOut: lab.fwdOut, sink: lab.sink };
}

/**
 * Runs the namespace tour, printing through `out`, the forwarding step bounded by `packets` datagrams and
 * `NETNS_FLOOD.seconds`; resolves with what it measured. Precondition: root
 * (`labUnavailableReason()` is ''). Deletes every namespace, fd and thread it made before it settles.
 * Rejects with `signal.reason` when aborted, with ERR_NETSHARD_DEMO_* when a step cannot run.
 */
export async function runNetnsTour(out: DemoOutput, signal: AbortSignal | undefined, packets: number = NETNS_FLOOD.count): Promise<TourResult> {
  const started = performance.now();
  // Deletes the namespaces even if this process is killed before its finally runs (see startNamespaceReaper).
  const reaper = startNamespaceReaper([DEMO_LAB_NAMES.genNs, DEMO_LAB_NAMES.fwdNs, DEMO_LAB_NAMES.sinkNs].map((stem) => `${stem}-${process.pid}`));
  let lab: ForwardTopology;
  try {
    lab = createLab({
      names: DEMO_LAB_NAMES,
      forwarderAddresses: 'user',
      ipv6: false,
      queues: 2,
      // Ping sockets (SOCK_DGRAM + IPPROTO_ICMP) for every group, in the client namespace only.
      sysctls: { gen: { 'net.ipv4.ping_group_range': '0 2147483647' } },
    });
  } catch (err) {
    reaper.release(); // createLab deleted what it made
    throw err;
  }
  const destroyOnExit = (): void => lab.destroy(); // a process that exits mid-tour still leaves nothing behind
  process.once('exit', destroyOnExit);
  const fds: number[] = [];
  let engine: Engine | null = null;
  let host: AppHost | null = null;
  try {
    const plan = planOf(lab);
    const ns = lab.namespaces;
    out.line(`lab: ${ns.gen} (client ${plan.client.ipv4}) ══ ${ns.fwd} (netshard on ${lab.fwdIn.name} ${plan.engineIn.ipv4}, ${lab.fwdOut.name} ${plan.engineOut.ipv4}) ══ ${ns.sink} (sink ${plan.sink.ipv4})`);
    out.line(`     ${ns.fwd}'s kernel holds no address: ARP, ICMP and forwarding there are netshard's (made in ${Math.round(performance.now() - started)} ms)`);
    const ingress = openPacketSockets(lab.fwdIn.name, 2, { netns: ns.fwd });
    fds.push(...ingress.fds);
    const egress = openPacketSockets(lab.fwdOut.name, 1, { netns: ns.fwd });
    fds.push(...egress.fds);
    const built = createDemoEngine(plan, ingress.fds, egress.fds);
    engine = built.engine;
    await engine.start();
    out.line(`engine: ${engine.slotCount} dispatch workers: 2 on ${lab.fwdIn.name} (AF_PACKET, PACKET_FANOUT_HASH group ${ingress.fanoutId}), 1 on ${lab.fwdOut.name}; its stack on the main thread`);
    signal?.throwIfAborted();
    const ingressSlots = slotsOf(engine, 0);

    // (1) forwarding
    out.line('');
    out.line(`(1) forwarding: ${NETNS_FLOOD.flows} UDP flows from the client's kernel to the sink through netshard (at most ${count(packets)} datagrams or ${NETNS_FLOOD.seconds} s)`);
    for (const fd of ingress.fds) packetStatistics(fd); // reset
    const before = engine.workerStats();
    let last = before, lastAt = performance.now();
    const e = engine;
    const stopLive = out.every(1000, () => {
      const now = e.workerStats(), at = performance.now();
      const delta = forwardedSince(last, now), total = forwardedSince(before, now);
      const shares = ingressSlots.map((s) => percent(now[s]!.forwarded - before[s]!.forwarded, total)).join(' / ');
      last = now;
      const line = total === 0 ? '    … waiting for the first packets' : `    … ${count(total)} forwarded, ${rate((1000 * delta) / (at - lastAt))} now, workers ${shares}`;
      lastAt = at;
      return line;
    });
    let flood: FloodResult;
    try {
      flood = await runPython<FloodResult>('UDP client and sink', FLOOD_PY, {
        clientNs: ns.gen, sinkNs: ns.sink, src: plan.client.ipv4, dst: plan.sink.ipv4, gateway: plan.engineIn.ipv4,
        port: NETNS_FLOOD.port, basePort: NETNS_FLOOD.basePort, flows: NETNS_FLOOD.flows, count: packets,
        seconds: NETNS_FLOOD.seconds, size: NETNS_FLOOD.payloadBytes,
      }, 20_000, signal);
    } finally {
      stopLive();
    }
    const after = engine.workerStats();
    let kernelDrops = 0;
    for (const fd of ingress.fds) kernelDrops += packetStatistics(fd).drops;
    const forwarded = forwardedSince(before, after);
    if (flood.gatewayMac === null) {
      throw new NetshardError('ERR_NETSHARD_DEMO_ARP', `the client's kernel got no ARP answer for ${plan.engineIn.ipv4} from netshard within 3 s`);
    }
    out.line(`    the client's kernel resolved its gateway ${plan.engineIn.ipv4} to ${flood.gatewayMac} in ${flood.arpMs.toFixed(1)} ms: netshard's stack answered its ARP request`);
    const pps = flood.sendSeconds > 0 ? forwarded / flood.sendSeconds : 0;
    out.line(`    client sent ${count(flood.sent)} datagrams in ${flood.sendSeconds.toFixed(2)} s (${rate(flood.sent / Math.max(flood.sendSeconds, 1e-3))}${flood.sendErrors > 0 ? `, ${count(flood.sendErrors)} sends refused` : ''})`);
    out.line(`    netshard forwarded ${count(forwarded)} (${percent(forwarded, flood.sent)}), ${rate(pps)}; the sink received ${count(flood.received)}`);
    const drops = dropsByReason(ingressSlots.map((s) => diffStats(before[s]!, after[s]!)), { 'AF_PACKET queue full (kernel, before the engine)': kernelDrops });
    out.line(`    drops by reason: ${drops.length === 0 ? 'none' : drops.map(([name, n]) => `${name} ${count(n)}`).join(', ')}`);
    for (const line of workerShares(ingressSlots.map((slot) => ({ slot, stats: diffStats(before[slot]!, after[slot]!) })))) out.line(`    ${line}`);
    signal?.throwIfAborted();

    // (2) interop with the kernel
    out.line('');
    out.line(`(2) interop: ${NETNS_PING.count} ICMP echo requests from the client's kernel (a ping socket) to netshard's own address ${plan.engineIn.ipv4}`);
    const answeredBefore = stackAnswers(built.stack);
    const ping = await runPython<PingResult>('ping', PING_PY, {
      clientNs: ns.gen, dst: plan.engineIn.ipv4, count: NETNS_PING.count, intervalMs: NETNS_PING.intervalMs, timeoutMs: NETNS_PING.timeoutMs,
    }, 20_000, signal);
    ping.rtts.forEach((rtt, i) => out.line(rtt === null ? `    seq ${i + 1}: no reply within ${NETNS_PING.timeoutMs} ms` : `    reply from ${plan.engineIn.ipv4}: seq ${i + 1} time ${rtt.toFixed(2)} ms`));
    const replies = ping.rtts.filter((r) => r !== null).length;
    const answered = stackAnswers(built.stack);
    out.line(`    ${replies}/${ping.rtts.length} replies; netshard's stack wrote ICMP messages: ${answered.icmpWritten - answeredBefore.icmpWritten}, ARP replies: ${answered.arpReplies} (in all); the client's neighbour entry: ${plan.engineIn.ipv4} at ${ping.mac ?? '(none)'}`);
    signal?.throwIfAborted();

    // (3) reuseport servers on the engine's stack
    const d = DEMO_SERVERS;
    out.line('');
    out.line(`(3) reuseport: ${d.instances} UDP echo servers (app workers) share port ${d.port} on netshard's stack (SO_REUSEPORT); the client's kernel sends ${d.rounds} datagrams on each of ${d.flows} flows to ${plan.engineIn.ipv4}:${d.port}`);
    host = await startDemoServers(built);
    const client = await runPython<ReuseportClientResult>('reuseport client', REUSEPORT_PY, {
      clientNs: ns.gen, src: plan.client.ipv4, dst: plan.engineIn.ipv4, port: d.port, flows: d.flows, rounds: d.rounds,
      basePort: d.basePort, timeoutMs: d.timeoutMs,
    }, 20_000, signal);
    const reuseport = reportReuseport(out, client, host.readStats());

    return {
      sent: flood.sent, forwarded, delivered: flood.received, forwardPps: pps, arpReplies: answered.arpReplies,
      echoRequests: ping.rtts.length, echoReplies: replies, reuseport,
      skipped: [],
    };
  } finally {
    try {
      try {
        if (host !== null) await host.close(); // servers first: their ports, then the engine they run on
      } finally {
        if (engine !== null) await engine.stop();
      }
    } finally {
      closeFds(fds);
      lab.destroy();
      process.off('exit', destroyOnExit);
      reaper.release();
    }
  }
}
