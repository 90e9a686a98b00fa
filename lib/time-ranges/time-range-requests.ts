/**
 * Time-range requests (the backfill seed's request queue): `submit` records a request, splits
 * its range into chunk jobs (newest first, see ./time-range-job.ts) and puts them into a queue; the
 * request's state (new, pending, running, done, failed, cancelled) and progress follow from its
 * chunks. This class is also the queue extension that keeps requests in step with their chunks:
 *
 * - before a chunk runs, it checks its request (a chunk of a cancelled or failed request ends
 *   `aborted` without running) and moves a pending request to running;
 * - after a chunk finishes, it counts the request's chunks and settles the request (done, or
 *   failed when a chunk is out of retries and `continueOnChunkFailure` is off), aborting the rest;
 * - on maintenance passes it finishes whatever a crashed process left half done (chunks not all
 *   put, a request not settled, chunks not aborted) and prunes old requests.
 *
 * No counter is kept: counts are read from the chunks, so a crash never skews them; every state
 * change is one conditional write, so exactly one process reports each outcome. After a restart,
 * `adopt()` starts the queues of unfinished requests: completed chunks are never run again,
 * chunks of a dead process are reclaimed when their lock expires, and the rest run as usual.
 */
import { randomUUID } from 'node:crypto';
import { InvalidArgumentError, JobAbortedError, toError } from '../errors';
import { TypedEmitter } from '../events';
import type { AttemptContext, QueueExtension, StartVerdict } from '../extension';
import type { JobClass, JobFields, JobOptions } from '../job/base-job';
import {
  TIME_RANGE_FINISHED,
  type RequestStore,
  type TimeRangeCounts,
  type TimeRangeRequestDocument,
  type TimeRangeState,
} from '../store/request-store';
import type { JobState } from '../types';
import { checkDate, checkJobId, checkNumber, checkQueueName } from '../validate';
import {
  CHUNK_MS_DEFAULT,
  CHUNK_MS_MIN,
  MAX_CHUNKS,
  TimeRangeChunkJob,
  chunkCount,
  chunkJobId,
} from './time-range-job';
import {
  ACTIVE,
  RequestSync,
  emptyCounts,
  type TimeRangeEventMap,
  type TimeRangeHost,
} from './time-range-sync';

export type { TimeRangeEvent, TimeRangeEventMap, TimeRangeHost } from './time-range-sync';

/** Finished requests are pruned this long after they finished. */
export const TIME_RANGE_HISTORY_MS_DEFAULT = 14 * 24 * 3_600_000;
/** How often a queue's maintenance looks at its unsettled requests. */
export const TIME_RANGE_RECONCILE_EVERY_MS_DEFAULT = 5_000;
/** How often maintenance prunes finished requests. */
export const TIME_RANGE_PRUNE_EVERY_MS_DEFAULT = 3_600_000;
const PAGE = 100;

/** Options of `TimeRangeRequests`. All optional. */
export interface TimeRangeRequestsOptions {
  /** Finished requests older than this are pruned. */
  historyMs?: number;
  reconcileEveryMs?: number;
  pruneEveryMs?: number;
  /** First word of the messages. Default `backfill`. */
  label?: string;
  now?: () => Date;
}

/** A request to submit. */
export interface SubmitTimeRange<T extends TimeRangeChunkJob> {
  /** Request ID (no `/`); a random UUID when omitted. */
  id?: string;
  /** What is processed, for messages. */
  name: string;
  queue: string;
  chunkClass: JobClass<T>;
  earliest: Date;
  latest: Date;
  /** Chunk length; one day by default. */
  chunkMs?: number;
  /** Payload fields every chunk gets. */
  fields?: Partial<Omit<JobFields<T>, keyof TimeRangeChunkJob>>;
  /**
   * Options of every chunk (each chunk has its own attempts). A `concurrency` key bounds how many
   * chunks (of this request and of any other job sharing the key) run at the same time.
   */
  chunkOptions?: Pick<
    JobOptions,
    'maxAttempts' | 'priority' | 'maxTimeMs' | 'retryable' | 'scopes' | 'concurrency'
  >;
  /** When true, a chunk out of retries does not fail the request. Default false. */
  continueOnChunkFailure?: boolean;
}

/**
 * A request as reported: its record (without the chunk template and the store's `_id`), its
 * `id`, and live chunk counts.
 */
export type TimeRangeRequestInfo = Omit<TimeRangeRequestDocument, 'template' | 'counts' | '_id'> & {
  /** The request's ID (what `cancel`, `get` and `waitFor` take). */
  id: string;
  counts: TimeRangeCounts;
  /** Chunks finished (done or failed) over total, 0..1. */
  progress: number;
};

/** Outcome of `cancel`. */
export type CancelOutcome = 'cancelled' | 'finished' | 'not-found';

/** Requests of one group, and the extension that keeps them in step with their chunks. */
export class TimeRangeRequests extends TypedEmitter<TimeRangeEventMap> implements QueueExtension {
  readonly name = 'time-ranges';
  private readonly historyMs: number;
  private readonly reconcileEveryMs: number;
  private readonly pruneEveryMs: number;
  private readonly sync: RequestSync;
  private readonly now: () => Date;
  private readonly reconciledAt = new Map<string, number>();
  /** When `maintainQueues` last reconciled (all queues at once). */
  private reconciledAllAt = 0;
  private prunedAt = 0;

