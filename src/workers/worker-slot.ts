/**
 * One incarnation (generation) of a dispatch worker, seen from the coordinator: the shared memory it was
 * given (pool, rings, stats, control words), the coordinator's ends of its rings, its thread, and its
 * state. A restart builds a new `WorkerSlot` (new pool, new rings) for the same fd; the old one is
 * drained and dropped (`coordinator.ts`).
 * ```
 *   coordinator end            ring                     worker end
 *   rx: RingConsumer     ◄──── rxRing (8 words) ◄────── RingProducer
 *   tx: RingProducer     ────► txRing (8 words) ──────► RingConsumer
 *   completions: Sender  ────► completionRing (1) ────► CompletionReceiver → worker pool
 *   txCompletions: Cons. ◄──── txCompletionRing (1) ◄── CompletionSender   (tx-pool frames)
 * ```
 * Thread: main. Spawning and every method are control path.
 */
import { MessageChannel, type MessagePort, type Worker } from 'node:worker_threads';
import { deserializeError, NetshardError } from '../errors.ts';
import { wakeHandle, type DispatchMode, type StopHandle } from '../fdbased/index.ts';
import {
  CompletionSender,
  FrameMemory,
  FramePool,
  attachConsumer,
  attachProducer,
  createCompletionRing,
  createRing,
  type RingConsumer,
  type RingProducer,
} from '../ring/index.ts';
import { siblingModuleUrl, spawnWorker } from '../spawn-worker.ts';
import { CONTROL_MESSAGES, createControlBuffer, type ControlMessage, type InitMessage, type WorkerMessage } from './messages.ts';
import { createStatsBuffer } from './stats.ts';

/** How a worker's thread ended, as far as the coordinator learned. */
export type ExitReason = 'stopped' | 'ended' | 'died';

/** Where a slot is in its life. */
export type SlotState = 'starting' | 'running' | 'exited';

/** What the coordinator gives a new slot (the parts that do not change between generations). */
export interface SlotSetup {
  index: number;
  generation: number;
  /** Restarts of this slot so far (carried across generations). */
  restarts: number;
  poolId: number;
  frameCount: number;
  ringCapacity: number;
  init: Omit<InitMessage, 'kind' | 'slot' | 'generation' | 'pool' | 'rxRing' | 'txRing' | 'completionRing' | 'txCompletionRing' | 'stats' | 'control' | 'controlPort'>;
  /** The coordinator's tx pool (the tx completion ring is sized to it). */
  txPool: FramePool;
  onMessage: (slot: WorkerSlot, message: WorkerMessage) => void;
  onExit: (slot: WorkerSlot, code: number) => void;
}

const WORKER_URL = siblingModuleUrl('dispatch-worker', import.meta.url);

/** One generation of the worker on one fd. */
export class WorkerSlot {
  readonly index: number;
  readonly generation: number;
  readonly restarts: number;
  readonly link: number;
  readonly fdIndex: number;
  /** Views over the worker's pool (the worker owns it; `available` reads are snapshots). */
  readonly pool: FrameMemory;
  readonly poolBuffer: SharedArrayBuffer;
  readonly statsBuffer: SharedArrayBuffer;
  readonly control: Int32Array;
  readonly rx: RingConsumer;
  readonly tx: RingProducer;
  readonly completions: CompletionSender;
  readonly txCompletions: RingConsumer;
  readonly worker: Worker;
  /** Resolves once the worker posted `ready`; rejects if it failed or exited first. */
  readonly ready: Promise<void>;
  /** Resolves to the exit code once the thread is gone. */
  readonly exited: Promise<number>;
  state: SlotState = 'starting';
  /** What the worker reported before leaving (stopped / ended), null while running or after a crash. */
  exitReason: ExitReason | null = null;
  /** Its error: fatal, the fd's end, or the thread's uncaught exception. */
  error: NetshardError | null = null;
  /** Receive mode the worker uses (from `ready`). */
  dispatchMode: DispatchMode | null = null;
  /** The rings' coordinator ends are usable (false once the worker is gone and they were drained). */
  open = true;
  /** Reconfigure requests waiting for this worker's answer. */
  readonly pending = new Map<number, { resolve: () => void; reject: (err: NetshardError) => void }>();
  private handle: StopHandle | null = null;
  private readonly port: MessagePort;

