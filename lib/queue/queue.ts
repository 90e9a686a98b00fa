/**
 * A named queue: puts jobs into the store, reads them back as typed job instances, and runs them
 * with its runner pool. One class serves every store (MongoDB, in-memory).
 */
import {
  DuplicateJobError,
  DuplicateJobScopeError,
  InvalidArgumentError,
  QueueClosedError,
  WaitTimeoutError,
} from '../errors';
import type { ClientSession } from 'mongodb';
import { TypedEmitter, type QueueEventMap } from '../events';
import type { QueueExtension } from '../extension';
import { PUT_DELAY_MS, type BaseJob } from '../job/base-job';
import { resolveQueueOptions, type QueueOptions, type ResolvedQueueOptions } from './queue-options';
import { RetryHandler } from '../retry/retry-handler';
import { MemoryRateStore } from '../store/memory/rate-store';
import { RateLimits } from '../limits/rate-limit';
import { RunnerPool, type RunnerHooks } from '../runner/runner-pool';
import { Sandboxes } from '../sandbox/sandboxes';
import type { AbortOutcome, JobStore, SessionOptions } from '../store/job-store';
import { afterCommit } from './after-commit';
import { type JobDocument, type JobState, type QueueStats } from '../types';
import {
  checkAttemptId,
  checkQueueName,
  checkScope,
  checkJobId,
  checkDate,
  checkNumber,
} from '../validate';
import { FINISHED_STATES, isFinal } from '../states';

/** What `jobInfo()` yields: a job's stored state without loading its class, and its `id`. */
export type JobInfo = Omit<JobDocument, 'payload'> & {
  /** The attempt's ID (the stored `_id`). */
  id: string;
};

/** Page size of the async iterables. */
const PAGE = 500;

/** Options of `put`, `putMany` and `putUnique`. */
export interface PutOptions {
  /**
   * Put inside the caller's MongoDB transaction: the jobs and everything the put writes (their
   * enqueue scopes; their dependencies are stored in them) commit or roll back with the
   * session's transaction, no worker sees them before the commit, and the pools of this process
   * are woken after it. Where the server has no transactions (a standalone mongod, a stand-in)
   * or the queue's store is in memory, the put is refused with TransactionsUnsupportedError and
   * nothing is written. The session must come from the client the queue's store uses.
   */
  session?: ClientSession;
}

/** A named queue of jobs with a runner pool. */
export class Queue extends TypedEmitter<QueueEventMap> {
  readonly name: string;
  readonly options: ResolvedQueueOptions;
  private readonly pool: RunnerPool;
  private readonly extensions: QueueExtension[];
  /** Decides retries (bounds, backoff) and finishes half-done hand-overs; see retry-handler.ts. */
  readonly retry: RetryHandler;
  /** Where jobs of sandboxed types run (lib/sandbox/); closed with the queue. */
  private readonly sandboxes: Sandboxes;
  private closed = false;

  constructor(
    readonly store: JobStore,
    name: string,
    options: QueueOptions = {},
    hooks: RunnerHooks = {},
  ) {
    super();
    this.name = checkQueueName(name);
    // The store's clock unless one is injected: every process of a deployment reads the same.
    this.options = resolveQueueOptions({ ...options, now: options.now ?? store.clock.now });
    // Without a handler from the caller, the queue makes one and runs its monitor itself.
    this.retry = hooks.retry ?? new RetryHandler(store, {}, this.options.logger);
    this.extensions = [...(hooks.extensions ?? []), ...(hooks.retry ? [] : [this.retry.monitor])];
    // A queue outside a group, with a rate limit nobody enforces: hold it in this process.
    if (this.options.rateLimit && !this.extensions.some((e) => e instanceof RateLimits)) {
      this.extensions.push(new RateLimits(new MemoryRateStore(), () => this.options.rateLimit));
    }
    this.sandboxes = new Sandboxes(this.options.registry, this.options.logger);
    this.pool = new RunnerPool(store, this.name, this.options, this, {
      runJob: this.sandboxes.runJob,
      ...hooks,
      extensions: this.extensions,
      retry: this.retry,
    });
  }

  /** The owner name this queue's pool claims jobs under. */
  get owner(): string {
    return this.pool.owner;
  }

