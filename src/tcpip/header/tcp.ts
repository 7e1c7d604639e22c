/**
 * TCP headers (RFC 9293), field names as in gVisor's `header.TCP`, a bounded walk over the
 * options into a reusable `TcpOptions`, and `encodeTcpOptions()` writing them back.
 *
 * ```
 *  0              16             31
 *  +--------------+--------------+
 *  | source port  |  dest port   |   0
 *  +--------------+--------------+
 *  |       sequence number       |   4
 *  |    acknowledgment number    |   8
 *  +----+----+----+--------------+
 *  |doff|rsvd|flag|    window    |  12   doff: header length in 32-bit words (5..15)
 *  +----+----+----+--------------+       flags: CWR ECE URG ACK PSH RST SYN FIN
 *  |   checksum   |urgent pointer|  16
 *  +--------------+--------------+
 *  |   options (doff*4 - 20)     |  20
 * ```
 * Thread: any; a view belongs to the thread that made it. Allocation: none. The checksum is
 * computed and verified by `checksum.ts` (it covers a pseudo-header this view cannot see).
 */

const EMPTY = new DataView(new ArrayBuffer(0));
const SRC_PORT = 0, DST_PORT = 2, SEQ = 4, ACK = 8, DATA_OFFSET = 12, FLAGS = 13; // byte offsets (RFC 9293 §3.1)
const WINDOW = 14, CHECKSUM = 16, URGENT = 18;

/** Size of a TCP header without options. */
export const TCP_MINIMUM_SIZE = 20;
/** Largest TCP header: data offset 15, i.e. 40 bytes of options. */
export const TCP_MAXIMUM_HEADER_SIZE = 60;

/** Flag bit: no more data from sender (RFC 9293). */
export const TCP_FLAG_FIN = 0x01;
/** Flag bit: synchronize sequence numbers. */
export const TCP_FLAG_SYN = 0x02;
/** Flag bit: reset the connection. */
export const TCP_FLAG_RST = 0x04;
/** Flag bit: push function. */
export const TCP_FLAG_PSH = 0x08;
/** Flag bit: the acknowledgment number is significant. */
export const TCP_FLAG_ACK = 0x10;
/** Flag bit: the urgent pointer is significant. */
export const TCP_FLAG_URG = 0x20;
/** Flag bit: ECN echo (RFC 3168). */
export const TCP_FLAG_ECE = 0x40;
/** Flag bit: congestion window reduced (RFC 3168). */
export const TCP_FLAG_CWR = 0x80;

/** Option kind: end of option list (RFC 9293). */
export const TCP_OPTION_EOL = 0;
/** Option kind: no operation, one byte (RFC 9293). */
export const TCP_OPTION_NOP = 1;
/** Option kind: maximum segment size, 4 bytes (RFC 9293). */
export const TCP_OPTION_MSS = 2;
/** Option kind: window scale, 3 bytes (RFC 7323). */
export const TCP_OPTION_WINDOW_SCALE = 3;
/** Option kind: SACK permitted, 2 bytes (RFC 2018). */
export const TCP_OPTION_SACK_PERMITTED = 4;
/** Option kind: SACK, 2 + 8n bytes (RFC 2018). */
export const TCP_OPTION_SACK = 5;
/** Option kind: timestamps, 10 bytes (RFC 7323). */
export const TCP_OPTION_TIMESTAMP = 8;
/** Largest window scale shift; larger values are used as 14 (RFC 7323 §2.3). */
export const TCP_MAXIMUM_WINDOW_SCALE = 14;

/** Why a TCP header was rejected; indexes the `rxDropsByReason` counters. */
export const TcpReason = {
  Ok: 0,
  /** Fewer than 20 bytes. */
  Truncated: 1,
  /** Data offset below 5 words, or the header runs past the end. */
  BadDataOffset: 2,
  /**
   * An option with a length below 2 or past the header, or a known option with the wrong length
   * (RFC 9293 §3.1: an implementation must cope with an illegal option length; we refuse the segment).
   */
  BadOptions: 3,
} as const;
export type TcpReason = (typeof TcpReason)[keyof typeof TcpReason];

/** What `encodeTcp()` writes (gVisor's `TCPFields`; the data offset follows from the options). */
export interface TcpFields {
  sourcePort: number;
  destinationPort: number;
  sequenceNumber: number;
  ackNumber: number;
  /** `TCP_FLAG_*` bits. */
  flags: number;
  windowSize: number;
  /** Written as given (0 until `checksum.ts` fills it in). */
  checksum: number;
  urgentPointer: number;
  /** Raw option bytes (at most 40); padded with End of List to a multiple of 4. */
  options?: Uint8Array;
  /**
   * Without `options`: bytes of options already in place after the fixed header, left untouched and
   * counted in the data offset (what `encodeTcpOptions()` returned; a multiple of 4, at most 40). Default 0.
   */
  optionsLength?: number;
}

