/**
 * `ForwardResolver`: the coordinator of L3 `netshard forward` over Ethernet links. A real `Stack` resolves
 * the next hops the workers do not know (ARP/NDP, packets queued meanwhile) and hands what its neighbor
 * tables learn to the workers (`Engine.updateNeighbors`); the class comment has the rules.
 *
 * Thread: main. Control path, except `deliverNetworkPacket` (per packet, no allocation of its own).
 */
import { NetshardError } from '../errors.ts';
import { DESC_FLAG_CHECKSUM_PARTIAL } from '../ring/index.ts';
import {
  ForwardReason, FragmentKind, ICMPV6_NEIGHBOR_ADVERT, ICMPV6_NEIGHBOR_SOLICIT, ICMPV6_PROTOCOL_NUMBER, LINK_ADDRESS_SIZE, NEIGHBOR_CREATE, NeighborCounter,
  NeighborLookup, NeighborState, ParseReason, ParsedPacket, Stack, StackAction, completeTransportChecksum, formatIpv4, formatIpv6, formatLinkAddress,
  parseIpv4, parseIpv6, parseLinkAddress, parsePacket, writeArpRequest, writeNeighborSolicit, type LinkOutput, type NeighborOptions, type NeighborTable,
} from '../tcpip/index.ts';
import { validateInteger, validateObject } from '../validate.ts';
import { forwardingConfigFromKernel, type KernelLink } from './forward-setup.ts';
import { HandoffReason, type ForwardNeighbor, type ForwardRoute, type NeighborChange } from './forwarding.ts';
import type { InboundPacket, PacketSender, StackHandler } from './inbound.ts';
import { OutboundBatch } from './outbound.ts';
import { DEFAULT_TICK_MS, StackAdapter } from './stack-adapter.ts';

/** Options of `ForwardResolver`. */
export interface ForwardResolverOptions {
  /** The coordinator's ARP cache (timers, queue bounds: `NeighborOptions`); defaults as `NeighborTable`'s. */
  arp?: NeighborOptions;
  /** The coordinator's NDP cache. */
  ndp?: NeighborOptions;
  /** Period of the neighbor timers, the NUD touches and the sync to the workers, ms, 1..60000. Default 200. */
  tickMs?: number;
}

/** What `ForwardResolver.stats()` counts (plain numbers). */
export interface ForwardResolverStats {
  /** Packets the workers handed up because they did not know the next hop (NoNeighbor). */
  handoffs: number;
  /** Of those, sent at once: the coordinator's table knew the next hop (the workers were not told yet). */
  forwarded: number;
  /** Held in a neighbor queue while the next hop resolves. */
  queued: number;
  /** Queued packets sent once their next hop resolved. */
  sentAfterResolution: number;
  /** Queued packets freed unsent: resolution failed, or the neighbor's queue overflowed. */
  unresolved: number;
  /** Handed-up packets dropped otherwise (no tx frame, or the stack's forwarding checks: `forwardReasons`). */
  dropped: number;
  /** Next hops the coordinator's tables resolved, failed to resolve, and requests they asked for (ARP + NDP). */
  resolutions: number;
  failures: number;
  solicits: number;
  /** Neighbor entries in the workers' tables now, and the batches / entry changes sent to keep them so. */
  published: number;
  updates: number;
  changes: number;
  updateErrors: number;
  /** Packets for the interfaces' own addresses other than ARP/NDP: the namespace's kernel answers those. */
  leftToKernel: number;
  /** The coordinator stack's forwarding outcomes by `ForwardReason` name (non-zero only). */
  forwardReasons: Record<string, number>;
}

/** The part of the engine that takes neighbor changes (`Engine.updateNeighbors`). */
interface NeighborPublisher {
  updateNeighbors(changes: readonly NeighborChange[]): Promise<void>;
}

function isPublisher(x: unknown): x is NeighborPublisher {
  return typeof (x as { updateNeighbors?: unknown }).updateNeighbors === 'function';
}

