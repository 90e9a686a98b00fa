/**
 * The runner pool of one queue in one process: claims due jobs into `workers` slots and runs each
 * claimed attempt through its parts: the lock keeper refreshes the locks by heartbeat and fences
 * runs whose lock is lost (lock-keeper.ts), the executor runs the job with an AbortSignal
 * (attempt-executor.ts), and the recorder writes its outcome with one guarded write
 * (outcome-recorder.ts). A job whose lock is lost is aborted and its outcome dropped. The pool
 * also runs the queue's periodic upkeep: stale locks reclaimed, malformed documents quarantined,
 * the extensions' maintenance.
 */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import {
  ErrorCode,
  JobAbortedError,
  LockLostError,
  ShutdownError,
  errorCodeOf,
  toError,
} from '../errors';
import type { QueueEventMap, TypedEmitter } from '../events';
import type { ClaimGrant, QueueExtension } from '../extension';
import type { BaseJob } from '../job/base-job';
import type { ResolvedPoolOptions } from './pool-options';
import { AttemptExecutor } from './attempt-executor';
import { BackgroundPasses } from '../timers/background-passes';
import type { EmitEvent, HeldAttempt, PoolContext, RunJob } from './attempt';
import { LockKeeper } from './lock-keeper';
import { OutcomeRecorder } from './outcome-recorder';
import { CallerAttempts } from './caller-attempts';
import { RetryHandler } from '../retry/retry-handler';
import { backoffMs, Wakeable } from '../timers/sleep';
import { storeRecords, type JobStore } from '../store/job-store';
import type { JobDocument } from '../types';

