/**
 * Ethernet II frames (IEEE 802.3 clause 3.2.6 "Length/Type" as a type) with at most one IEEE 802.1Q
 * VLAN tag. gVisor's `header.Ethernet` knows no tags; a tagged frame here simply has a header four
 * bytes longer, and `type` is always the EtherType of the payload.
 *
 * ```
 *  0                 6                 12      14      16      18
 *  +-----------------+-----------------+-------+-------------------
 *  | destination MAC | source MAC      | type  | payload                       untagged: 14 bytes
 *  +-----------------+-----------------+-------+-------+-------+---
 *  | destination MAC | source MAC      | 8100  | TCI   | type  | payload       802.1Q:   18 bytes
 *  +-----------------+-----------------+-------+-------+-------+---
 *  TCI = PCP (3 bits, priority) | DEI (1 bit, drop eligible) | VID (12 bits, VLAN id)
 * ```
 * Thread: any; a view belongs to the thread that made it. Allocation: none.
 */

import { LINK_ADDRESS_SIZE } from '../address.ts';
import { VLAN_PROTOCOL_NUMBER } from '../protocols.ts';

const EMPTY = new DataView(new ArrayBuffer(0));
const DST_ADDR = 0, SRC_ADDR = 6, TYPE = 12; // byte offsets (IEEE 802.3)
const VLAN_TCI = 14, VLAN_TYPE = 16; // inside an 802.1Q tag (IEEE 802.1Q §9.6)

/** Size of an untagged Ethernet II header: two addresses and the EtherType. */
export const ETHERNET_MINIMUM_SIZE = 14;
/** Size of an Ethernet header carrying one 802.1Q tag (TPID 0x8100 and the TCI). */
export const ETHERNET_VLAN_SIZE = 18;
/** Values of the type field below this are IEEE 802.3 payload lengths, not EtherTypes (IEEE 802.3 §3.2.6). */
export const ETHERNET_MINIMUM_TYPE = 0x0600;
/** Largest VLAN id; 0 means "priority tag only" and 4095 is reserved (IEEE 802.1Q Table 9-2). */
export const VLAN_ID_MAXIMUM = 0xfff;

/** Why an Ethernet header was rejected; indexes the `rxDropsByReason` counters. */
export const EthernetReason = {
  Ok: 0,
  /** Shorter than 14 bytes, or than 18 bytes when the type says a tag follows. */
  Truncated: 1,
  /** A second tag (0x8100 or 802.1ad 0x88a8) after the first: QinQ is not supported. */
  NestedVlan: 2,
  /** The type field is below 0x0600: an IEEE 802.3 length (LLC frame), not Ethernet II. */
  NotEthernetII: 3,
} as const;
export type EthernetReason = (typeof EthernetReason)[keyof typeof EthernetReason];

/** EtherType of an IEEE 802.1ad service tag (QinQ outer tag), rejected as a nested tag. */
const QINQ_PROTOCOL_NUMBER = 0x88a8;

/** What `encodeEthernet()` writes. */
export interface EthernetFields {
  /** Six bytes, e.g. filled by `parseLinkAddress()`. */
  destinationAddress: Uint8Array;
  /** Six bytes. */
  sourceAddress: Uint8Array;
  /** EtherType of the payload (`IPV4_PROTOCOL_NUMBER`, ...). */
  type: number;
  /** VLAN id 0..4095 to insert an 802.1Q tag; absent or -1 writes an untagged header. */
  vlanId?: number;
  /** Priority code point 0..7 (PCP) of the tag. Default 0. */
  vlanPriority?: number;
  /** Drop eligible indicator (DEI) of the tag. Default false. */
  vlanDropEligible?: boolean;
}

/**
 * An Ethernet header inside memory it does not own: re-point it with `reset()` per packet, no
 * allocation. Trust its fields only after `validateEthernet()` returned `Ok` for them.
 * Addresses are byte offsets into the same view; compare and copy them with the helpers below.
 */
export class EthernetHeader {
  view: DataView = EMPTY; // frames live in a SharedArrayBuffer: keep the wide type
  offset = 0;

  /** Points this view at the header starting at `offset` in `view`. */
  reset(view: DataView, offset: number): this {
    this.view = view;
    this.offset = offset;
    return this;
  }

  /** Returns the absolute offset of the 6-byte destination address. */
  get destinationAddressOffset(): number { return this.offset + DST_ADDR; }
  /** Returns the absolute offset of the 6-byte source address. */
  get sourceAddressOffset(): number { return this.offset + SRC_ADDR; }

  /** Tells whether an 802.1Q tag follows the addresses. */
  get hasVlanTag(): boolean { return this.view.getUint16(this.offset + TYPE) === VLAN_PROTOCOL_NUMBER; }
  /** Returns 18 for a tagged frame, 14 otherwise. */
  get headerLength(): number { return this.hasVlanTag ? ETHERNET_VLAN_SIZE : ETHERNET_MINIMUM_SIZE; }
  /** Returns where the payload starts in the same memory. */
  get payloadOffset(): number { return this.offset + this.headerLength; }

  /** Returns the EtherType of the payload: the inner type of a tagged frame. */
  get type(): number { return this.view.getUint16(this.offset + (this.hasVlanTag ? VLAN_TYPE : TYPE)); }
  /** Sets the EtherType of the payload (the inner type when tagged). */
  set type(type: number) { this.view.setUint16(this.offset + (this.hasVlanTag ? VLAN_TYPE : TYPE), type); }

