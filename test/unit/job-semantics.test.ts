/**
 * Unit tests of the parts behind job semantics, without a store: error records of anything
 * thrown, chained timers for limits beyond one Node timer, backoff specs and their layers, the
 * retry window off by default, and the outcome of a run.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import {
  Backoff,
  InvalidArgumentError,
  JobAbortedError,
  LockLostError,
  MaxTimeExceededError,
  NonRetryableError,
  ShutdownError,
} from '../../lib';
import {
  allowsRetry,
  ERROR_MESSAGE_MAX_CHARS,
  errorRecord,
  lastError,
  messageOf,
} from '../../lib/job/error-record';
import { longTimeout, TIMER_MAX_MS, type TimerFunctions } from '../../lib/runner/hard-time-limit';
import { outcomeOf } from '../../lib/runner/outcome-of';
import { RetryHandler } from '../../lib/retry/retry-handler';
import { MemoryJobStore } from '../../lib/store/memory/job-store';
import { checkBackoffSpec, policyOf, toBackoffSpec } from '../../lib/timers/backoff';
import { FailJob } from '../support/jobs';

const DAY_MS = 24 * 3_600_000;

/** Timers that fire only when told, recording every delay asked for. */
class ManualTimers implements TimerFunctions {
  readonly delays: number[] = [];
  private pending = new Map<number, () => void>();
  private next = 0;
  setTimeout(fn: () => void, ms: number): unknown {
    this.delays.push(ms);
    const id = this.next++;
    this.pending.set(id, fn);
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }
  /** Fires every pending timer once. */
  fire(): void {
    const due = [...this.pending.values()];
    this.pending.clear();
    for (const fn of due) fn();
  }
  get armed(): number {
    return this.pending.size;
  }
}

describe('error records of anything thrown', () => {
  it('never throw, and read as something a person understands', () => {
    const noProto = Object.assign(Object.create(null) as object, { a: 1 });
    const badMessage = new Error('x');
    Object.defineProperty(badMessage, 'message', {
      get() {
        throw new Error('boom');
      },
    });
    const proxy = new Proxy(
      {},
      {
        get() {
          throw new Error('trap');
        },
        getPrototypeOf() {
          throw new Error('trap');
        },
      },
    );
    const cases: [unknown, RegExp][] = [
      [undefined, /^threw undefined/],
      [null, /^threw null$/],
      [Symbol('s'), /^threw a symbol: s$/],
      [42, /^threw 42$/],
      [noProto, /^threw a non-Error value: \{"a":1\}$/],
      [badMessage, /^Error \(its message could not be read\)$/],
      [proxy, /./],
      [new TypeError('plain'), /^plain$/],
    ];
    for (const [value, message] of cases) {
      const record = errorRecord(value);
      assert.match(record.message, message, String(message));
      assert.equal(typeof record.code, 'string');
      assert.equal(record.retryable, true);
    }
    assert.equal(errorRecord(new TypeError('t')).code, 'TypeError');
    assert.equal(errorRecord(new NonRetryableError('n')).code, 'DROVER_NON_RETRYABLE');
    assert.match(errorRecord(new Error('e')).stack ?? '', /^Error: e\n/);
    assert.equal(messageOf('x'.repeat(10)), 'x'.repeat(10));
    assert.equal(errorRecord('y'.repeat(20_000)).message.length, ERROR_MESSAGE_MAX_CHARS);
  });

  it('forbid retries only for NonRetryableError and errors with retryable: false', () => {
    assert.equal(allowsRetry(new Error('x')), true);
    assert.equal(allowsRetry(undefined), true);
    assert.equal(allowsRetry(new NonRetryableError('x')), false);
    assert.equal(allowsRetry(Object.assign(new Error('x'), { retryable: false })), false);
    assert.equal(allowsRetry({ retryable: false }), false);
  });

  it('name the real last error, not the "no retry left" note', () => {
    const at = new Date();
    const errors = [
      { message: 'real', code: 'Error', at, retryable: true },
      { message: 'no retry left', code: 'DROVER_RETRIES_EXHAUSTED', at, retryable: false },
    ];
    assert.equal(lastError(errors)?.message, 'real');
    assert.equal(lastError([errors[1]])?.message, 'no retry left');
    assert.equal(lastError([]), undefined);
  });
});

