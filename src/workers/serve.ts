/**
 * `netshard serve`: SO_REUSEPORT UDP servers on the engine. Two layers, each usable alone:
 *
 * - `startStackEngine(options)`: AF_PACKET sockets on one interface (in a network namespace if asked,
 *   `openPacketSockets(…, { netns })`), one dispatch worker per socket, and the coordinator's `Stack`
 *   owning addresses on that link (NIC 1, the interface's MAC and MTU): it answers ARP, NDP and ICMP
 *   echo itself, and `udp` (`EngineUdpContext`) gives node:dgram-like sockets (`createSocket(type, udp)`)
 *   that talk to real kernels. The interface itself should hold no address of the kernel's for those
 *   addresses, or the kernel answers too.
 * - `serve(options)`: that, plus an `AppHost`: `instances` app workers, each a server on `port` with
 *   reusePort, one flow always to the same instance; `handler` is a module whose default export makes
 *   the reply (default: echo).
 *
 * Thread: main. Control path: validates at the door, throws / rejects NetshardError; on failure closes
 * what it opened.
 */
import { NetshardError } from '../errors.ts';
import { closeFds, openPacketSockets, syscalls, withNetns, type DispatchMode } from '../fdbased/index.ts';
import { Stack, formatLinkAddress } from '../tcpip/index.ts';
import { validateArray, validateBoolean, validateInteger, validateObject, validateOneOf, validateString } from '../validate.ts';
import type { AppInstanceStats } from './app-channel.ts';
import { AppHost, type AppHostOptions } from './app-host.ts';
import { Engine } from './coordinator.ts';
import { StackAdapter } from './stack-adapter.ts';
import type { WorkerStats } from './stats.ts';
import { EngineUdpContext, type UdpSendCounter } from './udp-context.ts';

/** What `readInterface` learns about a network interface. */
export interface InterfaceInfo {
  name: string;
  index: number;
  /** Its MAC, `02:00:00:00:05:02`. */
  linkAddress: string;
  mtu: number;
}

/**
 * Reads the index, MAC (SIOCGIFHWADDR) and MTU (SIOCGIFMTU) of interface `name`, inside network
 * namespace `netns` when given. Throws ENODEV for an unknown interface, the errno of a failed ioctl.
 * Thread: any. Control path.
 */
export function readInterface(name: string, netns?: string): InterfaceInfo {
  validateString(name, 'name');
  if (name.length === 0 || name.length > syscalls.IFNAMSIZ - 1) {
    throw new NetshardError('ERR_INVALID_ARG_VALUE', `name must be 1 to ${syscalls.IFNAMSIZ - 1} characters, received '${name}'`);
  }
  return withNetns(netns, () => {
    const index = syscalls.if_nametoindex(name);
    if (index === 0) throw new NetshardError('ENODEV', `no network interface '${name}'${netns === undefined ? '' : ` in namespace '${netns}'`}`, { errno: syscalls.ENODEV, syscall: 'if_nametoindex' });
    const fd = syscalls.socket(syscalls.AF_INET, syscalls.SOCK_DGRAM | syscalls.SOCK_CLOEXEC, 0);
    if (fd < 0) throw syscalls.errnoError('socket', fd, 'AF_INET for interface ioctls');
    try {
      const ifreq = new Uint8Array(syscalls.SIZEOF_IFREQ);
      const view = new DataView(ifreq.buffer);
      new TextEncoder().encodeInto(name, ifreq.subarray(syscalls.IFREQ_NAME, syscalls.IFREQ_NAME + syscalls.IFNAMSIZ - 1));
      let r = syscalls.ioctl(fd, syscalls.SIOCGIFHWADDR, ifreq);
      if (r < 0) throw syscalls.errnoError('ioctl', r, `SIOCGIFHWADDR on '${name}'`);
      // ifr_hwaddr is a sockaddr: sa_family (2 bytes), then the address in sa_data.
      const linkAddress = formatLinkAddress(ifreq, syscalls.IFREQ_UNION + 2);
      r = syscalls.ioctl(fd, syscalls.SIOCGIFMTU, ifreq);
      if (r < 0) throw syscalls.errnoError('ioctl', r, `SIOCGIFMTU on '${name}'`);
      return { name, index, linkAddress, mtu: view.getInt32(syscalls.IFREQ_UNION, true) };
    } finally {
      syscalls.close(fd);
    }
  });
}

