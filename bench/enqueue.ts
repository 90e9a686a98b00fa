/**
 * Enqueue rate, measured in this process with no consumer running: single puts awaited one by
 * one, then bulk puts of `batch` jobs (drover `putMany`, BullMQ `addBulk`; Agenda has no bulk
 * insert, so its batch is saved concurrently, one insert per job).
 */
import { jobData, targetOf, type BenchContext } from './context';
import { epochMs, meter, quantile } from './meter';
import type { EnqueueResult } from './results';
import { DRIVERS, type SystemName } from './systems';

/** Unmeasured puts before timing: connection pools and code paths are warm. */
const WARM_UP = 20;

export async function runEnqueue(ctx: BenchContext, system: SystemName): Promise<EnqueueResult[]> {
  const driver = DRIVERS[system];
  const target = targetOf(ctx, system, 'enqueue');
  const out: EnqueueResult[] = [];
  const producer = await driver.producer(target);
  try {
    let seq = 0;
    for (let i = 0; i < WARM_UP; i++) await producer.put(jobData(seq++, 0));
    const measure = async (
      mode: 'single' | 'bulk',
      jobs: number,
      batch: number,
      call: (from: number, count: number) => Promise<void>,
    ): Promise<void> => {
      const times: number[] = [];
      meter.reset();
      for (let done = 0; done < jobs; done += batch) {
        const count = Math.min(batch, jobs - done);
        const t = epochMs();
        await call(seq, count);
        times.push(epochMs() - t);
        seq += count;
      }
      const snap = meter.snapshot();
      const r: EnqueueResult = {
        system,
        server: ctx.server,
        mode,
        jobs,
        batch,
        jobsPerSec: (jobs / snap.wallMs) * 1000,
        roundTripsPerJob: snap.roundTrips / jobs,
        cpuUsPerJob: (snap.cpuUserUs + snap.cpuSystemUs) / jobs,
        p50Ms: quantile(times, 0.5),
        p99Ms: quantile(times, 0.99),
      };
      ctx.log(
        `${system}@${ctx.server} enqueue ${mode}: ${r.jobsPerSec.toFixed(0)} jobs/s, ` +
          `${r.roundTripsPerJob.toFixed(3)} round trips/job, ${r.cpuUsPerJob.toFixed(0)} us CPU/job`,
      );
      out.push(r);
    };
    await measure('single', ctx.opts.singlePuts, 1, (from) => producer.put(jobData(from, 0)));
    await measure('bulk', ctx.opts.n, ctx.opts.batch, (from, count) =>
      producer.putMany(Array.from({ length: count }, (_, i) => jobData(from + i, 0))),
    );
  } finally {
    await producer.close();
    await driver.drop(target, ctx.admin).catch(() => {});
  }
  return out;
}
