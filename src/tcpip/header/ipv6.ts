/**
 * IPv6 headers (RFC 8200): the fixed header, field names as in gVisor's `header.IPv6`, and a bounded
 * walk over the extension headers to the upper-layer protocol.
 *
 * ```
 *  0       4               12                                  31
 *  +-------+---------------+-----------------------------------+
 *  |version| traffic class |            flow label             |   0
 *  +-------+---------------+---------------+-------------------+
 *  |        payload length         |  next header | hop limit  |   4
 *  +-------------------------------+--------------+------------+
 *  |                source address (16 bytes)                  |   8
 *  |              destination address (16 bytes)               |  24
 *  +-----------------------------------------------------------+  40
 *
 *  extension header (hop-by-hop 0, routing 43, destination options 60):
 *  | next header | length (8-byte units beyond the first 8) | options ...
 *  fragment header (44), 8 bytes:
 *  | next header | reserved | offset (13 bits) | 2 reserved bits | M | identification (32 bits) |
 * ```
 * Which headers are walked follows gVisor's `IPv6PayloadIterator`: hop-by-hop, routing, fragment,
 * destination options and no-next-header; anything else (AH, ESP, mobility, ...) is the upper layer.
 * Option contents are not interpreted here (the network endpoint does that), only lengths.
 * Jumbograms (RFC 2675: payload length 0 with a jumbo option) are not supported.
 * Encoders for every header of the chain close the file (`encodeIpv6`, `encodeIpv6Options`,
 * `encodeIpv6Routing`, `encodeIpv6Fragment`); kept with the walk they mirror, hence past 400 lines.
 * Thread: any; a view belongs to the thread that made it. Allocation: none.
 */

import { IPV6_ADDRESS_SIZE } from '../address.ts';

const EMPTY = new DataView(new ArrayBuffer(0));
const VERSION_TC_FLOW = 0, PAYLOAD_LENGTH = 4, NEXT_HEADER = 6, HOP_LIMIT = 7; // byte offsets (RFC 8200 §3)
const SRC_ADDR = 8, DST_ADDR = 24;
const EXT_NEXT_HEADER = 0, EXT_LENGTH = 1; // in every extension header (RFC 8200 §4.3-4.6)
const FRAG_OFFSET_FLAGS = 2, FRAG_ID = 4; // in the fragment header (RFC 8200 §4.5)
const ROUTING_TYPE = 2, SEGMENTS_LEFT = 3; // in the routing header (RFC 8200 §4.4)

/** Size of the fixed IPv6 header. */
export const IPV6_FIXED_HEADER_SIZE = 40;
/** The version nibble of IPv6. */
export const IPV6_VERSION = 6;
/** Next-header value: Hop-by-Hop Options, only directly after the fixed header (RFC 8200 §4.3). */
export const IPV6_HOP_BY_HOP_OPTIONS_HEADER = 0;
/** Next-header value: Routing header (RFC 8200 §4.4). */
export const IPV6_ROUTING_HEADER = 43;
/** Next-header value: Fragment header (RFC 8200 §4.5). */
export const IPV6_FRAGMENT_HEADER = 44;
/** Next-header value: nothing follows (RFC 8200 §4.7). */
export const IPV6_NO_NEXT_HEADER = 59;
/** Next-header value: Destination Options (RFC 8200 §4.6). */
export const IPV6_DESTINATION_OPTIONS_HEADER = 60;
/** Size of the fragment header, and the unit of every other extension header's length. */
export const IPV6_FRAGMENT_HEADER_SIZE = 8;
/** Largest hop-by-hop, routing or destination-options header: length field 255, (255 + 1) * 8 bytes. */
export const IPV6_MAXIMUM_EXTENSION_HEADER_SIZE = 2048;
/** Option type Pad1: a single zero byte, no length or data (RFC 8200 §4.2). */
export const IPV6_OPTION_PAD1 = 0;
/** Option type PadN: type, length n, then n zero bytes, padding n + 2 bytes (RFC 8200 §4.2). */
export const IPV6_OPTION_PADN = 1;
/**
 * Most extension headers walked before giving up. RFC 8200 §4.1 allows each header once
 * (destination options twice), so a sane chain has at most 6; 8 leaves slack and bounds the loop.
 */
