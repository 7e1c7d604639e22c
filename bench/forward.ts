/**
 * bench/forward.ts — packets per second forwarded between two veth links (issue 4): the Linux kernel's own
 * forwarding (the baseline, 1.00x), the C AF_PACKET forwarder (bench/c/packet-fwd.c, 1 thread and 2
 * threads in a PACKET_FANOUT group) and `netshard forward` (1 and 2 workers per interface in each dispatch
 * mode: readv, recvmmsg, mmap), measured in the same run on the same topology.
 *
 *   npx tsx bench/forward.ts [--quick] [--json] [--only TEXT]
 *
 * --only TEXT keeps the baseline and the cases whose name contains TEXT (e.g. `--only netshard`).
 *
 * Topology: test/helpers/topology.ts (ns-gen ⇄ ns-fwd ⇄ ns-sink, 2-queue veths, static neighbours,
 * checksum offload off). Per run: bench/c/udp-sink.c counts in ns-sink, the forwarder under test starts in
 * ns-fwd (for the baseline: ns-fwd's kernel forwards instead), then bench/c/udp-flood.c sends from ns-gen to
 * the sink for SECONDS (64 flows, i.e. 64 source ports, so fanout has flows to spread; bounded in count
 * too), then everything is stopped. `netshard forward` runs from the root namespace with `--netns ns-fwd`
 * (its fds live in ns-fwd; the process does not), `--json`, and stops on SIGTERM. Frame sizes count as
 * RFC 2544 does (Ethernet header and FCS included): 64 B (UDP payload 18) and 1518 B (a 1500-byte IP
 * packet, UDP payload 1472).
 *
 * Reported per case: offered = generator pps (sent / its send time; the kernel's forwarding runs inside the
 * sender's sendmmsg on veth, so the baseline also slows the generator); delivered = sink pps (datagrams /
 * first-to-last time), median, min, max over RUNS runs, and the median's ratio to the kernel's at the same
 * size; delivered/sent (loss shows overload); sink overflows (UDP RcvbufErrors in ns-sink: the sink, not
 * the forwarder, was the bottleneck); for netshard, "coord busy": its coordinator's (main thread's)
 * event-loop utilization during the run (issue 4: the coordinator is not the bottleneck). Runs are
 * interleaved case by case so drift on this shared machine hits all cases alike. A run in which the sink saw checksum or header errors aborts the bench.
 * --quick: 1 run of 1 s per case. Everything runs inside the namespaces, deleted in `finally` and on SIGINT.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpus, release } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { netnsUnavailableReason } from '../test/helpers/netns.ts';
import { createForwardTopology, type ForwardTopology } from '../test/helpers/topology.ts';
import { compileC } from './lib/cc.ts';

const argv = process.argv.slice(2);
const args = new Set(argv);
const onlyAt = argv.indexOf('--only');
const only = onlyAt >= 0 ? (argv[onlyAt + 1] ?? '') : '';
const quick = args.has('--quick');
const json = args.has('--json');
const RUNS = quick ? 1 : 5;
/** Generator send time per run. */
const SECONDS = quick ? 1 : 2;
/** Source ports (one connected socket each) the generator cycles through, 64 datagrams per socket per turn. */
const FLOWS = 64;
/** Upper bound of the generator's count, whatever its speed: SECONDS at 5 Mpps. */
const MAX_PPS = 5_000_000;
const PORT = 9000;
/** Longest start of a forwarder with its own protocol (netshard: Node, tsx, one worker thread per fd). */
const STARTUP_SECONDS = 30;
/** Pause after the generator stops before the forwarder and the sink are told to stop (frames in flight). */
const DRAIN_MS = 200;
/** Sizes as RFC 2544 counts them: Ethernet header (14) + IPv4 (20) + UDP (8) + payload + FCS (4). */
const SIZES = [
  { name: '64 B', frameBytes: 64 },
  { name: '1518 B', frameBytes: 1518 },
] as const;
const payloadOf = (frameBytes: number): number => frameBytes - 14 - 20 - 8 - 4;

/**
 * One forwarder under test: a row of the table.
 */
