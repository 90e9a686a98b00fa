/**
 * JobStore conformance, part two: heartbeats, guarded writes (owner + modCount), transitions,
 * progress, reclaims, aborts and quarantines (lib/store/job-store.ts).
 */
import assert from 'node:assert/strict';
import { JobStateError, StoreError } from '../../../lib/errors';
import { HANDED_OVER_AT } from '../../../lib/types';
import { ErrorCode, type JobDocument } from '../../../lib';
import {
  storeRecords,
  type HandOverGuard,
  type JobHandOverParams,
  type JobHandOverResult,
  type JobStore,
  type JobUpdate,
  type JobWriteParams,
  type LockToken,
} from '../../../lib/store/job-store';
import {
  at,
  insertJobs,
  jobDoc,
  malformedJobs,
  NOT_RUNNING,
  type JobSpec,
} from '../../support/store-factory';
import type { StoreTarget } from './target';

/** A running attempt held by `w1` at modCount 1, its lock good until at(30 s). */
function held(id: string, over: Partial<JobSpec> = {}): JobSpec {
  return { state: 'running', owner: 'w1', modCount: 1, lockExpiresAt: at(30_000), ...over, id };
}

function token(id: string, over: Partial<LockToken> = {}): LockToken {
  return { id, owner: 'w1', modCount: 1, ...over };
}

