/**
 * Frame pools: fixed-size frames in one SharedArrayBuffer, addressed by index, with a free stack owned by
 * one thread. The frame area is page-aligned so a later AF_XDP mode can register the same memory as its
 * UMEM (RUNTIME-FACTS.md, "AF_XDP on veth"). Layout: `layout.ts`.
 *
 * Every frame is in one place: the free list, a ring, or one thread's hands. Only the owner allocates and
 * frees; a frame used by another thread comes home through a completion ring (`completion.ts`).
 */
import { threadId } from 'node:worker_threads';
import { NetshardError } from '../errors.ts';
import { describeValue, validateInteger, validateObject } from '../validate.ts';
import {
  FRAME_FREE,
  FRAME_OUT,
  PAGE_BYTES,
  POOL_ALLOC_FAILURES,
  POOL_BAD_FREES,
  POOL_CONTROL_WORDS,
  POOL_DOUBLE_FREES,
  POOL_FRAME_AREA_OFFSET,
  POOL_FRAME_COUNT,
  POOL_FRAME_SIZE,
  POOL_FREE_COUNT,
  POOL_FREE_LIST_OFFSET,
  POOL_ID,
  POOL_MAGIC,
  POOL_MAGIC_VALUE,
  POOL_OWNER,
  POOL_VERSION,
  POOL_VERSION_VALUE,
  poolFrameAreaBase,
  poolStatesOffset,
} from './layout.ts';

/** Options of `FramePool.create`. */
export interface FramePoolOptions {
  /**
   * Bytes per frame: a power of two from 2048 to 65536 (GSO or jumbo frames). Default 2048. Only 2048 and
   * 4096 can later serve as AF_XDP UMEM chunks (XDP_UMEM_REG refuses chunks above PAGE_SIZE).
   */
  frameSize?: number;
  /** Number of frames, 1..2^20; frameSize × frameCount at most 1 GiB. Default 4096. */
  frameCount?: number;
  /** Id written into descriptors (`DESC_POOL`) so a frame can find its way home, 0..65535. Default 0. */
  poolId?: number;
  /**
   * Returns the address of byte 0 of `buffer` (e.g. `koffi.address(new Uint8Array(buffer))`). When given,
   * the frame area is placed at an absolute page boundary, as XDP_UMEM_REG requires; without it the area
   * is only page-aligned relative to the buffer (glibc puts a large buffer 16 bytes past a page).
   */
  addressOf?: (buffer: SharedArrayBuffer) => bigint | number;
}

/** Defaults of `FramePoolOptions`. */
export const DEFAULT_FRAME_POOL_OPTIONS = { frameSize: 2048, frameCount: 4096, poolId: 0 } as const;
/** Smallest frame: one MTU-1500 Ethernet frame plus headroom, the AF_XDP default chunk. */
export const MIN_FRAME_SIZE = 2048;
/** Largest frame: one 64 KiB GSO super-packet. */
export const MAX_FRAME_SIZE = 65536;
/** Most frames in one pool. */
export const MAX_FRAME_COUNT = 1 << 20;
/** Most bytes in one frame area, so every frame offset is an int31. */
export const MAX_FRAME_AREA_BYTES = 1 << 30;

const EMPTY_I32 = new Int32Array(0);
const EMPTY_U8 = new Uint8Array(0);

/**
 * Views over a frame pool's memory, for any thread: read and write the frames a descriptor hands you,
 * read `available` and the counters. Cannot allocate or free; the owner holds a `FramePool`.
 */
export class FrameMemory {
  /** The whole pool: post it to other threads, who call `FramePool.attach(buffer)`. */
  readonly buffer: SharedArrayBuffer;
  /** The frame area only: frame `f` starts at `offsetOf(f)`. Page-aligned (see `FramePoolOptions.addressOf`). */
  readonly bytes: Uint8Array;
  /** The frame area as one DataView (header views take it plus an offset from `offsetOf`). */
  readonly view: DataView;
  /** Bytes per frame. */
  readonly frameSize: number;
  /** Number of frames. */
  readonly frameCount: number;
  /** Pool id carried in descriptors. */
  readonly id: number;
  /** Byte offset of the frame area inside `buffer`. */
  readonly frameAreaOffset: number;
  protected ctl: Int32Array;
  protected freeList: Int32Array;
  protected states: Uint8Array;
  protected readonly frameShift: number;

