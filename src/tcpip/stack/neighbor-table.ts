/**
 * The neighbor cache: IPv4 → Ethernet (ARP, RFC 826) or IPv6 → Ethernet (NDP, RFC 4861 §7.3), per NIC,
 * with the states of RFC 4861 simplified the way gVisor's and Linux's NUD machines are used here:
 *
 * ```
 *             resolve() on a miss: PendingSolicit
 *  (none) ───────────────────────────────────────► INCOMPLETE ── solicits every retransmitMs, queues packets
 *                                                      │   │
 *          reply/NA (solicited) ─► REACHABLE ◄──────────┘   └─ maxMulticastSolicit unanswered ─► FAILED
 *          request/NS/unsolicited ─► STALE                      (queued packets go back to the caller)
 *  REACHABLE ── reachableMs without confirmation ─► STALE ── used: after delayFirstProbeMs, unicast probes
 *  STALE ── maxUnicastSolicit probes unanswered ─► INCOMPLETE (multicast again); unused staleMs ─► removed
 *  FAILED ── failedHoldMs ─► resolvable again (removed by tick)          STATIC: set by hand, never changes
 * ```
 * DELAY and PROBE are folded into STALE with a probe deadline. Time is an argument (`now`, ms) on every
 * call, from the stack's injected clock: nothing here starts a timer. Expiry is checked lazily on use
 * and by `tick(now)`, which the owner calls now and then (every retransmitMs is enough).
 *
 * Packets waiting for resolution are opaque non-negative numbers (frame indices): each INCOMPLETE entry
 * holds at most `maxQueuePerNeighbor` of them, all entries together at most `maxQueuedPackets`. On
 * overflow the oldest packet of that neighbor goes back to the caller to free (as Linux's
 * `__neigh_event_send` drops the head of `arp_queue`); with the global pool exhausted the new packet
 * itself does. Every function returns an action code and the caller acts (send a request, drain a queue).
 *
 * Layout: struct-of-arrays over `capacity` entries, found through an open-addressing hash index
 * (linear probing, backward-shift deletion: no tombstones) keyed by (NIC, address). When full, a new
 * entry evicts the least recently used FAILED, then STALE, then REACHABLE entry; INCOMPLETE and STATIC
 * entries are never evicted.
 *
 * Thread: the owner (one table per thread). Setup (`constructor`, `setStatic*`, `remove*`) validates
 * and throws `NetshardError`; `resolve*`, `update*`, `enqueue`, `dequeue`, `tick` never throw or allocate.
 * Length: over 400 lines because it is one state machine over one set of arrays; its transitions read
 * best side by side (the packet queues, a separable idea, live in `packet-queues.ts`).
 */
import { NetshardError } from '../../errors.ts';
import { validateInteger, validateObject, validateOneOf } from '../../validate.ts';
import { LINK_ADDRESS_SIZE } from '../address.ts';
import { copyLinkAddress, linkAddressEquals } from '../header/ethernet.ts';
import { PacketQueues } from './packet-queues.ts';

/** The state of a neighbor entry. */
export const NeighborState = {
  /** A free slot. */
  Free: 0,
  /** Resolution under way; packets queue. */
  Incomplete: 1,
  /** Confirmed within `reachableMs`. */
  Reachable: 2,
  /** Usable but unconfirmed; probed when used. */
  Stale: 3,
  /** Resolution failed; lookups fail until `failedHoldMs` has passed. */
  Failed: 4,
  /** Set by hand; never expires or changes. */
  Static: 5,
} as const;
export type NeighborState = (typeof NeighborState)[keyof typeof NeighborState];

