/**
 * The history a queue group keeps: an extension last in each of its queues' lists (after the
 * observers, lib/group/observer-relay.ts) adds every claimed run and recorded outcome to an in-memory rollup of its queue, job type and minute
 * (a few additions on a Map, no I/O where outcomes are recorded), and a timer flushes the rollups
 * to the rollup store with one bulk write of upserts (lib/store/rollup-store.ts). The dashboard's
 * charts and `drover stats --since` read them through the management API.
 *
 * Bounded: at most `maxBuffered` rollups wait in memory (reaching it starts a flush; outcomes of
 * new rollups beyond it are dropped and counted), and each document holds a fixed set of numbers.
 * Expired by age: every document carries `expiresAt` (its minute plus `retentionMs`). Where the
 * store has a TTL index the server deletes them; a prune pass every `pruneEveryMs` looks for
 * rollups left `HISTORY_TTL_GRACE_MS` past their expiry. Finding one means the server keeps
 * documents past their TTL (no TTL monitor, as on mongo-java-server), so from then on the pass
 * deletes every expired rollup itself; on a server whose TTL monitor runs, the pass finds nothing.
 *
 * Counts are statistics, not records: a flush whose reply is lost is written again by the next
 * one, so a minute may count a few outcomes twice after a network failure.
 */
import type { Logger } from 'pino';
import type { AttemptContext, QueueExtension, StartVerdict } from '../extension';
import type { LockToken } from '../store/job-store';
import { addRollup, emptyRollup, type RollupDelta, type RollupStore } from '../store/rollup-store';
import type { JobState } from '../types';
import {
  HISTORY_PRUNE_BATCH,
  HISTORY_TTL_GRACE_MS,
  HISTORY_WRITE_BATCH,
  resolveHistoryOptions,
  type HistoryOptions,
  type ResolvedHistoryOptions,
} from './history-options';

const MINUTE_MS = 60_000;

/** The counter an outcome adds to; states that are no outcome (released, blocked) add none. */
const OUTCOME_FIELD: Partial<
  Record<JobState, 'completed' | 'failed' | 'retried' | 'aborted' | 'expired'>
> = {
  completed: 'completed',
  failed: 'failed',
  retrying: 'retried',
  aborted: 'aborted',
  expired: 'expired',
};

/** How expired rollups go: by the server's TTL monitor, or by this process's prune pass. */
export type HistoryExpiry = 'ttl' | 'prune';

/** What a recorder did so far (for operators and tests). */
export interface HistoryRecorderStats {
  /** Rollup upserts written. */
  written: number;
  /** Outcomes not recorded because the buffer was full. */
  dropped: number;
  /** Flushes that failed (their rollups were kept for the next flush, as room allowed). */
  failedFlushes: number;
  /** Expired rollups this process deleted. */
  pruned: number;
}

/** Keeps one group's rollups and flushes them. */
export class RollupRecorder implements QueueExtension {
  readonly name = 'history';
  readonly options: ResolvedHistoryOptions;
  readonly stats: HistoryRecorderStats = { written: 0, dropped: 0, failedFlushes: 0, pruned: 0 };
  private buffer = new Map<string, RollupDelta>();
  /** When each running attempt started (the clock's ms), by its lock token. */
  private readonly startedAt = new WeakMap<LockToken, number>();
  private timer?: NodeJS.Timeout;
  /** The flush under way (flushes never overlap) and the one queued after it. */
  private last: Promise<void> = Promise.resolve();
  private queued?: Promise<void>;
  private pruning?: Promise<number>;
  private lastPruneAt?: number;
  private expiryMode?: HistoryExpiry;
  private droppedUnlogged = 0;
  private closed = false;

  constructor(
    private readonly store: RollupStore,
    options: HistoryOptions,
    private readonly now: () => Date,
    private readonly logger: Logger,
  ) {
    this.options = resolveHistoryOptions(options);
  }

  async beforeStart(ctx: AttemptContext): Promise<StartVerdict> {
    const now = ctx.now.getTime();
    // The due time of an attempt is max(created, waitUntil) (see the registry and retry hand-over).
    const { created, waitUntil } = ctx.job.timeInfo;
    const due = Math.max(created.getTime(), waitUntil?.getTime() ?? 0);
    const waitMs = Math.max(0, now - due);
    const r = this.rollup(ctx.queue, ctx.job.type.name, now);
    if (r) {
      r.started++;
      r.waitSumMs += waitMs;
      r.waitMaxMs = Math.max(r.waitMaxMs, waitMs);
    }
    this.startedAt.set(ctx.token, now);
    return { action: 'run' };
  }

  async afterFinish(ctx: AttemptContext, state: JobState): Promise<void> {
    const start = this.startedAt.get(ctx.token);
    this.startedAt.delete(ctx.token);
    const field = OUTCOME_FIELD[state];
    if (!field) return;
    const now = ctx.now.getTime();
    const r = this.rollup(ctx.queue, ctx.job.type.name, now);
    if (!r) return;
    r[field]++;
    if (start !== undefined) {
      const runMs = Math.max(0, now - start);
      r.runCount++;
      r.runSumMs += runMs;
      r.runMaxMs = Math.max(r.runMaxMs, runMs);
    }
  }

