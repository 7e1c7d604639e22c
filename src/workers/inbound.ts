/**
 * What the coordinator hands the stack: `InboundPacket`, one reusable view over a descriptor and the
 * frame it points to (in the receiving worker's pool), and the `StackHandler` contract the stack
 * implements (`src/tcpip/stack`'s `Stack` plugs in here; gVisor's `DeliverNetworkPacket`).
 *
 * Thread: the main thread. Hot path: `InboundPacket.load` reads one descriptor, no allocation.
 */
import {
  DESC_FRAME,
  DESC_HASH,
  DESC_HEADERS,
  DESC_LENGTH,
  DESC_OFFSET,
  DESC_POOL,
  DESC_PROTOCOLS,
  DESC_USER,
  NO_HEADER,
  flagsOf,
  l3OffsetOf,
  l4OffsetOf,
  networkProtocolOf,
  transportProtocolOf,
  type FrameMemory,
} from '../ring/index.ts';
import type { HandoffReason } from './forwarding.ts';

const EMPTY_BYTES = new Uint8Array(0);
const EMPTY_VIEW = new DataView(new ArrayBuffer(0));

/**
 * One received packet as the stack sees it: offsets are absolute in `view`/`bytes` (the receiving
 * worker's frame area). Valid only during `deliverNetworkPacket`: the frame goes home when it returns,
 * so copy what you keep. One object reused for every packet; never hold on to it.
 */
export class InboundPacket {
  /** Link and fd index it arrived on, and the worker slot that received it. */
  link = -1;
  fdIndex = -1;
  slot = -1;
  /** The frame area of the receiving worker's pool (shared memory). */
  view: DataView = EMPTY_VIEW;
  bytes: Uint8Array = EMPTY_BYTES;
  /** The frame and its pool id (for diagnostics). */
  frame = -1;
  poolId = -1;
  /** First byte of the packet as received (the Ethernet header when the link has one). */
  offset = 0;
  /** Bytes as received, link header included. */
  length = 0;
  /** Network header (IPv4, IPv6 or ARP). */
  networkOffset = 0;
  /** Transport header, or -1 (ARP, a non-first fragment). */
  transportOffset = -1;
  /** EtherType: 0x0800, 0x86dd, 0x0806. */
  networkProtocol = 0;
  /** IP protocol number (0 when none, e.g. ARP). */
  transportProtocol = 0;
  /**
   * `DESC_FLAG_*` bits (multicast link destination, checksum OK: the kernel verified it or the sender
   * offloaded it, and `DESC_FLAG_CHECKSUM_PARTIAL` for the latter).
   */
  flags = 0;
  /**
   * The engine's 5-tuple flow hash as a signed int32 (the same 32 bits; `>>> 0` for the unsigned value,
   * e.g. before `%`): an unsigned one would be a HeapNumber for half the flows. Send the flow's replies
   * with it (`OutboundBatch.add` takes either) to keep them on one fd.
   */
  hash = 0;
  /** Why the worker did not forward it. */
  reason: HandoffReason = 0;

  /**
   * Points this object at the descriptor at `records[s]` of a ring from worker `slot` over `pool`.
   * Thread: main. No allocation.
   */
  load(records: Int32Array, s: number, pool: FrameMemory, slot: number, link: number, fdIndex: number): this {
    const frame = records[s + DESC_FRAME]!;
    const start = pool.offsetOf(frame) + records[s + DESC_OFFSET]!;
    const headers = records[s + DESC_HEADERS]!;
    const protocols = records[s + DESC_PROTOCOLS]!;
    const l4 = l4OffsetOf(headers);
    this.link = link;
    this.fdIndex = fdIndex;
    this.slot = slot;
    this.view = pool.view;
    this.bytes = pool.bytes;
    this.frame = frame;
    this.poolId = records[s + DESC_POOL]!;
    this.offset = start;
    this.length = records[s + DESC_LENGTH]!;
    this.networkOffset = start + l3OffsetOf(headers);
    this.transportOffset = l4 === NO_HEADER ? -1 : start + l4;
    this.networkProtocol = networkProtocolOf(protocols);
    this.transportProtocol = transportProtocolOf(protocols);
    this.flags = flagsOf(protocols);
    this.hash = records[s + DESC_HASH]!;
    this.reason = records[s + DESC_USER]! as HandoffReason;
    return this;
  }
}

/**
 * The stack, as the coordinator calls it. Thread: main; every method runs on the event loop, so it must
 * not block. Throwing is caught per packet and counted (`handlerErrors`); the frame still goes home.
 */
export interface StackHandler {
  /** Receives the engine once `start()` has every worker ready, before any packet (keep it to send). */
  start?(engine: PacketSender): void;
  /**
   * Handles one packet; synchronous: its frame returns to the worker's pool when this returns (copy what
   * you keep; build replies in tx frames from `engine.allocTxFrame()`).
   */
  deliverNetworkPacket(packet: InboundPacket): void;
  /** Runs after each drained batch of deliveries: send the replies it queued in one `writePackets`. */
  flush?(): void;
  /** Runs when the engine stops, after the last delivery (clear timers). */
  stop?(): void;
}

/** The sending half of the engine the stack gets in `start` (see `Engine` for each method). */
export interface PacketSender {
  /** The tx pool frames are allocated from (write packets at `txPool.offsetOf(frame)`). */
  readonly txPool: FrameMemory;
  /** The engine's flow-hash seed (hash outbound flows as the workers hash inbound ones). */
  readonly hashSeed: number;
  allocTxFrame(): number;
  freeTxFrame(frame: number): void;
  writePackets(link: number, batch: OutboundBatchLike): number;
}

/** What `writePackets` reads (an `OutboundBatch`). */
export interface OutboundBatchLike {
  count: number;
  readonly frames: Int32Array;
  readonly offsets: Int32Array;
  readonly lengths: Int32Array;
  readonly hashes: Uint32Array;
  clear(): void;
}
