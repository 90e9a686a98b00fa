/**
 * The storage protocol: every read and conditional write a queue, runner, retry handler or
 * management call makes. `MongoJobStore` (lib/store/mongo/) implements it with one module of filters
 * per collection; `MemoryJobStore` (lib/store/memory/) implements the same semantics in memory, so
 * one queue and one runner serve both and one behaviour suite tests both.
 *
 * Rules every implementation keeps:
 * - every write after a claim matches on `_id`, `status.owner` and `status.modCount` (the fencing
 *   token) and increments `modCount`; a write that matches nothing returns false/null and changes
 *   nothing;
 * - heartbeats only move the lock expiry forward (`$max`); they do not change `modCount`.
 */
import type { ClientSession } from 'mongodb';
import { ErrorCode, JobStateError } from '../errors';
import { disallowedFrom, END_TIMED_STATES } from '../states';
import type { Clock } from '../timers/clock';
import type { JobProbeParams, JobProbeResult } from './job-probe';
import type { JobDocument, JobErrorRecord, JobLogLine, JobState, QueueStats } from '../types';

/**
 * Options of a store call that may join the caller's MongoDB session: its reads and writes then
 * commit or roll back with the session's transaction. Only the MongoDB stores take a session (on
 * a server with transactions); the in-memory stores refuse one with TransactionsUnsupportedError.
 */
export interface SessionOptions {
  session?: ClientSession;
}

/** Options of `transactionRun`. */
export interface TransactionRunOptions {
  /** Transient errors are retried until this long has passed since the first try. */
  retryTimeoutMs: number;
  /** No new try starts once this fires. */
  signal?: AbortSignal;
}

export interface JobClaimParams {
  queue: string;
  owner: string;
  /** Due times are judged, and the claim's times (start, lock expiry) set, by this time. */
  now: Date;
  lockTimeoutMs: number;
  /**
   * Runner pools: a claim that reads before it writes (MongoDB's batched claim) sets its times
   * from when its update is sent, `now` plus the read's round trip, so that on a slow link the
   * read is not taken out of the lock's time. Omitted, every time is `now` as given.
   */
  lockFromUpdate?: boolean;
  /** Claim up to this many jobs in one go. */
  limit: number;
  /** Job type names not to claim (paused types). */
  excludeTypes?: string[];
  /**
   * Suspects are attempts whose lock was lost before (`status.lockLosses` > 0: their worker died
   * while they ran, maybe because of them). 'skip' claims none of them, 'only' claims only them;
   * omitted, both. Runner pools run a suspect alone in their process (lib/runner/process-poller.ts),
   * so a job that kills its worker takes no batch-mate down with it.
   */
  suspects?: 'skip' | 'only';
}

/** Identifies an attempt as held by an owner. */
export interface LockToken {
  id: string;
  owner: string;
  modCount: number;
}

export interface JobHeartbeatParams {
  owner: string;
  jobs: LockToken[];
  /**
   * The new lock expiry. A heartbeat never moves a lock back: heartbeats sent one after the other
   * may arrive out of order (several connections), and the later expiry must win.
   */
  lockExpiresAt: Date;
}

export interface JobHeartbeatResult {
  /** Attempts this owner no longer holds. */
  lost: string[];
  /** Attempts still held whose abort was requested. */
  abortRequested: string[];
}

/** Fields a guarded write may set on an attempt it holds. */
export interface JobUpdate {
  state?: JobState;
  payload?: Record<string, unknown>;
  /** The attempt's error list and count, replacing the stored ones. */
  errors?: JobErrorRecord[];
  errCount?: number;
  progress?: number;
  progressMessage?: string;
  start?: Date;
  end?: Date;
  completed?: boolean;
  inProgress?: boolean;
  needsRetry?: boolean;
  /** Clear the owner (the attempt goes back to pending for any worker). Any state other than
   *  `running` drops the lock expiry; finished attempts keep their last owner for the record. */
  releaseLock?: boolean;
  dueAt?: Date;
  /** Refreshes the lock of a held attempt (a `save` by a caller that runs jobs itself). */
  lockExpiresAt?: Date;
  nextAttemptId?: string;
  retryEnd?: Date;
  /** The attempt's own log (`ctx.log()` lines) and the count of lines dropped from it. */
  log?: JobLogLine[];
  logDropped?: number;
  /** What `run()` returned, as stored (a completed attempt). */
  returnValue?: unknown;
}

