/**
 * The fd-based link endpoint: gVisor's `fdbased.endpoint` (REFERENCE-gvisor.md §2.1–§2.7) over our
 * dispatchers and write path. It holds the fds (never owns them), one dispatcher per attached fd, the
 * link properties (MTU, link address, header length, GSO and checksum capabilities), strips the Ethernet
 * header on receive (an offset, no copy) and adds it on write.
 *
 * Virtio-net headers are a property of each fd, learned from the fd at construction (`vnetHeaders`): a
 * TUN/TAP queue made with IFF_VNET_HDR or an AF_PACKET socket with PACKET_VNET_HDR puts a 10-byte header
 * before every packet it reads and reads one before every packet written to it. The endpoint has that fd's
 * dispatcher read the header into scratch and drop it, and its writer put the batch's header (all zeros
 * unless set: GSO none) before each packet. Hardware GSO needs one on every fd.
 *
 * Receive is step-wise so a worker can run to completion: `receive(i, …)` then its own work then
 * `wait(i, …)`; when either sees the fd's end (stop, EOF, an error, the peer gone) the fd is ended and the
 * `closed` callback runs, exactly once per fd. `runDispatchLoop` (`loop.ts`) is the whole loop.
 *
 * Thread: an Endpoint object belongs to one thread. Several threads may each create one over the same
 * fds (fds are process-wide): each attaches and reads only its own fd index, and each writes with its
 * own tables. `stopHandle(i)` lets another thread stop fd i's loop.
 */
import { NetshardError } from '../errors.ts';
import { formatLinkAddress } from '../tcpip/index.ts';
import { validateInteger, validateObject } from '../validate.ts';
import {
  DispatcherCounters,
  RECEIVE_EOF,
  RECEIVE_STOPPED,
  prepareFd,
  type Dispatcher,
  type DispatchMode,
  type FrameArea,
} from './dispatcher.ts';
import { createReadvDispatcher } from './dispatch-readv.ts';
import { createRecvmmsgDispatcher } from './dispatch-recvmmsg.ts';
import { MmapDispatcher, createMmapDispatcher } from './dispatch-mmap.ts';
import {
  toLinkAddress,
  validateEndpointOptions,
  type ClosedCallback,
  type EndpointOptions,
  type GsoKind,
} from './options.ts';
import { StopFd, WaitResult, type StopHandle } from './stop-fd.ts';
import { ECONNRESET, EINVAL, errnoError } from './syscalls.ts';
import { fdVnetHeader, type FdVnetHeader } from './vnet-header.ts';
import { ETHERNET_HEADER_SIZE, PacketWriter, SEND_BATCH_SIZE, TxBatch } from './write.ts';

/** Indices into `Endpoint.linkCounters`, per fd (`fdIndex * LINK_COUNTER_COUNT + counter`). */
export const LinkCounter = {
  /** Frames shorter than an Ethernet header: dropped. */
  rxShort: 0,
  /** Unicast frames for another link address (with an Ethernet header and an address set): dropped. */
  rxOtherHost: 1,
} as const;
export type LinkCounter = (typeof LinkCounter)[keyof typeof LinkCounter];
/** Link counters per fd. */
export const LINK_COUNTER_COUNT = 2;

/** Options of `Endpoint.attach`. */
export interface AttachOptions {
  /** Where in each frame a received frame starts (headroom kept before it). Default 0. */
  rxOffset?: number;
  /** Sleep on this eventfd too (shared with a tx ring's doorbell); default: the dispatcher's own. */
  stopFd?: StopFd;
  /** Counters to write (e.g. in a SharedArrayBuffer the coordinator reads); default: new ones. */
  counters?: DispatcherCounters;
  /** PACKET_MMAP ring slot size (mode 'mmap' only; see dispatch-mmap.ts). */
  ringFrameSize?: number;
  /** PACKET_MMAP ring slots (mode 'mmap' only). */
  ringFrames?: number;
}
const ATTACH_KEYS = ['rxOffset', 'stopFd', 'counters', 'ringFrameSize', 'ringFrames'] as const;

const NO_DISPATCHER = null;

