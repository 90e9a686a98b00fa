/**
 * A chaos worker process, forked by the controller (chaos/controller.ts) with an IPC channel.
 * It serves one queue through the severable proxy and writes its jobs' audit through a client
 * of its own that reaches the server directly. Configuration: the JSON in CHAOS_WORKER_CONFIG.
 *
 * Messages to the parent: 'ready' (with the pool's owner), 'connect-retry' (a failed start-up
 * attempt; it is retried with backoff), 'event' (lock losses and quarantines), 'error'
 * (background errors of the queue; counted, not fatal), 'closed' (after a graceful close).
 * From the parent: { kind: 'close', drainTimeoutMs }.
 */
import 'reflect-metadata';
import { MongoClient } from 'mongodb';
import pino from 'pino';
import { QueueGroup, type Queue } from '../lib';
import { RETRY_UNLIMITED } from '../lib/retry/retry-handler';
import { AUDIT_COLLECTION, chaosAudit, type AuditRecord } from '../test/support/chaos-jobs';

/** Configuration of one worker process. */
export interface ChaosWorkerConfig {
  /** URI through the proxy: the queue's traffic. */
  uri: string;
  /** URI of the server itself: the audit's traffic. */
  auditUri: string;
  db: string;
  queue: string;
  workers: number;
  lockTimeoutMs: number;
  heartbeatMs: number;
  reclaimEveryMs: number;
  /** Driver's server selection timeout: how long an operation waits for a reachable server. */
  serverSelectionTimeoutMs: number;
}

export const CHAOS_WORKER_CONFIG_ENV = 'CHAOS_WORKER_CONFIG';

/** Queue events the parent counts. */
export const CHAOS_FORWARDED_EVENTS = ['lock-lost', 'quarantined'] as const;

export type ChaosWorkerMessage =
  | { kind: 'ready'; pid: number; owner: string }
  | { kind: 'connect-retry'; attempt: number; message: string }
  | { kind: 'event'; event: (typeof CHAOS_FORWARDED_EVENTS)[number]; jobId: string }
  | { kind: 'error'; message: string }
  | { kind: 'closed'; pid: number };

export type ChaosParentMessage = { kind: 'close'; drainTimeoutMs: number };

/** Start-up attempts before giving up (the proxy may be cut while a replacement starts). */
const CONNECT_ATTEMPTS = 20;
/** Attempts of the whole start-up (connect, then indexes) when a cut interrupts it. */
const START_ATTEMPTS = 5;

function send(message: ChaosWorkerMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send || !process.connected) return resolve();
    process.send(message, undefined, {}, () => resolve());
  });
}

/**
 * `QueueGroup.connect` with its connection retries; the start-up as a whole (index creation
 * included) is retried too, since a cut may interrupt it after the connection was made.
 */
async function connectWithRetry(config: ChaosWorkerConfig): Promise<QueueGroup> {
  const logger = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
  for (let attempt = 1; ; attempt++) {
    try {
      return await QueueGroup.connect({
        uri: config.uri,
        db: config.db,
        clientOptions: { serverSelectionTimeoutMS: config.serverSelectionTimeoutMs },
        connectRetry: {
          attempts: CONNECT_ATTEMPTS,
          delayMs: 100,
          maxDelayMs: 2_000,
          onRetry: ({ attempt: n, error }) =>
            void send({ kind: 'connect-retry', attempt: n, message: error.message }),
        },
        logger,
        // Retries at once (drover's default backs off 1 s, 2 s...): the run's time bound counts on it.
        retry: { maxRetryTimeMs: RETRY_UNLIMITED, retryBackoff: 0 },
        defaults: {
          workers: config.workers,
          lockTimeoutMs: config.lockTimeoutMs,
          heartbeatMs: config.heartbeatMs,
          reclaimEveryMs: config.reclaimEveryMs,
          pollMinMs: 5,
          pollMaxMs: 100,
          drainTimeoutMs: 2_000,
        },
      });
    } catch (err) {
      if (attempt >= START_ATTEMPTS) throw err;
      await send({ kind: 'connect-retry', attempt, message: (err as Error).message });
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }
}

async function main(): Promise<void> {
  if (!process.send) throw new Error('chaos worker: must be forked with an IPC channel');
  const raw = process.env[CHAOS_WORKER_CONFIG_ENV];
  if (!raw) throw new Error(`chaos worker: ${CHAOS_WORKER_CONFIG_ENV} is not set`);
  const config = JSON.parse(raw) as ChaosWorkerConfig;

  const auditClient = await MongoClient.connect(config.auditUri);
  chaosAudit.collection = auditClient.db(config.db).collection<AuditRecord>(AUDIT_COLLECTION);
  const group = await connectWithRetry(config);
  const queue: Queue = await group.get(config.queue);
  for (const event of CHAOS_FORWARDED_EVENTS) {
    queue.on(event, (info: { id: string }) => void send({ kind: 'event', event, jobId: info.id }));
  }
  queue.on('error', (err) => void send({ kind: 'error', message: err.message }));

  let closing: Promise<void> | undefined;
  const close = (drainTimeoutMs: number): Promise<void> => {
    closing ??= (async () => {
      try {
        await group.close({ drainTimeoutMs });
        await auditClient.close();
      } finally {
        await send({ kind: 'closed', pid: process.pid });
        if (process.connected) process.disconnect?.();
        process.exit(0);
      }
    })();
    return closing;
  };
  process.on('message', (msg: ChaosParentMessage) => {
    if (msg?.kind === 'close') void close(msg.drainTimeoutMs);
  });
  // The controller went away: do not linger.
  process.once('disconnect', () => void close(500));

  await queue.start();
  await send({ kind: 'ready', pid: process.pid, owner: queue.owner });
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(
      `chaos worker ${process.pid} failed: ${(err as Error)?.stack ?? String(err)}\n`,
    );
    process.exit(1);
  });
}
