/**
 * The set of stores a group works with, one per collection, built for MongoDB or memory.
 * Each feature that keeps state of its own (scope locks, queues, schedules) adds its store here.
 */
import type { Db } from 'mongodb';
import { MemoryJobStore } from './memory/job-store';
import { MongoJobStore } from './mongo/job-store';
import type { JobStore } from './store';

/** Stores of one deployment. */
export interface Stores {
  jobs: JobStore;
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
  };
}

/** Stores in memory (one process). */
export function memoryStores(): Stores {
  return {
    jobs: new MemoryJobStore(),
  };
}

/** Prepares every store (indexes). */
export async function initStores(stores: Stores): Promise<void> {
  await Promise.all(Object.values(stores).map((s: { init(): Promise<void> }) => s.init()));
}