  constructor(
    private readonly host: TimeRangeHost,
    options: TimeRangeRequestsOptions = {},
  ) {
    super();
    const year = 365 * 24 * 3_600_000;
    this.historyMs = checkNumber(
      'historyMs',
      options.historyMs ?? TIME_RANGE_HISTORY_MS_DEFAULT,
      0,
      100 * year,
    );
    this.reconcileEveryMs = checkNumber(
      'reconcileEveryMs',
      options.reconcileEveryMs ?? TIME_RANGE_RECONCILE_EVERY_MS_DEFAULT,
      0,
      year,
    );
    this.pruneEveryMs = checkNumber(
      'pruneEveryMs',
      options.pruneEveryMs ?? TIME_RANGE_PRUNE_EVERY_MS_DEFAULT,
      0,
      year,
    );
    this.now = options.now ?? (() => new Date());
    this.sync = new RequestSync(host, this, options.label ?? 'backfill', this.now);
  }

  private get requests(): RequestStore {
    return this.host.stores.requests;
  }

  /**
   * Records a request and puts its chunk jobs into `queue` (newest first). Resolves once every
   * chunk is stored; start the queue (or `adopt()`) to run them.
   */
  async submit<T extends TimeRangeChunkJob>(
    params: SubmitTimeRange<T>,
  ): Promise<TimeRangeRequestInfo> {
    const id = params.id ?? randomUUID();
    checkJobId(id);
    if (id.includes('/')) throw new InvalidArgumentError(`request ID ${id} must not contain "/"`);
    if (typeof params.name !== 'string' || params.name.length === 0 || params.name.length > 500) {
      throw new InvalidArgumentError('name must be a string of 1-500 characters');
    }
    checkQueueName(params.queue);
    const range = {
      earliest: checkDate('earliest', params.earliest),
      latest: checkDate('latest', params.latest),
    };
    const chunkMs = checkNumber('chunkMs', params.chunkMs ?? CHUNK_MS_DEFAULT, CHUNK_MS_MIN, 1e15);
    if (!(range.latest > range.earliest))
      throw new InvalidArgumentError('latest must be after earliest');
    const total = chunkCount(range, chunkMs);
    if (total > MAX_CHUNKS)
      throw new InvalidArgumentError(`${total} chunks: at most ${MAX_CHUNKS}`);
    checkJobId(chunkJobId(id, total, total));
    const queue = await this.host.get(params.queue);
    const now = this.now();
    const template: T = new params.chunkClass();
    Object.assign(template, params.fields ?? {});
    template.applyOptions({ ...params.chunkOptions, id: `${id}/template` }, now);
    if (!(template instanceof TimeRangeChunkJob)) {
      throw new InvalidArgumentError('chunkClass must extend TimeRangeChunkJob');
    }
    Object.assign(template, { requestId: id, total });
    const templateDoc = queue.options.registry.toDocument(template, queue.name, now);
    const doc: TimeRangeRequestDocument = {
      _id: id,
      name: params.name,
      queue: queue.name,
      chunkType: templateDoc.type.name,
      earliest: range.earliest,
      latest: range.latest,
      chunkMs,
      total,
      state: 'new',
      continueOnChunkFailure: params.continueOnChunkFailure ?? false,
      template: templateDoc,
      created: now,
      started: null,
      finished: null,
      counts: null,
      message: null,
      settled: false,
      modCount: 0,
      modTime: now,
    };
    await this.requests.requestInsert(doc);
    await this.sync.materialize(doc);
    return this.infoOf((await this.requests.requestGet(id)) ?? doc);
  }

  /** The request with live counts; undefined when there is none. */
  async get(id: string): Promise<TimeRangeRequestInfo | undefined> {
    checkJobId(id);
    const doc = await this.requests.requestGet(id);
    return doc ? this.infoOf(doc) : undefined;
  }

  /** Requests ascending by ID (counts as recorded: live only via `get`). */
  async list(
    params: { queue?: string; states?: TimeRangeState[]; afterId?: string; limit?: number } = {},
  ): Promise<TimeRangeRequestInfo[]> {
    const docs = await this.requests.requestList({ ...params, limit: params.limit ?? PAGE });
    return docs.map((d) => toInfo(d, d.counts ?? emptyCounts(d.total)));
  }

