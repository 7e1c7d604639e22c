/**
 * bench/micro/forward-alloc.ts — the dispatch worker's per-packet forwarding work allocates nothing in
 * steady state: `parsePacket`, the int32 flow hash, `StackForwarder.decide` (the stack's `forwardPacket`
 * with the destination cache) and `TxBatch.addFrame`, over 64 frames of 64 B to 8 next hops in a
 * SharedArrayBuffer (restored each round as a new receive would be; the forwarder rewrites TTL, MACs, checksum), at full rate
 * for 30 s (`--quick`: 3 s; `--seconds N`), in a worker thread of its own. It counts scavenges
 * (PerformanceObserver 'gc', minor) and samples V8's new space (where per-packet garbage lands) and RSS 10
 * times a second; after the first 10% (>= 0.5 s) flat = 0 scavenges and new-space and RSS growth under
 * `STEADY_LIMITS` per packet. No syscalls: the receive and send themselves are koffi calls into buffers
 * allocated once (src/fdbased), outside what this loop measures.
 *
 *   npx tsx bench/micro/forward-alloc.ts [--quick] [--json] [--seconds N]
 */
import { PerformanceObserver, constants, performance } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
import { once } from 'node:events';
import { TxBatch } from '../../src/fdbased/index.ts';
import { spawnWorker } from '../../src/spawn-worker.ts';
import {
  IPV4_PROTOCOL_NUMBER, ParsedPacket, UDP_PROTOCOL_NUMBER, checksumView, encodeEthernet, encodeIpv4, encodeUdp, finishChecksum, flowHashIpv4Int32,
  parseIpv4, parseLinkAddress, parsePacket,
} from '../../src/tcpip/index.ts';
import { ForwardDecision, ForwardVerdict, StackForwarder } from '../../src/workers/index.ts';
import { isMain, machineLine, parseFlags } from './common.ts';
import { STEADY_LIMITS } from './pipeline.ts';

const FRAMES = 64;
const FRAME_BYTES = 128;
const PACKET_BYTES = 60; // a 64-byte frame without its FCS
const SEED = 0x5eed;

/** What one steady run measured after warm-up. */
export interface ForwardAllocResult {
  seconds: number;
  packets: number;
  mpps: number;
  forwarded: number;
  cacheHits: number;
  /** Scavenges (minor GCs) after warm-up: what per-packet allocation would cause. */
  gcs: number;
  /** Other GCs after warm-up (incremental marking, mark-compact), reported, not judged. */
  majorGcs: number;
  newSpaceBytesPerPacket: number;
  rssBytesPerPacket: number;
  samples: number;
}

/** Bytes in use in V8's new space, where per-packet garbage would land first (old space grows with JIT code). */
function newSpaceUsed(): number {
  for (const space of getHeapSpaceStatistics()) if (space.space_name === 'new_space') return space.space_used_size;
  return 0;
}

/** Returns the least-squares slope of ys over xs (0 for fewer than 2 points). */
function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0, den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** Builds the frames: 198.18.1.1 → 198.19.1.(3..10), UDP, TTL 64, addressed to link 0's MAC. */
function buildFrames(view: DataView): void {
  const ours = new Uint8Array(6);
  const peer = new Uint8Array(6);
  parseLinkAddress('02:00:00:00:01:02', ours);
  parseLinkAddress('02:00:00:00:01:01', peer);
  for (let i = 0; i < FRAMES; i++) {
    const at = i * FRAME_BYTES;
    encodeEthernet(view, at, { destinationAddress: ours, sourceAddress: peer, type: IPV4_PROTOCOL_NUMBER });
    encodeIpv4(view, at + 14, {
      tos: 0, totalLength: PACKET_BYTES - 14, id: i, flags: 0, fragmentOffset: 0, ttl: 64, protocol: UDP_PROTOCOL_NUMBER, checksum: 0,
      sourceAddress: parseIpv4('198.18.1.1')!, destinationAddress: parseIpv4(`198.19.1.${3 + (i & 7)}`)!,
    });
    view.setUint16(at + 24, finishChecksum(checksumView(view, at + 14, 20)));
    encodeUdp(view, at + 34, { sourcePort: 32768 + i, destinationPort: 9000, length: PACKET_BYTES - 34, checksum: 0 });
  }
}

