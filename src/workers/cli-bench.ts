/**
 * `netshard bench` (BENCH_HELP, perf/options.ts): its options, then `runBench` (perf/), printing progress
 * on stdout (stderr with --json, where stdout gets the results as one JSON object).
 *
 * Thread: main. Control path throughout.
 */
import { NetshardError } from '../errors.ts';
import { EXIT_OK } from './cli-common.ts';
import { parseBenchArgs, runBench } from './perf/index.ts';

/** `netshard bench`: see BENCH_HELP. Returns the exit code (0 after Ctrl-C too: the bench removed what it made). */
export async function benchCommand(argv: string[]): Promise<number> {
  const o = parseBenchArgs(argv);
  const progress = o.json ? process.stderr : process.stdout;
  const controller = new AbortController();
  const onSignal = (): void => controller.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const results = await runBench(o, {
      log: (line) => void progress.write(`${line}\n`),
      write: (text) => void progress.write(text),
      isTTY: progress.isTTY === true,
      signal: controller.signal,
    });
    if (o.json) process.stdout.write(`${JSON.stringify(results)}\n`);
    return EXIT_OK;
  } catch (err) {
    if (err instanceof NetshardError && err.code === 'ERR_NETSHARD_ABORTED') {
      progress.write(`${err.message}\n`);
      return EXIT_OK;
    }
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
