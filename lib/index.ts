/**
 * The public API of drover: what a user writes jobs, queues and groups with. Operations live
 * in subpath exports so that importing the queue loads none of them: `drover/management` (the
 * admin API), `drover/dashboard` (the web dashboard) and `drover/metrics` (Prometheus); the
 * testing helper is `drover/testing`.
 * The list of names is held by test/types/public-api.test.ts, so a change to it is deliberate.
 */
export {
  BaseJob,
  DEFAULT_MAX_ATTEMPTS,
  type JobContext,
  type JobOptions,
  type JobFields,
  type JobClass,
  type JobTransactionOptions,
} from './job/base-job';
/**
 * class-transformer's `@Type(() => Cls)`, re-exported so a payload's nested classes are
 * declared with the same class-transformer drover reads them with.
 */
export { Type } from 'class-transformer';
export {
  JobType,
  Registry,
  defaultRegistry,
  type JobTypeOptions,
  type UpgradeFn,
} from './job/registry';
export type { SandboxMode, SandboxOptions } from './sandbox/sandbox-options';
export { Queue, type JobInfo, type PutOptions } from './queue/queue';
export type { QueueOptions } from './queue/queue-options';
export type { QueueEventMap, JobEventInfo } from './events';
export { QueueGroup } from './group/queue-group';
export type { ConnectOptions, QueueGroupOptions } from './group/group-options';
export type { QueueNameMatch, QueuePattern, QueueUpkeepOptions } from './group/queue-layers';
export type { WorkerRecord, WorkerQueue } from './store/worker-store';
export type {
  Scheduler,
  SchedulerOptions,
  ScheduleSpec,
  UpsertResult,
  TickReport,
  ScheduleWriteOptions,
} from './schedules/scheduler';
export type { ScheduledJobOptions } from './store/schedule-store';
export {
  Backoff,
  type BackoffPolicy,
  type BackoffOption,
  type BackoffSpec,
} from './timers/backoff';
export type { RetryHandlerOptions } from './retry/retry-handler';
export type { HistoryOptions } from './history/history-options';
export type { RateLimit } from './limits/rate-limit';
export type { ScopeLockOptions } from './scopes/scope-locks';
export {
  WORKER_READY,
  type BeforeRunContext,
  type BeforeRunHook,
  type AfterRunContext,
  type AfterRunHook,
  type RunHooksOptions,
  type WorkerState,
} from './hooks/run-hooks';
export {
  JOB_STATES,
  type JobState,
  type JobDocument,
  type JobStatus,
  type JobTimeInfo,
  type JobRetryInfo,
  type JobErrorRecord,
  type JobLogLine,
  type QueueStats,
  type ConcurrencyKey,
  type TraceContext,
} from './types';
export { FINISHED_STATES, FINAL_STATES, LIVE_STATES, TRANSITIONS, type Transition } from './states';
export * from './errors';
export {
  afterJobs,
  always,
  check,
  createsFile,
  localFile,
  registerCheck,
  AlwaysDependency,
  JobEdgesDependency,
  CreatesFileDependency,
  LocalFileDependency,
  CheckDependency,
  type DependencyManager,
  type DependencyContext,
  type DependencyDecision,
  type DependencyState,
  type CheckFunction,
  type CheckContext,
  type CheckResult,
  type JobEdgesOptions,
  type CreatesFileOptions,
  type LocalFileOptions,
  type CheckDependencyOptions,
} from '../dependency';
export { ShellJob, GroupJob } from '../jobs';
export {
  TimeRangeChunkJob,
  splitTimeRange,
  type TimeRange,
  type TimeRangeChunk,
} from './time-ranges/time-range-job';
export type {
  TimeRangeRequests,
  TimeRangeRequestsOptions,
  SubmitTimeRange,
  TimeRangeRequestInfo,
  CancelOutcome,
} from './time-ranges/time-range-requests';