export const IPV6_MAXIMUM_EXTENSION_HEADERS = 8;

/** Why an IPv6 packet was rejected; indexes the `rxDropsByReason` counters. */
export const Ipv6Reason = {
  Ok: 0,
  /** Fewer than 40 bytes. */
  Truncated: 1,
  /** The version nibble is not 6. */
  BadVersion: 2,
  /** 40 + payload length runs past the end. */
  BadPayloadLength: 3,
  /** An extension header runs past the payload, or a second fragment header. */
  BadExtensionHeader: 4,
  /** More than `IPV6_MAXIMUM_EXTENSION_HEADERS` extension headers. */
  TooManyExtensionHeaders: 5,
  /** A hop-by-hop header anywhere but directly after the fixed header (RFC 8200 §4.3). */
  HopByHopNotFirst: 6,
} as const;
export type Ipv6Reason = (typeof Ipv6Reason)[keyof typeof Ipv6Reason];

/** What `encodeIpv6()` writes: the fixed header. */
export interface Ipv6Fields {
  trafficClass: number;
  /** 20 bits. */
  flowLabel: number;
  /** Bytes after the fixed header, extension headers included. */
  payloadLength: number;
  nextHeader: number;
  hopLimit: number;
  /** Sixteen bytes, e.g. filled by `parseIpv6()`. */
  sourceAddress: Uint8Array;
  /** Sixteen bytes. */
  destinationAddress: Uint8Array;
}

/** What `encodeIpv6Fragment()` writes. */
export interface Ipv6FragmentFields {
  nextHeader: number;
  /** In bytes, a multiple of 8. */
  fragmentOffset: number;
  moreFragments: boolean;
  /** Unsigned 32-bit identification. */
  id: number;
}

/** One option of a hop-by-hop or destination-options header, for `encodeIpv6Options()`. */
export interface Ipv6OptionFields {
  /**
   * Option type; its top two bits say what a node that does not know it must do (RFC 8200 §4.2).
   * `IPV6_OPTION_PAD1` is written as its one byte (its `data` must be empty).
   */
  type: number;
  /** Option data, at most 255 bytes; the length byte is its length. */
  data: Uint8Array;
  /**
   * Alignment requirement `xn+y` (RFC 8200 §4.2) as x: the option's type byte is placed, after Pad1 or
   * PadN, at a multiple of x plus `alignmentOffset` from the start of the header. 1, 2, 4 or 8; default 1.
   */
  alignment?: number;
  /** The y of `xn+y`, below `alignment`. Default 0. */
  alignmentOffset?: number;
}

/** What `encodeIpv6Options()` writes: a hop-by-hop (next header 0) or destination-options (60) header. */
export interface Ipv6OptionsFields {
  nextHeader: number;
  /** Written in order; padding is added only where `alignment` asks for it and at the end. */
  options: readonly Ipv6OptionFields[];
}

/** What `encodeIpv6Routing()` writes (RFC 8200 §4.4). */
export interface Ipv6RoutingFields {
  nextHeader: number;
  /** Routing type: 2 Mobile IPv6 (RFC 6275), 3 RPL (RFC 6554), 4 segment routing (RFC 8754); 0 is deprecated (RFC 5095). */
  routingType: number;
  /** Route segments still to visit. */
  segmentsLeft: number;
  /**
   * Type-specific data after the first four bytes (for type 0 and 2: four reserved bytes, then the
   * addresses), zero-filled up to a multiple of 8 bytes in all. Default: none (four zero bytes).
   */
  data?: Uint8Array;
}