  protected constructor(buffer: SharedArrayBuffer) {
    const ctl = checkPoolBuffer(buffer);
    this.buffer = buffer;
    this.frameSize = ctl[POOL_FRAME_SIZE]!;
    this.frameCount = ctl[POOL_FRAME_COUNT]!;
    this.id = ctl[POOL_ID]!;
    this.frameAreaOffset = ctl[POOL_FRAME_AREA_OFFSET]!;
    this.frameShift = Math.log2(this.frameSize);
    this.ctl = ctl;
    this.freeList = new Int32Array(buffer, POOL_FREE_LIST_OFFSET, this.frameCount);
    this.states = new Uint8Array(buffer, poolStatesOffset(this.frameCount), this.frameCount);
    const areaBytes = this.frameCount * this.frameSize;
    this.bytes = new Uint8Array(buffer, this.frameAreaOffset, areaBytes);
    this.view = new DataView(buffer, this.frameAreaOffset, areaBytes);
  }

  /**
   * Returns views over the pool in `buffer` for a thread that does not own it. Thread: any.
   * Throws ERR_INVALID_ARG_TYPE unless a SharedArrayBuffer, ERR_INVALID_ARG_VALUE unless a frame pool.
   */
  static attach(buffer: SharedArrayBuffer): FrameMemory {
    return new FrameMemory(buffer);
  }

  /** Returns the byte offset of frame `frame` in `bytes` and `view`. Thread: any. No checks (hot path). */
  offsetOf(frame: number): number {
    return frame << this.frameShift;
  }
  /** Returns how many frames are in the free list now. Thread: any (a snapshot when not the owner). */
  get available(): number {
    return Atomics.load(this.ctl, POOL_FREE_COUNT);
  }
  /** Returns true when `frame` is in the free list. Thread: any (a snapshot when not the owner). */
  isFree(frame: number): boolean {
    return this.states[frame] === FRAME_FREE;
  }
  /** Returns the frames asked of `alloc`/`allocBatch` that the empty pool could not give. Thread: any. */
  get allocFailures(): number {
    return Atomics.load(this.ctl, POOL_ALLOC_FAILURES);
  }
  /** Returns the refused frees of a frame already in the free list. Thread: any. */
  get doubleFrees(): number {
    return Atomics.load(this.ctl, POOL_DOUBLE_FREES);
  }
  /** Returns the refused frees of an index outside `[0, frameCount)`. Thread: any. */
  get badFrees(): number {
    return Atomics.load(this.ctl, POOL_BAD_FREES);
  }
}

/**
 * A frame pool as seen by its owner, the one thread that allocates and frees. Allocation pops a stack of
 * frame indices; a state byte per frame catches double frees and foreign indices, which are counted and
 * refused, never applied (measured cost in README.md). No allocation, no throw on the hot path.
 */
export class FramePool extends FrameMemory {
  /**
   * Creates a pool in a new SharedArrayBuffer, all frames free, owned by the calling thread.
   * Thread: any (it becomes the owner). Throws ERR_INVALID_ARG_TYPE / ERR_INVALID_ARG_VALUE / ERR_OUT_OF_RANGE.
   */
  static create(options: FramePoolOptions = {}): FramePool {
    const o = validateFramePoolOptions(options);
    const base = poolFrameAreaBase(o.frameCount);
    const areaBytes = o.frameSize * o.frameCount;
    // One page of slack: room to slide the frame area onto an absolute page boundary.
    const buffer = new SharedArrayBuffer(base + PAGE_BYTES + areaBytes);
    let frameAreaOffset = base;
    if (o.addressOf !== undefined) {
      const given: unknown = o.addressOf(buffer);
      if (!(typeof given === 'bigint' ? given >= 0n : Number.isSafeInteger(given) && (given as number) >= 0)) {
        throw new NetshardError('ERR_INVALID_ARG_VALUE', `options.addressOf must return the buffer's address (a bigint or an integer >= 0), received ${typeof given === 'bigint' ? `${given}n` : typeof given === 'number' ? given : describeValue(given)}`);
      }
      const address = BigInt(given as bigint | number);
      const misalignment = Number((address + BigInt(base)) % BigInt(PAGE_BYTES));
      if (misalignment !== 0) frameAreaOffset = base + PAGE_BYTES - misalignment;
    }
    const ctl = new Int32Array(buffer, 0, POOL_CONTROL_WORDS);
    ctl[POOL_MAGIC] = POOL_MAGIC_VALUE;
    ctl[POOL_VERSION] = POOL_VERSION_VALUE;
    ctl[POOL_FRAME_SIZE] = o.frameSize;
    ctl[POOL_FRAME_COUNT] = o.frameCount;
    ctl[POOL_ID] = o.poolId;
    ctl[POOL_FRAME_AREA_OFFSET] = frameAreaOffset;
    ctl[POOL_OWNER] = threadId + 1;
    // Frame 0 on top of the stack: a fresh pool hands out 0, 1, 2, …
    const freeList = new Int32Array(buffer, POOL_FREE_LIST_OFFSET, o.frameCount);
    for (let i = 0; i < o.frameCount; i++) freeList[i] = o.frameCount - 1 - i;
    new Uint8Array(buffer, poolStatesOffset(o.frameCount), o.frameCount).fill(FRAME_FREE);
    Atomics.store(ctl, POOL_FREE_COUNT, o.frameCount);
    return new FramePool(buffer);
  }

