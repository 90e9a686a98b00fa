/**
 * drover through its public API: `QueueGroup.connect`, `group.get(name, { workers })`, `put`,
 * `putMany`, `start`, the 'completed' and 'failed' events, `group.close`. Queue options are the
 * defaults but `workers`; retries have no backoff (`retry.retryBackoff: 0`, as the other systems
 * are set up; drover's default is 1 s, 2 s, 4 s...).
 */
import 'reflect-metadata';
import pino from 'pino';
import type { MongoClient } from 'mongodb';
import { BaseJob, JobType, QueueGroup, type Queue } from '../../lib';
import { meteredMongoClient } from '../meter';
import { packageVersion } from '../modules';
import { projectRoot } from '../../test/support/server';
import {
  MAX_ATTEMPTS,
  type ConsumerHooks,
  type JobData,
  type Producer,
  type SystemDriver,
  type Target,
} from './types';

/** The hooks of the consumer running in this process (one at a time). */
let activeHooks: ConsumerHooks | undefined;

@JobType('bench-job')
class BenchJob extends BaseJob {
  seq = 0;
  fail = false;
  async run(): Promise<void> {
    activeHooks?.started(this.seq);
    // Any error is retried while attempts remain.
    if (this.fail) throw new Error('bench: planned failure');
  }
}

function jobOf(data: JobData): BenchJob {
  return BenchJob.create(
    { seq: data.seq, fail: data.fail },
    { id: `j${data.seq}`, maxAttempts: MAX_ATTEMPTS },
  );
}

/** Sequence number of a job ID or attempt ID (`j12`, `j12#2`). */
function seqOf(jobId: string): number {
  return Number(jobId.slice(1).split('#')[0]);
}

interface Opened {
  /** None on the in-memory store. */
  client?: MongoClient;
  group: QueueGroup;
  queue: Queue;
}

async function open(target: Target, workers?: number): Promise<Opened> {
  const logger = pino({ level: 'silent' });
  // Retries at once, as Agenda's and BullMQ's in this benchmark (no backoff between attempts).
  const retry = { retryBackoff: 0 };
  const client = target.memory ? undefined : await meteredMongoClient(target.mongoUri);
  const group = client
    ? await QueueGroup.connect({ client, db: target.db, logger, retry })
    : QueueGroup.inMemory({ logger, retry });
  const queue = await group.get(target.queue, workers === undefined ? {} : { workers });
  return { client, group, queue };
}

function producerOf({ client, group, queue }: Opened): Producer {
  return {
    put: (data) => queue.put(jobOf(data)),
    putMany: (jobs) => queue.putMany(jobs.map(jobOf)),
    close: async () => {
      await group.close();
      await client?.close();
    },
  };
}

function listen(queue: Queue, hooks: ConsumerHooks): void {
  activeHooks = hooks;
  queue.on('completed', (info) => hooks.finished(seqOf(info.id), true));
  queue.on('failed', (info) => hooks.finished(seqOf(info.id), false));
  queue.on('error', () => {});
}

function droverVersion(): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require(`${projectRoot()}/package.json`) as { version: string }).version;
}

export const droverDriver: SystemDriver = {
  name: 'drover',
  unavailable: () => undefined,
  producer: async (target) => producerOf(await open(target)),
  consumer: async (target, concurrency, hooks) => {
    const opened = await open(target, concurrency);
    listen(opened.queue, hooks);
    return {
      start: () => opened.queue.start(),
      close: async () => {
        await opened.group.close({ drainTimeoutMs: 2_000 });
        await opened.client?.close();
        activeHooks = undefined;
      },
    };
  },
  local: async (target, concurrency, hooks) => {
    const opened = await open(target, concurrency);
    listen(opened.queue, hooks);
    const producer = producerOf(opened);
    return {
      ...producer,
      start: () => opened.queue.start(),
      close: async () => {
        await producer.close();
        activeHooks = undefined;
      },
    };
  },
  drop: async (target, admin) => {
    if (!target.memory) await admin.mongo.db(target.db).dropDatabase();
  },
  settings: () => ({
    workers: 'C',
    'other queue options': 'defaults',
    retryBackoff: 'none (group default)',
    maxAttempts: MAX_ATTEMPTS,
  }),
  versions: () => ({ drover: droverVersion(), mongodb: packageVersion('mongodb') }),
};
