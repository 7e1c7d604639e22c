import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import koffi from 'koffi';
import { FramePool, PAGE_BYTES, createCompletionRing, createRing } from '../../src/ring/index.ts';
import { runWorker } from './fixtures/run.ts';
import { throwsNetshard } from './fixtures/throws.ts';

const Pool = suite('ring/frame-pool');

Pool('create: every frame free, frame area page-aligned inside the buffer, frames addressed by index', () => {
  const pool = FramePool.create({ frameSize: 2048, frameCount: 10, poolId: 3 });
  assert.is(pool.available, 10);
  assert.is(pool.frameSize, 2048);
  assert.is(pool.frameCount, 10);
  assert.is(pool.id, 3);
  assert.is(pool.frameAreaOffset % PAGE_BYTES, 0);
  assert.is(pool.bytes.byteOffset, pool.frameAreaOffset);
  assert.is(pool.bytes.byteLength, 10 * 2048);
  assert.is(pool.view.byteOffset, pool.frameAreaOffset);
  assert.is(pool.offsetOf(0), 0);
  assert.is(pool.offsetOf(7), 7 * 2048);
  assert.is(pool.buffer, pool.bytes.buffer);
});

for (const frameSize of [2048, 4096, 16384, 65536]) {
  Pool(`create: frame size ${frameSize}`, () => {
    const pool = FramePool.create({ frameSize, frameCount: 4 });
    assert.is(pool.offsetOf(3), 3 * frameSize);
    assert.is(pool.bytes.byteLength, 4 * frameSize);
  });
}

Pool('addressOf places the frame area on an absolute page boundary (UMEM-ready)', () => {
  const addressOf = (b: SharedArrayBuffer): bigint => koffi.address(new Uint8Array(b));
  for (const frameCount of [1, 100, 4096]) {
    const pool = FramePool.create({ frameCount, addressOf });
    assert.is(koffi.address(pool.bytes) % BigInt(PAGE_BYTES), 0n, `frameCount ${frameCount}: frame 0 at a page`);
    assert.is(koffi.address(pool.bytes) + BigInt(pool.offsetOf(frameCount - 1)), koffi.address(new Uint8Array(pool.buffer, pool.frameAreaOffset + pool.offsetOf(frameCount - 1))));
  }
});

Pool('alloc hands out 0, 1, 2, … then -1 when empty, counting failures', () => {
  const pool = FramePool.create({ frameCount: 3 });
  assert.equal([pool.alloc(), pool.alloc(), pool.alloc()], [0, 1, 2]);
  assert.is(pool.available, 0);
  assert.is(pool.alloc(), -1);
  assert.is(pool.alloc(), -1);
  assert.is(pool.allocFailures, 2);
  assert.ok(pool.free(1));
  assert.is(pool.alloc(), 1, 'last freed, first reused (a stack: warm in cache)');
});

Pool('allocBatch and freeBatch', () => {
  const pool = FramePool.create({ frameCount: 8 });
  const out = new Int32Array(16);
  assert.is(pool.allocBatch(out, 5), 5);
  assert.equal(Array.from(out.subarray(0, 5)), [0, 1, 2, 3, 4]);
  assert.is(pool.available, 3);
  assert.is(pool.allocBatch(out, 10), 3, 'the shortfall is counted');
  assert.is(pool.allocFailures, 7);
  assert.is(pool.allocBatch(new Int32Array(2), 10), 0, 'clamped to out.length, nothing left');
  assert.is(pool.freeBatch(Int32Array.of(9, 0, 1, 2, 9), 3, 1), 3, 'frees src[1..4)');
  assert.is(pool.available, 3);
  assert.ok(pool.isFree(2));
  assert.not.ok(pool.isFree(3));
});

