/**
 * The PACKET_MMAP dispatcher: the kernel writes each frame into a receive ring shared with us
 * (PACKET_RX_RING, mmap'd, viewed from JS without copies), we copy each ready frame into one of the
 * caller's pool frames (one copy, as gVisor's packetMMapDispatcher) and hand the ring slots back at the end
 * of the same `receive` call.
 * gVisor's mode 2 (REFERENCE-gvisor.md §2.2), on an AF_PACKET socket only.
 * In place (`peekInPlace` / `releaseInPlace`): the caller reads (and may rewrite) ready frames where they
 * lie in the ring (`ringMemory`, `ringDataView`) and hands the slots back itself once done, e.g. after
 * sending them: no copy at all for what a worker forwards. Same accounting as `receive`.
 *
 * Ring (TPACKET_V2): `frameCount` slots of `ringFrameSize` bytes, grouped in blocks of 64 KiB multiples
 * (page-aligned for every page size: 4, 16, 64 KiB). Slot s lives at `block(s) * blockSize + index(s) * ringFrameSize`:
 * ```
 *  slot  0      tp_status u32 | tp_len u32 | tp_snaplen u32 | tp_mac u16 | tp_net u16 | sec | nsec | vlan … (32 B)
 *  +32          sockaddr_ll (20 B), padding
 *  +tp_mac      the frame as received: tp_snaplen bytes (tp_len on the wire)
 * ```
 * tp_status is the ownership word: KERNEL (0) = the kernel may fill it; USER bit (1) = ours to read (its
 * CSUMNOTREADY / CSUM_VALID bits become the packet's `RxChecksum`). The
 * kernel fills slots in order and skips nothing, so we read them in order too, from `slot`. When the slot the
 * kernel wants is still ours, it drops the packet and marks later frames LOSING (counted by PACKET_STATISTICS).
 *
 * Why TPACKET_V2 (gVisor uses V1 and wanted to move to V3):
 * - V1's header is `unsigned long`-sized: its layout changes between 32- and 64-bit processes. V2 fixed
 *   u32 fields, nanosecond timestamps, VLAN tag fields. The slot protocol is the same as V1's.
 * - V3 hands whole blocks of variable-size frames to user space and gives a block back only when every
 *   frame in it is read; a block that is not full is handed over only when its retire timer fires
 *   (tp_retire_blk_tov, milliseconds). At low rates that is milliseconds of added latency for every packet,
 *   which a request/response workload pays and a stack that already batches per poll does not need. V3 wins
 *   on memory density (small frames packed), which matters less here: we copy each frame out at once, so a
 *   ring of 2 KiB slots stays small (2 MiB by default).
 * - V2 keeps one status word per frame, so a frame goes back to the kernel as soon as it is copied (at
 *   the end of the call that copied it), whatever `max` the caller passes; `receive(frames, lengths, max)` maps onto it directly.
 *
 * Thread: the owner (see `dispatcher.ts`). Hot path: no allocation, no throw.
 */
import { NetshardError } from '../errors.ts';
import { validateInteger, validateObject } from '../validate.ts';
import {
  DispatcherCounter,
  FdDispatcherBase,
  RxChecksum,
  checkDispatcherOptions,
  prepareFd,
  type DispatchMode,
  type DispatcherOptions,
} from './dispatcher.ts';
import { WaitResult } from './stop-fd.ts';
import {
  AF_PACKET,
  EBADF,
  EBUSY,
  EINVAL,
  MAP_SHARED,
  PACKET_RX_RING,
  PACKET_STATISTICS,
  PACKET_VERSION,
  POLLIN,
  PROT_READ,
  PROT_WRITE,
  SOL_PACKET,
  TPACKET_ALIGNMENT,
  TPACKET_V2,
  TP_STATUS_COPY,
  TP_STATUS_CSUMNOTREADY,
  TP_STATUS_CSUM_VALID,
  TP_STATUS_KERNEL,
  TP_STATUS_LOSING,
  TP_STATUS_USER,
  addressOf,
  errnoError,
  getsockopt,
  memcpy,
  mmap,
  munmap,
  setsockopt,
  setsockoptInt,
  socketDomain,
  viewMemory,
} from './syscalls.ts';