  async outcomeDropped(ctx: AttemptContext): Promise<void> {
    this.startedAt.delete(ctx.token);
  }

  /** Rollups waiting for the next flush. */
  buffered(): number {
    return this.buffer.size;
  }

  /**
   * How expired rollups go, as detected so far: 'ttl' while the store has a TTL index and no
   * prune pass found a rollup the server kept past its expiry; 'prune' otherwise.
   */
  expiry(): HistoryExpiry {
    return this.expiryMode ?? (this.store.rollupTtlIndexed() ? 'ttl' : 'prune');
  }

  /**
   * Writes the buffered rollups now (after the flush under way, if any). Never throws: a failed
   * write is logged, and its rollups are kept for the next flush as far as room allows.
   */
  flush(): Promise<void> {
    this.queued ??= this.last.then(() => {
      this.queued = undefined;
      return this.flushOnce();
    });
    this.last = this.queued;
    return this.queued;
  }

  /**
   * One prune pass (the timer runs one every `pruneEveryMs`): deletes the expired rollups the
   * server has not (see the module comment); returns how many. Never overlaps itself.
   */
  prune(): Promise<number> {
    this.pruning ??= this.pruneOnce().finally(() => {
      this.pruning = undefined;
    });
    return this.pruning;
  }

  /** Stops the timer and writes what is buffered. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
    await this.pruning?.catch(() => undefined);
  }

  /** The buffered rollup of a queue, type and time, created if there is room. */
  private rollup(queue: string, type: string, atMs: number): RollupDelta | undefined {
    const minute = atMs - (atMs % MINUTE_MS);
    const key = `${minute}|${queue}|${type}`;
    let r = this.buffer.get(key);
    if (r) return r;
    if (this.buffer.size >= this.options.maxBuffered) {
      this.stats.dropped++;
      this.droppedUnlogged++;
      void this.flush();
      return undefined;
    }
    r = { queue, type, minute: new Date(minute), ...emptyRollup() };
    this.buffer.set(key, r);
    if (this.buffer.size >= this.options.maxBuffered) void this.flush();
    this.ensureTimer();
    return r;
  }

  private ensureTimer(): void {
    if (this.timer || this.closed) return;
    this.lastPruneAt ??= this.now().getTime();
    this.timer = setInterval(() => this.tick(), this.options.flushEveryMs);
    // History alone must not keep a process alive.
    this.timer.unref();
  }

  private tick(): void {
    void this.flush();
    const now = this.now().getTime();
    if (now - (this.lastPruneAt ?? now) >= this.options.pruneEveryMs) {
      this.lastPruneAt = now;
      this.prune().catch((err: unknown) => this.logger.warn({ err }, 'history prune failed'));
    }
  }

  private async flushOnce(): Promise<void> {
    if (this.droppedUnlogged > 0) {
      this.logger.warn(
        { dropped: this.droppedUnlogged, maxBuffered: this.options.maxBuffered },
        'history: outcomes not counted, the rollup buffer was full',
      );
      this.droppedUnlogged = 0;
    }
    if (this.buffer.size === 0) return;
    const deltas = [...this.buffer.values()];
    this.buffer = new Map();
    for (let i = 0; i < deltas.length; i += HISTORY_WRITE_BATCH) {
      const batch = deltas.slice(i, i + HISTORY_WRITE_BATCH);
      try {
        await this.store.rollupAdd({ deltas: batch, retentionMs: this.options.retentionMs });
        this.stats.written += batch.length;
      } catch (err) {
        this.stats.failedFlushes++;
        this.logger.warn({ err, rollups: deltas.length - i }, 'history: writing rollups failed');
        this.putBack(deltas.slice(i));
        return;
      }
    }
  }

  /** Merges rollups whose write failed back into the buffer, as far as room allows. */
  private putBack(deltas: RollupDelta[]): void {
    for (const d of deltas) {
      const key = `${d.minute.getTime()}|${d.queue}|${d.type}`;
      const into = this.buffer.get(key);
      if (into) {
        addRollup(into, d);
      } else if (this.buffer.size < this.options.maxBuffered) {
        this.buffer.set(key, d);
      } else {
        this.stats.dropped +=
          d.started + d.completed + d.failed + d.retried + d.aborted + d.expired;
      }
    }
    if (this.buffer.size > 0) this.ensureTimer();
  }

  private async pruneOnce(): Promise<number> {
    const trustTtl = this.expiry() === 'ttl';
    const before = new Date(this.now().getTime() - (trustTtl ? HISTORY_TTL_GRACE_MS : 0));
    let n = 0;
    for (;;) {
      const k = await this.store.rollupPrune({ before, limit: HISTORY_PRUNE_BATCH });
      n += k;
      if (k < HISTORY_PRUNE_BATCH) break;
    }
    this.stats.pruned += n;
    if (trustTtl && n > 0) {
      this.logger.info(
        { pruned: n },
        'history: the server keeps documents past their TTL; expired rollups are pruned here',
      );
      this.expiryMode = 'prune';
    }
    return n;
  }
}
