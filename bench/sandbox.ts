/**
 * Sandbox overhead (`npm run bench:sandbox [-- --jobs 1000 --rounds 3]`): the cost per job of
 * running a job type in a worker thread or a child process rather than in the worker, on the
 * in-memory group (so the database is not measured). Jobs run one at a time through
 * `Queue.runDue(1)`: claim, run, record; the difference with the in-worker run is the sandbox's
 * round trip (serialize, message, rebuild, run, send back, apply). Reported per job: CPU time
 * (this process and its threads, plus its sandbox processes, read from /proc on Linux), which a
 * machine shared with other work disturbs little, and wall time. Also: a cold start (the first
 * job of a fresh queue: its sandbox starts and imports the job module) and jobs/s with 4 workers.
 */
import { readdirSync, readFileSync } from 'node:fs';
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

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
const TICKS_PER_S = 100;

/** CPU milliseconds of this process's child processes (the sandboxes), from /proc; 0 elsewhere. */
function childrenCpuMs(): number {
  let ms = 0;
  try {
    for (const task of readdirSync('/proc/self/task')) {
      const kids = readFileSync(`/proc/self/task/${task}/children`, 'utf8').trim().split(/\s+/);
      for (const pid of kids.filter(Boolean)) {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
        ms += ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_S;
      }
    }
  } catch {
    return 0;
  }
  return ms;
}

/** CPU milliseconds of this process (all its threads) and its sandbox processes. */
function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000 + childrenCpuMs();
}

/** CPU and wall microseconds per job, run one at a time (after a warm-up that starts the sandbox). */
async function sequentialPerJob(
  cls: JobCtor,
  jobs: number,
): Promise<{ cpu: number; wall: number }> {
  const { group, queue } = await freshQueue(1);
  const put = (n: number) =>
    queue.putMany(Array.from({ length: n }, (_, i) => cls.create({ n: i, label: 'seq' })));
  await put(20);
  while ((await queue.runDue(1)).length > 0);
  await put(jobs);
  const c0 = cpuMs();
  const t0 = performance.now();
  while ((await queue.runDue(1)).length > 0);
  const wall = ((performance.now() - t0) * 1000) / jobs;
  const cpu = ((cpuMs() - c0) * 1000) / jobs;
  await group.close();
  return { cpu, wall };
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
  let inline = { cpu: 0, wall: 0 };
  for (const [mode, cls] of Object.entries(MODES)) {
    const cold: number[] = [];
    const cpu: number[] = [];
    const wall: number[] = [];
    const tp: number[] = [];
    for (let r = 0; r < rounds; r++) {
      cold.push(await coldStartMs(cls));
      const seq = await sequentialPerJob(cls, jobs);
      cpu.push(seq.cpu);
      wall.push(seq.wall);
      tp.push(await throughput(cls, jobs));
    }
    const m = { cpu: median(cpu), wall: median(wall) };
    if (mode === 'in the worker') inline = m;
    const plus = (x: number, base: number) =>
      mode === 'in the worker'
        ? '—'
        : `${x >= base ? '+' : '−'}${Math.abs(Math.round(x - base))} µs`;
    rows.push(
      `| ${mode} | ${Math.round(m.cpu)} µs | ${plus(m.cpu, inline.cpu)} | ${Math.round(m.wall)} µs | ` +
        `${plus(m.wall, inline.wall)} | ${Math.round(median(cold))} ms | ${Math.round(median(tp))} |`,
    );
    process.stderr.write(`[bench:sandbox] ${mode} done\n`);
  }
  process.stdout.write(
    [
      `Sandbox overhead: ${jobs} no-op jobs, median of ${rounds} rounds, in-memory group, Node ${process.version}`,
      '',
      '| job runs | CPU per job | CPU overhead | wall per job | wall overhead | first job (cold) | jobs/s, 4 workers |',
      '| --- | --- | --- | --- | --- | --- | --- |',
      ...rows,
      '',
    ].join('\n'),
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`sandbox bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