  constructor(setup: SlotSetup) {
    this.index = setup.index;
    this.generation = setup.generation;
    this.restarts = setup.restarts;
    this.link = setup.init.link;
    this.fdIndex = setup.init.fdIndex;
    const pool = FramePool.create({ frameSize: 2048, frameCount: setup.frameCount, poolId: setup.poolId });
    this.poolBuffer = pool.buffer;
    this.pool = FrameMemory.attach(pool.buffer);
    const completionRing = createCompletionRing(pool);
    pool.disown(); // the worker adopts it
    const rxRing = createRing({ capacity: setup.ringCapacity });
    const txRing = createRing({ capacity: setup.ringCapacity });
    const txCompletionRing = createCompletionRing(setup.txPool);
    this.statsBuffer = createStatsBuffer();
    const control = createControlBuffer();
    this.control = new Int32Array(control);
    this.rx = attachConsumer(rxRing);
    this.tx = attachProducer(txRing);
    this.completions = CompletionSender.attach(completionRing);
    this.txCompletions = attachConsumer(txCompletionRing);
    const channel = new MessageChannel();
    this.port = channel.port1;
    const init: InitMessage = {
      ...setup.init,
      kind: 'init',
      slot: setup.index,
      generation: setup.generation,
      pool: pool.buffer,
      rxRing,
      txRing,
      completionRing,
      txCompletionRing,
      stats: this.statsBuffer,
      control,
      controlPort: channel.port2,
    };
    this.worker = spawnWorker(WORKER_URL, { workerData: init, transferList: [channel.port2] });
    let readyResolve!: () => void, readyReject!: (err: NetshardError) => void;
    this.ready = new Promise<void>((resolve, reject) => {
      readyResolve = resolve;
      readyReject = reject;
    });
    this.ready.catch(() => {}); // observed through `exited` too; never an unhandled rejection
    let exitResolve!: (code: number) => void;
    this.exited = new Promise<number>((resolve) => (exitResolve = resolve));
    // Listeners at spawn (an 'exit' attached later can be missed: RUNTIME-FACTS.md).
    this.worker.on('message', (message: WorkerMessage) => {
      if (message.kind === 'ready') {
        this.handle = { eventFd: message.eventFd, flags: message.stopFlags };
        this.dispatchMode = message.dispatchMode;
        this.state = 'running';
        readyResolve();
      } else if (message.kind === 'fatal') {
        this.error = deserializeError(message.error);
      } else if (message.kind === 'stopped') {
        this.exitReason = 'stopped';
      } else if (message.kind === 'ended') {
        this.exitReason = 'ended';
        this.error = message.error === null ? null : deserializeError(message.error);
      } else if (message.kind === 'reconfigured') {
        const p = this.pending.get(message.id);
        this.pending.delete(message.id);
        if (message.error === null) p?.resolve();
        else p?.reject(deserializeError(message.error));
      }
      setup.onMessage(this, message);
    });
    this.worker.on('error', (err: unknown) => {
      this.error ??= err instanceof NetshardError ? err : new NetshardError('ERR_NETSHARD_WORKER_FAILED', `worker ${this.index} threw: ${err instanceof Error ? err.message : String(err)}`);
    });
    this.worker.on('exit', (code: number) => {
      this.state = 'exited';
      readyReject(this.error ?? new NetshardError('ERR_NETSHARD_WORKER_EXITED', `worker ${this.index} (link ${this.link}, fd index ${this.fdIndex}) exited with code ${code} before it was ready`));
      for (const p of this.pending.values()) p.resolve(); // a dead worker's successor starts with the new config
      this.pending.clear();
      exitResolve(code);
      setup.onExit(this, code);
    });
  }

  /** Writes the worker's eventfd (it sleeps in poll on it). No allocation. */
  wake(): void {
    if (this.handle !== null && this.state === 'running') wakeHandle(this.handle);
  }

  /** Posts a control message: on the port, then the counter the loop watches, then the eventfd. */
  post(message: ControlMessage): void {
    if (this.state !== 'running') return;
    this.port.postMessage(message);
    Atomics.add(this.control, CONTROL_MESSAGES, 1);
    this.wake();
  }

  /** Closes the coordinator's ends and the control port. Call after the thread is gone and the rings are drained. */
  close(): void {
    if (!this.open) return;
    this.open = false;
    this.rx.close();
    this.tx.close();
    this.completions.producer.close();
    this.txCompletions.close();
    this.port.close();
  }
}
