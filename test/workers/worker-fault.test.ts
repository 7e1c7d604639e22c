/**
 * A running dispatch worker that dies of an exception (not `terminate()`): reported as 'died' with its
 * own error, its pool retired with every frame accounted for, a new generation started on the same fd,
 * traffic resumed, and after stop every frame home and no fd left open.
 *
 * The exception is real and thrown inside the worker's synchronous loop, with no hook in src/: the engine
 * runs in a child process (`fixtures/worker-fault-run.ts`) started with `--require fixtures/fault-preload.cjs`,
 * a preload Node runs in every worker thread; in slot 0's first generation only, it makes the call the
 * loop makes after dispatching each receive batch throw once the worker has received more than a round
 * of packets. The child prints one JSON line; its waits are bounded, so a missing restart ends the run
 * with an `error` instead of hanging. Socketpairs only: no root needed.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { FaultRunResult } from './fixtures/worker-fault-run.ts';

const Fault = suite('workers/worker-fault');
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RUN = fileURLToPath(new URL('./fixtures/worker-fault-run.ts', import.meta.url));
const PRELOAD = fileURLToPath(new URL('./fixtures/fault-preload.cjs', import.meta.url));
/** Ends a hung child (a bound, not a timing assertion): the child's own waits give up well before. */
const CHILD_LIMIT_MS = 60_000;

/** Runs the fixture in a child process; resolves with its exit code, stdout and stderr. */
function runChild(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--require', PRELOAD, RUN], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_LIMIT_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

Fault('an exception in a running worker\'s loop: died, restarted on the same fd, traffic resumes, nothing leaks', async () => {
  const child = await runChild();
  const line = child.stdout.trim().split('\n').pop() ?? '';
  let r: FaultRunResult | null = null;
  try {
    r = JSON.parse(line) as FaultRunResult | null;
  } catch {
    assert.unreachable(`the child printed no JSON (exit ${child.code}): ${child.stdout}\n${child.stderr}`);
  }
  assert.ok(r !== null, `the child failed before its result: ${child.stderr}`);
  const { round, batch, frameCount, txFrameCount } = r.config;
  assert.is(r.error, null, `every step of the run completed (${JSON.stringify(r)})`);

  // Reported: one death, slot 0's first generation, with the exception's own message.
  assert.is(r.exits.length, 1, 'one workerExit event');
  const exit = r.exits[0]!;
  assert.equal(
    { slot: exit.slot, link: exit.link, fdIndex: exit.fdIndex, generation: exit.generation, code: exit.code, reason: exit.reason, restarting: exit.restarting },
    { slot: 0, link: 0, fdIndex: 0, generation: 0, code: 1, reason: 'died', restarting: true },
  );
  assert.ok(exit.error !== null && exit.error.message.startsWith('injected fault after '), `the worker's own error: ${JSON.stringify(exit.error)}`);
  const at = Number(exit.error.message.slice('injected fault after '.length).split(' ')[0]);
  assert.ok(at > round && at <= round + batch, `thrown in the running loop, in the first batch after round 1 (${at} packets)`);
  assert.is(r.faultedExitCode, 1, 'the faulted thread exited with code 1 (fatal)');

  // Its frames: every one of the retired pool somewhere known; at most one receive batch in the dead hands.
  const p = exit.retiredPool!;
  assert.ok(p !== null, 'a died worker\'s pool is accounted for');
  assert.is(p.frameCount, frameCount);
  assert.is(p.free + p.inRxRing + p.inCompletionRing + p.inWorker, p.frameCount, `every frame of the retired pool accounted for: ${JSON.stringify(p)}`);
  assert.ok(p.inWorker >= 0 && p.inWorker <= batch, `at most one receive batch in the dead thread's hands (${p.inWorker})`);

  // Restarted on the same fd; slot 1 untouched.
  assert.equal(r.onlines, [{ slot: 0, link: 0, fdIndex: 0, generation: 1 }]);
  assert.equal(r.order, ['exit', 'online']);
  assert.equal(r.generations, [1, 0], 'slot 0 on its second generation, slot 1 on its first');
  assert.equal([r.deaths, r.restarts], [1, 1]);

  // Traffic: every round arrived on both fds, round 2 (which tripped the fault) included: the batch
  // dispatched before the throw was delivered by the retire, the rest read by the new generation.
  const rounds = [[0, 1], [1, 1], [0, 2], [0, 3], [1, 3]] as const;
  assert.equal(r.rounds, rounds.map(([slot, n]) => ({ slot, round: n, delivered: round })));
  assert.ok(r.deliveredAfterOnline >= round, `traffic resumed on the new worker (${r.deliveredAfterOnline} packets after it came online)`);

  // Nothing leaked: both threads stopped cleanly, every pool full, no fd left open.
  assert.equal(r.stoppedExitCodes, [0, 0]);
  assert.is(r.pools.length, 3, 'the tx pool and one pool per slot');
  for (const pool of r.pools) {
    assert.is(pool.available, pool.frameCount, `pool of slot ${pool.slot} (generation ${pool.generation}) is full`);
    assert.is(pool.doubleFrees + pool.badFrees, 0, `no frame of slot ${pool.slot}'s pool freed twice or foreign`);
  }
  assert.is(r.pools[0]!.frameCount, txFrameCount);
  assert.is(r.fdsAfter, r.fdsBefore, 'every eventfd closed, the faulted worker\'s too');
  assert.is(child.code, 0, `the child exited cleanly: ${child.stderr}`);
});

Fault.run();
