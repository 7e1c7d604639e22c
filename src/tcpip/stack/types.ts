/**
 * The interfaces the stack talks through: its clock, the link output it emits frames on, and the
 * transport it delivers to. Kept apart so `stack.ts` depends on shapes, not on the thread wiring.
 */
import type { TransportPacket } from './transport-packet.ts';

/** Returns the current time in milliseconds. Injected so tests run on a fake clock; default `performance.now`. */
export type Clock = () => number;

/** A counter array indexed by a reason enum: any typed array of numbers (often over a SharedArrayBuffer). */
export type Counters = Float64Array | Int32Array | Uint32Array;

/**
 * Where the stack sends frames that are not answers to the packet in hand: ARP/NS requests from
 * `tick()`, and packets that waited for a neighbor. Called synchronously on the stack's thread.
 */
export interface LinkOutput {
  /**
   * Sends the frame `view[offset, offset + length)` on NIC `nicId`. The memory is the stack's scratch
   * space and is reused once this returns: copy or send it before returning. Must not throw.
   */
  sendFrame(nicId: number, view: DataView, offset: number, length: number): void;
  /**
   * Sends queued packet `packet` (the number the caller gave `handleInbound`) on NIC `nicId`, after
   * writing the 6 bytes at `link[linkOffset]` as its Ethernet destination (`copyLinkAddress`); the
   * rest of the frame (source MAC, TTL, checksum) is ready. The packet is the caller's again. Must not throw.
   */
  sendQueued(nicId: number, packet: number, link: DataView, linkOffset: number): void;
  /** Frees queued packet `packet`: its next hop did not resolve, or the queue overflowed. Must not throw. */
  releaseQueued(packet: number): void;
}

/** The transport side as the stack sees it: the `TransportDemuxer` fits. */
export interface TransportDeliver {
  /** Hands a TCP/UDP packet to its endpoint(s); returns how many took it, 0 for none, -1 for an invalid packet. */
  deliverPacket(pkt: TransportPacket): number;
}
