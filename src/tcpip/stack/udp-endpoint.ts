/**
 * UdpEndpoint: a UDP socket of the stack with `node:dgram`'s API (`createSocket`, `bind`, `connect`,
 * `send`, `'message'`, `close`, `address`) and gVisor's UDP endpoint underneath
 * (`pkg/tcpip/transport/udp/endpoint.go`, REFERENCE-gvisor.md §1.5, §3).
 *
 * - bind reserves the local port with the port manager (never with a destination, even after connect)
 *   and registers {port, address, 0, ANY} in the demuxer; a failure at either step undoes the other.
 * - connect changes only the demuxer registration, to the 4-tuple {port, bound address, remote port,
 *   remote address}; disconnect goes back. The reservation stays as it was.
 * - Flags: `reuseAddr` is MostRecent (UDP SO_REUSEADDR), `reusePort` LoadBalanced (SO_REUSEPORT); a
 *   LoadBalanced group admits one `owner` only (the demuxer's rule, Linux's same-UID rule).
 * - Receive: the demuxer calls `handlePacket` per datagram. It checks the UDP length and, unless the
 *   NIC validated it, the checksum; drops and counts (endpoint `stats` and stack `stats`) what fails or
 *   what overflows `recvBufferSize`, and queues the rest, copied into a Buffer. The queue is emitted as
 *   `'message'` events from `setImmediate`, so user code never runs inside the stack's delivery loop.
 * - Send: builds the UDP header and checksum in memory the endpoint reuses and hands it to the stack's
 *   `send` hook, which adds IP and link headers.
 *
 * Node's behaviour kept: argument errors throw synchronously with Node's codes and messages; bind,
 * connect and send failures arrive asynchronously (`'error'`, or the callback) with the errno name
 * and a `bind EADDRINUSE 0.0.0.0:53`-style message; `'listening'`, `'connect'` and `'close'` are
 * emitted on the next tick; connect and send on an unbound socket bind it to the wildcard address and
 * an ephemeral port first. Differences: addresses must be IP literals (names are not resolved:
 * ENOTFOUND); `address()` after connect still reports the bound address (gVisor keeps the wildcard in
 * the 4-tuple; Linux would report the route's source address); disconnect keeps the port.
 *
 * Thread: the stack's (the demuxer's). Control path allocates; `handlePacket` allocates only the
 * Buffer and rinfo the `'message'` event carries (the edge).
 *
 * Size: one class, the socket's state machine (unbound → bound ⇄ connected → closed) with its receive
 * and send paths; its helpers live beside it (`udp-address.ts`, `udp-node-compat.ts`, `udp-checksum.ts`,
 * `udp-context.ts`). Over 400 lines mostly because every public method carries Node's contract.
 */
import { Buffer } from 'node:buffer';
import { EventEmitter } from 'node:events';
import { NetshardError, type ErrorCode } from '../../errors.ts';
import { validateBoolean, validateInteger, validateObject } from '../../validate.ts';
import { formatIpv4, formatIpv6 } from '../address.ts';
import { UDP_HEADER_SIZE, UdpReason, validateUdp } from '../header/udp.ts';
import { IPV4_PROTOCOL_NUMBER, UDP_PROTOCOL_NUMBER } from '../protocols.ts';
import type { TransportEndpoint, TransportPacket } from './transport-packet.ts';
import { REUSE_FLAG_LOAD_BALANCED, REUSE_FLAG_MOST_RECENT, type PortReservation } from './transport-ports.ts';
import type { TransportRegistration } from './transport-registration.ts';
import { resolveAddress, type SocketAddress, type UdpSocketType } from './udp-address.ts';
import { fillUdpChecksum, verifyUdpChecksum } from './udp-checksum.ts';
import { UdpDatagram, UdpSendResult, UdpStats, type UdpStackContext } from './udp-context.ts';
import {
  bindErrorCode, received, socketError, toPieces, validateAddressArgument, validatePort,
} from './udp-node-compat.ts';

export type { UdpSocketType } from './udp-address.ts';

