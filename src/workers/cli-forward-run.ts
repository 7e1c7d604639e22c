/**
 * `netshard forward` once its engine is built (`cli-forward.ts`): runs it until a signal, --duration, or a
 * link without workers; keeps every worker generation's counters; prints the live view once a second and
 * the summary (a table, or one JSON object with --json).
 *
 * Thread: main. Control path throughout.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { NetshardError } from '../errors.ts';
import type { ForwardOptions } from './cli-forward.ts';
import { EXIT_OK, count, trapStopSignals, type StopReason } from './cli-common.ts';
import type { Engine } from './coordinator.ts';
import type { WorkerExitEvent } from './engine-events.ts';
import type { ForwardResolver } from './forward-resolver.ts';
import type { KernelLink } from './forward-setup.ts';
import type { WorkerStats } from './stats.ts';

// ─── forward: counters ──────────────────────────────────────────────────────────────────────────────────

const COUNTERS = ['rxPackets', 'rxBytes', 'txPackets', 'txBytes', 'forwarded', 'toCoordinator', 'rxDrops', 'forwardDrops', 'ringDrops', 'txDrops'] as const;
type Counts = Record<(typeof COUNTERS)[number], number>;

interface SlotTotals extends Counts {
  /** Packets this slot lost in any way: parse, forwarder, ring and send drops. */
  drops: number;
  rxDropsByReason: Record<string, number>;
  forwardReasons: Record<string, number>;
}

/**
 * Per worker slot, the counters of every generation: `workerStats()` shows only the live one, so a
 * generation's final counts are carried over when it exits (the 'workerExit' listener runs before the
 * engine spawns the replacement, so `workerStats()[slot]` is still the gone one's there).
 */
class Tally {
  private readonly carried: SlotTotals[];

  constructor(slots: number) {
    this.carried = Array.from({ length: slots }, () => emptyTotals());
  }

  carry(slot: number, stats: WorkerStats): void {
    const c = this.carried[slot];
    if (c !== undefined) addInto(c, stats);
  }

  totals(live: readonly WorkerStats[]): SlotTotals[] {
    return this.carried.map((c, slot) => addInto(addInto(emptyTotals(), c), live[slot]));
  }
}

function emptyTotals(): SlotTotals {
  const t = { drops: 0, rxDropsByReason: {}, forwardReasons: {} } as SlotTotals;
  for (const k of COUNTERS) t[k] = 0;
  return t;
}

function addInto(into: SlotTotals, from: WorkerStats | SlotTotals | undefined): SlotTotals {
  if (from === undefined) return into;
  for (const k of COUNTERS) into[k] += from[k];
  into.drops = into.rxDrops + into.forwardDrops + into.ringDrops + into.txDrops;
  for (const [k, v] of Object.entries(from.rxDropsByReason)) into.rxDropsByReason[k] = (into.rxDropsByReason[k] ?? 0) + v;
  for (const [k, v] of Object.entries(from.forwardReasons)) into.forwardReasons[k] = (into.forwardReasons[k] ?? 0) + v;
  return into;
}

/** Main-thread CPU seconds (user + system) from /proc/self/task/<pid>/stat: the coordinator's share. */
function mainThreadCpuSeconds(): number {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in USER_HZ ticks (100 on Linux)
  } catch {
    return Number.NaN;
  }
}

// ─── forward: printing ──────────────────────────────────────────────────────────────────────────────────

const rate = (pps: number): string => (pps >= 1e6 ? `${(pps / 1e6).toFixed(2)} M` : pps >= 1e3 ? `${(pps / 1e3).toFixed(1)} k` : `${Math.round(pps)}`);

function table(labels: readonly string[], totals: readonly SlotTotals[], pps: readonly number[]): string[] {
  const rows = [['worker', 'rx', 'tx', 'forwarded', 'to coord', 'drops', 'rx pps']];
  totals.forEach((t, i) => rows.push([labels[i]!, count(t.rxPackets), count(t.txPackets), count(t.forwarded), count(t.toCoordinator), count(t.drops), rate(pps[i] ?? 0)]));
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]! + 2))).join(''));
}

/** Forwarder outcomes that are not drops in the worker: sent, for the stack, or handed to the resolver. */
const HANDED_ON = new Set(['Forwarded', 'Local', 'Queued', 'Unresolved', 'NeighborFailed', 'NeighborFull']);

