/**
 * Every filter and update of the workers collection (worker presence; see lib/store/worker-store.ts).
 * It holds one small record per live group, so lists scan it whole: no index beyond `_id`.
 */
import type { Collection, Db, Filter } from 'mongodb';
import type { WorkerRecord, WorkerStore } from '../worker-store';

/** The filter of `workerList`: live records, of one queue when given. */
function listFilter(params: { now: Date; queue?: string }): Filter<WorkerRecord> {
  const filter: Filter<WorkerRecord> = { expiresAt: { $gt: params.now } };
  if (params.queue !== undefined) filter['queues.name'] = params.queue;
  return filter;
}

/** MongoDB implementation of the worker-presence storage protocol. */
export class MongoWorkerStore implements WorkerStore {
  /** The filter of `workerList`, for the query checks (test/store/explain.test.ts). */
  static readonly listFilter = listFilter;

  readonly workers: Collection<WorkerRecord>;

  constructor(db: Db, collectionName = 'drover_workers') {
    this.workers = db.collection<WorkerRecord>(collectionName);
  }

  async init(): Promise<void> {
    // Every write goes by `_id`; lists read a collection of a few records.
  }

  async workerSave(record: WorkerRecord): Promise<void> {
    await this.workers.replaceOne({ _id: record._id }, record, { upsert: true });
  }

  async workerList(params: { now: Date; queue?: string }): Promise<WorkerRecord[]> {
    return this.workers.find(listFilter(params)).sort({ _id: 1 }).toArray();
  }

  async workerRemove(id: string): Promise<boolean> {
    return (await this.workers.deleteOne({ _id: id })).deletedCount === 1;
  }

  async workerPrune(before: Date): Promise<number> {
    return (await this.workers.deleteMany({ expiresAt: { $lt: before } })).deletedCount;
  }

  async close(): Promise<void> {
    // The client belongs to whoever connected it.
  }
}
