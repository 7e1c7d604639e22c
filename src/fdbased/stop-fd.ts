/**
 * StopFd: an eventfd plus a stop flag in a SharedArrayBuffer, in the shape of gVisor's `stopfd` package
 * (REFERENCE-gvisor.md §2.5), and the one poll a dispatcher sleeps in: {fd, eventfd}.
 *
 * The eventfd serves two purposes: `wake()` (work arrived elsewhere, e.g. on a tx ring; the sleeper returns
 * `Woken`) and `stop()` (sets the flag, then wakes; every later wait returns `Stopped`). Any thread can
 * wake or stop a sleeper given its `StopHandle` (the eventfd number and the flag's buffer: fds and
 * SharedArrayBuffers are process-wide).
 *
 * Thread: `wait()` runs on the owning thread (it blocks that thread only); `wake()`/`stop()` on any thread.
 */
import {
  EFD_CLOEXEC,
  EFD_NONBLOCK,
  EAGAIN,
  EBADF,
  EINTR,
  POLLERR,
  POLLFD_EVENTS,
  POLLFD_FD,
  POLLFD_REVENTS,
  POLLHUP,
  POLLIN,
  POLLNVAL,
  SIZEOF_POLLFD,
  close,
  eventfd,
  errnoError,
  poll,
  pointerOf,
  read,
  write,
} from './syscalls.ts';

/** What `wait()` saw; a negative value is `-errno` from poll. */
export const WaitResult = {
  /** The timeout passed with nothing to do. */
  Timeout: 0,
  /** The fd has something to read (or an error to collect: read it). */
  Ready: 1,
  /** `stop()` was called: end the loop. Sticky: every later wait says so too. */
  Stopped: 2,
  /** `wake()` was called (and not `stop()`): look at your other work. */
  Woken: 3,
  /** The fd reported POLLHUP/POLLERR with nothing left to read: the peer is gone (gVisor: ECONNRESET). */
  Hangup: 4,
} as const;
export type WaitResult = (typeof WaitResult)[keyof typeof WaitResult];

/** Words of the flag buffer. */
const FLAG_STOPPED = 0;
const FLAG_WORDS = 1;

/** What another thread needs to wake or stop a sleeper: post it as is (plain data). */
export interface StopHandle {
  /** The eventfd number (fds are process-wide). */
  eventFd: number;
  /** The stop flag: Int32 word 0 is 1 once stopped. */
  flags: SharedArrayBuffer;
}

// One 8-byte value to write to an eventfd (1) and one to read into; per thread, never shared.
const ONE = new BigUint64Array([1n]);
const SINK = new BigUint64Array(1);

/** Adds 1 to eventfd `eventFd`; returns 0 or -errno. No allocation. */
function signal(eventFd: number): number {
  const r = write(eventFd, ONE, 8);
  // EAGAIN: the counter is at its maximum, so the sleeper is awake anyway.
  return r >= 0 || r === -EAGAIN ? 0 : r;
}

/** Wakes the sleeper behind `handle`; returns 0 or -errno. Thread: any. No allocation. */
export function wakeHandle(handle: StopHandle): number {
  return signal(handle.eventFd);
}

/** Stops the sleeper behind `handle`: sets the flag, then wakes it. Returns 0 or -errno. Thread: any. */
export function stopHandle(handle: StopHandle): number {
  Atomics.store(new Int32Array(handle.flags), FLAG_STOPPED, 1);
  return signal(handle.eventFd);
}

/**
 * An eventfd (EFD_NONBLOCK | EFD_CLOEXEC) and a stop flag, plus a two-entry pollfd table built once
 * (`[fd, eventfd]`, passed by cached address). Owned by one thread, which waits; closed by `close()`.
 */
export class StopFd {
  /** The eventfd. */
  readonly eventFd: number;
  /** The stop flag (Int32 word 0), in a SharedArrayBuffer so any thread can set it. */
  readonly flags: Int32Array;
  private readonly table: DataView;
  private readonly tableAddress: bigint;
  private closed = false;

