/**
 * Thread entry of an app worker: one reuseport server instance (`AppLoop`), controlled by the
 * coordinator over comlink on `parentPort` (open, run, stats, close: never per packet). Datagrams come
 * and go through the rings in `workerData` (`AppWorkerData`, `app-channel.ts`). Started by
 * `app-host.ts`; never imported.
 *
 * Thread: an app worker. Unlike a dispatch worker it runs its event loop (the handler may be async),
 * which is what comlink needs to answer.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeAdapter from 'comlink/dist/umd/node-adapter.js';
import { NetshardError } from '../errors.ts';
import type { AppWorkerData } from './app-channel.ts';
import { AppLoop } from './app-loop.ts';

// The adapter is a UMD/CommonJS module: Node hands ESM its module.exports (the function) as the default,
// while its .d.ts describes an ES module with a default export; accept either shape.
type NodeEndpoint = (port: NonNullable<typeof parentPort>) => Comlink.Endpoint;
const nodeEndpoint = ((nodeAdapter as unknown as { default?: NodeEndpoint }).default ?? nodeAdapter) as unknown as NodeEndpoint;

if (parentPort === null) throw new NetshardError('ERR_NETSHARD_WRONG_THREAD', 'app-worker.ts runs as a worker thread');
const app = new AppLoop(workerData as AppWorkerData);
Comlink.expose(
  {
    open: () => app.open(),
    run: () => app.run(),
    stats: () => app.stats(),
    close: (graceMs: number) => app.close(graceMs),
  },
  nodeEndpoint(parentPort),
);
