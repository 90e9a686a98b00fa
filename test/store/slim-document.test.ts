/**
 * The slim job document (issue 13): a put stores no null, empty or default-valued field, every
 * store read gives the full document back, and documents written by earlier releases (every
 * field present) keep working beside slim ones: claimed in priority order, run to completion,
 * found by the list, attempts and stats queries. Both stores; on MongoDB the stored form is read
 * from the collection itself.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { calculateObjectSize } from 'bson';
import { BaseJob, defaultRegistry, JobType, type JobDocument } from '../../lib';
import { slimJobDocument, withJobDefaults } from '../../lib/job-document';
import { MongoJobStore } from '../../lib/store/mongo/job-store';
import { memoryBackend, mongoBackend, type Backend } from '../support/backends';

/** Records the order its jobs ran in. */
const ran: string[] = [];

@JobType('slim-document-job')
class SlimJob extends BaseJob {
  n = 1;
  async run(): Promise<void> {
    ran.push(this.id);
  }
}

/** The document of a job as this release's toDocument builds it: every field present. */
function fullDoc(job: BaseJob, now = new Date(Date.now() - 1_000)): JobDocument {
  return defaultRegistry.toDocument(job, 'slim', now);
}

describe('slim job document: the stored form', () => {
  it('leaves out every default field and reads back as the full document', () => {
    const doc = fullDoc(SlimJob.create({}, { id: 'plain' }));
    const slim = slimJobDocument(doc) as unknown as Record<string, Record<string, unknown>>;
    for (const key of ['scopes', 'enqueueScopes', 'dependency']) assert.ok(!(key in slim), key);
    assert.deepEqual(Object.keys(slim.status).sort(), ['abortRequested', 'modCount', 'modTime']);
    assert.deepEqual(Object.keys(slim.timeInfo), ['created']);
    assert.deepEqual(Object.keys(slim.retryInfo).sort(), [
      'baseJobId',
      'currentAttempt',
      'maxAttempts',
    ]);
    assert.ok('priority' in slim, 'priority stays: the claim sorts on it');
    assert.deepEqual(withJobDefaults(structuredClone(slim)), doc);
    const before = calculateObjectSize(doc);
    const after = calculateObjectSize(slim);
    assert.ok(after < before * 0.7, `slim ${after} bytes, full ${before}`);
  });

  it('keeps every field that is not its default', () => {
    const job = SlimJob.create(
      {},
      {
        id: 'rich',
        priority: 3,
        maxTimeMs: 500,
        maxAttempts: 2,
        retryable: false,
        scopes: ['s'],
        enqueueScopes: ['e'],
        dispatchBy: new Date(Date.now() + 60_000),
        delayMs: 10,
        dependency: { type: 'always', edges: ['x'], options: {}, onEdgeFailure: 'run' },
      },
    );
    job.addError(new Error('kept'));
    const doc = fullDoc(job);
    const slim = slimJobDocument(doc);
    assert.deepEqual(slim.scopes, ['s']);
    assert.deepEqual(slim.enqueueScopes, ['e']);
    assert.deepEqual(slim.dependency.edges, ['x']);
    assert.equal(slim.status.errors.length, 1);
    assert.deepEqual(withJobDefaults(structuredClone(slim)), doc);
  });
});

function slimDocuments(makeBackend: () => Backend): void {
  let backend: Backend;
  before(() => {
    backend = makeBackend();
  });
  beforeEach(async () => {
    await backend.reset();
    ran.length = 0;
  });
  after(async () => backend.close());

  it('stores a put job slim and reads it back in full', async () => {
    const q = await backend.group().get('slim');
    await q.put(SlimJob.create({}, { id: 'new-1' }));
    const store = backend.store();
    if (store instanceof MongoJobStore) {
      const raw = (await store.jobs.findOne({ _id: 'new-1' })) as unknown as Record<
        string,
        unknown
      >;
      for (const key of ['scopes', 'enqueueScopes', 'dependency']) assert.ok(!(key in raw), key);
      assert.ok(!('errors' in (raw.status as object)), 'no empty error list');
    }
    const doc = await store.jobGet('new-1');
    assert.ok(doc);
    assert.deepEqual(doc.scopes, []);
    assert.deepEqual(doc.status.errors, []);
    assert.equal(doc.status.owner, '');
    assert.equal(doc.timeInfo.end, null);
    assert.equal(doc.dependency.type, 'always');
    assert.equal(doc.retryInfo.retryable, true);
  });

  it('runs documents written with every field (earlier releases) beside slim ones', async () => {
    const store = backend.store();
    const old = [
      fullDoc(SlimJob.create({}, { id: 'old-low', priority: -1 })),
      fullDoc(SlimJob.create({}, { id: 'old-high', priority: 5 })),
    ];
    // Inserted as they are, past the store's slimming: what an earlier release left behind.
    if (store instanceof MongoJobStore) await store.jobs.insertMany(old);
    else await store.jobInsert(old);
    const q = await backend.group().get('slim');
    await q.put(SlimJob.create({}, { id: 'new-low', priority: -1 }));
    await q.put(SlimJob.create({}, { id: 'new-mid' }));
    await q.put(SlimJob.create({}, { id: 'new-high', priority: 5 }));
    assert.equal((await q.stats()).pending, 5);
    const listed = await store.jobList({ queue: 'slim', states: ['pending'], limit: 10 });
    assert.equal(listed.length, 5);
    for (const d of listed) assert.deepEqual(d.enqueueScopes, []);
    await q.start();
    for (const id of ['old-low', 'old-high', 'new-low', 'new-mid', 'new-high']) {
      const doc = await q.waitFor(id, { timeoutMs: 20_000 });
      assert.equal(doc.state, 'completed', id);
      assert.deepEqual(doc.status.errors, [], id);
      assert.equal(doc.status.completed, true, id);
      assert.ok(doc.timeInfo.end instanceof Date, id);
    }
    assert.equal(ran.length, 5);
    const latest = await store.jobGetLatest('old-high');
    assert.equal(latest?.state, 'completed');
    assert.equal((await store.jobAttempts('new-high')).length, 1);
    assert.equal((await q.stats()).completed, 5);
  });

  it('claims old and slim documents together in priority order', async () => {
    const store = backend.store();
    const now = new Date(Date.now() - 1_000);
    const old = [
      fullDoc(SlimJob.create({}, { id: 'o-low', priority: -1 }), now),
      fullDoc(SlimJob.create({}, { id: 'o-high', priority: 5 }), now),
    ];
    if (store instanceof MongoJobStore) await store.jobs.insertMany(old);
    else await store.jobInsert(old);
    await store.jobInsert([
      fullDoc(SlimJob.create({}, { id: 'n-low', priority: -1 }), now),
      fullDoc(SlimJob.create({}, { id: 'n-mid' }), now),
      fullDoc(SlimJob.create({}, { id: 'n-high', priority: 5 }), now),
    ]);
    const claimed = await store.jobClaim({
      queue: 'slim',
      owner: 'test-owner',
      now: new Date(),
      lockTimeoutMs: 60_000,
      limit: 10,
    });
    assert.deepEqual(
      claimed.map((d) => d._id),
      ['n-high', 'o-high', 'n-mid', 'n-low', 'o-low'],
    );
    for (const d of claimed) {
      assert.equal(d.status.owner, 'test-owner');
      assert.deepEqual(d.scopes, []);
      assert.deepEqual(d.status.errors, []);
    }
  });
}

describe('slim job document (memory)', () => slimDocuments(memoryBackend));
describe('slim job document (mongodb)', () => slimDocuments(mongoBackend));
