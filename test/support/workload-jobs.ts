/**
 * Job classes of the workload tests: time-range chunks that record their runs, jobs that take a
 * credential from a hook, and children of group jobs that measure their concurrency.
 */
import 'reflect-metadata';
import { setTimeout as delay } from 'node:timers/promises';
import {
  BaseJob,
  JobType,
  RetryableError,
  TimeRangeChunkJob,
  type JobContext,
  type TimeRange,
} from '../../lib';

/** A chunk run as observed by a test. */
export interface ChunkRun {
  id: string;
  requestId: string;
  chunk: number;
  earliest: number;
  latest: number;
  attempt: number;
  owner: string;
}

/** Where chunks report: `started` on entry, `completed` once they returned successfully. */
export const chunkLog = {
  started: [] as ChunkRun[],
  completed: [] as ChunkRun[],
  clear(): void {
    this.started = [];
    this.completed = [];
  },
  /** How many times each chunk completed, by chunk job ID. */
  completions(): Map<string, number> {
    const m = new Map<string, number>();
    for (const r of this.completed) m.set(r.id, (m.get(r.id) ?? 0) + 1);
    return m;
  },
};

/** A chunk that sleeps `ms`, optionally failing (retryably) or hanging until aborted. */
@JobType('test-range-chunk')
export class RecordingChunk extends TimeRangeChunkJob {
  ms = 5;
  /** Chunks failing on attempts below `failAttempts`. */
  flakyChunks: number[] = [];
  failAttempts = 1;
  /** Chunks failing on every attempt. */
  brokenChunks: number[] = [];
  /** Wait for the abort signal instead of sleeping. */
  hang = false;
  /** Shared by every chunk; shows that `fields` reach them. */
  search = '';

  async runChunk(range: TimeRange, ctx: JobContext): Promise<void> {
    const run: ChunkRun = {
      id: this.baseJobId,
      requestId: this.requestId,
      chunk: this.chunk,
      earliest: range.earliest.getTime(),
      latest: range.latest.getTime(),
      attempt: ctx.attempt,
      owner: this.status.owner,
    };
    chunkLog.started.push(run);
    await delay(this.hang ? 60_000 : this.ms, undefined, { signal: ctx.signal });
    if (this.brokenChunks.includes(this.chunk)) {
      throw new RetryableError(`chunk ${this.chunk} is broken`, { retryAfterMs: 5 });
    }
    if (this.flakyChunks.includes(this.chunk) && ctx.attempt < this.failAttempts) {
      throw new RetryableError(`chunk ${this.chunk} flaked`, { retryAfterMs: 5 });
    }
    chunkLog.completed.push(run);
  }
}

/** Uses the credential a `beforeRun` hook handed it. */
@JobType('test-credential')
export class CredentialJob extends BaseJob {
  token = '';
  usedToken = '';
  async run(): Promise<void> {
    if (!this.token) throw new Error('no credential');
    this.usedToken = this.token;
  }
}

/** Counts children running at once. */
export const probe = {
  running: 0,
  max: 0,
  aborted: 0,
  /** Runs by child ID. */
  runs: {} as Record<string, number>,
  reset(): void {
    this.running = 0;
    this.max = 0;
    this.aborted = 0;
    this.runs = {};
  },
};

/** A group child that sleeps `ms` (or until aborted) and counts concurrency. */
@JobType('test-probe-child')
export class ProbeChild extends BaseJob {
  ms = 20;
  fail = '';
  retryable = false;
  output = '';
  async run(ctx: JobContext): Promise<void> {
    probe.running++;
    probe.runs[this.id] = (probe.runs[this.id] ?? 0) + 1;
    probe.max = Math.max(probe.max, probe.running);
    try {
      await delay(this.ms, undefined, { signal: ctx.signal });
    } catch (err) {
      probe.aborted++;
      throw err;
    } finally {
      probe.running--;
    }
    if (this.fail) {
      throw this.retryable ? new RetryableError(this.fail) : new Error(this.fail);
    }
    this.output = `ran ${this.ms}`;
  }
}

/** Reports progress in steps, `stepMs` apart, so a follower polling meanwhile sees it. */
@JobType('test-slow-progress')
export class SlowProgressJob extends BaseJob {
  steps = 3;
  stepMs = 80;
  async run(ctx: JobContext): Promise<void> {
    for (let i = 1; i <= this.steps; i++) {
      await delay(this.stepMs, undefined, { signal: ctx.signal });
      await ctx.progress((i / this.steps) * 100, `step ${i}`);
    }
    await delay(this.stepMs, undefined, { signal: ctx.signal });
  }
}