  /**
   * Puts a job into the queue. Throws DuplicateJobError if its ID exists. With `session`, inside
   * the caller's transaction (see `PutOptions`).
   * @example
   * ```ts
   * await session.withTransaction(async () => {
   *   await orders.insertOne(order, { session });
   *   await queue.put(SendConfirmation.create({ orderId: order._id }), { session });
   * });
   * ```
   */
  async put(job: BaseJob, options: PutOptions = {}): Promise<void> {
    await this.putMany([job], options);
  }

  /**
   * Puts a singleton job: when its ID exists already (DuplicateJobError) or one of its
   * `enqueueScopes` is held by another job (DuplicateJobScopeError), nothing is written and this
   * resolves false instead of throwing. Resolves true when this call inserted the job. Inside a
   * transaction (`session`), the conflict is found by reads, so the transaction stays usable.
   */
  async putUnique(job: BaseJob, options: PutOptions = {}): Promise<boolean> {
    try {
      await this.putMany([job], options);
      return true;
    } catch (err) {
      if (err instanceof DuplicateJobError || err instanceof DuplicateJobScopeError) return false;
      throw err;
    }
  }

  /**
   * Puts several jobs in one round trip. Every job is validated before anything is written; on
   * colliding IDs the others are stored and a DuplicateJobError lists the collisions. With
   * `session`, inside the caller's transaction (see `PutOptions`).
   */
  async putMany(jobs: BaseJob[], options: PutOptions = {}): Promise<void> {
    this.assertOpen();
    if (!Array.isArray(jobs)) throw new InvalidArgumentError('putMany expects an array of jobs');
    await this.store.clock.ready();
    const now = this.options.now();
    const ids = new Set<string>();
    const docs = jobs.map((job) => {
      const doc = this.toDocument(job, now);
      if (ids.has(doc._id))
        throw new InvalidArgumentError(`job ${doc._id} appears twice in one putMany`);
      ids.add(doc._id);
      return doc;
    });
    const session = options.session;
    // Refused before anything is written (never done outside the transaction asked for).
    if (session !== undefined) await this.store.sessionCheck(session);
    await this.options.tracing.put(this.name, docs, () => this.insert(docs, { session }));
    jobs.forEach((job, i) => {
      job.queue = this.name;
      job.state = docs[i].state;
    });
    afterCommit(session, this.wake);
    // A job not due yet wakes its idle pool at its due time, not at the process's next probe.
    const later = docs.reduce<Date | undefined>(
      (at, d) => (d.dueAt > now && (at === undefined || d.dueAt < at) ? d.dueAt : at),
      undefined,
    );
    if (later !== undefined) afterCommit(session, () => this.pool.wakeAt(later));
  }

  /** Wakes this process's pool; after a put in a transaction, once it commits. */
  private readonly wake = (): void => this.pool.wake();

  /** Reserves (extensions), inserts, and undoes the reservation of what was not inserted. */
  private async insert(docs: JobDocument[], options: SessionOptions): Promise<void> {
    await this.reserve(docs, options);
    try {
      await this.store.jobInsert(docs, options);
    } catch (err) {
      const failed =
        err instanceof DuplicateJobError
          ? docs.filter((d) => err.duplicates.includes(d._id))
          : docs;
      try {
        await this.unreserve(failed, options);
      } catch (undo) {
        // In a failed transaction the undo may fail too; the rollback takes the writes back.
        if (!options.session) throw undo;
      }
      throw err;
    }
  }

  /**
   * Runs the extensions' `beforeInsert` (enqueue scopes, cycle checks). When one rejects, those
   * that already ran are undone, so a refused put holds nothing.
   */
  private async reserve(docs: JobDocument[], options: SessionOptions = {}): Promise<void> {
    const done: QueueExtension[] = [];
    try {
      for (const ext of this.extensions) {
        await ext.beforeInsert?.(this.name, docs, options);
        done.push(ext);
      }
    } catch (err) {
      for (const ext of done.reverse()) await ext.insertFailed?.(this.name, docs, options);
      throw err;
    }
  }

  /** Undoes `reserve` for documents that were not inserted. */
  private async unreserve(docs: JobDocument[], options: SessionOptions = {}): Promise<void> {
    for (const ext of this.extensions) await ext.insertFailed?.(this.name, docs, options);
  }

