/**
 * The definition side of schedules: validation of keys and scheduled job options, the job ID of
 * a tick, which tick of an entry is due, and the comparison that makes a repeated `upsert` of the
 * same definition a no-op. Pure functions; no I/O.
 */
import { InvalidArgumentError } from '../errors';
import type { JobOptions } from '../job/base-job';
import type {
  ScheduledJobOptions,
  ScheduleDefinition,
  ScheduleDocument,
} from '../store/schedule-store';
import { tickAtOrAfter, tickAtOrBefore, type ResolvedTiming } from './schedule-times';
import { checkConcurrency, checkJobId, checkNumber, checkScope, describe } from '../validate';

/** Longest scheduler key: room is left for `@` and the tick's epoch milliseconds in the job ID. */
export const SCHEDULE_KEY_MAX_LENGTH = 180;

/** A schedule entry as `get` and `list` return it. */
export type ScheduleEntry = Omit<ScheduleDocument, '_id'> & { key: string };

/** The job ID of a schedule's tick. */
export function tickJobId(key: string, tick: Date): string {
  return `${key}@${tick.getTime()}`;
}

/** Validates a scheduler key. */
export function checkScheduleKey(key: unknown): string {
  checkJobId(key);
  const k = key as string;
  if (k.length > SCHEDULE_KEY_MAX_LENGTH) {
    throw new InvalidArgumentError(
      `scheduler key ${describe(k)} is longer than ${SCHEDULE_KEY_MAX_LENGTH} characters`,
    );
  }
  return k;
}

/** The most recent tick due at `now` that the entry has not enqueued yet, or null. */
export function dueTick(doc: ScheduleDocument, now: Date): Date | null {
  const tick = tickAtOrBefore(doc, now);
  if (tick === null || tick.getTime() < doc.createdAt.getTime()) return null;
  if (doc.lastTick !== null && tick.getTime() <= doc.lastTick.getTime()) return null;
  return tick;
}

/** The first tick an entry may still enqueue: after its last tick, not before its creation. */
export function nextTickOf(
  timing: ResolvedTiming,
  createdAt: Date,
  lastTick: Date | null,
): Date | null {
  const from = Math.max(createdAt.getTime(), lastTick === null ? 0 : lastTick.getTime() + 1);
  return tickAtOrAfter(timing, new Date(from));
}

/** Job options of the job enqueued for `tick`. */
export function jobOptionsAt(options: ScheduledJobOptions, id: string, tick: Date): JobOptions {
  const { dispatchWithinMs, ...rest } = options;
  return {
    ...rest,
    id,
    dispatchBy:
      dispatchWithinMs === undefined ? undefined : new Date(tick.getTime() + dispatchWithinMs),
  };
}

/** Validates scheduled job options and copies them in a fixed order, without undefined fields. */
export function checkScheduledOptions(o: ScheduledJobOptions): ScheduledJobOptions {
  const out: ScheduledJobOptions = {};
  if (o.priority !== undefined) out.priority = checkNumber('priority', o.priority, -1e9, 1e9);
  if (o.maxTimeMs !== undefined) {
    out.maxTimeMs = checkNumber('maxTimeMs', o.maxTimeMs, 0, 365 * 24 * 3600_000);
  }
  if (o.maxAttempts !== undefined) {
    out.maxAttempts = checkNumber('maxAttempts', o.maxAttempts, 1, 1e6);
  }
  if (o.retryable !== undefined) {
    if (typeof o.retryable !== 'boolean') {
      throw new InvalidArgumentError('retryable must be a boolean');
    }
    out.retryable = o.retryable;
  }
  if (o.scopes !== undefined) out.scopes = checkScopes('scopes', o.scopes);
  if (o.enqueueScopes !== undefined) {
    out.enqueueScopes = checkScopes('enqueueScopes', o.enqueueScopes);
  }
  if (o.concurrency !== undefined) out.concurrency = checkConcurrency(o.concurrency);
  if (o.dispatchWithinMs !== undefined) {
    out.dispatchWithinMs = checkNumber('dispatchWithinMs', o.dispatchWithinMs, 1, 366 * 86400_000);
  }
  return out;
}

function checkScopes(name: string, scopes: unknown): string[] {
  if (!Array.isArray(scopes)) throw new InvalidArgumentError(`${name} must be an array`);
  return scopes.map(checkScope);
}

/** The definition part of a stored entry, to compare with a new one. */
export function storedDefinition(doc: ScheduleDocument): ScheduleDefinition {
  const { queue, type, payload, options, everyMs, cron, timezone, enabled } = doc;
  return { queue, type, payload, options, everyMs, cron, timezone, enabled };
}

/** The public form of a stored entry: `_id` becomes `key`. */
export function toEntry(doc: ScheduleDocument): ScheduleEntry {
  const { _id, ...rest } = doc;
  return { key: _id, ...rest };
}

/** A copy of a plain value with undefined object fields dropped (the database drops them too). */
export function withoutUndefined(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutUndefined);
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = withoutUndefined(v);
    return out;
  }
  return value;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Bytes of a Uint8Array or of a driver Binary (which stored binary payloads come back as). */
function bytesOf(v: unknown): Uint8Array | undefined {
  if (v instanceof Uint8Array) return v;
  if (
    typeof v === 'object' &&
    v !== null &&
    (v as { _bsontype?: unknown })._bsontype === 'Binary'
  ) {
    const buffer = (v as { buffer?: unknown }).buffer;
    return buffer instanceof Uint8Array ? buffer : undefined;
  }
  return undefined;
}

/**
 * Deep equality of stored values: ignores key order (a server may reorder fields) and undefined
 * fields, compares dates by time and binaries by bytes.
 */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a instanceof Date || b instanceof Date) {
    return a instanceof Date && b instanceof Date && a.getTime() === b.getTime();
  }
  const ba = bytesOf(a);
  const bb = bytesOf(b);
  if (ba || bb) return !!ba && !!bb && Buffer.from(ba).equals(Buffer.from(bb));
  if (Array.isArray(a) || Array.isArray(b)) {
    return (
      Array.isArray(a) &&
      Array.isArray(b) &&
      a.length === b.length &&
      a.every((v, i) => sameValue(v, b[i]))
    );
  }
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const ka = Object.keys(ra).filter((k) => ra[k] !== undefined);
  const kb = Object.keys(rb).filter((k) => rb[k] !== undefined);
  return ka.length === kb.length && ka.every((k) => k in rb && sameValue(ra[k], rb[k]));
}
