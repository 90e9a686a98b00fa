/**
 * Records the outcome of an attempt with one guarded write (the WriteBatcher sends the pool's
 * outcome writes of the moment together). A retry asked for goes to the retry handler: if
 * granted, that write is step 1 of the hand-over and steps 2 and 3 follow (see lib/retry/attempt-chain.ts); if
 * refused, the attempt ends `failed` with the handler's reason added to its errors. Then the outcome's event is emitted and
 * the extensions' `afterFinish` hooks run. An outcome whose lock was lost is dropped.
 */
import { JobAbortedError, toError } from '../errors';
import type { AttemptContext, QueueExtension } from '../extension';
import type { BaseJob } from '../job/base-job';
import {
  attemptContext,
  attemptInfo,
  type HeldAttempt,
  type PoolContext,
  type RequestedOutcome,
} from './attempt';
import { handOver, nextAttemptFrom, retryingFields } from '../retry/attempt-chain';
import type { RetryHandler } from '../retry/retry-handler';
import type { JobUpdate } from '../store/job-store';
import type { JobDocument, JobState } from '../types';
import { WriteBatcher } from './write-batcher';

/** The state to write, and what the write carries besides the job's status. */
interface Decision {
  state: JobState;
  /** The attempt as a document (its result payload); absent for releases and unstorable ones. */
  source?: JobDocument;
  /** The next attempt of a granted retry. */
  next?: JobDocument;
}

/** Writes the outcomes of one pool's attempts. */
export class OutcomeRecorder {
  private readonly writes: WriteBatcher;

  constructor(
    private readonly pool: PoolContext,
    private readonly retry: RetryHandler,
  ) {
    this.writes = new WriteBatcher(pool.store);
  }

  /**
   * Records `outcome` for `entry`; drops it when the entry was abandoned or its lock lost.
   * True when it was recorded (and `afterFinish` hooks ran).
   */
  async record(entry: HeldAttempt, outcome: RequestedOutcome): Promise<boolean> {
    const { job } = entry;
    const { log, opts } = this.pool;
    entry.finishing = true;
    if (entry.committed) {
      // ctx.transaction wrote the completion with the job's own writes: nothing left to write.
      this.emitOutcome(entry, 'completed');
      await this.afterFinish(entry, 'completed');
      return true;
    }
    if (entry.abandoned) {
      log.warn({ jobId: job.id }, 'abandoned at close: outcome dropped');
      this.pool.emit('lock-lost', attemptInfo(this.pool.queue, job));
      return false;
    }
    const now = opts.now();
    const decision = this.decide(job, outcome.state, now);
    const { source, next } = decision;
    let state = decision.state;
    const update = statusUpdate(job, state);
    if (state === 'pending' || state === 'blocked') {
      update.releaseLock = true;
      update.dueAt = new Date(now.getTime() + (outcome.delayMs ?? 0));
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
        update: { ...statusUpdate(job, state), end: now, completed: false },
      });
    }
    if (!ok) {
      log.warn({ jobId: job.id, state }, 'lock lost before the outcome was written: dropped');
      this.pool.emit('lock-lost', attemptInfo(this.pool.queue, job));
      return false;
    }
    if (next) await this.insertNextAttempt(entry, next, now);
    this.emitOutcome(entry, state, next);
    await this.afterFinish(entry, state);
    return true;
  }

  /**
   * The state to write for the one requested. A result that cannot be stored (too large, a
   * non-storable value) fails the attempt once, keeping the stored payload; left unwritten, the
   * job would be reclaimed and run again. A retry the handler refuses fails the attempt.
   */
  private decide(job: BaseJob, requested: JobState, now: Date): Decision {
    let state = requested;
    let source: JobDocument | undefined;
    let next: JobDocument | undefined;
    if (state !== 'pending' && state !== 'blocked') {
      try {
        source = this.pool.opts.registry.toDocument(job, this.pool.queue, now);
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
    return { state, source, next };
  }

  /** Steps 2 and 3 of a hand-over; a failure is left to the retry monitor, which redoes them. */
  private async insertNextAttempt(entry: HeldAttempt, next: JobDocument, now: Date): Promise<void> {
    const old = { id: entry.token.id, modCount: entry.token.modCount + 1 };
    try {
      await handOver(this.pool.store, next, old, now);
    } catch (err) {
      this.pool.emit('error', toError(err));
      this.pool.log.warn(
        { err, jobId: old.id, nextAttemptId: next._id },
        'inserting the next attempt failed; the retry monitor will finish it',
      );
    }
  }

  private emitOutcome(entry: HeldAttempt, state: JobState, next?: JobDocument): void {
    const { job } = entry;
    const { emit } = this.pool;
    const info = attemptInfo(this.pool.queue, job);
    const durationMs = Date.now() - entry.startedAt;
    const error = job.error()?.message ?? '';
    switch (state) {
      case 'completed':
        emit('completed', { ...info, durationMs });
        break;
      case 'failed':
        emit('failed', { ...info, error, durationMs });
        break;
      case 'retrying':
        if (next) emit('retrying', { ...info, error, nextAttemptId: next._id, dueAt: next.dueAt });
        break;
      case 'aborted':
        emit('aborted', { ...info, reason: error });
        break;
      case 'expired':
        emit('expired', info);
        break;
      case 'pending':
        emit('released', info);
        break;
    }
    this.pool.log.debug({ jobId: job.id, state, durationMs }, 'job finished');
  }

  /** Runs every extension's `afterFinish` in turn; a failing hook is reported, never thrown. */
  private async afterFinish(entry: HeldAttempt, state: JobState): Promise<void> {
    await this.eachExtension(entry, 'afterFinish', (ext, ctx) => ext.afterFinish?.(ctx, state));
  }

  /** Runs every extension's `outcomeDropped` (see QueueExtension); never throws. */
  async outcomeDropped(entry: HeldAttempt): Promise<void> {
    await this.eachExtension(entry, 'outcomeDropped', (ext, ctx) => ext.outcomeDropped?.(ctx));
  }

  private async eachExtension(
    entry: HeldAttempt,
    hook: string,
    call: (ext: QueueExtension, ctx: AttemptContext) => Promise<void> | undefined,
  ): Promise<void> {
    const ctx = attemptContext(this.pool, entry);
    for (const ext of this.pool.extensions) {
      try {
        await call(ext, ctx);
      } catch (err) {
        this.pool.emit('error', toError(err));
        this.pool.log.error(
          { err, jobId: entry.job.id, extension: ext.name },
          `${hook} hook failed`,
        );
      }
    }
  }
}

/** The part of every outcome write that reports the attempt's status. */
function statusUpdate(job: BaseJob, state: JobState): JobUpdate {
  return {
    state,
    errors: job.status.errors,
    errCount: job.status.errCount,
    inProgress: false,
  };
}