/** A link endpoint over fds. Create with `createEndpoint`. */
export class Endpoint {
  /** The fds, in order: packets with hash h go out on `fds[h % fds.length]`. */
  readonly fds: readonly number[];
  /** Whether each fd is a socket (fstat S_IFSOCK); non-sockets read with readv and write with writev. */
  readonly isSocket: readonly boolean[];
  /** Receive mode per fd: the option's for sockets, 'readv' for the rest. */
  readonly dispatchModes: readonly DispatchMode[];
  /**
   * 'hardware' when asked for (every fd carries a virtio-net header, or the constructor threw); 'software'
   * when asked for and at least one fd is a socket (gVisor); else 'none'.
   */
  readonly gsoKind: GsoKind;
  /** Largest GSO packet; 0 when `gsoKind` is 'none'. */
  readonly gsoMaxSize: number;
  /**
   * Per fd: whether its packets carry a 10-byte virtio-net header in front, read and dropped on receive,
   * added on write (see `fdVnetHeader`).
   */
  readonly vnetHeaders: readonly boolean[];
  /**
   * Capabilities as gVisor's endpoint reports them (`Capabilities()`), for a stack built on the endpoint
   * directly. netshard's own stack does not read them: it takes each packet's checksum state from the
   * dispatcher (PACKET_AUXDATA / tp_status) and computes every checksum it sends.
   */
  readonly txChecksumOffload: boolean;
  readonly rxChecksumOffload: boolean;
  /** Whether frames carry an Ethernet header. */
  readonly ethernetHeader: boolean;
  /** Link drops per fd, indexed by `fdIndex * LINK_COUNTER_COUNT + LinkCounter.x` (SharedArrayBuffer). */
  readonly linkCounters: Float64Array;
  /** The write path; its `counters` are the tx counters. */
  readonly writer: PacketWriter;

  private mtuValue: number;
  /** The link address, updated in place (TxBatches read it per packet). */
  private readonly linkBytes = new Uint8Array(6);
  private hasLinkAddress = false;
  private readonly closedCallback: ClosedCallback | undefined;
  private readonly batchSize: number | undefined;
  private readonly dispatchers: (Dispatcher | null)[];
  private readonly areas: (FrameArea | null)[];
  private readonly rxOffsets: Int32Array;
  private readonly endCodes: Int32Array; // 0 while running, RECEIVE_STOPPED / RECEIVE_EOF / -errno once ended
  private closed = false;

  constructor(options: EndpointOptions) {
    const o = validateEndpointOptions(options);
    this.fds = o.fds;
    this.isSocket = o.fds.map((fd) => prepareFd(fd).isSocket);
    this.dispatchModes = this.isSocket.map((socket) => (socket ? o.dispatchMode : 'readv'));
    const kinds = o.fds.map((fd, i) => fdVnetHeader(fd, i, this.isSocket[i] as boolean, o.gsoKind === 'hardware', o.ethernetHeader));
    this.vnetHeaders = kinds.map((k) => k.vnetHeader);
    if (o.gsoKind === 'hardware') {
      // Super-packets go out on fds[hash % n]: any fd, so every one needs the header that describes them.
      const i = kinds.findIndex((k) => !k.vnetHeader);
      if (i >= 0) {
        throw new NetshardError('ERR_INVALID_ARG_VALUE', `options.gsoKind 'hardware' needs a virtio-net header on every fd; options.fds[${i}] (fd ${o.fds[i]}, ${(kinds[i] as FdVnetHeader).what}) has none: ${(kinds[i] as FdVnetHeader).fix}`);
      }
    }
    this.gsoKind = o.gsoKind === 'software' && !this.isSocket.includes(true) ? 'none' : o.gsoKind;
    this.gsoMaxSize = this.gsoKind === 'none' ? 0 : o.gsoMaxSize;
    this.txChecksumOffload = o.txChecksumOffload;
    this.rxChecksumOffload = o.rxChecksumOffload;
    this.ethernetHeader = o.ethernetHeader;
    this.mtuValue = o.mtu;
    this.setLinkAddressBytes(o.linkAddress);
    this.closedCallback = o.closed;
    this.batchSize = o.batchSize;
    this.dispatchers = o.fds.map(() => NO_DISPATCHER);
    this.areas = o.fds.map(() => null);
    this.rxOffsets = new Int32Array(o.fds.length);
    this.endCodes = new Int32Array(o.fds.length);
    this.linkCounters = new Float64Array(new SharedArrayBuffer(o.fds.length * LINK_COUNTER_COUNT * 8));
    this.writer = new PacketWriter({ fds: o.fds, isSocket: this.isSocket, ethernetHeader: o.ethernetHeader, vnetHeader: this.vnetHeaders });
  }

