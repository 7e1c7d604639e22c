/**
 * `RouteForwarder`: the forwarding decision for engines with bare-IP links (TUN, socketpairs), which the
 * stack's `forwardPacket` (`src/tcpip/stack/forward.ts`, used by `StackForwarder` when every link carries
 * Ethernet) does not handle yet. What a router does per packet (RFC 1812 §5.2–5.3, Linux `ip_forward` /
 * `ip6_forward`): not for us, not link-local, a route by longest prefix, TTL/hop limit above 1, fits the
 * egress MTU, TTL/hop limit decremented (IPv4 checksum patched by RFC 1624), then, for an Ethernet egress, the link
 * header written in front of the IP header: destination = the next hop's static MAC, source = the egress
 * link's MAC.
 *
 * What it finishes itself, as `forward.ts` does over AF_PACKET (and counts in `counters` by `ForwardReason`,
 * the worker's `forwardReasons` stats: every count there is a packet of the loop's `forwardDrops`):
 * - no route: dropped (NoRoute), no ICMP, as `forward.ts`;
 * - TTL / hop limit <= 1 (checked right after the route, before MTU and neighbor, as Linux `ip_forward`
 *   and `forward.ts`): dropped (TtlExceeded) with an ICMPv4 time exceeded / ICMPv6 hop limit exceeded.
 * - longer than the egress link's MTU (checked next, as there): dropped (TooBig). IPv4 with DF set gets an
 *   ICMPv4 destination unreachable, fragmentation needed (type 3 code 4) carrying the egress MTU as the
 *   next-hop MTU (RFC 1191 §4); IPv6 an ICMPv6 packet too big with the MTU (RFC 4443 §3.2, RFC 8201), as
 *   Linux's `ip_forward` / `ip6_forward` send. IPv4 without DF is dropped with no ICMP, as `forward.ts`
 *   does: Linux would fragment it, but nothing in netshard fragments (neither `forward.ts` nor the
 *   coordinator: with --tun it has no stack, and the `Stack` reads Ethernet frames and does not fragment),
 *   so handing it on would only free it there uncounted by reason (the coordinator's `noStack`).
 * - Each ICMP error is written into `scratch` by the stack's own writer (`Icmp.errorV4` / `errorV6`:
 *   RFC 1812 / 4443 suppression rules and quoting, one `TokenBucket` for all of them, 1000/s burst 50 as
 *   Linux's defaults) and sent back on the ingress link (`ForwardDecision.extra*`). Its source is the
 *   ingress link's address facing the sender (`Nic.selectIpv4Source` / `selectIpv6Source`, as
 *   `forward.ts`); a link without one of that family borrows the first address of any link, as Linux's
 *   `inet_select_addr()` / `ipv6_dev_get_saddr()` fall back to other interfaces; with no address at all
 *   no ICMP is sent (`icmp.counters[NoSource]`).
 * - a martian source: dropped (MartianSource).
 * Anything else it cannot finish goes to the stack with a reason, unchanged.
 *
 * `Icmp` writes Ethernet frames. For a bare-IP ingress packet the forwarder gives it one: a placeholder
 * unicast link header (zeros) in the 14 bytes of receive headroom in front of the IP header (the
 * `Forwarder` precondition), seen through a copy of the parsed offsets (`framed`), and sends the error from
 * `scratch[14]`, leaving the written link header out. The IP packet itself is never changed.
 *
 * Tables are typed arrays scanned linearly (routes sorted longest prefix first): an engine has a few
 * connected routes and a default. Length (~500 lines, past STYLE's ~400): the ICMP part is ~70 lines of
 * glue to `Icmp` that reads this class's tables; apart it would need them passed in.
 *
 * Thread: built and used by one worker. `decide` is hot path: no allocation, no throw.
 */
