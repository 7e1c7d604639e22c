/**
 * The forwarding hook of the dispatch loop: per received packet, a `Forwarder` says Forward (it has
 * already rewritten the packet for its egress link), ToStack (with a `HandoffReason` the stack can answer),
 * or Drop; it may also hand back a frame of its own to send (an ICMP error). The loop then sends
 * forwarded packets itself, run-to-completion, on the egress link's `fds[hash % n]`.
 *
 * A forwarder is built inside each worker from plain data (`ForwardingConfig`, posted in `init` and in
 * `reconfigure`), since objects do not cross threads. `createForwarder` (`create-forwarder.ts`) picks
 * the implementation: `StackForwarder` (the stack's `forwardPacket`, `src/tcpip/stack/forward.ts`) when
 * every link carries Ethernet, `RouteForwarder` for bare-IP links (TUN, socketpairs), which
 * `forward.ts` does not handle yet, and `BridgeForwarder` for `kind: 'bridge'` (L2, two links).
 *
 * Thread: `validateForwardingConfig` any (control path, throws); a `Forwarder` belongs to one worker.
 */
import { NetshardError } from '../errors.ts';
import type { ParsedPacket } from '../tcpip/index.ts';
import { validateArray, validateInteger, validateObject, validateOneOf, validateString } from '../validate.ts';

/** What the dispatch loop does with a packet. */
export const ForwardVerdict = {
  /** Rewritten in place; send `[decision.start, decision.end)` on `decision.link`. */
  Forward: 0,
  /** Publish to the coordinator with `decision.reason` in the descriptor's user word. */
  ToStack: 1,
  /** Free the frame and count it (`forwardDrops`). */
  Drop: 2,
} as const;
export type ForwardVerdict = (typeof ForwardVerdict)[keyof typeof ForwardVerdict];

/** Why a packet goes to the stack (descriptor word `DESC_USER`): what the stack may answer. */
export const HandoffReason = {
  /** The engine forwards nothing (no forwarding configured): every packet is the stack's. */
  NoForwarding: 0,
  /** Addressed to one of the engine's addresses, or to a multicast/broadcast IP address. */
  Local: 1,
  /** Sent to a link-layer broadcast or multicast address. */
  LinkMulticast: 2,
  /** An ARP packet. */
  Arp: 3,
  /**
   * TTL / hop limit would reach 0: ICMP time exceeded (RFC 1812 §5.3.1). Nothing was changed. The route
   * and stack forwarders answer this in the worker and never hand it on; the value stays for forwarders
   * that leave the answer to the coordinator's stack.
   */
  TtlExceeded: 4,
  /** No route matches (the route and stack forwarders drop and count it in the worker instead). */
  NoRoute: 5,
  /** The egress link needs a next-hop MAC the forwarder does not know: resolve (ARP/NDP), then send. */
  NoNeighbor: 6,
  /**
   * Longer than the egress link's MTU: fragment, or ICMP fragmentation needed / packet too big. The route
   * and stack forwarders answer (or, IPv4 without DF, drop) it in the worker and never hand it on.
   */
  TooBig: 7,
  /** Link-local source or destination: a router must not forward it (RFC 3927, RFC 4291 §2.5.6). */
  NotForwardable: 8,
} as const;
export type HandoffReason = (typeof HandoffReason)[keyof typeof HandoffReason];

/** What `Forwarder.decide` fills in; one per worker, reused for every packet. */
export class ForwardDecision {
  /** Egress link index (Forward). */
  link = -1;
  /** Absolute offsets in the pool's view of the bytes to send (Forward): link header included. */
  start = 0;
  end = 0;
  /** Why it goes to the stack (ToStack). */
  reason: HandoffReason = HandoffReason.NoForwarding;
  /** When > 0 (whatever the action): also send `scratch[extraOffset, +extraLength)` on `extraLink` (an ICMP error). The loop zeroes it before each decide. */
  extraLength = 0;
  extraOffset = 0;
  extraLink = -1;
}

/**
 * The per-packet forwarding decision: route lookup, TTL, link-header rewrite. Precondition: `parsed`
 * came from `parsePacket` returning Ok for the frame in `view` received on `ingressLink`, with at least
 * 14 bytes of room before `parsed.networkOffset` (the dispatch loop's receive headroom) so an Ethernet
 * header can be written in front of a bare IP packet. `now` is the engine's coarse clock (integer ms,
 * `CLOCK_WORD`). Thread: its worker. Hot path: no allocation, no throw.
 */
