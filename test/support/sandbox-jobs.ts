/**
 * Job classes of the sandbox tests, one set per sandbox mode. The sandboxes import this module
 * (`module: __filename`), which registers the same classes there.
 */
import 'reflect-metadata';
import { threadId } from 'node:worker_threads';
import { BaseJob, JobAbortedError, JobType, type JobContext } from '../../lib';
import type { SandboxMode, SandboxOptions } from '../../lib/sandbox/sandbox-options';

/** Heap limit of the out-of-memory jobs' sandboxes, in MiB. */
export const OOM_LIMIT_MB = 32;

/** Upper-cases its input, logs (pino and `ctx.log`), reports progress; says where it ran; returns a result. */
export class EchoJob extends BaseJob {
  input = '';
  output = '';
  when = new Date(0);
  pid = 0;
  thread = 0;
  async run(ctx: JobContext): Promise<{ length: number; at: Date }> {
    ctx.logger.info({ input: this.input }, 'echo in a sandbox');
    ctx.log(`echoing ${this.input}`);
    await ctx.progress(50, 'half way');
    this.output = this.input.toUpperCase();
    this.when = new Date(this.when.getTime() + 1);
    this.pid = process.pid;
    this.thread = threadId;
    return { length: this.input.length, at: this.when };
  }
}

/** Calls `process.exit(3)` on its first attempt; completes on the next. */
export class ExitOnceJob extends BaseJob {
  output = '';
  async run(ctx: JobContext): Promise<void> {
    if (ctx.attempt === 0) process.exit(3);
    this.output = `survived on attempt ${ctx.attempt}`;
  }
}

/** Allocates until its sandbox runs out of memory. */
export class OutOfMemoryJob extends BaseJob {
  async run(): Promise<void> {
    const hog: number[][] = [];
    for (;;) hog.push(new Array<number>(1_000_000).fill(hog.length));
  }
}

/** Blocks its event loop for good: only a kill ends it. */
export class BlockLoopJob extends BaseJob {
  async run(): Promise<void> {
    for (;;);
  }
}

/** Reports progress, then waits for its abort and rethrows its reason (noting its class). */
export class WaitForAbortJob extends BaseJob {
  seen = '';
  async run(ctx: JobContext): Promise<void> {
    await ctx.progress(30, 'waiting for an abort');
    await new Promise<void>((_, reject) => {
      ctx.signal.addEventListener('abort', () => {
        const reason: unknown = ctx.signal.reason;
        this.seen = reason instanceof JobAbortedError ? 'JobAbortedError' : String(reason);
        reject(reason as Error);
      });
    });
  }
}

/** The classes above registered for one mode: `sandbox-${mode}-echo`... */
function define(mode: SandboxMode) {
  const sandbox = (extra: Partial<SandboxOptions> = {}): SandboxOptions => ({
    mode,
    module: __filename,
    ...extra,
  });
  @JobType(`sandbox-${mode}-echo`, { sandbox: sandbox() })
  class Echo extends EchoJob {}
  @JobType(`sandbox-${mode}-exit`, { sandbox: sandbox() })
  class ExitOnce extends ExitOnceJob {}
  @JobType(`sandbox-${mode}-oom`, { sandbox: sandbox({ maxOldSpaceMb: OOM_LIMIT_MB }) })
  class OutOfMemory extends OutOfMemoryJob {}
  @JobType(`sandbox-${mode}-block`, { sandbox: sandbox({ killAfterMs: 200 }) })
  class BlockLoop extends BlockLoopJob {}
  @JobType(`sandbox-${mode}-wait-abort`, { sandbox: sandbox() })
  class WaitForAbort extends WaitForAbortJob {}
  return {
    Echo: Echo as typeof EchoJob,
    ExitOnce: ExitOnce as typeof ExitOnceJob,
    OutOfMemory: OutOfMemory as typeof OutOfMemoryJob,
    BlockLoop: BlockLoop as typeof BlockLoopJob,
    WaitForAbort: WaitForAbort as typeof WaitForAbortJob,
  };
}

export const sandboxJobs = { thread: define('thread'), process: define('process') };

/** A type whose sandbox module (the shared test jobs) does not register it. */
@JobType('sandbox-not-in-its-module', {
  sandbox: { mode: 'thread', module: require.resolve('./jobs') },
})
export class NotInItsModule extends EchoJob {}
