/**
 * What an endpoint registers under in the transport demuxer, and its validation at the door: the
 * endpoint ID (gVisor `TransportEndpointID`) with addresses as text, parsed once per registration into
 * the words the demuxer keys by.
 *
 * Thread: any. Control path: allocates, throws NetshardError.
 */
import { NetshardError } from '../../errors.ts';
import { validateArray, validateInteger, validateObject, validateOneOf, validateString } from '../../validate.ts';
import { formatIpv4, formatIpv6, parseIpv4, parseIpv6 } from '../address.ts';
import { IPV4_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER, type NetworkProtocolNumber } from '../protocols.ts';
import { MULTI_BIND_FLAG_MASK, REUSE_FLAG_LOAD_BALANCED, REUSE_FLAG_MASK } from './transport-ports.ts';

/** The identity an endpoint registers under (gVisor `TransportEndpointID`); '' or an all-zero address is ANY. */
export interface TransportEndpointId {
  /** Local port, 0..65535. For a received packet: its destination port. */
  localPort: number;
  /** Local address as text ('' / '0.0.0.0' / '::' = any). For a received packet: its destination. */
  localAddress: string;
  /** Remote port, 0 for a bound (unconnected) endpoint. */
  remotePort: number;
  /** Remote address as text, '' for a bound endpoint. */
  remoteAddress: string;
}

/** One registration: what `register` adds and `unregister` removes again. */
export interface TransportRegistration {
  /** Network protocols to register in; a dual-stack wildcard endpoint lists both. */
  networks: readonly NetworkProtocolNumber[];
  /** IP protocol number of the transport. */
  transport: number;
  /** The ID; its addresses must be ANY or of the family of every listed network. */
  id: TransportEndpointId;
  /** Reuse flags (`REUSE_FLAG_*`); only MostRecent and LoadBalanced matter here. Default 0. */
  flags?: number;
  /** NIC the endpoint is bound to (SO_BINDTODEVICE); 0 (default) = any NIC. */
  bindToDevice?: number;
  /** Owner (a user id): every LoadBalanced member of a group must have the same one. Default 0. */
  owner?: number;
}

const REGISTRATION_KEYS = ['networks', 'transport', 'id', 'flags', 'bindToDevice', 'owner'] as const;
const ID_KEYS = ['localPort', 'localAddress', 'remotePort', 'remoteAddress'] as const;
/** The network protocols the demuxer knows. */
export const NETWORKS: readonly NetworkProtocolNumber[] = [IPV4_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER];
/** Largest NIC id (gVisor `tcpip.NICID` is int32). */
const MAX_NIC = 0x7fffffff;

/** An address parsed from text: its family ('any' for the wildcard) and four big-endian words (IPv4 in the first). */
export interface ParsedAddress {
  family: 'any' | 'ipv4' | 'ipv6';
  words: [number, number, number, number];
}

/** A registration after validation. */
export interface ParsedRegistration {
  networks: readonly NetworkProtocolNumber[];
  transport: number;
  localPort: number;
  remotePort: number;
  local: ParsedAddress;
  remote: ParsedAddress;
  flags: number;
  device: number;
  owner: number;
  /** The ID as text for error messages: `10.0.0.1:53 → 10.0.0.2:4000 on NIC 2`. */
  text: string;
}

const v6Scratch = new Uint8Array(16);
const v6ScratchView = new DataView(v6Scratch.buffer);

/** Parses an address of an ID; '', 0.0.0.0 and :: are the wildcard. */
function parseAddressText(text: unknown, name: string): ParsedAddress {
  validateString(text, name);
  if (text === '') return { family: 'any', words: [0, 0, 0, 0] };
  const v4 = parseIpv4(text);
  if (v4 >= 0) return { family: v4 === 0 ? 'any' : 'ipv4', words: [v4 | 0, 0, 0, 0] };
  if (parseIpv6(text, v6Scratch, 0)) {
    const words: [number, number, number, number] = [
      v6ScratchView.getInt32(0), v6ScratchView.getInt32(4), v6ScratchView.getInt32(8), v6ScratchView.getInt32(12),
    ];
    return { family: (words[0] | words[1] | words[2] | words[3]) === 0 ? 'any' : 'ipv6', words };
  }
  throw new NetshardError('ERR_INVALID_ARG_VALUE', `${name} must be an IPv4 or IPv6 address or '', received '${text}'`);
}

