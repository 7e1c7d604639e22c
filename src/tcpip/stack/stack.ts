/**
 * The Stack: NICs, routes, neighbors (ARP, NDP), ICMP and the transport demuxer of one thread, and the
 * inbound path that ties them together (gVisor's `stack.Stack` + `nic.DeliverNetworkPacket`, small).
 *
 * ```
 *  handleInbound(frame) ─► L2 filter ─► forwarding on? forwardPacket() ─► Forward / Queued / Drop
 *                                    │                        └ Local ┐
 *                                    └───────────────────────────────┴► ARP ─► reply / learn
 *                                                                       IPv4/IPv6 for us:
 *                                                                         ICMP echo ─► reply
 *                                                                         NS/NA ─► NA / learn
 *                                                                         UDP/TCP ─► transport
 *                                                                           nobody ─► port unreachable
 * ```
 * Contract of `handleInbound`: the caller parsed the frame with `parsePacket(view, offset, end, true,
 * parsed)` (result Ok) and passes a scratch `out` buffer (2 KiB is plenty; it may be the frame itself
 * for in-place replies only if the caller does not need the frame afterwards). The returned
 * `StackAction` says what to do with the frame; independently, when `result.outLength > 0`, send
 * `out[outOffset, outOffset + outLength)` on `result.outNic` first. Frames the stack sends on its own
 * (requests from `tick`, packets that waited for a neighbor) go through the `LinkOutput` set with
 * `setLinkOutput`; without one, nothing is queued (unresolved packets are dropped).
 *
 * Not done here (yet): IP reassembly (fragments to us are dropped), IP options, ICMP errors to the
 * transport, sending from local endpoints (the UDP endpoints' `send` hook), multicast group membership
 * (every multicast destination is offered to the transport), VLANs, TUN (no Ethernet header).
 *
 * Thread: one, the stack's (coordinator or a worker running its own Stack). Setup methods validate
 * and throw `NetshardError`; `handleInbound` and `tick` never throw (the callbacks they call must not
 * either) and allocate nothing themselves (`README.md` has the one exception, in `../checksum.ts`).
 * Length: setup and the inbound dispatch of one object, kept together so a reader sees every path a
 * frame can take in one file; the per-protocol work lives in arp/ndp/icmp/forward.ts.
 */
import { NetshardError } from '../../errors.ts';
import { validateBoolean, validateObject } from '../../validate.ts';
import { LINK_ADDRESS_SIZE, formatIpv4, formatIpv6, parseLinkAddress } from '../address.ts';
import { ipv4HeaderChecksumOk } from '../checksum.ts';
import { isMulticastLinkAddress, linkAddressEquals } from '../header/ethernet.ts';
import { ICMPV4_DST_UNREACHABLE, ICMPV4_ECHO, ICMPV4_PORT_UNREACHABLE, ICMPV4_PROTO_UNREACHABLE } from '../header/icmpv4.ts';
import { ICMPV6_DST_UNREACHABLE, ICMPV6_ECHO_REQUEST, ICMPV6_NEIGHBOR_ADVERT, ICMPV6_NEIGHBOR_SOLICIT, ICMPV6_PORT_UNREACHABLE } from '../header/icmpv6.ts';
import { Ipv4Header } from '../header/ipv4.ts';
import { FragmentKind, type ParsedPacket } from '../parse.ts';
import {
  ARP_PROTOCOL_NUMBER, ICMPV4_PROTOCOL_NUMBER, ICMPV6_PROTOCOL_NUMBER, IPV4_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER,
  TCP_PROTOCOL_NUMBER, UDP_PROTOCOL_NUMBER,
} from '../protocols.ts';
import { IPV4_DESTINATION_OFFSET, ipv4Mask } from './address-class.ts';
import { ARP_FRAME_SIZE, ARP_RESULT_COUNT, ArpResult, handleArp, writeArpRequest } from './arp.ts';
import { FORWARD_REASON_COUNT, ForwardAction, ForwardResult, forwardPacket, isLocalIpv4, isLocalIpv6 } from './forward.ts';
import { Icmp } from './icmp.ts';
import { NDP_FRAME_SIZE, NDP_RESULT_COUNT, NdpResult, handleNdp, writeNeighborSolicit } from './ndp.ts';
import { NeighborTable, type NeighborOptions } from './neighbor-table.ts';
import { NicTable, ipv6PrefixMatches, parseCidr, type Nic, type NicOptions } from './nic.ts';
import type { TokenBucketOptions } from './rate-limiter.ts';
import { RouteTable, type RouteOptions, type RouteSelector } from './route-table.ts';
import { TransportPacket } from './transport-packet.ts';
import type { Clock, LinkOutput, TransportDeliver } from './types.ts';
import { verifyUdpChecksum } from './udp-checksum.ts';

