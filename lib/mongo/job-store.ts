/**
 * Every filter, update, aggregation and index of the jobs collection. Nothing else in drover
 * reads or writes job documents in MongoDB. Writes after a claim match on `_id`, owner and
 * `modCount` (the fencing token) and increment `modCount`.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type {
  AnyBulkWriteOperation,
  ChangeStream,
  ChangeStreamInsertDocument,
  Collection,
  Db,
  Filter,
  Sort,
  UpdateFilter,
} from 'mongodb';
import { MongoBulkWriteError, MongoServerError } from 'mongodb';
import { DuplicateJobError } from '../errors';
import type {
  AbortOutcome,
  JobClaimParams,
  JobHeartbeatParams,
  JobHeartbeatResult,
  JobCountRow,
  JobListParams,
  JobPageParams,
  JobStore,
  JobSummaryDocument,
  JobUpdate,
  JobWriteParams,
  LockToken,
  ReclaimParams,
} from '../store';
import { MAX_LOCK_LOSSES_DEFAULT } from '../store';
import {
  emptyQueueStats,
  HANDED_OVER_AT,
  JOB_STATES,
  type JobDocument,
  type JobErrorRecord,
  type JobState,
  type QueueStats,
} from '../types';
import { isDuplicateKey, storeError } from './errors';
import { JOB_INDEXES } from './indexes';
import type { JobChangedSinceParams, JobLatestState } from '../store';

type Doc = JobDocument;

/** Claims of this many or more use the batched three-step path instead of findOneAndUpdate. */
const BATCH_CLAIM_MIN = 3;

function lockExpiredError(now: Date): JobErrorRecord {
  return {
    message: 'lock expired: owner stopped heartbeating',
    code: 'DROVER_LOCK_LOST',
    at: now,
    retryable: true,
  };
}

function poisonError(now: Date, maxLockLosses: number): JobErrorRecord {
  return {
    message: `lock lost ${maxLockLosses} times: its workers keep dying; failed to protect the pool`,
    code: 'DROVER_LOCK_LOST',
    at: now,
    retryable: false,
  };
}

function abortedStaleError(now: Date): JobErrorRecord {
  return {
    message: 'aborted on request; its owner stopped heartbeating',
    code: 'DROVER_ABORTED',
    at: now,
    retryable: false,
  };
}

/**
 * The guard of a write after a claim: owner and modCount. A release (back to pending for any
 * worker) also requires that no abort is requested, so it can never discard one.
 */
function heldFilter(token: LockToken, update: JobUpdate): Filter<Doc> {
  const filter: Filter<Doc> = {
    _id: token.id,
    'status.owner': token.owner,
    'status.modCount': token.modCount,
  };
  if (update.releaseLock) filter['status.abortRequested'] = { $ne: true };
  return filter;
}

/** The server refused a claim's write (not a network error); `claimId` names a failed batch. */
class ClaimWriteError extends Error {
  constructor(
    readonly claimId: string | null,
    cause: MongoServerError,
  ) {
    super(cause.message, { cause });
  }
}

/** A random nonce for claims and batched writes. */
function nonce(): string {
  return randomUUID();
}

/** A candidate as the claim's update left it in the database (kept in step with claimUpdate). */
function applyClaim(doc: Doc, params: JobClaimParams, claimId: string): Doc {
  doc.status.claimId = claimId;
  doc.state = 'running';
  doc.status.owner = params.owner;
  doc.status.inProgress = true;
  doc.status.lockExpiresAt = new Date(params.now.getTime() + params.lockTimeoutMs);
  doc.status.modTime = params.now;
  doc.status.abortRequested = false;
  doc.status.modCount += 1;
  doc.timeInfo.start = params.now;
  return doc;
}

