/**
 * `Queue.next()` documents: "The caller must `complete` it before `lockTimeoutMs` passes, or
 * `save` it to keep the lock fresh." A caller that saves in time must keep the job: nobody else
 * may claim it. Driven with an injected clock and direct reclaim calls; both backends.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { memoryBackend, mongoBackend, type Backend } from '../support/backends';
import { NoopJob } from '../support/jobs';

const LOCK_MS = 1_000;

function saveKeepsLock(makeBackend: () => Backend): void {
  let backend: Backend;
  let t: number;
  const now = () => new Date(t);

  before(() => {
    backend = makeBackend();
  });
  beforeEach(async () => {
    await backend.reset();
    t = Date.parse('2030-01-01T00:00:00Z');
  });
  after(async () => backend.close());

  it('save() keeps the lock of a job claimed with next()', async () => {
    const group = backend.group({ now, lockTimeoutMs: LOCK_MS, heartbeatMs: 100 });
    const q = await group.get('save-lock');
    await q.put(NoopJob.create({ tag: 'a' }, { id: 'sv-1' }));
    const job = await q.next();
    assert.equal(job?.id, 'sv-1');

    // The caller saves its progress well within the lock timeout, twice.
    t += LOCK_MS * 0.75;
    await q.save(job);
    t += LOCK_MS * 0.75;
    await q.save(job);
    t += LOCK_MS * 0.5;

    // 0.5 x lockTimeoutMs after the last save the lock must still be live.
    const store = backend.store();
    const doc = await store.jobGet('sv-1');
    const reclaimed = await store.jobReclaimStale({ queue: 'save-lock', now: now() });
    assert.equal(
      reclaimed,
      0,
      `saved ${LOCK_MS * 0.5} ms ago, yet the lock expired at ` +
        `${doc?.status.lockExpiresAt?.toISOString() ?? 'null'} (now ${now().toISOString()})`,
    );
    assert.equal(await q.next(), undefined, 'another caller claimed the job being worked on');
    await q.complete(job);
    assert.equal((await store.jobGet('sv-1'))?.state, 'completed');
  });
}

describe('review: save keeps the lock (memory)', () => saveKeepsLock(memoryBackend));
describe('review: save keeps the lock (mongodb)', () => saveKeepsLock(mongoBackend));