const FORWARD_REASON_NAMES = Object.keys(ForwardReason);

/**
 * `netshard forward` (L3, Ethernet links): the coordinator's `StackHandler`. It runs a real `Stack`
 * (forwarding on, one NIC per link with the link's MAC and MTU, the links' addresses as its own, so it
 * answers ARP/NDP for them and can solicit from them; connected routes plus the caller's; the kernel's
 * PERMANENT neighbours and the caller's as static entries, the kernel's other resolved ones as STALE
 * learned entries, verified before long use) through a `StackAdapter`, and:
 *
 * - a packet a worker hands up for want of a next hop (NoNeighbor) is copied into a tx frame and forwarded
 *   by the stack: sent at once when the coordinator knows the next hop, else queued in the stack's bounded
 *   neighbor queue while it resolves by ARP/NDP (its timers, retries and failure), sent when resolved,
 *   freed and counted when not;
 * - ARP and NS/NA go to the stack (it answers for our addresses and learns); other packets for our
 *   addresses are left to the namespace's kernel, which holds the same addresses (no double echo replies,
 *   no port unreachable for the kernel's own sockets);
 * - after any ARP/NDP packet (soon, one `setImmediate`) and every `tickMs`, the ARP/NDP tables are compared
 *   with what the workers hold and the difference goes to every worker in one batch
 *   (`Engine.updateNeighbors`: a `neighbors` control message and its eventfd, never per packet); one
 *   batch at a time, later changes wait for the next.
 *
 * The rule for the workers' entries: a worker holds an entry exactly while the coordinator's entry is
 * REACHABLE, STALE or STATIC (as a static entry: it never expires in the worker). Since the workers'
 * traffic to such a next hop never passes the coordinator, the coordinator counts every published entry
 * as in use at each tick, so its NUD machine keeps verifying it (REACHABLE for `reachableMs`, then STALE,
 * a unicast probe after `delayFirstProbeMs`): when the probes go unanswered the entry turns INCOMPLETE
 * (re-resolution) and is removed from the workers, whose packets come back (NoNeighbor) and wait in the
 * coordinator's queue; a FAILED, evicted or changed entry is removed or replaced likewise.
 *
 * Thread: main (the coordinator). Control path, except `deliverNetworkPacket`: no allocation of its own
 * per packet (a frame copy into the tx pool; the adapter's replies allocate as it documents).
 */
export class ForwardResolver implements StackHandler, LinkOutput {
  readonly stack: Stack;
  readonly adapter: StackAdapter;
  private sender: PacketSender | null = null;
  private publisher: NeighborPublisher | null = null;
  private readonly parsed = new ParsedPacket();
  private readonly out = new DataView(new ArrayBuffer(2048));
  private readonly tickMs: number;
  private readonly initial: ForwardNeighbor[];
  /** What the workers hold: key `link address` → MAC. */
  private published = new Map<string, { link: number; address: string; mac: string }>();
  private timer: ReturnType<typeof setInterval> | null = null;
  private syncing = false;
  private again = false;
  private scheduled = false;
  private readonly syncTask = (): void => {
    this.scheduled = false;
    this.sync();
  };
  private readonly counts = {
    handoffs: 0, forwarded: 0, queued: 0, sentAfterResolution: 0, unresolved: 0, dropped: 0, updates: 0, changes: 0, updateErrors: 0, leftToKernel: 0,
  };

