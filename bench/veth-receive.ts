/**
 * bench/veth-receive.ts — how fast one AF_PACKET socket receives frames the kernel sends over a veth pair,
 * per dispatch mode and batch size (readv, recvmmsg batches of 8, 32 and 64, PACKET_MMAP), with 64-byte and
 * 1500-byte frames; netshard's JS dispatchers against a C receiver doing the same in the same run
 * (bench/c/packet-recv.c: recv per frame, recvmmsg with the same batch, a TPACKET_V2 ring with the same
 * geometry, each copying every frame once).
 *
 *   npx tsx bench/veth-receive.ts [--quick] [--json]          (root: it creates a network namespace)
 *
 * Topology: namespace ns-vrx-<pid> with veth vra<pid> ⇄ vrb<pid>; the kernel sends from vra
 * (198.18.0.1) to 198.18.0.9, a static neighbour, so every frame crosses to vrb, where the receiver's
 * socket listens (nothing else runs there: IPv6 off). The sender is bench/c/udp-flood.c (sendmmsg
 * batches of 64, 8 flows, bounded count, 10 s cap), compiled into bench/out/ at start.
 *
 * Two phases per case, on the same row:
 * - live: the receiver's socket is open, the sender floods `LIVE_COUNT` frames while the receiver reads.
 *   Sender and receiver share the machine's cores, so the sender's own rate (`sender`) caps the figure:
 *   `got` 100 % means the receiver kept up with it, not that it could take no more.
 * - queued: the receiver's drain rate with the sender out of the way. The socket is opened first with a
 *   256 MiB SO_RCVBUFFORCE (the kernel doubles it; 60 000 queued 1500-byte frames charge 138 MB to it, 2304 B
 *   each, 64-byte ones 832 B each, read from /proc/net/packet's Rmem), or, for mmap, a ring of 65 536 slots
 *   (128 MiB, the most the mmap dispatcher takes); the sender sends
 *   `QUEUED_COUNT` frames (60 000: what that ring holds with a margin, the same count for every mode) and
 *   exits, then after `SETTLE_MS` the receiver is told to start (C: a line on its stdin) and the drain is timed.
 *   `got` < 100 % there means the queue overflowed (kernel drops, in the JSON as `drops`): the figure is
 *   then a drain of what was kept.
 * Batch: recvmmsg's is the case's (8/32/64: frames per call, the dispatcher's `batchSize` and `receive` max,
 * packet-recv's -b); readv takes 8 frames per `receive` (DEFAULT_READV_BATCH; packet-recv: 8 recv() per turn),
 * mmap 64 slots per `receive` (DEFAULT_MMAP_BATCH; packet-recv: 64 slots per turn).
 *
 * Each cell: one warm-up run, then `RUNS` runs, each a fresh socket; a run counts frames of exactly the cell's
 * size from the first to the last one received (stopping at the count, after `IDLE_MS` without a frame, or
 * 10 s). kpps median, min, max; `vs C` = median over the C receiver's median in the same mode, batch, size and
 * phase; `got` = median share of the sent frames received (the rest the kernel dropped: socket buffer or
 * ring full). Compare columns, not absolute numbers.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { cpus, release } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { createMmapDispatcher, DEFAULT_MMAP_BATCH, MmapCounter, type MmapDispatcher } from '../src/fdbased/dispatch-mmap.ts';
import { createReadvDispatcher, DEFAULT_READV_BATCH } from '../src/fdbased/dispatch-readv.ts';
import { createRecvmmsgDispatcher } from '../src/fdbased/dispatch-recvmmsg.ts';
import type { Dispatcher } from '../src/fdbased/dispatcher.ts';
import { openPacketSockets } from '../src/fdbased/open-packet.ts';
import { closeFds } from '../src/fdbased/socketpair.ts';
import { getsockopt, PACKET_STATISTICS, SOL_PACKET } from '../src/fdbased/syscalls.ts';
import { compileC } from './lib/cc.ts';

const args = new Set(process.argv.slice(2));
const quick = args.has('--quick');
const json = args.has('--json');
const RUNS = 5;
/** Live: frames sent per run, ~0.5 s at the sender's ~0.6 Mpps here (--quick: a few ms). */
const LIVE_COUNT = quick ? 5_000 : 300_000;
/** Queued: frames queued then drained per run; must fit the mmap ring (`QUEUED_RING_FRAMES`). */
const QUEUED_COUNT = quick ? 5_000 : 60_000;
/** Queued: SO_RCVBUFFORCE for the socket modes (the kernel doubles it). */
const QUEUED_RCVBUF = 256 << 20;
/** Queued: mmap ring slots (2 KiB each: 128 MiB). */
const QUEUED_RING_FRAMES = 65_536;
/** Queued: pause between the sender's exit and the drain, for the last frames still in the softirq backlog. */
const SETTLE_MS = 20;
const FLOWS = 8;
const IDLE_MS = { live: 300, queued: 50 } as const;
const RUN_SECONDS = 10;

