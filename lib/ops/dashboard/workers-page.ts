/**
 * The workers page: every live worker group of the deployment (presence records, read through
 * `Management.workers`), with where it runs, since when, what holds it (a waiting hook), and
 * each of its queues' pools: owner ID, busy and total slots.
 */
import type { WorkerRecord } from '../../store/worker-store';
import { esc, fmtDate, fmtMs, layout, query, type PageFrame } from './html';
import type { Rendered } from './pages';

function stateCell(w: WorkerRecord, at: Date): string {
  const waiting = w.state !== 'ready';
  const since = w.stateSince ? ` for ${fmtMs(at.getTime() - w.stateSince.getTime())}` : '';
  const badge = `<span class="badge ${waiting ? 'paused' : 'state-running'}">${esc(w.state)}</span>`;
  return waiting ? `${badge}<div class="muted">${esc(w.message)}${esc(since)}</div>` : badge;
}

function poolRows(base: string, w: WorkerRecord): string {
  return w.queues
    .map(
      (q) =>
        `<li><a href="${esc(`${base}/jobs${query({ queue: q.name, state: 'running' })}`)}">${esc(q.name)}</a> <span class="mono">${esc(q.running)}/${esc(q.workers)}</span> <span class="muted mono" title="owner ID of the pool">${esc(q.owner)}</span></li>`,
    )
    .join('');
}

/** One worker group's row. */
function workerRow(base: string, w: WorkerRecord, at: Date): string {
  const running = w.queues.reduce((n, q) => n + q.running, 0);
  const slots = w.queues.reduce((n, q) => n + q.workers, 0);
  return `<tr data-worker="${esc(w._id)}">
<td class="mono">${esc(w._id)}</td><td>${esc(w.host)}</td><td class="num">${esc(w.pid)}</td>
<td>${stateCell(w, at)}</td>
<td class="num">${esc(running)}/${esc(slots)}</td>
<td><ul class="pools">${poolRows(base, w)}</ul></td>
<td><time datetime="${esc(w.startedAt.toISOString())}">${esc(fmtDate(w.startedAt))}</time></td>
<td>${esc(fmtMs(at.getTime() - w.seenAt.getTime()))} ago</td>
</tr>`;
}

/** The workers page. */
export function workersPage(frame: PageFrame, workers: WorkerRecord[], at: Date): Rendered {
  const running = workers.reduce((n, w) => n + w.queues.reduce((m, q) => m + q.running, 0), 0);
  const slots = workers.reduce((n, w) => n + w.queues.reduce((m, q) => m + q.workers, 0), 0);
  const waiting = workers.filter((w) => w.state !== 'ready').length;
  const rows = workers.map((w) => workerRow(frame.base, w, at)).join('\n');
  const body = `<h1>Workers</h1>
<p id="workers-summary" data-fragment>${esc(workers.length)} live worker group(s), ${esc(running)} of ${esc(slots)} slot(s) busy${waiting > 0 ? `, <b>${esc(waiting)} held by a waiting hook</b>` : ''}.</p>
<table class="grid" id="worker-list" data-fragment>
<thead><tr><th>Group</th><th>Host</th><th class="num">PID</th><th>State</th><th class="num">Busy</th><th>Queues (running/slots, owner)</th><th>Started</th><th>Seen</th></tr></thead>
<tbody>
${rows || '<tr class="empty"><td colspan="8">No live workers.</td></tr>'}
</tbody>
</table>
<p class="muted">A group is one process's queue group running pools; it rewrites its record every few seconds and drops out of this list when it stops doing so.</p>`;
  return { status: 200, html: layout(frame, 'workers', 'Workers', body) };
}