/** What the caller does with the frame after `handleInbound` (after sending `out` when `result.outLength > 0`). */
export const StackAction = {
  /** Free the frame; `result.reason` says why (an ICMP error may be in `out`). */
  Drop: 0,
  /** A reply is in `out` (ARP reply, NA, echo reply): send it, then free the frame. */
  Reply: 1,
  /** The transport took the packet (endpoints copy what they keep): free the frame. */
  Delivered: 2,
  /** Handled with nothing to send (learned from, or an ICMP message needing no answer): free the frame. */
  Consumed: 3,
  /** Forwarded in place: send `[result.frameOffset, +frameLength)` on `result.egressNic`. */
  Forward: 4,
  /** Held by the stack until its next hop resolves (it comes back through `LinkOutput`): keep it. */
  Queued: 5,
} as const;
export type StackAction = (typeof StackAction)[keyof typeof StackAction];

/** Why, counted in `Stack.counters`: the outcomes first, then drops. */
export const StackReason = {
  Replied: 0,
  Delivered: 1,
  Consumed: 2,
  Forwarded: 3,
  Queued: 4,
  /** No NIC with that id. */
  UnknownNic: 5,
  /** The frame was not parsed with an Ethernet header at `offset`, or the parse failed. */
  Malformed: 6,
  /** 802.1Q-tagged (no VLAN NICs). */
  VlanTagged: 7,
  /** A unicast frame for another MAC. */
  OtherHost: 8,
  /** Not for this host and forwarding is off. */
  NotForUs: 9,
  /** IPv4 header checksum, or (before a port unreachable) the UDP checksum, does not verify. */
  BadChecksum: 10,
  /** A fragment to this host (no reassembly). */
  Fragment: 11,
  /** No endpoint for a UDP/TCP packet (a port unreachable may be in `out`), or an invalid TCP packet. */
  NoEndpoint: 12,
  /** A transport protocol with no handler (a protocol unreachable may be in `out` for IPv4). */
  UnknownProtocol: 13,
  /** ARP dropped; `arpCounters` says why. */
  ArpDropped: 14,
  /** NS/NA dropped; `ndpCounters` says why. */
  NdpDropped: 15,
  /** Echo request refused; `icmp.counters` says why. */
  IcmpDropped: 16,
  /** The forwarding path dropped it; `forwardCounters` says why. */
  ForwardDropped: 17,
} as const;
export type StackReason = (typeof StackReason)[keyof typeof StackReason];
/** Length of `Stack.counters`. */
export const STACK_REASON_COUNT = 18;

/** The outputs of one `handleInbound` call; the stack reuses one (`stack.result`). */
export class StackResult {
  reason: StackReason = StackReason.Consumed;
  /** When > 0: send `out[outOffset, outOffset + outLength)` on `outNic`. */
  outLength = 0;
  outNic = 0;
  /** For Forward: the NIC to send the frame on, and where the frame is (link padding dropped). */
  egressNic = 0;
  frameOffset = 0;
  frameLength = 0;

  reset(): this {
    this.reason = StackReason.Consumed;
    this.outLength = 0;
    this.outNic = 0;
    this.egressNic = 0;
    this.frameOffset = 0;
    this.frameLength = 0;
    return this;
  }
}

