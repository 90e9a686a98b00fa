/**
 * MongoJobStore.jobClaim, batched path (limit >= 3), when another claim under the same owner and
 * the same `now` lands between its read and its updateMany (a started pool and `Queue.next()` of
 * the same queue share one owner; an injected clock, or one millisecond, gives the same `now`).
 * The contended path reads back "won" documents by owner + `timeInfo.start`, which the other
 * claim's document matches too, so one attempt would be handed to two runs. MongoDB only: the
 * memory store claims in one synchronous step. The interleaving is driven by running the second
 * claim just before the first one's updateMany reaches the (real) server.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import type { Collection } from 'mongodb';
import { MongoJobStore } from '../../lib/store/mongo/job-store';
import type { JobDocument } from '../../lib';
import { mongoBackend, type Backend } from '../support/backends';
import { makeDoc } from '../support/management-factory';

type UpdateMany = Collection<JobDocument>['updateMany'];

describe('review: batched claim under one owner (mongodb)', () => {
  let backend: Backend;
  let store: MongoJobStore;

  before(() => {
    backend = mongoBackend();
  });
  beforeEach(async () => {
    await backend.reset();
    store = backend.store() as MongoJobStore;
  });
  after(async () => backend.close());

  /** Runs `before` once, just before the next updateMany of the jobs collection is sent. */
  function beforeNextUpdateMany(before: () => Promise<unknown>): void {
    const jobs = store.jobs;
    const original: UpdateMany = jobs.updateMany.bind(jobs);
    const patched = async (...args: Parameters<UpdateMany>) => {
      delete (jobs as Partial<Record<'updateMany', unknown>>).updateMany;
      await before();
      return original(...args);
    };
    Object.defineProperty(jobs, 'updateMany', { value: patched, configurable: true });
  }

  it('never returns one attempt to two claims', async () => {
    const created = new Date(Date.now() - 60_000);
    await store.jobInsert(
      ['c-1', 'c-2', 'c-3'].map((id) => makeDoc({ id, queue: 'cb', created, dueAt: created })),
    );
    const params = { queue: 'cb', owner: 'pool-and-next', now: new Date(), lockTimeoutMs: 60_000 };
    let single: JobDocument[] = [];
    beforeNextUpdateMany(async () => {
      // Queue.next() of the same queue: a one-job claim (findOneAndUpdate), same owner and now.
      single = await store.jobClaim({ ...params, limit: 1 });
    });
    const batch = await store.jobClaim({ ...params, limit: 3 });

    assert.deepEqual(
      single.map((d) => d._id),
      ['c-1'],
    );
    const both = batch.map((d) => d._id).filter((id) => single.some((d) => d._id === id));
    assert.deepEqual(both, [], `claimed by both calls, so run twice: ${both.join(', ')}`);
    assert.deepEqual(
      batch.map((d) => d._id),
      ['c-2', 'c-3'],
    );
  });
});