type Mode = 'readv' | 'recvmmsg' | 'mmap';
type Phase = 'live' | 'queued';
interface Variant {
  /** As it appears in the case name. */
  name: string;
  mode: Mode;
  /** Frames per receive call (recvmmsg) or per turn of the loop (readv, mmap), JS and C alike. */
  batch: number;
}
const VARIANTS: readonly Variant[] = [
  { name: 'readv', mode: 'readv', batch: DEFAULT_READV_BATCH },
  { name: 'recvmmsg/8', mode: 'recvmmsg', batch: 8 },
  { name: 'recvmmsg/32', mode: 'recvmmsg', batch: 32 },
  { name: 'recvmmsg/64', mode: 'recvmmsg', batch: 64 },
  { name: 'mmap', mode: 'mmap', batch: DEFAULT_MMAP_BATCH },
];
/** Frame sizes as the receiver sees them (Ethernet header included, no FCS): UDP payload = size - 42. */
const SIZES = [64, 1500] as const;
const PHASES: readonly Phase[] = ['live', 'queued'];

const machine = `# bench/veth-receive.ts  node ${process.version}  ${cpus().length} cpus  linux ${release()}  ${new Date().toISOString()}${quick ? '  (--quick)' : ''}`;
const pid = process.pid;
const NS = `ns-vrx-${pid}`;
const A = `vra${pid}`;
const B = `vrb${pid}`;
/** Paths of the compiled C helpers, set by `setUp`. */
const bin = { flood: '', recv: '' };

if (process.getuid?.() !== 0) {
  console.log(machine);
  console.log('skipped: not root (creating a network namespace and AF_PACKET sockets need CAP_NET_ADMIN and CAP_NET_RAW)');
  process.exit(0);
}

