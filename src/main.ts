#!/usr/bin/env node
/**
 * netshard's command line: `netshard <command> [options]`. It parses and checks the options, opens the
 * fds, wires the engine (`src/workers`), and prints; the packet work is the engine's. Commands:
 * `forward`, `serve` (reuseport UDP servers on the engine's stack) and `demo` (the tour `npm start` runs),
 * below. `netshard --help`, `netshard help [command]`, `netshard <command> --help`.
 *
 * Exit codes: 0 ok (also after Ctrl-C / SIGTERM), 1 runtime failure, 2 bad usage. Bad options and missing
 * privileges print one line on stderr, never a stack trace.
 *
 * `netshard forward` wiring:
 * ```
 *   --in IFACE  ─ N AF_PACKET fds (one fanout group) or N TUN queues ─┐
 *                                                                     ├─ Engine: one dispatch worker per fd;
 *   --out IFACE ─ N AF_PACKET fds (one fanout group) or N TUN queues ─┘  L3: ForwardingConfig (the kernel's
 *                                                                        addresses → connected routes, --route,
 *   kernel of the namespace: `readKernelLink` (`ip -j`, read once)       kernel neighbours + --neighbor)
 *   main thread: live stats once a second, the summary, signals          L2 (--bridge): { kind: 'bridge' }
 * ```
 * The fanout group ignores outgoing frames (`openPacketSockets(…, { ignoreOutgoing: true })`); the kernel's
 * view (`readKernelLink`, `forwardingConfigFromKernel`) lives in `workers/forward-setup.ts`, the L3 resolver
 * in `workers/forward-resolver.ts`, the bridge in `workers/bridge-forwarder.ts` (run in the workers).
 * Neighbours: the kernel's table (a snapshot) and --neighbor seed the workers; in L3 over AF_PACKET the
 * coordinator runs a `ForwardResolver` (a `Stack` owning the interfaces' addresses) that resolves the
 * next hops the workers do not know by ARP/NDP and hands what it learns to them (`Engine.updateNeighbors`).
 *
 * `netshard serve` wires `serve` (workers/serve.ts) and prints each instance's counters once a second;
 * `netshard demo` runs `runDemo` (workers/demo.ts), which prints through the `log` given here.
 *
 * Length (~890 lines, past STYLE's ~400): the layering rule lets `main.ts` import only folder index
 * files and gives a top-level file no folder imports, so a second CLI file could not reach the engine.
 * What is left is options (three commands' parsing and checks), counters and printing.
 *
 * Thread: main. Control path throughout.
 */
import { existsSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { NetshardError } from './errors.ts';
import { closeFds, netnsPath, openPacketSockets, openTun, type DispatchMode } from './fdbased/index.ts';
import { parseIpv4, parseIpv6 } from './tcpip/index.ts';
import {
  Engine,
  ForwardResolver,
  forwardingConfigFromKernel,
  kernelForwardingKeys,
  linkOnSubnet,
  readKernelLink,
  type ForwardNeighbor,
  type ForwardRoute,
  type KernelLink,
  type WorkerExitEvent,
  type WorkerStats,
  runDemo,
  serve,
  type AppInstanceStats,
  type ServeOptions,
  type UdpServer,
} from './workers/index.ts';
import { BENCH_HELP, parseBenchArgs, runBench } from './workers/index.ts';

/** Process exit codes. */
const EXIT_OK = 0;
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

// ─── Commands ─────────────────────────────────────────────────────────────────────────────────────────────

interface Command {
  summary: string;
  help: string;
  run(argv: string[]): Promise<number>;
}

const FORWARD_HELP = `Usage: netshard forward --in IFACE --out IFACE [options]

Forwards packets between two interfaces, both ways: one worker thread per fd receives a batch, routes
each packet (TTL - 1, MACs rewritten) and sends it on the other interface itself. With --bridge it
routes nothing: each frame goes out on the other interface as it came in, sent by the same worker.

  --in IFACE                 one interface
  --out IFACE                the other; routes without via= or dev= leave here
  --workers N                fds (and workers) per interface: AF_PACKET sockets in one fanout group,
                             or TUN queues; 1..64, default 1
  --mode MODE                readv | recvmmsg | mmap (PACKET_RX_RING); default recvmmsg, readv with --tun
  --bridge                   L2: every frame goes to the other side unchanged, MACs and TTL included
                             (IPv4, IPv6 and ARP; frames of other EtherTypes are dropped and counted)
  --tun                      IFACE names TUN devices (made multi-queue when --workers > 1)
  --qdisc                    send through the interfaces' qdisc (tc rules, tcpdump sees forwarded frames
                             leave); default: PACKET_QDISC_BYPASS, ~7% less CPU per 64-byte packet
  --netns NAME               open the fds inside network namespace NAME (from \`ip netns\`, or a path)
  --route CIDR[,via=ADDR][,dev=IFACE]
                             one more route (repeatable); both interfaces' connected routes are always in
  --neighbor ADDR=MAC[,dev=IFACE]
                             a static next hop (repeatable), on top of the kernel's resolved neighbours
  --duration SECONDS         stop after SECONDS (default: run until Ctrl-C or SIGTERM)
  --json                     print the summary as one JSON object on stdout; progress goes to stderr
  -h, --help                 this help

Next hops: the kernel's resolved neighbours (read once at start) and --neighbor go to the workers; a
next hop they do not know is resolved by the engine's own stack on the main thread (ARP / IPv6 neighbour
discovery from the interfaces' addresses; packets wait in a bounded queue meanwhile, and are dropped and
counted if it fails), and every entry it learns is handed to the workers, which forward to it from then
on. It keeps verifying those entries and takes them back from the workers when they fail. --tun
resolves nothing (no link layer), nor does --bridge (frames pass unchanged).

TTL / hop limit 1 is dropped and answered with a rate-limited ICMP time exceeded, from the ingress
interface's address, by the worker itself; so is a packet over the egress MTU (ICMP fragmentation needed
for IPv4 with DF, packet too big for IPv6; IPv4 without DF is dropped: the engine does not fragment). No
route is dropped and counted. With --tun that address is
the kernel's own on the TUN device, so the namespace's kernel drops the IPv4 error as a martian unless
net.ipv4.conf.<tun>.accept_local=1 (IPv6 has no such check).

The AF_PACKET sockets send with PACKET_QDISC_BYPASS unless --qdisc is given (no qdisc: tc rules do not
apply, and tcpdump on the interfaces does not see the forwarded frames leave).

The namespace's kernel keeps answering ARP and pings for the interfaces' own addresses (it sees every
frame too); keep its forwarding off (sysctl net.ipv4.ip_forward=0), or packets are forwarded twice.
Needs CAP_NET_RAW (AF_PACKET) or CAP_NET_ADMIN (--tun), and CAP_SYS_ADMIN with --netns: run as root.`;

const DEMO_HELP = `Usage: netshard demo [--packets N] [--unprivileged]

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

const SERVE_HELP = `Usage: netshard serve --interface IFACE --address CIDR --port PORT [options]

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

const COMMANDS: Record<string, Command> = {
  forward: { summary: 'forward packets between two interfaces (L3 routing, or L2 with --bridge)', help: FORWARD_HELP, run: forward },
  serve: { summary: 'reuseport UDP servers in app workers on the engine\'s own stack', help: SERVE_HELP, run: serveCommand },
  demo: { summary: 'a one-minute tour: forwarding, the stack (ARP, ping), reuseport servers', help: DEMO_HELP, run: demo },
  bench: { summary: 'the forwarding matrix: netshard vs the kernel and a C forwarder, same run', help: BENCH_HELP, run: bench },
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

/** Whether an error code means bad usage (exit 2): ours, or Node's for a bad argument / out of range. */
function isUsageCode(code: string): boolean {
  return code === 'ERR_NETSHARD_USAGE' || code === 'ERR_OUT_OF_RANGE' || code.startsWith('ERR_INVALID_ARG_');
}

/**
 * Sends SIGINT / SIGTERM to `stop(signal)` until `release()`. After `markStopping()` a second signal exits
 * at once (130), so a stop that hangs can still be left with another Ctrl-C. Used by forward and serve.
 */
function trapStopSignals(stop: (signal: 'SIGINT' | 'SIGTERM') => void): { markStopping(): void; release(): void } {
  let stopping = false;
  const handler = (signal: 'SIGINT' | 'SIGTERM') => () => {
    if (stopping) process.exit(130);
    stop(signal);
  };
  const onInt = handler('SIGINT');
  const onTerm = handler('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return {
    markStopping: () => void (stopping = true),
    release: () => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    },
  };
}

function usage(message: string): NetshardError {
  return new NetshardError('ERR_NETSHARD_USAGE', message);
}

// ─── forward: options ─────────────────────────────────────────────────────────────────────────────────────

interface ForwardOptions {
  links: [string, string];
  workers: number;
  mode: DispatchMode;
  bridge: boolean;
  tun: boolean;
  /** Send through the qdisc (no PACKET_QDISC_BYPASS). */
  qdisc: boolean;
  netns: string | undefined;
  routes: RouteOption[];
  neighbors: NeighborOption[];
  /** Seconds; 0: until a signal. */
  duration: number;
  json: boolean;
}

interface RouteOption {
  text: string;
  destination: string;
  via: string | undefined;
  dev: string | undefined;
}

interface NeighborOption {
  text: string;
  address: IpAddress;
  mac: string;
  dev: string | undefined;
}

const FORWARD_ARGS = {
  in: { type: 'string' },
  out: { type: 'string' },
  workers: { type: 'string' },
  mode: { type: 'string' },
  bridge: { type: 'boolean' },
  tun: { type: 'boolean' },
  qdisc: { type: 'boolean' },
  netns: { type: 'string' },
  route: { type: 'string', multiple: true },
  neighbor: { type: 'string', multiple: true },
  duration: { type: 'string' },
  json: { type: 'boolean' },
} as const;

const MAX_WORKERS_PER_LINK = 64;
const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;
/** An interface name as the kernel takes it: 1..15 bytes, no '/', ':' or whitespace. */
const IFNAME = /^[^\s/:]{1,15}$/;

/** Parses and checks `netshard forward` options. Throws ERR_NETSHARD_USAGE with a one-line message. */
function parseForwardOptions(argv: string[]): ForwardOptions {
  const values = parseForwardArgs(argv);
  const inName = values.in, outName = values.out;
  if (inName === undefined || outName === undefined) throw usage('--in IFACE and --out IFACE are both required');
  for (const [flag, name] of [['--in', inName], ['--out', outName]] as const) {
    if (!IFNAME.test(name)) throw usage(`${flag} must be an interface name of 1 to 15 characters, received '${name}'`);
  }
  if (inName === outName) throw usage(`--in and --out must be two interfaces, both are '${inName}'`);
  const workers = integerOption(values.workers, '--workers', 1, MAX_WORKERS_PER_LINK, 1);
  const tun = values.tun ?? false;
  const bridge = values.bridge ?? false;
  const mode = values.mode ?? (tun ? 'readv' : 'recvmmsg');
  if (mode !== 'readv' && mode !== 'recvmmsg' && mode !== 'mmap') throw usage(`--mode must be readv, recvmmsg or mmap, received '${mode}'`);
  if (tun && mode !== 'readv') throw usage(`--mode ${mode} reads sockets; TUN queues are read with readv (drop --mode)`);
  const qdisc = values.qdisc ?? false;
  if (tun && qdisc) throw usage('--qdisc applies to AF_PACKET sockets; a TUN device is written with write() (drop --qdisc)');
  const netns = values.netns;
  if (netns !== undefined && (netns === '' || netns === '.' || netns === '..')) throw usage(`--netns must name a network namespace, received '${netns}'`);
  let duration = 0;
  if (values.duration !== undefined) {
    duration = Number(values.duration);
    if (values.duration.trim() === '' || !Number.isFinite(duration) || duration <= 0 || duration > 31_536_000) {
      throw usage(`--duration must be a number of seconds above 0, received '${values.duration}'`);
    }
  }
  const names = [inName, outName];
  const routes = (values.route ?? []).map((text) => parseRouteOption(text, names));
  const neighbors = (values.neighbor ?? []).map((text) => parseNeighborOption(text, names));
  if (bridge && (routes.length > 0 || neighbors.length > 0)) throw usage('--bridge forwards every frame unchanged: --route and --neighbor do not apply');
  return { links: [inName, outName], workers, mode, bridge, tun, qdisc, netns, routes, neighbors, duration, json: values.json ?? false };
}

/** Node's parseArgs, its errors made one usage line (its messages add advice after the first sentence). */
function parseForwardArgs(argv: string[]) {
  try {
    return parseArgs({ args: argv, options: FORWARD_ARGS, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw usageFromParseArgs(err);
  }
}

/** A parseArgs error as one usage line (its messages add advice after the first sentence). */
function usageFromParseArgs(err: unknown): NetshardError {
  const text = err instanceof Error ? err.message : String(err);
  // "--duration -1": parseArgs reads '-1' as an option and calls the value ambiguous; say what to type.
  const ambiguous = /^Option '(-[-\w]+)' argument is ambiguous/.exec(text);
  if (ambiguous !== null) {
    return usage(`option '${ambiguous[1]}' needs a value; one that starts with '-' is written ${ambiguous[1]}=VALUE`);
  }
  return usage(text.split(/\.(?:\s|$)/)[0]!.replace(/^[A-Z]/, (c) => c.toLowerCase()));
}

function integerOption(text: string | undefined, flag: string, min: number, max: number, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) throw usage(`${flag} must be an integer from ${min} to ${max}, received '${text}'`);
  return n;
}

/** `--route CIDR[,via=ADDR][,dev=IFACE]`. */
function parseRouteOption(text: string, names: readonly string[]): RouteOption {
  const [cidr = '', ...rest] = text.split(',');
  const prefix = parsePrefix(cidr);
  if (prefix === null) throw usage(`--route ${text}: '${cidr}' is not a CIDR prefix like 198.18.0.0/15 or 2001:2::/48`);
  if (!hostBitsZero(prefix)) throw usage(`--route ${text}: ${cidr} has host bits set`);
  let via: string | undefined, dev: string | undefined;
  for (const part of rest) {
    const [key, value = ''] = part.split('=', 2);
    if (key === 'via') {
      const gateway = parseAddress(value);
      if (gateway === null || gateway.family !== prefix.family) throw usage(`--route ${text}: via= needs an IPv${prefix.family} address, received '${value}'`);
      via = value;
    } else if (key === 'dev') {
      if (!names.includes(value)) throw usage(`--route ${text}: dev= must be ${names.join(' or ')}, received '${value}'`);
      dev = value;
    } else {
      throw usage(`--route ${text}: unknown part '${part}' (via=ADDR, dev=IFACE)`);
    }
  }
  return { text, destination: cidr, via, dev };
}

/** `--neighbor ADDR=MAC[,dev=IFACE]`. */
function parseNeighborOption(text: string, names: readonly string[]): NeighborOption {
  const [pair = '', ...rest] = text.split(',');
  const eq = pair.indexOf('=');
  const address = parseAddress(eq < 0 ? pair : pair.slice(0, eq));
  const mac = eq < 0 ? '' : pair.slice(eq + 1);
  if (address === null || !MAC.test(mac)) throw usage(`--neighbor ${text}: want ADDR=MAC, like 198.18.1.1=02:00:00:00:01:01`);
  let dev: string | undefined;
  for (const part of rest) {
    const [key, value = ''] = part.split('=', 2);
    if (key !== 'dev' || !names.includes(value)) throw usage(`--neighbor ${text}: the only extra part is dev=${names.join('|')}`);
    dev = value;
  }
  return { text, address, mac: mac.toLowerCase(), dev };
}

// ─── Addresses and prefixes (edges only: strings in, bytes out) ─────────────────────────────────────────

interface IpAddress {
  text: string;
  family: 4 | 6;
  bytes: Uint8Array;
}

interface IpPrefix extends IpAddress {
  length: number;
}

function parseAddress(text: string): IpAddress | null {
  const v4 = parseIpv4(text);
  if (v4 >= 0) return { text, family: 4, bytes: new Uint8Array([v4 >>> 24, (v4 >>> 16) & 0xff, (v4 >>> 8) & 0xff, v4 & 0xff]) };
  const bytes = new Uint8Array(16);
  return parseIpv6(text, bytes) ? { text, family: 6, bytes } : null;
}

function parsePrefix(text: string): IpPrefix | null {
  const slash = text.indexOf('/');
  if (slash < 0) return null;
  const address = parseAddress(text.slice(0, slash));
  const lengthText = text.slice(slash + 1);
  if (address === null || !/^\d{1,3}$/.test(lengthText)) return null;
  const length = Number(lengthText);
  return length <= address.bytes.length * 8 ? { ...address, text, length } : null;
}

/** Whether the first `bits` bits of `a` and `b` agree. */
function samePrefix(a: Uint8Array, b: Uint8Array, bits: number): boolean {
  for (let i = 0; i < bits; i++) if (((a[i >> 3]! ^ b[i >> 3]!) & (0x80 >> (i & 7))) !== 0) return false;
  return true;
}

/** Whether every bit of `p` past its prefix length is 0 (`198.18.1.0/24` yes, `198.18.1.1/24` no). */
function hostBitsZero(p: IpPrefix): boolean {
  return samePrefix(p.bytes, new Uint8Array(p.bytes.length), p.bytes.length * 8) || samePrefix(p.bytes, networkOf(p), p.bytes.length * 8);
}

/** `p`'s address with the host bits cleared. */
function networkOf(p: IpPrefix): Uint8Array {
  const out = new Uint8Array(p.bytes.length);
  for (let i = 0; i < p.length; i++) out[i >> 3]! |= p.bytes[i >> 3]! & (0x80 >> (i & 7));
  return out;
}

// ─── forward: the kernel's view of the two interfaces ───────────────────────────────────────────────────

/**
 * Places --route and --neighbor on a link (dev=, else the link whose subnet holds the address; routes
 * without either leave on --out): with the kernel's addresses and neighbours they make the workers' L3
 * rules (`forwardingConfigFromKernel`) and the resolver's stack. Throws ERR_NETSHARD_USAGE.
 */
function forwardingRules(o: ForwardOptions, kernel: readonly KernelLink[]): { routes: ForwardRoute[]; neighbors: ForwardNeighbor[] } {
  const linkOf = (name: string | undefined): number => (name === undefined ? -1 : o.links.indexOf(name));
  const routes = o.routes.map((r) => {
    let link = linkOf(r.dev);
    if (link < 0 && r.via !== undefined) {
      link = linkOnSubnet(kernel, r.via);
      if (link < 0) throw usage(`--route ${r.text}: ${r.via} is on neither ${o.links.join(' nor ')}'s subnets (add dev=IFACE)`);
    }
    if (link < 0) link = 1;
    return r.via === undefined ? { destination: r.destination, link } : { destination: r.destination, link, gateway: r.via };
  });
  const neighbors = o.neighbors.map((n) => {
    const link = n.dev !== undefined ? linkOf(n.dev) : linkOnSubnet(kernel, n.address.text);
    if (link < 0) throw usage(`--neighbor ${n.text}: ${n.address.text} is on neither ${o.links.join(' nor ')}'s subnets (add dev=IFACE)`);
    return { link, address: n.address.text, linkAddress: n.mac };
  });
  return { routes, neighbors };
}

// ─── forward: fds ───────────────────────────────────────────────────────────────────────────────────────

/**
 * Opens the fds of both links: TUN queues, or AF_PACKET sockets in one fanout group that ignores outgoing
 * frames (without that, every frame the engine sends on an interface comes back to that interface's own
 * sockets: double the receive work in L3, a loop in --bridge), and that send with PACKET_QDISC_BYPASS unless
 * --qdisc (no qdisc, no taps: ~7% less CPU per 64-byte packet on veth; tcpdump on the interface does not see
 * what the engine sends). Closes what it opened on failure.
 */
function openLinks(o: ForwardOptions): [number[], number[]] {
  const opened: number[][] = [];
  const netns = o.netns === undefined ? {} : { netns: o.netns };
  try {
    for (const name of o.links) {
      opened.push(o.tun ? openTun(name, { queues: o.workers, ...netns }).fds : openPacketSockets(name, o.workers, { ignoreOutgoing: true, qdiscBypass: !o.qdisc, ...netns }).fds);
    }
    return [opened[0]!, opened[1]!];
  } catch (err) {
    closeFds(opened.flat());
    throw err;
  }
}

/** Linux capability numbers (linux/capability.h). */
const CAP_NET_ADMIN = 12, CAP_NET_RAW = 13, CAP_SYS_ADMIN = 21;

/** Throws ERR_NETSHARD_PRIVILEGE (one line) when the process lacks what `o` needs. */
function checkPrivileges(o: ForwardOptions): void {
  let effective = 0n;
  try {
    const line = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    effective = BigInt(`0x${line?.[1] ?? '0'}`);
  } catch {
    return; // no /proc: let the syscalls speak
  }
  const need: [number, string][] = [o.tun ? [CAP_NET_ADMIN, 'CAP_NET_ADMIN to open TUN devices'] : [CAP_NET_RAW, 'CAP_NET_RAW to open AF_PACKET sockets']];
  if (o.netns !== undefined) need.push([CAP_SYS_ADMIN, 'CAP_SYS_ADMIN to enter --netns']);
  const missing = need.filter(([cap]) => (effective & (1n << BigInt(cap))) === 0n).map(([, why]) => why);
  if (missing.length > 0) throw new NetshardError('ERR_NETSHARD_PRIVILEGE', `needs ${missing.join(' and ')}: run it as root`);
}

// ─── forward: counters ──────────────────────────────────────────────────────────────────────────────────

const COUNTERS = ['rxPackets', 'rxBytes', 'txPackets', 'txBytes', 'forwarded', 'toCoordinator', 'rxDrops', 'forwardDrops', 'ringDrops', 'txDrops'] as const;
type Counts = Record<(typeof COUNTERS)[number], number>;

interface SlotTotals extends Counts {
  /** Packets this slot lost in any way: parse, forwarder, ring and send drops. */
  drops: number;
  rxDropsByReason: Record<string, number>;
  forwardReasons: Record<string, number>;
}

/**
 * Per worker slot, the counters of every generation: `workerStats()` shows only the live one, so a
 * generation's final counts are carried over when it exits (the 'workerExit' listener runs before the
 * engine spawns the replacement, so `workerStats()[slot]` is still the gone one's there).
 */
class Tally {
  private readonly carried: SlotTotals[];

  constructor(slots: number) {
    this.carried = Array.from({ length: slots }, () => emptyTotals());
  }

  carry(slot: number, stats: WorkerStats): void {
    const c = this.carried[slot];
    if (c !== undefined) addInto(c, stats);
  }

  totals(live: readonly WorkerStats[]): SlotTotals[] {
    return this.carried.map((c, slot) => addInto(addInto(emptyTotals(), c), live[slot]));
  }
}

function emptyTotals(): SlotTotals {
  const t = { drops: 0, rxDropsByReason: {}, forwardReasons: {} } as SlotTotals;
  for (const k of COUNTERS) t[k] = 0;
  return t;
}

function addInto(into: SlotTotals, from: WorkerStats | SlotTotals | undefined): SlotTotals {
  if (from === undefined) return into;
  for (const k of COUNTERS) into[k] += from[k];
  into.drops = into.rxDrops + into.forwardDrops + into.ringDrops + into.txDrops;
  for (const [k, v] of Object.entries(from.rxDropsByReason)) into.rxDropsByReason[k] = (into.rxDropsByReason[k] ?? 0) + v;
  for (const [k, v] of Object.entries(from.forwardReasons)) into.forwardReasons[k] = (into.forwardReasons[k] ?? 0) + v;
  return into;
}

/** Main-thread CPU seconds (user + system) from /proc/self/task/<pid>/stat: the coordinator's share. */
function mainThreadCpuSeconds(): number {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in USER_HZ ticks (100 on Linux)
  } catch {
    return Number.NaN;
  }
}

// ─── forward: printing ──────────────────────────────────────────────────────────────────────────────────

const count = (n: number): string => String(Math.round(n));
const rate = (pps: number): string => (pps >= 1e6 ? `${(pps / 1e6).toFixed(2)} M` : pps >= 1e3 ? `${(pps / 1e3).toFixed(1)} k` : `${Math.round(pps)}`);

function table(labels: readonly string[], totals: readonly SlotTotals[], pps: readonly number[]): string[] {
  const rows = [['worker', 'rx', 'tx', 'forwarded', 'to coord', 'drops', 'rx pps']];
  totals.forEach((t, i) => rows.push([labels[i]!, count(t.rxPackets), count(t.txPackets), count(t.forwarded), count(t.toCoordinator), count(t.drops), rate(pps[i] ?? 0)]));
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]! + 2))).join(''));
}

