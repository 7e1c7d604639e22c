/**
 * What the stack hands the transport demuxer for one received packet, and what an endpoint must be
 * to receive it.
 *
 * `TransportPacket` is a reusable record of offsets into a frame, like `ParsedPacket`: the stack keeps
 * one per thread, fills it per packet (`set()`), and calls `TransportDemuxer.deliverPacket()`. The
 * demuxer reads the 4-tuple from the frame itself (addresses from the IP header, ports from the first
 * four transport bytes), so the record cannot disagree with the bytes.
 *
 * Thread: the stack's (the one holding the frame). Allocation: none after construction.
 */
import type { NetworkProtocolNumber } from '../protocols.ts';
import { IPV4_PROTOCOL_NUMBER } from '../protocols.ts';

const EMPTY_BYTES = new Uint8Array(0);
const EMPTY_VIEW = new DataView(EMPTY_BYTES.buffer);

/** One received transport packet inside a frame it does not own; re-point it per packet with `set()`. */
export class TransportPacket {
  /** The frame's memory as bytes (the same memory as `view`). */
  bytes: Uint8Array = EMPTY_BYTES;
  /** The frame's memory as a DataView. Frames live in a SharedArrayBuffer: keep the wide type. */
  view: DataView = EMPTY_VIEW;
  /** `IPV4_PROTOCOL_NUMBER` or `IPV6_PROTOCOL_NUMBER`. */
  networkProtocol: NetworkProtocolNumber = IPV4_PROTOCOL_NUMBER;
  /** Start of the IPv4 or IPv6 header (its source and destination addresses are read from there). */
  networkOffset = 0;
  /** IP protocol number of the transport (after IPv6 extension headers). */
  transportProtocol = 0;
  /** Start of the transport header (its first four bytes are source and destination port). */
  transportOffset = 0;
  /** End of the IP payload: the IPv4 total length or IPv6 payload length, link padding excluded. */
  end = 0;
  /** NIC the packet arrived on (gVisor `pkt.NICID`), > 0. */
  nicId = 0;
  /**
   * True when the network layer found the destination to be a broadcast address of the receiving NIC
   * (gVisor `LocalAddressBroadcast`); 255.255.255.255 and multicast destinations are recognised by the
   * demuxer itself.
   */
  localAddressBroadcast = false;
  /** True when the NIC already verified the transport checksum (RX checksum offload): endpoints skip it. */
  checksumValidated = false;

  /** Points the record at one packet; every field at once so none is left from the previous packet. */
  set(
    bytes: Uint8Array,
    view: DataView,
    networkProtocol: NetworkProtocolNumber,
    networkOffset: number,
    transportProtocol: number,
    transportOffset: number,
    end: number,
    nicId: number,
    localAddressBroadcast: boolean,
    checksumValidated: boolean,
  ): this {
    this.bytes = bytes;
    this.view = view;
    this.networkProtocol = networkProtocol;
    this.networkOffset = networkOffset;
    this.transportProtocol = transportProtocol;
    this.transportOffset = transportOffset;
    this.end = end;
    this.nicId = nicId;
    this.localAddressBroadcast = localAddressBroadcast;
    this.checksumValidated = checksumValidated;
    return this;
  }
}

/**
 * A receiver of transport packets (gVisor `stack.TransportEndpoint`): what the demuxer registers and
 * hands packets to.
 */
export interface TransportEndpoint {
  /**
   * Handles one packet addressed to this endpoint. Called synchronously from `deliverPacket()` on the
   * stack's thread; the frame returns to its pool right after, so copy what you keep. Must not throw,
   * must not write to the frame (a broadcast hands the same frame to several endpoints) and must not
   * register or unregister endpoints (the demuxer is iterating): defer such work.
   */
  handlePacket(pkt: TransportPacket): void;
}
