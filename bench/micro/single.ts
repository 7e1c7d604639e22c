/**
 * bench/micro/single.ts — single-thread micro cases, each a ratio to a simple reference loop timed in
 * the same process, runs interleaved with it (reference, case, reference, case…), medians of >= 5:
 *
 *   npx tsx bench/micro/single.ts [--quick] [--json]
 *
 * - parse: `parsePacket` (every layer validated) + the int32 flow hash vs a hand parse that reads the
 *   same fields with no validation + the same hash (bench/parse.ts's baseline); frames of three kinds in
 *   turn from a frame pool; the two must fold the same checksum or the bench stops.
 * - flow hash: `flowHashIpv4Int32` vs a trivial XOR of the same four words (addresses, ports, protocol).
 * - checksum: `checksumView` (RFC 1071 through the pool's DataView) and `checksum` (over the Uint8Array)
 *   on 64-byte and 1500-byte spans vs a plain byte-sum loop over the same bytes.
 * Rates are per CPU second of the process (see `cpuMs` in common.ts): time the box gave to others does not count.
 * - pipeline1: the in-memory pipeline's work (both sides, see pipeline.ts) in turn on one thread, vs the
 *   same with bare records: the per-packet CPU cost without the scheduler (its Mpps bounds the 2-thread rate).
 * - ports: `PortManager` reserve+release pairs vs a `Map` refcount keyed by a string (bench/ports-reserve.ts's baseline).
 * Every loop computes a checksum of its results (returned, so V8 keeps the work); none allocates but the
 * Map reference (strings per pair, which is the point of comparing with it).
 */
import { PortManager } from '../../src/ports/index.ts';
import {
  CompletionReceiver,
  CompletionSender,
  DESCRIPTOR_WORDS,
  DESC_FRAME,
  DESC_HASH,
  FramePool,
  attachConsumer,
  attachProducer,
  createCompletionRing,
  createRing,
} from '../../src/ring/index.ts';
import {
  ETHERNET_MINIMUM_SIZE,
  FragmentKind,
  IPV4_PROTOCOL_NUMBER,
  ParseReason,
  ParsedPacket,
  checksum,
  checksumView,
  flowHashIpv4Int32,
  flowHashIpv6Int32,
  parsePacket,
} from '../../src/tcpip/index.ts';
import { KEYS, reservationsFor, runPairs } from '../ports-reserve-shared.ts';
import { HandParsed, fold, handParse } from '../lib/hand-parse.ts';
import { fillPool } from './frames.ts';
import { BATCH, describeBare, describeFrame, foldDescriptor } from './stage.ts';
import { cpuMs, isMain, machineLine, makeRow, parseFlags, printRows, timePair, type Loop, type Row } from './common.ts';

const SEED = 0x5eed1234;
/** Frames cycled through (a power of two): distinct flows, three kinds in turn. */
const FRAMES = 256;

const pool = FramePool.create({ frameCount: FRAMES, frameSize: 2048 });
const view = pool.view;
const bytes = pool.bytes;
const mixLengths = fillPool(pool, true);
const offsets = new Int32Array(FRAMES);
const ends = new Int32Array(FRAMES);
for (let f = 0; f < FRAMES; f++) {
  offsets[f] = pool.offsetOf(f);
  ends[f] = offsets[f]! + mixLengths[f]!;
}

// ---- parse -----------------------------------------------------------------------------------------


const parsed = new ParsedPacket();
function parseLoop(n: number): number {
  const out = parsed, mask = FRAMES - 1;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const j = i & mask;
    if (parsePacket(view, offsets[j]!, ends[j]!, true, out) !== ParseReason.Ok) return -1;
    const l4 = out.fragment === FragmentKind.None ? out.transportOffset : -1;
    const hash = out.networkProtocol === IPV4_PROTOCOL_NUMBER
      ? flowHashIpv4Int32(view, out.networkOffset, out.transportProtocol, l4, SEED)
      : flowHashIpv6Int32(view, out.networkOffset, out.transportProtocol, l4, SEED);
    sum = fold(sum, out.vlanId, out.networkOffset + (out.networkProtocol << 8), out.end, out.transportOffset,
      out.transportProtocol + (out.fragment << 8), out.payloadOffset, (out.sourcePort << 16) | out.destinationPort, hash);
  }
  return sum;
}


const hand = new HandParsed();
function handParseLoop(n: number): number {
  const out = hand, mask = FRAMES - 1;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    handParse(view, offsets[i & mask]!, out);
    const l4 = out.fragment === FragmentKind.None ? out.transportOffset : -1;
    const hash = out.networkProtocol === IPV4_PROTOCOL_NUMBER
      ? flowHashIpv4Int32(view, out.networkOffset, out.transportProtocol, l4, SEED)
      : flowHashIpv6Int32(view, out.networkOffset, out.transportProtocol, l4, SEED);
    sum = fold(sum, out.vlanId, out.networkOffset + (out.networkProtocol << 8), out.end, out.transportOffset,
      out.transportProtocol + (out.fragment << 8), out.payloadOffset, (out.sourcePort << 16) | out.destinationPort, hash);
  }
  return sum;
}

