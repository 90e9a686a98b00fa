/**
 * Input validation shared by every entry point: IDs, queue names, scopes and payload values.
 * Everything that may reach a database filter passes through here first, so a value such as
 * `{ "$ne": null }` can never become an operator.
 */
import { InvalidArgumentError } from './errors';
import { CONCURRENCY_LIMIT_MAX, type ConcurrencyKey } from './types';

const ID = /^[A-Za-z0-9_.:@/-][A-Za-z0-9_.:@/+=,-]{0,199}$/;
const QUEUE = /^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,99}$/;
const TYPE_NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const SCOPE = /^[^\u0000$][^\u0000]{0,255}$/;
/** Reserved separator of attempt IDs: `${baseJobId}#${attempt}`. */
export const ATTEMPT_SEPARATOR = '#';

/** A job ID: 1-200 characters of letters, digits and `_ . : @ / - + = ,`. */
export function checkJobId(id: unknown): string {
  if (typeof id !== 'string' || !ID.test(id)) {
    throw new InvalidArgumentError(
      `invalid job ID ${describe(id)}: use 1-200 characters of [A-Za-z0-9_.:@/+=,-]`,
    );
  }
  return id;
}

/** An attempt ID: a job ID, optionally followed by `#<attempt>`. */
export function checkAttemptId(id: unknown): string {
  if (typeof id === 'string') {
    const at = id.lastIndexOf(ATTEMPT_SEPARATOR);
    if (at > 0 && /^[1-9][0-9]{0,5}$/.test(id.slice(at + 1))) {
      checkJobId(id.slice(0, at));
      return id;
    }
  }
  return checkJobId(id);
}

/** A queue name: 1-100 characters of letters, digits and `_ . : -`. */
export function checkQueueName(name: unknown): string {
  if (typeof name !== 'string' || !QUEUE.test(name)) {
    throw new InvalidArgumentError(
      `invalid queue name ${describe(name)}: use 1-100 characters of [A-Za-z0-9_.:-]`,
    );
  }
  return name;
}

/** A job type name: 1-128 characters of letters, digits and `. _ : -`, not starting with a symbol. */
export function checkTypeName(name: unknown): string {
  if (typeof name !== 'string' || !TYPE_NAME.test(name)) {
    throw new InvalidArgumentError(
      `invalid job type ${describe(name)}: use 1-128 characters of [A-Za-z0-9._:-]`,
    );
  }
  return name;
}

/** A scope name: 1-256 characters, not starting with `$`, no NUL. */
export function checkScope(scope: unknown): string {
  if (typeof scope !== 'string' || !SCOPE.test(scope)) {
    throw new InvalidArgumentError(`invalid scope ${describe(scope)}`);
  }
  return scope;
}

/**
 * A concurrency key option: `{ key, limit }`, the key named like a scope, the limit an integer
 * in 1..CONCURRENCY_LIMIT_MAX. Returns a copy holding only those two fields.
 */
export function checkConcurrency(value: unknown): ConcurrencyKey {
  const v = value as Partial<Record<keyof ConcurrencyKey, unknown>> | null;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new InvalidArgumentError(
      `concurrency must be { key: string; limit: number }, got ${describe(value)}`,
    );
  }
  if (typeof v.key !== 'string' || !SCOPE.test(v.key)) {
    throw new InvalidArgumentError(`invalid concurrency key ${describe(v.key)}`);
  }
  const limit = v.limit;
  if (typeof limit !== 'number' || !Number.isInteger(limit)) {
    throw new InvalidArgumentError(`concurrency limit must be an integer, got ${describe(limit)}`);
  }
  checkNumber('concurrency limit', limit, 1, CONCURRENCY_LIMIT_MAX);
  return { key: v.key, limit };
}

/** A finite number within bounds. */
export function checkNumber(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new InvalidArgumentError(
      `${name} must be a number in [${min}, ${max}], got ${describe(value)}`,
    );
  }
  return value;
}

/** A valid Date within MongoDB's practical range (years 1970-9999). */
export function checkDate(name: string, value: unknown): Date {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
    throw new InvalidArgumentError(`${name} must be a valid Date, got ${describe(value)}`);
  }
  const year = value.getUTCFullYear();
  if (year < 1970 || year > 9999)
    throw new InvalidArgumentError(`${name} is out of range: ${value.toISOString()}`);
  return value;
}

/** A short, safe description of a value for error messages. */
export function describe(value: unknown): string {
  if (typeof value === 'string')
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}...` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'symbol' || typeof value === 'function') return typeof value;
  try {
    const s = JSON.stringify(value);
    if (s === undefined) return String(value);
    return s.length > 60 ? `${s.slice(0, 60)}...` : s;
  } catch {
    return Object.prototype.toString.call(value);
  }
}
