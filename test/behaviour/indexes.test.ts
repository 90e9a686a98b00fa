/**
 * The claim must be served by an index so its cost does not grow with the backlog. The shape
 * check runs everywhere; the `explain` check needs a real engine (MongoDB or DocumentDB), since
 * the stand-in server has no `explain` and uses no non-unique index. test/store/explain.test.ts
 * checks every other repeated query the same way.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { MongoClient, type Document } from 'mongodb';
import { MongoJobStore } from '../../lib/store/mongo/job-store';
import { CLAIM_INDEX, JOB_INDEXES } from '../../lib/store/mongo/job-indexes';
import { NoopJob } from '../support/jobs';
import { defaultRegistry } from '../../lib';
import { explainEngine, summarizePlan } from '../support/explain';
import { testUri, uniqueDbName } from '../support/server';

const FILTER = MongoJobStore.claimFilter({ queue: 'q', now: new Date(), excludeTypes: [] });

describe('claim index', () => {
  it('leads every job index with the queue name (shard-friendly)', () => {
    for (const index of JOB_INDEXES) {
      const first = Object.keys(index.key)[0];
      assert.equal(first, 'queue', `index ${index.name} leads with ${first}`);
    }
  });

  it('holds only what the claim asks for: its partial filter is implied by the claim filter', () => {
    const partial = CLAIM_INDEX.partialFilterExpression ?? {};
    assert.deepEqual(Object.keys(partial), ['state']);
    assert.equal(FILTER.state, partial.state);
  });

  it('has the claim filter equality fields as the index prefix and the sort next, in order', () => {
    const keys = Object.entries(CLAIM_INDEX.key);
    // Fields the partial filter fixes (the state) are not keyed: every entry has the same value.
    const fixed = Object.keys(CLAIM_INDEX.partialFilterExpression ?? {});
    const equality = Object.entries(FILTER)
      .filter(([k, v]) => typeof v === 'string' && !fixed.includes(k))
      .map(([k]) => k);
    assert.deepEqual(
      keys.slice(0, equality.length).map(([k]) => k),
      equality,
      'equality fields lead the index',
    );
    const sort = Object.entries(MongoJobStore.claimSort);
    assert.deepEqual(
      keys.slice(equality.length),
      sort,
      'the sort follows, same keys and directions',
    );
    // The range on dueAt is on an index key: checked from index entries, no fetch per skipped job.
    assert.ok(keys.some(([k]) => k === 'dueAt'));
  });

  it('explain shows an index scan examining a bounded number of documents (MongoDB, DocumentDB)', async function () {
    this.timeout(300_000);
    const client = await MongoClient.connect(testUri());
    const dbName = uniqueDbName('explain');
    try {
      const engine = await explainEngine(client.db(dbName));
      // mongo-java-server has no explain (and uses no secondary index).
      if (engine === 'none') this.skip();
      const store = new MongoJobStore(client.db(dbName), 'jobs');
      await store.init();
      const now = new Date();
      // 5,000 due jobs in the claimed queue and as many in another one.
      for (const queue of ['q', 'other']) {
        for (let i = 0; i < 5; i++) {
          const docs = Array.from({ length: 1000 }, () =>
            defaultRegistry.toDocument(NoopJob.create({}), queue, now),
          );
          await store.jobInsert(docs);
        }
      }
      const plan: Document = await store.jobs
        .find(MongoJobStore.claimFilter({ queue: 'q', now: new Date() }))
        .sort(MongoJobStore.claimSort)
        .limit(16)
        .explain('executionStats');
      const s = summarizePlan(plan);
      assert.equal(s.returned, 16);
      assert.ok(!s.collScan, s.shape);
      assert.deepEqual(s.indexes, [CLAIM_INDEX.name], s.shape);
      if (engine === 'mongodb') {
        // The index gives the order: the claim reads what it returns.
        assert.ok(s.docsExamined <= 16, `examined ${s.docsExamined}`);
        assert.equal(s.sortedInMemory, 0, s.shape);
      } else {
        // DocumentDB's indexes give no order: the claim reads its queue's due range (never the
        // other queue) and sorts it. See README, "Servers".
        assert.ok(s.keysExamined <= 5_000, `${s.keysExamined} keys`);
        assert.ok(s.docsExamined <= 5_000, `examined ${s.docsExamined}`);
      }
    } finally {
      await client.db(dbName).dropDatabase();
      await client.close();
    }
  });
});
