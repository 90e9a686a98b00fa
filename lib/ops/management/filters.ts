/**
 * Validation of everything a management caller (the CLI, the dashboard, a user's code) passes
 * towards a database filter, and the opaque page cursor. A value such as `{ "$gt": "" }` never
 * becomes an operator: every field is checked for its type and shape first.
 */
import { InvalidArgumentError } from '../../errors';
import type {
  JobCountParams,
  JobPageOrder,
  JobPageParams,
  JobSummaryDocument,
} from '../../store/job-store';
import { JOB_STATES, type JobState } from '../../types';
import { checkDate, checkNumber, checkQueueName, checkTypeName, describe } from '../../validate';
import { LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX, type JobFilter, type PageOptions } from './types';

/** The registry's rule for type names (lib/job/registry.ts). */
/** Characters an ID may hold (job IDs plus the attempt separator); searched text uses the same. */
const ID_TEXT = /^[A-Za-z0-9_.:@/+=,#-]{1,200}$/;
const ORDERS: readonly JobPageOrder[] = ['newest', 'id'];
const CURSOR_MAX_CHARS = 1024;
const FILTER_KEYS = new Set([
  'queue',
  'type',
  'state',
  'createdAfter',
  'createdBefore',
  'idContains',
]);

/** One job state. */
export function checkState(state: unknown): JobState {
  if (typeof state !== 'string' || !(JOB_STATES as readonly string[]).includes(state)) {
    throw new InvalidArgumentError(
      `invalid job state ${describe(state)}: use one of ${JOB_STATES.join(', ')}`,
    );
  }
  return state as JobState;
}

/** One state or a non-empty list of states. */
export function checkStates(states: unknown): JobState[] {
  const list = Array.isArray(states) ? states : [states];
  if (list.length === 0) throw new InvalidArgumentError('states must not be empty');
  return [...new Set(list.map(checkState))];
}

/** Text to find in IDs: the characters an ID may hold, matched literally. */
export function checkIdText(text: unknown): string {
  if (typeof text !== 'string' || !ID_TEXT.test(text)) {
    throw new InvalidArgumentError(
      `invalid ID text ${describe(text)}: use 1-200 characters of [A-Za-z0-9_.:@/+=,#-]`,
    );
  }
  return text;
}

/** A page size. */
export function checkLimit(limit: unknown): number {
  const n = checkNumber('limit', limit, 1, LIST_LIMIT_MAX);
  if (!Number.isInteger(n)) throw new InvalidArgumentError('limit must be an integer');
  return n;
}

/** Where a page ends (or, paging backwards, where the next one begins): the opaque cursor. */
interface CursorPosition {
  order: JobPageOrder;
  id: string;
  created: Date | null;
  /** True for a cursor to the page before `id` (a `prevCursor`). */
  before: boolean;
}

/**
 * The cursor pointing after `row` (the last of a page), or before it (the first of a page) when
 * `before` is true.
 */
export function encodeCursor(order: JobPageOrder, row: JobSummaryDocument, before = false): string {
  const created = row.timeInfo?.created;
  const payload: (string | number | null)[] = [
    order,
    String(row._id),
    created instanceof Date ? created.getTime() : null,
  ];
  if (before) payload.push('before');
  return Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');
}

/** Decodes a cursor from `encodeCursor`; anything else is an InvalidArgumentError. */
export function decodeCursor(cursor: unknown): CursorPosition {
  const bad = () => new InvalidArgumentError(`invalid cursor ${describe(cursor)}`);
  if (typeof cursor !== 'string' || cursor.length === 0 || cursor.length > CURSOR_MAX_CHARS) {
    throw bad();
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw bad();
  }
  if (!Array.isArray(parsed) || parsed.length < 3 || parsed.length > 4) throw bad();
  const [order, id, created, direction] = parsed as unknown[];
  if (!ORDERS.includes(order as JobPageOrder) || typeof id !== 'string') throw bad();
  if (parsed.length === 4 && direction !== 'before') throw bad();
  if (created !== null && (typeof created !== 'number' || !Number.isSafeInteger(created))) {
    throw bad();
  }
  return {
    order: order as JobPageOrder,
    id,
    created: created === null ? null : new Date(created),
    before: direction === 'before',
  };
}

/** Validates a filter into the store's count parameters (the page filters without paging). */
export function countParams(filter: JobFilter): JobCountParams {
  if (typeof filter !== 'object' || filter === null) {
    throw new InvalidArgumentError('filter must be an object');
  }
  const unknown = Object.keys(filter).filter((k) => !FILTER_KEYS.has(k));
  if (unknown.length > 0) {
    throw new InvalidArgumentError(`unknown filter field ${describe(unknown[0])}`);
  }
  const params: JobCountParams = {};
  if (filter.queue !== undefined) params.queue = checkQueueName(filter.queue);
  if (filter.type !== undefined) params.type = checkTypeName(filter.type);
  if (filter.state !== undefined) params.states = checkStates(filter.state);
  if (filter.idContains !== undefined) params.idContains = checkIdText(filter.idContains);
  if (filter.createdAfter !== undefined) {
    params.createdAfter = checkDate('createdAfter', filter.createdAfter);
  }
  if (filter.createdBefore !== undefined) {
    params.createdBefore = checkDate('createdBefore', filter.createdBefore);
  }
  return params;
}

/** Validates a filter and paging into the store's page parameters. */
export function pageParams(filter: JobFilter, page: PageOptions): JobPageParams {
  const selection = countParams(filter);
  const at = page.cursor === undefined ? undefined : decodeCursor(page.cursor);
  if (page.order !== undefined && !ORDERS.includes(page.order)) {
    throw new InvalidArgumentError(`invalid order ${describe(page.order)}: use newest or id`);
  }
  if (at && page.order !== undefined && page.order !== at.order) {
    throw new InvalidArgumentError(`the cursor belongs to order "${at.order}"`);
  }
  const order = at?.order ?? page.order ?? 'newest';
  const params: JobPageParams = {
    ...selection,
    order,
    limit: checkLimit(page.limit ?? LIST_LIMIT_DEFAULT),
  };
  if (at?.before) params.before = { id: at.id, created: at.created };
  else if (at) params.after = { id: at.id, created: at.created };
  return params;
}