  /** Whether any fd carries a virtio-net header (`vnetHeaders` says which). */
  get vnetHeader(): boolean {
    return this.vnetHeaders.includes(true);
  }

  // ------------------------------------------------------------------------------------------------------
  // Link properties (gVisor: MTU, SetMTU, MaxHeaderLength, LinkAddress, SetLinkAddress)

  /** Largest packet in bytes, link header excluded. */
  get mtu(): number { return this.mtuValue; }
  /** Sets the MTU (68..65535). Thread: the owner. Throws ERR_OUT_OF_RANGE. */
  setMtu(mtu: number): void {
    validateInteger(mtu, 'mtu', 68, 65535);
    this.mtuValue = mtu;
  }
  /** Bytes of link header: 14 with an Ethernet header, else 0. */
  get maxHeaderLength(): number { return this.ethernetHeader ? ETHERNET_HEADER_SIZE : 0; }
  /** The link address as "aa:bb:cc:dd:ee:ff", or '' when none. */
  get linkAddress(): string { return this.hasLinkAddress ? formatLinkAddress(this.linkBytes) : ''; }
  /** Sets the link address ("aa:bb:…", 6 bytes, or '' for none). Thread: the owner. Throws ERR_INVALID_ARG_*. */
  setLinkAddress(address: string | Uint8Array): void {
    this.setLinkAddressBytes(toLinkAddress(address, 'address'));
  }
  private setLinkAddressBytes(bytes: Uint8Array): void {
    this.hasLinkAddress = bytes.length === 6;
    if (this.hasLinkAddress) this.linkBytes.set(bytes);
    else this.linkBytes.fill(0);
  }

  // ------------------------------------------------------------------------------------------------------
  // Receive

  /**
   * Builds fd `fdIndex`'s dispatcher over `frames` (a FramePool's `bytes`/`frameSize`), gVisor's per-fd
   * part of `Attach`. Thread: the one that will run this fd's loop. Throws on a second attach, bad options,
   * or an fd the mode cannot read (the errno name).
   */
  attach(fdIndex: number, frames: FrameArea, attachOptions: AttachOptions = {}): Dispatcher {
    this.checkIndex(fdIndex);
    const options = attachOptions; // keeps its type: validateObject narrows its argument to a Record
    validateObject(attachOptions, 'options', ATTACH_KEYS);
    if (this.closed) throw new NetshardError('ERR_NETSHARD_CLOSED', 'the endpoint is closed');
    if (this.dispatchers[fdIndex] !== NO_DISPATCHER) {
      throw new NetshardError('ERR_NETSHARD_ATTACHED', `fd index ${fdIndex} already has a dispatcher`);
    }
    const fd = this.fds[fdIndex] as number;
    const common = {
      fd,
      frames,
      vnetHeader: this.vnetHeaders[fdIndex] as boolean,
      ...(options.rxOffset !== undefined ? { rxOffset: options.rxOffset } : {}),
      ...(this.batchSize !== undefined ? { batchSize: this.batchSize } : {}),
      ...(options.stopFd !== undefined ? { stopFd: options.stopFd } : {}),
      ...(options.counters !== undefined ? { counters: options.counters } : {}),
    };
    const mode = this.dispatchModes[fdIndex] as DispatchMode;
    if (mode !== 'mmap' && (options.ringFrameSize !== undefined || options.ringFrames !== undefined)) {
      throw new NetshardError('ERR_INVALID_ARG_VALUE', `options.ringFrameSize and options.ringFrames apply to dispatch mode 'mmap', not '${mode}'`);
    }
    const d =
      mode === 'recvmmsg' ? createRecvmmsgDispatcher(common)
      : mode === 'mmap' ? createMmapDispatcher({
          ...common,
          ...(options.ringFrameSize !== undefined ? { ringFrameSize: options.ringFrameSize } : {}),
          ...(options.ringFrames !== undefined ? { ringFrames: options.ringFrames } : {}),
        })
      : createReadvDispatcher(common);
    this.dispatchers[fdIndex] = d;
    this.areas[fdIndex] = { bytes: frames.bytes, frameSize: frames.frameSize };
    this.rxOffsets[fdIndex] = d.rxOffset;
    this.endCodes[fdIndex] = 0;
    return d;
  }

