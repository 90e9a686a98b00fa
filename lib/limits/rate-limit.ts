/**
 * Rate limits: at most `max` claims of a queue per `perMs`, across every process that runs it
 * (BullMQ's limiter, on MongoDB). The limit is counted in fixed windows aligned on the epoch (all
 * processes agree on a window from their clocks alone); each claim round trip first takes its
 * batch from the window (lib/store/rate-store.ts: conditional writes, no transaction), claims at most
 * that many, and gives back what it did not use. A spent window sends the pool to sleep until the
 * next one. Like any fixed window, up to twice `max` may start around a window boundary.
 *
 * What is counted is claims (attempt starts), including attempts that are released unrun (a
 * busy scope), retries and jobs of every type of the queue.
 */
import { InvalidArgumentError } from '../errors';
import type { ClaimGrant, QueueExtension } from '../extension';
import type { RateStore } from '../store/rate-store';
import { checkNumber } from '../validate';

/** A queue's rate limit: at most `max` claims per `perMs`, in all processes together. */
export interface RateLimit {
  max: number;
  perMs: number;
}

export const RATE_LIMIT_MAX_BOUND = 1_000_000;
export const RATE_LIMIT_PER_MS_MIN = 10;
export const RATE_LIMIT_PER_MS_MAX = 24 * 3_600_000;

/** Validates a rate limit (null or undefined: none) and copies it. */
export function checkRateLimit(value: unknown): RateLimit | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidArgumentError('rateLimit must be { max, perMs }');
  }
  const { max, perMs } = value as Record<string, unknown>;
  const checked = {
    max: checkNumber('rateLimit.max', max, 1, RATE_LIMIT_MAX_BOUND),
    perMs: checkNumber('rateLimit.perMs', perMs, RATE_LIMIT_PER_MS_MIN, RATE_LIMIT_PER_MS_MAX),
  };
  if (!Number.isInteger(checked.max) || !Number.isInteger(checked.perMs)) {
    throw new InvalidArgumentError('rateLimit.max and rateLimit.perMs must be integers');
  }
  return checked;
}

/** The window of `limit` that `now` falls in. */
export function rateWindow(limit: RateLimit, now: Date): { start: Date; end: Date } {
  const start = Math.floor(now.getTime() / limit.perMs) * limit.perMs;
  return { start: new Date(start), end: new Date(start + limit.perMs) };
}

/** The rate-limit extension: grants claims of limited queues from their shared windows. */
export class RateLimits implements QueueExtension {
  readonly name = 'rate-limits';

  /**
   * @param limitOf the rate limit of a queue (its resolved `rateLimit` option), null for none.
   */
  constructor(
    private readonly store: RateStore,
    private readonly limitOf: (queue: string) => RateLimit | null | undefined,
  ) {}

  async claimGrant(queue: string, want: number, now: Date): Promise<ClaimGrant> {
    const limit = this.limitOf(queue);
    if (!limit) return { granted: want };
    const window = rateWindow(limit, now);
    const granted = await this.store.rateTake({
      id: queue,
      windowStart: window.start,
      max: limit.max,
      want,
    });
    return {
      granted,
      retryAt: granted === 0 ? window.end : undefined,
      giveBack: (unused) =>
        this.store.rateGiveBack({ id: queue, windowStart: window.start, n: unused }),
    };
  }
}
