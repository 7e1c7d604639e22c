/**
 * The forwarding topology of the multicore-forwarding tests and `bench/forward.ts`: three network
 * namespaces (ns-gen / ns-fwd / ns-sink, with the pid) joined by two veth pairs, the forwarder in the
 * middle. The code lives in `src/workers/lab.ts` (the demo stands on it too, and product code cannot import
 * test/); this file keeps the names tests and benches import. See lab.ts for the picture and the rules.
 */
export {
  createForwardTopology,
  DEFAULT_FORWARD_TOPOLOGY_OPTIONS,
  FORWARD_TOPOLOGY_PLAN,
  ForwardTopology,
  type ForwardTopologyOptions,
  type TopologyLink,
} from '../../src/workers/lab.ts';
