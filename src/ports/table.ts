/**
 * The port table's operations over the words `layout.ts` draws: descriptor lookup (open addressing),
 * gVisor's availability rules over a descriptor's rows, and adding/dropping references.
 *
 * Functions ending in `Locked` need the table mutex and the seqlock write bracket (`beginWrite` ..
 * `endWrite`) around any change. `checkReservation` only reads: it may run without the mutex, where a
 * concurrent writer can make it see a torn table; it then returns `Check.Torn` or garbage that the caller's
 * seqlock generation check discards. Every word a lock-free reader may see is written with `Atomics`.
 * Thread: any. No allocation except `snapshotLocked`.
 */
import { NetshardError } from '../errors.ts';
import { addRef, dropRef, FLAG_COUNTER_SIZE, FLAG_MASK, Flags, sharedFlags, totalRefs } from './flags.ts';
import {
  H_CAPACITY, H_DESCRIPTORS, H_FREE_HEAD, H_ROWS, H_SLOT_COUNT, R_ADDR, R_ADDR_KIND, R_DEST, R_DEST_KIND,
  R_DEST_PORT, R_DEVICE, R_NEXT, R_REFS, ROW_WORDS, rowsBase, S_HEAD, S_KEY, SLOT_WORDS, slotsBase,
} from './layout.ts';
import { AddressKind, formatAddressKey, isTcp, NetworkBit, type ReservationKey } from './reservation.ts';

/** Outcome of an availability check. */
export const Check = { InUse: 0, Available: 1, Torn: 2 } as const;
/** One of the check outcomes. */
export type Check = (typeof Check)[keyof typeof Check];

/** The geometry of one table, read once from its header. */
export class Table {
  /** The whole buffer as words. */
  readonly words: Int32Array;
  /** Rows the table holds. */
  readonly capacity: number;
  /** Descriptor slots, a power of two. */
  readonly slotCount: number;
  /** slotCount − 1. */
  readonly slotMask: number;
  /** 32 − log2(slotCount): Fibonacci hashing keeps the top bits. */
  readonly shift: number;
  /** Word offset of the slot table. */
  readonly slots: number;
  /** Word offset of the row table. */
  readonly rows: number;
  constructor(words: Int32Array) {
    this.words = words;
    this.capacity = words[H_CAPACITY] ?? 0;
    this.slotCount = words[H_SLOT_COUNT] ?? 0;
    this.slotMask = this.slotCount - 1;
    this.shift = 32 - Math.log2(this.slotCount);
    this.slots = slotsBase();
    this.rows = rowsBase(this.slotCount);
  }
}

/** Returns the descriptor key of (network bit, transport, port): gVisor's portDescriptor as one int. */
export function descriptorKey(networkBit: number, transport: number, port: number): number {
  return ((networkBit === NetworkBit.Ipv4 ? 0 : 1) << 24) | (transport << 16) | port;
}

function homeSlot(t: Table, key: number): number {
  return Math.imul(key + 1, 0x9e3779b1) >>> t.shift;
}

/** Returns the slot holding `key`, or -1. Bounded by the slot count, so a torn read cannot loop. */
export function findSlot(t: Table, key: number): number {
  const w = t.words;
  let i = homeSlot(t, key);
  for (let n = 0; n < t.slotCount; n++) {
    const stored = Atomics.load(w, t.slots + i * SLOT_WORDS + S_KEY);
    if (stored === 0) return -1;
    if (stored === key + 1) return i;
    i = (i + 1) & t.slotMask;
  }
  return -1;
}

function insertSlotLocked(t: Table, key: number): number {
  const w = t.words;
  let i = homeSlot(t, key);
  while (w[t.slots + i * SLOT_WORDS + S_KEY] !== 0) i = (i + 1) & t.slotMask; // never full: load <= 1/2
  Atomics.store(w, t.slots + i * SLOT_WORDS + S_HEAD, 0);
  Atomics.store(w, t.slots + i * SLOT_WORDS + S_KEY, key + 1);
  Atomics.add(w, H_DESCRIPTORS, 1);
  return i;
}

