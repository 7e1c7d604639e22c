/**
 * `EngineUdpContext`: the UDP send path and the stack context (`UdpStackContext`) of the coordinator's
 * stack, so `createSocket({ type: 'udp4' }, context)` gives a node:dgram-like socket that talks to real
 * kernels through the engine's fds, and app workers' replies leave the same way.
 * ```
 *  UdpEndpoint.send ─► selectSourceAddress (route, NIC address) ─► send(datagram) ─┐
 *  AppHost (a reply from an app worker) ─► sendPayload(addresses, ports, payload) ─┤
 *     tx frame ◄─ Ethernet + IPv4/IPv6 header (+ UDP header, checksum) + payload ◄─┘
 *     flow hash of the 5-tuple ─► neighbor of the next hop on the egress NIC:
 *        resolved ─► destination MAC ─► adapter.sendTxFrame(link, frame, hash) ─► fds[hash % n]
 *        unresolved ─► ARP request / NS out; the frame waits in the neighbor queue (stack.queueUnresolved)
 *                      and leaves when the reply comes (LinkOutput.sendQueued), or is dropped and counted
 *        failed / table full ─► dropped and counted
 * ```
 * Routing: the longest-prefix route to the destination (its NIC and next hop); a datagram with a
 * `nicId` (SO_BINDTODEVICE) leaves on that NIC, through the route's gateway only when the route uses that
 * NIC, else on-link. Broadcast (255.255.255.255, a NIC's directed broadcast) and multicast destinations
 * get the group MAC without resolution. Every datagram carries DF and a fresh IPv4 id (no fragmentation:
 * larger than the NIC's MTU is MessageTooLong, EMSGSIZE), TTL / hop limit 64, as Linux's defaults.
 *
 * The context also points the stack's transport at its demuxer (`stack.setTransport`), so received
 * datagrams reach the endpoints registered here.
 *
 * Not done: sending to one of the stack's own addresses (no loopback: NoRoute), IPv6 link-local
 * destinations without a `nicId` (no scope), fragmentation, IP options.
 *
 * Thread: main (the stack's). `send`, `selectSourceAddress`, `sendPayload`: no allocation, never throw.
 */
import {
  IPV4_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER, NeighborLookup, TransportDemuxer, UDP_PROTOCOL_NUMBER, UdpSendResult,
  UdpStats, checksumView, copyLinkAddress, copyView, finishChecksum, flowHashIpv4Int32, flowHashIpv6Int32, isIpv4Multicast, isIpv6Multicast,
  writeArpRequest, writeBroadcastLinkAddress, writeIpv6MulticastLinkAddress, writeNeighborSolicit,
  type NeighborTable, type Nic, type PortReserver, type UdpDatagram, type UdpStackContext,
} from '../tcpip/index.ts';
import type { StackAdapter } from './stack-adapter.ts';

/** What the send path did, counted in `EngineUdpContext.counters`. */
export const UdpSendCounter = {
  /** Datagrams put on the wire at once (their neighbor was known). */
  sent: 0,
  /** Datagrams that waited for their neighbor in the stack's queue. */
  queued: 1,
  /** No route, or no source address. */
  noRoute: 2,
  /** Larger than the egress NIC's MTU (no fragmentation). */
  tooLong: 3,
  /** No free tx frame. */
  noFrame: 4,
  /** The neighbor was unresolved and the stack does not queue (`queueUnresolved: false`): dropped. */
  unresolvedDrops: 5,
  /** Dropped from a full neighbor queue (this datagram or an older one). */
  queueDrops: 6,
  /** The neighbor's resolution had failed: dropped. */
  neighborFailed: 7,
  /** The neighbor table was full: dropped. */
  neighborFull: 8,
  /** ARP requests / neighbor solicitations sent for datagrams. */
  solicits: 9,
} as const;
export type UdpSendCounter = (typeof UdpSendCounter)[keyof typeof UdpSendCounter];
/** Length of `EngineUdpContext.counters`. */
export const UDP_SEND_COUNTER_COUNT = 10;

