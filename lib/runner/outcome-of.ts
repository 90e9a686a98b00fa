/**
 * How an attempt ended, mapped to the outcome it asks for. The rules, in order:
 * - its signal fired because its lock was lost: nothing is recorded (another worker owns it);
 * - it fired for a shutdown: the attempt is released for another worker;
 * - it fired for an abort by ID: `aborted`; for its max time: it failed with
 *   MaxTimeExceededError; both however `run()` ended (returning normally, throwing, or not
 *   ending within the grace);
 * - otherwise what it threw (any value) fails it, and what it returned is its result;
 * - a failed attempt asks for a retry (`retrying`; the retry handler decides) unless one of its
 *   new errors forbids it (NonRetryableError), then it ends `failed`; without new errors it
 *   ended `completed`.
 */
import { JobAbortedError, LockLostError, MaxTimeExceededError, ShutdownError } from '../errors';
import type { BaseJob } from '../job/base-job';
import type { RequestedOutcome } from './attempt';

/** How a run ended: it returned, it threw (any value), or it ignored its signal past the grace. */
export type RunEnd =
  { kind: 'returned'; value: unknown } | { kind: 'threw'; error: unknown } | { kind: 'hung' };

/** Starts a run (`job.run(ctx)`, traced or sandboxed); never rejects, whatever it does (a sync throw too). */
export function startRun(run: () => unknown): Promise<RunEnd> {
  try {
    return Promise.resolve(run()).then(
      (value): RunEnd => ({ kind: 'returned', value }),
      (error: unknown): RunEnd => ({ kind: 'threw', error }),
    );
  } catch (error) {
    return Promise.resolve({ kind: 'threw', error });
  }
}

/**
 * The state a run that ended without an abort asks for, from the errors recorded since
 * `errorsBefore` (see the module comment). Also used for attempts run by a caller.
 */
export function failureOutcome(job: BaseJob, errorsBefore: number): RequestedOutcome {
  const added = job.status.errCount - errorsBefore;
  if (added <= 0 && !job.retryInfo.needsRetry) return { state: 'completed' };
  const recent = job.status.errors.slice(-Math.max(1, Math.min(added, job.status.errors.length)));
  if (recent.some((e) => e.retryable === false)) return { state: 'failed' };
  return { state: 'retrying' };
}

/**
 * The outcome of an attempt: `end` is how its run ended, `reason` why its signal fired (if it
 * did), `errorsBefore` its error count when it started. Records errors and the result on the
 * job; undefined when the outcome is to be dropped (lock lost).
 */
export function outcomeOf(
  job: BaseJob,
  end: RunEnd,
  reason: unknown,
  errorsBefore: number,
): RequestedOutcome | undefined {
  if (reason instanceof LockLostError) return undefined;
  if (reason instanceof ShutdownError) return { state: 'pending' };
  if (reason instanceof MaxTimeExceededError) {
    job.addError(reason);
    return failureOutcome(job, errorsBefore);
  }
  if (reason !== undefined) {
    job.addError(reason instanceof JobAbortedError ? reason : new JobAbortedError(job.id));
    return { state: 'aborted' };
  }
  if (end.kind === 'threw') job.recordThrown(end.error);
  else if (end.kind === 'returned' && end.value !== undefined) {
    job.returnValue = end.value;
  }
  return failureOutcome(job, errorsBefore);
}
