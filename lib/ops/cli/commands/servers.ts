/**
 * Commands that run something long-lived: `dashboard` (the web dashboard, lib/ops/dashboard/server.ts)
 * and `demo` (lib/ops/demo.ts). Both modules are loaded only when their command runs, so every other
 * command starts fast and works in a build that lacks them.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Command } from 'commander';
import type { Logger } from 'pino';
import { InvalidArgumentError } from '../../../errors';
import type { QueueGroup } from '../../../group/queue-group';
import type { Management } from '../../management';
import { checkNumber } from '../../../validate';
import { openContext } from '../context';
import type { Actions } from '../actions';

/** Loopback by default: the dashboard is reachable from this machine only. */
export const DASHBOARD_HOST_DEFAULT = '127.0.0.1';
export const DASHBOARD_PORT_DEFAULT = 8080;

/** What `drover dashboard` passes to `startDashboard` (lib/ops/dashboard/server.ts). */
export interface DashboardLaunchOptions {
  management: Management;
  group: QueueGroup;
  host: string;
  port: number;
  /** Required on every action (and page, if set); from `--token` or `DROVER_DASHBOARD_TOKEN`. */
  token?: string;
  logger: Logger;
}

/** What `startDashboard` may resolve with. */
interface DashboardHandle {
  url?: string;
  close?(): Promise<void>;
}

type StartDashboard = (options: DashboardLaunchOptions) => Promise<DashboardHandle | void>;
type RunDemo = (options: {
  uri: string;
  db?: string;
  out?: NodeJS.WritableStream;
}) => Promise<unknown>;

/**
 * The export `name` of the module at `relative` (from lib/, without extension), or a clear error
 * when this build does not have it.
 */
async function loadOptional<T>(relative: string, name: string, feature: string): Promise<T> {
  const base = path.join(__dirname, '..', '..', relative);
  const file = ['.js', '.ts'].map((ext) => base + ext).find((f) => existsSync(f));
  if (!file) {
    throw new Error(`${feature} is not available in this build (lib/${relative}.ts is missing)`);
  }
  const mod = (await import(pathToFileURL(file).href)) as Record<string, unknown> & {
    default?: Record<string, unknown>;
  };
  const fn = mod[name] ?? mod.default?.[name];
  if (typeof fn !== 'function') {
    throw new Error(`${feature} is not available: lib/${relative} does not export ${name}()`);
  }
  return fn as T;
}

/** Resolves when the process is asked to stop (Ctrl-C, SIGTERM). */
function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(signal);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/** Registers `dashboard` and `demo`. */
export function registerServerCommands(program: Command, actions: Actions): void {
  program
    .command('dashboard')
    .description('serve the web dashboard until interrupted')
    .option('--host <host>', 'address to bind', DASHBOARD_HOST_DEFAULT)
    .option('-p, --port <port>', 'port to bind (0: any free port)', String(DASHBOARD_PORT_DEFAULT))
    .option('--token <token>', 'token the dashboard asks for (env DROVER_DASHBOARD_TOKEN)')
    .action(
      actions.plain(async ({ opts, options, printer }) => {
        const startDashboard = await loadOptional<StartDashboard>(
          'dashboard/server',
          'startDashboard',
          'the dashboard',
        );
        const portText = opts.port as string;
        if (!/^\d{1,5}$/.test(portText)) throw new InvalidArgumentError('--port must be a number');
        const port = checkNumber('port', Number(portText), 0, 65_535);
        const token = (opts.token as string | undefined) ?? process.env.DROVER_DASHBOARD_TOKEN;
        const ctx = await openContext(options);
        try {
          const handle = await startDashboard({
            management: ctx.management,
            group: ctx.group,
            host: opts.host as string,
            port,
            token: token || undefined,
            logger: ctx.logger,
          });
          const url = handle?.url ?? `http://${opts.host as string}:${port}/`;
          printer.result({ url }, () => `dashboard at ${url} (Ctrl-C to stop)`);
          await untilSignal();
          await handle?.close?.();
        } finally {
          await ctx.close();
        }
      }),
    );

  program
    .command('demo')
    .description('run a short demo: jobs in named queues, a progress bar, an abort by ID')
    .action(
      actions.plain(async ({ options, printer }) => {
        if (!options.uri) {
          throw new InvalidArgumentError('no MongoDB URI: pass --uri or set MONGODB_URI');
        }
        const runDemo = await loadOptional<RunDemo>('demo', 'runDemo', 'the demo');
        // With --json the demo's own tables go to stderr and its summary to stdout.
        const out = printer.json ? printer.streams.stderr : printer.streams.stdout;
        const summary = await runDemo({ uri: options.uri, db: options.db, out });
        if (printer.json) printer.result(summary ?? null, () => '');
      }),
    );
}
