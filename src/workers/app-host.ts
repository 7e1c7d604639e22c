/**
 * `AppHost`: the coordinator's side of the reuseport servers. It starts N app workers (one server
 * instance each, `app-worker.ts`), each of which reserves the server's port in the engine's shared
 * PortManager with LoadBalanced (SO_REUSEPORT) from its own thread; the host then registers each
 * instance's `AppEndpoint` in the coordinator's demuxer as a member of one SO_REUSEPORT group, with the
 * instance's owner (the demuxer admits one owner per group: another gets EADDRINUSE, as Linux's same-UID
 * rule). The demuxer picks the member per flow (gVisor's hash: a flow always reaches the same
 * instance); replies come back on each instance's tx ring and leave through `EngineUdpContext`.
 * ```
 *  start: spawn ─► comlink open() [handler import, PortManager.reservePort LB] ─► demuxer.register(owner)
 *         ─► comlink run()            (a refused registration: close() releases the port, EADDRINUSE)
 *  rx:    demuxer ─► AppEndpoint.handlePacket ─► rx ring k (payload in its slot) ─► app k
 *  tx:    app k ─► tx ring k ─► pump (doorbell, need-wakeup) ─► udp.sendPayload ─► fds[hash % n]
 *  close: unregister + endpoint.close ─► comlink close() [drain, pending handlers, releasePort] ─► exit
 * ```
 * An app worker that dies is unregistered and its reservation released here (the table is shared; the
 * dead thread cannot), reported as 'instanceExit'.
 *
 * Control plane: comlink's node adapter on each worker (app workers run their event loop, so an RPC is
 * answered between handler calls); nothing per packet crosses it. Thread: main. The pump's drain
 * allocates nothing per reply.
 */
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Worker } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeAdapter from 'comlink/dist/umd/node-adapter.js';
import { NetshardError, deserializeError, type SerializedError } from '../errors.ts';
import { PortManager } from '../ports/index.ts';
import { attachConsumer, type RingConsumer } from '../ring/index.ts';
import { siblingModuleUrl, spawnWorker } from '../spawn-worker.ts';
import {
  IPV4_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER, REUSE_FLAG_LOAD_BALANCED, UDP_PROTOCOL_NUMBER, UdpSendResult, parseIpv4, parseIpv6,
  type NetworkProtocolNumber, type TransportRegistration,
} from '../tcpip/index.ts';
import { validateInteger, validateObject, validateString } from '../validate.ts';
import {
  APP_REC_LENGTH, APP_REC_META, APP_REC_PORTS, APP_RECORD_SHIFT, APP_SLOT_HEADER, APP_SLOT_LOCAL, APP_SLOT_REMOTE, AppStat,
  DEFAULT_APP_RING_CAPACITY, DEFAULT_APP_SLOT_BYTES, createAppChannel, readAppStats,
  type AppChannelBuffers, type AppInstanceStats, type AppReservation, type AppWorkerApi, type AppWorkerData,
} from './app-channel.ts';
import { AppEndpoint } from './app-endpoint.ts';
import type { EngineUdpContext } from './udp-context.ts';

type NodeEndpoint = (port: Worker) => Comlink.Endpoint;
// A UMD/CommonJS module: ESM gets module.exports (the function) as the default; its .d.ts says otherwise.
const nodeEndpoint = ((nodeAdapter as unknown as { default?: NodeEndpoint }).default ?? nodeAdapter) as unknown as NodeEndpoint;

const APP_WORKER_URL = siblingModuleUrl('app-worker', import.meta.url);
/** Replies taken from one instance's tx ring per pass. */
const TX_BUDGET = 256;
/** Longest pump sleep on the doorbell, ms. */
const PUMP_SLEEP_MS = 1000;

/** Options of `AppHost.start`. */
export interface AppHostOptions {
  /** UDP port every instance binds, 1..65535. */
  port: number;
  /** Address to bind: '0.0.0.0' (default), '::' (IPv6 and IPv4), or one address of the stack. */
  address?: string;
  /** Server instances, one app worker each, 1..64. Default 2. */
  instances?: number;
  /**
   * Module whose default export handles a datagram, `(message, rinfo, context) => reply` (`AppHandler`):
   * a path (relative to the working directory) or a `file:` URL. Default: echo.
   */
  handler?: string | null;
  /** Owner id of the instances (the SO_REUSEPORT same-owner rule). Default: this process's uid. */
  owner?: number;
  /** Records per ring (a power of two). Default 1024. */
  ringCapacity?: number;
  /** Bytes per payload slot (a power of two, 256..65536); larger datagrams are dropped and counted. Default 2048. */
  slotBytes?: number;
  /** How long `close` lets pending handlers finish, ms. Default 1000. */
  closeGraceMs?: number;
}

