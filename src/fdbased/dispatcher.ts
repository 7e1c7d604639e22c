/**
 * The Dispatcher contract every receive mode implements (readv, recvmmsg, PACKET_MMAP, later AF_XDP),
 * its counters, and the setup every mode shares. gVisor's `linkDispatcher` (REFERENCE-gvisor.md §2.2) with
 * one change: packets land in caller-supplied frames of a frame pool instead of freshly allocated buffers.
 *
 * ```
 *  caller (the fd's worker)                      dispatcher
 *  frames = [7, 3, 9, 12]  (indices it owns)  ─► receive(frames, lengths, 4) = 2
 *  frames = [7, 9, 3, 12]  lengths = [60, 1500]  frames[0..2) filled, in arrival order;
 *                                               frames[2..4) untouched, still the caller's
 * ```
 * No frame changes hands inside a dispatcher: it only reorders the caller's indices so the filled ones
 * come first. A receive may or may not cost a syscall (a PACKET_MMAP or AF_XDP ring is read from memory).
 *
 * Thread: a dispatcher belongs to the one thread that calls `receive`/`wait`; `stop()` may come from any
 * thread through `stopFd.handle` (see `stop-fd.ts`).
 */
import { NetshardError } from '../errors.ts';
import { describeValue, validateBoolean, validateInteger, validateObject } from '../validate.ts';
import { StopFd, WaitResult } from './stop-fd.ts';
import { S_IFSOCK, SOCK_DGRAM, SOCK_RAW, SOL_SOCKET, SO_TYPE, errnoError, fileType, getsockoptInt, setNonBlocking } from './syscalls.ts';

/** The receive modes (gVisor's `PacketDispatchMode`, with our names). */
export type DispatchMode = 'readv' | 'recvmmsg' | 'mmap';

/**
 * `receive()` returns this when the fd reached its end: a 0-byte read on a stream-like fd (SOCK_SEQPACKET,
 * SOCK_STREAM, TUN/TAP, a pipe), as gVisor's readv dispatcher treats n = 0. Outside the errno range.
 */
export const RECEIVE_EOF = -4096;
/** `Endpoint.receive()` returns this once the fd's dispatcher was stopped (never a dispatcher itself). */
export const RECEIVE_STOPPED = -4097;

/** Indices into `DispatcherCounters.values`. One writer (the dispatcher's thread), any reader. */
export const DispatcherCounter = {
  /** Packets delivered into frames. */
  rxPackets: 0,
  /** Bytes delivered (link frames as read, virtio-net header excluded). */
  rxBytes: 1,
  /** Packets longer than a frame holds (MSG_TRUNC, msg_len > capacity): dropped, never delivered half. */
  rxTruncated: 2,
  /** Batches that delivered or dropped at least one packet. */
  rxBatches: 3,
  /** `wait()` calls that ended because someone wrote the eventfd (wake or stop). */
  wakeups: 4,
  /** `wait()` calls. */
  waits: 5,
  /** Zero-length datagrams (or shorter than the virtio-net header): dropped. */
  rxEmpty: 6,
  /** Receive calls that failed with an errno other than EAGAIN/EINTR. */
  rxErrors: 7,
  /** Packets delivered whose transport checksum the sender left to offload (`RxChecksum.NotReady`). */
  rxChecksumNotReady: 8,
  /** Packets delivered whose checksum the kernel or the device already verified (`RxChecksum.Valid`). */
  rxChecksumValid: 9,
} as const;
export type DispatcherCounter = (typeof DispatcherCounter)[keyof typeof DispatcherCounter];
const COUNTER_COUNT = 10;

/**
 * What the kernel said about a delivered packet's transport checksum, per packet in `receive`'s
 * `checksums` array. AF_PACKET reports it (Linux `tpacket_rcv` / `packet_recvmsg`): from the ring slot's
 * tp_status (mmap), from the PACKET_AUXDATA control message's tp_status (recvmmsg). Other fds, and readv
 * (no control messages), say `Unknown`: the stack checks those in software.
 */
