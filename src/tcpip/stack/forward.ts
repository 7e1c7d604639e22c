/**
 * The per-packet forwarding decision (RFC 1812 §5.2 for IPv4, RFC 8200 for IPv6) that a dispatch worker
 * runs on each parsed Ethernet frame, run to completion, rewriting the frame in place:
 *
 * ```
 *  frame ─► for this host? (our address on any NIC, broadcast, multicast, ARP) ──────────► Local
 *        ─► sane? (IPv4 header checksum, martian addresses, link-local scope)  ── no ──► Drop
 *        ─► route lookup (longest prefix)                                      ── none ─► Drop NoRoute
 *        ─► TTL / hop limit <= 1 ─► ICMP time exceeded into `out` (rate limited) ──────► Drop
 *        ─► larger than the egress MTU ─► ICMP frag needed / packet too big (IPv4 without DF: Drop)
 *        ─► neighbor of the next hop on the egress NIC:
 *             resolved: TTL-1 (incremental checksum), MACs rewritten ─────────────────► Forward
 *             unresolved: TTL-1, source MAC rewritten, frame queued, request into `out` ─► Queued
 *             failed: ICMP host unreachable into `out` ───────────────────────────────► Drop
 * ```
 * The result says what to do: the action, the egress NIC, and whether `out` holds a frame to send too
 * (`outLength` > 0, on `outNic`): an ICMP error back to the sender, or an ARP/NS request. Every outcome
 * bumps `counters[reason]` (`ForwardReason`) in the caller's array. Not done here: IPv4 fragmentation
 * (too-big packets without DF are dropped), IP options processing, ICMP redirects, VLAN-tagged frames.
 *
 * Tables: a `ForwardTables` (the `Stack` is one; a worker can build its own from the same classes).
 * Thread: the owner of those tables. Hot path: never throws, never allocates.
 */
import { decrementHopLimit, decrementTtl, ipv4HeaderChecksumOk } from '../checksum.ts';
import { copyLinkAddress, isMulticastLinkAddress, linkAddressEquals } from '../header/ethernet.ts';
import { ICMPV4_DST_UNREACHABLE, ICMPV4_FRAG_NEEDED, ICMPV4_HOST_UNREACHABLE, ICMPV4_TIME_EXCEEDED, ICMPV4_TTL_EXCEEDED } from '../header/icmpv4.ts';
import { ICMPV6_ADDRESS_UNREACHABLE, ICMPV6_DST_UNREACHABLE, ICMPV6_HOP_LIMIT_EXCEEDED, ICMPV6_PACKET_TOO_BIG, ICMPV6_TIME_EXCEEDED } from '../header/icmpv6.ts';
import { Ipv4Header } from '../header/ipv4.ts';
import { Ipv6Header } from '../header/ipv6.ts';
import type { ParsedPacket } from '../parse.ts';
import { ARP_PROTOCOL_NUMBER, IPV4_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER } from '../protocols.ts';
import {
  IPV4_DESTINATION_OFFSET, IPV4_SOURCE_OFFSET, isIpv4LinkLocal, isIpv4Loopback, isIpv4MartianSource, isIpv4Multicast, isIpv6LinkLocal, isIpv6Loopback,
  isIpv6Multicast, isIpv6Unspecified,
} from './address-class.ts';
import { writeArpRequest } from './arp.ts';
import type { Icmp } from './icmp.ts';
import { writeNeighborSolicit } from './ndp.ts';
import { NeighborLookup, type NeighborTable } from './neighbor-table.ts';
import type { Nic, NicTable } from './nic.ts';
import type { RouteTable } from './route-table.ts';
import type { Counters } from './types.ts';

/** What the caller does with the frame after `forwardPacket()`. */
export const ForwardAction = {
  /** For this host: hand it to the stack (`Stack.handleInbound`). */
  Local: 0,
  /** Rewritten in place: send `[frameOffset, frameOffset + frameLength)` on `egressNic`. */
  Forward: 1,
  /** Held by the neighbor queue until its next hop resolves: do not free it. */
  Queued: 2,
  /** Free the frame; `reason` says why. */
  Drop: 3,
} as const;
export type ForwardAction = (typeof ForwardAction)[keyof typeof ForwardAction];

