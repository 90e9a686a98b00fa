/**
 * Following the jobs of other processes: a `JobFollower` polls the job documents of its queues
 * changed since a cursor (by `status.modTime`, through the `changed` index) and turns their state
 * changes into the same typed events a queue emits for its own runs (`claimed`, `progress`,
 * `completed`, `failed`, `retrying`, `aborted`, `lock-lost`, `expired`...). It only reads: the
 * runners write nothing extra for it, and heartbeats (which leave `modTime` alone) cost it nothing.
 *
 * What it sees is the current state of each changed document, so two changes between polls
 * collapse into the later one (a job claimed and completed in between yields `completed` only).
 * Writers stamp `modTime` with their own clock; each poll reads again the last `lagMs` so that a
 * write landing late, or from a clock slightly behind, is still seen (and deduplicated).
 */
import { lastError } from '../job/error-record';
import type { Logger } from 'pino';
import { InvalidArgumentError, toError } from '../errors';
import { TypedEmitter, type JobEventInfo, type QueueEventMap } from '../events';
import { HANDED_OVER_AT } from '../retry/attempt-chain';
import type { JobStore, JobSummaryDocument } from '../store/job-store';
import { checkNumber, checkQueueName } from '../validate';

export const FOLLOW_POLL_MS_DEFAULT = 250;
export const FOLLOW_LAG_MS_DEFAULT = 1_000;
export const FOLLOW_PAGE_SIZE_DEFAULT = 500;
/** Pages read per queue per poll at most; the next poll goes on where this one stopped. */
export const FOLLOW_PAGES_PER_POLL = 10;
export const FOLLOW_MAX_BUFFERED_DEFAULT = 10_000;
/** How often the queue list is refreshed when following every queue. */
export const FOLLOW_DISCOVER_EVERY_MS_DEFAULT = 5_000;

/** The events a follower emits: the job events of `QueueEventMap`. */
export type FollowEventMap = Pick<
  QueueEventMap,
  | 'claimed'
  | 'progress'
  | 'completed'
  | 'failed'
  | 'retrying'
  | 'aborted'
  | 'lock-lost'
  | 'expired'
  | 'released'
  | 'quarantined'
  | 'error'
>;
/** Names of the job events a follower emits. */
export type FollowedEventName = Exclude<keyof FollowEventMap, 'error'>;

/** One followed event, as the async iterator yields it. */
export type FollowedEvent = {
  [K in FollowedEventName]: { event: K; info: FollowEventMap[K][0] };
}[FollowedEventName];

/** Options of a follower. All optional. */
export interface FollowOptions {
  /** The queue, or queues, to follow; every queue recorded in the group when omitted. */
  queue?: string | string[];
  /** Changes after this time are reported (their current state). Default: now. */
  since?: Date;
  pollMs?: number;
  /** Each poll reads again the changes of this window before the newest seen. */
  lagMs?: number;
  pageSize?: number;
  /** An iterator this far behind pauses polling until it catches up. */
  maxBuffered?: number;
  logger?: Logger;
}

/** What a follower remembers of a document it reported. */
interface Seen {
  modTime: number;
  state: string;
  modCount: number;
}
/** A running attempt it reported claimed, and its last reported progress. */
interface Claim {
  modCount: number;
  progress: number;
  message?: string;
}
/** Per queue: where the next poll starts, and what was seen in the window. */
interface Cursor {
  /** Newest `modTime` read (ms). */
  high: number;
  /** Where a poll stopped before reading everything; the next one goes on from there. */
  resume?: { modTime: Date; id: string };
  seen: Map<string, Seen>;
  claims: Map<string, Claim>;
  /** Errors stamped after this (ms) are new unless the document was seen since. */
  horizon: number;
}

