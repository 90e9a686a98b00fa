/**
 * The retry handler maps a retryable failure to a next attempt or a final state, and finishes
 * hand-overs a crash left half done (its monitor: only servers without transactions, or older
 * releases, leave them; elsewhere a hand-over is one transaction). It also serves the manual
 * operations `retryNow` and `completeRetryingAndPut`. The hand-over is described in
 * attempt-chain.ts.
 */
import type { Logger } from 'pino';
import pino from 'pino';
import {
  InvalidArgumentError,
  JobNotFoundError,
  JobStateError,
  LockLostError,
  RetriesExhaustedError,
  StoreError,
  toError,
} from '../errors';
import type { QueueExtension } from '../extension';
import type { BaseJob } from '../job/base-job';
import type { Registry } from '../job/registry';
import {
  handOver,
  nextAttemptFrom,
  planFromRetrying,
  retryOnto,
  type AttemptPlan,
} from './attempt-chain';
import {
  Backoff,
  clampDelayMs,
  policyOf,
  toBackoffPolicy,
  type BackoffOption,
  type BackoffPolicy,
} from '../timers/backoff';
import type { JobStore } from '../store/job-store';
import type { JobDocument } from '../types';
import { checkAttemptId, checkNumber } from '../validate';
import { MANUALLY_RETRYABLE_STATES } from '../states';

/** Default cap on a job's attempts in all (a job's own `maxAttempts` may be lower). */
export const MAX_RETRY_ATTEMPTS_DEFAULT = 10;
/** Default retry window: none (-1). Set `maxRetryTimeMs` to stop retrying after a while. */
export const MAX_RETRY_TIME_MS_DEFAULT = -1;
/** Default number of hand-overs the monitor repairs at the same time. */
export const RETRY_NUM_WORKERS_DEFAULT = 1;
export const RETRY_NUM_WORKERS_MAX = 256;
/** Default number of half-done hand-overs the monitor repairs per queue per pass. */
export const RETRY_MAX_CAPACITY_DEFAULT = 4096;
/** Value of `maxRetryAttempts`, `maxRetryTimeMs` and `maxCapacity` meaning "no limit". */
export const RETRY_UNLIMITED = -1;

/** Page size of an unlimited monitor pass. */
const PAGE = 500;
/** The key of a monitor pass over all queues at once (queue names never start with a space). */
const ALL_QUEUES = ' all';
/** `retryNow` re-reads this often when other writers keep changing the job under it. */
const RETRY_NOW_ROUNDS = 8;

/** Options of a retry handler (amboy's names and defaults). All optional. */
export interface RetryHandlerOptions {
  /** Caps every job's `maxAttempts` (attempts in all, the first included). -1: no cap. */
  maxRetryAttempts?: number;
  /** No new attempt once the first attempt started longer ago than this. -1 (default): no limit. */
  maxRetryTimeMs?: number;
  /**
   * Delay before each new attempt: a policy (see `Backoff`), fixed milliseconds or a stored spec;
   * default `Backoff.standard()` (1 s, 2 s, 4 s... jittered, up to an hour). A job's own
   * `retryAfterMs` (throttling), its `backoff` option, its type's and its queue's win over it.
   */
  retryBackoff?: BackoffOption;
  /** Hand-overs the monitor repairs at the same time (over all queues of the handler). */
  numWorkers?: number;
  /** Half-done hand-overs the monitor repairs per queue per pass; -1: all of them. */
  maxCapacity?: number;
}

/** Retry handler options with every field resolved. */
export interface ResolvedRetryHandlerOptions {
  maxRetryAttempts: number;
  maxRetryTimeMs: number;
  retryBackoff: BackoffPolicy;
  numWorkers: number;
  maxCapacity: number;
}

/** A positive integer or -1. */
function limitOrUnlimited(name: string, value: number, max: number): number {
  if (value === RETRY_UNLIMITED) return value;
  checkNumber(name, value, 1, max);
  if (!Number.isInteger(value)) throw new InvalidArgumentError(`${name} must be an integer or -1`);
  return value;
}

