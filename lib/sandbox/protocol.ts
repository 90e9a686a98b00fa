/**
 * The messages between a worker and its sandboxes (a worker thread's port or a child process's
 * IPC channel, both with structured cloning, so Dates and binary payloads cross intact), and
 * errors in a form that crosses them and comes back as the same typed error.
 */
import {
  DroverError,
  ErrorCode,
  JobAbortedError,
  LockLostError,
  MaxTimeExceededError,
  RetryableError,
  ShutdownError,
  toError,
} from '../errors';
import type { JobDocument, JobErrorRecord, JobLogLine } from '../types';

/** An error as it crosses the boundary. */
export interface WireError {
  name: string;
  message: string;
  code?: string;
  jobId?: string;
  retryAfterMs?: number;
  stack?: string;
}

/** What a job changed on itself while it ran: its payload (results), errors, progress, retry ask. */
export interface JobChanges {
  payload: Record<string, unknown>;
  errors: JobErrorRecord[];
  errCount: number;
  progress?: number;
  progressMessage?: string;
  needsRetry: boolean;
  waitUntilMs: number;
  /** What `run()` returned, encoded for storage in the sandbox (absent when nothing). */
  returnValue?: unknown;
  /** The job's own log (`ctx.log`), bounded as in the worker. */
  log?: JobLogLine[];
  logDropped?: number;
}

/** Worker to sandbox. */
export type ToSandbox =
  | {
      t: 'run';
      run: number;
      doc: JobDocument;
      queue: string;
      attempt: number;
      /** The level of the job's logger, so that lines below it are not even sent. */
      logLevel: string;
    }
  | { t: 'abort'; run: number; reason: WireError }
  | { t: 'progress-done'; run: number; seq: number };

/** Sandbox to worker. */
export type FromSandbox =
  | { t: 'ready' }
  | { t: 'load-failed'; error: WireError }
  | { t: 'progress'; run: number; seq: number; percent: number; message?: string }
  | { t: 'log'; run: number; line: string }
  | { t: 'done'; run: number; changes: JobChanges; error?: WireError }
  /** An error nothing caught (a stray promise, an emitter): the sandbox exits after it. */
  | { t: 'fatal'; error: WireError };

/** An error in the form that crosses the boundary. */
export function toWire(err: unknown): WireError {
  const e = toError(err);
  const wire: WireError = { name: e.name, message: e.message, stack: e.stack };
  if (e instanceof DroverError) {
    wire.code = e.code;
    if (e.jobId !== undefined) wire.jobId = e.jobId;
  }
  if (e instanceof RetryableError && e.retryAfterMs !== undefined) {
    wire.retryAfterMs = e.retryAfterMs;
  }
  return wire;
}

/**
 * The error a wire form stands for: the abort reasons and `RetryableError` as their own classes
 * (the runner and jobs branch on them), other drover errors as DroverErrors with their code, the
 * rest as Errors with their name (which error records use as the code).
 */
export function fromWire(w: WireError): Error {
  const jobId = w.jobId ?? '';
  let e: Error;
  switch (w.code) {
    case ErrorCode.Retryable:
      e = new RetryableError(w.message, { retryAfterMs: w.retryAfterMs });
      break;
    case ErrorCode.Aborted:
      e = new JobAbortedError(jobId);
      break;
    case ErrorCode.MaxTimeExceeded:
      e = new MaxTimeExceededError(jobId, 0);
      break;
    case ErrorCode.Shutdown:
      e = new ShutdownError(jobId);
      break;
    case ErrorCode.LockLost:
      e = new LockLostError(jobId, '');
      break;
    default:
      e = isErrorCode(w.code)
        ? new DroverError(w.code, w.message, { jobId: w.jobId })
        : new Error(w.message);
  }
  e.message = w.message;
  e.name = w.name;
  if (w.stack !== undefined) e.stack = w.stack;
  return e;
}

function isErrorCode(code: string | undefined): code is ErrorCode {
  return (Object.values(ErrorCode) as string[]).includes(code ?? '');
}