export interface JobWriteParams {
  token: LockToken;
  update: JobUpdate;
  now: Date;
}

/**
 * What guards the old attempt's write in `jobHandOver`: its lock token (the holder's write), or
 * its modCount and one of `from` states (a write nobody holds: management, the retry handler).
 */
export type HandOverGuard =
  { token: LockToken } | { id: string; modCount: number; from: JobState[] };

export interface JobHandOverParams {
  guard: HandOverGuard;
  /** The old attempt's write. */
  update: JobUpdate;
  /** The successor to insert; one stored already under its ID counts as handed over. */
  next: JobDocument;
  now: Date;
}

/**
 * `atomic: false`: the store cannot make the write and the insert one (a server without
 * transactions) and wrote nothing. Otherwise `modCount` is the old attempt's new modCount, or
 * null when its guard matched nothing (then nothing was written); `inserted` says whether this
 * call inserted `next` (false when it existed already).
 */
export type JobHandOverResult =
  { atomic: false } | { atomic: true; modCount: number | null; inserted: boolean };

export interface JobListParams {
  queue?: string;
  states?: JobState[];
  type?: string;
  baseJobId?: string;
  /** Substring of the ID (matched literally, never as a pattern). */
  idContains?: string;
  createdAfter?: Date;
  createdBefore?: Date;
  /** Only attempts that depend on this job ID. */
  edge?: string;
  /** Only attempts due at or before this time. */
  dueBefore?: Date;
  /** Only attempts of one of these queues (instead of `queue`; the upkeep of many queues at once). */
  queues?: string[];
  /** Return documents with `_id` greater than this (cursor pagination, ascending by ID). */
  afterId?: string;
  limit: number;
  /**
   * Any matching documents will do (an existence check): the store may skip the ID order, which
   * an engine whose indexes give no order (DocumentDB) pays for by reading every match.
   */
  anyOrder?: boolean;
}

/** One row of `jobCounts`: the jobs of one queue, job type and state (by their current attempt). */
export interface JobCountRow {
  queue: string;
  type: string;
  state: JobState;
  count: number;
  /** Of these, pending attempts due now (claimable). */
  due: number;
}

/**
 * A stored attempt without its payload, as listed by `jobPage` (without `status.log` and
 * `returnValue` either) and `jobChangedSince` (without `status.log`).
 */
export type JobSummaryDocument = Omit<JobDocument, 'payload'>;

/** Order of `jobPage`: newest first by creation time (then ID), or ascending by ID. */
export type JobPageOrder = 'newest' | 'id';

/** Parameters of `jobPage`: filters (all ANDed) and a keyset position. */
export interface JobPageParams {
  queue?: string;
  type?: string;
  states?: JobState[];
  /** Substring of the ID (matched literally, never as a pattern). */
  idContains?: string;
  createdAfter?: Date;
  createdBefore?: Date;
  order: JobPageOrder;
  /** The last row of the previous page; `created` is ignored for order 'id'. */
  after?: { id: string; created: Date | null };
  /**
   * Instead of `after`: the first row of the next page. Rows before it are returned nearest
   * first (the reverse of `order`), so the caller reverses them to page backwards.
   */
  before?: { id: string; created: Date | null };
  limit: number;
}

/** Parameters of `jobCount`: the filters of `jobPage`, without paging. */
export type JobCountParams = Omit<JobPageParams, 'order' | 'after' | 'before' | 'limit'>;