/** What `new Stack()` takes. */
export interface StackOptions {
  /**
   * Milliseconds now, read once per `handleInbound`; default `performance.now`. Tests pass a fake clock.
   * `performance.now()` allocates a heap number per call (Node 20): a dispatch loop that wants no
   * allocation per packet passes `() => loopNow`, an integer it updates once per batch.
   */
  clock?: Clock;
  /** Forward packets not addressed to this host (a router). Default false. */
  forwarding?: boolean;
  /** Queue packets waiting for a neighbor (needs a `LinkOutput`). Default true. */
  queueUnresolved?: boolean;
  /** ARP cache settings. */
  arp?: NeighborOptions;
  /** NDP cache settings. */
  ndp?: NeighborOptions;
  /** ICMP error rate limit (default 1000/s, burst 50). */
  icmpRateLimit?: TokenBucketOptions;
  /** The transport (a `TransportDemuxer`); can be set later with `setTransport`. */
  transport?: TransportDeliver;
}

/** Size of the stack's own scratch frame for requests it sends from `tick`. */
const SCRATCH_SIZE = 256;

/** One thread's network stack; see the file comment. */
export class Stack {
  readonly nics = new NicTable();
  readonly routes = new RouteTable();
  readonly arp: NeighborTable;
  readonly ndp: NeighborTable;
  readonly icmp: Icmp;
  readonly clock: Clock;
  readonly forwarding: boolean;
  /** Counters by `StackReason`. */
  readonly counters = new Float64Array(STACK_REASON_COUNT);
  /** Counters by `ForwardReason` (the forwarding path's detail). */
  readonly forwardCounters = new Float64Array(FORWARD_REASON_COUNT);
  /** Counters by `ArpResult`. */
  readonly arpCounters = new Float64Array(ARP_RESULT_COUNT);
  /** Counters by `NdpResult`. */
  readonly ndpCounters = new Float64Array(NDP_RESULT_COUNT);
  /** The outputs of the last `handleInbound`. */
  readonly result = new StackResult();

  private readonly wantQueue: boolean;
  private output: LinkOutput | null = null;
  private transport: TransportDeliver | null;
  private readonly forwardResult = new ForwardResult();
  private readonly ipv4 = new Ipv4Header();
  private readonly packet = new TransportPacket();
  private readonly scratch = new DataView(new ArrayBuffer(SCRATCH_SIZE));
  private lastView: DataView | null = null;
  private lastBytes: Uint8Array = new Uint8Array(0);
  /** The current `handleInbound` packet's transport checksum needs no verifying (its `checksumValidated`). */
  private checksumValidated = false;

  /** Makes an empty stack. Throws ERR_INVALID_ARG_* for bad options. Control path. */
  constructor(options: StackOptions = {}) {
    const given: unknown = options; // validate without narrowing `options` itself
    validateObject(given, 'options', ['clock', 'forwarding', 'queueUnresolved', 'arp', 'ndp', 'icmpRateLimit', 'transport']);
    if (options.clock !== undefined && typeof options.clock !== 'function') {
      throw new NetshardError('ERR_INVALID_ARG_TYPE', 'options.clock must be a function returning milliseconds');
    }
    this.clock = options.clock ?? (() => performance.now());
    this.forwarding = options.forwarding ?? false;
    validateBoolean(this.forwarding, 'options.forwarding');
    this.wantQueue = options.queueUnresolved ?? true;
    validateBoolean(this.wantQueue, 'options.queueUnresolved');
    this.arp = new NeighborTable(4, options.arp);
    this.ndp = new NeighborTable(6, options.ndp);
    this.icmp = new Icmp(options.icmpRateLimit);
    this.transport = options.transport ?? null;
  }

  /** Whether unresolved packets are queued: asked for, and there is a `LinkOutput` to send them later. */
  get queueUnresolved(): boolean {
    return this.wantQueue && this.output !== null;
  }

  // ---- setup (control path) ----

  /** Adds a NIC and returns its id (1, 2, …). Throws as `NicTable.add`. */
  addNic(options: NicOptions): number {
    return this.nics.add(options).id;
  }

  /**
   * Assigns an address in CIDR form to a NIC and, unless it is a host address (/32, /128), adds the
   * on-link route to its subnet, as Linux does. Throws as `NicTable.addAddress`.
   */
  addAddress(nicId: number, address: string): void {
    const family = this.nics.addAddress(nicId, address);
    const cidr = parseCidr(address, 'address');
    if (cidr.prefixLength === (family === 4 ? 32 : 128)) return;
    try {
      this.routes.add({ destination: subnetOf(address), nic: nicId });
    } catch (err) {
      if (!(err instanceof NetshardError && err.code === 'EEXIST')) throw err; // another address of the subnet made it
    }
  }

