/**
 * The coordinator: `Engine`, on the main thread. It creates every frame pool, ring and stats buffer,
 * starts one dispatch worker per fd, drains every rx ring without blocking the event loop (one doorbell
 * word for all rings, `Atomics.waitAsync`), hands packets to the stack, sends the stack's packets
 * through the owning worker's tx ring (`fds[hash % n]`, consecutive packets for one fd in one publish,
 * as gVisor's WritePackets), holds the PortManager, and restarts a worker that dies.
 * ```
 *  worker k ──rx ring──► pump: deliverNetworkPacket(packet) ──► completion ring ──► worker k's pool
 *  stack ── writePackets(link, batch) ──► tx ring of worker fds[hash % n] ──► sendmmsg
 *                                         tx completion ring ◄── frame back ──► tx pool
 * ```
 * Worker death (an exception, `worker.terminate()`): reported ('workerExit', counted), what it published
 * is still delivered, the tx frames it held come home (each tx frame records which worker holds it), its
 * eventfd is closed, its pool is retired (a dead thread cannot disown it; the frames in its hands go
 * with the pool), and a new worker with a new pool starts on the same fd.
 *
 * Thread: main. Control path except the pump and `writePackets`/`allocTxFrame` (no allocation per packet).
 * Length (~450 lines): lifecycle, restarts and the pump all act on one slot table and one state, kept
 * together; the send path is `tx-path.ts`, the reported shapes `engine-events.ts`.
 */
import { EventEmitter } from 'node:events';
import type { Worker } from 'node:worker_threads';
import { NetshardError } from '../errors.ts';
import { syscalls } from '../fdbased/index.ts';
import { PortManager } from '../ports/index.ts';
import { DESC_FRAME, FramePool, type RingConsumer } from '../ring/index.ts';
import { formatIpv4, formatIpv6, parseIpv4, parseIpv6 } from '../tcpip/index.ts';
import { validateInteger } from '../validate.ts';
import { validateEngineOptions, type CheckedEngineOptions, type EngineOptions } from './engine-options.ts';
import { ENGINE_COUNTER_COUNT, EngineCounter, type PoolState, type WorkerExitEvent, type WorkerOnlineEvent, type RetiredPool } from './engine-events.ts';
import { createForwarder } from './create-forwarder.ts';
import { validateNeighborChanges, type ForwardingConfig, type ForwardNeighbor, type NeighborChange } from './forwarding.ts';
import { InboundPacket, type OutboundBatchLike, type PacketSender, type StackHandler } from './inbound.ts';
import { CLOCK_TICK_MS, CLOCK_WORD, CONTROL_EVENT_FD, DOORBELL_WORD, ENGINE_BUFFER_BYTES, type WorkerMessage } from './messages.ts';
import { OutboundBatch } from './outbound.ts';
import { readStats, type WorkerStats } from './stats.ts';
import { TxPath } from './tx-path.ts';
import { WorkerSlot, type ExitReason } from './worker-slot.ts';

type EngineState = 'idle' | 'starting' | 'running' | 'stopping' | 'stopped';

/** Descriptors drained from one rx ring per pass before the next ring gets its turn. */
const RX_BUDGET = 256;
/** Longest pump sleep on the doorbell, ms (a publish rings it sooner). */
const PUMP_SLEEP_MS = 1000;
/** Grace beyond `drainTimeoutMs` before a stopping worker is terminated. */
const STOP_GRACE_MS = 2000;

/**
 * The sharded engine. `new Engine(options)` validates; `start()` spawns one worker per fd and resolves
 * when all are ready; `stop()` stops them, brings every frame home, and resolves when every thread ended.
 * Events: 'workerExit' (WorkerExitEvent), 'workerOnline' (WorkerOnlineEvent, after a restart).
 * Thread: main.
 */
