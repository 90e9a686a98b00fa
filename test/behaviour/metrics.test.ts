/**
 * Prometheus metrics against both stores: counters and histograms fed by the group's runners
 * (queues opened before and after `createMetrics`), gauges read from the database on scrape,
 * detaching, and option validation.
 */
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { createMetrics } from '../../lib/ops/metrics';
import { InvalidArgumentError, type QueueGroup } from '../../lib';
import { Management } from '../../lib/ops/management';
import { eventually, memoryBackend, mongoBackend, type Backend } from '../support/backends';
import { FailJob, FlakyJob, NoopJob, SleepJob, WaitForAbortJob } from '../support/jobs';

/** The value of one series (0 when absent); for histograms, name the `_count` or `_sum` series. */
/** Waits until a counter reaches `n` (observers run just after the outcome is stored). */
async function counted(
  registry: Registry,
  name: string,
  labels: Record<string, string>,
  n: number,
): Promise<void> {
  await eventually(`${name} ${JSON.stringify(labels)} = ${n}`, async () => {
    return (await value(registry, name, labels)) >= n;
  });
  assert.equal(await value(registry, name, labels), n);
}

async function value(
  registry: Registry,
  name: string,
  labels: Record<string, string>,
): Promise<number> {
  const base = name.replace(/_(count|sum)$/, '');
  const metric = registry.getSingleMetric(base);
  assert.ok(metric, `metric ${base} is registered`);
  const data = await metric.get();
  const found = data.values.find(
    (v) =>
      ((v as { metricName?: string }).metricName ?? base) === name &&
      Object.entries(labels).every(([k, l]) => v.labels[k] === l),
  );
  return found?.value ?? 0;
}

