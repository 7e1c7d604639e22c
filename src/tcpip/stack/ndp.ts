/**
 * IPv6 neighbor discovery for one NIC (RFC 4861), the address-resolution half: answer neighbor
 * solicitations (NS) for the NIC's addresses with a neighbor advertisement (NA), learn from NS and NA,
 * and build the NS that resolves a next hop. Router discovery, redirects and DAD of our own addresses
 * are not done here.
 *
 * Checks are RFC 4861 §7.1.1 / §7.1.2: hop limit 255, code 0, a valid checksum, at least 24 bytes, a
 * target that is not multicast, no option of length 0; an NS from :: must go to a solicited-node
 * address and carry no source link-layer option; an NA to a multicast address must not have S set.
 * Learning is §7.2.3 (an NS with a source link-layer option creates or updates a STALE entry) and
 * §7.2.5 (an NA updates an existing entry by its S and O flags; the target link-layer option is needed:
 * an NA without one teaches nothing here). The NA we send has S (unless the NS came from ::, then it
 * goes to ff02::1), O, R when the stack forwards, and our link-layer address as the target option.
 *
 * Thread: the owner of the NIC and neighbor tables. Hot path: no allocation, no throw.
 */
import { checksumView, combineChecksums, pseudoHeaderChecksumV6View } from '../checksum.ts';
import { ETHERNET_MINIMUM_SIZE, copyLinkAddress, linkAddressEquals } from '../header/ethernet.ts';
import {
  ICMPV6_NEIGHBOR_ADVERT,
  ICMPV6_NEIGHBOR_MINIMUM_SIZE,
  ICMPV6_NEIGHBOR_SOLICIT,
  NDP_NA_OVERRIDE_FLAG,
  NDP_NA_ROUTER_FLAG,
  NDP_NA_SOLICITED_FLAG,
} from '../header/icmpv6.ts';
import { IPV6_FIXED_HEADER_SIZE, Ipv6Header, copyIpv6Address } from '../header/ipv6.ts';
import type { ParsedPacket } from '../parse.ts';
import { ICMPV6_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER } from '../protocols.ts';
import { isIpv6Multicast, isIpv6SolicitedNode, isIpv6Unspecified, writeIpv6AllNodes, writeIpv6SolicitedNode } from './address-class.ts';
import { writeIcmpv6Checksum } from './icmp.ts';
import { writeEthernetHeader, writeIpv6MulticastLinkAddress } from './link.ts';
import { NEIGHBOR_CREATE, NEIGHBOR_OVERRIDE, NEIGHBOR_SOLICITED, NeighborUpdate, type NeighborTable } from './neighbor-table.ts';
import type { Nic } from './nic.ts';

/** NDP option type: source link-layer address (RFC 4861 §4.6.1). */
export const NDP_OPTION_SOURCE_LINK_ADDRESS = 1;
/** NDP option type: target link-layer address (RFC 4861 §4.6.1). */
export const NDP_OPTION_TARGET_LINK_ADDRESS = 2;
/** Hop limit of every NDP message; anything else came from off-link and is dropped (RFC 4861 §7.1). */
export const NDP_HOP_LIMIT = 255;
/** Length of an NS or NA frame the stack writes: Ethernet, IPv6, 24-byte message, one 8-byte link-layer option. */
export const NDP_FRAME_SIZE = ETHERNET_MINIMUM_SIZE + IPV6_FIXED_HEADER_SIZE + ICMPV6_NEIGHBOR_MINIMUM_SIZE + 8;
const NDP_MESSAGE_SIZE = ICMPV6_NEIGHBOR_MINIMUM_SIZE + 8;

/**
 * What `handleNdp()` did: outcomes below `Malformed` (bit 1: an NA is in `out`; bit 2: a neighbor
 * resolved, drain `neighbors.entry`'s queue), drop reasons from it on. Indexes a counter array
 * `NDP_RESULT_COUNT` long.
 */
