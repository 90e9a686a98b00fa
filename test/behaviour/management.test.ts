/**
 * The management API against both stores: counts from one aggregation, filtered and paged lists,
 * job detail with attempts, every action's guard, retention, and rejection of operator injection.
 */
import assert from 'node:assert/strict';
import {
  InvalidArgumentError,
  QueueNotFoundError,
  type JobState,
  type QueueGroup,
} from '../../lib';
import { Management } from '../../lib/ops/management';
import { eventually, memoryBackend, mongoBackend, type Backend } from '../support/backends';
import { FailJob, FlakyJob, NoopJob, SleepJob, WaitForAbortJob } from '../support/jobs';
import { daysAgo, makeDoc, type DocSpec } from '../support/management-factory';

function managementBehaviour(makeBackend: () => Backend): void {
  let backend: Backend;
  let group: QueueGroup;
  let mgmt: Management;

  const insert = (...specs: DocSpec[]) => backend.store().jobInsert(specs.map(makeDoc));

  before(() => {
    backend = makeBackend();
  });
  beforeEach(async () => {
    await backend.reset();
    group = backend.group();
    mgmt = new Management(backend.stores());
  });
  after(async () => backend.close());

  describe('counts', () => {
    it('counts by queue, type and state in one aggregation, matching queue stats', async () => {
      const future = new Date(Date.now() + 3600_000);
      await insert(
        { id: 'a1', queue: 'alpha' },
        { id: 'a2', queue: 'alpha', dueAt: future },
        { id: 'a3', queue: 'alpha', kind: 'fail', state: 'failed' },
        { id: 'a4', queue: 'alpha', state: 'running' },
        { id: 'a5', queue: 'alpha', state: 'blocked' },
        { id: 'b1', queue: 'beta', state: 'completed' },
        { id: 'b2', queue: 'beta', kind: 'fail', state: 'retrying' },
        { id: 'b2', queue: 'beta', kind: 'fail', attempt: 1 },
        { id: 'b3', queue: 'beta', state: 'quarantined' },
        { id: 'b4', queue: 'beta', state: 'expired' },
        { id: 'b5', queue: 'beta', state: 'aborted' },
      );
      const counts = await mgmt.counts();
      assert.deepEqual(
        counts.queues.map((q) => q.queue),
        ['alpha', 'beta'],
      );
      for (const q of counts.queues) {
        const stats = await (await group.get(q.queue)).stats();
        assert.deepEqual(q, stats, `counts of ${q.queue}`);
      }
      assert.equal(counts.totals.total, 11);
      assert.equal(counts.totals.pending, 3);
      assert.equal(counts.totals.due, 2);
      const failType = counts.types.find((t) => t.queue === 'beta' && t.type === 'test-fail');
      assert.equal(failType?.retrying, 1);
      assert.equal(failType?.pending, 1);
      assert.equal(failType?.total, 2);
      const row = counts.rows.find((r) => r.queue === 'alpha' && r.state === 'failed');
      assert.deepEqual(row, {
        queue: 'alpha',
        type: 'test-fail',
        state: 'failed',
        count: 1,
        due: 0,
      });
      const one = await mgmt.counts({ queue: 'beta' });
      assert.deepEqual(
        one.queues.map((q) => q.queue),
        ['beta'],
      );
      assert.deepEqual(await mgmt.queueNames(), ['alpha', 'beta']);
    });
  });

  describe('list', () => {
    it('filters by queue, type, states, creation time and literal ID text', async () => {
      await insert(
        { id: 'img.1', queue: 'images', created: daysAgo(3) },
        { id: 'imgX1', queue: 'images', created: daysAgo(2) },
        { id: 'img.2', queue: 'images', kind: 'fail', state: 'failed', created: daysAgo(1) },
        { id: 'mail-1', queue: 'mail', state: 'completed', created: daysAgo(1) },
      );
      const ids = async (filter: Parameters<Management['list']>[0]) =>
        (await mgmt.list(filter)).jobs.map((j) => j._id);
      assert.deepEqual(await ids({ queue: 'images' }), ['img.2', 'imgX1', 'img.1']);
      assert.deepEqual(await ids({ type: 'test-fail' }), ['img.2']);
      assert.deepEqual(await ids({ state: ['failed', 'completed'] }), ['mail-1', 'img.2']);
      assert.deepEqual(await ids({ state: 'pending', queue: 'images' }), ['imgX1', 'img.1']);
      // '.' is matched literally: imgX1 does not match "img.".
      assert.deepEqual(await ids({ idContains: 'img.' }), ['img.2', 'img.1']);
      assert.deepEqual(await ids({ createdAfter: daysAgo(2.5), createdBefore: daysAgo(1.5) }), [
        'imgX1',
      ]);
      const page = await mgmt.list({ queue: 'mail' });
      assert.equal(page.nextCursor, null);
      assert.equal('payload' in page.jobs[0], false, 'lists carry no payload');
    });

    it('pages over more than a page with an opaque cursor, in both orders', async () => {
      const base = Date.now() - 1000_000;
      const specs: DocSpec[] = [];
      for (let i = 0; i < 57; i++) {
        // Pairs share a creation time, so the ID breaks ties.
        const created = new Date(base + Math.floor(i / 2) * 1000);
        specs.push({ id: `job-${String(i).padStart(3, '0')}`, queue: 'paged', created });
      }
      await insert(...specs);
      const all = async (order: 'newest' | 'id') => {
        const seen: string[] = [];
        let cursor: string | undefined;
        let pages = 0;
        do {
          const page = await mgmt.list({ queue: 'paged' }, { limit: 20, cursor, order });
          seen.push(...page.jobs.map((j) => j._id));
          cursor = page.nextCursor ?? undefined;
          pages++;
        } while (cursor);
        return { seen, pages };
      };
      const newest = await all('newest');
      assert.equal(newest.pages, 3);
      assert.deepEqual(newest.seen, specs.map((s) => s.id).reverse());
      const byId = await all('id');
      assert.deepEqual(
        byId.seen,
        specs.map((s) => s.id),
      );
      const first = await mgmt.list({}, { limit: 5, order: 'id' });
      await assert.rejects(
        mgmt.list({}, { cursor: first.nextCursor ?? '', order: 'newest' }),
        InvalidArgumentError,
      );
      await assert.rejects(mgmt.list({}, { cursor: 'not-a-cursor' }), InvalidArgumentError);
      await assert.rejects(mgmt.list({}, { limit: 0 }), InvalidArgumentError);
    });
  });

  describe('job detail', () => {
    it('shows a job in full with every attempt, its errors and timings', async () => {
      const q = await group.get('detail');
      await q.put(FlakyJob.create({ succeedOn: 2 }, { id: 'flaky', maxAttempts: 5 }));
      await q.start();
      await q.waitFor('flaky', { timeoutMs: 15_000 });
      const detail = await mgmt.job('flaky');
      assert.ok(detail);
      assert.equal(detail.id, 'flaky');
      assert.equal(detail.state, 'completed');
      assert.equal(detail.latest._id, 'flaky#2');
      assert.equal(detail.latest.payload.succeedOn, 2);
      assert.deepEqual(
        detail.attempts.map((a) => [a.id, a.state, a.errCount]),
        [
          ['flaky', 'retrying', 1],
          ['flaky#1', 'retrying', 1],
          ['flaky#2', 'completed', 0],
        ],
      );
      assert.match(detail.attempts[0].errors[0].message, /attempt 0 failed/);
      assert.equal(detail.attempts[0].nextAttemptId, 'flaky#1');
      for (const a of detail.attempts) {
        assert.ok(a.runMs !== null && a.runMs >= 0);
        assert.ok(a.waitMs !== null && a.waitMs >= 0);
      }
      assert.equal((await mgmt.job('flaky#1'))?.latest._id, 'flaky#2');
      assert.equal(await mgmt.job('missing'), undefined);
    });
  });

  describe('actions', () => {
    it('abort: pending at once, running by request, finished refused', async () => {
      mgmt = new Management(group);
      await insert({ id: 'waiting', queue: 'ab' }, { id: 'over', queue: 'ab', state: 'completed' });
      const q = await group.get('ab-run');
      await q.put(WaitForAbortJob.create({}, { id: 'busy' }));
      await q.start();
      await eventually('busy runs', async () => (await mgmt.job('busy'))?.state === 'running');
      const pending = await mgmt.abort('waiting');
      assert.deepEqual([pending.outcome, pending.changed, pending.state], ['done', 1, 'aborted']);
      assert.equal((await mgmt.abort('busy')).outcome, 'requested');
      await eventually('busy aborted', async () => (await mgmt.job('busy'))?.state === 'aborted');
      assert.equal((await mgmt.abort('over')).outcome, 'refused');
      assert.equal((await mgmt.abort('nope')).outcome, 'not-found');
      // From the stores alone (another process): the same guard.
      const remote = new Management(backend.stores());
      assert.equal((await remote.abort('waiting')).outcome, 'refused');
    });

    it('retry: a failed job gets a new attempt once; a delayed one is due now', async () => {
      const later = new Date(Date.now() + 3600_000);
      await insert(
        { id: 'bad', kind: 'fail', state: 'failed' },
        { id: 'later', dueAt: later },
        { id: 'now' },
        { id: 'busy', state: 'running' },
        { id: 'fine', state: 'completed' },
      );
      const r = await mgmt.retry('bad');
      assert.deepEqual(
        [r.outcome, r.changed, r.ids, r.state],
        ['done', 2, ['bad', 'bad#1'], 'pending'],
      );
      const next = await backend.store().jobGet('bad#1');
      assert.equal(next?.retryInfo.currentAttempt, 1);
      assert.equal(next?.status.errCount, 0);
      const old = await backend.store().jobGet('bad');
      assert.deepEqual([old?.state, old?.nextAttemptId], ['retrying', 'bad#1']);
      const again = await mgmt.retry('bad');
      assert.deepEqual([again.outcome, again.changed], ['unchanged', 0]);
      const delayed = await mgmt.retry('later');
      assert.deepEqual([delayed.outcome, delayed.ids], ['done', ['later']]);
      assert.ok(((await backend.store().jobGet('later'))?.dueAt ?? later) < later);
      assert.equal((await mgmt.retry('now')).outcome, 'unchanged');
      const busy = await mgmt.retry('busy');
      assert.deepEqual([busy.outcome, busy.state], ['refused', 'running']);
      assert.equal((await mgmt.retry('fine')).outcome, 'refused');
      assert.equal((await mgmt.retry('ghost')).outcome, 'not-found');
    });

    it('retry: two operators at once make one new attempt', async () => {
      await insert({ id: 'race', kind: 'fail', state: 'failed' });
      const results = await Promise.all([mgmt.retry('race'), mgmt.retry('race')]);
      const outcomes = results.map((r) => r.outcome);
      assert.ok(outcomes.includes('done'), outcomes.join());
      assert.deepEqual(
        (await backend.store().jobAttempts('race')).map((a) => a._id),
        ['race', 'race#1'],
      );
    });

    it('retried jobs run again and can complete', async () => {
      const q = await group.get('again');
      await q.put(FailJob.create({}, { id: 'f', retryable: false }));
      await q.start();
      await q.waitFor('f');
      assert.equal((await mgmt.job('f'))?.state, 'failed');
      assert.equal((await mgmt.retry('f')).outcome, 'done');
      await eventually('f#1 ran', async () => (await mgmt.job('f'))?.state === 'failed');
      assert.equal((await mgmt.job('f'))?.latest._id, 'f#1');
    });

    it('complete: pending, blocked and failed only; a running job is refused', async () => {
      await insert(
        { id: 'p' },
        { id: 'b', state: 'blocked' },
        { id: 'f', state: 'failed', kind: 'fail' },
        { id: 'r', state: 'running' },
        { id: 'c', state: 'completed' },
      );
      for (const id of ['p', 'b', 'f']) {
        const res = await mgmt.complete(id);
        assert.deepEqual([res.outcome, res.state, res.changed], ['done', 'completed', 1], id);
        const doc = await backend.store().jobGet(id);
        assert.equal(doc?.status.completed, true);
        assert.ok(doc?.timeInfo.end instanceof Date);
      }
      const running = await mgmt.complete('r');
      assert.equal(running.outcome, 'refused');
      assert.match(running.reason ?? '', /running/);
      assert.equal((await backend.store().jobGet('r'))?.state, 'running');
      assert.equal((await mgmt.complete('c')).outcome, 'refused');
    });

    it('requeue: a finished job as a new attempt, a quarantined one in place', async () => {
      await insert(
        { id: 'done', state: 'completed' },
        { id: 'quar', state: 'quarantined' },
        { id: 'live' },
      );
      const a = await mgmt.requeue('done');
      assert.deepEqual([a.outcome, a.ids], ['done', ['done', 'done#1']]);
      assert.equal((await backend.store().jobGet('done'))?.state, 'completed', 'history kept');
      assert.equal((await mgmt.job('done'))?.latest._id, 'done#1');
      assert.equal((await mgmt.requeue('done')).outcome, 'refused', 'done#1 is pending');
      const b = await mgmt.requeue('quar');
      assert.deepEqual([b.outcome, b.ids, b.state], ['done', ['quar'], 'pending']);
      assert.equal((await backend.store().jobGet('quar'))?.state, 'pending');
      assert.equal((await mgmt.requeue('live')).outcome, 'refused');
    });

    it('delete: every attempt; a running job only with force', async () => {
      await insert(
        { id: 'd', state: 'retrying', kind: 'fail' },
        { id: 'd', attempt: 1, state: 'failed', kind: 'fail' },
        { id: 'keep' },
        { id: 'run', state: 'running' },
      );
      const res = await mgmt.delete('d#1');
      assert.deepEqual([res.outcome, res.changed, res.ids], ['done', 2, ['d#1', 'd']]);
      assert.deepEqual(await backend.store().jobAttempts('d'), []);
      assert.ok(await backend.store().jobGet('keep'));
      assert.equal((await mgmt.delete('run')).outcome, 'refused');
      assert.equal((await mgmt.delete('run', { force: true })).outcome, 'done');
      assert.equal(await backend.store().jobGet('run'), null);
      assert.equal((await mgmt.delete('run')).outcome, 'not-found');
    });

    it('delete with force makes the running worker lose its lock', async () => {
      const q = await group.get('gone');
      await q.put(SleepJob.create({ ms: 60_000 }, { id: 'sleeper' }));
      await q.start();
      await eventually('sleeper runs', () => q.isRunning('sleeper'));
      assert.equal((await mgmt.delete('sleeper', { force: true })).outcome, 'done');
      await eventually('sleeper stopped', () => !q.isRunning('sleeper'));
      assert.equal(await backend.store().jobGet('sleeper'), null, 'no write resurrects it');
    });
  });

  describe('pause and resume', () => {
    it('sets fuses on queues and job types, reporting whether they changed', async () => {
      mgmt = new Management(group);
      // A queue that does not exist yet (no record, no jobs) is refused, not created.
      await assert.rejects(mgmt.pause('fused'), QueueNotFoundError);
      const q = await group.get('fused');
      const p = await mgmt.pause('fused');
      assert.deepEqual([p.changed, p.paused], [1, true]);
      assert.equal((await mgmt.pause('fused')).changed, 0);
      const t = await mgmt.pause('fused', { type: 'test-noop' });
      assert.deepEqual([t.changed, t.pausedTypes], [1, ['test-noop']]);
      const records = await new Management(backend.stores()).queueRecords();
      const rec = records.find((r) => r.name === 'fused');
      assert.deepEqual([rec?.paused, rec?.pausedTypes], [true, ['test-noop']]);
      await q.put(NoopJob.create({}, { id: 'held' }));
      await q.start();
      assert.equal((await mgmt.resume('fused')).paused, false);
      const r = await mgmt.resume('fused', { type: 'test-noop' });
      assert.deepEqual([r.changed, r.pausedTypes], [1, []]);
      assert.equal((await mgmt.resume('fused', { type: 'test-noop' })).changed, 0);
      await q.waitFor('held');
      await assert.rejects(mgmt.pause('fused', { type: '$bad' }), InvalidArgumentError);
      await assert.rejects(mgmt.pause({ $gt: '' } as unknown as string), InvalidArgumentError);
    });
  });

  describe('prune', () => {
    it('deletes only finished attempts that ended before the cutoff, in batches', async () => {
      const old = daysAgo(20);
      const states: JobState[] = ['completed', 'failed', 'aborted', 'expired', 'retrying'];
      await insert(
        ...states.map((state, i) => ({ id: `old-${i}`, queue: 'p1', state, created: old })),
        { id: 'old-other-queue', queue: 'p2', state: 'completed', created: old },
        { id: 'recent', queue: 'p1', state: 'completed', created: daysAgo(1) },
        { id: 'old-pending', queue: 'p1', created: old },
        { id: 'old-running', queue: 'p1', state: 'running', created: old },
        { id: 'old-quarantined', queue: 'p1', state: 'quarantined', created: old },
      );
      const small = new Management(backend.stores(), { pruneBatchSize: 2 });
      const onlyP2 = await small.prune({ queue: 'p2' });
      assert.deepEqual([onlyP2.changed, onlyP2.byQueue], [1, { p2: 1 }]);
      const res = await small.prune();
      assert.equal(res.changed, 5);
      assert.deepEqual(res.byQueue, { p1: 5 });
      const left = (await mgmt.list({}, { order: 'id' })).jobs.map((j) => j._id);
      assert.deepEqual(left, ['old-pending', 'old-quarantined', 'old-running', 'recent']);
      assert.equal((await mgmt.prune({ olderThanMs: 0 })).changed, 1, 'recent, with no age');
      await assert.rejects(mgmt.prune({ states: ['pending'] }), InvalidArgumentError);
      await assert.rejects(mgmt.prune({ olderThanMs: -1 }), InvalidArgumentError);
    });
  });

  describe('input validation', () => {
    const injections: unknown[] = [{ $gt: '' }, { $ne: null }, ['a'], 42, '', 'a b', '$where'];

    it('rejects operators and malformed values as IDs with InvalidArgumentError', async () => {
      await insert({ id: 'x' });
      const byId: ((id: string) => Promise<unknown>)[] = [
        (id) => mgmt.job(id),
        (id) => mgmt.abort(id),
        (id) => mgmt.retry(id),
        (id) => mgmt.requeue(id),
        (id) => mgmt.complete(id),
        (id) => mgmt.delete(id),
      ];
      for (const call of byId) {
        for (const bad of injections) {
          await assert.rejects(call(bad as string), InvalidArgumentError, JSON.stringify(bad));
        }
      }
      assert.equal((await backend.store().jobGet('x'))?.state, 'pending', 'nothing changed');
    });

    it('rejects operators as queue names, types, states, ID text and cursors', async () => {
      const bad = { $gt: '' } as unknown as string;
      await assert.rejects(mgmt.counts({ queue: bad }), InvalidArgumentError);
      await assert.rejects(mgmt.list({ queue: bad }), InvalidArgumentError);
      await assert.rejects(mgmt.list({ type: bad }), InvalidArgumentError);
      await assert.rejects(mgmt.list({ state: bad as JobState }), InvalidArgumentError);
      await assert.rejects(
        mgmt.list({ state: ['pending', bad as JobState] }),
        InvalidArgumentError,
      );
      await assert.rejects(mgmt.list({ idContains: bad }), InvalidArgumentError);
      await assert.rejects(mgmt.list({ idContains: '.*' }), InvalidArgumentError);
      await assert.rejects(
        mgmt.list({ createdAfter: bad as unknown as Date }),
        InvalidArgumentError,
      );
      await assert.rejects(mgmt.list({}, { cursor: bad }), InvalidArgumentError);
      await assert.rejects(
        mgmt.list({ _id: bad } as unknown as Parameters<Management['list']>[0]),
        InvalidArgumentError,
      );
      await assert.rejects(mgmt.prune({ queue: bad }), InvalidArgumentError);
      await assert.rejects(
        mgmt.delete('x', { force: bad as unknown as boolean }),
        InvalidArgumentError,
      );
    });
  });
}

describe('management: in-memory', () => managementBehaviour(memoryBackend));
describe('management: MongoDB', () => managementBehaviour(mongoBackend));
