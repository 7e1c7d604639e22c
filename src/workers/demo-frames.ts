/**
 * The frames the unprivileged demo writes into its socketpairs itself, as a host on the engine's link
 * would send them: an ARP request, an ICMP echo request, UDP datagrams; and the few reads it makes of
 * what comes back. Built with the tcpip header encoders and checksums.
 *
 * Thread: main. Control path, except `setSourcePort` (per datagram of the flood: no allocation).
 */
import {
  ARP_PROTOCOL_NUMBER, ARP_REPLY, ARP_REQUEST, ETHERNET_MINIMUM_SIZE, ICMPV4_PROTOCOL_NUMBER, IPV4_FLAG_DONT_FRAGMENT,
  IPV4_MINIMUM_SIZE, IPV4_PROTOCOL_NUMBER, UDP_PROTOCOL_NUMBER, checksum, encodeArp, encodeEthernet, encodeIcmpv4,
  encodeIpv4, encodeUdp, finishChecksum, formatLinkAddress, parseIpv4, parseLinkAddress, pseudoHeaderChecksumV4,
} from '../tcpip/index.ts';

/** A host on one of the engine's links: its MAC and IPv4 address. */
export interface DemoHost {
  mac: string;
  ipv4: string;
}

const ICMP_ECHO_REQUEST = 8, ICMP_ECHO_REPLY = 0;
const UDP_HEADER_SIZE = 8, ICMP_HEADER_SIZE = 8;
/** Byte offset of the UDP source port in a frame from `writeUdpFrame` (Ethernet + 20-byte IPv4 header). */
const UDP_SOURCE_PORT_AT = ETHERNET_MINIMUM_SIZE + IPV4_MINIMUM_SIZE;

function mac(text: string): Uint8Array {
  const out = new Uint8Array(6);
  parseLinkAddress(text, out);
  return out;
}

function fillIpv4Checksum(bytes: Uint8Array, at: number): void {
  bytes[at + 10] = 0;
  bytes[at + 11] = 0;
  const sum = finishChecksum(checksum(bytes, at, IPV4_MINIMUM_SIZE));
  bytes[at + 10] = sum >>> 8;
  bytes[at + 11] = sum & 0xff;
}

/**
 * Writes into `bytes` an Ethernet frame from `from` to the MAC `to` carrying an IPv4 UDP datagram to
 * `dst`:`destinationPort` with `payloadLength` zero bytes (no UDP checksum, as IPv4 allows) and returns its
 * length. Change the source port per datagram with `setSourcePort`.
 */
export function writeUdpFrame(bytes: Uint8Array, from: DemoHost, to: string, dst: string, sourcePort: number, destinationPort: number, payloadLength: number): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ipLength = IPV4_MINIMUM_SIZE + UDP_HEADER_SIZE + payloadLength;
  let at = encodeEthernet(view, 0, { destinationAddress: mac(to), sourceAddress: mac(from.mac), type: IPV4_PROTOCOL_NUMBER });
  const ipAt = at;
  at += encodeIpv4(view, at, {
    tos: 0, totalLength: ipLength, id: 0, flags: IPV4_FLAG_DONT_FRAGMENT, fragmentOffset: 0, ttl: 64,
    protocol: UDP_PROTOCOL_NUMBER, checksum: 0, sourceAddress: parseIpv4(from.ipv4), destinationAddress: parseIpv4(dst),
  });
  at += encodeUdp(view, at, { sourcePort, destinationPort, length: UDP_HEADER_SIZE + payloadLength, checksum: 0 });
  bytes.fill(0, at, at + payloadLength);
  fillIpv4Checksum(bytes, ipAt);
  return at + payloadLength;
}

/** Sets the UDP source port of a frame from `writeUdpFrame` (no checksum to fix: it carries none). */
export function setSourcePort(bytes: Uint8Array, port: number): void {
  bytes[UDP_SOURCE_PORT_AT] = port >>> 8;
  bytes[UDP_SOURCE_PORT_AT + 1] = port & 0xff;
}

/** Returns the UDP source port of a frame from `writeUdpFrame` or its forwarded copy. */
export function sourcePortOf(bytes: Uint8Array): number {
  return (bytes[UDP_SOURCE_PORT_AT]! << 8) | bytes[UDP_SOURCE_PORT_AT + 1]!;
}

/**
 * Writes an Ethernet frame from `from` to MAC `to` carrying a UDP datagram to `dst`:`destinationPort` with
 * `payload`, its UDP checksum filled in (as a kernel would); returns its length.
 */
export function writeUdpRequestFrame(bytes: Uint8Array, from: DemoHost, to: string, dst: string, sourcePort: number, destinationPort: number, payload: Uint8Array): number {
  const end = writeUdpFrame(bytes, from, to, dst, sourcePort, destinationPort, payload.byteLength);
  const udp = ETHERNET_MINIMUM_SIZE + IPV4_MINIMUM_SIZE;
  bytes.set(payload, udp + UDP_HEADER_SIZE);
  const length = UDP_HEADER_SIZE + payload.byteLength;
  const sum = checksum(bytes, udp, length, pseudoHeaderChecksumV4(UDP_PROTOCOL_NUMBER, parseIpv4(from.ipv4), parseIpv4(dst), length));
  const value = finishChecksum(sum) || 0xffff; // 0 means "no checksum" in UDP over IPv4 (RFC 768)
  bytes[udp + 6] = value >>> 8;
  bytes[udp + 7] = value & 0xff;
  return end;
}

