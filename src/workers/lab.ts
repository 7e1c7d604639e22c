/**
 * The lab: three network namespaces joined by two veth pairs, a forwarder in the middle, on which the
 * multicore-forwarding tests, `bench/forward.ts` and `netshard demo` stand (`test/helpers/topology.ts`
 * re-exports this file). Every name carries the pid; addresses come only from 198.18.0.0/15 and
 * 2001:2::/48. Needs root (see `labUnavailableReason()`).
 *
 *      ns-gen-<pid>                 ns-fwd-<pid>                          ns-sink-<pid>
 *   ┌────────────────┐    ┌─────────────────────────────────┐    ┌─────────────────┐
 *   │ gen-<pid>      │════│ fin-<pid>            fout-<pid> │════│ sink-<pid>      │
 *   │ 198.18.1.1/24  │veth│ 198.18.1.2/24     198.19.1.2/24 │veth│ 198.19.1.1/24   │
 *   │ 2001:2:0:1::1  │    │ 2001:2:0:1::2     2001:2:0:2::2 │    │ 2001:2:0:2::1   │
 *   │ 02:00:00:00:01:01   02:00:00:00:01:02 02:00:00:00:02:02   02:00:00:00:02:01 │
 *   └────────────────┘    └─────────────────────────────────┘    └─────────────────┘
 *   routes: gen  198.19.1.0/24, 2001:2:0:2::/64 via fwd-in;  sink 198.18.1.0/24, 2001:2:0:1::/64 via fwd-out
 *
 * - Each veth has `queues` tx and rx queues (default 2), so the sender's flows land on several queues and
 *   PACKET_FANOUT / RPS have something to spread.
 * - `createForwardTopology()` (the forwarding tests and benches): static (permanent) neighbours on every link,
 *   so no ARP or neighbour discovery runs and a user-space forwarder in ns-fwd need not answer it: gen knows
 *   fwd-in's MAC, sink knows fwd-out's, ns-fwd knows both ends; ns-fwd's kernel holds fwd-in's and fwd-out's
 *   addresses.
 * - `createLab({ forwarderAddresses: 'user' })` (the demo): ns-fwd's kernel holds no address at all, so it
 *   answers neither ARP nor ICMP; the addresses of the plan belong to a user-space stack there (netshard's),
 *   and gen and sink resolve them by ARP / NDP like any host (no static neighbours anywhere).
 * - Transmit checksum offload is off on all four veths (SIOCETHTOOL ETHTOOL_STXCSUM 0, from python3: ethtool
 *   is not installed): the kernel writes complete UDP/TCP checksums, so a frame read with AF_PACKET on fwd-in
 *   and written out of fwd-out unchanged above L3 still passes the sink's checksum check.
 * - rp_filter is off in all three namespaces. IPv6 addresses are added with `nodad` (usable at once).
 * - ns-fwd's kernel forwards only when asked (`kernelForwarding`, `setKernelForwarding()`): on for the Linux
 *   baseline, off when netshard or the C forwarder forwards (the kernel then drops what it sees on fwd-in
 *   quietly: with forwarding off it sends no ICMP errors).
 *
 * Control path: synchronous, spawns `ip`, `sysctl` and one `python3`. Thread: main (child processes).
 * Length (~450 lines): one topology built in one place (plan, python setup script, `ip` batches, cleanup on
 * failure) plus the small `ip` wrappers it needs; splitting it would scatter one sequence over files.
 */
import { execFileSync, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { NetshardError } from '../errors.ts';
import { validateBoolean, validateInteger, validateObject, validateOneOf, validateString } from '../validate.ts';

// ---- namespaces: small wrappers over `ip` ------------------------------------------------------------

/** Why network namespaces cannot be made here (not root, no `ip`, no `python3`), or '' when they can. */
export function labUnavailableReason(): string {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'not root (needs CAP_NET_ADMIN to create network namespaces)';
  if (!onPath('ip')) return 'iproute2 (`ip`) is not installed';
  if (!onPath('python3')) return '`python3` is not installed (the lab sets interfaces up with it)';
  return '';
}

/** Tells whether an executable `name` is in one of the PATH directories (no process started: python3 takes ~0.5 s to). */
function onPath(name: string): boolean {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch {
      /* not here */
    }
  }
  return false;
}

