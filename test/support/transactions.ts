/**
 * Support of the transaction tests: whether the harness's server really has transactions (found
 * by trying one, never by the server's name), a deployment of stores on a client the test owns
 * (sessions must come from the store's client), and job classes that write through
 * `ctx.transaction` into a ledger collection.
 */
import 'reflect-metadata';
import type { ClientSession, Collection, Db, MongoClient } from 'mongodb';
import { BaseJob, JobType, QueueGroup, type JobContext, type QueueGroupOptions } from '../../lib';
import { initStores, mongoStores, type Stores } from '../../lib/store/store-set';
import { FAST, testLogger } from './backends';

/**
 * True when the server commits a transaction's write and rolls back an aborted one. A server
 * without transactions refuses the session (mongo-java-server, through the driver) or the
 * transaction (a standalone mongod); one that ignored them would keep the aborted write.
 */
export async function serverHasTransactions(client: MongoClient, db: Db): Promise<boolean> {
  const probe = db.collection<{ _id: string }>(`txn_probe_${process.pid}`);
  const session = client.startSession();
  try {
    await session.withTransaction(async () => {
      await probe.insertOne({ _id: 'committed' }, { session });
    });
    session.startTransaction();
    await probe.insertOne({ _id: 'aborted' }, { session });
    await session.abortTransaction();
    const ids = (await probe.find().toArray()).map((d) => d._id);
    return ids.includes('committed') && !ids.includes('aborted');
  } catch {
    return false;
  } finally {
    await session.endSession();
    await probe.deleteMany({}).catch(() => undefined);
  }
}

/** Stores of one test on a client the test owns, and the groups made over them. */
export class TxnDeployment {
  readonly stores: Stores;
  private readonly groups: QueueGroup[] = [];

  private constructor(
    readonly client: MongoClient,
    readonly db: Db,
    prefix: string,
  ) {
    this.stores = mongoStores(db, { prefix });
  }

  /**
   * Stores under `prefix`, emptied: a test suite passes one prefix for all its tests, so the
   * collections are made and indexed once (1 to 2 s on DocumentDB) and emptied in tens of ms.
   */
  static async create(client: MongoClient, db: Db, prefix: string): Promise<TxnDeployment> {
    const ours = (await db.collections()).filter((c) => c.collectionName.startsWith(`${prefix}_`));
    await Promise.all(ours.map((c) => c.deleteMany({})));
    const d = new TxnDeployment(client, db, prefix);
    await initStores(d.stores);
    return d;
  }

  /** A group over the stores, as another process would have; `defaults` merge over FAST. */
  group(options: QueueGroupOptions = {}): QueueGroup {
    const g = new QueueGroup(this.stores, {
      logger: testLogger,
      ...options,
      defaults: { ...FAST, ...options.defaults },
    });
    this.groups.push(g);
    return g;
  }

  async close(): Promise<void> {
    await Promise.all(this.groups.splice(0).map((g) => g.close({ drainTimeoutMs: 500 })));
  }
}

/** A document a transactional job writes. */
export interface LedgerEntry {
  _id: string;
  jobId: string;
  amount: number;
}

/** A gate a job waits on until the test opens it (ordering without sleeps). */
export class Gate {
  private opened!: () => void;
  readonly open: Promise<void>;
  constructor() {
    this.open = new Promise<void>((resolve) => (this.opened = resolve));
  }
  release(): void {
    this.opened();
  }
}

/**
 * Where the ledger jobs write, and what they tell the test. A job's `fn` reports each try (the
 * transaction's runs: more than one after a retry) and may wait on a gate per try.
 */
export const ledger = {
  collection: undefined as Collection<LedgerEntry> | undefined,
  /** Runs of `fn`, per job ID. */
  tries: new Map<string, number>(),
  /** Called at the start of each try of `fn` (after its first read), before it writes. */
  onTry: undefined as
    ((jobId: string, n: number, session: ClientSession) => Promise<void>) | undefined,
  reset(collection: Collection<LedgerEntry>): void {
    this.collection = collection;
    this.tries.clear();
    this.onTry = undefined;
  },
};

/** Books `amount` in the ledger and completes, in one transaction. */
@JobType('test-ledger')
export class LedgerJob extends BaseJob {
  amount = 1;
  /** Set before the transaction: stored with the completion (the job's result). */
  result = '';
  /** Throw this from inside the transaction, after the write. */
  failWith = '';
  /** Throw this after the transaction committed. */
  failAfter = '';
  /** Return the number of tries of `fn` after the commit (the job's result). */
  returnTries = false;

  async run(ctx: JobContext): Promise<{ tries: number } | undefined> {
    const entries = ledger.collection;
    if (!entries) throw new Error('ledger.reset() first');
    this.result = `booked ${this.amount}`;
    const value = await ctx.transaction(async (session) => {
      const n = (ledger.tries.get(this.id) ?? 0) + 1;
      ledger.tries.set(this.id, n);
      await ledger.onTry?.(this.id, n, session);
      await entries.insertOne(
        { _id: `entry-${this.id}`, jobId: this.id, amount: this.amount },
        { session },
      );
      if (this.failWith) throw new Error(this.failWith);
      return n;
    });
    if (this.failAfter) throw new Error(`${this.failAfter} (after try ${value})`);
    return this.returnTries ? { tries: value } : undefined;
  }
}
