/**
 * Real packets shared by the header and parser tests, each field commented. Checksums were computed
 * with an independent python3 RFC 1071 sum while writing them (and the tests verify them again with
 * `checksum.ts`). Addresses come from 198.18.0.0/15 and 2001:2::/48.
 *
 * Offsets used by the tests: Ethernet 14 bytes (18 with the tag), IPv4 20 bytes (24 with the router
 * alert option), IPv6 40 bytes, extension headers 8 bytes each (routing 24).
 */
import { hex } from '../../helpers/hex.ts';

/** Ethernet, IPv4 (DF), UDP 12345 -> 53 with 4 payload bytes. */
export const ETH_IPV4_UDP = hex(`
  0200 0000 0002                           # destination 02:00:00:00:00:02
  0200 0000 0001                           # source 02:00:00:00:00:01
  0800                                     # EtherType 0800
  4500 0020                                # version 4, IHL 5, TOS 0, total length 32
  1234 4000                                # id 1234, flags DF, fragment offset 0
  4011 9c71                                # TTL 64, protocol 17 (UDP), header checksum
  c612 0001                                # source 198.18.0.1
  c612 0002                                # destination 198.18.0.2
  3039 0035 000c a5a2                      # UDP source port 12345, destination port 53, length 12, checksum
  dead beef                                # payload
`);

/** Ethernet with an 802.1Q tag, IPv4 with a router alert option (IHL 6), TCP SYN with options. */
export const ETH_VLAN_IPV4_TCP_SYN = hex(`
  0200 0000 0002                           # destination 02:00:00:00:00:02
  0200 0000 0001                           # source 02:00:00:00:00:01
  8100 b064                                # 802.1Q tag: TPID 8100, TCI: PCP 5, DEI 1, VID 100
  0800                                     # EtherType 0800
  4600 0040                                # version 4, IHL 6, TOS 0, total length 64
  beef 4000                                # id beef, flags DF, fragment offset 0
  4006 5a9c                                # TTL 64, protocol 6 (TCP), header checksum
  c612 0001                                # source 198.18.0.1
  c612 0002                                # destination 198.18.0.2
  9404 0000                                # option: router alert (148), length 4, value 0
  9c40 0050                                # TCP source port 40000, destination port 80
  1122 3344                                # sequence number 287454020
  0000 0000                                # acknowledgment number 0
  a002 faf0                                # data offset 10 words, flags SYN, window 64240
  dbea 0000                                # checksum, urgent pointer 0
  0204 05b4 0402 080a 0102 0304 0000 0000  # options: MSS 1460 | SACK permitted | timestamps 0x01020304, 0 | NOP | window scale 7
  0103 0307
`);

/** Ethernet, IPv4, ICMPv4 echo request. */
export const ETH_IPV4_ICMP_ECHO = hex(`
  0200 0000 0002                           # destination 02:00:00:00:00:02
  0200 0000 0001                           # source 02:00:00:00:00:01
  0800                                     # EtherType 0800
  4500 0024                                # version 4, IHL 5, TOS 0, total length 36
  0001 0000                                # id 0001, flags none, fragment offset 0
  4001 eeb0                                # TTL 64, protocol 1 (ICMP), header checksum
  c612 0001                                # source 198.18.0.1
  c612 0002                                # destination 198.18.0.2
  0800 2427 4242 0001                      # ICMP type 8 (echo request), code 0, checksum, ident 4242, sequence 1
  6162 6364 6566 6768                      # payload "abcdefgh"
`);

/** IPv4 first fragment (MF, offset 0) of a 32-byte UDP datagram: its header and 8 data bytes. */
export const IPV4_UDP_FIRST_FRAGMENT = hex(`
  4500 0024                                # version 4, IHL 5, TOS 0, total length 36
  5151 2000                                # id 5151, flags MF, fragment offset 0
  4011 7d50                                # TTL 64, protocol 17 (UDP), header checksum
  c612 0001                                # source 198.18.0.1
  c612 0002                                # destination 198.18.0.2
  1388 1770 0020 b4ee                      # UDP 5000 -> 6000, length 32 (the whole datagram), checksum over the whole datagram
  4142 4344 4546 4748                      # data bytes 0-7
`);

/** IPv4 last fragment (offset 16, MF clear) of the same datagram. */
export const IPV4_UDP_LAST_FRAGMENT = hex(`
  4500 0024                                # version 4, IHL 5, TOS 0, total length 36
  5151 0002                                # id 5151, flags none, fragment offset 16
  4011 9d4e                                # TTL 64, protocol 17 (UDP), header checksum
  c612 0001                                # source 198.18.0.1
  c612 0002                                # destination 198.18.0.2
  494a 4b4c 4d4e 4f50 5152 5354 5556 5758  # data bytes 8-23 (datagram bytes 16-31)
`);

