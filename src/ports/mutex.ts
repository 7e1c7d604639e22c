/**
 * A futex-style mutex in one Int32 word of a SharedArrayBuffer, and the seqlock generation next to it.
 *
 * The mutex is the classic three-state futex mutex (U. Drepper, "Futexes Are Tricky", mutex 2):
 *   0 = free, 1 = held, 2 = held and someone may be sleeping.
 * - lock: `compareExchange(0 → 1)` is the fast path. A worker then spins briefly (critical sections are a
 *   few microseconds, a sleep/wake round trip ~15 µs) and after that marks the word 2 with `exchange` and
 *   sleeps in `Atomics.wait` until it reads 0 from its own `exchange(2)`.
 * - unlock: `sub(1)`; if the word was 2, store 0 and `notify` one sleeper. An unlock with no sleepers
 *   makes no wake-up call.
 * - The main thread never sleeps (it must not block the event loop; STYLE: `Atomics.wait` only in workers):
 *   it spins on `load` + `compareExchange(0 → 1)`. That is correct beside sleepers: a sleeper always left 2
 *   in the word before sleeping, and the one woken by an unlock writes 2 again before it sleeps once more.
 * - Nobody waits forever: after LOCK_TIMEOUT_MS (the holder died or the machine stalled) lock throws
 *   ERR_NETSHARD_LOCK_TIMEOUT, leaving the word as it found it (2 if sleepers may exist).
 *
 * The seqlock generation lets readers run without the mutex: a writer makes it odd before changing the
 * table and even again after; a reader that saw the same even value before and after its reads saw one
 * consistent table. Every table word a lock-free reader looks at is written with `Atomics.store`/`add`
 * and read with `Atomics.load`, so the program has no data race in the ECMAScript memory model and the
 * sequentially consistent atomics alone make the seqlock correct (no fences needed).
 * Thread: any (the main thread spins, workers sleep). No allocation.
 */
import { isMainThread } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { NetshardError } from '../errors.ts';

/** How long `lock` tries before it throws ERR_NETSHARD_LOCK_TIMEOUT: far beyond any critical section. */
export const LOCK_TIMEOUT_MS = 5000;
/** Spins a worker makes before it sleeps: ~1–2 µs, about one critical section. */
const WORKER_SPINS = 100;
/** The main thread reads the clock once per this many spins. */
const CLOCK_EVERY = 1024;

/** Whether this thread may sleep in `Atomics.wait`: workers yes, the main thread never. */
const maySleep = !isMainThread;

/**
 * Takes the mutex at `words[index]`, giving up after `timeoutMs`. Thread: any; workers may sleep, the main
 * thread spins. Throws ERR_NETSHARD_LOCK_TIMEOUT.
 */
export function lock(words: Int32Array, index: number, timeoutMs = LOCK_TIMEOUT_MS): void {
  if (Atomics.compareExchange(words, index, 0, 1) === 0) return;
  if (maySleep) lockSleeping(words, index, timeoutMs);
  else lockSpinning(words, index, timeoutMs);
}

function lockSpinning(words: Int32Array, index: number, timeoutMs: number): void {
  const deadline = performance.now() + timeoutMs;
  for (let spins = 1; ; spins++) {
    if (Atomics.load(words, index) === 0 && Atomics.compareExchange(words, index, 0, 1) === 0) return;
    if (spins % CLOCK_EVERY === 0 && performance.now() > deadline) throw timeout(timeoutMs);
  }
}

function lockSleeping(words: Int32Array, index: number, timeoutMs: number): void {
  for (let i = 0; i < WORKER_SPINS; i++) {
    if (Atomics.load(words, index) === 0 && Atomics.compareExchange(words, index, 0, 1) === 0) return;
  }
  const deadline = performance.now() + timeoutMs;
  let c = Atomics.exchange(words, index, 2);
  while (c !== 0) {
    const left = deadline - performance.now();
    if (left <= 0) throw timeout(timeoutMs);
    Atomics.wait(words, index, 2, left);
    c = Atomics.exchange(words, index, 2);
  }
}

function timeout(ms: number): NetshardError {
  return new NetshardError('ERR_NETSHARD_LOCK_TIMEOUT',
    `port table mutex not acquired within ${ms} ms (a thread died holding it, or the machine stalled)`);
}

/** Releases the mutex at `words[index]`, waking one sleeper if there may be one. Thread: the holder. */
export function unlock(words: Int32Array, index: number): void {
  if (Atomics.sub(words, index, 1) !== 1) {
    Atomics.store(words, index, 0);
    Atomics.notify(words, index, 1);
  }
}

/** Makes the generation odd: a write begins. Caller holds the mutex. */
export function beginWrite(words: Int32Array, genIndex: number): void {
  Atomics.add(words, genIndex, 1);
}

/** Makes the generation even again: the write is complete. Caller holds the mutex. */
export function endWrite(words: Int32Array, genIndex: number): void {
  Atomics.add(words, genIndex, 1);
}
