/**
 * The write path: gVisor's `writePacket` / `WritePackets` / `sendBatch` (REFERENCE-gvisor.md §2.7, §2.8).
 *
 * A `TxBatch` lists outbound packets without allocating: per packet a flow hash, one or two views
 * (headers, payload) into registered memory, and, when the endpoint adds them, its Ethernet header and
 * virtio-net header in columns of the batch itself. `PacketWriter.writePackets(batch)` sends each packet
 * on `fds[hash % fds.length]`; consecutive packets for the same fd form a run sent with ONE sendmmsg
 * (sockets) or a writev per packet (other fds). Every iovec points at the bytes where they are: the
 * kernel gathers them, nothing is copied in user space.
 * ```
 *  per message (slot s of 47):  mmsghdr[s].msg_iov ──► [ virtio-net 10 B ]  batch.vnet[i]   (fds with a vnet header)
 *                                                      [ Ethernet 14 B   ]  batch.link[i]   (ethernetHeader)
 *                                                      [ view 0          ]  memory[mem0] + offset0
 *                                                      [ view 1          ]  memory[mem1] + offset1 (if any)
 *  (47 slots by default; `sendBatchSize` sets another count)
 * ```
 * The virtio-net header goes before every packet written to an fd that carries one (a TUN/TAP queue with
 * IFF_VNET_HDR, an AF_PACKET socket with PACKET_VNET_HDR): such an fd reads the first 10 bytes of every
 * write as that header, whatever the GSO mode. All zeros (GSO none, checksum complete) unless
 * `setVirtioNet` set it (hardware GSO).
 * Thread: a `PacketWriter` and its batches belong to one thread (tables are per writer). The kernel
 * serialises concurrent sends on one socket, so several threads may each hold a writer on the same fds.
 * Hot path: no allocation, no throw, no BigInt per packet; failures are counted.
 */
import { NetshardError } from '../errors.ts';
import { describeValue, validateArray, validateBoolean, validateInteger, validateObject } from '../validate.ts';
import {
  EAGAIN,
  EINTR,
  EINVAL,
  MMSGHDR_IOV,
  MMSGHDR_IOVLEN,
  MSG_DONTWAIT,
  MSG_NOSIGNAL,
  SIZEOF_IOVEC,
  SIZEOF_MMSGHDR,
  addressOf,
  pointerOf,
  sendmmsg,
  writeAddress,
  writev,
} from './syscalls.ts';
import { VIRTIO_NET_HDR_SIZE } from './dispatcher.ts';

/**
 * Most packets per sendmmsg. gVisor's reason: with its software GSO one 64 KiB TCP segment is split into
 * 46 packets of 1420 B plus one of 216 B, so 47 sends a whole segment in one call (fifo qdisc's cap too).
 */
export const SEND_BATCH_SIZE = 47;
/** Bytes of an Ethernet header the writer adds. */
export const ETHERNET_HEADER_SIZE = 14;
/** Virtio-net header flag: the checksum at csumStart + csumOffset is to be computed (VIRTIO_NET_HDR_F_NEEDS_CSUM). */
export const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
/** Virtio-net GSO types (§2.8). */
export const VIRTIO_NET_HDR_GSO_NONE = 0, VIRTIO_NET_HDR_GSO_TCPV4 = 1, VIRTIO_NET_HDR_GSO_TCPV6 = 4;

const STRIDE = 16; // bytes per packet in the link and vnet columns
const SEG_WORDS = 6; // mem0, offset0, length0, mem1, offset1, length1
const MAX_IOVS = 4; // vnet, Ethernet, view 0, view 1

/**
 * Outbound packets, as columns in one SharedArrayBuffer. Fill with `add()` (and `setPayload`, `setLink`,
 * `setVirtioNet`), hand to `writePackets`, then `clear()`. The batch does not own the memory its views
 * point into: the caller keeps those frames until the call returns (the kernel has copied them then).
 * Thread: one at a time (the writer's). No method allocates.
 */
