/**
 * Opens AF_UNIX socketpairs: the packet fds of tests, benches and unprivileged runs (gVisor's endpoint
 * tests use SOCK_SEQPACKET pairs, its dispatch tests SOCK_DGRAM; REFERENCE-gvisor.md §2.10).
 *
 * SOCK_SEQPACKET keeps message boundaries and reports the peer's close (POLLHUP, then 0-byte reads);
 * SOCK_DGRAM keeps boundaries but never reports a dead peer (wait with a timeout). Both are CLOEXEC.
 * Thread: any. Control path.
 */
import { validateBoolean, validateInteger, validateObject, validateOneOf } from '../validate.ts';
import {
  AF_UNIX,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SOCK_SEQPACKET,
  SOL_SOCKET,
  SO_RCVBUF,
  SO_SNDBUF,
  close,
  errnoError,
  setsockoptInt,
  socketpair,
} from './syscalls.ts';

/** Socket types `openSocketPair` makes. */
export type SocketPairType = 'seqpacket' | 'dgram';

/** Options of `openSocketPair`. */
export interface SocketPairOptions {
  /** 'seqpacket' (default) or 'dgram'. */
  type?: SocketPairType;
  /** Open both ends O_NONBLOCK. Default false (an endpoint makes its own end non-blocking). */
  nonBlocking?: boolean;
  /** SO_RCVBUF for both ends, in bytes (the kernel doubles it). Default: the system's. */
  receiveBuffer?: number;
  /** SO_SNDBUF for both ends, in bytes (the kernel doubles it). Default: the system's. */
  sendBuffer?: number;
}

const KEYS = ['type', 'nonBlocking', 'receiveBuffer', 'sendBuffer'] as const;

/**
 * Opens a connected AF_UNIX pair and returns its two fds; the caller owns and closes both (`closeFds`).
 * Throws ERR_INVALID_ARG_* on bad options, the errno name (EMFILE, …) when the kernel refuses.
 */
export function openSocketPair(options: SocketPairOptions = {}): [number, number] {
  validateObject(options, 'options', KEYS);
  const type = options.type ?? 'seqpacket';
  validateOneOf(type, 'options.type', ['seqpacket', 'dgram'] as const);
  const nonBlocking = options.nonBlocking ?? false;
  validateBoolean(nonBlocking, 'options.nonBlocking');
  if (options.receiveBuffer !== undefined) validateInteger(options.receiveBuffer, 'options.receiveBuffer', 1, 0x3fff_ffff);
  if (options.sendBuffer !== undefined) validateInteger(options.sendBuffer, 'options.sendBuffer', 1, 0x3fff_ffff);
  const sv = new Int32Array(2);
  const flags = (type === 'seqpacket' ? SOCK_SEQPACKET : SOCK_DGRAM) | SOCK_CLOEXEC | (nonBlocking ? SOCK_NONBLOCK : 0);
  const r = socketpair(AF_UNIX, flags, 0, sv);
  if (r < 0) throw errnoError('socketpair', r);
  const fds: [number, number] = [sv[0] as number, sv[1] as number];
  try {
    for (const fd of fds) {
      if (options.receiveBuffer !== undefined) setOption(fd, SO_RCVBUF, options.receiveBuffer, 'SO_RCVBUF');
      if (options.sendBuffer !== undefined) setOption(fd, SO_SNDBUF, options.sendBuffer, 'SO_SNDBUF');
    }
  } catch (err) {
    closeFds(fds);
    throw err;
  }
  return fds;
}

function setOption(fd: number, name: number, value: number, label: string): void {
  const r = setsockoptInt(fd, SOL_SOCKET, name, value);
  if (r < 0) throw errnoError('setsockopt', r, `(${label})`);
}

/** Closes every fd in `fds`, ignoring ones already closed. Thread: any. */
export function closeFds(fds: Iterable<number>): void {
  for (const fd of fds) close(fd);
}
