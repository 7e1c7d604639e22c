/**
 * The one-pass packet parser a dispatch worker runs on every received frame: link, network and
 * transport offsets, protocols, VLAN id, fragment kind and ports, with one reason code per failure so a
 * worker can count drops by reason (`rxDropsByReason[reason]++`).
 *
 * Result shape: a reusable `ParsedPacket` object, not named slots of an Int32Array. Its fields are
 * small integers in a fixed hidden class, so V8 stores them in-object and reads/writes cost what
 * typed-array slots do, while the names are type-checked and read like gVisor's `PacketBuffer`
 * fields. It never crosses threads: the worker copies the few fields its ring descriptor needs (that
 * layout belongs to `ring/`), so the parser need not know it.
 *
 * What it checks is what it reads: each layer's `validateX()` (IPv4 options and IPv6 extension header
 * lengths included, as Linux drops those malformed even when forwarding), TCP's fixed header and data
 * offset but not its options (a forwarder must pass options it does not understand; the TCP endpoint
 * walks them with `parseTcpOptions()`). Checksums are left to the stack (`checksum.ts`).
 *
 * Thread: any (one `ParsedPacket` per thread). Hot path: never throws, never allocates.
 * Precondition: 0 <= offset and end <= view.byteLength.
 */

import {
  ARP_PROTOCOL_NUMBER,
  ICMPV4_PROTOCOL_NUMBER,
  ICMPV6_PROTOCOL_NUMBER,
  IPV4_PROTOCOL_NUMBER,
  IPV6_PROTOCOL_NUMBER,
  TCP_PROTOCOL_NUMBER,
  UDP_PROTOCOL_NUMBER,
  VLAN_PROTOCOL_NUMBER,
} from './protocols.ts';
import { ARP_SIZE, ArpReason, validateArp } from './header/arp.ts';
import { ETHERNET_MINIMUM_SIZE, ETHERNET_VLAN_SIZE, EthernetReason, VLAN_ID_MAXIMUM, validateEthernet } from './header/ethernet.ts';
import { ICMPV4_MINIMUM_SIZE, Icmpv4Reason, validateIcmpv4 } from './header/icmpv4.ts';
import { ICMPV6_MINIMUM_SIZE, Icmpv6Reason, validateIcmpv6 } from './header/icmpv6.ts';
import { IPV4_MINIMUM_SIZE, IPV4_VERSION, Ipv4Reason, validateIpv4 } from './header/ipv4.ts';
import { IPV6_FIXED_HEADER_SIZE, IPV6_VERSION, Ipv6Chain, Ipv6Reason, walkIpv6 } from './header/ipv6.ts';
import { TCP_MINIMUM_SIZE, TcpReason, validateTcpHeader } from './header/tcp.ts';
import { UDP_HEADER_SIZE, UdpReason, validateUdp } from './header/udp.ts';

// Byte offsets of the fields the parser reads itself (IEEE 802.3 / 802.1Q, RFC 791 §3.1, RFC 8200 §3,
// RFC 768, RFC 9293 §3.1).
const ETHERNET_TYPE = 12, ETHERNET_VLAN_TCI = 14, ETHERNET_VLAN_TYPE = 16;
const IPV4_VERSION_IHL = 0, IPV4_TOTAL_LENGTH = 2, IPV4_FLAGS_FRAGMENT = 6, IPV4_PROTOCOL = 9;
const IPV6_PAYLOAD_LENGTH = 4, IPV6_NEXT_HEADER = 6;
const UDP_LENGTH = 4;
const TCP_DATA_OFFSET = 12;
/** The first IPv4 byte of a header without options: version 4, IHL 5 words. */
const IPV4_NO_OPTIONS = 0x45;
/** In the IPv4 flags/fragment word: MF or a non-zero offset (a fragment), and the offset alone. */
const IPV4_FRAGMENT_MASK = 0x3fff, IPV4_OFFSET_MASK = 0x1fff;

/** IP protocol numbers of transports that, like TCP and UDP, start with source and destination ports. */
const DCCP_PROTOCOL_NUMBER = 33, SCTP_PROTOCOL_NUMBER = 132, UDPLITE_PROTOCOL_NUMBER = 136;