  /** Removes an address and, when no other address of the NIC is in that subnet, its on-link route. */
  removeAddress(nicId: number, address: string): boolean {
    const cidr = parseCidr(address, 'address');
    if (!this.nics.removeAddress(nicId, address)) return false;
    const nic = this.nics.require(nicId);
    let shared = false;
    if (cidr.family === 4) {
      const mask = ipv4Mask(cidr.prefixLength);
      for (let i = 0; i < nic.ipv4Count; i++) if (((nic.ipv4Addresses[i]! ^ cidr.ipv4) & mask) === 0 && nic.ipv4PrefixLengths[i] === cidr.prefixLength) shared = true;
    } else {
      const view = new DataView(cidr.ipv6.buffer);
      for (let i = 0; i < nic.ipv6Count; i++) if (nic.ipv6PrefixLengths[i] === cidr.prefixLength && ipv6PrefixMatches(nic.ipv6View, 16 * i, view, 0, cidr.prefixLength)) shared = true;
    }
    if (!shared && cidr.prefixLength !== (cidr.family === 4 ? 32 : 128)) {
      const subnet = parseCidr(subnetOf(address), 'address');
      if (subnet.family === 4) this.routes.ipv4.remove(subnet.ipv4, subnet.prefixLength, 0, nicId);
      else this.routes.ipv6.remove(subnet.ipv6, subnet.prefixLength, new Uint8Array(16), nicId);
    }
    return true;
  }

  /** Adds a route (see `RouteOptions`). Throws ENODEV for an unknown NIC, else as `RouteTable.add`. */
  addRoute(route: RouteOptions): void {
    this.nics.require(route.nic);
    this.routes.add(route);
  }

  /** Removes the matching routes; returns how many. */
  removeRoute(selector: RouteSelector): number {
    return this.routes.remove(selector);
  }

  /**
   * Adds a static neighbor: `address` (IPv4 or IPv6) on NIC `nicId` is at MAC `linkAddress`. Packets that
   * were waiting for it are sent. Throws ENODEV, ERR_INVALID_ARG_VALUE, ENOSPC.
   */
  addStaticNeighbor(nicId: number, address: string, linkAddress: string): void {
    this.nics.require(nicId);
    const cidr = parseCidr(address, 'address');
    const mac = new Uint8Array(LINK_ADDRESS_SIZE);
    if (!parseLinkAddress(linkAddress, mac) || (mac[0]! & 1) !== 0) {
      throw new NetshardError('ERR_INVALID_ARG_VALUE', `linkAddress must be a unicast MAC address, received '${linkAddress}'`);
    }
    const table = cidr.family === 4 ? this.arp : this.ndp;
    const now = this.clock();
    if (cidr.family === 4) table.setStaticIpv4(nicId, cidr.ipv4, mac, now);
    else table.setStaticIpv6(nicId, cidr.ipv6, mac, now);
    this.flush(table, table.entry, nicId);
  }

  /** Sets where the stack sends frames of its own (requests, packets that waited). */
  setLinkOutput(output: LinkOutput | null): void {
    if (output !== null && (typeof output !== 'object' || typeof output.sendFrame !== 'function' ||
      typeof output.sendQueued !== 'function' || typeof output.releaseQueued !== 'function')) {
      throw new NetshardError('ERR_INVALID_ARG_TYPE', 'output must have sendFrame, sendQueued and releaseQueued methods');
    }
    this.output = output;
  }

  /** Sets the transport packets for this host go to (a `TransportDemuxer`), or null for none. */
  setTransport(transport: TransportDeliver | null): void {
    if (transport !== null && (typeof transport !== 'object' || typeof transport.deliverPacket !== 'function')) {
      throw new NetshardError('ERR_INVALID_ARG_TYPE', 'transport must have a deliverPacket method');
    }
    this.transport = transport;
  }

  // ---- per packet ----