/** Options of `createMmapDispatcher`: the shared ones plus the ring's geometry. */
export interface MmapDispatcherOptions extends DispatcherOptions {
  /**
   * Bytes per ring slot, a multiple of 16 from 128 to 65664 (gVisor's 64 KiB + 128). Holds the 32-byte
   * header, sockaddr_ll and padding (the frame starts at tp_mac, 66 bytes in for Ethernet), then the frame.
   * Longer frames arrive cut short and are dropped as `rxTruncated`. Default 2048: Ethernet frames up to
   * 1982 bytes (MTU 1500 with VLAN tags); use 65664 for GSO/GRO super-packets.
   */
  ringFrameSize?: number;
  /** Ring slots, 8..65536 (rounded up to fill the last block). Default: 2 MiB worth (1024 slots of 2 KiB). */
  ringFrames?: number;
}

/** Default ring slot size: one MTU-1500 Ethernet frame plus the 66-byte TPACKET_V2 prologue, rounded to 2 KiB. */
export const DEFAULT_RING_FRAME_SIZE = 2048;
/** Default ring size in bytes when `ringFrames` is not given (gVisor's ring is 32 × 65664 B ≈ 2 MiB). */
export const DEFAULT_RING_BYTES = 2 << 20;
/** Default frames per `receive`: the ring is drained up to this many, the rest on the next call. */
export const DEFAULT_MMAP_BATCH = 64;
/** Ring blocks are multiples of this: page-aligned for 4, 16 and 64 KiB pages, small enough to allocate easily. */
const BLOCK_UNIT = 64 * 1024;
/** 32-bit words per 4 KiB page: the step of the pre-fault loop (larger pages just get touched more than once). */
const PAGE_WORDS = 4096 / 4;
/** Largest slot: gVisor's tpFrameSize, 64 KiB + 128. */
const MAX_RING_FRAME_SIZE = 65536 + 128;

// struct tpacket2_hdr field offsets (bytes), <linux/if_packet.h>.
const TP_STATUS = 0, TP_LEN = 4, TP_SNAPLEN = 8, TP_MAC = 12;

/** Indices into `MmapDispatcher.ringCounters`: what only a ring knows. One writer, any reader. */
export const MmapCounter = {
  /** Packets the kernel dropped for want of a free slot (PACKET_STATISTICS tp_drops, summed). */
  kernelDrops: 0,
  /** Packets the kernel counted for this socket (PACKET_STATISTICS tp_packets, summed; drops included). */
  kernelPackets: 1,
  /** Frames that carried TP_STATUS_LOSING: the kernel had dropped packets when it wrote them. */
  losingFrames: 2,
  /** Frames with TP_STATUS_COPY (cut to the slot, full copy queued; only with PACKET_COPY_THRESH): dropped. */
  copyFrames: 3,
} as const;
export type MmapCounter = (typeof MmapCounter)[keyof typeof MmapCounter];
const MMAP_COUNTER_COUNT = 4;

/** The ring geometry the kernel accepted (struct tpacket_req), for tests and stats. */
export interface RingGeometry {
  blockSize: number;
  blockCount: number;
  frameSize: number;
  frameCount: number;
}

/**
 * Returns the ring geometry for `ringFrameSize` × at least `ringFrames` slots: blocks of the smallest
 * multiple of 64 KiB holding at least one slot, and enough blocks for `ringFrames`. Pure; for setup and tests.
 */
export function ringGeometry(ringFrameSize: number, ringFrames: number): RingGeometry {
  const blockSize = Math.ceil(ringFrameSize / BLOCK_UNIT) * BLOCK_UNIT;
  const perBlock = Math.floor(blockSize / ringFrameSize);
  const blockCount = Math.ceil(ringFrames / perBlock);
  return { blockSize, blockCount, frameSize: ringFrameSize, frameCount: blockCount * perBlock };
}

const EMPTY_I32 = new Int32Array(0);
const EMPTY_U16 = new Uint16Array(0);
const EMPTY_U8 = new Uint8Array(0);
const EMPTY_VIEW = new DataView(new ArrayBuffer(0));
/**
 * Frames up to this many bytes are copied out of the ring in JS (DataView words) instead of by a koffi
 * memcpy call: measured on this project's VM, one koffi call costs ~100-170 ns whatever the size, a JS copy of
 * 64 bytes ~30-60 ns; at 1500 bytes libc's memcpy wins.
 */
