/**
 * bench/fdbased-receive.ts — receive packets per second of netshard's fd dispatchers over an AF_UNIX
 * SOCK_DGRAM socketpair: readv (one packet per readv, 8 readv per receive call) and recvmmsg with batches
 * of 8, 32 and 64, at 64 B and 1500 B, against a C receiver (recvmmsg, batch 32, same non-blocking +
 * poll structure) measured in the same run as the baseline, plus C with one recv per packet (what readv
 * should be compared with).
 *
 *   npx tsx bench/fdbased-receive.ts [--quick] [--json]
 *
 * Two phases per size:
 * - live:   a C sender process (bench/c/recv-baseline.c, sendmmsg batches of 64, blocking, bounded in
 *           count) sends while the receiver runs: both share the 2 cores, as in a real run.
 * - queued: the sender first fills the socket (non-blocking, up to the first EAGAIN, with a 64 MiB send
 *           buffer), exits, then the receiver drains: the receive path's own cost, no sender competing.
 * The JS receiver runs on this script's main thread into frames of a FramePool (no copy). Time runs from
 * just before the receive call that returned the first packet to just after the one returned the last.
 * Cells are interleaved run by run; >= 5 runs per cell, median / min / max Mpps, ratio to the C baseline.
 */
import { spawn } from 'node:child_process';
import { cpus, release } from 'node:os';
import { performance } from 'node:perf_hooks';
import { FramePool } from '../src/ring/index.ts';
import {
  WaitResult,
  closeFds,
  createReadvDispatcher,
  createRecvmmsgDispatcher,
  openSocketPair,
  syscalls as sys,
  type Dispatcher,
} from '../src/fdbased/index.ts';
import { compileC } from './lib/cc.ts';

const args = new Set(process.argv.slice(2));
const quick = args.has('--quick');
const json = args.has('--json');
const RUNS = 5;
const LIVE_COUNT = quick ? 20_000 : 300_000;
const QUEUED_MAX = quick ? 20_000 : 200_000;
const SIZES = [64, 1500] as const;
const PHASES = ['live', 'queued'] as const;
type Phase = (typeof PHASES)[number];
const CASES = [
  { name: 'C recvmmsg 32 (baseline)', kind: 'c', batch: 32 },
  { name: 'C recv (1 per call)', kind: 'c', batch: 1 },
  { name: 'readv', kind: 'readv', batch: 8 },
  { name: 'recvmmsg 8', kind: 'recvmmsg', batch: 8 },
  { name: 'recvmmsg 32', kind: 'recvmmsg', batch: 32 },
  { name: 'recvmmsg 64', kind: 'recvmmsg', batch: 64 },
] as const;
type Case = (typeof CASES)[number];

const machine = `# bench/fdbased-receive.ts  node ${process.version}  ${cpus().length} cpus  linux ${release()}  ${new Date().toISOString()}${quick ? '  (--quick)' : ''}`;
if (!json) console.log(machine);

const BIN = compileC('recv-baseline');

/** Runs recv-baseline with `fd` as its fd 3; resolves its JSON line. Killed if it outlives `limitMs`. */
function runC(fd: number, argv: string[], limitMs = 20_000): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, argv, { stdio: ['ignore', 'pipe', 'inherit', fd] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
    child.on('close', (code) => { // 'close': stdout is read to its end
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`recv-baseline ${argv.join(' ')} exited with ${code}`));
      else resolve(JSON.parse(out) as Record<string, number>);
    });
  });
}

/** Receives `count` packets with `d` on this thread; returns Mpps, or throws when the data stops. */
function receiveJs(d: Dispatcher, count: number, batch: number): number {
  const frames = Int32Array.from({ length: batch }, (_, i) => i);
  const lengths = new Int32Array(batch);
  let received = 0;
  let first = 0;
  let last = 0;
  while (received < count) {
    const before = performance.now();
    const n = d.receive(frames, lengths, batch);
    if (n > 0) {
      if (received === 0) first = before;
      received += n;
      last = performance.now();
    } else if (n === 0) {
      if (d.wait(5000) === WaitResult.Timeout) throw new Error(`no data for 5 s after ${received} of ${count}`);
    } else {
      throw new Error(`receive: ${n}`);
    }
  }
  return received / ((last - first) * 1000);
}