/** What `resolve*()` tells the caller to do; the entry is in `table.entry`. */
export const NeighborLookup = {
  /** The link address is at `linkView`, `linkAddressOffset(entry)`: send. */
  Resolved: 0,
  /** As Resolved, and also send a unicast request to that address (probe of a stale entry). */
  ResolvedProbe: 1,
  /** Resolution under way: `enqueue()` the packet (or drop it). */
  Pending: 2,
  /** As Pending, and send a broadcast/multicast request now. */
  PendingSolicit: 3,
  /** Resolution failed: drop the packet, and drain the entry's queue (`dequeue()`) to free what waited. */
  Failed: 4,
  /** No entry could be made (table full of INCOMPLETE/STATIC entries): drop. */
  Full: 5,
} as const;
export type NeighborLookup = (typeof NeighborLookup)[keyof typeof NeighborLookup];

/** What `update*()` did; the entry (if any) is in `table.entry`. */
export const NeighborUpdate = {
  /** Nothing changed: no entry and no `NEIGHBOR_CREATE`, a static entry, or a conflict without override. */
  Ignored: 0,
  /** A new STALE entry (learned from a request or solicitation). */
  Created: 1,
  /** An entry changed address or state, or was confirmed. */
  Updated: 2,
  /** An INCOMPLETE or FAILED entry got its address: drain its queue (`dequeue()`) and send each packet. */
  Resolved: 3,
  /** The table is full (INCOMPLETE/STATIC only): nothing learned. */
  Full: 4,
} as const;
export type NeighborUpdate = (typeof NeighborUpdate)[keyof typeof NeighborUpdate];

/** `update*()` flag: create an entry when there is none (we were the target of a request/solicitation, RFC 826 / RFC 4861 §7.2.3). */
export const NEIGHBOR_CREATE = 1;
/** `update*()` flag: the message confirms reachability (a unicast ARP reply to us, an NA with S set). */
export const NEIGHBOR_SOLICITED = 2;
/** `update*()` flag: a differing link address replaces the known one (ARP always; an NA with O set). */
export const NEIGHBOR_OVERRIDE = 4;

/** Named indices of `NeighborTable.counters`. */
export const NeighborCounter = {
  /** Requests the table asked for (multicast solicits and unicast probes). */
  Solicits: 0,
  /** Entries that resolved (INCOMPLETE/FAILED → an address). */
  Resolutions: 1,
  /** Entries whose resolution failed. */
  Failures: 2,
  /** Packets queued. */
  Queued: 3,
  /** Packets handed back on overflow (per-neighbor or global cap). */
  QueueDrops: 4,
  /** Entries evicted to make room. */
  Evictions: 5,
  /** Lookups or learns refused because the table was full. */
  Full: 6,
} as const;
/** Length of a `NeighborTable.counters` array. */
export const NEIGHBOR_COUNTER_COUNT = 7;

/** Timers and bounds of a neighbor table; every field optional in `NeighborTable`'s constructor. */
export interface NeighborOptions {
  /** Entries (default 512). */
  capacity?: number;
  /** Confirmed entries stay REACHABLE this long, ms (default 30000: RFC 4861 REACHABLE_TIME). */
  reachableMs?: number;
  /** Between solicitations, ms (default 1000: RFC 4861 RETRANS_TIMER). */
  retransmitMs?: number;
  /** Multicast solicitations before an INCOMPLETE entry fails (default 3: MAX_MULTICAST_SOLICIT). */
  maxMulticastSolicit?: number;
  /** Unicast probes of a STALE entry before it is resolved afresh (default 3: MAX_UNICAST_SOLICIT). */
  maxUnicastSolicit?: number;
  /** A used STALE entry waits this long before its first probe, ms (default 5000: DELAY_FIRST_PROBE_TIME). */
  delayFirstProbeMs?: number;
  /** FAILED entries refuse lookups this long, ms (default 5000: gVisor's NUD unreachable time). */
  failedHoldMs?: number;
  /** STALE entries unused this long are removed by `tick`, ms (default 60000: Linux gc_staletime). */
  staleMs?: number;
  /** Packets queued per INCOMPLETE entry (default 16). */
  maxQueuePerNeighbor?: number;
  /** Packets queued in all (default 256). */
  maxQueuedPackets?: number;
  /** Counters to fill (`NEIGHBOR_COUNTER_COUNT` long), e.g. over a SharedArrayBuffer; default a new array. */
  counters?: Float64Array;
}

