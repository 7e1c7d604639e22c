/**
 * The NIC table: one entry per network interface the stack runs on (gVisor's `stack.NIC`), each with
 * its id (1, 2, …; 0 means "no NIC" as in gVisor), name, Ethernet address, MTU, and the IPv4 and IPv6
 * addresses assigned to it with their prefix lengths.
 *
 * Layout: a NIC's addresses live in fixed typed arrays (at most `NIC_MAX_ADDRESSES` per family), IPv4
 * as int32 words and IPv6 as 16-byte runs read through a DataView; the table also keeps a
 * flat copy of every IPv4 address with its NIC so "is this one of ours, on any NIC?" is one scan over
 * one array. Address counts are small (a handful per NIC), so a scan beats hashing and never allocates.
 *
 * IPv4 addresses on the hot path are int32 words (`view.getInt32`, or `x | 0`): the same bits as the
 * unsigned form, but a value V8 passes between functions without boxing it into a heap number (an
 * unsigned address above 2^31 is a double, and a double argument to a call that is not inlined costs
 * an allocation). Every lookup takes either form and compares with `| 0`.
 *
 * Thread: the owner of the stack (one table per thread). Setup methods (`add`, `addAddress`, …)
 * validate and throw `NetshardError`; lookups are hot-path: no allocation, no throw.
 */
import { NetshardError } from '../../errors.ts';
import { validateBoolean, validateInteger, validateObject, validateString } from '../../validate.ts';
import { LINK_ADDRESS_SIZE, formatIpv4, formatIpv6, parseIpv4, parseIpv6, parseLinkAddress } from '../address.ts';
import { IPV4_LIMITED_BROADCAST, ipv4Mask, isIpv4Multicast, isIpv6Multicast, isIpv6Unspecified } from './address-class.ts';

/** Most addresses of one family a NIC holds. */
export const NIC_MAX_ADDRESSES = 16;
/** Most NICs a table holds (ids 1..NIC_MAX_COUNT). */
export const NIC_MAX_COUNT = 1024;
/** Default MTU: Ethernet's 1500 bytes of payload (RFC 894). */
export const DEFAULT_MTU = 1500;
/** Smallest MTU of a NIC that carries IPv6 (RFC 8200 §5). */
export const IPV6_MINIMUM_MTU = 1280;
/** Smallest MTU of any NIC: IPv4's minimum (RFC 791). */
export const IPV4_MINIMUM_MTU = 68;

/** What `NicTable.add()` takes. */
export interface NicOptions {
  /** Unique name, e.g. the Linux interface it runs on (`veth0`). */
  name: string;
  /** Ethernet address, `aa:bb:cc:dd:ee:ff`; must be unicast. */
  linkAddress: string;
  /** Largest IP packet in bytes, link header excluded. Default 1500. */
  mtu?: number;
  /** Also assign the EUI-64 link-local address fe80::/64 made from the link address (RFC 4291 App. A, RFC 4862 §5.3). Default false. */
  ipv6LinkLocal?: boolean;
}

/** One NIC: identity and addresses. Fields are read on the hot path; change them only through `NicTable`. */
export class Nic {
  /** 1, 2, …, in the order NICs were added. */
  readonly id: number;
  readonly name: string;
  /** Largest IP packet in bytes, link header excluded. */
  mtu: number;
  /** The 6-byte Ethernet address, at offset 0 of `linkView`. */
  readonly linkAddress: Uint8Array;
  /** A DataView over `linkAddress`: copy it with `copyLinkAddress(nic.linkView, 0, …)`. */
  readonly linkView: DataView;
  /** IPv4 addresses in `[0, ipv4Count)`, as int32 words (`>>> 0` gives the unsigned form). */
  readonly ipv4Addresses = new Int32Array(NIC_MAX_ADDRESSES);
  /** Prefix length of each IPv4 address. */
  readonly ipv4PrefixLengths = new Uint8Array(NIC_MAX_ADDRESSES);
  ipv4Count = 0;
  /** IPv6 addresses, 16 bytes each: address i is at `ipv6View` offset `16 * i`. */
  readonly ipv6Bytes = new Uint8Array(16 * NIC_MAX_ADDRESSES);
  readonly ipv6View: DataView = new DataView(this.ipv6Bytes.buffer);
  /** Prefix length of each IPv6 address. */
  readonly ipv6PrefixLengths = new Uint8Array(NIC_MAX_ADDRESSES);
  ipv6Count = 0;

