/**
 * `netshard bench`'s results: the matrix's cases and traffic points, one cell per (forwarder, point) with
 * medians over its runs and its ratios to both baselines, the terminal table, and the SVG plots.
 * Pure functions of the measured runs; the runner measures and writes the files.
 *
 * Thread: main. Control path.
 */
import type { BenchMode, BenchOptions } from './options.ts';
import type { CdfPoint, LatencySummary } from './histogram.ts';
import type { ThreadBusy } from './proc.ts';
import { lineChart } from './svg.ts';
import { formatMpps, formatNumber, formatPercent, formatRatio, formatTable } from './table.ts';

/** Who forwards in ns-fwd. */
export type ForwarderKind = 'kernel' | 'c' | 'netshard';

/** One forwarder under test: a row group of the table. */
export interface ForwarderCase {
  kind: ForwarderKind;
  /** Dispatch mode; null for the kernel. */
  mode: BenchMode | null;
  /** Workers per interface (netshard) or threads (C); null for the kernel. */
  workers: number | null;
  /** 'kernel', 'C recvmmsg 1t', 'netshard recvmmsg 1w'. */
  label: string;
}

/** One traffic shape the generator sends. */
export interface TrafficPoint {
  /** Ethernet frame bytes, header and FCS included (RFC 2544). */
  frameBytes: number;
  /** UDP payload bytes: frameBytes - 14 (Ethernet) - 20 (IPv4) - 8 (UDP) - 4 (FCS). */
  payloadBytes: number;
  /** UDP flows (source ports). */
  flows: number;
}

/** What one run of one cell measured. */
export interface RunSample {
  /** Run index, 0-based. */
  run: number;
  /** Datagrams the generator sent, and its send time in seconds. */
  sent: number;
  generatorSeconds: number;
  generatorPps: number;
  /** Datagrams at the sink, its first-to-last time, and their rate. */
  received: number;
  sinkSeconds: number;
  sinkPps: number;
  /** 1 - received / sent, at least 0. */
  loss: number;
  /**
   * CPU seconds of the forwarding during the run: the forwarder process's utime + stime (netshard: all its
   * threads; C: all its threads), or for the kernel the machine's softirq time (see `softirqSeconds`).
   */
  cpuSeconds: number;
  /** The machine's softirq seconds (all CPUs, /proc/stat) during the run, whoever forwards. */
  softirqSeconds: number;
  /** The sink's receive-buffer overflows (the sink, not the forwarder, was the bottleneck). */
  sinkOverflows: number;
  /** Latency samples the sink kept. */
  latencySamples: number;
  /** Wall-clock seconds of the CPU window: from just before the generator starts to the end of the drain. */
  windowSeconds: number;
  /**
   * netshard only: the coordinator's (the forwarder's main thread, tid == pid) utime + stime over the window
   * divided by `windowSeconds`: the fraction of one core it kept busy. Null for the kernel and C.
   */
  coordinatorBusy: number | null;
  /**
   * C and netshard: the busiest other thread's fraction of one core over the window (a dispatch worker, or a
   * C forwarding thread); null for the kernel.
   */
  workerBusy: number | null;
  /** C and netshard: every thread's share of the window (main thread first when it was read); empty for the kernel. */
  threads: ThreadBusy[];
}

/** One cell of the matrix: medians over its runs. Rates in packets per second. */
export interface BenchCell {
  frameBytes: number;
  flows: number;
  forwarder: ForwarderCase;
  /** Median, min and max pps at the sink. */
  sinkPps: number;
  sinkPpsMin: number;
  sinkPpsMax: number;
  /** Median pps the generator offered. */
  generatorPps: number;
  /** Median loss 0..1. */
  loss: number;
  /** Median CPU seconds per million packets delivered at the sink (`RunSample.cpuSeconds`); null with nothing delivered. */
  cpuSecondsPerMpkt: number | null;
  /** The same for the machine's softirq time. */
  softirqSecondsPerMpkt: number | null;
  /** Median `RunSample.coordinatorBusy` (netshard; else null): the coordinator's fraction of one core. */
  coordinatorBusy: number | null;
  /** Median `RunSample.workerBusy` (C and netshard; else null): the busiest worker thread's fraction of one core. */
  workerBusy: number | null;
  /** Latency percentiles over all runs' samples, µs. */
  latency: LatencySummary;
  /** The CDF behind them (the latency plot). */
  latencyCdf: CdfPoint[];
  /** sinkPps / the kernel's at the same point; null for the kernel itself or when it delivered nothing. */
  vsKernel: number | null;
  /** netshard only: sinkPps / the C forwarder's with the same mode, workers and point; else null. */
  vsC: number | null;
  runs: RunSample[];
}

