/**
 * UDP headers (RFC 768), field names as in gVisor's `header.UDP`.
 *
 * ```
 *  0              16             31
 *  +--------------+--------------+
 *  | source port  |  dest port   |  0
 *  +--------------+--------------+
 *  |    length    |   checksum   |  4   length counts the header; checksum 0 = none (IPv4 only)
 *  +--------------+--------------+
 * ```
 * Thread: any; a view belongs to the thread that made it. Allocation: none. The checksum is
 * computed and verified by `checksum.ts` (it covers a pseudo-header this view cannot see).
 */

const EMPTY = new DataView(new ArrayBuffer(0));
const SRC_PORT = 0, DST_PORT = 2, LENGTH = 4, CHECKSUM = 6; // byte offsets (RFC 768)

/** Size of a UDP header; the length field counts it. */
export const UDP_HEADER_SIZE = 8;

/** Why a UDP header was rejected; indexes the `rxDropsByReason` counters. */
export const UdpReason = {
  Ok: 0,
  /** Fewer than 8 bytes. */
  Truncated: 1,
  /** Length below 8 or past the end. */
  BadLength: 2,
} as const;
export type UdpReason = (typeof UdpReason)[keyof typeof UdpReason];

/** What `encodeUdp()` writes (gVisor's `UDPFields`). */
export interface UdpFields {
  sourcePort: number;
  destinationPort: number;
  /** Header plus payload, in bytes. */
  length: number;
  /** Written as given (0 until `checksum.ts` fills it in; 0 means "none" over IPv4). */
  checksum: number;
}

/**
 * A UDP header inside memory it does not own: re-point it with `reset()` per packet, no
 * allocation. Trust its fields only after `validateUdp()` returned `Ok` for them.
 */
export class UdpHeader {
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
  /** Returns the length of header plus payload. */
  get length(): number { return this.view.getUint16(this.offset + LENGTH); }
  /** Sets the length of header plus payload. */
  set length(length: number) { this.view.setUint16(this.offset + LENGTH, length); }
  /** Returns the checksum as stored. */
  get checksum(): number { return this.view.getUint16(this.offset + CHECKSUM); }
  /** Sets the checksum. */
  set checksum(checksum: number) { this.view.setUint16(this.offset + CHECKSUM, checksum); }
  /** Returns where the payload starts in the same memory (a subarray would allocate). */
  get payloadOffset(): number { return this.offset + UDP_HEADER_SIZE; }
  /** Returns the payload length from the length field. */
  get payloadLength(): number { return this.length - UDP_HEADER_SIZE; }
}

/**
 * Checks the UDP header at `offset`, the IP payload ending at `end`. A length shorter than the IP
 * payload is allowed (the rest is padding, as gVisor trims it). Never throws.
 */
export function validateUdp(view: DataView, offset: number, end: number): UdpReason {
  if (end - offset < UDP_HEADER_SIZE) return UdpReason.Truncated;
  const length = view.getUint16(offset + LENGTH);
  if (length < UDP_HEADER_SIZE || offset + length > end) return UdpReason.BadLength;
  return UdpReason.Ok;
}

/** Writes an 8-byte UDP header at `offset` and returns 8. Precondition: room. Allocation: none. */
export function encodeUdp(view: DataView, offset: number, fields: UdpFields): number {
  view.setUint16(offset + SRC_PORT, fields.sourcePort);
  view.setUint16(offset + DST_PORT, fields.destinationPort);
  view.setUint16(offset + LENGTH, fields.length);
  view.setUint16(offset + CHECKSUM, fields.checksum);
  return UDP_HEADER_SIZE;
}
