/**
 * The options of `new Engine(options)` and their check at the door. Thread: main. Control path: throws
 * NetshardError with Node's codes (ERR_INVALID_ARG_TYPE, ERR_INVALID_ARG_VALUE, ERR_OUT_OF_RANGE) and
 * the errno name of an fd that cannot be used (EBADF).
 */
import { NetshardError } from '../errors.ts';
import { MAX_BATCH_SIZE, prepareFd, type DispatchMode } from '../fdbased/index.ts';
import { MAX_FRAME_COUNT } from '../ring/index.ts';
import { newFlowHashSeed } from '../tcpip/index.ts';
import { validateArray, validateBoolean, validateInteger, validateObject, validateOneOf, validateString } from '../validate.ts';
import { createForwarder } from './create-forwarder.ts';
import type { ForwardingConfig } from './forwarding.ts';
import type { StackHandler } from './inbound.ts';
import type { LinkInit } from './messages.ts';

/** One link: a set of fds carrying the same traffic (AF_PACKET fanout members, TUN queues, socketpairs). */
export interface LinkOptions {
  /** Fds to read and write; one dispatch worker per fd; owned by the caller (never closed by the engine). */
  fds: readonly number[];
  /** Frames carry a 14-byte Ethernet header. Default false (bare IP, like TUN). */
  ethernetHeader?: boolean;
  /** The link's MAC ("02:00:00:00:00:01"); with an Ethernet header, unicast frames for another MAC are dropped. Default '' (none). */
  linkAddress?: string;
  /** How sockets are read: 'recvmmsg' (default), 'readv', 'mmap' (AF_PACKET). Non-sockets always use readv. */
  dispatchMode?: DispatchMode;
  /** Largest IP packet on the link. Default 1500. */
  mtu?: number;
}

/** Options of `new Engine()`. */
export interface EngineOptions {
  /** The links, at least one; worker slots are numbered link by link, fd by fd. */
  links: readonly LinkOptions[];
  /** Gets every packet the workers do not forward. Default: none (such packets are counted and freed). */
  stack?: StackHandler;
  /** How workers forward; absent or null: they forward nothing (every packet goes to the stack). */
  forwarding?: ForwardingConfig | null;
  /** Frames per worker pool (2 KiB each). Default 4096. */
  frameCount?: number;
  /** Frames in the coordinator's tx pool. Default 4096. */
  txFrameCount?: number;
  /** Records per rx ring and per tx ring (a power of two). Default 1024. */
  ringCapacity?: number;
  /** Most packets per receive batch. Default 64. */
  batchSize?: number;
  /** A worker's longest sleep in poll(), ms. Default 200. */
  pollTimeoutMs?: number;
  /** How long a stopping worker waits for its frames to come home, ms. Default 2000. */
  drainTimeoutMs?: number;
  /** Restarts per worker slot before the engine gives up on it. Default 10. */
  maxRestarts?: number;
  /** Flow-hash seed shared by every worker. Default: random. */
  hashSeed?: number;
}

/** `EngineOptions` checked, defaults filled in, each fd probed. */
export interface CheckedEngineOptions {
  links: LinkInit[];
  dispatchModes: DispatchMode[];
  stack: StackHandler | null;
  forwarding: ForwardingConfig | null;
  frameCount: number;
  txFrameCount: number;
  ringCapacity: number;
  batchSize: number;
  pollTimeoutMs: number;
  drainTimeoutMs: number;
  maxRestarts: number;
  hashSeed: number;
}

/** Defaults of `EngineOptions`. */
export const DEFAULT_ENGINE_OPTIONS = {
  frameCount: 4096,
  txFrameCount: 4096,
  ringCapacity: 1024,
  batchSize: 64,
  pollTimeoutMs: 200,
  drainTimeoutMs: 2000,
  maxRestarts: 10,
} as const;

const KEYS = [
  'links', 'stack', 'forwarding', 'frameCount', 'txFrameCount', 'ringCapacity', 'batchSize', 'pollTimeoutMs',
  'drainTimeoutMs', 'maxRestarts', 'hashSeed',
] as const;
const LINK_KEYS = ['fds', 'ethernetHeader', 'linkAddress', 'dispatchMode', 'mtu'] as const;

