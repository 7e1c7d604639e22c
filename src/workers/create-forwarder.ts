/**
 * `createForwarder`: the one place that picks a worker's forwarding implementation behind the
 * `Forwarder` interface. Thread: the worker that will use it (the coordinator also calls it once, at the
 * door, to check a config fully). Control path: throws NetshardError for a bad config.
 */
import { FORWARD_REASON_COUNT } from '../tcpip/index.ts';
import { BridgeForwarder } from './bridge-forwarder.ts';
import { validateForwardingConfig, type Forwarder, type ForwardingConfig } from './forwarding.ts';
import { RouteForwarder, type ForwardLink } from './route-forwarder.ts';
import { StackForwarder } from './stack-forwarder.ts';

/**
 * Builds a forwarder for `links` from `config`, or returns null when `config` is null (no forwarding:
 * every packet goes to the stack). `kind: 'bridge'`: the L2 bridge (`BridgeForwarder`, two links, every
 * frame to the other one unchanged, outcome counts in `counters`). Otherwise L3: every link with an
 * Ethernet header and a MAC: the stack's own `forwardPacket` (`StackForwarder`, outcome counts in
 * `counters`, indexed by `ForwardReason`); any bare-IP link: `RouteForwarder` (its drops by
 * `ForwardReason` in `counters`), as `forward.ts` does not forward bare IP yet.
 */
export function createForwarder(config: ForwardingConfig | null, links: readonly ForwardLink[], counters?: Float64Array): Forwarder | null {
  if (config === null) return null;
  const checked = validateForwardingConfig(config, links.length);
  if (checked.kind === 'bridge') return new BridgeForwarder(links, counters ?? new Float64Array(FORWARD_REASON_COUNT));
  if (links.every((l) => l.ethernetHeader && l.linkAddress !== '')) {
    return new StackForwarder(checked, links, counters ?? new Float64Array(FORWARD_REASON_COUNT));
  }
  return new RouteForwarder(checked, links, counters ?? new Float64Array(FORWARD_REASON_COUNT));
}
