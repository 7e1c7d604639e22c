/**
 * The public surface of `src/workers/perf`: `netshard bench` (the forwarding matrix against the kernel and a
 * C forwarder), its options, and the pieces its tests and the docs use (histogram, /proc, SVG, table).
 * Re-exported by `src/workers/index.ts`; `cli-bench.ts` calls `parseBenchArgs` and `runBench`.
 */
export { BENCH_HELP, BENCH_MODES, DEFAULT_BENCH_OPTIONS, QUICK_BENCH_OPTIONS, parseBenchArgs, validateBenchOptions, type BenchMode, type BenchOptions } from './options.ts';
export { runBench, type BenchIo, type BenchMachine, type BenchResults } from './runner.ts';
export {
  FRAME_OVERHEAD_BYTES, RESULT_COLUMNS, addRatios, benchCases, benchPlots, median, resultTable, summarizeCell, trafficPoints,
  type BenchCell, type ForwarderCase, type ForwarderKind, type PlotFile, type RunSample, type TrafficPoint,
} from './report.ts';
export { CDF_PERCENTILES, LatencyHistogram, decodeSamples, type CdfPoint, type LatencySummary } from './histogram.ts';
export {
  USER_HZ, parseProcessStat, parseSystemStat, parseTaskStat, readProcessCpu, readSystemCpu, readThreadsCpu, systemCpuDelta, threadWindow,
  type ProcessCpu, type SystemCpu, type ThreadBusy, type ThreadCpu, type ThreadWindow,
} from './proc.ts';
export { SERIES_COLOURS, escapeXml, formatTick, lineChart, logTicks, niceTicks, type ChartSeries, type LineChart } from './svg.ts';
export { formatMpps, formatNumber, formatPercent, formatRatio, formatTable, progressBar, type Align } from './table.ts';
export { BASELINE_PROGRAMS, baselineCacheDir, compileBaseline, findBaselinesDir, gccVersion, type BaselineProgram } from './compile.ts';
