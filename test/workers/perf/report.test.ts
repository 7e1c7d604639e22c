/**
 * The bench's results, from measured runs to text: medians, the matrix's cases and points, a cell's
 * summary (CPU per million packets, loss), ratios to both baselines at the same point, the table and
 * progress bar, and the plots' files.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  RESULT_COLUMNS, addRatios, benchCases, benchPlots, formatTable, median, progressBar, resultTable, summarizeCell, trafficPoints,
  type BenchCell, type ForwarderCase, type RunSample, type TrafficPoint,
} from '../../../src/workers/index.ts';

const Report = suite('workers/perf/report');

Report('median: odd, even, unsorted, empty', () => {
  assert.is(median([3, 1, 2]), 2);
  assert.is(median([4, 1, 3, 2]), 2.5);
  assert.is(median([5]), 5);
  assert.ok(Number.isNaN(median([])));
});

Report('benchCases: the kernel once, then C and netshard per mode and worker count', () => {
  assert.equal(benchCases({ modes: ['readv', 'mmap'], workers: [1, 2] }).map((c) => c.label), [
    'kernel', 'C readv 1t', 'netshard readv 1w', 'C readv 2t', 'netshard readv 2w', 'C mmap 1t', 'netshard mmap 1w', 'C mmap 2t', 'netshard mmap 2w',
  ]);
});

Report('trafficPoints: sizes x flows, payload = frame - 46 (RFC 2544 framing)', () => {
  assert.equal(trafficPoints({ sizes: [64, 1518], flows: [1, 64] }), [
    { frameBytes: 64, payloadBytes: 18, flows: 1 },
    { frameBytes: 64, payloadBytes: 18, flows: 64 },
    { frameBytes: 1518, payloadBytes: 1472, flows: 1 },
    { frameBytes: 1518, payloadBytes: 1472, flows: 64 },
  ]);
});

const POINT: TrafficPoint = { frameBytes: 64, payloadBytes: 18, flows: 64 };
const NO_LATENCY = { count: 0, p50: 0, p99: 0, p999: 0, max: 0, mean: 0 };

function run(i: number, sinkPps: number, received: number, cpuSeconds: number, busy: { coordinator?: number; worker?: number } = {}): RunSample {
  return {
    run: i, sent: received * 2, generatorSeconds: 1, generatorPps: received * 2, received, sinkSeconds: received / sinkPps, sinkPps,
    loss: 0.5, cpuSeconds, softirqSeconds: cpuSeconds / 2, sinkOverflows: 0, latencySamples: 0,
    windowSeconds: 1.2, coordinatorBusy: busy.coordinator ?? null, workerBusy: busy.worker ?? null, threads: [],
  };
}

function cell(forwarder: ForwarderCase, sinkPps: number, busy: { coordinator?: number; worker?: number } = {}): BenchCell {
  return summarizeCell(POINT, forwarder, [run(0, sinkPps, sinkPps, 1, busy)], NO_LATENCY, []);
}

Report('summarizeCell: medians over runs, CPU seconds per million delivered packets', () => {
  const c = summarizeCell(POINT, { kind: 'c', mode: 'recvmmsg', workers: 1, label: 'C recvmmsg 1t' }, [
    run(0, 100_000, 100_000, 0.5), // 5 s/Mpkt
    run(1, 300_000, 300_000, 0.6), // 2 s/Mpkt
    run(2, 200_000, 200_000, 0.6), // 3 s/Mpkt
  ], NO_LATENCY, []);
  assert.is(c.sinkPps, 200_000);
  assert.is(c.sinkPpsMin, 100_000);
  assert.is(c.sinkPpsMax, 300_000);
  assert.ok(Math.abs(c.cpuSecondsPerMpkt! - 3) < 1e-9, String(c.cpuSecondsPerMpkt));
  assert.ok(Math.abs(c.softirqSecondsPerMpkt! - 1.5) < 1e-9, String(c.softirqSecondsPerMpkt));
  assert.is(c.loss, 0.5);
  assert.equal([c.vsKernel, c.vsC], [null, null]);
});

Report('summarizeCell: coordinator and worker busy fractions are medians over the runs that have them', () => {
  const netshard: ForwarderCase = { kind: 'netshard', mode: 'mmap', workers: 2, label: 'netshard mmap 2w' };
  const c = summarizeCell(POINT, netshard, [
    run(0, 1000, 1000, 1, { coordinator: 0.1, worker: 0.9 }),
    run(1, 1000, 1000, 1, { coordinator: 0.3, worker: 0.5 }),
    run(2, 1000, 1000, 1, { coordinator: 0.2, worker: 0.7 }),
  ], NO_LATENCY, []);
  assert.equal([c.coordinatorBusy, c.workerBusy], [0.2, 0.7]);
  const kernel = summarizeCell(POINT, { kind: 'kernel', mode: null, workers: null, label: 'kernel' }, [run(0, 1000, 1000, 1)], NO_LATENCY, []);
  assert.equal([kernel.coordinatorBusy, kernel.workerBusy], [null, null]);
  const native = summarizeCell(POINT, { kind: 'c', mode: 'mmap', workers: 2, label: 'C mmap 2t' }, [run(0, 1000, 1000, 1, { worker: 0.98 })], NO_LATENCY, []);
  assert.equal([native.coordinatorBusy, native.workerBusy], [null, 0.98]);
});

Report('summarizeCell: nothing delivered gives no CPU per packet', () => {
  const c = summarizeCell(POINT, { kind: 'kernel', mode: null, workers: null, label: 'kernel' }, [run(0, 1, 0, 1)], NO_LATENCY, []);
  assert.is(c.cpuSecondsPerMpkt, null);
});

Report('addRatios: netshard against the kernel and the C forwarder of the same mode and workers', () => {
  const cells = [
    cell({ kind: 'kernel', mode: null, workers: null, label: 'kernel' }, 200_000),
    cell({ kind: 'c', mode: 'recvmmsg', workers: 1, label: 'C recvmmsg 1t' }, 100_000),
    cell({ kind: 'c', mode: 'recvmmsg', workers: 2, label: 'C recvmmsg 2t' }, 400_000),
    cell({ kind: 'netshard', mode: 'recvmmsg', workers: 1, label: 'netshard recvmmsg 1w' }, 50_000),
    cell({ kind: 'netshard', mode: 'recvmmsg', workers: 2, label: 'netshard recvmmsg 2w' }, 100_000),
    cell({ kind: 'netshard', mode: 'mmap', workers: 1, label: 'netshard mmap 1w' }, 100_000), // no C mmap cell
  ];
  addRatios(cells);
  assert.equal(cells.map((c) => [c.vsKernel, c.vsC]), [[null, null], [0.5, null], [2, null], [0.25, 0.5], [0.5, 0.25], [0.5, null]]);
});

Report('resultTable: header and one aligned line per cell', () => {
  const cells = [cell({ kind: 'kernel', mode: null, workers: null, label: 'kernel' }, 200_000), cell({ kind: 'netshard', mode: 'readv', workers: 1, label: 'netshard readv 1w' }, 50_000)];
  addRatios(cells);
  const lines = resultTable(cells);
  assert.is(lines.length, 3);
  assert.match(lines[0]!, /^frame  flows  forwarder +gen Mpps  sink Mpps/);
  assert.match(lines[1]!, /^ 64 B     64  kernel +0\.400 +0\.200 /);
  assert.match(lines[2]!, /0\.050 .* 0\.25x +-$/);
  assert.is(lines[1]!.indexOf('0.200') + 5, lines[0]!.indexOf('sink Mpps') + 9, 'numbers right-aligned under their header');
});

Report('resultTable: coord % and worker % after CPU s/Mpkt, the existing columns kept', () => {
  assert.equal([...RESULT_COLUMNS], [
    'frame', 'flows', 'forwarder', 'gen Mpps', 'sink Mpps', 'min', 'max', 'loss', 'CPU s/Mpkt', 'coord %', 'worker %', 'p50 us', 'p99 us', 'p99.9 us', 'vs kernel', 'vs C',
  ]);
  const cells = [
    cell({ kind: 'kernel', mode: null, workers: null, label: 'kernel' }, 200_000),
    cell({ kind: 'c', mode: 'recvmmsg', workers: 2, label: 'C recvmmsg 2t' }, 300_000, { worker: 0.995 }),
    cell({ kind: 'netshard', mode: 'recvmmsg', workers: 2, label: 'netshard recvmmsg 2w' }, 150_000, { coordinator: 0.123, worker: 0.4567 }),
  ];
  addRatios(cells);
  const lines = resultTable(cells);
  const header = lines[0]!;
  // A right-aligned cell ends where its header ends.
  const under = (line: string, column: string): string => {
    const end = header.indexOf(column) + column.length;
    return line.slice(0, end).split(/\s+/).pop()!;
  };
  assert.equal(lines.slice(1).map((l) => [under(l, 'coord %'), under(l, 'worker %')]), [['-', '-'], ['-', '99.5%'], ['12.3%', '45.7%']]);
  assert.equal(lines.slice(1).map((l) => under(l, 'CPU s/Mpkt')), ['5', '3.33', '6.67'], 'CPU s/Mpkt still there, unchanged');
  assert.equal(lines.slice(1).map((l) => under(l, 'vs C')), ['-', '-', '0.50x']);
});

Report('formatTable: widths, alignment, short rows padded', () => {
  assert.equal(formatTable(['a', 'bb', 'c'], [['xxx', '1'], ['y', '22', 'z']]), ['a    bb  c', 'xxx   1', 'y    22  z']);
  assert.equal(formatTable(['n', 'v'], [['1', '2']], ['right', 'left']), ['n  v', '1  2']);
});

Report('progressBar: clamped, proportional', () => {
  assert.is(progressBar(0, 4, 8), '[........] 0/4');
  assert.is(progressBar(1, 4, 8), '[##......] 1/4');
  assert.is(progressBar(9, 4, 8), '[########] 4/4');
  assert.is(progressBar(0, 0, 4), '[....] 0/0');
});

Report('benchPlots: one pps plot per mode and point, one latency CDF per point', () => {
  const o = { modes: ['recvmmsg', 'mmap'] as ('recvmmsg' | 'mmap')[], workers: [1], sizes: [64], flows: [1, 64] };
  const cells = trafficPoints(o).flatMap((p) => benchCases(o).map((c) => summarizeCell(p, c, [run(0, 1000, 1000, 1)], NO_LATENCY, [])));
  assert.equal(benchPlots(cells, o).map((p) => p.file), [
    'pps-recvmmsg-64B-1flow.svg', 'pps-mmap-64B-1flow.svg', 'latency-64B-1flow.svg',
    'pps-recvmmsg-64B-64flows.svg', 'pps-mmap-64B-64flows.svg', 'latency-64B-64flows.svg',
  ]);
});

Report.run();