/** Ethernet header + IPv4 + UDP + FCS: what a frame carries besides the UDP payload. */
export const FRAME_OVERHEAD_BYTES = 14 + 20 + 8 + 4;

/** Returns the median of `values` (the mean of the two middle ones for an even count); NaN for none. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Returns the forwarders of the matrix: the kernel, then per mode and worker count the C forwarder and netshard. */
export function benchCases(o: Pick<BenchOptions, 'modes' | 'workers'>): ForwarderCase[] {
  const cases: ForwarderCase[] = [{ kind: 'kernel', mode: null, workers: null, label: 'kernel' }];
  for (const mode of o.modes) {
    for (const workers of o.workers) {
      cases.push({ kind: 'c', mode, workers, label: `C ${mode} ${workers}t` });
      cases.push({ kind: 'netshard', mode, workers, label: `netshard ${mode} ${workers}w` });
    }
  }
  return cases;
}

/** Returns the traffic points of the matrix: every size with every flow count. */
export function trafficPoints(o: Pick<BenchOptions, 'sizes' | 'flows'>): TrafficPoint[] {
  return o.sizes.flatMap((frameBytes) => o.flows.map((flows) => ({ frameBytes, payloadBytes: frameBytes - FRAME_OVERHEAD_BYTES, flows })));
}

const perMpkt = (seconds: number, packets: number): number | null => (packets > 0 ? seconds / (packets / 1e6) : null);

function medianOrNull(values: readonly (number | null)[]): number | null {
  const known = values.filter((v): v is number => v !== null);
  return known.length === 0 ? null : median(known);
}

/** Returns the cell of `forwarder` at `point` from its runs and latency summary; ratios are left null (`addRatios`). */
export function summarizeCell(point: TrafficPoint, forwarder: ForwarderCase, runs: readonly RunSample[], latency: LatencySummary, latencyCdf: CdfPoint[]): BenchCell {
  const sink = runs.map((r) => r.sinkPps);
  return {
    frameBytes: point.frameBytes,
    flows: point.flows,
    forwarder,
    sinkPps: median(sink),
    sinkPpsMin: Math.min(...sink),
    sinkPpsMax: Math.max(...sink),
    generatorPps: median(runs.map((r) => r.generatorPps)),
    loss: median(runs.map((r) => r.loss)),
    cpuSecondsPerMpkt: medianOrNull(runs.map((r) => perMpkt(r.cpuSeconds, r.received))),
    softirqSecondsPerMpkt: medianOrNull(runs.map((r) => perMpkt(r.softirqSeconds, r.received))),
    coordinatorBusy: medianOrNull(runs.map((r) => r.coordinatorBusy)),
    workerBusy: medianOrNull(runs.map((r) => r.workerBusy)),
    latency,
    latencyCdf,
    vsKernel: null,
    vsC: null,
    runs: [...runs],
  };
}

/** Sets every cell's `vsKernel` (not the kernel's own) and netshard cells' `vsC`, from the cells at the same point. */
export function addRatios(cells: BenchCell[]): void {
  const at = (c: BenchCell): string => `${c.frameBytes}/${c.flows}`;
  const ratio = (a: number, b: number | undefined): number | null => (b !== undefined && b > 0 ? a / b : null);
  const kernel = new Map<string, number>();
  const native = new Map<string, number>();
  for (const c of cells) {
    if (c.forwarder.kind === 'kernel') kernel.set(at(c), c.sinkPps);
    if (c.forwarder.kind === 'c') native.set(`${at(c)}/${c.forwarder.mode}/${c.forwarder.workers}`, c.sinkPps);
  }
  for (const c of cells) {
    c.vsKernel = c.forwarder.kind === 'kernel' ? null : ratio(c.sinkPps, kernel.get(at(c)));
    c.vsC = c.forwarder.kind === 'netshard' ? ratio(c.sinkPps, native.get(`${at(c)}/${c.forwarder.mode}/${c.forwarder.workers}`)) : null;
  }
}

