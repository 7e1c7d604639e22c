/**
 * The hot loop of a dispatch worker: one fd's receive side, run to completion.
 * ```
 *  turn:  reclaim ◄── completion ring (frames the coordinator is done with) ──► pool free list
 *         drainTx ◄── tx ring (coordinator's packets for this fd) ──► sendmmsg on this fd ──► tx completion ring
 *         receive ◄── fd into pool frames (recvmmsg / readv / PACKET_MMAP, via the fdbased Endpoint)
 *            per packet: parsePacket → Forwarder.decide (flow hash where it is used: ToStack, ICMP, n > 1)
 *              Forward  → (partial checksum? complete it) → TxBatch of the egress link ──► sendmmsg on
 *                         links[L].fds[hash % n] (one sendmmsg per receive batch and fd), then free
 *              ToStack  → descriptor on the rx ring ──► coordinator (doorbell if it sleeps)
 *              Drop / parse failure → free, count
 *         nothing done → sleep in poll() over {fd, eventfd} (need-wakeup flags set on both inbound rings)
 * ```
 * gVisor's shape (REFERENCE-gvisor.md §2.7, DESIGN.md "Threads and ownership"): the thread that has a
 * packet calls the outbound link's WritePackets itself; fds are process-wide and the kernel serialises
 * concurrent sends, and a flow always arrives on one fd, so it stays on one worker and keeps its order.
 * Forwarded frames never leave this thread: freed right after sendmmsg returns (the kernel has copied
 * them). Only packets for the stack cross to the coordinator.
 *
 * In place (a PACKET_MMAP fd on an Ethernet link): the turn peeks the ready ring slots instead of copying
 * them into pool frames (`MmapDispatcher.peekInPlace`), applies the endpoint's Ethernet checks itself,
 * parses, decides and forwards from the ring memory (registered with every forward writer), copies only
 * packets for the stack into a pool frame, and hands the slots back after the sends (`releaseInPlace`):
 * the kernel copies forwarded bytes on send anyway, so the receive-side copy was pure overhead. Counters
 * move exactly as on the copying path.
 *
 * Checksum offload: the endpoint reports per packet what the kernel said (`RxChecksum`, AF_PACKET in
 * recvmmsg and mmap modes). Verified or partial (a local sender's tx checksum offload, e.g. over a veth)
 * go to the stack with `DESC_FLAG_CHECKSUM_OK` (plus `DESC_FLAG_CHECKSUM_PARTIAL`), so it skips the check
 * a partial checksum would fail; a partial packet that is forwarded gets its UDP/TCP checksum completed
 * in software first (a receiver elsewhere would drop it), and only those packets pay that pass.
 *
 * Thread: the dispatch worker. Hot path (everything but the constructor and `release`): no allocation,
 * no closure, no string, no throw; counters written once per batch.
 */
import {
  MmapDispatcher,
  PacketWriter,
  carriesVnetHeader,
  SEND_BATCH_SIZE,
  TxBatch,
  RxChecksum,
  TxCounter,
  WaitResult,
  type Endpoint,
  type StopFd,
} from '../fdbased/index.ts';
import {
  DESC_FLAG_CHECKSUM_OK,
  DESC_FLAG_CHECKSUM_PARTIAL,
  DESC_FLAG_MULTICAST,
  DESC_FRAME,
  DESC_HASH,
  DESC_HEADERS,
  DESC_LENGTH,
  DESC_OFFSET,
  DESC_POOL,
  DESC_PROTOCOLS,
  DESC_USER,
  NO_HEADER,
  packHeaders,
  packProtocols,
  type CompletionReceiver,
  type CompletionSender,
  type FrameMemory,
  type FramePool,
  type RingConsumer,
  type RingProducer,
} from '../ring/index.ts';
import {
  FragmentKind,
  IPV4_PROTOCOL_NUMBER,
  IPV6_PROTOCOL_NUMBER,
  ParseReason,
  ParsedPacket,
  completeTransportChecksum,
  flowHashIpv4Int32,
  flowHashIpv6Int32,
  parsePacket,
} from '../tcpip/index.ts';
import { ForwardVerdict, ForwardDecision, HandoffReason, type Forwarder } from './forwarding.ts';
import { CLOCK_WORD, CONTROL_MESSAGES, DOORBELL_WORD, type LinkInit } from './messages.ts';
import { RX_DROPS_BY_REASON, WorkerStat } from './stats.ts';

