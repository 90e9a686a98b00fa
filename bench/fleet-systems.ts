/**
 * The fleet benchmark's view of each system: one process serving `queues` named queues at the
 * system's documented defaults (no tuning: an idle fleet runs with what users get), every
 * MongoDB or Redis command counted by bench/meter.ts.
 *
 * - drover: one `QueueGroup.connect`, `group.get(name)` and `start()` per queue, defaults.
 * - Agenda 6: one Agenda with its MongoDB backend, one job name per queue (Agenda's unit of
 *   work), default `processEvery` (5 s) and lock settings.
 * - BullMQ: one `Worker` per queue (BullMQ's unit), default options (`drainDelay` 5 s).
 */
import 'reflect-metadata';
import pino from 'pino';
import type { Db } from 'mongodb';
import { BaseJob, JobType, QueueGroup } from '../lib';
import { meteredMongoClient } from './meter';
import { importPackage, packageVersion, resolvePackage } from './modules';
import { AGENDA_BACKEND_PACKAGE } from './systems/agenda';
import type { SystemName, Target } from './systems/types';

/** What a fleet process reports from its handler: job `seq` of queue `queue` began. */
export type StartedHook = (seq: number) => void;

/** A process serving many queues; `put` is the producer side of the latency runs. */
export interface FleetNode {
  close(): Promise<void>;
}

export interface FleetProducer {
  put(queue: string, seq: number): Promise<void>;
  close(): Promise<void>;
}

/** Name of queue `i` of a fleet run. */
export function fleetQueue(target: Target, i: number): string {
  return `${target.queue}_${i}`;
}

let started: StartedHook = () => {};

@JobType('fleet-job')
class FleetJob extends BaseJob {
  seq = 0;
  async run(): Promise<void> {
    started(this.seq);
  }
}

async function droverGroup(target: Target): Promise<QueueGroup> {
  const client = await meteredMongoClient(target.mongoUri);
  const group = await QueueGroup.connect({
    client,
    db: target.db,
    logger: pino({ level: 'silent' }),
  });
  const close = group.close.bind(group);
  group.close = async (options) => {
    await close(options);
    await client.close();
  };
  return group;
}

const drover = {
  async node(target: Target, queues: number, hook: StartedHook): Promise<FleetNode> {
    started = hook;
    const group = await droverGroup(target);
    // Opened a few at a time: each open writes the queue's record.
    for (let i = 0; i < queues; i += 50) {
      const batch = Array.from({ length: Math.min(50, queues - i) }, (_, j) => i + j);
      await Promise.all(batch.map(async (k) => (await group.get(fleetQueue(target, k))).start()));
    }
    return { close: () => group.close({ drainTimeoutMs: 1_000 }) };
  },
  async producer(target: Target): Promise<FleetProducer> {
    const group = await droverGroup(target);
    return {
      put: async (queue, seq) => (await group.get(queue)).put(FleetJob.create({ seq })),
      close: () => group.close(),
    };
  },
};

// The few parts of Agenda's API used here (its types live in an ESM-only package).
interface AgendaInstance {
  readonly ready: Promise<void>;
  define(name: string, fn: (job: { attrs: { data: { seq: number } } }) => Promise<void>): void;
  now(name: string, data: { seq: number }): Promise<unknown>;
  start(): Promise<void>;
  stop(closeConnection?: boolean): Promise<void>;
  on(event: 'error', listener: (err: Error) => void): this;
}
interface AgendaModules {
  Agenda: new (options: Record<string, unknown>) => AgendaInstance;
  MongoBackend: new (config: { mongo: Db }) => unknown;
}

async function agendaOpen(
  target: Target,
): Promise<{ agenda: AgendaInstance; close(): Promise<void> }> {
  const { Agenda } = await importPackage<{ Agenda: AgendaModules['Agenda'] }>('agenda');
  const { MongoBackend } = await importPackage<{ MongoBackend: AgendaModules['MongoBackend'] }>(
    AGENDA_BACKEND_PACKAGE,
  );
  const client = await meteredMongoClient(target.mongoUri);
  const agenda = new Agenda({ backend: new MongoBackend({ mongo: client.db(target.db) }) });
  agenda.on('error', () => {});
  await agenda.ready;
  return { agenda, close: () => client.close() };
}

const agenda = {
  async node(target: Target, queues: number, hook: StartedHook): Promise<FleetNode> {
    const { agenda: a, close } = await agendaOpen(target);
    for (let i = 0; i < queues; i++) {
      a.define(fleetQueue(target, i), async (job) => hook(job.attrs.data.seq));
    }
    await a.start();
    return {
      close: async () => {
        await a.stop(false);
        await close();
      },
    };
  },
  async producer(target: Target): Promise<FleetProducer> {
    const { agenda: a, close } = await agendaOpen(target);
    return {
      put: async (queue, seq) => void (await a.now(queue, { seq })),
      close,
    };
  },
};

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

const bullmq = {
  async node(target: Target, queues: number, hook: StartedHook): Promise<FleetNode> {
    const workers: { waitUntilReady(): Promise<unknown>; close(): Promise<void> }[] = [];
    for (let i = 0; i < queues; i++) {
      const worker = new (bull().Worker)(
        fleetQueue(target, i),
        async (job: { data: { seq: number } }) => hook(job.data.seq),
        { connection: connection(target) },
      );
      worker.on('error', () => {});
      workers.push(worker);
    }
    await Promise.all(workers.map((w) => w.waitUntilReady()));
    return { close: async () => void (await Promise.all(workers.map((w) => w.close()))) };
  },
  async producer(target: Target): Promise<FleetProducer> {
    const queues = new Map<string, InstanceType<BullModule['Queue']>>();
    return {
      put: async (name, seq) => {
        let q = queues.get(name);
        if (!q) {
          q = new (bull().Queue)(name, { connection: connection(target) });
          queues.set(name, q);
        }
        await q.add('fleet-job', { seq });
      },
      close: async () => void (await Promise.all([...queues.values()].map((q) => q.close()))),
    };
  },
};

export const FLEET_SYSTEMS: Record<
  SystemName,
  {
    node(target: Target, queues: number, hook: StartedHook): Promise<FleetNode>;
    producer(target: Target): Promise<FleetProducer>;
  }
> = { drover, agenda, bullmq };

/** Why a system cannot run here, or undefined. */
export function fleetUnavailable(system: SystemName, target: Target): string | undefined {
  if (system === 'agenda' && !resolvePackage(AGENDA_BACKEND_PACKAGE)) {
    return `${AGENDA_BACKEND_PACKAGE} is not installed`;
  }
  if (system === 'bullmq' && !target.redis) return 'no redis-server on this machine';
  return undefined;
}

/** The settings each system runs with (its defaults), recorded with the results. */
export const FLEET_SETTINGS: Record<SystemName, Record<string, string>> = {
  drover: { options: 'defaults (QueueGroup.connect, group.get(name))' },
  agenda: { options: 'defaults (processEvery 5 s)', queues: 'one job name per queue' },
  bullmq: { options: 'defaults (drainDelay 5 s)', queues: 'one Worker per queue' },
};

export function fleetVersions(): Record<string, string> {
  return {
    agenda: packageVersion('agenda'),
    bullmq: packageVersion('bullmq'),
    mongodb: packageVersion('mongodb'),
  };
}
