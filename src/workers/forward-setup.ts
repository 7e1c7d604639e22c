/**
 * What `netshard forward` needs around the engine, apart from its options and printing:
 *
 * - the kernel's view of the two interfaces (`readKernelLink`: MAC, MTU, global addresses, resolved
 *   neighbours, read once with `ip -j link/addr/neigh` inside the namespace) and the `ForwardingConfig`
 *   built from it (`forwardingConfigFromKernel`: connected routes from the addresses, the kernel's
 *   neighbours, plus the caller's routes and static neighbours, already placed on a link);
 * - `ForwardResolver`: the L3 mode's coordinator, a real `Stack` that resolves the next hops the workers
 *   do not know (ARP/NDP, queued meanwhile) and hands what its neighbor tables learn to the workers;
 * - `Bridge`: the L2 mode, a `StackHandler` on the coordinator that copies every frame to the other link.
 *
 * Kernel configuration is read with `ip -j` (iproute2's JSON), not netlink: no netlink code or package
 * exists here, iproute2 is already required (README), and this is read once at start.
 *
 * Thread: main. Control path, except `deliverNetworkPacket` of `Bridge` and `ForwardResolver` (per
 * packet, no allocation of their own).
 * Length (~580 lines, past STYLE's ~400): the resolver reads the kernel's view this file builds and
 * shares its address helpers; split it into its own file when this folder's file list may grow.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { NetshardError } from '../errors.ts';
import { withNetns } from '../fdbased/index.ts';
import { DESC_FLAG_CHECKSUM_PARTIAL } from '../ring/index.ts';
import {
  ForwardReason, FragmentKind, ICMPV6_NEIGHBOR_ADVERT, ICMPV6_NEIGHBOR_SOLICIT, ICMPV6_PROTOCOL_NUMBER, LINK_ADDRESS_SIZE, NEIGHBOR_CREATE, NeighborCounter,
  NeighborLookup, NeighborState, ParseReason, ParsedPacket, Stack, StackAction, formatIpv4, formatIpv6, formatLinkAddress, parseIpv4, parseIpv6,
  parseLinkAddress, parsePacket, writeArpRequest, writeNeighborSolicit, type LinkOutput, type NeighborOptions, type NeighborTable,
  completeTransportChecksum,
} from '../tcpip/index.ts';
import { validateInteger, validateObject } from '../validate.ts';
import { HandoffReason, type ForwardNeighbor, type ForwardRoute, type ForwardingConfig, type NeighborChange } from './forwarding.ts';
import type { InboundPacket, PacketSender, StackHandler } from './inbound.ts';
import { OutboundBatch } from './outbound.ts';
import { DEFAULT_TICK_MS, StackAdapter } from './stack-adapter.ts';

// ─── the kernel's view ──────────────────────────────────────────────────────────────────────────────────

/** One interface as its namespace's kernel sees it (`readKernelLink`). */
export interface KernelLink {
  name: string;
  /** MAC, '' for a device without one (TUN). */
  mac: string;
  mtu: number;
  /** Global-scope addresses in CIDR form (`198.18.1.2/24`): they make the connected routes. */
  addresses: string[];
  /**
   * Resolved neighbour entries (address, MAC in lower case; `permanent` for a PERMANENT entry, one set by
   * hand); FAILED and INCOMPLETE ones left out.
   */
  neighbors: { address: string; mac: string; permanent?: boolean }[];
}

const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

/**
 * Reads interface `name`'s MAC, MTU, global addresses and resolved neighbours with `ip -j`, run inside
 * `netns` (a name from `ip netns` or a path; default ours). Throws ERR_NETSHARD_KERNEL with `ip`'s first
 * error line (no such device, no `ip`), or what entering the namespace throws. Thread: main.
 */
