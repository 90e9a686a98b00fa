/**
 * The demo behind `npm run demo` and `drover demo`: a few job types queued into named queues, a
 * runner pool running them with a progress bar, one job aborted by ID, and a summary table.
 */
import 'reflect-metadata';
import { setTimeout as delay } from 'node:timers/promises';
import { SingleBar, Presets } from 'cli-progress';
import pino from 'pino';
import { BaseJob, type JobContext } from '../job/base-job';
import { JobType } from '../job/registry';
import { RetryableError } from '../errors';
import { QueueGroup } from '../group/queue-group';
import type { Queue } from '../queue/queue';

@JobType('demo.resize-image', { version: 1 })
class ResizeImage extends BaseJob {
  url = '';
  width = 0;
  async run(ctx: JobContext): Promise<void> {
    await delay(20 + Math.random() * 60, undefined, { signal: ctx.signal });
  }
}

@JobType('demo.send-email', { version: 1 })
class SendEmail extends BaseJob {
  to = '';
  subject = '';
  async run(ctx: JobContext): Promise<void> {
    // One in five answers "try again later", as a throttling mail API would.
    if (ctx.attempt === 0 && Math.random() < 0.2) {
      throw new RetryableError('mail API throttled', { retryAfterMs: 100 });
    }
    await delay(10 + Math.random() * 30, undefined, { signal: ctx.signal });
  }
}

@JobType('demo.build-report', { version: 1 })
class BuildReport extends BaseJob {
  month = '';
  pages = 10;
  async run(ctx: JobContext): Promise<void> {
    for (let page = 1; page <= this.pages; page++) {
      await delay(15, undefined, { signal: ctx.signal });
      await ctx.progress((page / this.pages) * 100, `page ${page}/${this.pages}`);
    }
  }
}

@JobType('demo.reindex', { version: 1 })
class Reindex extends BaseJob {
  collection = '';
  async run(ctx: JobContext): Promise<void> {
    // Long work that honours its signal: the demo aborts it by ID.
    await delay(60_000, undefined, { signal: ctx.signal });
  }
}

/** Options of the demo. */
export interface DemoOptions {
  /** MongoDB to run on; without it the demo runs on the in-memory stores (one process). */
  uri?: string;
  db?: string;
  /** Where to print; standard output by default. */
  out?: NodeJS.WritableStream;
  /** Jobs per queue. */
  jobsPerQueue?: number;
}

/** A row of the summary table. */
interface Row {
  queue: string;
  completed: number;
  failed: number;
  aborted: number;
  retried: number;
  avgMs: number;
}

/** Runs the demo against the server at `uri`; resolves with the summary rows. */
export async function runDemo(options: DemoOptions): Promise<Row[]> {
  const out = options.out ?? process.stdout;
  const n = options.jobsPerQueue ?? 40;
  const db = options.db ?? `drover_demo_${Date.now()}`;
  const groupOptions = {
    // The summary reports retries and aborts; each failed attempt's warn line (LOG_LEVEL=warn)
    // would only break up the progress bar.
    logger: pino({ level: process.env.LOG_LEVEL ?? 'error' }),
    defaults: { workers: 4, heartbeatMs: 200, lockTimeoutMs: 5_000 },
  };
  const group = options.uri
    ? await QueueGroup.connect({ uri: options.uri, db, ...groupOptions })
    : QueueGroup.inMemory(groupOptions);
  try {
    const images = await group.get('images', { workers: 8 });
    const emails = await group.get('emails');
    const reports = await group.get('reports', { workers: 2 });
    await images.putMany(
      Array.from({ length: n }, (_, i) =>
        ResizeImage.create({ url: `https://cdn.example/${i}.png`, width: 200 }),
      ),
    );
    await emails.putMany(
      Array.from({ length: n }, (_, i) =>
        SendEmail.create({ to: `user${i}@example.com`, subject: 'Welcome' }),
      ),
    );
    await reports.putMany(
      Array.from({ length: 6 }, (_, i) =>
        BuildReport.create({ month: `2026-${String(i + 1).padStart(2, '0')}` }),
      ),
    );
    const victim = Reindex.create({ collection: 'orders' }, { id: 'reindex-orders', priority: 10 });
    await reports.put(victim);
    const queues = [images, emails, reports];
    const total = n * 2 + 7;

    const durations = new Map<string, number[]>();
    const retried = new Map<string, number>();
    for (const q of queues) {
      durations.set(q.name, []);
      q.on('completed', (e) => durations.get(e.queue)?.push(e.durationMs));
      q.on('retrying', (e) => retried.set(e.queue, (retried.get(e.queue) ?? 0) + 1));
    }
    out.write(
      `drover demo: ${total} jobs in queues ${queues.map((q) => q.name).join(', ')} ` +
        (options.uri ? `(database ${db})\n` : '(in-memory stores: nothing is persisted)\n'),
    );
    const bar = new SingleBar(
      {
        format: ' {bar} {percentage}% | {value}/{total} jobs finished | {status}',
        stream: out,
        noTTYOutput: true,
        notTTYSchedule: 250,
      },
      Presets.shades_classic,
    );
    bar.start(total, 0, { status: 'starting' });
    await Promise.all(queues.map((q) => q.start()));

    // Abort the long job by ID once it runs, as any process could.
    const aborter = (async () => {
      while (!reports.isRunning(victim.id)) await delay(10);
      bar.update({ status: `aborting ${victim.id} by ID` });
      await group.abort(victim.id);
    })();

    for (;;) {
      const finished = await countFinished(queues);
      bar.update(finished, { status: 'running' });
      if (finished >= total) break;
      await delay(100);
    }
    await aborter;
    bar.update(total, { status: 'done' });
    bar.stop();

    const rows: Row[] = [];
    for (const q of queues) {
      const s = await q.stats();
      const d = durations.get(q.name) ?? [];
      rows.push({
        queue: q.name,
        completed: s.completed,
        failed: s.failed,
        aborted: s.aborted,
        retried: retried.get(q.name) ?? 0,
        avgMs: d.length ? Math.round(d.reduce((a, b) => a + b, 0) / d.length) : 0,
      });
    }
    out.write(`\n${table(rows)}\n`);
    const aborted = await reports.getDocument(victim.id);
    out.write(
      `job ${victim.id}: ${aborted?.state} (${aborted?.status.errors.at(-1)?.message ?? ''})\n`,
    );
    return rows;
  } finally {
    await group.close({ drainTimeoutMs: 2_000 });
  }
}

/** Jobs whose newest attempt is finished (a retried job counts once, when its last attempt ends). */
async function countFinished(queues: Queue[]): Promise<number> {
  let n = 0;
  for (const q of queues) {
    const s = await q.stats();
    n += s.completed + s.failed + s.aborted + s.expired + s.quarantined;
  }
  return n;
}

function table(rows: Row[]): string {
  const head = ['queue', 'completed', 'failed', 'aborted', 'retried', 'avg ms'];
  const cells = rows.map((r) =>
    [r.queue, r.completed, r.failed, r.aborted, r.retried, r.avgMs].map(String),
  );
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) =>
    c.map((v, i) => (i === 0 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}
