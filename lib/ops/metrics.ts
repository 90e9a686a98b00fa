/**
 * Prometheus metrics of a queue group, with prom-client. Counters and histograms are fed by the
 * runners of this process (an observer extension attached to the group, so queues created later
 * are covered too); Prometheus sums them over every worker process. The pending, due and running
 * gauges are read from the database on scrape (one management `counts()` aggregation, cached a
 * few seconds), so every process reports the same deployment-wide values.
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AttemptContext, QueueExtension, StartVerdict } from '../extension';
import type { QueueGroup } from '../group/queue-group';
import { Management, type Counts } from './management';
import type { LockToken } from '../store/job-store';
import type { JobState } from '../types';
import { checkNumber } from '../validate';
import { countWorkerStates } from '../store/worker-store';
import { InvalidArgumentError } from '../errors';

/** Prefix of every metric name. */
export const METRICS_PREFIX_DEFAULT = 'drover_';
/** How long gauge values read from the database are reused by later scrapes. */
export const METRICS_GAUGE_CACHE_MS_DEFAULT = 5_000;
export const METRICS_GAUGE_CACHE_MS_MAX = 600_000;
/** Buckets (seconds) of the queue-wait histogram: from due to claimed. */
export const QUEUE_WAIT_BUCKETS_S_DEFAULT: readonly number[] = [
  0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 1800, 3600, 21600,
];
/** Buckets (seconds) of the run-duration histogram: from start to recorded outcome. */
export const RUN_DURATION_BUCKETS_S_DEFAULT: readonly number[] = [
  0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 1800, 3600,
];

/** Options of `createMetrics`. */
export interface MetricsOptions {
  /** The group whose queues (held now or opened later) are observed. */
  group: QueueGroup;
  /** Where the metrics are registered; a new Registry by default. */
  registry?: Registry;
  /** Source of the gauges; `new Management(group)` by default. */
  management?: Management;
  /** Prefix of metric names; default METRICS_PREFIX_DEFAULT. */
  prefix?: string;
  /** Reuse of gauge values between scrapes; default METRICS_GAUGE_CACHE_MS_DEFAULT. */
  gaugeCacheMs?: number;
  queueWaitBucketsS?: readonly number[];
  runDurationBucketsS?: readonly number[];
  /** Where a failed gauge read is logged; the group's logger by default. */
  logger?: Logger;
}

/** Options with every field resolved. */
export interface ResolvedMetricsOptions {
  group: QueueGroup;
  registry: Registry;
  management: Management;
  prefix: string;
  gaugeCacheMs: number;
  queueWaitBucketsS: number[];
  runDurationBucketsS: number[];
  logger: Logger;
}

const PREFIX = /^[a-zA-Z_:][a-zA-Z0-9_:]{0,63}$/;

function checkBuckets(name: string, buckets: readonly number[]): number[] {
  if (!Array.isArray(buckets) || buckets.length === 0) {
    throw new InvalidArgumentError(`${name} must be a non-empty array`);
  }
  const out = buckets.map((b) => checkNumber(name, b, 0, 1e9));
  if (out.some((b, i) => i > 0 && b <= out[i - 1])) {
    throw new InvalidArgumentError(`${name} must be strictly increasing`);
  }
  return out;
}

