/**
 * No periodic scans: the queries an idle process repeats on a timer (the process probe, the
 * malformed-document probe, the retry monitor's and the dependency scan's reads for many queues,
 * the fuse refresh) are served by an index and examine about as many keys and documents as they
 * return, whatever the backlog: here a queue holds 2,000 jobs due tomorrow, 500 due now and 200
 * blocked ones, and the queues asked about besides it are empty. The claim keeps its own index
 * although the due index matches its filter too.
 *
 * `explain` needs a real engine (MONGODB_URI: DocumentDB or MongoDB); the stand-in has none.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { MongoClient, type Document } from 'mongodb';
import { defaultRegistry } from '../../lib';
import { MongoJobStore } from '../../lib/store/mongo/job-store';
import { MongoQueueStore } from '../../lib/store/mongo/queue-store';
import { listFilter, malformedFilters } from '../../lib/store/mongo/job-filters';
import { probeFilter, PROBE_PROJECTION } from '../../lib/store/mongo/job-probe';
import type { JobDocument } from '../../lib';
import { NoopJob } from '../support/jobs';
import { testUri, uniqueDbName } from '../support/server';

interface Stats {
  nReturned: number;
  totalKeysExamined: number;
  totalDocsExamined: number;
}

/** The winning plan's index names and the execution figures. */
function summary(plan: Document): { indexes: string[]; stats: Stats; text: string } {
  const text = JSON.stringify(plan.queryPlanner?.winningPlan ?? plan);
  const indexes = [...text.matchAll(/"indexName":"([^"]+)"/g)].map((m) => m[1]);
  return { indexes, stats: plan.executionStats as Stats, text };
}

/** Served by an index, and reading about what it returns (a few keys of slack per branch). */
function assertServed(what: string, plan: Document, index: string, slack = 4): void {
  const { indexes, stats, text } = summary(plan);
  assert.ok(!/COLLSCAN/.test(text), `${what}: a collection scan: ${text}`);
  assert.ok(indexes.includes(index), `${what}: uses ${indexes.join(', ')}, not ${index}`);
  assert.ok(
    stats.totalKeysExamined <= stats.nReturned + slack,
    `${what}: ${stats.totalKeysExamined} keys examined for ${stats.nReturned} returned`,
  );
  assert.ok(
    stats.totalDocsExamined <= stats.nReturned + slack,
    `${what}: ${stats.totalDocsExamined} documents examined for ${stats.nReturned} returned`,
  );
}

