/**
 * A worker process for the clock-skew test (clock-skew.test.ts), meant to run under libfaketime
 * (its system clock off by a minute). Its group runs over the full store bundle in MongoDB
 * (scope locks, presence, schedules), with every clock at its default: whatever drover compares
 * across processes must come out right although this process's own clock is wrong.
 *
 * It runs the queue `skew` and a scheduler, and reports to the parent over IPC:
 *   { kind: 'ready', pid, owner, localNow }    after the queue started (localNow: its own clock)
 *   { kind: 'start' | 'end', jobId, pid }      around every SkewJob run
 *   { kind: 'put', jobId }                     just before a put the parent asked for
 * Parent -> worker: { kind: 'put', jobId, delayMs } puts a SkewJob delayed by `delayMs` (a delay
 * measured by this process); the close message of test/support/fork.ts.
 *
 * Forked with `DROVER_SKEW_WORKER_CONFIG` set to a JSON `SkewWorkerConfig`.
 */
import 'reflect-metadata';
import { setTimeout as delay } from 'node:timers/promises';
import { MongoClient } from 'mongodb';
import pino from 'pino';
import { BaseJob, JobType, QueueGroup, type JobContext } from '../../lib';
import { initStores, mongoStores } from '../../lib/store/store-set';
import type { CloseMessage } from '../support/fork';
import { TEST_URI_ENV } from '../support/server';

export interface SkewWorkerConfig {
  uri?: string;
  db: string;
  prefix: string;
  workers: number;
  lockTimeoutMs: number;
  heartbeatMs: number;
  pollMaxMs: number;
  presenceEveryMs: number;
}

export const SKEW_WORKER_CONFIG_ENV = 'DROVER_SKEW_WORKER_CONFIG';
export const SKEW_QUEUE = 'skew';

export type SkewMessage =
  | { kind: 'ready'; pid: number; owner: string; localNow: number }
  | { kind: 'start' | 'end'; jobId: string; pid: number }
  | { kind: 'put'; jobId: string };

export type SkewCommand = { kind: 'put'; jobId: string; delayMs: number } | CloseMessage;

function send(msg: SkewMessage): void {
  if (process.connected) process.send?.(msg);
}

/** Reports its start and end to the parent; runs `ms`. */
@JobType('test-skew')
export class SkewJob extends BaseJob {
  ms = 50;
  async run(ctx: JobContext): Promise<void> {
    send({ kind: 'start', jobId: this.id, pid: process.pid });
    try {
      await delay(this.ms, undefined, { signal: ctx.signal });
    } finally {
      send({ kind: 'end', jobId: this.id, pid: process.pid });
    }
  }
}

async function main(): Promise<void> {
  const raw = process.env[SKEW_WORKER_CONFIG_ENV];
  if (!process.send || !raw) throw new Error('skew-worker: fork it with IPC and its config');
  const config = JSON.parse(raw) as SkewWorkerConfig;
  const uri = config.uri ?? process.env[TEST_URI_ENV];
  if (!uri) throw new Error(`skew-worker: no uri in config or ${TEST_URI_ENV}`);
  const client = await MongoClient.connect(uri);
  const stores = mongoStores(client.db(config.db), { prefix: config.prefix });
  await initStores(stores);
  const group = new QueueGroup(stores, {
    logger: pino({ level: process.env.LOG_LEVEL ?? 'silent' }),
    defaults: {
      workers: config.workers,
      lockTimeoutMs: config.lockTimeoutMs,
      heartbeatMs: config.heartbeatMs,
      pollMaxMs: config.pollMaxMs,
      reclaimEveryMs: 200,
    },
    presence: { everyMs: config.presenceEveryMs },
  });
  const queue = await group.get(SKEW_QUEUE);
  const scheduler = group.scheduler({ tickEveryMs: 100 });
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      try {
        await group.close({ drainTimeoutMs: 500 });
        await client.close();
      } finally {
        process.exit(0);
      }
    })());
  process.on('message', (msg: SkewCommand) => {
    if (msg.kind === 'close') void close();
    else if (msg.kind === 'put') {
      send({ kind: 'put', jobId: msg.jobId });
      void queue.put(SkewJob.create({ ms: 50 }, { id: msg.jobId, delayMs: msg.delayMs }));
    }
  });
  process.once('disconnect', () => void close());
  await queue.start();
  scheduler.start();
  send({ kind: 'ready', pid: process.pid, owner: queue.owner, localNow: Date.now() });
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`skew-worker ${process.pid}: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  });
}