/** Parameters of `jobTransition`: a write guarded by modCount and the `from` states. */
export interface JobTransitionParams {
  id: string;
  modCount: number;
  from: JobState[];
  update: JobUpdate;
  now: Date;
}

/**
 * Throws when a `jobTransition` would move a state the state machine (lib/states.ts) does not
 * allow to its new state: a programming error, caught before any write. Updates that keep the
 * state are not transitions.
 */
export function checkTransition(params: JobTransitionParams): void {
  const to = params.update.state;
  if (to === undefined) return;
  const bad = disallowedFrom(params.from, to);
  if (bad !== undefined) throw new JobStateError(params.id, bad, `a move to ${to}`);
}

/** Parameters of `jobProgress`. */
export interface JobProgressParams {
  token: LockToken;
  progress: number;
  message?: string;
  now: Date;
}

/** Parameters of `jobQuarantine`. */
export interface JobQuarantineParams {
  id: string;
  modCount: number;
  code: string;
  reason: string;
  now: Date;
}

/** Parameters of `jobPrune`. */
export interface JobPruneParams {
  queue: string;
  endedBefore: Date;
  states: JobState[];
  /** Only attempts of this job type. */
  type?: string;
  limit: number;
}

/** Default of `maxLockLosses`: a sixth crash of the same attempt fails it. */
export const MAX_LOCK_LOSSES_DEFAULT = 5;

/** Parameters of `jobReclaimStale`. */
export interface ReclaimParams {
  queue: string;
  now: Date;
  /** An attempt whose lock was lost this many times fails instead of going back to pending. */
  maxLockLosses?: number;
}

/** Result of an abort request. */
export type AbortOutcome = 'aborted' | 'requested' | 'finished' | 'not-found';

/** Compares two strings (IDs, names) in code-unit order, as MongoDB sorts them. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The end time a guarded write records: its own, or `now` when it moves the attempt to a state
 * of `END_TIMED_STATES` without one (the finished-state index holds documents with an end).
 */
export function endOfWrite(update: JobUpdate, now: Date): Date | undefined {
  if (update.end !== undefined) return update.end;
  return update.state !== undefined && END_TIMED_STATES.includes(update.state) ? now : undefined;
}

/**
 * What a claim does to a pending attempt, applied to a document in memory: the memory store's
 * claim, and the MongoDB store's batched claim on the candidates it read (its update sets the
 * same fields in the database).
 */
