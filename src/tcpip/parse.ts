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
} from './protocols.ts';
import { ARP_SIZE, ArpReason, validateArp } from './header/arp.ts';
import { EthernetHeader, EthernetReason, validateEthernet } from './header/ethernet.ts';
import { ICMPV4_MINIMUM_SIZE, Icmpv4Reason, validateIcmpv4 } from './header/icmpv4.ts';
import { ICMPV6_MINIMUM_SIZE, Icmpv6Reason, validateIcmpv6 } from './header/icmpv6.ts';
import { IPV4_VERSION, Ipv4Header, Ipv4Reason, validateIpv4 } from './header/ipv4.ts';
import { IPV6_VERSION, Ipv6Chain, Ipv6Reason, walkIpv6 } from './header/ipv6.ts';
import { TcpHeader, TcpReason, validateTcpHeader } from './header/tcp.ts';
import { UDP_HEADER_SIZE, UdpHeader, UdpReason, validateUdp } from './header/udp.ts';

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

// Reusable views for this thread (a module instance per worker); never escape this file.
const ethernet = new EthernetHeader();
const ipv4 = new Ipv4Header();
const chain = new Ipv6Chain();
const tcp = new TcpHeader();
const udp = new UdpHeader();

/**
 * Parses the frame `view[offset, end)` into `out` and returns `ParseReason.Ok` or why it is dropped.
 * With `hasEthernetHeader` the network protocol comes from the EtherType (after one optional VLAN tag);
 * without, from the IP version nibble, as gVisor's fdbased endpoint does. ARP parses Ok with no
 * transport. Fragments: a non-first fragment has no transport header (ports -1); a first fragment must
 * hold the whole TCP header (RFC 1858 tiny-fragment rule) and 8 bytes of UDP/ICMP.
 * Thread: any. Never throws; allocates nothing.
 */
export function parsePacket(view: DataView, offset: number, end: number, hasEthernetHeader: boolean, out: ParsedPacket): ParseReason {
  out.reset();
  let at = offset;
  let protocol: number;
  if (hasEthernetHeader) {
    const reason = validateEthernet(view, offset, end);
    if (reason !== EthernetReason.Ok) return (ETHERNET_BASE + reason) as ParseReason;
    ethernet.reset(view, offset);
    out.linkOffset = offset;
    out.vlanId = ethernet.vlanId;
    protocol = ethernet.type;
    at = ethernet.payloadOffset;
  } else {
    if (end - offset < 1) return ParseReason.UnknownNetworkProtocol;
    const version = view.getUint8(offset) >>> 4;
    if (version === IPV4_VERSION) protocol = IPV4_PROTOCOL_NUMBER;
    else if (version === IPV6_VERSION) protocol = IPV6_PROTOCOL_NUMBER;
    else return ParseReason.UnknownNetworkProtocol;
  }
  out.networkOffset = at;
  out.networkProtocol = protocol;
  switch (protocol) {
    case IPV4_PROTOCOL_NUMBER:
      return parseIpv4(view, at, end, out);
    case IPV6_PROTOCOL_NUMBER:
      return parseIpv6(view, at, end, out);
    case ARP_PROTOCOL_NUMBER: {
      const reason = validateArp(view, at, end);
      if (reason !== ArpReason.Ok) return (ARP_BASE + reason) as ParseReason;
      out.end = at + ARP_SIZE;
      return ParseReason.Ok;
    }
    default:
      return ParseReason.UnknownNetworkProtocol;
  }
}

