/**
 * IPv4 headers (RFC 791), field names as in gVisor's `header.IPv4`.
 *
 * ```
 *  0       4       8              16    19                 31
 *  +-------+-------+--------------+-----+------------------+
 *  |version|  IHL  |     TOS      |      total length      |   0
 *  +-------+-------+--------------+-----+------------------+
 *  |        identification        |flags| fragment offset  |   4   flags: 0, DF, MF
 *  +--------------+---------------+-----+------------------+
 *  |     TTL      |   protocol    |    header checksum     |   8
 *  +--------------+---------------+------------------------+
 *  |                    source address                     |  12
 *  |                  destination address                  |  16
 *  |            options (IHL*4 - 20 bytes, <= 40)          |  20
 *  +-------------------------------------------------------+
 * ```
 * Thread: any; a view belongs to the thread that made it. Allocation: none. The checksum is read and
 * written here but computed by `checksum.ts`; `validateIpv4()` does not verify it (gVisor checks it
 * in the network endpoint, not in the header parser).
 */

const EMPTY = new DataView(new ArrayBuffer(0));
const VERSION_IHL = 0, TOS = 1, TOTAL_LENGTH = 2, ID = 4, FLAGS_FRAGMENT = 6; // byte offsets (RFC 791 §3.1)
const TTL = 8, PROTOCOL = 9, CHECKSUM = 10, SRC_ADDR = 12, DST_ADDR = 16;

/** Size of an IPv4 header without options. */
export const IPV4_MINIMUM_SIZE = 20;
/** Largest IPv4 header: IHL 15, i.e. 40 bytes of options. */
export const IPV4_MAXIMUM_HEADER_SIZE = 60;
/** The version nibble of IPv4. */
export const IPV4_VERSION = 4;
/** Flag bit (in `flags`, the top 3 bits of byte 6 shifted down): more fragments follow (RFC 791). */
export const IPV4_FLAG_MORE_FRAGMENTS = 1;
/** Flag bit: do not fragment (RFC 791). */
export const IPV4_FLAG_DONT_FRAGMENT = 2;
/** Option type: end of option list; the rest of the header is padding (RFC 791). */
export const IPV4_OPTION_END_OF_LIST = 0;
/** Option type: no operation, one byte, used for alignment (RFC 791). */
export const IPV4_OPTION_NOP = 1;
/** Option type: record route (RFC 791). */
export const IPV4_OPTION_RECORD_ROUTE = 7;
/** Option type: timestamp (RFC 791). */
export const IPV4_OPTION_TIMESTAMP = 68;
/** Option type: router alert, 4 bytes (RFC 2113). */
export const IPV4_OPTION_ROUTER_ALERT = 148;

/** Why an IPv4 header was rejected; indexes the `rxDropsByReason` counters. */
export const Ipv4Reason = {
  Ok: 0,
  /** Fewer than 20 bytes. */
  Truncated: 1,
  /** The version nibble is not 4. */
  BadVersion: 2,
  /** IHL below 5, or the header runs past the end. */
  BadIhl: 3,
  /** Total length below the header length, or past the end. */
  BadTotalLength: 4,
  /** An option other than EOL/NOP with a length below 2 or running past the header. */
  BadOptions: 5,
} as const;
export type Ipv4Reason = (typeof Ipv4Reason)[keyof typeof Ipv4Reason];

/** What `encodeIpv4()` writes (gVisor's `IPv4Fields`). */
export interface Ipv4Fields {
  tos: number;
  totalLength: number;
  id: number;
  /** `IPV4_FLAG_DONT_FRAGMENT` and/or `IPV4_FLAG_MORE_FRAGMENTS`. */
  flags: number;
  /** In bytes, a multiple of 8. */
  fragmentOffset: number;
  ttl: number;
  protocol: number;
  /** Written as given (0 until `checksum.ts` fills it in). */
  checksum: number;
  /** Unsigned 32-bit number. */
  sourceAddress: number;
  /** Unsigned 32-bit number. */
  destinationAddress: number;
  /** Raw option bytes (at most 40); padded with End of List to a multiple of 4. */
  options?: Uint8Array;
}

/**
 * An IPv4 header inside memory it does not own: re-point it with `reset()` per packet, no
 * allocation. Trust its fields only after `validateIpv4()` returned `Ok` for them.
 */
export class Ipv4Header {
  view: DataView = EMPTY; // frames live in a SharedArrayBuffer: keep the wide type
  offset = 0;