export const JS_COPY_MAX = 256;
/**
 * A batch with LOSING frames reads PACKET_STATISTICS only once in this many (the first, then every 64th):
 * under overload every frame says LOSING until the statistics are read, and one getsockopt per batch is a
 * syscall plus a koffi call per 64 packets. `readKernelStatistics()` (and `close()`) read them exactly.
 */
export const LOSING_READ_INTERVAL = 64;

/** A slot's checksum state: tpacket_rcv sets CSUMNOTREADY for a CHECKSUM_PARTIAL skb, else CSUM_VALID when verified. */
function checksumStatus(status: number): RxChecksum {
  return (status & TP_STATUS_CSUMNOTREADY) !== 0 ? RxChecksum.NotReady
    : (status & TP_STATUS_CSUM_VALID) !== 0 ? RxChecksum.Valid : RxChecksum.Unknown;
}

/** Copies `length` bytes from `from[fromOffset]` to `to[toOffset]`, 4 bytes at a time (DataView: any alignment). */
function copyInJs(from: DataView, fromOffset: number, to: DataView, toOffset: number, length: number): void {
  let i = 0;
  for (; i + 4 <= length; i += 4) to.setInt32(toOffset + i, from.getInt32(fromOffset + i, true), true);
  for (; i < length; i++) to.setUint8(toOffset + i, from.getUint8(fromOffset + i));
}

/** Reads frames from a TPACKET_V2 receive ring into the caller's frames. Create with `createMmapDispatcher`. */
export class MmapDispatcher extends FdDispatcherBase {
  readonly mode: DispatchMode = 'mmap';
  /** The ring the kernel accepted. */
  readonly geometry: RingGeometry;
  /** Ring-only counters, indexed by `MmapCounter`, in a SharedArrayBuffer any thread may read. */
  readonly ringCounters: Float64Array;
  /** Where the ring is mapped (Number address) and how long; 0 once unmapped. */
  private ringAddress: number;
  private readonly ringBigAddress: bigint;
  private readonly ringBytes: number;
  /** The ring as u32 words (status, len, snaplen) and u16 halves (tp_mac): views of the mapping, no copy. */
  private ring32: Int32Array;
  private ring16: Uint16Array;
  /** The ring and the caller's frame area as DataViews, for the JS copy of small frames. */
  private ringView: DataView;
  private readonly poolView: DataView;
  /** Batches with LOSING frames since PACKET_STATISTICS was last read by `receive`. */
  private losingBatches = 0;
  /** Byte offset of each slot in the ring. */
  private readonly slotOffsets: Int32Array;
  /** Next slot to read: the kernel fills slots in this same order. */
  private slot = 0;
  /** Sink of the first pass's loads in `receive`, so the compiler keeps them. */
  private touched = 0;
  private released = false;
  /** Slots from `slot` held by the last `peekInPlace`, handed back by `releaseInPlace`. */
  private peeked = 0;
  private ringMemoryBytes: Uint8Array = EMPTY_U8;
  private readonly stats = new Int32Array(2);
  private readonly statsLength = new Int32Array(1);

