/**
 * What transport endpoints need from a port manager, stated inside tcpip so that tcpip never imports
 * `src/ports` (the layering rule: ports depends on tcpip, not the reverse). The shapes equal
 * `src/ports`' `Flags`, `Reservation` and `PortManager.reservePort/releasePort`, so a real PortManager
 * is a `PortReserver` by structural typing (`test/tcpip/stack/udp-endpoint.test.ts` checks both the
 * type and the flag values).
 *
 * Also here: the reuse flags as numbers and the 8-entry flag counter the demuxer keeps per group of
 * endpoints (gVisor `pkg/tcpip/ports/flags.go`, REFERENCE-gvisor.md §1.1), over a plain `Int32Array`
 * because the demuxer's state is thread-local.
 *
 * Thread: any. No allocation in the counter functions.
 */
import type { NetworkProtocolNumber } from '../protocols.ts';

/** Reuse flag MostRecent (bit 0): UDP SO_REUSEADDR; the newest endpoint gets unicast packets. */
export const REUSE_FLAG_MOST_RECENT = 1;
/** Reuse flag LoadBalanced (bit 1): SO_REUSEPORT; a flow hash picks the endpoint. Wins over MostRecent. */
export const REUSE_FLAG_LOAD_BALANCED = 2;
/** Reuse flag TupleOnly (bit 2): TCP SO_REUSEADDR; plays no part in the demuxer. */
export const REUSE_FLAG_TUPLE_ONLY = 4;
/** Every reuse flag bit (gVisor `FlagMask`). */
export const REUSE_FLAG_MASK = 7;
/** The flags that let one endpoint ID be registered more than once; all the demuxer looks at (gVisor `MultiBindFlagMask`). */
export const MULTI_BIND_FLAG_MASK = REUSE_FLAG_MOST_RECENT | REUSE_FLAG_LOAD_BALANCED;

/** A port reservation, the same shape as `src/ports`' `Reservation` (gVisor `ports.Reservation`). */
export interface PortReservation {
  /** Network protocols to reserve in: `[IPV4]`, `[IPV6]`, or both for a dual-stack wildcard bind. */
  networks: readonly NetworkProtocolNumber[];
  /** IP protocol number of the transport (17 for UDP). */
  transport: number;
  /** Local address as text; '' (or '0.0.0.0' / '::') is the wildcard. */
  address: string;
  /** Local port; 0 asks for an ephemeral port. */
  port: number;
  /** Reuse flags, a combination of the `REUSE_FLAG_*` bits. */
  flags: number;
  /** NIC id the endpoint is bound to (SO_BINDTODEVICE); 0 or absent = none. */
  bindToDevice?: number;
  /** Remote end of a connected reservation; UDP never sets it (gVisor reserves UDP ports locally only). */
  destination?: { address: string; port: number };
}

/**
 * The part of a port manager transport endpoints use. `src/ports`' PortManager satisfies it; pass one in.
 * `reservePort` returns the port it reserved (an ephemeral one when `res.port` is 0) and throws a
 * NetshardError (`EADDRINUSE`, or a no-port-available code) when it cannot; `releasePort` drops the
 * reference `reservePort` added, for exactly the same reservation (with the port it returned).
 */
export interface PortReserver {
  reservePort(res: PortReservation): number;
  releasePort(res: PortReservation): void;
}

/** Number of counts in a flag counter: one per combination of the three bits. */
export const FLAG_COUNTER_SIZE = 8;

/** Returns `flags` with MostRecent cleared when LoadBalanced is also set (gVisor `Flags.Effective`). */
export function effectiveFlags(flags: number): number {
  const bits = flags & REUSE_FLAG_MASK;
  return (bits & REUSE_FLAG_LOAD_BALANCED) !== 0 ? bits & ~REUSE_FLAG_MOST_RECENT : bits;
}

/**
 * Returns the flags every reference in `refs` (a flag counter: `refs[bits]` counts references with
 * exactly those bits) has in common: the AND of every combination with a reference; 7 when empty
 * (gVisor `FlagCounter.SharedFlags`).
 */
export function sharedFlagsOf(refs: Int32Array): number {
  let shared = REUSE_FLAG_MASK;
  for (let i = 0; i < FLAG_COUNTER_SIZE; i++) if (refs[i]! > 0) shared &= i;
  return shared;
}
