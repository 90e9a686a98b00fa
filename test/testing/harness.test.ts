/**
 * drover/testing as a user writes with it: job classes tested through their queues under a clock
 * the test moves, with no sleep and no timer: a delayed job, a retry with backoff, a cron entry.
 * Against both stores (the harness takes the stores to run on; users get in-memory ones).
 */
import assert from 'node:assert/strict';
import { Backoff, BaseJob, JobType, RetryableError, type JobContext } from '../../lib';
import { TestHarness, type TestHarnessOptions } from '../../lib/testing';
import { memoryBackend, mongoBackend, type Backend } from '../support/backends';

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

/** What the jobs below did, as a fake mailer or report store would record it. */
const outbox: string[] = [];
const reports: string[] = [];

@JobType('harness-test.send-reminder')
class SendReminder extends BaseJob {
  to = '';
  async run(): Promise<void> {
    outbox.push(this.to);
  }
}

@JobType('harness-test.charge-card')
class ChargeCard extends BaseJob {
  amount = 0;
  receipt = '';
  async run(ctx: JobContext): Promise<void> {
    if (ctx.attempt < 2) throw new RetryableError('card processor unavailable');
    this.receipt = `charged ${this.amount} on attempt ${ctx.attempt}`;
  }
}

@JobType('harness-test.nightly-report')
class NightlyReport extends BaseJob {
  format = 'pdf';
  async run(): Promise<void> {
    reports.push(this.format);
  }
}

@JobType('harness-test.broken')
class Broken extends BaseJob {
  async run(): Promise<void> {
    throw new Error('no such customer');
  }
}

function harnessBehaviour(makeBackend: () => Backend): void {
  let backend: Backend;
  let t: TestHarness | undefined;
  const harness = (options: TestHarnessOptions = {}): TestHarness =>
    (t = new TestHarness({ ...options, stores: backend.stores() }));

  before(() => {
    backend = makeBackend();
  });
  beforeEach(async () => {
    outbox.length = 0;
    reports.length = 0;
    await backend.reset();
  });
  afterEach(async () => t?.close());
  after(async () => backend.close());

  it('runs a delayed job when the clock reaches its time, not before', async () => {
    const t = harness({ start: new Date('2026-03-01T08:00:00Z') });
    const reminders = await t.queue('reminders');
    await reminders.put(SendReminder.create({ to: 'ada@example.com' }, { delayMs: 60 * MINUTE }));

    assert.deepEqual(await t.drain(), []);
    assert.deepEqual(await t.advance(59 * MINUTE), []);
    assert.deepEqual(outbox, []);
    const runs = await t.advance(5 * MINUTE);
    assert.deepEqual(
      runs.map((r) => [r.type, r.outcome, r.at.toISOString()]),
      [['harness-test.send-reminder', 'completed', '2026-03-01T09:00:00.000Z']],
    );
    assert.deepEqual(outbox, ['ada@example.com']);
    assert.equal(t.now().toISOString(), '2026-03-01T09:04:00.000Z');
  });

  it('counts a delay from the put, on the queue clock', async () => {
    const t = harness({ start: new Date('2026-03-01T08:00:00Z') });
    const reminders = await t.queue('reminders');
    const job = SendReminder.create({ to: 'bob@example.com' }, { delayMs: 10 * MINUTE });
    await t.advance(30 * MINUTE);
    await reminders.put(job);
    assert.equal(job.timeInfo.waitUntil?.toISOString(), '2026-03-01T08:40:00.000Z');
    assert.deepEqual(await t.advance(10 * MINUTE - 1), []);
    assert.equal((await t.advance(1)).length, 1);
  });

  it('retries with backoff: each attempt runs when its backoff has passed', async () => {
    const t = harness({ retry: { retryBackoff: Backoff.fixed(30_000) } });
    const start = t.now().getTime();
    const payments = await t.queue('payments');
    await payments.put(ChargeCard.create({ amount: 42 }, { id: 'order-7', maxAttempts: 5 }));

    const first = await t.drain();
    assert.deepEqual(
      first.map((r) => [r.attemptId, r.outcome, r.error]),
      [['order-7', 'retrying', 'card processor unavailable']],
    );
    assert.deepEqual(await t.advance(29_999), []);
    const second = await t.advance(1);
    assert.deepEqual(
      second.map((r) => [r.attemptId, r.attempt, r.outcome]),
      [['order-7#1', 1, 'retrying']],
    );
    const third = await t.advance(60_000);
    assert.deepEqual(
      third.map((r) => [r.jobId, r.attempt, r.outcome, r.at.getTime() - start]),
      [['order-7', 2, 'completed', 60_000]],
    );
    const done = await payments.get<ChargeCard>('order-7');
    assert.equal(done?.receipt, 'charged 42 on attempt 2');
    assert.equal((await payments.getAllAttempts('order-7')).length, 3);
  });

  it('fires a cron entry at each tick as the clock passes, with the entry payload', async () => {
    const t = harness({ start: new Date('2026-03-01T00:00:00Z') });
    await t.queue('reports');
    await t.scheduler.upsert({
      key: 'nightly-report',
      queue: 'reports',
      job: NightlyReport,
      fields: { format: 'csv' },
      cron: '0 2 * * *',
    });
    const runs = await t.advance(3 * DAY);
    assert.deepEqual(
      runs.map((r) => [r.jobId, r.outcome, r.at.toISOString()]),
      ['2026-03-01', '2026-03-02', '2026-03-03'].map((day) => {
        const at = new Date(`${day}T02:00:00.000Z`);
        return [`nightly-report@${at.getTime()}`, 'completed', at.toISOString()];
      }),
    );
    assert.deepEqual(reports, ['csv', 'csv', 'csv']);
  });

  it('reports failures and runs queues of the same group in turn', async () => {
    const t = harness();
    const a = await t.queue('a');
    const b = await t.queue('b');
    // One attempt: its failure is final (with more, a plain error is retried like any other).
    await a.put(Broken.create({}, { id: 'broken', maxAttempts: 1 }));
    await b.put(SendReminder.create({ to: 'cy@example.com' }, { id: 'ok' }));
    const runs = await t.drain();
    assert.deepEqual(
      runs.map((r) => [r.queue, r.jobId, r.outcome, r.error]),
      [
        ['a', 'broken', 'failed', 'no such customer'],
        ['b', 'ok', 'completed', undefined],
      ],
    );
    assert.deepEqual(t.runs, runs);
    assert.throws(() => t.clock.set(new Date(0)), /cannot go back/);
  });

  it('gives up on a job that keeps coming back within one call', async () => {
    const t = harness({ maxRuns: 2, retry: { maxRetryAttempts: 10 } });
    const payments = await t.queue('payments');
    // No delay between attempts: each retry is due at once, within the same drain().
    await payments.put(ChargeCard.create({ amount: 1 }, { maxAttempts: 10, backoff: 0 }));
    await assert.rejects(t.drain(), /more than 2 attempts/);
  });
}

describe('drover/testing (memory)', () => harnessBehaviour(memoryBackend));
describe('drover/testing (mongodb)', () => harnessBehaviour(mongoBackend));