/** Forwarder outcomes that are not drops in the worker: sent, for the stack, or handed to the resolver. */
const HANDED_ON = new Set(['Forwarded', 'Local', 'Queued', 'Unresolved', 'NeighborFailed', 'NeighborFull']);

/** 'NoRoute 5, TtlExceeded 2, parse Ipv4BadIhl 1, …': the workers' drops by reason, '' when none. */
function dropReasons(t: SlotTotals): string {
  const parts: string[] = [];
  for (const [name, n] of Object.entries(t.forwardReasons)) if (n > 0 && !HANDED_ON.has(name)) parts.push(`${name} ${count(n)}`);
  for (const [name, n] of Object.entries(t.rxDropsByReason)) if (n > 0) parts.push(`parse ${name} ${count(n)}`);
  if (t.ringDrops > 0) parts.push(`coordinator behind ${count(t.ringDrops)}`);
  if (t.txDrops > 0) parts.push(`send refused ${count(t.txDrops)}`);
  return parts.join(', ');
}

// ─── forward ────────────────────────────────────────────────────────────────────────────────────────────

type StopReason = 'SIGINT' | 'SIGTERM' | 'duration' | 'link-ended';

/** `netshard forward`: see FORWARD_HELP. Returns the exit code. */
async function forward(argv: string[]): Promise<number> {
  const o = parseForwardOptions(argv);
  checkPrivileges(o);
  const progress = o.json ? process.stderr : process.stdout;
  const say = (line: string): void => void progress.write(`${line}\n`);
  if (o.netns !== undefined && !existsSync(netnsPath(o.netns))) throw new NetshardError('ENOENT', `no network namespace '${o.netns}' (ip netns list shows them)`);
  const [inFds, outFds] = openLinks(o);
  try {
    const kernel = o.links.map((name) => readKernelLink(name, o.netns));
    const rules = o.bridge ? null : forwardingRules(o, kernel);
    // L2: each worker sends every frame on the other link itself, as L3 does (bridge-forwarder.ts).
    const forwarding = rules === null ? { kind: 'bridge' as const } : forwardingConfigFromKernel(kernel, rules.routes, rules.neighbors);
    // L3 over Ethernet: the coordinator's stack resolves the next hops the workers do not know.
    const resolver = rules === null || o.tun ? null : new ForwardResolver(kernel, rules.routes, rules.neighbors);
    const twice = kernelForwardingKeys(o.netns);
    if (twice.length > 0) say(`warning: the kernel${o.netns === undefined ? '' : ` in ${o.netns}`} forwards too (${twice.join(', ')} = 1): packets may be forwarded twice`);
    const engine = new Engine({
      links: [inFds, outFds].map((fds, i) => ({
        fds,
        ethernetHeader: !o.tun,
        linkAddress: o.bridge ? '' : kernel[i]!.mac, // a bridge takes frames for any MAC
        dispatchMode: o.mode,
        mtu: Math.min(Math.max(kernel[i]!.mtu, 68), 65535),
      })),
      forwarding,
      ...(resolver === null ? {} : { stack: resolver }),
    });
    const labels = [...inFds.map((_, q) => `${o.links[0]}#${q}`), ...outFds.map((_, q) => `${o.links[1]}#${q}`)];
    return await run(o, engine, resolver, labels, kernel, say);
  } finally {
    closeFds([...inFds, ...outFds]);
  }
}

