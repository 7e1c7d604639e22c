/**
 * The Internet checksum (RFC 1071): a one's-complement sum of 16-bit big-endian words, the pseudo-header
 * sums that UDP, TCP and ICMPv6 add in (RFC 768, RFC 9293 §3.1, RFC 8200 §8.1), and the incremental
 * update of RFC 1624 that forwarding uses when it rewrites a TTL, an address or a port.
 *
 * Vocabulary, as in gVisor's `checksum` package: a *sum* is the folded one's-complement sum in
 * [0, 0xffff], not complemented; `finishChecksum(sum)` complements it into the value a header carries.
 * A packet verifies when the sum over everything the checksum covers, checksum field included, is 0xffff.
 *
 * Thread: any. Hot path: every function here works on numbers and memory it is handed; none allocates,
 * none throws on data (a DataView read past its end throws RangeError: callers pass validated bounds).
 */
import { TCP_PROTOCOL_NUMBER, UDP_PROTOCOL_NUMBER, ICMPV6_PROTOCOL_NUMBER } from './protocols.ts';

// Byte offsets inside headers this file patches (RFC 791, RFC 8200, RFC 768, RFC 9293, RFC 4443).
const IPV4_VERSION_IHL = 0;
const IPV4_TOTAL_LENGTH = 2;
const IPV4_FLAGS_FRAGMENT_OFFSET = 6;
const IPV4_TTL = 8;
const IPV4_PROTOCOL = 9;
const IPV4_CHECKSUM = 10;
const IPV6_HOP_LIMIT = 7;
const UDP_CHECKSUM = 6;
const TCP_CHECKSUM = 16;
const ICMPV6_CHECKSUM = 2;

/**
 * 32-bit words `checksumView` adds (as their two 16-bit halves) between two folds of its sum: 4096 of
 * them plus a folded sum stay below 2^30, a small integer (Smi) on every V8 build, so no add ever yields
 * a heap number.
 */
const WORDS_PER_FOLD = 4096;

/** Folds a non-negative integer below 2^53 into a 16-bit one's-complement sum (end-around carry). */
function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return sum;
}

/**
 * Returns the one's-complement sum of `bytes[offset, offset+length)` as 16-bit big-endian words, added to
 * `initial` (a previous sum, default 0). An odd length pads the last byte with a zero byte on the right,
 * as RFC 1071 §4.1 does. The words are counted from `offset`, whatever its parity in the buffer.
 * Allocation: none. Precondition: the range lies inside `bytes`.
 */
export function checksum(bytes: Uint8Array, offset: number, length: number, initial = 0): number {
  // 16-bit words: at most 2^31 of them below 2^16 each stay exact in a double, so no fold in the loop.
  let sum = initial;
  let i = offset;
  const end = offset + length;
  const end4 = end - 3;
  for (; i < end4; i += 4) {
    sum += ((bytes[i]! << 8) | bytes[i + 1]!) + ((bytes[i + 2]! << 8) | bytes[i + 3]!);
  }
  if (i + 1 < end) {
    sum += (bytes[i]! << 8) | bytes[i + 1]!;
    i += 2;
  }
  if (i < end) sum += bytes[i]! << 8;
  return fold(sum);
}

/**
 * Returns the same sum as `checksum()` over `view[offset, offset+length)`, added to `initial` (a previous
 * sum in [0, 0xffff]), reading 32-bit words through the DataView and adding their 16-bit halves. Use it
 * where a frame pool hands out its DataView. Every value stays a small integer: a word is read signed
 * (an int32) and split, and the loop folds the sum every `WORDS_PER_FOLD` words. That matters on the
 * per-packet path (forwarding completes partial checksums): adding unsigned 32-bit words made doubles
 * above 2^31, a heap number per add whenever V8 ran this function unoptimized, measured as steady
 * scavenges in a forwarding worker (`bench/forward-gc.ts`). Allocation: none, optimized or not.
 * Precondition: the range lies inside `view`.
 */
