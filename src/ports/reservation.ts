/**
 * The reservation a caller hands in, and its fixed-width key: what the port table stores and compares.
 * Strings stop here: `parseReservation` validates at the door and turns addresses into 32-bit words.
 * Thread: any. Control path (allocates one small object per call).
 */
import { NetshardError } from '../errors.ts';
import { validateArray, validateInteger, validateObject, validateOneOf, validateString } from '../validate.ts';
import {
  formatIpv4, formatIpv6, IPV4_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER, parseIpv4, parseIpv6, TCP_PROTOCOL_NUMBER,
  type NetworkProtocolNumber,
} from '../tcpip/index.ts';
import { FLAG_MASK } from './flags.ts';

/** A destination of a connected (4-tuple) reservation. */
export interface ReservationDestination {
  /** Remote address; '' (or '0.0.0.0' / '::') with port 0 means "no destination". */
  address: string;
  /** Remote port, 1..65535 (0 only with a wildcard address). */
  port: number;
}

/** What a socket asks the port manager for (gVisor `ports.Reservation`). */
export interface Reservation {
  /** Network protocols to reserve in: `[IPV4]`, `[IPV6]`, or both for a dual-stack (wildcard) bind. */
  networks: readonly NetworkProtocolNumber[];
  /** IP protocol number of the transport, 0..255 (6 = TCP gets the port-0 rule). */
  transport: number;
  /** Local address; '' or '0.0.0.0' or '::' is the wildcard. A specific address must match `networks`' family. */
  address: string;
  /** Local port; 0 asks `reservePort` for an ephemeral port. */
  port: number;
  /** Reuse flags, a combination of `Flags` (0..7). */
  flags: number;
  /** NIC id the socket is bound to (SO_BINDTODEVICE); 0 or absent = none. */
  bindToDevice?: number;
  /** Remote end for connected reservations (TCP connect/accept); absent = none. */
  destination?: ReservationDestination;
}

/** Address kinds stored in the first word of an address key. The wildcard is its own kind, whatever its family. */
export const AddressKind = { Wildcard: 0, Ipv4: 4, Ipv6: 6 } as const;
/** One of the address kinds. */
export type AddressKind = (typeof AddressKind)[keyof typeof AddressKind];

/** Bits of `ReservationKey.networks`. */
export const NetworkBit = { Ipv4: 1, Ipv6: 2 } as const;

/**
 * A validated reservation as fixed-width numbers. Addresses are a kind plus 4 big-endian 32-bit words
 * (IPv4 in word 0, words 1..3 zero; the wildcard is kind 0 with all words zero).
 */
export interface ReservationKey {
  /** NetworkBit.Ipv4 | NetworkBit.Ipv6. */
  networks: number;
  transport: number;
  port: number;
  flags: number;
  device: number;
  addrKind: number;
  addr0: number;
  addr1: number;
  addr2: number;
  addr3: number;
  /** Kind of the destination address; Wildcard (with port 0) = no destination. */
  destKind: number;
  dest0: number;
  dest1: number;
  dest2: number;
  dest3: number;
  destPort: number;
}

const KNOWN_KEYS = ['networks', 'transport', 'address', 'port', 'flags', 'bindToDevice', 'destination'] as const;
const DEST_KEYS = ['address', 'port'] as const;
const NETWORKS: readonly NetworkProtocolNumber[] = [IPV4_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER];
/** Largest NIC id accepted: NIC ids are positive int32 (gVisor `tcpip.NICID` is int32). */
export const MAX_DEVICE = 0x7fffffff;

const scratch = new Uint8Array(16);
/** Parse outputs reused by every call (calls are synchronous and copy them out before returning). */
const addrScratch = [0, 0, 0, 0, 0];
const destScratch = [0, 0, 0, 0, 0];
const scratchView = new DataView(scratch.buffer);

/**
 * Parsed addresses by text. A program uses few distinct addresses and parsing one (split + regex) cost
 * more than the whole table operation, so parses are kept; the cache is per thread and simply emptied
 * when it reaches ADDRESS_CACHE_SIZE entries.
 */
const addressCache = new Map<string, readonly number[]>();
const ADDRESS_CACHE_SIZE = 1024;

/** Parses `text` into kind + words written to `out` as [kind, w0, w1, w2, w3]; throws ERR_INVALID_ARG_VALUE. */
function parseAddress(text: unknown, name: string, out: number[]): void {
  validateString(text, name);
  const hit = addressCache.get(text);
  if (hit !== undefined) {
    for (let i = 0; i < 5; i++) out[i] = hit[i] ?? 0;
    return;
  }
  parseAddressText(text, name, out);
  if (addressCache.size >= ADDRESS_CACHE_SIZE) addressCache.clear();
  addressCache.set(text, out.slice(0, 5));
}

