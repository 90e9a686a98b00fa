/**
 * The store conformance suite: every method of every store protocol (jobs, scope locks, queue
 * records, schedules, rate windows, time-range requests, worker presence, history rollups),
 * called directly, on every implementation (MongoDB on the harness's server, and memory), as
 * River runs one driver suite on every driver. The suites are in test/store/conformance/, one per protocol; each test
 * starts from empty stores and passes its own `now`.
 */
import 'reflect-metadata';
import { MongoClient } from 'mongodb';
import type { JobDocument } from '../../lib';
import { MemoryJobStore } from '../../lib/store/memory/job-store';
import { MongoJobStore } from '../../lib/store/mongo/job-store';
import { initStores, memoryStores, mongoStores, type Stores } from '../../lib/store/store-set';
import { freshDb, testUri } from '../support/server';
import { jobStoreAdmin } from './conformance/job-store-admin';
import { jobStoreFleet } from './conformance/job-store-fleet';
import { jobStoreReadsAndClaims } from './conformance/job-store';
import { jobStoreWrites } from './conformance/job-store-writes';
import { queueStoreSuite } from './conformance/queue-store';
import { rateStoreSuite } from './conformance/rate-store';
import { requestStoreSuite } from './conformance/request-store';
import { rollupStoreSuite } from './conformance/rollup-store';
import { scheduleStoreSuite } from './conformance/schedule-store';
import { scopeStoreSuite } from './conformance/scope-store';
import type { StoreTarget } from './conformance/target';
import { workerStoreSuite } from './conformance/worker-store';

/** A target the suite empties before each test. */
interface Backend extends StoreTarget {
  reset(): Promise<void>;
  close(): Promise<void>;
}

function memoryTarget(): Backend {
  let stores = memoryStores();
  return {
    name: 'memory',
    insertEventsInline: true,
    stores: () => stores,
    async rawPutJob(doc) {
      (stores.jobs as MemoryJobStore).rawPut(doc as JobDocument);
    },
    async reset() {
      stores = memoryStores();
    },
    async close() {},
  };
}

/**
 * One set of collections, created and indexed once, emptied before each test: creating seven
 * collections per test would make the suite slow to run and to drop on DocumentDB.
 */
function mongoTarget(dbName: string): Backend {
  let client: MongoClient | undefined;
  let current: Stores | undefined;
  const stores = (): Stores => {
    if (!current) throw new Error('reset() first');
    return current;
  };
  return {
    name: 'mongodb',
    insertEventsInline: false,
    stores,
    async rawPutJob(doc) {
      await (stores().jobs as MongoJobStore).jobs.insertOne(doc as JobDocument);
    },
    async reset() {
      if (!client) {
        client = new MongoClient(testUri());
        current = mongoStores(client.db(dbName), { prefix: 'conformance' });
        await initStores(current);
        return;
      }
      const collections = await client.db(dbName).collections();
      await Promise.all(collections.map((c) => c.deleteMany({})));
    },
    async close() {
      await current?.jobs.close();
      await client?.close();
    },
  };
}

/** Every suite on one target. */
function conformance(target: Backend): void {
  beforeEach(async () => target.reset());
  after(async () => target.close());

  describe('JobStore: inserts, reads, claims', () => jobStoreReadsAndClaims(target));
  describe('JobStore: guarded writes', () => jobStoreWrites(target));
  describe('JobStore: lists and management', () => jobStoreAdmin(target));
  describe('JobStore: probe, suspects, out-of-order heartbeats', () => jobStoreFleet(target));
  describe('ScopeStore', () => scopeStoreSuite(target));
  describe('QueueStore', () => queueStoreSuite(target));
  describe('ScheduleStore', () => scheduleStoreSuite(target));
  describe('RateStore', () => rateStoreSuite(target));
  describe('RequestStore', () => requestStoreSuite(target));
  describe('WorkerStore', () => workerStoreSuite(target));
  describe('RollupStore', () => rollupStoreSuite(target));
}

describe('store conformance (memory)', () => conformance(memoryTarget()));
describe('store conformance (mongodb)', () => conformance(mongoTarget(freshDb('conformance'))));