export class TxBatch {
  /** Most packets the batch holds. */
  readonly capacity: number;
  /** Packets in the batch. */
  count = 0;
  /** Flow hash per packet: the packet goes out on `fds[hash % fds.length]` (gVisor's `pkt.Hash`). */
  readonly hashes: Uint32Array;
  /** Per packet: memory id, offset, length of view 0, then of view 1 (length 0: none). */
  readonly segments: Int32Array;
  /** Per packet at `i * 16`: the 14-byte Ethernet header (destination, source, type) the writer adds. */
  readonly link: Uint8Array;
  /** Per packet at `i * 16`: the 10-byte little-endian virtio-net header (sent to fds that carry one). */
  readonly vnet: Uint8Array;
  /** Numbers: addresses of `link` and `vnet` (cached at construction). */
  readonly linkAddress: number;
  readonly vnetAddress: number;
  private readonly vnetView: DataView;
  /** The vnet column as u32 words (4 per packet): 3 stores clear a header. */
  private readonly vnetWords: Uint32Array;
  private readonly source: Uint8Array;

  /**
   * Makes an empty batch of `capacity` packets. `sourceLinkAddress` (6 bytes, kept by reference and read
   * by each `add()`, so an endpoint's later `setLinkAddress` applies) is the Ethernet source every packet
   * gets unless `setLinkSource` says otherwise. Control path.
   */
  constructor(capacity: number, sourceLinkAddress: Uint8Array = new Uint8Array(6)) {
    validateInteger(capacity, 'capacity', 1, 1 << 16);
    if (!(sourceLinkAddress instanceof Uint8Array) || sourceLinkAddress.length !== 6) {
      throw new NetshardError('ERR_INVALID_ARG_VALUE', `sourceLinkAddress must be a Uint8Array of 6 bytes, received ${sourceLinkAddress instanceof Uint8Array ? `${sourceLinkAddress.length} bytes` : describeValue(sourceLinkAddress)}`);
    }
    this.capacity = capacity;
    const hashBytes = capacity * 4, segBytes = capacity * SEG_WORDS * 4, colBytes = capacity * STRIDE;
    const buffer = new SharedArrayBuffer(hashBytes + segBytes + 2 * colBytes);
    this.hashes = new Uint32Array(buffer, 0, capacity);
    this.segments = new Int32Array(buffer, hashBytes, capacity * SEG_WORDS);
    this.link = new Uint8Array(buffer, hashBytes + segBytes, colBytes);
    this.vnet = new Uint8Array(buffer, hashBytes + segBytes + colBytes, colBytes);
    this.vnetView = new DataView(buffer, hashBytes + segBytes + colBytes, colBytes);
    this.vnetWords = new Uint32Array(buffer, hashBytes + segBytes + colBytes, colBytes / 4);
    this.linkAddress = addressOf(this.link);
    this.vnetAddress = addressOf(this.vnet);
    this.source = sourceLinkAddress;
  }

  /**
   * Appends a packet whose first (or only) view is `length` bytes at `offset` of registered memory
   * `memory`, sent on `fds[hash % n]`. Returns its index, or -1 when the batch is full. Clears its link and
   * virtio-net headers (source = the batch's default). No allocation.
   */
  add(hash: number, memory: number, offset: number, length: number): number {
    const i = this.count;
    if (i >= this.capacity) return -1;
    this.count = i + 1;
    this.hashes[i] = hash;
    const s = i * SEG_WORDS;
    const seg = this.segments;
    seg[s] = memory;
    seg[s + 1] = offset;
    seg[s + 2] = length;
    seg[s + 3] = 0;
    seg[s + 4] = 0;
    seg[s + 5] = 0;
    const l = i * STRIDE;
    const link = this.link;
    for (let b = 0; b < 6; b++) link[l + b] = 0;
    for (let b = 0; b < 6; b++) link[l + 6 + b] = this.source[b] as number;
    link[l + 12] = 0;
    link[l + 13] = 0;
    const w = i * (STRIDE / 4);
    const vnet = this.vnetWords;
    vnet[w] = 0; // the 10-byte virtio-net header (and 2 padding bytes): GSO none
    vnet[w + 1] = 0;
    vnet[w + 2] = 0;
    return i;
  }