/** What 'instanceExit' carries: an app worker ended without `close`. */
export interface AppInstanceExitEvent {
  instance: number;
  code: number;
  error: NetshardError | null;
}

type InstanceState = 'opening' | 'running' | 'closing' | 'closed';

/** One server instance as the coordinator holds it. */
class AppInstance {
  readonly instance: number;
  readonly owner: number;
  readonly worker: Worker;
  readonly api: Comlink.Remote<AppWorkerApi>;
  readonly channel: AppChannelBuffers;
  readonly exited: Promise<number>;
  readonly counters: Float64Array;
  state: InstanceState = 'opening';
  error: NetshardError | null = null;
  endpoint: AppEndpoint | null = null;
  registration: TransportRegistration | null = null;
  tx: RingConsumer | null = null;
  txSlots: DataView;
  slotShift: number;

  constructor(instance: number, owner: number, worker: Worker, channel: AppChannelBuffers, onExit: (self: AppInstance, code: number) => void) {
    this.instance = instance;
    this.owner = owner;
    this.worker = worker;
    this.channel = channel;
    this.counters = new Float64Array(channel.stats);
    this.txSlots = new DataView(channel.txSlots);
    this.slotShift = Math.log2(channel.slotBytes);
    // Listeners at spawn: an early exit must not be missed (RUNTIME-FACTS.md).
    worker.on('error', (err) => {
      this.error = err instanceof NetshardError ? err : new NetshardError('ERR_NETSHARD_WORKER_FAILED', `app worker ${instance}: ${err.message}`, { cause: err });
    });
    this.exited = new Promise((resolve) => worker.once('exit', (code: number) => {
      onExit(this, code);
      resolve(code);
    }));
    this.api = Comlink.wrap<AppWorkerApi>(nodeEndpoint(worker));
  }

  /** Resolves to `call`'s result, or rejects when the worker exits first. */
  async call<T>(call: Promise<T>): Promise<T> {
    const gone = this.exited.then((code) => {
      throw this.error ?? new NetshardError('ERR_NETSHARD_WORKER_FAILED', `app worker ${this.instance} exited (code ${code}) during a control call`);
    });
    return Promise.race([call, gone]);
  }
}

/** The reuseport servers of one port; see the file comment. Events: 'instanceExit' (AppInstanceExitEvent). */
export class AppHost extends EventEmitter {
  /** The UDP port the instances share. */
  readonly port: number;
  /** The bound address ('0.0.0.0', '::' or one address). */
  readonly address: string;
  /** Instances started with. */
  readonly instanceCount: number;
  private readonly udp: EngineUdpContext;
  private readonly options: Required<Omit<AppHostOptions, 'handler'>> & { handler: string | null };
  private readonly reservation: AppReservation;
  private readonly networks: NetworkProtocolNumber[];
  private readonly hashSeed: number;
  private readonly portsBuffer: SharedArrayBuffer;
  private readonly doorbellBuffer = new SharedArrayBuffer(64);
  private readonly doorbell = new Int32Array(this.doorbellBuffer);
  private readonly all: AppInstance[] = [];
  private live: AppInstance[] = [];
  private closed = false;
  private closing: Promise<AppInstanceStats[]> | null = null;
  private pumpDone: Promise<void> = Promise.resolve();

  private constructor(udp: EngineUdpContext, options: AppHostOptions) {
    super();
    validateObject(options, 'options', ['port', 'address', 'instances', 'handler', 'owner', 'ringCapacity', 'slotBytes', 'closeGraceMs']);
    validateInteger(options.port, 'options.port', 1, 65535);
    const address = options.address ?? '0.0.0.0';
    validateString(address, 'options.address');
    const instances = options.instances ?? 2;
    validateInteger(instances, 'options.instances', 1, 64);
    const owner = options.owner ?? process.getuid?.() ?? 0;
    validateInteger(owner, 'options.owner', 0, 0xffffffff);
    const ringCapacity = options.ringCapacity ?? DEFAULT_APP_RING_CAPACITY;
    const slotBytes = options.slotBytes ?? DEFAULT_APP_SLOT_BYTES;
    createAppChannel(ringCapacity, slotBytes); // checks both (powers of two, ranges)
    const closeGraceMs = options.closeGraceMs ?? 1000;
    validateInteger(closeGraceMs, 'options.closeGraceMs', 0, 60_000);
    const handler = options.handler == null ? null : handlerUrl(options.handler);
    const engine = udp.adapter.sender;
    if (engine === null) throw new NetshardError('ERR_NETSHARD_NOT_RUNNING', 'start the engine before the app host');
    if (!(udp.ports instanceof PortManager)) {
      throw new NetshardError('ERR_INVALID_ARG_TYPE', 'the UDP context must reserve ports in a shared PortManager (the engine\'s `ports`)');
    }
    this.portsBuffer = udp.ports.buffer;
    this.udp = udp;
    this.port = options.port;
    this.address = address;
    this.instanceCount = instances;
    this.networks = networksOf(address);
    this.options = { port: options.port, address, instances, handler, owner, ringCapacity, slotBytes, closeGraceMs };
    this.reservation = { networks: this.networks, transport: UDP_PROTOCOL_NUMBER, address, port: options.port, flags: REUSE_FLAG_LOAD_BALANCED };
    this.hashSeed = engine.hashSeed;
  }

