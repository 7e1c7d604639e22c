/**
 * The options of `createEndpoint`, gVisor's `fdbased.Options` (REFERENCE-gvisor.md §2.1) in our names, and
 * their check at the door. Thread: any. Control path.
 */
import { NetshardError } from '../errors.ts';
import { LINK_ADDRESS_SIZE, parseLinkAddress } from '../tcpip/index.ts';
import { validateArray, validateBoolean, validateInteger, validateObject, validateOneOf } from '../validate.ts';
import { MAX_BATCH_SIZE, type DispatchMode } from './dispatcher.ts';

/** How the endpoint segments large TCP sends (gVisor: none, GVisorGSO, HostGSO). */
export type GsoKind = 'none' | 'software' | 'hardware';

/** Called once per fd when its dispatch loop ends: `err` is null after `stop()`, the reason otherwise. */
export type ClosedCallback = (fdIndex: number, err: NetshardError | null) => void;

/** Options of `createEndpoint`. */
export interface EndpointOptions {
  /** Fds to read and write; made non-blocking, never closed by the endpoint. At least one, no repeats. */
  fds: readonly number[];
  /** Largest packet in bytes, link header excluded. Default 1500. */
  mtu?: number;
  /** Frames carry a 14-byte Ethernet header: added on write, stripped on receive. Default false. */
  ethernetHeader?: boolean;
  /**
   * The endpoint's link (MAC) address, "11:22:33:44:55:66" or 6 bytes; '' for none (default). With an
   * Ethernet header and an address, received unicast frames for another address are dropped and counted.
   */
  linkAddress?: string | Uint8Array;
  /** Called once per fd when its loop ends (stop, EOF, error, peer gone). Runs on the loop's thread. */
  closed?: ClosedCallback;
  /** How sockets are read: 'recvmmsg' (default, runsc's choice), 'readv', or 'mmap' (AF_PACKET only). Non-sockets always use readv, as gVisor. */
  dispatchMode?: DispatchMode;
  /** Largest GSO packet in bytes, 0 (default with gsoKind 'none') to 65536 (default otherwise). */
  gsoMaxSize?: number;
  /**
   * 'none' (default); 'software' (the stack segments, gVisor GSO); 'hardware' (the kernel segments: each
   * packet carries a virtio-net header: every fd must carry one, i.e. an AF_PACKET socket with
   * PACKET_VNET_HDR, a TUN/TAP queue with IFF_VNET_HDR, or a socketpair standing in for such a link).
   */
  gsoKind?: GsoKind;
  /** The link computes transmit checksums (a capability reported to the stack). Default false. */
  txChecksumOffload?: boolean;
  /** The link verified receive checksums (a capability reported to the stack). Default false. */
  rxChecksumOffload?: boolean;
  /** Most packets per receive call; default per mode (readv 8, recvmmsg 32, mmap 64). */
  batchSize?: number;
}

/** `EndpointOptions` after the check, defaults filled in. */
export interface CheckedEndpointOptions {
  fds: readonly number[];
  mtu: number;
  ethernetHeader: boolean;
  /** 6 bytes, or empty for none. */
  linkAddress: Uint8Array;
  closed: ClosedCallback | undefined;
  dispatchMode: DispatchMode;
  gsoMaxSize: number;
  gsoKind: GsoKind;
  txChecksumOffload: boolean;
  rxChecksumOffload: boolean;
  batchSize: number | undefined;
}

/** Defaults of `EndpointOptions`. */
export const DEFAULT_ENDPOINT_OPTIONS = {
  mtu: 1500,
  ethernetHeader: false,
  dispatchMode: 'recvmmsg',
  gsoKind: 'none',
  txChecksumOffload: false,
  rxChecksumOffload: false,
} as const;

/** gVisor's GVisorGSOMaxSize: the default GSO size when GSO is on. */
export const DEFAULT_GSO_MAX_SIZE = 1 << 16;

const KEYS = [
  'fds', 'mtu', 'ethernetHeader', 'linkAddress', 'closed', 'dispatchMode', 'gsoMaxSize', 'gsoKind',
  'txChecksumOffload', 'rxChecksumOffload', 'batchSize',
] as const;

/**
 * Parses a link address: "11:22:33:44:55:66", 6 bytes, or '' (none, returns 0 bytes). Returns a new copy.
 * Throws ERR_INVALID_ARG_TYPE / ERR_INVALID_ARG_VALUE naming `name`.
 */
