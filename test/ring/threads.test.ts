/**
 * The ring under two (and three) real threads: ordering and no loss for millions of records, need-wakeup
 * in both directions, and frame conservation through completion rings. No assertion on time.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { FramePool, attachConsumer, attachProducer, createCompletionRing, createRing, ringStats, wakeupRequested } from '../../src/ring/index.ts';
import { runWorker } from './fixtures/run.ts';
import { throwsNetshard } from './fixtures/throws.ts';

const Threads = suite('ring/threads');

/** Resolves once `buffer`'s consumer has asked for a wakeup; polls on timers (bounded: 10 s). */
async function untilAsleep(buffer: SharedArrayBuffer): Promise<void> {
  for (let i = 0; i < 10_000 && !wakeupRequested(buffer); i++) await new Promise((r) => setTimeout(r, 1));
  assert.ok(wakeupRequested(buffer), 'the consumer asked for a wakeup');
}

for (const c of [
  { name: 'descriptors, capacity 256, spinning consumer', capacity: 256, recordWords: 8, count: 1_500_000, sleep: false },
  { name: 'descriptors, capacity 1024, sleeping consumer', capacity: 1024, recordWords: 8, count: 1_000_000, sleep: true },
  { name: '1-word records, capacity 16 (always wrapping, thousands of sleeps)', capacity: 16, recordWords: 1, count: 200_000, sleep: true },
]) {
  Threads(`ordering and no loss across two threads: ${c.name}`, async () => {
    const ring = createRing({ capacity: c.capacity, recordWords: c.recordWords });
    const go = new SharedArrayBuffer(4); // the consumer starts once the producer runs (see ring-worker.ts)
    const [p, r] = await Promise.all([
      runWorker({ role: 'seq-producer', ring, count: c.count, seed: 42, go }),
      runWorker({ role: 'seq-consumer', ring, count: c.count, sleep: c.sleep, go }),
    ]);
    assert.is(p.published, c.count);
    assert.is(r.received, c.count);
    assert.is(r.errors, 0, r.firstError);
    assert.is(r.timeouts, 0, 'every sleep ended by a wakeup: none lost');
    assert.is(p.wakeups, r.wakeupsReceived, 'each wakeup sent was received by exactly one sleep');
    assert.is(p.publishWoke, p.wakeups);
    if (!c.sleep) assert.is(p.wakeups, 0, 'a consumer that never slept was never signalled');
    assert.is(ringStats(ring).pending, 0);
  });
}

Threads('a sleeping consumer (Atomics.wait in a worker) is woken by publish, once', async () => {
  const ring = createRing({ capacity: 8 });
  const result = runWorker({ role: 'sleeper', ring, timeoutMs: 10_000 });
  await untilAsleep(ring);
  const producer = attachProducer(ring);
  assert.is(producer.reserve(1), 1);
  producer.records[producer.slot(0)] = 1234;
  assert.is(producer.publish(1), true, 'publish reports the wakeup (an eventfd user writes it now)');
  assert.is(producer.wakeupRequested, false, 'the producer cleared the flag');
  assert.is(producer.reserve(1), 1);
  assert.is(producer.publish(1), false, 'a second publish pays no second wakeup');
  const got = (await result) as { n: number; frame: number; sleeps: number; wakeupsReceived: number };
  // The woken consumer may run before or after the second publish: it sees one record or both.
  assert.ok(got.n === 1 || got.n === 2, `woken consumer saw ${got.n} records, want 1 or 2`);
  assert.equal({ ...got, n: 0 }, { n: 0, frame: 1234, sleeps: 1, wakeupsReceived: 1 });
  assert.is(producer.wakeups, 1);
});

Threads('the main thread sleeps with waitForDataAsync and is woken by a worker', async () => {
  const ring = createRing({ capacity: 8, recordWords: 1 });
  const consumer = attachConsumer(ring);
  throwsNetshard(() => consumer.waitForData(1), 'ERR_NETSHARD_WRONG_THREAD', 'waitForData() blocks its thread; on the main thread use waitForDataAsync()');
  const worker = runWorker({ role: 'publish-when-asleep', ring, count: 3 });
  const n = await consumer.waitForDataAsync(10_000);
  assert.is(n, 3);
  assert.is(consumer.peek(8), 3);
  assert.equal([0, 1, 2].map((i) => consumer.records[consumer.slot(i)]), [100, 101, 102]);
  consumer.release(3);
  assert.equal(await worker, { n: 3, woke: true, wakeups: 1 });
  assert.is(consumer.wakeupsReceived, 1);
});

