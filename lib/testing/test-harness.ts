/**
 * The testing helper (`drover/testing`): a queue group on in-memory stores whose clock the test
 * moves. Nothing runs on its own: `drain()` runs the jobs due now, one at a time, until none is
 * left; `advance(ms)` moves the clock through every due time on the way (delays, retry backoffs,
 * schedule ticks) and drains at each, so nothing waits for real time. Every attempt run is
 * reported with how it ended. Job classes, queue options, retries, scopes, dependencies and
 * schedules are the production ones: the queues are ordinary queues, driven by `Queue.runDue`.
 */
import pino from 'pino';
import type { QueueEventMap } from '../events';
import { QueueGroup } from '../group/queue-group';
import type { QueueGroupOptions } from '../group/group-options';
import type { Queue } from '../queue/queue';
import type { QueueOptions } from '../queue/queue-options';
import type { Scheduler } from '../schedules/scheduler';
import { tickAtOrAfter } from '../schedules/schedule-times';
import { memoryStores, type Stores } from '../store/store-set';
import { checkNumber } from '../validate';
import { TestClock } from './test-clock';

/** Attempts one `drain` or `advance` runs at most before it gives up (a job that never ends). */
export const TEST_MAX_RUNS_DEFAULT = 10_000;

/** How a reported attempt ended (the queue event it emitted). */
export type RunOutcome =
  'completed' | 'failed' | 'retrying' | 'aborted' | 'expired' | 'released' | 'lock-lost';

/** One attempt the harness ran, and how it ended. */
export interface RunRecord {
  queue: string;
  /** The job's ID (shared by all its attempts). */
  jobId: string;
  /** The attempt's ID: the job ID for the first attempt, `${jobId}#n` for later ones. */
  attemptId: string;
  type: string;
  /** 0 for the first attempt. */
  attempt: number;
  outcome: RunOutcome;
  /** The attempt's error (failed, retrying, aborted). */
  error?: string;
  /** When it ended, on the harness clock. */
  at: Date;
}

/** Options of a harness: a queue group's, less what the harness decides. All optional. */
export interface TestHarnessOptions extends Omit<QueueGroupOptions, 'now' | 'autoStart'> {
  /** Where the clock starts. Default: the real time when the harness is made. */
  start?: Date;
  /**
   * The stores to run on; in-memory stores by default. (drover's own examples pass MongoDB
   * stores to show the same run on a server.)
   */
  stores?: Stores;
  /** Attempts one `drain` or `advance` runs at most. Default `TEST_MAX_RUNS_DEFAULT`. */
  maxRuns?: number;
}

const OUTCOMES: RunOutcome[] = [
  'completed',
  'failed',
  'retrying',
  'aborted',
  'expired',
  'released',
  'lock-lost',
];
/** Page size when looking for the next due job. */
const PAGE = 500;

/**
 * Runs a group's jobs in-process and deterministically under a clock the test moves.
 * @example
 * ```ts
 * const t = new TestHarness();
 * const emails = await t.queue('emails');
 * await emails.put(SendEmail.create({ to: 'a@example.com' }, { delayMs: 60_000 }));
 * assert.deepEqual(await t.drain(), []); // not due yet
 * const [run] = await t.advance(60_000);
 * assert.equal(run.outcome, 'completed');
 * await t.close();
 * ```
 */
export class TestHarness {
  readonly clock: TestClock;
  /** The group under test: an ordinary queue group whose clock is `clock`. */
  readonly group: QueueGroup;
  /** Every attempt run so far, in the order they ended. */
  readonly runs: RunRecord[] = [];
  private readonly maxRuns: number;
  private readonly watched = new WeakSet<Queue>();

  constructor(options: TestHarnessOptions = {}) {
    const { start, stores, maxRuns, ...groupOptions } = options;
    this.clock = new TestClock(start);
    this.maxRuns = checkNumber('maxRuns', maxRuns ?? TEST_MAX_RUNS_DEFAULT, 1, 1e9);
    const now = this.clock.now;
    this.group = new QueueGroup(stores ?? memoryStores(), {
      logger: pino({ level: process.env.LOG_LEVEL ?? 'silent' }),
      ...groupOptions,
      now,
      defaults: { ...groupOptions.defaults, now },
    });
    // The group's scheduler, on the harness clock; `advance` ticks it (its loop never runs).
    this.group.scheduler({ now });
  }

  /** The current time of the harness clock. */
  now(): Date {
    return this.clock.now();
  }

