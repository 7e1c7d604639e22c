/**
 * Lifecycle over real socketpairs: `stop()` with traffic in flight brings every frame home and ends every
 * thread, closing every eventfd it opened; a worker killed with `terminate()` mid-traffic is reported,
 * what it held is taken back (its rx descriptors delivered, the tx frames it held returned, its eventfd
 * closed, its pool retired with every frame accounted for), a new worker starts on the same fd, and
 * traffic resumes; an fd whose peer hangs up ends its worker without a restart.
 */
import { readdirSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { closeFds, openSocketPair, syscalls as sys } from '../../src/fdbased/index.ts';
import { Engine, OutboundBatch, type WorkerExitEvent, type WorkerOnlineEvent } from '../../src/workers/index.ts';
import { drain, send, udp4, until } from './fixtures/packets.ts';

const Lifecycle = suite('workers/lifecycle');
const BATCH = 32;

const openFds = (): number => readdirSync('/proc/self/fd').length;
const ip = (a: number, b: number, c: number, d: number): number => ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;

Lifecycle('stop with packets in flight: every pool full, every thread ended, no fd left open', async () => {
  const pairs = [openSocketPair(), openSocketPair()];
  const fdsBefore = openFds();
  let delivered = 0;
  const engine = new Engine({
    links: [{ fds: pairs.map((p) => p[1]) }],
    frameCount: 128,
    txFrameCount: 64,
    ringCapacity: 64,
    batchSize: BATCH,
    stack: { deliverNetworkPacket: () => void delivered++ },
  });
  await engine.start();
  const threads = [0, 1].map((slot) => engine.worker(slot).worker);
  const exits = threads.map((w) => new Promise<number>((resolve) => w.once('exit', resolve)));
  // Packets on both fds and outbound packets on both tx rings, then stop at once.
  for (let seq = 0; seq < 200; seq++) send(pairs[seq % 2]![0], udp4({ seq }));
  const out = new OutboundBatch(40);
  for (let seq = 0; seq < 40; seq++) {
    const frame = engine.allocTxFrame();
    engine.txPool.bytes.set(udp4({ seq }), engine.txPool.offsetOf(frame));
    out.add(frame, 0, 36, seq);
  }
  engine.writePackets(0, out);
  await engine.stop();
  assert.equal(await Promise.all(exits), [0, 0], 'both threads ended on their own');
  for (const p of engine.framePools()) {
    assert.is(p.available, p.frameCount, `pool of slot ${p.slot} is full`);
    assert.is(p.doubleFrees + p.badFrees, 0);
  }
  assert.is(engine.worker(0).running, false);
  assert.is(openFds(), fdsBefore, 'every eventfd the workers opened is closed');
  assert.ok(delivered <= 200);
  await engine.stop(); // idempotent
  closeFds(pairs.flat());
});

Lifecycle('terminate() mid-traffic: reported, frames reclaimed, a new worker on the same fd, traffic resumes', async () => {
  const a = [openSocketPair(), openSocketPair()];
  const b = [openSocketPair()];
  sys.setNonBlocking(b[0]![0]);
  for (const p of a) sys.setNonBlocking(p[0]);
  const fdsBefore = openFds();
  const events: (WorkerExitEvent | WorkerOnlineEvent)[] = [];
  const atStack = new Set<number>();
  const engine = new Engine({
    links: [{ fds: a.map((p) => p[1]) }, { fds: b.map((p) => p[1]) }],
    // Room for the whole in-flight burst below: the coordinator may hold half a pool (frameCount / 2),
    // and packets beyond that or beyond the rx ring would be dropped, not delayed.
    frameCount: 512,
    txFrameCount: 128,
    ringCapacity: 256,
    batchSize: BATCH,
    forwarding: { addresses: [{ link: 0, address: '198.18.0.1' }], routes: [{ destination: '198.18.1.0/24', link: 1 }] },
    stack: { deliverNetworkPacket: (p) => void atStack.add(p.view.getUint32(p.offset + 32)) },
  });
  engine.on('workerExit', (e: WorkerExitEvent) => events.push(e));
  engine.on('workerOnline', (e: WorkerOnlineEvent) => events.push(e));
  await engine.start();
  const forwarded = new Set<number>();
  const packets: Uint8Array[] = [];
  const pump = () => {
    drain(b[0]![0], packets);
    for (const p of packets.splice(0)) forwarded.add(new DataView(p.buffer).getUint32(32));
  };
  let ok = false;
  try {
    let seq = 0;
    /** Sends one round through slot 0's fd (forwarded and to the stack) and waits until every packet of it arrived. */
    const round = async (): Promise<void> => {
      const first = seq;
      for (let k = 0; k < 48; k++) send(a[0]![0], udp4({ destination: ip(198, 18, 1, 1), seq: seq++ }));
      for (let k = 0; k < 16; k++) send(a[0]![0], udp4({ destination: ip(198, 18, 0, 1), seq: seq++ }));
      const all = (): boolean => {
        for (let s = first; s < first + 48; s++) if (!forwarded.has(s)) return false;
        for (let s = first + 48; s < seq; s++) if (!atStack.has(s)) return false;
        return true;
      };
      await until(() => (pump(), all()), 5000, 'a full round');
    };
    await round();
    const first = engine.worker(0);
    // Traffic in flight, tx frames on slot 0's ring (hash 0 → fd 0), then kill it.
    for (let k = 0; k < 200; k++) send(a[0]![0], udp4({ destination: ip(198, 18, k % 2, 1), seq: seq++ }));
    const out = new OutboundBatch(20);
    for (let k = 0; k < 20; k++) {
      const frame = engine.allocTxFrame();
      engine.txPool.bytes.set(udp4({ seq: k }), engine.txPool.offsetOf(frame));
      out.add(frame, 0, 36, 0);
    }
    engine.writePackets(0, out);
    await first.worker.terminate();
    await until(() => events.some((e) => 'code' in e) && events.some((e) => !('code' in e)), 10_000, 'exit and online events');
    const exit = events.find((e): e is WorkerExitEvent => 'code' in e)!;
    assert.equal({ slot: exit.slot, link: exit.link, fdIndex: exit.fdIndex, generation: exit.generation, reason: exit.reason, restarting: exit.restarting },
      { slot: 0, link: 0, fdIndex: 0, generation: 0, reason: 'died', restarting: true });
    const r = exit.retiredPool!;
    assert.is(r.free + r.inRxRing + r.inCompletionRing + r.inWorker, r.frameCount, 'every frame of the retired pool accounted for');
    assert.ok(r.inWorker >= 0 && r.inWorker <= BATCH, `at most one receive batch (${r.inWorker}) was in the dead thread's hands`);
    assert.equal(events.find((e) => !('code' in e)), { slot: 0, link: 0, fdIndex: 0, generation: 1 });
    const second = engine.worker(0);
    assert.is(second.generation, 1);
    assert.ok(second.running && second.worker !== first.worker, 'a new thread on the same fd');
    // Traffic resumes through the new worker (whatever the dead one left in the socket is read first).
    await round();
    await round();
    await until(() => engine.framePools()[0]!.available === 128, 5000, 'every tx frame home, those the dead worker held too');
    const c = engine.coordinatorStats();
    assert.equal([c.deaths, c.restarts], [1, 1]);
    ok = true;
  } finally {
    await engine.stop();
    if (!ok) closeFds([...a, ...b].flat());
  }
  for (const p of engine.framePools()) {
    assert.is(p.available, p.frameCount, `pool of slot ${p.slot} is full`);
    assert.is(p.doubleFrees + p.badFrees, 0, 'no frame freed twice');
  }
  assert.is(openFds(), fdsBefore, 'the dead worker\'s eventfd was closed by the coordinator');
  closeFds([...a, ...b].flat());
});

Lifecycle('peer hang-up ends the worker (reason ended), no restart, its frames home', async () => {
  const pair = openSocketPair();
  const events: WorkerExitEvent[] = [];
  const engine = new Engine({ links: [{ fds: [pair[1]] }], frameCount: 32, txFrameCount: 16, ringCapacity: 16, batchSize: 8 });
  engine.on('workerExit', (e: WorkerExitEvent) => events.push(e));
  await engine.start();
  try {
    send(pair[0], udp4());
    sys.close(pair[0]);
    await until(() => events.length === 1, 5000, 'the exit event');
    assert.is(events[0]!.reason, 'ended');
    assert.is(events[0]!.restarting, false);
    assert.ok(events[0]!.error !== null, 'the end carries its error');
    assert.is(engine.coordinatorStats().restarts, 0);
    assert.is(engine.framePools()[1]!.available, 32);
  } finally {
    await engine.stop();
    sys.close(pair[1]);
  }
});

Lifecycle.run();
