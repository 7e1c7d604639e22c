/**
 * The shared memory layouts of `src/ring`: a descriptor ring and a frame pool, each one SharedArrayBuffer,
 * with named word indices. Producer index, consumer index, the need-wakeup flag and each side's counters
 * sit in their own 64-byte cache line, so the producer's stores never invalidate the line the consumer
 * writes, and the reverse (ringbuf.js keeps both indices in one 8-byte word; STYLE.md, RUNTIME-FACTS.md).
 *
 * Ring (all words Int32, indices into the control `Int32Array` over bytes 0..383):
 * ```
 *  byte   0  ┌ line 0  header, written once by createRing, read-only after:
 *            │   [0] RING_MAGIC   [1] RING_VERSION   [2] RING_CAPACITY   [3] RING_RECORD_WORDS
 *            │   [4] RING_PRODUCER_ATTACHED   [5] RING_CONSUMER_ATTACHED   (0/1, claimed with compareExchange)
 *  byte  64  ├ line 1  [16] PRODUCER_INDEX   free-running, wraps at 2^32; producer stores, consumer loads
 *  byte 128  ├ line 2  [32] CONSUMER_INDEX   free-running; consumer stores, producer loads
 *  byte 192  ├ line 3  [48] NEED_WAKEUP      1 while the consumer sleeps (or is about to); the producer
 *            │                                clears it (compareExchange 1→0) and pays one wakeup
 *  byte 256  ├ line 4  producer counters:   [64] DROPS   [65] WAKEUPS      (producer writes, any thread reads)
 *  byte 320  ├ line 5  consumer counters:   [80] SLEEPS  [81] WAKEUPS_RECEIVED  (consumer writes)
 *  byte 384  └ records: capacity × recordWords Int32 words; record i at word (i & mask) × recordWords
 * ```
 *
 * Frame pool (Int32 words over bytes 0..191, then the free list, the frame states, and the page-aligned frames):
 * ```
 *  byte   0  ┌ line 0  header, written once by FramePool.create:
 *            │   [0] POOL_MAGIC  [1] POOL_VERSION  [2] POOL_FRAME_SIZE  [3] POOL_FRAME_COUNT  [4] POOL_ID
 *            │   [5] POOL_FRAME_AREA_OFFSET (bytes)  [6] POOL_OWNER (owner's threadId + 1; 0 = none; compareExchange)
 *  byte  64  ├ line 1  [16] POOL_FREE_COUNT  top of the free stack; owner writes, any thread loads
 *  byte 128  ├ line 2  owner counters: [32] ALLOC_FAILURES  [33] DOUBLE_FREES  [34] BAD_FREES
 *  byte 192  ├ free list: Int32[frameCount], a stack of frame indices; [0, FREE_COUNT) are free
 *            ├ frame states: Uint8[frameCount], 1 = in the free list, 0 = out (in a ring or a thread's hands)
 *            ├ padding to a page, then up to one page of slack so the frame area's *address* can be aligned
 *  FRAME_AREA_OFFSET (4096-aligned) └ frames: frameCount × frameSize bytes, frame f at f × frameSize
 * ```
 * Imports nothing.
 */

/** Bytes in a cache line on x86-64 and arm64 servers: the unit of separation between writers. */
export const CACHE_LINE_BYTES = 64;
/** Int32 words in a cache line. */
export const CACHE_LINE_WORDS = CACHE_LINE_BYTES / 4;
/** Page size the frame area is aligned to: AF_XDP's XDP_UMEM_REG needs a page-aligned UMEM address. */
export const PAGE_BYTES = 4096;

// ---- ring ----------------------------------------------------------------------------------------

/** "NSRG": marks a buffer made by `createRing`. */
export const RING_MAGIC_VALUE = 0x4e535247;
/** Bumped when the ring layout changes; `attach` refuses other versions. */
export const RING_VERSION_VALUE = 1;

