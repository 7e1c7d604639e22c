/**
 * ICMPv6 messages (RFC 4443) and the Neighbor Discovery messages (RFC 4861) the stack answers,
 * field names as in gVisor's `header.ICMPv6` and `header.NDPNeighborSolicit/Advert`.
 *
 * ```
 *  0      8      16             31
 *  +------+------+--------------+
 *  | type | code |   checksum   |  0
 *  +------+------+--------------+
 *  |    rest of header (4)      |  4   echo: ident | sequence; packet too big: MTU (32 bits);
 *  +----------------------------+       parameter problem: pointer (32 bits); NA: R S O flags
 *  | NS/NA: target address (16) |  8
 *  | NS/NA: NDP options ...     | 24
 * ```
 * Thread: any; a view belongs to the thread that made it. Allocation: none. The checksum covers an
 * IPv6 pseudo-header; `checksum.ts` computes and verifies it.
 */

const EMPTY = new DataView(new ArrayBuffer(0));
const TYPE = 0, CODE = 1, CHECKSUM = 2, IDENT = 4, SEQUENCE = 6, MTU = 4, POINTER = 4; // byte offsets (RFC 4443)
const NA_FLAGS = 4, TARGET = 8; // RFC 4861 §4.3, §4.4

/** Size of every ICMPv6 header: type, code, checksum and 4 type-specific bytes. */
export const ICMPV6_MINIMUM_SIZE = 8;
/** Size of a neighbor solicitation or advertisement before its options (RFC 4861 §4.3, §4.4). */
export const ICMPV6_NEIGHBOR_MINIMUM_SIZE = 24;
/** Size of a router advertisement before its options (RFC 4861 §4.2). */
export const ICMPV6_ROUTER_ADVERT_MINIMUM_SIZE = 16;
/** Size of a redirect before its options (RFC 4861 §4.5). */
export const ICMPV6_REDIRECT_MINIMUM_SIZE = 40;

/** Type: destination unreachable (RFC 4443). */
export const ICMPV6_DST_UNREACHABLE = 1;
/** Type: packet too big; carries the MTU (RFC 4443). */
export const ICMPV6_PACKET_TOO_BIG = 2;
/** Type: time exceeded (RFC 4443). */
export const ICMPV6_TIME_EXCEEDED = 3;
/** Type: parameter problem (RFC 4443). */
export const ICMPV6_PARAM_PROBLEM = 4;
/** Type: echo request (RFC 4443). */
export const ICMPV6_ECHO_REQUEST = 128;
/** Type: echo reply (RFC 4443). */
export const ICMPV6_ECHO_REPLY = 129;
/** Type: multicast listener query (RFC 2710). */
export const ICMPV6_MULTICAST_LISTENER_QUERY = 130;
/** Type: multicast listener report (RFC 2710). */
export const ICMPV6_MULTICAST_LISTENER_REPORT = 131;
/** Type: multicast listener done (RFC 2710). */
export const ICMPV6_MULTICAST_LISTENER_DONE = 132;
/** Type: router solicitation (RFC 4861). */
export const ICMPV6_ROUTER_SOLICIT = 133;
/** Type: router advertisement (RFC 4861). */
export const ICMPV6_ROUTER_ADVERT = 134;
/** Type: neighbor solicitation (RFC 4861). */
export const ICMPV6_NEIGHBOR_SOLICIT = 135;
/** Type: neighbor advertisement (RFC 4861). */
export const ICMPV6_NEIGHBOR_ADVERT = 136;
/** Type: redirect (RFC 4861). */
export const ICMPV6_REDIRECT = 137;
/** Type: version 2 multicast listener report (RFC 3810). */
export const ICMPV6_MULTICAST_LISTENER_V2_REPORT = 143;

/** Destination unreachable code: no route to destination (RFC 4443). */
export const ICMPV6_NETWORK_UNREACHABLE = 0;
/** Destination unreachable code: administratively prohibited (RFC 4443). */
export const ICMPV6_PROHIBITED = 1;
/** Destination unreachable code: address unreachable (RFC 4443). */
export const ICMPV6_ADDRESS_UNREACHABLE = 3;
/** Destination unreachable code: port unreachable (RFC 4443). */
export const ICMPV6_PORT_UNREACHABLE = 4;
/** Time exceeded code: hop limit exceeded in transit (RFC 4443). */
export const ICMPV6_HOP_LIMIT_EXCEEDED = 0;
/** Time exceeded code: fragment reassembly time exceeded (RFC 4443). */
export const ICMPV6_REASSEMBLY_TIMEOUT = 1;
/** Parameter problem code: erroneous header field (RFC 4443). */
export const ICMPV6_ERRONEOUS_HEADER = 0;
/** Parameter problem code: unrecognized next header (RFC 4443). */
export const ICMPV6_UNKNOWN_HEADER = 1;
/** Parameter problem code: unrecognized IPv6 option (RFC 4443). */
export const ICMPV6_UNKNOWN_OPTION = 2;

/** Neighbor advertisement flag: the sender is a router (RFC 4861 §4.4). */
export const NDP_NA_ROUTER_FLAG = 0x80;
/** Neighbor advertisement flag: sent in response to a solicitation. */
export const NDP_NA_SOLICITED_FLAG = 0x40;
/** Neighbor advertisement flag: override an existing cache entry. */
export const NDP_NA_OVERRIDE_FLAG = 0x20;

/** Why an ICMPv6 message was rejected; indexes the `rxDropsByReason` counters. */
export const Icmpv6Reason = {
  Ok: 0,
  /** Fewer than 8 bytes, or shorter than its type's fixed part (NS/NA 24, RA 16, redirect 40). */
  Truncated: 1,
} as const;
export type Icmpv6Reason = (typeof Icmpv6Reason)[keyof typeof Icmpv6Reason];

