/**
 * What every CLI command works with: the global options resolved against the environment, and
 * a connection (queue group and management API) opened for one command and closed after it.
 */
import pino, { type Logger } from 'pino';
import { InvalidArgumentError } from '../../errors';
import { QueueGroup } from '../../group/queue-group';
import { Management } from '../management';
import { describe } from '../../validate';

/** Database name when neither `--db` nor `DROVER_DB` is given. */
export const CLI_DB_DEFAULT = 'drover';
/** Collection prefix when `--prefix` is not given (as `QueueGroup.connect`). */
export const CLI_PREFIX_DEFAULT = 'drover';
/** Log level when neither `--log-level` nor `LOG_LEVEL` is given; logs go to stderr. */
export const CLI_LOG_LEVEL_DEFAULT = 'warn';
/** How long to look for a server before giving up. */
export const CLI_CONNECT_TIMEOUT_MS = 5_000;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const DB_NAME = /^[A-Za-z0-9_-]{1,63}$/;
const PREFIX = /^[A-Za-z0-9_-]{1,64}$/;

/** Global options as commander parses them. */
export interface GlobalOptions {
  uri?: string;
  db?: string;
  prefix?: string;
  json?: boolean;
  logLevel?: string;
}

/** Global options with the environment and defaults applied. */
export interface ResolvedCliOptions {
  /** Undefined when neither `--uri` nor `MONGODB_URI` is set (an error for database commands). */
  uri?: string;
  db: string;
  prefix: string;
  json: boolean;
  logLevel: string;
}

/** Applies `MONGODB_URI`, `DROVER_DB` and `LOG_LEVEL` and the defaults; validates. */
export function resolveCliOptions(
  opts: GlobalOptions,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedCliOptions {
  const db = opts.db ?? env.DROVER_DB ?? CLI_DB_DEFAULT;
  if (!DB_NAME.test(db)) throw new InvalidArgumentError(`invalid database name ${describe(db)}`);
  const prefix = opts.prefix ?? CLI_PREFIX_DEFAULT;
  if (!PREFIX.test(prefix)) {
    throw new InvalidArgumentError(`invalid collection prefix ${describe(prefix)}`);
  }
  const logLevel = opts.logLevel ?? env.LOG_LEVEL ?? CLI_LOG_LEVEL_DEFAULT;
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new InvalidArgumentError(
      `invalid log level ${describe(logLevel)}: use one of ${LOG_LEVELS.join(', ')}`,
    );
  }
  const uri = opts.uri ?? (env.MONGODB_URI || undefined);
  return { uri, db, prefix, json: opts.json ?? false, logLevel };
}

/** A logger writing to stderr, so stdout carries only the command's output. */
export function cliLogger(level: string): Logger {
  return pino({ name: 'drover', level }, pino.destination({ dest: 2, sync: true }));
}

/** An open connection for one command. */
export interface CliContext {
  options: ResolvedCliOptions;
  logger: Logger;
  group: QueueGroup;
  management: Management;
  close(): Promise<void>;
}

/** Connects to the deployment the options name. */
export async function openContext(options: ResolvedCliOptions): Promise<CliContext> {
  if (!options.uri) {
    throw new InvalidArgumentError('no MongoDB URI: pass --uri or set MONGODB_URI');
  }
  const logger = cliLogger(options.logLevel);
  const group = await QueueGroup.connect({
    uri: options.uri,
    db: options.db,
    collectionPrefix: options.prefix,
    logger,
    connectTimeoutMs: CLI_CONNECT_TIMEOUT_MS,
    clientOptions: { appName: 'drover-cli' },
  });
  return {
    options,
    logger,
    group,
    management: new Management(group),
    close: () => group.close(),
  };
}
