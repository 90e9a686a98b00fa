/** Public API of drover. */
export {
  BaseJob,
  DEFAULT_MAX_ATTEMPTS,
  type JobContext,
  type JobOptions,
  type JobFields,
  type JobClass,
} from './job';
export {
  JobType,
  Registry,
  defaultRegistry,
  type JobTypeOptions,
  type UpgradeFn,
} from './registry';
export { Queue, type JobInfo } from './queue';
export { QueueGroup, type ConnectOptions, type QueueGroupOptions } from './group';
export * from './queue-options';
export { QueueFuses } from './fuses';
export type { QueueStore, QueueRecord, RecordedOptions } from './queue-store';
export { MongoQueueStore } from './mongo/queue-store';
export { MemoryQueueStore } from './memory/queue-store';
export { RunnerPool } from './runner';
export * from './scheduler';
export {
  scheduleTimes,
  SCHEDULE_EVERY_MS_MAX,
  SCHEDULE_EVERY_MS_MIN,
  type ScheduleTiming,
} from './schedule-times';
export type {
  ScheduleStore,
  ScheduleDocument,
  ScheduleDefinition,
  ScheduledJobOptions,
} from './schedule-store';
export { MongoScheduleStore } from './mongo/schedule-store';
export { MemoryScheduleStore } from './memory/schedule-store';
export {
  Backoff,
  attemptId,
  BACKOFF_BASE_MS_DEFAULT,
  BACKOFF_MAX_MS_DEFAULT,
  BACKOFF_MAX_MS_BOUND,
  HANDED_OVER_AT,
  type BackoffPolicy,
} from './retry';
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
} from './retry-handler';
export * from './options';
export * from './errors';
export * from './types';
export type { QueueEventMap, JobEventInfo } from './events';
export type { QueueExtension, StartVerdict, AttemptContext, ClaimGrant } from './extension';
export type { JobStore, AbortOutcome } from './store';
export { MongoJobStore } from './mongo/job-store';
export { MemoryJobStore } from './memory/job-store';
export * from './scopes';
export { scopeLockId, concurrencySlotId } from './scope-store';
export type {
  ScopeKind,
  ScopeLockDocument,
  ScopeLockFields,
  ScopeReleaseFilter,
  ScopeStore,
} from './scope-store';
// ConcurrencyKey and CONCURRENCY_LIMIT_MAX come with './types'.
export { MongoScopeStore } from './mongo/scope-store';
export { MemoryScopeStore } from './memory/scope-store';
export * from '../dependency';
export * from './dependencies';
export * from './hooks';
export * from './worker-store';
export * from './rate-limit';
export * from './rate-store';
export { MongoRateStore } from './mongo/rate-store';
export { MemoryRateStore } from './memory/rate-store';
export * from './worker-presence';
export { MongoWorkerStore } from './mongo/worker-store';
export { MemoryWorkerStore } from './memory/worker-store';
export * from './job-events';
export type { JobChangedSinceParams, JobLatestState } from './store';
export * from './request-store';
export { MongoRequestStore } from './mongo/request-store';
export { MemoryRequestStore } from './memory/request-store';
export * from '../jobs';
export * from './metrics';
export * from './dashboard';
export * from './management';
export { connectClient, redactUri, type ConnectRetryOptions } from './mongo/connect';
export { checkTypeName } from './validate';
