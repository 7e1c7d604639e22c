/**
 * `runBench` end to end, as root: a tiny matrix (recvmmsg, 1 worker, 64-byte frames, 64 flows, 1 run of
 * 0.5 s) on its own namespaces; results.json has every cell with its fields, the plots are written, and
 * every namespace the bench made is gone afterwards. An aborted bench removes everything too.
 * Without root: skipped with the reason printed.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetshardError } from '../../../src/errors.ts';
import { labUnavailableReason, listNetns, runBench, type BenchResults } from '../../../src/workers/index.ts';

const Bench = suite('workers/perf/bench');
const unavailable = labUnavailableReason();

const ours = (): string[] => listNetns().filter((ns) => /^ns-b(gen|fwd|sink)-/.test(ns) && ns.endsWith(`-${process.pid}`));

if (unavailable !== '') {
  console.log(`workers/perf/bench: skipped, ${unavailable}`);
} else {
  Bench('tiny matrix: results.json shape, plots written, namespaces gone', async () => {
    const out = mkdtempSync(join(tmpdir(), 'netshard-bench-test-'));
    const lines: string[] = [];
    try {
      const results = await runBench(
        { modes: ['recvmmsg'], workers: [1], sizes: [64], flows: [64], runs: 1, seconds: 0.5, out },
        { log: (line) => void lines.push(line) },
      );
      assert.equal(ours(), [], 'no namespace left');
      assert.match(lines[0]!, /^# netshard bench  node v\d+/);
      const saved = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as BenchResults;
      assert.equal(saved.cells.length, 3);
      assert.equal(saved.cells.map((c) => c.forwarder.label), ['kernel', 'C recvmmsg 1t', 'netshard recvmmsg 1w']);
      assert.equal(saved.files, results.files);
      for (const file of saved.files) assert.ok(existsSync(file), `${file} written`);
      assert.equal(saved.files.map((f) => f.slice(out.length + 1)), ['results.json', 'pps-recvmmsg-64B-64flows.svg', 'latency-64B-64flows.svg']);
      for (const c of saved.cells) {
        const what = c.forwarder.label;
        assert.is(c.runs.length, 1, what);
        const r = c.runs[0]!;
        assert.ok(r.sent > 0 && r.generatorPps > 0, `${what}: the generator sent`);
        assert.ok(r.received > 0 && r.sinkPps > 0, `${what}: the sink received (${r.received})`);
        assert.ok(r.received <= r.sent, `${what}: no more received than sent`);
        assert.ok(c.loss >= 0 && c.loss <= 1, `${what}: loss ${c.loss}`);
        assert.ok(r.cpuSeconds >= 0 && c.cpuSecondsPerMpkt !== null, `${what}: CPU time read`);
        assert.ok(c.latency.count > 0 && c.latency.p50 > 0 && c.latency.p50 <= c.latency.p99 && c.latency.p99 <= c.latency.p999, `${what}: latency ${JSON.stringify(c.latency)}`);
        assert.ok(c.latencyCdf.length > 0, `${what}: a CDF`);
        assert.ok(r.windowSeconds >= 0.5, `${what}: the CPU window covers the generator's run (${r.windowSeconds} s)`);
        if (c.forwarder.kind === 'kernel') {
          assert.equal([r.coordinatorBusy, r.workerBusy, r.threads], [null, null, []], what);
        } else {
          // The forwarder forwarded, so some thread of it other than main was charged CPU; one core at most
          // per thread, plus a tick of rounding.
          assert.ok(r.workerBusy !== null && r.workerBusy > 0 && r.workerBusy <= 1 + 0.01 / r.windowSeconds, `${what}: worker ${r.workerBusy}`);
          assert.is(c.workerBusy, r.workerBusy, `${what}: one run, its own median`);
          assert.ok(r.threads.length >= 2 && r.threads.some((x) => x.busy === r.workerBusy), `${what}: threads ${JSON.stringify(r.threads)}`);
        }
        if (c.forwarder.kind === 'netshard') {
          assert.ok(r.coordinatorBusy !== null && r.coordinatorBusy >= 0 && r.coordinatorBusy <= 1 + 0.01 / r.windowSeconds, `${what}: coord ${r.coordinatorBusy}`);
          assert.is(r.threads[0]!.busy, r.coordinatorBusy, `${what}: the main thread is listed first`);
        } else {
          assert.is(c.coordinatorBusy, null, `${what}: only netshard has a coordinator`);
        }
      }
      const header = lines.findIndex((l) => /^ *frame +flows +forwarder/.test(l));
      assert.ok(header > 0 && / coord % +worker % /.test(lines[header]!), 'the table has the coord % and worker % columns');
      assert.match(lines[header + 3]!, /netshard recvmmsg 1w .* \d+\.\d% +\d+\.\d% /);
      const [kernel, native, engine] = saved.cells as [BenchResults['cells'][number], BenchResults['cells'][number], BenchResults['cells'][number]];
      assert.is(kernel.vsKernel, null);
      assert.ok(Math.abs(native.vsKernel! - native.sinkPps / kernel.sinkPps) < 1e-9);
      assert.ok(Math.abs(engine.vsC! - engine.sinkPps / native.sinkPps) < 1e-9);
      assert.equal(saved.forwarderReports.map((f) => f.forwarder).sort(), ['C recvmmsg 1t', 'netshard recvmmsg 1w']);
      const engineReport = saved.forwarderReports.find((f) => f.forwarder.startsWith('netshard'))!.report;
      assert.is(engineReport['command'], 'forward', 'the real `netshard forward --json` ran');
    } finally {
      rmSync(out, { recursive: true, force: true });
      assert.equal(ours(), []);
    }
  });

  Bench('aborted before it starts: ERR_NETSHARD_ABORTED, nothing left', async () => {
    const controller = new AbortController();
    controller.abort();
    const out = join(tmpdir(), `netshard-bench-aborted-${process.pid}`);
    try {
      await runBench({ modes: ['readv'], workers: [1], sizes: [64], flows: [1], runs: 1, seconds: 0.5, out }, { signal: controller.signal });
      assert.unreachable('an aborted bench must reject');
    } catch (err) {
      assert.instance(err, NetshardError);
      assert.is((err as NetshardError).code, 'ERR_NETSHARD_ABORTED');
    }
    assert.equal(ours(), []);
    assert.not.ok(existsSync(out), 'no results written');
  });
}

Bench.run();
