/**
 * Route tables with longest-prefix match, one per IP version: routes {destination/prefix, gateway or
 * on-link, NIC, metric}; `lookup` returns the index of the best route or -1, without allocating.
 *
 * Layout and why. Routes live in typed arrays sorted by prefix length (longest first), then metric
 * (lowest first), then age, so the first route that matches is the answer and a route's index is its
 * rank. A lookup scans them: one AND and one compare per route over contiguous memory. Measured on the
 * project machine (a throwaway micro-benchmark, one process per case, medians of 7): a scan took 7-25 ns
 * for 4-32 IPv4 routes, a unibit trie 18-27 ns, and past that the scan grows linearly (190 ns at 256,
 * 1.7 us at 4096) while the trie stays at 25-110 ns. netshard's tables are a few connected routes and a
 * default, so IPv4 scans while it holds up to `IPV4_LINEAR_MAX` routes and switches to a binary trie
 * over the same sorted routes (rebuilt on each change, a control-path cost) beyond. IPv6 always scans:
 * its tables here are tiny, and a unibit trie over 128 bits would walk up to 128 nodes.
 *
 * Indices are valid until the next change to that table. Thread: the table's owner (one per thread).
 * `add`/`remove` validate and throw `NetshardError`; `lookup` and the field reads are hot-path.
 */
import { NetshardError } from '../../errors.ts';
import { validateInteger, validateObject } from '../../validate.ts';
import { formatIpv4, formatIpv6 } from '../address.ts';
import { ipv4Mask, isIpv4Multicast, isIpv6Multicast, isIpv6Unspecified } from './address-class.ts';
import { parseCidr } from './nic.ts';

/** Route count up to which IPv4 lookups scan the sorted array; past it they walk a trie (see the file comment). */
export const IPV4_LINEAR_MAX = 32;
/** Most routes per table: bounds the trie (32 nodes a route at most). */
export const ROUTE_MAX_COUNT = 65536;

/** What `RouteTable.add()` takes. */
export interface RouteOptions {
  /** `198.18.0.0/15`, `2001:2::/48`, `0.0.0.0/0` (default route); host bits must be zero. */
  destination: string;
  /** Next hop on `nic`'s link; absent means on-link (the destination itself is the next hop). */
  gateway?: string;
  /** Egress NIC id (1..). */
  nic: number;
  /** Lower wins among routes of the same prefix length. Default 0. */
  metric?: number;
}

/** What `RouteTable.remove()` takes: routes to that destination, narrowed by NIC and gateway when given. */
export interface RouteSelector {
  destination: string;
  gateway?: string;
  nic?: number;
}

/**
 * IPv4 routes; see the file comment. Read `nic[i]` and `gateway[i]` (0 = on-link) after `lookup`.
 * Addresses are int32 words on the hot path (see `nic.ts`); either form may be passed in.
 */
export class Ipv4RouteTable {
  count = 0;
  /** Network of route i as a signed 32-bit word (compares with `destination & mask[i]` without `>>> 0`). */
  network = new Int32Array(4);
  /** Netmask of route i, signed 32-bit. */
  mask = new Int32Array(4);
  prefixLength = new Uint8Array(4);
  /** Next hop of route i as an int32 word; 0 = on-link. */
  gateway = new Int32Array(4);
  /** Egress NIC id of route i. */
  nic = new Int32Array(4);
  metric = new Uint32Array(4);
  // Binary trie used past IPV4_LINEAR_MAX routes: node 0 is the root (prefix length 0); value = route index or -1.
  private trieLeft = new Int32Array(0);
  private trieRight = new Int32Array(0);
  private trieValue = new Int32Array(0);

  /**
   * Returns the index of the longest-prefix route to IPv4 `destination`, or -1 when no route matches.
   * Hot path: no allocation.
   */
  lookup(destination: number): number {
    const n = this.count;
    if (n > IPV4_LINEAR_MAX) return this.lookupTrie(destination);
    const network = this.network, mask = this.mask;
    for (let i = 0; i < n; i++) if ((destination & mask[i]!) === network[i]) return i;
    return -1;
  }

  /** Returns the next hop for `destination` through route `index` as an int32 word: its gateway, or `destination` when on-link. */
  nextHop(index: number, destination: number): number {
    const gateway = this.gateway[index]!;
    return gateway === 0 ? destination | 0 : gateway;
  }