Pool('double free and foreign frames are counted and refused, never corrupting the free list', () => {
  const pool = FramePool.create({ frameCount: 4 });
  const a = pool.alloc();
  const b = pool.alloc();
  assert.ok(pool.free(a));
  assert.not.ok(pool.free(a), 'second free of the same frame');
  assert.not.ok(pool.free(2), 'a frame never allocated');
  assert.is(pool.doubleFrees, 2);
  for (const bad of [-1, 4, 1e9, 1.5, NaN]) assert.not.ok(pool.free(bad), `free(${bad})`);
  assert.is(pool.badFrees, 5);
  assert.is(pool.freeBatch(Int32Array.of(b, b, -7, 99), 4), 1, 'a batch with a duplicate and two foreign indices');
  assert.is(pool.doubleFrees, 3);
  assert.is(pool.badFrees, 7);
  assert.is(pool.available, 4, 'every frame free exactly once');
  const seen = new Set<number>();
  for (let i = 0; i < 4; i++) seen.add(pool.alloc());
  assert.equal([...seen].sort(), [0, 1, 2, 3], 'the free list holds each frame once');
  assert.is(pool.alloc(), -1);
});

Pool('attach from another thread sees the same memory; only views, no allocation', async () => {
  const pool = FramePool.create({ frameSize: 4096, frameCount: 8, poolId: 9 });
  pool.alloc();
  pool.bytes.set([0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4], pool.offsetOf(3));
  const got = await runWorker({ role: 'attach-pool', pool: pool.buffer, readFrame: 3, writeFrame: 5, reply: [9, 8, 7, 6] });
  assert.equal(got.seen, [0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4]);
  assert.equal([got.available, got.frameSize, got.frameCount, got.id], [7, 4096, 8, 9]);
  assert.equal(Array.from(pool.bytes.subarray(pool.offsetOf(5), pool.offsetOf(5) + 4)), [9, 8, 7, 6]);
  const view = FramePool.attach(pool.buffer);
  assert.not.ok('alloc' in view, 'an attached view cannot allocate');
});

Pool('ownership: one owner; disown hands it over, adopt takes it', () => {
  const pool = FramePool.create({ frameCount: 4, poolId: 2 });
  throwsNetshard(() => FramePool.adopt(new SharedArrayBuffer(8)), 'ERR_INVALID_ARG_VALUE', 'buffer is not a frame pool: 8 bytes is too short');
  pool.alloc();
  pool.disown();
  assert.is(pool.alloc(), -1, 'a disowned object allocates nothing');
  assert.not.ok(pool.free(0), 'and frees nothing');
  const adopted = FramePool.adopt(pool.buffer);
  assert.is(adopted.available, 3, 'state carried over');
  assert.is(adopted.allocFailures, 0, "the old object's refusals did not touch the pool");
  assert.ok(adopted.free(0));
});

Pool('adopt refuses a pool another thread owns', async () => {
  const pool = FramePool.create({ frameCount: 4, poolId: 5 });
  pool.disown();
  // A worker adopts it, runs an empty owner loop, and leaves it owned; then this thread cannot adopt it.
  const ring = createRing({ capacity: 4 });
  const completions = createCompletionRing(pool);
  const finished = new SharedArrayBuffer(4);
  const start = new SharedArrayBuffer(4);
  new Int32Array(start)[0] = 1; // no forwarder to wait for
  const got = await runWorker({ role: 'pool-owner', pool: pool.buffer, ring, completions, count: 0, seed: 1, finished, index: 0, start });
  assert.is(got.available, 4);
  throwsNetshard(() => FramePool.adopt(pool.buffer), 'ERR_NETSHARD_POOL_OWNED', `frame pool 5 is owned by thread ${got.threadId}; its owner must disown() it first`);
});

