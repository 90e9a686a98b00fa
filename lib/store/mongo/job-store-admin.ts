/**
 * The jobs collection module, its listing and management side: statistics, lists and pages,
 * counts, deletes and prunes, and the queries of the event followers. `MongoJobStore`
 * (job-store.ts) extends this class with the claim-run-record path; job-claim.ts holds the claim,
 * job-filters.ts the shared filter builders and job-indexes.ts the indexes. Nothing else in drover reads or writes
 * job documents in MongoDB.
 */
import type { Collection } from 'mongodb';
import {
  compareStrings,
  type JobChangedSinceParams,
  type JobCountParams,
  type JobCountRow,
  type JobLatestState,
  type JobListParams,
  type JobPageParams,
  type JobPruneParams,
  type JobSummaryDocument,
} from '../job-store';
import {
  emptyQueueStats,
  JOB_STATES,
  type JobDocument,
  type JobState,
  type QueueStats,
} from '../../types';
import { withJobDefaults } from '../../job-document';
import {
  CHANGED_SORT,
  changedSinceFilter,
  CURRENT_ATTEMPT_FILTER,
  dueFilter,
  latestStatesFilter,
  listFilter,
  pageFilter,
  pageSort,
  pruneFilter,
} from './job-filters';
import { CHANGED_INDEX } from './job-indexes';

type Doc = JobDocument;

/** The listing and management queries of `MongoJobStore`, over its collection. */
/** Lists carry no payload, log or result (a result may be up to 1 MiB): `job()` reads them. */
const LIST_PROJECTION = { payload: 0, returnValue: 0, 'status.log': 0 } as const;
/** The change feed keeps the result, for the `completed` event of a follower. */
const CHANGES_PROJECTION = { payload: 0, 'status.log': 0 } as const;

export abstract class MongoJobStoreAdmin {
  /** The build of the followers' index, once per store (see CHANGED_INDEX). */
  private changedIndex?: Promise<unknown>;

  constructor(readonly jobs: Collection<Doc>) {}

  async jobStats(queue: string, now: Date): Promise<QueueStats> {
    const [groups, due] = await Promise.all([
      this.jobs
        .aggregate<{ _id: string; n: number }>([
          // Per job: the attempts a job left behind are its history, not more jobs.
          { $match: { queue, ...CURRENT_ATTEMPT_FILTER } },
          { $group: { _id: '$state', n: { $sum: 1 } } },
        ])
        .toArray(),
      this.jobs.countDocuments(dueFilter(queue, now)),
    ]);
    const stats: QueueStats = { ...emptyQueueStats(queue), due };
    for (const g of groups) {
      if ((JOB_STATES as readonly string[]).includes(g._id))
        stats[g._id as keyof Omit<QueueStats, 'queue'>] = g.n;
      stats.total += g.n;
    }
    return stats;
  }

  async jobList(params: JobListParams): Promise<Doc[]> {
    const states = params.states ?? [];
    if (states.length > 1) {
      // One query per state, each a range of that state's partial index, merged in ID order:
      // a `$in` over states has no index (no index keys `state` for every document).
      const pages = await Promise.all(states.map((s) => this.jobList({ ...params, states: [s] })));
      return pages
        .flat()
        .sort((a, b) => compareStrings(a._id, b._id))
        .slice(0, params.limit);
    }
    const cursor = this.jobs.find(listFilter(params)).limit(params.limit);
    if (!params.anyOrder) cursor.sort({ _id: 1 });
    return (await cursor.toArray()).map(withJobDefaults);
  }

