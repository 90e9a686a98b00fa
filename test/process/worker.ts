/**
 * A worker process for the multi-process tests. Forked by test/process/harness.ts with
 * `child_process.fork('dist/test/process/worker.js')` (an IPC channel is required).
 *
 * Configuration comes from the environment (see `WorkerConfig` and `configFromEnv`); the parent
 * sets `DROVER_WORKER_CONFIG` to a JSON object. The URI defaults to DROVER_TEST_URI, which the
 * mocha root hook exports to children.
 *
 * Messages to the parent (all plain JSON):
 *   { kind: 'ready', pid, owner }                      after the queue has started
 *   { kind: 'run', record: RunRecord }                 every job run recorded in runLog
 *   { kind: 'event', event, info }                     queue events (claimed, completed, ...)
 *   { kind: 'error', message }                         background errors of the queue
 *   { kind: 'closed', pid }                            after a graceful close, just before exit
 * Messages from the parent: { kind: 'close', drainTimeoutMs? }. SIGTERM and a lost IPC channel
 * (the parent died) also close the worker gracefully.
 */
import 'reflect-metadata';
import { MongoClient } from 'mongodb';
import pino from 'pino';
import { MongoJobStore } from '../../lib/store/mongo/job-store';
import { QueueGroup, type Queue } from '../../lib';
import { runLog, type RunRecord } from '../support/jobs';
import { TEST_URI_ENV } from '../support/server';

/** Configuration of one worker process. */
export interface WorkerConfig {
  uri?: string;
  db: string;
  collection: string;
  queue: string;
  workers: number;
  lockTimeoutMs: number;
  heartbeatMs: number;
  reclaimEveryMs?: number;
  pollMinMs?: number;
  pollMaxMs?: number;
  drainTimeoutMs?: number;
  maxLockLosses?: number;
}

/** Name of the environment variable carrying the JSON config. */
export const WORKER_CONFIG_ENV = 'DROVER_WORKER_CONFIG';

/** Events forwarded to the parent. */
export const FORWARDED_EVENTS = [
  'claimed',
  'completed',
  'failed',
  'retrying',
  'aborted',
  'lock-lost',
  'expired',
  'released',
  'quarantined',
] as const;

export type ForwardedEvent = (typeof FORWARDED_EVENTS)[number];

/** A message a worker sends to its parent. */
export type WorkerMessage =
  | { kind: 'ready'; pid: number; owner: string }
  | { kind: 'run'; record: RunRecord }
  | { kind: 'event'; event: ForwardedEvent; info: { jobId: string } & Record<string, unknown> }
  | { kind: 'error'; message: string }
  | { kind: 'closed'; pid: number };

/** A message a parent sends to a worker. */
export type ParentMessage = { kind: 'close'; drainTimeoutMs?: number };

/** Reads the config from DROVER_WORKER_CONFIG (JSON) or, failing that, from argv[2] (JSON). */
export function configFromEnv(): WorkerConfig {
  const raw = process.env[WORKER_CONFIG_ENV] ?? process.argv[2];
  if (!raw)
    throw new Error(`worker: set ${WORKER_CONFIG_ENV} (or pass the JSON config as argv[2])`);
  const config = JSON.parse(raw) as WorkerConfig;
  for (const key of ['db', 'collection', 'queue'] as const) {
    if (typeof config[key] !== 'string' || !config[key])
      throw new Error(`worker: config.${key} missing`);
  }
  return config;
}

/** Sends a message to the parent; resolves once it is handed over (or at once without IPC). */
export function send(message: WorkerMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send || !process.connected) return resolve();
    process.send(message, undefined, {}, () => resolve());
  });
}

async function main(): Promise<void> {
  if (!process.send) throw new Error('worker: must be forked with an IPC channel');
  const config = configFromEnv();
  const uri = config.uri ?? process.env[TEST_URI_ENV];
  if (!uri) throw new Error(`worker: no uri in config or ${TEST_URI_ENV}`);

  const client = await MongoClient.connect(uri);
  const store = new MongoJobStore(client.db(config.db), config.collection);
  await store.init();
  const logger = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
  const group = new QueueGroup(store, {
    logger,
    defaults: {
      workers: config.workers,
      lockTimeoutMs: config.lockTimeoutMs,
      heartbeatMs: config.heartbeatMs,
      reclaimEveryMs: config.reclaimEveryMs,
      pollMinMs: config.pollMinMs,
      pollMaxMs: config.pollMaxMs,
      drainTimeoutMs: config.drainTimeoutMs,
      maxLockLosses: config.maxLockLosses,
    },
  });
  await serveWorker(group, client, config.queue);
}

/**
 * The part every test worker shares once its group is built: forwards runs, events and errors to
 * the parent, closes gracefully on a 'close' message, SIGTERM or a lost parent, starts the queue
 * and reports 'ready'.
 */
export async function serveWorker(
  group: QueueGroup,
  client: MongoClient,
  queueName: string,
): Promise<void> {
  const queue: Queue = await group.get(queueName);

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
  // The parent went away (mocha exited, or a test died): do not linger.
  process.once('disconnect', () => void close(500));

  await queue.start();
  await send({ kind: 'ready', pid: process.pid, owner: queue.owner });
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`worker ${process.pid} failed: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  });
}