/** Header word: magic. */
export const RING_MAGIC = 0;
/** Header word: layout version. */
export const RING_VERSION = 1;
/** Header word: capacity in records (a power of two). */
export const RING_CAPACITY = 2;
/** Header word: Int32 words per record (a power of two, 1..16). */
export const RING_RECORD_WORDS = 3;
/** Header word: 1 while a `RingProducer` is attached. */
export const RING_PRODUCER_ATTACHED = 4;
/** Header word: 1 while a `RingConsumer` is attached. */
export const RING_CONSUMER_ATTACHED = 5;
/** Line 1: producer index (free-running Int32). */
export const PRODUCER_INDEX = 1 * CACHE_LINE_WORDS;
/** Line 2: consumer index (free-running Int32). */
export const CONSUMER_INDEX = 2 * CACHE_LINE_WORDS;
/** Line 3: need-wakeup flag (AF_XDP's XDP_RING_NEED_WAKEUP), set by a consumer going to sleep. */
export const NEED_WAKEUP = 3 * CACHE_LINE_WORDS;
/** Line 4: records dropped by the producer because the ring was full. */
export const RING_DROPS = 4 * CACHE_LINE_WORDS;
/** Line 4: wakeups the producer sent (flag found set and cleared). */
export const RING_WAKEUPS = 4 * CACHE_LINE_WORDS + 1;
/** Line 5: times the consumer set its flag and went to sleep. */
export const RING_SLEEPS = 5 * CACHE_LINE_WORDS;
/** Line 5: sleeps the producer ended (the consumer found its flag already cleared). */
export const RING_WAKEUPS_RECEIVED = 5 * CACHE_LINE_WORDS + 1;
/** Control words before the records (6 cache lines). */
export const RING_CONTROL_WORDS = 6 * CACHE_LINE_WORDS;
/** Byte offset of record 0. */
export const RING_RECORDS_OFFSET = RING_CONTROL_WORDS * 4;
/** Largest ring capacity in records (2^24): keeps free-running Int32 index differences exact. */
export const RING_MAX_CAPACITY = 1 << 24;
/** Largest record in Int32 words (64 bytes: one cache line, one minimum-size Ethernet frame). */
export const RING_MAX_RECORD_WORDS = 16;

/** Returns the byte length of a ring of `capacity` records of `recordWords` words. */
export function ringByteLength(capacity: number, recordWords: number): number {
  return RING_RECORDS_OFFSET + capacity * recordWords * 4;
}

// ---- descriptor record ---------------------------------------------------------------------------

/**
 * A packet descriptor is 8 Int32 words (32 bytes, two per cache line). 8 rather than 4 because a frame
 * index, a length, a headroom offset, a flow hash, the header offsets, the protocols, the owner pool and
 * a word for the channel do not fit 16 bytes without squeezing lengths past 64 KiB (GSO frames):
 * ```
 *  word 0  DESC_FRAME      frame index in the owner pool
 *  word 1  DESC_POOL       owner pool id: the completion ring the frame goes home through
 *  word 2  DESC_OFFSET     where the packet starts inside the frame (headroom before it), bytes
 *  word 3  DESC_LENGTH     packet length in bytes
 *  word 4  DESC_HASH       flow hash, u32 bits (read with `>>> 0`)
 *  word 5  DESC_HEADERS    bits 0-15 l3 offset, bits 16-31 l4 offset, from the packet start; 0xffff = none
 *  word 6  DESC_PROTOCOLS  bits 0-15 network protocol (EtherType), bits 16-23 transport protocol, 24-31 flags
 *  word 7  DESC_USER       the channel's own word (out-fd index, endpoint id); the ring never reads it
 * ```
 */
export const DESCRIPTOR_WORDS = 8;
/** Descriptor word: frame index. */
export const DESC_FRAME = 0;
/** Descriptor word: owner pool id. */
export const DESC_POOL = 1;
/** Descriptor word: packet start inside the frame. */
export const DESC_OFFSET = 2;
/** Descriptor word: packet length. */
export const DESC_LENGTH = 3;
/** Descriptor word: flow hash. */
export const DESC_HASH = 4;
/** Descriptor word: l3 offset | l4 offset << 16. */
export const DESC_HEADERS = 5;
/** Descriptor word: network protocol | transport protocol << 16 | flags << 24. */
export const DESC_PROTOCOLS = 6;
/** Descriptor word: free for the channel. */
export const DESC_USER = 7;
/** Header offset meaning "no such header" in `DESC_HEADERS`. */
export const NO_HEADER = 0xffff;

/** Descriptor flag: the transport checksum was verified (or offloaded). */
export const DESC_FLAG_CHECKSUM_OK = 1 << 0;
/** Descriptor flag: the frame was addressed to a multicast or broadcast link address. */
export const DESC_FLAG_MULTICAST = 1 << 1;
/** Descriptor flag: the packet is a GSO super-packet to be segmented on send. */
export const DESC_FLAG_GSO = 1 << 2;
/**
 * Descriptor flag: the sender left the transport checksum to offload (AF_PACKET TP_STATUS_CSUMNOTREADY,
 * a CHECKSUM_PARTIAL skb), so its field holds only the pseudo-header sum. Always set with
 * `DESC_FLAG_CHECKSUM_OK` (the packet never left the host: accept it unverified); whoever sends it on to
 * another link completes the checksum first (tcpip's `completeTransportChecksum`).
 */
