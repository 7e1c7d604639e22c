/** Worker side of `forwardAllocInWorker` (bench/micro/forward-alloc.ts): one steady run on a fresh heap. */
import { parentPort, workerData } from 'node:worker_threads';
import { forwardAllocRun } from './forward-alloc.ts';

parentPort!.postMessage(await forwardAllocRun((workerData as { seconds: number }).seconds));
