import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  DESCRIPTOR_WORDS,
  attachConsumer,
  attachProducer,
  createRing,
  flagsOf,
  l3OffsetOf,
  l4OffsetOf,
  networkProtocolOf,
  packHeaders,
  packProtocols,
  ringStats,
  transportProtocolOf,
} from '../../src/ring/index.ts';
import { CONSUMER_INDEX, PRODUCER_INDEX, RING_RECORDS_OFFSET } from '../../src/ring/layout.ts';
import { recordWord } from './fixtures/shared.ts';
import { throwsNetshard } from './fixtures/throws.ts';

const Ring = suite('ring/ring');

Ring('layout: indices, flag and counters each in their own cache line; records after', () => {
  const lines = [PRODUCER_INDEX, CONSUMER_INDEX].map((w) => Math.floor((w * 4) / 64));
  assert.equal(lines, [1, 2]);
  assert.is(RING_RECORDS_OFFSET % 64, 0);
  const buffer = createRing({ capacity: 4 });
  assert.is(buffer.byteLength, RING_RECORDS_OFFSET + 4 * DESCRIPTOR_WORDS * 4);
  assert.equal(ringStats(buffer), { capacity: 4, recordWords: 8, pending: 0, drops: 0, wakeups: 0, sleeps: 0, wakeupsReceived: 0 });
});

Ring('reserve, write in place, publish; peek, read in place, release', () => {
  const buffer = createRing({ capacity: 8, recordWords: 4 });
  const p = attachProducer(buffer);
  const c = attachConsumer(buffer);
  assert.is(c.peek(4), 0, 'empty ring');
  assert.is(p.reserve(3), 3);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 4; j++) p.records[p.slot(i) + j] = recordWord(i, j);
  assert.is(c.peek(8), 0, 'reserved is not published');
  assert.is(p.publish(3), false, 'no wakeup asked, none sent');
  assert.is(p.pending, 3);
  assert.is(c.peek(8), 3);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 4; j++) assert.is(c.records[c.slot(i) + j], recordWord(i, j));
  c.release(2);
  assert.is(p.pending, 1);
  assert.is(c.peek(8), 1);
  assert.is(c.records[c.slot(0)], recordWord(2, 0));
  c.release(5); // clamped to what was peeked
  assert.is(p.pending, 0);
  assert.is(p.wakeups, 0);
});

Ring('publish and release are clamped to what was reserved and peeked', () => {
  const buffer = createRing({ capacity: 4, recordWords: 1 });
  const p = attachProducer(buffer);
  const c = attachConsumer(buffer);
  assert.is(p.reserve(2), 2);
  p.records[p.slot(0)] = 7;
  p.records[p.slot(1)] = 8;
  p.publish(10);
  assert.is(c.peek(4), 2);
  c.release(1);
  c.release(1);
  c.release(1); // nothing peeked any more
  assert.is(p.pending, 0);
  p.publish(1); // nothing reserved any more
  assert.is(c.peek(4), 0);
});

for (const c of [
  { name: 'capacity 1, 1-word records', capacity: 1, recordWords: 1 },
  { name: 'capacity 4, descriptors', capacity: 4, recordWords: 8 },
  { name: 'capacity 16, 64-byte records', capacity: 16, recordWords: 16 },
]) {
  Ring(`wrap-around at capacity boundaries: ${c.name}`, () => {
    const buffer = createRing({ capacity: c.capacity, recordWords: c.recordWords });
    const p = attachProducer(buffer);
    const r = attachConsumer(buffer);
    let written = 0;
    let read = 0;
    // Batch sizes that do not divide the capacity, so batches straddle the end of the records.
    for (let round = 0; round < 50 * c.capacity; round++) {
      const n = p.reserve(1 + (round % 3));
      for (let i = 0; i < n; i++) for (let j = 0; j < c.recordWords; j++) p.records[p.slot(i) + j] = recordWord(written + i, j);
      p.publish(n);
      written += n;
      const m = r.peek(1 + (round % 2));
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < c.recordWords; j++) {
          assert.is(r.records[r.slot(i) + j], recordWord(read + i, j), `record ${read + i} word ${j}`);
        }
      }
      r.release(m);
      read += m;
    }
    assert.ok(written > 10 * c.capacity, `${written} records went round the ring`);
    assert.ok(written - read <= c.capacity);
  });
}

for (const start of [0x7ffffffc, -4, 0xfffffffc | 0]) {
  Ring(`free-running indices cross the Int32 wrap: start ${start}`, () => {
    const buffer = createRing({ capacity: 8, recordWords: 1 });
    const ctl = new Int32Array(buffer);
    ctl[PRODUCER_INDEX] = start; // as if 2^31 records had gone by
    ctl[CONSUMER_INDEX] = start;
    const p = attachProducer(buffer);
    const c = attachConsumer(buffer);
    for (let seq = 0; seq < 40; seq += 5) {
      assert.is(p.reserve(5), 5);
      for (let i = 0; i < 5; i++) p.records[p.slot(i)] = seq + i;
      p.publish(5);
      assert.is(p.reserve(8), 3, 'room left is capacity minus pending');
      assert.is(c.peek(8), 5);
      for (let i = 0; i < 5; i++) assert.is(c.records[c.slot(i)], seq + i);
      c.release(5);
    }
    assert.is(ringStats(buffer).pending, 0);
  });
}

