#!/usr/bin/env node
/**
 * netshard's command line: `netshard <command> [options]`. It parses and checks the options, opens the
 * fds, wires the engine (`src/workers`), and prints; the packet work is the engine's. Commands:
 * `forward`, `serve` (reuseport UDP servers on the engine's stack), `demo` (the tour `npm start` runs) and
 * `bench` (the forwarding matrix). `netshard --help`, `netshard help [command]`, `netshard <command> --help`.
 *
 * Exit codes: 0 ok (also after Ctrl-C / SIGTERM), 1 runtime failure, 2 bad usage. Bad options and missing
 * privileges print one line on stderr, never a stack trace.
 *
 * This file holds the command table, the dispatch and the entry; each command lives in
 * `src/workers/cli-<command>.ts` (its help text, options, wiring and printing; `cli-common.ts` for what they
 * share), reached through `workers/index.ts` (its `cli` namespace) like the rest of the engine: the layering rule lets `main.ts`
 * import only folder index files, and gives a second top-level file no way to reach the engine.
 *
 * Thread: main. Control path throughout.
 */
import { NetshardError } from './errors.ts';
import { cli } from './workers/index.ts';

const {
  BENCH_HELP, DEMO_HELP, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, FORWARD_HELP, SERVE_HELP,
  benchCommand, demoCommand, forwardCommand, isUsageCode, serveCommand, usage,
} = cli;

// ─── Commands ─────────────────────────────────────────────────────────────────────────────────────────────

interface Command {
  summary: string;
  help: string;
  run(argv: string[]): Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  forward: { summary: 'forward packets between two interfaces (L3 routing, or L2 with --bridge)', help: FORWARD_HELP, run: forwardCommand },
  serve: { summary: 'reuseport UDP servers in app workers on the engine\'s own stack', help: SERVE_HELP, run: serveCommand },
  demo: { summary: 'a one-minute tour: forwarding, the stack (ARP, ping), reuseport servers', help: DEMO_HELP, run: demoCommand },
  bench: { summary: 'the forwarding matrix: netshard vs the kernel and a C forwarder, same run', help: BENCH_HELP, run: benchCommand },
};

const HELP = `Usage: netshard <command> [options]

netshard is a worker-threads sharded packet engine: one worker thread per fd.

Commands:
${Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`).join('\n')}
  help [CMD]  this help, or a command's

\`netshard <command> --help\` lists a command's options. Exit codes: 0 ok, 1 runtime failure, 2 bad usage.`;

/** Runs the command line `argv` (without node and the script) and returns the exit code. */
async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    process.stderr.write(`${HELP}\n`);
    return EXIT_USAGE;
  }
  if (name === 'help' || name === '--help' || name === '-h') {
    const topic = rest[0];
    if (topic === undefined) {
      process.stdout.write(`${HELP}\n`);
      return EXIT_OK;
    }
    const command = COMMANDS[topic];
    if (command === undefined) throw usage(`no command '${topic}' (netshard --help lists them)`);
    process.stdout.write(`${command.help}\n`);
    return EXIT_OK;
  }
  const command = COMMANDS[name];
  if (command === undefined) throw usage(`unknown command '${name}' (netshard --help lists them)`);
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${command.help}\n`);
    return EXIT_OK;
  }
  return command.run(rest);
}

// ─── entry ──────────────────────────────────────────────────────────────────────────────────────────────

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const command = COMMANDS[process.argv[2] ?? ''] === undefined ? 'netshard' : `netshard ${process.argv[2]}`;
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`${command}: ${message.split('\n')[0]}\n`);
    if (process.env.NETSHARD_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    const code = err instanceof NetshardError && isUsageCode(err.code) ? EXIT_USAGE : EXIT_FAILURE;
    process.exitCode = code;
  },
);