  /** Waits until the request is finished (or `timeoutMs` passes: then it throws). */
  async waitFor(
    id: string,
    { timeoutMs = 60_000, pollMs = 50 } = {},
  ): Promise<TimeRangeRequestInfo> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const info = await this.get(id);
      if (!info) throw new InvalidArgumentError(`time-range request ${id} not found`);
      if (TIME_RANGE_FINISHED.includes(info.state)) return info;
      if (Date.now() > deadline) {
        throw new InvalidArgumentError(
          `time-range request ${id} still ${info.state} after ${timeoutMs} ms`,
        );
      }
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }

  /**
   * Cancels a request from any process: it ends `cancelled`, its chunks not yet run are aborted
   * at once and its running chunks within one heartbeat of their owner.
   */
  async cancel(id: string): Promise<CancelOutcome> {
    checkJobId(id);
    const doc = await this.requests.requestGet(id);
    if (!doc) return 'not-found';
    if (TIME_RANGE_FINISHED.includes(doc.state)) return 'finished';
    const counts = await this.sync.count(doc);
    const after = await this.sync.finish(doc, 'cancelled', counts, ['new', ...ACTIVE]);
    return after ? 'cancelled' : 'finished';
  }

  /**
   * Takes over unfinished requests, e.g. after a restart: finishes what a crashed process left
   * half done and starts the queues of requests with work left. Returns their IDs.
   */
  async adopt(): Promise<string[]> {
    const adopted: string[] = [];
    for await (const doc of this.sync.unsettled()) {
      const after = await this.sync.reconcile(doc);
      if (after.settled) continue;
      await (await this.host.get(after.queue)).start();
      adopted.push(after._id);
    }
    return adopted;
  }

  /** Deletes finished requests older than the history age (their chunk jobs stay). */
  async prune(now: Date = this.now()): Promise<number> {
    const finishedBefore = new Date(now.getTime() - this.historyMs);
    let n = 0;
    for (;;) {
      const deleted = await this.requests.requestPrune({ finishedBefore, limit: 500 });
      n += deleted;
      if (deleted < 500) return n;
    }
  }

  /** One reconciliation of every unsettled request (maintenance does it per queue). */
  async reconcileAll(): Promise<number> {
    let n = 0;
    for await (const doc of this.sync.unsettled()) {
      await this.sync.reconcile(doc);
      n++;
    }
    return n;
  }

  // --- extension hooks ---

  async beforeStart(ctx: AttemptContext): Promise<StartVerdict> {
    const job = ctx.job;
    if (!(job instanceof TimeRangeChunkJob)) return { action: 'run' };
    const doc = await this.requests.requestGet(job.requestId);
    if (!doc || doc.state === 'cancelled' || doc.state === 'failed') {
      const why = doc ? `request ${doc._id} ${doc.state}` : `request ${job.requestId} not found`;
      return { action: 'finish', state: 'aborted', error: new JobAbortedError(job.id, why) };
    }
    if (doc.state === 'pending') {
      const now = this.now();
      const after = await this.requests.requestTransition({
        id: doc._id,
        from: ['pending'],
        update: { state: 'running', started: now },
        now,
      });
      if (after) this.emit('started', this.sync.event(after, emptyCounts(after.total), ''));
    }
    return { action: 'run' };
  }

  async afterFinish(ctx: AttemptContext, state: JobState): Promise<void> {
    const job = ctx.job;
    if (!(job instanceof TimeRangeChunkJob)) return;
    if (state === 'pending' || state === 'blocked' || state === 'retrying') return;
    await this.sync.chunkFinished(job, state);
  }

  /**
   * The upkeep of many queues: one read of the unsettled requests (few: only those under way),
   * reconciling those of `queues`, every `reconcileEveryMs`; and the periodic prune.
   */
  async maintainQueues(queues: readonly string[], now: Date): Promise<void> {
    const t = now.getTime();
    if (t - this.reconciledAllAt >= this.reconcileEveryMs) {
      this.reconciledAllAt = t;
      const mine = new Set(queues);
      for await (const doc of this.sync.unsettled()) {
        if (!mine.has(doc.queue)) continue;
        await this.sync.reconcile(doc).catch((err: unknown) => this.fail(err, doc._id));
      }
    }
    if (t - this.prunedAt >= this.pruneEveryMs) {
      this.prunedAt = t;
      await this.prune(now);
    }
  }

  async maintain(queue: string, now: Date): Promise<void> {
    const t = now.getTime();
    if (t - (this.reconciledAt.get(queue) ?? 0) >= this.reconcileEveryMs) {
      this.reconciledAt.set(queue, t);
      for await (const doc of this.sync.unsettled(queue)) {
        await this.sync.reconcile(doc).catch((err: unknown) => this.fail(err, doc._id));
      }
    }
    if (t - this.prunedAt >= this.pruneEveryMs) {
      this.prunedAt = t;
      await this.prune(now);
    }
  }

  // --- internals ---

  private async infoOf(doc: TimeRangeRequestDocument): Promise<TimeRangeRequestInfo> {
    const counts = doc.counts ?? (await this.sync.count(doc));
    return toInfo(doc, counts);
  }

  private fail(err: unknown, request: string): void {
    this.emit('error', toError(err));
    this.host.logger.warn({ err, request }, 'time-range request maintenance failed');
  }
}

function toInfo(doc: TimeRangeRequestDocument, counts: TimeRangeCounts): TimeRangeRequestInfo {
  const { template: _template, counts: _counts, _id: id, ...rest } = doc;
  return {
    id,
    ...rest,
    counts,
    progress: counts.total ? (counts.done + counts.failed) / counts.total : 1,
  };
}