const DEFAULTS = {
  capacity: 512,
  reachableMs: 30000,
  retransmitMs: 1000,
  maxMulticastSolicit: 3,
  maxUnicastSolicit: 3,
  delayFirstProbeMs: 5000,
  failedHoldMs: 5000,
  staleMs: 60000,
  maxQueuePerNeighbor: 16,
  maxQueuedPackets: 256,
} as const;

/** Eviction preference by state: lower goes first; -1 never. */
const EVICT_RANK = [-1, -1, 2, 1, 0, -1] as const;

/** The neighbor cache for one address family; see the file comment. */
export class NeighborTable {
  /** 4 (ARP) or 6 (NDP). */
  readonly family: 4 | 6;
  readonly capacity: number;
  /** The entry the last `resolve*`/`update*`/`find*` call touched, or -1. */
  entry = -1;
  /** Counters by `NeighborCounter`. */
  readonly counters: Float64Array;
  /** Entries to solicit, filled by `tick()`: `[0, solicitCount)`. */
  readonly solicitEntries: Int32Array;
  solicitCount = 0;
  /** Entries whose resolution failed in `tick()`, `[0, failedCount)`: drain each one's queue. */
  readonly failedEntries: Int32Array;
  failedCount = 0;
  /** Link addresses, 6 bytes per entry: entry e's is at `linkAddressOffset(e)`. */
  readonly linkView: DataView;
  /** Keys, `addressSize` bytes per entry: entry e's address is at `keyOffset(e)` (IPv4 as a big-endian u32). */
  readonly keyView: DataView;

  private readonly options: Required<Omit<NeighborOptions, 'counters' | 'capacity'>>;
  private readonly words: number;
  private readonly state: Uint8Array;
  private readonly nic: Int32Array;
  private readonly hash: Int32Array;
  private readonly retries: Uint8Array;
  /** Per state: INCOMPLETE next solicit/fail time; REACHABLE stale time; STALE next probe time (0: none pending); FAILED retry time. */
  private readonly deadline: Float64Array;
  private readonly lastUsed: Float64Array;
  /** Packets waiting for resolution, one list per entry. */
  private readonly queues: PacketQueues;
  private readonly freeEntries: Int32Array;
  private freeCount: number;
  private readonly slots: Int32Array;
  private readonly slotMask: number;
  // The key being looked up, as 32-bit words (IPv4 uses k0 only).
  private k0 = 0;
  private k1 = 0;
  private k2 = 0;
  private k3 = 0;