/** Why: one counter per outcome, indexes the caller's counters. */
export const ForwardReason = {
  Forwarded: 0,
  Local: 1,
  Queued: 2,
  /** The NIC id is unknown. */
  UnknownNic: 3,
  /** No Ethernet header, or a network protocol other than IPv4/IPv6/ARP. */
  NotIp: 4,
  /** An 802.1Q-tagged frame (no VLAN NICs yet). */
  VlanTagged: 5,
  /** A unicast frame for another MAC (Linux `PACKET_OTHERHOST`). */
  OtherHost: 6,
  /** The IPv4 header checksum does not verify. */
  BadChecksum: 7,
  /** A source that is not one host: 0/8, 127/8, multicast, 240/4, a broadcast; ::, ::1, multicast. */
  MartianSource: 8,
  /** A destination no router forwards: 0/8, 127/8, 240/4, a directed broadcast; ::, ::1. */
  MartianDestination: 9,
  /** A link-local source or destination (RFC 3927 §2.7, RFC 4291 §2.5.6). */
  LinkLocal: 10,
  /** No route to the destination. */
  NoRoute: 11,
  /** TTL or hop limit would reach 0 (an ICMP time exceeded may be in `out`). */
  TtlExceeded: 12,
  /** Larger than the egress MTU (an ICMP frag needed / packet too big may be in `out`). */
  TooBig: 13,
  /** The next hop is unresolved and queueing is off, or no packet handle was given. */
  Unresolved: 14,
  /** The next hop's resolution failed (an ICMP unreachable may be in `out`). */
  NeighborFailed: 15,
  /** The neighbor table had no room for the next hop. */
  NeighborFull: 16,
  /** A packet the neighbor queue gave back (in `releasedPacket`), or this one when no queue slot was left. */
  QueueOverflow: 17,
} as const;
export type ForwardReason = (typeof ForwardReason)[keyof typeof ForwardReason];
/** Length of a counter array indexed by `ForwardReason`. */
export const FORWARD_REASON_COUNT = 18;

/** The tables and settings `forwardPacket()` reads. */
export interface ForwardTables {
  readonly nics: NicTable;
  readonly routes: RouteTable;
  /** IPv4 neighbors (ARP). */
  readonly arp: NeighborTable;
  /** IPv6 neighbors (NDP). */
  readonly ndp: NeighborTable;
  readonly icmp: Icmp;
  /** Queue packets whose next hop is unresolved (true) or drop them (false). */
  readonly queueUnresolved: boolean;
}

/** The outputs of one `forwardPacket()` call; make one per thread and pass it each time. */
export class ForwardResult {
  /** The counted outcome. */
  reason: ForwardReason = ForwardReason.Forwarded;
  /** Egress NIC of a forwarded or queued packet, else 0. */
  egressNic = 0;
  /** Where the frame to send starts (the Ethernet header) and how long it is (link padding dropped). */
  frameOffset = 0;
  frameLength = 0;
  /** When > 0, also send `out[outOffset, outOffset + outLength)` on `outNic` (an ICMP error or an ARP/NS request). */
  outLength = 0;
  outNic = 0;
  /** A packet the neighbor queue gave back, to free; -1 when none. */
  releasedPacket = -1;
  /** The neighbor table and entry whose resolution just failed: drain its queue (`dequeue`) and free each; entry -1 when none. */
  failedTable: NeighborTable | null = null;
  failedEntry = -1;

  /** Clears every output. */
  reset(): this {
    this.reason = ForwardReason.Forwarded;
    this.egressNic = 0;
    this.frameOffset = 0;
    this.frameLength = 0;
    this.outLength = 0;
    this.outNic = 0;
    this.releasedPacket = -1;
    this.failedTable = null;
    this.failedEntry = -1;
    return this;
  }
}

/**
 * Tells whether the IPv4 `destination` is for this host as seen from ingress `nic`: one of our
 * addresses on any NIC (weak host, as Linux), a broadcast of `nic`, or multicast. Allocation: none.
 */
export function isLocalIpv4(nics: NicTable, nic: Nic, destination: number): boolean {
  return nics.findIpv4(destination) !== 0 || isIpv4Multicast(destination) || nic.isIpv4Broadcast(destination);
}

/** Tells whether the IPv6 address at `view[offset]` is for this host: one of ours on any NIC, or multicast. */
export function isLocalIpv6(nics: NicTable, view: DataView, offset: number): boolean {
  return isIpv6Multicast(view, offset) || nics.findIpv6(view, offset) !== 0;
}

