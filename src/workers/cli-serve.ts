/**
 * `netshard serve` (SERVE_HELP): its options, then `serve` (serve.ts: the engine, its stack and the app
 * workers), each instance's counters once a second, and the summary.
 *
 * Thread: main. Control path throughout.
 */
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { NetshardError } from '../errors.ts';
import { netnsPath } from '../fdbased/index.ts';
import type { AppInstanceStats } from './app-channel.ts';
import {
  EXIT_OK,
  IFNAME,
  MAX_WORKERS_PER_LINK,
  count,
  durationOption,
  integerOption,
  parseAddress,
  parsePrefix,
  trapStopSignals,
  usage,
  usageFromParseArgs,
  type StopReason,
} from './cli-common.ts';
import { serve, type ServeOptions, type UdpServer } from './serve.ts';

/** `netshard serve --help`. */
export const SERVE_HELP = `Usage: netshard serve --interface IFACE --address CIDR --port PORT [options]

Runs SO_REUSEPORT UDP servers on the engine's own stack: AF_PACKET sockets on IFACE (one dispatch worker
each), a stack that owns the --address(es) on that link (it answers ARP, NDP and ICMP echo), and
--instances app workers all bound to PORT, each flow always answered by the same instance.

  --interface IFACE          the interface the engine owns (it should hold no kernel address of its own
                             for the --address(es), or the kernel answers too)
  --address CIDR             an address the stack owns, e.g. 198.18.5.2/24 (repeatable; at least one)
  --gateway ADDR             a default gateway, IPv4 and/or IPv6 (repeatable)
  --port PORT                the UDP port every instance binds, 1..65535
  --instances N              server instances (app workers), 1..64, default 2
  --handler FILE             module whose default export makes the reply; default: echo
  --bind ADDR                address the servers bind: 0.0.0.0 (default), ::, or one of --address
  --workers N                AF_PACKET sockets (and dispatch workers), 1..64, default 1
  --mode MODE                readv | recvmmsg | mmap (PACKET_RX_RING); default recvmmsg
  --netns NAME               open the sockets inside network namespace NAME (from \`ip netns\`, or a path)
  --duration SECONDS         stop after SECONDS (default: run until Ctrl-C or SIGTERM)
  --json                     print the summary as one JSON object on stdout; progress goes to stderr
  -h, --help                 this help

Once a second it prints each instance's datagrams in/out, flows seen and drops. Datagrams whose sender left
the checksum to offload (a local veth peer) are accepted in recvmmsg and mmap modes; readv verifies all.
Needs CAP_NET_RAW
(AF_PACKET), and CAP_SYS_ADMIN with --netns: run as root.`;

// ─── serve: options ─────────────────────────────────────────────────────────────────────────────────────

interface ServeCliOptions {
  options: ServeOptions;
  /** Seconds; 0: until a signal. */
  duration: number;
  json: boolean;
}

const SERVE_ARGS = {
  interface: { type: 'string' },
  address: { type: 'string', multiple: true },
  gateway: { type: 'string', multiple: true },
  port: { type: 'string' },
  instances: { type: 'string' },
  handler: { type: 'string' },
  bind: { type: 'string' },
  workers: { type: 'string' },
  mode: { type: 'string' },
  netns: { type: 'string' },
  duration: { type: 'string' },
  json: { type: 'boolean' },
} as const;

const MAX_SERVE_INSTANCES = 64;

