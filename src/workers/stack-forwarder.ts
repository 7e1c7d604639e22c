/**
 * `StackForwarder`: the worker's forwarding decision through the stack's own `forwardPacket()`
 * (`src/tcpip/stack/forward.ts`: local? sane? route, TTL, MTU, neighbor, MAC rewrite, ICMP errors with
 * RFC 1812/4443 quoting and rate limits), over tables this worker builds from the `ForwardingConfig`:
 * a `Stack` used only as a set of tables (one NIC per link, id = link + 1; the config's addresses,
 * routes and static neighbors).
 *
 * What it does not take from `forward.ts`, and why:
 * - Neighbor resolution. Answers to ARP/NDP requests reach the coordinator's stack, not this thread's
 *   table (`src/tcpip/stack/README.md`: tables are per thread), so a worker would solicit forever and
 *   then fail. Packets whose next hop is not a static neighbor go to the stack unchanged (NoNeighbor,
 *   `forwardPacket` is called with no packet handle, so it never queues), and any request it wrote is
 *   not sent.
 * - Everything `forwardPacket` calls Local goes to the stack, with ARP and link multicast told apart.
 * What the coordinator's stack resolves comes back as `NeighborChange`s (`updateNeighbors`, between
 * batches): set as static entries here (they never expire in a worker; the coordinator removes them
 * when its own entry fails or goes), so the next packets to that next hop forward in this thread.
 * ICMP errors it writes (time exceeded, fragmentation needed / packet too big) are sent by the loop
 * from `scratch` on the ingress link (`ForwardDecision.extra*`).
 *
 * Destination cache: `forwardPacket` remembers, per (ingress link, IPv4 destination), the egress link and
 * both MACs (`ForwardCache`), so a packet to a known destination skips the route lookup and the neighbor
 * table. Valid here because every resolved neighbor of these tables is static; the tables change only in
 * `updateNeighbors`, which clears it (a reconfigure builds a new forwarder, a restart a new worker).
 *
 * Thread: built and used by one worker. `decide` is hot path: no allocation, no throw.
 */
import {
  ARP_PROTOCOL_NUMBER,
  ForwardAction,
  ForwardCache,
  ForwardReason,
  ForwardResult,
  Stack,
  forwardPacket,
  type ParsedPacket,
} from '../tcpip/index.ts';
import { NetshardError } from '../errors.ts';
import { parseIpv4, parseIpv6 } from '../tcpip/index.ts';
import { ForwardVerdict, HandoffReason, type ForwardDecision, type Forwarder, type ForwardingConfig, type NeighborChange } from './forwarding.ts';
import type { ForwardLink } from './route-forwarder.ts';

/** Bytes of scratch for one frame the forwarder writes itself: Ethernet + an IPv6 minimum-MTU ICMP error. */
const SCRATCH_BYTES = 2048;

/** The stack's forwarding decision over per-worker tables. Build with `createForwarder`. */
export class StackForwarder implements Forwarder {
  readonly scratch: Uint8Array;
  /** Outcome counts by `ForwardReason` (the stack's), e.g. over the worker's stats buffer. */
  readonly counters: Float64Array;
  private readonly tables: Stack;
  private readonly out: DataView;
  private readonly result = new ForwardResult();
  /** IPv4 destinations that forward; cleared whenever the tables change. */
  readonly cache = new ForwardCache();

  /**
   * Builds the tables. Every link must carry Ethernet with a link address (a NIC needs a MAC). Control
   * path: throws ERR_INVALID_ARG_VALUE and what the stack's setup throws (EEXIST, ENODEV, EINVAL).
   */
  constructor(config: ForwardingConfig, links: readonly ForwardLink[], counters: Float64Array) {
    this.counters = counters;
    this.scratch = new Uint8Array(new SharedArrayBuffer(SCRATCH_BYTES));
    this.out = new DataView(this.scratch.buffer);
    const stack = new Stack({ forwarding: true, queueUnresolved: false, clock: () => 0 });
    links.forEach((l, i) => {
      if (!l.ethernetHeader || l.linkAddress === '') {
        throw new NetshardError('ERR_INVALID_ARG_VALUE', `link ${i} needs an Ethernet header and a link address to forward through the stack's tables`);
      }
      stack.addNic({ name: `link${i}`, linkAddress: l.linkAddress, mtu: l.mtu });
    });
    for (const a of config.addresses ?? []) stack.addAddress(a.link + 1, a.address);
    for (const r of config.routes ?? []) {
      try {
        stack.addRoute({ destination: r.destination, nic: r.link + 1, ...(r.gateway !== undefined ? { gateway: r.gateway } : {}) });
      } catch (err) {
        if (!(err instanceof NetshardError && err.code === 'EEXIST')) throw err; // also an address's on-link route
      }
    }
    for (const n of config.neighbors ?? []) stack.addStaticNeighbor(n.link + 1, n.address, n.linkAddress);
    this.tables = stack;
  }

  /**
   * Sets (static) or removes the next hops in `changes`, already checked (`validateNeighborChanges`).
   * A removal of an unknown entry does nothing. Control path, between batches: throws what
   * `Stack.addStaticNeighbor` throws (ENODEV, ERR_INVALID_ARG_VALUE, ENOSPC).
   */
  updateNeighbors(changes: readonly NeighborChange[]): void {
    this.cache.clear(); // first: even a change that throws half-way may have changed the tables
    const tables = this.tables;
    const v6 = new Uint8Array(16);
    for (const c of changes) {
      const nic = c.link + 1;
      if (c.linkAddress !== null) {
        tables.addStaticNeighbor(nic, c.address, c.linkAddress);
        continue;
      }
      const v4 = parseIpv4(c.address);
      const table = v4 >= 0 ? tables.arp : tables.ndp;
      const e = v4 >= 0 ? table.findIpv4(nic, v4) : parseIpv6(c.address, v6) ? table.findIpv6(nic, new DataView(v6.buffer), 0) : -1;
      if (e >= 0) table.remove(e); // a worker never queues (no packet handle), so the queue is empty
    }
  }

  decide(view: DataView, ingressLink: number, p: ParsedPacket, now: number, out: ForwardDecision): ForwardVerdict {
    const r = this.result;
    const action = forwardPacket(this.tables, ingressLink + 1, view, p, -1, now, this.out, 0, r, this.counters, this.cache);
    if (action === ForwardAction.Forward) {
      out.link = r.egressNic - 1;
      out.start = r.frameOffset;
      out.end = r.frameOffset + r.frameLength;
      return ForwardVerdict.Forward;
    }
    if (action === ForwardAction.Local) {
      out.reason =
        p.networkProtocol === ARP_PROTOCOL_NUMBER ? HandoffReason.Arp
        : (view.getUint8(p.linkOffset) & 1) !== 0 ? HandoffReason.LinkMulticast
        : HandoffReason.Local;
      return ForwardVerdict.ToStack;
    }
    const reason = r.reason;
    if (reason === ForwardReason.Unresolved || reason === ForwardReason.NeighborFailed || reason === ForwardReason.NeighborFull) {
      out.reason = HandoffReason.NoNeighbor; // the coordinator's stack resolves it; the request written here is not sent
      return ForwardVerdict.ToStack;
    }
    if (r.outLength > 0) {
      out.extraLink = r.outNic - 1;
      out.extraOffset = 0;
      out.extraLength = r.outLength;
    }
    return ForwardVerdict.Drop;
  }
}
