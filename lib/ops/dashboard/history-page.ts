/**
 * The history page: throughput, failures and queue wait over the last hour, day or week, one
 * line per queue (or per job type of a queue), from the rollups the workers keep (read through
 * `Management.history`), with the window's totals below; and the overview's last-hour chart.
 */
import type { History, HistoryFigures, HistorySeries } from '../management';
import { fmtBucket, fmtCount, lineChart, type ChartSeries } from './charts';
import { esc, fmtMs, layout, query, type PageFrame } from './html';
import type { Rendered } from './pages';

/** Windows the page offers, by query value. */
export const HISTORY_WINDOWS: Readonly<Record<string, number>> = {
  '1h': 3_600_000,
  '6h': 6 * 3_600_000,
  '1d': 86_400_000,
  '7d': 7 * 86_400_000,
};
export const HISTORY_WINDOW_DEFAULT = '1h';
/** Lines drawn per chart; the smaller series are summed into one "other" line. */
export const HISTORY_SERIES_MAX = 6;

/** What the history page shows. */
export interface HistoryView {
  window: string;
  queue?: string;
  type?: string;
  history: History;
  queueNames: string[];
}

const COUNTERS = ['started', 'completed', 'failed', 'retried', 'aborted', 'expired'] as const;

/** The name a series goes by in legends and tables. */
function seriesName(s: HistorySeries, byQueue: boolean): string {
  return byQueue || s.type === undefined ? s.queue : `${s.queue} / ${s.type}`;
}

/** Sums series into one (counters and sums added, maxima kept, averages recomputed). */
function merged(name: string, list: HistorySeries[]): HistorySeries {
  const sum = (a: HistoryFigures, b: HistoryFigures): HistoryFigures => {
    const out = { ...a };
    for (const f of COUNTERS) out[f] += b[f];
    out.waitSumMs += b.waitSumMs;
    out.runCount += b.runCount;
    out.runSumMs += b.runSumMs;
    out.waitMaxMs = Math.max(a.waitMaxMs, b.waitMaxMs);
    out.runMaxMs = Math.max(a.runMaxMs, b.runMaxMs);
    out.waitAvgMs = out.started > 0 ? out.waitSumMs / out.started : null;
    out.runAvgMs = out.runCount > 0 ? out.runSumMs / out.runCount : null;
    return out;
  };
  const [first, ...rest] = list;
  return {
    queue: name,
    points: first.points.map((p, i) =>
      rest.reduce((acc, s) => ({ ...sum(acc, s.points[i]), at: p.at }), p),
    ),
    totals: rest.reduce((acc, s) => sum(acc, s.totals), first.totals),
  };
}

/** The busiest series (by attempts started and outcomes), the rest summed as "other". */
export function topSeries(history: History): { name: string; series: HistorySeries }[] {
  const byQueue = history.series.every((s) => s.type === undefined);
  const volume = (s: HistorySeries) => s.totals.started + s.totals.completed + s.totals.failed;
  const ranked = [...history.series].sort((a, b) => volume(b) - volume(a));
  const keep =
    ranked.length > HISTORY_SERIES_MAX ? ranked.slice(0, HISTORY_SERIES_MAX - 1) : ranked;
  const rest = ranked.slice(keep.length);
  // Back in name order, so that a series keeps its colour from one refresh to the next.
  const out = history.series
    .filter((s) => keep.includes(s))
    .map((s) => ({ name: seriesName(s, byQueue), series: s }));
  if (rest.length > 0) out.push({ name: `${rest.length} more`, series: merged('other', rest) });
  return out;
}

/** The three charts of a history: completed, failed and average queue wait per bucket. */
export function historyCharts(history: History): string {
  const lines = topSeries(history);
  const starts = history.points.map((p) => p.at);
  const per = fmtBucket(history.bucketMs);
  const chart = (
    id: string,
    title: string,
    unit: 'count' | 'ms',
    pick: (f: HistoryFigures) => number | null,
  ) =>
    lineChart({
      id,
      title,
      unit,
      starts,
      bucketMs: history.bucketMs,
      series: lines.map((l): ChartSeries => ({ name: l.name, values: l.series.points.map(pick) })),
    });
  return [
    chart('chart-throughput', `Throughput: jobs completed per ${per}`, 'count', (p) => p.completed),
    chart(
      'chart-failures',
      `Failures: jobs failed (no retry left) per ${per}`,
      'count',
      (p) => p.failed,
    ),
    chart(
      'chart-wait',
      `Queue wait: average from due to start, per ${per}`,
      'ms',
      (p) => p.waitAvgMs,
    ),
  ].join('\n');
}

