/**
 * `runDemo` (`netshard demo`): its options are checked at the door; the live line replaces itself only on
 * a terminal; the unprivileged tour (socketpairs) forwards, gets echo replies from the stack and echoes
 * from the reuseport servers, and leaves no fd behind; as root, the namespace tour does the same through
 * the kernel's own sockets and leaves no namespace of this pid behind, also when it is aborted mid-flood,
 * and the namespace reaper deletes them even when the process is SIGKILLed.
 * Without root the namespace tests are not registered and the reason is printed.
 *
 * The forwarding step is shortened (`packets`) to keep the run in seconds; no assertion is on time.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { NetshardError } from '../../src/errors.ts';
import { DemoOutput, REPLACE_PREVIOUS_LINE } from '../../src/workers/demo-report.ts';
import { labUnavailableReason, listNetns, runDemo, type DemoOptions } from '../../src/workers/index.ts';
import { startNamespaceReaper } from '../../src/workers/lab.ts';

const Demo = suite('workers/demo');
const PACKETS = 20_000;

/** A `log` that keeps every line. */
function collector(): { lines: string[]; log: (line: string) => void } {
  const lines: string[] = [];
  return { lines, log: (line) => void lines.push(line) };
}

/** Returns the numbers of the first line matching `pattern` (its groups, commas removed); fails when none matches. */
function numbers(lines: readonly string[], pattern: RegExp, what: string): number[] {
  for (const line of lines) {
    const m = pattern.exec(line);
    if (m !== null) return m.slice(1).map((g) => Number(g.replace(/,/g, '')));
  }
  assert.unreachable(`no line reports ${what} (${pattern}):\n${lines.join('\n')}`);
  return [];
}

/** Namespaces of this process (every name the demo makes ends in -<pid>). */
function myNamespaces(): string[] {
  return listNetns().filter((name) => name.endsWith(`-${process.pid}`));
}

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Checks what every tour must report: forwarded > 0 and as many at the sink, echo replies, reuseport echoes on single instances. */
function checkTourOutput(lines: readonly string[]): void {
  const [forwarded] = numbers(lines, /netshard forwarded ([\d,]+)/, 'packets forwarded');
  assert.ok(forwarded! > 0, `forwarded ${forwarded}`);
  const [replies, requests] = numbers(lines, /^\s+(\d+)\/(\d+) replies;/, 'echo replies');
  assert.ok(replies! > 0, `${replies}/${requests} echo replies`);
  const [echoes, sent] = numbers(lines, /echoes received ([\d,]+)\/([\d,]+)/, 'reuseport echoes');
  assert.ok(echoes! > 0 && echoes! <= sent!, `${echoes}/${sent} reuseport echoes`);
  numbers(lines, /every flow was answered by one (instance) only/, 'flows kept whole');
  assert.ok(lines.some((l) => /^summary$/.test(l)), 'a summary');
  assert.not.ok(lines.some((l) => l.includes('\x1b')), 'no escape sequence when not a terminal');
}

for (const c of [
  { name: 'unknown key', options: { log: () => {}, isTTY: false, tty: true }, code: 'ERR_INVALID_ARG_VALUE', message: /options\.tty is not a known option/ },
  { name: 'log not a function', options: { log: 'console', isTTY: false }, code: 'ERR_INVALID_ARG_TYPE', message: /options\.log must be a function/ },
  { name: 'isTTY missing', options: { log: () => {} }, code: 'ERR_INVALID_ARG_TYPE', message: /options\.isTTY must be of type boolean/ },
  { name: 'signal not an AbortSignal', options: { log: () => {}, isTTY: false, signal: {} }, code: 'ERR_INVALID_ARG_TYPE', message: /options\.signal must be an AbortSignal/ },
  { name: 'forceUnprivileged not a boolean', options: { log: () => {}, isTTY: false, forceUnprivileged: 1 }, code: 'ERR_INVALID_ARG_TYPE', message: /options\.forceUnprivileged must be of type boolean/ },
  { name: 'no packets', options: { log: () => {}, isTTY: false, packets: 0 }, code: 'ERR_OUT_OF_RANGE', message: /options\.packets must be an integer >= 1 and <= 10000000, received 0/ },
]) {
  Demo(`runDemo rejects: ${c.name}`, async () => {
    const lines: string[] = [];
    try {
      await runDemo({ ...(c.options as unknown as DemoOptions), ...(typeof c.options.log === 'function' ? { log: (l: string) => void lines.push(l) } : {}) });
    } catch (err) {
      assert.instance(err, NetshardError);
      assert.is((err as NetshardError).code, c.code);
      assert.match((err as Error).message, c.message);
      assert.equal(lines, [], 'nothing printed before the check');
      return;
    }
    assert.unreachable(`runDemo(${c.name}) did not reject`);
  });
}