export function jobStoreWrites(target: StoreTarget): void {
  const store = (): JobStore => target.stores().jobs;
  const get = async (id: string): Promise<JobDocument> => {
    const doc = await store().jobGet(id);
    assert.ok(doc, `${id} is stored`);
    return doc;
  };

  describe('jobHeartbeat', () => {
    it('moves the lock expiry of held attempts and leaves modCount and modTime alone', async () => {
      await insertJobs(store(), [held('a'), held('b', { modCount: 7 })]);
      const res = await store().jobHeartbeat({
        owner: 'w1',
        jobs: [token('a'), token('b', { modCount: 7 })],
        lockExpiresAt: at(60_000),
      });
      assert.deepEqual(res, { lost: [], abortRequested: [] });
      for (const [id, modCount] of [
        ['a', 1],
        ['b', 7],
      ] as const) {
        const doc = await get(id);
        assert.deepEqual(doc.status.lockExpiresAt, at(60_000));
        assert.equal(doc.status.modCount, modCount);
        assert.deepEqual(doc.status.modTime, jobDoc(held(id)).status.modTime);
      }
    });

    it('reports attempts no longer held as lost and refreshes none of them', async () => {
      await insertJobs(store(), [
        held('ok'),
        held('stale-count', { modCount: 2 }),
        held('other-owner', { owner: 'w2' }),
        held('finished', { state: 'completed', modCount: 1, owner: 'w1' }),
      ]);
      const res = await store().jobHeartbeat({
        owner: 'w1',
        jobs: ['ok', 'stale-count', 'other-owner', 'finished', 'missing'].map((id) => token(id)),
        lockExpiresAt: at(60_000),
      });
      assert.deepEqual([...res.lost].sort(), ['finished', 'missing', 'other-owner', 'stale-count']);
      assert.deepEqual(res.abortRequested, []);
      assert.deepEqual((await get('ok')).status.lockExpiresAt, at(60_000));
      assert.deepEqual((await get('stale-count')).status.lockExpiresAt, at(30_000));
      assert.deepEqual((await get('other-owner')).status.lockExpiresAt, at(30_000));
    });

    it('reports attempts whose abort was requested, and keeps their lock while they stop', async () => {
      await insertJobs(store(), [held('a', { abortRequested: true }), held('b')]);
      const res = await store().jobHeartbeat({
        owner: 'w1',
        jobs: [token('a'), token('b')],
        lockExpiresAt: at(60_000),
      });
      assert.deepEqual(res, { lost: [], abortRequested: ['a'] });
      assert.deepEqual((await get('a')).status.lockExpiresAt, at(60_000));
    });

    it('returns empty lists for no attempts', async () => {
      assert.deepEqual(
        await store().jobHeartbeat({ owner: 'w1', jobs: [], lockExpiresAt: at(1) }),
        { lost: [], abortRequested: [] },
      );
    });
  });

  describe('jobWrite', () => {
    it('applies every field of the update, sets modTime and returns modCount + 1', async () => {
      await insertJobs(store(), [held('a')]);
      const errors = [{ message: 'once', code: 'E', at: at(1), retryable: true }];
      const update: JobUpdate = {
        state: 'running',
        payload: { tag: 'saved', n: 2 },
        errors,
        errCount: 1,
        progress: 40,
        progressMessage: 'almost',
        start: at(2),
        end: at(3),
        completed: false,
        inProgress: true,
        needsRetry: true,
        dueAt: at(4),
        lockExpiresAt: at(90_000),
        nextAttemptId: 'a#1',
        retryEnd: at(5),
      };
      assert.equal(await store().jobWrite({ token: token('a'), update, now: at(10) }), 2);
      const doc = await get('a');
      assert.equal(doc.state, 'running');
      assert.deepEqual(doc.payload, { tag: 'saved', n: 2 });
      assert.deepEqual(doc.status.errors, errors);
      assert.equal(doc.status.errCount, 1);
      assert.equal(doc.status.progress, 40);
      assert.equal(doc.status.progressMessage, 'almost');
      assert.deepEqual(doc.timeInfo.start, at(2));
      assert.deepEqual(doc.timeInfo.end, at(3));
      assert.equal(doc.status.completed, false);
      assert.equal(doc.status.inProgress, true);
      assert.equal(doc.retryInfo.needsRetry, true);
      assert.deepEqual(doc.dueAt, at(4));
      assert.deepEqual(doc.status.lockExpiresAt, at(90_000));
      assert.equal(doc.nextAttemptId, 'a#1');
      assert.deepEqual(doc.retryInfo.end, at(5));
      assert.equal(doc.status.owner, 'w1');
      assert.equal(doc.status.modCount, 2);
      assert.deepEqual(doc.status.modTime, at(10));
    });

    it('leaves fields not in the update alone', async () => {
      const [before] = await insertJobs(store(), [held('a', { payload: { keep: true } })]);
      assert.equal(await store().jobWrite({ token: token('a'), update: {}, now: at(10) }), 2);
      const doc = await get('a');
      assert.deepEqual(
        { ...doc, status: { ...doc.status, modCount: 1, modTime: before.status.modTime } },
        before,
      );
    });

    it('leaving `running` drops the lock and any abort request but keeps the owner', async () => {
      await insertJobs(store(), [held('a', { abortRequested: true })]);
      const update: JobUpdate = { state: 'aborted', end: at(5), inProgress: false };
      assert.equal(await store().jobWrite({ token: token('a'), update, now: at(5) }), 2);
      const doc = await get('a');
      assert.equal(doc.state, 'aborted');
      assert.equal(doc.status.lockExpiresAt, null);
      assert.equal(doc.status.abortRequested, false);
      assert.equal(doc.status.owner, 'w1', 'a finished attempt keeps its last owner');
    });

    it('releaseLock clears the owner: the attempt is pending for any worker', async () => {
      await insertJobs(store(), [held('a')]);
      const update: JobUpdate = { state: 'pending', releaseLock: true, dueAt: at(100) };
      assert.equal(await store().jobWrite({ token: token('a'), update, now: at(5) }), 2);
      const doc = await get('a');
      assert.equal(doc.status.owner, '');
      assert.equal(doc.status.lockExpiresAt, null);
      const claimed = await store().jobClaim({
        queue: 'q',
        owner: 'w2',
        now: at(100),
        lockTimeoutMs: 1000,
        limit: 1,
      });
      assert.deepEqual(
        claimed.map((d) => [d._id, d.status.owner, d.status.modCount]),
        [['a', 'w2', 3]],
      );
    });

    it('a release never discards an abort request: it matches nothing', async () => {
      await insertJobs(store(), [held('a', { abortRequested: true })]);
      const update: JobUpdate = { state: 'pending', releaseLock: true, dueAt: at(100) };
      assert.equal(await store().jobWrite({ token: token('a'), update, now: at(5) }), null);
      const doc = await get('a');
      assert.equal(doc.state, 'running');
      assert.equal(doc.status.abortRequested, true);
      assert.equal(doc.status.modCount, 1);
    });

    it('a stale modCount, another owner or a missing attempt matches nothing', async () => {
      const [before] = await insertJobs(store(), [held('a', { modCount: 3 })]);
      const update: JobUpdate = { state: 'completed', completed: true };
      for (const t of [
        token('a', { modCount: 2 }),
        token('a', { modCount: 4 }),
        token('a', { modCount: 3, owner: 'w2' }),
        token('missing'),
      ]) {
        assert.equal(await store().jobWrite({ token: t, update, now: at(5) }), null);
      }
      assert.deepEqual(await get('a'), before);
    });

    it('fences: a token works once, the next write needs the new modCount', async () => {
      await insertJobs(store(), [held('a')]);
      const update: JobUpdate = { progress: 10 };
      assert.equal(await store().jobWrite({ token: token('a'), update, now: at(1) }), 2);
      assert.equal(await store().jobWrite({ token: token('a'), update, now: at(2) }), null);
      assert.equal(
        await store().jobWrite({ token: token('a', { modCount: 2 }), update, now: at(3) }),
        3,
      );
    });
  });

  describe('jobWriteMany', () => {
    const complete = (t: LockToken): JobWriteParams => ({
      token: t,
      update: { state: 'completed', completed: true, end: at(9) },
      now: at(9),
    });

    it('applies every write and returns every ID', async () => {
      await insertJobs(store(), [held('a'), held('b', { modCount: 5 }), held('c')]);
      const done = await store().jobWriteMany([
        complete(token('a')),
        complete(token('b', { modCount: 5 })),
        complete(token('c')),
      ]);
      assert.deepEqual([...done].sort(), ['a', 'b', 'c']);
      for (const [id, modCount] of [
        ['a', 2],
        ['b', 6],
        ['c', 2],
      ] as const) {
        const doc = await get(id);
        assert.equal(doc.state, 'completed');
        assert.equal(doc.status.modCount, modCount);
        assert.deepEqual(doc.status.modTime, at(9));
      }
    });

    it('returns only the writes that matched; the others change nothing', async () => {
      const [, stale] = await insertJobs(store(), [
        held('a'),
        held('stale', { modCount: 4 }),
        held('b'),
        held('aborting', { abortRequested: true }),
      ]);
      const release: JobWriteParams = {
        token: token('aborting'),
        update: { state: 'pending', releaseLock: true },
        now: at(9),
      };
      const done = await store().jobWriteMany([
        complete(token('a')),
        complete(token('stale', { modCount: 3 })),
        complete(token('missing')),
        complete(token('b', { owner: 'w2' })),
        release,
      ]);
      assert.deepEqual([...done], ['a']);
      assert.deepEqual(await get('stale'), stale);
      assert.equal((await get('b')).state, 'running');
      assert.equal((await get('aborting')).status.owner, 'w1');
    });

    it('checks each token of writes that set the same values (one statement on MongoDB)', async () => {
      await insertJobs(store(), [
        held('r1'),
        held('r2', { modCount: 3 }),
        held('r3', { abortRequested: true }),
        held('r4'),
      ]);
      const release = (t: LockToken): JobWriteParams => ({
        token: t,
        update: { state: 'pending', releaseLock: true },
        now: at(9),
      });
      const done = await store().jobWriteMany([
        release(token('r1')),
        // A token of an older modCount, and a release of a job whose abort was requested.
        release(token('r2', { modCount: 2 })),
        release(token('r3')),
        release(token('r4')),
      ]);
      assert.deepEqual([...done].sort(), ['r1', 'r4']);
      for (const id of ['r1', 'r4']) {
        const doc = await get(id);
        assert.equal(doc.state, 'pending');
        assert.equal(doc.status.owner, '');
        assert.equal(doc.status.modCount, 2);
      }
      assert.equal((await get('r2')).state, 'running');
      assert.equal((await get('r2')).status.modCount, 3);
      assert.equal((await get('r3')).state, 'running');
      assert.equal((await get('r3')).status.abortRequested, true);
    });

    it('returns an empty set for no writes', async () => {
      assert.deepEqual([...(await store().jobWriteMany([]))], []);
    });
  });

  describe('jobTransition', () => {
    it('writes when modCount and one of the `from` states match, whoever holds it', async () => {
      await insertJobs(store(), [{ id: 'a', state: 'blocked', modCount: 2 }]);
      const n = await store().jobTransition({
        id: 'a',
        modCount: 2,
        from: ['pending', 'blocked'],
        update: { state: 'pending', dueAt: at(7) },
        now: at(7),
      });
      assert.equal(n, 3);
      const doc = await get('a');
      assert.equal(doc.state, 'pending');
      assert.deepEqual(doc.dueAt, at(7));
      assert.deepEqual(doc.status.modTime, at(7));
      assert.equal(doc.status.modCount, 3);
    });

    it('matches nothing in another state, at another modCount, or when missing', async () => {
      const [before] = await insertJobs(store(), [{ id: 'a', state: 'blocked', modCount: 2 }]);
      // pending -> aborted and blocked -> aborted are both moves the state machine allows.
      const update: JobUpdate = { state: 'aborted', end: at(7) };
      for (const p of [
        { id: 'a', modCount: 2, from: ['pending' as const] },
        { id: 'a', modCount: 1, from: ['blocked' as const] },
        { id: 'a', modCount: 3, from: ['blocked' as const] },
        { id: 'missing', modCount: 2, from: ['blocked' as const] },
      ]) {
        assert.equal(await store().jobTransition({ ...p, update, now: at(7) }), null);
      }
      assert.deepEqual(await get('a'), before);
    });

    it('refuses a move the state machine does not allow, before writing anything', async () => {
      const [before] = await insertJobs(store(), [{ id: 'a', state: 'completed', modCount: 2 }]);
      await assert.rejects(
        store().jobTransition({
          id: 'a',
          modCount: 2,
          from: ['completed'],
          update: { state: 'running' },
          now: at(7),
        }),
        JobStateError,
      );
      assert.deepEqual(await get('a'), before);
    });
  });

  describe('jobHandOver', () => {
    /** The old attempt's write of a retry: retrying, handed over to `a#1`. */
    const retrying: JobUpdate = {
      state: 'retrying',
      needsRetry: true,
      nextAttemptId: 'a#1',
      dueAt: HANDED_OVER_AT,
      end: at(5),
      inProgress: false,
    };
    const successor = (): JobDocument => jobDoc({ id: 'a#1', dueAt: at(9) });
    const params = (guard: HandOverGuard): JobHandOverParams => ({
      guard,
      update: retrying,
      next: successor(),
      now: at(5),
    });

    /** Where the store cannot make it one step it writes nothing (a server without transactions). */
    async function assertUntouched(before: JobDocument): Promise<void> {
      assert.deepEqual(await get('a'), before);
      assert.equal(await store().jobGet('a#1'), null);
    }

    it('writes the held attempt and inserts its successor in one step', async () => {
      const [before] = await insertJobs(store(), [held('a')]);
      const result = await store().jobHandOver(params({ token: token('a') }));
      if (!result.atomic) return assertUntouched(before);
      assert.deepEqual(result, { atomic: true, modCount: 2, inserted: true });
      const old = await get('a');
      assert.equal(old.state, 'retrying');
      assert.equal(old.nextAttemptId, 'a#1');
      assert.deepEqual(old.dueAt, HANDED_OVER_AT);
      assert.equal(old.status.modCount, 2);
      const next = await get('a#1');
      assert.equal(next.state, 'pending');
      assert.deepEqual(next.dueAt, at(9));
    });

    it('guards by modCount and state for a write nobody holds', async () => {
      await insertJobs(store(), [{ id: 'a', state: 'failed', modCount: 3 }]);
      const result = await store().jobHandOver(
        params({ id: 'a', modCount: 3, from: ['failed', 'aborted'] }),
      );
      if (!result.atomic) return;
      assert.deepEqual(result, { atomic: true, modCount: 4, inserted: true });
      assert.equal((await get('a')).state, 'retrying');
      assert.ok(await store().jobGet('a#1'));
    });

    it('writes and inserts nothing when the guard matches nothing', async () => {
      const [before] = await insertJobs(store(), [held('a')]);
      for (const guard of [
        { token: token('a', { owner: 'w2' }) },
        { token: token('a', { modCount: 2 }) },
        { id: 'a', modCount: 1, from: ['failed' as const] },
      ]) {
        const result = await store().jobHandOver(params(guard));
        if (result.atomic)
          assert.deepEqual(result, { atomic: true, modCount: null, inserted: false });
        await assertUntouched(before);
      }
    });

    it('counts a successor stored already as handed over and keeps it as it was', async () => {
      await insertJobs(store(), [held('a'), { id: 'a#1', state: 'running', owner: 'w9' }]);
      const result = await store().jobHandOver(params({ token: token('a') }));
      if (!result.atomic) return;
      assert.deepEqual(result, { atomic: true, modCount: 2, inserted: false });
      assert.equal((await get('a')).state, 'retrying');
      assert.equal((await get('a#1')).status.owner, 'w9');
    });

    it('leaves the write undone when the insert fails (never half a hand-over)', async () => {
      const [before] = await insertJobs(store(), [held('a')]);
      const inner = store();
      let injected = false;
      // Only the store's own insert, as jobHandOver makes it, fails (a crash or a lost server).
      const failing = new Proxy(inner, {
        get(target, prop, receiver) {
          if (prop !== 'jobInsert') return Reflect.get(target, prop, receiver) as unknown;
          return async () => {
            injected = true;
            throw new StoreError('injected: the insert failed');
          };
        },
      });
      const outcome = await failing.jobHandOver(params({ token: token('a') })).then(
        (r): JobHandOverResult | Error => r,
        (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
      );
      if (injected) {
        // The insert ran inside the step, so the whole step failed: nothing is written.
        assert.ok(outcome instanceof StoreError, String(outcome));
        await assertUntouched(before);
      } else if (outcome instanceof Error) {
        assert.fail(outcome);
      } else if (outcome.atomic) {
        // The store inserts without its public jobInsert (memory: one synchronous step).
        assert.equal((await get('a')).state, 'retrying');
        assert.ok(await store().jobGet('a#1'));
      } else {
        await assertUntouched(before);
      }
    });
  });

  describe('jobProgress', () => {
    it('stores progress and message with modTime, leaving modCount (and the token) alone', async () => {
      await insertJobs(store(), [held('a')]);
      assert.equal(
        await store().jobProgress({
          token: token('a'),
          progress: 30,
          message: 'third',
          now: at(3),
        }),
        true,
      );
      let doc = await get('a');
      assert.equal(doc.status.progress, 30);
      assert.equal(doc.status.progressMessage, 'third');
      assert.deepEqual(doc.status.modTime, at(3));
      assert.equal(doc.status.modCount, 1);
      assert.equal(
        await store().jobProgress({ token: token('a'), progress: 60, now: at(4) }),
        true,
      );
      doc = await get('a');
      assert.equal(doc.status.progress, 60);
      assert.equal(doc.status.progressMessage, 'third', 'no message keeps the previous one');
      assert.equal(await store().jobWrite({ token: token('a'), update: {}, now: at(5) }), 2);
    });

    it('is refused for a stale token, another owner or an attempt no longer running', async () => {
      await insertJobs(store(), [
        held('a', { modCount: 2 }),
        held('done', { state: 'completed', owner: 'w1', modCount: 1 }),
      ]);
      for (const t of [token('a'), token('a', { modCount: 2, owner: 'w2' }), token('done')]) {
        assert.equal(await store().jobProgress({ token: t, progress: 50, now: at(3) }), false);
      }
      assert.equal((await get('a')).status.progress, 0);
      assert.equal((await get('done')).status.progress, 0);
    });
  });

  describe('jobReclaimStale', () => {
    it('puts a running attempt whose lock expired before `now` back to pending', async () => {
      await insertJobs(store(), [held('a', { lockExpiresAt: at(-1), dueAt: at(-5000) })]);
      assert.equal(await store().jobReclaimStale({ queue: 'q', now: at(0) }), 1);
      const doc = await get('a');
      assert.equal(doc.state, 'pending');
      assert.equal(doc.status.owner, '');
      assert.equal(doc.status.inProgress, false);
      assert.equal(doc.status.lockExpiresAt, null);
      assert.equal(doc.status.abortRequested, false);
      assert.deepEqual(doc.status.modTime, at(0));
      assert.equal(doc.status.modCount, 2);
      assert.equal(doc.status.errCount, 1);
      assert.equal(doc.status.lockLosses, 1);
      assert.deepEqual(doc.status.errors, [storeRecords.lockExpired(at(0))]);
      assert.deepEqual(doc.dueAt, at(-5000), 'keeps its place in the claim order');
      assert.equal(doc.timeInfo.end, null);
    });

    it('leaves locks expiring at or after `now`, other queues and other states alone', async () => {
      const docs = await insertJobs(store(), [
        held('exact', { lockExpiresAt: at(0) }),
        held('live', { lockExpiresAt: at(1) }),
        held('elsewhere', { lockExpiresAt: at(-1), queue: 'other' }),
        ...NOT_RUNNING.map((state) => ({ id: `s-${state}`, state, lockExpiresAt: at(-1) })),
      ]);
      assert.equal(await store().jobReclaimStale({ queue: 'q', now: at(0) }), 0);
      for (const d of docs) assert.deepEqual(await get(d._id), d);
    });

    it('ends an attempt whose abort was requested as aborted', async () => {
      await insertJobs(store(), [
        held('a', { lockExpiresAt: at(-1), abortRequested: true, lockLosses: 4 }),
      ]);
      assert.equal(await store().jobReclaimStale({ queue: 'q', now: at(0) }), 1);
      const doc = await get('a');
      assert.equal(doc.state, 'aborted');
      assert.deepEqual(doc.timeInfo.end, at(0));
      assert.equal(doc.status.owner, '');
      assert.equal(doc.status.abortRequested, false);
      assert.deepEqual(doc.status.errors, [storeRecords.abortedStale(at(0))]);
    });

    it('fails an attempt on its maxLockLosses-th lost lock (default 5)', async () => {
      await insertJobs(store(), [
        held('fourth', { lockExpiresAt: at(-1), lockLosses: 3 }),
        held('fifth', { lockExpiresAt: at(-1), lockLosses: 4 }),
      ]);
      assert.equal(await store().jobReclaimStale({ queue: 'q', now: at(0) }), 2);
      const fourth = await get('fourth');
      assert.equal(fourth.state, 'pending');
      assert.equal(fourth.status.lockLosses, 4);
      const fifth = await get('fifth');
      assert.equal(fifth.state, 'failed');
      assert.equal(fifth.status.lockLosses, 5);
      assert.deepEqual(fifth.timeInfo.end, at(0));
      assert.deepEqual(fifth.status.errors, [storeRecords.poisoned(at(0), 5)]);
    });

    it('honours a maxLockLosses given', async () => {
      await insertJobs(store(), [
        held('first', { lockExpiresAt: at(-1) }),
        held('second', { lockExpiresAt: at(-1), lockLosses: 1 }),
        held('third', { lockExpiresAt: at(-1), lockLosses: 2 }),
      ]);
      assert.equal(await store().jobReclaimStale({ queue: 'q', now: at(0), maxLockLosses: 3 }), 3);
      assert.equal((await get('first')).state, 'pending');
      assert.equal((await get('second')).state, 'pending');
      const third = await get('third');
      assert.equal(third.state, 'failed');
      assert.deepEqual(third.status.errors, [storeRecords.poisoned(at(0), 3)]);
    });

    it('takes the lock from its old owner: its heartbeat and writes no longer match', async () => {
      await insertJobs(store(), [held('a', { lockExpiresAt: at(-1) })]);
      await store().jobReclaimStale({ queue: 'q', now: at(0) });
      const beat = await store().jobHeartbeat({
        owner: 'w1',
        jobs: [token('a')],
        lockExpiresAt: at(60_000),
      });
      assert.deepEqual(beat.lost, ['a']);
      assert.equal(
        await store().jobProgress({ token: token('a'), progress: 1, now: at(1) }),
        false,
      );
      assert.equal(await store().jobReclaimStale({ queue: 'q', now: at(1) }), 0, 'done once');
    });
  });

  describe('jobRequestAbort', () => {
    it('aborts a pending or blocked attempt at once', async () => {
      await insertJobs(store(), [{ id: 'p' }, { id: 'b', state: 'blocked', modCount: 3 }]);
      for (const [id, modCount] of [
        ['p', 1],
        ['b', 4],
      ] as const) {
        assert.equal(await store().jobRequestAbort(id, at(5)), 'aborted');
        const doc = await get(id);
        assert.equal(doc.state, 'aborted');
        assert.deepEqual(doc.timeInfo.end, at(5));
        assert.deepEqual(doc.status.modTime, at(5));
        assert.equal(doc.status.modCount, modCount);
        assert.equal(doc.status.errCount, 1);
        assert.deepEqual(doc.status.errors, [storeRecords.abortedBeforeStart(at(5))]);
      }
      assert.deepEqual(
        await store().jobClaim({ queue: 'q', owner: 'w', now: at(9), lockTimeoutMs: 1, limit: 5 }),
        [],
      );
    });

    it("flags a running attempt for its owner's heartbeat, leaving its token valid", async () => {
      await insertJobs(store(), [held('a')]);
      assert.equal(await store().jobRequestAbort('a', at(5)), 'requested');
      assert.equal(await store().jobRequestAbort('a', at(6)), 'requested', 'idempotent');
      const doc = await get('a');
      assert.equal(doc.state, 'running');
      assert.equal(doc.status.abortRequested, true);
      assert.equal(doc.status.modCount, 1);
      const beat = await store().jobHeartbeat({
        owner: 'w1',
        jobs: [token('a')],
        lockExpiresAt: at(60_000),
      });
      assert.deepEqual(beat, { lost: [], abortRequested: ['a'] });
    });

    it('says finished for a finished attempt and changes nothing; not-found for none', async () => {
      const finished = NOT_RUNNING.filter((s) => s !== 'pending' && s !== 'blocked');
      const docs = await insertJobs(
        store(),
        finished.map((state) => ({ id: state, state })),
      );
      for (const d of docs) {
        assert.equal(await store().jobRequestAbort(d._id, at(5)), 'finished', d.state);
        assert.deepEqual(await get(d._id), d);
      }
      assert.equal(await store().jobRequestAbort('missing', at(5)), 'not-found');
    });

    it('an attempt aborted before it started is finished for a second request', async () => {
      await insertJobs(store(), [{ id: 'a' }]);
      assert.equal(await store().jobRequestAbort('a', at(5)), 'aborted');
      assert.equal(await store().jobRequestAbort('a', at(6)), 'finished');
      assert.equal((await get('a')).status.errCount, 1);
    });
  });

  describe('jobQuarantine', () => {
    it('quarantines the attempt at its current modCount and drops its lock', async () => {
      await insertJobs(store(), [held('a', { modCount: 4 })]);
      const params = { id: 'a', code: 'X_CODE', reason: 'cannot load', now: at(8) };
      assert.equal(await store().jobQuarantine({ ...params, modCount: 4 }), true);
      const doc = await get('a');
      assert.equal(doc.state, 'quarantined');
      assert.deepEqual(doc.quarantine, { code: 'X_CODE', reason: 'cannot load', at: at(8) });
      assert.equal(doc.status.owner, '');
      assert.equal(doc.status.lockExpiresAt, null);
      assert.equal(doc.status.inProgress, false);
      assert.deepEqual(doc.status.modTime, at(8));
      assert.equal(doc.status.modCount, 5);
      assert.equal(await store().jobQuarantine({ ...params, modCount: 4 }), false, 'once');
    });

    it('matches nothing at a stale modCount or for a missing attempt', async () => {
      const [before] = await insertJobs(store(), [{ id: 'a', modCount: 2 }]);
      const params = { code: 'X', reason: 'r', now: at(8) };
      assert.equal(await store().jobQuarantine({ ...params, id: 'a', modCount: 1 }), false);
      assert.equal(await store().jobQuarantine({ ...params, id: 'gone', modCount: 0 }), false);
      assert.deepEqual(await get('a'), before);
    });
  });

  describe('jobQuarantineMalformed', () => {
    it('quarantines pending documents whose envelope a claim cannot update, and only those', async () => {
      const bad = malformedJobs('q');
      const spared = [
        ...malformedJobs('other').slice(0, 1),
        { ...malformedJobs('q')[0], _id: 'running', state: 'running' },
      ];
      for (const d of [...bad, ...spared]) await target.rawPutJob(d);
      await insertJobs(store(), [{ id: 'fine' }]);

      const ids = await store().jobQuarantineMalformed({ queue: 'q', now: at(4) });
      assert.deepEqual([...ids].sort(), bad.map((d) => d._id).sort());
      for (const d of bad) {
        const doc = await get(d._id);
        assert.equal(doc.state, 'quarantined');
        assert.deepEqual(doc.quarantine, {
          code: ErrorCode.MalformedJob,
          reason: storeRecords.malformedReason,
          at: at(4),
        });
      }
      assert.equal((await get(spared[0]._id)).state, 'pending');
      assert.equal((await get('running')).state, 'running');
      assert.equal((await get('fine')).state, 'pending');
      assert.deepEqual(await store().jobQuarantineMalformed({ queue: 'q', now: at(5) }), []);
    });

    it('returns nothing when every document is well formed', async () => {
      await insertJobs(store(), [{ id: 'a' }, { id: 'b', state: 'running' }]);
      assert.deepEqual(await store().jobQuarantineMalformed({ queue: 'q', now: at(4) }), []);
    });
  });
}
