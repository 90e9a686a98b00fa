/**
 * Every filter and update of the queues collection (one record per named queue; see
 * lib/store/queue-store.ts). The queue name is the `_id`, so every operation goes through the primary
 * key and no other index is needed.
 */
import type { Collection, Db, UpdateFilter } from 'mongodb';
import type {
  QueueFuseState,
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

/** MongoDB implementation of the queue-record storage protocol. */
export class MongoQueueStore implements QueueStore {
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

  async queueFuses(names: readonly string[]): Promise<QueueFuseState[]> {
    if (names.length === 0) return [];
    const docs = await this.queues
      .find(
        { _id: { $in: [...names] } },
        // One batch: no getMore round trip for a process with many queues.
        { projection: { paused: 1, pausedTypes: 1, modCount: 1 }, batchSize: names.length },
      )
      .toArray();
    return docs.map((d) => ({
      name: d._id,
      paused: d.paused ?? false,
      pausedTypes: d.pausedTypes ?? [],
      modCount: d.modCount,
    }));
  }

  async queueList(params: { after?: string; limit: number }): Promise<QueueRecord[]> {
    const filter = params.after === undefined ? {} : { _id: { $gt: params.after } };
    const docs = await this.queues.find(filter).sort({ _id: 1 }).limit(params.limit).toArray();
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
