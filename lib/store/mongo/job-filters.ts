/**
 * The jobs collection module, its shared filter and update builders: the guard and `$set` of
 * guarded writes, the malformed-envelope filter, the attempts pattern and the list and page
 * filters. The module is job-store.ts (the store class), job-claim.ts (the claim),
 * job-store-admin.ts (listing and management), job-indexes.ts (the indexes) and this file.
 * Nothing else in drover reads or writes job documents in MongoDB.
 */
import { randomUUID } from 'node:crypto';
import type { BSONTypeAlias, Document, Filter, UpdateFilter } from 'mongodb';
import { ErrorCode } from '../../errors';
import type { JobListParams, JobPageParams, JobUpdate, LockToken } from '../job-store';
import type { JobDocument } from '../../types';
import { DATED } from './job-indexes';

type Doc = JobDocument;

/** A random nonce for claims and batched writes. */
export function nonce(): string {
  return randomUUID();
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
  if (update.end !== undefined) set['timeInfo.end'] = update.end;
  if (update.completed !== undefined) set['status.completed'] = update.completed;
  if (update.inProgress !== undefined) set['status.inProgress'] = update.inProgress;
  if (update.needsRetry !== undefined) set['retryInfo.needsRetry'] = update.needsRetry;
  if (update.dueAt !== undefined) set.dueAt = update.dueAt;
  if (update.lockExpiresAt !== undefined) set['status.lockExpiresAt'] = update.lockExpiresAt;
  if (update.nextAttemptId !== undefined) set.nextAttemptId = update.nextAttemptId;
  if (update.retryEnd !== undefined) set['retryInfo.end'] = update.retryEnd;
  if (update.state !== undefined && update.state !== 'running') {
    // Leaving `running` drops the lock; a finished attempt keeps its last owner for the record.
    set['status.lockExpiresAt'] = null;
    set['status.abortRequested'] = false;
  }
  if (update.releaseLock) set['status.owner'] = '';
  return set;
}

/**
 * `dueAt` values of other types than a date, as `$type` aliases: every one has index bounds, so
 * a filter on them is served by the due index. (An empty array, which no index entry holds as a
 * value, is not among them; a claim never sees it either.)
 */
export const NON_DATE_TYPES: BSONTypeAlias[] = [
  'string',
  'double',
  'int',
  'long',
  'decimal',
  'object',
  'bool',
  'objectId',
];

/** Pending documents whose `dueAt` is not a date: no claim (a range on dates) ever sees them. */
export function undatedFilter(): Document[] {
  // Plain documents: the driver's filter type knows neither that null matches a missing field
  // nor lists of types.
  return [{ dueAt: null }, { dueAt: { $type: NON_DATE_TYPES } }];
}

/**
 * Pending documents whose envelope a claim cannot update (`jobQuarantineMalformed`): the
 * complement of the claim filter's residual checks among the due documents, and the documents
 * whose `dueAt` is no date. Both are served by the due index (queue, state, dueAt): the probe
 * never reads the part of the backlog that is not due yet.
 */
export function malformedFilter(queue: string, now: Date): Filter<Doc> {
  return {
    queue,
    state: 'pending',
    $or: [
      {
        dueAt: { ...DATED, $lte: now },
        $or: [
          { 'status.modCount': { $not: { $type: 'number' } } },
          // $type matches an array holding an element of the type: arrays are malformed too.
          { 'status.modCount': { $type: 'array' } },
          { status: { $not: { $type: 'object' } } },
          { status: { $type: 'array' } },
          { timeInfo: { $type: 'array' } },
          { timeInfo: { $not: { $type: 'object' } } },
        ],
      },
      ...undatedFilter(),
    ],
  };
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
  if (params.states !== undefined) filter.state = { $in: params.states };
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
  if (params.baseJobId !== undefined) Object.assign(filter, attemptsFilter(params.baseJobId));
  if (params.edge !== undefined) filter['dependency.edges'] = params.edge;
  // Dated: the due index serves it (a range on dates only matches dates anyway).
  if (params.dueBefore !== undefined) filter.dueAt = { ...DATED, $lte: params.dueBefore };
  if (params.idContains !== undefined) filter._id = { $regex: escapeRegex(params.idContains) };
  if (params.afterId !== undefined) filter._id = { ...(filter._id as object), $gt: params.afterId };
  return filter;
}

/** The filter of `jobPage`: its selection, then the keyset position in its order. */
export function pageFilter(params: JobPageParams): Filter<Doc> {
  const filter = selectionFilter(params);
  const id: Record<string, unknown> = {};
  if (params.idContains !== undefined) id.$regex = escapeRegex(params.idContains);
  const after = params.after;
  if (after && params.order === 'id') id.$gt = after.id;
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
  if (Object.keys(id).length > 0) filter._id = id;
  return filter;
}

/** Escapes a literal for use in `$regex`, so user text never becomes a pattern. */
export function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
