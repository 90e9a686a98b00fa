/**
 * The no-op job of the sandbox benchmark (bench/sandbox.ts), registered three times: run in the
 * worker, in a worker thread and in a child process. The sandboxes import this module.
 */
import 'reflect-metadata';
import { BaseJob, JobType, type JobContext } from '../lib';

/** Does nothing but carry a small payload and write a result, as a light real job would. */
export class BenchNoop extends BaseJob {
  n = 0;
  label = '';
  result = '';
  async run(ctx: JobContext): Promise<void> {
    this.result = `${this.label}:${this.n}:${ctx.attempt}`;
  }
}

@JobType('bench.sandbox.inline')
export class InlineNoop extends BenchNoop {}

@JobType('bench.sandbox.thread', { sandbox: { mode: 'thread', module: __filename } })
export class ThreadNoop extends BenchNoop {}

@JobType('bench.sandbox.process', { sandbox: { mode: 'process', module: __filename } })
export class ProcessNoop extends BenchNoop {}
