/**
 * RequestStore conformance (lib/store/request-store.ts): time-range requests whose every state
 * change is one write conditioned on the expected states and, when given, `modCount`.
 */
import assert from 'node:assert/strict';
import { ErrorCode, InvalidArgumentError } from '../../../lib';
import type {
  RequestListParams,
  RequestStore,
  TimeRangeRequestDocument,
} from '../../../lib/store/request-store';
import { at, timeRangeRequest } from '../../support/store-factory';
import type { StoreTarget } from './target';

const ids = (docs: { _id: string }[]): string[] => docs.map((d) => d._id);

export function requestStoreSuite(target: StoreTarget): void {
  const store = (): RequestStore => target.stores().requests;
  const insert = async (...docs: TimeRangeRequestDocument[]) => {
    for (const d of docs) await store().requestInsert(d);
    return docs;
  };

  describe('init', () => {
    it('is idempotent', async () => {
      await store().init();
      await store().init();
      await insert(timeRangeRequest({ id: 'r' }));
      assert.equal((await store().requestGet('r'))?._id, 'r');
    });
  });

  describe('requestInsert and requestGet', () => {
    it('stores a request, template included, as given', async () => {
      const [doc] = await insert(timeRangeRequest({ id: 'r', state: 'new' }));
      assert.deepEqual(await store().requestGet('r'), doc);
    });

    it('throws InvalidArgumentError for an existing ID and keeps the stored request', async () => {
      const [doc] = await insert(timeRangeRequest({ id: 'r' }));
      await assert.rejects(
        store().requestInsert(timeRangeRequest({ id: 'r', name: 'second' })),
        (err: unknown) => err instanceof InvalidArgumentError && err.code === ErrorCode.Invalid,
      );
      assert.deepEqual(await store().requestGet('r'), doc);
    });

    it('requestGet returns null for an unknown ID', async () => {
      assert.equal(await store().requestGet('none'), null);
    });
  });

  describe('requestTransition', () => {
    it('writes from an expected state, returns the request after it, modCount + 1', async () => {
      const [doc] = await insert(timeRangeRequest({ id: 'r', state: 'pending', modCount: 4 }));
      const after = await store().requestTransition({
        id: 'r',
        from: ['new', 'pending'],
        modCount: 4,
        update: { state: 'running', started: at(3) },
        now: at(3),
      });
      const expected = {
        ...doc,
        state: 'running' as const,
        started: at(3),
        modCount: 5,
        modTime: at(3),
      };
      assert.deepEqual(after, expected);
      assert.deepEqual(await store().requestGet('r'), expected);
    });

    it('sets every field given and leaves out those undefined', async () => {
      const [doc] = await insert(timeRangeRequest({ id: 'r', state: 'running', started: at(1) }));
      const counts = { total: 3, done: 2, failed: 1, running: 0, waiting: 0 };
      const after = await store().requestTransition({
        id: 'r',
        from: ['running'],
        update: {
          state: 'failed',
          finished: at(9),
          counts,
          message: 'a chunk failed',
          settled: false,
          started: undefined,
        },
        now: at(9),
      });
      assert.deepEqual(after, {
        ...doc,
        state: 'failed',
        finished: at(9),
        counts,
        message: 'a chunk failed',
        settled: false,
        modCount: 1,
        modTime: at(9),
      });
    });

    it('without modCount, matches any modCount in an expected state', async () => {
      await insert(timeRangeRequest({ id: 'r', state: 'failed', modCount: 7 }));
      const after = await store().requestTransition({
        id: 'r',
        from: ['failed'],
        update: { settled: true },
        now: at(2),
      });
      assert.equal(after?.modCount, 8);
      assert.equal(after?.settled, true);
    });

    it('matches nothing in another state, at another modCount or when missing', async () => {
      const [doc] = await insert(timeRangeRequest({ id: 'r', state: 'running', modCount: 2 }));
      const update = { state: 'cancelled' as const };
      for (const p of [
        { id: 'r', from: ['pending' as const] },
        { id: 'r', from: ['running' as const], modCount: 1 },
        { id: 'r', from: ['running' as const], modCount: 3 },
        { id: 'r', from: [] },
        { id: 'none', from: ['running' as const] },
      ]) {
        assert.equal(await store().requestTransition({ ...p, update, now: at(5) }), null);
      }
      assert.deepEqual(await store().requestGet('r'), doc);
    });

    it('of two settlers at one modCount, exactly one wins', async () => {
      await insert(timeRangeRequest({ id: 'r', state: 'running' }));
      const results = await Promise.all(
        (['done', 'failed', 'cancelled'] as const).map((state) =>
          store().requestTransition({
            id: 'r',
            from: ['running'],
            modCount: 0,
            update: { state },
            now: at(1),
          }),
        ),
      );
      const winners = results.filter((r) => r !== null);
      assert.equal(winners.length, 1);
      assert.equal((await store().requestGet('r'))?.state, winners[0]?.state);
    });
  });

  describe('requestList', () => {
    async function listed(): Promise<void> {
      await insert(
        timeRangeRequest({ id: 'c', state: 'running' }),
        timeRangeRequest({ id: 'a', state: 'done' }),
        timeRangeRequest({ id: 'b', state: 'failed', settled: false }),
        timeRangeRequest({ id: 'e', state: 'new', queue: 'other' }),
        timeRangeRequest({ id: 'd', state: 'cancelled' }),
      );
    }
    const list = (p: Partial<RequestListParams> = {}) => store().requestList({ limit: 100, ...p });

    it('lists ascending by ID, up to `limit`, after `afterId`', async () => {
      await listed();
      assert.deepEqual(ids(await list()), ['a', 'b', 'c', 'd', 'e']);
      assert.deepEqual(ids(await list({ limit: 2 })), ['a', 'b']);
      assert.deepEqual(ids(await list({ afterId: 'b', limit: 2 })), ['c', 'd']);
      assert.deepEqual(await list({ afterId: 'e' }), []);
    });

    it('filters by queue, states and unsettled', async () => {
      await listed();
      assert.deepEqual(ids(await list({ queue: 'other' })), ['e']);
      assert.deepEqual(ids(await list({ states: ['done', 'cancelled'] })), ['a', 'd']);
      assert.deepEqual(ids(await list({ unsettled: true })), ['b', 'c', 'e']);
      assert.deepEqual(ids(await list({ unsettled: false })), ['a', 'b', 'c', 'd', 'e']);
      assert.deepEqual(ids(await list({ unsettled: true, queue: 'q', afterId: 'b' })), ['c']);
    });
  });

  describe('requestPrune', () => {
    async function prunable(): Promise<void> {
      await insert(
        timeRangeRequest({ id: 'done-old', state: 'done', finished: at(-10) }),
        timeRangeRequest({ id: 'failed-old', state: 'failed', finished: at(-10) }),
        timeRangeRequest({ id: 'cancelled-old', state: 'cancelled', finished: at(-1) }),
        timeRangeRequest({ id: 'at-cutoff', state: 'done', finished: at(0) }),
        timeRangeRequest({ id: 'unsettled', state: 'failed', finished: at(-10), settled: false }),
        timeRangeRequest({ id: 'running', state: 'running', finished: at(-10), settled: true }),
      );
    }

    it('deletes settled finished requests that finished before the cutoff', async () => {
      await prunable();
      assert.equal(await store().requestPrune({ finishedBefore: at(0), limit: 100 }), 3);
      assert.deepEqual(ids(await store().requestList({ limit: 100 })), [
        'at-cutoff',
        'running',
        'unsettled',
      ]);
    });

    it('deletes at most `limit` per call', async () => {
      await prunable();
      const counts = [];
      for (let i = 0; i < 3; i++)
        counts.push(await store().requestPrune({ finishedBefore: at(0), limit: 2 }));
      assert.deepEqual(counts, [2, 1, 0]);
    });
  });

  describe('close', () => {
    it('leaves the connection to its owner: the other stores keep working', async () => {
      await insert(timeRangeRequest({ id: 'r' }));
      await store().close();
      assert.equal(await target.stores().rates.rateGet('r'), null);
    });
  });
}
