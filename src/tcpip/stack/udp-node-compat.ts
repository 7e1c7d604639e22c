/**
 * node:dgram's argument checks and error shapes, so UdpEndpoint throws and reports what Node would:
 * the same codes and messages (checked against Node 20 in the tests), and socket-call errors as
 * `bind EADDRINUSE 0.0.0.0:53` with errno and syscall.
 *
 * Thread: any. Control path (allocates).
 */
import { Buffer } from 'node:buffer';
import { inspect } from 'node:util';
import { NetshardError, type ErrorCode } from '../../errors.ts';

/** Linux errno numbers of the codes UDP sockets report (ENOTFOUND is a resolver code, no errno). */
const ERRNO: Readonly<Record<string, number>> = {
  EADDRINUSE: 98, EINVAL: 22, ENETUNREACH: 101, ENOBUFS: 105, EMSGSIZE: 90, EBADF: 9, ENOSPC: 28,
};

/** Node's `determineSpecificType`: how an error message describes a received value. */
export function received(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'function') return `function ${value.name}`;
  if (typeof value === 'object') {
    const name = (value as { constructor?: { name?: string } }).constructor?.name;
    return name ? `an instance of ${name}` : inspect(value, { depth: -1 });
  }
  let shown = inspect(value, { colors: false });
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`;
  return `type ${typeof value} (${shown})`;
}

/** Node's `validatePort`: a number or numeric string in 0..65535 (1..65535 without `allowZero`). */
export function validatePort(port: unknown, allowZero: boolean): number {
  if ((typeof port !== 'number' && typeof port !== 'string') ||
    (typeof port === 'string' && port.trim().length === 0) ||
    +port !== (+port >>> 0) || +port > 0xffff || (port === 0 && !allowZero)) {
    throw new NetshardError('ERR_SOCKET_BAD_PORT',
      `Port should be ${allowZero ? '>=' : '>'} 0 and < 65536. Received ${received(port)}.`);
  }
  return +port | 0;
}

/** Throws Node's ERR_INVALID_ARG_TYPE unless `address` is a string. */
export function validateAddressArgument(address: unknown): asserts address is string {
  if (typeof address !== 'string') {
    throw new NetshardError('ERR_INVALID_ARG_TYPE', `The "address" argument must be of type string. Received ${received(address)}`);
  }
}

/** Returns `msg` as a list of byte views (strings UTF-8 encoded), or null when a piece is of another type. */
export function toPieces(msg: unknown): Uint8Array[] | null {
  const one = (piece: unknown): Uint8Array | null => {
    if (typeof piece === 'string') return Buffer.from(piece);
    if (ArrayBuffer.isView(piece)) return new Uint8Array(piece.buffer, piece.byteOffset, piece.byteLength);
    return null;
  };
  if (!Array.isArray(msg)) {
    const piece = one(msg);
    return piece === null ? null : [piece];
  }
  const pieces: Uint8Array[] = [];
  for (const item of msg) {
    const piece = one(item);
    if (piece === null) return null;
    pieces.push(piece);
  }
  return pieces;
}

/** Builds the error a socket call reports: code, errno, syscall and Node's `syscall CODE address:port` message. */
export function socketError(code: ErrorCode, syscall: string, address: string, port: number, cause?: unknown): NetshardError {
  const where = syscall === 'getaddrinfo' ? address : `${address}${port >= 0 ? `:${port}` : ''}`;
  const message = where === '' ? `${syscall} ${code}` : `${syscall} ${code} ${where}`;
  const options: ErrorOptions & { errno?: number; syscall?: string } = { syscall };
  const errno = ERRNO[code];
  if (errno !== undefined) options.errno = errno;
  if (cause !== undefined) options.cause = cause;
  return new NetshardError(code, message, options);
}

/** The errno name a failed reservation or registration reports (Linux: bind(0) with no port left is EADDRINUSE). */
export function bindErrorCode(err: unknown): ErrorCode {
  if (!(err instanceof NetshardError)) return 'ERR_NETSHARD_INTERNAL';
  return err.code === 'ERR_NETSHARD_NO_PORT_AVAILABLE' ? 'EADDRINUSE' : err.code;
}
