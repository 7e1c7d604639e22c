/**
 * The producer end of an SPSC ring: reserve slots, write records in place, publish the batch with one
 * `Atomics.store`, then pay a wakeup only if the consumer asked for one (AF_XDP's need-wakeup). A full ring
 * makes `reserve` return fewer slots; the caller drops what did not fit and counts it. Never blocks,
 * never overwrites, never allocates. Layout: `layout.ts`.
 */
import {
  CONSUMER_INDEX,
  NEED_WAKEUP,
  PRODUCER_INDEX,
  RING_CAPACITY,
  RING_CONTROL_WORDS,
  RING_DROPS,
  RING_PRODUCER_ATTACHED,
  RING_RECORD_WORDS,
  RING_RECORDS_OFFSET,
  RING_WAKEUPS,
} from './layout.ts';

/**
 * The producer end of a ring, held by exactly one thread. Get one with `attachProducer(buffer)`.
 * ```ts
 * const n = producer.reserve(batch);           // n <= batch: fewer when the ring is full
 * for (let i = 0; i < n; i++) producer.records[producer.slot(i) + DESC_FRAME] = frames[i];
 * if (n < batch) producer.countDrops(batch - n); // and free the frames that did not fit
 * if (producer.publish(n)) writeEventfd();     // true: the consumer was asleep and has been notified
 * ```
 */
export class RingProducer {
  /** The ring's buffer. */
  readonly buffer: SharedArrayBuffer;
  /** Every record's words: record slot `s` starts at `s` (from `slot(i)`). Write reserved slots only. */
  readonly records: Int32Array;
  /** Records the ring holds. */
  readonly capacity: number;
  /** Int32 words per record. */
  readonly recordWords: number;
  private readonly ctl: Int32Array;
  private readonly mask: number;
  private readonly shift: number;
  private limit: number; // capacity while attached, 0 after close(): reserve then finds no room
  private head: number; // next index to publish (free-running Int32)
  private tailCache: number; // consumer index last loaded: reload only when it looks full
  private reserved = 0;

  /** Not for direct use: call `attachProducer(buffer)`, which validates and claims the end. */
  constructor(buffer: SharedArrayBuffer) {
    const ctl = new Int32Array(buffer, 0, RING_CONTROL_WORDS);
    this.buffer = buffer;
    this.ctl = ctl;
    this.capacity = ctl[RING_CAPACITY]!;
    this.recordWords = Atomics.load(ctl, RING_RECORD_WORDS);
    this.records = new Int32Array(buffer, RING_RECORDS_OFFSET, this.capacity * this.recordWords);
    this.mask = this.capacity - 1;
    this.shift = Math.log2(this.recordWords);
    this.limit = this.capacity;
    this.head = Atomics.load(ctl, PRODUCER_INDEX);
    this.tailCache = Atomics.load(ctl, CONSUMER_INDEX);
  }

  /**
   * Reserves up to `k` record slots after those already published and returns how many: fewer than `k`
   * when the ring is full (the caller drops the rest and calls `countDrops`). Reloads the consumer index
   * only when the cached one shows too little room. Thread: producer. Calling it again re-reserves from
   * the same place: slots reserved and not published are handed out again.
   */
  reserve(k: number): number {
    let room = this.limit - ((this.head - this.tailCache) | 0);
    if (room < k) {
      this.tailCache = Atomics.load(this.ctl, CONSUMER_INDEX);
      room = this.limit - ((this.head - this.tailCache) | 0);
    }
    let n = k < room ? k : room;
    if (n < 0) n = 0;
    this.reserved = n;
    return n;
  }

  /** Returns the word index in `records` where reserved record `i` (0 <= i < n) starts. Thread: producer. */
  slot(i: number): number {
    return ((this.head + i) & this.mask) << this.shift;
  }

  /**
   * Publishes the first `n` reserved records (clamped to what was reserved) with one `Atomics.store`, then,
   * if the consumer set its need-wakeup flag, clears it, counts a wakeup and `Atomics.notify`s a thread
   * in `waitForData`/`waitForDataAsync`. Returns true when it did: a consumer that sleeps in `poll()` on
   * an eventfd instead needs the caller to write that eventfd now. Thread: producer.
   */
  publish(n: number): boolean {
    if (n > this.reserved) n = this.reserved;
    if (n <= 0) return false;
    this.reserved -= n;
    this.head = (this.head + n) | 0;
    const ctl = this.ctl;
    Atomics.store(ctl, PRODUCER_INDEX, this.head);
    // Seq-cst store then load, against the consumer's store-flag-then-load-index: one of us sees the other.
    if (Atomics.load(ctl, NEED_WAKEUP) === 0) return false;
    return this.wake();
  }

  /**
   * Wakes the consumer if it asked (flag set) and returns true, counting the wakeup; returns false when it
   * did not ask. `publish` calls this; call it alone to wake a consumer for another reason (shutdown).
   * Thread: producer.
   */
  wake(): boolean {
    const ctl = this.ctl;
    if (Atomics.compareExchange(ctl, NEED_WAKEUP, 1, 0) !== 1) return false;
    ctl[RING_WAKEUPS]!++;
    Atomics.notify(ctl, NEED_WAKEUP, 1);
    return true;
  }

  /** Adds `m` records dropped because the ring was full to the shared `drops` counter. Thread: producer. */
  countDrops(m: number): void {
    this.ctl[RING_DROPS]! += m;
  }

  /** Returns records published and not yet released by the consumer (a snapshot). Thread: producer. */
  get pending(): number {
    return (this.head - Atomics.load(this.ctl, CONSUMER_INDEX)) | 0;
  }
  /** Returns records dropped on a full ring, as counted by `countDrops`. Thread: any holder. */
  get drops(): number {
    return Atomics.load(this.ctl, RING_DROPS) >>> 0;
  }
  /** Returns wakeups sent. Thread: any holder. */
  get wakeups(): number {
    return Atomics.load(this.ctl, RING_WAKEUPS) >>> 0;
  }
  /** Returns true while the consumer has asked for a wakeup. Thread: any holder. */
  get wakeupRequested(): boolean {
    return Atomics.load(this.ctl, NEED_WAKEUP) === 1;
  }

  /** Detaches: this object reserves nothing more, and another producer may attach. Thread: producer. */
  close(): void {
    this.limit = 0;
    this.reserved = 0;
    Atomics.store(this.ctl, RING_PRODUCER_ATTACHED, 0);
  }
}