/** Entries of a `ForwardCache`: direct-mapped, indexed by a multiplicative hash of (NIC, destination). */
const CACHE_SLOTS = 256;
const CACHE_SHIFT = 24; // 32 - log2(CACHE_SLOTS)
/** Int32 words per cache entry: ingress NIC (0: empty), destination, egress NIC, egress MTU. */
const CACHE_WORDS = 4;

/**
 * A per-thread IPv4 destination cache for `forwardPacket`: for (ingress NIC, destination) what the slow path
 * found — not local, not martian, not link-local, the route's egress NIC and MTU, the next hop's MAC and the
 * egress MAC — so a hit skips the address checks, the longest-prefix match and the neighbor lookup, and keeps
 * the per-packet checks (frame, header checksum, source, TTL, MTU). An entry is made only from a neighbor
 * lookup that said `Resolved` (not `ResolvedProbe`).
 *
 * Valid only for tables whose resolved neighbors never age, i.e. static ones (a worker's tables: static
 * neighbors are never evicted and never go stale), and only while the tables do not change: the owner calls
 * `clear()` after every change of routes, addresses, NICs or neighbors. Thread: the tables' owner. No method
 * allocates.
 */
export class ForwardCache {
  /** Forwarded packets that took a cached entry. */
  hits = 0;
  /** Words per entry (`CACHE_WORDS`): ingress NIC (0 = empty), destination (int32), egress NIC, egress MTU. */
  readonly entries = new Int32Array(CACHE_SLOTS * CACHE_WORDS);
  /** 12 bytes per entry: the next hop's MAC (Ethernet destination), then the egress NIC's (source). */
  readonly macs = new DataView(new ArrayBuffer(CACHE_SLOTS * 12));

  /** Forgets every entry. Call after any change of the tables. Control path. */
  clear(): void {
    this.entries.fill(0);
  }

  /** Returns the entry slot for (`nic`, `destination`) if it holds that key, else -1. */
  find(nic: number, destination: number): number {
    const slot = Math.imul(destination ^ Math.imul(nic, 0x85ebca6b), 0x9e3779b1) >>> CACHE_SHIFT;
    const w = slot * CACHE_WORDS;
    const entries = this.entries;
    return entries[w] === nic && entries[w + 1] === destination ? slot : -1;
  }

  /** Stores (`nic`, `destination`) → egress, replacing what that slot held. */
  set(nic: number, destination: number, egressNic: number, mtu: number, hop: DataView, hopOffset: number, egressLink: DataView): void {
    const slot = Math.imul(destination ^ Math.imul(nic, 0x85ebca6b), 0x9e3779b1) >>> CACHE_SHIFT;
    const w = slot * CACHE_WORDS;
    const entries = this.entries;
    entries[w] = nic;
    entries[w + 1] = destination;
    entries[w + 2] = egressNic;
    entries[w + 3] = mtu;
    copyLinkAddress(hop, hopOffset, this.macs, slot * 12);
    copyLinkAddress(egressLink, 0, this.macs, slot * 12 + 6);
  }
}

const ipv4 = new Ipv4Header(); // per thread (module instance); never escape
const ipv6 = new Ipv6Header();

function finish(result: ForwardResult, counters: Counters, action: ForwardAction, reason: ForwardReason): ForwardAction {
  result.reason = reason;
  counters[reason]!++;
  return action;
}

/**
 * Decides what happens to the frame parsed into `parsed` (in `view`) that arrived on NIC `nicId` and
 * rewrites it in place when it is forwarded; see the file comment. `packet` is the caller's handle on
 * the frame (a frame index) for the neighbor queue, or -1 to drop instead of queueing. `out` is
 * scratch for an ICMP error or a neighbor request (at least 14 + 576 bytes for full IPv4 quotes, 14 +
 * 1280 for IPv6). Outputs go to `result`; `counters[result.reason]` is incremented. `cache`, when given,
 * remembers IPv4 destinations that forward (see `ForwardCache` for when that is valid). Never throws;
 * allocates nothing.
 */