/** Copies, defaults and validates retry handler options; throws InvalidArgumentError. */
export function resolveRetryHandlerOptions(
  o: RetryHandlerOptions = {},
): ResolvedRetryHandlerOptions {
  const retryBackoff =
    o.retryBackoff === undefined
      ? Backoff.standard()
      : toBackoffPolicy(o.retryBackoff, 'retryBackoff');
  const numWorkers = checkNumber(
    'numWorkers',
    o.numWorkers ?? RETRY_NUM_WORKERS_DEFAULT,
    1,
    RETRY_NUM_WORKERS_MAX,
  );
  if (!Number.isInteger(numWorkers))
    throw new InvalidArgumentError('numWorkers must be an integer');
  return {
    maxRetryAttempts: limitOrUnlimited(
      'maxRetryAttempts',
      o.maxRetryAttempts ?? MAX_RETRY_ATTEMPTS_DEFAULT,
      1e6,
    ),
    maxRetryTimeMs: limitOrUnlimited(
      'maxRetryTimeMs',
      o.maxRetryTimeMs ?? MAX_RETRY_TIME_MS_DEFAULT,
      10 * 365 * 24 * 3_600_000,
    ),
    retryBackoff,
    numWorkers,
    maxCapacity: limitOrUnlimited('maxCapacity', o.maxCapacity ?? RETRY_MAX_CAPACITY_DEFAULT, 1e9),
  };
}

/** What the handler decides about an attempt that asked for a retry. */
export type RetryDecision =
  | { retry: true; plan: AttemptPlan }
  /** Final state 'failed'; `error` (when set) says why and is recorded with the others. */
  | { retry: false; error?: RetriesExhaustedError };

/** Maps retryable failures to next attempts or final failures, for the queues of one store. */
export class RetryHandler {
  readonly options: ResolvedRetryHandlerOptions;
  /** Finishes hand-overs left half done; plugged into every queue as an extension. */
  readonly monitor: RetryMonitor;

  constructor(
    readonly store: JobStore,
    options: RetryHandlerOptions = {},
    readonly logger: Logger = pino({ level: 'silent' }),
  ) {
    this.options = resolveRetryHandlerOptions(options);
    this.monitor = new RetryMonitor(this);
  }

  /** Attempts in all that `job` may have: its `maxAttempts`, capped by `maxRetryAttempts`. */
  attemptLimit(job: BaseJob): number {
    const cap = this.options.maxRetryAttempts;
    return cap === RETRY_UNLIMITED
      ? job.retryInfo.maxAttempts
      : Math.min(job.retryInfo.maxAttempts, cap);
  }

  /**
   * Delay before attempt `attempt`, the first that applies of: the job's `retryAfterMs` (a
   * throttling answer), its own `backoff`, `fallback` (its type's or its queue's), this
   * handler's `retryBackoff`.
   */
  delayMs(job: BaseJob, attempt: number, fallback?: BackoffPolicy): number {
    if (job.retryInfo.waitUntilMs > 0) return clampDelayMs(job.retryInfo.waitUntilMs);
    const own = job.retryInfo.backoff;
    const policy = own ? policyOf(own) : (fallback ?? this.options.retryBackoff);
    return clampDelayMs(policy(attempt));
  }

  /**
   * Decides whether `job` (a failed attempt that may be retried, run until `now`) gets another
   * attempt. No retry when the job is not retryable, has used its attempts, or its first attempt
   * started more than `maxRetryTimeMs` ago (when set). `fallback`: see `delayMs`.
   */
  decide(job: BaseJob, now: Date, fallback?: BackoffPolicy): RetryDecision {
    if (!job.retryInfo.retryable) return { retry: false };
    const attempt = job.retryInfo.currentAttempt + 1;
    const limit = this.attemptLimit(job);
    if (attempt >= limit)
      return { retry: false, error: new RetriesExhaustedError(job.id, 'attempts', limit) };
    const retryStart = job.retryInfo.start ?? job.timeInfo.start ?? now;
    const maxTime = this.options.maxRetryTimeMs;
    if (maxTime !== RETRY_UNLIMITED && now.getTime() - retryStart.getTime() > maxTime)
      return { retry: false, error: new RetriesExhaustedError(job.id, 'time', maxTime) };
    const dueAt = new Date(now.getTime() + this.delayMs(job, attempt, fallback));
    return { retry: true, plan: { baseJobId: job.baseJobId, attempt, dueAt, retryStart } };
  }