export interface Forwarder {
  /** Memory of the frames it writes itself (`extra*`), over a SharedArrayBuffer; null when it writes none. */
  readonly scratch: Uint8Array | null;
  decide(view: DataView, ingressLink: number, parsed: ParsedPacket, now: number, out: ForwardDecision): ForwardVerdict;
  /**
   * Applies next-hop changes the coordinator's neighbor table made (`NeighborChange`), between two
   * batches. Absent on a forwarder without a neighbor table (bare IP). Control path: throws NetshardError.
   */
  updateNeighbors?(changes: readonly NeighborChange[]): void;
}

/**
 * One change to the workers' neighbor tables, as the coordinator's `Stack` learned (or lost) it: `address`
 * on `link` is now at `linkAddress`, or is no longer known (`linkAddress: null`; packets to it go back to
 * the coordinator, NoNeighbor). Sent in batches (`Engine.updateNeighbors`), never per packet.
 */
export interface NeighborChange {
  link: number;
  address: string;
  /** The MAC ('02:00:00:00:00:01'), or null to remove the entry. */
  linkAddress: string | null;
}

/** One of the engine's own addresses: CIDR ('198.18.0.1/24') or bare (a host address), on `link`. */
export interface ForwardAddress {
  link: number;
  address: string;
}

/** A route: packets to `destination` leave on `link`, to `gateway` (or to the destination itself, on-link). */
export interface ForwardRoute {
  /** CIDR, host bits zero: `198.18.1.0/24`, `2001:2:0:1::/64`, `0.0.0.0/0`. */
  destination: string;
  /** Egress link index. */
  link: number;
  /** Next hop address (same family); absent: on-link. */
  gateway?: string;
}

/** A static neighbor: the MAC of `address` on `link` (what ARP/NDP would learn). */
export interface ForwardNeighbor {
  address: string;
  linkAddress: string;
  link: number;
}

/** How workers forward. Plain data: posted to every worker in `init` and `reconfigure`. */
export interface ForwardingConfig {
  /**
   * 'route' (the default): L3 forwarding by the fields below. 'bridge': an L2 bridge of exactly two links
   * of the same kind, every frame sent unchanged on the other link (`BridgeForwarder`); it takes none of
   * the fields below.
   */
  kind?: 'route' | 'bridge';
  /**
   * The engine's own addresses: packets to any of them go to the stack; each with a prefix also makes
   * the on-link route to its subnet, as Linux (and `Stack.addAddress`) do.
   */
  addresses?: ForwardAddress[];
  /** Routes beyond the on-link ones. */
  routes?: ForwardRoute[];
  /**
   * Next-hop MACs for links with an Ethernet header. Workers do not resolve neighbors (ARP and NDP
   * answers reach the coordinator's stack): a packet whose next hop is not listed goes to the stack
   * (NoNeighbor), which resolves it; what it learns reaches the workers as `NeighborChange`s.
   */
  neighbors?: ForwardNeighbor[];
}

/**
 * Checks `config` for an engine of `linkCount` links and returns it. Control path: throws
 * ERR_INVALID_ARG_TYPE / ERR_INVALID_ARG_VALUE / ERR_OUT_OF_RANGE naming the field.
 */