/** One run of one cell; returns Mpps. */
async function runCell(c: Case, size: number, phase: Phase): Promise<number> {
  const [sender, receiver] = openSocketPair({ type: 'dgram' });
  try {
    let count = LIVE_COUNT;
    if (phase === 'queued') {
      if (sys.setsockoptInt(sender, sys.SOL_SOCKET, sys.SO_SNDBUFFORCE, 64 << 20) < 0) {
        sys.setsockoptInt(sender, sys.SOL_SOCKET, sys.SO_SNDBUF, 64 << 20);
      }
      count = (await runC(sender, ['send', String(QUEUED_MAX), String(size), 'fill'])).sent as number;
    }
    if (c.kind === 'c') {
      const receiving = runC(receiver, ['recv', String(count), String(c.batch), '2048']);
      const sending = phase === 'live' ? runC(sender, ['send', String(count), String(size)]) : Promise.resolve({});
      const [r] = await Promise.all([receiving, sending]);
      if (r.received !== count) throw new Error(`C receiver got ${r.received} of ${count}`);
      return (r.pps as number) / 1e6;
    }
    const pool = FramePool.create({ frameSize: 2048, frameCount: 64 });
    const d = c.kind === 'readv'
      ? createReadvDispatcher({ fd: receiver, frames: pool, batchSize: c.batch })
      : createRecvmmsgDispatcher({ fd: receiver, frames: pool, batchSize: c.batch });
    try {
      // The sender starts now and runs in its own process while this thread blocks in the receive loop.
      const sending = phase === 'live' ? runC(sender, ['send', String(count), String(size)]) : Promise.resolve({});
      const mpps = receiveJs(d, count, c.batch);
      await sending;
      if (d.counters.rxPackets !== count || d.counters.rxTruncated !== 0) throw new Error(`received ${d.counters.rxPackets} of ${count}`);
      return mpps;
    } finally {
      d.close();
    }
  } finally {
    closeFds([sender, receiver]);
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const results: { size: number; phase: Phase; case: string; median: number; min: number; max: number; vsBaseline: number }[] = [];

for (const size of SIZES) {
  for (const phase of PHASES) {
    const samples = new Map<string, number[]>(CASES.map((c) => [c.name, []]));
    for (let run = 0; run < RUNS; run++) {
      for (const c of CASES) samples.get(c.name)!.push(await runCell(c, size, phase));
    }
    const base = median(samples.get(CASES[0].name)!);
    if (!json) {
      console.log(`\n${size} B, ${phase}${phase === 'queued' ? ` (≤ ${QUEUED_MAX} queued)` : ` (${LIVE_COUNT} packets)`}`);
      console.log(`${'case'.padEnd(28)}${'median'.padStart(12)}${'min'.padStart(8)}${'max'.padStart(8)}${'vs baseline'.padStart(14)}`);
    }
    for (const c of CASES) {
      const xs = samples.get(c.name)!;
      const row = { size, phase, case: c.name, median: median(xs), min: Math.min(...xs), max: Math.max(...xs), vsBaseline: median(xs) / base };
      results.push(row);
      if (!json) {
        console.log(`${c.name.padEnd(28)}${row.median.toFixed(3).padStart(7)} Mpps${row.min.toFixed(3).padStart(8)}${row.max.toFixed(3).padStart(8)}${row.vsBaseline.toFixed(2).padStart(13)}x`);
      }
    }
  }
}
if (json) console.log(JSON.stringify({ machine, runs: RUNS, liveCount: LIVE_COUNT, queuedMax: QUEUED_MAX, results }));
