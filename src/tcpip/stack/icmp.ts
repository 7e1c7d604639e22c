/**
 * ICMP the network layer originates: echo replies (RFC 792, RFC 4443 §4.2) and the errors a host or
 * router sends (destination unreachable, time exceeded, packet too big), each written as a whole
 * Ethernet frame into an output buffer the caller gives, checksums included.
 *
 * Errors follow RFC 1812 §4.3.2 / RFC 1122 §3.2.2 (IPv4) and RFC 4443 §2.4 (IPv6): never about an ICMP
 * error (or an unknown ICMPv4 type, as Linux), a packet sent to a broadcast or multicast address (IP or
 * link layer), a non-first fragment, or a source that does not name one host. An IPv4 error quotes the
 * offending IP header and as much after it as keeps the error within 576 bytes (at least header + 8);
 * an IPv6 error as much as keeps it within 1280 bytes. Errors pass a `TokenBucket` first (Linux's global
 * `icmp_msgs_per_sec`); echo replies do not (Linux's `icmp_ratemask` leaves them out).
 *
 * Frames go back the way the packet came: the Ethernet destination is the offending frame's source
 * (the previous hop), the source is the NIC's address. Replies carry no IP options or IPv6 extension
 * headers, TTL/hop limit 64, DF set and id 0 (an atomic datagram, RFC 6864).
 *
 * Writers return the frame length (> 0) or `-reason` (`IcmpReason`), so `counters[-n]++` counts why.
 * Thread: the owner of an `Icmp` (one per thread: it holds header views). Hot path: no allocation, no
 * throw; `out` must not overlap the offending frame, except an echo reply written in place over its
 * own request (same frame offset).
 */
import { checksumView, combineChecksums, finishChecksum, pseudoHeaderChecksumV6View, updateChecksum16 } from '../checksum.ts';
import { ETHERNET_MINIMUM_SIZE, isMulticastLinkAddress } from '../header/ethernet.ts';
import {
  ICMPV4_ECHO,
  ICMPV4_ECHO_REPLY,
  ICMPV4_MINIMUM_SIZE,
  ICMPV4_TIMESTAMP,
} from '../header/icmpv4.ts';
import { ICMPV6_ECHO_REPLY, ICMPV6_ECHO_REQUEST, ICMPV6_MINIMUM_SIZE, ICMPV6_REDIRECT } from '../header/icmpv6.ts';
import { IPV4_FLAG_DONT_FRAGMENT, IPV4_MINIMUM_SIZE, Ipv4Header } from '../header/ipv4.ts';
import { IPV6_FIXED_HEADER_SIZE, Ipv6Header, copyIpv6Address } from '../header/ipv6.ts';
import { FragmentKind, type ParsedPacket } from '../parse.ts';
import { ICMPV4_PROTOCOL_NUMBER, ICMPV6_PROTOCOL_NUMBER, IPV4_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER } from '../protocols.ts';
import {
  IPV4_DESTINATION_OFFSET, IPV4_SOURCE_OFFSET, isIpv4MartianSource, isIpv4Multicast, isIpv6Multicast, isIpv6Unspecified,
} from './address-class.ts';
import { copyView, writeEthernetHeader } from './link.ts';
import type { Nic } from './nic.ts';
import { TokenBucket, type TokenBucketOptions } from './rate-limiter.ts';

/** Why an ICMP message was not written; writers return `-reason`. Indexes `Icmp.counters`. */
export const IcmpReason = {
  Ok: 0,
  /** Not an ICMP echo request (of that IP version), or a code other than 0. */
  NotEchoRequest: 1,
  /** The request's ICMP checksum does not verify. */
  BadChecksum: 2,
  /** A fragment: echo needs reassembly (not done); errors are never sent about non-first fragments. */
  Fragment: 3,
  /** Sent to a link-layer broadcast or multicast address. */
  LinkBroadcast: 4,
  /** Sent to an IP broadcast or multicast address. */
  Broadcast: 5,
  /** The source does not name one host (0/8, 127/8, multicast, 240/4, a broadcast; ::, multicast). */
  BadSource: 6,
  /** The offending packet is itself an ICMP error (or an unknown ICMPv4 type, or an ICMPv6 redirect). */
  IcmpError: 7,
  /** The token bucket was empty. */
  RateLimited: 8,
  /** `out` is too small for the message. */
  NoRoom: 9,
  /** The NIC has no address to send the error from. */
  NoSource: 10,
  /** The packet is not IPv4/IPv6 over Ethernet as the writer expects. */
  NotIp: 11,
} as const;
export type IcmpReason = (typeof IcmpReason)[keyof typeof IcmpReason];
/** Length of an `Icmp.counters` array. */
export const ICMP_REASON_COUNT = 12;

