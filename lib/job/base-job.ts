/**
 * The base job class. Users subclass it, decorate the subclass with `@JobType`, declare their
 * payload as ordinary fields and implement `run(ctx)`.
 */
import { randomUUID } from 'node:crypto';
import type { ClientSession } from 'mongodb';
import type { Logger } from 'pino';
import type { DependencyManager } from '../../dependency/manager';
import { InvalidArgumentError, RetryableError } from '../errors';
import { toBackoffSpec, type BackoffOption } from '../timers/backoff';
import { checkConcurrency } from '../validate';
import { clipText, errorRecord, messageOf } from './error-record';
import {
  freshStatus,
  type ConcurrencyKey,
  type JobRetryInfo,
  type JobState,
  type JobStatus,
  type JobTimeInfo,
  type JobTypeInfo,
  type StoredDependency,
  type TraceContext,
} from '../types';

/** Default bound on attempts of a retryable job. */
export const DEFAULT_MAX_ATTEMPTS = 10;
/** Errors kept per attempt; older ones are dropped (the count in `errCount` stays exact). */
export const MAX_ERRORS_KEPT = 50;
/** Lines of `ctx.log()` kept per attempt (the last ones; `status.logDropped` counts the rest). */
export const JOB_LOG_MAX_LINES = 200;
/** Characters kept of one `ctx.log()` line. */
export const JOB_LOG_LINE_MAX_CHARS = 2_000;

/** What a running job receives. */
export interface JobContext {
  /** Fires when the job is aborted (by ID, by max time, by shutdown, or because its lock was lost). */
  readonly signal: AbortSignal;
  /** A child logger carrying the job's ID, type, queue and worker. */
  readonly logger: Logger;
  /** Reports progress (0..100); stored with the next heartbeat-sized write. */
  progress(percent: number, message?: string): Promise<void>;
  /**
   * Adds a line to the job's own log, kept with the attempt (the last JOB_LOG_MAX_LINES lines)
   * and shown by `drover show` and the dashboard; also logged at `info` by `logger`. Stored
   * with the attempt's outcome.
   */
  log(message: string): void;
  /** The queue the job runs in. */
  readonly queue: string;
  /** 0 for the first attempt. */
  readonly attempt: number;
  /**
   * Transactional completion (MongoDB with transactions only): runs `fn` in a new transaction,
   * then, in the same transaction, records this attempt as completed with the guarded write of
   * its owner and modification count, and commits. The job's writes through `session` and its
   * completion commit together or not at all: a job whose lock was lost (or that was aborted)
   * commits nothing and gets LockLostError (or the abort's reason). Write conflicts and
   * transient errors run `fn` again in a new transaction, so do only database work through
   * `session` in it. Resolves to `fn`'s value once committed; the attempt is then completed,
   * whatever `run` does next (what `run` returns is then not stored: the completion is already
   * written; return what matters from `fn` and store it with `session`). Throws TransactionsUnsupportedError where the server (or the
   * in-memory store) has no transactions. Effects outside MongoDB stay at-least-once.
   */
  transaction<T>(
    fn: (session: ClientSession) => Promise<T>,
    options?: JobTransactionOptions,
  ): Promise<T>;
}

/** Options of `ctx.transaction`. */
export interface JobTransactionOptions {
  /**
   * Write conflicts and transient errors are retried for this long after the first try; then the
   * last error is thrown. Default `JOB_TRANSACTION_RETRY_MS_DEFAULT` (within 0..`_MAX`).
   */
  retryTimeoutMs?: number;
}

/** Default time ctx.transaction retries write conflicts and transient errors. */
export const JOB_TRANSACTION_RETRY_MS_DEFAULT = 60_000;
export const JOB_TRANSACTION_RETRY_MS_MAX = 3_600_000;

