/**
 * Where everything lives in the port table's one SharedArrayBuffer. All offsets are in 32-bit words.
 *
 * ```
 *  word 0                                                            64 B
 *  ┌────────┬─────────┬──────────┬───────────┬──────┬─────┬───────┬──────┬──────────┬──────┬─────────────┬─────────┐
 *  │ MAGIC  │ VERSION │ CAPACITY │ SLOT_COUNT│ LOCK │ GEN │ RANGE │ HINT │ FREE_HEAD│ ROWS │ DESCRIPTORS │ (spare) │
 *  └────────┴─────────┴──────────┴───────────┴──────┴─────┴───────┴──────┴──────────┴──────┴─────────────┴─────────┘
 *   LOCK: futex mutex 0 free / 1 held / 2 held with sleepers     GEN: seqlock generation, odd while a writer mutates
 *   RANGE: first << 16 | last (one word, so one atomic load reads a consistent range)   HINT: stable picker's hint
 *   FREE_HEAD: first free row + 1 (0 = none)   ROWS / DESCRIPTORS: rows and descriptors in use
 *
 *  descriptor slots: SLOT_COUNT (a power of two >= 2 × CAPACITY) × 2 words, open addressing with linear probing
 *  ┌───────────────────────────────────────┬─────────────┐
 *  │ key + 1 (0 = empty)                   │ head row + 1│   key = network bit 24 | transport << 16 | port
 *  └───────────────────────────────────────┴─────────────┘   (gVisor portDescriptor{network, transport, port})
 *
 *  rows: CAPACITY × ROW_WORDS words; each row is one (address, device, destination) of one descriptor
 *  ┌──────┬──────────┬───────────────┬────────┬──────────┬───────────────┬───────────┬──────────────────────┐
 *  │ next │ addrKind │ addr w0..w3   │ device │ destKind │ dest w0..w3   │ destPort  │ refs[0..7]           │
 *  └──────┴──────────┴───────────────┴────────┴──────────┴───────────────┴───────────┴──────────────────────┘
 *   0      1          2..5            6        7          8..11           12          13..20
 *   next = next row of the same descriptor + 1 (0 = end), or the next free row + 1 on the free list.
 *   A descriptor's list keeps rows of equal address next to each other (gVisor's addrToDevice level),
 *   and holds no row whose refs are all zero (gVisor deletes empty map levels).
 * ```
 *
 * No row can exist without its descriptor and a descriptor has at least one row, so descriptors <= rows
 * <= CAPACITY and the slot table (load factor <= 1/2) can never fill: only rows run out (ENOSPC).
 * Thread: any. No allocation.
 */

/** "NSPM" in ASCII: marks a buffer made by `PortManager.create`. */
export const MAGIC = 0x4e53504d;
/** Layout version; bump on any change below. */
export const VERSION = 1;

/** Header word: MAGIC. */
export const H_MAGIC = 0;
/** Header word: layout VERSION. */
export const H_VERSION = 1;
/** Header word: rows the table holds. */
export const H_CAPACITY = 2;
/** Header word: descriptor slots (a power of two). */
export const H_SLOT_COUNT = 3;
/** Header word: the futex mutex (0 free, 1 held, 2 held with possible sleepers). */
export const H_LOCK = 4;
/** Header word: the seqlock generation (odd while a writer changes the table). */
export const H_GEN = 5;
/** Header word: the ephemeral range, first << 16 | last. */
export const H_RANGE = 6;
/** Header word: the stable picker's hint. */
export const H_HINT = 7;
/** Header word: first free row + 1 (0 = none). */
export const H_FREE_HEAD = 8;
/** Header word: rows in use. */
export const H_ROWS = 9;
/** Header word: descriptors in use. */
export const H_DESCRIPTORS = 10;
/** Header size in words: one 64-byte cache line. */
export const HEADER_WORDS = 16;

/** Words per descriptor slot. */
export const SLOT_WORDS = 2;
/** Slot word: descriptor key + 1 (0 = empty). */
export const S_KEY = 0;
/** Slot word: first row of the descriptor + 1. */
export const S_HEAD = 1;

/** Row word: next row of the list + 1 (0 = end). */
export const R_NEXT = 0;
/** Row word: address kind (AddressKind). */
export const R_ADDR_KIND = 1;
/** Row words: the address, 4 big-endian words. */
export const R_ADDR = 2;
/** Row word: NIC id, 0 = none. */
export const R_DEVICE = 6;
/** Row word: destination address kind (Wildcard = no destination). */
export const R_DEST_KIND = 7;
/** Row words: the destination address, 4 words. */
export const R_DEST = 8;
/** Row word: destination port. */
export const R_DEST_PORT = 12;
/** Row words: the 8 flag counters. */
export const R_REFS = 13;
/** Words per row. */
export const ROW_WORDS = 21;

/** Default number of rows (distinct address/device/destination entries over all ports). */
export const DEFAULT_CAPACITY = 4096;
/** Largest capacity accepted: 2^20 rows take ~100 MiB (84 B per row plus 16 B of slots). */
export const MAX_CAPACITY = 1 << 20;

/** Returns the descriptor slot count for `capacity` rows: a power of two, at least twice the rows. */
export function slotCountFor(capacity: number): number {
  let n = 16;
  while (n < capacity * 2) n *= 2;
  return n;
}

/** Returns the buffer size in bytes for `capacity` rows. */
export function byteLengthFor(capacity: number): number {
  return (HEADER_WORDS + slotCountFor(capacity) * SLOT_WORDS + capacity * ROW_WORDS) * 4;
}

/** Returns the word offset of the slot table. */
export function slotsBase(): number {
  return HEADER_WORDS;
}

/** Returns the word offset of the row table for a buffer with `slotCount` slots. */
export function rowsBase(slotCount: number): number {
  return HEADER_WORDS + slotCount * SLOT_WORDS;
}

/** Packs an inclusive port range into the RANGE word. */
export function packRange(first: number, last: number): number {
  return (first << 16) | last;
}
