/**
 * Creating single-producer single-consumer rings, checking a buffer is one, and attaching each end.
 * Control path only: everything here validates and throws NetshardError. The hot paths are
 * `producer.ts` and `consumer.ts`; the layout is `layout.ts`.
 */
import { NetshardError } from '../errors.ts';
import { describeValue, validateInteger, validateObject } from '../validate.ts';
import { RingConsumer } from './consumer.ts';
import {
  CONSUMER_INDEX,
  DESCRIPTOR_WORDS,
  NEED_WAKEUP,
  PRODUCER_INDEX,
  RING_CAPACITY,
  RING_CONSUMER_ATTACHED,
  RING_CONTROL_WORDS,
  RING_DROPS,
  RING_MAGIC,
  RING_MAGIC_VALUE,
  RING_MAX_CAPACITY,
  RING_MAX_RECORD_WORDS,
  RING_PRODUCER_ATTACHED,
  RING_RECORD_WORDS,
  RING_SLEEPS,
  RING_VERSION,
  RING_VERSION_VALUE,
  RING_WAKEUPS,
  RING_WAKEUPS_RECEIVED,
  ringByteLength,
} from './layout.ts';
import { RingProducer } from './producer.ts';

/** Options of `createRing`. */
export interface RingOptions {
  /** Records the ring holds: a power of two, 1..2^24. */
  capacity: number;
  /** Int32 words per record: 1, 2, 4, 8 or 16. Default 8 (`DESCRIPTOR_WORDS`). */
  recordWords?: number;
}

/** What a ring buffer's header and counters say, read by any thread. */
export interface RingStats {
  capacity: number;
  recordWords: number;
  /** Records published and not yet released (a snapshot). */
  pending: number;
  /** Records the producer dropped because the ring was full. */
  drops: number;
  /** Wakeups the producer sent. */
  wakeups: number;
  /** Times the consumer went to sleep. */
  sleeps: number;
  /** Sleeps the producer ended. */
  wakeupsReceived: number;
}

/**
 * Creates an empty ring in a new SharedArrayBuffer and returns the buffer; post it to the two threads,
 * which call `attachProducer` and `attachConsumer`. Thread: any.
 * Throws ERR_INVALID_ARG_TYPE / ERR_INVALID_ARG_VALUE / ERR_OUT_OF_RANGE.
 */
export function createRing(options: RingOptions): SharedArrayBuffer {
  validateObject(options, 'options', ['capacity', 'recordWords']);
  const { capacity } = options;
  validateInteger(capacity, 'options.capacity', 1, RING_MAX_CAPACITY);
  if ((capacity & (capacity - 1)) !== 0) {
    throw new NetshardError('ERR_INVALID_ARG_VALUE', `options.capacity must be a power of two, received ${capacity}`);
  }
  const recordWords = options.recordWords ?? DESCRIPTOR_WORDS;
  validateInteger(recordWords, 'options.recordWords', 1, RING_MAX_RECORD_WORDS);
  if ((recordWords & (recordWords - 1)) !== 0) {
    throw new NetshardError('ERR_INVALID_ARG_VALUE', `options.recordWords must be a power of two, received ${recordWords}`);
  }
  const buffer = new SharedArrayBuffer(ringByteLength(capacity, recordWords));
  const ctl = new Int32Array(buffer, 0, RING_CONTROL_WORDS);
  ctl[RING_MAGIC] = RING_MAGIC_VALUE;
  ctl[RING_VERSION] = RING_VERSION_VALUE;
  ctl[RING_CAPACITY] = capacity;
  Atomics.store(ctl, RING_RECORD_WORDS, recordWords);
  return buffer;
}

/**
 * Attaches the producer end of the ring in `buffer` for the calling thread. Thread: the one producer.
 * Throws ERR_INVALID_ARG_TYPE / ERR_INVALID_ARG_VALUE for a buffer that is not a ring,
 * ERR_NETSHARD_RING_END_ATTACHED when a producer is already attached (until it calls `close()`).
 */