/** The `$set` part of a guarded write. */
function updateFields(update: JobUpdate, now: Date): Record<string, unknown> {
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

/** MongoDB implementation of the job storage protocol. */
export class MongoJobStore implements JobStore {
  readonly jobs: Collection<Doc>;
  private readonly insertEvents = new EventEmitter();
  private insertStream?: ChangeStream<Doc, ChangeStreamInsertDocument<Doc>>;
  private insertStreamUnsupported = false;

  constructor(db: Db, collectionName = 'drover_jobs') {
    this.jobs = db.collection<Doc>(collectionName);
    this.insertEvents.setMaxListeners(0);
  }

  async init(): Promise<void> {
    try {
      await this.jobs.createIndexes(JOB_INDEXES);
    } catch (err) {
      throw storeError('creating job indexes', err);
    }
  }

  async jobInsert(docs: Doc[]): Promise<void> {
    if (docs.length === 0) return;
    try {
      if (docs.length === 1) await this.jobs.insertOne(docs[0]);
      else await this.jobs.insertMany(docs, { ordered: false });
    } catch (err) {
      if (err instanceof MongoBulkWriteError && isDuplicateKey(err)) {
        const errs = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
        const ids = errs.map((e) => docs[e.index]._id);
        throw new DuplicateJobError(ids[0], docs[0].queue, ids);
      }
      if (isDuplicateKey(err)) throw new DuplicateJobError(docs[0]._id, docs[0].queue);
      throw storeError('inserting jobs', err);
    }
  }

  async jobGet(id: string): Promise<Doc | null> {
    return this.jobs.findOne({ _id: id });
  }

  async jobGetLatest(baseJobId: string): Promise<Doc | null> {
    return this.jobs.findOne(attemptsFilter(baseJobId), {
      sort: { 'retryInfo.currentAttempt': -1 },
    });
  }

  async jobAttempts(baseJobId: string): Promise<Doc[]> {
    return this.jobs
      .find(attemptsFilter(baseJobId))
      .sort({ 'retryInfo.currentAttempt': 1 })
      .toArray();
  }

  /** The claim filter; its shape is checked against CLAIM_INDEX by a test. */
  static claimFilter(params: Pick<JobClaimParams, 'queue' | 'now' | 'excludeTypes'>): Filter<Doc> {
    const filter: Filter<Doc> = {
      queue: params.queue,
      state: 'pending',
      dueAt: { $lte: params.now },
      // Residual checks (not in the index): a corrupted envelope must not make the claim fail.
      'status.modCount': { $type: 'number' },
      timeInfo: { $type: 'object' },
    };
    if (params.excludeTypes && params.excludeTypes.length > 0) {
      filter['type.name'] = { $nin: params.excludeTypes };
    }
    return filter;
  }

  /** The claim order; the index serves it. */
  static readonly claimSort = { priority: -1, dueAt: 1, _id: 1 } as const;

  private claimUpdate(params: JobClaimParams, claimId: string): UpdateFilter<Doc> {
    return {
      $set: {
        'status.claimId': claimId,
        state: 'running',
        'status.owner': params.owner,
        'status.inProgress': true,
        'status.lockExpiresAt': new Date(params.now.getTime() + params.lockTimeoutMs),
        'status.modTime': params.now,
        'status.abortRequested': false,
        'timeInfo.start': params.now,
      },
      $inc: { 'status.modCount': 1 },
    };
  }

  async jobClaim(params: JobClaimParams): Promise<Doc[]> {
    try {
      return await this.claimBatch(params);
    } catch (err) {
      // A document the claim's update cannot apply to (a corrupted envelope) makes the server
      // refuse the whole write: claim one by one, quarantining what cannot be claimed, so one
      // bad document never stops a queue. Network errors go to the caller.
      if (!(err instanceof ClaimWriteError)) throw err;
      return this.claimOneByOne(params, err.claimId);
    }
  }

  private async claimBatch(params: JobClaimParams): Promise<Doc[]> {
    const filter = MongoJobStore.claimFilter(params);
    if (params.limit < BATCH_CLAIM_MIN) {
      const claimed: Doc[] = [];
      for (let i = 0; i < params.limit; i++) {
        const doc = await this.jobs
          .findOneAndUpdate(filter, this.claimUpdate(params, nonce()), {
            sort: MongoJobStore.claimSort,
            returnDocument: 'after',
          })
          .catch((err: unknown) => {
            throw err instanceof MongoServerError ? new ClaimWriteError(null, err) : err;
          });
        if (!doc) break;
        claimed.push(doc);
      }
      return claimed;
    }
    // Batched claim: read candidates through the index, flip those still pending and unchanged
    // (same modCount) in one updateMany, whose per-document update re-checks the filter. When
    // every candidate was won (no contention), the documents we read are ours with the claim
    // applied: two round trips. Otherwise read back exactly the ones we won.
    const candidates = await this.jobs
      .find(filter, { sort: MongoJobStore.claimSort, limit: params.limit })
      .toArray();
    if (candidates.length === 0) return [];
    const claimId = nonce();
    const update = this.claimUpdate(params, claimId);
    const res = await this.jobs
      .updateMany(
        {
          ...filter,
          $or: candidates.map((c) => ({ _id: c._id, 'status.modCount': c.status.modCount })),
        },
        update,
      )
      .catch((err: unknown) => {
        throw err instanceof MongoServerError ? new ClaimWriteError(claimId, err) : err;
      });
    if (res.modifiedCount === 0) return [];
    if (res.modifiedCount === candidates.length) {
      return candidates.map((c) => applyClaim(c, params, claimId));
    }
    const ids = candidates.map((c) => c._id);
    const won = await this.jobs
      .find({
        _id: { $in: ids },
        state: 'running',
        'status.owner': params.owner,
        'status.claimId': claimId,
      })
      .toArray();
    const order = new Map(ids.map((id, i) => [id, i]));
    return won.sort((a, b) => (order.get(a._id) ?? 0) - (order.get(b._id) ?? 0));
  }

  /** The slow, safe claim (see jobClaim); also picks up what a failed batch already claimed. */
  private async claimOneByOne(params: JobClaimParams, claimId: string | null): Promise<Doc[]> {
    const filter = MongoJobStore.claimFilter(params);
    const claimed: Doc[] = claimId
      ? await this.jobs.find({ 'status.claimId': claimId, state: 'running' }).toArray()
      : [];
    const candidates = await this.jobs
      .find(filter, {
        projection: { _id: 1 },
        sort: MongoJobStore.claimSort,
        limit: Math.max(0, params.limit - claimed.length),
      })
      .toArray();
    for (const c of candidates) {
      try {
        const doc = await this.jobs.findOneAndUpdate(
          { ...filter, _id: c._id },
          this.claimUpdate(params, nonce()),
          { returnDocument: 'after' },
        );
        if (doc) claimed.push(doc);
      } catch (err) {
        if (!(err instanceof MongoServerError)) throw err;
        await this.jobs.updateOne(
          { _id: c._id, state: 'pending' },
          {
            $set: {
              state: 'quarantined',
              quarantine: {
                code: 'DROVER_MALFORMED_JOB',
                reason: `cannot be claimed: ${err.message}`,
                at: params.now,
              },
            },
          },
        );
      }
    }
    return claimed;
  }

  async jobHeartbeat(params: JobHeartbeatParams): Promise<JobHeartbeatResult> {
    if (params.jobs.length === 0) return { lost: [], abortRequested: [] };
    const held = {
      $or: params.jobs.map((t) => ({
        _id: t.id,
        'status.owner': t.owner,
        'status.modCount': t.modCount,
      })),
    };
    const refresh = { $set: { 'status.lockExpiresAt': params.lockExpiresAt } };
    const res = await this.jobs.updateMany(
      { ...held, state: 'running', 'status.abortRequested': false },
      refresh,
    );
    if (res.matchedCount === params.jobs.length) return { lost: [], abortRequested: [] };
    // Jobs asked to abort keep their lock while they stop, so nobody runs them again meanwhile.
    await this.jobs.updateMany(
      { ...held, state: 'running', 'status.abortRequested': true },
      refresh,
    );
    const docs = await this.jobs
      .find(
        { _id: { $in: params.jobs.map((t) => t.id) } },
        {
          projection: {
            state: 1,
            'status.owner': 1,
            'status.modCount': 1,
            'status.abortRequested': 1,
          },
        },
      )
      .toArray();
    const byId = new Map(docs.map((d) => [d._id, d]));
    const result: JobHeartbeatResult = { lost: [], abortRequested: [] };
    for (const t of params.jobs) {
      const d = byId.get(t.id);
      if (
        !d ||
        d.state !== 'running' ||
        d.status.owner !== t.owner ||
        d.status.modCount !== t.modCount
      ) {
        result.lost.push(t.id);
      } else if (d.status.abortRequested) {
        result.abortRequested.push(t.id);
      }
    }
    return result;
  }

  async jobWrite(params: JobWriteParams): Promise<number | null> {
    const { token } = params;
    const res = await this.jobs.updateOne(heldFilter(token, params.update), {
      $set: updateFields(params.update, params.now),
      $inc: { 'status.modCount': 1 },
    });
    return res.matchedCount === 1 ? token.modCount + 1 : null;
  }

  async jobTransition(params: {
    id: string;
    modCount: number;
    from: JobState[];
    update: JobUpdate;
    now: Date;
  }): Promise<number | null> {
    const res = await this.jobs.updateOne(
      { _id: params.id, 'status.modCount': params.modCount, state: { $in: params.from } },
      { $set: updateFields(params.update, params.now), $inc: { 'status.modCount': 1 } },
    );
    return res.matchedCount === 1 ? params.modCount + 1 : null;
  }

  async jobProgress(params: {
    token: LockToken;
    progress: number;
    message?: string;
    now: Date;
  }): Promise<boolean> {
    const { token } = params;
    const set: Record<string, unknown> = {
      'status.progress': params.progress,
      'status.modTime': params.now,
    };
    if (params.message !== undefined) set['status.progressMessage'] = params.message;
    const res = await this.jobs.updateOne(
      {
        _id: token.id,
        'status.owner': token.owner,
        'status.modCount': token.modCount,
        state: 'running',
      },
      { $set: set },
    );
    return res.matchedCount === 1;
  }

  async jobReclaimStale(params: ReclaimParams): Promise<number> {
    const maxLockLosses = params.maxLockLosses ?? MAX_LOCK_LOSSES_DEFAULT;
    const stale = {
      queue: params.queue,
      state: 'running' as const,
      'status.lockExpiresAt': { $lt: params.now },
    };
    // The common case is nothing stale: one indexed probe, no writes.
    if ((await this.jobs.countDocuments(stale, { limit: 1 })) === 0) return 0;
    const unlock = {
      'status.owner': '',
      'status.inProgress': false,
      'status.lockExpiresAt': null,
      'status.abortRequested': false,
      'status.modTime': params.now,
    };
    const count = { 'status.modCount': 1, 'status.errCount': 1, 'status.lockLosses': 1 };
    // A job whose abort was requested is not run again: it ends aborted.
    const aborted = await this.jobs.updateMany(
      { ...stale, 'status.abortRequested': true },
      {
        $set: { ...unlock, state: 'aborted', 'timeInfo.end': params.now },
        $inc: count,
        $push: { 'status.errors': abortedStaleError(params.now) },
      },
    );
    // A job that keeps killing its workers (a poison pill) fails instead of looping forever.
    const poisoned = await this.jobs.updateMany(
      {
        ...stale,
        'status.abortRequested': false,
        // A missing count is 0 losses so far ($gte never matches a missing field).
        ...(maxLockLosses > 1 ? { 'status.lockLosses': { $gte: maxLockLosses - 1 } } : {}),
      },
      {
        $set: { ...unlock, state: 'failed', 'timeInfo.end': params.now },
        $inc: count,
        $push: { 'status.errors': poisonError(params.now, maxLockLosses) },
      },
    );
    const res = await this.jobs.updateMany(
      { ...stale, 'status.abortRequested': false },
      {
        // dueAt stays: it is past, so the job keeps its place in the claim order.
        $set: { ...unlock, state: 'pending' },
        $inc: count,
        $push: { 'status.errors': lockExpiredError(params.now) },
      },
    );
    return res.modifiedCount + aborted.modifiedCount + poisoned.modifiedCount;
  }

  async jobRequestAbort(id: string, now: Date): Promise<AbortOutcome> {
    const waiting = await this.jobs.updateOne(
      { _id: id, state: { $in: ['pending', 'blocked'] } },
      {
        $set: { state: 'aborted', 'timeInfo.end': now, 'status.modTime': now },
        $inc: { 'status.modCount': 1, 'status.errCount': 1 },
        $push: {
          'status.errors': {
            message: 'aborted before it started',
            code: 'DROVER_ABORTED',
            at: now,
            retryable: false,
          },
        },
      },
    );
    if (waiting.matchedCount === 1) return 'aborted';
    const running = await this.jobs.updateOne(
      { _id: id, state: 'running' },
      { $set: { 'status.abortRequested': true } },
    );
    if (running.matchedCount === 1) return 'requested';
    return (await this.jobs.countDocuments({ _id: id }, { limit: 1 })) === 1
      ? 'finished'
      : 'not-found';
  }

  async jobQuarantine(params: {
    id: string;
    modCount: number;
    code: string;
    reason: string;
    now: Date;
  }): Promise<boolean> {
    const res = await this.jobs.updateOne(
      { _id: params.id, 'status.modCount': params.modCount },
      {
        $set: {
          state: 'quarantined',
          quarantine: { code: params.code, reason: params.reason, at: params.now },
          'status.owner': '',
          'status.lockExpiresAt': null,
          'status.inProgress': false,
          'status.modTime': params.now,
        },
        $inc: { 'status.modCount': 1 },
      },
    );
    return res.matchedCount === 1;
  }

  async jobQuarantineMalformed(params: { queue: string; now: Date }): Promise<string[]> {
    const filter: Filter<Doc> = {
      queue: params.queue,
      state: 'pending',
      $or: [
        { 'status.modCount': { $not: { $type: 'number' } } },
        // $type matches an array holding an element of the type: arrays are malformed too.
        { 'status.modCount': { $type: 'array' } },
        { status: { $not: { $type: 'object' } } },
        { status: { $type: 'array' } },
        { timeInfo: { $type: 'array' } },
        { timeInfo: { $not: { $type: 'object' } } },
        { dueAt: { $not: { $type: 'date' } } },
      ],
    };
    const ids = (
      await this.jobs.find(filter, { projection: { _id: 1 }, limit: 1000 }).toArray()
    ).map((d) => d._id);
    if (ids.length === 0) return [];
    await this.jobs.updateMany(
      { ...filter, _id: { $in: ids } },
      {
        $set: {
          state: 'quarantined',
          quarantine: {
            code: 'DROVER_MALFORMED_JOB',
            reason: 'envelope fields missing or of the wrong type',
            at: params.now,
          },
        },
      },
    );
    return ids;
  }

  async jobStats(queue: string, now: Date): Promise<QueueStats> {
    const [groups, due] = await Promise.all([
      this.jobs
        .aggregate<{ _id: string; n: number }>([
          { $match: { queue } },
          { $group: { _id: '$state', n: { $sum: 1 } } },
        ])
        .toArray(),
      this.jobs.countDocuments({ queue, state: 'pending', dueAt: { $lte: now } }),
    ]);
    const stats: QueueStats = { ...emptyQueueStats(queue), due };
    for (const g of groups) {
      if ((JOB_STATES as readonly string[]).includes(g._id))
        stats[g._id as keyof Omit<QueueStats, 'queue'>] = g.n;
      stats.total += g.n;
    }
    return stats;
  }

  async jobList(params: JobListParams): Promise<Doc[]> {
    const filter: Filter<Doc> = {};
    if (params.queue !== undefined) filter.queue = params.queue;
    if (params.states !== undefined) filter.state = { $in: params.states };
    if (params.type !== undefined) filter['type.name'] = params.type;
    if (params.baseJobId !== undefined) Object.assign(filter, attemptsFilter(params.baseJobId));
    if (params.edge !== undefined) filter['dependency.edges'] = params.edge;
    if (params.dueBefore !== undefined) filter.dueAt = { $lte: params.dueBefore };
    if (params.idContains !== undefined) filter._id = { $regex: escapeRegex(params.idContains) };
    if (params.afterId !== undefined)
      filter._id = { ...(filter._id as object), $gt: params.afterId };
    if (params.createdAfter || params.createdBefore) {
      filter['timeInfo.created'] = {
        ...(params.createdAfter ? { $gte: params.createdAfter } : {}),
        ...(params.createdBefore ? { $lt: params.createdBefore } : {}),
      };
    }
    return this.jobs.find(filter).sort({ _id: 1 }).limit(params.limit).toArray();
  }

  /** Applies several guarded writes in one round trip; returns the IDs whose write matched. */
  async jobWriteMany(writes: JobWriteParams[]): Promise<Set<string>> {
    // Each write carries a nonce: when not all matched, the nonces tell which took effect.
    const writeIds = writes.map(() => nonce());
    const ops: AnyBulkWriteOperation<Doc>[] = writes.map((w, i) => ({
      updateOne: {
        filter: heldFilter(w.token, w.update),
        update: {
          $set: { ...updateFields(w.update, w.now), 'status.writeId': writeIds[i] },
          $inc: { 'status.modCount': 1 },
        },
      },
    }));
    const res = await this.jobs.bulkWrite(ops, { ordered: false });
    if (res.matchedCount === writes.length) return new Set(writes.map((w) => w.token.id));
    const docs = await this.jobs
      .find(
        { _id: { $in: writes.map((w) => w.token.id) } },
        { projection: { 'status.writeId': 1 } },
      )
      .toArray();
    const byId = new Map(docs.map((d) => [d._id, d]));
    return new Set(
      writes
        .filter((w, i) => byId.get(w.token.id)?.status.writeId === writeIds[i])
        .map((w) => w.token.id),
    );
  }

  jobOnInsert(queue: string, listener: () => void): () => void {
    this.insertEvents.on(queue, listener);
    this.openInsertStream();
    return () => {
      this.insertEvents.off(queue, listener);
      if (this.insertEvents.eventNames().length === 0) void this.closeInsertStream();
    };
  }

  /** One change stream per store, fanned out by queue; disabled for good where unsupported. */
  private openInsertStream(): void {
    if (this.insertStream || this.insertStreamUnsupported) return;
    try {
      const stream = this.jobs.watch<Doc, ChangeStreamInsertDocument<Doc>>(
        [{ $match: { operationType: 'insert' } }],
        { fullDocument: 'default' },
      );
      stream.on('change', (change) => this.insertEvents.emit(change.fullDocument.queue));
      stream.on('error', () => {
        // Standalone servers and stand-ins have no change streams: polling alone serves.
        this.insertStreamUnsupported = true;
        void this.closeInsertStream();
      });
      this.insertStream = stream;
    } catch {
      this.insertStreamUnsupported = true;
    }
  }

  private async closeInsertStream(): Promise<void> {
    const stream = this.insertStream;
    this.insertStream = undefined;
    await stream?.close().catch(() => undefined);
  }

  async close(): Promise<void> {
    // The client belongs to whoever connected it; only our change stream is ours to close.
    await this.closeInsertStream();
  }

  // --- management ---

  async jobCounts(params: { queue?: string; now: Date }): Promise<JobCountRow[]> {
    type Group = { _id: { queue: string; type: string; state: JobState }; n: number; due: number };
    const isDue = { $and: [{ $eq: ['$state', 'pending'] }, { $lte: ['$dueAt', params.now] }] };
    const rows = await this.jobs
      .aggregate<Group>([
        ...(params.queue === undefined ? [] : [{ $match: { queue: params.queue } }]),
        {
          $group: {
            _id: { queue: '$queue', type: '$type.name', state: '$state' },
            n: { $sum: 1 },
            due: { $sum: { $cond: [isDue, 1, 0] } },
          },
        },
        { $sort: { '_id.queue': 1, '_id.type': 1, '_id.state': 1 } },
      ])
      .toArray();
    return rows.map((r) => ({
      queue: String(r._id.queue ?? ''),
      type: String(r._id.type ?? ''),
      // A malformed document may hold no state or an unknown one; callers count it in totals.
      state: String(r._id.state ?? '') as JobState,
      count: r.n,
      due: r.due,
    }));
  }

  async jobPage(params: JobPageParams): Promise<JobSummaryDocument[]> {
    const filter: Filter<Doc> = {};
    if (params.queue !== undefined) filter.queue = params.queue;
    if (params.states !== undefined) filter.state = { $in: params.states };
    if (params.type !== undefined) filter['type.name'] = params.type;
    const id: Record<string, unknown> = {};
    if (params.idContains !== undefined) id.$regex = escapeRegex(params.idContains);
    if (params.createdAfter || params.createdBefore) {
      filter['timeInfo.created'] = {
        ...(params.createdAfter ? { $gte: params.createdAfter } : {}),
        ...(params.createdBefore ? { $lt: params.createdBefore } : {}),
      };
    }
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
    const sort: Sort = params.order === 'id' ? { _id: 1 } : { 'timeInfo.created': -1, _id: -1 };
    return this.jobs
      .find(filter, { projection: { payload: 0 } })
      .sort(sort)
      .limit(params.limit)
      .toArray();
  }

  async jobDelete(params: { id: string; modCount: number; from: JobState[] }): Promise<boolean> {
    const res = await this.jobs.deleteOne({
      _id: params.id,
      'status.modCount': params.modCount,
      state: { $in: params.from },
    });
    return res.deletedCount === 1;
  }

  async jobPrune(params: {
    queue: string;
    endedBefore: Date;
    states: JobState[];
    limit: number;
  }): Promise<number> {
    // Served by the `ended` index. Reading IDs first bounds the batch (deleteMany has no limit);
    // the delete re-checks the filter, so an attempt that changed meanwhile is kept.
    const filter: Filter<Doc> = {
      queue: params.queue,
      state: { $in: params.states },
      'timeInfo.end': { $lt: params.endedBefore },
      // A retrying attempt whose next attempt may not exist yet is the job's only record.
      $or: [{ state: { $ne: 'retrying' } }, { dueAt: HANDED_OVER_AT }],
    };
    const ids = (
      await this.jobs.find(filter, { projection: { _id: 1 }, limit: params.limit }).toArray()
    ).map((d) => d._id);
    if (ids.length === 0) return 0;
    const res = await this.jobs.deleteMany({ ...filter, _id: { $in: ids } });
    return res.deletedCount;
  }

  async jobQueueNames(): Promise<string[]> {
    const names = await this.jobs.distinct('queue');
    return names.filter((n): n is string => typeof n === 'string').sort();
  }

  // --- events ---

  async jobChangedSince(params: JobChangedSinceParams): Promise<JobSummaryDocument[]> {
    // Served by the `changed` index (queue, status.modTime, _id).
    const { modTime, id } = params.after;
    return this.jobs
      .find(
        {
          queue: params.queue,
          $or: [
            { 'status.modTime': { $gt: modTime } },
            { 'status.modTime': modTime, _id: { $gt: id } },
          ],
        },
        { projection: { payload: 0 } },
      )
      .sort({ 'status.modTime': 1, _id: 1 })
      .limit(params.limit)
      .toArray();
  }

  async jobLatestStates(params: { queue: string; idPrefix: string }): Promise<JobLatestState[]> {
    // Attempt IDs start with their base ID: an anchored pattern is a range scan of `_id`.
    const docs = await this.jobs
      .find(
        {
          _id: { $regex: `^${escapeRegex(params.idPrefix)}` },
          'retryInfo.baseJobId': { $regex: `^${escapeRegex(params.idPrefix)}` },
          queue: params.queue,
        },
        { projection: { state: 1, 'retryInfo.baseJobId': 1, 'retryInfo.currentAttempt': 1 } },
      )
      .toArray();
    return newestAttempts(
      docs.map((d) => ({
        id: d._id,
        baseJobId: d.retryInfo.baseJobId,
        attempt: d.retryInfo.currentAttempt,
        state: d.state,
      })),
    );
  }
}

/** Keeps the newest attempt of each base job. */
function newestAttempts(rows: JobLatestState[]): JobLatestState[] {
  const newest = new Map<string, JobLatestState>();
  for (const r of rows) {
    const seen = newest.get(r.baseJobId);
    if (!seen || seen.attempt < r.attempt) newest.set(r.baseJobId, r);
  }
  return [...newest.values()];
}

/**
 * Every attempt of a job. Attempt IDs are `${base}` and `${base}#${n}` (lib/retry.ts attemptId),
 * so an anchored pattern on `_id` finds them with a range scan of the `_id` index; no index on
 * the base ID is needed (every other job index leads with the queue name).
 */
function attemptsFilter(baseJobId: string): Filter<Doc> {
  return {
    _id: { $regex: `^${escapeRegex(baseJobId)}(#[0-9]+)?$` },
    'retryInfo.baseJobId': baseJobId,
  };
}

/** Escapes a literal for use in `$regex`, so user text never becomes a pattern. */
export function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
