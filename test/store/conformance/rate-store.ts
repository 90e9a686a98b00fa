/**
 * RateStore conformance (lib/store/rate-store.ts): fixed windows taken from and given back to by
 * conditional writes, so processes sharing a limiter never grant more than `max` per window.
 */
import assert from 'node:assert/strict';
import type { RateStore, RateTakeParams } from '../../../lib/store/rate-store';
import { at } from '../../support/store-factory';
import type { StoreTarget } from './target';

const W0 = at(0);
const W1 = at(60_000);

export function rateStoreSuite(target: StoreTarget): void {
  const store = (): RateStore => target.stores().rates;
  const take = (p: Partial<RateTakeParams> = {}) =>
    store().rateTake({ id: 'q', windowStart: W0, max: 5, want: 1, ...p });

  describe('init', () => {
    it('is idempotent', async () => {
      await store().init();
      await store().init();
      assert.equal(await take(), 1);
    });
  });

  describe('rateTake', () => {
    it('starts a limiter: takes what is wanted and stores the window', async () => {
      assert.equal(await take({ want: 3 }), 3);
      assert.deepEqual(await store().rateGet('q'), { _id: 'q', windowStart: W0, count: 3 });
    });

    it('takes up to what is left of the window, then 0', async () => {
      assert.deepEqual(
        [await take({ want: 2 }), await take({ want: 2 }), await take({ want: 2 }), await take()],
        [2, 2, 1, 0],
      );
      assert.equal((await store().rateGet('q'))?.count, 5);
    });

    it('grants at most `max` to a first take wanting more', async () => {
      assert.equal(await take({ want: 9 }), 5);
      assert.equal((await store().rateGet('q'))?.count, 5);
    });

    it('starts the new window when the stored one is older', async () => {
      await take({ want: 5 });
      assert.equal(await take({ windowStart: W1, want: 4 }), 4);
      assert.deepEqual(await store().rateGet('q'), { _id: 'q', windowStart: W1, count: 4 });
    });

    it('grants 0 to a process whose window is behind the stored one, changing nothing', async () => {
      await take({ windowStart: W1, want: 1 });
      assert.equal(await take({ windowStart: W0, want: 1 }), 0);
      assert.deepEqual(await store().rateGet('q'), { _id: 'q', windowStart: W1, count: 1 });
    });

    it('keeps limiters apart', async () => {
      await take({ want: 5 });
      assert.equal(await take({ id: 'other', want: 2 }), 2);
      assert.equal((await store().rateGet('q'))?.count, 5);
    });

    it('never grants more than `max` between concurrent takers', async () => {
      const granted = await Promise.all(
        Array.from({ length: 12 }, (_, i) => take({ max: 7, want: 1 + (i % 3) })),
      );
      assert.equal(
        granted.reduce((a, b) => a + b, 0),
        (await store().rateGet('q'))?.count,
      );
      assert.ok(granted.reduce((a, b) => a + b, 0) <= 7, `granted ${granted.join('+')}`);
    });
  });

  describe('rateGiveBack', () => {
    it('gives claims back to the current window', async () => {
      await take({ want: 4 });
      await store().rateGiveBack({ id: 'q', windowStart: W0, n: 3 });
      assert.equal((await store().rateGet('q'))?.count, 1);
      assert.equal(await take({ want: 9 }), 4);
    });

    it('ignores a window no longer current, more than was taken, or nothing', async () => {
      await take({ windowStart: W1, want: 2 });
      await store().rateGiveBack({ id: 'q', windowStart: W0, n: 1 });
      await store().rateGiveBack({ id: 'q', windowStart: W1, n: 3 });
      await store().rateGiveBack({ id: 'q', windowStart: W1, n: 0 });
      await store().rateGiveBack({ id: 'q', windowStart: W1, n: -2 });
      assert.deepEqual(await store().rateGet('q'), { _id: 'q', windowStart: W1, count: 2 });
    });

    it('creates nothing for an unknown limiter', async () => {
      await store().rateGiveBack({ id: 'none', windowStart: W0, n: 1 });
      assert.equal(await store().rateGet('none'), null);
    });
  });

  describe('rateGet', () => {
    it('returns null for an unknown limiter and a copy otherwise', async () => {
      assert.equal(await store().rateGet('q'), null);
      await take({ want: 2 });
      const got = await store().rateGet('q');
      assert.ok(got);
      got.count = 0;
      assert.equal((await store().rateGet('q'))?.count, 2);
    });
  });

  describe('close', () => {
    it('leaves the connection to its owner: the other stores keep working', async () => {
      await take();
      await store().close();
      assert.equal(await target.stores().queues.queueGet('q'), null);
    });
  });
}
