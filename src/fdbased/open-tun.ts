/**
 * Opens a TUN (IP packets) or TAP (Ethernet frames) device through /dev/net/tun, with one fd per queue
 * (IFF_MULTI_QUEUE): the kernel spreads the flows it sends to the device over the queues, one dispatch
 * worker reads each. The fds are not sockets, so the endpoint reads them with readv (REFERENCE-gvisor.md §2.1).
 *
 * Thread: any. Control path: throws NetshardError; on failure every fd opened so far is closed, and with
 * them the device (it is not made persistent).
 */
import { NetshardError } from '../errors.ts';
import { validateBoolean, validateInteger, validateObject, validateString } from '../validate.ts';
import { withNetns } from './netns.ts';
import { closeFds } from './socketpair.ts';
import {
  EACCES,
  EBUSY,
  EINVAL,
  ENODEV,
  ENOENT,
  EPERM,
  IFF_MULTI_QUEUE,
  IFF_NO_PI,
  IFF_TAP,
  IFF_TUN,
  IFF_VNET_HDR,
  IFNAMSIZ,
  IFREQ_NAME,
  IFREQ_UNION,
  O_CLOEXEC,
  O_RDWR,
  SIZEOF_IFREQ,
  TUNSETIFF,
  errnoError,
  if_nametoindex,
  ioctl,
  open,
} from './syscalls.ts';

/** Options of `openTun`. */
export interface TunOptions {
  /** A TAP device (Ethernet frames, IFF_TAP) instead of TUN (IP packets, IFF_TUN). Default false. */
  tap?: boolean;
  /** Queues, one fd each, 1..256 (MAX_TAP_QUEUES); with 2 or more the device is IFF_MULTI_QUEUE. Default 1. */
  queues?: number;
  /**
   * IFF_VNET_HDR: every packet read or written starts with a 10-byte virtio_net_hdr (REFERENCE-gvisor.md §2.8).
   * An endpoint over the fds learns it from them (TUNGETIFF) and drops / adds the header itself; needed for
   * `gsoKind: 'hardware'`. Default false.
   */
  vnetHeader?: boolean;
  /** Network namespace to create the device in: a name made by `ip netns add` or a path. Default: the calling thread's. */
  netns?: string;
}

/** Defaults of `TunOptions`. */
export const DEFAULT_TUN_OPTIONS = { tap: false, queues: 1, vnetHeader: false } as const;

/** Most queues of one device (MAX_TAP_QUEUES in drivers/net/tun.c). */
export const MAX_TUN_QUEUES = 256;

/** What `openTun` opened. The caller owns `fds`; the device disappears when the last one is closed. */
export interface TunDevice {
  /** The device name the kernel gave (the one asked for, or the expansion of a `%d` pattern). */
  name: string;
  /** The device's interface index in its namespace. */
  interfaceIndex: number;
  /** One blocking, close-on-exec fd per queue; reads give whole packets, without the 4-byte PI header (IFF_NO_PI). */
  fds: number[];
}

const PATH = '/dev/net/tun';

/**
 * Creates TUN/TAP device `name` (or attaches to an existing one with the same flags), down and without
 * addresses, and opens `options.queues` queues on it with IFF_NO_PI, plus IFF_MULTI_QUEUE when there are
 * 2 or more and IFF_VNET_HDR when `options.vnetHeader`. `name` may be a pattern such as `tun%d`.
 * Bring it up and address it with `ip` or netlink; netshard does not configure interfaces.
 *
 * Throws ERR_INVALID_ARG_* / ERR_OUT_OF_RANGE for bad arguments, ENOENT when /dev/net/tun is missing, EPERM
 * without CAP_NET_ADMIN, EBUSY when `name` exists with other flags or is not a TUN/TAP device, or the errno
 * of the step that failed. Thread: any. Control path.
 */
