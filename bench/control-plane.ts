/**
 * bench/control-plane.ts — what a control call to a dispatch worker costs, to choose between comlink and
 * plain postMessage: the round trip of one "stats" call (a `readStats` snapshot, ~40 numbers) four ways,
 * in the same run:
 *   postMessage (baseline)   a message each way; the worker's event loop idles between calls
 *   comlink                  `await api.stats()` over comlink's node adapter (RPC proxy, ids, wire values)
 *   comlink, waitAsync idle  the same to a worker idling as an app worker does (a pending Atomics.waitAsync
 *                            on its rx ring): the cost of a control call to a `serve` instance
 *   postMessage to poll()    the dispatch worker's control path: the worker sleeps in koffi poll() on its
 *                            eventfd; post on a port + shared counter + eventfd write; it pulls the message
 *                            with receiveMessageOnPort and replies on parentPort
 *   SAB read                 `readStats(buffer)` on the main thread: no message, no worker involved
 *   piscina                  `await pool.run()` of an empty task on a one-thread pool: what a job handed to
 *                            piscina costs (it suits occasional jobs for any free thread, not fd owners)
 *
 *   npx tsx bench/control-plane.ts [--quick] [--json]
 *
 * Each case: a warm-up, then >= 5 runs of `calls` sequential round trips; µs per call median / min / max,
 * and the median's ratio to the baseline. Sequential calls measure latency (what a stats poll or a stop
 * costs), not throughput.
 */
import { cpus, release } from 'node:os';
import { MessageChannel, type Worker } from 'node:worker_threads';
import * as Comlink from 'comlink';
import { Piscina } from 'piscina';
import nodeAdapter from 'comlink/dist/umd/node-adapter.js';
import { wakeHandle, type StopHandle } from '../src/fdbased/index.ts';
import { spawnWorker } from '../src/spawn-worker.ts';
import { createStatsBuffer, readStats, type WorkerStats } from '../src/workers/index.ts';

type NodeEndpoint = (port: Worker) => Comlink.Endpoint;
// A UMD/CommonJS module: ESM gets module.exports (the function) as the default; its .d.ts says otherwise.
const nodeEndpoint = ((nodeAdapter as unknown as { default?: NodeEndpoint }).default ?? nodeAdapter) as unknown as NodeEndpoint;

const args = new Set(process.argv.slice(2));
const quick = args.has('--quick');
const json = args.has('--json');
const RUNS = 5;
const CALLS = quick ? 200 : 5000;
const SAB_CALLS = quick ? 20_000 : 500_000;
const url = new URL('./control-plane-worker.ts', import.meta.url);

function nextMessage<T>(w: Worker): Promise<T> {
  return new Promise((resolve) => w.once('message', resolve));
}

interface Case {
  name: string;
  /** Runs `n` sequential calls; resolves when done. */
  run(n: number): Promise<void>;
  close(): Promise<void>;
}

async function postMessageCase(): Promise<Case> {
  const stats = createStatsBuffer();
  const w = spawnWorker(url, { workerData: { mode: 'postMessage', stats } });
  await nextMessage(w);
  return {
    name: 'postMessage (baseline)',
    async run(n) {
      for (let i = 0; i < n; i++) {
        const reply = nextMessage<WorkerStats>(w);
        w.postMessage({ kind: 'stats' });
        if ((await reply).rxPackets !== 1234) throw new Error('bad reply');
      }
    },
    async close() {
      w.postMessage({ kind: 'close' });
      await w.terminate();
    },
  };
}

async function comlinkCase(): Promise<Case> {
  return comlinkCaseOf('comlink', 'comlink (node adapter)');
}

async function comlinkWaitAsyncCase(): Promise<Case> {
  return comlinkCaseOf('comlinkWaitAsync', 'comlink, worker in waitAsync');
}

