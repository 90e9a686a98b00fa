/**
 * Typed errors with stable codes. Callers branch on `instanceof` or `code`, never on message text.
 */

/** Stable codes of every error drover raises. */
export const ErrorCode = {
  Invalid: 'DROVER_INVALID',
  DuplicateJob: 'DROVER_DUPLICATE_JOB',
  DuplicateJobScope: 'DROVER_DUPLICATE_JOB_SCOPE',
  UnknownJobType: 'DROVER_UNKNOWN_JOB_TYPE',
  JobVersion: 'DROVER_JOB_VERSION',
  MalformedJob: 'DROVER_MALFORMED_JOB',
  PayloadTooLarge: 'DROVER_PAYLOAD_TOO_LARGE',
  JobNotFound: 'DROVER_JOB_NOT_FOUND',
  LockLost: 'DROVER_LOCK_LOST',
  Aborted: 'DROVER_ABORTED',
  MaxTimeExceeded: 'DROVER_MAX_TIME_EXCEEDED',
  DispatchExpired: 'DROVER_DISPATCH_EXPIRED',
  Retryable: 'DROVER_RETRYABLE',
  Shutdown: 'DROVER_SHUTDOWN',
  QueueClosed: 'DROVER_QUEUE_CLOSED',
  DependencyFailed: 'DROVER_DEPENDENCY_FAILED',
  DependencyCycle: 'DROVER_DEPENDENCY_CYCLE',
  Store: 'DROVER_STORE',
  WaitTimeout: 'DROVER_WAIT_TIMEOUT',
  Connect: 'DROVER_CONNECT',
  RetriesExhausted: 'DROVER_RETRIES_EXHAUSTED',
  JobState: 'DROVER_JOB_STATE',
  HookWait: 'DROVER_HOOK_WAIT',
  CommandFailed: 'DROVER_COMMAND_FAILED',
  SandboxCrashed: 'DROVER_SANDBOX_CRASHED',
  SandboxOutOfMemory: 'DROVER_SANDBOX_OUT_OF_MEMORY',
  TransactionsUnsupported: 'DROVER_TRANSACTIONS_UNSUPPORTED',
  NonRetryable: 'DROVER_NON_RETRYABLE',
  UnstorableResult: 'DROVER_UNSTORABLE_RESULT',
  QueueOptionsConflict: 'DROVER_QUEUE_OPTIONS_CONFLICT',
  QueueNotFound: 'DROVER_QUEUE_NOT_FOUND',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Context that an error may carry. */
export interface DroverErrorContext {
  jobId?: string;
  queue?: string;
  cause?: unknown;
}

/** Base of every drover error. */
export class DroverError extends Error {
  readonly code: ErrorCode;
  readonly jobId?: string;
  readonly queue?: string;

  constructor(code: ErrorCode, message: string, context: DroverErrorContext = {}) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.name = new.target.name;
    this.code = code;
    this.jobId = context.jobId;
    this.queue = context.queue;
  }
}

/** An argument (ID, queue name, option, payload) is not acceptable. Nothing was written. */
export class InvalidArgumentError extends DroverError {
  constructor(message: string, context?: DroverErrorContext) {
    super(ErrorCode.Invalid, message, context);
  }
}

/**
 * A value of a job's payload cannot be stored and read back as it is (a RegExp, an Error, a
 * Buffer, a sparse array, a class instance without `@Type`...). `path` names the field, e.g.
 * `order.lines[2].price`. Nothing was written.
 */
export class PayloadValueError extends InvalidArgumentError {
  readonly path: string;
  constructor(jobId: string, path: string, what: string) {
    super(`job ${jobId}: payload field ${path} is ${what}`, { jobId });
    this.path = path;
  }
}

/** A job with this ID already exists. In `putMany`, `duplicates` lists every colliding ID. */
export class DuplicateJobError extends DroverError {
  readonly duplicates: string[];
  constructor(jobId: string, queue?: string, duplicates: string[] = [jobId]) {
    const more = duplicates.length > 1 ? ` (and ${duplicates.length - 1} more)` : '';
    super(ErrorCode.DuplicateJob, `job ${jobId} already exists${more}`, { jobId, queue });
    this.duplicates = duplicates;
  }
}

