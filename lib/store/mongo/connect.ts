/**
 * Connecting to MongoDB: a typed error that names the server, within a few seconds (the driver
 * alone waits 30 s for an unreachable server), and optional retries with capped, jittered
 * backoff for workers that start before their database (no crash loop).
 */
import { setTimeout as delay } from 'node:timers/promises';
import { MongoClient, type MongoClientOptions } from 'mongodb';
import { ConnectError } from '../../errors';
import { checkNumber } from '../../validate';
import { backoffMs } from '../../timers/sleep';

/** Retry policy of the first connection. */
export interface ConnectRetryOptions {
  /** Attempts in all (1 = no retry). Default 1. */
  attempts?: number;
  /** First delay between attempts; it doubles, jittered, up to `maxDelayMs`. Default 500. */
  delayMs?: number;
  /** Default 10 000. */
  maxDelayMs?: number;
  /** Called before each wait, e.g. to log. */
  onRetry?: (info: { attempt: number; delayMs: number; error: Error }) => void;
}

/**
 * How long one attempt looks for a server (the driver's `serverSelectionTimeoutMS` and
 * `connectTimeoutMS`) unless `clientOptions` sets them; it also bounds later operations while
 * the server is unreachable.
 */
export const CONNECT_TIMEOUT_MS_DEFAULT = 5_000;
export const CONNECT_TIMEOUT_MS_MIN = 100;
export const CONNECT_TIMEOUT_MS_MAX = 600_000;
export const CONNECT_ATTEMPTS_DEFAULT = 1;
export const CONNECT_DELAY_MS_DEFAULT = 500;
export const CONNECT_MAX_DELAY_MS_DEFAULT = 10_000;

/** Hides credentials of a connection string in messages. */
export function redactUri(uri: string): string {
  return uri.replace(/\/\/[^@/]*@/, '//***@');
}

/**
 * Connects, retrying as asked; throws ConnectError naming the server when it gives up (each
 * attempt within `timeoutMs`, unless `clientOptions` sets the driver's timeouts itself).
 */
export async function connectClient(
  uri: string,
  clientOptions: MongoClientOptions = {},
  retry: ConnectRetryOptions = {},
  timeoutMs = CONNECT_TIMEOUT_MS_DEFAULT,
): Promise<MongoClient> {
  checkNumber('connectTimeoutMs', timeoutMs, CONNECT_TIMEOUT_MS_MIN, CONNECT_TIMEOUT_MS_MAX);
  const options: MongoClientOptions = {
    serverSelectionTimeoutMS: timeoutMs,
    connectTimeoutMS: timeoutMs,
    ...clientOptions,
  };
  const attempts = Math.max(1, Math.floor(retry.attempts ?? CONNECT_ATTEMPTS_DEFAULT));
  const base = retry.delayMs ?? CONNECT_DELAY_MS_DEFAULT;
  const cap = retry.maxDelayMs ?? CONNECT_MAX_DELAY_MS_DEFAULT;
  for (let attempt = 1; ; attempt++) {
    try {
      return await MongoClient.connect(uri, options);
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      if (attempt >= attempts) throw new ConnectError(redactUri(uri), attempt, error);
      const wait = backoffMs(attempt - 1, base, cap);
      retry.onRetry?.({ attempt, delayMs: wait, error });
      await delay(wait);
    }
  }
}
