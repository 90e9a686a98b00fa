/**
 * Transactional enqueue: `put`, `putMany`, `putUnique` and schedule writes inside the caller's
 * MongoDB transaction. Where the harness's server has transactions (found by trying one), a put
 * in an aborted transaction leaves no job, scope lock or dependency record and never runs; a
 * committed one runs once, is invisible to other workers before the commit, and wakes an idle
 * pool after it. Where the server has none, and on the in-memory store, a put with a session is
 * refused with TransactionsUnsupportedError and writes nothing.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { MongoClient, type ClientSession, type Collection, type Db } from 'mongodb';
import {
  afterJobs,
  ErrorCode,
  QueueGroup,
  TransactionsUnsupportedError,
  type Queue,
} from '../../lib';
import { eventually, FAST, testLogger } from '../support/backends';
import { NoopJob } from '../support/jobs';
import { freshDb, testUri } from '../support/server';
import { Gate, serverHasTransactions, TxnDeployment } from '../support/transactions';

interface Order {
  _id: string;
}

/** Rejects with a message the driver's `withTransaction` passes on (it aborts first). */
class Rollback extends Error {}

/** IDs of the jobs a queue emitted `event` for. */
function recordEvents(queue: Queue, event: 'claimed' | 'completed'): string[] {
  const ids: string[] = [];
  queue.on(event, (info) => ids.push(info.jobId));
  return ids;
}

