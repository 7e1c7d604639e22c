/**
 * Terminal text for `netshard bench`: a column-aligned table and a progress bar.
 *
 * Thread: any. Control path (pure functions of their arguments; the runner prints).
 */

/** Left- or right-aligned column. */
export type Align = 'left' | 'right';

/**
 * Returns `rows` under `header` as lines, each column as wide as its widest cell, two spaces apart;
 * `align[c]` (default: first column left, the rest right) aligns column `c`. A row shorter than the header
 * is padded with empty cells.
 */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[], align: readonly Align[] = []): string[] {
  const all = [header, ...rows];
  const widths = header.map((_, c) => Math.max(...all.map((row) => (row[c] ?? '').length)));
  return all.map((row) =>
    header
      .map((_, c) => {
        const cell = row[c] ?? '';
        const a = align[c] ?? (c === 0 ? 'left' : 'right');
        return a === 'left' ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!);
      })
      .join('  ')
      .trimEnd(),
  );
}

/**
 * Returns `[#####.....]  done/total` with `width` cells, `done` clamped to 0..total. A total of 0 draws an
 * empty bar.
 */
export function progressBar(done: number, total: number, width = 30): string {
  const d = Math.max(0, Math.min(done, total));
  const filled = total > 0 ? Math.round((d / total) * width) : 0;
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${d}/${total}`;
}

/** Formats a rate in packets per second as Mpps with 3 decimals (`0.215`). */
export function formatMpps(pps: number): string {
  return Number.isFinite(pps) ? (pps / 1e6).toFixed(3) : '-';
}

/** Formats a ratio as `0.92x`; '-' when it is not finite (no baseline). */
export function formatRatio(ratio: number | null): string {
  return ratio !== null && Number.isFinite(ratio) ? `${ratio.toFixed(2)}x` : '-';
}

/** Formats a fraction 0..1 as a percentage with one decimal (`12.5%`). */
export function formatPercent(fraction: number): string {
  return Number.isFinite(fraction) ? `${(fraction * 100).toFixed(1)}%` : '-';
}

/** Formats a number with `digits` significant digits at most, no exponent below 1e6 ('-' when not finite). */
export function formatNumber(n: number | null, digits = 3): string {
  if (n === null || !Number.isFinite(n)) return '-';
  if (n === 0) return '0';
  if (Math.abs(n) >= 10 ** digits) return String(Math.round(n));
  return String(Number(n.toPrecision(digits)));
}
