/** The management API: counts, lists, job detail and guarded actions (see management.ts). */
export { Management } from './management';
export { attemptDetail } from './attempts';
export { checkIdText, checkState, checkStates, decodeCursor, encodeCursor } from './filters';
export * from './types';
export {
  HISTORY_BUCKETS_MS,
  HISTORY_POINTS_MAX,
  HISTORY_POINTS_TARGET,
  HISTORY_SINCE_MS_DEFAULT,
  HISTORY_SINCE_MS_MAX,
  type History,
  type HistoryFigures,
  type HistoryPoint,
  type HistoryQuery,
  type HistorySeries,
  type RateRow,
  type Rates,
  type RatesQuery,
} from './history';
export {
  BULK_LIMIT_DEFAULT,
  BULK_LIMIT_MAX,
  BULK_RETRY_STATES,
  type BulkOptions,
  type BulkResult,
  type DeleteFinishedFilter,
} from './bulk';