export const NdpResult = {
  /** Taken: learned from, or not for us. */
  Consumed: 0,
  /** An NA is in `out` (`NDP_FRAME_SIZE` bytes): send it on the NIC. */
  Replied: 1,
  /** A waiting neighbor resolved: send the packets queued on `neighbors.entry`. */
  Resolved: 2,
  /** Both. */
  RepliedResolved: 3,
  /** Shorter than 24 bytes, code not 0, or an option of length 0 or past the end. */
  Malformed: 4,
  /** Hop limit not 255. */
  BadHopLimit: 5,
  /** The ICMPv6 checksum does not verify. */
  BadChecksum: 6,
  /** The target is a multicast address. */
  MulticastTarget: 7,
  /** A multicast source; or an NS from :: not to a solicited-node address or with a source link-layer option. */
  BadSource: 8,
  /** An NA to a multicast address with S set. */
  SolicitedMulticast: 9,
  /** An NA from another node for one of this NIC's addresses (a duplicate address). */
  AddressConflict: 10,
  /** `out` has no room for the NA. */
  NoRoom: 11,
  /** Not an NS or NA in IPv6 over Ethernet. */
  NotNdp: 12,
} as const;
export type NdpResult = (typeof NdpResult)[keyof typeof NdpResult];
/** Length of a counter array indexed by `NdpResult`. */
export const NDP_RESULT_COUNT = 13;

const ip = new Ipv6Header(); // per thread (module instance); never escapes
let linkOptionOffset = -1; // set by findLinkOption: where the 6 address bytes of the option start

/**
 * Walks the options in `[at, end)` and sets `linkOptionOffset` to the address of the first option of
 * `type` (-1 when absent). Returns false on a zero length or an option past the end (RFC 4861 §4.6).
 */
function findLinkOption(view: DataView, at: number, end: number, type: number): boolean {
  linkOptionOffset = -1;
  while (at < end) {
    if (end - at < 2) return false;
    const length = view.getUint8(at + 1) * 8;
    if (length === 0 || at + length > end) return false;
    if (linkOptionOffset < 0 && view.getUint8(at) === type && length >= 8) linkOptionOffset = at + 2;
    at += length;
  }
  return true;
}

/**
 * Handles the NS or NA parsed into `parsed` (in `view`) that arrived on `nic`: learns into `neighbors`
 * (an IPv6 table) and, for an NS for one of the NIC's addresses, writes the NA frame into
 * `out[outOffset]` (which may be the NS's own frame). `router` sets the NA's R flag. Never throws;
 * allocates nothing.
 */