  /** Points this view at the header starting at `offset` in `view`. */
  reset(view: DataView, offset: number): this {
    this.view = view;
    this.offset = offset;
    return this;
  }

  /** Returns the version nibble (4 for a valid header). */
  get version(): number { return this.view.getUint8(this.offset + VERSION_IHL) >>> 4; }
  /** Returns the header length in bytes (IHL * 4), options included. */
  get headerLength(): number { return (this.view.getUint8(this.offset + VERSION_IHL) & 0xf) * 4; }
  /** Sets the header length in bytes (a multiple of 4, 20..60), keeping the version. */
  set headerLength(length: number) {
    const at = this.offset + VERSION_IHL;
    this.view.setUint8(at, (this.view.getUint8(at) & 0xf0) | ((length >>> 2) & 0xf));
  }
  /** Returns the type of service byte (DSCP and ECN). */
  get tos(): number { return this.view.getUint8(this.offset + TOS); }
  /** Sets the type of service byte. */
  set tos(tos: number) { this.view.setUint8(this.offset + TOS, tos); }
  /** Returns the total length of the packet in bytes, header included. */
  get totalLength(): number { return this.view.getUint16(this.offset + TOTAL_LENGTH); }
  /** Sets the total length. */
  set totalLength(length: number) { this.view.setUint16(this.offset + TOTAL_LENGTH, length); }
  /** Returns the identification field. */
  get id(): number { return this.view.getUint16(this.offset + ID); }
  /** Sets the identification field. */
  set id(id: number) { this.view.setUint16(this.offset + ID, id); }
  /** Returns the 3 flag bits (`IPV4_FLAG_DONT_FRAGMENT`, `IPV4_FLAG_MORE_FRAGMENTS`). */
  get flags(): number { return this.view.getUint8(this.offset + FLAGS_FRAGMENT) >>> 5; }
  /** Sets the 3 flag bits, keeping the fragment offset. */
  set flags(flags: number) {
    const at = this.offset + FLAGS_FRAGMENT;
    this.view.setUint16(at, ((flags & 7) << 13) | (this.view.getUint16(at) & 0x1fff));
  }
  /** Returns the fragment offset in bytes (the field counts 8-byte units). */
  get fragmentOffset(): number { return (this.view.getUint16(this.offset + FLAGS_FRAGMENT) & 0x1fff) * 8; }
  /** Sets the fragment offset in bytes (a multiple of 8), keeping the flags. */
  set fragmentOffset(bytes: number) {
    const at = this.offset + FLAGS_FRAGMENT;
    this.view.setUint16(at, (this.view.getUint16(at) & 0xe000) | ((bytes >>> 3) & 0x1fff));
  }
  /** Tells whether more fragments follow (MF). */
  get moreFragments(): boolean { return (this.view.getUint8(this.offset + FLAGS_FRAGMENT) & 0x20) !== 0; }
  /** Tells whether the sender forbade fragmentation (DF). */
  get dontFragment(): boolean { return (this.view.getUint8(this.offset + FLAGS_FRAGMENT) & 0x40) !== 0; }
  /** Tells whether this packet is a fragment: MF set or a non-zero offset. */
  get isFragment(): boolean { return (this.view.getUint16(this.offset + FLAGS_FRAGMENT) & 0x3fff) !== 0; }
  /** Returns the time to live. */
  get ttl(): number { return this.view.getUint8(this.offset + TTL); }
  /** Sets the time to live (the checksum is not updated). */
  set ttl(ttl: number) { this.view.setUint8(this.offset + TTL, ttl); }
  /** Returns the transport protocol number (gVisor's `Protocol()`). */
  get protocol(): number { return this.view.getUint8(this.offset + PROTOCOL); }
  /** Sets the transport protocol number. */
  set protocol(protocol: number) { this.view.setUint8(this.offset + PROTOCOL, protocol); }
  /** Returns the header checksum as stored. */
  get checksum(): number { return this.view.getUint16(this.offset + CHECKSUM); }
  /** Sets the header checksum. */
  set checksum(checksum: number) { this.view.setUint16(this.offset + CHECKSUM, checksum); }
  /** Returns the source address as an unsigned 32-bit number. */
  get sourceAddress(): number { return this.view.getUint32(this.offset + SRC_ADDR); }
  /** Sets the source address. */
  set sourceAddress(address: number) { this.view.setUint32(this.offset + SRC_ADDR, address); }
  /** Returns the destination address as an unsigned 32-bit number. */
  get destinationAddress(): number { return this.view.getUint32(this.offset + DST_ADDR); }
  /** Sets the destination address. */
  set destinationAddress(address: number) { this.view.setUint32(this.offset + DST_ADDR, address); }

