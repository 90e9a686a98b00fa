/**
 * RollupStore conformance (lib/store/rollup-store.ts): deltas added into one document per queue,
 * job type and minute (counters summed, maxima kept, expiry raised), also by processes adding at
 * once; sums by bucket, by range, by queue and type; prune of what expired, in batches.
 */
import assert from 'node:assert/strict';
import { emptyRollup, type RollupDelta, type RollupStore } from '../../../lib/store/rollup-store';
import type { StoreTarget } from './target';

const MIN = 60_000;
/** A fixed minute, so that every test sees the same buckets. */
const T0 = Date.UTC(2030, 0, 15, 10, 0, 0);

function delta(queue: string, type: string, minuteMs: number, more: Partial<RollupDelta> = {}) {
  return { queue, type, minute: new Date(minuteMs), ...emptyRollup(), ...more };
}

export function rollupStoreSuite(target: StoreTarget): void {
  const store = (): RollupStore => target.stores().rollups;

  it('adds deltas into one document per queue, type and minute', async () => {
    await store().rollupAdd({
      retentionMs: 3_600_000,
      deltas: [
        delta('mail', 'send', T0, { completed: 2, started: 2, waitSumMs: 30, waitMaxMs: 20 }),
        delta('mail', 'send', T0 + MIN, { failed: 1 }),
        delta('mail', 'bounce', T0, { retried: 1, runCount: 1, runSumMs: 5, runMaxMs: 5 }),
      ],
    });
    // A second process adds to the same minute: counters grow, maxima only rise.
    await store().rollupAdd({
      retentionMs: 7_200_000,
      deltas: [delta('mail', 'send', T0, { completed: 1, started: 1, waitSumMs: 4, waitMaxMs: 4 })],
    });
    const sums = await store().rollupSums({
      from: new Date(T0),
      to: new Date(T0 + 2 * MIN),
      bucketMs: MIN,
    });
    assert.deepEqual(
      sums.map((s) => [s.at?.getTime(), s.queue, s.type, s.minutes, s.completed, s.failed]),
      [
        [T0, 'mail', 'bounce', 1, 0, 0],
        [T0, 'mail', 'send', 1, 3, 0],
        [T0 + MIN, 'mail', 'send', 1, 0, 1],
      ],
    );
    const send = sums[1];
    assert.deepEqual(
      [send.started, send.waitSumMs, send.waitMaxMs, send.runCount, send.runMaxMs],
      [3, 34, 20, 0, 0],
    );
    assert.deepEqual([sums[0].retried, sums[0].runSumMs, sums[0].runMaxMs], [1, 5, 5]);
  });

  it('sums by bucket, by whole range, and by queue and type', async () => {
    const deltas = [];
    for (let m = 0; m < 30; m++) {
      deltas.push(delta('a', 'x', T0 + m * MIN, { completed: 1, waitMaxMs: m }));
      if (m % 10 === 0) deltas.push(delta('b', 'y', T0 + m * MIN, { failed: 2 }));
    }
    await store().rollupAdd({ retentionMs: 3_600_000, deltas });
    const range = { from: new Date(T0), to: new Date(T0 + 30 * MIN) };
    const byQuarter = await store().rollupSums({ ...range, bucketMs: 15 * MIN, queue: 'a' });
    assert.deepEqual(
      byQuarter.map((s) => [s.at?.getTime(), s.completed, s.waitMaxMs, s.minutes]),
      [
        [T0, 15, 14, 15],
        [T0 + 15 * MIN, 15, 29, 15],
      ],
    );
    const whole = await store().rollupSums({ ...range, bucketMs: 0 });
    assert.deepEqual(
      whole.map((s) => [s.at, s.queue, s.type, s.completed, s.failed]),
      [
        [null, 'a', 'x', 30, 0],
        [null, 'b', 'y', 0, 6],
      ],
    );
    const typed = await store().rollupSums({ ...range, bucketMs: 0, type: 'y' });
    assert.deepEqual(
      typed.map((s) => s.queue),
      ['b'],
    );
    // [from, to): the minute at `to` is left out.
    const cut = await store().rollupSums({
      from: new Date(T0 + 10 * MIN),
      to: new Date(T0 + 20 * MIN),
      bucketMs: 0,
      queue: 'b',
    });
    assert.equal(cut[0].failed, 2);
  });

  it('keeps counts exact when processes add to one minute at once', async () => {
    const adds = Array.from({ length: 12 }, () =>
      store().rollupAdd({
        retentionMs: 3_600_000,
        deltas: [delta('hot', 't', T0, { completed: 1 }), delta('hot', 'u', T0, { completed: 2 })],
      }),
    );
    await Promise.all(adds);
    const sums = await store().rollupSums({
      from: new Date(T0),
      to: new Date(T0 + MIN),
      bucketMs: 0,
    });
    assert.deepEqual(
      sums.map((s) => [s.type, s.completed]),
      [
        ['t', 12],
        ['u', 24],
      ],
    );
  });

  it('prunes what expired, in batches, and keeps the rest', async () => {
    const deltas = Array.from({ length: 5 }, (_, i) =>
      delta('p', 't', T0 + i * MIN, { completed: 1 }),
    );
    await store().rollupAdd({ retentionMs: 10 * MIN, deltas });
    // Expiry is minute + retention: the first three expired before T0 + 12.5 min.
    const before = new Date(T0 + 12.5 * MIN);
    assert.equal(await store().rollupPrune({ before, limit: 2 }), 2);
    assert.equal(await store().rollupPrune({ before, limit: 2 }), 1);
    assert.equal(await store().rollupPrune({ before, limit: 2 }), 0);
    const left = await store().rollupSums({
      from: new Date(T0),
      to: new Date(T0 + 5 * MIN),
      bucketMs: MIN,
    });
    assert.deepEqual(
      left.map((s) => s.at?.getTime()),
      [T0 + 3 * MIN, T0 + 4 * MIN],
    );
  });

  it('is initialized idempotently, and says whether it made a TTL index', async () => {
    await store().init();
    await store().init();
    assert.equal(typeof store().rollupTtlIndexed(), 'boolean');
    await store().rollupAdd({ retentionMs: MIN, deltas: [delta('q', 't', T0, { completed: 1 })] });
    const sums = await store().rollupSums({
      from: new Date(T0),
      to: new Date(T0 + MIN),
      bucketMs: 0,
    });
    assert.equal(sums[0].completed, 1);
  });

  it('adds nothing for an empty batch, and a delta of zeros makes an empty document', async () => {
    await store().rollupAdd({ retentionMs: MIN, deltas: [] });
    await store().rollupAdd({ retentionMs: MIN, deltas: [delta('q', 'zero', T0)] });
    const sums = await store().rollupSums({
      from: new Date(T0),
      to: new Date(T0 + MIN),
      bucketMs: MIN,
    });
    assert.deepEqual(
      sums.map((s) => [s.type, s.minutes, s.started, s.completed, s.waitMaxMs, s.runMaxMs]),
      [['zero', 1, 0, 0, 0, 0]],
    );
  });

  it('adds again to a minute whose document was deleted meanwhile', async () => {
    const add = () =>
      store().rollupAdd({ retentionMs: MIN, deltas: [delta('q', 't', T0, { completed: 2 })] });
    await add();
    // Expired and pruned (or emptied by hand) while the minute is still being written to.
    assert.equal(await store().rollupPrune({ before: new Date(T0 + 10 * MIN), limit: 10 }), 1);
    await add();
    const sums = await store().rollupSums({
      from: new Date(T0),
      to: new Date(T0 + MIN),
      bucketMs: 0,
    });
    assert.deepEqual(
      sums.map((s) => s.completed),
      [2],
    );
  });
}
