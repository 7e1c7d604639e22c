/**
 * bench/ring-handoff.ts — how fast records move from one worker thread to another: netshard's SPSC ring
 * vs ringbuf.js 0.4.0 vs postMessage (the baseline, in the same run), carrying (a) 32-byte descriptors
 * and (b) whole 64-byte packets, at batch 1, 16 and 64. Both sides spin (no sleeping) while running.
 *
 *   npx tsx bench/ring-handoff.ts [--quick] [--json]
 *
 * Each cell: one warm-up run sizes the record count to ~0.3 s (--quick: ~0.02 s), then >= 5 timed runs
 * from the producer's first record to the consumer's last; Mpps median, min, max, and the median's ratio
 * to postMessage at the same payload and batch. `naps`: median per run of the times a side waited 2000
 * spins for the other and napped 50 µs (both sides, every mechanism alike); many naps mean the machine
 * was busy and the figure measures the scheduler more than the mechanism. A run whose checksum or count is off aborts the bench.
 */
import { cpus, release } from 'node:os';
import { MessageChannel, type Worker } from 'node:worker_threads';
import { RingBuffer } from 'ringbuf.js';
import { createRing } from '../src/ring/index.ts';
import { spawnWorker } from '../src/spawn-worker.ts';
import type { RunCommand } from './ring-handoff-worker.ts';
import { Inbox } from './lib/inbox.ts';

const args = new Set(process.argv.slice(2));
const quick = args.has('--quick');
const json = args.has('--json');
const RUNS = 5;
const TARGET_SECONDS = quick ? 0.02 : 0.3;
/** Records a ring holds (both rings get the same bytes: 1024 records). */
const RING_RECORDS = 1024;
const MECHANISMS = ['postMessage', 'ringbuf.js', 'netshard'] as const;
const PAYLOADS = [
  { name: 'descriptor 32 B', words: 8 },
  { name: 'packet 64 B', words: 16 },
] as const;
const BATCHES = [1, 16, 64] as const;

type Mechanism = (typeof MECHANISMS)[number];
interface Reply {
  ready?: boolean;
  start?: number;
  end?: number;
  received?: number;
  sum?: number;
  naps?: number;
}


const url = new URL('./ring-handoff-worker.ts', import.meta.url);
const producer = spawnWorker(url, { workerData: { role: 'producer' } });
const consumer = spawnWorker(url, { workerData: { role: 'consumer' } });
const fromProducer = new Inbox<Reply>(producer);
const fromConsumer = new Inbox<Reply>(consumer);

/** Runs one cell once with `count` records and returns Mpps and the naps both sides took. */
async function runOnce(mechanism: Mechanism, words: number, batch: number, count: number): Promise<{ mpps: number; naps: number }> {
  count = Math.max(batch, Math.floor(count / batch) * batch);
  const control = new SharedArrayBuffer(8);
  const base: RunCommand = { mechanism, words, batch, count, control };
  let toProducer: RunCommand = base;
  let toConsumer: RunCommand = base;
  const transfer: { producer: MessagePortLike[]; consumer: MessagePortLike[] } = { producer: [], consumer: [] };
  if (mechanism === 'postMessage') {
    const channel = new MessageChannel();
    toProducer = { ...base, port: channel.port1 };
    toConsumer = { ...base, port: channel.port2 };
    transfer.producer.push(channel.port1);
    transfer.consumer.push(channel.port2);
  } else if (mechanism === 'ringbuf.js') {
    const ring = words === 16 ? RingBuffer.getStorageForCapacity(RING_RECORDS * 64, Uint8Array) : RingBuffer.getStorageForCapacity(RING_RECORDS * words, Int32Array);
    toProducer = toConsumer = { ...base, ring };
  } else {
    toProducer = toConsumer = { ...base, ring: createRing({ capacity: RING_RECORDS, recordWords: words }) };
  }
  consumer.postMessage(toConsumer, transfer.consumer as never);
  producer.postMessage(toProducer, transfer.producer as never);
  await Promise.all([fromConsumer.next(), fromProducer.next()]); // both ready
  const go = new Int32Array(control);
  Atomics.store(go, 0, 1);
  Atomics.notify(go, 0);
  const [p, c] = await Promise.all([fromProducer.next(), fromConsumer.next()]);
  const expectedSum = (count * (count - 1)) / 2;
  if (c.received !== count || c.sum !== expectedSum) {
    throw new Error(`${mechanism} words ${words} batch ${batch}: received ${c.received} of ${count}, checksum ${c.sum} != ${expectedSum}`);
  }
  return { mpps: (count * 1000) / (c.end! - p.start!), naps: (p.naps ?? 0) + (c.naps ?? 0) };
}
type MessagePortLike = MessageChannel['port1'];

