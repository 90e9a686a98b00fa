/**
 * Records the outcome of an attempt with one guarded write (the WriteBatcher sends the pool's
 * outcome writes of the moment together): its state, errors, payload, log and, when completed,
 * what `run()` returned. A retry asked for goes to the retry handler, with the backoff of the
 * job's type or queue: if granted, that write and the insert of the next attempt are one
 * hand-over (lib/retry/attempt-chain.ts), not batched; if refused, the attempt ends `failed`
 * with the handler's reason added to its errors. Then the outcome's event is emitted (a failed or aborted attempt
 * also logs one line at warn) and the extensions' `afterFinish` hooks run. An outcome whose lock
 * was lost is dropped.
 */
import { JobAbortedError, toError } from '../errors';
import type { AttemptContext, QueueExtension } from '../extension';
import type { BaseJob } from '../job/base-job';
import { errorSummary, lastError } from '../job/error-record';
import { encodeResult } from '../job/payload-codec';
import {
  attemptContext,
  attemptInfo,
  type HeldAttempt,
  type PoolContext,
  type RequestedOutcome,
} from './attempt';
import { nextAttemptFrom, retryOnto } from '../retry/attempt-chain';
import type { RetryHandler } from '../retry/retry-handler';
import type { JobUpdate } from '../store/job-store';
import type { JobDocument, JobState } from '../types';
import { WriteBatcher } from './write-batcher';

