/** Built-in jobs: shell commands, groups of jobs, chunked time ranges. */
export * from './shell';
export * from './group';
export * from '../lib/time-ranges/time-range-job';
export * from '../lib/time-ranges/time-range-requests';
export { FULL_COUNT_MAX_CHUNKS } from '../lib/time-ranges/time-range-sync';
export { formatMinutes, formatTime, requestMessage } from '../lib/time-ranges/time-range-messages';
