/**
 * The coordinator's send path: the tx pool (owned by the main thread), the owning worker's tx ring for
 * each packet (`fds[hash % n]`, consecutive packets for one fd in one publish), and the frames coming
 * back. Each tx frame records which worker holds it (tx ring, its hands, its completion ring), so the
 * frames a dead worker held come home exactly once: first what it handed back, then the rest by mark.
 * ```
 *  queue ──► tx ring of slot k (holder[frame] = k + 1) ──► worker sends ──► tx completion ring
 *  reclaim ◄─────────────────────────────────────────────────────────────── (holder[frame] = 0, free)
 *  takeBack(dead slot): every frame still marked k + 1 is freed
 * ```
 * Thread: main. `alloc`, `queue`, `reclaim`: no allocation.
 */
import {
  DESC_FRAME,
  DESC_HASH,
  DESC_HEADERS,
  DESC_LENGTH,
  DESC_OFFSET,
  DESC_POOL,
  DESC_PROTOCOLS,
  DESC_USER,
  type FramePool,
} from '../ring/index.ts';
import { EngineCounter } from './engine-events.ts';
import type { OutboundBatchLike } from './inbound.ts';
import type { WorkerSlot } from './worker-slot.ts';

/** The tx pool, who holds each of its frames, and the tx rings' producer side. */
export class TxPath {
  private readonly pool: FramePool;
  private readonly counters: Float64Array;
  /** Per tx frame: slot index + 1 of the worker holding it, 0 otherwise. */
  private readonly holder: Int32Array;

  constructor(pool: FramePool, counters: Float64Array) {
    this.pool = pool;
    this.counters = counters;
    this.holder = new Int32Array(pool.frameCount);
  }

  /** Takes a free frame (taking back sent ones first when none is free); -1 and counted when none. */
  alloc(slots: readonly WorkerSlot[]): number {
    if (this.pool.available === 0) this.reclaimAll(slots);
    if (this.pool.available === 0) {
      this.counters[EngineCounter.txNoFrame]!++;
      return -1;
    }
    return this.pool.alloc();
  }

  /** Frees every frame of `batch` (the engine is not running), counts them, clears the batch; returns 0. */
  refuse(batch: OutboundBatchLike): number {
    for (let i = 0; i < batch.count; i++) this.pool.free(batch.frames[i]!);
    this.counters[EngineCounter.txNotRunning]! += batch.count;
    batch.clear();
    return 0;
  }

  /**
   * Queues `batch` on the link whose slots start at `slots[base]` and which has `nfds` fds; see
   * `Engine.writePackets`. Returns the count queued; clears the batch.
   */
  queue(slots: readonly WorkerSlot[], base: number, nfds: number, batch: OutboundBatchLike): number {
    const n = batch.count;
    const counters = this.counters;
    const frames = batch.frames, offsets = batch.offsets, lengths = batch.lengths, hashes = batch.hashes;
    const holder = this.holder, pool = this.pool, poolId = pool.id;
    let queued = 0;
    let i = 0;
    while (i < n) {
      const fdIndex = hashes[i]! % nfds;
      let j = i + 1;
      while (j < n && hashes[j]! % nfds === fdIndex) j++;
      const s = slots[base + fdIndex]!;
      const run = j - i;
      const tx = s.tx;
      const r = s.state === 'running' ? tx.reserve(run) : 0;
      const records = tx.records;
      for (let k = 0; k < r; k++) {
        const w = tx.slot(k);
        const frame = frames[i + k]!;
        records[w + DESC_FRAME] = frame;
        records[w + DESC_POOL] = poolId;
        records[w + DESC_OFFSET] = offsets[i + k]!;
        records[w + DESC_LENGTH] = lengths[i + k]!;
        records[w + DESC_HASH] = hashes[i + k]! | 0;
        records[w + DESC_HEADERS] = 0;
        records[w + DESC_PROTOCOLS] = 0;
        records[w + DESC_USER] = 0;
        holder[frame] = s.index + 1;
      }
      if (r < run) {
        for (let k = r; k < run; k++) pool.free(frames[i + k]!);
        counters[EngineCounter.txRingDrops]! += run - r;
        if (s.state === 'running') tx.countDrops(run - r);
      }
      if (r > 0) {
        counters[EngineCounter.txRuns]!++;
        if (tx.publish(r)) s.wake();
      }
      queued += r;
      i = j;
    }
    counters[EngineCounter.txQueued]! += queued;
    batch.clear();
    return queued;
  }

  /** Takes back the frames worker `s` has sent (or dropped); returns how many. */
  reclaim(s: WorkerSlot): number {
    const c = s.txCompletions;
    const n = c.peek(c.capacity);
    if (n === 0) return 0;
    const records = c.records, holder = this.holder, pool = this.pool;
    for (let i = 0; i < n; i++) {
      const frame = records[c.slot(i)]!;
      if (frame >>> 0 < holder.length) holder[frame] = 0;
      pool.free(frame);
    }
    c.release(n);
    return n;
  }

  /** Reclaims from every slot whose rings are still open. */
  reclaimAll(slots: readonly WorkerSlot[]): void {
    for (const s of slots) if (s.open) this.reclaim(s);
  }

  /**
   * Frees every frame gone worker `s` still held (in its tx ring or its hands); call after `reclaim(s)`
   * and before a new worker takes its slot. Returns how many (counted `txReclaimedFromDead`).
   */
  takeBack(s: WorkerSlot): number {
    const holder = this.holder, mark = s.index + 1;
    let taken = 0;
    for (let frame = 0; frame < holder.length; frame++) {
      if (holder[frame] !== mark) continue;
      holder[frame] = 0;
      this.pool.free(frame);
      taken++;
    }
    this.counters[EngineCounter.txReclaimedFromDead]! += taken;
    return taken;
  }
}
