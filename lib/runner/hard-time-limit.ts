/**
 * Hard time limits. A job's `maxTimeMs` fires its signal; a run that ignores the signal is given
 * up once `abortGraceMs` more has passed: the executor records the attempt as timed out (or
 * aborted, or released, by why the signal fired), its slot is freed, and whatever the run does
 * later is dropped. Node's timers hold at most 2^31-1 ms (about 24.8 days; a longer delay fires
 * after 1 ms), so longer limits are chained from several timers.
 */
import { MaxTimeExceededError } from '../errors';
import type { RunEnd } from './outcome-of';

/** Default time a run gets to stop once its signal fired, before it is given up. */
export const ABORT_GRACE_MS_DEFAULT = 1_000;
export const ABORT_GRACE_MS_MIN = 0;
export const ABORT_GRACE_MS_MAX = 60_000;
/** The longest delay one Node timer holds. */
export const TIMER_MAX_MS = 2 ** 31 - 1;

/** The timer functions used (injectable, so tests need not wait for weeks). */
export interface TimerFunctions {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const SYSTEM_TIMERS: TimerFunctions = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * Calls `fn` once after `ms`, however long: delays beyond TIMER_MAX_MS are chained. Returns a
 * function that cancels it.
 */
export function longTimeout(
  fn: () => void,
  ms: number,
  timers: TimerFunctions = SYSTEM_TIMERS,
): () => void {
  let handle: unknown;
  let cancelled = false;
  const arm = (left: number): void => {
    const step = Math.min(left, TIMER_MAX_MS);
    handle = timers.setTimeout(() => {
      if (cancelled) return;
      if (left > step) arm(left - step);
      else fn();
    }, step);
  };
  arm(Math.max(0, ms));
  return () => {
    cancelled = true;
    timers.clearTimeout(handle);
  };
}

/** Aborts `controller` with MaxTimeExceededError after `maxTimeMs` (0: never). Returns a cancel. */
export function maxTimeTimer(
  controller: AbortController,
  jobId: string,
  maxTimeMs: number,
): () => void {
  if (!(maxTimeMs > 0)) return () => undefined;
  return longTimeout(() => controller.abort(new MaxTimeExceededError(jobId, maxTimeMs)), maxTimeMs);
}

/**
 * How `run` ended, or `{ kind: 'hung' }` when `signal` fired and the run went on for `graceMs`
 * more (it is then left to finish alone; its end is ignored).
 */
export async function settleRun(
  run: Promise<RunEnd>,
  signal: AbortSignal,
  graceMs: number,
): Promise<RunEnd> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const hung = new Promise<RunEnd>((resolve) => {
    const start = () => {
      timer = setTimeout(() => resolve({ kind: 'hung' }), graceMs);
    };
    if (signal.aborted) start();
    else {
      onAbort = start;
      signal.addEventListener('abort', onAbort, { once: true });
    }
  });
  try {
    return await Promise.race([run, hung]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}