  /** Makes an empty table for `family` 4 or 6. Throws ERR_INVALID_ARG_* for bad options. Control path. */
  constructor(family: 4 | 6, options: NeighborOptions = {}) {
    validateOneOf(family, 'family', [4, 6]);
    validateObject(options, 'options', [...Object.keys(DEFAULTS), 'counters']);
    const o = { ...DEFAULTS, ...options };
    validateInteger(o.capacity, 'options.capacity', 1, 1 << 20);
    for (const key of ['reachableMs', 'retransmitMs', 'delayFirstProbeMs', 'failedHoldMs', 'staleMs'] as const) {
      validateInteger(o[key], `options.${key}`, 1, 2 ** 31);
    }
    validateInteger(o.maxMulticastSolicit, 'options.maxMulticastSolicit', 1, 255);
    validateInteger(o.maxUnicastSolicit, 'options.maxUnicastSolicit', 0, 255);
    validateInteger(o.maxQueuePerNeighbor, 'options.maxQueuePerNeighbor', 0, 1 << 20);
    validateInteger(o.maxQueuedPackets, 'options.maxQueuedPackets', 0, 1 << 24);
    if (options.counters !== undefined && (!(options.counters instanceof Float64Array) || options.counters.length < NEIGHBOR_COUNTER_COUNT)) {
      throw new NetshardError('ERR_INVALID_ARG_TYPE', `options.counters must be a Float64Array of at least ${NEIGHBOR_COUNTER_COUNT} elements`);
    }
    this.family = family;
    this.capacity = o.capacity;
    this.options = {
      reachableMs: o.reachableMs, retransmitMs: o.retransmitMs, maxMulticastSolicit: o.maxMulticastSolicit,
      maxUnicastSolicit: o.maxUnicastSolicit, delayFirstProbeMs: o.delayFirstProbeMs, failedHoldMs: o.failedHoldMs,
      staleMs: o.staleMs, maxQueuePerNeighbor: o.maxQueuePerNeighbor, maxQueuedPackets: o.maxQueuedPackets,
    };
    this.counters = options.counters ?? new Float64Array(NEIGHBOR_COUNTER_COUNT);
    this.words = family === 4 ? 1 : 4;
    const n = o.capacity;
    this.state = new Uint8Array(n);
    this.nic = new Int32Array(n);
    this.hash = new Int32Array(n);
    this.retries = new Uint8Array(n);
    this.deadline = new Float64Array(n);
    this.lastUsed = new Float64Array(n);
    this.linkView = new DataView(new ArrayBuffer(LINK_ADDRESS_SIZE * n));
    this.keyView = new DataView(new ArrayBuffer(4 * this.words * n));
    this.solicitEntries = new Int32Array(n);
    this.failedEntries = new Int32Array(n);
    this.freeEntries = new Int32Array(n);
    for (let i = 0; i < n; i++) this.freeEntries[i] = n - 1 - i; // pop from the end: entry 0 first
    this.freeCount = n;
    let size = 2;
    while (size < 2 * n) size *= 2;
    this.slots = new Int32Array(size).fill(-1);
    this.slotMask = size - 1;
    this.queues = new PacketQueues(n, o.maxQueuedPackets);
  }

  /** Bytes per key: 4 or 16. */
  get addressSize(): number { return 4 * this.words; }
  /** Where entry `e`'s link address starts in `linkView`. */
  linkAddressOffset(e: number): number { return e * LINK_ADDRESS_SIZE; }
  /** Where entry `e`'s IP address starts in `keyView`. */
  keyOffset(e: number): number { return e * 4 * this.words; }
  /** Returns entry `e`'s state. */
  stateOf(e: number): NeighborState { return this.state[e] as NeighborState; }
  /** Returns entry `e`'s NIC id. */
  nicOf(e: number): number { return this.nic[e]!; }
  /** Returns entry `e`'s IPv4 address as an int32 word (IPv4 tables; `>>> 0` for the unsigned form). */
  ipv4AddressOf(e: number): number { return this.keyView.getInt32(this.keyOffset(e)); }
  /** Returns how many packets wait on entry `e`. */
  queuedOf(e: number): number { return this.queues.length(e); }
  /** Returns the number of entries in use. */
  get size(): number { return this.capacity - this.freeCount; }

  // ---- lookups (hot path) ----

  /** Returns the entry for (`nic`, IPv4 `address`) or -1, and sets `entry`. Does not count as a use. */
  findIpv4(nic: number, address: number): number {
    this.k0 = address | 0;
    return (this.entry = this.find(nic));
  }

  /** Returns the entry for (`nic`, the IPv6 address at `view[offset]`) or -1, and sets `entry`. */
  findIpv6(nic: number, view: DataView, offset: number): number {
    this.loadIpv6(view, offset);
    return (this.entry = this.find(nic));
  }

  /**
   * Looks up the link address of next hop `address` on `nic` for a packet to send at `now`, starting
   * resolution on a miss. Returns what to do (`NeighborLookup`); the entry is in `entry`.
   */
  resolveIpv4(nic: number, address: number, now: number): NeighborLookup {
    this.k0 = address | 0;
    return this.resolveKey(nic, now);
  }

