/**
 * The server-rendered pages: queues overview, job list, job detail. Every value from a job or a
 * request is escaped with `esc`; the payload is shown as `JSON.stringify` output, escaped. The
 * page script (assets.ts) re-renders the same regions from the JSON API to keep them live.
 */
import type { AttemptDetail, JobDetail, JobPage } from '../management';
import type { JobSummaryDocument } from '../../store/job-store';
import type { JobState } from '../../types';
import {
  esc,
  fmtMs,
  layout,
  query,
  stateBadge,
  STATE_LIST,
  timeCell,
  type PageFrame,
} from './html';
import type { OverviewData, QueueOverview } from './overview';
import type { WorkerRecord } from '../../store/worker-store';
import type { ListQuery } from './params';

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

/** The queues overview. */
export function overviewPage(frame: PageFrame, data: OverviewData): Rendered {
  const base = frame.base;
  const cards = QUEUE_COLUMNS.map(
    (s) =>
      `<a class="card state-${s}" href="${esc(`${base}/jobs?state=${s}`)}"><b data-total="${s}">${esc(data.totals[s])}</b><span>${s}</span></a>`,
  ).join('\n');
  const head = QUEUE_COLUMNS.map((s) => `<th class="num">${s}</th>`).join('');
  const rows = data.queues.map((q) => queueRow(base, q)).join('\n');
  const typeRows = data.types
    .map(
      (
        t,
      ) => `<tr><td>${esc(t.queue)}</td><td><a href="${esc(`${base}/jobs${query({ queue: t.queue, type: t.type })}`)}">${esc(t.type)}</a></td>
${QUEUE_COLUMNS.map((s) => num(t[s])).join('')}</tr>`,
    )
    .join('\n');
  const t = data.throughput;
  const body = `<h1>Queues</h1>
<section class="cards" id="totals">
${cards}
</section>
<p class="throughput">Throughput: <b data-rate="completedPerMin">${rate(t.completedPerMin)}</b> completed/min
· <b data-rate="failedPerMin">${rate(t.failedPerMin)}</b> failed/min
<span class="muted" data-rate="span">${t.spanMs > 0 ? `over the last ${esc(fmtMs(t.spanMs))}` : 'measuring…'}</span></p>
<table class="grid">
<thead><tr><th>Queue</th>${head}<th class="num">done/min</th><th class="num">failed/min</th><th></th></tr></thead>
<tbody id="queues">
${rows || emptyRow(QUEUE_COLUMNS.length + 4, 'No queues yet.')}
</tbody>
</table>
<h2>Job types</h2>
<table class="grid">
<thead><tr><th>Queue</th><th>Type</th>${head}</tr></thead>
<tbody id="types">
${typeRows || emptyRow(QUEUE_COLUMNS.length + 2, 'No jobs yet.')}
</tbody>
</table>
<h2>Workers</h2>
<table class="grid">
<thead><tr><th>Host</th><th>PID</th><th>State</th><th>Queues (running/workers)</th><th>Seen</th></tr></thead>
<tbody id="workers">
${data.workers.map((w) => workerRow(w, data.at)).join('\n') || emptyRow(5, 'No live workers.')}
</tbody>
</table>`;
  return { status: 200, html: layout(frame, 'overview', 'Queues', body) };
}

function emptyRow(span: number, text: string): string {
  return `<tr class="empty"><td colspan="${span}">${esc(text)}</td></tr>`;
}

/** How long an attempt ran (or has been running). */
function duration(doc: JobSummaryDocument, now: Date): number | null {
  const { start, end } = doc.timeInfo;
  if (!start) return null;
  return (end ?? now).getTime() - start.getTime();
}

function jobRow(base: string, doc: JobSummaryDocument, now: Date): string {
  return `<tr data-id="${esc(doc._id)}">
<td><a class="mono" href="${esc(`${base}/jobs/${encodeURIComponent(doc._id)}`)}">${esc(doc._id)}</a></td>
<td>${esc(doc.queue)}</td><td>${esc(doc.type.name)}</td><td>${stateBadge(doc.state)}</td>
<td class="num">${esc(doc.retryInfo.currentAttempt)}</td>
<td>${timeCell(doc.timeInfo.created)}</td><td>${timeCell(doc.timeInfo.start)}</td><td>${timeCell(doc.timeInfo.end)}</td>
<td class="num">${esc(fmtMs(duration(doc, now)))}</td>
<td class="num${doc.status.errCount ? ' bad' : ' zero'}">${esc(doc.status.errCount)}</td>
<td><progress max="100" value="${esc(doc.status.progress)}"></progress></td>
</tr>`;
}

function option(value: string, label: string, selected: string | undefined): string {
  return `<option value="${esc(value)}"${value === (selected ?? '') ? ' selected' : ''}>${esc(label)}</option>`;
}

/** What the job list page shows. */
export interface JobsView {
  query: ListQuery;
  page?: JobPage;
  /** A rejected filter (400): the message shown instead of rows. */
  error?: string;
  queueNames: string[];
  typeNames: string[];
  now: Date;
}

