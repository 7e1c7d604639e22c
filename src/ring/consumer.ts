/**
 * The consumer end of an SPSC ring: peek at published records, read them in place, release them with one
 * `Atomics.store`. To sleep, the consumer sets its need-wakeup flag, re-checks the ring (so a record
 * published in between is not missed), then waits; the producer clears the flag and notifies.
 * Layout: `layout.ts`.
 */
import { isMainThread } from 'node:worker_threads';
import { NetshardError } from '../errors.ts';
import {
  NEED_WAKEUP,
  PRODUCER_INDEX,
  RING_CAPACITY,
  RING_CONSUMER_ATTACHED,
  RING_CONTROL_WORDS,
  RING_RECORD_WORDS,
  RING_RECORDS_OFFSET,
  RING_SLEEPS,
  RING_WAKEUPS_RECEIVED,
  CONSUMER_INDEX,
} from './layout.ts';

/**
 * The consumer end of a ring, held by exactly one thread. Get one with `attachConsumer(buffer)`.
 * ```ts
 * const n = consumer.peek(64);
 * for (let i = 0; i < n; i++) handle(consumer.records, consumer.slot(i));
 * consumer.release(n);
 * if (n === 0) consumer.waitForData(100); // worker; the main thread awaits waitForDataAsync
 * ```
 */
export class RingConsumer {
  /** The ring's buffer. */
  readonly buffer: SharedArrayBuffer;
  /** Every record's words: peeked record `i` starts at `slot(i)`. Read peeked slots only. */
  readonly records: Int32Array;
  /** Records the ring holds. */
  readonly capacity: number;
  /** Int32 words per record. */
  readonly recordWords: number;
  private readonly ctl: Int32Array;
  private readonly mask: number;
  private readonly shift: number;
  private tail: number; // next index to read (free-running Int32)
  private headCache: number; // producer index last loaded: reload only when it looks short
  private peeked = 0;
  private asleep = false; // between requestWakeup() returning true and cancelWakeup()

  /** Not for direct use: call `attachConsumer(buffer)`, which validates and claims the end. */
  constructor(buffer: SharedArrayBuffer) {
    const ctl = new Int32Array(buffer, 0, RING_CONTROL_WORDS);
    this.buffer = buffer;
    this.ctl = ctl;
    this.capacity = ctl[RING_CAPACITY]!;
    this.recordWords = Atomics.load(ctl, RING_RECORD_WORDS);
    this.records = new Int32Array(buffer, RING_RECORDS_OFFSET, this.capacity * this.recordWords);
    this.mask = this.capacity - 1;
    this.shift = Math.log2(this.recordWords);
    this.tail = Atomics.load(ctl, CONSUMER_INDEX);
    this.headCache = Atomics.load(ctl, PRODUCER_INDEX);
  }

  /**
   * Returns how many published records (at most `k`) can be read now, starting at `slot(0)`. Reloads the
   * producer index only when the cached one shows fewer than `k`. Thread: consumer.
   */
  peek(k: number): number {
    let ready = (this.headCache - this.tail) | 0;
    if (ready < k) {
      this.headCache = Atomics.load(this.ctl, PRODUCER_INDEX);
      ready = (this.headCache - this.tail) | 0;
    }
    let n = k < ready ? k : ready;
    if (n < 0) n = 0;
    this.peeked = n;
    return n;
  }

  /** Returns the word index in `records` where peeked record `i` (0 <= i < n) starts. Thread: consumer. */
  slot(i: number): number {
    return ((this.tail + i) & this.mask) << this.shift;
  }

  /**
   * Hands the first `n` peeked records (clamped to what was peeked) back to the producer with one
   * `Atomics.store`; their slots may be overwritten from then on. Thread: consumer.
   */
  release(n: number): void {
    if (n > this.peeked) n = this.peeked;
    if (n <= 0) return;
    this.peeked -= n;
    this.tail = (this.tail + n) | 0;
    Atomics.store(this.ctl, CONSUMER_INDEX, this.tail);
  }

  /** Returns how many published records are waiting now (one `Atomics.load`). Thread: consumer. */
  get available(): number {
    this.headCache = Atomics.load(this.ctl, PRODUCER_INDEX);
    return (this.headCache - this.tail) | 0;
  }

  /**
   * Sets the need-wakeup flag, then re-checks the ring. Returns true when it is still empty: the caller
   * may sleep (in `poll()` on an eventfd the producer's owner writes when `publish` returns true) and
   * must call `cancelWakeup()` when it wakes. Returns false, flag cleared, when records arrived meanwhile.
   * Thread: consumer.
   */
  requestWakeup(): boolean {
    const ctl = this.ctl;
    Atomics.store(ctl, NEED_WAKEUP, 1);
    this.asleep = true;
    // Seq-cst store then load, against the producer's store-index-then-load-flag (no lost wakeup).
    if (Atomics.load(ctl, PRODUCER_INDEX) !== this.tail) {
      this.cancelWakeup();
      return false;
    }
    return true;
  }

