/**
 * The dashboard as a plain node:http request handler, to serve on its own (server.ts) or to mount
 * in a user's server (`http.createServer(handler)`, or `app.use('/drover', handler)` with
 * `basePath: '/drover'`). A small router over pages, assets, the JSON API and `/metrics`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { DroverError, InvalidArgumentError } from '../../errors';
import type { Management } from '../management';
import { defaultLogger } from '../../queue/queue-options';
import { checkNumber } from '../../validate';
import {
  BULK_ACTIONS,
  DashboardApi,
  historyArgs,
  JOB_ACTIONS,
  QUEUE_ACTIONS,
  type ApiAnswer,
  type DashboardBulkAction,
  type DashboardJobAction,
  type DashboardQueueAction,
} from './api';
import { CLIENT_JS } from './assets';
import { CLIENT_CSS } from './style';
import { DashboardAuth } from './auth';
import { tokenPage, type PageFrame } from './html';
import { Throughput } from './overview';
import { messagePage, type Rendered } from './pages';
import { PageViews } from './page-views';
import { listQuery, pathSegments, type ListQuery } from './params';

/** How often the pages poll the JSON API. */
export const DASHBOARD_REFRESH_MS_DEFAULT = 1_500;
export const DASHBOARD_REFRESH_MS_MIN = 250;
export const DASHBOARD_REFRESH_MS_MAX = 60_000;

/** Options of `dashboardHandler`. */
export interface DashboardOptions {
  /** Everything the dashboard reads and does goes through it. */
  management: Management;
  /** Required on every request when set (see auth.ts); also the action token. */
  token?: string;
  logger?: Logger;
  /** Served at `/metrics` when given (e.g. `createMetrics({ group }).registry`). */
  metrics?: Registry;
  /** Path the dashboard is mounted under (`/drover`); '' (the root) by default. */
  basePath?: string;
  /** Poll period of the pages; default DASHBOARD_REFRESH_MS_DEFAULT. */
  refreshMs?: number;
  /** Host names (without port) the dashboard answers to; any when not given. */
  allowedHosts?: string[];
  now?: () => Date;
}

/** Options with every field resolved. */
export interface ResolvedDashboardOptions {
  management: Management;
  token?: string;
  logger: Logger;
  metrics?: Registry;
  basePath: string;
  refreshMs: number;
  allowedHosts?: string[];
  now: () => Date;
}

const TOKEN = /^[\x21-\x7e]{8,512}$/;
const BASE_PATH = /^(\/[A-Za-z0-9._~-]+)*$/;

/** Copies, defaults and validates dashboard options. */
export function resolveDashboardOptions(o: DashboardOptions): ResolvedDashboardOptions {
  if (!o || typeof o.management?.list !== 'function') {
    throw new InvalidArgumentError('the dashboard needs a management API');
  }
  if (o.token !== undefined && (typeof o.token !== 'string' || !TOKEN.test(o.token))) {
    throw new InvalidArgumentError('the dashboard token must be 8-512 printable ASCII characters');
  }
  const basePath = (o.basePath ?? '').replace(/\/+$/, '');
  if (!BASE_PATH.test(basePath)) throw new InvalidArgumentError(`invalid basePath "${basePath}"`);
  return {
    management: o.management,
    token: o.token,
    logger: o.logger ?? defaultLogger(),
    metrics: o.metrics,
    basePath,
    refreshMs: checkNumber(
      'refreshMs',
      o.refreshMs ?? DASHBOARD_REFRESH_MS_DEFAULT,
      DASHBOARD_REFRESH_MS_MIN,
      DASHBOARD_REFRESH_MS_MAX,
    ),
    allowedHosts: o.allowedHosts?.map((h) => h.toLowerCase()),
    now: o.now ?? (() => new Date()),
  };
}

/** No inline script or style, nothing from elsewhere, no framing. */
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
  "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

function send(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
  res.statusCode = status;
  res.setHeader('Content-Type', type);
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(body);
}

function sendJson(res: ServerResponse, answer: ApiAnswer): void {
  send(res, answer.status, 'application/json; charset=utf-8', JSON.stringify(answer.body));
}

