/**
 * Scope locks against both stores: dispatch scopes serialize runs (in one pool and across
 * groups standing for processes), enqueue scopes make singletons, locks are released when jobs
 * finish and kept across retries, and locks left by dead holders are taken over.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { DuplicateJobError, DuplicateJobScopeError, QueueGroup } from '../../lib';
import { scopeLockId, type ScopeLockDocument, type ScopeStore } from '../../lib/store/scope-store';
import {
  FAST,
  eventually,
  memoryBackend,
  mongoBackend,
  testLogger,
  type Backend,
} from '../support/backends';
import { FailJob, FlakyJob, NoopJob, WaitForAbortJob } from '../support/jobs';
import { ScopedJob, maxConcurrentByScope, overlappingRuns, scopeRuns } from '../support/scope-jobs';

/** A lock document as a crashed process would have left it. */
function deadLock(
  queue: string,
  scope: string,
  fields: Partial<ScopeLockDocument> & Pick<ScopeLockDocument, 'holder' | 'kind'>,
): ScopeLockDocument {
  const past = new Date(Date.now() - 60_000);
  return {
    _id: scopeLockId(queue, scope),
    queue,
    scope,
    attemptId: fields.holder,
    owner: fields.kind === 'dispatch' ? 'dead-owner' : '',
    token: `dead-${scope}`,
    acquiredAt: past,
    expiresAt: past,
    ...fields,
  };
}

/** Counts calls of every scope-store method (the store itself is real). */
function countingScopeStore(inner: ScopeStore): { store: ScopeStore; calls: () => number } {
  let calls = 0;
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function' || prop === 'init' || prop === 'close') return value;
      return (...args: unknown[]) => {
        calls++;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store, calls: () => calls };
}

/** Lock timing for tests that assert exclusion: no lock may go stale on a loaded machine. */
const SLOW_LOCK = { lockTimeoutMs: 10_000, heartbeatMs: 500 };