export const RxChecksum = {
  /** Nothing known: verify it in software. */
  Unknown: 0,
  /**
   * TP_STATUS_CSUMNOTREADY: a CHECKSUM_PARTIAL skb (a local sender with tx checksum offload, e.g. over a
   * veth). The L4 checksum field holds only the pseudo-header sum; the packet itself is intact (it never
   * left the host). Accept it unverified; complete the checksum before sending it on to another link.
   */
  NotReady: 1,
  /** TP_STATUS_CSUM_VALID: the device (or the kernel) verified the checksum (CHECKSUM_UNNECESSARY). */
  Valid: 2,
} as const;
export type RxChecksum = (typeof RxChecksum)[keyof typeof RxChecksum];

/**
 * A dispatcher's counters: Float64 slots (byte counts pass 2^32) in a SharedArrayBuffer, so any thread
 * can read them (`DispatcherCounters.attach(buffer)`). Updated per batch by the dispatcher's thread.
 */
export class DispatcherCounters {
  /** The slots, indexed by `DispatcherCounter`; the dispatcher adds to them directly. */
  readonly values: Float64Array;

  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(COUNTER_COUNT * 8)) {
    this.values = new Float64Array(buffer, 0, COUNTER_COUNT);
  }
  /** Returns a reader over counters another thread writes. Thread: any. */
  static attach(buffer: SharedArrayBuffer): DispatcherCounters {
    return new DispatcherCounters(buffer);
  }
  /** The SharedArrayBuffer to post to a reader thread. */
  get buffer(): SharedArrayBuffer { return this.values.buffer as SharedArrayBuffer; }
  get rxPackets(): number { return this.values[DispatcherCounter.rxPackets] as number; }
  get rxBytes(): number { return this.values[DispatcherCounter.rxBytes] as number; }
  get rxTruncated(): number { return this.values[DispatcherCounter.rxTruncated] as number; }
  get rxBatches(): number { return this.values[DispatcherCounter.rxBatches] as number; }
  get wakeups(): number { return this.values[DispatcherCounter.wakeups] as number; }
  get waits(): number { return this.values[DispatcherCounter.waits] as number; }
  get rxEmpty(): number { return this.values[DispatcherCounter.rxEmpty] as number; }
  get rxErrors(): number { return this.values[DispatcherCounter.rxErrors] as number; }
  get rxChecksumNotReady(): number { return this.values[DispatcherCounter.rxChecksumNotReady] as number; }
  get rxChecksumValid(): number { return this.values[DispatcherCounter.rxChecksumValid] as number; }
  /** Returns a plain snapshot (for stats RPC and tests). Thread: any. */
  snapshot(): Record<keyof typeof DispatcherCounter, number> {
    const out = {} as Record<keyof typeof DispatcherCounter, number>;
    for (const [name, index] of Object.entries(DispatcherCounter)) {
      out[name as keyof typeof DispatcherCounter] = this.values[index] as number;
    }
    return out;
  }
}

