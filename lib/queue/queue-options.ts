/**
 * Options of a queue and its runner pool: every field optional for the user, resolved once into
 * a complete, validated form by `resolveQueueOptions`. Defaults are the exported constants.
 */
import pino, { type Logger } from 'pino';
import { InvalidArgumentError } from '../errors';
import { defaultRegistry, Registry } from '../job/registry';
import { MAX_LOCK_LOSSES_DEFAULT } from '../store/job-store';
import { checkRateLimit, type RateLimit } from '../limits/rate-limit';
import { checkNumber } from '../validate';
import type { ResolvedPoolOptions } from '../runner/pool-options';
import { JobTracing } from '../tracing/job-tracing';
import {
  ABORT_GRACE_MS_DEFAULT,
  ABORT_GRACE_MS_MAX,
  ABORT_GRACE_MS_MIN,
} from '../runner/hard-time-limit';
import { toBackoffPolicy, type BackoffOption } from '../timers/backoff';

export { MAX_LOCK_LOSSES_DEFAULT, ABORT_GRACE_MS_DEFAULT, ABORT_GRACE_MS_MIN, ABORT_GRACE_MS_MAX };

export const WORKERS_DEFAULT = 4;
export const WORKERS_MAX = 1024;
export const LOCK_TIMEOUT_MS_DEFAULT = 30_000;
export const LOCK_TIMEOUT_MS_MIN = 50;
export const HEARTBEAT_MS_DEFAULT = 1_000;
export const POLL_MIN_MS_DEFAULT = 5;
/**
 * An idle process looks for work put by other processes about once a second (one query for all
 * its idle queues): the first job after an idle period starts within about half a second, p50.
 */
export const POLL_MAX_MS_DEFAULT = 1_000;
export const POLL_MAX_MS_BOUND = 60_000;
export const DRAIN_TIMEOUT_MS_DEFAULT = 10_000;
/**
 * One upkeep pass (one extension, for all of a process's queues) every 2.5 s: with the idle polls
 * and the presence record, an idle process sends under 2 commands per second.
 */
export const RECLAIM_EVERY_MS_DEFAULT = 2_500;

/** Options of one queue and its runner pool. All optional. */
export interface QueueOptions {
  /** Jobs run at the same time by this process's pool. */
  workers?: number;
  /** A lock not refreshed for this long is stale and the job may be claimed again. */
  lockTimeoutMs?: number;
  /** How often running jobs' locks are refreshed (and abort requests noticed). */
  heartbeatMs?: number;
  /**
   * Idle polling: a pool whose queue has no work waits; its process's poller asks the database in
   * one query for all of its idle queues whether work is due, first after `pollMinMs`, then at
   * doubling intervals (with jitter) up to `pollMaxMs`, and again from `pollMinMs` when it found
   * some. `pollMaxMs` trades the latency of the first job put by another process after an idle
   * period (about half of it, p50) for the load of idle processes (about one command per
   * `pollMaxMs` each, whatever the number of queues). A put in the same process, or an insert seen
   * by a change stream (replica sets), wakes the pool at once.
   */
  pollMinMs?: number;
  pollMaxMs?: number;
  /** On close, running jobs get this long to finish before they are aborted and released. */
  drainTimeoutMs?: number;
  /**
   * How often the process's upkeep advances: each pass runs one extension's upkeep (fuse refresh,
   * dependency scan, retry repair...) for all the process's queues, in turn. Stale locks are
   * looked for by every idle poll (see `pollMaxMs`).
   */
  reclaimEveryMs?: number;
  /** Job types this pool does not claim (a fuse for one process). */
  excludeTypes?: string[];
  /** An attempt whose lock goes stale this many times (its workers keep dying) fails. */
  maxLockLosses?: number;
  /**
   * Once a run's signal fired (its `maxTimeMs`, an abort, a shutdown), how long it may go on
   * before it is given up: its outcome is recorded (timed out, aborted, released), its slot
   * freed, and what it does later dropped. Default 1 000 ms, within [0, 60 000].
   */
  abortGraceMs?: number;
  /**
   * Delay between the attempts of this queue's jobs (a policy, milliseconds or a spec), over
   * the group's `retry.retryBackoff`; a job's own `backoff` and its type's win over it.
   */
  retryBackoff?: BackoffOption;
  /**
   * At most `max` claims per `perMs` for this queue, in all processes together (see
   * lib/limits/rate-limit.ts). Every process running the queue should give the same limit.
   */
  rateLimit?: RateLimit | null;
  /** Registry to load jobs with. */
  registry?: Registry;
  /** Logger; a pino logger at LOG_LEVEL (default "info") when omitted. */
  logger?: Logger;
  /**
   * Clock, injectable for tests. Default: the store's clock (`JobStore.clock`), which for MongoDB
   * is the database server's, so that processes whose system clocks differ agree.
   */
  now?: () => Date;
  /**
   * OpenTelemetry spans of puts and runs, made through `@opentelemetry/api` when the application
   * has it installed (an optional peer dependency) and a tracer provider registered. Default
   * true; false turns them off.
   */
  tracing?: boolean;
}

