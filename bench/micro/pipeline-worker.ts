/**
 * Worker side of bench/micro/pipeline.ts. One long-lived thread per role, each running one run at a
 * time on the main thread's command:
 * - `producer` (the dispatch worker's shape): owns a frame pool filled once with test frames; per batch
 *   it reclaims completed frames, reserves ring slots, allocates that many frames (standing in for
 *   recvmmsg into them), writes a descriptor per frame — parse + flow hash (`parse` mode) or the bare
 *   words (`bare` mode, the reference) — and publishes the batch with one store.
 * - `consumer`: peeks a batch of descriptors, folds the words a sender reads, stages each frame on the
 *   completion ring back to the producer and flushes once per batch.
 * - `scaler`: the parse + hash stage alone on its own pool's frames, descriptors into a private scratch
 *   (for the 1-vs-2-worker scaling case).
 * Every hot loop here allocates nothing: int32 math, typed arrays, Atomics on shared words only. While a
 * run is sampled, each thread records its heap and its new space (`v8.getHeapStatistics()` and
 * `getHeapSpaceStatistics()`, a few objects per sample, 10 samples a second: control-path garbage far
 * below what one allocation per packet would make) and a
 * PerformanceObserver counts this thread's garbage collections.
 */
import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import {
  CompletionReceiver,
  CompletionSender,
  DESC_FRAME,
  DESC_HASH,
  FramePool,
  attachConsumer,
  attachProducer,
  type RingConsumer,
  type RingProducer,
} from '../../src/ring/index.ts';
import { ParsedPacket } from '../../src/tcpip/index.ts';
import { fillPool } from './frames.ts';
import { BATCH, describeBare, describeFrame, foldDescriptor } from './stage.ts';
import {
  GO, MAX_SAMPLES, PRODUCED, PRODUCED_RUN, SAMPLE, STOP,
  type FinishCommand, type FinishReport, type PipelineWorkerData, type RunCommand, type RunReport,
} from './protocol.ts';

const data = workerData as PipelineWorkerData;
const control = new Int32Array(data.control);
const parent = parentPort!;

// ---- waiting -------------------------------------------------------------------------------------

const NAP = new Int32Array(new SharedArrayBuffer(4));
/** Spins before the first nap: on an idle machine the other side answers well within this. */
const SPINS_BEFORE_NAP = 2000;
let spins = 0;
let naps = 0;
/** Waits a little for the other side: spin, then nap 50 µs so a descheduled partner gets the core. */
function backoff(): void {
  if (++spins < SPINS_BEFORE_NAP) return;
  spins = 0;
  naps++;
  Atomics.wait(NAP, 0, 0, 0.05);
}

function waitForGo(run: number): void {
  for (;;) {
    const go = Atomics.load(control, GO);
    if (go === run) return;
    Atomics.wait(control, GO, go, 100);
  }
}

// ---- sampling ------------------------------------------------------------------------------------

const heapSamples = new Float64Array(MAX_SAMPLES);
const newSpaceSamples = new Float64Array(MAX_SAMPLES);
let sampleBase = 0; // SAMPLE at the start of the run
let lastSample = 0;
let sampleCount = 0;

function startSampling(): void {
  sampleBase = lastSample = Atomics.load(control, SAMPLE);
  sampleCount = 0;
}
/** Records the heap when main asked for a sample since the last call. Per batch: one Atomics.load. */
function maybeSample(): void {
  const s = Atomics.load(control, SAMPLE);
  if (s === lastSample) return;
  lastSample = s;
  const index = s - sampleBase - 1;
  if (index >= 0 && index < MAX_SAMPLES) {
    heapSamples[index] = getHeapStatistics().used_heap_size;
    // New space alone: where a per-packet object lands (old-space growth is code and feedback from the JIT).
    for (const space of getHeapSpaceStatistics()) if (space.space_name === 'new_space') newSpaceSamples[index] = space.space_used_size;
    if (index + 1 > sampleCount) sampleCount = index + 1;
  }
}

const gcEntries: { startTime: number; kind: number }[] = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcEntries.push({ startTime: e.startTime, kind: ((e as unknown as { detail?: { kind?: number } }).detail?.kind) ?? 0 });
}).observe({ entryTypes: ['gc'] });

// ---- producer ------------------------------------------------------------------------------------

let pool: FramePool | undefined;
let lengths: Int32Array = new Int32Array(0);
let producer: RingProducer | undefined;
let completions: CompletionReceiver | undefined;
let consumer: RingConsumer | undefined;
let sender: CompletionSender | undefined;
const parsed = new ParsedPacket();
const seed = data.seed ?? 0x5eed1234;

if (data.role === 'producer' || data.role === 'scaler') {
  pool = FramePool.adopt(data.pool!);
  lengths = fillPool(pool, data.mix ?? true);
}
if (data.role === 'producer') {
  producer = attachProducer(data.ring!);
  completions = CompletionReceiver.attach(data.completion!, pool!);
}
if (data.role === 'consumer') {
  consumer = attachConsumer(data.ring!);
  sender = CompletionSender.attach(data.completion!);
}

/** Counters a run's loop leaves behind (module state, so the loops return nothing boxed). */
let runCount = 0;
let runXor = 0;
let runSum = 0;
let runDrops = 0;

