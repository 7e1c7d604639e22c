/**
 * The SVG writer: round ticks, log ticks, labels escaped, a well-formed document, points placed where the
 * axes say (linear and log x), dashed baselines, and an empty chart that still draws its axes.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { escapeXml, formatTick, lineChart, logTicks, niceTicks } from '../../../src/workers/index.ts';
import { throwsNetshard } from '../../ring/fixtures/throws.ts';

const Svg = suite('workers/perf/svg');

for (const c of [
  { min: 0, max: 1, want: [0, 0.2, 0.4, 0.6, 0.8, 1] },
  { min: 0, max: 0.197, want: [0, 0.05, 0.1, 0.15, 0.2] },
  { min: 0, max: 7, want: [0, 2, 4, 6, 8] },
  { min: 1, max: 2, want: [1, 1.2, 1.4, 1.6, 1.8, 2] },
  { min: 3, max: 3, want: [3] },
]) {
  Svg(`niceTicks(${c.min}, ${c.max})`, () => assert.equal(niceTicks(c.min, c.max), c.want));
}

Svg('logTicks: decades around the range, at least two', () => {
  assert.equal(logTicks(3, 2500), [1, 10, 100, 1000, 10000]);
  assert.equal(logTicks(10, 10), [10, 100]);
  throwsNetshard(() => logTicks(0, 5), 'ERR_OUT_OF_RANGE', 'logTicks needs 0 < min <= max, received 0, 5');
  throwsNetshard(() => niceTicks(2, 1), 'ERR_OUT_OF_RANGE', 'niceTicks needs finite min <= max, received 2, 1');
});

Svg('formatTick and escapeXml', () => {
  assert.equal([0, 0.05, 1.25, 1234, 2.5e6].map(formatTick), ['0', '0.05', '1.25', '1230', '2.5e+6']);
  assert.is(escapeXml(`a<b & "c" 'd'>`), 'a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;');
});

/** Checks that every element opened is closed in order (self-closing ones count as both). */
function assertWellFormed(svg: string): void {
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-z]+)[^>]*?(\/?)>/g)) {
    if (m[3] === '/') continue;
    if (m[1] === '/') assert.is(stack.pop(), m[2], `</${m[2]}> closes the wrong element`);
    else stack.push(m[2]!);
  }
  assert.equal(stack, [], 'unclosed elements');
  assert.not.match(svg.replace(/&(amp|lt|gt|quot|apos);/g, ''), /&/);
}

Svg('linear chart: points where the axes put them; dashed baselines; escaped names', () => {
  // Plot area: x from 70 to 720 - 210 = 510 px, y from 40 to 420 - 55 = 365 px. x ticks 1..2, y ticks 0..1.
  const svg = lineChart({
    title: 'pps <test>',
    xLabel: 'workers',
    yLabel: 'Mpps',
    xTicks: [1, 2],
    series: [
      { name: 'netshard & co', points: [{ x: 1, y: 0 }, { x: 2, y: 1 }] },
      { name: 'kernel', points: [{ x: 1, y: 0.5 }, { x: 2, y: 0.5 }], dashed: true },
    ],
  });
  assertWellFormed(svg);
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  assert.match(svg, '<polyline fill="none" stroke="#0072B2" stroke-width="2" points="70.0,365.0 510.0,40.0"/>');
  assert.match(svg, 'stroke-dasharray="6 4" points="70.0,202.5 510.0,202.5"/>');
  assert.match(svg, '>pps &lt;test&gt;</text>');
  assert.match(svg, '>netshard &amp; co</text>');
});

Svg('log chart: decades evenly spaced; non-positive x skipped', () => {
  // Decade ticks 1, 10, 100: 1 at 70 px, 10 at 290 px, 100 at 510 px.
  const svg = lineChart({
    title: 'cdf',
    xLabel: 'us',
    yLabel: 'fraction',
    xScale: 'log',
    series: [{ name: 'a', points: [{ x: 0, y: 0 }, { x: 1, y: 0 }, { x: 10, y: 0.5 }, { x: 100, y: 1 }] }],
  });
  assertWellFormed(svg);
  assert.match(svg, 'points="70.0,365.0 290.0,202.5 510.0,40.0"');
  assert.is([...svg.matchAll(/<circle /g)].length, 3, 'the point at x = 0 is not drawn');
});

Svg('no data: axes and a note', () => {
  const svg = lineChart({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 'empty', points: [] }] });
  assertWellFormed(svg);
  assert.match(svg, '>no data</text>');
  assert.not.match(svg, '<polyline');
});

Svg.run();
