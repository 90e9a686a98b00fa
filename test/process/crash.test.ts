/**
 * Crash test: a worker process is killed with SIGKILL in the middle of a job. Another process
 * reclaims the job once the lock times out and completes it exactly once; the dead worker's
 * late write, replayed with its old fencing token, is rejected and changes nothing.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import type { JobDocument } from '../../lib';
import { eventually } from '../support/backends';
import { SleepJob } from '../support/jobs';
import { JobsDeployment, type JobsWorkerConfig } from './deployment';
import type { WorkerHandle } from './harness';

const LOCK_TIMEOUT_MS = 1_000;
const HEARTBEAT_MS = 200;
const JOB_MS = 3_000;

describe('crash: kill -9 a worker process mid-job', function () {
  this.timeout(60_000);

  const dep = new JobsDeployment('crash', 'crash');
  const pool = dep.pool;
  const config: JobsWorkerConfig = {
    workers: 2,
    lockTimeoutMs: LOCK_TIMEOUT_MS,
    heartbeatMs: HEARTBEAT_MS,
    reclaimEveryMs: 200,
    pollMinMs: 5,
    pollMaxMs: 50,
  };

  before(() => dep.open());
  afterEach(async function () {
    this.timeout(30_000);
    await pool.closeAll(500).catch(() => undefined);
    await pool.killAll();
  });
  after(async function () {
    this.timeout(30_000);
    await dep.close();
  });

  const doc = (id: string): Promise<JobDocument> => dep.doc(id);

  it('reclaims the job after the lock timeout, completes it once, and rejects the late write', async function () {
    const queue = await dep.group.get(dep.queue);
    const victim: WorkerHandle = dep.spawn(config);
    await victim.waitReady();

    const job = SleepJob.create({ ms: JOB_MS }, { id: 'crash-1' });
    await queue.put(job);
    await eventually(
      'the victim runs the job',
      async () =>
        victim.eventsOf('claimed', job.id).length === 1 && (await doc(job.id)).state === 'running',
      15_000,
    );

    // The token the victim holds: owner and modCount as stored just before the kill.
    const before = await doc(job.id);
    assert.equal(before.status.owner, victim.owner);
    assert.equal(before.state, 'running');
    await victim.kill9();
    assert.equal(victim.exitSignal, 'SIGKILL');
    const atKill = await doc(job.id);
    assert.equal(atKill.status.owner, victim.owner, 'the lock is still held right after the kill');
    assert.equal(
      atKill.status.modCount,
      before.status.modCount,
      'heartbeats do not change modCount',
    );
    assert.ok(atKill.status.lockExpiresAt, 'a running job has a lock expiry');

    // Another process takes over once the lock has gone stale.
    const rescuer = dep.spawn(config);
    await rescuer.waitReady();
    await eventually(
      'the job is completed by the rescuer',
      async () => (await doc(job.id)).state === 'completed',
      30_000,
    );
    // Every IPC message is in once the rescuer closes gracefully.
    await rescuer.close();
    assert.ok(rescuer.closed, 'rescuer closed gracefully');

    const after = await doc(job.id);
    assert.equal(after.status.owner, rescuer.owner, 'owned by the rescuer');
    assert.equal(after.status.completed, true);
    assert.equal(after.status.inProgress, false);
    assert.equal(after.retryInfo.currentAttempt, 0, 'the same attempt was resumed, not a retry');
    // claim (victim) + reclaim + claim (rescuer) + finish
    assert.equal(after.status.modCount, before.status.modCount + 3);

    // The reclaimed attempt records why: its lock expired. It was reclaimed only after expiry.
    const lockErrors = after.status.errors.filter((e) => e.code === 'DROVER_LOCK_LOST');
    assert.equal(
      lockErrors.length,
      1,
      `one lock-expiry error recorded: ${JSON.stringify(after.status.errors)}`,
    );
    assert.equal(after.status.errCount, 1);
    assert.ok(
      lockErrors[0].at.getTime() >= (atKill.status.lockExpiresAt as Date).getTime(),
      'reclaimed no earlier than the lock expiry',
    );

    // Exactly once: the victim never finished a run; the rescuer finished one and completed it.
    assert.deepEqual(victim.runs, [], 'the killed worker finished no run');
    assert.equal(rescuer.runs.filter((r) => r.jobId === job.id).length, 1, 'one finished run');
    assert.equal(rescuer.runs[0].owner, rescuer.owner);
    assert.equal(pool.eventsOf('completed', job.id).length, 1, 'one completion event');
    assert.equal(pool.eventsOf('lock-lost', job.id).length, 0);

    // The victim's late write (as its finish would have issued it), replayed with its old token.
    const oldToken = { id: job.id, owner: before.status.owner, modCount: before.status.modCount };
    const lateNow = new Date();
    const replay = await dep.store.jobWrite({
      token: oldToken,
      update: {
        state: 'failed',
        completed: false,
        inProgress: false,
        end: lateNow,
        errors: [{ message: 'late write', code: 'LATE', at: lateNow, retryable: false }],
        errCount: 1,
        payload: { ms: 1, result: 'written by a dead worker' },
      },
      now: lateNow,
    });
    assert.equal(replay, null, 'the late write is rejected');
    // The same write through the batched path, and a late heartbeat, are rejected too.
    const replayMany = await dep.store.jobWriteMany([
      { token: oldToken, update: { state: 'completed', completed: true }, now: lateNow },
    ]);
    assert.equal(replayMany.size, 0, 'the batched late write is rejected');
    const beat = await dep.store.jobHeartbeat({
      owner: oldToken.owner,
      jobs: [oldToken],
      lockExpiresAt: new Date(Date.now() + 60_000),
    });
    assert.deepEqual(beat.lost, [job.id], 'a late heartbeat learns the lock is lost');
    assert.deepEqual(await doc(job.id), after, 'the document is unchanged by the late writes');
  });
});