export function applyClaim(doc: JobDocument, params: JobClaimParams): JobDocument {
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

/**
 * What a store writes on its own (not given by a caller): the error records of `jobReclaimStale`
 * and `jobRequestAbort`, and the reason of `jobQuarantineMalformed`. Every backend writes the same.
 */
export const storeRecords = {
  /** A stale lock went back to pending: the attempt may run again. */
  lockExpired: (now: Date): JobErrorRecord => ({
    message: 'lock expired: owner stopped heartbeating',
    code: ErrorCode.LockLost,
    at: now,
    retryable: true,
  }),
  /** A lock lost `maxLockLosses` times: the attempt fails (a poison pill). */
  poisoned: (now: Date, maxLockLosses: number): JobErrorRecord => ({
    message: `lock lost ${maxLockLosses} times: its workers keep dying; failed to protect the pool`,
    code: ErrorCode.LockLost,
    at: now,
    retryable: false,
  }),
  /** A stale lock of an attempt whose abort was requested: it ends aborted. */
  abortedStale: (now: Date): JobErrorRecord => ({
    message: 'aborted on request; its owner stopped heartbeating',
    code: ErrorCode.Aborted,
    at: now,
    retryable: false,
  }),
  /** An abort of a pending or blocked attempt. */
  abortedBeforeStart: (now: Date): JobErrorRecord => ({
    message: 'aborted before it started',
    code: ErrorCode.Aborted,
    at: now,
    retryable: false,
  }),
  /** The quarantine reason of a pending document whose envelope a claim cannot update. */
  malformedReason: 'envelope fields missing or of the wrong type',
} as const;

/** Storage of job documents. */
export interface JobStore {
  /**
   * The clock every process agrees on (lib/timers/clock.ts): the database server's for MongoDB,
   * the process's own in memory. Queues, groups and schedulers take their default `now` from it.
   */
  readonly clock: Clock;
  /** Create indexes and the like (and set the clock); idempotent. */
  init(): Promise<void>;
  /**
   * Inserts attempts; throws DuplicateJobError on an existing `_id` (none of a batch is lost
   * silently). With a session, IDs that exist are found by a read first, so a duplicate never
   * fails a write inside the transaction (MongoDB aborts a transaction on a duplicate key).
   */
  jobInsert(docs: JobDocument[], options?: SessionOptions): Promise<void>;
  jobGet(id: string, options?: SessionOptions): Promise<JobDocument | null>;
  /** The newest attempt of a job (highest `retryInfo.currentAttempt` with that base ID). */
  jobGetLatest(baseJobId: string, options?: SessionOptions): Promise<JobDocument | null>;
  /** Every attempt of a job, oldest first. */
  jobAttempts(baseJobId: string): Promise<JobDocument[]>;
  /** Atomically claims due pending attempts, highest priority first, then earliest due. */
  jobClaim(params: JobClaimParams): Promise<JobDocument[]>;
  /**
   * One read for all the queues of a process: which have due work, stale locks or pending
   * documents no claim can see. Index-served, it examines about as many keys as it returns.
   */
  jobProbe(params: JobProbeParams): Promise<JobProbeResult>;
  /** Refreshes the locks of held attempts in one write. */
  jobHeartbeat(params: JobHeartbeatParams): Promise<JobHeartbeatResult>;
  /** A guarded write; returns the new modCount, or null when the lock was lost. */
  jobWrite(params: JobWriteParams, options?: SessionOptions): Promise<number | null>;
  /**
   * A write by a monitor or by management, on an attempt nobody needs to hold: matches on `_id`,
   * `modCount` and one of the `from` states, and increments `modCount`. Returns the new modCount
   * or null when the document changed meanwhile.
   */
  jobTransition(params: JobTransitionParams, options?: SessionOptions): Promise<number | null>;
  /**
   * The old attempt's guarded write and the insert of its successor as one atomic step (a retry,
   * a rerun): MongoDB runs both in one transaction where the server has them; in memory they are
   * one step. Where the store cannot, it writes nothing and says so (`atomic: false`): the caller
   * then takes the idempotent steps of lib/retry/attempt-chain.ts.
   */
  jobHandOver(params: JobHandOverParams): Promise<JobHandOverResult>;
  /** Stores progress of a held attempt with a small `$set` that leaves `modCount` alone. */
  jobProgress(params: JobProgressParams): Promise<boolean>;
  /** Several guarded writes in one round trip; returns the IDs whose write took effect. */
  jobWriteMany(writes: JobWriteParams[]): Promise<Set<string>>;
  /**
   * Running attempts whose lock expired go back to pending; to aborted if an abort was requested;
   * to failed once their lock was lost `maxLockLosses` times (a job that kills its workers).
   */
  jobReclaimStale(params: ReclaimParams): Promise<number>;
  /**
   * Aborts an attempt: a pending or blocked one ends `aborted` at once; a running one is flagged
   * and its owner's heartbeat aborts it. Returns what happened.
   */
  jobRequestAbort(id: string, now: Date): Promise<AbortOutcome>;
  /** Marks a document that could not be loaded; guarded by its current modCount. */
  jobQuarantine(params: JobQuarantineParams): Promise<boolean>;
  /**
   * Quarantines pending documents whose envelope a claim cannot update (hand edits, other tools):
   * `status.modCount` not a number, `timeInfo` not an object, or `dueAt` not a date. The claim
   * filter skips such documents, so they never block a queue. Index-served: it looks at the
   * queue's due documents (those with a date `dueAt` up to `now`) and at `dueAt` values of other
   * types, never at the rest of the backlog.
   */
  jobQuarantineMalformed(params: { queue: string; now: Date }): Promise<string[]>;
  /** Counts of one queue's jobs by state, each job once (by its current attempt). */
  jobStats(queue: string, now: Date): Promise<QueueStats>;
  /** Lists documents, ascending by ID, for pagination. */
  jobList(params: JobListParams): Promise<JobDocument[]>;
  /**
   * Calls `listener` when pending jobs are inserted into `queue` by any process, where the store
   * can tell (MongoDB change streams on a replica set; always in memory). Optional wake-up only:
   * claims never depend on it. Returns a function that stops listening.
   */
  jobOnInsert(queue: string, listener: () => void): () => void;
  // --- management ---
  /**
   * Counts of jobs (each once, by its current attempt) by queue, job type and state in one
   * aggregation (one queue when given).
   */
  jobCounts(params: { queue?: string; now: Date }): Promise<JobCountRow[]>;
  /** One page of attempts without payloads, in `order`, after the keyset `after`. */
  jobPage(params: JobPageParams): Promise<JobSummaryDocument[]>;
  /** Deletes an attempt if its modCount and state still match; false when it changed or is gone. */
  jobDelete(params: { id: string; modCount: number; from: JobState[] }): Promise<boolean>;
  /**
   * Deletes up to `limit` attempts of `queue` in `states` that ended before `endedBefore`
   * (one batch; attempts with no end time are kept). Returns how many were deleted.
   */
  jobPrune(params: JobPruneParams): Promise<number>;
  /** How many attempts `jobPage` would go through with these filters. */
  jobCount(params: JobCountParams): Promise<number>;
  /** How many attempts `jobPrune` would delete, in every batch (a dry run). */
  jobPruneCount(params: Omit<JobPruneParams, 'limit'>): Promise<number>;
  /** Names of every queue holding at least one attempt. */
  jobQueueNames(): Promise<string[]>;
  // --- transactions ---
  /**
   * Refuses a session the store cannot work in, before anything is written:
   * TransactionsUnsupportedError where the server has no transactions (a standalone mongod, a
   * stand-in) or the store is in memory; InvalidArgumentError for a session that has ended or
   * belongs to another client.
   */
  sessionCheck(session: ClientSession): Promise<void>;
  /**
   * Runs `fn` in a new transaction on the store's client and commits it. Write conflicts and
   * transient errors (the TransientTransactionError label, or code 112 without it as DocumentDB
   * gives it) run `fn` again in a new transaction; an unknown commit result retries the commit.
   * TransactionsUnsupportedError where there are no transactions.
   */
  transactionRun<T>(
    fn: (session: ClientSession) => Promise<T>,
    options: TransactionRunOptions,
  ): Promise<T>;
  close(): Promise<void>;
  // --- events ---
  /**
   * Attempts of `queue` changed after the keyset `after`, in `(status.modTime, _id)` order,
   * without payloads: those with a later `modTime`, or the same one and a greater `_id` (an empty
   * `id` takes every attempt changed at `modTime`). Read-only; followers poll it.
   */
  jobChangedSince(params: JobChangedSinceParams): Promise<JobSummaryDocument[]>;
  /** The newest attempt of every job of `queue` whose base ID starts with `idPrefix`. */
  jobLatestStates(params: { queue: string; idPrefix: string }): Promise<JobLatestState[]>;
}

/** Parameters of `jobChangedSince`. */
export interface JobChangedSinceParams {
  queue: string;
  after: { modTime: Date; id: string };
  limit: number;
}

/** A job's newest attempt, as `jobLatestStates` returns it. */
export interface JobLatestState {
  /** The attempt's ID. */
  id: string;
  baseJobId: string;
  attempt: number;
  state: JobState;
}
