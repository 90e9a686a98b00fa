/**
 * Backoff policies: the delay before each new attempt of a failed job. A policy is a function of
 * the attempt number (1 = the first retry). The built-in ones also carry their `spec`, the form
 * a job stores, so a policy given to one job (the `backoff` job option) holds in every process
 * that runs it. Custom functions hold where they are set in code: a job type, a queue, a group.
 */
import { InvalidArgumentError } from '../errors';
import type { BackoffSpec } from '../types';
import { checkNumber, describe } from '../validate';
import { backoffMs } from './sleep';

export type { BackoffSpec };

/** Chooses the delay in milliseconds before attempt `attempt` (1 = first retry). */
export type BackoffPolicy = ((attempt: number) => number) & {
  /** The stored form of a built-in policy; absent on custom ones. */
  readonly spec?: BackoffSpec;
};

/** A backoff as options take it: a policy, fixed milliseconds, or a stored spec. */
export type BackoffOption = BackoffPolicy | number | BackoffSpec;

/** Base of the default policy (`Backoff.standard()`): 1 s, 2 s, 4 s... jittered. */
export const RETRY_BACKOFF_BASE_MS_DEFAULT = 1_000;
/** Cap of the default policy and of `Backoff.exponential`. */
export const BACKOFF_MAX_MS_DEFAULT = 3_600_000;
/** Default base of `Backoff.exponential`: the seeds' 15 s x 2^try. */
export const BACKOFF_BASE_MS_DEFAULT = 15_000;
/** Longest delay any policy may ask for; larger (and non-finite) answers are clamped. */
export const BACKOFF_MAX_MS_BOUND = 365 * 24 * 3_600_000;

function withSpec(fn: (attempt: number) => number, spec: BackoffSpec): BackoffPolicy {
  return Object.assign(fn, { spec });
}

/** Backoff policies. */
export const Backoff = {
  /** The same delay every time. */
  fixed: (ms: number): BackoffPolicy => {
    const delayMs = checkNumber('backoff delayMs', ms, 0, BACKOFF_MAX_MS_BOUND);
    return withSpec(() => delayMs, { kind: 'fixed', delayMs });
  },
  /**
   * `baseMs * 2^(attempt-1)` capped at `maxMs`, jittered uniformly to [50%, 100%] of that
   * ("equal jitter"), so retries of many jobs failing together spread out. Without arguments,
   * the seeds' policy: 15 s x 2^try, capped at an hour. `random` is injectable for tests.
   */
  exponential: (
    baseMs = BACKOFF_BASE_MS_DEFAULT,
    maxMs = BACKOFF_MAX_MS_DEFAULT,
    random: () => number = Math.random,
  ): BackoffPolicy => {
    checkNumber('backoff baseMs', baseMs, 1, BACKOFF_MAX_MS_BOUND);
    checkNumber('backoff maxMs', maxMs, 1, BACKOFF_MAX_MS_BOUND);
    return withSpec((attempt) => backoffMs(attempt - 1, baseMs, maxMs, random), {
      kind: 'exponential',
      baseMs,
      maxMs,
      jitter: true,
    });
  },
  /** The default of every queue: `Backoff.exponential(1_000)`: 1 s, 2 s, 4 s... up to an hour. */
  standard: (): BackoffPolicy => Backoff.exponential(RETRY_BACKOFF_BASE_MS_DEFAULT),
  /** Any function of the attempt number (1 = first retry); answers are clamped to [0, 1 year]. */
  custom: (fn: (attempt: number) => number): BackoffPolicy => fn,
  /** No delay. */
  none: (): BackoffPolicy => withSpec(() => 0, { kind: 'none' }),
} as const;

/** A policy's answer made safe: a finite number of milliseconds in [0, BACKOFF_MAX_MS_BOUND]. */
export function clampDelayMs(ms: number): number {
  if (!Number.isFinite(ms) || ms <= 0) return ms === Infinity ? BACKOFF_MAX_MS_BOUND : 0;
  return Math.min(Math.round(ms), BACKOFF_MAX_MS_BOUND);
}

/** The policy of a stored spec (validated: a spec read from a document may be anything). */
export function policyOf(spec: BackoffSpec): BackoffPolicy {
  const s = checkBackoffSpec(spec);
  switch (s.kind) {
    case 'fixed':
      return Backoff.fixed(s.delayMs);
    case 'none':
      return Backoff.none();
    case 'exponential': {
      const p = Backoff.exponential(s.baseMs, s.maxMs);
      if (s.jitter) return p;
      return withSpec((attempt) => Math.min(s.maxMs, s.baseMs * 2 ** Math.min(attempt - 1, 40)), s);
    }
  }
}

/** A copy of `value` if it is a valid spec; InvalidArgumentError otherwise. */
export function checkBackoffSpec(value: unknown): BackoffSpec {
  const v = value as Record<string, unknown> | null;
  if (typeof v !== 'object' || v === null) {
    throw new InvalidArgumentError(`invalid backoff ${describe(value)}`);
  }
  switch (v.kind) {
    case 'none':
      return { kind: 'none' };
    case 'fixed':
      return {
        kind: 'fixed',
        delayMs: checkNumber('backoff delayMs', v.delayMs, 0, BACKOFF_MAX_MS_BOUND),
      };
    case 'exponential': {
      const baseMs = checkNumber('backoff baseMs', v.baseMs, 1, BACKOFF_MAX_MS_BOUND);
      const maxMs = checkNumber('backoff maxMs', v.maxMs, 1, BACKOFF_MAX_MS_BOUND);
      return { kind: 'exponential', baseMs, maxMs, jitter: v.jitter !== false };
    }
    default:
      throw new InvalidArgumentError(`invalid backoff ${describe(value)}`);
  }
}

/** A backoff option as a policy (functions as they are, numbers as fixed delays, specs). */
export function toBackoffPolicy(option: BackoffOption, name = 'backoff'): BackoffPolicy {
  if (typeof option === 'function') return option;
  if (typeof option === 'number') {
    checkNumber(name, option, 0, BACKOFF_MAX_MS_BOUND);
    return option === 0 ? Backoff.none() : Backoff.fixed(option);
  }
  if (typeof option === 'object' && option !== null) return policyOf(option);
  throw new InvalidArgumentError(`${name} must be a BackoffPolicy, milliseconds or a spec`);
}

/**
 * A backoff option in the form a job stores. A custom function cannot be stored with a job (it
 * would not exist in another process): set it on the job's type, queue or group instead.
 */
export function toBackoffSpec(option: BackoffOption): BackoffSpec {
  if (typeof option === 'function') {
    if (option.spec) return option.spec;
    throw new InvalidArgumentError(
      "a job's backoff is stored with it: use Backoff.fixed/exponential/standard/none or " +
        'milliseconds, or give a custom policy to its @JobType, queue or group',
    );
  }
  if (typeof option === 'number') return toBackoffPolicy(option).spec as BackoffSpec;
  return checkBackoffSpec(option);
}
