/**
 * The public surface of `src/ring`: frame pools and SPSC descriptor rings on SharedArrayBuffers, and the
 * completion path that brings frames home. Other folders import only from here.
 */
export {
  DEFAULT_FRAME_POOL_OPTIONS,
  FrameMemory,
  FramePool,
  MAX_FRAME_AREA_BYTES,
  MAX_FRAME_COUNT,
  MAX_FRAME_SIZE,
  MIN_FRAME_SIZE,
  type FramePoolOptions,
} from './frame-pool.ts';
export { attachConsumer, attachProducer, createRing, ringStats, wakeupRequested, type RingOptions, type RingStats } from './ring.ts';
export { RingProducer } from './producer.ts';
export { RingConsumer } from './consumer.ts';
export { CompletionReceiver, CompletionSender, createCompletionRing } from './completion.ts';
export {
  DESCRIPTOR_WORDS,
  DESC_FLAG_CHECKSUM_OK,
  DESC_FLAG_CHECKSUM_PARTIAL,
  DESC_FLAG_GSO,
  DESC_FLAG_MULTICAST,
  DESC_FRAME,
  DESC_HASH,
  DESC_HEADERS,
  DESC_LENGTH,
  DESC_OFFSET,
  DESC_POOL,
  DESC_PROTOCOLS,
  DESC_USER,
  NO_HEADER,
  PAGE_BYTES,
  RING_MAX_CAPACITY,
  RING_MAX_RECORD_WORDS,
  flagsOf,
  l3OffsetOf,
  l4OffsetOf,
  networkProtocolOf,
  packHeaders,
  packProtocols,
  transportProtocolOf,
} from './layout.ts';
