/**
 * The channel between the coordinator and one app worker (a reuseport server instance): two SPSC rings
 * whose records each own a payload slot, a stats buffer, and the control API the coordinator calls over
 * comlink. Shared by both threads (`app-host.ts`, `app-endpoint.ts` on the main thread; `app-loop.ts` in
 * the app worker).
 * ```
 *  coordinator                                                     app worker k
 *  AppEndpoint.handlePacket ── rx ring (4 words) + rx slots ──────► AppLoop: Buffer + rinfo → handler
 *  AppHost pump ◄──────────── tx ring (4 words) + tx slots ◄─────── reply (Buffer | string)
 *               ◄── doorbell word (one for every instance) ◄──────── rung when the pump asked (need-wakeup)
 *  comlink (node adapter) ── open / run / stats / close ──────────► control only, never per packet
 * ```
 * A record's payload slot is tied to the record's position in its ring: record at ring position p uses
 * slot p (`slot(i) >> APP_RECORD_SHIFT`), so the slot is free exactly when the ring position is, and
 * nothing is allocated or freed per datagram (the producer writes the slot, then publishes the record;
 * the consumer reads it, then releases the record).
 * ```
 *  slot (slotBytes, a power of two):  0 remote address (16)  16 local address (16)  32 payload …
 *                                     IPv4 addresses take the first 4 bytes of their 16
 *  record (4 Int32 words):            0 payload length   1 remote port | local port << 16
 *                                     2 family (4 | 6) | NIC id << 8   3 flow hash (int32, the engine's)
 * ```
 * rx: remote = the datagram's source, local = its destination. tx: remote = the reply's destination,
 * local = its source (the request's destination address and the server's port).
 *
 * Thread: any (layouts and plain data). `createAppChannel` and `readAppStats` are control path.
 */
import { NetshardError, type SerializedError } from '../errors.ts';
import { createRing } from '../ring/index.ts';
import type { NetworkProtocolNumber } from '../tcpip/index.ts';
import { validateInteger } from '../validate.ts';

/** Bytes of a slot before its payload: the remote then the local address, 16 bytes each. */
export const APP_SLOT_HEADER = 32;
/** Slot offset of the remote address. */
export const APP_SLOT_REMOTE = 0;
/** Slot offset of the local address. */
export const APP_SLOT_LOCAL = 16;
/** Int32 words per record. */
export const APP_RECORD_WORDS = 4;
/** `slot(i) >> APP_RECORD_SHIFT` is the record's ring position, hence its payload slot. */
export const APP_RECORD_SHIFT = 2;
/** Record word: payload length in bytes. */
export const APP_REC_LENGTH = 0;
/** Record word: remote port (bits 0-15) and local port (bits 16-31). */
export const APP_REC_PORTS = 1;
/** Record word: address family 4 or 6 (bits 0-7) and the NIC id (bits 8-31). */
export const APP_REC_META = 2;
/** Record word: the engine's flow hash of the request (int32). */
export const APP_REC_FLOW = 3;
/** Default slot size: one MTU-1500 datagram with room to spare (2016 payload bytes). */
export const DEFAULT_APP_SLOT_BYTES = 2048;
/** Default records per ring (and slots per direction). */
export const DEFAULT_APP_RING_CAPACITY = 1024;

/** Per-instance counters, Float64 slots; each slot has one writer (the thread named). */
export const AppStat = {
  /** App: datagrams handed to the handler. */
  datagramsIn: 0,
  /** App: replies published on the tx ring. */
  datagramsOut: 1,
  /** App: payload bytes handed to the handler. */
  bytesIn: 2,
  /** App: reply payload bytes published. */
  bytesOut: 3,
  /** App: distinct flows (by the engine's flow hash) it has seen, counted up to `APP_MAX_TRACKED_FLOWS`. */
  flowsSeen: 4,
  /** App: the handler threw, rejected, or returned something that is not a reply. */
  handlerErrors: 5,
  /** App: the handler returned undefined or null (no reply). */
  noReply: 6,
  /** App: replies dropped (tx ring full, or larger than a slot). */
  replyDrops: 7,
  /** App: handlers whose promise has not settled yet. */
  pendingHandlers: 8,
  /** Coordinator: datagrams copied into the rx ring. */
  delivered: 9,
  /** Coordinator: datagrams dropped because the rx ring was full. */
  rxRingDrops: 10,
  /** Coordinator: datagrams dropped because the payload does not fit a slot. */
  rxTooBig: 11,
  /** Coordinator: datagrams dropped for a bad UDP length. */
  malformed: 12,
  /** Coordinator: datagrams dropped for a bad UDP checksum. */
  checksumErrors: 13,
  /** Coordinator: replies it built and queued on the wire. */
  sent: 14,
  /** Coordinator: replies it could not send (no route, too long, no tx frame). */
  sendErrors: 15,
} as const;
export type AppStat = (typeof AppStat)[keyof typeof AppStat];
/** Float64 slots in an app stats buffer. */
export const APP_STAT_COUNT = 16;
/** Most distinct flows an instance remembers for `flowsSeen` (a bound on its memory). */
export const APP_MAX_TRACKED_FLOWS = 1 << 20;