  /**
   * Appends a whole frame (one view, no Ethernet header added before it) as `add` does, without clearing its
   * link column: for writers made with `ethernetHeader: false`, which never read it (a forwarded frame
   * already carries its Ethernet header). Its virtio-net header is cleared (GSO none): a writer puts one
   * before the frame on fds that carry one, and a stale one would make the kernel misread the frame.
   * Returns its index, or -1 when the batch is full. No allocation; 9 stores instead of `add`'s ~30.
   */
  addFrame(hash: number, memory: number, offset: number, length: number): number {
    const i = this.count;
    if (i >= this.capacity) return -1;
    this.count = i + 1;
    this.hashes[i] = hash;
    const s = i * SEG_WORDS;
    const seg = this.segments;
    seg[s] = memory;
    seg[s + 1] = offset;
    seg[s + 2] = length;
    seg[s + 5] = 0; // no view 1 (the writer stops at a zero length; its memory and offset are not read)
    const w = i * (STRIDE / 4);
    const vnet = this.vnetWords;
    vnet[w] = 0;
    vnet[w + 1] = 0;
    vnet[w + 2] = 0;
    return i;
  }

  /** Sets packet `i`'s second view (its payload after the headers of view 0). No allocation. */
  setPayload(i: number, memory: number, offset: number, length: number): void {
    const s = i * SEG_WORDS;
    this.segments[s + 3] = memory;
    this.segments[s + 4] = offset;
    this.segments[s + 5] = length;
  }

  /**
   * Sets packet `i`'s Ethernet destination (6 bytes at `remote[remoteOffset]`) and type (the network
   * protocol, e.g. 0x0800), as gVisor's `AddHeader`. Used only when the endpoint adds Ethernet headers.
   */
  setLink(i: number, remote: Uint8Array, remoteOffset: number, networkProtocol: number): void {
    const l = i * STRIDE;
    const link = this.link;
    for (let b = 0; b < 6; b++) link[l + b] = remote[remoteOffset + b] as number;
    link[l + 12] = (networkProtocol >>> 8) & 0xff;
    link[l + 13] = networkProtocol & 0xff;
  }

  /** Overrides packet `i`'s Ethernet source (the route's local link address; gVisor's TestPreserveSrcAddress). */
  setLinkSource(i: number, source: Uint8Array, sourceOffset: number): void {
    const l = i * STRIDE + 6;
    for (let b = 0; b < 6; b++) this.link[l + b] = source[sourceOffset + b] as number;
  }

  /**
   * Sets packet `i`'s virtio-net header (§2.8, little-endian): `flags` (VIRTIO_NET_HDR_F_NEEDS_CSUM),
   * `gsoType` (VIRTIO_NET_HDR_GSO_*), `hdrLen` (all headers), `gsoSize` (MSS), `csumStart`, `csumOffset`.
   * Offsets count from the first byte after this header: the Ethernet header's when the fd has one (gVisor's
   * csum_start = 14 + IP header), the IP header's on TUN. Sent only to fds that carry a virtio-net header;
   * all zeros (GSO none) unless set. A GSO type other than none needs `gsoKind: 'hardware'`.
   */
  setVirtioNet(i: number, flags: number, gsoType: number, hdrLen: number, gsoSize: number, csumStart: number, csumOffset: number): void {
    const l = i * STRIDE;
    const v = this.vnetView;
    v.setUint8(l, flags);
    v.setUint8(l + 1, gsoType);
    v.setUint16(l + 2, hdrLen, true);
    v.setUint16(l + 4, gsoSize, true);
    v.setUint16(l + 6, csumStart, true);
    v.setUint16(l + 8, csumOffset, true);
  }

