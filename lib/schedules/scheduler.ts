/**
 * Periodic and cron jobs. A schedule table in the database (`${prefix}_schedules`) maps each
 * scheduler key to a job (class, payload, options), a queue and a timing. Every process may run a
 * `Scheduler`; each loop reads the due entries from the database (never from a local copy, so a
 * key removed by one process stops in all of them) and enqueues one job per tick.
 *
 * Exactly one job per tick, across processes: the job ID is `${key}@${tickEpochMs}`, so when two
 * schedulers insert the same tick one of them gets DuplicateJobError and counts it as done. Each
 * entry records its newest enqueued tick (`lastTick`, only ever moved forward), so a restarted
 * process never enqueues an old tick again.
 *
 * Missed ticks (every scheduler down, or a loop slower than the period) collapse into one: only
 * the most recent due tick is enqueued, never a burst of all the missed ones. Ticks before the
 * entry was created never fire. Use `options.dispatchWithinMs` to let a late tick expire instead
 * of running stale work.
 */
import type { ClientSession } from 'mongodb';
import type { Logger } from 'pino';
import {
  DuplicateJobError,
  DuplicateJobScopeError,
  InvalidArgumentError,
  StoreError,
  toError,
  UnknownJobTypeError,
} from '../errors';
import type { BaseJob, JobClass, JobFields } from '../job/base-job';
import type { Queue } from '../queue/queue';
import type {
  ScheduledJobOptions,
  ScheduleDefinition,
  ScheduleDocument,
  ScheduleStore,
} from '../store/schedule-store';
import {
  checkScheduledOptions,
  checkScheduleKey,
  dueTick,
  jobOptionsAt,
  nextTickOf,
  sameValue,
  storedDefinition,
  tickJobId,
  toEntry,
  withoutUndefined,
  type ScheduleEntry,
} from './schedule-definition';
import { checkTiming } from './schedule-times';
import { checkNumber, checkQueueName } from '../validate';

export {
  checkScheduleKey,
  SCHEDULE_KEY_MAX_LENGTH,
  tickJobId,
  type ScheduleEntry,
} from './schedule-definition';

/** Default pause between two scheduler loops. */
export const SCHEDULER_TICK_EVERY_MS_DEFAULT = 1_000;
export const SCHEDULER_TICK_EVERY_MS_MIN = 10;
export const SCHEDULER_TICK_EVERY_MS_MAX = 60_000;
/** Each pause is shortened by up to this fraction at random, so processes do not tick in step. */
export const SCHEDULER_JITTER = 0.2;
/** Due entries handled per loop; the rest wait for the next loop. */
export const SCHEDULER_BATCH = 500;
/** Attempts of an upsert that races with other writers of the same key. */
const UPSERT_TRIES = 5;

/** Options of a scheduler. All optional. */
export interface SchedulerOptions {
  /**
   * Pause between loops, each shortened at random by up to `SCHEDULER_JITTER`; default
   * `SCHEDULER_TICK_EVERY_MS_DEFAULT`, within `SCHEDULER_TICK_EVERY_MS_MIN`..`_MAX`.
   */
  tickEveryMs?: number;
  /** Clock, injectable for tests. */
  now?: () => Date;
  /** Logger; the group's logger when omitted. */
  logger?: Logger;
}

/** Scheduler options with every field resolved. */
export interface ResolvedSchedulerOptions {
  tickEveryMs: number;
  now: () => Date;
  logger: Logger;
}

/** Copies, defaults and validates scheduler options. */
export function resolveSchedulerOptions(
  o: SchedulerOptions,
  logger: Logger,
): ResolvedSchedulerOptions {
  return {
    tickEveryMs: checkNumber(
      'tickEveryMs',
      o.tickEveryMs ?? SCHEDULER_TICK_EVERY_MS_DEFAULT,
      SCHEDULER_TICK_EVERY_MS_MIN,
      SCHEDULER_TICK_EVERY_MS_MAX,
    ),
    now: o.now ?? (() => new Date()),
    logger: (o.logger ?? logger).child({ component: 'scheduler' }),
  };
}

/** What `upsert` is given: a job class with typed fields, a queue and a timing. */
export interface ScheduleSpec<T extends BaseJob> {
  /** Scheduler key: 1-180 characters of [A-Za-z0-9_.:@/+=,-]. */
  key: string;
  queue: string;
  /** The job class; each tick enqueues `job.create(fields, options)`. */
  job: JobClass<T>;
  fields?: Partial<JobFields<T>>;
  options?: ScheduledJobOptions;
  /** Fire every N milliseconds (on multiples of N since the Unix epoch). */
  everyMs?: number;
  /** Or fire on a cron expression (5 fields, or 6 with seconds first). */
  cron?: string;
  /** IANA time zone of `cron`. Default UTC. */
  timezone?: string;
  /** Default true. */
  enabled?: boolean;
}

