/**
 * History rollups against both stores (the rollup store's own calls are in the store conformance
 * suite, test/store/conformance/rollup-store.ts): the recorder fed as the runner feeds it (one bulk write per flush, bounded buffer, expiry detected from what
 * the server keeps); a group's real runs counted; and the management reads (series over time,
 * rates over a window) with their validation.
 */
import assert from 'node:assert/strict';
import { defaultRegistry, InvalidArgumentError, type BaseJob, type QueueGroup } from '../../lib';
import type { AttemptContext } from '../../lib/extension';
import { RollupRecorder } from '../../lib/history/rollup-recorder';
import { HISTORY_TTL_GRACE_MS } from '../../lib/history/history-options';
import { Management } from '../../lib/ops/management';
import type { LockToken } from '../../lib/store/job-store';
import {
  emptyRollup,
  type RollupAddParams,
  type RollupDelta,
  type RollupStore,
} from '../../lib/store/rollup-store';
import type { JobState } from '../../lib/types';
import { memoryBackend, mongoBackend, testLogger, type Backend } from '../support/backends';
import { FailJob, FlakyJob, NoopJob, SleepJob } from '../support/jobs';

const MIN = 60_000;
/** A fixed minute, so that every test sees the same buckets. */
const T0 = Date.UTC(2030, 0, 15, 10, 0, 0);

function delta(queue: string, type: string, minuteMs: number, more: Partial<RollupDelta> = {}) {
  return { queue, type, minute: new Date(minuteMs), ...emptyRollup(), ...more };
}

/** Counts the store's writes (the store itself is real). */
function countingStore(store: RollupStore): { store: RollupStore; adds: RollupAddParams[] } {
  const adds: RollupAddParams[] = [];
  const counted = Object.create(store) as RollupStore;
  counted.rollupAdd = (params) => {
    adds.push(params);
    return store.rollupAdd(params);
  };
  return { store: counted, adds };
}

/** A job as a runner holds it after a claim (loaded from its document), created at `createdMs`. */
function loaded(job: BaseJob, createdMs: number): BaseJob {
  job.timeInfo.created = new Date(createdMs);
  return defaultRegistry.fromDocument(defaultRegistry.toDocument(job, 'q', new Date(createdMs)));
}

/** One claimed attempt as the runner hands it to extensions, at a given time. */
function attempt(queue: string, job: BaseJob, nowMs: number, token: LockToken): AttemptContext {
  return { queue, job, token, now: new Date(nowMs) };
}