  /** Empties the batch. */
  clear(): void {
    this.count = 0;
  }
}

/** Indices into `PacketWriter.counters`. One writer thread, any reader. */
export const TxCounter = {
  /** Packets the kernel took. */
  txPackets: 0,
  /** Their bytes (Ethernet header included, virtio-net header excluded). */
  txBytes: 1,
  /** Packets not sent: EAGAIN (a full socket buffer) or another error dropped them. */
  txDrops: 2,
  /** sendmmsg calls. */
  txBatches: 3,
  /** Calls that failed with an errno other than EAGAIN, plus packets whose views were out of range. */
  txErrors: 4,
  /** writev calls (single packets, and every packet to a non-socket fd). */
  txWrites: 5,
} as const;
export type TxCounter = (typeof TxCounter)[keyof typeof TxCounter];
const TX_COUNTER_COUNT = 6;

/** Options of `PacketWriter`. */
export interface PacketWriterOptions {
  /** The fds to write; `isSocket[i]` says whether `fds[i]` takes sendmmsg. */
  fds: readonly number[];
  isSocket: readonly boolean[];
  /** Add the batch's Ethernet header before each packet. */
  ethernetHeader: boolean;
  /**
   * Add the batch's virtio-net header before each packet: one flag for every fd, or one per fd (true for an
   * fd with IFF_VNET_HDR or PACKET_VNET_HDR, which expects it; `Endpoint.vnetHeaders` learned it).
   */
  vnetHeader: boolean | readonly boolean[];
  /** Where the counters live (TX_COUNTER_COUNT Float64 slots); default a new SharedArrayBuffer. */
  counters?: Float64Array;
  /**
   * Most packets per sendmmsg, 1..1024 (UIO_MAXIOV). Default SEND_BATCH_SIZE (47, gVisor's). A forwarding
   * loop passes its receive batch, so a batch that all goes to one fd leaves in one call instead of two.
   */
  sendBatchSize?: number;
}

const WRITER_KEYS = ['fds', 'isSocket', 'ethernetHeader', 'vnetHeader', 'counters', 'sendBatchSize'] as const;

function validatePacketWriterOptions(options: PacketWriterOptions): void {
  validateObject(options, 'options', WRITER_KEYS);
  validateArray(options.fds, 'options.fds', 1);
  options.fds.forEach((fd, i) => validateInteger(fd, `options.fds[${i}]`, 0, 0x7fff_ffff));
  validateArray(options.isSocket, 'options.isSocket');
  if (options.isSocket.length !== options.fds.length) {
    throw new NetshardError('ERR_INVALID_ARG_VALUE', `options.isSocket must have one entry per fd (${options.fds.length}), received ${options.isSocket.length}`);
  }
  options.isSocket.forEach((socket, i) => validateBoolean(socket, `options.isSocket[${i}]`));
  validateBoolean(options.ethernetHeader, 'options.ethernetHeader');
  const vnet: unknown = options.vnetHeader;
  if (Array.isArray(vnet)) {
    if (vnet.length !== options.fds.length) {
      throw new NetshardError('ERR_INVALID_ARG_VALUE', `options.vnetHeader must be a boolean or have one entry per fd (${options.fds.length}), received ${vnet.length}`);
    }
    vnet.forEach((v, i) => validateBoolean(v, `options.vnetHeader[${i}]`));
  } else {
    validateBoolean(vnet, 'options.vnetHeader');
  }
  if (options.sendBatchSize !== undefined) validateInteger(options.sendBatchSize, 'options.sendBatchSize', 1, 1024);
  const counters: unknown = options.counters;
  if (counters !== undefined && !(counters instanceof Float64Array && counters.length >= TX_COUNTER_COUNT)) {
    throw new NetshardError('ERR_INVALID_ARG_TYPE', `options.counters must be a Float64Array of at least ${TX_COUNTER_COUNT} slots, received ${describeValue(counters)}${counters instanceof Float64Array ? ` of ${counters.length}` : ''}`);
  }
}

