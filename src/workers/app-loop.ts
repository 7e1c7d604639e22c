/**
 * `AppLoop`: one reuseport server instance, inside its app worker. It reserves the server's port in the
 * shared PortManager (LoadBalanced), takes datagrams from its rx ring, calls the handler with a Buffer
 * and an rinfo (node:dgram's shapes), and writes each reply into the slot of the next tx-ring record.
 * ```
 *  loop:  peek rx ─► per record: Buffer copy + rinfo ─► handler(message, rinfo, context)
 *                     reply now ─► tx slot + record (header copied from the rx slot)
 *                     reply later (a promise) ─► addressing copied aside; written when it settles
 *         release rx ─► publish tx (doorbell only if the coordinator asked) ─► setImmediate
 *  idle:  need-wakeup flag on the rx ring, Atomics.waitAsync (the event loop keeps running: comlink
 *         control calls and pending handlers are served meanwhile)
 * ```
 * The handler runs on this thread's event loop, so it may be async and may use any Node API. Edge
 * allocation per datagram: the Buffer and rinfo the handler gets (and a small record per pending
 * promise); the ring work allocates nothing.
 *
 * Thread: an app worker (started by `app-host.ts` through `app-worker.ts`). Control methods are called
 * over comlink; they never throw (errors are returned as values).
 */
import { Buffer } from 'node:buffer';
import { serializeError, NetshardError, type SerializedError } from '../errors.ts';
import { PortManager } from '../ports/index.ts';
import { attachConsumer, attachProducer, type RingConsumer, type RingProducer } from '../ring/index.ts';
import { formatIpv4, formatIpv6 } from '../tcpip/index.ts';
import {
  APP_MAX_TRACKED_FLOWS, APP_REC_FLOW, APP_REC_LENGTH, APP_REC_META, APP_REC_PORTS, APP_RECORD_SHIFT, APP_SLOT_HEADER, AppStat,
  readAppStats, type AppHandler, type AppHandlerContext, type AppInstanceStats, type AppRemoteInfo, type AppReply,
  type AppWorkerApi, type AppWorkerData,
} from './app-channel.ts';

/** Records taken from the rx ring per turn before yielding to the event loop. */
const BATCH = 64;
/** Records reserved at a time on the tx ring. */
const RESERVE_STEP = 64;
/** Longest idle sleep on the rx ring, ms (a close wakes it sooner). */
const IDLE_MS = 1000;

/** The echo handler: the reply is the request. */
const echo: AppHandler = (message) => message;

/** One server instance; see the file comment. */
export class AppLoop implements AppWorkerApi {
  private readonly data: AppWorkerData;
  private readonly context: AppHandlerContext;
  private readonly counters: Float64Array;
  private readonly rx: RingConsumer;
  private readonly tx: RingProducer;
  private readonly rxBytes: Uint8Array;
  private readonly txBytes: Uint8Array;
  private readonly txBuffer: Buffer;
  private readonly slotShift: number;
  private readonly maxPayload: number;
  private readonly doorbell: Int32Array;
  private readonly flows = new Set<number>();
  private handler: AppHandler = echo;
  private ports: PortManager | null = null;
  private reserved = false;
  private running = false;
  private closing: Promise<AppInstanceStats> | null = null;
  private wakeClose: (() => void) | null = null;
  private loopDone: Promise<void> = Promise.resolve();
  private staged = 0;
  private txReserved = 0;
  private publishQueued = false;
  private readonly publishTask = (): void => {
    this.publishQueued = false;
    this.publish();
  };
  private pending = 0;
  private settled: (() => void) | null = null;