  /** Returns the absolute offset of the options (they run to `payloadOffset`). */
  get optionsOffset(): number { return this.offset + IPV4_MINIMUM_SIZE; }
  /** Returns where the payload starts in the same memory (after the options). */
  get payloadOffset(): number { return this.offset + this.headerLength; }
  /** Returns the payload length: total length minus header length. */
  get payloadLength(): number { return this.totalLength - this.headerLength; }
}

/**
 * Checks the IPv4 header at `offset`, the packet ending at `end` (bytes past the total length, such
 * as Ethernet padding, are allowed). Walks the options. Does not verify the checksum. Never throws.
 */
export function validateIpv4(view: DataView, offset: number, end: number): Ipv4Reason {
  if (end - offset < IPV4_MINIMUM_SIZE) return Ipv4Reason.Truncated;
  const versionIhl = view.getUint8(offset + VERSION_IHL);
  if (versionIhl >>> 4 !== IPV4_VERSION) return Ipv4Reason.BadVersion;
  const headerLength = (versionIhl & 0xf) * 4;
  if (headerLength < IPV4_MINIMUM_SIZE || offset + headerLength > end) return Ipv4Reason.BadIhl;
  const totalLength = view.getUint16(offset + TOTAL_LENGTH);
  if (totalLength < headerLength || offset + totalLength > end) return Ipv4Reason.BadTotalLength;
  if (headerLength > IPV4_MINIMUM_SIZE && !optionsWellFormed(view, offset + IPV4_MINIMUM_SIZE, offset + headerLength)) {
    return Ipv4Reason.BadOptions;
  }
  return Ipv4Reason.Ok;
}

/** Walks options in [at, end): at most 40 steps, each advancing at least one byte. */
function optionsWellFormed(view: DataView, at: number, end: number): boolean {
  while (at < end) {
    const type = view.getUint8(at);
    if (type === IPV4_OPTION_END_OF_LIST) return true;
    if (type === IPV4_OPTION_NOP) { at++; continue; }
    if (at + 1 >= end) return false;
    const length = view.getUint8(at + 1);
    if (length < 2 || at + length > end) return false;
    at += length;
  }
  return true;
}

/**
 * Returns the absolute offset of the first option of `type` in the validated header at `offset`, or
 * -1 if it has none (stops at End of List). Allocation: none.
 */
export function findIpv4Option(view: DataView, offset: number, type: number): number {
  const end = offset + (view.getUint8(offset + VERSION_IHL) & 0xf) * 4;
  let at = offset + IPV4_MINIMUM_SIZE;
  while (at < end) {
    const t = view.getUint8(at);
    if (t === type) return at;
    if (t === IPV4_OPTION_END_OF_LIST) return -1;
    if (t === IPV4_OPTION_NOP) { at++; continue; }
    if (at + 1 >= end) return -1;
    const length = view.getUint8(at + 1);
    if (length < 2) return -1;
    at += length;
  }
  return -1;
}

/**
 * Writes an IPv4 header at `offset` (version 4, IHL from the options) and returns its length.
 * Precondition: room for it; options at most 40 bytes. Allocation: none.
 */
export function encodeIpv4(view: DataView, offset: number, fields: Ipv4Fields): number {
  const options = fields.options;
  const optionsLength = options === undefined ? 0 : (options.length + 3) & ~3;
  const headerLength = IPV4_MINIMUM_SIZE + optionsLength;
  view.setUint8(offset + VERSION_IHL, (IPV4_VERSION << 4) | (headerLength >>> 2));
  view.setUint8(offset + TOS, fields.tos);
  view.setUint16(offset + TOTAL_LENGTH, fields.totalLength);
  view.setUint16(offset + ID, fields.id);
  view.setUint16(offset + FLAGS_FRAGMENT, ((fields.flags & 7) << 13) | ((fields.fragmentOffset >>> 3) & 0x1fff));
  view.setUint8(offset + TTL, fields.ttl);
  view.setUint8(offset + PROTOCOL, fields.protocol);
  view.setUint16(offset + CHECKSUM, fields.checksum);
  view.setUint32(offset + SRC_ADDR, fields.sourceAddress);
  view.setUint32(offset + DST_ADDR, fields.destinationAddress);
  for (let i = 0; i < optionsLength; i++) {
    view.setUint8(offset + IPV4_MINIMUM_SIZE + i, options?.[i] ?? IPV4_OPTION_END_OF_LIST);
  }
  return headerLength;
}
