/**
 * Burn-down and mixed workloads: N jobs are put first (not measured), then P worker processes
 * with C slots each are told to go at once; the clock stops at the last final outcome. Round
 * trips, CPU and peak RSS come from the workers (see meter.ts), summed or maxed.
 */
import { agendaTuningOf, jobData, sleep, targetOf, type BenchContext } from './context';
import { commandStats, commandsBetween } from './redis-server';
import { epochMs } from './meter';
import type { ThroughputResult } from './results';
import { DRIVERS, type SystemName, type Target } from './systems';
import { forkWorkers, type WorkerProcess } from './workers';

const WAIT_POLL_MS = 10;

/** Puts N jobs in batches with the system's bulk insert (not measured). */
export async function fill(
  ctx: BenchContext,
  target: Target,
  n: number,
  failShare: number,
): Promise<void> {
  const producer = await DRIVERS[target.system].producer(target);
  try {
    for (let from = 0; from < n; from += ctx.opts.batch) {
      const batch = [];
      for (let seq = from; seq < Math.min(n, from + ctx.opts.batch); seq++) {
        batch.push(jobData(seq, failShare));
      }
      await producer.putMany(batch);
    }
  } finally {
    await producer.close();
  }
}

/** One measured run; the run's data is dropped afterwards. */
export async function runThroughput(
  ctx: BenchContext,
  system: SystemName,
  procs: number,
  conc: number,
  failShare: number,
): Promise<ThroughputResult> {
  const n = ctx.opts.n;
  const label = `${failShare > 0 ? 'mixed' : 'burn'}_p${procs}_c${conc}`;
  const target = targetOf(ctx, system, label);
  const driver = DRIVERS[system];
  let workers: WorkerProcess[] = [];
  try {
    await fill(ctx, target, n, failShare);
    workers = await forkWorkers(procs, {
      system,
      target,
      concurrency: conc,
      reportEach: false,
      agenda: agendaTuningOf(ctx.opts),
    });
    const redisBefore =
      system === 'bullmq' && ctx.redis ? await commandStats(ctx.redis.admin) : undefined;
    const t0 = epochMs();
    for (const w of workers) w.go();
    const deadline = Date.now() + ctx.opts.cellTimeoutS * 1000;
    const finals = (): number => workers.reduce((sum, w) => sum + w.finals, 0);
    while (finals() < n && Date.now() < deadline && !workers.some((w) => w.exited)) {
      await sleep(WAIT_POLL_MS);
    }
    const timedOut = finals() < n;
    const redisAfter = redisBefore && ctx.redis ? await commandStats(ctx.redis.admin) : undefined;
    const stoppedAt = epochMs();
    const metrics = await Promise.all(workers.map((w) => w.stop()));
    const got = metrics.filter((m) => m !== undefined);
    const sum = (f: (m: (typeof got)[number]) => number): number =>
      got.reduce((s, m) => s + f(m), 0);
    const completed = sum((m) => m.completed);
    const failed = sum((m) => m.failed);
    // Per-job figures are per finished job (all N unless the run was cut at the timeout).
    const perJob = Math.max(1, completed + failed);
    const lastFinal = Math.max(...got.map((m) => m.lastFinalAt), 0);
    const elapsedMs = (timedOut || lastFinal === 0 ? stoppedAt : lastFinal) - t0;
    const errors = workers.flatMap((w) => w.errors);
    if (got.length < workers.length)
      errors.push(`${workers.length - got.length} worker(s) sent no metrics`);
    const result: ThroughputResult = {
      system,
      server: ctx.server,
      procs,
      conc,
      n,
      failShare,
      jobsPerSec: ((completed + failed) / elapsedMs) * 1000,
      elapsedMs,
      completed,
      failed,
      runs: sum((m) => m.runs),
      roundTripsPerJob: sum((m) => m.roundTrips) / perJob,
      serverCommandsPerJob:
        redisBefore && redisAfter ? commandsBetween(redisBefore, redisAfter) / perJob : undefined,
      cpuUsPerJob: sum((m) => m.cpuUserUs + m.cpuSystemUs) / perJob,
      peakRssMiB: Math.max(...got.map((m) => m.peakRssBytes), 0) / 2 ** 20,
      timedOut,
      errors: [...new Set(errors)].slice(0, 5),
    };
    ctx.log(
      `${system}@${ctx.server} ${label}: ${result.jobsPerSec.toFixed(0)} jobs/s, ` +
        `${result.roundTripsPerJob.toFixed(2)} round trips/job, ` +
        `${result.cpuUsPerJob.toFixed(0)} us CPU/job, runs ${result.runs}` +
        (timedOut ? ` (TIMED OUT at ${completed + failed}/${n})` : ''),
    );
    return result;
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await driver.drop(target, ctx.admin).catch(() => {});
  }
}
