/**
 * Three worker processes with four workers each share one queue of 500 jobs: every job is
 * completed exactly once, none is lost, and the work is spread over the processes.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { eventually } from '../support/backends';
import { SleepJob } from '../support/jobs';
import { JobsDeployment } from './deployment';
import { countBy } from './harness';

const PROCESSES = 3;
const WORKERS = 4;
const JOBS = 500;

describe('multi-process: 3 processes x 4 workers, 500 jobs', function () {
  this.timeout(90_000);

  // The parent only puts and reads; it never starts a pool.
  const dep = new JobsDeployment('multi_process', 'mp');
  const pool = dep.pool;

  before(() => dep.open());
  after(async function () {
    this.timeout(60_000);
    await dep.close(1_000);
  });

  it('completes every job exactly once, loses none, and spreads work over the processes', async function () {
    const started = Date.now();
    const workers = Array.from({ length: PROCESSES }, () =>
      dep.spawn({
        workers: WORKERS,
        // Generous lock: a slow machine must not see locks expire (that would be a legitimate
        // second run, not the bug this test looks for).
        lockTimeoutMs: 20_000,
        heartbeatMs: 1_000,
        pollMinMs: 5,
        pollMaxMs: 50,
      }),
    );
    await Promise.all(workers.map((w) => w.waitReady()));
    assert.equal(
      new Set(workers.map((w) => w.owner)).size,
      PROCESSES,
      'each process has its own owner',
    );

    const queue = await dep.group.get(dep.queue);
    const jobs = Array.from({ length: JOBS }, (_, i) =>
      SleepJob.create(
        { ms: Math.floor(Math.random() * 6) },
        { id: `mp-${String(i).padStart(3, '0')}` },
      ),
    );
    await queue.putMany(jobs);

    await eventually(
      `${JOBS} jobs completed in the store`,
      async () => (await queue.stats()).completed === JOBS,
      60_000,
    );
    const elapsedMs = Date.now() - started;
    // Background errors while the jobs ran (errors raised while closing are close.test.ts's matter).
    const errorsWhileRunning = workers.map((w) => [...w.errors]);

    // A graceful close delivers every IPC message sent before it, so the counts below are final.
    await pool.closeAll();
    workers.forEach((w, i) => {
      assert.ok(w.closed, `worker ${w.pid} closed gracefully`);
      assert.deepEqual(errorsWhileRunning[i], [], `worker ${w.pid} reported background errors`);
    });

    // The store: all 500 completed, nothing else.
    const stats = await queue.stats();
    assert.equal(stats.total, JOBS, 'no job lost and no extra attempt created');
    assert.equal(stats.completed, JOBS);
    const ids = new Set(jobs.map((j) => j.id));
    const owners = new Set(workers.map((w) => w.owner));
    for await (const info of queue.jobInfo()) {
      assert.ok(ids.has(info._id), `unexpected document ${info._id}`);
      assert.equal(info.state, 'completed', `${info._id} state`);
      assert.equal(info.status.completed, true);
      assert.equal(info.status.errCount, 0, `${info._id} has no errors`);
      assert.ok(owners.has(info.status.owner), `${info._id} finished by a worker process`);
      // Claimed once, finished once: two guarded writes in all.
      assert.equal(
        info.status.modCount,
        2,
        `${info._id} was written exactly twice (claim + finish)`,
      );
    }

    // The runs (IPC records, one per finished run): every job once, by the owner of record.
    const runs = pool.runs();
    const runCounts = countBy(runs, (r) => r.jobId);
    assert.equal(runCounts.size, JOBS, 'every job ran');
    const twice = [...runCounts].filter(([, n]) => n > 1);
    assert.deepEqual(twice, [], 'no job ran more than once');
    assert.equal(runs.length, JOBS);

    // The completion events: exactly one per job.
    const completions = countBy(pool.eventsOf('completed'), (e) => e.jobId);
    assert.equal(completions.size, JOBS);
    assert.deepEqual(
      [...completions].filter(([, n]) => n !== 1),
      [],
      'no job completed more than once',
    );
    assert.deepEqual(pool.eventsOf('lock-lost'), [], 'no lock was lost');

    // The record of who ran each job agrees with the store.
    const byOwner = countBy(runs, (r) => r.owner);
    const docs = await dep.store.jobs.find({}, { projection: { 'status.owner': 1 } }).toArray();
    const ownerOf = new Map(docs.map((d) => [d._id, d.status.owner]));
    for (const r of runs)
      assert.equal(r.owner, ownerOf.get(r.jobId), `${r.jobId} ran under its owner of record`);

    // Spread: more than one process ran jobs.
    const pids = countBy(runs, (r) => String(r.pid));
    assert.ok(
      pids.size > 1,
      `runs spread over more than one process (got ${JSON.stringify([...pids])})`,
    );
    assert.ok(elapsedMs < 60_000, `finished in bounded time (${elapsedMs} ms)`);
    if (process.env.DROVER_TEST_VERBOSE) {
      console.log(
        `      ${JOBS} jobs in ${elapsedMs} ms; runs per owner: ${JSON.stringify([...byOwner.values()])}`,
      );
    }
  });
});
