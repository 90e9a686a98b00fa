/**
 * Job classes of the semantics tests: hostile jobs (they throw anything, ignore their signal,
 * return after an abort), jobs with results and logs, and payload classes with `@Type`.
 */
import 'reflect-metadata';
import { setTimeout as delay } from 'node:timers/promises';
import { BaseJob, JobType, NonRetryableError, Type, type JobContext } from '../../lib';

/** What a hostile job throws, by name (so that it is a plain payload field). */
export type Hostile =
  | 'undefined'
  | 'null'
  | 'symbol'
  | 'string'
  | 'null-prototype'
  | 'throwing-message'
  | 'throwing-proxy'
  | 'reject-no-reason'
  | 'sync-throw';

/** The value a hostile job throws for `kind`. */
function hostileValue(kind: Hostile): unknown {
  switch (kind) {
    case 'undefined':
      return undefined;
    case 'null':
      return null;
    case 'symbol':
      return Symbol('weird');
    case 'string':
      return 'a bare string';
    case 'null-prototype':
      return Object.assign(Object.create(null) as object, { reason: 'no prototype' });
    case 'throwing-message': {
      const e = new Error('unseen');
      Object.defineProperty(e, 'message', {
        get() {
          throw new Error('message getter exploded');
        },
      });
      return e;
    }
    case 'throwing-proxy':
      return new Proxy(
        {},
        {
          get() {
            throw new Error('trap');
          },
          getPrototypeOf() {
            throw new Error('trap');
          },
          ownKeys() {
            throw new Error('trap');
          },
        },
      );
    default:
      return undefined;
  }
}

/** Runs of hostile jobs, by attempt ID: a job must run once per attempt. */
export const hostileRuns: string[] = [];

/** Throws (or rejects with) something that is not an Error, or an Error that cannot be read. */
@JobType('test-hostile')
export class HostileJob extends BaseJob {
  kind: Hostile = 'undefined';
  run(): Promise<void> {
    hostileRuns.push(this.id);
    if (this.kind === 'reject-no-reason') return Promise.reject();
    if (this.kind === 'sync-throw') throw new Error('thrown before any await');
    return Promise.reject(hostileValue(this.kind));
  }
}

/** Signals, by attempt ID, when a run's code has really ended (after an abort or a hang). */
export const runEnded = new Map<string, () => void>();
/** A promise settled when the code of run `id` ends. */
export function whenRunEnds(id: string): Promise<void> {
  return new Promise((resolve) => runEnded.set(id, resolve));
}

/**
 * Ignores its signal: sleeps `ms` whatever happens, then returns `'late'` (or throws when
 * `throwAtEnd`). Reports the end of its code through `runEnded`.
 */
@JobType('test-hang')
export class HangJob extends BaseJob<string> {
  ms = 2_000;
  throwAtEnd = false;
  async run(ctx: JobContext): Promise<string> {
    ctx.log('hanging, signal ignored');
    await delay(this.ms);
    runEnded.get(this.id)?.();
    if (this.throwAtEnd) throw new Error('late failure');
    return 'late';
  }
}

/** Waits for its signal, then returns normally (the README's `if (signal.aborted) return`). */
@JobType('test-return-on-abort')
export class ReturnOnAbortJob extends BaseJob {
  throwUndefined = false;
  async run(ctx: JobContext): Promise<void> {
    await new Promise<void>((resolve) => {
      if (ctx.signal.aborted) resolve();
      ctx.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    if (this.throwUndefined) throw undefined;
  }
}

/** Checks its signal after `ms`: returns whether it fired (a 30-day max time must not). */
@JobType('test-long-limit')
export class LongLimitJob extends BaseJob<{ aborted: boolean }> {
  ms = 100;
  async run(ctx: JobContext): Promise<{ aborted: boolean }> {
    await delay(this.ms);
    return { aborted: ctx.signal.aborted };
  }
}

/**
 * Returns `result` (any storable value the test sets), after logging `lines` lines; or, by
 * `make`, a value no attempt can store: a RegExp, or an instance of a class.
 */
@JobType('test-result')
export class ResultJob extends BaseJob<unknown> {
  result: unknown = null;
  lines = 0;
  make: 'result' | 'regexp' | 'instance' = 'result';
  async run(ctx: JobContext): Promise<unknown> {
    for (let i = 0; i < this.lines; i++) ctx.log(`line ${i}`);
    if (this.make === 'regexp') return /x+/;
    if (this.make === 'instance') return new Money();
    return this.result;
  }
}

/** Fails with a long message and a deep stack. */
@JobType('test-deep-stack')
export class DeepStackJob extends BaseJob {
  depth = 300;
  async run(): Promise<void> {
    const recurse = (n: number): never => {
      if (n === 0) throw new Error(`deep failure ${'x'.repeat(10_000)}`);
      return recurse(n - 1);
    };
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = this.depth + 10;
    try {
      recurse(this.depth);
    } finally {
      Error.stackTraceLimit = limit;
    }
  }
}

/** Fails with an error that forbids retries: `NonRetryableError`, or `retryable: false`. */
@JobType('test-final-failure')
export class FinalFailureJob extends BaseJob {
  how: 'class' | 'property' = 'class';
  async run(): Promise<void> {
    if (this.how === 'class') throw new NonRetryableError('card declined');
    throw Object.assign(new Error('gone for good'), { retryable: false });
  }
}

/** Fails every attempt with a plain error; its type backs off 7 s between attempts. */
@JobType('test-type-backoff', { backoff: 7_000 })
export class TypeBackoffJob extends BaseJob {
  async run(ctx: JobContext): Promise<void> {
    throw new Error(`attempt ${ctx.attempt} failed`);
  }
}

// --- payload classes ---

export class Money {
  amount = 0;
  currency = 'EUR';
  /** A method: it exists only on a real Money. */
  format(): string {
    return `${this.amount.toFixed(2)} ${this.currency}`;
  }
}

export class Line {
  sku = '';
  @Type(() => Money)
  price: Money = new Money();
  @Type(() => Date)
  shipBy: Date = new Date(0);
}

/** A payload with nested classes, arrays of classes, Dates and free-form data. */
@JobType('test-order')
export class OrderJob extends BaseJob {
  @Type(() => Money)
  total: Money = new Money();
  @Type(() => Line)
  lines: Line[] = [];
  placedAt = new Date(0);
  /** Free-form data: any keys, `constructor` and `__proto__` included. */
  meta: Record<string, unknown> = {};
  async run(): Promise<string> {
    // Methods of nested classes work in the run too.
    return this.total.format();
  }
}

/** A payload of anything the test puts in `data` (refused or stored faithfully). */
@JobType('test-any-payload')
export class AnyPayloadJob extends BaseJob {
  data: unknown = null;
  async run(): Promise<void> {}
}
