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
  type NeighborChange,
  validateNeighborChanges,
} from './forwarding.ts';
export { RouteForwarder, type ForwardLink } from './route-forwarder.ts';
export { StackForwarder } from './stack-forwarder.ts';
export { BridgeForwarder } from './bridge-forwarder.ts';
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
  type NeighborsMessage,
  type WorkerMessage,
} from './messages.ts';
export { DispatchLoop, LOOP_CONTROL, type DispatchLoopParts } from './dispatch-loop.ts';
// Reuseport UDP servers (`netshard serve`): the coordinator's UDP context, app workers, and serve itself.
// `app-worker.ts` is a thread entry, started by the app host, never imported.
export { EngineUdpContext, UdpSendCounter, UDP_SEND_COUNTER_COUNT, type EngineUdpContextOptions } from './udp-context.ts';
export {
  APP_MAX_TRACKED_FLOWS, APP_STAT_COUNT, AppStat, DEFAULT_APP_RING_CAPACITY, DEFAULT_APP_SLOT_BYTES, readAppStats,
  type AppHandler, type AppHandlerContext, type AppInstanceStats, type AppRemoteInfo, type AppReply,
} from './app-channel.ts';
export { AppHost, type AppHostOptions, type AppInstanceExitEvent } from './app-host.ts';
export {
  readInterface, serve, startStackEngine, type InterfaceInfo, type ServeOptions, type ServeStats, type StackEngine,
  type StackEngineOptions, type UdpServer,
} from './serve.ts';
// The demo (`netshard demo`, `npm start`) and the lab it stands on: three namespaces joined by veths (also the
// forwarding tests' and bench/forward.ts's topology, re-exported by test/helpers/topology.ts).
export { DEFAULT_DEMO_PACKETS, runDemo, type DemoOptions, type DemoSummary } from './demo.ts';
export { REPLACE_PREVIOUS_LINE, type ReuseportSummary, type TourResult } from './demo-report.ts';
export {
  DEFAULT_FORWARD_TOPOLOGY_OPTIONS, FORWARD_TOPOLOGY_NAMES, FORWARD_TOPOLOGY_PLAN, ForwardTopology, createForwardTopology, createLab,
  labUnavailableReason, listNetns, startNamespaceReaper, type ForwardTopologyOptions, type LabNames, type LabOptions, type NamespaceReaper,
  type TopologyLink,
} from './lab.ts';
// `netshard forward`'s setup around the engine: the kernel's view of its interfaces (`ip -j`) and the
// ForwardingConfig built from it; the L3 coordinator that resolves next hops for the workers.
export { forwardingConfigFromKernel, kernelForwardingKeys, linkOnSubnet, readKernelLink, type KernelLink } from './forward-setup.ts';
export { ForwardResolver, type ForwardResolverOptions, type ForwardResolverStats } from './forward-resolver.ts';
// `netshard bench`: the forwarding matrix against the kernel and the C forwarder (src/workers/perf).
export * from './perf/index.ts';
// The `netshard` command line's commands (`cli.forwardCommand(argv)`, …), for src/main.ts.
export * as cli from './cli.ts';
