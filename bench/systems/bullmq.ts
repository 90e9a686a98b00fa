/**
 * BullMQ on a local Redis, as a reference from another engine: `Queue.add`/`addBulk`, a `Worker`
 * with `concurrency` equal to the concurrency under test, `attempts: 3` without backoff, and
 * every other option at its default (completed jobs are kept, as in the other systems).
 */
import type { Job, Queue as BullQueue, Worker as BullWorker } from 'bullmq';
import { packageVersion } from '../modules';
import {
  MAX_ATTEMPTS,
  type ConsumerHooks,
  type JobData,
  type Producer,
  type SystemDriver,
  type Target,
} from './types';

const JOB_NAME = 'bench-job';

type BullModule = typeof import('bullmq');

function bull(): BullModule {
  // Loaded on use, after the Redis meter has patched ioredis.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('bullmq') as BullModule;
}

function connection(target: Target): { host: string; port: number; maxRetriesPerRequest: null } {
  if (!target.redis) throw new Error('bullmq: no redis server');
  return { host: target.redis.host, port: target.redis.port, maxRetriesPerRequest: null };
}

function producerOf(queue: BullQueue): Producer {
  return {
    put: async (data) => {
      await queue.add(JOB_NAME, data, { attempts: MAX_ATTEMPTS });
    },
    putMany: async (jobs) => {
      await queue.addBulk(
        jobs.map((data) => ({ name: JOB_NAME, data, opts: { attempts: MAX_ATTEMPTS } })),
      );
    },
    close: () => queue.close(),
  };
}

async function openProducer(target: Target): Promise<BullQueue> {
  const queue = new (bull().Queue)(target.queue, { connection: connection(target) });
  await queue.waitUntilReady();
  return queue;
}

async function openWorker(
  target: Target,
  concurrency: number,
  hooks: ConsumerHooks,
): Promise<BullWorker> {
  const worker = new (bull().Worker)(
    target.queue,
    async (job: Job<JobData>) => {
      hooks.started(job.data.seq);
      if (job.data.fail) throw new Error('bench: planned failure');
    },
    { connection: connection(target), concurrency, autorun: false },
  );
  worker.on('completed', (job: Job<JobData>) => hooks.finished(job.data.seq, true));
  worker.on('failed', (job: Job<JobData> | undefined) => {
    if (job && job.attemptsMade >= (job.opts.attempts ?? 1)) hooks.finished(job.data.seq, false);
  });
  worker.on('error', () => {});
  await worker.waitUntilReady();
  return worker;
}

function consumerOf(worker: BullWorker): { start(): Promise<void>; close(): Promise<void> } {
  let running: Promise<void> | undefined;
  return {
    start: async () => {
      running = worker.run().catch(() => {});
    },
    close: async () => {
      await worker.close();
      await running;
    },
  };
}

export const bullmqDriver: SystemDriver = {
  name: 'bullmq',
  unavailable: (target) => (target.redis ? undefined : 'no redis-server on this machine'),
  producer: async (target) => producerOf(await openProducer(target)),
  consumer: async (target, concurrency, hooks) =>
    consumerOf(await openWorker(target, concurrency, hooks)),
  local: async (target, concurrency, hooks) => {
    const queue = await openProducer(target);
    const worker = await openWorker(target, concurrency, hooks);
    const consumer = consumerOf(worker);
    return {
      ...producerOf(queue),
      start: consumer.start,
      close: async () => {
        await consumer.close();
        await queue.close();
      },
    };
  },
  drop: async (_target, admin) => {
    await admin.redis?.flushall();
  },
  settings: () => ({
    concurrency: 'C',
    attempts: MAX_ATTEMPTS,
    backoff: 'none',
    options: 'defaults',
  }),
  versions: () => ({ bullmq: packageVersion('bullmq'), ioredis: packageVersion('ioredis') }),
};