/** Largest IPv4 ICMP error: 576 bytes, header included (RFC 1812 §4.3.2.3). */
export const ICMPV4_ERROR_MAXIMUM_SIZE = 576;
/** Largest IPv6 ICMP error: the minimum IPv6 MTU (RFC 4443 §2.4 (c)). */
export const ICMPV6_ERROR_MAXIMUM_SIZE = 1280;
/** TTL and hop limit of what the stack originates (Linux `ip_default_ttl`, RFC 1700). */
export const DEFAULT_TTL = 64;
/** TOS of IPv4 ICMP errors: precedence "internetwork control" (Linux `IPTOS_PREC_INTERNETCONTROL`, RFC 1812 §4.3.2.5). */
const ERROR_TOS = 0xc0;
const ECHO_WORD_V4 = ICMPV4_ECHO << 8; // type | code of an echo request
const REPLY_WORD_V4 = ICMPV4_ECHO_REPLY << 8;
/** The last ICMPv4 query type: address mask reply (RFC 950); 13-18 are timestamp, information and address mask queries. */
const ICMPV4_ADDRESS_MASK_REPLY = 18;

/**
 * ICMP for one thread: header views, the error token bucket and counters by `IcmpReason`.
 * Make one per thread (the stack makes one; a forwarding worker makes its own).
 */
export class Icmp {
  /** The error limiter (shared by IPv4 and IPv6, as Linux's global limit is). */
  readonly limiter: TokenBucket;
  /** Counters by `IcmpReason`; [Ok] counts messages written. */
  readonly counters = new Float64Array(ICMP_REASON_COUNT);
  private readonly ip4 = new Ipv4Header();
  private readonly out4 = new Ipv4Header();
  private readonly ip6 = new Ipv6Header();
  private readonly out6 = new Ipv6Header();

  /** Makes the ICMP writer with a token bucket of `rateLimit` (defaults: 1000/s, burst 50). Control path. */
  constructor(rateLimit: TokenBucketOptions = {}) {
    this.limiter = new TokenBucket(rateLimit);
  }

  private refuse(reason: IcmpReason): number {
    this.counters[reason]!++;
    return -reason;
  }