/** Copies, defaults and validates metrics options. */
export function resolveMetricsOptions(o: MetricsOptions): ResolvedMetricsOptions {
  if (!o || typeof o.group?.get !== 'function') {
    throw new InvalidArgumentError('createMetrics needs a queue group');
  }
  const prefix = o.prefix ?? METRICS_PREFIX_DEFAULT;
  if (prefix !== '' && !PREFIX.test(prefix)) {
    throw new InvalidArgumentError(`invalid metric prefix ${JSON.stringify(prefix)}`);
  }
  return {
    group: o.group,
    registry: o.registry ?? new Registry(),
    management: o.management ?? new Management(o.group),
    prefix,
    gaugeCacheMs: checkNumber(
      'gaugeCacheMs',
      o.gaugeCacheMs ?? METRICS_GAUGE_CACHE_MS_DEFAULT,
      0,
      METRICS_GAUGE_CACHE_MS_MAX,
    ),
    queueWaitBucketsS: checkBuckets(
      'queueWaitBucketsS',
      o.queueWaitBucketsS ?? QUEUE_WAIT_BUCKETS_S_DEFAULT,
    ),
    runDurationBucketsS: checkBuckets(
      'runDurationBucketsS',
      o.runDurationBucketsS ?? RUN_DURATION_BUCKETS_S_DEFAULT,
    ),
    logger: o.logger ?? o.group.logger,
  };
}

/** What `createMetrics` returns. */
export interface DroverMetrics {
  /** Holds every drover metric; serve `registry.metrics()` (content type `registry.contentType`). */
  readonly registry: Registry;
  /**
   * The observer feeding the counters and histograms. It is attached to the group already; give
   * it to a queue built outside a group (`new Queue(..., { extensions: [extension] })`).
   */
  readonly extension: QueueExtension;
  /** Detaches from the group (the metrics stay registered and keep their values). */
  close(): void;
}

type Labels = 'queue' | 'type';
type OutcomeCounter = Counter<Labels>;

/** Counts runs and outcomes of this process's runners. */
class MetricsObserver implements QueueExtension {
  readonly name = 'metrics';
  /** Start of each run, by the run's lock token (one object per claimed attempt). */
  private readonly started = new WeakMap<LockToken, number>();

  constructor(
    private readonly claimed: OutcomeCounter,
    private readonly outcomes: Partial<Record<JobState, OutcomeCounter>>,
    private readonly queueWait: Histogram<Labels>,
    private readonly runDuration: Histogram<Labels>,
  ) {}

  private labels(ctx: AttemptContext): Record<Labels, string> {
    return { queue: ctx.queue, type: ctx.job.type.name };
  }

  async beforeStart(ctx: AttemptContext): Promise<StartVerdict> {
    const labels = this.labels(ctx);
    this.claimed.inc(labels);
    // The due time of an attempt is max(created, waitUntil) (see registry and retry hand-over).
    const { created, waitUntil } = ctx.job.timeInfo;
    const due = Math.max(created.getTime(), waitUntil?.getTime() ?? 0);
    this.queueWait.observe(labels, Math.max(0, ctx.now.getTime() - due) / 1000);
    this.started.set(ctx.token, performance.now());
    return { action: 'run' };
  }

  async afterFinish(ctx: AttemptContext, state: JobState): Promise<void> {
    const labels = this.labels(ctx);
    this.outcomes[state]?.inc(labels);
    const start = this.started.get(ctx.token);
    if (start === undefined) return;
    this.started.delete(ctx.token);
    this.runDuration.observe(labels, (performance.now() - start) / 1000);
  }
}

/** Reads counts at most once per `ttlMs`; concurrent scrapes share one read. */
class CountsCache {
  private value?: { at: number; counts: Counts };
  private pending?: Promise<Counts | undefined>;

  constructor(
    private readonly management: Management,
    private readonly ttlMs: number,
    private readonly logger: Logger,
  ) {}

  async get(): Promise<Counts | undefined> {
    if (this.value && performance.now() - this.value.at < this.ttlMs) return this.value.counts;
    this.pending ??= this.management
      .counts()
      .then((counts) => {
        this.value = { at: performance.now(), counts };
        return counts;
      })
      .catch((err: unknown) => {
        // A scrape must not fail because the database is slow: report the last values.
        this.logger.warn({ err }, 'metrics: reading job counts failed');
        return this.value?.counts;
      })
      .finally(() => {
        this.pending = undefined;
      });
    return this.pending;
  }
}

