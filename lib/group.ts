/**
 * A queue group: named queues over one store, created on demand, closed together; abort by ID
 * across all of them (and, through the store, across processes).
 */
import { MongoClient, type MongoClientOptions } from 'mongodb';
import type { Logger } from 'pino';
import { MemoryJobStore } from './memory/job-store';
import { MongoJobStore } from './mongo/job-store';
import { defaultLogger, type QueueOptions } from './options';
import { Queue } from './queue';
import type { AbortOutcome, JobStore } from './store';
import { checkAttemptId, checkQueueName } from './validate';

/** Options of a group. */
export interface QueueGroupOptions {
  /** Defaults for every queue of the group; `get(name, opts)` overrides them. */
  defaults?: QueueOptions;
  logger?: Logger;
}

/** Options of `QueueGroup.connect`. */
export interface ConnectOptions extends QueueGroupOptions {
  /** MongoDB connection string. */
  uri?: string;
  /** An already connected client; the group will not close it. */
  client?: MongoClient;
  /** Database name. */
  db: string;
  /** Name of the jobs collection. Default `drover_jobs`. */
  jobsCollection?: string;
  clientOptions?: MongoClientOptions;
}

/** Named queues sharing one store. */
export class QueueGroup {
  private readonly queuesByName = new Map<string, Queue>();
  readonly logger: Logger;

  constructor(
    readonly store: JobStore,
    private readonly options: QueueGroupOptions = {},
    private readonly ownedClient?: MongoClient,
  ) {
    this.logger = options.logger ?? defaultLogger();
  }

  /** Connects to MongoDB and prepares the collections (indexes). */
  static async connect(options: ConnectOptions): Promise<QueueGroup> {
    let client = options.client;
    let owned: MongoClient | undefined;
    if (!client) {
      if (!options.uri) throw new TypeError('QueueGroup.connect needs a uri or a client');
      owned = client = await MongoClient.connect(options.uri, options.clientOptions);
    }
    const store = new MongoJobStore(client.db(options.db), options.jobsCollection);
    await store.init();
    return new QueueGroup(store, options, owned);
  }

  /** A group over an in-memory store (one process, nothing persisted). */
  static inMemory(options: QueueGroupOptions = {}): QueueGroup {
    return new QueueGroup(new MemoryJobStore(), options);
  }

  /** The queue of this name, created on first use with the group defaults merged with `options`. */
  async get(name: string, options: QueueOptions = {}): Promise<Queue> {
    checkQueueName(name);
    let queue = this.queuesByName.get(name);
    if (!queue) {
      queue = new Queue(this.store, name, { logger: this.logger, ...this.options.defaults, ...options });
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
    await this.store.close();
    await this.ownedClient?.close();
  }
}
