/**
 * ARP for one NIC (RFC 826): answer requests for the NIC's IPv4 addresses, learn from what arrives, and
 * build the requests that resolve a next hop.
 *
 * Learning follows RFC 826's merge as Linux's `arp_process()` does it: the sender's entry is updated if
 * one exists (any request or reply), created only when the packet is a request for one of our
 * addresses (Linux creates none from unsolicited replies, `arp_accept` = 0), and marked REACHABLE only
 * by a reply sent to our MAC (unicast), STALE otherwise. The NIC answers only for its own addresses
 * (Linux `arp_ignore` = 1, the safe setting for a multi-NIC forwarder). A sender of 0.0.0.0 (an RFC 5227
 * probe) gets a reply but teaches nothing; a sender claiming one of our addresses with another MAC is
 * a conflict and is dropped.
 *
 * Thread: the owner of the NIC table and neighbor table. Hot path: no allocation, no throw; results are
 * codes (`ArpResult`) and the reply is written into an output buffer the caller gives.
 */
import { LINK_ADDRESS_SIZE } from '../address.ts';
import { ARP_REPLY, ARP_REQUEST, ARP_SIZE, ArpHeader, ArpReason, validateArp } from '../header/arp.ts';
import { ETHERNET_MINIMUM_SIZE, copyLinkAddress, isMulticastLinkAddress, linkAddressEquals } from '../header/ethernet.ts';
import { ARP_PROTOCOL_NUMBER } from '../protocols.ts';
import { isIpv4Loopback, isIpv4Multicast } from './address-class.ts';
import { writeBroadcastLinkAddress, writeEthernetHeader } from './link.ts';
import { NEIGHBOR_CREATE, NEIGHBOR_OVERRIDE, NEIGHBOR_SOLICITED, NeighborUpdate, type NeighborTable } from './neighbor-table.ts';
import type { Nic } from './nic.ts';

/** Length of an ARP frame the stack writes: Ethernet header and ARP packet, no padding (the NIC pads). */
export const ARP_FRAME_SIZE = ETHERNET_MINIMUM_SIZE + ARP_SIZE;

/**
 * What `handleArp()` did. Values below `ArpResult.Malformed` are outcomes (bits: 1 = a reply is in
 * `out`, 2 = a neighbor resolved, drain `neighbors.entry`'s queue); from `Malformed` on they are drop
 * reasons. Indexes a counter array `ARP_RESULT_COUNT` long.
 */
export const ArpResult = {
  /** Taken: learned from, or nothing to do (a request for someone else, a reply). */
  Consumed: 0,
  /** A reply is in `out` (`ARP_FRAME_SIZE` bytes): send it on the NIC. */
  Replied: 1,
  /** A waiting neighbor resolved: send the packets queued on `neighbors.entry`. */
  Resolved: 2,
  /** Both. */
  RepliedResolved: 3,
  /** Not a valid ARP packet for IPv4 over Ethernet (`validateArp`). */
  Malformed: 4,
  /** The sender hardware address is a group address, or the sender IP is multicast, broadcast or loopback. */
  BadSender: 5,
  /** The sender claims one of this NIC's addresses with another MAC. */
  AddressConflict: 6,
  /** `out` has no room for the reply. */
  NoRoom: 7,
} as const;
export type ArpResult = (typeof ArpResult)[keyof typeof ArpResult];
/** Length of a counter array indexed by `ArpResult`. */
export const ARP_RESULT_COUNT = 8;

const arp = new ArpHeader(); // per thread (module instance); never escapes

/**
 * Handles the ARP packet at `view[arpOffset, end)` that arrived on `nic` in the frame whose Ethernet
 * header is at `linkOffset`: learns into `neighbors` (an IPv4 table) and, for a request for one of the
 * NIC's addresses, writes the reply frame into `out[outOffset]` (which may be the request's own frame). Never throws; allocates nothing.
 */
