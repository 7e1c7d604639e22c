/**
 * What every file of the micro-bench suite shares: the machine line, medians, the interleaved
 * reference-vs-case timing of single-thread loops, and the result row every case reports.
 *
 * Every figure of the suite is a RATIO to a reference loop measured in the same process and the same
 * run, interleaved run by run with the case itself, so a neighbour taking the CPU for a moment slows both
 * sides of one pair rather than one side of the comparison. Absolute rates are printed too, for reading.
 */
import { cpus, release } from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Returns the first output line of a bench: script, node version, cpus, kernel, date. */
export function machineLine(script: string, quick: boolean): string {
  return `# ${script}  node ${process.version}  ${cpus().length} cpus  linux ${release()}  ${new Date().toISOString()}${quick ? '  (--quick)' : ''}`;
}

/** Returns the median of `xs` (the upper middle for an even count); NaN when empty. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** One line of a micro-bench table: a case, its reference, both rates, and the ratio checked by bench:check. */
export interface Row {
  /** Stable key bench/check.ts looks thresholds up by, e.g. `parse` or `pipeline`. */
  key: string;
  /** What was measured, for people. */
  name: string;
  /** What the ratio is to. */
  reference: string;
  /** Unit of `median`, `min`, `max` and `referenceMedian`. */
  unit: string;
  median: number;
  min: number;
  max: number;
  referenceMedian: number;
  /** median / referenceMedian (the figure with a threshold). */
  ratio: number;
  /** Every run of the case, in the unit. */
  runs: number[];
  /** Every run of the reference. */
  referenceRuns: number[];
  /** Anything else the case wants in the JSON (naps, cores used, GC counts…). */
  extra?: Record<string, number | string | boolean>;
}

/** Builds a Row from the two sample lists. */
export function makeRow(
  key: string, name: string, reference: string, unit: string, runs: number[], referenceRuns: number[],
  extra?: Row['extra'],
): Row {
  const m = median(runs);
  const r = median(referenceRuns);
  return {
    key, name, reference, unit, median: m, min: Math.min(...runs), max: Math.max(...runs), referenceMedian: r,
    ratio: m / r, runs, referenceRuns, ...(extra ? { extra } : {}),
  };
}

/**
 * A loop to time: does `n` units of work and returns a checksum of what it computed (so V8 cannot drop
 * the work, and so the case and its reference can be compared where they compute the same thing).
 */
export type Loop = (n: number) => number;

/**
 * Returns this process's CPU time (user + system, all threads) in ms. On a shared box a single-thread
 * loop's CPU time leaves out the time the scheduler gave the core to someone else, which wall time
 * counts; the single-thread cases run before any worker starts, so the process's CPU is that loop's.
 */
export function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/**
 * Times `reference` and `loop` alternately: one untimed warm-up of each, then `runs` timed runs of each
 * over `n` units, in the order reference, case, reference, case… Returns millions of units per CPU second
 * for each (CPU time, see `cpuMs`; microsecond resolution, so runs of >= 20 ms). The checksums of every run go to
 * `check(referenceSum, caseSum)`, which throws when they disagree.
 */
export function timePair(
  reference: Loop, loop: Loop, n: number, runs: number, check?: (referenceSum: number, caseSum: number) => void,
): { referenceRuns: number[]; runs: number[] } {
  const referenceRuns: number[] = [];
  const caseRuns: number[] = [];
  for (let r = -1; r < runs; r++) {
    let t0 = cpuMs();
    const a = reference(n);
    let t1 = cpuMs();
    if (r >= 0) referenceRuns.push(n / Math.max(t1 - t0, 0.001) / 1000);
    t0 = cpuMs();
    const b = loop(n);
    t1 = cpuMs();
    if (r >= 0) caseRuns.push(n / Math.max(t1 - t0, 0.001) / 1000);
    check?.(a, b);
  }
  return { referenceRuns, runs: caseRuns };
}

/** Returns the least-squares slope of `ys` over `xs` (units of y per unit of x); 0 for fewer than 2 points. */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = Math.min(xs.length, ys.length);
  if (n < 2) return 0;
  let sx = 0, sy = 0;
  for (let i = 0; i < n; i++) { sx += xs[i]!; sy += ys[i]!; }
  const mx = sx / n, my = sy / n;
  let num = 0, den = 0;
  for (let i = 0; i < n; i++) {
    const dx = xs[i]! - mx;
    num += dx * (ys[i]! - my);
    den += dx * dx;
  }
  return den === 0 ? 0 : num / den;
}

/** Formats a number with `digits` decimals, right-aligned in `width`. */
export function fmt(x: number, digits: number, width: number): string {
  return (Number.isFinite(x) ? x.toFixed(digits) : String(x)).padStart(width);
}

/** Prints rows as a table (case, median, min, max, unit, reference median, ratio). */
export function printRows(rows: readonly Row[]): void {
  console.log(`${'case'.padEnd(44)}${'median'.padStart(9)}${'min'.padStart(9)}${'max'.padStart(9)}  ${'unit'.padEnd(9)}${'reference'.padStart(10)}${'ratio'.padStart(8)}  reference is`);
  for (const r of rows) {
    console.log(
      `${r.name.padEnd(44)}${fmt(r.median, 2, 9)}${fmt(r.min, 2, 9)}${fmt(r.max, 2, 9)}  ${r.unit.padEnd(9)}${fmt(r.referenceMedian, 2, 10)}${fmt(r.ratio, 2, 7)}x  ${r.reference}`,
    );
  }
}

/** Parses the suite's common flags. */
export function parseFlags(argv: readonly string[]): { quick: boolean; json: boolean } {
  const args = new Set(argv);
  return { quick: args.has('--quick'), json: args.has('--json') };
}

/** Returns true when the module whose `import.meta.url` is `url` is the script node was started with. */
export function isMain(url: string): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  return url === pathToFileURL(resolve(script)).href;
}
