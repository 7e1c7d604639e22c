/**
 * The transport demuxer: which endpoint gets a received TCP/UDP packet, after gVisor's
 * `pkg/tcpip/stack/transport_demuxer.go` (REFERENCE-gvisor.md §3).
 *
 * ```
 *  (network, transport) ──► endpoint ID {localPort, localAddress, remotePort, remoteAddress}
 *                              │   (a WordMap keyed by four int32 words, see below)
 *                              ▼
 *                           EndpointsByNic: NIC 0 (not bound to a device) + one per bound device
 *                              ▼
 *                           MultiPortEndpoint: endpoints in bind order + a flag counter
 * ```
 * Lookup of a unicast packet tries four IDs, the best first, and stops at the first that exists:
 * {lp, la, rp, ra} (connected), {lp, ANY, rp, ra}, {lp, la, 0, ANY} (bound to an address),
 * {lp, ANY, 0, ANY} (bound to the port). In that ID it takes the group of the packet's NIC, or of NIC 0
 * when that NIC has none; there is no fallback to a lower ID and no merging of NIC and NIC 0 (gVisor:
 * the device-bound group shadows the unbound one). Inside a group `selectEndpoint` picks the newest
 * member when every member is MostRecent (and not all LoadBalanced), else the Jenkins hash of the
 * 4-tuple, seeded once per demuxer, scaled onto the members (`reciprocalScale`): one flow always
 * reaches one member. A UDP broadcast or multicast goes to every member of every ID that matches.
 *
 * Keys, without allocation per packet: an ID is four int32 words (local port, local address word,
 * remote port, remote address word). IPv4 addresses are their own word (0.0.0.0 = 0 = ANY); IPv6
 * addresses become small ids when a registration names them (`AddressIds`, `::` = 0), and a packet's
 * IPv6 address is looked up in place in the frame. The four words index a `WordMap` (open addressing
 * over an Int32Array): one probe run per ID tried, no strings, no boxed numbers, no objects.
 *
 * Beyond gVisor: the LoadBalanced (SO_REUSEPORT) members of a group all have one owner id, as Linux
 * requires one effective UID per SO_REUSEPORT group, so another user cannot join a group and take a
 * share of its flows; a different owner gets EADDRINUSE.
 *
 * Thread: one, the stack's (coordinator). Registration is control path: validates, allocates, throws
 * NetshardError. `findEndpoint` and `deliverPacket` are hot path: no allocation, never throw.
 */
import { NetshardError } from '../../errors.ts';
import { validateArray, validateInteger, validateObject, validateOneOf } from '../../validate.ts';
import { demuxHashInt32, jenkinsSum, newFlowHashSeed } from '../flow-hash.ts';
import {
  IPV4_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER, TCP_PROTOCOL_NUMBER, UDP_PROTOCOL_NUMBER,
  type NetworkProtocolNumber,
} from '../protocols.ts';
import { AddressIds } from './transport-address-ids.ts';
import { Admit, EndpointsByNic, type MultiPortEndpoint } from './transport-groups.ts';
import type { TransportEndpoint, TransportPacket } from './transport-packet.ts';
import {
  NETWORKS, parseRegistration, registrationBits, type ParsedRegistration, type TransportEndpointId,
  type TransportRegistration,
} from './transport-registration.ts';
import { WordMap } from './transport-word-map.ts';

export type { TransportEndpointId, TransportRegistration } from './transport-registration.ts';

/** Options of `new TransportDemuxer()`. */
export interface TransportDemuxerOptions {
  /** Network protocols the stack runs. Default both IPv4 and IPv6. */
  networkProtocols?: readonly NetworkProtocolNumber[];
  /** Transport protocols that have endpoints. Default `[UDP_PROTOCOL_NUMBER, TCP_PROTOCOL_NUMBER]`. */
  transportProtocols?: readonly number[];
  /** Seed of the load-balancing hash (gVisor: one random `uint32` per stack). Default random. */
  seed?: number;
}

/** `deliverPacket` result for a packet dropped as invalid (TCP to or from an unspecified, broadcast or multicast address): handled, do not answer it. */
export const DELIVER_INVALID = -1;

const OPTION_KEYS = ['networkProtocols', 'transportProtocols', 'seed'] as const;
const EADDRINUSE_ERRNO = 98;

/** The IDs of one (network, transport) pair (gVisor `transportEndpoints`). */
class ProtocolEndpoints {
  readonly network: NetworkProtocolNumber;
  readonly transport: number;
  readonly isIpv4: boolean;
  readonly ids: WordMap<EndpointsByNic>;
  constructor(network: NetworkProtocolNumber, transport: number, seed: number) {
    this.network = network;
    this.transport = transport;
    this.isIpv4 = network === IPV4_PROTOCOL_NUMBER;
    this.ids = new WordMap<EndpointsByNic>(seed);
  }
}