  constructor(options: MmapDispatcherOptions) {
    validateObject(options, 'options', [
      'fd', 'frames', 'rxOffset', 'batchSize', 'vnetHeader', 'stopFd', 'zeroIsEof', 'counters', 'ringFrameSize', 'ringFrames',
    ]);
    const { ringFrameSize: askedFrameSize, ringFrames: askedFrames, ...shared } = options;
    const o = checkDispatcherOptions(shared, DEFAULT_MMAP_BATCH);
    const ringFrameSize = askedFrameSize ?? DEFAULT_RING_FRAME_SIZE;
    validateInteger(ringFrameSize, 'options.ringFrameSize', 128, MAX_RING_FRAME_SIZE);
    if (ringFrameSize % TPACKET_ALIGNMENT !== 0) {
      throw new NetshardError('ERR_INVALID_ARG_VALUE', `options.ringFrameSize must be a multiple of ${TPACKET_ALIGNMENT}, received ${ringFrameSize}`);
    }
    const ringFrames = askedFrames ?? Math.max(8, Math.floor(DEFAULT_RING_BYTES / ringFrameSize));
    validateInteger(ringFrames, 'options.ringFrames', 8, 65536);
    const domain = socketDomain(o.fd);
    if (domain !== AF_PACKET) {
      throw new NetshardError('ERR_INVALID_ARG_VALUE', `options.fd must be an AF_PACKET socket for PACKET_MMAP (fd ${o.fd}: ${domain < 0 ? `errno ${-domain}` : `family ${domain}`})`);
    }
    const info = prepareFd(o.fd);
    // The vnet header, when the socket has one, sits just before tp_mac and is skipped with it (gVisor drops it too).
    super(o, info, addressOf(o.bytes), POLLIN);

    const geometry = ringGeometry(ringFrameSize, ringFrames);
    const v = setsockoptInt(o.fd, SOL_PACKET, PACKET_VERSION, TPACKET_V2);
    if (v < 0) {
      super.close();
      if (v === -EBUSY) throw errnoError('setsockopt', v, `PACKET_VERSION (fd ${o.fd} already has a ring)`);
      throw errnoError('setsockopt', v, 'PACKET_VERSION TPACKET_V2');
    }
    const req = new Uint32Array([geometry.blockSize, geometry.blockCount, geometry.frameSize, geometry.frameCount]);
    const r = setsockopt(o.fd, SOL_PACKET, PACKET_RX_RING, req, req.byteLength);
    if (r < 0) {
      super.close();
      throw errnoError('setsockopt', r, `PACKET_RX_RING {block ${geometry.blockSize} × ${geometry.blockCount}, frame ${geometry.frameSize} × ${geometry.frameCount}}`);
    }
    const ringBytes = geometry.blockSize * geometry.blockCount;
    const address = mmap(null, ringBytes, PROT_READ | PROT_WRITE, MAP_SHARED, o.fd, 0);
    if (address < 0n) {
      releaseRing(o.fd);
      super.close();
      throw errnoError('mmap', Number(address), `(PACKET_RX_RING, ${ringBytes} bytes)`);
    }
    this.geometry = geometry;
    this.ringBigAddress = address;
    this.ringAddress = Number(address);
    this.ringBytes = ringBytes;
    const memory = viewMemory(address, ringBytes);
    this.ring32 = new Int32Array(memory);
    this.ring16 = new Uint16Array(memory);
    this.ringView = new DataView(memory);
    this.ringMemoryBytes = new Uint8Array(memory);
    this.poolView = new DataView(o.bytes.buffer, o.bytes.byteOffset, o.bytes.byteLength);
    // Fault every page in now, by writing: the first user-space write to each page of a fresh packet ring
    // cost 3-20 µs per page on this project's VM (C and JS alike; a read alone did not help), which would
    // otherwise fall on the first lap of receive() (measured there: ~4 µs per slot, against ~0.4 µs after).
    // An atomic add of 0 keeps the word's value even while the kernel fills that slot.
    for (let w = 0; w < this.ring32.length; w += PAGE_WORDS) Atomics.add(this.ring32, w, 0);
    const perBlock = geometry.blockSize / geometry.frameSize | 0;
    this.slotOffsets = new Int32Array(geometry.frameCount);
    for (let s = 0; s < geometry.frameCount; s++) {
      this.slotOffsets[s] = Math.floor(s / perBlock) * geometry.blockSize + (s % perBlock) * geometry.frameSize;
    }
    this.ringCounters = new Float64Array(new SharedArrayBuffer(MMAP_COUNTER_COUNT * 8));
    // Packets queued on the socket before the ring existed are gone: packet_set_ring() purges the receive
    // queue (af_packet.c), so poll() does not keep reporting them (the test checks this).
    this.readKernelStatistics(); // start PACKET_STATISTICS from zero
    this.ringCounters[MmapCounter.kernelPackets] = 0;
    this.ringCounters[MmapCounter.kernelDrops] = 0;
  }