/** An enqueue scope of the job is held by another job (singleton jobs). */
export class DuplicateJobScopeError extends DroverError {
  readonly scope: string;
  readonly holder?: string;
  constructor(jobId: string, scope: string, holder?: string, queue?: string) {
    super(
      ErrorCode.DuplicateJobScope,
      `job ${jobId}: scope "${scope}" is held by ${holder ?? 'another job'}`,
      { jobId, queue },
    );
    this.scope = scope;
    this.holder = holder;
  }
}

/** A stored job names a type that no registered class has. The document is quarantined. */
export class UnknownJobTypeError extends DroverError {
  readonly typeName: string;
  constructor(typeName: string, jobId?: string) {
    super(ErrorCode.UnknownJobType, `unknown job type "${typeName}"`, { jobId });
    this.typeName = typeName;
  }
}

/** A stored job's version cannot be brought to the class's version. The document is quarantined. */
export class JobVersionError extends DroverError {
  constructor(typeName: string, stored: number, current: number, jobId?: string) {
    super(
      ErrorCode.JobVersion,
      `job type "${typeName}": stored version ${stored} cannot be upgraded to ${current}`,
      { jobId },
    );
  }
}

/** A stored document lacks fields or has fields of the wrong type. It is quarantined. */
export class MalformedJobError extends DroverError {
  constructor(message: string, jobId?: string) {
    super(ErrorCode.MalformedJob, message, { jobId });
  }
}

/** A serialized job exceeds the size limit. Nothing was written. */
export class PayloadTooLargeError extends DroverError {
  readonly bytes: number;
  readonly limit: number;
  constructor(jobId: string, bytes: number, limit: number) {
    super(ErrorCode.PayloadTooLarge, `job ${jobId} is ${bytes} bytes; the limit is ${limit}`, {
      jobId,
    });
    this.bytes = bytes;
    this.limit = limit;
  }
}

/** No job has this ID. */
export class JobNotFoundError extends DroverError {
  constructor(jobId: string, queue?: string) {
    super(ErrorCode.JobNotFound, `job ${jobId} not found`, { jobId, queue });
  }
}

/** A conditional write matched nothing: another worker owns the job now. The result is dropped. */
export class LockLostError extends DroverError {
  constructor(jobId: string, owner: string) {
    super(ErrorCode.LockLost, `job ${jobId}: lock of ${owner} was lost`, { jobId });
  }
}

/** The job was aborted on request. */
export class JobAbortedError extends DroverError {
  constructor(jobId: string, why = 'abort requested') {
    super(ErrorCode.Aborted, `job ${jobId} aborted: ${why}`, { jobId });
  }
}

/** The job ran longer than its `maxTimeMs`. */
export class MaxTimeExceededError extends DroverError {
  constructor(jobId: string, maxTimeMs: number) {
    super(ErrorCode.MaxTimeExceeded, `job ${jobId} exceeded its max time of ${maxTimeMs} ms`, {
      jobId,
    });
  }
}

/** The job's dispatch deadline passed before a worker could start it. */
export class DispatchExpiredError extends DroverError {
  constructor(jobId: string, dispatchBy: Date) {
    super(
      ErrorCode.DispatchExpired,
      `job ${jobId} missed its dispatch deadline ${dispatchBy.toISOString()}`,
      { jobId },
    );
  }
}

/** Thrown by a job to ask for another attempt, optionally after a delay (throttling). */
export class RetryableError extends DroverError {
  readonly retryAfterMs?: number;
  constructor(message: string, options: { retryAfterMs?: number; cause?: unknown } = {}) {
    super(ErrorCode.Retryable, message, { cause: options.cause });
    this.retryAfterMs = options.retryAfterMs;
  }
}

/**
 * Thrown by a job (or given to `addError`) to end it at once: no further attempt, whatever its
 * `maxAttempts`. Any other error is retried while attempts remain. An error of another class
 * with an own property `retryable: false` counts the same.
 */
export class NonRetryableError extends DroverError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(ErrorCode.NonRetryable, message, { cause: options.cause });
  }
}

/**
 * What `run()` returned cannot be stored with the attempt: too large (`bytes` over `limit`) or
 * not a storable value (`path` names where). The attempt fails, without a retry.
 */