/**
 * Why `parsePacket()` dropped a packet: one code space over all layers, in layer order, so one
 * counter array (`PARSE_REASON_COUNT` long) counts every drop. Each layer's codes mirror that layer's
 * `XReason` (same names, same order), e.g. `Ipv4Reason.BadIhl` becomes `ParseReason.Ipv4BadIhl`.
 */
export const ParseReason = {
  Ok: 0,
  /** EtherType other than IPv4, IPv6 or ARP; without an Ethernet header, a version nibble other than 4 or 6 (or no byte at all). */
  UnknownNetworkProtocol: 1,
  EthernetTruncated: 2,
  EthernetNestedVlan: 3,
  EthernetNotEthernetII: 4,
  ArpTruncated: 5,
  ArpUnsupportedHardwareType: 6,
  ArpUnsupportedProtocolType: 7,
  ArpUnsupportedOp: 8,
  Ipv4Truncated: 9,
  Ipv4BadVersion: 10,
  Ipv4BadIhl: 11,
  Ipv4BadTotalLength: 12,
  Ipv4BadOptions: 13,
  Ipv6Truncated: 14,
  Ipv6BadVersion: 15,
  Ipv6BadPayloadLength: 16,
  Ipv6BadExtensionHeader: 17,
  Ipv6TooManyExtensionHeaders: 18,
  Ipv6HopByHopNotFirst: 19,
  TcpTruncated: 20,
  TcpBadDataOffset: 21,
  UdpTruncated: 22,
  UdpBadLength: 23,
  Icmpv4Truncated: 24,
  Icmpv6Truncated: 25,
} as const;
export type ParseReason = (typeof ParseReason)[keyof typeof ParseReason];

/** Number of parse reasons, Ok included: the length of a drops-by-reason counter array. */
export const PARSE_REASON_COUNT = 26;

// A layer's reason r (r >= 1) maps to BASE + r; the test checks every name lines up.
const ETHERNET_BASE = ParseReason.EthernetTruncated - EthernetReason.Truncated;
const ARP_BASE = ParseReason.ArpTruncated - ArpReason.Truncated;
const IPV4_BASE = ParseReason.Ipv4Truncated - Ipv4Reason.Truncated;
const IPV6_BASE = ParseReason.Ipv6Truncated - Ipv6Reason.Truncated;
const TCP_BASE = ParseReason.TcpTruncated - TcpReason.Truncated;
const UDP_BASE = ParseReason.UdpTruncated - UdpReason.Truncated;
const ICMPV4_BASE = ParseReason.Icmpv4Truncated - Icmpv4Reason.Truncated;
const ICMPV6_BASE = ParseReason.Icmpv6Truncated - Icmpv6Reason.Truncated;

const REASON_NAMES: readonly string[] = Object.keys(ParseReason);

/** Returns the name of a parse reason (`'Ipv4BadIhl'`), or `'Unknown'`. Control path: for printing counters. */
export function parseReasonName(reason: number): string {
  return REASON_NAMES[reason] ?? 'Unknown';
}

/** Whether and which part of a fragmented datagram a packet is. */
export const FragmentKind = {
  /** Not a fragment (an IPv6 atomic fragment, RFC 6946, counts as none). */
  None: 0,
  /** Offset 0 with more to come: it carries the transport header, and so ports. */
  First: 1,
  /** A later fragment: data only, no transport header, no ports. */
  NonFirst: 2,
} as const;
export type FragmentKind = (typeof FragmentKind)[keyof typeof FragmentKind];

/**
 * Where the layers of one packet are, filled by `parsePacket()`. Offsets are absolute in the view
 * the packet was parsed from; -1 means "not present". Make one per thread and reuse it. Trust the
 * fields only after `Ok`; after a drop, those before the failing layer are filled in.
 */
