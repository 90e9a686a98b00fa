/**
 * Unit tests of the retry handler's pure parts: backoff policies (jitter bounds), option
 * resolution, the retry decision with an explicit clock, and the next-attempt document.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { InvalidArgumentError, RetriesExhaustedError } from '../../lib/errors';
import { MemoryJobStore } from '../../lib/store/memory/job-store';
import { defaultRegistry } from '../../lib/job/registry';
import {
  Backoff,
  BACKOFF_MAX_MS_BOUND,
  attemptId,
  clampDelayMs,
  nextAttemptFrom,
} from '../../lib/retry/attempt-chain';
import {
  MAX_RETRY_ATTEMPTS_DEFAULT,
  MAX_RETRY_TIME_MS_DEFAULT,
  RETRY_MAX_CAPACITY_DEFAULT,
  RETRY_NUM_WORKERS_DEFAULT,
  RETRY_UNLIMITED,
  RetryHandler,
  resolveRetryHandlerOptions,
} from '../../lib/retry/retry-handler';
import { FlakyJob } from '../support/jobs';

describe('retry policies', () => {
  it('exponential backoff stays within [50%, 100%] of base * 2^(attempt-1), capped', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60 }),
        fc.integer({ min: 1, max: 100_000 }),
        fc.integer({ min: 1, max: 10_000_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (attempt, baseMs, maxMs, r) => {
          const full = Math.min(maxMs, baseMs * 2 ** (attempt - 1));
          const ms = Backoff.exponential(baseMs, maxMs, () => r)(attempt);
          return ms >= Math.max(1, Math.floor(full / 2)) && ms <= Math.ceil(full);
        },
      ),
    );
  });

  it('exponential backoff defaults to the seeds’ 15 s x 2^try and jitters with Math.random', () => {
    const policy = Backoff.exponential();
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const ms = policy(3);
      assert.ok(ms >= 30_000 && ms <= 60_000, String(ms));
      seen.add(ms);
    }
    assert.ok(seen.size > 10, 'jittered');
    assert.equal(Backoff.exponential(15_000, 3_600_000, () => 1)(30), 3_600_000);
  });

  it('fixed, none and custom policies; answers clamped to [0, 1 year]', () => {
    assert.equal(Backoff.fixed(250)(7), 250);
    assert.equal(Backoff.none()(3), 0);
    assert.equal(Backoff.custom((n) => n * 10)(4), 40);
    assert.equal(clampDelayMs(-5), 0);
    assert.equal(clampDelayMs(Number.NaN), 0);
    assert.equal(clampDelayMs(Infinity), BACKOFF_MAX_MS_BOUND);
    assert.equal(clampDelayMs(12.6), 13);
  });
});

describe('retry handler options', () => {
  it('resolves the defaults: 10 attempts, no retry window, Backoff.standard()', () => {
    const o = resolveRetryHandlerOptions();
    assert.equal(o.maxRetryAttempts, MAX_RETRY_ATTEMPTS_DEFAULT);
    assert.equal(o.maxRetryTimeMs, MAX_RETRY_TIME_MS_DEFAULT);
    assert.equal(o.numWorkers, RETRY_NUM_WORKERS_DEFAULT);
    assert.equal(o.maxCapacity, RETRY_MAX_CAPACITY_DEFAULT);
    // Exponential with jitter: 1 s x 2^(n-1), within [50%, 100%].
    assert.deepEqual(o.retryBackoff.spec, {
      kind: 'exponential',
      baseMs: 1_000,
      maxMs: 3_600_000,
      jitter: true,
    });
    for (let i = 0; i < 50; i++) {
      const ms = o.retryBackoff(5);
      assert.ok(ms >= 8_000 && ms <= 16_000, String(ms));
    }
    assert.deepEqual(
      [MAX_RETRY_ATTEMPTS_DEFAULT, MAX_RETRY_TIME_MS_DEFAULT, RETRY_NUM_WORKERS_DEFAULT],
      [10, RETRY_UNLIMITED, 1],
    );
    assert.equal(RETRY_MAX_CAPACITY_DEFAULT, 4096);
  });

  it('accepts -1 as unlimited and milliseconds as a fixed backoff', () => {
    const o = resolveRetryHandlerOptions({
      maxRetryAttempts: RETRY_UNLIMITED,
      maxRetryTimeMs: RETRY_UNLIMITED,
      maxCapacity: RETRY_UNLIMITED,
      retryBackoff: 1500,
      numWorkers: 4,
    });
    assert.deepEqual(
      [o.maxRetryAttempts, o.maxRetryTimeMs, o.maxCapacity, o.numWorkers],
      [-1, -1, -1, 4],
    );
    assert.equal(o.retryBackoff(9), 1500);
  });

  it('rejects bad values with InvalidArgumentError', () => {
    for (const bad of [
      { maxRetryAttempts: 0 },
      { maxRetryAttempts: 2.5 },
      { maxRetryTimeMs: -2 },
      { maxCapacity: -3 },
      { numWorkers: 0 },
      { numWorkers: 1.5 },
      { retryBackoff: -1 },
      { retryBackoff: 'fast' as unknown as number },
    ]) {
      assert.throws(
        () => resolveRetryHandlerOptions(bad),
        InvalidArgumentError,
        JSON.stringify(bad),
      );
    }
  });
});

describe('retry decision', () => {
  const t0 = new Date('2030-01-01T00:00:00Z');
  const at = (ms: number) => new Date(t0.getTime() + ms);

  function attempt(n: number, opts: { maxAttempts?: number; retryAfterMs?: number } = {}) {
    const job = FlakyJob.create({}, { id: 'j', maxAttempts: opts.maxAttempts });
    job.retryInfo.currentAttempt = n;
    job.retryInfo.start = n === 0 ? null : t0;
    job.timeInfo.start = at(n * 1000);
    job.addRetryableError(new Error('x'), { retryAfterMs: opts.retryAfterMs });
    return job;
  }

  it('grants a retry within the bounds, due after the policy or retryAfterMs', () => {
    const h = new RetryHandler(new MemoryJobStore(), { retryBackoff: Backoff.fixed(500) });
    const d = h.decide(attempt(0), at(100));
    assert.ok(d.retry);
    assert.deepEqual(d.plan, { baseJobId: 'j', attempt: 1, dueAt: at(600), retryStart: at(0) });
    const throttled = h.decide(attempt(2, { retryAfterMs: 9000 }), at(2100));
    assert.ok(throttled.retry);
    assert.deepEqual(throttled.plan.dueAt, at(11_100));
    assert.deepEqual(throttled.plan.retryStart, t0, 'the window counts from the first attempt');
  });

  it('refuses once attempts are used up, capped by maxRetryAttempts', () => {
    const h = new RetryHandler(new MemoryJobStore(), { maxRetryAttempts: 4 });
    assert.ok(h.decide(attempt(2, { maxAttempts: 10 }), at(2100)).retry);
    const d = h.decide(attempt(3, { maxAttempts: 10 }), at(3100));
    assert.ok(
      !d.retry && d.error instanceof RetriesExhaustedError && d.error.reason === 'attempts',
    );
    assert.equal(h.attemptLimit(attempt(0, { maxAttempts: 2 })), 2);
    const unlimited = new RetryHandler(new MemoryJobStore(), { maxRetryAttempts: -1 });
    assert.equal(unlimited.attemptLimit(attempt(0, { maxAttempts: 50 })), 50);
  });

  it('refuses once the first attempt started more than maxRetryTimeMs ago', () => {
    const h = new RetryHandler(new MemoryJobStore(), { maxRetryTimeMs: 60_000 });
    assert.ok(h.decide(attempt(3), at(60_000)).retry);
    const d = h.decide(attempt(3), at(60_001));
    assert.ok(!d.retry && d.error instanceof RetriesExhaustedError && d.error.reason === 'time');
  });

  it('builds the next attempt from the old one with a fresh status', () => {
    const job = attempt(1);
    job.status.owner = 'w1';
    job.status.modCount = 4;
    const source = defaultRegistry.toDocument(job, 'q', at(5000));
    const next = nextAttemptFrom(
      { ...source, nextAttemptId: 'j#2' },
      { baseJobId: 'j', attempt: 2, dueAt: at(9000), retryStart: t0 },
      at(5000),
    );
    assert.equal(next._id, attemptId('j', 2));
    assert.equal(next.state, 'pending');
    assert.equal(next.status.modCount, 0);
    assert.equal(next.status.owner, '');
    assert.deepEqual(next.status.errors, []);
    assert.deepEqual(next.dueAt, at(9000));
    assert.deepEqual(next.timeInfo.waitUntil, at(9000));
    assert.equal(next.timeInfo.start, null);
    assert.deepEqual(next.retryInfo.start, t0);
    assert.equal(next.retryInfo.currentAttempt, 2);
    assert.equal(next.retryInfo.needsRetry, false);
    assert.equal(next.nextAttemptId, undefined);
    assert.deepEqual(next.payload, source.payload);
  });
});