export class Engine extends EventEmitter implements PacketSender {
  /** The port reservation table; other threads attach with `PortManager.attach(engine.ports.buffer)`. */
  readonly ports: PortManager;
  /** Flow-hash seed every worker uses. */
  readonly hashSeed: number;
  /** The tx pool (owned by this thread): the stack builds outbound packets in its frames. */
  readonly txPool: FramePool;
  /** Coordinator counters, indexed by `EngineCounter`. */
  readonly counters = new Float64Array(ENGINE_COUNTER_COUNT);
  /** The last error the stack threw, if any. */
  lastHandlerError: unknown = null;

  private readonly tx: TxPath;
  private readonly options: CheckedEngineOptions;
  private readonly stack: StackHandler | null;
  private forwarding: ForwardingConfig | null;
  private state: EngineState = 'idle';
  private slots: WorkerSlot[] = [];
  /** First slot index of each link. */
  private readonly linkBase: number[] = [];
  private readonly doorbellBuffer = new SharedArrayBuffer(ENGINE_BUFFER_BYTES);
  private readonly doorbell = new Int32Array(this.doorbellBuffer);
  private readonly packet = new InboundPacket();
  private readonly single = new OutboundBatch(1);
  private nextPoolId = 1;
  private reconfigureId = 0;
  /** Bumped by each change of `forwarding`; the version each slot's worker was built with. */
  private forwardingVersion = 0;
  private readonly slotVersions = new WeakMap<WorkerSlot, number>();
  private pumpDone: Promise<void> = Promise.resolve();
  private stopping: Promise<void> | null = null;
  private stackStarted = false;
  private readonly startedAt = Date.now();
  private clockTimer: ReturnType<typeof setInterval> | null = null;

  /** Checks `options` (see `EngineOptions`) and probes each fd. Throws NetshardError; starts nothing. */
  constructor(options: EngineOptions) {
    super();
    this.options = validateEngineOptions(options);
    this.stack = this.options.stack;
    this.forwarding = this.options.forwarding;
    this.hashSeed = this.options.hashSeed;
    this.ports = PortManager.create();
    this.txPool = FramePool.create({ frameSize: 2048, frameCount: this.options.txFrameCount, poolId: 0 });
    this.tx = new TxPath(this.txPool, this.counters);
    let base = 0;
    for (const link of this.options.links) {
      this.linkBase.push(base);
      base += link.fds.length;
    }
  }

  /** Number of links. */
  get linkCount(): number {
    return this.options.links.length;
  }

  /** Number of fds (and worker slots) of `link`. */
  fdCount(link: number): number {
    return this.options.links[link]?.fds.length ?? 0;
  }

