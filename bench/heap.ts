/**
 * Heap check (`node --expose-gc dist/bench/heap.js [--jobs 20000] [--batch 2000]`): runs jobs
 * through one pool in batches and prints the heap after each batch, after a forced GC. A queue
 * must not grow its heap with the number of jobs it has run.
 */
import 'reflect-metadata';
import pino from 'pino';
import { QueueGroup } from '../lib';
import { NoopJob } from '../test/support/jobs';
import { startServer } from '../test/support/server';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

function heapMiB(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc');
  gc();
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

async function main(): Promise<void> {
  const total = arg('jobs', 20_000);
  const batch = arg('batch', 2_000);
  const server = await startServer();
  const group = await QueueGroup.connect({
    uri: server.uri,
    db: `drover_heap_${Date.now()}`,
    logger: pino({ level: 'silent' }),
  });
  try {
    const q = await group.get('heap', { workers: 64 });
    let done = 0;
    q.on('completed', () => done++);
    await q.start();
    const samples: number[] = [];
    for (let sent = 0; sent < total; sent += batch) {
      await q.putMany(Array.from({ length: batch }, () => NoopJob.create({})));
      while (done < sent + batch) await new Promise((r) => setTimeout(r, 50));
      samples.push(heapMiB());
      process.stdout.write(`${done} jobs: heap ${samples.at(-1)?.toFixed(1)} MiB\n`);
    }
    const first = samples[0];
    const last = samples[samples.length - 1];
    process.stdout.write(
      `heap after the first batch ${first.toFixed(1)} MiB, after ${done} jobs ${last.toFixed(1)} MiB ` +
        `(growth ${(last - first).toFixed(1)} MiB)\n`,
    );
  } finally {
    await group.close();
    await server.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
