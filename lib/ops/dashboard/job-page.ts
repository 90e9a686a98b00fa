/**
 * The job page: a job in full, read through `Management.job`. On top, why it was quarantined
 * (when it was); then its actions, facts, payload and result, the attempts on one time axis and
 * in a table, every error with its stack, and its log. Regions marked `data-fragment` are
 * refreshed by the page script from this same HTML, so the page and its updates cannot differ.
 * The result (`returnValue`), the job's own log (`status.log`) and an error's stack are shown
 * when the attempt has them.
 */
import type { AttemptDetail, JobDetail } from '../management';
import type { JobDocument, JobErrorRecord, JobLogLine, JobState } from '../../types';
import { attemptsTimeline } from './charts';
import {
  esc,
  fmtDate,
  fmtMs,
  fmtProgress,
  layout,
  query,
  stateBadge,
  timeCell,
  type PageFrame,
} from './html';
import type { Rendered } from './pages';
import { isLive, MANUALLY_RETRYABLE_STATES } from '../../states';

/** Which actions a job's state allows (the others are shown disabled). */
export function allowedActions(state: JobState, abortRequested: boolean): Record<string, boolean> {
  return {
    abort: isLive(state) && !abortRequested,
    // A pending job is made due now; a failed, aborted or expired one gets a new attempt.
    retry: state === 'pending' || MANUALLY_RETRYABLE_STATES.includes(state),
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

type ErrorWithStack = JobErrorRecord & { stack?: unknown };

/** The last error message of an attempt, or ''. */
function lastError(doc: JobDocument): string {
  const errors = Array.isArray(doc.status?.errors) ? doc.status.errors : [];
  return errors.length > 0 ? errors[errors.length - 1].message : '';
}

/**
 * Whether an abort applies: done (the job ended aborted, with why), asked (its worker has not
 * acted yet), or not.
 */
export function abortFact(doc: JobDocument): string {
  if (doc.state === 'aborted') {
    const why = lastError(doc);
    return why ? `aborted: ${why}` : 'aborted';
  }
  if (doc.status?.abortRequested) return 'requested: its worker aborts it at its next heartbeat';
  return 'no';
}

/** The facts shown beside a job. */
export function jobFacts(detail: JobDetail): [string, string][] {
  const l = detail.latest;
  return [
    ['queue', l.queue],
    ['type', `${l.type.name} v${l.type.version}`],
    ['attempt', `${l.retryInfo.currentAttempt + 1} of ${l.retryInfo.maxAttempts}`],
    ['priority', String(l.priority)],
    [
      'progress',
      `${fmtProgress(l.status.progress)}${l.status.progressMessage ? ` ${l.status.progressMessage}` : ''}`,
    ],
    ['owner', l.status.owner || '—'],
    ['abort', abortFact(l)],
    ['scopes', [...l.scopes, ...l.enqueueScopes].join(', ') || '—'],
    [
      'concurrency key',
      l.concurrencyKey ? `${l.concurrencyKey.key} (limit ${l.concurrencyKey.limit})` : '—',
    ],
  ];
}

function attemptRow(a: AttemptDetail): string {
  return `<tr data-attempt="${esc(a.attempt)}"><td class="num">${esc(a.attempt)}</td><td class="mono">${esc(a.id)}</td><td>${stateBadge(a.state)}</td>
<td class="mono">${esc(a.owner || '—')}</td><td>${timeCell(a.created)}</td><td>${timeCell(a.dueAt)}</td>
<td>${timeCell(a.start)}</td><td>${timeCell(a.end)}</td>
<td class="num">${esc(fmtMs(a.waitMs))}</td><td class="num">${esc(fmtMs(a.runMs))}</td><td class="num">${esc(a.errCount)}</td></tr>`;
}

function errorRows(detail: JobDetail): string {
  return detail.attempts
    .flatMap((a) =>
      a.errors.map((e: ErrorWithStack) => {
        const stack =
          typeof e.stack === 'string' && e.stack !== ''
            ? `<details class="stack"><summary>stack</summary><pre class="code">${esc(e.stack)}</pre></details>`
            : '';
        return `<tr><td class="num">${esc(a.attempt)}</td><td>${timeCell(e.at instanceof Date ? e.at : null)}</td><td class="mono">${esc(e.code)}</td>
<td>${e.retryable ? 'yes' : 'no'}</td><td class="msg">${esc(e.message)}${stack}</td></tr>`;
      }),
    )
    .join('\n');
}

/** One line of the job's own log: `time message`. */
function logLine(line: JobLogLine): string {
  const when = line.at instanceof Date ? fmtDate(line.at) : '';
  return `<span class="muted">${esc(when)}</span> ${esc(line.message)}`;
}

/** What `run()` returned and the job's own log (`ctx.log`), when the attempt has them. */
function extras(l: JobDocument): { result: string; log: string } {
  const result =
    l.returnValue !== undefined
      ? `<h2>Result</h2>\n<pre id="result" class="code" data-fragment>${esc(JSON.stringify(l.returnValue, null, 2))}</pre>`
      : '';
  const lines = l.status.log ?? [];
  const dropped = l.status.logDropped
    ? `<p class="muted">${esc(l.status.logDropped)} earlier line(s) dropped</p>\n`
    : '';
  const log =
    lines.length > 0
      ? `<h2>Log</h2>\n${dropped}<ol id="log" class="log" data-fragment>${lines.map((e) => `<li>${logLine(e)}</li>`).join('')}</ol>`
      : '';
  return { result, log };
}

/** The reason a job was quarantined, shown above everything else. */
function quarantineBanner(l: JobDocument): string {
  const q = l.quarantine;
  if (!q) return '';
  return `<div class="error quarantine" id="quarantine" role="alert"><b>Quarantined</b> ${q.at instanceof Date ? `at ${esc(fmtDate(q.at))} ` : ''}(<span class="mono">${esc(q.code)}</span>): ${esc(q.reason)}.
Deploy a class that can load it, then requeue it.</div>`;
}

/** A job in full: quarantine reason, actions, facts, payload, result, attempts, errors, log. */
export function jobPage(frame: PageFrame, detail: JobDetail, now: Date): Rendered {
  const l = detail.latest;
  const allowed = allowedActions(l.state, l.status.abortRequested);
  const buttons = ACTIONS.map(
    (a) =>
      `<button type="button" class="${a.cls}" data-action="${a.action}" data-id="${esc(detail.id)}" data-confirm="${esc(a.confirm.replace('{id}', detail.id))}"${allowed[a.action] ? '' : ' disabled'}>${a.label}</button>`,
  ).join('\n');
  const dl = jobFacts(detail)
    .map(([k, v]) => `<dt>${esc(k)}</dt><dd data-fact="${esc(k)}">${esc(v)}</dd>`)
    .join('\n');
  const { payload: _payload, returnValue: _result, ...docRest } = l;
  void [_payload, _result];
  const { result, log } = extras(l);
  const errors = errorRows(detail);
  const body = `${quarantineBanner(l)}
<p class="crumbs"><a href="${esc(`${frame.base}/jobs${query({ queue: detail.queue })}`)}">« Jobs of ${esc(detail.queue)}</a></p>
<h1>Job <code class="mono">${esc(detail.id)}</code> <span id="job-state" data-fragment>${stateBadge(detail.state)}</span></h1>
<div class="actions" id="job-actions" data-fragment>
${buttons}
</div>
<div class="detail">
<dl class="facts" id="job-facts" data-fragment>
${dl}
</dl>
<div>
<h2>Payload</h2>
<pre id="payload" class="code" data-fragment>${esc(JSON.stringify(l.payload, null, 2))}</pre>
${result}
</div>
</div>
<h2>Attempts</h2>
${attemptsTimeline(detail.attempts, now)}
<table class="grid">
<thead><tr><th class="num">#</th><th>Attempt ID</th><th>State</th><th>Owner</th><th>Created</th><th>Due</th><th>Started</th><th>Ended</th><th class="num">Wait</th><th class="num">Run</th><th class="num">Errors</th></tr></thead>
<tbody id="attempts" data-fragment>
${detail.attempts.map(attemptRow).join('\n')}
</tbody>
</table>
<h2>Errors</h2>
<table class="grid">
<thead><tr><th class="num">Attempt</th><th>At</th><th>Code</th><th>Retryable</th><th>Message</th></tr></thead>
<tbody id="errors" data-fragment>
${errors || '<tr class="empty"><td colspan="5">No errors.</td></tr>'}
</tbody>
</table>
${log}
<details>
<summary>Stored document of the newest attempt (without payload)</summary>
<pre id="document" class="code" data-fragment>${esc(JSON.stringify(docRest, null, 2))}</pre>
</details>`;
  return {
    status: 200,
    html: layout(frame, 'job', `Job ${detail.id}`, body, { jobId: detail.id }),
  };
}
