/**
 * The `netshard` command line's commands, for `src/main.ts` (which holds the table and dispatches): each
 * command's help text and `(argv) => exit code`, and what the entry needs to turn an error into an exit
 * code. Exported from `workers/index.ts` as the `cli` namespace, so the package's top level stays the
 * engine's. Thread: main.
 */
export { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, isUsageCode, usage } from './cli-common.ts';
export { FORWARD_HELP, forwardCommand } from './cli-forward.ts';
export { SERVE_HELP, serveCommand } from './cli-serve.ts';
export { DEMO_HELP, demoCommand } from './cli-demo.ts';
export { BENCH_HELP } from './perf/index.ts';
export { benchCommand } from './cli-bench.ts';