  /**
   * Makes the calling thread the owner of the pool in `buffer`, which the previous owner gave up with
   * `disown()`. Thread: the new owner. Throws ERR_NETSHARD_POOL_OWNED while another thread owns it.
   */
  static adopt(buffer: SharedArrayBuffer): FramePool {
    const ctl = checkPoolBuffer(buffer);
    const previous = Atomics.compareExchange(ctl, POOL_OWNER, 0, threadId + 1);
    if (previous !== 0 && previous !== threadId + 1) {
      throw new NetshardError('ERR_NETSHARD_POOL_OWNED', `frame pool ${ctl[POOL_ID]} is owned by thread ${previous - 1}; its owner must disown() it first`);
    }
    return new FramePool(buffer);
  }

  /**
   * Gives up ownership so another thread can `adopt` the pool; this object then allocates nothing and
   * refuses every free (counted in a private dummy). Thread: the owner.
   */
  disown(): void {
    Atomics.compareExchange(this.ctl, POOL_OWNER, threadId + 1, 0);
    const dummy = new Int32Array(POOL_CONTROL_WORDS);
    this.ctl = dummy;
    this.freeList = EMPTY_I32;
    this.states = EMPTY_U8;
  }

  /** Takes one free frame and returns its index, or -1 (counted in `allocFailures`) when none is free. Thread: owner. */
  alloc(): number {
    const ctl = this.ctl;
    const top = ctl[POOL_FREE_COUNT]! - 1;
    if (top < 0) {
      ctl[POOL_ALLOC_FAILURES]!++;
      return -1;
    }
    const frame = this.freeList[top]!;
    this.states[frame] = FRAME_OUT;
    ctl[POOL_FREE_COUNT] = top;
    return frame;
  }

  /**
   * Takes up to `n` free frames into `out[0..)` and returns how many; the shortfall is counted in
   * `allocFailures`. Thread: owner. `n` is clamped to `out.length`.
   */
  allocBatch(out: Int32Array, n: number): number {
    const ctl = this.ctl;
    const freeList = this.freeList;
    const states = this.states;
    let top = ctl[POOL_FREE_COUNT]!;
    if (n > out.length) n = out.length;
    let got = n < top ? n : top;
    if (got < 0) got = 0;
    for (let i = 0; i < got; i++) {
      const frame = freeList[--top]!;
      states[frame] = FRAME_OUT;
      out[i] = frame;
    }
    ctl[POOL_FREE_COUNT] = top;
    if (got < n) ctl[POOL_ALLOC_FAILURES]! += n - got;
    return got;
  }

  /**
   * Returns `frame` to the free list and true; refuses (false) and counts a frame already free
   * (`doubleFrees`) or outside the pool (`badFrees`), leaving the free list untouched. Thread: owner.
   */
  free(frame: number): boolean {
    const states = this.states;
    if (frame >>> 0 >= this.frameCount || frame !== (frame | 0)) {
      this.ctl[POOL_BAD_FREES]!++;
      return false;
    }
    if (states[frame] !== FRAME_OUT) {
      this.ctl[POOL_DOUBLE_FREES]!++;
      return false;
    }
    states[frame] = FRAME_FREE;
    const ctl = this.ctl;
    const top = ctl[POOL_FREE_COUNT]!;
    this.freeList[top] = frame;
    ctl[POOL_FREE_COUNT] = top + 1;
    return true;
  }