/** Runs `ip` with `args` and returns its stdout. Throws (with `ip`'s stderr) on failure. Thread: main. */
export function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
}

/** Runs `cmd args` inside namespace `ns` (`ip netns exec`) and returns its stdout. Throws on failure. */
export function inNetns(ns: string, cmd: string, ...args: string[]): string {
  return execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
}

/** Deletes namespace `name`, ignoring "does not exist". Never throws. */
export function deleteNetns(name: string): void {
  try {
    ip('netns', 'del', name);
  } catch {
    /* already gone */
  }
}

/** Returns the names of the named network namespaces (`ip netns list`); [] when `ip` fails. */
export function listNetns(): string[] {
  let out: string;
  try {
    out = ip('netns', 'list');
  } catch {
    return [];
  }
  return out.split('\n').map((line) => line.split(' ')[0] ?? '').filter((name) => name !== '');
}

/** What `startNamespaceReaper` returns. */
export interface NamespaceReaper {
  /**
   * Stops the reaper without it deleting anything (call it after deleting the namespaces yourself): it is
   * killed at once, so it cannot delete namespaces of the same names made later by this process. Idempotent.
   */
  release(): void;
}

/**
 * Starts a watchdog that deletes network namespaces `names` once this process ends, however it ends: a
 * detached `sh` (its own session, so a Ctrl-C at the terminal does not reach it) reading a pipe from us
 * until EOF, which the kernel delivers when we exit, also on SIGKILL; then `ip netns del` for each name.
 * Needed because a `finally` does not run when the process is killed: `tsx`, which `npm start` runs,
 * SIGKILLs its child when the child does not acknowledge a Ctrl-C within ~60 ms (measured: a main thread
 * busy for 200 ms was killed, exit 130), which a loaded 2-core machine easily causes. Start it before
 * creating the namespaces; `release()` it after deleting them. Throws ERR_INVALID_ARG_VALUE for a name
 * that is not a plain namespace name. Thread: main.
 */