/** `run()` returns this when control messages are waiting (the worker handles them, then runs again). */
export const LOOP_CONTROL = 1;

const ETHERNET_HEADER_SIZE = 14;

/** What the loop runs over; the worker entry builds it (`dispatch-worker.ts`). */
export interface DispatchLoopParts {
  /** Endpoint over this worker's one fd, attached at index 0 over `pool` with `rxOffset`. */
  endpoint: Endpoint;
  /** The eventfd the coordinator writes; also the endpoint's. */
  stopFd: StopFd;
  pool: FramePool;
  /** Where the receive writes a frame's first byte; >= 14 before a bare IP header (forwarding headroom). */
  rxOffset: number;
  /** Views over the coordinator's tx pool (tx ring descriptors point into it). */
  txPool: FrameMemory;
  rx: RingProducer;
  tx: RingConsumer;
  completions: CompletionReceiver;
  txCompletions: CompletionSender;
  stats: Float64Array;
  control: Int32Array;
  doorbell: Int32Array;
  /** Every link; `link` is this worker's. */
  links: readonly LinkInit[];
  link: number;
  forwarder: Forwarder | null;
  hashSeed: number;
  batchSize: number;
  pollTimeoutMs: number;
}

/** One fd's receive side and this worker's sends. Build once; `run()` until it returns. */
export class DispatchLoop {
  /** The forwarder in use; change it with `setForwarder` (between turns). */
  forwarder: Forwarder | null;
  /** Control messages already handled (`CONTROL_MESSAGES` value); the worker entry advances it. */
  seenMessages = 0;

  private readonly endpoint: Endpoint;
  private readonly stopFd: StopFd;
  private readonly pool: FramePool;
  private readonly view: DataView;
  private readonly rxOffset: number;
  private readonly linkHeader: number;
  private readonly ethernet: boolean;
  private readonly txPool: FrameMemory;
  private readonly rx: RingProducer;
  private readonly tx: RingConsumer;
  private readonly completions: CompletionReceiver;
  private readonly txCompletions: CompletionSender;
  private readonly stats: Float64Array;
  private readonly control: Int32Array;
  private readonly doorbell: Int32Array;
  private readonly link: number;
  private readonly hashSeed: number;
  private readonly batchSize: number;
  private readonly pollTimeoutMs: number;

  // Receive batch: frames[0..have) are this thread's free frames ready for the next receive.
  private readonly frames: Int32Array;
  private readonly lengths: Int32Array;
  /** `RxChecksum` of each received packet, filled by the endpoint with `frames`/`lengths`. */
  private readonly checksums: Uint8Array;
  private readonly fresh: Int32Array;
  private have = 0;
  /** Frames published to the coordinator and not yet back; at most `lendLimit` (half the pool). */
  private lent = 0;
  private readonly lendLimit: number;
  private readonly parsed = new ParsedPacket();
  private readonly decision = new ForwardDecision();

  // Forward path: per egress link a writer (memory 0 = this pool, then the forwarders' scratch memories),
  // a batch, and the frames behind it; one more batch for the forwarder's own frames (ICMP errors).
  private readonly writers: PacketWriter[];
  private readonly extraBatch = new TxBatch(1);
  private scratchId = -1; // memory id of the current forwarder's scratch in every writer
  private readonly scratchIds = new Map<Uint8Array, number>();
  private readonly forwardBatches: TxBatch[];
  /** Per egress link: the frames behind its batch, packet k at `batchSize - 1 - k` (see sendForwards). */
  private readonly forwardFrames: Int32Array[];
  /** Per link: 1 when it has a single fd (its packets need no flow hash to pick one). */
  private readonly singleFd: Uint8Array;
  // Tx ring path: a writer on this fd (memory 0 = the tx pool).
  private readonly ownWriter: PacketWriter;
  private readonly txBatch: TxBatch;
  private readonly txFrames: Int32Array;
  private sent = false; // a send happened this turn: refresh the tx counters

