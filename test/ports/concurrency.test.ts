/**
 * Three workers and the main thread share one PortManager table and reserve/release seeded random
 * reservations (bounded by count and by time) from a small universe, so they collide all the time.
 * Each keeps a ground-truth log of what it holds (stress.ts); no two threads may ever hold a pair the
 * independent model (model.ts `pairAllowed`) forbids in both orders, and a held key must never read as
 * available through the lock-free `isPortAvailable`. At the end the table is empty and the mutex free.
 * The main thread spins for the mutex, the workers sleep in Atomics.wait: both paths run. No timing asserts.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Worker } from 'node:worker_threads';
import { setTimeout as sleep } from 'node:timers/promises';
import { PortManager } from '../../src/ports/index.ts';
import { spawnWorker } from '../../src/spawn-worker.ts';
import { deserializeError, type SerializedError } from '../../src/errors.ts';
import { go, PARTICIPANTS, readyCount, runStress, STRESS_RANGE, TRUTH_WORDS, type StressResult } from './stress.ts';
import { pairAllowed, type ModelRes } from './model.ts';
import { IPV4_PROTOCOL_NUMBER } from '../../src/tcpip/protocols.ts';

const Concurrency = suite('ports/concurrency');
const WORKERS = PARTICIPANTS - 1;
const MAX_OPS = 200_000;
const WORKER_MS = 2000;
const MAIN_MS = 1500;
const STARTUP_LIMIT_MS = 60_000; // tsx compiles each worker's modules; a loaded machine is slow

type Reply = { ok: true; result: StressResult } | { ok: false; error: SerializedError };

Concurrency('the checker itself: pairAllowed flags a plain double bind and passes LB sharing', () => {
  const base: ModelRes = { nets: [4], transport: 17, addr: '198.18.0.1', port: 5000, flags: 0, dev: 0, destAddr: '', destPort: 0 };
  assert.not.ok(pairAllowed(base, base, true));
  assert.ok(pairAllowed({ ...base, flags: 2 }, { ...base, flags: 2 }, true));
  assert.not.ok(pairAllowed({ ...base, flags: 2, transport: 6 }, { ...base, flags: 2, transport: 6 }, false), 'TCP port 0 never shares');
  assert.ok(pairAllowed(base, { ...base, addr: '198.18.0.2' }, true));
  assert.not.ok(pairAllowed(base, { ...base, addr: '', nets: [4, 6] }, true));
  assert.ok(pairAllowed(base, { ...base, addr: '', nets: [6] }, true));
});

Concurrency('workers and main contend on one table: never a conflicting grant; empty and unlocked at the end', async () => {
  const pm = PortManager.create({ capacity: 256, portRange: STRESS_RANGE });
  const truthBuffer = new SharedArrayBuffer(TRUTH_WORDS * 4);
  const truth = new Int32Array(truthBuffer);
  const replies: Reply[] = [];
  const exits: Promise<number>[] = [];
  const workers: Worker[] = [];
  for (let id = 1; id <= WORKERS; id++) {
    const w = spawnWorker(new URL('./stress-worker.ts', import.meta.url), {
      workerData: { buffer: pm.buffer, truth: truthBuffer, id, seed: 1000 + id, maxOps: MAX_OPS, ms: WORKER_MS },
    });
    exits.push(new Promise((resolve) => w.on('exit', resolve)));
    w.on('message', (m: Reply) => replies.push(m));
    w.on('error', (err) => replies.push({ ok: false, error: { code: 'ERR_NETSHARD_INTERNAL', message: String(err) } }));
    workers.push(w);
  }
  try {
    const started = Date.now();
    while (readyCount(truth) < WORKERS && replies.length === 0) {
      if (Date.now() - started > STARTUP_LIMIT_MS) throw new Error(`only ${readyCount(truth)} of ${WORKERS} workers started`);
      await sleep(20);
    }
    for (const r of replies) if (!r.ok) throw deserializeError(r.error);
    go(truth);
    const mine = runStress(pm, truth, 0, 1000, MAX_OPS, MAIN_MS); // synchronous: the main thread spins for the lock
    await Promise.all(exits);
    const results = [mine];
    for (const r of replies) {
      if (!r.ok) throw deserializeError(r.error);
      results.push(r.result);
    }
    assert.is(results.length, PARTICIPANTS);
    const violations = results.flatMap((r) => r.violations);
    assert.equal(violations, [], violations.slice(0, 5).join('\n'));
    for (const r of results) {
      assert.ok(r.grants > 0 && r.denials > 0 && r.releases === r.grants && r.availabilityChecks > 0,
        `participant ${r.id} did too little to mean anything: ${JSON.stringify({ ...r, violations: undefined })}`);
    }
    assert.is(pm.entryCount(), 0, JSON.stringify(pm.snapshot()));
    assert.equal(pm.snapshot(), []);
    const stats = pm.stats();
    assert.is(stats.lock, 0, 'mutex left locked');
    assert.is(stats.descriptors, 0);
    assert.is(stats.generation % 2, 0, 'seqlock left mid-write');
    const total = results.reduce((n, r) => n + r.ops, 0);
    console.log(`  ports/concurrency: ${total} ops, ${results.reduce((n, r) => n + r.grants, 0)} grants, ` +
      `${results.reduce((n, r) => n + r.denials, 0)} denials over ${PARTICIPANTS} threads`);
  } finally {
    for (const w of workers) void w.terminate();
  }
});

Concurrency('lock-free isPortAvailable never misses a held row while another thread rewrites the list', async () => {
  const PORT = 7000;
  // Capacity = churn rows + 1: every free row is a former churn row (irrelevant to the reader), so a
  // reader that strays into the free list would see no row at all and wrongly answer "available".
  const pm = PortManager.create({ capacity: 9 });
  const held = { networks: [IPV4_PROTOCOL_NUMBER], transport: 17, address: '198.18.0.1', port: PORT, flags: 0 } as const;
  pm.reservePort(held); // the row the reader looks for; the churn rows go in ahead of it
  const control = new Int32Array(new SharedArrayBuffer(8));
  const w = spawnWorker(new URL('./churn-worker.ts', import.meta.url), {
    workerData: { buffer: pm.buffer, control: control.buffer, port: PORT, maxOps: 50_000_000 },
  });
  const reply = new Promise<{ ok: boolean; ops?: number; error?: SerializedError }>((resolve) => {
    w.on('message', resolve);
    w.on('error', (err) => resolve({ ok: false, error: { code: 'ERR_NETSHARD_INTERNAL', message: String(err) } }));
    w.on('exit', () => resolve({ ok: false, error: { code: 'ERR_NETSHARD_INTERNAL', message: 'churn worker exited early' } }));
  });
  try {
    const started = Date.now();
    while (Atomics.load(control, 0) === 0) {
      if (Date.now() - started > STARTUP_LIMIT_MS) throw new Error('churn worker did not start');
      await sleep(20);
    }
    let checks = 0, wrong = 0;
    const until = Date.now() + MAIN_MS;
    while (Date.now() < until && checks < 5_000_000) {
      for (let i = 0; i < 256; i++, checks++) if (pm.isPortAvailable(held)) wrong++;
    }
    Atomics.store(control, 1, 1);
    const r = await reply;
    if (!r.ok) throw deserializeError(r.error!);
    assert.is(wrong, 0, `isPortAvailable said a held reservation was free ${wrong} times in ${checks} checks`);
    assert.ok((r.ops ?? 0) > 0 && checks > 0);
    pm.releasePort(held);
    assert.equal([pm.entryCount(), pm.stats().lock], [0, 0]);
    console.log(`  ports/concurrency: ${checks} lock-free checks against ${r.ops} churn reservations`);
  } finally {
    void w.terminate();
  }
});

Concurrency.run();
