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
 * link carries Ethernet (the stack reads Ethernet frames only). Queueing for unresolved neighbors is off
 * (the frame goes home when `deliverNetworkPacket` returns): a packet that would wait is dropped and its
 * request is sent, as with `queueUnresolved: false`. `tick` runs every `tickMs` between start and stop.
 *
 * Thread: main. Per packet: no allocation of its own (`Stack.handleInbound` documents its own).
 */
import { ParseReason, ParsedPacket, StackAction, parsePacket, type LinkOutput, type Stack } from '../tcpip/index.ts';
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
  private engine: PacketSender | null = null;
  private batches: OutboundBatch[] = [];
  private readonly parsed = new ParsedPacket();
  private readonly out = new DataView(new ArrayBuffer(OUT_BYTES));
  private readonly outBytes = new Uint8Array(this.out.buffer);
  private readonly tickMs: number;
  private timer: ReturnType<typeof setInterval> | null = null;
  private hash = 0;

  /** Wraps `stack` (see the file comment for its NICs). Throws ERR_OUT_OF_RANGE for a bad `tickMs`. */
  constructor(stack: Stack, tickMs: number = DEFAULT_TICK_MS) {
    validateInteger(tickMs, 'tickMs', 1, 60_000);
    this.stack = stack;
    this.tickMs = tickMs;
  }

  start(engine: PacketSender): void {
    this.engine = engine;
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
    this.stack.setLinkOutput(null);
  }

  deliverNetworkPacket(p: InboundPacket): void {
    const end = p.offset + p.length;
    if (parsePacket(p.view, p.offset, end, true, this.parsed) !== ParseReason.Ok) return;
    const stack = this.stack;
    const action = stack.handleInbound(p.link + 1, p.view, p.offset, end, this.parsed, this.out, 0, -1);
    const r = stack.result;
    this.hash = p.hash;
    if (r.outLength > 0) this.sendFrame(r.outNic, this.out, 0, r.outLength);
    if (action === StackAction.Forward) this.copyOut(r.egressNic - 1, p.bytes, r.frameOffset, r.frameLength);
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

  sendQueued(_nicId: number, _packet: number, _link: DataView, _linkOffset: number): void {
    // Never called: the adapter hands the stack no packet handle, so nothing is queued.
  }

  releaseQueued(_packet: number): void {
    // As sendQueued.
  }

  /** Copies `bytes[offset, +length)` into a tx frame and queues it on `link`. */
  private copyOut(link: number, bytes: Uint8Array, offset: number, length: number): void {
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
    pool.bytes.set(bytes.subarray(offset, offset + length), pool.offsetOf(frame));
    batch.add(frame, 0, length, this.hash);
    if (batch.count === batch.capacity) engine.writePackets(link, batch);
  }
}
