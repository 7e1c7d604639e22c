/**
 * Shared setup for the stack tests: the topology, frame builders over the header encoders, and
 * checksum checks through checksum.ts. Addresses come from 198.18.0.0/15 and 2001:2::/48.
 *
 * ```
 *  host A 02:00:00:00:00:01 ── NIC 1 eth0 02:00:00:00:00:02 ┐       ┌ NIC 2 eth1 02:00:00:00:01:02 ── router B 02:00:00:00:01:01
 *  198.18.0.1  2001:2::1        198.18.0.2/24 2001:2::2/64  │ stack │ 198.18.1.1/24 2001:2:0:1::1/64     198.18.1.2  2001:2:0:1::2
 * ```
 */
import {
  checksumView,
  combineChecksums,
  finishChecksum,
  pseudoHeaderChecksumV4,
  pseudoHeaderChecksumV6View,
} from '../../../src/tcpip/checksum.ts';
import { parseIpv4, parseIpv6, parseLinkAddress } from '../../../src/tcpip/address.ts';
import { encodeEthernet } from '../../../src/tcpip/header/ethernet.ts';
import { encodeIpv4 } from '../../../src/tcpip/header/ipv4.ts';
import { encodeIpv6, encodeIpv6Fragment } from '../../../src/tcpip/header/ipv6.ts';
import { encodeUdp } from '../../../src/tcpip/header/udp.ts';
import { ParsedPacket, ParseReason, parsePacket } from '../../../src/tcpip/parse.ts';
import { ICMPV4_PROTOCOL_NUMBER, ICMPV6_PROTOCOL_NUMBER, IPV4_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER, UDP_PROTOCOL_NUMBER } from '../../../src/tcpip/protocols.ts';
import { viewOf } from '../../helpers/hex.ts';

export const MAC_A = '02:00:00:00:00:01';
export const MAC_US0 = '02:00:00:00:00:02';
export const MAC_US1 = '02:00:00:00:01:02';
export const MAC_B = '02:00:00:00:01:01';

/** Returns the 6 bytes of a MAC. */
export function mac(text: string): Uint8Array {
  const out = new Uint8Array(6);
  if (!parseLinkAddress(text, out)) throw new Error(`bad MAC ${text}`);
  return out;
}

/** Returns the 16 bytes of an IPv6 address. */
export function ip6(text: string): Uint8Array {
  const out = new Uint8Array(16);
  if (!parseIpv6(text, out)) throw new Error(`bad IPv6 ${text}`);
  return out;
}

/** Returns an IPv4 address as a number. */
export function ip4(text: string): number {
  const v = parseIpv4(text);
  if (v < 0) throw new Error(`bad IPv4 ${text}`);
  return v;
}

/** Parses an Ethernet frame; throws unless it parses Ok. */
export function parse(bytes: Uint8Array, parsed = new ParsedPacket()): ParsedPacket {
  const reason = parsePacket(viewOf(bytes), 0, bytes.length, true, parsed);
  if (reason !== ParseReason.Ok) throw new Error(`frame does not parse: ${reason}`);
  return parsed;
}

export interface Udp4Options {
  dstMac?: string;
  srcMac?: string;
  src?: string;
  dst?: string;
  ttl?: number;
  sourcePort?: number;
  destinationPort?: number;
  payload?: Uint8Array;
  /** IPv4 flags (2 = DF, 1 = MF). */
  flags?: number;
  fragmentOffset?: number;
  /** Extra bytes of room after the frame (a frame pool's chunk is larger than the packet). */
  room?: number;
}

/** Builds Ethernet + IPv4 + UDP with correct checksums. */
export function udp4Frame(o: Udp4Options = {}): Uint8Array {
  const payload = o.payload ?? Uint8Array.of(0xde, 0xad, 0xbe, 0xef);
  const udpLength = 8 + payload.length;
  const bytes = new Uint8Array(14 + 20 + udpLength + (o.room ?? 0));
  const view = viewOf(bytes);
  encodeEthernet(view, 0, { destinationAddress: mac(o.dstMac ?? MAC_US0), sourceAddress: mac(o.srcMac ?? MAC_A), type: IPV4_PROTOCOL_NUMBER });
  const src = ip4(o.src ?? '198.18.0.1'), dst = ip4(o.dst ?? '198.18.0.2');
  encodeIpv4(view, 14, {
    tos: 0, totalLength: 20 + udpLength, id: 0x1234, flags: o.flags ?? 2, fragmentOffset: o.fragmentOffset ?? 0,
    ttl: o.ttl ?? 64, protocol: UDP_PROTOCOL_NUMBER, checksum: 0, sourceAddress: src, destinationAddress: dst,
  });
  view.setUint16(24, finishChecksum(checksumView(view, 14, 20)));
  encodeUdp(view, 34, { sourcePort: o.sourcePort ?? 12345, destinationPort: o.destinationPort ?? 53, length: udpLength, checksum: 0 });
  bytes.set(payload, 42);
  const sum = checksumView(view, 34, udpLength, pseudoHeaderChecksumV4(UDP_PROTOCOL_NUMBER, src, dst, udpLength));
  view.setUint16(40, finishChecksum(sum) || 0xffff);
  return bytes;
}