  // In-place path (PACKET_MMAP over an Ethernet link): packets are parsed and forwarded straight from the
  // kernel's ring slots, no copy into a pool frame; only packets for the stack are copied into one.
  /** The fd's ring dispatcher when the in-place path is used, else null. */
  private readonly mmap: MmapDispatcher | null;
  /** Its ring memory as a DataView (an empty one without the in-place path). */
  private readonly ringView: DataView;
  /** Memory id of the ring in every forward writer (registered right after the pool, so 1); -1 without. */
  private readonly ringMemoryId: number;
  /** Ring offsets of the peeked frames (their lengths go in `lengths`). */
  private readonly offsets: Int32Array;

  constructor(p: DispatchLoopParts) {
    this.endpoint = p.endpoint;
    this.stopFd = p.stopFd;
    this.pool = p.pool;
    this.view = p.pool.view;
    this.rxOffset = p.rxOffset;
    const own = p.links[p.link]!;
    this.ethernet = own.ethernetHeader;
    this.linkHeader = own.ethernetHeader ? ETHERNET_HEADER_SIZE : 0;
    this.txPool = p.txPool;
    this.rx = p.rx;
    this.tx = p.tx;
    this.completions = p.completions;
    this.txCompletions = p.txCompletions;
    this.stats = p.stats;
    this.control = p.control;
    this.doorbell = p.doorbell;
    this.link = p.link;
    this.forwarder = null;
    this.hashSeed = p.hashSeed;
    this.batchSize = p.batchSize;
    this.pollTimeoutMs = p.pollTimeoutMs;
    this.lendLimit = p.pool.frameCount >> 1;
    this.frames = new Int32Array(p.batchSize);
    this.lengths = new Int32Array(p.batchSize);
    this.checksums = new Uint8Array(p.batchSize);
    this.fresh = new Int32Array(p.batchSize);
    const d = p.endpoint.dispatcher(0);
    // Only over an Ethernet link: a forwarder may write a link header before a bare IP packet (its frame's
    // headroom), and before a ring frame is the slot's header.
    this.mmap = d instanceof MmapDispatcher && own.ethernetHeader && p.endpoint.ethernetHeader ? d : null;
    this.ringView = this.mmap !== null ? this.mmap.ringDataView : new DataView(new ArrayBuffer(0));
    this.offsets = new Int32Array(this.mmap !== null ? p.batchSize : 0);
    let ringMemoryId = -1;
    this.writers = p.links.map((l) => {
      // One sendmmsg per receive batch and fd (not 47 + 17 for a batch of 64 to one fd).
      // Frames leave as they are (ethernetHeader false: forwarded frames carry their own); an fd made with
      // IFF_VNET_HDR / PACKET_VNET_HDR still gets its (zero) virtio-net header in front of each.
      const vnetHeader = l.fds.map((fd, i) => carriesVnetHeader(fd, l.isSocket[i] === true, l.ethernetHeader));
      const w = new PacketWriter({ fds: l.fds, isSocket: l.isSocket, ethernetHeader: false, vnetHeader, sendBatchSize: p.batchSize });
      w.registerMemory(p.pool.bytes);
      if (this.mmap !== null) ringMemoryId = w.registerMappedMemory(this.mmap.ringMemory); // same id in each
      return w;
    });
    this.ringMemoryId = ringMemoryId;
    // A receive batch of n packets can send all n to one link: each batch holds a whole receive batch.
    this.forwardBatches = p.links.map(() => new TxBatch(p.batchSize));
    this.forwardFrames = p.links.map(() => new Int32Array(p.batchSize));
    this.singleFd = Uint8Array.from(p.links, (l) => (l.fds.length === 1 ? 1 : 0));
    this.ownWriter = new PacketWriter({ fds: [p.endpoint.fds[0]!], isSocket: [p.endpoint.isSocket[0]!], ethernetHeader: false, vnetHeader: p.endpoint.vnetHeaders[0] === true });
    this.ownWriter.registerMemory(p.txPool.bytes);
    this.txBatch = new TxBatch(SEND_BATCH_SIZE);
    this.txFrames = new Int32Array(SEND_BATCH_SIZE);
    this.setForwarder(p.forwarder);
    this.seenMessages = Atomics.load(p.control, CONTROL_MESSAGES);
    this.stats[WorkerStat.heartbeat] = 1;
    this.stats[WorkerStat.startedAt] = Date.now();
  }

