/**
 * A worker process for the scope-lock process test. Like worker.ts (same messages, same close
 * protocol, see its header), but its group runs over the full store bundle (`mongoStores`), so
 * scope locks live in MongoDB and are shared with the other processes; worker.ts builds its group
 * from a bare job store, whose scope locks would be in this process's memory only.
 *
 * Forked with `DROVER_SCOPE_WORKER_CONFIG` set to a JSON `ScopeWorkerConfig`.
 */
import 'reflect-metadata';
import { MongoClient } from 'mongodb';
import pino from 'pino';
import { QueueGroup } from '../../lib';
import { initStores, mongoStores } from '../../lib/stores';
import { runLog } from '../support/jobs';
import { TEST_URI_ENV } from '../support/server';
import { FORWARDED_EVENTS, type ParentMessage, type WorkerMessage } from './worker';

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
}

export const SCOPE_WORKER_CONFIG_ENV = 'DROVER_SCOPE_WORKER_CONFIG';

function send(message: WorkerMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send || !process.connected) return resolve();
    process.send(message, undefined, {}, () => resolve());
  });
}

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
    },
  });
  const queue = await group.get(config.queue);
  runLog.sink = (record) => void send({ kind: 'run', record });
  for (const event of FORWARDED_EVENTS) {
    queue.on(event, (info: { jobId: string }) => void send({ kind: 'event', event, info }));
  }
  queue.on('error', (err) => void send({ kind: 'error', message: err.message }));

  let closing: Promise<void> | undefined;
  const close = (drainTimeoutMs?: number): Promise<void> => {
    closing ??= (async () => {
      try {
        await group.close(drainTimeoutMs === undefined ? {} : { drainTimeoutMs });
        await client.close();
      } finally {
        await send({ kind: 'closed', pid: process.pid });
        if (process.connected) process.disconnect?.();
        process.exit(0);
      }
    })();
    return closing;
  };
  process.on('message', (msg: ParentMessage) => {
    if (msg && msg.kind === 'close') void close(msg.drainTimeoutMs);
  });
  process.once('SIGTERM', () => void close());
  process.once('disconnect', () => void close(500));

  await queue.start();
  await send({ kind: 'ready', pid: process.pid, owner: queue.owner });
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(
      `scope-worker ${process.pid} failed: ${(err as Error)?.stack ?? String(err)}\n`,
    );
    process.exit(1);
  });
}