/** The overview's chart: completed and failed per minute over the last hour, all queues. */
export function overviewChart(history: History): string {
  const starts = history.points.map((p) => p.at);
  return lineChart({
    id: 'chart-overview',
    title: `Last hour: jobs completed and failed per ${fmtBucket(history.bucketMs)}, all queues`,
    unit: 'count',
    starts,
    bucketMs: history.bucketMs,
    width: 1240,
    height: 170,
    series: [
      { name: 'completed', values: history.points.map((p) => p.completed) },
      { name: 'failed', values: history.points.map((p) => p.failed) },
    ],
  });
}

function totalsRow(
  base: string,
  view: HistoryView,
  name: string,
  s: HistorySeries,
  minutes: number,
): string {
  const t = s.totals;
  const link =
    s.type === undefined && view.queue === undefined
      ? `<a href="${esc(`${base}/history${query({ window: view.window, queue: s.queue })}`)}">${esc(name)}</a>`
      : esc(name);
  const n = (v: number) => `<td class="num${v === 0 ? ' zero' : ''}">${esc(fmtCount(v))}</td>`;
  return `<tr data-series="${esc(name)}"><td>${link}</td>${COUNTERS.map((f) => n(t[f])).join('')}
${n(t.completed / minutes)}${n(t.failed / minutes)}
<td class="num">${esc(fmtMs(t.waitAvgMs))}</td><td class="num">${esc(t.started > 0 ? fmtMs(t.waitMaxMs) : '—')}</td>
<td class="num">${esc(fmtMs(t.runAvgMs))}</td><td class="num">${esc(t.runCount > 0 ? fmtMs(t.runMaxMs) : '—')}</td></tr>`;
}

/** The history page. */
export function historyPage(frame: PageFrame, view: HistoryView): Rendered {
  const base = frame.base;
  const h = view.history;
  const filters = { queue: view.queue, type: view.type };
  const tabs = Object.keys(HISTORY_WINDOWS)
    .map(
      (w) =>
        `<a href="${esc(`${base}/history${query({ window: w, ...filters })}`)}"${w === view.window ? ' aria-current="page"' : ''}>last ${w}</a>`,
    )
    .join('\n');
  const option = (v: string, label: string) =>
    `<option value="${esc(v)}"${v === (view.queue ?? '') ? ' selected' : ''}>${esc(label)}</option>`;
  const form = `<form class="filters" method="get" action="${esc(`${base}/history`)}">
<input type="hidden" name="window" value="${esc(view.window)}">
<label>Queue <select name="queue">${option('', 'all')}${view.queueNames.map((q) => option(q, q)).join('')}</select></label>
<label>Type <input name="type" value="${esc(view.type ?? '')}" placeholder="any" autocomplete="off"></label>
<button type="submit" class="btn primary">Show</button>
<a class="btn" href="${esc(`${base}/history${query({ window: view.window })}`)}">All queues</a>
</form>`;
  const minutes = Math.max(1, (h.to.getTime() - h.from.getTime()) / 60_000);
  const byQueue = h.series.every((s) => s.type === undefined);
  const rows = h.series
    .map((s) => totalsRow(base, view, seriesName(s, byQueue), s, minutes))
    .join('\n');
  const head = COUNTERS.map((c) => `<th class="num">${c}</th>`).join('');
  const scope = view.type
    ? `job type ${view.type}${view.queue ? ` in ${view.queue}` : ''}`
    : view.queue
      ? `queue ${view.queue}, by job type`
      : 'all queues, by queue';
  const body = `<h1>History</h1>
<nav class="tabs">
${tabs}
</nav>
${form}
<p class="muted" id="history-scope" data-fragment>${esc(scope)}: ${esc(h.from.toISOString().slice(0, 16).replace('T', ' '))} to ${esc(h.to.toISOString().slice(0, 16).replace('T', ' '))} UTC, one point per ${esc(fmtBucket(h.bucketMs))}. Counted by the workers, flushed every few seconds.</p>
<section class="charts">
${historyCharts(h)}
</section>
<h2>Totals over the window</h2>
<table class="grid" id="history-totals" data-fragment>
<thead><tr><th>${byQueue ? 'Queue' : 'Job type'}</th>${head}<th class="num">done/min</th><th class="num">failed/min</th><th class="num">avg wait</th><th class="num">max wait</th><th class="num">avg run</th><th class="num">max run</th></tr></thead>
<tbody>
${rows || `<tr class="empty"><td colspan="13">Nothing ran in this window.</td></tr>`}
</tbody>
</table>`;
  return { status: 200, html: layout(frame, 'history', 'History', body) };
}