  /**
   * Starts one worker per fd and resolves once every one is ready; then calls `stack.start(engine)` and
   * begins draining. Rejects (after stopping what started) when a worker fails to start, with its error.
   * Throws ERR_NETSHARD_ALREADY_STARTED when called twice.
   */
  async start(): Promise<void> {
    if (this.state !== 'idle') throw new NetshardError('ERR_NETSHARD_ALREADY_STARTED', `the engine is ${this.state}`);
    this.state = 'starting';
    this.tickClock();
    // The workers' clock (CLOCK_WORD): unref'd, so it never keeps the process alive by itself.
    this.clockTimer = setInterval(() => this.tickClock(), CLOCK_TICK_MS);
    this.clockTimer.unref();
    this.options.links.forEach((link, l) => {
      link.fds.forEach((_fd, fdIndex) => this.slots.push(this.spawn(this.linkBase[l]! + fdIndex, l, fdIndex, 0, 0)));
    });
    try {
      await Promise.all(this.slots.map((s) => s.ready));
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.state = 'running';
    this.stack?.start?.(this);
    this.stackStarted = true;
    this.pumpDone = this.pump();
  }

  /**
   * Stops every worker: each sends what its tx ring holds, waits for its frames to come home (the pump
   * keeps draining meanwhile), releases what it opened, and exits; resolves when every thread ended and
   * every frame is home (see `framePools()`). A worker that does not leave within `drainTimeoutMs` plus a
   * grace period is terminated. Idempotent.
   */
  stop(): Promise<void> {
    if (this.stopping !== null) return this.stopping;
    if (this.state === 'idle') {
      this.state = 'stopped';
      return (this.stopping = Promise.resolve());
    }
    this.stopping = this.stopAll();
    return this.stopping;
  }

  private async stopAll(): Promise<void> {
    const pumping = this.state === 'running';
    this.state = 'stopping';
    if (!pumping) this.pumpDone = this.pump(); // a failed start: drain so stopping workers get their frames back
    await Promise.all(this.slots.map((s) => s.ready.catch(() => {})));
    const limit = this.options.drainTimeoutMs + STOP_GRACE_MS;
    await Promise.all(
      this.slots.map(async (s) => {
        s.post({ kind: 'stop' });
        const timer = setTimeout(() => void s.worker.terminate(), limit);
        await s.exited;
        clearTimeout(timer);
      }),
    );
    this.state = 'stopped';
    if (this.clockTimer !== null) clearInterval(this.clockTimer);
    this.ringDoorbell();
    await this.pumpDone;
    for (const s of this.slots) this.retire(s);
    if (this.stackStarted) this.stack?.stop?.();
    this.tx.reclaimAll(this.slots);
  }

  /**
   * Sends new forwarding rules to every worker (and to workers started later); resolves when each has
   * switched between two batches. Rejects with a worker's error if one refused. Throws ERR_INVALID_ARG_*.
   */
  async reconfigure(forwarding: ForwardingConfig | null): Promise<void> {
    createForwarder(forwarding, this.options.links); // checks it fully, as a worker will build it
    const config = forwarding === null ? null : structuredClone(forwarding);
    this.forwarding = config;
    this.forwardingVersion++;
    const id = ++this.reconfigureId;
    await Promise.all(
      this.slots.filter((s) => s.state === 'running').map(
        (s) =>
          new Promise<void>((resolve, reject) => {
            s.pending.set(id, { resolve, reject });
            s.post({ kind: 'reconfigure', id, forwarding: config });
          }),
      ),
    );
  }

  /**
   * Applies next-hop changes (what the coordinator's neighbor table learned or lost) to every running
   * worker's forwarder, in one message per worker (`neighbors` + its eventfd), and to the configuration
   * later workers start with; resolves when each applied them between two batches. Does nothing without
   * forwarding. Rejects with a worker's error. Throws ERR_INVALID_ARG_* / ERR_OUT_OF_RANGE. Control path.
   */
  async updateNeighbors(changes: readonly NeighborChange[]): Promise<void> {
    const list = validateNeighborChanges(structuredClone(changes), this.linkCount);
    const config = this.forwarding;
    if (config === null || config.kind === 'bridge' || list.length === 0) return; // a bridge keeps no neighbours
    const byKey = new Map<string, ForwardNeighbor>();
    for (const n of config.neighbors ?? []) byKey.set(neighborKey(n.link, n.address), n);
    for (const c of list) {
      if (c.linkAddress === null) byKey.delete(neighborKey(c.link, c.address));
      else byKey.set(neighborKey(c.link, c.address), { link: c.link, address: c.address, linkAddress: c.linkAddress });
    }
    this.forwarding = { ...config, neighbors: [...byKey.values()] }; // a new object: the caller's stays as given
    this.forwardingVersion++;
    const id = ++this.reconfigureId;
    await Promise.all(
      this.slots.filter((s) => s.state === 'running').map(
        (s) =>
          new Promise<void>((resolve, reject) => {
            s.pending.set(id, { resolve, reject });
            s.post({ kind: 'neighbors', id, changes: list });
          }),
      ),
    );
  }

  // ---- sending ------------------------------------------------------------------------------------

  /**
   * Takes a free tx-pool frame and returns its index (write the packet at `txPool.offsetOf(frame)`), or
   * -1 when none is free even after taking back the frames workers have sent (counted `txNoFrame`).
   * Thread: main. No allocation.
   */
  allocTxFrame(): number {
    return this.tx.alloc(this.slots);
  }

  /** Returns a tx frame that will not be sent. Thread: main. */
  freeTxFrame(frame: number): void {
    this.txPool.free(frame);
  }

  /**
   * Queues every packet of `batch` on `link`: packet i goes to the worker of `fds[hashes[i] % n]`, and
   * consecutive packets for one fd are published on its tx ring together (one `Atomics.store`, at most
   * one eventfd write), which the worker sends with one sendmmsg (gVisor's WritePackets, every flow
   * hashed, UDP and ICMP included). Ownership of the frames passes to the engine: a packet that cannot
   * be queued (ring full, worker restarting, engine not running) is freed and counted. Returns the count
   * queued and clears the batch. Thread: main. No allocation. Throws ERR_OUT_OF_RANGE for a bad link.
   */
  writePackets(link: number, batch: OutboundBatchLike): number {
    validateInteger(link, 'link', 0, this.linkCount - 1);
    if (this.state !== 'running') return this.tx.refuse(batch);
    return this.tx.queue(this.slots, this.linkBase[link]!, this.options.links[link]!.fds.length, batch);
  }

  /**
   * Copies `bytes` (a whole frame, link header included) into a tx frame and queues it on `link` with
   * flow hash `hash`. Returns true when queued. Convenience for control traffic and tests. Thread: main.
   */
  sendPacket(link: number, bytes: Uint8Array, hash: number): boolean {
    if (bytes.byteLength > this.txPool.frameSize) {
      throw new NetshardError('ERR_OUT_OF_RANGE', `a packet of ${bytes.byteLength} bytes does not fit a ${this.txPool.frameSize}-byte frame`);
    }
    const frame = this.allocTxFrame();
    if (frame < 0) return false;
    this.txPool.bytes.set(bytes, this.txPool.offsetOf(frame));
    this.single.add(frame, 0, bytes.byteLength, hash >>> 0);
    return this.writePackets(link, this.single) === 1;
  }

  // ---- reading ------------------------------------------------------------------------------------

  /** Returns each worker slot's counters (current generation), read from shared memory: no message. */
  workerStats(): WorkerStats[] {
    return this.slots.map((s) => readStats(s.statsBuffer));
  }

  /** Returns slot `slot`'s stats buffer (post it to another thread; read it with `readStats`). */
  statsBuffer(slot: number): SharedArrayBuffer {
    return this.requireSlot(slot).statsBuffer;
  }

  /** Returns the coordinator counters by name. */
  coordinatorStats(): Record<keyof typeof EngineCounter, number> {
    const out = {} as Record<keyof typeof EngineCounter, number>;
    for (const [name, index] of Object.entries(EngineCounter)) out[name as keyof typeof EngineCounter] = this.counters[index]!;
    return out;
  }

  /**
   * Returns the fill level of the tx pool (slot -1; frames the workers have sent are taken back first)
   * and of each current worker pool (a snapshot: the worker owns it).
   */
  framePools(): PoolState[] {
    this.tx.reclaimAll(this.slots);
    const tx = this.txPool;
    const out: PoolState[] = [
      { slot: -1, generation: 0, poolId: tx.id, available: tx.available, frameCount: tx.frameCount, doubleFrees: tx.doubleFrees, badFrees: tx.badFrees },
    ];
    for (const s of this.slots) {
      const p = s.pool;
      out.push({ slot: s.index, generation: s.generation, poolId: p.id, available: p.available, frameCount: p.frameCount, doubleFrees: p.doubleFrees, badFrees: p.badFrees });
    }
    return out;
  }

  /** Returns slot `slot`'s current worker thread (for supervision and tests), its link, fd index and generation. */
  worker(slot: number): { worker: Worker; link: number; fdIndex: number; generation: number; running: boolean } {
    const s = this.requireSlot(slot);
    return { worker: s.worker, link: s.link, fdIndex: s.fdIndex, generation: s.generation, running: s.state === 'running' };
  }

  /** Number of worker slots (one per fd). */
  get slotCount(): number {
    return this.slots.length;
  }

  private requireSlot(slot: number): WorkerSlot {
    validateInteger(slot, 'slot', 0, Math.max(0, this.slots.length - 1));
    return this.slots[slot]!;
  }

  // ---- workers ------------------------------------------------------------------------------------

  private spawn(index: number, link: number, fdIndex: number, generation: number, restarts: number): WorkerSlot {
    const o = this.options;
    const poolId = this.nextPoolId;
    this.nextPoolId = this.nextPoolId >= 0xffff ? 1 : this.nextPoolId + 1;
    const version = this.forwardingVersion;
    const slot = new WorkerSlot({
      index,
      generation,
      restarts,
      poolId,
      frameCount: o.frameCount,
      ringCapacity: o.ringCapacity,
      txPool: this.txPool,
      init: {
        link,
        fdIndex,
        dispatchMode: o.dispatchModes[link]!,
        links: o.links,
        txPool: this.txPool.buffer,
        doorbell: this.doorbellBuffer,
        forwarding: this.forwarding,
        hashSeed: this.hashSeed,
        batchSize: o.batchSize,
        pollTimeoutMs: o.pollTimeoutMs,
        drainTimeoutMs: o.drainTimeoutMs,
      },
      onMessage: (slot, message) => this.onMessage(slot, message),
      onExit: (slot, code) => this.onExit(slot, code),
    });
    this.slotVersions.set(slot, version);
    return slot;
  }

  private onMessage(slot: WorkerSlot, message: WorkerMessage): void {
    if (message.kind === 'ready' && this.slotVersions.get(slot) !== this.forwardingVersion && this.slots[slot.index] === slot) {
      // Built from a configuration changed since (reconfigure, neighbors) while it started: catch it up.
      this.slotVersions.set(slot, this.forwardingVersion);
      slot.post({ kind: 'reconfigure', id: ++this.reconfigureId, forwarding: this.forwarding });
    }
    if (message.kind === 'ready' && slot.generation > 0 && this.slots[slot.index] === slot) {
      this.emit('workerOnline', { slot: slot.index, link: slot.link, fdIndex: slot.fdIndex, generation: slot.generation } satisfies WorkerOnlineEvent);
      this.ringDoorbell(); // the pump set flags on the old ring only: let it look again
    }
  }

  private onExit(slot: WorkerSlot, code: number): void {
    if (this.slots[slot.index] !== slot) return;
    const reason: ExitReason = slot.exitReason ?? 'died';
    if (this.state === 'stopping' || this.state === 'stopped') {
      this.ringDoorbell();
      return; // stopAll retires every slot
    }
    const retiredPool = reason === 'died' ? this.account(slot) : null;
    this.retire(slot);
    const restarting = reason === 'died' && this.state === 'running' && slot.restarts < this.options.maxRestarts;
    if (reason === 'died') this.counters[EngineCounter.deaths]!++;
    this.emit('workerExit', {
      slot: slot.index, link: slot.link, fdIndex: slot.fdIndex, generation: slot.generation, code, reason, error: slot.error, restarting, retiredPool,
    } satisfies WorkerExitEvent);
    if (!restarting) return;
    this.counters[EngineCounter.restarts]!++;
    this.slots[slot.index] = this.spawn(slot.index, slot.link, slot.fdIndex, slot.generation + 1, slot.restarts + 1);
  }

  /** Says where a gone worker's frames are, before `retire` drains its rx ring. */
  private account(slot: WorkerSlot): RetiredPool {
    const frameCount = slot.pool.frameCount, free = slot.pool.available;
    const inRxRing = slot.open ? slot.rx.available : 0;
    const inCompletionRing = slot.open ? slot.completions.producer.pending : 0;
    return { frameCount, free, inRxRing, inCompletionRing, inWorker: frameCount - free - inRxRing - inCompletionRing };
  }

  /**
   * Takes back what a gone worker left: delivers the descriptors it published (its pool is retired, so
   * nothing goes home to it), takes back the tx frames it held, closes its eventfd if it did not, and
   * closes the coordinator's ring ends. Idempotent.
   */
  private retire(slot: WorkerSlot): void {
    if (!slot.open) return;
    while (this.drainSlot(slot) > 0);
    if (this.stackStarted) this.stack?.flush?.();
    this.tx.reclaim(slot);
    this.tx.takeBack(slot);
    const eventFd = Atomics.exchange(slot.control, CONTROL_EVENT_FD, -1);
    if (eventFd >= 0) syscalls.close(eventFd); // the worker died before closing it
    slot.close();
  }

  // ---- the pump -----------------------------------------------------------------------------------

  /**
   * Drains every rx ring until the engine stopped, sleeping on the doorbell when all are empty: it sets
   * each ring's need-wakeup flag, re-checks, then `Atomics.waitAsync` on the doorbell word, which a worker
   * rings when its `publish` found the flag set. Yields to the event loop between busy passes.
   */
  private async pump(): Promise<void> {
    const doorbell = this.doorbell;
    while (this.state === 'running' || this.state === 'stopping') {
      if (this.drainAll() > 0) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        continue;
      }
      const seen = Atomics.load(doorbell, DOORBELL_WORD);
      const slots = this.slots;
      let empty = true;
      for (const s of slots) if (s.open && !s.rx.requestWakeup()) empty = false;
      if (empty && (this.state === 'running' || this.state === 'stopping')) {
        this.counters[EngineCounter.pumpSleeps]!++;
        const r = Atomics.waitAsync(doorbell, DOORBELL_WORD, seen, PUMP_SLEEP_MS);
        if (r.async) await r.value;
      }
      for (const s of slots) if (s.open) s.rx.cancelWakeup();
    }
  }

