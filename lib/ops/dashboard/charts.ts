/**
 * Charts drawn as inline SVG, on the server (no script, no library, nothing from elsewhere): a
 * line chart of series over time buckets, and the attempts timeline of a job. Colours come from
 * classes in the style sheet (the content-security policy forbids inline styles). Every point
 * carries its bucket and value in `data-at` and `data-value`, and a `<title>` tooltip.
 */
import type { AttemptDetail } from '../management';
import { esc, fmtMs } from './html';

/** One line: a value per bucket (null: nothing to show there, e.g. no wait measured). */
export interface ChartSeries {
  name: string;
  values: (number | null)[];
}

/** What `lineChart` draws. */
export interface LineChartSpec {
  /** Element ID of the figure (it is refreshed by that ID). */
  id: string;
  title: string;
  /** How values read: counts, or durations in ms. */
  unit: 'count' | 'ms';
  /** Start of each bucket. */
  starts: Date[];
  bucketMs: number;
  series: ChartSeries[];
  /** Size of the drawing (its aspect; it is scaled to the page's width). Default 720 x 190. */
  width?: number;
  height?: number;
}

/** Series colours (classes s0..s7 in the style sheet). */
export const CHART_COLOURS = 8;
const WIDTH = 720;
const HEIGHT = 190;
const LEFT = 54;
const RIGHT = 12;
const TOP = 10;
const BOTTOM = 24;