  /**
   * Builds the stack for links `kernel` (index = engine link; each needs a MAC), `routes` beyond the
   * connected ones, and static `neighbors` (the caller's). Control path: throws ERR_INVALID_ARG_* and what
   * the stack's setup throws (EEXIST, ENODEV, ENOSPC).
   */
  constructor(kernel: readonly KernelLink[], routes: readonly ForwardRoute[] = [], neighbors: readonly ForwardNeighbor[] = [], options: ForwardResolverOptions = {}) {
    const given: unknown = options; // validate without narrowing `options` itself
    validateObject(given, 'options', ['arp', 'ndp', 'tickMs']);
    this.tickMs = options.tickMs ?? DEFAULT_TICK_MS;
    validateInteger(this.tickMs, 'options.tickMs', 1, 60_000);
    const stack = new Stack({ forwarding: true, ...(options.arp === undefined ? {} : { arp: options.arp }), ...(options.ndp === undefined ? {} : { ndp: options.ndp }) });
    kernel.forEach((k, link) => {
      if (k.mac === '') throw new NetshardError('ERR_INVALID_ARG_VALUE', `link ${link} (${k.name}) has no MAC: the resolver needs Ethernet links`);
      stack.addNic({ name: k.name, linkAddress: k.mac, mtu: k.mtu });
    });
    kernel.forEach((k, link) => k.addresses.forEach((a) => stack.addAddress(link + 1, a)));
    for (const r of routes) {
      try {
        stack.addRoute({ destination: r.destination, nic: r.link + 1, ...(r.gateway !== undefined ? { gateway: r.gateway } : {}) });
      } catch (err) {
        if (!(err instanceof NetshardError && err.code === 'EEXIST')) throw err; // also a connected route
      }
    }
    const now = stack.clock();
    const mac = new Uint8Array(LINK_ADDRESS_SIZE), macView = new DataView(mac.buffer), v6 = new Uint8Array(16);
    kernel.forEach((k, link) => {
      for (const n of k.neighbors) {
        if (n.permanent === true) {
          stack.addStaticNeighbor(link + 1, n.address, n.mac);
          continue;
        }
        if (!parseLinkAddress(n.mac, mac)) continue;
        const v4 = parseIpv4(n.address);
        if (v4 >= 0) stack.arp.updateIpv4(link + 1, v4, macView, 0, NEIGHBOR_CREATE, now);
        else if (parseIpv6(n.address, v6)) stack.ndp.updateIpv6(link + 1, new DataView(v6.buffer), 0, macView, 0, NEIGHBOR_CREATE, now);
      }
    });
    for (const n of neighbors) stack.addStaticNeighbor(n.link + 1, n.address, n.linkAddress);
    this.stack = stack;
    this.adapter = new StackAdapter(stack, this.tickMs);
    this.initial = forwardingConfigFromKernel(kernel, routes, neighbors).neighbors ?? [];
    for (const n of this.initial) {
      const address = canonicalAddress(n.address);
      this.published.set(`${n.link} ${address}`, { link: n.link, address, mac: n.linkAddress.toLowerCase() });
    }
  }

  /** Starts the stack's adapter and the sync timer; keeps the engine (called by the engine at start). */
  start(engine: PacketSender): void {
    this.sender = engine;
    this.publisher = isPublisher(engine) ? engine : null;
    this.adapter.start(engine);
    this.stack.setLinkOutput(this); // counts what the adapter sends for the stack
    this.timer = setInterval(() => {
      this.touch();
      this.sync();
    }, this.tickMs);
    this.timer.unref();
  }