  /**
   * Starts `options.instances` server instances on `udp`'s engine (which must be running) and resolves
   * once each is bound and registered. Rejects, after closing what started, with the first instance's
   * error: EADDRINUSE (the port is held without SO_REUSEPORT, or by another owner's group), the
   * handler's import error, ERR_INVALID_ARG_* for bad options. Thread: main.
   */
  static async start(udp: EngineUdpContext, options: AppHostOptions): Promise<AppHost> {
    const host = new AppHost(udp, options);
    host.pumpDone = host.pump();
    try {
      for (let i = 0; i < host.instanceCount; i++) await host.addInstance();
    } catch (err) {
      await host.close();
      throw err;
    }
    return host;
  }

  /**
   * Starts one more instance (with `owner`, default the host's) and resolves to its number once it is
   * bound and in the group. Rejects with EADDRINUSE when the demuxer refuses it (another owner) or the
   * PortManager does; nothing is left behind. Thread: main.
   */
  async addInstance(options: { owner?: number } = {}): Promise<number> {
    validateObject(options, 'options', ['owner']);
    const owner = options.owner ?? this.options.owner;
    validateInteger(owner, 'options.owner', 0, 0xffffffff);
    if (this.closed) throw new NetshardError('ERR_NETSHARD_CLOSED', 'the app host is closed');
    const index = this.all.length;
    const channel = createAppChannel(this.options.ringCapacity, this.options.slotBytes);
    const data: AppWorkerData = {
      instance: index, instances: this.instanceCount, portsBuffer: this.portsBuffer,
      reservation: this.reservation, channel, doorbell: this.doorbellBuffer, handler: this.options.handler,
    };
    const worker = spawnWorker(APP_WORKER_URL, { workerData: data, name: `netshard-app-${index}` });
    const inst = new AppInstance(index, owner, worker, channel, (self, code) => this.onExit(self, code));
    this.all.push(inst);
    try {
      const opened: SerializedError | null = await inst.call(inst.api.open());
      if (opened !== null) throw deserializeError(opened);
      const endpoint = new AppEndpoint(index, channel, this.hashSeed);
      const registration: TransportRegistration = {
        networks: this.networks, transport: UDP_PROTOCOL_NUMBER,
        id: { localPort: this.port, localAddress: this.address, remotePort: 0, remoteAddress: '' },
        flags: REUSE_FLAG_LOAD_BALANCED, bindToDevice: 0, owner,
      };
      try {
        this.udp.demuxer.register(registration, endpoint);
      } catch (err) {
        endpoint.close();
        await inst.call(inst.api.close(0)); // releases the reservation it made
        throw err;
      }
      inst.endpoint = endpoint;
      inst.registration = registration;
      inst.tx = attachConsumer(channel.txRing);
      inst.state = 'running';
      this.live = [...this.live, inst];
      await inst.call(inst.api.run());
      return index;
    } catch (err) {
      if (inst.state !== 'running') {
        inst.state = 'closed';
        inst.api[Comlink.releaseProxy]();
        await worker.terminate();
      }
      throw err;
    }
  }

  /** Returns every instance's counters from shared memory (no message). Thread: main. */
  readStats(): AppInstanceStats[] {
    return this.all.map((i) => readAppStats(i.channel.stats, i.instance));
  }

  /** Asks each running instance for its counters over comlink (the control-plane path). Thread: main. */
  async stats(): Promise<AppInstanceStats[]> {
    return Promise.all(this.live.map((i) => i.call(i.api.stats())));
  }

  /** Numbers of the instances that are running. */
  get running(): number[] {
    return this.live.map((i) => i.instance);
  }

  /**
   * Stops every instance: unregisters it (no more datagrams), lets it finish what it holds (up to
   * `closeGraceMs` for pending handlers), sends its last replies, releases its port reservation, and ends
   * its thread. Resolves to the final counters of every instance ever started. Idempotent.
   */
  close(): Promise<AppInstanceStats[]> {
    if (this.closing === null) this.closing = this.closeAll();
    return this.closing;
  }

