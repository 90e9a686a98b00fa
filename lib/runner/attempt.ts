/**
 * A claimed attempt as a runner pool holds it, and what the parts of a pool share about it. The
 * pool (runner-pool.ts) claims attempts and gives each a slot; the lock keeper (lock-keeper.ts) keeps
 * their locks; the executor (attempt-executor.ts) runs one and says which outcome it asks for;
 * the recorder (outcome-recorder.ts) writes that outcome with one guarded write.
 */
import type { Logger } from 'pino';
import type { JobEventInfo, QueueEventMap } from '../events';
import type { AttemptContext, QueueExtension } from '../extension';
import type { BaseJob, JobContext } from '../job/base-job';
import type { ResolvedPoolOptions } from './pool-options';
import type { JobStore, LockToken } from '../store/job-store';
import type { JobState } from '../types';

/** An attempt this pool claimed and runs. */
export interface HeldAttempt {
  readonly job: BaseJob;
  readonly token: LockToken;
  readonly controller: AbortController;
  readonly startedAt: number;
  /** Set once the outcome is being written; heartbeats no longer speak for it. */
  finishing: boolean;
  /** When our lock runs out (our clock) unless a heartbeat gets through. */
  lockExpiresAt: number;
  /** Given up by `close()`: its outcome is dropped. */
  abandoned: boolean;
  /** Set once `ctx.transaction` committed the attempt's completion (transactional-outcome.ts). */
  committed?: boolean;
  /** Settles once the run and the recording of its outcome are over. */
  done: Promise<void>;
}

/** The state an attempt asks to end in (the retry handler may refuse 'retrying'). */
export interface RequestedOutcome {
  state: JobState;
  /** For 'pending' (a release): due again after this long. */
  delayMs?: number;
}

/** Emits a queue event; never throws (a throwing listener is logged). */
export type EmitEvent = <K extends keyof QueueEventMap & string>(
  event: K,
  ...args: QueueEventMap[K]
) => void;

/**
 * Runs a job's code with its context: `job.run(ctx)` in the worker by default; the queue may
 * give one that runs it elsewhere (a sandbox, lib/sandbox/sandboxes.ts).
 */
export type RunJob = (job: BaseJob, ctx: JobContext) => Promise<unknown>;

/** What the parts of one runner pool share. */
export interface PoolContext {
  readonly store: JobStore;
  readonly queue: string;
  /** The owner name the pool claims under. */
  readonly owner: string;
  readonly opts: ResolvedPoolOptions;
  readonly extensions: readonly QueueExtension[];
  readonly emit: EmitEvent;
  /** The pool's logger (bound to its queue and owner). */
  readonly log: Logger;
  /** Runs the job's code (see RunJob). */
  readonly runJob: RunJob;
}

/** The payload of the job events about an attempt. */
export function attemptInfo(queue: string, job: BaseJob): JobEventInfo {
  return {
    queue,
    id: job.id,
    jobId: job.id,
    type: job.type.name,
    attempt: job.retryInfo.currentAttempt,
  };
}

/** The context of the extension hooks about an attempt. */
export function attemptContext(pool: PoolContext, attempt: HeldAttempt): AttemptContext {
  return { queue: pool.queue, job: attempt.job, token: attempt.token, now: pool.opts.now() };
}
