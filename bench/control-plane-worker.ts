/**
 * The worker side of bench/control-plane.ts. One thread serves a stats snapshot (`readStats` of a
 * stats buffer it writes) three ways, chosen by `workerData.mode`:
 *   'postMessage'  plain messages on parentPort, the worker's event loop idle between calls (baseline)
 *   'comlink'      comlink's node adapter on parentPort, `stats()` exposed as an RPC method
 *   'comlinkWaitAsync'  the same while the worker idles as an app worker does (src/workers/app-loop.ts):
 *                  a loop awaiting `Atomics.waitAsync` on a ring word (1 s timeout) that nobody notifies
 *   'poll'         the dispatch worker's way: asleep in koffi poll() on its eventfd, never returning to its
 *                  event loop; the main thread posts on a port, bumps a shared counter, writes the
 *                  eventfd; the worker pulls the message with receiveMessageOnPort and replies
 */
import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeAdapter from 'comlink/dist/umd/node-adapter.js';
import { StopFd, WaitResult } from '../src/fdbased/index.ts';
import { readStats, WorkerStat } from '../src/workers/index.ts';

interface Data {
  mode: 'postMessage' | 'comlink' | 'comlinkWaitAsync' | 'poll';
  stats: SharedArrayBuffer;
  control?: SharedArrayBuffer;
  port?: MessagePort;
}
// The adapter is a UMD/CommonJS module: Node hands ESM its module.exports (the function) as the default,
// while its .d.ts describes an ES module with a default export; accept either shape.
type NodeEndpoint = (port: MessagePort) => Comlink.Endpoint;
const nodeEndpoint = ((nodeAdapter as unknown as { default?: NodeEndpoint }).default ?? nodeAdapter) as unknown as NodeEndpoint;
const data = workerData as Data;
const port = parentPort!;
const slots = new Float64Array(data.stats);
slots[WorkerStat.rxPackets] = 1234;

if (data.mode === 'postMessage') {
  port.on('message', (m: { kind: string }) => {
    if (m.kind === 'stats') port.postMessage(readStats(data.stats));
    else port.close();
  });
  port.postMessage('ready');
} else if (data.mode === 'comlink' || data.mode === 'comlinkWaitAsync') {
  Comlink.expose({ stats: () => readStats(data.stats) }, nodeEndpoint(port));
  port.postMessage('ready');
  if (data.mode === 'comlinkWaitAsync') {
    const word = new Int32Array(new SharedArrayBuffer(4));
    const keepAlive = setInterval(() => {}, 1 << 30); // as RingConsumer.waitForDataAsync: waitAsync alone keeps no loop alive
    void (async () => {
      for (;;) {
        const r = Atomics.waitAsync(word, 0, 0, 1000);
        if (r.async) await r.value;
      }
    })();
    port.once('close', () => clearInterval(keepAlive));
  }
} else {
  const control = new Int32Array(data.control!);
  const stopFd = StopFd.create();
  port.postMessage({ eventFd: stopFd.eventFd, flags: stopFd.flags.buffer });
  let seen = 0;
  let running = true;
  while (running) {
    const r = stopFd.wait(-1, 1000); // poll() on the eventfd alone, as an idle dispatch worker
    if (r !== WaitResult.Woken && Atomics.load(control, 0) === seen) continue;
    seen = Atomics.load(control, 0);
    for (let m = receiveMessageOnPort(data.port!); m !== undefined; m = receiveMessageOnPort(data.port!)) {
      if ((m.message as { kind: string }).kind === 'stats') port.postMessage(readStats(data.stats));
      else running = false;
    }
  }
  stopFd.close();
  data.port!.close();
}
