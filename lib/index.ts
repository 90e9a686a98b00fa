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
export { RunnerPool } from './runner';
export { Backoff, attemptId, type BackoffPolicy } from './retry';
export * from './options';
export * from './errors';
export * from './types';
export type { QueueEventMap, JobEventInfo } from './events';
export type { JobStore, AbortOutcome } from './store';
export { MongoJobStore } from './mongo/job-store';
export { MemoryJobStore } from './memory/job-store';
