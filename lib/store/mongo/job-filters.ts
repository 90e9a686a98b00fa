/**
 * The jobs collection module, its shared filter and update builders: the guard and `$set` of
 * guarded writes, the malformed-envelope filter, the attempts pattern and the list and page
 * filters. The module is job-store.ts (the store class), job-claim.ts (the claim),
 * job-store-admin.ts (listing and management), job-indexes.ts (the indexes) and this file.
 * Nothing else in drover reads or writes job documents in MongoDB.
 */
import { randomBytes } from 'node:crypto';
import type { BSONTypeAlias, Document, Filter, Sort, UpdateFilter } from 'mongodb';
import { ErrorCode } from '../../errors';
import type {
  JobChangedSinceParams,
  JobListParams,
  JobPageParams,
  JobPruneParams,
  JobUpdate,
  LockToken,
} from '../job-store';
import { endOfWrite } from '../job-store';
import { END_TIMED_STATES } from '../../states';
import { HANDED_OVER_AT, type JobDocument, type JobState } from '../../types';
import { DATED } from './job-indexes';

type Doc = JobDocument;

/**
 * A random nonce for claims and batched writes: 72 random bits in 12 characters (a UUID's 36 went
 * into every claim's update and read-back). It only tells one claim of a document from another.
 */
export function nonce(): string {
  return randomBytes(9).toString('base64url');
}

/** The attempt as `token` holds it: its ID, owner and modCount (the fencing token). */
export function tokenFilter(token: LockToken): Filter<Doc> {
  return { _id: token.id, 'status.owner': token.owner, 'status.modCount': token.modCount };
}

/**
 * The guard of a write after a claim: owner and modCount. A release (back to pending for any
 * worker) also requires that no abort is requested, so it can never discard one.
 */
export function heldFilter(token: LockToken, update: JobUpdate): Filter<Doc> {
  const filter = tokenFilter(token);
  if (update.releaseLock) filter['status.abortRequested'] = { $ne: true };
  return filter;
}

/**
 * Each of several attempts at the modCount it was read with, in one filter: `_id: { $in }` is
 * redundant with the `$or` but makes every engine look them up by `_id` (without it DocumentDB
 * reads a whole index range and mongo-java-server scans the collection). Shared by the batched
 * claim's update and grouped guarded writes.
 */
export function unchangedFilter(attempts: { id: string; modCount: number }[]): Filter<Doc> {
  return {
    _id: { $in: attempts.map((a) => a.id) },
    $or: attempts.map((a) => ({ _id: a.id, 'status.modCount': a.modCount })),
  };
}

/**
 * The guard of one statement for a group of writes of one owner (`jobWriteMany`): each attempt
 * as its own token holds it, the owner said once.
 */
export function heldGroupFilter(tokens: LockToken[], update: JobUpdate): Filter<Doc> {
  const filter: Filter<Doc> = {
    ...unchangedFilter(tokens),
    'status.owner': tokens[0]?.owner ?? '',
  };
  if (update.releaseLock) filter['status.abortRequested'] = { $ne: true };
  return filter;
}

/** Every attempt of `tokens` as its token holds it (heartbeats; served by the `_id` index). */
export function heldManyFilter(tokens: LockToken[]): Filter<Doc> {
  return { $or: tokens.map(tokenFilter) };
}

/** Running attempts of a queue whose lock expired before `now` (served by the `running_lock` index). */
export function staleFilter(queue: string, now: Date) {
  return { queue, state: 'running' as const, 'status.lockExpiresAt': { $lt: now } };
}

/** Pending attempts of a queue due at `now` (the `due` figure of queue stats). */
export function dueFilter(queue: string, now: Date): Filter<Doc> {
  return { queue, state: 'pending', dueAt: { $lte: now } };
}

/** Attempts of a queue changed after a position (followers; served by the `changed` index). */
export function changedSinceFilter(
  params: Pick<JobChangedSinceParams, 'queue' | 'after'>,
): Filter<Doc> {
  const { modTime, id } = params.after;
  return {
    queue: params.queue,
    $or: [{ 'status.modTime': { $gt: modTime } }, { 'status.modTime': modTime, _id: { $gt: id } }],
  };
}

