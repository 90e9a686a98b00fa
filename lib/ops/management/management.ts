/**
 * The management API: what operators (the CLI, the dashboard, a user's code) see and do. It reads
 * through the job store's management methods and changes jobs only with guarded conditional
 * writes; every action reports what it changed. Every input is validated before it reaches a
 * filter, so `{ "$gt": "" }` as an ID or a queue name is an InvalidArgumentError.
 */
import { InvalidArgumentError, QueueNotFoundError } from '../../errors';
import { QueueGroup } from '../../group/queue-group';
import type { QueueRecord, QueueStore } from '../../store/queue-store';
import { RetryHandler } from '../../retry/retry-handler';
import type { JobCountRow, JobStore } from '../../store/job-store';
import type { Stores } from '../../store/store-set';
import { emptyQueueStats, JOB_STATES, type JobState, type QueueStats } from '../../types';
import { checkAttemptId, checkNumber, checkQueueName, checkTypeName } from '../../validate';
import {
  completeJob,
  deleteJob,
  newestAttempt,
  releaseLocks,
  report,
  requeueJob,
  retryJob,
  type Reservation,
} from './actions';
import { ScopeLocks } from '../../scopes/scope-locks';
import type { WorkerRecord, WorkerStore } from '../../store/worker-store';
import { attemptDetail } from './attempts';
import type { RollupStore } from '../../store/rollup-store';
import {
  deleteFinished,
  retryMany,
  type BulkOptions,
  type BulkResult,
  type DeleteFinishedFilter,
} from './bulk';
import {
  readHistory,
  readRates,
  type History,
  type HistoryQuery,
  type Rates,
  type RatesQuery,
} from './history';
import { JobLocks } from './locks';
import { checkStates, countParams, encodeCursor, pageParams } from './filters';
import {
  resolveManagementOptions,
  type ActionResult,
  type Counts,
  type FuseResult,
  type JobDetail,
  type JobFilter,
  type JobPage,
  type ManagementOptions,
  type PageOptions,
  type PruneOptions,
  type PruneResult,
  type ResolvedManagementOptions,
  type TotalStats,
  type TypeStats,
} from './types';
import { FINISHED_STATES } from '../../states';

/** Page size when reading queue records. */
const RECORD_PAGE = 500;

/** Zero counts. */
function emptyTotals(): TotalStats {
  const { queue: _queue, ...totals } = emptyQueueStats('');
  return totals;
}

function addRow(into: TotalStats, row: JobCountRow): void {
  into.total += row.count;
  into.due += row.due;
  if ((JOB_STATES as readonly string[]).includes(row.state)) into[row.state] += row.count;
}

/** Admin operations over the jobs of every queue. */
export class Management {
  readonly store: JobStore;
  readonly queueStore: QueueStore;
  readonly workerStore: WorkerStore;
  readonly rollupStore: RollupStore;
  readonly options: ResolvedManagementOptions;
  private readonly group?: QueueGroup;
  private readonly retryHandler: RetryHandler;
  /** New attempts made by retry/requeue take the job's enqueue scopes again, as a put would. */
  private readonly reservation: Reservation;
  /** Jobs ended or deleted here run no queue extension: their scope locks are given back here. */
  private readonly locks: JobLocks;

  /**
   * @param source a queue group (aborts and pauses then take effect in this process at once) or
   *   the stores of a deployment (as the CLI uses it: other processes see every change within
   *   one heartbeat or maintenance pass).
   */
  constructor(source: QueueGroup | Stores, options: ManagementOptions = {}) {
    const stores = source instanceof QueueGroup ? source.stores : source;
    if (source instanceof QueueGroup) this.group = source;
    this.store = stores.jobs;
    this.queueStore = stores.queues;
    this.workerStore = stores.workers;
    this.rollupStore = stores.rollups;
    this.retryHandler = source instanceof QueueGroup ? source.retry : new RetryHandler(this.store);
    // The store's clock (the database server's) unless one is injected, as everywhere.
    this.options = resolveManagementOptions({
      ...options,
      now: options.now ?? this.store.clock.now,
    });
    const scopes = new ScopeLocks(stores);
    this.locks = new JobLocks(stores);
    this.reservation = {
      reserve: (doc) => scopes.beforeInsert(doc.queue, [doc]),
      unreserve: (doc) => scopes.insertFailed(doc.queue, [doc]),
    };
  }