/** What every receive mode implements. */
export interface Dispatcher {
  /** The fd it reads (not owned: never closed by the dispatcher). */
  readonly fd: number;
  /** Which mode this is. */
  readonly mode: DispatchMode;
  /** Its counters. */
  readonly counters: DispatcherCounters;
  /** The eventfd and flag its `wait()` also sleeps on; `stopFd.handle` stops it from another thread. */
  readonly stopFd: StopFd;
  /** Where in each frame a packet's first byte lands. */
  readonly rxOffset: number;
  /** Largest packet a frame holds: `frameSize - rxOffset`. */
  readonly capacity: number;
  /**
   * Fills up to `max` of the caller's frames `frames[0..max)` with received packets, without blocking.
   * Returns the count `n` (frames[0..n) now hold packets in arrival order, `lengths[0..n)` their byte
   * lengths; frames[n..max) are the caller's unused frames, possibly reordered), 0 when nothing was
   * delivered (would block, or every packet read was dropped: call `wait()`), `RECEIVE_EOF` at the end of
   * the fd, or -errno. Oversize packets are dropped and counted, never delivered half. With `checksums`
   * (at least as long as the packets delivered), `checksums[0..n)` get each packet's `RxChecksum`
   * (every mode writes them, `Unknown` when it cannot tell).
   * Thread: the owner. No allocation, no throw.
   */
  receive(frames: Int32Array, lengths: Int32Array, max: number, checksums?: Uint8Array): number;
  /**
   * Sleeps until the fd is readable, `wake()`/`stop()` on `stopFd`, a hang-up, or `timeoutMs`.
   * Returns a `WaitResult` (see `stop-fd.ts`) or -errno. Thread: the owner.
   */
  wait(timeoutMs: number): number;
  /** Makes the current or next `wait()` return `Stopped`, and every later one. Thread: any holding it. */
  stop(): void;
  /** Releases what the dispatcher made (its eventfd unless shared, rings, tables); not the fd. Idempotent. */
  close(): void;
}

/** Where received packets go: the frame area of a pool (FramePool's `bytes` and `frameSize` fit). */
export interface FrameArea {
  /** The frames, frame `f` at `f * frameSize`; must be over a SharedArrayBuffer (its address never moves). */
  readonly bytes: Uint8Array;
  /** Bytes per frame. */
  readonly frameSize: number;
}

/** Options shared by every dispatcher. */
export interface DispatcherOptions {
  /** The fd to read; set non-blocking by the dispatcher, never closed by it. */
  fd: number;
  /** The frames to receive into. */
  frames: FrameArea;
  /** Where in each frame a packet starts (headroom kept free before it). Default 0. */
  rxOffset?: number;
  /** Most packets per receive call. Default per mode. */
  batchSize?: number;
  /** The fd puts a 10-byte virtio-net header before each packet (PACKET_VNET_HDR, IFF_VNET_HDR): read it into scratch and drop it, as gVisor. Default false. */
  vnetHeader?: boolean;
  /** The eventfd to sleep on as well; default: the dispatcher opens (and closes) its own. */
  stopFd?: StopFd;
  /**
   * Whether a 0-byte read means the end of the fd (stream-like fds) or an empty datagram (SOCK_DGRAM,
   * SOCK_RAW, AF_PACKET). Default: chosen by the mode from the fd's type.
   */
  zeroIsEof?: boolean;
  /** Counters to write; default: new ones. */
  counters?: DispatcherCounters;
}


/** Keys of `DispatcherOptions`, for `validateObject`. */
export const DISPATCHER_OPTION_KEYS = ['fd', 'frames', 'rxOffset', 'batchSize', 'vnetHeader', 'stopFd', 'zeroIsEof', 'counters'] as const;

/** Largest batch a dispatcher accepts (UIO_MAXIOV, the kernel's cap on recvmmsg's vlen). */
export const MAX_BATCH_SIZE = 1024;

/** `DispatcherOptions` checked and defaulted (`stopFd`, `counters`, `zeroIsEof` may stay undefined). */
export interface CheckedDispatcherOptions {
  fd: number;
  bytes: Uint8Array;
  frameSize: number;
  frameCount: number;
  rxOffset: number;
  batchSize: number;
  vnetHeader: boolean;
  stopFd: StopFd | undefined;
  zeroIsEof: boolean | undefined;
  counters: DispatcherCounters | undefined;
}

/**
 * Checks `options` for a dispatcher whose default batch is `defaultBatch`. Control path.
 * Throws ERR_INVALID_ARG_TYPE / ERR_INVALID_ARG_VALUE / ERR_OUT_OF_RANGE.
 */
