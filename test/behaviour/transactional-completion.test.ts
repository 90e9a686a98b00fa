/**
 * Transactional completion, `ctx.transaction(fn)`: the job's writes through the session and the
 * record of its completion commit together. Where the harness's server has transactions (found
 * by trying one): both land once; a run whose lock was lost commits nothing; a write conflict
 * runs `fn` again in a new transaction (DocumentDB reports it as code 112 without a label); an
 * error in `fn` commits nothing and fails the job. Where there are none, and in memory, the job
 * fails with TransactionsUnsupportedError and writes nothing.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { MongoClient, type Collection, type Db } from 'mongodb';
import { ErrorCode, QueueGroup, type JobDocument, type Queue } from '../../lib';
import type { MongoJobStore } from '../../lib/store/mongo/job-store';
import { eventually, FAST, testLogger } from '../support/backends';
import { freshDb, testUri } from '../support/server';
import {
  Gate,
  ledger,
  LedgerJob,
  serverHasTransactions,
  TxnDeployment,
  type LedgerEntry,
} from '../support/transactions';

/** Lock timings under which no heartbeat or reclaim acts during a test (the guard alone does). */
const QUIET_LOCKS = { lockTimeoutMs: 60_000, heartbeatMs: 20_000, reclaimEveryMs: 30_000 };

/** The events a queue emitted, in order, as `event:jobId`. */
function recordEvents(queue: Queue): string[] {
  const seen: string[] = [];
  for (const event of ['completed', 'failed', 'lock-lost', 'retrying'] as const) {
    queue.on(event, (info) => seen.push(`${event}:${info.jobId}`));
  }
  return seen;
}

