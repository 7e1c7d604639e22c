/**
 * The completion path (AF_XDP's fill / completion discipline): a frame owned by worker A's pool and sent
 * by worker B goes home through a completion ring B→A of frame indices; A drains it into its free list.
 *
 * A completion ring is the same SPSC ring with a 1-word record, not a separate structure: the wrap,
 * batching, need-wakeup and counters are the ring's, already tested, and a 4-byte record puts 16 frame
 * indices in a cache line. Sized to the pool (capacity >= frameCount) it can never be full, because each
 * frame is out at most once: B never has to drop, so a frame is never lost (AF_XDP sizes its completion
 * ring to the UMEM for the same reason).
 */
import { NetshardError } from '../errors.ts';
import { describeValue } from '../validate.ts';
import { FrameMemory, FramePool } from './frame-pool.ts';
import { RING_MAX_CAPACITY } from './layout.ts';
import type { RingConsumer } from './consumer.ts';
import type { RingProducer } from './producer.ts';
import { attachConsumer, attachProducer, createRing, ringStats } from './ring.ts';

/** Frames a `CompletionSender` reserves at a time. */
const SENDER_RESERVE = 64;

/**
 * Creates a completion ring for `pool` (1-word records, capacity the next power of two >= its
 * frameCount) and returns its buffer. Thread: any. Throws ERR_INVALID_ARG_TYPE unless `pool` is a
 * `FramePool` or `FrameMemory`.
 */
export function createCompletionRing(pool: FrameMemory): SharedArrayBuffer {
  if (!(pool instanceof FrameMemory)) {
    throw new NetshardError('ERR_INVALID_ARG_TYPE', `pool must be a FramePool or FrameMemory, received ${describeValue(pool)}`);
  }
  let capacity = 1;
  while (capacity < pool.frameCount) capacity *= 2;
  if (capacity > RING_MAX_CAPACITY) capacity = RING_MAX_CAPACITY;
  return createRing({ capacity, recordWords: 1 });
}

function checkCompletionRing(buffer: SharedArrayBuffer): void {
  if (ringStats(buffer).recordWords !== 1) {
    throw new NetshardError('ERR_INVALID_ARG_VALUE', 'buffer is not a completion ring: its records are not 1 word');
  }
}

/**
 * The sending side (worker B): stages frame indices one at a time after each send and publishes them in
 * one batch with `flush()`. Thread: the one thread that sends frames of that pool.
 */
export class CompletionSender {
  /** The ring's producer end. */
  readonly producer: RingProducer;
  private readonly records: Int32Array;
  private staged = 0;
  private reserved = 0;

  /**
   * Attaches the producer end of the completion ring in `buffer`. Thread: the sender.
   * Throws as `attachProducer` does, and ERR_INVALID_ARG_VALUE when the records are not 1 word.
   */
  static attach(buffer: SharedArrayBuffer): CompletionSender {
    checkCompletionRing(buffer);
    return new CompletionSender(attachProducer(buffer));
  }

  private constructor(producer: RingProducer) {
    this.producer = producer;
    this.records = producer.records;
  }

  /**
   * Stages `frame` for its owner and returns true. Returns false, counted in the ring's `drops`, when the
   * ring is full, which a ring from `createCompletionRing` cannot be while each frame is out once; the
   * caller then still holds the frame. Thread: sender.
   */
  add(frame: number): boolean {
    if (this.staged === this.reserved) {
      this.reserved = this.producer.reserve(this.staged + SENDER_RESERVE);
      if (this.staged === this.reserved) {
        this.producer.countDrops(1);
        return false;
      }
    }
    this.records[this.producer.slot(this.staged)] = frame;
    this.staged++;
    return true;
  }

  /** Returns the frames staged and not yet flushed. Thread: sender. */
  get staging(): number {
    return this.staged;
  }

  /**
   * Publishes every staged frame in one batch and returns true when the owner was asleep and has been
   * notified (write its eventfd too if it sleeps in `poll()`). Thread: sender.
   */
  flush(): boolean {
    const n = this.staged;
    if (n === 0) return false;
    this.staged = 0;
    this.reserved = 0;
    return this.producer.publish(n);
  }
}

/**
 * The owner's side (worker A): drains frames coming home into its pool's free list. Thread: the pool owner.
 */
export class CompletionReceiver {
  /** The ring's consumer end. */
  readonly consumer: RingConsumer;
  /** The pool frames return to. */
  readonly pool: FramePool;

  /**
   * Attaches the consumer end of the completion ring in `buffer`, draining into `pool`. Thread: the owner.
   * Throws as `attachConsumer` does, ERR_INVALID_ARG_VALUE when the records are not 1 word, and
   * ERR_INVALID_ARG_TYPE unless `pool` is a `FramePool` (the owner's view, the one that can free).
   */
  static attach(buffer: SharedArrayBuffer, pool: FramePool): CompletionReceiver {
    if (!(pool instanceof FramePool)) {
      throw new NetshardError('ERR_INVALID_ARG_TYPE', `pool must be the owner's FramePool (FramePool.create or adopt), received ${describeValue(pool)}`);
    }
    checkCompletionRing(buffer);
    return new CompletionReceiver(attachConsumer(buffer), pool);
  }

  private constructor(consumer: RingConsumer, pool: FramePool) {
    this.consumer = consumer;
    this.pool = pool;
  }

  /**
   * Moves every completed frame into the pool's free list and returns how many the pool accepted (a
   * double or foreign free is refused and counted by the pool). Thread: owner. No allocation.
   */
  reclaim(): number {
    const consumer = this.consumer;
    const n = consumer.peek(consumer.capacity);
    if (n === 0) return 0;
    const start = consumer.slot(0);
    const first = consumer.capacity - start < n ? consumer.capacity - start : n;
    let accepted = this.pool.freeBatch(consumer.records, first, start);
    if (first < n) accepted += this.pool.freeBatch(consumer.records, n - first, 0);
    consumer.release(n);
    return accepted;
  }
}
