/**
 * What the coordinator (main thread) and a dispatch worker say to each other: one discriminated union per
 * direction, plus the shared words both read without a message. Plain data only (structured clone):
 * errors cross as `{ code, message }` (`serializeError`) and are rebuilt on arrival.
 *
 * ```
 *  coordinator                                         dispatch worker (one per fd)
 *  spawnWorker(workerData = InitMessage,
 *              transferList = [controlPort]) ────────► attach pool, rings, stats; open its eventfd
 *                     ◄──────────────── parentPort ─── ReadyMessage { eventFd }
 *  controlPort.postMessage(ControlMessage)
 *  Atomics.add(control, CONTROL_MESSAGES, 1)
 *  write the worker's eventfd ───────────────────────► loop sees CONTROL_MESSAGES moved:
 *                                                       receiveMessageOnPort(controlPort) until empty
 *                     ◄──────────────── parentPort ─── ReconfiguredMessage / StoppedMessage / EndedMessage
 *                     ◄──────────────── parentPort ─── FatalMessage (then exit code 1)
 * ```
 * The worker never returns to its event loop while it runs (it sleeps in poll()), so control messages are
 * pulled synchronously with `receiveMessageOnPort`, flagged by the `CONTROL_MESSAGES` word and the
 * eventfd; replies go out on `parentPort`, which the coordinator listens to from spawn.
 *
 * Thread: types and constants, any thread.
 */
import type { MessagePort } from 'node:worker_threads';
import type { SerializedError } from '../errors.ts';
import type { DispatchMode } from '../fdbased/index.ts';
import type { ForwardingConfig, NeighborChange } from './forwarding.ts';

// ---- shared words ----------------------------------------------------------------------------------

/**
 * The control words of one worker generation: an `Int32Array` over a SharedArrayBuffer, one writer per
 * word (named below), read by the other side with `Atomics.load`.
 * ```
 *  [0] CONTROL_MESSAGES   control messages posted so far (coordinator adds 1 per message)
 *  [1] CONTROL_EVENT_FD   the worker's eventfd, -1 until opened (worker stores it first thing, so a worker
 *                          that dies before `ready` still has its eventfd closed by the coordinator)
 *  [2] CONTROL_STATE      WorkerState (worker writes)
 *  [3] CONTROL_END_CODE   why the fd ended: 0, or RECEIVE_EOF / RECEIVE_STOPPED / -errno (worker writes)
 * ```
 */
export const CONTROL_MESSAGES = 0;
/** Control word: the worker's eventfd number (-1 before it exists). */
export const CONTROL_EVENT_FD = 1;
/** Control word: the worker's `WorkerState`. */
export const CONTROL_STATE = 2;
/** Control word: the fd's end code, 0 while it runs. */
export const CONTROL_END_CODE = 3;
/** Int32 words in a control buffer. */
export const CONTROL_WORDS = 4;

/** Where a worker is in its life (`CONTROL_STATE`). */
export const WorkerState = {
  /** Spawned, building its tables. */
  Starting: 0,
  /** In its dispatch loop. */
  Running: 1,
  /** Told to stop: sending what is queued, waiting for its frames to come home. */
  Stopping: 2,
  /** Loop left, everything released; about to exit. */
  Stopped: 3,
} as const;
export type WorkerState = (typeof WorkerState)[keyof typeof WorkerState];

/**
 * The engine buffer shared by the coordinator and every worker (Int32 words, each in its own line):
 * ```
 *  [0]  DOORBELL_WORD  the coordinator sets the need-wakeup flag of every rx ring, then sleeps in
 *                      `Atomics.waitAsync` here; a worker whose rx `publish()` found the flag set adds 1
 *                      and notifies (one wait for all rings instead of one per ring)
 *  [16] CLOCK_WORD     ms since the engine started, written by the coordinator every `CLOCK_TICK_MS`:
 *                      the workers' clock (neighbor and ICMP rate-limit timers). A worker reads no clock
 *                      itself: Date.now() and performance.now() allocate per call (stats.ts).
 * ```
 */
export const DOORBELL_WORD = 0;
/** Engine buffer word: the coarse clock, integer ms since start (wraps after 24.8 days). */
export const CLOCK_WORD = 16;
/** Bytes of the engine buffer. */
export const ENGINE_BUFFER_BYTES = 128;
/**
 * How often the coordinator advances `CLOCK_WORD`, ms. Its readers need no finer grain (ARP/NDP timers are
 * 1 s, the ICMP bucket refills 1000/s with a burst of 50), and each tick wakes the main thread on the
 * forwarder's core: at 10 ms the ticks were most of the coordinator's CPU while forwarding.
 */
export const CLOCK_TICK_MS = 50;

/** Returns a new control buffer, every word 0 but `CONTROL_EVENT_FD` (-1). Thread: any. */
export function createControlBuffer(): SharedArrayBuffer {
  const buffer = new SharedArrayBuffer(CONTROL_WORDS * 4);
  new Int32Array(buffer)[CONTROL_EVENT_FD] = -1;
  return buffer;
}

// ---- coordinator → worker ----------------------------------------------------------------------------

