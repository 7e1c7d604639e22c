/**
 * The engine both demo tours run: two Ethernet links (ingress with its fds, one worker each; egress),
 * forwarding in the workers to a statically known sink, and the coordinator's `Stack` (through
 * `StackAdapter`) owning the engine's two addresses: it answers ARP and ICMP echo for them.
 *
 * ```
 *  client 198.18.1.1 ──► link 0  198.18.1.2/24   [engine]   198.19.1.2/24  link 1 ──► sink 198.19.1.1
 *                        (its MAC: engineIn.mac)              (engineOut.mac)          (static neighbour)
 * ```
 * The client's MAC is learned by the stack from its ARP request, as a router would.
 *
 * Thread: main. Control path.
 */
import { siblingModuleUrl } from '../spawn-worker.ts';
import { ARP_RESULT_COUNT, ArpResult, IcmpReason, Stack } from '../tcpip/index.ts';
import { AppHost } from './app-host.ts';
import { Engine } from './coordinator.ts';
import type { DemoHost } from './demo-frames.ts';
import { StackAdapter } from './stack-adapter.ts';
import { EngineUdpContext } from './udp-context.ts';

/** The four hosts of a tour: the client, the engine's two link addresses, the sink. */
export interface DemoPlan {
  client: DemoHost;
  engineIn: DemoHost;
  engineOut: DemoHost;
  sink: DemoHost;
}

/** Prefix length of both links (each its own /24, as the lab's). */
export const DEMO_PREFIX_LENGTH = 24;

/** What `createDemoEngine` returns; the caller starts and stops `engine`. */
export interface DemoEngine {
  engine: Engine;
  stack: Stack;
  adapter: StackAdapter;
}

/**
 * Builds (does not start) the demo's engine over `ingressFds` (link 0) and `egressFds` (link 1), both
 * carrying Ethernet frames. Throws what `new Engine` throws.
 */
export function createDemoEngine(plan: DemoPlan, ingressFds: readonly number[], egressFds: readonly number[]): DemoEngine {
  const inAddress = `${plan.engineIn.ipv4}/${DEMO_PREFIX_LENGTH}`;
  const outAddress = `${plan.engineOut.ipv4}/${DEMO_PREFIX_LENGTH}`;
  const stack = new Stack({ forwarding: true });
  stack.addNic({ name: 'in', linkAddress: plan.engineIn.mac });
  stack.addNic({ name: 'out', linkAddress: plan.engineOut.mac });
  stack.addAddress(1, inAddress);
  stack.addAddress(2, outAddress);
  stack.addStaticNeighbor(2, plan.sink.ipv4, plan.sink.mac);
  const adapter = new StackAdapter(stack);
  const engine = new Engine({
    links: [
      { fds: ingressFds, ethernetHeader: true, linkAddress: plan.engineIn.mac },
      { fds: egressFds, ethernetHeader: true, linkAddress: plan.engineOut.mac },
    ],
    forwarding: {
      addresses: [{ link: 0, address: inAddress }, { link: 1, address: outAddress }],
      neighbors: [{ link: 1, address: plan.sink.ipv4, linkAddress: plan.sink.mac }],
    },
    stack: adapter,
  });
  return { engine, stack, adapter };
}

/** Returns the ARP replies and ICMP messages (echo replies, errors) the coordinator's stack has written. */
export function stackAnswers(stack: Stack): { arpReplies: number; icmpWritten: number } {
  let arpReplies = 0;
  for (let r = 0; r < ARP_RESULT_COUNT; r++) {
    if (r === ArpResult.Replied || r === ArpResult.RepliedResolved) arpReplies += stack.arpCounters[r]!;
  }
  return { arpReplies, icmpWritten: stack.icmp.counters[IcmpReason.Ok]! };
}

/** Returns the worker slots of `link` (their indices into `engine.workerStats()`). */
export function slotsOf(engine: Engine, link: number): number[] {
  const out: number[] = [];
  for (let slot = 0; slot < engine.slotCount; slot++) if (engine.worker(slot).link === link) out.push(slot);
  return out;
}

/**
 * The reuseport step's shape: `instances` servers on the engine's addresses, port `port`; the client
 * sends `rounds` datagrams on each of `flows` flows (source ports `basePort`..) and waits `timeoutMs`.
 */
export const DEMO_SERVERS = { port: 7_000, instances: 2, flows: 32, rounds: 8, basePort: 50_000, timeoutMs: 2000 } as const;

/**
 * Starts `DEMO_SERVERS.instances` reuseport UDP servers (app workers, `AppHost`) on the running demo
 * engine's stack, bound to 0.0.0.0:`DEMO_SERVERS.port`, each answering with `demo-handler.ts` (its
 * instance number, then the request). The caller closes the host before stopping the engine.
 * Rejects as `AppHost.start` does.
 */
export function startDemoServers(demo: DemoEngine): Promise<AppHost> {
  const udp = new EngineUdpContext(demo.adapter, demo.engine.ports);
  return AppHost.start(udp, {
    port: DEMO_SERVERS.port,
    instances: DEMO_SERVERS.instances,
    handler: siblingModuleUrl('demo-handler', import.meta.url).href,
  });
}
