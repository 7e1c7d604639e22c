/**
 * bench/parse.ts — per-packet cost of the dispatch worker's parse step: `parsePacket` (every layer
 * validated) plus the engine's flow hash (`flowHashIpv4`, or `flowHashIpv6` for the IPv6 frames, in
 * their `...Int32` form: the same bits, and never a HeapNumber where V8 does not inline the call, see
 * src/tcpip/flow-hash.ts), on frames in a SharedArrayBuffer frame pool, against a baseline measured in
 * the same run: a minimal hand-written parse that reads the same fields through the same DataView with
 * no validation at all, followed by the same hash.
 *
 *   npx tsx bench/parse.ts [--quick] [--json]
 *
 * Cases: Ethernet/IPv4/UDP (60 B), Ethernet/IPv6/TCP (74 B), Ethernet/802.1Q/IPv4/UDP (64 B); each in 256
 * frames of one pool with distinct addresses and ports, visited in order. Both loops fold every output
 * field (offsets, protocols, VLAN id, fragment kind, ports, hash) into a checksum, and the bench aborts
 * unless parser and baseline agree, so both do the same work. All cases run in one process, interleaved
 * run by run, so `parsePacket` sees all three frame kinds as it would in a worker.
 * Each cell: one warm-up run, then >= 5 timed runs of `PACKETS` packets; Mpps median, min, max, ns per
 * packet at the median, and the median's ratio to the baseline's median for the same frames. The last
 * line counts the garbage collections that started inside a timed run: a per-packet allocation shows up
 * there (it must stay 0).
 */
import { cpus, release } from 'node:os';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { FramePool } from '../src/ring/index.ts';
import {
  FragmentKind,
  IPV4_PROTOCOL_NUMBER,
  IPV6_PROTOCOL_NUMBER,
  ParseReason,
  ParsedPacket,
  TCP_PROTOCOL_NUMBER,
  UDP_PROTOCOL_NUMBER,
  encodeEthernet,
  encodeIpv4,
  encodeIpv6,
  encodeTcp,
  encodeUdp,
  flowHashIpv4Int32,
  flowHashIpv6Int32,
  parsePacket,
} from '../src/tcpip/index.ts';
import { HandParsed, fold, handParse } from './lib/hand-parse.ts';

const args = new Set(process.argv.slice(2));
const quick = args.has('--quick');
const json = args.has('--json');
const RUNS = 5;
/** Packets per timed run: ~0.3 s at 15 Mpps (--quick: a few ms, enough to reach the optimising tier). */
const PACKETS = quick ? 200_000 : 5_000_000;
/** Frames per case (a power of two): distinct flows, cycled through in order. */
const FRAMES_PER_CASE = 256;
const SEED = 0x5eed1234;
const UDP_PAYLOAD = 18; // 14 + 20 + 8 + 18 = 60 B, the smallest Ethernet frame without FCS

const machine = `# bench/parse.ts  node ${process.version}  ${cpus().length} cpus  linux ${release()}  ${new Date().toISOString()}${quick ? '  (--quick)' : ''}`;

// ---------------------------------------------------------------------------------------------------------
// Frames

interface Case {
  name: string;
  offsets: Int32Array;
  ends: Int32Array;
}

const CASE_NAMES = ['eth/ipv4/udp 60 B', 'eth/ipv6/tcp 74 B', 'eth/vlan/ipv4/udp 64 B'] as const;
const pool = FramePool.create({ frameCount: FRAMES_PER_CASE * CASE_NAMES.length, frameSize: 2048 });
const view = pool.view;
const MAC_A = Uint8Array.of(0x02, 0, 0, 0, 0, 1);
const MAC_B = Uint8Array.of(0x02, 0, 0, 0, 0, 2);

/** Writes frame `i` of case `kind` at `offset` and returns its length. */
function writeFrame(kind: number, i: number, offset: number): number {
  const vlan = kind === 2;
  let at = offset + encodeEthernet(view, offset, {
    destinationAddress: MAC_B, sourceAddress: MAC_A, type: kind === 1 ? IPV6_PROTOCOL_NUMBER : IPV4_PROTOCOL_NUMBER,
    ...(vlan ? { vlanId: 100 + (i & 7) } : {}),
  });
  if (kind === 1) {
    const source = new Uint8Array(16), destination = new Uint8Array(16);
    source.set([0x20, 0x01, 0x00, 0x02], 0); source[15] = 1; source[14] = i;
    destination.set([0x20, 0x01, 0x00, 0x02], 0); destination[15] = 2;
    at += encodeIpv6(view, at, { trafficClass: 0, flowLabel: i, payloadLength: 20, nextHeader: TCP_PROTOCOL_NUMBER, hopLimit: 64, sourceAddress: source, destinationAddress: destination });
    at += encodeTcp(view, at, { sourcePort: 40000 + i, destinationPort: 443, sequenceNumber: i * 1000, ackNumber: 1, flags: 0x10, windowSize: 65535, checksum: 0, urgentPointer: 0 });
    return at - offset;
  }
  at += encodeIpv4(view, at, {
    tos: 0, totalLength: 20 + 8 + UDP_PAYLOAD, id: i, flags: 2, fragmentOffset: 0, ttl: 64, protocol: UDP_PROTOCOL_NUMBER,
    checksum: 0, sourceAddress: (198 << 24 | 18 << 16 | i) >>> 0, destinationAddress: (198 << 24 | 19 << 16 | 1) >>> 0,
  });
  at += encodeUdp(view, at, { sourcePort: 10000 + i, destinationPort: 9, length: 8 + UDP_PAYLOAD, checksum: 0 });
  return at + UDP_PAYLOAD - offset;
}