  /**
   * Switches to `forwarder` (null: every packet to the coordinator), registering its scratch memory with
   * every link's writer once. Thread: the worker, between turns. Control path.
   */
  setForwarder(forwarder: Forwarder | null): void {
    const scratch = forwarder?.scratch ?? null;
    if (scratch !== null) {
      let id = this.scratchIds.get(scratch);
      if (id === undefined) {
        for (const w of this.writers) id = w.registerMemory(scratch); // same id in each: registered in step
        this.scratchIds.set(scratch, id!);
      }
      this.scratchId = id!;
    }
    this.forwarder = forwarder;
  }

  /**
   * Runs until control messages wait (`LOOP_CONTROL`) or the fd ends (its negative end code:
   * RECEIVE_EOF, RECEIVE_STOPPED, -errno). Thread: the worker.
   */
  run(): number {
    const control = this.control;
    const stats = this.stats;
    for (;;) {
      if (Atomics.load(control, CONTROL_MESSAGES) !== this.seenMessages) return LOOP_CONTROL;
      stats[WorkerStat.heartbeat]!++; // a counter: a clock read would allocate (stats.ts)
      const home = this.completions.reclaim();
      this.lent -= home;
      let work = home;
      work += this.drainTx();
      const n = this.receive();
      if (n < 0) return n;
      work += n;
      if (this.sent) this.refreshTxCounters();
      if (work === 0) {
        const r = this.sleep();
        if (r < 0) return r;
      }
    }
  }

  /** Refills the receive batch, receives, and dispatches what arrived. Returns the count or the fd's end code. */
  private receive(): number {
    if (this.mmap !== null) return this.receiveInPlace();
    let have = this.have;
    const batch = this.batchSize;
    if (have < batch) {
      const got = this.pool.allocBatch(this.fresh, batch - have);
      for (let i = 0; i < got; i++) this.frames[have + i] = this.fresh[i]!;
      have += got;
      this.have = have;
    }
    if (have === 0) {
      this.stats[WorkerStat.poolEmpty]!++;
      return 0;
    }
    const n = this.endpoint.receive(0, this.frames, this.lengths, have, this.checksums);
    if (n <= 0) return n;
    this.dispatch(n, false);
    this.frames.copyWithin(0, n, have); // the unused frames move to the front
    this.have = have - n;
    return n;
  }

  /**
   * The in-place receive: the ready ring frames that pass the endpoint's Ethernet checks
   * (`Endpoint.receiveInPlace`), dispatched from the ring, then the slots handed back (after the sends:
   * the kernel has copied the forwarded bytes). Returns the count or the fd's end code.
   */
  private receiveInPlace(): number {
    const n = this.endpoint.receiveInPlace(0, this.offsets, this.lengths, this.batchSize, this.checksums);
    if (n > 0) this.dispatch(n, true);
    if (n >= 0) this.endpoint.releaseInPlace(0); // also the slots of truncated or other hosts' frames
    return n;
  }

