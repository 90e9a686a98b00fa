/**
 * The same store call must give the same result on both backends. Driven by direct store calls
 * on documents a crashed worker would have left.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import type { JobDocument } from '../../lib';
import type { JobStore } from '../../lib/store/job-store';
import { memoryBackend, mongoBackend, type Backend } from '../support/backends';
import { makeDoc } from '../support/management-factory';

/** A running attempt held by `owner` whose lock ran out a minute ago (its worker died). */
function staleRunning(id: string, owner: string): JobDocument {
  const doc = makeDoc({ id, queue: 'sem', state: 'running' });
  doc.status.owner = owner;
  doc.status.lockExpiresAt = new Date(Date.now() - 60_000);
  return doc;
}

function semantics(makeBackend: () => Backend): void {
  let backend: Backend;
  let store: JobStore;

  before(() => {
    backend = makeBackend();
  });
  beforeEach(async () => {
    await backend.reset();
    store = backend.store();
  });
  after(async () => backend.close());

  it('maxLockLosses 1: the first lock loss fails the attempt', async () => {
    await store.jobInsert([staleRunning('poison-1', 'dead-worker')]);
    const n = await store.jobReclaimStale({ queue: 'sem', now: new Date(), maxLockLosses: 1 });
    assert.equal(n, 1);
    const doc = await store.jobGet('poison-1');
    assert.equal(
      doc?.state,
      'failed',
      `with maxLockLosses 1 the attempt went ${doc?.state} (lockLosses=${doc?.status.lockLosses})`,
    );
  });

  it('jobWriteMany does not report a release whose lock was reclaimed as written', async () => {
    await store.jobInsert([staleRunning('wm-1', 'w1'), staleRunning('wm-2', 'w1')]);
    const token = { id: 'wm-1', owner: 'w1', modCount: 1 };
    // The reclaimer takes both attempts back (owner '', modCount 2) before w1's writes land.
    assert.equal(await store.jobReclaimStale({ queue: 'sem', now: new Date() }), 2);
    const now = new Date();
    const release = { state: 'pending' as const, releaseLock: true, dueAt: now };
    assert.equal(await store.jobWrite({ token, update: release, now }), null, 'single write');

    const done = await store.jobWriteMany([
      { token, update: release, now },
      { token: { ...token, id: 'wm-2' }, update: { state: 'completed' as const }, now },
    ]);
    assert.deepEqual(
      [...done],
      [],
      'neither write matched (the lock was reclaimed) but jobWriteMany reports them as written',
    );
  });
}

describe('review: store semantics (memory)', () => semantics(memoryBackend));
describe('review: store semantics (mongodb)', () => semantics(mongoBackend));