/**
 * Sends batches of packets on a set of fds, with the mmsghdr/iovec tables built once in
 * SharedArrayBuffers. Thread: the one that created it.
 */
export class PacketWriter {
  /** The counters, indexed by `TxCounter` (Float64, in a SharedArrayBuffer). */
  readonly counters: Float64Array;
  /** -errno of the last failed send, 0 when none yet. */
  lastErrno = 0;
  private readonly fds: Int32Array;
  private readonly isSocket: Uint8Array;
  private readonly ethernetHeader: boolean;
  /** Per fd: 1 when packets to it get the batch's virtio-net header first. */
  private readonly vnetHeaders: Uint8Array;
  /** Registered memories: Number base address and length per id. */
  private memoryBase = new Float64Array(8);
  private memoryLength = new Float64Array(8);
  private readonly memories: Uint8Array[] = []; // keeps every registered memory alive
  private readonly mmsgWords: Uint32Array;
  private readonly iovWords: Uint32Array;
  /** BigInt address of each mmsghdr slot, cached: a partial send resumes at a slot with no BigInt math. */
  private readonly slotAddresses: bigint[] = [];
  /** BigInt address of each slot's iovec group, for writev. */
  private readonly iovAddresses: bigint[] = [];
  private readonly slotBytes: Float64Array;
  /** Most packets per sendmmsg (`options.sendBatchSize`). */
  readonly sendBatchSize: number;

  /** Throws ERR_INVALID_ARG_TYPE / ERR_INVALID_ARG_VALUE / ERR_OUT_OF_RANGE for bad options. Control path. */
  constructor(options: PacketWriterOptions) {
    validatePacketWriterOptions(options);
    this.fds = Int32Array.from(options.fds);
    this.isSocket = Uint8Array.from(options.isSocket, (s) => (s ? 1 : 0));
    this.ethernetHeader = options.ethernetHeader;
    const vnet = options.vnetHeader;
    this.vnetHeaders = Uint8Array.from(options.fds, (_fd, i) => ((typeof vnet === 'boolean' ? vnet : vnet[i]) ? 1 : 0));
    this.counters = options.counters ?? new Float64Array(new SharedArrayBuffer(TX_COUNTER_COUNT * 8));
    const slots = options.sendBatchSize ?? SEND_BATCH_SIZE;
    this.sendBatchSize = slots;
    this.slotBytes = new Float64Array(slots);
    this.mmsgWords = new Uint32Array(new SharedArrayBuffer(slots * SIZEOF_MMSGHDR));
    this.iovWords = new Uint32Array(new SharedArrayBuffer(slots * MAX_IOVS * SIZEOF_IOVEC));
    const mmsgAddress = pointerOf(this.mmsgWords);
    const iovAddress = pointerOf(this.iovWords);
    for (let s = 0; s < slots; s++) {
      const iov = Number(iovAddress) + s * MAX_IOVS * SIZEOF_IOVEC;
      writeAddress(this.mmsgWords, (s * SIZEOF_MMSGHDR + MMSGHDR_IOV) / 4, iov);
      this.slotAddresses.push(mmsgAddress + BigInt(s * SIZEOF_MMSGHDR));
      this.iovAddresses.push(iovAddress + BigInt(s * MAX_IOVS * SIZEOF_IOVEC));
    }
  }