export function forwardPacket(
  t: ForwardTables,
  nicId: number,
  view: DataView,
  parsed: ParsedPacket,
  packet: number,
  now: number,
  out: DataView,
  outOffset: number,
  result: ForwardResult,
  counters: Counters,
  cache: ForwardCache | null = null,
): ForwardAction {
  result.reset();
  const nic = t.nics.get(nicId);
  if (nic === undefined) return finish(result, counters, ForwardAction.Drop, ForwardReason.UnknownNic);
  const link = parsed.linkOffset;
  if (link < 0) return finish(result, counters, ForwardAction.Drop, ForwardReason.NotIp);
  if (parsed.vlanId >= 0) return finish(result, counters, ForwardAction.Drop, ForwardReason.VlanTagged);
  const protocol = parsed.networkProtocol;
  if (protocol === ARP_PROTOCOL_NUMBER) return finish(result, counters, ForwardAction.Local, ForwardReason.Local);
  if (protocol !== IPV4_PROTOCOL_NUMBER && protocol !== IPV6_PROTOCOL_NUMBER) return finish(result, counters, ForwardAction.Drop, ForwardReason.NotIp);
  if (isMulticastLinkAddress(view, link)) return finish(result, counters, ForwardAction.Local, ForwardReason.Local);
  if (!linkAddressEquals(view, link, nic.linkView, 0)) return finish(result, counters, ForwardAction.Drop, ForwardReason.OtherHost);
  result.frameOffset = link;
  result.frameLength = parsed.end - link;
  return protocol === IPV4_PROTOCOL_NUMBER
    ? forwardIpv4(t, nic, view, parsed, packet, now, out, outOffset, result, counters, cache)
    : forwardIpv6(t, nic, view, parsed, packet, now, out, outOffset, result, counters);
}