export function handleNdp(nic: Nic, neighbors: NeighborTable, view: DataView, parsed: ParsedPacket, now: number, out: DataView, outOffset: number, router: boolean): NdpResult {
  if (parsed.networkProtocol !== IPV6_PROTOCOL_NUMBER || parsed.transportProtocol !== ICMPV6_PROTOCOL_NUMBER || parsed.linkOffset < 0) return NdpResult.NotNdp;
  const icmp = parsed.transportOffset, end = parsed.end, length = end - icmp;
  if (length < 1) return NdpResult.NotNdp;
  const type = view.getUint8(icmp);
  if (type !== ICMPV6_NEIGHBOR_SOLICIT && type !== ICMPV6_NEIGHBOR_ADVERT) return NdpResult.NotNdp;
  ip.reset(view, parsed.networkOffset);
  if (ip.hopLimit !== NDP_HOP_LIMIT) return NdpResult.BadHopLimit;
  if (length < ICMPV6_NEIGHBOR_MINIMUM_SIZE || view.getUint8(icmp + 1) !== 0) return NdpResult.Malformed;
  const src = ip.sourceAddressOffset, dst = ip.destinationAddressOffset;
  const sum = combineChecksums(pseudoHeaderChecksumV6View(view, src, dst, ICMPV6_PROTOCOL_NUMBER, length), checksumView(view, icmp, length));
  if (sum !== 0xffff) return NdpResult.BadChecksum;
  const target = icmp + 8;
  if (isIpv6Multicast(view, target)) return NdpResult.MulticastTarget;
  if (isIpv6Multicast(view, src)) return NdpResult.BadSource;
  const optionType = type === ICMPV6_NEIGHBOR_SOLICIT ? NDP_OPTION_SOURCE_LINK_ADDRESS : NDP_OPTION_TARGET_LINK_ADDRESS;
  if (!findLinkOption(view, icmp + ICMPV6_NEIGHBOR_MINIMUM_SIZE, end, optionType)) return NdpResult.Malformed;
  const option = linkOptionOffset;

  if (type === ICMPV6_NEIGHBOR_ADVERT) {
    const flags = view.getUint8(icmp + 4);
    const solicited = (flags & NDP_NA_SOLICITED_FLAG) !== 0;
    if (solicited && isIpv6Multicast(view, dst)) return NdpResult.SolicitedMulticast;
    if (nic.hasIpv6Address(view, target)) {
      return option >= 0 && linkAddressEquals(view, option, nic.linkView, 0) ? NdpResult.Consumed : NdpResult.AddressConflict;
    }
    if (option < 0) return NdpResult.Consumed;
    const update = neighbors.updateIpv6(nic.id, view, target, view, option,
      (solicited ? NEIGHBOR_SOLICITED : 0) | ((flags & NDP_NA_OVERRIDE_FLAG) !== 0 ? NEIGHBOR_OVERRIDE : 0), now);
    return update === NeighborUpdate.Resolved ? NdpResult.Resolved : NdpResult.Consumed;
  }

  // Neighbor solicitation.
  const fromUnspecified = isIpv6Unspecified(view, src);
  if (fromUnspecified && (option >= 0 || !isIpv6SolicitedNode(view, dst))) return NdpResult.BadSource;
  if (!nic.hasIpv6Address(view, target)) return NdpResult.Consumed;
  let resolved = false;
  if (!fromUnspecified && option >= 0) {
    resolved = neighbors.updateIpv6(nic.id, view, src, view, option, NEIGHBOR_CREATE | NEIGHBOR_OVERRIDE, now) === NeighborUpdate.Resolved;
  }
  if (out.byteLength - outOffset < NDP_FRAME_SIZE) return NdpResult.NoRoom;
  // Read what the NA needs before writing: `out` may be the NS's own frame.
  const t0 = view.getUint32(target), t1 = view.getUint32(target + 4), t2 = view.getUint32(target + 8), t3 = view.getUint32(target + 12);
  const s0 = view.getUint32(src), s1 = view.getUint32(src + 4), s2 = view.getUint32(src + 8), s3 = view.getUint32(src + 12);
  const macAt = option >= 0 ? option : parsed.linkOffset + 6;
  const macHigh = view.getUint32(macAt), macLow = view.getUint16(macAt + 4);

  const outIp = outOffset + ETHERNET_MINIMUM_SIZE, outIcmp = outIp + IPV6_FIXED_HEADER_SIZE;
  const o = ip.reset(out, outIp);
  out.setUint32(outIp, 0x60000000); // version 6, traffic class 0, flow label 0
  o.payloadLength = NDP_MESSAGE_SIZE;
  o.nextHeader = ICMPV6_PROTOCOL_NUMBER;
  o.hopLimit = NDP_HOP_LIMIT;
  const source = o.sourceAddressOffset, destination = o.destinationAddressOffset;
  out.setUint32(source, t0); out.setUint32(source + 4, t1); out.setUint32(source + 8, t2); out.setUint32(source + 12, t3);
  if (fromUnspecified) {
    writeIpv6AllNodes(out, destination);
  } else {
    out.setUint32(destination, s0); out.setUint32(destination + 4, s1); out.setUint32(destination + 8, s2); out.setUint32(destination + 12, s3);
  }
  out.setUint32(outIcmp, ICMPV6_NEIGHBOR_ADVERT << 24); // type, code 0, checksum 0 for now
  out.setUint32(outIcmp + 4, ((router ? NDP_NA_ROUTER_FLAG : 0) | (fromUnspecified ? 0 : NDP_NA_SOLICITED_FLAG) | NDP_NA_OVERRIDE_FLAG) << 24);
  out.setUint32(outIcmp + 8, t0); out.setUint32(outIcmp + 12, t1); out.setUint32(outIcmp + 16, t2); out.setUint32(outIcmp + 20, t3);
  out.setUint8(outIcmp + 24, NDP_OPTION_TARGET_LINK_ADDRESS);
  out.setUint8(outIcmp + 25, 1); // length in 8-byte units
  copyLinkAddress(nic.linkView, 0, out, outIcmp + 26);
  writeIcmpv6Checksum(out, outIp, outIcmp, NDP_MESSAGE_SIZE);
  if (fromUnspecified) {
    writeIpv6MulticastLinkAddress(out, destination, out, outOffset);
  } else {
    out.setUint32(outOffset, macHigh);
    out.setUint16(outOffset + 4, macLow);
  }
  copyLinkAddress(nic.linkView, 0, out, outOffset + 6);
  out.setUint16(outOffset + 12, IPV6_PROTOCOL_NUMBER);
  return resolved ? NdpResult.RepliedResolved : NdpResult.Replied;
}

