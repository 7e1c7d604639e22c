/**
 * What kind of address a number or 16 bytes are: unicast, multicast, broadcast, loopback, link-local,
 * unspecified (RFC 1122 §3.2.1.3, RFC 5735, RFC 4291 §2). The network layer asks these before it
 * answers, forwards or learns, as Linux's `ipv4_is_*` / `ipv6_addr_type()` do.
 *
 * Thread: any. Hot path: numbers and DataView reads only; nothing allocates or throws (the 16 bytes at
 * `offset` must lie inside `view`).
 */

/**
 * Byte offsets of the source and destination addresses in an IPv4 header (RFC 791 §3.1). The stack
 * reads them as `view.getInt32(ip + IPV4_SOURCE_OFFSET)`: `Ipv4Header`'s getters return the unsigned
 * form, a double above 2^31 that V8 boxes (16 bytes) whenever the getter is not inlined (measured with
 * the sampling heap profiler), while an int32 word stays a small integer. See `nic.ts`.
 */
export const IPV4_SOURCE_OFFSET = 12;
/** See `IPV4_SOURCE_OFFSET`. */
export const IPV4_DESTINATION_OFFSET = 16;

/** The limited broadcast address 255.255.255.255 (RFC 919). */
export const IPV4_LIMITED_BROADCAST = 0xffffffff;

/** Tells whether an IPv4 address is multicast, 224.0.0.0/4 (RFC 5771). */
export function isIpv4Multicast(address: number): boolean {
  return address >>> 28 === 0xe;
}

/** Tells whether an IPv4 address is loopback, 127.0.0.0/8 (RFC 1122 §3.2.1.3 (g)). */
export function isIpv4Loopback(address: number): boolean {
  return address >>> 24 === 127;
}

/** Tells whether an IPv4 address is link-local, 169.254.0.0/16 (RFC 3927: routers must not forward it). */
export function isIpv4LinkLocal(address: number): boolean {
  return address >>> 16 === 0xa9fe;
}

/**
 * Tells whether an IPv4 address cannot name one host as a source: 0.0.0.0/8 ("this network"),
 * 127.0.0.0/8, multicast, and 240.0.0.0/4 (reserved, which holds 255.255.255.255). Linux drops packets
 * with such a source as martians (`ip_route_input_slow`); RFC 1812 §5.3.7 says a router must not
 * forward them, and RFC 1122 §3.2.2 forbids answering them with an ICMP error.
 */
export function isIpv4MartianSource(address: number): boolean {
  const top = address >>> 24;
  return top === 0 || top === 127 || top >= 224;
}

/** Returns the netmask of an IPv4 prefix length 0..32 as an unsigned 32-bit number. */
export function ipv4Mask(prefixLength: number): number {
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

/** Tells whether the IPv6 address at `view[offset]` is multicast, ff00::/8 (RFC 4291 §2.7). */
export function isIpv6Multicast(view: DataView, offset: number): boolean {
  return view.getUint8(offset) === 0xff;
}

/** Tells whether the IPv6 address at `view[offset]` is the unspecified address `::` (RFC 4291 §2.5.2). */
export function isIpv6Unspecified(view: DataView, offset: number): boolean {
  return view.getUint32(offset) === 0 && view.getUint32(offset + 4) === 0 &&
    view.getUint32(offset + 8) === 0 && view.getUint32(offset + 12) === 0;
}

/** Tells whether the IPv6 address at `view[offset]` is the loopback address `::1` (RFC 4291 §2.5.3). */
export function isIpv6Loopback(view: DataView, offset: number): boolean {
  return view.getUint32(offset) === 0 && view.getUint32(offset + 4) === 0 &&
    view.getUint32(offset + 8) === 0 && view.getUint32(offset + 12) === 1;
}

/**
 * Tells whether the IPv6 address at `view[offset]` is link-local unicast, fe80::/10 (RFC 4291 §2.5.6:
 * routers must not forward packets with a link-local source or destination).
 */
export function isIpv6LinkLocal(view: DataView, offset: number): boolean {
  return (view.getUint16(offset) & 0xffc0) === 0xfe80;
}

/**
 * Tells whether the IPv6 address at `view[offset]` is a solicited-node multicast address,
 * ff02::1:ffXX:XXXX (RFC 4291 §2.7.1); its last three bytes are those of the address it solicits.
 */
export function isIpv6SolicitedNode(view: DataView, offset: number): boolean {
  return view.getUint32(offset) === 0xff020000 && view.getUint32(offset + 4) === 0 &&
    view.getUint32(offset + 8) === 1 && view.getUint8(offset + 12) === 0xff;
}

/**
 * Writes the solicited-node multicast address of the IPv6 address at `from[fromOffset]` to
 * `to[toOffset]`: ff02::1:ff followed by its last three bytes (RFC 4291 §2.7.1). Allocation: none.
 */
export function writeIpv6SolicitedNode(from: DataView, fromOffset: number, to: DataView, toOffset: number): void {
  to.setUint32(toOffset, 0xff020000);
  to.setUint32(toOffset + 4, 0);
  to.setUint32(toOffset + 8, 1);
  to.setUint32(toOffset + 12, (0xff000000 | (from.getUint32(fromOffset + 12) & 0xffffff)) >>> 0);
}

/** Writes ff02::1 (all nodes on the link) to `to[toOffset]`. Allocation: none. */
export function writeIpv6AllNodes(to: DataView, toOffset: number): void {
  to.setUint32(toOffset, 0xff020000);
  to.setUint32(toOffset + 4, 0);
  to.setUint32(toOffset + 8, 0);
  to.setUint32(toOffset + 12, 1);
}