function parseIpv4(view: DataView, at: number, end: number, out: ParsedPacket): ParseReason {
  const reason = validateIpv4(view, at, end);
  if (reason !== Ipv4Reason.Ok) return (IPV4_BASE + reason) as ParseReason;
  ipv4.reset(view, at);
  const packetEnd = at + ipv4.totalLength;
  const transportOffset = ipv4.payloadOffset;
  out.end = packetEnd;
  out.transportOffset = transportOffset;
  out.transportProtocol = ipv4.protocol;
  if (ipv4.isFragment) {
    if (ipv4.fragmentOffset !== 0) {
      out.fragment = FragmentKind.NonFirst;
      out.payloadOffset = transportOffset;
      return ParseReason.Ok;
    }
    out.fragment = FragmentKind.First;
  }
  return parseTransport(view, transportOffset, packetEnd, ipv4.protocol, false, out);
}

function parseIpv6(view: DataView, at: number, end: number, out: ParsedPacket): ParseReason {
  const reason = walkIpv6(view, at, end, chain);
  if (reason !== Ipv6Reason.Ok) return (IPV6_BASE + reason) as ParseReason;
  out.end = chain.end;
  out.transportOffset = chain.transportOffset;
  out.transportProtocol = chain.transportProtocol;
  if (chain.isFragment) {
    if (chain.fragmentOffset !== 0) {
      out.fragment = FragmentKind.NonFirst;
      out.payloadOffset = chain.transportOffset;
      return ParseReason.Ok;
    }
    out.fragment = FragmentKind.First;
  }
  return parseTransport(view, chain.transportOffset, chain.end, chain.transportProtocol, true, out);
}

/** Checks the transport header at `at`, the IP payload ending at `end`; ICMP is checked only under its own IP version. */
function parseTransport(view: DataView, at: number, end: number, protocol: number, isIpv6: boolean, out: ParsedPacket): ParseReason {
  switch (protocol) {
    case TCP_PROTOCOL_NUMBER: {
      const reason = validateTcpHeader(view, at, end);
      if (reason !== TcpReason.Ok) return (TCP_BASE + reason) as ParseReason;
      tcp.reset(view, at);
      out.sourcePort = tcp.sourcePort;
      out.destinationPort = tcp.destinationPort;
      out.payloadOffset = tcp.payloadOffset;
      return ParseReason.Ok;
    }
    case UDP_PROTOCOL_NUMBER: {
      // A first fragment's UDP length counts the whole datagram, so only the 8 header bytes can be checked.
      const reason = out.fragment === FragmentKind.First
        ? (end - at < UDP_HEADER_SIZE ? UdpReason.Truncated : UdpReason.Ok)
        : validateUdp(view, at, end);
      if (reason !== UdpReason.Ok) return (UDP_BASE + reason) as ParseReason;
      udp.reset(view, at);
      out.sourcePort = udp.sourcePort;
      out.destinationPort = udp.destinationPort;
      out.payloadOffset = udp.payloadOffset;
      return ParseReason.Ok;
    }
    case ICMPV4_PROTOCOL_NUMBER:
      if (!isIpv6) {
        const reason = validateIcmpv4(view, at, end);
        if (reason !== Icmpv4Reason.Ok) return (ICMPV4_BASE + reason) as ParseReason;
        out.payloadOffset = at + ICMPV4_MINIMUM_SIZE;
        return ParseReason.Ok;
      }
      break;
    case ICMPV6_PROTOCOL_NUMBER:
      if (isIpv6) {
        const reason = validateIcmpv6(view, at, end);
        if (reason !== Icmpv6Reason.Ok) return (ICMPV6_BASE + reason) as ParseReason;
        out.payloadOffset = at + ICMPV6_MINIMUM_SIZE;
        return ParseReason.Ok;
      }
      break;
    case DCCP_PROTOCOL_NUMBER:
    case SCTP_PROTOCOL_NUMBER:
    case UDPLITE_PROTOCOL_NUMBER:
      if (end - at >= 4) {
        out.sourcePort = view.getUint16(at);
        out.destinationPort = view.getUint16(at + 2);
      }
      break;
    default:
      break;
  }
  out.payloadOffset = at; // a transport this parser does not look into (GRE, ESP, no next header, ...)
  return ParseReason.Ok;
}
