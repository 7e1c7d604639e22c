/**
 * bench/forward.ts — the forwarding matrix, from the repository: a thin wrapper over `netshard bench`
 * (src/workers/perf), which builds its own namespaces (generator -> forwarder -> sink over veth), measures
 * the Linux kernel's forwarding, the C AF_PACKET forwarder (bench/baselines/packet-fwd.c, same threads and
 * dispatch mode) and `netshard forward` per mode and worker count in the same run, and removes everything.
 *
 *   npx tsx bench/forward.ts [--quick] [--json] [any `netshard bench` option]
 *
 * Differences from `netshard bench`: results and plots go to bench/out/forward/ unless --out says otherwise,
 * and without root it prints the machine line and why it skipped, and exits 0 (as every bench script does).
 * `npx tsx src/main.ts bench --help` lists the options; docs/BENCHMARKS.md "Forwarding" shows the output.
 */
import { availableParallelism, release } from 'node:os';
import { fileURLToPath } from 'node:url';
import { NetshardError } from '../src/errors.ts';
import { labUnavailableReason, parseBenchArgs, runBench } from '../src/workers/index.ts';

const argv = process.argv.slice(2);
let options;
try {
  options = parseBenchArgs(argv);
} catch (err) {
  console.error(`bench/forward.ts: ${(err as Error).message}`);
  process.exit(2);
}
if (!argv.includes('--out')) options.out = fileURLToPath(new URL('./out/forward/', import.meta.url));
const json = options.json;

const unavailable = labUnavailableReason();
if (unavailable !== '') {
  const machine = `bench/forward.ts  node ${process.version}  ${availableParallelism()} cpus  linux ${release()}  ${new Date().toISOString()}`;
  if (json) console.log(JSON.stringify({ bench: 'forward', machine, skipped: unavailable }));
  else console.log(`# ${machine}\nskipped: ${unavailable}`);
  process.exit(0);
}

const progress = json ? process.stderr : process.stdout;
const controller = new AbortController();
process.on('SIGINT', () => controller.abort());
process.on('SIGTERM', () => controller.abort());
try {
  const results = await runBench(options, {
    log: (line) => void progress.write(`${line}\n`),
    write: (text) => void progress.write(text),
    isTTY: progress.isTTY === true,
    signal: controller.signal,
  });
  if (json) console.log(JSON.stringify(results));
} catch (err) {
  if (err instanceof NetshardError && err.code === 'ERR_NETSHARD_ABORTED') {
    progress.write(`${err.message}\n`);
    process.exitCode = 130;
  } else {
    console.error(`bench/forward.ts: ${(err as Error).message}`);
    process.exitCode = 1;
  }
}
