/**
 * A queue group: named queues over one set of stores, created on demand, closed together; abort
 * by ID across all of them (and, through the store, across processes).
 */
import { connectClient } from '../store/mongo/connect';
import type { MongoClient } from 'mongodb';
import type { Logger } from 'pino';
import { DependencyExtension } from '../dependencies/blocked-jobs';
import { InvalidArgumentError, QueueClosedError } from '../errors';
import type { QueueExtension } from '../extension';
import { QueueFuses } from '../limits/fuses';
import type { ConnectOptions, QueueGroupOptions } from './group-options';
import { ACTIVITY_EVENTS, GroupUpkeep, QueueActivity } from './group-upkeep';
import { PresenceTriggers, presenceSnapshot } from './group-presence';
import { defaultLogger, type QueueOptions } from '../queue/queue-options';
import {
  checkQueueOptionLayers,
  mergeQueueOptions,
  optionsConflict,
  recordableOptions,
  resolveQueueUpkeep,
  type QueueOptionLayers,
  type ResolvedQueueUpkeep,
} from './queue-layers';
import type { QueueRecord } from '../store/queue-store';
import { Queue } from '../queue/queue';
import { Scheduler, type SchedulerOptions } from '../schedules/scheduler';
import { RunHooks } from '../hooks/run-hooks';
import { JobFollower, type FollowOptions } from './job-follower';
import { TimeRangeRequests } from '../time-ranges/time-range-requests';
import { ScopeLocks } from '../scopes/scope-locks';
import { RateLimits } from '../limits/rate-limit';
import { RetryHandler } from '../retry/retry-handler';
import type { AbortOutcome, JobStore } from '../store/job-store';
import { initStores, memoryStores, mongoStores, type Stores } from '../store/store-set';
import { checkAttemptId, checkQueueName } from '../validate';
import { ObserverRelay } from './observer-relay';
import { newOwnerId } from '../runner/runner-pool';
import { ProcessPoller } from '../runner/process-poller';
import { WorkerPresence } from './worker-presence';
import { RollupRecorder } from '../history/rollup-recorder';
import type { WorkerRecord } from '../store/worker-store';

export type { ConnectOptions, QueueGroupOptions } from './group-options';

/** Named queues sharing one set of stores. */
export class QueueGroup {
  private readonly queuesByName = new Map<string, Queue>();
  /** Queues whose record is being written, so that concurrent `get`s share one instance. */
  private readonly opening = new Map<string, Promise<Queue>>();
  private readonly lastActive: QueueActivity;
  /** Automatic prune and discovery passes. */
  private readonly passes: GroupUpkeep;
  private readonly layers: QueueOptionLayers;
  private readonly upkeep: ResolvedQueueUpkeep;
  private readonly now: () => Date;
  private readonly fuses: QueueFuses;
  /** Sees puts, so that a queue only written to counts as active. */
  private readonly activity: QueueExtension;
  private closed = false;
  /** Created by the first `scheduler()` call; stopped by `close`. */
  private schedulerInstance?: Scheduler;
  readonly logger: Logger;
  readonly stores: Stores;
  /** Decides retries for every queue; its monitor runs on every started queue. */
  readonly retry: RetryHandler;
  /** `beforeRun`/`afterRun` hooks of every queue; a waiting hook holds all of them. */
  readonly hooks: RunHooks;
  /** Chunked time-range requests (backfills) run in this group's queues. */
  readonly timeRanges: TimeRangeRequests;
  /** This group's record in the workers collection, while it runs pools. */
  readonly presence: WorkerPresence;
  /** Rewrites `presence` when a wait begins or ends or a queue's pool starts. */
  private readonly presenceTriggers: PresenceTriggers;
  /** Relays to `observers`; last in every queue's list, so `beforeStart` sees only runs. */
  private readonly observerRelay = new ObserverRelay();
  /** Followers made by `follow`, closed with the group. */
  private readonly followers = new Set<JobFollower>();
  /** One poll and one upkeep for all the group's queues (lib/runner/process-poller.ts). */
  private readonly poller: ProcessPoller;
  /** Shared by the queues: its upkeep covers all of them in one pass. */
  private readonly dependencies: DependencyExtension;
  /**
   * Extensions attached after construction (metrics, lib/ops/metrics.ts): every queue, held or
   * opened later, calls their `beforeStart` (verdict ignored: they only observe) and `afterFinish`.
   */
  readonly observers = this.observerRelay.observers;
  /**
   * The history this group keeps: rollups per queue, job type and minute of the runs and outcomes
   * of its queues, flushed to the rollups collection (lib/history/rollup-recorder.ts).
   */
  readonly history: RollupRecorder;