/** Ethernet, IPv6 with hop-by-hop and destination options headers, UDP. */
export const ETH_IPV6_HBH_DSTOPTS_UDP = hex(`
  0200 0000 0002                           # destination 02:00:00:00:00:02
  0200 0000 0001                           # source 02:00:00:00:00:01
  86dd                                     # EtherType 86dd
  612a bcde                                # version 6, traffic class 12, flow label abcde
  0020 0040                                # payload length 32, next header 0 (hop-by-hop), hop limit 64
  2001 0002 0000 0000 0000 0000 0000 0001  # source 2001:2::1
  2001 0002 0000 0000 0000 0000 0000 0002  # destination 2001:2::2
  3c00 0104 0000 0000                      # hop-by-hop: next header 60, length 0 (8 bytes), PadN 4
  1100 0104 0000 0000                      # destination options: next header 17, length 0, PadN 4
  14e9 14e9 0010 d854                      # UDP 5353 -> 5353, length 16, checksum
  6e65 7473 6861 7264                      # payload "netshard"
`);

/** IPv6 (no link header) with a routing header, TCP PSH|ACK carrying 4 bytes. */
export const IPV6_ROUTING_TCP = hex(`
  6000 0000                                # version 6, traffic class 0, flow label 0
  0030 2b3f                                # payload length 48, next header 43 (routing), hop limit 63
  2001 0002 0000 0000 0000 0000 0000 0001  # source 2001:2::1
  2001 0002 0000 0000 0000 0000 0000 0002  # destination 2001:2::2
  0602 0000 0000 0000 2001 0002 0000 0000  # routing: next header 6, length 2 (24 bytes), type 0, segments left 0, reserved, 2001:2::3
  0000 0000 0000 0003
  01bb c350                                # TCP source port 443, destination port 50000
  0000 03e8                                # sequence number 1000
  0000 07d0                                # acknowledgment number 2000
  5018 0200                                # data offset 5 words, flags PSH|ACK, window 512
  be2b 0000                                # checksum, urgent pointer 0
  7069 6e67                                # payload "ping"
`);

/** IPv6 first fragment (offset 0, M) of a 32-byte UDP datagram. */
export const IPV6_UDP_FIRST_FRAGMENT = hex(`
  6000 0000                                # version 6, traffic class 0, flow label 0
  0018 2c40                                # payload length 24, next header 44 (fragment), hop limit 64
  2001 0002 0000 0000 0000 0000 0000 0001  # source 2001:2::1
  2001 0002 0000 0000 0000 0000 0000 0002  # destination 2001:2::2
  1100 0001 cafe 0001                      # fragment: next header 17, offset 0, M 1, id cafe0001
  1b58 1f40 0020 6fec                      # UDP 7000 -> 8000, length 32 (the whole datagram), checksum over the whole datagram
  6162 6364 6566 6768                      # data bytes 0-7
`);

/** IPv6 last fragment (offset 16) of the same datagram. */
export const IPV6_UDP_LAST_FRAGMENT = hex(`
  6000 0000                                # version 6, traffic class 0, flow label 0
  0018 2c40                                # payload length 24, next header 44 (fragment), hop limit 64
  2001 0002 0000 0000 0000 0000 0000 0001  # source 2001:2::1
  2001 0002 0000 0000 0000 0000 0000 0002  # destination 2001:2::2
  1100 0010 cafe 0001                      # fragment: next header 17, offset 16 (2 units), M 0, id cafe0001
  696a 6b6c 6d6e 6f70 7172 7374 7576 7778  # data bytes 8-23 (datagram bytes 16-31)
`);

/** IPv6 atomic fragment carrying the whole 32-byte UDP datagram. */
export const IPV6_UDP_ATOMIC_FRAGMENT = hex(`
  6000 0000                                # version 6, traffic class 0, flow label 0
  0028 2c40                                # payload length 40, next header 44 (fragment), hop limit 64
  2001 0002 0000 0000 0000 0000 0000 0001  # source 2001:2::1
  2001 0002 0000 0000 0000 0000 0000 0002  # destination 2001:2::2
  1100 0000 cafe 0002                      # fragment: next header 17, offset 0, M 0 (atomic, RFC 6946), id cafe0002
  1b58 1f40 0020 6fec                      # UDP 7000 -> 8000, length 32, checksum
  6162 6364 6566 6768 696a 6b6c 6d6e 6f70  # 24 data bytes
  7172 7374 7576 7778
`);

/** Ethernet, IPv6, ICMPv6 echo request. */
export const ETH_IPV6_ICMPV6_ECHO = hex(`
  0200 0000 0002                           # destination 02:00:00:00:00:02
  0200 0000 0001                           # source 02:00:00:00:00:01
  86dd                                     # EtherType 86dd
  6000 0000                                # version 6, traffic class 0, flow label 0
  0010 3a40                                # payload length 16, next header 58 (ICMPv6), hop limit 64
  2001 0002 0000 0000 0000 0000 0000 0001  # source 2001:2::1
  2001 0002 0000 0000 0000 0000 0000 0002  # destination 2001:2::2
  8000 369c 7777 0003                      # ICMPv6 type 128 (echo request), code 0, checksum, ident 7777, sequence 3
  6162 6364 6566 6768                      # payload "abcdefgh"
`);