/**
 * Registers drover's metrics in a registry and attaches their observer to `group`:
 *
 * - `drover_jobs_claimed_total`, `_completed_total`, `_failed_total`, `_retried_total`,
 *   `_aborted_total`, `_expired_total` {queue, type}: attempts claimed and outcomes recorded by
 *   this process (`retried`: attempts that ended handing over to a next attempt);
 * - `drover_job_queue_wait_seconds` {queue, type}: from an attempt's due time to its claim;
 * - `drover_job_run_duration_seconds` {queue, type}: from start to recorded outcome;
 * - `drover_jobs_pending`, `drover_jobs_due`, `drover_jobs_running` {queue, type}: read from the
 *   database on scrape, for the whole deployment;
 * - `drover_worker_groups` {state}: live worker groups by state (`ready`, `auth-required`...),
 *   from the presence records, on scrape.
 */
export function createMetrics(options: MetricsOptions): DroverMetrics {
  const o = resolveMetricsOptions(options);
  const registers = [o.registry];
  const labelNames: Labels[] = ['queue', 'type'];
  const counter = (name: string, help: string): OutcomeCounter =>
    new Counter({ name: `${o.prefix}${name}`, help, labelNames, registers });
  const claimed = counter('jobs_claimed_total', 'Job attempts claimed to run by this process.');
  const outcomes: Partial<Record<JobState, OutcomeCounter>> = {
    completed: counter('jobs_completed_total', 'Job attempts completed in this process.'),
    failed: counter('jobs_failed_total', 'Job attempts failed (no retry left) in this process.'),
    retrying: counter('jobs_retried_total', 'Job attempts that failed and were retried.'),
    aborted: counter('jobs_aborted_total', 'Job attempts aborted in this process.'),
    expired: counter('jobs_expired_total', 'Job attempts expired before they could run.'),
  };
  const queueWait = new Histogram({
    name: `${o.prefix}job_queue_wait_seconds`,
    help: 'Time from when a job attempt was due to when it was claimed.',
    labelNames,
    buckets: o.queueWaitBucketsS,
    registers,
  });
  const runDuration = new Histogram({
    name: `${o.prefix}job_run_duration_seconds`,
    help: 'Time from the start of a job attempt to its recorded outcome.',
    labelNames,
    buckets: o.runDurationBucketsS,
    registers,
  });
  const cache = new CountsCache(o.management, o.gaugeCacheMs, o.logger);
  const gauge = (name: string, help: string, field: 'pending' | 'due' | 'running') => {
    const g: Gauge<Labels> = new Gauge({
      name: `${o.prefix}${name}`,
      help,
      labelNames,
      registers,
      async collect() {
        const counts = await cache.get();
        if (!counts) return;
        // Reset first, so a queue or type whose jobs are gone disappears from the output.
        g.reset();
        for (const t of counts.types) g.set({ queue: t.queue, type: t.type }, t[field]);
      },
    });
    return g;
  };
  gauge('jobs_pending', 'Jobs waiting to run, due or delayed (whole deployment).', 'pending');
  gauge('jobs_due', 'Pending jobs that are due now (whole deployment).', 'due');
  gauge('jobs_running', 'Jobs running now, in any process (whole deployment).', 'running');
  const workers: Gauge<'state'> = new Gauge({
    name: `${o.prefix}worker_groups`,
    help: 'Live worker groups by state: ready, or a waiting hook state (whole deployment).',
    labelNames: ['state'],
    registers,
    async collect() {
      const records = await o.management.workers().catch((err: unknown) => {
        o.logger.warn({ err }, 'reading workers for metrics failed');
        return undefined;
      });
      if (!records) return;
      workers.reset();
      for (const c of countWorkerStates(records)) workers.set({ state: c.state }, c.groups);
    },
  });

  const extension = new MetricsObserver(claimed, outcomes, queueWait, runDuration);
  o.group.observers.add(extension);
  return {
    registry: o.registry,
    extension,
    close: () => {
      o.group.observers.delete(extension);
    },
  };
}