/**
 * Returns the payload and destination port of `frame` when it is an IPv4 UDP datagram from `src`:`sourcePort`
 * (a subarray of `frame`), else null.
 */
export function udpFrom(frame: Uint8Array, src: string, sourcePort: number): { destinationPort: number; payload: Uint8Array } | null {
  const ip = ETHERNET_MINIMUM_SIZE;
  if (frame.byteLength < ip + IPV4_MINIMUM_SIZE + UDP_HEADER_SIZE) return null;
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  if (view.getUint16(12) !== IPV4_PROTOCOL_NUMBER || view.getUint8(ip + 9) !== UDP_PROTOCOL_NUMBER || view.getUint32(ip + 12) !== parseIpv4(src)) return null;
  const udp = ip + (view.getUint8(ip) & 0xf) * 4;
  const length = view.getUint16(udp + 4);
  if (view.getUint16(udp) !== sourcePort || length < UDP_HEADER_SIZE || udp + length > frame.byteLength) return null;
  return { destinationPort: view.getUint16(udp + 2), payload: frame.subarray(udp + UDP_HEADER_SIZE, udp + length) };
}

/** Writes a broadcast ARP request from `from` asking for `target`; returns its length (42). */
export function writeArpRequestFrame(bytes: Uint8Array, from: DemoHost, target: string): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const at = encodeEthernet(view, 0, { destinationAddress: mac('ff:ff:ff:ff:ff:ff'), sourceAddress: mac(from.mac), type: ARP_PROTOCOL_NUMBER });
  return at + encodeArp(view, at, {
    op: ARP_REQUEST, hardwareAddressSender: mac(from.mac), protocolAddressSender: parseIpv4(from.ipv4),
    hardwareAddressTarget: new Uint8Array(6), protocolAddressTarget: parseIpv4(target),
  });
}

/** Returns the sender MAC of an ARP reply from `ipv4`, or null when `frame` is not one. */
export function arpReplyFrom(frame: Uint8Array, ipv4: string): string | null {
  if (frame.byteLength < ETHERNET_MINIMUM_SIZE + 28) return null;
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const arp = ETHERNET_MINIMUM_SIZE;
  if (view.getUint16(12) !== ARP_PROTOCOL_NUMBER || view.getUint16(arp + 6) !== ARP_REPLY) return null;
  if (view.getUint32(arp + 14) !== parseIpv4(ipv4)) return null;
  return formatLinkAddress(frame, arp + 8);
}

/** Writes an ICMP echo request from `from` (MAC `to` as next hop) to `dst` with `ident`/`sequence`; returns its length. */
export function writeEchoRequestFrame(bytes: Uint8Array, from: DemoHost, to: string, dst: string, ident: number, sequence: number): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const payload = 16;
  let at = encodeEthernet(view, 0, { destinationAddress: mac(to), sourceAddress: mac(from.mac), type: IPV4_PROTOCOL_NUMBER });
  const ipAt = at;
  at += encodeIpv4(view, at, {
    tos: 0, totalLength: IPV4_MINIMUM_SIZE + ICMP_HEADER_SIZE + payload, id: sequence, flags: IPV4_FLAG_DONT_FRAGMENT, fragmentOffset: 0,
    ttl: 64, protocol: ICMPV4_PROTOCOL_NUMBER, checksum: 0, sourceAddress: parseIpv4(from.ipv4), destinationAddress: parseIpv4(dst),
  });
  const icmpAt = at;
  at += encodeIcmpv4(view, at, { type: ICMP_ECHO_REQUEST, code: 0, checksum: 0, ident, sequence });
  for (let i = 0; i < payload; i++) bytes[at + i] = 0x61 + i; // "abcdefghijklmnop"
  at += payload;
  fillIpv4Checksum(bytes, ipAt);
  view.setUint16(icmpAt + 2, finishChecksum(checksum(bytes, icmpAt, at - icmpAt)));
  return at;
}

/** Returns true when `frame` is an ICMP echo reply from `src` with `ident` and `sequence` and a valid ICMP checksum. */
export function isEchoReply(frame: Uint8Array, src: string, ident: number, sequence: number): boolean {
  const ip = ETHERNET_MINIMUM_SIZE;
  if (frame.byteLength < ip + IPV4_MINIMUM_SIZE + ICMP_HEADER_SIZE) return false;
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  if (view.getUint16(12) !== IPV4_PROTOCOL_NUMBER || view.getUint8(ip + 9) !== ICMPV4_PROTOCOL_NUMBER) return false;
  if (view.getUint32(ip + 12) !== parseIpv4(src)) return false;
  const icmp = ip + (view.getUint8(ip) & 0xf) * 4;
  const end = ip + view.getUint16(ip + 2);
  if (end > frame.byteLength || icmp + ICMP_HEADER_SIZE > end) return false;
  return (
    view.getUint8(icmp) === ICMP_ECHO_REPLY && view.getUint16(icmp + 4) === ident && view.getUint16(icmp + 6) === sequence &&
    checksum(frame, icmp, end - icmp) === 0xffff
  );
}

/** Returns the TTL of the IPv4 packet in an Ethernet frame. */
export function ttlOf(frame: Uint8Array): number {
  return frame[ETHERNET_MINIMUM_SIZE + 8] ?? -1;
}

/** Returns the destination and source MACs of a frame, as `ip` prints them. */
export function macsOf(frame: Uint8Array): { destination: string; source: string } {
  return { destination: formatLinkAddress(frame, 0), source: formatLinkAddress(frame, 6) };
}
