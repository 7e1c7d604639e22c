/**
 * Worker side of bench/ring-handoff.ts: a long-lived producer or consumer thread that runs one cell at a
 * time on the main thread's command. Each side does the same work per record whatever the mechanism:
 * the producer writes the record's words (word 0 = sequence number), the consumer copies them out and
 * adds word 0 to a checksum, so a lost or repeated record shows in the sum.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { RingBuffer } from 'ringbuf.js';
import { attachConsumer, attachProducer } from '../src/ring/index.ts';

/** One cell run, as sent by the main thread. */
export interface RunCommand {
  mechanism: 'postMessage' | 'ringbuf.js' | 'netshard';
  /** Int32 words per record: 8 (a descriptor) or 16 (a 64-byte packet). */
  words: number;
  batch: number;
  count: number;
  /** Int32[0] = go flag; Int32[1] = records consumed (postMessage flow control). */
  control: SharedArrayBuffer;
  /** The ring's buffer (netshard: records; ringbuf.js: bytes or words). */
  ring?: SharedArrayBuffer;
  /** postMessage: this side's end of the channel. */
  port?: MessagePort;
}

/** Most postMessage records in flight: without a window the queue would grow without bound. */
const POST_WINDOW = 8192;

const role = (workerData as { role: 'producer' | 'consumer' }).role;
const parent = parentPort!;

const NAP = new Int32Array(new SharedArrayBuffer(4));
/** Spins before the first nap: on an idle machine the other side answers well within this. */
const SPINS_BEFORE_NAP = 2000;
let spins = 0;
let naps = 0;
/**
 * Waits a little for the other side, the same way for every mechanism: spin, then nap 50 µs so a
 * descheduled partner gets the core (2 cores shared with other work: pure spinning collapses to
 * scheduler time slices). Reset `spins` after progress.
 */
function backoff(): void {
  if (++spins < SPINS_BEFORE_NAP) return;
  spins = 0;
  naps++;
  Atomics.wait(NAP, 0, 0, 0.05);
}

function takeNaps(): number {
  const n = naps;
  naps = 0;
  spins = 0;
  return n;
}

function waitForGo(control: Int32Array): void {
  while (Atomics.load(control, 0) === 0) Atomics.wait(control, 0, 0, 100);
}

/** Writes records seq .. seq + n - 1 into `out` from word `at`: word 0 the sequence number, then 1, 2, … */
function fill(out: Int32Array, at: number, words: number, seq: number, n: number): void {
  for (let i = 0; i < n; i++) {
    const base = at + i * words;
    out[base] = seq + i;
    for (let j = 1; j < words; j++) out[base + j] = j;
  }
}

// One function per mechanism and side, so each hot loop is compiled for one set of types.

function producePostMessage(cmd: RunCommand, control: Int32Array): number {
  const { words, batch, count } = cmd;
  const staging = new Int32Array(batch * words);
  const port = cmd.port!;
  waitForGo(control);
  const start = process.hrtime.bigint();
  for (let seq = 0; seq < count; seq += batch) {
    while (seq - Atomics.load(control, 1) > POST_WINDOW) backoff(); // a full window in flight
    fill(staging, 0, words, seq, batch);
    port.postMessage(staging); // structured clone: one copy per batch
    spins = 0;
  }
  return Number(start);
}

function produceRingbuf(cmd: RunCommand, control: Int32Array): number {
  const { words, batch, count } = cmd;
  const staging = new Int32Array(batch * words);
  const ring = words === 16 ? new RingBuffer(cmd.ring!, Uint8Array) : new RingBuffer(cmd.ring!, Int32Array);
  const source = words === 16 ? new Uint8Array(staging.buffer) : staging;
  const length = source.length;
  waitForGo(control);
  const start = process.hrtime.bigint();
  for (let seq = 0; seq < count; seq += batch) {
    fill(staging, 0, words, seq, batch);
    // push() writes a partial batch when space is short: wait for room for the whole batch first.
    while (ring.availableWrite() < length) backoff();
    ring.push(source, length);
    spins = 0;
  }
  return Number(start);
}

