/**
 * `netshard bench` through the real CLI (src/main.ts): listed in `--help`, its own help on stdout with exit
 * 0, a bad option as one stderr line with exit 2, and without root one line saying so with exit 1 (as root
 * the CLI is run as nobody, uid 65534).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type SpawnOptions } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../../../src/main.ts', import.meta.url));
const Cli = suite('workers/perf/cli');

/** Runs the CLI with `args` (killed after 20 s) and returns its exit code and output. */
function cli(args: readonly string[], options: SpawnOptions = {}): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout!.on('data', (d: Buffer) => void (out += d.toString()));
    p.stderr!.on('data', (d: Buffer) => void (err += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), 20_000);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

Cli('help: listed in netshard --help; bench --help and help bench print its usage, exit 0', async () => {
  const [top, own, topic] = await Promise.all([cli(['--help']), cli(['bench', '--help']), cli(['help', 'bench'])]);
  for (const r of [top, own, topic]) {
    assert.is(r.code, 0, r.err);
    assert.is(r.err, '');
  }
  assert.match(top.out, /^ {2}bench +the forwarding matrix/m);
  assert.ok(own.out.startsWith('Usage: netshard bench [options]\n'), own.out.slice(0, 60));
  assert.is(topic.out, own.out);
});

const BAD = [
  { args: ['bench', '--runs', '0'], err: "netshard bench: --runs must be an integer from 1 to 100, received '0'\n" },
  { args: ['bench', '--modes', 'xdp'], err: "netshard bench: --modes must be a comma-separated list of readv, recvmmsg, mmap, received 'xdp'\n" },
  { args: ['bench', '--turbo'], err: "netshard bench: unknown option '--turbo'\n" },
];

Cli('bad options: exit 2, one line on stderr, nothing on stdout', async () => {
  const results = await Promise.all(BAD.map((c) => cli(c.args)));
  BAD.forEach((c, i) => {
    const r = results[i]!;
    assert.is(r.code, 2, c.args.join(' '));
    assert.is(r.err, c.err);
    assert.is(r.out, '', c.args.join(' '));
  });
});

Cli('without root: exit 1, one line', async () => {
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  // Under c8, NODE_V8_COVERAGE points at a folder nobody may not write: give the child one it can.
  const coverage = mkdtempSync(join(tmpdir(), 'netshard-cov-'));
  chmodSync(coverage, 0o777);
  try {
    const env = { ...process.env, NODE_V8_COVERAGE: coverage };
    const r = await cli(['bench', '--quick', '--out', join(coverage, 'never')], root ? { uid: 65534, gid: 65534, env } : {});
    assert.is(r.code, 1, r.err);
    assert.is(r.err, 'netshard bench: needs root (CAP_NET_ADMIN) to build its network namespaces: run it as root\n');
    assert.is(r.out, '');
  } finally {
    rmSync(coverage, { recursive: true, force: true });
  }
});

Cli.run();
