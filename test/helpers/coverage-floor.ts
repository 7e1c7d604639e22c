/**
 * Enforces the coverage floor per folder from c8's json-summary (coverage/coverage-summary.json):
 * each folder named on the command line as `path=percent` must reach that share of lines.
 * Usage: tsx test/helpers/coverage-floor.ts src/tcpip=90 src/ports=90
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

interface Totals { lines: { total: number; covered: number } }
const summary = JSON.parse(readFileSync('coverage/coverage-summary.json', 'utf8')) as Record<string, Totals>;
let failed = false;
for (const arg of process.argv.slice(2)) {
  const [folder = '', floorText = ''] = arg.split('=');
  const floor = Number(floorText);
  let total = 0;
  let covered = 0;
  for (const [file, t] of Object.entries(summary)) {
    if (file === 'total') continue;
    const rel = relative(process.cwd(), file);
    if (!rel.startsWith(folder + '/')) continue;
    total += t.lines.total;
    covered += t.lines.covered;
  }
  const pct = total === 0 ? 0 : (100 * covered) / total;
  const ok = total > 0 && pct >= floor;
  if (!ok) failed = true;
  console.log(`coverage ${folder}: ${pct.toFixed(2)}% of ${total} lines (floor ${floor}%) ${ok ? 'ok' : 'FAIL'}`);
}
process.exit(failed ? 1 : 0);
