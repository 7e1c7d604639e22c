/**
 * What a UDP endpoint needs from its stack, and what it hands the stack to send: the contract between
 * `udp-endpoint.ts` and the stack that owns the demuxer, the port manager and the NICs.
 *
 * ```
 *  UdpEndpoint ── register/unregister ──► context.demuxer      ◄── deliverPacket ── stack (rx)
 *              ── reservePort/releasePort ► context.ports (a PortManager)
 *              ── selectSourceAddress ────► stack: source address for a wildcard-bound endpoint
 *              ── send(UdpDatagram) ──────► stack: adds IP + link headers, writes it out
 * ```
 * Thread: the stack's (one context per stack; its endpoints run on that thread).
 */
import { IPV4_PROTOCOL_NUMBER, type NetworkProtocolNumber } from '../protocols.ts';
import type { TransportDemuxer } from './transport-demuxer.ts';
import type { PortReserver } from './transport-ports.ts';

/** What a stack's `selectSourceAddress` and `send` report; each non-Ok value maps to the errno a socket would see. */
export const UdpSendResult = {
  Ok: 0,
  /** No route to the destination (ENETUNREACH). */
  NoRoute: 1,
  /** A queue or ring was full; the datagram is dropped (ENOBUFS). */
  NoBufferSpace: 2,
  /** Larger than the route can carry and not fragmentable here (EMSGSIZE). */
  MessageTooLong: 3,
} as const;
export type UdpSendResult = (typeof UdpSendResult)[keyof typeof UdpSendResult];

/**
 * One outbound UDP datagram, header and payload, checksum already filled in; the stack adds IP and link
 * headers. Each endpoint reuses one: the stack copies what it needs before `send` returns.
 */
export class UdpDatagram {
  /** `IPV4_PROTOCOL_NUMBER` or `IPV6_PROTOCOL_NUMBER`. */
  networkProtocol: NetworkProtocolNumber = IPV4_PROTOCOL_NUMBER;
  /** Source address: IPv4 in bytes 0..3, IPv6 in all 16 (network order). `selectSourceAddress` writes it. */
  readonly sourceAddress = new Uint8Array(16);
  /** Destination address, as `sourceAddress`. */
  readonly destinationAddress = new Uint8Array(16);
  /** NIC to send from: the endpoint's bindToDevice, 0 = the route decides (`selectSourceAddress` may set it). */
  nicId = 0;
  /** Memory holding the datagram (UDP header first): `bytes[offset, offset + length)`. */
  bytes: Uint8Array = new Uint8Array(0);
  /** The same memory as a DataView. */
  view: DataView = new DataView(new ArrayBuffer(0));
  /** Where the UDP header starts. */
  offset = 0;
  /** UDP header plus payload, in bytes (the UDP length field). */
  length = 0;
}

/** UDP counters (gVisor `tcpip.UDPStats` and the endpoint's `TransportEndpointStats`); one writer, the stack's thread. */
export class UdpStats {
  /** Datagrams handed to an endpoint's receive queue. */
  packetsReceived = 0;
  /** Datagrams no endpoint wanted (the stack counts these when `deliverPacket` returns 0). */
  unknownPortErrors = 0;
  /** Datagrams dropped because the endpoint's receive queue was full. */
  receiveBufferErrors = 0;
  /** Datagrams dropped for a bad UDP header (truncated, length field out of range). */
  malformedPacketsReceived = 0;
  /** Datagrams dropped for a bad checksum. */
  checksumErrors = 0;
  /** Datagrams the stack accepted for sending. */
  packetsSent = 0;
  /** Datagrams that failed to send (no route, no buffer space, too long). */
  packetSendErrors = 0;
}

/**
 * The stack as a UDP endpoint sees it. The stack builds one per stack and passes it to `createSocket`.
 */
export interface UdpStackContext {
  /** The stack's transport demuxer: endpoints register here and receive from here. */
  readonly demuxer: TransportDemuxer;
  /** The port manager (`src/ports`' PortManager fits). */
  readonly ports: PortReserver;
  /** The stack's UDP counters; endpoints add to them as to their own. */
  readonly stats: UdpStats;
  /**
   * Writes into `datagram.sourceAddress` the address the stack would send to `datagram.destinationAddress`
   * from (the route's local address; on `datagram.nicId` when that is not 0), may set `datagram.nicId`,
   * and returns Ok, or NoRoute. Called only for an endpoint bound to the wildcard address, before the
   * checksum is computed. Must not throw.
   */
  selectSourceAddress(datagram: UdpDatagram): UdpSendResult;
  /**
   * Sends `datagram`: the stack adds the IP header (source and destination from the datagram) and the
   * link header and queues it; returns Ok or why it was dropped. Copies the bytes before returning.
   * Must not throw, must not call back into the endpoint.
   */
  send(datagram: UdpDatagram): UdpSendResult;
}
