/**
 * Put-to-start latency with idle workers: the consumer starts, sits idle (`latencyIdleMs`), then one
 * job at a time is put after a random idle gap; the latency is from just before the put call to
 * the first line of the handler (epoch time with sub-ms resolution, comparable across processes).
 * Each job is awaited to its end before the next gap, so the workers are idle at every put.
 */
import { agendaTuningOf, jobData, sleep, targetOf, type BenchContext } from './context';
import { epochMs, quantile } from './meter';
import type { LatencyResult } from './results';
import { DRIVERS, type Producer, type SystemName } from './systems';
import { forkWorkers, type WorkerProcess } from './workers';

const SAMPLE_TIMEOUT_MS = 10_000;

/** Resolves per-job waits as starts and final outcomes are reported. */
class Waits {
  private readonly pending = new Map<string, (at: number) => void>();
  private readonly early = new Map<string, number>();

  notify(kind: 'started' | 'finished', seq: number, at: number): void {
    const key = `${kind}:${seq}`;
    const resolve = this.pending.get(key);
    if (resolve) {
      this.pending.delete(key);
      resolve(at);
    } else {
      this.early.set(key, at);
    }
  }

  /** Time of the event, or undefined after `timeoutMs`. */
  wait(kind: 'started' | 'finished', seq: number, timeoutMs: number): Promise<number | undefined> {
    const key = `${kind}:${seq}`;
    const at = this.early.get(key);
    if (at !== undefined) {
      this.early.delete(key);
      return Promise.resolve(at);
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(key);
        resolve(undefined);
      }, timeoutMs);
      this.pending.set(key, (t) => {
        clearTimeout(timer);
        resolve(t);
      });
    });
  }
}

async function sample(
  ctx: BenchContext,
  producer: Producer,
  waits: Waits,
): Promise<{ latencies: number[]; missed: number }> {
  const [gapMin, gapMax] = ctx.opts.latencyGapMs;
  const latencies: number[] = [];
  let missed = 0;
  await sleep(ctx.opts.latencyIdleMs);
  for (let seq = 0; seq < ctx.opts.latencySamples; seq++) {
    await sleep(gapMin + Math.random() * (gapMax - gapMin));
    const t = epochMs();
    await producer.put(jobData(seq, 0));
    const startedAt = await waits.wait('started', seq, SAMPLE_TIMEOUT_MS);
    if (startedAt === undefined) {
      missed += 1;
      continue;
    }
    latencies.push(startedAt - t);
    await waits.wait('finished', seq, SAMPLE_TIMEOUT_MS);
  }
  return { latencies, missed };
}

function summarize(
  ctx: BenchContext,
  system: SystemName,
  where: LatencyResult['where'],
  latencies: number[],
  missed: number,
): LatencyResult {
  return {
    system,
    server: ctx.server,
    where,
    samples: latencies.length,
    missed,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    maxMs: latencies.length ? Math.max(...latencies) : NaN,
    meanMs: latencies.length ? latencies.reduce((a, b) => a + b, 0) / latencies.length : NaN,
  };
}

/** Producer and consumer in this process. */
async function sameProcess(ctx: BenchContext, system: SystemName): Promise<LatencyResult> {
  const driver = DRIVERS[system];
  const target = targetOf(ctx, system, 'latency_local');
  const waits = new Waits();
  const local = await driver.local(target, ctx.opts.latencyConc, {
    started: (seq) => waits.notify('started', seq, epochMs()),
    finished: (seq) => waits.notify('finished', seq, epochMs()),
  });
  try {
    await local.start();
    const { latencies, missed } = await sample(ctx, local, waits);
    return summarize(ctx, system, 'same-process', latencies, missed);
  } finally {
    await local.close();
    await driver.drop(target, ctx.admin).catch(() => {});
  }
}

/** Producer here, one consumer in a worker process. */
async function crossProcess(ctx: BenchContext, system: SystemName): Promise<LatencyResult> {
  const driver = DRIVERS[system];
  const target = targetOf(ctx, system, 'latency_remote');
  const waits = new Waits();
  let workers: WorkerProcess[] = [];
  try {
    workers = await forkWorkers(
      1,
      {
        system,
        target,
        concurrency: ctx.opts.latencyConc,
        reportEach: true,
        agenda: agendaTuningOf(ctx.opts),
      },
      (msg) => {
        if (msg.kind === 'started' || msg.kind === 'finished')
          waits.notify(msg.kind, msg.seq, msg.at);
      },
    );
    const producer = await driver.producer(target);
    try {
      for (const w of workers) w.go();
      const { latencies, missed } = await sample(ctx, producer, waits);
      return summarize(ctx, system, 'cross-process', latencies, missed);
    } finally {
      await producer.close();
    }
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await driver.drop(target, ctx.admin).catch(() => {});
  }
}

export async function runLatency(ctx: BenchContext, system: SystemName): Promise<LatencyResult[]> {
  const out: LatencyResult[] = [];
  for (const run of [sameProcess, crossProcess]) {
    const r = await run(ctx, system);
    ctx.log(
      `${system}@${ctx.server} latency ${r.where}: p50 ${r.p50Ms.toFixed(1)} ms, p99 ${r.p99Ms.toFixed(1)} ms` +
        (r.missed ? `, ${r.missed} missed` : ''),
    );
    out.push(r);
  }
  return out;
}