  /** Stops the timers; frames still waiting for a neighbor go back to the tx pool. */
  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.adapter.stop();
    this.sender = null;
    this.publisher = null;
  }

  deliverNetworkPacket(p: InboundPacket): void {
    if (p.reason === HandoffReason.NoNeighbor) {
      this.forward(p);
      return;
    }
    const ndp = p.transportProtocol === ICMPV6_PROTOCOL_NUMBER && p.transportOffset >= 0 && p.transportOffset < p.offset + p.length &&
      (p.view.getUint8(p.transportOffset) === ICMPV6_NEIGHBOR_SOLICIT || p.view.getUint8(p.transportOffset) === ICMPV6_NEIGHBOR_ADVERT);
    if (p.reason !== HandoffReason.Arp && !ndp) {
      this.counts.leftToKernel++;
      return;
    }
    this.adapter.deliverNetworkPacket(p);
    this.scheduleSync(); // it may have learned a neighbor
  }

  flush(): void {
    this.adapter.flush();
  }

  /** Returns the counters (see `ForwardResolverStats`). */
  stats(): ForwardResolverStats {
    const arp = this.stack.arp.counters, ndp = this.stack.ndp.counters;
    const forwardReasons: Record<string, number> = {};
    this.stack.forwardCounters.forEach((n, i) => {
      if (n !== 0) forwardReasons[FORWARD_REASON_NAMES[i] ?? String(i)] = n;
    });
    return {
      ...this.counts,
      resolutions: arp[NeighborCounter.Resolutions]! + ndp[NeighborCounter.Resolutions]!,
      failures: arp[NeighborCounter.Failures]! + ndp[NeighborCounter.Failures]!,
      solicits: arp[NeighborCounter.Solicits]! + ndp[NeighborCounter.Solicits]!,
      published: this.published.size,
      forwardReasons,
    };
  }

  // LinkOutput: what the stack sends by itself, counted, then through the adapter.

  sendFrame(nicId: number, view: DataView, offset: number, length: number): void {
    this.adapter.sendFrame(nicId, view, offset, length);
  }

  sendQueued(nicId: number, packet: number, link: DataView, linkOffset: number): void {
    this.counts.sentAfterResolution++;
    this.adapter.sendQueued(nicId, packet, link, linkOffset);
  }

  releaseQueued(packet: number): void {
    this.counts.unresolved++;
    this.adapter.releaseQueued(packet);
  }

  /** A NoNeighbor packet: copied into a tx frame (its rx frame goes home on return), forwarded by the stack. */
  private forward(p: InboundPacket): void {
    this.counts.handoffs++;
    const engine = this.sender;
    if (engine === null) return;
    const pool = engine.txPool;
    const frame = p.length > pool.frameSize ? -1 : engine.allocTxFrame();
    if (frame < 0) {
      this.counts.dropped++;
      return;
    }
    const from = p.view, to = pool.view, src = p.offset, base = pool.offsetOf(frame), n = p.length;
    let i = 0;
    for (; i + 4 <= n; i += 4) to.setUint32(base + i, from.getUint32(src + i));
    for (; i < n; i++) to.setUint8(base + i, from.getUint8(src + i));
    const stack = this.stack, parsed = this.parsed;
    let action: StackAction = StackAction.Drop;
    if (parsePacket(to, base, base + n, true, parsed) === ParseReason.Ok) {
      // Sent on another link: a checksum the sender left to offload is completed in the copy.
      if ((p.flags & DESC_FLAG_CHECKSUM_PARTIAL) !== 0 && parsed.fragment === FragmentKind.None) {
        completeTransportChecksum(to, parsed.transportProtocol, parsed.transportOffset, parsed.end);
      }
      action = stack.handleInbound(p.link + 1, to, base, base + n, parsed, this.out, 0, frame);
    }
    const r = stack.result;
    if (r.outLength > 0) this.adapter.sendFrame(r.outNic, this.out, 0, r.outLength); // a request, or an ICMP error
    if (action === StackAction.Forward && r.frameOffset === base) {
      this.counts.forwarded++;
      this.adapter.sendTxFrame(r.egressNic - 1, frame, r.frameLength, p.hash);
      this.scheduleSync(); // the workers may not know this next hop yet
    } else if (action === StackAction.Queued) {
      this.counts.queued++;
      this.adapter.holdTxFrame(frame, r.frameLength, p.hash);
    } else {
      this.counts.dropped++;
      engine.freeTxFrame(frame);
    }
  }

  /**
   * Counts every entry the workers use (REACHABLE, STALE) as used now, so the NUD machine verifies it
   * (see the class comment), and sends the probe or request it asks for.
   */
  private touch(): void {
    if (this.sender === null) return;
    const now = this.stack.clock();
    for (const table of [this.stack.arp, this.stack.ndp]) {
      for (let e = 0; e < table.capacity; e++) {
        const state = table.stateOf(e);
        if (state !== NeighborState.Reachable && state !== NeighborState.Stale) continue;
        const nic = this.stack.nics.get(table.nicOf(e));
        if (nic === undefined) continue;
        const lookup = table.family === 4 ? table.resolveIpv4(nic.id, table.ipv4AddressOf(e), now) : table.resolveIpv6(nic.id, table.keyView, table.keyOffset(e), now);
        if (lookup !== NeighborLookup.ResolvedProbe && lookup !== NeighborLookup.PendingSolicit) continue;
        const unicast = lookup === NeighborLookup.ResolvedProbe;
        const length = table.family === 4
          ? writeArpRequest(nic, table.ipv4AddressOf(e), this.out, 0, unicast ? table.linkView : undefined, table.linkAddressOffset(e))
          : writeNeighborSolicit(nic, table.keyView, table.keyOffset(e), this.out, 0, unicast ? table.linkView : undefined, table.linkAddressOffset(e));
        if (length > 0) this.adapter.sendFrame(nic.id, this.out, 0, length);
      }
    }
    this.adapter.flush();
  }

  /** Runs `sync` after the current pump pass (at most one pending). */
  private scheduleSync(): void {
    if (this.scheduled || this.publisher === null) return;
    this.scheduled = true;
    setImmediate(this.syncTask);
  }

  /** Sends the workers what changed in the tables since the last batch they took; one batch at a time. */
  private sync(): void {
    const publisher = this.publisher;
    if (publisher === null) return;
    if (this.syncing) {
      this.again = true;
      return;
    }
    const now = snapshot(this.stack.arp, snapshot(this.stack.ndp, new Map()));
    const changes: NeighborChange[] = [];
    for (const [key, n] of now) {
      if (this.published.get(key)?.mac !== n.mac) changes.push({ link: n.link, address: n.address, linkAddress: n.mac });
    }
    for (const [key, n] of this.published) if (!now.has(key)) changes.push({ link: n.link, address: n.address, linkAddress: null });
    if (changes.length === 0) return;
    this.syncing = true;
    publisher.updateNeighbors(changes).then(
      () => {
        this.published = now;
        this.counts.updates++;
        this.counts.changes += changes.length;
      },
      () => {
        this.counts.updateErrors++; // `published` unchanged: the next sync sends the difference again
      },
    ).finally(() => {
      this.syncing = false;
      if (this.again) {
        this.again = false;
        this.sync();
      }
    });
  }
}