  /**
   * Clears the need-wakeup flag after a sleep (or a change of mind) so the producer stops paying for
   * wakeups. Returns true when the producer had already cleared it, i.e. sent a wakeup (counted in
   * `wakeupsReceived`, which then always matches the producer's `wakeups`); false when the consumer
   * cleared it itself or had not asked. Thread: consumer.
   */
  cancelWakeup(): boolean {
    if (!this.asleep) return false;
    this.asleep = false;
    if (Atomics.exchange(this.ctl, NEED_WAKEUP, 0) !== 0) return false;
    this.ctl[RING_WAKEUPS_RECEIVED]!++;
    return true;
  }

  /**
   * Returns the number of records waiting, sleeping first with `Atomics.wait` for up to `timeoutMs`
   * (Infinity allowed) when there are none; 0 after a timeout, and now and then 0 sooner: a producer's
   * `Atomics.notify` can land after the sleep it answered had already ended (the flag was cleared before
   * the consumer waited) and wake the consumer's next sleep with nothing new. Callers look again. Thread: consumer, in a worker only (it
   * blocks its thread). Throws ERR_NETSHARD_WRONG_THREAD on the main thread, ERR_OUT_OF_RANGE for a
   * negative or non-number timeout.
   */
  waitForData(timeoutMs: number): number {
    if (isMainThread) {
      throw new NetshardError('ERR_NETSHARD_WRONG_THREAD', 'waitForData() blocks its thread; on the main thread use waitForDataAsync()');
    }
    checkTimeout(timeoutMs);
    const ready = this.available;
    if (ready > 0) return ready;
    if (!this.requestWakeup()) return this.available;
    this.ctl[RING_SLEEPS]!++;
    Atomics.wait(this.ctl, NEED_WAKEUP, 1, timeoutMs);
    this.cancelWakeup();
    return this.available;
  }

  /**
   * Resolves to the number of records waiting, after sleeping with `Atomics.waitAsync` (the event loop
   * keeps running) for up to `timeoutMs` when there are none; 0 after a timeout or an early wake (see
   * `waitForData`). Allocates a promise per sleep. Thread: consumer, any thread (the main thread's way to
   * wait). Rejects ERR_OUT_OF_RANGE for a bad timeout.
   */
  async waitForDataAsync(timeoutMs: number): Promise<number> {
    checkTimeout(timeoutMs);
    const ready = this.available;
    if (ready > 0) return ready;
    if (!this.requestWakeup()) return this.available;
    this.ctl[RING_SLEEPS]!++;
    const result = Atomics.waitAsync(this.ctl, NEED_WAKEUP, 1, timeoutMs);
    if (result.async) {
      // A pending waitAsync does not keep Node's event loop alive (nodejs/node#61941): hold a ref'd timer
      // until it settles, or the process may exit with the notify or the timeout still to come.
      const keepAlive = setTimeout(noop, MAX_TIMER_MS);
      try {
        await result.value;
      } finally {
        clearTimeout(keepAlive);
      }
    }
    this.cancelWakeup();
    return this.available;
  }

  /** Returns times this consumer went to sleep. Thread: any holder. */
  get sleeps(): number {
    return Atomics.load(this.ctl, RING_SLEEPS) >>> 0;
  }
  /** Returns sleeps the producer ended with a wakeup. Thread: any holder. */
  get wakeupsReceived(): number {
    return Atomics.load(this.ctl, RING_WAKEUPS_RECEIVED) >>> 0;
  }

  /** Detaches: clears the flag so the producer stops waking, and lets another consumer attach. Thread: consumer. */
  close(): void {
    this.peeked = 0;
    this.cancelWakeup();
    Atomics.store(this.ctl, RING_CONSUMER_ATTACHED, 0);
  }
}

/** Longest delay a Node timer takes (2^31 - 1 ms); the keep-alive timer never fires in practice. */
const MAX_TIMER_MS = 0x7fffffff;
function noop(): void {}

function checkTimeout(timeoutMs: unknown): void {
  if (typeof timeoutMs !== 'number' || !(timeoutMs >= 0)) {
    throw new NetshardError('ERR_OUT_OF_RANGE', `timeoutMs must be a number >= 0 (Infinity allowed), received ${String(timeoutMs)}`);
  }
}
