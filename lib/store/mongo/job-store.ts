/**
 * The jobs collection module, its store class: inserts, reads, heartbeats, guarded writes,
 * reclaims, aborts and quarantines. The module is six files: this one, job-claim.ts (the
 * claim), job-probe.ts (the one read per process for all its queues), job-store-admin.ts (listing, counts, statistics, deletes and the change feed; the base
 * class), job-filters.ts (the shared filter and update builders) and job-indexes.ts (the
 * indexes). Nothing else in drover reads or writes job documents in MongoDB. Writes after a
 * claim match on `_id`, owner and `modCount` (the fencing token) and increment `modCount`.
 */
import { EventEmitter } from 'node:events';
import type { AnyBulkWriteOperation, ChangeStream, ChangeStreamInsertDocument, Db } from 'mongodb';
import { MongoBulkWriteError } from 'mongodb';
import { DuplicateJobError } from '../../errors';
import {
  MAX_LOCK_LOSSES_DEFAULT,
  storeRecords,
  type AbortOutcome,
  type JobClaimParams,
  type JobHeartbeatParams,
  type JobHeartbeatResult,
  type JobProbeParams,
  type JobProbeResult,
  type JobProgressParams,
  type JobQuarantineParams,
  type JobStore,
  type JobTransitionParams,
  type JobWriteParams,
  type ReclaimParams,
} from '../job-store';
import type { JobDocument } from '../../types';
import { isDuplicateKey, storeError } from './errors';
import { CLAIM_SORT, claimFilter, claimJobs } from './job-claim';
import {
  attemptsFilter,
  heldFilter,
  malformedFilter,
  malformedQuarantine,
  nonce,
  tokenFilter,
  updateFields,
} from './job-filters';
import { JOB_INDEXES } from './job-indexes';
import { probeJobs } from './job-probe';
import { MongoJobStoreAdmin } from './job-store-admin';
import { ServerClock } from './server-clock';

type Doc = JobDocument;

/**
 * MongoDB implementation of the job storage protocol: inserts, reads, the claim-run-record path
 * and reclaims here; listing and management queries in `MongoJobStoreAdmin` (job-store-admin.ts).
 */
export class MongoJobStore extends MongoJobStoreAdmin implements JobStore {
  private readonly insertEvents = new EventEmitter();
  private insertStream?: ChangeStream<Doc, ChangeStreamInsertDocument<Doc>>;
  private insertStreamUnsupported = false;
  /** The server's clock (lib/store/mongo/server-clock.ts). */
  readonly clock: ServerClock;

  constructor(db: Db, collectionName = 'drover_jobs') {
    super(db.collection<Doc>(collectionName));
    this.insertEvents.setMaxListeners(0);
    this.clock = new ServerClock(db);
  }

  /** The claim filter; its shape is checked against CLAIM_INDEX by a test. */
  static readonly claimFilter = claimFilter;

  /** The claim order; the index serves it. */
  static readonly claimSort = CLAIM_SORT;

  async init(): Promise<void> {
    try {
      await this.jobs.createIndexes(JOB_INDEXES);
    } catch (err) {
      throw storeError('creating job indexes', err);
    }
    try {
      await this.clock.ready();
    } catch (err) {
      throw storeError("reading the server's clock", err);
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

  async jobClaim(params: JobClaimParams): Promise<Doc[]> {
    return claimJobs(this.jobs, params);
  }

  async jobProbe(params: JobProbeParams): Promise<JobProbeResult> {
    return probeJobs(this.jobs, params);
  }

  async jobHeartbeat(params: JobHeartbeatParams): Promise<JobHeartbeatResult> {
    if (params.jobs.length === 0) return { lost: [], abortRequested: [] };
    const held = { $or: params.jobs.map(tokenFilter) };
    // $max: of two heartbeats arriving out of order, the later expiry wins.
    const refresh = { $max: { 'status.lockExpiresAt': params.lockExpiresAt } };
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

  async jobTransition(params: JobTransitionParams): Promise<number | null> {
    const res = await this.jobs.updateOne(
      { _id: params.id, 'status.modCount': params.modCount, state: { $in: params.from } },
      { $set: updateFields(params.update, params.now), $inc: { 'status.modCount': 1 } },
    );
    return res.matchedCount === 1 ? params.modCount + 1 : null;
  }

  async jobProgress(params: JobProgressParams): Promise<boolean> {
    const { token } = params;
    const set: Record<string, unknown> = {
      'status.progress': params.progress,
      'status.modTime': params.now,
    };
    if (params.message !== undefined) set['status.progressMessage'] = params.message;
    const res = await this.jobs.updateOne(
      { ...tokenFilter(token), state: 'running' },
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
        $push: { 'status.errors': storeRecords.abortedStale(params.now) },
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
        $push: { 'status.errors': storeRecords.poisoned(params.now, maxLockLosses) },
      },
    );
    const res = await this.jobs.updateMany(
      { ...stale, 'status.abortRequested': false },
      {
        // dueAt stays: it is past, so the job keeps its place in the claim order.
        $set: { ...unlock, state: 'pending' },
        $inc: count,
        $push: { 'status.errors': storeRecords.lockExpired(params.now) },
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
        $push: { 'status.errors': storeRecords.abortedBeforeStart(now) },
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

  async jobQuarantine(params: JobQuarantineParams): Promise<boolean> {
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
    const filter = malformedFilter(params.queue, params.now);
    const ids = (
      await this.jobs.find(filter, { projection: { _id: 1 }, limit: 1000 }).toArray()
    ).map((d) => d._id);
    if (ids.length === 0) return [];
    await this.jobs.updateMany(
      { ...filter, _id: { $in: ids } },
      malformedQuarantine(storeRecords.malformedReason, params.now),
    );
    return ids;
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
}
