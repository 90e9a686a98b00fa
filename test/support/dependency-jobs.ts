/**
 * Job classes and check functions for the dependency tests: a job held at a gate the test opens,
 * a job that creates a file, and a check whose answer the test sets.
 */
import 'reflect-metadata';
import { writeFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { BaseJob, JobType, registerCheck, type DependencyState, type JobContext } from '../../lib';
import { runLog } from './jobs';

/** Open gates; a GateJob runs until its gate is in here. */
export const gates = new Set<string>();

function record(job: BaseJob, start: number): void {
  runLog.add({
    jobId: job.id,
    owner: job.status.owner,
    pid: process.pid,
    start,
    end: Date.now(),
    scopes: job.scopes,
  });
}

/** Waits until the test opens its gate (or the job is aborted); records the run. */
@JobType('test-dep-gate')
export class GateJob extends BaseJob {
  gate = '';
  async run(ctx: JobContext): Promise<void> {
    const start = Date.now();
    while (!gates.has(this.gate)) await delay(10, undefined, { signal: ctx.signal });
    record(this, start);
  }
}

/** Writes `path`; records the run. */
@JobType('test-dep-touch')
export class TouchFileJob extends BaseJob {
  path = '';
  async run(): Promise<void> {
    const start = Date.now();
    await writeFile(this.path, `made by ${this.id}\n`);
    record(this, start);
  }
}

/** Answers of the `test-dep-switch` check, by the `key` option; `blocked` when unset. */
export const switches = new Map<string, DependencyState>();
/** How often the switch check was asked, by key. */
export const switchCalls = new Map<string, number>();

/** Name of the check that answers what `switches` holds for its `key` option. */
export const SWITCH_CHECK = 'test-dep-switch';

registerCheck(SWITCH_CHECK, ({ options }) => {
  const key = String(options.key);
  switchCalls.set(key, (switchCalls.get(key) ?? 0) + 1);
  return switches.get(key) ?? 'blocked';
});