/** Runs a built engine until a signal, --duration, or a link without workers; prints; returns the exit code. */
async function run(
  o: ForwardOptions, engine: Engine, resolver: ForwardResolver | null, labels: string[], kernel: KernelLink[], say: (line: string) => void,
): Promise<number> {
  const tally = new Tally(labels.length);
  const exits: { worker: string; generation: number; reason: string; restarting: boolean; error: string | null }[] = [];
  let stop: (reason: StopReason) => void = () => {};
  const stopped = new Promise<StopReason>((resolve) => (stop = resolve));
  let failure = '';
  let live: LiveView | null = null;
  const note = (line: string): void => {
    live?.end(); // a TTY table is redrawn below the note at the next tick
    say(line);
  };
  const gone = new Set<number>();
  engine.on('workerExit', (e: WorkerExitEvent) => {
    tally.carry(e.slot, engine.workerStats()[e.slot]!);
    exits.push({ worker: labels[e.slot]!, generation: e.generation, reason: e.reason, restarting: e.restarting, error: e.error?.message ?? null });
    note(`worker ${labels[e.slot]} ${e.reason}${e.error === null ? '' : ` (${e.error.message})`}${e.restarting ? ', restarting' : ''}`);
    if (e.restarting) return;
    gone.add(e.slot);
    const link = e.slot < o.workers ? 0 : 1;
    const slots = labels.map((_, s) => s).filter((s) => (s < o.workers ? 0 : 1) === link);
    if (slots.every((s) => gone.has(s))) {
      failure = `${o.links[link]}: no worker left${e.error === null ? '' : ` (${e.error.message})`}`;
      stop('link-ended');
    }
  });
  const signals = trapStopSignals((signal) => stop(signal));
  try {
    await engine.start();
    const startedAt = performance.now();
    const eluStart = performance.eventLoopUtilization();
    const cpuStart = mainThreadCpuSeconds();
    const what = o.bridge ? 'L2 bridge' : `L3, ${kernel.reduce((n, k) => n + k.addresses.length, 0)} addresses, ${o.routes.length} extra routes`;
    say(`forwarding ${o.links[0]} <-> ${o.links[1]}${o.netns === undefined ? '' : ` in ${o.netns}`}: ${what}, ${o.mode}, ${o.workers} worker(s) per side; Ctrl-C stops`);
    const view = new LiveView(o.json ? process.stderr : process.stdout, labels, engine, tally, say, resolver);
    live = view;
    const timer = setInterval(() => view.tick(), 1000);
    const limit = o.duration > 0 ? setTimeout(() => stop('duration'), o.duration * 1000) : null;
    const reason = await stopped;
    signals.markStopping();
    clearInterval(timer);
    if (limit !== null) clearTimeout(limit);
    view.end();
    live = null;
    const elu = performance.eventLoopUtilization(eluStart);
    const cpu = mainThreadCpuSeconds() - cpuStart;
    const seconds = (performance.now() - startedAt) / 1000;
    await engine.stop();
    const totals = tally.totals(engine.workerStats());
    const sum = emptyTotals();
    for (const t of totals) addInto(sum, t);
    const coordinator = {
      eventLoopUtilization: elu.utilization,
      cpuSeconds: cpu,
      busyFraction: seconds > 0 ? cpu / seconds : 0,
      ...(resolver === null ? {} : { neighbors: resolver.stats() }),
      ...engine.coordinatorStats(),
    };
    if (o.json) {
      const workers = totals.map((t, slot) => ({ slot, worker: labels[slot], interface: o.links[slot < o.workers ? 0 : 1], queue: slot % o.workers, ...t }));
      const summary = {
        command: 'forward', in: o.links[0], out: o.links[1], netns: o.netns ?? null, mode: o.mode, workersPerLink: o.workers, bridge: o.bridge, tun: o.tun,
        qdiscBypass: !o.tun && !o.qdisc,
        stoppedBy: reason, seconds, totals: { ...sum, rxPps: sum.rxPackets / seconds, txPps: sum.txPackets / seconds }, workers, coordinator, exits,
      };
      process.stdout.write(`${JSON.stringify(summary)}\n`);
    }
    say(`stopped (${reason}) after ${seconds.toFixed(1)} s`);
    for (const line of table([...labels, 'total'], [...totals, sum], [...totals, sum].map((t) => t.rxPackets / seconds))) say(line);
    say(
      `coordinator: event loop ${(elu.utilization * 100).toFixed(1)}% busy, main thread ${(coordinator.busyFraction * 100).toFixed(1)}% of a core; ` +
        `${engine.coordinatorStats().restarts} worker restart(s)`,
    );
    const dropped = dropReasons(sum);
    if (dropped !== '') say(`drops by reason: ${dropped}`);
    if (coordinator.noStack > 0) say(`to coord with nothing there to take them (freed): ${count(coordinator.noStack)}`);
    if (coordinator.neighbors !== undefined) {
      const n = coordinator.neighbors;
      say(
        `next hops: ${n.resolutions} resolved, ${n.failures} failed (${n.solicits} requests); ${n.handoffs} packet(s) without one went to the coordinator: ` +
          `${n.forwarded} sent at once, ${n.queued} queued, ${n.sentAfterResolution} sent after resolution, ${n.unresolved + n.dropped} dropped; ` +
          `${n.published} entries in the workers (${n.updates} update(s))`,
      );
    }
    if (failure !== '') throw new NetshardError('ERR_NETSHARD_LINK_ENDED', failure);
    return EXIT_OK;
  } finally {
    await engine.stop();
    signals.release();
  }
}

