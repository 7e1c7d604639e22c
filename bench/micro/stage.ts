/**
 * The per-packet work of the micro-bench pipeline, shared by its threads: the dispatch stage (parse +
 * flow hash + an 8-word ring descriptor, as a dispatch worker builds it, see src/ring/layout.ts) and the
 * reference stage (the same descriptor words, with no parse and no hash). Hot path: no allocation, no
 * closure, no throw; everything is an int32.
 */
import {
  DESC_FRAME,
  DESC_HASH,
  DESC_HEADERS,
  DESC_LENGTH,
  DESC_OFFSET,
  DESC_POOL,
  DESC_PROTOCOLS,
  DESC_USER,
  packHeaders,
  packProtocols,
} from '../../src/ring/index.ts';
import {
  FragmentKind,
  IPV4_PROTOCOL_NUMBER,
  ParseReason,
  type ParsedPacket,
  flowHashIpv4Int32,
  flowHashIpv6Int32,
  parsePacket,
} from '../../src/tcpip/index.ts';

/** Packets per batch everywhere in the pipeline: what recvmmsg hands the dispatcher at once (engine default 64). */
export const BATCH = 64;

/**
 * Parses the frame `frame` (`length` bytes at byte `offset` of `view`), hashes its flow and writes its
 * descriptor at `records[at ..]`. Returns 1, or 0 when the frame does not parse (nothing written; the
 * caller frees it and counts the drop). The hash is left in `records[at + DESC_HASH]`.
 */
export function describeFrame(
  view: DataView, frame: number, poolId: number, offset: number, length: number, seed: number,
  parsed: ParsedPacket, records: Int32Array, at: number,
): number {
  if (parsePacket(view, offset, offset + length, true, parsed) !== ParseReason.Ok) return 0;
  const l4 = parsed.fragment === FragmentKind.None ? parsed.transportOffset : -1;
  const hash = parsed.networkProtocol === IPV4_PROTOCOL_NUMBER
    ? flowHashIpv4Int32(view, parsed.networkOffset, parsed.transportProtocol, l4, seed)
    : flowHashIpv6Int32(view, parsed.networkOffset, parsed.transportProtocol, l4, seed);
  records[at + DESC_FRAME] = frame;
  records[at + DESC_POOL] = poolId;
  records[at + DESC_OFFSET] = 0;
  records[at + DESC_LENGTH] = length;
  records[at + DESC_HASH] = hash;
  records[at + DESC_HEADERS] = packHeaders(parsed.networkOffset - offset, parsed.transportOffset - offset);
  records[at + DESC_PROTOCOLS] = packProtocols(parsed.networkProtocol, parsed.transportProtocol, 0);
  records[at + DESC_USER] = 0;
  return 1;
}

/**
 * The reference stage: writes the same 8 descriptor words for `frame` without reading the frame (its
 * index stands in for the hash, fixed offsets for the headers). The cost left is the ring's and the pool's.
 */
export function describeBare(frame: number, poolId: number, length: number, records: Int32Array, at: number): void {
  records[at + DESC_FRAME] = frame;
  records[at + DESC_POOL] = poolId;
  records[at + DESC_OFFSET] = 0;
  records[at + DESC_LENGTH] = length;
  records[at + DESC_HASH] = frame;
  records[at + DESC_HEADERS] = 14 | (34 << 16);
  records[at + DESC_PROTOCOLS] = IPV4_PROTOCOL_NUMBER | (17 << 16);
  records[at + DESC_USER] = 0;
}

/**
 * What the consumer does with a descriptor: folds the words a sender reads (length, headers, protocols)
 * into `sum` and returns it. Both pipeline modes pay it.
 */
export function foldDescriptor(sum: number, records: Int32Array, at: number): number {
  sum = Math.imul(sum ^ records[at + DESC_LENGTH]!, 0x01000193);
  sum = Math.imul(sum ^ records[at + DESC_HEADERS]!, 0x01000193);
  return Math.imul(sum ^ records[at + DESC_PROTOCOLS]!, 0x01000193);
}