/** Empties slot `i` by backward-shift deletion (linear probing stays tombstone-free). */
function deleteSlotLocked(t: Table, i: number): void {
  const w = t.words;
  for (;;) {
    let j = i;
    for (;;) {
      j = (j + 1) & t.slotMask;
      const stored = w[t.slots + j * SLOT_WORDS + S_KEY] ?? 0;
      if (stored === 0) {
        Atomics.store(w, t.slots + i * SLOT_WORDS + S_KEY, 0);
        Atomics.store(w, t.slots + i * SLOT_WORDS + S_HEAD, 0);
        Atomics.sub(w, H_DESCRIPTORS, 1);
        return;
      }
      const home = homeSlot(t, stored - 1);
      // Entry j may move to i unless its home lies cyclically in (i, j].
      const stays = i <= j ? i < home && home <= j : i < home || home <= j;
      if (!stays) {
        Atomics.store(w, t.slots + i * SLOT_WORDS + S_HEAD, w[t.slots + j * SLOT_WORDS + S_HEAD] ?? 0);
        Atomics.store(w, t.slots + i * SLOT_WORDS + S_KEY, stored);
        i = j;
        break;
      }
    }
  }
}

function rowBase(t: Table, row: number): number {
  return t.rows + row * ROW_WORDS;
}

/**
 * Checks `k` against one descriptor (gVisor addrToDevice.isAvailable → deviceToDest.isAvailable →
 * destToCounter.intersectionFlags), walking its rows once. Rows of one address are adjacent, so an
 * address group is a run of rows; each relevant group is judged on its own accumulator.
 */
function checkDescriptor(t: Table, key: number, k: ReservationKey, portSpecified: boolean): Check {
  const w = t.words;
  const slot = findSlot(t, key);
  if (slot < 0) return Check.Available;
  const fb = k.flags;
  const tcpRule = !portSpecified && isTcp(k.transport);
  const anyAddr = k.addrKind === AddressKind.Wildcard;
  let gKind = -1, g0 = 0, g1 = 0, g2 = 0, g3 = 0;
  let relevant = false, acc = FLAG_MASK, count = 0, seen = false;
  let row = Atomics.load(w, t.slots + slot * SLOT_WORDS + S_HEAD) - 1;
  for (let steps = 0; row >= 0; steps++) {
    if (row >= t.capacity || steps >= t.capacity) return Check.Torn;
    const b = rowBase(t, row);
    const kind = Atomics.load(w, b + R_ADDR_KIND);
    const a0 = Atomics.load(w, b + R_ADDR), a1 = Atomics.load(w, b + R_ADDR + 1);
    const a2 = Atomics.load(w, b + R_ADDR + 2), a3 = Atomics.load(w, b + R_ADDR + 3);
    if (kind !== gKind || a0 !== g0 || a1 !== g1 || a2 !== g2 || a3 !== g3) {
      if (relevant && groupFails(k.device, fb, tcpRule, acc, count, seen)) return Check.InUse;
      gKind = kind; g0 = a0; g1 = a1; g2 = a2; g3 = a3;
      // A wildcard newcomer meets every address; a specific one meets the wildcard and its own address.
      relevant = anyAddr || kind === AddressKind.Wildcard ||
        (kind === k.addrKind && a0 === k.addr0 && a1 === k.addr1 && a2 === k.addr2 && a3 === k.addr3);
      acc = FLAG_MASK; count = 0; seen = false;
    }
    if (relevant) {
      seen = true;
      const dev = Atomics.load(w, b + R_DEVICE);
      // Device 0 meets every device; two different specific devices ignore each other.
      if (k.device === 0 || dev === 0 || dev === k.device) {
        const dk = Atomics.load(w, b + R_DEST_KIND);
        const sameDest = dk === k.destKind && Atomics.load(w, b + R_DEST_PORT) === k.destPort &&
          Atomics.load(w, b + R_DEST) === k.dest0 && Atomics.load(w, b + R_DEST + 1) === k.dest1 &&
          Atomics.load(w, b + R_DEST + 2) === k.dest2 && Atomics.load(w, b + R_DEST + 3) === k.dest3;
        if (sameDest) {
          acc &= sharedFlags(w, b + R_REFS);
          count++;
        } else if (dk === AddressKind.Wildcard || k.destKind === AddressKind.Wildcard) {
          // A bound (no destination) entry meets every tuple, but TupleOnly only counts if both have it.
          acc &= (~Flags.TupleOnly | sharedFlags(w, b + R_REFS)) & FLAG_MASK;
          count++;
        } // two different specific destinations do not interact
      }
    }
    row = Atomics.load(w, b + R_NEXT) - 1;
  }
  if (relevant && groupFails(k.device, fb, tcpRule, acc, count, seen)) return Check.InUse;
  return Check.Available;
}