  constructor(id: number, name: string, linkAddress: Uint8Array, mtu: number) {
    this.id = id;
    this.name = name;
    this.linkAddress = linkAddress;
    this.linkView = new DataView(linkAddress.buffer, linkAddress.byteOffset, LINK_ADDRESS_SIZE);
    this.mtu = mtu;
  }

  /** Tells whether IPv4 `address` (int32 or unsigned) is assigned to this NIC. Allocation: none. */
  hasIpv4Address(address: number): boolean {
    const addresses = this.ipv4Addresses, a = address | 0;
    for (let i = 0; i < this.ipv4Count; i++) if (addresses[i] === a) return true;
    return false;
  }

  /** Tells whether the IPv6 address at `view[offset]` is assigned to this NIC. Allocation: none. */
  hasIpv6Address(view: DataView, offset: number): boolean {
    return this.indexOfIpv6(view, offset) >= 0;
  }

  /** Returns the index of the IPv6 address at `view[offset]` among this NIC's, or -1. */
  indexOfIpv6(view: DataView, offset: number): number {
    const w0 = view.getUint32(offset), w1 = view.getUint32(offset + 4);
    const w2 = view.getUint32(offset + 8), w3 = view.getUint32(offset + 12);
    const mine = this.ipv6View;
    for (let i = 0, at = 0; i < this.ipv6Count; i++, at += 16) {
      if (mine.getUint32(at + 12) === w3 && mine.getUint32(at + 8) === w2 &&
        mine.getUint32(at + 4) === w1 && mine.getUint32(at) === w0) return i;
    }
    return -1;
  }

  /**
   * Tells whether `address` is a broadcast address on this NIC: 255.255.255.255 or the directed
   * broadcast (all host bits set) of one of its subnets shorter than /31 (RFC 919, RFC 3021).
   */
  isIpv4Broadcast(address: number): boolean {
    const a = address | 0;
    if (a === (IPV4_LIMITED_BROADCAST | 0)) return true;
    for (let i = 0; i < this.ipv4Count; i++) {
      const length = this.ipv4PrefixLengths[i]!;
      if (length >= 31) continue;
      const mask = ipv4Mask(length);
      if ((this.ipv4Addresses[i]! | ~mask) === a) return true;
    }
    return false;
  }

  /**
   * Tells whether the IPv6 address at `view[offset]` is the solicited-node multicast address
   * (ff02::1:ffXX:XXXX) of one of this NIC's addresses (RFC 4291 §2.7.1).
   */
  isIpv6SolicitedNodeOf(view: DataView, offset: number): boolean {
    if (view.getUint32(offset) !== 0xff020000 || view.getUint32(offset + 4) !== 0 || view.getUint32(offset + 8) !== 1) return false;
    const last = view.getUint32(offset + 12);
    if (last >>> 24 !== 0xff) return false;
    const low = last & 0xffffff;
    for (let i = 0, at = 12; i < this.ipv6Count; i++, at += 16) {
      if ((this.ipv6View.getUint32(at) & 0xffffff) === low) return true;
    }
    return false;
  }

  /**
   * Returns the source address for a packet to `destination` from this NIC: the first address whose
   * subnet holds it, else the first address, else 0 (none), as an int32 word. As Linux's
   * `inet_select_addr()`, simplified.
   */
  selectIpv4Source(destination: number): number {
    for (let i = 0; i < this.ipv4Count; i++) {
      const mask = ipv4Mask(this.ipv4PrefixLengths[i]!);
      if (((this.ipv4Addresses[i]! ^ destination) & mask) === 0) return this.ipv4Addresses[i]!;
    }
    return this.ipv4Count > 0 ? this.ipv4Addresses[0]! : 0;
  }

  /**
   * Returns the index (its bytes at `ipv6View` offset `16 * index`) of the source address for a packet
   * to the IPv6 address at `view[offset]` from this NIC: one whose prefix holds it, else a link-local
   * one for a link-local or multicast destination, else the first non-link-local, else -1. A much
   * simplified RFC 6724 §5.
   */
  selectIpv6Source(view: DataView, offset: number): number {
    let linkLocal = -1, global = -1;
    for (let i = 0; i < this.ipv6Count; i++) {
      if (ipv6PrefixMatches(this.ipv6View, 16 * i, view, offset, this.ipv6PrefixLengths[i]!)) return i;
      if ((this.ipv6View.getUint16(16 * i) & 0xffc0) === 0xfe80) { if (linkLocal < 0) linkLocal = i; } else if (global < 0) global = i;
    }
    const wantsLinkLocal = (view.getUint16(offset) & 0xffc0) === 0xfe80 || view.getUint8(offset) === 0xff;
    if (wantsLinkLocal && linkLocal >= 0) return linkLocal;
    return global >= 0 ? global : linkLocal;
  }
}