function scopeBehaviour(makeBackend: () => Backend): void {
  let backend: Backend;
  let group: QueueGroup;
  const locks = (queue: string) => backend.stores().scopes.scopeList({ queue });

  before(() => {
    backend = makeBackend();
  });
  beforeEach(async () => {
    await backend.reset();
    group = backend.group();
    scopeRuns.clear();
  });
  after(async () => backend.close());

  describe('dispatch scopes', () => {
    it('are given back at once by a run whose lock was lost (no takeover needed)', async () => {
      const q = await group.get('lost', { workers: 1 });
      const lost: string[] = [];
      q.on('lock-lost', (e) => lost.push(e.jobId));
      await q.put(WaitForAbortJob.create({ maxMs: 60_000 }, { id: 'holder', scopes: ['db'] }));
      await q.start();
      await eventually('running', () => q.isRunning('holder'));
      // A claimed job counts as running before its dispatch scopes are taken: wait for them (a
      // server with ~10 ms writes, DocumentDB, showed the gap).
      await eventually('holding its scope', async () => (await locks('lost')).length > 0);
      assert.deepEqual(
        (await locks('lost')).map((l) => [l.scope, l.holder]),
        [['db', 'holder']],
      );
      // Nobody claims it again here, so the lock can only go by the lost run giving it back.
      await group.pause('lost');
      assert.equal(
        await backend
          .store()
          .jobReclaimStale({ queue: 'lost', now: new Date(Date.now() + 60_000) }),
        1,
      );
      await eventually('the run saw the loss', () => lost.includes('holder'));
      await eventually('scope given back', async () => (await locks('lost')).length === 0);
      assert.equal((await q.getDocument('holder'))?.state, 'pending');
    });

    it('serialize jobs sharing a scope, across two groups', async () => {
      // A generous lock: a lock that goes stale on a slow machine is rightly taken over, and
      // that is not what this test is about.
      const [g1, g2] = [backend.group(SLOW_LOCK), backend.group(SLOW_LOCK)];
      const [q1, q2] = [await g1.get('work'), await g2.get('work')];
      let lockLost = 0;
      for (const q of [q1, q2]) q.on('lock-lost', () => lockLost++);
      const jobs = Array.from({ length: 12 }, (_, i) =>
        ScopedJob.create({ ms: 25 }, { id: `s-${i}`, scopes: ['shared'] }),
      );
      await q1.putMany(jobs);
      await Promise.all([q1.start(), q2.start()]);
      await eventually('12 completed', async () => (await q1.stats()).completed === 12, 20_000);
      assert.equal(lockLost, 0, 'no lock was lost');
      assert.equal(scopeRuns.runs.length, 12);
      assert.deepEqual(overlappingRuns(scopeRuns.runs), []);
      assert.equal(maxConcurrentByScope(scopeRuns.runs).get('shared'), 1);
      assert.equal(scopeRuns.maxByScope.get('shared'), 1, 'never two in run() at once');
      await eventually(
        'every dispatch lock released',
        async () => (await locks('work')).length === 0,
      );
    });

    it('let jobs with distinct scopes run in parallel', async () => {
      const q = await group.get('work', { workers: 4 });
      // Each waits until all four run at once: only possible if none holds another back.
      await q.putMany(
        ['a', 'b', 'c', 'd'].map((s) =>
          ScopedJob.create(
            { barrier: 4, ms: 10_000 },
            { id: `p-${s}`, scopes: [s, 'common-' + s] },
          ),
        ),
      );
      await q.start();
      await eventually('4 completed', async () => (await q.stats()).completed === 4, 20_000);
      assert.equal(scopeRuns.runs.length, 4);
      assert.ok(
        scopeRuns.runs.every((r) => r.reachedBarrier),
        'all four ran at the same time',
      );
    });

    it('hold back every scope of a job (all or nothing) and release them on failure', async () => {
      const q = await backend.group(SLOW_LOCK).get('work', { workers: 3 });
      await q.putMany([
        ScopedJob.create({ ms: 30 }, { id: 'x1', scopes: ['x'] }),
        ScopedJob.create({ ms: 30 }, { id: 'xy', scopes: ['x', 'y'] }),
        ScopedJob.create({ ms: 30 }, { id: 'y1', scopes: ['y'] }),
        FailJob.create({}, { id: 'fy', scopes: ['y'], retryable: false }),
      ]);
      await q.start();
      await eventually(
        'all finished',
        async () => {
          const s = await q.stats();
          return s.completed === 3 && s.failed === 1;
        },
        20_000,
      );
      assert.deepEqual(overlappingRuns(scopeRuns.runs), []);
      await eventually('every lock released', async () => (await locks('work')).length === 0);
    });

    it('cost no scope-store call for jobs without scopes', async () => {
      const counting = countingScopeStore(backend.stores().scopes);
      const g = new QueueGroup(
        { ...backend.stores(), scopes: counting.store },
        { defaults: FAST, logger: testLogger },
      );
      try {
        const q = await g.get('plain');
        await q.putMany(Array.from({ length: 10 }, (_, i) => NoopJob.create({}, { id: `n${i}` })));
        await q.start();
        await eventually('10 completed', async () => (await q.stats()).completed === 10);
        assert.equal(counting.calls(), 0);
        await q.put(ScopedJob.create({ ms: 1 }, { id: 'scoped', scopes: ['z'] }));
        await eventually('scoped completed', async () => (await q.stats()).completed === 11);
        assert.ok(counting.calls() > 0);
      } finally {
        await g.close();
      }
    });
  });

  describe('enqueue scopes', () => {
    it('reject a second put holding the scope and insert nothing', async () => {
      const q = await group.get('single');
      await q.put(NoopJob.create({}, { id: 'first', enqueueScopes: ['only'] }));
      const err = await q.put(NoopJob.create({}, { id: 'second', enqueueScopes: ['only'] })).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof DuplicateJobScopeError, String(err));
      assert.equal(err.code, 'DROVER_DUPLICATE_JOB_SCOPE');
      assert.equal(err.scope, 'only');
      assert.equal(err.holder, 'first');
      assert.equal(await q.get('second'), undefined);
      assert.equal((await q.stats()).total, 1);

      // A batch with one conflict is rejected whole, and gives back what it took.
      await assert.rejects(
        q.putMany([
          NoopJob.create({}, { id: 'third', enqueueScopes: ['free'] }),
          NoopJob.create({}, { id: 'fourth', enqueueScopes: ['only'] }),
        ]),
        DuplicateJobScopeError,
      );
      assert.equal((await q.stats()).total, 1);
      assert.deepEqual(
        (await locks('single')).map((l) => [l.scope, l.holder, l.kind]),
        [['only', 'first', 'enqueue']],
      );

      // The same ID again is a duplicate job, and leaves the first job's lock alone.
      await assert.rejects(
        q.put(NoopJob.create({}, { id: 'first', enqueueScopes: ['only'] })),
        DuplicateJobError,
      );
      assert.equal((await locks('single')).length, 1);
      // Scopes are per queue.
      const elsewhere = await group.get('single-2');
      await elsewhere.put(NoopJob.create({}, { id: 'other-q', enqueueScopes: ['only'] }));
    });

    it('putUnique reports whether it inserted the job', async () => {
      const q = await group.get('single');
      assert.equal(await q.putUnique(NoopJob.create({}, { id: 'u1', enqueueScopes: ['s'] })), true);
      assert.equal(
        await q.putUnique(NoopJob.create({}, { id: 'u2', enqueueScopes: ['s'] })),
        false,
      );
      assert.equal(await q.putUnique(NoopJob.create({}, { id: 'u1' })), false, 'same ID');
      await assert.rejects(q.putUnique(NoopJob.create({}, { id: 'bad id!' })));
      assert.equal((await q.stats()).total, 1);
    });

    it('are released when the job completes or fails', async () => {
      const q = await group.get('single');
      await q.put(NoopJob.create({}, { id: 'ok', enqueueScopes: ['a'], scopes: ['a'] }));
      await q.put(FailJob.create({}, { id: 'ko', enqueueScopes: ['b'], retryable: false }));
      await q.start();
      await q.waitFor('ok');
      await q.waitFor('ko');
      await eventually('locks released', async () => (await locks('single')).length === 0);
      assert.equal((await q.getDocument('ko'))?.state, 'failed');
      assert.equal(
        await q.putUnique(NoopJob.create({}, { id: 'ok2', enqueueScopes: ['a'] })),
        true,
      );
      assert.equal(
        await q.putUnique(NoopJob.create({}, { id: 'ko2', enqueueScopes: ['b'] })),
        true,
      );
    });

    it('are kept across retries and released at the end', async () => {
      const q = await group.get('single');
      // Attempt 1 waits 30 s: the lock must be held by the job between its attempts.
      await q.put(
        FlakyJob.create(
          { succeedOn: 5, retryAfterMs: 30_000 },
          { id: 'flaky', enqueueScopes: ['r'], scopes: ['rd'] },
        ),
      );
      await q.start();
      await eventually(
        'attempt 1 exists',
        async () => (await q.getAllAttempts('flaky')).length === 2,
      );
      assert.equal((await q.getAttempt('flaky', 0))?.status.completed, false);
      assert.equal(
        await q.putUnique(NoopJob.create({}, { id: 'rival', enqueueScopes: ['r'] })),
        false,
      );
      // Enqueue lock kept; the dispatch lock of attempt 0 is released right after its hand-over.
      await eventually('only the enqueue lock held', async () => {
        const held = await locks('single');
        return (
          JSON.stringify(held.map((l) => [l.scope, l.holder, l.kind])) ===
          '[["r","flaky","enqueue"]]'
        );
      });
      // Ended while pending (abort writes no hook): the next put finds the holder ended.
      assert.equal(await q.abort('flaky'), 'aborted');
      assert.equal(
        await q.putUnique(NoopJob.create({}, { id: 'rival', enqueueScopes: ['r'] })),
        true,
      );

      // A retried job that ends completed gives its lock back.
      await q.put(
        FlakyJob.create({ succeedOn: 2 }, { id: 'flaky2', enqueueScopes: ['r2'], scopes: ['r2d'] }),
      );
      await eventually(
        'flaky2 completed',
        async () => (await q.getDocument('flaky2'))?.state === 'completed',
      );
      assert.equal((await q.getAllAttempts('flaky2')).length, 3);
      await eventually('released', async () =>
        (await locks('single')).every((l) => l.holder !== 'flaky2'),
      );
    });
  });

  describe('manual retries', () => {
    it('retryNow of a failed singleton takes its enqueue scope again, or refuses', async () => {
      const q = await group.get('single');
      await q.put(FailJob.create({}, { id: 'once', enqueueScopes: ['nightly'], retryable: false }));
      await q.start();
      await q.waitFor('once');
      await eventually('released', async () => (await locks('single')).length === 0);
      // From here on no pool runs: a retry that ran (and failed) at once would end and release
      // the scope before the last assertion could see it held.
      await q.close();
      const idle = await backend.group().get('single');
      // While a rival holds the scope, the retry is refused and nothing changes.
      await idle.put(WaitForAbortJob.create({}, { id: 'rival', enqueueScopes: ['nightly'] }));
      await assert.rejects(idle.retryNow('once'), DuplicateJobScopeError);
      assert.equal((await idle.getDocument('once'))?.state, 'failed');
      await idle.abort('rival');
      // Aborted while pending, no hook runs: its scope is taken over once its holder has ended.
      assert.equal((await idle.getDocument('rival'))?.state, 'aborted');
      // Once free, the new attempt holds the scope: no second copy can be queued.
      assert.equal(await idle.retryNow('once'), 'once#1');
      assert.equal(
        await idle.putUnique(NoopJob.create({}, { id: 'copy', enqueueScopes: ['nightly'] })),
        false,
      );
      assert.equal((await locks('single')).map((l) => l.holder).join(), 'once');
    });
  });

  describe('locks of dead holders', () => {
    it('take over a dispatch scope whose holder lock went stale or whose holder ended', async () => {
      const store = backend.store();
      const scopes = backend.stores().scopes;
      // A holder claimed by an owner that died: its lock expired a moment after the claim.
      const parked = await group.get('parked');
      await parked.put(NoopJob.create({}, { id: 'stale-holder' }));
      await store.jobClaim({
        queue: 'parked',
        owner: 'dead-owner',
        now: new Date(),
        lockTimeoutMs: 1,
        limit: 1,
      });
      // A holder that finished without releasing (its process died after the final write).
      await parked.put(NoopJob.create({}, { id: 'done-holder' }));
      await parked.abort('done-holder');
      assert.deepEqual(
        await scopes.scopeInsert([
          deadLock('work', 'c1', { holder: 'stale-holder', kind: 'dispatch' }),
          deadLock('work', 'c2', { holder: 'done-holder', kind: 'dispatch' }),
          deadLock('work', 'c3', { holder: 'never-existed', kind: 'dispatch' }),
        ]),
        [],
      );
      const q = await group.get('work');
      await q.putMany(
        ['c1', 'c2', 'c3'].map((s) => ScopedJob.create({ ms: 1 }, { id: `t-${s}`, scopes: [s] })),
      );
      await q.start();
      await eventually('3 completed', async () => (await q.stats()).completed === 3);
      await eventually('every lock released', async () => (await locks('work')).length === 0);
    });

    it('wait for a live holder, refreshing its expiry, and run once it ends', async () => {
      const store = backend.store();
      const scopes = backend.stores().scopes;
      const parked = await group.get('parked');
      await parked.put(NoopJob.create({}, { id: 'live-holder' }));
      const [claimed] = await store.jobClaim({
        queue: 'parked',
        owner: 'live-owner',
        now: new Date(),
        lockTimeoutMs: 60_000,
        limit: 1,
      });
      assert.ok(claimed);
      await scopes.scopeInsert([
        deadLock('work', 'busy', { holder: 'live-holder', kind: 'dispatch', owner: 'live-owner' }),
      ]);
      const q = await group.get('work');
      let released = 0;
      q.on('released', (info) => {
        if (info.jobId === 'waiter') released++;
      });
      await q.put(ScopedJob.create({ ms: 1 }, { id: 'waiter', scopes: ['busy'] }));
      await q.start();
      await eventually('released twice', () => released >= 2);
      assert.equal(scopeRuns.runs.length, 0, 'did not run while the holder is live');
      const [lock] = await locks('work');
      assert.equal(lock.holder, 'live-holder');
      assert.ok(lock.expiresAt.getTime() > Date.now(), 'expiry refreshed from the holder lock');
      // The holder ends; its lock document stays (no hook ran) but its holder is no longer live.
      await store.jobWrite({
        token: { id: 'live-holder', owner: 'live-owner', modCount: claimed.status.modCount },
        update: { state: 'completed', end: new Date() },
        now: new Date(),
      });
      await scopes.scopeRefresh({ id: lock._id, token: lock.token, expiresAt: new Date(0) });
      await q.waitFor('waiter');
      assert.equal((await q.getDocument('waiter'))?.state, 'completed');
    });

    it('take over an enqueue scope whose holder ended or was never inserted', async () => {
      const scopes = backend.stores().scopes;
      const q = await group.get('single');
      await q.put(NoopJob.create({}, { id: 'gone', enqueueScopes: ['e1'] }));
      assert.equal(await q.abort('gone'), 'aborted');
      await scopes.scopeInsert([
        deadLock('single', 'e2', { holder: 'lost-put', kind: 'enqueue' }),
        deadLock('single', 'e3', {
          holder: 'put-under-way',
          kind: 'enqueue',
          expiresAt: new Date(Date.now() + 60_000),
        }),
      ]);
      assert.equal(
        await q.putUnique(NoopJob.create({}, { id: 'n1', enqueueScopes: ['e1'] })),
        true,
      );
      assert.equal(
        await q.putUnique(NoopJob.create({}, { id: 'n2', enqueueScopes: ['e2'] })),
        true,
      );
      // Within its insert grace, a holder not inserted yet still holds the scope.
      assert.equal(
        await q.putUnique(NoopJob.create({}, { id: 'n3', enqueueScopes: ['e3'] })),
        false,
      );
      assert.deepEqual(
        (await locks('single')).map((l) => [l.scope, l.holder]),
        [
          ['e1', 'n1'],
          ['e2', 'n2'],
          ['e3', 'put-under-way'],
        ],
      );
    });
  });
}

describe('scope locks: in-memory', () => scopeBehaviour(memoryBackend));
describe('scope locks: MongoDB', () => scopeBehaviour(mongoBackend));
