/**
 * The dispatch worker's entry: the thread that owns one fd's receive side (started by the coordinator
 * with `spawnWorker`, `workerData` = `InitMessage`). It opens its eventfd, adopts its frame pool, attaches
 * its ring ends, builds its forwarder, posts `ready`, and runs `DispatchLoop` (`dispatch-loop.ts`) until
 * told to stop or the fd ends; then it waits for its frames to come home, releases what it opened, posts
 * `stopped` / `ended`, and exits. Anything thrown is posted as `fatal` ({ code, message }), exit code 1.
 *
 * Ownership: it opens and closes its eventfd (the coordinator closes it only if this thread died first:
 * whoever takes the number from `CONTROL_EVENT_FD` with `Atomics.exchange` closes it); the packet fds
 * belong to the engine's caller and are never closed here.
 *
 * Thread: a worker thread (it blocks in poll()); never import it from the main thread.
 */
import { writeFileSync } from 'node:fs';
import { isMainThread, parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { NetshardError, serializeError } from '../errors.ts';
import { RECEIVE_STOPPED, StopFd, createEndpoint, type Endpoint } from '../fdbased/index.ts';
import {
  CompletionReceiver,
  CompletionSender,
  FrameMemory,
  FramePool,
  attachConsumer,
  attachProducer,
  type RingConsumer,
  type RingProducer,
} from '../ring/index.ts';
import { DispatchLoop, LOOP_CONTROL } from './dispatch-loop.ts';
import {
  CONTROL_END_CODE,
  CONTROL_EVENT_FD,
  CONTROL_MESSAGES,
  CONTROL_STATE,
  WorkerState,
  type ControlMessage,
  type InitMessage,
  type WorkerMessage,
} from './messages.ts';
import { createForwarder } from './create-forwarder.ts';
import type { ForwardLink } from './route-forwarder.ts';
import { CHECKSUM_STATS, FORWARD_REASONS } from './stats.ts';

/** Headroom before a bare IP packet, so a forwarder can write a 14-byte Ethernet header in front of it. */
const BARE_IP_HEADROOM = 16;

if (isMainThread || parentPort === null) {
  throw new NetshardError('ERR_NETSHARD_WRONG_THREAD', 'dispatch-worker.ts runs in a worker thread started by the coordinator');
}
const port = parentPort;
const init = workerData as InitMessage;
const control = new Int32Array(init.control);

function post(message: WorkerMessage): void {
  port.postMessage(message);
}

let stopFd: StopFd | null = null;
let endError: NetshardError | null = null; // what the endpoint's `closed` callback said
let endpoint: Endpoint | null = null;
const ends: (RingProducer | RingConsumer)[] = [];

try {
  if (init?.kind !== 'init') throw new NetshardError('ERR_INVALID_ARG_VALUE', 'workerData must be an init message');
  nameThread(`ns-rx-${init.link}.${init.fdIndex}`);
  stopFd = StopFd.create();
  Atomics.store(control, CONTROL_EVENT_FD, stopFd.eventFd); // first: a dead worker's eventfd is still found
  const link = init.links[init.link]!;
  const pool = FramePool.adopt(init.pool);
  const rxOffset = link.ethernetHeader ? 0 : BARE_IP_HEADROOM;
  endpoint = createEndpoint({
    fds: [link.fds[init.fdIndex]!],
    ethernetHeader: link.ethernetHeader,
    linkAddress: link.linkAddress,
    dispatchMode: init.dispatchMode,
    mtu: link.mtu,
    batchSize: init.batchSize,
    closed: (_fdIndex, err) => {
      endError = err;
    },
  });
  endpoint.attach(0, pool, { rxOffset, stopFd });
  const rx = attachProducer(init.rxRing);
  ends.push(rx);
  const tx = attachConsumer(init.txRing);
  ends.push(tx);
  const completions = CompletionReceiver.attach(init.completionRing, pool);
  ends.push(completions.consumer);
  const txCompletions = CompletionSender.attach(init.txCompletionRing);
  ends.push(txCompletions.producer);
  const forwardLinks: ForwardLink[] = init.links.map((l) => ({ ethernetHeader: l.ethernetHeader, linkAddress: l.linkAddress, mtu: l.mtu }));
  const stats = new Float64Array(init.stats);
  const forwardCounters = stats.subarray(FORWARD_REASONS, CHECKSUM_STATS); // the stack forwarder counts here
  const loop = new DispatchLoop({
    endpoint,
    stopFd,
    pool,
    rxOffset,
    txPool: FrameMemory.attach(init.txPool),
    rx,
    tx,
    completions,
    txCompletions,
    stats,
    control,
    doorbell: new Int32Array(init.doorbell),
    links: init.links,
    link: init.link,
    forwarder: createForwarder(init.forwarding, forwardLinks, forwardCounters),
    hashSeed: init.hashSeed,
    batchSize: init.batchSize,
    pollTimeoutMs: init.pollTimeoutMs,
  });
  Atomics.store(control, CONTROL_STATE, WorkerState.Running);
  post({
    kind: 'ready',
    slot: init.slot,
    generation: init.generation,
    eventFd: stopFd.eventFd,
    stopFlags: stopFd.flags.buffer as SharedArrayBuffer,
    dispatchMode: endpoint.dispatchModes[0]!,
  });

  let endCode = 0;
  let stopping = false;
  while (!stopping) {
    const r = loop.run();
    if (r !== LOOP_CONTROL) {
      endCode = r;
      break;
    }
    // Everything posted before the counter moved is already in the port: read until empty.
    loop.seenMessages = Atomics.load(control, CONTROL_MESSAGES);
    for (let m = receiveMessageOnPort(init.controlPort); m !== undefined; m = receiveMessageOnPort(init.controlPort)) {
      const message = m.message as ControlMessage;
      if (message.kind === 'stop') {
        stopping = true;
      } else if (message.kind === 'reconfigure') {
        try {
          loop.setForwarder(createForwarder(message.forwarding, forwardLinks, forwardCounters));
          post({ kind: 'reconfigured', id: message.id, error: null });
        } catch (err) {
          post({ kind: 'reconfigured', id: message.id, error: serializeError(err) });
        }
      } else if (message.kind === 'neighbors') {
        try {
          loop.forwarder?.updateNeighbors?.(message.changes); // no neighbor table (bare IP): nothing to do
          post({ kind: 'reconfigured', id: message.id, error: null });
        } catch (err) {
          post({ kind: 'reconfigured', id: message.id, error: serializeError(err) });
        }
      }
    }
  }

  Atomics.store(control, CONTROL_STATE, WorkerState.Stopping);
  Atomics.store(control, CONTROL_END_CODE, endCode);
  const available = loop.release(init.drainTimeoutMs);
  releaseAll();
  Atomics.store(control, CONTROL_STATE, WorkerState.Stopped);
  if (stopping || endCode === RECEIVE_STOPPED) {
    post({ kind: 'stopped', slot: init.slot, generation: init.generation, available, frameCount: pool.frameCount });
  } else {
    const error = serializeError(endError ?? new NetshardError('ERR_NETSHARD_INTERNAL', `fd ended with code ${endCode}`));
    post({ kind: 'ended', slot: init.slot, generation: init.generation, endCode, error, available, frameCount: pool.frameCount });
  }
} catch (err) {
  try {
    releaseAll();
  } catch {
    // already failing: report the first error
  }
  post({ kind: 'fatal', slot: init?.slot ?? -1, generation: init?.generation ?? -1, error: serializeError(err) });
  process.exitCode = 1;
}
init?.controlPort?.close();

/**
 * Names this thread in the kernel (`top -H`, `ps -L`, /proc/<pid>/task/<tid>/comm), so CPU per dispatch
 * thread can be told apart from Node's own threads (`netshard bench` reads it). Best effort: at most 15
 * bytes; a kernel without /proc/thread-self leaves the name as it was.
 */
function nameThread(name: string): void {
  try {
    writeFileSync('/proc/thread-self/comm', name.slice(0, 15));
  } catch {
    // no procfs here: the name is only a convenience
  }
}

/** Closes the endpoint's tables, the eventfd (unless the coordinator took it), and detaches ring ends. */
function releaseAll(): void {
  endpoint?.close();
  endpoint = null;
  for (const end of ends) end.close();
  ends.length = 0;
  if (stopFd !== null && Atomics.exchange(control, CONTROL_EVENT_FD, -1) >= 0) stopFd.close();
  stopFd = null;
}
