/**
 * The dependency rule of src/: arrows only point down, other folders come in through their index.ts,
 * and only fdbased/syscalls.ts imports koffi. The allowed edges are the table below.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../src');

/** Which folders each part of src/ may import. Top-level files are `.`; `.` is importable by everyone. */
const ALLOWED: Record<string, readonly string[]> = {
  main: ['workers', 'fdbased', 'ring', 'ports', 'tcpip'],
  workers: ['fdbased', 'ring', 'ports', 'tcpip'],
  fdbased: ['ring', 'tcpip'],
  ports: ['tcpip'],
  ring: [],
  tcpip: [],
  '.': [],
};
/** Top-level files that may import only node builtins. */
const LEAVES = new Set(['errors.ts', 'validate.ts', 'spawn-worker.ts']);

function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path, out);
    else if (name.endsWith('.ts')) out.push(path);
  }
  return out;
}

function partOf(file: string): string {
  const rel = relative(SRC, file);
  if (rel === 'main.ts' || rel === 'index.ts') return 'main'; // the two entry points: CLI and package
  const first = rel.split('/')[0] ?? '';
  return rel.includes('/') ? first : '.';
}

const IMPORT = /^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm;

const Layering = suite('layering');

Layering('src/ imports follow the allowed edges', () => {
  const problems: string[] = [];
  for (const file of walk(SRC)) {
    const text = readFileSync(file, 'utf8');
    const from = partOf(file);
    const rel = relative(SRC, file);
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[1] ?? m[2] ?? m[3] ?? '';
      if (spec === 'koffi') {
        if (rel !== 'fdbased/syscalls.ts') problems.push(`${rel}: only fdbased/syscalls.ts may import koffi`);
        continue;
      }
      if (!spec.startsWith('.')) continue; // node builtins and packages
      const target = resolve(dirname(file), spec);
      const to = partOf(target);
      if (to === from) continue;
      if (to === 'main') { problems.push(`${rel}: nothing imports the entry points (main.ts, index.ts)`); continue; }
      if (from === '.' && LEAVES.has(rel)) { problems.push(`${rel}: a leaf file imports ${spec}`); continue; }
      if (to === '.') continue;
      if (!(ALLOWED[from] ?? []).includes(to)) { problems.push(`${rel}: ${from} may not import ${to} (${spec})`); continue; }
      if (relative(join(SRC, to), target) !== 'index.ts') problems.push(`${rel}: import ${to} through ${to}/index.ts, not ${spec}`);
    }
  }
  assert.equal(problems, [], problems.join('\n'));
});

Layering.run();
