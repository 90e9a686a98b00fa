/** Job classes of the retry tests. */
import 'reflect-metadata';
import { setTimeout as delay } from 'node:timers/promises';
import { BaseJob, JobType, RetryableError, type JobContext } from '../../lib';

/** Asks for a retry on every attempt, after sleeping `sleepMs`, with an optional `retryAfterMs`. */
@JobType('test-retry-always')
export class AlwaysRetryJob extends BaseJob {
  sleepMs = 0;
  retryAfterMs = 0;
  async run(ctx: JobContext): Promise<void> {
    if (this.sleepMs > 0) await delay(this.sleepMs, undefined, { signal: ctx.signal });
    throw new RetryableError(`attempt ${ctx.attempt} failed`, {
      retryAfterMs: this.retryAfterMs || undefined,
    });
  }
}

/** Fails with a plain error (retried like any failure) until attempt `succeedOn`. */
@JobType('test-fail-until')
export class FailUntilJob extends BaseJob {
  succeedOn = 1;
  runs = 0;
  async run(ctx: JobContext): Promise<void> {
    this.runs += 1;
    if (ctx.attempt < this.succeedOn) throw new Error(`attempt ${ctx.attempt} failed`);
  }
}

/** Records a throttling answer with `addRetryableError` (no throw) until attempt `succeedOn`. */
@JobType('test-throttled')
export class ThrottledJob extends BaseJob {
  succeedOn = 1;
  retryAfterMs = 0;
  async run(ctx: JobContext): Promise<void> {
    if (ctx.attempt < this.succeedOn) {
      this.addRetryableError(new Error('429 too many requests'), {
        retryAfterMs: this.retryAfterMs,
      });
    }
  }
}