async function comlinkCaseOf(mode: string, name: string): Promise<Case> {
  const stats = createStatsBuffer();
  const w = spawnWorker(url, { workerData: { mode, stats } });
  await nextMessage(w);
  const api = Comlink.wrap<{ stats(): WorkerStats }>(nodeEndpoint(w));
  return {
    name,
    async run(n) {
      for (let i = 0; i < n; i++) if ((await api.stats()).rxPackets !== 1234) throw new Error('bad reply');
    },
    async close() {
      api[Comlink.releaseProxy]();
      await w.terminate();
    },
  };
}

async function pollCase(): Promise<Case> {
  const stats = createStatsBuffer();
  const control = new SharedArrayBuffer(4);
  const counter = new Int32Array(control);
  const channel = new MessageChannel();
  const w = spawnWorker(url, { workerData: { mode: 'poll', stats, control, port: channel.port2 }, transferList: [channel.port2] });
  const handle = await nextMessage<StopHandle>(w);
  const call = (message: { kind: string }) => {
    channel.port1.postMessage(message);
    Atomics.add(counter, 0, 1);
    wakeHandle(handle);
  };
  return {
    name: 'postMessage to a worker in poll()',
    async run(n) {
      for (let i = 0; i < n; i++) {
        const reply = nextMessage<WorkerStats>(w);
        call({ kind: 'stats' });
        if ((await reply).rxPackets !== 1234) throw new Error('bad reply');
      }
    },
    async close() {
      const exited = new Promise((resolve) => w.once('exit', resolve));
      call({ kind: 'close' });
      await exited;
      channel.port1.close();
    },
  };
}

async function sabCase(): Promise<Case> {
  const stats = createStatsBuffer();
  new Float64Array(stats)[0] = 1234;
  return {
    name: 'readStats(SAB), no message',
    async run() {
      for (let i = 0; i < SAB_CALLS; i++) if (readStats(stats).rxPackets !== 1234) throw new Error('bad read');
    },
    async close() {},
  };
}

async function piscinaCase(): Promise<Case> {
  const pool = new Piscina({ filename: new URL('./piscina-task.mjs', import.meta.url).href, minThreads: 1, maxThreads: 1 });
  return {
    name: 'piscina empty task',
    async run(n) {
      for (let i = 0; i < n; i++) await pool.run(null);
    },
    async close() {
      await pool.destroy();
    },
  };
}

const machine = `# bench/control-plane.ts  node ${process.version}  ${cpus().length} cpus  linux ${release()}  ${new Date().toISOString()}${quick ? '  (--quick)' : ''}`;
interface Row {
  case: string;
  calls: number;
  runs: number[];
  median: number;
  min: number;
  max: number;
  vsBaseline: number;
}
const rows: Row[] = [];
if (!json) {
  console.log(machine);
  console.log(`${'case'.padEnd(36)}${'median µs'.padStart(11)}${'min'.padStart(9)}${'max'.padStart(9)}${'vs baseline'.padStart(13)}`);
}
let baseline = 0;
for (const make of [postMessageCase, comlinkCase, comlinkWaitAsyncCase, pollCase, piscinaCase, sabCase]) {
  const c = await make();
  const calls = make === sabCase ? SAB_CALLS : CALLS;
  await c.run(Math.max(10, calls / 10)); // warm-up
  const runs: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const t = performance.now();
    await c.run(calls);
    runs.push(((performance.now() - t) * 1000) / calls);
  }
  await c.close();
  const sorted = [...runs].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  if (baseline === 0) baseline = median;
  const row: Row = { case: c.name, calls, runs, median, min: sorted[0]!, max: sorted[sorted.length - 1]!, vsBaseline: median / baseline };
  rows.push(row);
  if (!json) {
    const f = (x: number) => (x < 1 ? x.toFixed(3) : x.toFixed(1)).padStart(9);
    console.log(`${row.case.padEnd(36)}${f(row.median).padStart(11)}${f(row.min)}${f(row.max)}${(row.vsBaseline.toFixed(2) + 'x').padStart(13)}`);
  }
}
if (json) console.log(JSON.stringify({ machine, unit: 'µs per call', rows }));
