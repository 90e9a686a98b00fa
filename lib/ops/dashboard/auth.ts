/**
 * Who may see the dashboard and who may act through it.
 *
 * - Access: with a token set, every request must carry it, as `Authorization: Bearer <token>`
 *   or as the cookie set after the token was given once in `?token=` (the URL is then reloaded
 *   without it). The cookie holds a hash of the token, HttpOnly and SameSite=Strict.
 * - Actions (POST only): the request must also carry the action token in `X-Drover-Token` (or
 *   `Authorization: Bearer`). It is the dashboard token when one is set, else a random token made
 *   per handler and embedded in the pages: another site's page can neither read it nor send the
 *   header without a CORS preflight, which the dashboard never grants. A cross-site `Origin` or
 *   `Sec-Fetch-Site` is refused too.
 * - Hosts: `allowedHosts` (set by `startDashboard` on loopback) refuses other `Host` headers, so
 *   a DNS-rebinding page cannot reach a loopback dashboard.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** Name of the access cookie. */
export const DASHBOARD_COOKIE = 'drover_dashboard';
/** Header carrying the action token. */
export const ACTION_TOKEN_HEADER = 'x-drover-token';

function digest(text: string): Buffer {
  return createHash('sha256').update(`drover-dashboard\0${text}`).digest();
}

/** Constant-time equality of two strings (compared through their hashes). */
function same(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function bearer(req: IncomingMessage): string | undefined {
  const m = /^Bearer +(\S+)$/i.exec(header(req, 'authorization') ?? '');
  return m?.[1];
}

function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (header(req, 'cookie') ?? '').split(';')) {
    const at = part.indexOf('=');
    if (at > 0 && part.slice(0, at).trim() === name) return part.slice(at + 1).trim();
  }
  return undefined;
}

/** The host name of a `Host` header, lower-cased, without port. */
export function hostName(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  return h.split(':')[0];
}

/** What an access check decided. */
export type AccessVerdict =
  | { kind: 'ok' }
  | { kind: 'denied'; reason: string }
  /** The token came in the query: set the cookie and reload without it. */
  | { kind: 'redirect'; search: string; cookie: string };

/** Access and action checks of one handler. */
export class DashboardAuth {
  /** Token every action must carry (the dashboard token, else a random one). */
  readonly actionToken: string;
  private readonly cookieValue?: string;

  constructor(
    private readonly token: string | undefined,
    private readonly cookiePath: string,
    private readonly allowedHosts?: readonly string[],
  ) {
    this.actionToken = token ?? randomBytes(24).toString('base64url');
    if (token !== undefined) this.cookieValue = digest(token).toString('base64url');
  }

  /** Whether the Host header is one this dashboard answers to. */
  hostAllowed(req: IncomingMessage): boolean {
    if (!this.allowedHosts) return true;
    const host = header(req, 'host');
    return host !== undefined && this.allowedHosts.includes(hostName(host));
  }

  /** Whether the request may see the dashboard; `url` is the request URL (path and query). */
  access(req: IncomingMessage, url: URL): AccessVerdict {
    if (this.token === undefined) return { kind: 'ok' };
    const given = bearer(req);
    if (given !== undefined) {
      return same(given, this.token) ? { kind: 'ok' } : { kind: 'denied', reason: 'wrong token' };
    }
    const fromCookie = cookie(req, DASHBOARD_COOKIE);
    if (fromCookie !== undefined && this.cookieValue && same(fromCookie, this.cookieValue)) {
      return { kind: 'ok' };
    }
    const fromQuery = url.searchParams.get('token');
    if (fromQuery !== null && req.method === 'GET') {
      if (!same(fromQuery, this.token)) return { kind: 'denied', reason: 'wrong token' };
      const clean = new URLSearchParams(url.searchParams);
      clean.delete('token');
      const search = clean.toString();
      return {
        kind: 'redirect',
        search: search ? `?${search}` : '',
        cookie: `${DASHBOARD_COOKIE}=${this.cookieValue}; Path=${this.cookiePath}; HttpOnly; SameSite=Strict`,
      };
    }
    return { kind: 'denied', reason: 'this dashboard needs a token' };
  }

  /** Why an action request is refused, or undefined when it may proceed. */
  actionRefusal(req: IncomingMessage): string | undefined {
    if (header(req, 'sec-fetch-site') === 'cross-site') return 'cross-site request';
    const origin = header(req, 'origin');
    if (origin !== undefined && origin !== 'null') {
      let originHost: string;
      try {
        originHost = new URL(origin).host;
      } catch {
        return 'malformed Origin header';
      }
      if (originHost !== header(req, 'host')) return 'cross-origin request';
    } else if (origin === 'null') {
      return 'opaque origin';
    }
    const given = header(req, ACTION_TOKEN_HEADER) ?? bearer(req);
    if (given === undefined) return `actions need the ${ACTION_TOKEN_HEADER} header`;
    return same(given, this.actionToken) ? undefined : 'wrong action token';
  }
}
