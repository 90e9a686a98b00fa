/**
 * A factory of job documents in any state, for the management and CLI tests: documents are built
 * by the registry from real test jobs, then their state and times are set as a worker would have.
 */
import { attemptId } from '../../lib/retry/attempt-chain';
import { defaultRegistry, type ConcurrencyKey, type JobDocument, type JobState } from '../../lib';
import { HANDED_OVER_AT } from '../../lib/types';
import { FailJob, NoopJob } from './jobs';

/** What a factory document may be given. */
export interface DocSpec {
  id: string;
  queue?: string;
  /** 'noop' (type test-noop, default) or 'fail' (type test-fail). */
  kind?: 'noop' | 'fail';
  state?: JobState;
  created?: Date;
  /** End time; set by default for finished states (to `created`). */
  end?: Date | null;
  dueAt?: Date;
  attempt?: number;
  tag?: string;
  /** Concurrency key option of the job. */
  concurrency?: ConcurrencyKey;
}

const FINISHED: JobState[] = ['retrying', 'completed', 'failed', 'aborted', 'expired'];

/** A document in the given state, as if a worker had put it there. */
export function makeDoc(spec: DocSpec): JobDocument {
  const created = spec.created ?? new Date();
  const options = { id: spec.id, concurrency: spec.concurrency };
  const job =
    spec.kind === 'fail'
      ? FailJob.create({ message: spec.tag ?? 'boom' }, options)
      : NoopJob.create({ tag: spec.tag ?? '' }, options);
  const doc = defaultRegistry.toDocument(job, spec.queue ?? 'q', created);
  const attempt = spec.attempt ?? 0;
  doc._id = attemptId(spec.id, attempt);
  doc.retryInfo.baseJobId = spec.id;
  doc.retryInfo.currentAttempt = attempt;
  doc.timeInfo.created = created;
  // A retrying attempt as a finished hand-over leaves it (lib/retry/attempt-chain.ts step 3).
  doc.dueAt = spec.dueAt ?? (spec.state === 'retrying' ? HANDED_OVER_AT : created);
  const state = spec.state ?? 'pending';
  doc.state = state;
  if (state === 'running') {
    doc.status.owner = 'some-worker';
    doc.status.inProgress = true;
    doc.status.lockExpiresAt = new Date(Date.now() + 3600_000);
    doc.status.modCount = 1;
    doc.timeInfo.start = created;
  }
  if (FINISHED.includes(state)) {
    doc.status.modCount = 2;
    doc.timeInfo.start = created;
    doc.timeInfo.end = spec.end === undefined ? created : spec.end;
    doc.status.completed = state === 'completed';
    if (state !== 'completed') {
      doc.status.errCount = 1;
      doc.status.errors = [
        { message: `${state} here`, code: 'Error', at: created, retryable: false },
      ];
    }
  } else if (spec.end !== undefined) {
    doc.timeInfo.end = spec.end;
  }
  if (state === 'quarantined') {
    doc.quarantine = { code: 'DROVER_UNKNOWN_JOB_TYPE', reason: 'no class', at: created };
    doc.timeInfo.end = spec.end ?? null;
  }
  return doc;
}

/** Days ago, as a Date. */
export function daysAgo(days: number, from = Date.now()): Date {
  return new Date(from - days * 24 * 3600_000);
}
