/**
 * The actions of the management API on one job. Each resolves the job's newest attempt, checks
 * its state, and changes it with guarded conditional writes (modCount + state), so an action
 * racing a worker or another operator changes nothing it did not mean to and says so.
 *
 * Semantics (a job is all attempts sharing a base ID; actions act on the newest attempt):
 * - retry: `RetryHandler.retryNow`: a failed, aborted or expired job gets a new attempt `#n+1`
 *   due now (the old one becomes `retrying`); a pending attempt waiting on its backoff or
 *   `waitUntil` becomes due now; a half-done hand-over is finished.
 * - requeue: any finished job runs again. Failed, aborted and expired ones as by retry; a
 *   completed one gets a new attempt `#n+1` due now and stays `completed`; a quarantined one goes
 *   back to pending in place (it never ran: deploy its class first). History is kept.
 * - complete: a pending, blocked or failed job is marked completed.
 * - delete: every attempt of the job; a running job only with `force` (its worker then loses
 *   the lock at its next heartbeat and aborts the run).
 *
 * Complete and delete (and `Management.abort` of a job not yet running) end jobs without any
 * queue extension running, so they give back the job's scope locks themselves (see locks.ts):
 * a singleton completed or deleted by an operator can be put again at once. A force-deleted
 * running job frees its dispatch scopes and slots at once: its run, aborted at its next
 * heartbeat, may overlap the next holder's by that long.
 */
import { DuplicateJobError, JobNotFoundError, JobStateError, StoreError } from '../../errors';
import { nextAttemptFrom } from '../../retry/attempt-chain';
import type { RetryHandler } from '../../retry/retry-handler';
import type { JobStore } from '../../store/job-store';
import { JOB_STATES, type JobDocument, type JobState } from '../../types';
import type { JobLocks } from './locks';
import type { ActionResult, JobAction } from './types';

/** The newest attempt of the job that `id` (a job ID or an attempt ID) names. */
export async function newestAttempt(store: JobStore, id: string): Promise<JobDocument | null> {
  if (!id.includes('#')) return store.jobGetLatest(id);
  const doc = await store.jobGet(id);
  if (!doc) return null;
  return (await store.jobGetLatest(doc.retryInfo?.baseJobId ?? doc._id)) ?? doc;
}

/** Gives back the locks of the attempts an action ended; adds the count to its report. */
export async function releaseLocks(
  locks: JobLocks | undefined,
  doc: JobDocument,
  attemptIds: string[],
  result: ActionResult,
): Promise<ActionResult> {
  if (!locks || attemptIds.length === 0) return result;
  const baseJobId = doc.retryInfo?.baseJobId ?? doc._id;
  const n = await locks.release({ queue: doc.queue, baseJobId, attemptIds });
  return n > 0 ? { ...result, locksReleased: n } : result;
}

/** Builds the report of an action. */
export function report(
  action: JobAction,
  id: string,
  outcome: ActionResult['outcome'],
  more: Partial<ActionResult> = {},
): ActionResult {
  return { action, id, outcome, changed: 0, ids: [], ...more };
}

function refused(action: JobAction, id: string, doc: JobDocument, allowed: string): ActionResult {
  return report(action, id, 'refused', {
    state: doc.state,
    reason: `job ${doc._id} is ${doc.state}; ${action} applies to ${allowed} jobs`,
  });
}

const conflict = (action: JobAction, id: string, doc: JobDocument) =>
  report(action, id, 'conflict', { reason: `job ${doc._id} changed meanwhile; try again` });

/** Takes and gives back what a new attempt holds (its enqueue scopes), as a put would. */
export interface Reservation {
  reserve(doc: JobDocument): Promise<void>;
  unreserve(doc: JobDocument): Promise<void>;
}

/** Runs a job again now through the retry handler; reports what changed. */
export async function retryJob(
  retry: RetryHandler,
  id: string,
  now: Date,
  action: JobAction = 'retry',
  reservation?: Reservation,
): Promise<ActionResult> {
  const store = retry.store;
  const before = await newestAttempt(store, id);
  if (!before) return report(action, id, 'not-found');
  let runs: string;
  try {
    runs = await retry.retryNow({
      queue: before.queue,
      id,
      now,
      reserve: reservation && ((d) => reservation.reserve(d)),
      unreserve: reservation && ((d) => reservation.unreserve(d)),
    });
  } catch (err) {
    if (err instanceof JobNotFoundError) return report(action, id, 'not-found');
    if (err instanceof JobStateError) {
      return report(action, id, 'refused', { state: err.state as JobState, reason: err.message });
    }
    if (err instanceof StoreError) return report(action, id, 'conflict', { reason: err.message });
    throw err;
  }
  const after = await store.jobGet(runs);
  const state = after?.state;
  if (runs !== before._id) {
    return report(action, id, 'done', { changed: 2, ids: [before._id, runs], state });
  }
  if (before.state === 'pending' && before.dueAt > now) {
    return report(action, id, 'done', { changed: 1, ids: [runs], state });
  }
  return report(action, id, 'unchanged', {
    state,
    reason: `job ${runs} is already ${state ?? 'gone'} and due`,
  });
}

/**
 * A new attempt of a completed job: the old attempt names its successor (guarded by modCount +
 * state; it stays completed) and the successor is inserted under its deterministic ID, in one
 * step where the store gives one (`jobHandOver`). Elsewhere these are two idempotent steps, and
 * running the action again after a crash between them redoes the second.
 */