/** Options of `upsert` and `remove`. */
export interface ScheduleWriteOptions {
  /**
   * Create, change or remove the entry inside the caller's MongoDB transaction: it commits or
   * rolls back with the session's transaction, and no scheduler sees it before the commit.
   * TransactionsUnsupportedError where there are none (a standalone server, in memory).
   */
  session?: ClientSession;
}

/** Result of `upsert`. */
export interface UpsertResult {
  outcome: 'created' | 'updated' | 'unchanged';
  entry: ScheduleEntry;
}

/** What one `tick` did. */
export interface TickReport {
  /** IDs of the jobs this call inserted. */
  enqueued: string[];
  /** IDs of ticks found already enqueued (by another process, or before a crash). */
  duplicates: string[];
  /** IDs of ticks skipped because an enqueue scope of the job was held (singleton schedules). */
  skipped: string[];
  /** Entries this process could not enqueue (e.g. a job type it does not know); retried later. */
  failed: { key: string; error: Error }[];
}

/** What a scheduler needs of its queue group: the schedule store, a logger and named queues. */
export interface SchedulerHost {
  readonly stores: { readonly schedules?: ScheduleStore };
  readonly logger: Logger;
  get(name: string): Promise<Queue>;
}

/** Periodic and cron jobs of one group; see the module comment. */
export class Scheduler {
  readonly options: ResolvedSchedulerOptions;
  private readonly store: ScheduleStore;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private inFlight: Promise<unknown> | undefined;
  /** Bumped by every `start()`, so a pass of an earlier loop never re-arms the timer. */
  private generation = 0;

  constructor(
    private readonly group: SchedulerHost,
    options: SchedulerOptions = {},
  ) {
    const store = group.stores.schedules;
    if (!store) throw new InvalidArgumentError('this group has no schedule store');
    this.store = store;
    this.options = resolveSchedulerOptions(options, group.logger);
  }

  /**
   * Creates or changes the entry of `spec.key`. Calling it again with the same definition (as
   * every process may do at start-up) changes nothing. A change keeps the entry's last tick, so
   * no tick already enqueued fires again.
   * @example
   * ```ts
   * await group.scheduler().upsert({
   *   key: 'nightly-report', queue: 'reports', job: ReportJob, fields: { format: 'pdf' },
   *   cron: '0 9 * * *', timezone: 'America/New_York',
   * });
   * ```
   */
  async upsert<T extends BaseJob>(
    spec: ScheduleSpec<T>,
    options: ScheduleWriteOptions = {},
  ): Promise<UpsertResult> {
    const key = checkScheduleKey(spec.key);
    const definition = await this.definitionOf(key, spec);
    const { session } = options;
    if (session !== undefined) await this.store.sessionCheck(session);
    for (let i = 0; i < UPSERT_TRIES; i++) {
      const now = this.options.now();
      const current = await this.store.scheduleGet(key, { session });
      if (!current) {
        const doc: ScheduleDocument = {
          _id: key,
          ...definition,
          createdAt: now,
          updatedAt: now,
          revision: 1,
          lastTick: null,
          nextTickAt: nextTickOf(definition, now, null),
        };
        if (await this.store.scheduleInsert(doc, { session }))
          return { outcome: 'created', entry: toEntry(doc) };
        continue;
      }
      if (sameValue(storedDefinition(current), definition)) {
        return { outcome: 'unchanged', entry: toEntry(current) };
      }
      const redefined = await this.store.scheduleRedefine(
        {
          key,
          revision: current.revision,
          definition,
          nextTickAt: nextTickOf(definition, current.createdAt, current.lastTick),
          now,
        },
        { session },
      );
      const after = redefined ? await this.store.scheduleGet(key, { session }) : null;
      if (after) return { outcome: 'updated', entry: toEntry(after) };
    }
    throw new StoreError(`schedule ${key} kept changing during upsert; try again`);
  }

  /** Validates a spec and serializes its job through the queue's registry. Writes nothing. */
  private async definitionOf<T extends BaseJob>(
    key: string,
    spec: ScheduleSpec<T>,
  ): Promise<ScheduleDefinition> {
    const timing = checkTiming(spec);
    const options = checkScheduledOptions(spec.options ?? {});
    const queue = await this.group.get(checkQueueName(spec.queue));
    if (typeof spec.job !== 'function') {
      throw new InvalidArgumentError(`schedule ${key}: job must be a job class`);
    }
    const job = new spec.job();
    Object.assign(job, spec.fields ?? {});
    const now = this.options.now();
    job.applyOptions(jobOptionsAt(options, tickJobId(key, now), now), now);
    const doc = queue.options.registry.toDocument(job, queue.name, now);
    return {
      queue: queue.name,
      type: doc.type,
      payload: withoutUndefined(doc.payload) as Record<string, unknown>,
      options,
      ...timing,
      enabled: spec.enabled ?? true,
    };
  }