/** Options of `new EngineUdpContext()`. */
export interface EngineUdpContextOptions {
  /** The demuxer to deliver to; default a new one for UDP over IPv4 and IPv6. */
  demuxer?: TransportDemuxer;
}

const ETHERNET_HEADER = 14;
const IPV4_HEADER = 20;
const IPV6_HEADER = 40;
const UDP_HEADER = 8;
/** TTL and hop limit of what we send (Linux `ip_default_ttl`, `hop_limit`). */
const TTL = 64;
/** Scratch for ARP requests and neighbor solicitations (an NS frame is 86 bytes). */
const REQUEST_BYTES = 128;
const SEND_COUNTER_NAMES = Object.keys(UdpSendCounter) as (keyof typeof UdpSendCounter)[];

/** The coordinator stack's UDP context; see the file comment. */
export class EngineUdpContext implements UdpStackContext {
  readonly demuxer: TransportDemuxer;
  /** The port manager (the engine's shared `PortManager` fits). */
  readonly ports: PortReserver;
  readonly stats = new UdpStats();
  /** Counters by `UdpSendCounter`. */
  readonly counters = new Float64Array(UDP_SEND_COUNTER_COUNT);
  /** The adapter whose stack routes and resolves, and through which frames leave. */
  readonly adapter: StackAdapter;

  // Per-datagram scratch: addresses (16 bytes each; IPv4 in the first 4), the route's outcome.
  private readonly src = new Uint8Array(16);
  private readonly srcView = new DataView(this.src.buffer);
  private readonly dst = new Uint8Array(16);
  private readonly dstView = new DataView(this.dst.buffer);
  private nic: Nic | null = null;
  private nextHop4 = 0;
  private hopView: DataView = this.dstView;
  private hopOffset = 0;
  private readonly request = new DataView(new ArrayBuffer(REQUEST_BYTES));
  private ipId = 0;

  /**
   * Makes the context of `adapter`'s stack, reserving ports in `ports`, and sets the stack's transport to
   * its demuxer. Thread: main. Control path.
   */
  constructor(adapter: StackAdapter, ports: PortReserver, options: EngineUdpContextOptions = {}) {
    this.adapter = adapter;
    this.ports = ports;
    this.demuxer = options.demuxer ?? new TransportDemuxer({ transportProtocols: [UDP_PROTOCOL_NUMBER] });
    adapter.stack.setTransport(this.demuxer);
  }

  /** Returns the send counters by name. Control path. */
  sendStats(): Record<keyof typeof UdpSendCounter, number> {
    const out = {} as Record<keyof typeof UdpSendCounter, number>;
    for (const name of SEND_COUNTER_NAMES) out[name] = this.counters[UdpSendCounter[name]]!;
    return out;
  }

  /**
   * Writes the source address for `datagram.destinationAddress` (the egress NIC's address on the
   * destination's subnet, else its first) into `datagram.sourceAddress`; NoRoute when there is no route
   * or the NIC has no address of that family. Never throws.
   */
  selectSourceAddress(datagram: UdpDatagram): UdpSendResult {
    const v4 = datagram.networkProtocol === IPV4_PROTOCOL_NUMBER;
    this.dst.set(datagram.destinationAddress);
    if (!this.route(v4, datagram.nicId)) return this.noRoute();
    const nic = this.nic!;
    if (v4) {
      const source = nic.selectIpv4Source(this.dstView.getInt32(0));
      if (source === 0) return this.noRoute();
      const out = datagram.sourceAddress;
      out[0] = source >>> 24; out[1] = (source >>> 16) & 0xff; out[2] = (source >>> 8) & 0xff; out[3] = source & 0xff;
      return UdpSendResult.Ok;
    }
    const index = nic.selectIpv6Source(this.dstView, 0);
    if (index < 0) return this.noRoute();
    const bytes = nic.ipv6Bytes, out = datagram.sourceAddress;
    for (let i = 0; i < 16; i++) out[i] = bytes[16 * index + i]!;
    return UdpSendResult.Ok;
  }