  receive(frames: Int32Array, lengths: Int32Array, max: number, checksums?: Uint8Array): number {
    if (this.released) return -EBADF;
    if (this.peeked !== 0) this.releaseInPlace(); // slots an in-place user left: theirs are done
    const n = this.batchLimit(frames, lengths, max, checksums);
    const ring32 = this.ring32;
    const ring16 = this.ring16;
    const offsets = this.slotOffsets;
    const slots = offsets.length;
    const slotSize = this.geometry.frameSize;
    const capacity = this.capacity;
    const frameCount = this.frameCount;
    const destination = this.baseAddress + this.rxOffset;
    const frameSize = this.frameSize;
    const ringAddress = this.ringAddress;
    const ringView = this.ringView, poolView = this.poolView, rxOffset = this.rxOffset;
    let slot = this.slot;
    let k = 0;
    let seen = 0;
    let bytes = 0;
    let truncated = 0;
    let empty = 0;
    let losing = 0;
    let copies = 0;
    let notReady = 0;
    let valid = 0;
    let end = 0;
    this.prefetch(n);
    // `seen < slots`: dropped frames fill no caller frame, so bound the scan by one lap of the ring.
    while (k < n && seen < slots) {
      const offset = offsets[slot]!;
      const word = offset >> 2;
      const status = Atomics.load(ring32, word + (TP_STATUS >> 2));
      if ((status & TP_STATUS_USER) === 0) break;
      const frame = frames[k]!;
      if (frame >>> 0 >= frameCount) { end = -EINVAL; break; } // leave the slot for the next call
      seen++;
      if ((status & TP_STATUS_LOSING) !== 0) losing++;
      const length = ring32[word + (TP_LEN >> 2)]!;
      const snaplen = ring32[word + (TP_SNAPLEN >> 2)]!;
      const mac = ring16[(offset + TP_MAC) >> 1]!;
      if ((status & TP_STATUS_COPY) !== 0) { copies++; truncated++; }
      else if (snaplen !== length || snaplen > capacity || mac + snaplen > slotSize) truncated++;
      else if (snaplen <= 0) empty++;
      else {
        // Both ranges were proven in bounds just above: frame < frameCount, snaplen <= capacity, and the
        // slot holds mac + snaplen bytes.
        if (snaplen <= JS_COPY_MAX) copyInJs(ringView, offset + mac, poolView, frame * frameSize + rxOffset, snaplen);
        else memcpy(destination + frame * frameSize, ringAddress + offset + mac, snaplen);
        const checksum = checksumStatus(status);
        if (checksum === RxChecksum.NotReady) notReady++;
        else if (checksum === RxChecksum.Valid) valid++;
        if (checksums !== undefined) checksums[k] = checksum;
        lengths[k++] = snaplen;
        bytes += snaplen;
      }
      slot = slot + 1 === slots ? 0 : slot + 1;
    }
    if (seen > 0) this.handBack(this.slot, seen);
    this.slot = slot;
    if (seen > 0) this.countScan(k, bytes, seen, truncated, empty, notReady, valid, copies, losing);
    return k > 0 ? k : end;
  }

  /**
   * The mapped ring as bytes, for the in-place path (`peekInPlace` offsets index it; a writer sends from
   * it once registered with `registerMappedMemory`). Valid until `close()` (then empty). Control path.
   */
  get ringMemory(): Uint8Array { return this.ringMemoryBytes; }
  /** The same memory as a DataView: header views and forwarders take it plus a `peekInPlace` offset. */
  get ringDataView(): DataView { return this.ringView; }

  /**
   * The in-place receive (zero copy for what is forwarded): fills `offsets[0..n)` with the absolute byte
   * offset in `ringMemory`/`ringDataView` of each ready frame (slot offset + tp_mac) and `lengths[0..n)` with
   * its length, and returns n (0 when none is ready, -EBADF once closed). The slots stay ours until
   * `releaseInPlace()`, which the caller must call before the next `peekInPlace`/`receive` (a second peek
   * first releases what the first one left). Truncated, empty and COPY frames are counted and skipped as in
   * `receive`, their slots released with the rest; every counter moves as `receive` moves it. The frames'
   * bytes may be rewritten in place (a forwarder rewrites MACs and TTL) until released. Hot path.
   */
  peekInPlace(offsets: Int32Array, lengths: Int32Array, max: number, checksums?: Uint8Array): number {
    if (this.released) return -EBADF;
    if (this.peeked !== 0) this.releaseInPlace();
    let n = max < this.batchSize ? max : this.batchSize;
    if (n > offsets.length) n = offsets.length;
    if (n > lengths.length) n = lengths.length;
    if (checksums !== undefined && n > checksums.length) n = checksums.length;
    const ring32 = this.ring32;
    const ring16 = this.ring16;
    const slotOffsets = this.slotOffsets;
    const slots = slotOffsets.length;
    const slotSize = this.geometry.frameSize;
    const capacity = this.capacity;
    let slot = this.slot;
    let k = 0, seen = 0, bytes = 0, truncated = 0, empty = 0, losing = 0, copies = 0, notReady = 0, valid = 0;
    this.prefetch(n);
    while (k < n && seen < slots) {
      const offset = slotOffsets[slot]!;
      const word = offset >> 2;
      const status = Atomics.load(ring32, word + (TP_STATUS >> 2));
      if ((status & TP_STATUS_USER) === 0) break;
      seen++;
      if ((status & TP_STATUS_LOSING) !== 0) losing++;
      const length = ring32[word + (TP_LEN >> 2)]!;
      const snaplen = ring32[word + (TP_SNAPLEN >> 2)]!;
      const mac = ring16[(offset + TP_MAC) >> 1]!;
      // `capacity` too, as `receive`: a frame the pool frames could not hold is not delivered either way.
      if ((status & TP_STATUS_COPY) !== 0) { copies++; truncated++; }
      else if (snaplen !== length || snaplen > capacity || mac + snaplen > slotSize) truncated++;
      else if (snaplen <= 0) empty++;
      else {
        const checksum = checksumStatus(status);
        if (checksum === RxChecksum.NotReady) notReady++;
        else if (checksum === RxChecksum.Valid) valid++;
        if (checksums !== undefined) checksums[k] = checksum;
        offsets[k] = offset + mac;
        lengths[k++] = snaplen;
        bytes += snaplen;
      }
      slot = slot + 1 === slots ? 0 : slot + 1;
    }
    this.peeked = seen;
    if (seen > 0) this.countScan(k, bytes, seen, truncated, empty, notReady, valid, copies, losing);
    return k;
  }

