/**
 * WorkerStore conformance (lib/store/worker-store.ts): presence records trusted until their
 * `expiresAt`, judged by the `now` given.
 */
import assert from 'node:assert/strict';
import type { WorkerStore } from '../../../lib/store/worker-store';
import { at, workerRecord } from '../../support/store-factory';
import type { StoreTarget } from './target';

const ids = (docs: { _id: string }[]): string[] => docs.map((d) => d._id);

export function workerStoreSuite(target: StoreTarget): void {
  const store = (): WorkerStore => target.stores().workers;

  /** Records live until at(10 s) (w-b, w-c), at(20 s) (w-a) and one expired at(-1). */
  async function saved(): Promise<void> {
    for (const r of [
      workerRecord({ id: 'w-c', expiresAt: at(10_000), queues: ['q'] }),
      workerRecord({ id: 'w-a', expiresAt: at(20_000), queues: ['q', 'other'] }),
      workerRecord({ id: 'w-b', expiresAt: at(10_000), queues: ['other'] }),
      workerRecord({ id: 'w-dead', expiresAt: at(-1), queues: ['q'] }),
    ]) {
      await store().workerSave(r);
    }
  }

  describe('init', () => {
    it('is idempotent', async () => {
      await store().init();
      await store().init();
      await store().workerSave(workerRecord({ id: 'w' }));
      assert.deepEqual(ids(await store().workerList({ now: at(0) })), ['w']);
    });
  });

  describe('workerSave', () => {
    it('inserts a record as given', async () => {
      const rec = workerRecord({
        id: 'w',
        state: 'auth-required',
        message: 'log in',
        stateSince: at(1),
      });
      await store().workerSave(rec);
      assert.deepEqual(await store().workerList({ now: at(0) }), [rec]);
    });

    it('replaces a record whole', async () => {
      await store().workerSave(
        workerRecord({ id: 'w', queues: ['a', 'b'], state: 'paused', message: 'x' }),
      );
      const next = workerRecord({ id: 'w', queues: ['c'], seenAt: at(5), expiresAt: at(35_000) });
      await store().workerSave(next);
      assert.deepEqual(await store().workerList({ now: at(0) }), [next]);
    });
  });

  describe('workerList', () => {
    it('lists records not expired at `now`, ascending by ID', async () => {
      await saved();
      assert.deepEqual(ids(await store().workerList({ now: at(0) })), ['w-a', 'w-b', 'w-c']);
      assert.deepEqual(ids(await store().workerList({ now: at(-2) })), [
        'w-a',
        'w-b',
        'w-c',
        'w-dead',
      ]);
    });

    it('a record expiring exactly at `now` is not listed', async () => {
      await saved();
      assert.deepEqual(ids(await store().workerList({ now: at(10_000) })), ['w-a']);
      assert.deepEqual(await store().workerList({ now: at(20_000) }), []);
    });

    it('lists the records of one queue when given', async () => {
      await saved();
      assert.deepEqual(ids(await store().workerList({ now: at(0), queue: 'q' })), ['w-a', 'w-c']);
      assert.deepEqual(ids(await store().workerList({ now: at(0), queue: 'other' })), [
        'w-a',
        'w-b',
      ]);
      assert.deepEqual(await store().workerList({ now: at(0), queue: 'none' }), []);
    });
  });

  describe('workerRemove', () => {
    it('deletes one record; true when it existed', async () => {
      await saved();
      assert.equal(await store().workerRemove('w-a'), true);
      assert.equal(await store().workerRemove('w-a'), false);
      assert.deepEqual(ids(await store().workerList({ now: at(0) })), ['w-b', 'w-c']);
    });
  });

  describe('workerPrune', () => {
    it('deletes records that expired before `before` and returns how many', async () => {
      await saved();
      assert.equal(await store().workerPrune(at(10_000)), 1, 'expiring at `before` is kept');
      assert.deepEqual(ids(await store().workerList({ now: at(-2) })), ['w-a', 'w-b', 'w-c']);
      assert.equal(await store().workerPrune(at(10_001)), 2);
      assert.equal(await store().workerPrune(at(10_001)), 0);
      assert.deepEqual(ids(await store().workerList({ now: at(0) })), ['w-a']);
    });
  });

  describe('close', () => {
    it('leaves the connection to its owner: the other stores keep working', async () => {
      await saved();
      await store().close();
      assert.equal(await target.stores().schedules.scheduleGet('w-a'), null);
    });
  });
}