  /**
   * Sends `datagram` (UDP header and payload, checksum filled in) with an IP and Ethernet header in a tx
   * frame; see the file comment. Copies it before returning. Never throws.
   */
  send(datagram: UdpDatagram): UdpSendResult {
    const v4 = datagram.networkProtocol === IPV4_PROTOCOL_NUMBER;
    this.src.set(datagram.sourceAddress);
    this.dst.set(datagram.destinationAddress);
    return this.transmit(v4, datagram.nicId, datagram.view, datagram.offset, datagram.length, false, 0, 0);
  }

  /**
   * Sends a UDP datagram of `length` payload bytes at `payload[payloadOffset]` from `localPort` at the
   * address at `addresses[localOffset]` to `remotePort` at `addresses[remoteOffset]` (4 bytes each for
   * `family` 4, 16 for 6), on NIC `nicId` (0: the route decides): writes the UDP header and checksum
   * itself. For app workers' replies (the slot layout of `app-channel.ts`). Never throws.
   */
  sendPayload(
    family: number,
    addresses: DataView,
    remoteOffset: number,
    localOffset: number,
    remotePort: number,
    localPort: number,
    payload: DataView,
    payloadOffset: number,
    length: number,
    nicId: number,
  ): UdpSendResult {
    const v4 = family === 4;
    const size = v4 ? 4 : 16;
    copyView(addresses, localOffset, this.srcView, 0, size);
    copyView(addresses, remoteOffset, this.dstView, 0, size);
    return this.transmit(v4, nicId, payload, payloadOffset, length, true, localPort, remotePort);
  }

  // ---- internals ------------------------------------------------------------------------------------

  /**
   * Finds the egress NIC and next hop for the destination in `dst` (on `nicId` when not 0) into `nic`,
   * `nextHop4` / `hopView`+`hopOffset`. False when there is none, or the destination is one of ours.
   */
  private route(v4: boolean, nicId: number): boolean {
    const stack = this.adapter.stack;
    const nics = stack.nics;
    if (v4) {
      const destination = this.dstView.getInt32(0);
      if (nics.findIpv4(destination) !== 0) return false;
      const routes = stack.routes.ipv4;
      const r = routes.lookup(destination);
      const nic = nics.get(nicId !== 0 ? nicId : r >= 0 ? routes.nic[r]! : 0);
      if (nic === undefined) return false;
      this.nic = nic;
      this.nextHop4 = r >= 0 && routes.nic[r] === nic.id ? routes.nextHop(r, destination) : destination;
      return true;
    }
    if (nics.findIpv6(this.dstView, 0) !== 0) return false;
    const routes = stack.routes.ipv6;
    const r = routes.lookup(this.dstView, 0);
    const nic = nics.get(nicId !== 0 ? nicId : r >= 0 ? routes.nic[r]! : 0);
    if (nic === undefined) return false;
    this.nic = nic;
    const viaGateway = r >= 0 && routes.nic[r] === nic.id && routes.hasGateway[r] === 1;
    this.hopView = viaGateway ? routes.gatewayView : this.dstView;
    this.hopOffset = viaGateway ? 16 * r : 0;
    return true;
  }

