/**
 * A child process of `netshard bench` (generator, sink, forwarder) that says when it is ready, is told to
 * stop, and reports one JSON object as the last line of its stdout. Every child has a hard deadline after
 * which it is SIGKILLed, so no traffic loop outlives its bound.
 *
 * Thread: main. Control path.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { NetshardError } from '../../errors.ts';

/** How a child says it is ready and is told to stop. */
export interface ChildProtocol {
  /** Seen on its stdout or stderr once it is ready; null: ready as soon as it is spawned. */
  ready: RegExp | null;
  /** 'stdin': close its stdin (the C programs); a signal: send it (`netshard forward`). */
  stop: 'stdin' | NodeJS.Signals;
}

/** The C programs' protocol: a line `ready`, stop on stdin EOF. */
export const C_PROTOCOL: ChildProtocol = { ready: /^ready$/m, stop: 'stdin' };

/**
 * A running child: `ready` resolves once it said so (rejects if it exits first), `exited` resolves with the
 * JSON object on its last stdout line when it exits 0, and rejects with its stderr otherwise.
 */
export class BenchChild {
  /** The process; its pid is the program's own (taskset and `ip netns exec` exec, they do not fork). */
  readonly process: ChildProcess;
  readonly ready: Promise<void>;
  readonly exited: Promise<Record<string, unknown>>;
  private readonly protocol: ChildProtocol;
  private readonly label: string;

  /**
   * Spawns `argv` and SIGKILLs it after `maxSeconds`. `live` holds every child not yet exited, so the
   * runner can kill them all on Ctrl-C.
   */
  constructor(label: string, argv: readonly string[], maxSeconds: number, live: Set<ChildProcess>, protocol: ChildProtocol = C_PROTOCOL) {
    const [file, ...args] = argv;
    if (file === undefined) throw new NetshardError('ERR_INVALID_ARG_VALUE', 'argv must name a program');
    this.label = label;
    this.protocol = protocol;
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.process = child;
    live.add(child);
    const killer = setTimeout(() => child.kill('SIGKILL'), maxSeconds * 1000);
    let out = '';
    let err = '';
    let signalReady: () => void = () => {};
    const readyNow = new Promise<void>((resolve) => (signalReady = resolve));
    if (protocol.ready === null) signalReady();
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (protocol.ready?.test(out) === true) signalReady();
    });
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (protocol.ready?.test(err) === true) signalReady();
    });
    child.stdin!.on('error', () => {}); // EPIPE when it already exited
    this.exited = new Promise((resolve, reject) => {
      child.on('error', (e) => {
        clearTimeout(killer);
        live.delete(child);
        reject(new NetshardError('ERR_NETSHARD_BENCH', `${label}: ${e.message}`));
      });
      child.on('exit', (code, signal) => {
        clearTimeout(killer);
        live.delete(child);
        const last = out.trim().split('\n').pop() ?? '';
        if (code === 0 && last.startsWith('{')) {
          try {
            resolve(JSON.parse(last) as Record<string, unknown>);
            return;
          } catch {
            /* fall through */
          }
        }
        const why = (err.trim() || out.trim()).split('\n').slice(-3).join(' / ');
        reject(new NetshardError('ERR_NETSHARD_BENCH', `${label} exited with ${code ?? signal}${why === '' ? '' : `: ${why}`}`));
      });
    });
    this.ready = Promise.race([readyNow, this.exited.then(() => Promise.reject(new NetshardError('ERR_NETSHARD_BENCH', `${label} exited before it was ready`)))]);
    this.ready.catch(() => {});
    this.exited.catch(() => {});
  }

  /** The program's pid (undefined only if the spawn failed). */
  get pid(): number | undefined {
    return this.process.pid;
  }

  /** Tells it to stop (closes its stdin, or signals it) and returns its JSON report. */
  stop(): Promise<Record<string, unknown>> {
    if (this.process.exitCode === null && this.process.signalCode === null) {
      if (this.protocol.stop === 'stdin') this.process.stdin!.end();
      else this.process.kill(this.protocol.stop);
    }
    return this.exited;
  }

  /** SIGKILLs it if it still runs. Never throws. */
  kill(): void {
    if (this.process.exitCode === null && this.process.signalCode === null) this.process.kill('SIGKILL');
  }

  /** The label it was started with. */
  toString(): string {
    return this.label;
  }
}