export function startNamespaceReaper(names: readonly string[]): NamespaceReaper {
  for (const name of names) {
    if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new NetshardError('ERR_INVALID_ARG_VALUE', `'${name}' is not a network namespace name`);
  }
  const script = 'while read -r _; do :; done; for ns in "$@"; do ip netns del "$ns" 2>/dev/null; done; exit 0';
  const child = spawn('sh', ['-c', script, 'netshard-reaper', ...names], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
  child.on('error', () => {}); // no sh: the process 'exit' hook and finally blocks remain
  child.unref();
  child.stdin?.on('error', () => {});
  (child.stdin as unknown as { unref?: () => void } | null)?.unref?.(); // the pipe must not keep the event loop alive
  let released = false;
  return {
    release(): void {
      if (released) return;
      released = true;
      child.kill('SIGKILL'); // before it reads EOF: it deletes nothing
      child.stdin?.destroy();
    },
  };
}

// ---- the topology --------------------------------------------------------------------------------------

/** Options of `createForwardTopology`. */
export interface ForwardTopologyOptions {
  /**
   * Let ns-fwd's kernel route between the two links (net.ipv4.ip_forward, and IPv6 forwarding when `ipv6`):
   * the Linux baseline. Default false: a user-space forwarder (netshard, bench/baselines/packet-fwd.c) forwards.
   */
  kernelForwarding?: boolean;
  /** numtxqueues and numrxqueues of every veth, 1..16. Default 2. */
  queues?: number;
  /**
   * Give every link an IPv6 address, route and static neighbour. Default true. With false, IPv6 is disabled
   * in all three namespaces (quiet links: no router solicitations or MLD reports).
   */
  ipv6?: boolean;
}

/** Defaults of `ForwardTopologyOptions`. */
export const DEFAULT_FORWARD_TOPOLOGY_OPTIONS: Readonly<Required<ForwardTopologyOptions>> = { kernelForwarding: false, queues: 2, ipv6: true };

/** Name stems of a lab: `-<pid>` is appended to each. Interface stems leave room for a 7-digit pid (IFNAMSIZ 16). */
export interface LabNames {
  /** Namespaces. */
  genNs: string;
  fwdNs: string;
  sinkNs: string;
  /** Interfaces: gen's end, ns-fwd's two ends, sink's end. */
  gen: string;
  fwdIn: string;
  fwdOut: string;
  sink: string;
}

/** The names of `createForwardTopology()`. */
export const FORWARD_TOPOLOGY_NAMES: Readonly<LabNames> = { genNs: 'ns-gen', fwdNs: 'ns-fwd', sinkNs: 'ns-sink', gen: 'gen', fwdIn: 'fin', fwdOut: 'fout', sink: 'sink' };

/** Options of `createLab`: the topology's, plus names, who owns ns-fwd's addresses, and extra sysctls. */
export interface LabOptions extends ForwardTopologyOptions {
  /** Name stems. Default `FORWARD_TOPOLOGY_NAMES`. */
  names?: LabNames;
  /**
   * 'kernel' (default): ns-fwd's kernel holds fwd-in's and fwd-out's addresses and every link has static
   * neighbours (the forwarding topology). 'user': ns-fwd's kernel holds no address and nothing is static;
   * the plan's ns-fwd addresses are for a user-space stack there, which must answer ARP / NDP for them.
   */
  forwarderAddresses?: 'kernel' | 'user';
  /** Extra /proc/sys keys per namespace (`{ gen: { 'net.ipv4.ping_group_range': '0 2147483647' } }`). */
  sysctls?: { gen?: Record<string, string>; fwd?: Record<string, string>; sink?: Record<string, string> };
}

/** One end of a veth pair in the topology. */
export interface TopologyLink {
  /** The namespace the interface lives in. */
  readonly ns: string;
  /** Interface name, at most 15 characters. */
  readonly name: string;
  /** Its MAC address, as `ip` prints it (lower-case, colon-separated), read back from the kernel. */
  readonly mac: string;
  /** Its IPv4 address, without the prefix length (`ipv4PrefixLength`); in a 'user' lab, ns-fwd's are not in the kernel. */
  readonly ipv4: string;
  /** Its IPv6 address without the prefix length (`ipv6PrefixLength`); null when the topology has no IPv6. */
  readonly ipv6: string | null;
}

/** The address plan, one entry per link end; `mac` is what the topology asks the kernel for. */
export const FORWARD_TOPOLOGY_PLAN = {
  gen: { ipv4: '198.18.1.1', ipv6: '2001:2:0:1::1', mac: '02:00:00:00:01:01' },
  fwdIn: { ipv4: '198.18.1.2', ipv6: '2001:2:0:1::2', mac: '02:00:00:00:01:02' },
  fwdOut: { ipv4: '198.19.1.2', ipv6: '2001:2:0:2::2', mac: '02:00:00:00:02:02' },
  sink: { ipv4: '198.19.1.1', ipv6: '2001:2:0:2::1', mac: '02:00:00:00:02:01' },
} as const;
const GEN_NET4 = '198.18.1.0/24';
const SINK_NET4 = '198.19.1.0/24';
const GEN_NET6 = '2001:2:0:1::/64';
const SINK_NET6 = '2001:2:0:2::/64';

/**
 * One python3 process (the pyenv shim here costs ~1 s per start, so one, not one per namespace) that, for each
 * namespace in the JSON of argv[1], enters it with setns(CLONE_NEWNET), writes its /proc/sys keys (those are
 * resolved in the writer's namespace), turns transmit checksum offload off on its interfaces with
 * SIOCETHTOOL ETHTOOL_STXCSUM 0 (checked by reading it back), and reads their MACs with SIOCGIFHWADDR;
 * prints {"<ns>/<interface>": "<mac>", ...}.
 */
const SETUP_PY = `
import ctypes, fcntl, json, os, socket, struct, sys
SIOCETHTOOL, SIOCGIFHWADDR, ETHTOOL_GTXCSUM, ETHTOOL_STXCSUM, CLONE_NEWNET = 0x8946, 0x8927, 0x16, 0x17, 0x40000000
libc = ctypes.CDLL(None, use_errno=True)
def ethtool(s, name, cmd, value=0):
    data = ctypes.create_string_buffer(struct.pack('II', cmd, value), 8)
    fcntl.ioctl(s.fileno(), SIOCETHTOOL, struct.pack('16sP', name.encode(), ctypes.addressof(data)).ljust(40, b'\\0'))
    return struct.unpack('II', data.raw)[1]
macs = {}
for ns in json.loads(sys.argv[1]):
    fd = os.open('/var/run/netns/' + ns['ns'], os.O_RDONLY | os.O_CLOEXEC)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        sys.exit('setns ' + ns['ns'] + ': ' + os.strerror(ctypes.get_errno()))
    os.close(fd)
    for key, value in ns['sysctl']:
        with open('/proc/sys/' + key.replace('.', '/'), 'w') as f:
            f.write(value)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for name in ns['interfaces']:
        ethtool(s, name, ETHTOOL_STXCSUM, 0)
        if ethtool(s, name, ETHTOOL_GTXCSUM) != 0:
            sys.exit(name + ': tx checksum offload is still on')
        hw = fcntl.ioctl(s.fileno(), SIOCGIFHWADDR, struct.pack('16s24s', name.encode(), b''))[18:24]
        macs[ns['ns'] + '/' + name] = ':'.join('%02x' % b for b in hw)
    s.close()
print(json.dumps(macs))
`;

/**
 * Three namespaces, two veth pairs, addresses, routes and (in the forwarding topology) static neighbours
 * (see the file comment). Build it with `createForwardTopology()` or `createLab()`; always call `destroy()`
 * in a `finally`.
 */
export class ForwardTopology {
  /** The namespace names: `ns-gen-<pid>`, `ns-fwd-<pid>`, `ns-sink-<pid>` (other stems in a named lab). */
  readonly namespaces: { readonly gen: string; readonly fwd: string; readonly sink: string };
  /** The generator's end, in ns-gen; its peer is `fwdIn`. */
  readonly gen: TopologyLink;
  /** The forwarder's receiving end, in ns-fwd. */
  readonly fwdIn: TopologyLink;
  /** The forwarder's sending end, in ns-fwd; its peer is `sink`. */
  readonly fwdOut: TopologyLink;
  /** The sink's end, in ns-sink. */
  readonly sink: TopologyLink;
  /** Tx and rx queues of every veth. */
  readonly queues: number;
  /** Prefix length of every IPv4 address (each link is its own /24). */
  readonly ipv4PrefixLength = 24;
  /** Prefix length of every IPv6 address (each link is its own /64). */
  readonly ipv6PrefixLength = 64;
  private forwarding = false;
  private destroyed = false;

  /** Wraps what `createForwardTopology` built; not for direct use. */
  constructor(namespaces: ForwardTopology['namespaces'], links: { gen: TopologyLink; fwdIn: TopologyLink; fwdOut: TopologyLink; sink: TopologyLink }, queues: number) {
    this.namespaces = namespaces;
    this.gen = links.gen;
    this.fwdIn = links.fwdIn;
    this.fwdOut = links.fwdOut;
    this.sink = links.sink;
    this.queues = queues;
  }

  /** Whether ns-fwd's kernel forwards right now. */
  get kernelForwarding(): boolean {
    return this.forwarding;
  }

  /**
   * Turns ns-fwd's kernel forwarding on or off (net.ipv4.ip_forward and, with IPv6, net.ipv6.conf.all.forwarding).
   * Throws ERR_NETSHARD_TOPOLOGY_DESTROYED after `destroy()`, and what `sysctl` reports.
   */
  setKernelForwarding(on: boolean): void {
    validateBoolean(on, 'on');
    if (this.destroyed) throw new NetshardError('ERR_NETSHARD_TOPOLOGY_DESTROYED', 'the forward topology was destroyed');
    const value = on ? '1' : '0';
    const keys = [`net.ipv4.ip_forward=${value}`];
    if (this.gen.ipv6 !== null) keys.push(`net.ipv6.conf.all.forwarding=${value}`);
    inNetns(this.namespaces.fwd, 'sysctl', '-qw', ...keys);
    this.forwarding = on;
  }

  /**
   * Deletes the three namespaces, and with them both veth pairs. Idempotent; never throws. Processes still
   * running inside a namespace keep it alive (unnamed) until they exit: stop them first.
   */
  destroy(): void {
    this.destroyed = true;
    deleteNetns(this.namespaces.gen);
    deleteNetns(this.namespaces.fwd);
    deleteNetns(this.namespaces.sink);
  }
}

function validateTopologyOptions(options: ForwardTopologyOptions, extraKeys: readonly string[]): Required<ForwardTopologyOptions> {
  validateObject(options, 'options', [...Object.keys(DEFAULT_FORWARD_TOPOLOGY_OPTIONS), ...extraKeys]);
  const given = options as Required<ForwardTopologyOptions>;
  const o = {
    kernelForwarding: 'kernelForwarding' in given ? given.kernelForwarding : DEFAULT_FORWARD_TOPOLOGY_OPTIONS.kernelForwarding,
    queues: 'queues' in given ? given.queues : DEFAULT_FORWARD_TOPOLOGY_OPTIONS.queues,
    ipv6: 'ipv6' in given ? given.ipv6 : DEFAULT_FORWARD_TOPOLOGY_OPTIONS.ipv6,
  };
  validateBoolean(o.kernelForwarding, 'options.kernelForwarding');
  validateInteger(o.queues, 'options.queues', 1, 16);
  validateBoolean(o.ipv6, 'options.ipv6');
  return o;
}

const NAME_KEYS = ['genNs', 'fwdNs', 'sinkNs', 'gen', 'fwdIn', 'fwdOut', 'sink'] as const;

/** Runs `ip -n <ns> -batch -` over `lines` (one ip command each, without the leading `ip`). */
function ipBatch(ns: string | null, lines: readonly string[]): void {
  const args = ns === null ? ['-batch', '-'] : ['-n', ns, '-batch', '-'];
  execFileSync('ip', args, { input: lines.join('\n') + '\n', encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], timeout: 10_000 });
}