/** Follows job state changes of queues through the database. Start it with `start()`. */
export class JobFollower
  extends TypedEmitter<FollowEventMap>
  implements AsyncIterable<FollowedEvent>
{
  private readonly pollMs: number;
  private readonly lagMs: number;
  private readonly pageSize: number;
  private readonly maxBuffered: number;
  private readonly since: number;
  private readonly logger?: Logger;
  private readonly cursors = new Map<string, Cursor>();
  private readonly buffers = new Set<FollowedEvent[]>();
  /** Iterators waiting for an event. */
  private readonly waiters = new Set<() => void>();
  /** Ends the loop's current sleep. */
  private wakeLoop?: () => void;
  private queueNames: string[] = [];
  private namesAt = 0;
  private timer?: NodeJS.Timeout;
  private loop?: Promise<void>;
  private closed = false;

  /**
   * @param queues The queues to follow, or a function listing them (called at most every
   * `FOLLOW_DISCOVER_EVERY_MS_DEFAULT`).
   */
  constructor(
    private readonly store: JobStore,
    private readonly queues: string[] | (() => Promise<string[]>),
    options: Omit<FollowOptions, 'queue'> = {},
    /** Called once by `close()`. */
    private readonly onClose?: () => void,
  ) {
    super();
    this.pollMs = checkNumber('pollMs', options.pollMs ?? FOLLOW_POLL_MS_DEFAULT, 1, 3_600_000);
    this.lagMs = checkNumber('lagMs', options.lagMs ?? FOLLOW_LAG_MS_DEFAULT, 0, 3_600_000);
    this.pageSize = checkNumber('pageSize', options.pageSize ?? FOLLOW_PAGE_SIZE_DEFAULT, 1, 1e5);
    this.maxBuffered = checkNumber(
      'maxBuffered',
      options.maxBuffered ?? FOLLOW_MAX_BUFFERED_DEFAULT,
      1,
      1e7,
    );
    if (options.since !== undefined && !(options.since instanceof Date)) {
      throw new InvalidArgumentError('since must be a Date');
    }
    this.since = (options.since ?? new Date()).getTime();
    this.logger = options.logger;
    if (Array.isArray(queues)) queues.forEach(checkQueueName);
  }

  /** Starts polling every `pollMs`. Idempotent. */
  start(): this {
    if (this.loop || this.closed) return this;
    this.loop = this.run();
    return this;
  }

  /** Stops polling and ends every iterator. */
  async close(): Promise<void> {
    if (!this.closed) this.onClose?.();
    this.closed = true;
    clearTimeout(this.timer);
    this.wakeLoop?.();
    this.wakeIterators();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.closed) {
      if (!this.behind()) await this.poll();
      if (this.closed) return;
      await new Promise<void>((resolve) => {
        this.timer = setTimeout(resolve, this.pollMs);
        this.wakeLoop = resolve;
      });
      this.wakeLoop = undefined;
    }
  }

  /** True while an iterator holds `maxBuffered` events or more. */
  private behind(): boolean {
    for (const b of this.buffers) if (b.length >= this.maxBuffered) return true;
    return false;
  }

  /** One pass over every followed queue (the loop's body; call it directly in tests). */
  async poll(): Promise<number> {
    let n = 0;
    try {
      for (const queue of await this.followedQueues()) n += await this.pollQueue(queue);
    } catch (err) {
      this.emit('error', toError(err));
      this.logger?.warn({ err }, 'following job events: poll failed');
    }
    return n;
  }

  private async followedQueues(): Promise<string[]> {
    if (Array.isArray(this.queues)) return this.queues;
    if (Date.now() - this.namesAt >= FOLLOW_DISCOVER_EVERY_MS_DEFAULT) {
      this.queueNames = await this.queues();
      this.namesAt = Date.now();
    }
    return this.queueNames;
  }

  private async pollQueue(queue: string): Promise<number> {
    let cursor = this.cursors.get(queue);
    if (!cursor) {
      cursor = { high: this.since, seen: new Map(), claims: new Map(), horizon: this.since - 1 };
      this.cursors.set(queue, cursor);
    }
    const from = Math.max(this.since, cursor.high - this.lagMs);
    let after = cursor.resume ?? { modTime: new Date(from), id: '' };
    cursor.resume = undefined;
    let n = 0;
    for (let page = 0; ; page++) {
      if (page === FOLLOW_PAGES_PER_POLL) {
        cursor.resume = after;
        break;
      }
      const docs = await this.store.jobChangedSince({ queue, after, limit: this.pageSize });
      for (const doc of docs) n += await this.observe(queue, cursor, doc);
      if (docs.length < this.pageSize) break;
      const last = docs[docs.length - 1];
      after = { modTime: last.status.modTime, id: last._id };
    }
    // What lies before the window will not be read again unless it changes (and gets newer).
    const horizon = cursor.high - this.lagMs;
    for (const [id, s] of cursor.seen) if (s.modTime < horizon) cursor.seen.delete(id);
    // An evicted version's errors are older than `horizon`: newer ones were never reported.
    cursor.horizon = Math.max(cursor.horizon, horizon - 1);
    return n;
  }

  /** Emits what changed in one document since it was last seen; returns the events emitted. */
  private async observe(queue: string, cursor: Cursor, doc: JobSummaryDocument): Promise<number> {
    const modTime = doc.status.modTime.getTime();
    cursor.high = Math.max(cursor.high, modTime);
    const prev = cursor.seen.get(doc._id);
    const { modCount } = doc.status;
    cursor.seen.set(doc._id, { modTime, state: doc.state, modCount });
    const info: JobEventInfo = {
      queue,
      id: doc._id,
      jobId: doc._id,
      type: doc.type?.name ?? '',
      attempt: doc.retryInfo?.currentAttempt ?? 0,
    };
    // Locks lost since the last look, even when the job moved on since (reclaimed, run again).
    let n = 0;
    const after = prev?.modTime ?? cursor.horizon;
    for (const e of doc.status.errors ?? []) {
      if (e.code === 'DROVER_LOCK_LOST' && e.at.getTime() > after)
        n += this.send('lock-lost', info);
    }
    if (doc.state === 'running') return n + this.observeRunning(cursor, doc, info);
    return n + (await this.observeState(queue, doc, info, prev, cursor));
  }

  private async observeState(
    queue: string,
    doc: JobSummaryDocument,
    info: JobEventInfo,
    prev: Seen | undefined,
    cursor: Cursor,
  ): Promise<number> {
    const { modCount } = doc.status;
    const claim = cursor.claims.get(doc._id);
    cursor.claims.delete(doc._id);
    // A finished state is reported once, whatever writes follow it (e.g. a hand-over's step 3).
    if (prev && prev.state === doc.state && doc.state !== 'pending') return 0;
    if (prev && prev.state === doc.state && prev.modCount === modCount) return 0;
    const errors = doc.status.errors ?? [];
    const latest = errors[errors.length - 1];
    const error = lastError(errors)?.message ?? '';
    const durationMs =
      doc.timeInfo?.start && doc.timeInfo.end
        ? doc.timeInfo.end.getTime() - doc.timeInfo.start.getTime()
        : 0;
    switch (doc.state) {
      case 'completed':
        return this.send('completed', { ...info, durationMs, returnValue: doc.returnValue });
      case 'failed':
        return this.send('failed', { ...info, error, durationMs });
      case 'retrying':
        return this.send('retrying', {
          ...info,
          error,
          nextAttemptId: doc.nextAttemptId ?? '',
          dueAt: await this.nextDueAt(doc),
        });
      case 'aborted':
        return this.send('aborted', { ...info, reason: error });
      case 'expired':
        return this.send('expired', info);
      case 'quarantined':
        return this.send('quarantined', {
          queue,
          id: doc._id,
          jobId: doc._id,
          code: doc.quarantine?.code ?? '',
          reason: doc.quarantine?.reason ?? '',
        });
      case 'pending':
      case 'blocked':
        // Back from running without a lost lock: released (a busy scope, a waiting hook...).
        if (latest?.code === 'DROVER_LOCK_LOST') return 0;
        return claim ? this.send('released', info) : 0;
    }
    return 0;
  }

  private observeRunning(cursor: Cursor, doc: JobSummaryDocument, info: JobEventInfo): number {
    let n = 0;
    let claim = cursor.claims.get(doc._id);
    if (!claim || claim.modCount !== doc.status.modCount) {
      claim = { modCount: doc.status.modCount, progress: 0 };
      cursor.claims.set(doc._id, claim);
      n += this.send('claimed', info);
    }
    const { progress, progressMessage: message } = doc.status;
    if (progress !== claim.progress || message !== claim.message) {
      claim.progress = progress;
      claim.message = message;
      n += this.send('progress', { ...info, progress, message });
    }
    return n;
  }

  /** When the next attempt is due: recorded on the old one until the hand-over is confirmed. */
  private async nextDueAt(doc: JobSummaryDocument): Promise<Date> {
    if (doc.dueAt.getTime() !== HANDED_OVER_AT.getTime() || !doc.nextAttemptId) return doc.dueAt;
    const next = await this.store.jobGet(doc.nextAttemptId);
    return next?.dueAt ?? doc.dueAt;
  }

  private send<K extends FollowedEventName>(event: K, info: FollowEventMap[K][0]): number {
    for (const b of this.buffers) b.push({ event, info } as FollowedEvent);
    this.wakeIterators();
    (this.emit as (e: K, i: FollowEventMap[K][0]) => boolean)(event, info);
    return 1;
  }

  private wakeIterators(): void {
    for (const wake of this.waiters) wake();
    this.waiters.clear();
  }

  /** Yields every event from now on, until `close()` (or until the loop is left). */
  async *[Symbol.asyncIterator](): AsyncIterator<FollowedEvent> {
    const buffer: FollowedEvent[] = [];
    this.buffers.add(buffer);
    try {
      while (!this.closed || buffer.length > 0) {
        const next = buffer.shift();
        if (next) {
          yield next;
          continue;
        }
        await new Promise<void>((resolve) => this.waiters.add(resolve));
      }
    } finally {
      this.buffers.delete(buffer);
    }
  }
}