export function readKernelLink(name: string, netns?: string): KernelLink {
  const link = ipJson<{ address?: string; mtu?: number; link_type?: string }>(netns, ['link', 'show', 'dev', name])[0];
  const info = ipJson<{ addr_info?: { family: string; local: string; prefixlen: number; scope: string }[] }>(netns, ['addr', 'show', 'dev', name])[0];
  const addresses: string[] = [];
  for (const a of info?.addr_info ?? []) {
    if (a.scope !== 'global') continue; // link-local addresses are never forwarded (RFC 3927, RFC 4291)
    const cidr = `${a.local}/${a.prefixlen}`;
    if (prefixOf(cidr) !== null) addresses.push(cidr);
  }
  const neighbors = ipJson<{ dst: string; lladdr?: string; state?: string[] }>(netns, ['neigh', 'show', 'dev', name])
    .filter((n) => n.lladdr !== undefined && MAC.test(n.lladdr) && !(n.state ?? []).some((s) => s === 'FAILED' || s === 'INCOMPLETE'))
    .map((n) => ({ address: n.dst, mac: n.lladdr!.toLowerCase(), permanent: (n.state ?? []).includes('PERMANENT') }));
  const mac = link?.link_type === 'ether' && link.address !== undefined ? link.address : '';
  return { name, mac, mtu: link?.mtu ?? 1500, addresses, neighbors };
}

function ipJson<T>(netns: string | undefined, args: string[]): T[] {
  try {
    // `ip` is spawned from this thread while withNetns holds it inside the namespace: it runs there.
    const text = withNetns(netns, () => execFileSync('ip', ['-j', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 5000 }));
    return text.trim() === '' ? [] : (JSON.parse(text) as T[]);
  } catch (err) {
    if (err instanceof NetshardError) throw err;
    const stderr = String((err as { stderr?: unknown }).stderr ?? '').trim().split('\n')[0];
    throw new NetshardError('ERR_NETSHARD_KERNEL', `ip ${args.join(' ')}: ${stderr || (err as Error).message}`);
  }
}

/**
 * Returns the sysctl keys ('net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding') that are 1 in `netns`:
 * that kernel forwards too, so packets may be forwarded twice. Thread: main.
 */
export function kernelForwardingKeys(netns?: string): string[] {
  const on: string[] = [];
  for (const key of ['net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding']) {
    try {
      // /proc/sys/net is resolved in the opening thread's namespace.
      if (withNetns(netns, () => readFileSync(`/proc/sys/${key.replaceAll('.', '/')}`, 'utf8')).trim() === '1') on.push(key);
    } catch {
      // no IPv6 in this kernel
    }
  }
  return on;
}

/**
 * Returns the index of the first link in `kernel` with an address whose subnet holds `address`, -1 when
 * none does (or `address` is not an IP address). Thread: any.
 */
export function linkOnSubnet(kernel: readonly KernelLink[], address: string): number {
  const a = addressBytes(address);
  if (a === null) return -1;
  return kernel.findIndex((k) =>
    k.addresses.some((cidr) => {
      const p = prefixOf(cidr);
      return p !== null && p.bytes.length === a.length && samePrefix(p.bytes, a, p.length);
    }),
  );
}

/**
 * Builds the workers' L3 rules for links `kernel` (index = engine link): the links' addresses (each also
 * the connected route to its subnet), `routes`, and the kernel's neighbours with `neighbors` on top (a
 * static one replaces the kernel's entry for the same link and address). Thread: any.
 */
export function forwardingConfigFromKernel(
  kernel: readonly KernelLink[],
  routes: readonly ForwardRoute[] = [],
  neighbors: readonly ForwardNeighbor[] = [],
): ForwardingConfig {
  const addresses = kernel.flatMap((k, link) => k.addresses.map((address) => ({ link, address })));
  const byKey = new Map<string, ForwardNeighbor>();
  kernel.forEach((k, link) => {
    for (const n of k.neighbors) byKey.set(`${link} ${n.address}`, { link, address: n.address, linkAddress: n.mac });
  });
  for (const n of neighbors) byKey.set(`${n.link} ${n.address}`, { ...n });
  return { addresses, routes: routes.map((r) => ({ ...r })), neighbors: [...byKey.values()] };
}