/** Static assets (no job data; served before the access check so the token page is styled). */
const ASSETS: Record<string, { type: string; body: string }> = {
  'dashboard.js': { type: 'text/javascript; charset=utf-8', body: CLIENT_JS },
  'dashboard.css': { type: 'text/css; charset=utf-8', body: CLIENT_CSS },
};

/** Whether a path is answered in JSON (or text) rather than HTML. */
function isApi(seg: string[]): boolean {
  return seg[0] === 'api' || seg[0] === 'metrics';
}

function errorBody(code: string, message: string) {
  return { error: { code, message } };
}

/** A request handler serving the dashboard. */
export type DashboardHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** Builds the dashboard's request handler. */
export function dashboardHandler(options: DashboardOptions): DashboardHandler {
  const o = resolveDashboardOptions(options);
  const auth = new DashboardAuth(o.token, o.basePath || '/', o.allowedHosts);
  const api = new DashboardApi(o.management, new Throughput(), o.now);
  const frame: PageFrame = {
    base: o.basePath,
    actionToken: auth.actionToken,
    refreshMs: o.refreshMs,
  };
  const log = o.logger.child({ component: 'dashboard' });

  const views = new PageViews(api, frame, o.now);

  const html = (res: ServerResponse, page: Rendered) =>
    send(res, page.status, 'text/html; charset=utf-8', page.html);

  async function get(seg: string[], url: URL, res: ServerResponse): Promise<void> {
    const [a, b] = seg;
    if (seg.length === 0) return html(res, await views.overview());
    if (a === 'jobs' && seg.length === 1) {
      let q: ListQuery;
      try {
        q = listQuery(url.searchParams);
      } catch (err) {
        if (!(err instanceof InvalidArgumentError)) throw err;
        return html(res, messagePage(frame, 400, 'Bad request', err.message));
      }
      return html(res, await views.jobs(q));
    }
    if (a === 'jobs' && seg.length === 2) return html(res, await views.job(b));
    if (a === 'history' && seg.length === 1)
      return html(res, await views.history(url.searchParams));
    if (a === 'workers' && seg.length === 1) return html(res, await views.workers());
    if (a === 'metrics' && seg.length === 1 && o.metrics) {
      return send(res, 200, o.metrics.contentType, await o.metrics.metrics());
    }
    if (a === 'api') {
      const answer = await getApi(seg, url);
      if (answer) return sendJson(res, answer);
    }
    if (a === 'api' && (seg.length === 4 || seg.length === 6)) {
      // An action path read with GET: refused, so that no link or prefetch changes anything.
      res.setHeader('Allow', 'POST');
      return sendJson(res, { status: 405, body: errorBody('METHOD', 'actions need POST') });
    }
    return notFound(seg, res);
  }

  /** The JSON reads; undefined when no read has this path. */
  async function getApi(seg: string[], url: URL): Promise<ApiAnswer | undefined> {
    const [, b, c] = seg;
    const ok = (body: unknown): ApiAnswer => ({ status: 200, body });
    if (seg.length === 2 && b === 'counts') return ok(await api.overview());
    if (seg.length === 2 && b === 'jobs') return ok(await api.jobs(url.searchParams));
    if (seg.length === 3 && b === 'jobs') return api.job(c);
    if (seg.length === 2 && b === 'history') {
      return ok(await api.history(historyArgs(url.searchParams)));
    }
    if (seg.length === 2 && b === 'workers') return ok(await api.workers());
    if (seg.length === 3 && b === 'bulk' && (BULK_ACTIONS as readonly string[]).includes(c)) {
      return api.bulk(c as DashboardBulkAction, url.searchParams, true);
    }
    return undefined;
  }

  async function post(
    seg: string[],
    url: URL,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    const [a, b, c, d, e, f] = seg;
    if (a !== 'api' || seg.length < 3) return notFound(seg, res);
    const refusal = auth.actionRefusal(req);
    if (refusal) return sendJson(res, { status: 403, body: errorBody('FORBIDDEN', refusal) });
    let answer: ApiAnswer | undefined;
    let action = d;
    if (seg.length === 4 && b === 'jobs' && (JOB_ACTIONS as readonly string[]).includes(d)) {
      answer = await api.jobAction(c, d as DashboardJobAction);
    } else if (
      seg.length === 4 &&
      b === 'queues' &&
      (QUEUE_ACTIONS as readonly string[]).includes(d)
    ) {
      answer = await api.queueAction(c, d as DashboardQueueAction);
    } else if (
      seg.length === 6 &&
      b === 'queues' &&
      d === 'types' &&
      (QUEUE_ACTIONS as readonly string[]).includes(f)
    ) {
      action = f;
      answer = await api.typeAction(c, e, f as DashboardQueueAction);
    } else if (
      seg.length === 3 &&
      b === 'bulk' &&
      (BULK_ACTIONS as readonly string[]).includes(c)
    ) {
      action = `bulk-${c}`;
      answer = await api.bulk(c as DashboardBulkAction, url.searchParams, false);
    }
    if (!answer) return notFound(seg, res);
    log.info({ action, target: c, query: url.search, result: answer.body }, 'dashboard action');
    return sendJson(res, answer);
  }

  function notFound(seg: string[], res: ServerResponse): void {
    if (seg[0] === 'api') {
      return sendJson(res, { status: 404, body: errorBody('NOT_FOUND', 'no such endpoint') });
    }
    return html(res, messagePage(frame, 404, 'Not found', 'No such page.'));
  }

  /** Access check, then dispatch by method. */
  async function dispatch(
    seg: string[],
    path: string,
    url: URL,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    const access = auth.access(req, url);
    if (access.kind === 'redirect') {
      res.setHeader('Set-Cookie', access.cookie);
      res.setHeader('Location', `${o.basePath}${path || '/'}${access.search}`);
      return send(res, 303, 'text/plain', 'token accepted');
    }
    if (access.kind === 'denied') {
      res.setHeader('WWW-Authenticate', 'Bearer realm="drover"');
      if (isApi(seg)) {
        return sendJson(res, { status: 401, body: errorBody('UNAUTHORIZED', access.reason) });
      }
      const page = tokenPage(o.basePath, `${o.basePath}${path || '/'}`, access.reason);
      return send(res, 401, 'text/html; charset=utf-8', page);
    }
    if (req.method === 'GET' || req.method === 'HEAD') return get(seg, url, res);
    if (req.method === 'POST') return post(seg, url, req, res);
    res.setHeader('Allow', 'GET, HEAD, POST');
    return sendJson(res, { status: 405, body: errorBody('METHOD', 'method not allowed') });
  }

  /** Answers a failed request: 400 for invalid input, 500 (logged) for the rest. */
  function fail(err: unknown, seg: string[], req: IncomingMessage, res: ServerResponse): void {
    const bad = err instanceof InvalidArgumentError;
    if (!bad) log.error({ err, url: req.url }, 'dashboard request failed');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const message = bad ? err.message : 'internal error (see the server log)';
    if (!isApi(seg)) {
      return html(res, messagePage(frame, bad ? 400 : 500, bad ? 'Bad request' : 'Error', message));
    }
    const code = err instanceof DroverError ? err.code : 'INTERNAL';
    sendJson(res, { status: bad ? 400 : 500, body: errorBody(code, message) });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader('Content-Security-Policy', CSP);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Cache-Control', 'no-store');
    // The body is never read: actions take everything from the path.
    req.resume();
    if (!auth.hostAllowed(req)) return send(res, 421, 'text/plain', 'unexpected Host header');
    let seg: string[] = ['api'];
    try {
      const url = new URL(req.url ?? '/', 'http://dashboard.invalid');
      // A host (express) may have stripped the mount path already.
      let path = url.pathname;
      if (o.basePath && (path === o.basePath || path.startsWith(`${o.basePath}/`))) {
        path = path.slice(o.basePath.length);
      }
      seg = pathSegments(path);
      if (seg[0] === 'assets' && seg.length === 2 && req.method === 'GET') {
        const asset = Object.hasOwn(ASSETS, seg[1]) ? ASSETS[seg[1]] : undefined;
        if (asset) {
          res.setHeader('Cache-Control', 'no-cache');
          return send(res, 200, asset.type, asset.body);
        }
      }
      await dispatch(seg, path, url, req, res);
    } catch (err) {
      fail(err, seg, req, res);
    }
  }

  return (req, res) => {
    void handle(req, res);
  };
}
