/**
 * Compiles the C helpers of `bench/c/` at bench time into `bench/out/` (git-ignored), for any bench that
 * runs a native baseline, sender or receiver next to netshard.
 *
 * Thread: main; control path (synchronous: spawns gcc).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const C_DIR = fileURLToPath(new URL('../c/', import.meta.url));
/** Where compiled helpers go: `bench/out/`. */
export const BENCH_OUT_DIR = fileURLToPath(new URL('../out/', import.meta.url));
const SELF = fileURLToPath(import.meta.url);

function mtime(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return -1;
  }
}

/**
 * Compiles `bench/c/<name>.c` with `gcc -O2 -Wall -Wextra <flags>` into `bench/out/<name>` and returns the
 * binary's absolute path. Skips gcc when the binary is newer than both the source and this file (so pass the
 * same `flags` for a program everywhere). Writes a temporary file and renames it over the old binary, so a
 * bench already running the old one, in this process or another, is not disturbed. Throws gcc's error
 * (stderr in the message) when the compile fails.
 */
export function compileC(name: string, flags: readonly string[] = []): string {
  if (!/^[a-z0-9-]+$/.test(name)) throw new Error(`compileC: bad program name '${name}'`);
  const source = `${C_DIR}${name}.c`;
  const binary = `${BENCH_OUT_DIR}${name}`;
  const built = mtime(binary);
  if (built >= 0 && built > mtime(source) && built > mtime(SELF)) return binary;
  mkdirSync(BENCH_OUT_DIR, { recursive: true });
  const temporary = `${binary}.tmp-${process.pid}`;
  try {
    execFileSync('gcc', ['-O2', '-Wall', '-Wextra', ...flags, '-o', temporary, source], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
    renameSync(temporary, binary);
  } catch (err) {
    rmSync(temporary, { force: true });
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(`gcc failed for bench/c/${name}.c:\n${stderr}`, { cause: err });
  }
  return binary;
}