/** Per-job options given at creation. */
export interface JobOptions {
  /** Job ID; a random UUID when omitted. */
  id?: string;
  /** Higher runs first. Default 0. */
  priority?: number;
  /** Not before this time. */
  waitUntil?: Date;
  /** Not before now + this many milliseconds. */
  delayMs?: number;
  /** Expire instead of starting after this time. */
  dispatchBy?: Date;
  /**
   * Abort a run lasting longer than this (through `ctx.signal`; a run that ignores its signal
   * is given up after a short grace); 0 = unlimited. The attempt fails and is retried.
   */
  maxTimeMs?: number;
  /** Attempts in all: a failed attempt is retried while attempts remain. Default 10. */
  maxAttempts?: number;
  /** False: the first failure ends the job (no retry). Default true. */
  retryable?: boolean;
  /**
   * Delay between this job's attempts: a built-in `Backoff` policy, milliseconds or a spec,
   * stored with the job. Over its type's, queue's and group's backoff; a `RetryableError`'s
   * `retryAfterMs` wins over it.
   */
  backoff?: BackoffOption;
  /** Dispatch scopes: no two jobs sharing one run at the same time. */
  scopes?: string[];
  /** Enqueue scopes: no two jobs sharing one are queued at the same time (singletons). */
  enqueueScopes?: string[];
  /**
   * Concurrency key: at most `limit` jobs with the same `key` run at the same time in the queue,
   * in all processes (`limit` an integer in 1..1000; `key` named like a scope).
   */
  concurrency?: ConcurrencyKey;
  /**
   * Dependency: a manager (`afterJobs([...])`, `createsFile(path)`...) or its stored form;
   * `always()` by default.
   */
  dependency?: DependencyManager | StoredDependency;
}

/** Keys of a job class that are payload: own data fields, not methods, not BaseJob's. */
export type JobFields<T> = {
  [
    K in keyof T as K extends keyof BaseJob
      ? never
      : T[K] extends (...args: never[]) => unknown
        ? never
        : K
  ]: T[K];
};

/**
 * The `delayMs` a job was created with. The queue counts it from the put, on its own clock
 * (`QueueOptions.now`: the database server's unless injected), so a job created a while before
 * it is put, created in a process whose clock is off, or put under an injected clock
 * (drover/testing), waits exactly that long. A symbol key: never part of the payload.
 */
export const PUT_DELAY_MS: unique symbol = Symbol('drover.putDelayMs');

/**
 * True while the registry rehydrates a job (`rehydrating`): its envelope fields are about to be
 * replaced by the stored ones, so the constructor gives them shared placeholders instead of a
 * fresh status, time info, Dates and a UUID that would be thrown away.
 */
let loading = false;

/**
 * The placeholders of a job being rehydrated. Shared and never read: `fromDocument` replaces
 * each one (a subclass constructor that changes them changes nothing that is kept).
 */
const PLACEHOLDER_DATE = new Date(0);
const placeholders = {
  status: freshStatus(PLACEHOLDER_DATE),
  timeInfo: freshTimeInfo(PLACEHOLDER_DATE),
  retryInfo: freshRetryInfo(),
};

/** The time info of a job not yet put. */
function freshTimeInfo(created: Date): JobTimeInfo {
  return { created, start: null, end: null, waitUntil: null, dispatchBy: null, maxTimeMs: 0 };
}

/** The retry info of a job not yet put (its options set the rest). */
function freshRetryInfo(): JobRetryInfo {
  return {
    retryable: true,
    needsRetry: false,
    baseJobId: '',
    currentAttempt: 0,
    maxAttempts: DEFAULT_MAX_ATTEMPTS,
    waitUntilMs: 0,
    dispatchByMs: 0,
    start: null,
    end: null,
  };
}

/** Builds a job that `make` rehydrates, its envelope placeholders only (see `loading`). */
export function rehydrating<T>(make: () => T): T {
  loading = true;
  try {
    return make();
  } finally {
    loading = false;
    // A constructor that added to the shared list must not make it grow job after job.
    placeholders.status.errors.length = 0;
  }
}

/** Names of the fields every job has; they are stored beside the payload, not in it. */
export const BASE_FIELDS = [
  'id',
  'type',
  'status',
  'timeInfo',
  'retryInfo',
  'scopes',
  'enqueueScopes',
  'concurrencyKey',
  'priority',
  'dependency',
  'queue',
  'traceContext',
  'state',
  'returnValue',
] as const;

