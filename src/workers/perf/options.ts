/**
 * `netshard bench`'s options: the help text, the command-line parser, and the checked `BenchOptions` the
 * runner takes. `--quick` is a preset; explicit flags override it.
 *
 * Thread: main. Control path: throws NetshardError ERR_NETSHARD_USAGE (the CLI: exit 2) with one line.
 */
import { parseArgs } from 'node:util';
import { NetshardError } from '../../errors.ts';
import { describeValue, validateArray, validateBoolean, validateInteger, validateObject, validateOneOf, validateString } from '../../validate.ts';

/** The engine's dispatch modes, in the order the matrix runs them. */
export const BENCH_MODES = ['readv', 'recvmmsg', 'mmap'] as const;
/** One of `BENCH_MODES`. */
export type BenchMode = (typeof BENCH_MODES)[number];

/** What one `netshard bench` measures and where it writes; see `BENCH_HELP`. */
export interface BenchOptions {
  /** Dispatch modes, each run for the engine and for the C forwarder. */
  modes: BenchMode[];
  /** Worker counts per interface (engine) = threads (C forwarder), 1..64. */
  workers: number[];
  /** Ethernet frame sizes as RFC 2544 counts them (header and FCS included), 64..1518. */
  sizes: number[];
  /** Flow counts (one source port each), 1..4096. */
  flows: number[];
  /** Runs per cell (the median is reported), 1..100. */
  runs: number;
  /** Generator send time per run, 0.2..60 s. */
  seconds: number;
  /** Datagrams per second the generator paces itself to, 0..100e6; 0: as fast as it can (saturation). */
  rate: number;
  /** Where results.json and the plots go. */
  out: string;
  /** Print the results as one JSON object on stdout (progress on stderr). */
  json: boolean;
  /** Whether the `--quick` preset was asked for (recorded in results.json). */
  quick: boolean;
  /** Pin generator and forwarder to separate cores with taskset (when there are 2+ cores and taskset exists). */
  pin: boolean;
}

/** The full matrix: every mode, 1 and 2 workers, 64/512/1518-byte frames, 1 and 64 flows, 5 runs of 2 s. */
export const DEFAULT_BENCH_OPTIONS: Readonly<BenchOptions> = Object.freeze({
  modes: [...BENCH_MODES],
  workers: [1, 2],
  sizes: [64, 512, 1518],
  flows: [1, 64],
  runs: 5,
  seconds: 2,
  rate: 0,
  out: 'bench-results',
  json: false,
  quick: false,
  pin: true,
});

/** `--quick`: about a minute on 2 cores (one mode, 1 worker, 64-byte frames, 64 flows, 3 runs of 1 s). */
export const QUICK_BENCH_OPTIONS: Readonly<Pick<BenchOptions, 'modes' | 'workers' | 'sizes' | 'flows' | 'runs' | 'seconds'>> = Object.freeze({
  modes: ['recvmmsg'] as BenchMode[],
  workers: [1],
  sizes: [64],
  flows: [64],
  runs: 3,
  seconds: 1,
});

/** `netshard bench --help`. */
export const BENCH_HELP = `Usage: netshard bench [options]

Measures \`netshard forward\` on a topology it builds and removes (generator ns -> engine ns -> sink ns over
veth, 198.18.0.0/15): every dispatch mode x workers x frame size x flow count, each cell run --runs times
(runs interleaved across cells), against two baselines measured in the same run on the same topology with
the same generator: the Linux kernel's own IP forwarding, and a C AF_PACKET forwarder with the same threads
and dispatch mode (bench/baselines, compiled with gcc into a cache directory).

  --quick                    about a minute: recvmmsg, 1 worker, 64 B, 64 flows, 3 runs of 1 s
  --modes LIST               dispatch modes, from readv,recvmmsg,mmap (default: all three)
  --workers LIST             workers per interface = C forwarder threads, 1..64 (default 1,2)
  --sizes LIST               frame sizes in bytes, Ethernet header and FCS included, 64..1518 (default 64,512,1518)
  --flows LIST               UDP flows (source ports), 1..4096 (default 1,64)
  --runs N                   runs per cell, the median is reported, 1..100 (default 5)
  --seconds S                generator send time per run, 0.2..60 (default 2)
  --rate PPS                 pace the generator to PPS datagrams/s (default 0: as fast as it can). Latency
                             at saturation is mostly queueing in socket buffers; a rate below every
                             forwarder's capacity shows the forwarding latency itself
  --out DIR                  where results.json and the SVG plots go (default ./bench-results)
  --no-pin                   do not pin generator and forwarder to separate cores (taskset)
  --json                     print the results as one JSON object on stdout; progress goes to stderr
  -h, --help                 this help

Per cell: pps at the sink and at the generator, loss, CPU seconds per million forwarded packets (from /proc),
latency p50/p99/p99.9 (the generator stamps CLOCK_MONOTONIC into each payload, the sink reads it), and the
engine's ratio to both baselines. Needs root (CAP_NET_ADMIN, CAP_NET_RAW), ip, python3 and gcc.
Ctrl-C stops it and removes everything it made.`;