/** Options of `createSocket` (node:dgram's, plus `bindToDevice` and `owner`). */
export interface UdpSocketOptions {
  type: UdpSocketType;
  /** SO_REUSEADDR: share the port; the newest socket gets unicast datagrams (gVisor MostRecent). */
  reuseAddr?: boolean;
  /** SO_REUSEPORT: share the port; each flow goes to one socket by its hash (gVisor LoadBalanced). */
  reusePort?: boolean;
  /** IPV6_V6ONLY for `udp6`: a wildcard bind takes IPv6 only, not IPv4 too. */
  ipv6Only?: boolean;
  /** Bytes of payload that may wait in the receive queue; past it datagrams are dropped. Default 212992 (Linux's rmem_default). */
  recvBufferSize?: number;
  /** SO_BINDTODEVICE: NIC id to receive from and send on; 0 (default) = any. */
  bindToDevice?: number;
  /** Owner id (a user id) for the SO_REUSEPORT same-owner rule. Default 0. */
  owner?: number;
}

/** Sender of a received datagram (node:dgram `rinfo`). */
export interface UdpRemoteInfo {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
  /** Payload size in bytes. */
  size: number;
}

/** A socket address as `address()` / `remoteAddress()` report it. */
export interface UdpAddressInfo {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
}

/** The options form of `bind`. */
export interface UdpBindOptions {
  port?: number;
  address?: string;
  /** Accepted for node:dgram compatibility; no cluster here, so it changes nothing. */
  exclusive?: boolean;
}

/** Callback of `send`: an error, or null and the payload size. */
export type UdpSendCallback = (error: NetshardError | null, bytes?: number) => void;
/** A message to send: one piece or a list, as node:dgram takes. */
export type UdpMessage = string | ArrayBufferView | readonly (string | ArrayBufferView)[];

const OPTION_KEYS = ['type', 'reuseAddr', 'reusePort', 'ipv6Only', 'recvBufferSize', 'bindToDevice', 'owner'] as const;
const BIND_KEYS = ['port', 'address', 'exclusive'] as const;
/** Linux's default receive buffer (net.core.rmem_default). */
const DEFAULT_RECV_BUFFER_SIZE = 212992;
/** Largest payload: 65535 minus the UDP header, and minus a 20-byte IPv4 header over IPv4. */
const MAX_PAYLOAD_IPV4 = 65535 - 20 - UDP_HEADER_SIZE;
const MAX_PAYLOAD_IPV6 = 65535 - UDP_HEADER_SIZE;
const SEND_ERROR_CODES: Readonly<Record<number, ErrorCode>> = {
  [UdpSendResult.NoRoute]: 'ENETUNREACH',
  [UdpSendResult.NoBufferSpace]: 'ENOBUFS',
  [UdpSendResult.MessageTooLong]: 'EMSGSIZE',
};

const State = { Unbound: 0, Bound: 1, Closed: 2 } as const;
type State = (typeof State)[keyof typeof State];

/** Makes a UDP socket on the stack `context` (node:dgram `createSocket`); `listener` is added for `'message'`. */
export function createSocket(
  options: UdpSocketType | UdpSocketOptions,
  context: UdpStackContext,
  listener?: (msg: Buffer, rinfo: UdpRemoteInfo) => void,
): UdpEndpoint {
  const socket = new UdpEndpoint(typeof options === 'string' ? { type: options } : options, context);
  if (typeof listener === 'function') socket.on('message', listener);
  return socket;
}

/**
 * A UDP socket with node:dgram's API on this stack; see the file comment. Events: `'message'`
 * (msg: Buffer, rinfo), `'listening'`, `'connect'`, `'close'`, `'error'` (NetshardError).
 */
export class UdpEndpoint extends EventEmitter implements TransportEndpoint {
  /** This socket's counters (the stack's `context.stats` count the same events for all sockets). */
  readonly stats = new UdpStats();
  /** `'udp4'` or `'udp6'`. */
  readonly type: UdpSocketType;
  readonly #context: UdpStackContext;
  readonly #flags: number;
  readonly #ipv6Only: boolean;
  readonly #device: number;
  readonly #owner: number;
  readonly #recvBufferSize: number;
  #state: State = State.Unbound;
  #local: SocketAddress | null = null;
  #port = 0;
  #reservation: PortReservation | null = null;
  #registration: TransportRegistration | null = null;
  #remote: SocketAddress | null = null;
  #remotePort = 0;
  #queue: { msg: Buffer; rinfo: UdpRemoteInfo }[] = [];
  #queuedBytes = 0;
  #flushScheduled = false;
  readonly #datagram = new UdpDatagram();
  readonly #flush = (): void => this.#emitQueued();