/** 'NoRoute 5, TtlExceeded 2, parse Ipv4BadIhl 1, …': the workers' drops by reason, '' when none. */
function dropReasons(t: SlotTotals): string {
  const parts: string[] = [];
  for (const [name, n] of Object.entries(t.forwardReasons)) if (n > 0 && !HANDED_ON.has(name)) parts.push(`${name} ${count(n)}`);
  for (const [name, n] of Object.entries(t.rxDropsByReason)) if (n > 0) parts.push(`parse ${name} ${count(n)}`);
  if (t.ringDrops > 0) parts.push(`coordinator behind ${count(t.ringDrops)}`);
  if (t.txDrops > 0) parts.push(`send refused ${count(t.txDrops)}`);
  return parts.join(', ');
}

// ─── forward: run ───────────────────────────────────────────────────────────────────────────────────────

/** Runs a built engine until a signal, --duration, or a link without workers; prints; returns the exit code. */
export async function runForward(
  o: ForwardOptions, engine: Engine, resolver: ForwardResolver | null, labels: string[], kernel: KernelLink[], say: (line: string) => void,
): Promise<number> {
  const tally = new Tally(labels.length);
  const exits: { worker: string; generation: number; reason: string; restarting: boolean; error: string | null }[] = [];
  let stop: (reason: StopReason) => void = () => {};
  const stopped = new Promise<StopReason>((resolve) => (stop = resolve));
  let failure = '';
  let live: LiveView | null = null;
  const note = (line: string): void => {
    live?.end(); // a TTY table is redrawn below the note at the next tick
    say(line);
  };
  const gone = new Set<number>();
  engine.on('workerExit', (e: WorkerExitEvent) => {
    tally.carry(e.slot, engine.workerStats()[e.slot]!);
    exits.push({ worker: labels[e.slot]!, generation: e.generation, reason: e.reason, restarting: e.restarting, error: e.error?.message ?? null });
    note(`worker ${labels[e.slot]} ${e.reason}${e.error === null ? '' : ` (${e.error.message})`}${e.restarting ? ', restarting' : ''}`);
    if (e.restarting) return;
    gone.add(e.slot);
    const link = e.slot < o.workers ? 0 : 1;
    const slots = labels.map((_, s) => s).filter((s) => (s < o.workers ? 0 : 1) === link);
    if (slots.every((s) => gone.has(s))) {
      failure = `${o.links[link]}: no worker left${e.error === null ? '' : ` (${e.error.message})`}`;
      stop('link-ended');
    }
  });
  const signals = trapStopSignals((signal) => stop(signal));
  try {
    await engine.start();
    const startedAt = performance.now();
    const eluStart = performance.eventLoopUtilization();
    const cpuStart = mainThreadCpuSeconds();
    const what = o.bridge ? 'L2 bridge' : `L3, ${kernel.reduce((n, k) => n + k.addresses.length, 0)} addresses, ${o.routes.length} extra routes`;
    say(`forwarding ${o.links[0]} <-> ${o.links[1]}${o.netns === undefined ? '' : ` in ${o.netns}`}: ${what}, ${o.mode}, ${o.workers} worker(s) per side; Ctrl-C stops`);
    const view = new LiveView(o.json ? process.stderr : process.stdout, labels, engine, tally, say, resolver);
    live = view;
    const timer = setInterval(() => view.tick(), 1000);
    const limit = o.duration > 0 ? setTimeout(() => stop('duration'), o.duration * 1000) : null;
    const reason = await stopped;
    signals.markStopping();
    clearInterval(timer);
    if (limit !== null) clearTimeout(limit);
    view.end();
    live = null;
    const elu = performance.eventLoopUtilization(eluStart);
    const cpu = mainThreadCpuSeconds() - cpuStart;
    const seconds = (performance.now() - startedAt) / 1000;
    await engine.stop();
    const totals = tally.totals(engine.workerStats());
    const sum = emptyTotals();
    for (const t of totals) addInto(sum, t);
    const coordinator = {
      eventLoopUtilization: elu.utilization,
      cpuSeconds: cpu,
      busyFraction: seconds > 0 ? cpu / seconds : 0,
      ...(resolver === null ? {} : { neighbors: resolver.stats() }),
      ...engine.coordinatorStats(),
    };
    if (o.json) {
      const workers = totals.map((t, slot) => ({ slot, worker: labels[slot], interface: o.links[slot < o.workers ? 0 : 1], queue: slot % o.workers, ...t }));
      const summary = {
        command: 'forward', in: o.links[0], out: o.links[1], netns: o.netns ?? null, mode: o.mode, workersPerLink: o.workers, bridge: o.bridge, tun: o.tun,
        qdiscBypass: !o.tun && !o.qdisc,
        stoppedBy: reason, seconds, totals: { ...sum, rxPps: sum.rxPackets / seconds, txPps: sum.txPackets / seconds }, workers, coordinator, exits,
      };
      process.stdout.write(`${JSON.stringify(summary)}\n`);
    }
    say(`stopped (${reason}) after ${seconds.toFixed(1)} s`);
    for (const line of table([...labels, 'total'], [...totals, sum], [...totals, sum].map((t) => t.rxPackets / seconds))) say(line);
    say(
      `coordinator: event loop ${(elu.utilization * 100).toFixed(1)}% busy, main thread ${(coordinator.busyFraction * 100).toFixed(1)}% of a core; ` +
        `${engine.coordinatorStats().restarts} worker restart(s)`,
    );
    const dropped = dropReasons(sum);
    if (dropped !== '') say(`drops by reason: ${dropped}`);
    if (coordinator.noStack > 0) say(`to coord with nothing there to take them (freed): ${count(coordinator.noStack)}`);
    if (coordinator.neighbors !== undefined) {
      const n = coordinator.neighbors;
      say(
        `next hops: ${n.resolutions} resolved, ${n.failures} failed (${n.solicits} requests); ${n.handoffs} packet(s) without one went to the coordinator: ` +
          `${n.forwarded} sent at once, ${n.queued} queued, ${n.sentAfterResolution} sent after resolution, ${n.unresolved + n.dropped} dropped; ` +
          `${n.published} entries in the workers (${n.updates} update(s))`,
      );
    }
    if (failure !== '') throw new NetshardError('ERR_NETSHARD_LINK_ENDED', failure);
    return EXIT_OK;
  } finally {
    await engine.stop();
    signals.release();
  }
}

