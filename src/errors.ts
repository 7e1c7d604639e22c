/**
 * The one error class netshard throws, and the codes it carries.
 * Imports nothing; imported by any folder.
 */

/** Codes: Node's for bad arguments, the errno name for what a socket call would report, `ERR_NETSHARD_*` for the rest. */
export type ErrorCode =
  | 'ERR_INVALID_ARG_TYPE'
  | 'ERR_INVALID_ARG_VALUE'
  | 'ERR_OUT_OF_RANGE'
  | 'ERR_SOCKET_DGRAM_NOT_RUNNING'
  | 'ERR_SOCKET_DGRAM_IS_CONNECTED'
  | 'ERR_SOCKET_DGRAM_NOT_CONNECTED'
  | 'ERR_SOCKET_BAD_PORT'
  | 'EADDRINUSE'
  | 'EADDRNOTAVAIL'
  | 'EAGAIN'
  | 'EINVAL'
  | 'ENOBUFS'
  | 'ENOSPC'
  | 'EPERM'
  | 'ENOENT'
  | 'ENODEV'
  | 'EBADF'
  | 'ECONNRESET'
  | `E${Uppercase<string>}`
  | `ERR_NETSHARD_${string}`;

/** The one error class netshard throws; match on `code`, not on the class. */
export class NetshardError extends Error {
  readonly code: ErrorCode;
  /** Positive errno when the error reports a failed syscall. */
  readonly errno: number | undefined;
  /** The syscall that failed, when there was one. */
  readonly syscall: string | undefined;
  constructor(code: ErrorCode, message: string, options?: ErrorOptions & { errno?: number; syscall?: string }) {
    super(message, options);
    this.name = 'NetshardError';
    this.code = code;
    this.errno = options?.errno;
    this.syscall = options?.syscall;
  }
}

/** The plain shape an error takes to cross threads (`postMessage` drops `code` and `name`). */
export interface SerializedError {
  code: ErrorCode;
  message: string;
  errno?: number | undefined;
  syscall?: string | undefined;
}

/** Returns the plain shape of `err` for `postMessage`. Thread: any. */
export function serializeError(err: unknown): SerializedError {
  if (err instanceof NetshardError) {
    return { code: err.code, message: err.message, errno: err.errno, syscall: err.syscall };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { code: 'ERR_NETSHARD_INTERNAL', message };
}

/** Rebuilds a `NetshardError` from what `serializeError` produced. Thread: any. */
export function deserializeError(e: SerializedError): NetshardError {
  const opts: { errno?: number; syscall?: string } = {};
  if (e.errno !== undefined) opts.errno = e.errno;
  if (e.syscall !== undefined) opts.syscall = e.syscall;
  return new NetshardError(e.code, e.message, opts);
}
