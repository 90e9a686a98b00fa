/**
 * Every filter, update and index of the time-range requests collection (see
 * lib/store/request-store.ts). Transitions match on `_id`, the expected states and, when given,
 * `modCount`, so concurrent settlers cannot both win.
 */
import type { Collection, Db, Filter, IndexDescription } from 'mongodb';
import { InvalidArgumentError } from '../../errors';
import {
  TIME_RANGE_FINISHED,
  type RequestListParams,
  type RequestStore,
  type RequestTransitionParams,
  type TimeRangeRequestDocument,
} from '../request-store';
import { isDuplicateKey, storeError } from './errors';

type Doc = TimeRangeRequestDocument;

/** Serves maintenance passes: the unsettled requests of one queue. */
export const REQUEST_UNSETTLED_INDEX: IndexDescription = {
  name: 'unsettled',
  key: { settled: 1, queue: 1, _id: 1 },
};

/** Serves pruning: finished requests by finish time. */
export const REQUEST_FINISHED_INDEX: IndexDescription = {
  name: 'finished',
  key: { state: 1, finished: 1 },
};

/** The filter of `requestList` (maintenance passes list the unsettled requests of a queue). */
export function requestListFilter(params: Omit<RequestListParams, 'limit'>): Filter<Doc> {
  const filter: Filter<Doc> = {};
  if (params.unsettled) filter.settled = false;
  if (params.queue !== undefined) filter.queue = params.queue;
  if (params.states !== undefined) filter.state = { $in: [...params.states] };
  if (params.afterId !== undefined) filter._id = { $gt: params.afterId };
  return filter;
}

/** MongoDB implementation of the request storage protocol. */
export class MongoRequestStore implements RequestStore {
  /** The filter of `requestList`, for index checks (test/store/explain.test.ts). */
  static readonly listFilter = requestListFilter;

  readonly requests: Collection<Doc>;

  constructor(db: Db, collectionName = 'drover_requests') {
    this.requests = db.collection<Doc>(collectionName);
  }

  async init(): Promise<void> {
    try {
      await this.requests.createIndexes([REQUEST_UNSETTLED_INDEX, REQUEST_FINISHED_INDEX]);
    } catch (err) {
      throw storeError('creating request indexes', err);
    }
  }

  async requestInsert(doc: Doc): Promise<void> {
    try {
      await this.requests.insertOne(doc);
    } catch (err) {
      if (isDuplicateKey(err)) {
        throw new InvalidArgumentError(`time-range request ${doc._id} already exists`);
      }
      throw storeError('inserting a time-range request', err);
    }
  }

  async requestGet(id: string): Promise<Doc | null> {
    return this.requests.findOne({ _id: id });
  }

  async requestTransition(params: RequestTransitionParams): Promise<Doc | null> {
    const filter: Filter<Doc> = { _id: params.id, state: { $in: [...params.from] } };
    if (params.modCount !== undefined) filter.modCount = params.modCount;
    const set: Record<string, unknown> = { modTime: params.now };
    for (const [key, value] of Object.entries(params.update)) {
      if (value !== undefined) set[key] = value;
    }
    return this.requests.findOneAndUpdate(
      filter,
      { $set: set, $inc: { modCount: 1 } },
      { returnDocument: 'after' },
    );
  }

  async requestList(params: RequestListParams): Promise<Doc[]> {
    return this.requests
      .find(requestListFilter(params))
      .sort({ _id: 1 })
      .limit(params.limit)
      .toArray();
  }

  async requestPrune(params: { finishedBefore: Date; limit: number }): Promise<number> {
    // Reading IDs first bounds the batch (deleteMany has no limit); the delete re-checks.
    const filter: Filter<Doc> = {
      state: { $in: [...TIME_RANGE_FINISHED] },
      finished: { $lt: params.finishedBefore },
      settled: true,
    };
    const ids = (
      await this.requests.find(filter, { projection: { _id: 1 }, limit: params.limit }).toArray()
    ).map((d) => d._id);
    if (ids.length === 0) return 0;
    const res = await this.requests.deleteMany({ ...filter, _id: { $in: ids } });
    return res.deletedCount;
  }

  async close(): Promise<void> {}
}
