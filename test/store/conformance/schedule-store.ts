/**
 * ScheduleStore conformance (lib/store/schedule-store.ts): definitions change by revision,
 * `lastTick` only moves forward, `scheduleDue` reads `nextTickAt`.
 */
import assert from 'node:assert/strict';
import type {
  ScheduleDefinition,
  ScheduleDocument,
  ScheduleStore,
} from '../../../lib/store/schedule-store';
import { at, scheduleEntry } from '../../support/store-factory';
import type { StoreTarget } from './target';

const keys = (docs: ScheduleDocument[]): string[] => docs.map((d) => d._id);

/** Every field of a definition, changed from the factory's. */
const redefinition: ScheduleDefinition = {
  queue: 'elsewhere',
  type: { name: 'test-fail', version: 2 },
  payload: { message: 'changed' },
  options: { priority: 3, scopes: ['s'], concurrency: { key: 'k', limit: 2 }, dispatchWithinMs: 9 },
  everyMs: null,
  cron: '*/5 * * * *',
  timezone: 'Europe/Paris',
  enabled: false,
};

export function scheduleStoreSuite(target: StoreTarget): void {
  const store = (): ScheduleStore => target.stores().schedules;
  const insert = async (...docs: ScheduleDocument[]) => {
    for (const d of docs) assert.equal(await store().scheduleInsert(d), true, d._id);
    return docs;
  };

  describe('init', () => {
    it('is idempotent', async () => {
      await store().init();
      await store().init();
      await insert(scheduleEntry({ key: 'a' }));
    });
  });

  describe('scheduleInsert and scheduleGet', () => {
    it('stores a new entry as given', async () => {
      const [doc] = await insert(
        scheduleEntry({ key: 'a', lastTick: at(-60_000), options: { enqueueScopes: ['one'] } }),
      );
      assert.deepEqual(await store().scheduleGet('a'), doc);
    });

    it('returns false for an existing key and keeps the stored entry', async () => {
      const [doc] = await insert(scheduleEntry({ key: 'a' }));
      assert.equal(
        await store().scheduleInsert(scheduleEntry({ key: 'a', queue: 'other' })),
        false,
      );
      assert.deepEqual(await store().scheduleGet('a'), doc);
    });

    it('scheduleGet returns null for an unknown key', async () => {
      assert.equal(await store().scheduleGet('nope'), null);
    });
  });

  describe('scheduleList', () => {
    it('lists entries in key order after `afterKey`, up to `limit`', async () => {
      await insert(...['d', 'a', 'c', 'B', 'b'].map((key) => scheduleEntry({ key })));
      assert.deepEqual(keys(await store().scheduleList({ limit: 10 })), ['B', 'a', 'b', 'c', 'd']);
      assert.deepEqual(keys(await store().scheduleList({ limit: 2 })), ['B', 'a']);
      assert.deepEqual(keys(await store().scheduleList({ afterKey: 'a', limit: 2 })), ['b', 'c']);
      assert.deepEqual(await store().scheduleList({ afterKey: 'd', limit: 2 }), []);
    });
  });

  describe('scheduleDue', () => {
    it('enabled entries with nextTickAt at or before `now`, earliest first, then by key', async () => {
      await insert(
        scheduleEntry({ key: 'late', nextTickAt: at(-1000) }),
        scheduleEntry({ key: 'b-early', nextTickAt: at(-5000) }),
        scheduleEntry({ key: 'a-early', nextTickAt: at(-5000) }),
        scheduleEntry({ key: 'now', nextTickAt: at(0) }),
        scheduleEntry({ key: 'future', nextTickAt: at(1) }),
        scheduleEntry({ key: 'disabled', nextTickAt: at(-9000), enabled: false }),
        scheduleEntry({ key: 'never', nextTickAt: null }),
      );
      const due = await store().scheduleDue({ now: at(0), limit: 10 });
      assert.deepEqual(keys(due), ['a-early', 'b-early', 'late', 'now']);
      assert.deepEqual(keys(await store().scheduleDue({ now: at(0), limit: 2 })), [
        'a-early',
        'b-early',
      ]);
      assert.deepEqual(keys(await store().scheduleDue({ now: at(-5001), limit: 10 })), []);
    });
  });

  describe('scheduleRedefine', () => {
    it('replaces the definition at `revision`, sets updatedAt and nextTickAt, revision + 1', async () => {
      const [doc] = await insert(
        scheduleEntry({ key: 'a', revision: 3, lastTick: at(-60_000), nextTickAt: at(0) }),
      );
      const ok = await store().scheduleRedefine({
        key: 'a',
        revision: 3,
        definition: redefinition,
        nextTickAt: at(300_000),
        now: at(7),
      });
      assert.equal(ok, true);
      assert.deepEqual(await store().scheduleGet('a'), {
        ...doc,
        ...redefinition,
        updatedAt: at(7),
        nextTickAt: at(300_000),
        revision: 4,
      });
    });

    it('returns false for a stale revision or a removed entry, changing nothing', async () => {
      const [doc] = await insert(scheduleEntry({ key: 'a', revision: 3 }));
      const params = { definition: redefinition, nextTickAt: at(1), now: at(7) };
      assert.equal(await store().scheduleRedefine({ ...params, key: 'a', revision: 2 }), false);
      assert.equal(await store().scheduleRedefine({ ...params, key: 'a', revision: 4 }), false);
      assert.equal(await store().scheduleRedefine({ ...params, key: 'gone', revision: 0 }), false);
      assert.deepEqual(await store().scheduleGet('a'), doc);
      assert.equal(await store().scheduleGet('gone'), null);
    });
  });

  describe('scheduleAdvance', () => {
    it('records a tick: lastTick and nextTickAt, revision unchanged', async () => {
      const [doc] = await insert(scheduleEntry({ key: 'a', revision: 2 }));
      const ok = await store().scheduleAdvance({
        key: 'a',
        revision: 2,
        tick: at(0),
        nextTickAt: at(60_000),
      });
      assert.equal(ok, true);
      assert.deepEqual(await store().scheduleGet('a'), {
        ...doc,
        lastTick: at(0),
        nextTickAt: at(60_000),
      });
    });

    it('lastTick only moves forward: the same or an older tick is refused', async () => {
      await insert(scheduleEntry({ key: 'a', lastTick: at(60_000), nextTickAt: at(120_000) }));
      const advance = (tick: Date) =>
        store().scheduleAdvance({ key: 'a', revision: 0, tick, nextTickAt: at(1) });
      assert.equal(await advance(at(60_000)), false);
      assert.equal(await advance(at(0)), false);
      let doc = await store().scheduleGet('a');
      assert.deepEqual([doc?.lastTick, doc?.nextTickAt], [at(60_000), at(120_000)]);
      assert.equal(await advance(at(60_001)), true);
      doc = await store().scheduleGet('a');
      assert.deepEqual([doc?.lastTick, doc?.nextTickAt], [at(60_001), at(1)]);
    });

    it('a tick read under an older definition is refused', async () => {
      await insert(scheduleEntry({ key: 'a', revision: 0 }));
      await store().scheduleRedefine({
        key: 'a',
        revision: 0,
        definition: redefinition,
        nextTickAt: at(5),
        now: at(1),
      });
      assert.equal(
        await store().scheduleAdvance({ key: 'a', revision: 0, tick: at(0), nextTickAt: at(9) }),
        false,
      );
      assert.equal(
        await store().scheduleAdvance({ key: 'gone', revision: 0, tick: at(0), nextTickAt: null }),
        false,
      );
      assert.equal((await store().scheduleGet('a'))?.lastTick, null);
    });

    it('of concurrent advances to one tick, exactly one wins', async () => {
      await insert(scheduleEntry({ key: 'a' }));
      const wins = await Promise.all(
        [1, 2, 3, 4, 5].map(() =>
          store().scheduleAdvance({ key: 'a', revision: 0, tick: at(0), nextTickAt: at(60_000) }),
        ),
      );
      assert.equal(wins.filter(Boolean).length, 1);
    });
  });

  describe('scheduleRemove', () => {
    it('deletes an entry once; false when there was none', async () => {
      await insert(scheduleEntry({ key: 'a' }), scheduleEntry({ key: 'b' }));
      assert.equal(await store().scheduleRemove('a'), true);
      assert.equal(await store().scheduleRemove('a'), false);
      assert.equal(await store().scheduleGet('a'), null);
      assert.deepEqual(keys(await store().scheduleList({ limit: 10 })), ['b']);
    });
  });
}
