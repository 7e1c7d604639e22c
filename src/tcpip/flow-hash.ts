/**
 * Flow hashes: which worker, fd, queue or endpoint a packet's flow belongs to.
 *
 * - Jenkins one-at-a-time with gVisor's seeding and `reciprocalScale`, the exact function the transport
 *   demuxer uses to pick an endpoint inside a SO_REUSEPORT group (gVisor `pkg/tcpip/hash/jenkins`,
 *   `stack/transport_demuxer.go` selectEndpoint). Byte-oriented, so it reads a `Uint8Array`.
 * - The engine's own 5-tuple hash with a per-engine random seed, plain and symmetric (A→B equals B→A),
 *   read straight from the frame through its `DataView`.
 * - Toeplitz, the RSS hash NICs compute (Microsoft "RSS hashing types"), with the standard 40-byte key,
 *   so a software dispatcher can spread flows the way a multi-queue NIC would.
 *
 * Thread: any. Hot path: everything but `newFlowHashSeed` and `toeplitzTable` works on numbers and
 * memory it is handed, allocates nothing and never throws on validated offsets. Results are unsigned
 * 32-bit numbers, except the `...Int32` variants.
 *
 * Unsigned results and allocation: V8 (64-bit, as Node ships it) keeps integers in [-2^31, 2^31) as
 * Smis; an unsigned 32-bit result at or above 2^31 is a HeapNumber wherever it crosses a call boundary
 * V8 did not inline, i.e. an allocation per call for half of all hashes (measured: 16 scavenges per 4 M
 * calls of such a function, none when it returns `| 0`). Inlining is V8's choice and a large packet loop
 * runs out of inlining budget, so the per-packet flow hashes come in `...Int32` variants that cannot
 * allocate. The other hashes here are unsigned only.
 */
import { NetshardError } from '../errors.ts';

// ---------------------------------------------------------------------------------------------------
// Jenkins one-at-a-time (REFERENCE-gvisor.md §3.4)

/** Returns the Jenkins one-at-a-time state after writing one byte: s += b; s += s << 10; s ^= s >>> 6. */
export function jenkinsWrite(state: number, byte: number): number {
  let s = (state + (byte & 0xff)) | 0;
  s = (s + (s << 10)) | 0;
  s ^= s >>> 6;
  return s >>> 0;
}

/** Returns the Jenkins state after writing `bytes[offset, offset+length)`. Allocation: none. */
export function jenkinsWriteBytes(state: number, bytes: Uint8Array, offset: number, length: number): number {
  let s = state | 0;
  const end = offset + length;
  for (let i = offset; i < end; i++) {
    s = (s + bytes[i]!) | 0;
    s = (s + (s << 10)) | 0;
    s ^= s >>> 6;
  }
  return s >>> 0;
}

/** Returns the Jenkins hash of a state (gVisor `Sum32`): s += s << 3; s ^= s >>> 11; s += s << 15. */
export function jenkinsSum(state: number): number {
  let s = state | 0;
  s = (s + (s << 3)) | 0;
  s ^= s >>> 11;
  s = (s + (s << 15)) | 0;
  return s >>> 0;
}

/** Returns the Jenkins one-at-a-time hash of `bytes[offset, offset+length)`, starting from state `seed`. */
export function jenkinsHash(bytes: Uint8Array, offset: number, length: number, seed = 0): number {
  return jenkinsSum(jenkinsWriteBytes(seed, bytes, offset, length));
}

/**
 * Returns `floor(hash * n / 2^32)`, an index in [0, n) (Lemire's "fast alternative to modulo", what
 * gVisor calls reciprocalScale: `uint32(uint64(hash) * uint64(n) >> 32)`). Both are unsigned 32-bit.
 * The 64-bit product is split into 16-bit halves of `hash` so every step stays exact in a double,
 * without BigInt.
 */
