/**
 * Opens AF_PACKET sockets on one interface and spreads its flows over them with PACKET_FANOUT, as gVisor's
 * fdbased endpoint and runsc do (REFERENCE-gvisor.md §2.1, §2.6, §2.8): one socket per dispatch worker,
 * the kernel hashing each flow to one socket.
 *
 * Thread: any (usually the coordinator, before it hands one fd to each worker). Control path: throws
 * NetshardError; on failure every fd opened so far is closed.
 */
import { NetshardError } from '../errors.ts';
import { validateBoolean, validateInteger, validateObject, validateString } from '../validate.ts';
import { withNetns } from './netns.ts';
import { closeFds } from './socketpair.ts';
import {
  AF_PACKET,
  EINVAL,
  ENODEV,
  EPERM,
  EACCES,
  ETH_P_ALL,
  PACKET_FANOUT,
  PACKET_FANOUT_FLAG_IGNORE_OUTGOING,
  PACKET_FANOUT_FLAG_UNIQUEID,
  PACKET_FANOUT_HASH,
  PACKET_IGNORE_OUTGOING,
  PACKET_QDISC_BYPASS,
  PACKET_VNET_HDR,
  SIZEOF_SOCKADDR_LL,
  SOCKADDR_LL_FAMILY,
  SOCKADDR_LL_IFINDEX,
  SOCKADDR_LL_PROTOCOL,
  SOCK_CLOEXEC,
  SOCK_RAW,
  SOL_PACKET,
  SOL_SOCKET,
  SO_RCVBUF,
  SO_RCVBUFFORCE,
  SO_SNDBUF,
  SO_SNDBUFFORCE,
  bind,
  close,
  errnoError,
  getpid,
  getsockoptInt,
  if_nametoindex,
  setsockoptInt,
  socket,
} from './syscalls.ts';

/** Options of `openPacketSockets`. */
export interface PacketSocketOptions {
  /**
   * Network namespace the interface lives in: a name made by `ip netns add` or a path. Default: the calling
   * thread's namespace. The sockets stay in that namespace; the thread does not (see `netns.ts`).
   */
  netns?: string;
  /** SO_RCVBUFFORCE per socket in bytes, falling back to SO_RCVBUF without CAP_NET_ADMIN; 0 keeps the kernel's. Default 4 MiB (runsc). */
  receiveBufferBytes?: number;
  /** SO_SNDBUFFORCE per socket in bytes, falling back to SO_SNDBUF; 0 keeps the kernel's. Default 4 MiB (runsc). */
  sendBufferBytes?: number;
  /**
   * Fanout group to create or join (0..65535) instead of one the kernel picks with
   * PACKET_FANOUT_FLAG_UNIQUEID. Another group with this id in the same namespace would be joined: give it only
   * when two openers must share a group, or to exercise the old-kernel path. Default: kernel-assigned.
   */
  fanoutId?: number;
  /**
   * Sets PACKET_VNET_HDR: every frame read or written starts with a 10-byte virtio_net_hdr (host GSO, §2.8).
   * An endpoint over the fds learns it from them (getsockopt) and drops / adds the header itself; needed for
   * `gsoKind: 'hardware'`. Set before any PACKET_RX_RING (the kernel refuses it afterwards). Default false.
   */
  vnetHeader?: boolean;
  /**
   * Don't deliver the frames sent on the interface back to these sockets (the kernel loops every outgoing
   * frame back to its packet sockets otherwise: a copy per send, a loop for a bridge). The group is made with
   * PACKET_FANOUT_FLAG_IGNORE_OUTGOING (a group's flags are fixed when it is made; the per-socket
   * PACKET_IGNORE_OUTGOING does not reach fanout members); a single socket gets PACKET_IGNORE_OUTGOING.
   * Needs Linux >= 4.20. Default false.
   */
  ignoreOutgoing?: boolean;
  /**
   * Sets PACKET_QDISC_BYPASS (packet(7), Linux >= 3.14): frames sent on these sockets go straight to the
   * driver's transmit, skipping the qdisc layer and the taps (`dev_queue_xmit_nit`: tcpdump on the interface
   * does not see them, tc rules do not apply to them). A device that is busy drops the frame rather than a
   * qdisc queueing it. Measured on veth (noqueue): ~7% less CPU per forwarded 64-byte packet. Default false.
   */
  qdiscBypass?: boolean;
}

