/**
 * The coordinator's counters and the shapes it reports: events ('workerExit', 'workerOnline') and pool
 * fill levels. Thread: main (plain data, safe to post anywhere).
 */
import type { NetshardError } from '../errors.ts';
import type { ExitReason } from './worker-slot.ts';

/** Indices into `Engine.counters` (main thread only). */
export const EngineCounter = {
  /** Packets handed to the stack. */
  stackPackets: 0,
  /** Packets for which the stack threw (frame still returned). */
  handlerErrors: 1,
  /** Packets drained with no stack configured (freed). */
  noStack: 2,
  /** Outbound packets put on a tx ring. */
  txQueued: 3,
  /** tx-ring publishes (one per run of consecutive packets for one fd). */
  txRuns: 4,
  /** Outbound packets dropped: tx ring full, or its worker not running. */
  txRingDrops: 5,
  /** `allocTxFrame` found the tx pool empty. */
  txNoFrame: 6,
  /** Outbound packets refused because the engine was not running. */
  txNotRunning: 7,
  /** Workers started again after dying. */
  restarts: 8,
  /** Workers that died (exception, terminate) rather than stopped or ended. */
  deaths: 9,
  /** Times the pump slept on the doorbell. */
  pumpSleeps: 10,
  /** tx frames taken back from a dead worker's hands. */
  txReclaimedFromDead: 11,
} as const;
export type EngineCounter = (typeof EngineCounter)[keyof typeof EngineCounter];
/** Length of `Engine.counters`. */
export const ENGINE_COUNTER_COUNT = 12;

/** What 'workerExit' carries. */
export interface WorkerExitEvent {
  slot: number;
  link: number;
  fdIndex: number;
  generation: number;
  code: number;
  reason: ExitReason;
  error: NetshardError | null;
  /** A replacement is starting on the same fd. */
  restarting: boolean;
  /**
   * Where the frames of a dead worker's pool were when it was retired (null unless `reason` is 'died'):
   * free + inRxRing + inCompletionRing + inWorker = frameCount. Those in the rx ring were still delivered;
   * those in the dead thread's hands (at most a receive batch) go with the retired pool.
   */
  retiredPool: RetiredPool | null;
}

/** See `WorkerExitEvent.retiredPool`. */
export interface RetiredPool {
  frameCount: number;
  free: number;
  inRxRing: number;
  inCompletionRing: number;
  inWorker: number;
}

/** What 'workerOnline' carries. */
export interface WorkerOnlineEvent {
  slot: number;
  link: number;
  fdIndex: number;
  generation: number;
}

/** A frame pool's fill level (`available === frameCount` when every frame is home). */
export interface PoolState {
  /** Worker slot, or -1 for the coordinator's tx pool. */
  slot: number;
  generation: number;
  poolId: number;
  available: number;
  frameCount: number;
  doubleFrees: number;
  badFrees: number;
}