describe('chained timers', () => {
  it('hold a 30-day delay as several timers, none beyond 2^31-1 ms, firing once at the end', () => {
    const timers = new ManualTimers();
    let fired = 0;
    longTimeout(() => fired++, 30 * DAY_MS, timers);
    assert.deepEqual(timers.delays, [TIMER_MAX_MS]);
    timers.fire();
    assert.equal(fired, 0, 'not after the first timer');
    assert.deepEqual(timers.delays, [TIMER_MAX_MS, 30 * DAY_MS - TIMER_MAX_MS]);
    timers.fire();
    assert.equal(fired, 1);
    assert.equal(timers.armed, 0);
  });

  it('use one timer for short delays, and cancel cleanly', () => {
    const timers = new ManualTimers();
    let fired = 0;
    const cancel = longTimeout(() => fired++, 150, timers);
    assert.deepEqual(timers.delays, [150]);
    cancel();
    assert.equal(timers.armed, 0);
    const cancelLong = longTimeout(() => fired++, 60 * DAY_MS, timers);
    timers.fire();
    cancelLong();
    timers.fire();
    assert.equal(fired, 0);
  });
});

describe('backoff specs and layers', () => {
  it('store built-in policies as specs and rebuild them', () => {
    assert.deepEqual(toBackoffSpec(Backoff.fixed(250)), { kind: 'fixed', delayMs: 250 });
    assert.deepEqual(toBackoffSpec(500), { kind: 'fixed', delayMs: 500 });
    assert.deepEqual(toBackoffSpec(Backoff.none()), { kind: 'none' });
    assert.equal(policyOf({ kind: 'fixed', delayMs: 40 })(3), 40);
    const steady = policyOf({
      kind: 'exponential',
      baseMs: 15_000,
      maxMs: 3_600_000,
      jitter: false,
    });
    assert.deepEqual([1, 2, 3, 10].map(steady), [15_000, 30_000, 60_000, 3_600_000]);
    assert.throws(() => toBackoffSpec(Backoff.custom(() => 1)), InvalidArgumentError);
    for (const bad of [null, {}, { kind: 'fixed', delayMs: -1 }, { kind: 'wild' }]) {
      assert.throws(() => checkBackoffSpec(bad), InvalidArgumentError, JSON.stringify(bad));
    }
  });

  it("layer: retryAfterMs, then the job's, then the fallback, then the handler's", () => {
    const h = new RetryHandler(new MemoryJobStore(), { retryBackoff: Backoff.fixed(1) });
    const job = FailJob.create({}, { id: 'j' });
    assert.equal(h.delayMs(job, 1), 1);
    assert.equal(h.delayMs(job, 1, Backoff.fixed(2)), 2);
    job.retryInfo.backoff = { kind: 'fixed', delayMs: 3 };
    assert.equal(h.delayMs(job, 1, Backoff.fixed(2)), 3);
    job.retryInfo.waitUntilMs = 4;
    assert.equal(h.delayMs(job, 1, Backoff.fixed(2)), 4);
  });

  it('keep retrying past a minute by default: no hidden retry window', () => {
    const h = new RetryHandler(new MemoryJobStore());
    const job = FailJob.create({}, { id: 'w' });
    const t0 = new Date('2030-01-01T00:00:00Z');
    job.retryInfo.currentAttempt = 3;
    job.retryInfo.start = t0;
    job.timeInfo.start = t0;
    const d = h.decide(job, new Date(t0.getTime() + 10 * DAY_MS));
    assert.ok(d.retry, 'ten days later, attempts left: retried');
  });
});

describe('the outcome of a run', () => {
  const fresh = () => FailJob.create({}, { id: 'o' });

  it('follows why the signal fired, however run() ended', () => {
    const returned = { kind: 'returned', value: 'done' } as const;
    assert.equal(outcomeOf(fresh(), returned, new LockLostError('o', 'w'), 0), undefined);
    assert.deepEqual(outcomeOf(fresh(), returned, new ShutdownError('o'), 0), {
      state: 'pending',
    });
    const aborted = fresh();
    assert.deepEqual(outcomeOf(aborted, returned, new JobAbortedError('o'), 0), {
      state: 'aborted',
    });
    assert.equal(aborted.returnValue, undefined, 'an aborted run has no result');
    const timedOut = fresh();
    assert.deepEqual(outcomeOf(timedOut, { kind: 'hung' }, new MaxTimeExceededError('o', 5), 0), {
      state: 'retrying',
    });
    assert.equal(timedOut.status.errors[0].code, 'DROVER_MAX_TIME_EXCEEDED');
  });

  it('fails on anything thrown, retrying unless forbidden; keeps what was returned', () => {
    assert.deepEqual(outcomeOf(fresh(), { kind: 'threw', error: undefined }, undefined, 0), {
      state: 'retrying',
    });
    const final = fresh();
    const err = new NonRetryableError('no');
    assert.deepEqual(outcomeOf(final, { kind: 'threw', error: err }, undefined, 0), {
      state: 'failed',
    });
    const ok = fresh();
    assert.deepEqual(outcomeOf(ok, { kind: 'returned', value: { n: 1 } }, undefined, 0), {
      state: 'completed',
    });
    assert.deepEqual(ok.returnValue, { n: 1 });
  });
});
