/**
 * The state machine of a job attempt, in one place: which states are finished, live, final or
 * claimable, and every transition with who makes it and its guard. The stores check each
 * guarded transition against this table; the runner, the retry handler, management, the
 * dashboard and the features read their state sets from here instead of listing states again.
 */
import { JOB_STATES, type JobState } from './types';

export { JOB_STATES, type JobState };

/** The only state a runner claims from (when due and its lock is free or stale). */
export const CLAIMABLE_STATE = 'pending' satisfies JobState;

/** States of an attempt with work still to do: a queue's backlog. */
export const LIVE_STATES: readonly JobState[] = ['pending', 'blocked', 'running'];

/** States that end an attempt: nothing writes to such a document again but management. */
export const FINISHED_STATES: readonly JobState[] = [
  'retrying',
  'completed',
  'failed',
  'aborted',
  'expired',
  'quarantined',
];

/**
 * States that end a job for good: no attempt follows. `retrying` is finished but not final,
 * since a later attempt carries the job on (and keeps its enqueue scopes).
 */
export const FINAL_STATES: readonly JobState[] = [
  'completed',
  'failed',
  'aborted',
  'expired',
  'quarantined',
];

/** Final states other than success. */
export const UNSUCCESSFUL_STATES: readonly JobState[] = FINAL_STATES.filter(
  (s) => s !== 'completed',
);

/** Final states from which a manual retry starts a new attempt (quarantine is requeued instead). */
export const MANUALLY_RETRYABLE_STATES: readonly JobState[] = ['failed', 'aborted', 'expired'];

/**
 * Finished states whose documents always carry an end time: every move to one sets
 * `timeInfo.end` (the stores add it when the write does not, see `endOfWrite`). Quarantine is
 * left out: it may meet a document whose `timeInfo` is not an object.
 */
export const END_TIMED_STATES: readonly JobState[] = FINISHED_STATES.filter(
  (s) => s !== 'quarantined',
);

/** True when the attempt has ended (see {@link FINISHED_STATES}). */
export function isFinished(state: JobState): boolean {
  return FINISHED_STATES.includes(state);
}

/** True when the job has ended for good (see {@link FINAL_STATES}). */
export function isFinal(state: JobState): boolean {
  return FINAL_STATES.includes(state);
}

/** True when the attempt still has work to do (see {@link LIVE_STATES}). */
export function isLive(state: JobState): boolean {
  return LIVE_STATES.includes(state);
}

/** One allowed move of an attempt, who makes it, and the guard of its write. */
export interface Transition {
  from: JobState;
  to: JobState;
  by: string;
  guard: string;
}

const OWNER = 'owner + modCount (the fencing token)';
const MODCOUNT = 'modCount + the from state';

/** Every transition an attempt can take. A write outside this table is a programming error. */
export const TRANSITIONS: readonly Transition[] = [
  { from: 'pending', to: 'running', by: 'runner claim', guard: 'due, unlocked or lock stale' },
  { from: 'running', to: 'running', by: 'runner reclaim', guard: 'lock expired (server time)' },
  { from: 'pending', to: 'quarantined', by: 'malformed-document probe', guard: MODCOUNT },
  { from: 'running', to: 'quarantined', by: 'runner load', guard: OWNER },
  { from: 'pending', to: 'aborted', by: 'abort by ID', guard: MODCOUNT },
  { from: 'blocked', to: 'aborted', by: 'abort by ID', guard: MODCOUNT },
  { from: 'pending', to: 'pending', by: 'retry now / reschedule', guard: MODCOUNT },
  { from: 'blocked', to: 'pending', by: 'dependency ready', guard: MODCOUNT },
  { from: 'blocked', to: 'completed', by: 'dependency passed', guard: MODCOUNT },
  { from: 'blocked', to: 'failed', by: 'dependency unresolved', guard: MODCOUNT },
  { from: 'blocked', to: 'expired', by: 'dispatch deadline', guard: MODCOUNT },
  { from: 'running', to: 'completed', by: 'outcome recorder', guard: OWNER },
  { from: 'running', to: 'failed', by: 'outcome recorder / lock losses', guard: OWNER },
  { from: 'running', to: 'aborted', by: 'outcome recorder', guard: OWNER },
  { from: 'running', to: 'expired', by: 'outcome recorder', guard: OWNER },
  { from: 'running', to: 'retrying', by: 'outcome recorder', guard: OWNER },
  { from: 'running', to: 'pending', by: 'release (scope busy, hook wait, drain)', guard: OWNER },
  { from: 'running', to: 'blocked', by: 'release (dependency not ready)', guard: OWNER },
  { from: 'retrying', to: 'retrying', by: 'hand-over confirmed', guard: MODCOUNT },
  { from: 'failed', to: 'retrying', by: 'manual retry', guard: MODCOUNT },
  { from: 'aborted', to: 'retrying', by: 'manual retry', guard: MODCOUNT },
  { from: 'expired', to: 'retrying', by: 'manual retry', guard: MODCOUNT },
  {
    from: 'completed',
    to: 'completed',
    by: 'manual rerun (names the next attempt)',
    guard: MODCOUNT,
  },
  { from: 'quarantined', to: 'pending', by: 'requeue', guard: MODCOUNT },
  { from: 'pending', to: 'completed', by: 'mark complete', guard: MODCOUNT },
  { from: 'blocked', to: 'completed', by: 'mark complete', guard: MODCOUNT },
  { from: 'failed', to: 'completed', by: 'mark complete', guard: MODCOUNT },
];

const ALLOWED = new Set(TRANSITIONS.map((t) => `${t.from}>${t.to}`));

/** True when the table allows `from` -> `to`. */
export function canTransition(from: JobState, to: JobState): boolean {
  return ALLOWED.has(`${from}>${to}`);
}

/** The first of `from` that may not move to `to`, or undefined when all may. */
export function disallowedFrom(from: readonly JobState[], to: JobState): JobState | undefined {
  return from.find((f) => !canTransition(f, to));
}
