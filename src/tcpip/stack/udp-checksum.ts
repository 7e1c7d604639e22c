/**
 * The UDP checksum over its pseudo-header (RFC 768; RFC 8200 §8.1 for IPv6), received and sent.
 *
 * Received: a zero checksum field means "none" over IPv4 and is accepted; over IPv6 it is invalid
 * (RFC 8200 §8.1: a receiver discards it). Sent: a computed 0 goes on the wire as 0xffff (RFC 768),
 * since 0 would read as "no checksum".
 *
 * Thread: any. Hot path: no allocation, never throws for bounds inside the view.
 */
import { checksum, checksumView, finishChecksum, pseudoHeaderChecksumV4, pseudoHeaderChecksumV6View } from '../checksum.ts';
import { IPV4_PROTOCOL_NUMBER, UDP_PROTOCOL_NUMBER } from '../protocols.ts';

const UDP_CHECKSUM_OFFSET = 6;

/**
 * Returns true when the UDP datagram at `udpOffset`, `length` bytes long (its length field, validated),
 * carries a valid checksum for the IP header at `networkOffset` (IPv4 or IPv6 per `networkProtocol`).
 */
export function verifyUdpChecksum(
  view: DataView,
  networkProtocol: number,
  networkOffset: number,
  udpOffset: number,
  length: number,
): boolean {
  const field = view.getUint16(udpOffset + UDP_CHECKSUM_OFFSET);
  let pseudo: number;
  if (networkProtocol === IPV4_PROTOCOL_NUMBER) {
    if (field === 0) return true;
    pseudo = pseudoHeaderChecksumV4(UDP_PROTOCOL_NUMBER, view.getUint32(networkOffset + 12), view.getUint32(networkOffset + 16), length);
  } else {
    if (field === 0) return false;
    pseudo = pseudoHeaderChecksumV6View(view, networkOffset + 8, networkOffset + 24, UDP_PROTOCOL_NUMBER, length);
  }
  return checksumView(view, udpOffset, length, pseudo) === 0xffff;
}

/**
 * Computes the checksum of the UDP datagram `bytes[udpOffset, udpOffset + length)` (its checksum field
 * ignored) from `source` to `destination` (4 or 16 bytes each, IPv4 or IPv6 per `networkProtocol`)
 * and writes it into the datagram's checksum field. Allocation: none.
 */
export function fillUdpChecksum(
  view: DataView,
  udpOffset: number,
  length: number,
  networkProtocol: number,
  source: Uint8Array,
  destination: Uint8Array,
): void {
  view.setUint16(udpOffset + UDP_CHECKSUM_OFFSET, 0);
  let pseudo: number;
  if (networkProtocol === IPV4_PROTOCOL_NUMBER) {
    const src = ((source[0]! << 24) | (source[1]! << 16) | (source[2]! << 8) | source[3]!) >>> 0;
    const dst = ((destination[0]! << 24) | (destination[1]! << 16) | (destination[2]! << 8) | destination[3]!) >>> 0;
    pseudo = pseudoHeaderChecksumV4(UDP_PROTOCOL_NUMBER, src, dst, length);
  } else {
    // RFC 8200 §8.1 pseudo-header: both addresses, the 32-bit length, the next header. The addresses
    // live in two arrays, so sum them one after the other (the sum is order-independent).
    const lengthAndProtocol = (length >>> 16) + (length & 0xffff) + UDP_PROTOCOL_NUMBER; // < 2^17: checksum() folds it
    pseudo = checksum(destination, 0, 16, checksum(source, 0, 16, lengthAndProtocol));
  }
  const value = finishChecksum(checksumView(view, udpOffset, length, pseudo));
  view.setUint16(udpOffset + UDP_CHECKSUM_OFFSET, value === 0 ? 0xffff : value);
}
