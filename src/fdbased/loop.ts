/**
 * The whole dispatch loop of one fd, gVisor's `dispatchLoop` (REFERENCE-gvisor.md §2.5) over a frame pool:
 * keep a batch of free frames, receive into them, hand the filled ones to `deliver`, refill, and sleep in
 * poll when there is nothing to read; end on stop, EOF, an error or a hang-up (the endpoint's `closed`
 * callback runs then, once). Workers that interleave other work call `Endpoint.receive`/`wait` themselves.
 *
 * Thread: the one that attached the fd; it blocks in poll (run it in a worker, not on the main thread of
 * an event-driven program). Allocation: the two batch arrays at the start, none per packet.
 */
import { NetshardError } from '../errors.ts';
import { describeValue, validateInteger, validateObject } from '../validate.ts';
import type { Endpoint } from './endpoint.ts';

/** Where the loop takes free frames from and returns unused ones to (a `FramePool` fits). */
export interface FrameSource {
  /** Fills `out[0..k)` with up to `n` free frame indices; returns k. */
  allocBatch(out: Int32Array, n: number): number;
  /** Returns one frame to the free list. */
  free(frame: number): boolean;
}

/**
 * Takes ownership of `frames[0..count)` (each now free for the loop to forget: pass it on or free it),
 * whose network headers start at the endpoint's `networkOffset(fdIndex)` and whose lengths are
 * `lengths[0..count)`. Called once per received batch; the arrays are reused, copy what you keep.
 */
export type DeliverFunction = (frames: Int32Array, lengths: Int32Array, count: number) => void;

/** Options of `runDispatchLoop`. */
export interface DispatchLoopOptions {
  /** Frames kept ready per receive (at least the dispatcher's batch size to use it fully). Default 64. */
  batchSize?: number;
  /** Longest single sleep in poll, in ms; the loop sleeps again after a timeout. Default 1000. */
  pollTimeoutMs?: number;
}

const KEYS = ['batchSize', 'pollTimeoutMs'] as const;
const IDLE_WORD = new Int32Array(new SharedArrayBuffer(4)); // Atomics.wait target for "no free frames"

/**
 * Runs fd `fdIndex`'s loop until it ends; returns the end code (RECEIVE_STOPPED, RECEIVE_EOF or -errno,
 * see `Endpoint.endCode`). Frames still held at the end go back to `pool`; frames handed to `deliver`
 * are its own, also when it throws (the loop then frees the rest and rethrows). Precondition:
 * `endpoint.attach` was called for `fdIndex` on this thread over `pool`'s memory. Throws on bad arguments
 * (ERR_INVALID_ARG_TYPE, ERR_OUT_OF_RANGE, ERR_NETSHARD_NOT_ATTACHED), or what `deliver` throws.
 */
export function runDispatchLoop(endpoint: Endpoint, fdIndex: number, pool: FrameSource, deliver: DeliverFunction, options: DispatchLoopOptions = {}): number {
  if (pool === null || typeof pool !== 'object' || typeof pool.allocBatch !== 'function' || typeof pool.free !== 'function') {
    throw new NetshardError('ERR_INVALID_ARG_TYPE', `pool must have allocBatch() and free() (a FramePool), received ${describeValue(pool)}`);
  }
  if (typeof deliver !== 'function') {
    throw new NetshardError('ERR_INVALID_ARG_TYPE', `deliver must be a function (frames, lengths, count) => void, received ${describeValue(deliver)}`);
  }
  validateObject(options, 'options', KEYS);
  const batch = options.batchSize ?? 64;
  validateInteger(batch, 'options.batchSize', 1, 1024);
  const timeoutMs = options.pollTimeoutMs ?? 1000;
  validateInteger(timeoutMs, 'options.pollTimeoutMs', 0, 3_600_000);
  if (endpoint.dispatcher(fdIndex) === null) {
    throw new NetshardError('ERR_NETSHARD_NOT_ATTACHED', `fd index ${fdIndex} has no dispatcher: call attach() first`);
  }
  const frames = new Int32Array(batch);
  const lengths = new Int32Array(batch);
  const fresh = new Int32Array(batch);
  let have = 0;
  let delivering = 0; // frames[0..delivering) belong to `deliver` while it runs
  try {
    for (;;) {
      if (have < batch) {
        const got = pool.allocBatch(fresh, batch - have);
        for (let i = 0; i < got; i++) frames[have + i] = fresh[i] as number;
        have += got;
      }
      if (have === 0) {
        // Every frame is out (the consumer has not freed any yet): back off briefly, but still notice a stop.
        if (endpoint.receive(fdIndex, frames, lengths, 0) < 0) break;
        Atomics.wait(IDLE_WORD, 0, 0, 1);
        continue;
      }
      const n = endpoint.receive(fdIndex, frames, lengths, have);
      if (n > 0) {
        delivering = n;
        deliver(frames, lengths, n);
        delivering = 0;
        frames.copyWithin(0, n, have); // the unused frames move to the front
        have -= n;
        continue;
      }
      if (n < 0) break;
      endpoint.wait(fdIndex, timeoutMs);
      if (endpoint.ended(fdIndex)) break;
    }
  } finally {
    // Only the frames the loop still holds: a frame `deliver` took may sit in a ring by now.
    for (let i = delivering; i < have; i++) pool.free(frames[i] as number);
  }
  return endpoint.endCode(fdIndex);
}