export const DESC_FLAG_CHECKSUM_PARTIAL = 1 << 3;

/** Packs the l3 and l4 offsets (each 0..0xffff) into one `DESC_HEADERS` word. */
export function packHeaders(l3Offset: number, l4Offset: number): number {
  return (l3Offset & 0xffff) | (l4Offset << 16);
}
/** Returns the l3 offset from a `DESC_HEADERS` word. */
export function l3OffsetOf(headers: number): number {
  return headers & 0xffff;
}
/** Returns the l4 offset from a `DESC_HEADERS` word. */
export function l4OffsetOf(headers: number): number {
  return headers >>> 16;
}
/** Packs a network protocol (0..0xffff), a transport protocol (0..0xff) and flags (0..0xff) into one word. */
export function packProtocols(network: number, transport: number, flags: number): number {
  return (network & 0xffff) | ((transport & 0xff) << 16) | (flags << 24);
}
/** Returns the network protocol (EtherType) from a `DESC_PROTOCOLS` word. */
export function networkProtocolOf(protocols: number): number {
  return protocols & 0xffff;
}
/** Returns the transport protocol number from a `DESC_PROTOCOLS` word. */
export function transportProtocolOf(protocols: number): number {
  return (protocols >>> 16) & 0xff;
}
/** Returns the flag bits from a `DESC_PROTOCOLS` word. */
export function flagsOf(protocols: number): number {
  return protocols >>> 24;
}

// ---- frame pool ----------------------------------------------------------------------------------

/** "NSFP": marks a buffer made by `FramePool.create`. */
export const POOL_MAGIC_VALUE = 0x4e534650;
/** Bumped when the pool layout changes. */
export const POOL_VERSION_VALUE = 1;

/** Header word: magic. */
export const POOL_MAGIC = 0;
/** Header word: layout version. */
export const POOL_VERSION = 1;
/** Header word: frame size in bytes (a power of two, 2 KiB..64 KiB). */
export const POOL_FRAME_SIZE = 2;
/** Header word: number of frames. */
export const POOL_FRAME_COUNT = 3;
/** Header word: pool id carried in descriptors (`DESC_POOL`). */
export const POOL_ID = 4;
/** Header word: byte offset of frame 0 in the buffer (a multiple of `PAGE_BYTES`). */
export const POOL_FRAME_AREA_OFFSET = 5;
/** Header word: owner thread's `threadId + 1`, 0 when no thread owns the pool. */
export const POOL_OWNER = 6;
/** Line 1: number of free frames, the top of the free stack. */
export const POOL_FREE_COUNT = 1 * CACHE_LINE_WORDS;
/** Line 2: `alloc()` calls that found the pool empty. */
export const POOL_ALLOC_FAILURES = 2 * CACHE_LINE_WORDS;
/** Line 2: frees of a frame that was already free (refused, not applied). */
export const POOL_DOUBLE_FREES = 2 * CACHE_LINE_WORDS + 1;
/** Line 2: frees of a frame index outside the pool (refused). */
export const POOL_BAD_FREES = 2 * CACHE_LINE_WORDS + 2;
/** Control words before the free list (3 cache lines). */
export const POOL_CONTROL_WORDS = 3 * CACHE_LINE_WORDS;
/** Byte offset of the free list. */
export const POOL_FREE_LIST_OFFSET = POOL_CONTROL_WORDS * 4;
/** Frame state byte: the frame is in the free list. */
export const FRAME_FREE = 1;
/** Frame state byte: the frame is out (in a ring, or in one thread's hands). */
export const FRAME_OUT = 0;

/** Returns the byte offset of the frame state bytes in a pool of `frameCount` frames. */
export function poolStatesOffset(frameCount: number): number {
  return POOL_FREE_LIST_OFFSET + frameCount * 4;
}
/** Returns the first page boundary after the pool's control words, free list and states. */
export function poolFrameAreaBase(frameCount: number): number {
  return roundUp(poolStatesOffset(frameCount) + frameCount, PAGE_BYTES);
}
/** Returns `value` rounded up to a multiple of `unit` (a power of two). */
export function roundUp(value: number, unit: number): number {
  return Math.ceil(value / unit) * unit;
}