  /** Validates a job and builds its document. Writes nothing. */
  private toDocument(job: BaseJob, now: Date): JobDocument {
    const delayMs = job[PUT_DELAY_MS];
    if (delayMs !== undefined) job.timeInfo.waitUntil = new Date(now.getTime() + delayMs);
    checkJobId(job.id);
    if (job.retryInfo.baseJobId && job.retryInfo.baseJobId !== job.id) {
      throw new InvalidArgumentError(
        `job ${job.id}: a new job cannot carry another job's baseJobId`,
      );
    }
    job.scopes.forEach(checkScope);
    job.enqueueScopes.forEach(checkScope);
    checkNumber('priority', job.priority, -1e9, 1e9);
    checkNumber('maxAttempts', job.retryInfo.maxAttempts, 1, 1e6);
    checkNumber('maxTimeMs', job.timeInfo.maxTimeMs, 0, 365 * 24 * 3600_000);
    if (job.timeInfo.waitUntil !== null) checkDate('waitUntil', job.timeInfo.waitUntil);
    if (job.timeInfo.dispatchBy !== null) checkDate('dispatchBy', job.timeInfo.dispatchBy);
    const doc = this.options.registry.toDocument(job, this.name, now);
    if (doc.dependency.type !== 'always') doc.state = 'blocked';
    return doc;
  }

  /**
   * The newest attempt of a job (or, given an attempt ID `id#n`, that attempt) as an instance of
   * its class, with status, time and retry info. Undefined when absent.
   */
  async get<T extends BaseJob = BaseJob>(id: string): Promise<T | undefined> {
    const doc = await this.getDocument(id);
    return doc ? this.options.registry.fromDocument<T>(doc) : undefined;
  }

  /** The stored document of a job's newest attempt (or of the given attempt ID). */
  async getDocument(id: string): Promise<JobDocument | undefined> {
    checkAttemptId(id);
    const doc = id.includes('#') ? await this.store.jobGet(id) : await this.store.jobGetLatest(id);
    return doc && doc.queue === this.name ? doc : undefined;
  }

  /** Attempt `n` (0-based) of a job. */
  async getAttempt<T extends BaseJob = BaseJob>(id: string, n: number): Promise<T | undefined> {
    checkJobId(id);
    const doc = (await this.store.jobAttempts(id)).find((d) => d.retryInfo.currentAttempt === n);
    return doc && doc.queue === this.name ? this.options.registry.fromDocument<T>(doc) : undefined;
  }

  /** Every attempt of a job, oldest first. */
  async getAllAttempts<T extends BaseJob = BaseJob>(id: string): Promise<T[]> {
    checkJobId(id);
    const docs = await this.store.jobAttempts(id);
    return docs
      .filter((d) => d.queue === this.name)
      .map((d) => this.options.registry.fromDocument<T>(d));
  }

  /**
   * Claims the next due job for a caller that runs jobs itself (instead of `start()`), through
   * the pool's own claim path: fuses, rate limits, dispatch deadlines and start verdicts (scopes,
   * dependencies, hooks) apply. The caller must `complete` it before `lockTimeoutMs` passes, or
   * `save` it to keep the lock fresh.
   */
  async next(): Promise<BaseJob | undefined> {
    this.assertOpen();
    return this.pool.callers.claim();
  }

  /**
   * Records the outcome of a job claimed by `next()` as the pool records its own: a retry when
   * the job asks for one (the retry handler decides), failed when it has new errors, completed
   * otherwise; then events and the extensions' `afterFinish` (dependents, scopes). Throws
   * LockLostError when another worker holds the job now.
   */
  async complete(job: BaseJob): Promise<void> {
    await this.pool.callers.complete(job);
  }

  /** Saves a held job's payload, progress and errors, and refreshes its lock. */
  async save(job: BaseJob): Promise<void> {
    await this.pool.callers.save(job);
  }

  /** Finished jobs (completed, failed, aborted, expired...), as instances, in ID order. */
  async *results<T extends BaseJob = BaseJob>(): AsyncIterable<T> {
    for await (const doc of this.documents(
      [...FINISHED_STATES].filter((s) => s !== 'quarantined'),
    )) {
      yield this.options.registry.fromDocument<T>(doc);
    }
  }

  /** Stored info of every job in the queue, without loading classes (quarantined ones too). */
  async *jobInfo(states?: JobState[]): AsyncIterable<JobInfo> {
    for await (const doc of this.documents(states)) {
      const { payload: _payload, ...info } = doc;
      void _payload;
      yield { id: doc._id, ...info };
    }
  }