/**
 * Waits (at most 5 s) until `count` interfaces in `namespaces` report operstate UP. Linux moves a new link's
 * operstate, and attaches its real qdisc, from the delayed linkwatch work (up to ~1 s after `link set up`);
 * until then transmits go to the noop qdisc and are dropped. Throws ERR_NETSHARD_TOPOLOGY when time runs out.
 */
function waitForOperstateUp(namespaces: readonly string[], count: number): void {
  const deadline = Date.now() + 5000;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    let up = 0;
    for (const ns of namespaces) {
      const links = JSON.parse(ip('-j', '-n', ns, 'link', 'show', 'type', 'veth')) as { operstate?: string }[];
      up += links.filter((l) => l.operstate === 'UP').length;
    }
    if (up >= count) return;
    if (Date.now() > deadline) throw new NetshardError('ERR_NETSHARD_TOPOLOGY', `only ${up} of ${count} veth ends came up within 5 s`);
    // Control path at setup only, before any engine runs: a 50 ms nap between polls. (Atomics.wait on the
    // main thread blocks its event loop, which has nothing to do yet.)
    Atomics.wait(pause, 0, 0, 50);
  }
}

/**
 * Builds the forwarding topology as root (see the file comment) and returns it; the caller owns it and
 * calls `destroy()` in a `finally`. On failure deletes whatever it made and rethrows. Throws
 * ERR_NETSHARD_TOPOLOGY_EXISTS when this process already holds one (names carry the pid, so only one at a time),
 * Node's argument errors for bad options, and what `ip`/`sysctl`/`python3` report.
 * Thread: main; blocks for a second or two (child processes: `ip` batches and one python3).
 */