/** Formats a parsed address for messages (`*` for the wildcard, IPv6 in brackets). */
function formatParsed(a: ParsedAddress): string {
  if (a.family === 'any') return '*';
  if (a.family === 'ipv4') return formatIpv4(a.words[0] >>> 0);
  for (let i = 0; i < 4; i++) v6ScratchView.setInt32(4 * i, a.words[i]!);
  return `[${formatIpv6(v6Scratch, 0)}]`;
}

/**
 * Validates `reg` at the door and returns its parsed form. Throws ERR_INVALID_ARG_TYPE /
 * ERR_OUT_OF_RANGE / ERR_INVALID_ARG_VALUE naming the bad field. Control path.
 */
export function parseRegistration(reg: TransportRegistration): ParsedRegistration {
  validateObject(reg, 'registration', REGISTRATION_KEYS);
  validateArray(reg.networks, 'registration.networks', 1);
  reg.networks.forEach((n, i) => validateOneOf(n, `registration.networks[${i}]`, NETWORKS));
  if (reg.networks.length > 1 && reg.networks[0] === reg.networks[1]) {
    throw new NetshardError('ERR_INVALID_ARG_VALUE', 'registration.networks lists a network twice');
  }
  validateInteger(reg.transport, 'registration.transport', 0, 255);
  const id = reg.id;
  validateObject(id, 'registration.id', ID_KEYS);
  validateInteger(id.localPort, 'registration.id.localPort', 0, 65535);
  validateInteger(id.remotePort, 'registration.id.remotePort', 0, 65535);
  const local = parseAddressText(id.localAddress, 'registration.id.localAddress');
  const remote = parseAddressText(id.remoteAddress, 'registration.id.remoteAddress');
  for (const network of reg.networks) {
    const family = network === IPV4_PROTOCOL_NUMBER ? 'ipv4' : 'ipv6';
    for (const [name, a] of [['localAddress', local], ['remoteAddress', remote]] as const) {
      if (a.family !== 'any' && a.family !== family) {
        throw new NetshardError('ERR_INVALID_ARG_VALUE',
          `registration.id.${name} '${id[name]}' is not an ${family === 'ipv4' ? 'IPv4' : 'IPv6'} address, but registration.networks lists ${family === 'ipv4' ? 'IPv4' : 'IPv6'}`);
      }
    }
  }
  const flags = reg.flags ?? 0;
  validateInteger(flags, 'registration.flags', 0, REUSE_FLAG_MASK);
  const device = reg.bindToDevice ?? 0;
  validateInteger(device, 'registration.bindToDevice', 0, MAX_NIC);
  const owner = reg.owner ?? 0;
  validateInteger(owner, 'registration.owner', 0, 0xffffffff);
  const text = `${formatParsed(local)}:${id.localPort}` +
    (id.remotePort !== 0 || remote.family !== 'any' ? ` → ${formatParsed(remote)}:${id.remotePort}` : '') +
    (device !== 0 ? ` on NIC ${device}` : '');
  return {
    networks: reg.networks, transport: reg.transport, localPort: id.localPort, remotePort: id.remotePort,
    local, remote, flags, device, owner, text,
  };
}

/** Returns the MostRecent|LoadBalanced bits the demuxer keeps for `r`: LoadBalanced is off for a connected ID (gVisor: "SO_REUSEPORT only applies to bound/listening endpoints"). */
export function registrationBits(r: ParsedRegistration): number {
  let bits = r.flags & MULTI_BIND_FLAG_MASK;
  if (r.remotePort !== 0) bits &= ~REUSE_FLAG_LOAD_BALANCED;
  return bits;
}