/** A list of strings given as an option (scopes), copied; a typed error for anything else. */
function stringList(name: string, value: unknown): string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw new InvalidArgumentError(`${name} must be an array of strings`);
  }
  return [...value];
}

/** A dependency option in its stored form; its shape is checked here, its content on put. */
function storedDependency(dep: unknown): StoredDependency {
  const candidate: unknown =
    typeof dep === 'object' &&
    dep !== null &&
    'toStored' in dep &&
    typeof dep.toStored === 'function'
      ? (dep as { toStored(): unknown }).toStored()
      : dep;
  const d = candidate as Partial<StoredDependency> | null;
  const ok =
    typeof d === 'object' &&
    d !== null &&
    typeof d.type === 'string' &&
    Array.isArray(d.edges) &&
    d.edges.every((e) => typeof e === 'string') &&
    typeof d.options === 'object' &&
    d.options !== null &&
    (d.onEdgeFailure === 'fail' || d.onEdgeFailure === 'run');
  if (!ok) {
    throw new InvalidArgumentError(
      'dependency must be a dependency manager (afterJobs(), createsFile()...) or its stored form',
    );
  }
  return { ...(d as StoredDependency), edges: [...(d as StoredDependency).edges] };
}

/**
 * Base class of every job. `TResult` is what `run()` returns: it is stored with the completed
 * attempt and read back as `returnValue`.
 */
export abstract class BaseJob<TResult = unknown> {
  /** Attempt ID (the job ID for the first attempt). */
  id: string = loading ? '' : randomUUID();
  /** State of this attempt as last read or written (`pending` until put). */
  state: JobState = 'pending';
  /**
   * What `run()` returned, for a completed attempt read back (`queue.get`); stored with the
   * attempt (bounded, see `RESULT_MAX_BYTES`). Undefined otherwise.
   */
  returnValue?: TResult;
  /** Set from the class's `@JobType` registration. */
  type: JobTypeInfo = { name: '', version: 0 };
  /** Queue the job was put in; empty until put. */
  queue = '';
  status: JobStatus = loading ? placeholders.status : freshStatus(new Date());
  timeInfo: JobTimeInfo = loading ? placeholders.timeInfo : freshTimeInfo(new Date());
  retryInfo: JobRetryInfo = loading ? placeholders.retryInfo : freshRetryInfo();
  scopes: string[] = [];
  enqueueScopes: string[] = [];
  /**
   * Concurrency key taken at claim (set by the `concurrency` option); none by default. Not
   * called `concurrency`, which job classes commonly use for a payload field.
   */
  concurrencyKey?: ConcurrencyKey;
  priority = 0;
  dependency: StoredDependency = { type: 'always', edges: [], options: {}, onEdgeFailure: 'fail' };
  /** See PUT_DELAY_MS. */
  [PUT_DELAY_MS]?: number;
  /** Trace context of the put that created the job (set by drover when tracing is on). */
  traceContext?: TraceContext;

  constructor() {
    // Only this job's own fields take placeholders: jobs its subclass builds are ordinary.
    loading = false;
  }

  /**
   * Does the work and returns its result (stored with the attempt). Throwing anything (or
   * calling `addError`) fails the attempt, and a failed attempt is retried while attempts
   * remain, after the backoff; throw `NonRetryableError` to end the job at once, or
   * `RetryableError` with `retryAfterMs` to choose the delay.
   */
  abstract run(ctx: JobContext): Promise<TResult>;

  /**
   * Creates a job of this class with typed payload fields and options.
   * Only the subclass's own fields are accepted, with their declared types.
   */
  static create<T extends BaseJob>(
    this: new () => T,
    fields: Partial<JobFields<T>> = {},
    options: JobOptions = {},
  ): T {
    const job = new this();
    Object.assign(job, fields);
    job.applyOptions(options);
    return job;
  }