  async jobCounts(params: { queue?: string; now: Date }): Promise<JobCountRow[]> {
    type Group = { _id: { queue: string; type: string; state: JobState }; n: number; due: number };
    const isDue = { $and: [{ $eq: ['$state', 'pending'] }, { $lte: ['$dueAt', params.now] }] };
    const rows = await this.jobs
      .aggregate<Group>([
        {
          $match:
            params.queue === undefined
              ? CURRENT_ATTEMPT_FILTER
              : { queue: params.queue, ...CURRENT_ATTEMPT_FILTER },
        },
        {
          $group: {
            _id: { queue: '$queue', type: '$type.name', state: '$state' },
            n: { $sum: 1 },
            due: { $sum: { $cond: [isDue, 1, 0] } },
          },
        },
        { $sort: { '_id.queue': 1, '_id.type': 1, '_id.state': 1 } },
      ])
      .toArray();
    return rows.map((r) => ({
      queue: String(r._id.queue ?? ''),
      type: String(r._id.type ?? ''),
      // A malformed document may hold no state or an unknown one; callers count it in totals.
      state: String(r._id.state ?? '') as JobState,
      count: r.n,
      due: r.due,
    }));
  }

  async jobPage(params: JobPageParams): Promise<JobSummaryDocument[]> {
    const docs = await this.jobs
      .find(pageFilter(params), { projection: LIST_PROJECTION })
      .sort(pageSort(params))
      .limit(params.limit)
      .toArray();
    return docs.map(withJobDefaults);
  }

  async jobCount(params: JobCountParams): Promise<number> {
    return this.jobs.countDocuments(pageFilter({ ...params, order: 'id', limit: 0 }));
  }

  async jobPruneCount(params: Omit<JobPruneParams, 'limit'>): Promise<number> {
    return this.jobs.countDocuments(pruneFilter(params));
  }

  async jobDelete(params: { id: string; modCount: number; from: JobState[] }): Promise<boolean> {
    const res = await this.jobs.deleteOne({
      _id: params.id,
      'status.modCount': params.modCount,
      state: { $in: params.from },
    });
    return res.deletedCount === 1;
  }

  async jobPrune(params: JobPruneParams): Promise<number> {
    // Served by the `finished_end` index. Reading IDs first bounds the batch (deleteMany has no limit);
    // the delete re-checks the filter, so an attempt that changed meanwhile is kept.
    const filter = pruneFilter(params);
    const ids = (
      await this.jobs.find(filter, { projection: { _id: 1 }, limit: params.limit }).toArray()
    ).map((d) => d._id);
    if (ids.length === 0) return 0;
    const res = await this.jobs.deleteMany({ ...filter, _id: { $in: ids } });
    return res.deletedCount;
  }

  async jobQueueNames(): Promise<string[]> {
    const names = await this.jobs.distinct('queue');
    return names.filter((n): n is string => typeof n === 'string').sort();
  }

  // --- events ---

  async jobChangedSince(params: JobChangedSinceParams): Promise<JobSummaryDocument[]> {
    // Served by the `changed` index (queue, status.modTime, _id), which the first follower
    // builds. Its reads do not wait for the build (a follower started before a job runs must see
    // it run): until the index is there they read without it. A failed build is tried again.
    this.changedIndex ??= this.jobs.createIndexes([CHANGED_INDEX]).then(
      () => true,
      () => (this.changedIndex = undefined),
    );
    const docs = await this.jobs
      .find(changedSinceFilter(params), { projection: CHANGES_PROJECTION })
      .sort(CHANGED_SORT)
      .limit(params.limit)
      .toArray();
    return docs.map(withJobDefaults);
  }

  async jobLatestStates(params: { queue: string; idPrefix: string }): Promise<JobLatestState[]> {
    // Attempt IDs start with their base ID: an anchored pattern is a range scan of `_id`.
    const docs = await this.jobs
      .find(latestStatesFilter(params.queue, params.idPrefix), {
        projection: { state: 1, 'retryInfo.baseJobId': 1, 'retryInfo.currentAttempt': 1 },
      })
      .toArray();
    return newestAttempts(
      docs.map((d) => ({
        id: d._id,
        baseJobId: d.retryInfo.baseJobId,
        attempt: d.retryInfo.currentAttempt,
        state: d.state,
      })),
    );
  }
}

/** Keeps the newest attempt of each base job. */
function newestAttempts(rows: JobLatestState[]): JobLatestState[] {
  const newest = new Map<string, JobLatestState>();
  for (const r of rows) {
    const seen = newest.get(r.baseJobId);
    if (!seen || seen.attempt < r.attempt) newest.set(r.baseJobId, r);
  }
  return [...newest.values()];
}
