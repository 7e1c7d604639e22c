/**
 * A small SVG line-chart writer for `netshard bench`'s plots (pps vs workers, latency CDF): axes with round
 * ticks, a linear or log10 x axis, one polyline per series (solid or dashed, with point markers), a legend.
 * Plain strings, no dependency; the output is a standalone SVG 1.1 document.
 *
 * Thread: any. Control path.
 */
import { NetshardError } from '../../errors.ts';

/** One line of a chart. */
export interface ChartSeries {
  /** Legend label. */
  name: string;
  /** Points in data units; drawn in the order given. Points with a non-finite or (log axis) non-positive x are skipped. */
  points: readonly { x: number; y: number }[];
  /** Dashed line (the baselines). Default false. */
  dashed?: boolean;
}

/** What `lineChart` draws. */
export interface LineChart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly ChartSeries[];
  /** 'log' puts x on a log10 scale (latency). Default 'linear'. */
  xScale?: 'linear' | 'log';
  /** Tick values for x instead of computed ones (e.g. the worker counts). */
  xTicks?: readonly number[];
  /** Width and height in px. Default 720 x 420. */
  width?: number;
  height?: number;
}

/** Line colours, in series order (Okabe-Ito, readable by colour-blind readers). */
export const SERIES_COLOURS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#F0E442'] as const;

/** Escapes `& < > " '` for SVG text and attribute values. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/**
 * Returns about `count` round tick values (steps of 1, 2 or 5 times a power of ten) covering [min, max].
 * Returns [min] when min === max. Throws ERR_OUT_OF_RANGE when min > max or either is not finite.
 */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max) || min > max) throw new NetshardError('ERR_OUT_OF_RANGE', `niceTicks needs finite min <= max, received ${min}, ${max}`);
  if (min === max) return [min];
  const rough = (max - min) / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough) ?? 10 * power;
  const first = Math.floor(min / step + 1e-9);
  const last = Math.ceil(max / step - 1e-9);
  const ticks: number[] = [];
  for (let i = first; i <= last; i++) ticks.push(Number((i * step).toPrecision(12)));
  return ticks;
}

/** Returns the powers of ten from below `min` to above `max` (both > 0): log-axis ticks. */
export function logTicks(min: number, max: number): number[] {
  if (!(min > 0) || !(max >= min)) throw new NetshardError('ERR_OUT_OF_RANGE', `logTicks needs 0 < min <= max, received ${min}, ${max}`);
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) ticks.push(Number((10 ** e).toPrecision(12)));
  if (ticks.length === 1) ticks.push(ticks[0]! * 10);
  return ticks;
}

/** Formats a tick label: up to 3 significant digits, no trailing zeros. */
export function formatTick(v: number): string {
  if (v === 0) return '0';
  const abs = Math.abs(v);
  if (abs >= 1e6 || abs < 1e-3) return v.toExponential(1);
  return String(Number(v.toPrecision(3)));
}

/** Returns a standalone SVG document of `chart`. A chart without points gets its axes and a "no data" note. Thread: any. */
export function lineChart(chart: LineChart): string {
  const width = chart.width ?? 720;
  const height = chart.height ?? 420;
  const log = chart.xScale === 'log';
  const margin = { left: 70, right: 210, top: 40, bottom: 55 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const usable = (p: { x: number; y: number }): boolean => Number.isFinite(p.x) && Number.isFinite(p.y) && (!log || p.x > 0);
  const all = chart.series.flatMap((s) => s.points.filter(usable));
  const xs = [...all.map((p) => p.x), ...(chart.xTicks ?? [])];
  const ys = all.map((p) => p.y);
  let xTicks: number[];
  if (xs.length === 0) xTicks = log ? [1, 10] : [0, 1];
  else if (chart.xTicks !== undefined) xTicks = [...chart.xTicks];
  else xTicks = log ? logTicks(Math.min(...xs), Math.max(...xs)) : niceTicks(Math.min(...xs), Math.max(...xs));
  const yTicks = niceTicks(0, ys.length === 0 ? 1 : Math.max(...ys, 0) || 1);
  let xMin = Math.min(...xTicks);
  let xMax = Math.max(...xTicks);
  if (xMin === xMax) {
    xMin = log ? xMin / 10 : xMin - 1;
    xMax = log ? xMax * 10 : xMax + 1;
  }
  const yMax = Math.max(...yTicks) || 1;
  const tx = (x: number): number => {
    const f = log ? (Math.log10(x) - Math.log10(xMin)) / (Math.log10(xMax) - Math.log10(xMin)) : (x - xMin) / (xMax - xMin);
    return margin.left + f * plotW;
  };
  const ty = (y: number): number => margin.top + plotH - (y / yMax) * plotH;
  const r = (n: number): string => n.toFixed(1);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="${r(width / 2)}" y="22" text-anchor="middle" font-size="15">${escapeXml(chart.title)}</text>`);
  for (const v of yTicks) {
    out.push(`<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${r(ty(v))}" y2="${r(ty(v))}" stroke="#e0e0e0"/>`);
    out.push(`<text x="${margin.left - 6}" y="${r(ty(v) + 4)}" text-anchor="end">${escapeXml(formatTick(v))}</text>`);
  }
  for (const v of xTicks) {
    out.push(`<line x1="${r(tx(v))}" x2="${r(tx(v))}" y1="${margin.top}" y2="${margin.top + plotH}" stroke="#f0f0f0"/>`);
    out.push(`<text x="${r(tx(v))}" y="${margin.top + plotH + 16}" text-anchor="middle">${escapeXml(formatTick(v))}</text>`);
  }
  out.push(`<rect x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#444444"/>`);
  out.push(`<text x="${r(margin.left + plotW / 2)}" y="${height - 12}" text-anchor="middle">${escapeXml(chart.xLabel)}</text>`);
  out.push(`<text x="16" y="${r(margin.top + plotH / 2)}" text-anchor="middle" transform="rotate(-90 16 ${r(margin.top + plotH / 2)})">${escapeXml(chart.yLabel)}</text>`);
  if (all.length === 0) out.push(`<text x="${r(margin.left + plotW / 2)}" y="${r(margin.top + plotH / 2)}" text-anchor="middle" fill="#888888">no data</text>`);
  chart.series.forEach((s, i) => {
    const colour = SERIES_COLOURS[i % SERIES_COLOURS.length]!;
    const pts = s.points.filter(usable);
    const dash = s.dashed === true ? ' stroke-dasharray="6 4"' : '';
    if (pts.length > 1) {
      out.push(`<polyline fill="none" stroke="${colour}" stroke-width="2"${dash} points="${pts.map((p) => `${r(tx(p.x))},${r(ty(p.y))}`).join(' ')}"/>`);
    }
    for (const p of pts) out.push(`<circle cx="${r(tx(p.x))}" cy="${r(ty(p.y))}" r="3" fill="${colour}"/>`);
    const ly = margin.top + 10 + i * 18;
    const lx = margin.left + plotW + 12;
    out.push(`<line x1="${lx}" x2="${lx + 24}" y1="${ly}" y2="${ly}" stroke="${colour}" stroke-width="2"${dash}/>`);
    out.push(`<text x="${lx + 30}" y="${ly + 4}">${escapeXml(s.name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