function historyBehaviour(makeBackend: () => Backend): void {
  let backend: Backend;
  let store: RollupStore;

  before(() => {
    backend = makeBackend();
  });
  beforeEach(async () => {
    await backend.reset();
    store = backend.stores().rollups;
  });
  after(async () => backend.close());

  describe('recorder', () => {
    let clock: number;
    const recorder = (s: RollupStore, maxBuffered = 100) =>
      new RollupRecorder(
        s,
        { maxBuffered, retentionMs: 3_600_000 },
        () => new Date(clock),
        testLogger,
      );

    beforeEach(() => {
      clock = T0;
    });

    /** Runs one attempt through the hooks: claimed at `claimMs`, finished `runMs` later. */
    async function feed(
      rec: RollupRecorder,
      job: BaseJob,
      state: JobState,
      claimMs: number,
      runMs: number,
    ): Promise<void> {
      const token: LockToken = { id: job.id, owner: 'w', modCount: 1 };
      await rec.beforeStart(attempt('q', job, claimMs, token));
      await rec.afterFinish(attempt('q', job, claimMs + runMs, token), state);
    }

    it('adds runs and outcomes in memory and writes them with one bulk write per flush', async () => {
      const counting = countingStore(store);
      const rec = recorder(counting.store);
      await feed(
        rec,
        loaded(NoopJob.create({}, { id: 'n1' }), T0 - 500),
        'completed',
        T0 + 1000,
        200,
      );
      await feed(rec, loaded(NoopJob.create({}, { id: 'n2' }), T0), 'completed', T0 + 3000, 400);
      await feed(rec, loaded(FailJob.create({}, { id: 'f1' }), T0), 'retrying', T0 + 2000, 100);
      await feed(rec, loaded(FailJob.create({}, { id: 'f2' }), T0), 'failed', T0 + MIN + 1000, 50);
      // Released (a busy scope): started, but no outcome and no run time.
      await feed(rec, loaded(NoopJob.create({}, { id: 'n3' }), T0), 'pending', T0 + 5000, 10);
      assert.equal(rec.buffered(), 3);
      assert.equal(counting.adds.length, 0, 'nothing written before the flush');
      await rec.flush();
      assert.equal(counting.adds.length, 1, 'one round trip');
      assert.equal(counting.adds[0].deltas.length, 3, 'one upsert per queue, type and minute');
      assert.equal(rec.buffered(), 0);
      await rec.flush();
      assert.equal(counting.adds.length, 1, 'an empty flush writes nothing');

      const m = new Management(backend.stores(), { now: () => new Date(T0 + 2 * MIN) });
      const rates = await m.rates({ sinceMs: 10 * MIN, byType: true });
      const noop = rates.rows.find((r) => r.type === 'test-noop');
      const fail = rates.rows.find((r) => r.type === 'test-fail');
      assert.deepEqual(
        [noop?.started, noop?.completed, noop?.runCount, noop?.runSumMs, noop?.runMaxMs],
        [3, 2, 2, 600, 400],
      );
      assert.deepEqual([noop?.waitSumMs, noop?.waitMaxMs], [1500 + 3000 + 5000, 5000]);
      assert.deepEqual([fail?.started, fail?.retried, fail?.failed], [2, 1, 1]);
      await rec.close();
    });

    it('holds at most maxBuffered rollups; the rest are dropped and counted', async () => {
      const counting = countingStore(store);
      const rec = recorder(counting.store, 2);
      const token = (id: string): LockToken => ({ id, owner: 'w', modCount: 1 });
      const jobs = [
        NoopJob.create({}, { id: 'j0' }),
        FailJob.create({}, { id: 'j1' }),
        SleepJob.create({}, { id: 'j2' }),
        FlakyJob.create({}, { id: 'j3' }),
      ].map((j) => loaded(j, T0));
      // Synchronously, as outcomes recorded in one tick: the flush starts after them.
      await Promise.all(
        jobs.map((j) => rec.afterFinish(attempt('q', j, T0, token(j.id)), 'completed')),
      );
      assert.equal(rec.stats.dropped, 2);
      await rec.close();
      assert.equal(rec.buffered(), 0);
      const sums = await store.rollupSums({
        from: new Date(T0),
        to: new Date(T0 + MIN),
        bucketMs: 0,
      });
      assert.deepEqual(
        sums.map((s) => [s.type, s.completed]),
        [
          ['test-fail', 1],
          ['test-noop', 1],
        ],
      );
    });

    it('prunes expired rollups itself where they outlive their TTL, and detects it', async () => {
      const rec = recorder(store);
      const ttl = store.rollupTtlIndexed();
      assert.equal(rec.expiry(), ttl ? 'ttl' : 'prune');
      await store.rollupAdd({
        retentionMs: 3_600_000,
        deltas: [
          delta('q', 'old', T0, { completed: 1 }),
          delta('q', 'new', T0 + 30 * MIN, { completed: 1 }),
        ],
      });
      // One minute past the old one's expiry: within the grace a TTL monitor is given.
      clock = T0 + 3_600_000 + MIN;
      assert.equal(await rec.prune(), ttl ? 0 : 1);
      assert.equal(rec.expiry(), ttl ? 'ttl' : 'prune');
      // Past the grace the old rollup is still there: no TTL monitor removed it (by this clock).
      clock = T0 + 3_600_000 + HISTORY_TTL_GRACE_MS + MIN;
      assert.equal(await rec.prune(), ttl ? 1 : 0);
      assert.equal(rec.expiry(), 'prune');
      // From now on every expired rollup goes at once.
      clock = T0 + 30 * MIN + 3_600_000 + 1;
      assert.equal(await rec.prune(), 1);
      assert.equal(rec.stats.pruned, 2);
      await rec.close();
    });
  });

  describe('a group', () => {
    let group: QueueGroup;

    beforeEach(() => {
      group = backend.group();
    });

    it("counts its queues' runs and outcomes, flushed on close", async () => {
      const mail = await group.get('mail');
      await mail.putMany([
        NoopJob.create({}, { id: 'ok-1' }),
        NoopJob.create({}, { id: 'ok-2' }),
        FailJob.create({}, { id: 'bad-1', retryable: false }),
        FlakyJob.create({ succeedOn: 2 }, { id: 'flaky-1', maxAttempts: 3 }),
      ]);
      await mail.start();
      for (const id of ['ok-1', 'ok-2', 'bad-1', 'flaky-1']) {
        await mail.waitFor(id, { timeoutMs: 20_000 });
      }
      await group.close();
      const rates = await new Management(backend.stores()).rates({
        sinceMs: 3_600_000,
        byType: true,
      });
      const row = (type: string) => rates.rows.find((r) => r.queue === 'mail' && r.type === type);
      assert.deepEqual([row('test-noop')?.completed, row('test-noop')?.started], [2, 2]);
      assert.deepEqual([row('test-fail')?.failed, row('test-fail')?.started], [1, 1]);
      assert.deepEqual(
        [row('test-flaky')?.retried, row('test-flaky')?.completed, row('test-flaky')?.started],
        [2, 1, 3],
      );
      assert.equal(rates.totals.runCount, 6);
      assert.ok(rates.totals.runMaxMs >= 0 && rates.totals.waitMaxMs >= 0);
      assert.equal(group.history.stats.dropped, 0);
    });

    it('writes nothing with history turned off', async () => {
      const quiet = backend.groupWith({ history: { enabled: false } });
      const q = await quiet.get('silent');
      await q.put(NoopJob.create({}, { id: 'quiet-1' }));
      await q.start();
      await q.waitFor('quiet-1', { timeoutMs: 20_000 });
      await quiet.close();
      const rates = await new Management(backend.stores()).rates({ sinceMs: 3_600_000 });
      assert.deepEqual(rates.rows, []);
    });
  });

  describe('management reads', () => {
    const now = T0 + 60 * MIN + 30_000;
    let m: Management;

    beforeEach(async () => {
      m = new Management(backend.stores(), { now: () => new Date(now) });
      const deltas = [];
      for (let i = 0; i < 60; i++) {
        const at = T0 + i * MIN;
        deltas.push(
          delta('mail', 'send', at, { completed: 2, started: 2, waitSumMs: 200, waitMaxMs: 150 }),
        );
        if (i % 20 === 0)
          deltas.push(
            delta('mail', 'bounce', at, { failed: 1, started: 1, waitSumMs: 10, waitMaxMs: 10 }),
          );
        if (i >= 50) deltas.push(delta('images', 'resize', at, { completed: 5, aborted: 1 }));
      }
      // Older than a day: outside every window below but the week.
      deltas.push(delta('mail', 'send', T0 - 2 * 86_400_000, { completed: 7 }));
      await store.rollupAdd({ retentionMs: 30 * 86_400_000, deltas });
    });

    it('gives one series per queue, one point per minute of the last hour', async () => {
      const h = await m.history({ sinceMs: 3_600_000 });
      assert.equal(h.bucketMs, MIN);
      assert.equal(h.from.getTime(), T0);
      assert.equal(h.points.length, 61);
      assert.deepEqual(
        h.series.map((s) => [s.queue, s.type, s.totals.completed, s.totals.failed]),
        [
          ['images', undefined, 50, 0],
          ['mail', undefined, 120, 3],
        ],
      );
      const mail = h.series[1];
      assert.deepEqual(
        mail.points.slice(0, 2).map((p) => [p.at.getTime(), p.completed, p.failed, p.started]),
        [
          [T0, 2, 1, 3],
          [T0 + MIN, 2, 0, 2],
        ],
      );
      assert.equal(mail.points[0].waitAvgMs, 210 / 3);
      assert.equal(mail.points[0].waitMaxMs, 150);
      assert.equal(mail.points[60].completed, 0, 'the current minute, empty');
      assert.equal(mail.points[60].waitAvgMs, null);
      assert.equal(h.totals.completed, 170);
      assert.equal(h.totals.aborted, 10);
    });

    it('gives series per type in a queue, and wider buckets for a day and a week', async () => {
      const h = await m.history({ sinceMs: 3_600_000, queue: 'mail' });
      assert.deepEqual(
        h.series.map((s) => [s.type, s.totals.completed, s.totals.failed]),
        [
          ['bounce', 0, 3],
          ['send', 120, 0],
        ],
      );
      const day = await m.history({ sinceMs: 86_400_000 });
      assert.equal(day.bucketMs, 15 * MIN);
      assert.equal(day.totals.completed, 170);
      const week = await m.history({ sinceMs: 7 * 86_400_000, type: 'send' });
      assert.equal(week.bucketMs, 2 * 3_600_000);
      assert.equal(week.totals.completed, 127);
      assert.deepEqual(
        week.series.map((s) => [s.queue, s.type]),
        [['mail', 'send']],
      );
    });

    it('gives totals and per-minute rates over a window', async () => {
      const r = await m.rates({ sinceMs: 30 * MIN });
      // From the minute holding now - 30 min to now: 30.5 minutes.
      assert.equal(r.from.getTime(), T0 + 30 * MIN);
      assert.equal(r.minutes, 30.5);
      assert.deepEqual(
        r.rows.map((row) => [row.queue, row.completed, row.failed]),
        [
          ['images', 50, 0],
          ['mail', 60, 1],
        ],
      );
      assert.equal(r.totals.completedPerMin, 110 / 30.5);
      assert.equal(r.rows[1].waitAvgMs, (30 * 200 + 10) / 61);
    });

    it('rejects malformed queries before they reach the store', async () => {
      for (const bad of [
        () => m.history({ queue: '{"$gt": ""}' }),
        () => m.history({ type: { $ne: null } as unknown as string }),
        () => m.history({ bucketMs: 90_000 }),
        () => m.history({ sinceMs: 1000 }),
        () => m.history({ sinceMs: 86_400_000 * 30, bucketMs: MIN }),
        () => m.history({ by: 'host' as 'queue' }),
        () => m.rates({ sinceMs: Number.NaN }),
        () => m.rates({ until: new Date('nope') }),
      ]) {
        await assert.rejects(bad(), InvalidArgumentError);
      }
    });
  });
}

describe('history (memory)', () => historyBehaviour(memoryBackend));
describe('history (mongodb)', () => historyBehaviour(mongoBackend));
