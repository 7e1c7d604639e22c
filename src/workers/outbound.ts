/**
 * `OutboundBatch`: the packets the stack wants sent on one link, as columns (gVisor's PacketBufferList
 * handed to `WritePackets`). Each row is a tx-pool frame, where the packet starts in it, its length
 * (link header included: the stack writes whole frames) and its flow hash, which picks
 * `fds[hash % fds.length]`. `Engine.writePackets` keeps consecutive rows for one fd in one tx-ring
 * publish, so the owning worker sends them in one sendmmsg.
 *
 * Thread: main (one batch per user). No method allocates.
 */
import { validateInteger } from '../validate.ts';
import type { OutboundBatchLike } from './inbound.ts';

/** Rows of one outbound batch. */
export class OutboundBatch implements OutboundBatchLike {
  /** Most rows. */
  readonly capacity: number;
  /** Rows in use. */
  count = 0;
  /** Tx-pool frame of each row: ownership passes to the engine with `writePackets`. */
  readonly frames: Int32Array;
  /** Where the packet starts inside its frame. */
  readonly offsets: Int32Array;
  /** Packet length in bytes, link header included. */
  readonly lengths: Int32Array;
  /** Flow hash (stored unsigned; `add` takes int32 or u32): the packet leaves on `fds[hash % fds.length]`. */
  readonly hashes: Uint32Array;

  /** Makes an empty batch of `capacity` rows (default 64). Throws ERR_OUT_OF_RANGE. */
  constructor(capacity = 64) {
    validateInteger(capacity, 'capacity', 1, 1 << 16);
    this.capacity = capacity;
    this.frames = new Int32Array(capacity);
    this.offsets = new Int32Array(capacity);
    this.lengths = new Int32Array(capacity);
    this.hashes = new Uint32Array(capacity);
  }

  /** Appends a packet; returns its row, or -1 when the batch is full (the caller still owns the frame). */
  add(frame: number, offset: number, length: number, hash: number): number {
    const i = this.count;
    if (i >= this.capacity) return -1;
    this.frames[i] = frame;
    this.offsets[i] = offset;
    this.lengths[i] = length;
    this.hashes[i] = hash;
    this.count = i + 1;
    return i;
  }

  /** Empties the batch (the engine calls it after taking the rows). */
  clear(): void {
    this.count = 0;
  }
}