import { NetshardError } from '../errors.ts';
import {
  ARP_PROTOCOL_NUMBER,
  FORWARD_REASON_COUNT,
  ForwardReason,
  ICMPV4_DST_UNREACHABLE,
  ICMPV4_FRAG_NEEDED,
  ICMPV4_TIME_EXCEEDED,
  ICMPV4_TTL_EXCEEDED,
  ICMPV6_HOP_LIMIT_EXCEEDED,
  ICMPV6_PACKET_TOO_BIG,
  ICMPV6_TIME_EXCEEDED,
  IPV4_PROTOCOL_NUMBER,
  Icmp,
  IcmpReason,
  NicTable,
  ParsedPacket,
  decrementHopLimit,
  decrementTtl,
  formatIpv4,
  formatIpv6,
  parseIpv4,
  parseIpv6,
  parseLinkAddress,
  type Nic,
  type TokenBucketOptions,
} from '../tcpip/index.ts';
import {
  ForwardVerdict,
  HandoffReason,
  type ForwardDecision,
  type Forwarder,
  type ForwardingConfig,
  type ForwardRoute,
} from './forwarding.ts';

/** What the forwarder needs to know about each link. */
export interface ForwardLink {
  ethernetHeader: boolean;
  /** '' when the link has none (then it cannot be an Ethernet egress). */
  linkAddress: string;
  /** Largest IP packet on the link. */
  mtu: number;
}

const ETHERNET_HEADER_SIZE = 14;
/** The DF bit in the IPv4 flags / fragment offset byte (byte 6; RFC 791). */
const IPV4_DF_BYTE_MASK = 0x40;
const IPV6_PROTOCOL = 0x86dd;
/** Bytes of scratch for one ICMP error: Ethernet + the largest IPv6 error (1280, RFC 4443 §2.4 (c)). */
const SCRATCH_BYTES = 2048;
/** Link address of the ICMP writer's NIC for a link without one: only ever in the link header not sent. */
const NO_LINK_ADDRESS = '00:00:00:00:00:00';

/** A forwarder over static routes, local addresses and neighbors. Build with `createForwarder` (it validates the config). */
export class RouteForwarder implements Forwarder {
  /** Where the ICMP errors it writes are (`ForwardDecision.extra*`), over a SharedArrayBuffer. */
  readonly scratch: Uint8Array;
  /** Packets it dropped, by `ForwardReason` (NoRoute, TtlExceeded, TooBig, MartianSource), e.g. over the worker's stats. */
  readonly counters: Float64Array;
  /** The ICMP writer: its `limiter` is the error token bucket, its `counters` say why an error was not sent. */
  readonly icmp: Icmp;
  private readonly out: DataView;
  /** Per link, what the ICMP writer reads: the link's MAC (zeros without one) and its addresses. */
  private readonly nics: Nic[];
  /** The source of last resort (first address of any link), int32 0 / no bytes when there is none. */
  private readonly fallback4: number;
  private readonly fallback6 = new DataView(new ArrayBuffer(16));
  private readonly hasFallback6: boolean;
  /** `parsed` as the ICMP writer sees a bare-IP packet: with the placeholder link header in front. */
  private readonly framed = new ParsedPacket();
  // Links.
  private readonly ethernet: Uint8Array;
  private readonly macHigh: Uint32Array; // first 4 bytes of the link's MAC
  private readonly macLow: Uint16Array; // last 2
  private readonly hasMac: Uint8Array;
  private readonly mtu: Int32Array;
  // IPv4.
  private readonly local4: Uint32Array;
  private readonly route4Network: Int32Array;
  private readonly route4Mask: Int32Array;
  private readonly route4Gateway: Uint32Array;
  private readonly route4Link: Int32Array;
  private readonly neighbor4: Uint32Array;
  private readonly neighbor4Link: Int32Array;
  private readonly neighbor4High: Uint32Array;
  private readonly neighbor4Low: Uint16Array;
  // IPv6: 16 bytes per entry, as four u32 words.
  private readonly local6: Uint32Array;
  private readonly route6Network: Uint32Array;
  private readonly route6Mask: Uint32Array;
  private readonly route6Gateway: Uint32Array;
  private readonly route6HasGateway: Uint8Array;
  private readonly route6Link: Int32Array;
  private readonly neighbor6: Uint32Array;
  private readonly neighbor6Link: Int32Array;
  private readonly neighbor6High: Uint32Array;
  private readonly neighbor6Low: Uint16Array;
  private readonly hop = new Uint32Array(4); // IPv6 next hop of the packet being decided

