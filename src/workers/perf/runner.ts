/**
 * `netshard bench`'s runner: builds its own three-namespace topology (lab.ts, bench names with the pid,
 * 198.18.0.0/15, IPv6 off), compiles the C baselines, and runs the matrix: for each run, for each forwarder
 * (the kernel, the C forwarder and `netshard forward` per mode and worker count; the order rotated each run
 * so drift on a shared machine hits all alike), start the forwarder once, then for each traffic point
 * (frame size x flows) start the sink, run the generator for `seconds`, drain, stop the sink, and read CPU
 * time from /proc around the generator (the forwarder process's, each of its threads': the coordinator's
 * busy fraction and the busiest worker's, and the machine's softirq). Then medians, ratios, latency
 * histograms, the table, results.json and the plots. Deletes everything it made in `finally`, on abort (the caller's AbortSignal: Ctrl-C), and,
 * through a reaper process, even when it is SIGKILLed.
 *
 * ```
 *  ns-bgen-<pid>              ns-bfwd-<pid>                         ns-bsink-<pid>
 *  flow-gen (cpu 0) ══ veth ══ kernel | packet-fwd | netshard (cpu 1..) ══ veth ══ flow-sink
 *  198.18.1.1                 198.18.1.2          198.19.1.2              198.19.1.1
 * ```
 *
 * Thread: main. Control path (child processes; nothing per packet runs here).
 */
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, release, tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { NetshardError } from '../../errors.ts';
import { DEFAULT_ENGINE_OPTIONS } from '../engine-options.ts';
import { createLab, labUnavailableReason, startNamespaceReaper, type ForwardTopology, type LabNames } from '../lab.ts';
import { BenchChild, type ChildProtocol } from './child.ts';
import { baselineCacheDir, compileBaseline, findBaselinesDir, gccVersion } from './compile.ts';
import { LatencyHistogram, decodeSamples } from './histogram.ts';
import { validateBenchOptions, type BenchOptions } from './options.ts';
import { readProcessCpu, readSystemCpu, readThreadsCpu, systemCpuDelta, threadWindow } from './proc.ts';
import {
  addRatios, benchCases, benchPlots, resultTable, summarizeCell, trafficPoints, type BenchCell, type ForwarderCase, type RunSample, type TrafficPoint,
} from './report.ts';
import { formatPercent, progressBar } from './table.ts';

/** Where the runner prints; `cli-bench.ts` passes stdout (stderr with --json). */
export interface BenchIo {
  /** Prints one line. */
  log?: (line: string) => void;
  /** Writes raw text (the progress bar redrawn in place); used only when `isTTY`. */
  write?: (text: string) => void;
  /** Whether `write` goes to a terminal: a progress bar then, plain lines otherwise. */
  isTTY?: boolean;
  /** Aborts the bench (Ctrl-C): children killed, everything removed, ERR_NETSHARD_ABORTED thrown. */
  signal?: AbortSignal;
}

/** The machine a bench ran on. */
export interface BenchMachine {
  node: string;
  cpus: number;
  cpuModel: string;
  kernel: string;
  date: string;
  gcc: string;
}

/** Everything `runBench` measured: what results.json holds. */
export interface BenchResults {
  bench: 'netshard bench';
  machine: BenchMachine;
  /** The first output line: node, cpus, kernel, date. */
  machineLine: string;
  options: BenchOptions;
  /** How processes were pinned: CPU lists for taskset, or why not. */
  pinning: { generator: string | null; forwarder: string | null; sink: string | null; note: string };
  /** Frames per dispatch round in the engine and the C forwarder. */
  batchSize: number;
  /** Tx/rx queues of every veth. */
  queues: number;
  /** One entry per run per non-kernel forwarder: its own final report (counters). */
  forwarderReports: { run: number; forwarder: string; report: Record<string, unknown> }[];
  cells: BenchCell[];
  /** Absolute paths of results.json and the plots. */
  files: string[];
}

