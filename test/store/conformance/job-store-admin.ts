/**
 * JobStore conformance, part three: statistics, lists and pages, counts, deletes, prunes, queue
 * names and the event followers' queries (lib/store/job-store.ts).
 */
import assert from 'node:assert/strict';
import { emptyQueueStats } from '../../../lib/types';
import type {
  JobListParams,
  JobPageParams,
  JobStore,
  JobSummaryDocument,
} from '../../../lib/store/job-store';
import { at, insertJobs, jobDoc, type JobSpec } from '../../support/store-factory';
import type { StoreTarget } from './target';

const ids = (docs: { _id: string }[]): string[] => docs.map((d) => d._id);

export function jobStoreAdmin(target: StoreTarget): void {
  const store = (): JobStore => target.stores().jobs;

  describe('jobStats', () => {
    it('counts the attempts of one queue by state, with those due at `now`', async () => {
      await insertJobs(store(), [
        { id: 'due-1', dueAt: at(-1) },
        { id: 'due-2', dueAt: at(0) },
        { id: 'later', dueAt: at(1) },
        { id: 'blocked', state: 'blocked', dueAt: at(-1) },
        { id: 'running', state: 'running' },
        { id: 'retrying', state: 'retrying' },
        { id: 'done-1', state: 'completed' },
        { id: 'done-2', state: 'completed' },
        { id: 'failed', state: 'failed' },
        { id: 'aborted', state: 'aborted' },
        { id: 'expired', state: 'expired' },
        { id: 'quarantined', state: 'quarantined' },
        { id: 'elsewhere', queue: 'other', dueAt: at(-1) },
      ]);
      assert.deepEqual(await store().jobStats('q', at(0)), {
        ...emptyQueueStats('q'),
        total: 12,
        pending: 3,
        due: 2,
        blocked: 1,
        running: 1,
        retrying: 1,
        completed: 2,
        failed: 1,
        aborted: 1,
        expired: 1,
        quarantined: 1,
      });
      assert.equal((await store().jobStats('q', at(1))).due, 3);
    });

    it('gives zeros for a queue with nothing in it', async () => {
      assert.deepEqual(await store().jobStats('empty', at(0)), emptyQueueStats('empty'));
    });
  });

  describe('jobList', () => {
    async function listed(): Promise<void> {
      await insertJobs(store(), [
        { id: 'a', created: at(0), dueAt: at(0) },
        { id: 'b', created: at(10), state: 'blocked', edges: ['a', 'z'], dueAt: at(10) },
        { id: 'c', created: at(20), kind: 'fail', state: 'failed' },
        { id: 'c', attempt: 1, created: at(30), dueAt: at(30) },
        { id: 'd.e', created: at(40), queue: 'other', edges: ['a'], dueAt: at(40) },
        { id: 'dxe', created: at(50), dueAt: at(50) },
        { id: 'cc', created: at(60), state: 'completed' },
      ]);
    }
    const list = (p: Partial<JobListParams> = {}) => store().jobList({ limit: 100, ...p });

    it('lists ascending by ID, up to `limit`', async () => {
      await listed();
      assert.deepEqual(ids(await list()), ['a', 'b', 'c', 'c#1', 'cc', 'd.e', 'dxe']);
      assert.deepEqual(ids(await list({ limit: 2 })), ['a', 'b']);
    });

    it('pages with afterId: every document once', async () => {
      await listed();
      const seen: string[] = [];
      let afterId: string | undefined;
      for (;;) {
        const page = await list({ afterId, limit: 3 });
        seen.push(...ids(page));
        if (page.length < 3) break;
        afterId = page[page.length - 1]._id;
      }
      assert.deepEqual(seen, ['a', 'b', 'c', 'c#1', 'cc', 'd.e', 'dxe']);
    });

    it('filters by queue, states, type, job and edge', async () => {
      await listed();
      assert.deepEqual(ids(await list({ queue: 'other' })), ['d.e']);
      assert.deepEqual(ids(await list({ states: ['blocked', 'completed'] })), ['b', 'cc']);
      assert.deepEqual(ids(await list({ states: [] })), []);
      assert.deepEqual(ids(await list({ type: 'test-fail' })), ['c']);
      assert.deepEqual(ids(await list({ baseJobId: 'c' })), ['c', 'c#1']);
      assert.deepEqual(ids(await list({ baseJobId: 'c', afterId: 'c' })), ['c#1']);
      assert.deepEqual(ids(await list({ edge: 'a' })), ['b', 'd.e']);
      assert.deepEqual(ids(await list({ edge: 'z', queue: 'other' })), []);
    });

    it('filters by creation time (after inclusive, before exclusive) and due time (inclusive)', async () => {
      await listed();
      assert.deepEqual(ids(await list({ createdAfter: at(40) })), ['cc', 'd.e', 'dxe']);
      assert.deepEqual(ids(await list({ createdBefore: at(20) })), ['a', 'b']);
      assert.deepEqual(ids(await list({ createdAfter: at(10), createdBefore: at(30) })), [
        'b',
        'c',
      ]);
      assert.deepEqual(ids(await list({ dueBefore: at(10), states: ['pending', 'blocked'] })), [
        'a',
        'b',
      ]);
    });

    it('matches idContains literally, never as a pattern', async () => {
      await listed();
      assert.deepEqual(ids(await list({ idContains: '.' })), ['d.e']);
      assert.deepEqual(ids(await list({ idContains: 'c' })), ['c', 'c#1', 'cc']);
      assert.deepEqual(ids(await list({ idContains: '#' })), ['c#1']);
      assert.deepEqual(ids(await list({ idContains: '(' })), []);
      assert.deepEqual(ids(await list({ idContains: 'c', afterId: 'c#1' })), ['cc']);
    });
  });

  describe('jobCounts', () => {
    it('counts by queue, type and state, in that order, with those due', async () => {
      await insertJobs(store(), [
        { id: 'a', dueAt: at(-1) },
        { id: 'b', dueAt: at(1) },
        { id: 'c', state: 'completed' },
        { id: 'd', kind: 'fail', state: 'failed' },
        { id: 'e', kind: 'fail', dueAt: at(0) },
        { id: 'f', queue: 'another', state: 'running' },
      ]);
      const row = (queue: string, type: string, state: string, count: number, due = 0) => ({
        queue,
        type,
        state,
        count,
        due,
      });
      const all = [
        row('another', 'test-noop', 'running', 1),
        row('q', 'test-fail', 'failed', 1),
        row('q', 'test-fail', 'pending', 1, 1),
        row('q', 'test-noop', 'completed', 1),
        row('q', 'test-noop', 'pending', 2, 1),
      ];
      assert.deepEqual(await store().jobCounts({ now: at(0) }), all);
      assert.deepEqual(await store().jobCounts({ queue: 'q', now: at(0) }), all.slice(1));
      assert.deepEqual(await store().jobCounts({ queue: 'none', now: at(0) }), []);
    });
  });

  describe('jobPage', () => {
    /** Two share a creation time; one has none (a hand-made document). */
    async function paged(): Promise<void> {
      const noCreated = jobDoc({ id: 'n' });
      (noCreated.timeInfo as { created: Date | null }).created = null;
      const specs: JobSpec[] = [
        { id: 'a', created: at(10) },
        { id: 'b', created: at(30), state: 'failed', kind: 'fail' },
        { id: 'c', created: at(20) },
        { id: 'd', created: at(20), queue: 'other' },
        { id: 'e', created: at(40), state: 'completed' },
        { id: 'f.g', created: at(5) },
      ];
      const big = { big: 'x'.repeat(100) };
      await store().jobInsert([noCreated, ...specs.map((s) => jobDoc({ ...s, payload: big }))]);
    }
    const page = (p: Partial<JobPageParams>) =>
      store().jobPage({ order: 'newest', limit: 100, ...p });

    /** Every row of a walk through pages of `limit`, each after the previous page's last row. */
    async function walk(p: Partial<JobPageParams>, limit: number): Promise<string[]> {
      const seen: string[] = [];
      let after: JobPageParams['after'];
      for (;;) {
        const rows: JobSummaryDocument[] = await page({ ...p, after, limit });
        seen.push(...ids(rows));
        if (rows.length < limit) return seen;
        const last = rows[rows.length - 1];
        after = { id: last._id, created: last.timeInfo.created ?? null };
      }
    }

    it('newest first by creation time, then ID descending; no creation time last', async () => {
      await paged();
      assert.deepEqual(ids(await page({})), ['e', 'b', 'd', 'c', 'a', 'f.g', 'n']);
    });

    it('pages newest first through the keyset: every row once, in order', async () => {
      await paged();
      const all = ['e', 'b', 'd', 'c', 'a', 'f.g', 'n'];
      for (const limit of [1, 2, 3])
        assert.deepEqual(await walk({}, limit), all, `pages of ${limit}`);
    });

    it('pages ascending by ID with order id', async () => {
      await paged();
      assert.deepEqual(ids(await page({ order: 'id' })), ['a', 'b', 'c', 'd', 'e', 'f.g', 'n']);
      assert.deepEqual(await walk({ order: 'id' }, 2), ['a', 'b', 'c', 'd', 'e', 'f.g', 'n']);
      const after = { id: 'c', created: at(1000) };
      assert.deepEqual(ids(await page({ order: 'id', after })), ['d', 'e', 'f.g', 'n']);
    });

    it('leaves the payload out', async () => {
      await paged();
      for (const row of await page({})) assert.equal('payload' in row, false, row._id);
    });

    it('filters by queue, type, states, idContains and creation time', async () => {
      await paged();
      assert.deepEqual(ids(await page({ queue: 'other' })), ['d']);
      assert.deepEqual(ids(await page({ type: 'test-fail' })), ['b']);
      assert.deepEqual(ids(await page({ states: ['completed', 'failed'] })), ['e', 'b']);
      assert.deepEqual(ids(await page({ idContains: '.' })), ['f.g']);
      assert.deepEqual(ids(await page({ createdAfter: at(20) })), ['e', 'b', 'd', 'c']);
      assert.deepEqual(ids(await page({ createdBefore: at(20) })), ['a', 'f.g']);
      assert.deepEqual(await walk({ queue: 'q', createdAfter: at(10) }, 2), ['e', 'b', 'c', 'a']);
    });

    it('pages a filtered selection in both orders: the filter holds on every page', async () => {
      await insertJobs(
        store(),
        ['x-3', 'y-1', 'x-1', 'ax-9', 'x-2'].map((id, i) => ({ id, created: at(i) })),
      );
      assert.deepEqual(await walk({ order: 'id', idContains: 'x-' }, 1), [
        'ax-9',
        'x-1',
        'x-2',
        'x-3',
      ]);
      assert.deepEqual(await walk({ idContains: 'x-' }, 1), ['x-2', 'ax-9', 'x-1', 'x-3']);
      assert.deepEqual(await walk({ states: ['pending'], type: 'test-noop' }, 2), [
        'x-2',
        'ax-9',
        'x-1',
        'y-1',
        'x-3',
      ]);
    });
  });

  describe('jobDelete', () => {
    it('deletes an attempt whose modCount and state still match', async () => {
      await insertJobs(store(), [{ id: 'a', state: 'failed' }]);
      assert.equal(await store().jobDelete({ id: 'a', modCount: 2, from: ['failed'] }), true);
      assert.equal(await store().jobGet('a'), null);
      assert.equal(await store().jobDelete({ id: 'a', modCount: 2, from: ['failed'] }), false);
    });

    it('keeps an attempt that changed (modCount or state) and says so', async () => {
      const [before] = await insertJobs(store(), [{ id: 'a', state: 'failed' }]);
      assert.equal(await store().jobDelete({ id: 'a', modCount: 1, from: ['failed'] }), false);
      assert.equal(await store().jobDelete({ id: 'a', modCount: 2, from: ['completed'] }), false);
      assert.equal(await store().jobDelete({ id: 'b', modCount: 0, from: ['pending'] }), false);
      assert.deepEqual(await store().jobGet('a'), before);
    });
  });

  describe('jobPrune', () => {
    async function prunable(): Promise<void> {
      await insertJobs(store(), [
        { id: 'old-done', state: 'completed', end: at(-10) },
        { id: 'old-failed', state: 'failed', end: at(-1) },
        // A retrying attempt's dueAt is HANDED_OVER_AT once its next attempt exists (the default).
        { id: 'old-retry-handed-over', state: 'retrying', end: at(-10) },
        { id: 'old-retry-in-handover', state: 'retrying', end: at(-10), dueAt: at(-10) },
        { id: 'ended-at-cutoff', state: 'completed', end: at(0) },
        { id: 'no-end', state: 'completed', end: null },
        { id: 'old-aborted', state: 'aborted', end: at(-10) },
        { id: 'elsewhere', state: 'completed', end: at(-10), queue: 'other' },
        { id: 'pending-with-end', end: at(-10) },
      ]);
    }
    const prune = (limit: number) =>
      store().jobPrune({
        queue: 'q',
        endedBefore: at(0),
        states: ['completed', 'failed', 'retrying'],
        limit,
      });

    it('deletes attempts of the queue in `states` that ended before the cutoff', async () => {
      await prunable();
      assert.equal(await prune(100), 3);
      const left = ids(await store().jobList({ limit: 100 }));
      assert.deepEqual(left, [
        'elsewhere',
        'ended-at-cutoff',
        'no-end',
        'old-aborted',
        'old-retry-in-handover',
        'pending-with-end',
      ]);
    });

    it('deletes at most `limit` per call', async () => {
      await prunable();
      assert.deepEqual([await prune(2), await prune(2), await prune(2)], [2, 1, 0]);
    });
  });

  describe('jobQueueNames', () => {
    it('names every queue holding an attempt, sorted, once each', async () => {
      assert.deepEqual(await store().jobQueueNames(), []);
      await insertJobs(store(), [
        { id: 'a', queue: 'zeta' },
        { id: 'b', queue: 'alpha' },
        { id: 'c', queue: 'zeta', state: 'completed' },
        { id: 'd', queue: 'Beta' },
      ]);
      assert.deepEqual(await store().jobQueueNames(), ['Beta', 'alpha', 'zeta']);
    });
  });

  describe('malformed documents in statistics, counts and queue names', () => {
    it('count in totals under an empty type or state; a queue that is no string has no name', async () => {
      const doc = jobDoc({ id: 'odd' }) as unknown as Record<string, unknown>;
      await target.rawPutJob({
        ...doc,
        _id: 'no-type-no-state',
        type: undefined,
        state: undefined,
      });
      await target.rawPutJob({ ...doc, _id: 'unknown-state', state: 'lost' });
      await target.rawPutJob({ ...doc, _id: 'queue-number', queue: 7 });
      await insertJobs(store(), [{ id: 'fine', dueAt: at(1) }]);
      const stats = await store().jobStats('q', at(0));
      assert.deepEqual(stats, { ...emptyQueueStats('q'), total: 3, pending: 1 });
      assert.deepEqual(await store().jobCounts({ queue: 'q', now: at(0) }), [
        { queue: 'q', type: '', state: '', count: 1, due: 0 },
        { queue: 'q', type: 'test-noop', state: 'lost', count: 1, due: 0 },
        { queue: 'q', type: 'test-noop', state: 'pending', count: 1, due: 0 },
      ]);
      assert.deepEqual(await store().jobQueueNames(), ['q']);
    });
  });

  describe('jobChangedSince', () => {
    async function changed(): Promise<void> {
      await insertJobs(store(), [
        { id: 'a', modTime: at(1) },
        { id: 'c', modTime: at(2) },
        { id: 'b', modTime: at(2) },
        { id: 'd', modTime: at(3), state: 'completed' },
        { id: 'e', modTime: at(2), queue: 'other' },
        { id: 'old', modTime: at(-5) },
      ]);
    }
    const since = (modTime: Date, id: string, limit = 100) =>
      store().jobChangedSince({ queue: 'q', after: { modTime, id }, limit });

    it('returns attempts after the keyset in (modTime, ID) order', async () => {
      await changed();
      assert.deepEqual(ids(await since(at(0), '')), ['a', 'b', 'c', 'd']);
      assert.deepEqual(ids(await since(at(2), 'b')), ['c', 'd']);
      assert.deepEqual(ids(await since(at(3), 'd')), []);
    });

    it('an empty ID takes every attempt changed at `modTime`', async () => {
      await changed();
      assert.deepEqual(ids(await since(at(2), '')), ['b', 'c', 'd']);
    });

    it('pages by its last row, without payloads', async () => {
      await changed();
      const seen: string[] = [];
      let after = { modTime: at(0), id: '' };
      for (;;) {
        const rows = await store().jobChangedSince({ queue: 'q', after, limit: 2 });
        for (const r of rows) assert.equal('payload' in r, false);
        seen.push(...ids(rows));
        if (rows.length < 2) break;
        const last = rows[rows.length - 1];
        after = { modTime: last.status.modTime, id: last._id };
      }
      assert.deepEqual(seen, ['a', 'b', 'c', 'd']);
    });

    it('sees a write: the attempt moves to the end of the order', async () => {
      await changed();
      await store().jobTransition({
        id: 'a',
        modCount: 0,
        from: ['pending'],
        update: { state: 'aborted' },
        now: at(5),
      });
      const rows = await since(at(2), 'c');
      assert.deepEqual(
        rows.map((r) => [r._id, r.state]),
        [
          ['d', 'completed'],
          ['a', 'aborted'],
        ],
      );
    });
  });

  describe('jobLatestStates', () => {
    it('gives the newest attempt of each job of the queue whose base ID has the prefix', async () => {
      await insertJobs(store(), [
        ...[0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((attempt) => ({
          id: 'run-1',
          attempt,
          state: 'retrying' as const,
        })),
        { id: 'run-1', attempt: 10, state: 'completed' },
        { id: 'run-2', state: 'blocked' },
        { id: 'walk-1' },
        { id: 'run-3', queue: 'other' },
      ]);
      const rows = await store().jobLatestStates({ queue: 'q', idPrefix: 'run-' });
      assert.deepEqual(
        rows.sort((a, b) => (a.baseJobId < b.baseJobId ? -1 : 1)),
        [
          { id: 'run-1#10', baseJobId: 'run-1', attempt: 10, state: 'completed' },
          { id: 'run-2', baseJobId: 'run-2', attempt: 0, state: 'blocked' },
        ],
      );
      assert.deepEqual(await store().jobLatestStates({ queue: 'q', idPrefix: 'r.n' }), []);
    });
  });
}
