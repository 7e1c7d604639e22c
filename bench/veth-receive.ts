/**
 * bench/veth-receive.ts — how fast one AF_PACKET socket receives frames the kernel sends over a veth pair,
 * per dispatch mode (readv, recvmmsg, PACKET_MMAP), with 64-byte and 1500-byte frames; netshard's JS
 * dispatchers against a C receiver doing the same in the same run (bench/c/packet-recv.c: recv per frame,
 * recvmmsg batches of 32, a TPACKET_V2 ring with the same geometry, each copying every frame once).
 *
 *   npx tsx bench/veth-receive.ts [--quick] [--json]          (root: it creates a network namespace)
 *
 * Topology: namespace ns-vrx-<pid> with veth vra<pid> ⇄ vrb<pid>; the kernel sends from vra
 * (198.18.0.1) to 198.18.0.9, a static neighbour, so every frame crosses to vrb, where the receiver's
 * socket listens (nothing else runs there: IPv6 off). The sender is bench/c/udp-flood.c (sendmmsg
 * batches of 64, 8 flows, bounded count, 10 s cap), compiled into bench/out/ at start.
 *
 * Each cell: one warm-up run, then >= 5 runs, each a fresh socket; a run counts frames of exactly the cell's size from the first
 * to the last one received (stopping at the count sent, after 300 ms without a frame, or 10 s). kpps median,
 * min, max; `vs C` = median over the C receiver's median in the same mode and size; `got` = median share of
 * the sent frames received (the rest the kernel dropped: socket buffer or ring full). Sender and receiver
 * share the machine's cores, so the sender's own rate (`sender`) caps every figure; compare columns, not
 * absolute numbers, and read `got` < 100 % as the receiver falling behind.
 */
import { execFileSync, spawn } from 'node:child_process';
import { cpus, release } from 'node:os';
import { createMmapDispatcher } from '../src/fdbased/dispatch-mmap.ts';
import { createReadvDispatcher } from '../src/fdbased/dispatch-readv.ts';
import { createRecvmmsgDispatcher } from '../src/fdbased/dispatch-recvmmsg.ts';
import type { Dispatcher } from '../src/fdbased/dispatcher.ts';
import { openPacketSockets } from '../src/fdbased/open-packet.ts';
import { closeFds } from '../src/fdbased/socketpair.ts';
import { compileC } from './lib/cc.ts';

const args = new Set(process.argv.slice(2));
const quick = args.has('--quick');
const json = args.has('--json');
const RUNS = 5;
/** Frames sent per run: enough for ~0.5 s at the sender's ~0.5 Mpps here (--quick: a few ms). */
const COUNT = quick ? 5_000 : 300_000;
const FLOWS = 8;
const IDLE_MS = 300;
const RUN_SECONDS = 10;
const MODES = ['readv', 'recvmmsg', 'mmap'] as const;
/** Frame sizes as the receiver sees them (Ethernet header included, no FCS): UDP payload = size - 42. */
const SIZES = [64, 1500] as const;
type Mode = (typeof MODES)[number];

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

/** Starts the kernel sender; resolves with its report once it exited and its output is read ('close', not 'exit'). */
function flood(frameBytes: number): Promise<Sent> {
  const child = spawn('ip', ['netns', 'exec', NS, bin.flood, '198.18.0.9', '9', String(frameBytes - 42), String(COUNT), String(FLOWS), String(RUN_SECONDS)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) =>
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as Sent) : reject(new Error(`udp-flood exited with ${code}`)))),
  );
}

interface Run {
  received: number;
  seconds: number;
  sent: number;
  senderSeconds: number;
}

/** One run of the C receiver in `mode`. */
async function runC(mode: Mode, frameBytes: number): Promise<Run> {
  const cMode = mode === 'readv' ? 'recv' : mode;
  const child = spawn('ip', ['netns', 'exec', NS, bin.recv, B, cMode, String(frameBytes), String(COUNT), String(IDLE_MS), String(RUN_SECONDS)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const exited = new Promise<void>((resolve, reject) => child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`packet-recv exited with ${code}`)))));
  await new Promise<void>((resolve) =>
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready\n')) resolve();
    }),
  );
  const sent = await flood(frameBytes);
  await exited;
  const report = JSON.parse(out.slice(out.indexOf('ready\n') + 6)) as { received: number; seconds: number };
  return { received: report.received, seconds: report.seconds, sent: sent.sent, senderSeconds: sent.seconds };
}