  /**
   * Parses, hashes and decides each of the `n` received packets; forwards, publishes or frees every one.
   * `inPlace`: they are ring frames at `offsets[i]` (forwarded from the ring, copied into a pool frame
   * only for the stack), else pool frames `frames[i]`.
   */
  private dispatch(n: number, inPlace: boolean): void {
    const view = inPlace ? this.ringView : this.view;
    const pool = this.pool, frames = this.frames, offsets = this.offsets, lengths = this.lengths, checksums = this.checksums;
    const memoryId = inPlace ? this.ringMemoryId : 0;
    const parsed = this.parsed, decision = this.decision, forwarder = this.forwarder;
    const rx = this.rx, records = rx.records, stats = this.stats;
    const rxOffset = this.rxOffset, linkHeader = this.linkHeader, ethernet = this.ethernet;
    const singleFd = this.singleFd, lastSlot = this.batchSize - 1;
    const now = Atomics.load(this.doorbell, CLOCK_WORD);
    // Packets for the stack keep their frames until the coordinator is done with them. It may hold at
    // most half the pool: past that (it is behind) they are dropped instead, so this thread always has
    // frames to receive into and forwarding never stalls behind the main thread.
    let cap = this.lendLimit - this.lent;
    if (cap > n) cap = n;
    const room = cap > 0 ? rx.reserve(cap) : 0;
    let published = 0, forwarded = 0, forwardDrops = 0, ringDrops = 0, bytes = 0;
    let notReady = 0, valid = 0, completed = 0;
    for (let i = 0; i < n; i++) {
      let frame = inPlace ? -1 : frames[i]!;
      const start = inPlace ? offsets[i]! : pool.offsetOf(frame) + rxOffset;
      const length = lengths[i]! + linkHeader;
      const checksum = checksums[i]!;
      bytes += length;
      if (checksum === RxChecksum.NotReady) notReady++;
      else if (checksum === RxChecksum.Valid) valid++;
      const reason = parsePacket(view, start, start + length, ethernet, parsed);
      if (reason !== ParseReason.Ok) {
        stats[RX_DROPS_BY_REASON + reason]!++;
        if (!inPlace) pool.free(frame);
        continue;
      }
      // The flow hash is taken where it is used (decide rewrites only MACs and TTL, never what it reads).
      let action: ForwardVerdict = ForwardVerdict.ToStack;
      decision.reason = HandoffReason.NoForwarding;
      if (forwarder !== null) {
        decision.extraLength = 0;
        action = forwarder.decide(view, this.link, parsed, now, decision);
        if (decision.extraLength > 0) this.sendExtra(this.hash(view, parsed));
      }
      if (action === ForwardVerdict.Forward) {
        // A partial checksum (the field holds the pseudo-header sum) must be whole before it leaves: the
        // forwarder rewrote only what the checksum does not cover (MACs, TTL), in place.
        if (checksum === RxChecksum.NotReady && parsed.fragment === FragmentKind.None &&
            completeTransportChecksum(view, parsed.transportProtocol, parsed.transportOffset, parsed.end)) completed++;
        const link = decision.link;
        // The hash only picks the egress fd (`hash % n`): a link with one fd needs none.
        const hash = singleFd[link] === 1 ? 0 : this.hash(view, parsed);
        const k = this.forwardBatches[link]!.addFrame(hash, memoryId, decision.start, decision.end - decision.start);
        this.forwardFrames[link]![lastSlot - k] = frame; // from the end: see sendForwards (-1 in place)
        forwarded++;
      } else if (action === ForwardVerdict.ToStack) {
        if (published >= room) {
          ringDrops++;
          if (!inPlace) pool.free(frame);
          continue;
        }
        if (inPlace) {
          // The copy the ring receive would have made: the stack keeps the packet past the slot's release.
          frame = pool.alloc();
          if (frame < 0) { ringDrops++; continue; } // counted in the pool's allocFailures too
          this.mmap!.copyOut(start, length, frame);
        }
        const s = rx.slot(published++);
        const transportOffset = parsed.transportOffset >= 0 && parsed.fragment !== FragmentKind.NonFirst ? parsed.transportOffset - start : NO_HEADER;
        const multicast = parsed.linkOffset >= 0 && (view.getUint8(parsed.linkOffset) & 1) !== 0 ? DESC_FLAG_MULTICAST : 0;
        const checksumFlags = checksum === RxChecksum.Unknown ? 0
          : checksum === RxChecksum.NotReady ? DESC_FLAG_CHECKSUM_OK | DESC_FLAG_CHECKSUM_PARTIAL : DESC_FLAG_CHECKSUM_OK;
        records[s + DESC_FRAME] = frame;
        records[s + DESC_POOL] = pool.id;
        records[s + DESC_OFFSET] = rxOffset;
        records[s + DESC_LENGTH] = length;
        records[s + DESC_HASH] = this.hash(view, parsed);
        records[s + DESC_HEADERS] = packHeaders(parsed.networkOffset - start, transportOffset);
        records[s + DESC_PROTOCOLS] = packProtocols(parsed.networkProtocol, parsed.transportProtocol < 0 ? 0 : parsed.transportProtocol, multicast | checksumFlags);
        records[s + DESC_USER] = decision.reason;
      } else {
        forwardDrops++;
        if (!inPlace) pool.free(frame);
      }
    }
    // Counters first: the publish below (a seq-cst store) then orders them before the descriptors, so
    // whoever has seen a packet also sees it counted.
    stats[WorkerStat.rxPackets]! += n;
    stats[WorkerStat.rxBytes]! += bytes;
    stats[WorkerStat.forwarded]! += forwarded;
    stats[WorkerStat.toCoordinator]! += published;
    stats[WorkerStat.forwardDrops]! += forwardDrops;
    stats[WorkerStat.ringDrops]! += ringDrops;
    stats[WorkerStat.batches]!++;
    if (notReady !== 0) stats[WorkerStat.rxChecksumNotReady]! += notReady;
    if (valid !== 0) stats[WorkerStat.rxChecksumValid]! += valid;
    if (completed !== 0) stats[WorkerStat.checksumsCompleted]! += completed;
    if (ringDrops > 0) rx.countDrops(ringDrops);
    this.lent += published;
    if (published > 0 && rx.publish(published)) {
      // The coordinator set the rx ring's need-wakeup flag and sleeps on the shared doorbell.
      Atomics.add(this.doorbell, DOORBELL_WORD, 1);
      Atomics.notify(this.doorbell, DOORBELL_WORD);
    }
    if (forwarded > 0) this.sendForwards(inPlace);
  }