/** The state to write, and what the write carries besides the job's status. */
interface Decision {
  state: JobState;
  /** The payload to write: absent when unchanged since the claim, for releases and unstorable ones. */
  payload?: Record<string, unknown>;
  /** The next attempt of a granted retry. */
  next?: JobDocument;
  /** What `run()` returned, as stored (completed attempts). */
  returnValue?: unknown;
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
      // ctx.transaction wrote the completion with the job's own writes: only what run() returned
      // afterwards is left to write.
      const returnValue = await this.storeCommittedResult(entry);
      this.emitOutcome(entry, 'completed', undefined, returnValue);
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
    const { next } = decision;
    let state = decision.state;
    const update = statusUpdate(job, state);
    if (decision.returnValue !== undefined) update.returnValue = decision.returnValue;
    if (state === 'pending' || state === 'blocked') {
      update.releaseLock = true;
      update.dueAt = new Date(now.getTime() + (outcome.delayMs ?? 0));
    } else {
      update.end = now;
      update.completed = state === 'completed';
      if (decision.payload) update.payload = decision.payload;
      if (state === 'completed') update.progress = 100;
      if (state === 'completed' || state === 'failed') update.retryEnd = now;
    }
    let ok = next
      ? (await retryOnto(this.pool.store, { token: entry.token }, update, next, now, (err) =>
          this.stepsFailed(entry, next, err),
        )) !== null
      : await this.writes.write({ token: entry.token, update, now });
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
    job.state = state;
    this.emitOutcome(entry, state, next, decision.returnValue);
    await this.afterFinish(entry, state);
    return true;
  }

  /**
   * The state to write for the one requested. A payload or a result that cannot be stored (too
   * large, a non-storable value) fails the attempt once, without a retry, keeping the stored
   * payload; left unwritten, the job would be reclaimed and run again. A retry the handler
   * refuses fails the attempt.
   */
  private decide(job: BaseJob, requested: JobState, now: Date): Decision {
    const { registry, retryBackoff } = this.pool.opts;
    let state = requested;
    let source: JobDocument | undefined;
    let payload: Record<string, unknown> | undefined;
    let next: JobDocument | undefined;
    let returnValue: unknown;
    if (state !== 'pending' && state !== 'blocked') {
      try {
        // A retry needs the whole document (the next attempt is built from it); any other
        // outcome writes the payload only when run() changed it.
        if (state === 'retrying') {
          source = registry.toDocument(job, this.pool.queue, now);
          payload = source.payload;
        } else {
          payload = registry.changedPayload(job);
        }
        if (state === 'completed') returnValue = encodeResult(job.id, job.returnValue);
      } catch (err) {
        job.addError(err);
        state = 'failed';
      }
    }
    if (state === 'retrying') {
      const fallback = registry.backoffOf(job.type.name) ?? retryBackoff ?? undefined;
      const decision = this.retry.decide(job, now, fallback);
      if (!decision.retry) {
        if (decision.error) job.addError(decision.error);
        state = 'failed';
      } else if (source) {
        next = nextAttemptFrom(source, decision.plan, now);
      }
    }
    return { state, payload, next, returnValue };
  }

  /**
   * What run() returned after its transaction committed the completion, stored by one more
   * guarded write; the attempt stays completed whatever becomes of it. Returns the value stored.
   */
  private async storeCommittedResult(entry: HeldAttempt): Promise<unknown> {
    const { job } = entry;
    if (job.returnValue === undefined) return undefined;
    try {
      const returnValue = encodeResult(job.id, job.returnValue);
      const token = { ...entry.token, modCount: job.status.modCount };
      const now = this.pool.opts.now();
      if (!(await this.writes.write({ token, update: { returnValue }, now }))) {
        this.pool.log.warn({ jobId: job.id }, 'result not stored: the attempt changed meanwhile');
        return undefined;
      }
      job.status.modCount += 1;
      return returnValue;
    } catch (err) {
      this.pool.log.warn({ err, jobId: job.id }, 'result not stored (the attempt stays completed)');
      return undefined;
    }
  }

  /** Steps 2 and 3 of a hand-over failed (no transactions): the retry monitor redoes them. */
  private stepsFailed(entry: HeldAttempt, next: JobDocument, err: unknown): void {
    this.pool.emit('error', toError(err));
    this.pool.log.warn(
      { err, jobId: entry.token.id, nextAttemptId: next._id },
      'inserting the next attempt failed; the retry monitor will finish it',
    );
  }

  private emitOutcome(
    entry: HeldAttempt,
    state: JobState,
    next: JobDocument | undefined,
    returnValue: unknown,
  ): void {
    const { job } = entry;
    const { emit } = this.pool;
    const info = attemptInfo(this.pool.queue, job);
    const durationMs = Date.now() - entry.startedAt;
    const error = errorSummary(job.status.errors);
    if (state === 'failed' || state === 'retrying' || state === 'aborted') {
      this.warnEnded(job, state);
    }
    switch (state) {
      case 'completed':
        emit('completed', { ...info, durationMs, returnValue });
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

  /** The one warn line of a failed or aborted attempt: who, which attempt, what and where. */
  private warnEnded(job: BaseJob, state: JobState): void {
    const last = lastError(job.status.errors);
    this.pool.log.warn(
      {
        jobId: job.id,
        type: job.type.name,
        attempt: job.retryInfo.currentAttempt,
        maxAttempts: job.retryInfo.maxAttempts,
        state,
        error: last?.message ?? '',
        code: last?.code ?? '',
        stack: last?.stack,
      },
      state === 'aborted'
        ? `job ${job.id} aborted`
        : `job ${job.id} failed (attempt ${job.retryInfo.currentAttempt + 1} of ${job.retryInfo.maxAttempts})${state === 'retrying' ? ': will retry' : ''}: ${last?.message ?? ''}`,
    );
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
        // Most extensions have no such hook: no await (a microtask per extension) for them.
        const pending = call(ext, ctx);
        if (pending) await pending;
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

/**
 * The part of every outcome write that reports the attempt's status. Copies: a run given up
 * after its grace may still change the job while the write is on its way.
 */
function statusUpdate(job: BaseJob, state: JobState): JobUpdate {
  const update: JobUpdate = { state, inProgress: false };
  // No errors: the stored list is already empty (errors are only ever added while it runs).
  if (job.status.errCount > 0 || job.status.errors.length > 0) {
    update.errors = [...job.status.errors];
    update.errCount = job.status.errCount;
  }
  if (job.status.log) {
    update.log = [...job.status.log];
    update.logDropped = job.status.logDropped ?? 0;
  }
  return update;
}