/** The order of `changedSinceFilter`. */
export const CHANGED_SORT = { 'status.modTime': 1, _id: 1 } as const;

/** Attempts of a queue whose ID starts with `idPrefix` (an anchored range of the `_id` index). */
export function latestStatesFilter(queue: string, idPrefix: string): Filter<Doc> {
  const pattern = `^${escapeRegex(idPrefix)}`;
  return { _id: { $regex: pattern }, 'retryInfo.baseJobId': { $regex: pattern }, queue };
}

/** The `$set` part of a guarded write. */
export function updateFields(update: JobUpdate, now: Date): Record<string, unknown> {
  const set: Record<string, unknown> = { 'status.modTime': now };
  if (update.state !== undefined) set.state = update.state;
  if (update.payload !== undefined) set.payload = update.payload;
  if (update.errors !== undefined) set['status.errors'] = update.errors;
  if (update.errCount !== undefined) set['status.errCount'] = update.errCount;
  if (update.progress !== undefined) set['status.progress'] = update.progress;
  if (update.progressMessage !== undefined) set['status.progressMessage'] = update.progressMessage;
  if (update.start !== undefined) set['timeInfo.start'] = update.start;
  const end = endOfWrite(update, now);
  if (end !== undefined) set['timeInfo.end'] = end;
  if (update.completed !== undefined) set['status.completed'] = update.completed;
  if (update.inProgress !== undefined) set['status.inProgress'] = update.inProgress;
  if (update.needsRetry !== undefined) set['retryInfo.needsRetry'] = update.needsRetry;
  if (update.dueAt !== undefined) set.dueAt = update.dueAt;
  if (update.lockExpiresAt !== undefined) set['status.lockExpiresAt'] = update.lockExpiresAt;
  if (update.nextAttemptId !== undefined) set.nextAttemptId = update.nextAttemptId;
  if (update.retryEnd !== undefined) set['retryInfo.end'] = update.retryEnd;
  if (update.log !== undefined) set['status.log'] = update.log;
  if (update.logDropped !== undefined) set['status.logDropped'] = update.logDropped;
  if (update.returnValue !== undefined) set.returnValue = update.returnValue;
  if (update.state !== undefined && update.state !== 'running') {
    // Leaving `running` drops the lock; a finished attempt keeps its last owner for the record.
    set['status.lockExpiresAt'] = null;
    set['status.abortRequested'] = false;
  }
  if (update.releaseLock) set['status.owner'] = '';
  return set;
}

/**
 * The BSON types a due time may wrongly hold: every one but date, as `$type` aliases. A `$type`
 * list has index bounds on every engine, where `$not: { $type: 'date' }` reads every pending
 * document of the queue (DocumentDB). Left out: `undefined` (matched as null) and the deprecated
 * dbPointer, javascript, symbol and javascriptWithScope, whose aliases mongo-java-server rejects
 * and which no driver writes for a plain value.
 */
export const NOT_DATE_TYPES: BSONTypeAlias[] = [
  'double',
  'string',
  'object',
  'array',
  'binData',
  'objectId',
  'bool',
  'null',
  'regex',
  'int',
  'timestamp',
  'long',
  'decimal',
  'minKey',
  'maxKey',
];

/**
 * Pending documents whose `dueAt` is not a date (an array of dates included, or missing), as two
 * alternatives: no claim (a range on dates) ever sees them. The process probe (job-probe.ts) asks
 * for them on every poll; each has index bounds, so it costs nothing when there is none.
 */
export function undatedFilter(): Document[] {
  // Plain documents: the driver's filter type knows neither that null matches a missing field
  // nor lists of types.
  return [{ dueAt: null }, { dueAt: { $type: NOT_DATE_TYPES } }];
}