  /**
   * Registers `bytes` (a frame pool's `bytes`, a scratch buffer; over a SharedArrayBuffer, whose memory
   * never moves) and returns the id batches use for it. Control path; the writer keeps it alive.
   */
  registerMemory(bytes: Uint8Array): number {
    if (!(bytes instanceof Uint8Array) || !(bytes.buffer instanceof SharedArrayBuffer)) {
      throw new NetshardError('ERR_INVALID_ARG_TYPE', `memory must be a Uint8Array over a SharedArrayBuffer, received ${bytes instanceof Uint8Array ? 'a Uint8Array over an ArrayBuffer' : describeValue(bytes)}`);
    }
    return this.addMemory(bytes);
  }

  /**
   * Registers memory mapped outside the JS heap (`MmapDispatcher.ringMemory`: a PACKET_MMAP ring, which
   * stays at its address until unmapped) and returns its id. The caller sends from it only while it is
   * mapped. Control path.
   */
  registerMappedMemory(bytes: Uint8Array): number {
    if (!(bytes instanceof Uint8Array) || bytes.byteLength === 0) {
      throw new NetshardError('ERR_INVALID_ARG_TYPE', `memory must be a non-empty Uint8Array, received ${describeValue(bytes)}`);
    }
    return this.addMemory(bytes);
  }

  private addMemory(bytes: Uint8Array): number {
    const id = this.memories.length;
    if (id === this.memoryBase.length) {
      const base = new Float64Array(id * 2), length = new Float64Array(id * 2);
      base.set(this.memoryBase);
      length.set(this.memoryLength);
      this.memoryBase = base;
      this.memoryLength = length;
    }
    this.memories.push(bytes);
    this.memoryBase[id] = addressOf(bytes);
    this.memoryLength[id] = bytes.byteLength;
    return id;
  }

  /**
   * Fills slot `s`'s iovecs for packet `i` going to fd index `fdIndex`; returns the iovec count, or 0 when
   * a view is out of range (the packet is then counted and skipped).
   */
  private fillSlot(batch: TxBatch, i: number, s: number, fdIndex: number): number {
    const seg = batch.segments;
    const g = i * SEG_WORDS;
    const iov = this.iovWords;
    let w = s * MAX_IOVS * 4;
    let bytes = 0;
    if (this.vnetHeaders[fdIndex] === 1) {
      writeAddress(iov, w, batch.vnetAddress + i * STRIDE);
      writeAddress(iov, w + 2, VIRTIO_NET_HDR_SIZE);
      w += 4;
    }
    if (this.ethernetHeader) {
      writeAddress(iov, w, batch.linkAddress + i * STRIDE);
      writeAddress(iov, w + 2, ETHERNET_HEADER_SIZE);
      w += 4;
      bytes += ETHERNET_HEADER_SIZE;
    }
    for (let v = 0; v < 2; v++) {
      const memory = seg[g + v * 3] as number;
      const offset = seg[g + v * 3 + 1] as number;
      const length = seg[g + v * 3 + 2] as number;
      if (v === 1 && length === 0) break;
      if (!(memory >= 0 && memory < this.memories.length && offset >= 0 && length >= 0 && offset + length <= (this.memoryLength[memory] as number))) {
        return 0;
      }
      writeAddress(iov, w, (this.memoryBase[memory] as number) + offset);
      writeAddress(iov, w + 2, length);
      w += 4;
      bytes += length;
    }
    this.slotBytes[s] = bytes;
    return (w - s * MAX_IOVS * 4) / 4;
  }

  /**
   * Sends packet `i` of `batch` alone with one writev on `fds[hash % n]` (gVisor's `writePacket`).
   * Returns the bytes written (a virtio-net header included, as the kernel counts) or -errno (EAGAIN:
   * dropped and counted). No allocation.
   */
  writePacket(batch: TxBatch, i: number): number {
    return this.writeOne((batch.hashes[i] as number) % this.fds.length, batch, i);
  }