/**
 * An IPv6 fixed header inside memory it does not own: re-point it with `reset()` per packet, no
 * allocation. Trust its fields only after `validateIpv6()` returned `Ok` for them.
 */
export class Ipv6Header {
  view: DataView = EMPTY; // frames live in a SharedArrayBuffer: keep the wide type
  offset = 0;

  /** Points this view at the header starting at `offset` in `view`. */
  reset(view: DataView, offset: number): this {
    this.view = view;
    this.offset = offset;
    return this;
  }

  /** Returns the version nibble (6 for a valid header). */
  get version(): number { return this.view.getUint8(this.offset + VERSION_TC_FLOW) >>> 4; }
  /** Returns the traffic class (DSCP and ECN). */
  get trafficClass(): number { return (this.view.getUint16(this.offset + VERSION_TC_FLOW) >>> 4) & 0xff; }
  /** Sets the traffic class, keeping version and flow label. */
  set trafficClass(tc: number) {
    const at = this.offset + VERSION_TC_FLOW;
    this.view.setUint16(at, (this.view.getUint16(at) & 0xf00f) | ((tc & 0xff) << 4));
  }
  /** Returns the 20-bit flow label. */
  get flowLabel(): number { return this.view.getUint32(this.offset + VERSION_TC_FLOW) & 0xfffff; }
  /** Sets the flow label, keeping version and traffic class. */
  set flowLabel(label: number) {
    const at = this.offset + VERSION_TC_FLOW;
    this.view.setUint32(at, ((this.view.getUint32(at) & 0xfff00000) | (label & 0xfffff)) >>> 0);
  }
  /** Returns the payload length: bytes after the fixed header, extension headers included. */
  get payloadLength(): number { return this.view.getUint16(this.offset + PAYLOAD_LENGTH); }
  /** Sets the payload length. */
  set payloadLength(length: number) { this.view.setUint16(this.offset + PAYLOAD_LENGTH, length); }
  /** Returns the next-header value of the fixed header. */
  get nextHeader(): number { return this.view.getUint8(this.offset + NEXT_HEADER); }
  /** Sets the next-header value of the fixed header. */
  set nextHeader(next: number) { this.view.setUint8(this.offset + NEXT_HEADER, next); }
  /** Returns the hop limit. */
  get hopLimit(): number { return this.view.getUint8(this.offset + HOP_LIMIT); }
  /** Sets the hop limit. */
  set hopLimit(limit: number) { this.view.setUint8(this.offset + HOP_LIMIT, limit); }
  /** Returns the absolute offset of the 16-byte source address. */
  get sourceAddressOffset(): number { return this.offset + SRC_ADDR; }
  /** Returns the absolute offset of the 16-byte destination address. */
  get destinationAddressOffset(): number { return this.offset + DST_ADDR; }
  /** Returns where the payload (the first extension header, if any) starts in the same memory. */
  get payloadOffset(): number { return this.offset + IPV6_FIXED_HEADER_SIZE; }
}

/**
 * Where a walk over the extension headers landed; filled by `walkIpv6()`. Make one per thread and
 * reuse it: the walk allocates nothing. Fields hold -1/false when not present.
 */
export class Ipv6Chain {
  /** The upper-layer protocol (TCP 6, UDP 17, ICMPv6 58, `IPV6_NO_NEXT_HEADER`, ...), -1 before a walk. */
  transportProtocol = -1;
  /**
   * Absolute offset of the upper-layer header; for a non-first fragment, of the fragment data
   * (which holds no header: `transportProtocol` is what the fragment header says it carries).
   */
  transportOffset = -1;
  /** Where the packet ends: offset + 40 + payload length (link padding excluded). */
  end = -1;
  /** Extension headers walked. */
  extensionHeaders = 0;
  /** Absolute offset of the fragment header, or -1. */
  fragmentHeaderOffset = -1;
  /** A fragment header with a non-zero offset or M set: part of a datagram to reassemble. */
  isFragment = false;
  /** A fragment header with offset 0 and M clear (RFC 6946): a whole datagram, processed as one. */
  atomicFragment = false;
  /** The fragment offset in bytes (0 without a fragment header). */
  fragmentOffset = 0;
  /** The M flag of the fragment header. */
  moreFragments = false;
  /** The fragment identification (unsigned 32 bits). */
  fragmentId = 0;

