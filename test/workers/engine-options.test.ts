/**
 * The engine's door: options checked before anything starts (each message tested), one start per
 * engine, a worker that cannot start makes `start()` reject with the worker's own error (rebuilt from
 * `{ code, message }`) and leaves nothing running.
 */
import { readdirSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { NetshardError } from '../../src/errors.ts';
import { closeFds, openSocketPair } from '../../src/fdbased/index.ts';
import { Engine, OutboundBatch, type EngineOptions } from '../../src/workers/index.ts';
import { throwsNetshard } from '../ring/fixtures/throws.ts';

const Options = suite('workers/engine-options');
const pair = openSocketPair();
const other = openSocketPair();
const closed = openSocketPair();
closeFds(closed);
const fd = pair[1];

for (const c of [
  { name: 'unknown key', options: { links: [{ fds: [fd] }], workers: 2 }, code: 'ERR_INVALID_ARG_VALUE', message: 'options.workers is not a known option (known: links, stack, forwarding, frameCount, txFrameCount, ringCapacity, batchSize, pollTimeoutMs, drainTimeoutMs, maxRestarts, hashSeed)' },
  { name: 'no links', options: { links: [] }, code: 'ERR_OUT_OF_RANGE', message: 'options.links must be an array of at least 1 element(s), received 0' },
  { name: 'a link without fds', options: { links: [{ fds: [] }] }, code: 'ERR_OUT_OF_RANGE', message: 'options.links[0].fds must be an array of at least 1 element(s), received 0' },
  { name: 'an fd twice', options: { links: [{ fds: [fd] }, { fds: [fd] }] }, code: 'ERR_INVALID_ARG_VALUE', message: `options.links[1].fds[0] repeats fd ${fd}` },
  { name: 'a bad MAC', options: { links: [{ fds: [fd], linkAddress: '02:00' }] }, code: 'ERR_INVALID_ARG_VALUE', message: `options.links[0].linkAddress must be a MAC like "02:00:00:00:00:01", received '02:00'` },
  { name: 'a bad mode', options: { links: [{ fds: [fd], dispatchMode: 'xdp' }] }, code: 'ERR_INVALID_ARG_VALUE', message: `options.links[0].dispatchMode must be one of "readv", "recvmmsg", "mmap", received type string ('xdp')` },
  { name: 'ring capacity not a power of two', options: { links: [{ fds: [fd] }], ringCapacity: 100 }, code: 'ERR_INVALID_ARG_VALUE', message: 'options.ringCapacity must be a power of two, received 100' },
  { name: 'batch larger than the pool', options: { links: [{ fds: [fd] }], frameCount: 16, batchSize: 32 }, code: 'ERR_OUT_OF_RANGE', message: 'options.batchSize (32) must be <= options.frameCount (16)' },
  { name: 'a stack without deliverNetworkPacket', options: { links: [{ fds: [fd] }], stack: {} }, code: 'ERR_INVALID_ARG_TYPE', message: 'options.stack must be an object with a deliverNetworkPacket(packet) method' },
  { name: 'a route to a missing link', options: { links: [{ fds: [fd] }], forwarding: { routes: [{ destination: '198.18.0.0/15', link: 1 }] } }, code: 'ERR_OUT_OF_RANGE', message: 'options.forwarding.routes[0].link must be an integer >= 0 and <= 0, received 1' },
]) {
  Options(`new Engine: ${c.name}`, () => {
    throwsNetshard(() => new Engine(c.options as unknown as EngineOptions), c.code, c.message);
  });
}

Options('new Engine: a closed fd is EBADF', () => {
  try {
    new Engine({ links: [{ fds: [closed[1]] }] });
    assert.unreachable('expected EBADF');
  } catch (err) {
    assert.instance(err, NetshardError);
    assert.is((err as NetshardError).code, 'EBADF');
  }
});

Options('start() rejects with the worker\'s own error when it cannot start, and leaves nothing running', async () => {
  const before = readdirSync('/proc/self/fd').length;
  // PACKET_MMAP needs an AF_PACKET socket; the worker's dispatcher refuses an AF_UNIX one.
  const engine = new Engine({ links: [{ fds: [other[1]], dispatchMode: 'mmap' }], frameCount: 16, txFrameCount: 16, ringCapacity: 16, batchSize: 8 });
  try {
    await engine.start();
    assert.unreachable('expected start() to reject');
  } catch (err) {
    assert.instance(err, NetshardError, String(err));
    assert.ok((err as NetshardError).code !== 'ERR_NETSHARD_WORKER_EXITED', `the worker's error, not a generic one: ${(err as NetshardError).code} ${(err as Error).message}`);
  }
  assert.is(engine.worker(0).running, false);
  assert.is(readdirSync('/proc/self/fd').length, before, 'the failed worker\'s eventfd is closed');
  await engine.stop();
});

Options('start() twice throws; writePackets checks its link', async () => {
  const engine = new Engine({ links: [{ fds: [fd] }], frameCount: 16, txFrameCount: 16, ringCapacity: 16, batchSize: 8 });
  await engine.start();
  try {
    await engine.start().then(() => assert.unreachable('second start'), (err: NetshardError) => assert.is(err.code, 'ERR_NETSHARD_ALREADY_STARTED'));
    throwsNetshard(() => engine.writePackets(1, new OutboundBatch(1)), 'ERR_OUT_OF_RANGE', 'link must be an integer >= 0 and <= 0, received 1');
  } finally {
    await engine.stop();
  }
});

Options.after(() => closeFds([...pair, ...other]));
Options.run();
