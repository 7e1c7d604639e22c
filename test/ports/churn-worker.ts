/**
 * A worker of concurrency.test.ts: rewrites one descriptor's row list as fast as it can (rows for other
 * addresses go in at the head, come out again, and their rows are reused from the free list) until the
 * main thread sets STOP or `maxOps` run out, then posts how many reservations it made.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PortManager, type Reservation } from '../../src/ports/index.ts';
import { serializeError } from '../../src/errors.ts';
import { IPV4_PROTOCOL_NUMBER } from '../../src/tcpip/protocols.ts';

interface ChurnWorkerData { buffer: SharedArrayBuffer; control: SharedArrayBuffer; port: number; maxOps: number }
const data = workerData as ChurnWorkerData;
const control = new Int32Array(data.control); // [0] ready, [1] stop
try {
  const pm = PortManager.attach(data.buffer);
  const rows: Reservation[] = [];
  for (let i = 0; i < 8; i++) {
    rows.push({ networks: [IPV4_PROTOCOL_NUMBER], transport: 17, address: `198.18.1.${i + 1}`, port: data.port, flags: 0 });
  }
  Atomics.store(control, 0, 1);
  let ops = 0;
  while (ops < data.maxOps && Atomics.load(control, 1) === 0) {
    for (const r of rows) pm.reservePort(r);
    for (const r of rows) pm.releasePort(r);
    ops += rows.length;
  }
  parentPort?.postMessage({ ok: true, ops });
} catch (err) {
  parentPort?.postMessage({ ok: false, error: serializeError(err) });
}