  /** Clears every field to "nothing found". */
  reset(): this {
    this.transportProtocol = -1;
    this.transportOffset = -1;
    this.end = -1;
    this.extensionHeaders = 0;
    this.fragmentHeaderOffset = -1;
    this.isFragment = false;
    this.atomicFragment = false;
    this.fragmentOffset = 0;
    this.moreFragments = false;
    this.fragmentId = 0;
    return this;
  }
}

/**
 * Checks the IPv6 packet at `offset` (the frame ending at `end`) and walks its extension headers into
 * `out`. A non-first fragment ends the walk at its fragment header: what follows is fragment data.
 * On a failure `out` holds what was found before it. Never throws; allocates nothing.
 */
export function walkIpv6(view: DataView, offset: number, end: number, out: Ipv6Chain): Ipv6Reason {
  out.reset();
  if (end - offset < IPV6_FIXED_HEADER_SIZE) return Ipv6Reason.Truncated;
  if (view.getUint8(offset + VERSION_TC_FLOW) >>> 4 !== IPV6_VERSION) return Ipv6Reason.BadVersion;
  const packetEnd = offset + IPV6_FIXED_HEADER_SIZE + view.getUint16(offset + PAYLOAD_LENGTH);
  if (packetEnd > end) return Ipv6Reason.BadPayloadLength;
  out.end = packetEnd;
  const first = offset + IPV6_FIXED_HEADER_SIZE;
  let next = view.getUint8(offset + NEXT_HEADER);
  let at = first;
  for (;;) {
    if (next === IPV6_HOP_BY_HOP_OPTIONS_HEADER && at !== first) return Ipv6Reason.HopByHopNotFirst;
    switch (next) {
      case IPV6_HOP_BY_HOP_OPTIONS_HEADER:
      case IPV6_ROUTING_HEADER:
      case IPV6_DESTINATION_OPTIONS_HEADER: {
        if (out.extensionHeaders === IPV6_MAXIMUM_EXTENSION_HEADERS) return Ipv6Reason.TooManyExtensionHeaders;
        if (packetEnd - at < 8) return Ipv6Reason.BadExtensionHeader;
        const length = (view.getUint8(at + EXT_LENGTH) + 1) * 8;
        if (at + length > packetEnd) return Ipv6Reason.BadExtensionHeader;
        next = view.getUint8(at + EXT_NEXT_HEADER);
        at += length;
        out.extensionHeaders++;
        break;
      }
      case IPV6_FRAGMENT_HEADER: {
        if (out.extensionHeaders === IPV6_MAXIMUM_EXTENSION_HEADERS) return Ipv6Reason.TooManyExtensionHeaders;
        if (packetEnd - at < IPV6_FRAGMENT_HEADER_SIZE || out.fragmentHeaderOffset >= 0) {
          return Ipv6Reason.BadExtensionHeader;
        }
        const offsetFlags = view.getUint16(at + FRAG_OFFSET_FLAGS);
        out.fragmentHeaderOffset = at;
        out.fragmentOffset = offsetFlags & 0xfff8; // 13-bit field of 8-byte units: already bytes in place
        out.moreFragments = (offsetFlags & 1) !== 0;
        out.fragmentId = view.getUint32(at + FRAG_ID);
        out.isFragment = out.fragmentOffset !== 0 || out.moreFragments;
        out.atomicFragment = !out.isFragment;
        next = view.getUint8(at + EXT_NEXT_HEADER);
        at += IPV6_FRAGMENT_HEADER_SIZE;
        out.extensionHeaders++;
        if (out.fragmentOffset !== 0) {
          out.transportProtocol = next;
          out.transportOffset = at;
          return Ipv6Reason.Ok;
        }
        break;
      }
      default: // the upper layer, or IPV6_NO_NEXT_HEADER
        out.transportProtocol = next;
        out.transportOffset = at;
        return Ipv6Reason.Ok;
    }
  }
}