interface ForwarderCase {
  /** The row's label. */
  name: string;
  /** True only for the baseline: ns-fwd's kernel forwards, and `command` is absent. */
  kernelForwarding: boolean;
  /**
   * The argv of the forwarder, run inside ns-fwd (through `ip netns exec`) with at most `seconds` to live. It
   * forwards IPv4 from `t.fwdIn.name` to `t.fwdOut.name` (next hop `t.sink.mac`), prints a line `ready` once
   * it forwards, stops when its stdin closes, and prints one JSON object (its own counters) as its last line.
   * With `protocol`, it is run and stopped as that says instead.
   */
  command?: (t: ForwardTopology, seconds: number, bins: Binaries) => string[];
  /** How a forwarder that does not speak the ready / stdin protocol is run (netshard: --netns, a line, SIGTERM). */
  protocol?: ChildProtocol;
}

/** How a child is started, says it is ready, and is told to stop; the default is the C programs' way. */
interface ChildProtocol {
  /** Run inside the case's namespace through `ip netns exec` (the C programs), or where we are. */
  inNamespace: boolean;
  /** Seen on its stdout or stderr once it forwards. */
  ready: RegExp;
  /** 'stdin': close its stdin; a signal: send it. */
  stop: 'stdin' | NodeJS.Signals;
}

const C_PROTOCOL: ChildProtocol = { inNamespace: true, ready: /^ready$/m, stop: 'stdin' };
/** `netshard forward --json`: progress on stderr (its first line starts with "forwarding"), the summary on stdout. */
const NETSHARD_PROTOCOL: ChildProtocol = { inNamespace: false, ready: /^forwarding /m, stop: 'SIGTERM' };
const MAIN_TS = fileURLToPath(new URL('../src/main.ts', import.meta.url));

/** One `netshard forward` case, started as `npx tsx` starts it minus the wrapper process (signals reach it). */
function netshardCase(mode: 'readv' | 'recvmmsg' | 'mmap', workers: number): ForwarderCase {
  return {
    name: `netshard forward, ${mode}, ${workers} worker${workers > 1 ? 's' : ''}/side`,
    kernelForwarding: false,
    protocol: NETSHARD_PROTOCOL,
    command: (t, seconds) => [
      process.execPath, '--import', 'tsx', MAIN_TS, 'forward', '--in', t.fwdIn.name, '--out', t.fwdOut.name, '--netns', t.namespaces.fwd,
      '--mode', mode, '--workers', String(workers), '--duration', String(seconds), '--json',
    ],
  };
}

interface Binaries {
  flood: string;
  sink: string;
  packetFwd: string;
}

// ─── The cases table ──────────────────────────────────────────────────────────────────────────────────────
// The first entry is the baseline every ratio is taken against. netshard's cases: one per dispatch mode
// (readv, recvmmsg, mmap) with 1 and with 2 workers per interface (`netshardCase`). Only cases that really
// run belong in this table: nothing prints numbers it did not measure.
const allCases: ForwarderCase[] = [
  { name: 'Linux kernel forwarding (baseline)', kernelForwarding: true },
  {
    name: 'C AF_PACKET forwarder, 1 thread',
    kernelForwarding: false,
    command: (t, seconds, bins) => [bins.packetFwd, t.fwdIn.name, t.fwdOut.name, t.sink.mac, String(seconds), '1'],
  },
  {
    name: 'C AF_PACKET forwarder, 2 threads, fanout hash',
    kernelForwarding: false,
    command: (t, seconds, bins) => [bins.packetFwd, t.fwdIn.name, t.fwdOut.name, t.sink.mac, String(seconds), '2', 'hash'],
  },
  ...(['readv', 'recvmmsg', 'mmap'] as const).flatMap((mode) => [netshardCase(mode, 1), netshardCase(mode, 2)]),
];
const cases = allCases.filter((c, i) => i === 0 || c.name.includes(only));

/** What the sink (bench/c/udp-sink.c) prints. */
interface SinkReport {
  received: number;
  bytes: number;
  seconds: number;
  pps: number;
  rcvbufErrors: number;
  inCsumErrors: number;
  inErrors: number;
  ipInHdrErrors: number;
}
/** What the generator (bench/c/udp-flood.c) prints. */
interface FloodReport {
  sent: number;
  seconds: number;
}

/** A process inside a namespace, speaking the ready / stdin-EOF / JSON-last-line protocol. */
class Child {
  readonly process: ChildProcess;
  readonly ready: Promise<void>;
  readonly exited: Promise<Record<string, unknown>>;
  private readonly label: string;
  private readonly protocol: ChildProtocol;

