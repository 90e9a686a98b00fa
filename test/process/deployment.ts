/**
 * A deployment for the process tests whose workers share every store in MongoDB (scope locks,
 * presence, rate windows): a fresh database, its stores under one prefix, a parent group that only
 * puts and reads (it never starts a pool), and scope workers (scope-worker.ts) forked on it. `close`
 * ends the workers (gracefully, then SIGKILL), the group and the client, and drops the database.
 */
import path from 'node:path';
import { MongoClient } from 'mongodb';
import { QueueGroup } from '../../lib';
import { initStores, mongoStores, type Stores } from '../../lib/store/store-set';
import { testLogger } from '../support/backends';
import { forkWorker } from '../support/fork';
import { dropDatabase, testUri, uniqueDbName } from '../support/server';
import { WorkerHandle } from './harness';
import { SCOPE_WORKER_CONFIG_ENV, type ScopeWorkerConfig } from './scope-worker';

/** What a test gives a worker; the deployment fills in where it connects. */
export type DeploymentWorkerConfig = Omit<ScopeWorkerConfig, 'uri' | 'db' | 'prefix'>;

export class SharedDeployment {
  readonly dbName: string;
  readonly workers: WorkerHandle[] = [];
  private opened?: { client: MongoClient; stores: Stores; group: QueueGroup };

  constructor(
    name: string,
    readonly prefix: string,
  ) {
    this.dbName = uniqueDbName(name);
  }

  async open(): Promise<void> {
    const client = await MongoClient.connect(testUri());
    const stores = mongoStores(client.db(this.dbName), { prefix: this.prefix });
    await initStores(stores);
    this.opened = { client, stores, group: new QueueGroup(stores, { logger: testLogger }) };
  }

  private get parts(): { client: MongoClient; stores: Stores; group: QueueGroup } {
    if (!this.opened) throw new Error('open() first');
    return this.opened;
  }

  get stores(): Stores {
    return this.parts.stores;
  }

  /** The parent's group: puts and reads, never runs jobs. */
  get group(): QueueGroup {
    return this.parts.group;
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
    await this.opened?.group.close().catch(() => undefined);
    await this.opened?.client.close();
    await dropDatabase(this.dbName);
  }
}