  /** Attaches this instance's ring ends (consumer of rx, producer of tx). Thread: the app worker. */
  constructor(data: AppWorkerData) {
    this.data = data;
    const { channel } = data;
    this.context = Object.freeze({ instance: data.instance, instances: data.instances, port: data.reservation.port });
    this.counters = new Float64Array(channel.stats);
    this.rx = attachConsumer(channel.rxRing);
    this.tx = attachProducer(channel.txRing);
    this.rxBytes = new Uint8Array(channel.rxSlots);
    this.txBytes = new Uint8Array(channel.txSlots);
    this.txBuffer = Buffer.from(channel.txSlots);
    this.slotShift = Math.log2(channel.slotBytes);
    this.maxPayload = channel.slotBytes - APP_SLOT_HEADER;
    this.doorbell = new Int32Array(data.doorbell);
  }

  /** Loads the handler module (its default export), then reserves the port (LoadBalanced) in the shared PortManager. */
  async open(): Promise<SerializedError | null> {
    try {
      if (this.data.handler !== null) {
        const module = (await import(this.data.handler)) as { default?: unknown };
        if (typeof module.default !== 'function') {
          throw new NetshardError('ERR_INVALID_ARG_VALUE', `the handler module ${this.data.handler} must export a default function (message, rinfo) => reply`);
        }
        this.handler = module.default as AppHandler;
      }
      this.ports = PortManager.attach(this.data.portsBuffer);
      this.ports.reservePort(this.data.reservation);
      this.reserved = true;
      return null;
    } catch (err) {
      return serializeError(err);
    }
  }

  /** Starts the loop (once). */
  run(): void {
    if (this.running || this.closing !== null) return;
    this.running = true;
    this.loopDone = this.loop();
  }

  /** Returns the counters (the same the coordinator reads from the SAB). */
  stats(): AppInstanceStats {
    return readAppStats(this.data.channel.stats, this.data.instance);
  }

  /** See `AppWorkerApi.close`. Idempotent. */
  close(graceMs: number): Promise<AppInstanceStats> {
    if (this.closing === null) this.closing = this.shutDown(graceMs);
    return this.closing;
  }

  // ---- the loop -------------------------------------------------------------------------------------