for (const c of [
  { name: 'options not an object', options: 'big', code: 'ERR_INVALID_ARG_TYPE', message: "options must be an object, received type string ('big')" },
  { name: 'unknown option', options: { frames: 4 }, code: 'ERR_INVALID_ARG_VALUE', message: 'options.frames is not a known option (known: frameSize, frameCount, poolId, addressOf)' },
  { name: 'frameSize below 2 KiB', options: { frameSize: 1024 }, code: 'ERR_OUT_OF_RANGE', message: 'options.frameSize must be an integer >= 2048 and <= 65536, received 1024' },
  { name: 'frameSize above 64 KiB', options: { frameSize: 131072 }, code: 'ERR_OUT_OF_RANGE', message: 'options.frameSize must be an integer >= 2048 and <= 65536, received 131072' },
  { name: 'frameSize not a power of two', options: { frameSize: 3000 }, code: 'ERR_INVALID_ARG_VALUE', message: 'options.frameSize must be a power of two, received 3000' },
  { name: 'frameSize a string', options: { frameSize: '2048' }, code: 'ERR_INVALID_ARG_TYPE', message: "options.frameSize must be of type number, received type string ('2048')" },
  { name: 'frameCount 0', options: { frameCount: 0 }, code: 'ERR_OUT_OF_RANGE', message: 'options.frameCount must be an integer >= 1 and <= 1048576, received 0' },
  {
    name: 'frame area over 1 GiB',
    options: { frameSize: 65536, frameCount: 16385 },
    code: 'ERR_OUT_OF_RANGE',
    message: 'options.frameSize × options.frameCount must be <= 1073741824 bytes, received 65536 × 16385',
  },
  { name: 'poolId negative', options: { poolId: -1 }, code: 'ERR_OUT_OF_RANGE', message: 'options.poolId must be an integer >= 0 and <= 65535, received -1' },
  { name: 'addressOf not a function', options: { addressOf: 4096 }, code: 'ERR_INVALID_ARG_TYPE', message: 'options.addressOf must be a function, received type number (4096)' },
  {
    name: 'addressOf returning no address', options: { addressOf: () => undefined },
    code: 'ERR_INVALID_ARG_VALUE', message: "options.addressOf must return the buffer's address (a bigint or an integer >= 0), received undefined",
  },
  {
    name: 'addressOf returning a negative address', options: { addressOf: () => -4096n },
    code: 'ERR_INVALID_ARG_VALUE', message: "options.addressOf must return the buffer's address (a bigint or an integer >= 0), received -4096n",
  },
  {
    name: 'addressOf returning a fraction', options: { addressOf: () => 4096.5 },
    code: 'ERR_INVALID_ARG_VALUE', message: "options.addressOf must return the buffer's address (a bigint or an integer >= 0), received 4096.5",
  },
]) {
  Pool(`bad argument: ${c.name}`, () => throwsNetshard(() => FramePool.create(c.options as never), c.code, c.message));
}

for (const c of [
  { name: 'not a buffer', buffer: [1, 2], code: 'ERR_INVALID_ARG_TYPE', message: 'buffer must be a SharedArrayBuffer, received an instance of Array' },
  { name: 'an ArrayBuffer', buffer: new ArrayBuffer(8192), code: 'ERR_INVALID_ARG_TYPE', message: 'buffer must be a SharedArrayBuffer, received an instance of ArrayBuffer' },
  { name: 'zeroed memory', buffer: new SharedArrayBuffer(8192), code: 'ERR_INVALID_ARG_VALUE', message: 'buffer is not a frame pool (magic 0x0)' },
]) {
  Pool(`bad argument: attach ${c.name}`, () => throwsNetshard(() => FramePool.attach(c.buffer as never), c.code, c.message));
}

Pool('bad argument: a pool buffer cut short', () => {
  const pool = FramePool.create({ frameCount: 4 });
  const cut = pool.buffer.slice(0, pool.frameAreaOffset + 2048);
  throwsNetshard(() => FramePool.attach(cut), 'ERR_INVALID_ARG_VALUE', `frame pool header does not fit its ${cut.byteLength}-byte buffer`);
});

Pool.run();