  /**
   * Builds the tables. `counters` (FORWARD_REASON_COUNT long) receives the drops by reason; `icmpRateLimit`
   * sets the ICMP error token bucket (default 1000/s, burst 50). Control path: throws ERR_INVALID_ARG_VALUE.
   */
  constructor(config: ForwardingConfig, links: readonly ForwardLink[], counters: Float64Array = new Float64Array(FORWARD_REASON_COUNT), icmpRateLimit: TokenBucketOptions = {}) {
    this.counters = counters;
    this.icmp = new Icmp(icmpRateLimit);
    this.scratch = new Uint8Array(new SharedArrayBuffer(SCRATCH_BYTES));
    this.out = new DataView(this.scratch.buffer);
    const n = links.length;
    this.ethernet = new Uint8Array(n);
    this.macHigh = new Uint32Array(n);
    this.macLow = new Uint16Array(n);
    this.hasMac = new Uint8Array(n);
    this.mtu = new Int32Array(n);
    const mac = new Uint8Array(6);
    links.forEach((l, i) => {
      this.ethernet[i] = l.ethernetHeader ? 1 : 0;
      this.mtu[i] = l.mtu;
      if (l.linkAddress !== '' && parseLinkAddress(l.linkAddress, mac)) {
        this.hasMac[i] = 1;
        this.macHigh[i] = readHigh(mac);
        this.macLow[i] = (mac[4]! << 8) | mac[5]!;
      }
    });
    const v4: number[] = [], v6: Uint8Array[] = [];
    const subnets: ForwardRoute[] = [];
    for (const { link, address } of config.addresses ?? []) {
      const slash = address.indexOf('/');
      const host = slash < 0 ? address : address.slice(0, slash);
      const prefix = slash < 0 ? -1 : Number(address.slice(slash + 1));
      if (host.includes(':')) {
        const bytes = ipv6Bytes(host, 'addresses');
        v6.push(bytes);
        if (prefix >= 0 && prefix < 128) subnets.push({ destination: `${formatIpv6(maskBytes(bytes, ipv6Mask(prefix)))}/${prefix}`, link });
      } else {
        const a = ipv4Number(host, 'addresses');
        v4.push(a);
        if (prefix >= 0 && prefix < 32) subnets.push({ destination: `${formatIpv4((a & mask4(prefix)) >>> 0)}/${prefix}`, link });
      }
    }
    this.local4 = Uint32Array.from(v4);
    this.local6 = words(v6);

    // The ICMP writer's view of each link. Its MTU is never read there: 65535 lets any IPv6 address on.
    const nics = new NicTable();
    this.nics = links.map((l, i) => {
      const unicast = this.hasMac[i] === 1 && (this.macHigh[i]! & 0x01000000) === 0;
      return nics.add({ name: `link${i}`, linkAddress: unicast ? l.linkAddress : NO_LINK_ADDRESS, mtu: 65535 });
    });
    for (const { link, address } of config.addresses ?? []) {
      try {
        nics.addAddress(link + 1, address);
      } catch (err) {
        // A duplicate, a 17th, a multicast one: still local above, only not an ICMP source.
        if (!(err instanceof NetshardError)) throw err;
      }
    }
    this.fallback4 = v4.length > 0 ? v4[0]! | 0 : 0;
    const global6 = v6.find((b) => !(b[0] === 0xfe && (b[1]! & 0xc0) === 0x80)) ?? v6[0]; // a global one first
    this.hasFallback6 = global6 !== undefined;
    global6?.forEach((b, i) => this.fallback6.setUint8(i, b));

    // Routes, longest prefix first (stable: listed routes before on-link ones, then in order).
    const routes = [...(config.routes ?? []), ...subnets].map((r, index) => {
      const slash = r.destination.indexOf('/');
      const address = r.destination.slice(0, slash);
      return { family: address.includes(':') ? 6 : 4, address, prefix: Number(r.destination.slice(slash + 1)), r, index };
    });
    routes.sort((a, b) => b.prefix - a.prefix || a.index - b.index);
    const r4 = routes.filter((r) => r.family === 4), r6 = routes.filter((r) => r.family === 6);
    this.route4Network = new Int32Array(r4.length);
    this.route4Mask = new Int32Array(r4.length);
    this.route4Gateway = new Uint32Array(r4.length);
    this.route4Link = new Int32Array(r4.length);
    r4.forEach((x, i) => {
      const mask = mask4(x.prefix);
      const network = ipv4Number(x.address, 'routes');
      if (((network & ~mask) >>> 0) !== 0) throw new NetshardError('ERR_INVALID_ARG_VALUE', `route ${x.r.destination} has host bits set`);
      this.route4Network[i] = network | 0;
      this.route4Mask[i] = mask | 0;
      this.route4Gateway[i] = x.r.gateway === undefined ? 0 : ipv4Number(x.r.gateway, 'routes');
      this.route4Link[i] = x.r.link;
    });
    this.route6Network = words(r6.map((x) => ipv6Bytes(x.address, 'routes')));
    this.route6Mask = words(r6.map((x) => ipv6Mask(x.prefix)));
    this.route6Gateway = words(r6.map((x) => (x.r.gateway === undefined ? new Uint8Array(16) : ipv6Bytes(x.r.gateway, 'routes'))));
    this.route6HasGateway = Uint8Array.from(r6, (x) => (x.r.gateway === undefined ? 0 : 1));
    this.route6Link = Int32Array.from(r6, (x) => x.r.link);
    for (let i = 0; i < r6.length; i++) {
      for (let w = 0; w < 4; w++) {
        if ((this.route6Network[i * 4 + w]! & ~this.route6Mask[i * 4 + w]!) !== 0) {
          throw new NetshardError('ERR_INVALID_ARG_VALUE', `route ${r6[i]!.r.destination} has host bits set`);
        }
      }
    }

    const n4 = (config.neighbors ?? []).filter((x) => !x.address.includes(':'));
    const n6 = (config.neighbors ?? []).filter((x) => x.address.includes(':'));
    this.neighbor4 = Uint32Array.from(n4, (x) => ipv4Number(x.address, 'neighbors'));
    this.neighbor4Link = Int32Array.from(n4, (x) => x.link);
    [this.neighbor4High, this.neighbor4Low] = macColumns(n4.map((x) => x.linkAddress));
    this.neighbor6 = words(n6.map((x) => ipv6Bytes(x.address, 'neighbors')));
    this.neighbor6Link = Int32Array.from(n6, (x) => x.link);
    [this.neighbor6High, this.neighbor6Low] = macColumns(n6.map((x) => x.linkAddress));
  }