describe('transactional completion (ctx.transaction)', function () {
  this.timeout(60_000);
  const dbName = freshDb('txn-complete');
  let client: MongoClient;
  let db: Db;
  let transactions = false;
  let deployment: TxnDeployment;
  let entries: Collection<LedgerEntry>;
  let n = 0;
  let queueName = '';

  before(async () => {
    client = new MongoClient(testUri());
    await client.connect();
    db = client.db(dbName);
    transactions = await serverHasTransactions(client, db);
  });

  after(async () => {
    await client?.close();
  });

  beforeEach(async () => {
    n++;
    queueName = `txn-c${n}`;
    deployment = await TxnDeployment.create(client, db, 'c');
    entries = db.collection<LedgerEntry>(`ledger${n}`);
    ledger.reset(entries);
  });

  afterEach(async () => {
    await deployment.close();
  });

  async function started(defaults = {}): Promise<{ queue: Queue; events: string[] }> {
    const queue = await deployment.group({ defaults }).get(queueName);
    const events = recordEvents(queue);
    await queue.start();
    return { queue, events };
  }

  async function stored(id: string): Promise<JobDocument | null> {
    return deployment.stores.jobs.jobGet(id);
  }

  describe('where the server has transactions', () => {
    beforeEach(function () {
      if (!transactions) this.skip();
    });

    it("commits the job's writes and its completion together, once", async () => {
      const { queue, events } = await started();
      await queue.put(LedgerJob.create({ amount: 5 }, { id: 'pay-1' }));
      await eventually('completed', () => events.includes('completed:pay-1'));
      assert.deepEqual(events, ['completed:pay-1']);
      assert.deepEqual(await entries.find().toArray(), [
        { _id: 'entry-pay-1', jobId: 'pay-1', amount: 5 },
      ]);
      const doc = await stored('pay-1');
      assert.equal(doc?.state, 'completed');
      assert.equal(doc?.status.completed, true);
      assert.equal(doc?.payload.result, 'booked 5');
      assert.equal(ledger.tries.get('pay-1'), 1);
    });

    it('a run whose lock was lost commits nothing', async () => {
      const tried = new Gate();
      const stolen = new Gate();
      ledger.onTry = async () => {
        tried.release();
        await stolen.open;
      };
      const { queue, events } = await started(QUIET_LOCKS);
      await queue.put(LedgerJob.create({ amount: 7 }, { id: 'pay-2' }));
      await tried.open;
      // Another worker reclaimed the job meanwhile: owner and modCount changed under the run.
      const jobs = (deployment.stores.jobs as MongoJobStore).jobs;
      await jobs.updateOne(
        { _id: 'pay-2' },
        { $set: { 'status.owner': 'thief' }, $inc: { 'status.modCount': 1 } },
      );
      stolen.release();
      await eventually('lock lost', () => events.includes('lock-lost:pay-2'));
      assert.deepEqual(events, ['lock-lost:pay-2']);
      assert.equal(await entries.countDocuments(), 0);
      const doc = await stored('pay-2');
      assert.equal(doc?.state, 'running');
      assert.equal(doc?.status.owner, 'thief');
      assert.equal(doc?.status.completed, false);
    });

    it('a write conflict runs fn again in a new transaction; its writes land once', async () => {
      const counters = db.collection<{ _id: string; n: number }>(`counters${n}`);
      await counters.insertOne({ _id: 'c', n: 0 });
      // Another transaction holds an uncommitted write on the counter the job updates.
      const blocker = client.startSession();
      blocker.startTransaction();
      await counters.updateOne({ _id: 'c' }, { $inc: { n: 1 } }, { session: blocker });
      const secondTry = new Gate();
      const unblocked = new Gate();
      ledger.onTry = async (_id, n, session) => {
        if (n > 1) {
          secondTry.release();
          await unblocked.open;
        }
        await counters.updateOne({ _id: 'c' }, { $inc: { n: 10 } }, { session });
      };
      try {
        const { queue, events } = await started(QUIET_LOCKS);
        await queue.put(LedgerJob.create({ amount: 3 }, { id: 'pay-3' }));
        await secondTry.open;
        await blocker.commitTransaction();
        unblocked.release();
        await eventually('completed', () => events.includes('completed:pay-3'));
        assert.deepEqual(events, ['completed:pay-3']);
      } finally {
        await blocker.endSession();
      }
      assert.ok((ledger.tries.get('pay-3') ?? 0) >= 2, 'fn ran again after the conflict');
      assert.equal((await counters.findOne({ _id: 'c' }))?.n, 11);
      assert.equal(await entries.countDocuments(), 1);
      assert.equal((await stored('pay-3'))?.state, 'completed');
    });

    it('an error in fn commits nothing and fails the job', async () => {
      const { queue, events } = await started();
      // One attempt: the failure is final (with more, a plain error is retried like any other).
      await queue.put(
        LedgerJob.create({ failWith: 'card declined' }, { id: 'pay-4', maxAttempts: 1 }),
      );
      await eventually('failed', () => events.includes('failed:pay-4'));
      assert.equal(await entries.countDocuments(), 0);
      const doc = await stored('pay-4');
      assert.equal(doc?.state, 'failed');
      assert.deepEqual(
        doc?.status.errors.map((e) => e.message),
        ['card declined', 'job pay-4: no retry left (1 attempts allowed)'],
      );
      assert.equal(ledger.tries.get('pay-4'), 1);
    });

    it('stores what run returned after the commit, and gives it to the completed event', async () => {
      const { queue } = await started();
      const results: unknown[] = [];
      queue.on('completed', (e) => results.push(e.returnValue));
      await queue.put(LedgerJob.create({ returnTries: true }, { id: 'pay-6' }));
      await eventually('completed', () => results.length === 1);
      assert.deepEqual(results, [{ tries: 1 }]);
      const doc = await stored('pay-6');
      assert.equal(doc?.state, 'completed');
      assert.deepEqual(doc?.returnValue, { tries: 1 });
      assert.equal(await entries.countDocuments(), 1);
    });

    it('an error thrown after the commit leaves the attempt completed', async () => {
      const { queue, events } = await started();
      await queue.put(LedgerJob.create({ failAfter: 'too late' }, { id: 'pay-5' }));
      await eventually('completed', () => events.includes('completed:pay-5'));
      assert.deepEqual(events, ['completed:pay-5']);
      assert.equal(await entries.countDocuments(), 1);
      assert.equal((await stored('pay-5'))?.state, 'completed');
    });
  });

  describe('where the server has no transactions', () => {
    beforeEach(function () {
      if (transactions) this.skip();
    });

    it('fails the job with TransactionsUnsupportedError and writes nothing', async () => {
      const { queue, events } = await started();
      await queue.put(LedgerJob.create({}, { id: 'pay-6' }));
      await eventually('failed', () => events.includes('failed:pay-6'));
      const doc = await stored('pay-6');
      assert.deepEqual(
        doc?.status.errors.map((e) => e.code),
        [ErrorCode.TransactionsUnsupported],
      );
      assert.equal(await entries.countDocuments(), 0);
      assert.equal(ledger.tries.get('pay-6'), undefined);
    });
  });

  describe('on the in-memory store', () => {
    it('fails the job with TransactionsUnsupportedError', async () => {
      const group = QueueGroup.inMemory({ logger: testLogger, defaults: FAST });
      try {
        const queue = await group.get(queueName);
        const events = recordEvents(queue);
        await queue.start();
        await queue.put(LedgerJob.create({}, { id: 'pay-7' }));
        await eventually('failed', () => events.includes('failed:pay-7'));
        const doc = await queue.getDocument('pay-7');
        assert.deepEqual(
          doc?.status.errors.map((e) => e.code),
          [ErrorCode.TransactionsUnsupported],
        );
        assert.equal(ledger.tries.get('pay-7'), undefined);
      } finally {
        await group.close();
      }
    });
  });
});
