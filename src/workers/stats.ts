/**
 * Per-worker counters in a SharedArrayBuffer: one writer (the dispatch worker, once per batch), any number
 * of readers (the coordinator, the CLI, a test) with no message at all: `readStats(buffer)`.
 *
 * Float64 slots, not Int32 pairs: byte counts pass 2^32 within seconds at line rate, a double is exact
 * to 2^53, and an aligned 8-byte store is never seen half-written on x86-64 or arm64.
 * ```
 *  slot  0 rxPackets      packets received (parsed or not)
 *        1 rxBytes        their bytes, link header included
 *        2 txPackets      packets the kernel took: forwarded ones plus the tx ring's
 *        3 txBytes        their bytes
 *        4 forwarded      packets forwarded run-to-completion (handed to sendmmsg)
 *        5 toCoordinator  descriptors published on the rx ring
 *        6 forwardDrops   packets the forwarder dropped (ForwardVerdict.Drop)
 *        7 ringDrops      packets for the coordinator dropped: rx ring full, or it already holds half the pool
 *        8 txDrops        packets the kernel refused (EAGAIN, errors) on any send
 *        9 txRingPackets  descriptors taken from the tx ring
 *       10 batches        receive batches that delivered packets
 *       11 wakeups        sleeps ended by the eventfd (the coordinator asked)
 *       12 sleeps         sleeps in poll()
 *       13 heartbeat      loop turns: moves at least every pollTimeoutMs while the worker lives (a stuck or dead
 *                         worker stops it); 1 once the loop is built. A counter, not a clock: Date.now() and
 *                         performance.now() allocate a HeapNumber per call (measured: 23 scavenges per 3 M calls)
 *       14 startedAt      Date.now() when the loop was built (ms)
 *       15 poolEmpty      turns with no free frame to receive into
 *       16.. rxDropsByReason[PARSE_REASON_COUNT]   parse failures by `ParseReason` (index 0, Ok, stays 0)
 *       then forwardReasons[FORWARD_REASON_COUNT]  outcomes of the worker's forwarder (stack, route or bridge) by `ForwardReason`
 *                                                  (the forwarder writes them directly)
 *       then CHECKSUM_STATS:   (appended last so every slot above keeps its index)
 *          +0 rxChecksumNotReady   packets the kernel said carry a partial checksum (TP_STATUS_CSUMNOTREADY: a
 *                                  local sender's tx checksum offload); handed on as checksum-OK
 *          +1 rxChecksumValid      packets whose checksum the kernel or device verified (TP_STATUS_CSUM_VALID)
 *          +2 checksumsCompleted   NotReady packets forwarded after their UDP/TCP checksum was completed here
 * ```
 * Thread: `createStatsBuffer`/`readStats` any; the worker writes through `WorkerStat` indices.
 */
import { NetshardError } from '../errors.ts';
import { FORWARD_REASON_COUNT, ForwardReason, PARSE_REASON_COUNT, parseReasonName } from '../tcpip/index.ts';

/** First slot of the drops-by-parse-reason array. */
export const RX_DROPS_BY_REASON = 16;
/** First slot of the forward-reason array. */
export const FORWARD_REASONS = RX_DROPS_BY_REASON + PARSE_REASON_COUNT;
/** First slot of the checksum-offload counters, after the forward reasons (see the layout above). */
export const CHECKSUM_STATS = FORWARD_REASONS + FORWARD_REASON_COUNT;

/** Slot indices into the stats `Float64Array`. */
export const WorkerStat = {
  rxPackets: 0,
  rxBytes: 1,
  txPackets: 2,
  txBytes: 3,
  forwarded: 4,
  toCoordinator: 5,
  forwardDrops: 6,
  ringDrops: 7,
  txDrops: 8,
  txRingPackets: 9,
  batches: 10,
  wakeups: 11,
  sleeps: 12,
  heartbeat: 13,
  startedAt: 14,
  poolEmpty: 15,
  rxChecksumNotReady: CHECKSUM_STATS,
  rxChecksumValid: CHECKSUM_STATS + 1,
  checksumsCompleted: CHECKSUM_STATS + 2,
} as const;
export type WorkerStat = (typeof WorkerStat)[keyof typeof WorkerStat];

/** Float64 slots in a stats buffer. */
export const STATS_SLOTS = CHECKSUM_STATS + 3;

const NAMES = Object.keys(WorkerStat) as (keyof typeof WorkerStat)[];
const FORWARD_NAMES = Object.keys(ForwardReason);

/** A snapshot of one worker's counters (plain data: print it, post it, compare it). */
export type WorkerStats = Record<keyof typeof WorkerStat, number> & {
  /** Drops by `ParseReason` name, only the non-zero ones (`{ Ipv4BadIhl: 3 }`). */
  rxDropsByReason: Record<string, number>;
  /** Sum of every parse drop. */
  rxDrops: number;
  /** The worker forwarder's outcomes (stack, route or bridge) by `ForwardReason` name, only the non-zero ones (`{ Forwarded: 9, TtlExceeded: 1 }`). */
  forwardReasons: Record<string, number>;
};

/** Returns a zeroed stats buffer for one worker. Thread: any. */
export function createStatsBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(STATS_SLOTS * 8);
}

/**
 * Returns a snapshot of the counters in `buffer` (a torn read across slots is possible while the worker
 * runs; each slot is whole). Thread: any; no message, no lock. Allocates (control path).
 * Throws ERR_INVALID_ARG_TYPE unless `buffer` is a stats SharedArrayBuffer.
 */
export function readStats(buffer: SharedArrayBuffer): WorkerStats {
  if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength !== STATS_SLOTS * 8) {
    throw new NetshardError('ERR_INVALID_ARG_TYPE', `buffer must be a worker stats SharedArrayBuffer of ${STATS_SLOTS * 8} bytes`);
  }
  const slots = new Float64Array(buffer);
  const out = { rxDropsByReason: {}, rxDrops: 0, forwardReasons: {} } as unknown as WorkerStats;
  for (const name of NAMES) out[name] = slots[WorkerStat[name]]!;
  for (let reason = 1; reason < PARSE_REASON_COUNT; reason++) {
    const n = slots[RX_DROPS_BY_REASON + reason]!;
    if (n === 0) continue;
    out.rxDropsByReason[parseReasonName(reason)] = n;
    out.rxDrops += n;
  }
  for (let reason = 0; reason < FORWARD_REASON_COUNT; reason++) {
    const n = slots[FORWARD_REASONS + reason]!;
    if (n !== 0) out.forwardReasons[FORWARD_NAMES[reason] ?? `${reason}`] = n;
  }
  return out;
}
