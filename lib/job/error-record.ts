/**
 * Error records from anything a job throws. JavaScript lets code throw any value: `undefined`,
 * `null`, a symbol, an object without a prototype, an Error whose `message` getter throws, a
 * Proxy whose traps throw. Each becomes a record with a readable message, a code and a bounded
 * stack, and reading it never throws, so recording an outcome never fails on what was thrown.
 */
import { ErrorCode, errorCodeOf, NonRetryableError } from '../errors';
import type { JobErrorRecord } from '../types';
import { describe } from '../validate';

/** Characters of an error's message kept in its record (the rest is cut, marked with `…`). */
export const ERROR_MESSAGE_MAX_CHARS = 4_096;
/** Characters of an error's stack kept in its record (the top frames). */
export const ERROR_STACK_MAX_CHARS = 8_192;

/** Reads `obj[key]`; undefined when the read throws (a getter, a Proxy trap). */
function read(obj: object, key: string): unknown {
  try {
    return (obj as Record<string, unknown>)[key];
  } catch {
    return undefined;
  }
}

function isError(value: unknown): value is Error {
  try {
    return value instanceof Error;
  } catch {
    return false;
  }
}

/** `text` cut to `max` characters. */
export function clipText(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** A readable message for any thrown value. Never throws. */
export function messageOf(value: unknown): string {
  try {
    if (isError(value)) {
      const message = read(value, 'message');
      if (typeof message === 'string') return message;
      const name = read(value, 'name');
      return `${typeof name === 'string' ? name : 'Error'} (its message could not be read)`;
    }
    switch (typeof value) {
      case 'string':
        return value;
      case 'undefined':
        return 'threw undefined (or rejected without a reason)';
      case 'symbol':
        return `threw a symbol: ${value.description ?? ''}`;
      case 'object':
        if (value === null) return 'threw null';
        return `threw a non-Error value: ${describe(value)}`;
      default:
        return `threw ${describe(value)}`;
    }
  } catch {
    return 'threw a value that cannot be printed';
  }
}

/** The stack of an Error, cut to `ERROR_STACK_MAX_CHARS`; undefined for other values. */
export function stackOf(value: unknown): string | undefined {
  if (!isError(value)) return undefined;
  const stack = read(value, 'stack');
  return typeof stack === 'string' ? clipText(stack, ERROR_STACK_MAX_CHARS) : undefined;
}

/**
 * False when `value` forbids another attempt: a `NonRetryableError`, or any object with a
 * `retryable` property that is `false`. Never throws.
 */
export function allowsRetry(value: unknown): boolean {
  try {
    if (value instanceof NonRetryableError) return false;
    return !(typeof value === 'object' && value !== null && read(value, 'retryable') === false);
  } catch {
    return true;
  }
}

/** The record of a thrown (or added) error. Never throws. */
export function errorRecord(value: unknown, at = new Date()): JobErrorRecord {
  const record: JobErrorRecord = {
    message: clipText(messageOf(value), ERROR_MESSAGE_MAX_CHARS),
    code: errorCodeOf(value),
    at,
    retryable: allowsRetry(value),
  };
  const stack = stackOf(value);
  if (stack !== undefined) record.stack = stack;
  return record;
}

/** The records of an attempt without the retry handler's "no retry left" notes. */
function realErrors(errors: readonly JobErrorRecord[]): JobErrorRecord[] {
  return errors.filter((e) => e.code !== ErrorCode.RetriesExhausted);
}

/**
 * The error that ended an attempt: its last record other than the retry handler's note that no
 * retry is left (which says why it was not retried, not what went wrong).
 */
export function lastError(
  errors: readonly JobErrorRecord[] | undefined,
): JobErrorRecord | undefined {
  if (!Array.isArray(errors) || errors.length === 0) return undefined;
  const real = realErrors(errors);
  return real.length > 0 ? real[real.length - 1] : errors[errors.length - 1];
}

/** The messages of an attempt's errors joined by `; ` (without "no retry left" notes). */
export function errorSummary(errors: readonly JobErrorRecord[]): string {
  const real = realErrors(errors);
  return (real.length > 0 ? real : errors).map((e) => e.message).join('; ');
}