export class UnstorableResultError extends DroverError {
  readonly path?: string;
  readonly bytes?: number;
  readonly limit?: number;
  constructor(
    jobId: string,
    what: { path: string; reason: string } | { bytes: number; limit: number },
  ) {
    super(
      ErrorCode.UnstorableResult,
      'bytes' in what
        ? `job ${jobId}: its result is ${what.bytes} bytes; the limit is ${what.limit}`
        : `job ${jobId}: its result ${what.path} is ${what.reason}`,
      { jobId },
    );
    if ('bytes' in what) {
      this.bytes = what.bytes;
      this.limit = what.limit;
    } else {
      this.path = what.path;
    }
  }
}

/**
 * `group.get(name, options)` found the queue open with other values of `option`: a queue has
 * one set of options per process. Close it first, or ask without options.
 */
export class QueueOptionsConflictError extends DroverError {
  readonly option: string;
  constructor(queue: string, option: string, open: string, asked: string) {
    super(
      ErrorCode.QueueOptionsConflict,
      `queue ${queue} is open with ${option} ${open}; asked for ${asked}`,
      { queue },
    );
    this.option = option;
  }
}

/** No queue of this name exists: it has no record and no jobs (a typo?). Nothing was written. */
export class QueueNotFoundError extends DroverError {
  constructor(queue: string) {
    super(ErrorCode.QueueNotFound, `queue ${queue} does not exist`, { queue });
  }
}

/** The runner is shutting down; the job is released for another worker. */
export class ShutdownError extends DroverError {
  constructor(jobId: string) {
    super(ErrorCode.Shutdown, `job ${jobId} released: runner shutting down`, { jobId });
  }
}

/** The queue was closed. */
export class QueueClosedError extends DroverError {
  constructor(queue: string) {
    super(ErrorCode.QueueClosed, `queue ${queue} is closed`, { queue });
  }
}

/** A job this one depends on ended without completing (or does not exist: `edgeState` 'missing'). */
export class DependencyFailedError extends DroverError {
  readonly edge: string;
  readonly edgeState: string;
  constructor(jobId: string, edge: string, edgeState: string) {
    super(
      ErrorCode.DependencyFailed,
      edgeState === 'missing'
        ? `dependency ${edge} of job ${jobId} does not exist`
        : `dependency ${edge} of job ${jobId} ended ${edgeState}`,
      { jobId },
    );
    this.edge = edge;
    this.edgeState = edgeState;
  }
}

/** A job's dependency can never be satisfied for a reason other than an edge (a check, a file). */
export class DependencyUnresolvedError extends DroverError {
  constructor(jobId: string, reason: string) {
    super(ErrorCode.DependencyFailed, `dependency of job ${jobId} unresolved: ${reason}`, {
      jobId,
    });
  }
}

/** Putting the job would create a dependency cycle. */
export class DependencyCycleError extends DroverError {
  constructor(jobId: string, path: string[]) {
    super(ErrorCode.DependencyCycle, `dependency cycle: ${path.join(' -> ')}`, { jobId });
  }
}

/** A wait for a job to finish timed out; the job is unaffected. */
export class WaitTimeoutError extends DroverError {
  constructor(jobId: string, timeoutMs: number) {
    super(ErrorCode.WaitTimeout, `job ${jobId} did not finish within ${timeoutMs} ms`, { jobId });
  }
}

/** The database could not be reached (after the retries asked for). */
export class ConnectError extends DroverError {
  readonly attempts: number;
  constructor(server: string, attempts: number, cause: Error) {
    const tries = attempts > 1 ? ` after ${attempts} attempts` : '';
    super(ErrorCode.Connect, `cannot connect to MongoDB at ${server}${tries}: ${cause.message}`, {
      cause,
    });
    this.attempts = attempts;
  }
}

/** The database failed in a way we could not map to a more precise error. */
export class StoreError extends DroverError {
  constructor(message: string, cause?: unknown) {
    super(ErrorCode.Store, message, { cause });
  }
}

/** The retry handler refused another attempt: out of attempts, or past the retry time. */
export class RetriesExhaustedError extends DroverError {
  readonly reason: 'attempts' | 'time';
  constructor(jobId: string, reason: 'attempts' | 'time', limit: number) {
    super(
      ErrorCode.RetriesExhausted,
      reason === 'attempts'
        ? `job ${jobId}: no retry left (${limit} attempts allowed)`
        : `job ${jobId}: retry time of ${limit} ms exceeded`,
      { jobId },
    );
    this.reason = reason;
  }
}

/** The job is not in a state that allows the operation (e.g. `retryNow` on a running job). */
export class JobStateError extends DroverError {
  readonly state: string;
  constructor(jobId: string, state: string, operation: string, queue?: string) {
    super(ErrorCode.JobState, `job ${jobId} is ${state}: ${operation} is not possible`, {
      jobId,
      queue,
    });
    this.state = state;
  }
}

