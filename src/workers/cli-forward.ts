/**
 * `netshard forward` (FORWARD_HELP): its options, the kernel's view placed on the two links, the fds, and the
 * engine wired from them; `cli-forward-run.ts` runs it, counts and prints.
 * ```
 *   --in IFACE  ─ N AF_PACKET fds (one fanout group) or N TUN queues ─┐
 *                                                                     ├─ Engine: one dispatch worker per fd;
 *   --out IFACE ─ N AF_PACKET fds (one fanout group) or N TUN queues ─┘  L3: ForwardingConfig (the kernel's
 *                                                                        addresses → connected routes, --route,
 *   kernel of the namespace: `readKernelLink` (`ip -j`, read once)       kernel neighbours + --neighbor)
 *   main thread: live stats once a second, the summary, signals          L2 (--bridge): { kind: 'bridge' }
 * ```
 * The fanout group ignores outgoing frames (`openPacketSockets(…, { ignoreOutgoing: true })`); the kernel's
 * view (`readKernelLink`, `forwardingConfigFromKernel`) lives in `forward-setup.ts`, the L3 resolver in
 * `forward-resolver.ts`, the bridge in `bridge-forwarder.ts` (run in the workers). Neighbours: the kernel's
 * table (a snapshot) and --neighbor seed the workers; in L3 over AF_PACKET the coordinator runs a
 * `ForwardResolver` (a `Stack` owning the interfaces' addresses) that resolves the next hops the workers do
 * not know by ARP/NDP and hands what it learns to them (`Engine.updateNeighbors`).
 *
 * Thread: main. Control path throughout.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { NetshardError } from '../errors.ts';
import { closeFds, netnsPath, openPacketSockets, openTun, type DispatchMode } from '../fdbased/index.ts';
import { runForward } from './cli-forward-run.ts';
import {
  IFNAME,
  MAX_WORKERS_PER_LINK,
  durationOption,
  hostBitsZero,
  integerOption,
  parseAddress,
  parsePrefix,
  usage,
  usageFromParseArgs,
  type IpAddress,
} from './cli-common.ts';
import { Engine } from './coordinator.ts';
import { ForwardResolver } from './forward-resolver.ts';
import { forwardingConfigFromKernel, kernelForwardingKeys, linkOnSubnet, readKernelLink, type KernelLink } from './forward-setup.ts';
import type { ForwardNeighbor, ForwardRoute } from './forwarding.ts';

/** `netshard forward --help`. */
export const FORWARD_HELP = `Usage: netshard forward --in IFACE --out IFACE [options]

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

/** `netshard forward`'s options, checked. */
export interface ForwardOptions {
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

const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

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
  const duration = durationOption(values.duration);
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

// ─── forward ────────────────────────────────────────────────────────────────────────────────────────────

/** `netshard forward`: see FORWARD_HELP. Returns the exit code. */
export async function forwardCommand(argv: string[]): Promise<number> {
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
    return await runForward(o, engine, resolver, labels, kernel, say);
  } finally {
    closeFds([...inFds, ...outFds]);
  }
}
