/**
 * `Inbox`: a bench's main thread reads one worker's replies in order (`await inbox.next()`). A worker
 * error ends the bench (exit 1); so does a worker that exits on its own before `closing` is set (its hot
 * loop threw), which would otherwise leave the main thread waiting for a reply forever.
 *
 * Thread: main; control path.
 */
import type { Worker } from 'node:worker_threads';

export class Inbox<T = unknown> {
  /** Set when the bench ends its workers on purpose: exits from then on are expected. */
  static closing = false;
  private readonly queue: T[] = [];
  private waiting: ((r: T) => void) | undefined;

  constructor(worker: Worker) {
    worker.on('message', (r: T) => {
      const w = this.waiting;
      if (w) {
        this.waiting = undefined;
        w(r);
      } else this.queue.push(r);
    });
    worker.on('error', (err) => {
      console.error(err);
      process.exit(1);
    });
    worker.on('exit', (code) => {
      if (Inbox.closing) return;
      console.error(`a bench worker exited early (code ${code})`);
      process.exit(1);
    });
  }

  /** Resolves with the next reply (one already queued, or the next to arrive). */
  next<R extends T = T>(): Promise<R> {
    if (this.queue.length > 0) return Promise.resolve(this.queue.shift() as R);
    return new Promise((resolve) => (this.waiting = resolve as (r: T) => void));
  }
}