  /** The named queue (created on first use, like `QueueGroup.get`); never started. */
  async queue(name: string, options: QueueOptions = {}): Promise<Queue> {
    const q = await this.group.get(name, options);
    this.watch(q);
    return q;
  }

  /** The scheduler of periodic and cron entries; `advance` fires their ticks. */
  get scheduler(): Scheduler {
    return this.group.scheduler();
  }

  /**
   * Runs every job due now, one at a time across the held queues (in name order, one job per
   * queue per round), until none is due: retries without backoff and released dependents run
   * too. Resolves with the attempts run.
   */
  async drain(): Promise<RunRecord[]> {
    const from = this.runs.length;
    await this.drainNow(0);
    return this.runs.slice(from);
  }

  /**
   * Moves the clock forward by `ms`, stopping at every time something falls due on the way (a
   * delayed job, a retry after its backoff, a schedule tick) to fire schedules and drain there.
   * Resolves with the attempts run.
   */
  async advance(ms: number): Promise<RunRecord[]> {
    checkNumber('ms', ms, 0, Number.MAX_SAFE_INTEGER);
    return this.advanceTo(new Date(this.clock.now().getTime() + ms));
  }

  /** Like `advance`, to a point in time (never back). */
  async advanceTo(target: Date): Promise<RunRecord[]> {
    const from = this.runs.length;
    let ran = await this.step(0);
    for (let stops = 1; ; stops++) {
      const next = await this.nextDueAfter(this.clock.now());
      if (next === null || next.getTime() > target.getTime()) break;
      if (stops > this.maxRuns) throw this.tooMany('stops');
      this.clock.set(next);
      ran = await this.step(ran);
    }
    this.clock.set(target);
    await this.step(ran);
    return this.runs.slice(from);
  }

  /** Closes the group (its queues and sandboxes). */
  async close(): Promise<void> {
    await this.group.close({ drainTimeoutMs: 0 });
  }

  /** Fires the schedule ticks due now, then drains; returns the running count. */
  private async step(ran: number): Promise<number> {
    await this.scheduler.tick(this.clock.now());
    return this.drainNow(ran);
  }

  private async drainNow(ran: number): Promise<number> {
    for (;;) {
      let claimed = 0;
      for (const name of this.group.queues().sort()) {
        const q = await this.queue(name);
        if (q.started) continue;
        claimed += (await q.runDue(1)).length;
      }
      if (claimed === 0) return ran;
      ran += claimed;
      if (ran > this.maxRuns) throw this.tooMany('attempts');
    }
  }

  private tooMany(what: string): Error {
    return new Error(
      `the test harness made more than ${this.maxRuns} ${what} in one call: a job keeps coming ` +
        'back or a schedule fires too often for the time advanced (raise maxRuns if expected)',
    );
  }

  /** The earliest time after `now` when a held queue's job or a schedule tick falls due. */
  private async nextDueAfter(now: Date): Promise<Date | null> {
    let next = Infinity;
    for (const name of this.group.queues()) {
      for (let afterId: string | undefined; ;) {
        const page = await this.group.store.jobList({
          queue: name,
          states: ['pending'],
          afterId,
          limit: PAGE,
        });
        for (const doc of page) {
          const at = doc.dueAt.getTime();
          if (at > now.getTime()) next = Math.min(next, at);
        }
        if (page.length < PAGE) break;
        afterId = page[page.length - 1]._id;
      }
    }
    for (const entry of await this.scheduler.list()) {
      if (!entry.enabled) continue;
      const from = Math.max(now.getTime() + 1, entry.createdAt.getTime());
      const tick = tickAtOrAfter(entry, new Date(from));
      if (tick) next = Math.min(next, tick.getTime());
    }
    return Number.isFinite(next) ? new Date(next) : null;
  }

  /** Reports every attempt of `q` that ends. */
  private watch(q: Queue): void {
    if (this.watched.has(q)) return;
    this.watched.add(q);
    for (const outcome of OUTCOMES) {
      q.on(outcome, (info: QueueEventMap[typeof outcome][0]) => {
        const record: RunRecord = {
          queue: info.queue,
          jobId: info.jobId.replace(/#\d+$/, ''),
          attemptId: info.jobId,
          type: info.type,
          attempt: info.attempt,
          outcome,
          at: this.clock.now(),
        };
        const error = 'error' in info ? info.error : 'reason' in info ? info.reason : undefined;
        if (error) record.error = error;
        this.runs.push(record);
      });
    }
  }
}