/** Defaults of `PacketSocketOptions`. 4 MiB buffers as runsc sets them (REFERENCE-gvisor.md §2.8). */
export const DEFAULT_PACKET_SOCKET_OPTIONS = { receiveBufferBytes: 4 << 20, sendBufferBytes: 4 << 20, vnetHeader: false, ignoreOutgoing: false, qdiscBypass: false } as const;

/** What `openPacketSockets` opened. The caller owns `fds` and closes them (`closeFds` in socketpair.ts). */
export interface PacketSockets {
  /** Bound AF_PACKET sockets, blocking, close-on-exec; in one fanout group when there are 2 or more. */
  fds: number[];
  /** The interface's index in its namespace. */
  interfaceIndex: number;
  /** The fanout group id (0..65535), or -1 for a single socket (no group). */
  fanoutId: number;
  /** True when the group id came from PACKET_FANOUT_FLAG_UNIQUEID, false for `options.fanoutId` or the old-kernel fallback. */
  fanoutIdFromKernel: boolean;
}

/** Most sockets per call; a fanout group holds at most 256 (PACKET_FANOUT_MAX in af_packet). */
export const MAX_PACKET_SOCKETS = 256;

// Group ids for kernels without PACKET_FANOUT_FLAG_UNIQUEID: a counter starting at the pid, as gVisor's
// fallbackFanoutID (REFERENCE-gvisor.md §2.6). Per thread; ids only need to differ within a namespace.
let fallbackFanoutId = -1;

/**
 * Opens `count` AF_PACKET sockets bound to interface `ifname` (all EtherTypes), with the buffer sizes and
 * vnet header of `options` (and `ignoreOutgoing`), and when `count` >= 2 joins them into one PACKET_FANOUT_HASH group, so the
 * kernel delivers each flow (a symmetric hash of its addresses and ports) to always the same socket.
 *
 * The group id comes from the kernel (PACKET_FANOUT_FLAG_UNIQUEID on the first socket, read back with
 * getsockopt), so no other group in the namespace is joined by accident; a kernel without that flag
 * rejects it with EINVAL and we fall back to a pid-based counter, as gVisor does. PACKET_FANOUT_FLAG_DEFRAG
 * is deliberately not set: gVisor leaves reassembly to its own stack so that code gets exercised, and so do
 * we (fragments of one datagram may then land on different sockets, as IP fragments carry no ports).
 *
 * Throws ERR_INVALID_ARG_* / ERR_OUT_OF_RANGE for bad arguments, ENODEV when there is no `ifname`, EPERM
 * without CAP_NET_RAW, or the errno of the step that failed. Thread: any. Control path.
 */
export function openPacketSockets(ifname: string, count: number, options: PacketSocketOptions = {}): PacketSockets {
  validateString(ifname, 'ifname');
  if (ifname.length === 0 || ifname.length > 15) {
    throw new NetshardError('ERR_INVALID_ARG_VALUE', `ifname must be 1 to 15 characters, received '${ifname}'`);
  }
  validateInteger(count, 'count', 1, MAX_PACKET_SOCKETS);
  const o = validatePacketSocketOptions(options);
  return withNetns(o.netns, () => openInCurrentNetns(ifname, count, o));
}

type ValidPacketSocketOptions = Required<Omit<PacketSocketOptions, 'netns' | 'fanoutId'>> & Pick<PacketSocketOptions, 'netns' | 'fanoutId'>;

