/** The web dashboard: a node:http handler to mount, or its own server (see handler.ts, server.ts). */
export {
  dashboardHandler,
  resolveDashboardOptions,
  DASHBOARD_REFRESH_MS_DEFAULT,
  DASHBOARD_REFRESH_MS_MAX,
  DASHBOARD_REFRESH_MS_MIN,
  type DashboardHandler,
  type DashboardOptions,
  type ResolvedDashboardOptions,
} from './handler';
export {
  startDashboard,
  DASHBOARD_HOST_DEFAULT,
  DASHBOARD_PORT_DEFAULT,
  LOOPBACK_HOST_NAMES,
  type DashboardServer,
  type StartDashboardOptions,
} from './server';
export { ACTION_TOKEN_HEADER, DASHBOARD_COOKIE } from './auth';
export { BULK_ACTIONS, JOB_ACTIONS, QUEUE_ACTIONS } from './api';
export { HISTORY_WINDOWS } from './history-page';
export type { OverviewData, QueueOverview, Rate } from './overview';
export { THROUGHPUT_WINDOW_MS } from './overview';
export { DASHBOARD_PAGE_SIZE_DEFAULT } from './params';
