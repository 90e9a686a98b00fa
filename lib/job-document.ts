/**
 * The stored form of a job document: a slim one, its default-valued fields left out (null
 * times, zero counters, false flags, empty lists, the default dependency), and back. A job put
 * by this release stores about half the bytes; every reader gets the full `JobDocument` from
 * the store (`withJobDefaults`), so documents written with every field (older releases) and slim
 * ones read the same. Kept always, because filters, sorts and indexes use them: `_id`, `queue`,
 * `type`, `state`, `priority`, `dueAt`, `payload`, `status.modTime`, `modCount` and
 * `abortRequested` (heartbeats and reclaims match it `false`), `timeInfo.created`,
 * `retryInfo.baseJobId`, `currentAttempt` and `maxAttempts`. A leaf module: it imports only
 * types.ts.
 */
import type { JobDocument, JobRetryInfo, JobStatus, JobTimeInfo } from './types';

/** The defaults of the fields a slim document may leave out, by block. */
const STATUS_DEFAULTS: Partial<JobStatus> = {
  owner: '',
  completed: false,
  inProgress: false,
  errCount: 0,
  lockExpiresAt: null,
  progress: 0,
};
const TIME_DEFAULTS: Partial<JobTimeInfo> = {
  start: null,
  end: null,
  waitUntil: null,
  dispatchBy: null,
  maxTimeMs: 0,
};
const RETRY_DEFAULTS: Partial<JobRetryInfo> = {
  retryable: true,
  needsRetry: false,
  waitUntilMs: 0,
  dispatchByMs: 0,
  start: null,
  end: null,
};

type Block = Record<string, unknown>;

function isBlock(v: unknown): v is Block {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A copy of `block` without the fields equal to their default (and empty `errors`). */
function slimBlock(block: object, defaults: object): Block {
  const out: Block = {};
  const d = defaults as Block;
  for (const [key, value] of Object.entries(block)) {
    if (Object.hasOwn(d, key) && d[key] === value) continue;
    if (key === 'errors' && Array.isArray(value) && value.length === 0) continue;
    out[key] = value;
  }
  return out;
}

/** Sets the defaults `block` lacks (in place); `keys` are the defaults' keys. */
function fillBlock(block: Block, defaults: object, keys: readonly string[]): void {
  const d = defaults as Block;
  for (let i = 0; i < keys.length; i++) {
    if (block[keys[i]] === undefined) block[keys[i]] = d[keys[i]];
  }
}

// On every read: keys listed once rather than on each call.
const STATUS_KEYS = Object.keys(STATUS_DEFAULTS);
const TIME_KEYS = Object.keys(TIME_DEFAULTS);
const RETRY_KEYS = Object.keys(RETRY_DEFAULTS);

function isDefaultDependency(dep: unknown): boolean {
  return (
    isBlock(dep) &&
    dep.type === 'always' &&
    Array.isArray(dep.edges) &&
    dep.edges.length === 0 &&
    dep.onEdgeFailure === 'fail' &&
    isBlock(dep.options) &&
    Object.keys(dep.options).length === 0
  );
}

/** The document as stored: `doc` without its default-valued fields (a new object). */
export function slimJobDocument(doc: JobDocument): JobDocument {
  const slim: Block = {};
  for (const [key, value] of Object.entries(doc)) {
    if (value === undefined) continue;
    switch (key) {
      case 'status':
        slim.status = isBlock(value) ? slimBlock(value, STATUS_DEFAULTS) : value;
        break;
      case 'timeInfo':
        slim.timeInfo = isBlock(value) ? slimBlock(value, TIME_DEFAULTS) : value;
        break;
      case 'retryInfo':
        slim.retryInfo = isBlock(value) ? slimBlock(value, RETRY_DEFAULTS) : value;
        break;
      case 'scopes':
      case 'enqueueScopes':
        if (!Array.isArray(value) || value.length > 0) slim[key] = value;
        break;
      case 'dependency':
        if (!isDefaultDependency(value)) slim.dependency = value;
        break;
      default:
        slim[key] = value;
    }
  }
  return slim as unknown as JobDocument;
}

/**
 * `doc` (as read from the store) with every field a slim document leaves out set to its
 * default, in place; returns it. Blocks that are missing or not objects are left as they are,
 * for the shape check to refuse (`status`, `timeInfo` and `retryInfo` are always stored).
 */
export function withJobDefaults<T extends Partial<JobDocument>>(doc: T): T {
  const raw = doc as Block;
  if (isBlock(raw.status)) {
    fillBlock(raw.status, STATUS_DEFAULTS, STATUS_KEYS);
    if (raw.status.errors === undefined) raw.status.errors = [];
  }
  if (isBlock(raw.timeInfo)) fillBlock(raw.timeInfo, TIME_DEFAULTS, TIME_KEYS);
  if (isBlock(raw.retryInfo)) fillBlock(raw.retryInfo, RETRY_DEFAULTS, RETRY_KEYS);
  if (raw.scopes === undefined) raw.scopes = [];
  if (raw.enqueueScopes === undefined) raw.enqueueScopes = [];
  if (raw.dependency === undefined) {
    raw.dependency = { type: 'always', edges: [], options: {}, onEdgeFailure: 'fail' };
  }
  return doc;
}