/**
 * Tells whether the first `prefixLength` bits of the IPv6 addresses at `a[aOffset]` and `b[bOffset]`
 * are equal. Allocation: none.
 */
export function ipv6PrefixMatches(a: DataView, aOffset: number, b: DataView, bOffset: number, prefixLength: number): boolean {
  let bits = prefixLength;
  for (let at = 0; at < 16 && bits > 0; at += 4, bits -= 32) {
    const mask = bits >= 32 ? 0xffffffff : ipv4Mask(bits);
    if (((a.getUint32(aOffset + at) ^ b.getUint32(bOffset + at)) & mask) !== 0) return false;
  }
  return true;
}

/** The NICs of one stack, by id. See the file comment for the layout and the thread rules. */
export class NicTable {
  /** `nics[id]` is the NIC with that id; index 0 is unused. */
  readonly nics: (Nic | undefined)[] = [undefined];
  /** Every IPv4 address of every NIC, with `allIpv4Nics[i]` its NIC id: the weak-host lookup. */
  private allIpv4 = new Int32Array(0);
  private allIpv4Nics = new Int32Array(0);

  /** Returns the NIC with `id`, or undefined. Hot path: an array read. */
  get(id: number): Nic | undefined {
    return this.nics[id];
  }

  /** Number of NICs. */
  get count(): number {
    return this.nics.length - 1;
  }

  /**
   * Adds a NIC and returns it; its id is the next free one (1 for the first). Throws ERR_INVALID_ARG_*
   * for bad options, EEXIST for a name in use, ENOSPC past `NIC_MAX_COUNT`. Thread: the table's owner.
   */
  add(options: NicOptions): Nic {
    validateObject(options, 'options', ['name', 'linkAddress', 'mtu', 'ipv6LinkLocal']);
    validateString(options.name, 'options.name');
    if (options.name.length === 0) throw new NetshardError('ERR_INVALID_ARG_VALUE', 'options.name must not be empty');
    validateString(options.linkAddress, 'options.linkAddress');
    const mtu = options.mtu ?? DEFAULT_MTU;
    validateInteger(mtu, 'options.mtu', IPV4_MINIMUM_MTU, 65535);
    const linkLocal = options.ipv6LinkLocal ?? false;
    validateBoolean(linkLocal, 'options.ipv6LinkLocal');
    const mac = new Uint8Array(LINK_ADDRESS_SIZE);
    if (!parseLinkAddress(options.linkAddress, mac)) {
      throw new NetshardError('ERR_INVALID_ARG_VALUE', `options.linkAddress must be a MAC address like 02:00:00:00:00:01, received '${options.linkAddress}'`);
    }
    if ((mac[0]! & 1) !== 0) throw new NetshardError('ERR_INVALID_ARG_VALUE', `options.linkAddress ${options.linkAddress} is a group address, not a unicast one`);
    if (this.byName(options.name) !== undefined) throw new NetshardError('EEXIST', `a NIC named '${options.name}' exists`);
    if (this.count >= NIC_MAX_COUNT) throw new NetshardError('ENOSPC', `a stack holds at most ${NIC_MAX_COUNT} NICs`);
    if (linkLocal && mtu < IPV6_MINIMUM_MTU) throw new NetshardError('EINVAL', `IPv6 needs an MTU of at least ${IPV6_MINIMUM_MTU}, NIC '${options.name}' has ${mtu}`);
    const nic = new Nic(this.nics.length, options.name, mac, mtu);
    this.nics.push(nic);
    if (linkLocal) {
      // EUI-64 from the MAC: flip the universal/local bit, insert ff:fe in the middle (RFC 4291 App. A).
      const bytes = new Uint8Array(16);
      bytes[0] = 0xfe; bytes[1] = 0x80;
      bytes[8] = mac[0]! ^ 2; bytes[9] = mac[1]!; bytes[10] = mac[2]!; bytes[11] = 0xff;
      bytes[12] = 0xfe; bytes[13] = mac[3]!; bytes[14] = mac[4]!; bytes[15] = mac[5]!;
      this.addIpv6Bytes(nic, bytes, 64);
    }
    return nic;
  }

  /** Returns the NIC named `name`, or undefined. Control path. */
  byName(name: string): Nic | undefined {
    for (const nic of this.nics) if (nic !== undefined && nic.name === name) return nic;
    return undefined;
  }

