/**
 * Reuse flags and the per-row flag counter, as gVisor's `pkg/tcpip/ports/flags.go` defines them.
 *
 * A reservation carries a 3-bit flag set. A counter is 8 reference counts, one per flag combination
 * (index = the bits), kept in an `Int32Array` at `offset .. offset+8)`. The counters of the port table
 * live in its SharedArrayBuffer and are read by lock-free readers, so every access here is an
 * `Atomics` access (on x86 an `Atomics.load` is a plain load; the writes happen under the table mutex).
 * Thread: any. No allocation.
 */

/**
 * The reuse flags. `MostRecent` models UDP SO_REUSEADDR, `LoadBalanced` SO_REUSEPORT (TCP and UDP),
 * `TupleOnly` TCP SO_REUSEADDR (gVisor `ports.Flags`; TCP/UDP `OnReuseAddressSet`/`OnReusePortSet`).
 */
export const Flags = { MostRecent: 1, LoadBalanced: 2, TupleOnly: 4 } as const;
/** One of the flag bits. */
export type Flag = (typeof Flags)[keyof typeof Flags];

/** Every flag bit: the value a counter's `sharedFlags` starts from (gVisor `FlagMask`). */
export const FLAG_MASK = 7;
/** The flags that allow the same tuple to be bound more than once; the demuxer uses only these (gVisor `MultiBindFlagMask`). */
export const MULTI_BIND_FLAG_MASK = Flags.MostRecent | Flags.LoadBalanced;
/** Number of counts in a flag counter: one per combination of the 3 bits. */
export const FLAG_COUNTER_SIZE = 8;

/** Returns `flags` with MostRecent cleared when LoadBalanced is also set: LoadBalanced wins (gVisor `Flags.Effective`). */
export function effective(flags: number): number {
  const bits = flags & FLAG_MASK;
  return (bits & Flags.LoadBalanced) !== 0 ? bits & ~Flags.MostRecent : bits;
}

/** Adds one reference for the flag combination `flags` to the counter at `offset`. Caller holds the table mutex. */
export function addRef(counters: Int32Array, offset: number, flags: number): void {
  Atomics.add(counters, offset + (flags & FLAG_MASK), 1);
}

/**
 * Drops one reference for `flags` from the counter at `offset` and returns true, or returns false and changes
 * nothing when that combination has no reference. (gVisor decrements blindly and can go negative; we never do.)
 * Caller holds the table mutex.
 */
export function dropRef(counters: Int32Array, offset: number, flags: number): boolean {
  const i = offset + (flags & FLAG_MASK);
  if (Atomics.load(counters, i) <= 0) return false;
  Atomics.sub(counters, i, 1);
  return true;
}

/** Returns the number of references of every combination in the counter at `offset`. */
export function totalRefs(counters: Int32Array, offset: number): number {
  let total = 0;
  for (let i = 0; i < FLAG_COUNTER_SIZE; i++) total += Atomics.load(counters, offset + i);
  return total;
}

/** Returns the number of references whose flags include every bit of `flags`. */
export function flagRefs(counters: Int32Array, offset: number, flags: number): number {
  const f = flags & FLAG_MASK;
  let total = 0;
  for (let i = 0; i < FLAG_COUNTER_SIZE; i++) if ((i & f) === f) total += Atomics.load(counters, offset + i);
  return total;
}

/** Returns true if every reference in the counter at `offset` has every bit of `flags` (true when empty). */
export function allRefsHave(counters: Int32Array, offset: number, flags: number): boolean {
  const f = flags & FLAG_MASK;
  for (let i = 0; i < FLAG_COUNTER_SIZE; i++) if ((i & f) !== f && Atomics.load(counters, offset + i) > 0) return false;
  return true;
}

/** Returns the flags every reference has: the AND of the combinations with references; 7 (FLAG_MASK) when empty. */
export function sharedFlags(counters: Int32Array, offset: number): number {
  let shared = FLAG_MASK;
  for (let i = 0; i < FLAG_COUNTER_SIZE; i++) if (Atomics.load(counters, offset + i) > 0) shared &= i;
  return shared;
}
