/**
 * Every filter, update, aggregation and index of the jobs collection. Nothing else in drover
 * reads or writes job documents in MongoDB. Writes after a claim match on `_id`, owner and
 * `modCount` (the fencing token) and increment `modCount`.
 */
import type { AnyBulkWriteOperation, Collection, Db, Filter, UpdateFilter } from 'mongodb';
import { MongoBulkWriteError } from 'mongodb';
import { DuplicateJobError } from '../errors';
import type {
  AbortOutcome,
  JobClaimParams,
  JobHeartbeatParams,
  JobHeartbeatResult,
  JobListParams,
  JobStore,
  JobUpdate,
  JobWriteParams,
  LockToken,
} from '../store';
import {
  JOB_STATES,
  type JobDocument,
  type JobErrorRecord,
  type JobState,
  type QueueStats,
} from '../types';
import { isDuplicateKey, storeError } from './errors';
import { JOB_INDEXES } from './indexes';

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

  constructor(db: Db, collectionName = 'drover_jobs') {
    this.jobs = db.collection<Doc>(collectionName);
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
    return this.jobs.findOne(
      { 'retryInfo.baseJobId': baseJobId },
      { sort: { 'retryInfo.currentAttempt': -1 } },
    );
  }

  async jobAttempts(baseJobId: string): Promise<Doc[]> {
    return this.jobs
      .find({ 'retryInfo.baseJobId': baseJobId })
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

  private claimUpdate(params: JobClaimParams): UpdateFilter<Doc> {
    return {
      $set: {
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
    const filter = MongoJobStore.claimFilter(params);
    if (params.limit < BATCH_CLAIM_MIN) {
      const claimed: Doc[] = [];
      for (let i = 0; i < params.limit; i++) {
        const doc = await this.jobs.findOneAndUpdate(filter, this.claimUpdate(params), {
          sort: MongoJobStore.claimSort,
          returnDocument: 'after',
        });
        if (!doc) break;
        claimed.push(doc);
      }
      return claimed;
    }
    // Batched claim: read candidate IDs through the index, flip the ones still pending in one
    // updateMany (each document's update is atomic and re-checks the filter), read back ours.
    const candidates = await this.jobs
      .find(filter, { projection: { _id: 1 }, sort: MongoJobStore.claimSort, limit: params.limit })
      .toArray();
    if (candidates.length === 0) return [];
    const ids = candidates.map((c) => c._id);
    const res = await this.jobs.updateMany(
      { ...filter, _id: { $in: ids } },
      this.claimUpdate(params),
    );
    if (res.modifiedCount === 0) return [];
    const won = await this.jobs
      .find({
        _id: { $in: ids },
        state: 'running',
        'status.owner': params.owner,
        'timeInfo.start': params.now,
      })
      .toArray();
    const order = new Map(ids.map((id, i) => [id, i]));
    return won.sort((a, b) => (order.get(a._id) ?? 0) - (order.get(b._id) ?? 0));
  }

  async jobHeartbeat(params: JobHeartbeatParams): Promise<JobHeartbeatResult> {
    if (params.jobs.length === 0) return { lost: [], abortRequested: [] };
    const held = params.jobs.map((t) => ({
      _id: t.id,
      'status.owner': t.owner,
      'status.modCount': t.modCount,
    }));
    const res = await this.jobs.updateMany(
      { $or: held, state: 'running', 'status.abortRequested': false },
      { $set: { 'status.lockExpiresAt': params.lockExpiresAt } },
    );
    if (res.matchedCount === params.jobs.length) return { lost: [], abortRequested: [] };
    // Some did not match: find out which were taken from us and which were asked to abort.
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
    const res = await this.jobs.updateOne(
      { _id: token.id, 'status.owner': token.owner, 'status.modCount': token.modCount },
      { $set: updateFields(params.update, params.now), $inc: { 'status.modCount': 1 } },
    );
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

  async jobReclaimStale(params: { queue: string; now: Date }): Promise<number> {
    const res = await this.jobs.updateMany(
      { queue: params.queue, state: 'running', 'status.lockExpiresAt': { $lt: params.now } },
      {
        $set: {
          // dueAt stays: it is past, so the job keeps its place in the claim order.
          state: 'pending',
          'status.owner': '',
          'status.inProgress': false,
          'status.lockExpiresAt': null,
          'status.abortRequested': false,
          'status.modTime': params.now,
        },
        $inc: { 'status.modCount': 1, 'status.errCount': 1 },
        $push: { 'status.errors': lockExpiredError(params.now) },
      },
    );
    return res.modifiedCount;
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
    const stats: QueueStats = {
      queue,
      total: 0,
      pending: 0,
      due,
      blocked: 0,
      running: 0,
      retrying: 0,
      completed: 0,
      failed: 0,
      aborted: 0,
      expired: 0,
      quarantined: 0,
    };
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
    if (params.baseJobId !== undefined) filter['retryInfo.baseJobId'] = params.baseJobId;
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
    const ops: AnyBulkWriteOperation<Doc>[] = writes.map((w) => ({
      updateOne: {
        filter: {
          _id: w.token.id,
          'status.owner': w.token.owner,
          'status.modCount': w.token.modCount,
        },
        update: { $set: updateFields(w.update, w.now), $inc: { 'status.modCount': 1 } },
      },
    }));
    const res = await this.jobs.bulkWrite(ops, { ordered: false });
    if (res.matchedCount === writes.length) return new Set(writes.map((w) => w.token.id));
    const docs = await this.jobs
      .find(
        { _id: { $in: writes.map((w) => w.token.id) } },
        { projection: { 'status.owner': 1, 'status.modCount': 1 } },
      )
      .toArray();
    const byId = new Map(docs.map((d) => [d._id, d]));
    return new Set(
      writes
        .filter((w) => {
          const d = byId.get(w.token.id);
          const owner = w.update.releaseLock ? '' : w.token.owner;
          return d && d.status.owner === owner && d.status.modCount === w.token.modCount + 1;
        })
        .map((w) => w.token.id),
    );
  }

  async close(): Promise<void> {
    // The client belongs to whoever connected it.
  }
}

/** Escapes a literal for use in `$regex`, so user text never becomes a pattern. */
export function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
