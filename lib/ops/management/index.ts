/** The management API: counts, lists, job detail and guarded actions (see management.ts). */
export { Management } from './management';
export { attemptDetail } from './attempts';
export { checkIdText, checkState, checkStates, decodeCursor, encodeCursor } from './filters';
export * from './types';