  decide(view: DataView, ingressLink: number, p: ParsedPacket, now: number, out: ForwardDecision): ForwardVerdict {
    if (p.networkProtocol === ARP_PROTOCOL_NUMBER) return toStack(out, HandoffReason.Arp);
    if (p.linkOffset >= 0 && (view.getUint8(p.linkOffset) & 1) !== 0) return toStack(out, HandoffReason.LinkMulticast);
    return p.networkProtocol === IPV4_PROTOCOL_NUMBER ? this.decide4(view, ingressLink, p, now, out) : this.decide6(view, ingressLink, p, now, out);
  }

  private decide4(view: DataView, ingressLink: number, p: ParsedPacket, now: number, out: ForwardDecision): ForwardVerdict {
    const net = p.networkOffset;
    const source = view.getUint32(net + 12);
    const destination = view.getUint32(net + 16);
    if (destination >>> 28 === 0xe || destination === 0xffffffff) return toStack(out, HandoffReason.Local);
    const local = this.local4;
    for (let i = 0; i < local.length; i++) if (local[i] === destination) return toStack(out, HandoffReason.Local);
    const top = source >>> 24;
    if (top === 0 || top === 127 || top >= 224) return this.drop(ForwardReason.MartianSource); // RFC 1812 §5.3.7
    if (source >>> 16 === 0xa9fe || destination >>> 16 === 0xa9fe) return toStack(out, HandoffReason.NotForwardable);
    const network = this.route4Network, mask = this.route4Mask;
    let route = -1;
    for (let i = 0; i < network.length; i++) {
      if ((destination & mask[i]!) === network[i]) { route = i; break; }
    }
    if (route < 0) return this.drop(ForwardReason.NoRoute);
    if (view.getUint8(net + 8) <= 1) {
      this.error4(view, ingressLink, p, ICMPV4_TIME_EXCEEDED, ICMPV4_TTL_EXCEEDED, 0, now, out);
      return this.drop(ForwardReason.TtlExceeded);
    }
    const link = this.route4Link[route]!;
    const mtu = this.mtu[link]!;
    if (p.end - net > mtu) {
      // DF: fragmentation needed, next-hop MTU in the low 16 bits of the rest word (RFC 1191 §4). No DF: see the file comment.
      if ((view.getUint8(net + 6) & IPV4_DF_BYTE_MASK) !== 0) this.error4(view, ingressLink, p, ICMPV4_DST_UNREACHABLE, ICMPV4_FRAG_NEEDED, mtu, now, out);
      return this.drop(ForwardReason.TooBig);
    }
    let neighbor = -1;
    if (this.ethernet[link] === 1) {
      const gateway = this.route4Gateway[route]!;
      const hop = gateway === 0 ? destination : gateway;
      const addresses = this.neighbor4, links = this.neighbor4Link;
      for (let i = 0; i < addresses.length; i++) {
        if (addresses[i] === hop && links[i] === link) { neighbor = i; break; }
      }
      if (neighbor < 0 || this.hasMac[link] === 0) return toStack(out, HandoffReason.NoNeighbor);
    }
    decrementTtl(view, net); // TTL > 1: checked above
    out.link = link;
    out.end = p.end;
    if (neighbor < 0) {
      out.start = net;
    } else {
      out.start = net - ETHERNET_HEADER_SIZE;
      this.writeEthernet(view, out.start, this.neighbor4High[neighbor]!, this.neighbor4Low[neighbor]!, link, IPV4_PROTOCOL_NUMBER);
    }
    return ForwardVerdict.Forward;
  }

