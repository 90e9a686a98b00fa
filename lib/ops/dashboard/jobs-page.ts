/**
 * The job list: filters, a page of jobs with the total matching, previous and next pages, and
 * bulk actions on everything the filter matches (retry the failed, delete old finished ones),
 * each shown with its count and confirmed before anything changes (see assets.ts).
 */
import type { JobPage } from '../management';
import type { JobSummaryDocument } from '../../store/job-store';
import { FINISHED_STATES, MANUALLY_RETRYABLE_STATES } from '../../states';
import type { JobState } from '../../types';
import {
  esc,
  fmtMs,
  fmtProgress,
  layout,
  query,
  stateBadge,
  STATE_LIST,
  timeCell,
  type PageFrame,
} from './html';
import { emptyRow, type Rendered } from './pages';
import { BULK_AGES, BULK_AGE_DEFAULT, DASHBOARD_PAGE_SIZE_DEFAULT, type ListQuery } from './params';

/** What the job list page shows. */
export interface JobsView {
  query: ListQuery;
  page?: JobPage;
  /** Attempts matching the filter, over every page. */
  total?: number;
  /** A rejected filter (400): the message shown instead of rows. */
  error?: string;
  queueNames: string[];
  typeNames: string[];
  now: Date;
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
<td><progress max="100" value="${esc(doc.status.progress)}" title="${esc(fmtProgress(doc.status.progress))}"></progress></td>
</tr>`;
}

function option(value: string, label: string, selected: string | undefined): string {
  return `<option value="${esc(value)}"${value === (selected ?? '') ? ' selected' : ''}>${esc(label)}</option>`;
}

/** Page number shown, from the `page` query value (display only: pages go by cursor). */
function pageNumber(q: ListQuery): number {
  const n = Number(q.page ?? '1');
  return Number.isInteger(n) && n >= 1 ? n : 1;
}

/** The pager: first, previous and next page, page number and total. */
function pager(base: string, view: JobsView, shown: number): string {
  const q = view.query;
  const keep = { queue: q.queue, type: q.type, id: q.id, state: q.state, limit: q.limit };
  const n = pageNumber(q);
  const link = (cursor: string | null | undefined, page: number) =>
    cursor ? `${base}/jobs${query({ ...keep, cursor, page: page > 1 ? String(page) : '' })}` : '';
  const prev = link(view.page?.prevCursor, n - 1);
  const next = link(view.page?.nextCursor, n + 1);
  const size = q.limit ? Math.max(1, Number(q.limit)) : DASHBOARD_PAGE_SIZE_DEFAULT;
  const pages = view.total === undefined ? undefined : Math.max(1, Math.ceil(view.total / size));
  const where =
    view.total === undefined
      ? `${shown} shown`
      : `page ${n}${pages !== undefined && n <= pages ? ` of ${pages}` : ''} · ${shown} shown of ${view.total}`;
  return `<p class="pager" id="pager" data-page="${esc(n)}">
${q.cursor ? `<a class="btn" id="first-page" href="${esc(`${base}/jobs${query(keep)}`)}">« First</a>` : ''}
<a class="btn" id="prev-page" href="${esc(prev)}"${prev ? '' : ' hidden'}>‹ Previous</a>
<span class="muted" id="row-count">${esc(where)}</span>
<a class="btn" id="next-page" href="${esc(next)}"${next ? '' : ' hidden'}>Next page ›</a>
</p>`;
}

/** Bulk actions on what the filter matches; the script asks for the count, then confirmation. */
function bulkPanel(q: ListQuery): string {
  const retryState =
    q.state && MANUALLY_RETRYABLE_STATES.includes(q.state as JobState) ? q.state : 'failed';
  const canDelete = !q.state || FINISHED_STATES.includes(q.state as JobState);
  const what = `${q.type ? ` of type ${q.type}` : ''}${q.queue ? ` in ${q.queue}` : ''}`;
  const ages = Object.keys(BULK_AGES)
    .map(
      (a) =>
        `<option value="${esc(a)}"${a === BULK_AGE_DEFAULT ? ' selected' : ''}>${esc(a)}</option>`,
    )
    .join('');
  return `<section class="bulk" id="bulk" data-queue="${esc(q.queue ?? '')}" data-type="${esc(q.type ?? '')}" data-state="${esc(q.state ?? '')}">
<span class="muted">Everything matching the filter:</span>
<button type="button" class="btn" data-bulk="retry" data-state="${esc(retryState)}">Retry all ${esc(retryState)} jobs${esc(what)}…</button>
<label class="inline">finished, ended more than <select id="bulk-age">${ages}</select> ago:</label>
<button type="button" class="btn danger" data-bulk="delete"${canDelete ? '' : ' disabled title="only finished jobs are deleted"'}>Delete${esc(q.state ? ` ${q.state}` : '')}${esc(what)}…</button>
<div class="bulk-confirm" id="bulk-confirm" role="alertdialog" aria-live="polite" hidden>
<p id="bulk-text"></p>
<button type="button" class="btn primary" id="bulk-go"></button>
<button type="button" class="btn" id="bulk-cancel">Cancel</button>
</div>
</section>`;
}

/** The job list with its filters, pager and bulk actions. */
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
  const body = `<h1>Jobs</h1>
<nav class="tabs">
${tabs}
</nav>
${form}
${error}
${view.error ? '' : bulkPanel(q)}
<table class="grid">
<thead><tr><th>ID</th><th>Queue</th><th>Type</th><th>State</th><th class="num">Attempt</th><th>Created</th><th>Started</th><th>Ended</th><th class="num">Run time</th><th class="num">Errors</th><th>Progress</th></tr></thead>
<tbody id="jobs">
${rows || emptyRow(11, view.error ? 'Nothing listed: the filter was rejected.' : 'No jobs match.')}
</tbody>
</table>
${pager(base, view, jobs.length)}`;
  const data: Record<string, string> = view.error ? {} : { live: 'jobs' };
  return {
    status: view.error ? 400 : 200,
    html: layout(frame, 'jobs', 'Jobs', body, data),
  };
}