  private async *documents(states?: JobState[]): AsyncIterable<JobDocument> {
    let afterId: string | undefined;
    for (;;) {
      const page = await this.store.jobList({ queue: this.name, states, afterId, limit: PAGE });
      yield* page;
      if (page.length < PAGE) return;
      afterId = page[page.length - 1]._id;
    }
  }

  /** Counts by state. */
  async stats(): Promise<QueueStats> {
    return this.store.jobStats(this.name, this.options.now());
  }

  /** Starts this process's runner pool. */
  async start(): Promise<void> {
    this.assertOpen();
    if (this.pool.isStarted) return;
    this.pool.start();
    this.emit('started', { queue: this.name });
  }

  /**
   * Runs the due jobs once without starting the pool, for tests that drive the queue step by
   * step (drover/testing): one claim of up to `limit` (default `workers`) jobs, each run to its
   * recorded outcome. Resolves with the IDs of the attempts run; none while the pool is started.
   */
  async runDue(limit?: number): Promise<string[]> {
    this.assertOpen();
    return this.pool.runDue(limit);
  }

  /** Whether the pool has been started and not closed. */
  get started(): boolean {
    return this.pool.isStarted;
  }

  isRunning(id: string): boolean {
    return this.pool.isRunning(id);
  }

  runningJobs(): string[] {
    return this.pool.runningJobs();
  }

  /**
   * The running jobs whose code has not returned yet: `runningJobs()` less those whose outcome
   * (or release) is being recorded.
   */
  executingJobs(): string[] {
    return this.pool.executingJobs();
  }

  /**
   * Aborts a job by ID wherever it runs: at once in this process, within one heartbeat in any
   * other. A job not yet started ends `aborted` at once.
   */
  async abort(id: string): Promise<AbortOutcome> {
    checkAttemptId(id);
    const doc = await this.getDocument(id);
    if (!doc) return 'not-found';
    const outcome = await this.store.jobRequestAbort(doc._id, this.options.now());
    if (outcome === 'requested') this.pool.abort(doc._id);
    return outcome;
  }

  /**
   * Runs a job again now: a failed, aborted or expired job gets a new attempt due now (history
   * kept); a pending attempt waiting on its backoff becomes due now. Idempotent under concurrent
   * calls. Throws JobStateError for a running, blocked, completed or quarantined job. Returns the
   * ID of the attempt that will run. See `RetryHandler.retryNow`.
   */
  async retryNow(id: string): Promise<string> {
    this.assertOpen();
    const runs = await this.retry.retryNow({
      queue: this.name,
      id,
      now: this.options.now(),
      // A new attempt after a final state takes the job's enqueue scopes again (singletons).
      reserve: (doc) => this.reserve([doc]),
      unreserve: (doc) => this.unreserve([doc]),
    });
    this.pool.wake();
    return runs;
  }

  /**
   * amboy's `CompleteRetryingAndPut` for a job claimed by `next()`: `old` ends `retrying` (one
   * guarded write; LockLostError when lost), then its next attempt (payload from `next`, default
   * `old`) is inserted under the deterministic ID `${baseJobId}#${n+1}`. Both steps are
   * idempotent and a crash between them is finished by the retry monitor, so no transaction is
   * needed. Returns the new attempt's ID.
   */
  async completeRetryingAndPut(old: BaseJob, next?: BaseJob): Promise<string> {
    this.assertOpen();
    const id = await this.retry.completeRetryingAndPut({
      queue: this.name,
      registry: this.options.registry,
      old,
      next,
      now: this.options.now(),
      queueBackoff: this.options.retryBackoff,
    });
    this.pool.wake();
    return id;
  }

  /** Aborts every job running in this process's pool. */
  abortAll(): void {
    this.pool.abortAll();
  }

  /** Waits until the job's newest attempt is finished (or `timeoutMs` passes). */
  async waitFor(id: string, { timeoutMs = 30_000, pollMs = 25 } = {}): Promise<JobDocument> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const doc = await this.getDocument(id);
      if (doc && isFinal(doc.state)) return doc;
      if (Date.now() > deadline) throw new WaitTimeoutError(id, timeoutMs);
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }

  /** Stops the pool gracefully (see `drainTimeoutMs`). Jobs stay stored. */
  async close(options: { drainTimeoutMs?: number } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.close(options.drainTimeoutMs);
    this.sandboxes.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new QueueClosedError(this.name);
  }
}
