/**
 * JobStore conformance, the fleet's part (lib/store/job-store.ts): the process probe
 * (`jobProbe`), suspects in the claim, heartbeats that never move a lock back, lists over many
 * queues, and the store's clock.
 */
import assert from 'node:assert/strict';
import type { JobDocument } from '../../../lib';
import type { JobClaimParams, JobStore } from '../../../lib/store/job-store';
import type { JobProbeParams } from '../../../lib/store/job-probe';
import { at, insertJobs, malformedJobs } from '../../support/store-factory';
import type { StoreTarget } from './target';

const ids = (docs: { _id: string }[]): string[] => docs.map((d) => d._id).sort();

export function jobStoreFleet(target: StoreTarget): void {
  const store = (): JobStore => target.stores().jobs;
  const claim = (over: Partial<JobClaimParams> = {}): Promise<JobDocument[]> =>
    store().jobClaim({
      queue: 'q',
      owner: 'w1',
      now: at(0),
      lockTimeoutMs: 30_000,
      limit: 10,
      ...over,
    });
  const probe = async (over: Partial<JobProbeParams> = {}) => {
    const res = await store().jobProbe({
      dueIn: [],
      staleIn: [],
      now: at(0),
      limit: 512,
      ...over,
    });
    return {
      due: [...res.due].sort(),
      suspects: [...res.suspects].sort(),
      stale: [...res.stale].sort(),
      malformed: [...res.malformed].sort(),
    };
  };

  describe('jobProbe', () => {
    it('names the queues of `dueIn` with due pending attempts, suspects apart', async () => {
      await insertJobs(store(), [
        { id: 'a1', queue: 'a', dueAt: at(-1) },
        { id: 'b1', queue: 'b', dueAt: at(1_000) },
        { id: 'c1', queue: 'c', dueAt: at(-1), lockLosses: 1 },
        { id: 'd1', queue: 'd', dueAt: at(-1), state: 'blocked' },
        { id: 'e1', queue: 'e', dueAt: at(-1) },
      ]);
      assert.deepEqual(await probe({ dueIn: ['a', 'b', 'c', 'd'] }), {
        due: ['a'],
        suspects: ['c'],
        stale: [],
        malformed: [],
      });
      // Judged by the `now` given.
      assert.deepEqual((await probe({ dueIn: ['a', 'b'], now: at(1_000) })).due, ['a', 'b']);
    });

    it('names the queues of `staleIn` with expired locks and undated pending documents', async () => {
      await insertJobs(store(), [
        { id: 'a1', queue: 'a', state: 'running', owner: 'w9', lockExpiresAt: at(-1) },
        { id: 'b1', queue: 'b', state: 'running', owner: 'w9', lockExpiresAt: at(1) },
        { id: 'c1', queue: 'c', dueAt: at(-1) },
        { id: 'x1', queue: 'x', state: 'running', owner: 'w9', lockExpiresAt: at(-1) },
      ]);
      const [undated] = malformedJobs('c').filter((d) => d._id === 'c-dueat-string');
      await target.rawPutJob(undated);
      await target.rawPutJob({ ...undated, _id: 'c-dueat-missing', dueAt: undefined });
      assert.deepEqual(await probe({ staleIn: ['a', 'b', 'c'] }), {
        due: [],
        suspects: [],
        stale: ['a'],
        malformed: ['c'],
      });
      // Due work is asked for `dueIn` only.
      assert.deepEqual((await probe({ staleIn: ['a', 'b', 'c'], dueIn: ['c'] })).due, ['c']);
    });

    it('finds nothing where nothing is due, stale or undated', async () => {
      await insertJobs(store(), [
        { id: 'a1', queue: 'a', dueAt: at(5_000) },
        { id: 'a2', queue: 'a', state: 'completed' },
      ]);
      assert.deepEqual(await probe({ dueIn: ['a', 'b'], staleIn: ['a', 'b'] }), {
        due: [],
        suspects: [],
        stale: [],
        malformed: [],
      });
      assert.deepEqual(await probe(), { due: [], suspects: [], stale: [], malformed: [] });
    });
  });

  describe('jobClaim: suspects', () => {
    beforeEach(async () => {
      await insertJobs(store(), [
        { id: 'innocent', dueAt: at(-2) },
        { id: 'suspect', dueAt: at(-3), lockLosses: 2 },
        { id: 'other', dueAt: at(-1) },
      ]);
    });

    it("'skip' claims no attempt whose lock was lost before", async () => {
      assert.deepEqual(ids(await claim({ suspects: 'skip' })), ['innocent', 'other']);
    });

    it("'only' claims only those", async () => {
      assert.deepEqual(ids(await claim({ suspects: 'only' })), ['suspect']);
    });

    it('omitted, claims both in claim order', async () => {
      const docs = await claim({ limit: 2 });
      assert.deepEqual(
        docs.map((d) => d._id),
        ['suspect', 'innocent'],
      );
    });
  });

  describe('jobHeartbeat: out of order', () => {
    it('never moves a lock back: of two heartbeats, the later expiry wins', async () => {
      await insertJobs(store(), [
        { id: 'a', state: 'running', owner: 'w1', modCount: 1, lockExpiresAt: at(1_000) },
      ]);
      const beat = (lockExpiresAt: Date) =>
        store().jobHeartbeat({
          owner: 'w1',
          jobs: [{ id: 'a', owner: 'w1', modCount: 1 }],
          lockExpiresAt,
        });
      assert.deepEqual(await beat(at(3_000)), { lost: [], abortRequested: [] });
      assert.deepEqual(await beat(at(2_000)), { lost: [], abortRequested: [] });
      assert.deepEqual((await store().jobGet('a'))?.status.lockExpiresAt, at(3_000));
    });
  });

  describe('jobList over many queues', () => {
    it('lists the attempts of the queues named, due before a time', async () => {
      await insertJobs(store(), [
        { id: 'a1', queue: 'a', state: 'retrying', dueAt: at(-1) },
        { id: 'b1', queue: 'b', state: 'retrying', dueAt: at(-1) },
        { id: 'b2', queue: 'b', state: 'retrying', dueAt: at(1_000) },
        { id: 'c1', queue: 'c', state: 'retrying', dueAt: at(-1) },
      ]);
      const docs = await store().jobList({
        queues: ['a', 'b'],
        states: ['retrying'],
        dueBefore: at(0),
        limit: 10,
      });
      assert.deepEqual(ids(docs), ['a1', 'b1']);
    });
  });

  describe('clock', () => {
    it('reads a time close to this process and is ready', async () => {
      await store().clock.ready();
      const drift = Math.abs(store().clock.now().getTime() - Date.now());
      // The harness's server runs on this machine: its clock and ours are one.
      assert.ok(drift < 1_000, `the store's clock is ${drift} ms off this process's`);
    });
  });
}
