/**
 * A queue group: named queues over one set of stores, created on demand, closed together; abort
 * by ID across all of them (and, through the store, across processes).
 */
import { MongoClient, type MongoClientOptions } from 'mongodb';
import type { Logger } from 'pino';
import type { QueueExtension } from './extension';
import { defaultLogger, type QueueOptions } from './options';
import { Queue } from './queue';
import type { BackoffPolicy } from './retry';
import type { AbortOutcome, JobStore } from './store';
import { initStores, memoryStores, mongoStores, type Stores } from './stores';
import { checkAttemptId, checkQueueName } from './validate';

/** Options of a group. */
export interface QueueGroupOptions {
  /** Defaults for every queue of the group; `get(name, opts)` overrides them. */
  defaults?: QueueOptions;
  logger?: Logger;
  /** Extra extensions given to every queue (after the built-in ones). */
  extensions?: QueueExtension[];
  /** Backoff between retry attempts. */
  retryBackoff?: BackoffPolicy;
}

/** Options of `QueueGroup.connect`. */
export interface ConnectOptions extends QueueGroupOptions {
  /** MongoDB connection string. */
  uri?: string;
  /** An already connected client; the group will not close it. */
  client?: MongoClient;
  /** Database name. */
  db: string;
  /** Prefix of the collection names. Default `drover`. */
  collectionPrefix?: string;
  clientOptions?: MongoClientOptions;
}

/** Named queues sharing one set of stores. */
export class QueueGroup {
  private readonly queuesByName = new Map<string, Queue>();
  readonly logger: Logger;
  readonly stores: Stores;

  constructor(
    stores: Stores | JobStore,
    private readonly options: QueueGroupOptions = {},
    private readonly ownedClient?: MongoClient,
  ) {
    this.stores = 'jobInsert' in stores ? { jobs: stores } : stores;
    this.logger = options.logger ?? defaultLogger();
  }

  /** The job store. */
  get store(): JobStore {
    return this.stores.jobs;
  }

  /** Connects to MongoDB and prepares the collections (indexes). */
  static async connect(options: ConnectOptions): Promise<QueueGroup> {
    let client = options.client;
    let owned: MongoClient | undefined;
    if (!client) {
      if (!options.uri) throw new TypeError('QueueGroup.connect needs a uri or a client');
      owned = client = await MongoClient.connect(options.uri, options.clientOptions);
    }
    const stores = mongoStores(client.db(options.db), { prefix: options.collectionPrefix });
    await initStores(stores);
    return new QueueGroup(stores, options, owned);
  }

  /** A group over in-memory stores (one process, nothing persisted). */
  static inMemory(options: QueueGroupOptions = {}): QueueGroup {
    return new QueueGroup(memoryStores(), options);
  }

  /** The extensions every queue of this group runs with. */
  private extensions(): QueueExtension[] {
    return [...(this.options.extensions ?? [])];
  }

  /** The queue of this name, created on first use with the group defaults merged with `options`. */
  async get(name: string, options: QueueOptions = {}): Promise<Queue> {
    checkQueueName(name);
    let queue = this.queuesByName.get(name);
    if (!queue) {
      queue = new Queue(
        this.store,
        name,
        { logger: this.logger, ...this.options.defaults, ...options },
        { extensions: this.extensions(), retryBackoff: this.options.retryBackoff },
      );
      this.queuesByName.set(name, queue);
    }
    return queue;
  }

  /** Names of the queues this group holds in this process. */
  queues(): string[] {
    return [...this.queuesByName.keys()];
  }

  len(): number {
    return this.queuesByName.size;
  }

  /**
   * Aborts a job by ID in any queue and any process: at once here, within one heartbeat elsewhere.
   */
  async abort(id: string): Promise<AbortOutcome> {
    checkAttemptId(id);
    const doc = id.includes('#') ? await this.store.jobGet(id) : await this.store.jobGetLatest(id);
    if (!doc) return 'not-found';
    const local = this.queuesByName.get(doc.queue);
    if (local) return local.abort(doc._id);
    return this.store.jobRequestAbort(doc._id, new Date());
  }

  /** Closes every queue (gracefully) and the client the group opened. */
  async close(options: { drainTimeoutMs?: number } = {}): Promise<void> {
    await Promise.all([...this.queuesByName.values()].map((q) => q.close(options)));
    this.queuesByName.clear();
    await this.ownedClient?.close();
  }
}
