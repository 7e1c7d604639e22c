/**
 * Latency percentiles: known distributions give known p50 / p99 / p99.9 (within the histogram's 3
 * significant digits), the CDF is monotone and ends at the maximum, and the sink's samples file decodes.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CDF_PERCENTILES, LatencyHistogram, decodeSamples } from '../../../src/workers/index.ts';
import { throwsNetshard } from '../../ring/fixtures/throws.ts';

const Histogram = suite('workers/perf/histogram');

/** Within the histogram's resolution: 3 significant digits, so 0.1% of the value (plus rounding to 1 ns). */
function near(got: number, want: number, what: string): void {
  assert.ok(Math.abs(got - want) <= want * 0.001 + 0.001, `${what}: got ${got}, want ${want}`);
}

const ramp = (n: number, stepNs: number): Uint32Array => Uint32Array.from({ length: n }, (_, i) => (i + 1) * stepNs);
for (const c of [
  // 1..10000 µs in 1 µs steps: the k-th percentile is k% of 10000 µs.
  { name: 'uniform 1..10000 us', samples: ramp(10_000, 1000), p50: 5000, p99: 9900, p999: 9990, max: 10_000 },
  // 999 fast datagrams and one slow one: the tail shows only at p99.9 and above.
  { name: '999 at 10 us, one at 5 ms', samples: Uint32Array.from([...Array<number>(999).fill(10_000), 5_000_000]), p50: 10, p99: 10, p999: 10, max: 5000 },
  { name: 'one sample', samples: Uint32Array.of(123_456), p50: 123.456, p99: 123.456, p999: 123.456, max: 123.456 },
]) {
  Histogram(`summary: ${c.name}`, () => {
    const h = new LatencyHistogram().record(c.samples);
    try {
      const s = h.summary();
      assert.is(s.count, c.samples.length);
      near(s.p50, c.p50, 'p50');
      near(s.p99, c.p99, 'p99');
      near(s.p999, c.p999, 'p99.9');
      near(s.max, c.max, 'max');
    } finally {
      h.destroy();
    }
  });
}

Histogram('record twice adds up (runs merge into one cell)', () => {
  const h = new LatencyHistogram().record(ramp(100, 1000)).record(ramp(100, 1000));
  assert.is(h.count, 200);
  near(h.summary().p50, 50, 'p50');
  h.destroy();
});

Histogram('empty: zeros and no CDF', () => {
  const h = new LatencyHistogram();
  assert.equal(h.summary(), { count: 0, p50: 0, p99: 0, p999: 0, max: 0, mean: 0 });
  assert.equal(h.cdf(), []);
  h.destroy();
});

Histogram('cdf: one point per CDF_PERCENTILES, monotone, from min to max', () => {
  const h = new LatencyHistogram().record(ramp(1000, 2000));
  const cdf = h.cdf();
  assert.is(cdf.length, CDF_PERCENTILES.length);
  for (let i = 1; i < cdf.length; i++) {
    assert.ok(cdf[i]!.latencyUs >= cdf[i - 1]!.latencyUs, `latency at ${cdf[i]!.fraction} below the one before`);
    assert.ok(cdf[i]!.fraction > cdf[i - 1]!.fraction);
  }
  near(cdf[0]!.latencyUs, 2, 'p0');
  near(cdf.at(-1)!.latencyUs, 2000, 'p100');
  assert.is(cdf.at(-1)!.fraction, 1);
  h.destroy();
});

Histogram('record rejects negative and fractional samples', () => {
  const h = new LatencyHistogram();
  throwsNetshard(() => h.record([-1]), 'ERR_OUT_OF_RANGE', 'latency samples must be integers >= 0, received -1');
  throwsNetshard(() => h.record([1.5]), 'ERR_OUT_OF_RANGE', 'latency samples must be integers >= 0, received 1.5');
  h.destroy();
});

Histogram('decodeSamples: little-endian uint32 ns, as flow-sink.c writes them', () => {
  const bytes = Uint8Array.from([
    0x10, 0x27, 0x00, 0x00, // 10000 ns
    0xff, 0xff, 0xff, 0xff, // clamped: 2^32 - 1 ns
    0x01, 0x00, 0x00, 0x00, // 1 ns
  ]);
  assert.equal([...decodeSamples(bytes)], [10_000, 4_294_967_295, 1]);
  assert.equal([...decodeSamples(bytes.subarray(4, 8))], [4_294_967_295], 'an offset view');
  throwsNetshard(() => decodeSamples(new Uint8Array(5)), 'ERR_NETSHARD_BENCH', 'a latency samples file holds whole uint32 values, got 5 bytes');
});

Histogram.run();
