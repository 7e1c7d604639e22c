/**
 * Builds the C programs of `bench/baselines/` (generator, sink, C forwarder) with gcc, at bench time, into a
 * cache directory: `$NETSHARD_CACHE_DIR`, else `$XDG_CACHE_HOME/netshard/baselines`, else
 * `~/.cache/netshard/baselines`; when none is writable, a fresh directory under the OS temp dir. A binary's
 * name carries a hash of its source, flags and gcc version, so a changed source is always rebuilt and the
 * package directory (maybe read-only) is never written.
 *
 * Thread: main. Control path (synchronous: spawns gcc).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NetshardError } from '../../errors.ts';

/** The C programs the bench builds, with their extra gcc flags. */
export const BASELINE_PROGRAMS = {
  'flow-gen': [],
  'flow-sink': [],
  'packet-fwd': ['-pthread'],
} as const satisfies Record<string, readonly string[]>;
/** A name of `BASELINE_PROGRAMS`. */
export type BaselineProgram = keyof typeof BASELINE_PROGRAMS;

/**
 * Returns the `bench/baselines` directory of this package: walks up from this file (src/workers/perf in a
 * checkout, dist/src/workers/perf once built) to the first directory holding `bench/baselines/packet-fwd.c`.
 * Throws ERR_NETSHARD_BENCH when there is none.
 */
export function findBaselinesDir(from: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (;;) {
    const candidate = join(dir, 'bench', 'baselines');
    if (existsSync(join(candidate, 'packet-fwd.c'))) return candidate;
    const up = dirname(dir);
    if (up === dir) throw new NetshardError('ERR_NETSHARD_BENCH', `no bench/baselines/packet-fwd.c above ${from}: the package is incomplete`);
    dir = up;
  }
}

function writable(dir: string): boolean {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** Returns a writable cache directory for compiled baselines (see the file comment), creating it. */
export function baselineCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const candidates = [
    env['NETSHARD_CACHE_DIR'],
    env['XDG_CACHE_HOME'] === undefined || env['XDG_CACHE_HOME'] === '' ? undefined : join(env['XDG_CACHE_HOME'], 'netshard', 'baselines'),
    join(homedir(), '.cache', 'netshard', 'baselines'),
  ];
  for (const dir of candidates) if (dir !== undefined && dir !== '' && writable(dir)) return dir;
  return mkdtempSync(join(tmpdir(), 'netshard-baselines-'));
}

/** Returns `gcc --version`'s first line; throws ERR_NETSHARD_BENCH (one line) when gcc cannot be run. */
export function gccVersion(): string {
  try {
    return execFileSync('gcc', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0] ?? '';
  } catch {
    throw new NetshardError('ERR_NETSHARD_BENCH', 'gcc is needed to build the C baselines (bench/baselines) and was not found');
  }
}

/**
 * Compiles `<sourceDir>/<name>.c` with `gcc -O2 -Wall -Wextra` and the program's flags into `cacheDir`
 * unless a binary of the same source, flags and gcc is there already, and returns the binary's path. Writes
 * a temporary file and renames it into place, so a concurrent bench never runs a half-written binary.
 * Throws ERR_NETSHARD_BENCH with gcc's first error line when the compile fails.
 */
export function compileBaseline(name: BaselineProgram, cacheDir: string, sourceDir: string = findBaselinesDir(), gcc: string = gccVersion()): string {
  const source = join(sourceDir, `${name}.c`);
  const flags = ['-O2', '-Wall', '-Wextra', ...BASELINE_PROGRAMS[name]];
  const hash = createHash('sha256').update(readFileSync(source)).update(flags.join(' ')).update(gcc).digest('hex').slice(0, 16);
  const binary = join(cacheDir, `${name}-${hash}`);
  if (existsSync(binary)) return binary;
  const temporary = `${binary}.tmp-${process.pid}`;
  try {
    execFileSync('gcc', [...flags, '-o', temporary, source], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
    renameSync(temporary, binary);
  } catch (err) {
    rmSync(temporary, { force: true });
    const stderr = (err as { stderr?: string }).stderr ?? String(err);
    const first = stderr.split('\n').find((l) => l.includes('error')) ?? stderr.split('\n')[0] ?? '';
    throw new NetshardError('ERR_NETSHARD_BENCH', `gcc failed for ${source}: ${first}`, { cause: err });
  }
  return binary;
}
