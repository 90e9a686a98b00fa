/**
 * Options of the history a queue group keeps (lib/history/rollup-recorder.ts): how often its
 * rollups are flushed, how long they are kept, and how much may wait in memory.
 */
import { InvalidArgumentError } from '../errors';
import { checkNumber } from '../validate';

/** How often buffered rollups are written (one bulk write of upserts per flush). */
export const HISTORY_FLUSH_EVERY_MS_DEFAULT = 10_000;
export const HISTORY_FLUSH_EVERY_MS_MIN = 50;
export const HISTORY_FLUSH_EVERY_MS_MAX = 300_000;
/** How long a minute's rollup is kept (a week of charts, and a day to spare). */
export const HISTORY_RETENTION_MS_DEFAULT = 8 * 86_400_000;
export const HISTORY_RETENTION_MS_MIN = 60_000;
export const HISTORY_RETENTION_MS_MAX = 400 * 86_400_000;
/**
 * Rollups (queue, type and minute) held in memory between flushes. Reaching it starts a flush;
 * while a flush is under way, outcomes of further new rollups are dropped (and counted).
 */
export const HISTORY_MAX_BUFFERED_DEFAULT = 2_000;
export const HISTORY_MAX_BUFFERED_MIN = 1;
export const HISTORY_MAX_BUFFERED_MAX = 100_000;
/** How often expired rollups are looked for (and deleted where the server has no TTL monitor). */
export const HISTORY_PRUNE_EVERY_MS_DEFAULT = 600_000;
export const HISTORY_PRUNE_EVERY_MS_MIN = 1_000;
export const HISTORY_PRUNE_EVERY_MS_MAX = 86_400_000;
/**
 * A rollup still there this long after it expired means the server's TTL monitor does not run
 * (MongoDB's runs every 60 s): from then on, this process prunes expired rollups itself.
 */
export const HISTORY_TTL_GRACE_MS = 5 * 60_000;
/** Upserts per round trip of a flush. */
export const HISTORY_WRITE_BATCH = 1_000;
/** Documents deleted per round trip of a prune pass. */
export const HISTORY_PRUNE_BATCH = 1_000;

/** Options of a group's history (`QueueGroupOptions.history`). All optional. */
export interface HistoryOptions {
  /** False: this group writes no rollups (charts and `stats --since` show nothing of it). */
  enabled?: boolean;
  /** Default HISTORY_FLUSH_EVERY_MS_DEFAULT (10 s). */
  flushEveryMs?: number;
  /** Default HISTORY_RETENTION_MS_DEFAULT (8 days). */
  retentionMs?: number;
  /** Default HISTORY_MAX_BUFFERED_DEFAULT. */
  maxBuffered?: number;
  /** Default HISTORY_PRUNE_EVERY_MS_DEFAULT (10 min). */
  pruneEveryMs?: number;
}

/** History options with every field resolved. */
export interface ResolvedHistoryOptions {
  enabled: boolean;
  flushEveryMs: number;
  retentionMs: number;
  maxBuffered: number;
  pruneEveryMs: number;
}

/** Copies, defaults and validates history options. */
export function resolveHistoryOptions(o: HistoryOptions = {}): ResolvedHistoryOptions {
  if (typeof o !== 'object' || o === null) {
    throw new InvalidArgumentError('history options must be an object');
  }
  if (o.enabled !== undefined && typeof o.enabled !== 'boolean') {
    throw new InvalidArgumentError('history.enabled must be a boolean');
  }
  const int = (name: string, v: number, min: number, max: number) =>
    Math.floor(checkNumber(`history.${name}`, v, min, max));
  return {
    enabled: o.enabled ?? true,
    flushEveryMs: int(
      'flushEveryMs',
      o.flushEveryMs ?? HISTORY_FLUSH_EVERY_MS_DEFAULT,
      HISTORY_FLUSH_EVERY_MS_MIN,
      HISTORY_FLUSH_EVERY_MS_MAX,
    ),
    retentionMs: int(
      'retentionMs',
      o.retentionMs ?? HISTORY_RETENTION_MS_DEFAULT,
      HISTORY_RETENTION_MS_MIN,
      HISTORY_RETENTION_MS_MAX,
    ),
    maxBuffered: int(
      'maxBuffered',
      o.maxBuffered ?? HISTORY_MAX_BUFFERED_DEFAULT,
      HISTORY_MAX_BUFFERED_MIN,
      HISTORY_MAX_BUFFERED_MAX,
    ),
    pruneEveryMs: int(
      'pruneEveryMs',
      o.pruneEveryMs ?? HISTORY_PRUNE_EVERY_MS_DEFAULT,
      HISTORY_PRUNE_EVERY_MS_MIN,
      HISTORY_PRUNE_EVERY_MS_MAX,
    ),
  };
}