function forwardIpv4(t: ForwardTables, nic: Nic, view: DataView, parsed: ParsedPacket, packet: number, now: number, out: DataView, outOffset: number, result: ForwardResult, counters: Counters, cache: ForwardCache | null): ForwardAction {
  const ip = parsed.networkOffset;
  const header = ipv4.reset(view, ip);
  if (!ipv4HeaderChecksumOk(view, ip, header.headerLength)) return finish(result, counters, ForwardAction.Drop, ForwardReason.BadChecksum);
  const source = view.getInt32(ip + IPV4_SOURCE_OFFSET), destination = view.getInt32(ip + IPV4_DESTINATION_OFFSET);
  if (cache !== null) {
    // A hit: the destination's checks, route and neighbor are known; the source, TTL and MTU are this
    // packet's. Anything unusual (a bad source, TTL <= 1, too big) takes the full path below.
    const c = cache.find(nic.id, destination);
    if (c >= 0 && header.ttl > 1 && parsed.end - ip <= cache.entries[c * CACHE_WORDS + 3]! &&
        !isIpv4MartianSource(source) && !nic.isIpv4Broadcast(source) && !isIpv4LinkLocal(source)) {
      decrementTtl(view, ip);
      const link = parsed.linkOffset, macs = cache.macs, m = c * 12;
      view.setInt32(link, macs.getInt32(m));
      view.setInt32(link + 4, macs.getInt32(m + 4));
      view.setInt32(link + 8, macs.getInt32(m + 8));
      result.egressNic = cache.entries[c * CACHE_WORDS + 2]!;
      cache.hits++;
      return finish(result, counters, ForwardAction.Forward, ForwardReason.Forwarded);
    }
  }
  if (isLocalIpv4(t.nics, nic, destination)) return finish(result, counters, ForwardAction.Local, ForwardReason.Local);
  if (isIpv4MartianSource(source) || nic.isIpv4Broadcast(source)) return finish(result, counters, ForwardAction.Drop, ForwardReason.MartianSource);
  const top = destination >>> 24;
  if (top === 0 || isIpv4Loopback(destination) || top >= 240) return finish(result, counters, ForwardAction.Drop, ForwardReason.MartianDestination);
  if (isIpv4LinkLocal(source) || isIpv4LinkLocal(destination)) return finish(result, counters, ForwardAction.Drop, ForwardReason.LinkLocal);
  const routes = t.routes.ipv4;
  const route = routes.lookup(destination);
  const egress = route < 0 ? undefined : t.nics.get(routes.nic[route]!);
  if (egress === undefined) return finish(result, counters, ForwardAction.Drop, ForwardReason.NoRoute);
  if (egress.isIpv4Broadcast(destination)) return finish(result, counters, ForwardAction.Drop, ForwardReason.MartianDestination);
  if (header.ttl <= 1) {
    sendErrorV4(t, nic, view, parsed, ICMPV4_TIME_EXCEEDED, ICMPV4_TTL_EXCEEDED, 0, source, now, out, outOffset, result);
    return finish(result, counters, ForwardAction.Drop, ForwardReason.TtlExceeded);
  }
  const totalLength = parsed.end - ip;
  if (totalLength > egress.mtu) {
    if (header.dontFragment) {
      sendErrorV4(t, nic, view, parsed, ICMPV4_DST_UNREACHABLE, ICMPV4_FRAG_NEEDED, egress.mtu, source, now, out, outOffset, result);
    }
    return finish(result, counters, ForwardAction.Drop, ForwardReason.TooBig);
  }
  const nextHop = routes.nextHop(route, destination);
  const arp = t.arp;
  const lookup = arp.resolveIpv4(egress.id, nextHop, now);
  const e = arp.entry;
  result.egressNic = egress.id;
  switch (lookup) {
    case NeighborLookup.Resolved:
    case NeighborLookup.ResolvedProbe:
      decrementTtl(view, ip);
      copyLinkAddress(arp.linkView, arp.linkAddressOffset(e), view, parsed.linkOffset);
      copyLinkAddress(egress.linkView, 0, view, parsed.linkOffset + 6);
      if (lookup === NeighborLookup.ResolvedProbe) {
        setOut(result, egress.id, writeArpRequest(egress, nextHop, out, outOffset, arp.linkView, arp.linkAddressOffset(e)));
      } else if (cache !== null) {
        cache.set(nic.id, destination, egress.id, egress.mtu, arp.linkView, arp.linkAddressOffset(e), egress.linkView);
      }
      return finish(result, counters, ForwardAction.Forward, ForwardReason.Forwarded);
    case NeighborLookup.Pending:
    case NeighborLookup.PendingSolicit:
      if (lookup === NeighborLookup.PendingSolicit) setOut(result, egress.id, writeArpRequest(egress, nextHop, out, outOffset));
      if (!t.queueUnresolved || packet < 0) return finish(result, counters, ForwardAction.Drop, ForwardReason.Unresolved);
      decrementTtl(view, ip);
      copyLinkAddress(egress.linkView, 0, view, parsed.linkOffset + 6);
      return enqueue(arp, e, packet, result, counters);
    case NeighborLookup.Failed:
      result.failedTable = arp;
      result.failedEntry = e;
      sendErrorV4(t, nic, view, parsed, ICMPV4_DST_UNREACHABLE, ICMPV4_HOST_UNREACHABLE, 0, source, now, out, outOffset, result);
      return finish(result, counters, ForwardAction.Drop, ForwardReason.NeighborFailed);
    default:
      return finish(result, counters, ForwardAction.Drop, ForwardReason.NeighborFull);
  }
}

