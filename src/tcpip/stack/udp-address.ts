/**
 * Socket addresses of a UDP endpoint: IP literals resolved for a socket type (`udp4`, `udp6`,
 * IPv6-only or dual-stack), with v4-mapped IPv6 addresses carried as IPv4 (gVisor `TranslateNetProto`).
 * No name resolution: a name is ENOTFOUND.
 *
 * Thread: any. Control path (allocates).
 */
import type { ErrorCode } from '../../errors.ts';
import { formatIpv4, formatIpv6, parseIpv4, parseIpv6 } from '../address.ts';
import { IPV4_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER, type NetworkProtocolNumber } from '../protocols.ts';

/** Socket types, as `node:dgram`. */
export type UdpSocketType = 'udp4' | 'udp6';

/** A resolved socket address. */
export interface SocketAddress {
  /** The network it is carried in (a v4-mapped IPv6 address is IPv4). */
  network: NetworkProtocolNumber;
  /** Networks a bind to it reserves (both for a dual-stack wildcard). */
  networks: readonly NetworkProtocolNumber[];
  any: boolean;
  /** 16 bytes, IPv4 in the first 4. */
  bytes: Uint8Array;
  /** Text for the port manager and the demuxer: '' for the wildcard. */
  key: string;
  /** Text users see. */
  display: string;
}

const ZERO_V4_MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

/**
 * Resolves the IP literal `text` for a socket of `type`; returns an errno name when it cannot be used:
 * EINVAL for the other family (or a v4-mapped bind on an IPv6-only socket), ENETUNREACH for a v4-mapped
 * peer of an IPv6-only socket, ENOTFOUND for anything that is not an IP literal.
 */
export function resolveAddress(text: string, type: UdpSocketType, ipv6Only: boolean, forBind: boolean): SocketAddress | ErrorCode {
  const bytes = new Uint8Array(16);
  const v4 = parseIpv4(text);
  if (type === 'udp4') {
    if (v4 < 0) return parseIpv6(text, bytes, 0) ? 'EINVAL' : 'ENOTFOUND';
    new DataView(bytes.buffer).setUint32(0, v4);
    return { network: IPV4_PROTOCOL_NUMBER, networks: [IPV4_PROTOCOL_NUMBER], any: v4 === 0, bytes, key: v4 === 0 ? '' : formatIpv4(v4), display: formatIpv4(v4) };
  }
  if (!parseIpv6(text, bytes, 0)) return v4 >= 0 ? 'EINVAL' : 'ENOTFOUND';
  if (ZERO_V4_MAPPED_PREFIX.every((b, i) => bytes[i] === b)) {
    // A v4-mapped address is IPv4 underneath (gVisor TranslateNetProto); not on an IPv6-only socket.
    if (ipv6Only) return forBind ? 'EINVAL' : 'ENETUNREACH';
    const mapped = new Uint8Array(16);
    mapped.set(bytes.subarray(12, 16));
    const address = new DataView(mapped.buffer).getUint32(0);
    return {
      network: IPV4_PROTOCOL_NUMBER, networks: [IPV4_PROTOCOL_NUMBER], any: address === 0, bytes: mapped,
      key: address === 0 ? '' : formatIpv4(address), display: `::ffff:${formatIpv4(address)}`,
    };
  }
  const any = bytes.every((b) => b === 0);
  return {
    network: IPV6_PROTOCOL_NUMBER,
    networks: any && !ipv6Only ? [IPV6_PROTOCOL_NUMBER, IPV4_PROTOCOL_NUMBER] : [IPV6_PROTOCOL_NUMBER],
    any, bytes, key: any ? '' : formatIpv6(bytes), display: formatIpv6(bytes),
  };
}