const BENCH_ARGS = {
  quick: { type: 'boolean' },
  modes: { type: 'string' },
  workers: { type: 'string' },
  sizes: { type: 'string' },
  flows: { type: 'string' },
  runs: { type: 'string' },
  seconds: { type: 'string' },
  rate: { type: 'string' },
  out: { type: 'string' },
  'no-pin': { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

function usage(message: string): NetshardError {
  return new NetshardError('ERR_NETSHARD_USAGE', message);
}

/** Parses a comma-separated list of distinct integers in [min, max], sorted ascending. */
function integerList(text: string, flag: string, min: number, max: number): number[] {
  const parts = text.split(',');
  const values: number[] = [];
  for (const part of parts) {
    const n = Number(part);
    if (!/^\d+$/.test(part) || n < min || n > max) throw usage(`${flag} must be a comma-separated list of integers from ${min} to ${max}, received '${text}'`);
    if (values.includes(n)) throw usage(`${flag} lists ${n} twice`);
    values.push(n);
  }
  return values.sort((a, b) => a - b);
}

/**
 * Parses `netshard bench`'s argv (without `bench`) into checked options: `--quick` first sets its preset,
 * then every explicit flag overrides it. Throws ERR_NETSHARD_USAGE with one line for anything unknown,
 * missing or out of range. Thread: any.
 */
export function parseBenchArgs(argv: readonly string[]): BenchOptions {
  let values;
  try {
    values = parseArgs({ args: [...argv], options: BENCH_ARGS, strict: true, allowPositionals: false }).values;
  } catch (err) {
    const text = err instanceof Error ? err.message : String(err);
    throw usage(text.split(/\.(?:\s|$)/)[0]!.replace(/^[A-Z]/, (c) => c.toLowerCase()));
  }
  const quick = values.quick ?? false;
  const o: BenchOptions = { ...DEFAULT_BENCH_OPTIONS, modes: [...DEFAULT_BENCH_OPTIONS.modes], workers: [...DEFAULT_BENCH_OPTIONS.workers], sizes: [...DEFAULT_BENCH_OPTIONS.sizes], flows: [...DEFAULT_BENCH_OPTIONS.flows] };
  if (quick) Object.assign(o, { ...QUICK_BENCH_OPTIONS, modes: [...QUICK_BENCH_OPTIONS.modes], workers: [...QUICK_BENCH_OPTIONS.workers], sizes: [...QUICK_BENCH_OPTIONS.sizes], flows: [...QUICK_BENCH_OPTIONS.flows] });
  o.quick = quick;
  if (values.modes !== undefined) {
    const modes = values.modes.split(',');
    for (const m of modes) {
      if (!(BENCH_MODES as readonly string[]).includes(m)) throw usage(`--modes must be a comma-separated list of readv, recvmmsg, mmap, received '${values.modes}'`);
    }
    if (new Set(modes).size !== modes.length) throw usage(`--modes lists a mode twice: '${values.modes}'`);
    o.modes = BENCH_MODES.filter((m) => modes.includes(m));
  }
  if (values.workers !== undefined) o.workers = integerList(values.workers, '--workers', 1, 64);
  if (values.sizes !== undefined) o.sizes = integerList(values.sizes, '--sizes', 64, 1518);
  if (values.flows !== undefined) o.flows = integerList(values.flows, '--flows', 1, 4096);
  if (values.runs !== undefined) {
    const n = Number(values.runs);
    if (!/^\d+$/.test(values.runs) || n < 1 || n > 100) throw usage(`--runs must be an integer from 1 to 100, received '${values.runs}'`);
    o.runs = n;
  }
  if (values.seconds !== undefined) {
    const s = Number(values.seconds);
    if (!/^\d+(\.\d+)?$/.test(values.seconds) || s < 0.2 || s > 60) throw usage(`--seconds must be a number from 0.2 to 60, received '${values.seconds}'`);
    o.seconds = s;
  }
  if (values.rate !== undefined) {
    const n = Number(values.rate);
    if (!/^\d+$/.test(values.rate) || n > 100_000_000) throw usage(`--rate must be an integer from 0 to 100000000 datagrams per second, received '${values.rate}'`);
    o.rate = n;
  }
  if (values.out !== undefined) {
    if (values.out === '') throw usage('--out must name a directory');
    o.out = values.out;
  }
  o.json = values.json ?? false;
  o.pin = !(values['no-pin'] ?? false);
  return o;
}

/**
 * Checks options built in code (not from argv) and fills defaults: unknown keys, wrong types and values out
 * of the ranges `BENCH_HELP` gives throw Node's codes (ERR_INVALID_ARG_TYPE / _VALUE, ERR_OUT_OF_RANGE).
 * Thread: any.
 */
export function validateBenchOptions(options: Partial<BenchOptions>): BenchOptions {
  validateObject(options, 'options', Object.keys(DEFAULT_BENCH_OPTIONS));
  const o = { ...DEFAULT_BENCH_OPTIONS, ...options } as BenchOptions;
  validateArray(o.modes, 'options.modes', 1);
  for (const m of o.modes) validateOneOf(m, 'options.modes[]', BENCH_MODES);
  const lists = [['workers', 1, 64], ['sizes', 64, 1518], ['flows', 1, 4096]] as const;
  for (const [key, min, max] of lists) {
    validateArray(o[key], `options.${key}`, 1);
    for (const n of o[key]) validateInteger(n, `options.${key}[]`, min, max);
  }
  validateInteger(o.runs, 'options.runs', 1, 100);
  if (typeof o.seconds !== 'number') throw new NetshardError('ERR_INVALID_ARG_TYPE', `options.seconds must be of type number, received ${describeValue(o.seconds)}`);
  if (!(o.seconds >= 0.2 && o.seconds <= 60)) throw new NetshardError('ERR_OUT_OF_RANGE', `options.seconds must be >= 0.2 and <= 60, received ${o.seconds}`);
  validateInteger(o.rate, 'options.rate', 0, 100_000_000);
  validateString(o.out, 'options.out');
  validateBoolean(o.json, 'options.json');
  validateBoolean(o.quick, 'options.quick');
  validateBoolean(o.pin, 'options.pin');
  return { ...o, modes: [...o.modes], workers: [...o.workers], sizes: [...o.sizes], flows: [...o.flows] };
}
