/** A worker of mutex.test.ts: takes the mutex in word 0 (sleeping if it must), marks word 1, unlocks, reports. */
import { parentPort, workerData } from 'node:worker_threads';
import { lock, unlock } from '../../src/ports/mutex.ts';
import { NetshardError } from '../../src/errors.ts';

const { buffer, timeoutMs } = workerData as { buffer: SharedArrayBuffer; timeoutMs: number };
const words = new Int32Array(buffer);
try {
  lock(words, 0, timeoutMs);
  Atomics.add(words, 1, 1); // inside the critical section
  unlock(words, 0);
  parentPort?.postMessage({ acquired: true });
} catch (err) {
  parentPort?.postMessage({ acquired: false, code: err instanceof NetshardError ? err.code : String(err), message: (err as Error).message });
}