export function reciprocalScale(hash: number, n: number): number {
  const h = hash >>> 0;
  const m = n >>> 0;
  const high = (h >>> 16) * m; // < 2^48: exact
  const low = (h & 0xffff) * m; // < 2^48: exact
  const highTop = Math.floor(high / 0x10000); // the part of high * 2^16 at or above 2^32
  const highBottom = high % 0x10000;
  return (highTop + Math.floor((highBottom * 0x10000 + low) / 0x100000000)) >>> 0;
}

/**
 * Returns the hash gVisor's demuxer feeds to `reciprocalScale` to choose one endpoint of a
 * load-balanced (SO_REUSEPORT) group for an IPv4 packet: Jenkins from state `seed` over the local
 * port and the remote port (each little-endian), then the local and remote addresses (network order).
 * For an incoming packet, local = its destination. Addresses are unsigned 32-bit numbers.
 */
export function demuxHashIpv4(seed: number, localPort: number, remotePort: number, localAddress: number, remoteAddress: number): number {
  let s = jenkinsWrite(seed, localPort);
  s = jenkinsWrite(s, localPort >>> 8);
  s = jenkinsWrite(s, remotePort);
  s = jenkinsWrite(s, remotePort >>> 8);
  s = jenkinsWrite(s, localAddress >>> 24);
  s = jenkinsWrite(s, localAddress >>> 16);
  s = jenkinsWrite(s, localAddress >>> 8);
  s = jenkinsWrite(s, localAddress);
  s = jenkinsWrite(s, remoteAddress >>> 24);
  s = jenkinsWrite(s, remoteAddress >>> 16);
  s = jenkinsWrite(s, remoteAddress >>> 8);
  s = jenkinsWrite(s, remoteAddress);
  return jenkinsSum(s);
}

/** Returns the demuxer's hash for IPv6 as `demuxHashIpv4`, the 16-byte addresses at offsets in `bytes`. */
export function demuxHashIpv6(
  seed: number,
  localPort: number,
  remotePort: number,
  bytes: Uint8Array,
  localOffset: number,
  remoteOffset: number,
): number {
  let s = jenkinsWrite(seed, localPort);
  s = jenkinsWrite(s, localPort >>> 8);
  s = jenkinsWrite(s, remotePort);
  s = jenkinsWrite(s, remotePort >>> 8);
  s = jenkinsWriteBytes(s, bytes, localOffset, 16);
  s = jenkinsWriteBytes(s, bytes, remoteOffset, 16);
  return jenkinsSum(s);
}

/**
 * Returns the demuxer's hash (`demuxHashIpv4` / `demuxHashIpv6`, the same value) as a signed int32 (`>>> 0`
 * gives the unsigned one) for the addresses of `addressSize` bytes (4 or 16) at `localAt` and `remoteAt` in
 * `view`. The per-packet form: everything stays an int32, so the result is never boxed, even when the
 * call is not inlined (an unsigned result >= 2^31 would be a heap number). Hot path: no allocation.
 */
export function demuxHashInt32(seed: number, localPort: number, remotePort: number, view: DataView, localAt: number, remoteAt: number, addressSize: number): number {
  let s = seed | 0;
  // Ports, little-endian: low byte first.
  s = (s + (localPort & 0xff)) | 0; s = (s + (s << 10)) | 0; s ^= s >>> 6;
  s = (s + ((localPort >>> 8) & 0xff)) | 0; s = (s + (s << 10)) | 0; s ^= s >>> 6;
  s = (s + (remotePort & 0xff)) | 0; s = (s + (s << 10)) | 0; s ^= s >>> 6;
  s = (s + ((remotePort >>> 8) & 0xff)) | 0; s = (s + (s << 10)) | 0; s ^= s >>> 6;
  for (let i = 0; i < addressSize; i++) {
    s = (s + view.getUint8(localAt + i)) | 0; s = (s + (s << 10)) | 0; s ^= s >>> 6;
  }
  for (let i = 0; i < addressSize; i++) {
    s = (s + view.getUint8(remoteAt + i)) | 0; s = (s + (s << 10)) | 0; s ^= s >>> 6;
  }
  s = (s + (s << 3)) | 0;
  s ^= s >>> 11;
  return (s + (s << 15)) | 0;
}

