/**
 * The pages as the handler serves them: each reads what it shows through the dashboard API (and
 * so through the management API), then renders it. A filter that management rejects is shown on
 * the page as a 400, not thrown.
 */
import { InvalidArgumentError } from '../../errors';
import type { DashboardApi } from './api';
import { historyArgs } from './api';
import { historyPage, overviewChart } from './history-page';
import type { PageFrame } from './html';
import { jobPage } from './job-page';
import { jobsPage } from './jobs-page';
import { messagePage, overviewPage, type Rendered } from './pages';
import { listArgs, type ListQuery } from './params';
import { workersPage } from './workers-page';

/** Reads and renders the dashboard's pages. */
export class PageViews {
  constructor(
    private readonly api: DashboardApi,
    private readonly frame: PageFrame,
    private readonly now: () => Date,
  ) {}

  /** The queues overview, with the last hour's chart. */
  async overview(): Promise<Rendered> {
    const [data, history] = await Promise.all([
      this.api.overview(),
      this.api.history({ window: '1h' }),
    ]);
    return overviewPage(this.frame, data, overviewChart(history));
  }

  /** The job list of a query; a rejected filter is a 400 page with the reason. */
  async jobs(q: ListQuery): Promise<Rendered> {
    const counts = await this.api.management.counts();
    const view = {
      query: q,
      queueNames: counts.queues.map((c) => c.queue),
      typeNames: [...new Set(counts.types.map((t) => t.type))].sort(),
      now: this.now(),
    };
    try {
      const { filter, page } = listArgs(q);
      const [list, total] = await Promise.all([
        this.api.management.list(filter, page),
        this.api.management.count(filter),
      ]);
      return jobsPage(this.frame, { ...view, page: list, total });
    } catch (err) {
      if (!(err instanceof InvalidArgumentError)) throw err;
      return jobsPage(this.frame, { ...view, error: err.message });
    }
  }

  /** One job in full, or a 404 page. */
  async job(id: string): Promise<Rendered> {
    const detail = await this.api.management.job(id);
    if (!detail) return messagePage(this.frame, 404, 'Not found', `No job ${id}.`);
    return jobPage(this.frame, detail, this.now());
  }

  /** The history charts of a window, queue and type; a rejected query is a 400 page. */
  async history(params: URLSearchParams): Promise<Rendered> {
    try {
      const args = historyArgs(params);
      const [history, queueNames] = await Promise.all([
        this.api.history(args),
        this.api.management.queueNames(),
      ]);
      return historyPage(this.frame, { ...args, history, queueNames });
    } catch (err) {
      if (!(err instanceof InvalidArgumentError)) throw err;
      return messagePage(this.frame, 400, 'Bad request', err.message);
    }
  }

  /** Every live worker group. */
  async workers(): Promise<Rendered> {
    return workersPage(this.frame, await this.api.workers(), this.now());
  }
}