  /**
   * Writes the echo reply to the IPv4 echo request in `view` (parsed into `parsed`, arrived on `nic`)
   * into `out[outOffset]`, which may be the request's own frame (then it is rewritten in place).
   * Refuses a bad checksum, a fragment, and a request to a broadcast/multicast address (Linux
   * `icmp_echo_ignore_broadcasts`). The caller has checked the destination is ours. Returns the length.
   */
  echoReplyV4(view: DataView, parsed: ParsedPacket, nic: Nic, out: DataView, outOffset: number): number {
    if (parsed.networkProtocol !== IPV4_PROTOCOL_NUMBER || parsed.linkOffset < 0 || parsed.transportProtocol !== ICMPV4_PROTOCOL_NUMBER) return this.refuse(IcmpReason.NotIp);
    if (parsed.fragment !== FragmentKind.None) return this.refuse(IcmpReason.Fragment);
    const icmp = parsed.transportOffset;
    const length = parsed.end - icmp;
    if (length < ICMPV4_MINIMUM_SIZE || view.getUint16(icmp) !== ECHO_WORD_V4) return this.refuse(IcmpReason.NotEchoRequest);
    if (isMulticastLinkAddress(view, parsed.linkOffset)) return this.refuse(IcmpReason.LinkBroadcast);
    const ip = this.ip4.reset(view, parsed.networkOffset);
    const at = parsed.networkOffset, tos = ip.tos;
    const source = view.getInt32(at + IPV4_SOURCE_OFFSET), destination = view.getInt32(at + IPV4_DESTINATION_OFFSET);
    if (isIpv4Multicast(destination) || nic.isIpv4Broadcast(destination)) return this.refuse(IcmpReason.Broadcast);
    if (isIpv4MartianSource(source) || nic.isIpv4Broadcast(source)) return this.refuse(IcmpReason.BadSource);
    if (checksumView(view, icmp, length) !== 0xffff) return this.refuse(IcmpReason.BadChecksum);
    const frameLength = ETHERNET_MINIMUM_SIZE + IPV4_MINIMUM_SIZE + length;
    if (out.byteLength - outOffset < frameLength) return this.refuse(IcmpReason.NoRoom);
    const outIcmp = outOffset + ETHERNET_MINIMUM_SIZE + IPV4_MINIMUM_SIZE;
    const oldChecksum = view.getUint16(icmp + 2);
    copyView(view, icmp, out, outIcmp, length); // moves back over any IP options when in place
    out.setUint16(outIcmp, REPLY_WORD_V4);
    // RFC 1624 eqn. 3 over the one changed word: the checksum verified, so the result is exact.
    out.setUint16(outIcmp + 2, updateChecksum16(oldChecksum, ECHO_WORD_V4, REPLY_WORD_V4));
    writeIpv4(this.out4.reset(out, outOffset + ETHERNET_MINIMUM_SIZE), tos, IPV4_MINIMUM_SIZE + length, destination, source);
    writeEthernetHeader(out, outOffset, view, parsed.linkOffset + 6, nic.linkView, 0, IPV4_PROTOCOL_NUMBER);
    this.counters[IcmpReason.Ok]!++;
    return frameLength;
  }

  /**
   * Writes the echo reply to the ICMPv6 echo request in `view` into `out[outOffset]` (in place allowed,
   * as `echoReplyV4`). Extension headers are not repeated; the checksum is recomputed over the new
   * pseudo-header. Refuses multicast destinations, fragments and bad checksums. Returns the length.
   */
  echoReplyV6(view: DataView, parsed: ParsedPacket, nic: Nic, out: DataView, outOffset: number): number {
    if (parsed.networkProtocol !== IPV6_PROTOCOL_NUMBER || parsed.linkOffset < 0 || parsed.transportProtocol !== ICMPV6_PROTOCOL_NUMBER) return this.refuse(IcmpReason.NotIp);
    if (parsed.fragment !== FragmentKind.None) return this.refuse(IcmpReason.Fragment);
    const icmp = parsed.transportOffset;
    const length = parsed.end - icmp;
    if (length < ICMPV6_MINIMUM_SIZE || view.getUint16(icmp) !== ICMPV6_ECHO_REQUEST << 8) return this.refuse(IcmpReason.NotEchoRequest);
    if (isMulticastLinkAddress(view, parsed.linkOffset)) return this.refuse(IcmpReason.LinkBroadcast);
    const ip = this.ip6.reset(view, parsed.networkOffset);
    const src = ip.sourceAddressOffset, dst = ip.destinationAddressOffset;
    if (isIpv6Multicast(view, dst)) return this.refuse(IcmpReason.Broadcast);
    if (isIpv6Multicast(view, src) || isIpv6Unspecified(view, src)) return this.refuse(IcmpReason.BadSource);
    const sum = combineChecksums(pseudoHeaderChecksumV6View(view, src, dst, ICMPV6_PROTOCOL_NUMBER, length), checksumView(view, icmp, length));
    if (sum !== 0xffff) return this.refuse(IcmpReason.BadChecksum);
    const frameLength = ETHERNET_MINIMUM_SIZE + IPV6_FIXED_HEADER_SIZE + length;
    if (out.byteLength - outOffset < frameLength) return this.refuse(IcmpReason.NoRoom);
    const trafficClass = ip.trafficClass;
    const outIp = outOffset + ETHERNET_MINIMUM_SIZE;
    const outIcmp = outIp + IPV6_FIXED_HEADER_SIZE;
    copyView(view, icmp, out, outIcmp, length);
    // Swap the addresses through the one spot that may be in place: read all 32 bytes first.
    const s0 = view.getUint32(src), s1 = view.getUint32(src + 4), s2 = view.getUint32(src + 8), s3 = view.getUint32(src + 12);
    const d0 = view.getUint32(dst), d1 = view.getUint32(dst + 4), d2 = view.getUint32(dst + 8), d3 = view.getUint32(dst + 12);
    const o = this.out6.reset(out, outIp);
    out.setUint32(outIp, 0x60000000);
    o.trafficClass = trafficClass;
    o.payloadLength = length;
    o.nextHeader = ICMPV6_PROTOCOL_NUMBER;
    o.hopLimit = DEFAULT_TTL;
    out.setUint32(o.sourceAddressOffset, d0); out.setUint32(o.sourceAddressOffset + 4, d1);
    out.setUint32(o.sourceAddressOffset + 8, d2); out.setUint32(o.sourceAddressOffset + 12, d3);
    out.setUint32(o.destinationAddressOffset, s0); out.setUint32(o.destinationAddressOffset + 4, s1);
    out.setUint32(o.destinationAddressOffset + 8, s2); out.setUint32(o.destinationAddressOffset + 12, s3);
    out.setUint16(outIcmp, ICMPV6_ECHO_REPLY << 8);
    writeIcmpv6Checksum(out, outIp, outIcmp, length);
    writeEthernetHeader(out, outOffset, view, parsed.linkOffset + 6, nic.linkView, 0, IPV6_PROTOCOL_NUMBER);
    this.counters[IcmpReason.Ok]!++;
    return frameLength;
  }

