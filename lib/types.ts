/**
 * Shared shapes of the storage protocol: the job document, its states and the info blocks.
 * This is a leaf module: it imports nothing of ours, so every other module may depend on it.
 */

/** Every state a stored job attempt can be in. */
export const JOB_STATES = [
  'pending', // waiting to be claimed (possibly not yet due)
  'blocked', // held back by its dependency manager
  'running', // claimed; the owner holds a lock that it refreshes by heartbeat
  'retrying', // this attempt failed retryably; a later attempt carries the job on
  'completed', // finished without error
  'failed', // finished with an error, no retry left
  'aborted', // aborted on request (by ID, from any process)
  'expired', // its dispatch deadline passed before it could start
  'quarantined', // the document could not be loaded (unknown type, bad version, malformed)
] as const;
export type JobState = (typeof JOB_STATES)[number];

/** Name and version of a job class, as stored. */
export interface JobTypeInfo {
  name: string;
  version: number;
}

/** One recorded error of an attempt. */
export interface JobErrorRecord {
  message: string;
  /** Stable error code when the error is one of ours (see errors.ts), else the error's name. */
  code: string;
  at: Date;
  /** False when the error forbids another attempt (a `NonRetryableError`); true otherwise. */
  retryable: boolean;
  /** The top of the error's stack, when it was an Error (bounded, see lib/job/error-record.ts). */
  stack?: string;
}

/** One line of a job's own log (`ctx.log()`), kept with its attempt. */
export interface JobLogLine {
  at: Date;
  message: string;
}

/** Lock and progress state of a job attempt (amboy's JobStatusInfo). */
export interface JobStatus {
  /** Runner instance holding the lock; empty when nobody does. */
  owner: string;
  completed: boolean;
  inProgress: boolean;
  modTime: Date;
  /** Fencing token: every write after a claim is conditioned on owner and this count. */
  modCount: number;
  errCount: number;
  errors: JobErrorRecord[];
  /** When the current lock goes stale unless refreshed by a heartbeat. */
  lockExpiresAt: Date | null;
  /** Set by management (any process); the owner's heartbeat sees it and aborts the job. */
  abortRequested: boolean;
  /** Nonce of the claim that took the lock (tells batched claims of one owner apart). */
  claimId?: string;
  /** Nonce of the last batched guarded write (verifies which writes of a batch took effect). */
  writeId?: string;
  /** Times this attempt's lock went stale and it was reclaimed (a crashed or stalled worker). */
  lockLosses?: number;
  /** Last reported progress, 0..100. */
  progress: number;
  progressMessage?: string;
  /** The attempt's own log (`ctx.log()`): the last lines, bounded; stored with its outcome. */
  log?: JobLogLine[];
  /** Lines `ctx.log()` wrote that were dropped to keep `log` bounded. */
  logDropped?: number;
}

/** Time information of an attempt (amboy's JobTimeInfo). Durations are in milliseconds. */
export interface JobTimeInfo {
  created: Date;
  start: Date | null;
  end: Date | null;
  /** Not dispatched before this time. */
  waitUntil: Date | null;
  /** Not dispatched after this time: it expires instead (recorded, never deleted). */
  dispatchBy: Date | null;
  /** A run longer than this is aborted through its signal and recorded as an error; 0 = unlimited. */
  maxTimeMs: number;
}

/** Retry information (amboy's JobRetryInfo). Relative delays are in milliseconds. */
export interface JobRetryInfo {
  retryable: boolean;
  needsRetry: boolean;
  /** ID shared by every attempt of one job; the first attempt's ID. */
  baseJobId: string;
  /** 0 for the first attempt. */
  currentAttempt: number;
  maxAttempts: number;
  /** Delay before the next attempt may start, requested by the job (e.g. a throttling answer). */
  waitUntilMs: number;
  /** Deadline of the next attempt relative to its creation; 0 = none. */
  dispatchByMs: number;
  start: Date | null;
  end: Date | null;
  /** The job's own backoff between attempts (the `backoff` job option); absent: its type's or queue's. */
  backoff?: BackoffSpec;
}

/**
 * A backoff policy as it is stored with a job: a fixed delay, or `baseMs * 2^(n-1)` capped at
 * `maxMs` and (unless `jitter` is false) jittered to [50%, 100%], or none.
 */
export type BackoffSpec =
  | { kind: 'fixed'; delayMs: number }
  | { kind: 'exponential'; baseMs: number; maxMs: number; jitter: boolean }
  | { kind: 'none' };

