/**
 * Every filter, update, aggregation and index of the rollups collection (history; see
 * lib/store/rollup-store.ts). Writes go by `_id`: an insert of the documents not seen yet, then
 * one unordered bulk write of `$inc`/`$max` updates. Reads are a `$group` over a range of
 * `minute`, served by the `minute` index (every queue) or the `queue_minute` index (one queue);
 * the TTL index on `expiresAt` also serves `rollupPrune`.
 */
import type { AnyBulkWriteOperation, Collection, Db, Document, Filter } from 'mongodb';
import { MongoBulkWriteError } from 'mongodb';
import {
  emptyRollup,
  ROLLUP_COUNT_FIELDS,
  ROLLUP_MAX_FIELDS,
  rollupId,
  type RollupAddParams,
  type RollupDelta,
  type RollupDocument,
  type RollupStore,
  type RollupSum,
  type RollupSumsParams,
} from '../rollup-store';
import { DUPLICATE_KEY, isDuplicateKey } from './errors';

/** Range reads of every queue (the overview, history of all queues). */
const MINUTE_INDEX = { name: 'minute', key: { minute: 1, queue: 1, type: 1 } } as const;
/** Range reads of one queue (its history, `stats --since --queue`). */
const QUEUE_MINUTE_INDEX = { name: 'queue_minute', key: { queue: 1, minute: 1 } } as const;
/** Removes a document once `expiresAt` has passed (where the server runs a TTL monitor). */
const EXPIRES_INDEX = { name: 'expires', key: { expiresAt: 1 }, expireAfterSeconds: 0 } as const;

/** IDs of documents known to exist, kept to skip the insert step; cleared past this size. */
const KNOWN_IDS_MAX = 10_000;

/** The document of a delta with every counter at zero (what the insert step creates). */
function zeroDocument(d: RollupDelta, retentionMs: number): RollupDocument {
  return {
    _id: rollupId(d.queue, d.type, d.minute),
    queue: d.queue,
    type: d.type,
    minute: d.minute,
    expiresAt: new Date(d.minute.getTime() + retentionMs),
    ...emptyRollup(),
  };
}

/**
 * The update adding one delta to its document. It upserts only so that a document deleted since
 * its insert step (emptied by hand, expired early) is made again rather than its delta lost.
 */
function addOperation(d: RollupDelta, retentionMs: number): AnyBulkWriteOperation<RollupDocument> {
  const inc: Record<string, number> = {};
  for (const f of ROLLUP_COUNT_FIELDS) if (d[f] !== 0) inc[f] = d[f];
  const max: Record<string, number | Date> = {
    expiresAt: new Date(d.minute.getTime() + retentionMs),
  };
  for (const f of ROLLUP_MAX_FIELDS) if (d[f] > 0) max[f] = d[f];
  return {
    updateOne: {
      filter: { _id: rollupId(d.queue, d.type, d.minute) },
      update: {
        $setOnInsert: { queue: d.queue, type: d.type, minute: d.minute },
        ...(Object.keys(inc).length > 0 ? { $inc: inc } : {}),
        $max: max,
      },
      upsert: true,
    },
  };
}

/** The `$match` of `rollupSums`: minutes in [from, to), of a queue and type when given. */
function sumsMatch(params: Omit<RollupSumsParams, 'bucketMs'>): Filter<RollupDocument> {
  const match: Filter<RollupDocument> = { minute: { $gte: params.from, $lt: params.to } };
  if (params.queue !== undefined) match.queue = params.queue;
  if (params.type !== undefined) match.type = params.type;
  return match;
}

/** The pipeline of `rollupSums`: one group per queue, type and bucket, summed and maxed. */
function sumsPipeline(params: RollupSumsParams): Document[] {
  const key: Document = { queue: '$queue', type: '$type' };
  if (params.bucketMs > 0) {
    // The minute's start minus its offset into the bucket (date minus number is a date).
    const ms = { $subtract: ['$minute', new Date(0)] };
    key.at = { $subtract: ['$minute', { $mod: [ms, params.bucketMs] }] };
  }
  const group: Document = { _id: key, minutes: { $sum: 1 } };
  for (const f of ROLLUP_COUNT_FIELDS) group[f] = { $sum: `$${f}` };
  for (const f of ROLLUP_MAX_FIELDS) group[f] = { $max: `$${f}` };
  return [
    { $match: sumsMatch(params) },
    { $group: group },
    { $sort: { '_id.at': 1, '_id.queue': 1, '_id.type': 1 } },
  ];
}

