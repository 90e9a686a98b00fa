/**
 * The page script and style sheet, served from /assets (the CSP allows scripts and styles from
 * the dashboard only, never inline). The script polls the JSON API every `data-refresh-ms` and
 * re-renders the live regions with DOM calls (text is set with `textContent`, never as HTML); it
 * sends actions as POSTs carrying the page's action token, after a confirm dialog.
 */

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
  const STATES = ['pending', 'blocked', 'running', 'retrying', 'completed', 'failed', 'aborted',
    'expired', 'quarantined'];

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
  function renderOverview(d) {
    for (const s of COLUMNS) setText(document.querySelector('[data-total="' + s + '"]'), String(d.totals[s]));
    setText(document.querySelector('[data-rate="completedPerMin"]'), rate(d.throughput.completedPerMin));
    setText(document.querySelector('[data-rate="failedPerMin"]'), rate(d.throughput.failedPerMin));
    setText(document.querySelector('[data-rate="span"]'),
      d.throughput.spanMs > 0 ? 'over the last ' + fmtMs(d.throughput.spanMs) : 'measuring…');
    replaceRows('queues', d.queues.map(queueRow), COLUMNS.length + 4, 'No queues yet.');
    replaceRows('types', d.types.map((t) => h('tr', null, h('td', null, t.queue),
      h('td', null, h('a', { href: base + '/jobs' + query({ queue: t.queue, type: t.type }) }, t.type)),
      COLUMNS.map((s) => num(t[s])))), COLUMNS.length + 2, 'No jobs yet.');
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
      h('td', null, h('progress', { max: 100, value: j.status.progress })));
  }
  function renderJobs(d) {
    replaceRows('jobs', d.jobs.map(jobRow), 11, 'No jobs match.');
    setText(document.getElementById('row-count'), d.jobs.length + ' shown');
    const next = document.getElementById('next-page');
    if (next) {
      const params = new URLSearchParams(location.search);
      if (d.nextCursor) params.set('cursor', d.nextCursor);
      next.hidden = !d.nextCursor;
      next.href = d.nextCursor ? base + '/jobs?' + params.toString() : '';
    }
  }

  // Job detail.
  function allowed(state, abortRequested) {
    return {
      abort: ['pending', 'blocked', 'running'].includes(state) && !abortRequested,
      retry: ['failed', 'aborted', 'expired', 'pending'].includes(state),
      delete: state !== 'running',
    };
  }
  function renderJob(d) {
    const l = d.latest;
    const stateEl = document.getElementById('job-state');
    if (stateEl && stateEl.textContent !== d.state) stateEl.replaceChildren(badge(d.state));
    const facts = {
      queue: l.queue,
      type: l.type.name + ' v' + l.type.version,
      attempt: (l.retryInfo.currentAttempt + 1) + ' of ' + l.retryInfo.maxAttempts,
      priority: String(l.priority),
      progress: l.status.progress + '%' + (l.status.progressMessage ? ' ' + l.status.progressMessage : ''),
      owner: l.status.owner || '—',
      'abort requested': l.status.abortRequested ? 'yes' : 'no',
      scopes: [...l.scopes, ...l.enqueueScopes].join(', ') || '—',
      'concurrency key': l.concurrencyKey ? l.concurrencyKey.key + ' (limit ' + l.concurrencyKey.limit + ')' : '—',
    };
    for (const [k, v] of Object.entries(facts)) setText(document.querySelector('[data-fact="' + k + '"]'), v);
    setText(document.getElementById('payload'), JSON.stringify(l.payload, null, 2));
    const { payload, ...doc } = l;
    void payload;
    setText(document.getElementById('document'), JSON.stringify(doc, null, 2));
    const ok = allowed(l.state, l.status.abortRequested);
    for (const btn of document.querySelectorAll('.actions button[data-action]')) {
      if (!btn.classList.contains('busy')) btn.disabled = !ok[btn.dataset.action];
    }
    replaceRows('errors', d.attempts.flatMap((a) => a.errors.map((e) => h('tr', null,
      h('td', { className: 'num' }, a.attempt), h('td', null, timeEl(e.at)), h('td', { className: 'mono' }, e.code),
      h('td', null, e.retryable ? 'yes' : 'no'), h('td', { className: 'msg' }, e.message)))), 5, 'No errors.');
    replaceRows('attempts', d.attempts.map((a) => h('tr', null,
      h('td', { className: 'num' }, a.attempt), h('td', { className: 'mono' }, a.id), h('td', null, badge(a.state)),
      h('td', { className: 'mono' }, a.owner || '—'), h('td', null, timeEl(a.created)), h('td', null, timeEl(a.dueAt)),
      h('td', null, timeEl(a.start)), h('td', null, timeEl(a.end)), h('td', { className: 'num' }, fmtMs(a.waitMs)),
      h('td', { className: 'num' }, fmtMs(a.runMs)), h('td', { className: 'num' }, a.errCount))), 11, '');
  }

  const pollers = {
    overview: () => getJson('/api/counts').then(renderOverview),
    jobs: body.dataset.live === 'jobs' ? () => getJson('/api/jobs' + location.search).then(renderJobs) : null,
    job: () => getJson('/api/jobs/' + encodeURIComponent(body.dataset.jobId)).then(renderJob),
  };
  const poll = pollers[page];
  let timer;
  async function tick() {
    clearTimeout(timer);
    try {
      await poll();
      setLive(true);
    } catch (err) {
      setLive(false, err && err.message);
    }
    timer = setTimeout(tick, document.hidden ? refreshMs * 4 : refreshMs);
  }
  if (poll) timer = setTimeout(tick, refreshMs);

  function describe(action, r) {
    const d = r.data || {};
    if (d.error) return action + ' refused: ' + d.error.message;
    if (d.outcome) {
      return action + ' ' + d.id + ': ' + d.outcome + (d.reason ? ' (' + d.reason + ')' : '') +
        (d.changed ? ', ' + d.changed + ' document' + (d.changed === 1 ? '' : 's') + ' changed' : '');
    }
    if (d.queue) return action + ' ' + d.queue + ': ' + (d.changed ? 'done' : 'already ' + (d.paused ? 'paused' : 'running'));
    return action + ': HTTP ' + r.status;
  }

  document.addEventListener('click', async (ev) => {
    const btn = ev.target instanceof Element ? ev.target.closest('button[data-action]') : null;
    if (!btn || btn.disabled) return;
    ev.preventDefault();
    if (!window.confirm(btn.dataset.confirm || 'Are you sure?')) return;
    const action = btn.dataset.action;
    const path = btn.dataset.queue !== undefined
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
})();
`;

/** The style sheet. */
export const CLIENT_CSS = `:root {
  --bg: #f6f7f9; --panel: #fff; --ink: #1d2433; --muted: #6b7385; --line: #e3e6ec;
  --accent: #2f5bd3; --bad: #c62f2f; --ok: #1f8a4c;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink); }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
header.top { display: flex; align-items: center; gap: 24px; padding: 10px 24px; background: #172036; color: #fff; }
header.top .brand { color: #fff; font-weight: 700; font-size: 18px; letter-spacing: .5px; }
header.top nav { display: flex; gap: 16px; flex: 1; }
header.top nav a { color: #c9d3ea; padding: 4px 2px; }
header.top nav a[aria-current] { color: #fff; border-bottom: 2px solid #7da2ff; }
.live { font-size: 12px; color: #9fe3b5; }
.live::before { content: "● "; }
.live.down { color: #ff9a9a; }
main { padding: 16px 24px 40px; max-width: 1500px; }
main.narrow { max-width: 420px; margin: 60px auto; }
h1 { font-size: 22px; margin: 8px 0 14px; }
h2 { font-size: 16px; margin: 24px 0 8px; }
.muted, .zero { color: var(--muted); }
.mono, code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(120px, 1fr)); gap: 10px; margin-bottom: 12px; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; color: var(--ink); border-top: 4px solid var(--line); }
.card:hover { text-decoration: none; border-color: #c5cbd8; }
.card b { display: block; font-size: 24px; }
.card span { color: var(--muted); }
.throughput { margin: 4px 0 14px; }
table.grid { width: 100%; border-collapse: collapse; background: var(--panel); border: 1px solid var(--line); border-radius: 8px; overflow: hidden; }
.grid th, .grid td { padding: 6px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
.grid th { background: #eef1f6; font-weight: 600; font-size: 12px; color: #46506a; white-space: nowrap; }
.grid tr:last-child td { border-bottom: 0; }
.grid td.num, .grid th.num { text-align: right; font-variant-numeric: tabular-nums; }
.grid td.bad { color: var(--bad); font-weight: 600; }
.grid td.msg { white-space: pre-wrap; word-break: break-word; }
.grid tr.empty td { color: var(--muted); text-align: center; padding: 18px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; background: #e8ebf1; color: #3d465a; }
.badge.paused { background: #fff1cc; color: #8a5a00; }
.state-pending { background: #e3ecff; color: #2346a8; border-top-color: #4d7cf0; }
.state-running { background: #efe6ff; color: #5b2fb8; border-top-color: #8b5cf6; }
.state-blocked { background: #eceff3; color: #4b5565; border-top-color: #94a3b8; }
.state-retrying { background: #fff0db; color: #8f4b00; border-top-color: #f59e0b; }
.state-completed { background: #def5e6; color: #17683a; border-top-color: #22a35a; }
.state-failed { background: #fde2e2; color: #a32020; border-top-color: #e04444; }
.state-aborted { background: #fce4f1; color: #9c1c62; border-top-color: #db2777; }
.state-expired { background: #efeae6; color: #6b5443; border-top-color: #a8836a; }
.state-quarantined { background: #daf3f0; color: #0c615a; border-top-color: #14b8a6; }
.card.state-pending, .card.state-running, .card.state-blocked, .card.state-retrying, .card.state-completed,
.card.state-failed, .card.state-aborted, .card.state-expired, .card.state-quarantined { background: var(--panel); }
.tabs { display: flex; flex-wrap: wrap; gap: 4px; margin-bottom: 10px; }
.tabs a { padding: 4px 10px; border-radius: 14px; color: #46506a; }
.tabs a[aria-current] { background: #172036; color: #fff; }
form.filters { display: flex; flex-wrap: wrap; gap: 12px; align-items: end; background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; margin-bottom: 12px; }
form.filters label, main.narrow label { display: flex; flex-direction: column; font-size: 12px; color: #46506a; gap: 3px; }
input, select { font: inherit; padding: 5px 8px; border: 1px solid #c9cfdb; border-radius: 6px; background: #fff; min-width: 150px; }
.btn { display: inline-block; font: inherit; padding: 5px 12px; border: 1px solid #c9cfdb; border-radius: 6px; background: #fff; color: var(--ink); cursor: pointer; }
.btn:hover { background: #f0f3f8; text-decoration: none; }
.btn:disabled { opacity: .45; cursor: default; }
.btn.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
.btn.warn { border-color: #e7a23b; color: #8f4b00; }
.btn.danger { border-color: #e07070; color: var(--bad); }
.actions { display: flex; gap: 8px; margin: 0 0 14px; }
.pager { display: flex; gap: 12px; align-items: center; margin-top: 10px; }
.detail { display: grid; grid-template-columns: minmax(260px, 360px) 1fr; gap: 20px; align-items: start; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 6px 14px; margin: 0; background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; word-break: break-word; }
.detail h2 { margin-top: 0; }
pre.code { background: #0f1729; color: #dfe6f5; padding: 12px 14px; border-radius: 8px; overflow: auto; max-height: 420px; margin: 0; }
details { margin-top: 18px; }
details pre.code { margin-top: 8px; }
.error { background: #fde2e2; color: #8c1d1d; border: 1px solid #f3b4b4; padding: 8px 12px; border-radius: 6px; }
.flash { position: fixed; right: 20px; bottom: 20px; max-width: 520px; padding: 10px 14px; border-radius: 8px; box-shadow: 0 4px 18px rgba(0,0,0,.15); background: #fff; border-left: 5px solid var(--ok); }
.flash.bad { border-left-color: var(--bad); }
.crumbs { margin: 0; }
`;