async function rerunCompleted(
  store: JobStore,
  id: string,
  doc: JobDocument,
  now: Date,
  reservation?: Reservation,
): Promise<ActionResult> {
  const base = doc.retryInfo.baseJobId || doc._id;
  const plan = { baseJobId: base, attempt: doc.retryInfo.currentAttempt + 1, dueAt: now };
  const next = nextAttemptFrom(doc, { ...plan, retryStart: null }, now);
  await reservation?.reserve(next);
  const guard = { id: doc._id, modCount: doc.status.modCount, from: ['completed' as const] };
  const update = { nextAttemptId: next._id };
  let inserted: boolean;
  try {
    const atomic = await store.jobHandOver({ guard, update, next, now });
    if (atomic.atomic) {
      inserted = atomic.inserted;
      if (atomic.modCount === null) {
        await reservation?.unreserve(next);
        return conflict('requeue', id, doc);
      }
    } else {
      if ((await store.jobTransition({ ...guard, update, now })) === null) {
        await reservation?.unreserve(next);
        return conflict('requeue', id, doc);
      }
      inserted = await store.jobInsert([next]).then(
        () => true,
        (err: unknown) => {
          if (err instanceof DuplicateJobError) return false;
          throw err;
        },
      );
    }
  } catch (err) {
    await reservation?.unreserve(next);
    throw err;
  }
  if (!inserted) {
    await reservation?.unreserve(next);
    return report('requeue', id, 'done', { changed: 1, ids: [doc._id], state: doc.state });
  }
  return report('requeue', id, 'done', {
    changed: 2,
    ids: [doc._id, next._id],
    state: next.state,
  });
}

/** Runs a finished job again (see the module comment). */
export async function requeueJob(
  retry: RetryHandler,
  id: string,
  now: Date,
  reservation?: Reservation,
): Promise<ActionResult> {
  const store = retry.store;
  const doc = await newestAttempt(store, id);
  if (!doc) return report('requeue', id, 'not-found');
  switch (doc.state) {
    case 'failed':
    case 'aborted':
    case 'expired':
      return retryJob(retry, id, now, 'requeue', reservation);
    case 'completed':
      return rerunCompleted(store, id, doc, now, reservation);
    case 'quarantined':
      break;
    default:
      return refused('requeue', id, doc, 'finished');
  }
  if (typeof doc.status?.modCount !== 'number' || typeof doc.timeInfo !== 'object') {
    return report('requeue', id, 'refused', {
      state: doc.state,
      reason: `job ${doc._id} is malformed; fix or delete it`,
    });
  }
  const ok = await store.jobTransition({
    id: doc._id,
    modCount: doc.status.modCount,
    from: ['quarantined'],
    update: { state: 'pending', dueAt: now, releaseLock: true, inProgress: false },
    now,
  });
  if (ok === null) return conflict('requeue', id, doc);
  return report('requeue', id, 'done', { changed: 1, ids: [doc._id], state: 'pending' });
}

/** Marks a pending, blocked or failed job completed, and gives back its scope locks. */
export async function completeJob(
  store: JobStore,
  id: string,
  now: Date,
  locks?: JobLocks,
): Promise<ActionResult> {
  const doc = await newestAttempt(store, id);
  if (!doc) return report('complete', id, 'not-found');
  const from: JobState[] = ['pending', 'blocked', 'failed'];
  if (!from.includes(doc.state)) return refused('complete', id, doc, 'pending, blocked or failed');
  const ok = await store.jobTransition({
    id: doc._id,
    modCount: doc.status.modCount,
    from: [doc.state],
    update: {
      state: 'completed',
      completed: true,
      inProgress: false,
      end: now,
      progress: 100,
      progressMessage: 'marked complete by management',
      releaseLock: doc.state !== 'failed',
    },
    now,
  });
  if (ok === null) return conflict('complete', id, doc);
  const done = report('complete', id, 'done', { changed: 1, ids: [doc._id], state: 'completed' });
  return releaseLocks(locks, doc, [doc._id], done);
}

/** Deletes every attempt of a job (a running one only with `force`) and its scope locks. */
export async function deleteJob(
  store: JobStore,
  id: string,
  force: boolean,
  locks?: JobLocks,
): Promise<ActionResult> {
  const latest = await newestAttempt(store, id);
  if (!latest) return report('delete', id, 'not-found');
  const base = latest.retryInfo?.baseJobId ?? latest._id;
  const attempts = await store.jobAttempts(base);
  if (!attempts.some((a) => a._id === latest._id)) attempts.push(latest);
  const running = attempts.filter((a) => a.state === 'running');
  if (running.length > 0 && !force) {
    return report('delete', id, 'refused', {
      state: 'running',
      reason: `job ${running[0]._id} is running; abort it first or delete with force`,
    });
  }
  const from = force ? [...JOB_STATES] : JOB_STATES.filter((s) => s !== 'running');
  // The newest attempt first: it is the only one a worker may still write to.
  const order = [latest, ...attempts.filter((a) => a._id !== latest._id).reverse()];
  const ids: string[] = [];
  for (const a of order) {
    const ok = await store.jobDelete({ id: a._id, modCount: a.status?.modCount, from });
    if (ok) ids.push(a._id);
    else if (a === latest) return conflict('delete', id, latest);
  }
  return releaseLocks(
    locks,
    latest,
    ids,
    report('delete', id, 'done', { changed: ids.length, ids }),
  );
}
