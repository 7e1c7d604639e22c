/**
 * What `netshard demo` prints, and how: numbers and rates, per-worker shares, drops by reason, and the live
 * line (refreshed in place on a terminal, one plain line per refresh otherwise). The demo never writes to
 * stdout itself; every line goes through the caller's `log` (only the CLI, `main.ts` and `workers/cli-*.ts`, prints).
 *
 * Thread: main. Control path (a line a second at most).
 */
import type { AppInstanceStats } from './app-channel.ts';
import type { WorkerStats } from './stats.ts';

/** ANSI: cursor up one line, erase that line. Printed before a live line that replaces the previous one. */
export const REPLACE_PREVIOUS_LINE = '\x1b[1A\x1b[2K';

/**
 * The demo's output: plain lines, and live lines that replace each other on a terminal. Each `log` call is
 * one line without its newline; on a TTY a live line that follows another live line starts with
 * `REPLACE_PREVIOUS_LINE`, so printing it with a newline overwrites the previous one.
 */
export class DemoOutput {
  private readonly log: (line: string) => void;
  private readonly isTTY: boolean;
  private liveShown = false;

  /** Wraps the caller's `log`; `isTTY` says whether live lines may move the cursor. */
  constructor(log: (line: string) => void, isTTY: boolean) {
    this.log = log;
    this.isTTY = isTTY;
  }

  /** Prints `text` (one line per '\n'). */
  line(text = ''): void {
    this.liveShown = false;
    for (const part of text.split('\n')) this.log(part);
  }

  /** Prints `text` as the live line: on a TTY it replaces the previous live line printed right before it. */
  live(text: string): void {
    this.log(this.isTTY && this.liveShown ? REPLACE_PREVIOUS_LINE + text : text);
    this.liveShown = true;
  }

  /**
   * Calls `sample()` every `everyMs` ms and prints what it returns as the live line, until the returned
   * function is called. The timer is unref'd (it never keeps the process alive by itself).
   */
  every(everyMs: number, sample: () => string): () => void {
    const timer = setInterval(() => this.live(sample()), everyMs);
    timer.unref();
    return () => clearInterval(timer);
  }
}