describe('transactional enqueue', function () {
  this.timeout(60_000);
  const dbName = freshDb('txn-enqueue');
  let client: MongoClient;
  let db: Db;
  let transactions = false;
  let deployment: TxnDeployment;
  let session: ClientSession;
  let orders: Collection<Order>;
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
    queueName = `txn-q${n}`;
    deployment = await TxnDeployment.create(client, db, 't');
    orders = db.collection<Order>(`orders${n}`);
    session = client.startSession();
  });

  afterEach(async () => {
    await session.endSession();
    await deployment.close();
  });

  describe('where the server has transactions', () => {
    beforeEach(function () {
      if (!transactions) this.skip();
    });

    it('a put in an aborted transaction leaves no job, scope or dependency record and never runs', async () => {
      const runner = await deployment.group().get(queueName);
      const claimed = recordEvents(runner, 'claimed');
      const completed = recordEvents(runner, 'completed');
      await runner.start();
      const queue = await deployment.group().get(queueName);
      const parent = NoopJob.create({}, { id: 'parent', enqueueScopes: ['nightly'] });
      const child = NoopJob.create({}, { id: 'child', dependency: afterJobs(['parent']) });
      await assert.rejects(
        session.withTransaction(async () => {
          await orders.insertOne({ _id: 'order-1' }, { session });
          await queue.putMany([parent, child], { session });
          throw new Rollback('rolled back');
        }),
        Rollback,
      );
      const { jobs, scopes } = deployment.stores;
      assert.equal(await orders.findOne({ _id: 'order-1' }), null);
      assert.equal(await jobs.jobGet('parent'), null);
      assert.equal(await jobs.jobGet('child'), null);
      assert.deepEqual(await scopes.scopeList({ queue: queueName }), []);
      assert.deepEqual(await jobs.jobList({ edge: 'parent', limit: 10 }), []);
      // The scope was never held: another job takes it at once.
      assert.equal(
        await queue.putUnique(NoopJob.create({}, { id: 'other', enqueueScopes: ['nightly'] })),
        true,
      );
      // The runner claims in order of due time: once later jobs ran, nothing else was there.
      await queue.put(NoopJob.create({}, { id: 'sentinel' }));
      await eventually('sentinel completed', () => completed.includes('sentinel'));
      assert.deepEqual([...claimed].sort(), ['other', 'sentinel']);
      assert.equal((await runner.stats()).total, 2);
    });

    it('a put in a committed transaction is invisible until the commit, then runs once', async () => {
      const runner = await deployment.group().get(queueName);
      const claimed = recordEvents(runner, 'claimed');
      const completed = recordEvents(runner, 'completed');
      await runner.start();
      const other = await deployment.group().get(queueName);
      const queue = await deployment.group().get(queueName);
      const job = NoopJob.create({}, { id: 'confirm-1', enqueueScopes: ['order-1'] });
      await session.withTransaction(async () => {
        await orders.insertOne({ _id: 'order-1' }, { session });
        await queue.put(job, { session });
        // Another worker (a claim) and any reader outside the transaction see nothing yet.
        assert.equal(await deployment.stores.jobs.jobGet('confirm-1'), null);
        assert.equal(await other.next(), undefined);
        assert.deepEqual(await deployment.stores.scopes.scopeList({ queue: queueName }), []);
      });
      assert.ok(await orders.findOne({ _id: 'order-1' }));
      await eventually('job completed', () => completed.includes('confirm-1'));
      assert.deepEqual(claimed, ['confirm-1']);
      assert.equal((await runner.getAllAttempts('confirm-1')).length, 1);
      assert.equal((await runner.getDocument('confirm-1'))?.state, 'completed');
      // Its enqueue scope was committed with it and released when it finished.
      await eventually(
        'scope released',
        async () => (await deployment.stores.scopes.scopeList({ queue: queueName })).length === 0,
      );
    });

    it('wakes an idle pool of this process after the commit, not before', async () => {
      // Idle polls 30-60 s apart: only a wake gets the job run within the test's time.
      const group = deployment.group({ defaults: { pollMinMs: 60_000, pollMaxMs: 60_000 } });
      const queue = await group.get(queueName);
      const completed = recordEvents(queue, 'completed');
      const idle = once(queue, 'idle');
      await queue.start();
      await idle;
      await session.withTransaction(async () => {
        await queue.put(NoopJob.create({}, { id: 'woken' }), { session });
        await orders.insertOne({ _id: 'order-2' }, { session });
      });
      await eventually('job completed', () => completed.includes('woken'), 15_000);
    });

    it('putUnique in a transaction finds a held scope or ID by reading: the transaction goes on', async () => {
      const queue = await deployment.group().get(queueName);
      await queue.put(NoopJob.create({}, { id: 'holder', enqueueScopes: ['only-one'] }));
      const results = await session.withTransaction(async () => {
        const scoped = await queue.putUnique(
          NoopJob.create({}, { id: 'second', enqueueScopes: ['only-one'] }),
          { session },
        );
        const sameId = await queue.putUnique(NoopJob.create({}, { id: 'holder' }), { session });
        const fresh = await queue.putUnique(NoopJob.create({}, { id: 'third' }), { session });
        await orders.insertOne({ _id: 'order-3' }, { session });
        return [scoped, sameId, fresh];
      });
      assert.deepEqual(results, [false, false, true]);
      assert.ok(await orders.findOne({ _id: 'order-3' }));
      assert.equal((await queue.stats()).total, 2);
      assert.equal(await deployment.stores.jobs.jobGet('second'), null);
      assert.ok(await deployment.stores.jobs.jobGet('third'));
    });

    it('two puts of one transaction see each other: a scope taken earlier in it is held', async () => {
      const queue = await deployment.group().get(queueName);
      await session.withTransaction(async () => {
        await queue.put(NoopJob.create({}, { id: 'first', enqueueScopes: ['s'] }), { session });
        assert.equal(
          await queue.putUnique(NoopJob.create({}, { id: 'again', enqueueScopes: ['s'] }), {
            session,
          }),
          false,
        );
      });
      assert.deepEqual(
        (await deployment.stores.scopes.scopeList({ queue: queueName })).map((l) => l.holder),
        ['first'],
      );
      assert.equal(await deployment.stores.jobs.jobGet('again'), null);
    });

    it("a write conflict of a put is labelled transient: the driver's withTransaction retries", async () => {
      const queue = await deployment.group().get(queueName);
      // Another transaction holds the scope, uncommitted: our insert of its lock conflicts.
      const blocker = client.startSession();
      blocker.startTransaction();
      await queue.put(NoopJob.create({}, { id: 'blocker', enqueueScopes: ['s'] }), {
        session: blocker,
      });
      const secondTry = new Gate();
      const unblocked = new Gate();
      let tries = 0;
      try {
        const done = session.withTransaction(async () => {
          if (++tries > 1) {
            secondTry.release();
            await unblocked.open;
          }
          await queue.put(NoopJob.create({}, { id: 'mine', enqueueScopes: ['s'] }), { session });
        });
        // Without the label the driver gives up: `done` rejects with the conflict.
        await Promise.race([secondTry.open, done.then(() => assert.fail('no second try'))]);
        await blocker.abortTransaction();
        unblocked.release();
        await done;
      } finally {
        await blocker.endSession();
      }
      assert.equal(tries, 2);
      assert.deepEqual(
        (await deployment.stores.scopes.scopeList({ queue: queueName })).map((l) => l.holder),
        ['mine'],
      );
      assert.equal(await deployment.stores.jobs.jobGet('blocker'), null);
    });

    it('a schedule upserted or removed in a transaction commits and rolls back with it', async () => {
      const scheduler = deployment.group().scheduler();
      const spec = { key: 'nightly', queue: queueName, job: NoopJob, everyMs: 60_000 };
      await assert.rejects(
        session.withTransaction(async () => {
          await scheduler.upsert(spec, { session });
          throw new Rollback('rolled back');
        }),
        Rollback,
      );
      assert.equal(await scheduler.get('nightly'), undefined);
      await session.withTransaction(async () => {
        assert.equal((await scheduler.upsert(spec, { session })).outcome, 'created');
      });
      assert.ok(await scheduler.get('nightly'));
      await assert.rejects(
        session.withTransaction(async () => {
          assert.equal(await scheduler.remove('nightly', { session }), true);
          throw new Rollback('rolled back');
        }),
        Rollback,
      );
      assert.ok(await scheduler.get('nightly'));
    });
  });

  describe('where the server has no transactions', () => {
    beforeEach(function () {
      if (transactions) this.skip();
    });

    it('refuses put, putMany and putUnique with a session, writing nothing', async () => {
      const queue = await deployment.group().get(queueName);
      const job = () => NoopJob.create({}, { enqueueScopes: ['s'], dependency: afterJobs(['x']) });
      for (const put of [
        () => queue.put(job(), { session }),
        () => queue.putMany([job(), job()], { session }),
        () => queue.putUnique(job(), { session }),
      ]) {
        await assert.rejects(put(), (err: unknown) => {
          assert.ok(err instanceof TransactionsUnsupportedError);
          assert.equal(err.code, ErrorCode.TransactionsUnsupported);
          return true;
        });
      }
      assert.equal((await queue.stats()).total, 0);
      assert.deepEqual(await deployment.stores.scopes.scopeList({ queue: queueName }), []);
      // Without a session the same put works.
      await queue.put(job());
      assert.equal((await queue.stats()).total, 1);
    });

    it('refuses a schedule upsert with a session', async () => {
      const scheduler = deployment.group().scheduler();
      await assert.rejects(
        scheduler.upsert({ key: 'k', queue: queueName, job: NoopJob, everyMs: 1000 }, { session }),
        TransactionsUnsupportedError,
      );
      assert.equal(await scheduler.get('k'), undefined);
    });
  });

  describe('on the in-memory store', () => {
    it('refuses a put with a session: it cannot take part in a MongoDB transaction', async () => {
      const group = QueueGroup.inMemory({ logger: testLogger, defaults: FAST });
      try {
        const queue = await group.get(queueName);
        await assert.rejects(
          queue.put(NoopJob.create({}, { enqueueScopes: ['s'] }), { session }),
          TransactionsUnsupportedError,
        );
        await assert.rejects(
          queue.putUnique(NoopJob.create(), { session }),
          TransactionsUnsupportedError,
        );
        await assert.rejects(
          group.scheduler().upsert(
            { key: 'k', queue: queueName, job: NoopJob, everyMs: 1000 },
            {
              session,
            },
          ),
          TransactionsUnsupportedError,
        );
        assert.equal((await queue.stats()).total, 0);
        assert.deepEqual(await group.stores.scopes.scopeList({ queue: queueName }), []);
      } finally {
        await group.close();
      }
    });
  });
});