  /** Makes an unbound socket; prefer `createSocket`. Throws ERR_SOCKET_BAD_TYPE, ERR_INVALID_ARG_*. */
  constructor(options: UdpSocketOptions, context: UdpStackContext) {
    super();
    validateObject(options, 'options', OPTION_KEYS);
    if (options.type !== 'udp4' && options.type !== 'udp6') {
      throw new NetshardError('ERR_SOCKET_BAD_TYPE', 'Bad socket type specified. Valid types are: udp4, udp6');
    }
    const { reuseAddr = false, reusePort = false, ipv6Only = false } = options;
    validateBoolean(reuseAddr, 'options.reuseAddr');
    validateBoolean(reusePort, 'options.reusePort');
    validateBoolean(ipv6Only, 'options.ipv6Only');
    const recvBufferSize = options.recvBufferSize ?? DEFAULT_RECV_BUFFER_SIZE;
    validateInteger(recvBufferSize, 'options.recvBufferSize', 0, 0xffffffff);
    const device = options.bindToDevice ?? 0;
    validateInteger(device, 'options.bindToDevice', 0, 0x7fffffff);
    const owner = options.owner ?? 0;
    validateInteger(owner, 'options.owner', 0, 0xffffffff);
    if (context === null || typeof context !== 'object' || typeof context.send !== 'function' ||
      typeof context.selectSourceAddress !== 'function' || typeof context.demuxer?.register !== 'function' ||
      typeof context.ports?.reservePort !== 'function' || !(context.stats instanceof UdpStats)) {
      throw new NetshardError('ERR_INVALID_ARG_TYPE', 'context must be a UdpStackContext (demuxer, ports, stats, selectSourceAddress, send)');
    }
    this.type = options.type;
    this.#context = context;
    this.#flags = (reuseAddr ? REUSE_FLAG_MOST_RECENT : 0) | (reusePort ? REUSE_FLAG_LOAD_BALANCED : 0);
    this.#ipv6Only = ipv6Only;
    this.#device = device;
    this.#owner = owner;
    this.#recvBufferSize = recvBufferSize;
  }

  // -------------------------------------------------------------------------------------------------
  // node:dgram API