/**
 * Returns the member gVisor's LoadBalanced choice picks among `n` for one packet: `flow-hash.ts`'
 * `demuxHashInt32` (the demux hash in int32 form, so nothing is boxed per packet), scaled onto `n` as
 * `reciprocalScale` does (the tests compare both with `demuxHashIpv4`/`demuxHashIpv6` + `reciprocalScale`).
 */
function selectIndex(seed: number, localPort: number, remotePort: number, view: DataView, localAt: number, remoteAt: number, addressSize: number, n: number): number {
  const hash = demuxHashInt32(seed, localPort, remotePort, view, localAt, remoteAt, addressSize) >>> 0;
  // floor(hash * n / 2^32) exactly in doubles: split the hash into 16-bit halves (exact for n < 2^37).
  return Math.floor(((hash >>> 16) * n + Math.floor(((hash & 0xffff) * n) / 0x10000)) / 0x10000);
}

/** Routes received transport packets to registered endpoints; see the file comment. */
export class TransportDemuxer {
  /** The load-balancing hash seed (gVisor `stack.seed`). */
  readonly seed: number;
  /** Endpoint tables by transport protocol number, one array per network. */
  readonly #ipv4: (ProtocolEndpoints | undefined)[] = new Array(256).fill(undefined);
  readonly #ipv6: (ProtocolEndpoints | undefined)[] = new Array(256).fill(undefined);
  /** IPv6 address ids, shared by every IPv6 transport. */
  readonly #ipv6Ids: AddressIds;
  // Per-packet scratch: the packet's address words (IPv4) or ids (IPv6, -1 = no registration names it).
  #local = 0;
  #remote = 0;
  /** Groups already visited by one broadcast delivery (at most four IDs). */
  readonly #visited: (EndpointsByNic | null)[] = [null, null, null, null];

  /** Makes a demuxer for the given protocols. Throws ERR_INVALID_ARG_* on bad options. Thread: the stack's. */
  constructor(options: TransportDemuxerOptions = {}) {
    const networks: readonly NetworkProtocolNumber[] = options.networkProtocols ?? NETWORKS;
    const transports: readonly number[] = options.transportProtocols ?? [UDP_PROTOCOL_NUMBER, TCP_PROTOCOL_NUMBER];
    const seed = options.seed ?? newFlowHashSeed();
    validateObject(options, 'options', OPTION_KEYS);
    validateArray(networks, 'options.networkProtocols', 1);
    networks.forEach((n, i) => validateOneOf(n, `options.networkProtocols[${i}]`, NETWORKS));
    validateArray(transports, 'options.transportProtocols', 1);
    transports.forEach((t, i) => validateInteger(t, `options.transportProtocols[${i}]`, 0, 255));
    validateInteger(seed, 'options.seed', 0, 0xffffffff);
    this.seed = seed;
    // The tables' own hashes get seeds derived from the demuxer's, distinct per table.
    this.#ipv6Ids = new AddressIds(jenkinsSum(seed ^ 0x5bd1e995));
    for (const network of networks) {
      const byTransport = network === IPV4_PROTOCOL_NUMBER ? this.#ipv4 : this.#ipv6;
      for (const transport of transports) {
        byTransport[transport] = new ProtocolEndpoints(network, transport, jenkinsSum(seed ^ (network << 8) ^ transport));
      }
    }
  }

  // -------------------------------------------------------------------------------------------------
  // Control path

