/**
 * bench/micro/zero-alloc.ts — shows that the hot path allocates nothing in steady state: the in-memory
 * pipeline (producer + consumer threads), the parse loop (one worker), and the dispatch worker's
 * forwarding work (`forward-alloc.ts`: parse, hash, `StackForwarder.decide`, `TxBatch.addFrame`) each run at full rate for 30 s
 * (`--quick`: 3 s; `--seconds N`), while every hot thread samples its own heap 10 times a second
 * (`v8.getHeapStatistics().used_heap_size`) and counts its own GCs (PerformanceObserver 'gc'), and the
 * main thread samples the process RSS. After the first 10% (>= 0.5 s, warm-up) it reports GC counts,
 * heap slope per thread (B/s, and the worst as bytes per packet) and RSS slope. Flat = pass
 * (STEADY_LIMITS in pipeline.ts): 0 GCs, < 0.01 B/packet of heap and of RSS growth. There is no reference
 * loop: the figure is an absolute zero, which load on the box cannot fake.
 *
 *   npx tsx bench/micro/zero-alloc.ts [--quick] [--json] [--seconds N]
 */
import { isMain, machineLine, parseFlags } from './common.ts';
import { forwardAllocInWorker, forwardAllocProblems } from './forward-alloc.ts';
import { Crew, printSteady, steadyProblems, steadyRun, type SteadyResult } from './pipeline.ts';

/** Runs both steady cases for `seconds` each on `crew`. */
export async function steadyCases(crew: Crew, seconds: number): Promise<SteadyResult[]> {
  return [
    await steadyRun(crew, 'allocPipeline', 'pipeline (producer+consumer)', ['producer', 'consumer'], seconds),
    await steadyRun(crew, 'allocParse', 'parse loop (1 worker)', ['scaler0'], seconds),
  ];
}

if (isMain(import.meta.url)) {
  const argv = process.argv.slice(2);
  const { quick, json } = parseFlags(argv);
  const at = argv.indexOf('--seconds');
  const seconds = at >= 0 ? Number(argv[at + 1]) : quick ? 3 : 30;
  if (!(seconds > 0 && seconds <= 100)) throw new Error('--seconds must be in (0, 100]');
  const crew = new Crew(true);
  const results = await steadyCases(crew, seconds);
  await crew.close();
  const forward = await forwardAllocInWorker(seconds);
  const verdicts = [
    ...results.map((s) => ({ key: s.key, problems: steadyProblems(s) })),
    { key: 'allocForward', problems: forwardAllocProblems(forward) },
  ];
  if (json) {
    console.log(JSON.stringify({ bench: 'micro/zero-alloc', machine: machineLine('bench/micro/zero-alloc.ts', quick).slice(2), quick, results, forward, verdicts }));
  } else {
    console.log(machineLine('bench/micro/zero-alloc.ts', quick));
    printSteady(results);
    console.log(`forward path, 1 thread (parse + hash + decide + addFrame), ${seconds} s: ${(forward.packets / 1e6).toFixed(1)} M packets after warm-up at ` +
      `${forward.mpps.toFixed(2)} Mpps; scavenges ${forward.gcs} (other GCs ${forward.majorGcs}); new space ${forward.newSpaceBytesPerPacket.toExponential(1)} B/pkt; RSS ${forward.rssBytesPerPacket.toExponential(1)} B/pkt`);
    for (const v of verdicts) console.log(`${v.key}: ${v.problems.length === 0 ? 'flat (pass)' : `NOT flat: ${v.problems.join('; ')}`}`);
  }
  if (verdicts.some((v) => v.problems.length > 0)) process.exitCode = 1;
}