  private constructor(eventFd: number, flags: SharedArrayBuffer) {
    this.eventFd = eventFd;
    this.flags = new Int32Array(flags);
    const buffer = new SharedArrayBuffer(2 * SIZEOF_POLLFD);
    this.table = new DataView(buffer);
    this.tableAddress = pointerOf(new Uint8Array(buffer));
    // Record 1 is the eventfd, record 0 the watched fd (set per wait).
    this.table.setInt32(SIZEOF_POLLFD + POLLFD_FD, eventFd, true);
    this.table.setInt16(SIZEOF_POLLFD + POLLFD_EVENTS, POLLIN, true);
    this.table.setInt32(POLLFD_FD, -1, true);
  }

  /** Opens a new eventfd and flag. Thread: the one that will wait. Throws the errno name (EMFILE, …). */
  static create(): StopFd {
    const efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (efd < 0) throw errnoError('eventfd', efd);
    return new StopFd(efd, new SharedArrayBuffer(FLAG_WORDS * 4));
  }

  /** Returns what another thread needs to `wakeHandle`/`stopHandle` this sleeper. Thread: any. */
  get handle(): StopHandle {
    return { eventFd: this.eventFd, flags: this.flags.buffer as SharedArrayBuffer };
  }

  /** Returns true once `stop()` was called (by any thread). Thread: any. */
  get stopped(): boolean {
    return Atomics.load(this.flags, FLAG_STOPPED) === 1;
  }

  /** Wakes the waiter (it returns `Woken`). Returns 0 or -errno. Thread: any holding this object. */
  wake(): number {
    return signal(this.eventFd);
  }

  /** Stops the waiter: sets the flag, then wakes it. Returns 0 or -errno. Thread: any holding this object. */
  stop(): number {
    Atomics.store(this.flags, FLAG_STOPPED, 1);
    return signal(this.eventFd);
  }

  /**
   * Sleeps in one poll over {`fd` with `events`, the eventfd POLLIN} for up to `timeoutMs` (-1: no limit;
   * prefer a finite one, a dead AF_UNIX datagram peer never wakes anyone). Returns a `WaitResult` or
   * -errno; EINTR returns `Timeout` (retry). Stop wins over everything; data wins over a hang-up, so what
   * the peer sent before closing is still read (the read then reports EOF). Thread: the owner. No allocation.
   */
  wait(fd: number, timeoutMs: number, events = POLLIN): number {
    if (Atomics.load(this.flags, FLAG_STOPPED) === 1) return WaitResult.Stopped;
    const t = this.table;
    t.setInt32(POLLFD_FD, fd, true);
    t.setInt16(POLLFD_EVENTS, events, true);
    t.setInt16(POLLFD_REVENTS, 0, true);
    t.setInt16(SIZEOF_POLLFD + POLLFD_REVENTS, 0, true);
    const r = poll(this.tableAddress, 2, timeoutMs);
    if (r < 0) return r === -EINTR ? WaitResult.Timeout : r;
    if (r === 0) return WaitResult.Timeout;
    const stopRevents = t.getInt16(SIZEOF_POLLFD + POLLFD_REVENTS, true);
    if ((stopRevents & POLLIN) !== 0) {
      read(this.eventFd, SINK, 8); // reset the counter; a concurrent wake is folded into this one
      if (Atomics.load(this.flags, FLAG_STOPPED) === 1) return WaitResult.Stopped;
    }
    const revents = t.getInt16(POLLFD_REVENTS, true);
    if ((revents & POLLNVAL) !== 0) return -EBADF; // the fd is not open
    if ((revents & events) !== 0) return WaitResult.Ready;
    if ((revents & (POLLHUP | POLLERR)) !== 0) return WaitResult.Hangup;
    return (stopRevents & POLLIN) !== 0 ? WaitResult.Woken : WaitResult.Timeout;
  }

  /** Closes the eventfd. Idempotent. Thread: the owner, after its loop ended. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const r = close(this.eventFd);
    if (r < 0) throw errnoError('close', r, `eventfd ${this.eventFd}`);
  }
}
