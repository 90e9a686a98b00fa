/**
 * The dashboard on its own HTTP server (what `drover dashboard` runs). It binds to loopback by
 * default and then answers only to loopback host names (see auth.ts); it serves `/metrics` from
 * the group's metrics (lib/ops/metrics.ts) unless a registry is given.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { QueueGroup } from '../../group/queue-group';
import { createMetrics, type DroverMetrics } from '../metrics';
import { defaultLogger } from '../../queue/queue-options';
import { checkNumber } from '../../validate';
import { dashboardHandler, type DashboardOptions } from './handler';

/** Loopback: reachable from this machine only. */
export const DASHBOARD_HOST_DEFAULT = '127.0.0.1';
export const DASHBOARD_PORT_DEFAULT = 8080;
/** Host names a loopback dashboard answers to. */
export const LOOPBACK_HOST_NAMES: readonly string[] = ['localhost', '127.0.0.1', '[::1]'];
const LOOPBACK_BINDS = ['127.0.0.1', '::1', 'localhost'];

/** Options of `startDashboard`. */
export interface StartDashboardOptions extends DashboardOptions {
  /** When given (and `metrics` is not), its metrics are created and served at `/metrics`. */
  group?: QueueGroup;
  /** Address to bind; default DASHBOARD_HOST_DEFAULT. */
  host?: string;
  /** Port to bind (0: any free port); default DASHBOARD_PORT_DEFAULT. */
  port?: number;
}

/** A running dashboard. */
export interface DashboardServer {
  /** Where it listens, e.g. `http://127.0.0.1:8080/`. */
  url: string;
  server: Server;
  /** The metrics created for `group`, if any. */
  metrics?: DroverMetrics;
  /** Stops listening, drops open connections and detaches the metrics. */
  close(): Promise<void>;
}

/** Starts the dashboard on its own server; resolves once it listens. */
export async function startDashboard(options: StartDashboardOptions): Promise<DashboardServer> {
  const host = options.host ?? DASHBOARD_HOST_DEFAULT;
  const port = checkNumber('port', options.port ?? DASHBOARD_PORT_DEFAULT, 0, 65_535);
  const logger = options.logger ?? defaultLogger();
  const loopback = LOOPBACK_BINDS.includes(host);
  const metrics =
    options.metrics === undefined && options.group
      ? createMetrics({ group: options.group, management: options.management, logger })
      : undefined;
  const handler = dashboardHandler({
    ...options,
    logger,
    metrics: options.metrics ?? metrics?.registry,
    allowedHosts: options.allowedHosts ?? (loopback ? [...LOOPBACK_HOST_NAMES] : undefined),
  });
  if (!loopback && options.token === undefined) {
    logger.warn({ host }, 'the dashboard is reachable from the network without a token');
  }
  const server = createServer(handler);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    metrics?.close();
    throw err;
  }
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const base = (options.basePath ?? '').replace(/\/+$/, '');
  const url = `http://${shown}:${address.port}${base}/`;
  logger.info({ url }, 'dashboard listening');
  return {
    url,
    server,
    metrics,
    close: async () => {
      metrics?.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