/** A unique owner name: host, process and a random part, so restarts never reuse one. */
export function newOwnerId(): string {
  return `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
}

/** What the queue gives its pool besides options. */
export interface RunnerHooks {
  /** Features plugged in around the claim-run-record cycle. */
  extensions?: QueueExtension[];
  /**
   * Decides retries (bounds, backoff). A queue given none makes its own over its store and adds
   * that handler's monitor to its extensions; a caller giving one (the group) adds the monitor.
   */
  retry?: RetryHandler;
  /** Runs each job's code; `job.run(ctx)` in this process when omitted. */
  runJob?: RunJob;
}

/** Runs jobs of one queue. */
export class RunnerPool {
  readonly owner = newOwnerId();
  private readonly running = new Map<string, HeldAttempt>();
  /** Runs whose lock was lost but whose code has not returned yet; they still hold a slot. */
  private readonly zombies = new Set<HeldAttempt>();
  private readonly wakeable = new Wakeable();
  private readonly log: Logger;
  private readonly pool: PoolContext;
  private readonly locks: LockKeeper;
  private readonly executor: AttemptExecutor;
  private readonly recorder: OutcomeRecorder;
  /** Attempts claimed for callers that run them themselves (`Queue.next()`). */
  readonly callers: CallerAttempts;
  /** The upkeep pass (stale locks, malformed documents, maintenance): see `upkeep()`. */
  private readonly passes: BackgroundPasses;
  private readonly extensions: QueueExtension[];
  private started = false;
  private stopping = false;
  private claimLoop?: Promise<void>;
  private idlePolls = 0;
  private unwatch?: () => void;

  constructor(
    private readonly store: JobStore,
    private readonly queue: string,
    private readonly opts: ResolvedPoolOptions,
    private readonly events: TypedEmitter<QueueEventMap>,
    hooks: RunnerHooks = {},
  ) {
    this.extensions = hooks.extensions ?? [];
    this.log = opts.logger.child({ queue, worker: this.owner });
    this.pool = {
      store,
      queue,
      owner: this.owner,
      opts,
      extensions: this.extensions,
      emit: this.emit,
      log: this.log,
      runJob: hooks.runJob ?? ((job, ctx) => job.run(ctx)),
    };
    this.locks = new LockKeeper(this.pool, this.running);
    this.executor = new AttemptExecutor(this.pool);
    const retry = hooks.retry ?? new RetryHandler(store, {}, opts.logger);
    this.recorder = new OutcomeRecorder(this.pool, retry);
    this.callers = new CallerAttempts(this.pool, this, this.executor, this.recorder);
    this.passes = new BackgroundPasses(this.log, 'runner pool');
  }

  /** Emits an event; a throwing listener is logged and never breaks a loop or a run. */
  private readonly emit: EmitEvent = (event, ...args) => {
    try {
      this.events.emit(event, ...args);
    } catch (err) {
      this.log.error({ err, event }, 'an event listener threw');
    }
  };

  /** Begins claiming. Idempotent. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.locks.start();
    this.passes.every('upkeep', this.opts.reclaimEveryMs, () => this.upkeep());
    this.unwatch = this.store.jobOnInsert(this.queue, () => this.wakeable.wake());
    this.claimLoop = this.loop();
    this.log.debug({ workers: this.opts.workers }, 'runner pool started');
  }

  get isStarted(): boolean {
    return this.started && !this.stopping;
  }

  /** Ends an idle wait at once (a job was put in this process). */
  wake(): void {
    this.wakeable.wake();
  }

  isRunning(id: string): boolean {
    return this.running.has(id);
  }

  runningJobs(): string[] {
    return [...this.running.keys()];
  }

  /** Running jobs whose code has not returned yet (not yet recording their outcome). */
  executingJobs(): string[] {
    return [...this.running].filter(([, r]) => !r.finishing).map(([id]) => id);
  }

  /** Aborts a job running in this pool; false when it is not here. */
  abort(id: string, reason: Error = new JobAbortedError(id)): boolean {
    const r = this.running.get(id);
    if (!r) return false;
    r.controller.abort(reason);
    return true;
  }

  abortAll(): void {
    for (const id of this.running.keys()) this.abort(id);
  }

  /**
   * Stops claiming, lets running jobs finish for `drainTimeoutMs`, then aborts and releases the
   * rest for other workers, and stops the loops.
   */
  async close(drainTimeoutMs = this.opts.drainTimeoutMs): Promise<void> {
    if (!this.started || this.stopping) return;
    this.stopping = true;
    this.unwatch?.();
    this.wakeable.wake();
    await this.claimLoop;
    const all = () => Promise.all([...this.running.values(), ...this.zombies].map((r) => r.done));
    if (this.running.size > 0 && !(await settledWithin(all(), drainTimeoutMs))) {
      this.log.warn({ jobs: this.runningJobs() }, 'drain timeout: aborting running jobs');
      for (const [id, r] of this.running) r.controller.abort(new ShutdownError(id));
      if (!(await settledWithin(all(), Math.max(1000, this.opts.heartbeatMs * 2)))) {
        this.log.error(
          { jobs: this.runningJobs() },
          'jobs ignore their abort signal: abandoned; their locks will expire',
        );
        // Nothing of a closed pool writes again: their outcomes are dropped, and once their locks
        // expire (no more heartbeats) another worker runs them.
        for (const r of [...this.running.values(), ...this.zombies]) r.abandoned = true;
      }
    }
    // Work a timer already started finishes before close returns (the client may close next).
    await Promise.all([this.locks.stop(), this.passes.stop()]);
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      const free = this.opts.workers - this.running.size - this.zombies.size;
      // While jobs run, wait for a quarter of the slots to free up: one claim round trip then
      // fills several slots instead of one.
      const minClaim = this.running.size === 0 ? 1 : Math.ceil(this.opts.workers / 4);
      if (free < minClaim) {
        await this.wakeable.sleep(this.opts.pollMaxMs);
        continue;
      }
      if (!this.claimAllowed()) {
        await this.wakeable.sleep(this.opts.pollMaxMs);
        continue;
      }
      let docs: JobDocument[] = [];
      const now = this.opts.now();
      try {
        const batch = await this.claimBatch(free, now);
        if (batch.refused) {
          await this.sleepUntilGranted(batch.refused, now);
          continue;
        }
        docs = batch.docs;
      } catch (err) {
        this.emit('error', toError(err));
        this.log.warn({ err }, 'claim failed; backing off');
      }
      if (docs.length === 0) {
        if (this.running.size === 0 && this.idlePolls === 0)
          this.emit('idle', { queue: this.queue });
        await this.wakeable.sleep(
          backoffMs(this.idlePolls++, this.opts.pollMinMs, this.opts.pollMaxMs),
        );
        continue;
      }
      this.idlePolls = 0;
      for (const doc of docs) this.launch(doc);
    }
  }

  /**
   * One claim round trip of up to `want` attempts, within what the claim-limiting extensions
   * grant (unused grants are given back). `refused` when a grant of 0 stopped it before the
   * claim: the grants to wait on, already given back.
   */
  async claimBatch(
    want: number,
    now: Date,
  ): Promise<{ docs: JobDocument[]; refused?: ClaimGrant[] }> {
    let docs: JobDocument[] = [];
    let grants: ClaimGrant[] = [];
    try {
      grants = await this.claimGrants(want, now);
      const limit = Math.min(want, ...grants.map((g) => g.granted));
      if (limit === 0) {
        // What others granted goes back before the caller sleeps, not after.
        const refused = grants;
        grants = [];
        await this.giveBack(refused, 0);
        return { docs, refused };
      }
      docs = await this.store.jobClaim({
        queue: this.queue,
        owner: this.owner,
        now,
        lockTimeoutMs: this.opts.lockTimeoutMs,
        limit,
        excludeTypes: this.excludedTypes(),
      });
      return { docs };
    } finally {
      await this.giveBack(grants, docs.length);
    }
  }

  /**
   * One claim round without the claim loop, for callers that drive a queue step by step
   * (drover/testing): claims up to `limit` due jobs (fuses, pauses and rate limits apply), runs
   * them and resolves with their IDs once every outcome is recorded. Claims nothing while the
   * loop runs (`start()`), since it claims for itself.
   */
  async runDue(limit = this.opts.workers): Promise<string[]> {
    if (this.started || !this.claimAllowed()) return [];
    const { docs } = await this.claimBatch(limit, this.opts.now());
    for (const doc of docs) this.launch(doc);
    await Promise.all(docs.flatMap((d) => this.running.get(d._id)?.done ?? []));
    return docs.map((d) => d._id);
  }

  /**
   * Asks the extensions that limit claims (rate limits) in turn, each for what the previous one
   * granted; stops at a grant of 0.
   */
  private async claimGrants(want: number, now: Date): Promise<ClaimGrant[]> {
    const grants: ClaimGrant[] = [];
    for (const ext of this.extensions) {
      if (!ext.claimGrant) continue;
      const grant = await ext.claimGrant(this.queue, want, now);
      grants.push(grant);
      want = Math.min(want, grant.granted);
      if (want === 0) break;
    }
    return grants;
  }

  /** Gives every grant back what the claim did not use; a failure only wastes the claims. */
  private async giveBack(grants: ClaimGrant[], claimed: number): Promise<void> {
    for (const g of grants) {
      if (g.granted <= claimed || !g.giveBack) continue;
      await g.giveBack(g.granted - claimed).catch((err: unknown) => {
        this.log.warn({ err }, 'giving back unused claims failed');
      });
    }
  }

  /** Nothing granted: sleeps until the earliest time a grant may come (woken by close). */
  private async sleepUntilGranted(grants: ClaimGrant[], now: Date): Promise<void> {
    const at = Math.min(...grants.map((g) => g.retryAt?.getTime() ?? Infinity));
    const ms = Number.isFinite(at) ? at - now.getTime() : this.opts.pollMaxMs;
    // A little jitter, so that processes waiting on one window do not all ask at its first ms.
    await this.wakeable.sleep(Math.max(1, ms) + Math.floor(Math.random() * this.opts.pollMinMs));
  }

  /** False while an extension (a fuse, a waiting hook) holds claims back. */
  claimAllowed(): boolean {
    return this.extensions.every((e) => e.claimAllowed?.(this.queue) ?? true);
  }

  /** Job types not to claim now: the queue's own plus the extensions' (fuses). */
  excludedTypes(): string[] {
    const extra = this.extensions.flatMap((e) => e.excludedTypes?.(this.queue) ?? []);
    return extra.length === 0
      ? this.opts.excludeTypes
      : [...new Set([...this.opts.excludeTypes, ...extra])];
  }

  /** Gives a claimed document a slot: loads its job and runs it, then records the outcome. */
  private launch(doc: JobDocument): void {
    const lockExpiresAt = doc.status.lockExpiresAt?.getTime() ?? 0;
    if (this.locks.tooLateToStart(lockExpiresAt)) {
      // The claim came back too late (a slow or cut connection): the lock is as good as gone.
      // Not running it is safe; the reclaimer puts it back for any worker.
      this.log.warn({ jobId: doc._id }, 'claim returned after its lock ran out: not started');
      this.emit('lock-lost', {
        queue: this.queue,
        id: doc._id,
        jobId: doc._id,
        type: doc.type?.name ?? '',
        attempt: doc.retryInfo.currentAttempt,
      });
      return;
    }
    const job = this.load(doc);
    if (!job) return;
    const entry: HeldAttempt = {
      job,
      token: { id: doc._id, owner: this.owner, modCount: doc.status.modCount },
      controller: new AbortController(),
      startedAt: Date.now(),
      finishing: false,
      lockExpiresAt,
      abandoned: false,
      done: Promise.resolve(),
    };
    const previous = this.running.get(doc._id);
    if (previous) {
      // We claimed again a job we still run: our old lock went stale. The old run is lost.
      previous.controller.abort(new LockLostError(doc._id, this.owner));
      this.zombies.add(previous);
    }
    this.running.set(doc._id, entry);
    entry.done = this.runAndRecord(entry)
      .catch((err) => {
        this.emit('error', toError(err));
        this.log.error(
          { err, jobId: doc._id },
          'recording the outcome failed; the lock will expire',
        );
      })
      .finally(() => {
        if (this.running.get(doc._id) === entry) this.running.delete(doc._id);
        this.zombies.delete(entry);
        this.wakeable.wake();
      });
  }

  private async runAndRecord(entry: HeldAttempt): Promise<void> {
    let recorded = false;
    try {
      const outcome = await this.executor.execute(entry);
      if (outcome) recorded = await this.recorder.record(entry, outcome);
    } finally {
      if (!recorded) await this.recorder.outcomeDropped(entry);
    }
  }

  /** The job of a claimed document; undefined when it cannot be loaded (it is quarantined). */
  load(doc: JobDocument): BaseJob | undefined {
    try {
      return this.opts.registry.fromDocument(doc);
    } catch (err) {
      void this.quarantine(doc, err);
      return undefined;
    }
  }

  private async quarantine(doc: JobDocument, err: unknown): Promise<void> {
    const code = errorCodeOf(err);
    const reason = toError(err).message;
    this.log.error({ jobId: doc._id, code, reason }, 'job quarantined');
    const ok = await this.store
      .jobQuarantine({
        id: doc._id,
        modCount: doc.status.modCount,
        code,
        reason,
        now: this.opts.now(),
      })
      .catch(() => false);
    if (ok)
      this.emit('quarantined', { queue: this.queue, id: doc._id, jobId: doc._id, code, reason });
  }

  /**
   * The periodic upkeep of the queue: quarantines malformed documents, puts attempts whose lock
   * went stale (their worker died) back for any worker, and runs the extensions' maintenance.
   */
  private async upkeep(): Promise<void> {
    try {
      const bad = await this.store.jobQuarantineMalformed({
        queue: this.queue,
        now: this.opts.now(),
      });
      for (const jobId of bad) {
        const reason = storeRecords.malformedReason;
        this.log.error({ jobId, reason }, 'malformed document quarantined');
        this.emit('quarantined', {
          queue: this.queue,
          id: jobId,
          jobId,
          code: ErrorCode.MalformedJob,
          reason,
        });
      }
      const n = await this.store.jobReclaimStale({
        queue: this.queue,
        now: this.opts.now(),
        maxLockLosses: this.opts.maxLockLosses,
      });
      if (n > 0) {
        this.log.info({ reclaimed: n }, 'stale locks reclaimed');
        this.wakeable.wake();
      }
    } catch (err) {
      this.emit('error', toError(err));
    }
    for (const ext of this.extensions) {
      try {
        await ext.maintain?.(this.queue, this.opts.now());
      } catch (err) {
        this.emit('error', toError(err));
        this.log.warn({ err, extension: ext.name }, 'maintenance failed');
      }
    }
  }
}

/** True when `p` settles within `ms`. */
async function settledWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([p.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
