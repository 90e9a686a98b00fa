/**
 * The dashboard's JSON API, used by its page script and open to scripts:
 *
 * - `GET /api/counts`: the overview (counts by state per queue and type, fuses, throughput);
 * - `GET /api/jobs?queue=&type=&state=&id=&cursor=&limit=`: one page of jobs, without payloads,
 *   with `total` (the attempts matching over every page);
 * - `GET /api/jobs/:id`: one job in full, with its attempts;
 * - `GET /api/history?window=1h|6h|1d|7d&queue=&type=`: series over time from the rollups;
 * - `GET /api/workers`: live worker groups;
 * - `GET /api/bulk/retry?queue=&type=&state=` and `GET /api/bulk/delete?queue=&type=&state=&age=`:
 *   what a bulk action would do (a dry run: the count to confirm);
 * - `POST /api/jobs/:id/{abort,retry,delete,complete,requeue}`: an action, reported as management
 *   reports it (`outcome`, `changed`, `ids`, `reason`);
 * - `POST /api/bulk/{retry,delete}?...&limit=`: the bulk action, on at most `limit` (the count
 *   confirmed), reported as management reports it (`matched`, `changed`, `outcomes`);
 * - `POST /api/queues/:name/{pause,resume}` and `POST /api/queues/:name/types/:type/{pause,resume}`:
 *   the fuse of a queue or of one job type in it.
 *
 * Reads never change anything. Every value goes through the management API, which validates it.
 */
import type {
  ActionResult,
  BulkResult,
  FuseResult,
  History,
  JobDetail,
  JobPage,
  Management,
} from '../management';
import type { WorkerRecord } from '../../store/worker-store';
import { HISTORY_WINDOW_DEFAULT, HISTORY_WINDOWS } from './history-page';
import { bulkArgs, listArgs, listQuery } from './params';
import { InvalidArgumentError } from '../../errors';
import { readOverview, type OverviewData, type Throughput } from './overview';

/** An API answer: HTTP status and JSON body. */
export interface ApiAnswer {
  status: number;
  body: unknown;
}

/** Actions on one job, by path segment. */
export const JOB_ACTIONS = ['abort', 'retry', 'delete', 'complete', 'requeue'] as const;
export type DashboardJobAction = (typeof JOB_ACTIONS)[number];
/** Actions on one queue, by path segment. */
export const QUEUE_ACTIONS = ['pause', 'resume'] as const;
export type DashboardQueueAction = (typeof QUEUE_ACTIONS)[number];
/** Bulk actions, by path segment. */
export const BULK_ACTIONS = ['retry', 'delete'] as const;
export type DashboardBulkAction = (typeof BULK_ACTIONS)[number];

/** A history query as the page and `/api/history` take it. */
export interface HistoryArgs {
  window: string;
  queue?: string;
  type?: string;
}

/** The history query of a URL (management validates queue and type). */
export function historyArgs(params: URLSearchParams): HistoryArgs {
  const window = params.get('window') || HISTORY_WINDOW_DEFAULT;
  if (!Object.hasOwn(HISTORY_WINDOWS, window)) {
    throw new InvalidArgumentError(
      `window must be one of ${Object.keys(HISTORY_WINDOWS).join(', ')}`,
    );
  }
  const args: HistoryArgs = { window };
  const queue = params.get('queue')?.trim();
  const type = params.get('type')?.trim();
  if (queue) args.queue = queue;
  if (type) args.type = type;
  return args;
}

/** HTTP status of an action's outcome. */
function actionStatus(result: ActionResult): number {
  switch (result.outcome) {
    case 'not-found':
      return 404;
    case 'refused':
    case 'conflict':
      return 409;
    default:
      return 200;
  }
}

/** The read and write endpoints over one management API. */
export class DashboardApi {
  constructor(
    readonly management: Management,
    private readonly throughput: Throughput,
    private readonly now: () => Date,
  ) {}

  async overview(): Promise<OverviewData> {
    return readOverview(this.management, this.throughput, this.now);
  }

  async jobs(params: URLSearchParams): Promise<JobPage & { total: number }> {
    const { filter, page } = listArgs(listQuery(params));
    const [list, total] = await Promise.all([
      this.management.list(filter, page),
      this.management.count(filter),
    ]);
    return { ...list, total };
  }

  async history(args: HistoryArgs): Promise<History> {
    return this.management.history({
      sinceMs: HISTORY_WINDOWS[args.window],
      queue: args.queue,
      type: args.type,
    });
  }

  async workers(): Promise<WorkerRecord[]> {
    return this.management.workers();
  }

  /** A bulk action: a dry run (the count to confirm), or the action on at most `limit`. */
  async bulk(
    action: DashboardBulkAction,
    params: URLSearchParams,
    dryRun: boolean,
  ): Promise<ApiAnswer> {
    const { filter, olderThanMs, limit } = bulkArgs(params);
    const options = { dryRun, limit };
    let result: BulkResult;
    if (action === 'retry') {
      result = await this.management.retryMany(filter, options);
    } else {
      const states = filter.state === undefined ? undefined : [filter.state].flat();
      result = await this.management.deleteFinished(
        { olderThanMs, queue: filter.queue, type: filter.type, states },
        options,
      );
    }
    return { status: 200, body: result };
  }

  async typeAction(queue: string, type: string, action: DashboardQueueAction): Promise<ApiAnswer> {
    const result: FuseResult =
      action === 'pause'
        ? await this.management.pause(queue, { type })
        : await this.management.resume(queue, { type });
    return { status: 200, body: result };
  }

  async job(id: string): Promise<ApiAnswer> {
    const detail: JobDetail | undefined = await this.management.job(id);
    return detail
      ? { status: 200, body: detail }
      : { status: 404, body: { error: { code: 'NOT_FOUND', message: `no job ${id}` } } };
  }

  async jobAction(id: string, action: DashboardJobAction): Promise<ApiAnswer> {
    const m = this.management;
    const result = await (action === 'abort'
      ? m.abort(id)
      : action === 'retry'
        ? m.retry(id)
        : action === 'delete'
          ? m.delete(id)
          : action === 'complete'
            ? m.complete(id)
            : m.requeue(id));
    return { status: actionStatus(result), body: result };
  }

  async queueAction(queue: string, action: DashboardQueueAction): Promise<ApiAnswer> {
    const result: FuseResult =
      action === 'pause' ? await this.management.pause(queue) : await this.management.resume(queue);
    return { status: 200, body: result };
  }
}