  /** Returns fd `fdIndex`'s dispatcher, or null before `attach`. */
  dispatcher(fdIndex: number): Dispatcher | null {
    return this.dispatchers[fdIndex] ?? null;
  }

  /** Where a received packet's network header starts in its frame: rxOffset plus the link header. */
  networkOffset(fdIndex: number): number {
    return (this.rxOffsets[fdIndex] as number) + this.maxHeaderLength;
  }

  /**
   * Receives up to `max` packets of fd `fdIndex` into the caller's frames (see `Dispatcher.receive`):
   * returns n with frames[0..n) holding packets whose network header starts at `networkOffset(fdIndex)`
   * and whose network lengths are lengths[0..n) (the Ethernet header, if any, stays readable in front of
   * it: stripped by offset, not copied). With an Ethernet header, frames shorter than one and (when the
   * endpoint has a link address) unicast frames for another address are dropped and counted (gVisor's
   * readv mode ends its loop on those; we do not). Returns 0 when nothing was delivered (call `wait`), or
   * a negative code once the fd ended (RECEIVE_STOPPED, RECEIVE_EOF, -errno): the `closed` callback has
   * then run. With `checksums`, `checksums[0..n)` get each packet's `RxChecksum` (kept in step with the
   * frames the Ethernet checks drop). Thread: the attaching one. No allocation, no throw.
   */
  receive(fdIndex: number, frames: Int32Array, lengths: Int32Array, max: number, checksums?: Uint8Array): number {
    const ended = this.endCodes[fdIndex];
    if (ended !== 0) return ended === undefined ? -EINVAL : ended;
    const d = this.dispatchers[fdIndex];
    if (d === undefined || d === null) return -EINVAL;
    if (d.stopFd.stopped) {
      this.end(fdIndex, RECEIVE_STOPPED);
      return RECEIVE_STOPPED;
    }
    const n = d.receive(frames, lengths, max, checksums);
    if (n < 0) {
      this.end(fdIndex, n);
      return n;
    }
    if (!this.ethernetHeader || n === 0) return n;
    return this.stripEthernet(fdIndex, frames, lengths, n, checksums);
  }

  /**
   * Receives fd `fdIndex`'s ready frames in place, in its PACKET_MMAP ring (`MmapDispatcher.peekInPlace`):
   * `offsets[0..n)` are where each frame's Ethernet header starts in `dispatcher.ringMemory`, lengths and
   * checksum states as `receive` gives them, after the same Ethernet checks. The slots stay the caller's
   * until `releaseInPlace(fdIndex)`. Returns n, 0, or the fd's end code, as `receive`. Precondition: the
   * fd's dispatcher is an `MmapDispatcher` and the endpoint carries Ethernet headers. Thread: the attaching
   * one. No allocation, no throw.
   */
  receiveInPlace(fdIndex: number, offsets: Int32Array, lengths: Int32Array, max: number, checksums?: Uint8Array): number {
    const ended = this.endCodes[fdIndex];
    if (ended !== 0) return ended === undefined ? -EINVAL : ended;
    const d = this.dispatchers[fdIndex];
    if (!(d instanceof MmapDispatcher)) return -EINVAL;
    if (d.stopFd.stopped) {
      this.end(fdIndex, RECEIVE_STOPPED);
      return RECEIVE_STOPPED;
    }
    const got = d.peekInPlace(offsets, lengths, max, checksums);
    if (got < 0) {
      this.end(fdIndex, got);
      return got;
    }
    const memory = d.ringMemory;
    let k = 0;
    for (let i = 0; i < got; i++) {
      const at = offsets[i] as number, length = lengths[i] as number;
      if (!this.acceptEthernet(fdIndex, memory, at, length)) continue;
      if (k !== i) {
        offsets[k] = at;
        if (checksums !== undefined) checksums[k] = checksums[i] as number;
      }
      lengths[k++] = length - ETHERNET_HEADER_SIZE;
    }
    return k;
  }