/**
 * Judges one address group. For a device-0 newcomer the accumulator spans every device and the TCP
 * port-0 rule fires as soon as the address has any row; for a device-bound one it spans device 0 and its
 * own device, and the TCP rule fires only on an interacting row (gVisor deviceToDest.isAvailable).
 */
function groupFails(device: number, fb: number, tcpRule: boolean, acc: number, count: number, seen: boolean): boolean {
  if (device === 0) return (count > 0 && (acc & fb) === 0) || (tcpRule && seen);
  return count > 0 && ((acc & fb) === 0 || tcpRule);
}

/** Checks `k` in every network it names. Without the mutex the answer is only good if the seqlock agrees. */
export function checkReservation(t: Table, k: ReservationKey, portSpecified: boolean): Check {
  for (let bit = NetworkBit.Ipv4; bit <= NetworkBit.Ipv6; bit <<= 1) {
    if ((k.networks & bit) === 0) continue;
    const c = checkDescriptor(t, descriptorKey(bit, k.transport, k.port), k, portSpecified);
    if (c !== Check.Available) return c;
  }
  return Check.Available;
}

// Results of `findRowLocked`, kept in module state so the walk allocates nothing.
let foundRow = -1;
let foundPrev = -1;
let lastSameAddr = -1;

/** Finds the exact (address, device, destination) row of `k` under `slot`, with its predecessor and the last row of its address. */
function findRowLocked(t: Table, slot: number, k: ReservationKey): void {
  const w = t.words;
  foundRow = -1; foundPrev = -1; lastSameAddr = -1;
  let prev = -1;
  let row = (w[t.slots + slot * SLOT_WORDS + S_HEAD] ?? 0) - 1;
  for (let steps = 0; row >= 0; steps++) {
    if (row >= t.capacity || steps >= t.capacity) throw corrupt();
    const b = rowBase(t, row);
    if (w[b + R_ADDR_KIND] === k.addrKind && w[b + R_ADDR] === k.addr0 && w[b + R_ADDR + 1] === k.addr1 &&
        w[b + R_ADDR + 2] === k.addr2 && w[b + R_ADDR + 3] === k.addr3) {
      lastSameAddr = row;
      if (foundRow < 0 && w[b + R_DEVICE] === k.device && w[b + R_DEST_KIND] === k.destKind &&
          w[b + R_DEST_PORT] === k.destPort && w[b + R_DEST] === k.dest0 && w[b + R_DEST + 1] === k.dest1 &&
          w[b + R_DEST + 2] === k.dest2 && w[b + R_DEST + 3] === k.dest3) {
        foundRow = row; foundPrev = prev;
      }
    }
    prev = row;
    row = (w[b + R_NEXT] ?? 0) - 1;
  }
}

function corrupt(): NetshardError {
  return new NetshardError('ERR_NETSHARD_INTERNAL', 'port table is corrupt (a row chain is longer than the table)');
}