  constructor(ns: string, argv: readonly string[], maxSeconds: number, live: Set<ChildProcess>, protocol: ChildProtocol = C_PROTOCOL) {
    const program = argv.find((a) => a.endsWith('.ts')) ?? argv[0] ?? '';
    this.label = `${program.split('/').pop()} ${protocol.inNamespace ? 'in' : 'for'} ${ns}`;
    this.protocol = protocol;
    const child = protocol.inNamespace
      ? spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['pipe', 'pipe', 'pipe'] })
      : spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    this.process = child;
    live.add(child);
    const killer = setTimeout(() => child.kill('SIGKILL'), (maxSeconds + 10) * 1000);
    let out = '';
    let err = '';
    let signalReady: () => void = () => {};
    this.ready = new Promise<void>((resolve) => (signalReady = resolve));
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (protocol.ready.test(out)) signalReady();
    });
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (protocol.ready.test(err)) signalReady();
    });
    this.exited = new Promise((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', (code, signal) => {
        clearTimeout(killer);
        live.delete(child);
        const last = out.trim().split('\n').pop() ?? '';
        if (code === 0 && last.startsWith('{')) resolve(JSON.parse(last) as Record<string, unknown>);
        else reject(new Error(`${this.label} exited with ${code ?? signal}: ${err.trim() || out.trim()}`));
      });
    });
    // A child that dies before `ready` must not leave the caller waiting on `ready` forever.
    this.ready = Promise.race([this.ready, this.exited.then(() => Promise.reject(new Error(`${this.label} exited before ready`)))]);
    this.ready.catch(() => {});
    this.exited.catch(() => {});
  }

  /** Tells it to stop (closes its stdin, or signals it) and returns its JSON report. */
  stop(): Promise<Record<string, unknown>> {
    if (this.protocol.stop === 'stdin') this.process.stdin!.end();
    else this.process.kill(this.protocol.stop);
    return this.exited;
  }
}

interface Sample {
  offeredPps: number;
  deliveredPps: number;
  sent: number;
  received: number;
  sinkOverflows: number;
  forwarder: Record<string, unknown> | null;
}

/** Runs one case once at one size; returns what the generator offered and the sink got. */
async function runOnce(t: ForwardTopology, bins: Binaries, c: ForwarderCase, frameBytes: number, live: Set<ChildProcess>): Promise<Sample> {
  if (t.kernelForwarding !== c.kernelForwarding) t.setKernelForwarding(c.kernelForwarding);
  const life = SECONDS + 5;
  // The sink starts first and must outlive the forwarder's start: netshard's takes seconds on a busy machine.
  const sinkLife = life + (c.protocol === undefined ? 0 : STARTUP_SECONDS);
  const sink = new Child(t.namespaces.sink, [bins.sink, t.sink.ipv4, String(PORT), String(sinkLife)], sinkLife, live);
  let forwarder: Child | null = null;
  try {
    await sink.ready;
    if (c.command !== undefined) {
      forwarder = new Child(t.namespaces.fwd, c.command(t, life, bins), sinkLife, live, c.protocol);
      await forwarder.ready;
    }
    const flood = new Child(
      t.namespaces.gen,
      [bins.flood, t.sink.ipv4, String(PORT), String(payloadOf(frameBytes)), String(SECONDS * MAX_PPS), String(FLOWS), String(SECONDS)],
      life,
      live,
    );
    const sent = (await flood.exited) as unknown as FloodReport;
    await sleep(DRAIN_MS);
    const forwarderReport = forwarder === null ? null : await forwarder.stop();
    const got = (await sink.stop()) as unknown as SinkReport;
    if (got.inCsumErrors > 0 || got.ipInHdrErrors > 0) {
      throw new Error(`${c.name}, ${frameBytes} B: the sink saw ${got.inCsumErrors} UDP checksum and ${got.ipInHdrErrors} IPv4 header errors`);
    }
    return {
      offeredPps: sent.seconds > 0 ? sent.sent / sent.seconds : 0,
      deliveredPps: got.seconds > 0 ? got.received / got.seconds : 0,
      sent: sent.sent,
      received: got.received,
      sinkOverflows: got.rcvbufErrors,
      forwarder: forwarderReport,
    };
  } finally {
    for (const child of [forwarder, sink]) if (child !== null && child.process.exitCode === null) child.process.kill('SIGKILL');
  }
}

interface Cell {
  size: string;
  frameBytes: number;
  payloadBytes: number;
  case: string;
  /** Mpps: median of the generator's rate. */
  offered: number;
  /** Mpps at the sink: median, min, max. */
  median: number;
  min: number;
  max: number;
  vsKernel: number;
  /** Median of received / sent. */
  deliveredFraction: number;
  /** Median of the sink's receive-buffer overflows per run. */
  sinkOverflows: number;
  /** netshard only: median event-loop utilization of its coordinator (main thread) during the run, 0..1; else null. */
  coordinatorBusy: number | null;
  runs: Sample[];
}

