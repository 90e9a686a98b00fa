/**
 * Scope locks across processes: three worker processes (four workers each) share one queue of
 * 200 jobs spread over 5 dispatch scopes. Every run interval is recorded in the process that ran
 * it; no two intervals of one scope may overlap, and every job completes exactly once. Then a
 * process is killed while it holds a scope: the others take the scope over once its lock goes
 * stale, never earlier.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { eventually } from '../support/backends';
import { SleepJob } from '../support/jobs';
import { maxConcurrentByScope, overlappingRuns } from '../support/scope-jobs';
import { SharedDeployment, type DeploymentWorkerConfig } from './deployment';
import { countBy } from './harness';
import type { WorkerMessage } from './worker';

const PROCESSES = 3;
const WORKERS = 4;
const JOBS = 200;
const SCOPES = 5;

describe('multi-process: scope locks, 3 processes, 200 jobs over 5 scopes', function () {
  this.timeout(60_000);

  const queueName = 'scoped';
  const deployment = new SharedDeployment('scopes_process', 'sc');
  const spawn = (config: Omit<DeploymentWorkerConfig, 'queue'> & { queue?: string }) =>
    deployment.spawn({ queue: queueName, ...config });

  before(async () => deployment.open());

  after(async function () {
    this.timeout(30_000);
    await deployment.close();
  });

  it('never runs two jobs of one scope at once and completes every job once', async function () {
    const started = Date.now();
    const procs = Array.from({ length: PROCESSES }, () =>
      spawn({
        workers: WORKERS,
        // Generous lock: a slow machine must not see locks expire (a legitimate takeover).
        lockTimeoutMs: 20_000,
        heartbeatMs: 1_000,
        pollMinMs: 5,
        pollMaxMs: 50,
      }),
    );
    await Promise.all(procs.map((w) => w.waitReady()));

    const queue = await deployment.group.get(queueName);
    const jobs = Array.from({ length: JOBS }, (_, i) =>
      SleepJob.create(
        { ms: 2 + Math.floor(Math.random() * 6) },
        {
          id: `sc-${String(i).padStart(3, '0')}`,
          scopes: [`scope-${i % SCOPES}`],
        },
      ),
    );
    const putAt = Date.now();
    await queue.putMany(jobs);
    await eventually(
      `${JOBS} jobs completed`,
      async () => (await queue.stats()).completed === JOBS,
      45_000,
    );
    const elapsedMs = Date.now() - putAt;
    const spawnMs = putAt - started;
    const errorsBeforeClose = procs.map((w) => [...w.errors]);
    // A graceful close delivers every IPC message sent before it: the run records are complete.
    await Promise.all(procs.map((w) => w.close()));
    for (const [i, w] of procs.entries()) {
      assert.ok(w.closed, `worker ${w.pid} closed gracefully`);
      assert.deepEqual(errorsBeforeClose[i], [], `worker ${w.pid} reported no errors`);
    }

    const runs = procs.flatMap((w) => w.runs);
    const perJob = countBy(runs, (r) => r.jobId);
    const overlaps = overlappingRuns(runs);
    const maxByScope = maxConcurrentByScope(runs);
    const pids = countBy(runs, (r) => String(r.pid));
    const released = procs.reduce((n, w) => n + w.eventsOf('released').length, 0);
    if (process.env.DROVER_TEST_VERBOSE) {
      console.log(
        `      ${runs.length} runs in ${elapsedMs} ms after the put (spawn ${spawnMs} ms) over ${PROCESSES} processes ` +
          `(runs per process ${JSON.stringify([...pids.values()])}); ` +
          `max concurrent per scope ${JSON.stringify(Object.fromEntries(maxByScope))}; ` +
          `overlaps ${overlaps.length}; busy releases ${released}`,
      );
    }

    const stats = await queue.stats();
    assert.equal(stats.total, JOBS, 'no extra attempt');
    assert.equal(stats.completed, JOBS);
    assert.equal(perJob.size, JOBS, 'every job ran');
    assert.deepEqual(
      [...perJob].filter(([, n]) => n !== 1),
      [],
      'no job ran twice',
    );
    assert.deepEqual(
      overlaps.map(
        ([a, b, s]) =>
          `${s}: ${a.jobId}@${a.pid} [${a.start},${a.end}] / ${b.jobId}@${b.pid} [${b.start},${b.end}]`,
      ),
      [],
      'no two runs of one scope overlap',
    );
    assert.equal(maxByScope.size, SCOPES);
    for (const [scope, max] of maxByScope) assert.equal(max, 1, `${scope} ran one at a time`);
    assert.ok(pids.size > 1, `runs spread over processes: ${JSON.stringify([...pids])}`);
    assert.deepEqual(
      await deployment.stores.scopes.scopeList({ queue: queueName }),
      [],
      'no lock left',
    );
  });

  it('frees the scopes of a killed process once its locks go stale', async function () {
    const queue = 'scoped-crash';
    const lockTimeoutMs = 3_000;
    const procs = Array.from({ length: PROCESSES }, () =>
      spawn({ queue, workers: 2, lockTimeoutMs, heartbeatMs: 300, pollMinMs: 5, pollMaxMs: 50 }),
    );
    await Promise.all(procs.map((w) => w.waitReady()));
    const [victim, ...survivors] = procs;
    // When the victim reported each start (its run records only come at the end of a run).
    const victimStarts = new Map<string, number>();
    victim.child.on('message', (msg: WorkerMessage) => {
      if (msg.kind === 'event' && msg.event === 'claimed')
        victimStarts.set(msg.info.jobId, Date.now());
    });
    const CRASH_JOBS = 30;
    const scopeOf = (i: number) => `crash-${i % 3}`;
    const q = await deployment.group.get(queue);
    await q.putMany(
      Array.from({ length: CRASH_JOBS }, (_, i) =>
        SleepJob.create(
          { ms: 100 },
          { id: `cr-${String(i).padStart(2, '0')}`, scopes: [scopeOf(i)] },
        ),
      ),
    );
    // Kill the victim while it runs a job (it holds that job's scope).
    await eventually('the victim runs a job', () =>
      [...victimStarts.keys()].some((id) => !victim.runs.some((r) => r.jobId === id)),
    );
    await victim.kill9();
    const killedAt = Date.now();
    await eventually(
      `${CRASH_JOBS} completed`,
      async () => (await q.stats()).completed === CRASH_JOBS,
      40_000,
    );
    await Promise.all(survivors.map((w) => w.close()));

    // The store says who finished each job: runs the victim started but did not finish were
    // cut by the kill (their records, sent at the end of a run, never came).
    const finishedBy = new Map<string, string>();
    for await (const info of q.jobInfo()) finishedBy.set(info._id, info.status.owner);
    const orphans = [...victimStarts.keys()].filter((id) => finishedBy.get(id) !== victim.owner);
    assert.ok(orphans.length > 0, 'the victim was killed during a run');
    const runs = procs.flatMap((w) => w.runs);
    const perJob = countBy(runs, (r) => r.jobId);
    assert.deepEqual(
      [...perJob].filter(([, n]) => n !== 1),
      [],
      'no job ran to the end twice',
    );
    for (const [jobId, owner] of finishedBy) {
      if (owner !== victim.owner) assert.equal(perJob.get(jobId), 1, `${jobId} ran to the end`);
    }
    // The killed runs, from their reported start to the kill, hold their scopes too.
    const killedRuns = orphans.map((jobId) => ({
      jobId,
      pid: victim.pid,
      start: victimStarts.get(jobId) ?? killedAt,
      end: killedAt,
      scopes: [scopeOf(Number(jobId.slice(3)))],
    }));
    const overlaps = overlappingRuns([...runs, ...killedRuns]);
    assert.deepEqual(
      overlaps.map(([a, b, sc]) => `${sc}: ${a.jobId} / ${b.jobId}`),
      [],
    );
    const orphanScopes = new Set(killedRuns.flatMap((r) => r.scopes));
    const resumedAfterMs = Math.min(
      ...runs
        .filter((r) => r.scopes.some((sc) => orphanScopes.has(sc)) && r.start >= killedAt)
        .map((r) => r.start - killedAt),
    );
    assert.deepEqual(await deployment.stores.scopes.scopeList({ queue }), [], 'no lock left');
    if (process.env.DROVER_TEST_VERBOSE) {
      console.log(
        `      killed a process holding ${orphans.length} job(s) of scope(s) ${[...orphanScopes].join(', ')}; ` +
          `their scope ran again ${resumedAfterMs} ms after the kill (lock timeout ${lockTimeoutMs} ms); ` +
          `${runs.length} runs, overlaps ${overlaps.length}`,
      );
    }
  });
});