/** An envelope the claim's update cannot apply to: the complement of its residual checks. */
const BAD_ENVELOPE: Filter<Doc>[] = [
  { 'status.modCount': { $not: { $type: 'number' } } },
  // $type matches an array holding an element of the type: arrays are malformed too.
  { 'status.modCount': { $type: 'array' } },
  { status: { $not: { $type: 'object' } } },
  { status: { $type: 'array' } },
  { timeInfo: { $type: 'array' } },
  { timeInfo: { $not: { $type: 'object' } } },
];

/**
 * Pending documents no claim will take (`jobQuarantineMalformed`), as separate queries, each
 * one range of one index: on DocumentDB, once PostgreSQL has statistics of the collection, one
 * `$or` over them (even over the two undated ones alone) is planned as a scan of every pending
 * document of the queue through the index by type.
 * - The due documents whose envelope fails the claim's residual checks (status, its modCount,
 *   timeInfo): a range of `pending_due` (queue, dated `dueAt`), so the part of the backlog
 *   that is not due yet is never read. Envelope fields are in no index, so this reads the queue's
 *   due documents: the runner asks only when a claim left due documents behind (a pool woken for
 *   due work claimed nothing) or the process probe saw undated ones.
 * - The documents whose `dueAt` is missing or null, and those whose `dueAt` has another type
 *   than date: bounds of the claim index, nothing read when there is none.
 */
export function malformedFilters(queue: string, now: Date): Filter<Doc>[] {
  return [
    { queue, state: 'pending', dueAt: { ...DATED, $lte: now }, $or: BAD_ENVELOPE },
    ...undatedFilter().map((undated): Filter<Doc> => ({ queue, state: 'pending', ...undated })),
  ];
}

/** Quarantines a pending document no claim can take (`reason` says why). */
export function malformedQuarantine(reason: string, now: Date): UpdateFilter<Doc> {
  return {
    $set: { state: 'quarantined', quarantine: { code: ErrorCode.MalformedJob, reason, at: now } },
  };
}

/**
 * Every attempt of a job. Attempt IDs are `${base}` and `${base}#${n}` (lib/retry/attempt-chain.ts attemptId),
 * so an anchored pattern on `_id` finds them with a range scan of the `_id` index; no index on
 * the base ID is needed (every other job index leads with the queue name).
 */
export function attemptsFilter(baseJobId: string): Filter<Doc> {
  return {
    _id: { $regex: `^${escapeRegex(baseJobId)}(#[0-9]+)?$` },
    'retryInfo.baseJobId': baseJobId,
  };
}

/** The filters `jobList` and `jobPage` share: queue, states, type and creation time. */
type Selection = Pick<
  JobListParams,
  'queue' | 'states' | 'type' | 'createdAfter' | 'createdBefore' | 'queues'
>;

function selectionFilter(params: Selection): Filter<Doc> {
  const filter: Filter<Doc> = {};
  if (params.queues !== undefined) filter.queue = { $in: params.queues };
  if (params.queue !== undefined) filter.queue = params.queue;
  // One state as an equality: the partial index of that state then serves the query.
  if (params.states !== undefined) {
    filter.state = params.states.length === 1 ? params.states[0] : { $in: params.states };
  }
  if (params.type !== undefined) filter['type.name'] = params.type;
  if (params.createdAfter || params.createdBefore) {
    filter['timeInfo.created'] = {
      ...(params.createdAfter ? { $gte: params.createdAfter } : {}),
      ...(params.createdBefore ? { $lt: params.createdBefore } : {}),
    };
  }
  return filter;
}

/** The filter of `jobList`; an `idContains` pattern replaces the attempts pattern of `baseJobId`. */
export function listFilter(params: JobListParams): Filter<Doc> {
  const filter = selectionFilter(params);
  if (params.dueBefore === undefined) endTimed(filter, params.states);
  if (params.baseJobId !== undefined) Object.assign(filter, attemptsFilter(params.baseJobId));
  if (params.edge !== undefined) filter['dependency.edges'] = params.edge;
  // Dated: `pending_due` (or `retrying_due`) serves it (a range on dates only matches dates anyway).
  if (params.dueBefore !== undefined) filter.dueAt = { ...DATED, $lte: params.dueBefore };
  if (params.idContains !== undefined) filter._id = { $regex: escapeRegex(params.idContains) };
  if (params.afterId !== undefined) addIdCondition(filter, { $gt: params.afterId });
  return filter;
}

