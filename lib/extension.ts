/**
 * Extensions: the features built around the core claim-run-record cycle (scope locks,
 * dependencies, retries, fuses, metrics...) plug into a queue through these hooks, so each
 * feature lives in its own module and the runner stays small.
 */
import type { BaseJob } from './job/base-job';
import type { LockToken, SessionOptions } from './store/job-store';
import type { JobDocument, JobState } from './types';

/** What an extension decides about a claimed attempt before it runs. */
export type StartVerdict =
  /** Run it now. */
  | { action: 'run' }
  /** Put it back to pending for any worker, due after `delayMs` (e.g. a scope is busy). */
  | { action: 'release'; delayMs: number; reason: string }
  /** Park it as blocked (its dependency is not ready). */
  | { action: 'block'; reason: string }
  /** End it without running, in `state` (e.g. 'completed' for a passed dependency, 'failed'). */
  | { action: 'finish'; state: JobState; error?: Error };

/** Context of the hooks that concern one claimed attempt. */
export interface AttemptContext {
  queue: string;
  job: BaseJob;
  token: LockToken;
  now: Date;
}

/** How many claims an extension lets one claim round trip make (rate limits). */
export interface ClaimGrant {
  granted: number;
  /** When nothing is granted: when to ask again. */
  retryAt?: Date;
  /** Gives back what was granted but not claimed. */
  giveBack?(unused: number): Promise<void>;
}

/** A feature plugged into queues. Every hook is optional. */
export interface QueueExtension {
  readonly name: string;
  /**
   * Before documents are inserted; throw to reject them all (undo your own work first). With a
   * session (a put inside the caller's transaction), read and write through it, so what you
   * write commits or rolls back with the jobs.
   */
  beforeInsert?(queue: string, docs: JobDocument[], options?: SessionOptions): Promise<void>;
  /** After an insert that failed for some documents: undo for those not inserted. */
  insertFailed?(queue: string, notInserted: JobDocument[], options?: SessionOptions): Promise<void>;
  /** After a claim, before running; the first verdict other than 'run' wins. */
  beforeStart?(ctx: AttemptContext): Promise<StartVerdict>;
  /** After the attempt left `running` (any outcome, or released), whether or not it ran. */
  afterFinish?(ctx: AttemptContext, state: JobState): Promise<void>;
  /**
   * Instead of `afterFinish` when the attempt's outcome was dropped: its lock was lost, it was
   * abandoned at close, or the outcome write failed. The job's code has returned; the attempt is
   * left to whoever reclaims it, so only forget per-attempt state and give back what is guarded
   * by this run's lock (e.g. dispatch locks held under its owner).
   */
  outcomeDropped?(ctx: AttemptContext): Promise<void>;
  /** Job types not to claim now (fuses), asked before each claim; keep it cheap (cache). */
  excludedTypes?(queue: string): string[];
  /**
   * Before each claim round trip: how many of `want` claims may be made now (a rate limit);
   * the smallest grant of all extensions is claimed, and each gets back what went unused.
   */
  claimGrant?(queue: string, want: number, now: Date): Promise<ClaimGrant>;
  /** False while the queue is paused; asked before each claim; keep it cheap (cache). */
  claimAllowed?(queue: string): boolean;
  /** Periodic upkeep of one queue: monitors, cache refreshes. See `maintainQueues`. */
  maintain?(queue: string, now: Date): Promise<void>;
  /**
   * Periodic upkeep of every queue of a process that has this extension, at once: preferably one
   * index-served query for all of them, so a process's upkeep costs the same with 1 queue or
   * 1,000. Used instead of `maintain` when present. The process poller
   * (lib/runner/process-poller.ts) runs one extension's upkeep per `reclaimEveryMs`, in turn.
   */
  maintainQueues?(queues: readonly string[], now: Date): Promise<void>;
}