/**
 * Writes an NS frame resolving the IPv6 address at `target[targetOffset]` from `nic` into
 * `out[outOffset]` and returns its length (`NDP_FRAME_SIZE`), or 0 when the NIC has no IPv6 address or
 * `out` has no room. Sent to the target's solicited-node multicast address (Ethernet 33:33:ff:xx:xx:xx),
 * or, when `unicast` is given, to the target itself at the 6 bytes of `unicast[unicastOffset]` (the
 * probe of a stale entry, RFC 4861 §7.3.3). Carries our source link-layer address.
 */
export function writeNeighborSolicit(nic: Nic, target: DataView, targetOffset: number, out: DataView, outOffset: number, unicast?: DataView, unicastOffset = 0): number {
  const sourceIndex = nic.selectIpv6Source(target, targetOffset);
  if (sourceIndex < 0 || out.byteLength - outOffset < NDP_FRAME_SIZE) return 0;
  const outIp = outOffset + ETHERNET_MINIMUM_SIZE, outIcmp = outIp + IPV6_FIXED_HEADER_SIZE;
  const o = ip.reset(out, outIp);
  out.setUint32(outIp, 0x60000000);
  o.payloadLength = NDP_MESSAGE_SIZE;
  o.nextHeader = ICMPV6_PROTOCOL_NUMBER;
  o.hopLimit = NDP_HOP_LIMIT;
  copyIpv6Address(nic.ipv6View, 16 * sourceIndex, out, o.sourceAddressOffset);
  if (unicast === undefined) writeIpv6SolicitedNode(target, targetOffset, out, o.destinationAddressOffset);
  else copyIpv6Address(target, targetOffset, out, o.destinationAddressOffset);
  out.setUint32(outIcmp, ICMPV6_NEIGHBOR_SOLICIT << 24);
  out.setUint32(outIcmp + 4, 0); // reserved
  copyIpv6Address(target, targetOffset, out, outIcmp + 8);
  out.setUint8(outIcmp + 24, NDP_OPTION_SOURCE_LINK_ADDRESS);
  out.setUint8(outIcmp + 25, 1);
  copyLinkAddress(nic.linkView, 0, out, outIcmp + 26);
  writeIcmpv6Checksum(out, outIp, outIcmp, NDP_MESSAGE_SIZE);
  if (unicast === undefined) {
    writeIpv6MulticastLinkAddress(out, o.destinationAddressOffset, out, outOffset);
    copyLinkAddress(nic.linkView, 0, out, outOffset + 6);
    out.setUint16(outOffset + 12, IPV6_PROTOCOL_NUMBER);
  } else {
    writeEthernetHeader(out, outOffset, unicast, unicastOffset, nic.linkView, 0, IPV6_PROTOCOL_NUMBER);
  }
  return NDP_FRAME_SIZE;
}
