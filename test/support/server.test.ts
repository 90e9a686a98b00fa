/**
 * Confirms, against whichever server the harness picked, the server behaviour the store relies on
 * (see shared/SERVER.md). If one of these fails on a new stand-in or server version, the store's
 * correctness argument no longer holds there.
 */
import assert from 'node:assert/strict';
import {
  Collection,
  Db,
  type Document,
  MongoBulkWriteError,
  MongoClient,
  MongoServerError,
} from 'mongodb';
import { freshDb, isNamespaceNotFound, testUri } from './server';

interface Counter {
  _id: string;
  n: number;
  owner?: number;
}

interface QueuedDoc {
  _id: string;
  queue: string;
  priority: number;
  due: Date;
  owner: string | null;
}

/** Rejects with the error a promise fails with; fails the test if it resolves. */
async function errorOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  assert.fail('expected the operation to fail');
}

describe('test server facts (SERVER.md)', function () {
  const dbName = freshDb('server-facts');
  let client: MongoClient;
  let db: Db;
  let collectionNo = 0;

  /** A new collection per test, so tests cannot see each other's documents. */
  function coll<T extends Document>(): Collection<T> {
    collectionNo += 1;
    return db.collection<T>(`c${collectionNo}`);
  }

  before(async function () {
    client = await MongoClient.connect(testUri(), { serverSelectionTimeoutMS: 10_000 });
    db = client.db(dbName);
  });

  after(async function () {
    await client?.close();
  });

  it('findOneAndUpdate guarded by a counter has exactly one winner among 50 concurrent callers', async function () {
    const c = coll<Counter>();
    await c.insertOne({ _id: 'k', n: 0 });
    // Five clients (separate connection pools) stand in for five worker processes.
    const clients = await Promise.all(
      Array.from({ length: 5 }, () => MongoClient.connect(testUri(), { maxPoolSize: 10 })),
    );
    try {
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          clients[i % clients.length]!.db(dbName)
            .collection<Counter>(c.collectionName)
            .findOneAndUpdate(
              { _id: 'k', n: 0 },
              { $inc: { n: 1 }, $set: { owner: i } },
              { returnDocument: 'after' },
            ),
        ),
      );
      const winners = results.filter((r) => r !== null);
      assert.equal(winners.length, 1);
      const final = await c.findOne({ _id: 'k' });
      assert.equal(final?.n, 1);
      assert.equal(final?.owner, winners[0]?.owner);
    } finally {
      await Promise.all(clients.map((cl) => cl.close()));
    }
  });

  it('50 concurrent sorted claims over 20 documents take each document exactly once', async function () {
    const c = coll<QueuedDoc>();
    const due = new Date('2024-01-01T00:00:00Z');
    await c.insertMany(
      Array.from({ length: 20 }, (_, i) => ({
        _id: `j${String(i).padStart(2, '0')}`,
        queue: 'q',
        priority: i % 2,
        due,
        owner: null,
      })),
    );
    const claims = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        c.findOneAndUpdate(
          { queue: 'q', owner: null },
          { $set: { owner: `w${i}` } },
          { sort: { priority: -1, due: 1, _id: 1 }, returnDocument: 'after' },
        ),
      ),
    );
    const won = claims.filter((d): d is QueuedDoc => d !== null);
    assert.equal(won.length, 20);
    assert.equal(new Set(won.map((d) => d._id)).size, 20);
    const owners = await c.find({}, { sort: { _id: 1 } }).toArray();
    assert.ok(owners.every((d) => d.owner !== null));
    // Losers get null rather than a document someone else already owns.
    assert.equal(claims.length - won.length, 30);
  });

  it('updateMany with a condition updates only matching documents and reports matchedCount', async function () {
    const c = coll<{ _id: number; state: string; v?: number }>();
    await c.insertMany([
      { _id: 1, state: 'a' },
      { _id: 2, state: 'b' },
      { _id: 3, state: 'a' },
      { _id: 4, state: 'a', v: 1 },
    ]);
    const res = await c.updateMany({ state: 'a' }, { $set: { v: 1 } });
    assert.equal(res.matchedCount, 3);
    assert.equal(res.modifiedCount, 2);
    assert.equal(await c.countDocuments({ v: 1 }), 3);
    assert.equal((await c.findOne({ _id: 2 }))?.v, undefined);
    const none = await c.updateMany({ state: 'zzz' }, { $set: { v: 2 } });
    assert.equal(none.matchedCount, 0);
  });

  it('a duplicate _id fails with code 11000 (insertOne) and insertMany unordered keeps the rest', async function () {
    const c = coll<{ _id: string }>();
    await c.insertOne({ _id: 'x' });
    const err = await errorOf(c.insertOne({ _id: 'x' }));
    assert.ok(err instanceof MongoServerError, String(err));
    assert.equal(err.code, 11000);

    const bulkErr = await errorOf(
      c.insertMany([{ _id: 'y' }, { _id: 'x' }, { _id: 'z' }], { ordered: false }),
    );
    assert.ok(bulkErr instanceof MongoBulkWriteError, String(bulkErr));
    assert.equal(bulkErr.code, 11000);
    assert.equal(await c.countDocuments(), 3);
  });

  it('createIndex unique rejects duplicates (single and compound keys)', async function () {
    const c = coll<{ queue: string; key: string }>();
    await c.createIndex({ queue: 1, key: 1 }, { unique: true, name: 'queue_key' });
    await c.insertOne({ queue: 'q1', key: 'a' });
    await c.insertOne({ queue: 'q2', key: 'a' });
    const err = await errorOf(c.insertOne({ queue: 'q1', key: 'a' }));
    assert.ok(err instanceof MongoServerError, String(err));
    assert.equal(err.code, 11000);
    const names = (await c.listIndexes().toArray()).map((i) => String(i.name));
    assert.ok(names.includes('queue_key'), names.join(','));
    // Creating the same index again is a no-op, as the store does at every start.
    await c.createIndex({ queue: 1, key: 1 }, { unique: true, name: 'queue_key' });
  });

  it('bulkWrite runs mixed operations and reports counts', async function () {
    const c = coll<{ _id: number; v: number }>();
    await c.insertMany([
      { _id: 1, v: 1 },
      { _id: 2, v: 2 },
    ]);
    const res = await c.bulkWrite([
      { insertOne: { document: { _id: 3, v: 3 } } },
      { updateOne: { filter: { _id: 1, v: 1 }, update: { $inc: { v: 10 } } } },
      { updateOne: { filter: { _id: 2, v: 999 }, update: { $inc: { v: 10 } } } },
      { updateOne: { filter: { _id: 4 }, update: { $set: { v: 4 } }, upsert: true } },
      { deleteOne: { filter: { _id: 2 } } },
      { replaceOne: { filter: { _id: 3 }, replacement: { v: 30 } } },
    ]);
    assert.equal(res.insertedCount, 1);
    assert.equal(res.matchedCount, 2);
    assert.equal(res.upsertedCount, 1);
    assert.equal(res.deletedCount, 1);
    const docs = await c.find({}, { sort: { _id: 1 } }).toArray();
    assert.deepEqual(docs, [
      { _id: 1, v: 11 },
      { _id: 3, v: 30 },
      { _id: 4, v: 4 },
    ]);
  });

  it('aggregate $match + $group ($sum, $cond, $max, compound _id) + $sort', async function () {
    const c = coll<{ queue: string; status: string; errs: number }>();
    await c.insertMany([
      { queue: 'a', status: 'done', errs: 0 },
      { queue: 'a', status: 'done', errs: 2 },
      { queue: 'a', status: 'pending', errs: 0 },
      { queue: 'b', status: 'done', errs: 5 },
      { queue: 'c', status: 'pending', errs: 1 },
    ]);
    const rows = await c
      .aggregate<{
        _id: { queue: string; status: string };
        n: number;
        failed: number;
        maxErrs: number;
      }>([
        { $match: { queue: { $in: ['a', 'b'] } } },
        {
          $group: {
            _id: { queue: '$queue', status: '$status' },
            n: { $sum: 1 },
            failed: { $sum: { $cond: [{ $gt: ['$errs', 0] }, 1, 0] } },
            maxErrs: { $max: '$errs' },
          },
        },
        { $sort: { '_id.queue': 1, '_id.status': 1 } },
      ])
      .toArray();
    assert.deepEqual(rows, [
      { _id: { queue: 'a', status: 'done' }, n: 2, failed: 1, maxErrs: 2 },
      { _id: { queue: 'a', status: 'pending' }, n: 1, failed: 0, maxErrs: 0 },
      { _id: { queue: 'b', status: 'done' }, n: 1, failed: 1, maxErrs: 5 },
    ]);
  });

  it('sort on compound keys with an _id tie-breaker is respected by find and findOneAndUpdate', async function () {
    const c = coll<QueuedDoc>();
    const t = (s: number): Date => new Date(Date.UTC(2024, 0, 1, 0, 0, s));
    // Inserted out of order on purpose.
    const docs: QueuedDoc[] = [
      { _id: 'e', queue: 'q', priority: 0, due: t(1), owner: null },
      { _id: 'b', queue: 'q', priority: 5, due: t(2), owner: null },
      { _id: 'd', queue: 'q', priority: 0, due: t(1), owner: null },
      { _id: 'a', queue: 'q', priority: 5, due: t(3), owner: null },
      { _id: 'c', queue: 'q', priority: 5, due: t(2), owner: null },
      { _id: 'f', queue: 'q', priority: -1, due: t(0), owner: null },
    ];
    await c.insertMany(docs);
    const sort = { priority: -1, due: 1, _id: 1 } as const;
    const order = (await c.find({ queue: 'q' }, { sort }).toArray()).map((d) => d._id);
    assert.deepEqual(order, ['b', 'c', 'a', 'd', 'e', 'f']);
    const claimed: string[] = [];
    for (;;) {
      const doc = await c.findOneAndUpdate(
        { queue: 'q', owner: null },
        { $set: { owner: 'w' } },
        { sort },
      );
      if (!doc) break;
      claimed.push(doc._id);
    }
    assert.deepEqual(claimed, order);
  });

  it('$in filters, null matches a missing field, and dotted paths filter and update nested fields', async function () {
    const c = coll<{ _id: number; s: string; status?: { owner?: string; modCount?: number } }>();
    await c.insertMany([
      { _id: 1, s: 'a' },
      { _id: 2, s: 'b', status: { owner: 'w1', modCount: 3 } },
      { _id: 3, s: 'c' },
    ]);
    assert.deepEqual(
      (await c.find({ s: { $in: ['a', 'c', 'zz'] } }, { sort: { _id: 1 } }).toArray()).map(
        (d) => d._id,
      ),
      [1, 3],
    );
    assert.equal(await c.countDocuments({ 'status.owner': null }), 2);
    assert.equal(await c.countDocuments({ 'status.owner': { $exists: false } }), 2);
    // The fencing write: matches only with the right owner and modCount.
    const stale = await c.updateOne(
      { _id: 2, 'status.owner': 'w1', 'status.modCount': 2 },
      { $set: { 'status.owner': 'w2' }, $inc: { 'status.modCount': 1 } },
    );
    assert.equal(stale.matchedCount, 0);
    const fresh = await c.updateOne(
      { _id: 2, 'status.owner': 'w1', 'status.modCount': 3 },
      { $set: { 'status.owner': 'w2' }, $inc: { 'status.modCount': 1 } },
    );
    assert.equal(fresh.matchedCount, 1);
    assert.deepEqual((await c.findOne({ _id: 2 }))?.status, { owner: 'w2', modCount: 4 });
  });

  it('$inc + $set + $push {$each, $slice: -50} work together in one update', async function () {
    const c = coll<{ _id: number; errCount: number; last?: string; errors: string[] }>();
    await c.insertOne({ _id: 1, errCount: 0, errors: [] });
    for (let batch = 0; batch < 4; batch++) {
      const errors = Array.from({ length: 20 }, (_, i) => `e${batch * 20 + i}`);
      await c.updateOne(
        { _id: 1 },
        {
          $inc: { errCount: errors.length },
          $set: { last: errors[errors.length - 1] },
          $push: { errors: { $each: errors, $slice: -50 } },
        },
      );
    }
    const doc = await c.findOne({ _id: 1 });
    assert.equal(doc?.errCount, 80);
    assert.equal(doc?.last, 'e79');
    assert.equal(doc?.errors.length, 50);
    assert.equal(doc?.errors[0], 'e30');
    assert.equal(doc?.errors[49], 'e79');
  });

  it('$max and $min keep the larger / smaller value (numbers and dates)', async function () {
    const c = coll<{ _id: number; hi: number; lo: number; seen?: Date }>();
    await c.insertOne({ _id: 1, hi: 5, lo: 5 });
    await c.updateOne({ _id: 1 }, { $max: { hi: 3, seen: new Date(2000) }, $min: { lo: 7 } });
    await c.updateOne({ _id: 1 }, { $max: { hi: 9, seen: new Date(1000) }, $min: { lo: 2 } });
    const doc = await c.findOne({ _id: 1 });
    assert.equal(doc?.hi, 9);
    assert.equal(doc?.lo, 2);
    assert.equal(doc?.seen?.getTime(), 2000);
  });

  it('$setOnInsert with upsert inserts once and never overwrites', async function () {
    const c = coll<{ _id: string; created?: number; touched?: number }>();
    const first = await c.updateOne(
      { _id: 'k' },
      { $setOnInsert: { created: 1 }, $set: { touched: 1 } },
      { upsert: true },
    );
    assert.equal(first.upsertedCount, 1);
    assert.equal(first.upsertedId, 'k');
    const second = await c.updateOne(
      { _id: 'k' },
      { $setOnInsert: { created: 2 }, $set: { touched: 2 } },
      { upsert: true },
    );
    assert.equal(second.upsertedCount, 0);
    assert.equal(second.matchedCount, 1);
    assert.deepEqual(await c.findOne({ _id: 'k' }), { _id: 'k', created: 1, touched: 2 });
    const viaFind = await c.findOneAndUpdate(
      { _id: 'n' },
      { $setOnInsert: { created: 3 } },
      { upsert: true, returnDocument: 'after' },
    );
    assert.deepEqual(viaFind, { _id: 'n', created: 3 });
  });

  it('countDocuments counts with a filter; findOneAndUpdate returns null on no match', async function () {
    const c = coll<{ _id: number; q: string }>();
    await c.insertMany(Array.from({ length: 7 }, (_, i) => ({ _id: i, q: i < 3 ? 'a' : 'b' })));
    assert.equal(await c.countDocuments(), 7);
    assert.equal(await c.countDocuments({ q: 'a' }), 3);
    assert.equal(await c.countDocuments({ q: 'none' }), 0);
    assert.equal(await c.findOneAndUpdate({ q: 'none' }, { $set: { q: 'x' } }), null);
    const before = await c.findOneAndUpdate(
      { _id: 0 },
      { $set: { q: 'x' } },
      { returnDocument: 'before' },
    );
    assert.equal(before?.q, 'a');
  });

  it('dropping a missing collection either succeeds or fails with "ns not found"', async function () {
    try {
      await db.collection('never-created').drop();
    } catch (err) {
      assert.ok(isNamespaceNotFound(err), String(err));
    }
  });
});