  /** As `resolveIpv4` for the IPv6 next hop at `view[offset]`. */
  resolveIpv6(nic: number, view: DataView, offset: number, now: number): NeighborLookup {
    this.loadIpv6(view, offset);
    return this.resolveKey(nic, now);
  }

  /**
   * Learns that IPv4 `address` on `nic` has the link address at `link[linkOffset]`, from a message
   * described by `flags` (`NEIGHBOR_CREATE | NEIGHBOR_SOLICITED | NEIGHBOR_OVERRIDE`). Returns what it
   * did; on `Resolved` drain the entry's queue.
   */
  updateIpv4(nic: number, address: number, link: DataView, linkOffset: number, flags: number, now: number): NeighborUpdate {
    this.k0 = address | 0;
    return this.updateKey(nic, link, linkOffset, flags, now);
  }

  /** As `updateIpv4` for the IPv6 address at `view[offset]`. */
  updateIpv6(nic: number, view: DataView, offset: number, link: DataView, linkOffset: number, flags: number, now: number): NeighborUpdate {
    this.loadIpv6(view, offset);
    return this.updateKey(nic, link, linkOffset, flags, now);
  }

  /**
   * Queues `packet` (a non-negative number) on INCOMPLETE entry `e`. Returns -1 when it is queued with
   * nothing to free, else the packet the caller must free now: the neighbor's oldest when its queue was
   * full (the new one is queued), or `packet` itself when no queue slot is left anywhere.
   */
  enqueue(e: number, packet: number): number {
    const o = this.options;
    if (this.state[e] !== NeighborState.Incomplete || o.maxQueuePerNeighbor === 0) {
      this.counters[NeighborCounter.QueueDrops]!++;
      return packet;
    }
    const dropped = this.queues.length(e) >= o.maxQueuePerNeighbor ? this.queues.shift(e) : -1;
    if (!this.queues.push(e, packet)) {
      this.counters[NeighborCounter.QueueDrops]!++;
      return packet; // dropped is -1 here: a full neighbor queue always frees a node first
    }
    this.counters[NeighborCounter.Queued]!++;
    if (dropped >= 0) this.counters[NeighborCounter.QueueDrops]!++;
    return dropped;
  }

  /** Takes the oldest packet waiting on entry `e`, or returns -1 when none waits. */
  dequeue(e: number): number {
    return this.queues.shift(e);
  }

  /**
   * Runs the timers up to `now`: INCOMPLETE entries due for a solicit go to `solicitEntries`, those out
   * of solicits fail and go to `failedEntries` (drain their queues and free the packets), REACHABLE
   * entries past `reachableMs` turn STALE, FAILED entries past their hold and STALE entries unused for
   * `staleMs` are removed. Returns `solicitCount + failedCount`. O(capacity); no allocation.
   */
  tick(now: number): number {
    const o = this.options;
    this.solicitCount = 0;
    this.failedCount = 0;
    for (let e = 0; e < this.capacity; e++) {
      switch (this.state[e]) {
        case NeighborState.Incomplete:
          if (now < this.deadline[e]!) break;
          if (this.retries[e]! < o.maxMulticastSolicit) {
            this.retries[e]!++;
            this.deadline[e] = now + o.retransmitMs;
            this.solicitEntries[this.solicitCount++] = e;
            this.counters[NeighborCounter.Solicits]!++;
          } else {
            this.fail(e, now);
            this.failedEntries[this.failedCount++] = e;
          }
          break;
        case NeighborState.Reachable:
          if (now >= this.deadline[e]!) { this.state[e] = NeighborState.Stale; this.deadline[e] = 0; this.retries[e] = 0; }
          break;
        case NeighborState.Stale:
          if (now - this.lastUsed[e]! >= o.staleMs) this.release(e);
          break;
        case NeighborState.Failed:
          if (now >= this.deadline[e]! && this.queues.length(e) === 0) this.release(e);
          break;
        default:
          break;
      }
    }
    return this.solicitCount + this.failedCount;
  }

  // ---- setup (control path) ----