  /**
   * Handles one received frame `view[offset, end)` from NIC `nicId`, parsed into `parsed`; `packet` is
   * the caller's handle on it (a frame index) for the neighbor queue when forwarding, or -1;
   * `checksumValidated`: the link verified the transport checksum or the sender left it to offload
   * (RX checksum offload, `TP_STATUS_CSUMNOTREADY`), so endpoints do not verify it. Returns the action;
   * details in `this.result`. See the file comment for the contract. Never throws.
   */
  handleInbound(
    nicId: number, view: DataView, offset: number, end: number, parsed: ParsedPacket, out: DataView, outOffset: number, packet = -1, checksumValidated = false,
  ): StackAction {
    const r = this.result.reset();
    this.checksumValidated = checksumValidated;
    const nic = this.nics.get(nicId);
    if (nic === undefined) return this.done(StackAction.Drop, StackReason.UnknownNic);
    if (parsed.linkOffset !== offset || parsed.networkOffset < 0 || parsed.end < 0 || parsed.end > end) return this.done(StackAction.Drop, StackReason.Malformed);
    if (parsed.vlanId >= 0) return this.done(StackAction.Drop, StackReason.VlanTagged);
    const now = this.clock();
    const protocol = parsed.networkProtocol;
    if (this.forwarding && protocol !== ARP_PROTOCOL_NUMBER) {
      const f = this.forwardResult;
      const action = forwardPacket(this, nicId, view, parsed, this.queueUnresolved ? packet : -1, now, out, outOffset, f, this.forwardCounters);
      if (action !== ForwardAction.Local) {
        r.outLength = f.outLength;
        r.outNic = f.outNic;
        r.egressNic = f.egressNic;
        r.frameOffset = f.frameOffset;
        r.frameLength = f.frameLength;
        if (f.releasedPacket >= 0) this.output?.releaseQueued(f.releasedPacket);
        if (f.failedTable !== null) this.drain(f.failedTable, f.failedEntry);
        if (action === ForwardAction.Forward) return this.done(StackAction.Forward, StackReason.Forwarded);
        if (action === ForwardAction.Queued) return this.done(StackAction.Queued, StackReason.Queued);
        return this.done(StackAction.Drop, StackReason.ForwardDropped);
      }
    } else if (!isMulticastLinkAddress(view, offset) && !linkAddressEquals(view, offset, nic.linkView, 0)) {
      return this.done(StackAction.Drop, StackReason.OtherHost);
    }
    switch (protocol) {
      case ARP_PROTOCOL_NUMBER:
        return this.inboundArp(nic, view, parsed, now, out, outOffset);
      case IPV4_PROTOCOL_NUMBER:
        return this.inboundIpv4(nic, view, parsed, now, out, outOffset);
      case IPV6_PROTOCOL_NUMBER:
        return this.inboundIpv6(nic, view, parsed, now, out, outOffset);
      default:
        return this.done(StackAction.Drop, StackReason.Malformed);
    }
  }

  /**
   * Runs the neighbor timers at `now` (default the clock): sends the requests that are due through the
   * `LinkOutput` and frees the packets whose resolution failed. Returns the number of requests sent.
   * Call it every ~100-1000 ms; nothing runs in between. Never throws.
   */
  tick(now: number = this.clock()): number {
    let sent = 0;
    for (let t = 0; t < 2; t++) {
      const table = t === 0 ? this.arp : this.ndp;
      table.tick(now);
      for (let i = 0; i < table.solicitCount; i++) {
        const e = table.solicitEntries[i]!;
        const nic = this.nics.get(table.nicOf(e));
        if (nic === undefined || this.output === null) continue;
        const length = table.family === 4
          ? writeArpRequest(nic, table.ipv4AddressOf(e), this.scratch, 0)
          : writeNeighborSolicit(nic, table.keyView, table.keyOffset(e), this.scratch, 0);
        if (length > 0) { this.output.sendFrame(nic.id, this.scratch, 0, length); sent++; }
      }
      for (let i = 0; i < table.failedCount; i++) this.drain(table, table.failedEntries[i]!);
    }
    return sent;
  }

  // ---- internals ----

