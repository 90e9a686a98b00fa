/**
 * Options of a queue group and of `QueueGroup.connect` (lib/group/queue-group.ts, which re-exports them).
 */
import type { MongoClient, MongoClientOptions } from 'mongodb';
import type { Logger } from 'pino';
import type { TimeRangeRequestsOptions } from '../time-ranges/time-range-requests';
import type { QueueExtension } from '../extension';
import type { RunHooksOptions } from '../hooks/run-hooks';
import type { ConnectRetryOptions } from '../store/mongo/connect';
import type { QueueOptions } from '../queue/queue-options';
import type { QueuePattern, QueueUpkeepOptions } from './queue-layers';
import type { RetryHandlerOptions } from '../retry/retry-handler';
import type { WorkerPresenceOptions } from './worker-presence';
import type { HistoryOptions } from '../history/history-options';

/**
 * Options of a group. A queue's options merge, later over earlier: `defaults`, every matching
 * entry of `patterns` (in order), `queues[name]`, then the options given to `get` when the queue
 * is created.
 */
export interface QueueGroupOptions extends QueueUpkeepOptions {
  /** Defaults for every queue of the group. */
  defaults?: QueueOptions;
  /** Options by name pattern: a glob (`emails.*`, `*` any run of characters) or a RegExp. */
  patterns?: QueuePattern[];
  /** Options of individual queues by exact name. */
  queues?: Record<string, QueueOptions>;
  /** Clock of queue records and pruning; `defaults.now`, else the system clock. */
  now?: () => Date;
  logger?: Logger;
  /** Extra extensions given to every queue (after the built-in ones). */
  extensions?: QueueExtension[];
  /** Retries of every queue: bounds, backoff and the monitor of half-done hand-overs. */
  retry?: RetryHandlerOptions;
  /** Hooks run before and after each job of every queue (see lib/hooks/run-hooks.ts). */
  hooks?: RunHooksOptions;
  /** Time-range requests whose chunks run in the group's queues (lib/time-ranges/time-range-requests.ts). */
  timeRanges?: TimeRangeRequestsOptions;
  /** The group's presence record, listed by `workers()` in every process. */
  presence?: WorkerPresenceOptions;
  /** Rollups of runs and outcomes per queue, type and minute, for charts (lib/history/). */
  history?: HistoryOptions;
}

/** Options of `QueueGroup.connect`. */
export interface ConnectOptions extends QueueGroupOptions {
  /** MongoDB connection string. */
  uri?: string;
  /** An already connected client; the group will not close it. */
  client?: MongoClient;
  /** Database name. */
  db: string;
  /** Prefix of the collection names. Default `drover`. */
  collectionPrefix?: string;
  clientOptions?: MongoClientOptions;
  /**
   * Give up connecting (ConnectError) after this long per attempt; default 5 000 ms. It is the
   * driver's server selection timeout, so it also bounds operations while the server is down.
   * `clientOptions.serverSelectionTimeoutMS` wins over it.
   */
  connectTimeoutMs?: number;
  /** Retry the first connection (a worker started before its database). One attempt by default. */
  connectRetry?: ConnectRetryOptions;
}