// ---- flow hash (IPv4/UDP frames: every third frame of the pool, at 14 + 20) -----------------------------

const V4_FRAMES = 64; // frames 0, 3, 6, … are IPv4/UDP without VLAN
const v4Ip = new Int32Array(V4_FRAMES);
for (let i = 0; i < V4_FRAMES; i++) v4Ip[i] = pool.offsetOf(i * 3) + ETHERNET_MINIMUM_SIZE;

function flowHashLoop(n: number): number {
  const mask = V4_FRAMES - 1;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const ip = v4Ip[i & mask]!;
    sum = (sum + flowHashIpv4Int32(view, ip, 17, ip + 20, SEED)) | 0;
  }
  return sum;
}

/** The hash reference: XOR of the words the flow hash mixes. */
function xorHashLoop(n: number): number {
  const mask = V4_FRAMES - 1;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const ip = v4Ip[i & mask]!;
    const h = SEED ^ view.getInt32(ip + 12) ^ view.getInt32(ip + 16) ^ view.getInt32(ip + 20) ^ 17;
    sum = (sum + h) | 0;
  }
  return sum;
}

// ---- checksum over spans of 64 and 1500 bytes, one per frame -------------------------------------

function checksumViewLoop(length: number): Loop {
  return (n) => {
    const mask = FRAMES - 1;
    let sum = 0;
    for (let i = 0; i < n; i++) sum = (sum + checksumView(view, offsets[i & mask]!, length)) | 0;
    return sum;
  };
}
function checksumBytesLoop(length: number): Loop {
  return (n) => {
    const mask = FRAMES - 1;
    let sum = 0;
    for (let i = 0; i < n; i++) sum = (sum + checksum(bytes, offsets[i & mask]!, length)) | 0;
    return sum;
  };
}
/** The checksum reference: a plain sum of the bytes, no words, no folding. */
function byteSumLoop(length: number): Loop {
  return (n) => {
    const mask = FRAMES - 1;
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const start = offsets[i & mask]!, end = start + length;
      let s = 0;
      for (let j = start; j < end; j++) s += bytes[j]!;
      sum = (sum + s) | 0;
    }
    return sum;
  };
}

// ---- ports ---------------------------------------------------------------------------------------

const reservations = reservationsFor(0);
const ports = PortManager.create();
function portLoop(n: number): number {
  runPairs(ports, reservations, n);
  return ports.entryCount();
}
const map = new Map<string, number>();
/** The ports reference: a Map refcount keyed by the reservation's fields as a string, one thread, no rules. */
function mapLoop(n: number): number {
  for (let i = 0; i < n; i++) {
    const r = reservations[i % KEYS]!;
    const key = `${r.networks[0]}|${r.transport}|${r.address}|${r.port}|${r.flags}`;
    map.set(key, (map.get(key) ?? 0) + 1);
    const c = map.get(key)! - 1;
    if (c === 0) map.delete(key);
    else map.set(key, c);
  }
  return map.size;
}

// ---- the pipeline's work on one core -------------------------------------------------------------
// The two sides of bench/micro/pipeline.ts run in turn on this thread, batch by batch: producer
// (reclaim, reserve, alloc, describe, publish) then consumer (peek, fold, complete, release, flush).
// Per CPU second, this is the pipeline's whole work per packet without the scheduler or the cache-line
// ping-pong between cores; two threads can at best split it, so 1e3 / (ns per packet / 2) is an upper
// bound on the two-thread rate. Reference: the same with bare descriptors (no parse, no hash).

const pipePool = FramePool.create({ frameCount: 4096, poolId: 1 });
const pipeLengths = fillPool(pipePool, true);
const pipeRing = createRing({ capacity: 1024, recordWords: DESCRIPTOR_WORDS });
const pipeCompletion = createCompletionRing(pipePool);
const pipeProducer = attachProducer(pipeRing);
const pipeConsumer = attachConsumer(pipeRing);
const pipeHome = CompletionReceiver.attach(pipeCompletion, pipePool);
const pipeSender = CompletionSender.attach(pipeCompletion);
const pipeFrames = new Int32Array(BATCH);

/** Consumes one batch: what the pipeline's consumer thread does. Returns the XOR of the hash words. */
function consumeBatch(): number {
  const c = pipeConsumer, records = c.records;
  const n = c.peek(BATCH);
  let xor = 0, sum = 0;
  for (let i = 0; i < n; i++) {
    const at = c.slot(i);
    xor ^= records[at + DESC_HASH]!;
    sum = foldDescriptor(sum, records, at);
    pipeSender.add(records[at + DESC_FRAME]!);
  }
  c.release(n);
  pipeSender.flush();
  return xor ^ (sum & 1);
}

