/**
 * `StackAdapter`: plugs the stack's `Stack` (`src/tcpip/stack/stack.ts`) into the engine as its
 * `StackHandler`. Per packet from a worker: parse it again on this thread (cheap; the descriptor does
 * not carry every field `handleInbound` reads), `stack.handleInbound`, then send what the stack asks
 * for, each as a copy in a tx frame on the link `nicId - 1`, with the packet's flow hash (so a flow's
 * replies stay on one fd): its answer in `out` (ARP reply, echo reply, ICMP error, a request), and the
 * frame itself when the stack forwarded it (the slow path: next hops the workers did not know). Frames
 * the stack sends on its own (`tick` requests) go out through `LinkOutput.sendFrame`.
 *
 * Contract: the `Stack` has one NIC per engine link, added in link order (NIC id = link + 1), and every
 * link carries Ethernet (the stack reads Ethernet frames only). Forwarded frames never wait for a
 * neighbor (the frame goes home when `deliverNetworkPacket` returns): one that would wait is dropped and
 * its request is sent, as with `queueUnresolved: false`. Packets this thread originates (the UDP send
 * path, `udp-context.ts`) are built in tx frames, which may wait: `holdTxFrame` records one before it
 * goes into a neighbor queue, and the stack hands it back through `sendQueued` (sent, its destination
 * MAC written) or `releaseQueued` (freed). `sendTxFrame` queues a built frame; frames queued outside the
 * pump go out at the end of the current task (one microtask flush). `tick` runs every `tickMs` between
 * start and stop; `stop` frees the frames still waiting for a neighbor.
 *
 * Checksum offload: a packet whose descriptor says `DESC_FLAG_CHECKSUM_OK` (the kernel verified its
 * checksum, or the sender left it to offload) goes to `handleInbound` with `checksumValidated`, so UDP
 * sockets and the reuseport `AppEndpoint`s skip their check. A packet the stack forwards that carries
 * `DESC_FLAG_CHECKSUM_PARTIAL` gets its UDP/TCP checksum completed in the tx copy.
 *
 * Thread: main. Per packet: no allocation of its own (`Stack.handleInbound` documents its own).
 */
import {
  FragmentKind, ParseReason, ParsedPacket, StackAction, completeTransportChecksum, copyLinkAddress, parsePacket,
  type LinkOutput, type NeighborTable, type Stack,
} from '../tcpip/index.ts';
import { DESC_FLAG_CHECKSUM_OK, DESC_FLAG_CHECKSUM_PARTIAL } from '../ring/index.ts';
import { validateInteger } from '../validate.ts';
import type { InboundPacket, PacketSender, StackHandler } from './inbound.ts';
import { OutboundBatch } from './outbound.ts';

/** Bytes of the scratch frame the stack writes answers into. */
const OUT_BYTES = 2048;
/** Default period of `stack.tick()` (neighbor timers), ms. */
export const DEFAULT_TICK_MS = 200;

/** Runs a `Stack` on the coordinator's packets. */
export class StackAdapter implements StackHandler, LinkOutput {
  readonly stack: Stack;
  /** Packets the stack asked to send that found no free tx frame, or whose link does not exist. */
  sendFailures = 0;
  /** Packets the stack forwarded whose partial checksum (`DESC_FLAG_CHECKSUM_PARTIAL`) was completed in the copy. */
  checksumsCompleted = 0;
  private engine: PacketSender | null = null;
  private batches: OutboundBatch[] = [];
  private readonly parsed = new ParsedPacket();
  private readonly out = new DataView(new ArrayBuffer(OUT_BYTES));
  private readonly outBytes = new Uint8Array(this.out.buffer);
  private readonly tickMs: number;
  private timer: ReturnType<typeof setInterval> | null = null;
  private hash = 0;
  /** Length and flow hash of each tx frame held for a neighbor queue, by frame index. */
  private heldLengths = new Int32Array(0);
  private heldHashes = new Int32Array(0);
  /** Tx frames the stack gave back unsent (their neighbor did not resolve, or its queue overflowed). */
  queueReleases = 0;
  private flushQueued = false;
  private readonly flushTask = (): void => {
    this.flushQueued = false;
    this.flush();
  };

  /** Wraps `stack` (see the file comment for its NICs). Throws ERR_OUT_OF_RANGE for a bad `tickMs`. */
  constructor(stack: Stack, tickMs: number = DEFAULT_TICK_MS) {
    validateInteger(tickMs, 'tickMs', 1, 60_000);
    this.stack = stack;
    this.tickMs = tickMs;
  }

