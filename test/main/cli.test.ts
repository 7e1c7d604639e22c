/**
 * The command line as a user meets it, no root needed: the CLI runs as a child process (`node --import tsx
 * src/main.ts`, as forward.test.ts does, so signals reach the CLI itself).
 *
 * - `netshard --help` lists every command (forward, serve, demo); `<cmd> --help` and `help <cmd>` print
 *   that command's usage and exit 0;
 * - bad options for `serve` and `demo` exit 2 with exactly one line on stderr, naming the command and the
 *   option, and nothing on stdout (an unknown command too);
 * - `netshard demo --unprivileged --packets 2000` (the socketpair tour) runs to the end, exit 0, and its
 *   summary reports forwarded packets, echo replies and reuseport echoes;
 * - Ctrl-C (SIGINT) during the demo: it says it cleaned up and exits 0.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));

interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
}

/**
 * Runs the CLI with `args`; resolves when it exits. `onOutput` sees stdout as it grows (and may signal the
 * child); the child is killed after `ms` so a hung CLI fails the test instead of hanging it.
 */
function cli(args: readonly string[], ms = 30_000, onOutput?: (out: string, kill: (s: NodeJS.Signals) => void) => void): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    const kill = (s: NodeJS.Signals): void => void child.kill(s);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      onOutput?.(out, kill);
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      // 'exit' can come before the pipes drain: wait for both to close.
      let open = 2;
      const done = (): void => void (--open === 0 && resolve({ code, signal, out, err }));
      if (child.stdout.closed) done(); else child.stdout.on('close', done);
      if (child.stderr.closed) done(); else child.stderr.on('close', done);
    });
  });
}

/** Runs `jobs` two at a time (two cores here). */
async function inPairs<T>(jobs: readonly (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await jobs[i]!();
    }
  };
  await Promise.all([lane(), lane()]);
  return results;
}

/** A count as the demo prints it (`2,000`). */
const num = (text: string | undefined): number => Number((text ?? 'NaN').replace(/,/g, ''));

// ─── help ───────────────────────────────────────────────────────────────────────────────────────────────

const Help = suite('help');

Help('netshard --help lists forward, serve and demo, exit 0', async () => {
  const r = await cli(['--help']);
  assert.is(r.code, 0, r.err);
  assert.is(r.err, '');
  for (const name of ['forward', 'serve', 'demo']) assert.match(r.out, new RegExp(`^  ${name} +\\S`, 'm'), `${name} listed`);
});

// [args, the usage line its output starts with]
const HELP_CASES: [string[], string][] = [
  [['forward', '--help'], 'Usage: netshard forward '],
  [['serve', '--help'], 'Usage: netshard serve '],
  [['serve', '-h'], 'Usage: netshard serve '],
  [['demo', '--help'], 'Usage: netshard demo [--packets N] [--unprivileged]'],
  [['help', 'serve'], 'Usage: netshard serve '],
  [['help', 'demo'], 'Usage: netshard demo '],
];

Help('<cmd> --help and help <cmd> print that command\'s usage, exit 0', async () => {
  const results = await inPairs(HELP_CASES.map(([args]) => () => cli(args)));
  HELP_CASES.forEach(([args, start], i) => {
    const r = results[i]!;
    assert.is(r.code, 0, `${args.join(' ')}: ${r.err}`);
    assert.ok(r.out.startsWith(start), `${args.join(' ')}: ${r.out.slice(0, 80)}`);
    assert.is(r.err, '', args.join(' '));
  });
});

Help.run();

// ─── bad options ────────────────────────────────────────────────────────────────────────────────────────

const SERVE_OK = ['--interface', 'veth0', '--address', '198.18.5.2/24', '--port', '7000'];