  private done(action: StackAction, reason: StackReason): StackAction {
    this.result.reason = reason;
    this.counters[reason]!++;
    return action;
  }

  private reply(nicId: number, length: number): StackAction {
    this.result.outLength = length;
    this.result.outNic = nicId;
    return this.done(StackAction.Reply, StackReason.Replied);
  }

  /** Sends every packet queued on entry `e` of `table` to its now-known link address. */
  private flush(table: NeighborTable, e: number, nicId: number): void {
    if (e < 0) return;
    const at = table.linkAddressOffset(e);
    for (let p = table.dequeue(e); p >= 0; p = table.dequeue(e)) {
      if (this.output === null) continue;
      this.output.sendQueued(nicId, p, table.linkView, at);
    }
  }

  /** Frees every packet queued on entry `e` of `table`. */
  private drain(table: NeighborTable, e: number): void {
    for (let p = table.dequeue(e); p >= 0; p = table.dequeue(e)) this.output?.releaseQueued(p);
  }

  private inboundArp(nic: Nic, view: DataView, parsed: ParsedPacket, now: number, out: DataView, outOffset: number): StackAction {
    const result = handleArp(nic, this.arp, view, parsed.linkOffset, parsed.networkOffset, parsed.end, now, out, outOffset);
    this.arpCounters[result]!++;
    if (result >= ArpResult.Malformed) return this.done(StackAction.Drop, StackReason.ArpDropped);
    if ((result & ArpResult.Resolved) !== 0) this.flush(this.arp, this.arp.entry, nic.id);
    if ((result & ArpResult.Replied) !== 0) return this.reply(nic.id, ARP_FRAME_SIZE);
    return this.done(StackAction.Consumed, StackReason.Consumed);
  }

  private inboundIpv4(nic: Nic, view: DataView, parsed: ParsedPacket, now: number, out: DataView, outOffset: number): StackAction {
    const ip = parsed.networkOffset;
    if (!ipv4HeaderChecksumOk(view, ip, this.ipv4.reset(view, ip).headerLength)) return this.done(StackAction.Drop, StackReason.BadChecksum);
    const destination = view.getInt32(ip + IPV4_DESTINATION_OFFSET);
    if (!isLocalIpv4(this.nics, nic, destination)) return this.done(StackAction.Drop, StackReason.NotForUs);
    if (parsed.fragment !== FragmentKind.None) return this.done(StackAction.Drop, StackReason.Fragment);
    switch (parsed.transportProtocol) {
      case ICMPV4_PROTOCOL_NUMBER: {
        if (view.getUint8(parsed.transportOffset) !== ICMPV4_ECHO) return this.done(StackAction.Consumed, StackReason.Consumed);
        const n = this.icmp.echoReplyV4(view, parsed, nic, out, outOffset);
        return n > 0 ? this.reply(nic.id, n) : this.done(StackAction.Drop, StackReason.IcmpDropped);
      }
      case UDP_PROTOCOL_NUMBER:
      case TCP_PROTOCOL_NUMBER:
        return this.deliver(nic, view, parsed, nic.isIpv4Broadcast(destination), now, out, outOffset);
      default:
        this.setError(nic.id, this.icmp.errorV4(view, parsed, nic, ICMPV4_DST_UNREACHABLE, ICMPV4_PROTO_UNREACHABLE, 0, destination, now, out, outOffset));
        return this.done(StackAction.Drop, StackReason.UnknownProtocol);
    }
  }