/** Checks `options` (unknown keys are errors), sets every fd non-blocking and learns whether it is a socket. */
export function validateEngineOptions(options: EngineOptions): CheckedEngineOptions {
  validateObject(options, 'options', KEYS);
  validateArray(options.links, 'options.links', 1);
  const seen = new Set<number>();
  const dispatchModes: DispatchMode[] = [];
  const links = options.links.map((link, l): LinkInit => {
    const at = `options.links[${l}]`;
    validateObject(link, at, LINK_KEYS);
    validateArray(link.fds, `${at}.fds`, 1);
    const fds = link.fds.map((fd, i) => {
      validateInteger(fd, `${at}.fds[${i}]`, 0, 0x7fff_ffff);
      if (seen.has(fd)) throw new NetshardError('ERR_INVALID_ARG_VALUE', `${at}.fds[${i}] repeats fd ${fd}`);
      seen.add(fd);
      return fd;
    });
    const ethernetHeader = link.ethernetHeader ?? false;
    validateBoolean(ethernetHeader, `${at}.ethernetHeader`);
    const linkAddress = link.linkAddress ?? '';
    validateString(linkAddress, `${at}.linkAddress`);
    if (linkAddress !== '' && !/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(linkAddress)) {
      throw new NetshardError('ERR_INVALID_ARG_VALUE', `${at}.linkAddress must be a MAC like "02:00:00:00:00:01", received '${linkAddress}'`);
    }
    const mode = link.dispatchMode ?? 'recvmmsg';
    validateOneOf(mode, `${at}.dispatchMode`, ['readv', 'recvmmsg', 'mmap'] as const);
    dispatchModes.push(mode);
    const mtu = link.mtu ?? 1500;
    validateInteger(mtu, `${at}.mtu`, 68, 65535);
    const isSocket = fds.map((fd) => prepareFd(fd).isSocket); // EBADF for a closed fd
    return { fds, isSocket, ethernetHeader, linkAddress, mtu };
  });
  const stack = options.stack ?? null;
  if (stack !== null && (typeof stack !== 'object' || typeof stack.deliverNetworkPacket !== 'function')) {
    throw new NetshardError('ERR_INVALID_ARG_TYPE', 'options.stack must be an object with a deliverNetworkPacket(packet) method');
  }
  const forwarding = options.forwarding == null ? null : structuredClone(options.forwarding);
  try {
    createForwarder(forwarding, links); // checks it fully, as each worker will build it
  } catch (err) {
    if (err instanceof NetshardError) {
      const message = err.message.startsWith('forwarding') ? `options.${err.message}` : `options.forwarding: ${err.message}`;
      throw new NetshardError(err.code, message, { cause: err });
    }
    throw err;
  }
  const d = DEFAULT_ENGINE_OPTIONS;
  const frameCount = options.frameCount ?? d.frameCount;
  validateInteger(frameCount, 'options.frameCount', 16, MAX_FRAME_COUNT);
  const txFrameCount = options.txFrameCount ?? d.txFrameCount;
  validateInteger(txFrameCount, 'options.txFrameCount', 16, MAX_FRAME_COUNT);
  const ringCapacity = options.ringCapacity ?? d.ringCapacity;
  validateInteger(ringCapacity, 'options.ringCapacity', 2, 1 << 20);
  if ((ringCapacity & (ringCapacity - 1)) !== 0) {
    throw new NetshardError('ERR_INVALID_ARG_VALUE', `options.ringCapacity must be a power of two, received ${ringCapacity}`);
  }
  const batchSize = options.batchSize ?? d.batchSize;
  validateInteger(batchSize, 'options.batchSize', 1, MAX_BATCH_SIZE);
  if (batchSize > frameCount) throw new NetshardError('ERR_OUT_OF_RANGE', `options.batchSize (${batchSize}) must be <= options.frameCount (${frameCount})`);
  const pollTimeoutMs = options.pollTimeoutMs ?? d.pollTimeoutMs;
  validateInteger(pollTimeoutMs, 'options.pollTimeoutMs', 1, 60_000);
  const drainTimeoutMs = options.drainTimeoutMs ?? d.drainTimeoutMs;
  validateInteger(drainTimeoutMs, 'options.drainTimeoutMs', 0, 60_000);
  const maxRestarts = options.maxRestarts ?? d.maxRestarts;
  validateInteger(maxRestarts, 'options.maxRestarts', 0, 1_000_000);
  const hashSeed = options.hashSeed ?? newFlowHashSeed();
  validateInteger(hashSeed, 'options.hashSeed', 0, 0xffffffff);
  return {
    links, dispatchModes, stack, forwarding, frameCount, txFrameCount, ringCapacity, batchSize, pollTimeoutMs,
    drainTimeoutMs, maxRestarts, hashSeed,
  };
}