export function createForwardTopology(options: ForwardTopologyOptions = {}): ForwardTopology {
  const o = validateTopologyOptions(options, []);
  return build(o, FORWARD_TOPOLOGY_NAMES, 'kernel', {});
}

/**
 * Builds a lab as root, as `createForwardTopology` does, with other names, ns-fwd's addresses left to a
 * user-space stack when `forwarderAddresses` is 'user', and extra sysctls (see `LabOptions`). Same
 * ownership, failure cleanup and errors as `createForwardTopology`; also ERR_OUT_OF_RANGE for a name stem
 * that would make an interface name longer than 15 characters. Thread: main; blocks for a second or two.
 */
export function createLab(options: LabOptions = {}): ForwardTopology {
  const o = validateTopologyOptions(options, ['names', 'forwarderAddresses', 'sysctls']);
  const names = options.names ?? FORWARD_TOPOLOGY_NAMES;
  validateObject(names, 'options.names', NAME_KEYS);
  for (const key of NAME_KEYS) {
    const stem = names[key];
    validateString(stem, `options.names.${key}`);
    if (!/^[a-z][a-z0-9-]*$/.test(stem)) throw new NetshardError('ERR_INVALID_ARG_VALUE', `options.names.${key} must be lower-case letters, digits and '-', received '${stem}'`);
    if (!key.endsWith('Ns') && stem.length + 1 + String(process.pid).length > 15) {
      throw new NetshardError('ERR_OUT_OF_RANGE', `options.names.${key} '${stem}' makes an interface name longer than 15 characters`);
    }
  }
  const owner = options.forwarderAddresses ?? 'kernel';
  validateOneOf(owner, 'options.forwarderAddresses', ['kernel', 'user'] as const);
  const sysctls = options.sysctls ?? {};
  validateObject(sysctls, 'options.sysctls', ['gen', 'fwd', 'sink']);
  for (const [where, keys] of Object.entries(sysctls)) {
    if (keys === undefined) continue;
    if (typeof keys !== 'object' || keys === null) throw new NetshardError('ERR_INVALID_ARG_TYPE', `options.sysctls.${where} must be an object of sysctl keys and values`);
    for (const [key, value] of Object.entries(keys)) {
      if (!/^[a-z0-9_.]+$/.test(key)) throw new NetshardError('ERR_INVALID_ARG_VALUE', `options.sysctls.${where} key '${key}' is not a sysctl name`);
      validateString(value, `options.sysctls.${where}['${key}']`);
    }
  }
  return build(o, names, owner, sysctls);
}