  /**
   * Hands every slot of the last `peekInPlace` back to the kernel (status KERNEL); their offsets are then
   * invalid. Returns how many slots went back. Call it once the frames are sent (the kernel copied them)
   * or copied out. Idempotent; 0 after `close()`. Hot path.
   */
  releaseInPlace(): number {
    const count = this.peeked;
    if (count === 0 || this.released) return 0;
    this.peeked = 0;
    const first = this.slot;
    this.handBack(first, count);
    const slots = this.slotOffsets.length;
    this.slot = (first + count) % slots;
    return count;
  }

  /**
   * Copies `length` bytes at `ringOffset` in the ring (a peeked frame) into caller frame `frame` at
   * `rxOffset`, as `receive` would have: the copy a packet kept past `releaseInPlace` needs. The caller
   * proves `frame < frameCount` and `length <= capacity` (a peeked frame's length always is). Hot path.
   */
  copyOut(ringOffset: number, length: number, frame: number): void {
    if (length <= JS_COPY_MAX) copyInJs(this.ringView, ringOffset, this.poolView, frame * this.frameSize + this.rxOffset, length);
    else memcpy(this.baseAddress + this.rxOffset + frame * this.frameSize, this.ringAddress + ringOffset, length);
  }

  /**
   * Loads the header and the first two data lines (what a small frame spans) of up to `n` ready slots from
   * `slot`, with nothing else in between, so their cache misses overlap; the copy or parse that follows
   * then finds them cached. Draining a full ring of 64-byte frames, this took the rate from ~4 to ~10 Mpps
   * (bench/veth-receive.ts, queued): one miss at a time, with a copy's work between them, does not overlap.
   * `mac` < the slot's header room and a slot is >= 2 KiB, so `data + 64` stays in the slot. Once a batch.
   */
  private prefetch(n: number): void {
    const ring32 = this.ring32, ring16 = this.ring16, offsets = this.slotOffsets, slots = offsets.length;
    let touched = 0;
    for (let i = 0, s = this.slot; i < n && i < slots; i++) {
      const offset = offsets[s]!;
      if ((Atomics.load(ring32, (offset + TP_STATUS) >> 2) & TP_STATUS_USER) === 0) break;
      const data = (offset + ring16[(offset + TP_MAC) >> 1]!) >> 2;
      touched ^= ring32[data]! ^ ring32[data + 16]!;
      s = s + 1 === slots ? 0 : s + 1;
    }
    this.touched = touched;
  }

