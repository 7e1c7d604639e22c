/**
 * `netshard bench`'s options: defaults, the --quick preset and flags overriding it, every usage error as
 * one exact line, and the checks on options built in code.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_BENCH_OPTIONS, QUICK_BENCH_OPTIONS, parseBenchArgs, validateBenchOptions } from '../../../src/workers/index.ts';
import { throwsNetshard } from '../../ring/fixtures/throws.ts';

const Options = suite('workers/perf/options');

for (const c of [
  { name: 'no flags: the full matrix', argv: [], want: { modes: ['readv', 'recvmmsg', 'mmap'], workers: [1, 2], sizes: [64, 512, 1518], flows: [1, 64], runs: 5, seconds: 2, rate: 0, quick: false } },
  { name: '--quick preset', argv: ['--quick'], want: { modes: ['recvmmsg'], workers: [1], sizes: [64], flows: [64], runs: 3, seconds: 1, quick: true } },
  { name: '--quick with overrides', argv: ['--quick', '--modes', 'mmap,readv', '--runs', '4'], want: { modes: ['readv', 'mmap'], workers: [1], sizes: [64], flows: [64], runs: 4, seconds: 1, quick: true } },
  { name: 'lists sorted', argv: ['--workers', '4,1,2', '--sizes', '1518,64', '--flows', '64,1'], want: { workers: [1, 2, 4], sizes: [64, 1518], flows: [1, 64] } },
  { name: 'fractional seconds', argv: ['--seconds', '0.5'], want: { seconds: 0.5 } },
  { name: 'paced generator', argv: ['--rate', '20000'], want: { rate: 20_000 } },
  { name: 'out, json, no-pin', argv: ['--out', '/tmp/x', '--json', '--no-pin'], want: { out: '/tmp/x', json: true, pin: false } },
]) {
  Options(`parseBenchArgs: ${c.name}`, () => {
    const got = parseBenchArgs(c.argv) as unknown as Record<string, unknown>;
    for (const [key, value] of Object.entries(c.want)) assert.equal(got[key], value, `${c.name}: ${key}`);
  });
}

for (const c of [
  { argv: ['--modes', 'readv,foo'], message: "--modes must be a comma-separated list of readv, recvmmsg, mmap, received 'readv,foo'" },
  { argv: ['--modes', 'mmap,mmap'], message: "--modes lists a mode twice: 'mmap,mmap'" },
  { argv: ['--workers', '0'], message: "--workers must be a comma-separated list of integers from 1 to 64, received '0'" },
  { argv: ['--workers', '1,1'], message: '--workers lists 1 twice' },
  { argv: ['--sizes', '63'], message: "--sizes must be a comma-separated list of integers from 64 to 1518, received '63'" },
  { argv: ['--flows', '1,'], message: "--flows must be a comma-separated list of integers from 1 to 4096, received '1,'" },
  { argv: ['--runs', '0'], message: "--runs must be an integer from 1 to 100, received '0'" },
  { argv: ['--runs', '2,3'], message: "--runs must be an integer from 1 to 100, received '2,3'" },
  { argv: ['--seconds', '0.1'], message: "--seconds must be a number from 0.2 to 60, received '0.1'" },
  { argv: ['--seconds', 'abc'], message: "--seconds must be a number from 0.2 to 60, received 'abc'" },
  { argv: ['--rate', '-5'], message: "option '--rate' argument is ambiguous" },
  { argv: ['--rate', '1.5'], message: "--rate must be an integer from 0 to 100000000 datagrams per second, received '1.5'" },
  { argv: ['--out', ''], message: '--out must name a directory' },
  { argv: ['--fast'], message: "unknown option '--fast'" },
  { argv: ['extra'], message: "unexpected argument 'extra'" },
]) {
  Options(`parseBenchArgs rejects ${c.argv.join(' ')}`, () => {
    throwsNetshard(() => parseBenchArgs(c.argv), 'ERR_NETSHARD_USAGE', c.message);
  });
}

Options('the defaults and the preset are frozen', () => {
  assert.ok(Object.isFrozen(DEFAULT_BENCH_OPTIONS));
  assert.ok(Object.isFrozen(QUICK_BENCH_OPTIONS));
  const a = parseBenchArgs([]);
  a.modes.push('readv');
  assert.equal(DEFAULT_BENCH_OPTIONS.modes, ['readv', 'recvmmsg', 'mmap'], 'parse returns copies');
});

Options('validateBenchOptions: defaults filled, bad values rejected', () => {
  const o = validateBenchOptions({ modes: ['mmap'], runs: 1, seconds: 0.5 });
  assert.equal([o.modes, o.workers, o.runs, o.seconds], [['mmap'], [1, 2], 1, 0.5]);
  throwsNetshard(() => validateBenchOptions({ speed: 1 } as never), 'ERR_INVALID_ARG_VALUE', 'options.speed is not a known option (known: modes, workers, sizes, flows, runs, seconds, rate, out, json, quick, pin)');
  throwsNetshard(() => validateBenchOptions({ runs: 0 }), 'ERR_OUT_OF_RANGE', 'options.runs must be an integer >= 1 and <= 100, received 0');
  throwsNetshard(() => validateBenchOptions({ seconds: 100 }), 'ERR_OUT_OF_RANGE', 'options.seconds must be >= 0.2 and <= 60, received 100');
  throwsNetshard(() => validateBenchOptions({ modes: [] }), 'ERR_OUT_OF_RANGE', 'options.modes must be an array of at least 1 element(s), received 0');
  throwsNetshard(() => validateBenchOptions({ rate: -1 }), 'ERR_OUT_OF_RANGE', 'options.rate must be an integer >= 0 and <= 100000000, received -1');
  throwsNetshard(() => validateBenchOptions({ sizes: [2000] }), 'ERR_OUT_OF_RANGE', 'options.sizes[] must be an integer >= 64 and <= 1518, received 2000');
});

Options.run();
