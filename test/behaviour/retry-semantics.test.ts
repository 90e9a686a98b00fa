/**
 * Retries as Node users expect them, against both backends: any failure (a plain throw, an
 * `addError`) is retried while attempts remain; `NonRetryableError`, an error with
 * `retryable: false` and the job option `retryable: false` end at once; the backoff comes from
 * the job, its type, its queue or its group, in that order, and `retryAfterMs` wins over all;
 * a manual retry of a job out of attempts grants one more (never "attempt 5 of 3").
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import {
  Backoff,
  InvalidArgumentError,
  type JobDocument,
  type Queue,
  type QueueGroupOptions,
} from '../../lib';
import { Management } from '../../lib/ops/management';
import { memoryBackend, mongoBackend, eventually, type Backend } from '../support/backends';
import { AddErrorJob, FailJob } from '../support/jobs';
import { FailUntilJob, ThrottledJob } from '../support/retry-jobs';
import { FinalFailureJob, TypeBackoffJob } from '../support/semantics-jobs';

function retrySemantics(makeBackend: () => Backend): void {
  let backend: Backend;
  const group = (options: QueueGroupOptions = {}) => backend.groupWith(options);

  const doc = async (q: Queue, id: string): Promise<JobDocument> => {
    const d = await q.store.jobGet(id);
    assert.ok(d, `${id} exists`);
    return d;
  };
  const ids = async (q: Queue, id: string) => (await q.getAllAttempts(id)).map((a) => a.id);
  /** Delay between an attempt's end and its successor's due time. */
  const delayOf = async (q: Queue, oldId: string, nextId: string) =>
    (await doc(q, nextId)).dueAt.getTime() - ((await doc(q, oldId)).timeInfo.end?.getTime() ?? 0);
  const inserted = (q: Queue, id: string) =>
    eventually(`${id} inserted`, async () => !!(await q.store.jobGet(id)));

  before(() => {
    backend = makeBackend();
  });
  beforeEach(async () => backend.reset());
  after(async () => backend.close());

  describe('any failure retries', () => {
    it('retries a plain throw while attempts remain', async () => {
      const q = await group().get('plain');
      await q.put(FailUntilJob.create({ succeedOn: 2 }, { id: 'p' }));
      await q.start();
      assert.equal((await q.waitFor('p')).state, 'completed');
      assert.deepEqual(await ids(q, 'p'), ['p', 'p#1', 'p#2']);
      assert.deepEqual(
        (await q.getAllAttempts('p')).map((a) => a.state),
        ['retrying', 'retrying', 'completed'],
      );
    });

    it('retries an addError like a throw, up to maxAttempts; the last error is the real one', async () => {
      const q = await group().get('added');
      await q.put(AddErrorJob.create({}, { id: 'a', maxAttempts: 2 }));
      await q.start();
      const last = await q.waitFor('a');
      assert.equal(last.state, 'failed');
      assert.deepEqual(await ids(q, 'a'), ['a', 'a#1']);
      assert.equal(last.retryInfo.currentAttempt + 1, last.retryInfo.maxAttempts);
      assert.deepEqual(
        last.status.errors.map((e) => e.message),
        ['recorded, not thrown', 'job a#1: no retry left (2 attempts allowed)'],
      );
    });

    for (const how of ['class', 'property'] as const) {
      it(`ends at once an error that forbids retries (${how === 'class' ? 'NonRetryableError' : 'retryable: false'})`, async () => {
        const q = await group().get(`final-${how}`);
        await q.put(FinalFailureJob.create({ how }, { id: 'f', maxAttempts: 5 }));
        await q.start();
        const last = await q.waitFor('f');
        assert.equal(last.state, 'failed');
        assert.deepEqual(await ids(q, 'f'), ['f']);
        assert.equal(last.status.errors.length, 1);
        assert.equal(last.status.errors[0].retryable, false);
        if (how === 'class') assert.equal(last.status.errors[0].code, 'DROVER_NON_RETRYABLE');
      });
    }

    it('ends at once any failure of a job with retryable: false', async () => {
      const q = await group().get('not-retryable');
      await q.put(FailJob.create({}, { id: 'n', retryable: false, maxAttempts: 5 }));
      await q.start();
      assert.equal((await q.waitFor('n')).state, 'failed');
      assert.deepEqual(await ids(q, 'n'), ['n']);
    });
  });

  describe('backoff layers', () => {
    it("takes the job's, else its type's, else its queue's, else its group's", async () => {
      const g = group({ retry: { retryBackoff: Backoff.fixed(1_000) } });
      const plain = await g.get('layers-group');
      const queued = await g.get('layers-queue', { retryBackoff: Backoff.fixed(3_000) });
      await plain.putMany([
        FailUntilJob.create({ succeedOn: 1 }, { id: 'group' }),
        TypeBackoffJob.create({}, { id: 'type', maxAttempts: 2 }),
        TypeBackoffJob.create({}, { id: 'job', maxAttempts: 2, backoff: Backoff.fixed(11_000) }),
        FailUntilJob.create({ succeedOn: 1 }, { id: 'ms', backoff: 13_000 }),
        FailUntilJob.create(
          { succeedOn: 1 },
          {
            id: 'spec',
            backoff: { kind: 'exponential', baseMs: 17_000, maxMs: 17_000, jitter: false },
          },
        ),
      ]);
      await queued.putMany([
        FailUntilJob.create({ succeedOn: 1 }, { id: 'queue' }),
        TypeBackoffJob.create({}, { id: 'type-over-queue', maxAttempts: 2 }),
      ]);
      await Promise.all([plain.start(), queued.start()]);
      const expected: [Queue, string, number][] = [
        [plain, 'group', 1_000],
        [plain, 'type', 7_000],
        [plain, 'job', 11_000],
        [plain, 'ms', 13_000],
        [plain, 'spec', 17_000],
        [queued, 'queue', 3_000],
        [queued, 'type-over-queue', 7_000],
      ];
      for (const [q, id, ms] of expected) {
        await inserted(q, `${id}#1`);
        assert.equal(await delayOf(q, id, `${id}#1`), ms, id);
      }
      // The job's own backoff is stored with it, so every attempt (in any process) keeps it.
      assert.deepEqual((await doc(plain, 'job#1')).retryInfo.backoff, {
        kind: 'fixed',
        delayMs: 11_000,
      });
    });

    it("lets a throttling error's retryAfterMs win over the job's own backoff", async () => {
      const q = await group().get('throttle-wins');
      await q.put(
        ThrottledJob.create({ retryAfterMs: 5_000 }, { id: 't', backoff: Backoff.fixed(60_000) }),
      );
      await q.start();
      await inserted(q, 't#1');
      assert.equal(await delayOf(q, 't', 't#1'), 5_000);
    });

    it('refuses a custom function as a job backoff (it could not be stored)', () => {
      assert.throws(
        () => FailJob.create({}, { backoff: Backoff.custom((n) => n * 1000) }),
        InvalidArgumentError,
      );
      assert.throws(
        () => FailJob.create({}, { backoff: { kind: 'fixed', delayMs: -1 } }),
        InvalidArgumentError,
      );
    });
  });

  describe('manual retries', () => {
    it('grant one more attempt to a job that used them all: never "attempt 4 of 3"', async () => {
      const g = group();
      const q = await g.get('manual');
      const m = new Management(g);
      await q.put(FailJob.create({ message: 'still broken' }, { id: 'm', maxAttempts: 3 }));
      await q.start();
      assert.equal((await q.waitFor('m')).state, 'failed');
      assert.deepEqual(await ids(q, 'm'), ['m', 'm#1', 'm#2']);
      const res = await m.retry('m');
      assert.equal(res.outcome, 'done');
      await eventually('manual attempt failed', async () => {
        const d = await q.store.jobGet('m#3');
        return d?.state === 'failed';
      });
      const attempts = await q.getAllAttempts('m');
      assert.deepEqual(
        attempts.map((a) => [a.retryInfo.currentAttempt + 1, a.retryInfo.maxAttempts]),
        [
          [1, 3],
          [2, 3],
          [3, 3],
          [4, 4],
        ],
      );
      // Out of attempts again: no fifth one follows by itself.
      assert.deepEqual(await ids(q, 'm'), ['m', 'm#1', 'm#2', 'm#3']);
      const detail = await m.job('m');
      assert.equal(detail?.latest.retryInfo.maxAttempts, 4);
    });
  });
}

describe('retry semantics: in-memory', () => retrySemantics(memoryBackend));
describe('retry semantics: MongoDB', () => retrySemantics(mongoBackend));