  /**
   * Tells why no ICMPv4 error may be sent about the packet in `view` (arrived on `nic`), or returns
   * `IcmpReason.Ok`. The rules are in the file comment. Allocation: none.
   */
  errorSuppressedV4(view: DataView, parsed: ParsedPacket, nic: Nic): IcmpReason {
    if (parsed.networkProtocol !== IPV4_PROTOCOL_NUMBER || parsed.networkOffset < 0) return IcmpReason.NotIp;
    if (parsed.fragment === FragmentKind.NonFirst) return IcmpReason.Fragment;
    if (parsed.linkOffset >= 0 && isMulticastLinkAddress(view, parsed.linkOffset)) return IcmpReason.LinkBroadcast;
    const ip = this.ip4.reset(view, parsed.networkOffset);
    const destination = view.getInt32(ip.offset + IPV4_DESTINATION_OFFSET), source = view.getInt32(ip.offset + IPV4_SOURCE_OFFSET);
    if (isIpv4Multicast(destination) || nic.isIpv4Broadcast(destination)) return IcmpReason.Broadcast;
    if (isIpv4MartianSource(source) || nic.isIpv4Broadcast(source)) return IcmpReason.BadSource;
    if (parsed.transportProtocol === ICMPV4_PROTOCOL_NUMBER) {
      if (parsed.end - parsed.transportOffset < 1) return IcmpReason.IcmpError;
      const type = view.getUint8(parsed.transportOffset);
      const query = type === ICMPV4_ECHO_REPLY || type === ICMPV4_ECHO ||
        (type >= ICMPV4_TIMESTAMP && type <= ICMPV4_ADDRESS_MASK_REPLY);
      if (!query) return IcmpReason.IcmpError;
    }
    return IcmpReason.Ok;
  }

