/**
 * Faults stay with the job at fault: a poison job that kills its worker process (`process.exit`,
 * as an out-of-memory kill would) is claimed in one batch with an innocent job, so both die with
 * the first worker. Worker processes are started again as they die. The innocent batch-mate must
 * complete (after the crash it is run alone, so the poison cannot take it down again) and the
 * poison job must end failed on its own lock losses, without dragging the batch-mate there.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { ErrorCode, type JobDocument } from '../../lib';
import { eventually } from '../support/backends';
import { ExitJob, SleepJob } from '../support/jobs';
import { JobsDeployment, type JobsWorkerConfig } from './deployment';

const MAX_LOCK_LOSSES = 3;

describe('poison job: a job that kills its worker does not fail its batch-mate', function () {
  this.timeout(120_000);

  const dep = new JobsDeployment('poison', 'poison');
  const pool = dep.pool;
  const config: JobsWorkerConfig = {
    workers: 2,
    lockTimeoutMs: 1_000,
    heartbeatMs: 200,
    reclaimEveryMs: 200,
    pollMinMs: 5,
    pollMaxMs: 100,
    maxLockLosses: MAX_LOCK_LOSSES,
  };

  before(() => dep.open());
  after(async function () {
    this.timeout(30_000);
    await dep.close();
  });

  const doc = (id: string): Promise<JobDocument | null> => dep.store.jobGet(id);

  it('the innocent batch-mate completes; the poison job fails on its own lock losses', async () => {
    const queue = await dep.group.get(dep.queue);
    // Put first, so that the first worker's first claim takes both in one batch (2 slots).
    await queue.putMany([
      ExitJob.create({ ms: 300 }, { id: 'poison', priority: 10 }),
      SleepJob.create({ ms: 600 }, { id: 'innocent', priority: 5 }),
    ]);
    const first = dep.spawn(config);
    await first.waitReady();
    await eventually('the first worker died', () => first.exited, 20_000);
    assert.equal(first.exitCode, 17, 'the poison job killed the first worker');
    assert.deepEqual(
      first
        .eventsOf('claimed')
        .map((e) => e.jobId)
        .sort(),
      ['innocent', 'poison'],
      'both jobs were running in the worker the poison job killed',
    );

    // A fresh worker whenever the last one died, until both jobs are final.
    const settled = async () => {
      const [p, i] = await Promise.all([doc('poison'), doc('innocent')]);
      return p?.state === 'failed' && i?.state === 'completed';
    };
    let spawned = 1;
    await eventually(
      'the poison job failed and the innocent one completed',
      async () => {
        if (await settled()) return true;
        if (pool.live().length === 0) {
          assert.ok(spawned < 3 * MAX_LOCK_LOSSES, `${spawned} workers died: the poison spreads`);
          spawned += 1;
          await dep.spawn(config).waitReady();
        }
        return false;
      },
      90_000,
    ).catch(async (err: Error) => {
      const [p, i] = await Promise.all([doc('poison'), doc('innocent')]);
      throw new Error(
        `${err.message}: poison ${p?.state} (${p?.status.lockLosses} losses), ` +
          `innocent ${i?.state} (${i?.status.lockLosses} losses)`,
      );
    });

    const innocent = await doc('innocent');
    const poison = await doc('poison');
    assert.equal(innocent?.state, 'completed');
    assert.equal(innocent?.status.lockLosses, 1, 'the innocent job lost its lock once only');
    assert.equal(poison?.state, 'failed');
    assert.equal(poison?.status.lockLosses, MAX_LOCK_LOSSES, 'the poison job failed on its own');
    assert.equal(poison?.status.errors.at(-1)?.code, ErrorCode.LockLost);
    // The innocent job ran once more, alone: never together with the poison job again.
    const innocentRuns = pool.runs().filter((r) => r.jobId === 'innocent');
    assert.equal(innocentRuns.length, 1, 'one completed run of the innocent job');
  });
});
