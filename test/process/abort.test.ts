/**
 * Abort by ID across processes: a job running in a worker process is aborted from the parent,
 * whose group never started a pool. The worker's heartbeat sees the request and aborts the job's
 * signal; the attempt ends `aborted` with the error recorded. A job not yet started ends
 * `aborted` at once.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { QueueGroup, type JobDocument } from '../../lib';
import { eventually, testLogger } from '../support/backends';
import { SleepJob, WaitForAbortJob } from '../support/jobs';
import { JobsDeployment } from './deployment';
import type { WorkerHandle } from './harness';

const HEARTBEAT_MS = 250;
/** Long, so that only the heartbeat (never a lock expiry) can end the job in time. */
const LOCK_TIMEOUT_MS = 20_000;

describe('abort by ID from another process', function () {
  this.timeout(60_000);

  const dep = new JobsDeployment('abort', 'abortq');
  const pool = dep.pool;
  let worker: WorkerHandle;

  before(async function () {
    await dep.open();
    worker = dep.spawn({
      workers: 2,
      lockTimeoutMs: LOCK_TIMEOUT_MS,
      heartbeatMs: HEARTBEAT_MS,
      pollMinMs: 5,
      pollMaxMs: 50,
    });
    await worker.waitReady();
  });

  after(async function () {
    this.timeout(30_000);
    await dep.close();
  });

  const doc = (id: string): Promise<JobDocument> => dep.doc(id);

  it('aborts a job running in a worker process within about one heartbeat', async function () {
    const queue = await dep.group.get(dep.queue);
    const job = WaitForAbortJob.create({ maxMs: 60_000 }, { id: 'abort-running' });
    await queue.put(job);
    await eventually(
      'the worker runs the job',
      async () =>
        worker.eventsOf('claimed', job.id).length === 1 && (await doc(job.id)).state === 'running',
      15_000,
    );
    assert.equal(queue.started, false, 'the parent never started its pool');
    assert.equal(queue.isRunning(job.id), false, 'the job does not run in the parent');

    const t0 = Date.now();
    assert.equal(
      await dep.group.abort(job.id),
      'requested',
      'a running job elsewhere: abort is requested',
    );
    await eventually(
      'the job is aborted',
      async () => (await doc(job.id)).state === 'aborted',
      15_000,
    );
    const elapsedMs = Date.now() - t0;
    // One heartbeat (250 ms) plus generous slack for slow machines, and far below the 20 s lock
    // timeout: the heartbeat delivered the abort, not a lock expiry.
    assert.ok(elapsedMs < LOCK_TIMEOUT_MS / 4, `aborted after ${elapsedMs} ms`);

    await eventually(
      'the worker reports the aborted event',
      () => worker.eventsOf('aborted', job.id).length === 1,
    );
    const d = await doc(job.id);
    assert.equal(d.status.owner, worker.owner, 'the worker that ran it wrote the outcome');
    assert.equal(d.status.completed, false);
    assert.equal(d.status.inProgress, false);
    assert.equal(d.status.abortRequested, false, 'the request flag is cleared with the lock');
    assert.equal(d.status.lockExpiresAt, null);
    assert.ok(d.timeInfo.end, 'end time recorded');
    const aborted = d.status.errors.filter((e) => e.code === 'DROVER_ABORTED');
    assert.equal(aborted.length, 1, `abort error recorded: ${JSON.stringify(d.status.errors)}`);
    assert.equal(d.status.errCount, 1);
    assert.ok(
      d.status.errors.every((e) => e.code !== 'DROVER_LOCK_LOST'),
      'no lock expiry involved',
    );
    assert.equal(worker.eventsOf('lock-lost').length, 0);
    assert.equal(worker.eventsOf('completed', job.id).length, 0);
    assert.equal(await dep.group.abort(job.id), 'finished', 'a second abort finds it finished');

    // The worker is unharmed: it runs the next job.
    const next = SleepJob.create({ ms: 1 }, { id: 'abort-after' });
    await queue.put(next);
    await eventually(
      'the worker runs the next job',
      async () => (await doc(next.id)).state === 'completed',
      15_000,
    );
  });

  it('aborts a pending job (not started) at once', async function () {
    // Queued in the worker's queue but not due for a minute: pending, never claimed.
    const queue = await dep.group.get(dep.queue);
    const job = SleepJob.create({ ms: 1 }, { id: 'abort-pending', delayMs: 60_000 });
    await queue.put(job);
    assert.equal((await doc(job.id)).state, 'pending');

    assert.equal(await dep.group.abort(job.id), 'aborted');
    const d = await doc(job.id);
    assert.equal(d.state, 'aborted', 'aborted at once, no heartbeat needed');
    assert.equal(d.status.owner, '');
    assert.equal(d.status.completed, false);
    assert.ok(d.timeInfo.end, 'end time recorded');
    assert.deepEqual(
      d.status.errors.map((e) => e.code),
      ['DROVER_ABORTED'],
    );
    assert.equal(d.status.errCount, 1);

    // A pending job in a queue that no process runs, aborted through a group that never opened it.
    const otherGroup = new QueueGroup(dep.store, { logger: testLogger });
    try {
      const idle = await dep.group.get('abort-idle');
      const lone = SleepJob.create({ ms: 1 }, { id: 'abort-idle-1' });
      await idle.put(lone);
      assert.equal(await otherGroup.abort(lone.id), 'aborted');
      assert.equal((await doc(lone.id)).state, 'aborted');
      assert.equal(await otherGroup.abort('no-such-job'), 'not-found');
    } finally {
      // Do not close the shared store's client: QueueGroup.close only closes a client it opened.
      await otherGroup.close();
    }

    // The worker never ran the aborted job, even after a while.
    await new Promise((r) => setTimeout(r, 3 * HEARTBEAT_MS));
    assert.equal(worker.eventsOf('claimed', job.id).length, 0);
    assert.equal((await doc(job.id)).state, 'aborted');
  });
  // Regression: an aborted job slow to stop once lost its lock (heartbeats skipped it) and was
  // reclaimed and run a second time. Aborted jobs now keep their lock while they stop.
  it('does not run an aborted job again when it takes longer than the lock timeout to stop', async function () {
    const slowQueue = 'abort-slow';
    const slow = pool.spawn({
      ...dep.config({ workers: 2, lockTimeoutMs: 1_000, heartbeatMs: 200 }),
      queue: slowQueue,
      workers: 2,
      lockTimeoutMs: 1_000,
      heartbeatMs: 200,
      pollMinMs: 5,
      pollMaxMs: 50,
    });
    await slow.waitReady();
    const queue = await dep.group.get(slowQueue);
    // Ignores its signal: stops 3 s after it starts, well past the 1 s lock timeout.
    const job = SleepJob.create({ ms: 3_000, ignoreSignal: true }, { id: 'abort-slow-stop' });
    await queue.put(job);
    await eventually(
      'the worker runs the job',
      async () =>
        slow.eventsOf('claimed', job.id).length === 1 && (await doc(job.id)).state === 'running',
      15_000,
    );
    assert.equal(await dep.group.abort(job.id), 'requested');

    const finished = ['completed', 'failed', 'aborted'];
    await eventually(
      'the job is finished',
      async () => finished.includes((await doc(job.id)).state),
      20_000,
    );
    // Give a wrongly reclaimed job time to be claimed and run again.
    await new Promise((r) => setTimeout(r, 2_500));
    await slow.close();

    const d = await doc(job.id);
    const seen = `state ${d.state}, owner "${d.status.owner}", errors ${JSON.stringify(d.status.errors)}`;
    assert.equal(slow.eventsOf('claimed', job.id).length, 1, `claimed once (${seen})`);
    assert.equal(slow.runs.filter((r) => r.jobId === job.id).length, 1, `ran once (${seen})`);
    assert.ok(finished.includes(d.state), `finished, not put back (${seen})`);
    assert.equal(d.status.owner, slow.owner, `the worker's outcome is recorded (${seen})`);
    assert.deepEqual(
      d.status.errors.filter((e) => e.code === 'DROVER_LOCK_LOST'),
      [],
      'its lock did not expire while it was stopping',
    );
    assert.equal(slow.eventsOf('lock-lost', job.id).length, 0);
  });
});
