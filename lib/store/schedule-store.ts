/**
 * Storage of the schedule table: one entry per scheduler key, telling which job to enqueue into
 * which queue, and when (every N milliseconds, or a cron expression in a time zone).
 * `MongoScheduleStore` (lib/store/mongo/) and `MemoryScheduleStore` (lib/store/memory/) implement it with
 * the same semantics.
 *
 * Rules every implementation keeps:
 * - a definition change matches on `revision` and increments it, so a scheduler that read an
 *   older definition cannot record a tick against the new one;
 * - `lastTick` only moves forward (`scheduleAdvance` matches `lastTick < tick`), so an old tick is
 *   never recorded over a newer one, whatever the order in which processes finish;
 * - `nextTickAt` is an index hint for `scheduleDue`: it may be early, never late. Correctness
 *   rests on `lastTick`, `createdAt` and the deterministic job ID of each tick.
 *
 * The calls that define or remove an entry take the caller's session (see `SessionOptions`), so
 * a schedule can be created, changed or removed inside the caller's transaction.
 */
import type { ClientSession } from 'mongodb';
import type { SessionOptions } from './job-store';
import type { ConcurrencyKey, JobTypeInfo } from '../types';

/** Job options a schedule applies to every job it enqueues. */
export interface ScheduledJobOptions {
  /** Higher runs first. Default 0. */
  priority?: number;
  /** Abort a run lasting longer than this; 0 = unlimited. */
  maxTimeMs?: number;
  /** Attempts in all, for a retryable job. */
  maxAttempts?: number;
  /** Whether errors marked retryable lead to another attempt. */
  retryable?: boolean;
  /** Dispatch scopes of each job. */
  scopes?: string[];
  /**
   * Enqueue scopes of each job. A tick whose scope is still held (the previous run is queued or
   * running) is skipped: a singleton schedule.
   */
  enqueueScopes?: string[];
  /**
   * Concurrency key of each job: at most `limit` jobs with this `key` run at the same time in the
   * queue (those of this schedule and any others sharing the key), as the job option does.
   */
  concurrency?: ConcurrencyKey;
  /**
   * Each job expires instead of starting later than this many milliseconds after its tick
   * (`dispatchBy = tick + dispatchWithinMs`), so a late catch-up tick does not run stale work.
   */
  dispatchWithinMs?: number;
}

/** The part of an entry that `upsert` sets; any change increments `revision`. */
export interface ScheduleDefinition {
  queue: string;
  /** Type name and version of the job class, as the registry stores them. */
  type: JobTypeInfo;
  /** The job's payload, serialized by the registry. */
  payload: Record<string, unknown>;
  options: ScheduledJobOptions;
  /** Period of an every-N schedule; ticks fall on multiples of it since the Unix epoch. */
  everyMs: number | null;
  /** Cron expression (5 or 6 fields) of a cron schedule. */
  cron: string | null;
  /** IANA time zone the cron expression is read in; null = UTC. */
  timezone: string | null;
  /** A disabled entry enqueues nothing; it keeps its place and its last tick. */
  enabled: boolean;
}

/** A stored schedule entry. */
export interface ScheduleDocument extends ScheduleDefinition {
  /** The scheduler key. */
  _id: string;
  createdAt: Date;
  updatedAt: Date;
  /** Incremented by every change of the definition. */
  revision: number;
  /** The newest tick enqueued (or found enqueued); ticks up to it are never enqueued again. */
  lastTick: Date | null;
  /** When the next tick is due (an index hint: may be early, never late); null = never. */
  nextTickAt: Date | null;
}

/** Storage of schedule entries. */
export interface ScheduleStore {
  /** Creates indexes; idempotent. */
  init(): Promise<void>;
  scheduleGet(key: string, options?: SessionOptions): Promise<ScheduleDocument | null>;
  /** Entries in key order, after `afterKey` (pagination). */
  scheduleList(params: { afterKey?: string; limit: number }): Promise<ScheduleDocument[]>;
  /** Enabled entries whose `nextTickAt` is at or before `now`, earliest first. */
  scheduleDue(params: { now: Date; limit: number }): Promise<ScheduleDocument[]>;
  /** Inserts a new entry; false when the key exists already. */
  scheduleInsert(doc: ScheduleDocument, options?: SessionOptions): Promise<boolean>;
  /**
   * Replaces the definition of the entry at `revision`, sets `updatedAt` and `nextTickAt`, and
   * increments `revision`. False when the entry was changed or removed meanwhile.
   */
  scheduleRedefine(
    params: {
      key: string;
      revision: number;
      definition: ScheduleDefinition;
      nextTickAt: Date | null;
      now: Date;
    },
    options?: SessionOptions,
  ): Promise<boolean>;
  /**
   * Records that `tick` was enqueued: sets `lastTick` and `nextTickAt` if the entry is still at
   * `revision` and its `lastTick` is older than `tick`. False otherwise.
   */
  scheduleAdvance(params: {
    key: string;
    revision: number;
    tick: Date;
    nextTickAt: Date | null;
  }): Promise<boolean>;
  /** Deletes an entry; false when there was none. */
  scheduleRemove(key: string, options?: SessionOptions): Promise<boolean>;
  /** As `JobStore.sessionCheck`: refuses a session the store cannot work in. */
  sessionCheck(session: ClientSession): Promise<void>;
}