  /**
   * Sets a static entry: IPv4 `address` on `nic` is at the 6 bytes of `linkAddress`. Returns
   * `NeighborUpdate.Resolved` if an INCOMPLETE entry had packets waiting (drain them), else Updated or
   * Created. Throws ENOSPC when no entry is free and none can be evicted.
   */
  setStaticIpv4(nic: number, address: number, linkAddress: Uint8Array, now = 0): NeighborUpdate {
    validateInteger(nic, 'nic', 1);
    validateInteger(address, 'address', -0x80000000, 0xffffffff); // int32 or unsigned
    this.k0 = address | 0;
    return this.setStaticKey(nic, linkAddress, now);
  }

  /** As `setStaticIpv4` for the 16-byte IPv6 `address`. */
  setStaticIpv6(nic: number, address: Uint8Array, linkAddress: Uint8Array, now = 0): NeighborUpdate {
    validateInteger(nic, 'nic', 1);
    if (address.length !== 16) throw new NetshardError('ERR_INVALID_ARG_VALUE', 'address must be 16 bytes');
    this.loadIpv6(new DataView(address.buffer, address.byteOffset, 16), 0);
    return this.setStaticKey(nic, linkAddress, now);
  }

  /**
   * Removes entry `e` of any state; returns false if it had packets queued (drain them first). Control
   * path (also used by the owner to flush a NIC's entries).
   */
  remove(e: number): boolean {
    validateInteger(e, 'entry', 0, this.capacity - 1);
    if (this.state[e] === NeighborState.Free) return true;
    if (this.queues.length(e) > 0) return false;
    this.release(e);
    return true;
  }

  // ---- internals ----

  private loadIpv6(view: DataView, offset: number): void {
    this.k0 = view.getInt32(offset);
    this.k1 = view.getInt32(offset + 4);
    this.k2 = view.getInt32(offset + 8);
    this.k3 = view.getInt32(offset + 12);
  }

  private hashKey(nic: number): number {
    let h = Math.imul(nic ^ 0x2545f491, 0x9e3779b1) ^ this.k0;
    h = Math.imul(h ^ (h >>> 15), 0x85ebca6b);
    if (this.words === 4) {
      h = Math.imul(h ^ this.k1 ^ (h >>> 13), 0xc2b2ae35);
      h = Math.imul(h ^ this.k2 ^ (h >>> 16), 0x85ebca6b);
      h = Math.imul(h ^ this.k3 ^ (h >>> 13), 0xc2b2ae35);
    }
    return h ^ (h >>> 16);
  }

  private keyEquals(e: number, nic: number): boolean {
    if (this.nic[e] !== nic) return false;
    const at = this.keyOffset(e), keys = this.keyView;
    if (keys.getInt32(at) !== this.k0) return false;
    if (this.words === 1) return true;
    return keys.getInt32(at + 4) === this.k1 && keys.getInt32(at + 8) === this.k2 && keys.getInt32(at + 12) === this.k3;
  }

  private find(nic: number): number {
    const mask = this.slotMask, slots = this.slots;
    for (let i = this.hashKey(nic) & mask; ; i = (i + 1) & mask) {
      const e = slots[i]!;
      if (e < 0) return -1;
      if (this.keyEquals(e, nic)) return e;
    }
  }

  /** Takes a free entry (evicting if needed), keys it and indexes it; -1 when nothing can be evicted. */
  private allocate(nic: number, now: number): number {
    if (this.freeCount === 0 && !this.evict()) {
      this.counters[NeighborCounter.Full]!++;
      return -1;
    }
    const e = this.freeEntries[--this.freeCount]!;
    const h = this.hashKey(nic);
    this.nic[e] = nic;
    this.hash[e] = h;
    const at = this.keyOffset(e);
    this.keyView.setInt32(at, this.k0);
    if (this.words === 4) {
      this.keyView.setInt32(at + 4, this.k1);
      this.keyView.setInt32(at + 8, this.k2);
      this.keyView.setInt32(at + 12, this.k3);
    }
    this.retries[e] = 0;
    this.deadline[e] = 0;
    this.lastUsed[e] = now;
    const mask = this.slotMask;
    let i = h & mask;
    while (this.slots[i]! >= 0) i = (i + 1) & mask;
    this.slots[i] = e;
    return e;
  }