export function checkDispatcherOptions(options: DispatcherOptions, defaultBatch: number): CheckedDispatcherOptions {
  validateObject(options, 'options', DISPATCHER_OPTION_KEYS);
  validateInteger(options.fd, 'options.fd', 0, 0x7fff_ffff);
  const frames: unknown = options.frames;
  if (frames === null || typeof frames !== 'object') {
    throw new NetshardError('ERR_INVALID_ARG_TYPE', `options.frames must be a frame area ({ bytes, frameSize }), received ${describeValue(frames)}`);
  }
  const { bytes, frameSize } = frames as FrameArea;
  if (!(bytes instanceof Uint8Array) || !(bytes.buffer instanceof SharedArrayBuffer)) {
    throw new NetshardError('ERR_INVALID_ARG_TYPE', `options.frames.bytes must be a Uint8Array over a SharedArrayBuffer, received ${bytes instanceof Uint8Array ? 'a Uint8Array over an ArrayBuffer' : describeValue(bytes)}`);
  }
  validateInteger(frameSize, 'options.frames.frameSize', 64, 1 << 20);
  const frameCount = Math.floor(bytes.byteLength / frameSize);
  if (frameCount < 1) throw new NetshardError('ERR_OUT_OF_RANGE', `options.frames.bytes (${bytes.byteLength} bytes) holds no whole frame of ${frameSize} bytes`);
  const rxOffset = options.rxOffset ?? 0;
  validateInteger(rxOffset, 'options.rxOffset', 0, frameSize - 1);
  const batchSize = options.batchSize ?? defaultBatch;
  validateInteger(batchSize, 'options.batchSize', 1, MAX_BATCH_SIZE);
  const vnetHeader = options.vnetHeader ?? false;
  validateBoolean(vnetHeader, 'options.vnetHeader');
  if (options.zeroIsEof !== undefined) validateBoolean(options.zeroIsEof, 'options.zeroIsEof');
  if (options.stopFd !== undefined && !(options.stopFd instanceof StopFd)) {
    throw new NetshardError('ERR_INVALID_ARG_TYPE', `options.stopFd must be a StopFd (StopFd.create()), received ${describeValue(options.stopFd)}`);
  }
  if (options.counters !== undefined && !(options.counters instanceof DispatcherCounters)) {
    throw new NetshardError('ERR_INVALID_ARG_TYPE', `options.counters must be a DispatcherCounters, received ${describeValue(options.counters)}`);
  }
  return {
    fd: options.fd,
    bytes,
    frameSize,
    frameCount,
    rxOffset,
    batchSize,
    vnetHeader,
    stopFd: options.stopFd,
    zeroIsEof: options.zeroIsEof,
    counters: options.counters,
  };
}

/** Size of the virtio-net header some fds put before each packet (§2.8). */
export const VIRTIO_NET_HDR_SIZE = 10;

/** What `prepareFd` learned about an fd. */
export interface FdInfo {
  /** fstat says S_IFSOCK. */
  isSocket: boolean;
  /** SO_TYPE for a socket (SOCK_DGRAM, SOCK_SEQPACKET, SOCK_RAW, …), 0 otherwise. */
  socketType: number;
  /** A 0-byte read ends the fd: true unless a datagram or raw socket. */
  zeroIsEof: boolean;
}

/**
 * Sets `fd` non-blocking and returns what kind of fd it is (gVisor's endpoint setup, §2.1). Control path.
 * Throws the errno name (EBADF, …) when the fd is not usable.
 */
export function prepareFd(fd: number): FdInfo {
  const r = setNonBlocking(fd);
  if (r < 0) throw errnoError('fcntl', r, `(fd ${fd}, O_NONBLOCK)`);
  const type = fileType(fd);
  if (type < 0) throw errnoError('fstat', type, `(fd ${fd})`);
  const isSocket = type === S_IFSOCK;
  let socketType = 0;
  if (isSocket) {
    socketType = getsockoptInt(fd, SOL_SOCKET, SO_TYPE);
    if (socketType < 0) throw errnoError('getsockopt', socketType, `(fd ${fd}, SO_TYPE)`);
  }
  return { isSocket, socketType, zeroIsEof: !(socketType === SOCK_DGRAM || socketType === SOCK_RAW) };
}

