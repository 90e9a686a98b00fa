/**
 * JobStore conformance, part one: inserts, reads, the claim and insert events (lib/store/job-store.ts).
 * Guarded writes are in job-store-writes.ts, listing and management in job-store-admin.ts.
 */
import assert from 'node:assert/strict';
import { DuplicateJobError, ErrorCode, type JobDocument } from '../../../lib';
import type { JobClaimParams, JobStore } from '../../../lib/store/job-store';
import {
  at,
  insertJobs,
  jobDoc,
  malformedJobs,
  NOT_RUNNING,
  T0,
} from '../../support/store-factory';
import type { StoreTarget } from './target';

const ids = (docs: { _id: string }[]): string[] => docs.map((d) => d._id);

export function jobStoreReadsAndClaims(target: StoreTarget): void {
  const store = (): JobStore => target.stores().jobs;
  const claim = (over: Partial<JobClaimParams> = {}): Promise<JobDocument[]> =>
    store().jobClaim({
      queue: 'q',
      owner: 'w1',
      now: at(0),
      lockTimeoutMs: 30_000,
      limit: 10,
      ...over,
    });

  describe('init', () => {
    it('is idempotent', async () => {
      await store().init();
      await store().init();
      await insertJobs(store(), [{ id: 'a' }]);
      assert.equal((await store().jobGet('a'))?._id, 'a');
    });
  });

  describe('jobInsert', () => {
    it('stores documents that jobGet returns as inserted', async () => {
      const doc = jobDoc({ id: 'a', payload: { n: 1, nested: { list: [1, 'two'] } }, priority: 3 });
      await store().jobInsert([doc]);
      assert.deepEqual(await store().jobGet('a'), doc);
    });

    it('stores a batch', async () => {
      await insertJobs(store(), [{ id: 'a' }, { id: 'b' }, { id: 'c' }]);
      for (const id of ['a', 'b', 'c']) assert.equal((await store().jobGet(id))?._id, id);
    });

    it('does nothing for an empty batch', async () => {
      await store().jobInsert([]);
      assert.deepEqual(await store().jobQueueNames(), []);
    });

    it('keeps its own copy: changing the inserted object changes nothing stored', async () => {
      const doc = jobDoc({ id: 'a', payload: { n: 1 } });
      await store().jobInsert([doc]);
      doc.payload.n = 2;
      doc.state = 'failed';
      const stored = await store().jobGet('a');
      assert.equal(stored?.payload.n, 1);
      assert.equal(stored?.state, 'pending');
    });

    it('throws DuplicateJobError on an existing ID and leaves the stored document alone', async () => {
      await insertJobs(store(), [{ id: 'a', tag: 'first' }]);
      await assert.rejects(
        store().jobInsert([jobDoc({ id: 'a', tag: 'second' })]),
        (err: unknown) =>
          err instanceof DuplicateJobError &&
          err.code === ErrorCode.DuplicateJob &&
          err.jobId === 'a' &&
          err.queue === 'q' &&
          err.duplicates.join() === 'a',
      );
      assert.equal((await store().jobGet('a'))?.payload.tag, 'first');
    });

    it('in a batch, names every duplicate and inserts every other document', async () => {
      await insertJobs(store(), [{ id: 'b' }, { id: 'd' }]);
      const batch = ['a', 'b', 'c', 'd', 'e'].map((id) => jobDoc({ id, tag: 'new' }));
      const err = await store()
        .jobInsert(batch)
        .then(
          () => null,
          (e: unknown) => e,
        );
      assert.ok(err instanceof DuplicateJobError, `expected DuplicateJobError, got ${String(err)}`);
      assert.deepEqual([...err.duplicates].sort(), ['b', 'd']);
      for (const id of ['a', 'c', 'e'])
        assert.equal((await store().jobGet(id))?.payload.tag, 'new');
      assert.equal((await store().jobGet('b'))?.payload.tag, '');
    });

    it('in a batch, an ID given twice is a duplicate, not lost silently', async () => {
      const batch = [
        jobDoc({ id: 'a', tag: 'one' }),
        jobDoc({ id: 'a', tag: 'two' }),
        jobDoc({ id: 'b' }),
      ];
      await assert.rejects(
        store().jobInsert(batch),
        (err: unknown) => err instanceof DuplicateJobError && err.duplicates.join() === 'a',
      );
      assert.equal((await store().jobGet('a'))?.payload.tag, 'one');
      assert.equal((await store().jobGet('b'))?._id, 'b');
    });
  });

  describe('jobGet', () => {
    it('returns null for an unknown ID', async () => {
      assert.equal(await store().jobGet('nope'), null);
    });

    it('returns a copy: changing it changes nothing stored', async () => {
      await insertJobs(store(), [{ id: 'a', payload: { n: 1 } }]);
      const got = await store().jobGet('a');
      assert.ok(got);
      got.payload.n = 2;
      got.status.modCount = 99;
      const again = await store().jobGet('a');
      assert.equal(again?.payload.n, 1);
      assert.equal(again?.status.modCount, 0);
    });
  });

  describe('jobGetLatest and jobAttempts', () => {
    /** Attempts 0..11 of `x` (inserted out of order) and jobs whose IDs share its prefix. */
    async function attemptsOfX(): Promise<void> {
      const order = [3, 0, 11, 1, 10, 2, 4, 5, 6, 7, 8, 9];
      await insertJobs(store(), [
        ...order.map((attempt) => ({ id: 'x', attempt, state: 'retrying' as const })),
        { id: 'x1', attempt: 20 },
        { id: 'x-1', attempt: 30 },
        { id: 'x#', attempt: 40 },
      ]);
    }

    it('jobGetLatest: the highest attempt number (numerically), of that job only', async () => {
      await attemptsOfX();
      const latest = await store().jobGetLatest('x');
      assert.equal(latest?._id, 'x#11');
      assert.equal(latest?.retryInfo.currentAttempt, 11);
      assert.equal((await store().jobGetLatest('x1'))?._id, 'x1#20');
    });

    it('jobGetLatest: null for an unknown job', async () => {
      await attemptsOfX();
      assert.equal(await store().jobGetLatest('y'), null);
      assert.equal(await store().jobGetLatest('x#1'), null);
    });

    it('jobAttempts: every attempt of the job, oldest first, none of the others', async () => {
      await attemptsOfX();
      const all = await store().jobAttempts('x');
      assert.deepEqual(
        all.map((d) => d.retryInfo.currentAttempt),
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
      );
      assert.deepEqual(ids(all.slice(0, 2)), ['x', 'x#1']);
    });

    it('jobAttempts: empty for an unknown job; regex characters in IDs are literal', async () => {
      await insertJobs(store(), [{ id: 'a.b' }, { id: 'aXb' }, { id: 'a.b', attempt: 1 }]);
      assert.deepEqual(await store().jobAttempts('nope'), []);
      assert.deepEqual(ids(await store().jobAttempts('a.b')), ['a.b', 'a.b#1']);
      assert.deepEqual(ids(await store().jobAttempts('aXb')), ['aXb']);
      assert.deepEqual(ids(await store().jobAttempts('a*b')), []);
    });
  });

  describe('jobClaim', () => {
    /** Due pending attempts of varied priority and due time, plus some no claim may take. */
    async function mixedQueue(): Promise<void> {
      await insertJobs(store(), [
        { id: 'a', priority: 0, dueAt: at(-5000) },
        { id: 'b', priority: 5, dueAt: at(-1000) },
        { id: 'c', priority: 5, dueAt: at(-3000) },
        { id: 'd', priority: 0, dueAt: at(-5000) },
        { id: 'e', priority: -1, dueAt: at(-10_000) },
        { id: 'f', priority: 10, dueAt: at(1) }, // not due yet
        { id: 'g', priority: 10, dueAt: at(-1000), queue: 'other' },
        { id: 'h', priority: 10, dueAt: at(-1000), state: 'blocked' },
        ...NOT_RUNNING.filter((s) => s !== 'pending').map((state) => ({
          id: `s-${state}`,
          priority: 10,
          dueAt: at(-1000),
          state,
        })),
        { id: 'r', priority: 10, state: 'running', dueAt: at(-1000) },
      ]);
    }
    const expectedOrder = ['c', 'b', 'a', 'd', 'e'];

    it('takes due pending attempts: highest priority first, then earliest due, then ID', async () => {
      await mixedQueue();
      assert.deepEqual(ids(await claim({ limit: 10 })), expectedOrder);
    });

    it('keeps that order one at a time and in small batches', async () => {
      await mixedQueue();
      const one: string[] = [];
      for (let i = 0; i < 2; i++) one.push(...ids(await claim({ limit: 1 })));
      one.push(...ids(await claim({ limit: 2 })));
      one.push(...ids(await claim({ limit: 3 })));
      assert.deepEqual(one, expectedOrder);
      assert.deepEqual(await claim({ limit: 3 }), []);
    });

    it('claims at most `limit`, and the next claim the next ones', async () => {
      await mixedQueue();
      assert.deepEqual(ids(await claim({ limit: 3 })), expectedOrder.slice(0, 3));
      assert.deepEqual(ids(await claim({ limit: 3, owner: 'w2' })), expectedOrder.slice(3));
    });

    it('an attempt due exactly at `now` is due; one a millisecond later is not', async () => {
      await insertJobs(store(), [
        { id: 'now', dueAt: at(0) },
        { id: 'later', dueAt: at(1) },
      ]);
      assert.deepEqual(ids(await claim()), ['now']);
      assert.deepEqual(ids(await claim({ now: at(1) })), ['later']);
    });

    it('locks what it returns: running, owned, lock expiry now + lockTimeoutMs, modCount + 1', async () => {
      await insertJobs(store(), [
        { id: 'a', abortRequested: true, modCount: 4, dueAt: at(-1) },
        { id: 'b', dueAt: at(-1) },
        { id: 'c', dueAt: at(-1) },
      ]);
      for (const limit of [1, 3]) {
        const now = at(limit * 1000);
        const claimed = await claim({ now, limit, owner: `w${limit}` });
        assert.deepEqual(ids(claimed), limit === 1 ? ['a'] : ['b', 'c']);
        for (const doc of claimed) {
          assert.equal(doc.state, 'running');
          assert.equal(doc.status.owner, `w${limit}`);
          assert.equal(doc.status.inProgress, true);
          assert.equal(doc.status.abortRequested, false);
          assert.deepEqual(doc.status.lockExpiresAt, new Date(now.getTime() + 30_000));
          assert.deepEqual(doc.status.modTime, now);
          assert.deepEqual(doc.timeInfo.start, now);
          assert.equal(doc.status.modCount, doc._id === 'a' ? 5 : 1);
          assert.deepEqual(await store().jobGet(doc._id), doc, 'returned as stored');
        }
      }
    });

    it('skips excluded job types', async () => {
      await insertJobs(store(), [
        { id: 'a', type: 'paused-type', priority: 9 },
        { id: 'b', type: 'other-type' },
        { id: 'c', type: 'third-type', priority: 1 },
      ]);
      assert.deepEqual(ids(await claim({ excludeTypes: ['paused-type', 'third-type'] })), ['b']);
      assert.deepEqual(ids(await claim({ excludeTypes: [] })), ['a', 'c']);
    });

    it('returns nothing on an empty queue', async () => {
      assert.deepEqual(await claim(), []);
      assert.deepEqual(await claim({ limit: 1 }), []);
    });

    it('never claims an attempt twice: concurrent claims get disjoint attempts', async () => {
      const all = Array.from({ length: 12 }, (_, i) => ({ id: `j${String(i).padStart(2, '0')}` }));
      await insertJobs(store(), all);
      const claims = await Promise.all(
        ['w1', 'w2', 'w3', 'w4', 'w5', 'w6'].map((owner, i) =>
          claim({ owner, limit: i % 2 === 0 ? 1 : 4 }),
        ),
      );
      const claimed = claims.flatMap(ids);
      assert.equal(new Set(claimed).size, claimed.length, `claimed twice: ${claimed.join()}`);
      const rest = ids(await claim({ owner: 'w7', limit: 20 }));
      assert.deepEqual([...claimed, ...rest].sort(), all.map((s) => s.id).sort());
      for (const [i, docs] of claims.entries()) {
        for (const d of docs)
          assert.equal((await store().jobGet(d._id))?.status.owner, `w${i + 1}`);
      }
    });

    it('skips malformed pending documents and claims the rest', async () => {
      const bad = malformedJobs('q', 9);
      for (const doc of bad) await target.rawPutJob(doc);
      await insertJobs(store(), [{ id: 'good-1' }, { id: 'good-2' }, { id: 'good-3' }]);
      assert.deepEqual(ids(await claim({ limit: 1 })), ['good-1']);
      assert.deepEqual(ids(await claim({ limit: 5 })), ['good-2', 'good-3']);
      for (const doc of bad) assert.equal((await store().jobGet(doc._id))?.state, 'pending');
    });
  });

  describe('jobOnInsert', () => {
    it('calls the listener for inserts into its queue only, until stopped', async () => {
      let calls = 0;
      const stop = store().jobOnInsert('q', () => calls++);
      await insertJobs(store(), [{ id: 'other', queue: 'other' }]);
      if (target.insertEventsInline) assert.equal(calls, 0);
      await insertJobs(store(), [{ id: 'a' }, { id: 'b' }]);
      if (target.insertEventsInline) assert.equal(calls, 1, 'one call per inserting batch');
      stop();
      const before = calls;
      await insertJobs(store(), [{ id: 'c' }]);
      if (target.insertEventsInline) assert.equal(calls, before, 'no call once stopped');
      // Only a wake-up: the inserted attempts are claimable whether or not it fired.
      assert.deepEqual(ids(await claim()), ['a', 'b', 'c']);
    });

    it('close() after listening releases the store; it stays readable', async () => {
      const stop = store().jobOnInsert('q', () => undefined);
      stop();
      await store().close();
      assert.equal(await store().jobGet('missing'), null);
    });
  });

  describe('claim times', () => {
    it('uses the `now` given, not the clock', async () => {
      await insertJobs(store(), [{ id: 'a', dueAt: T0, created: at(-1000) }]);
      const [doc] = await claim({ now: at(-500) });
      assert.equal(doc, undefined, 'not due at the `now` given');
      const [later] = await claim({ now: T0, lockTimeoutMs: 1 });
      assert.deepEqual(later.status.lockExpiresAt, at(1));
    });
  });
}