  private async closeAll(): Promise<AppInstanceStats[]> {
    this.closed = true;
    const live = this.live;
    for (const inst of live) this.unregister(inst);
    await Promise.all(live.map(async (inst) => {
      inst.state = 'closing';
      try {
        await inst.call(inst.api.close(this.options.closeGraceMs));
      } catch {
        this.udp.ports.releasePort(this.reservation); // it died before releasing its reference: do it for it
      }
    }));
    this.drainReplies(); // the last replies
    this.live = [];
    this.ringDoorbell();
    await this.pumpDone;
    await Promise.all(live.map(async (inst) => {
      inst.state = 'closed';
      inst.tx?.close();
      inst.api[Comlink.releaseProxy]();
      await inst.worker.terminate();
    }));
    return this.readStats();
  }

  private unregister(inst: AppInstance): void {
    if (inst.registration !== null && inst.endpoint !== null) this.udp.demuxer.unregister(inst.registration, inst.endpoint);
    inst.endpoint?.close();
    inst.registration = null;
  }

  private onExit(inst: AppInstance, code: number): void {
    if (inst.state !== 'running') return;
    inst.state = 'closed';
    this.unregister(inst);
    this.udp.ports.releasePort(this.reservation); // the dead thread's reference in the shared table
    this.drainReplies();
    this.live = this.live.filter((i) => i !== inst);
    inst.tx?.close();
    this.emit('instanceExit', { instance: inst.instance, code, error: inst.error } satisfies AppInstanceExitEvent);
  }

  // ---- the reply pump -------------------------------------------------------------------------------

  /**
   * Sends the replies every instance published, sleeping on the doorbell word when all tx rings are
   * empty (each ring's need-wakeup flag set first, then re-checked: an app rings the doorbell only when
   * its publish found the flag set). Never blocks the event loop.
   */
  private async pump(): Promise<void> {
    const doorbell = this.doorbell;
    while (!this.closed || this.live.length > 0) {
      if (this.drainReplies() > 0) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        continue;
      }
      const seen = Atomics.load(doorbell, 0);
      const live = this.live;
      let empty = true;
      for (const inst of live) if (inst.tx !== null && !inst.tx.requestWakeup()) empty = false;
      if (empty && (!this.closed || this.live.length > 0)) {
        const r = Atomics.waitAsync(doorbell, 0, seen, PUMP_SLEEP_MS);
        if (r.async) await r.value;
      }
      for (const inst of live) inst.tx?.cancelWakeup();
    }
  }

  private ringDoorbell(): void {
    Atomics.add(this.doorbell, 0, 1);
    Atomics.notify(this.doorbell, 0);
  }

  /** Sends what every instance's tx ring holds (up to `TX_BUDGET` each); returns how many replies. */
  private drainReplies(): number {
    const udp = this.udp;
    const live = this.live;
    let total = 0;
    for (let k = 0; k < live.length; k++) {
      const inst = live[k]!;
      const tx = inst.tx;
      if (tx === null) continue;
      const n = tx.peek(TX_BUDGET);
      if (n === 0) continue;
      const records = tx.records, slots = inst.txSlots, counters = inst.counters;
      for (let i = 0; i < n; i++) {
        const w = tx.slot(i);
        const base = (w >> APP_RECORD_SHIFT) << inst.slotShift;
        const ports = records[w + APP_REC_PORTS]!, meta = records[w + APP_REC_META]!;
        const result = udp.sendPayload(
          meta & 0xff, slots, base + APP_SLOT_REMOTE, base + APP_SLOT_LOCAL, ports & 0xffff, ports >>> 16,
          slots, base + APP_SLOT_HEADER, records[w + APP_REC_LENGTH]!, meta >>> 8,
        );
        if (result === UdpSendResult.Ok) counters[AppStat.sent]!++;
        else counters[AppStat.sendErrors]!++;
      }
      tx.release(n);
      total += n;
    }
    return total;
  }
}

/** Returns the networks a bind to `address` covers: IPv4, IPv6, or both for '::'. Throws ERR_INVALID_ARG_VALUE. */
function networksOf(address: string): NetworkProtocolNumber[] {
  if (parseIpv4(address) >= 0) return [IPV4_PROTOCOL_NUMBER];
  const bytes = new Uint8Array(16);
  if (!parseIpv6(address, bytes, 0)) throw new NetshardError('ERR_INVALID_ARG_VALUE', `options.address must be an IPv4 or IPv6 address, received '${address}'`);
  return bytes.every((b) => b === 0) ? [IPV6_PROTOCOL_NUMBER, IPV4_PROTOCOL_NUMBER] : [IPV6_PROTOCOL_NUMBER];
}

/** Returns the `file:` URL of handler module `handler` (a path or a URL). Throws ENOENT when the file is missing. */
function handlerUrl(handler: string): string {
  validateString(handler, 'options.handler');
  if (handler.startsWith('file:')) return handler;
  const path = resolvePath(handler);
  if (!existsSync(path)) throw new NetshardError('ENOENT', `handler module ${path} does not exist`);
  return pathToFileURL(path).href;
}
