/** QueueStore conformance (lib/store/queue-store.ts): one record per named queue, its fuses. */
import assert from 'node:assert/strict';
import type { QueueRecord, QueueStore } from '../../../lib/store/queue-store';
import { at } from '../../support/store-factory';
import type { StoreTarget } from './target';

const names = (records: QueueRecord[]): string[] => records.map((r) => r.name);

export function queueStoreSuite(target: StoreTarget): void {
  const store = (): QueueStore => target.stores().queues;
  const open = (name: string, now = at(0), options = {}) =>
    store().queueOpen({ name, now, options });

  describe('init', () => {
    it('is idempotent', async () => {
      await store().init();
      await store().init();
      assert.equal((await open('q')).name, 'q');
    });
  });

  describe('queueOpen', () => {
    it('creates a missing record: not paused, no paused types, the options given', async () => {
      const rec = await open('q', at(5), {
        concurrency: 4,
        types: ['a', 'b'],
        on: true,
        none: null,
      });
      const expected: QueueRecord = {
        name: 'q',
        created: at(5),
        lastActive: at(5),
        paused: false,
        pausedAt: null,
        pausedTypes: [],
        options: { concurrency: 4, types: ['a', 'b'], on: true, none: null },
        modCount: 1,
        modTime: at(5),
      };
      assert.deepEqual(rec, expected);
      assert.deepEqual(await store().queueGet('q'), expected);
    });

    it('on an existing record sets lastActive and options and keeps the rest', async () => {
      await open('q', at(5), { concurrency: 4 });
      await store().queuePause({ name: 'q', paused: true, now: at(6) });
      await store().queuePauseType({ name: 'q', type: 't', paused: true, now: at(7) });
      const rec = await open('q', at(8), { concurrency: 2 });
      assert.deepEqual(rec, {
        name: 'q',
        created: at(5),
        lastActive: at(8),
        paused: true,
        pausedAt: at(6),
        pausedTypes: ['t'],
        options: { concurrency: 2 },
        modCount: 4,
        modTime: at(8),
      });
    });

    it('is safe from several processes at once: one record, every open counted', async () => {
      const recs = await Promise.all([1, 2, 3, 4, 5, 6].map((i) => open('new', at(i))));
      assert.deepEqual(new Set(recs.map((r) => r.modCount)).size, 6, 'each saw its own write');
      const rec = await store().queueGet('new');
      assert.equal(rec?.modCount, 6);
      assert.deepEqual(names(await store().queueList({ limit: 10 })), ['new']);
    });
    it('a pause racing the first opens of a queue is never lost', async () => {
      await Promise.all([
        open('new', at(1)),
        store().queuePause({ name: 'new', paused: true, now: at(2) }),
        open('new', at(3)),
        store().queuePauseType({ name: 'new', type: 't', paused: true, now: at(4) }),
        open('new', at(5)),
      ]);
      const rec = await store().queueGet('new');
      assert.equal(rec?.paused, true);
      assert.deepEqual(rec?.pausedTypes, ['t']);
      assert.equal(rec?.modCount, 5);
    });
  });

  describe('queueGet', () => {
    it('returns null for an unknown queue', async () => {
      await open('q');
      assert.equal(await store().queueGet('nope'), null);
    });
  });

  describe('queueList', () => {
    it('lists records ascending by name after the cursor, up to `limit`', async () => {
      for (const name of ['m', 'b', 'Z', 'a', 'x']) await open(name);
      assert.deepEqual(names(await store().queueList({ limit: 10 })), ['Z', 'a', 'b', 'm', 'x']);
      assert.deepEqual(names(await store().queueList({ limit: 2 })), ['Z', 'a']);
      assert.deepEqual(names(await store().queueList({ after: 'a', limit: 2 })), ['b', 'm']);
      assert.deepEqual(names(await store().queueList({ after: 'm', limit: 10 })), ['x']);
      assert.deepEqual(await store().queueList({ after: 'x', limit: 10 }), []);
    });

    it('returns the records whole', async () => {
      await store().queuePause({ name: 'p', paused: true, now: at(3) });
      assert.deepEqual(await store().queueList({ limit: 1 }), [await store().queueGet('p')]);
    });
  });

  describe('queueTouch', () => {
    it('moves lastActive forward, never back, leaving modCount alone', async () => {
      await open('q', at(10));
      assert.equal(await store().queueTouch({ name: 'q', now: at(20) }), true);
      assert.deepEqual((await store().queueGet('q'))?.lastActive, at(20));
      assert.equal(await store().queueTouch({ name: 'q', now: at(15) }), true);
      const rec = await store().queueGet('q');
      assert.deepEqual(rec?.lastActive, at(20));
      assert.equal(rec?.modCount, 1);
      assert.deepEqual(rec?.modTime, at(10));
    });

    it('returns false and creates nothing for an unknown queue', async () => {
      assert.equal(await store().queueTouch({ name: 'nope', now: at(1) }), false);
      assert.equal(await store().queueGet('nope'), null);
    });
  });

  describe('queuePause', () => {
    it('pausing creates a missing record with pausedAt', async () => {
      const rec = await store().queuePause({ name: 'q', paused: true, now: at(4) });
      assert.deepEqual(rec, {
        name: 'q',
        created: at(4),
        lastActive: at(4),
        paused: true,
        pausedAt: at(4),
        pausedTypes: [],
        options: {},
        modCount: 1,
        modTime: at(4),
      });
      assert.deepEqual(await store().queueGet('q'), rec);
    });

    it('resuming clears pausedAt; each write increments modCount', async () => {
      await open('q', at(1));
      const paused = await store().queuePause({ name: 'q', paused: true, now: at(2) });
      assert.equal(paused?.modCount, 2);
      const resumed = await store().queuePause({ name: 'q', paused: false, now: at(3) });
      assert.equal(resumed?.paused, false);
      assert.equal(resumed?.pausedAt, null);
      assert.equal(resumed?.modCount, 3);
      assert.deepEqual(resumed?.modTime, at(3));
      assert.deepEqual(resumed?.created, at(1));
    });

    it('resuming a missing queue returns null and creates nothing', async () => {
      assert.equal(await store().queuePause({ name: 'q', paused: false, now: at(1) }), null);
      assert.equal(await store().queueGet('q'), null);
    });
  });

  describe('queuePauseType', () => {
    it('adds a type once, creating a missing record', async () => {
      const first = await store().queuePauseType({
        name: 'q',
        type: 'a',
        paused: true,
        now: at(1),
      });
      assert.deepEqual(first, {
        name: 'q',
        created: at(1),
        lastActive: at(1),
        paused: false,
        pausedAt: null,
        pausedTypes: ['a'],
        options: {},
        modCount: 1,
        modTime: at(1),
      });
      await store().queuePauseType({ name: 'q', type: 'b', paused: true, now: at(2) });
      const again = await store().queuePauseType({
        name: 'q',
        type: 'a',
        paused: true,
        now: at(3),
      });
      assert.deepEqual(again?.pausedTypes, ['a', 'b'], 'a set: no duplicate');
      assert.equal(again?.modCount, 3);
    });

    it('removes a type; removing one not paused changes no type', async () => {
      await store().queuePauseType({ name: 'q', type: 'a', paused: true, now: at(1) });
      await store().queuePauseType({ name: 'q', type: 'b', paused: true, now: at(2) });
      const removed = await store().queuePauseType({
        name: 'q',
        type: 'a',
        paused: false,
        now: at(3),
      });
      assert.deepEqual(removed?.pausedTypes, ['b']);
      const none = await store().queuePauseType({
        name: 'q',
        type: 'zz',
        paused: false,
        now: at(4),
      });
      assert.deepEqual(none?.pausedTypes, ['b']);
      assert.deepEqual(none?.modTime, at(4));
    });

    it('removing from a missing queue returns null and creates nothing', async () => {
      assert.equal(
        await store().queuePauseType({ name: 'q', type: 'a', paused: false, now: at(1) }),
        null,
      );
      assert.equal(await store().queueGet('q'), null);
    });
  });

  describe('close', () => {
    it('leaves the connection to its owner: the other stores keep working', async () => {
      await open('q');
      await store().close();
      assert.equal(await target.stores().scopes.scopeGet('q/a'), null);
    });
  });
}