/** Returns how many rows adding `k` would create: one per network where its exact row does not exist yet. */
export function rowsNeededLocked(t: Table, k: ReservationKey): number {
  let needed = 0;
  for (let bit = NetworkBit.Ipv4; bit <= NetworkBit.Ipv6; bit <<= 1) {
    if ((k.networks & bit) === 0) continue;
    const slot = findSlot(t, descriptorKey(bit, k.transport, k.port));
    if (slot < 0) { needed++; continue; }
    findRowLocked(t, slot, k);
    if (foundRow < 0) needed++;
  }
  return needed;
}

/** Returns the number of free rows. */
export function freeRowsLocked(t: Table): number {
  return t.capacity - (t.words[H_ROWS] ?? 0);
}

/**
 * Adds one reference of `k.flags` to `k`'s row in network `bit`, creating the descriptor and the row as
 * needed (the new row goes right after the last row of its address). Returns true if that row already
 * had references whose shared flags have none of `k.flags` (ReserveTuple's undo test). The caller
 * checked there is a free row.
 */
function addRefNetworkLocked(t: Table, bit: number, k: ReservationKey): boolean {
  const w = t.words;
  const key = descriptorKey(bit, k.transport, k.port);
  let slot = findSlot(t, key);
  if (slot < 0) slot = insertSlotLocked(t, key);
  findRowLocked(t, slot, k);
  if (foundRow >= 0) {
    const r = rowBase(t, foundRow) + R_REFS;
    const clash = (sharedFlags(w, r) & k.flags) === 0; // a row in the table always holds references
    addRef(w, r, k.flags);
    return clash;
  }
  const row = (w[H_FREE_HEAD] ?? 0) - 1;
  if (row < 0) throw corrupt();
  const b = rowBase(t, row);
  Atomics.store(w, H_FREE_HEAD, w[b + R_NEXT] ?? 0);
  Atomics.store(w, b + R_ADDR_KIND, k.addrKind);
  Atomics.store(w, b + R_ADDR, k.addr0); Atomics.store(w, b + R_ADDR + 1, k.addr1);
  Atomics.store(w, b + R_ADDR + 2, k.addr2); Atomics.store(w, b + R_ADDR + 3, k.addr3);
  Atomics.store(w, b + R_DEVICE, k.device);
  Atomics.store(w, b + R_DEST_KIND, k.destKind);
  Atomics.store(w, b + R_DEST, k.dest0); Atomics.store(w, b + R_DEST + 1, k.dest1);
  Atomics.store(w, b + R_DEST + 2, k.dest2); Atomics.store(w, b + R_DEST + 3, k.dest3);
  Atomics.store(w, b + R_DEST_PORT, k.destPort);
  for (let i = 0; i < FLAG_COUNTER_SIZE; i++) Atomics.store(w, b + R_REFS + i, 0);
  addRef(w, b + R_REFS, k.flags);
  const headIndex = t.slots + slot * SLOT_WORDS + S_HEAD;
  if (lastSameAddr >= 0) {
    const after = rowBase(t, lastSameAddr) + R_NEXT;
    Atomics.store(w, b + R_NEXT, w[after] ?? 0);
    Atomics.store(w, after, row + 1);
  } else {
    Atomics.store(w, b + R_NEXT, w[headIndex] ?? 0);
    Atomics.store(w, headIndex, row + 1);
  }
  Atomics.add(w, H_ROWS, 1);
  return false;
}

/** Drops one reference of `k.flags` from `k`'s row in network `bit`; prunes an emptied row and descriptor. Missing: no-op. */
function dropRefNetworkLocked(t: Table, bit: number, k: ReservationKey): void {
  const w = t.words;
  const slot = findSlot(t, descriptorKey(bit, k.transport, k.port));
  if (slot < 0) return;
  findRowLocked(t, slot, k);
  if (foundRow < 0) return;
  const b = rowBase(t, foundRow);
  if (!dropRef(w, b + R_REFS, k.flags) || totalRefs(w, b + R_REFS) > 0) return;
  const headIndex = t.slots + slot * SLOT_WORDS + S_HEAD;
  const next = w[b + R_NEXT] ?? 0;
  if (foundPrev >= 0) Atomics.store(w, rowBase(t, foundPrev) + R_NEXT, next);
  else Atomics.store(w, headIndex, next);
  Atomics.store(w, b + R_NEXT, w[H_FREE_HEAD] ?? 0);
  Atomics.store(w, H_FREE_HEAD, foundRow + 1);
  Atomics.sub(w, H_ROWS, 1);
  if (w[headIndex] === 0) deleteSlotLocked(t, slot);
}

