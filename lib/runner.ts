/**
 * The runner pool of one queue in one process: claims due jobs into `workers` slots, runs them
 * with an AbortSignal, refreshes their locks by heartbeat, and records each outcome with one
 * guarded write. A job whose lock is lost is aborted and its outcome dropped.
 */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import {
  DispatchExpiredError,
  JobAbortedError,
  LockLostError,
  MaxTimeExceededError,
  ShutdownError,
  errorCodeOf,
  toError,
} from './errors';
import type { QueueEventMap, TypedEmitter } from './events';
import type { AttemptContext, QueueExtension, StartVerdict } from './extension';
import type { BaseJob, JobContext } from './job';
import type { ResolvedQueueOptions } from './options';
import { handOver, nextAttemptFrom, retryingFields } from './retry';
import { RetryHandler } from './retry-handler';
import { backoffMs, Wakeable } from './sleep';
import type { JobStore, JobUpdate, LockToken } from './store';
import type { JobDocument, JobState } from './types';
import { WriteBatcher } from './write-batcher';

/** A job held by this pool. */
interface RunningJob {
  job: BaseJob;
  token: LockToken;
  controller: AbortController;
  startedAt: number;
  /** Set once the outcome is being written; heartbeats no longer speak for it. */
  finishing: boolean;
  /** When our lock runs out (our clock) unless a heartbeat gets through. */
  lockExpiresAt: number;
  /** Given up by `close()`: its outcome is dropped. */
  abandoned: boolean;
  done: Promise<void>;
}

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
}

/** Runs jobs of one queue. */
export class RunnerPool {
  readonly owner = newOwnerId();
  private readonly running = new Map<string, RunningJob>();
  /** Runs whose lock was lost but whose code has not returned yet; they still hold a slot. */
  private readonly zombies = new Set<RunningJob>();
  private readonly wakeable = new Wakeable();
  private readonly writes: WriteBatcher;
  private readonly log: Logger;
  private started = false;
  private stopping = false;
  private claimLoop?: Promise<void>;
  private heartbeatTimer?: NodeJS.Timeout;
  private fenceTimer?: NodeJS.Timeout;
  private reclaimTimer?: NodeJS.Timeout;
  private idlePolls = 0;
  private unwatch?: () => void;
  /** Background work under way, by kind: a slow store never piles up overlapping passes. */
  private readonly inflight = new Map<'heartbeat' | 'reclaim', Promise<void>>();
  private readonly extensions: QueueExtension[];
  private readonly retry: RetryHandler;

  constructor(
    private readonly store: JobStore,
    private readonly queue: string,
    private readonly opts: ResolvedQueueOptions,
    private readonly events: TypedEmitter<QueueEventMap>,
    hooks: RunnerHooks = {},
  ) {
    this.writes = new WriteBatcher(store);
    this.extensions = hooks.extensions ?? [];
    this.retry = hooks.retry ?? new RetryHandler(store, {}, opts.logger);
    this.log = opts.logger.child({ queue, worker: this.owner });
  }

  /** Emits an event; a throwing listener is logged and never breaks a loop or a run. */
  private emit<K extends keyof QueueEventMap & string>(event: K, ...args: QueueEventMap[K]): void {
    try {
      this.events.emit(event, ...args);
    } catch (err) {
      this.log.error({ err, event }, 'an event listener threw');
    }
  }

  /** Begins claiming. Idempotent. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.heartbeatTimer = setInterval(() => this.background('heartbeat'), this.opts.heartbeatMs);
    // Checked more often than heartbeats are sent, so a run is stopped close to (and before)
    // its lock's expiry rather than up to a whole heartbeat early.
    this.fenceTimer = setInterval(() => this.fence(), this.fenceEveryMs);
    this.reclaimTimer = setInterval(() => this.background('reclaim'), this.opts.reclaimEveryMs);
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
    clearInterval(this.heartbeatTimer);
    clearInterval(this.fenceTimer);
    clearInterval(this.reclaimTimer);
    // Work a timer already started finishes before close returns (the client may close next).
    await Promise.allSettled(this.inflight.values());
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
      try {
        docs = await this.store.jobClaim({
          queue: this.queue,
          owner: this.owner,
          now: this.opts.now(),
          lockTimeoutMs: this.opts.lockTimeoutMs,
          limit: free,
          excludeTypes: this.excludedTypes(),
        });
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

  private attemptContext(entry: RunningJob): AttemptContext {
    return { queue: this.queue, job: entry.job, token: entry.token, now: this.opts.now() };
  }

  /** Asks every extension; the first verdict other than 'run' wins. */
  private async startVerdict(entry: RunningJob): Promise<StartVerdict> {
    for (const ext of this.extensions) {
      if (!ext.beforeStart) continue;
      const verdict = await ext.beforeStart(this.attemptContext(entry));
      if (verdict.action !== 'run') return verdict;
    }
    return { action: 'run' };
  }