function produceNetshard(cmd: RunCommand, control: Int32Array): number {
  const { words, batch, count } = cmd;
  const producer = attachProducer(cmd.ring!);
  const records = producer.records;
  waitForGo(control);
  const start = process.hrtime.bigint();
  for (let seq = 0; seq < count; seq += batch) {
    while (producer.reserve(batch) < batch) backoff(); // full
    // Slots are contiguous except across the wrap: fill record by record at slot(i).
    for (let i = 0; i < batch; i++) fill(records, producer.slot(i), words, seq + i, 1);
    producer.publish(batch);
    spins = 0;
  }
  producer.close();
  return Number(start);
}

function consumePostMessage(cmd: RunCommand, control: Int32Array): void {
  const { words, batch, count } = cmd;
  const scratch = new Int32Array(batch * words);
  const port = cmd.port!;
  let received = 0;
  let sum = 0;
  port.on('message', (data: Int32Array) => {
    const n = data.length / words;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < words; j++) scratch[i * words + j] = data[i * words + j]!;
      sum += scratch[i * words]!;
    }
    received += n;
    Atomics.store(control, 1, received);
    if (received >= count) {
      const end = process.hrtime.bigint();
      port.close();
      parent.postMessage({ end: Number(end), received, sum, naps: takeNaps() });
    }
  });
  parent.postMessage({ ready: true });
}

function consumeRingbuf(cmd: RunCommand, control: Int32Array): void {
  const { words, batch, count } = cmd;
  const scratch = new Int32Array(batch * words);
  const ring = words === 16 ? new RingBuffer(cmd.ring!, Uint8Array) : new RingBuffer(cmd.ring!, Int32Array);
  const target = words === 16 ? new Uint8Array(scratch.buffer) : scratch;
  const perRecord = words === 16 ? 64 : words;
  parent.postMessage({ ready: true });
  waitForGo(control);
  let received = 0;
  let sum = 0;
  while (received < count) {
    const got = ring.pop(target, target.length); // copies out, like the others
    if (got === 0) {
      backoff();
      continue;
    }
    const n = got / perRecord;
    for (let i = 0; i < n; i++) sum += scratch[i * words]!;
    received += n;
    spins = 0;
  }
  const end = process.hrtime.bigint();
  parent.postMessage({ end: Number(end), received, sum, naps: takeNaps() });
}

function consumeNetshard(cmd: RunCommand, control: Int32Array): void {
  const { words, batch, count } = cmd;
  const scratch = new Int32Array(batch * words);
  const consumer = attachConsumer(cmd.ring!);
  const records = consumer.records;
  parent.postMessage({ ready: true });
  waitForGo(control);
  let received = 0;
  let sum = 0;
  while (received < count) {
    const n = consumer.peek(batch);
    if (n === 0) {
      backoff();
      continue;
    }
    for (let i = 0; i < n; i++) {
      const base = consumer.slot(i);
      for (let j = 0; j < words; j++) scratch[i * words + j] = records[base + j]!; // copies out
      sum += scratch[i * words]!;
    }
    consumer.release(n);
    received += n;
    spins = 0;
  }
  const end = process.hrtime.bigint();
  consumer.close();
  parent.postMessage({ end: Number(end), received, sum, naps: takeNaps() });
}

parent.on('message', (cmd: RunCommand) => {
  const control = new Int32Array(cmd.control);
  if (role === 'producer') {
    parent.postMessage({ ready: true }); // then wait for main's go, set once both sides are ready
    const start =
      cmd.mechanism === 'postMessage' ? producePostMessage(cmd, control) : cmd.mechanism === 'ringbuf.js' ? produceRingbuf(cmd, control) : produceNetshard(cmd, control);
    parent.postMessage({ start, naps: takeNaps() });
  } else if (cmd.mechanism === 'postMessage') consumePostMessage(cmd, control);
  else if (cmd.mechanism === 'ringbuf.js') consumeRingbuf(cmd, control);
  else consumeNetshard(cmd, control);
});
