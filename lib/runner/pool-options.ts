/**
 * What a runner pool needs of its options, resolved (every field present). The queue resolves
 * them with its own (lib/queue/queue-options.ts), so the pool knows nothing of queue features.
 */
import type { Logger } from 'pino';
import type { Registry } from '../job/registry';
import type { JobTracing } from '../tracing/job-tracing';
import type { BackoffPolicy } from '../timers/backoff';

/** A runner pool's options with every field resolved. */
export interface ResolvedPoolOptions {
  workers: number;
  lockTimeoutMs: number;
  heartbeatMs: number;
  pollMinMs: number;
  pollMaxMs: number;
  drainTimeoutMs: number;
  reclaimEveryMs: number;
  excludeTypes: string[];
  maxLockLosses: number;
  /** Once a run's signal fired, how long it may go on before it is given up (hard-time-limit.ts). */
  abortGraceMs: number;
  /** The queue's backoff between attempts; null: the retry handler's. */
  retryBackoff: BackoffPolicy | null;
  registry: Registry;
  logger: Logger;
  now: () => Date;
  /** OpenTelemetry spans of puts and runs (a no-op without `@opentelemetry/api`). */
  tracing: JobTracing;
}
