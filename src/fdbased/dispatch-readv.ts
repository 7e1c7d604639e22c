/**
 * The readv dispatcher: one packet per non-blocking readv, for any fd (sockets, TUN/TAP, pipes). gVisor's
 * `readVDispatcher` (REFERENCE-gvisor.md §2.2), the fallback for fds that are not sockets.
 *
 * Each readv scatters into a table of iovecs built once in a SharedArrayBuffer and passed by its cached
 * address; only the frame's address changes per packet (two u32 stores, Number math):
 * ```
 *  [ virtio-net scratch, 10 B ]   only with vnetHeader: read and dropped, as gVisor
 *  [ frame f + rxOffset, capacity ]
 *  [ overflow scratch, 64 B ]     a read that reaches it was longer than the frame: dropped and counted
 * ```
 * Differences from gVisor: a frame for another MAC never ends the loop (MAC filtering is the endpoint's,
 * and it drops); up to `batchSize` readv calls per `receive` (each still one packet).
 *
 * Checksum status: readv carries no control messages, so every packet is `RxChecksum.Unknown` and the
 * stack verifies it in software. On AF_PACKET a sender's offloaded (partial) checksum then fails that
 * check: use recvmmsg or mmap there (both learn the kernel's TP_STATUS_CSUMNOTREADY).
 *
 * Thread: the owner (see `dispatcher.ts`). Hot path: no allocation, no throw.
 */
import {
  DispatcherCounter,
  FdDispatcherBase,
  RECEIVE_EOF,
  RxChecksum,
  VIRTIO_NET_HDR_SIZE,
  checkDispatcherOptions,
  prepareFd,
  type DispatchMode,
  type DispatcherOptions,
} from './dispatcher.ts';
import { EAGAIN, EINTR, EINVAL, POLLIN, SIZEOF_IOVEC, addressOf, pointerOf, readv, writeAddress } from './syscalls.ts';

/** Default readv calls per `receive` (each reads one packet). */
export const DEFAULT_READV_BATCH = 8;
const OVERFLOW_BYTES = 64;
const SCRATCH_BYTES = 16 + OVERFLOW_BYTES; // vnet scratch at 0, overflow at 16

/** Reads one packet per readv into the caller's frames. Create with `createReadvDispatcher`. */
export class ReadvDispatcher extends FdDispatcherBase {
  readonly mode: DispatchMode = 'readv';
  private readonly iovWords: Uint32Array;
  private readonly iovAddress: bigint;
  private readonly iovCount: number;
  /** u32 index in `iovWords` of the frame iovec's base. */
  private readonly frameWord: number;
  /** Keeps the scratch memory alive: the iovecs point into it. */
  private readonly scratch: Uint8Array;
  /** Frame whose address the table holds now (-1: none). */
  private tableFrame = -1;

  constructor(options: DispatcherOptions) {
    const o = checkDispatcherOptions(options, DEFAULT_READV_BATCH);
    const info = prepareFd(o.fd);
    super(o, info, addressOf(o.bytes), POLLIN);
    this.scratch = new Uint8Array(new SharedArrayBuffer(SCRATCH_BYTES));
    const scratchAddress = addressOf(this.scratch);
    this.iovCount = this.vnetHeader ? 3 : 2;
    this.iovWords = new Uint32Array(new SharedArrayBuffer(this.iovCount * SIZEOF_IOVEC));
    this.iovAddress = pointerOf(this.iovWords);
    let w = 0;
    if (this.vnetHeader) {
      writeAddress(this.iovWords, w, scratchAddress);
      writeAddress(this.iovWords, w + 2, VIRTIO_NET_HDR_SIZE);
      w += 4;
    }
    this.frameWord = w;
    writeAddress(this.iovWords, w, this.baseAddress + this.rxOffset); // frame 0 until told otherwise
    writeAddress(this.iovWords, w + 2, this.capacity);
    writeAddress(this.iovWords, w + 4, scratchAddress + 16);
    writeAddress(this.iovWords, w + 6, OVERFLOW_BYTES);
    this.tableFrame = 0;
  }

  receive(frames: Int32Array, lengths: Int32Array, max: number, checksums?: Uint8Array): number {
    const n = this.batchLimit(frames, lengths, max, checksums);
    const v = this.counterValues;
    const header = this.vnetHeader ? VIRTIO_NET_HDR_SIZE : 0;
    const capacity = this.capacity;
    let k = 0;
    let dropped = 0;
    let bytes = 0;
    let end = 0; // RECEIVE_EOF or -errno that stopped the batch
    for (let attempt = 0; attempt < n; attempt++) {
      const frame = frames[k] as number;
      if (frame !== this.tableFrame) {
        if (frame < 0 || frame >= this.frameCount) { end = -EINVAL; break; }
        writeAddress(this.iovWords, this.frameWord, this.baseAddress + frame * this.frameSize + this.rxOffset);
        this.tableFrame = frame;
      }
      const r = readv(this.fd, this.iovAddress, this.iovCount);
      if (r < 0) {
        if (r !== -EAGAIN && r !== -EINTR) { v[DispatcherCounter.rxErrors]!++; end = r; }
        break;
      }
      if (r === 0 && this.zeroIsEof) { end = RECEIVE_EOF; break; }
      const length = r - header;
      if (length <= 0) { v[DispatcherCounter.rxEmpty]!++; dropped++; continue; }
      if (length > capacity) { v[DispatcherCounter.rxTruncated]!++; dropped++; continue; }
      lengths[k] = length;
      if (checksums !== undefined) checksums[k] = RxChecksum.Unknown;
      bytes += length;
      k++;
    }
    this.countBatch(k, bytes, dropped);
    // A batch that delivered returns its count; the end (EOF, error) shows again on the next call.
    return k > 0 ? k : end;
  }
}

/** Opens a readv dispatcher on `options.fd` (set non-blocking). Control path; throws on bad options or fd. */
export function createReadvDispatcher(options: DispatcherOptions): ReadvDispatcher {
  return new ReadvDispatcher(options);
}
