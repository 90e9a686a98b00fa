/**
 * Job classes of the scope-lock tests: a job that records its run interval and how many jobs of
 * each scope run at once in this process, and can wait at a barrier to prove runs overlap.
 */
import 'reflect-metadata';
import { setTimeout as delay } from 'node:timers/promises';
import { BaseJob, JobType, type JobContext } from '../../lib';

/** A finished run of a ScopedJob. */
export interface ScopedRun {
  jobId: string;
  owner: string;
  start: number;
  end: number;
  scopes: string[];
  /** Whether the barrier was reached (see `ScopedJob.barrier`). */
  reachedBarrier: boolean;
}

/** What ScopedJobs observed in this process. */
export const scopeRuns = {
  runs: [] as ScopedRun[],
  /** Scoped jobs running now, in all and per scope. */
  running: 0,
  /** Highest value `running` reached. */
  peak: 0,
  runningByScope: new Map<string, number>(),
  /** Highest number of jobs of one scope seen running at once. */
  maxByScope: new Map<string, number>(),
  clear(): void {
    this.runs = [];
    this.running = 0;
    this.peak = 0;
    this.runningByScope.clear();
    this.maxByScope.clear();
  },
};

/**
 * Runs `ms` (honouring the signal). With `barrier` > 0 it instead waits until that many
 * ScopedJobs run at once in this process (or `ms` passes), which proves that runs overlap.
 */
@JobType('test-scoped')
export class ScopedJob extends BaseJob {
  ms = 20;
  barrier = 0;

  async run(ctx: JobContext): Promise<void> {
    const start = Date.now();
    scopeRuns.peak = Math.max(scopeRuns.peak, ++scopeRuns.running);
    for (const s of this.scopes) {
      const n = (scopeRuns.runningByScope.get(s) ?? 0) + 1;
      scopeRuns.runningByScope.set(s, n);
      scopeRuns.maxByScope.set(s, Math.max(n, scopeRuns.maxByScope.get(s) ?? 0));
    }
    let reachedBarrier = false;
    try {
      if (this.barrier > 0) {
        const deadline = start + this.ms;
        // The peak, not the current count: the first to see the barrier may leave at once.
        while (!(reachedBarrier = scopeRuns.peak >= this.barrier) && Date.now() < deadline) {
          await delay(5, undefined, { signal: ctx.signal });
        }
      } else {
        await delay(this.ms, undefined, { signal: ctx.signal });
      }
    } finally {
      scopeRuns.running--;
      for (const s of this.scopes)
        scopeRuns.runningByScope.set(s, (scopeRuns.runningByScope.get(s) ?? 1) - 1);
    }
    scopeRuns.runs.push({
      jobId: this.id,
      owner: this.status.owner,
      start,
      end: Date.now(),
      scopes: [...this.scopes],
      reachedBarrier,
    });
  }
}

/** Pairs of runs sharing a scope whose intervals overlap (empty when scopes held). */
export function overlappingRuns<
  R extends { jobId: string; start: number; end: number; scopes: string[] },
>(runs: R[]): [R, R, string][] {
  const byScope = new Map<string, R[]>();
  for (const r of runs)
    for (const s of new Set(r.scopes)) byScope.set(s, [...(byScope.get(s) ?? []), r]);
  const overlaps: [R, R, string][] = [];
  for (const [scope, list] of byScope) {
    const sorted = [...list].sort((a, b) => a.start - b.start || a.end - b.end);
    // Sweep: each run must start at or after the latest end seen so far.
    let latest: R | undefined;
    for (const r of sorted) {
      if (latest && r.start < latest.end) overlaps.push([latest, r, scope]);
      if (!latest || r.end > latest.end) latest = r;
    }
  }
  return overlaps;
}

/** Highest number of runs of one scope overlapping at any instant, per scope. */
export function maxConcurrentByScope<R extends { start: number; end: number; scopes: string[] }>(
  runs: R[],
): Map<string, number> {
  const result = new Map<string, number>();
  const scopes = new Set(runs.flatMap((r) => r.scopes));
  for (const scope of scopes) {
    // Ends sort before starts at the same instant: touching intervals do not overlap.
    const events = runs
      .filter((r) => r.scopes.includes(scope))
      .flatMap((r) => [
        { t: r.start, d: 1 },
        { t: r.end, d: -1 },
      ])
      .sort((a, b) => a.t - b.t || a.d - b.d);
    let now = 0;
    let max = 0;
    for (const e of events) max = Math.max(max, (now += e.d));
    result.set(scope, max);
  }
  return result;
}
