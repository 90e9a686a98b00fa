/**
 * A runner pool under a lost database connection, deterministically: group A reaches MongoDB
 * through a severable proxy (chaos/proxy.ts), group B (another "process") reaches it directly.
 * A pool must survive a cut and resume; a job must not fail because a progress write was lost;
 * and a run must never go on (or start) once the lock it holds has expired, since another worker
 * may then take the job over.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { MongoClient } from 'mongodb';
import { QueueGroup, type QueueOptions } from '../../lib';
import { initStores, mongoStores } from '../../lib/store/store-set';
import { ChaosProxy, targetOf } from '../../chaos/proxy';
import { eventually, testLogger } from '../support/backends';
import {
  ChaosGateJob,
  ChaosQuickJob,
  chaosAudit,
  chaosGates,
  type AuditRecord,
} from '../support/chaos-jobs';
import { freshDb, testUri } from '../support/server';

/** Timings of these tests: a short lock, so that a cut outlasts it. */
const TIMINGS: QueueOptions = {
  lockTimeoutMs: 1_000,
  heartbeatMs: 200,
  reclaimEveryMs: 100,
  pollMinMs: 2,
  pollMaxMs: 50,
  drainTimeoutMs: 1_000,
};

describe('chaos: a runner pool under a lost connection (MongoDB through a proxy)', function () {
  this.timeout(60_000);
  const dbName = freshDb('chaos_conn');
  let proxy: ChaosProxy;
  let direct: MongoClient;
  const clients: MongoClient[] = [];
  const groups: QueueGroup[] = [];
  let n = 0;

  before(async function () {
    proxy = await ChaosProxy.start(targetOf(testUri()));
    direct = await MongoClient.connect(testUri());
  });

  after(async function () {
    await proxy?.close();
    await direct?.close();
  });

  beforeEach(function () {
    chaosAudit.clear();
    chaosGates.clear();
  });

  afterEach(async function () {
    proxy.restore();
    await Promise.all(groups.splice(0).map((g) => g.close({ drainTimeoutMs: 200 })));
    await Promise.all(clients.splice(0).map((c) => c.close(true)));
  });

  /** Group A (through the proxy) and group B (direct) over one fresh set of collections. */
  async function pair(
    serverSelectionTimeoutMS: number,
    options: QueueOptions = {},
  ): Promise<{ a: QueueGroup; b: QueueGroup }> {
    const prefix = `c${++n}`;
    const viaProxy = await MongoClient.connect(proxy.uri(testUri()), { serverSelectionTimeoutMS });
    clients.push(viaProxy);
    const storesB = mongoStores(direct.db(dbName), { prefix });
    await initStores(storesB);
    const make = (stores: typeof storesB) =>
      new QueueGroup(stores, { defaults: { ...TIMINGS, ...options }, logger: testLogger });
    const a = make(mongoStores(viaProxy.db(dbName), { prefix }));
    const b = make(storesB);
    groups.push(a, b);
    return { a, b };
  }

  const startOf = (jobId: string, owner?: string): AuditRecord | undefined =>
    chaosAudit.records.find(
      (r) => r.kind === 'start' && r.jobId === jobId && (owner === undefined || r.owner === owner),
    );
  const endOf = (start: AuditRecord): AuditRecord | undefined =>
    chaosAudit.records.find(
      (r) =>
        r.kind === 'end' &&
        r.jobId === start.jobId &&
        r.owner === start.owner &&
        r.modCount === start.modCount,
    );

  it('survives a cut: claims fail while it lasts, then the pool resumes', async function () {
    const { a, b } = await pair(5_000);
    const qa = await a.get('q');
    const qb = await b.get('q');
    const errors: Error[] = [];
    qa.on('error', (err) => errors.push(err));
    await qa.start();
    await qb.putMany(
      Array.from({ length: 10 }, (_, i) => ChaosQuickJob.create({}, { id: `j${i}` })),
    );
    await eventually('the first jobs completed', async () => (await qb.stats()).completed === 10);
    proxy.sever(1_500);
    await qb.putMany(
      Array.from({ length: 10 }, (_, i) => ChaosQuickJob.create({}, { id: `k${i}` })),
    );
    await eventually(
      'every job completed after the cut',
      async () => (await qb.stats()).completed === 20,
      30_000,
    );
    assert.ok(
      chaosAudit.records.every((r) => r.owner === qa.owner),
      'only A ran jobs',
    );
  });

  // Regression: the progress write's driver error was thrown into the job, so a job reporting
  // progress during a connection loss failed although its work succeeded (lib/runner/attempt-executor.ts).
  it('does not fail a job whose progress write is lost with the connection', async function () {
    const { a, b } = await pair(300, { lockTimeoutMs: 4_000, heartbeatMs: 1_000 });
    const qa = await a.get('q');
    const qb = await b.get('q');
    await qa.start();
    const job = ChaosGateJob.create({ gate: 'p', progressAtGate: true, exitGate: 'x' });
    await qb.put(job);
    await eventually('the job started', () => startOf(job.id) !== undefined);
    proxy.sever();
    chaosGates.add('p');
    // Longer than the driver's server selection timeout (300 ms): the progress write fails.
    await new Promise((r) => setTimeout(r, 1_000));
    proxy.restore();
    chaosGates.add('x');
    const doc = await qb.waitFor(job.id, { timeoutMs: 30_000 });
    const runs = chaosAudit.records.filter((r) => r.kind === 'start').length;
    assert.equal(
      doc.state,
      'completed',
      `ended ${doc.state}: ${doc.status.errors.map((e) => e.message).join('; ')}`,
    );
    assert.equal(runs, 1, 'the job ran once');
  });

  // Regression: a failed heartbeat changed nothing, so while A could not reach the server its
  // run went on past the lock's expiry and B ran the job at the same time. A pool aborts a run
  // (LockLostError) once its last confirmed lock expiry is near: self-fencing (lib/runner/lock-keeper.ts).
  it('stops a run whose lock could not be refreshed before another worker takes it over', async function () {
    const { a, b } = await pair(10_000);
    const qa = await a.get('q');
    const qb = await b.get('q');
    await qa.start();
    await qb.put(ChaosGateJob.create({ gate: 'never' }, { id: 'fenced' }));
    await eventually('A runs the job', () => startOf('fenced', qa.owner) !== undefined);
    proxy.sever(4_000);
    await qb.start();
    await eventually('B runs the job', () => startOf('fenced', qb.owner) !== undefined, 20_000);
    const runA = startOf('fenced', qa.owner) as AuditRecord;
    const runB = startOf('fenced', qb.owner) as AuditRecord;
    await eventually('A stopped its run', () => endOf(runA) !== undefined, 20_000);
    const endA = endOf(runA) as AuditRecord;
    assert.ok(
      endA.at <= runB.at,
      `A's run ended ${endA.at - runB.at} ms after B's run of the same job started`,
    );
  });

  // Regression: a progress write used to ignore the run's signal, so on a stalled connection a
  // fenced run could not stop and went on after its lock expired, while another worker ran the
  // job. The write now races the signal (lib/runner/attempt-executor.ts, untilAborted).
  it('lets a fenced run stop while its progress write hangs on a stalled connection', async function () {
    const { a, b } = await pair(10_000);
    const qa = await a.get('q');
    const qb = await b.get('q');
    await qa.start();
    await qb.put(
      ChaosGateJob.create({ gate: 'p', progressAtGate: true, exitGate: 'x' }, { id: 'stuck' }),
    );
    await eventually('A runs the job', () => startOf('stuck', qa.owner) !== undefined);
    proxy.stall(4_000);
    chaosGates.add('p');
    await qb.start();
    await eventually('B runs the job', () => startOf('stuck', qb.owner) !== undefined, 20_000);
    const runA = startOf('stuck', qa.owner) as AuditRecord;
    const runB = startOf('stuck', qb.owner) as AuditRecord;
    await eventually('A stopped its run', () => endOf(runA) !== undefined, 20_000);
    const endA = endOf(runA) as AuditRecord;
    chaosGates.add('x');
    assert.ok(
      endA.at <= runB.at,
      `A's run ended ${endA.at - runB.at} ms after B's run of the same job started`,
    );
  });

  // Regression: the claim's `now` (and so the lock's expiry) is taken before the claim goes out;
  // a claim held up by a stalled network landed with a lock already expired and the pool ran
  // the job anyway, while any worker could reclaim it as stale (lib/runner/runner-pool.ts launch()).
  it('never starts a run on a lock that had expired when the claim came back', async function () {
    const { a, b } = await pair(10_000);
    const qa = await a.get('q');
    const qb = await b.get('q');
    await qb.put(ChaosGateJob.create({ gate: 'g' }, { id: 'late-claim' }));
    proxy.stall();
    await qa.start();
    // The claim sent now waits in the stalled connection for longer than the lock timeout.
    await new Promise((r) => setTimeout(r, 2_500));
    proxy.restore();
    chaosGates.add('g');
    await eventually('the job ran', () => startOf('late-claim') !== undefined, 20_000);
    const run = startOf('late-claim') as AuditRecord;
    assert.ok(run.lockExpiresAt !== null);
    assert.ok(
      run.at <= run.lockExpiresAt,
      `the run started ${run.at - run.lockExpiresAt} ms after its lock had expired`,
    );
  });
});
