/**
 * The queue implementations every behaviour test runs against: MongoDB (on the harness's server)
 * and in-memory. Each backend gives fresh groups over one store per test.
 */
import { MongoClient } from 'mongodb';
import pino from 'pino';
import { QueueGroup, type QueueGroupOptions, type QueueOptions } from '../../lib';
import type { JobStore } from '../../lib/store/job-store';
import { initStores, memoryStores, mongoStores, type Stores } from '../../lib/store/store-set';
import { testUri, uniqueDbName } from './server';

/** A silent logger for tests; set LOG_LEVEL to see logs. */
export const testLogger = pino({ level: process.env.LOG_LEVEL ?? 'silent' });

/** Fast timings so lock and abort tests finish quickly. */
export const FAST: QueueOptions = {
  lockTimeoutMs: 600,
  heartbeatMs: 100,
  reclaimEveryMs: 100,
  pollMinMs: 2,
  pollMaxMs: 50,
  drainTimeoutMs: 2_000,
};

/** The groups' retry backoff in tests (none), unless a test gives one. */
export const FAST_RETRY_BACKOFF_MS = 0;

export interface Backend {
  name: string;
  /** A new, empty store shared by the groups `group()` returns until `reset()`. */
  reset(): Promise<void>;
  /** A group on the current store, as if from another process when called twice. */
  group(defaults?: QueueOptions): QueueGroup;
  /**
   * A group with group options (hooks, retry, presence...); `defaults` merge over `FAST`. Like
   * `group`, it is closed by the next `reset()` or by `close()`.
   */
  groupWith(options: QueueGroupOptions): QueueGroup;
  store(): JobStore;
  /** Every store of the current deployment. */
  stores(): Stores;
  close(): Promise<void>;
}

/** Groups made for tests over the current stores, closed together. */
class TestGroups {
  private readonly groups: QueueGroup[] = [];

  constructor(private readonly stores: () => Stores) {}

  make(options: QueueGroupOptions = {}): QueueGroup {
    const g = new QueueGroup(this.stores(), {
      logger: testLogger,
      ...options,
      // Retries without a backoff unless a test sets one: the default (1 s, 2 s, 4 s...) would
      // only slow the suite down. Tests of the default build their handler without it.
      retry: { retryBackoff: FAST_RETRY_BACKOFF_MS, ...options.retry },
      defaults: { ...FAST, ...options.defaults },
    });
    this.groups.push(g);
    return g;
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.groups.splice(0).map((g) => g.close({ drainTimeoutMs: 500 })));
  }
}

export function memoryBackend(): Backend {
  let stores = memoryStores();
  const groups = new TestGroups(() => stores);
  return {
    name: 'memory',
    async reset() {
      await groups.closeAll();
      stores = memoryStores();
    },
    group: (defaults = {}) => groups.make({ defaults }),
    groupWith: (options) => groups.make(options),
    store: () => stores.jobs,
    stores: () => stores,
    close: () => groups.closeAll(),
  };
}

export function mongoBackend(): Backend {
  // Connected on first use: a suite may build its backends before the root hook starts the server.
  let connected: MongoClient | undefined;
  const client = (): MongoClient => (connected ??= new MongoClient(testUri()));
  const dbName = uniqueDbName('behaviour');
  let made = false;
  let current: Stores | undefined;
  const stores = (): Stores => {
    if (!current) throw new Error('reset() first');
    return current;
  };
  const groups = new TestGroups(stores);
  return {
    name: 'mongodb',
    async reset() {
      await groups.closeAll();
      // One set of collections, indexed once and emptied before each test: indexing a fresh set
      // takes 1 to 2 s on DocumentDB, emptying one tens of ms. The store objects are new each
      // time, so no test inherits another's in-process state; init() puts back any index a test
      // dropped.
      const db = client().db(dbName);
      if (made) await Promise.all((await db.collections()).map((c) => c.deleteMany({})));
      current = mongoStores(db, { prefix: 't' });
      await initStores(current);
      made = true;
    },
    group: (defaults = {}) => groups.make({ defaults }),
    groupWith: (options) => groups.make(options),
    store: () => stores().jobs,
    stores,
    async close() {
      await groups.closeAll();
      if (!connected) return;
      await connected
        .db(dbName)
        .dropDatabase()
        .catch(() => undefined);
      await connected.close();
    },
  };
}

/** Polls `check` until it returns true or `timeoutMs` passes (then throws with `what`). */
export async function eventually(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
