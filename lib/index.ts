/** Public API of drover. */
export {
  BaseJob,
  DEFAULT_MAX_ATTEMPTS,
  type JobContext,
  type JobOptions,
  type JobFields,
  type JobClass,
} from './job/base-job';
export {
  JobType,
  Registry,
  defaultRegistry,
  type JobTypeOptions,
  type UpgradeFn,
} from './job/registry';
export { Queue, type JobInfo } from './queue/queue';
export { QueueGroup, type ConnectOptions, type QueueGroupOptions } from './group/queue-group';
export * from './group/queue-layers';
export { QueueFuses } from './limits/fuses';
export type { QueueStore, QueueRecord, RecordedOptions } from './store/queue-store';
export { MongoQueueStore } from './store/mongo/queue-store';
export { MemoryQueueStore } from './store/memory/queue-store';
export { RunnerPool } from './runner/runner-pool';
export * from './schedules/scheduler';
export {
  scheduleTimes,
  SCHEDULE_EVERY_MS_MAX,
  SCHEDULE_EVERY_MS_MIN,
  type ScheduleTiming,
} from './schedules/schedule-times';
export type {
  ScheduleStore,
  ScheduleDocument,
  ScheduleDefinition,
  ScheduledJobOptions,
} from './store/schedule-store';
export { MongoScheduleStore } from './store/mongo/schedule-store';
export { MemoryScheduleStore } from './store/memory/schedule-store';
export {
  Backoff,
  attemptId,
  BACKOFF_BASE_MS_DEFAULT,
  BACKOFF_MAX_MS_DEFAULT,
  BACKOFF_MAX_MS_BOUND,
  HANDED_OVER_AT,
  type BackoffPolicy,
} from './retry/attempt-chain';
export {
  RetryHandler,
  RetryMonitor,
  resolveRetryHandlerOptions,
  MAX_RETRY_ATTEMPTS_DEFAULT,
  MAX_RETRY_TIME_MS_DEFAULT,
  RETRY_BACKOFF_MS_DEFAULT,
  RETRY_NUM_WORKERS_DEFAULT,
  RETRY_NUM_WORKERS_MAX,
  RETRY_MAX_CAPACITY_DEFAULT,
  RETRY_UNLIMITED,
  type RetryHandlerOptions,
  type ResolvedRetryHandlerOptions,
  type RetryDecision,
} from './retry/retry-handler';
export * from './queue/queue-options';
export * from './errors';
export * from './types';
export type { QueueEventMap, JobEventInfo } from './events';
export type { QueueExtension, StartVerdict, AttemptContext, ClaimGrant } from './extension';
export type { JobStore, AbortOutcome } from './store/job-store';
export { MongoJobStore } from './store/mongo/job-store';
export { MemoryJobStore } from './store/memory/job-store';
export * from './scopes/scope-locks';
export { scopeLockId, concurrencySlotId } from './store/scope-store';
export type {
  ScopeKind,
  ScopeLockDocument,
  ScopeLockFields,
  ScopeReleaseFilter,
  ScopeStore,
} from './store/scope-store';
// ConcurrencyKey and CONCURRENCY_LIMIT_MAX come with './types'.
export { MongoScopeStore } from './store/mongo/scope-store';
export { MemoryScopeStore } from './store/memory/scope-store';
export * from '../dependency';
export * from './dependencies/blocked-jobs';
export * from './hooks/run-hooks';
export * from './store/worker-store';
export * from './limits/rate-limit';
export * from './store/rate-store';
export { MongoRateStore } from './store/mongo/rate-store';
export { MemoryRateStore } from './store/memory/rate-store';
export * from './group/worker-presence';
export { MongoWorkerStore } from './store/mongo/worker-store';
export { MemoryWorkerStore } from './store/memory/worker-store';
export * from './group/job-follower';
export type { JobChangedSinceParams, JobLatestState } from './store/job-store';
export * from './store/request-store';
export { MongoRequestStore } from './store/mongo/request-store';
export { MemoryRequestStore } from './store/memory/request-store';
export * from '../jobs';
export * from './ops/metrics';
export * from './ops/dashboard';
export * from './ops/management';
export { connectClient, redactUri, type ConnectRetryOptions } from './store/mongo/connect';
export { checkTypeName } from './validate';