for (const c of [
  {
    name: 'terminal: a live line after a live line replaces it; a plain line ends the run',
    isTTY: true,
    calls: [['line', 'a'], ['live', '1'], ['live', '2'], ['line', 'b'], ['live', '3']],
    want: ['a', '1', `${REPLACE_PREVIOUS_LINE}2`, 'b', '3'],
  },
  {
    name: 'not a terminal: every live line is a plain line',
    isTTY: false,
    calls: [['line', 'a'], ['live', '1'], ['live', '2'], ['line', 'b\nc']],
    want: ['a', '1', '2', 'b', 'c'],
  },
] as const) {
  Demo(`DemoOutput: ${c.name}`, () => {
    const { lines, log } = collector();
    const out = new DemoOutput(log, c.isTTY);
    for (const [kind, text] of c.calls) out[kind](text);
    assert.equal(lines, [...c.want]);
  });
}

Demo('unprivileged tour (socketpairs): forwards, answers ARP and echo, serves reuseport, leaves no fd behind', async () => {
  const { lines, log } = collector();
  const before = openFds();
  const summary = await runDemo({ log, isTTY: false, forceUnprivileged: true, packets: PACKETS });
  assert.is(summary.mode, 'socketpair');
  checkTourOutput(lines);
  assert.ok(summary.forwarded > 0 && summary.forwarded <= PACKETS, `forwarded ${summary.forwarded}`);
  assert.is(summary.delivered, summary.forwarded, 'the sink read every forwarded datagram');
  assert.is(summary.echoReplies, summary.echoRequests);
  assert.ok(summary.arpReplies >= 1, 'the stack answered the ARP request');
  assert.is(summary.reuseport?.splitFlows, 0);
  assert.ok(lines.some((l) => /skipped .*asked for the unprivileged tour/.test(l)), 'says what it skipped and why');
  assert.is(openFds(), before, 'every fd it opened is closed');
});

const reason = labUnavailableReason();
if (reason !== '') {
  console.log(`workers/demo: skipping the namespace tour tests: ${reason}`);
} else {
  Demo('namespace tour (root): forwards through the kernel, answers ping, serves reuseport, deletes its namespaces', async () => {
    assert.equal(myNamespaces(), [], 'no namespace of this pid before');
    const { lines, log } = collector();
    const summary = await runDemo({ log, isTTY: false, packets: PACKETS });
    assert.is(summary.mode, 'netns');
    checkTourOutput(lines);
    assert.ok(lines.some((l) => /resolved its gateway .* netshard's stack answered its ARP request/.test(l)), 'the client resolved the engine by ARP');
    assert.ok(summary.echoReplies > 0, `${summary.echoReplies} echo replies`);
    assert.equal(myNamespaces(), [], 'no namespace of this pid after');
  });

  Demo('namespace tour (root), aborted mid-flood: rejects ERR_NETSHARD_ABORTED and deletes its namespaces', async () => {
    const controller = new AbortController();
    const { lines } = collector();
    let sawNamespaces: string[] = [];
    const log = (line: string): void => {
      lines.push(line);
      // Abort at the first live line: the client is flooding then.
      if (line.startsWith('    …') && !controller.signal.aborted) {
        sawNamespaces = myNamespaces();
        controller.abort();
      }
    };
    try {
      await runDemo({ log, isTTY: false, signal: controller.signal, packets: 10_000_000 });
      assert.unreachable('runDemo resolved after an abort');
    } catch (err) {
      assert.is((err as NetshardError).code, 'ERR_NETSHARD_ABORTED', String(err));
    }
    assert.is(sawNamespaces.length, 3, `three namespaces while it ran: ${sawNamespaces.join(', ')}`);
    assert.ok(lines.includes('interrupted: everything the demo made is removed'));
    assert.equal(myNamespaces(), [], 'no namespace of this pid after the abort');
  });

  Demo('namespace reaper: deletes the namespaces when its process is killed (SIGKILL); released, it deletes nothing', async () => {
    const killed = `ns-dreap-${process.pid}`, kept = `ns-dkeep-${process.pid}`;
    try {
      for (const ns of [killed, kept]) execFileSync('ip', ['netns', 'add', ns]);
      // A process that starts a reaper for `killed`, says so, and waits to be killed.
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', `
        const { startNamespaceReaper } = await import(${JSON.stringify(new URL('../../src/workers/lab.ts', import.meta.url).href)});
        startNamespaceReaper([${JSON.stringify(killed)}]);
        console.log('ready');
        setInterval(() => {}, 1000);
      `], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          if (chunk.toString().includes('ready')) resolve();
        });
        child.on('exit', (code) => reject(new Error(`the reaper's process exited early (${code})`)));
      });
      child.kill('SIGKILL');
      const reaper = startNamespaceReaper([kept]);
      reaper.release();
      // A bound for a hung test, not a timing assertion: the reaper runs as soon as the pipe closes.
      for (let i = 0; i < 100 && listNetns().includes(killed); i++) await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 200)); // a released reaper that wrongly deleted would have done so by now
      assert.not.ok(listNetns().includes(killed), `${killed} deleted by the reaper of the killed process`);
      assert.ok(listNetns().includes(kept), `${kept} left alone by the released reaper`);
    } finally {
      for (const ns of [killed, kept]) {
        try {
          execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
        } catch {
          /* already gone */
        }
      }
    }
  });
}

Demo.run();
