/**
 * Chunked time ranges (the backfill seed): a long range `[earliest, latest)` is split into
 * chunks of `chunkMs`, aligned on `earliest`, numbered newest first (chunk 1 is the most recent
 * interval and may be shorter than the others). Each chunk is a job of the user's
 * `TimeRangeChunkJob` subclass with its own retries; `TimeRangeRequests`
 * (./time-range-requests.ts) ties them to one request.
 *
 * @example
 * ```ts
 * @JobType('kpi-backfill-chunk')
 * class SearchChunk extends TimeRangeChunkJob {
 *   search = '';
 *   async runChunk(range: TimeRange, ctx: JobContext) {
 *     await runSearch(this.search, range.earliest, range.latest, ctx.signal);
 *   }
 * }
 * ```
 */
import { InvalidArgumentError } from '../errors';
import { BaseJob, type JobContext } from '../job/base-job';
import { allowsRetry } from '../job/error-record';

/** One day: the default chunk length. */
export const CHUNK_MS_DEFAULT = 24 * 3_600_000;
/** Shortest chunk accepted. */
export const CHUNK_MS_MIN = 1;
/** Most chunks one request may have. */
export const MAX_CHUNKS = 100_000;

/** A half-open time interval `[earliest, latest)`. */
export interface TimeRange {
  earliest: Date;
  latest: Date;
}

/** One chunk of a split range. */
export interface TimeRangeChunk extends TimeRange {
  /** 1 for the newest chunk, `total` for the oldest. */
  num: number;
  total: number;
}

/** Number of chunks of `chunkMs` that cover `range`. */
export function chunkCount(range: TimeRange, chunkMs: number): number {
  const span = range.latest.getTime() - range.earliest.getTime();
  return Math.ceil(span / chunkMs);
}

/**
 * Splits `range` into chunks of `chunkMs` aligned on `earliest`, newest first. The chunks cover
 * the range exactly, without gaps or overlaps.
 */
export function splitTimeRange(range: TimeRange, chunkMs: number): TimeRangeChunk[] {
  const earliest = range.earliest.getTime();
  const latest = range.latest.getTime();
  if (!(latest > earliest)) throw new InvalidArgumentError('latest must be after earliest');
  if (!Number.isFinite(chunkMs) || chunkMs < CHUNK_MS_MIN) {
    throw new InvalidArgumentError(`chunkMs must be a number >= ${CHUNK_MS_MIN}`);
  }
  const total = chunkCount(range, chunkMs);
  if (total > MAX_CHUNKS) {
    throw new InvalidArgumentError(`${total} chunks: at most ${MAX_CHUNKS} are allowed`);
  }
  const chunks: TimeRangeChunk[] = [];
  for (let num = 1; num <= total; num++) {
    const start = earliest + (total - num) * chunkMs;
    chunks.push({
      num,
      total,
      earliest: new Date(start),
      latest: new Date(Math.min(start + chunkMs, latest)),
    });
  }
  return chunks;
}

/**
 * ID of chunk `num` of a request: the request ID, a slash, the zero-padded number. Chunks of one
 * request share priority and due time, so the claim order (priority, due time, ID) takes them
 * newest first.
 */
export function chunkJobId(requestId: string, num: number, total: number): string {
  return `${requestId}/${String(num).padStart(String(total).length, '0')}`;
}

/** The prefix every chunk ID of a request starts with. */
export function chunkIdPrefix(requestId: string): string {
  return `${requestId}/`;
}

/**
 * Base of the job class that processes one chunk. Subclass it, register it with `@JobType`, add
 * payload fields shared by every chunk of a request (e.g. a search string) and implement
 * `runChunk`. A failure is retried like any job's (the chunk's own attempts, `maxAttempts`,
 * apply); throw `NonRetryableError` to fail the chunk at once.
 */
export abstract class TimeRangeChunkJob extends BaseJob {
  /** The request this chunk belongs to. */
  requestId = '';
  /** 1 for the newest chunk. */
  chunk = 0;
  total = 0;
  /** The chunk's interval, in ms since the epoch (plain numbers store the same everywhere). */
  earliestMs = 0;
  latestMs = 0;

  /** The chunk's interval `[earliest, latest)`. */
  range(): TimeRange {
    return { earliest: new Date(this.earliestMs), latest: new Date(this.latestMs) };
  }

  /** Processes the chunk's interval; honour `ctx.signal` (cancelling the request aborts it). */
  abstract runChunk(range: TimeRange, ctx: JobContext): Promise<void>;

  async run(ctx: JobContext): Promise<void> {
    const errorsBefore = this.status.errCount;
    try {
      await this.runChunk(this.range(), ctx);
    } catch (err) {
      if (allowsRetry(err)) this.toFront();
      throw err;
    }
    const k = this.status.errCount - errorsBefore;
    const added = k > 0 ? this.status.errors.slice(-k) : [];
    if (this.retryInfo.needsRetry || (added.length > 0 && added.every((e) => e.retryable))) {
      this.toFront();
    }
  }

  /**
   * A chunk to be retried goes before the chunks not yet run once its backoff has passed (as the
   * seed puts it back at the front): its next attempt gets a higher priority.
   */
  private toFront(): void {
    this.priority += 1;
  }
}
