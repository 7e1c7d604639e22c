/**
 * The public surface of `src/tcpip/stack/`: the network layer (NICs, routes, neighbors, ARP, NDP,
 * ICMP, forwarding, the `Stack`) and the transport layer (demuxer, UDP endpoints).
 * `src/tcpip/index.ts` re-exports it; other folders import it from there.
 */
// Network layer.
export * from './address-class.ts';
export * from './link.ts';
export * from './nic.ts';
export * from './route-table.ts';
export * from './packet-queues.ts';
export * from './neighbor-table.ts';
export * from './rate-limiter.ts';
export * from './icmp.ts';
export * from './arp.ts';
export * from './ndp.ts';
export * from './forward.ts';
export * from './types.ts';
export * from './stack.ts';
// Transport layer: the demuxer and UDP endpoints (their helpers stay internal).
export { DELIVER_INVALID, TransportDemuxer, type TransportDemuxerOptions } from './transport-demuxer.ts';
export { TransportPacket, type TransportEndpoint } from './transport-packet.ts';
export type { TransportEndpointId, TransportRegistration } from './transport-registration.ts';
export {
  MULTI_BIND_FLAG_MASK, REUSE_FLAG_LOAD_BALANCED, REUSE_FLAG_MASK, REUSE_FLAG_MOST_RECENT, REUSE_FLAG_TUPLE_ONLY,
  type PortReservation, type PortReserver,
} from './transport-ports.ts';
export { fillUdpChecksum, verifyUdpChecksum } from './udp-checksum.ts';
export { UdpDatagram, UdpSendResult, UdpStats, type UdpStackContext } from './udp-context.ts';
export {
  UdpEndpoint, createSocket, type UdpAddressInfo, type UdpBindOptions, type UdpMessage, type UdpRemoteInfo,
  type UdpSendCallback, type UdpSocketOptions, type UdpSocketType,
} from './udp-endpoint.ts';