export function attachProducer(buffer: SharedArrayBuffer): RingProducer {
  claimEnd(checkRingBuffer(buffer), RING_PRODUCER_ATTACHED, 'producer');
  return new RingProducer(buffer);
}

/**
 * Attaches the consumer end of the ring in `buffer` for the calling thread. Thread: the one consumer.
 * Throws as `attachProducer` does, with ERR_NETSHARD_RING_END_ATTACHED for a second consumer.
 */
export function attachConsumer(buffer: SharedArrayBuffer): RingConsumer {
  claimEnd(checkRingBuffer(buffer), RING_CONSUMER_ATTACHED, 'consumer');
  return new RingConsumer(buffer);
}

/** Returns the ring's geometry and counters. Thread: any. Throws as `attachProducer` does for a bad buffer. */
export function ringStats(buffer: SharedArrayBuffer): RingStats {
  const ctl = checkRingBuffer(buffer);
  return {
    capacity: ctl[RING_CAPACITY]!,
    recordWords: ctl[RING_RECORD_WORDS]!,
    pending: (Atomics.load(ctl, PRODUCER_INDEX) - Atomics.load(ctl, CONSUMER_INDEX)) | 0,
    drops: Atomics.load(ctl, RING_DROPS) >>> 0,
    wakeups: Atomics.load(ctl, RING_WAKEUPS) >>> 0,
    sleeps: Atomics.load(ctl, RING_SLEEPS) >>> 0,
    wakeupsReceived: Atomics.load(ctl, RING_WAKEUPS_RECEIVED) >>> 0,
  };
}

/** Returns true while the consumer of the ring in `buffer` has asked for a wakeup. Thread: any. */
export function wakeupRequested(buffer: SharedArrayBuffer): boolean {
  return Atomics.load(checkRingBuffer(buffer), NEED_WAKEUP) === 1;
}

/** Checks that `buffer` holds a ring of this layout version and returns its control words. */
export function checkRingBuffer(buffer: unknown): Int32Array {
  if (!(buffer instanceof SharedArrayBuffer)) {
    throw new NetshardError('ERR_INVALID_ARG_TYPE', `buffer must be a SharedArrayBuffer, received ${describeValue(buffer)}`);
  }
  if (buffer.byteLength < RING_CONTROL_WORDS * 4) {
    throw new NetshardError('ERR_INVALID_ARG_VALUE', `buffer is not a ring: ${buffer.byteLength} bytes is too short`);
  }
  const ctl = new Int32Array(buffer, 0, RING_CONTROL_WORDS);
  if (Atomics.load(ctl, RING_MAGIC) !== RING_MAGIC_VALUE) {
    throw new NetshardError('ERR_INVALID_ARG_VALUE', `buffer is not a ring (magic 0x${(ctl[RING_MAGIC]! >>> 0).toString(16)})`);
  }
  if (ctl[RING_VERSION] !== RING_VERSION_VALUE) {
    throw new NetshardError('ERR_INVALID_ARG_VALUE', `ring layout version ${ctl[RING_VERSION]} is not ${RING_VERSION_VALUE}`);
  }
  if (buffer.byteLength !== ringByteLength(ctl[RING_CAPACITY]!, ctl[RING_RECORD_WORDS]!)) {
    throw new NetshardError('ERR_INVALID_ARG_VALUE', `ring header (capacity ${ctl[RING_CAPACITY]}, ${ctl[RING_RECORD_WORDS]} words) does not match its ${buffer.byteLength}-byte buffer`);
  }
  return ctl;
}

function claimEnd(ctl: Int32Array, word: number, end: 'producer' | 'consumer'): void {
  if (Atomics.compareExchange(ctl, word, 0, 1) !== 0) {
    throw new NetshardError('ERR_NETSHARD_RING_END_ATTACHED', `the ring's ${end} end is already attached; close() it first`);
  }
}
