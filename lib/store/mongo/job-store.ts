/**
 * The jobs collection module, its store class: inserts, reads, heartbeats, guarded writes,
 * reclaims, aborts and quarantines. The module is seven files: this one, job-claim.ts (the claim),
 * job-probe.ts (the one read per process for all its queues), job-writes.ts (batched guarded
 * writes), job-store-admin.ts (listing, counts, statistics, deletes and the change feed; the base
 * class), job-filters.ts (the shared filter and update builders) and job-indexes.ts (the
 * indexes). Nothing else in drover reads or writes job documents in MongoDB. Writes after a
 * claim match on `_id`, owner and `modCount` (the fencing token) and increment `modCount`.
 */
import { EventEmitter } from 'node:events';
import type { ChangeStream, ChangeStreamInsertDocument, ClientSession, Db } from 'mongodb';
import { MongoBulkWriteError } from 'mongodb';
import { DuplicateJobError } from '../../errors';
import {
  MAX_LOCK_LOSSES_DEFAULT,
  storeRecords,
  type AbortOutcome,
  type JobClaimParams,
  type JobHeartbeatParams,
  type JobHandOverParams,
  type JobHandOverResult,
  type JobHeartbeatResult,
  type JobProgressParams,
  type JobQuarantineParams,
  type JobStore,
  type JobTransitionParams,
  checkTransition,
  type JobWriteParams,
  type ReclaimParams,
  type SessionOptions,
  type TransactionRunOptions,
} from '../job-store';
import type { JobProbeParams, JobProbeResult } from '../job-probe';
import type { JobDocument } from '../../types';
import { slimJobDocument, withJobDefaults } from '../../job-document';
import { isDuplicateKey, retryWriteConflicts, storeError } from './errors';
import { CLAIM_SORT, claimBatchFilter, claimFilter, claimJobs } from './job-claim';
import {
  attemptsFilter,
  CHANGED_SORT,
  changedSinceFilter,
  dueFilter,
  heldFilter,
  heldGroupFilter,
  heldManyFilter,
  latestStatesFilter,
  listFilter,
  malformedFilters,
  malformedQuarantine,
  pageFilter,
  pruneFilter,
  staleFilter,
  tokenFilter,
  updateFields,
} from './job-filters';
import { ensureJobIndexes } from './job-indexes';
import { probeFilter, probeJobs } from './job-probe';
import { writeMany } from './job-writes';
import { MongoJobStoreAdmin } from './job-store-admin';
import { ServerClock } from './server-clock';
import { runTransaction, SessionGate, sessionError, sessionOp } from './transactions';

type Doc = JobDocument;

/**
 * A hand-over's transaction is tried again on write conflicts (an abort request or a racing
 * management call writing the same attempt) for this long.
 */
const HAND_OVER_RETRY_MS = 10_000;

/** A document read back, its left-out fields set (see lib/job-document.ts). */
function filled(doc: Doc | null): Doc | null {
  return doc && withJobDefaults(doc);
}

/**
 * MongoDB implementation of the job storage protocol: inserts, reads, the claim-run-record path
 * and reclaims here; listing and management queries in `MongoJobStoreAdmin` (job-store-admin.ts).
 */
export class MongoJobStore extends MongoJobStoreAdmin implements JobStore {
  private readonly insertEvents = new EventEmitter();
  private insertStream?: ChangeStream<Doc, ChangeStreamInsertDocument<Doc>>;
  private insertStreamUnsupported = false;
  private readonly sessions: SessionGate;
  /** The server's clock (lib/store/mongo/server-clock.ts). */
  readonly clock: ServerClock;

  constructor(
    private readonly db: Db,
    collectionName = 'drover_jobs',
  ) {
    super(db.collection<Doc>(collectionName));
    this.insertEvents.setMaxListeners(0);
    this.sessions = new SessionGate(db);
    this.clock = new ServerClock(db);
  }

  /** The claim filter; its shape is checked against CLAIM_INDEX by a test. */
  static readonly claimFilter = claimFilter;

  /** The claim order; the index serves it. */
  static readonly claimSort = CLAIM_SORT;