/** The once-a-second view: a table redrawn in place on a TTY, one plain line otherwise. */
class LiveView {
  private readonly tty: boolean;
  private drawn = 0;
  private previous: SlotTotals[] | null = null;
  private ticks = 0;

  private readonly stream: NodeJS.WriteStream;
  private readonly labels: string[];
  private readonly engine: Engine;
  private readonly tally: Tally;
  private readonly say: (line: string) => void;
  private readonly resolver: ForwardResolver | null;

  constructor(stream: NodeJS.WriteStream, labels: string[], engine: Engine, tally: Tally, say: (line: string) => void, resolver: ForwardResolver | null) {
    this.stream = stream;
    this.labels = labels;
    this.engine = engine;
    this.tally = tally;
    this.say = say;
    this.resolver = resolver;
    this.tty = stream.isTTY === true;
  }

  /** The next-hop part of a line: entries the workers hold, packets the coordinator forwarded for them. */
  private nextHops(): string {
    if (this.resolver === null) return '';
    const n = this.resolver.stats();
    return `next hops: ${n.published} in workers, ${n.handoffs} via coordinator, ${n.unresolved + n.dropped} unresolved`;
  }

  tick(): void {
    this.ticks++;
    const totals = this.tally.totals(this.engine.workerStats());
    const pps = totals.map((t, i) => t.rxPackets - (this.previous?.[i]?.rxPackets ?? 0));
    const txPps = totals.reduce((n, t, i) => n + t.txPackets - (this.previous?.[i]?.txPackets ?? 0), 0);
    this.previous = totals;
    const rx = pps.reduce((a, b) => a + b, 0);
    if (!this.tty) {
      const per = totals.map((t, i) => `${this.labels[i]} rx ${count(t.rxPackets)} tx ${count(t.txPackets)} fwd ${count(t.forwarded)} drop ${count(t.drops)}`);
      const hops = this.nextHops();
      this.say(`[${this.ticks}s] rx ${rate(rx)}pps tx ${rate(txPps)}pps | ${per.join(' | ')}${hops === '' ? '' : ` | ${hops}`}`);
      return;
    }
    const lines = [`[${this.ticks}s] total rx ${rate(rx)}pps, tx ${rate(txPps)}pps`, ...table(this.labels, totals, pps)];
    if (this.resolver !== null) lines.push(this.nextHops());
    const stream = this.stream;
    if (this.drawn > 0) stream.write(`\x1b[${this.drawn}F\x1b[J`); // back to the table's first line, clear below
    stream.write(`${lines.join('\n')}\n`);
    this.drawn = lines.length;
  }

