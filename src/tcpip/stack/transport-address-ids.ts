/**
 * Small integer ids for IPv6 addresses, so a demuxer key (local port, local address, remote port,
 * remote address) is four int32 words for IPv6 as it is for IPv4 (where the address is its own word).
 *
 * An address gets an id when the first registration names it (bind or connect: control path) and
 * loses it when the last such registration goes; ids are reused. The all-zero address (`::`, the
 * wildcard) is always id 0 and is never stored. A packet's address is looked up in place in the frame
 * (`find`): an address no registration names has no id (-1), and then no key containing it can match,
 * which is exactly right, since nothing is registered under it.
 *
 * Thread: the demuxer's. `find` is the hot path: no allocation, never throws.
 */
import { WordMap } from './transport-word-map.ts';

/** An interned address: its id and how many registrations name it. */
interface AddressId {
  readonly id: number;
  refs: number;
}

/** Interns 16-byte addresses (as four big-endian int32 words) to ids; see the file comment. */
export class AddressIds {
  readonly #byAddress: WordMap<AddressId>;
  readonly #freeIds: number[] = [];
  #nextId = 1;

  /** Makes an empty table whose hash is seeded with `seed`. */
  constructor(seed: number) {
    this.#byAddress = new WordMap<AddressId>(seed);
  }

  /** Returns how many distinct addresses have ids (the wildcard excluded). */
  get size(): number { return this.#byAddress.size; }

  /**
   * Returns the id of the 16-byte address at `offset` in `view`: 0 for `::`, -1 when no registration
   * names it. Hot path: no allocation. Precondition: 16 bytes at `offset` lie inside `view`.
   */
  find(view: DataView, offset: number): number {
    const a = view.getInt32(offset);
    const b = view.getInt32(offset + 4);
    const c = view.getInt32(offset + 8);
    const d = view.getInt32(offset + 12);
    if ((a | b | c | d) === 0) return 0;
    const entry = this.#byAddress.get(a, b, c, d);
    return entry === undefined ? -1 : entry.id;
  }

  /** Returns the id of the address given as four words, 0 for the wildcard, -1 when it has none. */
  peek(a: number, b: number, c: number, d: number): number {
    if ((a | b | c | d) === 0) return 0;
    const entry = this.#byAddress.get(a, b, c, d);
    return entry === undefined ? -1 : entry.id;
  }

  /** Returns the id of the address given as four words, giving it one if needed, and counts one more user. Control path. */
  acquire(a: number, b: number, c: number, d: number): number {
    if ((a | b | c | d) === 0) return 0;
    const entry = this.#byAddress.get(a, b, c, d);
    if (entry !== undefined) {
      entry.refs++;
      return entry.id;
    }
    const id = this.#freeIds.pop() ?? this.#nextId++;
    this.#byAddress.set(a, b, c, d, { id, refs: 1 });
    return id;
  }

  /** Counts one user fewer of the address; frees its id after the last. Unknown addresses are ignored. Control path. */
  release(a: number, b: number, c: number, d: number): void {
    if ((a | b | c | d) === 0) return;
    const entry = this.#byAddress.get(a, b, c, d);
    if (entry === undefined) return;
    if (--entry.refs > 0) return;
    this.#byAddress.delete(a, b, c, d);
    this.#freeIds.push(entry.id);
  }
}
