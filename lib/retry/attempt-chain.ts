/**
 * Retries: each attempt is its own document sharing `retryInfo.baseJobId`, so history is kept.
 * Moving to the next attempt is one atomic step where the store gives one (`jobHandOver`: a
 * transaction on a MongoDB server with transactions, one step in memory): the old attempt
 * becomes `retrying`, handed over, and the next attempt is inserted, or nothing changes. A crash
 * leaves nothing to repair.
 *
 * A server without transactions (a standalone mongod) gets the same result in idempotent steps:
 *   1. one write on the old attempt sets state `retrying`, names `nextAttemptId` and records in
 *      `dueAt` when the next attempt is due (the runner's write is guarded by owner + modCount;
 *      management's by modCount + state);
 *   2. the next attempt is inserted under its deterministic ID (a duplicate means done);
 *   3. the old attempt's `dueAt` is set to `HANDED_OVER_AT`: the hand-over is confirmed.
 * Step 2 can be redone from the stored old attempt alone (step 1 stored payload, errors and due
 * time), so a crash after step 1 loses nothing: the retry monitor (retry-handler.ts) lists
 * `retrying` attempts whose `dueAt` has passed (only unconfirmed ones can match) and redoes
 * steps 2 and 3. Step 3 only keeps that list short; skipping it costs one duplicate insert.
 */
import { DuplicateJobError } from '../errors';
import type { HandOverGuard, JobStore, JobUpdate, LockToken } from '../store/job-store';
import { freshStatus, HANDED_OVER_AT, type JobDocument } from '../types';
import { ATTEMPT_SEPARATOR } from '../validate';

export {
  Backoff,
  BACKOFF_BASE_MS_DEFAULT,
  BACKOFF_MAX_MS_BOUND,
  BACKOFF_MAX_MS_DEFAULT,
  clampDelayMs,
  type BackoffPolicy,
} from '../timers/backoff';

export { HANDED_OVER_AT };

/** ID of attempt `n` of a job. */
export function attemptId(baseJobId: string, attempt: number): string {
  return attempt === 0 ? baseJobId : `${baseJobId}${ATTEMPT_SEPARATOR}${attempt}`;
}

/** Identity and timing of an attempt to create. */
export interface AttemptPlan {
  baseJobId: string;
  /** Its attempt number (the old attempt's + 1). */
  attempt: number;
  dueAt: Date;
  /** Start of the first attempt of the retry window (`maxRetryTimeMs` counts from it); null
   *  starts a new window at this attempt's own start (manual retries). */
  retryStart: Date | null;
}

/** The plan of the attempt after a stored `retrying` attempt, as step 1 recorded it. */
export function planFromRetrying(old: JobDocument): AttemptPlan {
  return {
    baseJobId: old.retryInfo.baseJobId || old._id,
    attempt: old.retryInfo.currentAttempt + 1,
    dueAt: old.dueAt,
    retryStart: old.retryInfo.start ?? old.timeInfo.start,
  };
}

/**
 * The document of a new attempt: payload and settings of `source` (the old attempt, or a job the
 * caller built), identity and due time of `plan`, fresh status and times.
 */
export function nextAttemptFrom(source: JobDocument, plan: AttemptPlan, now: Date): JobDocument {
  const dueAt = plan.dueAt;
  const dispatchByMs = source.retryInfo.dispatchByMs;
  const doc: JobDocument = {
    ...structuredClone(source),
    _id: attemptId(plan.baseJobId, plan.attempt),
    state: source.dependency.type === 'always' ? 'pending' : 'blocked',
    dueAt,
  };
  doc.status = freshStatus(now);
  doc.timeInfo = {
    ...doc.timeInfo,
    created: now,
    start: null,
    end: null,
    waitUntil: dueAt,
    dispatchBy: dispatchByMs > 0 ? new Date(dueAt.getTime() + dispatchByMs) : null,
  };
  doc.retryInfo = {
    ...doc.retryInfo,
    baseJobId: plan.baseJobId,
    currentAttempt: plan.attempt,
    // A manual retry of a job that used its attempts grants one more: never "attempt 5 of 3".
    maxAttempts: Math.max(doc.retryInfo.maxAttempts, plan.attempt + 1),
    needsRetry: false,
    waitUntilMs: 0,
    start: plan.retryStart,
    end: null,
  };
  delete doc.nextAttemptId;
  delete doc.quarantine;
  delete doc.returnValue;
  return doc;
}

/** The fields step 1 adds to the old attempt's write. */
export function retryingFields(next: JobDocument): JobUpdate {
  return { state: 'retrying', needsRetry: true, nextAttemptId: next._id, dueAt: next.dueAt };
}

/**
 * Steps 2 and 3, after step 1 took effect on `old` (its modCount after step 1). Returns true when
 * this call inserted the next attempt, false when it existed already. Other failures of step 2
 * are thrown (the monitor will redo it); step 3 failing only means someone else confirmed it or
 * the attempt changed meanwhile.
 */
export async function handOver(
  store: JobStore,
  next: JobDocument,
  old: Pick<LockToken, 'id' | 'modCount'>,
  now: Date,
): Promise<boolean> {
  let inserted = true;
  try {
    await store.jobInsert([next]);
  } catch (err) {
    if (!(err instanceof DuplicateJobError)) throw err;
    inserted = false;
  }
  await store.jobTransition({
    id: old.id,
    modCount: old.modCount,
    from: ['retrying'],
    update: { dueAt: HANDED_OVER_AT },
    now,
  });
  return inserted;
}

/**
 * Moves the old attempt `guard` names to `retrying`, handed over to `next`: one atomic step where
 * the store gives one, else steps 1 to 3 (see the module comment). `update`: what the old
 * attempt's write carries besides the retry fields. Returns its modCount after the write, or
 * null when the guard matched nothing (nothing changed). An error of steps 2 and 3 (step 1 took
 * effect; the monitor redoes them) goes to `onStepError` when given, else it is thrown.
 */
export async function retryOnto(
  store: JobStore,
  guard: HandOverGuard,
  update: JobUpdate,
  next: JobDocument,
  now: Date,
  onStepError?: (err: unknown) => void,
): Promise<number | null> {
  const step1 = { ...update, ...retryingFields(next) };
  const atomic = await store.jobHandOver({
    guard,
    update: { ...step1, dueAt: HANDED_OVER_AT },
    next,
    now,
  });
  if (atomic.atomic) return atomic.modCount;
  const modCount =
    'token' in guard
      ? await store.jobWrite({ token: guard.token, update: step1, now })
      : await store.jobTransition({ ...guard, update: step1, now });
  if (modCount === null) return null;
  const id = 'token' in guard ? guard.token.id : guard.id;
  try {
    await handOver(store, next, { id, modCount }, now);
  } catch (err) {
    if (!onStepError) throw err;
    onStepError(err);
  }
  return modCount;
}