  start(engine: PacketSender): void {
    this.engine = engine;
    this.heldLengths = new Int32Array(engine.txPool.frameCount);
    this.heldHashes = new Int32Array(engine.txPool.frameCount);
    this.batches = [];
    for (let nic = 1; this.stack.nics.get(nic) !== undefined; nic++) this.batches.push(new OutboundBatch(64));
    this.stack.setLinkOutput(this);
    this.timer = setInterval(() => {
      this.hash = 0;
      this.stack.tick();
      this.flush();
    }, this.tickMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    // Frames still waiting for a neighbor go back to the tx pool (the stack cannot send them any more).
    this.releaseAllQueued(this.stack.arp);
    this.releaseAllQueued(this.stack.ndp);
    this.stack.setLinkOutput(null);
    this.engine = null;
  }

  /** The engine this adapter sends through, from `start` until `stop`; null outside. */
  get sender(): PacketSender | null {
    return this.engine;
  }

  deliverNetworkPacket(p: InboundPacket): void {
    const end = p.offset + p.length;
    if (parsePacket(p.view, p.offset, end, true, this.parsed) !== ParseReason.Ok) return;
    const stack = this.stack;
    const flags = p.flags;
    const action = stack.handleInbound(p.link + 1, p.view, p.offset, end, this.parsed, this.out, 0, -1, (flags & DESC_FLAG_CHECKSUM_OK) !== 0);
    const r = stack.result;
    this.hash = p.hash;
    if (r.outLength > 0) this.sendFrame(r.outNic, this.out, 0, r.outLength);
    if (action === StackAction.Forward) {
      const partial = (flags & DESC_FLAG_CHECKSUM_PARTIAL) !== 0 && this.parsed.fragment === FragmentKind.None;
      this.copyOut(r.egressNic - 1, p.bytes, r.frameOffset, r.frameLength, partial);
    }
  }

  flush(): void {
    const engine = this.engine;
    if (engine === null) return;
    for (let link = 0; link < this.batches.length; link++) {
      const batch = this.batches[link]!;
      if (batch.count > 0) engine.writePackets(link, batch);
    }
  }

  // LinkOutput: frames the stack sends itself.

  sendFrame(nicId: number, view: DataView, offset: number, length: number): void {
    // Answers come from `out` (no allocation); `tick` requests from the stack's own scratch (rare).
    const bytes = view.buffer === this.out.buffer ? this.outBytes : new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
    this.copyOut(nicId - 1, bytes, offset, length);
  }

  /**
   * Sends tx frame `packet`, held with `holdTxFrame`, on NIC `nicId` after writing the 6 bytes at
   * `link[linkOffset]` as its Ethernet destination. Its neighbor resolved. Never throws.
   */
  sendQueued(nicId: number, packet: number, link: DataView, linkOffset: number): void {
    const engine = this.engine;
    if (engine === null || packet >>> 0 >= this.heldLengths.length) return;
    const pool = engine.txPool;
    copyLinkAddress(link, linkOffset, pool.view, pool.offsetOf(packet));
    this.sendTxFrame(nicId - 1, packet, this.heldLengths[packet]!, this.heldHashes[packet]!);
  }

  /** Frees tx frame `packet`, held with `holdTxFrame`: its neighbor did not resolve. Never throws. */
  releaseQueued(packet: number): void {
    this.queueReleases++;
    this.engine?.freeTxFrame(packet);
  }

  // ---- frames this thread originates (the UDP send path) -------------------------------------------

  /**
   * Queues tx frame `frame` (from `sender.allocTxFrame()`, a whole frame of `length` bytes at offset 0)
   * on `link` with flow hash `hash`; ownership passes to the engine. Sent at the end of the pump's pass,
   * or of the current task (a microtask flush). Returns false, and frees the frame, when `link` does not
   * exist or the engine is gone. Thread: main. No allocation.
   */
  sendTxFrame(link: number, frame: number, length: number, hash: number): boolean {
    const engine = this.engine;
    const batch = this.batches[link];
    if (engine === null || batch === undefined) {
      this.sendFailures++;
      engine?.freeTxFrame(frame);
      return false;
    }
    batch.add(frame, 0, length, hash);
    if (batch.count === batch.capacity) engine.writePackets(link, batch);
    this.scheduleFlush();
    return true;
  }

  /**
   * Records the length and flow hash of tx frame `frame` before the caller puts it into a neighbor
   * queue (`NeighborTable.enqueue`): `sendQueued` / `releaseQueued` then know what to do with it.
   * Thread: main. No allocation.
   */
  holdTxFrame(frame: number, length: number, hash: number): void {
    if (frame >>> 0 >= this.heldLengths.length) return;
    this.heldLengths[frame] = length;
    this.heldHashes[frame] = hash | 0;
  }

  /** Frees every frame waiting in `table`'s neighbor queues (at stop). */
  private releaseAllQueued(table: NeighborTable): void {
    for (let e = 0; e < table.capacity; e++) {
      for (let p = table.dequeue(e); p >= 0; p = table.dequeue(e)) this.releaseQueued(p);
    }
  }

  /**
   * Copies `bytes[offset, +length)` into a tx frame and queues it on `link`. With `partial`, the copy is
   * the packet `this.parsed` describes (starting at `offset`) and its partial UDP/TCP checksum is
   * completed in the copy before it is queued.
   */
  private copyOut(link: number, bytes: Uint8Array, offset: number, length: number, partial = false): void {
    const engine = this.engine;
    const batch = this.batches[link];
    if (engine === null || batch === undefined) {
      this.sendFailures++;
      return;
    }
    const pool = engine.txPool;
    const frame = length > pool.frameSize ? -1 : engine.allocTxFrame();
    if (frame < 0) {
      this.sendFailures++;
      return;
    }
    const at = pool.offsetOf(frame);
    pool.bytes.set(bytes.subarray(offset, offset + length), at);
    if (partial) {
      const parsed = this.parsed, shift = at - offset; // same offsets, moved into the tx frame
      if (completeTransportChecksum(pool.view, parsed.transportProtocol, parsed.transportOffset + shift, parsed.end + shift)) this.checksumsCompleted++;
    }
    batch.add(frame, 0, length, this.hash);
    if (batch.count === batch.capacity) engine.writePackets(link, batch);
    this.scheduleFlush();
  }

  /** Flushes the batches at the end of the current task (the pump flushes sooner after a pass). */
  private scheduleFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(this.flushTask);
  }
}