  private lookupTrie(destination: number): number {
    const left = this.trieLeft, right = this.trieRight, value = this.trieValue;
    let best = value[0]!;
    let node = 0;
    for (let bit = 31; bit >= 0; bit--) {
      node = ((destination >>> bit) & 1) === 0 ? left[node]! : right[node]!;
      if (node < 0) break;
      const v = value[node]!;
      if (v >= 0) best = v;
    }
    return best;
  }

  /**
   * Adds a route (numbers already parsed): `network` with zero host bits, `gateway` 0 for on-link.
   * Throws EINVAL for host bits, EEXIST for the same destination, gateway and NIC, ENOSPC when full.
   */
  add(network: number, prefixLength: number, gateway: number, nic: number, metric: number): void {
    validateInteger(prefixLength, 'prefixLength', 0, 32);
    validateInteger(nic, 'nic', 1);
    validateInteger(metric, 'metric', 0, 0xffffffff);
    const mask = ipv4Mask(prefixLength);
    if (((network & ~mask) >>> 0) !== 0) {
      throw new NetshardError('EINVAL', `${formatIpv4(network)}/${prefixLength} has host bits set (the network is ${formatIpv4((network & mask) >>> 0)})`);
    }
    for (let i = 0; i < this.count; i++) {
      if (this.network[i] === (network | 0) && this.prefixLength[i] === prefixLength && this.gateway[i] === (gateway | 0) && this.nic[i] === nic) {
        throw new NetshardError('EEXIST', `route ${formatIpv4(network)}/${prefixLength} via ${gateway === 0 ? 'on-link' : formatIpv4(gateway >>> 0)} on NIC ${nic} exists`);
      }
    }
    if (this.count >= ROUTE_MAX_COUNT) throw new NetshardError('ENOSPC', `a route table holds at most ${ROUTE_MAX_COUNT} routes`);
    if (this.count === this.network.length) this.grow(this.count * 2);
    let at = this.count;
    while (at > 0 && (this.prefixLength[at - 1]! < prefixLength || (this.prefixLength[at - 1] === prefixLength && this.metric[at - 1]! > metric))) at--;
    this.shift(at, at + 1, this.count - at);
    this.network[at] = network | 0;
    this.mask[at] = mask | 0;
    this.prefixLength[at] = prefixLength;
    this.gateway[at] = gateway;
    this.nic[at] = nic;
    this.metric[at] = metric;
    this.count++;
    this.rebuildTrie();
  }

  /** Removes the routes to `network/prefixLength`, narrowed to `gateway` (0 = on-link) when given and `nic` when >= 0; returns how many. */
  remove(network: number, prefixLength: number, gateway?: number, nic = -1): number {
    let removed = 0;
    for (let i = 0; i < this.count; ) {
      const match = this.network[i] === (network | 0) && this.prefixLength[i] === prefixLength &&
        (gateway === undefined || this.gateway[i] === (gateway | 0)) && (nic < 0 || this.nic[i] === nic);
      if (!match) { i++; continue; }
      this.shift(i + 1, i, this.count - i - 1);
      this.count--;
      removed++;
    }
    if (removed > 0) this.rebuildTrie();
    return removed;
  }

  /** Removes every route through `nic`; returns how many. */
  removeNic(nic: number): number {
    let removed = 0;
    for (let i = 0; i < this.count; ) {
      if (this.nic[i] !== nic) { i++; continue; }
      this.shift(i + 1, i, this.count - i - 1);
      this.count--;
      removed++;
    }
    if (removed > 0) this.rebuildTrie();
    return removed;
  }

  /** Lists the routes in lookup order as strings. Control path. */
  describe(): { destination: string; gateway: string; nic: number; metric: number }[] {
    const out = [];
    for (let i = 0; i < this.count; i++) {
      out.push({
        destination: `${formatIpv4(this.network[i]! >>> 0)}/${this.prefixLength[i]}`,
        gateway: this.gateway[i] === 0 ? 'on-link' : formatIpv4(this.gateway[i]! >>> 0),
        nic: this.nic[i]!,
        metric: this.metric[i]!,
      });
    }
    return out;
  }

