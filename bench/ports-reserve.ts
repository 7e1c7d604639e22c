/**
 * bench/ports-reserve.ts — reserve+release pairs per second on the PortManager's shared table: one
 * thread alone, and two worker threads contending for one table (one mutex). Baselines in the same run:
 * a plain JS Map refcount keyed by a string (what a single-threaded port table costs) and an
 * uncontended lock+unlock of the table mutex (the floor of any shared-memory table).
 *
 *   npx tsx bench/ports-reserve.ts [--quick] [--json]
 *
 * Each case: 1 warm-up run, then 5 timed runs; k pairs/s median, min, max and the median's ratio to the
 * Map baseline. Two threads: time from GO to the last worker's DONE (includes one wake-up, ~15 µs).
 */
import { cpus, release } from 'node:os';
import { PortManager } from '../src/ports/index.ts';
import { lock, unlock } from '../src/ports/mutex.ts';
import { spawnWorker } from '../src/spawn-worker.ts';
import { DONE, ERRORS, GO, KEYS, reservationsFor, runPairs } from './ports-reserve-shared.ts';

const args = new Set(process.argv.slice(2));
const quick = args.has('--quick');
const json = args.has('--json');
const RUNS = 5;
const PAIRS = quick ? 5_000 : 200_000;
const WORKERS = 2;

interface Row { name: string; unit: 'k pairs/s'; median: number; min: number; max: number; vsBaseline: number }

function summarize(name: string, samples: number[], baseline: number): Row {
  const s = [...samples].sort((a, b) => a - b);
  const median = s[Math.floor(s.length / 2)]!;
  return { name, unit: 'k pairs/s', median, min: s[0]!, max: s[s.length - 1]!, vsBaseline: baseline > 0 ? median / baseline : 1 };
}

/** Runs `body(pairs)` once to warm up, then RUNS times; returns thousands of pairs per second. */
function measure(pairs: number, body: (pairs: number) => void): number[] {
  body(Math.min(pairs, 10_000));
  const out: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const t0 = performance.now();
    body(pairs);
    out.push(pairs / (performance.now() - t0)); // pairs per ms = k pairs/s
  }
  return out;
}

const list = reservationsFor(0);

// Baseline 1: a Map refcount keyed by the reservation's fields as a string (no validation, one thread).
const map = new Map<string, number>();
const mapSamples = measure(PAIRS * 5, (pairs) => {
  for (let i = 0; i < pairs; i++) {
    const r = list[i % KEYS]!;
    const key = `${r.networks[0]}|${r.transport}|${r.address}|${r.port}|${r.flags}`;
    map.set(key, (map.get(key) ?? 0) + 1);
    const n = map.get(key)! - 1;
    if (n === 0) map.delete(key);
    else map.set(key, n);
  }
});
if (map.size !== 0) throw new Error('Map baseline left keys behind');

// Baseline 2: the mutex alone, uncontended, twice per pair (reserve and release each lock once).
const word = new Int32Array(new SharedArrayBuffer(4));
const lockSamples = measure(PAIRS * 5, (pairs) => {
  for (let i = 0; i < pairs; i++) {
    lock(word, 0); unlock(word, 0);
    lock(word, 0); unlock(word, 0);
  }
});

// PortManager, one thread.
const single = PortManager.create();
const singleSamples = measure(PAIRS, (pairs) => runPairs(single, list, pairs));
if (single.entryCount() !== 0) throw new Error('single-thread run left rows behind');

// PortManager, two workers on one table.
const shared = PortManager.create();
const control = new Int32Array(new SharedArrayBuffer(12));
const workers = [];
for (let id = 1; id <= WORKERS; id++) {
  const w = spawnWorker(new URL('./ports-reserve-worker.ts', import.meta.url), {
    workerData: { buffer: shared.buffer, control: control.buffer, id, pairs: PAIRS },
  });
  w.on('error', (err) => { console.error(err); process.exit(1); });
  workers.push(w);
}
async function round(): Promise<number> {
  Atomics.store(control, DONE, 0);
  const t0 = performance.now();
  Atomics.add(control, GO, 1);
  Atomics.notify(control, GO);
  for (;;) {
    const done = Atomics.load(control, DONE);
    if (done === WORKERS) break;
    const w = Atomics.waitAsync(control, DONE, done);
    if (w.async) await w.value;
  }
  const ms = performance.now() - t0;
  if (Atomics.load(control, ERRORS) !== 0) throw new Error('a worker failed');
  return (WORKERS * PAIRS) / ms;
}
await round(); // warm-up; also waits for both workers to start
const twoSamples: number[] = [];
for (let r = 0; r < RUNS; r++) twoSamples.push(await round());
Atomics.store(control, GO, -1);
Atomics.notify(control, GO);
if (shared.entryCount() !== 0 || shared.stats().lock !== 0) throw new Error('two-thread run left rows or the lock behind');

const mapMedian = summarize('', mapSamples, 0).median;
const rows: Row[] = [
  summarize('Map refcount, 1 thread (baseline)', mapSamples, mapMedian),
  summarize('mutex lock+unlock ×2 only, 1 thread', lockSamples, mapMedian),
  summarize('PortManager, 1 thread', singleSamples, mapMedian),
  summarize(`PortManager, ${WORKERS} threads contending`, twoSamples, mapMedian),
];
const machine = `node ${process.version}  ${cpus().length} cpus  linux ${release()}  ${new Date().toISOString()}`;
if (json) {
  console.log(JSON.stringify({ bench: 'ports-reserve', machine, quick, runs: RUNS, pairs: PAIRS, rows }));
} else {
  console.log(`# bench/ports-reserve.ts  ${machine}${quick ? '  (--quick)' : ''}`);
  console.log(`${'case'.padEnd(40)}${'median'.padStart(18)}${'min'.padStart(10)}${'max'.padStart(10)}${'vs baseline'.padStart(14)}`);
  for (const r of rows) {
    console.log(`${r.name.padEnd(40)}${(r.median.toFixed(0) + ' ' + r.unit).padStart(18)}${r.min.toFixed(0).padStart(10)}${r.max.toFixed(0).padStart(10)}${(r.vsBaseline.toFixed(2) + 'x').padStart(14)}`);
  }
}