  /** Hands back the ring slots of the last `receiveInPlace` on fd `fdIndex` (after their frames were sent or copied). */
  releaseInPlace(fdIndex: number): void {
    const d = this.dispatchers[fdIndex];
    if (d instanceof MmapDispatcher) d.releaseInPlace();
  }

  /** Drops short frames and frames for other hosts, compacts the rest (and their checksum states), subtracts the header from lengths. */
  private stripEthernet(fdIndex: number, frames: Int32Array, lengths: Int32Array, n: number, checksums: Uint8Array | undefined): number {
    const area = this.areas[fdIndex] as FrameArea;
    const memory = area.bytes;
    const frameSize = area.frameSize;
    const rxOffset = this.rxOffsets[fdIndex] as number;
    let k = 0;
    for (let i = 0; i < n; i++) {
      const length = lengths[i] as number;
      if (!this.acceptEthernet(fdIndex, memory, (frames[i] as number) * frameSize + rxOffset, length)) continue;
      if (k !== i) {
        const t = frames[k] as number;
        frames[k] = frames[i] as number;
        frames[i] = t;
        if (checksums !== undefined) checksums[k] = checksums[i] as number;
      }
      lengths[k] = length - ETHERNET_HEADER_SIZE;
      k++;
    }
    return k;
  }

  /**
   * Whether the Ethernet frame of `length` bytes at `memory[at]` is for this endpoint: long enough for its
   * header, and (with a link address) sent to it or to a group address (the I/G bit of the first byte:
   * broadcast, multicast). Counts a refused one in fd `fdIndex`'s link counters.
   */
  private acceptEthernet(fdIndex: number, memory: Uint8Array, at: number, length: number): boolean {
    const counters = this.linkCounters;
    const base = fdIndex * LINK_COUNTER_COUNT;
    if (length < ETHERNET_HEADER_SIZE) {
      counters[base + LinkCounter.rxShort]!++;
      return false;
    }
    if (!this.hasLinkAddress || ((memory[at] as number) & 1) !== 0) return true;
    const mac = this.linkBytes;
    if (memory[at] === mac[0] && memory[at + 1] === mac[1] && memory[at + 2] === mac[2] &&
        memory[at + 3] === mac[3] && memory[at + 4] === mac[4] && memory[at + 5] === mac[5]) return true;
    counters[base + LinkCounter.rxOtherHost]!++;
    return false;
  }

  /**
   * Sleeps until fd `fdIndex` is readable, woken, stopped, hung up, or `timeoutMs` passed; returns the
   * `WaitResult` or -errno. Stopped, a hang-up (ECONNRESET, as gVisor) or a poll error end the fd and run
   * `closed`. Once the fd has ended it returns `Stopped` at once. Thread: the attaching one.
   */
  wait(fdIndex: number, timeoutMs: number): number {
    const ended = this.endCodes[fdIndex];
    if (ended !== 0) return ended === undefined ? -EINVAL : WaitResult.Stopped;
    const d = this.dispatchers[fdIndex];
    if (d === undefined || d === null) return -EINVAL;
    const r = d.wait(timeoutMs);
    if (r === WaitResult.Stopped) this.end(fdIndex, RECEIVE_STOPPED);
    else if (r === WaitResult.Hangup) this.end(fdIndex, -ECONNRESET);
    else if (r < 0) this.end(fdIndex, r);
    return r;
  }