  /**
   * Deletes an entry; every scheduler stops enqueuing it at its next loop (after the commit, with
   * `session`). False if absent.
   */
  async remove(key: string, options: ScheduleWriteOptions = {}): Promise<boolean> {
    checkScheduleKey(key);
    if (options.session !== undefined) await this.store.sessionCheck(options.session);
    return this.store.scheduleRemove(key, options);
  }

  /** The entry of a key, or undefined. */
  async get(key: string): Promise<ScheduleEntry | undefined> {
    const doc = await this.store.scheduleGet(checkScheduleKey(key));
    return doc ? toEntry(doc) : undefined;
  }

  /** Every entry, in key order. */
  async list(): Promise<ScheduleEntry[]> {
    const out: ScheduleEntry[] = [];
    let afterKey: string | undefined;
    for (;;) {
      const page = await this.store.scheduleList({ afterKey, limit: SCHEDULER_BATCH });
      out.push(...page.map(toEntry));
      if (page.length < SCHEDULER_BATCH) return out;
      afterKey = page[page.length - 1]._id;
    }
  }

  /**
   * One pass: enqueues the most recent due tick of every due entry, as of `now`. The loop started
   * by `start()` calls it; tests call it with an injected time instead of sleeping.
   */
  async tick(now: Date = this.options.now()): Promise<TickReport> {
    const report: TickReport = { enqueued: [], duplicates: [], skipped: [], failed: [] };
    const due = await this.store.scheduleDue({ now, limit: SCHEDULER_BATCH });
    for (const doc of due) {
      try {
        await this.fire(doc, now, report);
      } catch (err) {
        report.failed.push({ key: doc._id, error: toError(err) });
        this.options.logger.warn({ err, key: doc._id }, 'could not enqueue a scheduled job');
      }
    }
    return report;
  }

  /** Enqueues the due tick of one entry, if nobody has. */
  private async fire(listed: ScheduleDocument, now: Date, report: TickReport): Promise<void> {
    // A hand-edited entry must fail here, with a clear error, rather than enqueue nonsense.
    checkScheduleKey(listed._id);
    checkTiming(listed);
    const tick = dueTick(listed, now);
    if (tick === null) return;
    // Re-read right before enqueuing: the entry may have been removed, disabled or changed by
    // another process since the list was read; a changed one is handled by the next loop.
    const doc = await this.store.scheduleGet(listed._id);
    if (!doc || !doc.enabled || doc.revision !== listed.revision) return;
    if (doc.lastTick !== null && doc.lastTick.getTime() >= tick.getTime()) return;
    const id = tickJobId(doc._id, tick);
    const queue = await this.group.get(doc.queue);
    const job = this.buildJob(doc, queue, id, tick);
    try {
      await queue.put(job);
      report.enqueued.push(id);
    } catch (err) {
      if (err instanceof DuplicateJobError) report.duplicates.push(id);
      else if (err instanceof DuplicateJobScopeError) report.skipped.push(id);
      else throw err;
    }
    // The tick's job exists (or was deliberately skipped): record it so no process tries again.
    await this.store.scheduleAdvance({
      key: doc._id,
      revision: doc.revision,
      tick,
      nextTickAt: nextTickOf(doc, doc.createdAt, tick),
    });
  }

  /** A job of the entry's class with its stored payload (upgraded to the class's version). */
  private buildJob(doc: ScheduleDocument, queue: Queue, id: string, tick: Date): BaseJob {
    const registry = queue.options.registry;
    const cls = registry.classOf(doc.type.name);
    if (!cls) throw new UnknownJobTypeError(doc.type.name, id);
    const now = queue.options.now();
    const template = new cls();
    template.applyOptions(jobOptionsAt(doc.options, id, tick), now);
    const envelope = registry.toDocument(template, queue.name, now);
    return registry.fromDocument({
      ...envelope,
      type: { ...doc.type },
      payload: structuredClone(doc.payload),
    });
  }

  /** Starts the loop: a tick now, then one every `tickEveryMs` (with jitter) until `stop()`. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0, ++this.generation);
  }

  /** Whether the loop runs. */
  get started(): boolean {
    return this.running;
  }

  private schedule(delayMs: number, generation: number): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const pass = this.tick().catch((err: unknown) => {
        this.options.logger.error({ err }, 'scheduler loop failed');
      });
      this.inFlight = pass;
      void pass.finally(() => {
        if (this.inFlight === pass) this.inFlight = undefined;
        if (this.running && generation === this.generation) {
          const ms = this.options.tickEveryMs;
          this.schedule(Math.round(ms * (1 - SCHEDULER_JITTER * Math.random())), generation);
        }
      });
    }, delayMs);
  }

  /** Stops the loop and waits for a pass under way. Entries stay stored. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.inFlight;
  }
}