// [args, what the one stderr line must match]
const BAD_CASES: [string[], RegExp][] = [
  [['serve'], /^netshard serve: --interface IFACE is required$/],
  [['serve', '--address', '198.18.5.2/24', '--port', '7000'], /--interface IFACE is required/],
  [['serve', '--interface', 'veth0', '--port', '7000'], /--address CIDR is required/],
  [['serve', '--interface', 'veth0', '--address', '198.18.5.2/24'], /--port PORT is required/],
  [['serve', '--interface', 'a-name-longer-than-15', '--address', '198.18.5.2/24', '--port', '7000'], /--interface must be an interface name/],
  [['serve', '--interface', 'veth0', '--address', '198.18.5.2', '--port', '7000'], /--address must be an address with a prefix length/],
  [['serve', '--interface', 'veth0', '--address', '198.18.5.300/24', '--port', '7000'], /--address must be/],
  [['serve', ...SERVE_OK.slice(0, 4), '--port', '70000'], /--port must be an integer from 1 to 65535, received '70000'/],
  [['serve', ...SERVE_OK.slice(0, 4), '--port', '0'], /--port must be an integer from 1 to 65535/],
  [['serve', ...SERVE_OK, '--instances', '65'], /--instances must be an integer from 1 to 64/],
  [['serve', ...SERVE_OK, '--instances', 'two'], /--instances must be an integer/],
  [['serve', ...SERVE_OK, '--workers', '0'], /--workers must be an integer from 1 to 64/],
  [['serve', ...SERVE_OK, '--mode', 'poll'], /--mode must be readv, recvmmsg or mmap, received 'poll'/],
  [['serve', ...SERVE_OK, '--gateway', 'router'], /--gateway must be an IPv4 or IPv6 address/],
  [['serve', ...SERVE_OK, '--bind', '1.2.3'], /--bind must be an IPv4 or IPv6 address/],
  [['serve', ...SERVE_OK, '--duration=0'], /--duration must be a number of seconds above 0, received '0'/],
  [['serve', ...SERVE_OK, '--duration', '-1'], /^netshard serve: option '--duration' needs a value; one that starts with '-' is written --duration=VALUE$/],
  [['serve', ...SERVE_OK, '--duration=-1'], /--duration must be a number of seconds above 0, received '-1'/],
  [['serve', ...SERVE_OK, '--netns', '..'], /--netns must name a network namespace/],
  [['serve', ...SERVE_OK, '--verbose'], /^netshard serve: unknown option '--verbose'$/],
  [['serve', ...SERVE_OK, 'extra'], /^netshard serve: unexpected argument 'extra'$/],
  [['demo', '--packets', '0'], /^netshard demo: --packets must be an integer from 1 to 10000000, received '0'$/],
  [['demo', '--packets', '10000001'], /--packets must be an integer from 1 to 10000000/],
  [['demo', '--packets', '2k'], /--packets must be an integer/],
  [['demo', '--packets'], /^netshard demo: option '--packets <value>' argument missing$/],
  [['demo', '--fast'], /^netshard demo: unknown option '--fast'$/],
  [['demo', 'now'], /^netshard demo: unexpected argument 'now'$/],
  [['launch'], /^netshard: unknown command 'launch'/],
];

const Bad = suite('bad options');

Bad('bad options exit 2 with one line on stderr, nothing on stdout', async () => {
  const results = await inPairs(BAD_CASES.map(([args]) => () => cli(args)));
  BAD_CASES.forEach(([args, pattern], i) => {
    const r = results[i]!;
    const what = args.join(' ');
    assert.is(r.code, 2, `${what}: exit ${r.code}, ${r.err}`);
    assert.is(r.out, '', what);
    const lines = r.err.split('\n');
    assert.is(lines.length, 2, `${what}: one line, got ${JSON.stringify(r.err)}`);
    assert.is(lines[1], '', what);
    assert.match(lines[0]!, pattern, what);
    assert.match(lines[0]!, /^netshard( \w+)?: /, what);
  });
});

Bad.run();

// ─── demo ───────────────────────────────────────────────────────────────────────────────────────────────

const Demo = suite('demo');

Demo('demo --unprivileged --packets 2000 runs to the end: packets forwarded, echo replies, exit 0', async () => {
  const r = await cli(['demo', '--unprivileged', '--packets', '2000'], 45_000);
  assert.is(r.code, 0, `exit ${r.code} ${r.signal ?? ''}\n${r.err}\n${r.out}`);
  assert.is(r.err, '');
  assert.match(r.out, /^mode: unprivileged/m);
  const fwd = /^ {2}forwarding +([\d,]+) packets forwarded of ([\d,]+) sent/m.exec(r.out);
  assert.ok(fwd !== null, r.out);
  assert.is(num(fwd[2]), 2000, 'sent');
  assert.ok(num(fwd[1]) > 0 && num(fwd[1]) <= 2000, `forwarded ${fwd[1]}`);
  const stack = /^ {2}stack +(\d+)\/(\d+) echo replies received; ARP replies written: (\d+)/m.exec(r.out);
  assert.ok(stack !== null, r.out);
  assert.ok(num(stack[1]) > 0, `echo replies ${stack[1]}`);
  assert.ok(num(stack[3]) > 0, `ARP replies ${stack[3]}`);
  const reuse = /^ {2}reuseport +([\d,]+)\/([\d,]+) echoes from (\d+) instances/m.exec(r.out);
  assert.ok(reuse !== null, r.out);
  assert.ok(num(reuse[1]) > 0, `echoes ${reuse[1]}`);
  assert.match(r.out, /^ {2}cleanup /m);
});

Demo('Ctrl-C during the demo: it cleans up and exits 0', async () => {
  let sent = false;
  const r = await cli(['demo', '--unprivileged', '--packets', '10000000'], 45_000, (out, kill) => {
    if (!sent && out.includes('(1) forwarding')) {
      sent = true;
      kill('SIGINT');
    }
  });
  assert.ok(sent, r.out);
  assert.is(r.code, 0, `exit ${r.code} ${r.signal ?? ''}\n${r.err}\n${r.out}`);
  assert.match(r.out, /interrupted: everything the demo made is removed/);
  assert.not.match(r.out, /^summary$/m);
});

Demo.run();