  private grow(capacity: number): void {
    const copy = <T extends Int32Array | Uint32Array | Uint8Array>(a: T, make: (n: number) => T): T => { const b = make(capacity); b.set(a); return b; };
    this.network = copy(this.network, (n) => new Int32Array(n));
    this.mask = copy(this.mask, (n) => new Int32Array(n));
    this.prefixLength = copy(this.prefixLength, (n) => new Uint8Array(n));
    this.gateway = copy(this.gateway, (n) => new Int32Array(n));
    this.nic = copy(this.nic, (n) => new Int32Array(n));
    this.metric = copy(this.metric, (n) => new Uint32Array(n));
  }

  /** Moves `n` routes starting at `from` to start at `to`. */
  private shift(from: number, to: number, n: number): void {
    for (const a of [this.network, this.mask, this.prefixLength, this.gateway, this.nic, this.metric]) a.copyWithin(to, from, from + n);
  }

  private rebuildTrie(): void {
    if (this.count <= IPV4_LINEAR_MAX) {
      this.trieLeft = this.trieRight = this.trieValue = new Int32Array(0);
      return;
    }
    let size = 1;
    for (let i = 0; i < this.count; i++) size += this.prefixLength[i]!;
    const left = new Int32Array(size).fill(-1), right = new Int32Array(size).fill(-1), value = new Int32Array(size).fill(-1);
    let nodes = 1;
    for (let i = 0; i < this.count; i++) {
      const network = this.network[i]!;
      let node = 0;
      for (let b = 0; b < this.prefixLength[i]!; b++) {
        const side = ((network >>> (31 - b)) & 1) === 0 ? left : right;
        if (side[node]! < 0) side[node] = nodes++;
        node = side[node]!;
      }
      if (value[node]! < 0) value[node] = i; // routes are sorted: the first one for a prefix has the lowest metric
    }
    this.trieLeft = left;
    this.trieRight = right;
    this.trieValue = value;
  }
}

/** IPv6 routes; see the file comment. After `lookup`, read `nic[i]`, and the gateway at `gatewayView` offset `16 * i` when `hasGateway[i]`. */
export class Ipv6RouteTable {
  count = 0;
  /** Network of route i as four signed 32-bit words at `4 * i`. */
  network = new Int32Array(16);
  /** Netmask of route i as four signed 32-bit words at `4 * i`. */
  mask = new Int32Array(16);
  prefixLength = new Uint8Array(4);
  /** Gateway of route i: 16 bytes at `16 * i` in `gatewayBytes` / `gatewayView` (zeros when on-link). */
  gatewayBytes = new Uint8Array(64);
  gatewayView = new DataView(this.gatewayBytes.buffer);
  /** 1 when route i has a gateway, 0 when on-link. */
  hasGateway = new Uint8Array(4);
  nic = new Int32Array(4);
  metric = new Uint32Array(4);

  /**
   * Returns the index of the longest-prefix route to the IPv6 address at `view[offset]`, or -1.
   * Hot path: four DataView reads, then one masked compare per route; no allocation.
   */
  lookup(view: DataView, offset: number): number {
    const w0 = view.getUint32(offset), w1 = view.getUint32(offset + 4);
    const w2 = view.getUint32(offset + 8), w3 = view.getUint32(offset + 12);
    const network = this.network, mask = this.mask;
    for (let i = 0, k = 0; i < this.count; i++, k += 4) {
      if ((w0 & mask[k]!) === network[k] && (w1 & mask[k + 1]!) === network[k + 1] &&
        (w2 & mask[k + 2]!) === network[k + 2] && (w3 & mask[k + 3]!) === network[k + 3]) return i;
    }
    return -1;
  }

