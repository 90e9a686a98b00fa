/**
 * Request parsing. Query values are read with URLSearchParams, so every filter is a plain string
 * (never an object: `id[$gt]=` is just an unknown key); the management API validates each one
 * before it reaches a filter, so `{"$gt": ""}` as an ID is a 400, not an operator.
 */
import { InvalidArgumentError } from '../../errors';
import type { JobFilter, PageOptions } from '../management';
import type { JobState } from '../../types';

/** Filters and paging of the job list, as given in the query string. */
export interface ListQuery {
  queue?: string;
  type?: string;
  state?: string;
  /** Text the ID contains. */
  id?: string;
  cursor?: string;
  limit?: string;
  /** Page number shown (display only: pages go by cursor). */
  page?: string;
}

/** Rows per page of the dashboard's job list. */
export const DASHBOARD_PAGE_SIZE_DEFAULT = 25;

const LIST_KEYS: (keyof ListQuery)[] = ['queue', 'type', 'state', 'id', 'cursor', 'limit', 'page'];
/** Longest query value accepted; anything longer is a 400 before management sees it. */
const VALUE_MAX_CHARS = 2048;

/** The list query of a URL; empty values count as absent. */
export function listQuery(params: URLSearchParams): ListQuery {
  const q: ListQuery = {};
  for (const key of LIST_KEYS) {
    const value = params.get(key);
    if (value === null || value.trim() === '') continue;
    if (value.length > VALUE_MAX_CHARS) throw new InvalidArgumentError(`${key} is too long`);
    q[key] = value.trim();
  }
  return q;
}

/** Ages offered by the bulk delete, by query value. */
export const BULK_AGES: Readonly<Record<string, number>> = {
  '1h': 3_600_000,
  '1d': 86_400_000,
  '7d': 7 * 86_400_000,
  '30d': 30 * 86_400_000,
};
export const BULK_AGE_DEFAULT = '7d';

/** What a bulk request names: the list filter, an age (delete) and a limit (the count confirmed). */
export interface BulkArgs {
  filter: JobFilter;
  olderThanMs: number;
  limit?: number;
}

/** The arguments of `/api/bulk/{retry,delete}` from its query string. */
export function bulkArgs(params: URLSearchParams): BulkArgs {
  const q = listQuery(params);
  const { filter } = listArgs({ queue: q.queue, type: q.type, state: q.state });
  const age = params.get('age') ?? BULK_AGE_DEFAULT;
  if (!Object.hasOwn(BULK_AGES, age)) {
    throw new InvalidArgumentError(`age must be one of ${Object.keys(BULK_AGES).join(', ')}`);
  }
  const args: BulkArgs = { filter, olderThanMs: BULK_AGES[age] };
  if (q.limit !== undefined) {
    if (!/^[0-9]{1,7}$/.test(q.limit)) throw new InvalidArgumentError('limit must be a number');
    args.limit = Number(q.limit);
  }
  return args;
}

/** The management filter and paging of a list query (management validates every value). */
export function listArgs(q: ListQuery): { filter: JobFilter; page: PageOptions } {
  const filter: JobFilter = {};
  if (q.queue !== undefined) filter.queue = q.queue;
  if (q.type !== undefined) filter.type = q.type;
  // A string that is no state is rejected by management's checkStates.
  if (q.state !== undefined) filter.state = q.state as JobState;
  if (q.id !== undefined) filter.idContains = q.id;
  const page: PageOptions = { limit: DASHBOARD_PAGE_SIZE_DEFAULT };
  if (q.cursor !== undefined) page.cursor = q.cursor;
  if (q.limit !== undefined) {
    if (!/^[0-9]{1,4}$/.test(q.limit)) throw new InvalidArgumentError('limit must be a number');
    page.limit = Number(q.limit);
  }
  return { filter, page };
}

/** Path segments of a URL path, each percent-decoded; a malformed escape is a 400. */
export function pathSegments(pathname: string): string[] {
  return pathname
    .split('/')
    .filter((s) => s !== '')
    .map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        throw new InvalidArgumentError('malformed percent-encoding in the path');
      }
    });
}
