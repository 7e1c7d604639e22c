/**
 * ARP packets for IPv4 over Ethernet (RFC 826), the only kind gVisor's `header.ARP` accepts.
 *
 * ```
 *  0      2      4    5    6      8              14          18             24          28
 *  +------+------+----+----+------+--------------+-----------+--------------+-----------+
 *  |htype |ptype |hlen|plen| op   | sender MAC   | sender IP | target MAC   | target IP |
 *  |  1   | 0800 | 6  | 4  | 1/2  |              |           |              |           |
 *  +------+------+----+----+------+--------------+-----------+--------------+-----------+
 * ```
 * Thread: any; a view belongs to the thread that made it. Allocation: none.
 */

import { IPV4_ADDRESS_SIZE, LINK_ADDRESS_SIZE } from '../address.ts';
import { IPV4_PROTOCOL_NUMBER } from '../protocols.ts';

const EMPTY = new DataView(new ArrayBuffer(0));
const HTYPE = 0, PTYPE = 2, HLEN = 4, PLEN = 5, OP = 6; // byte offsets (RFC 826)
const SHA = 8, SPA = 14, THA = 18, TPA = 24;

/** Size of an ARP packet for IPv4 over Ethernet (gVisor's `ARPSize`). */
export const ARP_SIZE = 28;
/** Hardware type of Ethernet (IANA ARP parameters: "Ethernet (10Mb)"). */
export const ARP_HARDWARE_ETHER = 1;
/** Operation: who has the target protocol address? (RFC 826) */
export const ARP_REQUEST = 1;
/** Operation: the sender has it (RFC 826). */
export const ARP_REPLY = 2;

/** Why an ARP packet was rejected; indexes the `rxDropsByReason` counters. */
export const ArpReason = {
  Ok: 0,
  /** Shorter than 28 bytes. */
  Truncated: 1,
  /** Hardware type is not Ethernet (1) or hardware address length is not 6. */
  UnsupportedHardwareType: 2,
  /** Protocol type is not IPv4 (0x0800) or protocol address length is not 4. */
  UnsupportedProtocolType: 3,
  /** Operation is neither request (1) nor reply (2), e.g. RARP (3, 4). */
  UnsupportedOp: 4,
} as const;
export type ArpReason = (typeof ArpReason)[keyof typeof ArpReason];

/** What `encodeArp()` writes (hardware and protocol types and sizes are fixed: Ethernet, IPv4). */
export interface ArpFields {
  /** `ARP_REQUEST` or `ARP_REPLY`. */
  op: number;
  /** Six bytes. */
  hardwareAddressSender: Uint8Array;
  /** IPv4 address as an unsigned 32-bit number. */
  protocolAddressSender: number;
  /** Six bytes (zeros in a request). */
  hardwareAddressTarget: Uint8Array;
  /** IPv4 address as an unsigned 32-bit number. */
  protocolAddressTarget: number;
}

/**
 * An ARP packet inside memory it does not own: re-point it with `reset()` per packet, no
 * allocation. Trust its fields only after `validateArp()` returned `Ok` for them.
 */
export class ArpHeader {
  view: DataView = EMPTY; // frames live in a SharedArrayBuffer: keep the wide type
  offset = 0;

  /** Points this view at the packet starting at `offset` in `view`. */
  reset(view: DataView, offset: number): this {
    this.view = view;
    this.offset = offset;
    return this;
  }

  /** Returns the hardware type (1 for Ethernet). */
  get hardwareAddressSpace(): number { return this.view.getUint16(this.offset + HTYPE); }
  /** Returns the protocol type (an EtherType, 0x0800 for IPv4). */
  get protocolAddressSpace(): number { return this.view.getUint16(this.offset + PTYPE); }
  /** Returns the hardware address length in bytes. */
  get hardwareAddressSize(): number { return this.view.getUint8(this.offset + HLEN); }
  /** Returns the protocol address length in bytes. */
  get protocolAddressSize(): number { return this.view.getUint8(this.offset + PLEN); }
  /** Returns the operation (`ARP_REQUEST`, `ARP_REPLY`). */
  get op(): number { return this.view.getUint16(this.offset + OP); }
  /** Sets the operation. */
  set op(op: number) { this.view.setUint16(this.offset + OP, op); }