/** Adds `table`'s entries the workers may use (REACHABLE, STALE, STATIC) to `into`, keyed `link address`. */
function snapshot(table: NeighborTable, into: Map<string, { link: number; address: string; mac: string }>): Map<string, { link: number; address: string; mac: string }> {
  const macs = new Uint8Array(table.linkView.buffer, table.linkView.byteOffset, table.linkView.byteLength);
  const keys = new Uint8Array(table.keyView.buffer, table.keyView.byteOffset, table.keyView.byteLength);
  for (let e = 0; e < table.capacity; e++) {
    const state = table.stateOf(e);
    if (state !== NeighborState.Reachable && state !== NeighborState.Stale && state !== NeighborState.Static) continue;
    const link = table.nicOf(e) - 1;
    const address = table.family === 4 ? formatIpv4(table.ipv4AddressOf(e) >>> 0) : formatIpv6(keys, table.keyOffset(e));
    into.set(`${link} ${address}`, { link, address, mac: formatLinkAddress(macs, table.linkAddressOffset(e)) });
  }
  return into;
}

/** An address in the form `formatIpv4`/`formatIpv6` print (so keys from the kernel and the tables agree). */
function canonicalAddress(text: string): string {
  const v4 = parseIpv4(text);
  if (v4 >= 0) return formatIpv4(v4);
  const bytes = new Uint8Array(16);
  return parseIpv6(text, bytes) ? formatIpv6(bytes) : text;
}
