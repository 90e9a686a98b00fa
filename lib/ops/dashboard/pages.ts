/**
 * The server-rendered queues overview and message pages (the other pages have modules of their
 * own: jobs-page.ts, job-page.ts, history-page.ts, workers-page.ts). Every value from a job or a
 * request is escaped with `esc`. The page script (assets.ts) re-renders the live regions of the
 * overview from the JSON API.
 */
import type { TypeStats } from '../management';
import type { JobState } from '../../types';
import { esc, fmtMs, layout, query, type PageFrame } from './html';
import type { OverviewData, QueueOverview } from './overview';
import type { WorkerRecord } from '../../store/worker-store';

/** A rendered page and its HTTP status. */
export interface Rendered {
  status: number;
  html: string;
}

/** State columns of the queues table, in order. */
export const QUEUE_COLUMNS: readonly JobState[] = [
  'pending',
  'running',
  'blocked',
  'retrying',
  'completed',
  'failed',
  'aborted',
  'expired',
  'quarantined',
];

function num(n: number, href?: string): string {
  const cls = n === 0 ? 'num zero' : 'num';
  const text = esc(n);
  return `<td class="${cls}">${href && n > 0 ? `<a href="${esc(href)}">${text}</a>` : text}</td>`;
}

function rate(value: number | null): string {
  return value === null ? '—' : esc(value);
}

function rateCell(value: number | null): string {
  return `<td class="num${value ? '' : ' zero'}">${rate(value)}</td>`;
}

function queueRow(base: string, q: QueueOverview): string {
  const jobs = (state?: string) => `${base}/jobs${query({ queue: q.queue, state })}`;
  const paused = q.paused ? ' <span class="badge paused">paused</span>' : '';
  const types = q.pausedTypes.length
    ? ` <span class="badge paused" title="paused job types">${esc(q.pausedTypes.join(', '))}</span>`
    : '';
  const action = q.paused ? 'resume' : 'pause';
  const confirmText = q.paused
    ? `Resume queue ${q.queue}? Its runners start claiming again.`
    : `Pause queue ${q.queue}? No runner claims its jobs until it is resumed.`;
  const cells = QUEUE_COLUMNS.map((s) => num(q[s], jobs(s))).join('');
  return `<tr data-queue="${esc(q.queue)}">
<td><a href="${esc(jobs())}">${esc(q.queue)}</a>${paused}${types}${q.due > 0 ? ` <span class="muted">${esc(q.due)} due</span>` : ''}</td>
${cells}${rateCell(q.completedPerMin)}${rateCell(q.failedPerMin)}
<td><button type="button" class="btn" data-action="${action}" data-queue="${esc(q.queue)}" data-confirm="${esc(confirmText)}">${action === 'pause' ? 'Pause' : 'Resume'}</button></td>
</tr>`;
}

/** A live worker group: where it runs, what holds it (a waiting hook), its queues. */
function workerRow(w: WorkerRecord, at: Date): string {
  const waiting = w.state !== 'ready';
  const since = w.stateSince ? ` for ${fmtMs(at.getTime() - w.stateSince.getTime())}` : '';
  const state = `<span class="badge ${waiting ? 'paused' : 'state-running'}" title="${esc(w.message)}">${esc(w.state)}</span>${waiting ? ` <span class="muted">${esc(w.message)}${esc(since)}</span>` : ''}`;
  const queues = w.queues.map((q) => `${q.name} ${q.running}/${q.workers}`).join(', ');
  return `<tr data-worker="${esc(w._id)}"><td>${esc(w.host)}</td><td class="num">${esc(w.pid)}</td><td>${state}</td><td>${esc(queues)}</td><td>${esc(fmtMs(at.getTime() - w.seenAt.getTime()))} ago</td></tr>`;
}