  private decide6(view: DataView, ingressLink: number, p: ParsedPacket, now: number, out: ForwardDecision): ForwardVerdict {
    const net = p.networkOffset;
    const src = net + 8, dst = net + 24;
    if (view.getUint8(dst) === 0xff) return toStack(out, HandoffReason.Local);
    const local = this.local6;
    for (let i = 0; i < local.length; i += 4) if (equals6(view, dst, local, i)) return toStack(out, HandoffReason.Local);
    const s0 = view.getUint32(src);
    if ((s0 >>> 24) === 0xff || isZeroOrLoopback6(view, src)) return this.drop(ForwardReason.MartianSource); // multicast, ::, ::1
    if ((s0 >>> 22) === (0xfe80 >>> 6) || (view.getUint16(dst) & 0xffc0) === 0xfe80) return toStack(out, HandoffReason.NotForwardable);
    const network = this.route6Network, mask = this.route6Mask;
    let route = -1;
    for (let i = 0; i < network.length; i += 4) {
      // `&` yields int32; the table holds u32 words: compare unsigned.
      if (((view.getUint32(dst) & mask[i]!) >>> 0) === network[i] && ((view.getUint32(dst + 4) & mask[i + 1]!) >>> 0) === network[i + 1] &&
          ((view.getUint32(dst + 8) & mask[i + 2]!) >>> 0) === network[i + 2] && ((view.getUint32(dst + 12) & mask[i + 3]!) >>> 0) === network[i + 3]) {
        route = i >>> 2;
        break;
      }
    }
    if (route < 0) return this.drop(ForwardReason.NoRoute);
    if (view.getUint8(net + 7) <= 1) {
      this.error6(view, ingressLink, p, ICMPV6_TIME_EXCEEDED, ICMPV6_HOP_LIMIT_EXCEEDED, 0, now, out);
      return this.drop(ForwardReason.TtlExceeded);
    }
    const link = this.route6Link[route]!;
    const mtu = this.mtu[link]!;
    if (p.end - net > mtu) {
      this.error6(view, ingressLink, p, ICMPV6_PACKET_TOO_BIG, 0, mtu, now, out); // the MTU field (RFC 4443 §3.2)
      return this.drop(ForwardReason.TooBig);
    }
    let neighbor = -1;
    if (this.ethernet[link] === 1) {
      const hop = this.hop;
      const gw = this.route6Gateway;
      for (let w = 0; w < 4; w++) hop[w] = this.route6HasGateway[route] === 1 ? gw[route * 4 + w]! : view.getUint32(dst + 4 * w);
      const addresses = this.neighbor6, links = this.neighbor6Link;
      for (let i = 0; i < links.length; i++) {
        if (links[i] === link && addresses[i * 4] === hop[0] && addresses[i * 4 + 1] === hop[1] &&
            addresses[i * 4 + 2] === hop[2] && addresses[i * 4 + 3] === hop[3]) { neighbor = i; break; }
      }
      if (neighbor < 0 || this.hasMac[link] === 0) return toStack(out, HandoffReason.NoNeighbor);
    }
    decrementHopLimit(view, net); // hop limit > 1: checked above
    out.link = link;
    out.end = p.end;
    if (neighbor < 0) {
      out.start = net;
    } else {
      out.start = net - ETHERNET_HEADER_SIZE;
      this.writeEthernet(view, out.start, this.neighbor6High[neighbor]!, this.neighbor6Low[neighbor]!, link, IPV6_PROTOCOL);
    }
    return ForwardVerdict.Forward;
  }