  private async loop(): Promise<void> {
    const rx = this.rx;
    while (this.running) {
      if (this.turn() > 0) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        continue;
      }
      // Idle: sleep until the coordinator publishes (it notifies only because we set the flag) or close.
      const woken = new Promise<void>((resolve) => (this.wakeClose = resolve));
      await Promise.race([rx.waitForDataAsync(IDLE_MS), woken]);
      this.wakeClose = null;
    }
  }

  /** Handles up to `BATCH` records; returns how many. */
  private turn(): number {
    const rx = this.rx;
    const n = rx.peek(BATCH);
    if (n === 0) return 0;
    const records = rx.records, stats = this.counters;
    for (let i = 0; i < n; i++) {
      const w = rx.slot(i);
      const base = (w >> APP_RECORD_SHIFT) << this.slotShift;
      const size = records[w + APP_REC_LENGTH]!;
      const ports = records[w + APP_REC_PORTS]!;
      const meta = records[w + APP_REC_META]!;
      const flow = records[w + APP_REC_FLOW]!;
      const v4 = (meta & 0xff) === 4;
      const message = Buffer.copyBytesFrom(this.rxBytes, base + APP_SLOT_HEADER, size);
      const remote = base;
      const rinfo: AppRemoteInfo = {
        address: v4 ? formatIpv4(((this.rxBytes[remote]! << 24) | (this.rxBytes[remote + 1]! << 16) | (this.rxBytes[remote + 2]! << 8) | this.rxBytes[remote + 3]!) >>> 0) : formatIpv6(this.rxBytes, remote),
        family: v4 ? 'IPv4' : 'IPv6',
        port: ports & 0xffff,
        size,
      };
      stats[AppStat.datagramsIn]!++;
      stats[AppStat.bytesIn]! += size;
      if (this.flows.size < APP_MAX_TRACKED_FLOWS && !this.flows.has(flow)) {
        this.flows.add(flow);
        stats[AppStat.flowsSeen] = this.flows.size;
      }
      let result: AppReply | Promise<AppReply>;
      try {
        result = this.handler(message, rinfo, this.context);
      } catch {
        stats[AppStat.handlerErrors]!++;
        continue;
      }
      if (result instanceof Promise || (typeof result === 'object' && result !== null && typeof (result as { then?: unknown }).then === 'function')) {
        this.later(result as Promise<AppReply>, this.rxBytes.slice(base, base + APP_SLOT_HEADER), ports, meta, flow);
      } else {
        this.reply(result, this.rxBytes, base, ports, meta, flow);
      }
    }
    rx.release(n);
    this.publish();
    return n;
  }

  /** Waits for a handler's promise, then replies from the addressing kept in `header`. */
  private later(result: Promise<AppReply>, header: Uint8Array, ports: number, meta: number, flow: number): void {
    const stats = this.counters;
    this.pending++;
    stats[AppStat.pendingHandlers] = this.pending;
    const done = (): void => {
      this.pending--;
      stats[AppStat.pendingHandlers] = this.pending;
      this.schedulePublish();
      if (this.pending === 0) this.settled?.();
    };
    result.then(
      (reply) => {
        this.reply(reply, header, 0, ports, meta, flow);
        done();
      },
      () => {
        stats[AppStat.handlerErrors]!++;
        done();
      },
    );
  }

  /**
   * Writes `reply` into the next tx slot, addressed back to the sender: the slot header (remote, local
   * addresses) is copied from `header[at, +32)`, the ports and meta word come from the request.
   */
  private reply(reply: unknown, header: Uint8Array, at: number, ports: number, meta: number, flow: number): void {
    const stats = this.counters;
    if (reply === undefined || reply === null) {
      stats[AppStat.noReply]!++;
      return;
    }
    let size: number;
    if (typeof reply === 'string') size = Buffer.byteLength(reply);
    else if (reply instanceof Uint8Array) size = reply.byteLength;
    else {
      stats[AppStat.handlerErrors]!++;
      return;
    }
    if (size > this.maxPayload) {
      stats[AppStat.replyDrops]!++;
      return;
    }
    if (this.staged === this.txReserved) {
      this.txReserved = this.tx.reserve(this.staged + RESERVE_STEP);
      if (this.staged === this.txReserved) {
        this.tx.countDrops(1);
        stats[AppStat.replyDrops]!++;
        return;
      }
    }
    const w = this.tx.slot(this.staged);
    const base = (w >> APP_RECORD_SHIFT) << this.slotShift;
    const txBytes = this.txBytes;
    for (let i = 0; i < APP_SLOT_HEADER; i++) txBytes[base + i] = header[at + i]!;
    if (typeof reply === 'string') this.txBuffer.write(reply, base + APP_SLOT_HEADER, size, 'utf8');
    else txBytes.set(reply as Uint8Array, base + APP_SLOT_HEADER);
    const records = this.tx.records;
    records[w + APP_REC_LENGTH] = size;
    records[w + APP_REC_PORTS] = ports;
    records[w + APP_REC_META] = meta;
    records[w + APP_REC_FLOW] = flow;
    this.staged++;
    stats[AppStat.datagramsOut]!++;
    stats[AppStat.bytesOut]! += size;
  }

  private schedulePublish(): void {
    if (this.publishQueued) return;
    this.publishQueued = true;
    queueMicrotask(this.publishTask);
  }

  /** Publishes the staged replies; rings the shared doorbell when the coordinator's pump asked. */
  private publish(): void {
    if (this.staged === 0) return;
    if (this.tx.publish(this.staged)) {
      Atomics.add(this.doorbell, 0, 1);
      Atomics.notify(this.doorbell, 0);
    }
    this.staged = 0;
    this.txReserved = 0;
  }

  private async shutDown(graceMs: number): Promise<AppInstanceStats> {
    this.running = false;
    this.wakeClose?.();
    await this.loopDone;
    while (this.turn() > 0); // what the coordinator published before it unregistered us
    if (this.pending > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs);
        this.settled = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    this.publish();
    if (this.reserved) {
      this.ports?.releasePort(this.data.reservation);
      this.reserved = false;
    }
    this.rx.close();
    this.tx.close();
    return this.stats();
  }
}
