/**
 * /proc parsing: a process's utime + stime (its name may hold spaces and parentheses), a thread's line
 * (tid, comm), a window over a process's threads (the coordinator is tid == pid; the others named by comm or
 * by order), the machine's aggregate cpu line (old kernels print fewer fields), deltas, and live reads of
 * this process and of its own threads, one of them a worker thread that names itself and spins.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import {
  parseProcessStat, parseSystemStat, parseTaskStat, readProcessCpu, readSystemCpu, readThreadsCpu, systemCpuDelta, threadWindow, type ThreadCpu,
} from '../../../src/workers/index.ts';
import { throwsNetshard } from '../../ring/fixtures/throws.ts';

const Proc = suite('workers/perf/proc');

for (const c of [
  {
    name: 'plain name',
    //      pid name state ppid pgrp sess tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
    text: '4242 (packet-fwd) S 1 4242 4242 0 -1 4194560 120 0 0 0 250 75 0 0 20 0 3 0 100 0 0\n',
    want: { user: 2.5, system: 0.75 },
  },
  {
    name: 'name with spaces and a parenthesis',
    text: '77 (node (worker) x) R 1 77 77 0 -1 0 1 0 0 0 1001 3 0 0 20 0 9 0 5 0 0',
    want: { user: 10.01, system: 0.03 },
  },
]) {
  Proc(`parseProcessStat: ${c.name}`, () => {
    const got = parseProcessStat(c.text);
    assert.ok(Math.abs(got.user - c.want.user) < 1e-9 && Math.abs(got.system - c.want.system) < 1e-9, JSON.stringify(got));
  });
}

Proc('parseProcessStat rejects what is not a stat line', () => {
  throwsNetshard(() => parseProcessStat('hello'), 'ERR_NETSHARD_PROC', "not a /proc/<pid>/stat line: 'hello'");
  throwsNetshard(() => parseProcessStat('1 (x) S 1 2'), 'ERR_NETSHARD_PROC', "not a /proc/<pid>/stat line: '1 (x) S 1 2'");
});

Proc('parseSystemStat: the aggregate line, not cpu0', () => {
  const text = [
    '  cpu  697608 10 330572 910687 725 5 20028 7 0 0', // leading spaces are not a cpu line: never printed so, skipped
    'cpu  600 10 300 900 7 5 200 7 0 0',
    'cpu0 345972 0 164261 459429 124 0 9711 0 0 0',
    'intr 1 2 3',
  ].join('\n');
  assert.equal(parseSystemStat(text), { user: 6, nice: 0.1, system: 3, idle: 9, iowait: 0.07, irq: 0.05, softirq: 2, steal: 0.07 });
});

Proc('parseSystemStat: a kernel printing only 7 fields reads steal as 0', () => {
  assert.is(parseSystemStat('cpu  1 2 3 4 5 6 700\n').softirq, 7);
  assert.is(parseSystemStat('cpu  1 2 3 4 5 6 700\n').steal, 0);
  throwsNetshard(() => parseSystemStat('cpu0 1 2 3\n'), 'ERR_NETSHARD_PROC', 'no aggregate cpu line in /proc/stat');
});

Proc('systemCpuDelta subtracts per state', () => {
  // Tick counts whose seconds are exact in binary (quarters), so the differences compare exactly.
  const a = parseSystemStat('cpu  100 0 50 1000 0 0 25 0\n');
  const b = parseSystemStat('cpu  150 0 75 1100 0 0 75 0\n');
  assert.equal(systemCpuDelta(a, b), { user: 0.5, nice: 0, system: 0.25, idle: 1, iowait: 0, irq: 0, softirq: 0.5, steal: 0 });
});

Proc('live: this process has a stat entry, a gone pid has none, /proc/stat reads', () => {
  const me = readProcessCpu(process.pid);
  assert.ok(me !== null && me.user >= 0 && me.system >= 0);
  assert.is(readProcessCpu(2 ** 22 + 1), null); // above pid_max's ceiling: never a process
  const s = readSystemCpu();
  assert.ok(s.idle > 0 && s.user > 0);
});

Proc('parseTaskStat: tid, comm (spaces, parentheses), utime and stime of one thread', () => {
  assert.equal(parseTaskStat('4243 (packet-fwd) S 1 4242 4242 0 -1 4194560 120 0 0 0 250 75 0 0 20 0 3 0 100 0 0\n'), {
    tid: 4243, comm: 'packet-fwd', user: 2.5, system: 0.75,
  });
  assert.equal(parseTaskStat('78 (a) b (c)) R 1 77 77 0 -1 0 1 0 0 0 7 3 0 0 20 0 9 0 5 0 0'), { tid: 78, comm: 'a) b (c)', user: 0.07, system: 0.03 });
  throwsNetshard(() => parseTaskStat('(x) S 1 2 3 4 5 6 7 8 9 10 11 12 13'), 'ERR_NETSHARD_PROC', "not a /proc/<pid>/stat line: '(x) S 1 2 3 4 5 6 7 8 9 10 11 12 13'");
  throwsNetshard(() => parseTaskStat('x1 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13'), 'ERR_NETSHARD_PROC', "not a /proc/<pid>/stat line: 'x1 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13'");
});

const t = (tid: number, comm: string, ticks: number): ThreadCpu => ({ tid, comm, user: ticks / 100, system: 0 });

Proc('threadWindow: the main thread apart, the others by tid, named by comm or by order, the busiest found', () => {
  const before = [t(100, 'node', 50), t(101, 'node', 3), t(105, 'node', 10), t(107, 'gone', 40)];
  const after = [t(105, 'node', 90), t(100, 'node', 80), t(101, 'node', 3), t(110, 'ns-rx-0', 25)];
  const w = threadWindow(100, before, after, 2);
  assert.is(w.seconds, 2);
  assert.equal(w.main, { tid: 100, name: 'node', cpuSeconds: 0.3, busy: 0.15 });
  assert.equal(w.others, [
    { tid: 101, name: 'thread-1', cpuSeconds: 0, busy: 0 },
    { tid: 105, name: 'thread-2', cpuSeconds: 0.8, busy: 0.4 },
    { tid: 110, name: 'ns-rx-0', cpuSeconds: 0.25, busy: 0.125 }, // started inside the window: all its time counts
  ]); // 107 exited inside the window: left out
  assert.equal(w.busiest, w.others[1]);
});

Proc('threadWindow: a reused tid counts from zero, ties go to the lower tid, no other thread gives no busiest', () => {
  const w = threadWindow(1, [t(1, 'fwd', 0), t(2, 'fwd', 500)], [t(1, 'fwd', 10), t(2, 'fwd', 20), t(3, 'fwd', 20)], 1);
  assert.equal(w.others.map((o) => [o.tid, o.cpuSeconds]), [[2, 0.2], [3, 0.2]]);
  assert.is(w.busiest?.tid, 2);
  const alone = threadWindow(1, [t(1, 'fwd', 0)], [t(1, 'fwd', 10)], 0.5);
  assert.equal([alone.main?.busy, alone.others, alone.busiest], [0.2, [], null]);
  assert.is(threadWindow(9, [], [t(1, 'x', 10)], 1).main, null, 'no thread with tid == pid');
});

// A worker thread that names itself (comm), spins until the kernel has charged it 3 ticks (at most 10 s), and
// posts its tid. Plain JS, evaluated: no loader needed inside the thread.
const PROBE = `
const { readFileSync, writeFileSync } = require('node:fs');
const { parentPort } = require('node:worker_threads');
writeFileSync('/proc/thread-self/comm', 'perf-probe');
const own = () => { const s = readFileSync('/proc/thread-self/stat', 'utf8'); const f = s.slice(s.lastIndexOf(')') + 2).split(' '); return Number(f[11]) + Number(f[12]); };
const deadline = Date.now() + 10000;
let x = 0;
while (own() < 3 && Date.now() < deadline) for (let i = 0; i < 1e6; i++) x += i;
parentPort.postMessage({ tid: Number(readFileSync('/proc/thread-self/stat', 'utf8').split(' ')[0]), ticks: own(), x });
parentPort.once('message', () => process.exit(0));
`;

Proc('live: this process\'s threads, the main one with tid == pid, a named spinning worker found by its comm', async () => {
  const before = readThreadsCpu(process.pid);
  assert.ok(before !== null);
  const worker = new Worker(PROBE, { eval: true });
  try {
    const probe = await new Promise<{ tid: number; ticks: number }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    assert.ok(probe.ticks >= 3, `the probe was charged ${probe.ticks} tick(s)`);
    const after = readThreadsCpu(process.pid)!;
    assert.equal(after.map((x) => x.tid), [...after.map((x) => x.tid)].sort((a, b) => a - b), 'by tid');
    const main = after.find((x) => x.tid === process.pid);
    assert.ok(main !== undefined, 'the main thread is listed');
    assert.is(main.comm, readFileSync('/proc/self/comm', 'utf8').trimEnd());
    const seen = after.find((x) => x.tid === probe.tid);
    assert.ok(seen !== undefined && seen.comm === 'perf-probe', JSON.stringify(seen));
    assert.ok(seen.user + seen.system >= 0.03, `its CPU time is read: ${JSON.stringify(seen)}`);
    assert.not.ok(before.some((x) => x.tid === probe.tid), 'it started after the first read');
    const w = threadWindow(process.pid, before, after, 1);
    assert.is(w.main?.tid, process.pid);
    const named = w.others.find((x) => x.tid === probe.tid);
    assert.ok(named !== undefined && named.name === 'perf-probe' && named.cpuSeconds >= 0.03, JSON.stringify(named));
    // Threads that kept the program's comm (Node 20 names none of its own) are named by their place.
    assert.equal(
      w.others.map((x) => x.name),
      w.others.map((x, i) => (after.find((y) => y.tid === x.tid)!.comm === main.comm ? `thread-${i + 1}` : after.find((y) => y.tid === x.tid)!.comm)),
    );
    assert.ok(w.busiest !== null && w.busiest.cpuSeconds >= named.cpuSeconds);
    worker.postMessage('exit');
    await new Promise((resolve) => worker.once('exit', resolve));
  } finally {
    await worker.terminate();
  }
  assert.is(readThreadsCpu(2 ** 22 + 1), null, 'a pid that is never a process');
});

Proc.run();