/** Runs the forwarding work for `seconds` and returns what the heap and GC counters did after warm-up. */
export async function forwardAllocRun(seconds: number): Promise<ForwardAllocResult> {
  const memory = new SharedArrayBuffer(FRAMES * FRAME_BYTES);
  const view = new DataView(memory);
  buildFrames(view);
  const template = new Int32Array(memory.slice(0));
  const words = new Int32Array(memory);
  const neighbors = [{ link: 0, address: '198.18.1.1', linkAddress: '02:00:00:00:01:01' }];
  for (let h = 3; h <= 10; h++) neighbors.push({ link: 1, address: `198.19.1.${h}`, linkAddress: `02:00:00:00:02:${h.toString(16).padStart(2, '0')}` });
  const links = [
    { ethernetHeader: true, linkAddress: '02:00:00:00:01:02', mtu: 1500 },
    { ethernetHeader: true, linkAddress: '02:00:00:00:02:02', mtu: 1500 },
  ];
  const forwarder = new StackForwarder(
    { addresses: [{ link: 0, address: '198.18.1.2/24' }, { link: 1, address: '198.19.1.2/24' }], neighbors }, links, new Float64Array(64),
  );
  const parsed = new ParsedPacket();
  const decision = new ForwardDecision();
  const batch = new TxBatch(FRAMES);

  // Per-packet garbage lands in new space and shows as scavenges (minor GCs). Major GCs are counted apart:
  // V8's memory reducer runs one on a worker's heap a second or so after start-up, whatever the loop does.
  let gcs = 0, majorGcs = 0;
  let counting = false;
  const observer = new PerformanceObserver((list) => {
    if (!counting) return;
    for (const entry of list.getEntries()) {
      if ((entry as unknown as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) gcs++;
      else majorGcs++;
    }
  });
  observer.observe({ entryTypes: ['gc'] });

  const warmMs = Math.max(500, seconds * 100);
  const start = performance.now();
  const xs: number[] = [], newSpace: number[] = [], rss: number[] = [];
  let packets = 0, forwarded = 0, packetsAtWarm = 0, nextSample = start + warmMs;
  for (;;) {
    for (let round = 0; round < 500; round++) {
      for (let w = 0; w < words.length; w++) words[w] = template[w]!; // the next "receive"
      for (let i = 0; i < FRAMES; i++) {
        const at = i * FRAME_BYTES;
        if (parsePacket(view, at, at + PACKET_BYTES, true, parsed) !== 0) continue;
        const hash = flowHashIpv4Int32(view, parsed.networkOffset, parsed.transportProtocol, parsed.transportOffset, SEED);
        if (forwarder.decide(view, 0, parsed, 0, decision) === ForwardVerdict.Forward) {
          batch.addFrame(hash, 0, decision.start, decision.end - decision.start);
          forwarded++;
        }
      }
      batch.clear();
      packets += FRAMES;
    }
    const now = performance.now();
    if (now >= nextSample) {
      if (!counting) {
        counting = true;
        packetsAtWarm = packets;
      }
      xs.push((now - start) / 1000);
      newSpace.push(newSpaceUsed());
      rss.push(process.memoryUsage.rss());
      nextSample = now + 100;
      await new Promise<void>((resolve) => setImmediate(resolve)); // let the GC observer report
    }
    if (now - start >= seconds * 1000) break;
  }
  observer.disconnect();
  const measured = packets - packetsAtWarm;
  const elapsed = xs.length > 0 ? xs[xs.length - 1]! - xs[0]! : 0;
  const pps = elapsed > 0 ? measured / elapsed : 0;
  return {
    seconds,
    packets: measured,
    mpps: pps / 1e6,
    forwarded,
    cacheHits: forwarder.cache.hits,
    gcs,
    majorGcs,
    newSpaceBytesPerPacket: pps > 0 ? slope(xs, newSpace) / pps : 0,
    rssBytesPerPacket: pps > 0 ? slope(xs, rss) / pps : 0,
    samples: xs.length,
  };
}

/**
 * Runs `forwardAllocRun` in a worker thread of its own, so its heap holds nothing but this loop (on a
 * main thread that did other work first, that work's garbage may be collected during the run).
 */
export async function forwardAllocInWorker(seconds: number): Promise<ForwardAllocResult> {
  const worker = spawnWorker(new URL('./forward-alloc-worker.ts', import.meta.url), { workerData: { seconds } });
  const [result] = (await once(worker, 'message')) as [ForwardAllocResult];
  await worker.terminate();
  return result;
}

/** Returns the reasons `r` is not flat, or [] when it passes `STEADY_LIMITS`. */
export function forwardAllocProblems(r: ForwardAllocResult): string[] {
  const problems: string[] = [];
  if (r.gcs > STEADY_LIMITS.gcs) problems.push(`${r.gcs} scavenges after warm-up`);
  if (r.newSpaceBytesPerPacket >= STEADY_LIMITS.newSpaceBytesPerPacket) problems.push(`new space grows ${r.newSpaceBytesPerPacket.toExponential(1)} B/packet`);
  if (r.rssBytesPerPacket >= STEADY_LIMITS.rssBytesPerPacket) problems.push(`RSS grows ${r.rssBytesPerPacket.toExponential(1)} B/packet`);
  if (r.forwarded === 0) problems.push('nothing was forwarded');
  if (r.samples < 5) problems.push(`only ${r.samples} samples`);
  return problems;
}

if (isMain(import.meta.url)) {
  const argv = process.argv.slice(2);
  const { quick, json } = parseFlags(argv);
  const at = argv.indexOf('--seconds');
  const seconds = at >= 0 ? Number(argv[at + 1]) : quick ? 3 : 30;
  if (!(seconds > 0 && seconds <= 100)) throw new Error('--seconds must be in (0, 100]');
  const r = await forwardAllocInWorker(seconds);
  const problems = forwardAllocProblems(r);
  if (json) {
    console.log(JSON.stringify({ bench: 'micro/forward-alloc', machine: machineLine('bench/micro/forward-alloc.ts', quick).slice(2), quick, result: r, problems }));
  } else {
    console.log(machineLine('bench/micro/forward-alloc.ts', quick));
    console.log(`forward path (parse + hash + decide + addFrame), ${r.seconds} s: ${(r.packets / 1e6).toFixed(1)} M packets after warm-up at ${r.mpps.toFixed(2)} Mpps, ` +
      `cache hits ${r.cacheHits}; scavenges ${r.gcs} (other GCs ${r.majorGcs}); new space ${r.newSpaceBytesPerPacket.toExponential(1)} B/packet; RSS ${r.rssBytesPerPacket.toExponential(1)} B/packet`);
    console.log(problems.length === 0 ? 'forward path: flat (pass)' : `forward path: NOT flat: ${problems.join('; ')}`);
  }
  if (problems.length > 0) process.exitCode = 1;
}
