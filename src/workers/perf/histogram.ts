/**
 * Latency percentiles for `netshard bench`: the sink's raw latency samples (nanoseconds) go into an HDR
 * histogram (hdr-histogram-js, 3 significant digits: every reported value is within 0.1% of the exact
 * one), which gives p50 / p99 / p99.9 and the points of a CDF plot.
 *
 * Thread: main. Control path: one histogram per cell, filled once after the runs.
 */
import * as hdr from 'hdr-histogram-js';
import { NetshardError } from '../../errors.ts';

/** Percentiles of one cell, in microseconds. */
export interface LatencySummary {
  /** Samples in the histogram. */
  count: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

/** One point of a latency CDF: `fraction` of the samples took at most `latencyUs`. */
export interface CdfPoint {
  latencyUs: number;
  fraction: number;
}

/** Largest latency the histogram tracks: the sink clamps at 2^32 - 1 ns (~4.3 s). */
const HIGHEST_NS = 2 ** 32;

/**
 * Percentiles at which `cdf()` samples the distribution: dense in the tail, where plots of latency look.
 * 0..90 by 5, then 91..99, then 99.5, 99.9, 99.95, 99.99, 100.
 */
export const CDF_PERCENTILES: readonly number[] = Object.freeze([
  ...Array.from({ length: 19 }, (_, i) => i * 5),
  ...Array.from({ length: 9 }, (_, i) => 91 + i),
  99.5, 99.9, 99.95, 99.99, 100,
]);

/**
 * An HDR histogram of latencies recorded in nanoseconds and read in microseconds. Owns wasm-free JS memory
 * only; `destroy()` is still called when done (the library asks for it). Thread: main.
 */
export class LatencyHistogram {
  private readonly histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: HIGHEST_NS, numberOfSignificantValueDigits: 3 });

  /** Records every value of `samplesNs` (nanoseconds, as the sink writes them). Throws ERR_OUT_OF_RANGE for a negative or non-integer value. */
  record(samplesNs: ArrayLike<number>): this {
    for (let i = 0; i < samplesNs.length; i++) {
      const v = samplesNs[i]!;
      if (!Number.isInteger(v) || v < 0) throw new NetshardError('ERR_OUT_OF_RANGE', `latency samples must be integers >= 0, received ${v}`);
      this.histogram.recordValue(v < HIGHEST_NS ? v : HIGHEST_NS - 1);
    }
    return this;
  }

  /** Samples recorded so far. */
  get count(): number {
    return this.histogram.totalCount;
  }

  /** Returns p50, p99, p99.9, max and mean in µs; all 0 when nothing was recorded. */
  summary(): LatencySummary {
    const h = this.histogram;
    if (h.totalCount === 0) return { count: 0, p50: 0, p99: 0, p999: 0, max: 0, mean: 0 };
    return {
      count: h.totalCount,
      p50: h.getValueAtPercentile(50) / 1000,
      p99: h.getValueAtPercentile(99) / 1000,
      p999: h.getValueAtPercentile(99.9) / 1000,
      max: h.maxValue / 1000,
      mean: h.mean / 1000,
    };
  }

  /** Returns the CDF at `CDF_PERCENTILES` (fraction 0..1, latency in µs); [] when nothing was recorded. */
  cdf(): CdfPoint[] {
    if (this.histogram.totalCount === 0) return [];
    return CDF_PERCENTILES.map((p) => ({ latencyUs: this.histogram.getValueAtPercentile(p) / 1000, fraction: p / 100 }));
  }

  /** Frees the histogram. */
  destroy(): void {
    this.histogram.destroy();
  }
}

/** Reads a sink's samples file content (little-endian uint32 nanoseconds) as numbers. Throws ERR_NETSHARD_BENCH when its length is not a multiple of 4. */
export function decodeSamples(bytes: Uint8Array): Uint32Array {
  if (bytes.byteLength % 4 !== 0) throw new NetshardError('ERR_NETSHARD_BENCH', `a latency samples file holds whole uint32 values, got ${bytes.byteLength} bytes`);
  const out = new Uint32Array(bytes.byteLength / 4);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = view.getUint32(i * 4, true);
  return out;
}