Ring('full ring: reserve returns fewer, the caller counts drops, nothing is overwritten', () => {
  const buffer = createRing({ capacity: 8, recordWords: 2 });
  const p = attachProducer(buffer);
  const c = attachConsumer(buffer);
  let seq = 0;
  let drops = 0;
  for (const want of [5, 5, 4]) {
    const n = p.reserve(want);
    for (let i = 0; i < n; i++) {
      p.records[p.slot(i)] = seq;
      p.records[p.slot(i) + 1] = ~seq;
      seq++;
    }
    p.publish(n);
    if (n < want) {
      p.countDrops(want - n);
      drops += want - n;
    }
  }
  assert.is(seq, 8, '5 + 3 fit, then nothing');
  assert.is(drops, 6);
  assert.is(p.drops, 6);
  assert.is(ringStats(buffer).drops, 6);
  assert.is(c.peek(16), 8);
  for (let i = 0; i < 8; i++) {
    assert.is(c.records[c.slot(i)], i);
    assert.is(c.records[c.slot(i) + 1], ~i);
  }
  c.release(8);
  assert.is(p.reserve(16), 8, 'room again once released');
});

Ring('descriptor words pack and unpack', () => {
  const headers = packHeaders(14, 34);
  assert.is(l3OffsetOf(headers), 14);
  assert.is(l4OffsetOf(headers), 34);
  assert.is(l4OffsetOf(packHeaders(0xffff, 0xffff)), 0xffff);
  const protocols = packProtocols(0x86dd, 17, 0x81);
  assert.is(networkProtocolOf(protocols), 0x86dd);
  assert.is(transportProtocolOf(protocols), 17);
  assert.is(flagsOf(protocols), 0x81);
});

Ring('one producer and one consumer per ring; close() frees the end', () => {
  const buffer = createRing({ capacity: 4 });
  const p = attachProducer(buffer);
  attachConsumer(buffer);
  throwsNetshard(() => attachProducer(buffer), 'ERR_NETSHARD_RING_END_ATTACHED', "the ring's producer end is already attached; close() it first");
  throwsNetshard(() => attachConsumer(buffer), 'ERR_NETSHARD_RING_END_ATTACHED', "the ring's consumer end is already attached; close() it first");
  assert.is(p.reserve(2), 2);
  p.publish(2);
  p.close();
  assert.is(p.reserve(1), 0, 'a closed producer reserves nothing');
  const again = attachProducer(buffer);
  assert.is(again.reserve(4), 2, 'the new producer continues after the published records');
});

const NOT_A_RING = new SharedArrayBuffer(1024);
const TRUNCATED = createRing({ capacity: 8 }).slice(0, 512);
for (const c of [
  { name: 'options not an object', fn: () => createRing(8 as never), code: 'ERR_INVALID_ARG_TYPE', message: 'options must be an object, received type number (8)' },
  { name: 'unknown option', fn: () => createRing({ capacity: 8, size: 1 } as never), code: 'ERR_INVALID_ARG_VALUE', message: 'options.size is not a known option (known: capacity, recordWords)' },
  { name: 'capacity missing', fn: () => createRing({} as never), code: 'ERR_INVALID_ARG_TYPE', message: 'options.capacity must be of type number, received undefined' },
  { name: 'capacity 0', fn: () => createRing({ capacity: 0 }), code: 'ERR_OUT_OF_RANGE', message: 'options.capacity must be an integer >= 1 and <= 16777216, received 0' },
  { name: 'capacity not a power of two', fn: () => createRing({ capacity: 12 }), code: 'ERR_INVALID_ARG_VALUE', message: 'options.capacity must be a power of two, received 12' },
  { name: 'recordWords 32', fn: () => createRing({ capacity: 8, recordWords: 32 }), code: 'ERR_OUT_OF_RANGE', message: 'options.recordWords must be an integer >= 1 and <= 16, received 32' },
  { name: 'recordWords 3', fn: () => createRing({ capacity: 8, recordWords: 3 }), code: 'ERR_INVALID_ARG_VALUE', message: 'options.recordWords must be a power of two, received 3' },
  { name: 'attach an ArrayBuffer', fn: () => attachProducer(new ArrayBuffer(1024) as never), code: 'ERR_INVALID_ARG_TYPE', message: 'buffer must be a SharedArrayBuffer, received an instance of ArrayBuffer' },
  { name: 'attach undefined', fn: () => attachConsumer(undefined as never), code: 'ERR_INVALID_ARG_TYPE', message: 'buffer must be a SharedArrayBuffer, received undefined' },
  { name: 'attach a short buffer', fn: () => attachConsumer(new SharedArrayBuffer(64)), code: 'ERR_INVALID_ARG_VALUE', message: 'buffer is not a ring: 64 bytes is too short' },
  { name: 'attach zeroed memory', fn: () => attachConsumer(NOT_A_RING), code: 'ERR_INVALID_ARG_VALUE', message: 'buffer is not a ring (magic 0x0)' },
]) {
  Ring(`bad argument: ${c.name}`, () => throwsNetshard(c.fn, c.code, c.message));
}

Ring('bad argument: a ring whose header does not match its size', () => {
  throwsNetshard(() => attachProducer(TRUNCATED), 'ERR_INVALID_ARG_VALUE', 'ring header (capacity 8, 8 words) does not match its 512-byte buffer');
});

Ring.run();