  private drop(reason: ForwardReason): ForwardVerdict {
    this.counters[reason]!++;
    return ForwardVerdict.Drop;
  }

  /**
   * Writes the ICMPv4 error `type`/`code` (rest-of-header word `rest`: 0, or the next-hop MTU) about `p`
   * into `scratch` and points `out.extra*` at it, back on `link`; writes nothing when `Icmp` refuses
   * (suppressed, rate limited, no source: its counters).
   */
  private error4(view: DataView, link: number, p: ParsedPacket, type: number, code: number, rest: number, now: number, out: ForwardDecision): void {
    const nic = this.nics[link]!;
    let source = nic.selectIpv4Source(view.getInt32(p.networkOffset + 12));
    if (source === 0) source = this.fallback4;
    const framed = this.frame(view, p);
    this.setExtra(out, link, p, this.icmp.errorV4(view, framed, nic, type, code, rest, source, now, this.out, 0));
  }

  /** As `error4` for ICMPv6 (`rest`: 0, or the MTU of a packet too big). */
  private error6(view: DataView, link: number, p: ParsedPacket, type: number, code: number, rest: number, now: number, out: ForwardDecision): void {
    const nic = this.nics[link]!;
    const index = nic.selectIpv6Source(view, p.networkOffset + 8);
    if (index < 0 && !this.hasFallback6) {
      this.icmp.counters[IcmpReason.NoSource]!++;
      return;
    }
    const sourceView = index >= 0 ? nic.ipv6View : this.fallback6;
    const framed = this.frame(view, p);
    this.setExtra(out, link, p, this.icmp.errorV6(view, framed, nic, type, code, rest, sourceView, index >= 0 ? 16 * index : 0, now, this.out, 0));
  }

  /**
   * Returns `p` when it has a link header, else `framed`: `p`'s offsets with a placeholder unicast link
   * header (zeros) written in the headroom in front of the IP header, for the Ethernet-frame ICMP writer.
   */
  private frame(view: DataView, p: ParsedPacket): ParsedPacket {
    if (p.linkOffset >= 0) return p;
    const f = this.framed, at = p.networkOffset - ETHERNET_HEADER_SIZE;
    view.setUint32(at, 0);
    view.setUint32(at + 4, 0);
    view.setUint32(at + 8, 0);
    view.setUint16(at + 12, p.networkProtocol);
    f.linkOffset = at;
    f.vlanId = p.vlanId;
    f.networkOffset = p.networkOffset;
    f.networkProtocol = p.networkProtocol;
    f.end = p.end;
    f.transportOffset = p.transportOffset;
    f.transportProtocol = p.transportProtocol;
    f.payloadOffset = p.payloadOffset;
    f.fragment = p.fragment;
    f.sourcePort = p.sourcePort;
    f.destinationPort = p.destinationPort;
    return f;
  }