export interface Udp6Options {
  dstMac?: string;
  srcMac?: string;
  src?: string;
  dst?: string;
  hopLimit?: number;
  sourcePort?: number;
  destinationPort?: number;
  payload?: Uint8Array;
  /** Insert a fragment header with this offset (bytes) and M flag. */
  fragment?: { offset: number; more: boolean };
  room?: number;
}

/** Builds Ethernet + IPv6 (+ fragment header) + UDP with a correct checksum. */
export function udp6Frame(o: Udp6Options = {}): Uint8Array {
  const payload = o.payload ?? Uint8Array.of(0xde, 0xad, 0xbe, 0xef);
  const udpLength = 8 + payload.length;
  const fragLength = o.fragment === undefined ? 0 : 8;
  const bytes = new Uint8Array(14 + 40 + fragLength + udpLength + (o.room ?? 0));
  const view = viewOf(bytes);
  encodeEthernet(view, 0, { destinationAddress: mac(o.dstMac ?? MAC_US0), sourceAddress: mac(o.srcMac ?? MAC_A), type: IPV6_PROTOCOL_NUMBER });
  encodeIpv6(view, 14, {
    trafficClass: 0, flowLabel: 0, payloadLength: fragLength + udpLength, nextHeader: o.fragment === undefined ? UDP_PROTOCOL_NUMBER : 44,
    hopLimit: o.hopLimit ?? 64, sourceAddress: ip6(o.src ?? '2001:2::1'), destinationAddress: ip6(o.dst ?? '2001:2::2'),
  });
  if (o.fragment !== undefined) encodeIpv6Fragment(view, 54, { nextHeader: UDP_PROTOCOL_NUMBER, fragmentOffset: o.fragment.offset, moreFragments: o.fragment.more, id: 7 });
  const udp = 54 + fragLength;
  encodeUdp(view, udp, { sourcePort: o.sourcePort ?? 12345, destinationPort: o.destinationPort ?? 53, length: udpLength, checksum: 0 });
  bytes.set(payload, udp + 8);
  const sum = checksumView(view, udp, udpLength, pseudoHeaderChecksumV6View(view, 22, 38, UDP_PROTOCOL_NUMBER, udpLength));
  view.setUint16(udp + 6, finishChecksum(sum) || 0xffff);
  return bytes;
}

/** Recomputes the IPv4 header checksum of an Ethernet + IPv4 frame in place (after a test patched the header) and returns it. */
export function withIpv4Checksum(frame: Uint8Array): Uint8Array {
  const view = viewOf(frame);
  view.setUint16(24, 0);
  view.setUint16(24, finishChecksum(checksumView(view, 14, (frame[14]! & 0xf) * 4)));
  return frame;
}

/** Tells whether the IPv4 header at `ip` and the ICMPv4 message after it (to the total length) both verify. */
export function icmpv4ChecksumsOk(bytes: Uint8Array, ip: number): boolean {
  const view = viewOf(bytes);
  const ihl = (bytes[ip]! & 0xf) * 4;
  const total = view.getUint16(ip + 2);
  return checksumView(view, ip, ihl) === 0xffff && checksumView(view, ip + ihl, total - ihl) === 0xffff;
}

/** Tells whether the ICMPv6 message right after the fixed IPv6 header at `ip` verifies. */
export function icmpv6ChecksumOk(bytes: Uint8Array, ip: number): boolean {
  const view = viewOf(bytes);
  const length = view.getUint16(ip + 4);
  if (bytes[ip + 6] !== ICMPV6_PROTOCOL_NUMBER) return false;
  return combineChecksums(pseudoHeaderChecksumV6View(view, ip + 8, ip + 24, ICMPV6_PROTOCOL_NUMBER, length), checksumView(view, ip + 40, length)) === 0xffff;
}

/** The IP protocol numbers tests use, re-exported for brevity. */
export { ICMPV4_PROTOCOL_NUMBER, ICMPV6_PROTOCOL_NUMBER, UDP_PROTOCOL_NUMBER };