export function openTun(name: string, options: TunOptions = {}): TunDevice {
  validateString(name, 'name');
  if (name.length === 0 || new TextEncoder().encode(name).length >= IFNAMSIZ || /[\s/:]/.test(name)) {
    throw new NetshardError('ERR_INVALID_ARG_VALUE', `name must be 1 to 15 bytes without spaces, '/' or ':', received '${name}'`);
  }
  validateObject(options, 'options', ['tap', 'queues', 'vnetHeader', 'netns']);
  const tap = options.tap ?? DEFAULT_TUN_OPTIONS.tap;
  validateBoolean(tap, 'options.tap');
  const queues = options.queues ?? DEFAULT_TUN_OPTIONS.queues;
  validateInteger(queues, 'options.queues', 1, MAX_TUN_QUEUES);
  const vnetHeader = options.vnetHeader ?? DEFAULT_TUN_OPTIONS.vnetHeader;
  validateBoolean(vnetHeader, 'options.vnetHeader');
  if (options.netns !== undefined) validateString(options.netns, 'options.netns');

  let flags = (tap ? IFF_TAP : IFF_TUN) | IFF_NO_PI;
  if (queues >= 2) flags |= IFF_MULTI_QUEUE;
  if (vnetHeader) flags |= IFF_VNET_HDR;
  // /dev/net/tun binds a device to the namespace current at open(): open inside the namespace.
  return withNetns(options.netns, () => openQueues(name, queues, flags));
}

function openQueues(name: string, queues: number, flags: number): TunDevice {
  const ifreq = new Uint8Array(SIZEOF_IFREQ);
  const ifreqView = new DataView(ifreq.buffer);
  const fds: number[] = [];
  let actual = name;
  try {
    for (let q = 0; q < queues; q++) {
      const fd = open(PATH, O_RDWR | O_CLOEXEC);
      if (fd < 0) {
        if (fd === -ENOENT || fd === -ENODEV) {
          throw new NetshardError('ENOENT', `${PATH} is missing: load the tun module (modprobe tun)`, { errno: -fd, syscall: 'open' });
        }
        throw errnoError('open', fd, PATH);
      }
      fds.push(fd);
      // After the first queue, attach by the name the kernel gave (a `%d` pattern is expanded once).
      ifreq.fill(0);
      const nameBytes = new TextEncoder().encode(actual);
      ifreq.set(nameBytes, IFREQ_NAME);
      ifreqView.setInt16(IFREQ_UNION, flags, true);
      const r = ioctl(fd, TUNSETIFF, ifreq);
      if (r < 0) throw tunSetIffError(r, actual, q);
      if (q === 0) {
        const end = ifreq.indexOf(0, IFREQ_NAME);
        actual = new TextDecoder().decode(ifreq.subarray(IFREQ_NAME, end < 0 || end > IFNAMSIZ ? IFNAMSIZ : end));
      }
    }
    const interfaceIndex = if_nametoindex(actual);
    if (interfaceIndex === 0) throw new NetshardError('ENODEV', `TUN/TAP device '${actual}' vanished while opening it`, { errno: ENODEV });
    return { name: actual, interfaceIndex, fds };
  } catch (err) {
    closeFds(fds);
    throw err;
  }
}

function tunSetIffError(r: number, name: string, queue: number): NetshardError {
  const where = `TUNSETIFF '${name}' (queue ${queue})`;
  if (r === -EPERM || r === -EACCES) {
    return new NetshardError('EPERM', `${where} needs CAP_NET_ADMIN (run as root or grant the capability)`, { errno: -r, syscall: 'ioctl' });
  }
  if (r === -EBUSY || r === -EINVAL) {
    return errnoError('ioctl', r, `${where}: '${name}' exists with other flags (TUN vs TAP, queues, vnet header) or is not a TUN/TAP device`);
  }
  return errnoError('ioctl', r, where);
}

/** Closes a device's queue fds (and with the last one the device) and empties `device.fds`. Thread: any. Control path. */
export function closeTun(device: TunDevice): void {
  closeFds(device.fds);
  device.fds.length = 0;
}