  /**
   * The builders of the filters (and orders) this store issues repeatedly, for tests that check
   * with `explain` that an index serves each one (test/store/explain.test.ts).
   */
  static readonly queries = {
    claim: claimFilter,
    claimSort: CLAIM_SORT,
    claimBatch: claimBatchFilter,
    held: heldManyFilter,
    heldGroup: heldGroupFilter,
    stale: staleFilter,
    malformed: malformedFilters,
    due: dueFilter,
    list: listFilter,
    page: pageFilter,
    changedSince: changedSinceFilter,
    changedSort: CHANGED_SORT,
    latestStates: latestStatesFilter,
    attempts: attemptsFilter,
    prune: pruneFilter,
    probe: probeFilter,
  } as const;

  async init(): Promise<void> {
    try {
      await ensureJobIndexes(this.jobs);
    } catch (err) {
      throw storeError('creating job indexes', err);
    }
    try {
      await this.clock.ready();
    } catch (err) {
      throw storeError("reading the server's clock", err);
    }
  }

  async jobInsert(docs: Doc[], options: SessionOptions = {}): Promise<void> {
    if (docs.length === 0) return;
    if (options.session) return this.jobInsertInSession(docs, options.session);
    try {
      // Stored slim (lib/job-document.ts); a copy, so the caller's document keeps every field.
      if (docs.length === 1) await this.jobs.insertOne(slimJobDocument(docs[0]));
      else await this.jobs.insertMany(docs.map(slimJobDocument), { ordered: false });
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

  /**
   * An insert inside the caller's session. A duplicate key would abort a MongoDB transaction, so
   * the IDs that exist are read first and only the others inserted; the duplicates are then
   * reported as without a session. A duplicate that still comes (an ID inserted meanwhile by
   * another transaction) is a write conflict, left to the caller's retry.
   */
  private async jobInsertInSession(docs: Doc[], session: ClientSession): Promise<void> {
    try {
      const existing = new Set(
        (
          await this.jobs
            .find({ _id: { $in: docs.map((d) => d._id) } }, { session, projection: { _id: 1 } })
            .toArray()
        ).map((d) => d._id),
      );
      const fresh = docs.filter((d) => !existing.has(d._id)).map(slimJobDocument);
      if (fresh.length === 1) await this.jobs.insertOne(fresh[0], { session });
      else if (fresh.length > 1) await this.jobs.insertMany(fresh, { session, ordered: true });
      if (existing.size > 0) {
        const ids = docs.filter((d) => existing.has(d._id)).map((d) => d._id);
        throw new DuplicateJobError(ids[0], docs[0].queue, ids);
      }
    } catch (err) {
      if (err instanceof DuplicateJobError) throw err;
      throw sessionError('inserting jobs', err);
    }
  }

  async jobGet(id: string, { session }: SessionOptions = {}): Promise<Doc | null> {
    return sessionOp(session, 'reading a job', () =>
      this.jobs.findOne({ _id: id }, { session }).then(filled),
    );
  }

  async jobGetLatest(baseJobId: string, { session }: SessionOptions = {}): Promise<Doc | null> {
    return sessionOp(session, 'reading a job', () =>
      this.jobs
        .findOne(attemptsFilter(baseJobId), {
          sort: { 'retryInfo.currentAttempt': -1 },
          session,
        })
        .then(filled),
    );
  }

  async jobAttempts(baseJobId: string): Promise<Doc[]> {
    const docs = await this.jobs
      .find(attemptsFilter(baseJobId))
      .sort({ 'retryInfo.currentAttempt': 1 })
      .toArray();
    return docs.map(withJobDefaults);
  }

  async jobClaim(params: JobClaimParams): Promise<Doc[]> {
    return (await claimJobs(this.jobs, params)).map(withJobDefaults);
  }

  async jobProbe(params: JobProbeParams): Promise<JobProbeResult> {
    return probeJobs(this.jobs, params);
  }

  async jobHeartbeat(params: JobHeartbeatParams): Promise<JobHeartbeatResult> {
    if (params.jobs.length === 0) return { lost: [], abortRequested: [] };
    // A pool's tokens share its owner: said once, as in grouped writes.
    const owner = params.jobs[0].owner;
    const held = params.jobs.every((t) => t.owner === owner)
      ? heldGroupFilter(params.jobs, {})
      : heldManyFilter(params.jobs);
    // $max: of two heartbeats arriving out of order, the later expiry wins.
    const refresh = { $max: { 'status.lockExpiresAt': params.lockExpiresAt } };
    // $max twice changes nothing: a write conflict (a deadlock on DocumentDB) is run again.
    const res = await retryWriteConflicts(() =>
      this.jobs.updateMany({ ...held, state: 'running', 'status.abortRequested': false }, refresh),
    );
    if (res.matchedCount === params.jobs.length) return { lost: [], abortRequested: [] };
    // Jobs asked to abort keep their lock while they stop, so nobody runs them again meanwhile.
    await retryWriteConflicts(() =>
      this.jobs.updateMany({ ...held, state: 'running', 'status.abortRequested': true }, refresh),
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

  async jobWrite(params: JobWriteParams, { session }: SessionOptions = {}): Promise<number | null> {
    const { token } = params;
    const res = await sessionOp(session, 'writing a job', () =>
      this.jobs.updateOne(
        heldFilter(token, params.update),
        { $set: updateFields(params.update, params.now), $inc: { 'status.modCount': 1 } },
        { session },
      ),
    );
    return res.matchedCount === 1 ? token.modCount + 1 : null;
  }

  async jobTransition(
    params: JobTransitionParams,
    { session }: SessionOptions = {},
  ): Promise<number | null> {
    checkTransition(params);
    const res = await sessionOp(session, 'writing a job', () =>
      this.jobs.updateOne(
        { _id: params.id, 'status.modCount': params.modCount, state: { $in: params.from } },
        { $set: updateFields(params.update, params.now), $inc: { 'status.modCount': 1 } },
        { session },
      ),
    );
    return res.matchedCount === 1 ? params.modCount + 1 : null;
  }

  async jobHandOver(params: JobHandOverParams): Promise<JobHandOverResult> {
    if (!(await this.sessions.hasTransactions())) return { atomic: false };
    const { guard, update, next, now } = params;
    return runTransaction(
      () => this.db.client.startSession(),
      async (session): Promise<JobHandOverResult> => {
        const modCount =
          'token' in guard
            ? await this.jobWrite({ token: guard.token, update, now }, { session })
            : await this.jobTransition({ ...guard, update, now }, { session });
        if (modCount === null) return { atomic: true, modCount, inserted: false };
        let inserted = true;
        try {
          await this.jobInsert([next], { session });
        } catch (err) {
          if (!(err instanceof DuplicateJobError)) throw err;
          inserted = false;
        }
        return { atomic: true, modCount, inserted };
      },
      { retryTimeoutMs: HAND_OVER_RETRY_MS },
    );
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
    const stale = staleFilter(params.queue, params.now);
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
    // Separate queries, each served by one index (see malformedFilters), in parallel; each
    // quarantine re-checks what its query found.
    const update = malformedQuarantine(storeRecords.malformedReason, params.now);
    const found = await Promise.all(
      malformedFilters(params.queue, params.now).map(async (filter) => {
        const ids = (
          await this.jobs.find(filter, { projection: { _id: 1 }, limit: 1000 }).toArray()
        ).map((d) => d._id);
        if (ids.length > 0) await this.jobs.updateMany({ ...filter, _id: { $in: ids } }, update);
        return ids;
      }),
    );
    return [...new Set(found.flat())];
  }

  /** Applies several guarded writes in one round trip; returns the IDs whose write matched. */
  async jobWriteMany(writes: JobWriteParams[]): Promise<Set<string>> {
    return writeMany(this.jobs, writes);
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

  async sessionCheck(session: ClientSession): Promise<void> {
    await this.sessions.check(session);
  }

  async transactionRun<T>(
    fn: (session: ClientSession) => Promise<T>,
    options: TransactionRunOptions,
  ): Promise<T> {
    await this.sessions.assertTransactions();
    return runTransaction(() => this.db.client.startSession(), fn, options);
  }

  async close(): Promise<void> {
    // The client belongs to whoever connected it; only our change stream is ours to close.
    await this.closeInsertStream();
  }
}