/** Options with every field resolved. */
export interface ResolvedQueueOptions extends ResolvedPoolOptions {
  rateLimit: RateLimit | null;
}

function checkTypeList(value: unknown): string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw new InvalidArgumentError('excludeTypes must be an array of job type names');
  }
  return [...value];
}

function isLogger(v: unknown): boolean {
  const l = v as Partial<Logger> | null;
  return (
    typeof l === 'object' &&
    l !== null &&
    typeof l.child === 'function' &&
    typeof l.info === 'function'
  );
}

/** An option that must pass `ok`; a typed error naming it otherwise. */
function checkKind<T>(name: string, value: T, ok: (v: unknown) => boolean): T {
  if (!ok(value)) throw new InvalidArgumentError(`option ${name} has the wrong type`);
  return value;
}

/** A pino logger at `LOG_LEVEL` (default info), the default of every component. */
export function defaultLogger(): Logger {
  return pino({ name: 'drover', level: process.env.LOG_LEVEL ?? 'info' });
}

/** Copies, defaults and validates queue options; throws InvalidArgumentError on a bad value. */
export function resolveQueueOptions(...layers: (QueueOptions | undefined)[]): ResolvedQueueOptions {
  const o: QueueOptions = Object.assign({}, ...layers.filter(Boolean));
  const lockTimeoutMs = checkNumber(
    'lockTimeoutMs',
    o.lockTimeoutMs ?? LOCK_TIMEOUT_MS_DEFAULT,
    LOCK_TIMEOUT_MS_MIN,
    24 * 3600_000,
  );
  const heartbeatMs = checkNumber(
    'heartbeatMs',
    o.heartbeatMs ?? Math.min(HEARTBEAT_MS_DEFAULT, lockTimeoutMs / 3),
    10,
    lockTimeoutMs,
  );
  if (heartbeatMs * 2 > lockTimeoutMs) {
    throw new InvalidArgumentError(
      `heartbeatMs (${heartbeatMs}) must be at most half of lockTimeoutMs (${lockTimeoutMs})`,
    );
  }
  const pollMinMs = checkNumber(
    'pollMinMs',
    o.pollMinMs ?? POLL_MIN_MS_DEFAULT,
    1,
    POLL_MAX_MS_BOUND,
  );
  const pollMaxMs = checkNumber(
    'pollMaxMs',
    o.pollMaxMs ?? POLL_MAX_MS_DEFAULT,
    pollMinMs,
    POLL_MAX_MS_BOUND,
  );
  const workers = checkNumber('workers', o.workers ?? WORKERS_DEFAULT, 1, WORKERS_MAX);
  if (!Number.isInteger(workers)) throw new InvalidArgumentError('workers must be an integer');
  return {
    workers,
    lockTimeoutMs,
    heartbeatMs,
    pollMinMs,
    pollMaxMs,
    drainTimeoutMs: checkNumber(
      'drainTimeoutMs',
      o.drainTimeoutMs ?? DRAIN_TIMEOUT_MS_DEFAULT,
      0,
      24 * 3600_000,
    ),
    reclaimEveryMs: checkNumber(
      'reclaimEveryMs',
      o.reclaimEveryMs ?? Math.min(RECLAIM_EVERY_MS_DEFAULT, lockTimeoutMs / 2),
      10,
      3600_000,
    ),
    excludeTypes: checkTypeList(o.excludeTypes ?? []),
    maxLockLosses: checkNumber(
      'maxLockLosses',
      o.maxLockLosses ?? MAX_LOCK_LOSSES_DEFAULT,
      1,
      1000,
    ),
    abortGraceMs: checkNumber(
      'abortGraceMs',
      o.abortGraceMs ?? ABORT_GRACE_MS_DEFAULT,
      ABORT_GRACE_MS_MIN,
      ABORT_GRACE_MS_MAX,
    ),
    retryBackoff:
      o.retryBackoff === undefined ? null : toBackoffPolicy(o.retryBackoff, 'retryBackoff'),
    rateLimit: checkRateLimit(o.rateLimit),
    registry: checkKind('registry', o.registry ?? defaultRegistry, (v) => v instanceof Registry),
    logger: checkKind('logger', o.logger ?? defaultLogger(), isLogger),
    now: checkKind('now', o.now ?? (() => new Date()), (v) => typeof v === 'function'),
    tracing: new JobTracing(checkKind('tracing', o.tracing ?? true, (v) => typeof v === 'boolean')),
  };
}
