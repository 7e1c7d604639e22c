/**
 * `netshard demo` (what `npm start` runs): a tour of the whole engine that ends within a minute and leaves
 * nothing behind. As root it builds three network namespaces and runs the engine on AF_PACKET fanout
 * sockets between the kernel's own client and sink (`demo-netns.ts`); without root it runs the same engine
 * over socketpairs, writing the packets itself (`demo-socketpair.ts`), and says what it skipped and why.
 *
 * Steps: (1) forwarding, bounded (200k datagrams or 5 s), with packets forwarded, rate, drops by reason and
 * each worker's share; (2) the stack: ARP and ICMP echo for the engine's own address, with round trip
 * times; (3) reuseport: UDP echo servers in app workers sharing one port on the engine's stack, with the
 * flows each instance answered; then a summary.
 *
 * Output goes only through `options.log` (one line per call; see `DemoOutput` for the live line).
 * Thread: main. Control path.
 */
import { cpus, release } from 'node:os';
import { NetshardError } from '../errors.ts';
import { validateBoolean, validateInteger, validateObject } from '../validate.ts';
import { runNetnsTour } from './demo-netns.ts';
import { DemoOutput, count, rate, type TourResult } from './demo-report.ts';
import { runSocketpairTour } from './demo-socketpair.ts';
import { labUnavailableReason } from './lab.ts';

/** Options of `runDemo`. */
export interface DemoOptions {
  /** Prints one line (no trailing newline). On a TTY a live line may start with `REPLACE_PREVIOUS_LINE`. */
  log: (line: string) => void;
  /** Whether the output is a terminal: live stats then refresh one line in place, else print plain lines. */
  isTTY: boolean;
  /** Stops the tour (Ctrl-C): child processes are killed, everything made is removed, then `runDemo` rejects. */
  signal?: AbortSignal;
  /** Run the unprivileged tour (socketpairs) even as root. Default false. */
  forceUnprivileged?: boolean;
  /** Most datagrams the forwarding step sends, 1..10,000,000 (it also stops after 5 s). Default 200,000. */
  packets?: number;
}

/** Default of `DemoOptions.packets`. */
export const DEFAULT_DEMO_PACKETS = 200_000;

/** What `runDemo` resolves with (the numbers its summary printed). */
export interface DemoSummary extends TourResult {
  /** 'netns': namespaces, veths and AF_PACKET (root); 'socketpair': AF_UNIX socketpairs (no privilege). */
  mode: 'netns' | 'socketpair';
  /** Wall time of the whole demo, setup and teardown included. */
  seconds: number;
}

/**
 * Runs the demo (see the file comment) and resolves with its summary once everything it made is gone.
 * Rejects with ERR_INVALID_ARG_* / ERR_OUT_OF_RANGE for bad options (before printing anything); with
 * ERR_NETSHARD_ABORTED (cause: the signal's reason) when `signal` aborts it or a signal kills one of its
 * child processes; with the first error of a step otherwise. Cleanup is done before it settles.
 * Thread: main.
 */
export async function runDemo(options: DemoOptions): Promise<DemoSummary> {
  validateObject(options, 'options', ['log', 'isTTY', 'signal', 'forceUnprivileged', 'packets']);
  if (typeof options.log !== 'function') throw new NetshardError('ERR_INVALID_ARG_TYPE', 'options.log must be a function (line: string) => void');
  validateBoolean(options.isTTY, 'options.isTTY');
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw new NetshardError('ERR_INVALID_ARG_TYPE', 'options.signal must be an AbortSignal');
  }
  const forceUnprivileged = options.forceUnprivileged ?? false;
  validateBoolean(forceUnprivileged, 'options.forceUnprivileged');
  const packets = options.packets ?? DEFAULT_DEMO_PACKETS;
  validateInteger(packets, 'options.packets', 1, 10_000_000);
  const signal = options.signal;
  const out = new DemoOutput(options.log, options.isTTY);
  const started = performance.now();

  out.line(`netshard demo — node ${process.version}, ${cpus().length} cpus, linux ${release()}, ${new Date().toISOString()}`);
  const why = forceUnprivileged ? 'asked for the unprivileged tour' : labUnavailableReason();
  const mode = why === '' ? 'netns' : 'socketpair';
  const skipped: { step: string; why: string }[] = [];
  if (mode === 'netns') {
    out.line('mode: root — network namespaces, veth pairs, AF_PACKET fanout sockets; the kernel\'s own sockets as client and sink');
  } else {
    out.line('mode: unprivileged — AF_UNIX socketpairs; the demo writes the packets itself');
    skipped.push({ step: 'namespaces, veths and AF_PACKET fanout with the kernel as client and sink', why });
  }
  let tour: TourResult;
  try {
    signal?.throwIfAborted();
    tour = mode === 'netns' ? await runNetnsTour(out, signal, packets) : await runSocketpairTour(out, signal, packets);
  } catch (err) {
    if (signal?.aborted || (err instanceof NetshardError && err.code === 'ERR_NETSHARD_ABORTED')) {
      out.line('');
      out.line('interrupted: everything the demo made is removed');
      throw new NetshardError('ERR_NETSHARD_ABORTED', 'the demo was interrupted', { cause: signal?.aborted ? signal.reason : err });
    }
    throw err;
  }
  skipped.push(...tour.skipped);
  const seconds = (performance.now() - started) / 1000;

  out.line('');
  out.line('summary');
  out.line(`  forwarding  ${count(tour.forwarded)} packets forwarded of ${count(tour.sent)} sent (${rate(tour.forwardPps)}), ${count(tour.delivered)} delivered to the sink`);
  out.line(`  stack       ${tour.echoReplies}/${tour.echoRequests} echo replies received; ARP replies written: ${tour.arpReplies}`);
  const r = tour.reuseport;
  if (r !== null) {
    out.line(`  reuseport   ${r.echoes}/${r.sent} echoes from ${r.instances} instances over ${r.flows} flows; flows split between instances: ${r.splitFlows}`);
  }
  for (const s of skipped) out.line(`  skipped     ${s.step}: ${s.why}`);
  out.line(`  cleanup     ${mode === 'netns' ? 'namespaces deleted, ' : ''}fds closed, workers stopped; ${seconds.toFixed(1)} s in all`);
  return { ...tour, skipped, mode, seconds };
}
