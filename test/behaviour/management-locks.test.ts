/**
 * Management actions give back the scope locks of the jobs they end or delete (no queue
 * extension runs for those jobs): a singleton completed, deleted or aborted by an operator can be
 * put again at once, a force-deleted running job frees its dispatch scopes and its concurrency
 * slot, and locks that are not the job's (another job's, another attempt's) are kept. Both stores.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { Management } from '../../lib/ops/management/management';
import { scopeLockId, type ScopeLockDocument } from '../../lib/store/scope-store';
import type { QueueGroup } from '../../lib';
import { eventually, memoryBackend, mongoBackend, type Backend } from '../support/backends';
import { NoopJob, WaitForAbortJob } from '../support/jobs';

function managementLocks(makeBackend: () => Backend): void {
  let backend: Backend;
  let group: QueueGroup;
  let mgmt: Management;
  const locks = (queue: string) => backend.stores().scopes.scopeList({ queue });
  /** A second singleton of scope `only`, put into a queue no pool runs. */
  const rival = async (id: string) =>
    (await group.get('single')).putUnique(NoopJob.create({}, { id, enqueueScopes: ['only'] }));

  before(() => {
    backend = makeBackend();
  });
  beforeEach(async () => {
    await backend.reset();
    group = backend.group();
    mgmt = new Management(backend.stores());
  });
  after(async () => backend.close());

  it('complete of a pending singleton releases its scope: the next put succeeds at once', async () => {
    assert.equal(await rival('first'), true);
    assert.equal(await rival('blocked-out'), false);
    const res = await mgmt.complete('first');
    assert.deepEqual(
      [res.outcome, res.changed, res.state, res.locksReleased],
      ['done', 1, 'completed', 1],
    );
    assert.deepEqual(await locks('single'), []);
    assert.equal(await rival('second'), true);
  });

  it('delete of a pending singleton releases its scope: the next put succeeds at once', async () => {
    assert.equal(await rival('first'), true);
    const res = await mgmt.delete('first');
    assert.deepEqual([res.outcome, res.changed, res.locksReleased], ['done', 1, 1]);
    assert.deepEqual(await locks('single'), []);
    // Without the release, a holder that does not exist keeps its scope for the insert grace.
    assert.equal(await rival('second'), true);
  });

  it('abort of a pending singleton releases its scope', async () => {
    assert.equal(await rival('first'), true);
    const res = await new Management(group).abort('first');
    assert.deepEqual([res.outcome, res.state, res.locksReleased], ['done', 'aborted', 1]);
    assert.deepEqual(await locks('single'), []);
    assert.equal(await rival('second'), true);
  });

  it('force delete of a running job releases its enqueue, dispatch and slot locks', async () => {
    const q = await group.get('work');
    const key = { key: 'tenant', limit: 1 };
    await q.put(
      WaitForAbortJob.create(
        {},
        { id: 'runner', enqueueScopes: ['e'], scopes: ['d'], concurrency: key },
      ),
    );
    await q.start();
    await eventually('running with 3 locks', async () => (await locks('work')).length === 3);
    assert.equal((await mgmt.delete('runner')).outcome, 'refused');
    const res = await mgmt.delete('runner', { force: true });
    assert.deepEqual([res.outcome, res.changed, res.locksReleased], ['done', 1, 3]);
    assert.deepEqual(await locks('work'), []);
    // The scopes and the key are free for the next job at once.
    const other = await backend.group().get('work');
    await other.put(
      NoopJob.create({}, { id: 'next', enqueueScopes: ['e'], scopes: ['d'], concurrency: key }),
    );
    await other.start();
    assert.equal((await other.waitFor('next')).state, 'completed');
  });

  it("keeps locks that are not the job's: another job's, another attempt's", async () => {
    const q = await group.get('single');
    await q.put(NoopJob.create({}, { id: 'mine', enqueueScopes: ['m'] }));
    const now = new Date();
    const lock = (scope: string, f: Partial<ScopeLockDocument>): ScopeLockDocument => ({
      _id: scopeLockId('single', scope),
      queue: 'single',
      scope,
      kind: 'dispatch',
      holder: 'mine',
      attemptId: 'mine',
      owner: 'w',
      token: `t-${scope}`,
      acquiredAt: now,
      expiresAt: new Date(now.getTime() + 60_000),
      ...f,
    });
    const kept = [
      lock('of-another-job', { holder: 'theirs', attemptId: 'theirs' }),
      lock('of-another-attempt', { attemptId: 'mine#7' }),
    ];
    await backend.stores().scopes.scopeInsert(kept);
    const res = await mgmt.complete('mine');
    assert.equal(res.locksReleased, 1, 'only its enqueue lock');
    assert.deepEqual(
      (await locks('single')).map((l) => l.scope),
      ['of-another-attempt', 'of-another-job'],
    );
  });

  it('reports no released locks for a job that held none', async () => {
    const q = await group.get('plain');
    await q.put(NoopJob.create({}, { id: 'plain' }));
    const res = await mgmt.delete('plain');
    assert.deepEqual([res.outcome, res.changed, res.locksReleased], ['done', 1, undefined]);
  });
}

describe('management releases scope locks: in-memory', () => managementLocks(memoryBackend));
describe('management releases scope locks: MongoDB', () => managementLocks(mongoBackend));