// ---------------------------------------------------------------------------------------------------
// The engine's 5-tuple hash
//
// Mixing: MurmurHash3's 32-bit block step per 32-bit word and its fmix32 finalizer. Why: the tuple is
// already whole words (addresses, ports packed in one word, protocol), so a word-at-a-time mix costs
// 4 `Math.imul` + rotations per word: 5 words for IPv4, where Jenkins one-at-a-time would take ~39
// dependent shift/add/xor steps per 13 bytes. `Math.imul` keeps everything in int32 registers (no
// doubles, no allocation), and MurmurHash3 avalanches fully (SMHasher), so a random seed scatters
// flows across buckets and an outsider who does not know the seed cannot aim flows at one bucket
// cheaply. It is not a keyed PRF: do not use it where a secret must hold against an active attacker.

/** IP protocols whose first 4 transport bytes are source and destination ports (as Linux's dissector). */
function hasPorts(protocol: number): boolean {
  // TCP 6, UDP 17, DCCP 33, SCTP 132, UDP-Lite 136.
  return protocol === 6 || protocol === 17 || protocol === 33 || protocol === 132 || protocol === 136;
}

function mixWord(h: number, word: number): number {
  let k = Math.imul(word, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** MurmurHash3's fmix32 over the word count; returns an int32 (callers that promise unsigned add `>>> 0`). */
function finishMix(h: number, words: number): number {
  h ^= words * 4;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

/**
 * Returns the ports word (source << 16 | destination) as an int32, or 0 when the packet has no ports to
 * hash. Read signed: with a source port >= 32768 (every ephemeral port) the unsigned word is >= 2^31, a
 * HeapNumber wherever it crosses a call V8 did not inline (this one or `mixWord`): measured, one
 * allocation per packet and ~10 scavenges a second in a dispatch loop at 5 Mpps. `mixWord` reads it
 * through `Math.imul` (ToInt32), and the symmetric hashes through `>>> 16` and `& 0xffff`: same bits.
 */
function portsWord(view: DataView, protocol: number, transportOffset: number): number {
  return transportOffset >= 0 && hasPorts(protocol) ? view.getInt32(transportOffset) : 0;
}

/**
 * Returns a fresh random seed for the engine's flow hash: one per engine, kept for its lifetime so a
 * flow keeps its worker. Control path (it allocates).
 */
export function newFlowHashSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0]!;
}

/**
 * Returns the flow hash of the IPv4 packet at `ipOffset`: source, destination, `protocol` and, for TCP,
 * UDP, DCCP, SCTP and UDP-Lite, the two ports at `transportOffset`. Pass -1 as `transportOffset` for
 * every fragment (the first one too, which carries the ports) so all fragments of a datagram hash alike,
 * as NICs do. Allocation: none. Precondition: validated headers.
 */
export function flowHashIpv4(view: DataView, ipOffset: number, protocol: number, transportOffset: number, seed: number): number {
  return flowHashIpv4Int32(view, ipOffset, protocol, transportOffset, seed) >>> 0;
}

/**
 * Returns `flowHashIpv4(...)` as a signed int32, the same 32 bits (`flowHashIpv4Int32(...) >>> 0` is
 * `flowHashIpv4(...)`). For a packet loop: an int32 is always a Smi, so the result never allocates,
 * whereas an unsigned result of 2^31 or more returned through a call V8 did not inline is boxed as a
 * HeapNumber, one allocation per packet for half the flows (see the file comment). Store it as is in an
 * `Int32Array` descriptor word or a `Uint32Array`; turn it unsigned (`>>> 0`) before `%` or comparisons.
 */
export function flowHashIpv4Int32(view: DataView, ipOffset: number, protocol: number, transportOffset: number, seed: number): number {
  let h = mixWord(seed | 0, view.getInt32(ipOffset + 12));
  h = mixWord(h, view.getInt32(ipOffset + 16));
  h = mixWord(h, portsWord(view, protocol, transportOffset));
  h = mixWord(h, protocol);
  return finishMix(h, 4);
}

/** Returns the flow hash of the IPv6 packet at `ipOffset`, as `flowHashIpv4` (`protocol` after any extension headers). */
export function flowHashIpv6(view: DataView, ipOffset: number, protocol: number, transportOffset: number, seed: number): number {
  return flowHashIpv6Int32(view, ipOffset, protocol, transportOffset, seed) >>> 0;
}

/** Returns `flowHashIpv6(...)` as a signed int32, the same 32 bits; see `flowHashIpv4Int32` for why. */
export function flowHashIpv6Int32(view: DataView, ipOffset: number, protocol: number, transportOffset: number, seed: number): number {
  let h = seed | 0;
  for (let i = 8; i < 40; i += 4) h = mixWord(h, view.getInt32(ipOffset + i));
  h = mixWord(h, portsWord(view, protocol, transportOffset));
  h = mixWord(h, protocol);
  return finishMix(h, 10);
}

/**
 * Returns a flow hash that is the same in both directions (A→B and B→A), for a forwarder that wants a
 * connection's two halves on one worker: the endpoint (address, port) that compares lower goes first.
 * Otherwise as `flowHashIpv4`. Allocation: none.
 */
export function symmetricFlowHashIpv4(view: DataView, ipOffset: number, protocol: number, transportOffset: number, seed: number): number {
  const source = view.getUint32(ipOffset + 12);
  const destination = view.getUint32(ipOffset + 16);
  let ports = portsWord(view, protocol, transportOffset);
  const sourcePort = ports >>> 16;
  const destinationPort = ports & 0xffff;
  let h: number;
  if (source < destination || (source === destination && sourcePort <= destinationPort)) {
    h = mixWord(seed | 0, source);
    h = mixWord(h, destination);
  } else {
    h = mixWord(seed | 0, destination);
    h = mixWord(h, source);
    ports = (destinationPort << 16) | sourcePort;
  }
  h = mixWord(h, ports);
  h = mixWord(h, protocol);
  return finishMix(h, 4) >>> 0;
}

/** Returns the IPv6 flow hash that is the same in both directions; otherwise as `symmetricFlowHashIpv4`. */
export function symmetricFlowHashIpv6(view: DataView, ipOffset: number, protocol: number, transportOffset: number, seed: number): number {
  const sourceAt = ipOffset + 8;
  const destinationAt = ipOffset + 24;
  let ports = portsWord(view, protocol, transportOffset);
  const sourcePort = ports >>> 16;
  const destinationPort = ports & 0xffff;
  let order = 0; // < 0: source first, > 0: destination first
  for (let i = 0; i < 16 && order === 0; i += 4) {
    const a = view.getUint32(sourceAt + i);
    const b = view.getUint32(destinationAt + i);
    if (a !== b) order = a < b ? -1 : 1;
  }
  if (order === 0) order = sourcePort <= destinationPort ? -1 : 1;
  const firstAt = order < 0 ? sourceAt : destinationAt;
  const secondAt = order < 0 ? destinationAt : sourceAt;
  if (order > 0) ports = (destinationPort << 16) | sourcePort;
  let h = seed | 0;
  for (let i = 0; i < 16; i += 4) h = mixWord(h, view.getInt32(firstAt + i));
  for (let i = 0; i < 16; i += 4) h = mixWord(h, view.getInt32(secondAt + i));
  h = mixWord(h, ports);
  h = mixWord(h, protocol);
  return finishMix(h, 10) >>> 0;
}

// ---------------------------------------------------------------------------------------------------
// Toeplitz (RSS)

/**
 * The default RSS key from Microsoft's "Verifying the RSS Hash Calculation", which most NIC drivers
 * ship too. Shared: do not modify.
 */
export const MICROSOFT_RSS_KEY: Uint8Array = Uint8Array.of(
  0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
  0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
  0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
);

/** The longest RSS input: IPv6 source and destination plus two ports. */
export const TOEPLITZ_MAX_INPUT = 36;

/**
 * Builds the per-byte lookup table of a Toeplitz key: entry `position * 256 + value` is the XOR of the
 * 32-bit key windows for the set bits of `value` at input byte `position`, so hashing costs one lookup
 * and one XOR per input byte instead of eight conditional XORs. 36 × 256 entries (36 KiB); build once
 * per key, share between threads by copying. The key needs `TOEPLITZ_MAX_INPUT + 4` = 40 bytes; longer
 * keys use their first 40. Control path: allocates; throws ERR_INVALID_ARG_VALUE for a short key.
 */
export function toeplitzTable(key: Uint8Array = MICROSOFT_RSS_KEY): Uint32Array {
  if (!(key instanceof Uint8Array) || key.length < TOEPLITZ_MAX_INPUT + 4) {
    throw new NetshardError('ERR_INVALID_ARG_VALUE', `key must be a Uint8Array of at least ${TOEPLITZ_MAX_INPUT + 4} bytes`);
  }
  const table = new Uint32Array(TOEPLITZ_MAX_INPUT * 256);
  for (let position = 0; position < TOEPLITZ_MAX_INPUT; position++) {
    // windows[b] = the 32 key bits starting at bit position*8 + b (b = 0 for the byte's top bit).
    const windows = new Uint32Array(8);
    for (let b = 0; b < 8; b++) {
      const bit = position * 8 + b;
      const byte = bit >>> 3;
      const shift = bit & 7;
      const word = ((key[byte]! << 24) | (key[byte + 1]! << 16) | (key[byte + 2]! << 8) | key[byte + 3]!) >>> 0;
      const next = key[byte + 4] ?? 0;
      windows[b] = shift === 0 ? word : ((word << shift) | (next >>> (8 - shift))) >>> 0;
    }
    for (let value = 0; value < 256; value++) {
      let h = 0;
      for (let b = 0; b < 8; b++) if (value & (0x80 >>> b)) h ^= windows[b]!;
      table[position * 256 + value] = h >>> 0;
    }
  }
  return table;
}

/** Returns the Toeplitz hash of `bytes[offset, offset+length)` (length ≤ 36) under `table`. Allocation: none. */
export function toeplitzHash(table: Uint32Array, bytes: Uint8Array, offset: number, length: number): number {
  let h = 0;
  for (let i = 0; i < length; i++) h ^= table[i * 256 + bytes[offset + i]!]!;
  return h >>> 0;
}

/** XORs the table entries for the 4 bytes of `word` at input positions `position .. position+3`. */
function toeplitzWord(table: Uint32Array, position: number, word: number): number {
  const at = position * 256;
  return table[at + (word >>> 24)]! ^ table[at + 256 + ((word >>> 16) & 0xff)]! ^
    table[at + 512 + ((word >>> 8) & 0xff)]! ^ table[at + 768 + (word & 0xff)]!;
}

/**
 * Returns the RSS hash of the IPv4 packet at `ipOffset`: over source and destination address
 * ("IPv4" hash type), followed by source and destination port ("TCP/IPv4", "UDP/IPv4") when
 * `transportOffset` is not -1. Pass -1 for fragments and for protocols without ports. Allocation: none.
 */
export function toeplitzHashIpv4(table: Uint32Array, view: DataView, ipOffset: number, transportOffset: number): number {
  let h = toeplitzWord(table, 0, view.getUint32(ipOffset + 12)) ^ toeplitzWord(table, 4, view.getUint32(ipOffset + 16));
  if (transportOffset >= 0) h ^= toeplitzWord(table, 8, view.getUint32(transportOffset));
  return h >>> 0;
}

/** Returns the RSS hash of the IPv6 packet at `ipOffset` ("IPv6", or "TCP/IPv6"/"UDP/IPv6" with ports); as `toeplitzHashIpv4`. */
export function toeplitzHashIpv6(table: Uint32Array, view: DataView, ipOffset: number, transportOffset: number): number {
  let h = 0;
  for (let i = 0; i < 32; i += 4) h ^= toeplitzWord(table, i, view.getUint32(ipOffset + 8 + i));
  if (transportOffset >= 0) h ^= toeplitzWord(table, 32, view.getUint32(transportOffset));
  return h >>> 0;
}