  private inboundIpv6(nic: Nic, view: DataView, parsed: ParsedPacket, now: number, out: DataView, outOffset: number): StackAction {
    if (!isLocalIpv6(this.nics, view, parsed.networkOffset + 24)) return this.done(StackAction.Drop, StackReason.NotForUs);
    if (parsed.fragment !== FragmentKind.None) return this.done(StackAction.Drop, StackReason.Fragment);
    switch (parsed.transportProtocol) {
      case ICMPV6_PROTOCOL_NUMBER: {
        const type = view.getUint8(parsed.transportOffset);
        if (type === ICMPV6_NEIGHBOR_SOLICIT || type === ICMPV6_NEIGHBOR_ADVERT) {
          const result = handleNdp(nic, this.ndp, view, parsed, now, out, outOffset, this.forwarding);
          this.ndpCounters[result]!++;
          if (result >= NdpResult.Malformed) return this.done(StackAction.Drop, StackReason.NdpDropped);
          if ((result & NdpResult.Resolved) !== 0) this.flush(this.ndp, this.ndp.entry, nic.id);
          if ((result & NdpResult.Replied) !== 0) return this.reply(nic.id, NDP_FRAME_SIZE);
          return this.done(StackAction.Consumed, StackReason.Consumed);
        }
        if (type !== ICMPV6_ECHO_REQUEST) return this.done(StackAction.Consumed, StackReason.Consumed);
        const n = this.icmp.echoReplyV6(view, parsed, nic, out, outOffset);
        return n > 0 ? this.reply(nic.id, n) : this.done(StackAction.Drop, StackReason.IcmpDropped);
      }
      case UDP_PROTOCOL_NUMBER:
      case TCP_PROTOCOL_NUMBER:
        return this.deliver(nic, view, parsed, false, now, out, outOffset);
      default:
        return this.done(StackAction.Drop, StackReason.UnknownProtocol);
    }
  }

  /** Hands a UDP/TCP packet to the transport; answers a UDP packet nobody takes with port unreachable. */
  private deliver(nic: Nic, view: DataView, parsed: ParsedPacket, broadcast: boolean, now: number, out: DataView, outOffset: number): StackAction {
    const isIpv4 = parsed.networkProtocol === IPV4_PROTOCOL_NUMBER;
    let delivered = 0;
    if (this.transport !== null) {
      if (view !== this.lastView) { // one Uint8Array per frame pool view, not per packet
        this.lastView = view;
        this.lastBytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
      }
      this.packet.set(this.lastBytes, view, isIpv4 ? IPV4_PROTOCOL_NUMBER : IPV6_PROTOCOL_NUMBER, parsed.networkOffset,
        parsed.transportProtocol, parsed.transportOffset, parsed.end, nic.id, broadcast, this.checksumValidated);
      delivered = this.transport.deliverPacket(this.packet);
    }
    if (delivered > 0) return this.done(StackAction.Delivered, StackReason.Delivered);
    if (delivered < 0 || parsed.transportProtocol !== UDP_PROTOCOL_NUMBER) return this.done(StackAction.Drop, StackReason.NoEndpoint);
    // Linux answers only a datagram whose checksum holds (`__udp4_lib_rcv`: checksum, then port unreachable).
    if (!this.checksumValidated && !verifyUdpChecksum(view, parsed.networkProtocol, parsed.networkOffset, parsed.transportOffset, parsed.end - parsed.transportOffset)) {
      return this.done(StackAction.Drop, StackReason.BadChecksum);
    }
    const ip = parsed.networkOffset;
    const n = isIpv4
      ? this.icmp.errorV4(view, parsed, nic, ICMPV4_DST_UNREACHABLE, ICMPV4_PORT_UNREACHABLE, 0, view.getInt32(ip + IPV4_DESTINATION_OFFSET), now, out, outOffset)
      : this.icmp.errorV6(view, parsed, nic, ICMPV6_DST_UNREACHABLE, ICMPV6_PORT_UNREACHABLE, 0, view, ip + 24, now, out, outOffset);
    this.setError(nic.id, n);
    return this.done(StackAction.Drop, StackReason.NoEndpoint);
  }

  private setError(nicId: number, length: number): void {
    if (length <= 0) return;
    this.result.outLength = length;
    this.result.outNic = nicId;
  }
}

/** Returns the subnet of a CIDR address as CIDR text (`198.18.0.1/15` → `198.18.0.0/15`). Control path. */
function subnetOf(address: string): string {
  const cidr = parseCidr(address, 'address');
  const length = cidr.prefixLength;
  if (cidr.family === 4) return `${formatIpv4((cidr.ipv4 & ipv4Mask(length)) >>> 0)}/${length}`;
  const bytes = cidr.ipv6;
  for (let bit = length; bit < 128; bit++) bytes[bit >>> 3]! &= ~(0x80 >>> (bit & 7));
  return `${formatIpv6(bytes)}/${length}`;
}