/** Ethernet, IPv6, ICMPv6 neighbor solicitation for 2001:2::2. */
export const ETH_IPV6_NEIGHBOR_SOLICIT = hex(`
  3333 ff00 0002                           # destination 33:33:ff:00:00:02 (solicited-node multicast)
  0200 0000 0001                           # source 02:00:00:00:00:01
  86dd                                     # EtherType 86dd
  6000 0000                                # version 6, traffic class 0, flow label 0
  0020 3aff                                # payload length 32, next header 58 (ICMPv6), hop limit 255
  2001 0002 0000 0000 0000 0000 0000 0001  # source 2001:2::1
  ff02 0000 0000 0000 0000 0001 ff00 0002  # destination ff02::1:ff00:2
  8700 3793 0000 0000                      # ICMPv6 type 135 (neighbor solicitation), code 0, checksum, reserved
  2001 0002 0000 0000 0000 0000 0000 0002  # target address 2001:2::2
  0101 0200 0000 0001                      # option: source link-layer address (1), length 1 (8 bytes), 02:00:00:00:00:01
`);

/** Ethernet broadcast ARP request: who has 198.18.0.2? tell 198.18.0.1. */
export const ETH_ARP_REQUEST = hex(`
  ffff ffff ffff                           # destination ff:ff:ff:ff:ff:ff (broadcast)
  0200 0000 0001                           # source 02:00:00:00:00:01
  0806                                     # EtherType 0806
  0001 0800 0604                           # ARP hardware type 1 (Ethernet), protocol 0800, sizes 6 and 4
  0001                                     # op 1 (request)
  0200 0000 0001 c612 0001                 # sender 02:00:00:00:00:01, 198.18.0.1
  0000 0000 0000 c612 0002                 # target 00:00:00:00:00:00, 198.18.0.2
  0000 0000 0000 0000 0000 0000 0000 0000  # Ethernet padding to the 60-byte minimum
  0000
`);

/** Every vector above with whether it starts with an Ethernet header: seeds for the fuzz tests. */
export const FRAMES: readonly { name: string; bytes: Uint8Array; ethernet: boolean }[] = [
  { name: 'ETH_IPV4_UDP', bytes: ETH_IPV4_UDP, ethernet: true },
  { name: 'ETH_VLAN_IPV4_TCP_SYN', bytes: ETH_VLAN_IPV4_TCP_SYN, ethernet: true },
  { name: 'ETH_IPV4_ICMP_ECHO', bytes: ETH_IPV4_ICMP_ECHO, ethernet: true },
  { name: 'IPV4_UDP_FIRST_FRAGMENT', bytes: IPV4_UDP_FIRST_FRAGMENT, ethernet: false },
  { name: 'IPV4_UDP_LAST_FRAGMENT', bytes: IPV4_UDP_LAST_FRAGMENT, ethernet: false },
  { name: 'ETH_IPV6_HBH_DSTOPTS_UDP', bytes: ETH_IPV6_HBH_DSTOPTS_UDP, ethernet: true },
  { name: 'IPV6_ROUTING_TCP', bytes: IPV6_ROUTING_TCP, ethernet: false },
  { name: 'IPV6_UDP_FIRST_FRAGMENT', bytes: IPV6_UDP_FIRST_FRAGMENT, ethernet: false },
  { name: 'IPV6_UDP_LAST_FRAGMENT', bytes: IPV6_UDP_LAST_FRAGMENT, ethernet: false },
  { name: 'IPV6_UDP_ATOMIC_FRAGMENT', bytes: IPV6_UDP_ATOMIC_FRAGMENT, ethernet: false },
  { name: 'ETH_IPV6_ICMPV6_ECHO', bytes: ETH_IPV6_ICMPV6_ECHO, ethernet: true },
  { name: 'ETH_IPV6_NEIGHBOR_SOLICIT', bytes: ETH_IPV6_NEIGHBOR_SOLICIT, ethernet: true },
  { name: 'ETH_ARP_REQUEST', bytes: ETH_ARP_REQUEST, ethernet: true },
];

/** Returns a copy of `bytes` with `patch` written at `offset` (a malformed variant of a vector). */
export function patched(bytes: Uint8Array, offset: number, patch: Uint8Array): Uint8Array {
  const copy = bytes.slice();
  copy.set(patch, offset);
  return copy;
}

/** Returns a copy of `bytes[from, to)` (a header out of a frame, or a truncated frame). */
export function cut(bytes: Uint8Array, from: number, to = bytes.length): Uint8Array {
  return bytes.slice(from, to);
}