export function validateForwardingConfig(config: unknown, linkCount: number, name = 'forwarding'): ForwardingConfig {
  validateObject(config, name, ['kind', 'addresses', 'routes', 'neighbors']);
  const c = config as unknown as ForwardingConfig;
  if (c.kind !== undefined) validateOneOf(c.kind, `${name}.kind`, ['route', 'bridge'] as const);
  if (c.kind === 'bridge') {
    if (c.addresses !== undefined || c.routes !== undefined || c.neighbors !== undefined) {
      throw new NetshardError('ERR_INVALID_ARG_VALUE', `${name}: a bridge sends every frame unchanged: addresses, routes and neighbors do not apply`);
    }
    if (linkCount !== 2) throw new NetshardError('ERR_INVALID_ARG_VALUE', `${name}: a bridge joins exactly 2 links, the engine has ${linkCount}`);
    return c;
  }
  if (c.addresses !== undefined) {
    validateArray(c.addresses, `${name}.addresses`);
    c.addresses.forEach((a, i) => {
      const at = `${name}.addresses[${i}]`;
      validateObject(a, at, ['link', 'address']);
      validateInteger(a.link, `${at}.link`, 0, linkCount - 1);
      if (typeof a.address === 'string' && a.address.includes('/')) parseCidrFamily(a.address, `${at}.address`);
      else checkAddress(a.address, `${at}.address`);
    });
  }
  if (c.routes !== undefined) validateArray(c.routes, `${name}.routes`);
  (c.routes ?? []).forEach((r, i) => {
    const at = `${name}.routes[${i}]`;
    validateObject(r, at, ['destination', 'link', 'gateway']);
    const family = parseCidrFamily(r.destination, `${at}.destination`);
    validateInteger(r.link, `${at}.link`, 0, linkCount - 1);
    if (r.gateway !== undefined && checkAddress(r.gateway, `${at}.gateway`) !== family) {
      throw new NetshardError('ERR_INVALID_ARG_VALUE', `${at}.gateway must be an IPv${family} address like its destination`);
    }
  });
  if (c.neighbors !== undefined) {
    validateArray(c.neighbors, `${name}.neighbors`);
    c.neighbors.forEach((n, i) => {
      const at = `${name}.neighbors[${i}]`;
      validateObject(n, at, ['address', 'linkAddress', 'link']);
      checkAddress(n.address, `${at}.address`);
      checkMac(n.linkAddress, `${at}.linkAddress`);
      validateInteger(n.link, `${at}.link`, 0, linkCount - 1);
    });
  }
  return c;
}

/**
 * Checks a batch of `NeighborChange`s for an engine of `linkCount` links and returns it. Control path:
 * throws ERR_INVALID_ARG_TYPE / ERR_INVALID_ARG_VALUE / ERR_OUT_OF_RANGE naming the field.
 */
export function validateNeighborChanges(changes: unknown, linkCount: number, name = 'changes'): NeighborChange[] {
  validateArray(changes, name);
  const list = changes as NeighborChange[];
  list.forEach((c, i) => {
    const at = `${name}[${i}]`;
    validateObject(c, at, ['link', 'address', 'linkAddress']);
    validateInteger(c.link, `${at}.link`, 0, linkCount - 1);
    checkAddress(c.address, `${at}.address`);
    if (c.linkAddress !== null) checkMac(c.linkAddress, `${at}.linkAddress`);
  });
  return list;
}

function checkMac(value: unknown, name: string): void {
  validateString(value, name);
  if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(value)) {
    throw new NetshardError('ERR_INVALID_ARG_VALUE', `${name} must be a MAC like "02:00:00:00:00:01", received '${value}'`);
  }
}

/** Returns 4 or 6 for an address string; throws ERR_INVALID_ARG_VALUE otherwise. */
function checkAddress(value: unknown, name: string): 4 | 6 {
  validateString(value, name);
  if (/^\d+\.\d+\.\d+\.\d+$/.test(value)) {
    if (value.split('.').every((p) => Number(p) <= 255)) return 4;
  } else if (value.includes(':') && /^[0-9a-fA-F:.]+$/.test(value)) {
    return 6; // full syntax checked by parseIpv6 when the forwarder is built
  }
  throw new NetshardError('ERR_INVALID_ARG_VALUE', `${name} must be an IPv4 or IPv6 address, received '${value}'`);
}

function parseCidrFamily(value: unknown, name: string): 4 | 6 {
  validateString(value, name);
  const slash = value.indexOf('/');
  if (slash < 0) throw new NetshardError('ERR_INVALID_ARG_VALUE', `${name} must be a CIDR prefix like "198.18.0.0/15", received '${value}'`);
  const family = checkAddress(value.slice(0, slash), name);
  const prefix = Number(value.slice(slash + 1));
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > (family === 4 ? 32 : 128) || value.slice(slash + 1) === '') {
    throw new NetshardError('ERR_OUT_OF_RANGE', `${name} prefix length must be 0..${family === 4 ? 32 : 128}, received '${value}'`);
  }
  return family;
}