  end(): void {
    if (this.tty && this.drawn > 0) this.stream.write(`\x1b[${this.drawn}F\x1b[J`);
    this.drawn = 0;
  }
}

// ─── serve ──────────────────────────────────────────────────────────────────────────────────────────────

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

/** `--duration SECONDS`: 0 when absent. */
function durationOption(text: string | undefined): number {
  if (text === undefined) return 0;
  const duration = Number(text);
  if (text.trim() === '' || !Number.isFinite(duration) || duration <= 0 || duration > 31_536_000) {
    throw usage(`--duration must be a number of seconds above 0, received '${text}'`);
  }
  return duration;
}

/** What an instance dropped, all causes (`AppStat`): ring full, too big, malformed, bad checksum, reply and send drops. */
function instanceDrops(s: AppInstanceStats): number {
  return s.rxRingDrops + s.rxTooBig + s.malformed + s.checksumErrors + s.replyDrops + s.sendErrors;
}

function instanceLine(s: AppInstanceStats): string {
  return `#${s.instance} in ${count(s.datagramsIn)} out ${count(s.datagramsOut)} flows ${count(s.flowsSeen)} drops ${count(instanceDrops(s))}`;
}

/** `netshard serve`: see SERVE_HELP. Returns the exit code. */
async function serveCommand(argv: string[]): Promise<number> {
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

// ─── demo ───────────────────────────────────────────────────────────────────────────────────────────────

const DEMO_ARGS = {
  packets: { type: 'string' },
  unprivileged: { type: 'boolean' },
} as const;

/** `netshard demo`: see DEMO_HELP. Returns the exit code (0 after Ctrl-C too: the demo cleaned up). */
async function demo(argv: string[]): Promise<number> {
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

// ─── bench ──────────────────────────────────────────────────────────────────────────────────────────────

/** `netshard bench`: see BENCH_HELP. Returns the exit code (0 after Ctrl-C too: the bench removed what it made). */
async function bench(argv: string[]): Promise<number> {
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