/** A job type of a queue: counts, and its fuse (pause and resume the type in every process). */
function typeRow(base: string, t: TypeStats, queues: QueueOverview[]): string {
  const paused = queues.find((q) => q.queue === t.queue)?.pausedTypes.includes(t.type) ?? false;
  const action = paused ? 'resume' : 'pause';
  const confirmText = paused
    ? `Resume job type ${t.type} in queue ${t.queue}? Its jobs are claimed again.`
    : `Pause job type ${t.type} in queue ${t.queue}? No runner claims its jobs until it is resumed.`;
  return `<tr data-type="${esc(t.type)}" data-of="${esc(t.queue)}"><td>${esc(t.queue)}</td><td><a href="${esc(`${base}/jobs${query({ queue: t.queue, type: t.type })}`)}">${esc(t.type)}</a>${paused ? ' <span class="badge paused">paused</span>' : ''}</td>
${QUEUE_COLUMNS.map((s) => num(t[s])).join('')}
<td><button type="button" class="btn" data-action="${action}" data-queue="${esc(t.queue)}" data-type="${esc(t.type)}" data-confirm="${esc(confirmText)}">${paused ? 'Resume' : 'Pause'}</button></td></tr>`;
}

/** The queues overview; `chart` is the last hour's chart (history-page.ts). */
export function overviewPage(frame: PageFrame, data: OverviewData, chart = ''): Rendered {
  const base = frame.base;
  const cards = QUEUE_COLUMNS.map(
    (s) =>
      `<a class="card state-${s}" href="${esc(`${base}/jobs?state=${s}`)}"><b data-total="${s}">${esc(data.totals[s])}</b><span>${s}</span></a>`,
  ).join('\n');
  const head = QUEUE_COLUMNS.map((s) => `<th class="num">${s}</th>`).join('');
  const rows = data.queues.map((q) => queueRow(base, q)).join('\n');
  const typeRows = data.types.map((t) => typeRow(base, t, data.queues)).join('\n');
  const t = data.throughput;
  const body = `<h1>Queues</h1>
<section class="cards" id="totals">
${cards}
</section>
<p class="throughput">Throughput: <b data-rate="completedPerMin">${rate(t.completedPerMin)}</b> completed/min
· <b data-rate="failedPerMin">${rate(t.failedPerMin)}</b> failed/min
<span class="muted" data-rate="span">${t.spanMs > 0 ? `over the last ${esc(fmtMs(t.spanMs))}` : 'measuring…'}</span>
· <a href="${esc(`${base}/history`)}">history »</a></p>
${chart}
<table class="grid">
<thead><tr><th>Queue</th>${head}<th class="num">done/min</th><th class="num">failed/min</th><th></th></tr></thead>
<tbody id="queues">
${rows || emptyRow(QUEUE_COLUMNS.length + 4, 'No queues yet.')}
</tbody>
</table>
<h2>Job types</h2>
<table class="grid">
<thead><tr><th>Queue</th><th>Type</th>${head}<th></th></tr></thead>
<tbody id="types">
${typeRows || emptyRow(QUEUE_COLUMNS.length + 3, 'No jobs yet.')}
</tbody>
</table>
<h2>Workers <a class="muted small" href="${esc(`${base}/workers`)}">details »</a></h2>
<table class="grid">
<thead><tr><th>Host</th><th>PID</th><th>State</th><th>Queues (running/workers)</th><th>Seen</th></tr></thead>
<tbody id="workers">
${data.workers.map((w) => workerRow(w, data.at)).join('\n') || emptyRow(5, 'No live workers.')}
</tbody>
</table>`;
  return { status: 200, html: layout(frame, 'overview', 'Queues', body) };
}

export function emptyRow(span: number, text: string): string {
  return `<tr class="empty"><td colspan="${span}">${esc(text)}</td></tr>`;
}

/** A page saying what went wrong (not found, bad request). */
export function messagePage(
  frame: PageFrame,
  status: number,
  title: string,
  text: string,
): Rendered {
  const body = `<h1>${esc(title)}</h1>
<p class="error" role="alert">${esc(text)}</p>
<p><a href="${esc(`${frame.base}/`)}">Back to the queues</a></p>`;
  return { status, html: layout(frame, 'error', title, body) };
}