Threads('waitForDataAsync: a timeout resolves 0 and leaves no wakeup requested', async () => {
  const ring = createRing({ capacity: 8, recordWords: 1 });
  const consumer = attachConsumer(ring);
  const producer = attachProducer(ring);
  assert.is(await consumer.waitForDataAsync(5), 0);
  assert.is(producer.wakeupRequested, false);
  assert.equal([consumer.sleeps, consumer.wakeupsReceived], [1, 0]);
  producer.reserve(1);
  assert.is(producer.publish(1), false);
  assert.is(await consumer.waitForDataAsync(5), 1, 'data already there: no sleep');
  assert.is(consumer.sleeps, 1);
  await consumer.waitForDataAsync(-1).then(
    () => assert.unreachable('a negative timeout must reject'),
    (err: Error & { code: string }) => assert.equal([err.code, err.message], ['ERR_OUT_OF_RANGE', 'timeoutMs must be a number >= 0 (Infinity allowed), received -1']),
  );
});

Threads('requestWakeup re-checks the ring: a record published before the flag was set is not slept on', () => {
  const ring = createRing({ capacity: 8, recordWords: 1 });
  const consumer = attachConsumer(ring);
  const producer = attachProducer(ring);
  assert.is(consumer.peek(1), 0);
  producer.reserve(1);
  producer.publish(1); // lands between the consumer's empty peek and its decision to sleep
  assert.is(consumer.requestWakeup(), false, 'do not sleep: there is data');
  assert.is(producer.wakeupRequested, false, 'flag cleared again');
  assert.is(consumer.wakeupsReceived, 0);
  consumer.release(consumer.peek(1));
  assert.is(consumer.requestWakeup(), true, 'empty: sleep');
  producer.reserve(1);
  assert.is(producer.publish(1), true);
  assert.is(consumer.cancelWakeup(), true, 'woken by the producer');
  assert.is(consumer.cancelWakeup(), false, 'not asleep any more');
  assert.equal([producer.wakeups, consumer.wakeupsReceived], [1, 1]);
});

Threads('frame conservation: two pool owners, one forwarder, completion rings home; every pool full again', async () => {
  const owners = [1, 2].map((id) => {
    const pool = FramePool.create({ frameCount: 128, poolId: id });
    pool.disown(); // the worker adopts it
    return { pool, ring: createRing({ capacity: 32 }), completions: createCompletionRing(pool) };
  });
  const finished = new SharedArrayBuffer(4 * owners.length);
  const start = new SharedArrayBuffer(4);
  const count = 150_000;
  const results = await Promise.all([
    ...owners.map((o, index) =>
      runWorker({ role: 'pool-owner', pool: o.pool.buffer, ring: o.ring, completions: o.completions, count, seed: 7 + index, finished, index, start }),
    ),
    runWorker({
      role: 'forwarder',
      rings: owners.map((o) => o.ring),
      pools: owners.map((o) => o.pool.buffer),
      completions: owners.map((o) => o.completions),
      finished,
      start,
    }),
  ]);
  const forwarder = results[owners.length]!;
  assert.is(forwarder.errors, 0, forwarder.firstError);
  assert.equal(forwarder.senderDrops, [0, 0], 'a completion ring sized to its pool is never full');
  for (let i = 0; i < owners.length; i++) {
    const owner = results[i]!;
    assert.is(owner.offered, count);
    assert.is(owner.published + owner.dropped, count, 'every frame offered was published or dropped');
    assert.is(owner.drops, owner.dropped, 'every drop counted in the ring');
    assert.is(forwarder.received[i], owner.published, 'every published descriptor arrived');
    const memory = FramePool.attach(owners[i]!.pool.buffer);
    assert.is(memory.available, memory.frameCount, `pool ${i + 1}: every frame is home`);
    for (let f = 0; f < memory.frameCount; f++) assert.ok(memory.isFree(f), `frame ${f} free`);
    assert.equal([memory.doubleFrees, memory.badFrees], [0, 0]);
  }
});

Threads.run();