  /** Frees the least recently used evictable entry; false when there is none. */
  private evict(): boolean {
    let victim = -1, victimRank = 3, victimUsed = Infinity;
    for (let e = 0; e < this.capacity; e++) {
      const rank = EVICT_RANK[this.state[e]!] ?? -1;
      if (rank < 0 || this.queues.length(e) > 0) continue;
      if (rank < victimRank || (rank === victimRank && this.lastUsed[e]! < victimUsed)) {
        victim = e; victimRank = rank; victimUsed = this.lastUsed[e]!;
      }
    }
    if (victim < 0) return false;
    this.release(victim);
    this.counters[NeighborCounter.Evictions]!++;
    return true;
  }

  /** Unindexes entry `e` (backward-shift deletion) and returns it to the free list. Its queue must be empty. */
  private release(e: number): void {
    const mask = this.slotMask, slots = this.slots;
    let i = this.hash[e]! & mask;
    while (slots[i] !== e) i = (i + 1) & mask;
    for (let j = (i + 1) & mask; ; j = (j + 1) & mask) {
      const moved = slots[j]!;
      if (moved < 0) break;
      const home = this.hash[moved]! & mask;
      // Leave `moved` where it is if its home lies cyclically in (i, j]: the hole does not break its probe run.
      const stays = i <= j ? i < home && home <= j : i < home || home <= j;
      if (stays) continue;
      slots[i] = moved;
      i = j;
    }
    slots[i] = -1;
    this.state[e] = NeighborState.Free;
    this.freeEntries[this.freeCount++] = e;
  }

  private startIncomplete(e: number, now: number): void {
    this.state[e] = NeighborState.Incomplete;
    this.retries[e] = 1;
    this.deadline[e] = now + this.options.retransmitMs;
    this.counters[NeighborCounter.Solicits]!++;
  }

  private fail(e: number, now: number): void {
    this.state[e] = NeighborState.Failed;
    this.deadline[e] = now + this.options.failedHoldMs;
    this.counters[NeighborCounter.Failures]!++;
  }

  private resolveKey(nic: number, now: number): NeighborLookup {
    const o = this.options;
    let e = this.find(nic);
    if (e < 0) {
      e = this.allocate(nic, now);
      this.entry = e;
      if (e < 0) return NeighborLookup.Full;
      this.startIncomplete(e, now);
      return NeighborLookup.PendingSolicit;
    }
    this.entry = e;
    this.lastUsed[e] = now;
    switch (this.state[e]) {
      case NeighborState.Static:
        return NeighborLookup.Resolved;
      case NeighborState.Reachable:
        if (now < this.deadline[e]!) return NeighborLookup.Resolved;
        // Unconfirmed for reachableMs and used now: STALE with the first probe after the delay (RFC 4861 DELAY).
        this.state[e] = NeighborState.Stale;
        this.retries[e] = 0;
        this.deadline[e] = now + o.delayFirstProbeMs;
        return NeighborLookup.Resolved;
      case NeighborState.Stale:
        if (this.deadline[e] === 0) {
          this.deadline[e] = now + o.delayFirstProbeMs;
          return NeighborLookup.Resolved;
        }
        if (now < this.deadline[e]!) return NeighborLookup.Resolved;
        if (this.retries[e]! < o.maxUnicastSolicit) {
          this.retries[e]!++;
          this.deadline[e] = now + o.retransmitMs;
          this.counters[NeighborCounter.Solicits]!++;
          return NeighborLookup.ResolvedProbe;
        }
        // Probes unanswered: forget the address and resolve afresh (RFC 4861 §7.3.3 deletes the entry).
        this.startIncomplete(e, now);
        return NeighborLookup.PendingSolicit;
      case NeighborState.Incomplete:
        if (now < this.deadline[e]!) return NeighborLookup.Pending;
        if (this.retries[e]! < o.maxMulticastSolicit) {
          this.retries[e]!++;
          this.deadline[e] = now + o.retransmitMs;
          this.counters[NeighborCounter.Solicits]!++;
          return NeighborLookup.PendingSolicit;
        }
        this.fail(e, now);
        return NeighborLookup.Failed;
      default: // Failed
        if (now < this.deadline[e]!) return NeighborLookup.Failed;
        this.startIncomplete(e, now);
        return NeighborLookup.PendingSolicit;
    }
  }