  /**
   * Returns the flow hash of a parsed packet (0 for ARP) as a signed int32, the same 32 bits as the
   * unsigned hash: an unsigned value of 2^31 or more crossing a call V8 did not inline is boxed, an
   * allocation per packet (measured here: one scavenge per ~55 k batches until it was int32). Fragments
   * hash without ports, so all of a datagram's agree.
   */
  private hash(view: DataView, p: ParsedPacket): number {
    const transport = p.fragment === FragmentKind.None ? p.transportOffset : -1;
    if (p.networkProtocol === IPV4_PROTOCOL_NUMBER) return flowHashIpv4Int32(view, p.networkOffset, p.transportProtocol, transport, this.hashSeed);
    if (p.networkProtocol === IPV6_PROTOCOL_NUMBER) return flowHashIpv6Int32(view, p.networkOffset, p.transportProtocol, transport, this.hashSeed);
    return 0;
  }

  /** Sends the frame the forwarder wrote (an ICMP error) at once: its scratch is reused by the next decide. */
  private sendExtra(hash: number): void {
    const d = this.decision;
    const batch = this.extraBatch;
    batch.add(hash, this.scratchId, d.extraOffset, d.extraLength);
    this.writers[d.extraLink]!.writePackets(batch);
    batch.clear();
    this.sent = true;
  }

  /**
   * Sends each egress link's batch (runs of one fd in one sendmmsg), then frees the frames: the kernel has
   * copied them. They are freed last packet first (they sit from the end of `forwardFrames`), so the pool's
   * LIFO free list hands them back in receive order and the next receive batch reuses the same frames in the
   * same slots (the recvmmsg dispatcher then rewrites no iovec).
   */
  private sendForwards(inPlace: boolean): void {
    const batches = this.forwardBatches;
    const size = this.batchSize;
    for (let link = 0; link < batches.length; link++) {
      const batch = batches[link]!;
      const count = batch.count;
      if (count === 0) continue;
      this.writers[link]!.writePackets(batch);
      if (!inPlace) this.pool.freeBatch(this.forwardFrames[link]!, count, size - count);
      batch.clear();
    }
    this.sent = true;
  }