  /** Returns the NIC with `id` or throws ENODEV. Control path. */
  require(id: number): Nic {
    validateInteger(id, 'nicId', 1);
    const nic = this.nics[id];
    if (nic === undefined) throw new NetshardError('ENODEV', `no NIC with id ${id}`);
    return nic;
  }

  /**
   * Assigns `address` in CIDR form (`198.18.0.1/15`, `2001:2::1/64`; no length means /32 or /128) to the
   * NIC. Returns 4 or 6, the family. Throws ERR_INVALID_ARG_VALUE for a malformed, multicast or
   * unspecified address, ENODEV for an unknown NIC, EEXIST if the NIC has it, ENOSPC past
   * `NIC_MAX_ADDRESSES`, EINVAL for IPv6 on a NIC whose MTU is under 1280. Control path.
   */
  addAddress(nicId: number, address: string): 4 | 6 {
    const nic = this.require(nicId);
    const parsed = parseCidr(address, 'address');
    if (parsed.family === 4) {
      if (parsed.ipv4 === 0 || isIpv4Multicast(parsed.ipv4) || parsed.ipv4 === IPV4_LIMITED_BROADCAST) {
        throw new NetshardError('ERR_INVALID_ARG_VALUE', `address ${address} is not a unicast address`);
      }
      if (nic.hasIpv4Address(parsed.ipv4)) throw new NetshardError('EEXIST', `NIC ${nicId} already has ${formatIpv4(parsed.ipv4)}`);
      if (nic.ipv4Count >= NIC_MAX_ADDRESSES) throw new NetshardError('ENOSPC', `a NIC holds at most ${NIC_MAX_ADDRESSES} IPv4 addresses`);
      nic.ipv4Addresses[nic.ipv4Count] = parsed.ipv4;
      nic.ipv4PrefixLengths[nic.ipv4Count] = parsed.prefixLength;
      nic.ipv4Count++;
      this.rebuildIpv4Index();
      return 4;
    }
    const view = new DataView(parsed.ipv6.buffer);
    if (isIpv6Multicast(view, 0) || isIpv6Unspecified(view, 0)) {
      throw new NetshardError('ERR_INVALID_ARG_VALUE', `address ${address} is not a unicast address`);
    }
    if (nic.mtu < IPV6_MINIMUM_MTU) throw new NetshardError('EINVAL', `IPv6 needs an MTU of at least ${IPV6_MINIMUM_MTU}, NIC ${nicId} has ${nic.mtu}`);
    this.addIpv6Bytes(nic, parsed.ipv6, parsed.prefixLength);
    return 6;
  }

  /** Removes `address` (CIDR or bare) from the NIC; returns false if it had none. Control path. */
  removeAddress(nicId: number, address: string): boolean {
    const nic = this.require(nicId);
    const parsed = parseCidr(address, 'address');
    if (parsed.family === 4) {
      for (let i = 0; i < nic.ipv4Count; i++) {
        if (nic.ipv4Addresses[i] !== (parsed.ipv4 | 0)) continue;
        nic.ipv4Addresses.copyWithin(i, i + 1, nic.ipv4Count);
        nic.ipv4PrefixLengths.copyWithin(i, i + 1, nic.ipv4Count);
        nic.ipv4Count--;
        this.rebuildIpv4Index();
        return true;
      }
      return false;
    }
    const i = nic.indexOfIpv6(new DataView(parsed.ipv6.buffer), 0);
    if (i < 0) return false;
    nic.ipv6Bytes.copyWithin(16 * i, 16 * (i + 1), 16 * nic.ipv6Count);
    nic.ipv6PrefixLengths.copyWithin(i, i + 1, nic.ipv6Count);
    nic.ipv6Count--;
    return true;
  }

  /** Sets the MTU of a NIC (68..65535, at least 1280 while it has IPv6 addresses). Control path. */
  setMtu(nicId: number, mtu: number): void {
    const nic = this.require(nicId);
    validateInteger(mtu, 'mtu', nic.ipv6Count > 0 ? IPV6_MINIMUM_MTU : IPV4_MINIMUM_MTU, 65535);
    nic.mtu = mtu;
  }

  /**
   * Returns the id of a NIC that holds `address` (any NIC: the weak host model of RFC 1122 §3.3.4.2,
   * which Linux follows), or 0. Hot path: one scan over every IPv4 address, no allocation.
   */
  findIpv4(address: number): number {
    const all = this.allIpv4, a = address | 0;
    for (let i = 0; i < all.length; i++) if (all[i] === a) return this.allIpv4Nics[i]!;
    return 0;
  }

