/**
 * A worker process for the scope-lock process test. Like worker.ts (same messages, same close
 * protocol, see its header), but its group runs over the full store bundle (`mongoStores`), so
 * scope locks live in MongoDB and are shared with the other processes; worker.ts builds its group
 * from a bare job store, whose scope locks would be in this process's memory only.
 *
 * Its presence record (lib/group/worker-presence.ts) and rate-limit windows are in MongoDB too, for the
 * presence and rate-limit process tests.
 *
 * Forked with `DROVER_SCOPE_WORKER_CONFIG` set to a JSON `ScopeWorkerConfig`.
 */
import 'reflect-metadata';
import { MongoClient } from 'mongodb';
import pino from 'pino';
import { QueueGroup, type RateLimit } from '../../lib';
import type { WorkerPresenceOptions } from '../../lib/group/worker-presence';
import { initStores, mongoStores } from '../../lib/store/store-set';
import { TEST_URI_ENV } from '../support/server';
import { serveWorker } from './worker';

/** Configuration of one scope worker. */
export interface ScopeWorkerConfig {
  uri?: string;
  db: string;
  /** Collection prefix of the store bundle. */
  prefix: string;
  queue: string;
  workers: number;
  lockTimeoutMs: number;
  heartbeatMs: number;
  pollMinMs?: number;
  pollMaxMs?: number;
  /** Presence record timing (test/process/presence.test.ts). */
  presence?: WorkerPresenceOptions;
  /** The queue's rate limit (test/process/rate-limit.test.ts). */
  rateLimit?: RateLimit;
}

export const SCOPE_WORKER_CONFIG_ENV = 'DROVER_SCOPE_WORKER_CONFIG';

async function main(): Promise<void> {
  const raw = process.env[SCOPE_WORKER_CONFIG_ENV];
  if (!process.send || !raw) throw new Error('scope-worker: fork it with IPC and its config');
  const config = JSON.parse(raw) as ScopeWorkerConfig;
  const uri = config.uri ?? process.env[TEST_URI_ENV];
  if (!uri) throw new Error(`scope-worker: no uri in config or ${TEST_URI_ENV}`);

  const client = await MongoClient.connect(uri);
  const stores = mongoStores(client.db(config.db), { prefix: config.prefix });
  await initStores(stores);
  const group = new QueueGroup(stores, {
    logger: pino({ level: process.env.LOG_LEVEL ?? 'silent' }),
    defaults: {
      workers: config.workers,
      lockTimeoutMs: config.lockTimeoutMs,
      heartbeatMs: config.heartbeatMs,
      pollMinMs: config.pollMinMs,
      pollMaxMs: config.pollMaxMs,
      rateLimit: config.rateLimit,
    },
    presence: config.presence,
  });
  await serveWorker(group, client, config.queue);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(
      `scope-worker ${process.pid} failed: ${(err as Error)?.stack ?? String(err)}\n`,
    );
    process.exit(1);
  });
}