  /**
   * A run stops this long before its lock runs out when no heartbeat got through (a cut
   * connection): it must end before another worker may take the job over.
   */
  private get fenceMarginMs(): number {
    return Math.min(this.opts.heartbeatMs / 2, this.opts.lockTimeoutMs / 4);
  }

  /** How often runs are checked against their lock expiry (well inside the margin). */
  private get fenceEveryMs(): number {
    return Math.max(5, this.fenceMarginMs / 2);
  }

  private launch(doc: JobDocument): void {
    const token: LockToken = { id: doc._id, owner: this.owner, modCount: doc.status.modCount };
    const lockExpiresAt = doc.status.lockExpiresAt?.getTime() ?? 0;
    if (lockExpiresAt - this.opts.now().getTime() < this.fenceMarginMs) {
      // The claim came back too late (a slow or cut connection): the lock is as good as gone.
      // Not running it is safe; the reclaimer puts it back for any worker.
      this.log.warn({ jobId: doc._id }, 'claim returned after its lock ran out: not started');
      this.emit('lock-lost', {
        queue: this.queue,
        jobId: doc._id,
        type: doc.type.name,
        attempt: doc.retryInfo.currentAttempt,
      });
      return;
    }
    let job: BaseJob;
    try {
      job = this.opts.registry.fromDocument(doc);
    } catch (err) {
      void this.quarantine(doc, err);
      return;
    }
    const entry: RunningJob = {
      job,
      token,
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
    entry.done = this.execute(entry)
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
    if (ok) this.emit('quarantined', { queue: this.queue, jobId: doc._id, code, reason });
  }

  private info(job: BaseJob) {
    return {
      queue: this.queue,
      jobId: job.id,
      type: job.type.name,
      attempt: job.retryInfo.currentAttempt,
    };
  }

  private async execute(entry: RunningJob): Promise<void> {
    const { job, controller } = entry;
    const now = this.opts.now();
    if (job.timeInfo.dispatchBy && job.timeInfo.dispatchBy < now) {
      job.addError(new DispatchExpiredError(job.id, job.timeInfo.dispatchBy));
      return this.finish(entry, 'expired');
    }
    let verdict: StartVerdict;
    try {
      verdict = await this.startVerdict(entry);
    } catch (err) {
      // An extension failed (e.g. its store is unreachable): give the job back, untouched.
      this.emit('error', toError(err));
      this.log.warn({ err, jobId: job.id }, 'a beforeStart hook failed: job released');
      return this.finish(entry, 'pending', backoffMs(0, this.opts.pollMaxMs, this.opts.pollMaxMs));
    }
    switch (verdict.action) {
      case 'release':
        return this.finish(entry, 'pending', verdict.delayMs);
      case 'block':
        return this.finish(entry, 'blocked');
      case 'finish':
        if (verdict.error) job.addError(verdict.error);
        return this.finish(entry, verdict.state);
    }
    this.emit('claimed', this.info(job));
    const logger = this.log.child({
      jobId: job.id,
      type: job.type.name,
      attempt: job.retryInfo.currentAttempt,
    });
    const ctx: JobContext = {
      signal: controller.signal,
      logger,
      queue: this.queue,
      attempt: job.retryInfo.currentAttempt,
      progress: async (percent, message) => {
        const p = Math.max(0, Math.min(100, percent));
        job.status.progress = p;
        if (message !== undefined) job.status.progressMessage = message;
        if (entry.finishing || controller.signal.aborted) return;
        try {
          const write = this.store.jobProgress({
            token: entry.token,
            progress: p,
            message,
            now: this.opts.now(),
          });
          // A write hanging on a stalled connection must not keep an aborted (e.g. fenced) run
          // from stopping: the job gets control back as soon as its signal fires.
          if (!(await untilAborted(write, controller.signal))) return;
        } catch (err) {
          // Progress is informative: a lost write (a cut connection) must not fail the job.
          logger.warn({ err }, 'progress not stored');
          return;
        }
        this.emit('progress', { ...this.info(job), progress: p, message });
      },
    };
    const maxTimeMs = job.timeInfo.maxTimeMs;
    const timer =
      maxTimeMs > 0
        ? setTimeout(() => controller.abort(new MaxTimeExceededError(job.id, maxTimeMs)), maxTimeMs)
        : undefined;
    const errorsBefore = job.status.errCount;
    let thrown: unknown;
    try {
      await job.run(ctx);
    } catch (err) {
      thrown = err;
    } finally {
      clearTimeout(timer);
    }
    const reason: unknown = controller.signal.aborted ? controller.signal.reason : undefined;
    if (reason instanceof LockLostError) {
      logger.warn('lock lost: outcome dropped');
      this.emit('lock-lost', this.info(job));
      return;
    }
    if (reason instanceof ShutdownError && thrown !== undefined)
      return this.finish(entry, 'pending');
    if (reason instanceof MaxTimeExceededError) {
      job.addError(reason);
    } else if (reason instanceof JobAbortedError && thrown !== undefined) {
      job.addError(reason);
      return this.finish(entry, 'aborted');
    } else if (thrown !== undefined) {
      job.recordThrown(thrown);
    }
    // The retry handler decides in finish() whether the retry asked for is granted.
    if (job.retryInfo.needsRetry) return this.finish(entry, 'retrying');
    return this.finish(entry, job.status.errCount > errorsBefore ? 'failed' : 'completed');
  }

  /**
   * Records the outcome with one guarded write. A retry asked for goes to the retry handler: if
   * granted, that write is step 1 of the hand-over and steps 2 and 3 follow (see retry.ts);
   * if refused, the attempt ends `failed` with the handler's reason added to its errors.
   */
  private async finish(entry: RunningJob, requested: JobState, delayMs = 0): Promise<void> {
    const { job } = entry;
    entry.finishing = true;
    if (entry.abandoned) {
      this.log.warn({ jobId: job.id }, 'abandoned at close: outcome dropped');
      this.emit('lock-lost', this.info(job));
      return;
    }
    const now = this.opts.now();
    let state = requested;
    let next: JobDocument | undefined;
    // A result that cannot be stored (too large, a non-storable value) fails the attempt once,
    // keeping the stored payload; left unwritten, the job would be reclaimed and run again.
    let source: JobDocument | undefined;
    if (state !== 'pending' && state !== 'blocked') {
      try {
        source = this.opts.registry.toDocument(job, this.queue, now);
      } catch (err) {
        job.addError(err);
        state = 'failed';
      }
    }
    if (state === 'retrying') {
      const decision = this.retry.decide(job, now);
      if (!decision.retry) {
        if (decision.error) job.addError(decision.error);
        state = 'failed';
      } else if (source) {
        next = nextAttemptFrom(source, decision.plan, now);
      }
    }
    const update: JobUpdate = {
      state,
      errors: job.status.errors,
      errCount: job.status.errCount,
      inProgress: false,
    };
    if (state === 'pending' || state === 'blocked') {
      update.releaseLock = true;
      update.dueAt = new Date(now.getTime() + delayMs);
    } else {
      update.end = now;
      update.completed = state === 'completed';
      update.payload = source?.payload;
      if (state === 'completed') update.progress = 100;
      if (state === 'completed' || state === 'failed') update.retryEnd = now;
    }
    if (next) Object.assign(update, retryingFields(next));
    let ok = await this.writes.write({ token: entry.token, update, now });
    if (!ok && update.releaseLock) {
      // A release does not match while an abort is requested (the store guards it): honour the
      // abort instead, under the same token.
      job.addError(new JobAbortedError(job.id, 'abort requested by ID'));
      state = 'aborted';
      ok = await this.writes.write({
        token: entry.token,
        now,
        update: {
          state,
          errors: job.status.errors,
          errCount: job.status.errCount,
          inProgress: false,
          end: now,
          completed: false,
        },
      });
    }
    const info = this.info(job);
    if (!ok) {
      this.log.warn({ jobId: job.id, state }, 'lock lost before the outcome was written: dropped');
      this.emit('lock-lost', info);
      return;
    }
    if (next) await this.insertNextAttempt(entry, next, now);
    this.emitOutcome(entry, state, next);
    const ctx = this.attemptContext(entry);
    for (const ext of this.extensions) {
      await ext.afterFinish?.(ctx, state)?.catch((err: unknown) => {
        this.emit('error', toError(err));
        this.log.error({ err, jobId: job.id, extension: ext.name }, 'afterFinish hook failed');
      });
    }
  }

  /** Steps 2 and 3 of a hand-over; a failure is left to the retry monitor, which redoes them. */
  private async insertNextAttempt(entry: RunningJob, next: JobDocument, now: Date): Promise<void> {
    const old = { id: entry.token.id, modCount: entry.token.modCount + 1 };
    try {
      await handOver(this.store, next, old, now);
    } catch (err) {
      this.emit('error', toError(err));
      this.log.warn(
        { err, jobId: old.id, nextAttemptId: next._id },
        'inserting the next attempt failed; the retry monitor will finish it',
      );
    }
  }

  private emitOutcome(entry: RunningJob, state: JobState, next?: JobDocument): void {
    const { job } = entry;
    const info = this.info(job);
    const durationMs = Date.now() - entry.startedAt;
    const error = job.error()?.message ?? '';
    switch (state) {
      case 'completed':
        this.emit('completed', { ...info, durationMs });
        break;
      case 'failed':
        this.emit('failed', { ...info, error, durationMs });
        break;
      case 'retrying':
        if (next)
          this.emit('retrying', {
            ...info,
            error,
            nextAttemptId: next._id,
            dueAt: next.dueAt,
          });
        break;
      case 'aborted':
        this.emit('aborted', { ...info, reason: error });
        break;
      case 'expired':
        this.emit('expired', info);
        break;
      case 'pending':
        this.emit('released', info);
        break;
    }
    this.log.debug({ jobId: job.id, state, durationMs }, 'job finished');
  }

  /** Starts a heartbeat or reclaim pass unless one of its kind is still under way. */
  private background(kind: 'heartbeat' | 'reclaim'): void {
    if (this.inflight.has(kind)) return;
    const pass = (kind === 'heartbeat' ? this.heartbeat() : this.reclaim()).finally(() =>
      this.inflight.delete(kind),
    );
    this.inflight.set(kind, pass);
  }

  /**
   * Self-fencing: a run whose lock is about to run out because no heartbeat got through (the
   * database is unreachable) is aborted as lost, so it stops before another worker may take the
   * job over. Runs even while a heartbeat hangs.
   */
  private fence(): void {
    const limit = this.opts.now().getTime() + this.fenceMarginMs;
    for (const [id, r] of this.running) {
      if (r.finishing || r.controller.signal.reason instanceof LockLostError) continue;
      if (r.lockExpiresAt <= limit) {
        this.log.warn({ jobId: id }, 'lock could not be refreshed in time: run aborted');
        r.controller.abort(new LockLostError(id, this.owner));
      }
    }
  }

  private async heartbeat(): Promise<void> {
    // Aborted jobs keep their lock while they stop (nobody may run them again meanwhile); only
    // runs that lost their lock are no longer ours to refresh.
    const held = [...this.running.values()].filter(
      (r) => !r.finishing && !(r.controller.signal.reason instanceof LockLostError),
    );
    if (held.length === 0) return;
    try {
      const lockExpiresAt = new Date(this.opts.now().getTime() + this.opts.lockTimeoutMs);
      const res = await this.store.jobHeartbeat({
        owner: this.owner,
        jobs: held.map((r) => r.token),
        lockExpiresAt,
      });
      const lost = new Set(res.lost);
      for (const r of held) if (!lost.has(r.token.id)) r.lockExpiresAt = lockExpiresAt.getTime();
      // Act only on the runs this heartbeat spoke for: the same job may have been released and
      // claimed again by this pool meanwhile, under a new token.
      const sent = new Set(held);
      for (const id of res.lost) {
        const r = this.running.get(id);
        if (r && sent.has(r) && !r.finishing) r.controller.abort(new LockLostError(id, this.owner));
      }
      for (const id of res.abortRequested) {
        const r = this.running.get(id);
        if (r && sent.has(r) && !r.controller.signal.aborted) {
          r.controller.abort(new JobAbortedError(id, 'abort requested by ID'));
        }
      }
    } catch (err) {
      this.emit('error', toError(err));
      this.log.warn({ err }, 'heartbeat failed');
    }
  }

  private async reclaim(): Promise<void> {
    try {
      const bad = await this.store.jobQuarantineMalformed({
        queue: this.queue,
        now: this.opts.now(),
      });
      for (const jobId of bad) {
        const reason = 'envelope fields missing or of the wrong type';
        this.log.error({ jobId, reason }, 'malformed document quarantined');
        this.emit('quarantined', {
          queue: this.queue,
          jobId,
          code: 'DROVER_MALFORMED_JOB',
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

/** Waits for `p`; resolves false early (leaving `p` to settle alone) if `signal` fires first. */
async function untilAborted(p: Promise<unknown>, signal: AbortSignal): Promise<boolean> {
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<false>((resolve) => {
    onAbort = () => resolve(false);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  p.catch(() => undefined);
  try {
    return await Promise.race([p.then(() => true as const), aborted]);
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
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