  /**
   * Adds a route: network and gateway as 16 bytes each (`gateway` undefined for on-link). Throws EINVAL
   * for host bits, EEXIST for a duplicate, ENOSPC when full.
   */
  add(network: Uint8Array, prefixLength: number, gateway: Uint8Array | undefined, nic: number, metric: number): void {
    validateInteger(prefixLength, 'prefixLength', 0, 128);
    validateInteger(nic, 'nic', 1);
    validateInteger(metric, 'metric', 0, 0xffffffff);
    const words = new Int32Array(4), masks = new Int32Array(4);
    const nv = new DataView(network.buffer, network.byteOffset, 16);
    for (let w = 0; w < 4; w++) {
      const bits = Math.max(0, Math.min(32, prefixLength - 32 * w));
      masks[w] = bits === 32 ? -1 : ipv4Mask(bits) | 0;
      words[w] = nv.getUint32(4 * w) | 0;
      if ((words[w]! & ~masks[w]!) !== 0) throw new NetshardError('EINVAL', `${formatIpv6(network)}/${prefixLength} has host bits set`);
    }
    for (let i = 0; i < this.count; i++) {
      if (this.prefixLength[i] !== prefixLength || this.nic[i] !== nic) continue;
      let same = true;
      for (let w = 0; w < 4; w++) if (this.network[4 * i + w] !== words[w]) same = false;
      for (let b = 0; b < 16; b++) if (this.gatewayBytes[16 * i + b] !== (gateway?.[b] ?? 0)) same = false;
      if (same) throw new NetshardError('EEXIST', `route ${formatIpv6(network)}/${prefixLength} on NIC ${nic} exists`);
    }
    if (this.count >= ROUTE_MAX_COUNT) throw new NetshardError('ENOSPC', `a route table holds at most ${ROUTE_MAX_COUNT} routes`);
    if (this.count === this.prefixLength.length) this.grow(this.count * 2);
    let at = this.count;
    while (at > 0 && (this.prefixLength[at - 1]! < prefixLength || (this.prefixLength[at - 1] === prefixLength && this.metric[at - 1]! > metric))) at--;
    this.shift(at, at + 1, this.count - at);
    this.network.set(words, 4 * at);
    this.mask.set(masks, 4 * at);
    this.prefixLength[at] = prefixLength;
    this.gatewayBytes.fill(0, 16 * at, 16 * at + 16);
    if (gateway !== undefined) this.gatewayBytes.set(gateway.subarray(0, 16), 16 * at);
    this.hasGateway[at] = gateway === undefined ? 0 : 1;
    this.nic[at] = nic;
    this.metric[at] = metric;
    this.count++;
  }

  /** Removes the routes to `network/prefixLength`, narrowed to `nic` (>= 0) and `gateway` when given; returns how many. */
  remove(network: Uint8Array, prefixLength: number, gateway?: Uint8Array, nic = -1): number {
    const nv = new DataView(network.buffer, network.byteOffset, 16);
    let removed = 0;
    for (let i = 0; i < this.count; ) {
      let match = this.prefixLength[i] === prefixLength && (nic < 0 || this.nic[i] === nic);
      for (let w = 0; w < 4 && match; w++) if (this.network[4 * i + w] !== (nv.getUint32(4 * w) | 0)) match = false;
      if (match && gateway !== undefined) {
        for (let b = 0; b < 16; b++) if (this.gatewayBytes[16 * i + b] !== gateway[b]) match = false;
      }
      if (!match) { i++; continue; }
      this.shift(i + 1, i, this.count - i - 1);
      this.count--;
      removed++;
    }
    return removed;
  }

  /** Removes every route through `nic`; returns how many. */
  removeNic(nic: number): number {
    let removed = 0;
    for (let i = 0; i < this.count; ) {
      if (this.nic[i] !== nic) { i++; continue; }
      this.shift(i + 1, i, this.count - i - 1);
      this.count--;
      removed++;
    }
    return removed;
  }

  /** Lists the routes in lookup order as strings. Control path. */
  describe(): { destination: string; gateway: string; nic: number; metric: number }[] {
    const out = [];
    for (let i = 0; i < this.count; i++) {
      const bytes = new Uint8Array(16);
      const v = new DataView(bytes.buffer);
      for (let w = 0; w < 4; w++) v.setUint32(4 * w, this.network[4 * i + w]! >>> 0);
      out.push({
        destination: `${formatIpv6(bytes)}/${this.prefixLength[i]}`,
        gateway: this.hasGateway[i] === 0 ? 'on-link' : formatIpv6(this.gatewayBytes, 16 * i),
        nic: this.nic[i]!,
        metric: this.metric[i]!,
      });
    }
    return out;
  }

  private grow(capacity: number): void {
    const grow = <T extends Int32Array | Uint32Array | Uint8Array>(a: T, n: number, make: (n: number) => T): T => { const b = make(n); b.set(a); return b; };
    this.network = grow(this.network, 4 * capacity, (n) => new Int32Array(n));
    this.mask = grow(this.mask, 4 * capacity, (n) => new Int32Array(n));
    this.prefixLength = grow(this.prefixLength, capacity, (n) => new Uint8Array(n));
    this.gatewayBytes = grow(this.gatewayBytes, 16 * capacity, (n) => new Uint8Array(n));
    this.gatewayView = new DataView(this.gatewayBytes.buffer);
    this.hasGateway = grow(this.hasGateway, capacity, (n) => new Uint8Array(n));
    this.nic = grow(this.nic, capacity, (n) => new Int32Array(n));
    this.metric = grow(this.metric, capacity, (n) => new Uint32Array(n));
  }