/** The job list with its filters and pager. */
export function jobsPage(frame: PageFrame, view: JobsView): Rendered {
  const base = frame.base;
  const q = view.query;
  const filters = { queue: q.queue, type: q.type, id: q.id };
  const tabs = [
    `<a href="${esc(`${base}/jobs${query(filters)}`)}"${q.state ? '' : ' aria-current="page"'}>all</a>`,
    ...STATE_LIST.map(
      (s) =>
        `<a href="${esc(`${base}/jobs${query({ ...filters, state: s })}`)}" class="tab-${s}"${q.state === s ? ' aria-current="page"' : ''}>${s}</a>`,
    ),
  ].join('\n');
  const queues = [...new Set([...view.queueNames, ...(q.queue ? [q.queue] : [])])];
  const form = `<form class="filters" method="get" action="${esc(`${base}/jobs`)}">
<label>Queue <select name="queue">${option('', 'all', q.queue)}${queues.map((n) => option(n, n, q.queue)).join('')}</select></label>
<label>Type <input name="type" list="type-names" value="${esc(q.type ?? '')}" placeholder="any" autocomplete="off"></label>
<datalist id="type-names">${view.typeNames.map((t) => `<option value="${esc(t)}">`).join('')}</datalist>
<label>State <select name="state">${option('', 'any', q.state)}${STATE_LIST.map((s) => option(s, s, q.state)).join('')}</select></label>
<label>ID contains <input name="id" value="${esc(q.id ?? '')}" placeholder="text in the ID" autocomplete="off"></label>
<button type="submit" class="btn primary">Filter</button>
<a class="btn" href="${esc(`${base}/jobs`)}">Clear</a>
</form>`;
  const jobs = view.page?.jobs ?? [];
  const rows = jobs.map((d) => jobRow(base, d, view.now)).join('\n');
  const error = view.error ? `<p class="error" role="alert">${esc(view.error)}</p>` : '';
  const next = view.page?.nextCursor
    ? `${base}/jobs${query({ ...filters, state: q.state, cursor: view.page.nextCursor })}`
    : '';
  const pager = `<p class="pager">
${q.cursor ? `<a class="btn" href="${esc(`${base}/jobs${query({ ...filters, state: q.state })}`)}">« First page</a>` : ''}
<span class="muted" id="row-count">${esc(jobs.length)} shown</span>
<a class="btn" id="next-page" href="${esc(next)}"${next ? '' : ' hidden'}>Next page »</a>
</p>`;
  const body = `<h1>Jobs</h1>
<nav class="tabs">
${tabs}
</nav>
${form}
${error}
<table class="grid">
<thead><tr><th>ID</th><th>Queue</th><th>Type</th><th>State</th><th class="num">Attempt</th><th>Created</th><th>Started</th><th>Ended</th><th class="num">Run time</th><th class="num">Errors</th><th>Progress</th></tr></thead>
<tbody id="jobs">
${rows || emptyRow(11, view.error ? 'Nothing listed: the filter was rejected.' : 'No jobs match.')}
</tbody>
</table>
${pager}`;
  const data: Record<string, string> = view.error ? {} : { live: 'jobs' };
  return {
    status: view.error ? 400 : 200,
    html: layout(frame, 'jobs', 'Jobs', body, data),
  };
}

/** Which actions a job's state allows (the others are shown disabled). */
export function allowedActions(state: JobState, abortRequested: boolean): Record<string, boolean> {
  return {
    abort: (state === 'pending' || state === 'blocked' || state === 'running') && !abortRequested,
    retry: state === 'failed' || state === 'aborted' || state === 'expired' || state === 'pending',
    delete: state !== 'running',
  };
}

const ACTIONS: { action: string; label: string; confirm: string; cls: string }[] = [
  { action: 'abort', label: 'Abort', confirm: 'Abort job {id}?', cls: 'btn warn' },
  { action: 'retry', label: 'Retry now', confirm: 'Run job {id} again now?', cls: 'btn' },
  {
    action: 'delete',
    label: 'Delete',
    confirm: 'Delete job {id} and all its attempts? This cannot be undone.',
    cls: 'btn danger',
  },
];

function attemptRow(a: AttemptDetail): string {
  return `<tr><td class="num">${esc(a.attempt)}</td><td class="mono">${esc(a.id)}</td><td>${stateBadge(a.state)}</td>
<td class="mono">${esc(a.owner || '—')}</td><td>${timeCell(a.created)}</td><td>${timeCell(a.dueAt)}</td>
<td>${timeCell(a.start)}</td><td>${timeCell(a.end)}</td>
<td class="num">${esc(fmtMs(a.waitMs))}</td><td class="num">${esc(fmtMs(a.runMs))}</td><td class="num">${esc(a.errCount)}</td></tr>`;
}