export class ParsedPacket {
  /** Start of the Ethernet header, or -1 when the fd carries bare IP (TUN, no link header). */
  linkOffset = -1;
  /** 802.1Q VLAN id (0..4095) or -1 when untagged. */
  vlanId = -1;
  /** Start of the network header (IPv4, IPv6 or ARP). */
  networkOffset = -1;
  /** EtherType of the network layer: `IPV4_PROTOCOL_NUMBER`, `IPV6_PROTOCOL_NUMBER` or `ARP_PROTOCOL_NUMBER`. */
  networkProtocol = -1;
  /** Where the network packet ends (IPv4 total length, IPv6 payload length, 28 for ARP): link padding excluded. */
  end = -1;
  /** Start of the transport header; for a non-first fragment, of its data. -1 for ARP. */
  transportOffset = -1;
  /** IP protocol number of the transport (after IPv6 extension headers), or -1 for ARP. */
  transportProtocol = -1;
  /** Start of the transport payload (after TCP options, the UDP or ICMP header); the transport offset for other protocols and non-first fragments; -1 for ARP. */
  payloadOffset = -1;
  /** `FragmentKind`: None, First or NonFirst. */
  fragment: FragmentKind = FragmentKind.None;
  /** Source port for TCP, UDP, DCCP, SCTP, UDP-Lite when the packet carries them, else -1. */
  sourcePort = -1;
  /** Destination port, as `sourcePort`. */
  destinationPort = -1;

  /** Clears every field to "not present". */
  reset(): this {
    this.linkOffset = -1;
    this.vlanId = -1;
    this.networkOffset = -1;
    this.networkProtocol = -1;
    this.end = -1;
    this.transportOffset = -1;
    this.transportProtocol = -1;
    this.payloadOffset = -1;
    this.fragment = FragmentKind.None;
    this.sourcePort = -1;
    this.destinationPort = -1;
    return this;
  }
}

// The walk over IPv6 extension headers lands here; one per thread (a module instance per worker), never escapes.
const chain = new Ipv6Chain();

/**
 * Parses the frame `view[offset, end)` into `out` and returns `ParseReason.Ok` or why it is dropped.
 * With `hasEthernetHeader` the network protocol comes from the EtherType (after one optional VLAN tag);
 * without, from the IP version nibble, as gVisor's fdbased endpoint does. ARP parses Ok with no
 * transport. Fragments: a non-first fragment has no transport header (ports -1); a first fragment must
 * hold the whole TCP header (RFC 1858 tiny-fragment rule) and 8 bytes of UDP/ICMP.
 * Thread: any. Never throws; allocates nothing.
 *
 * Two paths, one answer. The fast path takes what most traffic is, an (optionally VLAN-tagged) IPv4
 * header without options or an IPv6 header without extension headers, not a fragment, carrying UDP or
 * TCP: it reads each field once into locals, accepts only what every layer's validator would accept,
 * and writes each field of `out` once. Anything else, and every packet it would drop, goes to `parseLayers`, which
 * runs each layer's `validateX()` (the one place a layer's rules live) and names the reason. The fast
 * path only ever accepts what `parseLayers` accepts, with the same fields; the test holds the two to
 * that over fuzzed frames. Measured in bench/parse.ts.
 */