const SCRATCH = new Ipv6Chain(); // one per thread (module instance), used only inside validateIpv6

/** Checks the IPv6 packet at `offset`, the frame ending at `end`, extension headers included. Never throws. */
export function validateIpv6(view: DataView, offset: number, end: number): Ipv6Reason {
  return walkIpv6(view, offset, end, SCRATCH);
}

/** Writes the 40-byte fixed header at `offset` and returns 40. Precondition: room. Allocation: none. */
export function encodeIpv6(view: DataView, offset: number, fields: Ipv6Fields): number {
  view.setUint32(
    offset + VERSION_TC_FLOW,
    ((IPV6_VERSION << 28) | ((fields.trafficClass & 0xff) << 20) | (fields.flowLabel & 0xfffff)) >>> 0,
  );
  view.setUint16(offset + PAYLOAD_LENGTH, fields.payloadLength);
  view.setUint8(offset + NEXT_HEADER, fields.nextHeader);
  view.setUint8(offset + HOP_LIMIT, fields.hopLimit);
  for (let i = 0; i < IPV6_ADDRESS_SIZE; i++) {
    view.setUint8(offset + SRC_ADDR + i, fields.sourceAddress[i] ?? 0);
    view.setUint8(offset + DST_ADDR + i, fields.destinationAddress[i] ?? 0);
  }
  return IPV6_FIXED_HEADER_SIZE;
}

/** Writes an 8-byte fragment header at `offset` and returns 8. Precondition: room. Allocation: none. */
export function encodeIpv6Fragment(view: DataView, offset: number, fields: Ipv6FragmentFields): number {
  view.setUint8(offset + EXT_NEXT_HEADER, fields.nextHeader);
  view.setUint8(offset + 1, 0); // reserved
  view.setUint16(offset + FRAG_OFFSET_FLAGS, (fields.fragmentOffset & 0xfff8) | (fields.moreFragments ? 1 : 0));
  view.setUint32(offset + FRAG_ID, fields.id);
  return IPV6_FRAGMENT_HEADER_SIZE;
}

/**
 * Writes a hop-by-hop or destination-options header at `offset`: next header, length in 8-byte units
 * beyond the first, the options in order with Pad1/PadN before any that asks for alignment, then
 * Pad1/PadN to a multiple of 8 bytes (RFC 8200 §4.2, as gVisor's `IPv6SerializableHopByHopExtHdr`).
 * Returns the bytes written, or -1 with nothing written when the header would not fit in `view` or
 * exceed 2048 bytes, or an option is malformed (data over 255 bytes, Pad1 with data, bad alignment).
 * Never throws. Allocation: none; not for the hot path (it walks the options twice).
 */
export function encodeIpv6Options(view: DataView, offset: number, fields: Ipv6OptionsFields): number {
  const used = layOutOptions(fields.options, view, -1);
  if (used < 0) return -1;
  const length = (used + 7) & ~7;
  if (length > IPV6_MAXIMUM_EXTENSION_HEADER_SIZE || offset < 0 || offset + length > view.byteLength) return -1;
  view.setUint8(offset + EXT_NEXT_HEADER, fields.nextHeader);
  view.setUint8(offset + EXT_LENGTH, length / 8 - 1);
  layOutOptions(fields.options, view, offset);
  writeOptionPadding(view, offset + used, length - used);
  return length;
}

/**
 * Walks `options` as laid out after the two-byte header and returns where they end (relative to the
 * header), or -1 for a malformed option. Writes them at `offset` unless it is -1.
 */