function build(o: Required<ForwardTopologyOptions>, stems: LabNames, owner: 'kernel' | 'user', extra: NonNullable<LabOptions['sysctls']>): ForwardTopology {
  const pid = process.pid;
  const namespaces = { gen: `${stems.genNs}-${pid}`, fwd: `${stems.fwdNs}-${pid}`, sink: `${stems.sinkNs}-${pid}` } as const;
  const names = { gen: `${stems.gen}-${pid}`, fwdIn: `${stems.fwdIn}-${pid}`, fwdOut: `${stems.fwdOut}-${pid}`, sink: `${stems.sink}-${pid}` } as const;
  const all = [namespaces.gen, namespaces.fwd, namespaces.sink];
  const existing = new Set(ip('netns', 'list').split('\n').map((line) => line.split(' ')[0]));
  for (const ns of all) {
    if (existing.has(ns)) {
      throw new NetshardError('ERR_NETSHARD_TOPOLOGY_EXISTS', `network namespace ${ns} already exists: destroy() the previous topology first`);
    }
  }
  const plan = FORWARD_TOPOLOGY_PLAN;
  const ends = [
    { ns: namespaces.gen, name: names.gen, ...plan.gen, inKernel: true },
    { ns: namespaces.fwd, name: names.fwdIn, ...plan.fwdIn, inKernel: owner === 'kernel' },
    { ns: namespaces.fwd, name: names.fwdOut, ...plan.fwdOut, inKernel: owner === 'kernel' },
    { ns: namespaces.sink, name: names.sink, ...plan.sink, inKernel: true },
  ];
  // Static neighbours: each host knows the MAC of the next hop it sends to, and nothing is resolved.
  // A 'user' lab has none: the user-space stack in ns-fwd answers ARP / NDP.
  const neighbours = owner === 'user' ? [] : [
    { ns: namespaces.gen, dev: names.gen, peer: plan.fwdIn },
    { ns: namespaces.fwd, dev: names.fwdIn, peer: plan.gen },
    { ns: namespaces.fwd, dev: names.fwdOut, peer: plan.sink },
    { ns: namespaces.sink, dev: names.sink, peer: plan.fwdOut },
  ];
  const routes = [
    { ns: namespaces.gen, dev: names.gen, net4: SINK_NET4, net6: SINK_NET6, via: plan.fwdIn },
    { ns: namespaces.sink, dev: names.sink, net4: GEN_NET4, net6: GEN_NET6, via: plan.fwdOut },
  ];
  const extraOf = { [namespaces.gen]: extra.gen ?? {}, [namespaces.fwd]: extra.fwd ?? {}, [namespaces.sink]: extra.sink ?? {} };
  const q = `numtxqueues ${o.queues} numrxqueues ${o.queues}`;
  try {
    ipBatch(null, all.map((ns) => `netns add ${ns}`));
    // Both pairs are made from ns-fwd, each peer born in its own namespace (so it takes that namespace's defaults).
    ipBatch(namespaces.fwd, [
      `link add ${names.fwdIn} address ${plan.fwdIn.mac} ${q} type veth peer name ${names.gen} address ${plan.gen.mac} netns ${namespaces.gen} ${q}`,
      `link add ${names.fwdOut} address ${plan.fwdOut.mac} ${q} type veth peer name ${names.sink} address ${plan.sink.mac} netns ${namespaces.sink} ${q}`,
    ]);

    const setup = all.map((ns) => {
      const inside = ends.filter((e) => e.ns === ns).map((e) => e.name);
      const sysctl: [string, string][] = [];
      for (const dev of ['all', 'default', ...inside]) {
        sysctl.push([`net.ipv4.conf.${dev}.rp_filter`, '0']);
        if (o.ipv6) sysctl.push([`net.ipv6.conf.${dev}.accept_dad`, '0'], [`net.ipv6.conf.${dev}.router_solicitations`, '0']);
        else sysctl.push([`net.ipv6.conf.${dev}.disable_ipv6`, '1']);
      }
      sysctl.push(...Object.entries(extraOf[ns] ?? {}));
      return { ns, sysctl, interfaces: inside };
    });
    const macs = JSON.parse(
      execFileSync('python3', ['-c', SETUP_PY, JSON.stringify(setup)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 }),
    ) as Record<string, string>;

    for (const ns of all) {
      const lines = ['link set lo up'];
      for (const e of ends.filter((x) => x.ns === ns)) {
        if (e.inKernel) {
          lines.push(`addr add ${e.ipv4}/24 dev ${e.name}`);
          if (o.ipv6) lines.push(`addr add ${e.ipv6}/64 dev ${e.name} nodad`);
        }
        lines.push(`link set ${e.name} up`);
      }
      for (const n of neighbours.filter((x) => x.ns === ns)) {
        lines.push(`neigh replace ${n.peer.ipv4} lladdr ${n.peer.mac} dev ${n.dev} nud permanent`);
        if (o.ipv6) lines.push(`neigh replace ${n.peer.ipv6} lladdr ${n.peer.mac} dev ${n.dev} nud permanent`);
      }
      for (const r of routes.filter((x) => x.ns === ns)) {
        lines.push(`route add ${r.net4} via ${r.via.ipv4} dev ${r.dev}`);
        if (o.ipv6) lines.push(`route add ${r.net6} via ${r.via.ipv6} dev ${r.dev}`);
      }
      ipBatch(ns, lines);
    }

    waitForOperstateUp(all, ends.length);

    const link = (e: (typeof ends)[number]): TopologyLink => {
      const mac = macs[`${e.ns}/${e.name}`];
      if (mac === undefined) throw new NetshardError('ERR_NETSHARD_TOPOLOGY', `no MAC address read for ${e.name} in ${e.ns}`);
      return { ns: e.ns, name: e.name, mac, ipv4: e.ipv4, ipv6: o.ipv6 ? e.ipv6 : null };
    };
    const [gen, fwdIn, fwdOut, sink] = ends.map(link) as [TopologyLink, TopologyLink, TopologyLink, TopologyLink];
    const topology = new ForwardTopology(namespaces, { gen, fwdIn, fwdOut, sink }, o.queues);
    topology.setKernelForwarding(o.kernelForwarding);
    return topology;
  } catch (err) {
    for (const ns of all) if (!existing.has(ns)) deleteNetns(ns);
    throw err;
  }
}