  /** As `errorSuppressedV4` for IPv6 (RFC 4443 §2.4 (e)). */
  errorSuppressedV6(view: DataView, parsed: ParsedPacket): IcmpReason {
    if (parsed.networkProtocol !== IPV6_PROTOCOL_NUMBER || parsed.networkOffset < 0) return IcmpReason.NotIp;
    if (parsed.fragment === FragmentKind.NonFirst) return IcmpReason.Fragment;
    if (parsed.linkOffset >= 0 && isMulticastLinkAddress(view, parsed.linkOffset)) return IcmpReason.LinkBroadcast;
    const ip = this.ip6.reset(view, parsed.networkOffset);
    if (isIpv6Multicast(view, ip.destinationAddressOffset)) return IcmpReason.Broadcast;
    const src = ip.sourceAddressOffset;
    if (isIpv6Multicast(view, src) || isIpv6Unspecified(view, src)) return IcmpReason.BadSource;
    if (parsed.transportProtocol === ICMPV6_PROTOCOL_NUMBER) {
      if (parsed.end - parsed.transportOffset < 1) return IcmpReason.IcmpError;
      const type = view.getUint8(parsed.transportOffset);
      if (type < 128 || type === ICMPV6_REDIRECT) return IcmpReason.IcmpError;
    }
    return IcmpReason.Ok;
  }

  /**
   * Writes an ICMPv4 error of `type`/`code` (rest-of-header word `rest`: 0, or the next-hop MTU for
   * fragmentation needed) about the packet in `view`, from IPv4 `source`, into `out[outOffset]`, after
   * the suppression rules and the token bucket at `now`. The Ethernet frame returns to the packet's
   * link source through `nic`. Returns the length or `-reason`.
   */
  errorV4(view: DataView, parsed: ParsedPacket, nic: Nic, type: number, code: number, rest: number, source: number, now: number, out: DataView, outOffset: number): number {
    const suppressed = this.errorSuppressedV4(view, parsed, nic);
    if (suppressed !== IcmpReason.Ok) return this.refuse(suppressed);
    if (parsed.linkOffset < 0) return this.refuse(IcmpReason.NotIp);
    if (source === 0) return this.refuse(IcmpReason.NoSource);
    const ip = this.ip4.reset(view, parsed.networkOffset);
    const headerLength = ip.headerLength;
    const original = parsed.end - parsed.networkOffset;
    const room = out.byteLength - outOffset - ETHERNET_MINIMUM_SIZE - IPV4_MINIMUM_SIZE - ICMPV4_MINIMUM_SIZE;
    const quote = Math.min(original, ICMPV4_ERROR_MAXIMUM_SIZE - IPV4_MINIMUM_SIZE - ICMPV4_MINIMUM_SIZE, room);
    if (quote < Math.min(original, headerLength + 8)) return this.refuse(IcmpReason.NoRoom);
    if (!this.limiter.allow(now)) return this.refuse(IcmpReason.RateLimited);
    const destination = view.getInt32(ip.offset + IPV4_SOURCE_OFFSET);
    const outIcmp = outOffset + ETHERNET_MINIMUM_SIZE + IPV4_MINIMUM_SIZE;
    copyView(view, parsed.networkOffset, out, outIcmp + ICMPV4_MINIMUM_SIZE, quote);
    out.setUint8(outIcmp, type);
    out.setUint8(outIcmp + 1, code);
    out.setUint16(outIcmp + 2, 0);
    out.setUint32(outIcmp + 4, rest >>> 0);
    const icmpLength = ICMPV4_MINIMUM_SIZE + quote;
    out.setUint16(outIcmp + 2, finishChecksum(checksumView(out, outIcmp, icmpLength)));
    writeIpv4(this.out4.reset(out, outOffset + ETHERNET_MINIMUM_SIZE), ERROR_TOS, IPV4_MINIMUM_SIZE + icmpLength, source, destination);
    writeEthernetHeader(out, outOffset, view, parsed.linkOffset + 6, nic.linkView, 0, IPV4_PROTOCOL_NUMBER);
    this.counters[IcmpReason.Ok]!++;
    return ETHERNET_MINIMUM_SIZE + IPV4_MINIMUM_SIZE + icmpLength;
  }