/**
 * What `encodeTcpOptions()` writes; absent, -1 or false leaves an option out. A `TcpOptions` filled by
 * `parseTcpOptions()` is one (its SACK blocks excepted: they stay offsets into the parsed segment).
 */
export interface TcpOptionsFields {
  /** Maximum segment size (RFC 9293 §3.7.1). */
  mss?: number;
  /** Window scale shift, 0..14 (RFC 7323 §2). */
  windowScale?: number;
  /** Offer SACK (RFC 2018 §2); only in a SYN. */
  sackPermitted?: boolean;
  /** Write a timestamps option with `timestampValue` and `timestampEcho` (RFC 7323 §3). */
  timestamp?: boolean;
  /** TSval (unsigned 32 bits). Default 0. */
  timestampValue?: number;
  /** TSecr (unsigned 32 bits). Default 0. */
  timestampEcho?: number;
  /** SACK blocks as edges: left, right, left, right, ... (up to 4 blocks, RFC 2018 §3); empty: no SACK option. */
  sackBlockEdges?: ArrayLike<number>;
}

/**
 * The options of one segment, filled by `parseTcpOptions()`. Make one per thread and reuse it: the
 * walk allocates nothing. Absent options read -1 or false.
 */
export class TcpOptions {
  /** Maximum segment size, or -1. */
  mss = -1;
  /** Window scale shift (clamped to 14), or -1. */
  windowScale = -1;
  /** SACK permitted was offered. */
  sackPermitted = false;
  /** A timestamps option is present. */
  timestamp = false;
  /** TSval (unsigned 32 bits); 0 without `timestamp`. */
  timestampValue = 0;
  /** TSecr (unsigned 32 bits); 0 without `timestamp`. */
  timestampEcho = 0;
  /** Number of SACK blocks (0..4). */
  sackBlocks = 0;
  /**
   * Absolute offset of the first SACK block, or -1. Block i is two unsigned 32-bit sequence numbers,
   * left edge at `sackBlocksOffset + 8*i` and right edge 4 bytes later: read them from the same view.
   */
  sackBlocksOffset = -1;

  /** Clears every field to "absent". */
  reset(): this {
    this.mss = -1;
    this.windowScale = -1;
    this.sackPermitted = false;
    this.timestamp = false;
    this.timestampValue = 0;
    this.timestampEcho = 0;
    this.sackBlocks = 0;
    this.sackBlocksOffset = -1;
    return this;
  }
}

/**
 * A TCP header inside memory it does not own: re-point it with `reset()` per packet, no
 * allocation. Trust its fields only after `validateTcp()` returned `Ok` for them.
 */
export class TcpHeader {
  view: DataView = EMPTY; // frames live in a SharedArrayBuffer: keep the wide type
  offset = 0;

  /** Points this view at the header starting at `offset` in `view`. */
  reset(view: DataView, offset: number): this {
    this.view = view;
    this.offset = offset;
    return this;
  }

  /** Returns the source port. */
  get sourcePort(): number { return this.view.getUint16(this.offset + SRC_PORT); }
  /** Sets the source port. */
  set sourcePort(port: number) { this.view.setUint16(this.offset + SRC_PORT, port); }
  /** Returns the destination port. */
  get destinationPort(): number { return this.view.getUint16(this.offset + DST_PORT); }
  /** Sets the destination port. */
  set destinationPort(port: number) { this.view.setUint16(this.offset + DST_PORT, port); }
  /** Returns the sequence number (unsigned 32 bits). */
  get sequenceNumber(): number { return this.view.getUint32(this.offset + SEQ); }
  /** Sets the sequence number. */
  set sequenceNumber(seq: number) { this.view.setUint32(this.offset + SEQ, seq); }
  /** Returns the acknowledgment number (unsigned 32 bits). */
  get ackNumber(): number { return this.view.getUint32(this.offset + ACK); }
  /** Sets the acknowledgment number. */
  set ackNumber(ack: number) { this.view.setUint32(this.offset + ACK, ack); }
  /** Returns the header length in bytes (the field counts 32-bit words), options included. */
  get dataOffset(): number { return (this.view.getUint8(this.offset + DATA_OFFSET) >>> 4) * 4; }
  /** Sets the header length in bytes (a multiple of 4, 20..60), keeping the reserved bits. */
  set dataOffset(bytes: number) {
    const at = this.offset + DATA_OFFSET;
    this.view.setUint8(at, (((bytes >>> 2) & 0xf) << 4) | (this.view.getUint8(at) & 0xf));
  }
  /** Returns the flag byte (`TCP_FLAG_*` bits). */
  get flags(): number { return this.view.getUint8(this.offset + FLAGS); }
  /** Sets the flag byte. */
  set flags(flags: number) { this.view.setUint8(this.offset + FLAGS, flags); }
  /** Returns the receive window (unscaled). */
  get windowSize(): number { return this.view.getUint16(this.offset + WINDOW); }
  /** Sets the receive window. */
  set windowSize(window: number) { this.view.setUint16(this.offset + WINDOW, window); }
  /** Returns the checksum as stored. */
  get checksum(): number { return this.view.getUint16(this.offset + CHECKSUM); }
  /** Sets the checksum. */
  set checksum(checksum: number) { this.view.setUint16(this.offset + CHECKSUM, checksum); }
  /** Returns the urgent pointer. */
  get urgentPointer(): number { return this.view.getUint16(this.offset + URGENT); }
  /** Sets the urgent pointer. */
  set urgentPointer(pointer: number) { this.view.setUint16(this.offset + URGENT, pointer); }
  /** Returns the absolute offset of the options (they run to `payloadOffset`). */
  get optionsOffset(): number { return this.offset + TCP_MINIMUM_SIZE; }
  /** Returns where the payload starts in the same memory (after the options). */
  get payloadOffset(): number { return this.offset + this.dataOffset; }
}