/** Returns `n` with thousands separators: 200,000. */
export function count(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** Returns a packet rate for people: 812 pps, 172.3 kpps, 1.02 Mpps. */
export function rate(pps: number): string {
  if (!Number.isFinite(pps) || pps <= 0) return '0 pps';
  if (pps >= 1e6) return `${(pps / 1e6).toFixed(2)} Mpps`;
  if (pps >= 1e3) return `${(pps / 1e3).toFixed(1)} kpps`;
  return `${Math.round(pps)} pps`;
}

/** Returns `part / whole` as a percentage with one decimal ('—' when `whole` is 0). */
export function percent(part: number, whole: number): string {
  return whole > 0 ? `${((100 * part) / whole).toFixed(1)}%` : '—';
}

/** Outcomes of the stack forwarder that are not drops: forwarded, for the engine itself, queued. */
const NOT_DROPS = new Set(['Forwarded', 'Local', 'Queued']);

/**
 * Returns the drops of `workers` by reason, as 'name count' pairs, only the non-zero ones: parse failures
 * (by `ParseReason` name), the forwarder's drops (by `ForwardReason` name), packets for the coordinator it
 * could not take (`ringDrops`), sends the kernel refused (`txDrops`), plus `extra` (reasons measured
 * elsewhere, e.g. the kernel's AF_PACKET queue drops). Allocates (control path).
 */
export function dropsByReason(workers: readonly WorkerStats[], extra: Record<string, number> = {}): [string, number][] {
  const drops = new Map<string, number>();
  const add = (name: string, n: number): void => {
    if (n > 0) drops.set(name, (drops.get(name) ?? 0) + n);
  };
  for (const s of workers) {
    for (const [name, n] of Object.entries(s.rxDropsByReason)) add(`parse: ${name}`, n);
    for (const [name, n] of Object.entries(s.forwardReasons)) if (!NOT_DROPS.has(name)) add(`forward: ${name}`, n);
    add('coordinator ring full', s.ringDrops);
    add('send refused by the kernel', s.txDrops);
  }
  for (const [name, n] of Object.entries(extra)) add(name, n);
  return [...drops];
}

/** Returns one line per worker: its packets received and forwarded, and its share of all forwarded. */
export function workerShares(workers: readonly { slot: number; stats: WorkerStats }[]): string[] {
  const total = workers.reduce((t, w) => t + w.stats.forwarded, 0);
  return workers.map(
    ({ slot, stats }) =>
      `worker ${slot}: received ${count(stats.rxPackets)}, forwarded ${count(stats.forwarded)} (${percent(stats.forwarded, total)})`,
  );
}

/** Returns how many packets the workers forwarded between two snapshots of `engine.workerStats()`. */
export function forwardedSince(before: readonly WorkerStats[], after: readonly WorkerStats[]): number {
  let n = 0;
  for (let i = 0; i < after.length; i++) n += after[i]!.forwarded - (before[i]?.forwarded ?? 0);
  return n;
}

/**
 * Returns `after - before` for every counter of a worker's stats (and of its by-reason maps, keeping the
 * non-zero ones): what a step did, whatever ran before it.
 */
export function diffStats(before: WorkerStats, after: WorkerStats): WorkerStats {
  const out = { ...after, rxDropsByReason: {}, forwardReasons: {} } as WorkerStats;
  const counters = out as unknown as Record<string, unknown>, was = before as unknown as Record<string, unknown>;
  for (const [key, value] of Object.entries(after)) {
    const old = was[key];
    if (typeof value === 'number' && typeof old === 'number') counters[key] = value - old;
  }
  for (const [name, n] of Object.entries(after.rxDropsByReason)) {
    const d = n - (before.rxDropsByReason[name] ?? 0);
    if (d > 0) out.rxDropsByReason[name] = d;
  }
  for (const [name, n] of Object.entries(after.forwardReasons)) {
    const d = n - (before.forwardReasons[name] ?? 0);
    if (d > 0) out.forwardReasons[name] = d;
  }
  return out;
}

/** What one tour measured; `runDemo` adds the mode and the time. */
export interface TourResult {
  /** Datagrams the client sent toward the sink. */
  sent: number;
  /** Packets the engine's workers forwarded. */
  forwarded: number;
  /** Datagrams the sink received. */
  delivered: number;
  /** Forwarded packets per second while the client sent. */
  forwardPps: number;
  /** ARP replies the engine's stack wrote. */
  arpReplies: number;
  /** Echo requests sent to the engine's address, and replies received. */
  echoRequests: number;
  echoReplies: number;
  /** The reuseport step: servers, flows and echoes (null when it did not run). */
  reuseport: ReuseportSummary | null;
  /** Steps left out, and why. */
  skipped: { step: string; why: string }[];
}

/** What the reuseport step found. */
export interface ReuseportSummary {
  instances: number;
  flows: number;
  sent: number;
  /** Echoes that came back intact. */
  echoes: number;
  /** Flows answered by more than one instance (0 when SO_REUSEPORT keeps every flow on one instance). */
  splitFlows: number;
}

/**
 * Prints the reuseport step's result: the client's view (`client`: per flow, the instances that answered)
 * and the servers' (`instances`: each one's counters), and returns its summary.
 */
export function reportReuseport(
  out: DemoOutput,
  client: { sent: number; received: number; bad: number; flows: readonly (readonly number[])[] },
  instances: readonly AppInstanceStats[],
): ReuseportSummary {
  const splitFlows = client.flows.filter((f) => f.length > 1).length;
  out.line(`    echoes received ${count(client.received)}/${count(client.sent)}${client.bad > 0 ? `, ${client.bad} not an echo of the request` : ', each an intact echo of its request'}`);
  for (const s of instances) {
    const byClient = client.flows.filter((f) => f.length === 1 && f[0] === s.instance).length;
    out.line(`    instance ${s.instance}: ${byClient} flows (by the client's count; ${count(s.flowsSeen)} seen by the instance), ${count(s.datagramsIn)} datagrams in, ${count(s.datagramsOut)} replies out`);
  }
  const silent = client.flows.filter((f) => f.length === 0).length;
  out.line(
    splitFlows === 0
      ? `    every flow was answered by one instance only (the flow hash picks it, as Linux's SO_REUSEPORT)${silent > 0 ? `; ${silent} flows got no answer` : ''}`
      : `    ${splitFlows} flows were answered by more than one instance`,
  );
  return { instances: instances.length, flows: client.flows.length, sent: client.sent, echoes: client.received, splitFlows };
}