/** The filter of `rollupPrune`: documents that expired before `before`. */
function pruneFilter(before: Date): Filter<RollupDocument> {
  return { expiresAt: { $lt: before } };
}

/** MongoDB implementation of the rollup storage protocol. */
export class MongoRollupStore implements RollupStore {
  /** The pipeline and filter of the reads, for the query checks (test/store/explain.test.ts). */
  static readonly sumsPipeline = sumsPipeline;
  static readonly pruneFilter = pruneFilter;

  readonly rollups: Collection<RollupDocument>;
  private ttlIndexed = false;
  /** Documents this store inserted or found to exist (their insert step is skipped). */
  private readonly known = new Set<string>();

  constructor(db: Db, collectionName = 'drover_rollups') {
    this.rollups = db.collection<RollupDocument>(collectionName);
  }

  async init(): Promise<void> {
    await this.rollups.createIndexes([MINUTE_INDEX, QUEUE_MINUTE_INDEX]);
    try {
      await this.rollups.createIndex(EXPIRES_INDEX.key, {
        name: EXPIRES_INDEX.name,
        expireAfterSeconds: EXPIRES_INDEX.expireAfterSeconds,
      });
      this.ttlIndexed = true;
    } catch {
      // A server without TTL indexes: a plain index still serves `rollupPrune`.
      await this.rollups.createIndex(EXPIRES_INDEX.key, { name: 'expires_plain' });
      this.ttlIndexed = false;
    }
  }

  rollupTtlIndexed(): boolean {
    return this.ttlIndexed;
  }

  /**
   * Two steps, and never an upsert creating a document other processes create too: concurrent
   * upserts of one new document lose increments on DocumentDB (12 upserts of `$inc: 1` left a
   * count of 1 to 3). First the documents this store has not seen are inserted with zero counters
   * (a duplicate key means another process did it), then one unordered bulk write adds every
   * delta: one round trip once a minute's documents exist.
   */
  async rollupAdd(params: RollupAddParams): Promise<void> {
    if (params.deltas.length === 0) return;
    const fresh = params.deltas
      .map((d) => zeroDocument(d, params.retentionMs))
      .filter((doc) => !this.known.has(doc._id));
    if (fresh.length > 0) {
      try {
        await this.rollups.insertMany(fresh, { ordered: false });
      } catch (err) {
        if (!onlyDuplicateKeys(err)) throw err;
      }
      if (this.known.size + fresh.length > KNOWN_IDS_MAX) this.known.clear();
      for (const doc of fresh) this.known.add(doc._id);
    }
    const ops = params.deltas.map((d) => addOperation(d, params.retentionMs));
    const res = await this.rollups.bulkWrite(ops, { ordered: false });
    // Documents made again by the update: forget what else may have gone with them.
    if (res.upsertedCount > 0) this.known.clear();
  }

  async rollupSums(params: RollupSumsParams): Promise<RollupSum[]> {
    const rows = await this.rollups.aggregate<Document>(sumsPipeline(params)).toArray();
    return rows.map((r): RollupSum => {
      const id = r._id as { queue: string; type: string; at?: Date };
      const sum: RollupSum = {
        queue: String(id.queue),
        type: String(id.type),
        at: id.at instanceof Date ? id.at : null,
        minutes: Number(r.minutes),
        ...emptyRollup(),
      };
      // A field absent from every summed document sums to 0 and maxes to null.
      for (const f of ROLLUP_COUNT_FIELDS) sum[f] = Number(r[f] ?? 0);
      for (const f of ROLLUP_MAX_FIELDS) sum[f] = Number(r[f] ?? 0);
      return sum;
    });
  }

  async rollupPrune(params: { before: Date; limit: number }): Promise<number> {
    // deleteMany has no limit: read a bounded batch of IDs first (served by the expires index).
    const filter = pruneFilter(params.before);
    const ids = (
      await this.rollups.find(filter, { projection: { _id: 1 }, limit: params.limit }).toArray()
    ).map((d) => d._id);
    if (ids.length === 0) return 0;
    return (await this.rollups.deleteMany({ ...filter, _id: { $in: ids } })).deletedCount;
  }

  async close(): Promise<void> {
    // The client belongs to whoever connected it.
  }
}

/** True when a failed insert failed only on duplicate keys (documents that exist already). */
function onlyDuplicateKeys(err: unknown): boolean {
  if (!(err instanceof MongoBulkWriteError)) return isDuplicateKey(err);
  const errors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
  return errors.length > 0 && errors.every((e) => e.code === DUPLICATE_KEY);
}
