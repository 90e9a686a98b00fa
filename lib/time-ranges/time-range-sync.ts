/**
 * Keeps a time-range request in step with its chunk jobs (see ./time-range-requests.ts): puts the
 * chunks, counts them, settles the request with one conditional write, and aborts the chunks left
 * after a failure or a cancel. Every step can be redone from the stored request alone, so a
 * process that dies between two steps leaves nothing another process cannot finish.
 */
import type { Logger } from 'pino';
import { DuplicateJobError } from '../errors';
import type { TypedEmitter } from '../events';
import type { Queue } from '../queue/queue';
import type {
  RequestStore,
  TimeRangeCounts,
  TimeRangeRequestDocument,
  TimeRangeState,
} from '../store/request-store';
import type { AbortOutcome, JobStore } from '../store/job-store';
import type { JobState } from '../types';
import {
  TimeRangeChunkJob,
  chunkIdPrefix,
  chunkJobId,
  splitTimeRange,
  type TimeRangeChunk,
} from './time-range-job';
import { requestMessage } from './time-range-messages';
import { LIVE_STATES, UNSUCCESSFUL_STATES } from '../states';

const PUT_BATCH = 500;
const PAGE = 100;
/**
 * Up to this many chunks, every finished chunk counts them all (and reports progress); above, a
 * finished chunk first looks for one unfinished chunk, and progress comes with maintenance.
 */
export const FULL_COUNT_MAX_CHUNKS = 100;
/** States in which a request's chunks decide its outcome. */
export const ACTIVE: TimeRangeState[] = ['pending', 'running'];

/** What requests need of their group. */
export interface TimeRangeHost {
  readonly logger: Logger;
  readonly stores: { jobs: JobStore; requests: RequestStore };
  get(queue: string): Promise<Queue>;
  abort(id: string): Promise<AbortOutcome>;
}

/** Payload of request events. */
export interface TimeRangeEvent {
  id: string;
  name: string;
  queue: string;
  state: TimeRangeState;
  counts: TimeRangeCounts;
  /** Readable outcome, e.g. "backfill of cpu for ... completed in 3 minutes"; empty for progress. */
  message: string;
  durationMs: number;
}

/** Events of requests, emitted by the process whose write made the change. */
export interface TimeRangeEventMap {
  started: [TimeRangeEvent];
  progress: [TimeRangeEvent];
  done: [TimeRangeEvent];
  failed: [TimeRangeEvent];
  cancelled: [TimeRangeEvent];
  error: [Error];
}

/** Counts of a request none of whose chunks has moved. */
export function emptyCounts(total: number): TimeRangeCounts {
  return { total, done: 0, failed: 0, running: 0, waiting: total };
}

/** The steps that keep requests in step with their chunks. */
export class RequestSync {
  constructor(
    private readonly host: TimeRangeHost,
    private readonly events: TypedEmitter<TimeRangeEventMap>,
    private readonly label: string,
    private readonly now: () => Date,
  ) {}

  private get requests(): RequestStore {
    return this.host.stores.requests;
  }

  /** Unsettled requests (of one queue, or all), ascending by ID. */
  async *unsettled(queue?: string): AsyncIterable<TimeRangeRequestDocument> {
    let afterId: string | undefined;
    for (;;) {
      const page = await this.requests.requestList({
        queue,
        unsettled: true,
        afterId,
        limit: PAGE,
      });
      yield* page;
      if (page.length < PAGE) return;
      afterId = page[page.length - 1]._id;
    }
  }

  /** Finishes what was left half done on a request; returns it as it is afterwards. */
  async reconcile(doc: TimeRangeRequestDocument): Promise<TimeRangeRequestDocument> {
    switch (doc.state) {
      case 'new':
        return this.materialize(doc);
      case 'pending':
      case 'running':
        return this.settle(doc);
      case 'failed':
      case 'cancelled':
        return doc.settled ? doc : this.abortRest(doc);
      case 'done':
        return doc.settled ? doc : ((await this.markSettled(doc)) ?? doc);
    }
  }

  /** Puts every chunk job (those that exist are skipped), then moves the request to pending. */
  async materialize(doc: TimeRangeRequestDocument): Promise<TimeRangeRequestDocument> {
    const queue = await this.host.get(doc.queue);
    const chunks = splitTimeRange(doc, doc.chunkMs);
    for (let i = 0; i < chunks.length; i += PUT_BATCH) {
      const jobs = chunks.slice(i, i + PUT_BATCH).map((c) => this.chunkJob(queue, doc, c));
      try {
        await queue.putMany(jobs);
      } catch (err) {
        // Put before (by us before a crash, or by another process finishing the submit).
        if (!(err instanceof DuplicateJobError)) throw err;
      }
    }
    const now = this.now();
    const after = await this.requests.requestTransition({
      id: doc._id,
      from: ['new'],
      update: { state: 'pending' },
      now,
    });
    const current = after ?? (await this.requests.requestGet(doc._id)) ?? doc;
    // Chunks may all have run while the request was still new: settle it now.
    return ACTIVE.includes(current.state) ? this.settle(current) : current;
  }

  /** Chunk `c` of a request, from the request's template. */
  private chunkJob(
    queue: Queue,
    doc: TimeRangeRequestDocument,
    c: TimeRangeChunk,
  ): TimeRangeChunkJob {
    const job = queue.options.registry.fromDocument<TimeRangeChunkJob>(doc.template);
    const id = chunkJobId(doc._id, c.num, c.total);
    const now = this.now();
    job.id = id;
    job.retryInfo.baseJobId = id;
    job.timeInfo.created = now;
    job.status.modTime = now;
    Object.assign(job, {
      requestId: doc._id,
      chunk: c.num,
      total: c.total,
      earliestMs: c.earliest.getTime(),
      latestMs: c.latest.getTime(),
    });
    return job;
  }