  /**
   * amboy's `CompleteRetryingAndPut`: `old` (held by the caller, e.g. from `queue.next()`)
   * becomes `retrying` with its errors and payload, guarded by owner + modCount (LockLostError
   * when lost), and the next attempt is inserted: one transaction where the server has them,
   * else idempotent steps that the monitor finishes after a crash (attempt-chain.ts). `next`
   * (default: `old`) gives the payload and settings of the new attempt; its
   * ID and attempt number are `old`'s next, and it is due after `delayMs`. The caller decided to
   * retry: the attempt and time bounds are not applied (see `decide`). Returns the new ID.
   */
  async completeRetryingAndPut(params: {
    queue: string;
    registry: Registry;
    old: BaseJob;
    next?: BaseJob;
    now: Date;
    /** The queue's backoff, when it has one (`QueueOptions.retryBackoff`). */
    queueBackoff?: BackoffPolicy | null;
  }): Promise<string> {
    const { old, now, queue, registry } = params;
    const fallback = registry.backoffOf(old.type.name) ?? params.queueBackoff ?? undefined;
    const oldDoc = registry.toDocument(old, queue, now);
    const source = params.next ? registry.toDocument(params.next, queue, now) : oldDoc;
    const attempt = old.retryInfo.currentAttempt + 1;
    const next = nextAttemptFrom(
      source,
      {
        baseJobId: old.baseJobId,
        attempt,
        dueAt: new Date(now.getTime() + this.delayMs(old, attempt, fallback)),
        retryStart: old.retryInfo.start ?? old.timeInfo.start,
      },
      now,
    );
    const token = { id: old.id, owner: old.status.owner, modCount: old.status.modCount };
    const update = {
      payload: oldDoc.payload,
      errors: old.status.errors,
      errCount: old.status.errCount,
      end: now,
      completed: false,
      inProgress: false,
    };
    const modCount = await retryOnto(this.store, { token }, update, next, now);
    if (modCount === null) throw new LockLostError(old.id, old.status.owner);
    old.status.modCount = modCount;
    return next._id;
  }

  /**
   * Runs a job again now. A job whose newest attempt is failed, aborted or expired gets a new
   * attempt due now (`#n+1`; history kept, the old attempt becomes `retrying`); the new attempt
   * starts a fresh retry window and counts toward `maxAttempts`: a job out of attempts gets one
   * more run, its `maxAttempts` raised by one (so it never shows "attempt 5 of 3"). A pending attempt waiting on its backoff becomes due now. Idempotent: callers
   * racing get the same new attempt. Throws JobStateError for a running, blocked, completed or
   * quarantined job and JobNotFoundError for an unknown one. Returns the ID that will run.
   */
  async retryNow(params: {
    queue: string;
    id: string;
    now: Date;
    /** Takes what a new attempt holds (the queue's extensions: enqueue scopes); may throw. */
    reserve?: (next: JobDocument) => Promise<void>;
    /** Gives back what `reserve` took when the new attempt was not made. */
    unreserve?: (next: JobDocument) => Promise<void>;
  }): Promise<string> {
    const { queue, now } = params;
    const id = checkAttemptId(params.id);
    const named = id.includes('#') ? await this.store.jobGet(id) : null;
    const baseJobId = named ? named.retryInfo.baseJobId : id;
    for (let round = 0; round < RETRY_NOW_ROUNDS; round++) {
      const doc = await this.store.jobGetLatest(baseJobId);
      if (!doc || doc.queue !== queue) throw new JobNotFoundError(id, queue);
      if (doc.state === 'pending') {
        if (doc.dueAt <= now) return doc._id;
        const moved = await this.store.jobTransition({
          id: doc._id,
          modCount: doc.status.modCount,
          from: ['pending'],
          update: { dueAt: now },
          now,
        });
        if (moved !== null) return doc._id;
      } else if (doc.state === 'retrying') {
        // A hand-over left half done: finish it, due now.
        const next = nextAttemptFrom(doc, { ...planFromRetrying(doc), dueAt: now }, now);
        await handOver(this.store, next, { id: doc._id, modCount: doc.status.modCount }, now);
        return next._id;
      } else if (MANUALLY_RETRYABLE_STATES.includes(doc.state)) {
        const plan = { ...planFromRetrying(doc), dueAt: now, retryStart: null };
        const next = nextAttemptFrom(doc, plan, now);
        await params.reserve?.(next);
        const guard = { id: doc._id, modCount: doc.status.modCount, from: [doc.state] };
        if ((await retryOnto(this.store, guard, {}, next, now)) !== null) return next._id;
        // Give back what we took, unless a racing call made this very attempt (it shares the
        // scopes we found held by the same job and took nothing for).
        if ((await this.store.jobGet(doc._id))?.nextAttemptId !== next._id) {
          await params.unreserve?.(next);
        }
      } else {
        throw new JobStateError(doc._id, doc.state, 'retryNow', queue);
      }
      // Another writer changed the attempt meanwhile (often a racing retryNow): look again.
    }
    throw new StoreError(`retryNow(${id}): the job kept changing; try again`);
  }

