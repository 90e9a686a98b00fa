/**
 * Parent side of the multi-process tests: forks worker processes (worker.ts, scope-worker.ts),
 * collects what they report over IPC, and makes sure none outlives the test file; a deployment
 * (`JobsDeployment`) holds what every such test sets up around them. Forking,
 * exits, kills and graceful closes are test/support/fork.ts's (shared with the chaos runs).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { MongoClient } from 'mongodb';
import { QueueGroup, type JobDocument } from '../../lib';
import { MongoJobStore } from '../../lib/store/mongo/job-store';
import type { RunRecord } from '../support/jobs';
import { eventually, testLogger } from '../support/backends';
import { ForkedWorker, ForkedWorkers, forkWorker } from '../support/fork';
import { dropDatabase, testUri, uniqueDbName } from '../support/server';
import {
  WORKER_CONFIG_ENV,
  type ForwardedEvent,
  type WorkerConfig,
  type WorkerMessage,
} from './worker';

/** A worker process and everything it reported. */
export class WorkerHandle extends ForkedWorker<WorkerMessage> {
  readonly runs: RunRecord[] = [];
  readonly events: { event: ForwardedEvent; jobId: string; info: Record<string, unknown> }[] = [];
  readonly errors: string[] = [];
  owner = '';
  ready = false;
  closed = false;

  protected onMessage(msg: WorkerMessage): void {
    switch (msg.kind) {
      case 'ready':
        this.owner = msg.owner;
        this.ready = true;
        break;
      case 'run':
        this.runs.push(msg.record);
        break;
      case 'event':
        this.events.push({ event: msg.event, jobId: msg.info.jobId, info: msg.info });
        break;
      case 'error':
        this.errors.push(msg.message);
        break;
      case 'closed':
        this.closed = true;
        break;
    }
  }

  /** Events of one kind (optionally for one job). */
  eventsOf(
    event: ForwardedEvent,
    jobId?: string,
  ): { jobId: string; info: Record<string, unknown> }[] {
    return this.events.filter(
      (e) => e.event === event && (jobId === undefined || e.jobId === jobId),
    );
  }

  async waitReady(timeoutMs = 30_000): Promise<void> {
    await eventually(
      `worker ${this.pid} ready`,
      () => {
        if (this.exited) {
          throw new Error(
            `worker ${this.pid} exited (${this.exitCode ?? this.exitSignal}) before ready:\n${this.stderr}`,
          );
        }
        return this.ready;
      },
      timeoutMs,
    );
  }
}

/** Forks workers and cleans them all up. */
export class WorkerPool extends ForkedWorkers<WorkerHandle> {
  /** Forks one worker with `config` (the URI defaults to the harness's server). */
  spawn(config: WorkerConfig): WorkerHandle {
    const script = path.join(__dirname, 'worker.js');
    const child = forkWorker(script, WORKER_CONFIG_ENV, { uri: testUri(), ...config });
    return this.add(new WorkerHandle(child));
  }

  /** Every run reported by any worker. */
  runs(): RunRecord[] {
    return this.workers.flatMap((w) => w.runs);
  }

  /** Every event of one kind reported by any worker. */
  eventsOf(event: ForwardedEvent, jobId?: string): { jobId: string; pid: number }[] {
    return this.workers.flatMap((w) =>
      w.eventsOf(event, jobId).map((e) => ({ jobId: e.jobId, pid: w.pid })),
    );
  }
}

/** Counts occurrences of each key. */
export function countBy<T>(items: T[], key: (t: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
}

/** What a test gives a worker of a `JobsDeployment`; the deployment fills in where it connects. */
export type JobsWorkerConfig = Omit<WorkerConfig, 'uri' | 'db' | 'collection' | 'queue'>;

/**
 * The parent side of a process test on the jobs collection alone: a fresh database, its job
 * store, a group that only puts and reads (it never starts a pool) and the worker processes
 * (worker.ts) forked on it. `close` ends the workers (gracefully, then SIGKILL), the group and
 * the client, and drops the database.
 */
export class JobsDeployment {
  readonly dbName: string;
  readonly collection = 'jobs';
  readonly pool = new WorkerPool();
  private opened?: { client: MongoClient; store: MongoJobStore; group: QueueGroup };

  /** `name` names the database; `queue` is the queue the workers run. */
  constructor(
    name: string,
    readonly queue: string,
  ) {
    this.dbName = uniqueDbName(name);
  }

  async open(): Promise<void> {
    const client = await MongoClient.connect(testUri());
    const store = new MongoJobStore(client.db(this.dbName), this.collection);
    await store.init();
    this.opened = { client, store, group: new QueueGroup(store, { logger: testLogger }) };
  }

  private get parts(): { client: MongoClient; store: MongoJobStore; group: QueueGroup } {
    if (!this.opened) throw new Error('open() first');
    return this.opened;
  }

  get store(): MongoJobStore {
    return this.parts.store;
  }

  /** The parent's group: puts and reads, never runs jobs. */
  get group(): QueueGroup {
    return this.parts.group;
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
    await this.opened?.group.close().catch(() => undefined);
    await this.opened?.client.close();
    await dropDatabase(this.dbName);
  }
}