/** Names of the bench's topology (different from the tests' and the demo's, so they never collide). */
const BENCH_NAMES: LabNames = { genNs: 'ns-bgen', fwdNs: 'ns-bfwd', sinkNs: 'ns-bsink', gen: 'bgen', fwdIn: 'bfin', fwdOut: 'bfout', sink: 'bsink' };
const PORT = 9000;
/** Upper bound of the generator's count, whatever its speed: `seconds` at 5 Mpps. */
const MAX_PPS = 5_000_000;
/** Latency samples the sink keeps per run (reservoir): 200 KB. */
const MAX_SAMPLES = 50_000;
/** Pause after the generator stops, before the sink is told to drain and stop: frames still in flight. */
const DRAIN_MS = 200;
/** Longest start of a forwarder: Node + tsx + one worker per fd, on a loaded 2-core machine. */
const STARTUP_SECONDS = 60;
/** Seconds per traffic point beyond the generator's time: sink start, drain, reading the samples. */
const POINT_SLACK_SECONDS = 5;
/** `netshard forward --json`: progress on stderr (the line "forwarding ..." once it forwards), summary on stdout. */
const NETSHARD_PROTOCOL: ChildProtocol = { ready: /^forwarding /m, stop: 'SIGTERM' };

function onPath(name: string): boolean {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch {
      /* not here */
    }
  }
  return false;
}

/** The argv prefix that runs this package's CLI: `node [--import tsx] <main>` (main.ts in a checkout, main.js built). */
function cliCommand(): string[] {
  const typescript = import.meta.url.endsWith('.ts');
  const main = fileURLToPath(new URL(typescript ? '../../main.ts' : '../../main.js', import.meta.url));
  if (!typescript) return [process.execPath, main];
  let loader = 'tsx';
  try {
    loader = import.meta.resolve('tsx');
  } catch {
    /* resolved from the working directory instead */
  }
  return [process.execPath, '--import', loader, main];
}

/** Returns the machine description and its one-line form. */
function describeMachine(gcc: string): { machine: BenchMachine; line: string } {
  const machine: BenchMachine = {
    node: process.version,
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    kernel: release(),
    date: new Date().toISOString(),
    gcc,
  };
  return { machine, line: `# netshard bench  node ${machine.node}  ${machine.cpus} cpus (${machine.cpuModel})  linux ${machine.kernel}  ${machine.date}` };
}

/** Decides the taskset CPU lists: generator and sink on cpu 0, forwarder on the others; or none, with why. */
function planPinning(pin: boolean, cpuCount: number): BenchResults['pinning'] {
  if (!pin) return { generator: null, forwarder: null, sink: null, note: 'not pinned (--no-pin)' };
  if (cpuCount < 2) return { generator: null, forwarder: null, sink: null, note: 'not pinned: one CPU only' };
  if (!onPath('taskset')) return { generator: null, forwarder: null, sink: null, note: 'not pinned: taskset (util-linux) is not installed' };
  const forwarder = cpuCount === 2 ? '1' : `1-${cpuCount - 1}`;
  return { generator: '0', forwarder, sink: '0', note: `generator and sink on cpu 0, forwarder on cpu ${forwarder} (taskset)` };
}

const taskset = (cpuList: string | null): string[] => (cpuList === null ? [] : ['taskset', '-c', cpuList]);

function abortError(): NetshardError {
  return new NetshardError('ERR_NETSHARD_ABORTED', 'netshard bench was stopped; everything it made was removed');
}

/**
 * Runs the benchmark matrix `options` (see `BENCH_HELP`; checked with `validateBenchOptions`), prints the
 * machine line, progress and the table through `io`, writes results.json and the SVG plots into
 * `options.out`, and returns the results. Throws ERR_NETSHARD_PRIVILEGE without root, ERR_NETSHARD_BENCH
 * when gcc, a child or the sink's checksum check fails, ERR_NETSHARD_ABORTED after `io.signal` fired; in
 * every case the namespaces and children are gone when it settles. Thread: main. Takes
 * runs x cases x points x (seconds + ~1 s), plus each forwarder's start per run.
 */