  private tickClock(): void {
    Atomics.store(this.doorbell, CLOCK_WORD, (Date.now() - this.startedAt) | 0);
  }

  private ringDoorbell(): void {
    Atomics.add(this.doorbell, DOORBELL_WORD, 1);
    Atomics.notify(this.doorbell, DOORBELL_WORD);
  }

  /** One pass over every ring; returns the descriptors handled. */
  private drainAll(): number {
    let total = 0;
    const slots = this.slots;
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i]!;
      if (!s.open) continue;
      total += this.drainSlot(s);
      this.tx.reclaim(s);
    }
    if (total > 0) this.stack?.flush?.();
    return total;
  }

  /** Delivers up to `RX_BUDGET` descriptors of `s`'s rx ring and sends their frames home. */
  private drainSlot(s: WorkerSlot): number {
    const rx: RingConsumer = s.rx;
    const n = rx.peek(RX_BUDGET);
    if (n === 0) return 0;
    const records = rx.records, packet = this.packet, stack = this.stackStarted ? this.stack : null;
    const home = s.state === 'running' ? s.completions : null; // a gone worker's pool is retired
    for (let i = 0; i < n; i++) {
      const w = rx.slot(i);
      packet.load(records, w, s.pool, s.index, s.link, s.fdIndex);
      if (stack !== null) {
        try {
          stack.deliverNetworkPacket(packet);
        } catch (err) {
          this.counters[EngineCounter.handlerErrors]!++;
          this.lastHandlerError = err;
        }
      }
      if (home !== null) home.add(records[w + DESC_FRAME]!); // sized to the pool: never full
    }
    rx.release(n);
    if (home !== null && home.flush()) s.wake();
    this.counters[stack !== null ? EngineCounter.stackPackets : EngineCounter.noStack]! += n;
    return n;
  }
}

/** `link address` with the address in one printed form (`2001:2::1` and `2001:0002::0001` are one key). */
function neighborKey(link: number, address: string): string {
  const v4 = parseIpv4(address);
  if (v4 >= 0) return `${link} ${formatIpv4(v4)}`;
  const bytes = new Uint8Array(16);
  return `${link} ${parseIpv6(address, bytes) ? formatIpv6(bytes) : address}`;
}
