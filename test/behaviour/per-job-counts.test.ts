/**
 * Counts speak of jobs, on both stores: a job that was retried, rerun or is between attempts
 * counts once, by its current attempt, in `stats()` and in `Management.counts()`; its earlier
 * attempts stay readable as its history.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import type { Queue } from '../../lib';
import { Management } from '../../lib/ops/management';
import { eventually, memoryBackend, mongoBackend, type Backend } from '../support/backends';
import { FailJob, FlakyJob, NoopJob } from '../support/jobs';

function perJobCounts(makeBackend: () => Backend): void {
  let backend: Backend;
  before(() => {
    backend = makeBackend();
  });
  beforeEach(async () => backend.reset());
  after(async () => backend.close());

  it('counts a job retried twice, then completed, as one completed job', async () => {
    const group = backend.group();
    const q = await group.get('per-job');
    await q.put(FlakyJob.create({ succeedOn: 2 }, { id: 'flaky', maxAttempts: 5 }));
    await q.put(NoopJob.create({}, { id: 'plain' }));
    await q.start();
    assert.equal((await q.waitFor('flaky')).state, 'completed');
    await q.waitFor('plain');
    const stats = await q.stats();
    assert.deepEqual(
      [stats.total, stats.completed, stats.retrying, stats.pending],
      [2, 2, 0, 0],
      JSON.stringify(stats),
    );
    const counts = await new Management(group).counts({ queue: 'per-job' });
    assert.equal(counts.totals.total, 2);
    assert.deepEqual(
      counts.rows.map((r) => [r.type, r.state, r.count]),
      [
        ['test-flaky', 'completed', 1],
        ['test-noop', 'completed', 1],
      ],
    );
    // The history is still there.
    const attempts = await q.getAllAttempts('flaky');
    assert.deepEqual(
      attempts.map((a) => [a.id, a.state]),
      [
        ['flaky', 'retrying'],
        ['flaky#1', 'retrying'],
        ['flaky#2', 'completed'],
      ],
    );
  });

  it('counts a job waiting for its next attempt once, as pending', async () => {
    const q = await backend.group().get('per-job');
    await q.put(
      FlakyJob.create({ succeedOn: 1, retryAfterMs: 3_600_000 }, { id: 'later', maxAttempts: 3 }),
    );
    await q.runDue();
    await eventually(
      'the next attempt',
      async () => (await q.getAllAttempts('later')).length === 2,
    );
    const stats = await q.stats();
    assert.deepEqual(
      [stats.total, stats.pending, stats.due, stats.retrying],
      [1, 1, 0, 0],
      JSON.stringify(stats),
    );
  });

  it('counts a failed job run again by hand once, by its new attempt', async () => {
    const group = backend.group();
    const q = await group.get('per-job');
    await q.put(FailJob.create({}, { id: 'broken', maxAttempts: 1 }));
    await q.runDue();
    assert.deepEqual(await stateCounts(q), { failed: 1 });
    const m = new Management(group);
    assert.equal((await m.retry('broken')).outcome, 'done');
    assert.deepEqual(await stateCounts(q), { pending: 1 });
    assert.equal((await m.counts({ queue: 'per-job' })).totals.total, 1);
    assert.equal((await q.getAllAttempts('broken')).length, 2);
  });
}

/** The non-zero state counts of a queue's stats. */
async function stateCounts(q: Queue): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(await q.stats())) {
    if (k !== 'queue' && k !== 'total' && k !== 'due' && typeof v === 'number' && v > 0) {
      out[k] = v;
    }
  }
  return out;
}

describe('per-job counts: in-memory', () => perJobCounts(memoryBackend));
describe('per-job counts: MongoDB', () => perJobCounts(mongoBackend));