  /** Returns the 16-bit tag control information, or -1 when untagged. */
  get vlanTci(): number { return this.hasVlanTag ? this.view.getUint16(this.offset + VLAN_TCI) : -1; }
  /** Returns the 12-bit VLAN id (VID), or -1 when untagged. */
  get vlanId(): number { return this.hasVlanTag ? this.view.getUint16(this.offset + VLAN_TCI) & VLAN_ID_MAXIMUM : -1; }
  /** Sets the VLAN id of a tagged frame; precondition: `hasVlanTag`. */
  set vlanId(id: number) { this.setTciBits(VLAN_ID_MAXIMUM, id & VLAN_ID_MAXIMUM); }
  /** Returns the priority code point (PCP, 0..7), or -1 when untagged. */
  get vlanPriority(): number { return this.hasVlanTag ? this.view.getUint8(this.offset + VLAN_TCI) >>> 5 : -1; }
  /** Sets the priority code point of a tagged frame; precondition: `hasVlanTag`. */
  set vlanPriority(pcp: number) { this.setTciBits(0xe000, (pcp & 7) << 13); }
  /** Tells whether the drop eligible indicator (DEI) is set; false when untagged. */
  get vlanDropEligible(): boolean { return this.hasVlanTag && (this.view.getUint8(this.offset + VLAN_TCI) & 0x10) !== 0; }
  /** Sets the drop eligible indicator of a tagged frame; precondition: `hasVlanTag`. */
  set vlanDropEligible(dei: boolean) { this.setTciBits(0x1000, dei ? 0x1000 : 0); }

  private setTciBits(mask: number, bits: number): void {
    const at = this.offset + VLAN_TCI;
    this.view.setUint16(at, (this.view.getUint16(at) & ~mask) | bits);
  }
}

/** Checks the Ethernet header at `offset`, the frame ending at `end`. Never throws. */
export function validateEthernet(view: DataView, offset: number, end: number): EthernetReason {
  if (end - offset < ETHERNET_MINIMUM_SIZE) return EthernetReason.Truncated;
  let type = view.getUint16(offset + TYPE);
  if (type === VLAN_PROTOCOL_NUMBER) {
    if (end - offset < ETHERNET_VLAN_SIZE) return EthernetReason.Truncated;
    type = view.getUint16(offset + VLAN_TYPE);
    if (type === VLAN_PROTOCOL_NUMBER || type === QINQ_PROTOCOL_NUMBER) return EthernetReason.NestedVlan;
  }
  if (type < ETHERNET_MINIMUM_TYPE) return EthernetReason.NotEthernetII;
  return EthernetReason.Ok;
}

/**
 * Writes an Ethernet header at `offset` and returns its length (14, or 18 with a tag).
 * Precondition: 18 bytes of room. Allocation: none.
 */
export function encodeEthernet(view: DataView, offset: number, fields: EthernetFields): number {
  for (let i = 0; i < LINK_ADDRESS_SIZE; i++) {
    view.setUint8(offset + DST_ADDR + i, fields.destinationAddress[i] ?? 0);
    view.setUint8(offset + SRC_ADDR + i, fields.sourceAddress[i] ?? 0);
  }
  const vlanId = fields.vlanId ?? -1;
  if (vlanId < 0) {
    view.setUint16(offset + TYPE, fields.type);
    return ETHERNET_MINIMUM_SIZE;
  }
  const tci = (((fields.vlanPriority ?? 0) & 7) << 13) | (fields.vlanDropEligible ? 0x1000 : 0) | (vlanId & VLAN_ID_MAXIMUM);
  view.setUint16(offset + TYPE, VLAN_PROTOCOL_NUMBER);
  view.setUint16(offset + VLAN_TCI, tci);
  view.setUint16(offset + VLAN_TYPE, fields.type);
  return ETHERNET_VLAN_SIZE;
}

/** Tells whether the 6-byte addresses at `a[aOffset]` and `b[bOffset]` are equal. Allocation: none. */
export function linkAddressEquals(a: DataView, aOffset: number, b: DataView, bOffset: number): boolean {
  return a.getUint32(aOffset) === b.getUint32(bOffset) && a.getUint16(aOffset + 4) === b.getUint16(bOffset + 4);
}

/** Copies the 6-byte address at `from[fromOffset]` to `to[toOffset]`. Allocation: none. */
export function copyLinkAddress(from: DataView, fromOffset: number, to: DataView, toOffset: number): void {
  to.setUint32(toOffset, from.getUint32(fromOffset));
  to.setUint16(toOffset + 4, from.getUint16(fromOffset + 4));
}

/**
 * Tells whether the address at `offset` is a group address (multicast or broadcast): the I/G bit,
 * the low bit of the first byte, is set. gVisor's inbound MAC filter accepts these besides its own.
 */
export function isMulticastLinkAddress(view: DataView, offset: number): boolean {
  return (view.getUint8(offset) & 1) !== 0;
}

/** Tells whether the address at `offset` is ff:ff:ff:ff:ff:ff. */
export function isBroadcastLinkAddress(view: DataView, offset: number): boolean {
  return view.getUint32(offset) === 0xffffffff && view.getUint16(offset + 4) === 0xffff;
}