function metricsBehaviour(makeBackend: () => Backend): void {
  let backend: Backend;
  let group: QueueGroup;

  before(() => {
    backend = makeBackend();
  });
  beforeEach(async () => {
    await backend.reset();
    group = backend.group();
  });
  after(async () => backend.close());

  it('counts claims and outcomes by queue and type, in queues opened before and after', async () => {
    const early = await group.get('early');
    const metrics = createMetrics({ group });
    const late = await group.get('late');
    await early.putMany([
      SleepJob.create({ ms: 1 }, { id: 'ok-1' }),
      SleepJob.create({ ms: 1 }, { id: 'ok-2' }),
      FailJob.create({}, { id: 'bad', retryable: false }),
    ]);
    await late.putMany([
      FlakyJob.create({ succeedOn: 1, retryAfterMs: 1 }, { id: 'flaky', maxAttempts: 3 }),
      WaitForAbortJob.create({}, { id: 'long' }),
    ]);
    await early.start();
    await late.start();
    for (const id of ['ok-1', 'ok-2', 'bad']) await early.waitFor(id);
    await late.waitFor('flaky');
    await eventually('long runs', () => late.isRunning('long'));
    await group.abort('long');
    await late.waitFor('long');

    // Observers count after the outcome is stored, so waitFor may return a moment before.
    const r = metrics.registry;
    const sleep = { queue: 'early', type: 'test-sleep' };
    const flaky = { queue: 'late', type: 'test-flaky' };
    const wait = { queue: 'late', type: 'test-wait-abort' };
    await counted(r, 'drover_jobs_claimed_total', sleep, 2);
    await counted(r, 'drover_jobs_completed_total', sleep, 2);
    await counted(r, 'drover_jobs_failed_total', { queue: 'early', type: 'test-fail' }, 1);
    await counted(r, 'drover_jobs_claimed_total', flaky, 2);
    await counted(r, 'drover_jobs_retried_total', flaky, 1);
    await counted(r, 'drover_jobs_completed_total', flaky, 1);
    await counted(r, 'drover_jobs_aborted_total', wait, 1);
    await counted(r, 'drover_job_queue_wait_seconds_count', sleep, 2);
    await counted(r, 'drover_job_run_duration_seconds_count', flaky, 2);
    await counted(r, 'drover_job_run_duration_seconds_count', wait, 1);
    const waitSum = await value(r, 'drover_job_queue_wait_seconds_sum', sleep);
    assert.ok(waitSum >= 0 && waitSum < 60, `queue wait ${waitSum}`);
    metrics.close();
  });

  it('reads pending, due and running gauges from the database on scrape', async () => {
    const q = await group.get('gauges');
    await q.putMany([
      NoopJob.create({}, { id: 'later-1', delayMs: 3600_000 }),
      NoopJob.create({}, { id: 'later-2', delayMs: 3600_000 }),
      WaitForAbortJob.create({}, { id: 'busy' }),
    ]);
    // Another group, as another process: it sees the same database, and runs nothing here.
    const observer = backend.group();
    const metrics = createMetrics({ group: observer, gaugeCacheMs: 0 });
    const r = metrics.registry;
    const noop = { queue: 'gauges', type: 'test-noop' };
    const busy = { queue: 'gauges', type: 'test-wait-abort' };
    assert.equal(await value(r, 'drover_jobs_pending', noop), 2);
    assert.equal(await value(r, 'drover_jobs_due', noop), 0);
    assert.equal(await value(r, 'drover_jobs_pending', busy), 1);
    assert.equal(await value(r, 'drover_jobs_due', busy), 1);
    await q.start();
    await eventually('busy runs', () => q.isRunning('busy'));
    assert.equal(await value(r, 'drover_jobs_running', busy), 1);
    assert.equal(await value(r, 'drover_jobs_pending', busy), 0);
    // The running group's presence record, seen from the observer.
    await counted(r, 'drover_worker_groups', { state: 'ready' }, 1);
    await q.abort('busy');
    await q.waitFor('busy');
    assert.equal(await value(r, 'drover_jobs_running', busy), 0);
    // A type whose jobs are gone disappears rather than keeping stale values.
    assert.equal((await new Management(observer).delete('busy')).outcome, 'done');
    const running = await r.getSingleMetric('drover_jobs_running')?.get();
    assert.deepEqual(
      running?.values.map((v) => v.labels.type),
      ['test-noop'],
    );
    metrics.close();

    const cached = createMetrics({
      group: observer,
      registry: new Registry(),
      gaugeCacheMs: 60_000,
    });
    assert.equal(await value(cached.registry, 'drover_jobs_pending', noop), 2);
    await q.put(NoopJob.create({}, { id: 'later-3', delayMs: 3600_000 }));
    assert.equal(await value(cached.registry, 'drover_jobs_pending', noop), 2, 'cached');
    cached.close();
  });

  it('stops counting once closed, and uses the registry and prefix given', async () => {
    const registry = new Registry();
    const metrics = createMetrics({ group, registry, prefix: 'app_' });
    assert.equal(metrics.registry, registry);
    const q = await group.get('closing');
    await q.put(NoopJob.create({}, { id: 'one' }));
    await q.start();
    await q.waitFor('one');
    // The stored state comes first; the extensions' afterFinish (metrics last) then runs, and
    // the attempt leaves the pool's running set once they are done.
    const recorded = () => eventually('recorded', () => q.runningJobs().length === 0);
    await recorded();
    const labels = { queue: 'closing', type: 'test-noop' };
    assert.equal(await value(registry, 'app_jobs_completed_total', labels), 1);
    metrics.close();
    await q.put(NoopJob.create({}, { id: 'two' }));
    await q.waitFor('two');
    await recorded();
    assert.equal(await value(registry, 'app_jobs_completed_total', labels), 1);
    assert.equal(registry.getSingleMetric('drover_jobs_completed_total'), undefined);
  });

  it('validates its options', () => {
    assert.throws(() => createMetrics({ group, prefix: 'bad prefix' }), InvalidArgumentError);
    assert.throws(() => createMetrics({ group, gaugeCacheMs: -1 }), InvalidArgumentError);
    assert.throws(
      () => createMetrics({ group, runDurationBucketsS: [1, 1] }),
      InvalidArgumentError,
    );
    assert.throws(() => createMetrics({ group: {} as QueueGroup }), InvalidArgumentError);
  });
}

describe('metrics: in-memory', () => metricsBehaviour(memoryBackend));
describe('metrics: MongoDB', () => metricsBehaviour(mongoBackend));