  /**
   * Binds to `port` (an ephemeral one when 0 or omitted) on `address` (the wildcard when omitted):
   * reserves the port, then registers with the demuxer, undoing the reservation if that fails.
   * Emits `'listening'` (and calls `callback`) on the next tick, or `'error'` (EADDRINUSE, EINVAL,
   * ENOTFOUND). Throws ERR_SOCKET_DGRAM_NOT_RUNNING, ERR_SOCKET_ALREADY_BOUND, ERR_SOCKET_BAD_PORT,
   * ERR_INVALID_ARG_TYPE.
   */
  bind(port?: number | UdpBindOptions | (() => void), address?: string | (() => void), callback?: () => void): this {
    this.#healthCheck();
    if (this.#state !== State.Unbound) throw new NetshardError('ERR_SOCKET_ALREADY_BOUND', 'Socket is already bound');
    const done = [port, address, callback].findLast((a) => typeof a === 'function') as (() => void) | undefined;
    let portArg: unknown = typeof port === 'function' ? undefined : port;
    let addressArg: unknown = typeof address === 'function' ? undefined : address;
    if (portArg !== null && typeof portArg === 'object') {
      validateObject(portArg, 'options', BIND_KEYS);
      if (portArg.exclusive !== undefined) validateBoolean(portArg.exclusive, 'options.exclusive');
      addressArg = portArg.address;
      portArg = portArg.port;
    }
    const boundPort = portArg === undefined ? 0 : validatePort(portArg, true);
    if (addressArg !== undefined) validateAddressArgument(addressArg);
    const text = addressArg === undefined || addressArg === '' ? (this.type === 'udp4' ? '0.0.0.0' : '::') : addressArg;
    if (done !== undefined) {
      const onError = (): void => { this.removeListener('listening', onListening); };
      const onListening = (): void => { this.removeListener('error', onError); done.call(this); };
      this.once('error', onError);
      this.once('listening', onListening);
    }
    const err = this.#bindNow(text, boundPort);
    if (err !== null) process.nextTick(() => this.emit('error', err));
    else process.nextTick(() => this.emit('listening'));
    return this;
  }

  /**
   * Connects to `port` on `address` (localhost when omitted): binds first if unbound, then moves the
   * demuxer registration to the 4-tuple (the port reservation stays). Emits `'connect'` (and calls
   * `callback`) on the next tick; a failure goes to `callback`, else to `'error'`. Throws
   * ERR_SOCKET_BAD_PORT, ERR_INVALID_ARG_TYPE, ERR_SOCKET_DGRAM_NOT_RUNNING, ERR_SOCKET_DGRAM_IS_CONNECTED.
   */
  connect(port: number, address?: string | ((error?: NetshardError) => void), callback?: (error?: NetshardError) => void): void {
    const remotePort = validatePort(port, false);
    let text: unknown = address;
    if (typeof address === 'function') { callback = address; text = ''; }
    else if (address === undefined) text = '';
    validateAddressArgument(text);
    this.#healthCheck();
    if (this.#remote !== null) throw new NetshardError('ERR_SOCKET_DGRAM_IS_CONNECTED', 'Already connected');
    if (typeof callback === 'function') this.once('connect', callback);
    if (!this.#bindImplicitly()) return;
    const target = text === '' ? (this.type === 'udp4' ? '127.0.0.1' : '::1') : text;
    const err = this.#connectNow(target, remotePort);
    if (err === null) {
      process.nextTick(() => this.emit('connect'));
      return;
    }
    process.nextTick(() => {
      if (typeof callback === 'function') {
        this.removeListener('connect', callback);
        callback(err);
      } else {
        this.emit('error', err);
      }
    });
  }

  /**
   * Undoes `connect`: registers the bound ID again and drops the 4-tuple. Throws
   * ERR_SOCKET_DGRAM_NOT_RUNNING, ERR_SOCKET_DGRAM_NOT_CONNECTED, or EADDRINUSE when the bound ID's
   * SO_REUSEPORT group now belongs to another owner (the socket stays connected then).
   */
  disconnect(): void {
    this.#healthCheck();
    if (this.#remote === null || this.#local === null) throw new NetshardError('ERR_SOCKET_DGRAM_NOT_CONNECTED', 'Not connected');
    const bound = this.#boundRegistration(this.#local, this.#port);
    try {
      this.#context.demuxer.register(bound, this);
    } catch (err) {
      throw socketError(bindErrorCode(err), 'connect', this.#local.display, this.#port, err);
    }
    if (this.#registration !== null) this.#context.demuxer.unregister(this.#registration, this);
    this.#registration = bound;
    this.#remote = null;
    this.#remotePort = 0;
  }

  /**
   * Sends `msg` (a string, byte view, or a list of them) to `port` on `address` (localhost when
   * omitted), or to the connected peer when both are omitted; binds first if unbound. Builds the UDP
   * header and checksum and hands the datagram to the stack. `callback(null, bytes)` or
   * `callback(error)` runs on the next tick; without a callback an error goes to `'error'` (ENETUNREACH,
   * ENOBUFS, EMSGSIZE, EINVAL, ENOTFOUND). Throws ERR_INVALID_ARG_TYPE, ERR_SOCKET_BAD_PORT,
   * ERR_SOCKET_DGRAM_IS_CONNECTED, ERR_SOCKET_DGRAM_NOT_RUNNING.
   */
  send(msg: UdpMessage, port?: number | UdpSendCallback, address?: string | UdpSendCallback, callback?: UdpSendCallback): void {
    const connected = this.#remote !== null;
    let portArg: unknown = port;
    let addressArg: unknown = address;
    let done: unknown = callback;
    if (typeof portArg === 'function') { done = portArg; portArg = undefined; addressArg = undefined; }
    else if (typeof addressArg === 'function') { done = addressArg; addressArg = undefined; }
    if (connected && (portArg !== undefined || addressArg !== undefined)) {
      throw new NetshardError('ERR_SOCKET_DGRAM_IS_CONNECTED', 'Already connected');
    }
    const pieces = toPieces(msg);
    if (pieces === null) {
      const what = Array.isArray(msg) ? 'buffer list arguments' : 'buffer';
      throw new NetshardError('ERR_INVALID_ARG_TYPE',
        `The "${what}" argument must be of type string or an instance of Buffer, TypedArray, or DataView. Received ${received(msg)}`);
    }
    const remotePort = connected ? this.#remotePort : validatePort(portArg, false);
    if (addressArg !== undefined && addressArg !== null) validateAddressArgument(addressArg);
    const cb = typeof done === 'function' ? (done as UdpSendCallback) : undefined;
    this.#healthCheck();
    if (!this.#bindImplicitly()) return;
    let remote = this.#remote;
    const text = typeof addressArg === 'string' && addressArg !== '' ? addressArg : this.type === 'udp4' ? '127.0.0.1' : '::1';
    if (remote === null) {
      const resolved = resolveAddress(text, this.type, this.#ipv6Only, false);
      if (typeof resolved === 'string') {
        this.#report(socketError(resolved, resolved === 'ENOTFOUND' ? 'getaddrinfo' : 'send', text, remotePort), cb);
        return;
      }
      remote = resolved;
    }
    const size = pieces.reduce((n, p) => n + p.byteLength, 0);
    const code = this.#sendNow(remote, remotePort, pieces, size);
    if (code === null) {
      if (cb !== undefined) process.nextTick(cb, null, size);
    } else {
      this.#report(socketError(code, 'send', remote.display, remotePort), cb);
    }
  }

  /** Closes the socket: unregisters, releases the port, drops queued datagrams; emits `'close'` next tick. Throws ERR_SOCKET_DGRAM_NOT_RUNNING when already closed. */
  close(callback?: () => void): this {
    if (typeof callback === 'function') this.on('close', callback);
    this.#healthCheck();
    this.#unbind();
    this.#state = State.Closed;
    this.#queue = [];
    this.#queuedBytes = 0;
    process.nextTick(() => this.emit('close'));
    return this;
  }

  /** Returns the bound address and port. Throws ERR_SOCKET_DGRAM_NOT_RUNNING, or EBADF when unbound (as Node's getsockname). */
  address(): UdpAddressInfo {
    this.#healthCheck();
    if (this.#local === null) throw socketError('EBADF', 'getsockname', '', -1);
    return { address: this.#local.display, family: this.type === 'udp4' ? 'IPv4' : 'IPv6', port: this.#port };
  }

  /** Returns the connected peer. Throws ERR_SOCKET_DGRAM_NOT_RUNNING, ERR_SOCKET_DGRAM_NOT_CONNECTED. */
  remoteAddress(): UdpAddressInfo {
    this.#healthCheck();
    if (this.#remote === null) throw new NetshardError('ERR_SOCKET_DGRAM_NOT_CONNECTED', 'Not connected');
    return { address: this.#remote.display, family: this.type === 'udp4' ? 'IPv4' : 'IPv6', port: this.#remotePort };
  }

  /** Does nothing (no libuv handle to keep the loop alive); for node:dgram compatibility. */
  ref(): this { return this; }
  /** Does nothing; for node:dgram compatibility. */
  unref(): this { return this; }

  // -------------------------------------------------------------------------------------------------
  // Receive (called by the demuxer)

  /**
   * Takes one datagram from the demuxer (TransportEndpoint): drops and counts a malformed one (bad
   * length), one with a bad checksum (unless `pkt.checksumValidated`) and one that overflows the
   * receive queue; queues the rest as a Buffer plus rinfo for `'message'`. Never throws.
   */
  handlePacket(pkt: TransportPacket): void {
    const stack = this.#context.stats;
    const view = pkt.view;
    const at = pkt.transportOffset;
    if (this.#state !== State.Bound) return;
    if (validateUdp(view, at, pkt.end) !== UdpReason.Ok) {
      this.stats.malformedPacketsReceived++;
      stack.malformedPacketsReceived++;
      return;
    }
    const length = view.getUint16(at + 4);
    if (!pkt.checksumValidated && !verifyUdpChecksum(view, pkt.networkProtocol, pkt.networkOffset, at, length)) {
      this.stats.checksumErrors++;
      stack.checksumErrors++;
      return;
    }
    if (this.#queuedBytes >= this.#recvBufferSize) {
      this.stats.receiveBufferErrors++;
      stack.receiveBufferErrors++;
      return;
    }
    const size = length - UDP_HEADER_SIZE;
    const msg = Buffer.copyBytesFrom(pkt.bytes, at + UDP_HEADER_SIZE, size);
    const ipv4 = pkt.networkProtocol === IPV4_PROTOCOL_NUMBER;
    const source = ipv4 ? formatIpv4(view.getUint32(pkt.networkOffset + 12)) : formatIpv6(pkt.bytes, pkt.networkOffset + 8);
    const rinfo: UdpRemoteInfo = this.type === 'udp4'
      ? { address: source, family: 'IPv4', port: view.getUint16(at), size }
      : { address: ipv4 ? `::ffff:${source}` : source, family: 'IPv6', port: view.getUint16(at), size };
    this.#queue.push({ msg, rinfo });
    this.#queuedBytes += size;
    this.stats.packetsReceived++;
    stack.packetsReceived++;
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(this.#flush);
    }
  }

  // -------------------------------------------------------------------------------------------------
  // Internals

  #healthCheck(): void {
    if (this.#state === State.Closed) throw new NetshardError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'Not running');
  }

  /** Emits the queued datagrams one by one; stops when a listener closed the socket. */
  #emitQueued(): void {
    this.#flushScheduled = false;
    const queue = this.#queue;
    this.#queue = [];
    for (const { msg, rinfo } of queue) {
      if (this.#state !== State.Bound) return;
      this.#queuedBytes -= rinfo.size;
      this.emit('message', msg, rinfo);
    }
  }

  /** Reports an asynchronous failure: to `callback` when given, else as `'error'`, on the next tick. */
  #report(err: NetshardError, callback: UdpSendCallback | undefined): void {
    this.#context.stats.packetSendErrors++;
    this.stats.packetSendErrors++;
    process.nextTick(() => (callback !== undefined ? callback(err) : this.emit('error', err)));
  }

  /** The demuxer registration of a bound (unconnected) socket. */
  #boundRegistration(local: SocketAddress, port: number): TransportRegistration {
    return {
      networks: local.networks, transport: UDP_PROTOCOL_NUMBER,
      id: { localPort: port, localAddress: local.key, remotePort: 0, remoteAddress: '' },
      flags: this.#flags, bindToDevice: this.#device, owner: this.#owner,
    };
  }

  /** Reserves and registers; returns null, or the error with nothing left behind. */
  #bindNow(text: string, port: number): NetshardError | null {
    const local = resolveAddress(text, this.type, this.#ipv6Only, true);
    if (typeof local === 'string') return socketError(local, local === 'ENOTFOUND' ? 'getaddrinfo' : 'bind', text, port);
    const reservation: PortReservation = {
      networks: local.networks, transport: UDP_PROTOCOL_NUMBER, address: local.key, port, flags: this.#flags,
      bindToDevice: this.#device,
    };
    try {
      reservation.port = this.#context.ports.reservePort(reservation);
    } catch (err) {
      return socketError(bindErrorCode(err), 'bind', local.display, port, err);
    }
    const registration = this.#boundRegistration(local, reservation.port);
    try {
      this.#context.demuxer.register(registration, this);
    } catch (err) {
      this.#context.ports.releasePort(reservation); // the port is not ours unless the demuxer took us
      return socketError(bindErrorCode(err), 'bind', local.display, port, err);
    }
    this.#state = State.Bound;
    this.#local = local;
    this.#port = reservation.port;
    this.#reservation = reservation;
    this.#registration = registration;
    return null;
  }

  /** Binds an unbound socket to the wildcard and an ephemeral port (connect, send); false when that failed (reported as `'error'`). */
  #bindImplicitly(): boolean {
    if (this.#state === State.Bound) return true;
    const err = this.#bindNow(this.type === 'udp4' ? '0.0.0.0' : '::', 0);
    if (err !== null) {
      process.nextTick(() => this.emit('error', err));
      return false;
    }
    process.nextTick(() => this.emit('listening'));
    return true;
  }

  /** Registers the 4-tuple, then drops the bound registration; returns null or the error (nothing changed). */
  #connectNow(text: string, port: number): NetshardError | null {
    const local = this.#local!;
    const remote = resolveAddress(text, this.type, this.#ipv6Only, false);
    if (typeof remote === 'string') return socketError(remote, remote === 'ENOTFOUND' ? 'getaddrinfo' : 'connect', text, port);
    if (!local.networks.includes(remote.network)) return socketError('EINVAL', 'connect', remote.display, port);
    const connected: TransportRegistration = {
      networks: [remote.network], transport: UDP_PROTOCOL_NUMBER,
      id: { localPort: this.#port, localAddress: local.key, remotePort: port, remoteAddress: remote.key },
      flags: this.#flags, bindToDevice: this.#device, owner: this.#owner,
    };
    try {
      this.#context.demuxer.register(connected, this);
    } catch (err) {
      return socketError(bindErrorCode(err), 'connect', remote.display, port, err);
    }
    if (this.#registration !== null) this.#context.demuxer.unregister(this.#registration, this);
    this.#registration = connected;
    this.#remote = remote;
    this.#remotePort = port;
    return null;
  }

  /** Builds the datagram and hands it to the stack; returns null or the errno name of the failure. */
  #sendNow(remote: SocketAddress, port: number, pieces: readonly Uint8Array[], size: number): ErrorCode | null {
    const local = this.#local!;
    if (!local.networks.includes(remote.network)) return 'EINVAL';
    if (size > (remote.network === IPV4_PROTOCOL_NUMBER ? MAX_PAYLOAD_IPV4 : MAX_PAYLOAD_IPV6)) return 'EMSGSIZE';
    const dg = this.#datagram;
    const length = UDP_HEADER_SIZE + size;
    if (dg.bytes.byteLength < length) {
      dg.bytes = new Uint8Array(Math.max(length, 2 * dg.bytes.byteLength, 2048));
      dg.view = new DataView(dg.bytes.buffer);
    }
    dg.networkProtocol = remote.network;
    dg.nicId = this.#device;
    dg.offset = 0;
    dg.length = length;
    dg.destinationAddress.set(remote.bytes);
    let at = UDP_HEADER_SIZE;
    for (const piece of pieces) {
      dg.bytes.set(piece, at);
      at += piece.byteLength;
    }
    dg.view.setUint16(0, this.#port);
    dg.view.setUint16(2, port);
    dg.view.setUint16(4, length);
    const context = this.#context;
    if (local.any) {
      dg.sourceAddress.fill(0);
      const routed = context.selectSourceAddress(dg);
      if (routed !== UdpSendResult.Ok) return SEND_ERROR_CODES[routed] ?? 'ENETUNREACH';
    } else {
      dg.sourceAddress.set(local.bytes);
    }
    fillUdpChecksum(dg.view, 0, length, remote.network, dg.sourceAddress, dg.destinationAddress);
    const result = context.send(dg);
    if (result !== UdpSendResult.Ok) return SEND_ERROR_CODES[result] ?? 'ENOBUFS';
    this.stats.packetsSent++;
    context.stats.packetsSent++;
    return null;
  }

  /** Unregisters and releases the port (close). */
  #unbind(): void {
    if (this.#registration !== null) this.#context.demuxer.unregister(this.#registration, this);
    if (this.#reservation !== null) this.#context.ports.releasePort(this.#reservation);
    this.#registration = null;
    this.#reservation = null;
    this.#remote = null;
  }
}