describe('fleet queries are index-served (explain, real engine)', function () {
  this.timeout(300_000);
  const dbName = uniqueDbName('fleet_explain');
  let client: MongoClient;
  let store: MongoJobStore;
  const now = new Date();
  const others = Array.from({ length: 50 }, (_, i) => `empty-${i}`);
  const queues = ['busy', ...others];

  before(async function () {
    if (!process.env.MONGODB_URI) this.skip();
    client = await MongoClient.connect(testUri());
    store = new MongoJobStore(client.db(dbName), 'jobs');
    await store.init();
    const doc = (id: string, dueAt: Date, state: JobDocument['state'] = 'pending') => {
      const d = defaultRegistry.toDocument(NoopJob.create({}, { id }), 'busy', now);
      d.dueAt = dueAt;
      d.state = state;
      return d;
    };
    const tomorrow = new Date(now.getTime() + 24 * 3600_000);
    const past = new Date(now.getTime() - 1_000);
    const docs = [
      ...Array.from({ length: 2_000 }, (_, i) => doc(`later-${i}`, tomorrow)),
      ...Array.from({ length: 500 }, (_, i) => doc(`due-${i}`, past)),
      ...Array.from({ length: 200 }, (_, i) => doc(`blocked-${i}`, past, 'blocked')),
    ];
    for (let i = 0; i < docs.length; i += 500) await store.jobInsert(docs.slice(i, i + 500));
    // A server may build indexes on a filled collection in the background: let it settle.
    await new Promise((r) => setTimeout(r, 3_000));
  });

  after(async () => {
    if (!client) return;
    await client.db(dbName).dropDatabase();
    await client.close();
  });

  it('the process probe: idle queues with nothing due examine nothing', async () => {
    const filter = probeFilter({ dueIn: others, staleIn: queues, now, limit: 512 });
    assert.ok(filter);
    const plan = await store.jobs
      .find(filter, { projection: PROBE_PROJECTION, limit: 512 })
      .explain('executionStats');
    assertServed('probe, nothing due', plan, 'pending_due');
    assert.equal(summary(plan).stats.nReturned, 0);
  });

  it('the process probe: a queue with due work reads up to its limit', async () => {
    const filter = probeFilter({ dueIn: queues, staleIn: queues, now, limit: 16 });
    assert.ok(filter);
    const plan = await store.jobs
      .find(filter, { projection: PROBE_PROJECTION, limit: 16 })
      .explain('executionStats');
    assertServed('probe, due work', plan, 'pending_due');
    assert.equal(summary(plan).stats.nReturned, 16);
  });

  it('the malformed-document probe reads only due and undated documents', async () => {
    // Run when a wake claimed nothing of what the probe said was due: it reads those due
    // documents (500 here), never the 2,000 due tomorrow.
    const [badEnvelope, ...undated] = malformedFilters('busy', now);
    const plan = await store.jobs
      .find(badEnvelope, { projection: { _id: 1 }, limit: 1000 })
      .explain('executionStats');
    const { indexes, stats, text } = summary(plan);
    assert.ok(!/COLLSCAN/.test(text), `malformed probe: ${text}`);
    assert.ok(indexes.includes('pending_due'), `malformed probe uses ${indexes.join(', ')}`);
    assert.equal(stats.nReturned, 0);
    assert.ok(stats.totalKeysExamined <= 500 + 4, `${stats.totalKeysExamined} keys examined`);
    assert.ok(stats.totalDocsExamined <= 500 + 4, `${stats.totalDocsExamined} docs examined`);
    for (const filter of undated) {
      const undatedPlan = await store.jobs
        .find(filter, { projection: { _id: 1 }, limit: 1000 })
        .explain('executionStats');
      assertServed('malformed probe, undated', undatedPlan, 'pending_claim');
    }
    // On a queue with nothing due, nothing at all.
    const [idleEnvelope, ...idleUndated] = malformedFilters('empty-0', now);
    const idlePlans = [idleEnvelope, ...idleUndated].map((filter) =>
      store.jobs.find(filter, { projection: { _id: 1 }, limit: 1000 }).explain('executionStats'),
    );
    const [envelopePlan, ...undatedPlans] = await Promise.all(idlePlans);
    assertServed('malformed probe, idle queue', envelopePlan, 'pending_due');
    for (const p of undatedPlans)
      assertServed('malformed probe, idle queue, undated', p, 'pending_claim');
  });

  it("the retry monitor's read for many queues", async () => {
    const filter = listFilter({ queues, states: ['retrying'], dueBefore: now, limit: 500 });
    const plan = await store.jobs
      .find(filter)
      .sort({ _id: 1 })
      .limit(500)
      .explain('executionStats');
    assertServed('retry monitor', plan, 'retrying_due');
  });

  it("the dependency scan's probe of queues not known to hold blocked jobs", async () => {
    const filter = listFilter({ queues: others, states: ['blocked'], limit: 1 });
    const plan = await store.jobs.find(filter).sort({ _id: 1 }).limit(1).explain('executionStats');
    const { text } = summary(plan);
    assert.ok(!/COLLSCAN/.test(text), `dependency probe: ${text}`);
    assertServed('dependency probe', plan, summary(plan).indexes[0] ?? '?');
  });

  it('the fuse refresh reads the queue records by primary key', async () => {
    const queueStore = new MongoQueueStore(client.db(dbName), 'queues');
    for (const name of queues) await queueStore.queueOpen({ name, options: {}, now });
    const plan = await queueStore.queues
      .find({ _id: { $in: queues } }, { projection: { paused: 1, pausedTypes: 1, modCount: 1 } })
      .explain('executionStats');
    const { stats, text } = summary(plan);
    assert.ok(!/COLLSCAN/.test(text), `fuse refresh: ${text}`);
    assert.equal(stats.nReturned, queues.length);
    assert.ok(stats.totalDocsExamined <= queues.length + 4, `${stats.totalDocsExamined} examined`);
  });

  it('the claim keeps the claim index, although the due index matches its filter', async () => {
    const plan = await store.jobs
      .find(MongoJobStore.claimFilter({ queue: 'busy', now, suspects: 'skip' }))
      .sort(MongoJobStore.claimSort)
      .limit(16)
      .explain('executionStats');
    const { indexes, stats } = summary(plan);
    assert.deepEqual(indexes, ['pending_claim']);
    assert.equal(stats.nReturned, 16);
    assert.ok(stats.totalDocsExamined <= 16, `claim: ${stats.totalDocsExamined} docs examined`);
  });
});
