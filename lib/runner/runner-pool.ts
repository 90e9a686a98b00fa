/**
 * The runner pool of one queue in one process: claims due jobs into `workers` slots and runs each
 * claimed attempt through its parts: the lock keeper refreshes the locks by heartbeat and fences
 * runs whose lock is lost (lock-keeper.ts), the executor runs the job with an AbortSignal
 * (attempt-executor.ts), and the recorder writes its outcome with one guarded write
 * (outcome-recorder.ts). A job whose lock is lost is aborted and its outcome dropped. While its
 * queue has work the pool claims back to back; once a claim comes back empty it waits, and the
 * process poller (process-poller.ts) wakes it when work is due, has it reclaim stale locks and
 * quarantine malformed documents, and runs the extensions' upkeep for all queues at once.
 * Callers that run jobs themselves (`Queue.next()`) and step-by-step drivers (`runDue`) take the
 * same claim path.
 */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { JobAbortedError, LockLostError, ShutdownError, toError } from '../errors';
import type { QueueEventMap, TypedEmitter } from '../events';
import type { QueueExtension } from '../extension';
import type { ResolvedPoolOptions } from './pool-options';
import { AttemptExecutor } from './attempt-executor';
import {
  attemptInfo,
  type EmitEvent,
  type HeldAttempt,
  type PoolContext,
  type RunJob,
} from './attempt';
import { LockKeeper } from './lock-keeper';
import { OutcomeRecorder } from './outcome-recorder';
import { ProcessPoller, type PolledPool } from './process-poller';
import { CallerAttempts } from './caller-attempts';
import { Claimer } from './claimer';
import { loadJob, quarantineMalformed, reclaimStale } from './queue-upkeep';
import { RetryHandler } from '../retry/retry-handler';
import { backoffMs, settledWithin, TIMER_MAX_MS, Wakeable } from '../timers/sleep';
import type { JobStore } from '../store/job-store';
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
  /** The process's poller, shared by a group's queues; a pool given none makes its own. */
  poller?: ProcessPoller;
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
  private readonly claimer: Claimer;
  /** Attempts claimed for callers that run them themselves (`Queue.next()`). */
  readonly callers: CallerAttempts;
  private readonly poller: ProcessPoller;
  /** What the poller sees of this pool. */
  private readonly polled: PolledPool;
  private readonly extensions: QueueExtension[];
  private started = false;
  private stopping = false;
  private claimLoop?: Promise<void>;
  /** The last claim came back empty: wait for a wake. Pools start idle (the poller looks first). */
  private idle = true;
  /** The poller chose this pool to claim a suspect, alone in the process. */
  private suspectWanted = false;
  private claimFailures = 0;
  /** 'idle' was emitted for the current idle period. */
  private idleAnnounced = false;
  /** The earliest due time of a job put here that was not due yet (see `wakeAt`). */
  private nextDueAt?: Date;
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
    this.claimer = new Claimer(this.pool, this.wakeable);
    this.callers = new CallerAttempts(this.pool, this.claimer, this.executor, this.recorder);
    this.poller = hooks.poller ?? new ProcessPoller(store, this.log);
    this.polled = {
      queue,
      opts,
      extensions: this.extensions,
      heldCount: () => this.running.size + this.zombies.size,
      wake: () => this.wakeable.wake(),
      wakeForSuspect: () => {
        this.suspectWanted = true;
        this.wakeable.wake();
      },
      nothingDue: () => this.announceIdle(),
      reclaim: () => reclaimStale(this.pool),
      quarantineMalformed: () => quarantineMalformed(this.pool),
      upkeepFailed: (err, extension) => {
        this.emit('error', err);
        this.log.warn({ err, extension }, 'maintenance failed');
      },
    };
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
    this.poller.add(this.polled);
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

  /**
   * Ends an idle wait at `at` too (a job put in this process is due then), so that it starts on
   * time rather than at the next probe of the process poller.
   */
  wakeAt(at: Date): void {
    if (this.nextDueAt === undefined || at < this.nextDueAt) this.nextDueAt = at;
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
    await Promise.all([this.locks.stop(), this.poller.remove(this.polled)]);
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      const free = this.opts.workers - this.running.size - this.zombies.size;
      // While jobs run, wait for a quarter of the slots to free up: one claim round trip then
      // fills several slots instead of one.
      const minClaim = this.running.size === 0 ? 1 : Math.ceil(this.opts.workers / 4);
      if (free < minClaim || !this.claimer.claimAllowed()) {
        await this.wakeable.sleep(this.opts.pollMaxMs);
        continue;
      }
      if (this.idle && !this.suspectWanted) {
        // No polling of our own: the process poller (or a put, or close) wakes us.
        this.poller.setIdle(this.polled, true);
        await this.wakeable.sleep(this.idleSleepMs());
        this.poller.setIdle(this.polled, false);
        this.idle = false;
        continue;
      }
      const suspect = this.suspectWanted;
      this.suspectWanted = false;
      if (suspect ? !this.poller.beginSuspectClaim() : !this.poller.beginClaim()) {
        // A suspect is claimed or runs alone in this process: wait until it is over.
        if (!suspect) await this.wakeable.sleep(this.opts.pollMaxMs);
        continue;
      }
      // Null: a rate limit held the claim back (counted as a claim: the work is there).
      let docs: JobDocument[] | null = null;
      try {
        docs = await this.claimer.claim(suspect ? 1 : free, suspect);
        this.claimFailures = 0;
      } catch (err) {
        this.emit('error', toError(err));
        this.log.warn({ err }, 'claim failed; backing off');
        await this.wakeable.sleep(
          backoffMs(this.claimFailures++, this.opts.pollMinMs, this.opts.pollMaxMs),
        );
        continue;
      } finally {
        const claimed = docs?.length ?? 0;
        if (suspect) this.poller.endSuspectClaim(claimed > 0);
        else this.poller.endClaim(this.polled, docs === null ? 1 : claimed);
      }
      // Held back by a rate limit: the work is there, claim again (after the limit's wait).
      if (docs === null) continue;
      if (docs.length === 0) {
        this.idle = true;
        this.announceIdle();
        continue;
      }
      this.idleAnnounced = false;
      for (const doc of docs) {
        const entry = this.launch(doc);
        if (suspect) this.runSuspect(entry);
      }
    }
  }

  /** How long an idle wait may last: until woken, or until a job put here is due. */
  private idleSleepMs(): number {
    // Until woken, at the longest (a wake always comes: the poller, a put, close).
    if (this.nextDueAt === undefined) return TIMER_MAX_MS;
    const ms = this.nextDueAt.getTime() - this.opts.now().getTime();
    if (ms <= 0) this.nextDueAt = undefined;
    return Math.min(TIMER_MAX_MS, Math.max(0, ms));
  }

  /** Emits 'idle' once per idle period, when nothing runs and nothing is due. */
  private announceIdle(): void {
    if (this.running.size > 0 || this.idleAnnounced) return;
    this.idleAnnounced = true;
    this.emit('idle', { queue: this.queue });
  }

  /** A suspect claimed alone runs alone: the poller reopens claims when its run is over. */
  private runSuspect(entry: HeldAttempt | undefined): void {
    if (!entry) this.poller.suspectDone();
    else void entry.done.finally(() => this.poller.suspectDone());
  }

  /**
   * One claim round without the claim loop, for callers that drive a queue step by step
   * (drover/testing): claims up to `limit` due jobs (fuses, pauses and rate limits apply), runs
   * them and resolves with their IDs once every outcome is recorded. Claims nothing while the
   * loop runs (`start()`), since it claims for itself. A suspect (see `JobClaimParams.suspects`)
   * is claimed only when nothing else is due, alone.
   */
  async runDue(limit = this.opts.workers): Promise<string[]> {
    if (this.started || !this.claimer.claimAllowed()) return [];
    const now = this.opts.now();
    let { docs } = await this.claimer.claimBatch(limit, now, 'skip');
    if (docs.length === 0) ({ docs } = await this.claimer.claimBatch(1, now, 'only'));
    for (const doc of docs) this.launch(doc);
    await Promise.all(docs.flatMap((d) => this.running.get(d._id)?.done ?? []));
    return docs.map((d) => d._id);
  }

  /**
   * Gives a claimed document a slot: loads its job and runs it, then records the outcome. The
   * run, or undefined when the document was not run (too late, or quarantined).
   */
  private launch(doc: JobDocument): HeldAttempt | undefined {
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
      return undefined;
    }
    const job = loadJob(this.pool, doc);
    if (!job) return undefined;
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
    this.locks.started(entry);
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
        this.poller.runEnded();
      });
    return entry;
  }

  /**
   * Admission (scope locks, start hooks) takes round trips: on a slow or cut link the lock may
   * run out meanwhile, and another worker may then take the job or its scopes over. Such a run
   * is not started, as at launch: lock-lost, its outcome dropped (its scopes given back).
   */
  private lostWhileAdmitted(entry: HeldAttempt): boolean {
    const lost =
      entry.controller.signal.reason instanceof LockLostError ||
      this.locks.tooLateToStart(entry.lockExpiresAt);
    if (!lost) return false;
    this.log.warn(
      { jobId: entry.token.id },
      'lock ran out while the run was admitted: not started',
    );
    this.emit('lock-lost', attemptInfo(this.queue, entry.job));
    return true;
  }

  private async runAndRecord(entry: HeldAttempt): Promise<void> {
    let recorded = false;
    try {
      const refused = await this.executor.admit(entry);
      const outcome =
        refused ?? (this.lostWhileAdmitted(entry) ? undefined : await this.executor.perform(entry));
      if (outcome) recorded = await this.recorder.record(entry, outcome);
    } finally {
      if (!recorded) await this.recorder.outcomeDropped(entry);
    }
  }
}