/** Parses and checks `netshard serve` options. Throws ERR_NETSHARD_USAGE with a one-line message. */
function parseServeOptions(argv: string[]): ServeCliOptions {
  let values;
  try {
    values = parseArgs({ args: argv, options: SERVE_ARGS, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw usageFromParseArgs(err);
  }
  const name = values.interface;
  if (name === undefined) throw usage('--interface IFACE is required');
  if (!IFNAME.test(name)) throw usage(`--interface must be an interface name of 1 to 15 characters, received '${name}'`);
  const addresses = values.address ?? [];
  if (addresses.length === 0) throw usage('--address CIDR is required (at least one)');
  for (const a of addresses) {
    if (parsePrefix(a) === null) throw usage(`--address must be an address with a prefix length (198.18.5.2/24, 2001:2::2/64), received '${a}'`);
  }
  const gateways = values.gateway ?? [];
  for (const g of gateways) if (parseAddress(g) === null) throw usage(`--gateway must be an IPv4 or IPv6 address, received '${g}'`);
  if (values.port === undefined) throw usage('--port PORT is required');
  const port = integerOption(values.port, '--port', 1, 65535, 0);
  const instances = integerOption(values.instances, '--instances', 1, MAX_SERVE_INSTANCES, 2);
  const fds = integerOption(values.workers, '--workers', 1, MAX_WORKERS_PER_LINK, 1);
  const mode = values.mode ?? 'recvmmsg';
  if (mode !== 'readv' && mode !== 'recvmmsg' && mode !== 'mmap') throw usage(`--mode must be readv, recvmmsg or mmap, received '${mode}'`);
  const netns = values.netns;
  if (netns !== undefined && (netns === '' || netns === '.' || netns === '..')) throw usage(`--netns must name a network namespace, received '${netns}'`);
  const bind = values.bind;
  if (bind !== undefined && parseAddress(bind) === null) throw usage(`--bind must be an IPv4 or IPv6 address, received '${bind}'`);
  if (values.handler === '') throw usage('--handler must name a module file');
  const options: ServeOptions = { interface: name, addresses, gateways, fds, dispatchMode: mode, port, instances };
  if (netns !== undefined) options.netns = netns;
  if (values.handler !== undefined) options.handler = values.handler;
  if (bind !== undefined) options.bindAddress = bind;
  return { options, duration: durationOption(values.duration), json: values.json ?? false };
}

// ─── serve ──────────────────────────────────────────────────────────────────────────────────────────────

/** What an instance dropped, all causes (`AppStat`): ring full, too big, malformed, bad checksum, reply and send drops. */
function instanceDrops(s: AppInstanceStats): number {
  return s.rxRingDrops + s.rxTooBig + s.malformed + s.checksumErrors + s.replyDrops + s.sendErrors;
}

function instanceLine(s: AppInstanceStats): string {
  return `#${s.instance} in ${count(s.datagramsIn)} out ${count(s.datagramsOut)} flows ${count(s.flowsSeen)} drops ${count(instanceDrops(s))}`;
}

/** `netshard serve`: see SERVE_HELP. Returns the exit code. */
export async function serveCommand(argv: string[]): Promise<number> {
  const { options: o, duration, json } = parseServeOptions(argv);
  if (o.netns !== undefined && !existsSync(netnsPath(o.netns))) throw new NetshardError('ENOENT', `no network namespace '${o.netns}' (ip netns list shows them)`);
  const progress = json ? process.stderr : process.stdout;
  const say = (line: string): void => void progress.write(`${line}\n`);
  let stop: (reason: StopReason) => void = () => {};
  const stopped = new Promise<StopReason>((resolve) => (stop = resolve));
  const signals = trapStopSignals((signal) => stop(signal));
  let server: UdpServer | null = null;
  try {
    server = await serve(o);
    const startedAt = performance.now();
    say(
      `serving udp port ${o.port} on ${o.bindAddress ?? '0.0.0.0'}: ${o.instances} instance(s), ${o.interface}${o.netns === undefined ? '' : ` in ${o.netns}`} ` +
        `(${o.addresses.join(', ')}), ${o.dispatchMode}, ${o.fds} worker(s); Ctrl-C stops`,
    );
    const tty = progress.isTTY === true;
    let ticks = 0;
    let shown = false;
    const live = server;
    const timer = setInterval(() => {
      ticks++;
      const line = `[${ticks}s] ${live.readStats().instances.map(instanceLine).join(' | ')}`;
      if (tty) {
        progress.write(`\r\x1b[2K${line}`);
        shown = true;
      } else {
        say(line);
      }
    }, 1000);
    const limit = duration > 0 ? setTimeout(() => stop('duration'), duration * 1000) : null;
    const reason = await stopped;
    signals.markStopping();
    clearInterval(timer);
    if (limit !== null) clearTimeout(limit);
    if (shown) progress.write('\r\x1b[2K');
    const seconds = (performance.now() - startedAt) / 1000;
    await server.close();
    const stats = server.readStats();
    const instances = stats.instances.map((s) => ({ ...s, drops: instanceDrops(s) }));
    const totals = { datagramsIn: 0, datagramsOut: 0, flowsSeen: 0, drops: 0 };
    for (const s of instances) {
      totals.datagramsIn += s.datagramsIn;
      totals.datagramsOut += s.datagramsOut;
      totals.flowsSeen += s.flowsSeen;
      totals.drops += s.drops;
    }
    if (json) {
      const summary = {
        command: 'serve', interface: o.interface, netns: o.netns ?? null, addresses: o.addresses, port: o.port, bindAddress: o.bindAddress ?? '0.0.0.0',
        instancesRequested: o.instances, mode: o.dispatchMode, workers: o.fds, stoppedBy: reason, seconds, totals, instances,
        dispatchWorkers: stats.workers, send: stats.send,
      };
      process.stdout.write(`${JSON.stringify(summary)}\n`);
    }
    say(`stopped (${reason}) after ${seconds.toFixed(1)} s`);
    for (const s of stats.instances) say(`  instance ${instanceLine(s)}`);
    say(`  total in ${count(totals.datagramsIn)} out ${count(totals.datagramsOut)} flows ${count(totals.flowsSeen)} drops ${count(totals.drops)}`);
    return EXIT_OK;
  } finally {
    await server?.close();
    signals.release();
  }
}