/** Options of `startStackEngine`. */
export interface StackEngineOptions {
  /** The interface the engine owns (AF_PACKET sockets on it, all EtherTypes). */
  interface: string;
  /** Network namespace the interface lives in (a name made by `ip netns add`, or a path). Default: ours. */
  netns?: string;
  /** Addresses the stack owns on that link, in CIDR form (`198.18.5.2/24`, `2001:2:0:5::2/64`); at least one. */
  addresses: readonly string[];
  /** Default gateways (an IPv4 and/or an IPv6 address on the link). Default none. */
  gateways?: readonly string[];
  /** AF_PACKET sockets in one fanout group, one dispatch worker each, 1..64. Default 1. */
  fds?: number;
  /** How the workers read: 'recvmmsg' (default), 'readv', 'mmap'. */
  dispatchMode?: DispatchMode;
  /** Queue datagrams whose next hop is being resolved (true, default), or drop and count them. */
  queueUnresolved?: boolean;
  /** Frames per worker pool. Default 4096. */
  frameCount?: number;
  /** Frames in the coordinator's tx pool. Default 4096. */
  txFrameCount?: number;
}

/** A running engine whose stack owns addresses on one link. */
export interface StackEngine {
  readonly engine: Engine;
  readonly stack: Stack;
  readonly adapter: StackAdapter;
  /** The UDP context: `createSocket({ type: 'udp4' }, udp)` makes a socket on this stack. */
  readonly udp: EngineUdpContext;
  readonly interface: InterfaceInfo;
  /** The AF_PACKET fds (the engine's; closed by `close`). */
  readonly fds: readonly number[];
  /** Stops the engine (every frame home) and closes the fds. Idempotent. */
  close(): Promise<void>;
}

const STACK_ENGINE_KEYS = ['interface', 'netns', 'addresses', 'gateways', 'fds', 'dispatchMode', 'queueUnresolved', 'frameCount', 'txFrameCount'] as const;

function checkStackEngineOptions(o: StackEngineOptions, name: string): void {
  validateString(o.interface, `${name}.interface`);
  if (o.netns !== undefined) validateString(o.netns, `${name}.netns`);
  validateArray(o.addresses, `${name}.addresses`, 1);
  o.addresses.forEach((a, i) => validateString(a, `${name}.addresses[${i}]`));
  if (o.gateways !== undefined) {
    validateArray(o.gateways, `${name}.gateways`);
    o.gateways.forEach((g, i) => validateString(g, `${name}.gateways[${i}]`));
  }
  if (o.fds !== undefined) validateInteger(o.fds, `${name}.fds`, 1, 64);
  if (o.dispatchMode !== undefined) validateOneOf(o.dispatchMode, `${name}.dispatchMode`, ['readv', 'recvmmsg', 'mmap'] as const);
  if (o.queueUnresolved !== undefined) validateBoolean(o.queueUnresolved, `${name}.queueUnresolved`);
}

/**
 * Opens `options.fds` AF_PACKET sockets on `options.interface` (in `options.netns`), builds a `Stack`
 * with one NIC (the interface's MAC and MTU), its addresses and gateways, and starts an engine with that
 * stack on the coordinator. Resolves once every worker runs. Rejects with NetshardError: bad options
 * (ERR_INVALID_ARG_*, ERR_OUT_OF_RANGE), ENODEV, EPERM (no CAP_NET_RAW), ENOENT (no such namespace).
 * Thread: main.
 */
export async function startStackEngine(options: StackEngineOptions): Promise<StackEngine> {
  validateObject(options, 'options', STACK_ENGINE_KEYS);
  checkStackEngineOptions(options, 'options');
  return startChecked(options);
}