/** An address's bytes (4 or 16), or null. */
function addressBytes(text: string): Uint8Array | null {
  const v4 = parseIpv4(text);
  if (v4 >= 0) return new Uint8Array([v4 >>> 24, (v4 >>> 16) & 0xff, (v4 >>> 8) & 0xff, v4 & 0xff]);
  const bytes = new Uint8Array(16);
  return parseIpv6(text, bytes) ? bytes : null;
}

function prefixOf(cidr: string): { bytes: Uint8Array; length: number } | null {
  const slash = cidr.indexOf('/');
  if (slash < 0) return null;
  const bytes = addressBytes(cidr.slice(0, slash));
  const lengthText = cidr.slice(slash + 1);
  if (bytes === null || !/^\d{1,3}$/.test(lengthText)) return null;
  const length = Number(lengthText);
  return length <= bytes.length * 8 ? { bytes, length } : null;
}

/** Whether the first `bits` bits of `a` and `b` agree. */
function samePrefix(a: Uint8Array, b: Uint8Array, bits: number): boolean {
  for (let i = 0; i < bits; i++) if (((a[i >> 3]! ^ b[i >> 3]!) & (0x80 >> (i & 7))) !== 0) return false;
  return true;
}

// ─── L3: next hops resolved by the coordinator's stack ──────────────────────────────────────────────────

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

// ─── L2 bridge ──────────────────────────────────────────────────────────────────────────────────────────

/**
 * `netshard forward --bridge`: every frame the workers hand up is copied, unchanged, into a tx frame and
 * queued on the other link (`link ^ 1`, two links) with its flow hash (so a flow keeps one fd and its
 * order). It runs on the coordinator, a thread hop and a copy per frame, because the workers' forwarder
 * is picked by `createForwarder` from a `ForwardingConfig`, which has no L2 rule yet. The
 * run-to-completion version is a `Forwarder` returning Forward on `link ^ 1`, chosen by a `bridge: true`
 * config. Pass it as the engine's `stack` (with `linkAddress: ''`: a bridge takes frames for any MAC).
 * Thread: main (the coordinator). Per packet: no allocation.
 */
export class Bridge implements StackHandler {
  /** Frames queued on the other link. */
  bridged = 0;
  /** Frames dropped: no free tx frame, or longer than one. */
  drops = 0;
  private engine: PacketSender | null = null;
  private readonly batches = [new OutboundBatch(256), new OutboundBatch(256)];

  /** Keeps the engine it sends through (called by the engine at start). */
  start(engine: PacketSender): void {
    this.engine = engine;
  }

  /** Copies `p` into a tx frame and batches it for the other link; counts a drop when it cannot. */
  deliverNetworkPacket(p: InboundPacket): void {
    const engine = this.engine;
    const out = p.link ^ 1;
    const batch = this.batches[out];
    if (engine === null || batch === undefined) return;
    const pool = engine.txPool;
    if (p.length > pool.frameSize) {
      this.drops++;
      return;
    }
    if (batch.count === batch.capacity) this.send(out);
    const frame = engine.allocTxFrame();
    if (frame < 0) {
      this.drops++;
      return;
    }
    const from = p.view, to = pool.view, src = p.offset, dst = pool.offsetOf(frame), n = p.length;
    let i = 0;
    for (; i + 4 <= n; i += 4) to.setUint32(dst + i, from.getUint32(src + i));
    for (; i < n; i++) to.setUint8(dst + i, from.getUint8(src + i));
    batch.add(frame, 0, n, p.hash);
  }

  /** Sends what is batched on both links (called by the engine after each batch it delivered). */
  flush(): void {
    this.send(0);
    this.send(1);
  }

  private send(link: number): void {
    const batch = this.batches[link]!;
    if (batch.count === 0 || this.engine === null) return;
    this.bridged += this.engine.writePackets(link, batch);
    batch.clear();
  }
}
