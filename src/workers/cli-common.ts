/**
 * What the `netshard` commands (`cli-*.ts`, dispatched by `src/main.ts`) share: exit codes, usage errors
 * (one line, exit 2), option checks, the stop signals, and address / prefix parsing at the edge (strings in,
 * bytes out).
 *
 * Thread: main. Control path throughout.
 */
import { NetshardError } from '../errors.ts';
import { parseIpv4, parseIpv6 } from '../tcpip/index.ts';

/** Process exit codes: ok (also after Ctrl-C / SIGTERM), runtime failure, bad usage. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** Whether an error code means bad usage (exit 2): ours, or Node's for a bad argument / out of range. */
export function isUsageCode(code: string): boolean {
  return code === 'ERR_NETSHARD_USAGE' || code === 'ERR_OUT_OF_RANGE' || code.startsWith('ERR_INVALID_ARG_');
}

/** Returns the usage error (ERR_NETSHARD_USAGE, exit 2) with the one-line `message`, for the caller to throw. */
export function usage(message: string): NetshardError {
  return new NetshardError('ERR_NETSHARD_USAGE', message);
}

/** Why a running command stopped. */
export type StopReason = 'SIGINT' | 'SIGTERM' | 'duration' | 'link-ended';

/**
 * Sends SIGINT / SIGTERM to `stop(signal)` until `release()`. After `markStopping()` a second signal exits
 * at once (130), so a stop that hangs can still be left with another Ctrl-C. Used by forward and serve.
 */
export function trapStopSignals(stop: (signal: 'SIGINT' | 'SIGTERM') => void): { markStopping(): void; release(): void } {
  let stopping = false;
  const handler = (signal: 'SIGINT' | 'SIGTERM') => () => {
    if (stopping) process.exit(130);
    stop(signal);
  };
  const onInt = handler('SIGINT');
  const onTerm = handler('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return {
    markStopping: () => void (stopping = true),
    release: () => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    },
  };
}

// ─── Options ────────────────────────────────────────────────────────────────────────────────────────────

/** Most fds (and dispatch workers) per interface: `--workers` of forward and serve. */
export const MAX_WORKERS_PER_LINK = 64;
/** An interface name as the kernel takes it: 1..15 bytes, no '/', ':' or whitespace. */
export const IFNAME = /^[^\s/:]{1,15}$/;

/** A parseArgs error as one usage line (its messages add advice after the first sentence). */
export function usageFromParseArgs(err: unknown): NetshardError {
  const text = err instanceof Error ? err.message : String(err);
  // "--duration -1": parseArgs reads '-1' as an option and calls the value ambiguous; say what to type.
  const ambiguous = /^Option '(-[-\w]+)' argument is ambiguous/.exec(text);
  if (ambiguous !== null) {
    return usage(`option '${ambiguous[1]}' needs a value; one that starts with '-' is written ${ambiguous[1]}=VALUE`);
  }
  return usage(text.split(/\.(?:\s|$)/)[0]!.replace(/^[A-Z]/, (c) => c.toLowerCase()));
}

/** `flag`'s decimal integer in `min..max`, `fallback` when absent. Throws ERR_NETSHARD_USAGE. */
export function integerOption(text: string | undefined, flag: string, min: number, max: number, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) throw usage(`${flag} must be an integer from ${min} to ${max}, received '${text}'`);
  return n;
}

/** `--duration SECONDS`: 0 when absent. */
export function durationOption(text: string | undefined): number {
  if (text === undefined) return 0;
  const duration = Number(text);
  if (text.trim() === '' || !Number.isFinite(duration) || duration <= 0 || duration > 31_536_000) {
    throw usage(`--duration must be a number of seconds above 0, received '${text}'`);
  }
  return duration;
}

/** A counter as printed: rounded, no separators. */
export const count = (n: number): string => String(Math.round(n));

// ─── Addresses and prefixes (edges only: strings in, bytes out) ─────────────────────────────────────────

/** An IPv4 or IPv6 address as typed, with its bytes (4 or 16). */
export interface IpAddress {
  text: string;
  family: 4 | 6;
  bytes: Uint8Array;
}

/** An address with a prefix length (`198.18.1.0/24`); `text` is the whole CIDR. */
export interface IpPrefix extends IpAddress {
  length: number;
}

/** Parses an IPv4 or IPv6 address; null when `text` is neither. Allocates its bytes. */
export function parseAddress(text: string): IpAddress | null {
  const v4 = parseIpv4(text);
  if (v4 >= 0) return { text, family: 4, bytes: new Uint8Array([v4 >>> 24, (v4 >>> 16) & 0xff, (v4 >>> 8) & 0xff, v4 & 0xff]) };
  const bytes = new Uint8Array(16);
  return parseIpv6(text, bytes) ? { text, family: 6, bytes } : null;
}

/** Parses `ADDR/LENGTH`; null when it is not one (no slash, bad address, length past the family's bits). */
export function parsePrefix(text: string): IpPrefix | null {
  const slash = text.indexOf('/');
  if (slash < 0) return null;
  const address = parseAddress(text.slice(0, slash));
  const lengthText = text.slice(slash + 1);
  if (address === null || !/^\d{1,3}$/.test(lengthText)) return null;
  const length = Number(lengthText);
  return length <= address.bytes.length * 8 ? { ...address, text, length } : null;
}

/** Whether the first `bits` bits of `a` and `b` agree. */
function samePrefix(a: Uint8Array, b: Uint8Array, bits: number): boolean {
  for (let i = 0; i < bits; i++) if (((a[i >> 3]! ^ b[i >> 3]!) & (0x80 >> (i & 7))) !== 0) return false;
  return true;
}

/** Whether every bit of `p` past its prefix length is 0 (`198.18.1.0/24` yes, `198.18.1.1/24` no). */
export function hostBitsZero(p: IpPrefix): boolean {
  return samePrefix(p.bytes, new Uint8Array(p.bytes.length), p.bytes.length * 8) || samePrefix(p.bytes, networkOf(p), p.bytes.length * 8);
}

/** `p`'s address with the host bits cleared. */
function networkOf(p: IpPrefix): Uint8Array {
  const out = new Uint8Array(p.bytes.length);
  for (let i = 0; i < p.length; i++) out[i >> 3]! |= p.bytes[i >> 3]! & (0x80 >> (i & 7));
  return out;
}
