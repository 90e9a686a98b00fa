/**
 * The chaos run's work: a seeded mix of job kinds (quick, slow with heartbeats, failing with
 * retries, scoped, with dependencies) and the final state each one must reach.
 */
import { afterJobs, type BaseJob } from '../lib';
import {
  ChaosDependentJob,
  ChaosFailJob,
  ChaosFlakyJob,
  ChaosQuickJob,
  ChaosScopedJob,
  ChaosSlowJob,
  type ChaosKind,
} from '../test/support/chaos-jobs';

/** A planned job and what it must end as. */
export interface PlannedJob {
  id: string;
  kind: ChaosKind;
  expected: 'completed' | 'failed';
  scopes: string[];
  edges: string[];
}

/** Share of each kind in the mix (weights). */
export const KIND_WEIGHTS: Record<ChaosKind, number> = {
  quick: 40,
  slow: 10,
  flaky: 15,
  fail: 5,
  scoped: 15,
  dependent: 15,
};

/** Attempts allowed to jobs that fail on every attempt. */
export const FAIL_MAX_ATTEMPTS = 3;
/** Dispatch scopes shared by the scoped jobs (few, so that they contend). */
export const SCOPE_NAMES = ['s0', 's1', 's2', 's3', 's4', 's5'];

/** mulberry32: a small seeded PRNG, so a run can be repeated with `--seed`. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer in [min, max]. */
export function between(rng: () => number, min: number, max: number): number {
  return min + Math.floor(rng() * (max - min + 1));
}

function pickKind(rng: () => number): ChaosKind {
  const kinds = Object.keys(KIND_WEIGHTS) as ChaosKind[];
  const total = kinds.reduce((sum, k) => sum + KIND_WEIGHTS[k], 0);
  let x = rng() * total;
  for (const k of kinds) {
    x -= KIND_WEIGHTS[k];
    if (x < 0) return k;
  }
  return 'quick';
}

/** Plans `n` jobs; dependents only point at earlier jobs that complete, so there is no cycle. */
export function planJobs(n: number, rng: () => number, prefix = 'c'): PlannedJob[] {
  const plan: PlannedJob[] = [];
  const completing: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = `${prefix}-${String(i).padStart(5, '0')}`;
    let kind = pickKind(rng);
    if (kind === 'dependent' && completing.length === 0) kind = 'quick';
    const job: PlannedJob = {
      id,
      kind,
      expected: kind === 'fail' ? 'failed' : 'completed',
      scopes: [],
      edges: [],
    };
    if (kind === 'scoped') {
      const first = SCOPE_NAMES[between(rng, 0, SCOPE_NAMES.length - 1)];
      const second = SCOPE_NAMES[between(rng, 0, SCOPE_NAMES.length - 1)];
      job.scopes = [...new Set([first, second])];
    }
    if (kind === 'dependent') {
      // Mostly recent jobs, so that dependents wait on work still under way.
      const edges = new Set<string>();
      for (let e = between(rng, 1, 2); e > 0; e--) {
        const back = Math.min(completing.length, 1 + Math.floor(rng() * 60));
        edges.add(completing[completing.length - back]);
      }
      job.edges = [...edges];
    }
    plan.push(job);
    if (job.expected === 'completed') completing.push(id);
  }
  return plan;
}

/** The job instance of a planned job. */
export function buildJob(p: PlannedJob, rng: () => number): BaseJob {
  const options = { id: p.id };
  switch (p.kind) {
    case 'quick':
      return ChaosQuickJob.create({}, options);
    case 'slow':
      return ChaosSlowJob.create({ ms: between(rng, 400, 1_500), steps: 5 }, options);
    case 'flaky':
      return ChaosFlakyJob.create({ succeedOn: between(rng, 1, 2) }, options);
    case 'fail':
      return ChaosFailJob.create({}, { ...options, maxAttempts: FAIL_MAX_ATTEMPTS });
    case 'scoped':
      return ChaosScopedJob.create({ ms: between(rng, 10, 80) }, { ...options, scopes: p.scopes });
    case 'dependent':
      return ChaosDependentJob.create({}, { ...options, dependency: afterJobs(p.edges) });
  }
}
