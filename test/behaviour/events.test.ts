/**
 * Following job events of other processes through the database, against both backends: one
 * group runs jobs, another follows the queue and receives the same typed events (`claimed`,
 * `progress`, `completed`, `failed`, `retrying`, `aborted`, `lock-lost`, `expired`).
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { JobFollower, type FollowedEvent } from '../../lib/group/job-follower';
import { QueueGroup } from '../../lib';
import { eventually, memoryBackend, mongoBackend, type Backend } from '../support/backends';
import { FailJob, FlakyJob, NoopJob, WaitForAbortJob } from '../support/jobs';
import { SlowProgressJob } from '../support/workload-jobs';

/** Collects every event of a follower as `event:jobId`. */
function collect(follower: JobFollower): FollowedEvent[] {
  const seen: FollowedEvent[] = [];
  const names = [
    'claimed',
    'progress',
    'completed',
    'failed',
    'retrying',
    'aborted',
    'lock-lost',
    'expired',
    'released',
    'quarantined',
  ] as const;
  for (const event of names) {
    follower.on(event, (info: FollowedEvent['info']) =>
      seen.push({ event, info } as FollowedEvent),
    );
  }
  return seen;
}

const has = (events: FollowedEvent[], event: string, jobId: string) =>
  events.some((e) => e.event === event && e.info.jobId === jobId);

function eventBehaviour(makeBackend: () => Backend): void {
  let backend: Backend;
  let runner: QueueGroup;
  let watcher: QueueGroup;

  before(() => {
    backend = makeBackend();
  });
  beforeEach(async () => {
    await backend.reset();
    runner = backend.group();
    watcher = backend.group();
  });
  after(async () => backend.close());

  it('reports the jobs another group runs', async () => {
    const follower = watcher.follow({ queue: 'work', pollMs: 20 });
    const events = collect(follower);
    const q = await runner.get('work', { workers: 4 });
    await q.putMany([
      NoopJob.create({}, { id: 'ok' }),
      FailJob.create({}, { id: 'ko', retryable: false }),
      FlakyJob.create({ succeedOn: 1, retryAfterMs: 5 }, { id: 'flaky' }),
      SlowProgressJob.create({}, { id: 'slow' }),
      WaitForAbortJob.create({}, { id: 'long' }),
      NoopJob.create({}, { id: 'late', dispatchBy: new Date(Date.now() - 1_000) }),
    ]);
    await q.start();
    await eventually('long job claimed', () => has(events, 'claimed', 'long'));
    assert.equal(await watcher.abort('long'), 'requested');
    await eventually(
      'every event seen',
      () =>
        has(events, 'completed', 'ok') &&
        has(events, 'failed', 'ko') &&
        has(events, 'retrying', 'flaky') &&
        has(events, 'completed', 'flaky#1') &&
        has(events, 'completed', 'slow') &&
        has(events, 'aborted', 'long') &&
        has(events, 'expired', 'late'),
      15_000,
    );
    const progress = events.filter((e) => e.event === 'progress' && e.info.jobId === 'slow');
    assert.ok(progress.length >= 1, 'progress of the slow job');
    const last = progress[progress.length - 1];
    assert.ok(
      last.event === 'progress' && last.info.progress > 0 && last.info.message?.startsWith('step'),
    );
    const retrying = events.find((e) => e.event === 'retrying');
    assert.ok(retrying?.event === 'retrying');
    assert.equal(retrying.info.nextAttemptId, 'flaky#1');
    assert.ok(retrying.info.dueAt instanceof Date && retrying.info.dueAt.getFullYear() < 9999);
    const failed = events.find((e) => e.event === 'failed');
    assert.ok(failed?.event === 'failed' && failed.info.error === 'boom');
    assert.equal(failed.info.type, 'test-fail');
    // Each outcome is reported once.
    const outcomes = events.filter((e) =>
      ['completed', 'failed', 'aborted', 'expired'].includes(e.event),
    );
    assert.equal(outcomes.length, new Set(outcomes.map((e) => e.info.jobId)).size);
    await follower.close();
  });

  it('reports a lock lost by a dead process', async () => {
    const q = await runner.get('work');
    await q.put(NoopJob.create({}, { id: 'orphan' }));
    const follower = watcher.follow({ queue: 'work', pollMs: 20 });
    const events = collect(follower);
    // A process claims the job and dies; the runner reclaims the stale lock and runs the job.
    const [doc] = await backend.store().jobClaim({
      queue: 'work',
      owner: 'dead-process',
      now: new Date(),
      lockTimeoutMs: 150,
      limit: 1,
    });
    assert.equal(doc._id, 'orphan');
    await eventually('claimed seen', () => has(events, 'claimed', 'orphan'));
    await q.start();
    await eventually(
      'lock lost, then completed',
      () => has(events, 'lock-lost', 'orphan') && has(events, 'completed', 'orphan'),
      15_000,
    );
    const order = events.filter((e) => e.info.jobId === 'orphan').map((e) => e.event);
    assert.equal(order[0], 'claimed');
    assert.equal(order[order.length - 1], 'completed');
  });

  it('iterates as an async iterable until closed, and replays changes since a time', async () => {
    const since = new Date();
    const q = await runner.get('work');
    await q.putMany([1, 2, 3].map((i) => NoopJob.create({}, { id: `n${i}` })));
    await q.start();
    await eventually('3 completed', async () => (await q.stats()).completed === 3);
    // Started after the fact: `since` replays the current state of what changed after it.
    const follower = watcher.follow({ queue: 'work', since, pollMs: 20 });
    const seen: string[] = [];
    for await (const e of follower) {
      if (e.event === 'completed') seen.push(e.info.jobId);
      if (seen.length === 3) await follower.close();
    }
    assert.deepEqual(seen.sort(), ['n1', 'n2', 'n3']);
  });

  it('follows every recorded queue when none is named', async () => {
    const follower = watcher.follow({ pollMs: 20 });
    const events = collect(follower);
    const a = await runner.get('alpha');
    const b = await runner.get('beta');
    await a.put(NoopJob.create({}, { id: 'in-alpha' }));
    await b.put(NoopJob.create({}, { id: 'in-beta' }));
    // A follower created before the queues existed finds them on its next discovery.
    await follower.close();
    const again = watcher.follow({ since: new Date(Date.now() - 60_000), pollMs: 20 });
    const later = collect(again);
    await Promise.all([a.start(), b.start()]);
    await eventually(
      'both completed',
      () => has(later, 'completed', 'in-alpha') && has(later, 'completed', 'in-beta'),
    );
    assert.equal(events.filter((e) => e.event === 'completed').length, 0);
  });

  it('polls on demand with poll() (runOnce)', async () => {
    const q = await runner.get('work');
    const since = new Date();
    await q.put(NoopJob.create({}, { id: 'once' }));
    await q.start();
    await eventually('completed', async () => (await q.stats()).completed === 1);
    const follower = new JobFollower(backend.store(), ['work'], { since });
    const events = collect(follower);
    assert.equal(await follower.poll(), 1);
    assert.deepEqual(
      events.map((e) => `${e.event}:${e.info.jobId}`),
      ['completed:once'],
    );
    assert.equal(await follower.poll(), 0, 'nothing twice');
    await follower.close();
  });
}

describe('job events across processes (memory)', () => eventBehaviour(memoryBackend));
describe('job events across processes (mongodb)', () => eventBehaviour(mongoBackend));