export function parsePacket(view: DataView, offset: number, end: number, hasEthernetHeader: boolean, out: ParsedPacket): ParseReason {
  fast: {
    let at = offset;
    let protocol: number;
    let vlanId = -1;
    if (hasEthernetHeader) {
      if (end - offset < ETHERNET_VLAN_SIZE) break fast;
      protocol = view.getUint16(offset + ETHERNET_TYPE);
      at = offset + ETHERNET_MINIMUM_SIZE;
      if (protocol === VLAN_PROTOCOL_NUMBER) {
        vlanId = view.getUint16(offset + ETHERNET_VLAN_TCI) & VLAN_ID_MAXIMUM;
        protocol = view.getUint16(offset + ETHERNET_VLAN_TYPE);
        at = offset + ETHERNET_VLAN_SIZE;
      }
    } else {
      if (end - offset < 1) break fast;
      protocol = view.getUint8(offset) >>> 4 === IPV6_VERSION ? IPV6_PROTOCOL_NUMBER : IPV4_PROTOCOL_NUMBER;
    }
    let transportOffset: number, packetEnd: number, transportProtocol: number;
    if (protocol === IPV4_PROTOCOL_NUMBER) {
      // Version 4 and IHL 5 (no options), total length inside the frame, neither MF nor an offset.
      if (end - at < IPV4_MINIMUM_SIZE || view.getUint8(at + IPV4_VERSION_IHL) !== IPV4_NO_OPTIONS) break fast;
      const totalLength = view.getUint16(at + IPV4_TOTAL_LENGTH);
      if (totalLength < IPV4_MINIMUM_SIZE || totalLength > end - at) break fast;
      if ((view.getUint16(at + IPV4_FLAGS_FRAGMENT) & IPV4_FRAGMENT_MASK) !== 0) break fast;
      transportOffset = at + IPV4_MINIMUM_SIZE;
      packetEnd = at + totalLength;
      transportProtocol = view.getUint8(at + IPV4_PROTOCOL);
    } else if (protocol === IPV6_PROTOCOL_NUMBER) {
      // Version 6, payload length inside the frame, and the next header is the transport itself.
      if (end - at < IPV6_FIXED_HEADER_SIZE || view.getUint8(at) >>> 4 !== IPV6_VERSION) break fast;
      transportOffset = at + IPV6_FIXED_HEADER_SIZE;
      packetEnd = transportOffset + view.getUint16(at + IPV6_PAYLOAD_LENGTH);
      if (packetEnd > end) break fast;
      transportProtocol = view.getUint8(at + IPV6_NEXT_HEADER);
    } else {
      break fast;
    }
    const room = packetEnd - transportOffset;
    let payloadOffset: number;
    if (transportProtocol === UDP_PROTOCOL_NUMBER) {
      // The 8-byte header inside the IP payload; its length field at least 8 and not past the IP end.
      if (room < UDP_HEADER_SIZE) break fast;
      const length = view.getUint16(transportOffset + UDP_LENGTH);
      if (length < UDP_HEADER_SIZE || length > room) break fast;
      payloadOffset = transportOffset + UDP_HEADER_SIZE;
    } else if (transportProtocol === TCP_PROTOCOL_NUMBER) {
      // The fixed header inside the IP payload; the data offset at least 5 words and not past the IP end.
      if (room < TCP_MINIMUM_SIZE) break fast;
      const dataOffset = (view.getUint8(transportOffset + TCP_DATA_OFFSET) >>> 4) << 2;
      if (dataOffset < TCP_MINIMUM_SIZE || dataOffset > room) break fast;
      payloadOffset = transportOffset + dataOffset;
    } else {
      break fast;
    }
    const ports = view.getInt32(transportOffset); // an int32 stays a Smi in every tier; the shifts give the same ports
    out.linkOffset = hasEthernetHeader ? offset : -1;
    out.vlanId = vlanId;
    out.networkOffset = at;
    out.networkProtocol = protocol;
    out.end = packetEnd;
    out.transportOffset = transportOffset;
    out.transportProtocol = transportProtocol;
    out.payloadOffset = payloadOffset;
    out.fragment = FragmentKind.None;
    out.sourcePort = ports >>> 16;
    out.destinationPort = ports & 0xffff;
    return ParseReason.Ok;
  }
  return parseLayers(view, offset, end, hasEthernetHeader, out);
}

/**
 * The general path of `parsePacket`: every layer through its `validateX()`, each field read once after
 * the validator said Ok, each field of `out` written once (the layers reached, the rest -1 on a drop).
 */