  /** Counts the request's chunks by the state of their newest attempt. */
  async count(doc: TimeRangeRequestDocument): Promise<TimeRangeCounts> {
    const prefix = chunkIdPrefix(doc._id);
    const rows = await this.host.stores.jobs.jobLatestStates({
      queue: doc.queue,
      idPrefix: prefix,
    });
    const counts = { ...emptyCounts(doc.total), waiting: 0 };
    let seen = 0;
    for (const r of rows) {
      if (!/^\d+$/.test(r.baseJobId.slice(prefix.length))) continue;
      seen++;
      if (r.state === 'completed') counts.done++;
      else if (r.state === 'running') counts.running++;
      else if (UNSUCCESSFUL_STATES.includes(r.state)) counts.failed++;
      else counts.waiting++;
    }
    // Pending, blocked, between two attempts, or not put yet.
    counts.waiting += Math.max(0, doc.total - seen);
    return counts;
  }

  /**
   * After a chunk ended `state`: settles its request if that was the last chunk, or a chunk out
   * of retries. Large requests skip the count (and the request read) while a chunk is left.
   */
  async chunkFinished(chunk: TimeRangeChunkJob, state: JobState): Promise<void> {
    const failed = state !== 'completed';
    if (!failed && chunk.total > FULL_COUNT_MAX_CHUNKS && (await this.hasUnfinished(chunk))) {
      return;
    }
    const doc = await this.requests.requestGet(chunk.requestId);
    if (!doc) return;
    await this.settle(doc, failed ? chunk : undefined);
  }

  /** Whether a chunk of the request is still waiting or running (one indexed read). */
  private async hasUnfinished(chunk: TimeRangeChunkJob): Promise<boolean> {
    const page = await this.host.stores.jobs.jobList({
      queue: chunk.queue,
      states: [...LIVE_STATES],
      idContains: chunkIdPrefix(chunk.requestId),
      limit: 1,
      anyOrder: true,
    });
    return page.length > 0;
  }

  /** Settles an active request when its chunks say so; reports progress otherwise. */
  async settle(
    doc: TimeRangeRequestDocument,
    failedChunk?: TimeRangeChunkJob,
  ): Promise<TimeRangeRequestDocument> {
    if (!ACTIVE.includes(doc.state)) return doc;
    const counts = await this.count(doc);
    let state: TimeRangeState | undefined;
    if (counts.failed > 0 && !doc.continueOnChunkFailure) state = 'failed';
    else if (counts.done + counts.failed === doc.total) state = 'done';
    if (!state) {
      this.events.emit('progress', this.event(doc, counts, ''));
      return doc;
    }
    return (await this.finish(doc, state, counts, ACTIVE, failedChunk)) ?? doc;
  }

  /**
   * Moves a request to a finished state with one conditional write; the process whose write wins
   * reports it and, for a failure or a cancel, aborts the chunks left. Null when another won.
   */
  async finish(
    doc: TimeRangeRequestDocument,
    state: TimeRangeState,
    counts: TimeRangeCounts,
    from: TimeRangeState[],
    failedChunk?: TimeRangeChunkJob,
  ): Promise<TimeRangeRequestDocument | null> {
    const now = this.now();
    const durationMs = now.getTime() - (doc.started ?? doc.created).getTime();
    const message = requestMessage({
      label: this.label,
      doc,
      state,
      counts,
      durationMs,
      failedChunk,
    });
    const after = await this.requests.requestTransition({
      id: doc._id,
      from,
      update: { state, finished: now, counts, message, settled: state === 'done' },
      now,
    });
    if (!after) return null;
    this.host.logger.info({ request: doc._id, queue: doc.queue, state, counts }, message);
    this.events.emit(state as 'done' | 'failed' | 'cancelled', this.event(after, counts, message));
    return state === 'done' ? after : this.abortRest(after);
  }

  /** Aborts the chunks of a failed or cancelled request that have not finished. */
  async abortRest(doc: TimeRangeRequestDocument): Promise<TimeRangeRequestDocument> {
    const prefix = chunkIdPrefix(doc._id);
    let afterId: string | undefined;
    for (;;) {
      const page = await this.host.stores.jobs.jobList({
        queue: doc.queue,
        states: [...LIVE_STATES],
        idContains: prefix,
        afterId,
        limit: PAGE,
      });
      for (const job of page) {
        if (job.retryInfo.baseJobId.startsWith(prefix)) await this.host.abort(job._id);
      }
      if (page.length < PAGE) break;
      afterId = page[page.length - 1]._id;
    }
    return (await this.markSettled(doc)) ?? doc;
  }

  private async markSettled(
    doc: TimeRangeRequestDocument,
  ): Promise<TimeRangeRequestDocument | null> {
    return this.requests.requestTransition({
      id: doc._id,
      from: [doc.state],
      update: { settled: true },
      now: this.now(),
    });
  }

  /** The event of a request. */
  event(doc: TimeRangeRequestDocument, counts: TimeRangeCounts, message: string): TimeRangeEvent {
    const end = doc.finished ?? this.now();
    return {
      id: doc._id,
      name: doc.name,
      queue: doc.queue,
      state: doc.state,
      counts,
      message,
      durationMs: end.getTime() - (doc.started ?? doc.created).getTime(),
    };
  }
}