async function startChecked(options: StackEngineOptions): Promise<StackEngine> {
  const info = readInterface(options.interface, options.netns);
  const stack = new Stack({ queueUnresolved: options.queueUnresolved ?? true });
  const nic = stack.addNic({ name: info.name, linkAddress: info.linkAddress, mtu: info.mtu });
  for (const address of options.addresses) stack.addAddress(nic, address);
  for (const gateway of options.gateways ?? []) {
    stack.addRoute({ destination: gateway.includes(':') ? '::/0' : '0.0.0.0/0', gateway, nic });
  }
  const adapter = new StackAdapter(stack);
  const opened = openPacketSockets(info.name, options.fds ?? 1, options.netns === undefined ? {} : { netns: options.netns });
  const fds = opened.fds;
  let engine: Engine;
  try {
    engine = new Engine({
      links: [{ fds, ethernetHeader: true, linkAddress: info.linkAddress, mtu: info.mtu, dispatchMode: options.dispatchMode ?? 'recvmmsg' }],
      stack: adapter,
      ...(options.frameCount === undefined ? {} : { frameCount: options.frameCount }),
      ...(options.txFrameCount === undefined ? {} : { txFrameCount: options.txFrameCount }),
    });
  } catch (err) {
    closeFds(fds);
    throw err;
  }
  const udp = new EngineUdpContext(adapter, engine.ports);
  try {
    await engine.start();
  } catch (err) {
    closeFds(fds);
    throw err;
  }
  let closing: Promise<void> | null = null;
  return {
    engine, stack, adapter, udp, interface: info, fds,
    close() {
      closing ??= engine.stop().finally(() => closeFds(fds));
      return closing;
    },
  };
}

/** Options of `serve`: the engine's, plus the servers'. */
export interface ServeOptions extends StackEngineOptions {
  /** UDP port every instance binds, 1..65535. */
  port: number;
  /** Server instances, one app worker each, 1..64. Default 2. */
  instances?: number;
  /** Module whose default export makes the reply (`AppHandler`); default: echo. */
  handler?: string;
  /** Address the servers bind: '0.0.0.0' (default), '::' (IPv6 and IPv4), or one of `addresses`. */
  bindAddress?: string;
  /** Owner id of the instances (SO_REUSEPORT same-owner rule). Default: this process's uid. */
  owner?: number;
}

/** Everything `serve` counts, plain data: what `netshard serve` prints. */
export interface ServeStats {
  /** Per instance: datagrams in/out, flows seen, drops (`AppStat`). */
  instances: AppInstanceStats[];
  /** Per dispatch worker. */
  workers: WorkerStats[];
  /** The UDP send path (`UdpSendCounter`). */
  send: Record<keyof typeof UdpSendCounter, number>;
  /** The stack's outcomes by `StackReason` index, and its ARP outcomes by `ArpResult` index. */
  stack: number[];
  arp: number[];
}

/** A running `serve`. */
export interface UdpServer extends StackEngine {
  readonly host: AppHost;
  /** Returns every counter from shared memory (no message to any thread). */
  readStats(): ServeStats;
}

/**
 * Starts the engine (`startStackEngine`) and `options.instances` reuseport servers on `options.port`;
 * resolves once every instance is bound. `close()` stops the servers (their ports released), then the
 * engine. Rejects as `startStackEngine` and `AppHost.start` do (EADDRINUSE, a handler import error, …),
 * after closing what it started. Thread: main.
 */
export async function serve(options: ServeOptions): Promise<UdpServer> {
  validateObject(options, 'options', [...STACK_ENGINE_KEYS, 'port', 'instances', 'handler', 'bindAddress', 'owner']);
  checkStackEngineOptions(options, 'options');
  validateInteger(options.port, 'options.port', 1, 65535);
  const hostOptions: AppHostOptions = { port: options.port };
  if (options.instances !== undefined) hostOptions.instances = options.instances;
  if (options.handler !== undefined) hostOptions.handler = options.handler;
  if (options.bindAddress !== undefined) hostOptions.address = options.bindAddress;
  if (options.owner !== undefined) hostOptions.owner = options.owner;
  const base = await startChecked(options);
  let host: AppHost;
  try {
    host = await AppHost.start(base.udp, hostOptions);
  } catch (err) {
    await base.close();
    throw err;
  }
  let closing: Promise<void> | null = null;
  return {
    ...base,
    host,
    readStats: () => ({
      instances: host.readStats(),
      workers: base.engine.workerStats(),
      send: base.udp.sendStats(),
      stack: Array.from(base.stack.counters),
      arp: Array.from(base.stack.arpCounters),
    }),
    close() {
      closing ??= host.close().then(() => base.close());
      return closing;
    },
  };
}