/**
 * Checks the fixed part and the data offset of the TCP header at `offset`, the IP payload ending at
 * `end`, without walking the options: what a forwarder or dispatcher needs to find the payload.
 * Never throws.
 */
export function validateTcpHeader(view: DataView, offset: number, end: number): TcpReason {
  if (end - offset < TCP_MINIMUM_SIZE) return TcpReason.Truncated;
  const dataOffset = (view.getUint8(offset + DATA_OFFSET) >>> 4) * 4;
  if (dataOffset < TCP_MINIMUM_SIZE || offset + dataOffset > end) return TcpReason.BadDataOffset;
  return TcpReason.Ok;
}

const SCRATCH = new TcpOptions(); // one per thread (module instance), used only inside validateTcp

/** Checks the TCP header at `offset`, the IP payload ending at `end`, options included. Never throws. */
export function validateTcp(view: DataView, offset: number, end: number): TcpReason {
  const reason = validateTcpHeader(view, offset, end);
  if (reason !== TcpReason.Ok) return reason;
  return parseTcpOptions(view, offset, SCRATCH);
}

/**
 * Walks the options of the TCP header at `offset` into `out` and returns `Ok` or `BadOptions`
 * (then `out` holds the options before the bad one). At most 40 steps. Precondition:
 * `validateTcpHeader()` returned `Ok`. Never throws; allocates nothing.
 */
export function parseTcpOptions(view: DataView, offset: number, out: TcpOptions): TcpReason {
  out.reset();
  const end = offset + (view.getUint8(offset + DATA_OFFSET) >>> 4) * 4;
  let at = offset + TCP_MINIMUM_SIZE;
  while (at < end) {
    const kind = view.getUint8(at);
    if (kind === TCP_OPTION_EOL) break;
    if (kind === TCP_OPTION_NOP) { at++; continue; }
    if (at + 1 >= end) return TcpReason.BadOptions;
    const length = view.getUint8(at + 1);
    if (length < 2 || at + length > end) return TcpReason.BadOptions;
    switch (kind) {
      case TCP_OPTION_MSS:
        if (length !== 4) return TcpReason.BadOptions;
        out.mss = view.getUint16(at + 2);
        break;
      case TCP_OPTION_WINDOW_SCALE:
        if (length !== 3) return TcpReason.BadOptions;
        out.windowScale = Math.min(view.getUint8(at + 2), TCP_MAXIMUM_WINDOW_SCALE);
        break;
      case TCP_OPTION_SACK_PERMITTED:
        if (length !== 2) return TcpReason.BadOptions;
        out.sackPermitted = true;
        break;
      case TCP_OPTION_SACK:
        if (length < 10 || (length - 2) % 8 !== 0) return TcpReason.BadOptions;
        out.sackBlocks = (length - 2) / 8;
        out.sackBlocksOffset = at + 2;
        break;
      case TCP_OPTION_TIMESTAMP:
        if (length !== 10) return TcpReason.BadOptions;
        out.timestamp = true;
        out.timestampValue = view.getUint32(at + 2);
        out.timestampEcho = view.getUint32(at + 6);
        break;
      default: // unknown kinds (TCP-AO, MPTCP, Fast Open, ...) are skipped by length
        break;
    }
    at += length;
  }
  return TcpReason.Ok;
}