  /** Counts by queue, job type and state, from one aggregation (one queue when given). */
  async counts(filter: { queue?: string } = {}): Promise<Counts> {
    const queue = filter.queue === undefined ? undefined : checkQueueName(filter.queue);
    const rows = await this.store.jobCounts({ queue, now: this.options.now() });
    const queues = new Map<string, QueueStats>();
    const types = new Map<string, TypeStats>();
    const totals = emptyTotals();
    for (const row of rows) {
      const q = queues.get(row.queue) ?? { queue: row.queue, ...emptyTotals() };
      const key = JSON.stringify([row.queue, row.type]);
      const t = types.get(key) ?? { queue: row.queue, type: row.type, ...emptyTotals() };
      addRow(q, row);
      addRow(t, row);
      addRow(totals, row);
      queues.set(row.queue, q);
      types.set(key, t);
    }
    return { queues: [...queues.values()], types: [...types.values()], totals, rows };
  }

  /**
   * Live workers: one record per queue group running pools in any process, with the state a
   * `beforeRun` hook holds them in (see lib/group/worker-presence.ts); of one queue when given.
   */
  async workers(filter: { queue?: string } = {}): Promise<WorkerRecord[]> {
    const queue = filter.queue === undefined ? undefined : checkQueueName(filter.queue);
    return this.workerStore.workerList({ now: this.options.now(), queue });
  }

  /** Names of every queue holding at least one job. */
  async queueNames(): Promise<string[]> {
    return this.store.jobQueueNames();
  }

  /**
   * Whether a queue exists: it has a record (some group opened or paused it) or holds jobs.
   * Actions on a queue refuse one that does not (a typo must not create a queue).
   */
  async queueExists(name: string): Promise<boolean> {
    checkQueueName(name);
    if (await this.queueStore.queueGet(name)) return true;
    return (await this.store.jobList({ queue: name, limit: 1 })).length > 0;
  }

  /** Throws QueueNotFoundError unless the queue exists (see `queueExists`). */
  async assertQueue(name: string): Promise<string> {
    if (!(await this.queueExists(name))) throw new QueueNotFoundError(name);
    return name;
  }

  /**
   * One page of attempts matching `filter`, without payloads. The default order is newest
   * first (by creation time, then ID descending); `order: 'id'` pages ascending by ID. Pass
   * `nextCursor` (or `prevCursor`) back to get the next (or previous) page; jobs created
   * meanwhile do not shift pages. `nextCursor` is null on the last page, even a full one.
   */
  async list(filter: JobFilter = {}, page: PageOptions = {}): Promise<JobPage> {
    const params = pageParams(filter, page);
    // One row more than asked tells whether another page follows (or precedes).
    const rows = await this.store.jobPage({ ...params, limit: params.limit + 1 });
    const more = rows.length > params.limit;
    const jobs = rows.slice(0, params.limit).map((d) => ({ id: d._id, ...d }));
    const backwards = params.before !== undefined;
    if (backwards) jobs.reverse();
    const first = jobs[0];
    const last = jobs[jobs.length - 1];
    const hasNext = backwards || more;
    const hasPrev = backwards ? more : params.after !== undefined;
    return {
      jobs,
      nextCursor: hasNext && last ? encodeCursor(params.order, last) : null,
      prevCursor: hasPrev && first ? encodeCursor(params.order, first, true) : null,
    };
  }

  /** How many attempts match `filter` (the total of what `list` pages through). */
  async count(filter: JobFilter = {}): Promise<number> {
    return this.store.jobCount(countParams(filter));
  }

