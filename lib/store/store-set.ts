/**
 * The set of stores a group works with, one per collection, built for MongoDB or memory.
 * Each feature that keeps state of its own (scope locks, queues, schedules) adds its store here.
 */
import type { Db } from 'mongodb';
import { MemoryJobStore } from './memory/job-store';
import { MemoryQueueStore } from './memory/queue-store';
import { MemoryScheduleStore } from './memory/schedule-store';
import { MongoJobStore } from './mongo/job-store';
import { MongoQueueStore } from './mongo/queue-store';
import { MongoScheduleStore } from './mongo/schedule-store';
import type { JobStore } from './job-store';
import type { QueueStore } from './queue-store';
import type { ScheduleStore } from './schedule-store';
import { MemoryScopeStore } from './memory/scope-store';
import { MongoScopeStore } from './mongo/scope-store';
import type { ScopeStore } from './scope-store';
import { MemoryRequestStore } from './memory/request-store';
import { MongoRequestStore } from './mongo/request-store';
import type { RequestStore } from './request-store';
import { MemoryWorkerStore } from './memory/worker-store';
import { MongoWorkerStore } from './mongo/worker-store';
import type { WorkerStore } from './worker-store';
import { MemoryRateStore } from './memory/rate-store';
import { MongoRateStore } from './mongo/rate-store';
import type { RateStore } from './rate-store';
import { MemoryRollupStore } from './memory/rollup-store';
import { MongoRollupStore } from './mongo/rollup-store';
import type { RollupStore } from './rollup-store';

/** Stores of one deployment. */
export interface Stores {
  jobs: JobStore;
  /** Queue records: named queues and their fuses. */
  queues: QueueStore;
  /** The schedule table of periodic and cron jobs. */
  schedules: ScheduleStore;
  /** Scope locks: one document per held scope (see lib/scopes/scope-locks.ts). */
  scopes: ScopeStore;
  /** Time-range requests: one record per request (see lib/time-ranges/time-range-requests.ts). */
  requests: RequestStore;
  /** Worker presence: one record per live group running pools (see lib/group/worker-presence.ts). */
  workers: WorkerStore;
  /** Rate-limit windows: one record per rate-limited queue (see lib/limits/rate-limit.ts). */
  rates: RateStore;
  /** History rollups: one document per queue, job type and minute (see lib/history/). */
  rollups: RollupStore;
}

/** Collection names; every one is prefixed with `prefix` (default `drover`). */
export interface CollectionNames {
  prefix?: string;
}

/** Stores on a MongoDB database. */
export function mongoStores(db: Db, names: CollectionNames = {}): Stores {
  const prefix = names.prefix ?? 'drover';
  return {
    jobs: new MongoJobStore(db, `${prefix}_jobs`),
    queues: new MongoQueueStore(db, `${prefix}_queues`),
    schedules: new MongoScheduleStore(db, `${prefix}_schedules`),
    scopes: new MongoScopeStore(db, `${prefix}_scopes`),
    requests: new MongoRequestStore(db, `${prefix}_requests`),
    workers: new MongoWorkerStore(db, `${prefix}_workers`),
    rates: new MongoRateStore(db, `${prefix}_rates`),
    rollups: new MongoRollupStore(db, `${prefix}_rollups`),
  };
}

/** Stores in memory (one process). */
export function memoryStores(): Stores {
  return {
    jobs: new MemoryJobStore(),
    queues: new MemoryQueueStore(),
    schedules: new MemoryScheduleStore(),
    scopes: new MemoryScopeStore(),
    requests: new MemoryRequestStore(),
    workers: new MemoryWorkerStore(),
    rates: new MemoryRateStore(),
    rollups: new MemoryRollupStore(),
  };
}

/** Prepares every store (indexes). */
export async function initStores(stores: Stores): Promise<void> {
  await Promise.all(Object.values(stores).map((s: { init(): Promise<void> }) => s.init()));
}
