/** The management API: counts, lists, job detail and guarded actions (see management.ts). */
export { Management } from './management';
export { attemptDetail } from './attempts';
export { checkIdText, checkState, checkStates, decodeCursor, encodeCursor } from './filters';
export * from './types';
export * from './history';
export {
  BULK_LIMIT_DEFAULT,
  BULK_LIMIT_MAX,
  BULK_RETRY_STATES,
  type BulkOptions,
  type BulkResult,
  type DeleteFinishedFilter,
} from './bulk';