  /** Returns true once fd `fdIndex`'s loop has ended (its `closed` callback has run). */
  ended(fdIndex: number): boolean {
    return this.endCodes[fdIndex] !== 0;
  }

  /** Returns why fd `fdIndex` ended: 0 while running, RECEIVE_STOPPED, RECEIVE_EOF or -errno. */
  endCode(fdIndex: number): number {
    return this.endCodes[fdIndex] ?? -EINVAL;
  }

  private end(fdIndex: number, code: number): void {
    if (this.endCodes[fdIndex] !== 0) return;
    this.endCodes[fdIndex] = code;
    const callback = this.closedCallback;
    if (callback === undefined) return;
    const fd = this.fds[fdIndex];
    const err =
      code === RECEIVE_STOPPED ? null
      : code === RECEIVE_EOF ? new NetshardError('ERR_NETSHARD_EOF', `fd ${fd} reached its end (0-byte read)`)
      : errnoError(code === -ECONNRESET ? 'poll' : (this.dispatchModes[fdIndex] as string), code, `(fd ${fd})`);
    callback(fdIndex, err);
  }

  /**
   * Stops fd `fdIndex`'s loop, or every attached fd's when omitted: the loop's next receive or wait ends
   * it (gVisor's `Stop`). Thread: any holding this object; other threads use `stopHandle`.
   */
  stop(fdIndex?: number): void {
    for (let i = 0; i < this.dispatchers.length; i++) {
      if (fdIndex !== undefined && i !== fdIndex) continue;
      this.dispatchers[i]?.stop();
    }
  }

  /** Returns what another thread needs to stop or wake fd `fdIndex`'s loop (`stopHandle`/`wakeHandle`). */
  stopHandle(fdIndex: number): StopHandle {
    const d = this.dispatchers[fdIndex];
    if (d === undefined || d === null) throw new NetshardError('ERR_NETSHARD_NOT_ATTACHED', `fd index ${fdIndex} has no dispatcher`);
    return d.stopFd.handle;
  }

  /**
   * Releases the dispatchers (their eventfds, rings, tables); the fds stay open (the caller owns them,
   * gVisor's `Close` is a no-op too). Call after the loops ended. Idempotent. Thread: the owner.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const d of this.dispatchers) d?.close();
  }

  // ------------------------------------------------------------------------------------------------------
  // Write

  /** Registers memory that outbound views point into; returns its id for `TxBatch.add`. Control path. */
  registerMemory(bytes: Uint8Array): number {
    return this.writer.registerMemory(bytes);
  }

  /** Makes a TxBatch whose packets get this endpoint's link address as Ethernet source. Control path. */
  createTxBatch(capacity: number = SEND_BATCH_SIZE): TxBatch {
    return new TxBatch(capacity, this.linkBytes);
  }

  /** Sends packet `i` of `batch` alone (writev); returns bytes written or -errno. See `PacketWriter`. */
  writePacket(batch: TxBatch, i: number): number {
    return this.writer.writePacket(batch, i);
  }

  /** Sends every packet of `batch`, runs per fd in one sendmmsg; returns packets sent. See `PacketWriter`. */
  writePackets(batch: TxBatch): number {
    return this.writer.writePackets(batch);
  }

  private checkIndex(fdIndex: number): void {
    validateInteger(fdIndex, 'fdIndex', 0, this.fds.length - 1);
  }
}

/**
 * Creates an endpoint over `options.fds`: checks the options (unknown keys are errors), makes each fd
 * non-blocking, learns whether it is a socket (fstat) and whether it carries a virtio-net header (see
 * `Endpoint.vnetHeaders`). Does not take ownership of the fds.
 * Thread: any (the endpoint then belongs to it). Throws ERR_INVALID_ARG_* / ERR_OUT_OF_RANGE (e.g. no
 * fds; hardware GSO on an fd without a virtio-net header; a TUN/TAP queue whose framing does not match
 * `ethernetHeader`), or the errno name of an fd that cannot be used (EBADF).
 */
export function createEndpoint(options: EndpointOptions): Endpoint {
  return new Endpoint(options);
}