  /**
   * Sends up to one sendmmsg batch of the coordinator's packets on this fd and hands every frame back
   * (sent or dropped) through the tx completion ring. Returns the descriptors taken.
   */
  drainTx(): number {
    const tx = this.tx;
    const n = tx.peek(SEND_BATCH_SIZE);
    if (n === 0) return 0;
    const records = tx.records, txPool = this.txPool, batch = this.txBatch, txFrames = this.txFrames;
    const poolId = txPool.id, frameCount = txPool.frameCount;
    for (let i = 0; i < n; i++) {
      const s = tx.slot(i);
      const frame = records[s + DESC_FRAME]!;
      txFrames[i] = frame;
      // A foreign pool or index is not sent; the frame still goes back (its pool refuses and counts it).
      if (records[s + DESC_POOL] !== poolId || frame >>> 0 >= frameCount) continue;
      batch.addFrame(0, 0, txPool.offsetOf(frame) + records[s + DESC_OFFSET]!, records[s + DESC_LENGTH]!);
    }
    if (batch.count > 0) this.ownWriter.writePackets(batch);
    batch.clear();
    const completions = this.txCompletions;
    for (let i = 0; i < n; i++) completions.add(txFrames[i]!); // sized to the tx pool: never full
    completions.flush();
    tx.release(n);
    this.stats[WorkerStat.txRingPackets]! += n;
    this.sent = true;
    return n;
  }

  /** Copies the writers' cumulative tx counters into the stats (assignments: one writer thread). */
  private refreshTxCounters(): void {
    this.sent = false;
    let packets = 0, bytes = 0, drops = 0;
    const writers = this.writers;
    for (let i = 0; i <= writers.length; i++) {
      const c = i < writers.length ? writers[i]!.counters : this.ownWriter.counters;
      packets += c[TxCounter.txPackets]!;
      bytes += c[TxCounter.txBytes]!;
      drops += c[TxCounter.txDrops]!;
    }
    const stats = this.stats;
    stats[WorkerStat.txPackets] = packets;
    stats[WorkerStat.txBytes] = bytes;
    stats[WorkerStat.txDrops] = drops;
  }

  /**
   * Sleeps in poll() over {fd, eventfd} for up to `pollTimeoutMs`, after setting the need-wakeup flags of
   * the tx ring and the completion ring (so the coordinator writes the eventfd only when asked). With no
   * free frame it does not watch the fd (it could not read it) and waits for frames to come home.
   * Returns 0, or the fd's end code once it ended (hang-up, poll error).
   */
  private sleep(): number {
    const tx = this.tx;
    const home = this.completions.consumer;
    if (!tx.requestWakeup()) return 0; // work arrived meanwhile
    if (!home.requestWakeup()) {
      tx.cancelWakeup();
      return 0;
    }
    const stats = this.stats;
    stats[WorkerStat.sleeps]!++;
    // In place, receiving needs no free frame: keep watching the fd.
    const r = this.mmap === null && this.have === 0 && this.pool.available === 0
      ? this.stopFd.wait(-1, this.pollTimeoutMs) // poll ignores fd -1: the eventfd alone
      : this.endpoint.wait(0, this.pollTimeoutMs);
    tx.cancelWakeup();
    home.cancelWakeup();
    if (r === WaitResult.Woken) stats[WorkerStat.wakeups]!++;
    return this.endpoint.ended(0) ? this.endpoint.endCode(0) : 0;
  }

  /**
   * Leaves the loop tidily: sends what the tx ring still holds, frees the frames in hand, then waits (up
   * to `timeoutMs`) for every frame of the pool to come home from the coordinator. Returns how many are
   * home. Thread: the worker, after `run()` returned. Control path.
   */
  release(timeoutMs: number): number {
    while (this.drainTx() > 0);
    if (this.mmap !== null) this.endpoint.releaseInPlace(0); // no slot stays held (each turn releases its own already)
    this.pool.freeBatch(this.frames, this.have);
    this.have = 0;
    const deadline = Date.now() + timeoutMs;
    const pool = this.pool;
    for (;;) {
      this.completions.reclaim();
      while (this.drainTx() > 0);
      if (pool.available === pool.frameCount || Date.now() >= deadline) break;
      this.completions.consumer.waitForData(Math.min(10, Math.max(1, deadline - Date.now())));
    }
    this.refreshTxCounters();
    return pool.available;
  }
}