  /**
   * A job in full: its newest attempt (payload, status, time and retry info) and every attempt
   * with its errors and timings. `id` is a job ID or an attempt ID (`id#n`). Undefined if absent.
   */
  async job(id: string): Promise<JobDetail | undefined> {
    checkAttemptId(id);
    const latest = await newestAttempt(this.store, id);
    if (!latest) return undefined;
    const base = latest.retryInfo?.baseJobId ?? latest._id;
    const attempts = await this.store.jobAttempts(base);
    if (!attempts.some((a) => a._id === latest._id)) attempts.push(latest);
    return {
      id: base,
      queue: latest.queue,
      type: latest.type,
      state: latest.state,
      latest: { id: latest._id, ...latest },
      attempts: attempts.map(attemptDetail),
    };
  }

  /**
   * Aborts a job wherever it runs: a pending or blocked job ends `aborted` at once ('done'); a
   * running one is flagged and its worker aborts it within one heartbeat ('requested').
   */
  async abort(id: string): Promise<ActionResult> {
    checkAttemptId(id);
    // Like every action, abort acts on the job's newest attempt.
    const doc = await newestAttempt(this.store, id);
    if (!doc) return report('abort', id, 'not-found');
    const target = doc._id;
    const outcome = this.group
      ? await this.group.abort(target)
      : await this.store.jobRequestAbort(target, this.options.now());
    switch (outcome) {
      case 'aborted': {
        // Ended before it ran: no hook gives its enqueue scopes back.
        const done = report('abort', id, 'done', { changed: 1, ids: [target], state: 'aborted' });
        return releaseLocks(this.locks, doc, [target], done);
      }
      case 'requested':
        return report('abort', id, 'requested', { changed: 1, ids: [target], state: 'running' });
      case 'finished':
        return report('abort', id, 'refused', {
          state: doc.state,
          reason: `job ${target} has already finished`,
        });
      default:
        return report('abort', id, 'not-found');
    }
  }

  /**
   * Runs a failed, aborted or expired job again now (a new attempt, see
   * `RetryHandler.retryNow`); a pending one waiting on a delay becomes due now.
   */
  async retry(id: string): Promise<ActionResult> {
    return retryJob(
      this.retryHandler,
      checkAttemptId(id),
      this.options.now(),
      'retry',
      this.reservation,
    );
  }

  /** Runs a finished job again (a new attempt; a quarantined one in place). */
  async requeue(id: string): Promise<ActionResult> {
    return requeueJob(this.retryHandler, checkAttemptId(id), this.options.now(), this.reservation);
  }

  /** Marks a pending, blocked or failed job completed. */
  async complete(id: string): Promise<ActionResult> {
    return completeJob(this.store, checkAttemptId(id), this.options.now(), this.locks);
  }

  /** Deletes a job and all its attempts; refuses a running job unless `force`. */
  async delete(id: string, options: { force?: boolean } = {}): Promise<ActionResult> {
    if (options.force !== undefined && typeof options.force !== 'boolean') {
      throw new InvalidArgumentError('force must be a boolean');
    }
    return deleteJob(this.store, checkAttemptId(id), options.force ?? false, this.locks);
  }

  /** Records of every queue (fuses: `paused`, `pausedTypes`), ascending by name. */
  async queueRecords(): Promise<QueueRecord[]> {
    const out: QueueRecord[] = [];
    for (;;) {
      const after = out.length > 0 ? out[out.length - 1].name : undefined;
      const page = await this.queueStore.queueList({ after, limit: RECORD_PAGE });
      out.push(...page);
      if (page.length < RECORD_PAGE) return out;
    }
  }

  /**
   * Pauses a queue (or one job type in it) in every process: no runner pool claims from it;
   * its jobs stay pending and running ones finish. QueueNotFoundError for a queue that does not
   * exist (no record, no jobs): nothing is written.
   */
  async pause(queue: string, options: { type?: string } = {}): Promise<FuseResult> {
    return this.setFuse('pause', queue, options.type);
  }

  /** Resumes a paused queue (or job type). */
  async resume(queue: string, options: { type?: string } = {}): Promise<FuseResult> {
    return this.setFuse('resume', queue, options.type);
  }