export function checksumView(view: DataView, offset: number, length: number, initial = 0): number {
  let sum = initial;
  let i = offset;
  const end = offset + length;
  const end4 = end - 3;
  while (i < end4) {
    let stop = i + 4 * WORDS_PER_FOLD;
    if (stop > end4) stop = end4;
    for (; i < stop; i += 4) {
      const w = view.getInt32(i);
      sum += (w >>> 16) + (w & 0xffff);
    }
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  if (i + 1 < end) {
    sum += view.getUint16(i);
    i += 2;
  }
  if (i < end) sum += view.getUint8(i) << 8;
  sum = (sum & 0xffff) + (sum >>> 16);
  return (sum & 0xffff) + (sum >>> 16);
}

/**
 * Returns the one's-complement sum of two sums (each in [0, 0xffff]). Both parts must start at an even
 * byte distance from the start of what the checksum covers (RFC 1071 §2(B): byte order independence
 * needs word alignment between the parts).
 */
export function combineChecksums(a: number, b: number): number {
  const s = a + b;
  return (s & 0xffff) + (s >>> 16);
}

/** Returns the checksum field value for a sum: its one's complement, in [0, 0xffff]. */
export function finishChecksum(sum: number): number {
  return ~sum & 0xffff;
}

/**
 * Returns the sum of the IPv4 pseudo-header used by UDP and TCP (RFC 768, RFC 9293 §3.1): source and
 * destination addresses as unsigned 32-bit numbers, a zero byte and the protocol, and `length`, the
 * transport header plus payload in bytes. Combine it with the transport bytes' sum.
 */
export function pseudoHeaderChecksumV4(protocol: number, source: number, destination: number, length: number): number {
  const sum =
    (source >>> 16) + (source & 0xffff) + (destination >>> 16) + (destination & 0xffff) + protocol + length;
  return fold(sum);
}

/**
 * Returns the sum of the IPv6 pseudo-header (RFC 8200 §8.1) used by UDP, TCP and ICMPv6: the 16-byte
 * source and destination addresses at `sourceOffset` / `destinationOffset` in `bytes`, the 32-bit
 * upper-layer packet length and the next header (the upper-layer protocol, not an extension header).
 * When a routing header is present the destination is the final one (RFC 8200 §8.1).
 */
export function pseudoHeaderChecksumV6(
  bytes: Uint8Array,
  sourceOffset: number,
  destinationOffset: number,
  nextHeader: number,
  length: number,
): number {
  let sum = (length >>> 16) + (length & 0xffff) + nextHeader;
  for (let i = 0; i < 16; i += 2) {
    sum += ((bytes[sourceOffset + i]! << 8) | bytes[sourceOffset + i + 1]!) +
      ((bytes[destinationOffset + i]! << 8) | bytes[destinationOffset + i + 1]!);
  }
  return fold(sum);
}

/** Returns the same sum as `pseudoHeaderChecksumV6()`, with the addresses read through a DataView. */
export function pseudoHeaderChecksumV6View(
  view: DataView,
  sourceOffset: number,
  destinationOffset: number,
  nextHeader: number,
  length: number,
): number {
  let sum = (length >>> 16) + (length & 0xffff) + nextHeader;
  for (let i = 0; i < 16; i += 4) sum += view.getUint32(sourceOffset + i) + view.getUint32(destinationOffset + i);
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return sum;
}

/**
 * Returns the checksum field after one 16-bit word it covers changed from `oldWord` to `newWord`:
 * RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m'). Unlike eqn. 2 it never yields 0xffff (-0) where a full
 * recompute gives 0x0000 (RFC 1624 §3). The word must sit at an even offset in the covered bytes.
 */
export function updateChecksum16(checksum: number, oldWord: number, newWord: number): number {
  let s = (~checksum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/**
 * Returns the checksum field after a 32-bit value it covers (an IPv4 address, two aligned words)
 * changed from `oldValue` to `newValue` (unsigned 32-bit numbers): RFC 1624 eqn. 3 over both halves.
 */
export function updateChecksum32(checksum: number, oldValue: number, newValue: number): number {
  let s =
    (~checksum & 0xffff) +
    (~(oldValue >>> 16) & 0xffff) + (~oldValue & 0xffff) +
    (newValue >>> 16) + (newValue & 0xffff);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/**
 * Decrements the TTL of the IPv4 header at `ipOffset` and patches its header checksum in place
 * (RFC 1624), as a router does before forwarding (RFC 1812 §5.3.1). Returns false and writes nothing
 * when the TTL is 0 or 1: that packet must not be forwarded (Linux `ip_forward` checks `ttl <= 1`
 * before decreasing, so the ICMP time-exceeded quote carries the header as received).
 * Allocation: none. Precondition: a validated IPv4 header.
 */
export function decrementTtl(view: DataView, ipOffset: number): boolean {
  const word = view.getUint16(ipOffset + IPV4_TTL); // TTL << 8 | protocol
  if (word < 0x200) return false;
  const next = word - 0x100;
  view.setUint16(ipOffset + IPV4_TTL, next);
  view.setUint16(ipOffset + IPV4_CHECKSUM, updateChecksum16(view.getUint16(ipOffset + IPV4_CHECKSUM), word, next));
  return true;
}

/**
 * Decrements the hop limit of the IPv6 header at `ipOffset` (IPv6 has no header checksum, and the hop
 * limit is not in the pseudo-header). Returns false and writes nothing when it is 0 or 1 (RFC 8200 §3).
 */
export function decrementHopLimit(view: DataView, ipOffset: number): boolean {
  const hopLimit = view.getUint8(ipOffset + IPV6_HOP_LIMIT);
  if (hopLimit <= 1) return false;
  view.setUint8(ipOffset + IPV6_HOP_LIMIT, hopLimit - 1);
  return true;
}

/**
 * Returns where the transport checksum of `protocol` sits for a transport header at `transportOffset`,
 * for checksums that cover the IP pseudo-header: TCP +16, UDP +6, ICMPv6 +2; -1 for anything else
 * (ICMPv4's checksum covers only its own bytes, so address rewrites leave it alone).
 */
export function transportChecksumOffset(protocol: number, transportOffset: number): number {
  if (protocol === TCP_PROTOCOL_NUMBER) return transportOffset + TCP_CHECKSUM;
  if (protocol === UDP_PROTOCOL_NUMBER) return transportOffset + UDP_CHECKSUM;
  if (protocol === ICMPV6_PROTOCOL_NUMBER) return transportOffset + ICMPV6_CHECKSUM;
  return -1;
}

/**
 * Patches the transport checksum at `checksumOffset` after a covered 16-bit word changed. UDP's 0 means
 * "no checksum" (RFC 768) and stays 0, and a computed 0 is sent as 0xffff.
 */
function patchTransport16(view: DataView, checksumOffset: number, isUdp: boolean, oldWord: number, newWord: number): void {
  const old = view.getUint16(checksumOffset);
  if (isUdp && old === 0) return;
  const next = updateChecksum16(old, oldWord, newWord);
  view.setUint16(checksumOffset, isUdp && next === 0 ? 0xffff : next);
}

/** Patches the transport checksum after a covered 32-bit value changed; UDP rules as `patchTransport16`. */
function patchTransport32(view: DataView, checksumOffset: number, isUdp: boolean, oldValue: number, newValue: number): void {
  const old = view.getUint16(checksumOffset);
  if (isUdp && old === 0) return;
  const next = updateChecksum32(old, oldValue, newValue);
  view.setUint16(checksumOffset, isUdp && next === 0 ? 0xffff : next);
}

/**
 * Writes `address` (unsigned 32-bit) into the IPv4 address field at `ipOffset + fieldOffset` (12 for the
 * source, 16 for the destination) and patches the header checksum and, when this packet carries the
 * start of a TCP or UDP header (not a later fragment) whose checksum field lies inside the packet, the
 * transport checksum, whose pseudo-header covers the address.
 */
function rewriteIpv4Address(view: DataView, ipOffset: number, fieldOffset: number, address: number): void {
  const at = ipOffset + fieldOffset;
  const old = view.getUint32(at);
  const next = address >>> 0;
  view.setUint32(at, next);
  view.setUint16(ipOffset + IPV4_CHECKSUM, updateChecksum32(view.getUint16(ipOffset + IPV4_CHECKSUM), old, next));
  if ((view.getUint16(ipOffset + IPV4_FLAGS_FRAGMENT_OFFSET) & 0x1fff) !== 0) return; // a later fragment
  const protocol = view.getUint8(ipOffset + IPV4_PROTOCOL);
  if (protocol !== TCP_PROTOCOL_NUMBER && protocol !== UDP_PROTOCOL_NUMBER) return;
  const headerLength = (view.getUint8(ipOffset + IPV4_VERSION_IHL) & 0x0f) * 4;
  const at4 = transportChecksumOffset(protocol, ipOffset + headerLength);
  if (at4 + 2 > ipOffset + view.getUint16(ipOffset + IPV4_TOTAL_LENGTH)) return;
  patchTransport32(view, at4, protocol === UDP_PROTOCOL_NUMBER, old, next);
}

/**
 * Rewrites the source address of the IPv4 packet at `ipOffset` (SNAT) and patches the IPv4 header
 * checksum and the TCP/UDP checksum (RFC 1624 / RFC 3022 §4.2). Allocation: none.
 * Precondition: a validated IPv4 header whose total length lies inside `view`.
 */
export function rewriteIpv4Source(view: DataView, ipOffset: number, address: number): void {
  rewriteIpv4Address(view, ipOffset, 12, address);
}

/** Rewrites the destination address (DNAT); otherwise as `rewriteIpv4Source()`. */
export function rewriteIpv4Destination(view: DataView, ipOffset: number, address: number): void {
  rewriteIpv4Address(view, ipOffset, 16, address);
}

/**
 * Copies the 16-byte address at `bytes[addressOffset]` into the IPv6 address field at `fieldOffset`
 * (absolute: the header's offset + 8 for the source, + 24 for the destination) and patches the transport
 * checksum at `transportOffset` for `transportProtocol` (TCP, UDP or ICMPv6; pass -1 as `transportOffset`
 * when this packet carries no transport header, e.g. a later fragment). `bytes` must not overlap the field.
 * Allocation: none. Precondition: validated headers; the checksum field lies inside `view`.
 */
export function rewriteIpv6Address(
  view: DataView,
  fieldOffset: number,
  bytes: Uint8Array,
  addressOffset: number,
  transportProtocol: number,
  transportOffset: number,
): void {
  const at4 = transportOffset < 0 ? -1 : transportChecksumOffset(transportProtocol, transportOffset);
  const isUdp = transportProtocol === UDP_PROTOCOL_NUMBER;
  let sum = at4 < 0 ? 0 : view.getUint16(at4);
  const skip = at4 < 0 || (isUdp && sum === 0);
  if (!skip) sum = ~sum & 0xffff;
  for (let i = 0; i < 16; i += 2) {
    const oldWord = view.getUint16(fieldOffset + i);
    const newWord = (bytes[addressOffset + i]! << 8) | bytes[addressOffset + i + 1]!;
    view.setUint16(fieldOffset + i, newWord);
    sum += (~oldWord & 0xffff) + newWord;
  }
  if (skip) return;
  sum = fold(sum);
  const next = ~sum & 0xffff;
  view.setUint16(at4, isUdp && next === 0 ? 0xffff : next);
}

/**
 * Writes `port` into the TCP or UDP header at `transportOffset` (field 0: source port, 2: destination
 * port) and patches that header's checksum. Returns false, writing nothing, for another protocol.
 * Allocation: none. Precondition: a validated TCP or UDP header inside `view`.
 */
export function rewritePort(
  view: DataView,
  transportProtocol: number,
  transportOffset: number,
  fieldOffset: 0 | 2,
  port: number,
): boolean {
  if (transportProtocol !== TCP_PROTOCOL_NUMBER && transportProtocol !== UDP_PROTOCOL_NUMBER) return false;
  const at = transportOffset + fieldOffset;
  const old = view.getUint16(at);
  const next = port & 0xffff;
  view.setUint16(at, next);
  patchTransport16(view, transportChecksumOffset(transportProtocol, transportOffset), transportProtocol === UDP_PROTOCOL_NUMBER, old, next);
  return true;
}

/**
 * Completes, in place, the UDP or TCP checksum of a packet received with a partial one (a CHECKSUM_PARTIAL skb,
 * AF_PACKET's TP_STATUS_CSUMNOTREADY): the field already holds the pseudo-header sum, so the checksum is the
 * complement of the sum over the segment as it is, `view[transportOffset, end)` (what the offloading
 * device would have done from csum_start); a UDP result of 0 is sent as 0xffff (RFC 768). Returns false,
 * writing nothing, for another protocol or a checksum field past `end`. Precondition: `end` is the end of
 * the IP payload and the packet is not a later fragment. Thread: any. No allocation, no throw.
 */
export function completeTransportChecksum(view: DataView, transportProtocol: number, transportOffset: number, end: number): boolean {
  const udp = transportProtocol === UDP_PROTOCOL_NUMBER;
  const at = udp ? transportOffset + 6 : transportProtocol === TCP_PROTOCOL_NUMBER ? transportOffset + 16 : -1;
  if (at < 0 || at + 2 > end) return false;
  const field = finishChecksum(checksumView(view, transportOffset, end - transportOffset));
  view.setUint16(at, udp && field === 0 ? 0xffff : field);
  return true;
}

/**
 * Tells whether the IPv4 header of `length` bytes (20..60) at `view[ip]` sums to 0xffff (a valid header
 * checksum). 16-bit adds: 30 words of 0xffff stay below 2^21, a small integer all the way, so nothing is
 * boxed (the generic `checksumView` adds 32-bit words, passes 2^31 and folds in doubles: measured 44 → 21 ns
 * per header). Allocation: none.
 */
export function ipv4HeaderChecksumOk(view: DataView, ip: number, length: number): boolean {
  let sum = 0;
  const end = ip + length;
  for (let i = ip; i < end; i += 2) sum += view.getUint16(i);
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return sum === 0xffff;
}
