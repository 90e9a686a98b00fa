/**
 * Actions on every job matching a filter: retry the failed (aborted, expired) jobs of a queue or
 * a type, and delete the finished attempts that ended before a time. Each counts what matches
 * first (a dry run stops there, so a caller can show the count and ask for confirmation); each
 * change is the same guarded write as the action on one job, so a job that changed meanwhile is
 * reported, never overwritten. `limit` bounds the work of one call.
 */
import { InvalidArgumentError } from '../../errors';
import type { JobStore } from '../../store/job-store';
import { FINISHED_STATES, MANUALLY_RETRYABLE_STATES } from '../../states';
import type { JobState } from '../../types';
import { checkNumber, checkQueueName, checkTypeName } from '../../validate';
import { checkStates, countParams } from './filters';
import type { ActionOutcome, ActionResult, JobFilter } from './types';

/** Jobs or attempts one bulk call acts on when no limit is given. */
export const BULK_LIMIT_DEFAULT = 10_000;
export const BULK_LIMIT_MAX = 1_000_000;
/** States a bulk retry takes (a job's newest attempt ends in one of them). */
export const BULK_RETRY_STATES: readonly JobState[] = MANUALLY_RETRYABLE_STATES;
/** Jobs retried at once (each retry is a few round trips). */
const RETRY_CONCURRENCY = 8;
/** Rows read per page while retrying. */
const RETRY_PAGE = 200;

/** Options of a bulk action. */
export interface BulkOptions {
  /** Count only: change nothing. */
  dryRun?: boolean;
  /** Act on at most this many (jobs to retry, attempts to delete); default BULK_LIMIT_DEFAULT. */
  limit?: number;
}

/** Which finished attempts `deleteFinished` deletes. */
export interface DeleteFinishedFilter {
  /** Attempts that ended more than this long ago. */
  olderThanMs: number;
  queue?: string;
  type?: string;
  /** Finished states; default every finished state. */
  states?: JobState[];
}

/** What a bulk action did (or, for a dry run, would do). */
export interface BulkResult {
  action: 'retry' | 'delete';
  dryRun: boolean;
  /** What matched when the action began: jobs to retry, or attempts to delete. */
  matched: number;
  /** Jobs retried, or attempts deleted. */
  changed: number;
  /** Retry: jobs by the outcome of their retry ('done', 'conflict', 'refused'...). */
  outcomes: Partial<Record<ActionOutcome, number>>;
  /** Delete: attempts that ended before this time were deleted. */
  cutoff?: Date;
  /** True when `limit` stopped the action before every match. */
  limited: boolean;
}

function checkLimit(options: BulkOptions): number {
  const n = checkNumber('limit', options.limit ?? BULK_LIMIT_DEFAULT, 1, BULK_LIMIT_MAX);
  if (!Number.isInteger(n)) throw new InvalidArgumentError('limit must be an integer');
  if (options.dryRun !== undefined && typeof options.dryRun !== 'boolean') {
    throw new InvalidArgumentError('dryRun must be a boolean');
  }
  return n;
}

/** The filter of a bulk retry: states default to `failed`, and only retryable states. */
export function retryFilter(filter: JobFilter): JobFilter {
  const states = checkStates(filter.state ?? 'failed');
  const bad = states.find((s) => !BULK_RETRY_STATES.includes(s));
  if (bad !== undefined) {
    throw new InvalidArgumentError(
      `a bulk retry takes ${BULK_RETRY_STATES.join(', ')} jobs, not ${bad}`,
    );
  }
  return { ...filter, state: states };
}

/**
 * Retries every job whose newest attempt matches `filter` (see `Management.retryMany`);
 * `retryOne` is the single-job retry.
 */
export async function retryMany(
  store: JobStore,
  filter: JobFilter,
  options: BulkOptions,
  retryOne: (id: string) => Promise<ActionResult>,
): Promise<BulkResult> {
  const limit = checkLimit(options);
  const selection = countParams(retryFilter(filter));
  const matched = await store.jobCount(selection);
  const result: BulkResult = {
    action: 'retry',
    dryRun: options.dryRun === true,
    matched,
    changed: 0,
    outcomes: {},
    limited: matched > limit,
  };
  if (result.dryRun) return result;
  let after: { id: string; created: null } | undefined;
  let handled = 0;
  while (handled < limit) {
    // By ID: a retried attempt leaves the selection, its new attempt never enters it.
    const rows = await store.jobPage({
      ...selection,
      order: 'id',
      after,
      limit: Math.min(RETRY_PAGE, limit - handled),
    });
    if (rows.length === 0) break;
    after = { id: rows[rows.length - 1]._id, created: null };
    for (let i = 0; i < rows.length; i += RETRY_CONCURRENCY) {
      const batch = rows.slice(i, i + RETRY_CONCURRENCY);
      for (const r of await Promise.all(batch.map((row) => retryOne(row._id)))) {
        result.outcomes[r.outcome] = (result.outcomes[r.outcome] ?? 0) + 1;
        if (r.outcome === 'done') result.changed++;
      }
    }
    handled += rows.length;
  }
  return result;
}

/** Deletes finished attempts that ended before a cutoff (see `Management.deleteFinished`). */
export async function deleteFinished(
  store: JobStore,
  filter: DeleteFinishedFilter,
  options: BulkOptions & { now: Date; batchSize: number },
): Promise<BulkResult> {
  if (typeof filter !== 'object' || filter === null) {
    throw new InvalidArgumentError('filter must be an object');
  }
  const limit = checkLimit(options);
  const olderThanMs = checkNumber('olderThanMs', filter.olderThanMs, 0, 1e13);
  const states = filter.states === undefined ? [...FINISHED_STATES] : checkStates(filter.states);
  const notFinished = states.find((s) => !FINISHED_STATES.includes(s));
  if (notFinished !== undefined) {
    throw new InvalidArgumentError(`only finished attempts are deleted, not ${notFinished} ones`);
  }
  const type = filter.type === undefined ? undefined : checkTypeName(filter.type);
  const queues =
    filter.queue === undefined ? await store.jobQueueNames() : [checkQueueName(filter.queue)];
  const cutoff = new Date(options.now.getTime() - olderThanMs);
  const each = queues.map((queue) => ({ queue, states, type, endedBefore: cutoff }));
  let matched = 0;
  for (const params of each) matched += await store.jobPruneCount(params);
  const result: BulkResult = {
    action: 'delete',
    dryRun: options.dryRun === true,
    matched,
    changed: 0,
    outcomes: {},
    cutoff,
    limited: matched > limit,
  };
  if (result.dryRun) return result;
  for (const params of each) {
    while (result.changed < limit) {
      const batch = Math.min(options.batchSize, limit - result.changed);
      const deleted = await store.jobPrune({ ...params, limit: batch });
      result.changed += deleted;
      if (deleted < batch) break;
    }
  }
  return result;
}