interface Cell {
  case: string;
  payload: string;
  mechanism: Mechanism;
  batch: number;
  records: number;
  runs: number[];
  median: number;
  min: number;
  max: number;
  vsBaseline: number;
  /** Median naps per run (both sides): a side waited > 2000 spins for the other, i.e. lost its core. */
  naps: number;
}

const machine = `# bench/ring-handoff.ts  node ${process.version}  ${cpus().length} cpus  linux ${release()}  ${new Date().toISOString()}${quick ? '  (--quick)' : ''}`;
if (!json) {
  console.log(machine);
  console.log(`${'case'.padEnd(40)}${'median'.padStart(12)}${'min'.padStart(8)}${'max'.padStart(8)}${'vs baseline'.padStart(13)}${'naps'.padStart(8)}`);
}
const cells: Cell[] = [];
for (const payload of PAYLOADS) {
  for (const batch of BATCHES) {
    let baseline = 0;
    for (const mechanism of MECHANISMS) {
      const warm = await runOnce(mechanism, payload.words, batch, quick ? 4096 : 50_000);
      const records = Math.max(4096, Math.round(warm.mpps * 1e6 * TARGET_SECONDS));
      const runs: number[] = [];
      const naps: number[] = [];
      for (let r = 0; r < RUNS; r++) {
        const got = await runOnce(mechanism, payload.words, batch, records);
        runs.push(got.mpps);
        naps.push(got.naps);
      }
      naps.sort((a, b) => a - b);
      const sorted = [...runs].sort((a, b) => a - b);
      const median = sorted[Math.floor(sorted.length / 2)]!;
      if (mechanism === 'postMessage') baseline = median;
      const cell: Cell = {
        case: `${mechanism}${mechanism === 'postMessage' ? ' (baseline)' : ''}, ${payload.name}, batch ${batch}`,
        payload: payload.name,
        mechanism,
        batch,
        records,
        runs,
        median,
        min: sorted[0]!,
        max: sorted[sorted.length - 1]!,
        vsBaseline: median / baseline,
        naps: naps[Math.floor(naps.length / 2)]!,
      };
      cells.push(cell);
      if (!json) {
        console.log(
          `${cell.case.padEnd(40)}${cell.median.toFixed(2).padStart(7)} Mpps${cell.min.toFixed(2).padStart(8)}${cell.max.toFixed(2).padStart(8)}${(cell.vsBaseline.toFixed(2) + 'x').padStart(13)}${String(cell.naps).padStart(8)}`,
        );
      }
    }
  }
}
if (!json) {
  console.log('netshard vs ringbuf.js (median / median):');
  for (const payload of PAYLOADS) {
    const ratios = BATCHES.map((batch) => {
      const ours = cells.find((c) => c.payload === payload.name && c.batch === batch && c.mechanism === 'netshard')!;
      const theirs = cells.find((c) => c.payload === payload.name && c.batch === batch && c.mechanism === 'ringbuf.js')!;
      return `batch ${batch} ${(ours.median / theirs.median).toFixed(2)}x`;
    });
    console.log(`  ${payload.name}: ${ratios.join(', ')}`);
  }
} else {
  console.log(JSON.stringify({ bench: 'ring-handoff', machine: machine.slice(2), quick, runsPerCell: RUNS, ringRecords: RING_RECORDS, unit: 'Mpps', cells }));
}
Inbox.closing = true;
await producer.terminate();
await consumer.terminate();