  private confirm(e: number, now: number): void {
    this.state[e] = NeighborState.Reachable;
    this.deadline[e] = now + this.options.reachableMs;
    this.retries[e] = 0;
  }

  private makeStale(e: number): void {
    this.state[e] = NeighborState.Stale;
    this.deadline[e] = 0;
    this.retries[e] = 0;
  }

  private updateKey(nic: number, link: DataView, linkOffset: number, flags: number, now: number): NeighborUpdate {
    let e = this.find(nic);
    if (e < 0) {
      this.entry = -1;
      if ((flags & NEIGHBOR_CREATE) === 0) return NeighborUpdate.Ignored;
      e = this.allocate(nic, now);
      this.entry = e;
      if (e < 0) return NeighborUpdate.Full;
      copyLinkAddress(link, linkOffset, this.linkView, this.linkAddressOffset(e));
      this.makeStale(e);
      return NeighborUpdate.Created;
    }
    this.entry = e;
    const state = this.state[e];
    if (state === NeighborState.Static) return NeighborUpdate.Ignored;
    const at = this.linkAddressOffset(e);
    if (state === NeighborState.Incomplete || state === NeighborState.Failed) {
      copyLinkAddress(link, linkOffset, this.linkView, at);
      if ((flags & NEIGHBOR_SOLICITED) !== 0) this.confirm(e, now); else this.makeStale(e);
      this.counters[NeighborCounter.Resolutions]!++;
      return NeighborUpdate.Resolved;
    }
    const same = linkAddressEquals(this.linkView, at, link, linkOffset);
    if (!same && (flags & NEIGHBOR_OVERRIDE) === 0) {
      // RFC 4861 §7.2.5: a differing address without O does not replace; a REACHABLE entry turns STALE.
      if (state === NeighborState.Reachable) { this.makeStale(e); return NeighborUpdate.Updated; }
      return NeighborUpdate.Ignored;
    }
    if (!same) copyLinkAddress(link, linkOffset, this.linkView, at);
    if ((flags & NEIGHBOR_SOLICITED) !== 0) this.confirm(e, now);
    else if (!same) this.makeStale(e);
    else return NeighborUpdate.Ignored;
    return NeighborUpdate.Updated;
  }

  private setStaticKey(nic: number, linkAddress: Uint8Array, now: number): NeighborUpdate {
    if (linkAddress.length !== LINK_ADDRESS_SIZE) throw new NetshardError('ERR_INVALID_ARG_VALUE', 'linkAddress must be 6 bytes');
    let e = this.find(nic);
    let result: NeighborUpdate = NeighborUpdate.Updated;
    if (e < 0) {
      e = this.allocate(nic, now);
      if (e < 0) throw new NetshardError('ENOSPC', `the neighbor table is full (${this.capacity} entries, none evictable)`);
      result = NeighborUpdate.Created;
    } else if (this.queues.length(e) > 0) {
      result = NeighborUpdate.Resolved;
    }
    this.entry = e;
    for (let i = 0; i < LINK_ADDRESS_SIZE; i++) this.linkView.setUint8(this.linkAddressOffset(e) + i, linkAddress[i]!);
    this.state[e] = NeighborState.Static;
    this.deadline[e] = 0;
    this.retries[e] = 0;
    return result;
  }
}