  /** Finishes one half-done hand-over; true when this call inserted the next attempt. */
  async repair(doc: JobDocument, now: Date): Promise<boolean> {
    const next = nextAttemptFrom(doc, planFromRetrying(doc), now);
    return handOver(this.store, next, { id: doc._id, modCount: doc.status.modCount }, now);
  }
}

/**
 * Finds `retrying` attempts whose hand-over is unconfirmed and whose next attempt is due (only a
 * crash between the steps, or a runner still busy with them, leaves such attempts), and redoes
 * steps 2 and 3. Idempotent, so several processes may run it at once. Runs on each queue's
 * maintenance timer; `runOnce` runs one pass now.
 */
export class RetryMonitor implements QueueExtension {
  readonly name = 'retry-monitor';
  /** Queues with a pass under way (passes of one queue never overlap). */
  private readonly busy = new Set<string>();
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly handler: RetryHandler) {}

  async maintain(queue: string, now: Date): Promise<void> {
    if (this.busy.has(queue)) return;
    await this.runOnce(queue, now);
  }

  /** One pass over all the queues at once: one index-served read when nothing is half done. */
  async maintainQueues(queues: readonly string[], now: Date): Promise<void> {
    if (this.busy.has(ALL_QUEUES)) return;
    await this.pass(ALL_QUEUES, { queues: [...queues] }, now);
  }

  /** One pass over `queue`; returns how many next attempts this pass inserted. */
  async runOnce(queue: string, now = new Date()): Promise<number> {
    return this.pass(queue, { queue }, now);
  }

  /** A pass over the attempts `where` selects; `key` keeps two passes of it from overlapping. */
  private async pass(
    key: string,
    where: { queue: string } | { queues: string[] },
    now: Date,
  ): Promise<number> {
    this.busy.add(key);
    try {
      const { maxCapacity } = this.handler.options;
      let inserted = 0;
      let seen = 0;
      let afterId: string | undefined;
      for (;;) {
        const limit = maxCapacity === RETRY_UNLIMITED ? PAGE : Math.min(PAGE, maxCapacity - seen);
        const page = await this.handler.store.jobList({
          ...where,
          states: ['retrying'],
          dueBefore: now,
          afterId,
          limit,
        });
        const results = await Promise.all(
          page.map((doc) => this.limited(() => this.one(doc, now))),
        );
        inserted += results.filter(Boolean).length;
        seen += page.length;
        if (page.length < limit || (maxCapacity !== RETRY_UNLIMITED && seen >= maxCapacity)) break;
        afterId = page[page.length - 1]._id;
      }
      return inserted;
    } finally {
      this.busy.delete(key);
    }
  }

  private async one(doc: JobDocument, now: Date): Promise<boolean> {
    try {
      const inserted = await this.handler.repair(doc, now);
      if (inserted)
        this.handler.logger.info(
          { jobId: doc._id, queue: doc.queue, nextAttemptId: doc.nextAttemptId },
          'half-done retry completed: next attempt inserted',
        );
      return inserted;
    } catch (err) {
      this.handler.logger.warn({ err: toError(err), jobId: doc._id }, 'retry repair failed');
      return false;
    }
  }

  /** Runs `fn` when fewer than `numWorkers` repairs are under way. */
  private async limited<T>(fn: () => Promise<T>): Promise<T> {
    while (this.active >= this.handler.options.numWorkers)
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}