  /** Counts one scan of `seen` slots that delivered `k` frames of `bytes` bytes. Once a batch. */
  private countScan(k: number, bytes: number, seen: number, truncated: number, empty: number, notReady: number, valid: number, copies: number, losing: number): void {
    this.countBatch(k, bytes, seen - k);
    const v = this.counterValues;
    if (truncated !== 0) v[DispatcherCounter.rxTruncated]! += truncated;
    if (empty !== 0) v[DispatcherCounter.rxEmpty]! += empty;
    if (notReady !== 0) v[DispatcherCounter.rxChecksumNotReady]! += notReady;
    if (valid !== 0) v[DispatcherCounter.rxChecksumValid]! += valid;
    if (copies !== 0) this.ringCounters[MmapCounter.copyFrames]! += copies;
    if (losing !== 0) {
      this.ringCounters[MmapCounter.losingFrames]! += losing;
      // Reading also clears the LOSING state; once per LOSING_READ_INTERVAL such batches (see there).
      if (this.losingBatches++ % LOSING_READ_INTERVAL === 0) this.readKernelStatistics();
    }
  }

  /**
   * Gives the `count` slots from `first` back to the kernel (status KERNEL), after their frames were copied.
   * One release store and one acquire load, then plain stores: the release/acquire pair orders every read of
   * those slots before any of the status stores (on weakly ordered CPUs as well; x86 keeps that order anyway),
   * and an `Atomics.store` per slot cost ~20 ns each (a builtin call, not inlined; 5% of a worker's CPU at
   * 64 B in mmap mode, measured with perf).
   */
  private handBack(first: number, count: number): void {
    const ring32 = this.ring32, offsets = this.slotOffsets, slots = offsets.length;
    const word = (offsets[first]! + TP_STATUS) >> 2;
    Atomics.store(ring32, word, TP_STATUS_KERNEL);
    Atomics.load(ring32, word);
    let slot = first;
    for (let i = 1; i < count; i++) {
      slot = slot + 1 === slots ? 0 : slot + 1;
      ring32[(offsets[slot]! + TP_STATUS) >> 2] = TP_STATUS_KERNEL;
    }
  }

  /** Returns Ready at once when the next slot is already ours (no poll), else sleeps as every dispatcher does. */
  override wait(timeoutMs: number): number {
    if (this.released) return -EBADF;
    if ((Atomics.load(this.ring32, this.slotOffsets[this.slot]! >> 2) & TP_STATUS_USER) !== 0) return WaitResult.Ready;
    return super.wait(timeoutMs);
  }

  /**
   * Adds the kernel's PACKET_STATISTICS (packets and drops since the last read; reading resets them) to
   * `ringCounters` and returns the drops it added, or -errno. Thread: the owner. Called by `receive` when a
   * frame says LOSING; call it before reading `kernelDrops` for an exact figure.
   */
  readKernelStatistics(): number {
    if (this.released) return -EBADF;
    this.statsLength[0] = 8;
    const r = getsockopt(this.fd, SOL_PACKET, PACKET_STATISTICS, this.stats, this.statsLength);
    if (r < 0) return r;
    const drops = this.stats[1]! >>> 0;
    this.ringCounters[MmapCounter.kernelPackets]! += this.stats[0]! >>> 0;
    this.ringCounters[MmapCounter.kernelDrops]! += drops;
    return drops;
  }

  /**
   * Unmaps the ring, removes it from the socket (which then works with the other modes again), and closes
   * the eventfd if the dispatcher opened it; not the fd. Idempotent. Thread: the owner, after its loop ended.
   */
  override close(): void {
    if (!this.released) {
      this.readKernelStatistics();
      this.released = true;
      // Drop the JS views before the memory goes: a late access must never touch an unmapped page.
      this.ring32 = EMPTY_I32;
      this.ring16 = EMPTY_U16;
      this.ringView = EMPTY_VIEW;
      this.ringMemoryBytes = EMPTY_U8;
      this.peeked = 0;
      this.ringAddress = 0;
      munmap(this.ringBigAddress, this.ringBytes);
      releaseRing(this.fd);
    }
    super.close();
  }
}

/** Asks the kernel to free the socket's receive ring (a tpacket_req of zeros). Control path; errors ignored. */
function releaseRing(fd: number): void {
  setsockopt(fd, SOL_PACKET, PACKET_RX_RING, new Uint32Array(4), 16);
}

/**
 * Sets up a TPACKET_V2 receive ring on AF_PACKET socket `options.fd` (set non-blocking) and returns its
 * dispatcher. The socket must not have a ring yet. Control path; throws ERR_INVALID_ARG_* for bad options or
 * a non-AF_PACKET fd, the errno name when the kernel refuses the ring (EBUSY: it has one already).
 */
export function createMmapDispatcher(options: MmapDispatcherOptions): MmapDispatcher {
  return new MmapDispatcher(options);
}
