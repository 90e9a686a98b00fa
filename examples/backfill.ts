/**
 * The backfill workload (a KPI backfill queue): a month of history is split into one-day chunks,
 * run newest first with per-chunk retries; the process "restarts" a third of the way through
 * and a new one adopts the request, running every chunk exactly once; a second request is
 * cancelled midway. Runs on MONGODB_URI, or on an embedded server like `npm run demo`.
 *
 *   npm run build && node dist/examples/backfill.js
 */
import 'reflect-metadata';
import { setTimeout as delay } from 'node:timers/promises';
import { MongoClient } from 'mongodb';
import pino from 'pino';
import {
  JobType,
  QueueGroup,
  RetryableError,
  TimeRangeChunkJob,
  type JobContext,
  type TimeRange,
  type TimeRangeRequests,
} from '../lib';
import { formatTime } from '../lib/time-ranges/time-range-messages';
import { startServer } from '../test/support/server';

const DAY = 24 * 3_600_000;

/** Runs the KPI search of one day (simulated); the search service throttles now and then. */
@JobType('example.kpi-search-chunk')
class KpiSearchChunk extends TimeRangeChunkJob {
  kpi = '';
  async runChunk(range: TimeRange, ctx: JobContext): Promise<void> {
    const day = formatTime(range.earliest).slice(0, 10);
    if (this.kpi === 'cpu.load' && ctx.attempt === 0) order.push(day);
    await delay(40 + Math.random() * 40, undefined, { signal: ctx.signal });
    if (ctx.attempt === 0 && Math.random() < 0.15) {
      throw new RetryableError('search head busy (503)', { retryAfterMs: 100 });
    }
    ctx.logger.debug({ day, kpi: this.kpi }, 'chunk searched');
    runs.set(this.baseJobId, (runs.get(this.baseJobId) ?? 0) + 1);
  }
}

/** Completed runs per chunk ID, to show that none ran twice. */
const runs = new Map<string, number>();
/** Days of the first request, in the order their chunks started. */
const order: string[] = [];

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** A group as one worker process would open it. */
async function openGroup(client: MongoClient, db: string, name: string): Promise<QueueGroup> {
  const group = await QueueGroup.connect({
    client,
    db,
    logger: pino({ level: process.env.LOG_LEVEL ?? 'warn' }),
    defaults: { workers: 3, heartbeatMs: 200, lockTimeoutMs: 3_000, reclaimEveryMs: 250 },
    timeRanges: { reconcileEveryMs: 500 },
  });
  const requests: TimeRangeRequests = group.timeRanges;
  requests.on('started', (e) => say(`[${name}] ${e.name}: running`));
  requests.on('done', (e) => say(`[${name}] ${e.message}`));
  requests.on('failed', (e) => say(`[${name}] ${e.message}`));
  requests.on('cancelled', (e) => say(`[${name}] ${e.message}`));
  return group;
}

async function main(): Promise<void> {
  const server = process.env.MONGODB_URI ? undefined : await startServer();
  const uri = process.env.MONGODB_URI ?? server?.uri ?? '';
  const client = await MongoClient.connect(uri);
  const db = `drover_backfill_${Date.now()}`;
  say(`backfill example on ${uri} (database ${db})`);
  try {
    const latest = new Date(Date.UTC(2026, 0, 31));
    const earliest = new Date(latest.getTime() - 30 * DAY);

    const first = await openGroup(client, db, 'process 1');
    const cpu = await first.timeRanges.submit({
      id: 'cpu-load-january',
      name: 'KPI cpu.load',
      queue: 'backfill',
      chunkClass: KpiSearchChunk,
      earliest,
      latest,
      chunkMs: DAY,
      fields: { kpi: 'cpu.load' },
      chunkOptions: { maxAttempts: 3 },
    });
    say(`submitted ${cpu.id}: ${cpu.total} chunks, ${cpu.state}`);
    await (await first.get('backfill')).start();

    // Process 1 goes away a third of the way through the request...
    for (;;) {
      const info = await first.timeRanges.get(cpu.id);
      if (!info || info.counts.done >= cpu.total / 3) break;
      await delay(20);
    }
    await first.close();
    say(`[process 1] chunks started: ${order.slice(0, 4).join(', ')}, ... (newest first)`);
    const cut = await first.timeRanges.get(cpu.id);
    say(
      `[process 1] stopped at ${cut?.counts.done}/${cpu.total} chunks of ${cpu.id} (${cut?.state})`,
    );

    // ...and process 2 adopts it and finishes it.
    const second = await openGroup(client, db, 'process 2');
    say(`[process 2] adopted: ${(await second.timeRanges.adopt()).join(', ')}`);
    const done = await second.timeRanges.waitFor(cpu.id, { timeoutMs: 60_000 });
    say(`${cpu.id}: ${done.state}, ${done.counts.done}/${done.counts.total} chunks`);
    const days = [...runs.keys()].filter((id) => id.startsWith(cpu.id)).length;
    const twice = [...runs.entries()].filter(([id, n]) => id.startsWith(cpu.id) && n > 1);
    say(
      `chunks run: ${days}; run more than once: ${twice.length === 0 ? 'none' : twice.map(([id]) => id).join(', ')}`,
    );

    // A second request, cancelled once under way: its running chunks are aborted, the rest skipped.
    const disk = await second.timeRanges.submit({
      id: 'disk-io-january',
      name: 'KPI disk.io',
      queue: 'backfill',
      chunkClass: KpiSearchChunk,
      earliest,
      latest,
      fields: { kpi: 'disk.io' },
    });
    say(`submitted ${disk.id}: ${disk.total} chunks; it will be cancelled`);
    for (;;) {
      const info = await second.timeRanges.get(disk.id);
      if ((info?.counts.done ?? 0) >= 3) break;
      await delay(20);
    }
    say(`cancelling ${disk.id}: ${await second.timeRanges.cancel(disk.id)}`);
    const cancelled = await second.timeRanges.get(disk.id);
    say(
      `${disk.id}: ${cancelled?.state}, ${cancelled?.counts.done}/${cancelled?.counts.total} chunks done`,
    );
    await second.close();
  } finally {
    await client
      .db(db)
      .dropDatabase()
      .catch(() => undefined);
    await client.close();
    await server?.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(
    `backfill example failed: ${err instanceof Error ? err.stack : String(err)}\n`,
  );
  process.exit(1);
});
