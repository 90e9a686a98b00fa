/** Built-in jobs: shell commands, groups of jobs, chunked time ranges. */
export * from './shell';
export * from './group';
export * from './time-range';
export * from './time-range-requests';
export { FULL_COUNT_MAX_CHUNKS } from './time-range-sync';
export { formatMinutes, formatTime, requestMessage } from './time-range-messages';
