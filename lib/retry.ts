/**
 * Retries: each attempt is its own document sharing `retryInfo.baseJobId`, so history is kept.
 * Moving to the next attempt takes two idempotent steps, with no transaction:
 *   1. the old attempt's guarded write sets state `retrying` and names `nextAttemptId`;
 *   2. the next attempt is inserted under that deterministic ID (a duplicate means done).
 * A crash between the steps leaves a `retrying` attempt without successor; `RetryMonitor`
 * finds those and performs step 2.
 */
import type { BaseJob } from './job';
import type { Registry } from './registry';
import type { JobDocument } from './types';
import { ATTEMPT_SEPARATOR } from './validate';
import { backoffMs } from './sleep';

/** Chooses the delay before attempt `attempt` (1 = first retry). */
export type BackoffPolicy = (attempt: number) => number;

/** Backoff policies. */
export const Backoff = {
  /** The same delay every time. */
  fixed:
    (ms: number): BackoffPolicy =>
    () =>
      ms,
  /** `baseMs * 2^(attempt-1)` capped at `maxMs`, jittered to [50%, 100%]. The seeds use 15 s base. */
  exponential:
    (baseMs = 15_000, maxMs = 3_600_000): BackoffPolicy =>
    (attempt) =>
      backoffMs(attempt - 1, baseMs, maxMs),
  /** No delay. */
  none: (): BackoffPolicy => () => 0,
} as const;

/** ID of attempt `n` of a job. */
export function attemptId(baseJobId: string, attempt: number): string {
  return attempt === 0 ? baseJobId : `${baseJobId}${ATTEMPT_SEPARATOR}${attempt}`;
}

/** Whether a finished attempt should be followed by another. */
export function wantsRetry(job: BaseJob): boolean {
  return job.retryInfo.needsRetry && job.retryInfo.retryable && !job.isLastAttempt();
}

/**
 * The document of the attempt after `job`'s: same payload and settings, fresh status and times,
 * due after the job's requested delay (`retryAfterMs`) or else the policy's.
 */
export function nextAttemptDocument(
  job: BaseJob,
  registry: Registry,
  now: Date,
  policy: BackoffPolicy,
): JobDocument {
  const base = job.baseJobId;
  const n = job.retryInfo.currentAttempt + 1;
  const delayMs = job.retryInfo.waitUntilMs > 0 ? job.retryInfo.waitUntilMs : policy(n);
  const doc = registry.toDocument(job, job.queue, now);
  const dueAt = new Date(now.getTime() + delayMs);
  doc._id = attemptId(base, n);
  doc.state = doc.dependency.type === 'always' ? 'pending' : 'blocked';
  doc.dueAt = dueAt;
  doc.status = {
    owner: '',
    completed: false,
    inProgress: false,
    modTime: now,
    modCount: 0,
    errCount: 0,
    errors: [],
    lockExpiresAt: null,
    abortRequested: false,
    progress: 0,
  };
  doc.timeInfo = {
    ...job.timeInfo,
    created: now,
    start: null,
    end: null,
    waitUntil: dueAt,
    dispatchBy:
      job.retryInfo.dispatchByMs > 0
        ? new Date(dueAt.getTime() + job.retryInfo.dispatchByMs)
        : null,
  };
  doc.retryInfo = {
    ...job.retryInfo,
    baseJobId: base,
    currentAttempt: n,
    needsRetry: false,
    waitUntilMs: 0,
    start: job.retryInfo.start ?? job.timeInfo.start,
    end: null,
  };
  delete doc.nextAttemptId;
  return doc;
}