/**
 * Writes a TCP header at `offset` (data offset from `options` or `optionsLength`) and returns its length.
 * Precondition: room for it; options at most 40 bytes. Allocation: none.
 */
export function encodeTcp(view: DataView, offset: number, fields: TcpFields): number {
  const options = fields.options;
  const optionsLength = options === undefined ? (fields.optionsLength ?? 0) & 0x3c : (options.length + 3) & ~3;
  const headerLength = TCP_MINIMUM_SIZE + optionsLength;
  view.setUint16(offset + SRC_PORT, fields.sourcePort);
  view.setUint16(offset + DST_PORT, fields.destinationPort);
  view.setUint32(offset + SEQ, fields.sequenceNumber);
  view.setUint32(offset + ACK, fields.ackNumber);
  view.setUint8(offset + DATA_OFFSET, (headerLength >>> 2) << 4);
  view.setUint8(offset + FLAGS, fields.flags);
  view.setUint16(offset + WINDOW, fields.windowSize);
  view.setUint16(offset + CHECKSUM, fields.checksum);
  view.setUint16(offset + URGENT, fields.urgentPointer);
  if (options === undefined) return headerLength;
  for (let i = 0; i < optionsLength; i++) {
    view.setUint8(offset + TCP_MINIMUM_SIZE + i, options[i] ?? TCP_OPTION_EOL);
  }
  return headerLength;
}

/**
 * Writes options at `offset` (where they start: the header's offset + 20) in Linux's layout
 * (`tcp_options_write()`): MSS; SACK permitted and timestamps sharing a word, or each behind two NOPs;
 * NOP and window scale; two NOPs and the SACK blocks. Every multi-byte value lands 4-byte aligned
 * and the length is a multiple of 4, so no End of List is needed. Returns the bytes written (0 for
 * none) for `TcpFields.optionsLength` or `TcpHeader.dataOffset = 20 + n`, or -1 with nothing written
 * when they exceed 40 bytes or `view`, or `sackBlockEdges` is odd or more than 4 pairs. Never throws.
 * Allocation: none.
 */
export function encodeTcpOptions(view: DataView, offset: number, fields: TcpOptionsFields): number {
  const mss = fields.mss ?? -1;
  const windowScale = fields.windowScale ?? -1;
  const sackPermitted = fields.sackPermitted === true;
  const timestamp = fields.timestamp === true;
  const edges = fields.sackBlockEdges;
  const edgeCount = edges === undefined ? 0 : edges.length;
  if (edgeCount % 2 !== 0 || edgeCount > 8) return -1;
  const length = (mss >= 0 ? 4 : 0) + (timestamp ? 12 : sackPermitted ? 4 : 0) + (windowScale >= 0 ? 4 : 0) +
    (edgeCount > 0 ? 4 + 4 * edgeCount : 0);
  if (length > TCP_MAXIMUM_HEADER_SIZE - TCP_MINIMUM_SIZE || offset < 0 || offset + length > view.byteLength) return -1;
  let at = offset;
  if (mss >= 0) {
    view.setUint32(at, ((TCP_OPTION_MSS << 24) | (4 << 16) | (mss & 0xffff)) >>> 0);
    at += 4;
  }
  if (timestamp) {
    const lead = sackPermitted ? (TCP_OPTION_SACK_PERMITTED << 8) | 2 : (TCP_OPTION_NOP << 8) | TCP_OPTION_NOP;
    view.setUint32(at, ((lead << 16) | (TCP_OPTION_TIMESTAMP << 8) | 10) >>> 0);
    view.setUint32(at + 4, fields.timestampValue ?? 0);
    view.setUint32(at + 8, fields.timestampEcho ?? 0);
    at += 12;
  } else if (sackPermitted) {
    view.setUint32(at, (TCP_OPTION_NOP << 24) | (TCP_OPTION_NOP << 16) | (TCP_OPTION_SACK_PERMITTED << 8) | 2);
    at += 4;
  }
  if (windowScale >= 0) {
    view.setUint32(at, (TCP_OPTION_NOP << 24) | (TCP_OPTION_WINDOW_SCALE << 16) | (3 << 8) | (windowScale & 0xff));
    at += 4;
  }
  if (edges !== undefined && edgeCount > 0) {
    view.setUint32(at, (TCP_OPTION_NOP << 24) | (TCP_OPTION_NOP << 16) | (TCP_OPTION_SACK << 8) | (2 + 4 * edgeCount));
    for (let i = 0; i < edgeCount; i++) view.setUint32(at + 4 + 4 * i, edges[i] ?? 0);
    at += 4 + 4 * edgeCount;
  }
  return at - offset;
}