  /**
   * A group over `stores`. Given a bare job store, the other stores are in memory (queue records
   * and fuses then hold in this process only).
   */
  constructor(
    stores: Stores | JobStore,
    private readonly options: QueueGroupOptions = {},
    private readonly ownedClient?: MongoClient,
  ) {
    this.stores = 'jobInsert' in stores ? { ...memoryStores(), jobs: stores } : stores;
    this.logger = options.logger ?? defaultLogger();
    this.retry = new RetryHandler(this.stores.jobs, options.retry, this.logger);
    this.hooks = new RunHooks({ logger: this.logger, ...options.hooks });
    this.timeRanges = new TimeRangeRequests(this, { now: () => this.now(), ...options.timeRanges });
    this.layers = {
      defaults: { logger: this.logger, ...options.defaults },
      patterns: options.patterns,
      queues: options.queues,
    };
    checkQueueOptionLayers(this.layers);
    this.upkeep = resolveQueueUpkeep(options);
    // The store's clock (the database server's for MongoDB) unless one is injected.
    this.now = options.now ?? options.defaults?.now ?? this.stores.jobs.clock.now;
    this.poller = new ProcessPoller(this.stores.jobs, this.logger);
    this.dependencies = new DependencyExtension(this.store, { logger: this.logger });
    this.fuses = new QueueFuses(this.stores.queues, this.now);
    this.activity = { name: 'activity', beforeInsert: async (queue) => this.markActive(queue) };
    this.lastActive = new QueueActivity(this.now, this.upkeep.touchEveryMs, (name, now) => {
      this.stores.queues
        .queueTouch({ name, now })
        .catch((err: unknown) => this.logger.warn({ err, queue: name }, 'queue touch failed'));
    });
    this.presence = new WorkerPresence(
      newOwnerId(),
      this.stores.workers,
      () => presenceSnapshot(this.hooks, this.queuesByName.values()),
      this.now,
      this.logger,
      options.presence,
    );
    this.presenceTriggers = new PresenceTriggers(this.presence, this.hooks);
    this.history = new RollupRecorder(
      this.stores.rollups,
      options.history ?? {},
      this.now,
      this.logger,
    );
    const held = {
      held: this.queuesByName,
      isOpening: (name: string) => this.opening.has(name),
      isClosed: () => this.closed,
      open: (name: string) => this.get(name),
      drop: (name: string) => {
        this.queuesByName.delete(name);
        this.fuses.forget(name);
      },
    };
    this.passes = new GroupUpkeep(held, {
      stores: this.stores,
      activity: this.lastActive,
      presence: this.presence,
      upkeep: this.upkeep,
      now: this.now,
      logger: this.logger,
    });
    this.passes.start();
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
      owned = client = await connectClient(
        options.uri,
        options.clientOptions,
        options.connectRetry,
        options.connectTimeoutMs,
      );
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
    return [
      // First: a put it rejects (cycle, bad dependency) leaves no work for others to undo.
      this.dependencies,
      this.fuses,
      new ScopeLocks(this.stores),
      new RateLimits(this.stores.rates, (name) => this.queuesByName.get(name)?.options.rateLimit),
      this.activity,
      this.retry.monitor,
      // Last: a chunk of a cancelled request ends before hooks refresh anything for it.
      this.timeRanges,
      this.hooks,
      ...(this.options.extensions ?? []),
      this.observerRelay,
      // After the relay, so that observers (metrics) see outcomes no later than before.
      ...(this.history.options.enabled ? [this.history] : []),
    ];
  }

