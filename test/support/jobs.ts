/**
 * Job classes used by the tests, shared by the behaviour suite and the worker processes that the
 * multi-process tests spawn.
 */
import 'reflect-metadata';
import { setTimeout as delay } from 'node:timers/promises';
import { BaseJob, JobType, RetryableError, type JobContext } from '../../lib';

/** A run observed by a test: which job, which worker, when. */
export interface RunRecord {
  jobId: string;
  owner: string;
  pid: number;
  start: number;
  end: number;
  scopes: string[];
}

/**
 * Where jobs report their runs. The in-process suite keeps them in memory; worker processes send
 * them to the parent over IPC.
 */
export const runLog = {
  records: [] as RunRecord[],
  sink: undefined as ((r: RunRecord) => void) | undefined,
  add(r: RunRecord): void {
    this.records.push(r);
    this.sink?.(r);
  },
  clear(): void {
    this.records = [];
  },
};

@JobType('test-noop')
export class NoopJob extends BaseJob {
  tag = '';
  async run(): Promise<void> {}
}

/** Sleeps `ms`, honouring the signal; records the run. */
@JobType('test-sleep')
export class SleepJob extends BaseJob {
  ms = 10;
  /** Ignore the abort signal (a badly behaved job). */
  ignoreSignal = false;
  result = '';
  async run(ctx: JobContext): Promise<void> {
    const start = Date.now();
    if (this.ignoreSignal) await delay(this.ms);
    else await delay(this.ms, undefined, { signal: ctx.signal });
    this.result = `slept ${this.ms}`;
    runLog.add({
      jobId: this.id,
      owner: this.status.owner,
      pid: process.pid,
      start,
      end: Date.now(),
      scopes: this.scopes,
    });
  }
}

/** Fails with a plain error. */
@JobType('test-fail')
export class FailJob extends BaseJob {
  message = 'boom';
  async run(): Promise<void> {
    throw new Error(this.message);
  }
}

/** Records an error without throwing. */
@JobType('test-add-error')
export class AddErrorJob extends BaseJob {
  async run(): Promise<void> {
    this.addError(new Error('recorded, not thrown'));
  }
}

/** Asks for a retry until attempt `succeedOn`. */
@JobType('test-flaky')
export class FlakyJob extends BaseJob {
  succeedOn = 2;
  retryAfterMs = 0;
  async run(ctx: JobContext): Promise<void> {
    if (ctx.attempt < this.succeedOn) {
      throw new RetryableError(`attempt ${ctx.attempt} failed`, {
        retryAfterMs: this.retryAfterMs || undefined,
      });
    }
  }
}

/** Reports progress in steps. */
@JobType('test-progress')
export class ProgressJob extends BaseJob {
  steps = 4;
  async run(ctx: JobContext): Promise<void> {
    for (let i = 1; i <= this.steps; i++) await ctx.progress((i / this.steps) * 100, `step ${i}`);
  }
}

/** Waits until aborted (or `maxMs`); records why it stopped. */
@JobType('test-wait-abort')
export class WaitForAbortJob extends BaseJob {
  maxMs = 60_000;
  async run(ctx: JobContext): Promise<void> {
    await delay(this.maxMs, undefined, { signal: ctx.signal });
  }
}

/**
 * A poison job: kills the worker process that runs it (`process.exit`) after `ms`, as a job that
 * runs out of memory or hits a fatal bug would. Only ever run in forked worker processes.
 */
@JobType('test-exit')
export class ExitJob extends BaseJob {
  ms = 200;
  async run(): Promise<void> {
    await delay(this.ms);
    process.exit(17);
  }
}

/** Version 2 of a payload whose version 1 called the field `name`. */
@JobType('test-versioned', { version: 2, upgrades: { 1: (p) => ({ fullName: p.name }) } })
export class VersionedJob extends BaseJob {
  fullName = '';
  async run(): Promise<void> {}
}
