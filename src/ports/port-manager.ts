/**
 * PortManager: gVisor's port reservation semantics (pkg/tcpip/ports) over one SharedArrayBuffer, so
 * every thread that attaches sees one table and no two threads are ever granted conflicting ports.
 * Control path: methods validate at the door and throw NetshardError; each call allocates a small key.
 */
import { NetshardError } from '../errors.ts';
import { validateArray, validateInteger, validateObject } from '../validate.ts';
import { NO_PORT, pickEphemeralPortAt, randomOffset, type PortTester } from './ephemeral.ts';
import {
  byteLengthFor, DEFAULT_CAPACITY, H_CAPACITY, H_DESCRIPTORS, H_FREE_HEAD, H_GEN, H_HINT, H_LOCK, H_MAGIC,
  H_RANGE, H_ROWS, H_SLOT_COUNT, H_VERSION, HEADER_WORDS, MAGIC, MAX_CAPACITY, packRange, R_NEXT, ROW_WORDS,
  rowsBase, slotCountFor, VERSION,
} from './layout.ts';
import { beginWrite, endWrite, lock, unlock } from './mutex.ts';
import { formatAddressKey, parseReservation, type Reservation, type ReservationKey } from './reservation.ts';
import {
  addRefsLocked, addTupleLocked, Check, checkReservation, dropRefsLocked, freeRowsLocked, rowsNeededLocked,
  snapshotLocked, Table, type PortTableEntry,
} from './table.ts';

/** First ephemeral port by default: gVisor's since commit 32c18f443 (2021); the range is 16000..65535. */
export const DEFAULT_FIRST_EPHEMERAL = 16000;
/** Last ephemeral port by default. */
export const DEFAULT_LAST_EPHEMERAL = 65535;
/** Lock-free read attempts before `isPortAvailable` falls back to taking the mutex. */
const READ_ATTEMPTS = 64;
/** errno values reported on the errors that mirror a socket call. */
const EADDRINUSE_ERRNO = 98;

/** Options of `PortManager.create`. */
export interface PortManagerOptions {
  /** Rows: distinct (network, transport, port, address, device, destination) entries held at once. Default 4096. */
  capacity?: number;
  /** Inclusive ephemeral range [first, last], 1..65535. Default [16000, 65535]. */
  portRange?: [number, number];
}

/** Counts and state of a table, for tests and stats. */
export interface PortTableStats {
  /** Rows the table can hold. */
  capacity: number;
  /** Rows in use. */
  rows: number;
  /** (network, transport, port) descriptors in use. */
  descriptors: number;
  /** Mutex word: 0 free, 1 held, 2 held with possible sleepers. */
  lock: number;
  /** Seqlock generation: even at rest, grows by 2 per table change. */
  generation: number;
}

/** A PortManager on a table in a SharedArrayBuffer; make one with `create` or `attach`. */
export class PortManager {
  /** The table's memory; post it to another thread and `attach` it there. */
  readonly buffer: SharedArrayBuffer;
  readonly #words: Int32Array;
  readonly #table: Table;