export function handleArp(
  nic: Nic,
  neighbors: NeighborTable,
  view: DataView,
  linkOffset: number,
  arpOffset: number,
  end: number,
  now: number,
  out: DataView,
  outOffset: number,
): ArpResult {
  if (validateArp(view, arpOffset, end) !== ArpReason.Ok) return ArpResult.Malformed;
  arp.reset(view, arpOffset);
  const sha = arp.hardwareAddressSenderOffset;
  // Sender and target IPs follow their MACs (RFC 826); read as int32 words, not through the unsigned getters (see nic.ts).
  const spa = view.getInt32(sha + LINK_ADDRESS_SIZE), tpa = view.getInt32(arp.hardwareAddressTargetOffset + LINK_ADDRESS_SIZE);
  if (isMulticastLinkAddress(view, sha)) return ArpResult.BadSender;
  if (isIpv4Multicast(spa) || isIpv4Loopback(spa) || spa === -1) return ArpResult.BadSender;
  if (spa !== 0 && nic.hasIpv4Address(spa)) {
    return linkAddressEquals(view, sha, nic.linkView, 0) ? ArpResult.Consumed : ArpResult.AddressConflict;
  }
  const op = arp.op;
  const forUs = nic.hasIpv4Address(tpa);
  let resolved = false;
  if (spa !== 0) {
    let flags = NEIGHBOR_OVERRIDE;
    if (op === ARP_REQUEST && forUs) flags |= NEIGHBOR_CREATE;
    if (op === ARP_REPLY && forUs && linkAddressEquals(view, linkOffset, nic.linkView, 0)) flags |= NEIGHBOR_SOLICITED;
    resolved = neighbors.updateIpv4(nic.id, spa, view, sha, flags, now) === NeighborUpdate.Resolved;
  }
  if (op !== ARP_REQUEST || !forUs) return resolved ? ArpResult.Resolved : ArpResult.Consumed;
  if (out.byteLength - outOffset < ARP_FRAME_SIZE) return ArpResult.NoRoom;
  // Read the requester's MAC before writing: `out` may be the request's own frame.
  const shaHigh = view.getUint32(sha), shaLow = view.getUint16(sha + 4);
  const outArp = outOffset + ETHERNET_MINIMUM_SIZE;
  const reply = arp.reset(out, outArp);
  reply.setIpv4OverEthernet();
  reply.op = ARP_REPLY;
  copyLinkAddress(nic.linkView, 0, out, reply.hardwareAddressSenderOffset);
  reply.protocolAddressSender = tpa;
  out.setUint32(reply.hardwareAddressTargetOffset, shaHigh);
  out.setUint16(reply.hardwareAddressTargetOffset + 4, shaLow);
  reply.protocolAddressTarget = spa;
  writeEthernetHeader(out, outOffset, out, reply.hardwareAddressTargetOffset, nic.linkView, 0, ARP_PROTOCOL_NUMBER);
  return resolved ? ArpResult.RepliedResolved : ArpResult.Replied;
}

/**
 * Writes an ARP request frame asking for `target` from `nic` into `out[outOffset]` and returns its
 * length (`ARP_FRAME_SIZE`), or 0 when the NIC has no IPv4 address or `out` has no room. Broadcast,
 * or unicast to the 6 bytes at `unicast[unicastOffset]` when given (the probe of a stale entry, RFC
 * 1122 §2.3.2.1). The sender address is the NIC's address on the target's subnet, else its first.
 */
export function writeArpRequest(nic: Nic, target: number, out: DataView, outOffset: number, unicast?: DataView, unicastOffset = 0): number {
  const source = nic.selectIpv4Source(target);
  if (source === 0 || out.byteLength - outOffset < ARP_FRAME_SIZE) return 0;
  const outArp = outOffset + ETHERNET_MINIMUM_SIZE;
  const request = arp.reset(out, outArp);
  request.setIpv4OverEthernet();
  request.op = ARP_REQUEST;
  copyLinkAddress(nic.linkView, 0, out, request.hardwareAddressSenderOffset);
  request.protocolAddressSender = source;
  out.setUint32(request.hardwareAddressTargetOffset, 0); // unknown: zeros (RFC 826)
  out.setUint16(request.hardwareAddressTargetOffset + 4, 0);
  request.protocolAddressTarget = target;
  if (unicast === undefined) {
    writeBroadcastLinkAddress(out, outOffset);
    copyLinkAddress(nic.linkView, 0, out, outOffset + 6);
    out.setUint16(outOffset + 12, ARP_PROTOCOL_NUMBER);
  } else {
    writeEthernetHeader(out, outOffset, unicast, unicastOffset, nic.linkView, 0, ARP_PROTOCOL_NUMBER);
  }
  return ARP_FRAME_SIZE;
}
