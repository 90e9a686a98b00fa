/**
 * Upgrading the jobs collection's indexes (issue 13): a collection built by an earlier release
 * (its eight indexes keyed on `state`, queued jobs in it) is taken over by `init`, which builds
 * the partial indexes and drops the retired ones; the jobs queued before are claimed and run; a
 * second `init` (another process starting) changes nothing; the followers' index is built by
 * the first follower only.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { MongoClient, type Db, type IndexDescription } from 'mongodb';
import { defaultRegistry, type JobDocument } from '../../lib';
import { MongoJobStore } from '../../lib/store/mongo/job-store';
import { CHANGED_INDEX, JOB_INDEXES, RETIRED_JOB_INDEXES } from '../../lib/store/mongo/job-indexes';
import { NoopJob } from '../support/jobs';
import { freshDb, testUri } from '../support/server';

/** The indexes of the release before issue 13's rework, as it built them. */
const EARLIER_RELEASE: IndexDescription[] = [
  { name: 'changed', key: { queue: 1, 'status.modTime': 1, _id: 1 } },
  { name: 'state_id', key: { queue: 1, state: 1, _id: 1 } },
  { name: 'edges', key: { queue: 1, state: 1, 'dependency.edges': 1 } },
  { name: 'claim', key: { queue: 1, state: 1, priority: -1, dueAt: 1, _id: 1 } },
  {
    name: 'due',
    key: { queue: 1, state: 1, dueAt: 1 },
    partialFilterExpression: { dueAt: { $type: 'date' } },
  },
  { name: 'stale', key: { queue: 1, state: 1, 'status.lockExpiresAt': 1 } },
  { name: 'type', key: { queue: 1, 'type.name': 1, state: 1 } },
  { name: 'ended', key: { queue: 1, state: 1, 'timeInfo.end': 1 } },
];

async function indexNames(db: Db): Promise<string[]> {
  return (await db.collection('drover_jobs').listIndexes().toArray())
    .map((i) => String(i.name))
    .sort();
}

describe('jobs collection: upgrading the indexes of an earlier release', function () {
  this.timeout(60_000);
  const dbName = freshDb('index-upgrade');
  let client: MongoClient;
  let db: Db;

  before(async () => {
    client = await MongoClient.connect(testUri());
    db = client.db(dbName);
  });
  after(async () => {
    await db.dropDatabase().catch(() => undefined);
    await client.close();
  });

  it('builds the new indexes, drops the retired ones, keeps the queued jobs claimable', async () => {
    const jobs = db.collection<JobDocument>('drover_jobs');
    await jobs.createIndexes(EARLIER_RELEASE);
    const now = new Date(Date.now() - 1_000);
    const docs = [0, 1, 2].map((i) =>
      defaultRegistry.toDocument(NoopJob.create({}, { id: `old-${i}` }), 'upgrade', now),
    );
    // Stored as the earlier release stored them: every field present.
    await jobs.insertMany(docs);

    const store = new MongoJobStore(db);
    await store.init();
    const after = await indexNames(db);
    for (const { name } of JOB_INDEXES) assert.ok(after.includes(String(name)), String(name));
    for (const retired of RETIRED_JOB_INDEXES) assert.ok(!after.includes(retired), retired);
    // Kept while followers may use it: dropping it is the operator's choice (README).
    assert.ok(after.includes('changed'));

    // Another process starting: nothing to do, nothing fails.
    await new MongoJobStore(db).init();
    assert.deepEqual(await indexNames(db), after);

    const claimed = await store.jobClaim({
      queue: 'upgrade',
      owner: 'w',
      now: new Date(),
      limit: 10,
      lockTimeoutMs: 60_000,
    });
    assert.deepEqual(claimed.map((d) => d._id).sort(), ['old-0', 'old-1', 'old-2']);
  });

  it('builds the followers’ index only when a follower first reads the changes', async () => {
    const other = client.db(`${dbName}-f`);
    try {
      const store = new MongoJobStore(other);
      await store.init();
      assert.ok(!(await indexNames(other)).includes(String(CHANGED_INDEX.name)));
      await store.jobChangedSince({
        queue: 'q',
        after: { modTime: new Date(0), id: '' },
        limit: 10,
      });
      // Built in the background: the follower's reads do not wait for it.
      const deadline = Date.now() + 20_000;
      while (!(await indexNames(other)).includes(String(CHANGED_INDEX.name))) {
        assert.ok(Date.now() < deadline, 'the followers’ index was not built');
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      await other.dropDatabase().catch(() => undefined);
    }
  });
});
