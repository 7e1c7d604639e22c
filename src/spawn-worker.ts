/**
 * Starts a worker thread from a module URL, whether the module is built JavaScript (`dist/`) or
 * TypeScript run from source through tsx. Node 20 does not pass tsx's loader hooks on to workers,
 * so a `.ts` module is loaded by a one-line bootstrap that registers tsx in the new thread first.
 * Imports only node builtins; imported by anyone who starts threads (workers/, tests, benches).
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Starts `moduleUrl` in a new worker thread with `options` (workerData, transferList, …).
 * Thread: any. The caller owns the returned Worker; attach its 'exit' listener at once.
 */
export function spawnWorker(moduleUrl: URL, options: WorkerOptions = {}): Worker {
  if (!moduleUrl.pathname.endsWith('.ts')) return new Worker(moduleUrl, options);
  const api = import.meta.resolve('tsx/esm/api');
  const bootstrap =
    `import(${JSON.stringify(api)}).then(({ register }) => { register(); return import(${JSON.stringify(moduleUrl.href)}); })` +
    `.catch((err) => { process.nextTick(() => { throw err; }); });`;
  return new Worker(bootstrap, { ...options, eval: true });
}