  /** Returns the absolute offset of the sender's 6-byte hardware address. */
  get hardwareAddressSenderOffset(): number { return this.offset + SHA; }
  /** Returns the sender's IPv4 address as an unsigned 32-bit number. */
  get protocolAddressSender(): number { return this.view.getUint32(this.offset + SPA); }
  /** Sets the sender's IPv4 address. */
  set protocolAddressSender(address: number) { this.view.setUint32(this.offset + SPA, address); }
  /** Returns the absolute offset of the target's 6-byte hardware address. */
  get hardwareAddressTargetOffset(): number { return this.offset + THA; }
  /** Returns the target's IPv4 address as an unsigned 32-bit number. */
  get protocolAddressTarget(): number { return this.view.getUint32(this.offset + TPA); }
  /** Sets the target's IPv4 address. */
  set protocolAddressTarget(address: number) { this.view.setUint32(this.offset + TPA, address); }

  /** Writes the fixed part for IPv4 over Ethernet: hardware/protocol types and sizes (gVisor's `SetIPv4OverEthernet`). */
  setIpv4OverEthernet(): void {
    this.view.setUint16(this.offset + HTYPE, ARP_HARDWARE_ETHER);
    this.view.setUint16(this.offset + PTYPE, IPV4_PROTOCOL_NUMBER);
    this.view.setUint8(this.offset + HLEN, LINK_ADDRESS_SIZE);
    this.view.setUint8(this.offset + PLEN, IPV4_ADDRESS_SIZE);
  }
}

/** Checks the ARP packet at `offset`, the frame ending at `end` (Ethernet padding may follow). Never throws. */
export function validateArp(view: DataView, offset: number, end: number): ArpReason {
  if (end - offset < ARP_SIZE) return ArpReason.Truncated;
  if (view.getUint16(offset + HTYPE) !== ARP_HARDWARE_ETHER || view.getUint8(offset + HLEN) !== LINK_ADDRESS_SIZE) {
    return ArpReason.UnsupportedHardwareType;
  }
  if (view.getUint16(offset + PTYPE) !== IPV4_PROTOCOL_NUMBER || view.getUint8(offset + PLEN) !== IPV4_ADDRESS_SIZE) {
    return ArpReason.UnsupportedProtocolType;
  }
  const op = view.getUint16(offset + OP);
  if (op !== ARP_REQUEST && op !== ARP_REPLY) return ArpReason.UnsupportedOp;
  return ArpReason.Ok;
}

/** Writes a 28-byte ARP packet for IPv4 over Ethernet at `offset` and returns 28. Precondition: room. */
export function encodeArp(view: DataView, offset: number, fields: ArpFields): number {
  view.setUint16(offset + HTYPE, ARP_HARDWARE_ETHER);
  view.setUint16(offset + PTYPE, IPV4_PROTOCOL_NUMBER);
  view.setUint8(offset + HLEN, LINK_ADDRESS_SIZE);
  view.setUint8(offset + PLEN, IPV4_ADDRESS_SIZE);
  view.setUint16(offset + OP, fields.op);
  for (let i = 0; i < LINK_ADDRESS_SIZE; i++) {
    view.setUint8(offset + SHA + i, fields.hardwareAddressSender[i] ?? 0);
    view.setUint8(offset + THA + i, fields.hardwareAddressTarget[i] ?? 0);
  }
  view.setUint32(offset + SPA, fields.protocolAddressSender);
  view.setUint32(offset + TPA, fields.protocolAddressTarget);
  return ARP_SIZE;
}