function pipelineSerialLoop(n: number): number {
  const p = pipeProducer, fp = pipePool, records = p.records, view = fp.view, frames = pipeFrames;
  let xor = 0;
  for (let done = 0; done < n; done += BATCH) {
    pipeHome.reclaim();
    let k = p.reserve(BATCH);
    if (k > 0) k = fp.allocBatch(frames, k);
    let m = 0;
    for (let i = 0; i < k; i++) {
      const frame = frames[i]!;
      if (describeFrame(view, frame, 1, fp.offsetOf(frame), pipeLengths[frame]!, SEED, parsed, records, p.slot(m)) !== 0) m++;
      else fp.free(frame);
    }
    p.publish(m);
    xor ^= consumeBatch();
  }
  return xor;
}

function pipelineSerialBareLoop(n: number): number {
  const p = pipeProducer, fp = pipePool, records = p.records, frames = pipeFrames;
  let xor = 0;
  for (let done = 0; done < n; done += BATCH) {
    pipeHome.reclaim();
    let k = p.reserve(BATCH);
    if (k > 0) k = fp.allocBatch(frames, k);
    for (let i = 0; i < k; i++) {
      const frame = frames[i]!;
      describeBare(frame, 1, pipeLengths[frame]!, records, p.slot(i));
    }
    p.publish(k);
    xor ^= consumeBatch();
  }
  return xor;
}

// ---- the cases ------------------------------------------------------------------------------------

interface SingleCase {
  key: string;
  name: string;
  reference: string;
  unit: string;
  loop: Loop;
  referenceLoop: Loop;
  /** The case and its reference compute the same checksum. */
  same?: boolean;
}

/** Every single-thread case, in print order. */
export const SINGLE_CASES: readonly SingleCase[] = [
  { key: 'parse', name: 'parsePacket + flow hash (3 kinds)', reference: 'hand parse + same hash', unit: 'Mpps', loop: parseLoop, referenceLoop: handParseLoop, same: true },
  { key: 'flowHash', name: 'flowHashIpv4Int32', reference: 'XOR of the same 4 words', unit: 'M/s', loop: flowHashLoop, referenceLoop: xorHashLoop },
  { key: 'checksumView64', name: 'checksumView 64 B', reference: 'byte-sum loop, 64 B', unit: 'M/s', loop: checksumViewLoop(64), referenceLoop: byteSumLoop(64) },
  { key: 'checksumView1500', name: 'checksumView 1500 B', reference: 'byte-sum loop, 1500 B', unit: 'M/s', loop: checksumViewLoop(1500), referenceLoop: byteSumLoop(1500) },
  { key: 'checksum64', name: 'checksum (Uint8Array) 64 B', reference: 'byte-sum loop, 64 B', unit: 'M/s', loop: checksumBytesLoop(64), referenceLoop: byteSumLoop(64) },
  { key: 'checksum1500', name: 'checksum (Uint8Array) 1500 B', reference: 'byte-sum loop, 1500 B', unit: 'M/s', loop: checksumBytesLoop(1500), referenceLoop: byteSumLoop(1500) },
  { key: 'pipeline1', name: 'pipeline work on 1 core (both sides)', reference: 'same with bare records', unit: 'Mpps', loop: pipelineSerialLoop, referenceLoop: pipelineSerialBareLoop },
  { key: 'ports', name: 'PortManager reserve+release', reference: 'Map refcount, string key', unit: 'M pairs/s', loop: portLoop, referenceLoop: mapLoop },
];

/** Returns how many units of `loop` take about `ms` (after two short calibration calls, which also warm it up). */
function calibrate(loop: Loop, ms: number): number {
  let n = 1000;
  for (let k = 0; k < 2; k++) {
    const t0 = cpuMs();
    loop(n);
    const took = Math.max(cpuMs() - t0, 0.01);
    n = Math.max(1000, Math.round((n * ms) / took));
  }
  return n;
}

/** Runs every single-thread case (`runs` timed pairs of about `ms` each) and returns their rows. */
export function singleCases(runs: number, ms: number, only?: readonly string[]): Row[] {
  const rows: Row[] = [];
  for (const c of SINGLE_CASES) {
    if (only && !only.includes(c.key)) continue;
    const n = calibrate(c.referenceLoop, ms);
    calibrate(c.loop, ms);
    const got = timePair(c.referenceLoop, c.loop, n, runs, c.same ? (a, b) => {
      if (a !== b || b === -1) throw new Error(`${c.name}: case and reference disagree (checksums ${b} and ${a})`);
    } : undefined);
    rows.push(makeRow(c.key, c.name, c.reference, c.unit, got.runs, got.referenceRuns));
  }
  if (ports.entryCount() !== 0 || map.size !== 0) throw new Error('ports case left reservations behind');
  pipeHome.reclaim();
  if (pipePool.available !== pipePool.frameCount || pipePool.doubleFrees !== 0) throw new Error('pipeline case lost frames');
  return rows;
}

if (isMain(import.meta.url)) {
  const { quick, json } = parseFlags(process.argv.slice(2));
  const rows = singleCases(5, quick ? 20 : 200);
  if (json) console.log(JSON.stringify({ bench: 'micro/single', machine: machineLine('bench/micro/single.ts', quick).slice(2), quick, rows }));
  else {
    console.log(machineLine('bench/micro/single.ts', quick));
    printRows(rows);
  }
}
