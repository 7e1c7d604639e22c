/**
 * Ethernet headers the network layer writes for frames it sends: replies, requests, ICMP errors and
 * forwarded packets. Addresses are copied view to view, so a header is written without an
 * `EthernetFields` object or a byte array per packet (`encodeEthernet()` is the control-path writer).
 * The stack sends untagged frames only (a VLAN is another link; there are no VLAN NICs yet).
 *
 * Thread: any. Hot path: nothing allocates or throws (callers check the room first).
 */
import { ETHERNET_MINIMUM_SIZE, copyLinkAddress } from '../header/ethernet.ts';

/** Offsets inside an untagged Ethernet header (IEEE 802.3). */
const DST_ADDR = 0, SRC_ADDR = 6, TYPE = 12;

/**
 * Writes an untagged Ethernet header at `out[offset]`: destination from `dst[dstOffset]`, source from
 * `src[srcOffset]` (6 bytes each), then `type`. Returns 14. Precondition: 14 bytes of room.
 * Either address may already sit in place (the copy reads all 6 bytes before writing).
 */
export function writeEthernetHeader(
  out: DataView,
  offset: number,
  dst: DataView,
  dstOffset: number,
  src: DataView,
  srcOffset: number,
  type: number,
): number {
  copyLinkAddress(dst, dstOffset, out, offset + DST_ADDR);
  copyLinkAddress(src, srcOffset, out, offset + SRC_ADDR);
  out.setUint16(offset + TYPE, type);
  return ETHERNET_MINIMUM_SIZE;
}

/** Writes ff:ff:ff:ff:ff:ff at `out[offset]` (Ethernet broadcast). */
export function writeBroadcastLinkAddress(out: DataView, offset: number): void {
  out.setUint32(offset, 0xffffffff);
  out.setUint16(offset + 4, 0xffff);
}

/**
 * Writes the Ethernet multicast address of the IPv6 multicast address at `ip[ipOffset]` to
 * `out[offset]`: 33:33 followed by its last four bytes (RFC 2464 §7).
 */
export function writeIpv6MulticastLinkAddress(ip: DataView, ipOffset: number, out: DataView, offset: number): void {
  out.setUint16(offset, 0x3333);
  out.setUint32(offset + 2, ip.getUint32(ipOffset + 12));
}

/**
 * Copies `length` bytes from `from[fromOffset]` to `to[toOffset]`, four at a time. Allocation: none.
 * The ranges must not overlap unless they are the same range (then nothing moves).
 */
export function copyView(from: DataView, fromOffset: number, to: DataView, toOffset: number, length: number): void {
  if (from.buffer === to.buffer && from.byteOffset + fromOffset === to.byteOffset + toOffset) return;
  let i = 0;
  for (; i + 4 <= length; i += 4) to.setUint32(toOffset + i, from.getUint32(fromOffset + i));
  for (; i < length; i++) to.setUint8(toOffset + i, from.getUint8(fromOffset + i));
}
