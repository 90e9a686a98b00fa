/**
 * A queue group's upkeep: discovery of the queues recorded by any process (and starting those
 * `autoStart` matches), pruning of idle queues held here, the passes that run both on intervals,
 * and the bookkeeping behind them (when each queue held here was last active).
 */
import type { Logger } from 'pino';
import { BackgroundPasses } from '../timers/background-passes';
import type { Queue } from '../queue/queue';
import type { ResolvedQueueUpkeep } from './queue-layers';
import type { QueueRecord } from '../store/queue-store';
import type { Stores } from '../store/store-set';
import { checkNumber } from '../validate';
import type { WorkerPresence } from './worker-presence';
import { LIVE_STATES } from '../states';

/** Page size when listing queue records. */
const RECORD_PAGE = 500;

/** Queue events that count as activity (puts are seen by the `activity` extension). */
export const ACTIVITY_EVENTS = [
  'claimed',
  'completed',
  'failed',
  'retrying',
  'aborted',
  'expired',
  'released',
] as const;

/** Last local activity of each queue; writes `lastActive` of its record at most every `touchEveryMs`. */
export class QueueActivity {
  private readonly activeAt = new Map<string, number>();
  private readonly touchedAt = new Map<string, number>();

  constructor(
    private readonly now: () => Date,
    private readonly touchEveryMs: number,
    /** Writes `lastActive`; called without waiting, so it must handle its own failure. */
    private readonly touch: (name: string, now: Date) => void,
  ) {}

  /** A queue was just opened (its record's `lastActive` is fresh). */
  opened(name: string): void {
    const now = this.now().getTime();
    this.touchedAt.set(name, now);
    this.activeAt.set(name, now);
  }

  /** Notes activity now. */
  mark(name: string): void {
    const now = this.now().getTime();
    this.activeAt.set(name, now);
    if (now - (this.touchedAt.get(name) ?? 0) < this.touchEveryMs) return;
    this.touchedAt.set(name, now);
    this.touch(name, new Date(now));
  }

  /** Whether the queue has seen no activity for `idleMs`. */
  idleFor(name: string, idleMs: number): boolean {
    return this.now().getTime() - (this.activeAt.get(name) ?? 0) >= idleMs;
  }

  forget(name: string): void {
    this.activeAt.delete(name);
    this.touchedAt.delete(name);
  }

  clear(): void {
    this.activeAt.clear();
    this.touchedAt.clear();
  }
}

/** The group's queue map, as its upkeep sees it. */
export interface HeldQueues {
  /** Queues held in this process, by name. */
  readonly held: ReadonlyMap<string, Queue>;
  /** Whether a queue of this name is being opened. */
  isOpening(name: string): boolean;
  /** Whether the group is closed (a pass under way then stops). */
  isClosed(): boolean;
  /** Opens a queue as `QueueGroup.get` does. */
  open(name: string): Promise<unknown>;
  /** Stops holding a queue being pruned (it is closed just after). */
  drop(name: string): void;
}

/** What the upkeep reads and writes besides the queue map. */
export interface UpkeepContext {
  stores: Pick<Stores, 'jobs' | 'queues'>;
  activity: QueueActivity;
  presence: Pick<WorkerPresence, 'refresh'>;
  upkeep: ResolvedQueueUpkeep;
  now: () => Date;
  logger: Logger;
}

/** Discovery and pruning of a group's queues, by call or on the intervals the options ask for. */
export class GroupUpkeep {
  private readonly passes: BackgroundPasses;

  constructor(
    private readonly queues: HeldQueues,
    private readonly ctx: UpkeepContext,
  ) {
    this.passes = new BackgroundPasses(ctx.logger);
  }

  /** Starts the automatic prune and discovery loops the options ask for. */
  start(): void {
    const { pruneEveryMs, autoStart, discoverEveryMs } = this.ctx.upkeep;
    if (pruneEveryMs > 0) {
      this.passes.every('prune', pruneEveryMs, () => this.prune(), { unref: true });
    }
    if (autoStart) {
      // Not unref'd: a worker process waiting for queues to appear must stay alive.
      this.passes.every('discover', discoverEveryMs, () => this.startDiscovered(), {
        immediate: true,
      });
    }
  }

  /** Stops the loops and waits for the passes under way. */
  stop(): Promise<void> {
    return this.passes.stop();
  }

  /** See `QueueGroup.discover`. */
  async discover(): Promise<string[]> {
    const names: string[] = [];
    for await (const record of this.records()) names.push(record.name);
    return names;
  }

  private async *records(): AsyncIterable<QueueRecord> {
    let after: string | undefined;
    for (;;) {
      const page = await this.ctx.stores.queues.queueList({ after, limit: RECORD_PAGE });
      yield* page;
      if (page.length < RECORD_PAGE) return;
      after = page[page.length - 1].name;
    }
  }

  /** See `QueueGroup.startDiscovered`. */
  async startDiscovered(): Promise<string[]> {
    const { upkeep, now, logger } = this.ctx;
    const match = upkeep.autoStart;
    const started: string[] = [];
    if (!match) return started;
    const recentSince = now().getTime() - upkeep.pruneIdleMs;
    for await (const record of this.records()) {
      const { name } = record;
      if (this.queues.isClosed()) break;
      if (this.queues.held.has(name) || this.queues.isOpening(name) || !match(name)) continue;
      try {
        if (record.lastActive.getTime() < recentSince && !(await this.hasWork(name))) continue;
        await this.queues.open(name);
        started.push(name);
      } catch (err) {
        if (this.queues.isClosed()) break;
        logger.warn({ err, queue: name }, 'starting a discovered queue failed');
      }
    }
    if (started.length > 0) logger.info({ queues: started }, 'discovered queues started');
    return started;
  }

  /** Whether any job of the queue is waiting or running, in any process. */
  private async hasWork(name: string): Promise<boolean> {
    const docs = await this.ctx.stores.jobs.jobList({
      queue: name,
      states: [...LIVE_STATES],
      limit: 1,
      anyOrder: true,
    });
    return docs.length > 0;
  }

  /** See `QueueGroup.prune`. */
  async prune(options: { idleMs?: number } = {}): Promise<string[]> {
    const { activity, upkeep, logger } = this.ctx;
    const idleMs =
      options.idleMs === undefined
        ? upkeep.pruneIdleMs
        : checkNumber('idleMs', options.idleMs, 0, Number.MAX_SAFE_INTEGER);
    const idle = (name: string, queue: Queue) =>
      this.queues.held.get(name) === queue &&
      queue.runningJobs().length === 0 &&
      activity.idleFor(name, idleMs);
    const pruned: string[] = [];
    for (const [name, queue] of [...this.queues.held]) {
      if (!idle(name, queue) || (await this.hasWork(name))) continue;
      // Checked again after the read: a put or claim meanwhile keeps the queue.
      if (!idle(name, queue)) continue;
      this.queues.drop(name);
      activity.forget(name);
      await queue.close();
      pruned.push(name);
    }
    if (pruned.length > 0) {
      logger.info({ queues: pruned }, 'idle queues pruned');
      void this.ctx.presence.refresh();
    }
    return pruned;
  }
}
