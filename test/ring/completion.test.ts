import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CompletionReceiver, CompletionSender, FrameMemory, FramePool, createCompletionRing, createRing, ringStats } from '../../src/ring/index.ts';
import { throwsNetshard } from './fixtures/throws.ts';

const Completion = suite('ring/completion');

Completion('a completion ring is a 1-word ring sized to cover every frame of its pool', () => {
  for (const [frameCount, capacity] of [[1, 1], [5, 8], [4096, 4096], [4097, 8192]] as const) {
    const pool = FramePool.create({ frameCount });
    const stats = ringStats(createCompletionRing(pool));
    assert.equal([stats.capacity, stats.recordWords], [capacity, 1], `frameCount ${frameCount}`);
  }
});

Completion('frames sent by another holder come home through the ring, across its wrap', () => {
  const pool = FramePool.create({ frameCount: 6 });
  const buffer = createCompletionRing(pool); // capacity 8
  const sender = CompletionSender.attach(buffer);
  const receiver = CompletionReceiver.attach(buffer, pool);
  const held = new Int32Array(6);
  for (let round = 0; round < 20; round++) {
    const n = pool.allocBatch(held, 1 + (round % 6));
    for (let i = 0; i < n; i++) assert.ok(sender.add(held[i]!));
    assert.is(sender.staging, n);
    assert.is(receiver.reclaim(), 0, 'nothing published before flush');
    sender.flush();
    assert.is(sender.staging, 0);
    assert.is(receiver.reclaim(), n);
    assert.is(pool.available, 6, `round ${round}: every frame home`);
  }
  assert.is(pool.doubleFrees + pool.badFrees, 0);
});

Completion('a frame completed twice is refused by the pool and counted', () => {
  const pool = FramePool.create({ frameCount: 4 });
  const buffer = createCompletionRing(pool);
  const sender = CompletionSender.attach(buffer);
  const receiver = CompletionReceiver.attach(buffer, pool);
  const frame = pool.alloc();
  sender.add(frame);
  sender.add(frame);
  sender.add(77);
  sender.flush();
  assert.is(receiver.reclaim(), 1);
  assert.is(pool.doubleFrees, 1);
  assert.is(pool.badFrees, 1);
  assert.is(pool.available, 4);
});

Completion('a full completion ring refuses and counts, and the sender keeps the frame', () => {
  // Only a misuse can fill it (a ring smaller than the pool, or frames sent twice): build that misuse.
  const pool = FramePool.create({ frameCount: 8 });
  const buffer = createRing({ capacity: 4, recordWords: 1 });
  const sender = CompletionSender.attach(buffer);
  const receiver = CompletionReceiver.attach(buffer, pool);
  const held = new Int32Array(8);
  pool.allocBatch(held, 8);
  let refused = 0;
  for (let i = 0; i < 8; i++) if (!sender.add(held[i]!)) refused++;
  assert.is(refused, 4);
  assert.is(sender.producer.drops, 4);
  sender.flush();
  assert.is(receiver.reclaim(), 4);
  for (let i = 4; i < 8; i++) assert.ok(sender.add(held[i]!), 'room again after the owner reclaimed');
  sender.flush();
  assert.is(receiver.reclaim(), 4);
  assert.is(pool.available, 8);
});

Completion('bad argument: a descriptor ring is not a completion ring', () => {
  const ring = createRing({ capacity: 8 });
  throwsNetshard(() => CompletionSender.attach(ring), 'ERR_INVALID_ARG_VALUE', 'buffer is not a completion ring: its records are not 1 word');
  throwsNetshard(() => CompletionReceiver.attach(ring, FramePool.create({ frameCount: 1 })), 'ERR_INVALID_ARG_VALUE', 'buffer is not a completion ring: its records are not 1 word');
});

Completion('bad argument: the pool must be a pool, and the receiver needs the owner FramePool', () => {
  const pool = FramePool.create({ frameCount: 4 });
  throwsNetshard(() => createCompletionRing({ frameCount: 4 } as never), 'ERR_INVALID_ARG_TYPE', 'pool must be a FramePool or FrameMemory, received an instance of Object');
  throwsNetshard(() => createCompletionRing(undefined as never), 'ERR_INVALID_ARG_TYPE', 'pool must be a FramePool or FrameMemory, received undefined');
  const buffer = createCompletionRing(FrameMemory.attach(pool.buffer)); // any thread's view sizes it
  throwsNetshard(() => CompletionReceiver.attach(buffer, FrameMemory.attach(pool.buffer) as never), 'ERR_INVALID_ARG_TYPE',
    "pool must be the owner's FramePool (FramePool.create or adopt), received an instance of FrameMemory");
  assert.is(ringStats(buffer).capacity, 4);
  CompletionReceiver.attach(buffer, pool).consumer.close();
});

Completion.run();
