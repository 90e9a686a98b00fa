/** ScopeStore conformance (lib/store/scope-store.ts): the unique `_id` is the lock. */
import assert from 'node:assert/strict';
import {
  concurrencySlotId,
  scopeLockId,
  type ScopeLockDocument,
  type ScopeStore,
} from '../../../lib/store/scope-store';
import { at, scopeLock } from '../../support/store-factory';
import type { StoreTarget } from './target';

const ids = (docs: { _id: string }[]): string[] => docs.map((d) => d._id);
const sorted = (list: string[]): string[] => [...list].sort();

export function scopeStoreSuite(target: StoreTarget): void {
  const store = (): ScopeStore => target.stores().scopes;

  /** Locks of queue q (a, b, a slot) held by job-1, and one of job-2 and one of another queue. */
  async function held(): Promise<ScopeLockDocument[]> {
    const locks = [
      scopeLock({ id: scopeLockId('q', 'a') }),
      scopeLock({ id: scopeLockId('q', 'b'), kind: 'enqueue', owner: '' }),
      scopeLock({ id: concurrencySlotId('q', 'key', 0), scope: 'key', slot: 0 }),
      scopeLock({ id: scopeLockId('q', 'c'), holder: 'job-2', attemptId: 'job-2#1', owner: 'r2' }),
      scopeLock({ id: scopeLockId('other', 'a'), queue: 'other' }),
    ];
    assert.deepEqual(await store().scopeInsert(locks), []);
    return locks;
  }

  describe('init', () => {
    it('is idempotent', async () => {
      await store().init();
      await store().init();
      assert.deepEqual(await store().scopeInsert([scopeLock({ id: 'q/a' })]), []);
    });
  });

  describe('scopeInsert', () => {
    it('holds every lock of the batch and returns no IDs', async () => {
      const locks = await held();
      for (const lock of locks) assert.deepEqual(await store().scopeGet(lock._id), lock);
    });

    it('returns the IDs held already and holds every other lock', async () => {
      await held();
      const tries = [
        scopeLock({ id: 'q/a', holder: 'job-9', token: 't9' }),
        scopeLock({ id: 'q/new-1', holder: 'job-9', token: 't9' }),
        scopeLock({ id: 'q/c', holder: 'job-9', token: 't9' }),
        scopeLock({ id: 'q/new-2', holder: 'job-9', token: 't9' }),
      ];
      assert.deepEqual(sorted(await store().scopeInsert(tries)), ['q/a', 'q/c']);
      assert.equal((await store().scopeGet('q/a'))?.holder, 'job-1', 'the holder keeps it');
      assert.equal((await store().scopeGet('q/new-1'))?.holder, 'job-9');
      assert.equal((await store().scopeGet('q/new-2'))?.holder, 'job-9');
    });

    it('a lock held already fails alone too', async () => {
      await held();
      assert.deepEqual(await store().scopeInsert([scopeLock({ id: 'q/b', token: 'x' })]), ['q/b']);
      assert.equal((await store().scopeGet('q/b'))?.token, 'token-of-q/b');
    });

    it('the second of two locks of one ID in a batch is held by the first', async () => {
      const first = scopeLock({ id: 'q/a', token: 'first' });
      const second = scopeLock({ id: 'q/a', token: 'second' });
      assert.deepEqual(await store().scopeInsert([first, second]), ['q/a']);
      assert.equal((await store().scopeGet('q/a'))?.token, 'first');
    });

    it('does nothing for no locks', async () => {
      assert.deepEqual(await store().scopeInsert([]), []);
      assert.deepEqual(await store().scopeList({ queue: 'q' }), []);
    });
  });

  describe('scopeGet and scopeGetMany', () => {
    it('scopeGet: the lock, or null', async () => {
      const [a] = await held();
      assert.deepEqual(await store().scopeGet(a._id), a);
      assert.equal(await store().scopeGet('q/none'), null);
    });

    it('scopeGetMany: the held locks among the IDs, missing ones left out', async () => {
      const locks = await held();
      const got = await store().scopeGetMany([
        'q/none',
        'q/a',
        'other/a',
        concurrencySlotId('q', 'key', 1),
      ]);
      assert.deepEqual(
        got.sort((x, y) => (x._id < y._id ? -1 : 1)),
        [locks[4], locks[0]],
      );
      assert.deepEqual(await store().scopeGetMany([]), []);
      assert.deepEqual(await store().scopeGetMany(['q/a', 'q/a']), [locks[0]], 'each lock once');
    });
  });

  describe('scopeTakeOver', () => {
    it('replaces the lock while it is still the expected acquisition', async () => {
      const [a] = await held();
      const next = scopeLock({
        id: a._id,
        holder: 'job-5',
        attemptId: 'job-5',
        token: 'new',
        expiresAt: at(9),
      });
      assert.equal(await store().scopeTakeOver({ lock: next, expectedToken: a.token }), true);
      assert.deepEqual(await store().scopeGet(a._id), next);
      assert.equal(
        await store().scopeTakeOver({ lock: { ...next, token: 'third' }, expectedToken: a.token }),
        false,
        'the old token no longer matches',
      );
    });

    it('changes nothing for another token or a lock no longer held (no insert)', async () => {
      const [a] = await held();
      const next = scopeLock({ id: a._id, holder: 'job-5', token: 'new' });
      assert.equal(await store().scopeTakeOver({ lock: next, expectedToken: 'wrong' }), false);
      assert.deepEqual(await store().scopeGet(a._id), a);
      const gone = scopeLock({ id: 'q/gone', token: 'new' });
      assert.equal(await store().scopeTakeOver({ lock: gone, expectedToken: 'any' }), false);
      assert.equal(await store().scopeGet('q/gone'), null);
    });
  });

  describe('scopeRefresh', () => {
    it('moves the expiry of the acquisition and nothing else', async () => {
      const [a] = await held();
      assert.equal(
        await store().scopeRefresh({ id: a._id, token: a.token, expiresAt: at(99) }),
        true,
      );
      assert.deepEqual(await store().scopeGet(a._id), { ...a, expiresAt: at(99) });
    });

    it('is refused once the lock changed hands or is gone', async () => {
      const [a] = await held();
      assert.equal(
        await store().scopeRefresh({ id: a._id, token: 'other', expiresAt: at(99) }),
        false,
      );
      assert.equal(
        await store().scopeRefresh({ id: 'q/none', token: a.token, expiresAt: at(99) }),
        false,
      );
      assert.deepEqual(await store().scopeGet(a._id), a);
    });
  });

  describe('scopeRelease', () => {
    it('deletes the listed locks and returns how many', async () => {
      await held();
      assert.equal(await store().scopeRelease([{ ids: ['q/a', 'q/b', 'q/none'] }]), 2);
      assert.deepEqual(sorted(ids(await store().scopeList({ queue: 'q' }))), [
        concurrencySlotId('q', 'key', 0),
        'q/c',
      ]);
    });

    it('deletes only locks matching every field given', async () => {
      const locks = await held();
      const all = locks.map((l) => l._id);
      assert.equal(await store().scopeRelease([{ ids: all, holder: 'nobody' }]), 0);
      assert.equal(await store().scopeRelease([{ ids: all, tokens: ['nope'] }]), 0);
      assert.equal(await store().scopeRelease([{ ids: all, kind: 'enqueue', owner: 'r2' }]), 0);
      assert.equal(await store().scopeRelease([{ ids: all, kind: 'enqueue' }]), 1);
      assert.equal(
        await store().scopeRelease([{ ids: all, attemptId: 'job-2#1', owner: 'r2' }]),
        1,
      );
      assert.equal(
        await store().scopeRelease([{ ids: ['q/a'], tokens: ['x', 'token-of-q/a'] }]),
        1,
      );
      assert.deepEqual(sorted(ids(await store().scopeGetMany(all))), [
        'other/a',
        concurrencySlotId('q', 'key', 0),
      ]);
    });

    it('deletes what any of several filters matches, in one call', async () => {
      await held();
      const n = await store().scopeRelease([
        { ids: ['q/a'], holder: 'job-1' },
        { ids: ['q/c'], holder: 'job-1' },
        { ids: ['other/a'], kind: 'dispatch' },
        { ids: [] },
      ]);
      assert.equal(n, 2);
      assert.deepEqual(sorted(ids(await store().scopeGetMany(['q/a', 'q/c', 'other/a']))), ['q/c']);
    });

    it('returns 0 for no filters or no IDs', async () => {
      await held();
      assert.equal(await store().scopeRelease([]), 0);
      assert.equal(await store().scopeRelease([{ ids: [] }, { ids: [], holder: 'job-1' }]), 0);
      assert.equal((await store().scopeList({ queue: 'q' })).length, 4);
    });
  });

  describe('scopeList', () => {
    it('lists the locks of a queue, ascending by ID, of one holder when given', async () => {
      await held();
      assert.deepEqual(ids(await store().scopeList({ queue: 'q' })), [
        concurrencySlotId('q', 'key', 0),
        'q/a',
        'q/b',
        'q/c',
      ]);
      assert.deepEqual(ids(await store().scopeList({ queue: 'q', holder: 'job-2' })), ['q/c']);
      assert.deepEqual(await store().scopeList({ queue: 'q', holder: 'nobody' }), []);
      assert.deepEqual(ids(await store().scopeList({ queue: 'other' })), ['other/a']);
    });
  });

  describe('close', () => {
    it('leaves the connection to its owner: the other stores keep working', async () => {
      await held();
      await store().close();
      assert.deepEqual(await target.stores().queues.queueList({ limit: 10 }), []);
    });
  });
}