  private writeOne(fdIndex: number, batch: TxBatch, i: number): number {
    const c = this.counters;
    const fd = this.fds[fdIndex] as number;
    const iovCount = this.fillSlot(batch, i, 0, fdIndex);
    if (iovCount === 0) {
      c[TxCounter.txDrops]!++;
      c[TxCounter.txErrors]!++;
      return -EINVAL; // a view outside its memory
    }
    c[TxCounter.txWrites]!++;
    let r = writev(fd, this.iovAddresses[0] as bigint, iovCount);
    if (r === -EINTR) r = writev(fd, this.iovAddresses[0] as bigint, iovCount);
    if (r < 0) {
      c[TxCounter.txDrops]!++;
      if (r !== -EAGAIN) c[TxCounter.txErrors]!++;
      this.lastErrno = r;
      return r;
    }
    c[TxCounter.txPackets]!++;
    c[TxCounter.txBytes]! += this.slotBytes[0] as number;
    return r;
  }

  /**
   * Sends every packet of `batch`: each on `fds[hash % n]`, runs of consecutive packets for the same fd
   * in one sendmmsg of at most `sendBatchSize` (sockets) or one writev each (other fds). A partial sendmmsg continues
   * with the rest; EAGAIN (or another error) drops and counts the rest of that run, then the next run is
   * tried. Returns the packets sent. Does not clear the batch. No allocation, no throw.
   */
  writePackets(batch: TxBatch): number {
    const n = batch.count;
    const nfds = this.fds.length;
    const hashes = batch.hashes;
    const most = this.sendBatchSize;
    let sent = 0;
    let i = 0;
    while (i < n) {
      const fdIndex = (hashes[i] as number) % nfds;
      let j = i + 1;
      while (j < n && j - i < most && (hashes[j] as number) % nfds === fdIndex) j++;
      sent += this.isSocket[fdIndex] === 1 ? this.sendRun(fdIndex, batch, i, j) : this.writeRun(fdIndex, batch, i, j);
      i = j;
    }
    return sent;
  }

  /** Sends packets [from, to) of `batch` on non-socket fd index `fdIndex`, one writev each; stops at the first failure. */
  private writeRun(fdIndex: number, batch: TxBatch, from: number, to: number): number {
    let sent = 0;
    for (let i = from; i < to; i++) {
      const r = this.writeOne(fdIndex, batch, i);
      if (r >= 0) { sent++; continue; }
      if (r === -EINVAL) continue; // a bad view drops only its own packet
      this.counters[TxCounter.txDrops]! += to - i - 1; // the rest of the run
      break;
    }
    return sent;
  }

  /** Sends packets [from, to) of `batch` on socket fd index `fdIndex` with sendmmsg. */
  private sendRun(fdIndex: number, batch: TxBatch, from: number, to: number): number {
    const c = this.counters;
    const fd = this.fds[fdIndex] as number;
    const words = this.mmsgWords;
    let slots = 0;
    for (let i = from; i < to; i++) {
      const iovCount = this.fillSlot(batch, i, slots, fdIndex);
      if (iovCount === 0) { c[TxCounter.txDrops]!++; c[TxCounter.txErrors]!++; continue; }
      writeAddress(words, (slots * SIZEOF_MMSGHDR + MMSGHDR_IOVLEN) / 4, iovCount);
      slots++;
    }
    let done = 0;
    while (done < slots) {
      c[TxCounter.txBatches]!++;
      const r = sendmmsg(fd, this.slotAddresses[done] as bigint, slots - done, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (r < 0) {
        if (r === -EINTR) continue;
        if (r !== -EAGAIN) c[TxCounter.txErrors]!++;
        this.lastErrno = r;
        c[TxCounter.txDrops]! += slots - done;
        break;
      }
      if (r === 0) { c[TxCounter.txDrops]! += slots - done; break; } // not expected for vlen > 0; never spin
      let bytes = 0;
      for (let s = done; s < done + r; s++) bytes += this.slotBytes[s] as number;
      c[TxCounter.txPackets]! += r;
      c[TxCounter.txBytes]! += bytes;
      done += r;
    }
    return done;
  }
}