const cases: Case[] = CASE_NAMES.map((name, kind) => {
  const offsets = new Int32Array(FRAMES_PER_CASE);
  const ends = new Int32Array(FRAMES_PER_CASE);
  for (let i = 0; i < FRAMES_PER_CASE; i++) {
    const frame = pool.alloc();
    const offset = pool.offsetOf(frame);
    offsets[i] = offset;
    ends[i] = offset + writeFrame(kind, i, offset);
  }
  return { name, offsets, ends };
});

// ---------------------------------------------------------------------------------------------------------
// The two loops: identical but for the parse call; every output field goes into the checksum.


function runParsePacket(c: Case, packets: number, out: ParsedPacket): number {
  const offsets = c.offsets, ends = c.ends, mask = offsets.length - 1;
  let sum = 0;
  for (let i = 0; i < packets; i++) {
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


function runBaseline(c: Case, packets: number, out: HandParsed): number {
  const offsets = c.offsets, mask = offsets.length - 1;
  let sum = 0;
  for (let i = 0; i < packets; i++) {
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

// ---------------------------------------------------------------------------------------------------------
// Runs

const parsed = new ParsedPacket();
const hand = new HandParsed();

/** Start and end (performance.now()) of every counted run, to place garbage collections. */
const windows: number[] = [];
const gcStarts: number[] = [];
const gcObserver = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcStarts.push(e.startTime);
});
gcObserver.observe({ entryTypes: ['gc'] });

/** Times one run; returns Mpps and the checksum. */
function timeRun(impl: 'baseline' | 'parsePacket', c: Case, counted: boolean): { mpps: number; sum: number } {
  const start = performance.now();
  const sum = impl === 'baseline' ? runBaseline(c, PACKETS, hand) : runParsePacket(c, PACKETS, parsed);
  const end = performance.now();
  if (counted) windows.push(start, end);
  return { mpps: PACKETS / ((end - start) / 1000) / 1e6, sum };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const IMPLS = ['baseline', 'parsePacket'] as const;
const samples = cases.map(() => ({ baseline: [] as number[], parsePacket: [] as number[] }));
for (let run = -1; run < RUNS; run++) { // run -1 is the warm-up, not counted
  for (let k = 0; k < cases.length; k++) {
    const c = cases[k]!;
    const sums: number[] = [];
    for (const impl of IMPLS) {
      const r = timeRun(impl, c, run >= 0);
      sums.push(r.sum);
      if (run >= 0) samples[k]![impl].push(r.mpps);
    }
    if (sums[0] !== sums[1] || sums[1] === -1) {
      console.error(`${c.name}: parsePacket and the baseline disagree (checksums ${sums[0]} and ${sums[1]}); aborting`);
      process.exit(1);
    }
  }
}

await new Promise((resolve) => setTimeout(resolve, 20)); // let the observer deliver
gcObserver.disconnect();
let gcsInRuns = 0;
for (const t of gcStarts) {
  for (let w = 0; w < windows.length; w += 2) if (t >= windows[w]! && t <= windows[w + 1]!) { gcsInRuns++; break; }
}

interface Cell {
  case: string;
  impl: string;
  mpps: number[];
  median: number;
  min: number;
  max: number;
  nsPerPacket: number;
  vsBaseline: number;
}
const cells: Cell[] = [];
for (let k = 0; k < cases.length; k++) {
  const base = median(samples[k]!.baseline);
  for (const impl of IMPLS) {
    const mpps = samples[k]![impl];
    const m = median(mpps);
    cells.push({
      case: cases[k]!.name,
      impl: impl === 'baseline' ? 'hand parse (baseline)' : 'parsePacket',
      mpps,
      median: m,
      min: Math.min(...mpps),
      max: Math.max(...mpps),
      nsPerPacket: 1000 / m,
      vsBaseline: m / base,
    });
  }
}

if (json) {
  console.log(JSON.stringify({ bench: 'parse', machine: machine.slice(2), quick, runsPerCell: RUNS, packetsPerRun: PACKETS, framesPerCase: FRAMES_PER_CASE, unit: 'Mpps', gcsInRuns, cells }));
} else {
  console.log(machine);
  console.log(`${'case'.padEnd(46)}${'median'.padStart(12)}${'min'.padStart(8)}${'max'.padStart(8)}${'ns/pkt'.padStart(8)}${'vs baseline'.padStart(13)}`);
  for (const c of cells) {
    console.log(
      `${`${c.case}  ${c.impl}`.padEnd(46)}${c.median.toFixed(2).padStart(7)} Mpps${c.min.toFixed(2).padStart(8)}${c.max.toFixed(2).padStart(8)}${c.nsPerPacket.toFixed(1).padStart(8)}${(c.vsBaseline.toFixed(2) + 'x').padStart(13)}`,
    );
  }
  console.log(`garbage collections during timed runs: ${gcsInRuns}`);
}
