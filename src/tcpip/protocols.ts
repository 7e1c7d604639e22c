/**
 * Protocol numbers shared by every layer. Network protocols are EtherTypes, as in gVisor's
 * `tcpip.NetworkProtocolNumber`; transport protocols are IANA IP protocol numbers.
 */

/** EtherType of IPv4 (RFC 894). */
export const IPV4_PROTOCOL_NUMBER = 0x0800;
/** EtherType of ARP (RFC 826). */
export const ARP_PROTOCOL_NUMBER = 0x0806;
/** EtherType of an 802.1Q VLAN tag. */
export const VLAN_PROTOCOL_NUMBER = 0x8100;
/** EtherType of IPv6 (RFC 2464). */
export const IPV6_PROTOCOL_NUMBER = 0x86dd;

/** IP protocol number of ICMP for IPv4 (RFC 792). */
export const ICMPV4_PROTOCOL_NUMBER = 1;
/** IP protocol number of TCP (RFC 9293). */
export const TCP_PROTOCOL_NUMBER = 6;
/** IP protocol number of UDP (RFC 768). */
export const UDP_PROTOCOL_NUMBER = 17;
/** IP protocol number of ICMPv6 (RFC 4443). */
export const ICMPV6_PROTOCOL_NUMBER = 58;

/** A network protocol number: IPv4 or IPv6 (an EtherType). */
export type NetworkProtocolNumber = typeof IPV4_PROTOCOL_NUMBER | typeof IPV6_PROTOCOL_NUMBER;
