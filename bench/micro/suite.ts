/**
 * bench/micro/suite.ts — the whole micro-bench suite (no syscalls), every case a ratio to a reference
 * loop measured in the same process and run (see each file for what its reference is):
 *   single.ts    parse, flow hash, checksum 64/1500 B, PortManager ops (one thread)
 *   pipeline.ts  parse + hash + ring hand-off between two threads; parse stage 2 workers vs 1
 *   zero-alloc.ts  heap, GC and RSS of the pipeline and the parse loop over a long run at full rate
 *
 *   npx tsx bench/micro/suite.ts [--quick] [--json] [--seconds N]
 *
 * Full: single cases 5 × ~200 ms pairs, thread cases 5 × 0.5 s pairs, steady runs 30 s each (~2 min).
 * --quick: 5 × ~20 ms, 5 × 0.1 s, 3 s (~15 s). `--seconds N` sets the steady runs' length.
 */
import { isMain, machineLine, parseFlags, printRows, type Row } from './common.ts';
import { Crew, pipelineCase, printSteady, scalingCase, steadyProblems, type SteadyResult } from './pipeline.ts';
import { singleCases } from './single.ts';
import { steadyCases } from './zero-alloc.ts';

/** How long each part of the suite runs. */
export interface SuiteOptions {
  /** Timed runs per case (medians of these); >= 5. */
  runs: number;
  /** Length of one single-thread run, ms. */
  singleMs: number;
  /** Length of one two-thread run, s. */
  threadSeconds: number;
  /** Length of each steady (zero-allocation) run, s; 0 skips them. */
  steadySeconds: number;
}

/** What the suite measured. */
export interface SuiteResult {
  machine: string;
  options: SuiteOptions;
  rows: Row[];
  steady: SteadyResult[];
  /** Problems with the run itself (lost frames, a pool not whole): any makes the suite fail. */
  errors: string[];
}

/** Runs the suite. Control path; spawns four worker threads and ends them. */
export async function runSuite(o: SuiteOptions, script: string, quick: boolean): Promise<SuiteResult> {
  const machine = machineLine(script, quick);
  const rows = singleCases(o.runs, o.singleMs);
  const crew = new Crew(true);
  const errors: string[] = [];
  let steady: SteadyResult[] = [];
  try {
    const t = { runs: o.runs, seconds: o.threadSeconds };
    rows.push(await pipelineCase(crew, t));
    rows.push(...(await scalingCase(crew, t)));
    if (o.steadySeconds > 0) steady = await steadyCases(crew, o.steadySeconds);
    const f = await crew.finish();
    if (f.free !== f.frameCount || f.doubleFrees !== 0 || f.badFrees !== 0) {
      errors.push(`producer pool not whole after the runs: ${f.free} of ${f.frameCount} free, ${f.doubleFrees} double frees, ${f.badFrees} bad frees`);
    }
  } finally {
    await crew.close();
  }
  return { machine, options: o, rows, steady, errors };
}

/** Prints a suite result as tables. */
export function printSuite(r: SuiteResult): void {
  console.log(r.machine);
  printRows(r.rows);
  for (const row of r.rows) if (row.extra) console.log(`  ${row.key}: ${Object.entries(row.extra).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  if (r.steady.length > 0) {
    printSteady(r.steady);
    for (const s of r.steady) {
      const p = steadyProblems(s);
      console.log(`  ${s.key}: ${p.length === 0 ? 'flat (pass)' : `NOT flat: ${p.join('; ')}`}`);
    }
  }
  for (const e of r.errors) console.log(`error: ${e}`);
}

if (isMain(import.meta.url)) {
  const argv = process.argv.slice(2);
  const { quick, json } = parseFlags(argv);
  const at = argv.indexOf('--seconds');
  const steadySeconds = at >= 0 ? Number(argv[at + 1]) : quick ? 3 : 30;
  if (!(steadySeconds >= 0 && steadySeconds <= 100)) throw new Error('--seconds must be in [0, 100]');
  const o: SuiteOptions = quick
    ? { runs: 5, singleMs: 20, threadSeconds: 0.1, steadySeconds }
    : { runs: 5, singleMs: 200, threadSeconds: 0.5, steadySeconds };
  const r = await runSuite(o, 'bench/micro/suite.ts', quick);
  if (json) console.log(JSON.stringify({ bench: 'micro', ...r, machine: r.machine.slice(2), quick }));
  else printSuite(r);
  if (r.errors.length > 0 || r.steady.some((s) => steadyProblems(s).length > 0)) process.exitCode = 1;
}
