/**
 * `netshard demo` (DEMO_HELP): its options, then `runDemo` (demo.ts), which prints through the `log` given
 * here; Ctrl-C aborts it and it removes what it made.
 *
 * Thread: main. Control path throughout.
 */
import { parseArgs } from 'node:util';
import { NetshardError } from '../errors.ts';
import { EXIT_OK, integerOption, usageFromParseArgs } from './cli-common.ts';
import { runDemo } from './demo.ts';

/** `netshard demo --help`. */
export const DEMO_HELP = `Usage: netshard demo [--packets N] [--unprivileged]

A one-minute tour of the engine that leaves nothing behind. As root: three network namespaces (client,
engine, sink) joined by veth pairs, the engine on AF_PACKET fanout sockets with 2 workers, in three steps:
(1) UDP forwarding from client to sink through the engine; (2) ping to the engine's own address (its stack
answers ARP and ICMP echo); (3) reuseport UDP echo servers in app workers, with the flows each instance
answered. Without root: the same engine over AF_UNIX socketpairs, the demo writing the packets itself.

  --packets N                most datagrams the forwarding step sends (it also stops after 5 s);
                             1..10000000, default 200000
  --unprivileged             run the socketpair tour even as root
  -h, --help                 this help

Ctrl-C stops it; everything it made is removed (exit 0).`;

const DEMO_ARGS = {
  packets: { type: 'string' },
  unprivileged: { type: 'boolean' },
} as const;

/** `netshard demo`: see DEMO_HELP. Returns the exit code (0 after Ctrl-C too: the demo cleaned up). */
export async function demoCommand(argv: string[]): Promise<number> {
  let values;
  try {
    values = parseArgs({ args: argv, options: DEMO_ARGS, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw usageFromParseArgs(err);
  }
  const packets = values.packets === undefined ? undefined : integerOption(values.packets, '--packets', 1, 10_000_000, 0);
  const controller = new AbortController();
  const onSignal = (): void => controller.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await runDemo({
      log: (line) => void process.stdout.write(`${line}\n`),
      isTTY: process.stdout.isTTY === true,
      signal: controller.signal,
      forceUnprivileged: values.unprivileged ?? false,
      ...(packets === undefined ? {} : { packets }),
    });
    return EXIT_OK;
  } catch (err) {
    if (err instanceof NetshardError && err.code === 'ERR_NETSHARD_ABORTED') return EXIT_OK;
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
