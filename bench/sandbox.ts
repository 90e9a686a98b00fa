/**
 * Sandbox overhead (`npm run bench:sandbox [-- --jobs 1000 --rounds 3]`): the cost per job of
 * running a job type in a worker thread or a child process rather than in the worker, on the
 * in-memory group (so the database is not measured). Jobs run one at a time through
 * `Queue.runDue(1)`: claim, run, record; the difference with the in-worker run is the sandbox's
 * round trip (serialize, message, rebuild, run, send back, apply). Also measured: a cold start
 * (the first job of a fresh queue, which starts its sandbox and imports the job module), and
 * throughput with 4 workers (4 sandboxes).
 */
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { QueueGroup } from '../lib';
import { InlineNoop, ProcessNoop, ThreadNoop, type BenchNoop } from './sandbox-jobs';

const MODES = {
  'in the worker': InlineNoop,
  'worker thread': ThreadNoop,
  'child process': ProcessNoop,
};

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

type JobCtor = typeof BenchNoop;

/** A fresh in-memory group and queue. */
async function freshQueue(workers: number) {
  const group = QueueGroup.inMemory({ logger: pino({ level: 'silent' }) });
  return { group, queue: await group.get('bench', { workers }) };
}

/** Milliseconds for the first job of a fresh queue (sandbox start included). */
async function coldStartMs(cls: JobCtor): Promise<number> {
  const { group, queue } = await freshQueue(1);
  await queue.put(cls.create({ n: 0, label: 'cold' }));
  const t0 = performance.now();
  await queue.runDue(1);
  const ms = performance.now() - t0;
  await group.close();
  return ms;
}

/** Microseconds per job, jobs run one at a time (after a warm-up that starts the sandbox). */
async function sequentialUsPerJob(cls: JobCtor, jobs: number): Promise<number> {
  const { group, queue } = await freshQueue(1);
  const put = (n: number) =>
    queue.putMany(Array.from({ length: n }, (_, i) => cls.create({ n: i, label: 'seq' })));
  await put(20);
  while ((await queue.runDue(1)).length > 0);
  await put(jobs);
  const t0 = performance.now();
  while ((await queue.runDue(1)).length > 0);
  const us = ((performance.now() - t0) * 1000) / jobs;
  await group.close();
  return us;
}

/** Jobs per second through a started pool of 4 workers (4 sandboxes), after a warm-up. */
async function throughput(cls: JobCtor, jobs: number): Promise<number> {
  const { group, queue } = await freshQueue(4);
  let done = 0;
  let onDone: () => void = () => undefined;
  queue.on('completed', () => {
    done++;
    onDone();
  });
  const until = (n: number) =>
    new Promise<void>((resolve) => {
      onDone = () => done >= n && resolve();
      onDone();
    });
  await queue.start();
  await queue.putMany(Array.from({ length: 20 }, (_, i) => cls.create({ n: i, label: 'warm' })));
  await until(20);
  const t0 = performance.now();
  await queue.putMany(Array.from({ length: jobs }, (_, i) => cls.create({ n: i, label: 'tp' })));
  await until(20 + jobs);
  const rate = jobs / ((performance.now() - t0) / 1000);
  await group.close();
  return rate;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const jobs = arg('jobs', 1000);
  const rounds = arg('rounds', 3);
  const rows: string[] = [];
  let inline = 0;
  for (const [mode, cls] of Object.entries(MODES)) {
    const cold: number[] = [];
    const seq: number[] = [];
    const tp: number[] = [];
    for (let r = 0; r < rounds; r++) {
      cold.push(await coldStartMs(cls));
      seq.push(await sequentialUsPerJob(cls, jobs));
      tp.push(await throughput(cls, jobs));
    }
    const us = median(seq);
    if (mode === 'in the worker') inline = us;
    const overhead = mode === 'in the worker' ? '—' : `+${Math.round(us - inline)} µs`;
    rows.push(
      `| ${mode} | ${Math.round(median(cold))} ms | ${Math.round(us)} µs | ${overhead} | ${Math.round(median(tp))} |`,
    );
    process.stderr.write(`[bench:sandbox] ${mode} done\n`);
  }
  process.stdout.write(
    [
      `Sandbox overhead: ${jobs} no-op jobs, median of ${rounds} rounds, in-memory group, Node ${process.version}`,
      '',
      '| where the job runs | first job (cold start) | per job, one at a time | overhead per job | jobs/s, 4 workers |',
      '| --- | --- | --- | --- | --- |',
      ...rows,
      '',
    ].join('\n'),
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`sandbox bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
