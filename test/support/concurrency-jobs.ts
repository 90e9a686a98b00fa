/**
 * Job class of the concurrency-key tests: records its run interval under its key and how many
 * jobs of each key run at once in this process (the test's groups stand for processes), and can
 * wait until its key is full to show that the limit is reached.
 */
import 'reflect-metadata';
import { setTimeout as delay } from 'node:timers/promises';
import { BaseJob, JobType, type JobContext } from '../../lib';
import type { ScopedRun } from './scope-jobs';

/** What KeyedJobs observed in this process; runs carry their key as their one "scope". */
export const keyedRuns = {
  runs: [] as ScopedRun[],
  running: new Map<string, number>(),
  /** Highest number of jobs of one key seen running at once. */
  peak: new Map<string, number>(),
  clear(): void {
    this.runs = [];
    this.running.clear();
    this.peak.clear();
  },
};

/**
 * Runs `ms` (honouring the signal). With `fillTo` > 0 it first waits until that many jobs of its
 * key have run at once (or `fillWaitMs` passes): runs then provably overlap up to the limit.
 */
@JobType('test-keyed')
export class KeyedJob extends BaseJob {
  ms = 30;
  fillTo = 0;
  fillWaitMs = 15_000;

  async run(ctx: JobContext): Promise<void> {
    const key = this.concurrencyKey?.key ?? '';
    const start = Date.now();
    const n = (keyedRuns.running.get(key) ?? 0) + 1;
    keyedRuns.running.set(key, n);
    keyedRuns.peak.set(key, Math.max(n, keyedRuns.peak.get(key) ?? 0));
    try {
      const deadline = start + this.fillWaitMs;
      // The peak, not the current count: the first to see the key full may leave at once.
      while ((keyedRuns.peak.get(key) ?? 0) < this.fillTo && Date.now() < deadline) {
        await delay(5, undefined, { signal: ctx.signal });
      }
      await delay(this.ms, undefined, { signal: ctx.signal });
    } finally {
      keyedRuns.running.set(key, (keyedRuns.running.get(key) ?? 1) - 1);
    }
    keyedRuns.runs.push({
      jobId: this.id,
      owner: this.status.owner,
      start,
      end: Date.now(),
      scopes: [key, ...this.scopes],
      reachedBarrier: (keyedRuns.peak.get(key) ?? 0) >= this.fillTo,
    });
  }
}