/** A snapshot of one instance's counters, by `AppStat` name, plus which instance it is. */
export type AppInstanceStats = Record<keyof typeof AppStat, number> & { instance: number };

/** The shared memory of one instance's channel. Post it to the app worker in its `workerData`. */
export interface AppChannelBuffers {
  /** Coordinator → app: requests. */
  rxRing: SharedArrayBuffer;
  rxSlots: SharedArrayBuffer;
  /** App → coordinator: replies. */
  txRing: SharedArrayBuffer;
  txSlots: SharedArrayBuffer;
  /** `APP_STAT_COUNT` Float64 slots. */
  stats: SharedArrayBuffer;
  /** Bytes per slot (a power of two). */
  slotBytes: number;
}

/**
 * Creates one instance's rings (`capacity` records each, a power of two), their slot areas (`capacity` ×
 * `slotBytes` each) and its stats buffer. Thread: any. Throws ERR_OUT_OF_RANGE / ERR_INVALID_ARG_VALUE.
 */
export function createAppChannel(capacity: number, slotBytes: number): AppChannelBuffers {
  validateInteger(capacity, 'ringCapacity', 2, 1 << 16);
  validateInteger(slotBytes, 'slotBytes', 256, 65536);
  if ((capacity & (capacity - 1)) !== 0) throw new NetshardError('ERR_INVALID_ARG_VALUE', `ringCapacity must be a power of two, received ${capacity}`);
  if ((slotBytes & (slotBytes - 1)) !== 0) throw new NetshardError('ERR_INVALID_ARG_VALUE', `slotBytes must be a power of two, received ${slotBytes}`);
  return {
    rxRing: createRing({ capacity, recordWords: APP_RECORD_WORDS }),
    rxSlots: new SharedArrayBuffer(capacity * slotBytes),
    txRing: createRing({ capacity, recordWords: APP_RECORD_WORDS }),
    txSlots: new SharedArrayBuffer(capacity * slotBytes),
    stats: new SharedArrayBuffer(APP_STAT_COUNT * 8),
    slotBytes,
  };
}

const STAT_NAMES = Object.keys(AppStat) as (keyof typeof AppStat)[];

/** Returns a snapshot of the counters in `stats` (an app stats buffer) for instance `instance`. Thread: any; no message. */
export function readAppStats(stats: SharedArrayBuffer, instance: number): AppInstanceStats {
  const slots = new Float64Array(stats);
  const out = { instance } as AppInstanceStats;
  for (const name of STAT_NAMES) out[name] = slots[AppStat[name]]!;
  return out;
}

/** What an app worker gets in `workerData`. */
export interface AppWorkerData {
  /** This instance's number, 0.., and how many the server started with. */
  instance: number;
  instances: number;
  /** The shared PortManager's buffer (`PortManager.attach`). */
  portsBuffer: SharedArrayBuffer;
  /** The reservation the instance makes there (LoadBalanced, the server's port and address). */
  reservation: AppReservation;
  channel: AppChannelBuffers;
  /** One Int32 word the app rings after a publish the coordinator asked to hear about (shared by every instance). */
  doorbell: SharedArrayBuffer;
  /** A `file:` URL of the handler module, or null for the echo handler. */
  handler: string | null;
}

/** The port reservation an instance holds in the shared PortManager (a `ports` Reservation, plain data). */
export interface AppReservation {
  networks: NetworkProtocolNumber[];
  transport: number;
  address: string;
  port: number;
  flags: number;
}

/** What the handler gets as its third argument. */
export interface AppHandlerContext {
  /** This instance's number, 0.. */
  readonly instance: number;
  /** Instances the server started with. */
  readonly instances: number;
  /** The server's UDP port. */
  readonly port: number;
}

/** Sender of a datagram, as node:dgram's `rinfo`. */
export interface AppRemoteInfo {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
  /** Payload bytes. */
  size: number;
}

/** What a handler may return: the reply, or nothing. */
export type AppReply = Uint8Array | string | undefined | null;

/**
 * A request handler: the default export of a `--handler` module. Returns the reply (a Buffer, any
 * Uint8Array, or a string sent as UTF-8), or undefined for none; may return a promise of one.
 */
export type AppHandler = (message: Buffer, rinfo: AppRemoteInfo, context: AppHandlerContext) => AppReply | Promise<AppReply>;

/**
 * The control API an app worker exposes over comlink (coordinator → app, never per packet). Errors come
 * back as values (`SerializedError`), since comlink would drop a NetshardError's `code`.
 */
export interface AppWorkerApi {
  /** Loads the handler and reserves the port in the shared PortManager; null when both worked. */
  open(): Promise<SerializedError | null>;
  /** Starts taking datagrams from the rx ring. */
  run(): void;
  /** Returns the instance's counters (what the SAB holds). */
  stats(): AppInstanceStats;
  /**
   * Stops: handles what the rx ring still holds, waits up to `graceMs` for pending handlers, publishes
   * their replies, releases the port reservation; returns the final counters.
   */
  close(graceMs: number): Promise<AppInstanceStats>;
}