  /**
   * The queue of this name. On first use (and after it was pruned) it is created with the merged
   * options (see `QueueGroupOptions`), its record is written to the queues collection, and its
   * pool is started if `autoStart` matches the name. Asked again, it is the same queue: options
   * given then must agree with those it runs with (QueueOptionsConflictError otherwise; ask
   * without options to get it as it is). Do not keep the instance across idle periods when
   * pruning is on: a pruned queue is closed.
   */
  async get(name: string, options: QueueOptions = {}): Promise<Queue> {
    checkQueueName(name);
    this.assertOpen(name);
    const existing = this.queuesByName.get(name);
    if (existing) {
      const conflict = optionsConflict(name, existing.options, options);
      if (conflict) throw conflict;
      this.markActive(name);
      return existing;
    }
    let opening = this.opening.get(name);
    if (!opening) {
      opening = this.open(name, options).finally(() => this.opening.delete(name));
      this.opening.set(name, opening);
      return opening;
    }
    const queue = await opening;
    const conflict = optionsConflict(name, queue.options, options);
    if (conflict) throw conflict;
    return queue;
  }

  private async open(name: string, options: QueueOptions): Promise<Queue> {
    const queue = new Queue(this.store, name, mergeQueueOptions(this.layers, name, options), {
      extensions: this.extensions(),
      retry: this.retry,
      poller: this.poller,
    });
    const record = await this.stores.queues.queueOpen({
      name,
      options: recordableOptions(queue.options),
      now: this.now(),
    });
    if (this.closed) {
      await queue.close();
      throw new QueueClosedError(name);
    }
    this.adopt(name, queue, record);
    if (this.upkeep.autoStart?.(name)) await queue.start();
    return queue;
  }

  /** Holds a queue under its name, with the fuse state of its record, and follows its activity. */
  private adopt(name: string, queue: Queue, record: QueueRecord): void {
    this.fuses.apply(name, record);
    this.queuesByName.set(name, queue);
    this.lastActive.opened(name);
    const active = () => this.markActive(name);
    for (const event of ACTIVITY_EVENTS) queue.on(event, active);
    this.presenceTriggers.follow(queue);
  }

  /** Notes activity of a held queue (a late event of a pruned one does not count). */
  private markActive(name: string): void {
    if (this.queuesByName.has(name)) this.lastActive.mark(name);
  }

  /**
   * Registers an existing queue (built with this group's job store) under its name, as if `get`
   * had created it: it gets a record, is closed with the group and may be pruned. It runs with
   * the extensions it was built with, so the group's fuses hold for it only if they are among
   * them. Throws InvalidArgumentError if another queue holds the name.
   */
  async put(name: string, queue: Queue): Promise<void> {
    checkQueueName(name);
    this.assertOpen(name);
    if (!(queue instanceof Queue)) throw new InvalidArgumentError('put expects a Queue');
    if (queue.name !== name) {
      throw new InvalidArgumentError(`queue "${queue.name}" cannot be registered as "${name}"`);
    }
    if (queue.store !== this.store) {
      throw new InvalidArgumentError(`queue "${name}" uses another job store than the group`);
    }
    const taken = () => {
      const held = this.queuesByName.get(name);
      if ((held && held !== queue) || this.opening.has(name)) {
        throw new InvalidArgumentError(`the group already holds a queue named "${name}"`);
      }
      return held === queue;
    };
    if (taken()) return;
    const options = recordableOptions(queue.options);
    const record = await this.stores.queues.queueOpen({ name, options, now: this.now() });
    this.assertOpen(name);
    if (!taken()) this.adopt(name, queue, record);
  }

  /** Names of the queues this group holds in this process. */
  queues(): string[] {
    return [...this.queuesByName.keys()];
  }

  /** How many queues this group holds in this process. */
  len(): number {
    return this.queuesByName.size;
  }

  /** Names of every queue recorded in the queues collection, by any process, in name order. */
  async discover(): Promise<string[]> {
    return this.passes.discover();
  }

  /** The stored record of a queue (creation, activity, fuses, options), or undefined. */
  async queueInfo(name: string): Promise<QueueRecord | undefined> {
    checkQueueName(name);
    return (await this.stores.queues.queueGet(name)) ?? undefined;
  }