function validatePacketSocketOptions(options: PacketSocketOptions): ValidPacketSocketOptions {
  validateObject(options, 'options', ['netns', 'receiveBufferBytes', 'sendBufferBytes', 'fanoutId', 'vnetHeader', 'ignoreOutgoing', 'qdiscBypass']);
  if (options.netns !== undefined) validateString(options.netns, 'options.netns');
  const receiveBufferBytes = options.receiveBufferBytes ?? DEFAULT_PACKET_SOCKET_OPTIONS.receiveBufferBytes;
  validateInteger(receiveBufferBytes, 'options.receiveBufferBytes', 0, 0x7fff_ffff);
  const sendBufferBytes = options.sendBufferBytes ?? DEFAULT_PACKET_SOCKET_OPTIONS.sendBufferBytes;
  validateInteger(sendBufferBytes, 'options.sendBufferBytes', 0, 0x7fff_ffff);
  if (options.fanoutId !== undefined) validateInteger(options.fanoutId, 'options.fanoutId', 0, 0xffff);
  const vnetHeader = options.vnetHeader ?? DEFAULT_PACKET_SOCKET_OPTIONS.vnetHeader;
  validateBoolean(vnetHeader, 'options.vnetHeader');
  const ignoreOutgoing = options.ignoreOutgoing ?? DEFAULT_PACKET_SOCKET_OPTIONS.ignoreOutgoing;
  validateBoolean(ignoreOutgoing, 'options.ignoreOutgoing');
  const qdiscBypass = options.qdiscBypass ?? DEFAULT_PACKET_SOCKET_OPTIONS.qdiscBypass;
  validateBoolean(qdiscBypass, 'options.qdiscBypass');
  return { netns: options.netns, receiveBufferBytes, sendBufferBytes, fanoutId: options.fanoutId, vnetHeader, ignoreOutgoing, qdiscBypass };
}

function openInCurrentNetns(ifname: string, count: number, o: ValidPacketSocketOptions): PacketSockets {
  const interfaceIndex = if_nametoindex(ifname);
  if (interfaceIndex === 0) {
    throw new NetshardError('ENODEV', `no network interface '${ifname}'${o.netns === undefined ? '' : ` in namespace '${o.netns}'`}`, {
      errno: ENODEV,
      syscall: 'if_nametoindex',
    });
  }
  const fds: number[] = [];
  try {
    for (let i = 0; i < count; i++) fds.push(openOne(ifname, interfaceIndex, o));
    let fanoutId = -1;
    let fanoutIdFromKernel = false;
    // A group's flags are fixed by its first socket; the others must join with the same type and flags
    // (UNIQUEID is not kept in the group's flags).
    const type = PACKET_FANOUT_HASH | (o.ignoreOutgoing ? PACKET_FANOUT_FLAG_IGNORE_OUTGOING : 0);
    if (count === 1 && o.ignoreOutgoing) {
      const r = setsockoptInt(fds[0]!, SOL_PACKET, PACKET_IGNORE_OUTGOING, 1);
      if (r < 0) throw errnoError('setsockopt', r, `PACKET_IGNORE_OUTGOING on ${ifname}`);
    }
    if (count >= 2) {
      [fanoutId, fanoutIdFromKernel] = createFanoutGroup(fds[0]!, o.fanoutId, type);
      const arg = fanoutId | (type << 16);
      for (let i = 1; i < count; i++) {
        const r = setsockoptInt(fds[i]!, SOL_PACKET, PACKET_FANOUT, arg);
        if (r < 0) throw errnoError('setsockopt', r, `PACKET_FANOUT (join group ${fanoutId} on ${ifname})`);
      }
    }
    return { fds, interfaceIndex, fanoutId, fanoutIdFromKernel };
  } catch (err) {
    closeFds(fds);
    throw err;
  }
}

// One reused sockaddr_ll: control path, one thread at a time per module instance.
const sockaddrLl = new Uint8Array(SIZEOF_SOCKADDR_LL);
const sockaddrLlView = new DataView(sockaddrLl.buffer);