function parseLayers(view: DataView, offset: number, end: number, hasEthernetHeader: boolean, out: ParsedPacket): ParseReason {
  let at = offset;
  let protocol: number;
  if (hasEthernetHeader) {
    const reason = validateEthernet(view, offset, end);
    if (reason !== EthernetReason.Ok) {
      out.linkOffset = -1;
      out.vlanId = -1;
      return stopBeforeNetwork(out, (ETHERNET_BASE + reason) as ParseReason);
    }
    out.linkOffset = offset;
    protocol = view.getUint16(offset + ETHERNET_TYPE);
    if (protocol === VLAN_PROTOCOL_NUMBER) {
      out.vlanId = view.getUint16(offset + ETHERNET_VLAN_TCI) & VLAN_ID_MAXIMUM;
      protocol = view.getUint16(offset + ETHERNET_VLAN_TYPE);
      at = offset + ETHERNET_VLAN_SIZE;
    } else {
      out.vlanId = -1;
      at = offset + ETHERNET_MINIMUM_SIZE;
    }
  } else {
    out.linkOffset = -1;
    out.vlanId = -1;
    if (end - offset < 1) return stopBeforeNetwork(out, ParseReason.UnknownNetworkProtocol);
    const version = view.getUint8(offset) >>> 4;
    if (version === IPV4_VERSION) protocol = IPV4_PROTOCOL_NUMBER;
    else if (version === IPV6_VERSION) protocol = IPV6_PROTOCOL_NUMBER;
    else return stopBeforeNetwork(out, ParseReason.UnknownNetworkProtocol);
  }
  out.networkOffset = at;
  out.networkProtocol = protocol;
  if (protocol === IPV4_PROTOCOL_NUMBER) return parseIpv4(view, at, end, out);
  if (protocol === IPV6_PROTOCOL_NUMBER) return parseIpv6(view, at, end, out);
  if (protocol === ARP_PROTOCOL_NUMBER) {
    const reason = validateArp(view, at, end);
    if (reason !== ArpReason.Ok) return stopBeforeTransport(out, (ARP_BASE + reason) as ParseReason);
    out.end = at + ARP_SIZE;
    out.transportOffset = -1;
    out.transportProtocol = -1;
    out.fragment = FragmentKind.None;
    return stopBeforePayload(out, ParseReason.Ok);
  }
  return stopBeforeTransport(out, ParseReason.UnknownNetworkProtocol);
}

function parseIpv4(view: DataView, at: number, end: number, out: ParsedPacket): ParseReason {
  const reason = validateIpv4(view, at, end);
  if (reason !== Ipv4Reason.Ok) return stopBeforeTransport(out, (IPV4_BASE + reason) as ParseReason);
  const flagsFragment = view.getUint16(at + IPV4_FLAGS_FRAGMENT);
  const fragment = (flagsFragment & IPV4_FRAGMENT_MASK) === 0 ? FragmentKind.None
    : (flagsFragment & IPV4_OFFSET_MASK) !== 0 ? FragmentKind.NonFirst : FragmentKind.First;
  return parseAfterNetwork(
    view, at + (view.getUint8(at + IPV4_VERSION_IHL) & 0xf) * 4, at + view.getUint16(at + IPV4_TOTAL_LENGTH),
    view.getUint8(at + IPV4_PROTOCOL), fragment, false, out,
  );
}

function parseIpv6(view: DataView, at: number, end: number, out: ParsedPacket): ParseReason {
  const c = chain;
  const reason = walkIpv6(view, at, end, c);
  if (reason !== Ipv6Reason.Ok) return stopBeforeTransport(out, (IPV6_BASE + reason) as ParseReason);
  const fragment = !c.isFragment ? FragmentKind.None : c.fragmentOffset !== 0 ? FragmentKind.NonFirst : FragmentKind.First;
  return parseAfterNetwork(view, c.transportOffset, c.end, c.transportProtocol, fragment, true, out);
}

/**
 * Fills what the network layer found and goes on to the transport header, unless the packet is a later
 * fragment, which carries none (its payload is fragment data).
 */
function parseAfterNetwork(
  view: DataView, transportOffset: number, packetEnd: number, protocol: number, fragment: FragmentKind, isIpv6: boolean, out: ParsedPacket,
): ParseReason {
  out.end = packetEnd;
  out.transportOffset = transportOffset;
  out.transportProtocol = protocol;
  out.fragment = fragment;
  if (fragment === FragmentKind.NonFirst) {
    out.payloadOffset = transportOffset;
    return stopBeforePorts(out, ParseReason.Ok);
  }
  return parseTransport(view, transportOffset, packetEnd, protocol, isIpv6, out);
}