/** What `encodeIcmpv6()` writes; for packet too big or parameter problem, set `mtu`/`pointer` after. */
export interface Icmpv6Fields {
  type: number;
  code: number;
  /** Written as given (0 until `checksum.ts` fills it in). */
  checksum: number;
  /** Bytes 4-5: the echo identifier; 0 for other types. */
  ident: number;
  /** Bytes 6-7: the echo sequence number; 0 for other types. */
  sequence: number;
}

/**
 * An ICMPv6 header inside memory it does not own: re-point it with `reset()` per packet, no
 * allocation. Trust its fields only after `validateIcmpv6()` returned `Ok` for them.
 */
export class Icmpv6Header {
  view: DataView = EMPTY; // frames live in a SharedArrayBuffer: keep the wide type
  offset = 0;

  /** Points this view at the header starting at `offset` in `view`. */
  reset(view: DataView, offset: number): this {
    this.view = view;
    this.offset = offset;
    return this;
  }

  /** Returns the message type (`ICMPV6_ECHO_REQUEST`, ...). */
  get type(): number { return this.view.getUint8(this.offset + TYPE); }
  /** Sets the message type (the checksum is not updated). */
  set type(type: number) { this.view.setUint8(this.offset + TYPE, type); }
  /** Returns the code. */
  get code(): number { return this.view.getUint8(this.offset + CODE); }
  /** Sets the code. */
  set code(code: number) { this.view.setUint8(this.offset + CODE, code); }
  /** Returns the checksum as stored. */
  get checksum(): number { return this.view.getUint16(this.offset + CHECKSUM); }
  /** Sets the checksum. */
  set checksum(checksum: number) { this.view.setUint16(this.offset + CHECKSUM, checksum); }
  /** Returns the echo identifier (echo request/reply). */
  get ident(): number { return this.view.getUint16(this.offset + IDENT); }
  /** Sets the echo identifier. */
  set ident(ident: number) { this.view.setUint16(this.offset + IDENT, ident); }
  /** Returns the echo sequence number (echo request/reply). */
  get sequence(): number { return this.view.getUint16(this.offset + SEQUENCE); }
  /** Sets the echo sequence number. */
  set sequence(sequence: number) { this.view.setUint16(this.offset + SEQUENCE, sequence); }
  /** Returns the MTU of a packet too big message (unsigned 32 bits). */
  get mtu(): number { return this.view.getUint32(this.offset + MTU); }
  /** Sets the MTU of a packet too big message. */
  set mtu(mtu: number) { this.view.setUint32(this.offset + MTU, mtu); }
  /** Returns the byte pointer of a parameter problem message (unsigned 32 bits). */
  get pointer(): number { return this.view.getUint32(this.offset + POINTER); }
  /** Sets the byte pointer of a parameter problem message. */
  set pointer(pointer: number) { this.view.setUint32(this.offset + POINTER, pointer); }
  /** Returns the R/S/O flag byte of a neighbor advertisement (`NDP_NA_*_FLAG`). */
  get neighborAdvertFlags(): number { return this.view.getUint8(this.offset + NA_FLAGS); }
  /** Sets the R/S/O flag byte of a neighbor advertisement. */
  set neighborAdvertFlags(flags: number) { this.view.setUint8(this.offset + NA_FLAGS, flags); }
  /** Returns the absolute offset of the 16-byte target address of a neighbor solicitation/advertisement. */
  get targetAddressOffset(): number { return this.offset + TARGET; }
  /** Returns the absolute offset of the NDP options of a neighbor solicitation/advertisement. */
  get ndpOptionsOffset(): number { return this.offset + ICMPV6_NEIGHBOR_MINIMUM_SIZE; }
  /** Returns where the data (echo) or the quoted packet (errors) starts in the same memory. */
  get payloadOffset(): number { return this.offset + ICMPV6_MINIMUM_SIZE; }
  /** Tells whether this is an error message (types 0..127, RFC 4443 §2.1). */
  get isError(): boolean { return this.type < 128; }
}

/** Returns the fixed size of an ICMPv6 message of `type` before any options or data. */
function minimumSize(type: number): number {
  switch (type) {
    case ICMPV6_NEIGHBOR_SOLICIT:
    case ICMPV6_NEIGHBOR_ADVERT:
      return ICMPV6_NEIGHBOR_MINIMUM_SIZE;
    case ICMPV6_ROUTER_ADVERT:
      return ICMPV6_ROUTER_ADVERT_MINIMUM_SIZE;
    case ICMPV6_REDIRECT:
      return ICMPV6_REDIRECT_MINIMUM_SIZE;
    default:
      return ICMPV6_MINIMUM_SIZE;
  }
}

/** Checks the ICMPv6 message at `offset`, the IPv6 payload ending at `end`. Never throws. */
export function validateIcmpv6(view: DataView, offset: number, end: number): Icmpv6Reason {
  if (end - offset < ICMPV6_MINIMUM_SIZE) return Icmpv6Reason.Truncated;
  if (end - offset < minimumSize(view.getUint8(offset + TYPE))) return Icmpv6Reason.Truncated;
  return Icmpv6Reason.Ok;
}

/** Writes an 8-byte ICMPv6 header at `offset` and returns 8. Precondition: room. Allocation: none. */
export function encodeIcmpv6(view: DataView, offset: number, fields: Icmpv6Fields): number {
  view.setUint8(offset + TYPE, fields.type);
  view.setUint8(offset + CODE, fields.code);
  view.setUint16(offset + CHECKSUM, fields.checksum);
  view.setUint16(offset + IDENT, fields.ident);
  view.setUint16(offset + SEQUENCE, fields.sequence);
  return ICMPV6_MINIMUM_SIZE;
}
