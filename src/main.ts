#!/usr/bin/env node
/**
 * netshard's command line: `netshard <command> [options]`. It parses and checks the options, opens the
 * fds, wires the engine (`src/workers`), and prints; the packet work is the engine's. Commands:
 * `forward` (below). `netshard --help`, `netshard help [command]`, `netshard <command> --help`.
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
 *   kernel of the namespace: `ip -j link/addr/neigh` (read once)         kernel neighbours + --neighbor)
 *   main thread: live stats once a second, the summary, signals          L2 (--bridge): `Bridge`, below
 * ```
 * Kernel configuration is read with `ip -j` (iproute2's JSON, run inside `--netns`), not netlink: no
 * netlink code or package exists here, iproute2 is already required (README), and this is read once at
 * start. Neighbours come from the kernel's table too (resolved entries on the two interfaces, a snapshot):
 * the workers forward only to static next hops.
 *
 * Length (~790 lines, past STYLE's ~400): the layering rule lets `main.ts` import only folder index
 * files and gives a top-level file no folder imports, so a second CLI file could not reach the engine.
 * What belongs elsewhere is marked where it is: the ignore-outgoing fanout group (`openPacketFanout`,
 * fdbased) and the coordinator-path bridge (`Bridge`, workers); with those moved, the rest is options,
 * the kernel's view of two interfaces, counters and printing.
 *
 * Thread: main. Control path throughout, except `Bridge.deliverNetworkPacket` (per packet, no allocation).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { NetshardError } from './errors.ts';
import { closeFds, netnsPath, openPacketSockets, openTun, syscalls, withNetns, type DispatchMode } from './fdbased/index.ts';
import { parseIpv4, parseIpv6 } from './tcpip/index.ts';
import {
  Engine,
  OutboundBatch,
  type ForwardNeighbor,
  type ForwardingConfig,
  type InboundPacket,
  type PacketSender,
  type StackHandler,
  type WorkerExitEvent,
  type WorkerStats,
} from './workers/index.ts';

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
each packet (TTL - 1, MACs rewritten) and sends it on the other interface itself.

  --in IFACE                 one interface
  --out IFACE                the other; routes without via= or dev= leave here
  --workers N                fds (and workers) per interface: AF_PACKET sockets in one fanout group,
                             or TUN queues; 1..64, default 1
  --mode MODE                readv | recvmmsg | mmap (PACKET_RX_RING); default recvmmsg, readv with --tun
  --bridge                   L2: every frame goes to the other side unchanged, MACs included
  --tun                      IFACE names TUN devices (made multi-queue when --workers > 1)
  --netns NAME               open the fds inside network namespace NAME (from \`ip netns\`, or a path)
  --route CIDR[,via=ADDR][,dev=IFACE]
                             one more route (repeatable); both interfaces' connected routes are always in
  --neighbor ADDR=MAC[,dev=IFACE]
                             a static next hop (repeatable), on top of the kernel's resolved neighbours
  --duration SECONDS         stop after SECONDS (default: run until Ctrl-C or SIGTERM)
  --json                     print the summary as one JSON object on stdout; progress goes to stderr
  -h, --help                 this help

The namespace's kernel keeps answering ARP and pings for the interfaces' own addresses (it sees every
frame too); keep its forwarding off (sysctl net.ipv4.ip_forward=0), or packets are forwarded twice.
Needs CAP_NET_RAW (AF_PACKET) or CAP_NET_ADMIN (--tun), and CAP_SYS_ADMIN with --netns: run as root.`;

const COMMANDS: Record<string, Command> = {
  forward: { summary: 'forward packets between two interfaces (L3 routing, or L2 with --bridge)', help: FORWARD_HELP, run: forward },
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
  return { links: [inName, outName], workers, mode, bridge, tun, netns, routes, neighbors, duration, json: values.json ?? false };
}

/** Node's parseArgs, its errors made one usage line (its messages add advice after the first sentence). */
function parseForwardArgs(argv: string[]) {
  try {
    return parseArgs({ args: argv, options: FORWARD_ARGS, strict: true, allowPositionals: false }).values;
  } catch (err) {
    const text = err instanceof Error ? err.message : String(err);
    throw usage(text.split(/\. /)[0]!.replace(/\.$/, '').replace(/^[A-Z]/, (c) => c.toLowerCase()));
  }
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

function contains(p: IpPrefix, a: IpAddress): boolean {
  return p.family === a.family && samePrefix(p.bytes, a.bytes, p.length);
}

// ─── forward: the kernel's view of the two interfaces ───────────────────────────────────────────────────

interface KernelLink {
  name: string;
  /** MAC, '' for a device without one (TUN). */
  mac: string;
  mtu: number;
  /** Global-scope addresses with their prefix length: they make the connected routes. */
  addresses: IpPrefix[];
  /** Resolved neighbour entries (address, MAC). */
  neighbors: { address: string; mac: string }[];
}

/** Reads `name`'s MAC, MTU, addresses and neighbours with `ip -j`, run inside `netns`. Throws ERR_NETSHARD_KERNEL. */
function readKernelLink(name: string, netns: string | undefined): KernelLink {
  const link = ipJson<{ address?: string; mtu?: number; link_type?: string }>(netns, ['link', 'show', 'dev', name])[0];
  const info = ipJson<{ addr_info?: { family: string; local: string; prefixlen: number; scope: string }[] }>(netns, ['addr', 'show', 'dev', name])[0];
  const addresses: IpPrefix[] = [];
  for (const a of info?.addr_info ?? []) {
    if (a.scope !== 'global') continue; // link-local addresses are never forwarded (RFC 3927, RFC 4291)
    const p = parsePrefix(`${a.local}/${a.prefixlen}`);
    if (p !== null) addresses.push(p);
  }
  const neighbors = ipJson<{ dst: string; lladdr?: string; state?: string[] }>(netns, ['neigh', 'show', 'dev', name])
    .filter((n) => n.lladdr !== undefined && MAC.test(n.lladdr) && !(n.state ?? []).some((s) => s === 'FAILED' || s === 'INCOMPLETE'))
    .map((n) => ({ address: n.dst, mac: n.lladdr!.toLowerCase() }));
  const mac = link?.link_type === 'ether' && link.address !== undefined ? link.address : '';
  return { name, mac, mtu: link?.mtu ?? 1500, addresses, neighbors };
}

function ipJson<T>(netns: string | undefined, args: string[]): T[] {
  try {
    // `ip` is spawned from this thread while withNetns holds it inside the namespace: it runs there.
    const text = withNetns(netns, () => execFileSync('ip', ['-j', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 5000 }));
    return text.trim() === '' ? [] : (JSON.parse(text) as T[]);
  } catch (err) {
    if (err instanceof NetshardError) throw err;
    const stderr = String((err as { stderr?: unknown }).stderr ?? '').trim().split('\n')[0];
    throw new NetshardError('ERR_NETSHARD_KERNEL', `ip ${args.join(' ')}: ${stderr || (err as Error).message}`);
  }
}

/** Returns 'net.ipv4.ip_forward' (and the IPv6 key) when the namespace's kernel forwards too. */
function kernelForwardingKeys(netns: string | undefined): string[] {
  const on: string[] = [];
  for (const key of ['net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding']) {
    try {
      // /proc/sys/net is resolved in the opening thread's namespace.
      if (withNetns(netns, () => readFileSync(`/proc/sys/${key.replaceAll('.', '/')}`, 'utf8')).trim() === '1') on.push(key);
    } catch {
      // no IPv6 in this kernel
    }
  }
  return on;
}

/** Builds the workers' L3 rules: the interfaces' addresses (connected routes), --route, neighbours. */
function forwardingConfig(o: ForwardOptions, kernel: readonly KernelLink[]): ForwardingConfig {
  const linkOf = (name: string | undefined): number => (name === undefined ? -1 : o.links.indexOf(name));
  const onLink = (a: IpAddress): number => kernel.findIndex((k) => k.addresses.some((p) => contains(p, a)));
  const addresses = kernel.flatMap((k, link) => k.addresses.map((p) => ({ link, address: p.text })));
  const routes = o.routes.map((r) => {
    let link = linkOf(r.dev);
    if (link < 0 && r.via !== undefined) {
      link = onLink(parseAddress(r.via)!);
      if (link < 0) throw usage(`--route ${r.text}: ${r.via} is on neither ${o.links.join(' nor ')}'s subnets (add dev=IFACE)`);
    }
    if (link < 0) link = 1;
    return r.via === undefined ? { destination: r.destination, link } : { destination: r.destination, link, gateway: r.via };
  });
  const neighbors = new Map<string, ForwardNeighbor>();
  kernel.forEach((k, link) => {
    for (const n of k.neighbors) neighbors.set(`${link} ${n.address}`, { link, address: n.address, linkAddress: n.mac });
  });
  for (const n of o.neighbors) {
    const link = n.dev !== undefined ? linkOf(n.dev) : onLink(n.address);
    if (link < 0) throw usage(`--neighbor ${n.text}: ${n.address.text} is on neither ${o.links.join(' nor ')}'s subnets (add dev=IFACE)`);
    neighbors.set(`${link} ${n.address.text}`, { link, address: n.address.text, linkAddress: n.mac });
  }
  return { addresses, routes, neighbors: [...neighbors.values()] };
}

// ─── forward: fds ───────────────────────────────────────────────────────────────────────────────────────

const PACKET_FANOUT_FLAG_IGNORE_OUTGOING = 0x4000;

/**
 * Opens `count` AF_PACKET sockets on `name` in one PACKET_FANOUT_HASH group that ignores outgoing frames.
 * Without that, every frame the engine sends on an interface comes back to that interface's own sockets
 * (a copy per send: double the receive work in L3, a loop in --bridge). A group's flag must be set when
 * the group is made (the per-socket PACKET_IGNORE_OUTGOING does not reach a fanout member), and
 * `openPacketSockets` makes its groups without it, so the group is made here. Belongs in
 * `openPacketSockets` as an `ignoreOutgoing` option (fdbased), then this shrinks to one call.
 */
function openPacketFanout(name: string, count: number, netns: string | undefined): number[] {
  const fds: number[] = [];
  try {
    for (let i = 0; i < count; i++) fds.push(...openPacketSockets(name, 1, netns === undefined ? {} : { netns }).fds);
    const { SOL_PACKET, PACKET_FANOUT, PACKET_FANOUT_HASH, PACKET_FANOUT_FLAG_UNIQUEID, PACKET_IGNORE_OUTGOING, setsockoptInt, getsockoptInt, errnoError } = syscalls;
    if (count === 1) {
      const r = setsockoptInt(fds[0]!, SOL_PACKET, PACKET_IGNORE_OUTGOING, 1);
      if (r < 0) throw errnoError('setsockopt', r, `PACKET_IGNORE_OUTGOING on ${name}`);
      return fds;
    }
    const type = PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_IGNORE_OUTGOING;
    let r = setsockoptInt(fds[0]!, SOL_PACKET, PACKET_FANOUT, (type | PACKET_FANOUT_FLAG_UNIQUEID) << 16);
    if (r < 0) throw errnoError('setsockopt', r, `PACKET_FANOUT (a group ignoring outgoing frames on ${name})`);
    const id = getsockoptInt(fds[0]!, SOL_PACKET, PACKET_FANOUT);
    if (id < 0) throw errnoError('getsockopt', id, 'PACKET_FANOUT');
    for (let i = 1; i < count; i++) {
      r = setsockoptInt(fds[i]!, SOL_PACKET, PACKET_FANOUT, (id & 0xffff) | (type << 16));
      if (r < 0) throw errnoError('setsockopt', r, `PACKET_FANOUT (join group ${id & 0xffff} on ${name})`);
    }
    return fds;
  } catch (err) {
    closeFds(fds);
    throw err;
  }
}

/** Opens the fds of both links: AF_PACKET fanout sockets, or TUN queues. Closes what it opened on failure. */
function openLinks(o: ForwardOptions): [number[], number[]] {
  const opened: number[][] = [];
  try {
    for (const name of o.links) {
      opened.push(o.tun ? openTun(name, { queues: o.workers, ...(o.netns === undefined ? {} : { netns: o.netns }) }).fds : openPacketFanout(name, o.workers, o.netns));
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

// ─── forward: L2 bridge ─────────────────────────────────────────────────────────────────────────────────

/**
 * `--bridge`: every frame the workers hand up is copied, unchanged, into a tx frame and queued on the
 * other link with its flow hash (so a flow keeps one fd and its order). It runs on the coordinator, a
 * thread hop and a copy per frame, because the workers' forwarder is picked by `createForwarder` from a
 * `ForwardingConfig`, which has no L2 rule yet. The run-to-completion version is a `Forwarder` returning
 * Forward on `link ^ 1` for `[linkOffset, end)`, chosen by a `bridge: true` config (workers).
 * Thread: main. Per packet: no allocation.
 */
class Bridge implements StackHandler {
  /** Frames queued on the other link. */
  bridged = 0;
  /** Frames dropped: no free tx frame, or longer than one. */
  drops = 0;
  private engine: PacketSender | null = null;
  private readonly batches = [new OutboundBatch(256), new OutboundBatch(256)];

  start(engine: PacketSender): void {
    this.engine = engine;
  }

  deliverNetworkPacket(p: InboundPacket): void {
    const engine = this.engine;
    const out = p.link ^ 1;
    const batch = this.batches[out];
    if (engine === null || batch === undefined) return;
    const pool = engine.txPool;
    if (p.length > pool.frameSize) {
      this.drops++;
      return;
    }
    if (batch.count === batch.capacity) this.send(out);
    const frame = engine.allocTxFrame();
    if (frame < 0) {
      this.drops++;
      return;
    }
    const from = p.view, to = pool.view, src = p.offset, dst = pool.offsetOf(frame), n = p.length;
    let i = 0;
    for (; i + 4 <= n; i += 4) to.setUint32(dst + i, from.getUint32(src + i));
    for (; i < n; i++) to.setUint8(dst + i, from.getUint8(src + i));
    batch.add(frame, 0, n, p.hash);
  }

  flush(): void {
    this.send(0);
    this.send(1);
  }

  private send(link: number): void {
    const batch = this.batches[link]!;
    if (batch.count === 0 || this.engine === null) return;
    this.bridged += this.engine.writePackets(link, batch);
    batch.clear();
  }
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
    const forwarding = o.bridge ? null : forwardingConfig(o, kernel);
    const bridge = o.bridge ? new Bridge() : null;
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
      ...(bridge === null ? {} : { stack: bridge }),
    });
    const labels = [...inFds.map((_, q) => `${o.links[0]}#${q}`), ...outFds.map((_, q) => `${o.links[1]}#${q}`)];
    return await run(o, engine, bridge, labels, kernel, say);
  } finally {
    closeFds([...inFds, ...outFds]);
  }
}

/** Runs a built engine until a signal, --duration, or a link without workers; prints; returns the exit code. */
async function run(o: ForwardOptions, engine: Engine, bridge: Bridge | null, labels: string[], kernel: KernelLink[], say: (line: string) => void): Promise<number> {
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
  let stopping = false;
  const onSignal = (signal: 'SIGINT' | 'SIGTERM') => () => {
    if (stopping) process.exit(130); // a second Ctrl-C while stopping: leave now
    stop(signal);
  };
  const onInt = onSignal('SIGINT'), onTerm = onSignal('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  try {
    await engine.start();
    const startedAt = performance.now();
    const eluStart = performance.eventLoopUtilization();
    const cpuStart = mainThreadCpuSeconds();
    const what = o.bridge ? 'L2 bridge' : `L3, ${kernel.reduce((n, k) => n + k.addresses.length, 0)} addresses, ${o.routes.length} extra routes`;
    say(`forwarding ${o.links[0]} <-> ${o.links[1]}${o.netns === undefined ? '' : ` in ${o.netns}`}: ${what}, ${o.mode}, ${o.workers} worker(s) per side; Ctrl-C stops`);
    const view = new LiveView(o.json ? process.stderr : process.stdout, labels, engine, tally, say);
    live = view;
    const timer = setInterval(() => view.tick(), 1000);
    const limit = o.duration > 0 ? setTimeout(() => stop('duration'), o.duration * 1000) : null;
    const reason = await stopped;
    stopping = true;
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
      ...(bridge === null ? {} : { bridged: bridge.bridged, bridgeDrops: bridge.drops }),
      ...engine.coordinatorStats(),
    };
    if (o.json) {
      const workers = totals.map((t, slot) => ({ slot, worker: labels[slot], interface: o.links[slot < o.workers ? 0 : 1], queue: slot % o.workers, ...t }));
      const summary = {
        command: 'forward', in: o.links[0], out: o.links[1], netns: o.netns ?? null, mode: o.mode, workersPerLink: o.workers, bridge: o.bridge, tun: o.tun,
        stoppedBy: reason, seconds, totals: { ...sum, rxPps: sum.rxPackets / seconds, txPps: sum.txPackets / seconds }, workers, coordinator, exits,
      };
      process.stdout.write(`${JSON.stringify(summary)}\n`);
    }
    say(`stopped (${reason}) after ${seconds.toFixed(1)} s`);
    for (const line of table([...labels, 'total'], [...totals, sum], [...totals, sum].map((t) => t.rxPackets / seconds))) say(line);
    say(
      `coordinator: event loop ${(elu.utilization * 100).toFixed(1)}% busy, main thread ${(coordinator.busyFraction * 100).toFixed(1)}% of a core; ` +
        `${engine.coordinatorStats().restarts} worker restart(s)${bridge === null ? '' : `; bridged ${bridge.bridged}, dropped ${bridge.drops}`}`,
    );
    if (failure !== '') throw new NetshardError('ERR_NETSHARD_LINK_ENDED', failure);
    return EXIT_OK;
  } finally {
    await engine.stop();
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
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

  constructor(stream: NodeJS.WriteStream, labels: string[], engine: Engine, tally: Tally, say: (line: string) => void) {
    this.stream = stream;
    this.labels = labels;
    this.engine = engine;
    this.tally = tally;
    this.say = say;
    this.tty = stream.isTTY === true;
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
      this.say(`[${this.ticks}s] rx ${rate(rx)}pps tx ${rate(txPps)}pps | ${per.join(' | ')}`);
      return;
    }
    const lines = [`[${this.ticks}s] total rx ${rate(rx)}pps, tx ${rate(txPps)}pps`, ...table(this.labels, totals, pps)];
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
    const code = err instanceof NetshardError && err.code === 'ERR_NETSHARD_USAGE' ? EXIT_USAGE : EXIT_FAILURE;
    process.exitCode = code;
  },
);
