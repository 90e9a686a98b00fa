/**
 * The backfill workload (a KPI backfill queue), run deterministically with drover/testing: a
 * month of history is split into one-day chunks, run newest first with per-chunk retries (the
 * search service throttles one day in seven; the retry comes 30 s later on the harness clock, not
 * in real time); the worker "restarts" a third of the way through and a second one, over the same
 * stores, finishes the request, running every chunk exactly once; a second request is cancelled
 * midway. The output is the same on every run. Runs on MONGODB_URI, or on an embedded server like
 * `npm run demo` (the harness takes that server's stores); `--memory` runs on in-memory stores.
 *
 *   npm run build && node dist/examples/backfill.js [--memory]
 */
import 'reflect-metadata';
import { MongoClient } from 'mongodb';
import {
  JobType,
  RetryableError,
  TimeRangeChunkJob,
  type JobContext,
  type TimeRange,
  type TimeRangeRequests,
} from '../lib';
import { initStores, memoryStores, mongoStores, type Stores } from '../lib/store/store-set';
import { TestHarness, type RunRecord } from '../lib/testing';
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
    if (ctx.attempt === 0 && range.earliest.getUTCDate() % 7 === 3) {
      throw new RetryableError('search head busy (503)', { retryAfterMs: 30_000 });
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

/** A worker as one process would run it, on the harness: its clock starts at `start`. */
function openWorker(stores: Stores, name: string, start: Date): TestHarness {
  const worker = new TestHarness({ stores, start });
  const requests: TimeRangeRequests = worker.group.timeRanges;
  requests.on('started', (e) => say(`[${name}] ${e.name}: running`));
  requests.on('done', (e) => say(`[${name}] ${e.message}`));
  requests.on('failed', (e) => say(`[${name}] ${e.message}`));
  requests.on('cancelled', (e) => say(`[${name}] ${e.message}`));
  return worker;
}

/** "chunk 07 at 2026-02-01 06:00:00, ..." for the attempts that asked for a retry. */
function retries(records: RunRecord[]): string {
  const asked = records.filter((r) => r.outcome === 'retrying');
  return asked.map((r) => `chunk ${r.jobId.split('/').pop()} at ${formatTime(r.at)}`).join(', ');
}

/** "chunk 07 at 2026-02-01 06:00:30, ..." for the attempts that completed after a retry. */
function retried(records: RunRecord[]): string {
  const late = records.filter((r) => r.outcome === 'completed' && r.attempt > 0);
  return late.map((r) => `chunk ${r.jobId.split('/').pop()} at ${formatTime(r.at)}`).join(', ');
}

async function main(): Promise<void> {
  const memory = process.argv.includes('--memory');
  const server = memory || process.env.MONGODB_URI ? undefined : await startServer();
  const uri = process.env.MONGODB_URI ?? server?.uri ?? '';
  const client = memory ? undefined : await MongoClient.connect(uri);
  const db = `drover_backfill_${Date.now()}`;
  const stores = client ? mongoStores(client.db(db)) : memoryStores();
  await initStores(stores);
  say(`backfill example on ${client ? `${uri} (database ${db})` : 'in-memory stores'}`);
  try {
    const latest = new Date(Date.UTC(2026, 0, 31));
    const earliest = new Date(latest.getTime() - 30 * DAY);

    const first = openWorker(stores, 'worker 1', new Date('2026-02-01T06:00:00Z'));
    const cpu = await first.group.timeRanges.submit({
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

    // Worker 1 runs a third of the chunks, one at a time, then goes away...
    const backfill = await first.queue('backfill');
    for (let i = 0; i < cpu.total / 3; i++) await backfill.runDue(1);
    say(`[worker 1] chunks started: ${order.slice(0, 4).join(', ')}, ... (newest first)`);
    say(`[worker 1] retries asked: ${retries(first.runs) || 'none'}`);
    const cut = await first.group.timeRanges.get(cpu.id);
    say(
      `[worker 1] stopped at ${cut?.counts.done}/${cpu.total} chunks of ${cpu.id} (${cut?.state})`,
    );
    await first.close();

    // ...and worker 2, over the same stores, finishes it: the retries fall due as its clock moves.
    const second = openWorker(stores, 'worker 2', first.now());
    await second.group.timeRanges.reconcileAll();
    await second.queue('backfill');
    const finished = await second.advance(60_000);
    say(`[worker 2] retries asked: ${retries(finished) || 'none'}`);
    say(`[worker 2] retried chunks completed: ${retried(finished)}`);
    const done = await second.group.timeRanges.get(cpu.id);
    say(`${cpu.id}: ${done?.state}, ${done?.counts.done}/${done?.counts.total} chunks`);
    const days = [...runs.keys()].filter((id) => id.startsWith(cpu.id)).length;
    const twice = [...runs.entries()].filter(([id, n]) => id.startsWith(cpu.id) && n > 1);
    say(
      `chunks run: ${days}; run more than once: ${twice.length === 0 ? 'none' : twice.map(([id]) => id).join(', ')}`,
    );

    // A second request, cancelled once under way: the chunks not run yet end aborted.
    const disk = await second.group.timeRanges.submit({
      id: 'disk-io-january',
      name: 'KPI disk.io',
      queue: 'backfill',
      chunkClass: KpiSearchChunk,
      earliest,
      latest,
      fields: { kpi: 'disk.io' },
    });
    say(`submitted ${disk.id}: ${disk.total} chunks; it will be cancelled`);
    const queue = await second.queue('backfill');
    for (let i = 0; i < 3; i++) await queue.runDue(1);
    say(`cancelling ${disk.id}: ${await second.group.timeRanges.cancel(disk.id)}`);
    await second.drain();
    const cancelled = await second.group.timeRanges.get(disk.id);
    let aborted = 0;
    for await (const info of queue.jobInfo(['aborted'])) {
      if (info.id.startsWith(`${disk.id}/`)) aborted++;
    }
    say(
      `${disk.id}: ${cancelled?.state}, ${cancelled?.counts.done}/${cancelled?.counts.total} ` +
        `chunks done, ${aborted} aborted before they started`,
    );
    await second.close();
  } finally {
    if (client) {
      await client
        .db(db)
        .dropDatabase()
        .catch(() => undefined);
      await client.close();
    }
    await server?.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(
    `backfill example failed: ${err instanceof Error ? err.stack : String(err)}\n`,
  );
  process.exit(1);
});