/**
 * Thrown by a `beforeRun` hook (lib/hooks/run-hooks.ts) that cannot let jobs run yet, e.g. expired
 * credentials: the claimed job is released untouched, claims stop, and the worker waits in the
 * visible state `state` (e.g. `auth-required`) while the hooks are retried with backoff.
 */
export class HookWaitError extends DroverError {
  readonly state: string;
  constructor(state: string, message: string = state) {
    super(ErrorCode.HookWait, message);
    this.state = state;
  }
}

/** A command run by a `ShellJob` exited with a non-zero code or was ended by a signal. */
export class CommandFailedError extends DroverError {
  readonly exitCode: number | null;
  readonly signal: string | null;
  /** False when no further attempt may follow (an exit code a `ShellJob` does not retry). */
  readonly retryable: boolean;
  constructor(
    command: string,
    exitCode: number | null,
    signal: string | null,
    detail = '',
    options: { retryable?: boolean } = {},
  ) {
    const how = signal ? `was killed by ${signal}` : `exited with code ${exitCode}`;
    super(ErrorCode.CommandFailed, `command ${command} ${how}${detail ? `: ${detail}` : ''}`);
    this.exitCode = exitCode;
    this.signal = signal;
    this.retryable = options.retryable ?? true;
  }
}

/**
 * The sandbox running a job (a worker thread or a child process, see lib/sandbox/) ended before
 * the job returned: it exited (`process.exit`), crashed, or was killed. Recorded as a retryable
 * error of the attempt, so the job's retry policy decides what follows.
 */
export class SandboxCrashedError extends DroverError {
  readonly exitCode: number | null;
  readonly signal: string | null;
  constructor(jobId: string, exitCode: number | null, signal: string | null, detail = '') {
    const how = signal ? `was killed by ${signal}` : `exited with code ${exitCode}`;
    super(
      ErrorCode.SandboxCrashed,
      `job ${jobId}: its sandbox ${how} before the job returned${detail ? ` (${detail})` : ''}`,
      { jobId },
    );
    this.exitCode = exitCode;
    this.signal = signal;
  }
}

/** The sandbox running a job ran out of memory (its heap limit, `maxOldSpaceMb`). Retryable. */
export class SandboxOutOfMemoryError extends DroverError {
  readonly heapLimitMb: number | null;
  constructor(jobId: string, heapLimitMb: number | null) {
    const limit = heapLimitMb === null ? '' : ` of ${heapLimitMb} MiB`;
    super(ErrorCode.SandboxOutOfMemory, `job ${jobId}: its sandbox ran out of memory${limit}`, {
      jobId,
    });
    this.heapLimitMb = heapLimitMb;
  }
}

/**
 * A MongoDB session was given where no transaction can be had: the server has no transactions
 * (a standalone mongod, a stand-in like mongo-java-server) or the store is in memory. Nothing was
 * written: drover never does silently outside a transaction what it was asked to do inside one.
 * Not retryable: another attempt on the same deployment cannot do better.
 */
export class TransactionsUnsupportedError extends DroverError {
  readonly retryable = false;
  constructor(why: string, context?: DroverErrorContext) {
    super(ErrorCode.TransactionsUnsupported, `no transactions here: ${why}`, context);
  }
}

/** The stable code of any thrown value, for error records. Never throws. */
export function errorCodeOf(err: unknown): string {
  try {
    if (err instanceof DroverError) return err.code;
    if (err instanceof Error) return typeof err.name === 'string' ? err.name : 'Error';
  } catch {
    // A Proxy whose traps throw, or a throwing `name` getter: no code to read.
  }
  return 'UNKNOWN';
}

/** Normalizes any thrown value to an Error. Never throws (see lib/job/error-record.ts). */
export function toError(err: unknown): Error {
  try {
    if (err instanceof Error) return err;
  } catch {
    // A Proxy whose getPrototypeOf trap throws.
  }
  return new Error(printable(err));
}

/** `String(value)`, or a fallback for values that cannot be printed (no prototype, traps). */
function printable(value: unknown): string {
  try {
    return String(value);
  } catch {
    try {
      return Object.prototype.toString.call(value);
    } catch {
      return 'an unprintable value';
    }
  }
}