export async function runBench(options: Partial<BenchOptions>, io: BenchIo = {}): Promise<BenchResults> {
  const o = validateBenchOptions(options);
  const log = io.log ?? (() => {});
  const unavailable = labUnavailableReason();
  if (unavailable !== '') {
    throw new NetshardError('ERR_NETSHARD_PRIVILEGE', unavailable.startsWith('not root') ? 'needs root (CAP_NET_ADMIN) to build its network namespaces: run it as root' : unavailable);
  }
  const gcc = gccVersion();
  const sourceDir = findBaselinesDir();
  const cacheDir = baselineCacheDir();
  const bins = {
    gen: compileBaseline('flow-gen', cacheDir, sourceDir, gcc),
    sink: compileBaseline('flow-sink', cacheDir, sourceDir, gcc),
    fwd: compileBaseline('packet-fwd', cacheDir, sourceDir, gcc),
  };
  const { machine, line } = describeMachine(gcc);
  log(line);
  const pinning = planPinning(o.pin, machine.cpus);
  const cases = benchCases(o);
  const points = trafficPoints(o);
  const batchSize = DEFAULT_ENGINE_OPTIONS.batchSize;
  const queues = Math.min(16, Math.max(2, ...o.workers));
  const total = o.runs * cases.length * points.length;
  const offered = o.rate > 0 ? `generator paced to ${o.rate} pps` : 'generator unpaced (saturation)';
  log(`# ${o.runs} run(s) of ${o.seconds} s per cell, ${cases.length} forwarders x ${points.length} traffic points, ${offered}, batch ${batchSize}, ${queues}-queue veths; ${pinning.note}`);

  const live = new Set<ChildProcess>();
  const killAll = (): void => {
    for (const child of live) child.kill('SIGKILL');
  };
  const onAbort = (): void => killAll();
  // A function, not a property read: TypeScript would keep `aborted` narrowed to false across the awaits.
  const aborted = (): boolean => io.signal?.aborted === true;
  io.signal?.addEventListener('abort', onAbort);
  const pid = process.pid;
  const namespaces = [`${BENCH_NAMES.genNs}-${pid}`, `${BENCH_NAMES.fwdNs}-${pid}`, `${BENCH_NAMES.sinkNs}-${pid}`];
  const reaper = startNamespaceReaper(namespaces);
  const scratch = mkdtempSync(join(tmpdir(), 'netshard-bench-'));
  let topology: ForwardTopology | undefined;
  const runsOf = new Map<string, RunSample[]>();
  const histograms = new Map<string, LatencyHistogram>();
  const forwarderReports: BenchResults['forwarderReports'] = [];
  const keyOf = (c: ForwarderCase, p: TrafficPoint): string => `${c.label}|${p.frameBytes}|${p.flows}`;
  try {
    if (aborted()) throw abortError();
    topology = createLab({ names: BENCH_NAMES, ipv6: false, queues, kernelForwarding: false });
    const t = topology;
    const cli = cliCommand();
    let done = 0;
    const progress = (what: string): void => {
      if (io.isTTY === true && io.write !== undefined) io.write(`\r\x1b[2K${progressBar(done, total)}  ${what}`);
    };

    /** Starts forwarder `c` (null for the kernel, which is switched on instead) for `points.length` points. */
    const startForwarder = async (c: ForwarderCase): Promise<BenchChild | null> => {
      t.setKernelForwarding(c.kind === 'kernel');
      if (c.kind === 'kernel') return null;
      const life = points.length * (o.seconds + POINT_SLACK_SECONDS) + 10;
      const argv =
        c.kind === 'c'
          ? [...taskset(pinning.forwarder), 'ip', 'netns', 'exec', t.namespaces.fwd, bins.fwd, t.fwdIn.name, t.fwdOut.name, t.sink.mac, String(life), String(c.workers), c.mode!, String(batchSize)]
          : [
              ...taskset(pinning.forwarder), ...cli, 'forward', '--in', t.fwdIn.name, '--out', t.fwdOut.name, '--netns', t.namespaces.fwd,
              '--mode', c.mode!, '--workers', String(c.workers), '--duration', String(life), '--json',
            ];
      const child = new BenchChild(c.label, argv, life + STARTUP_SECONDS, live, c.kind === 'c' ? undefined : NETSHARD_PROTOCOL);
      await child.ready;
      return child;
    };

    /** Sends one traffic point through whatever forwards now; returns what it measured and the latency samples. */
    const runPoint = async (c: ForwarderCase, forwarder: BenchChild | null, p: TrafficPoint, run: number): Promise<{ sample: RunSample; latencies: Uint32Array }> => {
      const samplesFile = join(scratch, `samples-${run}-${done}.u32`);
      const sinkLife = o.seconds + POINT_SLACK_SECONDS;
      const sink = new BenchChild(
        'flow-sink',
        [...taskset(pinning.sink), 'ip', 'netns', 'exec', t.namespaces.sink, bins.sink, t.sink.ipv4, String(PORT), String(sinkLife), samplesFile, String(MAX_SAMPLES)],
        sinkLife + 10,
        live,
      );
      try {
        await sink.ready;
        const fwdPid = forwarder?.pid;
        // The CPU window: per thread (the coordinator is tid == pid), the whole process, the machine, wall time.
        const cpuBefore = fwdPid === undefined ? null : readProcessCpu(fwdPid);
        const systemBefore = readSystemCpu();
        const threadsBefore = fwdPid === undefined ? null : readThreadsCpu(fwdPid);
        const windowStart = performance.now();
        const gen = new BenchChild(
          'flow-gen',
          [...taskset(pinning.generator), 'ip', 'netns', 'exec', t.namespaces.gen, bins.gen, t.sink.ipv4, String(PORT), String(p.payloadBytes),
            String(Math.ceil(o.seconds * (o.rate > 0 ? o.rate : MAX_PPS))), String(p.flows), String(o.seconds), String(o.rate)],
          o.seconds + 10,
          live,
          { ready: null, stop: 'stdin' },
        );
        const sent = await gen.exited;
        await sleep(DRAIN_MS);
        const windowSeconds = (performance.now() - windowStart) / 1000;
        const threadsAfter = fwdPid === undefined ? null : readThreadsCpu(fwdPid);
        const cpuAfter = fwdPid === undefined ? null : readProcessCpu(fwdPid);
        const system = systemCpuDelta(systemBefore, readSystemCpu());
        const got = await sink.stop();
        if (Number(got['inCsumErrors']) > 0 || Number(got['ipInHdrErrors']) > 0) {
          throw new NetshardError('ERR_NETSHARD_BENCH', `${c.label}, ${p.frameBytes} B: the sink saw ${got['inCsumErrors']} UDP checksum and ${got['ipInHdrErrors']} IPv4 header errors`);
        }
        const latencies = decodeSamples(readFileSync(samplesFile));
        rmSync(samplesFile, { force: true });
        const sentCount = Number(sent['sent']);
        const genSeconds = Number(sent['seconds']);
        const received = Number(got['received']);
        const sinkSeconds = Number(got['seconds']);
        let cpuSeconds = system.softirq;
        let coordinatorBusy: number | null = null;
        let workerBusy: number | null = null;
        const threads: RunSample['threads'] = [];
        if (c.kind !== 'kernel') {
          if (fwdPid === undefined || cpuBefore === null || cpuAfter === null || threadsBefore === null || threadsAfter === null) {
            throw new NetshardError('ERR_NETSHARD_BENCH', `${c.label} exited during a run`);
          }
          cpuSeconds = cpuAfter.user + cpuAfter.system - cpuBefore.user - cpuBefore.system;
          const w = threadWindow(fwdPid, threadsBefore, threadsAfter, windowSeconds);
          if (w.main !== null) threads.push(w.main);
          threads.push(...w.others);
          // netshard's main thread is the coordinator; C's only waits for its forwarding threads.
          if (c.kind === 'netshard') coordinatorBusy = w.main?.busy ?? null;
          workerBusy = w.busiest?.busy ?? null;
        }
        const sample: RunSample = {
          run,
          sent: sentCount,
          generatorSeconds: genSeconds,
          generatorPps: genSeconds > 0 ? sentCount / genSeconds : 0,
          received,
          sinkSeconds,
          sinkPps: sinkSeconds > 0 ? received / sinkSeconds : 0,
          loss: sentCount > 0 ? Math.max(0, 1 - received / sentCount) : 0,
          cpuSeconds,
          softirqSeconds: system.softirq,
          sinkOverflows: Number(got['rcvbufErrors']),
          latencySamples: latencies.length,
          windowSeconds,
          coordinatorBusy,
          workerBusy,
          threads,
        };
        return { sample, latencies };
      } finally {
        sink.kill();
      }
    };

    for (let run = 0; run < o.runs; run++) {
      const order = cases.map((_, i) => cases[(i + run) % cases.length]!);
      for (const c of order) {
        progress(`run ${run + 1}/${o.runs}: starting ${c.label}`);
        const forwarder = await startForwarder(c);
        try {
          for (const p of points) {
            progress(`run ${run + 1}/${o.runs}: ${c.label}, ${p.frameBytes} B, ${p.flows} flow(s)`);
            const { sample, latencies } = await runPoint(c, forwarder, p, run);
            const key = keyOf(c, p);
            if (!runsOf.has(key)) runsOf.set(key, []);
            runsOf.get(key)!.push(sample);
            if (!histograms.has(key)) histograms.set(key, new LatencyHistogram());
            histograms.get(key)!.record(latencies);
            done++;
            if (io.isTTY !== true) {
              log(`run ${run + 1}/${o.runs}  ${c.label.padEnd(22)} ${String(p.frameBytes).padStart(4)} B ${String(p.flows).padStart(4)} flow(s): ` +
                `sink ${(sample.sinkPps / 1e6).toFixed(3)} Mpps, loss ${(sample.loss * 100).toFixed(1)}%` +
                (sample.coordinatorBusy === null ? '' : `, coord ${formatPercent(sample.coordinatorBusy)}`) +
                (sample.workerBusy === null ? '' : `, worker ${formatPercent(sample.workerBusy)}`) +
                `  [${done}/${total}]`);
            }
          }
          if (forwarder !== null) forwarderReports.push({ run, forwarder: c.label, report: await forwarder.stop() });
        } finally {
          forwarder?.kill();
        }
        if (aborted()) throw abortError();
      }
    }
    t.setKernelForwarding(false);
    if (io.isTTY === true && io.write !== undefined) io.write(`\r\x1b[2K`);

    const cells: BenchCell[] = [];
    for (const p of points) {
      for (const c of cases) {
        const key = keyOf(c, p);
        const h = histograms.get(key)!;
        cells.push(summarizeCell(p, c, runsOf.get(key)!, h.summary(), h.cdf()));
      }
    }
    addRatios(cells);
    for (const l of resultTable(cells)) log(l);

    const out = resolve(o.out);
    mkdirSync(out, { recursive: true });
    const files: string[] = [];
    for (const plot of benchPlots(cells, o)) {
      const path = join(out, plot.file);
      writeFileSync(path, plot.svg);
      files.push(path);
    }
    const resultsPath = join(out, 'results.json');
    files.unshift(resultsPath);
    const results: BenchResults = {
      bench: 'netshard bench', machine, machineLine: line, options: o, pinning, batchSize, queues, forwarderReports, cells, files,
    };
    writeFileSync(resultsPath, `${JSON.stringify(results, null, 2)}\n`);
    log(`wrote ${resultsPath} and ${files.length - 1} plot(s) in ${out}`);
    return results;
  } catch (err) {
    if (aborted()) throw abortError();
    throw err;
  } finally {
    if (io.isTTY === true && io.write !== undefined) io.write(`\r\x1b[2K`);
    killAll();
    // Give killed children a moment to exit: a namespace with a process inside outlives `ip netns del` unnamed.
    for (let i = 0; i < 50 && live.size > 0; i++) await sleep(20);
    io.signal?.removeEventListener('abort', onAbort);
    topology?.destroy();
    reaper.release();
    for (const h of histograms.values()) h.destroy();
    rmSync(scratch, { recursive: true, force: true });
  }
}
