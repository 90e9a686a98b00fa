/**
 * Agenda 6 with its MongoDB backend (`@agendajs/mongo-backend`), tuned for throughput as its
 * documentation allows (see bench/README.md): a short `processEvery`, `maxConcurrency` and
 * `defaultConcurrency` equal to the concurrency under test, a lock limit giving each process a
 * small prefetch, and a constant zero-delay backoff with 2 retries (3 attempts). In one process
 * (`local`) it gets the in-memory notification channel, so a saved job is picked up at once.
 */
import type { Db, MongoClient } from 'mongodb';
import { meteredMongoClient } from '../meter';
import { importPackage, packageVersion, resolvePackage } from '../modules';
import {
  MAX_ATTEMPTS,
  type ConsumerHooks,
  type JobData,
  type Producer,
  type SystemDriver,
  type Target,
} from './types';

export const AGENDA_BACKEND_PACKAGE = '@agendajs/mongo-backend';
const JOB_NAME = 'bench-job';

/** Tuning, settable from the command line (see options.ts). */
export const agendaTuning = {
  /** Polling interval of the job processor. */
  processEveryMs: 50,
  /** Jobs one process may hold locked (running + prefetched), as a multiple of concurrency. */
  lockLimitFactor: 2,
};

// The few parts of Agenda's API used here (its types live in an ESM-only package).
interface AgendaJob {
  attrs: { data: JobData; nextRunAt?: Date | null; failCount?: number | null };
}
interface AgendaInstance {
  readonly ready: Promise<void>;
  define(
    name: string,
    fn: (job: AgendaJob) => Promise<void>,
    options: { concurrency: number; backoff: unknown },
  ): void;
  now(name: string, data: JobData): Promise<unknown>;
  start(): Promise<void>;
  stop(closeConnection?: boolean): Promise<void>;
  on(event: 'complete', listener: (job: AgendaJob) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
}
interface AgendaModule {
  Agenda: new (options: Record<string, unknown>) => AgendaInstance;
  constant(options: { delay: number; maxRetries: number }): unknown;
  InMemoryNotificationChannel: new () => unknown;
}
interface BackendModule {
  MongoBackend: new (config: { mongo: Db; collection?: string }) => unknown;
}

async function modules(): Promise<[AgendaModule, BackendModule]> {
  return Promise.all([
    importPackage<AgendaModule>('agenda'),
    importPackage<BackendModule>(AGENDA_BACKEND_PACKAGE),
  ]);
}

interface Opened {
  client: MongoClient;
  agenda: AgendaInstance;
}

async function open(
  target: Target,
  concurrency: number,
  hooks: ConsumerHooks | undefined,
  local: boolean,
): Promise<Opened> {
  const [{ Agenda, constant, InMemoryNotificationChannel }, { MongoBackend }] = await modules();
  const client = await meteredMongoClient(target.mongoUri);
  const backend = new MongoBackend({ mongo: client.db(target.db) });
  const agenda = new Agenda({
    backend,
    name: `bench-${process.pid}`,
    processEvery: agendaTuning.processEveryMs,
    maxConcurrency: concurrency,
    defaultConcurrency: concurrency,
    // 0 means no limit in Agenda.
    lockLimit: concurrency * agendaTuning.lockLimitFactor,
    ...(local ? { notificationChannel: new InMemoryNotificationChannel() } : {}),
  });
  agenda.on('error', () => {});
  if (hooks) {
    agenda.define(
      JOB_NAME,
      async (job) => {
        hooks.started(job.attrs.data.seq);
        if (job.attrs.data.fail) throw new Error('bench: planned failure');
      },
      { concurrency, backoff: constant({ delay: 0, maxRetries: MAX_ATTEMPTS - 1 }) },
    );
    // 'complete' follows the write that records the run; no next run means a final outcome
    // (failCount is reset to 0 by a success).
    agenda.on('complete', (job) => {
      if (job.attrs.nextRunAt) return;
      hooks.finished(job.attrs.data.seq, !job.attrs.failCount);
    });
  }
  await agenda.ready;
  return { client, agenda };
}

function producerOf({ client, agenda }: Opened, started: () => boolean): Producer {
  return {
    put: async (data) => {
      await agenda.now(JOB_NAME, data);
    },
    // Agenda has no bulk insert: the jobs are saved concurrently, one insert each.
    putMany: async (jobs) => {
      await Promise.all(jobs.map((data) => agenda.now(JOB_NAME, data)));
    },
    close: async () => {
      if (started()) await agenda.stop(false);
      await client.close();
    },
  };
}

export const agendaDriver: SystemDriver = {
  name: 'agenda',
  unavailable: () =>
    resolvePackage(AGENDA_BACKEND_PACKAGE)
      ? undefined
      : `${AGENDA_BACKEND_PACKAGE} is not installed (Agenda 6 keeps its MongoDB backend in a ` +
        `separate package); add it to devDependencies or point DROVER_BENCH_MODULES at an install`,
  producer: async (target) => producerOf(await open(target, 1, undefined, false), () => false),
  consumer: async (target, concurrency, hooks) => {
    const { client, agenda } = await open(target, concurrency, hooks, false);
    let started = false;
    return {
      start: async () => {
        started = true;
        await agenda.start();
      },
      close: async () => {
        if (started) await agenda.stop(false);
        await client.close();
      },
    };
  },
  local: async (target, concurrency, hooks) => {
    const opened = await open(target, concurrency, hooks, true);
    let started = false;
    return {
      ...producerOf(opened, () => started),
      start: async () => {
        started = true;
        await opened.agenda.start();
      },
    };
  },
  drop: async (target, admin) => {
    await admin.mongo.db(target.db).dropDatabase();
  },
  settings: () => ({
    processEveryMs: agendaTuning.processEveryMs,
    maxConcurrency: 'C',
    defaultConcurrency: 'C',
    'define concurrency': 'C',
    lockLimit: agendaTuning.lockLimitFactor ? `${agendaTuning.lockLimitFactor} × C` : '0 (none)',
    defaultLockLifetimeMs: 600_000,
    backoff: `constant({ delay: 0, maxRetries: ${MAX_ATTEMPTS - 1} })`,
    'same-process notifications': 'InMemoryNotificationChannel',
  }),
  versions: () => ({
    agenda: packageVersion('agenda'),
    [AGENDA_BACKEND_PACKAGE]: packageVersion(AGENDA_BACKEND_PACKAGE),
  }),
};
