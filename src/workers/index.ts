/**
 * The public surface of `src/workers`: the sharded engine (coordinator on the main thread, one dispatch
 * worker per fd), its stack and forwarding hooks, outbound batches, per-worker stats, and the message
 * types between the threads. Other folders (main.ts) import workers only through this file.
 * `dispatch-worker.ts` is a thread entry, started by the coordinator, never imported.
 */
export { Engine } from './coordinator.ts';
export { EngineCounter, ENGINE_COUNTER_COUNT, type PoolState, type RetiredPool, type WorkerExitEvent, type WorkerOnlineEvent } from './engine-events.ts';
export { DEFAULT_ENGINE_OPTIONS, validateEngineOptions, type EngineOptions, type LinkOptions, type CheckedEngineOptions } from './engine-options.ts';
export { InboundPacket, type OutboundBatchLike, type PacketSender, type StackHandler } from './inbound.ts';
export { OutboundBatch } from './outbound.ts';
export { DEFAULT_TICK_MS, StackAdapter } from './stack-adapter.ts';
export {
  ForwardVerdict,
  ForwardDecision,
  HandoffReason,
  validateForwardingConfig,
  type Forwarder,
  type ForwardingConfig,
  type ForwardAddress,
  type ForwardNeighbor,
  type ForwardRoute,
} from './forwarding.ts';
export { RouteForwarder, type ForwardLink } from './route-forwarder.ts';
export { StackForwarder } from './stack-forwarder.ts';
export { createForwarder } from './create-forwarder.ts';
export { FORWARD_REASONS, RX_DROPS_BY_REASON, STATS_SLOTS, WorkerStat, createStatsBuffer, readStats, type WorkerStats } from './stats.ts';
export {
  CONTROL_END_CODE,
  CONTROL_EVENT_FD,
  CONTROL_MESSAGES,
  CONTROL_STATE,
  CONTROL_WORDS,
  CLOCK_TICK_MS,
  CLOCK_WORD,
  DOORBELL_WORD,
  ENGINE_BUFFER_BYTES,
  WorkerState,
  createControlBuffer,
  type ControlMessage,
  type InitMessage,
  type LinkInit,
  type WorkerMessage,
} from './messages.ts';
export { DispatchLoop, LOOP_CONTROL, type DispatchLoopParts } from './dispatch-loop.ts';