  /** Returns the id of a NIC that holds the IPv6 address at `view[offset]`, or 0. Hot path. */
  findIpv6(view: DataView, offset: number): number {
    const nics = this.nics;
    for (let id = 1; id < nics.length; id++) if (nics[id]!.indexOfIpv6(view, offset) >= 0) return id;
    return 0;
  }

  /** Lists each NIC's addresses as strings (`198.18.0.1/15`). Control path: for printing and tests. */
  describe(): { id: number; name: string; mtu: number; addresses: string[] }[] {
    const out: { id: number; name: string; mtu: number; addresses: string[] }[] = [];
    for (const nic of this.nics) {
      if (nic === undefined) continue;
      const addresses: string[] = [];
      for (let i = 0; i < nic.ipv4Count; i++) addresses.push(`${formatIpv4(nic.ipv4Addresses[i]! >>> 0)}/${nic.ipv4PrefixLengths[i]}`);
      for (let i = 0; i < nic.ipv6Count; i++) addresses.push(`${formatIpv6(nic.ipv6Bytes, 16 * i)}/${nic.ipv6PrefixLengths[i]}`);
      out.push({ id: nic.id, name: nic.name, mtu: nic.mtu, addresses });
    }
    return out;
  }

  private addIpv6Bytes(nic: Nic, bytes: Uint8Array, prefixLength: number): void {
    if (nic.indexOfIpv6(new DataView(bytes.buffer, bytes.byteOffset, 16), 0) >= 0) {
      throw new NetshardError('EEXIST', `NIC ${nic.id} already has ${formatIpv6(bytes)}`);
    }
    if (nic.ipv6Count >= NIC_MAX_ADDRESSES) throw new NetshardError('ENOSPC', `a NIC holds at most ${NIC_MAX_ADDRESSES} IPv6 addresses`);
    nic.ipv6Bytes.set(bytes.subarray(0, 16), 16 * nic.ipv6Count);
    nic.ipv6PrefixLengths[nic.ipv6Count] = prefixLength;
    nic.ipv6Count++;
  }

  private rebuildIpv4Index(): void {
    let n = 0;
    for (const nic of this.nics) if (nic !== undefined) n += nic.ipv4Count;
    const all = new Int32Array(n), nics = new Int32Array(n);
    let k = 0;
    for (const nic of this.nics) {
      if (nic === undefined) continue;
      for (let i = 0; i < nic.ipv4Count; i++, k++) { all[k] = nic.ipv4Addresses[i]!; nics[k] = nic.id; }
    }
    this.allIpv4 = all;
    this.allIpv4Nics = nics;
  }
}

/** An address with its prefix length, parsed from CIDR text. */
export type Cidr =
  | { family: 4; ipv4: number; ipv6: Uint8Array; prefixLength: number }
  | { family: 6; ipv4: number; ipv6: Uint8Array; prefixLength: number };

/**
 * Parses `198.18.0.0/15` or `2001:2::/48` (no `/n` means a host: /32 or /128). Throws
 * ERR_INVALID_ARG_TYPE / ERR_INVALID_ARG_VALUE naming `name`. Control path.
 */
export function parseCidr(text: string, name: string): Cidr {
  validateString(text, name);
  const slash = text.indexOf('/');
  const host = slash < 0 ? text : text.slice(0, slash);
  const lengthText = slash < 0 ? '' : text.slice(slash + 1);
  if (slash >= 0 && !/^(0|[1-9][0-9]{0,2})$/.test(lengthText)) {
    throw new NetshardError('ERR_INVALID_ARG_VALUE', `${name} must be an address with an optional /prefix-length, received '${text}'`);
  }
  const v4 = parseIpv4(host);
  if (v4 >= 0) {
    const prefixLength = slash < 0 ? 32 : Number(lengthText);
    if (prefixLength > 32) throw new NetshardError('ERR_INVALID_ARG_VALUE', `${name} has a prefix length over 32: '${text}'`);
    return { family: 4, ipv4: v4, ipv6: new Uint8Array(16), prefixLength };
  }
  const v6 = new Uint8Array(16);
  if (parseIpv6(host, v6)) {
    const prefixLength = slash < 0 ? 128 : Number(lengthText);
    if (prefixLength > 128) throw new NetshardError('ERR_INVALID_ARG_VALUE', `${name} has a prefix length over 128: '${text}'`);
    return { family: 6, ipv4: 0, ipv6: v6, prefixLength };
  }
  throw new NetshardError('ERR_INVALID_ARG_VALUE', `${name} must be an IPv4 or IPv6 address, received '${text}'`);
}