  private constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.#words = new Int32Array(buffer);
    this.#table = new Table(this.#words);
  }

  /**
   * Creates an empty table in a new SharedArrayBuffer. Thread: any. Throws ERR_INVALID_ARG_TYPE /
   * ERR_OUT_OF_RANGE / ERR_INVALID_ARG_VALUE for bad options.
   */
  static create(options: PortManagerOptions = {}): PortManager {
    validateObject(options, 'options', ['capacity', 'portRange']);
    const capacity = options.capacity ?? DEFAULT_CAPACITY;
    validateInteger(capacity, 'options.capacity', 1, MAX_CAPACITY);
    let first = DEFAULT_FIRST_EPHEMERAL, last = DEFAULT_LAST_EPHEMERAL;
    if (options.portRange !== undefined) {
      validateArray(options.portRange, 'options.portRange', 2);
      if (options.portRange.length !== 2) {
        throw new NetshardError('ERR_INVALID_ARG_VALUE', `options.portRange must be [first, last], received ${options.portRange.length} elements`);
      }
      const [f, l]: readonly unknown[] = options.portRange;
      validateRange(f, l, 'options.portRange[0]', 'options.portRange[1]');
      first = f; last = l as number;
    }
    const slotCount = slotCountFor(capacity);
    const buffer = new SharedArrayBuffer(byteLengthFor(capacity));
    const w = new Int32Array(buffer);
    w[H_MAGIC] = MAGIC;
    w[H_VERSION] = VERSION;
    w[H_CAPACITY] = capacity;
    w[H_SLOT_COUNT] = slotCount;
    w[H_RANGE] = packRange(first, last);
    const rows = rowsBase(slotCount);
    for (let r = 0; r < capacity; r++) w[rows + r * ROW_WORDS + R_NEXT] = r + 1 < capacity ? r + 2 : 0;
    w[H_FREE_HEAD] = 1;
    return new PortManager(buffer);
  }

  /**
   * Attaches to a table `create` made, in this or another thread; every attached PortManager sees one
   * state. Thread: any. Throws ERR_INVALID_ARG_TYPE unless `buffer` is a SharedArrayBuffer,
   * ERR_INVALID_ARG_VALUE unless it holds a port table of this layout version.
   */
  static attach(buffer: SharedArrayBuffer): PortManager {
    if (!(buffer instanceof SharedArrayBuffer)) {
      const got = buffer === null ? 'null' : typeof buffer === 'object' ? `an instance of ${(buffer as object).constructor?.name ?? 'Object'}` : `type ${typeof buffer}`;
      throw new NetshardError('ERR_INVALID_ARG_TYPE', `buffer must be a SharedArrayBuffer made by PortManager.create, received ${got}`);
    }
    const w = new Int32Array(buffer, 0, Math.min(HEADER_WORDS, buffer.byteLength >> 2));
    const capacity = w[H_CAPACITY] ?? 0;
    let why = '';
    if (w[H_MAGIC] !== MAGIC) why = `magic 0x${((w[H_MAGIC] ?? 0) >>> 0).toString(16)}, ${buffer.byteLength} bytes`;
    else if (w[H_VERSION] !== VERSION) why = `layout version ${w[H_VERSION]}`;
    else if (capacity < 1 || capacity > MAX_CAPACITY || w[H_SLOT_COUNT] !== slotCountFor(capacity) || buffer.byteLength !== byteLengthFor(capacity)) {
      why = `capacity ${capacity} and ${w[H_SLOT_COUNT]} slots do not match its ${buffer.byteLength} bytes`;
    }
    if (why !== '') {
      throw new NetshardError('ERR_INVALID_ARG_VALUE', `buffer does not hold a port table of layout version ${VERSION} (${why})`);
    }
    return new PortManager(buffer);
  }

  /**
   * Reserves `res.port`, or an ephemeral port when it is 0, and returns the port. Holders share a port only
   * if every existing reference interacting with the newcomer shares a reuse flag with it, as Linux does;
   * wildcard addresses and device 0 interact with all. For TCP (transport 6) an ephemeral pick never lands
   * on a port with an interacting reservation. `testPort(port)`, if given, runs after the reservation is in
   * the table (without the mutex held: it may call this PortManager); returning anything but true releases
   * it (EADDRINUSE for an explicit port, the next candidate for port 0); throwing releases it and rethrows.
   * Thread: any; takes the table mutex once per candidate port.
   * Throws EADDRINUSE, ERR_NETSHARD_NO_PORT_AVAILABLE, ENOSPC (table full, table unchanged), or a validation error.
   */
  reservePort(res: Reservation, testPort?: PortTester): number {
    const k = parseReservation(res, 0);
    if (testPort !== undefined && typeof testPort !== 'function') {
      throw new NetshardError('ERR_INVALID_ARG_TYPE', 'testPort must be a function (port) => boolean');
    }
    if (k.port !== 0) {
      if (!this.#reserveKey(k, true)) throw inUse(k);
      if (testPort !== undefined && !this.#runTester(k, testPort)) throw inUse(k);
      return k.port;
    }
    const [first, last] = this.portRange();
    const port = pickEphemeralPortAt(randomOffset(), first, last - first + 1, (p) => {
      k.port = p;
      if (!this.#reserveKey(k, false)) return false;
      return testPort === undefined || this.#runTester(k, testPort);
    });
    if (port === NO_PORT) {
      throw new NetshardError('ERR_NETSHARD_NO_PORT_AVAILABLE', `no ephemeral port available in ${first}..${last}`);
    }
    return port;
  }

  /**
   * Reserves a connected tuple for an accepted connection (gVisor ReserveTuple): adds the reference first,
   * then undoes it and returns false if the exact (address, device, destination) entry already had
   * references sharing no flag with `res.flags`. Wildcard entries are not consulted. Returns true if kept.
   * Thread: any; takes the table mutex. Throws ENOSPC (table unchanged) or a validation error.
   */
  reserveTuple(res: Reservation): boolean {
    const k = parseReservation(res, 1);
    const w = this.#words;
    lock(w, H_LOCK);
    try {
      if (rowsNeededLocked(this.#table, k) > freeRowsLocked(this.#table)) throw full(this.#table.capacity);
      beginWrite(w, H_GEN);
      try {
        return addTupleLocked(this.#table, k);
      } finally {
        endWrite(w, H_GEN);
      }
    } finally {
      unlock(w, H_LOCK);
    }
  }

  /**
   * Drops one reference of `res.flags` at exactly `res`'s key in each network, and prunes entries left with
   * none (gVisor deletes empty map levels). A key or flag combination that holds nothing is a no-op.
   * Thread: any; takes the table mutex. Throws only validation errors (port must be 1..65535).
   */
  releasePort(res: Reservation): void {
    this.#releaseKey(parseReservation(res, 1));
  }

  /**
   * Returns true if `reservePort(res)` with this explicit port would succeed now (gVisor IsPortAvailable).
   * Thread: any; reads without the mutex under the seqlock generation (retrying while a writer is active),
   * and takes the mutex only after 64 disturbed attempts. Throws only validation errors (port 1..65535).
   */
  isPortAvailable(res: Reservation): boolean {
    const k = parseReservation(res, 1);
    const w = this.#words;
    for (let attempt = 0; attempt < READ_ATTEMPTS; attempt++) {
      const gen = Atomics.load(w, H_GEN);
      if ((gen & 1) !== 0) continue;
      const c = checkReservation(this.#table, k, true);
      if (c !== Check.Torn && Atomics.load(w, H_GEN) === gen) return c === Check.Available;
    }
    lock(w, H_LOCK);
    try {
      return checkReservation(this.#table, k, true) === Check.Available;
    } finally {
      unlock(w, H_LOCK);
    }
  }

  /**
   * Returns the first port `test` accepts, trying the range from a random offset (RFC 6056 Algorithm 1,
   * `first + (offset + i) % count`). Thread: any; takes no mutex (the tester may reserve). Throws
   * ERR_NETSHARD_NO_PORT_AVAILABLE when no port is accepted, or whatever the tester throws.
   */
  pickEphemeralPort(test: PortTester): number {
    return this.#pick(randomOffset(), test);
  }

  /**
   * Like `pickEphemeralPort`, from `offset` plus a hint shared by all threads that grows by one after each
   * success (gVisor's PickEphemeralPortStable, removed upstream in 2023 for predictability; random stays the
   * default everywhere here). Thread: any; takes no mutex (one atomic add on success).
   */
  pickEphemeralPortStable(offset: number, test: PortTester): number {
    validateInteger(offset, 'offset', 0, 0xffffffff);
    const port = this.#pick((Atomics.load(this.#words, H_HINT) + offset) >>> 0, test);
    Atomics.add(this.#words, H_HINT, 1);
    return port;
  }

  /** Returns the inclusive ephemeral range [first, last]. Thread: any; one atomic load, no mutex. */
  portRange(): [number, number] {
    const packed = Atomics.load(this.#words, H_RANGE);
    return [packed >>> 16, packed & 0xffff];
  }

  /**
   * Sets the inclusive ephemeral range for every thread. Unlike gVisor, 0 is rejected (its 0..65535 wraps
   * the uint16 count to 0 and disables ephemeral ports). Thread: any; one atomic store, no mutex.
   * Throws ERR_OUT_OF_RANGE outside 1..65535 or when start > end.
   */
  setPortRange(start: number, end: number): void {
    validateRange(start, end, 'start', 'end');
    Atomics.store(this.#words, H_RANGE, packRange(start, end));
  }

  /** Returns the number of rows in use (0 once everything is released). Thread: any; one atomic load. */
  entryCount(): number {
    return Atomics.load(this.#words, H_ROWS);
  }

  /** Returns counts and the mutex state. Thread: any; atomic loads, no mutex (fields may be from different instants). */
  stats(): PortTableStats {
    const w = this.#words;
    return {
      capacity: this.#table.capacity,
      rows: Atomics.load(w, H_ROWS),
      descriptors: Atomics.load(w, H_DESCRIPTORS),
      lock: Atomics.load(w, H_LOCK),
      generation: Atomics.load(w, H_GEN),
    };
  }

  /** Returns a copy of every row for tests and stats. Thread: any; takes the table mutex; allocates. */
  snapshot(): PortTableEntry[] {
    const w = this.#words;
    lock(w, H_LOCK);
    try {
      return snapshotLocked(this.#table);
    } finally {
      unlock(w, H_LOCK);
    }
  }

  #pick(offset: number, test: PortTester): number {
    if (typeof test !== 'function') throw new NetshardError('ERR_INVALID_ARG_TYPE', 'test must be a function (port) => boolean');
    const [first, last] = this.portRange();
    const port = pickEphemeralPortAt(offset, first, last - first + 1, test);
    if (port === NO_PORT) throw new NetshardError('ERR_NETSHARD_NO_PORT_AVAILABLE', `no ephemeral port available in ${first}..${last}`);
    return port;
  }

  /** Checks and adds `k` in all its networks in one critical section; false if in use; throws ENOSPC if full. */
  #reserveKey(k: ReservationKey, portSpecified: boolean): boolean {
    const w = this.#words;
    const t = this.#table;
    lock(w, H_LOCK);
    try {
      const c = checkReservation(t, k, portSpecified);
      if (c === Check.Torn) throw new NetshardError('ERR_NETSHARD_INTERNAL', 'port table is corrupt');
      if (c === Check.InUse) return false;
      if (rowsNeededLocked(t, k) > freeRowsLocked(t)) throw full(t.capacity);
      beginWrite(w, H_GEN);
      try {
        addRefsLocked(t, k);
      } finally {
        endWrite(w, H_GEN);
      }
      return true;
    } finally {
      unlock(w, H_LOCK);
    }
  }

  #releaseKey(k: ReservationKey): void {
    const w = this.#words;
    lock(w, H_LOCK);
    try {
      beginWrite(w, H_GEN);
      try {
        dropRefsLocked(this.#table, k);
      } finally {
        endWrite(w, H_GEN);
      }
    } finally {
      unlock(w, H_LOCK);
    }
  }

  /** Runs the caller's tester on a reservation already in the table; releases it unless accepted. */
  #runTester(k: ReservationKey, testPort: PortTester): boolean {
    let ok: boolean;
    try {
      ok = testPort(k.port) === true;
    } catch (err) {
      this.#releaseKey(k);
      throw err;
    }
    if (!ok) this.#releaseKey(k);
    return ok;
  }
}

function validateRange(start: unknown, end: unknown, startName: string, endName: string): asserts start is number {
  validateInteger(start, startName, 1, 65535);
  validateInteger(end, endName, 1, 65535);
  if (start > end) {
    throw new NetshardError('ERR_OUT_OF_RANGE', `${startName} (${start}) must be <= ${endName} (${end})`);
  }
}

function inUse(k: ReservationKey): NetshardError {
  const addr = formatAddressKey(k.addrKind, k.addr0, k.addr1, k.addr2, k.addr3) || '*';
  const dev = k.device !== 0 ? ` on device ${k.device}` : '';
  return new NetshardError('EADDRINUSE', `port ${k.port} (transport ${k.transport}) is in use on ${addr}${dev}`,
    { errno: EADDRINUSE_ERRNO, syscall: 'bind' });
}

function full(capacity: number): NetshardError {
  return new NetshardError('ENOSPC',
    `port table is full: all ${capacity} rows are in use (raise PortManager.create({ capacity }))`);
}
