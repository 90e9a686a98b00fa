/**
 * Input checks shared by the managers and the factory. Stored dependencies come back from the
 * database, so the same checks guard both the builders and `dependencyFromStored`.
 */
import { InvalidArgumentError } from '../lib/errors';
import { checkJobId, describe } from '../lib/validate';
import type { EdgeFailurePolicy } from './manager';

/** A list of job IDs: each a valid job ID, no duplicates. Returns a copy. */
export function checkEdgeList(value: unknown, what = 'edges'): string[] {
  const ids = checkStringArray(value, what);
  // Job IDs reach database filters, so they get the queue's own ID rule, not just "non-empty".
  for (const id of ids) checkEdgeId(id);
  checkNoDuplicates(ids, what);
  return ids;
}

/** One edge ID. */
export function checkEdgeId(id: unknown): string {
  try {
    return checkJobId(id);
  } catch (err) {
    throw new InvalidArgumentError(`invalid dependency edge ${describe(id)}: not a job ID`, {
      cause: err,
    });
  }
}

/** A non-empty list of file paths without duplicates (or an empty one when `allowEmpty`). */
export function checkPathList(value: unknown, what: string, allowEmpty: boolean): string[] {
  const paths = checkStringArray(value, what);
  if (!allowEmpty && paths.length === 0)
    throw new InvalidArgumentError(`${what} must name at least one file`);
  for (const p of paths) checkPath(p, what);
  checkNoDuplicates(paths, what);
  return paths;
}

/** A file path: a non-empty string without NUL (which the file system would reject later). */
export function checkPath(value: unknown, what = 'path'): string {
  if (typeof value !== 'string' || value.length === 0 || value.includes('\u0000')) {
    throw new InvalidArgumentError(`${what}: invalid file path ${describe(value)}`);
  }
  return value;
}

/** `'fail'` or `'run'`; `undefined` means the default, `'fail'`. */
export function checkEdgeFailurePolicy(value: unknown): EdgeFailurePolicy {
  if (value === undefined) return 'fail';
  if (value !== 'fail' && value !== 'run') {
    throw new InvalidArgumentError(`onEdgeFailure must be "fail" or "run", got ${describe(value)}`);
  }
  return value;
}

/** A plain object (not an array, not null, not a class instance such as Date or Map). */
export function checkPlainObject(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidArgumentError(`${what} must be a plain object, got ${describe(value)}`);
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    throw new InvalidArgumentError(`${what} must be a plain object, got ${describe(value)}`);
  }
  return value as Record<string, unknown>;
}

/**
 * Rejects keys a manager does not know. Strict on purpose: an older worker silently ignoring an
 * option a newer one wrote would evaluate a different dependency than the user asked for.
 */
export function checkOnlyKeys(
  obj: Record<string, unknown>,
  allowed: readonly string[],
  what: string,
): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) {
      throw new InvalidArgumentError(
        `${what}: unknown option ${describe(key)}${allowed.length > 0 ? ` (expected ${allowed.join(', ')})` : ''}`,
      );
    }
  }
}

function checkStringArray(value: unknown, what: string): string[] {
  if (!Array.isArray(value))
    throw new InvalidArgumentError(`${what} must be an array, got ${describe(value)}`);
  return value.map((v: unknown) => {
    if (typeof v !== 'string' || v.length === 0) {
      throw new InvalidArgumentError(
        `${what}: every entry must be a non-empty string, got ${describe(v)}`,
      );
    }
    return v;
  });
}

function checkNoDuplicates(values: readonly string[], what: string): void {
  const seen = new Set<string>();
  for (const v of values) {
    if (seen.has(v)) throw new InvalidArgumentError(`${what}: duplicate entry ${describe(v)}`);
    seen.add(v);
  }
}

/**
 * Checks that a value is storable plain data: strings, finite numbers, booleans, null, valid
 * Dates, arrays and plain objects whose keys neither start with `$` nor hold NUL (a `$` key
 * could be read as a database operator). No cycles. Returns a deep copy.
 */
export function copyPlainData(
  value: Record<string, unknown>,
  what: string,
): Record<string, unknown> {
  const seen = new Set<object>();
  const walk = (v: unknown, path: string): void => {
    if (v === null || typeof v === 'string' || typeof v === 'boolean') return;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) throw bad(path, 'a non-finite number');
      return;
    }
    if (typeof v !== 'object') throw bad(path, `a ${typeof v}`);
    if (v instanceof Date) {
      if (Number.isNaN(v.getTime())) throw bad(path, 'an invalid Date');
      return;
    }
    if (seen.has(v)) throw bad(path, 'a circular reference');
    seen.add(v);
    if (Array.isArray(v)) {
      v.forEach((item: unknown, i) => walk(item, `${path}[${i}]`));
    } else {
      const proto: unknown = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) throw bad(path, 'not a plain object');
      for (const [k, item] of Object.entries(v)) {
        if (k.startsWith('$') || k.includes('\u0000')) throw bad(`${path}.${k}`, 'a reserved key');
        walk(item, `${path}.${k}`);
      }
    }
    seen.delete(v);
  };
  const bad = (path: string, problem: string) =>
    new InvalidArgumentError(`${what}: ${path} is ${problem}`);
  walk(checkPlainObject(value, what), 'options');
  return structuredClone(value);
}
