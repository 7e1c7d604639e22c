/**
 * Ephemeral port choice: RFC 6056 Algorithm 1 ("simple port randomization") as gVisor's
 * `pickEphemeralPort` runs it, and the random offsets it starts from.
 * Thread: any. `randomOffset` allocates nothing per call (it refills a 64-value cache).
 */
import { webcrypto } from 'node:crypto';

/** Decides whether a candidate port will do. Returns true to accept; may throw to stop the search. */
export type PortTester = (port: number) => boolean;

/** Returned by `pickEphemeralPortAt` when the tester accepted no port. */
export const NO_PORT = -1;

/**
 * Tries `first + (offset + i) % count` for i = 0 .. count-1 and returns the first port `test` accepts,
 * or NO_PORT. A throwing tester ends the search with its error. Thread: any; takes no lock.
 * The offset is reduced modulo `count` first, so the sum never wraps: gVisor adds in uint32, and for an
 * offset within `count` of 2^32 the wrapped sequence repeats some ports and never tries others (its
 * TestOverflow only covers the uint16 case). For every other offset the order is gVisor's.
 */
export function pickEphemeralPortAt(offset: number, first: number, count: number, test: PortTester): number {
  const start = (offset >>> 0) % count;
  for (let i = 0; i < count; i++) {
    const port = first + ((start + i) % count);
    if (test(port) === true) return port;
  }
  return NO_PORT;
}

const cache = new Uint32Array(64);
let cached = 0;

/**
 * Returns a uniformly random uint32 from the platform's CSPRNG: gVisor draws the offset from the stack's
 * SecureRNG so that ports are hard to predict (RFC 6056 §3). Thread: any (the cache is per thread).
 */
export function randomOffset(): number {
  if (cached === 0) {
    webcrypto.getRandomValues(cache);
    cached = cache.length;
  }
  return cache[--cached] ?? 0;
}