  /** Points `out.extra*` at the frame `Icmp` wrote (`length` > 0), without its link header on a bare-IP link. */
  private setExtra(out: ForwardDecision, link: number, p: ParsedPacket, length: number): void {
    if (length <= 0) return;
    const skip = p.linkOffset >= 0 ? 0 : ETHERNET_HEADER_SIZE;
    out.extraLink = link;
    out.extraOffset = skip;
    out.extraLength = length - skip;
  }

  /** Writes destination MAC (high, low), the link's MAC as source, and the EtherType at `at`. */
  private writeEthernet(view: DataView, at: number, high: number, low: number, link: number, type: number): void {
    view.setUint32(at, high);
    view.setUint16(at + 4, low);
    view.setUint32(at + 6, this.macHigh[link]!);
    view.setUint16(at + 10, this.macLow[link]!);
    view.setUint16(at + 12, type);
  }
}

function toStack(out: ForwardDecision, reason: HandoffReason): ForwardVerdict {
  out.reason = reason;
  return ForwardVerdict.ToStack;
}

function equals6(view: DataView, at: number, table: Uint32Array, i: number): boolean {
  return view.getUint32(at) === table[i] && view.getUint32(at + 4) === table[i + 1] &&
    view.getUint32(at + 8) === table[i + 2] && view.getUint32(at + 12) === table[i + 3];
}

function isZeroOrLoopback6(view: DataView, at: number): boolean {
  if (view.getUint32(at) !== 0 || view.getUint32(at + 4) !== 0 || view.getUint32(at + 8) !== 0) return false;
  const last = view.getUint32(at + 12);
  return last === 0 || last === 1;
}

function readHigh(mac: Uint8Array): number {
  return ((mac[0]! << 24) | (mac[1]! << 16) | (mac[2]! << 8) | mac[3]!) >>> 0;
}

function ipv4Number(text: string, field: string): number {
  const a = parseIpv4(text);
  if (a < 0) throw new NetshardError('ERR_INVALID_ARG_VALUE', `forwarding.${field}: '${text}' is not an IPv4 address`);
  return a;
}

function ipv6Bytes(text: string, field: string): Uint8Array {
  const out = new Uint8Array(16);
  if (!parseIpv6(text, out)) throw new NetshardError('ERR_INVALID_ARG_VALUE', `forwarding.${field}: '${text}' is not an IPv6 address`);
  return out;
}

function mask4(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

function maskBytes(address: Uint8Array, mask: Uint8Array): Uint8Array {
  return address.map((b, i) => b & mask[i]!);
}

function ipv6Mask(prefix: number): Uint8Array {
  const out = new Uint8Array(16);
  for (let bit = 0; bit < prefix; bit++) out[bit >>> 3]! |= 0x80 >>> (bit & 7);
  return out;
}

/** Packs 16-byte addresses into big-endian u32 words, 4 per address. */
function words(addresses: Uint8Array[]): Uint32Array {
  const out = new Uint32Array(addresses.length * 4);
  addresses.forEach((a, i) => {
    const v = new DataView(a.buffer, a.byteOffset, 16);
    for (let w = 0; w < 4; w++) out[i * 4 + w] = v.getUint32(4 * w);
  });
  return out;
}

function macColumns(macs: string[]): [Uint32Array, Uint16Array] {
  const high = new Uint32Array(macs.length), low = new Uint16Array(macs.length);
  const mac = new Uint8Array(6);
  macs.forEach((m, i) => {
    if (!parseLinkAddress(m, mac)) throw new NetshardError('ERR_INVALID_ARG_VALUE', `forwarding.neighbors: '${m}' is not a MAC address`);
    high[i] = readHigh(mac);
    low[i] = (mac[4]! << 8) | mac[5]!;
  });
  return [high, low];
}
