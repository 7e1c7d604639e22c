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

/**
 * Returns the URL of the worker module `name` (no extension) beside the module whose `import.meta.url` is
 * `from`, with the caller's own extension: `.ts` when run from source through tsx, `.js` once built to
 * `dist/` (the compiler rewrites import specifiers, not URL strings). Thread: any.
 */
export function siblingModuleUrl(name: string, from: string): URL {
  const extension = from.endsWith('.ts') ? '.ts' : '.js';
  return new URL(`./${name}${extension}`, from);
}