const FRAMES = 256;
const area = { bytes: new Uint8Array(new SharedArrayBuffer(FRAMES * 2048)), frameSize: 2048 };
const frames = new Int32Array(FRAMES).map((_, i) => i);
const lengths = new Int32Array(FRAMES);

/** Receives on `d` until `COUNT` frames of `frameBytes`, idle, or the deadline; synchronous, the sender runs meanwhile. */
function receiveLoop(d: Dispatcher, frameBytes: number): { received: number; seconds: number } {
  let received = 0;
  let first = 0;
  let last = 0;
  const deadline = performance.now() + RUN_SECONDS * 1000;
  for (;;) {
    // Timed from before the call that returned the first frame to after the last, as packet-recv.c.
    const before = performance.now();
    const n = d.receive(frames, lengths, 64);
    if (n > 0) {
      if (received === 0) first = before;
      last = performance.now();
      for (let i = 0; i < n; i++) if (lengths[i] === frameBytes) received++;
      if (received >= COUNT) break;
      continue;
    }
    if (n < 0) throw new Error(`receive returned ${n}`);
    const now = performance.now();
    if (now > deadline || (received > 0 && now - last > IDLE_MS)) break;
    d.wait(50);
  }
  return { received, seconds: (last - first) / 1000 };
}

/** One run of netshard's dispatcher in `mode` on the main thread. */
async function runJs(mode: Mode, frameBytes: number): Promise<Run> {
  const { fds } = openPacketSockets(B, 1, { netns: NS });
  const fd = fds[0]!;
  const d = mode === 'readv' ? createReadvDispatcher({ fd, frames: area }) : mode === 'recvmmsg' ? createRecvmmsgDispatcher({ fd, frames: area }) : createMmapDispatcher({ fd, frames: area });
  try {
    const sender = flood(frameBytes); // a separate process: it sends while this thread receives
    const r = receiveLoop(d, frameBytes);
    const sent = await sender;
    return { ...r, sent: sent.sent, senderSeconds: sent.seconds };
  } finally {
    d.close();
    closeFds(fds);
  }
}

interface Cell {
  case: string;
  mode: Mode;
  impl: 'c' | 'js';
  frameBytes: number;
  kpps: number[];
  median: number;
  min: number;
  max: number;
  vsC: number;
  /** Median share of sent frames received. */
  got: number;
  /** Median sender rate, kpps. */
  senderKpps: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

setUp();
try {
  if (!json) {
    console.log(machine);
    console.log(`${'case'.padEnd(28)}${'median'.padStart(12)}${'min'.padStart(8)}${'max'.padStart(8)}${'vs C'.padStart(8)}${'got'.padStart(8)}${'sender'.padStart(12)}`);
  }
  const cells: Cell[] = [];
  for (const frameBytes of SIZES) {
    for (const mode of MODES) {
      let cMedian = 0;
      for (const impl of ['c', 'js'] as const) {
        const runs: Run[] = [];
        await (impl === 'c' ? runC(mode, frameBytes) : runJs(mode, frameBytes)); // warm-up (JIT, page cache), not counted
        for (let i = 0; i < RUNS; i++) runs.push(impl === 'c' ? await runC(mode, frameBytes) : await runJs(mode, frameBytes));
        const kpps = runs.map((r) => (r.seconds > 0 ? r.received / r.seconds / 1000 : 0));
        const m = median(kpps);
        if (impl === 'c') cMedian = m;
        const cell: Cell = {
          case: `${impl === 'c' ? 'C (baseline)' : 'netshard'} ${mode} ${frameBytes} B`,
          mode,
          impl,
          frameBytes,
          kpps,
          median: m,
          min: Math.min(...kpps),
          max: Math.max(...kpps),
          vsC: cMedian > 0 ? m / cMedian : 0,
          got: median(runs.map((r) => r.received / r.sent)),
          senderKpps: median(runs.map((r) => r.sent / r.senderSeconds / 1000)),
        };
        cells.push(cell);
        if (!json) {
          console.log(
            `${cell.case.padEnd(28)}${cell.median.toFixed(0).padStart(7)} kpps${cell.min.toFixed(0).padStart(8)}${cell.max.toFixed(0).padStart(8)}${(cell.vsC.toFixed(2) + 'x').padStart(8)}${((cell.got * 100).toFixed(0) + '%').padStart(8)}${cell.senderKpps.toFixed(0).padStart(7)} kpps`,
          );
        }
      }
    }
  }
  if (json) console.log(JSON.stringify({ bench: 'veth-receive', machine: machine.slice(2), quick, runsPerCell: RUNS, framesPerRun: COUNT, flows: FLOWS, unit: 'kpps', cells }));
} finally {
  tearDown();
}