/** The header of `resultTable`. */
export const RESULT_COLUMNS = ['frame', 'flows', 'forwarder', 'gen Mpps', 'sink Mpps', 'min', 'max', 'loss', 'CPU s/Mpkt', 'coord %', 'worker %', 'p50 us', 'p99 us', 'p99.9 us', 'vs kernel', 'vs C'] as const;

/** Returns the terminal table of `cells`, one line per cell in the order given, header first. */
export function resultTable(cells: readonly BenchCell[]): string[] {
  const rows = cells.map((c) => [
    `${c.frameBytes} B`,
    String(c.flows),
    c.forwarder.label,
    formatMpps(c.generatorPps),
    formatMpps(c.sinkPps),
    formatMpps(c.sinkPpsMin),
    formatMpps(c.sinkPpsMax),
    formatPercent(c.loss),
    formatNumber(c.cpuSecondsPerMpkt),
    formatPercent(c.coordinatorBusy ?? Number.NaN),
    formatPercent(c.workerBusy ?? Number.NaN),
    formatNumber(c.latency.p50),
    formatNumber(c.latency.p99),
    formatNumber(c.latency.p999),
    formatRatio(c.vsKernel),
    formatRatio(c.vsC),
  ]);
  return formatTable(RESULT_COLUMNS, rows, ['right', 'right', 'left']);
}

/** A plot to write: file name (no directory) and SVG text. */
export interface PlotFile {
  file: string;
  svg: string;
}

const pointName = (frameBytes: number, flows: number): string => `${frameBytes}B-${flows}flow${flows === 1 ? '' : 's'}`;

/**
 * Returns the plots: per mode and traffic point, sink Mpps against workers for netshard, the C forwarder
 * (dashed) and the kernel (dashed, flat: it has no workers); per traffic point, the latency CDF of every
 * forwarder (log x).
 */
export function benchPlots(cells: readonly BenchCell[], o: Pick<BenchOptions, 'modes' | 'workers' | 'sizes' | 'flows'>): PlotFile[] {
  const plots: PlotFile[] = [];
  for (const point of trafficPoints(o)) {
    const here = cells.filter((c) => c.frameBytes === point.frameBytes && c.flows === point.flows);
    const kernel = here.find((c) => c.forwarder.kind === 'kernel');
    for (const mode of o.modes) {
      const line = (kind: ForwarderKind) =>
        here.filter((c) => c.forwarder.kind === kind && c.forwarder.mode === mode).map((c) => ({ x: c.forwarder.workers!, y: c.sinkPps / 1e6 }));
      plots.push({
        file: `pps-${mode}-${pointName(point.frameBytes, point.flows)}.svg`,
        svg: lineChart({
          title: `Forwarded Mpps, ${mode}, ${point.frameBytes}-byte frames, ${point.flows} flow(s)`,
          xLabel: 'workers per interface (C: threads)',
          yLabel: 'Mpps at the sink (median)',
          xTicks: o.workers,
          series: [
            { name: `netshard ${mode}`, points: line('netshard') },
            { name: `C forwarder ${mode}`, points: line('c'), dashed: true },
            { name: 'Linux kernel', points: kernel === undefined ? [] : o.workers.map((w) => ({ x: w, y: kernel.sinkPps / 1e6 })), dashed: true },
          ],
        }),
      });
    }
    plots.push({
      file: `latency-${pointName(point.frameBytes, point.flows)}.svg`,
      svg: lineChart({
        title: `Latency CDF, ${point.frameBytes}-byte frames, ${point.flows} flow(s)`,
        xLabel: 'latency, us (log scale)',
        yLabel: 'fraction of datagrams',
        xScale: 'log',
        series: here.map((c) => ({ name: c.forwarder.label, points: c.latencyCdf.map((p) => ({ x: p.latencyUs, y: p.fraction })), dashed: c.forwarder.kind !== 'netshard' })),
      }),
    });
  }
  return plots;
}