function parseAddressText(text: string, name: string, out: number[]): void {
  if (text === '') { out[0] = AddressKind.Wildcard; out[1] = out[2] = out[3] = out[4] = 0; return; }
  const v4 = parseIpv4(text);
  if (v4 >= 0) {
    out[0] = v4 === 0 ? AddressKind.Wildcard : AddressKind.Ipv4;
    out[1] = v4 | 0; out[2] = out[3] = out[4] = 0;
    return;
  }
  if (parseIpv6(text, scratch, 0)) {
    let zero = true;
    for (let i = 0; i < 4; i++) {
      out[1 + i] = scratchView.getInt32(4 * i);
      if (out[1 + i] !== 0) zero = false;
    }
    out[0] = zero ? AddressKind.Wildcard : AddressKind.Ipv6;
    return;
  }
  throw new NetshardError('ERR_INVALID_ARG_VALUE', `${name} must be an IPv4 or IPv6 address or '', received '${text}'`);
}

/**
 * Validates `res` and returns its key. `minPort` is 0 where port 0 means "pick one" (reservePort), 1 elsewhere.
 * Throws ERR_INVALID_ARG_TYPE / ERR_OUT_OF_RANGE / ERR_INVALID_ARG_VALUE naming the bad field. Thread: any.
 */
export function parseReservation(res: unknown, minPort: number, name = 'reservation'): ReservationKey {
  validateObject(res, name, KNOWN_KEYS);
  const networks = res.networks;
  validateArray(networks, `${name}.networks`, 1);
  let mask = 0;
  for (let i = 0; i < networks.length; i++) {
    const n: unknown = networks[i];
    validateOneOf(n, `${name}.networks[${i}]`, NETWORKS);
    const bit = n === IPV4_PROTOCOL_NUMBER ? NetworkBit.Ipv4 : NetworkBit.Ipv6;
    if ((mask & bit) !== 0) throw new NetshardError('ERR_INVALID_ARG_VALUE', `${name}.networks lists 0x${n.toString(16)} twice`);
    mask |= bit;
  }
  validateInteger(res.transport, `${name}.transport`, 0, 255);
  validateInteger(res.port, `${name}.port`, minPort, 65535);
  validateInteger(res.flags, `${name}.flags`, 0, FLAG_MASK);
  const device = res.bindToDevice ?? 0;
  validateInteger(device, `${name}.bindToDevice`, 0, MAX_DEVICE);

  const a = addrScratch;
  parseAddress(res.address, `${name}.address`, a);
  checkFamily(a[0] ?? 0, mask, name, 'address', res.address as string);

  const d = destScratch;
  d[0] = d[1] = d[2] = d[3] = d[4] = 0;
  let destPort = 0;
  if (res.destination !== undefined) {
    const dest = res.destination;
    validateObject(dest, `${name}.destination`, DEST_KEYS);
    parseAddress(dest.address, `${name}.destination.address`, d);
    if (d[0] === AddressKind.Wildcard) {
      validateInteger(dest.port, `${name}.destination.port`, 0, 0);
    } else {
      validateInteger(dest.port, `${name}.destination.port`, 1, 65535);
      checkFamily(d[0] ?? 0, mask, name, 'destination.address', dest.address as string);
      destPort = dest.port;
    }
  }
  return {
    networks: mask, transport: res.transport, port: res.port, flags: res.flags, device,
    addrKind: a[0] ?? 0, addr0: a[1] ?? 0, addr1: a[2] ?? 0, addr2: a[3] ?? 0, addr3: a[4] ?? 0,
    destKind: d[0] ?? 0, dest0: d[1] ?? 0, dest1: d[2] ?? 0, dest2: d[3] ?? 0, dest3: d[4] ?? 0, destPort,
  };
}

/** A specific address belongs to one family; every listed network must be that family. */
function checkFamily(kind: number, mask: number, root: string, field: string, text: string): void {
  if (kind === AddressKind.Wildcard) return;
  const want = kind === AddressKind.Ipv4 ? NetworkBit.Ipv4 : NetworkBit.Ipv6;
  if (mask !== want) {
    const family = kind === AddressKind.Ipv4 ? 'IPv4' : 'IPv6';
    throw new NetshardError('ERR_INVALID_ARG_VALUE',
      `${root}.${field} '${text}' is ${family}, so ${root}.networks must be [${family === 'IPv4' ? 'IPV4' : 'IPV6'}] alone (a dual-stack reservation needs a wildcard address and no destination)`);
  }
}

/** Returns true for transport TCP, where an ephemeral pick never shares a port (gVisor commit 570ca5718). */
export function isTcp(transport: number): boolean {
  return transport === TCP_PROTOCOL_NUMBER;
}

/** Formats an address key (kind + 4 words) back to text: '' for the wildcard. */
export function formatAddressKey(kind: number, w0: number, w1: number, w2: number, w3: number): string {
  if (kind === AddressKind.Wildcard) return '';
  if (kind === AddressKind.Ipv4) return formatIpv4(w0 >>> 0);
  scratchView.setInt32(0, w0); scratchView.setInt32(4, w1); scratchView.setInt32(8, w2); scratchView.setInt32(12, w3);
  return formatIpv6(scratch, 0);
}