/**
 * Adds a condition on `_id` to those the filter has. Beside a `$regex` it goes in a clause of its
 * own: mongo-java-server ignores every other operator next to a `$regex`.
 */
function addIdCondition(filter: Filter<Doc>, condition: Filter<Doc>['_id']): void {
  if (filter._id === undefined) filter._id = condition;
  else filter.$and = [...(filter.$and ?? []), { _id: condition }];
}

/**
 * Lists of finished states that always carry an end time (`END_TIMED_STATES`) say so, which lets
 * the `finished_end` index serve them (it holds only documents with an end).
 */
function endTimed(filter: Filter<Doc>, states: JobState[] | undefined): void {
  if (states && states.length > 0 && states.every((s) => END_TIMED_STATES.includes(s))) {
    filter['timeInfo.end'] = DATED;
  }
}

/** The filter of `jobPage`: its selection, then the keyset position in its order. */
export function pageFilter(params: JobPageParams): Filter<Doc> {
  const filter = selectionFilter(params);
  endTimed(filter, params.states);
  if (params.idContains !== undefined) filter._id = { $regex: escapeRegex(params.idContains) };
  const { after, before } = params;
  if (after && params.order === 'id') addIdCondition(filter, { $gt: after.id });
  if (before && params.order === 'id') addIdCondition(filter, { $lt: before.id });
  if (after && params.order === 'newest') {
    // Keyset on (created desc, _id desc); a missing creation time sorts last, as null.
    filter.$or =
      after.created === null
        ? [{ 'timeInfo.created': null, _id: { $lt: after.id } }]
        : [
            { 'timeInfo.created': { $lt: after.created } },
            { 'timeInfo.created': null },
            { 'timeInfo.created': after.created, _id: { $lt: after.id } },
          ];
  }
  if (before && params.order === 'newest') {
    // The rows that sort before it in (created desc, _id desc).
    filter.$or =
      before.created === null
        ? [
            { 'timeInfo.created': { $ne: null } },
            { 'timeInfo.created': null, _id: { $gt: before.id } },
          ]
        : [
            { 'timeInfo.created': { $gt: before.created } },
            { 'timeInfo.created': before.created, _id: { $gt: before.id } },
          ];
  }
  return filter;
}

/** The sort of `jobPage`: its order, reversed when paging backwards from `before`. */
export function pageSort(params: JobPageParams): Sort {
  const dir = params.before ? 1 : -1;
  return params.order === 'id'
    ? { _id: params.before ? -1 : 1 }
    : { 'timeInfo.created': dir, _id: dir };
}

/**
 * The filter of `jobPrune` and `jobPruneCount`: finished attempts of a queue that ended before a
 * time (served by the `finished_end` index).
 */
export function pruneFilter(params: Omit<JobPruneParams, 'limit'>): Filter<Doc> {
  const filter: Filter<Doc> = {
    queue: params.queue,
    state: params.states.length === 1 ? params.states[0] : { $in: params.states },
    // Dated: the `finished_end` index holds only documents with an end (a range implies no type).
    'timeInfo.end': { ...DATED, $lt: params.endedBefore },
    // A retrying attempt whose next attempt may not exist yet is the job's only record.
    $or: [{ state: { $ne: 'retrying' } }, { dueAt: HANDED_OVER_AT }],
  };
  if (params.type !== undefined) filter['type.name'] = params.type;
  return filter;
}

/**
 * The documents that are their job's current attempt (`isCurrentAttempt` in lib/types.ts):
 * no named successor, or a `retrying` attempt whose hand-over is unfinished.
 */
export const CURRENT_ATTEMPT_FILTER: Filter<Doc> = {
  $or: [
    { nextAttemptId: { $exists: false } },
    { state: 'retrying', dueAt: { $ne: HANDED_OVER_AT } },
  ],
};

/** Escapes a literal for use in `$regex`, so user text never becomes a pattern. */
export function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