  private shift(from: number, to: number, n: number): void {
    this.network.copyWithin(4 * to, 4 * from, 4 * (from + n));
    this.mask.copyWithin(4 * to, 4 * from, 4 * (from + n));
    this.gatewayBytes.copyWithin(16 * to, 16 * from, 16 * (from + n));
    for (const a of [this.prefixLength, this.hasGateway, this.nic, this.metric]) a.copyWithin(to, from, from + n);
  }
}

/** Both route tables, with string-based setup. Lookups go straight to `ipv4` / `ipv6`. */
export class RouteTable {
  readonly ipv4 = new Ipv4RouteTable();
  readonly ipv6 = new Ipv6RouteTable();

  /**
   * Adds a route from strings; returns 4 or 6. Throws ERR_INVALID_ARG_* for malformed options or a
   * gateway of the other family, EINVAL for host bits set or a multicast/unspecified gateway, EEXIST
   * for a duplicate. NIC existence is the caller's check (`Stack.addRoute` does it). Control path.
   */
  add(options: RouteOptions): 4 | 6 {
    validateObject(options, 'route', ['destination', 'gateway', 'nic', 'metric']);
    const destination = parseCidr(options.destination, 'route.destination');
    validateInteger(options.nic, 'route.nic', 1);
    const metric = options.metric ?? 0;
    validateInteger(metric, 'route.metric', 0, 0xffffffff);
    const gateway = options.gateway === undefined ? undefined : parseCidr(options.gateway, 'route.gateway');
    if (gateway !== undefined && (gateway.family !== destination.family || gateway.prefixLength !== (gateway.family === 4 ? 32 : 128))) {
      throw new NetshardError('ERR_INVALID_ARG_VALUE', `route.gateway must be a bare IPv${destination.family} address, received '${options.gateway}'`);
    }
    if (destination.family === 4) {
      if (gateway !== undefined && (gateway.ipv4 === 0 || isIpv4Multicast(gateway.ipv4) || gateway.ipv4 === 0xffffffff)) {
        throw new NetshardError('EINVAL', `route.gateway ${options.gateway} is not a unicast address`);
      }
      this.ipv4.add(destination.ipv4, destination.prefixLength, gateway?.ipv4 ?? 0, options.nic, metric);
      return 4;
    }
    if (gateway !== undefined) {
      const gv = new DataView(gateway.ipv6.buffer);
      if (isIpv6Multicast(gv, 0) || isIpv6Unspecified(gv, 0)) throw new NetshardError('EINVAL', `route.gateway ${options.gateway} is not a unicast address`);
    }
    this.ipv6.add(destination.ipv6, destination.prefixLength, gateway?.ipv6, options.nic, metric);
    return 6;
  }

  /** Removes the routes matching `selector`; returns how many. Control path. */
  remove(selector: RouteSelector): number {
    validateObject(selector, 'route', ['destination', 'gateway', 'nic']);
    const destination = parseCidr(selector.destination, 'route.destination');
    const nic = selector.nic ?? -1;
    if (selector.nic !== undefined) validateInteger(selector.nic, 'route.nic', 1);
    const gateway = selector.gateway === undefined ? undefined : parseCidr(selector.gateway, 'route.gateway');
    if (gateway !== undefined && gateway.family !== destination.family) {
      throw new NetshardError('ERR_INVALID_ARG_VALUE', `route.gateway must be an IPv${destination.family} address, received '${selector.gateway}'`);
    }
    if (destination.family === 4) return this.ipv4.remove(destination.ipv4, destination.prefixLength, gateway?.ipv4, nic);
    return this.ipv6.remove(destination.ipv6, destination.prefixLength, gateway?.ipv6, nic);
  }

  /** Removes every route through `nic` in both tables; returns how many. Control path. */
  removeNic(nic: number): number {
    return this.ipv4.removeNic(nic) + this.ipv6.removeNic(nic);
  }
}
