/**
 * ICMPv4 messages (RFC 792), field names as in gVisor's `header.ICMPv4`.
 *
 * ```
 *  0      8      16             31
 *  +------+------+--------------+
 *  | type | code |   checksum   |  0
 *  +------+------+--------------+
 *  |    rest of header (4)      |  4   echo: ident | sequence; frag needed: unused | next-hop MTU;
 *  +----------------------------+       parameter problem: pointer | unused
 *  | data / original datagram   |  8   errors quote the offending IP header + 8 bytes
 * ```
 * Thread: any; a view belongs to the thread that made it. Allocation: none. The checksum (over the
 * whole message, no pseudo-header) is computed and verified by `checksum.ts`.
 */

const EMPTY = new DataView(new ArrayBuffer(0));
const TYPE = 0, CODE = 1, CHECKSUM = 2, IDENT = 4, SEQUENCE = 6, MTU = 6, POINTER = 4; // byte offsets (RFC 792)

/** Size of every ICMPv4 header: type, code, checksum and 4 type-specific bytes. */
export const ICMPV4_MINIMUM_SIZE = 8;

/** Type: echo reply (RFC 792). */
export const ICMPV4_ECHO_REPLY = 0;
/** Type: destination unreachable (RFC 792). */
export const ICMPV4_DST_UNREACHABLE = 3;
/** Type: source quench, deprecated (RFC 6633). */
export const ICMPV4_SRC_QUENCH = 4;
/** Type: redirect (RFC 792). */
export const ICMPV4_REDIRECT = 5;
/** Type: echo request (RFC 792). */
export const ICMPV4_ECHO = 8;
/** Type: time exceeded (RFC 792). */
export const ICMPV4_TIME_EXCEEDED = 11;
/** Type: parameter problem (RFC 792). */
export const ICMPV4_PARAM_PROBLEM = 12;
/** Type: timestamp request (RFC 792). */
export const ICMPV4_TIMESTAMP = 13;
/** Type: timestamp reply (RFC 792). */
export const ICMPV4_TIMESTAMP_REPLY = 14;

/** Destination unreachable code: net unreachable (RFC 792). */
export const ICMPV4_NET_UNREACHABLE = 0;
/** Destination unreachable code: host unreachable (RFC 792). */
export const ICMPV4_HOST_UNREACHABLE = 1;
/** Destination unreachable code: protocol unreachable (RFC 792). */
export const ICMPV4_PROTO_UNREACHABLE = 2;
/** Destination unreachable code: port unreachable (RFC 792). */
export const ICMPV4_PORT_UNREACHABLE = 3;
/** Destination unreachable code: fragmentation needed and DF set; carries the next-hop MTU (RFC 1191). */
export const ICMPV4_FRAG_NEEDED = 4;
/** Destination unreachable code: communication administratively prohibited (RFC 1812). */
export const ICMPV4_ADMIN_PROHIBITED = 13;
/** Time exceeded code: TTL exceeded in transit (RFC 792). */
export const ICMPV4_TTL_EXCEEDED = 0;
/** Time exceeded code: fragment reassembly time exceeded (RFC 792). */
export const ICMPV4_REASSEMBLY_TIMEOUT = 1;

/** Why an ICMPv4 message was rejected; indexes the `rxDropsByReason` counters. */
export const Icmpv4Reason = {
  Ok: 0,
  /** Fewer than 8 bytes. */
  Truncated: 1,
} as const;
export type Icmpv4Reason = (typeof Icmpv4Reason)[keyof typeof Icmpv4Reason];

/** What `encodeIcmpv4()` writes. */
export interface Icmpv4Fields {
  type: number;
  code: number;
  /** Written as given (0 until `checksum.ts` fills it in). */
  checksum: number;
  /**
   * Bytes 4-5: the echo identifier; 0 for errors. (For other types `ident` and `sequence` are just
   * the 4 "rest of header" bytes: fragmentation needed puts the next-hop MTU in `sequence`.)
   */
  ident: number;
  /** Bytes 6-7: the echo sequence number; the next-hop MTU for fragmentation needed; else 0. */
  sequence: number;
}

/**
 * An ICMPv4 header inside memory it does not own: re-point it with `reset()` per packet, no
 * allocation. Trust its fields only after `validateIcmpv4()` returned `Ok` for them.
 */
export class Icmpv4Header {
  view: DataView = EMPTY; // frames live in a SharedArrayBuffer: keep the wide type
  offset = 0;

  /** Points this view at the header starting at `offset` in `view`. */
  reset(view: DataView, offset: number): this {
    this.view = view;
    this.offset = offset;
    return this;
  }

  /** Returns the message type (`ICMPV4_ECHO`, ...). */
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
  /** Returns the next-hop MTU of a fragmentation-needed message (RFC 1191); 0 from old routers. */
  get mtu(): number { return this.view.getUint16(this.offset + MTU); }
  /** Sets the next-hop MTU. */
  set mtu(mtu: number) { this.view.setUint16(this.offset + MTU, mtu); }
  /** Returns the byte pointer of a parameter problem message. */
  get pointer(): number { return this.view.getUint8(this.offset + POINTER); }
  /** Sets the byte pointer of a parameter problem message. */
  set pointer(pointer: number) { this.view.setUint8(this.offset + POINTER, pointer); }
  /** Returns where the data (echo) or the quoted datagram (errors) starts in the same memory. */
  get payloadOffset(): number { return this.offset + ICMPV4_MINIMUM_SIZE; }
  /** Tells whether this is an error message quoting a datagram (unreachable, time exceeded, ...). */
  get isError(): boolean {
    const type = this.type;
    return type === ICMPV4_DST_UNREACHABLE || type === ICMPV4_TIME_EXCEEDED || type === ICMPV4_PARAM_PROBLEM ||
      type === ICMPV4_SRC_QUENCH || type === ICMPV4_REDIRECT;
  }
}

/** Checks the ICMPv4 message at `offset`, the IP payload ending at `end`. Never throws. */
export function validateIcmpv4(view: DataView, offset: number, end: number): Icmpv4Reason {
  if (end - offset < ICMPV4_MINIMUM_SIZE) return Icmpv4Reason.Truncated;
  return Icmpv4Reason.Ok;
}

/** Writes an 8-byte ICMPv4 header at `offset` and returns 8. Precondition: room. Allocation: none. */
export function encodeIcmpv4(view: DataView, offset: number, fields: Icmpv4Fields): number {
  view.setUint8(offset + TYPE, fields.type);
  view.setUint8(offset + CODE, fields.code);
  view.setUint16(offset + CHECKSUM, fields.checksum);
  view.setUint16(offset + IDENT, fields.ident);
  view.setUint16(offset + SEQUENCE, fields.sequence);
  return ICMPV4_MINIMUM_SIZE;
}