function sh(cmd: string, ...a: string[]): string {
  return execFileSync(cmd, a, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function setUp(): void {
  bin.flood = compileC('udp-flood');
  bin.recv = compileC('packet-recv');
  sh('ip', 'netns', 'add', NS);
  sh('ip', 'netns', 'exec', NS, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
  sh('ip', '-n', NS, 'link', 'set', 'lo', 'up');
  sh('ip', '-n', NS, 'link', 'add', A, 'type', 'veth', 'peer', 'name', B);
  sh('ip', '-n', NS, 'link', 'set', A, 'up');
  sh('ip', '-n', NS, 'link', 'set', B, 'up');
  sh('ip', '-n', NS, 'addr', 'add', '198.18.0.1/24', 'dev', A);
  sh('ip', '-n', NS, 'neigh', 'add', '198.18.0.9', 'lladdr', '02:00:00:00:00:09', 'dev', A);
}

let tornDown = false;
function tearDown(): void {
  if (tornDown) return;
  tornDown = true;
  try {
    sh('ip', 'netns', 'del', NS);
  } catch {
    /* never created */
  }
}
process.on('exit', tearDown);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(130));

interface Sent {
  sent: number;
  seconds: number;
}

/** Resolves with the child's whole stdout once it exited and its output is read ('close', not 'exit'); rejects on a non-zero exit. */
function output(child: ChildProcess, name: string): Promise<string> {
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${name} exited with ${code}`))));
  });
}

/** Starts the kernel sender for `count` frames; resolves with its report once it exited. */
async function flood(frameBytes: number, count: number): Promise<Sent> {
  const child = spawn('ip', ['netns', 'exec', NS, bin.flood, '198.18.0.9', '9', String(frameBytes - 42), String(count), String(FLOWS), String(RUN_SECONDS)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return JSON.parse(await output(child, 'udp-flood')) as Sent;
}

interface Run {
  received: number;
  seconds: number;
  sent: number;
  senderSeconds: number;
  /** PACKET_STATISTICS tp_drops over the run (socket buffer or ring full). */
  drops: number;
}

function countOf(phase: Phase): number {
  return phase === 'live' ? LIVE_COUNT : QUEUED_COUNT;
}

/** One run of the C receiver for variant `v`: live, it reads while the sender sends; queued, it waits for a line on stdin. */
async function runC(v: Variant, frameBytes: number, phase: Phase): Promise<Run> {
  const count = countOf(phase);
  const options = ['-b', String(v.batch)];
  if (phase === 'queued') options.push('-w', '-r', String(QUEUED_RCVBUF), '-n', String(QUEUED_RING_FRAMES));
  const cMode = v.mode === 'readv' ? 'recv' : v.mode;
  const child = spawn('ip', ['netns', 'exec', NS, bin.recv, ...options, B, cMode, String(frameBytes), String(count), String(IDLE_MS[phase]), String(RUN_SECONDS)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = output(child, 'packet-recv');
  exited.catch(() => {}); // awaited below; a failure before "ready" must not leave an unhandled rejection
  await new Promise<void>((resolve, reject) => {
    let seen = '';
    const onData = (d: Buffer): void => {
      seen += d.toString();
      if (seen.includes('ready\n')) {
        child.stdout!.off('data', onData);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    exited.then(() => reject(new Error('packet-recv ended before "ready"')), reject);
  });
  const sent = await flood(frameBytes, count);
  if (phase === 'queued') {
    await sleep(SETTLE_MS);
    child.stdin!.end('go\n');
  } else {
    child.stdin!.end();
  }
  const out = await exited;
  const report = JSON.parse(out.slice(out.indexOf('ready\n') + 6)) as { received: number; seconds: number; drops: number };
  return { received: report.received, seconds: report.seconds, sent: sent.sent, senderSeconds: sent.seconds, drops: report.drops };
}

const FRAMES = 256;
const area = { bytes: new Uint8Array(new SharedArrayBuffer(FRAMES * 2048)), frameSize: 2048 };
const frames = new Int32Array(FRAMES).map((_, i) => i);
const lengths = new Int32Array(FRAMES);

/** Receives on `d`, `max` per call, until `count` frames of `frameBytes`, `idleMs` without one, or the deadline; synchronous. */
function receiveLoop(d: Dispatcher, frameBytes: number, max: number, count: number, idleMs: number): { received: number; seconds: number } {
  let received = 0;
  let first = 0;
  let last = 0;
  const deadline = performance.now() + RUN_SECONDS * 1000;
  for (;;) {
    // Timed from before the call that returned the first frame to after the last, as packet-recv.c.
    const before = performance.now();
    const n = d.receive(frames, lengths, max);
    if (n > 0) {
      if (received === 0) first = before;
      last = performance.now();
      for (let i = 0; i < n; i++) if (lengths[i] === frameBytes) received++;
      if (received >= count) break;
      continue;
    }
    if (n < 0) throw new Error(`receive returned ${n}`);
    const now = performance.now();
    if (now > deadline || (received > 0 && now - last > idleMs)) break;
    d.wait(50);
  }
  return { received, seconds: (last - first) / 1000 };
}

const stats = new Int32Array(2); // struct tpacket_stats { tp_packets, tp_drops }
const statsLength = new Int32Array(1);

/** PACKET_STATISTICS tp_drops of a socket without a ring since it was opened (reading resets them). */
function socketDrops(fd: number): number {
  statsLength[0] = 8;
  const r = getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, stats, statsLength);
  if (r < 0) throw new Error(`getsockopt PACKET_STATISTICS: errno ${-r}`);
  return stats[1]! >>> 0;
}

/** One run of netshard's dispatcher for variant `v` on the main thread. */
async function runJs(v: Variant, frameBytes: number, phase: Phase): Promise<Run> {
  const count = countOf(phase);
  const queued = phase === 'queued';
  const { fds } = openPacketSockets(B, 1, queued ? { netns: NS, receiveBufferBytes: QUEUED_RCVBUF } : { netns: NS });
  const fd = fds[0]!;
  let d: Dispatcher | undefined;
  try {
    d =
      v.mode === 'readv' ? createReadvDispatcher({ fd, frames: area, batchSize: v.batch })
      : v.mode === 'recvmmsg' ? createRecvmmsgDispatcher({ fd, frames: area, batchSize: v.batch })
      : createMmapDispatcher({ fd, frames: area, batchSize: v.batch, ...(queued ? { ringFrames: QUEUED_RING_FRAMES } : {}) });
    let r: { received: number; seconds: number };
    let sent: Sent;
    if (queued) {
      sent = await flood(frameBytes, count); // everything lands in the socket buffer or ring first
      await sleep(SETTLE_MS);
      r = receiveLoop(d, frameBytes, v.batch, count, IDLE_MS.queued);
    } else {
      const sender = flood(frameBytes, count); // a separate process: it sends while this thread receives
      r = receiveLoop(d, frameBytes, v.batch, count, IDLE_MS.live);
      sent = await sender;
    }
    let drops: number;
    if (v.mode === 'mmap') {
      const m = d as MmapDispatcher;
      m.readKernelStatistics();
      drops = m.ringCounters[MmapCounter.kernelDrops]!;
    } else {
      drops = socketDrops(fd);
    }
    return { ...r, sent: sent.sent, senderSeconds: sent.seconds, drops };
  } finally {
    d?.close();
    closeFds(fds);
  }
}

interface Cell {
  case: string;
  phase: Phase;
  mode: Mode;
  batch: number;
  impl: 'c' | 'js';
  frameBytes: number;
  framesPerRun: number;
  kpps: number[];
  median: number;
  min: number;
  max: number;
  vsC: number;
  /** Median share of sent frames received. */
  got: number;
  /** Median sender rate, kpps. */
  senderKpps: number;
  /** Median PACKET_STATISTICS drops per run. */
  drops: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function measure(impl: 'c' | 'js', v: Variant, frameBytes: number, phase: Phase, cMedian: number): Promise<Cell> {
  const run = (): Promise<Run> => (impl === 'c' ? runC(v, frameBytes, phase) : runJs(v, frameBytes, phase));
  await run(); // warm-up (JIT, page cache), not counted
  const runs: Run[] = [];
  for (let i = 0; i < RUNS; i++) runs.push(await run());
  const kpps = runs.map((r) => (r.seconds > 0 ? r.received / r.seconds / 1000 : 0));
  const m = median(kpps);
  return {
    case: `${impl === 'c' ? 'C (baseline)' : 'netshard'} ${v.name} ${frameBytes} B`,
    phase,
    mode: v.mode,
    batch: v.batch,
    impl,
    frameBytes,
    framesPerRun: countOf(phase),
    kpps,
    median: m,
    min: Math.min(...kpps),
    max: Math.max(...kpps),
    vsC: impl === 'c' ? 1 : cMedian > 0 ? m / cMedian : 0,
    got: median(runs.map((r) => r.received / r.sent)),
    senderKpps: median(runs.map((r) => r.sent / r.senderSeconds / 1000)),
    drops: median(runs.map((r) => r.drops)),
  };
}

function columns(c: Cell, sender: boolean): string {
  return (
    `${c.median.toFixed(0).padStart(6)} kpps${c.min.toFixed(0).padStart(7)}${c.max.toFixed(0).padStart(7)}${(c.vsC.toFixed(2) + 'x').padStart(7)}` +
    `${((c.got * 100).toFixed(0) + '%').padStart(6)}${sender ? c.senderKpps.toFixed(0).padStart(7) + ' kpps' : ''}`
  );
}

const started = performance.now();
setUp();
try {
  if (!json) {
    console.log(machine);
    console.log(`live: ${LIVE_COUNT} frames sent while receiving; queued: ${QUEUED_COUNT} frames queued, then the drain timed; ${RUNS} runs per cell`);
    const head = `${'median'.padStart(11)}${'min'.padStart(7)}${'max'.padStart(7)}${'vs C'.padStart(7)}${'got'.padStart(6)}`;
    console.log(`${''.padEnd(32)}${'live'.padEnd(50)}  ${'queued'}`);
    console.log(`${'case'.padEnd(32)}${head}${'sender'.padStart(12)}  ${head}`);
  }
  const cells: Cell[] = [];
  for (const frameBytes of SIZES) {
    for (const v of VARIANTS) {
      const cMedian: Record<Phase, number> = { live: 0, queued: 0 };
      for (const impl of ['c', 'js'] as const) {
        const row: Record<Phase, Cell | undefined> = { live: undefined, queued: undefined };
        for (const phase of PHASES) {
          const cell = await measure(impl, v, frameBytes, phase, cMedian[phase]);
          if (impl === 'c') cMedian[phase] = cell.median;
          cells.push(cell);
          row[phase] = cell;
        }
        if (!json) console.log(`${row.live!.case.padEnd(32)}${columns(row.live!, true)}  ${columns(row.queued!, false)}`);
      }
    }
  }
  const seconds = (performance.now() - started) / 1000;
  if (json) {
    console.log(
      JSON.stringify({
        bench: 'veth-receive',
        machine: machine.slice(2),
        quick,
        runsPerCell: RUNS,
        framesPerRun: { live: LIVE_COUNT, queued: QUEUED_COUNT },
        queuedReceiveBufferBytes: QUEUED_RCVBUF,
        queuedRingFrames: QUEUED_RING_FRAMES,
        flows: FLOWS,
        unit: 'kpps',
        seconds,
        cells,
      }),
    );
  } else {
    console.log(`# ${seconds.toFixed(1)} s`);
  }
} finally {
  tearDown();
}
