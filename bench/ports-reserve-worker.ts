/**
 * Worker of bench/ports-reserve.ts: attaches to the shared port table and, each time the main thread
 * bumps GO, runs `pairs` reserve+release pairs of its own reservations, then adds itself to DONE.
 */
import { workerData } from 'node:worker_threads';
import { PortManager } from '../src/ports/index.ts';
import { reservationsFor, GO, DONE, ERRORS, runPairs } from './ports-reserve-shared.ts';

interface BenchWorkerData { buffer: SharedArrayBuffer; control: SharedArrayBuffer; id: number; pairs: number }
const data = workerData as BenchWorkerData;
const control = new Int32Array(data.control);
const pm = PortManager.attach(data.buffer);
const list = reservationsFor(data.id);
for (let round = 1; ; round++) {
  Atomics.wait(control, GO, round - 1);
  const go = Atomics.load(control, GO);
  if (go < 0) break;
  try {
    runPairs(pm, list, data.pairs);
  } catch (err) {
    console.error(err);
    Atomics.add(control, ERRORS, 1);
  }
  Atomics.add(control, DONE, 1);
  Atomics.notify(control, DONE);
}