/**
 * What the fd dispatchers share: the fd, counters, eventfd, frame geometry, and `wait`/`stop`/`close`.
 * Subclasses implement `receive`. Thread: the owner (see `Dispatcher`).
 */
export abstract class FdDispatcherBase implements Dispatcher {
  readonly fd: number;
  abstract readonly mode: DispatchMode;
  readonly counters: DispatcherCounters;
  readonly stopFd: StopFd;
  readonly rxOffset: number;
  readonly capacity: number;
  /** Most packets per `receive`. */
  readonly batchSize: number;
  /** Whether a 0-byte read ends the fd. */
  readonly zeroIsEof: boolean;
  protected readonly counterValues: Float64Array;
  protected readonly bytes: Uint8Array;
  protected readonly frameSize: number;
  protected readonly frameCount: number;
  /** Number address of `bytes[0]` (setup-time BigInt, turned into a Number once). */
  protected readonly baseAddress: number;
  protected readonly vnetHeader: boolean;
  protected readonly pollEvents: number;
  private readonly ownsStopFd: boolean;
  private closed = false;

  protected constructor(o: CheckedDispatcherOptions, info: FdInfo, baseAddress: number, pollEvents: number) {
    this.fd = o.fd;
    this.counters = o.counters ?? new DispatcherCounters();
    this.counterValues = this.counters.values;
    this.ownsStopFd = o.stopFd === undefined;
    this.stopFd = o.stopFd ?? StopFd.create();
    this.rxOffset = o.rxOffset;
    this.capacity = o.frameSize - o.rxOffset;
    this.batchSize = o.batchSize;
    this.zeroIsEof = o.zeroIsEof ?? info.zeroIsEof;
    this.bytes = o.bytes;
    this.frameSize = o.frameSize;
    this.frameCount = o.frameCount;
    this.baseAddress = baseAddress;
    this.vnetHeader = o.vnetHeader;
    this.pollEvents = pollEvents;
  }

  abstract receive(frames: Int32Array, lengths: Int32Array, max: number, checksums?: Uint8Array): number;

  /** Returns how many packets one `receive` may deliver: `max`, capped by the batch size and the arrays. */
  protected batchLimit(frames: Int32Array, lengths: Int32Array, max: number, checksums: Uint8Array | undefined): number {
    let n = max < this.batchSize ? max : this.batchSize;
    if (n > frames.length) n = frames.length;
    if (n > lengths.length) n = lengths.length;
    if (checksums !== undefined && n > checksums.length) n = checksums.length;
    return n;
  }

  /** Counts one receive that delivered `packets` packets of `bytes` bytes and dropped `dropped` (nothing when both are 0). */
  protected countBatch(packets: number, bytes: number, dropped: number): void {
    if (packets + dropped === 0) return;
    const v = this.counterValues;
    v[DispatcherCounter.rxBatches]!++;
    v[DispatcherCounter.rxPackets]! += packets;
    v[DispatcherCounter.rxBytes]! += bytes;
  }

  wait(timeoutMs: number): number {
    const v = this.counterValues;
    v[DispatcherCounter.waits]!++;
    const r = this.stopFd.wait(this.fd, timeoutMs, this.pollEvents);
    if (r === WaitResult.Stopped || r === WaitResult.Woken) v[DispatcherCounter.wakeups]!++;
    return r;
  }

  stop(): void {
    const r = this.stopFd.stop();
    if (r < 0) throw errnoError('write', r, '(stop eventfd)');
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsStopFd) this.stopFd.close();
  }
}
