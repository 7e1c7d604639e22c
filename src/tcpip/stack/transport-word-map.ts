/**
 * WordMap: a hash map whose key is four int32 words, for the transport demuxer's per-packet lookups.
 *
 * Why not a JS `Map`: a demuxer key is (local port, local address, remote port, remote address), 64 bits
 * of ports plus two addresses. Packed into one JS number it does not fit (53 exact bits, and only 32-bit
 * Smis pass to `Map.get` without boxing a HeapNumber, an allocation per lookup); nested Maps cost three
 * or four lookups per level. Here the four words sit side by side in one `Int32Array`, the hash mixes
 * them with `Math.imul` (MurmurHash3's block step and finalizer, seeded per table so a remote peer cannot
 * aim its packets at one long probe run), and a lookup compares words in place: one probe sequence,
 * no allocation, no strings.
 *
 * ```
 *  keys   (capacity × 4 int32):  [ w0 w1 w2 w3 ][ w0 w1 w2 w3 ] …   slot i at 4i
 *  values (capacity, JS array):  [ value | undefined ] …             undefined = empty slot
 * ```
 * Open addressing with linear probing, load factor ≤ 1/2 (doubles when passed), backward-shift deletion
 * (no tombstones, so probe runs never grow from churn).
 *
 * Thread: one (the table is plain memory of the thread that owns the demuxer). `get` is the hot path:
 * no allocation, never throws. `set`/`delete` are control path and may allocate when the table grows.
 */

const MIN_CAPACITY = 16;

/** Mixes one 32-bit word into `h` (MurmurHash3's 32-bit block step). */
function mix(h: number, word: number): number {
  let k = Math.imul(word, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** Returns the slot-independent hash of four words under `seed` (MurmurHash3 finalizer). */
function hash4(seed: number, a: number, b: number, c: number, d: number): number {
  let h = mix(mix(mix(mix(seed, a), b), c), d);
  h ^= 16;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}

/** A map from four int32 words to values of type `T`; see the file comment for the layout. */
export class WordMap<T> {
  #keys: Int32Array;
  #values: (T | undefined)[];
  #mask: number;
  #size = 0;
  readonly #seed: number;

  /** Makes an empty map whose hash is seeded with `seed` (pass a random number per table). */
  constructor(seed = 0) {
    this.#seed = seed | 0;
    this.#keys = new Int32Array(MIN_CAPACITY * 4);
    this.#values = new Array<T | undefined>(MIN_CAPACITY).fill(undefined);
    this.#mask = MIN_CAPACITY - 1;
  }

  /** Returns the number of keys held. */
  get size(): number { return this.#size; }

  /** Returns the number of slots (a power of two, at least twice `size`). */
  get capacity(): number { return this.#mask + 1; }

  /** Returns the value stored under (a, b, c, d), or undefined. Hot path: no allocation. */
  get(a: number, b: number, c: number, d: number): T | undefined {
    const slot = this.#find(a | 0, b | 0, c | 0, d | 0);
    return slot < 0 ? undefined : this.#values[slot];
  }

  /** Stores `value` (not undefined) under (a, b, c, d), replacing any value there. Control path. */
  set(a: number, b: number, c: number, d: number, value: T): void {
    a |= 0; b |= 0; c |= 0; d |= 0;
    const found = this.#find(a, b, c, d);
    if (found >= 0) { this.#values[found] = value; return; }
    if ((this.#size + 1) * 2 > this.#mask + 1) this.#grow();
    this.#insert(a, b, c, d, value);
    this.#size++;
  }

  /** Removes the key (a, b, c, d); returns false when it was not there. Control path. */
  delete(a: number, b: number, c: number, d: number): boolean {
    let hole = this.#find(a | 0, b | 0, c | 0, d | 0);
    if (hole < 0) return false;
    const keys = this.#keys;
    const values = this.#values;
    const mask = this.#mask;
    values[hole] = undefined;
    this.#size--;
    // Backward shift: pull later members of the probe run into the hole when the hole lies on their
    // way from their home slot, so a lookup never meets an empty slot before its key.
    let j = hole;
    for (;;) {
      j = (j + 1) & mask;
      if (values[j] === undefined) return true;
      const at = j * 4;
      const home = hash4(this.#seed, keys[at]!, keys[at + 1]!, keys[at + 2]!, keys[at + 3]!) & mask;
      // Distance from home to j versus from home to the hole, both along the probe direction.
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        keys.copyWithin(hole * 4, at, at + 4);
        values[hole] = values[j];
        values[j] = undefined;
        hole = j;
      }
    }
  }

  /** Calls `fn` for every value (in slot order). Control path, for snapshots and tests. */
  forEach(fn: (value: T, a: number, b: number, c: number, d: number) => void): void {
    const keys = this.#keys;
    this.#values.forEach((value, i) => {
      if (value !== undefined) fn(value, keys[i * 4]!, keys[i * 4 + 1]!, keys[i * 4 + 2]!, keys[i * 4 + 3]!);
    });
  }

  /** Returns the slot holding (a, b, c, d), or -1. Words are int32 already. */
  #find(a: number, b: number, c: number, d: number): number {
    const keys = this.#keys;
    const values = this.#values;
    const mask = this.#mask;
    let i = hash4(this.#seed, a, b, c, d) & mask;
    for (;;) {
      if (values[i] === undefined) return -1;
      const at = i * 4;
      if (keys[at] === a && keys[at + 1] === b && keys[at + 2] === c && keys[at + 3] === d) return i;
      i = (i + 1) & mask;
    }
  }

  /** Puts a key known to be absent into the first free slot of its probe run. */
  #insert(a: number, b: number, c: number, d: number, value: T): void {
    const mask = this.#mask;
    let i = hash4(this.#seed, a, b, c, d) & mask;
    while (this.#values[i] !== undefined) i = (i + 1) & mask;
    const at = i * 4;
    this.#keys[at] = a;
    this.#keys[at + 1] = b;
    this.#keys[at + 2] = c;
    this.#keys[at + 3] = d;
    this.#values[i] = value;
  }

  #grow(): void {
    const oldKeys = this.#keys;
    const oldValues = this.#values;
    const capacity = (this.#mask + 1) * 2;
    this.#keys = new Int32Array(capacity * 4);
    this.#values = new Array<T | undefined>(capacity).fill(undefined);
    this.#mask = capacity - 1;
    for (let i = 0; i < oldValues.length; i++) {
      const value = oldValues[i];
      if (value !== undefined) {
        this.#insert(oldKeys[i * 4]!, oldKeys[i * 4 + 1]!, oldKeys[i * 4 + 2]!, oldKeys[i * 4 + 3]!, value);
      }
    }
  }
}
