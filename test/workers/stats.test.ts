/**
 * Per-worker stats are readable while the engine runs, from the main thread and from any other thread,
 * without a message to the worker; the heartbeat moves while a worker idles; `reconfigure` switches
 * forwarding on and off between batches; a stalled main thread never stalls forwarding.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { closeFds, openSocketPair, syscalls as sys } from '../../src/fdbased/index.ts';
import { spawnWorker } from '../../src/spawn-worker.ts';
import { Engine, STATS_SLOTS, readStats, type WorkerStats } from '../../src/workers/index.ts';
import { throwsNetshard } from '../ring/fixtures/throws.ts';
import { drain, send, udp4, until } from './fixtures/packets.ts';

const Stats = suite('workers/stats');
const TO_B = ((198 << 24) | (18 << 16) | (1 << 8) | 1) >>> 0; // 198.18.1.1

/** Reads `buffer` with `readStats` in another thread. */
function readInThread(buffer: SharedArrayBuffer): Promise<WorkerStats> {
  const w = spawnWorker(new URL('./fixtures/stats-reader.ts', import.meta.url), { workerData: buffer });
  return new Promise((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
}

Stats('readStats while running (main thread and another thread), heartbeat, reconfigure on and off', async () => {
  const a = openSocketPair(), b = openSocketPair();
  sys.setNonBlocking(b[0]);
  let atStack = 0;
  const engine = new Engine({
    links: [{ fds: [a[1]] }, { fds: [b[1]] }],
    frameCount: 256, // the coordinator may hold half: the 100-packet burst fits
    txFrameCount: 16,
    ringCapacity: 256, // as large as the pool: only the half-pool limit stops the stack from taking every frame
    batchSize: 32,
    pollTimeoutMs: 20,
    stack: { deliverNetworkPacket: () => void atStack++ },
  });
  await engine.start();
  try {
    const buffer = engine.statsBuffer(0);
    const first = readStats(buffer).heartbeat;
    assert.ok(first >= 1, 'the loop is built');
    await until(() => readStats(buffer).heartbeat > first, 5000, 'the heartbeat to move while idle');

    // No forwarding: all 100 go to the stack.
    for (let seq = 0; seq < 100; seq++) send(a[0], udp4({ destination: TO_B, seq }));
    const bad = udp4();
    bad[0] = 0x44; // IHL 4: below the minimum of 5
    send(a[0], bad);
    await until(() => atStack === 100, 5000, '100 packets at the stack');
    await until(() => readStats(buffer).rxPackets === 101, 5000, 'rxPackets counted');
    const main = readStats(buffer);
    assert.equal(
      { rxPackets: main.rxPackets, toCoordinator: main.toCoordinator, forwarded: main.forwarded, rxDrops: main.rxDrops, rxBytes: main.rxBytes },
      { rxPackets: 101, toCoordinator: 100, forwarded: 0, rxDrops: 1, rxBytes: 101 * 36 },
    );
    assert.equal(main.rxDropsByReason, { Ipv4BadIhl: 1 });
    assert.ok(main.batches >= 1 && main.sleeps >= 1 && main.heartbeat >= main.batches);
    assert.ok(main.startedAt > 0 && main.startedAt <= Date.now());
    const other = await readInThread(buffer);
    assert.ok(other.rxPackets === 101 && other.toCoordinator === 100, 'another thread reads the same counters');

    // Forwarding on: the next 100 leave on link 1.
    await engine.reconfigure({ routes: [{ destination: '198.18.1.0/24', link: 1 }] });
    for (let seq = 100; seq < 200; seq++) send(a[0], udp4({ destination: TO_B, seq }));
    const out: Uint8Array[] = [];
    await until(() => (drain(b[0], out), out.length === 100), 5000, '100 forwarded');
    await until(() => readStats(buffer).txPackets === 100, 5000, 'txPackets counted');
    const s = readStats(buffer);
    assert.equal([s.forwarded, s.toCoordinator, s.txPackets, s.txBytes, s.txDrops], [100, 100, 100, 3600, 0]);
    assert.is(atStack, 100);

    // The main thread stalls (no pump): packets for the stack pile up to half the pool, the rest are
    // dropped and counted, and forwarding goes on all the while.
    const MULTICAST = ((224 << 24) | 5) >>> 0; // 224.0.0.5: for the engine itself, so the stack's (no route is dropped in the worker)
    const before = readStats(buffer);
    const stackBefore = atStack;
    for (let seq = 0; seq < 300; seq++) send(a[0], udp4({ destination: MULTICAST, seq }));
    for (let seq = 300; seq < 400; seq++) send(a[0], udp4({ destination: TO_B, seq }));
    const stalled: Uint8Array[] = [];
    const deadline = Date.now() + 5000;
    while (stalled.length < 100 && Date.now() < deadline) drain(b[0], stalled); // synchronous: the event loop never runs
    assert.is(stalled.length, 100, 'forwarded while the coordinator was stalled');
    const during = readStats(buffer);
    assert.is(during.rxPackets - before.rxPackets, 400);
    assert.ok(during.toCoordinator - before.toCoordinator <= 128, 'the coordinator holds at most half the pool');
    assert.is(during.toCoordinator - before.toCoordinator + during.ringDrops - before.ringDrops, 300, 'the rest dropped and counted');
    await until(() => atStack - stackBefore === during.toCoordinator - before.toCoordinator, 5000, 'the stack catching up');

    // Forwarding off again.
    await engine.reconfigure(null);
    send(a[0], udp4({ destination: TO_B, seq: 200 }));
    const now = atStack;
    await until(() => atStack === now + 1, 5000, 'back to the stack');
    assert.is(engine.workerStats().length, 2);
  } finally {
    await engine.stop();
    closeFds([...a, ...b]);
  }
});

Stats('readStats refuses what is not a stats buffer', () => {
  throwsNetshard(() => readStats(new SharedArrayBuffer(8)), 'ERR_INVALID_ARG_TYPE', `buffer must be a worker stats SharedArrayBuffer of ${STATS_SLOTS * 8} bytes`);
});

Stats.run();
