/**
 * Addresses at the edges: parsing and formatting of IPv4, IPv6 and link (MAC) addresses.
 * Inside the engine an IPv4 address is an unsigned 32-bit number and an IPv6 address is 16 bytes
 * in some buffer at an offset; strings appear only here, where users hand them in or read them out.
 * Thread: any. Control path: these allocate strings and are not for per-packet use.
 */

/** Size of an IPv4 address in bytes. */
export const IPV4_ADDRESS_SIZE = 4;
/** Size of an IPv6 address in bytes. */
export const IPV6_ADDRESS_SIZE = 16;
/** Size of an Ethernet (MAC) address in bytes. */
export const LINK_ADDRESS_SIZE = 6;

/** Parses dotted-quad IPv4 (`198.18.0.1`) into an unsigned 32-bit number, or returns -1 if it is not one. */
export function parseIpv4(text: string): number {
  const parts = text.split('.');
  if (parts.length !== 4) return -1;
  let value = 0;
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return -1;
    const octet = Number(part);
    if (octet > 255) return -1;
    value = value * 256 + octet;
  }
  return value >>> 0;
}

/** Formats an unsigned 32-bit IPv4 address as a dotted quad. */
export function formatIpv4(address: number): string {
  return `${address >>> 24}.${(address >>> 16) & 0xff}.${(address >>> 8) & 0xff}.${address & 0xff}`;
}

/**
 * Parses an IPv6 address in RFC 4291 text form (with `::` compression and an optional
 * trailing dotted quad) into `out[offset .. offset+16)`. Returns false, writing nothing, if it is not one.
 */
export function parseIpv6(text: string, out: Uint8Array, offset = 0): boolean {
  if (text.length < 2 || text.length > 45) return false;
  let head = text;
  let tail = '';
  const dbl = text.indexOf('::');
  if (dbl >= 0) {
    if (text.indexOf('::', dbl + 1) >= 0) return false;
    head = text.slice(0, dbl);
    tail = text.slice(dbl + 2);
  }
  const groups: number[] = [];
  const readGroups = (s: string, into: number[], allowV4: boolean): boolean => {
    if (s === '') return true;
    const items = s.split(':');
    for (let i = 0; i < items.length; i++) {
      const item = items[i] ?? '';
      if (allowV4 && i === items.length - 1 && item.includes('.')) {
        const v4 = parseIpv4(item);
        if (v4 < 0) return false;
        into.push(v4 >>> 16, v4 & 0xffff);
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(item)) return false;
      into.push(parseInt(item, 16));
    }
    return true;
  };
  const tailGroups: number[] = [];
  if (dbl >= 0) {
    if (!readGroups(head, groups, false) || !readGroups(tail, tailGroups, true)) return false;
    if (groups.length + tailGroups.length > 7) return false;
    while (groups.length + tailGroups.length < 8) groups.push(0);
    groups.push(...tailGroups);
  } else {
    if (!readGroups(text, groups, true) || groups.length !== 8) return false;
  }
  for (let i = 0; i < 8; i++) {
    const g = groups[i] ?? 0;
    out[offset + 2 * i] = g >>> 8;
    out[offset + 2 * i + 1] = g & 0xff;
  }
  return true;
}

/** Formats 16 bytes at `offset` as an RFC 5952 IPv6 string (lowercase, longest zero run compressed). */
export function formatIpv6(bytes: Uint8Array, offset = 0): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(((bytes[offset + 2 * i] ?? 0) << 8) | (bytes[offset + 2 * i + 1] ?? 0));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hexes = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hexes.join(':');
  return `${hexes.slice(0, bestStart).join(':')}::${hexes.slice(bestStart + bestLen).join(':')}`;
}

/** Parses `aa:bb:cc:dd:ee:ff` (or with `-`) into `out[offset .. offset+6)`. Returns false if it is not one. */
export function parseLinkAddress(text: string, out: Uint8Array, offset = 0): boolean {
  const parts = text.split(/[:-]/);
  if (parts.length !== 6) return false;
  for (const part of parts) if (!/^[0-9a-fA-F]{2}$/.test(part)) return false;
  for (let i = 0; i < 6; i++) out[offset + i] = parseInt(parts[i] ?? '', 16);
  return true;
}

/** Formats 6 bytes at `offset` as `aa:bb:cc:dd:ee:ff`. */
export function formatLinkAddress(bytes: Uint8Array, offset = 0): string {
  let s = '';
  for (let i = 0; i < 6; i++) s += (i ? ':' : '') + (bytes[offset + i] ?? 0).toString(16).padStart(2, '0');
  return s;
}
