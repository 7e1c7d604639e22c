/**
 * Whether an fd carries a virtio-net header before every packet (IFF_VNET_HDR on a TUN/TAP queue,
 * PACKET_VNET_HDR on an AF_PACKET socket), learned from the fd itself, so an endpoint or a writer never
 * has to be told (and can never be told wrong). Control path only.
 */
import { NetshardError } from '../errors.ts';
import { VIRTIO_NET_HDR_SIZE } from './dispatcher.ts';
import {
  AF_PACKET,
  EBADFD,
  ENOPROTOOPT,
  IFF_NO_PI,
  IFF_TAP,
  IFF_VNET_HDR,
  PACKET_VNET_HDR,
  PACKET_VNET_HDR_SZ,
  SOL_PACKET,
  S_IFCHR,
  errnoError,
  fileType,
  getsockoptInt,
  socketDomain,
  tunFlags,
  tunVnetHeaderSize,
} from './syscalls.ts';

/** What `fdVnetHeader` learned about one fd. */
export interface FdVnetHeader {
  vnetHeader: boolean;
  /** What the fd is, for messages: "a TAP queue", "an AF_PACKET socket", … */
  what: string;
  /** How to give it a virtio-net header, for the message when hardware GSO needs one. */
  fix: string;
}

/**
 * Asks fd `fd` (`options.fds[index]`) whether it carries a virtio-net header before every packet, and
 * checks its framing against the options. Control path; throws ERR_INVALID_ARG_VALUE naming the fd, or the
 * errno name of a query that failed.
 * - A TUN/TAP queue (a character device answering TUNGETIFF): IFF_VNET_HDR in its device's flags; the
 *   header must be 10 bytes (TUNGETVNETHDRSZ; a device set to 12 is refused). It must have IFF_NO_PI (a
 *   4-byte packet-information prefix is not supported), and TAP goes with `ethernetHeader`, TUN without.
 * - An AF_PACKET socket: getsockopt PACKET_VNET_HDR; 10 bytes (PACKET_VNET_HDR_SZ, where the kernel has it).
 * - Another socket (an AF_UNIX pair standing in for a link): nothing to ask; it carries one exactly under
 *   hardware GSO, by agreement with its peer (gVisor's rule for every socket; its tests use socketpairs).
 * - Anything else (a pipe, a file): none.
 */
export function fdVnetHeader(fd: number, index: number, isSocket: boolean, hardwareGso: boolean, ethernetHeader: boolean): FdVnetHeader {
  const at = `options.fds[${index}] (fd ${fd})`;
  if (isSocket) {
    const domain = socketDomain(fd);
    if (domain < 0) throw errnoError('getsockopt', domain, `(fd ${fd}, SO_DOMAIN)`);
    if (domain !== AF_PACKET) {
      return { vnetHeader: hardwareGso, what: 'a socket', fix: '' }; // never asked: under hardware GSO it has one
    }
    const what = 'an AF_PACKET socket';
    const fix = "open it with openPacketSockets(…, { vnetHeader: true }) (PACKET_VNET_HDR), or use gsoKind 'software' or 'none'";
    const on = getsockoptInt(fd, SOL_PACKET, PACKET_VNET_HDR);
    if (on < 0) throw errnoError('getsockopt', on, `(fd ${fd}, PACKET_VNET_HDR)`);
    if (on === 0) return { vnetHeader: false, what, fix };
    const size = getsockoptInt(fd, SOL_PACKET, PACKET_VNET_HDR_SZ);
    if (size === -ENOPROTOOPT) return { vnetHeader: true, what, fix }; // before Linux 6.2 the size is always 10
    if (size < 0) throw errnoError('getsockopt', size, `(fd ${fd}, PACKET_VNET_HDR_SZ)`);
    if (size !== VIRTIO_NET_HDR_SIZE) {
      throw new NetshardError('ERR_INVALID_ARG_VALUE', `${at} has a ${size}-byte virtio-net header (PACKET_VNET_HDR_SZ); the endpoint supports ${VIRTIO_NET_HDR_SIZE}`);
    }
    return { vnetHeader: true, what, fix };
  }
  const none = { vnetHeader: false, what: 'neither a socket nor a TUN/TAP queue', fix: "such an fd cannot carry one: use gsoKind 'software' or 'none'" };
  const type = fileType(fd);
  if (type < 0) throw errnoError('fstat', type, `(fd ${fd})`);
  if (type !== S_IFCHR) return none;
  const flags = tunFlags(fd);
  if (flags === -EBADFD) {
    throw new NetshardError('ERR_INVALID_ARG_VALUE', `${at} is a TUN/TAP file attached to no device (TUNGETIFF: EBADFD): its framing cannot be learned`);
  }
  if (flags < 0) return none; // ENOTTY, EINVAL: another character device
  const tap = (flags & IFF_TAP) !== 0;
  const what = tap ? 'a TAP queue' : 'a TUN queue';
  if ((flags & IFF_NO_PI) === 0) {
    throw new NetshardError('ERR_INVALID_ARG_VALUE', `${at} is ${what} without IFF_NO_PI: its 4-byte packet-information prefix is not supported (openTun sets IFF_NO_PI)`);
  }
  if (tap !== ethernetHeader) {
    throw new NetshardError('ERR_INVALID_ARG_VALUE', `${at} is ${what}, which carries ${tap ? 'Ethernet frames: set options.ethernetHeader' : 'IP packets: leave options.ethernetHeader off'}`);
  }
  const fix = "open the device with openTun(…, { vnetHeader: true }) (IFF_VNET_HDR), or use gsoKind 'software' or 'none'";
  if ((flags & IFF_VNET_HDR) === 0) return { vnetHeader: false, what, fix };
  const size = tunVnetHeaderSize(fd);
  if (size < 0) throw errnoError('ioctl', size, `(fd ${fd}, TUNGETVNETHDRSZ)`);
  if (size !== VIRTIO_NET_HDR_SIZE) {
    throw new NetshardError('ERR_INVALID_ARG_VALUE', `${at} is ${what} with a ${size}-byte virtio-net header (TUNSETVNETHDRSZ); the endpoint supports ${VIRTIO_NET_HDR_SIZE}`);
  }
  return { vnetHeader: true, what, fix };
}

/**
 * Returns whether `fd` carries a virtio-net header (see `fdVnetHeader`), for a writer that sends on an fd
 * no endpoint of this thread owns (the dispatch worker's writers to the other links' fds). `isSocket` as
 * fstat said; `ethernetHeader` as the link is configured (a TUN/TAP queue's framing is checked against it).
 * Throws as `fdVnetHeader`.
 */
export function carriesVnetHeader(fd: number, isSocket: boolean, ethernetHeader: boolean): boolean {
  return fdVnetHeader(fd, 0, isSocket, false, ethernetHeader).vnetHeader;
}
