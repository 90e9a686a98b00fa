/**
 * Heartbeats survive slow links: group A reaches MongoDB through a proxy adding 300 ms to each
 * direction (a round trip 600 ms longer, more than a heartbeat's period), with a 1.5 s lock;
 * group B reaches it directly and would take over any lock A let expire. A's jobs run longer than
 * the lock: no lock may be lost, and every job must run once and complete.
 *
 * A's client keeps a few connections open (`minPoolSize`), as a deployment on a slow link
 * should: opening one there takes several round trips (TCP, hello, authentication), about 2.5 s
 * here, which no heartbeat waiting for a connection could survive with a 1.5 s lock.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { MongoClient } from 'mongodb';
import { QueueGroup, type QueueOptions } from '../../lib';
import { initStores, mongoStores } from '../../lib/store/store-set';
import { ChaosProxy, targetOf } from '../../chaos/proxy';
import { eventually, testLogger } from '../support/backends';
import { runLog, SleepJob } from '../support/jobs';
import { freshDb, testUri } from '../support/server';

const LATENCY_MS = 300;
const JOBS = 8;

/** A 1.5 s lock; the heartbeat at its default (a third of it). */
const TIMINGS: QueueOptions = {
  lockTimeoutMs: 1_500,
  pollMaxMs: 200,
  workers: JOBS,
  drainTimeoutMs: 2_000,
};

describe('chaos: heartbeats over a slow link (latency proxy)', function () {
  this.timeout(90_000);
  const dbName = freshDb('chaos_latency');
  let proxy: ChaosProxy;
  let direct: MongoClient;
  let slow: MongoClient;
  const groups: QueueGroup[] = [];

  before(async function () {
    proxy = await ChaosProxy.start(targetOf(testUri()));
    proxy.latencyMs = LATENCY_MS;
    direct = await MongoClient.connect(testUri());
    slow = await MongoClient.connect(proxy.uri(), { minPoolSize: 16 });
    // Until the pool holds its connections: 16 commands at once take one round trip.
    await eventually(
      'the slow pool is open',
      async () => {
        const t = performance.now();
        await Promise.all(Array.from({ length: 16 }, () => slow.db('admin').command({ ping: 1 })));
        return performance.now() - t < 4 * LATENCY_MS;
      },
      60_000,
    );
  });

  after(async function () {
    await Promise.all(groups.map((g) => g.close({ drainTimeoutMs: 500 })));
    await slow?.close(true);
    await proxy?.close();
    await direct?.close();
  });

  it(`loses no lock with ${LATENCY_MS} ms each way and a 1.5 s lock`, async () => {
    runLog.clear();
    const storesB = mongoStores(direct.db(dbName), { prefix: 'lat' });
    await initStores(storesB);
    const make = (stores: typeof storesB) =>
      new QueueGroup(stores, { defaults: TIMINGS, logger: testLogger });
    const a = make(mongoStores(slow.db(dbName), { prefix: 'lat' }));
    const b = make(storesB);
    groups.push(a, b);
    const qa = await a.get('q');
    const qb = await b.get('q');
    const lost: string[] = [];
    for (const q of [qa, qb]) q.on('lock-lost', (info) => lost.push(`${q.owner} ${info.jobId}`));

    const jobs = Array.from({ length: JOBS }, (_, i) =>
      SleepJob.create({ ms: 4_000 }, { id: `slow-${i}` }),
    );
    await qb.putMany(jobs);
    await qa.start();
    await eventually('A runs every job', () => qa.runningJobs().length === JOBS, 30_000);
    // B looks for stale locks from now on, and would run what A lost.
    await qb.start();
    await eventually(
      'every job completed',
      async () => (await qb.stats()).completed === JOBS,
      60_000,
    );
    assert.deepEqual(lost, [], 'locks lost');
    const runs = runLog.records.filter((r) => r.jobId.startsWith('slow-'));
    assert.equal(runs.length, JOBS, 'every job ran once');
    assert.ok(
      runs.every((r) => r.owner === qa.owner),
      'A ran every job',
    );
    for (const j of jobs) {
      const d = await qb.getDocument(j.id);
      assert.equal(d?.status.lockLosses ?? 0, 0, `${j.id} lost no lock`);
      assert.equal(d?.status.errCount, 0, `${j.id} has no error`);
    }
  });
});
