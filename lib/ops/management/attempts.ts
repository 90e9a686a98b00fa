/** The per-attempt view of `Management.job()`: states, owners, errors and timings. */
import type { JobDocument } from '../../types';
import type { AttemptDetail } from './types';

function ms(from: Date | null | undefined, to: Date | null | undefined): number | null {
  return from instanceof Date && to instanceof Date ? to.getTime() - from.getTime() : null;
}

/** One attempt's view, tolerant of malformed documents (missing blocks read as null). */
export function attemptDetail(doc: JobDocument): AttemptDetail {
  const status: Partial<JobDocument['status']> = doc.status ?? {};
  const time: Partial<JobDocument['timeInfo']> = doc.timeInfo ?? {};
  const created = time.created instanceof Date ? time.created : null;
  // Only a waiting attempt's due time means anything (retry hand-overs reuse the field).
  const waiting = doc.state === 'pending' || doc.state === 'blocked';
  const dueAt = waiting && doc.dueAt instanceof Date ? doc.dueAt : null;
  const start = time.start instanceof Date ? time.start : null;
  const end = time.end instanceof Date ? time.end : null;
  // Ready from creation or its not-before time; `dueAt` is no guide once an attempt has ended.
  const waitUntil = time.waitUntil instanceof Date ? time.waitUntil : null;
  const readyAt = created && waitUntil && waitUntil > created ? waitUntil : created;
  const detail: AttemptDetail = {
    id: doc._id,
    attempt: doc.retryInfo?.currentAttempt ?? 0,
    state: doc.state,
    owner: status.owner ?? '',
    created,
    dueAt,
    start,
    end,
    waitMs: ms(readyAt, start),
    runMs: ms(start, end),
    errCount: status.errCount ?? 0,
    errors: Array.isArray(status.errors) ? status.errors : [],
    progress: status.progress ?? 0,
    abortRequested: status.abortRequested ?? false,
  };
  if (status.progressMessage !== undefined) detail.progressMessage = status.progressMessage;
  if (doc.nextAttemptId !== undefined) detail.nextAttemptId = doc.nextAttemptId;
  if (doc.quarantine !== undefined) detail.quarantine = doc.quarantine;
  return detail;
}
