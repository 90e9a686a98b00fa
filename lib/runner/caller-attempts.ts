/**
 * Attempts claimed for a caller that runs them itself (`Queue.next()`, `save()`, `complete()`,
 * amboy's Next/Save/Complete). They take the pool's own path: the claim passes the fuses and the
 * rate-limit grants, a document that cannot be loaded is quarantined, the dispatch deadline and
 * the extensions' start verdicts (scopes, dependencies, hooks) are checked, and the outcome is
 * written by the pool's recorder, so the retry handler decides retries, events are emitted and
 * `afterFinish` runs (dependents released, scopes given back). The caller keeps the lock fresh
 * with `save()`: the pool's heartbeat does not speak for code it does not run.
 */
import { LockLostError } from '../errors';
import type { BaseJob } from '../job/base-job';
import type { JobDocument } from '../types';
import type { HeldAttempt, PoolContext, RequestedOutcome } from './attempt';
import type { AttemptExecutor } from './attempt-executor';
import type { OutcomeRecorder } from './outcome-recorder';
import { failureOutcome } from './outcome-of';
import { loadJob } from './queue-upkeep';

/** Claimed documents that turn out not to be runnable are skipped at most this often per call. */
const CLAIM_ROUNDS_MAX = 16;

/** The pool's claim path (its Claimer, claimer.ts), as caller-run attempts use it. */
export interface ClaimPath {
  claimAllowed(): boolean;
  claimBatch(want: number, now: Date): Promise<{ docs: JobDocument[] }>;
}

/** A caller-run attempt: the held attempt and the error count when it started. */
interface CallerAttempt {
  entry: HeldAttempt;
  errorsAtStart: number;
}

/** The attempts one pool holds for callers. */
export class CallerAttempts {
  private readonly held = new Map<string, CallerAttempt>();

  constructor(
    private readonly pool: PoolContext,
    private readonly path: ClaimPath,
    private readonly executor: AttemptExecutor,
    private readonly recorder: OutcomeRecorder,
  ) {}

  /** IDs of the attempts callers hold now. */
  ids(): string[] {
    return [...this.held.keys()];
  }

  /** Claims the next due job that may run now, or undefined when there is none. */
  async claim(): Promise<BaseJob | undefined> {
    for (let round = 0; round < CLAIM_ROUNDS_MAX; round++) {
      if (!this.path.claimAllowed()) return undefined;
      const { docs } = await this.path.claimBatch(1, this.pool.opts.now());
      const [doc] = docs;
      if (!doc) return undefined;
      const job = loadJob(this.pool, doc);
      if (!job) continue;
      const entry = heldAttempt(job, this.pool.owner, doc);
      const refused = await this.executor.admit(entry);
      if (refused) {
        // Expired, released or blocked: recorded as the pool would, then on to the next one.
        await this.record(entry, refused);
        continue;
      }
      this.held.set(job.id, { entry, errorsAtStart: job.status.errCount });
      return job;
    }
    return undefined;
  }

  /** Writes the job's payload, progress and errors, and refreshes its lock. */
  async save(job: BaseJob): Promise<void> {
    const { entry } = this.attemptOf(job);
    const { store, opts, queue } = this.pool;
    const now = opts.now();
    const modCount = await store.jobWrite({
      token: entry.token,
      update: {
        payload: opts.registry.toDocument(job, queue, now).payload,
        errors: job.status.errors,
        errCount: job.status.errCount,
        progress: job.status.progress,
        lockExpiresAt: new Date(now.getTime() + opts.lockTimeoutMs),
      },
      now,
    });
    if (modCount === null) throw new LockLostError(job.id, entry.token.owner);
    entry.token.modCount = modCount;
    job.status.modCount = modCount;
  }

  /**
   * Records the outcome of a caller-run job as the pool records its own (outcome-of.ts): errors
   * added since it was claimed fail it, and a failed attempt is retried while attempts remain
   * (the retry handler decides) unless an error forbids it; completed otherwise, with its
   * `returnValue` when the caller set one. Throws LockLostError when another worker holds the
   * job now (nothing is written).
   */
  async complete(job: BaseJob): Promise<void> {
    const attempt = this.attemptOf(job);
    const { state } = failureOutcome(job, attempt.errorsAtStart);
    this.held.delete(job.id);
    if (!(await this.record(attempt.entry, { state }))) {
      throw new LockLostError(job.id, attempt.entry.token.owner);
    }
    // The job object keeps its claim's modCount: it holds no lock now, so any later write with
    // it (a second complete, a save) is refused as a stale holder's.
    job.status.completed = state === 'completed';
  }

  private async record(entry: HeldAttempt, outcome: RequestedOutcome): Promise<boolean> {
    const recorded = await this.recorder.record(entry, outcome);
    if (!recorded) await this.recorder.outcomeDropped(entry);
    return recorded;
  }

  /**
   * The held attempt of `job`. A job this pool did not hand out (read back, or claimed by
   * another queue object of this owner) is held under the lock its status names, and the
   * errors recorded since its start count as this attempt's.
   */
  private attemptOf(job: BaseJob): CallerAttempt {
    const held = this.held.get(job.id);
    if (held && held.entry.job === job) return held;
    const start = job.timeInfo.start?.getTime() ?? 0;
    const since = job.status.errors.filter((e) => e.at.getTime() >= start).length;
    const errorsAtStart = job.status.errCount - since;
    const entry = heldAttempt(job, job.status.owner, {
      _id: job.id,
      status: { modCount: job.status.modCount, lockExpiresAt: job.status.lockExpiresAt },
    });
    const attempt = { entry, errorsAtStart };
    this.held.set(job.id, attempt);
    return attempt;
  }
}

function heldAttempt(
  job: BaseJob,
  owner: string,
  doc: { _id: string; status: { modCount: number; lockExpiresAt: Date | null } },
): HeldAttempt {
  return {
    job,
    token: { id: doc._id, owner, modCount: doc.status.modCount },
    controller: new AbortController(),
    startedAt: Date.now(),
    finishing: false,
    lockExpiresAt: doc.status.lockExpiresAt?.getTime() ?? 0,
    abandoned: false,
    done: Promise.resolve(),
  };
}
