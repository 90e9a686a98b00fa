/**
 * The claim must be served by an index so its cost does not grow with the backlog. The shape
 * check runs everywhere; the `explain` check needs a real MongoDB (MONGODB_URI), since the
 * stand-in server has no `explain` and uses no non-unique index.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { MongoClient, type Document } from 'mongodb';
import { MongoJobStore } from '../../lib/store/mongo/job-store';
import { CLAIM_INDEX, JOB_INDEXES } from '../../lib/store/mongo/job-indexes';
import { NoopJob } from '../support/jobs';
import { defaultRegistry } from '../../lib';
import { testUri, uniqueDbName } from '../support/server';

const FILTER = MongoJobStore.claimFilter({ queue: 'q', now: new Date(), excludeTypes: [] });

describe('claim index', () => {
  it('leads every job index with the queue name (shard-friendly)', () => {
    for (const index of JOB_INDEXES) {
      const first = Object.keys(index.key)[0];
      assert.equal(first, 'queue', `index ${index.name} leads with ${first}`);
    }
  });

  it('has the claim filter equality fields as the index prefix and the sort next, in order', () => {
    const keys = Object.entries(CLAIM_INDEX.key);
    const equality = Object.entries(FILTER)
      .filter(([, v]) => typeof v === 'string')
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

  it('explain shows an index scan examining a bounded number of documents (real MongoDB)', async function () {
    if (!process.env.MONGODB_URI) this.skip();
    this.timeout(300_000);
    const client = await MongoClient.connect(testUri());
    const dbName = uniqueDbName('explain');
    try {
      const store = new MongoJobStore(client.db(dbName), 'jobs');
      await store.init();
      const now = new Date();
      for (let i = 0; i < 100; i++) {
        const docs = Array.from({ length: 1000 }, () =>
          defaultRegistry.toDocument(NoopJob.create({}), 'q', now),
        );
        await store.jobInsert(docs);
      }
      const plan: Document = await store.jobs
        .find(MongoJobStore.claimFilter({ queue: 'q', now: new Date() }))
        .sort(MongoJobStore.claimSort)
        .limit(16)
        .explain('executionStats');
      const stats = plan.executionStats as { totalDocsExamined: number; nReturned: number };
      assert.equal(stats.nReturned, 16);
      assert.ok(stats.totalDocsExamined <= 16, `examined ${stats.totalDocsExamined}`);
      assert.match(JSON.stringify(plan.queryPlanner.winningPlan), /IXSCAN/);
      assert.match(JSON.stringify(plan.queryPlanner.winningPlan), /"indexName":"claim"/);
    } finally {
      await client.db(dbName).dropDatabase();
      await client.close();
    }
  });
});