  /**
   * Frees `src[start .. start + n)` as `free` does each, and returns how many were accepted.
   * Thread: owner. `n` is clamped to what `src` holds after `start`.
   */
  freeBatch(src: Int32Array, n: number, start = 0): number {
    const ctl = this.ctl;
    const freeList = this.freeList;
    const states = this.states;
    const frameCount = this.frameCount;
    let end = start + n;
    if (end > src.length) end = src.length;
    let top = ctl[POOL_FREE_COUNT]!;
    let bad = 0;
    let double = 0;
    for (let i = start; i < end; i++) {
      const frame = src[i]!;
      if (frame >>> 0 >= frameCount) {
        bad++;
        continue;
      }
      if (states[frame] !== FRAME_OUT) {
        double++;
        continue;
      }
      states[frame] = FRAME_FREE;
      freeList[top++] = frame;
    }
    const accepted = top - ctl[POOL_FREE_COUNT]!;
    ctl[POOL_FREE_COUNT] = top;
    if (bad !== 0) ctl[POOL_BAD_FREES]! += bad;
    if (double !== 0) ctl[POOL_DOUBLE_FREES]! += double;
    return accepted;
  }
}

function validateFramePoolOptions(options: FramePoolOptions): Required<Omit<FramePoolOptions, 'addressOf'>> & Pick<FramePoolOptions, 'addressOf'> {
  validateObject(options, 'options', ['frameSize', 'frameCount', 'poolId', 'addressOf']);
  const frameSize = options.frameSize ?? DEFAULT_FRAME_POOL_OPTIONS.frameSize;
  validateInteger(frameSize, 'options.frameSize', MIN_FRAME_SIZE, MAX_FRAME_SIZE);
  if ((frameSize & (frameSize - 1)) !== 0) {
    throw new NetshardError('ERR_INVALID_ARG_VALUE', `options.frameSize must be a power of two, received ${frameSize}`);
  }
  const frameCount = options.frameCount ?? DEFAULT_FRAME_POOL_OPTIONS.frameCount;
  validateInteger(frameCount, 'options.frameCount', 1, MAX_FRAME_COUNT);
  if (frameSize * frameCount > MAX_FRAME_AREA_BYTES) {
    throw new NetshardError(
      'ERR_OUT_OF_RANGE',
      `options.frameSize × options.frameCount must be <= ${MAX_FRAME_AREA_BYTES} bytes, received ${frameSize} × ${frameCount}`,
    );
  }
  const poolId = options.poolId ?? DEFAULT_FRAME_POOL_OPTIONS.poolId;
  validateInteger(poolId, 'options.poolId', 0, 0xffff);
  const addressOf = options.addressOf;
  if (addressOf !== undefined && typeof addressOf !== 'function') {
    throw new NetshardError('ERR_INVALID_ARG_TYPE', `options.addressOf must be a function, received ${describeValue(addressOf)}`);
  }
  return { frameSize, frameCount, poolId, addressOf: addressOf as FramePoolOptions['addressOf'] };
}

/** Checks that `buffer` holds a frame pool of this layout version and returns its control words. */
function checkPoolBuffer(buffer: unknown): Int32Array {
  if (!(buffer instanceof SharedArrayBuffer)) {
    throw new NetshardError('ERR_INVALID_ARG_TYPE', `buffer must be a SharedArrayBuffer, received ${describeValue(buffer)}`);
  }
  if (buffer.byteLength < POOL_FREE_LIST_OFFSET) {
    throw new NetshardError('ERR_INVALID_ARG_VALUE', `buffer is not a frame pool: ${buffer.byteLength} bytes is too short`);
  }
  const ctl = new Int32Array(buffer, 0, POOL_CONTROL_WORDS);
  if (ctl[POOL_MAGIC] !== POOL_MAGIC_VALUE) {
    throw new NetshardError('ERR_INVALID_ARG_VALUE', `buffer is not a frame pool (magic 0x${(ctl[POOL_MAGIC]! >>> 0).toString(16)})`);
  }
  if (ctl[POOL_VERSION] !== POOL_VERSION_VALUE) {
    throw new NetshardError('ERR_INVALID_ARG_VALUE', `frame pool layout version ${ctl[POOL_VERSION]} is not ${POOL_VERSION_VALUE}`);
  }
  const frameCount = ctl[POOL_FRAME_COUNT]!;
  const end = ctl[POOL_FRAME_AREA_OFFSET]! + frameCount * ctl[POOL_FRAME_SIZE]!;
  if (end > buffer.byteLength || ctl[POOL_FRAME_AREA_OFFSET]! < poolFrameAreaBase(frameCount)) {
    throw new NetshardError('ERR_INVALID_ARG_VALUE', `frame pool header does not fit its ${buffer.byteLength}-byte buffer`);
  }
  return ctl;
}

