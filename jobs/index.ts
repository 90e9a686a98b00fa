/** Built-in jobs: shell commands and groups of jobs (time-range chunks live in lib/time-ranges/). */
export * from './shell';
export * from './group';