  /** Applies creation options; exposed for subclasses that build jobs themselves. */
  applyOptions(options: JobOptions, now = new Date()): void {
    if (options.id !== undefined) this.id = options.id;
    this.retryInfo.baseJobId = this.id;
    this.timeInfo.created = now;
    this.status.modTime = now;
    if (options.priority !== undefined) this.priority = options.priority;
    if (options.waitUntil !== undefined) this.timeInfo.waitUntil = options.waitUntil;
    if (options.delayMs !== undefined) {
      this.timeInfo.waitUntil = new Date(now.getTime() + options.delayMs);
      this[PUT_DELAY_MS] = options.delayMs;
    }
    if (options.dispatchBy !== undefined) this.timeInfo.dispatchBy = options.dispatchBy;
    if (options.maxTimeMs !== undefined) this.timeInfo.maxTimeMs = options.maxTimeMs;
    if (options.maxAttempts !== undefined) this.retryInfo.maxAttempts = options.maxAttempts;
    if (options.retryable !== undefined) this.retryInfo.retryable = options.retryable;
    if (options.backoff !== undefined) this.retryInfo.backoff = toBackoffSpec(options.backoff);
    if (options.scopes !== undefined) this.scopes = stringList('scopes', options.scopes);
    if (options.enqueueScopes !== undefined) {
      this.enqueueScopes = stringList('enqueueScopes', options.enqueueScopes);
    }
    if (options.concurrency !== undefined) {
      this.concurrencyKey = checkConcurrency(options.concurrency);
    }
    if (options.dependency !== undefined) this.dependency = storedDependency(options.dependency);
  }

  /** ID shared by all attempts of this job. */
  get baseJobId(): string {
    return this.retryInfo.baseJobId || this.id;
  }

  /**
   * Records an error on this attempt (any value: it is made readable, see error-record.ts): the
   * attempt fails, and is retried while attempts remain unless `err` is a `NonRetryableError`
   * (or has `retryable: false`).
   */
  addError(err: unknown): void {
    this.pushError(err);
  }

  /** Records an error and asks for another attempt, optionally not before `retryAfterMs`. */
  addRetryableError(err: unknown, options: { retryAfterMs?: number } = {}): void {
    this.pushError(err);
    this.retryInfo.needsRetry = true;
    if (options.retryAfterMs !== undefined) this.retryInfo.waitUntilMs = options.retryAfterMs;
  }

  /** Records a thrown value, recognising `RetryableError` (and its `retryAfterMs`). */
  recordThrown(err: unknown): void {
    let retryAfterMs: number | undefined;
    try {
      if (err instanceof RetryableError) retryAfterMs = err.retryAfterMs;
    } catch {
      // A Proxy whose traps throw: an ordinary error.
    }
    if (retryAfterMs !== undefined) this.addRetryableError(err, { retryAfterMs });
    else this.addError(err);
  }

  private pushError(err: unknown): void {
    this.status.errors.push(errorRecord(err));
    if (this.status.errors.length > MAX_ERRORS_KEPT) this.status.errors.shift();
    this.status.errCount += 1;
  }

  /** Adds a line to this attempt's log (`ctx.log`), keeping the last JOB_LOG_MAX_LINES. */
  appendLog(message: unknown, at = new Date()): void {
    const text = typeof message === 'string' ? message : messageOf(message);
    const log = (this.status.log ??= []);
    log.push({ at, message: clipText(text, JOB_LOG_LINE_MAX_CHARS) });
    if (log.length > JOB_LOG_MAX_LINES) {
      const over = log.length - JOB_LOG_MAX_LINES;
      log.splice(0, over);
      this.status.logDropped = (this.status.logDropped ?? 0) + over;
    }
  }

  /** The errors of this attempt combined into one, or undefined when there were none. */
  error(): Error | undefined {
    const errors = this.status.errors;
    if (errors.length === 0) return undefined;
    if (errors.length === 1) return new Error(errors[0].message);
    return new AggregateError(
      errors.map((r) => new Error(r.message)),
      errors.map((r) => r.message).join('; '),
    );
  }

  /** True when no further attempt will follow this one. */
  isLastAttempt(): boolean {
    return (
      !this.retryInfo.retryable || this.retryInfo.currentAttempt + 1 >= this.retryInfo.maxAttempts
    );
  }
}

/** A job class: constructible with no arguments, producing a BaseJob. */
export type JobClass<T extends BaseJob = BaseJob> = new () => T;
