/**
 * The futex mutex's states (0 free, 1 held, 2 held with sleepers), the main thread's bounded spin, a
 * worker's sleep and wake-up, and the timeouts on both paths. Word 0 is the mutex, word 1 a witness.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { setTimeout as sleep } from 'node:timers/promises';
import { lock, unlock } from '../../src/ports/mutex.ts';
import { spawnWorker } from '../../src/spawn-worker.ts';
import { NetshardError } from '../../src/errors.ts';

const Mutex = suite('ports/mutex');
const STARTUP_LIMIT_MS = 60_000;

interface Reply { acquired: boolean; code?: string; message?: string }

function startWorker(words: Int32Array, timeoutMs: number): Promise<Reply> {
  const w = spawnWorker(new URL('./mutex-worker.ts', import.meta.url), { workerData: { buffer: words.buffer, timeoutMs } });
  return new Promise((resolve, reject) => {
    w.on('message', resolve);
    w.on('error', reject);
  });
}

Mutex('uncontended: lock makes the word 1, unlock makes it 0', () => {
  const words = new Int32Array(new SharedArrayBuffer(8));
  lock(words, 0);
  assert.is(words[0], 1);
  unlock(words, 0);
  assert.is(words[0], 0);
});

Mutex('main thread: spins, then gives up with ERR_NETSHARD_LOCK_TIMEOUT and leaves the word alone', () => {
  const words = new Int32Array(new SharedArrayBuffer(8));
  words[0] = 1; // held by someone else
  try {
    lock(words, 0, 30);
    assert.unreachable('want a timeout');
  } catch (err) {
    assert.instance(err, NetshardError);
    assert.equal([(err as NetshardError).code, (err as NetshardError).message],
      ['ERR_NETSHARD_LOCK_TIMEOUT', 'port table mutex not acquired within 30 ms (a thread died holding it, or the machine stalled)']);
  }
  assert.is(words[0], 1);
});

Mutex('worker: marks the word 2, sleeps, and is woken by unlock', async () => {
  const words = new Int32Array(new SharedArrayBuffer(8));
  lock(words, 0); // main holds it
  const reply = startWorker(words, STARTUP_LIMIT_MS);
  const started = Date.now();
  while (Atomics.load(words, 0) !== 2) { // the worker has announced itself as a sleeper
    if (Date.now() - started > STARTUP_LIMIT_MS) throw new Error('worker never waited for the mutex');
    await sleep(10);
  }
  assert.is(words[1], 0, 'the worker got in while main held the mutex');
  unlock(words, 0); // word was 2: store 0 and notify
  assert.equal(await reply, { acquired: true });
  assert.equal([words[0], words[1]], [0, 1]);
});

Mutex('worker: gives up with ERR_NETSHARD_LOCK_TIMEOUT, leaving 2 so a later unlock still notifies', async () => {
  const words = new Int32Array(new SharedArrayBuffer(8));
  words[0] = 1;
  const reply = await startWorker(words, 30);
  assert.equal([reply.acquired, reply.code], [false, 'ERR_NETSHARD_LOCK_TIMEOUT']);
  assert.equal([words[0], words[1]], [2, 0]);
});

Mutex.run();