  /**
   * Builds and sends one datagram from `src` to `dst`: `data[dataOffset, +dataLength)` is the whole UDP
   * datagram, or only its payload when `writeHeader` (then the header and checksum are written here).
   */
  private transmit(
    v4: boolean,
    nicId: number,
    data: DataView,
    dataOffset: number,
    dataLength: number,
    writeHeader: boolean,
    sourcePort: number,
    destinationPort: number,
  ): UdpSendResult {
    const counters = this.counters;
    const engine = this.adapter.sender;
    if (!this.route(v4, nicId)) return this.noRoute();
    const nic = this.nic!;
    const ipLength = v4 ? IPV4_HEADER : IPV6_HEADER;
    const udpLength = writeHeader ? dataLength + UDP_HEADER : dataLength;
    const frameLength = ETHERNET_HEADER + ipLength + udpLength;
    if (ipLength + udpLength > nic.mtu) {
      counters[UdpSendCounter.tooLong]!++;
      return UdpSendResult.MessageTooLong;
    }
    const frame = engine === null || frameLength > engine.txPool.frameSize ? -1 : engine.allocTxFrame();
    if (frame < 0) {
      counters[UdpSendCounter.noFrame]!++;
      return UdpSendResult.NoBufferSpace;
    }
    const pool = engine!.txPool, view = pool.view;
    const base = pool.offsetOf(frame);
    const ip = base + ETHERNET_HEADER, udp = ip + ipLength;
    copyLinkAddress(nic.linkView, 0, view, base + 6);
    view.setUint16(base + 12, v4 ? IPV4_PROTOCOL_NUMBER : IPV6_PROTOCOL_NUMBER);
    if (v4) this.writeIpv4(view, ip, udpLength);
    else this.writeIpv6(view, ip, udpLength);
    if (writeHeader) {
      view.setUint16(udp, sourcePort);
      view.setUint16(udp + 2, destinationPort);
      view.setUint16(udp + 4, udpLength);
      view.setUint16(udp + 6, 0);
      copyView(data, dataOffset, view, udp + UDP_HEADER, dataLength);
      // Pseudo-header (RFC 768 / RFC 8200 §8.1) from the addresses just written, 16 bits at a time.
      let pseudo = udpLength + UDP_PROTOCOL_NUMBER;
      for (let at = ip + (v4 ? 12 : 8), end = ip + (v4 ? 20 : 40); at < end; at += 2) pseudo += view.getUint16(at);
      const sum = finishChecksum(checksumView(view, udp, udpLength, pseudo));
      view.setUint16(udp + 6, sum === 0 ? 0xffff : sum);
    } else {
      copyView(data, dataOffset, view, udp, dataLength);
    }
    const seed = engine!.hashSeed;
    const hash = v4 ? flowHashIpv4Int32(view, ip, UDP_PROTOCOL_NUMBER, udp, seed) : flowHashIpv6Int32(view, ip, UDP_PROTOCOL_NUMBER, udp, seed);
    return this.resolveAndSend(v4, nic, frame, base, frameLength, hash);
  }

  private writeIpv4(view: DataView, ip: number, udpLength: number): void {
    this.ipId = (this.ipId + 1) & 0xffff;
    view.setUint32(ip, 0x45000000 | (IPV4_HEADER + udpLength)); // version 4, IHL 5, TOS 0, total length
    view.setUint32(ip + 4, (this.ipId << 16) | 0x4000); // id, DF
    view.setUint32(ip + 8, (TTL << 24) | (UDP_PROTOCOL_NUMBER << 16)); // TTL, protocol, checksum 0
    view.setInt32(ip + 12, this.srcView.getInt32(0));
    view.setInt32(ip + 16, this.dstView.getInt32(0));
    view.setUint16(ip + 10, finishChecksum(checksumView(view, ip, IPV4_HEADER)));
  }

  private writeIpv6(view: DataView, ip: number, udpLength: number): void {
    view.setUint32(ip, 0x60000000); // version 6, traffic class 0, flow label 0
    view.setUint32(ip + 4, (udpLength << 16) | (UDP_PROTOCOL_NUMBER << 8) | TTL); // payload length, next header, hop limit
    copyView(this.srcView, 0, view, ip + 8, 16);
    copyView(this.dstView, 0, view, ip + 24, 16);
  }

