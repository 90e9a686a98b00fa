/**
 * A worker process of the cross-process tracing test (tracing.test.ts): registers its own
 * OpenTelemetry SDK (in-memory exporter), runs one queue, and after every finished job sends the
 * parent the spans finished so far. Closes on a 'close' message or when the parent goes away.
 */
import 'reflect-metadata';
import pino from 'pino';
import { QueueGroup } from '../../lib';
import { FAST } from '../support/backends';
import { TestTracing, type SpanRecord } from '../support/tracing';
import { TEST_URI_ENV } from '../support/server';

/** Name of the environment variable carrying the JSON config. */
export const TRACING_WORKER_ENV = 'DROVER_TRACING_WORKER';

export interface TracingWorkerConfig {
  db: string;
  prefix: string;
  queue: string;
}

/** What the worker tells its parent. */
export type TracingWorkerMessage =
  { kind: 'ready' } | { kind: 'finished'; jobId: string; state: string; spans: SpanRecord[] };

function send(message: TracingWorkerMessage): void {
  if (process.connected) process.send?.(message);
}

async function main(): Promise<void> {
  const config = JSON.parse(process.env[TRACING_WORKER_ENV] ?? '') as TracingWorkerConfig;
  const uri = process.env[TEST_URI_ENV];
  if (!uri) throw new Error(`tracing worker: ${TEST_URI_ENV} is not set`);
  const tracing = new TestTracing();
  const group = await QueueGroup.connect({
    uri,
    db: config.db,
    collectionPrefix: config.prefix,
    logger: pino({ level: process.env.LOG_LEVEL ?? 'silent' }),
    defaults: FAST,
  });
  const queue = await group.get(config.queue);
  const report = (state: string) => (info: { jobId: string }) => {
    send({ kind: 'finished', jobId: info.jobId, state, spans: tracing.spans() });
    tracing.reset();
  };
  queue.on('completed', report('completed'));
  queue.on('failed', report('failed'));
  let closing = false;
  const close = async (): Promise<void> => {
    if (closing) return;
    closing = true;
    await group.close({ drainTimeoutMs: 500 });
    await tracing.shutdown();
    process.exit(0);
  };
  process.on('message', (msg: { kind?: string }) => {
    if (msg?.kind === 'close') void close();
  });
  process.once('disconnect', () => void close());
  await queue.start();
  send({ kind: 'ready' });
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`tracing worker failed: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  });
}