/** The coordinator's event-loop utilization in a `netshard forward --json` summary. */
function coordinatorBusy(report: Record<string, unknown> | null): number {
  const coordinator = report?.['coordinator'] as { eventLoopUtilization?: number } | undefined;
  return coordinator?.eventLoopUtilization ?? Number.NaN;
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

const machine = `# bench/forward.ts  node ${process.version}  ${cpus().length} cpus  linux ${release()}  ${new Date().toISOString()}${quick ? '  (--quick)' : ''}`;
const unavailable = netnsUnavailableReason();
if (unavailable !== '') {
  if (json) console.log(JSON.stringify({ bench: 'forward', machine: machine.slice(2), skipped: unavailable }));
  else console.log(`${machine}\nskipped: ${unavailable}`);
  process.exit(0);
}
if (!json) console.log(machine);

const bins: Binaries = { flood: compileC('udp-flood'), sink: compileC('udp-sink'), packetFwd: compileC('packet-fwd', ['-pthread']) };
const live = new Set<ChildProcess>();
let topology: ForwardTopology | undefined;
function cleanUp(): void {
  for (const child of live) child.kill('SIGKILL');
  live.clear();
  topology?.destroy();
}
for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
  process.on(signal, () => {
    cleanUp();
    process.exit(code);
  });
}

const cells: Cell[] = [];
try {
  topology = createForwardTopology({ kernelForwarding: false });
  if (!json) {
    console.log(`# ${RUNS} run(s) of ${SECONDS} s per case, ${FLOWS} flows, ${topology.queues}-queue veths; Mpps at the sink`);
    console.log(
      `${'case'.padEnd(52)}${'offered'.padStart(9)}${'median'.padStart(12)}${'min'.padStart(7)}${'max'.padStart(7)}${'vs kernel'.padStart(11)}${'delivered'.padStart(11)}${'sink ovf'.padStart(10)}${'coord busy'.padStart(12)}`,
    );
  }
  for (const size of SIZES) {
    const samples: Sample[][] = cases.map(() => []);
    for (let r = 0; r < RUNS; r++) {
      for (const [i, c] of cases.entries()) samples[i]!.push(await runOnce(topology, bins, c, size.frameBytes, live));
    }
    let baseline = 0;
    for (const [i, c] of cases.entries()) {
      const runs = samples[i]!;
      const delivered = runs.map((s) => s.deliveredPps / 1e6);
      const cell: Cell = {
        size: size.name,
        frameBytes: size.frameBytes,
        payloadBytes: payloadOf(size.frameBytes),
        case: c.name,
        offered: median(runs.map((s) => s.offeredPps / 1e6)),
        median: median(delivered),
        min: Math.min(...delivered),
        max: Math.max(...delivered),
        vsKernel: 0,
        deliveredFraction: median(runs.map((s) => (s.sent > 0 ? s.received / s.sent : 0))),
        sinkOverflows: median(runs.map((s) => s.sinkOverflows)),
        coordinatorBusy: c.protocol === NETSHARD_PROTOCOL ? median(runs.map((s) => coordinatorBusy(s.forwarder))) : null,
        runs,
      };
      if (c.kernelForwarding && i === 0) baseline = cell.median;
      cell.vsKernel = baseline > 0 ? cell.median / baseline : 0;
      cells.push(cell);
      if (!json) {
        console.log(
          `${`${size.name}, ${c.name}`.padEnd(52)}${cell.offered.toFixed(3).padStart(9)}${cell.median.toFixed(3).padStart(7)} Mpps${cell.min.toFixed(3).padStart(7)}${cell.max.toFixed(3).padStart(7)}${(cell.vsKernel.toFixed(2) + 'x').padStart(11)}${((cell.deliveredFraction * 100).toFixed(1) + '%').padStart(11)}${String(cell.sinkOverflows).padStart(10)}${(cell.coordinatorBusy === null ? '' : `${(cell.coordinatorBusy * 100).toFixed(1)}%`).padStart(12)}`,
        );
      }
    }
  }
} finally {
  cleanUp();
}
if (json) {
  console.log(
    JSON.stringify({ bench: 'forward', machine: machine.slice(2), quick, runsPerCase: RUNS, secondsPerRun: SECONDS, flows: FLOWS, queues: topology?.queues, unit: 'Mpps', cells }),
  );
}