/** Adds a reference to `k` in every network it names. The caller checked availability and free rows. */
export function addRefsLocked(t: Table, k: ReservationKey): void {
  for (let bit = NetworkBit.Ipv4; bit <= NetworkBit.Ipv6; bit <<= 1) {
    if ((k.networks & bit) !== 0) addRefNetworkLocked(t, bit, k);
  }
}

/**
 * Adds `k` first and then looks (gVisor ReserveTuple): if any network's exact row already had references
 * sharing no flag with `k`, drops what it added and returns false. The caller checked free rows.
 */
export function addTupleLocked(t: Table, k: ReservationKey): boolean {
  let undo = false;
  for (let bit = NetworkBit.Ipv4; bit <= NetworkBit.Ipv6; bit <<= 1) {
    if ((k.networks & bit) !== 0 && addRefNetworkLocked(t, bit, k)) undo = true;
  }
  if (undo) dropRefsLocked(t, k);
  return !undo;
}

/** Drops a reference to `k` in every network it names; missing rows or flag combinations are no-ops. */
export function dropRefsLocked(t: Table, k: ReservationKey): void {
  for (let bit = NetworkBit.Ipv4; bit <= NetworkBit.Ipv6; bit <<= 1) {
    if ((k.networks & bit) !== 0) dropRefNetworkLocked(t, bit, k);
  }
}

/** One row of the table as `snapshot()` reports it. */
export interface PortTableEntry {
  /** 'ipv4' or 'ipv6'. */
  network: 'ipv4' | 'ipv6';
  transport: number;
  port: number;
  /** '' for the wildcard. */
  address: string;
  device: number;
  /** Absent for a bound (no destination) entry. */
  destination?: { address: string; port: number };
  /** References per flag combination, index = flag bits. */
  refs: number[];
}

/** Returns every row, descriptors in slot order and rows in list order. Allocates. */
export function snapshotLocked(t: Table): PortTableEntry[] {
  const w = t.words;
  const out: PortTableEntry[] = [];
  for (let s = 0; s < t.slotCount; s++) {
    const stored = w[t.slots + s * SLOT_WORDS + S_KEY] ?? 0;
    if (stored === 0) continue;
    const key = stored - 1;
    let row = (w[t.slots + s * SLOT_WORDS + S_HEAD] ?? 0) - 1;
    for (let steps = 0; row >= 0; steps++) {
      if (row >= t.capacity || steps >= t.capacity) throw corrupt();
      const b = rowBase(t, row);
      const e: PortTableEntry = {
        network: key >>> 24 === 0 ? 'ipv4' : 'ipv6',
        transport: (key >>> 16) & 0xff,
        port: key & 0xffff,
        address: formatAddressKey(w[b + R_ADDR_KIND] ?? 0, w[b + R_ADDR] ?? 0, w[b + R_ADDR + 1] ?? 0, w[b + R_ADDR + 2] ?? 0, w[b + R_ADDR + 3] ?? 0),
        device: w[b + R_DEVICE] ?? 0,
        refs: Array.from(w.subarray(b + R_REFS, b + R_REFS + FLAG_COUNTER_SIZE)),
      };
      if (w[b + R_DEST_KIND] !== AddressKind.Wildcard) {
        e.destination = {
          address: formatAddressKey(w[b + R_DEST_KIND] ?? 0, w[b + R_DEST] ?? 0, w[b + R_DEST + 1] ?? 0, w[b + R_DEST + 2] ?? 0, w[b + R_DEST + 3] ?? 0),
          port: w[b + R_DEST_PORT] ?? 0,
        };
      }
      out.push(e);
      row = (w[b + R_NEXT] ?? 0) - 1;
    }
  }
  return out;
}