function forwardIpv6(t: ForwardTables, nic: Nic, view: DataView, parsed: ParsedPacket, packet: number, now: number, out: DataView, outOffset: number, result: ForwardResult, counters: Counters): ForwardAction {
  const ip = parsed.networkOffset;
  const source = ip + 8, destination = ip + 24;
  if (isLocalIpv6(t.nics, view, destination)) return finish(result, counters, ForwardAction.Local, ForwardReason.Local);
  if (isIpv6Unspecified(view, source) || isIpv6Multicast(view, source) || isIpv6Loopback(view, source)) {
    return finish(result, counters, ForwardAction.Drop, ForwardReason.MartianSource);
  }
  if (isIpv6Unspecified(view, destination) || isIpv6Loopback(view, destination)) return finish(result, counters, ForwardAction.Drop, ForwardReason.MartianDestination);
  if (isIpv6LinkLocal(view, source) || isIpv6LinkLocal(view, destination)) return finish(result, counters, ForwardAction.Drop, ForwardReason.LinkLocal);
  const routes = t.routes.ipv6;
  const route = routes.lookup(view, destination);
  const egress = route < 0 ? undefined : t.nics.get(routes.nic[route]!);
  if (egress === undefined) return finish(result, counters, ForwardAction.Drop, ForwardReason.NoRoute);
  if (ipv6.reset(view, ip).hopLimit <= 1) {
    sendErrorV6(t, nic, view, parsed, ICMPV6_TIME_EXCEEDED, ICMPV6_HOP_LIMIT_EXCEEDED, 0, now, out, outOffset, result);
    return finish(result, counters, ForwardAction.Drop, ForwardReason.TtlExceeded);
  }
  if (parsed.end - ip > egress.mtu) {
    sendErrorV6(t, nic, view, parsed, ICMPV6_PACKET_TOO_BIG, 0, egress.mtu, now, out, outOffset, result);
    return finish(result, counters, ForwardAction.Drop, ForwardReason.TooBig);
  }
  const viaGateway = routes.hasGateway[route] === 1;
  const hopView = viaGateway ? routes.gatewayView : view;
  const hopOffset = viaGateway ? 16 * route : destination;
  const ndp = t.ndp;
  const lookup = ndp.resolveIpv6(egress.id, hopView, hopOffset, now);
  const e = ndp.entry;
  result.egressNic = egress.id;
  switch (lookup) {
    case NeighborLookup.Resolved:
    case NeighborLookup.ResolvedProbe:
      decrementHopLimit(view, ip);
      copyLinkAddress(ndp.linkView, ndp.linkAddressOffset(e), view, parsed.linkOffset);
      copyLinkAddress(egress.linkView, 0, view, parsed.linkOffset + 6);
      if (lookup === NeighborLookup.ResolvedProbe) {
        setOut(result, egress.id, writeNeighborSolicit(egress, hopView, hopOffset, out, outOffset, ndp.linkView, ndp.linkAddressOffset(e)));
      }
      return finish(result, counters, ForwardAction.Forward, ForwardReason.Forwarded);
    case NeighborLookup.Pending:
    case NeighborLookup.PendingSolicit:
      if (lookup === NeighborLookup.PendingSolicit) setOut(result, egress.id, writeNeighborSolicit(egress, hopView, hopOffset, out, outOffset));
      if (!t.queueUnresolved || packet < 0) return finish(result, counters, ForwardAction.Drop, ForwardReason.Unresolved);
      decrementHopLimit(view, ip);
      copyLinkAddress(egress.linkView, 0, view, parsed.linkOffset + 6);
      return enqueue(ndp, e, packet, result, counters);
    case NeighborLookup.Failed:
      result.failedTable = ndp;
      result.failedEntry = e;
      sendErrorV6(t, nic, view, parsed, ICMPV6_DST_UNREACHABLE, ICMPV6_ADDRESS_UNREACHABLE, 0, now, out, outOffset, result);
      return finish(result, counters, ForwardAction.Drop, ForwardReason.NeighborFailed);
    default:
      return finish(result, counters, ForwardAction.Drop, ForwardReason.NeighborFull);
  }
}

function setOut(result: ForwardResult, nicId: number, length: number): void {
  if (length <= 0) return;
  result.outLength = length;
  result.outNic = nicId;
}

function enqueue(table: NeighborTable, e: number, packet: number, result: ForwardResult, counters: Counters): ForwardAction {
  const released = table.enqueue(e, packet);
  if (released === packet) return finish(result, counters, ForwardAction.Drop, ForwardReason.QueueOverflow);
  if (released >= 0) {
    result.releasedPacket = released;
    counters[ForwardReason.QueueOverflow]!++;
  }
  return finish(result, counters, ForwardAction.Queued, ForwardReason.Queued);
}

/** Writes an ICMPv4 error back through the ingress `nic`, from its address facing `source`. */
function sendErrorV4(t: ForwardTables, nic: Nic, view: DataView, parsed: ParsedPacket, type: number, code: number, rest: number, source: number, now: number, out: DataView, outOffset: number, result: ForwardResult): void {
  setOut(result, nic.id, t.icmp.errorV4(view, parsed, nic, type, code, rest, nic.selectIpv4Source(source), now, out, outOffset));
}

/** Writes an ICMPv6 error back through the ingress `nic`, from its address facing the packet's source. */
function sendErrorV6(t: ForwardTables, nic: Nic, view: DataView, parsed: ParsedPacket, type: number, code: number, rest: number, now: number, out: DataView, outOffset: number, result: ForwardResult): void {
  const index = nic.selectIpv6Source(view, parsed.networkOffset + 8);
  if (index < 0) return;
  setOut(result, nic.id, t.icmp.errorV6(view, parsed, nic, type, code, rest, nic.ipv6View, 16 * index, now, out, outOffset));
}
