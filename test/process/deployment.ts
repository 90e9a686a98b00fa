/**
 * Deployments for the process tests: a fresh database, its stores, a parent group that only puts
 * and reads (it never starts a pool), and worker processes forked on it. `JobsDeployment` is the
 * jobs collection alone with job workers (worker.ts); `SharedDeployment` shares every store in
 * MongoDB (scope locks, presence, rate windows) with scope workers (scope-worker.ts). `close`
 * ends the workers (gracefully, then SIGKILL), the group and the client, and drops the database.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { MongoClient, type Db } from 'mongodb';
import { QueueGroup, type JobDocument } from '../../lib';
import { MongoJobStore } from '../../lib/store/mongo/job-store';
import { initStores, mongoStores, type Stores } from '../../lib/store/store-set';
import { testLogger } from '../support/backends';
import { forkWorker } from '../support/fork';
import { dropDatabase, testUri, uniqueDbName } from '../support/server';
import { WorkerHandle, WorkerPool } from './harness';
import { SCOPE_WORKER_CONFIG_ENV, type ScopeWorkerConfig } from './scope-worker';
import type { WorkerConfig } from './worker';

/** A fresh database, the stores `S` a subclass makes on it, and the parent's group. */
abstract class Deployment<S extends MongoJobStore | Stores> {
  readonly dbName: string;
  private opened?: { client: MongoClient; stores: S; group: QueueGroup };

  constructor(name: string) {
    this.dbName = uniqueDbName(name);
  }

  /** Makes and initialises the stores on `db`. */
  protected abstract storesOn(db: Db): Promise<S>;

  async open(): Promise<void> {
    const client = await MongoClient.connect(testUri());
    const stores = await this.storesOn(client.db(this.dbName));
    this.opened = { client, stores, group: new QueueGroup(stores, { logger: testLogger }) };
  }

  protected get parts(): { client: MongoClient; stores: S; group: QueueGroup } {
    if (!this.opened) throw new Error('open() first');
    return this.opened;
  }

  /** The parent's group: puts and reads, never runs jobs. */
  get group(): QueueGroup {
    return this.parts.group;
  }

  /** Ends the group and the client and drops the database (after the subclass's workers). */
  protected async closeParts(): Promise<void> {
    await this.opened?.group.close().catch(() => undefined);
    await this.opened?.client.close();
    await dropDatabase(this.dbName);
  }
}

/** What a test gives a worker of a `JobsDeployment`; the deployment fills in where it connects. */
export type JobsWorkerConfig = Omit<WorkerConfig, 'uri' | 'db' | 'collection' | 'queue'>;

/** The jobs collection alone, with job workers (worker.ts) running `queue`. */
export class JobsDeployment extends Deployment<MongoJobStore> {
  readonly collection = 'jobs';
  readonly pool = new WorkerPool();

  /** `name` names the database; `queue` is the queue the workers run. */
  constructor(
    name: string,
    readonly queue: string,
  ) {
    super(name);
  }

  protected async storesOn(db: Db): Promise<MongoJobStore> {
    const store = new MongoJobStore(db, this.collection);
    await store.init();
    return store;
  }

  get store(): MongoJobStore {
    return this.parts.stores;
  }

  /** The full config of a worker on this deployment's database, collection and queue. */
  config(config: JobsWorkerConfig): WorkerConfig {
    return { db: this.dbName, collection: this.collection, queue: this.queue, ...config };
  }

  /** Forks a worker on this deployment. */
  spawn(config: JobsWorkerConfig): WorkerHandle {
    return this.pool.spawn(this.config(config));
  }

  /** The stored attempt `id`; fails the test when there is none. */
  async doc(id: string): Promise<JobDocument> {
    const d = await this.store.jobGet(id);
    assert.ok(d, `document ${id} exists`);
    return d;
  }

  /** Ends the workers (each given `graceMs` to close), then everything else. */
  async close(graceMs = 500): Promise<void> {
    await this.pool.closeAll(graceMs).catch(() => undefined);
    await this.pool.killAll();
    await this.closeParts();
  }
}

/** What a test gives a worker; the deployment fills in where it connects. */
export type DeploymentWorkerConfig = Omit<ScopeWorkerConfig, 'uri' | 'db' | 'prefix'>;

/** Every store in MongoDB under one prefix, with scope workers (scope-worker.ts). */
export class SharedDeployment extends Deployment<Stores> {
  readonly workers: WorkerHandle[] = [];

  constructor(
    name: string,
    readonly prefix: string,
  ) {
    super(name);
  }

  protected async storesOn(db: Db): Promise<Stores> {
    const stores = mongoStores(db, { prefix: this.prefix });
    await initStores(stores);
    return stores;
  }

  get stores(): Stores {
    return this.parts.stores;
  }

  /** Forks a scope worker on this deployment. */
  spawn(config: DeploymentWorkerConfig): WorkerHandle {
    const full: ScopeWorkerConfig = {
      uri: testUri(),
      db: this.dbName,
      prefix: this.prefix,
      ...config,
    };
    const handle = new WorkerHandle(
      forkWorker(path.join(__dirname, 'scope-worker.js'), SCOPE_WORKER_CONFIG_ENV, full),
    );
    this.workers.push(handle);
    return handle;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close(1_000).catch(() => undefined)));
    await Promise.all(this.workers.map((w) => w.kill9()));
    await this.closeParts();
  }
}
