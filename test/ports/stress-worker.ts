/** A worker of concurrency.test.ts: attaches to the shared table, waits for GO, runs the stress loop, posts its result. */
import { parentPort, workerData } from 'node:worker_threads';
import { PortManager } from '../../src/ports/index.ts';
import { serializeError } from '../../src/errors.ts';
import { runStress, waitForGo } from './stress.ts';

interface StressWorkerData { buffer: SharedArrayBuffer; truth: SharedArrayBuffer; id: number; seed: number; maxOps: number; ms: number }
const data = workerData as StressWorkerData;
const truth = new Int32Array(data.truth);
try {
  const pm = PortManager.attach(data.buffer);
  waitForGo(truth);
  parentPort?.postMessage({ ok: true, result: runStress(pm, truth, data.id, data.seed, data.maxOps, data.ms) });
} catch (err) {
  parentPort?.postMessage({ ok: false, error: serializeError(err) });
}
