/**
 * Shapes of the management API: its options (with exported defaults), the filters it accepts and
 * the results it returns. Every action reports what it changed.
 */
import { checkNumber } from '../../validate';
import type { JobCountRow, JobPageOrder, JobSummaryDocument } from '../../store/job-store';
import type { JobDocument, JobErrorRecord, JobState, JobTypeInfo, QueueStats } from '../../types';

/** Rows per page of `list()` when no limit is given. */
export const LIST_LIMIT_DEFAULT = 50;
/** Largest page `list()` returns. */
export const LIST_LIMIT_MAX = 1000;
/** Finished attempts are kept this long by `prune()` when no age is given (as in the seeds). */
export const RETENTION_MS_DEFAULT = 14 * 24 * 3600_000;
/** Attempts deleted per round trip by `prune()`. */
export const PRUNE_BATCH_SIZE_DEFAULT = 1000;
export const PRUNE_BATCH_SIZE_MAX = 100_000;

/** Options of `Management`. All optional. */
export interface ManagementOptions {
  /** Clock, injectable for tests. */
  now?: () => Date;
  /** Attempts deleted per round trip by `prune()`. */
  pruneBatchSize?: number;
  /** Default age of `prune()`. */
  retentionMs?: number;
}

/** Options with every field resolved. */
export interface ResolvedManagementOptions {
  now: () => Date;
  pruneBatchSize: number;
  retentionMs: number;
}

/** Copies, defaults and validates management options. */
export function resolveManagementOptions(o: ManagementOptions = {}): ResolvedManagementOptions {
  const pruneBatchSize = checkNumber(
    'pruneBatchSize',
    o.pruneBatchSize ?? PRUNE_BATCH_SIZE_DEFAULT,
    1,
    PRUNE_BATCH_SIZE_MAX,
  );
  return {
    now: o.now ?? (() => new Date()),
    pruneBatchSize: Math.floor(pruneBatchSize),
    retentionMs: checkNumber('retentionMs', o.retentionMs ?? RETENTION_MS_DEFAULT, 0, 1e13),
  };
}

/** Counts of one job type in one queue. */
export interface TypeStats extends QueueStats {
  type: string;
}

/** Counts over every queue. */
export type TotalStats = Omit<QueueStats, 'queue'>;

/** What `counts()` returns, all from one aggregation. */
export interface Counts {
  /** Per queue, sorted by name. */
  queues: QueueStats[];
  /** Per queue and job type, sorted by queue then type. */
  types: TypeStats[];
  totals: TotalStats;
  /** The raw rows: one per queue, job type and state. */
  rows: JobCountRow[];
}

/** Filters of `list()`; all optional and ANDed. Every value is validated before it is used. */
export interface JobFilter {
  queue?: string;
  /** Job type name. */
  type?: string;
  /** One state or several. */
  state?: JobState | JobState[];
  /** Created at or after this time. */
  createdAfter?: Date;
  /** Created before this time. */
  createdBefore?: Date;
  /** Text the ID contains, matched literally. */
  idContains?: string;
}

/** Paging of `list()`. */
export interface PageOptions {
  /** Rows per page, 1..LIST_LIMIT_MAX; default LIST_LIMIT_DEFAULT. */
  limit?: number;
  /** `nextCursor` of the previous page; it also fixes the order. */
  cursor?: string;
  /** 'newest' (default): newest created first, then by ID descending; 'id': ascending by ID. */
  order?: JobPageOrder;
}

/** An attempt as `list()` gives it: its stored fields without the payload, and its `id`. */
export type JobSummary = JobSummaryDocument & {
  /** The attempt's ID (the stored `_id`, kept for the dashboard until it reads `id`). */
  id: string;
};

/** One page of `list()`. */
export interface JobPage {
  /** Attempts without their payload (see `job()` for the payload). */
  jobs: JobSummary[];
  /** Pass to the next `list()` call; null on the last page (no row follows). */
  nextCursor: string | null;
  /** Pass to `list()` for the page before this one; null on the first page. */
  prevCursor: string | null;
}

/** One attempt of a job, with its timings. */
export interface AttemptDetail {
  id: string;
  /** 0 for the first attempt. */
  attempt: number;
  state: JobState;
  owner: string;
  created: Date | null;
  /** When a pending or blocked attempt may be claimed; null for the others. */
  dueAt: Date | null;
  start: Date | null;
  end: Date | null;
  /** From creation (or due time, if later) to start; null until started. */
  waitMs: number | null;
  /** From start to end; null until ended. */
  runMs: number | null;
  errCount: number;
  errors: JobErrorRecord[];
  progress: number;
  progressMessage?: string;
  abortRequested: boolean;
  nextAttemptId?: string;
  quarantine?: JobDocument['quarantine'];
}

/** A job in full: its newest attempt's document and every attempt, oldest first. */
export interface JobDetail {
  /** The job ID (shared by every attempt). */
  id: string;
  queue: string;
  type: JobTypeInfo;
  /** State of the newest attempt. */
  state: JobState;
  /**
   * The newest attempt, complete with payload, status (its `log` too), time and retry info and
   * `returnValue`; `id` is its attempt ID (the stored `_id`).
   */
  latest: JobDocument & { id: string };
  attempts: AttemptDetail[];
}

/** What an action did. */
export type ActionOutcome =
  /** The change was made. */
  | 'done'
  /** An abort was flagged; the owner's heartbeat aborts the running job. */
  | 'requested'
  /** The job's state does not allow the action; nothing changed (see `reason`). */
  | 'refused'
  /** The job already is as asked (e.g. retry of a job that is pending and due). */
  | 'unchanged'
  /** The job changed while the action was being applied; nothing changed. Try again. */
  | 'conflict'
  | 'not-found';

/** Actions on one job. */
export type JobAction = 'abort' | 'retry' | 'complete' | 'requeue' | 'delete';

/** Report of an action on one job. */
export interface ActionResult {
  action: JobAction;
  /** The ID the action was asked for. */
  id: string;
  outcome: ActionOutcome;
  /** Documents written (updated, inserted or deleted). */
  changed: number;
  /** IDs of those documents. */
  ids: string[];
  /**
   * Scope locks the action gave back (enqueue scopes, dispatch scopes, concurrency slots) of the
   * job it ended or deleted; absent when there were none.
   */
  locksReleased?: number;
  /** State of the affected attempt afterwards (the new attempt for retry and requeue). */
  state?: JobState;
  /** Why nothing changed, for 'unchanged', 'refused', 'conflict' and 'not-found'. */
  reason?: string;
}

/** Report of `pause()` and `resume()`. */
export interface FuseResult {
  action: 'pause' | 'resume';
  queue: string;
  /** The job type paused or resumed, when one was given. */
  type?: string;
  /** 1 when the fuse changed, 0 when it already was as asked. */
  changed: number;
  /** The queue's fuses afterwards. */
  paused: boolean;
  pausedTypes: string[];
}

/** Options of `prune()`. */
export interface PruneOptions {
  /** Keep attempts that ended less than this long ago; default `retentionMs`. */
  olderThanMs?: number;
  /** Only this queue; all queues by default. */
  queue?: string;
  /** Only these finished states; default every finished state. */
  states?: JobState[];
}

/** Report of `prune()`. */
export interface PruneResult {
  /** Attempts deleted. */
  changed: number;
  /** Attempts that ended before this were eligible. */
  cutoff: Date;
  /** Deleted per queue (queues with none are omitted). */
  byQueue: Record<string, number>;
}
