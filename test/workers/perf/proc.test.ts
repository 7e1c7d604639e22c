/**
 * /proc parsing: a process's utime + stime (its name may hold spaces and parentheses), the machine's
 * aggregate cpu line (old kernels print fewer fields), deltas, and a live read of this process.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseProcessStat, parseSystemStat, readProcessCpu, readSystemCpu, systemCpuDelta } from '../../../src/workers/index.ts';
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

Proc.run();
