/**
 * The dashboard's JSON API, used by its page script and open to scripts:
 *
 * - `GET /api/counts`: the overview (counts by state per queue and type, fuses, throughput);
 * - `GET /api/jobs?queue=&type=&state=&id=&cursor=&limit=`: one page of jobs, without payloads;
 * - `GET /api/jobs/:id`: one job in full, with its attempts;
 * - `POST /api/jobs/:id/{abort,retry,delete,complete,requeue}`: an action, reported as management
 *   reports it (`outcome`, `changed`, `ids`, `reason`);
 * - `POST /api/queues/:name/{pause,resume}`: a queue's fuse.
 *
 * Reads never change anything. Every value goes through the management API, which validates it.
 */
import type { ActionResult, FuseResult, JobDetail, JobPage, Management } from '../management';
import { listArgs, listQuery } from './params';
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
    private readonly management: Management,
    private readonly throughput: Throughput,
    private readonly now: () => Date,
  ) {}

  async overview(): Promise<OverviewData> {
    return readOverview(this.management, this.throughput, this.now);
  }

  async jobs(params: URLSearchParams): Promise<JobPage> {
    const { filter, page } = listArgs(listQuery(params));
    return this.management.list(filter, page);
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
