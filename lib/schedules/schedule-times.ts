/**
 * Tick arithmetic of schedules, pure and deterministic so that every process computes the same
 * tick times (and so the same job IDs) from the same entry. Every-N ticks fall on multiples of
 * the period since the Unix epoch; cron ticks come from `cron-parser` in the entry's time zone.
 */
import { CronExpressionParser } from 'cron-parser';
import { InvalidArgumentError } from '../errors';
import { checkNumber, describe } from '../validate';

/** Shortest period of an every-N schedule. */
export const SCHEDULE_EVERY_MS_MIN = 100;
/** Longest period of an every-N schedule (one leap year). */
export const SCHEDULE_EVERY_MS_MAX = 366 * 24 * 3600_000;
/** Longest accepted cron expression. */
export const CRON_MAX_LENGTH = 200;

/** When a schedule fires: exactly one of `everyMs` and `cron`. */
export interface ScheduleTiming {
  everyMs?: number | null;
  cron?: string | null;
  /** IANA zone of a cron expression (default UTC); not allowed with `everyMs`. */
  timezone?: string | null;
}

/** A validated timing, as stored. */
export interface ResolvedTiming {
  everyMs: number | null;
  cron: string | null;
  timezone: string | null;
}

/** Validates a timing; throws InvalidArgumentError for a bad period, expression or zone. */
export function checkTiming(timing: ScheduleTiming): ResolvedTiming {
  const everyMs = timing.everyMs ?? null;
  const cron = timing.cron ?? null;
  const timezone = timing.timezone ?? null;
  if ((everyMs === null) === (cron === null)) {
    throw new InvalidArgumentError('a schedule needs exactly one of everyMs and cron');
  }
  if (everyMs !== null) {
    checkNumber('everyMs', everyMs, SCHEDULE_EVERY_MS_MIN, SCHEDULE_EVERY_MS_MAX);
    if (!Number.isInteger(everyMs)) throw new InvalidArgumentError('everyMs must be an integer');
    if (timezone !== null) {
      throw new InvalidArgumentError('timezone applies to cron schedules only, not to everyMs');
    }
    return { everyMs, cron: null, timezone: null };
  }
  if (timezone !== null) checkTimezone(timezone);
  if (typeof cron !== 'string' || cron.trim() === '' || cron.length > CRON_MAX_LENGTH) {
    // cron-parser reads an empty string as "* * * * *": refuse it rather than fire every minute.
    throw new InvalidArgumentError(`invalid cron expression ${describe(cron)}`);
  }
  const resolved = { everyMs: null, cron, timezone };
  try {
    // Parsing alone accepts days that never come (e.g. 30 February); asking for a tick does not.
    cronExpression(resolved, new Date()).next();
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new InvalidArgumentError(`invalid cron expression ${describe(cron)}: ${why}`, {
      cause: err,
    });
  }
  return resolved;
}

/** Throws InvalidArgumentError unless `zone` is a time zone this runtime knows. */
export function checkTimezone(zone: unknown): string {
  if (typeof zone !== 'string' || zone === '') {
    throw new InvalidArgumentError(`invalid time zone ${describe(zone)}`);
  }
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
  } catch (err) {
    throw new InvalidArgumentError(`unknown time zone ${describe(zone)}`, { cause: err });
  }
  return zone;
}

function cronExpression(timing: ResolvedTiming, currentDate: Date) {
  return CronExpressionParser.parse(timing.cron ?? '', {
    currentDate,
    tz: timing.timezone ?? 'UTC',
    strict: false,
  });
}

/** The latest tick at or before `t`, or null when there is none. */
export function tickAtOrBefore(timing: ResolvedTiming, t: Date): Date | null {
  if (timing.everyMs !== null) {
    return new Date(Math.floor(t.getTime() / timing.everyMs) * timing.everyMs);
  }
  try {
    // `prev()` is strictly before its current date; start 1 ms later to include `t` itself.
    return cronExpression(timing, new Date(t.getTime() + 1))
      .prev()
      .toDate();
  } catch {
    return null;
  }
}

/** The first tick at or after `t`, or null when there is none. */
export function tickAtOrAfter(timing: ResolvedTiming, t: Date): Date | null {
  if (timing.everyMs !== null) {
    return new Date(Math.ceil(t.getTime() / timing.everyMs) * timing.everyMs);
  }
  try {
    // `next()` is strictly after its current date; start 1 ms earlier to include `t` itself.
    return cronExpression(timing, new Date(t.getTime() - 1))
      .next()
      .toDate();
  } catch {
    return null;
  }
}

/**
 * The next `count` tick times at or after `from`, for previews and tests.
 * @example
 * ```ts
 * scheduleTimes({ cron: '0 9 * * *', timezone: 'America/New_York' }, new Date(), 3);
 * ```
 */
export function scheduleTimes(timing: ScheduleTiming, from: Date, count: number): Date[] {
  const resolved = checkTiming(timing);
  checkNumber('count', count, 0, 10_000);
  const out: Date[] = [];
  let at: Date | null = from;
  while (out.length < count && at !== null) {
    const tick: Date | null = tickAtOrAfter(resolved, at);
    if (tick === null) break;
    out.push(tick);
    at = new Date(tick.getTime() + 1);
  }
  return out;
}