function layOutOptions(options: readonly Ipv6OptionFields[], view: DataView, offset: number): number {
  let at = 2; // after next header and length
  for (const option of options) {
    if (at > IPV6_MAXIMUM_EXTENSION_HEADER_SIZE) return -1; // also bounds a huge list
    const x = option.alignment ?? 1;
    const y = option.alignmentOffset ?? 0;
    if (x !== 1 && x !== 2 && x !== 4 && x !== 8) return -1;
    if (y < 0 || y >= x || !Number.isInteger(y)) return -1;
    const pad = (y - (at % x) + x) % x;
    if (option.type === IPV6_OPTION_PAD1) {
      if (option.data.length !== 0) return -1;
      if (offset >= 0) { writeOptionPadding(view, offset + at, pad); view.setUint8(offset + at + pad, IPV6_OPTION_PAD1); }
      at += pad + 1;
      continue;
    }
    if (option.data.length > 255) return -1;
    if (offset >= 0) {
      writeOptionPadding(view, offset + at, pad);
      view.setUint8(offset + at + pad, option.type);
      view.setUint8(offset + at + pad + 1, option.data.length);
      for (let i = 0; i < option.data.length; i++) view.setUint8(offset + at + pad + 2 + i, option.data[i] ?? 0);
    }
    at += pad + 2 + option.data.length;
  }
  return at;
}

/** Writes `n` bytes of padding at `at`: nothing, one Pad1, or a PadN with n - 2 zero bytes. */
function writeOptionPadding(view: DataView, at: number, n: number): void {
  if (n === 0) return;
  if (n === 1) { view.setUint8(at, IPV6_OPTION_PAD1); return; }
  view.setUint8(at, IPV6_OPTION_PADN);
  view.setUint8(at + 1, n - 2);
  for (let i = 2; i < n; i++) view.setUint8(at + i, 0);
}

/**
 * Writes a routing header at `offset`: next header, length in 8-byte units beyond the first, routing
 * type, segments left, then `data` zero-filled to a multiple of 8 bytes (RFC 8200 §4.4). Returns the
 * bytes written, or -1 with nothing written when it would not fit in `view` or exceed 2048 bytes.
 * Never throws. Allocation: none.
 */
export function encodeIpv6Routing(view: DataView, offset: number, fields: Ipv6RoutingFields): number {
  const data = fields.data;
  const dataLength = data === undefined ? 0 : data.length;
  const length = Math.max(8, (4 + dataLength + 7) & ~7);
  if (length > IPV6_MAXIMUM_EXTENSION_HEADER_SIZE || offset < 0 || offset + length > view.byteLength) return -1;
  view.setUint8(offset + EXT_NEXT_HEADER, fields.nextHeader);
  view.setUint8(offset + EXT_LENGTH, length / 8 - 1);
  view.setUint8(offset + ROUTING_TYPE, fields.routingType);
  view.setUint8(offset + SEGMENTS_LEFT, fields.segmentsLeft);
  for (let i = 4; i < length; i++) view.setUint8(offset + i, data?.[i - 4] ?? 0);
  return length;
}

/** Tells whether the 16-byte addresses at `a[aOffset]` and `b[bOffset]` are equal. Allocation: none. */
export function ipv6AddressEquals(a: DataView, aOffset: number, b: DataView, bOffset: number): boolean {
  return (
    a.getUint32(aOffset) === b.getUint32(bOffset) &&
    a.getUint32(aOffset + 4) === b.getUint32(bOffset + 4) &&
    a.getUint32(aOffset + 8) === b.getUint32(bOffset + 8) &&
    a.getUint32(aOffset + 12) === b.getUint32(bOffset + 12)
  );
}

/** Copies the 16-byte address at `from[fromOffset]` to `to[toOffset]`. Allocation: none. */
export function copyIpv6Address(from: DataView, fromOffset: number, to: DataView, toOffset: number): void {
  for (let i = 0; i < IPV6_ADDRESS_SIZE; i += 4) to.setUint32(toOffset + i, from.getUint32(fromOffset + i));
}