export function toLinkAddress(value: unknown, name: string): Uint8Array {
  if (typeof value === 'string') {
    if (value === '') return new Uint8Array(0);
    const out = new Uint8Array(LINK_ADDRESS_SIZE);
    if (!parseLinkAddress(value, out)) {
      throw new NetshardError('ERR_INVALID_ARG_VALUE', `${name} must be a link address like "02:00:00:00:00:01", received '${value}'`);
    }
    return out;
  }
  if (value instanceof Uint8Array) {
    if (value.length !== 0 && value.length !== LINK_ADDRESS_SIZE) {
      throw new NetshardError('ERR_INVALID_ARG_VALUE', `${name} must be 6 bytes (or empty), received ${value.length}`);
    }
    return Uint8Array.from(value);
  }
  throw new NetshardError('ERR_INVALID_ARG_TYPE', `${name} must be a string or a Uint8Array`);
}

/**
 * Checks `options` and fills in defaults. Unknown keys are errors. Throws NetshardError with Node's codes
 * (ERR_INVALID_ARG_TYPE, ERR_INVALID_ARG_VALUE, ERR_OUT_OF_RANGE).
 */
export function validateEndpointOptions(options: EndpointOptions): CheckedEndpointOptions {
  validateObject(options, 'options', KEYS);
  validateArray(options.fds, 'options.fds', 1);
  const seen = new Set<number>();
  options.fds.forEach((fd, i) => {
    validateInteger(fd, `options.fds[${i}]`, 0, 0x7fff_ffff);
    if (seen.has(fd)) throw new NetshardError('ERR_INVALID_ARG_VALUE', `options.fds[${i}] repeats fd ${fd}`);
    seen.add(fd);
  });
  const mtu = options.mtu ?? DEFAULT_ENDPOINT_OPTIONS.mtu;
  validateInteger(mtu, 'options.mtu', 68, 65535);
  const ethernetHeader = options.ethernetHeader ?? DEFAULT_ENDPOINT_OPTIONS.ethernetHeader;
  validateBoolean(ethernetHeader, 'options.ethernetHeader');
  const linkAddress = toLinkAddress(options.linkAddress ?? '', 'options.linkAddress');
  if (options.closed !== undefined && typeof options.closed !== 'function') {
    throw new NetshardError('ERR_INVALID_ARG_TYPE', 'options.closed must be a function');
  }
  const dispatchMode = options.dispatchMode ?? DEFAULT_ENDPOINT_OPTIONS.dispatchMode;
  validateOneOf(dispatchMode, 'options.dispatchMode', ['readv', 'recvmmsg', 'mmap'] as const);
  const gsoKind = options.gsoKind ?? DEFAULT_ENDPOINT_OPTIONS.gsoKind;
  validateOneOf(gsoKind, 'options.gsoKind', ['none', 'software', 'hardware'] as const);
  const gsoMaxSize = options.gsoMaxSize ?? (gsoKind === 'none' ? 0 : DEFAULT_GSO_MAX_SIZE);
  validateInteger(gsoMaxSize, 'options.gsoMaxSize', 0, DEFAULT_GSO_MAX_SIZE);
  if ((gsoKind === 'none') !== (gsoMaxSize === 0)) {
    throw new NetshardError('ERR_INVALID_ARG_VALUE', `options.gsoMaxSize must be 0 exactly when options.gsoKind is 'none' (gsoKind '${gsoKind}', gsoMaxSize ${gsoMaxSize})`);
  }
  const txChecksumOffload = options.txChecksumOffload ?? DEFAULT_ENDPOINT_OPTIONS.txChecksumOffload;
  validateBoolean(txChecksumOffload, 'options.txChecksumOffload');
  const rxChecksumOffload = options.rxChecksumOffload ?? DEFAULT_ENDPOINT_OPTIONS.rxChecksumOffload;
  validateBoolean(rxChecksumOffload, 'options.rxChecksumOffload');
  if (options.batchSize !== undefined) validateInteger(options.batchSize, 'options.batchSize', 1, MAX_BATCH_SIZE);
  return {
    fds: [...options.fds],
    mtu,
    ethernetHeader,
    linkAddress,
    closed: options.closed,
    dispatchMode,
    gsoMaxSize,
    gsoKind,
    txChecksumOffload,
    rxChecksumOffload,
    batchSize: options.batchSize,
  };
}
