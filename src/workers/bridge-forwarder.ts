/**
 * `BridgeForwarder`: the L2 bridge of `netshard forward --bridge`, run to completion in the dispatch
 * worker like L3 forwarding. Two links, no tables: every frame received on one link goes out on the
 * other unchanged (MACs, TTL, VLAN tag and all), broadcast, multicast and ARP included: with two ports
 * there is nothing to learn, the one other port is where any frame floods to. The loop sends it from the
 * frame it was received into, on the other link's `fds[hash % n]` (the same flow hash as L3, so a flow
 * keeps one fd and its order), and frees the frame after sendmmsg: no copy, no thread hop.
 *
 * What it sends is the frame from its link header (or the IP header on a bare-IP link, TUN) to the end
 * of the network packet (`ParsedPacket.end`): Ethernet padding after a short packet is left for the
 * sending device to add again. A partial checksum (a local sender's tx offload) is completed by the
 * loop before the send, as for every forwarded packet; nothing else is touched. What reaches `decide` is
 * what `parsePacket` accepts (IPv4, IPv6, ARP); other EtherTypes are parse drops, as on every path.
 *
 * Counts by `ForwardReason` in `counters` (the worker's `forwardReasons`): Forwarded, or TooBig for an IP
 * packet longer than the egress link's MTU, dropped as Linux's bridge drops it (`br_dev_queue_push_xmit`
 * → `is_skb_forwardable`). What the kernel refuses on send (a full socket buffer) is the writer's
 * `txDrops`, as for L3.
 *
 * Links must be both Ethernet or both bare IP, and have no link address (a link with one takes only
 * frames for that MAC: the endpoint drops the rest before any forwarder sees them).
 *
 * Thread: built and used by one worker (`createForwarder`). `decide` is hot path: no allocation, no throw.
 */
import { NetshardError } from '../errors.ts';
import { ForwardReason, type ParsedPacket } from '../tcpip/index.ts';
import { ForwardVerdict, type ForwardDecision, type Forwarder } from './forwarding.ts';
import type { ForwardLink } from './route-forwarder.ts';

/** A two-port bridge: every frame to the other link, unchanged. Build with `createForwarder`. */
export class BridgeForwarder implements Forwarder {
  /** Writes no frames of its own. */
  readonly scratch = null;
  /** Outcome counts by `ForwardReason` (Forwarded, TooBig), e.g. over the worker's stats buffer. */
  readonly counters: Float64Array;
  /** Per link: its MTU (largest IP packet). */
  private readonly mtu: Int32Array;

  /**
   * Checks `links` (two, of one kind, no link address). Control path: throws ERR_INVALID_ARG_VALUE.
   */
  constructor(links: readonly ForwardLink[], counters: Float64Array) {
    if (links.length !== 2) throw new NetshardError('ERR_INVALID_ARG_VALUE', `a bridge joins exactly 2 links, received ${links.length}`);
    if (links[0]!.ethernetHeader !== links[1]!.ethernetHeader) {
      throw new NetshardError('ERR_INVALID_ARG_VALUE', 'a bridge joins two links of one kind: both with an Ethernet header or both bare IP');
    }
    links.forEach((l, i) => {
      if (l.linkAddress !== '') {
        throw new NetshardError('ERR_INVALID_ARG_VALUE', `a bridge takes frames for any MAC: link ${i} must have no link address, it has ${l.linkAddress}`);
      }
    });
    this.mtu = Int32Array.from(links, (l) => l.mtu);
    this.counters = counters;
  }

  decide(_view: DataView, ingressLink: number, p: ParsedPacket, _now: number, out: ForwardDecision): ForwardVerdict {
    const link = ingressLink ^ 1;
    if (p.end - p.networkOffset > this.mtu[link]!) {
      this.counters[ForwardReason.TooBig]!++;
      return ForwardVerdict.Drop;
    }
    this.counters[ForwardReason.Forwarded]!++;
    out.link = link;
    out.start = p.linkOffset >= 0 ? p.linkOffset : p.networkOffset;
    out.end = p.end;
    return ForwardVerdict.Forward;
  }
}