  /**
   * Registers `endpoint` under `reg` in every network of `reg.networks` (gVisor
   * `RegisterTransportEndpoint`). A remote port other than 0 turns LoadBalanced off (SO_REUSEPORT is
   * for bound endpoints only); TupleOnly is ignored. In the group of (ID, device), the newcomer must
   * share a MostRecent or LoadBalanced flag with every member, and a LoadBalanced newcomer must have
   * the owner of the group's LoadBalanced members. All or nothing: every network is checked before any
   * is changed (gVisor undoes the ones done; nothing can fail in between here). Throws EADDRINUSE,
   * EAFNOSUPPORT / EPROTONOSUPPORT (a protocol this demuxer does not run), ERR_INVALID_ARG_*.
   * Thread: the stack's; not from inside `handlePacket`.
   */
  register(reg: TransportRegistration, endpoint: TransportEndpoint): void {
    const r = parseRegistration(reg);
    if (endpoint === null || typeof endpoint !== 'object' || typeof endpoint.handlePacket !== 'function') {
      throw new NetshardError('ERR_INVALID_ARG_TYPE', 'endpoint must be an object with a handlePacket method');
    }
    const tables = r.networks.map((n) => this.#table(n, r.transport));
    for (let i = 0; i < tables.length; i++) {
      const admit = this.#admits(tables[i]!, r);
      if (admit !== Admit.Ok) {
        const why = admit === Admit.Owner
          ? 'its SO_REUSEPORT group belongs to another owner'
          : 'an endpoint without a shared SO_REUSEADDR/SO_REUSEPORT flag holds it';
        throw new NetshardError('EADDRINUSE', `${r.text} is in use: ${why}`, { errno: EADDRINUSE_ERRNO });
      }
    }
    // Every table admits, and nothing runs in between: adding cannot fail, so there is nothing to undo.
    for (const table of tables) this.#add(table, r, endpoint);
  }

  /**
   * Removes `endpoint` from the group `reg` names (same networks, transport, ID and device as it was
   * registered with), keeping the other members' order; empty groups and IDs are deleted. Returns false
   * when it was registered in none of them. Throws only on malformed `reg`. Thread: the stack's; not
   * from inside `handlePacket`.
   */
  unregister(reg: TransportRegistration, endpoint: TransportEndpoint): boolean {
    const r = parseRegistration(reg);
    let removed = false;
    for (const network of r.networks) {
      const table = this.#table(network, r.transport);
      if (this.#remove(table, r, endpoint)) removed = true;
    }
    return removed;
  }

  /** Returns whether `register(reg, …)` would succeed now (gVisor `checkEndpoint`). Throws only on malformed `reg`. */
  checkEndpoint(reg: TransportRegistration): boolean {
    const r = parseRegistration(reg);
    return r.networks.every((n) => this.#admits(this.#table(n, r.transport), r) === Admit.Ok);
  }

  /**
   * Returns a copy of the members of the group (network, transport, ID, device) in bind order, empty
   * when there is none. Control path, for tests and diagnostics.
   */
  endpointsOf(network: NetworkProtocolNumber, transport: number, id: TransportEndpointId, device = 0): TransportEndpoint[] {
    const r = parseRegistration({ networks: [network], transport, id, bindToDevice: device });
    const table = this.#table(network, transport);
    const key = this.#peekKey(table, r);
    if (key === null) return [];
    return [...(table.ids.get(key[0], key[1], key[2], key[3])?.get(device)?.endpoints ?? [])];
  }

  /** Returns how many IDs have endpoints in (network, transport); 0 for a protocol it does not run. Control path. */
  idCount(network: NetworkProtocolNumber, transport: number): number {
    const byTransport = network === IPV4_PROTOCOL_NUMBER ? this.#ipv4 : this.#ipv6;
    return byTransport[transport & 0xff]?.ids.size ?? 0;
  }

  /** Returns how many IPv6 addresses have ids (named by some registration). Control path, for tests. */
  get ipv6AddressCount(): number { return this.#ipv6Ids.size; }

  // -------------------------------------------------------------------------------------------------
  // Hot path

  /**
   * Returns the endpoint a unicast packet goes to, or null: the first of the four IDs that exists, its
   * group for `nicId` (else NIC 0's), the member `selectEndpoint` picks. Addresses are read from `view`
   * at `localAddressOffset` / `remoteAddressOffset` (4 bytes for IPv4, 16 for IPv6); for a received
   * packet local = destination. Also what ICMP error handling uses to find the endpoint of a quoted
   * packet. Allocation: none. Never throws for offsets inside `view`.
   */
  findEndpoint(
    network: number,
    transport: number,
    nicId: number,
    view: DataView,
    localAddressOffset: number,
    localPort: number,
    remoteAddressOffset: number,
    remotePort: number,
  ): TransportEndpoint | null {
    const table = (network === IPV4_PROTOCOL_NUMBER ? this.#ipv4 : network === IPV6_PROTOCOL_NUMBER ? this.#ipv6 : null)?.[transport & 0xff];
    if (table === undefined || table === null) return null;
    this.#resolve(table, view, localAddressOffset, remoteAddressOffset);
    const group = this.#findId(table, localPort, remotePort)?.forNic(nicId) ?? null;
    if (group === null) return null;
    return this.#select(group, table.isIpv4, view, localAddressOffset, localPort, remoteAddressOffset, remotePort);
  }

  /**
   * Hands `pkt` to its endpoint(s) and returns how many got it (gVisor `deliverPacket`):
   * - UDP to a broadcast (`pkt.localAddressBroadcast`, 255.255.255.255) or multicast address: every
   *   member of the packet's NIC group (else NIC 0's) of every matching ID;
   * - otherwise the one endpoint `findEndpoint` picks;
   * - TCP to or from an unspecified address, or to broadcast/multicast: nobody, `DELIVER_INVALID`.
   *
   * 0 means no endpoint: the stack counts it (UDP `unknownPortErrors`) and answers a unicast packet
   * with ICMP port unreachable (never a broadcast or multicast one, RFC 1122 §3.2.2). The frame is
   * the caller's again when this returns. Precondition: the network header and the first 4 transport
   * bytes (the ports) are validated. Allocation: none (endpoints may allocate). Never throws itself.
   */
  deliverPacket(pkt: TransportPacket): number {
    const isIpv4 = pkt.networkProtocol === IPV4_PROTOCOL_NUMBER;
    const table = (isIpv4 ? this.#ipv4 : this.#ipv6)[pkt.transportProtocol & 0xff];
    if (table === undefined) return 0;
    const view = pkt.view;
    const localAt = pkt.networkOffset + (isIpv4 ? 16 : 24);
    const remoteAt = pkt.networkOffset + (isIpv4 ? 12 : 8);
    const remotePort = view.getUint16(pkt.transportOffset);
    const localPort = view.getUint16(pkt.transportOffset + 2);
    this.#resolve(table, view, localAt, remoteAt);
    const toMany = pkt.localAddressBroadcast ||
      (isIpv4 ? (this.#local >>> 28 === 0xe || this.#local === -1) : view.getUint8(localAt) === 0xff);
    if (table.transport === TCP_PROTOCOL_NUMBER) {
      if (toMany || this.#local === 0 || this.#remote === 0) return DELIVER_INVALID;
    } else if (toMany && table.transport === UDP_PROTOCOL_NUMBER) {
      return this.#deliverAll(table, pkt, localPort, remotePort);
    }
    const group = this.#findId(table, localPort, remotePort)?.forNic(pkt.nicId) ?? null;
    if (group === null) return 0;
    this.#select(group, isIpv4, view, localAt, localPort, remoteAt, remotePort).handlePacket(pkt);
    return 1;
  }

  // -------------------------------------------------------------------------------------------------
  // Internals

  /** Sets `#local`/`#remote` to the packet's address words (IPv4) or ids (IPv6; -1 = unknown). */
  #resolve(table: ProtocolEndpoints, view: DataView, localAt: number, remoteAt: number): void {
    if (table.isIpv4) {
      this.#local = view.getInt32(localAt);
      this.#remote = view.getInt32(remoteAt);
    } else {
      this.#local = this.#ipv6Ids.find(view, localAt);
      this.#remote = this.#ipv6Ids.find(view, remoteAt);
    }
  }

  /**
   * Returns the endpoints of the first ID of the four that exists (gVisor `findEndpointLocked`), or
   * undefined. An IPv6 address without an id (-1) skips the IDs that name it. Reads `#local`/`#remote`.
   */
  #findId(table: ProtocolEndpoints, localPort: number, remotePort: number): EndpointsByNic | undefined {
    const ids = table.ids;
    const local = this.#local;
    const remote = this.#remote;
    const localKnown = table.isIpv4 || local >= 0;
    const remoteKnown = table.isIpv4 || remote >= 0;
    let found: EndpointsByNic | undefined;
    if (localKnown && remoteKnown && (found = ids.get(localPort, local, remotePort, remote)) !== undefined) return found;
    if (remoteKnown && (found = ids.get(localPort, 0, remotePort, remote)) !== undefined) return found;
    if (localKnown && (found = ids.get(localPort, local, 0, 0)) !== undefined) return found;
    return ids.get(localPort, 0, 0, 0);
  }

  /** Gives `pkt` to every member of the NIC's group of every matching ID (gVisor `findAllEndpointsLocked`). */
  #deliverAll(table: ProtocolEndpoints, pkt: TransportPacket, localPort: number, remotePort: number): number {
    const ids = table.ids;
    const local = this.#local;
    const remote = this.#remote;
    const localKnown = table.isIpv4 || local >= 0;
    const remoteKnown = table.isIpv4 || remote >= 0;
    const visited = this.#visited;
    visited[0] = localKnown && remoteKnown ? ids.get(localPort, local, remotePort, remote) ?? null : null;
    visited[1] = remoteKnown ? ids.get(localPort, 0, remotePort, remote) ?? null : null;
    visited[2] = localKnown ? ids.get(localPort, local, 0, 0) ?? null : null;
    visited[3] = ids.get(localPort, 0, 0, 0) ?? null;
    let delivered = 0;
    for (let level = 0; level < 4; level++) {
      const eps = visited[level]!;
      if (eps === null || TransportDemuxer.#seenBefore(visited, level, eps)) continue;
      const group = eps.forNic(pkt.nicId);
      if (group === null) continue;
      const members = group.endpoints;
      for (let i = 0; i < members.length; i++) members[i]!.handlePacket(pkt);
      delivered += members.length;
    }
    visited[0] = visited[1] = visited[2] = visited[3] = null;
    return delivered;
  }

  /** True when `eps` came up at an earlier level too (e.g. local address 0 makes two IDs equal): deliver once. */
  static #seenBefore(visited: readonly (EndpointsByNic | null)[], level: number, eps: EndpointsByNic): boolean {
    for (let k = 0; k < level; k++) if (visited[k] === eps) return true;
    return false;
  }

  /** Picks one member of a non-empty group (gVisor `selectEndpoint`). */
  #select(
    group: MultiPortEndpoint,
    isIpv4: boolean,
    view: DataView,
    localAt: number,
    localPort: number,
    remoteAt: number,
    remotePort: number,
  ): TransportEndpoint {
    const members = group.endpoints;
    const n = members.length;
    if (n === 1) return members[0]!;
    if (group.mostRecent) return members[n - 1]!;
    return members[selectIndex(this.seed, localPort, remotePort, view, localAt, remoteAt, isIpv4 ? 4 : 16, n)]!;
  }

  /** Returns the table of (network, transport) or throws EAFNOSUPPORT / EPROTONOSUPPORT. */
  #table(network: NetworkProtocolNumber, transport: number): ProtocolEndpoints {
    const byTransport = network === IPV4_PROTOCOL_NUMBER ? this.#ipv4 : this.#ipv6;
    const table = byTransport[transport];
    if (table !== undefined) return table;
    const name = network === IPV4_PROTOCOL_NUMBER ? 'IPv4' : 'IPv6';
    if (byTransport.every((t) => t === undefined)) {
      throw new NetshardError('EAFNOSUPPORT', `this stack does not run ${name}`, { errno: 97 });
    }
    throw new NetshardError('EPROTONOSUPPORT', `this stack has no ${name} endpoints for transport protocol ${transport}`, { errno: 93 });
  }

  /** Returns the key words of `r` in `table` without creating address ids, or null when an IPv6 address has none yet. */
  #peekKey(table: ProtocolEndpoints, r: ParsedRegistration): [number, number, number, number] | null {
    if (table.isIpv4) return [r.localPort, r.local.words[0], r.remotePort, r.remote.words[0]];
    const local = this.#ipv6Ids.peek(...r.local.words);
    const remote = this.#ipv6Ids.peek(...r.remote.words);
    if (local < 0 || remote < 0) return null;
    return [r.localPort, local, r.remotePort, remote];
  }

  #admits(table: ProtocolEndpoints, r: ParsedRegistration): Admit {
    const key = this.#peekKey(table, r);
    if (key === null) return Admit.Ok; // an address no registration names: the ID cannot exist yet
    const group = table.ids.get(key[0], key[1], key[2], key[3])?.get(r.device) ?? null;
    return group === null ? Admit.Ok : group.admits(registrationBits(r), r.owner);
  }

  #add(table: ProtocolEndpoints, r: ParsedRegistration, endpoint: TransportEndpoint): void {
    let local = r.local.words[0];
    let remote = r.remote.words[0];
    if (!table.isIpv4) {
      local = this.#ipv6Ids.acquire(...r.local.words);
      remote = this.#ipv6Ids.acquire(...r.remote.words);
    }
    let eps = table.ids.get(r.localPort, local, r.remotePort, remote);
    if (eps === undefined) {
      eps = new EndpointsByNic();
      table.ids.set(r.localPort, local, r.remotePort, remote, eps);
    }
    eps.getOrAdd(r.device).add(endpoint, registrationBits(r), r.owner);
  }

  #remove(table: ProtocolEndpoints, r: ParsedRegistration, endpoint: TransportEndpoint): boolean {
    const key = this.#peekKey(table, r);
    if (key === null) return false;
    const eps = table.ids.get(key[0], key[1], key[2], key[3]);
    const group = eps?.get(r.device) ?? null;
    if (eps === undefined || group === null || !group.remove(endpoint)) return false;
    if (group.endpoints.length === 0 && eps.prune(r.device)) table.ids.delete(key[0], key[1], key[2], key[3]);
    if (!table.isIpv4) {
      this.#ipv6Ids.release(...r.local.words);
      this.#ipv6Ids.release(...r.remote.words);
    }
    return true;
  }
}
