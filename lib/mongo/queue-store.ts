/**
 * Every filter and update of the queues collection (one record per named queue; see
 * lib/queue-store.ts). The queue name is the `_id`, so every operation goes through the primary
 * key and no other index is needed.
 */
import type { Collection, Db, Filter, UpdateFilter } from 'mongodb';
import type {
  QueueOpenParams,
  QueuePauseParams,
  QueuePauseTypeParams,
  QueueRecord,
  QueueStore,
} from '../queue-store';
import { isDuplicateKey, storeError } from './errors';

/** The stored form: the record with its name as `_id`. */
type QueueDoc = Omit<QueueRecord, 'name'> & { _id: string };

/** The record of a stored document; fields a partial upsert left out get their defaults. */
function toRecord(doc: QueueDoc): QueueRecord {
  const { _id, ...rest } = doc;
  return {
    ...rest,
    name: _id,
    paused: rest.paused ?? false,
    pausedAt: rest.pausedAt ?? null,
    pausedTypes: rest.pausedTypes ?? [],
    options: rest.options ?? {},
  };
}

/** The filter of `queueList`: a page of records after a name, in name (`_id`) order. */
function listFilter(params: { after?: string }): Filter<QueueDoc> {
  return params.after === undefined ? {} : { _id: { $gt: params.after } };
}

/** MongoDB implementation of the queue-record storage protocol. */
export class MongoQueueStore implements QueueStore {
  /** The filter of `queueList`, for index checks (test/store/explain.test.ts). */
  static readonly listFilter = listFilter;

  readonly queues: Collection<QueueDoc>;

  constructor(db: Db, collectionName = 'drover_queues') {
    this.queues = db.collection<QueueDoc>(collectionName);
  }

  async init(): Promise<void> {
    // Every query goes by `_id`; nothing to create.
  }

  /**
   * One upsert; two processes upserting the same new name at once may see a duplicate-key error
   * from the loser, which then matches the winner's document on its second try.
   */
  private async upsert(name: string, update: UpdateFilter<QueueDoc>): Promise<QueueRecord> {
    for (let attempt = 0; ; attempt++) {
      try {
        const doc = await this.queues.findOneAndUpdate({ _id: name }, update, {
          upsert: true,
          returnDocument: 'after',
        });
        if (!doc) throw storeError(`upserting queue ${name}`, 'no document returned');
        return toRecord(doc);
      } catch (err) {
        if (attempt === 0 && isDuplicateKey(err)) continue;
        throw isDuplicateKey(err) ? storeError(`upserting queue ${name}`, err) : err;
      }
    }
  }

  async queueOpen(params: QueueOpenParams): Promise<QueueRecord> {
    const { name, now, options } = params;
    return this.upsert(name, {
      $set: { lastActive: now, options, modTime: now },
      $setOnInsert: { created: now, paused: false, pausedAt: null, pausedTypes: [] },
      $inc: { modCount: 1 },
    });
  }

  async queueGet(name: string): Promise<QueueRecord | null> {
    const doc = await this.queues.findOne({ _id: name });
    return doc ? toRecord(doc) : null;
  }

  async queueList(params: { after?: string; limit: number }): Promise<QueueRecord[]> {
    const docs = await this.queues
      .find(listFilter(params))
      .sort({ _id: 1 })
      .limit(params.limit)
      .toArray();
    return docs.map(toRecord);
  }

  async queueTouch(params: { name: string; now: Date }): Promise<boolean> {
    const res = await this.queues.updateOne(
      { _id: params.name },
      { $max: { lastActive: params.now } },
    );
    return res.matchedCount > 0;
  }

  async queuePause(params: QueuePauseParams): Promise<QueueRecord | null> {
    const { name, paused, now } = params;
    const set = { paused, pausedAt: paused ? now : null, modTime: now };
    if (!paused) {
      const doc = await this.queues.findOneAndUpdate(
        { _id: name },
        { $set: set, $inc: { modCount: 1 } },
        { returnDocument: 'after' },
      );
      return doc ? toRecord(doc) : null;
    }
    return this.upsert(name, {
      $set: set,
      $setOnInsert: { created: now, lastActive: now, pausedTypes: [], options: {} },
      $inc: { modCount: 1 },
    });
  }

  async queuePauseType(params: QueuePauseTypeParams): Promise<QueueRecord | null> {
    const { name, type, paused, now } = params;
    if (!paused) {
      const doc = await this.queues.findOneAndUpdate(
        { _id: name },
        { $pull: { pausedTypes: type }, $set: { modTime: now }, $inc: { modCount: 1 } },
        { returnDocument: 'after' },
      );
      return doc ? toRecord(doc) : null;
    }
    // `$addToSet` creates the array on insert, so `pausedTypes` is not in `$setOnInsert`.
    return this.upsert(name, {
      $addToSet: { pausedTypes: type },
      $set: { modTime: now },
      $setOnInsert: { created: now, lastActive: now, paused: false, pausedAt: null, options: {} },
      $inc: { modCount: 1 },
    });
  }

  async close(): Promise<void> {
    // The client belongs to whoever connected it.
  }
}
