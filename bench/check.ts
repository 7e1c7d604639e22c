/**
 * bench/check.ts — `npm run bench:check`: runs the micro-bench suite (bench/micro/, no syscalls, about
 * 30 s) and compares each case's RATIO to its same-run reference loop with the floor in THRESHOLDS
 * below; prints one table and exits 1 when any ratio is under its floor, when a steady run is not flat
 * (GCs on a hot thread, heap or RSS growth per packet, see STEADY_LIMITS in bench/micro/pipeline.ts), or
 * when the pipeline lost a frame. Ratios, not times: a slower or busier machine slows the case and its
 * reference alike. Still, timing on a shared box is noisy, so this is a tool to run by hand before and
 * after a hot-path change (and on a quiet machine when it fails), not a step of `npm test` or CI.
 *
 *   npx tsx bench/check.ts [--quick] [--json]
 *
 * --quick: shorter runs (~15 s), for trying the script; the floors are set for the default length.
 */
import { parseFlags } from './micro/common.ts';
import { forwardAllocInWorker, forwardAllocProblems } from './micro/forward-alloc.ts';
import { steadyProblems } from './micro/pipeline.ts';
import { printSuite, runSuite, type SuiteOptions } from './micro/suite.ts';

/**
 * The floor for each ratio (case median / reference median, same run). How they were chosen: from
 * bench:check runs on the project's 2-vCPU VM while up to 7 other engineers' jobs shared it (load
 * average 5–7), each floor is about 60–70% of the lowest ratio seen, so a regression has to cost a third
 * or more to fail while the box's noise (±20–30% on single ratios) passes. The measured range is in each
 * `why`. The two-thread cases are the noisiest (both threads need a core of their own), so their floors
 * sit lower; the absolute targets of issue 6 (pipeline >= 10 Mpps, scaling >= 1.7x) are printed, not
 * enforced, because a shared box cannot promise them.
 */
export const THRESHOLDS: readonly { key: string; min: number; why: string }[] = [
  { key: 'parse', min: 0.5, why: 'parsePacket + hash vs hand parse + hash: measured 0.56–0.90x' },
  { key: 'flowHash', min: 0.15, why: 'MurmurHash3 5-word mix vs XOR of the words: measured 0.25–0.36x' },
  { key: 'checksumView64', min: 1.3, why: 'RFC 1071 via DataView u32 vs byte sum, 64 B: measured 2.0–3.0x' },
  { key: 'checksumView1500', min: 2.5, why: 'same, 1500 B: measured 3.8–6.2x' },
  { key: 'checksum64', min: 1.4, why: 'RFC 1071 over Uint8Array vs byte sum, 64 B: measured 2.1–3.0x' },
  { key: 'checksum1500', min: 1.6, why: 'same, 1500 B: measured 2.4–3.4x' },
  { key: 'pipeline1', min: 0.25, why: 'pipeline work on one core vs bare records: measured 0.37–0.51x' },
  { key: 'ports', min: 0.45, why: 'PortManager reserve+release vs Map refcount: measured 0.72–1.05x' },
  { key: 'pipeline', min: 0.25, why: 'parse+hash+ring vs bare records, 2 threads: measured 0.30–1.71x: scheduler-bound (see cores), only a smoke floor; the parse cost itself is held by parse and pipeline1' },
  { key: 'scaling', min: 0.7, why: '2 parse workers vs 1, wall clock: measured 1.0–1.5x with 0.3–1.0 cores granted; checks only "2 not slower than 1"' },
  { key: 'scalingPerCpu', min: 0.7, why: 'the same per CPU second: measured 0.91–0.97x (2 workers barely slow each other)' },
];

const { quick, json } = parseFlags(process.argv.slice(2));
const options: SuiteOptions = quick
  ? { runs: 5, singleMs: 20, threadSeconds: 0.1, steadySeconds: 2 }
  : { runs: 5, singleMs: 60, threadSeconds: 0.25, steadySeconds: 5 };
const result = await runSuite(options, 'bench/check.ts', quick);

interface Verdict { key: string; ratio: number; min: number; pass: boolean; why: string }
const verdicts: Verdict[] = THRESHOLDS.map((t) => {
  const row = result.rows.find((r) => r.key === t.key);
  const ratio = row ? row.ratio : Number.NaN;
  return { key: t.key, ratio, min: t.min, pass: ratio >= t.min, why: t.why };
});
const forward = await forwardAllocInWorker(options.steadySeconds);
const steadyVerdicts = [
  ...result.steady.map((s) => ({ key: s.key, problems: steadyProblems(s) })),
  { key: 'allocForward', problems: forwardAllocProblems(forward) },
];
const failed = verdicts.some((v) => !v.pass) || steadyVerdicts.some((v) => v.problems.length > 0) || result.errors.length > 0;

if (json) {
  console.log(JSON.stringify({ bench: 'check', ...result, forward, machine: result.machine.slice(2), quick, verdicts, steadyVerdicts, pass: !failed }));
} else {
  printSuite(result);
  console.log('');
  console.log(`${'check'.padEnd(20)}${'ratio'.padStart(8)}${'floor'.padStart(8)}  result`);
  for (const v of verdicts) console.log(`${v.key.padEnd(20)}${(v.ratio.toFixed(2) + 'x').padStart(8)}${(v.min.toFixed(2) + 'x').padStart(8)}  ${v.pass ? 'ok' : 'REGRESSION'}`);
  for (const v of steadyVerdicts) console.log(`${v.key.padEnd(20)}${''.padStart(16)}  ${v.problems.length === 0 ? 'ok (flat)' : `NOT FLAT: ${v.problems.join('; ')}`}`);
  console.log(failed ? 'bench:check FAILED' : 'bench:check passed');
}
process.exitCode = failed ? 1 : 0;