function openOne(ifname: string, interfaceIndex: number, o: ValidPacketSocketOptions): number {
  // Protocol 0 at socket(), ETH_P_ALL at bind(), as runsc does: a socket made with ETH_P_ALL starts
  // receiving from every interface of the namespace until bind() narrows it to one.
  const fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    if (fd === -EPERM || fd === -EACCES) {
      throw new NetshardError('EPERM', `opening an AF_PACKET socket needs CAP_NET_RAW (run as root or grant the capability)`, {
        errno: -fd,
        syscall: 'socket',
      });
    }
    throw errnoError('socket', fd, 'AF_PACKET');
  }
  try {
    if (o.receiveBufferBytes > 0) setBuffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, o.receiveBufferBytes, 'SO_RCVBUF');
    if (o.sendBufferBytes > 0) setBuffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, o.sendBufferBytes, 'SO_SNDBUF');
    if (o.qdiscBypass) {
      const r = setsockoptInt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, 1);
      if (r < 0) throw errnoError('setsockopt', r, 'PACKET_QDISC_BYPASS');
    }
    if (o.vnetHeader) {
      const r = setsockoptInt(fd, SOL_PACKET, PACKET_VNET_HDR, 1);
      if (r < 0) throw errnoError('setsockopt', r, 'PACKET_VNET_HDR');
    }
    sockaddrLl.fill(0);
    sockaddrLlView.setUint16(SOCKADDR_LL_FAMILY, AF_PACKET, true);
    sockaddrLlView.setUint16(SOCKADDR_LL_PROTOCOL, ETH_P_ALL, false); // htons
    sockaddrLlView.setInt32(SOCKADDR_LL_IFINDEX, interfaceIndex, true);
    const r = bind(fd, sockaddrLl, SIZEOF_SOCKADDR_LL);
    if (r < 0) {
      if (r === -ENODEV) throw new NetshardError('ENODEV', `network interface '${ifname}' went away`, { errno: ENODEV, syscall: 'bind' });
      throw errnoError('bind', r, `AF_PACKET to '${ifname}'`);
    }
    return fd;
  } catch (err) {
    close(fd);
    throw err;
  }
}

/** Sets a buffer size with the FORCE option (CAP_NET_ADMIN, past rmem_max/wmem_max), else the capped one. */
function setBuffer(fd: number, force: number, plain: number, bytes: number, name: string): void {
  if (setsockoptInt(fd, SOL_SOCKET, force, bytes) === 0) return;
  const r = setsockoptInt(fd, SOL_SOCKET, plain, bytes);
  if (r < 0) throw errnoError('setsockopt', r, name);
}

/**
 * Creates the fanout group of `type` (PACKET_FANOUT_HASH and flags) on `fd` (the first socket) and returns
 * [id, fromKernel]. With `wanted` the group
 * is `wanted`; otherwise the kernel picks an unused id (UNIQUEID; the kernel drops that flag from the group,
 * so the others join with `type` alone) and we read it back; EINVAL there means a kernel too old for
 * UNIQUEID, and the id comes from the pid-based counter instead (REFERENCE-gvisor.md §2.6).
 */
function createFanoutGroup(fd: number, wanted: number | undefined, type: number): [number, boolean] {
  if (wanted === undefined) {
    const r = setsockoptInt(fd, SOL_PACKET, PACKET_FANOUT, (type | PACKET_FANOUT_FLAG_UNIQUEID) << 16);
    if (r === 0) {
      const arg = getsockoptInt(fd, SOL_PACKET, PACKET_FANOUT);
      if (arg < 0) throw errnoError('getsockopt', arg, 'PACKET_FANOUT');
      return [arg & 0xffff, true];
    }
    if (r !== -EINVAL) throw errnoError('setsockopt', r, 'PACKET_FANOUT (create a unique group)');
    if (fallbackFanoutId < 0) fallbackFanoutId = getpid();
    wanted = ++fallbackFanoutId & 0xffff;
  }
  const r = setsockoptInt(fd, SOL_PACKET, PACKET_FANOUT, wanted | (type << 16));
  if (r < 0) throw errnoError('setsockopt', r, `PACKET_FANOUT (create group ${wanted})`);
  return [wanted, false];
}
