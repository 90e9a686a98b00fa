/**
 * Worker presence: a queue group that runs pools keeps one record in the workers collection
 * (lib/store/worker-store.ts) saying where it runs, which queues its pools serve, how busy they are and
 * whether a `beforeRun` hook holds them in a waiting state. Any process (the CLI, the dashboard,
 * another worker) lists live records, so a wait such as `auth-required` is visible deployment-wide,
 * not only in the process that waits.
 *
 * The record is written on an interval (it expires after `ttlMs` without a write, so a killed
 * process drops out on its own) and at once when a pool starts or the workers' state changes.
 * Writes are serialized, and `close` deletes the record after the last one.
 */
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { checkNumber } from '../validate';
import type { WorkerQueue, WorkerRecord, WorkerStore } from '../store/worker-store';

export const PRESENCE_EVERY_MS_DEFAULT = 10_000;
/** Records dead this long are deleted by any live process's pass. */
const DEAD_RECORD_KEEP_MS = 60_000;

/** Options of worker presence. All optional. */
export interface WorkerPresenceOptions {
  /** How often the record is rewritten; 0 turns presence off. Default 10 s. */
  everyMs?: number;
  /** How long a record is trusted after its last write. Default 3 x `everyMs`. */
  ttlMs?: number;
}

/** What the presence record reports, read from the group at each write. */
export interface PresenceSnapshot {
  state: string;
  message: string;
  stateSince: Date | null;
  queues: WorkerQueue[];
}

/** Keeps one group's presence record. */
export class WorkerPresence {
  private readonly everyMs: number;
  private readonly ttlMs: number;
  private readonly startedAt: Date;
  private timer?: NodeJS.Timeout;
  /** The last write or removal; each new one waits for it. */
  private last: Promise<void> = Promise.resolve();
  /** Whether a record may exist (written since the last removal). */
  private saved = false;
  /** Whether a write is queued behind the one under way. */
  private waiting = false;
  private closed = false;

  constructor(
    /** The record's `_id`. */
    readonly id: string,
    private readonly store: WorkerStore,
    private readonly snapshot: () => PresenceSnapshot,
    private readonly now: () => Date,
    private readonly logger: Logger,
    options: WorkerPresenceOptions = {},
  ) {
    this.everyMs = checkNumber(
      'presence.everyMs',
      options.everyMs ?? PRESENCE_EVERY_MS_DEFAULT,
      0,
      3_600_000,
    );
    this.ttlMs = checkNumber(
      'presence.ttlMs',
      options.ttlMs ?? 3 * this.everyMs,
      this.everyMs,
      24 * 3_600_000,
    );
    this.startedAt = this.now();
  }

  /**
   * Writes the record now (after any write under way): saved while a pool runs here, deleted
   * once none does. Never throws: a failed write is logged, and the next one repairs it.
   */
  refresh(): Promise<void> {
    if (this.everyMs === 0 || this.closed) return this.last;
    // One write waiting is enough: it reads what to say when it runs (1,000 queues starting
    // together make one write, not 1,000).
    if (!this.waiting) {
      this.waiting = true;
      this.last = this.last.then(() => {
        this.waiting = false;
        return this.write();
      });
    }
    this.ensureTimer();
    return this.last;
  }

  /** Stops the interval and deletes the record (after the write under way). */
  async close(): Promise<void> {
    if (this.closed) return this.last;
    this.closed = true;
    clearInterval(this.timer);
    this.last = this.last.then(() => this.remove());
    return this.last;
  }

  private ensureTimer(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.refresh(), this.everyMs);
    // Presence alone must not keep a process alive.
    this.timer.unref();
  }

  private async write(): Promise<void> {
    const snap = this.snapshot();
    if (snap.queues.length === 0) return this.remove();
    const now = this.now();
    const record: WorkerRecord = {
      _id: this.id,
      host: hostname(),
      pid: process.pid,
      startedAt: this.startedAt,
      seenAt: now,
      expiresAt: new Date(now.getTime() + this.ttlMs),
      ...snap,
    };
    try {
      await this.store.workerSave(record);
      this.saved = true;
      await this.store.workerPrune(new Date(now.getTime() - DEAD_RECORD_KEEP_MS));
    } catch (err) {
      this.logger.warn({ err }, 'worker presence write failed');
    }
  }

  private async remove(): Promise<void> {
    if (!this.saved) return;
    try {
      await this.store.workerRemove(this.id);
      this.saved = false;
    } catch (err) {
      this.logger.warn({ err }, 'worker presence removal failed');
    }
  }
}
