/**
 * A named queue: puts jobs into the store, reads them back as typed job instances, and runs them
 * with its runner pool. One class serves every store (MongoDB, in-memory).
 */
import {
  DuplicateJobError,
  DuplicateJobScopeError,
  InvalidArgumentError,
  LockLostError,
  QueueClosedError,
  WaitTimeoutError,
} from '../errors';
import { TypedEmitter, type QueueEventMap } from '../events';
import type { QueueExtension } from '../extension';
import { delayOnClock, type BaseJob } from '../job/base-job';
import { resolveQueueOptions, type QueueOptions, type ResolvedQueueOptions } from './queue-options';
import { RetryHandler } from '../retry/retry-handler';
import { MemoryRateStore } from '../store/memory/rate-store';
import { RateLimits } from '../limits/rate-limit';
import { RunnerPool, type RunnerHooks } from '../runner/runner-pool';
import type { AbortOutcome, JobStore, LockToken } from '../store/job-store';
import { FINISHED_STATES, type JobDocument, type JobState, type QueueStats } from '../types';
import {
  checkAttemptId,
  checkQueueName,
  checkScope,
  checkJobId,
  checkDate,
  checkNumber,
} from '../validate';

/** What `jobInfo()` yields: a job's stored state without loading its class. */
export type JobInfo = Omit<JobDocument, 'payload'>;

/** Page size of the async iterables. */
const PAGE = 500;

/** A named queue of jobs with a runner pool. */
export class Queue extends TypedEmitter<QueueEventMap> {
  readonly name: string;
  readonly options: ResolvedQueueOptions;
  private readonly pool: RunnerPool;
  private readonly extensions: QueueExtension[];
  /** Decides retries (bounds, backoff) and finishes half-done hand-overs; see retry-handler.ts. */
  readonly retry: RetryHandler;
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
    this.pool = new RunnerPool(store, this.name, this.options, this, {
      ...hooks,
      extensions: this.extensions,
      retry: this.retry,
    });
  }

  /** The owner name this queue's pool claims jobs under. */
  get owner(): string {
    return this.pool.owner;
  }

  /** Puts a job into the queue. Throws DuplicateJobError if its ID exists. */
  async put(job: BaseJob): Promise<void> {
    await this.putMany([job]);
  }

  /**
   * Puts a singleton job: when its ID exists already (DuplicateJobError) or one of its
   * `enqueueScopes` is held by another job (DuplicateJobScopeError), nothing is written and this
   * resolves false instead of throwing. Resolves true when this call inserted the job.
   */
  async putUnique(job: BaseJob): Promise<boolean> {
    try {
      await this.putMany([job]);
      return true;
    } catch (err) {
      if (err instanceof DuplicateJobError || err instanceof DuplicateJobScopeError) return false;
      throw err;
    }
  }

  /**
   * Puts several jobs in one round trip. Every job is validated before anything is written; on
   * colliding IDs the others are stored and a DuplicateJobError lists the collisions.
   */
  async putMany(jobs: BaseJob[]): Promise<void> {
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
    await this.reserve(docs);
    try {
      await this.store.jobInsert(docs);
    } catch (err) {
      const failed =
        err instanceof DuplicateJobError
          ? docs.filter((d) => err.duplicates.includes(d._id))
          : docs;
      await this.unreserve(failed);
      throw err;
    }
    for (const job of jobs) job.queue = this.name;
    this.pool.wake();
    for (const doc of docs) if (doc.dueAt > now) this.pool.wakeAt(doc.dueAt);
  }

  /**
   * Runs the extensions' `beforeInsert` (enqueue scopes, cycle checks). When one rejects, those
   * that already ran are undone, so a refused put holds nothing.
   */
  private async reserve(docs: JobDocument[]): Promise<void> {
    const done: QueueExtension[] = [];
    try {
      for (const ext of this.extensions) {
        await ext.beforeInsert?.(this.name, docs);
        done.push(ext);
      }
    } catch (err) {
      for (const ext of done.reverse()) await ext.insertFailed?.(this.name, docs);
      throw err;
    }
  }

  /** Undoes `reserve` for documents that were not inserted. */
  private async unreserve(docs: JobDocument[]): Promise<void> {
    for (const ext of this.extensions) await ext.insertFailed?.(this.name, docs);
  }

  /** Validates a job and builds its document. Writes nothing. */
  private toDocument(job: BaseJob, now: Date): JobDocument {
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
    delayOnClock(job, now);
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
   * Claims the next due job for a caller that runs jobs itself (instead of `start()`). The caller
   * must `complete` it before `lockTimeoutMs` passes, or `save` it to keep the lock fresh.
   */
  async next(): Promise<BaseJob | undefined> {
    this.assertOpen();
    if (!this.pool.claimAllowed()) return undefined;
    const [doc] = await this.store.jobClaim({
      queue: this.name,
      owner: this.pool.owner,
      now: this.options.now(),
      lockTimeoutMs: this.options.lockTimeoutMs,
      limit: 1,
      excludeTypes: this.pool.excludedTypes(),
    });
    return doc ? this.options.registry.fromDocument(doc) : undefined;
  }

  private tokenOf(job: BaseJob): LockToken {
    return { id: job.id, owner: job.status.owner, modCount: job.status.modCount };
  }

  /**
   * Records the outcome of a job claimed by `next()`: completed, or failed when it has errors.
   * Throws LockLostError when another worker holds the job now.
   */
  async complete(job: BaseJob): Promise<void> {
    const now = this.options.now();
    const state: JobState = job.status.errors.some(
      (e) => e.at >= (job.timeInfo.start ?? new Date(0)),
    )
      ? 'failed'
      : 'completed';
    await this.guardedWrite(job, {
      state,
      end: now,
      completed: state === 'completed',
      inProgress: false,
      errors: job.status.errors,
      errCount: job.status.errCount,
      payload: this.options.registry.toDocument(job, this.name, now).payload,
      progress: state === 'completed' ? 100 : undefined,
    });
    job.status.completed = state === 'completed';
  }

  /** Saves a held job's payload, progress and errors, and refreshes its lock. */
  async save(job: BaseJob): Promise<void> {
    const now = this.options.now();
    await this.guardedWrite(job, {
      payload: this.options.registry.toDocument(job, this.name, now).payload,
      errors: job.status.errors,
      errCount: job.status.errCount,
      progress: job.status.progress,
      // Saving also keeps the lock of a job claimed with next() fresh.
      lockExpiresAt: new Date(now.getTime() + this.options.lockTimeoutMs),
    });
  }

  private async guardedWrite(
    job: BaseJob,
    update: Parameters<JobStore['jobWrite']>[0]['update'],
  ): Promise<void> {
    const modCount = await this.store.jobWrite({
      token: this.tokenOf(job),
      update,
      now: this.options.now(),
    });
    if (modCount === null) throw new LockLostError(job.id, job.status.owner);
    job.status.modCount = modCount;
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
      yield info;
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
      if (doc && FINISHED_STATES.includes(doc.state) && doc.state !== 'retrying') return doc;
      if (Date.now() > deadline) throw new WaitTimeoutError(id, timeoutMs);
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }

  /** Stops the pool gracefully (see `drainTimeoutMs`). Jobs stay stored. */
  async close(options: { drainTimeoutMs?: number } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.close(options.drainTimeoutMs);
  }

  private assertOpen(): void {
    if (this.closed) throw new QueueClosedError(this.name);
  }
}