/** Dependency as stored with the job; interpreted by the dependency managers. */
export interface StoredDependency {
  type: string;
  /** IDs of jobs that must finish first. */
  edges: string[];
  /** Manager-specific settings (file paths, check name...). */
  options: Record<string, unknown>;
  /** When an edge fails: 'fail' the dependent (default) or 'run' it anyway. */
  onEdgeFailure: 'fail' | 'run';
}

/** Largest `limit` of a concurrency key. */
export const CONCURRENCY_LIMIT_MAX = 1000;

/**
 * A concurrency key: at most `limit` jobs holding the same `key` run at the same time in one
 * queue, across all processes (see lib/scopes/concurrency-keys.ts). A dispatch scope is a key of limit 1.
 */
export interface ConcurrencyKey {
  /** Named like a scope: 1-256 characters, not starting with `$`, no NUL. */
  key: string;
  /** An integer in 1..CONCURRENCY_LIMIT_MAX. */
  limit: number;
}

/** The stored document of one job attempt. */
export interface JobDocument {
  /** Attempt ID: the job ID for attempt 0, `${baseJobId}#${n}` for attempt n. */
  _id: string;
  queue: string;
  type: JobTypeInfo;
  state: JobState;
  priority: number;
  /** When the attempt may be claimed: max(created, waitUntil, retry delay). Claims sort on it. */
  dueAt: Date;
  payload: Record<string, unknown>;
  status: JobStatus;
  timeInfo: JobTimeInfo;
  retryInfo: JobRetryInfo;
  /** Dispatch scopes: taken at claim, released at finish. */
  scopes: string[];
  /** Enqueue scopes: taken at put, held across retries, released when the job finishes. */
  enqueueScopes: string[];
  /** Concurrency key taken at claim with the dispatch scopes; absent on most jobs. */
  concurrencyKey?: ConcurrencyKey;
  dependency: StoredDependency;
  /** Why the document was quarantined, when it was. */
  quarantine?: { code: string; reason: string; at: Date };
  /** ID of the next attempt once it exists (set by the retry steps). */
  nextAttemptId?: string;
  /** Trace context of the put that created the job, when OpenTelemetry tracing is on. */
  traceContext?: TraceContext;
  /** What `run()` returned, for a completed attempt (see `BaseJob.returnValue`). */
  returnValue?: unknown;
}

/**
 * A W3C trace context (https://www.w3.org/TR/trace-context/) stored with a job: the put's span,
 * which every attempt's span links to, in any process.
 */
export interface TraceContext {
  /** `00-<trace ID>-<span ID>-<flags>`. */
  traceparent: string;
  tracestate?: string;
}

/**
 * Counts of one queue's jobs by state, as returned by `stats()`: each job counts once, by its
 * current attempt (see `isCurrentAttempt`); the attempts it left behind are its history.
 */
export interface QueueStats {
  queue: string;
  /** Jobs (not attempt documents). */
  total: number;
  pending: number;
  /** Pending and due now (claimable). */
  due: number;
  blocked: number;
  running: number;
  retrying: number;
  completed: number;
  failed: number;
  aborted: number;
  expired: number;
  quarantined: number;
}

/** Counts of a queue with nothing in it. */
export function emptyQueueStats(queue: string): QueueStats {
  return {
    queue,
    total: 0,
    pending: 0,
    due: 0,
    blocked: 0,
    running: 0,
    retrying: 0,
    completed: 0,
    failed: 0,
    aborted: 0,
    expired: 0,
    quarantined: 0,
  };
}

/** The status of an attempt nobody has claimed yet. */
export function freshStatus(now: Date): JobStatus {
  return {
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
}

/**
 * `dueAt` of a `retrying` attempt whose next attempt is known to exist (the retry hand-over's
 * last step); any other `dueAt` on a `retrying` attempt marks a hand-over still to finish.
 */
export const HANDED_OVER_AT = new Date('9999-12-31T00:00:00.000Z');

/**
 * Whether `doc` is its job's current attempt, the one that counts the job: every attempt is,
 * except one whose successor is known to exist (a retry handed over, or a rerun of a completed
 * job that named its next attempt). A `retrying` attempt whose hand-over is unfinished still
 * counts: the job is between attempts. The stores' per-job counts use this rule (MongoDB's
 * filter is `currentAttemptFilter` in lib/store/mongo/job-filters.ts).
 */
export function isCurrentAttempt(
  doc: Pick<JobDocument, 'state' | 'dueAt' | 'nextAttemptId'>,
): boolean {
  if (doc.nextAttemptId === undefined) return true;
  return (
    doc.state === 'retrying' &&
    !(doc.dueAt instanceof Date && doc.dueAt.getTime() === HANDED_OVER_AT.getTime())
  );
}
