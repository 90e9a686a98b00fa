/**
 * Every filter and update of the queues collection (one record per named queue; see
 * lib/store/queue-store.ts). The queue name is the `_id`, so every operation goes through the primary
 * key and no other index is needed.
 */
import type { Collection, Db, Filter, UpdateFilter } from 'mongodb';
import {
  freshQueueRecord,
  type QueueFuseState,
  type QueueOpenParams,
  type QueuePauseParams,
  type QueuePauseTypeParams,
  type QueueRecord,
  type QueueStore,
} from '../queue-store';
import { isDuplicateKey, storeError } from './errors';

/** The stored form: the record with its name as `_id`. */
type QueueDoc = Omit<QueueRecord, 'name'> & { _id: string };

/** The record of a stored document; fields an older record lacks get their defaults. */
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

/** A missing queue's record before its first write, as stored (`freshQueueRecord`). */
function newRecord(name: string, now: Date): QueueDoc {
  const { name: _id, ...rest } = freshQueueRecord(name, now);
  return { _id, ...rest };
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
   * Applies `update` to the record of `name`, creating the record first when it is missing (as
   * `MemoryQueueStore` does). Not an upsert: concurrent upserts of one new `_id` lose writes on
   * some servers (DocumentDB reports several of them as inserts and keeps one), while an insert
   * is decided by the unique `_id` index. One round trip once the record exists.
   */
  private async write(
    name: string,
    update: UpdateFilter<QueueDoc>,
    now: Date,
  ): Promise<QueueRecord> {
    const after = { returnDocument: 'after' } as const;
    const doc = await this.queues.findOneAndUpdate({ _id: name }, update, after);
    if (doc) return toRecord(doc);
    try {
      await this.queues.insertOne(newRecord(name, now));
    } catch (err) {
      // Another process created it meanwhile: update theirs.
      if (!isDuplicateKey(err)) throw storeError(`creating queue ${name}`, err);
    }
    const created = await this.queues.findOneAndUpdate({ _id: name }, update, after);
    if (!created) throw storeError(`updating queue ${name}`, 'no record after its insert');
    return toRecord(created);
  }

  async queueOpen(params: QueueOpenParams): Promise<QueueRecord> {
    const { name, now, options } = params;
    return this.write(
      name,
      { $set: { lastActive: now, options, modTime: now }, $inc: { modCount: 1 } },
      now,
    );
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
    return this.write(name, { $set: set, $inc: { modCount: 1 } }, now);
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
    return this.write(
      name,
      { $addToSet: { pausedTypes: type }, $set: { modTime: now }, $inc: { modCount: 1 } },
      now,
    );
  }

  async close(): Promise<void> {
    // The client belongs to whoever connected it.
  }
}