function errorRows(detail: JobDetail): string {
  return detail.attempts
    .flatMap((a) =>
      a.errors.map(
        (
          e,
        ) => `<tr><td class="num">${esc(a.attempt)}</td><td>${timeCell(e.at)}</td><td class="mono">${esc(e.code)}</td>
<td>${e.retryable ? 'yes' : 'no'}</td><td class="msg"${e.stack ? ` title="${esc(e.stack)}"` : ''}>${esc(e.message)}</td></tr>`,
      ),
    )
    .join('\n');
}

/** The facts shown beside a job (the script computes the same from the JSON). */
function facts(detail: JobDetail): [string, string][] {
  const l = detail.latest;
  return [
    ['queue', l.queue],
    ['type', `${l.type.name} v${l.type.version}`],
    ['attempt', `${l.retryInfo.currentAttempt + 1} of ${l.retryInfo.maxAttempts}`],
    ['priority', String(l.priority)],
    [
      'progress',
      `${l.status.progress}%${l.status.progressMessage ? ` ${l.status.progressMessage}` : ''}`,
    ],
    ['owner', l.status.owner || '—'],
    ['abort requested', l.status.abortRequested ? 'yes' : 'no'],
    ['scopes', [...l.scopes, ...l.enqueueScopes].join(', ') || '—'],
    [
      'concurrency key',
      l.concurrencyKey ? `${l.concurrencyKey.key} (limit ${l.concurrencyKey.limit})` : '—',
    ],
  ];
}

/** The result `run()` returned and the job's own log (`ctx.log`), when it has them. */
function resultAndLog(detail: JobDetail): string {
  const l = detail.latest;
  const parts: string[] = [];
  if (l.returnValue !== undefined) {
    parts.push(`<h2>Result</h2>
<pre id="result" class="code">${esc(JSON.stringify(l.returnValue, null, 2))}</pre>`);
  }
  const log = l.status.log ?? [];
  if (log.length > 0) {
    const dropped = l.status.logDropped
      ? `<p class="muted">${esc(l.status.logDropped)} earlier line(s) dropped</p>`
      : '';
    const at = (d: unknown) => (d instanceof Date ? d.toISOString() : String(d));
    const lines = log.map((line) => `${at(line.at)} ${line.message}`).join('\n');
    parts.push(`<h2>Log</h2>
${dropped}<pre id="log" class="code">${esc(lines)}</pre>`);
  }
  return parts.join('\n');
}

/** A job in full: facts, actions, payload, result, log, errors and attempts. */
export function jobPage(frame: PageFrame, detail: JobDetail): Rendered {
  const l = detail.latest;
  const allowed = allowedActions(l.state, l.status.abortRequested);
  const buttons = ACTIONS.map(
    (a) =>
      `<button type="button" class="${a.cls}" data-action="${a.action}" data-id="${esc(detail.id)}" data-confirm="${esc(a.confirm.replace('{id}', detail.id))}"${allowed[a.action] ? '' : ' disabled'}>${a.label}</button>`,
  ).join('\n');
  const dl = facts(detail)
    .map(([k, v]) => `<dt>${esc(k)}</dt><dd data-fact="${esc(k)}">${esc(v)}</dd>`)
    .join('\n');
  const { payload: _payload, ...docWithoutPayload } = l;
  void _payload;
  const errors = errorRows(detail);
  const body = `<p class="crumbs"><a href="${esc(`${frame.base}/jobs${query({ queue: detail.queue })}`)}">« Jobs of ${esc(detail.queue)}</a></p>
<h1>Job <code class="mono">${esc(detail.id)}</code> <span id="job-state">${stateBadge(detail.state)}</span></h1>
<div class="actions">
${buttons}
</div>
<div class="detail">
<dl class="facts">
${dl}
</dl>
<div>
<h2>Payload</h2>
<pre id="payload" class="code">${esc(JSON.stringify(l.payload, null, 2))}</pre>
</div>
</div>
${resultAndLog(detail)}
<h2>Errors</h2>
<table class="grid">
<thead><tr><th class="num">Attempt</th><th>At</th><th>Code</th><th>Retryable</th><th>Message</th></tr></thead>
<tbody id="errors">
${errors || emptyRow(5, 'No errors.')}
</tbody>
</table>
<h2>Attempts</h2>
<table class="grid">
<thead><tr><th class="num">#</th><th>Attempt ID</th><th>State</th><th>Owner</th><th>Created</th><th>Due</th><th>Started</th><th>Ended</th><th class="num">Wait</th><th class="num">Run</th><th class="num">Errors</th></tr></thead>
<tbody id="attempts">
${detail.attempts.map(attemptRow).join('\n')}
</tbody>
</table>
<details>
<summary>Stored document of the newest attempt (without payload)</summary>
<pre id="document" class="code">${esc(JSON.stringify(docWithoutPayload, null, 2))}</pre>
</details>`;
  return {
    status: 200,
    html: layout(frame, 'job', `Job ${detail.id}`, body, { jobId: detail.id }),
  };
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