/** The smallest of 1, 2, 5 x 10^k at or above `v` (at least 1). */
export function niceCeiling(v: number): number {
  if (!(v > 1)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/** A count for an axis or tooltip: `12`, `3.5`, `12.3k`. */
export function fmtCount(v: number): string {
  if (Math.abs(v) >= 10_000) return `${Math.round(v / 100) / 10}k`;
  return String(Math.round(v * 10) / 10);
}

function fmtValue(unit: LineChartSpec['unit'], v: number): string {
  return unit === 'ms' ? fmtMs(v) : fmtCount(v);
}

/** A bucket's time for labels: `14:05` within a day, `12-24 14:00` beyond (UTC). */
function fmtTick(d: Date, spanMs: number): string {
  const iso = d.toISOString();
  return spanMs <= 86_400_000 ? iso.slice(11, 16) : `${iso.slice(5, 10)} ${iso.slice(11, 16)}`;
}

/** `1 min`, `15 min`, `2 h`, `1 d`: the width of a bucket. */
export function fmtBucket(ms: number): string {
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`;
  if (ms < 86_400_000) return `${Math.round(ms / 3_600_000)} h`;
  return `${Math.round(ms / 86_400_000)} d`;
}

/** Runs of consecutive non-null points, as SVG `points` lists. */
function segments(xs: number[], ys: (number | null)[]): string[] {
  const out: string[] = [];
  let run: string[] = [];
  ys.forEach((y, i) => {
    if (y === null) {
      if (run.length > 0) out.push(run.join(' '));
      run = [];
    } else {
      run.push(`${xs[i].toFixed(1)},${y.toFixed(1)}`);
    }
  });
  if (run.length > 0) out.push(run.join(' '));
  return out;
}

/** Where things go in a chart's drawing. */
interface Frame {
  W: number;
  H: number;
  n: number;
  maxY: number;
  x: (i: number) => number;
  y: (v: number) => number;
}

function frameOf(spec: LineChartSpec, values: number[]): Frame {
  const W = spec.width ?? WIDTH;
  const H = spec.height ?? HEIGHT;
  const n = Math.max(1, spec.starts.length);
  const maxY = niceCeiling(Math.max(0, ...values));
  const plotH = H - TOP - BOTTOM;
  return {
    W,
    H,
    n,
    maxY,
    x: (i) => LEFT + ((i + 0.5) * (W - LEFT - RIGHT)) / n,
    y: (v) => TOP + plotH * (1 - v / maxY),
  };
}

/** Grid lines with their values, and three time labels (first, middle and last bucket). */
function axes(spec: LineChartSpec, f: Frame): string {
  const grid = [0, f.maxY / 2, f.maxY]
    .map(
      (v) =>
        `<line class="grid" x1="${LEFT}" x2="${f.W - RIGHT}" y1="${f.y(v).toFixed(1)}" y2="${f.y(v).toFixed(1)}"/>` +
        `<text class="axis" x="${LEFT - 6}" y="${(f.y(v) + 4).toFixed(1)}" text-anchor="end">${esc(fmtValue(spec.unit, v))}</text>`,
    )
    .join('');
  const span = spec.bucketMs * f.n;
  const ticks = [0, Math.floor((f.n - 1) / 2), f.n - 1]
    .filter((i, k, a) => i >= 0 && a.indexOf(i) === k && spec.starts[i])
    .map(
      (i) =>
        `<text class="axis" x="${f.x(i).toFixed(1)}" y="${f.H - 6}" text-anchor="middle">${esc(fmtTick(spec.starts[i], span))}</text>`,
    )
    .join('');
  return grid + ticks;
}

/** One series: its line (broken where a value is null) and a point per bucket with a tooltip. */
function seriesLine(spec: LineChartSpec, f: Frame, s: ChartSeries, k: number): string {
  const xs = spec.starts.map((_, i) => f.x(i));
  const ys = s.values.map((v) => (v === null ? null : f.y(v)));
  const polylines = segments(xs, ys)
    .map((p) => `<polyline points="${p}"/>`)
    .join('');
  const dots = s.values
    .map((v, i) => {
      if (v === null) return '';
      const tip = `${s.name} · ${fmtTick(spec.starts[i], Infinity)}: ${fmtValue(spec.unit, v)}`;
      return `<circle${v > 0 ? ' class="on"' : ''} cx="${xs[i].toFixed(1)}" cy="${f.y(v).toFixed(1)}" r="3" data-at="${esc(spec.starts[i].toISOString())}" data-value="${esc(v)}"><title>${esc(tip)}</title></circle>`;
    })
    .join('');
  return `<g class="series s${k % CHART_COLOURS}" data-series="${esc(s.name)}">${polylines}${dots}</g>`;
}

/** A line chart of `spec.series` over `spec.starts`, with axes, tooltips and a legend. */
export function lineChart(spec: LineChartSpec): string {
  const values = spec.series.flatMap((s) => s.values.filter((v): v is number => v !== null));
  const f = frameOf(spec, values);
  const lines = spec.series.map((s, k) => seriesLine(spec, f, s, k)).join('');
  const legend = spec.series
    .map((s, k) => `<li><span class="swatch s${k % CHART_COLOURS}"></span>${esc(s.name)}</li>`)
    .join('');
  const empty =
    values.length === 0
      ? `<text class="axis" x="${(f.W + LEFT - RIGHT) / 2}" y="${(f.H + TOP - BOTTOM) / 2}" text-anchor="middle">no data in this window</text>`
      : '';
  return `<figure class="chart" id="${esc(spec.id)}" data-fragment>
<figcaption>${esc(spec.title)}</figcaption>
<svg viewBox="0 0 ${f.W} ${f.H}" role="img" aria-label="${esc(spec.title)}" data-max="${esc(f.maxY)}">${axes(spec, f)}${lines}${empty}</svg>
<ul class="legend">${legend}</ul>
</figure>`;
}

/** The attempts of a job on one time axis: waiting (ready to start), then running, per attempt. */
export function attemptsTimeline(attempts: AttemptDetail[], now: Date): string {
  const ready = (a: AttemptDetail) =>
    a.start && a.waitMs !== null ? a.start.getTime() - a.waitMs : (a.created?.getTime() ?? null);
  const times = attempts.flatMap((a) => [ready(a), a.start?.getTime(), a.end?.getTime()]);
  const known = times.filter((t): t is number => typeof t === 'number');
  if (known.length === 0)
    return '<p class="muted" id="timeline" data-fragment>No times recorded.</p>';
  const running = attempts.some((a) => a.start && !a.end);
  const t0 = Math.min(...known);
  const t1 = Math.max(...known, running ? now.getTime() : t0 + 1);
  const row = 22;
  const height = attempts.length * row + 26;
  const W = WIDTH;
  const left = 44;
  const width = W - left - RIGHT;
  const x = (t: number) => left + ((t - t0) / Math.max(1, t1 - t0)) * width;
  const bars = attempts
    .map((a, i) => {
      const top = 6 + i * row;
      const r = ready(a);
      const start = a.start?.getTime();
      const end = a.end?.getTime() ?? (start !== undefined ? now.getTime() : undefined);
      const label = `<text class="axis" x="${left - 6}" y="${top + 13}" text-anchor="end">#${esc(a.attempt)}</text>`;
      const wait =
        r !== null && (start ?? now.getTime()) > r
          ? `<rect class="wait" x="${x(r).toFixed(1)}" y="${top + 4}" width="${Math.max(1, x(start ?? now.getTime()) - x(r)).toFixed(1)}" height="10" data-kind="wait"><title>${esc(`attempt ${a.attempt} waited ${fmtMs((start ?? now.getTime()) - r)}`)}</title></rect>`
          : '';
      const run =
        start !== undefined && end !== undefined
          ? `<rect class="run state-${esc(a.state)}" x="${x(start).toFixed(1)}" y="${top}" width="${Math.max(2, x(end) - x(start)).toFixed(1)}" height="18" data-kind="run" data-state="${esc(a.state)}"><title>${esc(`attempt ${a.attempt} ${a.state}: ran ${fmtMs(end - start)}`)}</title></rect>`
          : '';
      return `<g data-attempt="${esc(a.attempt)}">${label}${wait}${run}</g>`;
    })
    .join('');
  const axis = `<text class="axis" x="${left}" y="${height - 4}">${esc(new Date(t0).toISOString().slice(0, 19).replace('T', ' '))}</text><text class="axis" x="${W - RIGHT}" y="${height - 4}" text-anchor="end">+${esc(fmtMs(t1 - t0))}</text>`;
  return `<svg id="timeline" class="timeline" data-fragment viewBox="0 0 ${W} ${height}" role="img" aria-label="attempts timeline">${bars}${axis}</svg>`;
}
