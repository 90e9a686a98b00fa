/**
 * The page script, served from /assets/dashboard.js (the CSP allows scripts from the dashboard
 * only, never inline; the style sheet is style.ts). Every `data-refresh-ms` it refreshes the page:
 * the overview and the job list from the JSON API, re-rendered with DOM calls (text is set with
 * `textContent`, never as HTML); the job, history and workers pages, and the overview's chart, by
 * fetching the page's own HTML again and swapping its `data-fragment` regions (the server escaped
 * them, so the page and its updates are one rendering). It sends actions as POSTs carrying the
 * page's action token, after a confirm dialog; bulk actions show their count and ask first.
 */

import { JOB_STATES } from '../../states';

/** The page script (plain browser JavaScript; runs as is in current browsers). */
export const CLIENT_JS = String.raw`'use strict';
(() => {
  const body = document.body;
  const page = body.dataset.page;
  const base = body.dataset.base || '';
  const refreshMs = Number(body.dataset.refreshMs) || 1500;
  const token = document.querySelector('meta[name="drover-token"]')?.content ?? '';
  const COLUMNS = ['pending', 'running', 'blocked', 'retrying', 'completed', 'failed', 'aborted',
    'expired', 'quarantined'];
  const STATES = ${JSON.stringify(JOB_STATES)};

  /** An element: attrs are properties (className, href, title...) or data-* attributes. */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('data-') || k === 'colspan' || k === 'max' || k === 'value') el.setAttribute(k, String(v));
      else el[k] = v;
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }
  function fmtDate(s) {
    if (!s) return '—';
    const d = new Date(s);
    if (Number.isNaN(d.getTime())) return '—';
    return d.toISOString().slice(0, 19).replace('T', ' ');
  }
  function timeEl(s) {
    return s ? h('time', { dateTime: s }, fmtDate(s)) : '—';
  }
  function fmtMs(ms) {
    if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
    if (ms < 1000) return Math.round(ms) + ' ms';
    if (ms < 60000) return (ms / 1000).toFixed(1) + ' s';
    if (ms < 3600000) return Math.floor(ms / 60000) + ' min ' + Math.round((ms % 60000) / 1000) + ' s';
    return Math.floor(ms / 3600000) + ' h ' + Math.round((ms % 3600000) / 60000) + ' min';
  }
  function fmtProgress(n) {
    const v = typeof n === 'number' && Number.isFinite(n) ? n : 0;
    return (v > 0 && v < 10 ? Math.round(v * 10) / 10 : Math.round(v)) + '%';
  }
  function badge(state) {
    const known = STATES.includes(state) ? state : 'unknown';
    return h('span', { className: 'badge state-' + known, 'data-state': state }, state);
  }
  function query(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
    const s = q.toString();
    return s ? '?' + s : '';
  }
  function num(n, href) {
    return h('td', { className: n === 0 ? 'num zero' : 'num' }, href && n > 0 ? h('a', { href }, n) : n);
  }
  const rate = (v) => (v === null || v === undefined ? '—' : String(v));
  const rateCell = (v) => h('td', { className: v ? 'num' : 'num zero' }, rate(v));
  function replaceRows(id, rows, span, emptyText) {
    const tbody = document.getElementById(id);
    if (!tbody) return;
    tbody.replaceChildren(...(rows.length ? rows : [h('tr', { className: 'empty' }, h('td', { colspan: span }, emptyText))]));
  }
  function setText(el, text) {
    if (el && el.textContent !== text) el.textContent = text;
  }

  const live = document.getElementById('live');
  function setLive(ok, detail) {
    if (!live) return;
    live.classList.toggle('down', !ok);
    live.textContent = ok ? 'live' : 'offline';
    live.title = ok ? 'updated ' + new Date().toLocaleTimeString() : String(detail);
  }
  const flashEl = document.getElementById('flash');
  let flashTimer;
  function flash(text, ok) {
    if (!flashEl) return;
    flashEl.textContent = text;
    flashEl.className = 'flash ' + (ok ? 'ok' : 'bad');
    flashEl.hidden = false;
    clearTimeout(flashTimer);
    flashTimer = setTimeout(() => { flashEl.hidden = true; }, 8000);
  }

  async function call(path, init) {
    const res = await fetch(base + path, { credentials: 'same-origin', cache: 'no-store', ...init,
      headers: { accept: 'application/json', ...(init && init.headers) } });
    let data = null;
    try { data = await res.json(); } catch { data = null; }
    return { ok: res.ok, status: res.status, data };
  }
  async function getJson(path) {
    const r = await call(path);
    if (!r.ok) throw new Error((r.data && r.data.error && r.data.error.message) || 'HTTP ' + r.status);
    return r.data;
  }

  // Queues overview.
  function queueRow(q) {
    const jobs = (state) => base + '/jobs' + query({ queue: q.queue, state });
    const name = h('td', null, h('a', { href: jobs() }, q.queue),
      q.paused ? [' ', h('span', { className: 'badge paused' }, 'paused')] : null,
      q.pausedTypes.length ? [' ', h('span', { className: 'badge paused', title: 'paused job types' }, q.pausedTypes.join(', '))] : null,
      q.due > 0 ? [' ', h('span', { className: 'muted' }, q.due + ' due')] : null);
    const action = q.paused ? 'resume' : 'pause';
    const confirmText = q.paused
      ? 'Resume queue ' + q.queue + '? Its runners start claiming again.'
      : 'Pause queue ' + q.queue + '? No runner claims its jobs until it is resumed.';
    return h('tr', { 'data-queue': q.queue }, name, COLUMNS.map((s) => num(q[s], jobs(s))),
      rateCell(q.completedPerMin), rateCell(q.failedPerMin),
      h('td', null, h('button', { type: 'button', className: 'btn', 'data-action': action, 'data-queue': q.queue,
        'data-confirm': confirmText }, action === 'pause' ? 'Pause' : 'Resume')));
  }
  function typeRow(t, queues) {
    const q = queues.find((x) => x.queue === t.queue);
    const paused = !!(q && q.pausedTypes.includes(t.type));
    const action = paused ? 'resume' : 'pause';
    const confirmText = paused
      ? 'Resume job type ' + t.type + ' in queue ' + t.queue + '? Its jobs are claimed again.'
      : 'Pause job type ' + t.type + ' in queue ' + t.queue + '? No runner claims its jobs until it is resumed.';
    return h('tr', { 'data-type': t.type, 'data-of': t.queue }, h('td', null, t.queue),
      h('td', null, h('a', { href: base + '/jobs' + query({ queue: t.queue, type: t.type }) }, t.type),
        paused ? [' ', h('span', { className: 'badge paused' }, 'paused')] : null),
      COLUMNS.map((s) => num(t[s])),
      h('td', null, h('button', { type: 'button', className: 'btn', 'data-action': action, 'data-queue': t.queue,
        'data-type': t.type, 'data-confirm': confirmText }, paused ? 'Resume' : 'Pause')));
  }
  function renderOverview(d) {
    for (const s of COLUMNS) setText(document.querySelector('[data-total="' + s + '"]'), String(d.totals[s]));
    setText(document.querySelector('[data-rate="completedPerMin"]'), rate(d.throughput.completedPerMin));
    setText(document.querySelector('[data-rate="failedPerMin"]'), rate(d.throughput.failedPerMin));
    setText(document.querySelector('[data-rate="span"]'),
      d.throughput.spanMs > 0 ? 'over the last ' + fmtMs(d.throughput.spanMs) : 'measuring…');
    replaceRows('queues', d.queues.map(queueRow), COLUMNS.length + 4, 'No queues yet.');
    replaceRows('types', d.types.map((t) => typeRow(t, d.queues)), COLUMNS.length + 3, 'No jobs yet.');
    const at = new Date(d.at).getTime();
    replaceRows('workers', d.workers.map((w) => {
      const waiting = w.state !== 'ready';
      const since = w.stateSince ? ' for ' + fmtMs(at - new Date(w.stateSince).getTime()) : '';
      return h('tr', { 'data-worker': w._id }, h('td', null, w.host), h('td', { className: 'num' }, String(w.pid)),
        h('td', null, h('span', { className: 'badge ' + (waiting ? 'paused' : 'state-running'), title: w.message }, w.state),
          waiting ? [' ', h('span', { className: 'muted' }, w.message + since)] : null),
        h('td', null, w.queues.map((q) => q.name + ' ' + q.running + '/' + q.workers).join(', ')),
        h('td', null, fmtMs(at - new Date(w.seenAt).getTime()) + ' ago'));
    }), 5, 'No live workers.');
  }

  // Job list.
  function jobRow(j) {
    const start = j.timeInfo.start ? new Date(j.timeInfo.start).getTime() : null;
    const end = j.timeInfo.end ? new Date(j.timeInfo.end).getTime() : Date.now();
    return h('tr', { 'data-id': j._id },
      h('td', null, h('a', { className: 'mono', href: base + '/jobs/' + encodeURIComponent(j._id) }, j._id)),
      h('td', null, j.queue), h('td', null, j.type.name), h('td', null, badge(j.state)),
      h('td', { className: 'num' }, j.retryInfo.currentAttempt),
      h('td', null, timeEl(j.timeInfo.created)), h('td', null, timeEl(j.timeInfo.start)), h('td', null, timeEl(j.timeInfo.end)),
      h('td', { className: 'num' }, fmtMs(start === null ? null : end - start)),
      h('td', { className: 'num ' + (j.status.errCount ? 'bad' : 'zero') }, j.status.errCount),
      h('td', null, h('progress', { max: 100, value: j.status.progress, title: fmtProgress(j.status.progress) })));
  }
  function renderJobs(d) {
    replaceRows('jobs', d.jobs.map(jobRow), 11, 'No jobs match.');
    const pager = document.getElementById('pager');
    const n = Number(pager && pager.dataset.page) || 1;
    const params = new URLSearchParams(location.search);
    const size = Number(params.get('limit')) || 25;
    const pages = Math.max(1, Math.ceil(d.total / size));
    setText(document.getElementById('row-count'),
      'page ' + n + (n <= pages ? ' of ' + pages : '') + ' · ' + d.jobs.length + ' shown of ' + d.total);
    const link = (id, cursor, pageNo) => {
      const a = document.getElementById(id);
      if (!a) return;
      const p = new URLSearchParams(location.search);
      if (cursor) p.set('cursor', cursor);
      if (pageNo > 1) p.set('page', String(pageNo)); else p.delete('page');
      a.hidden = !cursor;
      a.href = cursor ? base + '/jobs?' + p.toString() : '';
    };
    link('next-page', d.nextCursor, n + 1);
    link('prev-page', d.prevCursor, n - 1);
  }

  // Pages refreshed from their own HTML: swap each data-fragment region that changed.
  async function swapFragments() {
    const res = await fetch(location.href, { credentials: 'same-origin', cache: 'no-store',
      headers: { accept: 'text/html' } });
    if (!res.ok) throw new Error('HTTP ' + res.status);
    const fresh = new DOMParser().parseFromString(await res.text(), 'text/html');
    for (const el of document.querySelectorAll('[data-fragment]')) {
      const next = el.id ? fresh.getElementById(el.id) : null;
      // A region holding a button being used is left until the action is over.
      if (!next || el.querySelector('.busy') || next.outerHTML === el.outerHTML) continue;
      el.replaceWith(document.importNode(next, true));
    }
  }

  const pollers = {
    overview: () => getJson('/api/counts').then(renderOverview),
    jobs: body.dataset.live === 'jobs' ? () => getJson('/api/jobs' + location.search).then(renderJobs) : null,
    job: swapFragments,
    history: swapFragments,
    workers: swapFragments,
  };
  // History moves by the minute: its charts (and the overview's) refresh less often.
  const slowMs = Math.max(refreshMs, 10000);
  const poll = pollers[page];
  const every = page === 'history' ? slowMs : refreshMs;
  let timer;
  async function tick() {
    clearTimeout(timer);
    try {
      await poll();
      setLive(true);
    } catch (err) {
      setLive(false, err && err.message);
    }
    timer = setTimeout(tick, document.hidden ? every * 4 : every);
  }
  if (poll) timer = setTimeout(tick, every);
  if (page === 'overview' && document.getElementById('chart-overview')) {
    const charts = () => swapFragments().catch(() => undefined).finally(() => setTimeout(charts, slowMs));
    setTimeout(charts, slowMs);
  }

  function describe(action, r) {
    const d = r.data || {};
    if (d.error) return action + ' refused: ' + d.error.message;
    if (d.outcome) {
      return action + ' ' + d.id + ': ' + d.outcome + (d.reason ? ' (' + d.reason + ')' : '') +
        (d.changed ? ', ' + d.changed + ' document' + (d.changed === 1 ? '' : 's') + ' changed' : '');
    }
    if (d.queue) {
      const what = d.type ? 'job type ' + d.type + ' in ' + d.queue : d.queue;
      return action + ' ' + what + ': ' + (d.changed ? 'done' : 'it already was');
    }
    return action + ': HTTP ' + r.status;
  }

  document.addEventListener('click', async (ev) => {
    const btn = ev.target instanceof Element ? ev.target.closest('button[data-action]') : null;
    if (!btn || btn.disabled) return;
    ev.preventDefault();
    if (!window.confirm(btn.dataset.confirm || 'Are you sure?')) return;
    const action = btn.dataset.action;
    const path = btn.dataset.type !== undefined
      ? '/api/queues/' + encodeURIComponent(btn.dataset.queue) + '/types/' + encodeURIComponent(btn.dataset.type) + '/' + action
      : btn.dataset.queue !== undefined
        ? '/api/queues/' + encodeURIComponent(btn.dataset.queue) + '/' + action
        : '/api/jobs/' + encodeURIComponent(btn.dataset.id) + '/' + action;
    btn.disabled = true;
    btn.classList.add('busy');
    try {
      const r = await call(path, { method: 'POST', headers: { 'x-drover-token': token } });
      flash(describe(action, r), r.ok);
      if (r.ok && action === 'delete') {
        location.assign(base + '/jobs');
        return;
      }
    } catch (err) {
      flash(action + ' failed: ' + (err && err.message), false);
    } finally {
      btn.classList.remove('busy');
      btn.disabled = false;
    }
    if (poll) await tick();
  });

  // Bulk actions: a dry run gives the count, shown with a confirmation; the action then runs on
  // at most that many.
  const bulk = document.getElementById('bulk');
  const confirmBox = document.getElementById('bulk-confirm');
  let pending = null;
  function bulkQuery(kind, extra) {
    const q = { queue: bulk.dataset.queue, type: bulk.dataset.type };
    if (kind === 'retry') q.state = bulk.querySelector('[data-bulk="retry"]').dataset.state;
    else {
      q.state = bulk.dataset.state;
      q.age = document.getElementById('bulk-age').value;
    }
    return query({ ...q, ...extra });
  }
  function bulkText(kind, r) {
    const scope = (bulk.dataset.type ? ' of type ' + bulk.dataset.type : '') +
      (bulk.dataset.queue ? ' in queue ' + bulk.dataset.queue : '');
    if (kind === 'retry') {
      const state = bulk.querySelector('[data-bulk="retry"]').dataset.state;
      return r.matched === 0 ? 'No ' + state + ' jobs' + scope + '.'
        : r.matched + ' ' + state + ' job' + (r.matched === 1 ? '' : 's') + scope + ' will run again now.';
    }
    return r.matched === 0 ? 'No finished attempts' + scope + ' ended before ' + fmtDate(r.cutoff) + '.'
      : r.matched + ' finished attempt' + (r.matched === 1 ? '' : 's') + scope + ' that ended before ' +
        fmtDate(r.cutoff) + ' will be deleted. This cannot be undone.';
  }
  if (bulk && confirmBox) {
    bulk.addEventListener('click', async (ev) => {
      const btn = ev.target instanceof Element ? ev.target.closest('button') : null;
      if (!btn || btn.disabled) return;
      if (btn.id === 'bulk-cancel') {
        confirmBox.hidden = true;
        pending = null;
        return;
      }
      if (btn.id === 'bulk-go' && pending) {
        const { kind, count } = pending;
        btn.disabled = true;
        try {
          const r = await call('/api/bulk/' + kind + bulkQuery(kind, { limit: String(count) }),
            { method: 'POST', headers: { 'x-drover-token': token } });
          const d = r.data || {};
          flash(r.ok ? (kind === 'retry' ? 'retried ' : 'deleted ') + d.changed + ' of ' + count +
            (kind === 'retry' ? ' jobs' : ' attempts') : kind + ' refused: ' + (d.error && d.error.message), r.ok);
        } catch (err) {
          flash(kind + ' failed: ' + (err && err.message), false);
        } finally {
          btn.disabled = false;
          confirmBox.hidden = true;
          pending = null;
        }
        if (poll) await tick();
        return;
      }
      const kind = btn.dataset.bulk;
      if (!kind) return;
      try {
        const r = await getJson('/api/bulk/' + kind + bulkQuery(kind, {}));
        document.getElementById('bulk-text').textContent = bulkText(kind, r);
        const go = document.getElementById('bulk-go');
        go.textContent = (kind === 'retry' ? 'Retry ' : 'Delete ') + r.matched + (kind === 'retry' ? ' jobs' : ' attempts');
        go.hidden = r.matched === 0;
        go.className = 'btn ' + (kind === 'retry' ? 'primary' : 'danger');
        pending = { kind, count: r.matched };
        confirmBox.hidden = false;
      } catch (err) {
        flash(kind + ': ' + (err && err.message), false);
      }
    });
  }
})();
`;