  /** Writes the destination MAC (group address, or the next hop's) and queues, holds or drops the frame. */
  private resolveAndSend(v4: boolean, nic: Nic, frame: number, base: number, length: number, hash: number): UdpSendResult {
    const adapter = this.adapter, stack = adapter.stack, counters = this.counters;
    const view = adapter.sender!.txPool.view;
    const link = nic.id - 1;
    if (v4) {
      const destination = this.dstView.getInt32(0);
      if (destination === -1 || nic.isIpv4Broadcast(destination)) {
        writeBroadcastLinkAddress(view, base);
        return this.sent(link, frame, length, hash);
      }
      if (isIpv4Multicast(destination)) { // 01:00:5e + the low 23 bits (RFC 1112 §6.4)
        view.setUint16(base, 0x0100);
        view.setUint32(base + 2, 0x5e000000 | (destination & 0x7fffff));
        return this.sent(link, frame, length, hash);
      }
    } else if (isIpv6Multicast(this.dstView, 0)) {
      writeIpv6MulticastLinkAddress(this.dstView, 0, view, base);
      return this.sent(link, frame, length, hash);
    }
    const table: NeighborTable = v4 ? stack.arp : stack.ndp;
    const now = stack.clock();
    const lookup = v4 ? table.resolveIpv4(nic.id, this.nextHop4, now) : table.resolveIpv6(nic.id, this.hopView, this.hopOffset, now);
    const e = table.entry;
    switch (lookup) {
      case NeighborLookup.Resolved:
      case NeighborLookup.ResolvedProbe:
        copyView(table.linkView, table.linkAddressOffset(e), view, base, 6);
        if (lookup === NeighborLookup.ResolvedProbe) this.solicit(v4, nic, table.linkView, table.linkAddressOffset(e));
        return this.sent(link, frame, length, hash);
      case NeighborLookup.Pending:
      case NeighborLookup.PendingSolicit: {
        if (lookup === NeighborLookup.PendingSolicit) this.solicit(v4, nic, null, 0);
        if (!stack.queueUnresolved) {
          adapter.sender!.freeTxFrame(frame);
          counters[UdpSendCounter.unresolvedDrops]!++;
          return UdpSendResult.Ok; // as Linux: the datagram was accepted, and is lost on the way
        }
        adapter.holdTxFrame(frame, length, hash);
        const released = table.enqueue(e, frame);
        if (released >= 0) {
          counters[UdpSendCounter.queueDrops]!++;
          adapter.releaseQueued(released);
          if (released === frame) return UdpSendResult.NoBufferSpace;
        }
        counters[UdpSendCounter.queued]!++;
        return UdpSendResult.Ok;
      }
      case NeighborLookup.Failed:
        for (let p = table.dequeue(e); p >= 0; p = table.dequeue(e)) adapter.releaseQueued(p);
        adapter.sender!.freeTxFrame(frame);
        counters[UdpSendCounter.neighborFailed]!++;
        return UdpSendResult.NoRoute;
      default:
        adapter.sender!.freeTxFrame(frame);
        counters[UdpSendCounter.neighborFull]!++;
        return UdpSendResult.NoBufferSpace;
    }
  }

  private noRoute(): UdpSendResult {
    this.counters[UdpSendCounter.noRoute]!++;
    return UdpSendResult.NoRoute;
  }

  private sent(link: number, frame: number, length: number, hash: number): UdpSendResult {
    if (!this.adapter.sendTxFrame(link, frame, length, hash)) return UdpSendResult.NoBufferSpace;
    this.counters[UdpSendCounter.sent]!++;
    return UdpSendResult.Ok;
  }

  /** Sends an ARP request / neighbor solicitation for the next hop: broadcast, or unicast to `unicast` (a probe). */
  private solicit(v4: boolean, nic: Nic, unicast: DataView | null, unicastOffset: number): void {
    const out = this.request;
    const n = v4
      ? (unicast === null ? writeArpRequest(nic, this.nextHop4, out, 0) : writeArpRequest(nic, this.nextHop4, out, 0, unicast, unicastOffset))
      : (unicast === null
        ? writeNeighborSolicit(nic, this.hopView, this.hopOffset, out, 0)
        : writeNeighborSolicit(nic, this.hopView, this.hopOffset, out, 0, unicast, unicastOffset));
    if (n <= 0) return;
    this.counters[UdpSendCounter.solicits]!++;
    this.adapter.sendFrame(nic.id, out, 0, n);
  }
}
