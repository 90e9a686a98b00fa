/**
 * Storage of history rollups: one small document per queue, job type and minute, counting the
 * outcomes recorded in that minute and summing queue waits and run durations (see
 * lib/history/rollup-recorder.ts, which feeds it). Workers add to the documents with `$inc` and
 * `$max` only, one batch per flush, so any number of processes add to the same minute without
 * reading it. `MongoRollupStore` (lib/store/mongo/rollup-store.ts) keeps every
 * filter, update and aggregation of the collection; `MemoryRollupStore`
 * (lib/store/memory/rollup-store.ts) has the same semantics in memory.
 *
 * Expiry: each document carries `expiresAt` (the latest any writer asked for). A TTL index
 * removes expired documents where the server has a TTL monitor; `rollupPrune` deletes them where
 * it has none (the recorder tells which by what it finds, see rollup-recorder.ts).
 */

/** The counters of one rollup: what a flush adds and what a read sums. */
export interface RollupCounts {
  /** Attempts that started to run (claimed and let run); their queue waits are summed. */
  started: number;
  completed: number;
  /** Attempts that failed for good (no retry left, or not retryable). */
  failed: number;
  /** Attempts that failed and handed over to a next attempt. */
  retried: number;
  aborted: number;
  /** Attempts that expired before they could run (`dispatchBy` passed). */
  expired: number;
  /** Sum of queue waits (due to claimed) of the started attempts, in ms. */
  waitSumMs: number;
  /** Attempts whose run duration is summed (started and finished in one process). */
  runCount: number;
  /** Sum of run durations (start to recorded outcome), in ms. */
  runSumMs: number;
}

/** The maxima of one rollup; a read takes the largest of the documents it sums. */
export interface RollupMaxima {
  /** Longest queue wait, in ms (0 when nothing started). */
  waitMaxMs: number;
  /** Longest run, in ms (0 when no run was timed). */
  runMaxMs: number;
}

/** Counter fields, in display order. */
export const ROLLUP_COUNT_FIELDS: readonly (keyof RollupCounts)[] = [
  'started',
  'completed',
  'failed',
  'retried',
  'aborted',
  'expired',
  'waitSumMs',
  'runCount',
  'runSumMs',
];
export const ROLLUP_MAX_FIELDS: readonly (keyof RollupMaxima)[] = ['waitMaxMs', 'runMaxMs'];

/** What one flush adds to the document of one queue, type and minute. */
export interface RollupDelta extends RollupCounts, RollupMaxima {
  queue: string;
  type: string;
  /** Start of the minute (a whole minute since the epoch, UTC). */
  minute: Date;
}

/** The stored document of one queue, type and minute. */
export interface RollupDocument extends RollupDelta {
  /** `${minute ISO}|${queue}|${type}`: queue and type names never hold `|`. */
  _id: string;
  /** After this the document may be deleted (TTL index, or `rollupPrune`). */
  expiresAt: Date;
}

/** Parameters of `rollupAdd`. */
export interface RollupAddParams {
  deltas: RollupDelta[];
  /** Each document lives until at least `minute + retentionMs`. */
  retentionMs: number;
}

/** Parameters of `rollupSums`: documents whose minute is in [from, to). */
export interface RollupSumsParams {
  from: Date;
  to: Date;
  queue?: string;
  type?: string;
  /**
   * Width of the time buckets summed apart, a whole number of minutes; buckets start at
   * multiples of it since the epoch (UTC). 0: one sum per queue and type over the whole range.
   */
  bucketMs: number;
}

/** One sum of `rollupSums`: the documents of one queue, type and bucket. */
export interface RollupSum extends RollupCounts, RollupMaxima {
  queue: string;
  type: string;
  /** Start of the bucket; null when `bucketMs` was 0. */
  at: Date | null;
  /** Minute documents summed. */
  minutes: number;
}

/** Storage of history rollups. */
export interface RollupStore {
  /** Creates the indexes (the TTL index where the server takes one); idempotent. */
  init(): Promise<void>;
  /**
   * True when `init` created (or found) a TTL index on `expiresAt`. A server may accept the index
   * and never expire anything: this only says the index exists.
   */
  rollupTtlIndexed(): boolean;
  /**
   * Adds each delta to its document (creating it): counters are incremented, maxima raised,
   * `expiresAt` raised to `minute + retentionMs`. One round trip once the documents exist.
   */
  rollupAdd(params: RollupAddParams): Promise<void>;
  /**
   * Sums the documents of [from, to) by queue, type and bucket; sorted by bucket, queue, type.
   * Returns only groups holding documents.
   */
  rollupSums(params: RollupSumsParams): Promise<RollupSum[]>;
  /** Deletes up to `limit` documents that expired before `before`; returns how many. */
  rollupPrune(params: { before: Date; limit: number }): Promise<number>;
  close(): Promise<void>;
}

/** The `_id` of the document of one queue, type and minute. */
export function rollupId(queue: string, type: string, minute: Date): string {
  return `${minute.toISOString()}|${queue}|${type}`;
}

/** Zero counters and maxima. */
export function emptyRollup(): RollupCounts & RollupMaxima {
  return {
    started: 0,
    completed: 0,
    failed: 0,
    retried: 0,
    aborted: 0,
    expired: 0,
    waitSumMs: 0,
    runCount: 0,
    runSumMs: 0,
    waitMaxMs: 0,
    runMaxMs: 0,
  };
}

/** Adds `from` into `into` (counters summed, maxima kept). */
export function addRollup(
  into: RollupCounts & RollupMaxima,
  from: RollupCounts & RollupMaxima,
): void {
  for (const f of ROLLUP_COUNT_FIELDS) into[f] += from[f];
  for (const f of ROLLUP_MAX_FIELDS) into[f] = Math.max(into[f], from[f]);
}

/** Start of the bucket of width `bucketMs` holding `t` (buckets start at multiples since the epoch). */
export function bucketStart(t: number, bucketMs: number): number {
  return t - (((t % bucketMs) + bucketMs) % bucketMs);
}