/** One link as a worker sees it: its fds (process-wide numbers) and framing. */
export interface LinkInit {
  /** Packets for this link leave on `fds[hash % fds.length]`. */
  fds: number[];
  /** Whether `isSocket[i]` (sendmmsg) or not (writev per packet). */
  isSocket: boolean[];
  /** Frames carry a 14-byte Ethernet header. */
  ethernetHeader: boolean;
  /** The link's own MAC ("02:…"), '' for none: frames for other MACs are dropped; the source of forwarded frames. */
  linkAddress: string;
  /** Largest IP packet the link carries (link header excluded). */
  mtu: number;
}

/** The worker's `workerData`: everything it needs to run one fd. */
export interface InitMessage {
  kind: 'init';
  /** Which worker this is (index in the coordinator's slot table) and which incarnation. */
  slot: number;
  generation: number;
  /** The link and fd index this worker receives on. */
  link: number;
  fdIndex: number;
  /** Receive mode for a socket fd ('readv' is used for non-sockets whatever this says). */
  dispatchMode: DispatchMode;
  /** Every link of the engine (the worker forwards straight to any of them). */
  links: LinkInit[];
  /** The worker's frame pool (created and disowned by the coordinator; the worker adopts it). */
  pool: SharedArrayBuffer;
  /** The coordinator's tx pool: frames the tx ring points into (the worker reads them only). */
  txPool: SharedArrayBuffer;
  /** Descriptor ring worker → coordinator (packets for the stack). */
  rxRing: SharedArrayBuffer;
  /** Descriptor ring coordinator → worker (packets to send on this fd). */
  txRing: SharedArrayBuffer;
  /** 1-word ring coordinator → worker: frames of the worker's pool coming home. */
  completionRing: SharedArrayBuffer;
  /** 1-word ring worker → coordinator: tx-pool frames the worker has sent (or dropped). */
  txCompletionRing: SharedArrayBuffer;
  /** The worker's counters (`stats.ts`). */
  stats: SharedArrayBuffer;
  /** The control words above. */
  control: SharedArrayBuffer;
  /** The engine buffer (`DOORBELL_WORD`, `CLOCK_WORD`). */
  doorbell: SharedArrayBuffer;
  /** Where control messages arrive (transferred). */
  controlPort: MessagePort;
  /** How to forward; null: every packet goes to the coordinator. */
  forwarding: ForwardingConfig | null;
  /** The engine's flow-hash seed: every worker hashes a flow alike. */
  hashSeed: number;
  /** Most packets per receive. */
  batchSize: number;
  /** Longest sleep in poll(), ms (a dead datagram peer never wakes anyone). */
  pollTimeoutMs: number;
  /** Longest wait for frames to come home when stopping, ms. */
  drainTimeoutMs: number;
}

/** Stop: send what is queued, wait for every frame to come home, release, exit. */
export interface StopMessage {
  kind: 'stop';
}

/** Replace the forwarding configuration between two batches. */
export interface ReconfigureMessage {
  kind: 'reconfigure';
  /** Echoed in the reply. */
  id: number;
  forwarding: ForwardingConfig | null;
}

/** Apply next-hop changes to the current forwarder between two batches; answered with `reconfigured`. */
export interface NeighborsMessage {
  kind: 'neighbors';
  /** Echoed in the reply. */
  id: number;
  changes: NeighborChange[];
}

/** Messages on the control port (coordinator → worker). `InitMessage` travels as workerData. */
export type ControlMessage = StopMessage | ReconfigureMessage | NeighborsMessage;

// ---- worker → coordinator ------------------------------------------------------------------------------

/** Built and in the loop. */
export interface ReadyMessage {
  kind: 'ready';
  slot: number;
  generation: number;
  /** The worker's eventfd: write it (`wakeHandle`) to wake the worker. */
  eventFd: number;
  /** The stop flag beside it (for `stopHandle`). */
  stopFlags: SharedArrayBuffer;
  /** Receive mode actually used. */
  dispatchMode: DispatchMode;
}

/** A `reconfigure` took effect (or failed: `error`). */
export interface ReconfiguredMessage {
  kind: 'reconfigured';
  id: number;
  error: SerializedError | null;
}

/** Stopped on request; `available` frames of `frameCount` were home when it left. */
export interface StoppedMessage {
  kind: 'stopped';
  slot: number;
  generation: number;
  available: number;
  frameCount: number;
}

/** The fd ended by itself (EOF, hang-up, error): the worker exits and is not restarted. */
export interface EndedMessage {
  kind: 'ended';
  slot: number;
  generation: number;
  /** RECEIVE_EOF, -errno. */
  endCode: number;
  error: SerializedError | null;
  available: number;
  frameCount: number;
}

/** Something threw: the worker exits with code 1 after posting this. */
export interface FatalMessage {
  kind: 'fatal';
  slot: number;
  generation: number;
  error: SerializedError;
}

/** Messages on `parentPort` (worker → coordinator). */
export type WorkerMessage = ReadyMessage | ReconfiguredMessage | StoppedMessage | EndedMessage | FatalMessage;
