/**
 * HTML building blocks of the dashboard: escaping (every value that came from a job or a request
 * goes through `esc`), formatting of times and durations, and the page layout. Pages carry no
 * inline script or style: the content-security-policy forbids them.
 */
import { JOB_STATES, type JobState } from '../../types';

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Escapes text for HTML content and quoted attribute values. */
export function esc(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

/** A date as `YYYY-MM-DD HH:MM:SS` (UTC), or an em dash. */
export function fmtDate(value: Date | string | null | undefined): string {
  if (value === null || value === undefined) return '—';
  const d = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(d.getTime())) return '—';
  return d.toISOString().slice(0, 19).replace('T', ' ');
}

/** A `<time>` element for a date. */
export function timeCell(value: Date | null | undefined): string {
  if (!value) return '—';
  return `<time datetime="${esc(value.toISOString())}">${esc(fmtDate(value))}</time>`;
}

/** A progress percentage for people: whole percent, one decimal below 10 (`5.2%`, `42%`). */
export function fmtProgress(value: unknown): string {
  const n = typeof value === 'number' && Number.isFinite(value) ? value : 0;
  const rounded = n > 0 && n < 10 ? Math.round(n * 10) / 10 : Math.round(n);
  return `${rounded}%`;
}

/** A duration in ms as `850 ms`, `12.3 s`, `4 min 2 s`, `3 h 5 min`; em dash for null. */
export function fmtMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
  return `${Math.floor(ms / 3_600_000)} h ${Math.round((ms % 3_600_000) / 60_000)} min`;
}

/** A state badge. */
export function stateBadge(state: string): string {
  const known = (JOB_STATES as readonly string[]).includes(state) ? state : 'unknown';
  return `<span class="badge state-${known}" data-state="${esc(state)}">${esc(state)}</span>`;
}

/** Query string (with `?`) of the non-empty values, in the given order. */
export function query(params: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** What every page needs from the handler. */
export interface PageFrame {
  /** Mount path without trailing slash ('' at the root). */
  base: string;
  /** Token the page's script sends with every action. */
  actionToken: string;
  refreshMs: number;
}

/** Which page is shown; the script picks its poller by it. */
export type PageKind = 'overview' | 'jobs' | 'job' | 'history' | 'workers' | 'error';

/** A whole page. `body` must already be escaped HTML. */
export function layout(
  frame: PageFrame,
  page: PageKind,
  title: string,
  body: string,
  data: Record<string, string> = {},
): string {
  const b = esc(frame.base);
  const attrs = Object.entries({
    page,
    base: frame.base,
    refreshMs: String(frame.refreshMs),
    ...data,
  })
    .map(([k, v]) => ` data-${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}="${esc(v)}"`)
    .join('');
  const nav = (href: string, label: string, kind: PageKind[]) =>
    `<a href="${b}${href}"${kind.includes(page) ? ' aria-current="page"' : ''}>${label}</a>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<meta name="drover-token" content="${esc(frame.actionToken)}">
<title>${esc(title)} · drover</title>
<link rel="stylesheet" href="${b}/assets/dashboard.css">
<script src="${b}/assets/dashboard.js" defer></script>
</head>
<body${attrs}>
<header class="top">
<a class="brand" href="${b}/">drover</a>
<nav>${nav('/', 'Queues', ['overview'])}${nav('/jobs', 'Jobs', ['jobs', 'job'])}${nav('/history', 'History', ['history'])}${nav('/workers', 'Workers', ['workers'])}</nav>
<span id="live" class="live" title="updates every ${esc(frame.refreshMs)} ms">live</span>
</header>
<div id="flash" class="flash" role="status" aria-live="polite" hidden></div>
<main>
${body}
</main>
</body>
</html>
`;
}

/** The states in display order, for selects and tabs. */
export const STATE_LIST: readonly JobState[] = JOB_STATES;

/**
 * The page asking for the dashboard token. It is shown before access is granted, so it carries
 * no action token and loads no script.
 */
export function tokenPage(base: string, action: string, reason: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>Token needed · drover</title>
<link rel="stylesheet" href="${esc(base)}/assets/dashboard.css">
</head>
<body>
<main class="narrow">
<h1>drover</h1>
<p class="error" role="alert">${esc(reason)}.</p>
<form method="get" action="${esc(action)}">
<label>Dashboard token <input type="password" name="token" autocomplete="current-password" required></label>
<button type="submit" class="btn primary">Open</button>
</form>
</main>
</body>
</html>
`;
}