/** Producer, parse mode: reclaim, reserve, allocate, parse + hash + describe, publish; until STOP is `run`. */
function produceParse(run: number, p: RingProducer, fp: FramePool, home: CompletionReceiver): void {
  const frames = new Int32Array(BATCH);
  const records = p.records;
  const view = fp.view;
  const poolId = fp.id;
  let count = 0, xor = 0, drops = 0;
  while (Atomics.load(control, STOP) !== run) {
    maybeSample();
    home.reclaim();
    let k = p.reserve(BATCH);
    if (k > 0) k = fp.allocBatch(frames, k);
    if (k === 0) {
      backoff();
      continue;
    }
    let n = 0;
    for (let i = 0; i < k; i++) {
      const frame = frames[i]!;
      const at = p.slot(n);
      if (describeFrame(view, frame, poolId, fp.offsetOf(frame), lengths[frame]!, seed, parsed, records, at) !== 0) {
        xor ^= records[at + DESC_HASH]!;
        n++;
      } else {
        fp.free(frame);
        drops++;
      }
    }
    p.publish(n);
    count += n;
    spins = 0;
  }
  runCount = count; runXor = xor; runDrops = drops;
}

/** Producer, bare mode: the same loop with `describeBare` (no parse, no hash). */
function produceBare(run: number, p: RingProducer, fp: FramePool, home: CompletionReceiver): void {
  const frames = new Int32Array(BATCH);
  const records = p.records;
  const poolId = fp.id;
  let count = 0, xor = 0;
  while (Atomics.load(control, STOP) !== run) {
    maybeSample();
    home.reclaim();
    let k = p.reserve(BATCH);
    if (k > 0) k = fp.allocBatch(frames, k);
    if (k === 0) {
      backoff();
      continue;
    }
    for (let i = 0; i < k; i++) {
      const frame = frames[i]!;
      const at = p.slot(i);
      describeBare(frame, poolId, lengths[frame]!, records, at);
      xor ^= frame;
    }
    p.publish(k);
    count += k;
    spins = 0;
  }
  runCount = count; runXor = xor; runDrops = 0;
}

/** Consumer: until the producer says run `run` is over and every descriptor it published is consumed. */
function consume(run: number, c: RingConsumer, home: CompletionSender): void {
  const records = c.records;
  let count = 0, xor = 0, sum = 0;
  for (;;) {
    maybeSample();
    const n = c.peek(BATCH);
    if (n === 0) {
      if (Atomics.load(control, PRODUCED_RUN) === run && count === Atomics.load(control, PRODUCED)) break;
      backoff();
      continue;
    }
    for (let i = 0; i < n; i++) {
      const at = c.slot(i);
      xor ^= records[at + DESC_HASH]!;
      sum = foldDescriptor(sum, records, at);
      home.add(records[at + DESC_FRAME]!);
    }
    c.release(n);
    home.flush();
    count += n;
    spins = 0;
  }
  runCount = count; runXor = xor; runSum = sum; runDrops = 0;
}

/** Scaler: parse + hash + describe its own frames in order, into a private scratch, until STOP is `run`. */
function scale(run: number, fp: FramePool): void {
  const scratch = new Int32Array(BATCH * 8);
  const view = fp.view;
  const poolId = fp.id;
  const mask = fp.frameCount - 1; // a power of two
  let frame = 0, count = 0, xor = 0, drops = 0;
  while (Atomics.load(control, STOP) !== run) {
    maybeSample();
    for (let i = 0; i < BATCH; i++) {
      const f = frame;
      frame = (frame + 1) & mask;
      const at = i << 3;
      if (describeFrame(view, f, poolId, fp.offsetOf(f), lengths[f]!, seed, parsed, scratch, at) !== 0) xor ^= scratch[at + DESC_HASH]!;
      else drops++;
    }
    count += BATCH;
  }
  runCount = count; runXor = xor; runDrops = drops;
}

// ---- commands ------------------------------------------------------------------------------------

async function onRun(cmd: RunCommand): Promise<void> {
  parent.postMessage({ ready: true });
  waitForGo(cmd.run);
  naps = 0; spins = 0;
  startSampling();
  const t0 = performance.now();
  const start = Number(process.hrtime.bigint());
  if (data.role === 'producer') {
    if (cmd.mode === 'parse') produceParse(cmd.run, producer!, pool!, completions!);
    else produceBare(cmd.run, producer!, pool!, completions!);
    Atomics.store(control, PRODUCED, runCount);
    Atomics.store(control, PRODUCED_RUN, cmd.run);
  } else if (data.role === 'consumer') {
    consume(cmd.run, consumer!, sender!);
  } else {
    scale(cmd.run, pool!);
  }
  const end = Number(process.hrtime.bigint());
  const t1 = performance.now();
  await new Promise((resolve) => setTimeout(resolve, 20)); // let the GC observer deliver
  const gcs = gcEntries.filter((e) => e.startTime >= t0 && e.startTime <= t1).map((e) => ({ at: e.startTime - t0, kind: e.kind }));
  gcEntries.length = 0;
  const report: RunReport = {
    role: data.role, start, end, count: runCount, xor: runXor, sum: runSum, drops: runDrops, naps,
    heap: Array.from(heapSamples.subarray(0, sampleCount)), newSpace: Array.from(newSpaceSamples.subarray(0, sampleCount)), gcs,
  };
  parent.postMessage(report);
}

parent.on('message', (cmd: RunCommand | FinishCommand) => {
  if (cmd.type === 'finish') {
    completions?.reclaim();
    const report: FinishReport = {
      free: pool?.available ?? 0, frameCount: pool?.frameCount ?? 0, doubleFrees: pool?.doubleFrees ?? 0, badFrees: pool?.badFrees ?? 0,
    };
    parent.postMessage(report);
    return;
  }
  onRun(cmd).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
});