  /**
   * One pass of `autoStart` (it runs every `discoverEveryMs`): opens and starts the recorded
   * queues that match it and are not held here, if they have waiting work or were active within
   * `pruneIdleMs`. Returns the names started.
   */
  async startDiscovered(): Promise<string[]> {
    return this.passes.startDiscovered();
  }

  /**
   * Stops and drops the queues held here that have no waiting or running job (in any process)
   * and no activity here for `idleMs` (default `pruneIdleMs`). Nothing is deleted: jobs and
   * records stay, and `get` creates the queue again. Returns the names pruned.
   */
  async prune(options: { idleMs?: number } = {}): Promise<string[]> {
    return this.passes.prune(options);
  }

  /**
   * Pauses a queue in every process: no pool claims from it (here at once, elsewhere at the next
   * fuse refresh, one of the upkeep passes run in turn every `reclaimEveryMs`); its jobs stay
   * pending and counted. Works before the queue is first opened.
   */
  async pause(name: string): Promise<QueueRecord> {
    return this.fuses.pause(name);
  }

  /** Resumes a paused queue; undefined when it has no record. */
  async resume(name: string): Promise<QueueRecord | undefined> {
    return this.fuses.resume(name);
  }

  /** Stops claims of one job type in a queue, in every process; its jobs stay pending. */
  async pauseType(name: string, type: string): Promise<QueueRecord> {
    return this.fuses.pauseType(name, type);
  }

  /** Resumes claims of a paused job type; undefined when the queue has no record. */
  async resumeType(name: string, type: string): Promise<QueueRecord | undefined> {
    return this.fuses.resumeType(name, type);
  }

  private assertOpen(name: string): void {
    if (this.closed) throw new QueueClosedError(name);
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
    return this.store.jobRequestAbort(doc._id, this.now());
  }

  /**
   * The group's scheduler of periodic and cron jobs (one per group), created on the first call
   * with `options` (later calls return it as is). Call `start()` on it to run its loop; the group
   * stops it on `close`.
   */
  scheduler(options: SchedulerOptions = {}): Scheduler {
    this.schedulerInstance ??= new Scheduler(this, { ...options, now: options.now ?? this.now });
    return this.schedulerInstance;
  }

  /**
   * Follows the jobs of `options.queue` (default: every queue recorded by any process) through
   * the database: state changes made by any process become typed events (`claimed`,
   * `completed`...), as listeners or an async iterable. Closed with the group.
   */
  follow(options: FollowOptions = {}): JobFollower {
    this.assertOpen('follow');
    const queues = options.queue === undefined ? () => this.discover() : [options.queue].flat();
    const follower: JobFollower = new JobFollower(
      this.store,
      queues,
      { logger: this.logger, ...options, since: options.since ?? this.now() },
      () => this.followers.delete(follower),
    );
    this.followers.add(follower);
    return follower.start();
  }

  /**
   * The live workers of the deployment: one record per group running pools in any process
   * (host, pid, queues with concurrency and running jobs, and the state a `beforeRun` hook holds
   * them in, e.g. `auth-required`), of one queue when given.
   */
  async workers(options: { queue?: string } = {}): Promise<WorkerRecord[]> {
    const queue = options.queue === undefined ? undefined : checkQueueName(options.queue);
    return this.stores.workers.workerList({ now: this.now(), queue });
  }

  /** Closes every queue (gracefully) and the client the group opened. */
  async close(options: { drainTimeoutMs?: number } = {}): Promise<void> {
    // First, so that no scheduled job is put into a queue that is closing.
    await this.schedulerInstance?.stop();
    this.closed = true;
    // Passes and opens under way see `closed` and stop; wait so no queue starts after this.
    await this.passes.stop();
    await Promise.allSettled([...this.opening.values()]);
    await Promise.all([...this.queuesByName.values()].map((q) => q.close(options)));
    // After the queues: their last outcomes are in the final flush.
    await this.history.close();
    this.hooks.close();
    await this.presence.close();
    await Promise.all([...this.followers].map((f) => f.close()));
    this.queuesByName.clear();
    this.lastActive.clear();
    await this.ownedClient?.close();
  }
}