  private async setFuse(
    action: 'pause' | 'resume',
    queue: string,
    type: string | undefined,
  ): Promise<FuseResult> {
    checkQueueName(queue);
    if (type !== undefined) checkTypeName(type);
    await this.assertQueue(queue);
    const paused = action === 'pause';
    const before = await this.queueStore.queueGet(queue);
    const now = this.options.now();
    let after: QueueRecord | null | undefined;
    if (this.group) {
      if (type === undefined) {
        after = paused ? await this.group.pause(queue) : await this.group.resume(queue);
      } else {
        after = paused
          ? await this.group.pauseType(queue, type)
          : await this.group.resumeType(queue, type);
      }
    } else if (type === undefined) {
      after = await this.queueStore.queuePause({ name: queue, paused, now });
    } else {
      after = await this.queueStore.queuePauseType({ name: queue, type, paused, now });
    }
    const was = type === undefined ? before?.paused : before?.pausedTypes.includes(type);
    const changed = (was ?? false) !== paused ? 1 : 0;
    const result: FuseResult = {
      action,
      queue,
      changed,
      paused: after?.paused ?? false,
      pausedTypes: after?.pausedTypes ?? [],
    };
    if (type !== undefined) result.type = type;
    return result;
  }

  /**
   * Retries every job whose newest attempt matches `filter` (states `failed` by default;
   * `failed`, `aborted` and `expired` are allowed), each as `retry(id)` does. It counts the
   * matches first; with `dryRun` it stops there (show the count, ask, then call again).
   */
  async retryMany(filter: JobFilter = {}, options: BulkOptions = {}): Promise<BulkResult> {
    return retryMany(this.store, filter, options, (id) => this.retry(id));
  }

  /**
   * Deletes the finished attempts (of a queue, a job type, some finished states) that ended more
   * than `olderThanMs` ago, in batches, as `prune` does. It counts them first; with `dryRun` it
   * stops there.
   */
  async deleteFinished(
    filter: DeleteFinishedFilter,
    options: BulkOptions = {},
  ): Promise<BulkResult> {
    return deleteFinished(this.store, filter, {
      ...options,
      now: this.options.now(),
      batchSize: this.options.pruneBatchSize,
    });
  }

  /**
   * Counts, queue waits and run times over time, from the rollups the workers keep: one series
   * per queue (or per queue and job type), one point per bucket of the window (default the last
   * hour by minute).
   */
  async history(query: HistoryQuery = {}): Promise<History> {
    return readHistory(this.rollupStore, query, this.options.now());
  }

  /** Totals and per-minute rates over a window (default the last hour), from the rollups. */
  async rates(query: RatesQuery = {}): Promise<Rates> {
    return readRates(this.rollupStore, query, this.options.now());
  }

  /**
   * Retention: deletes attempts in a finished state (by default all of them: retrying,
   * completed, failed, aborted, expired, quarantined) that ended more than `olderThanMs` ago
   * (default `retentionMs`, 14 days), in batches, queue by queue. Attempts with no end time
   * (documents quarantined when loaded) are kept; pending, blocked and running ones never match.
   */
  async prune(options: PruneOptions = {}): Promise<PruneResult> {
    const olderThanMs = checkNumber(
      'olderThanMs',
      options.olderThanMs ?? this.options.retentionMs,
      0,
      1e13,
    );
    const states =
      options.states === undefined ? [...FINISHED_STATES] : checkStates(options.states);
    const notFinished = states.filter((s: JobState) => !FINISHED_STATES.includes(s));
    if (notFinished.length > 0) {
      throw new InvalidArgumentError(`prune deletes only finished states, not ${notFinished[0]}`);
    }
    const queues =
      options.queue === undefined
        ? await this.store.jobQueueNames()
        : [await this.assertQueue(checkQueueName(options.queue))];
    const cutoff = new Date(this.options.now().getTime() - olderThanMs);
    const limit = this.options.pruneBatchSize;
    const result: PruneResult = { changed: 0, cutoff, byQueue: {} };
    for (const queue of queues) {
      let n = 0;
      for (;;) {
        const deleted = await this.store.jobPrune({ queue, endedBefore: cutoff, states, limit });
        n += deleted;
        if (deleted < limit) break;
      }
      if (n > 0) result.byQueue[queue] = n;
      result.changed += n;
    }
    return result;
  }
}