/**
 * Checks the transport header at `at`, the IP payload ending at `end`, and fills payload offset and
 * ports; ICMP is checked only under its own IP version. `out.fragment` is already set.
 */
function parseTransport(view: DataView, at: number, end: number, protocol: number, isIpv6: boolean, out: ParsedPacket): ParseReason {
  if (protocol === UDP_PROTOCOL_NUMBER) {
    // A first fragment's UDP length counts the whole datagram, so only the 8 header bytes can be checked.
    const reason = out.fragment === FragmentKind.First
      ? (end - at < UDP_HEADER_SIZE ? UdpReason.Truncated : UdpReason.Ok)
      : validateUdp(view, at, end);
    if (reason !== UdpReason.Ok) return stopBeforePayload(out, (UDP_BASE + reason) as ParseReason);
    out.payloadOffset = at + UDP_HEADER_SIZE;
    return readPorts(view, at, out);
  }
  if (protocol === TCP_PROTOCOL_NUMBER) {
    const reason = validateTcpHeader(view, at, end);
    if (reason !== TcpReason.Ok) return stopBeforePayload(out, (TCP_BASE + reason) as ParseReason);
    out.payloadOffset = at + (view.getUint8(at + TCP_DATA_OFFSET) >>> 4) * 4;
    return readPorts(view, at, out);
  }
  if (protocol === ICMPV4_PROTOCOL_NUMBER && !isIpv6) {
    const reason = validateIcmpv4(view, at, end);
    if (reason !== Icmpv4Reason.Ok) return stopBeforePayload(out, (ICMPV4_BASE + reason) as ParseReason);
    out.payloadOffset = at + ICMPV4_MINIMUM_SIZE;
    return stopBeforePorts(out, ParseReason.Ok);
  }
  if (protocol === ICMPV6_PROTOCOL_NUMBER && isIpv6) {
    const reason = validateIcmpv6(view, at, end);
    if (reason !== Icmpv6Reason.Ok) return stopBeforePayload(out, (ICMPV6_BASE + reason) as ParseReason);
    out.payloadOffset = at + ICMPV6_MINIMUM_SIZE;
    return stopBeforePorts(out, ParseReason.Ok);
  }
  out.payloadOffset = at; // a transport this parser does not look into (GRE, ESP, no next header, ...)
  if ((protocol === DCCP_PROTOCOL_NUMBER || protocol === SCTP_PROTOCOL_NUMBER || protocol === UDPLITE_PROTOCOL_NUMBER) && end - at >= 4) {
    return readPorts(view, at, out);
  }
  return stopBeforePorts(out, ParseReason.Ok);
}

/** Reads the two ports that TCP, UDP, DCCP, SCTP and UDP-Lite start with, and returns Ok. */
function readPorts(view: DataView, at: number, out: ParsedPacket): ParseReason {
  const ports = view.getInt32(at);
  out.sourcePort = ports >>> 16;
  out.destinationPort = ports & 0xffff;
  return ParseReason.Ok;
}

// The ways out of a parse that stops before the ports: each sets the fields from its layer on to -1 (the
// contract of `ParsedPacket`: after a drop, the fields before the failing layer are filled, the rest -1;
// ARP, ICMP and opaque transports stop early on purpose) and returns `reason`.

function stopBeforeNetwork(out: ParsedPacket, reason: ParseReason): ParseReason {
  out.networkOffset = -1;
  out.networkProtocol = -1;
  return stopBeforeTransport(out, reason);
}

function stopBeforeTransport(out: ParsedPacket, reason: ParseReason): ParseReason {
  out.end = -1;
  out.transportOffset = -1;
  out.transportProtocol = -1;
  out.fragment = FragmentKind.None;
  return stopBeforePayload(out, reason);
}

function stopBeforePayload(out: ParsedPacket, reason: ParseReason): ParseReason {
  out.payloadOffset = -1;
  return stopBeforePorts(out, reason);
}

function stopBeforePorts(out: ParsedPacket, reason: ParseReason): ParseReason {
  out.sourcePort = -1;
  out.destinationPort = -1;
  return reason;
}