/** The once-a-second view: a table redrawn in place on a TTY, one plain line otherwise. */
class LiveView {
  private readonly tty: boolean;
  private drawn = 0;
  private previous: SlotTotals[] | null = null;
  private ticks = 0;

  private readonly stream: NodeJS.WriteStream;
  private readonly labels: string[];
  private readonly engine: Engine;
  private readonly tally: Tally;
  private readonly say: (line: string) => void;
  private readonly resolver: ForwardResolver | null;

  constructor(stream: NodeJS.WriteStream, labels: string[], engine: Engine, tally: Tally, say: (line: string) => void, resolver: ForwardResolver | null) {
    this.stream = stream;
    this.labels = labels;
    this.engine = engine;
    this.tally = tally;
    this.say = say;
    this.resolver = resolver;
    this.tty = stream.isTTY === true;
  }

  /** The next-hop part of a line: entries the workers hold, packets the coordinator forwarded for them. */
  private nextHops(): string {
    if (this.resolver === null) return '';
    const n = this.resolver.stats();
    return `next hops: ${n.published} in workers, ${n.handoffs} via coordinator, ${n.unresolved + n.dropped} unresolved`;
  }

  tick(): void {
    this.ticks++;
    const totals = this.tally.totals(this.engine.workerStats());
    const pps = totals.map((t, i) => t.rxPackets - (this.previous?.[i]?.rxPackets ?? 0));
    const txPps = totals.reduce((n, t, i) => n + t.txPackets - (this.previous?.[i]?.txPackets ?? 0), 0);
    this.previous = totals;
    const rx = pps.reduce((a, b) => a + b, 0);
    if (!this.tty) {
      const per = totals.map((t, i) => `${this.labels[i]} rx ${count(t.rxPackets)} tx ${count(t.txPackets)} fwd ${count(t.forwarded)} drop ${count(t.drops)}`);
      const hops = this.nextHops();
      this.say(`[${this.ticks}s] rx ${rate(rx)}pps tx ${rate(txPps)}pps | ${per.join(' | ')}${hops === '' ? '' : ` | ${hops}`}`);
      return;
    }
    const lines = [`[${this.ticks}s] total rx ${rate(rx)}pps, tx ${rate(txPps)}pps`, ...table(this.labels, totals, pps)];
    if (this.resolver !== null) lines.push(this.nextHops());
    const stream = this.stream;
    if (this.drawn > 0) stream.write(`\x1b[${this.drawn}F\x1b[J`); // back to the table's first line, clear below
    stream.write(`${lines.join('\n')}\n`);
    this.drawn = lines.length;
  }

  end(): void {
    if (this.tty && this.drawn > 0) this.stream.write(`\x1b[${this.drawn}F\x1b[J`);
    this.drawn = 0;
  }
}
