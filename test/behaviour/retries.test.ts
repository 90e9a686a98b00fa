/**
 * Retries against both stores: attempts as history, the handler's bounds and backoff, the
 * hand-over steps of a server without transactions with a crash between them finished by the
 * monitor (the atomic hand-over is in the store conformance suite), and the manual operations
 * `retryNow` and `completeRetryingAndPut`.
 */
import assert from 'node:assert/strict';
import {
  Backoff,
  JobNotFoundError,
  JobStateError,
  LockLostError,
  NonRetryableError,
  QueueGroup,
  type JobDocument,
  type Queue,
  type QueueOptions,
  type RetryHandlerOptions,
} from '../../lib';
import { HANDED_OVER_AT } from '../../lib/types';
import { RETRY_UNLIMITED } from '../../lib/retry/retry-handler';
import {
  eventually,
  FAST,
  FAST_RETRY_BACKOFF_MS,
  memoryBackend,
  mongoBackend,
  testLogger,
  type Backend,
} from '../support/backends';
import { StoreError } from '../../lib/errors';
import type { Stores } from '../../lib/store/store-set';
import { FlakyJob, SleepJob } from '../support/jobs';
import { AlwaysRetryJob, FailUntilJob, ThrottledJob } from '../support/retry-jobs';

function retriesBehaviour(makeBackend: () => Backend): void {
  let backend: Backend;

  /** A group (as if another process when called twice) with retry options. */
  function group(retry?: RetryHandlerOptions, defaults: QueueOptions = {}): QueueGroup {
    return backend.groupWith({ defaults, retry });
  }

  /** The attempt with exactly this ID (`getDocument` of a job ID gives its newest attempt). */
  const doc = async (q: Queue, id: string): Promise<JobDocument> => {
    const d = await q.store.jobGet(id);
    assert.ok(d, `${id} exists`);
    return d;
  };
  const attemptIds = async (q: Queue, id: string) => (await q.getAllAttempts(id)).map((a) => a.id);
  /** Delay between an attempt's end and its successor's due time. */
  const delayOf = async (q: Queue, oldId: string, nextId: string) =>
    (await doc(q, nextId)).dueAt.getTime() - ((await doc(q, oldId)).timeInfo.end?.getTime() ?? 0);

  /**
   * Step 1 of a hand-over and nothing else, as a crash right after it leaves things: the claimed
   * attempt's guarded write sets `retrying` and names its successor; nothing is inserted.
   */
  async function stepOneOnly(q: Queue, id: string, dueAt?: Date): Promise<void> {
    const job = await q.next();
    assert.equal(job?.id, id);
    job.addRetryableError(new Error('crashed after step 1'));
    const now = new Date();
    const written = await q.store.jobWrite({
      token: { id, owner: job.status.owner, modCount: job.status.modCount },
      update: {
        state: 'retrying',
        needsRetry: true,
        nextAttemptId: `${id}#1`,
        errors: job.status.errors,
        errCount: job.status.errCount,
        end: now,
        inProgress: false,
        ...(dueAt ? { dueAt } : {}),
      },
      now,
    });
    assert.notEqual(written, null);
  }

  before(() => {
    backend = makeBackend();
  });
  beforeEach(async () => backend.reset());
  after(async () => backend.close());

  describe('attempts', () => {
    it('keeps every attempt as history, linked by nextAttemptId', async () => {
      const q = await group().get('history');
      await q.put(FlakyJob.create({ succeedOn: 3 }, { id: 'h' }));
      await q.start();
      assert.equal((await q.waitFor('h')).state, 'completed');
      const all = await q.getAllAttempts('h');
      assert.deepEqual(
        all.map((a) => a.id),
        ['h', 'h#1', 'h#2', 'h#3'],
      );
      const docs = await Promise.all(all.map((a) => doc(q, a.id)));
      assert.deepEqual(
        docs.map((d) => d.state),
        ['retrying', 'retrying', 'retrying', 'completed'],
      );
      assert.deepEqual(
        docs.map((d) => d.nextAttemptId),
        ['h#1', 'h#2', 'h#3', undefined],
      );
      // Step 3 confirms every hand-over, so the monitor has nothing to look at.
      await eventually('hand-overs confirmed', async () => {
        const old = await Promise.all(['h', 'h#1', 'h#2'].map((id) => doc(q, id)));
        return old.every((d) => d.dueAt.getTime() === HANDED_OVER_AT.getTime());
      });
      assert.ok(all.every((a) => a.retryInfo.baseJobId === 'h'));
      assert.equal((await q.getAttempt('h', 2))?.status.errors[0].message, 'attempt 2 failed');
      assert.equal((await q.get('h'))?.id, 'h#3');
    });

    it('ends failed after maxAttempts with every error kept', async () => {
      const q = await group().get('bounded');
      await q.put(AlwaysRetryJob.create({}, { id: 'b', maxAttempts: 3 }));
      await q.start();
      assert.equal((await q.waitFor('b')).state, 'failed');
      const all = await q.getAllAttempts('b');
      assert.deepEqual(
        all.map((a) => a.id),
        ['b', 'b#1', 'b#2'],
      );
      assert.deepEqual(
        all.map((a) => a.status.errors.map((e) => e.code)),
        [
          ['DROVER_RETRYABLE'],
          ['DROVER_RETRYABLE'],
          ['DROVER_RETRYABLE', 'DROVER_RETRIES_EXHAUSTED'],
        ],
      );
      assert.deepEqual(
        all.map((a) => a.status.errors[0].message),
        ['attempt 0 failed', 'attempt 1 failed', 'attempt 2 failed'],
      );
      assert.ok((await doc(q, 'b#2')).retryInfo.end, 'retry end recorded');
    });

    it('caps maxAttempts with the handler maxRetryAttempts', async () => {
      const q = await group({ maxRetryAttempts: 2 }).get('capped');
      await q.put(AlwaysRetryJob.create({}, { id: 'c', maxAttempts: 10 }));
      await q.start();
      assert.equal((await q.waitFor('c')).state, 'failed');
      assert.deepEqual(await attemptIds(q, 'c'), ['c', 'c#1']);
    });

    it('makes no new attempt past maxRetryTime', async () => {
      const q = await group({ maxRetryTimeMs: 100 }).get('timed');
      await q.put(AlwaysRetryJob.create({ sleepMs: 250 }, { id: 't' }));
      await q.start();
      const last = await q.waitFor('t');
      assert.equal(last.state, 'failed');
      assert.deepEqual(await attemptIds(q, 't'), ['t']);
      assert.equal(last.status.errors[1].code, 'DROVER_RETRIES_EXHAUSTED');
      assert.match(last.status.errors[1].message, /retry time of 100 ms/);

      const unlimited = await group({ maxRetryTimeMs: RETRY_UNLIMITED }).get('untimed');
      await unlimited.put(AlwaysRetryJob.create({ sleepMs: 250 }, { id: 'u', maxAttempts: 2 }));
      await unlimited.start();
      await unlimited.waitFor('u');
      assert.deepEqual(await attemptIds(unlimited, 'u'), ['u', 'u#1']);
    });

    it('fails at once a retryable error of a job that is not retryable', async () => {
      const q = await group().get('noretry');
      await q.put(FlakyJob.create({ succeedOn: 1 }, { id: 'n', retryable: false }));
      await q.start();
      const last = await q.waitFor('n');
      assert.equal(last.state, 'failed');
      assert.equal(last.status.errors.length, 1);
      assert.deepEqual(await attemptIds(q, 'n'), ['n']);
    });
  });

  describe('backoff', () => {
    it('delays each attempt by the policy', async () => {
      const q = await group({ retryBackoff: Backoff.custom((n) => n * 10_000) }).get('custom');
      await q.put(FlakyJob.create({ succeedOn: 2 }, { id: 'd' }));
      await q.start();
      await eventually('attempt 1 inserted', async () => !!(await q.getDocument('d#1')));
      assert.equal(await delayOf(q, 'd', 'd#1'), 10_000);
      assert.equal(await q.retryNow('d'), 'd#1');
      await eventually('attempt 2 inserted', async () => !!(await q.getDocument('d#2')));
      assert.equal(await delayOf(q, 'd#1', 'd#2'), 20_000);
    });

    it('takes milliseconds as a fixed delay', async () => {
      const q = await group({ retryBackoff: 5_000 }).get('fixed');
      await q.put(FlakyJob.create({ succeedOn: 1 }, { id: 'f' }));
      await q.start();
      await eventually('attempt 1 inserted', async () => !!(await q.getDocument('f#1')));
      assert.equal(await delayOf(q, 'f', 'f#1'), 5_000);
      const next = await doc(q, 'f#1');
      assert.equal(next.state, 'pending');
      assert.deepEqual(next.timeInfo.waitUntil, next.dueAt);
    });

    it("lets a throttling error's retryAfterMs win over the policy", async () => {
      const g = group({ retryBackoff: Backoff.fixed(1_000) });
      const q = await g.get('throttled');
      await q.put(ThrottledJob.create({ retryAfterMs: 7_000 }, { id: 'a' }));
      await q.put(FlakyJob.create({ succeedOn: 1, retryAfterMs: 3_000 }, { id: 'e' }));
      await q.start();
      await eventually('both retried', async () => {
        return !!(await q.getDocument('a#1')) && !!(await q.getDocument('e#1'));
      });
      assert.equal(await delayOf(q, 'a', 'a#1'), 7_000);
      assert.equal(await delayOf(q, 'e', 'e#1'), 3_000);
      assert.equal((await doc(q, 'a')).status.errors[0].message, '429 too many requests');
    });
  });

  describe('hand-over in steps (a server without transactions)', () => {
    /**
     * The current stores as a server without transactions has them: the job store declines the
     * one-step hand-over, so retries take the steps; `failNextInsert` makes the insert of the
     * next attempt fail once (a crash or a lost connection after step 1).
     */
    function stepwise(): { stores: Stores; failNextInsert(): void } {
      const stores = backend.stores();
      let failInsert = false;
      const jobs = new Proxy(stores.jobs, {
        get(target, prop, receiver) {
          if (prop === 'jobHandOver') return async () => ({ atomic: false });
          if (prop === 'jobInsert' && failInsert) {
            return async (docs: JobDocument[]) => {
              if (!docs.some((d) => d._id.includes('#'))) return target.jobInsert(docs);
              failInsert = false;
              throw new StoreError('injected: the insert of the next attempt failed');
            };
          }
          const value: unknown = Reflect.get(target, prop, receiver);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
      return { stores: { ...stores, jobs }, failNextInsert: () => (failInsert = true) };
    }

    function stepwiseGroup(stores: Stores): QueueGroup {
      const g = new QueueGroup(stores, {
        logger: testLogger,
        defaults: FAST,
        retry: { retryBackoff: FAST_RETRY_BACKOFF_MS },
      });
      opened.push(g);
      return g;
    }
    const opened: QueueGroup[] = [];
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((g) => g.close({ drainTimeoutMs: 500 })));
    });

    it('retries through the steps, each hand-over confirmed', async () => {
      const q = await stepwiseGroup(stepwise().stores).get('steps');
      await q.put(FlakyJob.create({ succeedOn: 2 }, { id: 's' }));
      await q.start();
      assert.equal((await q.waitFor('s')).state, 'completed');
      assert.deepEqual(await attemptIds(q, 's'), ['s', 's#1', 's#2']);
      for (const id of ['s', 's#1']) {
        const old = await doc(q, id);
        assert.equal(old.state, 'retrying');
        assert.deepEqual(old.dueAt, HANDED_OVER_AT);
      }
    });

    it('leaves step 1 alone when the insert fails, and the monitor finishes it', async () => {
      const { stores, failNextInsert } = stepwise();
      const g = stepwiseGroup(stores);
      const q = await g.get('steps-cut');
      const errors: string[] = [];
      q.on('error', (err) => errors.push(err.message));
      failNextInsert();
      await q.put(FlakyJob.create({ succeedOn: 1 }, { id: 'c' }));
      await q.start();
      await eventually('the old attempt is retrying', async () => {
        return (await doc(q, 'c')).state === 'retrying';
      });
      assert.ok(
        errors.some((m) => m.includes('injected')),
        errors.join('; '),
      );
      // The monitor of the queue's maintenance finishes it; a pass run here may find it done.
      await g.retry.monitor.runOnce('steps-cut');
      assert.equal((await q.waitFor('c')).state, 'completed');
      assert.deepEqual(await attemptIds(q, 'c'), ['c', 'c#1']);
      assert.deepEqual((await doc(q, 'c')).dueAt, HANDED_OVER_AT);
    });
  });

  describe('crash between the steps', () => {
    it('the monitor inserts the missing attempt exactly once, two monitors racing', async () => {
      const g1 = group();
      const g2 = group();
      const q = await g1.get('crash');
      const ids = Array.from({ length: 20 }, (_, i) => `c${i}`);
      for (const id of ids) {
        await q.put(FlakyJob.create({ succeedOn: 1 }, { id }));
        await stepOneOnly(q, id);
      }
      assert.deepEqual(await attemptIds(q, 'c0'), ['c0'], 'step 2 not done yet');

      const [a, b] = await Promise.all([
        g1.retry.monitor.runOnce('crash'),
        g2.retry.monitor.runOnce('crash'),
      ]);
      assert.equal(a + b, ids.length, 'one insert per half-done retry');
      for (const id of ids) {
        assert.deepEqual(await attemptIds(q, id), [id, `${id}#1`]);
        const next = await doc(q, `${id}#1`);
        assert.equal(next.state, 'pending');
        assert.equal(next.retryInfo.currentAttempt, 1);
        assert.equal(next.retryInfo.baseJobId, id);
        assert.deepEqual(next.payload, (await doc(q, id)).payload);
        assert.deepEqual((await doc(q, id)).dueAt, HANDED_OVER_AT);
      }
      assert.equal(await g2.retry.monitor.runOnce('crash'), 0, 'nothing left to repair');

      await q.start();
      for (const id of ids) assert.equal((await q.waitFor(id)).state, 'completed');
      assert.deepEqual(await attemptIds(q, 'c7'), ['c7', 'c7#1']);
    });

    it('running queues of two groups finish it on their maintenance timers', async () => {
      const q1 = await group().get('timers');
      await q1.put(FlakyJob.create({ succeedOn: 1 }, { id: 'm' }));
      await stepOneOnly(q1, 'm');
      const q2 = await group().get('timers');
      await Promise.all([q1.start(), q2.start()]);
      assert.equal((await q1.waitFor('m')).state, 'completed');
      assert.deepEqual(await attemptIds(q1, 'm'), ['m', 'm#1']);
    });

    it('waits until the recorded due time of the next attempt', async () => {
      const g = group();
      const q = await g.get('later');
      await q.put(FlakyJob.create({ succeedOn: 1 }, { id: 'l' }));
      const dueAt = new Date(Date.now() + 60_000);
      await stepOneOnly(q, 'l', dueAt);
      assert.equal(await g.retry.monitor.runOnce('later', new Date()), 0);
      assert.equal(await g.retry.monitor.runOnce('later', new Date(dueAt.getTime() + 1)), 1);
      assert.deepEqual((await doc(q, 'l#1')).dueAt, dueAt);
    });

    it('repairs at most maxCapacity per pass', async () => {
      const g = group({ maxCapacity: 5, numWorkers: 3 });
      const q = await g.get('capacity');
      for (let i = 0; i < 12; i++) {
        await q.put(FlakyJob.create({ succeedOn: 1 }, { id: `k${i}` }));
        await stepOneOnly(q, `k${i}`);
      }
      const passes = [];
      for (let i = 0; i < 4; i++) passes.push(await g.retry.monitor.runOnce('capacity'));
      assert.deepEqual(passes, [5, 5, 2, 0]);
    });
  });

  describe('retryNow', () => {
    it('gives a failed job a new attempt now and keeps its history', async () => {
      const q = await group().get('manual');
      // One attempt allowed: a plain throw fails it for good, then a manual retry runs it again.
      await q.put(FailUntilJob.create({ succeedOn: 1 }, { id: 'r', maxAttempts: 1 }));
      await q.start();
      assert.equal((await q.waitFor('r')).state, 'failed');
      assert.equal(await q.retryNow('r'), 'r#1');
      assert.equal((await q.waitFor('r')).state, 'completed');
      const [first, second] = await q.getAllAttempts('r');
      assert.equal(first.status.errors[0].message, 'attempt 0 failed');
      assert.equal((await doc(q, 'r')).nextAttemptId, 'r#1');
      assert.equal(second.id, 'r#1');
      assert.equal(second.status.errors.length, 0);
      // The manual retry granted one more attempt: attempt 2 of 2, never "2 of 1".
      assert.equal(second.retryInfo.currentAttempt + 1, 2);
      assert.equal(second.retryInfo.maxAttempts, 2);
    });

    it('is idempotent under concurrent calls from two groups', async () => {
      const q1 = await group().get('race');
      const q2 = await group().get('race');
      await q1.put(FailUntilJob.create({ succeedOn: 1 }, { id: 'x' }));
      const job = await q1.next();
      assert.ok(job);
      job.addError(new NonRetryableError('failed by hand'));
      await q1.complete(job);
      assert.equal((await doc(q1, 'x')).state, 'failed');
      const before = Date.now();
      const got = await Promise.all(
        Array.from({ length: 10 }, (_, i) => (i % 2 ? q1 : q2).retryNow('x')),
      );
      assert.deepEqual(new Set(got), new Set(['x#1']));
      assert.deepEqual(await attemptIds(q1, 'x'), ['x', 'x#1']);
      const next = await doc(q1, 'x#1');
      assert.equal(next.state, 'pending');
      assert.ok(next.dueAt.getTime() <= Date.now() && next.dueAt.getTime() >= before - 1000);
    });

    it('makes a pending attempt waiting on its backoff due now', async () => {
      const q = await group({ retryBackoff: 60_000 }).get('backoff');
      await q.put(FlakyJob.create({ succeedOn: 1 }, { id: 'p' }));
      await q.start();
      await eventually('attempt 1 inserted', async () => !!(await q.getDocument('p#1')));
      assert.ok((await doc(q, 'p#1')).dueAt.getTime() > Date.now() + 30_000);
      assert.equal(await q.retryNow('p'), 'p#1');
      assert.equal((await q.waitFor('p')).state, 'completed');
      assert.deepEqual(await attemptIds(q, 'p'), ['p', 'p#1']);
    });

    it('gives an aborted job a new attempt; refuses running, completed and unknown jobs', async () => {
      const q = await group().get('states');
      await q.put(SleepJob.create({ ms: 30_000 }, { id: 's' }));
      await q.put(FlakyJob.create({ succeedOn: 0 }, { id: 'ok' }));
      await q.start();
      await eventually('s running', async () => (await q.getDocument('s'))?.state === 'running');
      await assert.rejects(
        q.retryNow('s'),
        (e) => e instanceof JobStateError && e.state === 'running',
      );
      assert.equal((await q.waitFor('ok')).state, 'completed');
      await assert.rejects(q.retryNow('ok'), JobStateError);
      await assert.rejects(q.retryNow('nope'), JobNotFoundError);
      await q.abort('s');
      assert.equal((await q.waitFor('s')).state, 'aborted');
      assert.equal(await q.retryNow('s'), 's#1');
      await eventually('s#1 running', async () => (await q.getDocument('s'))?.state === 'running');
      await q.abort('s');
    });
  });

  describe('completeRetryingAndPut', () => {
    it('closes the old attempt and puts the next one, handed over', async () => {
      const q = await group().get('explicit');
      await q.put(FlakyJob.create({ succeedOn: 5 }, { id: 'o' }));
      const old = await q.next();
      assert.ok(old);
      old.addRetryableError(new Error('try again'));
      assert.equal(await q.completeRetryingAndPut(old), 'o#1');
      const closed = await doc(q, 'o');
      assert.equal(closed.state, 'retrying');
      assert.equal(closed.nextAttemptId, 'o#1');
      assert.equal(closed.status.errors[0].message, 'try again');
      assert.deepEqual(closed.dueAt, HANDED_OVER_AT);
      assert.equal((await doc(q, 'o#1')).state, 'pending');

      const claimed = await q.next();
      assert.equal(claimed?.id, 'o#1');
      const replacement = FlakyJob.create({ succeedOn: 7 });
      assert.equal(await q.completeRetryingAndPut(claimed, replacement), 'o#2');
      const put = await q.get<FlakyJob>('o');
      assert.equal(put?.id, 'o#2');
      assert.equal(put.succeedOn, 7);
      assert.equal(put.retryInfo.currentAttempt, 2);

      const stale = await q.next();
      assert.ok(stale);
      stale.status.modCount -= 1;
      await assert.rejects(q.completeRetryingAndPut(stale), LockLostError);
    });
  });
}

describe('retries: in-memory', () => retriesBehaviour(memoryBackend));
describe('retries: MongoDB', () => retriesBehaviour(mongoBackend));
