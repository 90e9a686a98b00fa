/**
 * The management API's bulk side against both stores: totals and paging both ways (the next
 * page is offered only when a row follows), a bulk retry by type with its dry run and limit,
 * and deleting finished attempts older than an age, of one type.
 */
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../../lib';
import { Management } from '../../lib/ops/management';
import { memoryBackend, mongoBackend, type Backend } from '../support/backends';
import { daysAgo, makeDoc, type DocSpec } from '../support/management-factory';

function bulkBehaviour(makeBackend: () => Backend): void {
  let backend: Backend;
  let mgmt: Management;

  const insert = (...specs: DocSpec[]) => backend.store().jobInsert(specs.map(makeDoc));

  before(() => {
    backend = makeBackend();
  });
  beforeEach(async () => {
    await backend.reset();
    mgmt = new Management(backend.stores(), { pruneBatchSize: 3 });
  });
  after(async () => backend.close());

  describe('paging and totals', () => {
    beforeEach(async () => {
      const base = Date.now() - 1000_000;
      const specs: DocSpec[] = [];
      for (let i = 0; i < 40; i++) {
        // Pairs share a creation time, so the ID breaks ties.
        const created = new Date(base + Math.floor(i / 2) * 1000);
        specs.push({ id: `job-${String(i).padStart(3, '0')}`, queue: 'paged', created });
      }
      await insert(...specs, { id: 'other-1', queue: 'else' });
    });

    it('counts what a filter lists', async () => {
      assert.equal(await mgmt.count(), 41);
      assert.equal(await mgmt.count({ queue: 'paged' }), 40);
      assert.equal(await mgmt.count({ queue: 'paged', idContains: 'job-01' }), 10);
      assert.equal(await mgmt.count({ state: 'failed' }), 0);
      await assert.rejects(mgmt.count({ queue: '{"$gt": ""}' }), InvalidArgumentError);
    });

    for (const order of ['newest', 'id'] as const) {
      it(`pages forward and back by ${order}, with no next page after an exactly full last page`, async () => {
        const ids = (page: { jobs: { _id: string }[] }) => page.jobs.map((j) => j._id);
        const p1 = await mgmt.list({ queue: 'paged' }, { limit: 20, order });
        assert.equal(p1.prevCursor, null, 'the first page has no previous page');
        assert.ok(p1.nextCursor);
        const p2 = await mgmt.list({ queue: 'paged' }, { limit: 20, cursor: p1.nextCursor });
        assert.equal(p2.jobs.length, 20);
        assert.equal(p2.nextCursor, null, 'the last page, though full, offers no next page');
        assert.ok(p2.prevCursor);
        const back = await mgmt.list({ queue: 'paged' }, { limit: 20, cursor: p2.prevCursor });
        assert.deepEqual(ids(back), ids(p1));
        assert.equal(back.prevCursor, null, 'back on the first page');
        assert.equal(back.nextCursor, p1.nextCursor);
        // Smaller pages backwards from the end: 40 rows in 7 pages of 6, in order.
        let page = await mgmt.list({ queue: 'paged' }, { limit: 6, order });
        const forward: string[] = [...ids(page)];
        while (page.nextCursor) {
          page = await mgmt.list({ queue: 'paged' }, { limit: 6, cursor: page.nextCursor });
          forward.push(...ids(page));
        }
        const backward: string[] = [...ids(page)];
        while (page.prevCursor) {
          page = await mgmt.list({ queue: 'paged' }, { limit: 6, cursor: page.prevCursor });
          backward.unshift(...ids(page));
        }
        assert.equal(forward.length, 40);
        assert.deepEqual(backward, forward);
        const expected = Array.from({ length: 40 }, (_, i) => `job-${String(i).padStart(3, '0')}`);
        assert.deepEqual(forward, order === 'id' ? expected : expected.reverse());
      });
    }
  });

  describe('retryMany', () => {
    beforeEach(async () => {
      await insert(
        { id: 'f-1', queue: 'pay', kind: 'fail', state: 'failed' },
        { id: 'f-2', queue: 'pay', kind: 'fail', state: 'failed' },
        { id: 'f-3', queue: 'pay', kind: 'fail', state: 'failed' },
        { id: 'n-1', queue: 'pay', state: 'failed' },
        { id: 'a-1', queue: 'pay', kind: 'fail', state: 'aborted' },
        { id: 'c-1', queue: 'pay', kind: 'fail', state: 'completed' },
        { id: 'm-1', queue: 'mail', kind: 'fail', state: 'failed' },
      );
    });

    it('counts first (dry run), then retries every failed job of a type', async () => {
      const filter = { queue: 'pay', type: 'test-fail' };
      const dry = await mgmt.retryMany(filter, { dryRun: true });
      assert.deepEqual(
        [dry.action, dry.dryRun, dry.matched, dry.changed, dry.limited],
        ['retry', true, 3, 0, false],
      );
      assert.equal(
        await mgmt.count({ ...filter, state: 'failed' }),
        3,
        'the dry run changed nothing',
      );
      const done = await mgmt.retryMany(filter);
      assert.deepEqual([done.matched, done.changed, done.outcomes], [3, 3, { done: 3 }]);
      for (const id of ['f-1', 'f-2', 'f-3']) {
        const job = await mgmt.job(id);
        assert.deepEqual([job?.state, job?.attempts.length], ['pending', 2], id);
      }
      for (const id of ['n-1', 'a-1', 'c-1', 'm-1']) {
        assert.equal((await mgmt.job(id))?.attempts.length, 1, `${id} untouched`);
      }
      assert.equal((await mgmt.retryMany(filter)).matched, 0, 'nothing failed is left');
    });

    it('takes aborted and expired jobs when asked, and stops at the limit', async () => {
      const some = await mgmt.retryMany(
        { queue: 'pay', state: ['failed', 'aborted'] },
        { limit: 2 },
      );
      assert.deepEqual([some.matched, some.changed, some.limited], [5, 2, true]);
      const rest = await mgmt.retryMany({ queue: 'pay', state: ['failed', 'aborted'] });
      assert.deepEqual([rest.matched, rest.changed, rest.limited], [3, 3, false]);
      assert.equal((await mgmt.job('a-1'))?.state, 'pending');
      await assert.rejects(mgmt.retryMany({ state: 'completed' }), InvalidArgumentError);
      await assert.rejects(mgmt.retryMany({}, { limit: 0 }), InvalidArgumentError);
      await assert.rejects(mgmt.retryMany({ type: '{"$ne": 1}' }), InvalidArgumentError);
    });
  });

  describe('deleteFinished', () => {
    beforeEach(async () => {
      const old = daysAgo(10);
      await insert(
        { id: 'old-ok-1', queue: 'img', state: 'completed', created: old },
        { id: 'old-ok-2', queue: 'img', state: 'completed', created: old },
        { id: 'old-ok-3', queue: 'img', state: 'completed', created: old },
        { id: 'old-ok-4', queue: 'img', state: 'completed', created: old },
        { id: 'old-bad-1', queue: 'img', kind: 'fail', state: 'failed', created: old },
        { id: 'new-ok-1', queue: 'img', state: 'completed' },
        { id: 'old-pending', queue: 'img', created: old },
        { id: 'old-other', queue: 'docs', state: 'completed', created: old },
      );
    });

    it('counts, then deletes finished attempts of a type older than an age', async () => {
      const filter = { olderThanMs: 7 * 86_400_000, type: 'test-noop' };
      const dry = await mgmt.deleteFinished(filter, { dryRun: true });
      assert.deepEqual([dry.action, dry.matched, dry.changed], ['delete', 5, 0]);
      assert.ok(dry.cutoff instanceof Date);
      const done = await mgmt.deleteFinished(filter);
      assert.deepEqual([done.matched, done.changed, done.limited], [5, 5, false]);
      const left = (await mgmt.list({}, { order: 'id' })).jobs.map((j) => j._id);
      assert.deepEqual(left, ['new-ok-1', 'old-bad-1', 'old-pending']);
    });

    it('keeps to one queue and some states, and stops at the limit', async () => {
      const limited = await mgmt.deleteFinished(
        { olderThanMs: 86_400_000, queue: 'img', states: ['completed'] },
        { limit: 3 },
      );
      assert.deepEqual([limited.matched, limited.changed, limited.limited], [4, 3, true]);
      assert.equal(await mgmt.count({ state: 'completed' }), 3, 'one old, one new, one in docs');
      await assert.rejects(
        mgmt.deleteFinished({ olderThanMs: 0, states: ['running'] }),
        InvalidArgumentError,
      );
      await assert.rejects(mgmt.deleteFinished({ olderThanMs: -5 }), InvalidArgumentError);
    });
  });
}

describe('management bulk actions (memory)', () => bulkBehaviour(memoryBackend));
describe('management bulk actions (mongodb)', () => bulkBehaviour(mongoBackend));