  /**
   * As `errorV4` for ICMPv6 (`rest`: 0, the MTU for packet too big, the pointer for parameter problem),
   * from the IPv6 source at `sourceView[sourceOffset]`; the quote keeps the error within 1280 bytes.
   */
  errorV6(view: DataView, parsed: ParsedPacket, nic: Nic, type: number, code: number, rest: number, sourceView: DataView, sourceOffset: number, now: number, out: DataView, outOffset: number): number {
    const suppressed = this.errorSuppressedV6(view, parsed);
    if (suppressed !== IcmpReason.Ok) return this.refuse(suppressed);
    if (parsed.linkOffset < 0) return this.refuse(IcmpReason.NotIp);
    const original = parsed.end - parsed.networkOffset;
    const room = out.byteLength - outOffset - ETHERNET_MINIMUM_SIZE - IPV6_FIXED_HEADER_SIZE - ICMPV6_MINIMUM_SIZE;
    const quote = Math.min(original, ICMPV6_ERROR_MAXIMUM_SIZE - IPV6_FIXED_HEADER_SIZE - ICMPV6_MINIMUM_SIZE, room);
    if (quote < Math.min(original, IPV6_FIXED_HEADER_SIZE + 8)) return this.refuse(IcmpReason.NoRoom);
    if (!this.limiter.allow(now)) return this.refuse(IcmpReason.RateLimited);
    const ip = this.ip6.reset(view, parsed.networkOffset);
    const outIp = outOffset + ETHERNET_MINIMUM_SIZE;
    const outIcmp = outIp + IPV6_FIXED_HEADER_SIZE;
    const icmpLength = ICMPV6_MINIMUM_SIZE + quote;
    copyView(view, parsed.networkOffset, out, outIcmp + ICMPV6_MINIMUM_SIZE, quote);
    const o = this.out6.reset(out, outIp);
    out.setUint32(outIp, 0x60000000);
    o.payloadLength = icmpLength;
    o.nextHeader = ICMPV6_PROTOCOL_NUMBER;
    o.hopLimit = DEFAULT_TTL;
    copyIpv6Address(sourceView, sourceOffset, out, o.sourceAddressOffset);
    copyIpv6Address(view, ip.sourceAddressOffset, out, o.destinationAddressOffset);
    out.setUint8(outIcmp, type);
    out.setUint8(outIcmp + 1, code);
    out.setUint32(outIcmp + 4, rest >>> 0);
    writeIcmpv6Checksum(out, outIp, outIcmp, icmpLength);
    writeEthernetHeader(out, outOffset, view, parsed.linkOffset + 6, nic.linkView, 0, IPV6_PROTOCOL_NUMBER);
    this.counters[IcmpReason.Ok]!++;
    return ETHERNET_MINIMUM_SIZE + IPV6_FIXED_HEADER_SIZE + icmpLength;
  }
}

/** Writes a 20-byte IPv4 header (DF, id 0, TTL 64, ICMP) through `ip` and fills its checksum. */
function writeIpv4(ip: Ipv4Header, tos: number, totalLength: number, source: number, destination: number): void {
  const view = ip.view, at = ip.offset;
  view.setUint8(at, 0x45); // version 4, IHL 5
  ip.tos = tos;
  ip.totalLength = totalLength;
  ip.id = 0;
  view.setUint16(at + 6, IPV4_FLAG_DONT_FRAGMENT << 13); // flags DF, fragment offset 0
  ip.ttl = DEFAULT_TTL;
  ip.protocol = ICMPV4_PROTOCOL_NUMBER;
  ip.checksum = 0;
  ip.sourceAddress = source;
  ip.destinationAddress = destination;
  ip.checksum = finishChecksum(checksumView(view, at, IPV4_MINIMUM_SIZE));
}

/**
 * Fills the ICMPv6 checksum of the message at `icmp` (`length` bytes) under the IPv6 header at `ip`.
 * Exported for `ndp.ts`. Allocation: none.
 */
export function writeIcmpv6Checksum(view: DataView, ip: number, icmp: number, length: number): void {
  view.setUint16(icmp + 2, 0);
  const sum = combineChecksums(pseudoHeaderChecksumV6View(view, ip + 8, ip + 24, ICMPV6_PROTOCOL_NUMBER, length), checksumView(view, icmp, length));
  view.setUint16(icmp + 2, finishChecksum(sum));
}
